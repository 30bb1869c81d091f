/*
 * Window triggers and evictors (issue #9): jobs on the mini cluster whose
 * every firing is checked against a reference computed here from the
 * generator's formula: a count trigger on a time window (FIRE keeps the
 * contents, no firing at the window's end), its purging form, a
 * continuous event-time trigger (early firings, then the end), count and
 * time evictors before and after the function (with reduce, agg and a
 * process function), on both backends; and the refusals, by name. Runs
 * under ThreadSanitizer too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <flinc/flinc.h>

#define NKEYS 5
#define NREC 3000
#define SIZE 100			    /* tumbling windows, ms */
#define MAXW ((NREC * 2 + 2200) / SIZE + 2) /* windows per key */
#define MAXF 64				    /* firings kept per key and window */

/* Event time of offset off: in order (gen), or up to 40 ms out of order
 * (gen_jitter, within the 50 ms bound: never late). */
static int64_t ts_of(int64_t off, bool jitter)
{
	return off * 2 + 2000 + (jitter ? (off * 7919) % 40 : 0);
}

int tr_gen(fl_ctx *ctx, int64_t off, fl_row *out);
int tr_gen_jitter(fl_ctx *ctx, int64_t off, fl_row *out);
int tr_sum(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out);
int tr_create(fl_ctx *ctx, fl_row *acc);
int tr_add(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out);
int tr_result(fl_ctx *ctx, const fl_row *acc, fl_row *out);
int tr_window(fl_ctx *ctx, int64_t start, int64_t end, const fl_row *result, fl_collector *out);
int tr_all(fl_ctx *ctx, int64_t start, int64_t end, fl_window_records *records, fl_collector *out);
int tr_check(fl_ctx *ctx, const fl_row *in, fl_collector *out);

/* (key, 1, offset, ts) */
int tr_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, off % NKEYS);
	fl_row_add_int64(out, 1);
	fl_row_add_int64(out, off);
	return fl_row_add_timestamp(out, ts_of(off, false));
}

int tr_gen_jitter(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, off % NKEYS);
	fl_row_add_int64(out, 1);
	fl_row_add_int64(out, off);
	return fl_row_add_timestamp(out, ts_of(off, true));
}

/* reduce: (key, count, sum of offsets, -) */
int tr_sum(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	*out = *acc;
	out->values[1].u.i += fl_row_int64(in, 1);
	out->values[2].u.i += fl_row_int64(in, 2);
	return 0;
}

/* aggregate: (count, sum of offsets) */
int tr_create(fl_ctx *ctx, fl_row *acc)
{
	fl_row_add_int64(acc, 0);
	return fl_row_add_int64(acc, 0);
}

int tr_add(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	fl_row_add_int64(out, fl_row_int64(acc, 0) + 1);
	return fl_row_add_int64(out, fl_row_int64(acc, 1) + fl_row_int64(in, 2));
}

int tr_result(fl_ctx *ctx, const fl_row *acc, fl_row *out)
{
	*out = *acc;
	return 0;
}

/* (key, start, end, count, sum) from reduce's row or agg's result. */
int tr_window(fl_ctx *ctx, int64_t start, int64_t end, const fl_row *result, fl_collector *out)
{
	fl_row key, r = {0};
	int rc = fl_ctx_current_key(ctx, &key);
	if (rc)
		return rc;
	bool reduced = result->nfields == 4;
	fl_row_add_int64(&r, fl_row_int64(&key, 0));
	fl_row_add_int64(&r, start);
	fl_row_add_int64(&r, end);
	fl_row_add_int64(&r, fl_row_int64(result, reduced ? 1 : 0));
	fl_row_add_int64(&r, fl_row_int64(result, reduced ? 2 : 1));
	return fl_collect(out, &r);
}

/* process over the records given: (key, start, end, count, sum). */
int tr_all(fl_ctx *ctx, int64_t start, int64_t end, fl_window_records *records, fl_collector *out)
{
	fl_row key, in, r = {0};
	int rc = fl_ctx_current_key(ctx, &key);
	if (rc)
		return rc;
	int64_t count = 0, sum = 0;
	while ((rc = fl_window_records_next(records, &in)) == 1) {
		count++;
		sum += fl_row_int64(&in, 2);
	}
	if (rc < 0)
		return rc;
	fl_row_add_int64(&r, fl_row_int64(&key, 0));
	fl_row_add_int64(&r, start);
	fl_row_add_int64(&r, end);
	fl_row_add_int64(&r, count);
	fl_row_add_int64(&r, sum);
	return fl_collect(out, &r);
}

