/*
 * task.c — a subtask: its input channels, its outputs' channels, and the
 * thread that runs the chain from a source or from the input gate.
 */
#include "taskmanager/task.h"

#include <endian.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint/metadata.h"
#include "state/backend.h"
#include "state/snapshot_file.h"
#include "types/keygroup.h"
#include "common/clock.h"
#include "common/crash.h"
#include "common/log.h"
#include "types/codec.h"

const char *tm_task_state_name(enum tm_task_state s)
{
	static const char *const names[] = {"CREATED",	"SCHEDULED", "DEPLOYING", "RUNNING",
					    "FINISHED", "CANCELING", "CANCELED",  "FAILED"};
	return (unsigned)s < TM_TASK_NSTATES ? names[s] : "?";
}

bool tm_task_state_is_final(enum tm_task_state s)
{
	return s == TM_TASK_FINISHED || s == TM_TASK_CANCELED || s == TM_TASK_FAILED;
}

static void unregister_inputs(tm_task *t)
{
	for (int i = 0; i < t->nin; i++) {
		tm_channels_remove(t->deps.channels, t->td->attempt, t->in_ids[i]);
		net_endpoint_unregister_input(t->deps.ep, t->td->attempt, t->in_ids[i]);
	}
	t->nin = 0;
}

/* Whether td's network inputs feed anything but the head's first input. */
static bool tm_task_fans_in(const td_task *td)
{
	for (size_t k = 0; k < td->ninputs; k++)
		if (td->inputs[k].op != 0 || td->inputs[k].side != 0)
			return true;
	return false;
}

/* Input channels: one per producer subtask of each input edge (FORWARD:
 * just the one with our index), registered locally and remotely. */
static int register_inputs(tm_task *t, cm_err *err)
{
	const td_task *td = t->td;
	int nin = 0;
	for (size_t k = 0; k < td->ninputs; k++)
		nin += td->inputs[k].forward ? 1 : td->inputs[k].src_parallelism;
	if (nin == 0)
		return 0;
	if (!(t->in_ids = calloc((size_t)nin, sizeof(*t->in_ids))))
		return cm_err_set(err, FL_ENOMEM, "out of memory while deploying %s", t->name);
	int rc = net_gate_new(&t->gate, nin, t->deps.buffers_per_channel);
	if (rc)
		return cm_err_set(err, rc, "cannot create the input gate of %s", t->name);
	net_gate_set_quota(t->gate, t->in_quota);
	if (tm_task_fans_in(td) && (!(t->ch_side = calloc((size_t)nin, sizeof(*t->ch_side))) ||
				    !(t->ch_op = calloc((size_t)nin, sizeof(*t->ch_op)))))
		return cm_err_set(err, FL_ENOMEM, "out of memory while deploying %s", t->name);
	int ch = 0;
	for (size_t k = 0; k < td->ninputs; k++) {
		const td_input *in = &td->inputs[k];
		for (int i = 0; i < in->src_parallelism; i++) {
			if (in->forward && i != td->subtask)
				continue;
			uint64_t id = td_channel_id(in->edge_base, in->forward, i, td->subtask,
						    td->parallelism);
			rc = tm_channels_add(t->deps.channels, td->attempt, id, t->gate, ch);
			if (rc == 0 && (rc = net_endpoint_register_input(t->deps.ep, td->attempt, id, t->gate,
								      ch)) != 0)
				tm_channels_remove(t->deps.channels, td->attempt, id);
			if (rc)
				return cm_err_set(err, rc, "%s: cannot register input channel %llu: %s",
						  t->name, (unsigned long long)id,
						  rc == FL_EINVAL ? "registered twice" : fl_strerror(rc));
			t->in_ids[ch] = id;
			if (t->ch_side) {
				t->ch_side[ch] = in->side;
				t->ch_op[ch] = &t->chain.ops[in->op];
			}
			t->nin = ++ch;
		}
	}
	return 0;
}

/*
 * The task's quotas of the pool (see tm_task_new), as Flink sizes a result
 * partition's and an input gate's local buffer pools: outputs need S + 1
 * per output of S channels and may use up to S * (buffers-per-channel + 1)
 * + 1 (a buffer being filled and the credit's worth in flight per channel)
 * when unreserved segments are free; the gate needs, and uses, C *
 * buffers-per-channel + 1 (credit is granted only for its own buffers).
 */
static int make_quotas(tm_task *t, cm_err *err)
{
	const td_task *td = t->td;
	size_t bpc = (size_t)t->deps.buffers_per_channel;
	size_t min[2] = {0, 0}, max[2] = {0, 0}, nin = 0;
	for (size_t i = 0; i < td->nops; i++)
		for (size_t k = 0; k < td->ops[i].nouts; k++) {
			size_t s = (size_t)td->ops[i].outs[k].nconsumers;
			min[0] += s + 1;
			max[0] += s * (bpc + 1) + 1;
		}
	for (size_t k = 0; k < td->ninputs; k++)
		nin += td->inputs[k].forward ? 1 : (size_t)td->inputs[k].src_parallelism;
	if (nin)
		min[1] = max[1] = nin * bpc + 1;
	net_quota *q[2];
	cm_err perr = {0};
	int rc = net_quotas_new(t->deps.pool, 2, min, max, q, &perr);
	if (rc)
		return cm_err_set(err, rc, "%s: %s", t->name, perr.msg);
	t->out_quota = q[0];
	t->in_quota = q[1];
	return 0;
}

/* ------------------------------------------------------------ checkpoints */

int tm_task_prepare_checkpoint(tm_task *t, uint64_t id, int kind, const char *dir)
{
	pthread_mutex_lock(&t->ckp_mu);
	/* The slot of this id (a source's trigger announces it again), else
	 * that of the oldest (lowest id) announcement. */
	int k = 0;
	for (int i = 1; i < TM_PREPARED_MAX; i++)
		if (t->prepared[k].id != id &&
		    (t->prepared[i].id == id || t->prepared[i].id < t->prepared[k].id))
			k = i;
	t->prepared[k].id = id;
	t->prepared[k].kind = kind;
	snprintf(t->prepared[k].dir, sizeof(t->prepared[k].dir), "%s", dir);
	pthread_mutex_unlock(&t->ckp_mu);
	return 0;
}

