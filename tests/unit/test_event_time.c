/*
 * Event time at sources (issue #9, step 1): the timestamp framing of
 * records, the watermark strategy API and its refusals, and jobs on the
 * mini cluster whose records carry their timestamps through chained
 * operators and the network while per-split watermarks never make an
 * in-bound record late. Runs under ThreadSanitizer too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "taskmanager/operator.h"
#include "taskmanager/watermarks.h"
#include "types/codec.h"
#include <flinc/flinc.h>

/* Disorder of the generated timestamps: ts(off) = off + JITTER(off), so
 * a record is at most 49 ms behind the largest timestamp before it. */
#define JITTER(off) (((off)*7919) % 50)
#define BOUND 50
#define NKEYS 13

int et_gen(fl_ctx *ctx, int64_t off, fl_row *out);
int et_ts_of_line(fl_ctx *ctx, const fl_row *in, int64_t *ts);
int et_check_map(fl_ctx *ctx, const fl_row *in, fl_row *out);
int et_check_process(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int et_parse(fl_ctx *ctx, const fl_row *in, fl_row *out);

int et_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, off % NKEYS);
	return fl_row_add_timestamp(out, off + JITTER(off));
}

static _Atomic int64_t n_mapped, n_processed, n_late, n_wrong_ts, n_with_wm;

int et_check_map(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	if (fl_ctx_timestamp(ctx) != fl_row_int64(in, 1))
		atomic_fetch_add(&n_wrong_ts, 1);
	atomic_fetch_add(&n_mapped, 1);
	*out = *in;
	return 0;
}

int et_check_process(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	int64_t ts = fl_ctx_timestamp(ctx), wm = fl_ctx_watermark(ctx);
	if (ts != fl_row_int64(in, 1))
		atomic_fetch_add(&n_wrong_ts, 1);
	if (wm != INT64_MIN)
		atomic_fetch_add(&n_with_wm, 1);
	if (ts <= wm)
		atomic_fetch_add(&n_late, 1);
	atomic_fetch_add(&n_processed, 1);
	return 0;
}

/* "<millis>\t<key>" lines. */
int et_ts_of_line(fl_ctx *ctx, const fl_row *in, int64_t *ts)
{
	size_t len;
	const char *s = fl_row_string(in, 0, &len);
	char buf[32];
	if (len == 0 || len >= sizeof(buf))
		return fl_fail(ctx, "no timestamp in a line of %zu bytes", len);
	memcpy(buf, s, len);
	buf[len] = '\0';
	*ts = strtoll(buf, NULL, 10);
	return 0;
}

int et_parse(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	size_t len;
	const char *s = fl_row_string(in, 0, &len);
	const char *tab = memchr(s, '\t', len);
	int64_t ts = strtoll(s, NULL, 10);
	fl_row_clear(out);
	fl_row_add_int64(out, tab ? strtoll(tab + 1, NULL, 10) : 0);
	return fl_row_add_timestamp(out, ts);
}

static void reset_counters(void)
{
	atomic_store(&n_mapped, 0);
	atomic_store(&n_processed, 0);
	atomic_store(&n_late, 0);
	atomic_store(&n_wrong_ts, 0);
	atomic_store(&n_with_wm, 0);
}

static fl_env *env_with(int p, int tms)
{
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	char buf[16];
	snprintf(buf, sizeof(buf), "%d", tms);
	assert_int_equal(fl_env_set_parallelism(env, p), 0);
	assert_int_equal(fl_env_set_config(env, "local.number-taskmanager", buf), 0);
	assert_int_equal(fl_env_set_config(env, "pipeline.auto-watermark-interval", "10 ms"), 0);
	return env;
}