/* Every firing, per key and window, in order: count and sum. */
static _Atomic int64_t got_n[NKEYS][MAXW], got_count[NKEYS][MAXW][MAXF], got_sum[NKEYS][MAXW][MAXF],
    n_bad;

int tr_check(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	int64_t k = fl_row_int64(in, 0), start = fl_row_int64(in, 1), end = fl_row_int64(in, 2);
	if (k < 0 || k >= NKEYS || start < 0 || start % SIZE || start / SIZE >= MAXW ||
	    end != start + SIZE || fl_ctx_timestamp(ctx) != end - 1) {
		atomic_fetch_add(&n_bad, 1);
		return 0;
	}
	int64_t w = start / SIZE, i = atomic_fetch_add(&got_n[k][w], 1);
	if (i < MAXF) {
		atomic_store(&got_count[k][w][i], fl_row_int64(in, 3));
		atomic_store(&got_sum[k][w][i], fl_row_int64(in, 4));
	}
	return 0;
}

static void run(const char *backend, fl_generator_fn gen, const fl_window_spec *spec)
{
	memset((void *)got_n, 0, sizeof(got_n));
	memset((void *)got_count, 0, sizeof(got_count));
	memset((void *)got_sum, 0, sizeof(got_sum));
	atomic_store(&n_bad, 0);
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	assert_int_equal(fl_env_set_parallelism(env, 2), 0);
	assert_int_equal(fl_env_set_config(env, "local.number-taskmanager", "2"), 0);
	assert_int_equal(fl_env_set_config(env, "pipeline.auto-watermark-interval", "1 ms"), 0);
	assert_int_equal(fl_env_set_config(env, "state.backend.type", backend), 0);
	fl_stream *s = fl_set_parallelism(fl_generator(env, NREC, 0, gen), 1);
	fl_watermark_strategy ws = {
	    .kind = FL_WATERMARK_BOUNDED, .out_of_orderness_ms = 50, .timestamp_field = 3};
	s = fl_window(fl_key_by(fl_assign_timestamps_and_watermarks(s, &ws), 0), spec);
	fl_discard(fl_process(fl_key_by(s, 0), tr_check));
	int rc = fl_execute(env, "triggers");
	if (rc)
		fail_msg("job: %s", fl_env_error(env));
	fl_env_free(env);
	assert_int_equal(atomic_load(&n_bad), 0);
}

/* A window's records in arrival order (offset order: one source subtask). */
typedef struct win_recs {
	int64_t n, off[NREC / NKEYS + 1];
} win_recs;
static win_recs recs[NKEYS][MAXW];

static void windows_of(bool jitter)
{
	memset(recs, 0, sizeof(recs));
	for (int64_t off = 0; off < NREC; off++) {
		win_recs *r = &recs[off % NKEYS][ts_of(off, jitter) / SIZE];
		r->off[r->n++] = off;
	}
}

/* Firing i of key k's window w was (count, sum). */
static void want_fire(int k, int w, int64_t i, int64_t count, int64_t sum)
{
	if (i >= MAXF)
		fail_msg("too many firings for the test's table");
	int64_t gc = atomic_load(&got_count[k][w][i]), gs = atomic_load(&got_sum[k][w][i]);
	if (gc != count || gs != sum)
		fail_msg("key %d window %d firing %lld: count %lld sum %lld, expected %lld %lld", k,
			 w * SIZE, (long long)i, (long long)gc, (long long)gs, (long long)count,
			 (long long)sum);
}

static void want_fires(int k, int w, int64_t n)
{
	if (atomic_load(&got_n[k][w]) != n)
		fail_msg("key %d window %d fired %lld times, expected %lld", k, w * SIZE,
			 (long long)atomic_load(&got_n[k][w]), (long long)n);
}

/* Sum of offsets [from, to) of r. */
static int64_t sum_of(const win_recs *r, int64_t from, int64_t to)
{
	int64_t s = 0;
	for (int64_t i = from; i < to; i++)
		s += r->off[i];
	return s;
}