int tm_task_trigger_checkpoint(tm_task *t, uint64_t id, bool stop)
{
	/* A source, a task running sources beside its gate (the trigger is
	 * their barrier: on_mixed_checkpoint), or (FLIP-147) a task past its
	 * end of input waiting for its final checkpoint: the JobMaster
	 * triggers those whose upstream tasks all finished. */
	bool awaits = t->td->final_checkpoint && t->wants_notify;
	if ((t->gate && !awaits && !t->mixed) || tm_task_get_state(t) != TM_TASK_RUNNING)
		return FL_EINVAL;
	/* One that has not reached its end of input yet (its last records
	 * are still on their way from finished tasks) takes it there: not
	 * through trigger_id, which any attention of its input loop reads. */
	pthread_mutex_lock(&t->ckp_mu);
	bool now = !t->gate || t->mixed || atomic_load(&t->awaiting_final);
	if (now) {
		t->trigger_id = id;
		t->trigger_stop = stop;
	} else {
		t->deferred_id = id;
		t->deferred_stop = stop;
	}
	pthread_mutex_unlock(&t->ckp_mu);
	if (now)
		atomic_fetch_or(&t->chain.attention, TM_ATTN_CHECKPOINT);
	if (t->mixed)
		net_gate_wake(t->gate); /* its loop may wait for input */
	return 0;
}

static void raise_max(_Atomic uint64_t *v, uint64_t id)
{
	uint64_t cur = atomic_load(v);
	while (cur < id && !atomic_compare_exchange_weak(v, &cur, id))
		;
}

void tm_task_abort_checkpoint(tm_task *t, uint64_t id)
{
	raise_max(&t->abort_id, id);
	if (t->wants_notify)
		atomic_fetch_or(&t->chain.attention, TM_ATTN_CHECKPOINT);
}

void tm_task_notify_checkpoint(tm_task *t, uint64_t id)
{
	raise_max(&t->complete_id, id);
	if (t->wants_notify)
		atomic_fetch_or(&t->chain.attention, TM_ATTN_CHECKPOINT);
}

/* Passes completions and aborts the operators were not told of yet (task
 * thread). */
static int deliver_notifications(tm_task *t)
{
	if (!t->wants_notify)
		return 0;
	uint64_t done = atomic_load_explicit(&t->complete_id, memory_order_acquire);
	uint64_t aborted = atomic_load_explicit(&t->abort_id, memory_order_acquire);
	int rc = 0;
	if (aborted > t->told_abort) {
		t->told_abort = aborted;
		if (aborted > done)
			rc = tm_chain_notify(&t->chain, aborted, false);
	}
	if (rc == 0 && done > t->told_complete) {
		t->told_complete = done;
		rc = tm_chain_notify(&t->chain, done, true);
	}
	return rc;
}

/* The directory and kind of announced checkpoint id; false if unknown. */
static bool prepared_of(tm_task *t, uint64_t id, char *dir, size_t cap, int *kind)
{
	bool found = false;
	pthread_mutex_lock(&t->ckp_mu);
	for (int i = 0; i < TM_PREPARED_MAX; i++)
		if (t->prepared[i].id == id) {
			snprintf(dir, cap, "%s", t->prepared[i].dir);
			*kind = t->prepared[i].kind;
			found = true;
		}
	pthread_mutex_unlock(&t->ckp_mu);
	return found;
}

/* Acknowledges checkpoint id with what p holds, writing its cuts first
 * (the asynchronous phase), or declines it with why. Frees p. */
static void finish_and_ack(tm_task *t, uint64_t id, tm_pending_snapshot *p)
{
	char why[CM_ERR_MSG_MAX] = "";
	cm_wbuf w;
	cm_wbuf_init(&w, CP_METADATA_MAX);
	size_t n = 0;
	int64_t t0 = cm_now_ms();
	if (tm_pending_snapshot_finish(p, &w, &n, why, sizeof(why)) != 0 && !why[0])
		snprintf(why, sizeof(why), "cannot write its state");
	tm_pending_snapshot_free(p);
	if (t->deps.on_ack) {
		if (why[0]) {
			CM_WARN("task", "declines checkpoint %llu: %s", (unsigned long long)id, why);
			t->deps.on_ack(t->deps.on_ack_arg, t, id, NULL, 0, why);
		} else {
			t->deps.on_ack(t->deps.on_ack_arg, t, id, cm_wbuf_data(&w), cm_wbuf_len(&w),
				       NULL);
			CM_DEBUG("task",
				 "took its share of checkpoint %llu (%zu operator state(s), written "
				 "in %lld ms)",
				 (unsigned long long)id, n, (long long)(cm_now_ms() - t0));
		}
	}
	cm_wbuf_fini(&w);
}

static void *snapshot_writer_main(void *arg)
{
	tm_task *t = arg;
	cm_crash_thread_init();
	cm_log_set_thread_job(t->td->job_id);
	cm_log_set_thread_task(t->name);
	finish_and_ack(t, t->writing_id, t->writing);
	cm_log_set_thread_task(NULL);
	cm_log_set_thread_job(NULL);
	cm_crash_thread_fini();
	return NULL;
}

/* Waits for the snapshot being written, if any (task thread). */
static void join_writer(tm_task *t)
{
	if (t->writer_started) {
		pthread_join(t->writer, NULL);
		t->writer_started = false;
	}
}

/* Its operators' states at this point of the stream (the synchronous
 * phase, here), then written and acknowledged to the JobMaster on a
 * writer thread while the task goes on (or the checkpoint declined, saying
 * why). A failed checkpoint is the coordinator's to count. *stop: it was
 * announced as a stop-with-savepoint's. */
static void snapshot_and_ack(tm_task *t, uint64_t id, bool *stop)
{
	char dir[1100];
	int kind = 0;
	char why[CM_ERR_MSG_MAX] = "";
	tm_pending_snapshot *p = NULL;
	/* One at a time: the coordinator has one in flight anyway. */
	join_writer(t);
	if (!prepared_of(t, id, dir, sizeof(dir), &kind))
		snprintf(why, sizeof(why), "checkpoint %llu was not announced to this task",
			 (unsigned long long)id);
	else
		tm_chain_snapshot_begin(&t->chain, id, kind & ~CP_TRIGGER_STOP,
					atomic_load(&t->complete_id), dir, &p, why, sizeof(why));
	*stop = (kind & CP_TRIGGER_STOP) != 0;
	if (!p) {
		if (!why[0])
			snprintf(why, sizeof(why), "out of memory");
		CM_WARN("task", "declines checkpoint %llu: %s", (unsigned long long)id, why);
		if (t->deps.on_ack)
			t->deps.on_ack(t->deps.on_ack_arg, t, id, NULL, 0, why);
		return;
	}
	if (!tm_pending_snapshot_async(p)) {
		finish_and_ack(t, id, p);
		return;
	}
	t->writing = p;
	t->writing_id = id;
	if (pthread_create(&t->writer, NULL, snapshot_writer_main, t) == 0) {
		t->writer_started = true;
		return;
	}
	/* No thread: write here. */
	t->writing = NULL;
	finish_and_ack(t, id, p);
}

