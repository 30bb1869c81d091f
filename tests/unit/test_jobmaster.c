/*
 * The JobMaster service with real TaskManagers behind their gateways: a
 * TaskManager that stops answering heartbeats fails the job, naming it;
 * too few slots fail the job before anything is deployed, with the
 * numbers; a cancellation request ends the job CANCELED; the listener hears
 * the job's id and its progress.
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
};

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
	/* TaskManager 1's service thread is busy for 3 s: no heartbeat reply
	 * within the 600 ms timeout. */
	assert_int_equal(tm_test_stall(c.tms[1], 3000), 0);
	jm_result res;
	jm_wait(jm, &res);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_taskmanager_that_stops_answering_fails_the_job),
	    cmocka_unit_test(test_too_few_slots_fail_the_job_with_the_numbers),
	    cmocka_unit_test(test_a_cancellation_request_ends_the_job_canceled),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
