/*
 * descriptor_codec.c — the wire form of a task deployment descriptor
 * (common/buf.h encodings), and its decoder for input from a peer.
 *
 *   u32le magic "TDD8", then the fields of td_task in declaration order;
 *   arrays as a count then their elements; strings as cm_wbuf_str.
 *
 * The decoder checks structure as well as bytes: kinds and partitioners
 * known, chained indices pointing forward inside the chain, peer indices
 * inside the peer table, parallelisms and subtask in range, a user function
 * named where the kind needs one, every input of every operator fed exactly
 * once: by one chained operator (its side: 0, or 1 for a two-input one's
 * second) or by network inputs (td_input.op, .side). A chain is then a DAG
 * with its edges pointing forward. A descriptor that passes can be run
 * without further checks.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "graph/descriptor.h"

#define TD_MAGIC                                                                                   \
	0x39444454u /* "TDD9" (2: operator uids, 3: restore shares, 4: incremental,                \
		     * 5: watermark strategies, 6: on_timer functions, windows,                    \
		     * 7: two-input operators, 8: chains as DAGs: inputs name their                \
		     * operator, chained operators their input side; window triggers and          \
		     * evictors; 9: outputs' side output tags) */

static void put_key(cm_wbuf *w, const td_key *k)
{
	cm_wbuf_u8(w, k->by_fn);
	cm_wbuf_uvarint(w, k->field);
	cm_wbuf_str(w, k->fn_symbol);
}

static void put_f64(cm_wbuf *w, double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof(u));
	cm_wbuf_u64le(w, u);
}

