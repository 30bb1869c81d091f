/*
 * taskmanager.c — the TaskManager service: its gateway's calls run on its
 * loop, which owns the job table; tasks report to it from their threads.
 */
#include "taskmanager/taskmanager.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint/metadata.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/sync.h"
#include "network/endpoint.h"
#include "network/pool.h"
#include "taskmanager/channels.h"

#define TM_FLUSH_TICK_MS 20
#define TM_WATCH_MS 1000
#define TM_ADDRESS_MAX 256

/* A job attempt with tasks here. Loop thread only. */
struct tm_job {
	char job_id[33];
	uint64_t attempt;
	char jm_address[TM_ADDRESS_MAX];
	rpc_jm_gateway *jm;
	int64_t last_heartbeat_ms;
	int64_t hb_missed; /* heartbeats missed since last_heartbeat_ms, counted */
	tm_task **tasks;
	size_t ntasks, cap;
	bool cancelling;
	bool jm_lost;		/* cancelled here: release when all ended */
	int64_t cancel_deadline_ms;
	uint64_t watchdog;	/* timer id, 0: none */
	struct tm_job *next;
};

struct local_gateway {
	rpc_tm_gateway base;
	tm_taskmanager *tm;
};

struct tm_taskmanager {
	int index, slots;
	char resource_id[128];
	char cluster_id[64];
	cm_secret secret;
	const cfg *config;
	net_endpoint *ep;
	net_pool *pool;
	tm_channels *channels;
	tm_task_deps deps;
	cm_loop *loop;
	struct local_gateway gw;
	struct tm_job *jobs; /* loop thread */
	bool shutting_down;  /* loop thread */
	int64_t cancel_interval_ms, cancel_timeout_ms, heartbeat_timeout_ms;
	int64_t heartbeat_interval_ms;
	uint64_t heartbeats_missed; /* loop thread: JobMaster heartbeats late */
	_Atomic uint64_t rm_heartbeats_missed; /* tm_note_heartbeat_missed */
	bool exit_on_stuck;
	int (*resolve_library)(void *arg, const char *locator, char **path, cm_err *err);
	void *resolve_arg;
	_Atomic int abandoned; /* tasks left behind; the TaskManager is then kept */
	tm_task *left;	/* abandoned tasks of released jobs (left_next) */
	struct tm_taskmanager *kept_next;
	uint64_t watch_timer;
	/* Every task, for the output flusher: tm->mu. */
	pthread_mutex_t mu;
	tm_task **all;
	size_t nall, cap_all;
	/* The output flusher (Flink's OutputFlusher): every TM_FLUSH_TICK_MS it
	 * raises each task's flush flag, so a partly filled buffer leaves
	 * within the buffer timeout even while a slow user function runs. */
	pthread_t flusher;
	pthread_cond_t flusher_cv;
	bool flusher_stop;
};

/* TaskManagers kept because a task thread was left behind, linked through
 * kept_next: reachable, with their abandoned tasks (tm->left), so that
 * memory a stuck thread may still use is neither freed nor a leak. */
static pthread_mutex_t kept_mu = PTHREAD_MUTEX_INITIALIZER;
static tm_taskmanager *kept;

static void *flusher_main(void *arg)
{
	tm_taskmanager *tm = arg;
	pthread_mutex_lock(&tm->mu);
	while (!tm->flusher_stop) {
		struct timespec ts = cm_deadline_ts(cm_now_ms() + TM_FLUSH_TICK_MS);
		pthread_cond_timedwait(&tm->flusher_cv, &tm->mu, &ts);
		for (size_t i = 0; i < tm->nall; i++)
			atomic_fetch_or(&tm->all[i]->chain.attention, TM_ATTN_FLUSH);
	}
	pthread_mutex_unlock(&tm->mu);
	return NULL;
}

/* ------------------------------------------------------------ job table */

static struct tm_job *job_find(tm_taskmanager *tm, const char *job_id, uint64_t attempt)
{
	for (struct tm_job *j = tm->jobs; j; j = j->next)
		if (j->attempt == attempt && strcmp(j->job_id, job_id) == 0)
			return j;
	return NULL;
}

static bool job_all_final(const struct tm_job *j)
{
	for (size_t i = 0; i < j->ntasks; i++)
		if (tm_task_live(j->tasks[i]))
			return false;
	return true;
}

static void all_remove(tm_taskmanager *tm, tm_task *t)
{
	pthread_mutex_lock(&tm->mu);
	for (size_t i = 0; i < tm->nall; i++) {
		if (tm->all[i] == t) {
			tm->all[i] = tm->all[--tm->nall];
			break;
		}
	}
	pthread_mutex_unlock(&tm->mu);
}

/* Frees the job's tasks (they ended or never started) and the job. */
static void job_release(tm_taskmanager *tm, struct tm_job *j)
{
	for (struct tm_job **p = &tm->jobs; *p; p = &(*p)->next) {
		if (*p == j) {
			*p = j->next;
			break;
		}
	}
	if (j->watchdog)
		cm_loop_timer_cancel(tm->loop, j->watchdog);
	for (size_t i = 0; i < j->ntasks; i++) {
		tm_task *t = j->tasks[i];
		all_remove(tm, t);
		if (!tm_task_was_abandoned(t)) {
			tm_task_free(t);
		} else {
			t->left_next = tm->left;
			tm->left = t;
		}
	}
	free(j->tasks);
	if (j->jm)
		j->jm->ops->free(j->jm);
	CM_DEBUG("taskmanager", "Released job %s (attempt %016llx) on %s", j->job_id,
		 (unsigned long long)j->attempt, tm->resource_id);
	free(j);
}

/* ------------------------------------------------------ cancel watchdog */

static void report_to_jm(tm_taskmanager *tm, struct tm_job *j, const tm_task *t,
			 enum tm_task_state st, const char *error);

/* On the loop: interrupts the job's live tasks every cancellation interval
 * until they ended; past the timeout, a task is stuck. */
static void watchdog(void *arg)
{
	struct tm_job *j = arg;
	tm_taskmanager *tm = NULL;
	/* The job is the timer's arg; find its TaskManager through a task. */
	for (size_t i = 0; i < j->ntasks && !tm; i++)
		tm = j->tasks[i]->deps.on_state_arg;
	j->watchdog = 0;
	if (!tm || job_all_final(j))
		return;
	int64_t now = cm_now_ms();
	if (tm->cancel_timeout_ms > 0 && now >= j->cancel_deadline_ms) {
		for (size_t i = 0; i < j->ntasks; i++) {
			tm_task *t = j->tasks[i];
			if (!tm_task_live(t))
				continue;
			char msg[512];
			snprintf(msg, sizeof(msg),
				 "Task did not exit gracefully within %lld s of being cancelled "
				 "(task.cancellation.timeout): %s is stuck in user code or a blocking "
				 "call",
				 (long long)(tm->cancel_timeout_ms / 1000), t->name);
			if (tm->exit_on_stuck) {
				CM_ERROR("taskmanager", "%s; the TaskManager exits, as Flink's does", msg);
				exit(1);
			}
			CM_ERROR("taskmanager", "%s; its thread is left behind", msg);
			tm_task_abandon(t);
			tm->abandoned++;
			report_to_jm(tm, j, t, TM_TASK_FAILED, msg);
		}
		/* Nothing of the job runs now: no JobMaster will release it. */
		if (j->jm_lost && !tm->shutting_down)
			job_release(tm, j);
		return;
	}
	for (size_t i = 0; i < j->ntasks; i++)
		tm_task_interrupt(j->tasks[i]);
	int64_t next = now + tm->cancel_interval_ms;
	if (tm->cancel_timeout_ms > 0 && next > j->cancel_deadline_ms)
		next = j->cancel_deadline_ms;
	cm_loop_timer(tm->loop, next, watchdog, j, &j->watchdog);
}

