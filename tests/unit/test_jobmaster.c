/*
 * The JobMaster service with real TaskManagers behind their gateways: a
 * TaskManager that stops answering heartbeats fails the job, naming it;
 * too few slots fail the job before anything is deployed, with the
 * numbers; a cancellation request ends the job CANCELED, a task that fails
 * while it is cancelled CANCELED too; the listener hears the job's id and
 * its progress.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <flinc/flinc.h>

#include "api/env.h"
#include "common/auth.h"
#include "common/cancel.h"
#include "jobmanager/execgraph.h"
#include "jobmanager/jobmaster.h"
#include "taskmanager/taskmanager.h"

int jmt_gen(fl_ctx *ctx, int64_t off, fl_row *out);

int jmt_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	return fl_row_add_int64(out, off);
}

struct cluster {
	cfg *conf;
	cm_secret secret;
	tm_taskmanager *tms[2];
	rpc_tm_gateway *gws[2];
	int ntms;
	fl_env *env;
	jg_graph *jg;
};

/* ntms TaskManagers of `slots` slots; heartbeats every 100 ms, 600 ms
 * without a reply is a lost TaskManager (or JobMaster). */
static void cluster_up(struct cluster *c, int ntms, int slots)
{
	memset(c, 0, sizeof(*c));
	cm_err err = {0};
	assert_int_equal(cfg_new(&c->conf), 0);
	assert_int_equal(cfg_set(c->conf, "heartbeat.interval", "100 ms", &err), 0);
	assert_int_equal(cfg_set(c->conf, "heartbeat.timeout", "600 ms", &err), 0);
	assert_int_equal(cfg_set(c->conf, "task.cancellation.timeout", "5 s", &err), 0);
	assert_int_equal(cm_secret_from_string(&c->secret, "jobmaster test", &err), 0);
	c->ntms = ntms;
	for (int i = 0; i < ntms; i++) {
		tm_options o = {.index = i,
				.slots = slots,
				.bind_host = "127.0.0.1",
				.cluster_id = "jm-test",
				.secret = &c->secret,
				.config = c->conf};
		if (tm_new(&c->tms[i], &o, &err) != 0)
			fail_msg("tm_new: %s", err.msg);
		c->gws[i] = tm_gateway(c->tms[i]);
	}
}

/* An unbounded generator -> discard, at parallelism p. */
static void build_job(struct cluster *c, int p)
{
	c->env = fl_env_new(0, NULL);
	assert_non_null(c->env);
	fl_discard(fl_generator(c->env, -1, 0, jmt_gen));
	c->env->graph->parallelism = p;
	cm_err err = {0};
	assert_int_equal(jg_build(c->env->graph, "jm-test", &c->jg, &err), 0);
}

static void cluster_down(struct cluster *c)
{
	for (int i = 0; i < c->ntms; i++)
		tm_free(c->tms[i]);
	jg_free(c->jg);
	fl_env_free(c->env);
	cfg_free(c->conf);
}

struct heard {
	pthread_mutex_t mu;
	char job_id[33];
	int submitted;
	int progress_reports;
	char stopping[128];
};

static void on_tm_stopping(void *arg, const char *resource_id)
{
	struct heard *h = arg;
	pthread_mutex_lock(&h->mu);
	snprintf(h->stopping, sizeof(h->stopping), "%s", resource_id);
	pthread_mutex_unlock(&h->mu);
}

static void on_submitted(void *arg, const char *job_id, const char *job_name)
{
	struct heard *h = arg;
	pthread_mutex_lock(&h->mu);
	snprintf(h->job_id, sizeof(h->job_id), "%s", job_id);
	h->submitted++;
	pthread_mutex_unlock(&h->mu);
}

static void on_progress(void *arg, const jm_progress *p)
{
	struct heard *h = arg;
	pthread_mutex_lock(&h->mu);
	h->progress_reports++;
	pthread_mutex_unlock(&h->mu);
}

static int submitted(struct heard *h)
{
	pthread_mutex_lock(&h->mu);
	int n = h->submitted;
	pthread_mutex_unlock(&h->mu);
	return n;
}

static void wait_submitted(struct heard *h)
{
	while (!submitted(h)) {
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
	}
}