static void test_timestamp_prefix_round_trips_and_refuses_truncation(void **state)
{
	const int64_t cases[] = {0, 1, -1, 1700000000000LL, INT64_MAX, INT64_MIN + 1};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t buf[ROW_TS_PREFIX_MAX + 4];
		size_t n = row_ts_prefix_put(buf, cases[i]);
		assert_true(n >= 2 && n <= ROW_TS_PREFIX_MAX);
		int64_t back = 0;
		assert_int_equal(row_ts_prefix_get(buf, n, &back), (int)n);
		assert_true(back == cases[i]);
		/* Cut inside the varint: malformed, never read past the end. */
		assert_int_equal(row_ts_prefix_get(buf, n - 1, &back), -1);
	}
	/* A record without a timestamp starts with its field count. */
	fl_row r = {0};
	fl_row_add_int64(&r, 7);
	uint8_t enc[32];
	size_t n = row_encode(&r, enc, sizeof(enc));
	assert_true(n > 0 && enc[0] != ROW_TS_MARK);
	int64_t ts = 42;
	assert_int_equal(row_ts_prefix_get(enc, n, &ts), 0);
	assert_true(ts == 42);
}

/* A subtask's watermark is the minimum over its splits still to read: a
 * split that produced nothing holds it back, one read to its end (gone
 * from the list) no longer does. */
static void test_generator_watermark_is_the_minimum_over_its_splits(void **state)
{
	td_op node = {.event_time = true, .wm_kind = FL_WATERMARK_BOUNDED, .wm_bound_ms = 100};
	tm_gen_split splits[3] = {{0, 10, 1000}, {10, 20, TM_TS_NONE}, {20, 30, 500}};
	tm_op head = {.node = &node, .gen_splits = splits, .gen_nsplits = 3};
	assert_true(tm_gen_watermark(&head) == TM_TS_NONE);
	splits[1].max_ts = 2000;
	assert_true(tm_gen_watermark(&head) == 399);
	head.gen_nsplits = 2; /* the last split was read to its end */
	assert_true(tm_gen_watermark(&head) == 899);
	head.gen_nsplits = 0;
	assert_true(tm_gen_watermark(&head) == TM_WM_END);
	/* Monotonous: max - 1; no underflow near the start of time. */
	node.wm_bound_ms = 0;
	assert_true(tm_split_watermark(&node, 7) == 6);
	node.wm_bound_ms = 100;
	assert_true(tm_split_watermark(&node, INT64_MIN + 50) == TM_TS_NONE);
	assert_true(tm_split_watermark(&node, INT64_MIN + 101) == INT64_MIN);
}

static void test_negative_out_of_orderness_is_refused_naming_it(void **state)
{
	fl_env *env = env_with(1, 1);
	fl_stream *s = fl_generator(env, 10, 0, et_gen);
	fl_watermark_strategy ws = {
	    .kind = FL_WATERMARK_BOUNDED, .out_of_orderness_ms = -5, .timestamp_field = 1};
	assert_null(fl_assign_timestamps_and_watermarks(s, &ws));
	assert_non_null(strstr(fl_env_error(env), "out_of_orderness_ms"));
	assert_non_null(strstr(fl_env_error(env), "-5"));
	assert_int_equal(fl_execute(env, "refused"), FL_EINVAL);
	fl_env_free(env);
}

static void test_a_strategy_on_a_non_source_or_twice_is_refused(void **state)
{
	fl_watermark_strategy ws = {.kind = FL_WATERMARK_MONOTONOUS, .timestamp_field = 1};
	fl_env *env = env_with(1, 1);
	fl_stream *m = fl_map(fl_generator(env, 10, 0, et_gen), et_check_map);
	assert_null(fl_assign_timestamps_and_watermarks(m, &ws));
	assert_non_null(strstr(fl_env_error(env), "applies to a source stream"));
	fl_env_free(env);

	env = env_with(1, 1);
	fl_stream *s = fl_generator(env, 10, 0, et_gen);
	assert_non_null(fl_assign_timestamps_and_watermarks(s, &ws));
	assert_null(fl_assign_timestamps_and_watermarks(s, &ws));
	assert_non_null(strstr(fl_env_error(env), "already has a watermark strategy"));
	fl_env_free(env);

	env = env_with(1, 1);
	s = fl_generator(env, 10, 0, et_gen);
	fl_watermark_strategy bad = {.kind = (enum fl_watermark_kind)9};
	assert_null(fl_assign_timestamps_and_watermarks(s, &bad));
	assert_non_null(strstr(fl_env_error(env), "unknown watermark kind 9"));
	fl_env_free(env);
}

