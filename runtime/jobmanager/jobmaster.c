/*
 * jobmaster.c — the JobMaster service: every step is a message handled on
 * its loop; gateway replies come back as messages too (see jobmaster.h).
 */
#include "jobmanager/jobmaster.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/auth.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/sync.h"
#include "graph/descriptor.h"
#include "graph/outputs.h"
#include "checkpoint/coordinator.h"
#include "checkpoint/restore.h"
#include "jobmanager/execgraph.h"
#include "jobmanager/scheduler.h"
#include "taskmanager/operator.h"

#define PROGRESS_MS 1000

enum phase { P_SLOTS, P_SUBMIT, P_START, P_RUNNING, P_ENDING, P_RELEASE, P_DONE };

struct tm_info {
	char *resource_id;
	char *data_address;
	int slots;
	int64_t last_heard_ms;
	bool heartbeat_out; /* a heartbeat request awaits its reply */
	bool lost;
	/* No task of the job was placed there (a mini cluster has more
	 * TaskManagers than the job needs): the job's calls skip it. */
	bool unused;
	bool metrics_out;
	/* It was lost with a metrics request out: the round went on without
	 * it, and the late reply (an RPC timeout) is dropped. */
	bool metrics_given_up;
};

struct local_gateway {
	rpc_jm_gateway base;
	jm_jobmaster *jm;
};