static void test_a_taskmanager_that_stops_answering_fails_the_job(void **state)
{
	struct cluster c;
	cluster_up(&c, 2, 1);
	build_job(&c, 2);
	struct heard h = {.mu = PTHREAD_MUTEX_INITIALIZER};
	jm_listener L = {.arg = &h, .submitted = on_submitted};
	jm_params p = {.jg = c.jg, .tms = c.gws, .ntms = 2, .config = c.conf, .listener = &L};
	jm_jobmaster *jm;
	cm_err err = {0};
	assert_int_equal(jm_new(&jm, &p, &err), 0);
	wait_submitted(&h);
	uint64_t missed = jm_heartbeats_missed();
	/* TaskManager 1's service thread is busy for 3 s: no heartbeat reply
	 * within the 600 ms timeout. */
	assert_int_equal(tm_test_stall(c.tms[1], 3000), 0);
	jm_result res;
	jm_wait(jm, &res);
	/* Requests went unanswered before the timeout declared it lost. */
	assert_true(jm_heartbeats_missed() > missed);
	assert_int_equal(res.status, FL_EJOBFAILED);
	assert_non_null(strstr(res.error, "is unreachable: no heartbeat reply"));
	assert_non_null(strstr(res.error, tm_resource_id(c.tms[1])));
	assert_non_null(strstr(res.error, "heartbeat.timeout"));
	jm_free(jm);
	/* The stalled TaskManager, once it wakes, finds its JobMaster gone
	 * and cancels its tasks itself; then it shuts down cleanly. */
	cluster_down(&c);
}

static void test_too_few_slots_fail_the_job_with_the_numbers(void **state)
{
	struct cluster c;
	cluster_up(&c, 2, 1);
	build_job(&c, 3);
	jm_params p = {.jg = c.jg, .tms = c.gws, .ntms = 2, .config = c.conf};
	jm_jobmaster *jm;
	cm_err err = {0};
	assert_int_equal(jm_new(&jm, &p, &err), 0);
	jm_result res;
	jm_wait(jm, &res);
	assert_int_not_equal(res.status, 0);
	assert_non_null(strstr(res.error, "the job needs 3 task slots but the cluster has 2"));
	jm_free(jm);
	cluster_down(&c);
}

static void test_a_cancellation_request_ends_the_job_canceled(void **state)
{
	struct cluster c;
	cluster_up(&c, 2, 2);
	build_job(&c, 4);
	cm_cancel cancel;
	assert_int_equal(cm_cancel_init(&cancel), 0);
	struct heard h = {.mu = PTHREAD_MUTEX_INITIALIZER};
	jm_listener L = {.arg = &h, .submitted = on_submitted, .progress = on_progress,
			 .cancel = &cancel};
	jm_params p = {.jg = c.jg, .tms = c.gws, .ntms = 2, .config = c.conf, .listener = &L};
	jm_jobmaster *jm;
	cm_err err = {0};
	assert_int_equal(jm_new(&jm, &p, &err), 0);
	wait_submitted(&h);
	cm_cancel_request(&cancel);
	jm_result res;
	jm_wait(jm, &res);
	assert_int_equal(res.status, FL_ECANCELED);
	assert_string_equal(res.job_id, h.job_id);
	/* The final progress report comes before the tasks are released. */
	assert_true(h.progress_reports >= 1);
	jm_free(jm);
	cm_cancel_fini(&cancel);
	cluster_down(&c);
}

/* ------------------------------------------------- faults on the way */

/*
 * A named fake: a TaskManager gateway that forwards to the real one but
 * can stall the TaskManager at its first submit, refuse to start, or hold
 * a start's reply back until the release comes, the orderings that NNG
 * (one context per call) or a starved machine can produce but a test
 * cannot ask a real TaskManager for.
 */
struct faulty {
	rpc_tm_gateway base;
	rpc_tm_gateway *real;
	tm_taskmanager *tm;
	bool stall_at_submit, fail_start, hold_start_reply;
	/* Reports subtask fail_subtask of vertex 0 FAILED as the cancel
	 * passes, before the TaskManager has it (jm must be set). */
	bool fail_at_cancel;
	int fail_subtask;
	jm_jobmaster *jm;
	atomic_int submits;
	pthread_mutex_t mu;
	rpc_done_fn held_done;
	void *held_arg;
	int held_rc;
};

#define FAULTY(g) ((struct faulty *)(g))

static void f_slots(rpc_tm_gateway *g, rpc_done_fn done, void *arg)
{
	FAULTY(g)->real->ops->slots(FAULTY(g)->real, done, arg);
}

