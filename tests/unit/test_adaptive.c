/*
 * The adaptive scheduler's decisions (jobmanager/adaptive.c) and the job
 * graph at other parallelisms (jg_rescale), on graphs built with the public
 * API: the parallelism slots give per vertex, slot sharing groups sharing
 * the slots, forward edges keeping one parallelism, Flink's
 * JobResourceRequirementsBody read and refused.
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
#include "jobmanager/adaptive.h"

int ta_gen(fl_ctx *ctx, int64_t off, fl_row *out);
int ta_map(fl_ctx *ctx, const fl_row *in, fl_row *out);

int ta_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	return fl_row_add_int64(out, off);
}

int ta_map(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	*out = *in;
	return 0;
}

static const char *JOB = "00112233445566778899aabbccddeeff";

/* The job graph of env, built as fl_execute would. */
static jg_graph *build(fl_env *env)
{
	int64_t p = 1;
	cfg_get_int(env->config, CFG_PARALLELISM, &p);
	env->graph->parallelism = (int)p;
	env->graph->mode = FL_MODE_STREAMING;
	jg_graph *jg = NULL;
	cm_err err = {0};
	assert_int_equal(jg_build(env->graph, "adaptive", &jg, &err), 0);
	return jg;
}

/* Generator (parallelism 1) -> keyBy -> sum -> discard, at parallelism 4. */
static fl_env *keyed_env(void)
{
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	assert_int_equal(fl_env_set_parallelism(env, 4), 0);
	fl_stream *src = fl_set_parallelism(fl_generator(env, 100, 0, ta_gen), 1);
	fl_discard(fl_sum(fl_key_by(src, 0), 0));
	return env;
}

static void test_slots_give_parallelism_up_to_the_upper_bounds(void **state)
{
	(void)state;
	fl_env *env = keyed_env();
	jg_graph *jg = build(env);
	assert_int_equal(jg->nvertices, 2);
	ad_bounds b[2];
	ad_default_bounds(jg, b);
	assert_int_equal(b[0].lower, 1);
	assert_int_equal(b[0].upper, 1);
	assert_int_equal(b[1].upper, 4);
	int par[2];
	assert_int_equal(ad_plan(jg, b, 2, par), AD_SUFFICIENT);
	assert_int_equal(par[0], 1);
	assert_int_equal(par[1], 2);
	assert_int_equal(ad_slots_needed(jg, par), 2);
	assert_int_equal(ad_plan(jg, b, 4, par), AD_DESIRED);
	assert_int_equal(par[1], 4);
	/* More slots than wanted: the upper bound. */
	assert_int_equal(ad_plan(jg, b, 9, par), AD_DESIRED);
	assert_int_equal(par[1], 4);
	assert_int_equal(ad_plan(jg, b, 0, par), AD_INSUFFICIENT);
	/* A lower bound the slots cannot meet. */
	b[1].lower = 3;
	assert_int_equal(ad_plan(jg, b, 2, par), AD_INSUFFICIENT);
	assert_int_equal(ad_plan(jg, b, 3, par), AD_SUFFICIENT);
	assert_int_equal(par[1], 3);
	assert_int_equal(ad_slots_for_bounds(jg, b, true), 3);
	assert_int_equal(ad_slots_for_bounds(jg, b, false), 4);
	jg_free(jg);
	fl_env_free(env);
}

static void test_slot_sharing_groups_take_turns(void **state)
{
	(void)state;
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	fl_stream *src = fl_set_parallelism(fl_generator(env, 100, 0, ta_gen), 2);
	fl_stream *sum = fl_set_parallelism(fl_sum(fl_key_by(fl_slot_sharing_group(src, "a"), 0), 0), 4);
	fl_set_parallelism(fl_discard(fl_slot_sharing_group(sum, "b")), 4);
	jg_graph *jg = build(env);
	assert_int_equal(jg->ngroups, 2);
	ad_bounds b[8];
	ad_default_bounds(jg, b);
	int par[8];
	/* One each for the lower bounds, the third to the first group. */
	assert_int_equal(ad_plan(jg, b, 3, par), AD_SUFFICIENT);
	assert_int_equal(par[0], 2);
	assert_int_equal(par[1], 1);
	/* Then the second group, which wants more. */
	assert_int_equal(ad_plan(jg, b, 5, par), AD_SUFFICIENT);
	assert_int_equal(par[1], 3);
	assert_int_equal(ad_plan(jg, b, 6, par), AD_DESIRED);
	assert_int_equal(ad_slots_needed(jg, par), 6);
	assert_int_equal(ad_plan(jg, b, 1, par), AD_INSUFFICIENT);
	jg_free(jg);
	fl_env_free(env);
}

