/*
 * Chaining rules, slot counting and graph validation, on graphs built with
 * the public API (the functions here are exported by the test executable).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/env.h"
#include "graph/jobgraph.h"
#include "graph/plan_json.h"
#include "jobmanager/scheduler.h"

int tg_gen(fl_ctx *ctx, int64_t off, fl_row *out);
int tg_map(fl_ctx *ctx, const fl_row *in, fl_row *out);
int tg_filter(fl_ctx *ctx, const fl_row *in);
int tg_key(fl_ctx *ctx, const fl_row *in, fl_row *key);
int tg_process(fl_ctx *ctx, const fl_row *in, fl_collector *out);

int tg_process(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return fl_collect(out, in);
}

int tg_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	return fl_row_add_int64(out, off);
}

int tg_map(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	*out = *in;
	return 0;
}

int tg_filter(fl_ctx *ctx, const fl_row *in)
{
	return 1;
}

int tg_key(fl_ctx *ctx, const fl_row *in, fl_row *key)
{
	return fl_row_add_int64(key, fl_row_int64(in, 0) % 7);
}

static int static_map(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	*out = *in;
	return 0;
}

static fl_env *env_p(int p)
{
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	assert_int_equal(fl_env_set_parallelism(env, p), 0);
	return env;
}

/* Builds the job graph with the env's configuration applied as fl_execute
 * would. */
static jg_graph *build(fl_env *env, cm_err *err)
{
	int64_t p = 1;
	cfg_get_int(env->config, CFG_PARALLELISM, &p);
	env->graph->parallelism = (int)p;
	const char *mode = "STREAMING";
	cfg_get_string(env->config, CFG_RUNTIME_MODE, &mode);
	env->graph->mode = strcmp(mode, "BATCH") == 0 ? FL_MODE_BATCH : FL_MODE_STREAMING;
	jg_graph *jg = NULL;
	cm_err_clear(err);
	int rc = jg_build(env->graph, "test", &jg, err);
	return rc == 0 ? jg : NULL;
}

static void test_forward_same_parallelism_chains_into_one_vertex(void **state)
{
	fl_env *env = env_p(4);
	fl_discard(fl_filter(fl_map(fl_generator(env, 10, 0, tg_gen), tg_map), tg_filter));
	cm_err err;
	jg_graph *jg = build(env, &err);
	assert_non_null(jg);
	assert_int_equal(jg->nvertices, 1);
	assert_int_equal(jg->vertices[0].nops, 4);
	assert_int_equal(jg->nedges, 0);
	assert_string_equal(jg->vertices[0].name, "Source: Generator -> Map -> Filter -> Sink: Discard");
	assert_int_equal(jg->slots_needed, 4);
	jg_free(jg);
	fl_env_free(env);
}

static void test_parallelism_change_breaks_chain_with_rebalance(void **state)
{
	fl_env *env = env_p(2);
	fl_stream *m = fl_set_parallelism(fl_map(fl_generator(env, 10, 0, tg_gen), tg_map), 3);
	/* As in Flink, a sink takes the default parallelism, not its input's. */
	fl_set_parallelism(fl_discard(m), 3);
	cm_err err;
	jg_graph *jg = build(env, &err);
	assert_non_null(jg);
	assert_int_equal(jg->nvertices, 2);
	assert_int_equal(jg->nedges, 1);
	assert_int_equal(jg->edges[0].part, SG_PART_REBALANCE);
	assert_int_equal(jg->vertices[1].parallelism, 3);
	assert_int_equal(jg->vertices[1].nops, 2); /* map + discard chain */
	assert_int_equal(jg->slots_needed, 3);
	jg_free(jg);
	fl_env_free(env);
}

static void test_key_by_cuts_a_hash_edge(void **state)
{
	fl_env *env = env_p(2);
	fl_discard(fl_sum(fl_key_by(fl_generator(env, 10, 0, tg_gen), 0), 0));
	cm_err err;
	jg_graph *jg = build(env, &err);
	assert_non_null(jg);
	assert_int_equal(jg->nvertices, 2);
	assert_int_equal(jg->edges[0].part, SG_PART_HASH);
	assert_false(jg->edges[0].key->by_fn);
	assert_int_equal(jg->edges[0].key->field, 0);
	assert_string_equal(jg->vertices[1].name, "Keyed Aggregation -> Sink: Discard");
	jg_free(jg);
	fl_env_free(env);
}

static void test_key_by_fn_names_the_selector(void **state)
{
	fl_env *env = env_p(1);
	fl_discard(fl_sum(fl_key_by_fn(fl_generator(env, 10, 0, tg_gen), tg_key), 0));
	cm_err err;
	jg_graph *jg = build(env, &err);
	assert_non_null(jg);
	assert_true(jg->edges[0].key->by_fn);
	assert_string_equal(jg->edges[0].key->fn_symbol, "tg_key");
	jg_free(jg);
	fl_env_free(env);
}

static void test_disable_chaining_isolates_the_operator(void **state)
{
	fl_env *env = env_p(1);
	fl_discard(fl_filter(fl_disable_chaining(fl_map(fl_generator(env, 10, 0, tg_gen), tg_map)),
			     tg_filter));
	cm_err err;
	jg_graph *jg = build(env, &err);
	assert_non_null(jg);
	assert_int_equal(jg->nvertices, 3);
	assert_string_equal(jg->vertices[1].name, "Map");
	assert_string_equal(jg->vertices[2].name, "Filter -> Sink: Discard");
	assert_int_equal(jg->edges[0].part, SG_PART_FORWARD);
	jg_free(jg);
	fl_env_free(env);
}

