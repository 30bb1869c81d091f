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
 * again at most every 10 ms. Processing-time timers run on the same clock.
 *
 * Timers (a process function given an on_timer, fl_keyed_process): the
 * operator's tm_timers (timer_service.h) keeps them in its backend, so
 * checkpoints carry them; a restore rebuilds the queues from what it put
 * in the backend. Event-time timers fire from the chain's watermark hook,
 * processing-time ones from the task loop's deadline (proc_timers).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/metadata.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "state/keyed_state.h"
#include "taskmanager/operator.h"
#include "taskmanager/timer_service.h"
#include "types/codec.h"
#include "types/keygroup.h"

#define FAKE_CLOCK_ENV "FLINC_FAKE_CLOCK_FILE"
#define FAKE_CLOCK_REREAD_MS 10

typedef struct pf_op {
	ks_ctx *ks;
	tm_clock clock;
	tm_timers *timers; /* NULL: no on_timer */
	uint32_t hash;	   /* the current key's */
	uint8_t fire_key[ST_KEY_MAX]; /* the key of the timer being fired */
	/* A co-process function: the types of the first key seen on each
	 * input (nfields, then the types), which the other input's keys
	 * must match. */
	bool two;
	bool has_sig[2];
	uint8_t sig[2][1 + FL_ROW_MAX_FIELDS];
	/* A broadcast process function's broadcast state: a heap backend of
	 * its own holding one MapState under one fixed key, the same on every
	 * subtask; checkpoints write it as operator state (bc_snapshot). */
	st_backend *bstate;
	ks_ctx *bks;
	int bstate_id;
	uint64_t late; /* a join's records dropped as late */
} pf_op;

/* The one key of the broadcast state. */
static const uint8_t BC_KEY[1] = {0};

int tm_clock_init(tm_clock *k, const char *who, cm_err *err)
{
	memset(k, 0, sizeof(*k));
	const char *fake = getenv(FAKE_CLOCK_ENV);
	if (!fake || !*fake)
		return 0;
	if (!(k->file = strdup(fake)))
		return cm_err_set(err, FL_ENOMEM, "%s: out of memory", who);
	k->read_at = INT64_MIN;
	CM_INFO("process", "%s: processing time (state TTL, timers) runs on the fake clock in %s (%s)",
		who, fake, FAKE_CLOCK_ENV);
	return 0;
}

void tm_clock_fini(tm_clock *k)
{
	free(k->file);
	k->file = NULL;
}

static int64_t fake_clock(tm_clock *k)
{
	int64_t mono = cm_now_ms();
	if (k->read_at != INT64_MIN && mono - k->read_at < FAKE_CLOCK_REREAD_MS)
		return k->ms;
	k->read_at = mono;
	FILE *f = fopen(k->file, "r");
	long long v;
	if (f && fscanf(f, "%lld", &v) == 1) {
		k->ms = v;
	} else if (!k->warned) {
		k->warned = true;
		CM_WARN("process", "cannot read the fake clock %s (%s): processing time stays at %lld",
			k->file, f ? "not a number" : strerror(errno), (long long)k->ms);
	}
	if (f)
		fclose(f);
	return k->ms;
}

int64_t tm_clock_now(tm_clock *k)
{
	return k->file ? fake_clock(k) : cm_wall_ms();
}

int64_t tm_clock_deadline(const tm_clock *k, int64_t now, int64_t next)
{
	int64_t mono = cm_now_ms(), wait, d;
	if (next == INT64_MAX)
		return INT64_MAX;
	if (k->file) /* the fake clock moves when its file does */
		return mono + FAKE_CLOCK_REREAD_MS;
	if (__builtin_sub_overflow(next, now, &wait) || __builtin_add_overflow(mono, wait, &d))
		return INT64_MAX - 1;
	return wait < 0 ? mono : d;
}

static int64_t ttl_clock(void *arg)
{
	return tm_clock_now(arg);
}

/* Processing time: the fake clock's, or the wall clock's. */
static int64_t pf_now(pf_op *pf)
{
	return tm_clock_now(&pf->clock);
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
	if ((rc = tm_clock_init(&pf->clock, op->chain->name, err)) != 0)
		return rc;
	if (pf->clock.file) {
		kc.clock = ttl_clock;
		kc.clock_arg = &pf->clock;
	}
	if (op->timer_fn && (rc = tm_timers_new(op->state, op->node->name, FL_MAX_TIMERS,
						&pf->timers, err)) != 0)
		return rc;
	return ks_new(&kc, &pf->ks, err);
}

static void pf_fini(tm_op *op)
{
	pf_op *pf = op->impl;
	if (pf) {
		ks_free(pf->bks);
		st_backend_free(pf->bstate);
		ks_free(pf->ks);
		tm_timers_free(pf->timers);
		tm_clock_fini(&pf->clock);
		free(pf);
	}
	op->impl = NULL;
	st_backend_free(op->state);
	op->state = NULL;
}