/* Generator -> (new chain) map -> discard: two vertices on a forward edge. */
static fl_env *forward_env(bool explicit_forward)
{
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	assert_int_equal(fl_env_set_parallelism(env, 4), 0);
	fl_stream *src = fl_generator(env, 100, 0, ta_gen);
	if (explicit_forward)
		src = fl_forward(src);
	fl_discard(fl_start_new_chain(fl_map(src, ta_map)));
	return env;
}

static void test_forward_edges_keep_one_parallelism(void **state)
{
	(void)state;
	fl_env *env = forward_env(false);
	jg_graph *jg = build(env);
	assert_int_equal(jg->nvertices, 2);
	assert_int_equal(jg->edges[0].part, SG_PART_FORWARD);
	ad_bounds b[2] = {{1, 4}, {1, 2}};
	int par[2];
	/* The lowest of the two, so that the edge stays forward. */
	assert_int_equal(ad_plan(jg, b, 8, par), AD_SUFFICIENT);
	assert_int_equal(par[0], 2);
	assert_int_equal(par[1], 2);

	/* Rescaled apart, the unset partitioner would become a rebalance. */
	jg_graph *r = NULL;
	cm_err err = {0};
	int split[2] = {4, 2};
	assert_int_equal(jg_rescale(jg, split, &r, &err), FL_EINVAL);
	assert_null(r);
	assert_non_null(strstr(err.msg, "forward edge"));
	int both[2] = {3, 3};
	assert_int_equal(jg_rescale(jg, both, &r, &err), 0);
	assert_int_equal(r->vertices[0].parallelism, 3);
	assert_int_equal(r->edges[0].part, SG_PART_FORWARD);
	jg_free(r);
	jg_free(jg);
	fl_env_free(env);

	env = forward_env(true);
	jg = build(env);
	cm_err_clear(&err);
	assert_int_equal(jg_rescale(jg, split, &r, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "forward partitioning does not allow"));
	jg_free(jg);
	fl_env_free(env);
}

static void test_rescale_keeps_shape_and_max_parallelism(void **state)
{
	(void)state;
	fl_env *env = keyed_env();
	jg_graph *jg = build(env);
	int maxp = jg->vertices[1].max_parallelism;
	assert_int_equal(maxp, 128);
	jg_graph *r = NULL;
	cm_err err = {0};
	int par[2] = {1, 100};
	assert_int_equal(jg_rescale(jg, par, &r, &err), 0);
	assert_int_equal(r->nvertices, 2);
	assert_int_equal(r->vertices[1].parallelism, 100);
	/* Derived from 4, not from 100 (which would give 256): key groups stay. */
	assert_int_equal(r->vertices[1].max_parallelism, maxp);
	assert_int_equal(r->slots_needed, 100);
	assert_string_equal(r->vertices[1].name, jg->vertices[1].name);
	assert_int_equal(r->edges[0].part, SG_PART_HASH);
	jg_free(r);
	int over[2] = {1, 129};
	assert_int_equal(jg_rescale(jg, over, &r, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "outside 1..128"));
	int zero[2] = {0, 1};
	assert_int_equal(jg_rescale(jg, zero, &r, &err), FL_EINVAL);
	assert_null(r);
	/* A max parallelism a restore adopted from the state (cp_restore_check
	 * sets the vertex's) is the one kept. */
	jg->vertices[1].max_parallelism = 256;
	int wide[2] = {1, 200};
	assert_int_equal(jg_rescale(jg, wide, &r, &err), 0);
	assert_int_equal(r->vertices[1].max_parallelism, 256);
	assert_int_equal(r->vertices[1].parallelism, 200);
	jg_free(r);
	jg_free(jg);
	fl_env_free(env);
}

/* PUT's body parsed against the keyed graph: why is the refusal's text. */
static int parse(const jg_graph *jg, const char *json, ad_bounds *b, char *why, size_t cap)
{
	cJSON *o = cJSON_Parse(json);
	why[0] = '\0';
	int rc = ad_bounds_from_json(o, jg, JOB, b, why, cap);
	cJSON_Delete(o);
	return rc;
}

