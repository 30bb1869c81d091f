/*
 * bench_timers — issue #9's figures for timers and windows:
 *   1. the timer service alone (timer_service.h): timers registered and
 *      fired per second, one per key (keys distinct, times spread), on the
 *      heap and on LMDB: what a keyed process function's timers cost
 *      beneath the user's functions;
 *   2. jobs on the local cluster, parallelism 1, one TaskManager: a
 *      generator of (offset % keys, 1) with event time = offset (ms) and a
 *      bounded watermark of 100 ms -> key_by -> window -> discard, for a
 *      tumbling 1 s count (reduce) and a sliding 10 s / 1 s aggregate (a
 *      record in 10 windows), heap and LMDB: records/s (wall) and CPU ns
 *      per record (every thread of the process); then the tumbling count
 *      with a count trigger of 100 (a firing per 100 records of a window,
 *      its trigger state read and written per record) and with a count
 *      evictor of 100 (every record kept, the reduce run over the last 100
 *      when the window fires), heap only.
 * Figures only, on whatever machine runs it.
 *
 *   bench_timers [timers [records [keys [only]]]]   (default 1 M, 5 M, 100 K, all)
 * only: run the benchmarks whose name and backend hold it, e.g.
 * "tumbling 1 s count hashmap" (for a profiler).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <flinc/flinc.h>

#include "common/err.h"
#include "state/backend.h"
#include "taskmanager/timer_service.h"
#include "types/codec.h"
#include "types/keygroup.h"

static double now_s(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench_service(const char *type, int64_t n)
{
	st_backend_config bc = {.max_parallelism = 128, .name = "bench", .dir = getenv("TMPDIR")};
	st_backend *b;
	tm_timers *t;
	cm_err err = {0};
	if (st_backend_new(type, &bc, &b, &err) != 0 ||
	    tm_timers_new(b, "bench", (size_t)n + 1, &t, &err) != 0) {
		fprintf(stderr, "bench_timers: %s\n", err.msg);
		exit(1);
	}
	double t0 = now_s(CLOCK_MONOTONIC);
	for (int64_t i = 0; i < n; i++) {
		fl_row k = {0};
		fl_row_add_int64(&k, i);
		uint8_t kb[32];
		size_t kl = row_encode(&k, kb, sizeof(kb));
		if (tm_timers_register(t, TM_TIMER_EVENT, (i * 7919) % 1000003, kb, kl,
				       kg_murmur3_32(kb, kl, 0), NULL, 0) != 0) {
			fprintf(stderr, "bench_timers: %s\n", tm_timers_error(t)->msg);
			exit(1);
		}
	}
	double t1 = now_s(CLOCK_MONOTONIC);
	tm_timer tm;
	int64_t fired = 0;
	while (tm_timers_pop(t, TM_TIMER_EVENT, INT64_MAX, &tm) == 1)
		fired++;
	double t2 = now_s(CLOCK_MONOTONIC);
	printf("timer service %-8s %lld timers: registered %.2f M/s, fired %.2f M/s\n", type,
	       (long long)fired, (double)n / (t1 - t0) / 1e6, (double)fired / (t2 - t1) / 1e6);
	tm_timers_free(t);
	st_backend_free(b);
}

int bt_gen(fl_ctx *ctx, int64_t off, fl_row *out);
int bt_sum(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out);
int bt_create(fl_ctx *ctx, fl_row *acc);
int bt_add(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out);
int bt_result(fl_ctx *ctx, const fl_row *acc, fl_row *out);

static int64_t keys = 100000;
/* Runs only the benchmarks whose "what backend" holds this (NULL: all). */
static const char *only;

static bool selected(const char *what, const char *backend)
{
	char name[160];
	snprintf(name, sizeof(name), "%s %s", what, backend);
	return !only || strstr(name, only);
}

/* Functions run in the same process here (the local cluster), so the key
 * count may be a variable. */