static void f_submit(rpc_tm_gateway *g, const uint8_t *tdd, size_t len, const char *jm_address,
		     rpc_done_fn done, void *arg)
{
	struct faulty *f = FAULTY(g);
	if (f->stall_at_submit && atomic_fetch_add(&f->submits, 1) == 0)
		assert_int_equal(tm_test_stall(f->tm, 1500), 0);
	f->real->ops->submit(f->real, tdd, len, jm_address, done, arg);
}

static void f_held(void *arg, int rc, const char *msg, const uint8_t *p, size_t n)
{
	struct faulty *f = arg;
	pthread_mutex_lock(&f->mu);
	f->held_rc = rc;
	pthread_mutex_unlock(&f->mu);
}

static void f_start(rpc_tm_gateway *g, const char *job, uint64_t attempt, rpc_done_fn done,
		    void *arg)
{
	struct faulty *f = FAULTY(g);
	if (f->fail_start) {
		done(arg, FL_ENOMEM, "cannot start the thread of a task (injected)", NULL, 0);
		return;
	}
	if (f->hold_start_reply) {
		pthread_mutex_lock(&f->mu);
		f->held_done = done;
		f->held_arg = arg;
		pthread_mutex_unlock(&f->mu);
		f->real->ops->start(f->real, job, attempt, f_held, f);
		return;
	}
	f->real->ops->start(f->real, job, attempt, done, arg);
}

static void f_cancel(rpc_tm_gateway *g, const char *job, uint64_t attempt, rpc_done_fn done,
		     void *arg)
{
	struct faulty *f = FAULTY(g);
	if (f->fail_at_cancel) {
		rpc_jm_gateway *jg = jm_gateway(f->jm);
		jg->ops->task_state(jg, tm_resource_id(f->tm), job, attempt, 0, f->fail_subtask,
				    TM_TASK_FAILED, "its consumer was cancelled first (injected)", NULL,
				    NULL);
	}
	f->real->ops->cancel(f->real, job, attempt, done, arg);
}

static void f_release(rpc_tm_gateway *g, const char *job, uint64_t attempt, rpc_done_fn done,
		      void *arg)
{
	struct faulty *f = FAULTY(g);
	pthread_mutex_lock(&f->mu);
	rpc_done_fn held = f->held_done;
	void *held_arg = f->held_arg;
	int rc = f->held_rc;
	f->held_done = NULL;
	pthread_mutex_unlock(&f->mu);
	if (held) /* the start's reply, after the release was sent */
		held(held_arg, rc, NULL, NULL, 0);
	f->real->ops->release(f->real, job, attempt, done, arg);
}

static void f_metrics(rpc_tm_gateway *g, const char *job, uint64_t attempt, rpc_done_fn done,
		      void *arg)
{
	FAULTY(g)->real->ops->metrics(FAULTY(g)->real, job, attempt, done, arg);
}

static void f_heartbeat(rpc_tm_gateway *g, const char *jm, rpc_done_fn done, void *arg)
{
	FAULTY(g)->real->ops->heartbeat(FAULTY(g)->real, jm, done, arg);
}

static void f_free(rpc_tm_gateway *g)
{
	(void)g;
}

static const struct rpc_tm_gateway_ops faulty_ops = {
    .slots = f_slots,
    .submit = f_submit,
    .start = f_start,
    .cancel = f_cancel,
    .release = f_release,
    .metrics = f_metrics,
    .heartbeat = f_heartbeat,
    .free = f_free,
};

/* Puts a faulty gateway in front of TaskManager i. */
static struct faulty *faulty_on(struct cluster *c, int i, struct faulty *f)
{
	memset(f, 0, sizeof(*f));
	f->base.ops = &faulty_ops;
	f->real = c->gws[i];
	f->tm = c->tms[i];
	pthread_mutex_init(&f->mu, NULL);
	c->gws[i] = &f->base;
	return f;
}

static jm_result run_job(struct cluster *c)
{
	jm_params p = {.jg = c->jg, .tms = c->gws, .ntms = (size_t)c->ntms, .config = c->conf};
	jm_jobmaster *jm;
	cm_err err = {0};
	assert_int_equal(jm_new(&jm, &p, &err), 0);
	jm_result res;
	jm_wait(jm, &res);
	jm_free(jm);
	return res;
}

/* A TaskManager lost while the job deploys fails it; the job must not go
 * on to run (it once went from FAILING back to RUNNING and never ended). */