int td_encode(const td_task *td, uint8_t **out, size_t *len)
{
	cm_wbuf w;
	cm_wbuf_init(&w, TD_MAX_ENCODED);
	cm_wbuf_u32le(&w, TD_MAGIC);
	cm_wbuf_str(&w, td->job_id);
	cm_wbuf_u64le(&w, td->attempt);
	cm_wbuf_str(&w, td->job_name);
	cm_wbuf_str(&w, td->library);
	cm_wbuf_u8(&w, td->batch);
	cm_wbuf_svarint(&w, td->buffer_timeout_ms);
	cm_wbuf_uvarint(&w, (uint64_t)td->nnodes);
	cm_wbuf_uvarint(&w, (uint64_t)td->vertex);
	cm_wbuf_str(&w, td->vertex_name);
	cm_wbuf_uvarint(&w, (uint64_t)td->subtask);
	cm_wbuf_uvarint(&w, (uint64_t)td->parallelism);
	cm_wbuf_uvarint(&w, (uint64_t)td->max_parallelism);
	cm_wbuf_u64le(&w, td->restore_id);
	cm_wbuf_str(&w, td->state_backend);
	cm_wbuf_u8(&w, (td->incremental ? 1 : 0) | (td->at_least_once ? 2 : 0) |
			   (td->final_checkpoint ? 4 : 0));

	cm_wbuf_uvarint(&w, td->npeers);
	for (size_t i = 0; i < td->npeers; i++) {
		cm_wbuf_str(&w, td->peers[i].resource_id);
		cm_wbuf_str(&w, td->peers[i].data_address);
	}
	cm_wbuf_uvarint(&w, td->ninputs);
	for (size_t i = 0; i < td->ninputs; i++) {
		const td_input *in = &td->inputs[i];
		cm_wbuf_uvarint(&w, (uint64_t)in->edge);
		cm_wbuf_uvarint(&w, (uint64_t)in->src_parallelism);
		cm_wbuf_u8(&w, in->forward);
		cm_wbuf_uvarint(&w, in->edge_base);
		cm_wbuf_uvarint(&w, (uint64_t)in->op);
		cm_wbuf_u8(&w, in->side);
	}
	cm_wbuf_uvarint(&w, td->nops);
	for (size_t i = 0; i < td->nops; i++) {
		const td_op *op = &td->ops[i];
		cm_wbuf_uvarint(&w, (uint64_t)op->node);
		cm_wbuf_u8(&w, (uint8_t)op->kind);
		cm_wbuf_str(&w, op->name);
		cm_wbuf_str(&w, op->uid);
		cm_wbuf_str(&w, op->fn_symbol);
		put_key(&w, &op->key);
		cm_wbuf_svarint(&w, op->gen_count);
		put_f64(&w, op->gen_rate);
		cm_wbuf_uvarint(&w, op->npaths);
		for (size_t p = 0; p < op->npaths; p++) {
			cm_wbuf_str(&w, op->paths[p]);
			cm_wbuf_svarint(&w, op->sizes[p]);
		}
		cm_wbuf_uvarint(&w, op->field);
		cm_wbuf_str(&w, op->dir);
		/* 0: no strategy, else its kind + 1 */
		cm_wbuf_uvarint(&w, op->event_time ? (uint64_t)op->wm_kind + 1 : 0);
		cm_wbuf_uvarint(&w, (uint64_t)op->wm_bound_ms);
		cm_wbuf_str(&w, op->ts_symbol);
		cm_wbuf_uvarint(&w, op->ts_field);
		cm_wbuf_uvarint(&w, (uint64_t)op->wm_interval_ms);
		cm_wbuf_uvarint(&w, (uint64_t)op->wm_idle_ms);
		cm_wbuf_str(&w, op->timer_symbol);
		cm_wbuf_uvarint(&w, (uint64_t)op->win.kind);
		cm_wbuf_uvarint(&w, (uint64_t)op->win.time);
		cm_wbuf_uvarint(&w, (uint64_t)op->win.size_ms);
		cm_wbuf_uvarint(&w, (uint64_t)op->win.slide_ms);
		cm_wbuf_uvarint(&w, (uint64_t)op->win.lateness_ms);
		for (int f = 0; f < SG_WIN_NFNS; f++)
			cm_wbuf_str(&w, op->win.fns[f]);
		cm_wbuf_uvarint(&w, (uint64_t)op->win.trigger);
		cm_wbuf_uvarint(&w, (uint64_t)op->win.trigger_n);
		cm_wbuf_u8(&w, op->win.purging);
		cm_wbuf_uvarint(&w, (uint64_t)op->win.evictor);
		cm_wbuf_uvarint(&w, (uint64_t)op->win.evictor_n);
		cm_wbuf_u8(&w, op->win.evict_after);
		cm_wbuf_str(&w, op->fn2_symbol);
		put_key(&w, &op->key2);
		cm_wbuf_str(&w, op->bstate_name);
		cm_wbuf_svarint(&w, op->lower_ms);
		cm_wbuf_svarint(&w, op->upper_ms);
		cm_wbuf_uvarint(&w, op->nchained);
		for (size_t c = 0; c < op->nchained; c++) {
			cm_wbuf_uvarint(&w, (uint64_t)op->chained[c]);
			cm_wbuf_u8(&w, op->chained_side ? op->chained_side[c] : 0);
		}
		cm_wbuf_uvarint(&w, op->nouts);
		for (size_t k = 0; k < op->nouts; k++) {
			const td_output *o = &op->outs[k];
			cm_wbuf_uvarint(&w, (uint64_t)o->edge);
			cm_wbuf_u8(&w, (uint8_t)o->part);
			put_key(&w, &o->key);
			cm_wbuf_str(&w, o->dst_name);
			cm_wbuf_uvarint(&w, (uint64_t)o->dst_parallelism);
			cm_wbuf_uvarint(&w, (uint64_t)o->dst_max_parallelism);
			cm_wbuf_uvarint(&w, o->edge_base);
			cm_wbuf_uvarint(&w, (uint64_t)o->nconsumers);
			for (int c = 0; c < o->nconsumers; c++)
				cm_wbuf_uvarint(&w, o->consumer_peer[c]);
			cm_wbuf_str(&w, o->tag[0] ? o->tag : NULL); /* NULL: the main output */
		}
		const td_restore *rs = &op->restore;
		cm_wbuf_u8(&w, rs->restored);
		cm_wbuf_bytes(&w, rs->list, rs->list_len);
		cm_wbuf_uvarint(&w, rs->nfiles);
		for (size_t f = 0; f < rs->nfiles; f++) {
			cm_wbuf_str(&w, rs->files[f].path);
			cm_wbuf_uvarint(&w, (uint64_t)rs->files[f].kg_first);
			cm_wbuf_uvarint(&w, (uint64_t)rs->files[f].kg_last);
		}
	}
	int rc = cm_wbuf_error(&w);
	if (rc == 0 && !(*out = cm_wbuf_take(&w, len)))
		rc = cm_wbuf_error(&w) ? cm_wbuf_error(&w) : FL_ENOMEM;
	cm_wbuf_fini(&w);
	return rc;
}

/* --------------------------------------------------------------- decode */

/* Reads a uvarint that must lie in [lo, hi]; records the error otherwise. */
static int64_t get_int(cm_rbuf *r, const char *what, int64_t lo, int64_t hi)
{
	size_t at = cm_rbuf_offset(r);
	uint64_t v = cm_rbuf_uvarint(r);
	if (cm_rbuf_error(r))
		return lo;
	if (v > (uint64_t)INT64_MAX || (int64_t)v < lo || (int64_t)v > hi) {
		cm_rbuf_fail(r, "%s %llu out of range %lld..%lld at byte %zu", what,
			     (unsigned long long)v, (long long)lo, (long long)hi, at);
		return lo;
	}
	return (int64_t)v;
}

