/*
 * Task deployment descriptors: built from a job graph they hold only the
 * task's own view (its chain, its inputs, its consumers), survive the wire
 * unchanged, and the decoder refuses truncated, corrupted and inconsistent
 * input with a message instead of building a task that would crash.
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
#include "common/buf.h"
#include "graph/descriptor.h"
#include "graph/jobgraph.h"

int td_gen(fl_ctx *ctx, int64_t off, fl_row *out);
int td_map(fl_ctx *ctx, const fl_row *in, fl_row *out);
int td_keyfn(fl_ctx *ctx, const fl_row *in, fl_row *key);
int td_process(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int td_on_timer(fl_ctx *ctx, int64_t time, enum fl_time_domain d, fl_collector *out);

int td_process(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return fl_collect(out, in);
}

int td_on_timer(fl_ctx *ctx, int64_t time, enum fl_time_domain d, fl_collector *out)
{
	return 0;
}

int td_reduce(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out);
int td_reduce(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	*out = *acc;
	return 0;
}

int td_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	return fl_row_add_int64(out, off);
}

int td_map(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	*out = *in;
	return 0;
}

int td_keyfn(fl_ctx *ctx, const fl_row *in, fl_row *key)
{
	return fl_row_add_int64(key, fl_row_int64(in, 0));
}

struct fixture {
	fl_env *env;
	jg_graph *jg;
	td_peer peers[2];
	uint32_t *where[8];
	uint64_t edge_base[8];
	td_placement pl;
};

/* generator(p=3) -> map -> key_by_fn -> sum(p=2) -> discard, with the sum's
 * subtasks on two TaskManagers. */
static struct fixture *setup(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->env = fl_env_new(0, NULL);
	assert_non_null(f->env);
	fl_stream *s = fl_set_parallelism(fl_map(fl_set_parallelism(fl_generator(f->env, 100, 0, td_gen), 3), td_map), 3);
	fl_discard(fl_set_parallelism(fl_sum(fl_key_by_fn(s, td_keyfn), 0), 2));
	f->env->graph->parallelism = 2;
	cm_err err = {0};
	assert_int_equal(jg_build(f->env->graph, "desc", &f->jg, &err), 0);
	assert_int_equal(f->jg->nvertices, 2);
	f->peers[0] = (td_peer){"tm-a", "127.0.0.1:1000"};
	f->peers[1] = (td_peer){"tm-b", "127.0.0.1:2000"};
	for (size_t v = 0; v < f->jg->nvertices; v++) {
		f->where[v] = calloc((size_t)f->jg->vertices[v].parallelism, sizeof(uint32_t));
		for (int i = 0; i < f->jg->vertices[v].parallelism; i++)
			f->where[v][i] = (uint32_t)(i % 2);
	}
	td_edge_bases(f->jg, f->edge_base);
	f->pl = (td_placement){.job_id = "0123456789abcdef0123456789abcdef",
			       .attempt = 77,
			       .peers = f->peers,
			       .npeers = 2,
			       .subtask_peer = (const uint32_t *const *)f->where,
			       .edge_base = f->edge_base};
	return f;
}

static void teardown(struct fixture *f)
{
	for (size_t v = 0; v < f->jg->nvertices; v++)
		free(f->where[v]);
	jg_free(f->jg);
	fl_env_free(f->env);
	free(f);
}

static void test_a_producer_descriptor_names_only_its_consumers(void **state)
{
	struct fixture *f = setup();
	td_task *td;
	assert_int_equal(td_build(f->jg, &f->pl, 0, 1, &td), 0);
	assert_string_equal(td->job_id, f->pl.job_id);
	assert_int_equal(td->attempt, 77);
	assert_int_equal(td->subtask, 1);
	assert_int_equal(td->parallelism, 3);
	assert_int_equal(td->ninputs, 0);
	assert_int_equal(td->nops, 2); /* generator -> map */
	assert_int_equal(td->ops[0].kind, SG_SOURCE_GENERATOR);
	assert_string_equal(td->ops[0].fn_symbol, "td_gen");
	assert_int_equal(td->ops[1].nouts, 1);
	const td_output *o = &td->ops[1].outs[0];
	assert_int_equal(o->part, SG_PART_HASH);
	assert_true(o->key.by_fn);
	assert_string_equal(o->key.fn_symbol, "td_keyfn");
	assert_int_equal(o->nconsumers, 2);
	assert_int_equal(o->consumer_peer[0], 0);
	assert_int_equal(o->consumer_peer[1], 1);
	td_free(td);
	teardown(f);
}

static void test_a_consumer_descriptor_has_one_input_channel_per_producer(void **state)
{
	struct fixture *f = setup();
	td_task *td;
	assert_int_equal(td_build(f->jg, &f->pl, 1, 0, &td), 0);
	assert_int_equal(td->ninputs, 1);
	assert_int_equal(td->inputs[0].src_parallelism, 3);
	assert_false(td->inputs[0].forward);
	assert_int_equal(td->ops[0].kind, SG_SUM);
	assert_true(td->ops[0].key.by_fn);
	/* The channel ids both sides compute agree. */
	uint64_t id = td_channel_id(td->inputs[0].edge_base, false, 2, 0, td->parallelism);
	assert_int_equal(id, f->edge_base[0] + 2 * 2 + 0);
	td_free(td);
	teardown(f);
}

/* With FLINC_WRITE_SEEDS=DIR, every descriptor a round trip encodes is
 * also written to DIR (the fuzz.descriptor seeds: tests/fuzz/corpus/
 * descriptor, refreshed when the format changes). */
static void write_seed(const uint8_t *a, size_t la)
{
	static int n;
	const char *dir = getenv("FLINC_WRITE_SEEDS");
	if (!dir)
		return;
	char path[4096];
	snprintf(path, sizeof(path), "%s/descriptor-%02d", dir, n++);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(a, 1, la, f), la);
	assert_int_equal(fclose(f), 0);
}

/* The descriptor of subtask sub of vertex of jg (at most 3 vertices of
 * parallelism at most 2, at most 2 edges), every subtask on one
 * TaskManager. */