static void test_requirements_body_read_and_refused(void **state)
{
	(void)state;
	fl_env *env = keyed_env();
	jg_graph *jg = build(env);
	char v0[33], v1[33], body[600], why[600];
	jg_vertex_id(JOB, 0, v0);
	jg_vertex_id(JOB, 1, v1);
	ad_bounds b[2];
	ad_default_bounds(jg, b);
	/* What GET shows, PUT takes back. */
	cJSON *o = ad_bounds_to_json(jg, JOB, b);
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	ad_bounds got[2];
	assert_int_equal(parse(jg, text, got, why, sizeof(why)), 0);
	free(text);
	assert_memory_equal(got, b, sizeof(b));

#define BODY(l0, u0, l1, u1)                                                                       \
	snprintf(body, sizeof(body),                                                               \
		 "{\"%s\": {\"parallelism\": {\"lowerBound\": " l0 ", \"upperBound\": " u0 "}}, "    \
		 "\"%s\": {\"parallelism\": {\"lowerBound\": " l1 ", \"upperBound\": " u1 "}}}",     \
		 v0, v1)
	BODY("1", "1", "2", "8");
	assert_int_equal(parse(jg, body, got, why, sizeof(why)), 0);
	assert_int_equal(got[1].lower, 2);
	assert_int_equal(got[1].upper, 8);
	BODY("1", "1", "3", "2");
	assert_int_equal(parse(jg, body, got, why, sizeof(why)), FL_EINVAL);
	assert_non_null(strstr(why, "lower bound 3 is above the upper bound 2"));
	assert_non_null(strstr(why, v1));
	BODY("1", "1", "1", "129");
	assert_int_equal(parse(jg, body, got, why, sizeof(why)), FL_EINVAL);
	assert_non_null(strstr(why, "upperBound 129 is outside 1..128"));
	BODY("1", "1", "1.5", "2");
	assert_int_equal(parse(jg, body, got, why, sizeof(why)), FL_EINVAL);
	assert_non_null(strstr(why, "lowerBound must be an integer"));
	BODY("1", "1", "-1", "2");
	assert_int_equal(parse(jg, body, got, why, sizeof(why)), FL_EINVAL);
	snprintf(body, sizeof(body), "{\"%s\": {\"parallelism\": {\"lowerBound\": 1, \"upperBound\": 1}}}", v0);
	assert_int_equal(parse(jg, body, got, why, sizeof(why)), FL_EINVAL);
	assert_non_null(strstr(why, "has no resource requirements"));
	assert_non_null(strstr(why, "Keyed Aggregation"));
	snprintf(body, sizeof(body),
		 "{\"%s\": {\"parallelism\": {\"lowerBound\": 1, \"upperBound\": 1}}, \"%s\": "
		 "{\"parallelism\": {\"lowerBound\": 1, \"upperBound\": 1}}}",
		 v0, v0);
	assert_int_equal(parse(jg, body, got, why, sizeof(why)), FL_EINVAL);
	assert_non_null(strstr(why, "named twice"));
	assert_int_equal(parse(jg, "{\"ffffffffffffffffffffffffffffffff\": {}}", got, why, sizeof(why)),
			 FL_EINVAL);
	assert_non_null(strstr(why, "was not found"));
	assert_int_equal(parse(jg, "[1, 2]", got, why, sizeof(why)), FL_EINVAL);
	assert_non_null(strstr(why, "JSON object"));
	snprintf(body, sizeof(body), "{\"%s\": {\"parallelism\": 3}}", v0);
	assert_int_equal(parse(jg, body, got, why, sizeof(why)), FL_EINVAL);
	assert_non_null(strstr(why, "must be an object"));
	jg_free(jg);
	fl_env_free(env);

	/* Vertices on a forward edge: one set of bounds. */
	env = forward_env(false);
	jg = build(env);
	jg_vertex_id(JOB, 0, v0);
	jg_vertex_id(JOB, 1, v1);
	BODY("1", "4", "1", "2");
	assert_int_equal(parse(jg, body, got, why, sizeof(why)), FL_EINVAL);
	assert_non_null(strstr(why, "joined by forward edges"));
	BODY("1", "2", "1", "2");
	assert_int_equal(parse(jg, body, got, why, sizeof(why)), 0);
#undef BODY
	jg_free(jg);
	fl_env_free(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_slots_give_parallelism_up_to_the_upper_bounds),
	    cmocka_unit_test(test_slot_sharing_groups_take_turns),
	    cmocka_unit_test(test_forward_edges_keep_one_parallelism),
	    cmocka_unit_test(test_rescale_keeps_shape_and_max_parallelism),
	    cmocka_unit_test(test_requirements_body_read_and_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
