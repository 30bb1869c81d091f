/*
 * The adaptive scheduler's rescale history (jobmanager/rescale_history.c)
 * as Flink 2.3's /jobs/:jobid/rescales/... show it: a rescale's vertices,
 * slots, scheduler states and end; one with no change ignored; one cut
 * short by the next; the ring of the latest ones; the requirement ids; the
 * duration statistics; and nothing kept at size 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/env.h"
#include "graph/jobgraph.h"
#include "graph/plan_json.h"
#include "jobmanager/rescale_history.h"

int trh_gen(fl_ctx *ctx, int64_t off, fl_row *out);

int trh_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	return fl_row_add_int64(out, off);
}

static const char *JOB = "00112233445566778899aabbccddeeff";

struct fixture {
	fl_env *env;
	jg_graph *jg;
	ad_bounds b[2];
};

/* Generator (parallelism 1) -> keyBy -> sum -> discard, at parallelism 4:
 * two vertices in the default slot sharing group, bounds 1..1 and 1..4. */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->env = fl_env_new(0, NULL);
	assert_non_null(f->env);
	assert_int_equal(fl_env_set_parallelism(f->env, 4), 0);
	fl_stream *src = fl_set_parallelism(fl_generator(f->env, 100, 0, trh_gen), 1);
	fl_discard(fl_sum(fl_key_by(src, 0), 0));
	f->env->graph->parallelism = 4;
	f->env->graph->mode = FL_MODE_STREAMING;
	cm_err err = {0};
	assert_int_equal(jg_build(f->env->graph, "rescales", &f->jg, &err), 0);
	assert_int_equal(f->jg->nvertices, 2);
	ad_default_bounds(f->jg, f->b);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	jg_free(f->jg);
	fl_env_free(f->env);
	free(f);
	return 0;
}

static rh_history *history(int max)
{
	rh_config c = {.history_max = max,
		       .wait_timeout = 300000,
		       .submit_stable = 10000,
		       .slot_idle = -1,
		       .cooldown = 30000,
		       .exec_stable = 60000,
		       .max_trigger_delay = -1,
		       .rescale_on_failed_checkpoints = -1};
	rh_history *h = NULL;
	assert_int_equal(rh_new(&c, JOB, &h), 0);
	return h;
}

static double num(const cJSON *o, const char *path)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, path);
	assert_true(cJSON_IsNumber(x));
	return x->valuedouble;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
	assert_true(cJSON_IsString(x));
	return x->valuestring;
}

static bool is_null(const cJSON *o, const char *key)
{
	return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, key));
}

static const cJSON *item(const cJSON *o, const char *key)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
	assert_non_null(x);
	return x;
}

static void test_a_completed_rescale_shows_vertices_slots_and_states(void **state)
{
	struct fixture *f = *state;
	rh_history *h = history(8);
	assert_int_equal(rh_begin(h, 1000, RH_INITIAL_SCHEDULE, f->jg, f->b, NULL,
				  "WaitingForResources", RH_NO_REASON),
			 0);
	assert_true(rh_in_progress(h));
	rh_state(h, 1300, "CreatingExecutionGraph");
	rh_state(h, 1300, "CreatingExecutionGraph"); /* the same state: one span */
	int post[2] = {1, 2};
	rh_end(h, 1450, RH_COMPLETED, RH_SUCCEEDED, post, NULL);
	assert_false(rh_in_progress(h));

	cJSON *hist = rh_history_json(h);
	assert_non_null(hist);
	assert_int_equal(cJSON_GetArraySize(hist), 1);
	const cJSON *r = cJSON_GetArrayItem(hist, 0);
	assert_string_equal(str(r, "terminalState"), "COMPLETED");
	assert_string_equal(str(r, "triggerCause"), "INITIAL_SCHEDULE");
	assert_string_equal(str(r, "terminatedReason"), "SUCCEEDED");
	assert_int_equal(num(r, "startTimestampInMillis"), 1000);
	assert_int_equal(num(r, "endTimestampInMillis"), 1450);
	assert_int_equal(num(r, "rescaleAttemptId"), 1);
	assert_int_equal(strlen(str(r, "rescaleUuid")), 36);
	assert_int_equal(str(r, "rescaleUuid")[14], '4'); /* a version 4 UUID */

	char vid[33];
	jg_vertex_id(JOB, 1, vid);
	const cJSON *v = item(item(r, "vertices"), vid);
	assert_string_equal(str(v, "jobVertexId"), vid);
	assert_string_equal(str(v, "jobVertexName"), f->jg->vertices[1].name);
	assert_int_equal(num(v, "desiredParallelism"), 4);
	assert_int_equal(num(v, "sufficientParallelism"), 1);
	assert_true(is_null(v, "preRescaleParallelism")); /* it ran at none */
	assert_int_equal(num(v, "postRescaleParallelism"), 2);

	/* One slot sharing group: its widest vertex's slots. */
	const cJSON *slots = item(r, "slots");
	assert_int_equal(cJSON_GetArraySize(slots), 1);
	const cJSON *g = slots->child;
	assert_string_equal(str(g, "slotSharingGroupId"), str(v, "slotSharingGroupId"));
	assert_int_equal(num(g, "desiredSlots"), 4);
	assert_int_equal(num(g, "minimalRequiredSlots"), 1);
	assert_true(is_null(g, "preRescaleSlots"));
	assert_int_equal(num(g, "postRescaleSlots"), 2);

	const cJSON *spans = item(r, "schedulerStates");
	assert_int_equal(cJSON_GetArraySize(spans), 2);
	const cJSON *s0 = cJSON_GetArrayItem(spans, 0), *s1 = cJSON_GetArrayItem(spans, 1);
	assert_string_equal(str(s0, "state"), "WaitingForResources");
	assert_int_equal(num(s0, "durationInMillis"), 300);
	assert_string_equal(str(s1, "state"), "CreatingExecutionGraph");
	assert_int_equal(num(s1, "leaveTimestampInMillis"), 1450);
	assert_true(is_null(s1, "stringifiedException"));

	/* details/:uuid is the same record; an unknown uuid is not found. */
	bool found = false;
	cJSON *d = rh_details_json(h, str(r, "rescaleUuid"), &found);
	assert_true(found);
	assert_true(cJSON_Compare(d, r, true));
	cJSON_Delete(d);
	assert_null(rh_details_json(h, "00000000-0000-4000-8000-000000000000", &found));
	assert_false(found);
	cJSON_Delete(hist);
	rh_free(h);
}