static char *get_str(cm_rbuf *r)
{
	char *s = NULL;
	cm_rbuf_strdup(r, TD_MAX_STRING, &s);
	return s;
}

/* A string that must be present (not NULL). */
static char *get_req_str(cm_rbuf *r, const char *what)
{
	size_t at = cm_rbuf_offset(r);
	char *s = get_str(r);
	if (!s && !cm_rbuf_error(r))
		cm_rbuf_fail(r, "%s missing at byte %zu", what, at);
	return s;
}

static void get_key(cm_rbuf *r, td_key *k)
{
	size_t at = cm_rbuf_offset(r);
	uint8_t by_fn = cm_rbuf_u8(r);
	k->field = (uint32_t)get_int(r, "key field", 0, FL_ROW_MAX_FIELDS - 1);
	k->fn_symbol = get_str(r);
	if (cm_rbuf_error(r))
		return;
	if (by_fn > 1 || (by_fn && !k->fn_symbol))
		cm_rbuf_fail(r, "malformed key at byte %zu", at);
	k->by_fn = by_fn;
}

static double get_f64(cm_rbuf *r)
{
	uint64_t u = cm_rbuf_u64le(r);
	double d;
	memcpy(&d, &u, sizeof(d));
	return d;
}

static bool kind_known(uint8_t k)
{
	return k <= SG_KIND_LAST;
}

static bool kind_needs_fn(enum sg_kind k)
{
	return k == SG_SOURCE_GENERATOR || k == SG_MAP || k == SG_FLAT_MAP || k == SG_FILTER ||
	       k == SG_REDUCE || k == SG_PROCESS || k == SG_CO_MAP || k == SG_CO_FLAT_MAP ||
	       k == SG_CO_PROCESS || k == SG_CO_BROADCAST || k == SG_WINDOW_JOIN ||
	       k == SG_INTERVAL_JOIN || k == SG_BROADCAST_PROCESS || k == SG_WINDOW_COGROUP;
}

/* Kinds with a function for their second input. */
static bool kind_needs_fn2(enum sg_kind k)
{
	return k == SG_CO_MAP || k == SG_CO_FLAT_MAP || k == SG_CO_PROCESS ||
	       k == SG_CO_BROADCAST || k == SG_BROADCAST_PROCESS;
}

/* Kinds that keep the key of their second input. */
static bool kind_has_key2(enum sg_kind k)
{
	return k == SG_CO_PROCESS || k == SG_WINDOW_JOIN || k == SG_INTERVAL_JOIN ||
	       k == SG_WINDOW_COGROUP;
}

static void get_output(cm_rbuf *r, td_output *o, const td_task *td)
{
	o->edge = (int)get_int(r, "edge", 0, INT32_MAX);
	size_t at = cm_rbuf_offset(r);
	uint8_t part = cm_rbuf_u8(r);
	if (!cm_rbuf_error(r) && (part < SG_PART_FORWARD || part > SG_PART_BROADCAST))
		cm_rbuf_fail(r, "unknown partitioner %u at byte %zu", part, at);
	o->part = (enum sg_partitioner)part;
	get_key(r, &o->key);
	o->dst_name = get_req_str(r, "consumer name");
	o->dst_parallelism = (int)get_int(r, "consumer parallelism", 1, TD_MAX_PARALLELISM);
	o->dst_max_parallelism =
	    (int)get_int(r, "consumer max parallelism", 1, TD_MAX_PARALLELISM);
	o->edge_base = cm_rbuf_uvarint(r);
	at = cm_rbuf_offset(r);
	int n = (int)get_int(r, "consumer count", 1, TD_MAX_PARALLELISM);
	if (cm_rbuf_error(r))
		return;
	if (n != (o->part == SG_PART_FORWARD ? 1 : o->dst_parallelism) ||
	    o->dst_parallelism > o->dst_max_parallelism) {
		cm_rbuf_fail(r, "consumer count %d does not match parallelism %d at byte %zu", n,
			     o->dst_parallelism, at);
		return;
	}
	if (o->part == SG_PART_FORWARD && o->dst_parallelism != td->parallelism) {
		cm_rbuf_fail(r, "forward edge between parallelism %d and %d at byte %zu",
			     td->parallelism, o->dst_parallelism, at);
		return;
	}
	if (!(o->consumer_peer = calloc((size_t)n, sizeof(uint32_t)))) {
		cm_rbuf_fail(r, "out of memory");
		return;
	}
	o->nconsumers = n;
	for (int c = 0; c < n; c++)
		o->consumer_peer[c] = (uint32_t)get_int(r, "peer index", 0, (int64_t)td->npeers - 1);
	char *tag = get_str(r);
	if (tag && !cm_rbuf_error(r)) {
		if (strlen(tag) == 0 || strlen(tag) > FL_TAG_MAX)
			cm_rbuf_fail(r, "a side output tag of %zu bytes (1 to %d)", strlen(tag),
				     FL_TAG_MAX);
		else
			memcpy(o->tag, tag, strlen(tag) + 1);
	}
	free(tag);
}