/* Sends event ev (arg) down every output of the chain, after the records
 * before it (events share the channels' FIFO); what names it in the
 * failure. */
static int broadcast(tm_task *t, enum net_event ev, int64_t arg, const char *what)
{
	tm_chain *c = &t->chain;
	/* Past the end of its outputs (a task awaiting its final checkpoint):
	 * downstream aligns on their end instead. */
	if (atomic_load_explicit(&t->awaiting_final, memory_order_relaxed))
		return 0;
	for (size_t i = 0; i < c->nops; i++)
		for (size_t k = 0; k < c->ops[i].nouts; k++) {
			net_writer *w = c->ops[i].outs[k].writer;
			int rc = w ? net_writer_broadcast_event(w, ev, arg) : 0;
			if (rc)
				return tm_chain_fail(c, rc, "%s: cannot send %s: %s", t->name, what,
						     fl_strerror(rc));
		}
	return 0;
}

/* Flink's order: the barrier goes downstream first (so that the next
 * task can start aligning), then the task snapshots, before it processes
 * anything after the barrier. */
static int take_checkpoint(tm_task *t, uint64_t id)
{
	if (id <= t->last_ckp_id)
		return 0; /* taken already, or older than one taken */
	t->last_ckp_id = id;
	char what[64];
	snprintf(what, sizeof(what), "the barrier of checkpoint %llu", (unsigned long long)id);
	/* What the chain emitted before the barrier leaves first, a print
	 * sink's lines too: a restore from this checkpoint replays only what
	 * came after it, and a cancellation drops what a sink still holds
	 * (Flink's print sink has written each line at once). */
	int rc = tm_chain_maybe_flush(&t->chain, true);
	if (rc == 0)
		rc = broadcast(t, NET_EV_BARRIER, (int64_t)id, what);
	bool stop = false;
	if (rc == 0)
		snapshot_and_ack(t, id, &stop);
	/* A task with inputs holds its processing-time timers from a stop's
	 * share on (Flink quiesces the time service when a stop ends the
	 * input): what they fired now the savepoint holds as pending, and the
	 * restored job would fire it again. Its sources' trigger holds a
	 * mixed task already, a source's await_stop a source. */
	if (rc == 0 && stop && t->nin > 0 && !t->mixed && !t->stop_id) {
		t->stop_id = id;
		CM_INFO("task", "took its share of stop-with-savepoint %llu: its processing-time "
				"timers wait until it ends, or the savepoint is aborted",
			(unsigned long long)id);
	}
	return rc;
}

/*
 * Stop-with-savepoint at a source, after its barrier went out: nothing more
 * is emitted until savepoint id completed (then TM_STOPPED: the source
 * ends, as at the end of its input) or was aborted (then 0: it goes on),
 * as Flink's synchronous savepoint holds its tasks.
 */
static int await_stop(tm_task *t, uint64_t id)
{
	tm_chain *c = &t->chain;
	int rc = tm_chain_maybe_flush(c, true);
	while (rc == 0) {
		if (atomic_load(&t->complete_id) >= id) {
			/* Its operators commit what the savepoint covers first. */
			if ((rc = deliver_notifications(t)) != 0)
				return rc;
			CM_INFO("task", "stops after savepoint %llu", (unsigned long long)id);
			return TM_STOPPED;
		}
		if (atomic_load(&t->abort_id) >= id) {
			CM_INFO("task", "savepoint %llu was aborted: the source goes on",
				(unsigned long long)id);
			return deliver_notifications(t);
		}
		if (atomic_load_explicit(&c->cancelled, memory_order_relaxed))
			return FL_ECANCELED;
		struct timespec ts = {0, 5 * 1000000L};
		nanosleep(&ts, NULL);
		rc = tm_chain_maybe_flush(c, false);
	}
	return rc;
}

/* TM_ATTN_CHECKPOINT at a source, between two records. */
static int on_source_checkpoint(void *arg)
{
	tm_task *t = arg;
	pthread_mutex_lock(&t->ckp_mu);
	uint64_t id = t->trigger_id;
	bool stop = t->trigger_stop;
	t->trigger_id = 0;
	pthread_mutex_unlock(&t->ckp_mu);
	int rc = id ? take_checkpoint(t, id) : 0;
	if (rc == 0 && id && stop)
		return await_stop(t, id);
	return rc ? rc : deliver_notifications(t);
}

/* Passes the task's watermark on when it rose (watermarks.h), through the
 * chain's operators first (their event-time timers), and its idleness when
 * that changed (every input idle, or one active again). */
static int pass_watermark(tm_task *t, bool rose, int64_t w)
{
	int rc = rose ? tm_chain_watermark(&t->chain, w) : 0;
	bool idle;
	if (rc == 0 && tm_wm_status(&t->wm, &idle) && (idle || !rose))
		rc = tm_chain_wm_status(&t->chain, idle);
	return rc;
}

/* A task of sources and inputs: its sources emit nothing while their
 * barrier is aligning or a stop-with-savepoint holds them. */
static void sync_hold(tm_task *t)
{
	t->chain.src_hold =
	    !t->src_ended && (t->stop_id != 0 || tm_align_holds(&t->align, t->nin));
}

/* Does what the barrier handler decided; why: what made it give up. */
static int align_act(tm_task *t, enum tm_align_action act, uint64_t id, const char *why)
{
	if (t->mixed)
		sync_hold(t);
	if (act == TM_ALIGN_CHECKPOINT)
		return take_checkpoint(t, id);
	if (act == TM_ALIGN_CANCEL) {
		CM_INFO("task", "checkpoint %llu was given up (%s): its cancel marker goes downstream",
			(unsigned long long)id, why);
		char what[64];
		snprintf(what, sizeof(what), "the cancel marker of checkpoint %llu",
			 (unsigned long long)id);
		return broadcast(t, NET_EV_CANCEL_BARRIER, (int64_t)id, what);
	}
	return 0;
}

/*
 * TM_ATTN_CHECKPOINT at a task of sources and inputs, between two records
 * (never blocking: it may run inside a source's turn or an input buffer).
 * A trigger is the sources' barrier: their channel of the aligner takes
 * it, so that exactly once the sources are held from here until the
 * gate's barriers came (the checkpoint is taken then, or here when they
 * came first). Once the sources ended their channel counts as aligned, or
 * the task is at its end of input and takes the checkpoint at once. With
 * stop the sources stay held until the savepoint completed or was aborted
 * (run_mixed_loop). Past its end of input it is a source's handler
 * (await_final_checkpoint).
 */
