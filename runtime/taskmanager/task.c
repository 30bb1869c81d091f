/*
 * task.c — building a subtask from the job graph, wiring its channels, and
 * the task thread's input loop.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "config/config.h"
#include "taskmanager/taskmanager.h"
#include "types/codec.h"

const char *tm_task_state_name(enum tm_task_state s)
{
	static const char *const names[] = {"DEPLOYING", "RUNNING", "FINISHED", "CANCELED",
					    "FAILED"};
	return (unsigned)s < 5 ? names[s] : "?";
}

uint64_t tm_channel_id(const tm_placement *pl, const jg_graph *jg, int e, int i, int j)
{
	const jg_edge *edge = &jg->edges[e];
	if (edge->part == SG_PART_FORWARD)
		return pl->channel_base + pl->edge_base[e] + (uint64_t)i;
	int pd = jg->vertices[edge->dst_vertex].parallelism;
	return pl->channel_base + pl->edge_base[e] + (uint64_t)i * (uint64_t)pd + (uint64_t)j;
}

int tm_task_fail(tm_task *t, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rc = cm_err_vset(&t->err, rc ? rc : FL_EINVAL, fmt, ap);
	va_end(ap);
	return rc;
}

static int resolve_op(tm_task *t, tm_op *op, cm_err *err)
{
	const sg_node *n = op->node;
	const char *lib = t->jg->sg->library;
	if (n->fn_symbol) {
		int rc = sg_resolve_function(lib, n->fn_symbol, &op->fn, err);
		if (rc)
			return rc;
	}
	if (sg_kind_is_keyed(n->kind)) {
		/* A keyed operator has exactly one (hash) input edge: its key. */
		op->key = &n->inputs[0].key;
		op->max_parallelism = t->vertex->max_parallelism;
		if (op->key->by_fn) {
			void *fn;
			int rc = sg_resolve_function(lib, op->key->fn_symbol, &fn, err);
			if (rc)
				return rc;
			op->key_fn = (fl_key_fn)fn;
		}
	}
	return 0;
}

int tm_task_new(tm_taskmanager *tm, const char *job_id, const jg_graph *jg, int vertex, int subtask,
		const tm_placement *pl, tm_task **out, cm_err *err)
{
	tm_task *t = calloc(1, sizeof(*t));
	if (!t)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	const jg_vertex *v = &jg->vertices[vertex];
	t->tm = tm;
	snprintf(t->job_id, sizeof(t->job_id), "%s", job_id);
	t->jg = jg;
	t->vertex = v;
	t->subtask = subtask;
	t->placement = pl;
	snprintf(t->name, sizeof(t->name), "%s (%d/%d)", v->name, subtask + 1, v->parallelism);
	t->ctx.task = t;
	t->ctx.subtask = subtask;
	t->ctx.parallelism = v->parallelism;
	t->buffer_timeout_ms = jg->sg->buffer_timeout_ms;
	t->batch = jg->sg->mode == FL_MODE_BATCH;
	atomic_init(&t->cancelled, false);
	atomic_init(&t->attention, 0);
	atomic_init(&t->state, TM_TASK_DEPLOYING);
	int rc = FL_ENOMEM;
	if (!(t->ops = calloc(v->nops, sizeof(*t->ops))))
		goto fail;
	t->nops = v->nops;
	for (size_t i = 0; i < v->nops; i++) {
		tm_op *op = &t->ops[i];
		op->node = jg->sg->nodes[v->ops[i].node];
		op->task = t;
		tm_op_init(op);
		atomic_init(&op->records_in, 0);
		atomic_init(&op->records_out, 0);
		if (v->ops[i].nchained &&
		    !(op->chained = calloc(v->ops[i].nchained, sizeof(*op->chained))))
			goto fail;
		for (size_t j = 0; j < v->ops[i].nchained; j++)
			op->chained[j] = &t->ops[v->ops[i].chained[j]];
		op->nchained = v->ops[i].nchained;
		if ((rc = resolve_op(t, op, err)) != 0)
			goto fail;
		rc = FL_ENOMEM;
	}
	if (sg_kind_is_keyed(t->ops[0].node->kind) && !t->ops[0].key->by_fn &&
	    !(t->prefetch_keys = calloc(TM_PREFETCH_WINDOW, sizeof(*t->prefetch_keys))))
		goto fail;
	/* Input channels: one per producer subtask of each input edge (FORWARD:
	 * just the one with our index). */
	int nin = 0;
	for (size_t k = 0; k < v->nin_edges; k++) {
		const jg_edge *e = &jg->edges[v->in_edges[k]];
		nin += e->part == SG_PART_FORWARD ? 1 : jg->vertices[e->src_vertex].parallelism;
	}
	if (nin > 0) {
		if (!(t->in_ids = calloc((size_t)nin, sizeof(*t->in_ids))))
			goto fail;
		if ((rc = net_gate_new(&t->gate, nin, tm->buffers_per_channel)) != 0)
			goto fail;
		int ch = 0;
		for (size_t k = 0; k < v->nin_edges; k++) {
			int eid = v->in_edges[k];
			const jg_edge *e = &jg->edges[eid];
			int ps = jg->vertices[e->src_vertex].parallelism;
			for (int i = 0; i < ps; i++) {
				if (e->part == SG_PART_FORWARD && i != subtask)
					continue;
				uint64_t id = tm_channel_id(pl, jg, eid, i, subtask);
				if ((rc = tm_register_local_input(tm, id, t->gate, ch)) != 0)
					goto fail;
				if ((rc = net_endpoint_register_input(tm->ep, id, t->gate, ch)) != 0) {
					tm_unregister_local_input(tm, id);
					goto fail;
				}
				t->in_ids[ch] = id;
				t->nin = ++ch;
			}
		}
	}
	*out = t;
	return 0;
fail:
	if (rc == FL_ENOMEM)
		cm_err_set(err, rc, "out of memory while deploying %s", t->name);
	tm_task_free(t);
	return rc;
}

