/*
 * Keyed time windows (issue #9, step 3): jobs on the mini cluster whose
 * window results are checked exactly against references computed here from
 * the generators' formulas: tumbling event-time windows with a reduce and a
 * window function, sliding ones with an aggregate, allowed lateness (late
 * records re-fire their window; later ones are dropped), processing-time
 * windows on the fake clock; and the refusals, by name. Runs under
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <flinc/flinc.h>

#define NKEYS 7
#define NREC 4000
#define SPAN (NREC * 2 + 2500) /* event time covered, ms */
#define MAXW (SPAN / 50 + 4)   /* window starts per key, every 50 ms */
#define JITTER(off) (((off)*7919) % 50)
#define LATE_EVERY 500
#define LATE_BY 1000

/* Event time of offset off; with late, every LATE_EVERY-th record after
 * the first LATE_EVERY is LATE_BY ms behind the others (far behind the
 * watermark by then, in a window that had records). */
static bool is_late(int64_t off)
{
	return off % LATE_EVERY == LATE_EVERY - 1 && off > LATE_EVERY;
}

static int64_t ts_of(int64_t off, bool late)
{
	if (late && is_late(off))
		return off * 2 + 2000 - LATE_BY;
	return off * 2 + 2000 + JITTER(off);
}

int wt_gen(fl_ctx *ctx, int64_t off, fl_row *out);
int wt_gen_late(fl_ctx *ctx, int64_t off, fl_row *out);
int wt_sum(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out);
int wt_create(fl_ctx *ctx, fl_row *acc);
int wt_add(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out);
int wt_result(fl_ctx *ctx, const fl_row *acc, fl_row *out);
int wt_window(fl_ctx *ctx, int64_t start, int64_t end, const fl_row *result, fl_collector *out);
int wt_check(fl_ctx *ctx, const fl_row *in, fl_collector *out);

/* (key, 1, offset) */
int wt_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, off % NKEYS);
	fl_row_add_int64(out, 1);
	fl_row_add_int64(out, off);
	return fl_row_add_timestamp(out, ts_of(off, false));
}

/* Before the record that precedes a late one, a pause longer than the
 * watermark interval (1 ms): the source then sends the watermark of the
 * records so far right after that record, so the late record reaches the
 * window behind it, whatever the machine's load (a paced source that fell
 * behind its schedule catches up without pausing). */
int wt_gen_late(fl_ctx *ctx, int64_t off, fl_row *out)
{
	if (is_late(off + 1)) {
		struct timespec ts = {0, 5 * 1000000L};
		nanosleep(&ts, NULL);
	}
	fl_row_add_int64(out, off % NKEYS);
	fl_row_add_int64(out, 1);
	fl_row_add_int64(out, off);
	return fl_row_add_timestamp(out, ts_of(off, true));
}

/* reduce: counts in field 1 (the rest of the first row kept). */
int wt_sum(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	*out = *acc;
	out->values[1].u.i += fl_row_int64(in, 1);
	return 0;
}

/* aggregate: (count, sum of offsets) -> (count, sum) */
int wt_create(fl_ctx *ctx, fl_row *acc)
{
	fl_row_add_int64(acc, 0);
	return fl_row_add_int64(acc, 0);
}

int wt_add(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	fl_row_add_int64(out, fl_row_int64(acc, 0) + 1);
	return fl_row_add_int64(out, fl_row_int64(acc, 1) + fl_row_int64(in, 2));
}

int wt_result(fl_ctx *ctx, const fl_row *acc, fl_row *out)
{
	*out = *acc;
	return 0;
}

/* (key, start, end, count, sum): the key from the context. */
int wt_window(fl_ctx *ctx, int64_t start, int64_t end, const fl_row *result, fl_collector *out)
{
	fl_row key, r = {0};
	int rc = fl_ctx_current_key(ctx, &key);
	if (rc)
		return rc;
	fl_row_add_int64(&r, fl_row_int64(&key, 0));
	fl_row_add_int64(&r, start);
	fl_row_add_int64(&r, end);
	/* reduce's accumulator is (key, count, offset); the aggregate's
	 * result (count, sum). */
	bool reduced = result->nfields == 4;
	fl_row_add_int64(&r, fl_row_int64(result, reduced ? 1 : 0));
	fl_row_add_int64(&r, reduced ? -1 : fl_row_int64(result, 1));
	return fl_collect(out, &r);
}

