/*
 * window_op.c — keyed time windows (fl_window, Flink's WindowOperator with
 * tumbling and sliding assigners, an incremental reduce or aggregate, an
 * optional window function, the event-time or processing-time trigger and
 * allowed lateness), on the operator's backend and timers:
 *
 *   - one accumulator per key and window: an entry of the namespaced state
 *     WINDOW_STATE, namespace = the window (start, end as 8 bytes each,
 *     big-endian with the sign flipped), value = the row codec's bytes of
 *     the accumulator;
 *   - per window a timer at end - 1 (fire) and, with allowed lateness, one
 *     at end - 1 + lateness (clear), with the window as the timer's
 *     namespace (timer_service.h); at lateness 0 they are one timer, which
 *     fires and clears.
 *
 * Session windows merge: the key's sessions (disjoint windows) are one
 * entry of SESSION_STATE, n pairs (start, end) as put_be bytes. A record's
 * window [t, t + gap) is merged with every session it intersects (Flink's
 * TimeWindow.intersects: touching windows merge too) into their span; the
 * others' accumulators are folded into the span's (reduce, or agg.merge)
 * and removed with their timers. (Flink keeps the merged state under one
 * of the old windows instead, MergingWindowSet; moving it costs a copy
 * per merge and keeps one layout for every kind.)
 *
 * Count windows (FL_WINDOW_COUNT, Flink's GlobalWindows with a CountTrigger,
 * and a CountEvictor when they slide) use no time and no timers: per key
 * COUNT_STATE holds how many records came (8 bytes); a tumbling one folds
 * them into one accumulator (namespace [n - k, n) as the window it will be)
 * and fires and purges it at the count; a sliding one keeps each record
 * (ELEMENTS_STATE, namespace its number) until no later window needs it,
 * and every count_slide records folds the last count into a scratch
 * accumulator (namespace the window), fires it and removes it.
 *
 * A process function over all records (fl_window_spec.process) keeps the
 * window's records instead of an accumulator: RECORDS_STATE, namespace the
 * window then the record's number, and RECORDS_COUNT (namespace the
 * window) how many; fl_window_records reads them back in order. (A sliding
 * count window's records are its own, numbered per key: it reads those.)
 *
 * Triggers (td_op.win.trigger; Flink's Trigger, with WindowOperator's
 * calls): trigger_element after each record is added (onElement), w_fire
 * on each timer (onEventTime / onProcessingTime, then the cleanup);
 * FIRE emits and keeps the contents, a purging trigger then clears them. A
 * count or continuous trigger keeps one 8-byte entry per window in
 * TRIGGER_STATE (the records counted, or the next firing, whose timer has
 * the window as namespace like the others).
 *
 * Evictors (Flink's EvictingWindowOperator): the window keeps its records
 * as a process function's do, each prefixed with its timestamp (ts_rec);
 * emit_evicting runs the function over those the evictor keeps (reduce or
 * agg folded at fire time) and removes the evicted ones.
 *
 * Everything is keyed state, so checkpoints carry windows and their timers
 * and a restore at another parallelism moves them by key group; the timer
 * queues are rebuilt after the restore.
 *
 * Implied end timers (w->ends set): an event-time tumbling or sliding
 * window with the default trigger, no allowed lateness and an accumulator
 * has one timer, at end - 1, which fires and clears it; its accumulator
 * exists from its first record until then. So the accumulator is the
 * timer's truth and no timer state is written: the queue `ends` orders
 * the windows' ends (key | window as its key), a record that creates a
 * window pushes its end, and a restore rebuilds `ends` from the windows'
 * state. At 100 K keys, one record per window, the timer state's entry
 * cost two cache misses of four per record. A job restored with another
 * window spec (lateness > 0, a trigger) from such a snapshot gets the
 * timers of windows that have none (restore_implied).
 *
 * The spec travels in the descriptor (td_op.win: its numbers, its
 * functions by symbol, checked by the decoder); the functions are resolved
 * in the job's library when the operator opens.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "graph/streamgraph.h"
#include "state/keyed_state.h"
#include "taskmanager/operator.h"
#include "taskmanager/timer_service.h"
#include "taskmanager/window_ends.h"
#include "types/codec.h"
#include "types/keygroup.h"

#define WINDOW_STATE "_window_contents"
#define SESSION_STATE "_window_sessions"
#define COUNT_STATE "_window_count"
#define ELEMENTS_STATE "_window_elements"
#define RECORDS_STATE "_window_records"
#define RECORDS_COUNT "_window_records_count"
#define TRIGGER_STATE "_window_trigger"
/* Most sessions of one key held at once (its entry's bytes / 16). */
#define MAX_SESSIONS (ST_VALUE_MAX / NS_LEN)
#define NS_LEN 16

typedef struct win_op {
	const fl_window_spec *spec; /* &spec_copy */
	fl_window_spec spec_copy;
	ks_ctx *ks; /* the key current for the user's functions (and their state) */
	tm_timers *timers;
	tm_clock clock;
	int state;
	int sessions_state; /* session windows */
	int count_state, elements_state; /* count windows */
	int records_state, records_count; /* process, or an evictor */
	int trigger_state;		  /* a count or continuous trigger's, per window */
	bool keep;			  /* records kept instead of an accumulator */
	bool ts_rec;	  /* each kept record starts with its timestamp (an evictor's) */
	tm_ends *ends;	  /* end timers implied by the accumulators (above), or NULL */
	uint8_t *rec_buf; /* the record fl_window_records_next gave */
	size_t rec_cap;
	int64_t *sess;	    /* a key's sessions, start and end pairs */
	size_t nsess, sess_cap;
	uint8_t *sess_buf; /* their encoding */
	uint8_t *mrg_buf;  /* an accumulator being merged away */
	size_t mrg_cap;
	uint64_t late;		 /* records dropped behind the watermark and the lateness */
	uint8_t key[ST_KEY_MAX]; /* the key of the timer being fired */
	uint8_t *acc_buf;	 /* encoded accumulator */
	size_t acc_cap;
} win_op;

static void put_be(uint8_t *p, int64_t v)
{
	uint64_t u = (uint64_t)v ^ (UINT64_C(1) << 63);
	for (int i = 7; i >= 0; i--, u >>= 8)
		p[i] = (uint8_t)u;
}

static int64_t get_be(const uint8_t *p)
{
	uint64_t u = 0;
	for (int i = 0; i < 8; i++)
		u = u << 8 | p[i];
	return (int64_t)(u ^ (UINT64_C(1) << 63));
}

/* Floor modulo: a window's start for negative times too. */
static int64_t start_of(int64_t ts, int64_t size)
{
	int64_t r = ts % size;
	return ts - (r < 0 ? r + size : r);
}

static int w_open(tm_op *op, cm_err *err)
{
	win_op *w = calloc(1, sizeof(*w));
	if (!w)
		return cm_err_set(err, FL_ENOMEM, "operator '%s': out of memory", op->node->name);
	op->impl = w;
	const sg_window *sw = &op->node->win;
	void *fn[SG_WIN_NFNS] = {0};
	for (int f = 0; f < SG_WIN_NFNS; f++) {
		int rc = sw->fns[f]
			     ? sg_resolve_function(op->chain->td->library, sw->fns[f], &fn[f], err)
			     : 0;
		if (rc)
			return rc;
	}
	w->spec_copy = (fl_window_spec){
	    .kind = (enum fl_window_kind)sw->kind,
	    .time = (enum fl_time_domain)sw->time,
	    .size_ms = sw->size_ms,
	    .slide_ms = sw->slide_ms,
	    .allowed_lateness_ms = sw->lateness_ms,
	    .reduce = (fl_reduce_fn)fn[SG_WIN_REDUCE],
	    .agg = {.create = (int (*)(fl_ctx *, fl_row *))fn[SG_WIN_CREATE],
		    .add =
			(int (*)(fl_ctx *, const fl_row *, const fl_row *, fl_row *))fn[SG_WIN_ADD],
		    .result = (int (*)(fl_ctx *, const fl_row *, fl_row *))fn[SG_WIN_RESULT]},
	    .window_fn = (fl_window_fn)fn[SG_WIN_FN],
	    .process = (fl_window_process_fn)fn[SG_WIN_PROCESS]};
	w->spec_copy.agg.merge =
	    (int (*)(fl_ctx *, const fl_row *, const fl_row *, fl_row *))fn[SG_WIN_MERGE];
	if (sw->kind == FL_WINDOW_SESSION)
		w->spec_copy.gap_ms = sw->size_ms;
	if (sw->kind == FL_WINDOW_COUNT) {
		w->spec_copy.count = sw->size_ms;
		w->spec_copy.count_slide = sw->slide_ms;
		w->spec_copy.size_ms = w->spec_copy.slide_ms = 0;
	}
	w->spec = &w->spec_copy;
	int rc = tm_keyed_backend_open(op, &op->state, err);
	if (rc)
		return rc;
	if ((rc = st_declare(op->state, WINDOW_STATE, ST_STATE_NAMESPACED, &w->state)) != 0)
		return cm_err_set(err, rc, "operator '%s': %s", op->node->name,
				  st_backend_error(op->state));
	op->state_id = w->state;
	if (w->spec->kind == FL_WINDOW_SESSION &&
	    /* Namespaced (with an empty namespace) so that a keyed state of
	     * window_fn's with the same name is refused, never shared. */
	    (rc = st_declare(op->state, SESSION_STATE, ST_STATE_NAMESPACED, &w->sessions_state)) !=
		0)
		return cm_err_set(err, rc, "operator '%s': %s", op->node->name,
				  st_backend_error(op->state));
	if (w->spec->kind == FL_WINDOW_COUNT &&
	    ((rc = st_declare(op->state, COUNT_STATE, ST_STATE_NAMESPACED, &w->count_state)) != 0 ||
	     (rc = st_declare(op->state, ELEMENTS_STATE, ST_STATE_NAMESPACED, &w->elements_state)) !=
		 0))
		return cm_err_set(err, rc, "operator '%s': %s", op->node->name,
				  st_backend_error(op->state));
	w->ts_rec = sw->evictor != FL_EVICTOR_NONE;
	w->keep = w->spec->process || w->ts_rec;
	if (sw->trigger != FL_TRIGGER_DEFAULT &&
	    (rc = st_declare(op->state, TRIGGER_STATE, ST_STATE_NAMESPACED, &w->trigger_state)) !=
		0)
		return cm_err_set(err, rc, "operator '%s': %s", op->node->name,
				  st_backend_error(op->state));
	if (w->keep &&
	    ((rc = st_declare(op->state, RECORDS_STATE, ST_STATE_NAMESPACED, &w->records_state)) !=
		 0 ||
	     (rc = st_declare(op->state, RECORDS_COUNT, ST_STATE_NAMESPACED, &w->records_count)) !=
		 0))
		return cm_err_set(err, rc, "operator '%s': %s", op->node->name,
				  st_backend_error(op->state));
	bool implied = sw->time == FL_EVENT_TIME &&
		       (sw->kind == FL_WINDOW_TUMBLING || sw->kind == FL_WINDOW_SLIDING) &&
		       sw->trigger == FL_TRIGGER_DEFAULT && sw->lateness_ms == 0 && !w->keep;
	if (implied && tm_ends_new(&w->ends) != 0)
		return cm_err_set(err, FL_ENOMEM, "operator '%s': out of memory", op->node->name);
	if ((rc = tm_timers_new(op->state, op->node->name, FL_MAX_TIMERS, &w->timers, err)) != 0 ||
	    (rc = tm_clock_init(&w->clock, op->chain->name, err)) != 0)
		return rc;
	ks_config kc = {.backend = op->state, .op_name = op->node->name, .uctx = &op->chain->ctx};
	return ks_new(&kc, &w->ks, err);
}

