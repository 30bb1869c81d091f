/*
 * Count windows (FL_WINDOW_COUNT, Flink's countWindow) and windows over a
 * whole stream (fl_window_all, Flink's windowAll), on the mini cluster:
 * every window's records, sum and record numbers checked against references
 * computed here from the generator's formula, tumbling and sliding, with a
 * reduce and with an aggregate, on both backends; and the refusals, by name.
 * Runs under ThreadSanitizer too.
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

#define NKEYS 5
#define NREC 3001
/* Most windows of one key (a slide of 1 fires once per record). */
#define MAXW (NREC + 1)

/* (offset, key offset % NKEYS, 1) */
int cw_gen(fl_ctx *ctx, int64_t off, fl_row *out);
int cw_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	int rc = fl_row_add_int64(out, off);
	if (rc == 0)
		rc = fl_row_add_int64(out, off % NKEYS);
	return rc ? rc : fl_row_add_int64(out, 1);
}

/* Sums of offsets and of records: (offset sum, key, records). */
int cw_sum(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out);
int cw_sum(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	*out = *acc;
	out->values[0].u.i += fl_row_int64(in, 0);
	out->values[2].u.i += fl_row_int64(in, 2);
	return 0;
}

/* The same as an aggregate: accumulator (offset sum, key, records). */
int cw_create(fl_ctx *ctx, fl_row *acc);
int cw_create(fl_ctx *ctx, fl_row *acc)
{
	int rc = fl_row_add_int64(acc, 0);
	if (rc == 0)
		rc = fl_row_add_int64(acc, -1);
	return rc ? rc : fl_row_add_int64(acc, 0);
}

int cw_add(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out);
int cw_add(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	*out = *acc;
	out->values[0].u.i += fl_row_int64(in, 0);
	out->values[1].u.i = fl_row_int64(in, 1);
	out->values[2].u.i += 1;
	return 0;
}

int cw_result(fl_ctx *ctx, const fl_row *acc, fl_row *out);
int cw_result(fl_ctx *ctx, const fl_row *acc, fl_row *out)
{
	*out = *acc;
	return 0;
}

/* (key or -1, start, end, offset sum, records, has a timestamp) */
int cw_window(fl_ctx *ctx, int64_t start, int64_t end, const fl_row *result, fl_collector *out);
int cw_window(fl_ctx *ctx, int64_t start, int64_t end, const fl_row *result, fl_collector *out)
{
	fl_row r = {0};
	int rc = fl_row_add_int64(&r, fl_row_int64(result, 1));
	if (rc == 0)
		rc = fl_row_add_int64(&r, start);
	if (rc == 0)
		rc = fl_row_add_int64(&r, end);
	if (rc == 0)
		rc = fl_row_add_int64(&r, fl_row_int64(result, 0));
	if (rc == 0)
		rc = fl_row_add_int64(&r, fl_row_int64(result, 2));
	return rc ? rc : fl_collect(out, &r);
}

/* process over all records: the same row as cw_window's, counted here;
 * the records must come in offset order (a key's arrival order). */
static _Atomic int64_t n_disorder;
int cw_all(fl_ctx *ctx, int64_t start, int64_t end, fl_window_records *records, fl_collector *out);
int cw_all(fl_ctx *ctx, int64_t start, int64_t end, fl_window_records *records, fl_collector *out)
{
	fl_row in, r = {0};
	int64_t key = -1, sum = 0, n = 0, last = -1;
	int rc;
	while ((rc = fl_window_records_next(records, &in)) == 1) {
		int64_t off = fl_row_int64(&in, 0);
		if (off <= last)
			atomic_fetch_add(&n_disorder, 1);
		last = off;
		key = fl_row_int64(&in, 1);
		sum += off;
		n++;
	}
	if (rc < 0)
		return rc;
	rc = fl_row_add_int64(&r, key);
	if (rc == 0)
		rc = fl_row_add_int64(&r, start);
	if (rc == 0)
		rc = fl_row_add_int64(&r, end);
	if (rc == 0)
		rc = fl_row_add_int64(&r, sum);
	if (rc == 0)
		rc = fl_row_add_int64(&r, n);
	return rc ? rc : fl_collect(out, &r);
}

/* What fired, by key (NKEYS: window_all) and end (the windows of a key end
 * at distinct record numbers). */
static _Atomic int64_t got_start[NKEYS + 1][MAXW], got_sum[NKEYS + 1][MAXW],
    got_n[NKEYS + 1][MAXW], got_fires[NKEYS + 1][MAXW];