/* process over all records: (key, start, end, count, sum of offsets); a
 * key's records must come in arrival order, which is offset order for the
 * one generator subtask (wt_all_order: checked). */
static _Atomic int64_t n_disorder;
static bool wt_all_order;
int wt_all(fl_ctx *ctx, int64_t start, int64_t end, fl_window_records *records, fl_collector *out);
int wt_all(fl_ctx *ctx, int64_t start, int64_t end, fl_window_records *records, fl_collector *out)
{
	fl_row key, in, r = {0};
	int rc = fl_ctx_current_key(ctx, &key);
	if (rc)
		return rc;
	int64_t count = 0, sum = 0, last = -1;
	while ((rc = fl_window_records_next(records, &in)) == 1) {
		int64_t off = fl_row_int64(&in, 2);
		if (wt_all_order && off <= last)
			atomic_fetch_add(&n_disorder, 1);
		last = off;
		count++;
		sum += off;
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

const fl_window_spec WT_TUMBLING = {
    .kind = FL_WINDOW_TUMBLING, .size_ms = 100, .reduce = wt_sum, .window_fn = wt_window};
const fl_window_spec WT_SLIDING = {.kind = FL_WINDOW_SLIDING,
				   .size_ms = 300,
				   .slide_ms = 100,
				   .agg = {.create = wt_create, .add = wt_add, .result = wt_result},
				   .window_fn = wt_window};
const fl_window_spec WT_LATE_KEPT = {.kind = FL_WINDOW_TUMBLING,
				     .size_ms = 100,
				     .allowed_lateness_ms = 2000,
				     .reduce = wt_sum,
				     .window_fn = wt_window};
const fl_window_spec WT_LATE_DROPPED = {.kind = FL_WINDOW_TUMBLING,
					.size_ms = 100,
					.allowed_lateness_ms = 300,
					.reduce = wt_sum,
					.window_fn = wt_window};
static _Atomic int64_t n_padded;
int wt_padd(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out);
int wt_padd(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	atomic_fetch_add(&n_padded, 1);
	return wt_add(ctx, acc, in, out);
}
const fl_window_spec WT_PROC = {.kind = FL_WINDOW_TUMBLING,
				.time = FL_PROCESSING_TIME,
				.size_ms = 100,
				.agg = {.create = wt_create, .add = wt_padd, .result = wt_result},
				.window_fn = wt_window};

/* What fired, per key and window start: the last count and sum, and how
 * many times. */
static _Atomic int64_t got_count[NKEYS][MAXW], got_sum[NKEYS][MAXW], got_fires[NKEYS][MAXW];
static _Atomic int64_t n_out, n_bad;
static int64_t win_size;

int wt_check(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	int64_t k = fl_row_int64(in, 0), start = fl_row_int64(in, 1), end = fl_row_int64(in, 2);
	if (k < 0 || k >= NKEYS || start < 0 || start / 50 >= MAXW || end != start + win_size)
		atomic_fetch_add(&n_bad, 1);
	else {
		atomic_store(&got_count[k][start / 50], fl_row_int64(in, 3));
		atomic_store(&got_sum[k][start / 50], fl_row_int64(in, 4));
		atomic_fetch_add(&got_fires[k][start / 50], 1);
	}
	atomic_fetch_add(&n_out, 1);
	return 0;
}

static void reset(int64_t size)
{
	win_size = size;
	for (int k = 0; k < NKEYS; k++)
		for (int w = 0; w < MAXW; w++) {
			atomic_store(&got_count[k][w], 0);
			atomic_store(&got_sum[k][w], 0);
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
	/* One TaskManager per subtask (a job of one slot on two TaskManagers
	 * fails its deployment on the mini cluster: see the README's traps). */
	assert_int_equal(fl_env_set_config(env, "local.number-taskmanager", p > 1 ? "2" : "1"), 0);
	assert_int_equal(fl_env_set_config(env, "pipeline.auto-watermark-interval", "1 ms"), 0);
	assert_int_equal(fl_env_set_config(env, "state.backend.type", backend), 0);
	return env;
}

/* The late records a window's side output delivered: their offsets, and
 * how many had another timestamp than their own. */
static _Atomic int64_t late_seen[NREC], n_late_out, n_late_bad_ts;

int wt_late_check(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int wt_late_check(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	int64_t off = fl_row_int64(in, 2);
	if (off >= 0 && off < NREC)
		atomic_fetch_add(&late_seen[off], 1);
	if (fl_ctx_timestamp(ctx) != fl_row_int64(in, 3))
		atomic_fetch_add(&n_late_bad_ts, 1);
	atomic_fetch_add(&n_late_out, 1);
	return 0;
}

/* Runs generator gen (one subtask, rate records/s) -> event time with a
 * 50 ms bound -> key_by -> window(spec) -> key_by -> wt_check; with
 * late_side, the window's late records -> wt_late_check. */
static void run_with(const char *backend, fl_generator_fn gen, double rate,
		     const fl_window_spec *spec, bool late_side)
{
	reset(spec->size_ms);
	for (int64_t i = 0; i < NREC; i++)
		atomic_store(&late_seen[i], 0);
	atomic_store(&n_late_out, 0);
	atomic_store(&n_late_bad_ts, 0);
	fl_env *env = env_with(2, backend);
	fl_stream *s = fl_set_parallelism(fl_generator(env, NREC, rate, gen), 1);
	fl_watermark_strategy ws = {
	    .kind = FL_WATERMARK_BOUNDED, .out_of_orderness_ms = 50, .timestamp_field = 3};
	s = fl_assign_timestamps_and_watermarks(s, &ws);
	s = fl_window(fl_key_by(s, 0), spec);
	if (late_side)
		fl_discard(fl_process(fl_key_by(fl_window_late_records(s), 0), wt_late_check));
	fl_discard(fl_process(fl_key_by(s, 0), wt_check));
	int rc = fl_execute(env, "windows");
	if (rc)
		fail_msg("job: %s", fl_env_error(env));
	fl_env_free(env);
}

static void run(const char *backend, fl_generator_fn gen, double rate, const fl_window_spec *spec)
{
	run_with(backend, gen, rate, spec, false);
}

/* The reference of window size/slide over the generator (late: with the
 * late records, which count only when keep_late). */
static void expect(int64_t size, int64_t slide, bool late, bool keep_late, bool sums)
{
	static int64_t count[NKEYS][MAXW], sum[NKEYS][MAXW];
	memset(count, 0, sizeof(count));
	memset(sum, 0, sizeof(sum));
	int64_t refires = 0;
	for (int64_t off = 0; off < NREC; off++) {
		if (late && is_late(off)) {
			if (!keep_late)
				continue;
			refires++;
		}
		int64_t ts = ts_of(off, late);
		for (int64_t start = ts - ts % slide; start > ts - size; start -= slide) {
			count[off % NKEYS][start / 50]++;
			sum[off % NKEYS][start / 50] += off;
		}
	}
	int64_t windows = 0;
	for (int k = 0; k < NKEYS; k++)
		for (int w = 0; w < MAXW; w++) {
			if (count[k][w])
				windows++;
			if (atomic_load(&got_count[k][w]) != count[k][w] ||
			    (sums && atomic_load(&got_sum[k][w]) != sum[k][w]))
				fail_msg("key %d window at %d ms: count %lld sum %lld, expected "
					 "%lld %lld",
					 k, w * 50, (long long)atomic_load(&got_count[k][w]),
					 (long long)atomic_load(&got_sum[k][w]),
					 (long long)count[k][w], (long long)sum[k][w]);
		}
	assert_int_equal(atomic_load(&n_bad), 0);
	/* Once per window; a late record kept fires its window once more. */
	assert_true(!late || !keep_late || refires > 0);
	assert_int_equal(atomic_load(&n_out), windows + refires);
}

static void test_tumbling_event_time_reduce_exact(void **state)
{
	run("hashmap", wt_gen, 0, &WT_TUMBLING);
	expect(100, 100, false, false, false);
	run("lmdb", wt_gen, 20000, &WT_TUMBLING);
	expect(100, 100, false, false, false);
}

static void test_sliding_event_time_aggregate_exact(void **state)
{
	run("hashmap", wt_gen, 20000, &WT_SLIDING);
	expect(300, 100, false, false, true);
}

/* The watermark passed each late record's window (and its cleanup, at a
 * lateness of 300 ms) before the record arrives (wt_gen_late): a lateness
 * of 2000 ms keeps the windows and re-fires them with the late record;
 * 300 ms drops the records. */
static void test_allowed_lateness_refires_or_drops(void **state)
{
	run("hashmap", wt_gen_late, 20000, &WT_LATE_KEPT);
	expect(100, 100, true, true, false);
	run("hashmap", wt_gen_late, 20000, &WT_LATE_DROPPED);
	expect(100, 100, true, false, false);
}

/* The dropped records go to the window's late records when the job asks:
 * exactly the late offsets, once each, with their own timestamps; the
 * windows are as when they are dropped. */
static void test_late_records_to_a_side_output(void **state)
{
	run_with("hashmap", wt_gen_late, 20000, &WT_LATE_DROPPED, true);
	expect(100, 100, true, false, false);
	int64_t want = 0;
	for (int64_t off = 0; off < NREC; off++) {
		want += is_late(off);
		if (atomic_load(&late_seen[off]) != (is_late(off) ? 1 : 0))
			fail_msg("offset %lld reached the late records %lld times", (long long)off,
				 (long long)atomic_load(&late_seen[off]));
	}
	assert_true(want > 0);
	assert_int_equal(atomic_load(&n_late_out), want);
	assert_int_equal(atomic_load(&n_late_bad_ts), 0);
	/* Refused: late records of anything but an event-time window. */
	fl_env *env = env_with(1, "hashmap");
	fl_stream *s = fl_generator(env, 10, 0, wt_gen);
	assert_null(fl_window_late_records(s));
	assert_non_null(strstr(fl_env_error(env), "needs the stream fl_window() returned"));
	fl_env_free(env);
	env = env_with(1, "hashmap");
	s = fl_window(fl_key_by(fl_generator(env, 10, 0, wt_gen), 0), &WT_PROC);
	assert_null(fl_window_late_records(s));
	assert_non_null(strstr(fl_env_error(env), "processing-time windows have no late records"));
	fl_env_free(env);
}

/* ------------------------------------------------------------- sessions */

/* Bursts of 100 records every 5 s, 14 ms apart plus up to 39 ms of
 * disorder: per key (7), a record every 98 ms +- 39 within a burst, so with
 * a gap of 100 ms a burst splits into several sessions per key, and records
 * arriving out of order bridge two sessions into one (session-to-session
 * merges), besides extending one. */
#define SESSION_GAP 100
static int64_t session_ts(int64_t off)
{
	return (off / 100) * 5000 + (off % 100) * 14 + (off * 7919) % 40;
}

int wt_sgen(fl_ctx *ctx, int64_t off, fl_row *out);
int wt_sgen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, off % NKEYS);
	fl_row_add_int64(out, 1);
	fl_row_add_int64(out, off);
	return fl_row_add_timestamp(out, session_ts(off));
}

int wt_merge(fl_ctx *ctx, const fl_row *a, const fl_row *b, fl_row *out);
int wt_merge(fl_ctx *ctx, const fl_row *a, const fl_row *b, fl_row *out)
{
	fl_row_add_int64(out, fl_row_int64(a, 0) + fl_row_int64(b, 0));
	return fl_row_add_int64(out, fl_row_int64(a, 1) + fl_row_int64(b, 1));
}

typedef struct session {
	int64_t key, start, end, count, sum;
} session;
#define MAX_OUT 4096
static session sess_out[MAX_OUT];
static _Atomic int64_t n_sess;

int wt_scheck(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int wt_scheck(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	int64_t i = atomic_fetch_add(&n_sess, 1);
	if (i < MAX_OUT)
		sess_out[i] =
		    (session){fl_row_int64(in, 0), fl_row_int64(in, 1), fl_row_int64(in, 2),
			      fl_row_int64(in, 3), fl_row_int64(in, 4)};
	if (fl_ctx_timestamp(ctx) != fl_row_int64(in, 2) - 1)
		atomic_fetch_add(&n_bad, 1);
	return 0;
}

static int by_session(const void *a, const void *b)
{
	const session *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

static int by_ts(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void run_sessions(const char *backend, const fl_window_spec *spec, bool sums)
{
	atomic_store(&n_sess, 0);
	atomic_store(&n_bad, 0);
	fl_env *env = env_with(2, backend);
	fl_stream *s = fl_set_parallelism(fl_generator(env, NREC, 0, wt_sgen), 1);
	fl_watermark_strategy ws = {
	    .kind = FL_WATERMARK_BOUNDED, .out_of_orderness_ms = 50, .timestamp_field = 3};
	s = fl_assign_timestamps_and_watermarks(s, &ws);
	s = fl_window(fl_key_by(s, 0), spec);
	fl_discard(fl_process(fl_key_by(s, 0), wt_scheck));
	int rc = fl_execute(env, "sessions");
	if (rc)
		fail_msg("job: %s", fl_env_error(env));
	fl_env_free(env);
	/* The reference: per key, its times sorted, split where the next is
	 * more than the gap after (touching windows merge). */
	static session want[MAX_OUT];
	static int64_t ts[NREC], offs_sum[NREC];
	size_t nw = 0;
	for (int k = 0; k < NKEYS; k++) {
		size_t n = 0;
		for (int64_t off = k; off < NREC; off += NKEYS)
			ts[n++] = session_ts(off) * NREC + off; /* sorted by time, offset kept */
		qsort(ts, n, sizeof(ts[0]), by_ts);
		for (size_t i = 0; i < n; i++) {
			int64_t t = ts[i] / NREC, off = ts[i] % NREC;
			if (i == 0 || t - (ts[i - 1] / NREC) > SESSION_GAP) {
				assert_true(nw < MAX_OUT);
				want[nw++] = (session){k, t, t + SESSION_GAP, 0, 0};
			}
			want[nw - 1].end = t + SESSION_GAP;
			want[nw - 1].count++;
			want[nw - 1].sum += off;
		}
	}
	(void)offs_sum;
	int64_t got = atomic_load(&n_sess);
	assert_true(got <= MAX_OUT);
	qsort(sess_out, (size_t)got, sizeof(sess_out[0]), by_session);
	assert_int_equal(got, nw);
	for (size_t i = 0; i < nw; i++)
		if (sess_out[i].key != want[i].key || sess_out[i].start != want[i].start ||
		    sess_out[i].end != want[i].end || sess_out[i].count != want[i].count ||
		    (sums && sess_out[i].sum != want[i].sum))
			fail_msg(
			    "session %zu: key %lld [%lld, %lld) count %lld sum %lld, expected key "
			    "%lld [%lld, %lld) count %lld sum %lld",
			    i, (long long)sess_out[i].key, (long long)sess_out[i].start,
			    (long long)sess_out[i].end, (long long)sess_out[i].count,
			    (long long)sess_out[i].sum, (long long)want[i].key,
			    (long long)want[i].start, (long long)want[i].end,
			    (long long)want[i].count, (long long)want[i].sum);
	assert_int_equal(atomic_load(&n_bad), 0);
}

/* Flink's ProcessWindowFunction alone: every record of each window, in
 * order, on both backends, tumbling and sliding. */
static void test_a_process_function_gets_every_record(void **state)
{
	fl_window_spec tumbling = {.kind = FL_WINDOW_TUMBLING, .size_ms = 100, .process = wt_all};
	fl_window_spec sliding = {
	    .kind = FL_WINDOW_SLIDING, .size_ms = 300, .slide_ms = 100, .process = wt_all};
	wt_all_order = true;
	atomic_store(&n_disorder, 0);
	run("hashmap", wt_gen, 0, &tumbling);
	expect(100, 100, false, false, true);
	run("lmdb", wt_gen, 20000, &sliding);
	expect(300, 100, false, false, true);
	assert_int_equal(atomic_load(&n_disorder), 0);
	wt_all_order = false;
}

static void test_session_windows_merge_exactly(void **state)
{
	fl_window_spec reduce = {.kind = FL_WINDOW_SESSION,
				 .gap_ms = SESSION_GAP,
				 .reduce = wt_sum,
				 .window_fn = wt_window};
	run_sessions("hashmap", &reduce, false);
	fl_window_spec agg = {
	    .kind = FL_WINDOW_SESSION,
	    .gap_ms = SESSION_GAP,
	    .agg = {.create = wt_create, .add = wt_add, .merge = wt_merge, .result = wt_result},
	    .window_fn = wt_window};
	run_sessions("lmdb", &agg, true);
	/* Merging sessions move their records. */
	fl_window_spec all = {.kind = FL_WINDOW_SESSION, .gap_ms = SESSION_GAP, .process = wt_all};
	run_sessions("hashmap", &all, true);
	run_sessions("lmdb", &all, true);
}

/* ------------------------------------------------------ processing time */

#define PRECS 700
static char clock_path[256];
static _Atomic int64_t n_pfired;

int wt_pgen(fl_ctx *ctx, int64_t off, fl_row *out);
int wt_pcheck(fl_ctx *ctx, const fl_row *in, fl_collector *out);

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

/* Before its last record, the source waits until the window operator added
 * every record before it (no buffer timeout, paced: each is flushed),
 * moves the clock past the window [1000, 1100) and waits for every key's
 * window to fire: pending processing-time windows would be dropped at the
 * end of the input. */
int wt_pgen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	if (off == PRECS - 1) {
		if (!await_count(&n_padded, PRECS - 1))
			return fl_fail(ctx, "the records never reached the window");
		set_clock(1150);
		if (!await_count(&n_pfired, NKEYS))
			return fl_fail(ctx, "the processing-time windows never fired");
	}
	fl_row_add_int64(out, off % NKEYS);
	fl_row_add_int64(out, 1);
	fl_row_add_int64(out, off);
	return fl_row_add_timestamp(out, 0);
}

int wt_pcheck(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	int rc = wt_check(ctx, in, out);
	if (fl_ctx_timestamp(ctx) != INT64_MIN)
		atomic_fetch_add(&n_bad, 1);
	atomic_fetch_add(&n_pfired, 1);
	return rc;
}

static void test_processing_time_windows_fire_on_the_clock(void **state)
{
	snprintf(clock_path, sizeof(clock_path), "%s/window-clock-%d",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	set_clock(1000);
	setenv("FLINC_FAKE_CLOCK_FILE", clock_path, 1);
	reset(100);
	atomic_store(&n_pfired, 0);
	atomic_store(&n_padded, 0);
	fl_env *env = env_with(2, "hashmap");
	assert_int_equal(fl_env_set_config(env, "execution.buffer-timeout", "0 ms"), 0);
	fl_stream *s = fl_set_parallelism(fl_generator(env, PRECS, 100000, wt_pgen), 1);
	s = fl_window(fl_key_by(s, 0), &WT_PROC);
	fl_discard(fl_process(fl_key_by(s, 0), wt_pcheck));
	int rc = fl_execute(env, "processing-time windows");
	unsetenv("FLINC_FAKE_CLOCK_FILE");
	unlink(clock_path);
	if (rc)
		fail_msg("job: %s", fl_env_error(env));
	fl_env_free(env);
	/* The last record came after the clock moved: it is in the window
	 * [1100, 1200), which never fired (dropped at the end). */
	for (int k = 0; k < NKEYS; k++) {
		int64_t want = 0;
		for (int64_t off = 0; off < PRECS - 1; off++)
			want += off % NKEYS == k;
		assert_int_equal(atomic_load(&got_count[k][1000 / 50]), want);
		assert_int_equal(atomic_load(&got_fires[k][1000 / 50]), 1);
	}
	assert_int_equal(atomic_load(&n_out), NKEYS);
	assert_int_equal(atomic_load(&n_bad), 0);
}

/* ------------------------------------------------------------ refusals */

const fl_window_spec WT_ZERO = {.kind = FL_WINDOW_TUMBLING, .size_ms = 0, .reduce = wt_sum};
const fl_window_spec WT_WIDE_SLIDE = {
    .kind = FL_WINDOW_SLIDING, .size_ms = 100, .slide_ms = 200, .reduce = wt_sum};
const fl_window_spec WT_BOTH = {.kind = FL_WINDOW_TUMBLING,
				.size_ms = 100,
				.reduce = wt_sum,
				.agg = {.create = wt_create, .add = wt_add, .result = wt_result}};
const fl_window_spec WT_NO_GAP = {.kind = FL_WINDOW_SESSION, .reduce = wt_sum};
const fl_window_spec WT_NO_MERGE = {
    .kind = FL_WINDOW_SESSION,
    .gap_ms = 10,
    .agg = {.create = wt_create, .add = wt_add, .result = wt_result}};
const fl_window_spec WT_NEG_LATE = {
    .kind = FL_WINDOW_TUMBLING, .size_ms = 100, .allowed_lateness_ms = -1, .reduce = wt_sum};
static int wt_static_sum(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	return wt_sum(ctx, acc, in, out);
}
const fl_window_spec WT_STATIC = {
    .kind = FL_WINDOW_TUMBLING, .size_ms = 100, .reduce = wt_static_sum};

static void refused(const fl_window_spec *spec, bool keyed, const char *msg)
{
	fl_env *env = env_with(1, "hashmap");
	fl_stream *s = fl_generator(env, 10, 0, wt_gen);
	assert_null(fl_window(keyed ? fl_key_by(s, 0) : s, spec));
	if (!strstr(fl_env_error(env), msg))
		fail_msg("'%s' does not say '%s'", fl_env_error(env), msg);
	fl_env_free(env);
}

static const fl_state_desc SESSIONS_CLASH = {.name = "_window_sessions"};

int wt_clash(fl_ctx *ctx, int64_t start, int64_t end, const fl_row *result, fl_collector *out);
int wt_clash(fl_ctx *ctx, int64_t start, int64_t end, const fl_row *result, fl_collector *out)
{
	fl_value_state *v = fl_get_state(ctx, &SESSIONS_CLASH);
	return v ? fl_value_state_update(v, result) : FL_EINVAL;
}

static void test_bad_windows_are_refused_naming_what_is_wrong(void **state)
{
	/* A window function's keyed state named like the sessions' own is
	 * refused, never shared with them. */
	fl_env *cenv = env_with(1, "hashmap");
	fl_stream *cs = fl_generator(cenv, 10, 0, wt_sgen);
	fl_watermark_strategy cws = {.kind = FL_WATERMARK_BOUNDED, .timestamp_field = 3};
	fl_window_spec clash = {.kind = FL_WINDOW_SESSION,
				.gap_ms = SESSION_GAP,
				.reduce = wt_sum,
				.window_fn = wt_clash};
	fl_discard(fl_window(fl_key_by(fl_assign_timestamps_and_watermarks(cs, &cws), 0), &clash));
	assert_int_equal(fl_execute(cenv, "clash"), FL_EJOBFAILED);
	if (!strstr(fl_env_error(cenv), "_window_sessions"))
		fail_msg("'%s' does not name the state", fl_env_error(cenv));
	fl_env_free(cenv);

	refused(&WT_ZERO, true, "window: size_ms must be > 0, not 0");
	refused(&WT_WIDE_SLIDE, true,
		"slide_ms of a sliding window must be > 0 and <= size_ms, not 200");
	refused(&WT_BOTH, true, "both reduce and agg are set");
	refused(&WT_NEG_LATE, true, "allowed_lateness_ms must be >= 0, not -1");
	refused(&WT_NO_GAP, true, "gap_ms of a session window must be > 0, not 0");
	refused(&WT_NO_MERGE, true, "session windows with agg need agg.merge");
	refused(&WT_TUMBLING, false, "window: needs a keyed stream");
	refused(&(fl_window_spec){.kind = FL_WINDOW_TUMBLING,
				  .size_ms = 100,
				  .reduce = wt_sum,
				  .process = wt_all},
		true, "process takes all of a window's records: give it without reduce");
	refused(&WT_STATIC, true, "window reduce: the function at");
	/* Event-time windows on records without timestamps fail the job. */
	fl_env *env = env_with(1, "hashmap");
	fl_discard(fl_window(fl_key_by(fl_generator(env, 10, 0, wt_gen), 0), &WT_TUMBLING));
	assert_int_equal(fl_execute(env, "no timestamps"), FL_EJOBFAILED);
	assert_non_null(strstr(fl_env_error(env),
			       "a record without a timestamp: event-time windows "
			       "need fl_assign_timestamps_and_watermarks()"));
	fl_env_free(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tumbling_event_time_reduce_exact),
	    cmocka_unit_test(test_sliding_event_time_aggregate_exact),
	    cmocka_unit_test(test_allowed_lateness_refires_or_drops),
	    cmocka_unit_test(test_late_records_to_a_side_output),
	    cmocka_unit_test(test_a_process_function_gets_every_record),
	    cmocka_unit_test(test_session_windows_merge_exactly),
	    cmocka_unit_test(test_processing_time_windows_fire_on_the_clock),
	    cmocka_unit_test(test_bad_windows_are_refused_naming_what_is_wrong),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