/* On the loop: cancels the job's tasks and starts the watchdog. */
static void job_cancel(tm_taskmanager *tm, struct tm_job *j)
{
	for (size_t i = 0; i < j->ntasks; i++) {
		/* A task not started (cancelled before the job's start reached
		 * us, or after a start failed) ends CANCELED here, so the
		 * JobMaster hears of every task. */
		if (tm_task_end_unstarted(j->tasks[i], TM_TASK_CANCELED, NULL))
			continue;
		tm_task_cancel(j->tasks[i]);
		tm_task_interrupt(j->tasks[i]);
	}
	if (j->cancelling)
		return;
	j->cancelling = true;
	j->cancel_deadline_ms = cm_now_ms() + tm->cancel_timeout_ms;
	int64_t first = cm_now_ms() + (tm->cancel_interval_ms < 1000 ? tm->cancel_interval_ms : 1000);
	if (!job_all_final(j))
		cm_loop_timer(tm->loop, first, watchdog, j, &j->watchdog);
}

/* ------------------------------------------------------------ reports */

struct state_report {
	tm_taskmanager *tm;
	char job_id[33];
	uint64_t attempt;
	int vertex, subtask;
	enum tm_task_state st;
	char *error;
};

static void report_to_jm(tm_taskmanager *tm, struct tm_job *j, const tm_task *t,
			 enum tm_task_state st, const char *error)
{
	if (j->jm && !j->jm_lost)
		j->jm->ops->task_state(j->jm, tm->resource_id, j->job_id, j->attempt, t->td->vertex,
				       t->td->subtask, (int)st, error, NULL, NULL);
}

static void on_report(void *arg)
{
	struct state_report *r = arg;
	tm_taskmanager *tm = r->tm;
	struct tm_job *j = job_find(tm, r->job_id, r->attempt);
	tm_task *t = NULL;
	for (size_t i = 0; j && i < j->ntasks && !t; i++)
		if (j->tasks[i]->td->vertex == r->vertex && j->tasks[i]->td->subtask == r->subtask)
			t = j->tasks[i];
	/* A task left behind was reported FAILED already; whatever it says
	 * later is not news. */
	if (t && !tm_task_was_abandoned(t))
		report_to_jm(tm, j, t, r->st, r->error);
	/* Once shutting down, tm_free walks the job table and releases it. */
	if (j && j->jm_lost && !tm->shutting_down && job_all_final(j))
		job_release(tm, j);
	free(r->error);
	free(r);
}

/* The task's upcall, on its thread: logged here, handled on the loop. */
static void on_task_state(void *arg, tm_task *t, enum tm_task_state st, const char *error)
{
	tm_taskmanager *tm = arg;
	/* Set before the call by the thread making it (the loop). */
	bool unstarted = t->ended_unstarted;
	if (unstarted)
		CM_INFO("taskmanager", "Task %s of job %s switched from DEPLOYING to %s%s%s", t->name,
			t->td->job_id, tm_task_state_name(st), error ? ": " : "", error ? error : "");
	else if (st == TM_TASK_FAILED)
		CM_WARN("task", "switched from RUNNING to FAILED: %s", error ? error : "");
	else if (st == TM_TASK_RUNNING)
		CM_DEBUG("task", "switched from DEPLOYING to RUNNING");
	else
		CM_INFO("task", "switched from RUNNING to %s", tm_task_state_name(st));
	struct state_report *r = calloc(1, sizeof(*r));
	if (!r) {
		CM_ERROR("taskmanager", "out of memory reporting a task state");
		return;
	}
	r->tm = tm;
	memcpy(r->job_id, t->td->job_id, sizeof(r->job_id));
	r->attempt = t->td->attempt;
	r->vertex = t->td->vertex;
	r->subtask = t->td->subtask;
	r->st = st;
	r->error = error ? strdup(error) : NULL;
	if (cm_loop_post(tm->loop, on_report, r) != 0) {
		free(r->error);
		free(r);
	}
}

/* A task's checkpoint acknowledgement, to its JobMaster from the loop. */
struct ack_post {
	tm_taskmanager *tm;
	char job_id[33];
	uint64_t attempt, id;
	int vertex, subtask;
	uint8_t *states;
	size_t len;
	char *decline;
};

static void on_ack_post(void *arg)
{
	struct ack_post *a = arg;
	tm_taskmanager *tm = a->tm;
	struct tm_job *j = job_find(tm, a->job_id, a->attempt);
	if (j && j->jm && !j->jm_lost && j->jm->ops->ack_checkpoint)
		j->jm->ops->ack_checkpoint(j->jm, tm->resource_id, j->job_id, j->attempt, a->vertex,
					   a->subtask, a->id, a->states, a->len, a->decline, NULL,
					   NULL);
	free(a->states);
	free(a->decline);
	free(a);
}

/* The task's checkpoint upcall, on its thread: copied, sent from the loop. */
static void on_task_ack(void *arg, tm_task *t, uint64_t id, const uint8_t *states, size_t len,
			const char *decline)
{
	tm_taskmanager *tm = arg;
	struct ack_post *a = calloc(1, sizeof(*a));
	bool ok = a && (!len || (a->states = malloc(len))) &&
		  (!decline || (a->decline = strdup(decline)));
	if (!ok) {
		CM_ERROR("taskmanager", "out of memory acknowledging checkpoint %llu",
			 (unsigned long long)id);
		if (a) {
			free(a->states);
			free(a);
		}
		return;
	}
	a->tm = tm;
	memcpy(a->job_id, t->td->job_id, sizeof(a->job_id));
	a->attempt = t->td->attempt;
	a->id = id;
	a->vertex = t->td->vertex;
	a->subtask = t->td->subtask;
	if (len)
		memcpy(a->states, states, len);
	a->len = len;
	if (cm_loop_post(tm->loop, on_ack_post, a) != 0) {
		free(a->states);
		free(a->decline);
		free(a);
	}
}

/* ------------------------------------------------------- gateway calls */

enum call_kind {
	C_SLOTS,
	C_SUBMIT,
	C_START,
	C_CANCEL,
	C_RELEASE,
	C_METRICS,
	C_HEARTBEAT,
	C_STALL,
	C_TRIGGER,
	C_NOTIFY
};