static int on_mixed_checkpoint(void *arg)
{
	tm_task *t = arg;
	if (atomic_load(&t->awaiting_final))
		return on_source_checkpoint(arg);
	pthread_mutex_lock(&t->ckp_mu);
	uint64_t id = t->trigger_id;
	bool stop = t->trigger_stop;
	t->trigger_id = 0;
	pthread_mutex_unlock(&t->ckp_mu);
	int rc = 0;
	if (id && !t->src_ended) {
		if (stop)
			t->stop_id = id;
		uint64_t out = 0;
		uint64_t aborted = atomic_load_explicit(&t->abort_id, memory_order_relaxed);
		enum tm_align_action act = tm_align_barrier(&t->align, t->nin, id, aborted, &out);
		rc = align_act(t, act, out, "the JobMaster aborted it before its trigger came");
	} else if (id && t->ended_channels == t->nin) {
		rc = take_checkpoint(t, id);
	}
	return rc ? rc : deliver_notifications(t);
}

int tm_task_new(const tm_task_deps *deps, td_task *td, tm_task **out, cm_err *err)
{
	*out = NULL;
	tm_task *t = calloc(1, sizeof(*t));
	if (!t) {
		td_free(td);
		return cm_err_set(err, FL_ENOMEM, "out of memory while deploying a task");
	}
	t->td = td;
	t->deps = *deps;
	t->created_ms = cm_now_ms();
	snprintf(t->name, sizeof(t->name), "%s (%d/%d)", td->vertex_name, td->subtask + 1,
		 td->parallelism);
	atomic_init(&t->state, TM_TASK_DEPLOYING);
	if (pthread_mutex_init(&t->mu, NULL) != 0) {
		td_free(td);
		free(t);
		return cm_err_set(err, FL_ENOMEM, "out of memory while deploying a task");
	}
	if (pthread_mutex_init(&t->ckp_mu, NULL) != 0) {
		pthread_mutex_destroy(&t->mu);
		td_free(td);
		free(t);
		return cm_err_set(err, FL_ENOMEM, "out of memory while deploying a task");
	}
	int rc = deps->pool ? make_quotas(t, err) : 0;
	if (rc == 0)
		rc = tm_chain_init(&t->chain, td, t->name, err);
	t->chain.state_dirs = deps->state_dirs;
	t->chain.state_memory = deps->state_memory;
	if (rc == 0 && sg_kind_is_keyed(td->ops[0].kind) && !td->ops[0].key.by_fn &&
	    !sg_kind_is_two_input(td->ops[0].kind) && !tm_task_fans_in(td) &&
	    !(t->prefetch_keys = calloc(TM_PREFETCH_WINDOW, sizeof(*t->prefetch_keys))))
		rc = cm_err_set(err, FL_ENOMEM, "out of memory while deploying %s", t->name);
	if (rc == 0)
		rc = register_inputs(t, err);
	for (size_t i = 0; rc == 0 && t->gate && i < td->nops; i++)
		t->mixed |= sg_kind_is_source(td->ops[i].kind);
	if (rc == 0 && t->gate &&
	    (tm_align_init(&t->align, t->gate, t->nin, t->mixed, td->at_least_once) != 0 ||
	     tm_wm_init(&t->wm, t->nin + t->mixed) != 0))
		rc = cm_err_set(err, FL_ENOMEM, "out of memory while deploying %s", t->name);
	if (rc) {
		tm_task_free(t);
		return rc;
	}
	t->chain.on_checkpoint = t->mixed ? on_mixed_checkpoint : on_source_checkpoint;
	t->chain.on_checkpoint_arg = t;
	t->wants_notify = tm_chain_wants_notify(&t->chain);
	*out = t;
	return 0;
}

static enum net_partitioner net_part(enum sg_partitioner p)
{
	switch (p) {
	case SG_PART_FORWARD:
		return NET_PART_FORWARD;
	case SG_PART_HASH:
		return NET_PART_HASH;
	case SG_PART_BROADCAST:
		return NET_PART_BROADCAST;
	default:
		return NET_PART_REBALANCE;
	}
}

/* Creates the record writers and their channels: local ones straight into
 * the consumer's gate, remote ones through the data endpoint. */
static int connect_outputs(tm_task *t)
{
	const td_task *td = t->td;
	cm_err err = {0};
	for (size_t i = 0; i < t->chain.nops; i++) {
		tm_op *op = &t->chain.ops[i];
		for (size_t k = 0; k < op->nouts; k++) {
			tm_out *o = &op->outs[k];
			const td_output *d = o->desc;
			net_writer *w;
			int rc = net_writer_new(&w, net_part(d->part), d->nconsumers, t->out_quota,
						t->deps.segment_size, td->subtask % d->nconsumers);
			if (rc)
				return tm_chain_fail(&t->chain, rc,
						     "cannot create the record writer of %s", t->name);
			for (int c = 0; c < d->nconsumers && rc == 0; c++) {
				if (atomic_load(&t->chain.cancelled)) {
					rc = FL_ECANCELED;
					break;
				}
				bool fwd = d->part == SG_PART_FORWARD;
				int j = fwd ? td->subtask : c;
				uint64_t id = td_channel_id(d->edge_base, fwd, td->subtask, j,
							    d->dst_parallelism);
				const td_peer *peer = &td->peers[d->consumer_peer[c]];
				net_outchan *oc = NULL;
				if (strcmp(peer->resource_id, t->deps.resource_id) == 0) {
					net_gate *g;
					int gch;
					if (tm_channels_find(t->deps.channels, td->attempt, id, &g, &gch) != 0)
						rc = tm_chain_fail(
						    &t->chain, FL_EINVAL,
						    "%s: local channel %llu to '%s' (subtask %d) has no consumer",
						    t->name, (unsigned long long)id, d->dst_name, j + 1);
					else
						rc = net_outchan_local(&oc, g, gch);
				} else {
					rc = net_endpoint_open_output(t->deps.ep, peer->data_address,
								      td->attempt, id, &oc, &err);
				}
				if (rc && rc != FL_ECANCELED)
					tm_chain_fail(&t->chain, rc,
						      "%s: cannot open the channel to '%s' (subtask %d) on "
						      "%s: %s",
						      t->name, d->dst_name, j + 1, peer->resource_id,
						      err.msg[0] ? err.msg : fl_strerror(rc));
				if (rc == 0)
					net_writer_set_channel(w, c, oc);
			}
			if (rc) {
				net_writer_free(w);
				return rc;
			}
			/* Published under the lock that tm_task_cancel holds, so a
			 * cancel either sees the writer or is seen here. */
			pthread_mutex_lock(&t->mu);
			o->writer = w;
			bool cancelled = atomic_load(&t->chain.cancelled);
			pthread_mutex_unlock(&t->mu);
			if (cancelled)
				return FL_ECANCELED;
		}
	}
	return 0;
}