static void test_no_change_is_ignored_and_a_cut_short_one_too(void **state)
{
	struct fixture *f = *state;
	rh_history *h = history(8);
	int par[2] = {1, 2};
	/* A restart after a failure at the same parallelism: no change. */
	assert_int_equal(rh_begin(h, 10, RH_RECOVERABLE_FAILOVER, f->jg, f->b, par,
				  "WaitingForResources", RH_NO_REASON),
			 0);
	rh_end(h, 20, RH_COMPLETED, RH_SUCCEEDED, par, NULL);
	/* A rescale for new slots, cut short by new requirements. */
	assert_int_equal(
	    rh_begin(h, 30, RH_NEW_RESOURCE_AVAILABLE, f->jg, f->b, par, "Executing", RH_NO_REASON),
	    0);
	rh_new_requirements(h);
	assert_int_equal(rh_begin(h, 40, RH_UPDATE_REQUIREMENT, f->jg, f->b, par, "Executing",
				  RH_RESOURCE_REQUIREMENTS_UPDATED),
			 0);

	cJSON *o = rh_overview_json(h);
	assert_non_null(o);
	const cJSON *counts = item(o, "rescalesCounts");
	assert_int_equal(num(counts, "ignored"), 2);
	assert_int_equal(num(counts, "inProgress"), 1);
	assert_int_equal(num(counts, "completed"), 0);
	assert_int_equal(num(counts, "failed"), 0);
	const cJSON *latest = item(o, "latest");
	assert_true(is_null(latest, "completed"));
	assert_true(is_null(latest, "failed"));
	const cJSON *ign = item(latest, "ignored");
	assert_string_equal(str(ign, "terminatedReason"), "RESOURCE_REQUIREMENTS_UPDATED");
	assert_string_equal(str(ign, "triggerCause"), "NEW_RESOURCE_AVAILABLE");
	assert_int_equal(num(ign, "endTimestampInMillis"), 40);
	cJSON_Delete(o);

	/* Newest first: the one in progress has no end and a new
	 * requirements id, its attempt counted from 1 again. */
	cJSON *hist = rh_history_json(h);
	assert_int_equal(cJSON_GetArraySize(hist), 3);
	const cJSON *cur = cJSON_GetArrayItem(hist, 0), *cut = cJSON_GetArrayItem(hist, 1),
		    *same = cJSON_GetArrayItem(hist, 2);
	assert_true(is_null(cur, "terminalState"));
	assert_true(is_null(cur, "endTimestampInMillis"));
	assert_string_not_equal(str(cur, "resourceRequirementsUuid"),
				str(cut, "resourceRequirementsUuid"));
	assert_int_equal(num(cur, "rescaleAttemptId"), 1);
	assert_int_equal(num(cut, "rescaleAttemptId"), 2);
	assert_string_equal(str(same, "terminatedReason"), "NO_RESOURCES_OR_PARALLELISMS_CHANGE");
	assert_string_equal(str(same, "terminalState"), "IGNORED");

	/* It fails: the exception is on the state it failed in. */
	rh_end(h, 55, RH_FAILED, RH_EXCEPTION_OCCURRED, NULL, "no slots: 0 free");
	cJSON_Delete(hist);
	hist = rh_history_json(h);
	cur = cJSON_GetArrayItem(hist, 0);
	assert_string_equal(str(cur, "terminalState"), "FAILED");
	const cJSON *spans = item(cur, "schedulerStates");
	const cJSON *last = cJSON_GetArrayItem(spans, cJSON_GetArraySize(spans) - 1);
	assert_string_equal(str(last, "stringifiedException"), "no slots: 0 free");
	assert_true(is_null(item(cur, "vertices")->child, "postRescaleParallelism"));
	cJSON_Delete(hist);
	rh_free(h);
}

