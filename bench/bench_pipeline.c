/*
 * bench_pipeline — records/s of two jobs on the local mini cluster:
 *   1. generator -> map -> filter -> discard, chained in one task (one core);
 *   2. generator -> key_by -> sum -> discard at parallelism 2, across the
 *      exchange (local channels with 1 TaskManager, loopback TCP with 2).
 * Prints figures only. Usage: bench_pipeline [records [case]] (default 200M /
 * 50M); case is chained, keyed1 or keyed2 (default: all three), so that a
 * profiler can look at one of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <flinc/flinc.h>

int bp_gen(fl_ctx *ctx, int64_t off, fl_row *out);
int bp_map(fl_ctx *ctx, const fl_row *in, fl_row *out);
int bp_filter(fl_ctx *ctx, const fl_row *in);
int bp_gen_kv(fl_ctx *ctx, int64_t off, fl_row *out);

int bp_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	out->nfields = 1;
	out->types[0] = FL_INT64;
	out->values[0].u.i = off;
	return 0;
}

int bp_map(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	out->nfields = 1;
	out->types[0] = FL_INT64;
	out->values[0].u.i = in->values[0].u.i * 3;
	return 0;
}

int bp_filter(fl_ctx *ctx, const fl_row *in)
{
	return (in->values[0].u.i & 7) != 0;
}

int bp_gen_kv(fl_ctx *ctx, int64_t off, fl_row *out)
{
	out->nfields = 2;
	out->types[0] = FL_INT64;
	out->values[0].u.i = off & 1023;
	out->types[1] = FL_INT64;
	out->values[1].u.i = 1;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void chained(int64_t n)
{
	fl_env *env = fl_env_new(0, NULL);
	fl_env_set_parallelism(env, 1);
	fl_discard(fl_filter(fl_map(fl_generator(env, n, 0, bp_gen), bp_map), bp_filter));
	double t0 = now_s(), c0 = cpu_s();
	int rc = fl_execute(env, "chained");
	double dt = now_s() - t0, dc = cpu_s() - c0;
	printf("chained generator->map->filter->discard, 1 task: %lld records in %.2f s = %.1f M records/s "
	       "(%.1f ns/record, %.2f s CPU)%s\n",
	       (long long)n, dt, (double)n / dt / 1e6, dt * 1e9 / (double)n, dc,
	       rc ? " [JOB FAILED]" : "");
	fl_env_free(env);
}

static void keyed(int64_t n, int tms)
{
	fl_env *env = fl_env_new(0, NULL);
	fl_env_set_parallelism(env, 2);
	fl_env_set_config(env, "local.number-taskmanager", tms == 1 ? "1" : "2");
	fl_discard(fl_sum(fl_key_by(fl_generator(env, n, 0, bp_gen_kv), 0), 1));
	double t0 = now_s(), c0 = cpu_s();
	int rc = fl_execute(env, "keyed");
	double dt = now_s() - t0, dc = cpu_s() - c0;
	printf("generator->key_by->sum->discard, parallelism 2, %d TaskManager(s)%s: %lld records in "
	       "%.2f s = %.1f M records/s (%.2f s CPU)%s\n",
	       tms, tms == 1 ? " (local channels)" : " (loopback TCP)", (long long)n, dt,
	       (double)n / dt / 1e6, dc, rc ? " [JOB FAILED]" : "");
	fl_env_free(env);
}

int main(int argc, char **argv)
{
	int64_t n = argc > 1 ? atoll(argv[1]) : 200000000;
	const char *which = argc > 2 ? argv[2] : "all";
	int all = strcmp(which, "all") == 0;
	if (n <= 0 || (!all && strcmp(which, "chained") != 0 && strcmp(which, "keyed1") != 0 &&
		       strcmp(which, "keyed2") != 0)) {
		fprintf(stderr, "usage: bench_pipeline [records [chained|keyed1|keyed2]]\n");
		return 2;
	}
	if (all || strcmp(which, "chained") == 0)
		chained(n);
	/* the keyed cases take a quarter of the records when all run, as before */
	if (all || strcmp(which, "keyed1") == 0)
		keyed(all ? n / 4 : n, 1);
	if (all || strcmp(which, "keyed2") == 0)
		keyed(all ? n / 4 : n, 2);
	return 0;
}