static void test_a_record_without_its_timestamp_field_fails_the_job_naming_it(void **state)
{
	fl_env *env = env_with(1, 1);
	fl_stream *s = fl_generator(env, 10, 0, et_gen);
	fl_watermark_strategy ws = {.kind = FL_WATERMARK_MONOTONOUS, .timestamp_field = 5};
	fl_discard(fl_assign_timestamps_and_watermarks(s, &ws));
	assert_int_equal(fl_execute(env, "no field"), FL_EJOBFAILED);
	assert_non_null(strstr(fl_env_error(env), "timestamp field 5"));
	fl_env_free(env);
}

/* Generator (2 subtasks, paced so that periodic watermarks go out while it
 * runs) -> chained map -> network (hash) -> process on another
 * TaskManager: every record arrives with its timestamp, watermarks arrive,
 * and none passed a record whose disorder is within the bound. */
static void test_timestamps_travel_and_in_bound_records_are_never_late(void **state)
{
	reset_counters();
	const int64_t n = 6000;
	fl_env *env = env_with(2, 2);
	fl_stream *s = fl_generator(env, n, 12000, et_gen);
	fl_watermark_strategy ws = {
	    .kind = FL_WATERMARK_BOUNDED, .out_of_orderness_ms = BOUND, .timestamp_field = 1};
	s = fl_assign_timestamps_and_watermarks(s, &ws);
	s = fl_map(s, et_check_map);
	fl_discard(fl_process(fl_key_by(s, 0), et_check_process));
	assert_int_equal(fl_execute(env, "event time"), 0);
	assert_int_equal(atomic_load(&n_mapped), n);
	assert_int_equal(atomic_load(&n_processed), n);
	assert_int_equal(atomic_load(&n_wrong_ts), 0);
	assert_int_equal(atomic_load(&n_late), 0);
	assert_true(atomic_load(&n_with_wm) > 0);
	fl_env_free(env);
}

/* Without a strategy, records carry no timestamp. */
static void test_records_without_a_strategy_have_no_timestamp(void **state)
{
	reset_counters();
	fl_env *env = env_with(1, 1);
	fl_discard(fl_map(fl_generator(env, 100, 0, et_gen), et_check_map));
	assert_int_equal(fl_execute(env, "no event time"), 0);
	assert_int_equal(atomic_load(&n_wrong_ts), 100); /* INT64_MIN != the field */
	fl_env_free(env);
}

/* A text source with an assigner function: timestamps parsed from the
 * lines reach a process function after a map and the network. */
static void test_text_source_timestamps_from_an_assigner_function(void **state)
{
	reset_counters();
	char dir[] = "/tmp/flinc-et-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[600];
	snprintf(path, sizeof(path), "%s/in.txt", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	const int n = 3000;
	for (int i = 0; i < n; i++)
		fprintf(f, "%lld\t%d\n", (long long)(i + JITTER(i)), i % NKEYS);
	fclose(f);
	fl_env *env = env_with(2, 2);
	fl_stream *s = fl_read_text_file(env, path);
	fl_watermark_strategy ws = {.kind = FL_WATERMARK_BOUNDED,
				    .out_of_orderness_ms = BOUND,
				    .timestamp_fn = et_ts_of_line};
	s = fl_assign_timestamps_and_watermarks(s, &ws);
	fl_discard(fl_process(fl_key_by(fl_map(s, et_parse), 0), et_check_process));
	assert_int_equal(fl_execute(env, "text event time"), 0);
	assert_int_equal(atomic_load(&n_processed), n);
	assert_int_equal(atomic_load(&n_wrong_ts), 0);
	assert_int_equal(atomic_load(&n_late), 0);
	fl_env_free(env);
	unlink(path);
	rmdir(dir);
}

/* withIdleness: a fast source (records 10 ms of event time apart, paced
 * over a second) and a slow one (two records, 4 s apart) into one keyed
 * event-time window operator. The slow one's watermark holds the windows
 * back until its second record, unless its idleness lets them through. */
static _Atomic bool slow_second;
static _Atomic int64_t fired_before, fired;

int et_fast(fl_ctx *ctx, int64_t off, fl_row *out);
int et_slow(fl_ctx *ctx, int64_t off, fl_row *out);
int et_fast(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, 0);
	return fl_row_add_timestamp(out, off * 10);
}