struct call {
	tm_taskmanager *tm;
	enum call_kind kind;
	char job_id[33];
	uint64_t attempt;
	uint8_t *bytes; /* submit: descriptor */
	size_t len;
	char address[TM_ADDRESS_MAX]; /* submit, heartbeat: the JobMaster */
	int64_t stall_ms;
	/* trigger, notify */
	int vertex, subtask, ckp_kind;
	uint64_t checkpoint;
	bool aborted;
	char dir[1100];
	rpc_done_fn done;
	void *arg;
};

static void reply(struct call *c, int rc, const char *msg, const uint8_t *p, size_t len)
{
	if (c->done)
		c->done(c->arg, rc, msg, p, len);
}

static void do_slots(struct call *c)
{
	tm_taskmanager *tm = c->tm;
	cm_wbuf w;
	cm_wbuf_init(&w, 4096);
	cm_wbuf_str(&w, tm->resource_id);
	cm_wbuf_str(&w, net_endpoint_address(tm->ep));
	cm_wbuf_uvarint(&w, (uint64_t)tm->slots);
	if (cm_wbuf_error(&w))
		reply(c, FL_ENOMEM, "out of memory", NULL, 0);
	else
		reply(c, 0, NULL, cm_wbuf_data(&w), cm_wbuf_len(&w));
	cm_wbuf_fini(&w);
}

/*
 * A new attempt of a job of which an earlier attempt still has tasks here:
 * that attempt's JobMaster is gone without cancelling them (its JobManager
 * was killed, and the one that took over under high availability deploys
 * the job again with the same id, from the same address, so its heartbeats
 * would keep the old attempt alive). The old attempt is cancelled, and
 * released once its tasks ended. Returns
 * whether one still runs: the new attempt is refused until then (its job
 * restarts), so two attempts never write the same output files at once.
 */
static bool supersede_attempts(tm_taskmanager *tm, const char *job_id, uint64_t attempt)
{
	bool running = false;
	for (struct tm_job *o = tm->jobs, *next; o; o = next) {
		next = o->next; /* o may go once cancelled */
		/* One whose tasks all ended stays for its release (a JobMaster
		 * restarting its job deploys the next attempt before that may
		 * have arrived). */
		if (o->attempt == attempt || strcmp(o->job_id, job_id) != 0 || job_all_final(o))
			continue;
		running = true;
		if (!o->jm_lost) {
			CM_WARN("taskmanager",
				"Attempt %016llx of job %s is superseded by attempt %016llx: its "
				"JobMaster at %s is gone; cancelling its tasks here",
				(unsigned long long)o->attempt, o->job_id,
				(unsigned long long)attempt, o->jm_address);
			o->jm_lost = true;
			job_cancel(tm, o);
		}
	}
	return running;
}

static void do_submit(struct call *c)
{
	tm_taskmanager *tm = c->tm;
	cm_err err = {0};
	td_task *td;
	int rc = td_decode(c->bytes, c->len, &td, &err);
	if (rc) {
		reply(c, rc, err.msg, NULL, 0);
		return;
	}
	if (tm->resolve_library && td->library[0]) {
		char *path = NULL;
		if ((rc = tm->resolve_library(tm->resolve_arg, td->library, &path, &err)) != 0) {
			td_free(td);
			reply(c, rc, err.msg, NULL, 0);
			return;
		}
		free(td->library);
		td->library = path;
	}
	struct tm_job *j = job_find(tm, td->job_id, td->attempt);
	if (j) {
		for (size_t i = 0; i < j->ntasks; i++) {
			if (j->tasks[i]->td->vertex == td->vertex &&
			    j->tasks[i]->td->subtask == td->subtask) {
				snprintf(err.msg, sizeof(err.msg), "%s (%d/%d) is already deployed here",
					 td->vertex_name, td->subtask + 1, td->parallelism);
				td_free(td);
				reply(c, FL_EINVAL, err.msg, NULL, 0);
				return;
			}
		}
	}
	bool new_job = !j;
	if (new_job && supersede_attempts(tm, td->job_id, td->attempt)) {
		snprintf(err.msg, sizeof(err.msg),
			 "TaskManager %.100s still runs an earlier attempt of job %s, whose "
			 "JobMaster is gone: it is being cancelled; %.150s (%d/%d) can be deployed "
			 "once it ended",
			 tm->resource_id, td->job_id, td->vertex_name, td->subtask + 1,
			 td->parallelism);
		td_free(td);
		reply(c, FL_EINVAL, err.msg, NULL, 0);
		return;
	}
	if (new_job) {
		if (!(j = calloc(1, sizeof(*j)))) {
			td_free(td);
			reply(c, FL_ENOMEM, "out of memory", NULL, 0);
			return;
		}
		memcpy(j->job_id, td->job_id, sizeof(j->job_id));
		j->attempt = td->attempt;
		snprintf(j->jm_address, sizeof(j->jm_address), "%s", c->address);
		j->last_heartbeat_ms = cm_now_ms();
		cm_err oerr = {0};
		if ((rc = rpc_jm_gateway_open(c->address, &tm->secret, tm->cluster_id, &j->jm,
					      &oerr)) != 0) {
			snprintf(err.msg, sizeof(err.msg), "cannot reach the JobMaster at '%.160s': %.300s",
				 c->address, oerr.msg[0] ? oerr.msg : fl_strerror(rc));
			free(j);
			td_free(td);
			reply(c, rc, err.msg, NULL, 0);
			return;
		}
	}
	tm_task *t = NULL;
	if (j->ntasks == j->cap) {
		size_t ncap = j->cap ? j->cap * 2 : 8;
		tm_task **nt = realloc(j->tasks, ncap * sizeof(*nt));
		if (!nt) {
			rc = cm_err_set(&err, FL_ENOMEM, "out of memory");
			td_free(td);
			goto out;
		}
		j->tasks = nt;
		j->cap = ncap;
	}
	pthread_mutex_lock(&tm->mu);
	if (tm->nall == tm->cap_all) {
		size_t ncap = tm->cap_all ? tm->cap_all * 2 : 16;
		tm_task **na = realloc(tm->all, ncap * sizeof(*na));
		if (!na) {
			pthread_mutex_unlock(&tm->mu);
			rc = cm_err_set(&err, FL_ENOMEM, "out of memory");
			td_free(td);
			goto out;
		}
		tm->all = na;
		tm->cap_all = ncap;
	}
	pthread_mutex_unlock(&tm->mu);
	if ((rc = tm_task_new(&tm->deps, td, &t, &err)) != 0)
		goto out;
	j->tasks[j->ntasks++] = t;
	pthread_mutex_lock(&tm->mu);
	tm->all[tm->nall++] = t;
	pthread_mutex_unlock(&tm->mu);
	if (new_job) {
		j->next = tm->jobs;
		tm->jobs = j;
	}
	CM_DEBUG("taskmanager", "Received task %s of job %s on %s", t->name, t->td->job_id,
		 tm->resource_id);
	reply(c, 0, NULL, NULL, 0);
	return;
out:
	if (new_job) {
		j->jm->ops->free(j->jm);
		free(j->tasks);
		free(j);
	}
	reply(c, rc, err.msg, NULL, 0);
}