static td_task *build_on_one_tm(const jg_graph *jg, uint32_t vertex, uint32_t sub)
{
	assert_true(jg->nvertices <= 3 && jg->nedges <= 2);
	static const td_peer peers[1] = {{"tm-a", "127.0.0.1:1000"}};
	static const uint32_t w[2] = {0, 0};
	const uint32_t *where[3] = {w, w, w};
	uint64_t eb[2];
	td_edge_bases(jg, eb);
	td_placement pl = {.job_id = "0123456789abcdef0123456789abcdef",
			   .attempt = 1,
			   .peers = peers,
			   .npeers = 1,
			   .subtask_peer = where,
			   .edge_base = eb};
	td_task *td;
	assert_int_equal(td_build(jg, &pl, vertex, sub, &td), 0);
	return td;
}

/* Encodes then decodes, and re-encodes the result: the bytes must match. */
/* roundtrip's check without a seed (FLINC_WRITE_SEEDS names seeds by
 * the order of roundtrip's calls): decoded, back, the same bytes. */
static void same_on_the_wire(const td_task *td)
{
	uint8_t *a, *b;
	size_t la, lb;
	assert_int_equal(td_encode(td, &a, &la), 0);
	td_task *back;
	cm_err err = {0};
	assert_int_equal(td_decode(a, la, &back, &err), 0);
	assert_int_equal(td_encode(back, &b, &lb), 0);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	td_free(back);
	free(a);
	free(b);
}

static void roundtrip(const td_task *td)
{
	uint8_t *a;
	size_t la;
	assert_int_equal(td_encode(td, &a, &la), 0);
	write_seed(a, la);
	free(a);
	same_on_the_wire(td);
}

static void test_descriptors_survive_the_wire_unchanged(void **state)
{
	struct fixture *f = setup();
	for (int v = 0; v < 2; v++) {
		for (int i = 0; i < f->jg->vertices[v].parallelism; i++) {
			td_task *td;
			assert_int_equal(td_build(f->jg, &f->pl, v, i, &td), 0);
			roundtrip(td);
			td_free(td);
		}
	}
	teardown(f);
}

/* A keyed process function: its kind, functions (process and on_timer)
 * and key travel; without its function it is refused, and so is an
 * on_timer on another kind of operator. */
static void test_a_process_function_travels_and_needs_its_function(void **state)
{
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	fl_process_spec spec = {.process = td_process, .on_timer = td_on_timer};
	fl_discard(fl_keyed_process(fl_key_by(fl_generator(env, 10, 0, td_gen), 0), &spec));
	env->graph->parallelism = 2;
	jg_graph *jg;
	cm_err err = {0};
	assert_int_equal(jg_build(env->graph, "proc", &jg, &err), 0);
	assert_int_equal(jg->nvertices, 2);
	td_peer peers[1] = {{"tm-a", "127.0.0.1:1000"}};
	uint32_t w0[2] = {0, 0}, w1[2] = {0, 0};
	const uint32_t *where[2] = {w0, w1};
	uint64_t eb[2];
	td_edge_bases(jg, eb);
	td_placement pl = {.job_id = "0123456789abcdef0123456789abcdef",
			   .attempt = 1,
			   .peers = peers,
			   .npeers = 1,
			   .subtask_peer = where,
			   .edge_base = eb};
	td_task *td;
	assert_int_equal(td_build(jg, &pl, 1, 1, &td), 0);
	assert_int_equal(td->ops[0].kind, SG_PROCESS);
	assert_string_equal(td->ops[0].name, "KeyedProcess");
	assert_string_equal(td->ops[0].fn_symbol, "td_process");
	assert_string_equal(td->ops[0].timer_symbol, "td_on_timer");
	assert_false(td->ops[0].key.by_fn);
	assert_int_equal(td->ops[0].key.field, 0);
	roundtrip(td);
	td_task *back = NULL;
	uint8_t *a;
	size_t la;
	/* on_timer on the sink (the other operator of the chain): refused. */
	assert_true(td->nops >= 2);
	td->ops[1].timer_symbol = strdup("td_on_timer");
	assert_int_equal(td_encode(td, &a, &la), 0);
	assert_int_equal(td_decode(a, la, &back, &err), FL_EPROTO);
	assert_null(back);
	assert_non_null(strstr(err.msg, "an on_timer function on an operator other than a keyed "
					"process function"));
	free(a);
	free(td->ops[1].timer_symbol);
	td->ops[1].timer_symbol = NULL;
	err = (cm_err){0};
	free(td->ops[0].fn_symbol);
	td->ops[0].fn_symbol = NULL;
	assert_int_equal(td_encode(td, &a, &la), 0);
	assert_int_equal(td_decode(a, la, &back, &err), FL_EPROTO);
	assert_null(back);
	assert_non_null(strstr(err.msg, "operator without its function"));
	free(a);
	td_free(td);
	jg_free(jg);
	fl_env_free(env);
}

/* A window: its spec's numbers and functions travel; a bad one (as a peer
 * could send) is refused naming what is wrong. */