static void test_a_taskmanager_lost_while_deploying_fails_the_job(void **state)
{
	struct cluster c;
	cluster_up(&c, 2, 1);
	build_job(&c, 2);
	struct faulty f;
	faulty_on(&c, 1, &f)->stall_at_submit = true;
	jm_result res = run_job(&c);
	assert_int_equal(res.status, FL_EJOBFAILED);
	assert_non_null(strstr(res.error, "is unreachable"));
	assert_non_null(strstr(res.error, tm_resource_id(c.tms[1])));
	cluster_down(&c);
}

/* A TaskManager that cannot start its tasks fails the job; its tasks,
 * never started, are reported CANCELED when the JobMaster cancels them, so
 * the job ends (it once waited for them forever). */
static void test_a_failed_start_ends_the_job_failed(void **state)
{
	struct cluster c;
	cluster_up(&c, 2, 1);
	build_job(&c, 2);
	struct faulty f;
	faulty_on(&c, 1, &f)->fail_start = true;
	jm_result res = run_job(&c);
	assert_int_equal(res.status, FL_EJOBFAILED);
	assert_non_null(strstr(res.error, "could not start its tasks"));
	assert_non_null(strstr(res.error, "(injected)"));
	cluster_down(&c);
}

/* A start reply that arrives after the release went out is only a late
 * start reply: it must not count as a release reply (the job then never
 * ended, or ended before the releases were answered). */
static void test_a_late_start_reply_does_not_count_as_a_release(void **state)
{
	struct cluster c;
	cluster_up(&c, 2, 1);
	build_job(&c, 2);
	struct faulty f0, f1;
	faulty_on(&c, 0, &f0)->hold_start_reply = true;
	faulty_on(&c, 1, &f1)->fail_start = true;
	jm_result res = run_job(&c);
	assert_int_equal(res.status, FL_EJOBFAILED);
	assert_non_null(strstr(res.error, "could not start its tasks"));
	assert_null(f0.held_done); /* the held reply was delivered */
	cluster_down(&c);
}

/* Reports about subtasks that do not exist, or from a TaskManager the
 * subtask was not deployed to, are ignored (an out-of-range vertex once
 * crashed the JobMaster). */