static int pf_restore(tm_op *op, const td_restore *rs, cm_err *err)
{
	pf_op *pf = op->impl;
	int rc = tm_restore_keyed(op, op->state, rs, err);
	if (rc == 0 && pf->timers && (rc = tm_timers_rebuild(pf->timers)) != 0)
		return cm_err_set(err, rc, "%s", tm_timers_error(pf->timers)->msg);
	if (rc == 0 && pf->timers)
		CM_INFO("process", "%s: %zu event-time and %zu processing-time timers restored",
			op->chain->name, tm_timers_count(pf->timers, TM_TIMER_EVENT),
			tm_timers_count(pf->timers, TM_TIMER_PROC));
	return rc;
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


/* After a call of the user's process or on_timer (fn) that returned rc. */
static int pf_after_call(tm_op *op, int rc, const char *fn)
{
	tm_chain *c = op->chain;
	pf_op *pf = op->impl;
	fl_ctx *ctx = &c->ctx;
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
	if (pf->bks && ks_error(pf->bks)->code)
		return tm_chain_fail(c, ks_error(pf->bks)->code, "%s", ks_error(pf->bks)->msg);
	/* So does a failure downstream of fl_collect (as flat_map's), or of
	 * a timer's registration. */
	if (c->err.code)
		return c->err.code;
	return rc < 0 ? tm_op_user_failed(op, rc, fn) : 0;
}

/* Before a user call of a broadcast process function: its broadcast
 * state with its one key, read-only unless why is NULL. Returns the
 * operator for ctx->bcast_op (NULL when it has no broadcast state). */
static tm_op *bc_enter(tm_op *op, const char *why)
{
	pf_op *pf = op->impl;
	if (!pf->bks)
		return NULL;
	ks_set_key(pf->bks, BC_KEY, sizeof(BC_KEY), kg_murmur3_32(BC_KEY, sizeof(BC_KEY), 0));
	ks_set_read_only(pf->bks, why);
	return op;
}

/* After it (rc: what the call returned): a broadcast state failure fails
 * the task whatever the function returned. */
static int bc_leave(tm_op *op, int rc)
{
	pf_op *pf = op->impl;
	if (!pf->bks)
		return rc;
	ks_end_record(pf->bks);
	const cm_err *e = ks_error(pf->bks);
	if (e->code)
		return tm_chain_fail(op->chain, e->code, "%s", e->msg);
	return rc;
}

/* Fires timer tm of domain dom: on_timer with its key current. */
static int pf_fire(tm_op *op, const tm_timer *tm, enum fl_time_domain dom)
{
	tm_chain *c = op->chain;
	pf_op *pf = op->impl;
	fl_ctx *ctx = &c->ctx;
	/* The service's copy is gone at its next call, which on_timer may
	 * make; the key must outlive the call. */
	memcpy(pf->fire_key, tm->key, tm->klen);
	ks_set_key(pf->ks, pf->fire_key, tm->klen, tm->hash);
	pf->hash = tm->hash;
	c->ts = dom == FL_EVENT_TIME ? tm->time : TM_TS_NONE;
	struct ks_ctx *outer = ctx->keyed;
	tm_op *outer_op = ctx->timer_op, *outer_bc = ctx->bcast_op;
	size_t used = ctx->scratch_used;
	ctx->keyed = pf->ks;
	ctx->timer_op = op;
	ctx->bcast_op = bc_enter(op, "in on_timer (Flink's read-only broadcast state): only "
				     "the broadcast side's function may change it");
	fl_collector col = {.op = op, .keyed = pf->ks, .timer_op = op, .bcast_op = ctx->bcast_op};
	int rc = ((fl_on_timer_fn)op->timer_fn)(ctx, tm->time, dom, &col);
	ctx->keyed = outer;
	ctx->timer_op = outer_op;
	ctx->bcast_op = outer_bc;
	ctx->scratch_used = used;
	if ((rc = bc_leave(op, rc)) < 0 && op->chain->err.code)
		return op->chain->err.code;
	if ((rc = pf_after_call(op, rc, op->node->timer_symbol)) != 0)
		return rc;
	return tm_chain_check(c);
}

static int pf_timer_failed(tm_op *op, int rc)
{
	pf_op *pf = op->impl;
	return tm_chain_fail(op->chain, rc, "%s", tm_timers_error(pf->timers)->msg);
}

static int pf_watermark(tm_op *op, int64_t w)
{
	pf_op *pf = op->impl;
	if (!pf || !pf->timers)
		return 0;
	tm_timer tm;
	int rc;
	/* Timers on_timer registers at or before w fire in this round too
	 * (Flink's InternalTimerServiceImpl.advanceWatermark). */
	while ((rc = tm_timers_pop(pf->timers, TM_TIMER_EVENT, w, &tm)) == 1)
		if ((rc = pf_fire(op, &tm, FL_EVENT_TIME)) != 0)
			return rc;
	return rc < 0 ? pf_timer_failed(op, rc) : 0;
}

static int pf_proc_timers(tm_op *op, int64_t *deadline)
{
	pf_op *pf = op->impl;
	if (!pf || !pf->timers)
		return 0;
	int64_t now = pf_now(pf);
	tm_timer tm;
	int rc = 0;
	/* At most the timers pending now: one that on_timer registers for a
	 * time already past fires in the next round, after the task looked
	 * at its input (Flink fires it from a new mail, likewise). */
	for (size_t n = tm_timers_count(pf->timers, TM_TIMER_PROC); n > 0; n--) {
		if ((rc = tm_timers_pop(pf->timers, TM_TIMER_PROC, now, &tm)) != 1)
			break;
		if ((rc = pf_fire(op, &tm, FL_PROCESSING_TIME)) != 0)
			return rc;
	}
	if (rc < 0)
		return pf_timer_failed(op, rc);
	*deadline = tm_clock_deadline(&pf->clock, now, tm_timers_peek(pf->timers, TM_TIMER_PROC));
	return 0;
}

/* Calls fn (the process function of one input, its symbol sym) with the
 * record's key current. */
static int pf_call(tm_op *op, const fl_row *in, const uint8_t *kb, size_t kl, uint32_t h,
		   fl_process_fn fn, const char *sym)
{
	tm_chain *c = op->chain;
	pf_op *pf = op->impl;
	fl_ctx *ctx = &c->ctx;
	ks_set_key(pf->ks, kb, kl, h);
	pf->hash = h;
	struct ks_ctx *outer = ctx->keyed;
	tm_op *outer_op = ctx->timer_op;
	ctx->keyed = pf->ks;
	ctx->timer_op = pf->timers ? op : NULL;
	fl_collector col = {
	    .op = op, .keyed = pf->ks, .timer_op = ctx->timer_op, .bcast_op = ctx->bcast_op};
	int rc = fn(ctx, in, &col);
	ctx->keyed = outer;
	ctx->timer_op = outer_op;
	return pf_after_call(op, rc, sym);
}

static int pf_process_keyed(tm_op *op, const fl_row *in, const uint8_t *kb, size_t kl, uint32_t h)
{
	return pf_call(op, in, kb, kl, h, (fl_process_fn)op->fn, op->node->fn_symbol);
}

static void sig_text(const uint8_t *sig, char *buf, size_t cap)
{
	static const char *const names[] = {"null",  "int64", "double",	  "string",
					    "bytes", "bool",  "timestamp"};
	size_t at = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < sig[0] && at < cap; i++) {
		unsigned t = sig[1 + i];
		at += (size_t)snprintf(buf + at, cap - at, "%s%s", i ? ", " : "",
				       t < 7 ? names[t] : "?");
	}
}

/* A co-process function: the key k of input side must have the types of
 * the other input's keys (Flink refuses connected streams whose key types
 * differ; here rows carry their types, so the first keys tell). A null
 * field matches any type. Returns 0 or the task's failure. */
