/*
 * operators.c — the operators of a chain, called in the task's thread. A
 * record passes from one chained operator to the next as a plain function
 * call with an fl_row on the stack; it is encoded only where it leaves the
 * chain through a record writer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint/metadata.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/varint.h"
#include "state/snapshot_file.h"
#include "taskmanager/operator.h"
#include "taskmanager/watermarks.h"
#include "types/codec.h"
#include "types/keygroup.h"

#define SCRATCH_MAX (1u << 20)
#define KEY_BUF TM_KEY_BUF

/* ------------------------------------------------------------- context */

FL_API int64_t fl_ctx_timestamp(const fl_ctx *ctx)
{
	return ctx && ctx->chain ? ctx->chain->ts : TM_TS_NONE;
}

FL_API int64_t fl_ctx_watermark(const fl_ctx *ctx)
{
	return ctx && ctx->chain ? ctx->chain->wm : TM_TS_NONE;
}

/* Watermark event w (or TM_WM_IDLE) down every network output. */
static int send_watermark(tm_chain *c, int64_t w)
{
	for (size_t i = 0; i < c->nops; i++)
		for (size_t k = 0; k < c->ops[i].nouts; k++) {
			net_writer *wr = c->ops[i].outs[k].writer;
			int rc = wr ? net_writer_broadcast_event(wr, NET_EV_WATERMARK, w) : 0;
			if (rc)
				return tm_chain_fail(c, rc, "%s: cannot send %s: %s", c->name,
						     w == TM_WM_IDLE ? "its idleness" : "a watermark",
						     fl_strerror(rc));
		}
	return 0;
}

int tm_chain_watermark(tm_chain *c, int64_t w)
{
	c->wm = w;
	if (c->has_timers) {
		int64_t ts = c->ts;
		for (size_t i = 0; i < c->nops; i++) {
			tm_op *op = &c->ops[i];
			int rc = op->cls->watermark ? op->cls->watermark(op, w) : 0;
			if (rc) {
				c->ts = ts;
				return rc;
			}
		}
		c->ts = ts;
	}
	return send_watermark(c, w);
}

int tm_chain_wm_status(tm_chain *c, bool idle)
{
	/* Active again: the chain's watermark says so (it may be no higher
	 * than before; a receiver takes any watermark of an idle channel as
	 * its ACTIVE). */
	return send_watermark(c, idle ? TM_WM_IDLE : c->wm);
}

int tm_chain_proc_timers(tm_chain *c, int64_t *deadline)
{
	int64_t ts = c->ts;
	for (size_t i = 0; i < c->nops; i++) {
		tm_op *op = &c->ops[i];
		int64_t next = INT64_MAX;
		int rc = op->cls->proc_timers ? op->cls->proc_timers(op, &next) : 0;
		if (rc) {
			c->ts = ts;
			return rc;
		}
		if (next != INT64_MAX && (*deadline < 0 || next < *deadline))
			*deadline = next;
	}
	c->ts = ts;
	return 0;
}

FL_API int fl_ctx_subtask(const fl_ctx *ctx)
{
	return ctx->subtask;
}

FL_API int fl_ctx_parallelism(const fl_ctx *ctx)
{
	return ctx->parallelism;
}

FL_API char *fl_ctx_scratch(fl_ctx *ctx, size_t n)
{
	if (!ctx->scratch) {
		/* Lazily: most jobs never build strings. Pages are touched only
		 * as far as they are used. */
		if (!(ctx->scratch = malloc(SCRATCH_MAX)))
			return NULL;
	}
	size_t aligned = (ctx->scratch_used + 7) & ~(size_t)7;
	if (n > SCRATCH_MAX || aligned > SCRATCH_MAX - n)
		return NULL;
	ctx->scratch_used = aligned + n;
	return ctx->scratch + aligned;
}

FL_API int fl_fail(fl_ctx *ctx, const char *fmt, ...)
{
	if (!ctx->user_failed) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(ctx->user_msg, sizeof(ctx->user_msg), fmt, ap);
		va_end(ap);
		ctx->user_failed = true;
	}
	return FL_EUSER;
}

int tm_op_user_failed(tm_op *op, int rc, const char *fn)
{
	fl_ctx *ctx = &op->chain->ctx;
	if (!fn)
		fn = "?";
	/* A collect that failed because the job is being cancelled, passed
	 * back by the function, is the cancellation, not the function's fault. */
	if (rc == FL_ECANCELED && atomic_load(&op->chain->cancelled))
		return rc;
	if (ctx->user_failed)
		return tm_chain_fail(op->chain, FL_EUSER, "operator '%s': %s() failed: %s",
				    op->node->name, fn, ctx->user_msg);
	return tm_chain_fail(op->chain, rc == FL_EUSER ? FL_EUSER : rc,
			    "operator '%s': %s() returned %d (%s)", op->node->name, fn, rc,
			    fl_strerror(rc));
}

/* Turns a user function's negative return into the task's failure. */
static int user_failed(tm_op *op, int rc)
{
	return tm_op_user_failed(op, rc, op->node->fn_symbol);
}

/* -------------------------------------------------------------- keys */

/* The key of a single field, encoded exactly as row_encode encodes the
 * one-field row {v} (so state and partitioning agree with the codec), without
 * building that row. Returns 0 when the generic path must be taken. */
static inline size_t encode_field_key(uint8_t type, const fl_value *v, uint8_t *buf)
{
	buf[0] = 1;
	buf[1] = type;
	if (type == FL_INT64 || type == FL_TIMESTAMP) {
		uint64_t z = cm_zigzag(v->u.i);
		if (z < 0x80) {
			buf[2] = (uint8_t)z;
			return 3;
		}
		return 2 + cm_varint_put(buf + 2, KEY_BUF - 2, z);
	}
	if ((type == FL_STRING || type == FL_BYTES) && v->u.s.len <= KEY_BUF - 2 - ROW_VARINT_MAX) {
		size_t n = 2 + cm_varint_put(buf + 2, KEY_BUF - 2, v->u.s.len);
		memcpy(buf + n, v->u.s.ptr, v->u.s.len);
		return n + v->u.s.len;
	}
	return 0;
}

/*
 * The key of an int64 or timestamp field as the little-endian bytes of a
 * word: exactly encode_field_key's bytes [1, type, zigzag varint], when they
 * fit 8 bytes (values within +-2^41). Returns their length, or 0 when they
 * do not fit. Hashing the word (kg_murmur3_32_word) instead of bytes just
 * stored one at a time avoids a store-forwarding stall per record.
 */