static void test_reports_about_other_subtasks_are_ignored(void **state)
{
	struct cluster c;
	cluster_up(&c, 2, 1);
	build_job(&c, 2);
	cm_cancel cancel;
	assert_int_equal(cm_cancel_init(&cancel), 0);
	struct heard h = {.mu = PTHREAD_MUTEX_INITIALIZER};
	jm_listener L = {.arg = &h, .submitted = on_submitted, .cancel = &cancel};
	jm_params p = {.jg = c.jg, .tms = c.gws, .ntms = 2, .config = c.conf, .listener = &L};
	jm_jobmaster *jm;
	cm_err err = {0};
	assert_int_equal(jm_new(&jm, &p, &err), 0);
	wait_submitted(&h);
	rpc_jm_gateway *g = jm_gateway(jm);
	const char *tm0 = tm_resource_id(c.tms[0]);
	/* Subtask 0 runs on TaskManager 0, subtask 1 on TaskManager 1. */
	const struct {
		const char *from;
		int vertex, subtask;
	} bad[] = {{tm0, 100000, 0}, {tm0, -1, 0}, {tm0, 0, 7}, {tm0, 0, -3},
		   {tm_resource_id(c.tms[1]), 0, 0}, {"tm-nobody", 0, 1}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		g->ops->task_state(g, bad[i].from, jm_job_id(jm), jm_attempt(jm), bad[i].vertex,
				   bad[i].subtask, TM_TASK_FAILED, "forged", NULL, NULL);
	/* Still running: cancelling it ends it CANCELED, not FAILED. */
	struct timespec ts = {0, 300 * 1000000L};
	nanosleep(&ts, NULL);
	cm_cancel_request(&cancel);
	jm_result res;
	jm_wait(jm, &res);
	assert_int_equal(res.status, FL_ECANCELED);
	jm_free(jm);
	cm_cancel_fini(&cancel);
	cluster_down(&c);
}

/* A task reported CANCELED that the JobMaster never cancelled was stopped
 * by its TaskManager (SIGTERM: a Kubernetes pod deleted): the job fails,
 * naming it. It once ended FINISHED, its input half read. */
static void test_a_task_cancelled_by_its_taskmanager_fails_the_job(void **state)
{
	struct cluster c;
	cluster_up(&c, 2, 1);
	build_job(&c, 2);
	struct heard h = {.mu = PTHREAD_MUTEX_INITIALIZER};
	jm_listener L = {.arg = &h, .submitted = on_submitted, .taskmanager_stopping = on_tm_stopping};
	jm_params p = {.jg = c.jg, .tms = c.gws, .ntms = 2, .config = c.conf, .listener = &L};
	jm_jobmaster *jm;
	cm_err err = {0};
	assert_int_equal(jm_new(&jm, &p, &err), 0);
	wait_submitted(&h);
	/* Subtask 0 of the source runs on TaskManager 0. */
	rpc_jm_gateway *g = jm_gateway(jm);
	const char *tm0 = tm_resource_id(c.tms[0]);
	g->ops->task_state(g, tm0, jm_job_id(jm), jm_attempt(jm), 0, 0, TM_TASK_CANCELED, NULL,
			   NULL, NULL);
	jm_result res;
	jm_wait(jm, &res);
	assert_int_equal(res.status, FL_EJOBFAILED);
	assert_non_null(strstr(res.error, "was cancelled by TaskManager"));
	assert_non_null(strstr(res.error, tm0));
	/* The listener heard it was stopping (the Dispatcher drains it). */
	pthread_mutex_lock(&h.mu);
	assert_string_equal(h.stopping, tm0);
	pthread_mutex_unlock(&h.mu);
	jm_free(jm);
	cluster_down(&c);
}

static void count_states(void *arg, const jm_view *v)
{
	int *n = arg;
	for (size_t k = 0; k < v->jg->nvertices; k++)
		for (int s = 0; s < TM_TASK_NSTATES; s++)
			n[s] += v->eg->vertices[k].count[s];
}

/* A task that fails while the JobMaster cancels it (a source whose
 * consumer was cancelled first) ends CANCELED, as Flink's
 * Execution.processFail has it: a cancelled job shows no FAILED task (it
 * once showed one, in /jobs/overview and /jobs/:id, now and then). */
static void test_a_task_failing_while_cancelled_ends_canceled(void **state)
{
	struct cluster c;
	cluster_up(&c, 2, 1);
	build_job(&c, 2);
	struct faulty f;
	faulty_on(&c, 1, &f);
	cm_cancel cancel;
	assert_int_equal(cm_cancel_init(&cancel), 0);
	struct heard h = {.mu = PTHREAD_MUTEX_INITIALIZER};
	jm_listener L = {.arg = &h, .submitted = on_submitted, .cancel = &cancel};
	jm_params p = {.jg = c.jg, .tms = c.gws, .ntms = 2, .config = c.conf, .listener = &L};
	jm_jobmaster *jm;
	cm_err err = {0};
	assert_int_equal(jm_new(&jm, &p, &err), 0);
	wait_submitted(&h);
	/* Subtask 1 runs on TaskManager 1. */
	f.jm = jm;
	f.fail_subtask = 1;
	f.fail_at_cancel = true;
	struct timespec ts = {0, 200 * 1000000L};
	nanosleep(&ts, NULL);
	cm_cancel_request(&cancel);
	jm_result res;
	jm_wait(jm, &res);
	assert_int_equal(res.status, FL_ECANCELED);
	int n[TM_TASK_NSTATES] = {0};
	assert_int_equal(jm_query(jm, count_states, n), 0);
	assert_int_equal(n[TM_TASK_FAILED], 0);
	assert_int_equal(n[TM_TASK_CANCELED], 2);
	jm_free(jm);
	cm_cancel_fini(&cancel);
	cluster_down(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_taskmanager_that_stops_answering_fails_the_job),
	    cmocka_unit_test(test_too_few_slots_fail_the_job_with_the_numbers),
	    cmocka_unit_test(test_a_cancellation_request_ends_the_job_canceled),
	    cmocka_unit_test(test_a_taskmanager_lost_while_deploying_fails_the_job),
	    cmocka_unit_test(test_a_failed_start_ends_the_job_failed),
	    cmocka_unit_test(test_a_late_start_reply_does_not_count_as_a_release),
	    cmocka_unit_test(test_reports_about_other_subtasks_are_ignored),
	    cmocka_unit_test(test_a_task_cancelled_by_its_taskmanager_fails_the_job),
	    cmocka_unit_test(test_a_task_failing_while_cancelled_ends_canceled),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