static void test_a_window_travels_and_a_bad_one_is_refused(void **state)
{
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	fl_window_spec spec = {.kind = FL_WINDOW_SLIDING,
			       .size_ms = 300,
			       .slide_ms = 100,
			       .allowed_lateness_ms = 50,
			       .reduce = td_reduce,
			       .trigger = {.kind = FL_TRIGGER_COUNT, .count = 7, .purging = true},
			       .evictor = {.kind = FL_EVICTOR_TIME, .keep_ms = 20, .after = true}};
	fl_stream *win = fl_window(fl_key_by(fl_generator(env, 10, 0, td_gen), 0), &spec);
	fl_discard(win);
	fl_discard(fl_window_late_records(win)); /* never chained: an output */
	env->graph->parallelism = 1;
	jg_graph *jg;
	cm_err err = {0};
	assert_int_equal(jg_build(env->graph, "win", &jg, &err), 0);
	td_peer peers[1] = {{"tm-a", "127.0.0.1:1000"}};
	assert_int_equal(jg->nvertices, 3); /* source, window, the late records' sink */
	uint32_t w0[1] = {0}, w1[1] = {0}, w2[1] = {0};
	const uint32_t *where[3] = {w0, w1, w2};
	uint64_t eb[3];
	td_edge_bases(jg, eb);
	td_placement pl = {.job_id = "0123456789abcdef0123456789abcdef",
			   .attempt = 1,
			   .peers = peers,
			   .npeers = 1,
			   .subtask_peer = where,
			   .edge_base = eb};
	td_task *td;
	assert_int_equal(td_build(jg, &pl, 1, 0, &td), 0);
	assert_int_equal(td->ops[0].kind, SG_WINDOW);
	assert_string_equal(td->ops[0].name, "Window");
	assert_int_equal(td->ops[0].win.kind, FL_WINDOW_SLIDING);
	assert_true(td->ops[0].win.size_ms == 300 && td->ops[0].win.slide_ms == 100 &&
		    td->ops[0].win.lateness_ms == 50);
	assert_string_equal(td->ops[0].win.fns[SG_WIN_REDUCE], "td_reduce");
	assert_null(td->ops[0].win.fns[SG_WIN_FN]);
	assert_true(td->ops[0].win.trigger == FL_TRIGGER_COUNT && td->ops[0].win.trigger_n == 7 &&
		    td->ops[0].win.purging);
	assert_true(td->ops[0].win.evictor == FL_EVICTOR_TIME && td->ops[0].win.evictor_n == 20 &&
		    td->ops[0].win.evict_after);
	assert_int_equal(td->ops[0].nchained, 1); /* the main output's discard */
	assert_int_equal(td->ops[0].nouts, 1);
	assert_string_equal(td->ops[0].outs[0].tag, FL_LATE_RECORDS_TAG);
	roundtrip(td);
	td->ops[0].win.slide_ms = 400;
	uint8_t *a;
	size_t la;
	assert_int_equal(td_encode(td, &a, &la), 0);
	td_task *back = NULL;
	assert_int_equal(td_decode(a, la, &back, &err), FL_EPROTO);
	assert_null(back);
	assert_non_null(strstr(err.msg, "slide_ms of a sliding window must be > 0 and <= size_ms, not 400"));
	free(a);
	/* A trigger or evictor the graph would refuse is refused on the wire. */
	td->ops[0].win.slide_ms = 100;
	td->ops[0].win.trigger = FL_TRIGGER_CONTINUOUS_PROCESSING_TIME;
	err = (cm_err){0};
	assert_int_equal(td_encode(td, &a, &la), 0);
	assert_int_equal(td_decode(a, la, &back, &err), FL_EPROTO);
	if (!strstr(err.msg, "a continuous processing-time trigger needs a processing-time window"))
		fail_msg("%s", err.msg);
	free(a);
	td->ops[0].win.trigger = FL_TRIGGER_COUNT;
	td->ops[0].win.evictor_n = 0;
	err = (cm_err){0};
	assert_int_equal(td_encode(td, &a, &la), 0);
	assert_int_equal(td_decode(a, la, &back, &err), FL_EPROTO);
	assert_non_null(strstr(err.msg, "evictor.keep_ms of a time evictor must be > 0, not 0"));
	free(a);
	td_free(td);
	jg_free(jg);
	fl_env_free(env);
}