static _Atomic int64_t n_out, n_bad;
static int global_row; /* window_all: filed under NKEYS, whatever the key field holds */

int cw_check(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int cw_check(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	int64_t k = fl_row_int64(in, 0), start = fl_row_int64(in, 1), end = fl_row_int64(in, 2);
	if (global_row)
		k = NKEYS;
	if (k < 0 || k > NKEYS || end < 1 || end >= MAXW || fl_ctx_timestamp(ctx) != INT64_MIN) {
		atomic_fetch_add(&n_bad, 1);
	} else {
		atomic_store(&got_start[k][end], start);
		atomic_store(&got_sum[k][end], fl_row_int64(in, 3));
		atomic_store(&got_n[k][end], fl_row_int64(in, 4));
		atomic_fetch_add(&got_fires[k][end], 1);
	}
	atomic_fetch_add(&n_out, 1);
	return 0;
}

static void reset(void)
{
	for (int k = 0; k <= NKEYS; k++)
		for (int w = 0; w < MAXW; w++) {
			atomic_store(&got_start[k][w], 0);
			atomic_store(&got_sum[k][w], 0);
			atomic_store(&got_n[k][w], 0);
			atomic_store(&got_fires[k][w], 0);
		}
	atomic_store(&n_out, 0);
	atomic_store(&n_bad, 0);
}

static fl_env *env_with(int p, const char *backend)
{
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	assert_int_equal(fl_env_set_parallelism(env, p), 0);
	assert_int_equal(fl_env_set_config(env, "local.number-taskmanager", p > 1 ? "2" : "1"), 0);
	assert_int_equal(fl_env_set_config(env, "state.backend.type", backend), 0);
	return env;
}

/* generator (one subtask: a key's records arrive in offset order) ->
 * [key_by] -> count window -> cw_check */
static void run(const char *backend, const fl_window_spec *spec, bool all)
{
	reset();
	global_row = all;
	fl_env *env = env_with(2, backend);
	fl_stream *s = fl_set_parallelism(fl_generator(env, NREC, 0, cw_gen), 1);
	s = all ? fl_window_all(s, spec) : fl_window(fl_key_by(s, 1), spec);
	fl_discard(fl_process(fl_key_by(s, 0), cw_check));
	int rc = fl_execute(env, "count windows");
	if (rc)
		fail_msg("job: %s", fl_env_error(env));
	fl_env_free(env);
}

/* The reference: for each key (or the whole stream), its records numbered
 * from 0 in offset order; a window fires every `slide` records (count for
 * tumbling ones) with the last `count` of them. */
static void expect(int64_t count, int64_t slide, bool all)
{
	int64_t windows = 0;
	for (int k = 0; k <= NKEYS; k++) {
		if (all != (k == NKEYS))
			continue;
		int64_t offs[NREC], n = 0;
		for (int64_t off = 0; off < NREC; off++)
			if (all || off % NKEYS == k)
				offs[n++] = off;
		for (int64_t end = 1; end < MAXW; end++) {
			bool fires = end <= n && end % slide == 0;
			int64_t start = end > count ? end - count : 0, sum = 0;
			for (int64_t i = start; fires && i < end; i++)
				sum += offs[i];
			int64_t f = atomic_load(&got_fires[k][end]);
			if (f != (fires ? 1 : 0) ||
			    (fires && (atomic_load(&got_start[k][end]) != start ||
				       atomic_load(&got_sum[k][end]) != sum ||
				       atomic_load(&got_n[k][end]) != end - start)))
				fail_msg("key %d, window ending at record %lld: fired %lld times "
					 "from %lld, sum %lld over %lld records; expected %s [%lld, "
					 "%lld) sum %lld",
					 k, (long long)end, (long long)f,
					 (long long)atomic_load(&got_start[k][end]),
					 (long long)atomic_load(&got_sum[k][end]),
					 (long long)atomic_load(&got_n[k][end]),
					 fires ? "once" : "never", (long long)start, (long long)end,
					 (long long)sum);
			windows += fires;
		}
	}
	assert_int_equal(atomic_load(&n_bad), 0);
	assert_int_equal(atomic_load(&n_out), windows);
}

static const fl_window_spec CW_TUMBLING = {
    .kind = FL_WINDOW_COUNT, .count = 7, .reduce = cw_sum, .window_fn = cw_window};
static const fl_window_spec CW_SLIDING = {.kind = FL_WINDOW_COUNT,
					  .count = 10,
					  .count_slide = 3,
					  .agg = {.create = cw_create, .add = cw_add, .result = cw_result},
					  .window_fn = cw_window};
static const fl_window_spec CW_EVERY = {
    .kind = FL_WINDOW_COUNT, .count = 4, .count_slide = 1, .reduce = cw_sum, .window_fn = cw_window};

static void test_tumbling_count_windows_exact(void **state)
{
	(void)state;
	run("hashmap", &CW_TUMBLING, false);
	expect(7, 7, false);
	run("lmdb", &CW_TUMBLING, false);
	expect(7, 7, false);
}

static void test_sliding_count_windows_exact(void **state)
{
	(void)state;
	run("hashmap", &CW_SLIDING, false);
	expect(10, 3, false);
	run("lmdb", &CW_EVERY, false);
	expect(4, 1, false);
}

/* Flink's countWindow(...).process(...): every record of each window, in
 * order, tumbling and sliding, on both backends. */
static void test_a_process_function_gets_every_record(void **state)
{
	(void)state;
	fl_window_spec tumbling = {.kind = FL_WINDOW_COUNT, .count = 7, .process = cw_all};
	fl_window_spec sliding = {
	    .kind = FL_WINDOW_COUNT, .count = 10, .count_slide = 3, .process = cw_all};
	atomic_store(&n_disorder, 0);
	run("lmdb", &tumbling, false);
	expect(7, 7, false);
	run("hashmap", &sliding, false);
	expect(10, 3, false);
	run("hashmap", &sliding, true);
	expect(10, 3, true);
	assert_int_equal(atomic_load(&n_disorder), 0);
}

static void test_window_all_takes_every_record(void **state)
{
	(void)state;
	run("hashmap", &CW_TUMBLING, true);
	expect(7, 7, true);
	run("lmdb", &CW_SLIDING, true);
	expect(10, 3, true);
}

static void refused(const fl_window_spec *spec, const char *msg)
{
	fl_env *env = env_with(1, "hashmap");
	assert_null(fl_window(fl_key_by(fl_generator(env, 10, 0, cw_gen), 1), spec));
	if (!strstr(fl_env_error(env), msg))
		fail_msg("'%s' does not say '%s'", fl_env_error(env), msg);
	fl_env_free(env);
}

static void test_bad_count_windows_are_refused(void **state)
{
	(void)state;
	refused(&(fl_window_spec){.kind = FL_WINDOW_COUNT, .reduce = cw_sum},
		"count of a count window must be in 1..2^30, not 0");
	refused(&(fl_window_spec){.kind = FL_WINDOW_COUNT, .count = 3, .count_slide = 4,
				  .reduce = cw_sum},
		"count_slide of a count window must be 0 (tumbling) or 1..count, not 4");
	refused(&(fl_window_spec){.kind = FL_WINDOW_COUNT, .count = 3, .allowed_lateness_ms = 5,
				  .reduce = cw_sum},
		"count windows have no allowed lateness");
	refused(&(fl_window_spec){.kind = 9, .count = 3, .reduce = cw_sum},
		"kind is not FL_WINDOW_TUMBLING, FL_WINDOW_SLIDING, FL_WINDOW_SESSION or "
		"FL_WINDOW_COUNT, not 9");

	fl_env *env = env_with(1, "hashmap");
	fl_stream *w = fl_window(fl_key_by(fl_generator(env, 10, 0, cw_gen), 1), &CW_TUMBLING);
	assert_null(fl_window_late_records(w));
	assert_non_null(strstr(fl_env_error(env), "count windows have no late records"));
	fl_env_free(env);

	env = env_with(1, "hashmap");
	assert_null(fl_window_all(fl_key_by(fl_generator(env, 10, 0, cw_gen), 1), &CW_TUMBLING));
	assert_non_null(strstr(fl_env_error(env), "window_all: takes a stream that is not keyed"));
	fl_env_free(env);

	env = env_with(1, "hashmap");
	w = fl_window_all(fl_generator(env, 10, 0, cw_gen), &CW_TUMBLING);
	assert_non_null(w);
	assert_null(fl_set_parallelism(w, 2));
	assert_non_null(strstr(fl_env_error(env), "is not a parallel operator: its parallelism must "
						  "be 1, not 2"));
	fl_env_free(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tumbling_count_windows_exact),
	    cmocka_unit_test(test_sliding_count_windows_exact),
	    cmocka_unit_test(test_a_process_function_gets_every_record),
	    cmocka_unit_test(test_window_all_takes_every_record),
	    cmocka_unit_test(test_bad_count_windows_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