static void do_start(struct call *c)
{
	tm_taskmanager *tm = c->tm;
	struct tm_job *j = job_find(tm, c->job_id, c->attempt);
	if (!j) {
		reply(c, FL_ENOENT, "no task of that job attempt is deployed here", NULL, 0);
		return;
	}
	cm_err err = {0};
	int rc = 0;
	for (size_t i = 0; i < j->ntasks && rc == 0; i++) {
		if (j->cancelling)
			break;
		/* A task that cannot start FAILED; the JobMaster then cancels
		 * the others, which end CANCELED unstarted. */
		if ((rc = tm_task_start(j->tasks[i], &err)) != 0)
			tm_task_end_unstarted(j->tasks[i], TM_TASK_FAILED, err.msg);
	}
	reply(c, rc, rc ? err.msg : NULL, NULL, 0);
}

static void do_cancel(struct call *c)
{
	struct tm_job *j = job_find(c->tm, c->job_id, c->attempt);
	if (j)
		job_cancel(c->tm, j);
	reply(c, 0, NULL, NULL, 0);
}

static void do_release(struct call *c)
{
	tm_taskmanager *tm = c->tm;
	struct tm_job *j = job_find(tm, c->job_id, c->attempt);
	/* Once shutting down, the job table is tm_free's: it walks it from its
	 * own thread and releases every job itself. */
	if (!j || tm->shutting_down) {
		reply(c, 0, NULL, NULL, 0);
		return;
	}
	if (!job_all_final(j)) {
		reply(c, FL_EINVAL, "the job attempt still has running tasks here", NULL, 0);
		return;
	}
	job_release(tm, j);
	reply(c, 0, NULL, NULL, 0);
}

static void do_metrics(struct call *c)
{
	struct tm_job *j = job_find(c->tm, c->job_id, c->attempt);
	cm_wbuf w;
	cm_wbuf_init(&w, 64u << 20);
	size_t n = 0;
	for (size_t i = 0; j && i < j->ntasks; i++)
		n += j->tasks[i]->chain.nops;
	cm_wbuf_uvarint(&w, n);
	for (size_t i = 0; j && i < j->ntasks; i++) {
		const tm_chain *ch = &j->tasks[i]->chain;
		for (size_t k = 0; k < ch->nops; k++) {
			cm_wbuf_uvarint(&w, (uint64_t)ch->ops[k].node->node);
			cm_wbuf_uvarint(&w, atomic_load_explicit(&ch->ops[k].records_in,
								 memory_order_relaxed));
			cm_wbuf_uvarint(&w, atomic_load_explicit(&ch->ops[k].records_out,
								 memory_order_relaxed));
		}
	}
	/* Each task's network I/O: vertex, bytes in, bytes out, back-pressured ms. */
	cm_wbuf_uvarint(&w, j ? j->ntasks : 0);
	for (size_t i = 0; j && i < j->ntasks; i++) {
		const tm_chain *ch = &j->tasks[i]->chain;
		cm_wbuf_uvarint(&w, (uint64_t)j->tasks[i]->td->vertex);
		cm_wbuf_uvarint(&w, atomic_load_explicit(&ch->bytes_in, memory_order_relaxed));
		cm_wbuf_uvarint(&w, atomic_load_explicit(&ch->bytes_out, memory_order_relaxed));
		cm_wbuf_uvarint(&w, atomic_load_explicit(&ch->back_pressured_ns,
							 memory_order_relaxed) /
					1000000u);
	}
	if (cm_wbuf_error(&w))
		reply(c, cm_wbuf_error(&w), "cannot encode the metrics", NULL, 0);
	else
		reply(c, 0, NULL, cm_wbuf_data(&w), cm_wbuf_len(&w));
	cm_wbuf_fini(&w);
}

static void do_heartbeat(struct call *c)
{
	tm_taskmanager *tm = c->tm;
	int64_t now = cm_now_ms();
	for (struct tm_job *j = tm->jobs; j; j = j->next)
		if (strcmp(j->jm_address, c->address) == 0) {
			j->last_heartbeat_ms = now;
			j->hb_missed = 0;
		}
	cm_wbuf w;
	cm_wbuf_init(&w, 1024);
	cm_wbuf_str(&w, tm->resource_id);
	reply(c, cm_wbuf_error(&w), NULL, cm_wbuf_data(&w), cm_wbuf_len(&w));
	cm_wbuf_fini(&w);
}

/* Announces a checkpoint to every task of the job here (kind has
 * CP_TRIGGER_PREPARE), or triggers it at one source task. */
static void do_trigger(struct call *c)
{
	struct tm_job *j = job_find(c->tm, c->job_id, c->attempt);
	if (!j || j->cancelling) {
		reply(c, FL_ENOENT, "no running tasks of that job attempt here", NULL, 0);
		return;
	}
	if (c->ckp_kind & CP_TRIGGER_PREPARE) {
		for (size_t i = 0; i < j->ntasks; i++)
			tm_task_prepare_checkpoint(j->tasks[i], c->checkpoint,
						   c->ckp_kind & ~CP_TRIGGER_PREPARE, c->dir);
		reply(c, 0, NULL, NULL, 0);
		return;
	}
	tm_task *t = NULL;
	for (size_t i = 0; i < j->ntasks && !t; i++)
		if (j->tasks[i]->td->vertex == c->vertex && j->tasks[i]->td->subtask == c->subtask)
			t = j->tasks[i];
	char why[200];
	if (!t) {
		snprintf(why, sizeof(why), "no task %d/%d of the job here", c->vertex, c->subtask);
		reply(c, FL_ENOENT, why, NULL, 0);
		return;
	}
	tm_task_prepare_checkpoint(t, c->checkpoint, c->ckp_kind, c->dir);
	if (tm_task_trigger_checkpoint(t, c->checkpoint, (c->ckp_kind & CP_TRIGGER_STOP) != 0) != 0) {
		snprintf(why, sizeof(why), "task %.160s is not a running source", t->name);
		reply(c, FL_EINVAL, why, NULL, 0);
		return;
	}
	reply(c, 0, NULL, NULL, 0);
}

static void do_notify(struct call *c)
{
	struct tm_job *j = job_find(c->tm, c->job_id, c->attempt);
	/* Operators commit what a completed checkpoint covers (Flink's
	 * notifyCheckpointComplete); an aborted checkpoint ends the
	 * alignments waiting for it. */
	for (size_t i = 0; j && i < j->ntasks; i++) {
		if (c->aborted)
			tm_task_abort_checkpoint(j->tasks[i], c->checkpoint);
		else
			tm_task_notify_checkpoint(j->tasks[i], c->checkpoint);
	}
	if (j)
		CM_DEBUG("taskmanager", "checkpoint %llu of job %s %s",
			 (unsigned long long)c->checkpoint, c->job_id,
			 c->aborted ? "was aborted" : "completed");
	reply(c, 0, NULL, NULL, 0);
}