static void test_start_new_chain_breaks_only_before_the_operator(void **state)
{
	fl_env *env = env_p(1);
	fl_discard(fl_filter(fl_start_new_chain(fl_map(fl_generator(env, 10, 0, tg_gen), tg_map)),
			     tg_filter));
	cm_err err;
	jg_graph *jg = build(env, &err);
	assert_non_null(jg);
	assert_int_equal(jg->nvertices, 2);
	assert_string_equal(jg->vertices[1].name, "Map -> Filter -> Sink: Discard");
	jg_free(jg);
	fl_env_free(env);
}

static void test_slot_sharing_groups_add_their_widest_vertex(void **state)
{
	fl_env *env = env_p(2);
	fl_stream *m = fl_slot_sharing_group(fl_map(fl_generator(env, 10, 0, tg_gen), tg_map), "other");
	fl_set_parallelism(m, 3);
	fl_set_parallelism(fl_discard(m), 3); /* inherits "other" */
	cm_err err;
	jg_graph *jg = build(env, &err);
	assert_non_null(jg);
	assert_int_equal(jg->nvertices, 2);
	assert_string_equal(jg->vertices[1].slot_group, "other");
	assert_string_equal(jg->vertices[1].name, "Map -> Sink: Discard");
	assert_int_equal(jg->slots_needed, 2 + 3);
	jg_free(jg);
	fl_env_free(env);
}