static void w_fini(tm_op *op)
{
	win_op *w = op->impl;
	if (w) {
		ks_free(w->ks);
		tm_timers_free(w->timers);
		tm_ends_free(w->ends);
		tm_clock_fini(&w->clock);
		free(w->acc_buf);
		free(w->sess);
		free(w->sess_buf);
		free(w->mrg_buf);
		free(w->rec_buf);
		free(w);
	}
	op->impl = NULL;
	st_backend_free(op->state);
	op->state = NULL;
}

/* A window's entry in WINDOW_STATE: its key and bounds, or FL_EPROTO
 * (a restored file's bytes). */
static int window_entry(tm_op *op, const st_entry *e, int64_t *start, int64_t *end)
{
	if (e->nslen != NS_LEN || e->klen > ST_KEY_MAX - NS_LEN)
		return cm_err_set(&op->chain->err, FL_EPROTO,
				  "operator '%s': a restored window of key group %d has a namespace "
				  "of %zu bytes and a key of %zu: not a window",
				  op->node->name, e->key_group, e->nslen, e->klen);
	*start = get_be(e->ns);
	*end = get_be((const uint8_t *)e->ns + 8);
	if (*start >= *end || *start < INT64_MIN / 2 || *end > INT64_MAX / 2)
		return cm_err_set(&op->chain->err, FL_EPROTO,
				  "operator '%s': a restored window [%lld, %lld): not a window",
				  op->node->name, (long long)*start, (long long)*end);
	return 0;
}

/* Pushes the end of window ns of key (hash h) onto ends (w->ends set). */
static int push_end(tm_op *op, win_op *w, const void *key, size_t klen, uint32_t h,
		    const void *ns, int64_t time)
{
	if (tm_ends_size(w->ends) >= FL_MAX_TIMERS)
		return tm_chain_fail(op->chain, FL_ERANGE,
				     "operator '%s': more than %d event-time timers pending in one "
				     "subtask",
				     op->node->name, FL_MAX_TIMERS);
	uint8_t qk[ST_KEY_MAX];
	memcpy(qk, key, klen);
	memcpy(qk + klen, ns, NS_LEN);
	return tm_ends_add(w->ends, time, qk, klen + NS_LEN, h) != 0
		   ? tm_chain_fail(op->chain, FL_ENOMEM, "operator '%s': out of memory for a timer",
				   op->node->name)
		   : 0;
}

static int implied_end(void *arg, const st_entry *e)
{
	tm_op *op = arg;
	win_op *w = op->impl;
	int64_t start, end;
	if (e->state != w->state)
		return 0;
	int rc = window_entry(op, e, &start, &end);
	return rc ? rc
		  : push_end(op, w, e->key, e->klen, kg_murmur3_32(e->key, e->klen, 0), e->ns,
			     end - 1);
}

/* The windows of WINDOW_STATE, collected by collect_window for
 * restore_implied: per window 2 bytes of key length, the key, the window. */
struct windows {
	tm_op *op;
	uint8_t *buf;
	size_t len, cap;
};

static int collect_window(void *arg, const st_entry *e)
{
	struct windows *ws = arg;
	tm_op *op = ws->op;
	win_op *w = op->impl;
	int64_t start, end;
	if (e->state != w->state)
		return 0;
	int rc = window_entry(op, e, &start, &end);
	if (rc)
		return rc;
	size_t need = 2 + e->klen + NS_LEN;
	if (ws->cap - ws->len < need) {
		size_t nc = ws->cap ? ws->cap * 2 : 4096;
		uint8_t *nb = realloc(ws->buf, nc);
		if (!nb)
			return cm_err_set(&op->chain->err, FL_ENOMEM,
					  "operator '%s': out of memory restoring its windows",
					  op->node->name);
		ws->buf = nb;
		ws->cap = nc;
	}
	uint8_t *p = ws->buf + ws->len;
	p[0] = (uint8_t)(e->klen >> 8);
	p[1] = (uint8_t)e->klen;
	memcpy(p + 2, e->key, e->klen);
	memcpy(p + 2 + e->klen, e->ns, NS_LEN);
	ws->len += need;
	return 0;
}

/*
 * After a restore without implied timers, of event-time tumbling or
 * sliding windows, from a snapshot with implied ones (no event-time timer
 * came with the windows: every window has its cleanup timer otherwise):
 * each window gets the timers its first record would have registered.
 * Collected first: registering inside st_iterate would move the entries it
 * walks.
 */
static int restore_implied(tm_op *op, win_op *w)
{
	struct windows ws = {.op = op};
	int rc = st_iterate(op->state, 0, op->max_parallelism - 1, collect_window, &ws);
	int64_t lateness = w->spec->allowed_lateness_ms;
	size_t added = 0;
	for (size_t at = 0; rc == 0 && at < ws.len; added++) {
		const uint8_t *p = ws.buf + at;
		size_t kl = (size_t)p[0] << 8 | p[1];
		const uint8_t *key = p + 2, *ns = p + 2 + kl;
		at += 2 + kl + NS_LEN;
		uint32_t h = kg_murmur3_32(key, kl, 0);
		int64_t end = get_be(ns + 8);
		if ((rc = tm_timers_register(w->timers, TM_TIMER_EVENT, end - 1, key, kl, h, ns,
					     NS_LEN)) == 0 &&
		    lateness > 0)
			rc = tm_timers_register(w->timers, TM_TIMER_EVENT, end - 1 + lateness, key,
						kl, h, ns, NS_LEN);
		if (rc && !op->chain->err.code)
			cm_err_set(&op->chain->err, rc, "%s", tm_timers_error(w->timers)->msg);
	}
	free(ws.buf);
	if (rc == 0 && added)
		CM_INFO("window",
			"%s: %zu windows restored from a snapshot with implied timers got theirs",
			op->chain->name, added);
	return rc;
}

static int w_restore(tm_op *op, const td_restore *rs, cm_err *err)
{
	win_op *w = op->impl;
	int rc = tm_restore_keyed(op, op->state, rs, err);
	if (rc == 0 && (rc = tm_timers_rebuild(w->timers)) != 0)
		return cm_err_set(err, rc, "%s", tm_timers_error(w->timers)->msg);
	/* A snapshot either implies its windows' end timers (then it holds
	 * no event-time timer) or has every window's timers: the two kinds of
	 * job restore each other's. */
	const fl_window_spec *s = w->spec;
	bool implied = tm_timers_count(w->timers, TM_TIMER_EVENT) == 0;
	if (rc == 0 && w->ends) {
		tm_ends_clear(w->ends);
		if (implied)
			rc = st_iterate(op->state, 0, op->max_parallelism - 1, implied_end, op);
	} else if (rc == 0 && implied && s->time == FL_EVENT_TIME && !w->keep &&
		   (s->kind == FL_WINDOW_TUMBLING || s->kind == FL_WINDOW_SLIDING)) {
		rc = restore_implied(op, w);
	}
	if (rc)
		return cm_err_set(err, rc, "%s",
				  op->chain->err.code ? op->chain->err.msg : st_backend_error(op->state));
	CM_INFO("window",
		"%s: %zu event-time and %zu processing-time timers restored (windows)",
		op->chain->name,
		tm_timers_count(w->timers, TM_TIMER_EVENT) + (w->ends ? tm_ends_size(w->ends) : 0),
		tm_timers_count(w->timers, TM_TIMER_PROC));
	return 0;
}