static inline size_t int_key_word(uint8_t type, int64_t i, uint64_t *w)
{
	uint64_t z = cm_zigzag(i);
	uint64_t x = 1 | (uint64_t)type << 8;
	if (z < 0x80) {
		*w = x | z << 16;
		return 3;
	}
	size_t vl = cm_varint_len(z);
	if (vl > 6)
		return 0;
	for (size_t j = 0; j + 1 < vl; j++) {
		x |= ((z & 0x7f) | 0x80) << (8 * (2 + j));
		z >>= 7;
	}
	*w = x | z << (8 * (1 + vl));
	return 2 + vl;
}

/* The hash of a record's key when it is an int64/timestamp field that
 * int_key_word takes; 0 when the general path must encode the key. */
static inline int int_key_hash(const td_key *key, const fl_row *row, uint64_t *w, size_t *kl,
			       uint32_t *h)
{
	if (key->by_fn || key->field >= row->nfields)
		return 0;
	uint8_t t = row->types[key->field];
	if (t != FL_INT64 && t != FL_TIMESTAMP)
		return 0;
	if ((*kl = int_key_word(t, row->values[key->field].u.i, w)) == 0)
		return 0;
	*h = kg_murmur3_32_word(*w, *kl);
	return 1;
}

/*
 * Encodes the key of row (by `key`, with selector fn) into buf (KEY_BUF
 * bytes) or, when it is longer, into op's heap key buffer `slot`. Returns the
 * key bytes with their length in *kl, or NULL with the task failed.
 */
static const uint8_t *encode_key(tm_op *op, int slot, const td_key *key, fl_key_fn fn,
				 const fl_row *row, uint8_t *buf, size_t *kl)
{
	tm_chain *t = op->chain;
	const char *opname = op->node->name;
	fl_row k;
	if (key->by_fn) {
		k.nfields = 0;
		int rc = fn(&t->ctx, row, &k);
		if (rc < 0) {
			if (t->ctx.user_failed)
				tm_chain_fail(t, FL_EUSER, "key selector %s() of '%s' failed: %s",
					     key->fn_symbol, opname, t->ctx.user_msg);
			else
				tm_chain_fail(t, rc, "key selector %s() of '%s' returned %d",
					     key->fn_symbol, opname, rc);
			return NULL;
		}
	} else {
		if (key->field >= row->nfields) {
			tm_chain_fail(t, FL_EINVAL,
				     "key field %u of '%s' is missing: the record has %u fields",
				     key->field, opname, row->nfields);
			return NULL;
		}
		size_t n = encode_field_key(row->types[key->field], &row->values[key->field], buf);
		if (n) {
			*kl = n;
			return buf;
		}
		k.nfields = 1;
		k.types[0] = row->types[key->field];
		k.values[0] = row->values[key->field];
	}
	size_t n = row_encode(&k, buf, KEY_BUF);
	if (n) {
		*kl = n;
		return buf;
	}
	size_t bound = row_encoded_bound(&k);
	if (bound == 0 || bound > ROW_MAX_ENCODED) {
		tm_chain_fail(t, FL_ERANGE, "the key of a record for '%s' cannot be encoded (over %u bytes or malformed)",
			     opname, ROW_MAX_ENCODED);
		return NULL;
	}
	if (bound > op->key_heap_cap[slot]) {
		uint8_t *nb = realloc(op->key_heap[slot], bound);
		if (!nb) {
			tm_chain_fail(t, FL_ENOMEM, "out of memory for a %zu-byte key in '%s'", bound, opname);
			return NULL;
		}
		op->key_heap[slot] = nb;
		op->key_heap_cap[slot] = bound;
	}
	*kl = row_encode(&k, op->key_heap[slot], op->key_heap_cap[slot]);
	return op->key_heap[slot];
}

/* ------------------------------------------------------------- emitting */

/* Records a failed send with the channel's reason (a broken connection
 * names its peer and why), unless it is the task's own cancellation. */
static int send_failed(tm_op *op, tm_out *o, int rc)
{
	if (rc == FL_ECANCELED)
		return rc;
	const char *why = net_writer_why(o->writer, -1);
	return tm_chain_fail(op->chain, rc, "'%s' cannot send to '%s': %s", op->node->name,
			     o->desc->dst_name, why ? why : fl_strerror(rc));
}

/* Sends row out through network output o (its partitioner's channel). */
static inline int emit_out(tm_op *op, tm_out *o, const fl_row *row)
{
	int ch = 0;
	const td_output *d = o->desc;
	if (d->part == SG_PART_HASH) {
		uint64_t w;
		size_t kl;
		uint32_t h;
		if (!int_key_hash(&d->key, row, &w, &kl, &h)) {
			uint8_t buf[KEY_BUF];
			const uint8_t *kb = encode_key(op, 1, &d->key, o->key_fn, row, buf, &kl);
			if (!kb)
				return op->chain->err.code ? op->chain->err.code : FL_EINVAL;
			h = kg_murmur3_32(kb, kl, 0);
		}
		int kg = kg_of_hash(h, d->dst_max_parallelism);
		ch = kg_operator_index(kg, d->dst_max_parallelism, d->dst_parallelism);
	}
	int64_t ts = op->chain->ts;
	int rc = ts == TM_TS_NONE ? net_writer_emit_row(o->writer, ch, row)
				  : net_writer_emit_row_ts(o->writer, ch, row, ts);
	if (rc == FL_ERANGE) {
		char why[160];
		int crc = row_check(row, why, sizeof(why));
		return tm_chain_fail(op->chain, crc ? crc : rc,
				     "a record of '%s' cannot be sent: %s", op->node->name,
				     crc ? why : "it is over the size limit");
	}
	/* Recorded here so that a broken channel is not blamed on the
	 * user function that happened to emit (cancellation is not a
	 * failure of this task). */
	if (rc && rc != FL_ECANCELED) {
		const char *why = net_writer_why(o->writer, ch);
		return tm_chain_fail(op->chain, rc, "'%s' cannot send to '%s' (subtask %d): %s",
				     op->node->name, d->dst_name, ch + 1,
				     why ? why : fl_strerror(rc));
	}
	return rc;
}

/* Several successors or network outputs: kept out of line so that the
 * common path below stays a handful of instructions. */
static __attribute__((noinline)) int emit_slow(tm_op *op, const fl_row *row)
{
	for (size_t i = 0; i < op->nchained; i++) {
		int rc = tm_op_process(op->chained[i], row);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < op->nmain; i++) {
		int rc = emit_out(op, &op->outs[i], row);
		if (rc)
			return rc;
	}
	return 0;
}

static inline int emit(tm_op *op, const fl_row *row)
{
	op->n_out++;
	/* The common case, one chained successor: a direct call. */
	if (op->nchained == 1 && op->nmain == 0)
		return tm_op_process(op->chained[0], row);
	return emit_slow(op, row);
}