static void test_group_profiles_reach_the_job_graph_and_placement(void **state)
{
	fl_env *env = env_p(2);
	/* Refused specs name what is wrong; the first error sticks. */
	fl_resource_spec bad = {.cpu_cores = 1.0, .task_heap_mb = 0};
	assert_int_equal(fl_register_slot_sharing_group(env, "heavy", &bad), FL_EINVAL);
	assert_non_null(strstr(fl_env_error(env), "task heap memory above 0"));
	fl_env_free(env);
	env = env_p(2);
	fl_resource_spec spec = {.cpu_cores = 1.5, .task_heap_mb = 256, .managed_mb = 64};
	assert_int_equal(fl_register_slot_sharing_group(env, "default", &spec), FL_EINVAL);
	assert_non_null(strstr(fl_env_error(env), "'default'"));
	fl_env_free(env);
	env = env_p(2);
	assert_int_equal(fl_register_slot_sharing_group(env, "heavy", &spec), 0);
	fl_stream *src = fl_generator(env, 10, 0, tg_gen);
	fl_stream *m = fl_slot_sharing_group(fl_map(fl_rebalance(src), tg_map), "heavy");
	fl_set_parallelism(m, 3);
	fl_discard(m);
	cm_err err;
	jg_graph *jg = build(env, &err);
	assert_non_null(jg);
	assert_int_equal(jg->ngroups, 2);
	assert_string_equal(jg->groups[0].name, "default");
	assert_true(cm_resource_is_unknown(&jg->groups[0].res));
	assert_int_equal(jg->groups[0].width, 2);
	assert_string_equal(jg->groups[1].name, "heavy");
	assert_int_equal(jg->groups[1].first_slot, 2);
	assert_int_equal(jg->groups[1].width, 3);
	assert_int_equal(jg->groups[1].res.cpu_milli, 1500);
	assert_int_equal(jg->groups[1].res.heap_bytes, 256ll << 20);
	assert_int_equal(jg->groups[1].res.managed_bytes, 64ll << 20);
	/* A placement from the ResourceManager decides each subtask's
	 * TaskManager: slots 0-1 (default) on 1, slots 2-4 (heavy) on 0. */
	uint32_t placement[5] = {1, 1, 0, 0, 0};
	int slots[2] = {3, 2};
	uint32_t *where[16];
	for (size_t v = 0; v < jg->nvertices; v++)
		assert_non_null(where[v] = calloc((size_t)jg->vertices[v].parallelism, sizeof(uint32_t)));
	char msg[256];
	assert_int_equal(sch_assign(jg, slots, 2, placement, where, msg, sizeof(msg)), 0);
	int vs = jg->node_vertex[src->node], vm = jg->node_vertex[m->node];
	for (int i = 0; i < 2; i++)
		assert_int_equal(where[vs][i], 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(where[vm][i], 0);
	/* A placement naming a TaskManager that is not there is refused. */
	placement[4] = 7;
	assert_int_equal(sch_assign(jg, slots, 2, placement, where, msg, sizeof(msg)), FL_EINVAL);
	for (size_t v = 0; v < jg->nvertices; v++)
		free(where[v]);
	jg_free(jg);
	fl_env_free(env);
}

static void test_colocated_operators_share_slots_or_are_refused(void **state)
{
	/* Two vertices (chaining off) of one group: subtask i of each in the
	 * group's i-th slot, after the slots of the "other" group. */
	fl_env *env = env_p(2);
	fl_stream *side = fl_slot_sharing_group(fl_generator(env, 10, 0, tg_gen), "other");
	fl_set_parallelism(fl_discard(side), 3);
	fl_stream *a = fl_colocate(fl_generator(env, 10, 0, tg_gen), "pair");
	fl_stream *b = fl_colocate(fl_disable_chaining(fl_map(a, tg_map)), "pair");
	fl_discard(b);
	cm_err err;
	jg_graph *jg = build(env, &err);
	assert_non_null(jg);
	int va = jg->node_vertex[a->node], vb = jg->node_vertex[b->node];
	assert_int_not_equal(va, vb);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(sch_slot_of(jg, va, i), sch_slot_of(jg, vb, i));
		assert_int_equal(sch_slot_of(jg, va, i), 3 + i);
	}
	/* sch_assign puts them where sch_slot_of says: one TaskManager per
	 * slot, so the slot is the TaskManager. */
	int slots[5] = {1, 1, 1, 1, 1};
	uint32_t *where[16];
	for (size_t v = 0; v < jg->nvertices; v++)
		assert_non_null(where[v] = calloc((size_t)jg->vertices[v].parallelism, sizeof(uint32_t)));
	char msg[256];
	assert_int_equal(sch_assign(jg, slots, 5, NULL, where, msg, sizeof(msg)), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(where[va][i], where[vb][i]);
	for (size_t v = 0; v < jg->nvertices; v++)
		free(where[v]);
	jg_free(jg);
	fl_env_free(env);

	/* Another parallelism, or another slot sharing group: refused. */
	env = env_p(2);
	a = fl_colocate(fl_generator(env, 10, 0, tg_gen), "pair");
	fl_discard(fl_set_parallelism(fl_colocate(fl_map(a, tg_map), "pair"), 1));
	assert_null(build(env, &err));
	assert_non_null(strstr(err.msg, "co-location group 'pair'"));
	assert_non_null(strstr(err.msg, "same parallelism"));
	fl_env_free(env);
	env = env_p(2);
	a = fl_colocate(fl_generator(env, 10, 0, tg_gen), "pair");
	fl_discard(fl_slot_sharing_group(fl_colocate(fl_map(a, tg_map), "pair"), "x"));
	assert_null(build(env, &err));
	assert_non_null(strstr(err.msg, "same slot sharing group"));
	fl_env_free(env);
}

static void test_sink_takes_default_parallelism_not_its_inputs(void **state)
{
	fl_env *env = env_p(2);
	fl_discard(fl_set_parallelism(fl_map(fl_generator(env, 10, 0, tg_gen), tg_map), 3));
	cm_err err;
	jg_graph *jg = build(env, &err);
	assert_non_null(jg);
	assert_int_equal(jg->nvertices, 3);
	assert_int_equal(jg->vertices[2].parallelism, 2);
	assert_int_equal(jg->edges[1].part, SG_PART_REBALANCE);
	jg_free(jg);
	fl_env_free(env);
}

static void test_union_is_a_chain_head_with_two_inputs(void **state)
{
	fl_env *env = env_p(1);
	fl_stream *a = fl_generator(env, 10, 0, tg_gen);
	fl_stream *b = fl_generator(env, 10, 0, tg_gen);
	fl_discard(fl_map(fl_union(a, b), tg_map));
	cm_err err;
	jg_graph *jg = build(env, &err);
	assert_non_null(jg);
	assert_int_equal(jg->nvertices, 3);
	assert_int_equal(jg->vertices[2].nin_edges, 2);
	assert_string_equal(jg->vertices[2].name, "Map -> Sink: Discard");
	jg_free(jg);
	fl_env_free(env);
}

static void test_one_operator_feeding_two_chained_sinks_is_a_tree(void **state)
{
	fl_env *env = env_p(1);
	fl_stream *m = fl_map(fl_generator(env, 10, 0, tg_gen), tg_map);
	fl_discard(m);
	fl_print(m);
	cm_err err;
	jg_graph *jg = build(env, &err);
	assert_non_null(jg);
	assert_int_equal(jg->nvertices, 1);
	assert_int_equal(jg->vertices[0].ops[1].nchained, 2);
	jg_free(jg);
	fl_env_free(env);
}

static void test_explicit_forward_with_parallelism_change_is_an_error(void **state)
{
	fl_env *env = env_p(2);
	fl_discard(fl_set_parallelism(fl_map(fl_forward(fl_generator(env, 10, 0, tg_gen)), tg_map), 1));
	cm_err err;
	assert_null(build(env, &err));
	assert_int_equal(err.code, FL_EINVAL);
	assert_non_null(strstr(err.msg, "forward partitioning does not allow a change of parallelism"));
	fl_env_free(env);
}

static void test_uids_are_generated_checked_and_unique(void **state)
{
	fl_env *env = env_p(1);
	fl_stream *s = fl_uid(fl_generator(env, 10, 0, tg_gen), "numbers");
	assert_non_null(s);
	fl_discard(fl_map(fl_map(s, tg_map), tg_map));
	cm_err err;
	jg_graph *jg = build(env, &err);
	assert_non_null(jg);
	char b[160];
	assert_string_equal(sg_node_uid(env->graph->nodes[0], b, sizeof(b)), "numbers");
	assert_string_equal(sg_node_uid(env->graph->nodes[1], b, sizeof(b)), "map-1");
	assert_string_equal(sg_node_uid(env->graph->nodes[3], b, sizeof(b)), "discard-3");
	jg_free(jg);
	fl_env_free(env);
	/* Two operators with one uid: refused, naming both. */
	env = env_p(1);
	fl_discard(fl_uid(fl_map(fl_uid(fl_map(fl_generator(env, 10, 0, tg_gen), tg_map), "m"),
				 tg_map),
			  "m"));
	assert_null(build(env, &err));
	assert_non_null(strstr(err.msg, "the same uid 'm'"));
	fl_env_free(env);
	/* A uid that could not name a file or a log line. */
	env = env_p(1);
	assert_null(fl_uid(fl_generator(env, 10, 0, tg_gen), "a/b"));
	assert_non_null(strstr(fl_env_error(env), "printable characters without '/'"));
	fl_env_free(env);
}

static void test_parallelism_above_max_parallelism_is_an_error(void **state)
{
	fl_env *env = env_p(8);
	fl_env_set_max_parallelism(env, 4);
	env->graph->max_parallelism = 4;
	fl_discard(fl_generator(env, 10, 0, tg_gen));
	cm_err err;
	assert_null(build(env, &err));
	assert_non_null(strstr(err.msg, "above its max parallelism 4"));
	fl_env_free(env);
}

static void test_batch_mode_refuses_an_unbounded_source(void **state)
{
	fl_env *env = env_p(1);
	fl_env_set_runtime_mode(env, FL_MODE_BATCH);
	fl_discard(fl_generator(env, -1, 0, tg_gen));
	cm_err err;
	assert_null(build(env, &err));
	assert_non_null(strstr(err.msg, "unbounded"));
	fl_env_free(env);
}

static void test_a_dataflow_without_sink_is_an_error(void **state)
{
	fl_env *env = env_p(1);
	fl_map(fl_generator(env, 10, 0, tg_gen), tg_map);
	cm_err err;
	assert_null(build(env, &err));
	assert_non_null(strstr(err.msg, "no sink"));
	fl_env_free(env);
}

static void test_static_function_is_refused_when_the_graph_is_built(void **state)
{
	fl_env *env = env_p(1);
	fl_stream *s = fl_generator(env, 10, 0, tg_gen);
	assert_null(fl_map(s, static_map));
	assert_non_null(strstr(fl_env_error(env), "has no exported symbol name"));
	assert_non_null(strstr(fl_env_error(env), "map:"));
	/* Later calls are no-ops and fl_execute reports the first error. */
	assert_null(fl_discard(s));
	assert_int_equal(fl_execute(env, "x"), FL_EINVAL);
	fl_env_free(env);
}

static void test_aggregation_needs_a_keyed_stream(void **state)
{
	fl_env *env = env_p(1);
	assert_null(fl_sum(fl_generator(env, 10, 0, tg_gen), 0));
	assert_non_null(strstr(fl_env_error(env), "needs a keyed stream"));
	fl_env_free(env);
}

static void test_process_needs_a_keyed_stream_and_cuts_a_hash_edge(void **state)
{
	fl_env *env = env_p(2);
	assert_null(fl_process(fl_generator(env, 10, 0, tg_gen), tg_process));
	assert_string_equal(fl_env_error(env),
			    "process: needs a keyed stream; call fl_key_by() or fl_key_by_fn() first");
	fl_env_free(env);
	env = env_p(2);
	fl_discard(fl_process(fl_key_by_fn(fl_generator(env, 10, 0, tg_gen), tg_key), tg_process));
	cm_err err;
	jg_graph *jg = build(env, &err);
	assert_non_null(jg);
	assert_int_equal(jg->nvertices, 2);
	assert_int_equal(jg->edges[0].part, SG_PART_HASH);
	assert_string_equal(jg->edges[0].key->fn_symbol, "tg_key");
	assert_string_equal(jg->vertices[1].name, "KeyedProcess -> Sink: Discard");
	jg_free(jg);
	fl_env_free(env);
}

static void test_properties_refused_on_a_keyed_view(void **state)
{
	fl_env *env = env_p(1);
	assert_null(fl_set_parallelism(fl_key_by(fl_generator(env, 10, 0, tg_gen), 0), 2));
	assert_non_null(strstr(fl_env_error(env), "not to a keyed"));
	fl_env_free(env);
}

static void test_bad_parallelism_and_field_are_refused(void **state)
{
	fl_env *env = env_p(1);
	assert_null(fl_set_parallelism(fl_generator(env, 10, 0, tg_gen), 0));
	assert_non_null(strstr(fl_env_error(env), "at least 1"));
	fl_env_free(env);
	env = env_p(1);
	assert_null(fl_key_by(fl_generator(env, 10, 0, tg_gen), FL_ROW_MAX_FIELDS));
	assert_non_null(strstr(fl_env_error(env), "out of range"));
	fl_env_free(env);
}

static void test_missing_input_file_is_refused_at_build(void **state)
{
	fl_env *env = env_p(1);
	assert_null(fl_read_text_file(env, "/nonexistent/flinc-input.txt"));
	assert_non_null(strstr(fl_env_error(env), "/nonexistent/flinc-input.txt"));
	fl_env_free(env);
}

static void test_two_text_sinks_on_one_directory_are_refused(void **state)
{
	fl_env *env = env_p(1);
	fl_stream *g = fl_generator(env, 10, 0, tg_gen);
	fl_write_text(g, "/tmp/flinc-same-dir");
	fl_write_text(fl_map(g, tg_map), "/tmp/flinc-same-dir/");
	cm_err err;
	assert_null(build(env, &err));
	assert_non_null(strstr(err.msg, "both write to directory"));
	fl_env_free(env);
}

static void test_default_max_parallelism_follows_flink(void **state)
{
	assert_int_equal(jg_default_max_parallelism(1), 128);
	assert_int_equal(jg_default_max_parallelism(85), 128);
	assert_int_equal(jg_default_max_parallelism(86), 256);
	assert_int_equal(jg_default_max_parallelism(200), 512);
	assert_int_equal(jg_default_max_parallelism(30000), 32768);
	fl_env *env = env_p(200);
	env->graph->max_parallelism = 0; /* unset, as fl_execute leaves it */
	fl_discard(fl_generator(env, 10, 0, tg_gen));
	cm_err err;
	jg_graph *jg = build(env, &err);
	assert_non_null(jg);
	assert_int_equal(jg->vertices[0].max_parallelism, 512);
	jg_free(jg);
	fl_env_free(env);
}

static void test_operator_takes_the_parallelism_set_when_it_was_created(void **state)
{
	fl_env *env = env_p(2);
	fl_stream *g = fl_generator(env, 10, 0, tg_gen);
	fl_env_set_parallelism(env, 3);
	fl_discard(g);
	cm_err err;
	jg_graph *jg = build(env, &err);
	assert_non_null(jg);
	assert_int_equal(jg->vertices[0].parallelism, 2);
	assert_int_equal(jg->vertices[1].parallelism, 3);
	jg_free(jg);
	fl_env_free(env);
}

static void test_functions_are_named_by_their_exported_symbol(void **state)
{
	char *sym = NULL, *lib = NULL;
	cm_err err = {0};
	assert_int_equal(sg_name_function((const void *)tg_map, "map", &sym, &lib, &err), 0);
	assert_string_equal(sym, "tg_map");
	void *fn = NULL;
	assert_int_equal(sg_resolve_function(lib, sym, &fn, &err), 0);
	assert_ptr_equal(fn, (void *)tg_map);
	free(sym);
	free(lib);
	assert_int_equal(sg_resolve_function("", "no_such_function_xyz", &fn, &err), FL_ENOENT);
	assert_non_null(strstr(err.msg, "no_such_function_xyz"));
}

/* fixed_parallelism of vertex v in jg's JSON plan, 0 when absent. */
static int plan_fixed(const jg_graph *jg, int v)
{
	cJSON *plan = jg_plan_json(jg, "0123456789abcdef0123456789abcdef");
	assert_non_null(plan);
	const cJSON *node = cJSON_GetArrayItem(cJSON_GetObjectItem(plan, "nodes"), v);
	assert_non_null(node);
	const cJSON *f = cJSON_GetObjectItem(node, "fixed_parallelism");
	int out = cJSON_IsNumber(f) ? f->valueint : 0;
	cJSON_Delete(plan);
	return out;
}

/* The JSON plan marks the vertices whose parallelism the job set itself
 * (fl_set_parallelism, a non-parallel operator): an in-place change of the
 * job's default keeps them. One that took the environment's parallelism,
 * even one set by fl_env_set_parallelism, follows the default. */
static void test_the_plan_names_the_parallelism_the_job_fixed(void **state)
{
	fl_env *env = env_p(2);
	fl_stream *src = fl_set_parallelism(fl_generator(env, 10, 0, tg_gen), 1);
	fl_stream *wide = fl_set_parallelism(fl_map(fl_rebalance(src), tg_map), 3);
	fl_discard(fl_process(fl_key_by(wide, 0), tg_process));
	cm_err err;
	jg_graph *jg = build(env, &err);
	assert_non_null(jg);
	assert_int_equal(jg->nvertices, 3);
	assert_int_equal(plan_fixed(jg, 0), 1);
	assert_int_equal(plan_fixed(jg, 1), 3);
	assert_int_equal(jg->vertices[2].parallelism, 2);
	assert_int_equal(plan_fixed(jg, 2), 0);
	jg_free(jg);
	fl_env_free(env);
}

/* The plan text of jg (malloc'd). */
static char *plan_text(const jg_graph *jg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	jg_print_text(jg, f);
	fclose(f);
	return buf;
}

/* Two chains fed from the network, joined by a co-map on forward edges:
 * one vertex with both chains, the co-map and what follows, its two
 * inputs entering the two maps (Flink's multiple-input chaining). */
static void test_a_two_input_operator_chains_with_two_network_fed_chains(void **state)
{
	fl_env *env = env_p(2);
	fl_stream *a = fl_name(
	    fl_map(fl_rebalance(fl_set_parallelism(fl_generator(env, 10, 0, tg_gen), 1)), tg_map),
	    "Map A");
	fl_stream *b = fl_name(
	    fl_map(fl_key_by(fl_set_parallelism(fl_generator(env, 10, 0, tg_gen), 1), 0), tg_map),
	    "Map B");
	fl_discard(fl_co_map(fl_connect(a, b), tg_map, tg_map));
	cm_err err;
	jg_graph *jg = build(env, &err);
	assert_non_null(jg);
	assert_int_equal(jg->nvertices, 3); /* two sources, one task for the rest */
	const jg_vertex *v = &jg->vertices[2];
	assert_int_equal(v->nops, 4);
	assert_int_equal(v->nin_edges, 2);
	assert_int_equal(jg->node_vertex[a->node], 2);
	assert_int_equal(jg->node_vertex[b->node], 2);
	/* Both sources come first: vertices stay in topological order. */
	for (size_t e = 0; e < jg->nedges; e++)
		assert_true(jg->edges[e].src_vertex < jg->edges[e].dst_vertex);
	char *plan = plan_text(jg);
	assert_non_null(strstr(plan, "Vertex 3: Map A -> Map B -> Co-Map -> Sink: Discard\n"));
	assert_non_null(strstr(plan, "via HASH (key field 0) into Map B\n"));
	assert_non_null(strstr(plan, "  head  Map A [map tg_map()]\n"));
	assert_non_null(strstr(plan, "  head  Map B [map tg_map()]\n"));
	assert_non_null(strstr(plan, "<- input 1 Map A, input 2 Map B\n"));
	assert_null(strstr(plan, "Vertex 4"));
	free(plan);
	jg_free(jg);
	fl_env_free(env);
}

/* A stream connected with a map of itself: both inputs in one chain (a
 * diamond), a source at its head. */
static void test_a_diamond_into_a_two_input_operator_is_one_task(void **state)
{
	fl_env *env = env_p(1);
	fl_stream *s = fl_generator(env, 10, 0, tg_gen);
	fl_discard(fl_co_map(fl_connect(s, fl_map(s, tg_map)), tg_map, tg_map));
	cm_err err;
	jg_graph *jg = build(env, &err);
	assert_non_null(jg);
	assert_int_equal(jg->nvertices, 1);
	assert_int_equal(jg->vertices[0].nops, 4);
	char *plan = plan_text(jg);
	assert_non_null(
	    strstr(plan, "Vertex 1: Source: Generator -> Map -> Co-Map -> Sink: Discard\n"));
	assert_non_null(strstr(plan, "<- input 1 Source: Generator, input 2 Map\n"));
	free(plan);
	jg_free(jg);
	fl_env_free(env);
}

/* The adaptive scheduler's rescale keeps a merged vertex whole: its
 * chains move to the new parallelism together. */
static void test_a_chained_two_input_vertex_rescales_whole(void **state)
{
	fl_env *env = env_p(2);
	fl_stream *a = fl_map(fl_rebalance(fl_set_parallelism(fl_generator(env, 10, 0, tg_gen), 1)),
			      tg_map);
	fl_stream *b = fl_map(fl_rebalance(fl_set_parallelism(fl_generator(env, 10, 0, tg_gen), 1)),
			      tg_map);
	fl_discard(fl_co_map(fl_connect(a, b), tg_map, tg_map));
	cm_err err;
	jg_graph *jg = build(env, &err);
	assert_non_null(jg);
	assert_int_equal(jg->nvertices, 3);
	int par[3] = {1, 1, 4};
	jg_graph *r = NULL;
	assert_int_equal(jg_rescale(jg, par, &r, &err), 0);
	assert_int_equal(r->nvertices, 3);
	assert_int_equal(r->vertices[2].parallelism, 4);
	assert_int_equal(r->vertices[2].nops, 4);
	assert_int_equal(r->node_parallelism[a->node], 4);
	assert_int_equal(r->node_parallelism[b->node], 4);
	jg_free(r);
	jg_free(jg);
	fl_env_free(env);
}

/* A generator and a text file source of a regular file, joined by a
 * co-map: one vertex. */
static void test_a_generator_and_a_text_file_source_chain_with_a_co_map(void **state)
{
	char path[] = "/tmp/test_jobgraph_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "a\nb\n", 4), 4);
	close(fd);
	fl_env *env = env_p(2);
	fl_stream *a = fl_generator(env, 10, 0, tg_gen), *b = fl_read_text_file(env, path);
	fl_discard(fl_co_map(fl_connect(a, b), tg_map, tg_map));
	cm_err err;
	jg_graph *jg = build(env, &err);
	if (!jg)
		fail_msg("%s", err.msg);
	assert_int_equal(jg->nvertices, 1);
	assert_int_equal(jg->vertices[0].nops, 4);
	jg_free(jg);
	fl_env_free(env);
	unlink(path);
}

/* Two generators, each with a map, joined by a co-map on forward edges:
 * one vertex with both sources as heads (one thread serves both). */
static void test_two_generators_chain_with_a_two_input_operator(void **state)
{
	fl_env *env = env_p(2);
	fl_stream *a = fl_name(fl_map(fl_generator(env, 10, 0, tg_gen), tg_map), "Map A");
	fl_stream *b = fl_generator(env, 10, 0, tg_gen);
	fl_stream *co = fl_co_map(fl_connect(a, b), tg_map, tg_map);
	fl_discard(fl_map(co, tg_map));
	cm_err err;
	jg_graph *jg = build(env, &err);
	assert_non_null(jg);
	assert_int_equal(jg->nvertices, 1);
	const jg_vertex *v = &jg->vertices[0];
	assert_int_equal(v->nops, 6);
	assert_int_equal(v->nin_edges, 0);
	assert_int_equal(v->parallelism, 2);
	assert_int_equal(jg->node_vertex[b->node], 0);
	assert_int_equal(jg->node_vertex[co->node], 0);
	char *plan = plan_text(jg);
	assert_non_null(strstr(
	    plan,
	    "Vertex 1: Source: Generator -> Map A -> Source: Generator -> Co-Map -> Map -> Sink: "
	    "Discard\n"));
	assert_non_null(strstr(plan, "  head  Source: Generator [generator tg_gen()]\n  chain Map A"));
	assert_non_null(strstr(plan, "Map A [map tg_map()]\n  head  Source: Generator"));
	assert_non_null(strstr(plan, "<- input 1 Map A, input 2 Source: Generator\n"));
	free(plan);
	jg_free(jg);
	fl_env_free(env);
}

/* A generator's chain beside a network-fed one, joined by a co-map on
 * forward edges: one task runs the generator beside its input gate
 * (Flink's MultipleInputStreamTask with a chained source). The
 * network-fed map heads the vertex whether its vertex came before the
 * generator's or after it, and a second generator joined later stays
 * beside it. */
static void test_a_source_chain_and_a_network_fed_chain_share_a_task(void **state)
{
	for (int c = 0; c < 3; c++) {
		fl_env *env = env_p(2);
		fl_stream *a = NULL, *b = NULL;
		if (c != 1) /* a's vertex first: the network-fed one comes later */
			a = fl_generator(env, 10, 0, tg_gen);
		b = fl_name(fl_map(fl_rebalance(fl_generator(env, 10, 0, tg_gen)), tg_map),
			    "Map B");
		if (c == 1)
			a = fl_generator(env, 10, 0, tg_gen);
		fl_stream *co = fl_co_map(fl_connect(a, b), tg_map, tg_map);
		fl_stream *g2 = NULL;
		if (c == 2) {
			g2 = fl_name(fl_generator(env, 10, 0, tg_gen), "Generator 2");
			co = fl_co_map(fl_connect(g2, co), tg_map, tg_map);
		}
		fl_discard(co);
		cm_err err;
		jg_graph *jg = build(env, &err);
		if (!jg)
			fail_msg("case %d: %s", c, err.msg);
		/* b's generator, then the rest in one vertex */
		assert_int_equal(jg->nvertices, 2);
		const jg_vertex *v = &jg->vertices[1];
		assert_int_equal(jg->node_vertex[co->node], 1);
		assert_int_equal(jg->node_vertex[a->node], 1);
		assert_int_equal(jg->node_vertex[b->node], 1);
		assert_int_equal(v->ops[0].node, b->node);
		assert_int_equal(v->nops, c == 2 ? 6 : 4);
		assert_int_equal(v->nin_edges, 1);
		assert_int_equal(jg->edges[v->in_edges[0]].dst_node, b->node);
		assert_int_equal(jg->edges[v->in_edges[0]].src_vertex, 0);
		char *plan = plan_text(jg);
		if (c == 2)
			assert_non_null(strstr(plan, "Vertex 2: Map B -> Source: Generator -> Co-Map -> "
						     "Generator 2 -> Co-Map -> Sink: Discard\n"));
		else
			assert_non_null(strstr(plan, "Vertex 2: Map B -> Source: Generator -> Co-Map -> "
						     "Sink: Discard\n"));
		assert_non_null(strstr(plan, "  input: vertex 1 (Source: Generator) via REBALANCE "
					     "into Map B\n"));
		assert_non_null(strstr(plan, "  head  Map B [map tg_map()]\n"
					     "  head  Source: Generator [generator tg_gen()]\n"));
		assert_non_null(strstr(plan, "<- input 1 Source: Generator, input 2 Map B\n"));
		if (c == 2) {
			assert_non_null(strstr(plan, "  head  Generator 2 [generator tg_gen()]\n"));
			assert_non_null(strstr(plan, "<- input 1 Generator 2, input 2 Co-Map\n"));
		}
		free(plan);
		jg_free(jg);
		fl_env_free(env);
	}
}

/* What does not chain: a generator with a text file source reading a
 * FIFO (its reads block), a keyed input, a parallelism change, disabled chaining,
 * two chains one of which feeds the other over the network (a cycle
 * through the task), and a socket source or a FIFO's text source beside a
 * network-fed chain (their blocking loops keep a task to themselves; the
 * socket's max parallelism 1 matched on the other side, so that only the
 * source keeps them apart). */
static void test_a_two_input_operator_heads_its_task_where_it_cannot_chain(void **state)
{
	int want[7] = {3, 3, 3, 3, 3, 4, 4};
	char dir[] = "/tmp/test_jobgraph_XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	for (int c = 0; c < 7; c++) {
		fl_env *env = env_p(c == 5 ? 1 : 2);
		fl_stream *a, *b;
		if (c == 5)
			a = fl_socket_text(env, "localhost", 9, 0);
		else if (c == 6)
			a = fl_read_text_file(env, path);
		else
			a = fl_generator(env, 10, 0, tg_gen);
		if (c == 0) {
			b = fl_read_text_file(env, path);
		} else if (c == 5 || c == 6) {
			b = fl_map(fl_rebalance(fl_generator(env, 10, 0, tg_gen)), tg_map);
			if (c == 5)
				b = fl_set_max_parallelism(b, 1);
		} else if (c == 1) {
			a = fl_map(fl_rebalance(a), tg_map);
			b = fl_key_by(
			    fl_map(fl_rebalance(fl_generator(env, 10, 0, tg_gen)), tg_map), 0);
			want[c] = 5;
		} else if (c == 2) {
			a = fl_map(fl_rebalance(a), tg_map);
			b = fl_set_parallelism(
			    fl_map(fl_rebalance(fl_generator(env, 10, 0, tg_gen)), tg_map), 1);
			want[c] = 5;
		} else if (c == 3) {
			a = fl_map(fl_rebalance(a), tg_map);
			b = fl_disable_chaining(
			    fl_map(fl_rebalance(fl_generator(env, 10, 0, tg_gen)), tg_map));
			want[c] = 5;
		} else {
			/* a's map feeds b's over a rebalance: a -> ... -> b and both
			 * into the co-map */
			a = fl_map(fl_rebalance(a), tg_map);
			b = fl_map(fl_rebalance(a), tg_map);
			want[c] = 4;
		}
		fl_stream *co = fl_co_map(fl_connect(a, b), tg_map, tg_map);
		fl_discard(co);
		cm_err err;
		jg_graph *jg = build(env, &err);
		if (!jg)
			fail_msg("case %d: %s", c, err.msg);
		assert_int_equal(jg->nvertices, (size_t)want[c]);
		const jg_vertex *v = &jg->vertices[jg->node_vertex[co->node]];
		assert_int_equal(v->ops[0].node, co->node);
		jg_free(jg);
		fl_env_free(env);
	}
	unlink(path);
	rmdir(dir);
}

