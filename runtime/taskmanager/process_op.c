/*
 * process_op.c — the keyed process function (fl_process, Flink's
 * KeyedProcessOperator): calls the user's function per record with the
 * record's key current and its keyed state (state/keyed_state.h) reachable
 * through the fl_ctx, on the task's st_backend, which checkpoints write
 * and restores read like the keyed aggregations' (tm_keyed_backend_open,
 * tm_snapshot_keyed_filtered, tm_restore_keyed). Snapshots leave expired
 * TTL values out.
 *
 * Time for TTL is the wall clock in ms, unless the environment of the
 * process names a fake clock file, FLINC_FAKE_CLOCK_FILE (a test hook, not
 * configuration): its content, a decimal number of ms, is the time, read
 * again at most every 10 ms.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "state/keyed_state.h"
#include "taskmanager/operator.h"
#include "types/codec.h"
#include "types/keygroup.h"

#define FAKE_CLOCK_ENV "FLINC_FAKE_CLOCK_FILE"
#define FAKE_CLOCK_REREAD_MS 10

typedef struct pf_op {
	ks_ctx *ks;
	char *clock_file; /* the fake clock, or NULL */
	int64_t clock_ms, clock_read_at;
	bool clock_warned;
} pf_op;

static int64_t fake_clock(void *arg)
{
	pf_op *pf = arg;
	int64_t mono = cm_now_ms();
	if (pf->clock_read_at != INT64_MIN && mono - pf->clock_read_at < FAKE_CLOCK_REREAD_MS)
		return pf->clock_ms;
	pf->clock_read_at = mono;
	FILE *f = fopen(pf->clock_file, "r");
	long long v;
	if (f && fscanf(f, "%lld", &v) == 1) {
		pf->clock_ms = v;
	} else if (!pf->clock_warned) {
		pf->clock_warned = true;
		CM_WARN("process", "cannot read the fake clock %s (%s): TTL time stays at %lld",
			pf->clock_file, f ? "not a number" : strerror(errno),
			(long long)pf->clock_ms);
	}
	if (f)
		fclose(f);
	return pf->clock_ms;
}

static int pf_open(tm_op *op, cm_err *err)
{
	pf_op *pf = calloc(1, sizeof(*pf));
	if (!pf)
		return cm_err_set(err, FL_ENOMEM, "operator '%s': out of memory", op->node->name);
	op->impl = pf;
	op->state_id = -1;
	int rc = tm_keyed_backend_open(op, &op->state, err);
	if (rc)
		return rc;
	ks_config kc = {.backend = op->state, .op_name = op->node->name, .uctx = &op->chain->ctx};
	const char *fake = getenv(FAKE_CLOCK_ENV);
	if (fake && *fake) {
		if (!(pf->clock_file = strdup(fake)))
			return cm_err_set(err, FL_ENOMEM, "operator '%s': out of memory",
					  op->node->name);
		pf->clock_read_at = INT64_MIN;
		kc.clock = fake_clock;
		kc.clock_arg = pf;
		CM_INFO("process", "%s: state TTL runs on the fake clock in %s (%s)",
			op->chain->name, fake, FAKE_CLOCK_ENV);
	}
	return ks_new(&kc, &pf->ks, err);
}

static void pf_fini(tm_op *op)
{
	pf_op *pf = op->impl;
	if (pf) {
		ks_free(pf->ks);
		free(pf->clock_file);
		free(pf);
	}
	op->impl = NULL;
	st_backend_free(op->state);
	op->state = NULL;
}

static int pf_restore(tm_op *op, const td_restore *rs, cm_err *err)
{
	return tm_restore_keyed(op, op->state, rs, err);
}

static void free_filter(void *f)
{
	ks_snap_filter_free(f);
}

/* The cut is written off the task thread: the TTL filter goes with it, a
 * self-contained copy of the TTL states and of the time now. */
static int pf_snapshot(tm_op *op, tm_snapshot *s)
{
	pf_op *pf = op->impl;
	ks_snap_filter *f = NULL;
	if (ks_snap_filter_new(pf->ks, &f) != 0) {
		snprintf(s->why, sizeof(s->why), "operator '%.60s': out of memory", op->node->name);
		return FL_ENOMEM;
	}
	return tm_snapshot_keyed_filtered(op, op->state, s, f ? ks_snap_filter_entry : NULL, f,
					  f ? free_filter : NULL);
}

/* The user function's failure (as operators.c's user_failed). */
static int pf_user_failed(tm_op *op, int rc)
{
	fl_ctx *ctx = &op->chain->ctx;
	if (rc == FL_ECANCELED && atomic_load(&op->chain->cancelled))
		return rc;
	if (ctx->user_failed)
		return tm_chain_fail(op->chain, FL_EUSER, "operator '%s': %s() failed: %s",
				     op->node->name, op->node->fn_symbol, ctx->user_msg);
	return tm_chain_fail(op->chain, rc == FL_EUSER ? FL_EUSER : rc,
			     "operator '%s': %s() returned %d (%s)", op->node->name,
			     op->node->fn_symbol, rc, fl_strerror(rc));
}