/* An operator's restore share: only in a restored task, key-group ranges
 * inside the max parallelism, files named by absolute paths. */
static void get_restore(cm_rbuf *r, td_restore *rs, const td_task *td)
{
	size_t at = cm_rbuf_offset(r);
	uint8_t restored = cm_rbuf_u8(r);
	if (!cm_rbuf_error(r) && (restored > 1 || (restored && td->restore_id == 0)))
		cm_rbuf_fail(r, "malformed restore flag at byte %zu", at);
	rs->restored = restored == 1;
	const uint8_t *p;
	size_t n;
	if (cm_rbuf_bytes(r, TD_MAX_ENCODED, &p, &n) == 0 && n) {
		if (!rs->restored)
			cm_rbuf_fail(r, "operator state for an operator not restored at byte %zu", at);
		else if (!(rs->list = malloc(n)))
			cm_rbuf_fail(r, "out of memory");
		if (rs->list) {
			memcpy(rs->list, p, n);
			rs->list_len = n;
		}
	}
	size_t nf = cm_rbuf_count(r, TD_MAX_PARALLELISM, 3);
	if (nf && !cm_rbuf_error(r)) {
		if (!rs->restored) {
			cm_rbuf_fail(r, "state files for an operator not restored");
			return;
		}
		if (!(rs->files = calloc(nf, sizeof(*rs->files)))) {
			cm_rbuf_fail(r, "out of memory");
			return;
		}
		rs->nfiles = nf;
		for (size_t f = 0; f < nf && !cm_rbuf_error(r); f++) {
			td_restore_file *x = &rs->files[f];
			at = cm_rbuf_offset(r);
			x->path = get_req_str(r, "state file");
			x->kg_first = (int)get_int(r, "key group", 0, td->max_parallelism - 1);
			x->kg_last = (int)get_int(r, "key group", 0, td->max_parallelism - 1);
			if (!cm_rbuf_error(r) && (x->path[0] != '/' || x->kg_first > x->kg_last))
				cm_rbuf_fail(r, "malformed state file entry at byte %zu", at);
		}
	}
}