static int w_snapshot(tm_op *op, tm_snapshot *s)
{
	return tm_snapshot_keyed(op, op->state, s);
}

static int w_close(tm_op *op, bool ok)
{
	win_op *w = op->impl;
	if (w && w->late)
		CM_INFO("window",
			"%s: %llu late records dropped (behind the watermark by more "
			"than the allowed lateness)",
			op->chain->name, (unsigned long long)w->late);
	return 0;
}

/* A user function's failure, named (f: SG_WIN_*). */
static int w_user_failed(tm_op *op, int rc, int f)
{
	return tm_op_user_failed(op, rc, op->node->win.fns[f]);
}

static st_key win_key(const tm_op *op, const win_op *w, const void *key, size_t klen, uint32_t h,
		      const uint8_t *ns)
{
	return (st_key){.state = w->state,
			.key_group = kg_of_hash(h, op->max_parallelism),
			.hash = h,
			.key = key,
			.klen = klen,
			.ns = ns,
			.nslen = NS_LEN};
}

static int backend_failed(tm_op *op, int rc)
{
	return tm_chain_fail(op->chain, rc, "operator '%s': %s", op->node->name,
			     st_backend_error(op->state));
}

/* What a user function that ran with w->ks current returned (rc; f names
 * it, SG_WIN_*) makes of the task: a keyed state failure fails it whatever
 * the function returned (as a process function's: process_op.c), then a
 * failure recorded in the chain, then the function's own. */
static int user_fn_done(tm_op *op, win_op *w, int rc, int f)
{
	const cm_err *e = ks_error(w->ks);
	if (e->code)
		return tm_chain_fail(op->chain, e->code, "%s", e->msg);
	if (op->chain->err.code)
		return op->chain->err.code;
	return rc < 0 ? w_user_failed(op, rc, f) : rc;
}

/* Room for n bytes in *buf (*cap long). 0 or the failure. */
static int room(tm_op *op, uint8_t **buf, size_t *cap, size_t n)
{
	if (n <= *cap)
		return 0;
	uint8_t *nb = realloc(*buf, n);
	if (!nb)
		return tm_chain_fail(op->chain, FL_ENOMEM, "operator '%s': out of memory",
				     op->node->name);
	*buf = nb;
	*cap = n;
	return 0;
}

/* A stored row (v, vlen) decoded into *row from its copy in *buf: what the
 * backend gives is only valid until its next call (a write, a user
 * function's state). what names it in the failure. */
static int decode_copy(tm_op *op, uint8_t **buf, size_t *cap, const void *v, size_t vlen,
		       fl_row *row, const char *what)
{
	int rc = room(op, buf, cap, vlen);
	if (rc)
		return rc;
	memcpy(*buf, v, vlen);
	size_t used;
	memset(row, 0, sizeof(*row));
	if (row_decode(*buf, vlen, row, &used) != 0 || used != vlen)
		return tm_chain_fail(op->chain, FL_EPROTO, "operator '%s': a stored %s does not decode",
				     op->node->name, what);
	return 0;
}

/* ------------------------------------------------- records (process) */

/* k's key under another state and namespace (nslen bytes of ns). */
static st_key ns_key(const st_key *k, int state, const uint8_t *ns, size_t nslen)
{
	st_key r = *k;
	r.state = state;
	r.ns = ns;
	r.nslen = nslen;
	return r;
}

/* How many records window k (its namespace: the window) holds. */
static int records_count(tm_op *op, win_op *w, const st_key *k, int64_t *n)
{
	st_key ck = ns_key(k, w->records_count, k->ns, NS_LEN);
	const void *v;
	size_t vlen;
	*n = 0;
	int rc = st_get(op->state, &ck, &v, &vlen);
	if (rc < 0)
		return backend_failed(op, rc);
	if (rc == 1 && (vlen != 8 || (*n = get_be(v)) < 0))
		return tm_chain_fail(op->chain, FL_EPROTO,
				     "operator '%s': a window's stored record count is malformed",
				     op->node->name);
	return 0;
}

/* Appends an encoded record (len bytes) to window k's records. */
static int add_encoded(tm_op *op, win_op *w, const st_key *k, const uint8_t *rec, size_t len)
{
	int64_t n;
	int rc = records_count(op, w, k, &n);
	if (rc)
		return rc;
	uint8_t ns[NS_LEN + 8], nb[8];
	memcpy(ns, k->ns, NS_LEN);
	put_be(ns + NS_LEN, n);
	put_be(nb, n + 1);
	st_key rk = ns_key(k, w->records_state, ns, sizeof(ns));
	st_key ck = ns_key(k, w->records_count, k->ns, NS_LEN);
	if ((rc = st_put(op->state, &rk, rec, len)) != 0 ||
	    (rc = st_put(op->state, &ck, nb, 8)) != 0)
		return backend_failed(op, rc);
	return 0;
}

/* The row codec's bytes of in, in w->acc_buf after the record's timestamp
 * when w->ts_rec: their length, or 0 having failed the task. */
static size_t encode_record(tm_op *op, win_op *w, const fl_row *in)
{
	size_t pre = w->ts_rec ? 8 : 0;
	size_t bound = row_encoded_bound(in);
	if (bound <= ROW_MAX_ENCODED && room(op, &w->acc_buf, &w->acc_cap, bound + pre) != 0)
		return 0;
	size_t len = bound && bound <= ROW_MAX_ENCODED
			 ? row_encode(in, w->acc_buf + pre, w->acc_cap - pre)
			 : 0;
	if (len && pre)
		put_be(w->acc_buf, op->chain->ts);
	if (len)
		len += pre;
	if (len == 0 && !op->chain->err.code)
		tm_chain_fail(op->chain, FL_ERANGE,
			      "operator '%s': a record cannot be kept in its window (over %u bytes "
			      "encoded, or malformed)",
			      op->node->name, ROW_MAX_ENCODED);
	return len;
}

/* Removes window k's records. */
static int clear_records(tm_op *op, win_op *w, const st_key *k)
{
	int64_t n;
	int rc = records_count(op, w, k, &n);
	uint8_t ns[NS_LEN + 8];
	memcpy(ns, k->ns, NS_LEN);
	for (int64_t i = 0; rc == 0 && i < n; i++) {
		put_be(ns + NS_LEN, i);
		st_key rk = ns_key(k, w->records_state, ns, sizeof(ns));
		if ((rc = st_delete(op->state, &rk)) != 0)
			rc = backend_failed(op, rc);
	}
	st_key ck = ns_key(k, w->records_count, k->ns, NS_LEN);
	if (rc == 0 && (rc = st_delete(op->state, &ck)) != 0)
		rc = backend_failed(op, rc);
	return rc;
}

/* A window's contents go: its accumulator, or its records. */
static int clear_window(tm_op *op, win_op *w, const st_key *k)
{
	if (w->keep)
		return clear_records(op, w, k);
	int rc = st_delete(op->state, k);
	return rc ? backend_failed(op, rc) : 0;
}

/* An evictor's verdict on a window's records: those numbered below first
 * go, and with cut those with a timestamp <= cutoff. Zero: all stay. */
typedef struct evict_plan {
	int64_t first;
	bool cut;
	int64_t cutoff;
} evict_plan;

static bool kept(const evict_plan *p, int64_t i, int64_t ts)
{
	return i >= p->first && !(p->cut && ts != TM_TS_NONE && ts <= p->cutoff);
}

/* A window's records for fl_window_records_next: record i under (base's
 * key, state) and namespace ns (prefix bytes, then i), a copy in
 * w->rec_buf decoded into *out; those the plan evicts skipped. */
struct fl_window_records {
	tm_op *op;
	win_op *w;
	st_key base;		/* the key and the state of the records */
	uint8_t ns[NS_LEN + 8]; /* prefix bytes of namespace, then the number */
	size_t prefix;		/* NS_LEN (a window's records) or 0 (a count window's) */
	int64_t next, end;
	bool ts_rec;	 /* each record starts with its timestamp */
	evict_plan plan; /* the records given (evictBefore) */
};

FL_API int fl_window_records_next(fl_window_records *it, fl_row *out)
{
	if (!it || !out)
		return FL_EINVAL;
	tm_op *op = it->op;
	win_op *w = it->w;
	for (; it->next < it->end; it->next++) {
		put_be(it->ns + it->prefix, it->next);
		st_key rk = ns_key(&it->base, it->base.state, it->ns, it->prefix + 8);
		const void *v;
		size_t vlen;
		int rc = st_get(op->state, &rk, &v, &vlen);
		if (rc < 0)
			return backend_failed(op, rc);
		if (rc == 0)
			return tm_chain_fail(
			    op->chain, FL_EPROTO,
			    "operator '%s': record %lld of a window is missing from its state",
			    op->node->name, (long long)it->next);
		int64_t ts = TM_TS_NONE;
		if (it->ts_rec) {
			if (vlen < 8)
				return tm_chain_fail(op->chain, FL_EPROTO,
						     "operator '%s': a stored record of a window "
						     "has no timestamp",
						     op->node->name);
			ts = get_be(v);
			v = (const uint8_t *)v + 8;
			vlen -= 8;
		}
		if (!kept(&it->plan, it->next, ts))
			continue;
		/* A copy: the function may use keyed state, on the same backend. */
		if ((rc = decode_copy(op, &w->rec_buf, &w->rec_cap, v, vlen, out,
				      "record of a window")) != 0)
			return rc;
		it->next++;
		return 1;
	}
	return 0;
}