static int decode_record(tm_task *t, const net_buffer *b, size_t *off, fl_row *row, int64_t *ts)
{
	uint64_t len;
	size_t h;
	if (*off < b->len && b->data[*off] < 0x80) { /* records under 128 bytes */
		len = b->data[*off];
		h = 1;
	} else {
		h = cm_varint_get(b->data + *off, b->len - *off, &len);
	}
	if (h == 0 || len > b->len - *off - h)
		return tm_chain_fail(&t->chain, FL_EPROTO,
				     "%s: malformed record framing at offset %zu", t->name, *off);
	size_t used;
	const uint8_t *rec = b->data + *off + h;
	*ts = TM_TS_NONE;
	int th = row_ts_prefix_get(rec, (size_t)len, ts);
	if (th < 0 || (th > 0 && *ts == TM_TS_NONE))
		return tm_chain_fail(&t->chain, FL_EPROTO,
				     "%s: malformed record timestamp at offset %zu", t->name, *off);
	if (row_decode(rec + th, (size_t)len - (size_t)th, row, &used) != 0 ||
	    used != (size_t)len - (size_t)th)
		return tm_chain_fail(&t->chain, FL_EPROTO, "%s: malformed record at offset %zu",
				     t->name, *off);
	*off += h + (size_t)len;
	return 0;
}

/* A keyed aggregation at the head: decode a window of records, hash their
 * keys and prefetch their state slots, then update them in order, so the
 * state lookups' cache misses overlap instead of queueing. */
static int process_buffer_keyed(tm_task *t, const net_buffer *b)
{
	tm_chain *c = &t->chain;
	tm_op *head = &c->ops[0];
	size_t off = 0;
	fl_row rows[TM_PREFETCH_WINDOW];
	int64_t tss[TM_PREFETCH_WINDOW];
	tm_prefetched_key *keys = t->prefetch_keys;
	while (off < b->len) {
		int n = 0;
		for (; n < TM_PREFETCH_WINDOW && off < b->len; n++) {
			int rc = decode_record(t, b, &off, &rows[n], &tss[n]);
			if (rc)
				return rc;
			keys[n].fast = tm_agg_key(head, &rows[n], tss[n], keys[n].kb,
						  sizeof(keys[n].kb), &keys[n].kl, &keys[n].h);
		}
		for (int i = 0; i < n; i++) {
			c->ts = tss[i];
			int rc = keys[i].fast ? tm_agg_process_keyed(head, &rows[i], keys[i].kb,
								    keys[i].kl, keys[i].h)
					      : tm_op_process(head, &rows[i]);
			c->ctx.scratch_used = 0;
			if (rc || (rc = tm_chain_check(c)) != 0)
				return rc;
		}
	}
	return 0;
}

/* Inputs that fan in (tm_task_fans_in): the records of one buffer, into
 * input side (0 or 1) of operator head. */
static int process_buffer_two(tm_task *t, const net_buffer *b, tm_op *head, int side)
{
	tm_chain *c = &t->chain;
	tm_process_fn fn = side ? head->process2 : head->process;
	size_t off = 0;
	while (off < b->len) {
		fl_row row;
		int rc = decode_record(t, b, &off, &row, &c->ts);
		if (rc)
			return rc;
		head->n_in++;
		rc = fn(head, &row);
		c->ctx.scratch_used = 0;
		if (rc || (rc = tm_chain_check(c)) != 0)
			return rc;
	}
	return 0;
}

/* Processes the records of one data buffer (from channel ch) through the
 * chain head. */
static int process_buffer(tm_task *t, const net_buffer *b, int ch)
{
	tm_chain *c = &t->chain;
	tm_op *head = &c->ops[0];
	size_t off = 0;
	if (t->ch_side)
		return process_buffer_two(t, b, t->ch_op[ch], t->ch_side[ch]);
	if (t->prefetch_keys)
		return process_buffer_keyed(t, b);
	while (off < b->len) {
		fl_row row;
		int rc = decode_record(t, b, &off, &row, &c->ts);
		if (rc)
			return rc;
		rc = tm_op_process(head, &row);
		c->ctx.scratch_used = 0;
		if (rc || (rc = tm_chain_check(c)) != 0)
			return rc;
	}
	return 0;
}

/* An alignment whose checkpoint the JobMaster aborted ends: its channels
 * flow again, its late barriers are ignored, and its cancel marker goes
 * downstream. */
static int align_maybe_aborted(tm_task *t)
{
	uint64_t aborted = atomic_load_explicit(&t->abort_id, memory_order_relaxed);
	if (!t->align.id || aborted < t->align.id)
		return 0;
	uint64_t id;
	enum tm_align_action act = tm_align_cancel(&t->align, t->align.id, &id);
	return align_act(t, act, id, "the JobMaster aborted it while aligning");
}

/* A popped buffer (data or an event) of channel ch, which it frees. */
static int input_buffer(tm_task *t, net_buffer *b, int ch)
{
	tm_chain *c = &t->chain;
	int rc = 0;
	if (b->kind == NET_BUF_DATA) {
		c->n_bytes_in += b->len;
		c->n_buffers_in++;
		rc = process_buffer(t, b, ch);
	} else if (b->event == NET_EV_END_OF_PARTITION) {
		t->ended_channels++;
		uint64_t id = 0;
		enum tm_align_action act = tm_align_end(&t->align, ch, &id);
		rc = align_act(t, act, id, "");
		int64_t w = 0;
		bool rose = tm_wm_end(&t->wm, ch, &w);
		/* A stopped input's end is not the end of time: the timers
		 * pending stay in the savepoint, unfired. Nor does it let the
		 * other inputs' watermarks through: a channel still open may
		 * be ahead (another input of a two-input operator, another
		 * producer), and what its watermark fired now would fire again
		 * after the restore. */
		if (b->arg == TM_EOP_STOPPED)
			c->stopped = true;
		if (rc == 0 && !c->stopped)
			rc = pass_watermark(t, rose, w);
	} else if (b->event == NET_EV_BARRIER && b->arg > 0) {
		uint64_t id = 0;
		uint64_t aborted = atomic_load_explicit(&t->abort_id, memory_order_relaxed);
		enum tm_align_action act =
		    tm_align_barrier(&t->align, ch, (uint64_t)b->arg, aborted, &id);
		rc = align_act(t, act, id, "its barrier came after the JobMaster aborted it");
	} else if (b->event == NET_EV_WATERMARK) {
		int64_t w = 0;
		bool rose = tm_wm_input(&t->wm, ch, b->arg, &w);
		rc = c->stopped ? 0 : pass_watermark(t, rose, w);
	} else if (b->event == NET_EV_CANCEL_BARRIER && b->arg > 0) {
		uint64_t id = 0;
		enum tm_align_action act = tm_align_cancel(&t->align, (uint64_t)b->arg, &id);
		rc = align_act(t, act, id, "a cancel marker came from upstream");
	}
	net_buffer_free(b);
	return rc;
}