static void test_the_ring_keeps_the_latest_and_counts_all(void **state)
{
	struct fixture *f = *state;
	rh_history *h = history(2);
	int par[2] = {1, 2}, more[2] = {1, 4};
	char first[37] = "";
	for (int i = 0; i < 3; i++) {
		assert_int_equal(rh_begin(h, 100 * i, RH_NEW_RESOURCE_AVAILABLE, f->jg, f->b, par,
					  "Executing", RH_NO_REASON),
				 0);
		if (i == 0) {
			cJSON *x = rh_history_json(h);
			snprintf(first, sizeof(first), "%s",
				 str(cJSON_GetArrayItem(x, 0), "rescaleUuid"));
			cJSON_Delete(x);
		}
		/* 10, 20, 30 ms */
		rh_end(h, 100 * i + 10 * (i + 1), RH_COMPLETED, RH_SUCCEEDED, more, NULL);
	}
	cJSON *hist = rh_history_json(h);
	assert_int_equal(cJSON_GetArraySize(hist), 2);
	assert_int_equal(num(cJSON_GetArrayItem(hist, 0), "startTimestampInMillis"), 200);
	assert_int_equal(num(cJSON_GetArrayItem(hist, 1), "startTimestampInMillis"), 100);
	bool found = true;
	assert_null(rh_details_json(h, first, &found));
	assert_false(found);
	cJSON_Delete(hist);

	/* The summary counts and times every rescale, kept or not. */
	cJSON *s = rh_summary_json(h);
	assert_non_null(s);
	assert_int_equal(num(item(s, "rescalesCounts"), "completed"), 3);
	const cJSON *st = item(s, "completedRescalesDurationStatsInMillis");
	assert_int_equal(num(st, "min"), 10);
	assert_int_equal(num(st, "max"), 30);
	assert_int_equal(num(st, "avg"), 20);
	assert_int_equal(num(st, "p50"), 20);
	assert_int_equal(num(st, "p99"), 30);
	assert_int_equal(num(item(s, "rescalesDurationStatsInMillis"), "max"), 30);
	const cJSON *none = item(s, "failedRescalesDurationStatsInMillis");
	assert_int_equal(num(none, "max"), 0);
	assert_int_equal(num(none, "p999"), 0);
	cJSON_Delete(s);
	rh_free(h);
}

static void test_size_zero_keeps_nothing_but_the_config(void **state)
{
	struct fixture *f = *state;
	rh_history *h = history(0);
	assert_int_equal(rh_begin(h, 1, RH_INITIAL_SCHEDULE, f->jg, f->b, NULL,
				  "WaitingForResources", RH_NO_REASON),
			 0);
	assert_false(rh_in_progress(h));
	cJSON *hist = rh_history_json(h);
	assert_int_equal(cJSON_GetArraySize(hist), 0);
	cJSON_Delete(hist);
	cJSON *c = rh_config_json(h);
	assert_int_equal(num(c, "rescaleHistoryMax"), 0);
	assert_int_equal(num(c, "submissionResourceWaitTimeoutInMillis"), 300000);
	assert_int_equal(num(c, "executingCooldownTimeoutInMillis"), 30000);
	assert_true(is_null(c, "slotIdleTimeoutInMillis"));
	assert_true(is_null(c, "schedulerExecutionMode"));
	cJSON_Delete(c);
	rh_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_a_completed_rescale_shows_vertices_slots_and_states, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_change_is_ignored_and_a_cut_short_one_too,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_the_ring_keeps_the_latest_and_counts_all, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_size_zero_keeps_nothing_but_the_config, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