static int call_process(tm_op *op, win_op *w, fl_window_records *it, int64_t start, int64_t end);

/* Folds in into the window's accumulator (stored under k): a record, or
 * with is_acc another window's accumulator (merging sessions). *fresh
 * (unless NULL): no accumulator was there, the window is new for its key
 * (always true when records are kept: not known there). */
static int fold_acc(tm_op *op, win_op *w, const st_key *k, const fl_row *in, bool is_acc,
		    bool *fresh);

static int fold(tm_op *op, win_op *w, const st_key *k, const fl_row *in, bool is_acc,
		bool *fresh)
{
	if (w->keep) {
		/* Records kept, not folded (merging sessions move theirs). */
		if (fresh)
			*fresh = true;
		size_t len = encode_record(op, w, in);
		return len ? add_encoded(op, w, k, w->acc_buf, len) : op->chain->err.code;
	}
	return fold_acc(op, w, k, in, is_acc, fresh);
}

/* The accumulator's part of fold: always into the accumulator under k. */
static int fold_acc(tm_op *op, win_op *w, const st_key *k, const fl_row *in, bool is_acc,
		    bool *fresh)
{
	fl_ctx *ctx = &op->chain->ctx;
	const fl_window_spec *s = w->spec;
	const void *old;
	size_t olen, used;
	int rc = st_get(op->state, k, &old, &olen);
	if (rc < 0)
		return backend_failed(op, rc);
	fl_row acc = {0}, next = {0};
	bool have = rc == 1;
	if (fresh)
		*fresh = !have;
	if (have && (row_decode(old, olen, &acc, &used) != 0 || used != olen))
		return tm_chain_fail(op->chain, FL_EPROTO,
				     "operator '%s': a stored window accumulator does not decode",
				     op->node->name);
	if (s->reduce) {
		if (!have)
			next = *in;
		else if ((rc = s->reduce(ctx, &acc, in, &next)) != 0)
			return w_user_failed(op, rc, SG_WIN_REDUCE);
	} else if (is_acc) {
		if (!have)
			next = *in;
		else if ((rc = s->agg.merge(ctx, &acc, in, &next)) != 0)
			return w_user_failed(op, rc, SG_WIN_MERGE);
	} else {
		if (!have) {
			if ((rc = s->agg.create(ctx, &acc)) != 0)
				return w_user_failed(op, rc, SG_WIN_CREATE);
		}
		if ((rc = s->agg.add(ctx, &acc, in, &next)) != 0)
			return w_user_failed(op, rc, SG_WIN_ADD);
	}
	size_t bound = row_encoded_bound(&next);
	if (bound == 0 || bound > ROW_MAX_ENCODED)
		return tm_chain_fail(
		    op->chain, FL_ERANGE,
		    "operator '%s': a window accumulator cannot be encoded (over %u "
		    "bytes or malformed)",
		    op->node->name, ROW_MAX_ENCODED);
	if ((rc = room(op, &w->acc_buf, &w->acc_cap, bound)) != 0)
		return rc;
	size_t n = row_encode(&next, w->acc_buf, w->acc_cap);
	if (n == 0)
		return tm_chain_fail(op->chain, FL_ERANGE,
				     "operator '%s': a window accumulator cannot be encoded",
				     op->node->name);
	if ((rc = st_put(op->state, k, w->acc_buf, n)) != 0)
		return backend_failed(op, rc);
	return 0;
}

/* Calls the process function over it's records (the window's key current
 * in w->ks), its output stamped as a window's. */
static int call_process(tm_op *op, win_op *w, fl_window_records *it, int64_t start, int64_t end)
{
	tm_chain *c = op->chain;
	fl_ctx *ctx = &c->ctx;
	int64_t ts = c->ts;
	c->ts = w->spec->time == FL_EVENT_TIME && w->spec->kind != FL_WINDOW_COUNT ? end - 1
										   : TM_TS_NONE;
	fl_collector col = {.op = op, .keyed = w->ks};
	struct ks_ctx *outer = ctx->keyed;
	ctx->keyed = w->ks;
	int rc = w->spec->process(ctx, start, end, it, &col);
	ctx->keyed = outer;
	rc = user_fn_done(op, w, rc, SG_WIN_PROCESS);
	c->ts = ts;
	return rc;
}

static int emit_acc(tm_op *op, win_op *w, const st_key *k, int64_t start, int64_t end);
static int emit_evicting(tm_op *op, win_op *w, const st_key *k, int64_t start, int64_t end);

/* Emits the window's result (its key current in w->ks). */
static int emit_window(tm_op *op, win_op *w, const st_key *k, int64_t start, int64_t end)
{
	if (w->ts_rec)
		return emit_evicting(op, w, k, start, end);
	if (w->spec->process) {
		fl_window_records it = {.op = op, .w = w, .prefix = NS_LEN};
		it.base = ns_key(k, w->records_state, NULL, 0);
		memcpy(it.ns, k->ns, NS_LEN);
		int rc = records_count(op, w, k, &it.end);
		if (rc || it.end == 0)
			return rc; /* nothing arrived (or it was cleared) */
		return call_process(op, w, &it, start, end);
	}
	return emit_acc(op, w, k, start, end);
}

/* Emits the accumulator under k (reduce or agg, then window_fn). */
static int emit_acc(tm_op *op, win_op *w, const st_key *k, int64_t start, int64_t end)
{
	tm_chain *c = op->chain;
	fl_ctx *ctx = &c->ctx;
	const void *v;
	size_t vlen;
	int rc = st_get(op->state, k, &v, &vlen);
	if (rc < 0)
		return backend_failed(op, rc);
	if (rc == 0)
		return 0; /* nothing arrived (or it was cleared) */
	/* A copy: the window function may use keyed state, on the same
	 * backend, which would invalidate v under the decoded row. */
	fl_row acc, res = {0};
	if ((rc = decode_copy(op, &w->acc_buf, &w->acc_cap, v, vlen, &acc,
			      "window accumulator")) != 0)
		return rc;
	const fl_row *out = &acc;
	if (!w->spec->reduce) {
		if ((rc = w->spec->agg.result(ctx, &acc, &res)) != 0)
			return w_user_failed(op, rc, SG_WIN_RESULT);
		out = &res;
	}
	int64_t ts = c->ts;
	c->ts = w->spec->time == FL_EVENT_TIME && w->spec->kind != FL_WINDOW_COUNT ? end - 1
										   : TM_TS_NONE;
	fl_collector col = {.op = op, .keyed = w->spec->window_fn ? w->ks : NULL};
	if (w->spec->window_fn) {
		struct ks_ctx *outer = ctx->keyed;
		ctx->keyed = w->ks;
		rc = w->spec->window_fn(ctx, start, end, out, &col);
		ctx->keyed = outer;
		rc = user_fn_done(op, w, rc, SG_WIN_FN);
	} else {
		rc = fl_collect(&col, out);
	}
	c->ts = ts;
	return rc;
}

/* A record later than the lateness for all its windows: to the late
 * records' outputs when the job asked for them, else dropped and counted. */
static int late_record(tm_op *op, win_op *w, const fl_row *in)
{
	int n = tm_emit_side(op, FL_LATE_RECORDS_TAG, in);
	if (n == 0)
		w->late++;
	return n < 0 ? n : 0;
}

/* ------------------------------------------------- evictors, triggers */

/* Record i of window k (an evictor's: its timestamp first) as stored:
 * valid until the backend's next call. */
static int record_at(tm_op *op, win_op *w, const st_key *k, int64_t i, const uint8_t **v,
		     size_t *vlen, int64_t *ts)
{
	uint8_t ns[NS_LEN + 8];
	memcpy(ns, k->ns, NS_LEN);
	put_be(ns + NS_LEN, i);
	st_key rk = ns_key(k, w->records_state, ns, sizeof(ns));
	const void *p;
	int rc = st_get(op->state, &rk, &p, vlen);
	if (rc < 0)
		return backend_failed(op, rc);
	if (rc == 0 || *vlen < 8)
		return tm_chain_fail(op->chain, FL_EPROTO,
				     "operator '%s': record %lld of a window is missing from its "
				     "state or has no timestamp",
				     op->node->name, (long long)i);
	*v = p;
	*ts = get_be(p);
	return 0;
}

/* The evictor's verdict on window k's n records (Flink's CountEvictor:
 * the first n - count go; TimeEvictor: those at or before the newest
 * timestamp less keep_ms, unless the first record has no timestamp). */
static int plan_eviction(tm_op *op, win_op *w, const st_key *k, int64_t n, evict_plan *p)
{
	const sg_window *sw = &op->node->win;
	*p = (evict_plan){0};
	if (sw->evictor == FL_EVICTOR_COUNT) {
		p->first = n > sw->evictor_n ? n - sw->evictor_n : 0;
		return 0;
	}
	int64_t max = TM_TS_NONE;
	for (int64_t i = 0; i < n; i++) {
		const uint8_t *v;
		size_t vlen;
		int64_t ts;
		int rc = record_at(op, w, k, i, &v, &vlen, &ts);
		if (rc)
			return rc;
		if (i == 0 && ts == TM_TS_NONE)
			return 0;
		max = ts > max ? ts : max;
	}
	p->cut = true;
	p->cutoff = max < INT64_MIN + sw->evictor_n ? INT64_MIN : max - sw->evictor_n;
	return 0;
}