static void run_call(void *arg)
{
	struct call *c = arg;
	if (c->tm->shutting_down && c->kind != C_RELEASE) {
		reply(c, FL_ECLOSED, "the TaskManager is shutting down", NULL, 0);
	} else {
		switch (c->kind) {
		case C_SLOTS:
			do_slots(c);
			break;
		case C_SUBMIT:
			do_submit(c);
			break;
		case C_START:
			do_start(c);
			break;
		case C_CANCEL:
			do_cancel(c);
			break;
		case C_RELEASE:
			do_release(c);
			break;
		case C_METRICS:
			do_metrics(c);
			break;
		case C_HEARTBEAT:
			do_heartbeat(c);
			break;
		case C_TRIGGER:
			do_trigger(c);
			break;
		case C_NOTIFY:
			do_notify(c);
			break;
		case C_STALL: {
			struct timespec ts = {c->stall_ms / 1000, (c->stall_ms % 1000) * 1000000L};
			while (nanosleep(&ts, &ts) != 0)
				;
			break;
		}
		}
	}
	free(c->bytes);
	free(c);
}

static void post_call(tm_taskmanager *tm, struct call *c)
{
	c->tm = tm;
	if (cm_loop_post(tm->loop, run_call, c) != 0) {
		char msg[200];
		snprintf(msg, sizeof(msg), "TaskManager %s is shutting down", tm->resource_id);
		reply(c, FL_ECLOSED, msg, NULL, 0);
		free(c->bytes);
		free(c);
	}
}

static struct call *new_call(enum call_kind kind, const char *job_id, uint64_t attempt,
			     rpc_done_fn done, void *arg)
{
	struct call *c = calloc(1, sizeof(*c));
	if (!c) {
		if (done)
			done(arg, FL_ENOMEM, "out of memory", NULL, 0);
		return NULL;
	}
	c->kind = kind;
	if (job_id)
		snprintf(c->job_id, sizeof(c->job_id), "%s", job_id);
	c->attempt = attempt;
	c->done = done;
	c->arg = arg;
	return c;
}

#define GW_TM(g) (((struct local_gateway *)(g))->tm)

static void gw_slots(rpc_tm_gateway *g, rpc_done_fn done, void *arg)
{
	struct call *c = new_call(C_SLOTS, NULL, 0, done, arg);
	if (c)
		post_call(GW_TM(g), c);
}

static void gw_submit(rpc_tm_gateway *g, const uint8_t *tdd, size_t len, const char *jm_address,
		      rpc_done_fn done, void *arg)
{
	struct call *c = new_call(C_SUBMIT, NULL, 0, done, arg);
	if (!c)
		return;
	if (!(c->bytes = malloc(len ? len : 1))) {
		free(c);
		if (done)
			done(arg, FL_ENOMEM, "out of memory", NULL, 0);
		return;
	}
	memcpy(c->bytes, tdd, len);
	c->len = len;
	snprintf(c->address, sizeof(c->address), "%s", jm_address ? jm_address : "");
	post_call(GW_TM(g), c);
}

static void gw_job_call(rpc_tm_gateway *g, enum call_kind k, const char *job_id, uint64_t attempt,
			rpc_done_fn done, void *arg)
{
	struct call *c = new_call(k, job_id, attempt, done, arg);
	if (c)
		post_call(GW_TM(g), c);
}

static void gw_start(rpc_tm_gateway *g, const char *job_id, uint64_t attempt, rpc_done_fn done,
		     void *arg)
{
	gw_job_call(g, C_START, job_id, attempt, done, arg);
}

static void gw_cancel(rpc_tm_gateway *g, const char *job_id, uint64_t attempt, rpc_done_fn done,
		      void *arg)
{
	gw_job_call(g, C_CANCEL, job_id, attempt, done, arg);
}

static void gw_release(rpc_tm_gateway *g, const char *job_id, uint64_t attempt, rpc_done_fn done,
		       void *arg)
{
	gw_job_call(g, C_RELEASE, job_id, attempt, done, arg);
}

static void gw_metrics(rpc_tm_gateway *g, const char *job_id, uint64_t attempt, rpc_done_fn done,
		       void *arg)
{
	gw_job_call(g, C_METRICS, job_id, attempt, done, arg);
}

static void gw_heartbeat(rpc_tm_gateway *g, const char *jm_address, rpc_done_fn done, void *arg)
{
	struct call *c = new_call(C_HEARTBEAT, NULL, 0, done, arg);
	if (!c)
		return;
	snprintf(c->address, sizeof(c->address), "%s", jm_address ? jm_address : "");
	post_call(GW_TM(g), c);
}

static void gw_trigger_checkpoint(rpc_tm_gateway *g, const char *job_id, uint64_t attempt,
				  int vertex, int subtask, uint64_t id, int64_t timestamp, int kind,
				  const char *dir, rpc_done_fn done, void *arg)
{
	(void)timestamp;
	struct call *c = new_call(C_TRIGGER, job_id, attempt, done, arg);
	if (!c)
		return;
	c->vertex = vertex;
	c->subtask = subtask;
	c->checkpoint = id;
	c->ckp_kind = kind;
	snprintf(c->dir, sizeof(c->dir), "%s", dir ? dir : "");
	post_call(GW_TM(g), c);
}

static void gw_notify_checkpoint(rpc_tm_gateway *g, const char *job_id, uint64_t attempt,
				 uint64_t id, bool aborted, rpc_done_fn done, void *arg)
{
	struct call *c = new_call(C_NOTIFY, job_id, attempt, done, arg);
	if (!c)
		return;
	c->checkpoint = id;
	c->aborted = aborted;
	post_call(GW_TM(g), c);
}

static void gw_free(rpc_tm_gateway *g)
{
	(void)g; /* embedded in the TaskManager */
}

static const struct rpc_tm_gateway_ops local_ops = {
    .slots = gw_slots,
    .submit = gw_submit,
    .start = gw_start,
    .cancel = gw_cancel,
    .release = gw_release,
    .metrics = gw_metrics,
    .heartbeat = gw_heartbeat,
    .trigger_checkpoint = gw_trigger_checkpoint,
    .notify_checkpoint = gw_notify_checkpoint,
    .free = gw_free,
};

rpc_tm_gateway *tm_gateway(tm_taskmanager *tm)
{
	return &tm->gw.base;
}

int tm_test_stall(tm_taskmanager *tm, int64_t ms)
{
	struct call *c = new_call(C_STALL, NULL, 0, NULL, NULL);
	if (!c)
		return FL_ENOMEM;
	c->stall_ms = ms;
	c->tm = tm;
	int rc = cm_loop_post(tm->loop, run_call, c);
	if (rc)
		free(c);
	return rc;
}

/* ------------------------------------------------------ JobMaster watch */

/* On the loop, every second: a job whose JobMaster was not heard of for
 * heartbeat.timeout is cancelled and, once its tasks ended, released. */