/* What net_gate_pop returned when it gave no buffer and did not time out. */
static int gate_failed(tm_task *t, int rc)
{
	if (rc == FL_ECLOSED)
		return tm_chain_fail(&t->chain, rc, "%s: %s", t->name, net_gate_error(t->gate));
	return rc;
}

/* Aborts and completions the JobMaster sent: an alignment of an aborted
 * checkpoint ends, operators are told. */
static int attend_jobmaster(tm_task *t)
{
	int rc = t->align.id ? align_maybe_aborted(t) : 0;
	return rc ? rc : deliver_notifications(t);
}

/* A stop-with-savepoint holding a task with inputs only (take_checkpoint)
 * lets go when the JobMaster aborted it: its timers fire again. */
static void input_stop_aborted(tm_task *t)
{
	if (t->stop_id && atomic_load(&t->abort_id) >= t->stop_id) {
		CM_INFO("task", "savepoint %llu was aborted: its processing-time timers fire again",
			(unsigned long long)t->stop_id);
		t->stop_id = 0;
	}
}

static int run_input_loop(tm_task *t)
{
	tm_chain *c = &t->chain;
	for (;;) {
		net_buffer *b;
		int ch;
		int64_t deadline = c->buffer_timeout_ms > 0 ? c->next_flush_ms : -1;
		input_stop_aborted(t);
		/* Processing-time timers: those due fire now, the next one's
		 * time bounds the wait (one thread, no timer thread); none
		 * while a stop-with-savepoint holds the task or stopped an
		 * input. */
		if (c->has_timers && !t->stop_id && !c->stopped) {
			int trc = tm_chain_proc_timers(c, &deadline);
			/* What they emitted goes out as any record's would
			 * (the wait below may be long). */
			if (trc == 0)
				trc = tm_chain_maybe_flush(c, c->buffer_timeout_ms == 0);
			if (trc)
				return trc;
		}
		/* While aligning or held by a stop, wake at least every
		 * TM_ABORT_CHECK_MS to see whether the checkpoint was aborted. */
		if (t->align.id || t->wants_notify || t->stop_id) {
			int64_t soon = cm_now_ms() + TM_ABORT_CHECK_MS;
			if (deadline < 0 || deadline > soon)
				deadline = soon;
		}
		int rc = net_gate_pop(t->gate, deadline, &b, &ch);
		int nrc = attend_jobmaster(t);
		if (nrc) {
			if (rc == 0)
				net_buffer_free(b);
			return nrc;
		}
		if (rc == FL_ETIMEDOUT) {
			if ((rc = tm_chain_maybe_flush(c, true)) != 0)
				return rc;
			continue;
		}
		if (rc)
			return gate_failed(t, rc);
		if ((rc = input_buffer(t, b, ch)) != 0)
			return rc;
		if (t->ended_channels == t->nin)
			return 0;
		if ((rc = tm_chain_maybe_flush(c, c->buffer_timeout_ms == 0)) != 0)
			return rc;
	}
}

/* The sources' watermark and idleness (tm_sources_wm_fn) at a task of
 * sources and inputs: their channel of the valve. */
static int mixed_wm(void *arg, enum tm_src_wm what, int64_t w)
{
	tm_task *t = arg;
	/* TM_WM_NONE, below anything, only makes an idle channel active. */
	int64_t in = what == TM_SRC_IDLE ? TM_WM_IDLE : what == TM_SRC_ACTIVE ? TM_WM_NONE : w;
	int64_t out = 0;
	bool rose = tm_wm_input(&t->wm, t->nin, in, &out);
	return t->chain.stopped ? 0 : pass_watermark(t, rose, out);
}

/* The sources ended (stopped: by a stop-with-savepoint, whose end is not
 * the end of time): their channel ends in the aligner and the valve. */
static int mixed_sources_end(tm_task *t, bool stopped)
{
	t->src_ended = true;
	t->stop_id = 0;
	sync_hold(t);
	uint64_t id = 0;
	enum tm_align_action act = tm_align_end(&t->align, t->nin, &id);
	int rc = align_act(t, act, id, "");
	int64_t w = 0;
	bool rose = tm_wm_end(&t->wm, t->nin, &w);
	if (stopped)
		t->chain.stopped = true;
	if (rc == 0 && !t->chain.stopped)
		rc = pass_watermark(t, rose, w);
	return rc;
}

/* A stop-with-savepoint holding the sources: completed, they end (their
 * operators committed first); aborted, they go on. */
static int mixed_stop(tm_task *t)
{
	if (!t->stop_id)
		return 0;
	if (atomic_load(&t->complete_id) >= t->stop_id) {
		int rc = deliver_notifications(t);
		if (rc)
			return rc;
		CM_INFO("task", "its sources stop after savepoint %llu",
			(unsigned long long)t->stop_id);
		return mixed_sources_end(t, true);
	}
	if (atomic_load(&t->abort_id) >= t->stop_id) {
		CM_INFO("task", "savepoint %llu was aborted: the sources go on",
			(unsigned long long)t->stop_id);
		t->stop_id = 0;
		sync_hold(t);
	}
	return 0;
}

/* Input buffers a task of sources and inputs reads between two rounds of
 * its sources, at most. */
#define MIXED_GATE_BURST 8

/*
 * A task of an input gate and chained sources (jobgraph.h: a two-input
 * operator joined a network-fed chain with a source's): one thread reads a
 * few input buffers without waiting, then gives every source a turn, then
 * attends to its timers, triggers, aborts, completions and flushes; it
 * waits on the gate only when nothing was there to do, until a paced
 * source's next record, a flush, a timer, an idle timeout or a trigger
 * (net_gate_wake). It ends when the gate's channels and the sources all
 * ended (an unbounded generator's never do: the task then runs until it
 * is cancelled or stopped, as a source's would).
 */