/* CountTrigger.of(3) on tumbling windows: a firing per 3 records with all
 * the window holds (FIRE keeps it), none at the window's end (the last
 * n % 3 records are dropped when it is cleared); purging: 3 each time. */
static void check_count_trigger(bool purging)
{
	windows_of(false);
	for (int k = 0; k < NKEYS; k++)
		for (int w = 0; w < MAXW; w++) {
			const win_recs *r = &recs[k][w];
			want_fires(k, w, r->n / 3);
			for (int64_t i = 0; i < r->n / 3; i++)
				want_fire(k, w, i, purging ? 3 : 3 * (i + 1),
					  sum_of(r, purging ? 3 * i : 0, 3 * (i + 1)));
		}
}

static void test_count_trigger_fires_every_n_and_keeps_contents(void **state)
{
	fl_window_spec spec = {.kind = FL_WINDOW_TUMBLING,
			       .size_ms = SIZE,
			       .reduce = tr_sum,
			       .window_fn = tr_window,
			       .trigger = {.kind = FL_TRIGGER_COUNT, .count = 3}};
	run("hashmap", tr_gen, &spec);
	check_count_trigger(false);
	spec.trigger.purging = true;
	run("lmdb", tr_gen, &spec);
	check_count_trigger(true);
	/* The same through the aggregate. */
	spec = (fl_window_spec){.kind = FL_WINDOW_TUMBLING,
				.size_ms = SIZE,
				.agg = {.create = tr_create, .add = tr_add, .result = tr_result},
				.window_fn = tr_window,
				.trigger = {.kind = FL_TRIGGER_COUNT, .count = 3, .purging = true}};
	run("hashmap", tr_gen, &spec);
	check_count_trigger(true);
}

/* ContinuousEventTimeTrigger.of(30 ms), records in time order: from the
 * first record's 30 ms interval on, a firing every 30 ms and one at end -
 * 1; a firing at T holds at least every record up to T (the watermark
 * passed T, so a later record came) and never fewer than the one before;
 * the last holds all. */
static void test_continuous_event_time_trigger_fires_early_and_at_the_end(void **state)
{
	const int64_t iv = 30;
	fl_window_spec spec = {
	    .kind = FL_WINDOW_TUMBLING,
	    .size_ms = SIZE,
	    .reduce = tr_sum,
	    .window_fn = tr_window,
	    .trigger = {.kind = FL_TRIGGER_CONTINUOUS_EVENT_TIME, .interval_ms = iv}};
	run("hashmap", tr_gen, &spec);
	windows_of(false);
	int64_t early = 0;
	for (int k = 0; k < NKEYS; k++)
		for (int w = 0; w < MAXW; w++) {
			const win_recs *r = &recs[k][w];
			if (r->n == 0) {
				want_fires(k, w, 0);
				continue;
			}
			int64_t end = (int64_t)w * SIZE + SIZE, t0 = ts_of(r->off[0], false);
			int64_t times[MAXF], nt = 0;
			for (int64_t t = t0 - t0 % iv + iv;; t += iv) {
				times[nt++] = t < end - 1 ? t : end - 1;
				if (t >= end - 1)
					break;
			}
			want_fires(k, w, nt);
			early += nt - 1;
			int64_t prev = 0;
			for (int64_t i = 0; i < nt; i++) {
				int64_t c = atomic_load(&got_count[k][w][i]), upto = 0;
				while (upto < r->n && ts_of(r->off[upto], false) <= times[i])
					upto++;
				if (c < upto || c < prev || c > r->n)
					fail_msg("key %d window %d firing at %lld: %lld records, "
						 "expected "
						 "%lld..%lld",
						 k, w * SIZE, (long long)times[i], (long long)c,
						 (long long)(upto > prev ? upto : prev),
						 (long long)r->n);
				prev = c;
			}
			want_fire(k, w, nt - 1, r->n, sum_of(r, 0, r->n));
		}
	assert_true(early > 0);
}

/* CountEvictor.of(4) before the function, default trigger, records out of
 * order: the last 4 to arrive; reduce, agg and process alike. */
static void check_last(int64_t keep)
{
	windows_of(true);
	for (int k = 0; k < NKEYS; k++)
		for (int w = 0; w < MAXW; w++) {
			const win_recs *r = &recs[k][w];
			want_fires(k, w, r->n ? 1 : 0);
			int64_t from = r->n > keep ? r->n - keep : 0;
			if (r->n)
				want_fire(k, w, 0, r->n - from, sum_of(r, from, r->n));
		}
}