/* Removes the records plan evicts from window k (n records), the others
 * renumbered in order (Flink rewrites the window's list state so). */
static int compact(tm_op *op, win_op *w, const st_key *k, int64_t n, const evict_plan *p)
{
	int64_t j = 0;
	int rc = 0;
	uint8_t ns[NS_LEN + 8];
	memcpy(ns, k->ns, NS_LEN);
	for (int64_t i = 0; i < n; i++) {
		const uint8_t *v;
		size_t vlen;
		int64_t ts;
		if ((rc = record_at(op, w, k, i, &v, &vlen, &ts)) != 0)
			return rc;
		if (!kept(p, i, ts))
			continue;
		if (i != j) {
			/* A copy: the put moves the backend's memory. */
			if ((rc = room(op, &w->mrg_buf, &w->mrg_cap, vlen)) != 0)
				return rc;
			memcpy(w->mrg_buf, v, vlen);
			put_be(ns + NS_LEN, j);
			st_key rk = ns_key(k, w->records_state, ns, sizeof(ns));
			if ((rc = st_put(op->state, &rk, w->mrg_buf, vlen)) != 0)
				return backend_failed(op, rc);
		}
		j++;
	}
	for (int64_t i = j; i < n; i++) {
		put_be(ns + NS_LEN, i);
		st_key rk = ns_key(k, w->records_state, ns, sizeof(ns));
		if ((rc = st_delete(op->state, &rk)) != 0)
			return backend_failed(op, rc);
	}
	if (j == n)
		return 0;
	st_key ck = ns_key(k, w->records_count, k->ns, NS_LEN);
	uint8_t nb[8];
	put_be(nb, j);
	rc = j ? st_put(op->state, &ck, nb, 8) : st_delete(op->state, &ck);
	return rc ? backend_failed(op, rc) : 0;
}

/* Flink's EvictingWindowOperator: evictBefore, the function over the
 * records left (reduce or agg folded at fire time into a scratch
 * accumulator under k, or process), evictAfter, the evicted records gone
 * from the window. */
static int emit_evicting(tm_op *op, win_op *w, const st_key *k, int64_t start, int64_t end)
{
	int64_t n;
	int rc = records_count(op, w, k, &n);
	if (rc || n == 0)
		return rc; /* nothing arrived (or it was cleared) */
	evict_plan plan, none = {0};
	if ((rc = plan_eviction(op, w, k, n, &plan)) != 0)
		return rc;
	const evict_plan *before = op->node->win.evict_after ? &none : &plan;
	if (w->spec->process) {
		fl_window_records it = {
		    .op = op, .w = w, .prefix = NS_LEN, .end = n, .ts_rec = true, .plan = *before};
		it.base = ns_key(k, w->records_state, NULL, 0);
		memcpy(it.ns, k->ns, NS_LEN);
		rc = call_process(op, w, &it, start, end);
	} else {
		for (int64_t i = 0; rc == 0 && i < n; i++) {
			const uint8_t *v;
			size_t vlen;
			int64_t ts;
			fl_row row;
			if ((rc = record_at(op, w, k, i, &v, &vlen, &ts)) != 0 ||
			    !kept(before, i, ts))
				continue;
			rc = decode_copy(op, &w->mrg_buf, &w->mrg_cap, v + 8, vlen - 8, &row,
					 "record of a window");
			if (rc == 0)
				rc = fold_acc(op, w, k, &row, false, NULL);
		}
		if (rc == 0)
			rc = emit_acc(op, w, k, start, end);
		int drc = st_delete(op->state, k);
		if (rc == 0 && drc != 0)
			rc = backend_failed(op, drc);
	}
	return rc ? rc : compact(op, w, k, n, &plan);
}

/* The trigger's state of window k: 1 with *v, 0 when it has none. */
static int trigger_get(tm_op *op, win_op *w, const st_key *k, int64_t *v)
{
	st_key tk = ns_key(k, w->trigger_state, k->ns, NS_LEN);
	const void *p;
	size_t len;
	int rc = st_get(op->state, &tk, &p, &len);
	if (rc < 0)
		return backend_failed(op, rc);
	if (rc == 1 && len != 8)
		return tm_chain_fail(op->chain, FL_EPROTO,
				     "operator '%s': a window trigger's stored state is malformed",
				     op->node->name);
	if (rc == 1)
		*v = get_be(p);
	return rc;
}

static int trigger_put(tm_op *op, win_op *w, const st_key *k, int64_t v)
{
	st_key tk = ns_key(k, w->trigger_state, k->ns, NS_LEN);
	uint8_t b[8];
	put_be(b, v);
	int rc = st_put(op->state, &tk, b, 8);
	return rc ? backend_failed(op, rc) : 0;
}

static int timer_register(tm_op *op, win_op *w, const st_key *k, int64_t time)
{
	if (w->ends) /* only end timers, pushed once: fold said the window is new */
		return push_end(op, w, k->key, k->klen, k->hash, k->ns, time);
	enum tm_timer_domain d = w->spec->time == FL_EVENT_TIME ? TM_TIMER_EVENT : TM_TIMER_PROC;
	int rc = tm_timers_register(w->timers, d, time, k->key, k->klen, k->hash, k->ns, NS_LEN);
	return rc ? tm_chain_fail(op->chain, rc, "%s", tm_timers_error(w->timers)->msg) : 0;
}

/* A continuous trigger's next firing after time (Flink's
 * registerNextFireTimestamp): the state and its timer. */
static int continuous_next(tm_op *op, win_op *w, const st_key *k, int64_t time, int64_t end)
{
	int64_t next = time + op->node->win.trigger_n;
	next = next < end - 1 ? next : end - 1;
	int rc = trigger_put(op, w, k, next);
	return rc ? rc : timer_register(op, w, k, next);
}

/* The trigger's state of window k goes (Trigger.clear): a continuous
 * trigger's pending timer with it. */
static int trigger_clear(tm_op *op, win_op *w, const st_key *k)
{
	int64_t v = 0; /* set when trigger_get finds it (1) */
	int rc = trigger_get(op, w, k, &v);
	if (rc <= 0)
		return rc;
	if (op->node->win.trigger != FL_TRIGGER_COUNT) {
		enum tm_timer_domain d =
		    w->spec->time == FL_EVENT_TIME ? TM_TIMER_EVENT : TM_TIMER_PROC;
		if ((rc = tm_timers_delete(w->timers, d, v, k->key, k->klen, k->hash, k->ns,
					   NS_LEN)) != 0)
			return tm_chain_fail(op->chain, rc, "%s", tm_timers_error(w->timers)->msg);
	}
	st_key tk = ns_key(k, w->trigger_state, k->ns, NS_LEN);
	rc = st_delete(op->state, &tk);
	return rc ? backend_failed(op, rc) : 0;
}

/* Trigger.onElement for window k ending at end, a record at time t just
 * added: *fire when it fires now; *at_end when a timer at end - 1 is
 * registered. */
static int trigger_element(tm_op *op, win_op *w, const st_key *k, int64_t end, int64_t t,
			   bool *fire, bool *at_end)
{
	const sg_window *sw = &op->node->win;
	bool event = sw->time == FL_EVENT_TIME;
	*fire = *at_end = false;
	int rc;
	if (sw->trigger == FL_TRIGGER_COUNT) {
		int64_t n = 0;
		if ((rc = trigger_get(op, w, k, &n)) < 0)
			return rc;
		if (++n < sw->trigger_n)
			return trigger_put(op, w, k, n);
		*fire = true;
		st_key tk = ns_key(k, w->trigger_state, k->ns, NS_LEN);
		rc = st_delete(op->state, &tk);
		return rc ? backend_failed(op, rc) : 0;
	}
	if (event && end - 1 <= op->chain->wm) {
		*fire = true; /* late, within the lateness: fires at once */
		return 0;
	}
	if ((rc = timer_register(op, w, k, end - 1)) != 0)
		return rc;
	*at_end = true;
	if (sw->trigger == FL_TRIGGER_DEFAULT)
		return 0;
	int64_t v;
	if ((rc = trigger_get(op, w, k, &v)) != 0)
		return rc < 0 ? rc : 0;
	int64_t now = event ? t : tm_clock_now(&w->clock);
	return continuous_next(op, w, k, start_of(now, sw->trigger_n), end);
}

/* Fires window k: emits, then with a purging trigger its contents go. */
static int fire_window(tm_op *op, win_op *w, const st_key *k, int64_t start, int64_t end)
{
	int rc = emit_window(op, w, k, start, end);
	if (rc == 0 && op->node->win.purging)
		rc = clear_window(op, w, k);
	return rc;
}

/* ------------------------------------------------------------ sessions */

static st_key sessions_key(const tm_op *op, const win_op *w, const void *key, size_t klen,
			   uint32_t h)
{
	return (st_key){.state = w->sessions_state,
			.key_group = kg_of_hash(h, op->max_parallelism),
			.hash = h,
			.key = key,
			.klen = klen};
}