static void test_plan_text_shows_vertices_edges_and_slots(void **state)
{
	fl_env *env = env_p(2);
	fl_discard(fl_sum(fl_key_by(fl_map(fl_generator(env, 10, 0, tg_gen), tg_map), 0), 0));
	cm_err err;
	jg_graph *jg = build(env, &err);
	assert_non_null(jg);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	jg_print_text(jg, f);
	jg_print_dot(jg, f);
	fclose(f);
	assert_non_null(strstr(buf, "slots needed 2"));
	assert_non_null(strstr(buf, "Vertex 1: Source: Generator -> Map"));
	assert_non_null(strstr(buf, "via HASH (key field 0)"));
	assert_non_null(strstr(buf, "v1 -> v2 [label=\"HASH\"]"));
	free(buf);
	jg_free(jg);
	fl_env_free(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_forward_same_parallelism_chains_into_one_vertex),
	    cmocka_unit_test(test_parallelism_change_breaks_chain_with_rebalance),
	    cmocka_unit_test(test_key_by_cuts_a_hash_edge),
	    cmocka_unit_test(test_key_by_fn_names_the_selector),
	    cmocka_unit_test(test_disable_chaining_isolates_the_operator),
	    cmocka_unit_test(test_start_new_chain_breaks_only_before_the_operator),
	    cmocka_unit_test(test_slot_sharing_groups_add_their_widest_vertex),
	    cmocka_unit_test(test_colocated_operators_share_slots_or_are_refused),
	    cmocka_unit_test(test_group_profiles_reach_the_job_graph_and_placement),
	    cmocka_unit_test(test_sink_takes_default_parallelism_not_its_inputs),
	    cmocka_unit_test(test_union_is_a_chain_head_with_two_inputs),
	    cmocka_unit_test(test_one_operator_feeding_two_chained_sinks_is_a_tree),
	    cmocka_unit_test(test_explicit_forward_with_parallelism_change_is_an_error),
	    cmocka_unit_test(test_uids_are_generated_checked_and_unique),
	    cmocka_unit_test(test_parallelism_above_max_parallelism_is_an_error),
	    cmocka_unit_test(test_batch_mode_refuses_an_unbounded_source),
	    cmocka_unit_test(test_a_dataflow_without_sink_is_an_error),
	    cmocka_unit_test(test_static_function_is_refused_when_the_graph_is_built),
	    cmocka_unit_test(test_aggregation_needs_a_keyed_stream),
	    cmocka_unit_test(test_process_needs_a_keyed_stream_and_cuts_a_hash_edge),
	    cmocka_unit_test(test_properties_refused_on_a_keyed_view),
	    cmocka_unit_test(test_bad_parallelism_and_field_are_refused),
	    cmocka_unit_test(test_missing_input_file_is_refused_at_build),
	    cmocka_unit_test(test_two_text_sinks_on_one_directory_are_refused),
	    cmocka_unit_test(test_default_max_parallelism_follows_flink),
	    cmocka_unit_test(test_operator_takes_the_parallelism_set_when_it_was_created),
	    cmocka_unit_test(test_functions_are_named_by_their_exported_symbol),
	    cmocka_unit_test(test_the_plan_names_the_parallelism_the_job_fixed),
	    cmocka_unit_test(test_plan_text_shows_vertices_edges_and_slots),
	    cmocka_unit_test(test_a_two_input_operator_chains_with_two_network_fed_chains),
	    cmocka_unit_test(test_a_diamond_into_a_two_input_operator_is_one_task),
	    cmocka_unit_test(test_a_chained_two_input_vertex_rescales_whole),
	    cmocka_unit_test(test_a_two_input_operator_heads_its_task_where_it_cannot_chain),
	    cmocka_unit_test(test_a_source_chain_and_a_network_fed_chain_share_a_task),
	    cmocka_unit_test(test_two_generators_chain_with_a_two_input_operator),
	    cmocka_unit_test(test_a_generator_and_a_text_file_source_chain_with_a_co_map),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