static void get_op(cm_rbuf *r, td_op *op, size_t index, td_task *td)
{
	op->node = (int)get_int(r, "node", 0, td->nnodes - 1);
	size_t at = cm_rbuf_offset(r);
	uint8_t kind = cm_rbuf_u8(r);
	if (!cm_rbuf_error(r) && !kind_known(kind))
		cm_rbuf_fail(r, "unknown operator kind %u at byte %zu", kind, at);
	op->kind = (enum sg_kind)kind;
	op->name = get_req_str(r, "operator name");
	op->uid = get_req_str(r, "operator uid");
	at = cm_rbuf_offset(r);
	op->fn_symbol = get_str(r);
	if (!cm_rbuf_error(r) && kind_needs_fn(op->kind) && !op->fn_symbol)
		cm_rbuf_fail(r, "operator without its function at byte %zu", at);
	get_key(r, &op->key);
	op->gen_count = cm_rbuf_svarint(r);
	at = cm_rbuf_offset(r);
	op->gen_rate = get_f64(r);
	if (!cm_rbuf_error(r) && !(op->gen_rate >= 0 && isfinite(op->gen_rate)))
		cm_rbuf_fail(r, "bad generator rate at byte %zu", at);
	size_t np = cm_rbuf_count(r, TD_MAX_PATHS, 2);
	if (np && !cm_rbuf_error(r)) {
		op->paths = calloc(np, sizeof(*op->paths));
		op->sizes = calloc(np, sizeof(*op->sizes));
		if (!op->paths || !op->sizes) {
			cm_rbuf_fail(r, "out of memory");
		} else {
			op->npaths = np;
			for (size_t p = 0; p < np; p++) {
				op->paths[p] = get_req_str(r, "input path");
				op->sizes[p] = cm_rbuf_svarint(r);
			}
		}
	}
	if (!cm_rbuf_error(r) && op->kind == SG_SOURCE_TEXT_FILE && op->npaths == 0)
		cm_rbuf_fail(r, "text source without input files");
	if (!cm_rbuf_error(r) && op->kind == SG_SOURCE_SOCKET &&
	    (op->npaths != 1 || op->gen_count < -1))
		cm_rbuf_fail(r, "socket source without one address or with retries below -1");
	op->field = (uint32_t)get_int(r, "field", 0, FL_ROW_MAX_FIELDS - 1);
	at = cm_rbuf_offset(r);
	op->dir = get_str(r);
	if (!cm_rbuf_error(r) && op->kind == SG_SINK_TEXT_FILE && !op->dir)
		cm_rbuf_fail(r, "text sink without a directory at byte %zu", at);
	int wk = (int)get_int(r, "watermark kind", 0, 3);
	op->event_time = wk > 0;
	op->wm_kind = wk > 0 ? wk - 1 : 0;
	op->wm_bound_ms = get_int(r, "out-of-orderness", 0, INT64_MAX / 4);
	op->ts_symbol = get_str(r);
	op->ts_field = (uint32_t)get_int(r, "timestamp field", 0, FL_ROW_MAX_FIELDS - 1);
	op->wm_interval_ms = get_int(r, "watermark interval", 0, INT64_MAX / 4);
	at = cm_rbuf_offset(r);
	op->wm_idle_ms = get_int(r, "idle timeout", 0, INT64_MAX / 4);
	if (!cm_rbuf_error(r) && op->wm_idle_ms && !op->event_time)
		cm_rbuf_fail(r, "an idle timeout without a watermark strategy at byte %zu", at);
	at = cm_rbuf_offset(r);
	op->timer_symbol = get_str(r);
	if (!cm_rbuf_error(r) && op->timer_symbol && op->kind != SG_PROCESS &&
	    op->kind != SG_CO_PROCESS && op->kind != SG_CO_BROADCAST)
		cm_rbuf_fail(r, "an on_timer function on an operator other than a keyed process function at byte %zu", at);
	at = cm_rbuf_offset(r);
	op->win.kind = (int)get_int(r, "window kind", 0, 4);
	op->win.time = (int)get_int(r, "window time", 0, 1);
	op->win.size_ms = get_int(r, "window size", 0, INT64_MAX / 4);
	op->win.slide_ms = get_int(r, "window slide", 0, INT64_MAX / 4);
	op->win.lateness_ms = get_int(r, "allowed lateness", 0, INT64_MAX / 4);
	for (int f = 0; f < SG_WIN_NFNS; f++)
		op->win.fns[f] = get_str(r);
	op->win.trigger =
	    (int)get_int(r, "window trigger", 0, FL_TRIGGER_CONTINUOUS_PROCESSING_TIME);
	op->win.trigger_n = get_int(r, "window trigger's count or interval", 0, INT64_MAX / 4);
	uint8_t purging = cm_rbuf_u8(r);
	op->win.evictor = (int)get_int(r, "window evictor", 0, FL_EVICTOR_TIME);
	op->win.evictor_n = get_int(r, "window evictor's count or time", 0, INT64_MAX / 4);
	uint8_t after = cm_rbuf_u8(r);
	if (!cm_rbuf_error(r) && (purging > 1 || after > 1))
		cm_rbuf_fail(r, "a window's purging or evict-after flag is not 0 or 1 at byte %zu",
			     at);
	op->win.purging = purging == 1;
	op->win.evict_after = after == 1;
	bool win_extra = op->win.trigger || op->win.trigger_n || op->win.purging ||
			 op->win.evictor || op->win.evictor_n || op->win.evict_after;
	if (!cm_rbuf_error(r) && win_extra && op->kind != SG_WINDOW)
		cm_rbuf_fail(r,
			     "a window trigger or evictor on an operator that is not a window at "
			     "byte %zu",
			     at);
	if (!cm_rbuf_error(r) && (op->kind == SG_WINDOW_JOIN || op->kind == SG_WINDOW_COGROUP)) {
		if ((op->win.kind != FL_WINDOW_TUMBLING && op->win.kind != FL_WINDOW_SLIDING &&
		     op->win.kind != FL_WINDOW_SESSION) ||
		    op->win.time != FL_EVENT_TIME || op->win.size_ms <= 0 ||
		    op->win.size_ms > INT64_MAX / 4 || op->win.slide_ms < 0 ||
		    op->win.slide_ms > op->win.size_ms ||
		    (op->win.kind == FL_WINDOW_SLIDING && op->win.slide_ms == 0) ||
		    (op->win.kind == FL_WINDOW_SESSION && op->win.slide_ms != 0) ||
		    op->win.lateness_ms != 0)
			cm_rbuf_fail(r, "a malformed window join at byte %zu", at);
		for (int f = 0; f < SG_WIN_NFNS; f++)
			if (op->win.fns[f] && !cm_rbuf_error(r))
				cm_rbuf_fail(r, "a window join with window functions at byte %zu",
					     at);
	} else if (!cm_rbuf_error(r) && op->kind == SG_WINDOW) {
		unsigned fns = 0;
		for (int f = 0; f < SG_WIN_NFNS; f++)
			fns |= op->win.fns[f] ? 1u << f : 0;
		char why[200];
		if (sg_window_check(&op->win, fns, why, sizeof(why)) != 0)
			cm_rbuf_fail(r, "a window at byte %zu: %s", at, why);
	} else if (!cm_rbuf_error(r) && op->win.kind != 0) {
		cm_rbuf_fail(r, "a window spec on an operator that is not a window at byte %zu", at);
	}
	at = cm_rbuf_offset(r);
	op->fn2_symbol = get_str(r);
	if (!cm_rbuf_error(r) && kind_needs_fn2(op->kind) != (op->fn2_symbol != NULL))
		cm_rbuf_fail(r, "%s function for a second input at byte %zu",
			     op->fn2_symbol ? "an unexpected" : "a missing", at);
	at = cm_rbuf_offset(r);
	get_key(r, &op->key2);
	if (!cm_rbuf_error(r) && !kind_has_key2(op->kind) && (op->key2.by_fn || op->key2.field))
		cm_rbuf_fail(r, "a second key on an operator without one at byte %zu", at);
	at = cm_rbuf_offset(r);
	op->bstate_name = get_str(r);
	if (!cm_rbuf_error(r) && (op->kind == SG_CO_BROADCAST ||
				  op->kind == SG_BROADCAST_PROCESS) != (op->bstate_name != NULL))
		cm_rbuf_fail(r, "%s broadcast state name at byte %zu",
			     op->bstate_name ? "an unexpected" : "a missing", at);
	at = cm_rbuf_offset(r);
	op->lower_ms = cm_rbuf_svarint(r);
	op->upper_ms = cm_rbuf_svarint(r);
	if (!cm_rbuf_error(r) && (op->lower_ms > op->upper_ms || op->lower_ms < -(INT64_MAX / 4) ||
				  op->upper_ms > INT64_MAX / 4 ||
				  (op->kind != SG_INTERVAL_JOIN && (op->lower_ms || op->upper_ms))))
		cm_rbuf_fail(r, "malformed interval join bounds at byte %zu", at);
	size_t nc = cm_rbuf_count(r, td->nops, 1);
	if (nc && !cm_rbuf_error(r)) {
		if (!(op->chained = calloc(nc, sizeof(int)))) {
			cm_rbuf_fail(r, "out of memory");
		} else {
			op->nchained = nc;
			/* Chained operators come later in topological order. */
			bool any = false;
			uint8_t *sides = calloc(nc, 1);
			if (!sides)
				cm_rbuf_fail(r, "out of memory");
			for (size_t c = 0; c < nc && sides; c++) {
				op->chained[c] = (int)get_int(r, "chained operator", (int64_t)index + 1,
							      (int64_t)td->nops - 1);
				sides[c] = cm_rbuf_u8(r);
				if (!cm_rbuf_error(r) && sides[c] > 1)
					cm_rbuf_fail(r, "chained operator %d fed on input %u",
						     op->chained[c], sides[c] + 1u);
				any |= sides[c] != 0;
			}
			if (any)
				op->chained_side = sides;
			else
				free(sides);
		}
	}
	size_t no = cm_rbuf_count(r, 1024, 8);
	if (no && !cm_rbuf_error(r)) {
		if (!(op->outs = calloc(no, sizeof(*op->outs)))) {
			cm_rbuf_fail(r, "out of memory");
		} else {
			op->nouts = no;
			for (size_t k = 0; k < no && !cm_rbuf_error(r); k++) {
				get_output(r, &op->outs[k], td);
				if (!cm_rbuf_error(r) && k > 0 && op->outs[k - 1].tag[0] &&
				    !op->outs[k].tag[0])
					cm_rbuf_fail(r, "a main output after a side output");
			}
		}
	}
	get_restore(r, &op->restore, td);
}