int bt_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	out->nfields = 3;
	out->types[0] = FL_INT64;
	out->values[0].u.i = off % keys;
	out->types[1] = FL_INT64;
	out->values[1].u.i = 1;
	out->types[2] = FL_INT64;
	out->values[2].u.i = off / 10; /* 10 records per ms */
	return 0;
}

int bt_sum(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	*out = *acc;
	out->values[1].u.i += in->values[1].u.i;
	return 0;
}

int bt_create(fl_ctx *ctx, fl_row *acc)
{
	return fl_row_add_int64(acc, 0);
}

int bt_add(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	return fl_row_add_int64(out, acc->values[0].u.i + in->values[1].u.i);
}

int bt_result(fl_ctx *ctx, const fl_row *acc, fl_row *out)
{
	*out = *acc;
	return 0;
}

static void bench_job(const char *what, const char *backend, const fl_window_spec *spec,
		      int64_t records)
{
	if (!selected(what, backend))
		return;
	fl_env *env = fl_env_new(0, NULL);
	fl_env_set_parallelism(env, 1);
	fl_env_set_config(env, "state.backend.type", backend);
	fl_stream *s = fl_generator(env, records, 0, bt_gen);
	fl_watermark_strategy ws = {
	    .kind = FL_WATERMARK_BOUNDED, .out_of_orderness_ms = 100, .timestamp_field = 2};
	s = fl_assign_timestamps_and_watermarks(s, &ws);
	fl_discard(fl_window(fl_key_by(s, 0), spec));
	double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	int rc = fl_execute(env, what);
	double w1 = now_s(CLOCK_MONOTONIC), c1 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	if (rc) {
		fprintf(stderr, "bench_timers: %s: %s\n", what, fl_env_error(env));
		exit(1);
	}
	printf("%-28s %-8s %lld records, %lld keys: %.2f M records/s, %.0f CPU ns/record\n", what,
	       backend, (long long)records, (long long)keys, (double)records / (w1 - w0) / 1e6,
	       (c1 - c0) * 1e9 / (double)records);
	fl_env_free(env);
}

int main(int argc, char **argv)
{
	int64_t ntimers = argc > 1 ? atoll(argv[1]) : 1000000;
	int64_t records = argc > 2 ? atoll(argv[2]) : 5000000;
	if (argc > 3)
		keys = atoll(argv[3]);
	if (argc > 4)
		only = argv[4];
	if (ntimers <= 0 || records <= 0 || keys <= 0) {
		fprintf(stderr, "usage: bench_timers [timers [records [keys [only]]]]\n");
		return 2;
	}
	if (selected("timer service", "hashmap"))
		bench_service("hashmap", ntimers);
	if (selected("timer service", "lmdb"))
		bench_service("lmdb", ntimers);
	fl_window_spec tumbling = {.kind = FL_WINDOW_TUMBLING, .size_ms = 1000, .reduce = bt_sum};
	fl_window_spec sliding = {.kind = FL_WINDOW_SLIDING,
				  .size_ms = 10000,
				  .slide_ms = 1000,
				  .agg = {.create = bt_create, .add = bt_add, .result = bt_result}};
	bench_job("tumbling 1 s count", "hashmap", &tumbling, records);
	bench_job("tumbling 1 s count", "lmdb", &tumbling, records);
	bench_job("sliding 10 s / 1 s aggregate", "hashmap", &sliding, records);
	bench_job("sliding 10 s / 1 s aggregate", "lmdb", &sliding, records);
	fl_window_spec counted = tumbling, evicting = tumbling;
	counted.trigger = (fl_window_trigger){.kind = FL_TRIGGER_COUNT, .count = 100};
	evicting.evictor = (fl_window_evictor){.kind = FL_EVICTOR_COUNT, .count = 100};
	bench_job("tumbling, count trigger 100", "hashmap", &counted, records);
	bench_job("tumbling, count evictor 100", "hashmap", &evicting, records);
	return 0;
}