static void watch_jobmasters(void *arg)
{
	tm_taskmanager *tm = arg;
	int64_t now = cm_now_ms();
	for (struct tm_job *j = tm->jobs, *next; j; j = next) {
		next = j->next;
		/* A heartbeat is missed for every heartbeat.interval past the
		 * first without one: one interval of lateness is allowed. */
		int64_t missed = (now - j->last_heartbeat_ms) / tm->heartbeat_interval_ms - 1;
		if (!j->jm_lost && missed > j->hb_missed) {
			tm->heartbeats_missed += (uint64_t)(missed - j->hb_missed);
			j->hb_missed = missed;
		}
		if (j->jm_lost || now - j->last_heartbeat_ms < tm->heartbeat_timeout_ms)
			continue;
		CM_WARN("taskmanager",
			"JobMaster at %s of job %s is lost: no heartbeat for %lld ms "
			"(heartbeat.timeout); cancelling its tasks here",
			j->jm_address, j->job_id, (long long)(now - j->last_heartbeat_ms));
		j->jm_lost = true;
		job_cancel(tm, j);
		if (job_all_final(j))
			job_release(tm, j);
	}
	if (!tm->shutting_down)
		cm_loop_timer(tm->loop, now + TM_WATCH_MS, watch_jobmasters, tm, &tm->watch_timer);
}

/* ------------------------------------------------------------ lifecycle */

int tm_new(tm_taskmanager **out, const tm_options *o, cm_err *err)
{
	*out = NULL;
	if (!o->secret || !o->secret->set)
		return cm_err_set(err, FL_EINVAL, "a TaskManager needs the cluster's shared secret");
	tm_taskmanager *tm = calloc(1, sizeof(*tm));
	if (!tm)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	tm->index = o->index;
	tm->slots = o->slots;
	tm->config = o->config;
	tm->secret = *o->secret;
	tm->exit_on_stuck = o->exit_on_stuck_task;
	tm->resolve_library = o->resolve_library;
	tm->resolve_arg = o->resolve_arg;
	snprintf(tm->cluster_id, sizeof(tm->cluster_id), "%s", o->cluster_id ? o->cluster_id : "");
	tm->gw.base.ops = &local_ops;
	tm->gw.tm = tm;
	int64_t seg = 32 * 1024, bpc = 2, max_conn = 1024, hs_timeout = 10000, idle_timeout = 60000;
	tm->cancel_interval_ms = 30000;
	tm->cancel_timeout_ms = 180000;
	tm->heartbeat_timeout_ms = 50000;
	tm->heartbeat_interval_ms = 10000;
	if (o->config) {
		cfg_get_memory_bytes(o->config, CFG_SEGMENT_SIZE, &seg);
		cfg_get_int(o->config, CFG_BUFFERS_PER_CHANNEL, &bpc);
		cfg_get_int(o->config, CFG_MAX_CONNECTIONS, &max_conn);
		cfg_get_duration_ms(o->config, CFG_HANDSHAKE_TIMEOUT, &hs_timeout);
		cfg_get_duration_ms(o->config, CFG_IDLE_TIMEOUT, &idle_timeout);
		cfg_get_duration_ms(o->config, CFG_CANCEL_INTERVAL, &tm->cancel_interval_ms);
		cfg_get_duration_ms(o->config, CFG_CANCEL_TIMEOUT, &tm->cancel_timeout_ms);
		cfg_get_duration_ms(o->config, CFG_HEARTBEAT_TIMEOUT, &tm->heartbeat_timeout_ms);
		cfg_get_duration_ms(o->config, CFG_HEARTBEAT_INTERVAL, &tm->heartbeat_interval_ms);
	}
	if (tm->heartbeat_interval_ms < 1)
		tm->heartbeat_interval_ms = 1;
	if (tm->cancel_interval_ms < 1)
		tm->cancel_interval_ms = 1;
	const char *bind = o->bind_host && *o->bind_host ? o->bind_host : "127.0.0.1";
	/* The resource id is known before the endpoint exists: Flink's default
	 * is the host and port, here the host, the index and a random suffix. */
	if (o->resource_id && *o->resource_id) {
		snprintf(tm->resource_id, sizeof(tm->resource_id), "%s", o->resource_id);
	} else {
		unsigned char r[3] = {0};
		if (cm_random(r, sizeof(r)) != 0)
			r[0] = (unsigned char)o->index;
		snprintf(tm->resource_id, sizeof(tm->resource_id), "%s-%d-%02x%02x%02x",
			 o->host && *o->host ? o->host : bind, o->index, r[0], r[1], r[2]);
	}
	pthread_mutex_init(&tm->mu, NULL);
	if (cm_cond_init(&tm->flusher_cv) != 0) {
		pthread_mutex_destroy(&tm->mu);
		free(tm);
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	}
	int64_t net_bytes = 0;
	int rc = net_pool_size_from_config(o->config, &net_bytes, err);
	if (rc == 0)
		rc = net_pool_new(&tm->pool, (size_t)(net_bytes / seg), (uint32_t)seg, err);
	if (rc == 0 && (rc = tm_channels_new(&tm->channels)) != 0)
		cm_err_set(err, rc, "out of memory");
	net_endpoint_options eo = {.bind_host = bind,
				   .port = o->port,
				   .advertised_host = o->host,
				   .cluster_id = o->cluster_id,
				   .resource_id = tm->resource_id,
				   .secret = o->secret,
				   .pool = tm->pool,
				   .max_connections = (int)max_conn,
				   .handshake_timeout_ms = hs_timeout,
				   .idle_timeout_ms = idle_timeout};
	if (rc == 0)
		rc = net_endpoint_new(&tm->ep, &eo, err);
	char name[16];
	snprintf(name, sizeof(name), "flinc-tm-%d", o->index);
	if (rc == 0 && (rc = cm_loop_new(&tm->loop, name)) != 0)
		cm_err_set(err, rc, "cannot start the TaskManager's service thread");
	if (rc == 0 && pthread_create(&tm->flusher, NULL, flusher_main, tm) != 0)
		rc = cm_err_set(err, FL_ENOMEM, "cannot start the output flusher thread");
	if (rc == 0 && cm_loop_timer(tm->loop, cm_now_ms() + TM_WATCH_MS, watch_jobmasters, tm,
				     &tm->watch_timer) != 0) {
		rc = cm_err_set(err, FL_ENOMEM, "out of memory");
		pthread_mutex_lock(&tm->mu);
		tm->flusher_stop = true;
		pthread_cond_signal(&tm->flusher_cv);
		pthread_mutex_unlock(&tm->mu);
		pthread_join(tm->flusher, NULL);
	}
	if (rc) {
		cm_loop_free(tm->loop);
		net_endpoint_free(tm->ep);
		tm_channels_free(tm->channels);
		net_pool_free(tm->pool);
		pthread_cond_destroy(&tm->flusher_cv);
		pthread_mutex_destroy(&tm->mu);
		cm_secret_clear(&tm->secret);
		free(tm);
		return rc;
	}
	tm->deps = (tm_task_deps){.ep = tm->ep,
				  .pool = tm->pool,
				  .channels = tm->channels,
				  .resource_id = tm->resource_id,
				  .segment_size = (uint32_t)seg,
				  .buffers_per_channel = (int)bpc,
				  .on_state = on_task_state,
				  .on_state_arg = tm,
				  .on_ack = on_task_ack,
				  .on_ack_arg = tm};
	/* Keyed state: LMDB files under taskmanager.state.local.root-dirs, each
	 * keyed operator's write cache its slot's share of managed memory
	 * (Flink splits managed memory per slot the same way). */
	if (o->config) {
		const char *dirs = "";
		int64_t managed = 0;
		cfg_get_string(o->config, CFG_STATE_LOCAL_DIRS, &dirs);
		cfg_get_memory_bytes(o->config, CFG_MANAGED_SIZE, &managed);
		tm->deps.state_dirs = dirs;
		tm->deps.state_memory = managed > 0 ? (size_t)managed / (size_t)(tm->slots > 0 ? tm->slots : 1) : 0;
	}
	CM_INFO("taskmanager",
		"TaskManager %s started with %d slots, data address %s, %zu network buffers of %lld "
		"bytes (%lld MiB)",
		tm->resource_id, tm->slots, net_endpoint_address(tm->ep), net_pool_segments(tm->pool),
		(long long)seg, (long long)(net_bytes >> 20));
	*out = tm;
	return 0;
}