/* A source kind that may share its task with other sources (the task
 * refuses a text source's stream input when it comes to read it). */
static bool shares_a_task(int kind)
{
	return kind == SG_SOURCE_GENERATOR || kind == SG_SOURCE_TEXT_FILE;
}

/*
 * Every input of every operator (a source's none, a two-input one's two)
 * fed exactly once: by one chained operator, or by the network (any number
 * of input edges, a union's). Two chained feeds of one input would pass it
 * every record twice (exponentially often in a crafted chain); one fed by
 * nothing would wait forever for its end.
 */
static void check_feeds(cm_rbuf *r, const td_task *td)
{
	/* per operator and side: bit 0 fed from the network, the rest a count
	 * of chained feeds */
	uint8_t *fed = calloc(td->nops, 2);
	if (!fed) {
		cm_rbuf_fail(r, "out of memory");
		return;
	}
	for (size_t i = 0; i < td->ninputs && !cm_rbuf_error(r); i++) {
		const td_input *in = &td->inputs[i];
		if ((size_t)in->op >= td->nops ||
		    (in->side && !sg_kind_is_two_input(td->ops[in->op].kind)))
			cm_rbuf_fail(
			    r, "input %zu feeds input %u of operator %d, which has no such input",
			    i, in->side + 1u, in->op);
		else if (sg_kind_is_source(td->ops[in->op].kind))
			/* a source beside a gate reads on its own; the gate
			 * would deliver to an operator that takes nothing */
			cm_rbuf_fail(r, "input %zu feeds source operator %d", i, in->op);
		else
			fed[in->op * 2 + in->side] |= 1;
	}
	for (size_t i = 0; i < td->nops && !cm_rbuf_error(r); i++) {
		const td_op *op = &td->ops[i];
		for (size_t c = 0; c < op->nchained && !cm_rbuf_error(r); c++) {
			int to = op->chained[c], sd = op->chained_side ? op->chained_side[c] : 0;
			if (sg_kind_is_source(td->ops[to].kind))
				cm_rbuf_fail(r, "operator %d chained into source %d", (int)i, to);
			else if (sd && !sg_kind_is_two_input(td->ops[to].kind))
				cm_rbuf_fail(
				    r, "operator %d chained into a second input it does not have",
				    to);
			else if (fed[to * 2 + sd] & ~1)
				cm_rbuf_fail(r,
					     "operator %d chained from two operators into input %d",
					     to, sd + 1);
			else
				fed[to * 2 + sd] += 2;
		}
	}
	for (size_t i = 0; i < td->nops && !cm_rbuf_error(r); i++) {
		if (sg_kind_is_source(td->ops[i].kind))
			continue;
		for (int sd = 0; sd < (sg_kind_is_two_input(td->ops[i].kind) ? 2 : 1); sd++) {
			uint8_t f = fed[i * 2 + sd];
			if (f == 0)
				cm_rbuf_fail(r, "input %d of operator %zu ('%s') is fed by nothing",
					     sd + 1, i, td->ops[i].name ? td->ops[i].name : "?");
			else if (f != 1 && (f & 1))
				cm_rbuf_fail(
				    r,
				    "input %d of operator %zu is fed both by a chained operator "
				    "and from the network",
				    sd + 1, i);
			if (cm_rbuf_error(r))
				break;
		}
	}
	free(fed);
}