static int run_mixed_loop(tm_task *t)
{
	tm_chain *c = &t->chain;
	tm_sources *g;
	int rc = tm_sources_new(c, mixed_wm, t, &g);
	if (rc)
		return rc;
	bool src_at_end = false; /* an unbounded generator's end of splits */
	while (rc == 0 && (t->ended_channels < t->nin || !t->src_ended)) {
		bool busy = false;
		int64_t due = INT64_MAX;
		for (int k = 0; k < MIXED_GATE_BURST && rc == 0 && t->ended_channels < t->nin; k++) {
			net_buffer *b;
			int ch;
			int prc = net_gate_pop(t->gate, 0, &b, &ch);
			if (prc == FL_ETIMEDOUT)
				break;
			rc = prc ? gate_failed(t, prc) : input_buffer(t, b, ch);
			busy = true;
		}
		if (rc == 0 && !t->src_ended && !c->src_hold) {
			if (tm_sources_live(g)) {
				bool ran = false;
				rc = tm_sources_round(g, &ran, &due);
				busy |= ran;
			} else if (!tm_sources_unbounded(g)) {
				rc = mixed_sources_end(t, false);
			} else if (!src_at_end) {
				/* Nothing more will come from them: the end of
				 * time, but no end (tm_run_sources). */
				src_at_end = true;
				int64_t out = 0;
				bool rose = tm_wm_input(&t->wm, t->nin, TM_WM_END, &out);
				rc = c->stopped ? 0 : pass_watermark(t, rose, out);
			}
		}
		/* A stop-with-savepoint holds what the task would emit of
		 * itself, the sources' watermark and processing-time timers
		 * too: after its barrier they would fire, downstream or here,
		 * what the savepoint holds as pending, and the restored job
		 * would fire it again. */
		bool stopping = t->stop_id != 0 || c->stopped;
		int64_t now = cm_now_ms();
		if (rc == 0 && !t->src_ended && !stopping)
			rc = tm_sources_tick(g, now);
		if (rc == 0)
			rc = tm_chain_check(c);
		if (rc == 0)
			rc = mixed_stop(t);
		if (rc == 0)
			rc = attend_jobmaster(t);
		int64_t deadline = -1;
		if (rc == 0 && c->has_timers && !stopping)
			rc = tm_chain_proc_timers(c, &deadline);
		if (rc == 0)
			rc = tm_chain_maybe_flush(c, c->buffer_timeout_ms == 0);
		if (rc || busy || (t->ended_channels == t->nin && t->src_ended))
			continue;
		/* Nothing was there to do: wait for input, no longer than
		 * the sources, the timers and the JobMaster's news allow. */
		int64_t at = now + (t->src_ended || c->src_hold ? TM_ABORT_CHECK_MS
							      : tm_sources_wait_ms(g, now, due));
		if (c->buffer_timeout_ms > 0 && c->next_flush_ms < at)
			at = c->next_flush_ms;
		if (deadline >= 0 && deadline < at)
			at = deadline;
		net_buffer *b;
		int ch;
		int prc = net_gate_pop(t->gate, at, &b, &ch);
		if (prc != FL_ETIMEDOUT)
			rc = prc ? gate_failed(t, prc) : input_buffer(t, b, ch);
	}
	tm_sources_free(g);
	return rc;
}

/*
 * FLIP-147's final checkpoint: a task whose operators commit on completed
 * checkpoints (an exactly-once sink) does not finish at its end of input
 * but once a checkpoint it took after it completed, so that what it wrote
 * since the last one is committed. Without that wait a checkpoint taken
 * after it finished would record it as finished with nothing to commit,
 * and a failure restored from that checkpoint would lose what it wrote.
 * Its end went out downstream already; it takes checkpoints as a source
 * does (the JobMaster triggers it once every task upstream finished).
 * Returns 0 when it may finish, or an error (cancelled, a failed
 * checkpoint's).
 */