static int pf_check_key_types(tm_op *op, const fl_row *k, int side)
{
	pf_op *pf = op->impl;
	uint8_t sig[1 + FL_ROW_MAX_FIELDS];
	if (k->nfields > FL_ROW_MAX_FIELDS)
		return 0; /* the encoding refuses it, naming it */
	sig[0] = (uint8_t)k->nfields;
	memcpy(sig + 1, k->types, k->nfields);
	if (!pf->has_sig[side]) {
		memcpy(pf->sig[side], sig, sizeof(sig));
		pf->has_sig[side] = true;
	}
	const uint8_t *o = pf->sig[1 - side];
	if (!pf->has_sig[1 - side])
		return 0;
	bool same = o[0] == sig[0];
	for (unsigned i = 0; same && i < sig[0]; i++)
		same = o[1 + i] == sig[1 + i] || o[1 + i] == FL_NULL || sig[1 + i] == FL_NULL;
	if (same)
		return 0;
	char a[200], b[200];
	sig_text(side ? o : sig, a, sizeof(a));
	sig_text(side ? sig : o, b, sizeof(b));
	return tm_chain_fail(op->chain, FL_ETYPE,
			     "operator '%s': the keys of its two inputs differ in type: the first "
			     "input's key is (%s), the second's (%s); key both inputs by fields of "
			     "the same type",
			     op->node->name, a, b);
}

/* The record's key, encoded as the partitioner encodes it (the row codec's
 * bytes of the key field as a one-field row, or of the selector's row):
 * by key (and key_fn) of input side. */
static const uint8_t *pf_key_of(tm_op *op, const td_key *key, fl_key_fn key_fn, int side,
				const fl_row *in, uint8_t *buf, size_t *kl)
{
	tm_chain *c = op->chain;
	fl_row k;
	k.nfields = 0;
	if (key->by_fn) {
		int rc = key_fn(&c->ctx, in, &k);
		if (rc < 0) {
			if (c->ctx.user_failed)
				tm_chain_fail(c, FL_EUSER, "key selector %s() of '%s' failed: %s",
					      key->fn_symbol, op->node->name, c->ctx.user_msg);
			else
				tm_chain_fail(c, rc, "key selector %s() of '%s' returned %d",
					      key->fn_symbol, op->node->name, rc);
			return NULL;
		}
	} else {
		if (key->field >= in->nfields) {
			tm_chain_fail(c, FL_EINVAL,
				      "key field %u of '%s' is missing: the record%s has %u fields",
				      key->field, op->node->name,
				      side < 0 ? ""
				      : side   ? " of its second input"
					       : " of its first input",
				      in->nfields);
			return NULL;
		}
		k.nfields = 1;
		k.types[0] = in->types[key->field];
		k.values[0] = in->values[key->field];
	}
	if (side >= 0 && ((pf_op *)op->impl)->two && pf_check_key_types(op, &k, side) != 0)
		return NULL;
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
	const uint8_t *kb = pf_key_of(op, op->key, op->key_fn, -1, in, buf, &kl);
	if (!kb)
		return op->chain->err.code ? op->chain->err.code : FL_EINVAL;
	return pf_process_keyed(op, in, kb, kl, kg_murmur3_32(kb, kl, 0));
}

/* A co-process function's inputs: each with its own key and function. */
static int co_process1(tm_op *op, const fl_row *in)
{
	uint8_t buf[TM_KEY_BUF];
	size_t kl;
	const uint8_t *kb = pf_key_of(op, op->key, op->key_fn, 0, in, buf, &kl);
	if (!kb)
		return op->chain->err.code ? op->chain->err.code : FL_EINVAL;
	return pf_call(op, in, kb, kl, kg_murmur3_32(kb, kl, 0), (fl_process_fn)op->fn,
		       op->node->fn_symbol);
}

static int co_process2(tm_op *op, const fl_row *in)
{
	uint8_t buf[TM_KEY_BUF];
	size_t kl;
	const uint8_t *kb = pf_key_of(op, op->key2, op->key2_fn, 1, in, buf, &kl);
	if (!kb)
		return op->chain->err.code ? op->chain->err.code : FL_EINVAL;
	return pf_call(op, in, kb, kl, kg_murmur3_32(kb, kl, 0), (fl_process_fn)op->fn2,
		       op->node->fn2_symbol);
}

static int co_open(tm_op *op, cm_err *err)
{
	int rc = pf_open(op, err);
	if (op->impl)
		((pf_op *)op->impl)->two = true;
	return rc;
}

/* ---------------------------------------- the broadcast process function */

/* The keyed side: keyed state, timers, the broadcast state read-only. */
static int bc_process1(tm_op *op, const fl_row *in)
{
	uint8_t buf[TM_KEY_BUF];
	size_t kl;
	const uint8_t *kb = pf_key_of(op, op->key, op->key_fn, -1, in, buf, &kl);
	if (!kb)
		return op->chain->err.code ? op->chain->err.code : FL_EINVAL;
	fl_ctx *ctx = &op->chain->ctx;
	tm_op *outer = ctx->bcast_op;
	ctx->bcast_op = bc_enter(op, "in the keyed side's process function (Flink's "
				     "read-only broadcast state): only the broadcast side's "
				     "function may change it");
	int rc = pf_call(op, in, kb, kl, kg_murmur3_32(kb, kl, 0), (fl_process_fn)op->fn,
			 op->node->fn_symbol);
	ctx->bcast_op = outer;
	return bc_leave(op, rc);
}

/* The broadcast side: no current key (no keyed state, no timers), the
 * broadcast state read-write; every subtask gets every record, so every
 * subtask's broadcast state goes through the same changes. */
static int bc_process2(tm_op *op, const fl_row *in)
{
	tm_chain *c = op->chain;
	fl_ctx *ctx = &c->ctx;
	struct ks_ctx *outer = ctx->keyed;
	tm_op *outer_t = ctx->timer_op, *outer_b = ctx->bcast_op;
	ctx->keyed = NULL;
	ctx->timer_op = NULL;
	ctx->bcast_op = bc_enter(op, NULL);
	fl_collector col = {.op = op, .bcast_op = ctx->bcast_op};
	int rc = ((fl_process_fn)op->fn2)(ctx, in, &col);
	ctx->keyed = outer;
	ctx->timer_op = outer_t;
	ctx->bcast_op = outer_b;
	rc = bc_leave(op, rc);
	if (c->err.code)
		return c->err.code;
	return rc < 0 ? tm_op_user_failed(op, rc, op->node->fn2_symbol) : 0;
}

