/*
 * timer_count.c — a job for the timer tests (issue #9, step 2): a paced
 * generator of (key, event time) rows, key = offset % 40 and event time
 * 1700000000000 + 2 * offset + (offset * 7919 % 1000) (at most 999 ms
 * behind the largest before it), a bounded-out-of-orderness watermark of
 * 1000 ms (so no record is late), key_by(key) → a keyed process function
 * with timers that counts the records of each key per tumbling window of
 * 100 ms of event time in a MapState (window end → count) and registers an
 * event-time timer at each window's end; the timer prints
 *
 *   <key> <window start> <count>
 *
 * and forgets the window. The first record of each key also registers a
 * processing-time timer 500 ms after the time then (the fake clock of
 * FLINC_FAKE_CLOCK_FILE in the tests), which prints
 *
 *   <key> proc <timer time>
 *
 * Everything is keyed state or a timer, so a savepoint taken in the middle
 * and restored at any parallelism prints, with what was printed before it,
 * every window once with its exact count (windows fired between the
 * savepoint and the cancellation print again, identically).
 *
 * --window: the same counts by fl_window (tumbling 100 ms, an aggregate and
 * a window function printing the same lines), without the processing-time
 * timers. --session: session windows of a 100 ms gap instead, their lines
 * `<key> <session start> <count>`.
 *
 * Windows of 1000 ms for the restore tests of issue #9's triggers and
 * evictors, each printing `<key> <window start> <count>` per firing:
 * --sliding (1000 ms every 500 ms), --trigger-count N (tumbling, a count
 * trigger: a line per N records of a window, with its count so far),
 * --evictor-count N (tumbling, a count evictor: min(count, N)), --lateness
 * (tumbling, a bound of 300 ms so that records are late, an allowed
 * lateness of 1000 ms so that none is dropped: each late record fires its
 * window again with its new count). --lateness-ms N: an allowed lateness of
 * N ms on --window's windows (no record is late there: nothing changes but
 * the timers, which a restore across a change of it must keep).
 *
 * --proc: tumbling processing-time windows of 100 ms (the fake clock),
 * their lines `<key> <window start> <count>`, with --count 30000 only
 * (main's arguments never reach the TaskManagers' functions): after those
 * records come one of each key 40 .. 79 (never counted by the tests), whose
 * arrival at the window creates the file $FLINC_FAKE_CLOCK_FILE.k<key>
 * (every record before it on that channel was counted), then two of key 80:
 * before the first the generator waits until the clock reaches 6000,
 * before the second until it reaches 7000, so the test moves the clock
 * while the job still runs (pending processing-time windows are dropped at
 * the end of the input, as in Flink).
 *
 * --proc-each: a keyed process function registering a processing-time
 * timer 20 ms after each record (after the processing time when the record
 * came; a key's timers of one millisecond are one), which prints
 * `<key> proc <timer time>`: no event time, no windows. Every timer is
 * keyed state until it fires, so across a stop-with-savepoint and its
 * restore each line prints at most once.
 *
 *   timer_count.so [--count N] [--rate R] [--window | --session | --sliding
 *       | --trigger-count N | --evictor-count N | --lateness | --proc
 *       | --proc-each] [--lateness-ms N]
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <flinc/flinc.h>

#define KEYS 40
#define WIN 100
#define BASE 1700000000000LL

#define PROC_RECORDS 30000

/* The fake clock's time, or -1. */
static long long fake_clock(void)
{
	const char *path = getenv("FLINC_FAKE_CLOCK_FILE");
	FILE *f = path ? fopen(path, "r") : NULL;
	long long v = -1;
	if (f) {
		if (fscanf(f, "%lld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* Waits until the fake clock reads at least t (a minute at most). */
static int wait_clock(fl_ctx *ctx, long long t)
{
	for (int i = 0; i < 60000 && fake_clock() < t; i++) {
		struct timespec ts = {0, 1000000L};
		nanosleep(&ts, NULL);
	}
	return fake_clock() >= t ? 0 : fl_fail(ctx, "the clock never reached %lld", t);
}

int tc_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, off % KEYS);
	return fl_row_add_timestamp(out, BASE + 2 * off + off * 7919 % 1000);
}

/* tc_gen, then the markers' records and the two that wait for the clock
 * (--proc). */
int tc_proc_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	if (off < PROC_RECORDS)
		return tc_gen(ctx, off, out);
	if (off >= PROC_RECORDS + KEYS) {
		int rc = wait_clock(ctx, off == PROC_RECORDS + KEYS ? 6000 : 7000);
		if (rc)
			return rc;
	}
	int64_t key = off < PROC_RECORDS + KEYS ? KEYS + off - PROC_RECORDS : 2 * KEYS;
	fl_row_add_int64(out, key);
	return fl_row_add_timestamp(out, BASE + 2 * off);
}

int tc_add(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out);

/* tc_add, and a marker's record (keys 40 .. 79) creates its file. */
int tc_proc_add(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	int64_t key = fl_row_int64(in, 0);
	if (key >= KEYS && key < 2 * KEYS) {
		char path[4096];
		snprintf(path, sizeof(path), "%s.k%lld", getenv("FLINC_FAKE_CLOCK_FILE"),
			 (long long)key);
		FILE *f = fopen(path, "w");
		if (!f)
			return fl_fail(ctx, "cannot create %s", path);
		fclose(f);
	}
	return tc_add(ctx, acc, in, out);
}

static const fl_state_desc COUNTS = {.name = "counts"};
static const fl_state_desc SEEN = {.name = "seen"};

int tc_count(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	int64_t ts = fl_ctx_timestamp(ctx);
	int64_t end = ts - ts % WIN + WIN - 1;
	fl_map_state *m = fl_get_map_state(ctx, &COUNTS);
	fl_row k = {0}, v;
	fl_row_add_int64(&k, end);
	int rc = fl_map_state_get(m, &k, &v);
	if (rc < 0)
		return rc;
	fl_row n = {0};
	fl_row_add_int64(&n, (rc ? fl_row_int64(&v, 0) : 0) + 1);
	if ((rc = fl_map_state_put(m, &k, &n)) != 0 ||
	    (rc = fl_ctx_register_event_timer(ctx, end)) != 0)
		return rc;
	fl_value_state *seen = fl_get_state(ctx, &SEEN);
	if ((rc = fl_value_state_get(seen, &v)) != 0)
		return rc < 0 ? rc : 0;
	fl_row one = {0};
	fl_row_add_int64(&one, 1);
	if ((rc = fl_value_state_update(seen, &one)) != 0)
		return rc;
	return fl_ctx_register_processing_timer(ctx, fl_ctx_current_processing_time(ctx) + 500);
}

int tc_fire(fl_ctx *ctx, int64_t time, enum fl_time_domain d, fl_collector *out)
{
	fl_row key, r = {0};
	int rc = fl_ctx_current_key(ctx, &key);
	if (rc)
		return rc;
	fl_row_add_int64(&r, fl_row_int64(&key, 0));
	if (d == FL_PROCESSING_TIME) {
		fl_row_add_string(&r, "proc", 4);
		fl_row_add_int64(&r, time);
		return fl_collect(out, &r);
	}
	fl_map_state *m = fl_get_map_state(ctx, &COUNTS);
	fl_row mk = {0}, v;
	fl_row_add_int64(&mk, time);
	if ((rc = fl_map_state_get(m, &mk, &v)) != 1)
		return rc < 0 ? rc
			      : fl_fail(ctx, "no count for the window ending at %lld",
					(long long)time);
	fl_row_add_int64(&r, time + 1 - WIN);
	fl_row_add_int64(&r, fl_row_int64(&v, 0));
	if ((rc = fl_map_state_remove(m, &mk)) != 0)
		return rc;
	return fl_collect(out, &r);
}

/* --proc-each: a processing-time timer 20 ms after each record, printed
 * by tc_fire as the first record's is. */
int tc_each(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return fl_ctx_register_processing_timer(ctx, fl_ctx_current_processing_time(ctx) + 20);
}

/* The window variant: an aggregate counting, printed as the timers do. */
int tc_create(fl_ctx *ctx, fl_row *acc)
{
	return fl_row_add_int64(acc, 0);
}

int tc_add(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	return fl_row_add_int64(out, fl_row_int64(acc, 0) + 1);
}

int tc_merge(fl_ctx *ctx, const fl_row *a, const fl_row *b, fl_row *out)
{
	return fl_row_add_int64(out, fl_row_int64(a, 0) + fl_row_int64(b, 0));
}

int tc_result(fl_ctx *ctx, const fl_row *acc, fl_row *out)
{
	*out = *acc;
	return 0;
}

int tc_window(fl_ctx *ctx, int64_t start, int64_t end, const fl_row *count, fl_collector *out)
{
	fl_row key, r = {0};
	int rc = fl_ctx_current_key(ctx, &key);
	if (rc)
		return rc;
	fl_row_add_int64(&r, fl_row_int64(&key, 0));
	fl_row_add_int64(&r, start);
	fl_row_add_int64(&r, fl_row_int64(count, 0));
	return fl_collect(out, &r);
}

int main(int argc, char **argv)
{
	int64_t count = 40000;
	double rate = 0;
	bool window = false, session = false, sliding = false, late = false, proc = false;
	bool each = false;
	int64_t trigger_count = 0, evictor_count = 0, lateness_ms = 0;
	for (int i = 1; i < argc; i += 2) {
		if (strcmp(argv[i], "--window") == 0 || strcmp(argv[i], "--session") == 0 ||
		    strcmp(argv[i], "--sliding") == 0 || strcmp(argv[i], "--lateness") == 0 ||
		    strcmp(argv[i], "--proc") == 0) {
			window = true;
			proc = strcmp(argv[i], "--proc") == 0;
			session = strcmp(argv[i], "--session") == 0;
			sliding = strcmp(argv[i], "--sliding") == 0;
			late = strcmp(argv[i], "--lateness") == 0;
			i--;
		} else if (strcmp(argv[i], "--proc-each") == 0) {
			each = true;
			i--;
		} else if (i + 1 >= argc) {
			return 2;
		} else if (strcmp(argv[i], "--count") == 0)
			count = strtoll(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--rate") == 0)
			rate = strtod(argv[i + 1], NULL);
		else if (strcmp(argv[i], "--trigger-count") == 0)
			window = true, trigger_count = strtoll(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--evictor-count") == 0)
			window = true, evictor_count = strtoll(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--lateness-ms") == 0)
			lateness_ms = strtoll(argv[i + 1], NULL, 10);
		else
			return 2;
	}
	fl_env *env = fl_env_new(argc, argv);
	if (!env)
		return 1;
	if (proc && (count != PROC_RECORDS || !getenv("FLINC_FAKE_CLOCK_FILE"))) {
		fprintf(stderr, "--proc needs --count %d and FLINC_FAKE_CLOCK_FILE\n", PROC_RECORDS);
		return 2;
	}
	fl_stream *s = fl_uid(
	    fl_generator(env, proc ? count + KEYS + 2 : count, rate, proc ? tc_proc_gen : tc_gen),
	    "numbers");
	fl_set_parallelism(s, 1);
	fl_watermark_strategy ws = {
	    .kind = FL_WATERMARK_BOUNDED, .out_of_orderness_ms = late ? 300 : 1000,
	    .timestamp_field = 1};
	s = fl_assign_timestamps_and_watermarks(s, &ws);
	fl_process_spec spec = {.process = each ? tc_each : tc_count, .on_timer = tc_fire};
	fl_window_spec ws2 = {
	    .kind = session ? FL_WINDOW_SESSION : FL_WINDOW_TUMBLING,
	    .size_ms = WIN,
	    .gap_ms = WIN,
	    .allowed_lateness_ms = lateness_ms,
	    .agg = {.create = tc_create, .add = tc_add, .merge = tc_merge, .result = tc_result},
	    .window_fn = tc_window};
	if (sliding || late || trigger_count || evictor_count) {
		ws2.kind = sliding ? FL_WINDOW_SLIDING : FL_WINDOW_TUMBLING;
		ws2.size_ms = 10 * WIN;
		ws2.slide_ms = 5 * WIN;
		ws2.allowed_lateness_ms = late ? 10 * WIN : 0;
	}
	if (proc) {
		ws2.time = FL_PROCESSING_TIME;
		ws2.agg.add = tc_proc_add;
	}
	if (trigger_count)
		ws2.trigger = (fl_window_trigger){.kind = FL_TRIGGER_COUNT, .count = trigger_count};
	if (evictor_count)
		ws2.evictor = (fl_window_evictor){.kind = FL_EVICTOR_COUNT, .count = evictor_count};
	fl_stream *keyed = fl_key_by(s, 0);
	fl_print(
	    fl_uid(window ? fl_window(keyed, &ws2) : fl_keyed_process(keyed, &spec), "windows"));
	int rc = fl_execute(env, "TimerCount");
	if (rc)
		fprintf(stderr, "%s\n", fl_env_error(env));
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