int td_process2(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int td_process2(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return 0;
}

/* A keyed co-process function (fl_connect): both functions, both keys and
 * the input side of every input travel; a second input on a one-input
 * head, a missing one, or a missing second function are refused. */
static void test_a_co_process_travels_with_both_inputs(void **state)
{
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	fl_stream *a = fl_key_by(fl_generator(env, 10, 0, td_gen), 0);
	fl_stream *b = fl_key_by_fn(fl_generator(env, 10, 0, td_gen), td_keyfn);
	fl_co_process_spec spec = {
	    .process1 = td_process, .process2 = td_process2, .on_timer = td_on_timer};
	fl_discard(fl_co_process(fl_connect(a, b), &spec));
	assert_string_equal(fl_env_error(env), "");
	env->graph->parallelism = 2;
	jg_graph *jg;
	cm_err err = {0};
	assert_int_equal(jg_build(env->graph, "co", &jg, &err), 0);
	assert_int_equal(jg->nvertices, 3); /* two sources, the co-process with its sink */
	td_task *td = build_on_one_tm(jg, 2, 1);
	assert_int_equal(td->ops[0].kind, SG_CO_PROCESS);
	assert_string_equal(td->ops[0].fn_symbol, "td_process");
	assert_string_equal(td->ops[0].fn2_symbol, "td_process2");
	assert_string_equal(td->ops[0].timer_symbol, "td_on_timer");
	assert_false(td->ops[0].key.by_fn);
	assert_true(td->ops[0].key2.by_fn);
	assert_string_equal(td->ops[0].key2.fn_symbol, "td_keyfn");
	assert_int_equal(td->ninputs, 2);
	assert_int_equal(td->inputs[0].side, 0);
	assert_int_equal(td->inputs[1].side, 1);
	roundtrip(td);

	uint8_t *enc;
	size_t len;
	td_task *back = NULL;
	td->inputs[1].side = 0; /* both channels to the first input */
	assert_int_equal(td_encode(td, &enc, &len), 0);
	assert_int_equal(td_decode(enc, len, &back, &err), FL_EPROTO);
	if (!strstr(err.msg, "input 2 of operator 0 ('KeyedCoProcess') is fed by nothing"))
		fail_msg("%s", err.msg);
	free(enc);
	td->inputs[1].side = 1;
	char *f2 = td->ops[0].fn2_symbol;
	td->ops[0].fn2_symbol = NULL;
	err = (cm_err){0};
	assert_int_equal(td_encode(td, &enc, &len), 0);
	assert_int_equal(td_decode(enc, len, &back, &err), FL_EPROTO);
	assert_non_null(strstr(err.msg, "a missing function for a second input"));
	free(enc);
	td->ops[0].fn2_symbol = f2;
	td->ops[0].kind = SG_PROCESS; /* a one-input head fed a second input */
	char *t2 = td->ops[0].fn2_symbol;
	td->ops[0].fn2_symbol = NULL;
	err = (cm_err){0};
	assert_int_equal(td_encode(td, &enc, &len), 0);
	assert_int_equal(td_decode(enc, len, &back, &err), FL_EPROTO);
	assert_null(back);
	free(enc);
	td->ops[0].fn2_symbol = t2;
	td_free(td);
	jg_free(jg);
	fl_env_free(env);
}

/* A keyed broadcast process function: its broadcast state's name travels,
 * its second input is the broadcast edge; without the name it is refused. */
static void test_a_broadcast_process_travels_with_its_state_name(void **state)
{
	static const fl_state_desc rules = {.name = "rules"};
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	fl_stream *a = fl_key_by(fl_generator(env, 10, 0, td_gen), 0);
	fl_stream *b = fl_broadcast_state(fl_generator(env, 10, 0, td_gen), &rules);
	fl_broadcast_process_spec spec = {.process = td_process, .process_broadcast = td_process2};
	fl_discard(fl_broadcast_process(fl_connect(a, b), &spec));
	assert_string_equal(fl_env_error(env), "");
	env->graph->parallelism = 2;
	jg_graph *jg;
	cm_err err = {0};
	assert_int_equal(jg_build(env->graph, "bc", &jg, &err), 0);
	td_task *td = build_on_one_tm(jg, 2, 0);
	assert_int_equal(td->ops[0].kind, SG_CO_BROADCAST);
	assert_string_equal(td->ops[0].bstate_name, "rules");
	assert_string_equal(td->ops[0].fn2_symbol, "td_process2");
	assert_int_equal(jg->edges[td->inputs[1].edge].part, SG_PART_BROADCAST);
	roundtrip(td);
	char *name = td->ops[0].bstate_name;
	td->ops[0].bstate_name = NULL;
	uint8_t *enc;
	size_t len;
	td_task *back = NULL;
	assert_int_equal(td_encode(td, &enc, &len), 0);
	assert_int_equal(td_decode(enc, len, &back, &err), FL_EPROTO);
	assert_non_null(strstr(err.msg, "a missing broadcast state name"));
	free(enc);
	td->ops[0].bstate_name = name;
	td_free(td);
	jg_free(jg);
	fl_env_free(env);

	/* The broadcast stream goes second, and only into a broadcast
	 * process function. */
	env = fl_env_new(0, NULL);
	a = fl_key_by(fl_generator(env, 10, 0, td_gen), 0);
	b = fl_broadcast_state(fl_generator(env, 10, 0, td_gen), &rules);
	assert_null(
	    fl_co_process(fl_connect(a, b),
			  &(fl_co_process_spec){.process1 = td_process, .process2 = td_process2}));
	assert_non_null(strstr(fl_env_error(env), "the second stream is a broadcast state stream"));
	fl_env_free(env);
	env = fl_env_new(0, NULL);
	a = fl_generator(env, 10, 0, td_gen);
	b = fl_broadcast_state(fl_generator(env, 10, 0, td_gen), &rules);
	fl_broadcast_process_spec timed = spec;
	timed.on_timer = td_on_timer; /* an unkeyed first stream has no timers */
	assert_null(fl_broadcast_process(fl_connect(a, b), &timed));
	assert_non_null(strstr(fl_env_error(env),
			       "broadcast_process: an on_timer function needs keyed inputs"));
	fl_env_free(env);
	env = fl_env_new(0, NULL);
	b = fl_broadcast_state(fl_generator(env, 10, 0, td_gen), &rules);
	assert_null(fl_map(b, td_map));
	assert_non_null(strstr(fl_env_error(env), "can only be connected"));
	fl_env_free(env);
}

int td_join(fl_ctx *ctx, const fl_row *l, const fl_row *r, fl_collector *out);
int td_join(fl_ctx *ctx, const fl_row *l, const fl_row *r, fl_collector *out)
{
	return 0;
}

/* The joins: an interval join's bounds (exclusive ones made inclusive)
 * and a window join's windows (sliding; a session's gap as its size)
 * travel; bounds out of order, and a session with a slide, are refused. */
static void test_the_joins_travel_and_bad_bounds_are_refused(void **state)
{
	for (int win = 0; win < 3; win++) {
		fl_env *env = fl_env_new(0, NULL);
		fl_stream *a = fl_key_by(fl_generator(env, 10, 0, td_gen), 0);
		fl_stream *b = fl_key_by(fl_generator(env, 10, 0, td_gen), 1);
		fl_interval_join_spec ij = {
		    .lower_ms = -5, .upper_ms = 7, .upper_exclusive = true, .join = td_join};
		fl_window_join_spec wj = {
		    .kind = FL_WINDOW_SLIDING, .size_ms = 300, .slide_ms = 100, .join = td_join};
		if (win == 2)
			wj = (fl_window_join_spec){
			    .kind = FL_WINDOW_SESSION, .gap_ms = 40, .join = td_join};
		fl_discard(win ? fl_window_join(a, b, &wj) : fl_interval_join(a, b, &ij));
		assert_string_equal(fl_env_error(env), "");
		env->graph->parallelism = 1;
		jg_graph *jg;
		cm_err err = {0};
		assert_int_equal(jg_build(env->graph, "join", &jg, &err), 0);
		td_task *td = build_on_one_tm(jg, 2, 0);
		assert_int_equal(td->ops[0].kind, win ? SG_WINDOW_JOIN : SG_INTERVAL_JOIN);
		assert_string_equal(td->ops[0].fn_symbol, "td_join");
		assert_int_equal(td->ops[0].key2.field, 1);
		if (win == 2) {
			assert_true(td->ops[0].win.kind == FL_WINDOW_SESSION &&
				    td->ops[0].win.size_ms == 40 && td->ops[0].win.slide_ms == 0);
		} else if (win) {
			assert_true(td->ops[0].win.size_ms == 300 &&
				    td->ops[0].win.slide_ms == 100);
		} else {
			assert_true(td->ops[0].lower_ms == -5 && td->ops[0].upper_ms == 6);
		}
		roundtrip(td);
		if (win == 2) {
			td->ops[0].win.slide_ms = 10;
			uint8_t *enc;
			size_t len;
			td_task *back = NULL;
			assert_int_equal(td_encode(td, &enc, &len), 0);
			assert_int_equal(td_decode(enc, len, &back, &err), FL_EPROTO);
			assert_non_null(strstr(err.msg, "a malformed window join"));
			free(enc);
		}
		if (!win) {
			td->ops[0].lower_ms = 7;
			uint8_t *enc;
			size_t len;
			td_task *back = NULL;
			assert_int_equal(td_encode(td, &enc, &len), 0);
			assert_int_equal(td_decode(enc, len, &back, &err), FL_EPROTO);
			assert_non_null(strstr(err.msg, "malformed interval join bounds"));
			free(enc);
		}
		td_free(td);
		jg_free(jg);
		fl_env_free(env);
	}
}

/* Graph-building mistakes with two inputs are refused naming them. */
static void test_two_input_mistakes_are_refused_when_built(void **state)
{
	fl_co_process_spec spec = {
	    .process1 = td_process, .process2 = td_process2, .on_timer = td_on_timer};
	fl_env *env = fl_env_new(0, NULL);
	fl_stream *a = fl_generator(env, 10, 0, td_gen), *b = fl_generator(env, 10, 0, td_gen);
	assert_null(fl_co_process(fl_connect(a, b), &spec));
	assert_non_null(strstr(fl_env_error(env), "an on_timer function needs keyed inputs"));
	fl_env_free(env);

	env = fl_env_new(0, NULL);
	a = fl_generator(env, 10, 0, td_gen);
	b = fl_generator(env, 10, 0, td_gen);
	assert_null(fl_co_process(fl_connect(fl_key_by(a, 0), b), &spec));
	assert_non_null(
	    strstr(fl_env_error(env), "the first stream is keyed and the second is not"));
	fl_env_free(env);

	env = fl_env_new(0, NULL);
	a = fl_generator(env, 10, 0, td_gen);
	b = fl_generator(env, 10, 0, td_gen);
	assert_null(fl_map(fl_connect(a, b), td_map));
	assert_non_null(strstr(fl_env_error(env), "map: the input is two connected streams"));
	fl_env_free(env);

	env = fl_env_new(0, NULL);
	a = fl_generator(env, 10, 0, td_gen);
	assert_null(fl_co_map(a, td_map, td_map));
	assert_non_null(strstr(fl_env_error(env), "co_map: needs two connected streams"));
	fl_env_free(env);

	/* Joins: keyed inputs, sane windows and bounds. */
	fl_interval_join_spec ij = {
	    .lower_ms = 10, .upper_ms = 10, .lower_exclusive = true, .join = td_join};
	env = fl_env_new(0, NULL);
	a = fl_key_by(fl_generator(env, 10, 0, td_gen), 0);
	b = fl_key_by(fl_generator(env, 10, 0, td_gen), 0);
	assert_null(fl_interval_join(a, b, &ij));
	assert_non_null(strstr(fl_env_error(env),
			       "the lower bound 10 (exclusive) is above the upper bound 10"));
	fl_env_free(env);
	env = fl_env_new(0, NULL);
	a = fl_key_by(fl_generator(env, 10, 0, td_gen), 0);
	b = fl_generator(env, 10, 0, td_gen);
	ij.lower_exclusive = false;
	assert_null(fl_interval_join(a, b, &ij));
	assert_non_null(strstr(fl_env_error(env), "interval_join: the right stream is not keyed"));
	fl_env_free(env);
	fl_window_join_spec wj = {
	    .kind = FL_WINDOW_SLIDING, .size_ms = 100, .slide_ms = 200, .join = td_join};
	env = fl_env_new(0, NULL);
	a = fl_key_by(fl_generator(env, 10, 0, td_gen), 0);
	b = fl_key_by(fl_generator(env, 10, 0, td_gen), 0);
	assert_null(fl_window_join(a, b, &wj));
	assert_non_null(strstr(fl_env_error(env),
			       "slide_ms of a sliding window must be > 0 and <= size_ms, not 200"));
	fl_env_free(env);
	wj.kind = FL_WINDOW_SESSION; /* and no gap */
	env = fl_env_new(0, NULL);
	a = fl_key_by(fl_generator(env, 10, 0, td_gen), 0);
	b = fl_key_by(fl_generator(env, 10, 0, td_gen), 0);
	assert_null(fl_window_join(a, b, &wj));
	assert_non_null(
	    strstr(fl_env_error(env), "gap_ms of a session window must be > 0, not 0"));
	fl_env_free(env);
	wj.kind = FL_WINDOW_COUNT;
	env = fl_env_new(0, NULL);
	a = fl_key_by(fl_generator(env, 10, 0, td_gen), 0);
	b = fl_key_by(fl_generator(env, 10, 0, td_gen), 0);
	assert_null(fl_window_join(a, b, &wj));
	assert_non_null(strstr(fl_env_error(env), "kind is not FL_WINDOW_TUMBLING, "
						  "FL_WINDOW_SLIDING or FL_WINDOW_SESSION"));
	fl_env_free(env);
}

static void test_every_truncation_is_refused_with_a_message(void **state)
{
	struct fixture *f = setup();
	td_task *td;
	assert_int_equal(td_build(f->jg, &f->pl, 0, 0, &td), 0);
	uint8_t *a;
	size_t la;
	assert_int_equal(td_encode(td, &a, &la), 0);
	for (size_t n = 0; n < la; n++) {
		td_task *back = NULL;
		cm_err err = {0};
		assert_int_equal(td_decode(a, n, &back, &err), FL_EPROTO);
		assert_null(back);
		assert_non_null(strstr(err.msg, "malformed task deployment descriptor"));
	}
	free(a);
	td_free(td);
	teardown(f);
}

static void test_every_single_byte_corruption_is_refused_or_consistent(void **state)
{
	/* Flipping any byte either gives a clean refusal or a descriptor that
	 * still re-encodes to exactly the corrupted bytes (a different but
	 * valid value, e.g. a name). Never a crash, never a leak (ASan). */
	struct fixture *f = setup();
	td_task *td;
	assert_int_equal(td_build(f->jg, &f->pl, 0, 2, &td), 0);
	uint8_t *a;
	size_t la;
	assert_int_equal(td_encode(td, &a, &la), 0);
	for (size_t i = 0; i < la; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			a[i] ^= (uint8_t)(1u << bit);
			td_task *back = NULL;
			cm_err err = {0};
			int rc = td_decode(a, la, &back, &err);
			if (rc == 0) {
				uint8_t *b;
				size_t lb;
				assert_int_equal(td_encode(back, &b, &lb), 0);
				assert_int_equal(lb, la);
				assert_memory_equal(a, b, la);
				free(b);
				td_free(back);
			} else {
				assert_int_equal(rc, FL_EPROTO);
				assert_true(err.msg[0] != '\0');
			}
			a[i] ^= (uint8_t)(1u << bit);
		}
	}
	free(a);
	td_free(td);
	teardown(f);
}