int tm_emit_side(tm_op *op, const char *tag, const fl_row *row)
{
	int n = 0;
	for (size_t i = op->nmain; i < op->nouts; i++) {
		if (strcmp(op->outs[i].desc->tag, tag) != 0)
			continue;
		int rc = emit_out(op, &op->outs[i], row);
		if (rc)
			return rc;
		n++;
	}
	return n;
}

FL_API int fl_output(fl_collector *out, const char *tag, const fl_row *row)
{
	if (!out || !row || !tag || !tag[0] || strnlen(tag, FL_TAG_MAX + 1) > FL_TAG_MAX)
		return FL_EINVAL;
	/* Side outputs never chain (jobgraph.c): no user function runs
	 * under this call, so keyed state needs no hiding (fl_collect). */
	int rc = tm_emit_side(out->op, tag, row);
	return rc < 0 ? rc : 0;
}

int tm_source_process(tm_op *op, const fl_row *row)
{
	return emit(op, row);
}

FL_API int fl_collect(fl_collector *out, const fl_row *row)
{
	if (!out->keyed && !out->bcast_op)
		return emit(out->op, row);
	fl_ctx *ctx = &out->op->chain->ctx;
	ctx->keyed = NULL;
	ctx->timer_op = NULL;
	ctx->bcast_op = NULL;
	int rc = emit(out->op, row);
	ctx->keyed = out->keyed;
	ctx->timer_op = out->timer_op;
	ctx->bcast_op = out->bcast_op;
	return rc;
}

/* --------------------------------------------------- keyed aggregation */

/* Folds in's field into the decoded accumulator acc, in place: acc is a
 * stack copy whose strings point into the stored value, so no 280-byte row
 * copy per record. */
static int agg_numeric(tm_op *op, fl_row *acc, const fl_row *in)
{
	uint32_t f = op->node->field;
	if (f >= in->nfields || f >= acc->nfields)
		return tm_chain_fail(op->chain, FL_EINVAL,
				    "operator '%s': %s of field %u, but the record has %u fields",
				    op->node->name, sg_kind_type(op->node->kind), f, in->nfields);
	uint8_t ta = acc->types[f], ti = in->types[f];
	if (ta != ti || (ti != FL_INT64 && ti != FL_DOUBLE && ti != FL_TIMESTAMP))
		return tm_chain_fail(op->chain, FL_ETYPE,
				    "operator '%s': %s needs field %u to be int64, double or "
				    "timestamp in every record (got type %d after %d)",
				    op->node->name, sg_kind_type(op->node->kind), f, ti, ta);
	fl_value *o = &acc->values[f];
	const fl_value *v = &in->values[f];
	switch (op->node->kind) {
	case SG_SUM:
		if (ti == FL_DOUBLE)
			o->u.d += v->u.d;
		else
			o->u.i = (int64_t)((uint64_t)o->u.i + (uint64_t)v->u.i); /* wraps, like Java */
		break;
	case SG_MIN:
		if (ti == FL_DOUBLE ? v->u.d < o->u.d : v->u.i < o->u.i)
			*o = *v;
		break;
	default: /* SG_MAX */
		if (ti == FL_DOUBLE ? v->u.d > o->u.d : v->u.i > o->u.i)
			*o = *v;
		break;
	}
	return 0;
}

/* Encodes r into op->acc_buf, growing it as needed. Returns the length or 0
 * with the task failed. */
static size_t encode_acc(tm_op *op, const fl_row *r)
{
	size_t n = op->acc_cap ? row_encode(r, op->acc_buf, op->acc_cap) : 0;
	if (n)
		return n;
	size_t bound = row_encoded_bound(r);
	if (bound == 0 || bound > ROW_MAX_ENCODED) {
		tm_chain_fail(op->chain, FL_ERANGE,
			     "operator '%s': accumulated record cannot be encoded (over %u bytes or "
			     "malformed)",
			     op->node->name, ROW_MAX_ENCODED);
		return 0;
	}
	uint8_t *nb = realloc(op->acc_buf, bound);
	if (!nb) {
		tm_chain_fail(op->chain, FL_ENOMEM, "out of memory in '%s'", op->node->name);
		return 0;
	}
	op->acc_buf = nb;
	op->acc_cap = bound;
	return row_encode(r, op->acc_buf, op->acc_cap);
}

int tm_agg_key(tm_op *op, const fl_row *row, int64_t ts, uint8_t *kb, size_t cap, size_t *kl,
	       uint32_t *h)
{
	if (op->key->by_fn || op->key->field >= row->nfields || cap < KEY_BUF)
		return 0;
	uint64_t w;
	if (int_key_hash(op->key, row, &w, kl, h)) {
		memcpy(kb, &w, sizeof(w)); /* one store; read by the state probe later */
	} else {
		size_t n = encode_field_key(row->types[op->key->field], &row->values[op->key->field], kb);
		if (n == 0)
			return 0;
		*kl = n;
		*h = kg_murmur3_32(kb, n, 0);
	}
	if (op->cls->prefetch)
		op->cls->prefetch(op, ts, kb, *kl, *h);
	else
		st_prefetch(op->state, op->state_id, *h);
	return 1;
}

static int agg_update(tm_op *op, const fl_row *in, const uint8_t *kb, size_t kl, uint32_t h);

static int agg_process(tm_op *op, const fl_row *in)
{
	tm_chain *t = op->chain;
	uint8_t buf[KEY_BUF];
	size_t kl;
	const uint8_t *kb = encode_key(op, 0, op->key, op->key_fn, in, buf, &kl);
	if (!kb)
		return t->err.code ? t->err.code : FL_EINVAL;
	return agg_update(op, in, kb, kl, kg_murmur3_32(kb, kl, 0));
}

int tm_agg_process_keyed(tm_op *op, const fl_row *in, const uint8_t *kb, size_t kl, uint32_t h)
{
	op->n_in++;
	/* The keyed process function takes the same batched path. */
	if (op->cls->process_keyed)
		return op->cls->process_keyed(op, in, kb, kl, h);
	return agg_update(op, in, kb, kl, h);
}