int et_slow(fl_ctx *ctx, int64_t off, fl_row *out)
{
	if (off == 1)
		atomic_store(&slow_second, true);
	fl_row_add_int64(out, 1);
	return fl_row_add_timestamp(out, off * 10);
}


int et_first(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out);
int et_first(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	*out = *acc;
	return 0;
}

int et_fired(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int et_fired(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	if (!atomic_load(&slow_second))
		atomic_fetch_add(&fired_before, 1);
	atomic_fetch_add(&fired, 1);
	return 0;
}

static void run_idle(int64_t idle_ms)
{
	atomic_store(&slow_second, false);
	atomic_store(&fired_before, 0);
	atomic_store(&fired, 0);
	fl_env *env = env_with(1, 1);
	assert_int_equal(fl_env_set_config(env, "pipeline.auto-watermark-interval", "10 ms"), 0);
	fl_watermark_strategy ws = {.kind = FL_WATERMARK_MONOTONOUS,
				    .timestamp_field = 1,
				    .idle_timeout_ms = idle_ms};
	fl_stream *fast = fl_assign_timestamps_and_watermarks(
	    fl_set_parallelism(fl_generator(env, 300, 300, et_fast), 1), &ws);
	fl_stream *slow = fl_assign_timestamps_and_watermarks(
	    fl_set_parallelism(fl_generator(env, 2, 0.25, et_slow), 1), &ws);
	fl_window_spec spec = {.kind = FL_WINDOW_TUMBLING, .size_ms = 100, .reduce = et_first};
	fl_discard(fl_process(fl_key_by(fl_window(fl_key_by(fl_union(fast, slow), 0), &spec), 0),
			      et_fired));
	if (fl_execute(env, "idleness") != 0)
		fail_msg("idleness: %s", fl_env_error(env));
	fl_env_free(env);
}

static void test_an_idle_source_holds_no_window_back(void **state)
{
	/* The fast source's 30 windows (of key 0) and the slow one's (key 1). */
	run_idle(200);
	int64_t before = atomic_load(&fired_before);
	if (before < 20)
		fail_msg("with an idle timeout of 200 ms only %lld windows fired before the slow "
			 "source's second record",
			 (long long)before);
	run_idle(0);
	assert_int_equal(atomic_load(&fired_before), 0); /* held back, as Flink without it */
	assert_true(atomic_load(&fired) >= 30);	       /* all fire at the end */
}

static void test_a_negative_idle_timeout_is_refused(void **state)
{
	fl_env *env = env_with(1, 1);
	fl_watermark_strategy ws = {
	    .kind = FL_WATERMARK_MONOTONOUS, .timestamp_field = 1, .idle_timeout_ms = -5};
	assert_null(fl_assign_timestamps_and_watermarks(fl_generator(env, 10, 0, et_gen), &ws));
	assert_non_null(strstr(fl_env_error(env), "idle_timeout_ms of 'Source: Generator' must be "
						  ">= 0 ms (0: never idle), not -5"));
	fl_env_free(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_an_idle_source_holds_no_window_back),
	    cmocka_unit_test(test_a_negative_idle_timeout_is_refused),
	    cmocka_unit_test(test_timestamp_prefix_round_trips_and_refuses_truncation),
	    cmocka_unit_test(test_generator_watermark_is_the_minimum_over_its_splits),
	    cmocka_unit_test(test_negative_out_of_orderness_is_refused_naming_it),
	    cmocka_unit_test(test_a_strategy_on_a_non_source_or_twice_is_refused),
	    cmocka_unit_test(test_a_record_without_its_timestamp_field_fails_the_job_naming_it),
	    cmocka_unit_test(test_timestamps_travel_and_in_bound_records_are_never_late),
	    cmocka_unit_test(test_records_without_a_strategy_have_no_timestamp),
	    cmocka_unit_test(test_text_source_timestamps_from_an_assigner_function),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