/* Encodes td (which a test broke on purpose), checks that decoding refuses
 * it as malformed with a message containing what, and frees td. */
static void assert_refused(td_task *td, const char *what)
{
	uint8_t *a;
	size_t la;
	assert_int_equal(td_encode(td, &a, &la), 0);
	td_task *back = NULL;
	cm_err err = {0};
	int rc = td_decode(a, la, &back, &err);
	if (rc != FL_EPROTO || !strstr(err.msg, what))
		fail_msg("decoded with %d (%s), not refused with \"%s\"", rc, err.msg, what);
	assert_null(back);
	free(a);
	td_free(td);
}

int td_cogroup(fl_ctx *ctx, const fl_row *l, size_t nl, const fl_row *r, size_t nr,
	       fl_collector *out);
int td_cogroup(fl_ctx *ctx, const fl_row *l, size_t nl, const fl_row *r, size_t nr,
	       fl_collector *out)
{
	return 0;
}

/* A window coGroup travels as its own kind with the window join's
 * windows; one with a lateness is refused as a window join's is. */
static void test_a_window_cogroup_travels(void **state)
{
	fl_env *env = fl_env_new(0, NULL);
	fl_stream *a = fl_key_by(fl_generator(env, 10, 0, td_gen), 0);
	fl_stream *b = fl_key_by(fl_generator(env, 10, 0, td_gen), 1);
	fl_window_cogroup_spec cg = {
	    .kind = FL_WINDOW_SLIDING, .size_ms = 300, .slide_ms = 100, .cogroup = td_cogroup};
	fl_discard(fl_window_cogroup(a, b, &cg));
	assert_string_equal(fl_env_error(env), "");
	env->graph->parallelism = 1;
	jg_graph *jg;
	cm_err err = {0};
	assert_int_equal(jg_build(env->graph, "cogroup", &jg, &err), 0);
	td_task *td = build_on_one_tm(jg, 2, 0);
	assert_int_equal(td->ops[0].kind, SG_WINDOW_COGROUP);
	assert_string_equal(td->ops[0].fn_symbol, "td_cogroup");
	assert_int_equal(td->ops[0].key2.field, 1);
	assert_true(td->ops[0].win.kind == FL_WINDOW_SLIDING && td->ops[0].win.size_ms == 300 &&
		    td->ops[0].win.slide_ms == 100);
	same_on_the_wire(td);
	td->ops[0].win.lateness_ms = 5;
	assert_refused(td, "a malformed window join");
	jg_free(jg);
	fl_env_free(env);
}