static int agg_update(tm_op *op, const fl_row *in, const uint8_t *kb, size_t kl, uint32_t h)
{
	tm_chain *t = op->chain;
	st_backend *b = op->state;
	st_key k = {.state = op->state_id,
		    .key_group = kg_of_hash(h, op->max_parallelism),
		    .hash = h,
		    .key = kb,
		    .klen = kl};
	const void *val;
	size_t vlen;
	st_pos pos;
	fl_row acc, next;
	const fl_row *result = in;
	int found = st_find(b, &k, &pos, &val, &vlen);
	if (found < 0)
		return tm_chain_fail(t, found, "operator '%s': %s", op->node->name,
				     st_backend_error(b));
	if (found) {
		size_t used;
		if (row_decode(val, vlen, &acc, &used) != 0)
			return tm_chain_fail(t, FL_EPROTO, "operator '%s': corrupt state entry",
					     op->node->name);
		int rc;
		if (op->node->kind == SG_REDUCE) {
			next.nfields = 0;
			rc = ((fl_reduce_fn)op->fn)(&t->ctx, &acc, in, &next);
			if (rc < 0)
				return user_failed(op, rc);
			result = &next;
		} else if ((rc = agg_numeric(op, &acc, in)) != 0) {
			return rc;
		} else {
			/* Only field f changed: when its encoding keeps its
			 * length and the backend lets the stored value be
			 * written in place, patch it (emitting after, as acc's
			 * strings point into it but field f is not a string)
			 * instead of encoding and storing the row again. */
			size_t vl;
			uint8_t *mv = st_value_at(b, &k, &pos, &vl);
			if (mv && row_patch_field(mv, vl, &acc, op->node->field))
				return t->batch ? 0 : emit(op, &acc);
			result = &acc;
		}
	} else if (op->node->kind != SG_REDUCE) {
		/* Check the field of the first record too, for a clear error. */
		uint32_t f = op->node->field;
		if (f >= in->nfields || (in->types[f] != FL_INT64 && in->types[f] != FL_DOUBLE &&
					 in->types[f] != FL_TIMESTAMP))
			return tm_chain_fail(t, FL_ETYPE,
					     "operator '%s': %s needs field %u to be int64, double or "
					     "timestamp (record has %u fields)",
					     op->node->name, sg_kind_type(op->node->kind), f, in->nfields);
	}
	/* Encode first (result may point into the stored value), emit while
	 * the stored value is still intact, then store. */
	size_t n = encode_acc(op, result);
	if (n == 0)
		return t->err.code;
	if (!t->batch) {
		int rc = emit(op, result);
		if (rc)
			return rc;
	}
	int rc = st_put_at(b, &k, &pos, op->acc_buf, n);
	if (rc)
		return tm_chain_fail(t, rc, "operator '%s': cannot store state: %s", op->node->name,
				     st_backend_error(b));
	return 0;
}

/* The state name the aggregations' entries have in the backend and in
 * snapshot files. */
#define AGG_STATE "aggregate"

int tm_keyed_backend_open(tm_op *op, st_backend **out, cm_err *err)
{
	tm_chain *c = op->chain;
	const td_task *td = c->td;
	char dir[1024] = "";
	if (c->state_dirs && st_pick_local_dir(c->state_dirs, (unsigned)td->subtask, dir,
					       sizeof(dir)) != 0)
		return cm_err_set(err, FL_ERANGE, "%s: a directory of %s is too long", c->name,
				  "taskmanager.state.local.root-dirs");
	st_backend_config bc = {.max_parallelism = op->max_parallelism,
				.name = c->name,
				.dir = dir,
				.cache_bytes = c->state_memory,
				.incremental = td->incremental};
	const char *type = td->state_backend ? td->state_backend : "hashmap";
	return st_backend_new(type, &bc, out, err);
}

static int agg_open(tm_op *op, cm_err *err)
{
	int rc = tm_keyed_backend_open(op, &op->state, err);
	if (rc == 0 && (rc = st_declare(op->state, AGG_STATE, 0, &op->state_id)) != 0)
		cm_err_set(err, rc, "operator '%s': %s", op->node->name, st_backend_error(op->state));
	return rc;
}

static void agg_fini(tm_op *op)
{
	st_backend_free(op->state);
	op->state = NULL;
	free(op->acc_buf);
	op->acc_buf = NULL;
}

static int agg_emit_entry(void *arg, const st_entry *e)
{
	tm_op *op = arg;
	fl_row r;
	size_t used;
	if (row_decode(e->val, e->vlen, &r, &used) != 0)
		return tm_chain_fail(op->chain, FL_EPROTO, "operator '%s': corrupt state entry",
				     op->node->name);
	int rc = emit(op, &r);
	op->chain->ctx.scratch_used = 0;
	return rc;
}

/* BATCH: one final value per key, when the input is complete. */
static int agg_end_input(tm_op *op)
{
	if (!op->chain->batch)
		return 0;
	int rc = st_iterate(op->state, 0, op->max_parallelism - 1, agg_emit_entry, op);
	if (rc && !op->chain->err.code)
		return tm_chain_fail(op->chain, rc, "operator '%s': %s", op->node->name,
				     st_backend_error(op->state));
	return rc;
}

/*
 * Incremental checkpoints. Each keyed operator remembers the files of its
 * last few checkpoints: a chain, a whole file then deltas, the last one
 * written for that checkpoint. When the checkpoint the task last heard
 * completed is one of them, the next checkpoint writes only the changes
 * since that one's cut and names the rest of the chain ("../chk-N/x", the
 * coordinator keeps those files while a retained checkpoint names them).
 * A whole file again when the chain is long, when its deltas add up to
 * more than its whole file, or when the backend cannot tell the changes
 * (backend.h). The history is written on the task thread when the cut is
 * taken, and the sizes by the writer thread, which the task joins before
 * the next snapshot.
 */
#define TM_INC_HIST 4	/* checkpoints remembered (one is written at a time) */
#define TM_INC_CHAIN 12 /* most files in a chain before a whole one again */
#define TM_INC_NAME 200

struct tm_inc_entry {
	uint64_t id; /* its checkpoint; 0: free */
	uint64_t epoch;
	size_t n; /* files in the chain; names[n - 1] its own */
	char names[TM_INC_CHAIN][TM_INC_NAME];
	char *ptrs[TM_INC_CHAIN];
	uint64_t whole_bytes, delta_bytes;
	bool written;
};

struct tm_inc {
	struct tm_inc_entry e[TM_INC_HIST];
};