int tm_task_connect(tm_task *t, cm_err *err)
{
	tm_taskmanager *tm = t->tm;
	const jg_graph *jg = t->jg;
	for (size_t i = 0; i < t->nops; i++) {
		tm_op *op = &t->ops[i];
		const jg_op *jop = &t->vertex->ops[i];
		if (jop->nout_edges == 0)
			continue;
		if (!(op->outs = calloc(jop->nout_edges, sizeof(*op->outs))))
			return cm_err_set(err, FL_ENOMEM, "out of memory");
		for (size_t k = 0; k < jop->nout_edges; k++) {
			int eid = jop->out_edges[k];
			const jg_edge *e = &jg->edges[eid];
			const jg_vertex *dv = &jg->vertices[e->dst_vertex];
			tm_out *o = &op->outs[k];
			o->edge = e;
			o->dst_parallelism = dv->parallelism;
			o->max_parallelism = dv->max_parallelism;
			op->nouts = k + 1;
			if (e->part == SG_PART_HASH && e->key->by_fn) {
				void *fn;
				int rc = sg_resolve_function(jg->sg->library, e->key->fn_symbol, &fn, err);
				if (rc)
					return rc;
				o->key_fn = (fl_key_fn)fn;
			}
			enum net_partitioner np = e->part == SG_PART_FORWARD     ? NET_PART_FORWARD
						  : e->part == SG_PART_HASH      ? NET_PART_HASH
						  : e->part == SG_PART_BROADCAST ? NET_PART_BROADCAST
										 : NET_PART_REBALANCE;
			int nch = e->part == SG_PART_FORWARD ? 1 : dv->parallelism;
			int rc = net_writer_new(&o->writer, np, nch, tm->segment_size,
						t->subtask % nch);
			if (rc)
				return cm_err_set(err, rc, "cannot create the record writer of %s", t->name);
			for (int c = 0; c < nch; c++) {
				int j = e->part == SG_PART_FORWARD ? t->subtask : c;
				uint64_t id = tm_channel_id(t->placement, jg, eid, t->subtask, j);
				const char *addr = t->placement->addresses[e->dst_vertex][j];
				net_outchan *oc = NULL;
				net_gate *g;
				int gch;
				if (strcmp(addr, tm_address(tm)) == 0) {
					if (tm_lookup_local_input(tm, id, &g, &gch) != 0)
						return cm_err_set(err, FL_EINVAL,
								  "%s: local channel %llu has no consumer",
								  t->name, (unsigned long long)id);
					rc = net_outchan_local(&oc, g, gch);
				} else {
					rc = net_endpoint_open_output(tm->ep, addr, id, &oc, err);
				}
				if (rc)
					return cm_err_set(err, rc, "%s: cannot open channel to %s", t->name, addr);
				net_writer_set_channel(o->writer, c, oc);
			}
		}
	}
	return 0;
}

void tm_task_publish_metrics(tm_task *t)
{
	for (size_t i = 0; i < t->nops; i++) {
		atomic_store_explicit(&t->ops[i].records_in, t->ops[i].n_in, memory_order_relaxed);
		atomic_store_explicit(&t->ops[i].records_out, t->ops[i].n_out, memory_order_relaxed);
	}
}