/* Gives op a restore share: list state "xy", one keyed file. */
static void give_share(td_task *td, td_op *op, const char *path)
{
	td->restore_id = 42;
	op->restore.restored = true;
	op->restore.list = (uint8_t *)strdup("\x01x\x01y");
	op->restore.list_len = 4;
	op->restore.files = calloc(1, sizeof(*op->restore.files));
	assert_non_null(op->restore.files);
	op->restore.files[0] = (td_restore_file){.path = strdup(path), .kg_first = 3, .kg_last = 9};
	op->restore.nfiles = 1;
}

static void test_restore_shares_travel_and_bad_ones_are_refused(void **state)
{
	struct fixture *f = setup();
	td_task *td;
	assert_int_equal(td_build(f->jg, &f->pl, 0, 0, &td), 0);
	give_share(td, &td->ops[0], "/ckp/chk-42/src-0.state");
	roundtrip(td);
	uint8_t *a;
	size_t la;
	assert_int_equal(td_encode(td, &a, &la), 0);
	td_task *back = NULL;
	cm_err err = {0};
	assert_int_equal(td_decode(a, la, &back, &err), 0);
	assert_int_equal(back->restore_id, 42);
	assert_int_equal(back->ops[0].restore.list_len, 4);
	assert_memory_equal(back->ops[0].restore.list, "\x01x\x01y", 4);
	assert_string_equal(back->ops[0].restore.files[0].path, "/ckp/chk-42/src-0.state");
	assert_int_equal(back->ops[0].restore.files[0].kg_last, 9);
	td_free(back);
	free(a);
	/* A share in a task that restores nothing, a relative path, a key
	 * group range upside down or past the max parallelism. */
	td->restore_id = 0;
	assert_refused(td, "restore flag");
	assert_int_equal(td_build(f->jg, &f->pl, 0, 0, &td), 0);
	give_share(td, &td->ops[0], "relative/x.state");
	assert_refused(td, "malformed state file entry");
	assert_int_equal(td_build(f->jg, &f->pl, 0, 0, &td), 0);
	give_share(td, &td->ops[0], "/x.state");
	td->ops[0].restore.files[0].kg_first = 10;
	assert_refused(td, "malformed state file entry");
	assert_int_equal(td_build(f->jg, &f->pl, 0, 0, &td), 0);
	give_share(td, &td->ops[0], "/x.state");
	td->ops[0].restore.files[0].kg_last = td->max_parallelism;
	assert_refused(td, "key group");
	teardown(f);
}

static void test_a_peer_index_outside_the_table_is_refused(void **state)
{
	struct fixture *f = setup();
	td_task *td;
	assert_int_equal(td_build(f->jg, &f->pl, 0, 0, &td), 0);
	td->ops[1].outs[0].consumer_peer[1] = 2; /* only peers 0 and 1 exist */
	assert_refused(td, "peer index 2 out of range");
	teardown(f);
}