/* The broadcast state's backend and context (op->impl made). */
static int bc_state_open(tm_op *op, cm_err *err)
{
	int rc;
	pf_op *pf = op->impl;
	st_backend_config bc = {.max_parallelism = op->max_parallelism, .name = op->chain->name};
	if ((rc = st_heap_backend_new(&bc, &pf->bstate, err)) != 0)
		return rc;
	if ((rc = st_declare(pf->bstate, op->node->bstate_name, 0, &pf->bstate_id)) != 0)
		return cm_err_set(err, rc, "operator '%s': broadcast state '%s': %s",
				  op->node->name, op->node->bstate_name,
				  st_backend_error(pf->bstate));
	ks_config kc = {.backend = pf->bstate, .op_name = op->node->name, .uctx = &op->chain->ctx};
	return ks_new(&kc, &pf->bks, err);
}

static int bc_open(tm_op *op, cm_err *err)
{
	int rc = pf_open(op, err);
	return rc ? rc : bc_state_open(op, err);
}

static st_key bc_key(pf_op *pf, int maxp)
{
	uint32_t h = kg_murmur3_32(BC_KEY, sizeof(BC_KEY), 0);
	return (st_key){.state = pf->bstate_id,
			.key_group = kg_of_hash(h, maxp),
			.hash = h,
			.key = BC_KEY,
			.klen = sizeof(BC_KEY)};
}

/* Every subtask writes its broadcast state (Flink's BROADCAST mode) as one
 * list element, then its keyed state as a keyed process function does. */
static int bc_snapshot_state(tm_op *op, tm_snapshot *s)
{
	pf_op *pf = op->impl;
	st_key k = bc_key(pf, op->max_parallelism);
	const void *v;
	size_t vl;
	int rc = st_get(pf->bstate, &k, &v, &vl);
	if (rc < 0) {
		snprintf(s->why, sizeof(s->why), "operator '%.60s': broadcast state: %.300s",
			 op->node->name, st_backend_error(pf->bstate));
		return rc;
	}
	if (rc == 1)
		tm_snapshot_add(s, v, vl);
	return 0;
}

static int bc_snapshot(tm_op *op, tm_snapshot *s)
{
	int rc = bc_snapshot_state(op, s);
	return rc ? rc : pf_snapshot(op, s);
}

/* The restore gives each subtask one old subtask's copy (restore.c). */
static int bc_restore_state(tm_op *op, const td_restore *rs, cm_err *err)
{
	pf_op *pf = op->impl;
	if (rs->list_len) {
		cm_rbuf r;
		cm_rbuf_init(&r, rs->list, rs->list_len);
		const uint8_t *e;
		size_t el;
		int n = cp_list_next(&r, &e, &el);
		if (n < 0 || (n == 1 && el == 0))
			return cm_err_set(err, FL_EPROTO,
					  "operator '%s': a malformed broadcast state",
					  op->node->name);
		st_key k = bc_key(pf, op->max_parallelism);
		if (n == 1 && st_put(pf->bstate, &k, e, el) != 0)
			return cm_err_set(err, FL_ENOMEM, "operator '%s': broadcast state: %s",
					  op->node->name, st_backend_error(pf->bstate));
		CM_INFO("process", "%s: broadcast state '%s' restored (%zu bytes)", op->chain->name,
			op->node->bstate_name, n == 1 ? el : 0);
	}
	return 0;
}

static int bc_restore(tm_op *op, const td_restore *rs, cm_err *err)
{
	int rc = bc_restore_state(op, rs, err);
	return rc ? rc : pf_restore(op, rs, err);
}

/* The broadcast process function of an unkeyed stream (Flink's
 * BroadcastProcessFunction): the broadcast state alone, no keyed state, no
 * timers. */
static int bcu_process1(tm_op *op, const fl_row *in)
{
	tm_chain *c = op->chain;
	fl_ctx *ctx = &c->ctx;
	tm_op *outer = ctx->bcast_op;
	ctx->bcast_op = bc_enter(op, "in the other input's process function (Flink's read-only "
				     "broadcast state): only the broadcast side's function may "
				     "change it");
	fl_collector col = {.op = op, .bcast_op = ctx->bcast_op};
	int rc = ((fl_process_fn)op->fn)(ctx, in, &col);
	ctx->bcast_op = outer;
	rc = bc_leave(op, rc);
	if (c->err.code)
		return c->err.code;
	return rc < 0 ? tm_op_user_failed(op, rc, op->node->fn_symbol) : 0;
}

static int bcu_open(tm_op *op, cm_err *err)
{
	pf_op *pf = calloc(1, sizeof(*pf));
	if (!pf)
		return cm_err_set(err, FL_ENOMEM, "operator '%s': out of memory", op->node->name);
	op->impl = pf;
	op->max_parallelism = op->chain->td->max_parallelism;
	return bc_state_open(op, err);
}

const tm_op_class tm_broadcast_unkeyed_class = {
    .process = bcu_process1,
    .process2 = bc_process2,
    .open = bcu_open,
    .restore = bc_restore_state,
    .snapshot = bc_snapshot_state,
    .fini = pf_fini,
};

const tm_op_class tm_broadcast_process_class = {
    .process = bc_process1,
    .process2 = bc_process2,
    .open = bc_open,
    .restore = bc_restore,
    .snapshot = bc_snapshot,
    .fini = pf_fini,
    .watermark = pf_watermark,
    .proc_timers = pf_proc_timers,
};

/* ------------------------------------------------------------- the joins */

/*
 * The window join and the interval join (Flink's WindowJoin and
 * IntervalJoinOperator) on the keyed co-process machinery: each input's
 * records wait in a ListState of their key ("_join_left", "_join_right";
 * FL_STATE_BYTES elements: the record's timestamp, 8 bytes little-endian,
 * then its row codec bytes), and event-time timers of the key fire the
 * windows (window join) or clear what can no longer match (interval join).
 * The user's function (op->fn, an fl_join_fn) gets (left, right) pairs; a
 * window coGroup's (an fl_cogroup_fn) is the window join's machinery with
 * one call per key and window, given every record of the window.
 */
static const fl_state_desc JOIN_BUF[2] = {
    {.name = "_join_left", .value = {.format = FL_STATE_BYTES}},
    {.name = "_join_right", .value = {.format = FL_STATE_BYTES}},
};