static int await_final_checkpoint(tm_task *t)
{
	tm_chain *c = &t->chain;
	uint64_t before = t->last_ckp_id;
	/* A trigger that came before (tm_task_trigger_checkpoint) is taken
	 * now; later ones go straight to trigger_id. */
	pthread_mutex_lock(&t->ckp_mu);
	atomic_store(&t->awaiting_final, true);
	bool triggered = t->deferred_id > t->trigger_id;
	if (triggered) {
		t->trigger_id = t->deferred_id;
		t->trigger_stop = t->deferred_stop;
	}
	t->deferred_id = 0;
	pthread_mutex_unlock(&t->ckp_mu);
	if (triggered)
		atomic_fetch_or(&c->attention, TM_ATTN_CHECKPOINT);
	CM_INFO("task", "end of input: waits for a checkpoint to commit its output before it "
			"finishes");
	int64_t said = cm_now_ms();
	for (;;) {
		if (atomic_load_explicit(&c->cancelled, memory_order_relaxed))
			return FL_ECANCELED;
		int rc = tm_chain_check(c);
		if (rc == 0)
			rc = deliver_notifications(t);
		if (rc == TM_STOPPED)
			return 0; /* a stop-with-savepoint: committed by it */
		if (rc)
			return rc;
		if (t->last_ckp_id > before && t->told_complete >= t->last_ckp_id) {
			CM_INFO("task", "checkpoint %llu committed its output: it finishes",
				(unsigned long long)t->last_ckp_id);
			return 0;
		}
		if (cm_now_ms() - said >= 60000) {
			CM_INFO("task", "still waits for a checkpoint to commit its output");
			said = cm_now_ms();
		}
		struct timespec ts = {0, 5 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

static void report(tm_task *t, enum tm_task_state st, const char *error)
{
	atomic_store(&t->state, st);
	if (t->deps.on_state)
		t->deps.on_state(t->deps.on_state_arg, t, st, error);
}

static void *task_main(void *arg)
{
	tm_task *t = arg;
	tm_chain *c = &t->chain;
	cm_crash_thread_init();
	cm_log_set_thread_job(t->td->job_id);
	cm_log_set_thread_task(t->name);
	report(t, TM_TASK_RUNNING, NULL);
	c->next_flush_ms = cm_now_ms();
	if (__builtin_add_overflow(c->next_flush_ms, c->buffer_timeout_ms, &c->next_flush_ms))
		c->next_flush_ms = INT64_MAX;
	size_t opened = 0;
	int rc = connect_outputs(t);
	if (rc == 0)
		rc = tm_chain_open(c, &opened);
	if (rc == 0)
		rc = tm_chain_restore(c);
	if (rc == 0) {
		enum sg_kind head = t->td->ops[0].kind;
		size_t sources = 0;
		for (size_t i = 0; i < t->td->nops; i++)
			sources += sg_kind_is_source(t->td->ops[i].kind);
		if (t->mixed)
			rc = run_mixed_loop(t);
		else if (sources > 1)
			rc = tm_run_sources(c);
		else if (head == SG_SOURCE_GENERATOR)
			rc = tm_run_generator(c);
		else if (head == SG_SOURCE_TEXT_FILE)
			rc = tm_run_text_source(c);
		else if (head == SG_SOURCE_SOCKET)
			rc = tm_run_socket_source(c);
		else
			rc = run_input_loop(t);
		if (rc == TM_STOPPED) {
			rc = 0; /* stopped with a savepoint: as at the end of input */
			c->stopped = true;
		}
	}
	if (rc == 0)
		rc = tm_chain_finish(c);
	if (rc == 0 && t->td->final_checkpoint && t->wants_notify && !c->stopped)
		rc = await_final_checkpoint(t);
	/* A snapshot being written holds cuts of the operators' state. */
	join_writer(t);
	int crc = tm_chain_close(c, opened, rc == 0);
	if (rc == 0)
		rc = crc;
	/* A failure recorded anywhere in the chain fails the task, whatever
	 * the code path that returned: nothing recorded is ever dropped. */
	if (rc == 0 && c->err.code)
		rc = c->err.code;
	tm_chain_publish_metrics(c);
	enum tm_task_state st;
	if (rc == 0)
		st = TM_TASK_FINISHED;
	else if (atomic_load(&c->cancelled) && (rc == FL_ECANCELED || c->err.code == 0))
		st = TM_TASK_CANCELED;
	else
		st = TM_TASK_FAILED;
	if (st == TM_TASK_FAILED && c->err.code == 0)
		tm_chain_fail(c, rc, "%s failed: %s", t->name, fl_strerror(rc));
	report(t, st, st == TM_TASK_FAILED ? c->err.msg : NULL);
	cm_log_set_thread_task(NULL);
	cm_log_set_thread_job(NULL);
	cm_crash_thread_fini();
	return NULL;
}

int tm_task_start(tm_task *t, cm_err *err)
{
	pthread_mutex_lock(&t->mu);
	/* Started already, or ended without starting: nothing to do. */
	if (t->started || t->abandoned || t->ended_unstarted) {
		pthread_mutex_unlock(&t->mu);
		return 0;
	}
	int rc = pthread_create(&t->thread, NULL, task_main, t);
	t->started = rc == 0;
	pthread_mutex_unlock(&t->mu);
	if (rc != 0)
		return cm_err_set(err, FL_ENOMEM, "cannot start the thread of %s", t->name);
	return 0;
}

bool tm_task_end_unstarted(tm_task *t, enum tm_task_state st, const char *error)
{
	pthread_mutex_lock(&t->mu);
	bool end = !t->started && !t->abandoned && !tm_task_state_is_final(tm_task_get_state(t));
	if (end) {
		t->ended_unstarted = true;
		atomic_store(&t->state, st);
	}
	pthread_mutex_unlock(&t->mu);
	if (end && t->deps.on_state)
		t->deps.on_state(t->deps.on_state_arg, t, st, error);
	return end;
}

void tm_task_cancel(tm_task *t)
{
	tm_chain_cancel(&t->chain);
	if (t->gate)
		net_gate_cancel(t->gate);
	/* Writers are created by the task's thread when it connects; those
	 * that exist are cancelled, a later one sees the flag (connect_outputs). */
	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->chain.nops; i++)
		for (size_t k = 0; k < t->chain.ops[i].nouts; k++)
			if (t->chain.ops[i].outs[k].writer)
				net_writer_cancel(t->chain.ops[i].outs[k].writer);
	pthread_mutex_unlock(&t->mu);
}

static void on_interrupt(int sig)
{
	(void)sig; /* the point is the EINTR it causes */
}

static pthread_once_t interrupt_once = PTHREAD_ONCE_INIT;

static void install_interrupt(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: blocking calls return EINTR */
	sigaction(SIGURG, &sa, NULL);
}

void tm_task_interrupt(tm_task *t)
{
	pthread_once(&interrupt_once, install_interrupt);
	pthread_mutex_lock(&t->mu);
	if (t->started && !tm_task_state_is_final(tm_task_get_state(t)))
		pthread_kill(t->thread, SIGURG);
	pthread_mutex_unlock(&t->mu);
}

void tm_task_abandon(tm_task *t)
{
	pthread_mutex_lock(&t->mu);
	if (t->started)
		pthread_detach(t->thread);
	t->started = false;
	t->abandoned = true;
	pthread_mutex_unlock(&t->mu);
}

bool tm_task_live(tm_task *t)
{
	pthread_mutex_lock(&t->mu);
	bool live = t->started && !t->abandoned && !tm_task_state_is_final(tm_task_get_state(t));
	pthread_mutex_unlock(&t->mu);
	return live;
}

bool tm_task_was_abandoned(tm_task *t)
{
	pthread_mutex_lock(&t->mu);
	bool a = t->abandoned;
	pthread_mutex_unlock(&t->mu);
	return a;
}

void tm_task_join(tm_task *t)
{
	pthread_mutex_lock(&t->mu);
	bool started = t->started;
	pthread_mutex_unlock(&t->mu);
	if (started) {
		pthread_join(t->thread, NULL);
		pthread_mutex_lock(&t->mu);
		t->started = false;
		pthread_mutex_unlock(&t->mu);
	}
}

void tm_task_free(tm_task *t)
{
	if (!t)
		return;
	tm_task_join(t);
	unregister_inputs(t);
	tm_chain_fini(&t->chain);
	free(t->prefetch_keys);
	free(t->ch_side);
	free(t->ch_op);
	net_gate_free(t->gate);
	free(t->in_ids);
	/* Buffers still out (in a consumer's gate, a connection's queue) keep
	 * their quota until they return. */
	net_quota_close(t->out_quota);
	net_quota_close(t->in_quota);
	td_free(t->td);
	tm_align_fini(&t->align);
	tm_wm_fini(&t->wm);
	pthread_mutex_destroy(&t->ckp_mu);
	pthread_mutex_destroy(&t->mu);
	free(t);
}