/* Reads the key's sessions into w->sess / w->nsess. */
static int sessions_load(tm_op *op, win_op *w, const st_key *k)
{
	const void *v;
	size_t vlen;
	w->nsess = 0;
	int rc = st_get(op->state, k, &v, &vlen);
	if (rc < 0)
		return backend_failed(op, rc);
	if (rc == 0)
		return 0;
	if (vlen % NS_LEN != 0)
		return tm_chain_fail(
		    op->chain, FL_EPROTO,
		    "operator '%s': a key's stored sessions are %zu bytes, not pairs "
		    "of times",
		    op->node->name, vlen);
	size_t n = vlen / NS_LEN;
	if (n * 2 > w->sess_cap) {
		int64_t *ns = realloc(w->sess, n * 2 * sizeof(*ns));
		if (!ns)
			return tm_chain_fail(op->chain, FL_ENOMEM, "operator '%s': out of memory",
					     op->node->name);
		w->sess = ns;
		w->sess_cap = n * 2;
	}
	for (size_t i = 0; i < n * 2; i++)
		w->sess[i] = get_be((const uint8_t *)v + 8 * i);
	for (size_t i = 0; i < n; i++)
		if (w->sess[2 * i] >= w->sess[2 * i + 1] || w->sess[2 * i] < INT64_MIN / 2 ||
		    w->sess[2 * i + 1] > INT64_MAX / 2)
			return tm_chain_fail(op->chain, FL_EPROTO,
					     "operator '%s': a key's stored session [%lld, %lld) is "
					     "not a window",
					     op->node->name, (long long)w->sess[2 * i],
					     (long long)w->sess[2 * i + 1]);
	w->nsess = n;
	return 0;
}

/* Stores w->sess (deletes the entry when there is none). */
static int sessions_store(tm_op *op, win_op *w, const st_key *k)
{
	int rc;
	if (w->nsess == 0) {
		rc = st_delete(op->state, k);
	} else {
		if (w->nsess > MAX_SESSIONS)
			return tm_chain_fail(
			    op->chain, FL_ERANGE,
			    "operator '%s': more than %zu open sessions for one key",
			    op->node->name, (size_t)MAX_SESSIONS);
		uint8_t *b = realloc(w->sess_buf, w->nsess * NS_LEN);
		if (!b)
			return tm_chain_fail(op->chain, FL_ENOMEM, "operator '%s': out of memory",
					     op->node->name);
		w->sess_buf = b;
		for (size_t i = 0; i < w->nsess * 2; i++)
			put_be(b + 8 * i, w->sess[i]);
		rc = st_put(op->state, k, b, w->nsess * NS_LEN);
	}
	return rc ? backend_failed(op, rc) : 0;
}

/* Removes session i from w->sess (order kept). */
static void sessions_remove(win_op *w, size_t i)
{
	memmove(w->sess + 2 * i, w->sess + 2 * i + 2, (w->nsess - i - 1) * 2 * sizeof(*w->sess));
	w->nsess--;
}

/* Moves window from's records to the end of window to's, in order
 * (process: sessions merging). */
static int move_records(tm_op *op, win_op *w, const st_key *from, const st_key *to)
{
	int64_t n;
	int rc = records_count(op, w, from, &n);
	uint8_t rns[NS_LEN + 8];
	memcpy(rns, from->ns, NS_LEN);
	for (int64_t i = 0; rc == 0 && i < n; i++) {
		put_be(rns + NS_LEN, i);
		st_key rk = ns_key(from, w->records_state, rns, sizeof(rns));
		const void *rv;
		size_t rlen;
		if ((rc = st_get(op->state, &rk, &rv, &rlen)) < 0)
			return backend_failed(op, rc);
		if (rc == 0)
			return tm_chain_fail(op->chain, FL_EPROTO,
					     "operator '%s': record %lld of a session is missing from "
					     "its state",
					     op->node->name, (long long)i);
		/* A copy: the writes below move the backend's memory. */
		if ((rc = room(op, &w->mrg_buf, &w->mrg_cap, rlen)) != 0)
			return rc;
		memcpy(w->mrg_buf, rv, rlen);
		rc = add_encoded(op, w, to, w->mrg_buf, rlen);
	}
	return rc ? rc : clear_records(op, w, from);
}

/* Folds window from's accumulator into to's and removes it (sessions
 * merging). */
static int fold_from(tm_op *op, win_op *w, const st_key *from, const st_key *to)
{
	const void *v;
	size_t vlen;
	int rc = st_get(op->state, from, &v, &vlen);
	if (rc <= 0)
		return rc < 0 ? backend_failed(op, rc) : 0;
	/* A copy: the fold's own reads move the backend's memory. */
	fl_row acc;
	if ((rc = decode_copy(op, &w->mrg_buf, &w->mrg_cap, v, vlen, &acc,
			      "window accumulator")) != 0)
		return rc;
	if ((rc = fold(op, w, to, &acc, true, NULL)) != 0)
		return rc;
	rc = st_delete(op->state, from);
	return rc ? backend_failed(op, rc) : 0;
}

/* Trigger.onMerge: window from's trigger state joins to's (a count
 * trigger's counts summed, a continuous trigger's earliest next firing
 * kept, with its timer for to) and goes, with its timer. */
static int trigger_merge(tm_op *op, win_op *w, const st_key *from, const st_key *to)
{
	if (op->node->win.trigger == FL_TRIGGER_DEFAULT)
		return 0;
	int64_t a, b;
	int rc = trigger_get(op, w, from, &a);
	if (rc <= 0 || (rc = trigger_clear(op, w, from)) != 0)
		return rc;
	int have = trigger_get(op, w, to, &b);
	if (have < 0)
		return have;
	bool count = op->node->win.trigger == FL_TRIGGER_COUNT;
	int64_t v = !have ? a : count ? a + b : b < a ? b : a;
	if ((rc = trigger_put(op, w, to, v)) != 0)
		return rc;
	return count ? 0 : timer_register(op, w, to, v);
}

/* Window [start, end) of the key goes into `to` (its accumulator folded,
 * or its records moved), and its timers with it. */
static int merge_into(tm_op *op, win_op *w, const st_key *to, const uint8_t *kb, size_t kl,
		      uint32_t h, int64_t start, int64_t end)
{
	enum tm_timer_domain d = w->spec->time == FL_EVENT_TIME ? TM_TIMER_EVENT : TM_TIMER_PROC;
	int64_t lateness = w->spec->time == FL_EVENT_TIME ? w->spec->allowed_lateness_ms : 0;
	uint8_t ns[NS_LEN];
	put_be(ns, start);
	put_be(ns + 8, end);
	st_key from = win_key(op, w, kb, kl, h, ns);
	int rc = w->keep ? move_records(op, w, &from, to) : fold_from(op, w, &from, to);
	if (rc || (rc = trigger_merge(op, w, &from, to)) != 0)
		return rc;
	if ((rc = tm_timers_delete(w->timers, d, end - 1, kb, kl, h, ns, NS_LEN)) != 0 ||
	    (lateness > 0 &&
	     (rc = tm_timers_delete(w->timers, d, end - 1 + lateness, kb, kl, h, ns, NS_LEN)) != 0))
		return tm_chain_fail(op->chain, rc, "%s", tm_timers_error(w->timers)->msg);
	return 0;
}

/* A record at time t of a session window operator. */
static int session_record(tm_op *op, win_op *w, const fl_row *in, const uint8_t *kb, size_t kl,
			  uint32_t h, int64_t t)
{
	tm_chain *c = op->chain;
	const fl_window_spec *s = w->spec;
	bool event = s->time == FL_EVENT_TIME;
	int64_t lateness = event ? s->allowed_lateness_ms : 0;
	int64_t start = t, end = t + s->gap_ms;
	if (event && end - 1 + lateness <= c->wm)
		return late_record(op, w, in);
	st_key sk = sessions_key(op, w, kb, kl, h);
	int rc = sessions_load(op, w, &sk);
	if (rc)
		return rc;
	/* The span of the new window and every session it intersects. */
	for (size_t i = 0; i < w->nsess; i++)
		if (w->sess[2 * i] <= end && w->sess[2 * i + 1] >= start) {
			start = start < w->sess[2 * i] ? start : w->sess[2 * i];
			end = end > w->sess[2 * i + 1] ? end : w->sess[2 * i + 1];
		}
	uint8_t ns[NS_LEN];
	put_be(ns, start);
	put_be(ns + 8, end);
	st_key k = win_key(op, w, kb, kl, h, ns);
	/* The sessions it swallows: their accumulators into the span's. */
	for (size_t i = 0; i < w->nsess;) {
		int64_t s0 = w->sess[2 * i], s1 = w->sess[2 * i + 1];
		if (s0 >= start && s1 <= end) {
			if ((s0 != start || s1 != end) &&
			    (rc = merge_into(op, w, &k, kb, kl, h, s0, s1)) != 0)
				return rc;
			sessions_remove(w, i);
		} else {
			i++;
		}
	}
	if (w->nsess * 2 + 2 > w->sess_cap) {
		size_t nc = w->sess_cap ? w->sess_cap * 2 : 8;
		int64_t *nsx = realloc(w->sess, nc * sizeof(*nsx));
		if (!nsx)
			return tm_chain_fail(c, FL_ENOMEM, "operator '%s': out of memory",
					     op->node->name);
		w->sess = nsx;
		w->sess_cap = nc;
	}
	w->sess[2 * w->nsess] = start;
	w->sess[2 * w->nsess + 1] = end;
	w->nsess++;
	if ((rc = sessions_store(op, w, &sk)) != 0 || (rc = fold(op, w, &k, in, false, NULL)) != 0)
		return rc;
	/* The trigger on the merged session, then its cleanup timer (as for
	 * the other windows). */
	bool fire, at_end;
	if ((rc = trigger_element(op, w, &k, end, t, &fire, &at_end)) != 0 ||
	    ((lateness > 0 || !at_end) &&
	     (rc = timer_register(op, w, &k, end - 1 + lateness)) != 0))
		return rc;
	return fire ? fire_window(op, w, &k, start, end) : 0;
}