/* The join being called (set by pf_call: the joins always have timers). */
static tm_op *join_op(fl_ctx *ctx)
{
	return ctx->timer_op;
}

/* Appends (ts, row) to the buffer of side. */
static int join_buffer(fl_ctx *ctx, int side, int64_t ts, const fl_row *in)
{
	size_t bound = row_encoded_bound(in);
	if (bound == 0 || bound > ROW_MAX_ENCODED)
		return tm_chain_fail(ctx->chain, FL_ERANGE,
				     "operator '%s': a record too large to buffer for the join",
				     join_op(ctx)->node->name);
	uint8_t *b = (uint8_t *)fl_ctx_scratch(ctx, bound + 8);
	if (!b)
		return tm_chain_fail(ctx->chain, FL_ENOMEM,
				     "operator '%s': out of scratch memory for a join record",
				     join_op(ctx)->node->name);
	uint64_t u = (uint64_t)ts;
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(u >> (8 * i));
	size_t n = row_encode(in, b + 8, bound);
	fl_row e = {0};
	fl_row_add_bytes(&e, b, n + 8);
	return fl_list_state_add(fl_get_list_state(ctx, &JOIN_BUF[side]), &e);
}

/* A buffered element: its timestamp and its row (strings in the
 * element's memory, valid until the function returns). */
static int join_elem(fl_ctx *ctx, const fl_row *e, int64_t *ts, fl_row *row)
{
	size_t len, used;
	const uint8_t *p = (const uint8_t *)fl_row_string(e, 0, &len);
	uint64_t u = 0;
	if (len < 9)
		return tm_chain_fail(ctx->chain, FL_EPROTO,
				     "operator '%s': a malformed join buffer",
				     join_op(ctx)->node->name);
	for (int i = 0; i < 8; i++)
		u |= (uint64_t)p[i] << (8 * i);
	*ts = (int64_t)u;
	if (row_decode(p + 8, len - 8, row, &used) != 0 || used != len - 8)
		return tm_chain_fail(ctx->chain, FL_EPROTO,
				     "operator '%s': a malformed join buffer",
				     join_op(ctx)->node->name);
	return 0;
}

/* The elements of side's buffer, decoded into *rows / *tss (malloc'd,
 * freed by the caller), *n of them. */
static int join_read(fl_ctx *ctx, int side, fl_row **rows, int64_t **tss, size_t *n)
{
	*rows = NULL;
	*tss = NULL;
	*n = 0;
	fl_state_iter *it;
	int rc = fl_list_state_get(fl_get_list_state(ctx, &JOIN_BUF[side]), &it);
	if (rc <= 0)
		return rc;
	size_t cap = 0;
	fl_row e;
	while (fl_state_iter_next(it, &e) == 1) {
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			fl_row *nr = realloc(*rows, nc * sizeof(**rows));
			if (nr)
				*rows = nr;
			int64_t *nt = nr ? realloc(*tss, nc * sizeof(**tss)) : NULL;
			if (!nr || !nt)
				return tm_chain_fail(
				    ctx->chain, FL_ENOMEM,
				    "operator '%s': out of memory reading its join "
				    "buffer",
				    join_op(ctx)->node->name);
			*tss = nt;
			cap = nc;
		}
		if ((rc = join_elem(ctx, &e, &(*tss)[*n], &(*rows)[*n])) != 0)
			return rc;
		(*n)++;
	}
	return 0;
}

/* Rewrites side's buffer keeping the elements with keep(ts) true. */
static int join_prune(fl_ctx *ctx, int side,
		      bool (*keep)(tm_op *op, int side, int64_t ts, int64_t t), int64_t t)
{
	fl_list_state *ls = fl_get_list_state(ctx, &JOIN_BUF[side]);
	fl_state_iter *it;
	int rc = fl_list_state_get(ls, &it);
	if (rc <= 0)
		return rc;
	fl_row *kept = NULL, e;
	size_t n = 0, cap = 0, all = 0;
	while (fl_state_iter_next(it, &e) == 1) {
		size_t len;
		const uint8_t *p = (const uint8_t *)fl_row_string(&e, 0, &len);
		uint64_t u = 0;
		for (int i = 0; i < 8 && len >= 8; i++)
			u |= (uint64_t)p[i] << (8 * i);
		all++;
		if (!keep(join_op(ctx), side, (int64_t)u, t))
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			fl_row *nk = realloc(kept, nc * sizeof(*kept));
			if (!nk) {
				free(kept);
				return tm_chain_fail(
				    ctx->chain, FL_ENOMEM,
				    "operator '%s': out of memory pruning its join "
				    "buffer",
				    join_op(ctx)->node->name);
			}
			kept = nk;
			cap = nc;
		}
		kept[n++] = e;
	}
	rc = n == all ? 0 : fl_list_state_update(ls, kept, n);
	free(kept);
	return rc;
}

/* The user's join of (left, right), what it emits at timestamp ts. */
static int join_call(fl_ctx *ctx, const fl_row *l, const fl_row *r, int64_t ts, fl_collector *out)
{
	tm_op *op = join_op(ctx);
	int64_t saved = op->chain->ts;
	op->chain->ts = ts;
	int rc = ((fl_join_fn)op->fn)(ctx, l, r, out);
	op->chain->ts = saved;
	if (op->chain->err.code)
		return op->chain->err.code;
	return rc < 0 ? tm_op_user_failed(op, rc, op->node->fn_symbol) : 0;
}

/*
 * A coGroup's call for one key and window: the elements of each side whose
 * time is in [lo, hi], in the order they arrived (sel: scratch of nl + nr
 * rows), what it emits at timestamp ts. Not called for a window with none.
 */
static int cogroup_call(fl_ctx *ctx, const fl_row *lr, const int64_t *lt, size_t nl,
			const fl_row *rr, const int64_t *rt, size_t nr, int64_t lo, int64_t hi,
			fl_row *sel, int64_t ts, fl_collector *out)
{
	tm_op *op = join_op(ctx);
	size_t a = 0, b = 0;
	for (size_t i = 0; i < nl; i++)
		if (lt[i] >= lo && lt[i] <= hi)
			sel[a++] = lr[i];
	for (size_t j = 0; j < nr; j++)
		if (rt[j] >= lo && rt[j] <= hi)
			sel[a + b++] = rr[j];
	if (a + b == 0)
		return 0;
	int64_t saved = op->chain->ts;
	op->chain->ts = ts;
	int rc = ((fl_cogroup_fn)op->fn)(ctx, sel, a, sel + a, b, out);
	op->chain->ts = saved;
	if (op->chain->err.code)
		return op->chain->err.code;
	return rc < 0 ? tm_op_user_failed(op, rc, op->node->fn_symbol) : 0;
}