const char *tm_resource_id(const tm_taskmanager *tm)
{
	return tm->resource_id;
}

const char *tm_data_address(const tm_taskmanager *tm)
{
	return net_endpoint_address(tm->ep);
}

int tm_slots(const tm_taskmanager *tm)
{
	return tm->slots;
}

/* On the loop: refuse new calls, cancel everything. */
static void shut_down(void *arg)
{
	tm_taskmanager *tm = arg;
	tm->shutting_down = true;
	cm_loop_timer_cancel(tm->loop, tm->watch_timer);
	for (struct tm_job *j = tm->jobs; j; j = j->next)
		for (size_t i = 0; i < j->ntasks; i++) {
			tm_task_cancel(j->tasks[i]);
			tm_task_interrupt(j->tasks[i]);
		}
}

/* Whether the task's thread still runs. Under its lock: the cancellation
 * watchdog, on the loop, may give up on the task meanwhile. */
static bool task_running(tm_task *t, bool *abandoned)
{
	pthread_mutex_lock(&t->mu);
	bool running = t->started && !t->abandoned && !tm_task_state_is_final(tm_task_get_state(t));
	*abandoned = t->abandoned;
	pthread_mutex_unlock(&t->mu);
	return running;
}

/* Waits for a cancelled task's thread, interrupting it every interval, for
 * at most the cancellation timeout, then joins it: a final state is set
 * before the thread's last upcall, which still posts to the loop. Returns
 * false if it is stuck. */