static int pf_process_keyed(tm_op *op, const fl_row *in, const uint8_t *kb, size_t kl, uint32_t h)
{
	tm_chain *c = op->chain;
	pf_op *pf = op->impl;
	fl_ctx *ctx = &c->ctx;
	ks_set_key(pf->ks, kb, kl, h);
	struct ks_ctx *outer = ctx->keyed;
	ctx->keyed = pf->ks;
	fl_collector col = {.op = op, .keyed = pf->ks};
	int rc = ((fl_process_fn)op->fn)(ctx, in, &col);
	ctx->keyed = outer;
	ks_end_record(pf->ks);
	op->state_id = ks_prefetch_state(pf->ks);
	/* A state failure fails the task whatever the function returned: the
	 * function may have gone on without checking. */
	const cm_err *e = ks_error(pf->ks);
	if (e->code) {
		if (e->code == FL_EUSER && ctx->user_failed)
			return tm_chain_fail(c, FL_EUSER, "%s: %s", e->msg, ctx->user_msg);
		return tm_chain_fail(c, e->code, "%s", e->msg);
	}
	/* So does a failure downstream of fl_collect (as flat_map's). */
	if (c->err.code)
		return c->err.code;
	return rc < 0 ? pf_user_failed(op, rc) : 0;
}

/* The record's key, encoded as the partitioner encodes it (the row codec's
 * bytes of the key field as a one-field row, or of the selector's row). */
static const uint8_t *pf_key(tm_op *op, const fl_row *in, uint8_t *buf, size_t *kl)
{
	tm_chain *c = op->chain;
	fl_row k;
	k.nfields = 0;
	if (op->key->by_fn) {
		int rc = op->key_fn(&c->ctx, in, &k);
		if (rc < 0) {
			if (c->ctx.user_failed)
				tm_chain_fail(c, FL_EUSER, "key selector %s() of '%s' failed: %s",
					      op->key->fn_symbol, op->node->name, c->ctx.user_msg);
			else
				tm_chain_fail(c, rc, "key selector %s() of '%s' returned %d",
					      op->key->fn_symbol, op->node->name, rc);
			return NULL;
		}
	} else {
		if (op->key->field >= in->nfields) {
			tm_chain_fail(c, FL_EINVAL,
				      "key field %u of '%s' is missing: the record has %u fields",
				      op->key->field, op->node->name, in->nfields);
			return NULL;
		}
		k.nfields = 1;
		k.types[0] = in->types[op->key->field];
		k.values[0] = in->values[op->key->field];
	}
	size_t n = row_encode(&k, buf, TM_KEY_BUF);
	if (n) {
		*kl = n;
		return buf;
	}
	size_t bound = row_encoded_bound(&k);
	if (bound == 0 || bound > ROW_MAX_ENCODED) {
		tm_chain_fail(c, FL_ERANGE,
			      "the key of a record for '%s' cannot be encoded (over %u bytes or "
			      "malformed)",
			      op->node->name, ROW_MAX_ENCODED);
		return NULL;
	}
	if (bound > op->key_heap_cap[0]) {
		uint8_t *nb = realloc(op->key_heap[0], bound);
		if (!nb) {
			tm_chain_fail(c, FL_ENOMEM, "out of memory for a %zu-byte key in '%s'",
				      bound, op->node->name);
			return NULL;
		}
		op->key_heap[0] = nb;
		op->key_heap_cap[0] = bound;
	}
	*kl = row_encode(&k, op->key_heap[0], op->key_heap_cap[0]);
	return op->key_heap[0];
}

static int pf_process(tm_op *op, const fl_row *in)
{
	uint8_t buf[TM_KEY_BUF];
	size_t kl;
	const uint8_t *kb = pf_key(op, in, buf, &kl);
	if (!kb)
		return op->chain->err.code ? op->chain->err.code : FL_EINVAL;
	return pf_process_keyed(op, in, kb, kl, kg_murmur3_32(kb, kl, 0));
}

const tm_op_class tm_process_class = {
    .process = pf_process,
    .process_keyed = pf_process_keyed,
    .open = pf_open,
    .restore = pf_restore,
    .snapshot = pf_snapshot,
    .fini = pf_fini,
};

/* ------------------------------------------------------ the public API */

static void *get_state(fl_ctx *ctx, enum ks_kind kind, const fl_state_desc *desc)
{
	if (!ctx)
		return NULL;
	if (!ctx->keyed) {
		if (ctx->chain)
			tm_chain_fail(ctx->chain, FL_EINVAL,
				      "keyed state '%.200s' asked for outside a keyed process "
				      "function: only functions given to fl_process() have keyed "
				      "state",
				      desc && desc->name ? desc->name : "?");
		return NULL;
	}
	return ks_get(ctx->keyed, kind, desc);
}

FL_API fl_value_state *fl_get_state(fl_ctx *ctx, const fl_state_desc *desc)
{
	return get_state(ctx, KS_VALUE, desc);
}

FL_API fl_list_state *fl_get_list_state(fl_ctx *ctx, const fl_state_desc *desc)
{
	return get_state(ctx, KS_LIST, desc);
}

FL_API fl_map_state *fl_get_map_state(fl_ctx *ctx, const fl_state_desc *desc)
{
	return get_state(ctx, KS_MAP, desc);
}

FL_API fl_reducing_state *fl_get_reducing_state(fl_ctx *ctx, const fl_state_desc *desc)
{
	return get_state(ctx, KS_REDUCING, desc);
}

FL_API fl_aggregating_state *fl_get_aggregating_state(fl_ctx *ctx, const fl_state_desc *desc)
{
	return get_state(ctx, KS_AGGREGATING, desc);
}

FL_API const void *fl_ctx_current_key_bytes(fl_ctx *ctx, size_t *len)
{
	size_t n = 0;
	const void *k = ctx && ctx->keyed ? ks_current_key(ctx->keyed, &n) : NULL;
	if (len)
		*len = n;
	return k;
}

FL_API int fl_ctx_current_key(fl_ctx *ctx, fl_row *key)
{
	size_t n, used;
	const void *k = fl_ctx_current_key_bytes(ctx, &n);
	if (!k || !key)
		return FL_EINVAL;
	/* The bytes are the row codec's, made by this process: they decode. */
	return row_decode(k, n, key, &used) == 0 ? 0 : FL_EPROTO;
}