/* Room for a coGroup's selection of nl + nr rows (NULL for a join, or
 * nothing to select), or the task failed. */
static int cogroup_room(tm_op *op, size_t n, fl_row **sel)
{
	*sel = NULL;
	if (op->node->kind != SG_WINDOW_COGROUP || n == 0)
		return 0;
	if (!(*sel = malloc(n * sizeof(**sel))))
		return tm_chain_fail(op->chain, FL_ENOMEM,
				     "operator '%s': out of memory grouping a window",
				     op->node->name);
	return 0;
}

/* A late record of input side: to that input's late records' outputs
 * when the job asked for them (fl_join_late_records), else dropped and
 * counted. */
static int join_late(tm_op *op, int side, const fl_row *in)
{
	int n = tm_emit_side(op, side ? FL_LATE_RIGHT_TAG : FL_LATE_LEFT_TAG, in);
	if (n == 0)
		((pf_op *)op->impl)->late++;
	return n < 0 ? n : 0;
}

/* Timestamps a join takes: within +-2^61 ms, so that a time plus a size,
 * slide or bound (each at most INT64_MAX / 4) never overflows. True (the
 * task failed) for one outside. */
static bool join_ts_bad(tm_op *op, int64_t ts)
{
	if (ts >= -(INT64_MAX / 4) && ts <= INT64_MAX / 4)
		return false;
	tm_chain_fail(op->chain, FL_ERANGE,
		      "operator '%s': timestamp %lld is out of the range a join takes (+-%lld ms)",
		      op->node->name, (long long)ts, (long long)(INT64_MAX / 4));
	return true;
}

/* Window join: an element at ts is in the windows [s, s + size) with s =
 * floor(ts / slide) * slide - k * slide (k >= 0) while s + size > ts. */
static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t wj_slide(const tm_op *op)
{
	return op->node->win.kind == FL_WINDOW_SLIDING ? op->node->win.slide_ms
						       : op->node->win.size_ms;
}

/* Keeps an element while a window of it has not fired (its last window
 * ends after time t + 1). */
static bool wj_keep(tm_op *op, int side, int64_t ts, int64_t t)
{
	(void)side;
	int64_t last_end = floor_div(ts, wj_slide(op)) * wj_slide(op) + op->node->win.size_ms;
	return last_end - 1 > t;
}

/* Session windows: a record at ts registers the end of its own session,
 * ts + gap - 1; the key's sessions are found when a timer fires
 * (wj_fire_sessions). Keeps an element later than the last session fired
 * (t: its last record's time). */
static bool wj_session_keep(tm_op *op, int side, int64_t ts, int64_t t)
{
	(void)op;
	(void)side;
	return ts > t;
}

static int wj_element(fl_ctx *ctx, const fl_row *in, int side)
{
	tm_op *op = join_op(ctx);
	int64_t ts = op->chain->ts, wm = op->chain->wm;
	if (ts == TM_TS_NONE)
		return tm_chain_fail(op->chain, FL_EINVAL,
				     "operator '%s': a record of its %s input has no timestamp: a "
				     "window join needs event time (fl_assign_timestamps_and_"
				     "watermarks on both inputs)",
				     op->node->name, side ? "second" : "first");
	if (join_ts_bad(op, ts))
		return op->chain->err.code;
	if (op->node->win.kind == FL_WINDOW_SESSION) {
		/* As fl_window's sessions: late when its own window is. */
		int64_t fire = ts + op->node->win.size_ms - 1;
		if (fire <= wm)
			return join_late(op, side, in);
		int rc = fl_ctx_register_event_timer(ctx, fire);
		return rc ? rc : join_buffer(ctx, side, ts, in);
	}
	int64_t slide = wj_slide(op), size = op->node->win.size_ms;
	int64_t s = floor_div(ts, slide) * slide;
	bool any = false;
	for (; s + size > ts; s -= slide) {
		int64_t fire = s + size - 1;
		if (fire <= wm)
			continue; /* that window fired already: late for it */
		int rc = fl_ctx_register_event_timer(ctx, fire);
		if (rc)
			return rc;
		any = true;
	}
	if (!any)
		return join_late(op, side, in);
	return join_buffer(ctx, side, ts, in);
}

static int wj_left(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return wj_element(ctx, in, 0);
}

static int wj_right(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return wj_element(ctx, in, 1);
}

/* A buffered element of either input, for sorting a key's records. */
struct wj_ref {
	int64_t ts;
	uint32_t side, i;
};

static int wj_ref_cmp(const void *a, const void *b)
{
	const struct wj_ref *x = a, *y = b;
	return (x->ts > y->ts) - (x->ts < y->ts);
}

/*
 * The session timer at time: the key's records of both inputs in time
 * order make its sessions (a record within gap of the session's last one
 * joins it, touching included, as fl_window's merge); every session whose
 * end - 1 (last record + gap - 1) is at most time is complete (a record
 * that could still join it would be late), and sessions end in the order
 * they start, so those are a prefix: their pairs are joined, at end - 1,
 * and their records dropped.
 */