/* A session's cleanup: it leaves the key's sessions. */
static int session_cleared(tm_op *op, win_op *w, const void *kb, size_t kl, uint32_t h,
			   int64_t start, int64_t end)
{
	st_key sk = sessions_key(op, w, kb, kl, h);
	int rc = sessions_load(op, w, &sk);
	if (rc)
		return rc;
	for (size_t i = 0; i < w->nsess; i++)
		if (w->sess[2 * i] == start && w->sess[2 * i + 1] == end) {
			sessions_remove(w, i);
			return sessions_store(op, w, &sk);
		}
	return 0;
}

/* ------------------------------------------------------ count windows */

/* A state of the key (kb, kl, h) under namespace ns (nslen bytes). */
static st_key count_key(const tm_op *op, int state, const uint8_t *kb, size_t kl, uint32_t h,
			const uint8_t *ns, size_t nslen)
{
	return (st_key){.state = state,
			.key_group = kg_of_hash(h, op->max_parallelism),
			.hash = h,
			.key = kb,
			.klen = kl,
			.ns = ns,
			.nslen = nslen};
}

/* Element number i of the key folded into the accumulator under acc: a
 * copy first (the fold's writes move the backend's memory). */
static int fold_element(tm_op *op, win_op *w, const st_key *acc, const uint8_t *kb, size_t kl,
			uint32_t h, int64_t i)
{
	uint8_t ns[8];
	put_be(ns, i);
	st_key ek = count_key(op, w->elements_state, kb, kl, h, ns, 8);
	const void *v;
	size_t vlen;
	int rc = st_get(op->state, &ek, &v, &vlen);
	if (rc < 0)
		return backend_failed(op, rc);
	if (rc == 0)
		return tm_chain_fail(op->chain, FL_EPROTO,
				     "operator '%s': record %lld of a count window is missing from "
				     "its state",
				     op->node->name, (long long)i);
	fl_row row;
	if ((rc = decode_copy(op, &w->mrg_buf, &w->mrg_cap, v, vlen, &row,
			      "record of a count window")) != 0)
		return rc;
	return fold(op, w, acc, &row, false, NULL);
}

/* A record of a count window operator (its key current in w->ks). */
static int count_record(tm_op *op, win_op *w, const fl_row *in, const uint8_t *kb, size_t kl,
			uint32_t h)
{
	const int64_t size = w->spec->count, slide = w->spec->count_slide;
	st_key ck = count_key(op, w->count_state, kb, kl, h, NULL, 0);
	const void *v;
	size_t vlen;
	int rc = st_get(op->state, &ck, &v, &vlen);
	if (rc < 0)
		return backend_failed(op, rc);
	int64_t n = 0; /* records of the key before this one */
	if (rc == 1) {
		if (vlen != 8 || (n = get_be(v)) < 0)
			return tm_chain_fail(op->chain, FL_EPROTO,
					     "operator '%s': a key's stored record count is malformed",
					     op->node->name);
	}
	uint8_t nb[8];
	put_be(nb, n + 1);
	if ((rc = st_put(op->state, &ck, nb, 8)) != 0)
		return backend_failed(op, rc);
	uint8_t ns[NS_LEN];
	if (slide == 0 || slide == size) {
		/* Tumbling: records n - n % size .. fold into one accumulator. */
		int64_t start = n - n % size, end = start + size;
		put_be(ns, start);
		put_be(ns + 8, end);
		st_key k = win_key(op, w, kb, kl, h, ns);
		if ((rc = fold(op, w, &k, in, false, NULL)) != 0)
			return rc;
		if (n + 1 < end)
			return 0;
		if ((rc = emit_window(op, w, &k, start, end)) == 0)
			rc = clear_window(op, w, &k);
		return rc;
	}
	/* Sliding: this record kept as number n; the one no later window
	 * reaches (every one from now on covers at most the last size) goes. */
	size_t len = encode_record(op, w, in);
	if (len == 0)
		return op->chain->err.code;
	uint8_t ens[8];
	put_be(ens, n);
	st_key ek = count_key(op, w->elements_state, kb, kl, h, ens, 8);
	if ((rc = st_put(op->state, &ek, w->acc_buf, len)) != 0)
		return backend_failed(op, rc);
	if (n >= size) {
		put_be(ens, n - size);
		st_key old = count_key(op, w->elements_state, kb, kl, h, ens, 8);
		if ((rc = st_delete(op->state, &old)) != 0)
			return backend_failed(op, rc);
	}
	if ((n + 1) % slide != 0)
		return 0;
	/* Fires with the last size records (fewer at first). */
	int64_t end = n + 1, start = end > size ? end - size : 0;
	if (w->spec->process) {
		fl_window_records it = {.op = op, .w = w, .prefix = 0, .next = start, .end = end};
		it.base = count_key(op, w->elements_state, kb, kl, h, NULL, 0);
		return call_process(op, w, &it, start, end);
	}
	put_be(ns, start);
	put_be(ns + 8, end);
	st_key k = win_key(op, w, kb, kl, h, ns);
	for (int64_t i = start; rc == 0 && i < end; i++)
		rc = fold_element(op, w, &k, kb, kl, h, i);
	if (rc == 0)
		rc = emit_window(op, w, &k, start, end);
	if (rc == 0 && (rc = st_delete(op->state, &k)) != 0)
		rc = backend_failed(op, rc);
	return rc;
}

static int w_process_keyed(tm_op *op, const fl_row *in, const uint8_t *kb, size_t kl, uint32_t h)
{
	tm_chain *c = op->chain;
	win_op *w = op->impl;
	const fl_window_spec *s = w->spec;
	if (s->kind == FL_WINDOW_COUNT) {
		ks_set_key(w->ks, kb, kl, h);
		size_t used = c->ctx.scratch_used;
		int rc = count_record(op, w, in, kb, kl, h);
		c->ctx.scratch_used = used;
		ks_end_record(w->ks);
		return rc ? rc : c->err.code;
	}
	int64_t t;
	if (s->time == FL_EVENT_TIME) {
		if ((t = c->ts) == TM_TS_NONE)
			return tm_chain_fail(
			    c, FL_EINVAL,
			    "operator '%s': a record without a timestamp: event-time "
			    "windows need fl_assign_timestamps_and_watermarks() on the "
			    "source",
			    op->node->name);
	} else {
		t = tm_clock_now(&w->clock);
	}
	/* Room for the window arithmetic (sizes and lateness are at most
	 * INT64_MAX / 4). */
	if (t < INT64_MIN / 2 || t > INT64_MAX / 2)
		return tm_chain_fail(
		    c, FL_ERANGE,
		    "operator '%s': a record's time %lld is out of the range windows "
		    "take (+-2^62 ms)",
		    op->node->name, (long long)t);
	if (s->kind == FL_WINDOW_SESSION) {
		ks_set_key(w->ks, kb, kl, h);
		int rc = session_record(op, w, in, kb, kl, h, t);
		ks_end_record(w->ks);
		return rc ? rc : c->err.code;
	}
	int64_t size = s->size_ms;
	int64_t slide = s->kind == FL_WINDOW_SLIDING ? s->slide_ms : size;
	int64_t lateness = s->time == FL_EVENT_TIME ? s->allowed_lateness_ms : 0;
	bool any = false;
	ks_set_key(w->ks, kb, kl, h);
	int rc = 0;
	for (int64_t start = start_of(t, slide); rc == 0 && start > t - size; start -= slide) {
		int64_t end = start + size;
		/* A window whose cleanup time the watermark passed is gone
		 * (Flink's isWindowLate). */
		if (s->time == FL_EVENT_TIME && end - 1 + lateness <= c->wm)
			continue;
		any = true;
		uint8_t ns[NS_LEN];
		put_be(ns, start);
		put_be(ns + 8, end);
		st_key k = win_key(op, w, kb, kl, h, ns);
		bool fresh;
		if ((rc = fold(op, w, &k, in, false, &fresh)) != 0)
			break;
		/* A window the default trigger knows already, not yet at its
		 * end: its timers (end - 1, and the cleanup's) were registered
		 * with its first record and are still there (a timer that fired
		 * went with the window's state, or the watermark is past end - 1,
		 * handled below). Flink's WindowOperator registers both again for
		 * every record, each a lookup in the timer set; not here. Not
		 * after a restore with allowed lateness: the watermark starts
		 * over, and a window in its lateness has its state but its end
		 * timer fired before the snapshot; the record registers it again
		 * (as Flink does) so that the window fires with it. */
		if (!fresh && op->node->win.trigger == FL_TRIGGER_DEFAULT &&
		    (lateness == 0 || op->chain->td->restore_id == 0) &&
		    !(s->time == FL_EVENT_TIME && end - 1 <= c->wm))
			continue;
		/* The trigger (the default one: late but within the lateness,
		 * the window fired already and fires again now with the record,
		 * EventTimeTrigger's FIRE on an element behind the watermark,
		 * with no timer of its own), then the cleanup timer (Flink's
		 * WindowOperator registers it for every record). */
		bool fire, at_end;
		if ((rc = trigger_element(op, w, &k, end, t, &fire, &at_end)) != 0)
			break;
		if ((lateness > 0 || !at_end) &&
		    (rc = timer_register(op, w, &k, end - 1 + lateness)) != 0)
			break;
		if (fire)
			rc = fire_window(op, w, &k, start, end);
	}
	if (!any && rc == 0)
		rc = late_record(op, w, in);
	ks_end_record(w->ks);
	return rc ? rc : c->err.code;
}