int tm_task_maybe_flush(tm_task *t, bool force)
{
	tm_task_publish_metrics(t);
	int64_t now = cm_now_ms();
	if (!force && now < t->next_flush_ms)
		return 0;
	t->next_flush_ms = now + t->buffer_timeout_ms;
	for (size_t i = 0; i < t->nops; i++) {
		int rc = tm_op_flush(&t->ops[i]);
		if (rc)
			return rc;
	}
	return 0;
}

static int decode_record(tm_task *t, const net_buffer *b, size_t *off, fl_row *row)
{
	uint64_t len;
	size_t h = row_varint_get(b->data + *off, b->len - *off, &len);
	if (h == 0 || len > b->len - *off - h)
		return tm_task_fail(t, FL_EPROTO, "%s: malformed record framing at offset %zu", t->name,
				    *off);
	size_t used;
	if (row_decode(b->data + *off + h, (size_t)len, row, &used) != 0 || used != len)
		return tm_task_fail(t, FL_EPROTO, "%s: malformed record at offset %zu", t->name, *off);
	*off += h + (size_t)len;
	return 0;
}

/* A keyed aggregation at the head: decode a window of records, hash their
 * keys and prefetch their state slots, then update them in order, so the
 * state lookups' cache misses overlap instead of queueing. */
static int process_buffer_keyed(tm_task *t, const net_buffer *b)
{
	tm_op *head = &t->ops[0];
	size_t off = 0;
	fl_row rows[TM_PREFETCH_WINDOW];
	tm_prefetched_key *keys = t->prefetch_keys;
	while (off < b->len) {
		int n = 0;
		for (; n < TM_PREFETCH_WINDOW && off < b->len; n++) {
			int rc = decode_record(t, b, &off, &rows[n]);
			if (rc)
				return rc;
			keys[n].fast = tm_agg_key(head, &rows[n], keys[n].kb, sizeof(keys[n].kb),
						  &keys[n].kl, &keys[n].h);
		}
		for (int i = 0; i < n; i++) {
			int rc = keys[i].fast ? tm_agg_process_keyed(head, &rows[i], keys[i].kb,
								    keys[i].kl, keys[i].h)
					      : tm_op_process(head, &rows[i]);
			t->ctx.scratch_used = 0;
			if (rc || (rc = tm_task_check(t)) != 0)
				return rc;
		}
	}
	return 0;
}

/* Processes the records of one data buffer through the chain head. */
static int process_buffer(tm_task *t, const net_buffer *b)
{
	size_t off = 0;
	tm_op *head = &t->ops[0];
	if (t->prefetch_keys)
		return process_buffer_keyed(t, b);
	while (off < b->len) {
		fl_row row;
		int rc = decode_record(t, b, &off, &row);
		if (rc)
			return rc;
		rc = tm_op_process(head, &row);
		t->ctx.scratch_used = 0;
		if (rc || (rc = tm_task_check(t)) != 0)
			return rc;
	}
	return 0;
}

static int run_input_loop(tm_task *t)
{
	for (;;) {
		net_buffer *b;
		int ch;
		int64_t deadline = t->buffer_timeout_ms > 0 ? t->next_flush_ms : -1;
		int rc = net_gate_pop(t->gate, deadline, &b, &ch);
		if (rc == FL_ETIMEDOUT) {
			if ((rc = tm_task_maybe_flush(t, true)) != 0)
				return rc;
			continue;
		}
		if (rc == FL_ECLOSED)
			return tm_task_fail(t, rc, "%s: input channel %d failed: %s", t->name, ch,
					    net_gate_error(t->gate));
		if (rc)
			return rc;
		if (b->kind == NET_BUF_DATA) {
			rc = process_buffer(t, b);
		} else if (b->event == NET_EV_END_OF_PARTITION) {
			t->ended_channels++;
		}
		net_buffer_free(b);
		if (rc)
			return rc;
		if (t->ended_channels == t->nin)
			return 0;
		if ((rc = tm_task_maybe_flush(t, t->buffer_timeout_ms == 0)) != 0)
			return rc;
	}
}

static int finish_chain(tm_task *t)
{
	/* Ops are in topological order, so an op's end-of-input output reaches
	 * chained ops that have not ended yet. */
	for (size_t i = 0; i < t->nops; i++) {
		int rc = tm_op_end_input(&t->ops[i]);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < t->nops; i++) {
		tm_op *op = &t->ops[i];
		int rc = tm_op_flush(op);
		if (rc)
			return rc;
		for (size_t k = 0; k < op->nouts; k++)
			if ((rc = net_writer_broadcast_event(op->outs[k].writer,
							     NET_EV_END_OF_PARTITION, 0)) != 0)
				return rc;
	}
	return 0;
}

