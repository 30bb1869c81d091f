/*
 * Side outputs (fl_output, fl_side_output; Flink's OutputTag) on the mini
 * cluster: a flat_map splits its records between its main output and two
 * tagged ones, read at other parallelisms, and a third tag nobody reads is
 * dropped; a window's function sends some windows to a side output beside
 * its results; a window's late records are the side output
 * FL_LATE_RECORDS_TAG; bad tags are refused by name. Runs under
 * ThreadSanitizer too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <flinc/flinc.h>

#define N 20000
#define WIN 100 /* ms: tumbling windows over one record per ms */
#define KEYS 3

int so_gen(fl_ctx *ctx, int64_t off, fl_row *out);
int so_split(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int so_count_main(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int so_count_odd(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int so_count_three(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int so_sum(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out);
int so_window(fl_ctx *ctx, int64_t start, int64_t end, const fl_row *result, fl_collector *out);
int so_count_windows(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int so_count_key0(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int so_map(fl_ctx *ctx, const fl_row *in, fl_row *out);

static _Atomic int64_t n_main, sum_main, n_odd, sum_odd, n_three, sum_three, bad_tags;
static _Atomic int64_t n_windows, n_key0, key0_total, ts_wrong;

/* (key, value, time): one record per ms, keys round robin. */
int so_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, off % KEYS);
	fl_row_add_int64(out, off);
	return fl_row_add_timestamp(out, off);
}

/* Even values to the main output, odd ones to "odd", multiples of 3 also
 * to "three", every value to "nobody" (no stream reads it); bad tags must
 * be refused, not crash. */
int so_split(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	int64_t v = in->values[1].u.i;
	int rc = v % 2 == 0 ? fl_collect(out, in) : fl_output(out, "odd", in);
	if (rc == 0 && v % 3 == 0)
		rc = fl_output(out, "three", in);
	if (rc == 0)
		rc = fl_output(out, "nobody", in);
	char long_tag[FL_TAG_MAX + 2];
	memset(long_tag, 't', sizeof(long_tag) - 1);
	long_tag[sizeof(long_tag) - 1] = '\0';
	if (fl_output(out, NULL, in) == FL_EINVAL && fl_output(out, "", in) == FL_EINVAL &&
	    fl_output(out, long_tag, in) == FL_EINVAL)
		bad_tags++;
	return rc;
}

static void tally(const fl_row *in, _Atomic int64_t *n, _Atomic int64_t *sum)
{
	(*n)++;
	*sum += in->values[1].u.i;
}

int so_count_main(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	tally(in, &n_main, &sum_main);
	return 0;
}

int so_count_odd(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	tally(in, &n_odd, &sum_odd);
	/* A side output's rows keep the timestamp of the record that made them. */
	if (fl_ctx_timestamp(ctx) != in->values[1].u.i)
		ts_wrong++;
	return 0;
}

int so_count_three(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	tally(in, &n_three, &sum_three);
	return 0;
}

static fl_env *env_with(int p)
{
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	assert_int_equal(fl_env_set_parallelism(env, p), 0);
	assert_int_equal(fl_env_set_config(env, "local.number-taskmanager", "2"), 0);
	return env;
}

static void run(fl_env *env)
{
	int rc = fl_execute(env, "side outputs");
	if (rc)
		fail_msg("job: %s", fl_env_error(env));
	fl_env_free(env);
}

static void reset(void)
{
	n_main = sum_main = n_odd = sum_odd = n_three = sum_three = bad_tags = 0;
	n_windows = n_key0 = key0_total = ts_wrong = 0;
}

static void test_a_flat_map_splits_its_records_between_tagged_outputs(void **state)
{
	reset();
	fl_env *env = env_with(2);
	fl_watermark_strategy ws = {.kind = FL_WATERMARK_MONOTONOUS, .timestamp_field = 2};
	fl_stream *src = fl_assign_timestamps_and_watermarks(fl_generator(env, N, 0, so_gen), &ws);
	fl_stream *split = fl_flat_map(src, so_split);
	/* The main output chains on; the side outputs go to tasks of their
	 * own, one at the same parallelism, one at 1 through a hash edge. */
	fl_discard(fl_flat_map(split, so_count_main));
	fl_discard(fl_flat_map(fl_side_output(split, "odd"), so_count_odd));
	fl_discard(fl_set_parallelism(
	    fl_flat_map(fl_key_by(fl_side_output(split, "three"), 0), so_count_three), 1));
	run(env);
	int64_t even_sum = 0, odd_sum = 0, three_n = 0, three_sum = 0;
	for (int64_t v = 0; v < N; v++) {
		if (v % 2 == 0)
			even_sum += v;
		else
			odd_sum += v;
		if (v % 3 == 0)
			three_n++, three_sum += v;
	}
	assert_int_equal(n_main, N / 2);
	assert_true(sum_main == even_sum);
	assert_int_equal(n_odd, N / 2);
	assert_true(sum_odd == odd_sum);
	assert_true(n_three == three_n && sum_three == three_sum);
	assert_int_equal(bad_tags, N);
	assert_int_equal(ts_wrong, 0);
}

int so_sum(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	*out = *acc;
	out->values[1].u.i += in->values[1].u.i;
	return 0;
}

/* Every window's result to the main output; key 0's also to "key0". */
int so_window(fl_ctx *ctx, int64_t start, int64_t end, const fl_row *result, fl_collector *out)
{
	int rc = fl_collect(out, result);
	if (rc == 0 && result->values[0].u.i == 0)
		rc = fl_output(out, "key0", result);
	return rc;
}

int so_count_windows(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	n_windows++;
	return 0;
}

int so_count_key0(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	n_key0++;
	key0_total += in->values[1].u.i;
	if (in->values[0].u.i != 0)
		ts_wrong++;
	return 0;
}

static void test_a_window_function_sends_windows_to_a_side_output(void **state)
{
	reset();
	fl_env *env = env_with(2);
	fl_watermark_strategy ws = {.kind = FL_WATERMARK_MONOTONOUS, .timestamp_field = 2};
	fl_stream *src = fl_assign_timestamps_and_watermarks(
	    fl_set_parallelism(fl_generator(env, N, 0, so_gen), 1), &ws);
	fl_window_spec spec = {
	    .kind = FL_WINDOW_TUMBLING, .size_ms = WIN, .reduce = so_sum, .window_fn = so_window};
	fl_stream *w = fl_window(fl_key_by(src, 0), &spec);
	fl_discard(fl_flat_map(w, so_count_windows));
	fl_discard(fl_flat_map(fl_side_output(w, "key0"), so_count_key0));
	run(env);
	/* Every (key, window) pair has records: KEYS windows per WIN ms. */
	assert_int_equal(n_windows, (N / WIN) * KEYS);
	assert_int_equal(n_key0, N / WIN);
	int64_t total = 0; /* the values of key 0 */
	for (int64_t v = 0; v < N; v += KEYS)
		total += v;
	assert_true(key0_total == total);
	assert_int_equal(ts_wrong, 0);
}

int so_map(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	*out = *in;
	return 0;
}

static void test_bad_side_outputs_are_refused_by_name(void **state)
{
	fl_env *env = env_with(1);
	fl_stream *src = fl_generator(env, 10, 0, so_gen);
	assert_null(fl_side_output(src, "x"));
	assert_non_null(strstr(fl_env_error(env), "side_output 'x'"));
	assert_non_null(strstr(fl_env_error(env), "no function that emits through a collector"));
	fl_env_free(env);

	env = env_with(1);
	assert_null(fl_side_output(fl_map(fl_generator(env, 10, 0, so_gen), so_map), "x"));
	assert_non_null(strstr(fl_env_error(env), "Map"));
	fl_env_free(env);

	env = env_with(1);
	fl_stream *fm = fl_flat_map(fl_generator(env, 10, 0, so_gen), so_count_main);
	assert_null(fl_side_output(fm, ""));
	assert_non_null(strstr(fl_env_error(env), "a tag of 1 to 63 bytes, not none"));
	fl_env_free(env);

	env = env_with(1);
	fm = fl_flat_map(fl_generator(env, 10, 0, so_gen), so_count_main);
	char long_tag[FL_TAG_MAX + 2];
	memset(long_tag, 'x', sizeof(long_tag) - 1);
	long_tag[sizeof(long_tag) - 1] = '\0';
	assert_null(fl_side_output(fm, long_tag));
	assert_non_null(strstr(fl_env_error(env), "not a longer one"));
	fl_env_free(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_flat_map_splits_its_records_between_tagged_outputs),
	    cmocka_unit_test(test_a_window_function_sends_windows_to_a_side_output),
	    cmocka_unit_test(test_bad_side_outputs_are_refused_by_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