static void test_count_evictor_keeps_the_last_n(void **state)
{
	fl_window_evictor last4 = {.kind = FL_EVICTOR_COUNT, .count = 4};
	fl_window_spec spec = {.kind = FL_WINDOW_TUMBLING,
			       .size_ms = SIZE,
			       .reduce = tr_sum,
			       .window_fn = tr_window,
			       .evictor = last4};
	run("hashmap", tr_gen_jitter, &spec);
	check_last(4);
	spec = (fl_window_spec){.kind = FL_WINDOW_TUMBLING,
				.size_ms = SIZE,
				.agg = {.create = tr_create, .add = tr_add, .result = tr_result},
				.window_fn = tr_window,
				.evictor = last4};
	run("lmdb", tr_gen_jitter, &spec);
	check_last(4);
	spec = (fl_window_spec){
	    .kind = FL_WINDOW_TUMBLING, .size_ms = SIZE, .process = tr_all, .evictor = last4};
	run("hashmap", tr_gen_jitter, &spec);
	check_last(4);
}

/* TimeEvictor.of(30 ms): the records within 30 ms of the window's newest
 * timestamp (t > max - 30), whatever their arrival order. */
static void test_time_evictor_keeps_the_newest(void **state)
{
	fl_window_spec spec = {.kind = FL_WINDOW_TUMBLING,
			       .size_ms = SIZE,
			       .process = tr_all,
			       .evictor = {.kind = FL_EVICTOR_TIME, .keep_ms = 30}};
	run("lmdb", tr_gen_jitter, &spec);
	windows_of(true);
	for (int k = 0; k < NKEYS; k++)
		for (int w = 0; w < MAXW; w++) {
			const win_recs *r = &recs[k][w];
			want_fires(k, w, r->n ? 1 : 0);
			int64_t max = INT64_MIN, count = 0, sum = 0;
			for (int64_t i = 0; i < r->n; i++)
				max = ts_of(r->off[i], true) > max ? ts_of(r->off[i], true) : max;
			for (int64_t i = 0; i < r->n; i++)
				if (ts_of(r->off[i], true) > max - 30)
					count++, sum += r->off[i];
			if (r->n)
				want_fire(k, w, 0, count, sum);
		}
}

/* With a count trigger of 4 and a count evictor of 2: before, every firing
 * sees the last 2 records; after, the function sees all the window holds
 * (4, then 2 left + 4 new = 6 each time), then the window keeps its last
 * 2. */
static void test_evictor_before_or_after_the_function(void **state)
{
	fl_window_spec spec = {.kind = FL_WINDOW_TUMBLING,
			       .size_ms = SIZE,
			       .reduce = tr_sum,
			       .window_fn = tr_window,
			       .trigger = {.kind = FL_TRIGGER_COUNT, .count = 4},
			       .evictor = {.kind = FL_EVICTOR_COUNT, .count = 2}};
	for (int after = 0; after < 2; after++) {
		spec.evictor.after = after;
		run(after ? "lmdb" : "hashmap", tr_gen, &spec);
		windows_of(false);
		for (int k = 0; k < NKEYS; k++)
			for (int w = 0; w < MAXW; w++) {
				const win_recs *r = &recs[k][w];
				want_fires(k, w, r->n / 4);
				for (int64_t i = 0; i < r->n / 4; i++) {
					int64_t to = 4 * (i + 1),
						from = after ? (i ? 4 * i - 2 : 0) : to - 2;
					want_fire(k, w, i, to - from, sum_of(r, from, to));
				}
			}
	}
}

/* ------------------------------------------------------------- sessions */

/* Bursts of 50 records 1000 ms apart, 3 ms apart within one plus up to 19
 * ms of disorder: with a gap of 100 ms each key's records of a burst are
 * one session (merged as records arrive out of order). */
static int64_t session_ts(int64_t off)
{
	return 2000 + (off / 50) * 1000 + (off % 50) * 3 + (off * 7919) % 20;
}

int tr_sgen(fl_ctx *ctx, int64_t off, fl_row *out);
int tr_sgen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, off % NKEYS);
	fl_row_add_int64(out, 1);
	fl_row_add_int64(out, off);
	return fl_row_add_timestamp(out, session_ts(off));
}