int td_decode(const uint8_t *buf, size_t len, td_task **out, cm_err *err)
{
	*out = NULL;
	if (len > TD_MAX_ENCODED)
		return cm_err_set(err, FL_EPROTO,
				  "task deployment descriptor of %zu bytes, more than the %u allowed",
				  len, TD_MAX_ENCODED);
	td_task *td = calloc(1, sizeof(*td));
	if (!td)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	cm_rbuf r;
	cm_rbuf_init(&r, buf, len);
	if (cm_rbuf_u32le(&r) != TD_MAGIC && !cm_rbuf_error(&r))
		cm_rbuf_fail(&r, "not a task deployment descriptor (bad magic)");
	char *job_id = get_req_str(&r, "job id");
	if (job_id && (strlen(job_id) != 32 || strspn(job_id, "0123456789abcdef") != 32))
		cm_rbuf_fail(&r, "malformed job id");
	if (job_id && !cm_rbuf_error(&r))
		memcpy(td->job_id, job_id, 33);
	free(job_id);
	td->attempt = cm_rbuf_u64le(&r);
	td->job_name = get_req_str(&r, "job name");
	td->library = get_req_str(&r, "library");
	uint8_t batch = cm_rbuf_u8(&r);
	td->batch = batch != 0;
	td->buffer_timeout_ms = cm_rbuf_svarint(&r);
	if (!cm_rbuf_error(&r) && (batch > 1 || td->buffer_timeout_ms < 0))
		cm_rbuf_fail(&r, "malformed job settings");
	td->nnodes = (int)get_int(&r, "node count", 1, 1 << 20);
	td->vertex = (int)get_int(&r, "vertex", 0, INT32_MAX);
	td->vertex_name = get_req_str(&r, "vertex name");
	td->subtask = (int)get_int(&r, "subtask", 0, TD_MAX_PARALLELISM - 1);
	td->parallelism = (int)get_int(&r, "parallelism", 1, TD_MAX_PARALLELISM);
	td->max_parallelism = (int)get_int(&r, "max parallelism", 1, TD_MAX_PARALLELISM);
	td->restore_id = cm_rbuf_u64le(&r);
	size_t sb_at = cm_rbuf_offset(&r);
	td->state_backend = get_str(&r);
	if (td->state_backend && strcmp(td->state_backend, "hashmap") != 0 &&
	    strcmp(td->state_backend, "lmdb") != 0)
		cm_rbuf_fail(&r, "unknown state backend at byte %zu", sb_at);
	uint8_t ckf = cm_rbuf_u8(&r);
	if (ckf > 7)
		cm_rbuf_fail(&r, "checkpoint flags %u at byte %zu", ckf, cm_rbuf_offset(&r) - 1);
	td->incremental = (ckf & 1) != 0;
	td->at_least_once = (ckf & 2) != 0;
	td->final_checkpoint = (ckf & 4) != 0;
	if (!cm_rbuf_error(&r) &&
	    (td->subtask >= td->parallelism || td->parallelism > td->max_parallelism))
		cm_rbuf_fail(&r, "subtask %d of parallelism %d (max %d) is out of range", td->subtask,
			     td->parallelism, td->max_parallelism);

	size_t np = cm_rbuf_count(&r, TD_MAX_PEERS, 2);
	if (np && !cm_rbuf_error(&r)) {
		if (!(td->peers = calloc(np, sizeof(*td->peers)))) {
			cm_rbuf_fail(&r, "out of memory");
		} else {
			td->npeers = np;
			for (size_t i = 0; i < np; i++) {
				td->peers[i].resource_id = get_req_str(&r, "peer resource id");
				td->peers[i].data_address = get_req_str(&r, "peer address");
			}
		}
	}
	size_t ni = cm_rbuf_count(&r, 1024, 4);
	if (ni && !cm_rbuf_error(&r)) {
		if (!(td->inputs = calloc(ni, sizeof(*td->inputs)))) {
			cm_rbuf_fail(&r, "out of memory");
		} else {
			td->ninputs = ni;
			for (size_t i = 0; i < ni; i++) {
				td_input *in = &td->inputs[i];
				in->edge = (int)get_int(&r, "edge", 0, INT32_MAX);
				in->src_parallelism =
				    (int)get_int(&r, "producer parallelism", 1, TD_MAX_PARALLELISM);
				uint8_t fwd = cm_rbuf_u8(&r);
				in->edge_base = cm_rbuf_uvarint(&r);
				in->op =
				    (int)get_int(&r, "operator of an input", 0, TD_MAX_OPS - 1);
				uint8_t side = cm_rbuf_u8(&r);
				if (!cm_rbuf_error(&r) &&
				    (fwd > 1 || (fwd && in->src_parallelism != td->parallelism) ||
				     side > 1))
					cm_rbuf_fail(&r, "malformed input %zu", i);
				in->forward = fwd == 1;
				in->side = side;
			}
		}
	}
	size_t no = cm_rbuf_count(&r, TD_MAX_OPS, 8);
	if (!cm_rbuf_error(&r) && no == 0)
		cm_rbuf_fail(&r, "a task without operators");
	if (no && !cm_rbuf_error(&r)) {
		if (!(td->ops = calloc(no, sizeof(*td->ops)))) {
			cm_rbuf_fail(&r, "out of memory");
		} else {
			td->nops = no;
			for (size_t i = 0; i < no && !cm_rbuf_error(&r); i++)
				get_op(&r, &td->ops[i], i, td);
		}
	}
	/* The head is a source exactly when the task has no inputs. Sources
	 * after the head come from a two-input operator that chained their
	 * chains: beside a source head or beside an input gate (Flink's
	 * MultipleInputStreamTask with chained sources), every source of the
	 * task then a generator or a text file source, the only ones one
	 * thread serves in turns; none fed by anything (check_feeds). */
	if (!cm_rbuf_error(&r)) {
		bool src = sg_kind_is_source(td->ops[0].kind);
		if (src != (td->ninputs == 0))
			cm_rbuf_fail(&r, "a task whose head %s a source has %zu inputs",
				     src ? "is" : "is not", td->ninputs);
		for (size_t i = 1; i < td->nops && !cm_rbuf_error(&r); i++)
			if (sg_kind_is_source(td->ops[i].kind) &&
			    (!shares_a_task(td->ops[i].kind) ||
			     (src && !shares_a_task(td->ops[0].kind))))
				cm_rbuf_fail(&r,
					     "source operator %zu chained after another operator (only "
					     "generators and text file sources share a task)",
					     i);
	}
	if (!cm_rbuf_error(&r))
		check_feeds(&r, td);
	int rc = cm_rbuf_end(&r);
	if (rc && strcmp(cm_rbuf_errmsg(&r), "out of memory") == 0)
		rc = FL_ENOMEM;
	if (rc) {
		cm_err_set(err, rc, "malformed task deployment descriptor: %s", cm_rbuf_errmsg(&r));
		td_free(td);
		return rc;
	}
	*out = td;
	return 0;
}