/* Windows pending (implied end timers) beyond which all of a sliding
 * record's windows are prefetched: about where their accumulators no
 * longer fit the caches. Below it only the latest is, for the namespace
 * hash of each prefetch may cost more than the misses it saves (the
 * sliding aggregate at 1000 keys, some 24 K windows pending: measured
 * within the noise either way, 1,276-1,676 CPU ns per record). */
#define PREFETCH_ALL_ABOVE 65536

/* tm_op_class.prefetch: the accumulators of the record's windows (event
 * time, tumbling or sliding; the other kinds read other states first). */
static void w_prefetch(tm_op *op, int64_t ts, const uint8_t *kb, size_t kl, uint32_t h)
{
	const win_op *w = op->impl;
	const fl_window_spec *s = w->spec;
	if (s->time != FL_EVENT_TIME || w->keep || ts < INT64_MIN / 2 || ts > INT64_MAX / 2 ||
	    (s->kind != FL_WINDOW_TUMBLING && s->kind != FL_WINDOW_SLIDING))
		return;
	bool all = !w->ends || tm_ends_size(w->ends) > PREFETCH_ALL_ABOVE;
	int64_t size = s->size_ms, slide = s->kind == FL_WINDOW_SLIDING ? s->slide_ms : size;
	for (int64_t start = start_of(ts, slide); start > ts - size; start -= slide) {
		uint8_t ns[NS_LEN];
		put_be(ns, start);
		put_be(ns + 8, start + size);
		st_key k = win_key(op, w, kb, kl, h, ns);
		st_prefetch_key(op->state, &k);
		if (!all)
			break;
	}
}

static int w_process(tm_op *op, const fl_row *in)
{
	/* The key as process_op.c encodes it: the partitioner's bytes. */
	tm_chain *c = op->chain;
	fl_row k;
	k.nfields = 0;
	if (op->key->by_fn) {
		int rc = op->key_fn(&c->ctx, in, &k);
		if (rc < 0)
			return tm_chain_fail(
			    c, c->ctx.user_failed ? FL_EUSER : rc,
			    "key selector %s() of '%s' failed: %s", op->key->fn_symbol,
			    op->node->name, c->ctx.user_failed ? c->ctx.user_msg : fl_strerror(rc));
	} else {
		if (op->key->field >= in->nfields)
			return tm_chain_fail(
			    c, FL_EINVAL,
			    "key field %u of '%s' is missing: the record has %u fields",
			    op->key->field, op->node->name, in->nfields);
		k.nfields = 1;
		k.types[0] = in->types[op->key->field];
		k.values[0] = in->values[op->key->field];
	}
	uint8_t buf[ST_KEY_MAX];
	size_t n = row_encode(&k, buf, sizeof(buf));
	if (n == 0)
		return tm_chain_fail(c, FL_ERANGE,
				     "the key of a record for '%s' is over the %d bytes a window's "
				     "key may have",
				     op->node->name, ST_KEY_MAX - NS_LEN - 8);
	return w_process_keyed(op, in, buf, n, kg_murmur3_32(buf, n, 0));
}

/* A window timer: fire at end - 1, clear at end - 1 + lateness (both at
 * lateness 0). */
static int w_fire(tm_op *op, win_op *w, const tm_timer *tm)
{
	if (tm->nslen != NS_LEN)
		return tm_chain_fail(op->chain, FL_EPROTO,
				     "operator '%s': a window timer with a namespace of %zu bytes",
				     op->node->name, tm->nslen);
	int64_t start = get_be(tm->ns), end = get_be((const uint8_t *)tm->ns + 8);
	/* A restored namespace is a file's bytes: the window arithmetic must
	 * not overflow on one that is not a window. */
	if (start >= end || start < INT64_MIN / 2 || end > INT64_MAX / 2)
		return tm_chain_fail(op->chain, FL_EPROTO,
				     "operator '%s': a window timer for [%lld, %lld): not a window",
				     op->node->name, (long long)start, (long long)end);
	int64_t lateness = w->spec->time == FL_EVENT_TIME ? w->spec->allowed_lateness_ms : 0;
	int trigger = op->node->win.trigger;
	uint8_t ns[NS_LEN];
	memcpy(ns, tm->ns, NS_LEN);
	memcpy(w->key, tm->key, tm->klen);
	size_t kl = tm->klen;
	uint32_t h = tm->hash;
	int64_t time = tm->time; /* tm dies at the timer service's next call */
	ks_set_key(w->ks, w->key, kl, h);
	st_key k = win_key(op, w, w->key, kl, h, ns);
	int rc = 0;
	/* Trigger.onEventTime / onProcessingTime: the default trigger fires
	 * at end - 1, a count trigger never on time, a continuous one at end
	 * - 1 and at its next firing (then registers the one after). */
	bool fire = trigger != FL_TRIGGER_COUNT && time == end - 1;
	if (!fire && trigger >= FL_TRIGGER_CONTINUOUS_EVENT_TIME) {
		int64_t next;
		if ((rc = trigger_get(op, w, &k, &next)) == 1 && next == time) {
			fire = true;
			rc = continuous_next(op, w, &k, time, end);
		}
		rc = rc < 0 ? rc : 0;
	}
	/* Many windows may fire at one watermark: each gets the scratch
	 * memory afresh, as each record does. */
	size_t used = op->chain->ctx.scratch_used;
	if (rc == 0 && fire)
		rc = fire_window(op, w, &k, start, end);
	op->chain->ctx.scratch_used = used;
	/* Past the cleanup time too: a timer restored from a job with more
	 * allowed lateness than this one's. */
	if (rc == 0 && time >= end - 1 + lateness) {
		rc = clear_window(op, w, &k);
		if (rc == 0 && trigger != FL_TRIGGER_DEFAULT)
			rc = trigger_clear(op, w, &k);
		if (rc == 0 && w->spec->kind == FL_WINDOW_SESSION)
			rc = session_cleared(op, w, w->key, kl, h, start, end);
	}
	ks_end_record(w->ks);
	return rc ? rc : tm_chain_check(op->chain);
}

/* How many windows ahead of the one firing w_watermark prefetches. */
#define FIRE_AHEAD 8

/* Takes ends' earliest entry if at most upto into *tm (w->ends set): 1, or
 * 0 when none is due. Prefetches the accumulator of the window
 * FIRE_AHEAD places later: at 100 K keys each is a cache miss. */
static int pop_end(tm_op *op, win_op *w, int64_t upto, tm_timer *tm)
{
	int64_t time;
	const void *qk;
	size_t ql;
	uint32_t h;
	if (!w->ends || tm_ends_pop(w->ends, upto, &time, &qk, &ql, &h) == 0)
		return 0;
	size_t kl = ql - NS_LEN; /* push_end's key | window */
	*tm = (tm_timer){.time = time,
			 .key = qk,
			 .klen = kl,
			 .ns = (const uint8_t *)qk + kl,
			 .nslen = NS_LEN,
			 .hash = h};
	const void *ak;
	size_t al;
	uint32_t ah;
	if (tm_ends_ahead(w->ends, FIRE_AHEAD, &ak, &al, &ah)) {
		st_key k = win_key(op, w, ak, al - NS_LEN, ah, (const uint8_t *)ak + al - NS_LEN);
		st_prefetch_key(op->state, &k);
	}
	return 1;
}

static int w_watermark(tm_op *op, int64_t wm)
{
	win_op *w = op->impl;
	if (!w || w->spec->time != FL_EVENT_TIME)
		return 0;
	tm_timer tm;
	for (;;) {
		/* The timer service's timers (all of them without implied ones;
		 * with them, those a restore brought) and ends, in time order. */
		int64_t te = w->ends ? tm_ends_peek(w->ends) : INT64_MAX;
		int rc = tm_timers_pop(w->timers, TM_TIMER_EVENT, te < wm ? te : wm, &tm);
		if (rc < 0)
			return tm_chain_fail(op->chain, rc, "%s", tm_timers_error(w->timers)->msg);
		if (rc == 0 && pop_end(op, w, wm, &tm) == 0)
			return 0;
		if ((rc = w_fire(op, w, &tm)) != 0)
			return rc;
	}
}

static int w_proc_timers(tm_op *op, int64_t *deadline)
{
	win_op *w = op->impl;
	if (!w || w->spec->time != FL_PROCESSING_TIME)
		return 0;
	int64_t now = tm_clock_now(&w->clock);
	tm_timer tm;
	int rc = 0;
	for (size_t n = tm_timers_count(w->timers, TM_TIMER_PROC); n > 0; n--) {
		if ((rc = tm_timers_pop(w->timers, TM_TIMER_PROC, now, &tm)) != 1)
			break;
		if ((rc = w_fire(op, w, &tm)) != 0)
			return rc;
	}
	if (rc < 0)
		return tm_chain_fail(op->chain, rc, "%s", tm_timers_error(w->timers)->msg);
	*deadline = tm_clock_deadline(&w->clock, now, tm_timers_peek(w->timers, TM_TIMER_PROC));
	return 0;
}

const tm_op_class tm_window_class = {
    .process = w_process,
    .process_keyed = w_process_keyed,
    .prefetch = w_prefetch,
    .open = w_open,
    .restore = w_restore,
    .snapshot = w_snapshot,
    .close = w_close,
    .fini = w_fini,
    .watermark = w_watermark,
    .proc_timers = w_proc_timers,
};