/* Plans snapshot s of op as a delta or a whole file (after its cut). */
static void inc_plan(tm_op *op, tm_snapshot *s)
{
	if (!op->inc && !(op->inc = calloc(1, sizeof(*op->inc))))
		return; /* no history: whole files */
	struct tm_inc *h = op->inc;
	struct tm_inc_entry *base = NULL, *slot = NULL;
	for (int i = 0; i < TM_INC_HIST; i++) {
		struct tm_inc_entry *e = &h->e[i];
		if (s->base_id && e->id == s->base_id && e->written)
			base = e;
	}
	for (int i = 0; i < TM_INC_HIST; i++) {
		struct tm_inc_entry *e = &h->e[i];
		if (e != base && (!slot || e->id < slot->id))
			slot = e;
	}
	memset(slot, 0, sizeof(*slot));
	slot->id = s->id;
	slot->epoch = st_cut_epoch(s->cut);
	if (base && base->n < TM_INC_CHAIN && base->delta_bytes <= base->whole_bytes &&
	    st_cut_changes_known(s->cut, base->epoch)) {
		for (size_t k = 0; k < base->n; k++) {
			int w = k + 1 < base->n
				    ? snprintf(slot->names[k], TM_INC_NAME, "%s", base->names[k])
				    : snprintf(slot->names[k], TM_INC_NAME, "../chk-%llu/%s",
					       (unsigned long long)base->id, base->names[k]);
			if (w < 0 || w >= TM_INC_NAME)
				goto whole;
		}
		slot->n = base->n;
		slot->whole_bytes = base->whole_bytes;
		slot->delta_bytes = base->delta_bytes;
		s->delta = true;
		s->since = base->epoch;
	}
whole:
	if (!s->delta) {
		slot->n = 0;
		slot->whole_bytes = slot->delta_bytes = 0;
	}
	snprintf(slot->names[slot->n], TM_INC_NAME, "%s", s->keyed_file);
	for (size_t k = 0; k <= slot->n; k++)
		slot->ptrs[k] = slot->names[k];
	s->base_files = slot->n ? slot->ptrs : NULL;
	s->nbase = slot->n;
	slot->n++;
	s->hist = slot;
}

int tm_snapshot_keyed(tm_op *op, st_backend *b, tm_snapshot *s)
{
	return tm_snapshot_keyed_filtered(op, b, s, NULL, NULL, NULL);
}

int tm_snapshot_keyed_filtered(tm_op *op, st_backend *b, tm_snapshot *s, st_snap_filter_fn filter,
			       void *filter_arg, void (*filter_free)(void *arg))
{
	const td_task *td = op->chain->td;
	kg_range_for_operator(op->max_parallelism, td->parallelism, td->subtask, &s->kg_first,
			      &s->kg_last);
	snprintf(s->keyed_file, sizeof(s->keyed_file), "%.100s-%d.state", op->node->uid,
		 td->subtask);
	int rc = st_cut_new(b, &s->cut);
	if (rc == 0) {
		s->filter = filter;
		s->filter_arg = filter_arg;
		s->filter_free = filter_free;
		if (td->incremental && s->kind == CP_CHECKPOINT)
			inc_plan(op, s);
	} else if (filter_free) {
		filter_free(filter_arg);
	}
	if (rc)
		snprintf(s->why, sizeof(s->why), "operator '%.60s': %.400s", op->node->name,
			 st_backend_error(b));
	return rc;
}

static int agg_snapshot(tm_op *op, tm_snapshot *s)
{
	return tm_snapshot_keyed(op, op->state, s);
}

int tm_restore_keyed(tm_op *op, st_backend *b, const td_restore *rs, cm_err *err)
{
	const td_task *td = op->chain->td;
	int first, last;
	kg_range_for_operator(op->max_parallelism, td->parallelism, td->subtask, &first, &last);
	for (size_t i = 0; i < rs->nfiles; i++) {
		const char *path = rs->files[i].path;
		FILE *f = fopen(path, "rb");
		if (!f)
			return cm_err_set(err, cm_err_from_errno(errno),
					  "operator '%s': cannot open its state file %.400s: %s",
					  op->node->name, path, strerror(errno));
		int rc = st_snapfile_restore(b, f, path, first, last, err);
		fclose(f);
		if (rc)
			return rc;
	}
	return 0;
}

static int agg_restore(tm_op *op, const td_restore *rs, cm_err *err)
{
	return tm_restore_keyed(op, op->state, rs, err);
}

/* --------------------------------------------------------- stateless */

static int process_map(tm_op *op, const fl_row *row)
{
	fl_row out;
	out.nfields = 0;
	int rc = ((fl_map_fn)op->fn)(&op->chain->ctx, row, &out);
	if (rc < 0)
		return user_failed(op, rc);
	return emit(op, &out);
}

static int process_flat_map(tm_op *op, const fl_row *row)
{
	fl_collector c = {.op = op};
	int rc = ((fl_flat_map_fn)op->fn)(&op->chain->ctx, row, &c);
	/* A failure downstream of fl_collect is the chain's failure whatever
	 * the function returned: ignoring fl_collect's result is the common C
	 * idiom, and must not turn a failed record into a lost one. */
	if (op->chain->err.code)
		return op->chain->err.code;
	if (rc < 0)
		return user_failed(op, rc);
	return 0;
}

static int process_filter(tm_op *op, const fl_row *row)
{
	int rc = ((fl_filter_fn)op->fn)(&op->chain->ctx, row);
	if (rc < 0)
		return user_failed(op, rc);
	return rc > 0 ? emit(op, row) : 0;
}

/* Two inputs without state: the second input's calls take fn2. */
static int process_co_map2(tm_op *op, const fl_row *row)
{
	fl_row out;
	out.nfields = 0;
	int rc = ((fl_map_fn)op->fn2)(&op->chain->ctx, row, &out);
	if (rc < 0)
		return tm_op_user_failed(op, rc, op->node->fn2_symbol);
	return emit(op, &out);
}

static int process_co_flat_map2(tm_op *op, const fl_row *row)
{
	fl_collector c = {.op = op};
	int rc = ((fl_flat_map_fn)op->fn2)(&op->chain->ctx, row, &c);
	if (op->chain->err.code)
		return op->chain->err.code;
	if (rc < 0)
		return tm_op_user_failed(op, rc, op->node->fn2_symbol);
	return 0;
}

/* The class of each operator kind: the sources' are in sources.c, the
 * sinks' in sinks.c. */
static const tm_op_class map_class = {.process = process_map};
static const tm_op_class flat_map_class = {.process = process_flat_map};
static const tm_op_class filter_class = {.process = process_filter};
static const tm_op_class co_map_class = {.process = process_map, .process2 = process_co_map2};
static const tm_op_class co_flat_map_class = {.process = process_flat_map,
					      .process2 = process_co_flat_map2};
static const tm_op_class agg_class = {
    .process = agg_process,
    .open = agg_open,
    .restore = agg_restore,
    .end_input = agg_end_input,
    .snapshot = agg_snapshot,
    .fini = agg_fini,
};