static int wj_fire_sessions(fl_ctx *ctx, int64_t time, fl_collector *out)
{
	tm_op *op = join_op(ctx);
	int64_t gap = op->node->win.size_ms;
	fl_row *rows[2] = {NULL, NULL};
	int64_t *tss[2] = {NULL, NULL};
	size_t n[2] = {0, 0};
	struct wj_ref *refs = NULL;
	int rc = join_read(ctx, 0, &rows[0], &tss[0], &n[0]);
	if (rc == 0)
		rc = join_read(ctx, 1, &rows[1], &tss[1], &n[1]);
	size_t all = n[0] + n[1];
	if (rc == 0 && all && !(refs = malloc(all * sizeof(*refs))))
		rc = tm_chain_fail(op->chain, FL_ENOMEM,
				   "operator '%s': out of memory sorting its join buffer",
				   op->node->name);
	int64_t fired = INT64_MIN; /* the last record of the last session fired */
	fl_row *sel = NULL;
	if (rc == 0)
		rc = cogroup_room(op, all, &sel);
	if (rc == 0 && all) {
		size_t k = 0;
		for (uint32_t side = 0; side < 2; side++)
			for (size_t i = 0; i < n[side]; i++)
				refs[k++] = (struct wj_ref){tss[side][i], side, (uint32_t)i};
		qsort(refs, all, sizeof(*refs), wj_ref_cmp);
		for (size_t a = 0; rc == 0 && a < all;) {
			size_t b = a + 1;
			while (b < all && refs[b].ts <= refs[b - 1].ts + gap)
				b++;
			int64_t end = refs[b - 1].ts + gap;
			if (end - 1 > time)
				break; /* this one and every later one are open */
			if (sel) /* a coGroup: the session's records, as they came */
				rc = cogroup_call(ctx, rows[0], tss[0], n[0], rows[1], tss[1], n[1],
						  refs[a].ts, refs[b - 1].ts, sel, end - 1, out);
			for (size_t i = a; rc == 0 && !sel && i < b; i++) {
				if (refs[i].side != 0)
					continue;
				for (size_t j = a; rc == 0 && j < b; j++)
					if (refs[j].side == 1)
						rc = join_call(ctx, &rows[0][refs[i].i],
							       &rows[1][refs[j].i], end - 1, out);
			}
			fired = refs[b - 1].ts;
			a = b;
		}
	}
	free(refs);
	free(sel);
	for (int side = 0; side < 2; side++) {
		free(rows[side]);
		free(tss[side]);
	}
	for (int side = 0; rc == 0 && fired != INT64_MIN && side < 2; side++)
		rc = join_prune(ctx, side, wj_session_keep, fired);
	return rc;
}

static int wj_fire(fl_ctx *ctx, int64_t time, enum fl_time_domain d, fl_collector *out)
{
	tm_op *op = join_op(ctx);
	if (op->node->win.kind == FL_WINDOW_SESSION)
		return wj_fire_sessions(ctx, time, out);
	int64_t end = time + 1, start = end - op->node->win.size_ms;
	fl_row *lr = NULL, *rr = NULL;
	int64_t *lt = NULL, *rt = NULL;
	size_t nl = 0, nr = 0;
	fl_row *sel = NULL;
	int rc = join_read(ctx, 0, &lr, &lt, &nl);
	if (rc == 0)
		rc = join_read(ctx, 1, &rr, &rt, &nr);
	if (rc == 0)
		rc = cogroup_room(op, nl + nr, &sel);
	if (rc == 0 && sel)
		rc = cogroup_call(ctx, lr, lt, nl, rr, rt, nr, start, end - 1, sel, time, out);
	for (size_t i = 0; rc == 0 && !sel && i < nl; i++) {
		if (lt[i] < start || lt[i] >= end)
			continue;
		for (size_t j = 0; rc == 0 && j < nr; j++)
			if (rt[j] >= start && rt[j] < end)
				rc = join_call(ctx, &lr[i], &rr[j], time, out);
	}
	free(sel);
	free(lr);
	free(rr);
	free(lt);
	free(rt);
	for (int side = 0; rc == 0 && side < 2; side++)
		rc = join_prune(ctx, side, wj_keep, time);
	return rc;
}

/* Interval join: left at tl and right at tr join when tl + lower <= tr <=
 * tl + upper. A left element is needed until the watermark passes tl +
 * upper, a right one until it passes tr - lower (Flink's cleanup times). */
static int64_t ij_cleanup(const tm_op *op, int side, int64_t ts)
{
	int64_t lo = op->node->lower_ms, up = op->node->upper_ms;
	if (side == 0)
		return up > 0 ? ts + up : ts;
	return lo > 0 ? ts : ts - lo;
}

static bool ij_keep(tm_op *op, int side, int64_t ts, int64_t t)
{
	return ij_cleanup(op, side, ts) > t;
}

static int ij_element(fl_ctx *ctx, const fl_row *in, int side, fl_collector *out)
{
	tm_op *op = join_op(ctx);
	int64_t ts = op->chain->ts;
	if (ts == TM_TS_NONE)
		return tm_chain_fail(op->chain, FL_EINVAL,
				     "operator '%s': a record of its %s input has no timestamp: an "
				     "interval join needs event time (fl_assign_timestamps_and_"
				     "watermarks on both inputs)",
				     op->node->name, side ? "second" : "first");
	if (join_ts_bad(op, ts))
		return op->chain->err.code;
	if (op->chain->wm != TM_TS_NONE && ts < op->chain->wm)
		return join_late(op, side, in); /* Flink's isLate */
	int64_t lo = op->node->lower_ms, up = op->node->upper_ms;
	fl_row *rows = NULL;
	int64_t *tss = NULL;
	size_t n = 0;
	int rc = join_read(ctx, 1 - side, &rows, &tss, &n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		int64_t tl = side ? tss[i] : ts, tr = side ? ts : tss[i];
		if (tr < tl + lo || tr > tl + up)
			continue;
		rc = join_call(ctx, side ? &rows[i] : in, side ? in : &rows[i], tl > tr ? tl : tr,
			       out);
	}
	free(rows);
	free(tss);
	if (rc == 0)
		rc = join_buffer(ctx, side, ts, in);
	if (rc == 0)
		rc = fl_ctx_register_event_timer(ctx, ij_cleanup(op, side, ts));
	return rc;
}

static int ij_left(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return ij_element(ctx, in, 0, out);
}

static int ij_right(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return ij_element(ctx, in, 1, out);
}

static int ij_fire(fl_ctx *ctx, int64_t time, enum fl_time_domain d, fl_collector *out)
{
	int rc = join_prune(ctx, 0, ij_keep, time);
	return rc ? rc : join_prune(ctx, 1, ij_keep, time);
}

static int join_input(tm_op *op, const fl_row *in, int side)
{
	bool win = op->node->kind != SG_INTERVAL_JOIN;
	fl_process_fn fn = side ? (win ? wj_right : ij_right) : (win ? wj_left : ij_left);
	uint8_t buf[TM_KEY_BUF];
	size_t kl;
	const uint8_t *kb = side ? pf_key_of(op, op->key2, op->key2_fn, 1, in, buf, &kl)
				 : pf_key_of(op, op->key, op->key_fn, 0, in, buf, &kl);
	if (!kb)
		return op->chain->err.code ? op->chain->err.code : FL_EINVAL;
	return pf_call(op, in, kb, kl, kg_murmur3_32(kb, kl, 0), fn, op->node->fn_symbol);
}