#define NBURSTS (NREC / 50)
static _Atomic int64_t s_fires[NKEYS][NBURSTS], s_count[NKEYS][NBURSTS], s_sum[NKEYS][NBURSTS],
    s_start[NKEYS][NBURSTS], s_end[NKEYS][NBURSTS], s_fcount[NKEYS][NBURSTS][4],
    s_fsum[NKEYS][NBURSTS][4];

int tr_scheck(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int tr_scheck(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	int64_t k = fl_row_int64(in, 0), b = (fl_row_int64(in, 1) - 2000) / 1000;
	if (k < 0 || k >= NKEYS || b < 0 || b >= NBURSTS ||
	    fl_ctx_timestamp(ctx) != fl_row_int64(in, 2) - 1) {
		atomic_fetch_add(&n_bad, 1);
		return 0;
	}
	int64_t i = atomic_fetch_add(&s_fires[k][b], 1);
	if (i < 4) {
		atomic_store(&s_fcount[k][b][i], fl_row_int64(in, 3));
		atomic_store(&s_fsum[k][b][i], fl_row_int64(in, 4));
	}
	atomic_store(&s_start[k][b], fl_row_int64(in, 1));
	atomic_store(&s_end[k][b], fl_row_int64(in, 2));
	atomic_store(&s_count[k][b], fl_row_int64(in, 3));
	atomic_store(&s_sum[k][b], fl_row_int64(in, 4));
	return 0;
}

static void run_sessions(const fl_window_spec *spec, bool lmdb)
{
	memset((void *)s_fires, 0, sizeof(s_fires));
	memset((void *)s_fcount, 0, sizeof(s_fcount));
	atomic_store(&n_bad, 0);
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	assert_int_equal(fl_env_set_parallelism(env, 2), 0);
	assert_int_equal(fl_env_set_config(env, "local.number-taskmanager", "2"), 0);
	assert_int_equal(fl_env_set_config(env, "state.backend.type", lmdb ? "lmdb" : "hashmap"),
			 0);
	fl_stream *s = fl_set_parallelism(fl_generator(env, NREC, 0, tr_sgen), 1);
	fl_watermark_strategy ws = {
	    .kind = FL_WATERMARK_BOUNDED, .out_of_orderness_ms = 50, .timestamp_field = 3};
	s = fl_window(fl_key_by(fl_assign_timestamps_and_watermarks(s, &ws), 0), spec);
	fl_discard(fl_process(fl_key_by(s, 0), tr_scheck));
	int rc = fl_execute(env, "sessions");
	if (rc)
		fail_msg("job: %s", fl_env_error(env));
	fl_env_free(env);
	assert_int_equal(atomic_load(&n_bad), 0);
}

/* Key k's records of burst b: their offsets in arrival order, their
 * session [*lo, *hi + 100). */
static int64_t burst_of(int k, int b, int64_t *offs, int64_t *lo, int64_t *hi)
{
	int64_t n = 0;
	*lo = INT64_MAX, *hi = INT64_MIN;
	for (int64_t off = b * 50; off < b * 50 + 50; off++)
		if (off % NKEYS == k) {
			offs[n++] = off;
			*lo = session_ts(off) < *lo ? session_ts(off) : *lo;
			*hi = session_ts(off) > *hi ? session_ts(off) : *hi;
		}
	return n;
}

/* A count evictor on session windows: the records of merging sessions
 * move with their timestamps, and the session fires once with its last 4
 * records in arrival order (offset order), on both backends. */
static void test_count_evictor_on_merging_sessions(void **state)
{
	fl_window_spec spec = {.kind = FL_WINDOW_SESSION,
			       .gap_ms = 100,
			       .reduce = tr_sum,
			       .window_fn = tr_window,
			       .evictor = {.kind = FL_EVICTOR_COUNT, .count = 4}};
	for (int lmdb = 0; lmdb < 2; lmdb++) {
		run_sessions(&spec, lmdb);
		for (int k = 0; k < NKEYS; k++)
			for (int b = 0; b < NBURSTS; b++) {
				int64_t offs[50], lo, hi, n = burst_of(k, b, offs, &lo, &hi);
				int64_t sum = 0;
				for (int64_t i = n - 4; i < n; i++)
					sum += offs[i];
				if (atomic_load(&s_fires[k][b]) != 1 ||
				    atomic_load(&s_start[k][b]) != lo ||
				    atomic_load(&s_end[k][b]) != hi + 100 ||
				    atomic_load(&s_count[k][b]) != 4 ||
				    atomic_load(&s_sum[k][b]) != sum)
					fail_msg("key %d burst %d: %lld firings, [%lld, %lld) "
						 "count %lld "
						 "sum %lld, expected once [%lld, %lld) 4 %lld",
						 k, b, (long long)atomic_load(&s_fires[k][b]),
						 (long long)atomic_load(&s_start[k][b]),
						 (long long)atomic_load(&s_end[k][b]),
						 (long long)atomic_load(&s_count[k][b]),
						 (long long)atomic_load(&s_sum[k][b]),
						 (long long)lo, (long long)hi + 100,
						 (long long)sum);
			}
	}
}

/* A count trigger of 3 on session windows (each record extends its
 * session, which merges the old window into the span: the count moves with
 * it, CountTrigger.onMerge): per key and burst of 10 records, firings with
 * 3, 6 and 9 records, none at the session's end. A continuous event-time
 * trigger of 20 ms: its firings never lose records, the last one has all
 * 10. */
static void test_triggers_on_merging_sessions(void **state)
{
	fl_window_spec spec = {.kind = FL_WINDOW_SESSION,
			       .gap_ms = 100,
			       .reduce = tr_sum,
			       .window_fn = tr_window,
			       .trigger = {.kind = FL_TRIGGER_COUNT, .count = 3}};
	for (int lmdb = 0; lmdb < 2; lmdb++) {
		run_sessions(&spec, lmdb);
		for (int k = 0; k < NKEYS; k++)
			for (int b = 0; b < NBURSTS; b++) {
				int64_t offs[50], lo, hi, n = burst_of(k, b, offs, &lo, &hi);
				assert_int_equal(n, 10);
				if (atomic_load(&s_fires[k][b]) != 3)
					fail_msg("key %d burst %d fired %lld times, expected 3", k,
						 b, (long long)atomic_load(&s_fires[k][b]));
				for (int i = 0; i < 3; i++) {
					int64_t sum = 0;
					for (int j = 0; j < 3 * (i + 1); j++)
						sum += offs[j];
					if (atomic_load(&s_fcount[k][b][i]) != 3 * (i + 1) ||
					    atomic_load(&s_fsum[k][b][i]) != sum)
						fail_msg("key %d burst %d firing %d: %lld records "
							 "sum %lld, "
							 "expected %d %lld",
							 k, b, i,
							 (long long)atomic_load(&s_fcount[k][b][i]),
							 (long long)atomic_load(&s_fsum[k][b][i]),
							 3 * (i + 1), (long long)sum);
				}
			}
	}
	spec.trigger =
	    (fl_window_trigger){.kind = FL_TRIGGER_CONTINUOUS_EVENT_TIME, .interval_ms = 20};
	run_sessions(&spec, false);
	int64_t early = 0;
	for (int k = 0; k < NKEYS; k++)
		for (int b = 0; b < NBURSTS; b++) {
			int64_t offs[50], lo, hi, n = burst_of(k, b, offs, &lo, &hi), sum = 0;
			for (int64_t i = 0; i < n; i++)
				sum += offs[i];
			int64_t f = atomic_load(&s_fires[k][b]);
			early += f - 1;
			if (f < 1 || atomic_load(&s_count[k][b]) != n ||
			    atomic_load(&s_sum[k][b]) != sum || atomic_load(&s_start[k][b]) != lo ||
			    atomic_load(&s_end[k][b]) != hi + 100)
				fail_msg("key %d burst %d: %lld firings, the last [%lld, %lld) "
					 "with %lld "
					 "records, expected [%lld, %lld) with %lld",
					 k, b, (long long)f, (long long)atomic_load(&s_start[k][b]),
					 (long long)atomic_load(&s_end[k][b]),
					 (long long)atomic_load(&s_count[k][b]), (long long)lo,
					 (long long)hi + 100, (long long)n);
			for (int i = 1; i < f && i < 4; i++)
				if (atomic_load(&s_fcount[k][b][i]) <
				    atomic_load(&s_fcount[k][b][i - 1]))
					fail_msg("key %d burst %d: firing %d has fewer records "
						 "than the one "
						 "before",
						 k, b, i);
		}
	assert_true(early > 0);
}

/* ------------------------------------------- continuous processing time */

#define PRECS 700
static char clock_path[256];
static _Atomic int64_t n_padded, n_pfired, p_fires[NKEYS], p_last[NKEYS], p_bad;

int tr_padd(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out);
int tr_pgen(fl_ctx *ctx, int64_t off, fl_row *out);
int tr_pcheck(fl_ctx *ctx, const fl_row *in, fl_collector *out);

int tr_padd(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	atomic_fetch_add(&n_padded, 1);
	return tr_add(ctx, acc, in, out);
}

static void set_clock(long long ms)
{
	char tmp[300];
	snprintf(tmp, sizeof(tmp), "%s.tmp", clock_path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "%lld\n", ms);
	fclose(f);
	rename(tmp, clock_path);
}

/* Waits (polling; a hang, not a timing, after a minute) until *v >= n. */
static bool await_count(_Atomic int64_t *v, int64_t n)
{
	for (int i = 0; i < 60000 && atomic_load(v) < n; i++) {
		struct timespec ts = {0, 1000000L};
		nanosleep(&ts, NULL);
	}
	return atomic_load(v) >= n;
}

/* Before its last record the source waits until the window added every
 * record before it, moves the clock to 1150 (the trigger's first firing,
 * at 1100), then to 2100 (past the window [1000, 2000): the firings at
 * 1200 .. 1900 and at its end, 1999), and waits for them all. */
int tr_pgen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	if (off == PRECS - 1) {
		if (!await_count(&n_padded, PRECS - 1))
			return fl_fail(ctx, "the records never reached the window");
		set_clock(1150);
		if (!await_count(&n_pfired, NKEYS))
			return fl_fail(ctx, "the first continuous firing never came");
		set_clock(2100);
		if (!await_count(&n_pfired, NKEYS * 10))
			return fl_fail(ctx, "the later firings never came");
	}
	fl_row_add_int64(out, off % NKEYS);
	fl_row_add_int64(out, 1);
	return fl_row_add_int64(out, off);
}