const tm_op_class *tm_op_class_of(enum sg_kind k)
{
	switch (k) {
	case SG_SOURCE_GENERATOR:
		return &tm_generator_class;
	case SG_SOURCE_TEXT_FILE:
		return &tm_text_source_class;
	case SG_SOURCE_SOCKET:
		return &tm_socket_source_class;
	case SG_MAP:
		return &map_class;
	case SG_FLAT_MAP:
		return &flat_map_class;
	case SG_FILTER:
		return &filter_class;
	case SG_REDUCE:
	case SG_SUM:
	case SG_MIN:
	case SG_MAX:
		return &agg_class;
	case SG_SINK_PRINT:
		return &tm_print_class;
	case SG_SINK_TEXT_FILE:
		return &tm_file_sink_class;
	case SG_SINK_DISCARD:
		return &tm_discard_class;
	case SG_PROCESS:
		return &tm_process_class;
	case SG_WINDOW:
		return &tm_window_class;
	case SG_CO_MAP:
		return &co_map_class;
	case SG_CO_FLAT_MAP:
		return &co_flat_map_class;
	case SG_CO_PROCESS:
		return &tm_co_process_class;
	case SG_CO_BROADCAST:
		return &tm_broadcast_process_class;
	case SG_WINDOW_JOIN:
	case SG_INTERVAL_JOIN:
	case SG_WINDOW_COGROUP:
		return &tm_join_class;
	case SG_BROADCAST_PROCESS:
		return &tm_broadcast_unkeyed_class;
	}
	return &tm_discard_class; /* not reached: td_decode checks kinds */
}

/* Flushes an operator's own buffers, then its record writers. */
static int op_flush(tm_op *op)
{
	int rc = op->cls->flush ? op->cls->flush(op) : 0;
	for (size_t i = 0; rc == 0 && i < op->nouts; i++) {
		rc = net_writer_flush_all(op->outs[i].writer);
		if (rc)
			return send_failed(op, &op->outs[i], rc);
	}
	return rc;
}

/* ---------------------------------------------------------------- chain */

int tm_chain_fail(tm_chain *c, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rc = cm_err_vset(&c->err, rc ? rc : FL_EINVAL, fmt, ap);
	va_end(ap);
	return rc;
}

static int resolve(const tm_chain *c, const char *symbol, void **fn, cm_err *err)
{
	return sg_resolve_function(c->td->library, symbol, fn, err);
}

/* The stand-in of a two-input operator's second input (tm_op.in2). */
static int process_second_input(tm_op *in2, const fl_row *row)
{
	tm_op *op = in2->impl;
	op->n_in++;
	return op->process2(op, row);
}

/* op may not be set up yet (it comes later in the chain): only its
 * address is taken. */
static tm_op *second_input_of(tm_chain *c, tm_op *op)
{
	if (!op->in2 && (op->in2 = calloc(1, sizeof(*op->in2))) != NULL) {
		op->in2->process = process_second_input;
		op->in2->impl = op;
		op->in2->chain = c;
	}
	return op->in2;
}

int tm_chain_init(tm_chain *c, const td_task *td, const char *name, cm_err *err)
{
	memset(c, 0, sizeof(*c));
	c->td = td;
	c->name = name;
	c->ctx.chain = c;
	c->ts = TM_TS_NONE;
	c->wm = TM_TS_NONE;
	c->ctx.subtask = td->subtask;
	c->ctx.parallelism = td->parallelism;
	c->buffer_timeout_ms = td->buffer_timeout_ms;
	c->batch = td->batch;
	atomic_init(&c->cancelled, false);
	atomic_init(&c->attention, 0);
	atomic_init(&c->bytes_in, 0);
	atomic_init(&c->buffers_in, 0);
	atomic_init(&c->bytes_out, 0);
	atomic_init(&c->buffers_out, 0);
	atomic_init(&c->back_pressured_ns, 0);
	if (!(c->ops = calloc(td->nops, sizeof(*c->ops))))
		return cm_err_set(err, FL_ENOMEM, "out of memory while deploying %s", name);
	c->nops = td->nops;
	for (size_t i = 0; i < td->nops; i++) {
		tm_op *op = &c->ops[i];
		const td_op *d = &td->ops[i];
		op->node = d;
		op->chain = c;
		op->cls = tm_op_class_of(d->kind);
		op->process = op->cls->process;
		op->process2 = op->cls->process2;
		if (sg_kind_is_two_input(d->kind) && !op->process2)
			return cm_err_set(err, FL_EINVAL,
					  "%s: operator '%s' of kind %s is not built", name,
					  d->name, sg_kind_type(d->kind));
		atomic_init(&op->records_in, 0);
		atomic_init(&op->records_out, 0);
		if (d->nchained && !(op->chained = calloc(d->nchained, sizeof(*op->chained))))
			return cm_err_set(err, FL_ENOMEM, "out of memory while deploying %s", name);
		op->nchained = d->nchained;
		for (size_t j = 0; j < d->nchained; j++) {
			tm_op *to = &c->ops[d->chained[j]];
			if (d->chained_side && d->chained_side[j] && !(to = second_input_of(c, to)))
				return cm_err_set(err, FL_ENOMEM,
						  "out of memory while deploying %s", name);
			op->chained[j] = to;
		}
		if (d->fn_symbol) {
			int rc = resolve(c, d->fn_symbol, &op->fn, err);
			if (rc)
				return rc;
		}
		if (d->fn2_symbol) {
			int rc = resolve(c, d->fn2_symbol, &op->fn2, err);
			if (rc)
				return rc;
		}
		if (d->ts_symbol) {
			void *fn;
			int rc = resolve(c, d->ts_symbol, &fn, err);
			if (rc)
				return rc;
			op->ts_fn = (fl_timestamp_fn)fn;
		}
		if (d->timer_symbol) {
			int rc = resolve(c, d->timer_symbol, &op->timer_fn, err);
			if (rc)
				return rc;
			c->has_timers = true;
		}
		if (d->kind == SG_WINDOW)
			c->has_timers = true;
		if (sg_kind_is_keyed(d->kind)) {
			op->key = &d->key;
			op->max_parallelism = td->max_parallelism;
			if (d->key.by_fn) {
				void *fn;
				int rc = resolve(c, d->key.fn_symbol, &fn, err);
				if (rc)
					return rc;
				op->key_fn = (fl_key_fn)fn;
			}
			op->key2 = &d->key2;
			if (d->key2.by_fn) {
				void *fn;
				int rc = resolve(c, d->key2.fn_symbol, &fn, err);
				if (rc)
					return rc;
				op->key2_fn = (fl_key_fn)fn;
			}
		}
		if (d->nouts && !(op->outs = calloc(d->nouts, sizeof(*op->outs))))
			return cm_err_set(err, FL_ENOMEM, "out of memory while deploying %s", name);
		op->nouts = d->nouts;
		op->nmain = d->nouts;
		while (op->nmain > 0 && d->outs[op->nmain - 1].tag[0])
			op->nmain--;
		for (size_t k = 0; k < d->nouts; k++) {
			const td_output *o = &d->outs[k];
			op->outs[k].desc = o;
			if (o->part == SG_PART_HASH && o->key.by_fn) {
				void *fn;
				int rc = resolve(c, o->key.fn_symbol, &fn, err);
				if (rc)
					return rc;
				op->outs[k].key_fn = (fl_key_fn)fn;
			}
		}
	}
	return 0;
}