static int join1(tm_op *op, const fl_row *in)
{
	return join_input(op, in, 0);
}

static int join2(tm_op *op, const fl_row *in)
{
	return join_input(op, in, 1);
}

static int join_open(tm_op *op, cm_err *err)
{
	/* The timers are the join's own: on_timer is internal. */
	op->timer_fn = op->node->kind != SG_INTERVAL_JOIN ? (void *)wj_fire : (void *)ij_fire;
	op->chain->has_timers = true;
	return co_open(op, err);
}

static int join_close(tm_op *op, bool ok)
{
	pf_op *pf = op->impl;
	if (pf && pf->late)
		CM_INFO("process", "%s: %llu late records dropped by '%s'", op->chain->name,
			(unsigned long long)pf->late, op->node->name);
	return 0;
}

const tm_op_class tm_join_class = {
    .process = join1,
    .process2 = join2,
    .open = join_open,
    .restore = pf_restore,
    .snapshot = pf_snapshot,
    .close = join_close,
    .fini = pf_fini,
    .watermark = pf_watermark,
    .proc_timers = pf_proc_timers,
};

const tm_op_class tm_co_process_class = {
    .process = co_process1,
    .process2 = co_process2,
    .open = co_open,
    .restore = pf_restore,
    .snapshot = pf_snapshot,
    .fini = pf_fini,
    .watermark = pf_watermark,
    .proc_timers = pf_proc_timers,
};

const tm_op_class tm_process_class = {
    .process = pf_process,
    .process_keyed = pf_process_keyed,
    .open = pf_open,
    .restore = pf_restore,
    .snapshot = pf_snapshot,
    .fini = pf_fini,
    .watermark = pf_watermark,
    .proc_timers = pf_proc_timers,
};

/* ------------------------------------------------------ the public API */

static void *get_state(fl_ctx *ctx, enum ks_kind kind, const fl_state_desc *desc)
{
	if (!ctx)
		return NULL;
	if (!ctx->keyed && ctx->bcast_op) {
		tm_chain_fail(ctx->chain, FL_EINVAL,
			      "keyed state '%.200s' asked for in '%s' where no key is current "
			      "(a broadcast record, or a stream that is not keyed)",
			      desc && desc->name ? desc->name : "?", ctx->bcast_op->node->name);
		return NULL;
	}
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

FL_API fl_map_state *fl_get_broadcast_state(fl_ctx *ctx, const fl_state_desc *desc)
{
	if (!ctx)
		return NULL;
	const char *name = desc && desc->name ? desc->name : "?";
	tm_op *op = ctx->bcast_op;
	if (!op) {
		if (ctx->chain)
			tm_chain_fail(ctx->chain, FL_EINVAL,
				      "broadcast state '%.200s' asked for outside a broadcast "
				      "process function: only the functions given to "
				      "fl_broadcast_process() have it",
				      name);
		return NULL;
	}
	if (strcmp(name, op->node->bstate_name) != 0) {
		tm_chain_fail(ctx->chain, FL_EINVAL,
			      "operator '%s': broadcast state '%.200s' was not declared: its "
			      "broadcast stream (fl_broadcast_state) declares '%s'",
			      op->node->name, name, op->node->bstate_name);
		return NULL;
	}
	pf_op *pf = op->impl;
	return ks_get(pf->bks, KS_MAP, desc);
}

/* --------------------------------------------------------------- timers */

/* The timer service of the function being called, or NULL with the task
 * failed naming what is wrong. */
static pf_op *timer_op(fl_ctx *ctx, const char *what)
{
	if (!ctx)
		return NULL;
	if (ctx->timer_op)
		return ctx->timer_op->impl;
	if (ctx->chain) {
		if (!ctx->keyed && ctx->bcast_op)
			tm_chain_fail(ctx->chain, FL_EINVAL,
				      "%s in '%s' where no key is current (a broadcast record, "
				      "or a stream that is not keyed), so no timers",
				      what, ctx->bcast_op->node->name);
		else if (ctx->keyed)
			tm_chain_fail(
			    ctx->chain, FL_EINVAL,
			    "%s in a keyed process function without an on_timer function: "
			    "give it one with fl_keyed_process() or fl_co_process()",
			    what);
		else
			tm_chain_fail(ctx->chain, FL_EINVAL,
				      "%s outside a keyed process function: timers need a keyed "
				      "stream (fl_key_by) and fl_keyed_process() with an on_timer "
				      "function",
				      what);
	}
	return NULL;
}

static int timer_call(fl_ctx *ctx, enum tm_timer_domain d, bool reg, int64_t time)
{
	static const char *const what[2][2] = {
	    {"an event-time timer deleted", "an event-time timer registered"},
	    {"a processing-time timer deleted", "a processing-time timer registered"}};
	pf_op *pf = timer_op(ctx, what[d][reg]);
	if (!pf)
		return FL_EINVAL;
	size_t kl;
	const void *k = ks_current_key(pf->ks, &kl);
	if (!k)
		return FL_EINVAL; /* a timer op always has its key set while called */
	int rc = reg ? tm_timers_register(pf->timers, d, time, k, kl, pf->hash, NULL, 0)
		     : tm_timers_delete(pf->timers, d, time, k, kl, pf->hash, NULL, 0);
	if (rc)
		tm_chain_fail(ctx->chain, rc, "%s", tm_timers_error(pf->timers)->msg);
	return rc;
}

FL_API int fl_ctx_register_event_timer(fl_ctx *ctx, int64_t time)
{
	return timer_call(ctx, TM_TIMER_EVENT, true, time);
}

FL_API int fl_ctx_register_processing_timer(fl_ctx *ctx, int64_t time)
{
	return timer_call(ctx, TM_TIMER_PROC, true, time);
}

FL_API int fl_ctx_delete_event_timer(fl_ctx *ctx, int64_t time)
{
	return timer_call(ctx, TM_TIMER_EVENT, false, time);
}

FL_API int fl_ctx_delete_processing_timer(fl_ctx *ctx, int64_t time)
{
	return timer_call(ctx, TM_TIMER_PROC, false, time);
}

FL_API int64_t fl_ctx_current_processing_time(fl_ctx *ctx)
{
	if (ctx && ctx->timer_op && ctx->timer_op->impl)
		return pf_now(ctx->timer_op->impl);
	return cm_wall_ms();
}