int tr_pcheck(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	int64_t k = fl_row_int64(in, 0);
	if (k < 0 || k >= NKEYS || fl_row_int64(in, 1) != 1000 || fl_row_int64(in, 2) != 2000 ||
	    fl_ctx_timestamp(ctx) != INT64_MIN)
		atomic_fetch_add(&p_bad, 1);
	else {
		atomic_fetch_add(&p_fires[k], 1);
		atomic_store(&p_last[k], fl_row_int64(in, 3));
	}
	atomic_fetch_add(&n_pfired, 1);
	return 0;
}

/* ContinuousProcessingTimeTrigger.of(100 ms) on a processing-time window
 * [1000, 2000) of the fake clock: from the first record's interval on a
 * firing every 100 ms (1100 .. 1900) and one at 1999, ten per key, each with
 * every record of the key so far (FIRE keeps them). */
static void test_continuous_processing_time_trigger_fires_on_the_clock(void **state)
{
	snprintf(clock_path, sizeof(clock_path), "%s/trigger-clock-%d",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	set_clock(1000);
	setenv("FLINC_FAKE_CLOCK_FILE", clock_path, 1);
	atomic_store(&n_padded, 0);
	atomic_store(&n_pfired, 0);
	atomic_store(&p_bad, 0);
	for (int k = 0; k < NKEYS; k++)
		atomic_store(&p_fires[k], 0), atomic_store(&p_last[k], 0);
	fl_window_spec spec = {
	    .kind = FL_WINDOW_TUMBLING,
	    .time = FL_PROCESSING_TIME,
	    .size_ms = 1000,
	    .agg = {.create = tr_create, .add = tr_padd, .result = tr_result},
	    .window_fn = tr_window,
	    .trigger = {.kind = FL_TRIGGER_CONTINUOUS_PROCESSING_TIME, .interval_ms = 100}};
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	assert_int_equal(fl_env_set_parallelism(env, 2), 0);
	assert_int_equal(fl_env_set_config(env, "local.number-taskmanager", "2"), 0);
	assert_int_equal(fl_env_set_config(env, "execution.buffer-timeout", "0 ms"), 0);
	fl_stream *s = fl_set_parallelism(fl_generator(env, PRECS, 100000, tr_pgen), 1);
	s = fl_window(fl_key_by(s, 0), &spec);
	fl_discard(fl_process(fl_key_by(s, 0), tr_pcheck));
	int rc = fl_execute(env, "continuous processing time");
	unsetenv("FLINC_FAKE_CLOCK_FILE");
	unlink(clock_path);
	if (rc)
		fail_msg("job: %s", fl_env_error(env));
	fl_env_free(env);
	assert_int_equal(atomic_load(&p_bad), 0);
	for (int k = 0; k < NKEYS; k++) {
		int64_t want = 0;
		for (int64_t off = 0; off < PRECS - 1; off++)
			want += off % NKEYS == k;
		assert_int_equal(atomic_load(&p_fires[k]), 10);
		assert_int_equal(atomic_load(&p_last[k]), want);
	}
}

/* ------------------------------------------------------------ refusals */

static void refused(const fl_window_spec *spec, const char *msg)
{
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	fl_stream *s = fl_generator(env, 10, 0, tr_gen);
	assert_null(fl_window(fl_key_by(s, 0), spec));
	if (!strstr(fl_env_error(env), msg))
		fail_msg("'%s' does not say '%s'", fl_env_error(env), msg);
	fl_env_free(env);
}

static void test_bad_triggers_and_evictors_are_refused(void **state)
{
	fl_window_spec t = {.kind = FL_WINDOW_TUMBLING, .size_ms = SIZE, .reduce = tr_sum};
	fl_window_spec s = t;
	s.trigger = (fl_window_trigger){.kind = FL_TRIGGER_COUNT, .count = 0};
	refused(&s, "trigger.count of a count trigger must be > 0, not 0");
	s = t;
	s.trigger =
	    (fl_window_trigger){.kind = FL_TRIGGER_CONTINUOUS_EVENT_TIME, .interval_ms = -5};
	refused(&s, "trigger.interval_ms of a continuous trigger must be > 0, not -5");
	s = t;
	s.trigger =
	    (fl_window_trigger){.kind = FL_TRIGGER_CONTINUOUS_PROCESSING_TIME, .interval_ms = 10};
	refused(&s, "a continuous processing-time trigger needs a processing-time window");
	s = t;
	s.time = FL_PROCESSING_TIME;
	s.trigger =
	    (fl_window_trigger){.kind = FL_TRIGGER_CONTINUOUS_EVENT_TIME, .interval_ms = 10};
	refused(&s, "a continuous event-time trigger needs an event-time window");
	s = t;
	s.trigger.kind = (enum fl_trigger_kind)9;
	refused(&s, "trigger.kind is not an fl_trigger_kind, not 9");
	s = t;
	s.evictor = (fl_window_evictor){.kind = FL_EVICTOR_COUNT, .count = -1};
	refused(&s, "evictor.count of a count evictor must be > 0, not -1");
	s = t;
	s.evictor = (fl_window_evictor){.kind = FL_EVICTOR_TIME};
	refused(&s, "evictor.keep_ms of a time evictor must be > 0, not 0");
	s = t;
	s.evictor.kind = (enum fl_evictor_kind)7;
	refused(&s, "evictor.kind is not an fl_evictor_kind, not 7");
	fl_window_spec c = {.kind = FL_WINDOW_COUNT, .count = 5, .reduce = tr_sum};
	c.evictor = (fl_window_evictor){.kind = FL_EVICTOR_COUNT, .count = 2};
	refused(&c, "count windows have their own trigger and evictor");
	c.evictor = (fl_window_evictor){0};
	c.trigger.purging = true;
	refused(&c, "count windows have their own trigger and evictor");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_count_trigger_fires_every_n_and_keeps_contents),
	    cmocka_unit_test(test_continuous_event_time_trigger_fires_early_and_at_the_end),
	    cmocka_unit_test(test_count_evictor_keeps_the_last_n),
	    cmocka_unit_test(test_time_evictor_keeps_the_newest),
	    cmocka_unit_test(test_evictor_before_or_after_the_function),
	    cmocka_unit_test(test_count_evictor_on_merging_sessions),
	    cmocka_unit_test(test_triggers_on_merging_sessions),
	    cmocka_unit_test(test_continuous_processing_time_trigger_fires_on_the_clock),
	    cmocka_unit_test(test_bad_triggers_and_evictors_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