static void *task_main(void *arg)
{
	tm_task *t = arg;
	cm_log_set_thread_job(t->job_id);
	cm_log_set_thread_task(t->name);
	atomic_store(&t->state, TM_TASK_RUNNING);
	tm_report_state(t->tm, t, TM_TASK_RUNNING, NULL);
	t->next_flush_ms = cm_now_ms() + t->buffer_timeout_ms;
	cm_err oe = {0};
	int rc = 0;
	size_t opened = 0;
	for (; opened < t->nops && rc == 0; opened++)
		rc = tm_op_open(&t->ops[opened], &oe);
	if (rc)
		tm_task_fail(t, rc, "%s", oe.msg);
	if (rc == 0) {
		enum sg_kind head = t->ops[0].node->kind;
		if (head == SG_SOURCE_GENERATOR)
			rc = tm_run_generator(t);
		else if (head == SG_SOURCE_TEXT_FILE)
			rc = tm_run_text_source(t);
		else
			rc = run_input_loop(t);
	}
	if (rc == 0)
		rc = finish_chain(t);
	for (size_t i = 0; i < opened; i++) {
		int crc = tm_op_close(&t->ops[i], rc == 0);
		if (rc == 0)
			rc = crc;
	}
	tm_task_publish_metrics(t);
	enum tm_task_state st;
	if (atomic_load(&t->cancelled) && (rc == FL_ECANCELED || rc == 0 || t->err.code == 0))
		st = rc == 0 ? TM_TASK_FINISHED : TM_TASK_CANCELED;
	else
		st = rc == 0 ? TM_TASK_FINISHED : TM_TASK_FAILED;
	if (st == TM_TASK_FAILED && t->err.code == 0)
		tm_task_fail(t, rc, "%s failed: %s", t->name, fl_strerror(rc));
	atomic_store(&t->state, st);
	tm_report_state(t->tm, t, st, st == TM_TASK_FAILED ? t->err.msg : NULL);
	cm_log_set_thread_task(NULL);
	cm_log_set_thread_job(NULL);
	return NULL;
}

int tm_task_start(tm_task *t, cm_err *err)
{
	if (pthread_create(&t->thread, NULL, task_main, t) != 0)
		return cm_err_set(err, FL_ENOMEM, "cannot start the thread of %s", t->name);
	t->started = true;
	return 0;
}

int tm_task_attend(tm_task *t)
{
	if (atomic_load(&t->cancelled))
		return FL_ECANCELED;
	if (atomic_fetch_and(&t->attention, ~TM_ATTN_FLUSH) & TM_ATTN_FLUSH)
		return tm_task_maybe_flush(t, false);
	return 0;
}

void tm_task_cancel(tm_task *t)
{
	atomic_store(&t->cancelled, true);
	atomic_fetch_or(&t->attention, TM_ATTN_CANCEL);
	if (t->gate)
		net_gate_cancel(t->gate);
	for (size_t i = 0; i < t->nops; i++)
		for (size_t k = 0; k < t->ops[i].nouts; k++)
			if (t->ops[i].outs[k].writer)
				net_writer_cancel(t->ops[i].outs[k].writer);
}

void tm_task_join(tm_task *t)
{
	if (t->started) {
		pthread_join(t->thread, NULL);
		t->started = false;
	}
}

void tm_task_free(tm_task *t)
{
	if (!t)
		return;
	tm_task_join(t);
	for (int i = 0; i < t->nin; i++) {
		tm_unregister_local_input(t->tm, t->in_ids[i]);
		net_endpoint_unregister_input(t->tm->ep, t->in_ids[i]);
	}
	for (size_t i = 0; i < t->nops; i++) {
		tm_op *op = &t->ops[i];
		for (size_t k = 0; k < op->nouts; k++)
			net_writer_free(op->outs[k].writer);
		free(op->outs);
		free(op->chained);
		st_heapmap_free(op->state);
		free(op->acc_buf);
		free(op->key_heap[0]);
		free(op->key_heap[1]);
		free(op->out_buf);
		if (op->file)
			fclose(op->file);
		free(op->file_tmp);
		free(op->file_final);
	}
	free(t->ops);
	free(t->prefetch_keys);
	net_gate_free(t->gate);
	free(t->in_ids);
	free(t->ctx.scratch);
	free(t);
}