static bool await_task(tm_taskmanager *tm, tm_task *t)
{
	int64_t start = cm_now_ms(), last = start;
	bool abandoned;
	while (task_running(t, &abandoned)) {
		int64_t now = cm_now_ms();
		if (tm->cancel_timeout_ms > 0 && now - start >= tm->cancel_timeout_ms)
			return false;
		if (now - last >= tm->cancel_interval_ms) {
			tm_task_interrupt(t);
			last = now;
		}
		struct timespec ts = {0, 5 * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (abandoned)
		return false;
	tm_task_join(t);
	return true;
}

void tm_free(tm_taskmanager *tm)
{
	if (!tm)
		return;
	cm_loop_call(tm->loop, shut_down, tm);
	/* The job table is the loop's, but once shutting down the loop takes no
	 * new calls, and neither a release, the tasks' reports nor the watchdogs
	 * change it; reading it here is ordered by the cm_loop_call above. */
	bool stuck = atomic_load(&tm->abandoned) > 0;
	for (struct tm_job *j = tm->jobs; j; j = j->next)
		for (size_t i = 0; i < j->ntasks; i++)
			if (!await_task(tm, j->tasks[i])) {
				/* Detached, so that its end is no thread leak. */
				tm_task_abandon(j->tasks[i]);
				stuck = true;
				CM_ERROR("taskmanager",
					 "Task %s did not exit within %lld ms of being cancelled "
					 "(task.cancellation.timeout)",
					 j->tasks[i]->name, (long long)tm->cancel_timeout_ms);
			}
	if (stuck) {
		/* A thread still runs user code with this TaskManager's memory:
		 * keep all of it. The process ends it. */
		CM_WARN("taskmanager",
			"TaskManager %s is left running: a task thread did not exit after being "
			"cancelled",
			tm->resource_id);
		pthread_mutex_lock(&kept_mu);
		tm->kept_next = kept;
		kept = tm;
		pthread_mutex_unlock(&kept_mu);
		return;
	}
	pthread_mutex_lock(&tm->mu);
	tm->flusher_stop = true;
	pthread_cond_signal(&tm->flusher_cv);
	pthread_mutex_unlock(&tm->mu);
	pthread_join(tm->flusher, NULL);
	/* Reports still queued drain before the loop ends; timers not yet due
	 * (a cancelling job's watchdog) go with it, so none is cancelled after. */
	cm_loop_free(tm->loop);
	for (struct tm_job *j = tm->jobs; j; j = j->next)
		j->watchdog = 0;
	while (tm->jobs)
		job_release(tm, tm->jobs);
	free(tm->all);
	net_endpoint_free(tm->ep);
	net_pool_free(tm->pool);
	tm_channels_free(tm->channels);
	pthread_cond_destroy(&tm->flusher_cv);
	pthread_mutex_destroy(&tm->mu);
	CM_INFO("taskmanager", "TaskManager %s stopped", tm->resource_id);
	cm_secret_clear(&tm->secret);
	free(tm);
}

/* ------------------------------------------------------------ metrics */

/* A label value as Prometheus wants it: backslash, quote and newline
 * escaped. */
static void prom_label(cm_wbuf *w, const char *v)
{
	for (const char *p = v; *p; p++) {
		if (*p == '\\' || *p == '"')
			cm_wbuf_raw(w, "\\", 1);
		if (*p == '\n')
			cm_wbuf_raw(w, "\\n", 2);
		else
			cm_wbuf_raw(w, p, 1);
	}
}

static void prom_text(cm_wbuf *w, const char *s)
{
	cm_wbuf_raw(w, s, strlen(s));
}

/* Per-task network I/O under Flink's metric names (task scope, as Flink's
 * Prometheus reporter prints them: flink_taskmanager_job_task_<name>). The
 * per-second back-pressure is the rate since this TaskManager's previous
 * scrape (since the task started, on the first). Loop thread. */
static void prom_tasks(tm_taskmanager *tm, cm_wbuf *w)
{
	static const struct {
		const char *name, *type, *help;
	} series[] = {
	    {"numBytesIn", "counter", "Bytes of data buffers the task received."},
	    {"numBytesOut", "counter", "Bytes of data buffers the task sent."},
	    {"numBuffersIn", "counter", "Data buffers the task received."},
	    {"numBuffersOut", "counter", "Data buffers the task sent."},
	    {"accumulatedBackPressuredTimeMs", "counter",
	     "Milliseconds the task waited for a network buffer or for its consumers' room or "
	     "credit."},
	    {"backPressuredTimeMsPerSecond", "gauge",
	     "Milliseconds per second the task was back-pressured, since the previous scrape."},
	};
	int64_t now = cm_now_ms();
	char line[512];
	for (size_t s = 0; s < sizeof(series) / sizeof(series[0]); s++) {
		int n = snprintf(line, sizeof(line),
				 "# HELP flinc_taskmanager_job_task_%s %s\n"
				 "# TYPE flinc_taskmanager_job_task_%s %s\n",
				 series[s].name, series[s].help, series[s].name, series[s].type);
		cm_wbuf_raw(w, line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n : 0);
		for (struct tm_job *j = tm->jobs; j; j = j->next) {
			for (size_t i = 0; i < j->ntasks; i++) {
				tm_task *t = j->tasks[i];
				const tm_chain *c = &t->chain;
				uint64_t bp_ns = atomic_load_explicit(&c->back_pressured_ns,
								      memory_order_relaxed);
				char v[64];
				switch (s) {
				case 0:
				case 1:
				case 2:
				case 3: {
					const _Atomic uint64_t *a[] = {&c->bytes_in, &c->bytes_out,
									&c->buffers_in, &c->buffers_out};
					snprintf(v, sizeof(v), "%llu",
						 (unsigned long long)atomic_load_explicit(
						     a[s], memory_order_relaxed));
					break;
				}
				case 4:
					snprintf(v, sizeof(v), "%llu",
						 (unsigned long long)(bp_ns / 1000000));
					break;
				default: {
					if (t->prom_sampled_ms == 0) {
						t->prom_sampled_ms = t->created_ms;
						t->prom_sampled_bp_ns = 0;
					}
					int64_t dt = now - t->prom_sampled_ms;
					uint64_t dbp = bp_ns - t->prom_sampled_bp_ns;
					double rate = dt > 0 ? (double)dbp / 1e6 * 1000.0 / (double)dt : 0;
					if (rate > 1000)
						rate = 1000; /* clock reads straddling a sample */
					snprintf(v, sizeof(v), "%.1f", rate);
					t->prom_sampled_ms = now;
					t->prom_sampled_bp_ns = bp_ns;
					break;
				}
				}
				prom_text(w, "flinc_taskmanager_job_task_");
				prom_text(w, series[s].name);
				prom_text(w, "{tm_id=\"");
				prom_label(w, tm->resource_id);
				prom_text(w, "\",job_id=\"");
				prom_label(w, j->job_id);
				prom_text(w, "\",task_name=\"");
				prom_label(w, t->name);
				n = snprintf(line, sizeof(line), "\",subtask_index=\"%d\"} %s\n",
					     t->td->subtask, v);
				cm_wbuf_raw(w, line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n : 0);
			}
		}
	}
}

struct prom_call {
	tm_taskmanager *tm;
	cm_wbuf *w;
};

static void prom_on_loop(void *arg)
{
	struct prom_call *pc = arg;
	tm_taskmanager *tm = pc->tm;
	cm_wbuf *w = pc->w;
	char line[2048];
	size_t ntasks = 0;
	for (struct tm_job *j = tm->jobs; j; j = j->next)
		ntasks += j->ntasks;
	int n = snprintf(line, sizeof(line),
			 "# HELP flinc_taskmanager_slots Task slots of this TaskManager.\n"
			 "# TYPE flinc_taskmanager_slots gauge\n"
			 "flinc_taskmanager_slots{tm_id=\"%s\"} %d\n"
			 "# HELP flinc_taskmanager_tasks Tasks deployed here (any state).\n"
			 "# TYPE flinc_taskmanager_tasks gauge\n"
			 "flinc_taskmanager_tasks{tm_id=\"%s\"} %zu\n"
			 "# HELP flinc_taskmanager_network_buffers_in_use Network buffers taken "
			 "from the pool.\n"
			 "# TYPE flinc_taskmanager_network_buffers_in_use gauge\n"
			 "flinc_taskmanager_network_buffers_in_use{tm_id=\"%s\"} %zu\n"
			 "# HELP flinc_taskmanager_network_buffers_total Network buffers in the "
			 "pool.\n"
			 "# TYPE flinc_taskmanager_network_buffers_total gauge\n"
			 "flinc_taskmanager_network_buffers_total{tm_id=\"%s\"} %zu\n",
			 tm->resource_id, tm->slots, tm->resource_id, ntasks, tm->resource_id,
			 net_pool_in_use(tm->pool), tm->resource_id, net_pool_segments(tm->pool));
	cm_wbuf_raw(w, line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n : 0);
	n = snprintf(line, sizeof(line),
		     "# HELP flinc_taskmanager_heartbeats_missed_total Heartbeats not received in "
		     "time: from a job's JobMaster, one per heartbeat.interval past the first "
		     "without one; from the ResourceManager, heartbeat requests it did not "
		     "answer.\n"
		     "# TYPE flinc_taskmanager_heartbeats_missed_total counter\n"
		     "flinc_taskmanager_heartbeats_missed_total{tm_id=\"%s\",from=\"jobmaster\"} "
		     "%llu\n"
		     "flinc_taskmanager_heartbeats_missed_total{tm_id=\"%s\",from=\"resourcemanager\"} "
		     "%llu\n",
		     tm->resource_id, (unsigned long long)tm->heartbeats_missed, tm->resource_id,
		     (unsigned long long)atomic_load(&tm->rm_heartbeats_missed));
	cm_wbuf_raw(w, line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n : 0);
	prom_tasks(tm, w);
	static const char *const kinds[] = {"records_in", "records_out"};
	for (int k = 0; k < 2; k++) {
		n = snprintf(line, sizeof(line),
			     "# HELP flinc_operator_%s_total Records %s by an operator of a task.\n"
			     "# TYPE flinc_operator_%s_total counter\n",
			     kinds[k], k == 0 ? "received" : "emitted", kinds[k]);
		cm_wbuf_raw(w, line, (size_t)n);
		for (struct tm_job *j = tm->jobs; j; j = j->next) {
			for (size_t i = 0; i < j->ntasks; i++) {
				const tm_task *t = j->tasks[i];
				for (size_t o = 0; o < t->chain.nops; o++) {
					const tm_op *op = &t->chain.ops[o];
					uint64_t v = atomic_load_explicit(
					    k == 0 ? &op->records_in : &op->records_out,
					    memory_order_relaxed);
					prom_text(w, "flinc_operator_");
					prom_text(w, kinds[k]);
					prom_text(w, "_total{job_id=\"");
					prom_label(w, j->job_id);
					prom_text(w, "\",task_name=\"");
					prom_label(w, t->name);
					prom_text(w, "\",operator_name=\"");
					prom_label(w, op->node->name ? op->node->name : "");
					n = snprintf(line, sizeof(line), "\",subtask_index=\"%d\"} %llu\n",
						     t->td->subtask, (unsigned long long)v);
					cm_wbuf_raw(w, line, (size_t)n);
				}
			}
		}
	}
}

void tm_note_heartbeat_missed(tm_taskmanager *tm)
{
	atomic_fetch_add(&tm->rm_heartbeats_missed, 1);
}

int tm_prometheus(tm_taskmanager *tm, cm_wbuf *w)
{
	struct prom_call pc = {tm, w};
	int rc = cm_loop_call(tm->loop, prom_on_loop, &pc);
	return rc ? rc : cm_wbuf_error(w);
}