void tm_chain_fini(tm_chain *c)
{
	for (size_t i = 0; i < c->nops; i++) {
		tm_op *op = &c->ops[i];
		for (size_t k = 0; k < op->nouts; k++)
			net_writer_free(op->outs[k].writer);
		free(op->outs);
		free(op->chained);
		free(op->in2);
		if (op->cls && op->cls->fini)
			op->cls->fini(op);
		free(op->key_heap[0]);
		free(op->key_heap[1]);
		free(op->inc);
	}
	free(c->ops);
	free(c->ctx.scratch);
	c->ops = NULL;
	c->nops = 0;
}

int tm_chain_open(tm_chain *c, size_t *opened)
{
	cm_err oe = {0};
	*opened = 0;
	for (size_t i = 0; i < c->nops; i++) {
		tm_op *op = &c->ops[i];
		int rc = op->cls->open ? op->cls->open(op, &oe) : 0;
		if (rc)
			return tm_chain_fail(c, rc, "%s", oe.msg);
		*opened = i + 1;
	}
	return 0;
}

int tm_chain_finish(tm_chain *c)
{
	c->ts = TM_TS_NONE; /* what operators emit at the end has no timestamp */
	/* Ops are in topological order, so an op's end-of-input output reaches
	 * chained ops that have not ended yet. */
	for (size_t i = 0; i < c->nops; i++) {
		tm_op *op = &c->ops[i];
		int rc = op->cls->end_input ? op->cls->end_input(op) : 0;
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < c->nops; i++) {
		tm_op *op = &c->ops[i];
		int rc = op_flush(op);
		if (rc)
			return rc;
		for (size_t k = 0; k < op->nouts; k++)
			if ((rc = net_writer_broadcast_event(op->outs[k].writer,
							     NET_EV_END_OF_PARTITION,
							     c->stopped ? TM_EOP_STOPPED : 0)) != 0)
				return send_failed(op, &op->outs[k], rc);
	}
	return 0;
}

int tm_chain_close(tm_chain *c, size_t opened, bool ok)
{
	int first = 0;
	for (size_t i = 0; i < opened; i++) {
		tm_op *op = &c->ops[i];
		bool good = ok && first == 0;
		int rc = good ? op_flush(op) : 0;
		int crc = op->cls->close ? op->cls->close(op, good && rc == 0) : 0;
		if (rc == 0)
			rc = crc;
		if (first == 0)
			first = rc;
	}
	return first;
}

int tm_chain_restore(tm_chain *c)
{
	if (!c->td->restore_id)
		return 0;
	for (size_t i = 0; i < c->nops; i++) {
		tm_op *op = &c->ops[i];
		const td_restore *rs = &op->node->restore;
		if (!rs->restored)
			continue;
		if (!op->cls->restore) {
			if (rs->list_len || rs->nfiles)
				return tm_chain_fail(c, FL_EINVAL,
						     "operator '%s' (uid %s) has no state, but checkpoint "
						     "%llu holds some for it",
						     op->node->name, op->node->uid,
						     (unsigned long long)c->td->restore_id);
			continue;
		}
		cm_err err = {0};
		int rc = op->cls->restore(op, rs, &err);
		if (rc)
			return tm_chain_fail(c, rc, "restoring from checkpoint %llu: %s",
					     (unsigned long long)c->td->restore_id,
					     err.msg[0] ? err.msg : fl_strerror(rc));
	}
	return 0;
}

void tm_snapshot_add(tm_snapshot *s, const void *p, size_t len)
{
	cm_wbuf_bytes(s->elems, p, len);
	s->nelems++;
}

struct tm_pending_snapshot {
	char dir[1100];	    /* the checkpoint's directory (snaps point here) */
	size_t n, k;	    /* states taken; snapshots begun (their lists to free) */
	cp_op_state *st;    /* [n]: uids point into the task's descriptor */
	tm_snapshot *snaps; /* [n]: the keyed ones hold a cut to write */
	cm_wbuf *lists;	    /* [k] */
};

void tm_pending_snapshot_free(tm_pending_snapshot *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->k; i++) {
		if (p->snaps[i].cut)
			st_cut_free(p->snaps[i].cut);
		if (p->snaps[i].filter_free)
			p->snaps[i].filter_free(p->snaps[i].filter_arg);
		cm_wbuf_fini(&p->lists[i]);
	}
	free(p->lists);
	free(p->snaps);
	free(p->st);
	free(p);
}

bool tm_pending_snapshot_async(const tm_pending_snapshot *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->snaps[i].cut)
			return true;
	return false;
}