struct jm_jobmaster {
	char id[33];
	uint64_t attempt;
	char address[256];
	char library[256]; /* "" : the graph's own */
	int *slot_limit;   /* per TaskManager, NULL: what each reports */
	uint32_t *placement; /* per job slot, NULL: round-robin */
	bool local_address;
	const jg_graph *jg;
	rpc_tm_gateway **tms;
	size_t ntms;
	jm_listener L;
	struct local_gateway gw;
	cm_loop *loop;
	/* Loop thread only: */
	eg_graph *eg;
	struct tm_info *tmi;
	enum phase phase;
	int pending;  /* replies awaited in the submit or release phase */
	int starts_pending; /* start replies awaited */
	int inflight; /* gateway calls not yet answered, any phase */
	bool deploy_failed;
	int deploy_rc; /* why the job could not start, when it is not FL_EIO */
	bool cancel_requested;
	bool cancel_sent; /* cancel_everywhere ran: every live task is being cancelled */
	char error[CM_ERR_MSG_MAX];
	uint32_t **where;
	uint64_t *edge_base;
	int64_t t0;
	int64_t heartbeat_interval_ms, heartbeat_timeout_ms;
	int64_t unreachable_ms; /* heartbeat.rpc-failure-threshold x interval; 0: off */
	/* The checkpoint in flight (ckp_pending) is a stop-with-savepoint: set
	 * with ckp_pending when it starts, read when its sources are triggered
	 * (after every TaskManager answered the prepare, which may take long). */
	bool ckp_stop;
	/* A stop-with-savepoint completed: the sources end, and no checkpoint
	 * starts after it (Flink stops the checkpoint scheduler): one would
	 * commit output that a job restored from the savepoint writes again. */
	bool stopped_at_savepoint;
	char state_backend[16]; /* state.backend.type for the tasks: hashmap or lmdb */
	bool incremental;	/* execution.checkpointing.incremental */
	bool at_least_once;	/* execution.checkpointing.mode AT_LEAST_ONCE */
	/* FLIP-147: checkpoints go on once some tasks finished (periodic
	 * checkpoints and checkpoints-after-tasks-finish on). */
	bool after_finish;
	/* The checkpoint triggered once every source had finished (0: none
	 * yet), and whether it completed: then every task still running is
	 * committing and finishing, and none is triggered again. */
	uint64_t drain_ckp;
	bool drained;
	uint64_t heartbeat_timer, progress_timer;
	uint64_t *in, *out;
	jm_node_progress *np;
	jm_vertex_io *vio_acc, *vio; /* the round being summed, the last complete one */
	int metrics_pending;
	bool final_metrics; /* the metrics round before release */
	bool final_round_wanted; /* ... after the round in flight */
	/* Checkpoints (loop thread): the coordinator, each vertex's first
	 * task in the flat task numbering acknowledgements use, the timers,
	 * the checkpoint in flight and the savepoint requests waiting. */
	cp_coordinator *cp;
	size_t *task_base;
	uint64_t ckp_timer, ckp_expiry_timer;
	uint64_t ckp_pending; /* 0: none */
	int ckp_prepares;     /* announcements awaited before the sources go */
	int ckp_kind;
	int64_t ckp_wall;
	char ckp_dir[1100];
	struct sp_request *savepoints;
	/* Completion, for jm_wait: mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	jm_result res;
};

/* Heartbeat requests of every JobMaster of this process that had no reply
 * by the next heartbeat (/metrics). */
static atomic_uint_fast64_t heartbeats_missed;

uint64_t jm_heartbeats_missed(void)
{
	return atomic_load_explicit(&heartbeats_missed, memory_order_relaxed);
}

void jm_new_job_id(char id[33])
{
	unsigned char b[16] = {0};
	if (cm_random(b, sizeof(b)) != 0) {
		/* No entropy source: time and a counter still make ids unique
		 * within this process, which is all a local cluster needs. */
		static _Atomic uint64_t seq;
		uint64_t t = (uint64_t)cm_wall_ms(), s = atomic_fetch_add(&seq, 1);
		memcpy(b, &t, 8);
		memcpy(b + 8, &s, 8);
	}
	for (int i = 0; i < 16; i++)
		snprintf(id + 2 * i, 3, "%02x", b[i]);
}

const char *jm_job_id(const jm_jobmaster *jm)
{
	return jm->id;
}

uint64_t jm_attempt(const jm_jobmaster *jm)
{
	return jm->attempt;
}

rpc_jm_gateway *jm_gateway(jm_jobmaster *jm)
{
	return &jm->gw.base;
}

/* ------------------------------------------------------ gateway replies */

struct reply;
typedef void (*reply_fn)(jm_jobmaster *jm, struct reply *r);

struct reply {
	jm_jobmaster *jm;
	reply_fn handle;
	int tm;
	int vertex, subtask;
	uint64_t checkpoint;
	int rc;
	char *msg;
	uint8_t *payload;
	size_t len;
};

static void run_reply(void *arg)
{
	struct reply *r = arg;
	r->jm->inflight--;
	r->handle(r->jm, r);
	free(r->msg);
	free(r->payload);
	free(r);
}

/* A gateway's done callback, on any thread: copies the reply and posts it
 * to the loop. The loop outlives every call in flight (jm_wait waits). */
static void on_done(void *arg, int rc, const char *msg, const uint8_t *payload, size_t len)
{
	struct reply *r = arg;
	r->rc = rc;
	if (msg && !(r->msg = strdup(msg)) && rc == 0)
		r->rc = FL_ENOMEM;
	if (len && (r->payload = malloc(len)))
		memcpy(r->payload, payload, len);
	else if (len)
		r->rc = r->rc ? r->rc : FL_ENOMEM;
	r->len = r->payload ? len : 0;
	/* The loop lives until every call was answered (jm_wait), so a post
	 * fails only for memory: retry, since a lost reply would keep the job
	 * from ever ending; give up loudly after a minute. */
	for (int i = 0; cm_loop_post(r->jm->loop, run_reply, r) != 0; i++) {
		if (i == 6000) {
			CM_ERROR("jobmaster", "out of memory: a TaskManager's reply cannot reach the "
					      "JobMaster; the process ends");
			abort();
		}
		struct timespec ts = {0, 10 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

/* Prepares a call's reply context, or NULL (memory: handled as a failed
 * call by the caller). None once the job is done: jm_wait has then seen no
 * call in flight and the loop goes next, so a call started later (a late
 * acknowledgement's notification, a REST query's metrics) would be answered
 * into a stopping loop, its reply lost (LeakSanitizer saw one in
 * integration.kill) or worse. */
static struct reply *expect(jm_jobmaster *jm, reply_fn handle, int tm)
{
	if (jm->phase == P_DONE)
		return NULL;
	struct reply *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->jm = jm;
	r->handle = handle;
	r->tm = tm;
	jm->inflight++;
	return r;
}

/* ------------------------------------------------------------- status */

static void set_status(jm_jobmaster *jm, enum eg_status st, const char *why)
{
	enum eg_status from = jm->eg->status;
	if (!eg_set_status(jm->eg, st, cm_wall_ms(), why))
		return;
	if (jm->L.status)
		jm->L.status(jm->L.arg, st);
	if (st == EG_FAILING || st == EG_FAILED)
		CM_INFO("jobmaster", "Job '%s' (%s) switched from state %s to %s%s%s", jm->jg->job_name,
			jm->id, eg_status_name(from), eg_status_name(st), why ? ": " : "",
			why ? why : "");
	else
		CM_INFO("jobmaster", "Job '%s' (%s) switched from state %s to %s.", jm->jg->job_name,
			jm->id, eg_status_name(from), eg_status_name(st));
}

static void finish(jm_jobmaster *jm);
static void maybe_end(jm_jobmaster *jm);

/* Marks (v, i) and logs the change as Flink's ExecutionGraph does. */
static void task_state(jm_jobmaster *jm, int v, int i, enum tm_task_state st, const char *why)
{
	enum tm_task_state from = jm->eg->vertices[v].subtasks[i].state;
	/* Flink's Execution.processFail: a task that fails while the JobMaster
	 * cancels it ends CANCELED; its failure is the cancellation's echo (a
	 * source whose consumer was cancelled first, a TaskManager lost while
	 * cancelling). */
	if (st == TM_TASK_FAILED && jm->cancel_sent) {
		CM_DEBUG("jobmaster", "%s (%d/%d) failed while being cancelled (%s): CANCELED",
			 jm->jg->vertices[v].name, i + 1, jm->jg->vertices[v].parallelism,
			 why ? why : "");
		st = TM_TASK_CANCELED;
	}
	if (!eg_set_state(jm->eg, v, i, st, cm_wall_ms(), why))
		return;
	const jg_vertex *jv = &jm->jg->vertices[v];
	if (st == TM_TASK_FAILED)
		CM_INFO("jobmaster", "%s (%d/%d) switched from %s to FAILED: %s", jv->name, i + 1,
			jv->parallelism, tm_task_state_name(from), why ? why : "");
	else
		CM_DEBUG("jobmaster", "%s (%d/%d) switched from %s to %s.", jv->name, i + 1,
			 jv->parallelism, tm_task_state_name(from), tm_task_state_name(st));
}

/* Cancels the job attempt everywhere (the TaskManagers report the states). */
static void cancel_everywhere(jm_jobmaster *jm);

/* The job fails with why (the first cause wins): every task is cancelled. */
static void fail_job(jm_jobmaster *jm, const char *why)
{
	if (!jm->error[0])
		snprintf(jm->error, sizeof(jm->error), "%s", why);
	if (jm->eg->status == EG_RUNNING || jm->eg->status == EG_CREATED ||
	    jm->eg->status == EG_CANCELLING)
		set_status(jm, EG_FAILING, why);
	if (jm->phase >= P_START && jm->phase <= P_RUNNING) {
		jm->phase = P_ENDING;
		cancel_everywhere(jm);
	}
	maybe_end(jm);
}

/* ---------------------------------------------------------- heartbeats */

/* A heartbeat counts only when the TaskManager that answers is the one the
 * job was deployed to (a restarted one at the same address has lost its
 * tasks: its silence must fail the job). */
static void on_heartbeat(jm_jobmaster *jm, struct reply *r)
{
	struct tm_info *t = &jm->tmi[r->tm];
	t->heartbeat_out = false;
	if (r->rc != 0)
		return;
	cm_rbuf rb;
	cm_rbuf_init(&rb, r->payload, r->len);
	char *id = NULL;
	cm_rbuf_strdup(&rb, 256, &id);
	if (id && t->resource_id && strcmp(id, t->resource_id) == 0)
		t->last_heard_ms = cm_now_ms();
	else
		CM_WARN("jobmaster", "a heartbeat reply from %.100s where TaskManager %.100s was",
			id ? id : "(unnamed)", t->resource_id ? t->resource_id : "?");
	free(id);
}

static void metrics_answered(jm_jobmaster *jm);

static void heartbeat_tick(void *arg)
{
	jm_jobmaster *jm = arg;
	jm->heartbeat_timer = 0;
	if (jm->phase >= P_RELEASE)
		return;
	int64_t now = cm_now_ms();
	int given_up = 0;
	for (size_t k = 0; k < jm->ntms; k++) {
		struct tm_info *t = &jm->tmi[k];
		if (t->lost || t->unused)
			continue;
		/* Flink's heartbeat.rpc-failure-threshold: a connection that
		 * dropped and stayed down for that many heartbeats is a lost
		 * TaskManager (killed), without waiting for heartbeat.timeout. */
		int64_t down = jm->unreachable_ms > 0 ? rpc_tm_unreachable_ms(jm->tms[k]) : 0;
		bool dropped = down > 0 && down >= jm->unreachable_ms;
		if (dropped || now - t->last_heard_ms >= jm->heartbeat_timeout_ms) {
			t->lost = true;
			char why[512];
			if (dropped)
				snprintf(why, sizeof(why),
					 "TaskManager %s is unreachable: its connection dropped %lld ms "
					 "ago and is not back (heartbeat.rpc-failure-threshold)",
					 t->resource_id ? t->resource_id : "?", (long long)down);
			else
				snprintf(why, sizeof(why),
					 "TaskManager %s is unreachable: no heartbeat reply for %lld ms "
					 "(heartbeat.timeout)",
					 t->resource_id ? t->resource_id : "?",
					 (long long)(now - t->last_heard_ms));
			CM_WARN("jobmaster", "%s", why);
			/* A metrics round waiting for it (the final one holds the
			 * job's end) goes on without it, below. */
			if (t->metrics_out) {
				t->metrics_out = false;
				t->metrics_given_up = true;
				given_up++;
			}
			/* Its tasks cannot report any more: they fail with it. */
			for (size_t v = 0; jm->where && v < jm->jg->nvertices; v++)
				for (int i = 0; i < jm->jg->vertices[v].parallelism; i++)
					if (jm->where[v][i] == k)
						task_state(jm, (int)v, i, TM_TASK_FAILED, why);
			fail_job(jm, why);
			continue;
		}
		if (t->heartbeat_out) {
			/* The last request is still unanswered: a missed heartbeat
			 * (heartbeat.timeout decides when it is lost). */
			atomic_fetch_add_explicit(&heartbeats_missed, 1, memory_order_relaxed);
			continue;
		}
		struct reply *r = expect(jm, on_heartbeat, (int)k);
		if (!r)
			continue;
		t->heartbeat_out = true;
		jm->tms[k]->ops->heartbeat(jm->tms[k], jm->address, on_done, r);
	}
	while (given_up-- > 0)
		metrics_answered(jm);
	if (jm->phase < P_RELEASE)
		cm_loop_timer(jm->loop, now + jm->heartbeat_interval_ms, heartbeat_tick, jm,
			      &jm->heartbeat_timer);
}

/* ------------------------------------------------------------ progress */

static void report_progress(jm_jobmaster *jm)
{
	size_t nnodes = jm->jg->sg->nnodes;
	for (size_t i = 0; i < nnodes; i++) {
		const sg_node *n = jm->jg->sg->nodes[i];
		jm->np[i] = (jm_node_progress){n->name, sg_kind_is_source(n->kind),
					       sg_kind_is_sink(n->kind), jm->in[i], jm->out[i]};
	}
	memcpy(jm->vio, jm->vio_acc, jm->jg->nvertices * sizeof(*jm->vio));
	jm_progress p = {jm->id, cm_now_ms() - jm->t0, nnodes, jm->np};
	if (jm->L.progress)
		jm->L.progress(jm->L.arg, &p);
}

static void release_everywhere(jm_jobmaster *jm);
static void savepoint_done(jm_jobmaster *jm, uint64_t id, int rc, const char *text);
static void checkpoint_failed(jm_jobmaster *jm, uint64_t id, const char *why, bool fail);

static bool collect_metrics(jm_jobmaster *jm);

static void on_metrics(jm_jobmaster *jm, struct reply *r)
{
	if (jm->tmi[r->tm].metrics_given_up) {
		jm->tmi[r->tm].metrics_given_up = false;
		return;
	}
	jm->tmi[r->tm].metrics_out = false;
	if (r->rc == 0) {
		cm_rbuf rb;
		cm_rbuf_init(&rb, r->payload, r->len);
		size_t n = cm_rbuf_count(&rb, 1u << 24, 3);
		for (size_t i = 0; i < n && !cm_rbuf_error(&rb); i++) {
			uint64_t node = cm_rbuf_uvarint(&rb), in = cm_rbuf_uvarint(&rb),
				 out = cm_rbuf_uvarint(&rb);
			if (!cm_rbuf_error(&rb) && node < jm->jg->sg->nnodes) {
				jm->in[node] += in;
				jm->out[node] += out;
			}
		}
		/* Then each task's network I/O. */
		size_t nt = cm_rbuf_remaining(&rb) ? cm_rbuf_count(&rb, 1u << 24, 5) : 0;
		for (size_t i = 0; i < nt && !cm_rbuf_error(&rb); i++) {
			uint64_t v = cm_rbuf_uvarint(&rb), bin = cm_rbuf_uvarint(&rb),
				 bout = cm_rbuf_uvarint(&rb), bp = cm_rbuf_uvarint(&rb);
			if (!cm_rbuf_error(&rb) && v < jm->jg->nvertices) {
				jm->vio_acc[v].bytes_in += bin;
				jm->vio_acc[v].bytes_out += bout;
				jm->vio_acc[v].back_pressured_ms += bp;
			}
		}
	}
	metrics_answered(jm);
}

/* One TaskManager of the metrics round answered (or was given up on). */
static void metrics_answered(jm_jobmaster *jm)
{
	if (--jm->metrics_pending > 0)
		return;
	report_progress(jm);
	if (jm->final_metrics) {
		/* A round asked before the tasks ended is not the final one. */
		if (jm->final_round_wanted) {
			jm->final_round_wanted = false;
			if (collect_metrics(jm))
				return;
		}
		jm->final_metrics = false;
		release_everywhere(jm);
	}
}

/* Asks every TaskManager for its counters; reports when all answered. */
static bool collect_metrics(jm_jobmaster *jm)
{
	if (jm->metrics_pending > 0)
		return false;
	size_t nnodes = jm->jg->sg->nnodes;
	memset(jm->in, 0, nnodes * sizeof(uint64_t));
	memset(jm->out, 0, nnodes * sizeof(uint64_t));
	memset(jm->vio_acc, 0, jm->jg->nvertices * sizeof(*jm->vio_acc));
	for (size_t k = 0; k < jm->ntms; k++) {
		if (jm->tmi[k].lost || jm->tmi[k].unused)
			continue;
		struct reply *r = expect(jm, on_metrics, (int)k);
		if (!r)
			continue;
		jm->metrics_pending++;
		jm->tmi[k].metrics_out = true;
		jm->tms[k]->ops->metrics(jm->tms[k], jm->id, jm->attempt, on_done, r);
	}
	if (jm->metrics_pending == 0) {
		report_progress(jm);
		return false;
	}
	return true;
}

static void progress_tick(void *arg)
{
	jm_jobmaster *jm = arg;
	jm->progress_timer = 0;
	if (jm->phase != P_RUNNING)
		return;
	collect_metrics(jm);
	cm_loop_timer(jm->loop, cm_now_ms() + PROGRESS_MS, progress_tick, jm, &jm->progress_timer);
}

/* ------------------------------------------------------------- ending */

static void on_release(jm_jobmaster *jm, struct reply *r)
{
	if (r->rc != 0)
		CM_WARN("jobmaster", "TaskManager %s could not release job %s: %s",
			jm->tmi[r->tm].resource_id ? jm->tmi[r->tm].resource_id : "?", jm->id,
			r->msg ? r->msg : fl_strerror(r->rc));
	if (--jm->pending == 0)
		finish(jm);
}

static void release_everywhere(jm_jobmaster *jm)
{
	jm->phase = P_RELEASE;
	cm_loop_timer_cancel(jm->loop, jm->heartbeat_timer);
	cm_loop_timer_cancel(jm->loop, jm->progress_timer);
	cm_loop_timer_cancel(jm->loop, jm->ckp_timer);
	cm_loop_timer_cancel(jm->loop, jm->ckp_expiry_timer);
	jm->ckp_timer = jm->ckp_expiry_timer = 0;
	/* What is in flight cannot complete: the tasks are gone (not counted
	 * against the tolerable failures, as a failover is not in Flink). */
	if (jm->cp && jm->ckp_pending) {
		bool fail;
		cp_abort(jm->cp, jm->ckp_pending, "the job attempt ended", cm_now_ms(), false,
			 &fail);
		jm->ckp_pending = 0;
	}
	savepoint_done(jm, 0, FL_ECANCELED, "the job attempt ended before the savepoint completed");
	jm->pending = 0;
	for (size_t k = 0; k < jm->ntms; k++) {
		if (jm->tmi[k].lost || jm->tmi[k].unused)
			continue;
		struct reply *r = expect(jm, on_release, (int)k);
		if (!r)
			continue;
		jm->pending++;
		jm->tms[k]->ops->release(jm->tms[k], jm->id, jm->attempt, on_done, r);
	}
	if (jm->pending == 0)
		finish(jm);
}

/* Once every task is final: the job's end (metrics first, when someone
 * listens, while the tasks still exist). */
static void maybe_end(jm_jobmaster *jm)
{
	if (jm->phase != P_ENDING && jm->phase != P_RUNNING)
		return;
	if (!eg_all_final(jm->eg))
		return;
	jm->phase = P_ENDING;
	if (!jm->deploy_failed) {
		jm->final_metrics = true;
		if (jm->metrics_pending > 0) {
			/* A progress round is out: the final one follows it. */
			jm->final_round_wanted = true;
			return;
		}
		if (collect_metrics(jm))
			return;
		jm->final_metrics = false;
	}
	release_everywhere(jm);
}

static void on_cancel_sent(jm_jobmaster *jm, struct reply *r)
{
	if (r->rc != 0 && !jm->tmi[r->tm].lost)
		CM_WARN("jobmaster", "cancelling job %s on TaskManager %s failed: %s", jm->id,
			jm->tmi[r->tm].resource_id ? jm->tmi[r->tm].resource_id : "?",
			r->msg ? r->msg : fl_strerror(r->rc));
}

static void cancel_everywhere(jm_jobmaster *jm)
{
	jm->cancel_sent = true;
	for (size_t k = 0; k < jm->ntms; k++) {
		if (jm->tmi[k].lost || jm->tmi[k].unused)
			continue;
		struct reply *r = expect(jm, on_cancel_sent, (int)k);
		if (r)
			jm->tms[k]->ops->cancel(jm->tms[k], jm->id, jm->attempt, on_done, r);
	}
}

static void finish(jm_jobmaster *jm)
{
	jm->phase = P_DONE;
	char run[OUTPUTS_RUN_ID_LEN + 1];
	outputs_run_id(jm->id, run);
	/* Flink's FinalizeOnMaster: the run's files are published only when
	 * the whole job finished; any other end removes them. Only this
	 * attempt's: a task of an earlier one may still run (a TaskManager
	 * cut off from its JobMaster) and write files of its own. */
	if (!jm->error[0] && !jm->cancel_requested) {
		cm_err oerr = {0};
		bool overwrite = jm->jg->sg->overwrite_files;
		if (outputs_commit(jm->jg, run, jm->attempt, overwrite, &oerr) != 0) {
			snprintf(jm->error, sizeof(jm->error), "committing the output failed: %.440s",
				 oerr.msg);
			set_status(jm, EG_FAILING, jm->error);
		}
	}
	if (jm->error[0] || jm->cancel_requested)
		outputs_abort(jm->jg, run, jm->attempt);
	enum eg_status st = jm->error[0]	  ? EG_FAILED
			    : jm->cancel_requested ? EG_CANCELED
						   : EG_FINISHED;
	set_status(jm, st, jm->error[0] ? jm->error : NULL);
	if (jm->L.cancel)
		cm_cancel_unwatch(jm->L.cancel);
	pthread_mutex_lock(&jm->mu);
	jm->res.runtime_ms = cm_now_ms() - jm->t0;
	jm->res.status = st == EG_FINISHED ? 0 : st == EG_CANCELED ? FL_ECANCELED : FL_EJOBFAILED;
	if (jm->deploy_failed)
		jm->res.status = jm->deploy_rc ? jm->deploy_rc : FL_EIO;
	if (st == EG_FAILED)
		snprintf(jm->res.error, sizeof(jm->res.error), "%s", jm->error);
	else if (st == EG_CANCELED)
		snprintf(jm->res.error, sizeof(jm->res.error), "the job was cancelled");
	jm->done = true;
	pthread_cond_broadcast(&jm->cv);
	pthread_mutex_unlock(&jm->mu);
}

/* ----------------------------------------------------------- reports */

struct report {
	jm_jobmaster *jm;
	char resource_id[128];
	char job_id[33];
	uint64_t attempt;
	int vertex, subtask, state;
	char *error;
};

/* Whether a report is about a subtask of this attempt, from the
 * TaskManager it was deployed to. */
static bool report_is_ours(jm_jobmaster *jm, const struct report *rp)
{
	if (rp->attempt != jm->attempt || strcmp(rp->job_id, jm->id) != 0 ||
	    (unsigned)rp->state >= TM_TASK_NSTATES)
		return false;
	if (rp->vertex < 0 || (size_t)rp->vertex >= jm->jg->nvertices || rp->subtask < 0 ||
	    rp->subtask >= jm->jg->vertices[rp->vertex].parallelism || !jm->where)
		return false;
	const char *placed = jm->tmi[jm->where[rp->vertex][rp->subtask]].resource_id;
	return placed && strcmp(placed, rp->resource_id) == 0;
}

static void hurry_final_checkpoint(jm_jobmaster *jm);

static void on_report(void *arg)
{
	struct report *rp = arg;
	jm_jobmaster *jm = rp->jm;
	if (!report_is_ours(jm, rp)) {
		CM_WARN("jobmaster",
			"ignored a task report from %.100s for job %.40s attempt %016llx, subtask "
			"%d/%d: not a subtask of this attempt deployed there",
			rp->resource_id, rp->job_id, (unsigned long long)rp->attempt, rp->vertex,
			rp->subtask);
	} else {
		enum tm_task_state st = (enum tm_task_state)rp->state;
		/* Only the JobMaster cancels a task. One cancelled without it
		 * asking was stopped by its TaskManager (SIGTERM: a Kubernetes pod
		 * deleted, a node drained): a failure, or the job would end
		 * FINISHED with the rest of its input never read. */
		char own[400];
		if (st == TM_TASK_CANCELED && !jm->cancel_sent) {
			snprintf(own, sizeof(own),
				 "%s (%d/%d) was cancelled by TaskManager %.100s itself (it is "
				 "shutting down), not by the JobMaster",
				 jm->jg->vertices[rp->vertex].name, rp->subtask + 1,
				 jm->jg->vertices[rp->vertex].parallelism, rp->resource_id);
			free(rp->error);
			rp->error = strdup(own);
			st = TM_TASK_FAILED;
			if (jm->L.taskmanager_stopping)
				jm->L.taskmanager_stopping(jm->L.arg, rp->resource_id);
		}
		task_state(jm, rp->vertex, rp->subtask, st, rp->error);
		/* A task that ends takes no more barriers: the checkpoint in flight
		 * cannot complete (not counted, as Flink's TASK_CLOSING is not),
		 * unless the task took its share first (stop-with-savepoint: the
		 * sources end once it completed, the others after their share). */
		size_t task = jm->task_base[rp->vertex] + (size_t)rp->subtask;
		if (jm->cp && jm->ckp_pending && tm_task_state_is_final(st) &&
		    !(st == TM_TASK_FINISHED && cp_acked(jm->cp, jm->ckp_pending, task))) {
			uint64_t id = jm->ckp_pending;
			char why[300];
			snprintf(why, sizeof(why), "%s (%d/%d) reached %s before checkpoint %llu completed",
				 jm->jg->vertices[rp->vertex].name, rp->subtask + 1,
				 jm->jg->vertices[rp->vertex].parallelism, tm_task_state_name(st),
				 (unsigned long long)id);
			bool fail = false;
			if (cp_abort(jm->cp, id, why, cm_now_ms(), false, &fail) > 0)
				checkpoint_failed(jm, id, why, fail);
		}
		if (st == TM_TASK_FAILED) {
			const char *why = rp->error ? rp->error : "a task failed";
			if (!jm->error[0] && !jm->cancel_requested)
				fail_job(jm, why);
		}
		if (st == TM_TASK_FINISHED)
			hurry_final_checkpoint(jm);
		maybe_end(jm);
	}
	free(rp->error);
	free(rp);
}

static void gw_task_state(rpc_jm_gateway *g, const char *resource_id, const char *job_id,
			  uint64_t attempt, int vertex, int subtask, int state, const char *error,
			  rpc_done_fn done, void *arg)
{
	jm_jobmaster *jm = ((struct local_gateway *)g)->jm;
	struct report *rp = calloc(1, sizeof(*rp));
	int rc = FL_ENOMEM;
	if (rp) {
		rp->jm = jm;
		snprintf(rp->resource_id, sizeof(rp->resource_id), "%s", resource_id ? resource_id : "");
		snprintf(rp->job_id, sizeof(rp->job_id), "%s", job_id ? job_id : "");
		rp->attempt = attempt;
		rp->vertex = vertex;
		rp->subtask = subtask;
		rp->state = state;
		rp->error = error ? strdup(error) : NULL;
		rc = cm_loop_post(jm->loop, on_report, rp);
		if (rc) {
			free(rp->error);
			free(rp);
		}
	}
	if (done)
		done(arg, rc, rc ? "the JobMaster cannot take the report" : NULL, NULL, 0);
}

static void gw_free(rpc_jm_gateway *g)
{
	(void)g; /* embedded in the JobMaster */
}

/* -------------------------------------------------------- checkpoints */

struct sp_request {
	struct sp_request *next;
	uint64_t id; /* 0: not triggered yet */
	enum cp_kind kind; /* a savepoint, or a checkpoint asked for now */
	char *target;
	bool stop; /* stop-with-savepoint: the sources end after it */
	jm_savepoint_fn fn;
	void *arg;
};

static void savepoint_done(jm_jobmaster *jm, uint64_t id, int rc, const char *text)
{
	struct sp_request **pp = &jm->savepoints;
	while (*pp) {
		struct sp_request *r = *pp;
		if (id == 0 || r->id == id) {
			*pp = r->next;
			r->fn(r->arg, rc, text);
			free(r->target);
			free(r);
		} else {
			pp = &r->next;
		}
	}
}

static void on_notified(jm_jobmaster *jm, struct reply *r)
{
	if (r->rc != 0 && !jm->tmi[r->tm].lost)
		CM_WARN("jobmaster", "TaskManager %s did not take the end of checkpoint %llu: %s",
			jm->tmi[r->tm].resource_id ? jm->tmi[r->tm].resource_id : "?",
			(unsigned long long)r->checkpoint, r->msg ? r->msg : fl_strerror(r->rc));
}

/* Tells every TaskManager of the job that checkpoint id completed or was
 * aborted (Flink's notifyCheckpointComplete / Aborted). */
static void notify_everywhere(jm_jobmaster *jm, uint64_t id, bool aborted)
{
	for (size_t k = 0; k < jm->ntms; k++) {
		if (jm->tmi[k].lost || jm->tmi[k].unused)
			continue;
		if (!jm->tms[k]->ops->notify_checkpoint)
			continue;
		struct reply *r = expect(jm, on_notified, (int)k);
		if (!r)
			continue;
		r->checkpoint = id;
		jm->tms[k]->ops->notify_checkpoint(jm->tms[k], jm->id, jm->attempt, id, aborted,
						   on_done, r);
	}
}

static void schedule_checkpoint(jm_jobmaster *jm);

/* Checkpoint id failed (why): the tasks hear it was aborted, a savepoint
 * request its failure; past the tolerable number the job fails. */
static void checkpoint_failed(jm_jobmaster *jm, uint64_t id, const char *why, bool fail)
{
	if (jm->ckp_pending == id)
		jm->ckp_pending = 0;
	notify_everywhere(jm, id, true);
	savepoint_done(jm, id, FL_EIO, why);
	if (fail) {
		char msg[CM_ERR_MSG_MAX];
		snprintf(msg, sizeof(msg),
			 "Exceeded checkpoint tolerable failure threshold "
			 "(execution.checkpointing.tolerable-failed-checkpoints); the last "
			 "failure: %.380s",
			 why);
		fail_job(jm, msg);
		return;
	}
	schedule_checkpoint(jm);
}

static void expiry_tick(void *arg)
{
	jm_jobmaster *jm = arg;
	jm->ckp_expiry_timer = 0;
	bool fail = false;
	uint64_t id = 0;
	if (cp_expire(jm->cp, cm_now_ms(), &id, &fail) > 0)
		checkpoint_failed(jm, id, "the checkpoint expired before completing", fail);
	int64_t t = cp_next_expiry(jm->cp);
	if (t >= 0 && jm->phase < P_RELEASE)
		cm_loop_timer(jm->loop, t, expiry_tick, jm, &jm->ckp_expiry_timer);
}

static void on_trigger_sent(jm_jobmaster *jm, struct reply *r)
{
	if (r->rc == 0)
		return;
	char why[CM_ERR_MSG_MAX];
	snprintf(why, sizeof(why), "triggering %s (%d/%d) on TaskManager %s failed: %.300s",
		 jm->jg->vertices[r->vertex].name, r->subtask + 1,
		 jm->jg->vertices[r->vertex].parallelism,
		 jm->tmi[r->tm].resource_id ? jm->tmi[r->tm].resource_id : "?",
		 r->msg ? r->msg : fl_strerror(r->rc));
	/* Not counted against the tolerable failures: a source that ended or
	 * cannot be reached is not a failed checkpoint (Flink's
	 * NOT_ALL_REQUIRED_TASKS_RUNNING); a lost TaskManager fails the job
	 * on its own. */
	bool fail = false;
	if (cp_abort(jm->cp, r->checkpoint, why, cm_now_ms(), false, &fail) > 0)
		checkpoint_failed(jm, r->checkpoint, why, fail);
}

static enum tm_task_state subtask_state(const jm_jobmaster *jm, size_t v, int i)
{
	return jm->eg->vertices[v].subtasks[i].state;
}

/* Whether every task upstream of subtask i of vertex v FINISHED (a source
 * has none; over a forward edge the one of its index): it gets no barrier
 * from upstream, so a checkpoint starts at it (Flink's
 * DefaultCheckpointPlanCalculator). */
static bool upstream_finished(const jm_jobmaster *jm, size_t v, int i)
{
	const jg_vertex *jv = &jm->jg->vertices[v];
	for (size_t e = 0; e < jv->nin_edges; e++) {
		const jg_edge *je = &jm->jg->edges[jv->in_edges[e]];
		int src = je->src_vertex;
		bool forward = je->part == SG_PART_FORWARD;
		for (int k = forward ? i : 0; k < (forward ? i + 1 : jm->jg->vertices[src].parallelism);
		     k++)
			if (subtask_state(jm, (size_t)src, k) != TM_TASK_FINISHED)
				return false;
	}
	return true;
}

/* Whether vertex v's chain holds a source: with inputs too (a two-input
 * operator joined a source's chain with a network-fed one), its tasks
 * are triggered as a source's are, whatever runs upstream, and a
 * checkpoint can start while they run. */
static bool vertex_has_source(const jm_jobmaster *jm, size_t v)
{
	const jg_vertex *jv = &jm->jg->vertices[v];
	for (size_t k = 0; k < jv->nops; k++)
		if (sg_kind_is_source(jm->jg->sg->nodes[jv->ops[k].node]->kind))
			return true;
	return false;
}

/* Whether every task holding a source FINISHED. */
static bool sources_finished(const jm_jobmaster *jm)
{
	for (size_t v = 0; v < jm->jg->nvertices; v++) {
		if (!vertex_has_source(jm, v))
			continue;
		for (int i = 0; i < jm->jg->vertices[v].parallelism; i++)
			if (subtask_state(jm, v, i) != TM_TASK_FINISHED)
				return false;
	}
	return true;
}

/* Whether vertex v's tasks wait for a final checkpoint past their end of
 * input (an operator of its chain commits on checkpoints: the task's
 * await_final_checkpoint). */
static bool vertex_awaits(const jm_jobmaster *jm, size_t v)
{
	const jg_vertex *jv = &jm->jg->vertices[v];
	for (size_t k = 0; jm->after_finish && k < jv->nops; k++)
		if (tm_op_class_of(jm->jg->sg->nodes[jv->ops[k].node]->kind)->notify)
			return true;
	return false;
}

/*
 * Whether a checkpoint can start: every task RUNNING, or (FLIP-147, with
 * after_finish) RUNNING or FINISHED with one RUNNING at least, and no
 * RUNNING task past the end of its input that will finish without waiting
 * (it could not take a barrier; it is FINISHED in a moment). A task still
 * deploying, or ending otherwise, cannot take its barrier either.
 */
static bool can_checkpoint(const jm_jobmaster *jm)
{
	if (jm->drained)
		return false;
	bool running = false;
	for (size_t v = 0; v < jm->jg->nvertices; v++) {
		/* Tasks with inputs only: past their end of input, finishing. */
		bool may_end = jm->jg->vertices[v].nin_edges && !vertex_awaits(jm, v) &&
			       !vertex_has_source(jm, v);
		for (int i = 0; i < jm->jg->vertices[v].parallelism; i++) {
			enum tm_task_state st = subtask_state(jm, v, i);
			bool ending = may_end && upstream_finished(jm, v, i);
			if (st == TM_TASK_RUNNING && !ending)
				running = true;
			else if (st != TM_TASK_FINISHED || !jm->after_finish)
				return false;
		}
	}
	return running;
}

/*
 * Acknowledges checkpoint id for every FINISHED task (FLIP-147): each of
 * its operators that has state is recorded as restored with nothing, so a
 * restore from this checkpoint does not start a finished source over.
 * Returns 0, or FL_ENOMEM / the coordinator's error in err (the checkpoint
 * is then given up by the caller).
 */
static int ack_finished(jm_jobmaster *jm, uint64_t id, cm_err *err)
{
	const jg_graph *jg = jm->jg;
	for (size_t v = 0; v < jg->nvertices; v++) {
		const jg_vertex *jv = &jg->vertices[v];
		for (int i = 0; i < jv->parallelism; i++) {
			if (subtask_state(jm, v, i) != TM_TASK_FINISHED)
				continue;
			cp_op_state *st = calloc(jv->nops ? jv->nops : 1, sizeof(*st));
			if (!st)
				return cm_err_set(err, FL_ENOMEM, "out of memory");
			size_t n = 0;
			int rc = 0;
			for (size_t k = 0; k < jv->nops; k++) {
				const sg_node *node = jg->sg->nodes[jv->ops[k].node];
				if (!tm_op_class_of(node->kind)->snapshot)
					continue; /* no state */
				char buf[64];
				st[n] = (cp_op_state){.uid = strdup(sg_node_uid(node, buf, sizeof(buf))),
						      .subtask = i,
						      .parallelism = jv->parallelism,
						      .max_parallelism = jv->max_parallelism,
						      .kg_first = -1,
						      .kg_last = -1};
				if (!st[n++].uid) {
					rc = cm_err_set(err, FL_ENOMEM, "out of memory");
					break;
				}
			}
			bool fail = false;
			if (rc == 0)
				rc = cp_ack(jm->cp, id, jm->task_base[v] + (size_t)i, st, n, cm_now_ms(),
					    &fail, err);
			else
				for (size_t k = 0; k < n; k++)
					cp_op_state_fini(&st[k]);
			free(st); /* the states themselves were taken */
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/* Starts checkpoint id at every RUNNING task with nothing running
 * upstream or a source in its chain: the sources, and (FLIP-147) tasks
 * past their end of input whose upstream tasks all finished. */
static void trigger_sources(jm_jobmaster *jm, uint64_t id)
{
	for (size_t v = 0; v < jm->jg->nvertices; v++) {
		bool source = vertex_has_source(jm, v);
		for (int i = 0; i < jm->jg->vertices[v].parallelism; i++) {
			if (subtask_state(jm, v, i) != TM_TASK_RUNNING ||
			    (!source && !upstream_finished(jm, v, i)))
				continue;
			uint32_t k = jm->where[v][i];
			struct reply *r = expect(jm, on_trigger_sent, (int)k);
			if (!r) {
				bool fail = false;
				if (cp_abort(jm->cp, id, "out of memory", cm_now_ms(), true, &fail) > 0)
					checkpoint_failed(jm, id, "out of memory", fail);
				return;
			}
			r->vertex = (int)v;
			r->subtask = i;
			r->checkpoint = id;
			int kind = jm->ckp_kind | (jm->ckp_stop ? CP_TRIGGER_STOP : 0);
			jm->tms[k]->ops->trigger_checkpoint(jm->tms[k], jm->id, jm->attempt, (int)v, i,
							    id, jm->ckp_wall, kind, jm->ckp_dir,
							    on_done, r);
		}
	}
}

static void on_prepared(jm_jobmaster *jm, struct reply *r)
{
	if (r->checkpoint != jm->ckp_pending)
		return; /* of a checkpoint that ended meanwhile */
	if (r->rc != 0) {
		char why[CM_ERR_MSG_MAX];
		snprintf(why, sizeof(why), "TaskManager %s could not take checkpoint %llu: %.300s",
			 jm->tmi[r->tm].resource_id ? jm->tmi[r->tm].resource_id : "?",
			 (unsigned long long)r->checkpoint, r->msg ? r->msg : fl_strerror(r->rc));
		jm->ckp_prepares = -1; /* no source is triggered */
		bool fail = false;
		if (cp_abort(jm->cp, r->checkpoint, why, cm_now_ms(), false, &fail) > 0)
			checkpoint_failed(jm, r->checkpoint, why, fail);
		return;
	}
	if (jm->ckp_prepares > 0 && --jm->ckp_prepares == 0 && jm->phase == P_RUNNING)
		trigger_sources(jm, r->checkpoint);
}

/* Starts a checkpoint or savepoint at every source task. */
static int trigger_checkpoint(jm_jobmaster *jm, enum cp_kind kind, const char *target,
			      bool stop, uint64_t *id, cm_err *err)
{
	if (jm->stopped_at_savepoint)
		return cm_err_set(err, FL_EINVAL,
				  "job %s stops: it was stopped with a savepoint", jm->id);
	if (jm->phase != P_RUNNING || !can_checkpoint(jm))
		return cm_err_set(err, FL_EINVAL,
				  jm->after_finish
				      ? "not every task of job %s is RUNNING or FINISHED, or none runs"
				      : "not every task of job %s is RUNNING: a checkpoint needs them all",
				  jm->id);
	for (size_t k = 0; k < jm->ntms; k++)
		if (!jm->tms[k]->ops->trigger_checkpoint || !jm->tms[k]->ops->notify_checkpoint)
			return cm_err_set(err, FL_EINVAL,
					  "TaskManager %s does not take checkpoints",
					  jm->tmi[k].resource_id ? jm->tmi[k].resource_id : "?");
	char dir[1100];
	int64_t now = cm_now_ms(), wall = cm_wall_ms();
	int rc = cp_trigger(jm->cp, now, kind, target, id, dir, sizeof(dir), err);
	if (rc)
		return rc;
	jm->ckp_pending = *id;
	jm->ckp_stop = stop;
	jm->ckp_kind = kind;
	jm->ckp_wall = wall;
	snprintf(jm->ckp_dir, sizeof(jm->ckp_dir), "%s", dir);
	CM_INFO("jobmaster", "Triggering %s %llu @ %lld for job %s: %s",
		kind == CP_SAVEPOINT ? "savepoint" : "checkpoint", (unsigned long long)*id,
		(long long)wall, jm->id, dir);
	/* FLIP-147: the finished tasks' share is theirs at once. */
	if (jm->after_finish && sources_finished(jm))
		jm->drain_ckp = *id;
	cm_err aerr = {0};
	if (jm->after_finish && ack_finished(jm, *id, &aerr) != 0) {
		char why[CM_ERR_MSG_MAX + 64];
		snprintf(why, sizeof(why), "the finished tasks' share of checkpoint %llu: %.*s",
			 (unsigned long long)*id, CM_ERR_MSG_MAX - 1, aerr.msg);
		bool fail = false;
		if (cp_abort(jm->cp, *id, why, cm_now_ms(), true, &fail) > 0)
			checkpoint_failed(jm, *id, why, fail);
		return 0;
	}
	/* First every TaskManager learns where the checkpoint goes (the
	 * barrier carries only its id), then the sources start it. */
	jm->ckp_prepares = 0;
	for (size_t k = 0; k < jm->ntms; k++) {
		if (jm->tmi[k].lost || jm->tmi[k].unused)
			continue;
		struct reply *r = expect(jm, on_prepared, (int)k);
		if (!r)
			continue;
		r->checkpoint = *id;
		jm->ckp_prepares++;
		jm->tms[k]->ops->trigger_checkpoint(
		    jm->tms[k], jm->id, jm->attempt, 0, 0, *id, wall,
		    kind | CP_TRIGGER_PREPARE | (stop ? CP_TRIGGER_STOP : 0), dir, on_done, r);
	}
	if (jm->ckp_prepares == 0)
		trigger_sources(jm, *id);
	int64_t t = cp_next_expiry(jm->cp);
	if (t >= 0 && !jm->ckp_expiry_timer)
		cm_loop_timer(jm->loop, t, expiry_tick, jm, &jm->ckp_expiry_timer);
	return 0;
}

static void checkpoint_tick(void *arg)
{
	jm_jobmaster *jm = arg;
	jm->ckp_timer = 0;
	if (jm->phase != P_RUNNING)
		return;
	uint64_t id;
	cm_err err = {0};
	/* Savepoints asked for go first, one at a time. */
	struct sp_request *sp = jm->savepoints;
	while (sp && sp->id)
		sp = sp->next;
	/* (ckp_stop belongs to the checkpoint in flight: a tick that starts
	 * none leaves it as it is.) */
	int rc = sp ? trigger_checkpoint(jm, sp->kind, sp->target, sp->stop, &id, &err)
		    : trigger_checkpoint(jm, CP_CHECKPOINT, NULL, false, &id, &err);
	if (sp && rc == 0)
		sp->id = id;
	else if (sp && rc != FL_ERANGE && jm->ckp_pending == 0) {
		/* Refused outright (no directory, tasks not running): say why. */
		sp->id = UINT64_MAX;
		savepoint_done(jm, UINT64_MAX, rc, err.msg);
	} else if (rc && rc != FL_ERANGE) {
		CM_DEBUG("jobmaster", "no checkpoint now: %s", err.msg);
	}
	/* A periodic checkpoint that could not start is skipped: the next is
	 * an interval away, not due again at once. */
	if (!sp && rc)
		cp_skipped(jm->cp, cm_now_ms());
	schedule_checkpoint(jm);
}

/* Arms the timer for the next periodic checkpoint or waiting savepoint. */
static void schedule_checkpoint(jm_jobmaster *jm)
{
	if (!jm->cp || jm->phase != P_RUNNING || jm->ckp_timer)
		return;
	int64_t now = cm_now_ms();
	int64_t due = cp_next_due(jm->cp, now);
	bool waiting = false;
	for (struct sp_request *r = jm->savepoints; r; r = r->next)
		waiting = waiting || r->id == 0;
	if (waiting)
		due = jm->ckp_pending ? now + 50 : now;
	else if (jm->stopped_at_savepoint)
		return; /* no periodic one after it; a request is answered (refused) */
	if (due < 0)
		return;
	/* While one is in flight, look again shortly after it may end. */
	if (jm->ckp_pending && due < now + 50)
		due = now + 50;
	cm_loop_timer(jm->loop, due, checkpoint_tick, jm, &jm->ckp_timer);
}

/*
 * FLIP-147: once every source finished, the tasks still running wait for
 * a checkpoint to commit their output and finish (await_final_checkpoint);
 * the next periodic one is due now rather than an interval later, so a
 * bounded job ends as soon as its output is committed (no sooner than
 * execution.checkpointing.min-pause after the last one). Flink waits for
 * the next periodic checkpoint.
 */
static void hurry_final_checkpoint(jm_jobmaster *jm)
{
	if (!jm->after_finish || jm->phase != P_RUNNING || jm->ckp_pending || jm->drained ||
	    !sources_finished(jm))
		return;
	cp_due_now(jm->cp, cm_now_ms());
	cm_loop_timer_cancel(jm->loop, jm->ckp_timer);
	jm->ckp_timer = 0;
	schedule_checkpoint(jm);
}

struct ack {
	jm_jobmaster *jm;
	char resource_id[128];
	char job_id[33];
	uint64_t attempt, id;
	int vertex, subtask;
	uint8_t *states;
	size_t len;
	char *decline;
};

static void ack_free(struct ack *a)
{
	free(a->states);
	free(a->decline);
	free(a);
}

static void on_ack(void *arg)
{
	struct ack *a = arg;
	jm_jobmaster *jm = a->jm;
	struct report probe = {.attempt = a->attempt, .vertex = a->vertex, .subtask = a->subtask};
	snprintf(probe.job_id, sizeof(probe.job_id), "%s", a->job_id);
	snprintf(probe.resource_id, sizeof(probe.resource_id), "%s", a->resource_id);
	if (!jm->cp || !report_is_ours(jm, &probe)) {
		CM_WARN("jobmaster",
			"ignored a checkpoint acknowledgement from %.100s for job %.40s, subtask "
			"%d/%d: not a subtask of this attempt deployed there",
			a->resource_id, a->job_id, a->vertex, a->subtask);
		ack_free(a);
		return;
	}
	const jg_vertex *jv = &jm->jg->vertices[a->vertex];
	int64_t now = cm_now_ms();
	bool fail = false;
	char why[CM_ERR_MSG_MAX];
	if (a->decline) {
		snprintf(why, sizeof(why), "%s (%d/%d) declined checkpoint %llu: %.400s", jv->name,
			 a->subtask + 1, jv->parallelism, (unsigned long long)a->id, a->decline);
		if (cp_abort(jm->cp, a->id, why, now, true, &fail) > 0)
			checkpoint_failed(jm, a->id, why, fail);
		ack_free(a);
		return;
	}
	cm_rbuf r;
	cm_rbuf_init(&r, a->states, a->len);
	cp_op_state *states = NULL;
	size_t n = 0;
	cm_err err = {0};
	int rc = cp_states_decode(&r, &states, &n, &err);
	if (rc) {
		snprintf(why, sizeof(why), "%s (%d/%d) acknowledged checkpoint %llu with a malformed "
					   "state: %.300s",
			 jv->name, a->subtask + 1, jv->parallelism, (unsigned long long)a->id, err.msg);
		if (cp_abort(jm->cp, a->id, why, now, true, &fail) > 0)
			checkpoint_failed(jm, a->id, why, fail);
		ack_free(a);
		return;
	}
	size_t task = jm->task_base[a->vertex] + (size_t)a->subtask;
	rc = cp_ack(jm->cp, a->id, task, states, n, now, &fail, &err);
	free(states); /* the states themselves were taken */
	if (rc == CP_ACK_COMPLETED) {
		if (jm->ckp_pending == a->id) {
			jm->stopped_at_savepoint = jm->stopped_at_savepoint || jm->ckp_stop;
			jm->ckp_pending = 0;
		}
		jm->drained = jm->drained || (jm->drain_ckp && jm->drain_ckp == a->id);
		notify_everywhere(jm, a->id, false);
		char dir[1100] = "";
		cp_path_of(jm->cp, a->id, dir, sizeof(dir));
		savepoint_done(jm, a->id, 0, dir);
		schedule_checkpoint(jm);
	} else if (rc < 0) {
		checkpoint_failed(jm, a->id, err.msg, fail);
	}
	ack_free(a);
}

static void gw_ack_checkpoint(rpc_jm_gateway *g, const char *resource_id, const char *job_id,
			      uint64_t attempt, int vertex, int subtask, uint64_t id,
			      const uint8_t *states, size_t len, const char *decline,
			      rpc_done_fn done, void *arg)
{
	jm_jobmaster *jm = ((struct local_gateway *)g)->jm;
	struct ack *a = calloc(1, sizeof(*a));
	int rc = FL_ENOMEM;
	if (a) {
		a->jm = jm;
		snprintf(a->resource_id, sizeof(a->resource_id), "%s", resource_id ? resource_id : "");
		snprintf(a->job_id, sizeof(a->job_id), "%s", job_id ? job_id : "");
		a->attempt = attempt;
		a->vertex = vertex;
		a->subtask = subtask;
		a->id = id;
		a->len = len;
		bool ok = (!len || (a->states = malloc(len))) &&
			  (!decline || (a->decline = strdup(decline)));
		if (ok && len)
			memcpy(a->states, states, len);
		rc = ok ? cm_loop_post(jm->loop, on_ack, a) : FL_ENOMEM;
		if (rc)
			ack_free(a);
	}
	if (done)
		done(arg, rc, rc ? "the JobMaster cannot take the acknowledgement" : NULL, NULL, 0);
}

struct sp_post {
	jm_jobmaster *jm;
	struct sp_request *r;
};

static void on_savepoint_request(void *arg)
{
	struct sp_post *p = arg;
	jm_jobmaster *jm = p->jm;
	struct sp_request *r = p->r;
	free(p);
	if (jm->phase > P_RUNNING) {
		r->fn(r->arg, FL_ECANCELED, "the job is no longer running");
		free(r->target);
		free(r);
		return;
	}
	r->next = jm->savepoints;
	jm->savepoints = r;
	if (jm->phase == P_RUNNING) {
		cm_loop_timer_cancel(jm->loop, jm->ckp_timer);
		jm->ckp_timer = 0;
		schedule_checkpoint(jm);
	}
}

static int request_checkpoint(jm_jobmaster *jm, enum cp_kind kind, const char *target, bool stop,
			      jm_savepoint_fn fn, void *arg)
{
	if (!jm->cp)
		return FL_EINVAL;
	struct sp_request *r = calloc(1, sizeof(*r));
	struct sp_post *p = calloc(1, sizeof(*p));
	if (!r || !p || (target && *target && !(r->target = strdup(target)))) {
		free(r);
		free(p);
		return FL_ENOMEM;
	}
	r->fn = fn;
	r->arg = arg;
	r->stop = stop;
	r->kind = kind;
	p->jm = jm;
	p->r = r;
	int rc = cm_loop_post(jm->loop, on_savepoint_request, p);
	if (rc) {
		free(r->target);
		free(r);
		free(p);
	}
	return rc;
}

int jm_trigger_savepoint(jm_jobmaster *jm, const char *target, bool stop, jm_savepoint_fn fn,
			 void *arg)
{
	return request_checkpoint(jm, CP_SAVEPOINT, target, stop, fn, arg);
}

int jm_trigger_checkpoint(jm_jobmaster *jm, jm_savepoint_fn fn, void *arg)
{
	return request_checkpoint(jm, CP_CHECKPOINT, NULL, false, fn, arg);
}

static const struct rpc_jm_gateway_ops local_ops = {
    .task_state = gw_task_state, .ack_checkpoint = gw_ack_checkpoint, .free = gw_free};

/* ------------------------------------------------------------ running */

static void on_started(jm_jobmaster *jm, struct reply *r)
{
	if (r->rc != 0) {
		char why[CM_ERR_MSG_MAX];
		snprintf(why, sizeof(why), "deployment failed: TaskManager %s could not start its tasks: %.300s",
			 jm->tmi[r->tm].resource_id, r->msg ? r->msg : fl_strerror(r->rc));
		fail_job(jm, why);
	}
	/* A start reply may arrive after the job failed and moved on (even
	 * after its release began): it only counts starts. */
	if (--jm->starts_pending > 0 || jm->phase != P_START)
		return;
	jm->phase = P_RUNNING;
	cm_loop_timer(jm->loop, cm_now_ms() + PROGRESS_MS, progress_tick, jm,
			      &jm->progress_timer);
	schedule_checkpoint(jm);
	maybe_end(jm);
}

/* The TaskManagers no task was placed on (after sch_assign). */
static void mark_unused(jm_jobmaster *jm)
{
	for (size_t k = 0; k < jm->ntms; k++)
		jm->tmi[k].unused = true;
	for (size_t v = 0; v < jm->jg->nvertices; v++)
		for (int i = 0; i < jm->jg->vertices[v].parallelism; i++)
			jm->tmi[jm->where[v][i]].unused = false;
}

static void start_everywhere(jm_jobmaster *jm)
{
	jm->phase = P_START;
	set_status(jm, EG_RUNNING, NULL);
	if (jm->L.submitted)
		jm->L.submitted(jm->L.arg, jm->id, jm->jg->job_name);
	jm->starts_pending = 0;
	for (size_t k = 0; k < jm->ntms; k++) {
		if (jm->tmi[k].unused)
			continue;
		struct reply *r = expect(jm, on_started, (int)k);
		if (!r)
			continue;
		jm->starts_pending++;
		jm->tms[k]->ops->start(jm->tms[k], jm->id, jm->attempt, on_done, r);
	}
	if (jm->starts_pending == 0) {
		jm->starts_pending = 1;
		struct reply none = {.jm = jm};
		on_started(jm, &none);
	}
}

static void on_submitted(jm_jobmaster *jm, struct reply *r)
{
	if (r->rc != 0) {
		if (!jm->deploy_failed) {
			const jg_vertex *jv = &jm->jg->vertices[r->vertex];
			snprintf(jm->error, sizeof(jm->error), "deployment failed: %.480s",
				 r->msg ? r->msg : fl_strerror(r->rc));
			CM_ERROR("jobmaster", "Deploying %s (%d/%d) to %s failed: %s", jv->name,
				 r->subtask + 1, jv->parallelism, jm->tmi[r->tm].resource_id,
				 r->msg ? r->msg : fl_strerror(r->rc));
		}
		jm->deploy_failed = true;
		task_state(jm, r->vertex, r->subtask, TM_TASK_FAILED, r->msg);
	}
	if (--jm->pending > 0)
		return;
	/* Failed or cancelled while deploying (a submit refused, a TaskManager
	 * lost, a cancellation request): nothing ran, every task that was
	 * accepted is released unstarted. */
	if (jm->deploy_failed || jm->cancel_requested || jm->error[0]) {
		for (size_t v = 0; v < jm->jg->nvertices; v++)
			for (int i = 0; i < jm->jg->vertices[v].parallelism; i++)
				task_state(jm, (int)v, i, TM_TASK_CANCELED, NULL);
		if (jm->error[0])
			set_status(jm, EG_FAILING, jm->error);
		release_everywhere(jm);
		return;
	}
	start_everywhere(jm);
}

/* Submits every task's descriptor (phase one). */
static void deploy(jm_jobmaster *jm)
{
	const jg_graph *jg = jm->jg;
	td_peer *peers = calloc(jm->ntms, sizeof(*peers));
	if (!peers) {
		snprintf(jm->error, sizeof(jm->error), "out of memory while deploying");
		jm->deploy_failed = true;
		release_everywhere(jm);
		return;
	}
	for (size_t k = 0; k < jm->ntms; k++)
		peers[k] = (td_peer){jm->tmi[k].resource_id, jm->tmi[k].data_address};
	td_placement pl = {.job_id = jm->id,
			   .attempt = jm->attempt,
			   .peers = peers,
			   .npeers = jm->ntms,
			   .subtask_peer = (const uint32_t *const *)jm->where,
			   .edge_base = jm->edge_base,
			   .library = jm->library[0] ? jm->library : NULL};
	/* Every attempt starts from the latest completed checkpoint (or the
	 * savepoint the job was started from), when there is one. */
	cp_metadata from = {0};
	char from_dir[1100];
	bool restoring = jm->cp && cp_latest(jm->cp, &from, from_dir, sizeof(from_dir)) == 0;
	if (restoring)
		cp_count_restore(jm->cp, from.id, from_dir);
	if (restoring)
		CM_INFO("jobmaster", "Job '%s' (%s) restores %s %llu from %s", jm->jg->job_name,
			jm->id, from.kind == CP_SAVEPOINT ? "savepoint" : "checkpoint",
			(unsigned long long)from.id, from_dir);
	jm->phase = P_SUBMIT;
	jm->pending = 1; /* held until every call is out */
	for (size_t v = 0; v < jg->nvertices; v++) {
		for (int i = 0; i < jg->vertices[v].parallelism; i++) {
			uint32_t k = jm->where[v][i];
			td_task *td = NULL;
			uint8_t *bytes = NULL;
			size_t len = 0;
			int rc = td_build(jg, &pl, (int)v, i, &td);
			if (rc == 0 && !(td->state_backend = strdup(jm->state_backend)))
				rc = FL_ENOMEM;
			if (rc == 0) {
				td->incremental = jm->incremental;
				td->at_least_once = jm->at_least_once;
				td->final_checkpoint = jm->after_finish;
			}
			if (rc == 0 && restoring)
				rc = cp_restore_fill(&from, from_dir, td);
			if (rc == 0)
				rc = td_encode(td, &bytes, &len);
			td_free(td);
			struct reply *r = rc == 0 ? expect(jm, on_submitted, (int)k) : NULL;
			if (!r) {
				free(bytes);
				char msg[] = "cannot encode the deployment descriptor";
				struct reply fail = {.jm = jm,
						     .tm = (int)k,
						     .vertex = (int)v,
						     .subtask = i,
						     .rc = rc ? rc : FL_ENOMEM,
						     .msg = msg};
				jm->pending++;
				on_submitted(jm, &fail);
				continue;
			}
			r->vertex = (int)v;
			r->subtask = i;
			jm->eg->vertices[v].subtasks[i].tm = (int)k;
			task_state(jm, (int)v, i, TM_TASK_SCHEDULED, NULL);
			task_state(jm, (int)v, i, TM_TASK_DEPLOYING, NULL);
			jm->pending++;
			jm->tms[k]->ops->submit(jm->tms[k], bytes, len, jm->address, on_done, r);
			free(bytes);
		}
	}
	cp_metadata_fini(&from);
	free(peers);
	/* Drops the hold; the last reply (or this) moves on. */
	struct reply none = {.jm = jm, .rc = 0};
	on_submitted(jm, &none);
}

static void on_slots(jm_jobmaster *jm, struct reply *r)
{
	struct tm_info *t = &jm->tmi[r->tm];
	if (r->rc == 0) {
		cm_rbuf rb;
		cm_rbuf_init(&rb, r->payload, r->len);
		cm_rbuf_strdup(&rb, 256, &t->resource_id);
		cm_rbuf_strdup(&rb, 256, &t->data_address);
		uint64_t slots = cm_rbuf_uvarint(&rb);
		if (cm_rbuf_end(&rb) != 0 || !t->resource_id || !t->data_address || slots > 1u << 20) {
			snprintf(jm->error, sizeof(jm->error),
				 "TaskManager %d answered its registration with a malformed reply: %s",
				 r->tm, cm_rbuf_errmsg(&rb));
			jm->deploy_failed = true;
		} else {
			t->slots = (int)slots;
			t->last_heard_ms = cm_now_ms();
		}
	} else if (!jm->deploy_failed) {
		snprintf(jm->error, sizeof(jm->error), "TaskManager %d is unavailable: %.400s", r->tm,
			 r->msg ? r->msg : fl_strerror(r->rc));
		jm->deploy_failed = true;
	}
	if (--jm->pending > 0)
		return;
	if (!jm->deploy_failed && !jm->cancel_requested) {
		int *slots = calloc(jm->ntms ? jm->ntms : 1, sizeof(int));
		int rc = slots ? 0 : FL_ENOMEM;
		for (size_t k = 0; slots && k < jm->ntms; k++)
			slots[k] = jm->slot_limit && jm->slot_limit[k] < jm->tmi[k].slots
					   ? jm->slot_limit[k]
					   : jm->tmi[k].slots;
		if (rc == 0)
			rc = sch_assign(jm->jg, slots, jm->ntms, jm->placement, jm->where,
					jm->error, sizeof(jm->error));
		free(slots);
		if (rc == 0) {
			mark_unused(jm);
			heartbeat_tick(jm);
			deploy(jm);
			return;
		}
		if (!jm->error[0])
			snprintf(jm->error, sizeof(jm->error), "out of memory while scheduling");
		jm->deploy_failed = true;
		CM_ERROR("jobmaster", "%s", jm->error);
	}
	set_status(jm, EG_FAILING, jm->error[0] ? jm->error : NULL);
	finish(jm);
}

static void on_cancel_request(void *arg)
{
	jm_jobmaster *jm = arg;
	if (jm->cancel_requested || jm->phase >= P_ENDING)
		return;
	jm->cancel_requested = true;
	if (jm->error[0])
		return; /* already failing: the failure stays the cause */
	set_status(jm, EG_CANCELLING, NULL);
	if (jm->phase == P_START || jm->phase == P_RUNNING) {
		jm->phase = P_ENDING;
		cancel_everywhere(jm);
		maybe_end(jm);
	}
	/* In SLOTS or SUBMIT, the phase's end sees cancel_requested. */
}

/* The cancel token's watcher: posts, never blocks. */
static void on_cancel_token(void *arg)
{
	jm_jobmaster *jm = arg;
	cm_loop_post(jm->loop, on_cancel_request, jm);
}

void jm_cancel(jm_jobmaster *jm)
{
	cm_loop_post(jm->loop, on_cancel_request, jm);
}

static void begin(void *arg)
{
	jm_jobmaster *jm = arg;
	CM_INFO("jobmaster", "Job '%s' (%s) submitted: %zu vertices, %d slots needed",
		jm->jg->job_name, jm->id, jm->jg->nvertices, jm->jg->slots_needed);
	/* Flink's InitializeOnMaster: output directories are checked (and
	 * refused when they hold output and may not be overwritten) before
	 * anything runs. */
	cm_err oerr = {0};
	char run[OUTPUTS_RUN_ID_LEN + 1];
	outputs_run_id(jm->id, run);
	int orc = outputs_prepare(jm->jg, run, jm->jg->sg->overwrite_files, &oerr);
	if (orc != 0) {
		snprintf(jm->error, sizeof(jm->error), "%s", oerr.msg);
		jm->deploy_failed = true;
		jm->deploy_rc = orc;
		CM_ERROR("jobmaster", "%s", jm->error);
		jm->phase = P_DONE;
		set_status(jm, EG_FAILING, jm->error);
		finish(jm);
		return;
	}
	jm->phase = P_SLOTS;
	jm->pending = 0;
	for (size_t k = 0; k < jm->ntms; k++) {
		struct reply *r = expect(jm, on_slots, (int)k);
		if (!r)
			continue;
		jm->pending++;
		jm->tms[k]->ops->slots(jm->tms[k], on_done, r);
	}
	if (jm->pending == 0) {
		char msg[] = "no TaskManager to run the job on";
		struct reply none = {.jm = jm, .rc = FL_ENOMEM, .msg = msg};
		jm->pending = 1;
		on_slots(jm, &none);
	}
}

/* --------------------------------------------------------- lifecycle */

/* The tables jm_new allocates (any of them may be NULL after a failure). */
static void free_tables(jm_jobmaster *jm)
{
	if (jm->where)
		for (size_t v = 0; v < jm->jg->nvertices; v++)
			free(jm->where[v]);
	free(jm->where);
	free(jm->tmi);
	free(jm->edge_base);
	free(jm->in);
	free(jm->out);
	free(jm->np);
	free(jm->vio_acc);
	free(jm->vio);
	free(jm->slot_limit);
	free(jm->placement);
	free(jm->task_base);
	eg_free(jm->eg);
}

int jm_new(jm_jobmaster **out, const jm_params *p, cm_err *err)
{
	*out = NULL;
	jm_jobmaster *jm = calloc(1, sizeof(*jm));
	if (!jm)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	jm->jg = p->jg;
	jm->tms = p->tms;
	jm->ntms = p->ntms;
	if (p->library && strlen(p->library) >= sizeof(jm->library)) {
		free(jm);
		return cm_err_set(err, FL_EINVAL, "library locator too long");
	}
	snprintf(jm->library, sizeof(jm->library), "%s", p->library ? p->library : "");
	if (p->slot_limit) {
		if (!(jm->slot_limit = malloc((p->ntms ? p->ntms : 1) * sizeof(int)))) {
			free(jm);
			return cm_err_set(err, FL_ENOMEM, "out of memory");
		}
		memcpy(jm->slot_limit, p->slot_limit, p->ntms * sizeof(int));
	}
	if (p->placement) {
		size_t n = p->jg->slots_needed > 0 ? (size_t)p->jg->slots_needed : 1;
		if (!(jm->placement = malloc(n * sizeof(uint32_t)))) {
			free(jm->slot_limit);
			free(jm);
			return cm_err_set(err, FL_ENOMEM, "out of memory");
		}
		memcpy(jm->placement, p->placement, (size_t)p->jg->slots_needed * sizeof(uint32_t));
	}
	if (p->listener)
		jm->L = *p->listener;
	jm->cp = p->cp;
	jm->gw.base.ops = &local_ops;
	jm->gw.jm = jm;
	if (p->job_id && strlen(p->job_id) == 32)
		memcpy(jm->id, p->job_id, 33);
	else
		jm_new_job_id(jm->id);
	memcpy(jm->res.job_id, jm->id, sizeof(jm->id));
	/* The attempt scopes channel ids and data connections: random, so two
	 * jobs (or two runs of one) never meet on the wire. */
	if (cm_random(&jm->attempt, sizeof(jm->attempt)) != 0)
		jm->attempt = (uint64_t)cm_wall_ms() ^ ((uint64_t)(uintptr_t)jm << 16);
	jm->heartbeat_interval_ms = 10000;
	jm->heartbeat_timeout_ms = 50000;
	int64_t failures = 2;
	if (p->config) {
		cfg_get_duration_ms(p->config, CFG_HEARTBEAT_INTERVAL, &jm->heartbeat_interval_ms);
		cfg_get_duration_ms(p->config, CFG_HEARTBEAT_TIMEOUT, &jm->heartbeat_timeout_ms);
		cfg_get_int(p->config, CFG_HEARTBEAT_FAILURES, &failures);
	}
	jm->unreachable_ms = failures > 0 ? failures * jm->heartbeat_interval_ms : 0;
	const char *backend = "hashmap";
	if (p->config)
		cfg_get_string(p->config, CFG_STATE_BACKEND, &backend);
	snprintf(jm->state_backend, sizeof(jm->state_backend), "%s",
		 backend && strcasecmp(backend, "lmdb") == 0 ? "lmdb" : "hashmap");
	if (p->config) {
		const char *mode = "EXACTLY_ONCE";
		cfg_get_bool(p->config, CFG_CKP_INCREMENTAL, &jm->incremental);
		cfg_get_string(p->config, CFG_CKP_MODE, &mode);
		jm->at_least_once = mode && strcasecmp(mode, "AT_LEAST_ONCE") == 0;
	}
	if (p->cp) {
		cp_config cc;
		cp_get_config(p->cp, &cc);
		jm->after_finish = cc.after_finish && cc.interval_ms > 0;
	}
	const jg_graph *jg = p->jg;
	size_t nnodes = jg->sg->nnodes;
	int rc = FL_ENOMEM;
	if (pthread_mutex_init(&jm->mu, NULL) != 0)
		goto nomem;
	if (cm_cond_init(&jm->cv) != 0) {
		pthread_mutex_destroy(&jm->mu);
		goto nomem;
	}
	if (!(jm->tmi = calloc(p->ntms ? p->ntms : 1, sizeof(*jm->tmi))) ||
	    !(jm->where = calloc(jg->nvertices ? jg->nvertices : 1, sizeof(*jm->where))) ||
	    !(jm->edge_base = calloc(jg->nedges ? jg->nedges : 1, sizeof(*jm->edge_base))) ||
	    !(jm->in = calloc(nnodes, sizeof(uint64_t))) ||
	    !(jm->out = calloc(nnodes, sizeof(uint64_t))) ||
	    !(jm->np = calloc(nnodes, sizeof(*jm->np))) ||
	    !(jm->vio_acc = calloc(jg->nvertices ? jg->nvertices : 1, sizeof(*jm->vio_acc))) ||
	    !(jm->vio = calloc(jg->nvertices ? jg->nvertices : 1, sizeof(*jm->vio))) ||
	    eg_new(&jm->eg, jg, cm_wall_ms()) != 0)
		goto nomem_sync;
	for (size_t v = 0; v < jg->nvertices; v++)
		if (!(jm->where[v] = calloc((size_t)jg->vertices[v].parallelism, sizeof(uint32_t))))
			goto nomem_sync;
	if (!(jm->task_base = calloc(jg->nvertices ? jg->nvertices : 1, sizeof(size_t))))
		goto nomem_sync;
	size_t ntasks = 0;
	for (size_t v = 0; v < jg->nvertices; v++) {
		jm->task_base[v] = ntasks;
		ntasks += (size_t)jg->vertices[v].parallelism;
	}
	if (jm->cp)
		cp_set_tasks(jm->cp, ntasks);
	td_edge_bases(jg, jm->edge_base);
	if (p->address) {
		snprintf(jm->address, sizeof(jm->address), "%s", p->address);
	} else {
		char name[64];
		snprintf(name, sizeof(name), "jobmaster-%s", jm->id);
		snprintf(jm->address, sizeof(jm->address), "local:%s", name);
		if ((rc = rpc_local_register(name, &jm->gw.base)) != 0)
			goto nomem_sync;
		jm->local_address = true;
	}
	char lname[16];
	snprintf(lname, sizeof(lname), "flinc-jm-%.6s", jm->id);
	if ((rc = cm_loop_new(&jm->loop, lname)) != 0)
		goto fail_registered;
	jm->t0 = cm_now_ms();
	if (jm->L.cancel)
		cm_cancel_watch(jm->L.cancel, on_cancel_token, jm);
	if ((rc = cm_loop_post(jm->loop, begin, jm)) != 0) {
		if (jm->L.cancel)
			cm_cancel_unwatch(jm->L.cancel);
		cm_loop_free(jm->loop);
		goto fail_registered;
	}
	*out = jm;
	return 0;

fail_registered:
	if (jm->local_address)
		rpc_local_unregister(jm->address + 6);
nomem_sync:
	pthread_cond_destroy(&jm->cv);
	pthread_mutex_destroy(&jm->mu);
nomem:
	free_tables(jm);
	free(jm);
	return cm_err_set(err, rc, "cannot start the JobMaster: %s", fl_strerror(rc));
}

/* On the loop: true once the job ended and no gateway call is in flight. */
struct quiet {
	jm_jobmaster *jm;
	bool yes;
};

static void check_quiet(void *arg)
{
	struct quiet *q = arg;
	q->yes = q->jm->phase == P_DONE && q->jm->inflight == 0;
}

bool jm_wait_for(jm_jobmaster *jm, int64_t timeout_ms)
{
	int64_t deadline = cm_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	pthread_mutex_lock(&jm->mu);
	while (!jm->done && cm_now_ms() < deadline) {
		struct timespec ts = cm_deadline_ts(deadline);
		pthread_cond_timedwait(&jm->cv, &jm->mu, &ts);
	}
	bool done = jm->done;
	pthread_mutex_unlock(&jm->mu);
	return done;
}

void jm_wait(jm_jobmaster *jm, jm_result *res)
{
	pthread_mutex_lock(&jm->mu);
	while (!jm->done)
		pthread_cond_wait(&jm->cv, &jm->mu);
	*res = jm->res;
	pthread_mutex_unlock(&jm->mu);
	/* Heartbeats or metrics may still be answered: their replies need the
	 * loop, so wait until none is in flight. */
	for (;;) {
		struct quiet q = {jm, false};
		if (cm_loop_call(jm->loop, check_quiet, &q) != 0 || q.yes)
			break;
		struct timespec ts = {0, 2 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

void jm_free(jm_jobmaster *jm)
{
	if (!jm)
		return;
	if (jm->L.cancel)
		cm_cancel_unwatch(jm->L.cancel);
	if (jm->local_address)
		rpc_local_unregister(jm->address + 6);
	cm_loop_free(jm->loop);
	for (size_t k = 0; k < jm->ntms; k++) {
		free(jm->tmi[k].resource_id);
		free(jm->tmi[k].data_address);
	}
	free_tables(jm);
	pthread_cond_destroy(&jm->cv);
	pthread_mutex_destroy(&jm->mu);
	free(jm);
}

/* ------------------------------------------------------------- queries */

struct query {
	jm_jobmaster *jm;
	jm_view_fn fn;
	void *arg;
};

static void run_query(void *arg)
{
	struct query *q = arg;
	jm_jobmaster *jm = q->jm;
	const char **ids = calloc(jm->ntms ? jm->ntms : 1, sizeof(*ids));
	for (size_t k = 0; ids && k < jm->ntms; k++)
		ids[k] = jm->tmi[k].resource_id;
	jm_view v = {.jg = jm->jg,
		     .eg = jm->eg,
		     .job_id = jm->id,
		     .attempt = jm->attempt,
		     .nodes = jm->np,
		     .nnodes = jm->jg->sg->nnodes,
		     .vertex_io = jm->vio,
		     .tm_ids = ids,
		     .ntms = ids ? jm->ntms : 0};
	q->fn(q->arg, &v);
	free(ids);
}

int jm_query(jm_jobmaster *jm, jm_view_fn fn, void *arg)
{
	struct query q = {jm, fn, arg};
	return cm_loop_call(jm->loop, run_query, &q);
}