static void test_a_chained_index_pointing_backwards_is_refused(void **state)
{
	struct fixture *f = setup();
	td_task *td;
	assert_int_equal(td_build(f->jg, &f->pl, 0, 0, &td), 0);
	assert_int_equal(td->ops[0].nchained, 1);
	td->ops[0].chained[0] = 0; /* itself: a loop in the chain */
	assert_refused(td, "chained operator");
	teardown(f);
}

/* Two paths to one operator (the same index twice) would feed it each
 * record twice, exponentially so in a crafted chain. */
static void test_an_operator_chained_twice_is_refused(void **state)
{
	struct fixture *f = setup();
	td_task *td;
	assert_int_equal(td_build(f->jg, &f->pl, 0, 0, &td), 0);
	assert_int_equal(td->ops[0].nchained, 1);
	int *two = realloc(td->ops[0].chained, 2 * sizeof(int));
	assert_non_null(two);
	two[1] = two[0];
	td->ops[0].chained = two;
	td->ops[0].nchained = 2;
	assert_refused(td, "chained from two operators");
	teardown(f);
}

static void test_an_oversized_descriptor_is_refused_before_decoding(void **state)
{
	td_task *back = NULL;
	cm_err err = {0};
	static uint8_t dummy[1];
	assert_int_equal(td_decode(dummy, (size_t)TD_MAX_ENCODED + 1, &back, &err), FL_EPROTO);
	assert_non_null(strstr(err.msg, "more than the"));
}

/* A co-map chained with two chains fed from the network (a chain that is
 * a DAG): which operator each input enters and which input of the co-map
 * each map feeds travel; a malformed DAG is refused. */
static td_task *chained_two_input(void)
{
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	fl_stream *a =
	    fl_map(fl_rebalance(fl_set_parallelism(fl_generator(env, 10, 0, td_gen), 1)), td_map);
	fl_stream *b =
	    fl_map(fl_key_by(fl_set_parallelism(fl_generator(env, 10, 0, td_gen), 1), 0), td_map);
	fl_discard(fl_co_map(fl_connect(a, b), td_map, td_map));
	assert_string_equal(fl_env_error(env), "");
	env->graph->parallelism = 2;
	jg_graph *jg;
	cm_err err = {0};
	assert_int_equal(jg_build(env->graph, "dag", &jg, &err), 0);
	assert_int_equal(jg->nvertices, 3);
	td_task *td = build_on_one_tm(jg, 2, 1);
	jg_free(jg);
	fl_env_free(env);
	return td;
}

static void test_a_chain_joined_by_a_two_input_operator_travels(void **state)
{
	td_task *td = chained_two_input();
	/* Map, Map, Co-Map, Sink: each input into its map, each map into its
	 * input of the co-map. */
	assert_int_equal(td->nops, 4);
	assert_int_equal(td->ops[2].kind, SG_CO_MAP);
	assert_int_equal(td->ninputs, 2);
	assert_int_equal(td->inputs[0].op, 0);
	assert_int_equal(td->inputs[1].op, 1);
	assert_int_equal(td->inputs[0].side, 0);
	assert_int_equal(td->inputs[1].side, 0);
	assert_int_equal(td->ops[0].nchained, 1);
	assert_int_equal(td->ops[0].chained[0], 2);
	assert_null(td->ops[0].chained_side);
	assert_int_equal(td->ops[1].chained[0], 2);
	assert_non_null(td->ops[1].chained_side);
	assert_int_equal(td->ops[1].chained_side[0], 1);
	roundtrip(td);
	td_free(td);

	td = chained_two_input(); /* both maps into the first input */
	td->ops[1].chained_side[0] = 0;
	assert_refused(td, "operator 2 chained from two operators into input 1");
	td = chained_two_input(); /* an input side that does not exist */
	td->ops[1].chained_side[0] = 2;
	assert_refused(td, "chained operator 2 fed on input 3");
	td = chained_two_input(); /* a loop */
	td->ops[1].chained[0] = 1;
	assert_refused(td, "chained operator");
	td = chained_two_input(); /* the second map's input into the co-map */
	td->inputs[1].op = 2;
	assert_refused(td, "input 1 of operator 1 ('Map') is fed by nothing");
	td = chained_two_input(); /* a second input of a map */
	td->inputs[0].side = 1;
	assert_refused(td, "input 0 feeds input 2 of operator 0, which has no such input");
	td = chained_two_input(); /* past the chain */
	td->inputs[0].op = 4;
	assert_refused(td, "which has no such input");
	td = chained_two_input(); /* the co-map's first input also from the network */
	td->inputs[1].op = 2;
	int *two = realloc(td->ops[0].chained, 2 * sizeof(int));
	assert_non_null(two);
	two[1] = 1; /* the first map feeds the second too */
	td->ops[0].chained = two;
	td->ops[0].nchained = 2;
	assert_refused(
	    td, "input 1 of operator 2 is fed both by a chained operator and from the network");
	td = chained_two_input(); /* a chained map into a second input */
	td->ops[2].chained_side = calloc(1, 1);
	assert_non_null(td->ops[2].chained_side);
	td->ops[2].chained_side[0] = 1;
	assert_refused(td, "operator 3 chained into a second input it does not have");
}

/* Two generators chained with a co-map (one task serves both sources):
 * the second source travels after the first, fed by nothing; only
 * generators and text file sources share a task, and nothing is chained
 * into a source. */
static td_task *two_sources(void)
{
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	fl_stream *a = fl_generator(env, 10, 0, td_gen);
	fl_stream *b = fl_generator(env, 10, 0, td_gen);
	fl_discard(fl_co_map(fl_connect(a, b), td_map, td_map));
	assert_string_equal(fl_env_error(env), "");
	env->graph->parallelism = 2;
	jg_graph *jg;
	cm_err err = {0};
	assert_int_equal(jg_build(env->graph, "sources", &jg, &err), 0);
	assert_int_equal(jg->nvertices, 1);
	td_task *td = build_on_one_tm(jg, 0, 1);
	jg_free(jg);
	fl_env_free(env);
	return td;
}

/* Makes ops[1], a generator, a text file source of a regular file, or with
 * socket a socket source. */