int tm_chain_snapshot_begin(tm_chain *c, uint64_t id, int kind, uint64_t base_id, const char *dir,
			    tm_pending_snapshot **out, char *why, size_t why_cap)
{
	const td_task *td = c->td;
	*out = NULL;
	tm_pending_snapshot *p = calloc(1, sizeof(*p));
	if (p) {
		p->st = calloc(c->nops, sizeof(*p->st));
		p->snaps = calloc(c->nops, sizeof(*p->snaps));
		p->lists = calloc(c->nops, sizeof(*p->lists));
	}
	int rc = p && p->st && p->snaps && p->lists ? 0 : FL_ENOMEM;
	if (rc)
		snprintf(why, why_cap, "out of memory");
	if (rc == 0 && (size_t)snprintf(p->dir, sizeof(p->dir), "%s", dir) >= sizeof(p->dir)) {
		rc = FL_ERANGE;
		snprintf(why, why_cap, "the checkpoint directory's path is too long");
	}
	for (size_t i = 0; rc == 0 && i < c->nops; i++) {
		tm_op *op = &c->ops[i];
		if (!op->cls->snapshot)
			continue; /* stateless */
		tm_snapshot *s = &p->snaps[p->k];
		cm_wbuf_init(&p->lists[p->k], CP_OP_STATE_MAX);
		*s = (tm_snapshot){.id = id,
				   .kind = kind,
				   .dir = p->dir,
				   .base_id = base_id,
				   .elems = &p->lists[p->k],
				   .kg_first = -1,
				   .kg_last = -1};
		p->k++;
		if ((rc = op->cls->snapshot(op, s)) != 0) {
			snprintf(why, why_cap, "%s", s->why[0] ? s->why : fl_strerror(rc));
			break;
		}
		if (cm_wbuf_error(s->elems)) {
			rc = cm_wbuf_error(s->elems);
			snprintf(why, why_cap, "operator '%s': its state is over %u bytes or out of "
					       "memory",
				 op->node->name, CP_OP_STATE_MAX);
			break;
		}
		p->st[p->n++] = (cp_op_state){
		    .uid = op->node->uid,
		    .subtask = td->subtask,
		    .parallelism = td->parallelism,
		    .max_parallelism = s->keyed_file[0] ? op->max_parallelism : td->max_parallelism,
		    .kg_first = s->keyed_file[0] ? s->kg_first : -1,
		    .kg_last = s->keyed_file[0] ? s->kg_last : -1,
		    .keyed_file = s->keyed_file[0] ? s->keyed_file : NULL,
		    .keyed_bytes = s->keyed_bytes,
		    .base_files = s->base_files, /* the operator's history; not freed */
		    .nbase = s->nbase};
	}
	if (rc) {
		tm_pending_snapshot_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

/* Writes a keyed operator's cut as its snapshot file (any thread). */
static int write_cut(tm_snapshot *s, char *why, size_t why_cap)
{
	cm_err err = {0};
	char path[1400];
	snprintf(path, sizeof(path), "%s/%s", s->dir, s->keyed_file);
	int rc = 0;
	FILE *f = fopen(path, "wbx");
	if (!f) {
		rc = FL_EIO;
		snprintf(err.msg, sizeof(err.msg), "cannot create %.400s: %s", path, strerror(errno));
	}
	uint64_t entries = 0;
	if (rc == 0 && s->delta)
		rc = st_snapfile_write_changes(f, path, s->cut, s->since, s->kg_first, s->kg_last,
					       s->filter, s->filter_arg, &entries, &err);
	else if (rc == 0)
		rc = st_snapfile_write_filtered(f, path, s->cut, s->kg_first, s->kg_last, s->filter,
						s->filter_arg, &entries, &err);
	if (f) {
		if (rc == 0 && (fflush(f) != 0 || fsync(fileno(f)) != 0)) {
			rc = FL_EIO;
			snprintf(err.msg, sizeof(err.msg), "cannot write %.400s: %s", path,
				 strerror(errno));
		}
		long size = ftell(f);
		if (fclose(f) != 0 && rc == 0) {
			rc = FL_EIO;
			snprintf(err.msg, sizeof(err.msg), "cannot write %.400s: %s", path,
				 strerror(errno));
		}
		s->keyed_bytes = size > 0 ? (uint64_t)size : 0;
		if (rc)
			unlink(path);
		else if (s->hist) {
			if (s->delta)
				s->hist->delta_bytes += s->keyed_bytes;
			else
				s->hist->whole_bytes = s->keyed_bytes;
			s->hist->written = true;
		}
	}
	st_cut_free(s->cut);
	s->cut = NULL;
	if (s->filter_free)
		s->filter_free(s->filter_arg);
	s->filter_free = NULL;
	s->filter_arg = NULL;
	if (rc)
		snprintf(why, why_cap, "%.500s", err.msg[0] ? err.msg : fl_strerror(rc));
	return rc;
}

int tm_pending_snapshot_finish(tm_pending_snapshot *p, cm_wbuf *ack, size_t *n, char *why,
			       size_t why_cap)
{
	*n = p->n;
	for (size_t i = 0; i < p->n; i++) {
		tm_snapshot *s = &p->snaps[i];
		if (s->cut) {
			int rc = write_cut(s, why, why_cap);
			if (rc)
				return rc;
			p->st[i].keyed_bytes = s->keyed_bytes;
		}
		p->st[i].data = (uint8_t *)cm_wbuf_data(&p->lists[i]);
		p->st[i].len = cm_wbuf_len(&p->lists[i]);
	}
	cp_states_encode(ack, p->st, p->n);
	if (cm_wbuf_error(ack)) {
		snprintf(why, why_cap, "the acknowledgement is too large or out of memory");
		return cm_wbuf_error(ack);
	}
	return 0;
}

int tm_chain_notify(tm_chain *c, uint64_t id, bool completed)
{
	for (size_t i = 0; i < c->nops; i++) {
		tm_op *op = &c->ops[i];
		int rc = op->cls->notify ? op->cls->notify(op, id, completed) : 0;
		if (rc)
			return c->err.code ? c->err.code : tm_chain_fail(c, rc, "operator '%s': checkpoint "
										"%llu: %s",
									  op->node->name,
									  (unsigned long long)id,
									  fl_strerror(rc));
	}
	return 0;
}

bool tm_chain_wants_notify(const tm_chain *c)
{
	for (size_t i = 0; i < c->nops; i++)
		if (c->ops[i].cls->notify)
			return true;
	return false;
}

void tm_chain_publish_metrics(tm_chain *c)
{
	uint64_t bytes = 0, buffers = 0, bp_ns = 0;
	for (size_t i = 0; i < c->nops; i++) {
		tm_op *op = &c->ops[i];
		atomic_store_explicit(&op->records_in, op->n_in, memory_order_relaxed);
		atomic_store_explicit(&op->records_out, op->n_out, memory_order_relaxed);
		for (size_t k = 0; k < op->nouts; k++) {
			const net_writer *w = op->outs[k].writer;
			if (!w)
				continue;
			bytes += net_writer_bytes_out(w);
			buffers += net_writer_buffers_out(w);
			bp_ns += net_writer_back_pressured_ns(w);
		}
	}
	atomic_store_explicit(&c->bytes_in, c->n_bytes_in, memory_order_relaxed);
	atomic_store_explicit(&c->buffers_in, c->n_buffers_in, memory_order_relaxed);
	atomic_store_explicit(&c->bytes_out, bytes, memory_order_relaxed);
	atomic_store_explicit(&c->buffers_out, buffers, memory_order_relaxed);
	atomic_store_explicit(&c->back_pressured_ns, bp_ns, memory_order_relaxed);
}

int tm_chain_maybe_flush(tm_chain *c, bool force)
{
	tm_chain_publish_metrics(c);
	int64_t now = cm_now_ms();
	if (!force && now < c->next_flush_ms)
		return 0;
	/* Saturating: a huge timeout means "flush when full or at the end". */
	if (__builtin_add_overflow(now, c->buffer_timeout_ms, &c->next_flush_ms))
		c->next_flush_ms = INT64_MAX;
	for (size_t i = 0; i < c->nops; i++) {
		int rc = op_flush(&c->ops[i]);
		if (rc)
			return rc;
	}
	return 0;
}

int tm_chain_attend(tm_chain *c)
{
	if (atomic_load(&c->cancelled))
		return FL_ECANCELED;
	int was = atomic_fetch_and(&c->attention, ~(TM_ATTN_FLUSH | TM_ATTN_CHECKPOINT));
	int rc = 0;
	if (was & TM_ATTN_CHECKPOINT && c->on_checkpoint)
		rc = c->on_checkpoint(c->on_checkpoint_arg);
	if (rc == 0 && was & TM_ATTN_FLUSH)
		rc = tm_chain_maybe_flush(c, false);
	return rc;
}

void tm_chain_cancel(tm_chain *c)
{
	atomic_store(&c->cancelled, true);
	atomic_fetch_or(&c->attention, TM_ATTN_CANCEL);
}