static void second_source_reads(td_task *td, bool socket)
{
	td->ops[1].kind = socket ? SG_SOURCE_SOCKET : SG_SOURCE_TEXT_FILE;
	td->ops[1].paths = calloc(1, sizeof(char *));
	td->ops[1].sizes = calloc(1, sizeof(int64_t));
	assert_non_null(td->ops[1].paths);
	assert_non_null(td->ops[1].sizes);
	td->ops[1].paths[0] = strdup(socket ? "localhost:9" : "/tmp/in.txt");
	td->ops[1].sizes[0] = socket ? 0 : 100;
	td->ops[1].npaths = 1;
}

static void test_two_sources_chained_with_a_two_input_operator_travel(void **state)
{
	td_task *td = two_sources();
	assert_int_equal(td->nops, 4);
	assert_int_equal(td->ninputs, 0);
	assert_int_equal(td->ops[0].kind, SG_SOURCE_GENERATOR);
	assert_int_equal(td->ops[1].kind, SG_SOURCE_GENERATOR);
	assert_int_equal(td->ops[2].kind, SG_CO_MAP);
	assert_int_equal(td->ops[1].chained[0], 2);
	assert_int_equal(td->ops[1].chained_side[0], 1);
	roundtrip(td);
	td_free(td);

	/* a text file source beside a generator travels; a socket source
	 * is refused */
	for (int k = 0; k < 2; k++) {
		td = two_sources();
		second_source_reads(td, k);
		if (k) {
			assert_refused(td, "only generators and text file sources share a task");
		} else {
			roundtrip(td);
			td_free(td);
		}
	}
	td = two_sources(); /* the first source chained into the second */
	int *two = realloc(td->ops[0].chained, 2 * sizeof(int));
	assert_non_null(two);
	two[1] = 1;
	td->ops[0].chained = two;
	td->ops[0].nchained = 2;
	assert_refused(td, "operator 0 chained into source 1");
}

/* A generator's chain beside a network-fed one, joined by a co-map (one
 * task runs the generator beside its input gate): Map, Generator, Co-Map,
 * Sink, the input into the map. */
static td_task *mixed(void)
{
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	fl_stream *a = fl_generator(env, 10, 0, td_gen);
	fl_stream *b = fl_map(fl_rebalance(fl_generator(env, 10, 0, td_gen)), td_map);
	fl_discard(fl_co_map(fl_connect(a, b), td_map, td_map));
	assert_string_equal(fl_env_error(env), "");
	env->graph->parallelism = 2;
	jg_graph *jg;
	cm_err err = {0};
	assert_int_equal(jg_build(env->graph, "mixed", &jg, &err), 0);
	assert_int_equal(jg->nvertices, 2);
	td_task *td = build_on_one_tm(jg, 1, 1);
	jg_free(jg);
	fl_env_free(env);
	return td;
}

static void test_a_source_beside_an_input_gate_travels(void **state)
{
	td_task *td = mixed();
	assert_int_equal(td->nops, 4);
	assert_int_equal(td->ninputs, 1);
	assert_int_equal(td->inputs[0].op, 0);
	assert_int_equal(td->ops[0].kind, SG_MAP);
	assert_int_equal(td->ops[1].kind, SG_SOURCE_GENERATOR);
	assert_int_equal(td->ops[2].kind, SG_CO_MAP);
	assert_int_equal(td->ops[0].chained[0], 2);
	assert_int_equal(td->ops[0].chained_side[0], 1);
	assert_int_equal(td->ops[1].chained[0], 2);
	roundtrip(td);
	td_free(td);

	/* a text file source there travels too; a socket source is refused */
	for (int k = 0; k < 2; k++) {
		td = mixed();
		second_source_reads(td, k);
		if (k) {
			assert_refused(td, "source operator 1 chained after another operator (only "
					   "generators and text file sources share a task)");
		} else {
			same_on_the_wire(td);
			td_free(td);
		}
	}
	td = mixed(); /* the input into the generator, the map fed by nothing */
	td->inputs[0].op = 1;
	assert_refused(td, "input 0 feeds source operator 1");
	td = mixed(); /* the generator heads a task with inputs */
	td_op op = td->ops[0];
	td->ops[0] = td->ops[1];
	td->ops[1] = op;
	td->inputs[0].op = 1;
	assert_refused(td, "a task whose head is a source has 1 inputs");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_producer_descriptor_names_only_its_consumers),
	    cmocka_unit_test(test_a_consumer_descriptor_has_one_input_channel_per_producer),
	    cmocka_unit_test(test_descriptors_survive_the_wire_unchanged),
	    cmocka_unit_test(test_a_process_function_travels_and_needs_its_function),
	    cmocka_unit_test(test_a_window_travels_and_a_bad_one_is_refused),
	    cmocka_unit_test(test_a_co_process_travels_with_both_inputs),
	    cmocka_unit_test(test_a_broadcast_process_travels_with_its_state_name),
	    cmocka_unit_test(test_the_joins_travel_and_bad_bounds_are_refused),
	    cmocka_unit_test(test_a_window_cogroup_travels),
	    cmocka_unit_test(test_two_input_mistakes_are_refused_when_built),
	    cmocka_unit_test(test_restore_shares_travel_and_bad_ones_are_refused),
	    cmocka_unit_test(test_every_truncation_is_refused_with_a_message),
	    cmocka_unit_test(test_every_single_byte_corruption_is_refused_or_consistent),
	    cmocka_unit_test(test_a_peer_index_outside_the_table_is_refused),
	    cmocka_unit_test(test_a_chained_index_pointing_backwards_is_refused),
	    cmocka_unit_test(test_an_operator_chained_twice_is_refused),
	    cmocka_unit_test(test_an_oversized_descriptor_is_refused_before_decoding),
	    /* last: its round trip is the seed descriptor-12 */
	    cmocka_unit_test(test_a_chain_joined_by_a_two_input_operator_travels),
	    /* its round trip is the seed descriptor-sources */
	    cmocka_unit_test(test_two_sources_chained_with_a_two_input_operator_travel),
	    /* its first round trip is the seed descriptor-mixed */
	    cmocka_unit_test(test_a_source_beside_an_input_gate_travels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
