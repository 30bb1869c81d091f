/*
 * Jobs run in-process on the mini cluster, through the same code paths as
 * `flinc run --local`: several TaskManagers exchanging data over loopback,
 * failures, and back-pressure. Runs under ThreadSanitizer too.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/file.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "api/launch.h"
#include "graph/outputs.h"
#include "network/buffer.h"
#include <flinc/flinc.h>

#define NKEYS 97

int mc_gen_kv(fl_ctx *ctx, int64_t off, fl_row *out);
int mc_gen_big(fl_ctx *ctx, int64_t off, fl_row *out);
int mc_fail_at_500(fl_ctx *ctx, const fl_row *in, fl_row *out);
int mc_slow_filter(fl_ctx *ctx, const fl_row *in);
int mc_split(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int mc_add(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out);
int mc_gen_stamped(fl_ctx *ctx, int64_t off, fl_row *out);
int mc_gen_slow_stamped(fl_ctx *ctx, int64_t off, fl_row *out);
int mc_gen_long_key(fl_ctx *ctx, int64_t off, fl_row *out);
int mc_measure_latency(fl_ctx *ctx, const fl_row *in);
int mc_split_ignoring_collect(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int mc_always_fail(fl_ctx *ctx, const fl_row *in, fl_row *out);
int mc_gen_one_field(fl_ctx *ctx, int64_t off, fl_row *out);
int mc_stuck_sleep(fl_ctx *ctx, const fl_row *in, fl_row *out);
int mc_stuck_spin(fl_ctx *ctx, const fl_row *in, fl_row *out);

int mc_gen_kv(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, off % NKEYS);
	return fl_row_add_int64(out, off);
}

static char big[1024];

int mc_gen_big(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, off);
	return fl_row_add_bytes(out, big, sizeof(big));
}

/* Fails at record 12000 the first time (the local cluster's restart
 * test): the same process runs every attempt, so a flag says it did. */
static _Atomic int failed_once;
int mc_fail_once_at_12000(fl_ctx *ctx, const fl_row *in, fl_row *out);
int mc_fail_once_at_12000(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	if (fl_row_int64(in, 1) == 12000 && !atomic_exchange(&failed_once, 1))
		return fl_fail(ctx, "failing once at record 12000");
	*out = *in;
	return 0;
}

int mc_fail_at_500(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	if (fl_row_int64(in, 1) == 500)
		return fl_fail(ctx, "record %lld is poison", (long long)fl_row_int64(in, 1));
	*out = *in;
	return 0;
}

static _Atomic int64_t max_live;

int mc_slow_filter(fl_ctx *ctx, const fl_row *in)
{
	int64_t live = net_buffer_bytes_live();
	int64_t seen = atomic_load(&max_live);
	while (live > seen && !atomic_compare_exchange_weak(&max_live, &seen, live))
		;
	struct timespec ts = {0, 20000};
	nanosleep(&ts, NULL);
	return 1;
}

/* Emits (key, value) and (key, -value). */
int mc_split(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	fl_row r = *in;
	int rc = fl_collect(out, &r);
	if (rc)
		return rc;
	r.values[1].u.i = -r.values[1].u.i;
	return fl_collect(out, &r);
}

int mc_add(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	*out = *acc;
	out->values[1].u.i += fl_row_int64(in, 1) + 1;
	return 0;
}

/* The common C idiom: fl_collect's return value ignored. */
int mc_split_ignoring_collect(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	fl_collect(out, in);
	return 0;
}

int mc_always_fail(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	return fl_fail(ctx, "boom at %lld", (long long)fl_row_int64(in, 0));
}

int mc_gen_one_field(fl_ctx *ctx, int64_t off, fl_row *out)
{
	return fl_row_add_int64(out, off);
}

/* The review's stuck job (D2): subtask 0 fails at its record 100 while
 * subtask 1 sleeps for an hour in a user call at its record 51 (counted
 * per task thread: each subtask reads its own range of offsets). */
static _Atomic bool sleeping, spinning;

/* Waits until flag is set (the other subtask is where the test wants it). */
static void await_flag(_Atomic bool *flag)
{
	while (!atomic_load(flag)) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
}

int mc_stuck_sleep(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	static _Thread_local int64_t seen;
	int64_t v = seen++;
	if (fl_ctx_subtask(ctx) == 0 && v == 100) {
		await_flag(&sleeping);
		return fl_fail(ctx, "bad record %lld", (long long)v);
	}
	if (fl_ctx_subtask(ctx) == 1 && v == 51) {
		atomic_store(&sleeping, true);
		sleep(3600);
	}
	*out = *in;
	return 0;
}

/* A user function no signal interrupts: it spins until the test lets it
 * go (a real one would spin forever). */
static _Atomic bool spin_release;

int mc_stuck_spin(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	static _Thread_local int64_t seen;
	int64_t v = seen++;
	if (fl_ctx_subtask(ctx) == 0 && v == 100) {
		await_flag(&spinning);
		return fl_fail(ctx, "bad record %lld", (long long)v);
	}
	if (fl_ctx_subtask(ctx) == 1 && v == 51) {
		atomic_store(&spinning, true);
		while (!atomic_load(&spin_release))
			;
		atomic_store(&spinning, false);
	}
	*out = *in;
	return 0;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Stamps each record with the wall time it was made. */
int mc_gen_stamped(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, off);
	return fl_row_add_timestamp(out, wall_ms());
}

/* A source whose function itself is slow (no rate limit): 40 ms a record. */
int mc_gen_slow_stamped(fl_ctx *ctx, int64_t off, fl_row *out)
{
	struct timespec ts = {0, 40 * 1000000L};
	nanosleep(&ts, NULL);
	return mc_gen_stamped(ctx, off, out);
}

/* Keys of 2000 bytes: 5 distinct, told apart by their last byte. */
static char long_keys[5][2000];

int mc_gen_long_key(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_string(out, long_keys[off % 5], sizeof(long_keys[0]));
	return fl_row_add_int64(out, 1);
}

static _Atomic int64_t max_latency, latency_records;

int mc_measure_latency(fl_ctx *ctx, const fl_row *in)
{
	int64_t lat = wall_ms() - fl_row_int64(in, 1);
	int64_t seen = atomic_load(&max_latency);
	while (lat > seen && !atomic_compare_exchange_weak(&max_latency, &seen, lat))
		;
	atomic_fetch_add(&latency_records, 1);
	return 1;
}

/* Reads every "a<TAB>b" line of the part files in dir: counts lines and
 * keeps the largest b per a (a < NKEYS; sums, so the final one). */
static size_t read_parts(const char *dir, int64_t *last)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t lines = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "part-", 5) != 0)
			continue;
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "r");
		assert_non_null(f);
		long long a, b;
		while (fscanf(f, "%lld\t%lld\n", &a, &b) == 2) {
			assert_true(a >= 0 && a < NKEYS);
			if (b > last[a]) /* sums only grow: the largest is the last */
				last[a] = b;
			lines++;
		}
		fclose(f);
	}
	closedir(d);
	return lines;
}

static char *temp_dir(void)
{
	char *t = strdup("/tmp/flinc-mc-XXXXXX");
	assert_non_null(mkdtemp(t));
	return t;
}

static void remove_dir(char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(dir);
}

static fl_env *env_with(int p, int tms, const char *mode)
{
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	char buf[16];
	snprintf(buf, sizeof(buf), "%d", tms);
	assert_int_equal(fl_env_set_parallelism(env, p), 0);
	assert_int_equal(fl_env_set_config(env, "local.number-taskmanager", buf), 0);
	assert_int_equal(fl_env_set_config(env, "execution.runtime-mode", mode), 0);
	return env;
}

static void expect_sums(const int64_t *last, int64_t n)
{
	for (int k = 0; k < NKEYS; k++) {
		int64_t want = 0;
		for (int64_t off = k; off < n; off += NKEYS)
			want += off;
		assert_int_equal(last[k], want);
	}
}

static void test_keyed_sum_across_two_taskmanagers_is_exact(void **state)
{
	const int64_t n = 20000;
	char *dir = temp_dir();
	fl_env *env = env_with(2, 2, "BATCH");
	fl_write_text(fl_sum(fl_key_by(fl_generator(env, n, 0, mc_gen_kv), 0), 1), dir);
	assert_int_equal(fl_execute(env, "sum"), 0);
	int64_t last[NKEYS] = {0};
	assert_int_equal(read_parts(dir, last), NKEYS); /* batch: one line per key */
	expect_sums(last, n);
	fl_env_free(env);
	remove_dir(dir);
}

/* Control over NNG (as separate processes talk), checkpoints every 20 ms
 * into dir/ckp. */
static void checkpoints_over_nng(fl_env *env, const char *dir)
{
	assert_int_equal(fl_env_set_config(env, "local.rpc-transport", "NNG"), 0);
	assert_int_equal(fl_env_set_config(env, "execution.checkpointing.interval", "20 ms"), 0);
	char ckp[4200];
	snprintf(ckp, sizeof(ckp), "file://%s/ckp", dir);
	assert_int_equal(fl_env_set_config(env, "execution.checkpointing.dir", ckp), 0);
}

/* More TaskManagers than the job needs slots: those without a task are
 * left out of the job's calls (a start there was refused, "no task of that
 * job attempt is deployed here", and failed the deployment), with
 * checkpoints on, over NNG as separate processes talk. */
static void test_taskmanagers_without_a_task_are_left_out(void **state)
{
	const int64_t n = 20000;
	char *dir = temp_dir();
	fl_env *env = env_with(1, 3, "STREAMING");
	checkpoints_over_nng(env, dir);
	char out[4200];
	snprintf(out, sizeof(out), "%s/out", dir);
	fl_write_text(fl_sum(fl_key_by(fl_generator(env, n, 20000, mc_gen_kv), 0), 1), out);
	assert_int_equal(fl_execute(env, "sum"), 0);
	int64_t last[NKEYS] = {0};
	assert_true(read_parts(out, last) >= NKEYS);
	expect_sums(last, n);
	fl_env_free(env);
	remove_dir(dir);
}

/* The same job with the JobMaster and the TaskManagers talking over NNG
 * request/reply (authenticated, on loopback), as separate processes do. */
static void test_keyed_sum_with_control_over_nng_is_exact(void **state)
{
	const int64_t n = 20000;
	char *dir = temp_dir();
	fl_env *env = env_with(2, 2, "BATCH");
	assert_int_equal(fl_env_set_config(env, "local.rpc-transport", "NNG"), 0);
	fl_write_text(fl_sum(fl_key_by(fl_generator(env, n, 0, mc_gen_kv), 0), 1), dir);
	assert_int_equal(fl_execute(env, "sum"), 0);
	int64_t last[NKEYS] = {0};
	assert_int_equal(read_parts(dir, last), NKEYS);
	expect_sums(last, n);
	fl_env_free(env);
	remove_dir(dir);
}

/* The local cluster restarts a failed job as a dispatcher does (Flink's
 * MiniCluster too), over NNG so that the attempts' JobMasters are reached
 * through the router: a job failing once restarts from its latest
 * checkpoint and its exactly-once output is exact; one failing at every
 * attempt fails once the strategy's restarts are spent. */
static void test_the_local_cluster_restarts_a_failed_job(void **state)
{
	const int64_t n = 30000;
	char *dir = temp_dir();
	atomic_store(&failed_once, 0);
	fl_env *env = env_with(2, 2, "STREAMING");
	checkpoints_over_nng(env, dir);
	assert_int_equal(fl_env_set_config(env, "restart-strategy.type", "fixed-delay"), 0);
	assert_int_equal(fl_env_set_config(env, "restart-strategy.fixed-delay.delay", "10 ms"), 0);
	char out[4200];
	snprintf(out, sizeof(out), "%s/out", dir);
	fl_stream *s = fl_map(fl_generator(env, n, 20000, mc_gen_kv), mc_fail_once_at_12000);
	fl_write_text(fl_sum(fl_key_by(s, 0), 1), out);
	assert_int_equal(fl_execute(env, "restarts"), 0);
	assert_int_equal(atomic_load(&failed_once), 1);
	int64_t last[NKEYS] = {0};
	assert_true(read_parts(out, last) >= NKEYS);
	expect_sums(last, n);
	fl_env_free(env);
	remove_dir(dir);

	env = env_with(1, 1, "STREAMING");
	assert_int_equal(fl_env_set_config(env, "local.rpc-transport", "NNG"), 0);
	assert_int_equal(fl_env_set_config(env, "restart-strategy.type", "fixed-delay"), 0);
	assert_int_equal(fl_env_set_config(env, "restart-strategy.fixed-delay.attempts", "2"), 0);
	assert_int_equal(fl_env_set_config(env, "restart-strategy.fixed-delay.delay", "10 ms"), 0);
	fl_discard(fl_map(fl_generator(env, -1, 0, mc_gen_kv), mc_fail_at_500));
	assert_int_equal(fl_execute(env, "fails"), FL_EJOBFAILED);
	assert_non_null(strstr(fl_env_error(env), "record 500 is poison"));
	fl_env_free(env);
}

static void test_a_failure_reaches_the_jobmaster_over_nng(void **state)
{
	fl_env *env = env_with(2, 2, "STREAMING");
	assert_int_equal(fl_env_set_config(env, "local.rpc-transport", "NNG"), 0);
	fl_stream *s = fl_map(fl_generator(env, -1, 0, mc_gen_kv), mc_fail_at_500);
	fl_discard(fl_sum(fl_key_by(s, 0), 1));
	assert_int_equal(fl_execute(env, "fails"), FL_EJOBFAILED);
	assert_non_null(strstr(fl_env_error(env), "record 500 is poison"));
	fl_env_free(env);
}

static void test_streaming_emits_every_update_and_ends_at_the_total(void **state)
{
	const int64_t n = 5000;
	char *dir = temp_dir();
	fl_env *env = env_with(3, 3, "STREAMING");
	fl_write_text(fl_sum(fl_key_by(fl_generator(env, n, 0, mc_gen_kv), 0), 1), dir);
	assert_int_equal(fl_execute(env, "sum"), 0);
	int64_t last[NKEYS] = {0};
	assert_int_equal(read_parts(dir, last), (size_t)n);
	expect_sums(last, n);
	fl_env_free(env);
	remove_dir(dir);
}

static void test_reduce_after_flat_map_and_rebalance(void **state)
{
	const int64_t n = 3000;
	char *dir = temp_dir();
	fl_env *env = env_with(2, 2, "BATCH");
	fl_stream *s = fl_set_parallelism(fl_generator(env, n, 0, mc_gen_kv), 1);
	s = fl_flat_map(fl_rebalance(s), mc_split);
	fl_write_text(fl_reduce(fl_key_by(s, 0), mc_add), dir);
	assert_int_equal(fl_execute(env, "reduce"), 0);
	int64_t last[NKEYS] = {0};
	assert_int_equal(read_parts(dir, last), NKEYS);
	for (int k = 0; k < NKEYS; k++) {
		/* Records per key: v and -v cancel; each reduce step adds 1. */
		int64_t cnt = 0;
		for (int64_t off = k; off < n; off += NKEYS)
			cnt += 2;
		assert_int_equal(last[k], cnt - 1);
	}
	fl_env_free(env);
	remove_dir(dir);
}

static void test_failing_user_function_fails_the_job_with_its_message(void **state)
{
	fl_env *env = env_with(2, 2, "STREAMING");
	fl_stream *s = fl_map(fl_generator(env, -1, 0, mc_gen_kv), mc_fail_at_500);
	fl_discard(fl_sum(fl_key_by(s, 0), 1));
	assert_int_equal(fl_execute(env, "fails"), FL_EJOBFAILED);
	const char *msg = fl_env_error(env);
	assert_non_null(strstr(msg, "record 500 is poison"));
	assert_non_null(strstr(msg, "mc_fail_at_500"));
	fl_env_free(env);
}

/* A flat_map that ignores fl_collect's result must not swallow a failure
 * downstream of it: the job FAILS with the downstream message. */
static void test_failure_after_a_flat_map_ignoring_collect_fails_the_job(void **state)
{
	fl_env *env = env_with(1, 1, "STREAMING");
	fl_stream *s = fl_flat_map(fl_generator(env, 5, 0, mc_gen_one_field),
				   mc_split_ignoring_collect);
	fl_discard(fl_map(s, mc_always_fail));
	assert_int_equal(fl_execute(env, "swallow"), FL_EJOBFAILED);
	assert_non_null(strstr(fl_env_error(env), "boom at 0"));
	assert_non_null(strstr(fl_env_error(env), "mc_always_fail"));
	fl_env_free(env);
}

/* The same through a keyed aggregation whose key field is missing, across
 * an exchange: the key error reaches the job's status, no record is lost
 * silently. */
static void test_key_error_after_a_flat_map_ignoring_collect_fails_the_job(void **state)
{
	fl_env *env = env_with(2, 1, "STREAMING");
	fl_stream *s = fl_flat_map(fl_generator(env, 1000, 0, mc_gen_one_field),
				   mc_split_ignoring_collect);
	fl_discard(fl_sum(fl_key_by(s, 3), 0));
	assert_int_equal(fl_execute(env, "swallow2"), FL_EJOBFAILED);
	assert_non_null(strstr(fl_env_error(env), "key field 3"));
	fl_env_free(env);
}

/* D2: a task blocked in a user call is interrupted when its job is
 * cancelled (the sleep returns), so a failed job ends at once. */
static void test_a_task_sleeping_in_user_code_is_interrupted_on_cancel(void **state)
{
	fl_env *env = env_with(2, 1, "STREAMING");
	fl_discard(fl_map(fl_generator(env, -1, 0, mc_gen_one_field), mc_stuck_sleep));
	/* Without the interrupt this runs for the hour of the sleep, past the
	 * test's timeout. */
	assert_int_equal(fl_execute(env, "stuck"), FL_EJOBFAILED);
	assert_non_null(strstr(fl_env_error(env), "bad record 100"));
	fl_env_free(env);
}

/* D2: a task that does not react to cancellation at all is reported FAILED
 * after task.cancellation.timeout, and the job ends: its thread is left
 * behind, as Flink's watchdog gives up on it. */
static void test_a_task_ignoring_cancellation_fails_after_the_timeout(void **state)
{
	fl_env *env = env_with(2, 1, "STREAMING");
	assert_int_equal(fl_env_set_config(env, "task.cancellation.timeout", "1 s"), 0);
	assert_int_equal(fl_env_set_config(env, "task.cancellation.interval", "100 ms"), 0);
	fl_discard(fl_map(fl_generator(env, -1, 0, mc_gen_one_field), mc_stuck_spin));
	int rc = fl_execute(env, "spins");
	assert_int_equal(rc, FL_EJOBFAILED);
	assert_non_null(strstr(fl_env_error(env), "bad record 100"));
	assert_true(atomic_load(&spinning)); /* the job ended while it spins */
	atomic_store(&spin_release, true);
	fl_env_free(env);
}

static void test_slow_consumer_bounds_buffer_memory(void **state)
{
	/* 20k records of 1 KiB (20 MB) into a consumer that takes 20 us per
	 * record: without back-pressure the buffers would hold most of it. */
	atomic_store(&max_live, 0);
	fl_env *env = env_with(2, 2, "STREAMING");
	fl_stream *s = fl_generator(env, 20000, 0, mc_gen_big);
	fl_stream *f = fl_set_parallelism(fl_filter(fl_rebalance(s), mc_slow_filter), 1);
	fl_discard(f);
	assert_int_equal(fl_execute(env, "slow"), 0);
	int64_t peak = atomic_load(&max_live);
	/* Bound: per channel (2 producers x 1 consumer) the gate's credits plus
	 * one buffer being filled on each side, at 32 KiB, with room. */
	assert_true(peak > 0);
	assert_true(peak < 2 * 1024 * 1024);
	fl_env_free(env);
}

static void test_buffer_timeout_flushes_a_slow_sources_records(void **state)
{
	/* 12 records at 8 per second take 1.5 s; a 32 KiB buffer would hold
	 * them all until the end of input without the flush timeout. Each
	 * record crosses a TCP channel and must arrive within the 100 ms
	 * timeout plus scheduling slack, far below the job's duration. */
	atomic_store(&max_latency, 0);
	atomic_store(&latency_records, 0);
	fl_env *env = env_with(1, 2, "STREAMING");
	assert_int_equal(fl_env_set_buffer_timeout(env, 100), 0);
	fl_stream *s = fl_generator(env, 12, 8, mc_gen_stamped);
	fl_discard(fl_set_parallelism(fl_filter(fl_rebalance(s), mc_measure_latency), 2));
	assert_int_equal(fl_execute(env, "timeout"), 0);
	assert_int_equal(atomic_load(&latency_records), 12);
	assert_true(atomic_load(&max_latency) < 700);
	fl_env_free(env);
}

static void test_slow_source_function_still_flushes_within_the_timeout(void **state)
{
	/* 15 records at 40 ms each: 0.6 s. The source never reaches the
	 * every-256-records check; the output flusher must still get each
	 * record out within the 100 ms buffer timeout plus slack. */
	atomic_store(&max_latency, 0);
	atomic_store(&latency_records, 0);
	fl_env *env = env_with(1, 2, "STREAMING");
	assert_int_equal(fl_env_set_buffer_timeout(env, 100), 0);
	fl_stream *s = fl_generator(env, 15, 0, mc_gen_slow_stamped);
	fl_discard(fl_set_parallelism(fl_filter(fl_rebalance(s), mc_measure_latency), 2));
	assert_int_equal(fl_execute(env, "slow source"), 0);
	assert_int_equal(atomic_load(&latency_records), 15);
	assert_true(atomic_load(&max_latency) < 400);
	fl_env_free(env);
}

static void test_keys_longer_than_the_stack_buffer_work(void **state)
{
	for (int k = 0; k < 5; k++) {
		memset(long_keys[k], 'x', sizeof(long_keys[k]));
		long_keys[k][sizeof(long_keys[k]) - 1] = (char)('a' + k);
	}
	char *dir = temp_dir();
	fl_env *env = env_with(2, 2, "BATCH");
	fl_write_text(fl_sum(fl_key_by(fl_generator(env, 1000, 0, mc_gen_long_key), 0), 1), dir);
	assert_int_equal(fl_execute(env, "long keys"), 0);
	/* Five lines "xxx...k<TAB>200". */
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "test \"$(cat '%s'/part-* | awk -F'\\t' '$2 == 200' | wc -l)\" = 5",
		 dir);
	assert_int_equal(system(cmd), 0);
	fl_env_free(env);
	remove_dir(dir);
}

static void test_second_execute_runs_only_the_new_dataflow(void **state)
{
	char *d1 = temp_dir(), *d2 = temp_dir();
	fl_env *env = env_with(1, 1, "BATCH");
	fl_stream *first = fl_generator(env, 3, 0, mc_gen_kv);
	fl_write_text(first, d1);
	assert_int_equal(fl_execute(env, "first"), 0);
	fl_write_text(fl_generator(env, 2, 0, mc_gen_kv), d2);
	assert_int_equal(fl_execute(env, "second"), 0);
	int64_t last[NKEYS] = {0};
	assert_int_equal(read_parts(d1, last), 3);
	assert_int_equal(read_parts(d2, last), 2);
	/* A stream of the executed dataflow cannot be built on. */
	assert_null(fl_map(first, mc_fail_at_500));
	assert_non_null(strstr(fl_env_error(env), "before fl_execute()"));
	fl_env_free(env);
	remove_dir(d1);
	remove_dir(d2);
}

static void test_text_source_reads_files_as_of_graph_building(void **state)
{
	char *dir = temp_dir(), *out = temp_dir();
	char path[512];
	snprintf(path, sizeof(path), "%s/in.txt", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 50000; i++)
		fprintf(f, "%d\t%d\n", i % NKEYS, i);
	fclose(f);
	fl_env *env = env_with(3, 1, "BATCH");
	fl_write_text(fl_read_text_file(env, path), out);
	/* The file grows after the graph was built: those lines are not read,
	 * and every subtask still cuts the same splits. */
	f = fopen(path, "a");
	assert_non_null(f);
	for (int i = 0; i < 20000; i++)
		fprintf(f, "%d\t%d\n", 0, -1);
	fclose(f);
	assert_int_equal(fl_execute(env, "growing"), 0);
	int64_t last[NKEYS] = {0};
	assert_int_equal(read_parts(out, last), 50000);
	fl_env_free(env);
	remove_dir(dir);
	remove_dir(out);
}

/* Names in dir, sorted, joined by spaces; hidden ones too. */
static void list_dir(const char *dir, char *out, size_t cap)
{
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "ls -A '%s' | tr '\\n' ' '", dir);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	pclose(p);
}

static int count_words(const char *s, const char *prefix)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, prefix)); p++)
		if (p == s || p[-1] == ' ')
			n++;
	return n;
}

/* Output is all or nothing: a finished run publishes its part files (named
 * by its run) and _SUCCESS; a directory holding output is refused without
 * fs.overwrite-files; with it, a finished run replaces the earlier one; a
 * failed run leaves the earlier output as it was and nothing of its own. */
static void test_file_sink_publishes_whole_runs_only(void **state)
{
	char *dir = temp_dir();
	char names[4096];
	fl_env *env = env_with(4, 1, "BATCH");
	fl_write_text(fl_generator(env, 10, 0, mc_gen_kv), dir);
	assert_int_equal(fl_execute(env, "first"), 0);
	list_dir(dir, names, sizeof(names));
	assert_int_equal(count_words(names, "part-"), 4);
	assert_int_equal(count_words(names, "_SUCCESS"), 1);
	assert_int_equal(count_words(names, "."), 0); /* nothing hidden left */
	int64_t last[NKEYS] = {0};
	assert_int_equal(read_parts(dir, last), 10);

	/* NO_OVERWRITE (Flink's default): refused before anything runs. */
	fl_write_text(fl_generator(env, 10, 0, mc_gen_kv), dir);
	assert_int_equal(fl_execute(env, "second"), FL_EINVAL);
	assert_non_null(strstr(fl_env_error(env), "already exists"));
	assert_non_null(strstr(fl_env_error(env), "NO_OVERWRITE"));
	char again[4096];
	list_dir(dir, again, sizeof(again));
	assert_string_equal(again, names);
	fl_env_free(env);

	/* OVERWRITE: a narrower run replaces it. */
	env = env_with(2, 1, "BATCH");
	assert_int_equal(fl_env_set_config(env, "fs.overwrite-files", "true"), 0);
	fl_write_text(fl_generator(env, 10, 0, mc_gen_kv), dir);
	assert_int_equal(fl_execute(env, "third"), 0);
	list_dir(dir, names, sizeof(names));
	assert_int_equal(count_words(names, "part-"), 2);
	assert_int_equal(count_words(names, "_SUCCESS"), 1);
	memset(last, 0, sizeof(last));
	assert_int_equal(read_parts(dir, last), 10);

	/* A failed run over it: the third run's output stays as it was. */
	fl_write_text(fl_map(fl_generator(env, 1000, 0, mc_gen_kv), mc_fail_at_500), dir);
	assert_int_equal(fl_execute(env, "fails"), FL_EJOBFAILED);
	list_dir(dir, again, sizeof(again));
	assert_string_equal(again, names);
	fl_env_free(env);
	remove_dir(dir);
}

/* `out` and `./out/` are one directory: two sinks on it are refused. */
static void test_two_sinks_on_one_directory_spelled_differently_are_refused(void **state)
{
	char *dir = temp_dir();
	char alias[700];
	snprintf(alias, sizeof(alias), "%s/./sub/../", dir);
	fl_env *env = env_with(1, 1, "BATCH");
	fl_stream *s = fl_generator(env, 10, 0, mc_gen_kv);
	fl_write_text(s, dir);
	fl_write_text(s, alias);
	assert_int_equal(fl_execute(env, "aliases"), FL_EINVAL);
	assert_non_null(strstr(fl_env_error(env), "both write to directory"));
	fl_env_free(env);
	remove_dir(dir);
}

/* `..` after a symbolic link leaves the link's target, as the kernel
 * walks it: lnk/../out is a/out when lnk points to a/b, not ./out. */
static void test_dotdot_after_a_symbolic_link_is_resolved_as_the_kernel_does(void **state)
{
	char *dir = temp_dir();
	char target[600], lnk[600], same[600], beside[600], through[600];
	snprintf(target, sizeof(target), "%s/a/b", dir);
	snprintf(same, sizeof(same), "%s/a", dir);
	assert_int_equal(mkdir(same, 0777), 0);
	assert_int_equal(mkdir(target, 0777), 0);
	snprintf(lnk, sizeof(lnk), "%s/lnk", dir);
	assert_int_equal(symlink(target, lnk), 0);
	snprintf(through, sizeof(through), "%s/lnk/../out", dir);
	snprintf(same, sizeof(same), "%s/a/out", dir);
	snprintf(beside, sizeof(beside), "%s/out", dir);

	/* a/out and lnk/../out are one directory. */
	fl_env *env = env_with(1, 1, "BATCH");
	fl_stream *s = fl_generator(env, 10, 0, mc_gen_kv);
	fl_write_text(s, same);
	fl_write_text(s, through);
	assert_int_equal(fl_execute(env, "one place"), FL_EINVAL);
	assert_non_null(strstr(fl_env_error(env), "both write to directory"));
	fl_env_free(env);

	/* ./out and lnk/../out are two: both get their output. */
	env = env_with(1, 1, "BATCH");
	s = fl_generator(env, 10, 0, mc_gen_kv);
	fl_write_text(s, beside);
	fl_write_text(s, through);
	if (fl_execute(env, "two places") != 0)
		fail_msg("two places: %s", fl_env_error(env));
	int64_t last[NKEYS] = {0};
	assert_int_equal(read_parts(beside, last), 10);
	assert_int_equal(read_parts(same, last), 10);
	fl_env_free(env);
	remove_dir(dir);
}

/* A directory another run holds (its lock, taken here as that run's
 * JobMaster would) is refused; once it is free, a run goes ahead, and a
 * failed run frees it again for the next. */
static void test_a_directory_another_run_writes_to_is_refused(void **state)
{
	char *dir = temp_dir();
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	fl_env *env = env_with(2, 1, "BATCH");
	fl_write_text(fl_generator(env, 10, 0, mc_gen_kv), dir);
	assert_int_equal(fl_execute(env, "held"), FL_EINVAL);
	assert_non_null(strstr(fl_env_error(env), "another run is writing to the output directory"));
	close(fd);
	fl_env_free(env);

	env = env_with(2, 1, "BATCH");
	assert_int_equal(fl_env_set_config(env, "fs.overwrite-files", "true"), 0);
	fl_write_text(fl_map(fl_generator(env, 1000, 0, mc_gen_kv), mc_fail_at_500), dir);
	assert_int_equal(fl_execute(env, "fails"), FL_EJOBFAILED);
	fl_env_free(env);
	env = env_with(2, 1, "BATCH");
	assert_int_equal(fl_env_set_config(env, "fs.overwrite-files", "true"), 0);
	fl_write_text(fl_generator(env, 10, 0, mc_gen_kv), dir);
	if (fl_execute(env, "free") != 0)
		fail_msg("free: %s", fl_env_error(env));
	int64_t last[NKEYS] = {0};
	assert_int_equal(read_parts(dir, last), 10);
	/* The JobMaster let go of it: another holder can take it. */
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	close(fd);
	fl_env_free(env);
	remove_dir(dir);
}

/* An output path through a file cannot be read: that is the message,
 * not Flink's NO_OVERWRITE one. */
static void test_an_output_path_through_a_file_says_it_cannot_be_read(void **state)
{
	char *dir = temp_dir();
	char file[600], out[700];
	snprintf(file, sizeof(file), "%s/file.txt", dir);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(out, sizeof(out), "%s/out", file);
	fl_env *env = env_with(1, 1, "BATCH");
	fl_write_text(fl_generator(env, 10, 0, mc_gen_kv), out);
	assert_int_not_equal(fl_execute(env, "through a file"), 0);
	char want[800];
	snprintf(want, sizeof(want), "cannot read the output directory '%s': Not a directory", out);
	if (!strstr(fl_env_error(env), want))
		fail_msg("'%s' lacks '%s'", fl_env_error(env), want);
	assert_null(strstr(fl_env_error(env), "already exists"));
	fl_env_free(env);
	remove_dir(dir);
}

/* Subtask 1 of the map removes its sink's in-progress file: the commit
 * cannot publish the whole run. */
static char lost_dir[600];

int mc_remove_own_part(fl_ctx *ctx, const fl_row *in, fl_row *out);

int mc_remove_own_part(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	static _Atomic bool done;
	if (fl_ctx_subtask(ctx) == 1 && !atomic_exchange(&done, true)) {
		DIR *d = opendir(lost_dir);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			outputs_name n;
			if (outputs_name_parse(e->d_name, &n) == OUTPUTS_WHOLE && n.subtask == 1) {
				char path[900];
				snprintf(path, sizeof(path), "%s/%s", lost_dir, e->d_name);
				unlink(path);
			}
		}
		if (d)
			closedir(d);
	}
	*out = *in;
	return 0;
}

/* A commit that cannot publish every part file publishes none, and with
 * fs.overwrite-files the earlier output stays as it was. */
static void test_a_commit_missing_a_part_file_publishes_nothing(void **state)
{
	char *dir = temp_dir();
	snprintf(lost_dir, sizeof(lost_dir), "%s", dir);
	fl_env *env = env_with(3, 1, "BATCH");
	fl_write_text(fl_generator(env, 10, 0, mc_gen_kv), dir);
	assert_int_equal(fl_execute(env, "earlier"), 0);
	char names[4096], again[4096];
	list_dir(dir, names, sizeof(names));

	fl_env_set_parallelism(env, 2);
	assert_int_equal(fl_env_set_config(env, "fs.overwrite-files", "true"), 0);
	fl_write_text(fl_map(fl_generator(env, 10, 0, mc_gen_kv), mc_remove_own_part), dir);
	assert_int_equal(fl_execute(env, "lost"), FL_EJOBFAILED);
	if (!strstr(fl_env_error(env), "-1.inprogress.") ||
	    !strstr(fl_env_error(env), "': it is missing"))
		fail_msg("'%s' does not name the missing file", fl_env_error(env));
	list_dir(dir, again, sizeof(again));
	assert_string_equal(again, names);
	int64_t last[NKEYS] = {0};
	assert_int_equal(read_parts(dir, last), 10);
	fl_env_free(env);
	remove_dir(dir);
}

static void test_parallelism_above_max_parallelism_fails_before_running(void **state)
{
	fl_env *env = env_with(4, 1, "STREAMING");
	fl_env_set_max_parallelism(env, 2);
	fl_discard(fl_generator(env, 10, 0, mc_gen_kv));
	assert_int_equal(fl_execute(env, "x"), FL_EINVAL);
	assert_non_null(strstr(fl_env_error(env), "max parallelism"));
	fl_env_free(env);
}

/* ------------------------------------------- text inputs that change */

int mc_line_to_count(fl_ctx *ctx, const fl_row *in, fl_row *out);
int mc_line_mutating(fl_ctx *ctx, const fl_row *in, fl_row *out);

/* Every line becomes (0, 1): a keyed sum counts them under key 0. */
int mc_line_to_count(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	fl_row_clear(out);
	fl_row_add_int64(out, 0);
	return fl_row_add_int64(out, 1);
}

/* At its 1000th line, truncates the input to 100 bytes (mutate_grow 0) or
 * appends lines to it (1), as another process might while the job reads. */
static char mutate_path[512];
static int mutate_grow;
static _Atomic long mutate_seen;

int mc_line_mutating(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	if (atomic_fetch_add(&mutate_seen, 1) + 1 == 1000) {
		if (mutate_grow) {
			FILE *f = fopen(mutate_path, "a");
			if (!f)
				return fl_fail(ctx, "cannot append to the input");
			for (int i = 0; i < 100; i++)
				fprintf(f, "%d\t%d\n", 0, -1);
			fclose(f);
		} else if (truncate(mutate_path, 100) != 0) {
			return fl_fail(ctx, "cannot truncate the input");
		}
	}
	return mc_line_to_count(ctx, in, out);
}

/* 50000 "k<TAB>v" lines (about 490 KB) in dir/in.txt; returns its size. */
static int64_t write_lines(const char *dir, char *path, size_t cap)
{
	snprintf(path, cap, "%s/in.txt", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 50000; i++)
		fprintf(f, "%d\t%d\n", i % NKEYS, i);
	fclose(f);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static void expect_changed(int grow)
{
	char *dir = temp_dir(), *out = temp_dir();
	int64_t size = write_lines(dir, mutate_path, sizeof(mutate_path));
	mutate_grow = grow;
	atomic_store(&mutate_seen, 0);
	fl_env *env = env_with(1, 1, "BATCH");
	fl_write_text(
	    fl_sum(fl_key_by(fl_map(fl_read_text_file(env, mutate_path), mc_line_mutating), 0), 1),
	    out);
	assert_int_equal(fl_execute(env, "changing"), FL_EJOBFAILED);
	char want[800];
	snprintf(want, sizeof(want),
		 "file '%s' changed while being read: it had %lld bytes when the job was built, "
		 "now %lld",
		 mutate_path, (long long)size, grow ? (long long)size + 100 * 5 : 100LL);
	if (!strstr(fl_env_error(env), want))
		fail_msg("'%s' lacks '%s'", fl_env_error(env), want);
	fl_env_free(env);
	remove_dir(dir);
	remove_dir(out);
}

static void test_text_source_fails_when_its_file_shrinks_while_read(void **state)
{
	expect_changed(0);
}

static void test_text_source_fails_when_its_file_grows_while_read(void **state)
{
	expect_changed(1);
}

static void test_text_source_fails_at_once_when_its_file_shrank_before_the_run(void **state)
{
	char *dir = temp_dir(), *out = temp_dir();
	char path[512];
	int64_t size = write_lines(dir, path, sizeof(path));
	fl_env *env = env_with(2, 1, "BATCH");
	fl_write_text(fl_read_text_file(env, path), out);
	assert_int_equal(truncate(path, 10), 0);
	assert_int_equal(fl_execute(env, "shrunk"), FL_EJOBFAILED);
	char want[800];
	snprintf(want, sizeof(want), "it had %lld bytes when the job was built, now 10",
		 (long long)size);
	assert_non_null(strstr(fl_env_error(env), want));
	fl_env_free(env);
	remove_dir(dir);
	remove_dir(out);
}

/* The job's count of lines in path, read at parallelism p. */
static int64_t job_line_count(const char *path, int p)
{
	char *out = temp_dir();
	fl_env *env = env_with(p, 1, "BATCH");
	fl_write_text(
	    fl_sum(fl_key_by(fl_map(fl_read_text_file(env, path), mc_line_to_count), 0), 1), out);
	int rc = fl_execute(env, "count");
	if (rc)
		fail_msg("count of '%s' failed: %s", path, fl_env_error(env));
	int64_t last[NKEYS] = {0};
	size_t parts = read_parts(out, last);
	fl_env_free(env);
	remove_dir(out);
	return parts ? last[0] : 0;
}

static void test_text_source_reads_a_file_that_says_zero_bytes_to_its_end(void **state)
{
	/* /proc files report size 0 and have content; /proc/cpuinfo reads the
	 * same from every process. */
	const char *path = "/proc/cpuinfo";
	struct stat st;
	if (stat(path, &st) != 0 || st.st_size != 0)
		skip();
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	int64_t want = 0;
	int ch, last = '\n';
	while ((ch = fgetc(f)) != EOF) {
		if (ch == '\n')
			want++;
		last = ch;
	}
	if (last != '\n')
		want++;
	fclose(f);
	assert_true(want > 0);
	for (int p = 1; p <= 3; p += 2)
		assert_int_equal(job_line_count(path, p), want);
}

static char fifo_path[512];

static void *fifo_writer(void *arg)
{
	(void)arg;
	FILE *f = fopen(fifo_path, "w"); /* blocks until the source opens it */
	if (!f)
		return NULL;
	for (int i = 0; i < 20000; i++)
		fprintf(f, "line %d of a stream\n", i);
	fclose(f);
	return NULL;
}

static void test_text_source_reads_a_fifo_as_one_stream(void **state)
{
	char *dir = temp_dir();
	snprintf(fifo_path, sizeof(fifo_path), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo_path, 0600), 0);
	pthread_t w;
	assert_int_equal(pthread_create(&w, NULL, fifo_writer, NULL), 0);
	/* At parallelism 2, one subtask reads it all: the other plans the
	 * same single split and has nothing to read. */
	assert_int_equal(job_line_count(fifo_path, 2), 20000);
	pthread_join(w, NULL);
	remove_dir(dir);
}

static void *cancel_later(void *arg)
{
	struct timespec ts = {0, 300 * 1000000L};
	nanosleep(&ts, NULL);
	cm_cancel_request(arg);
	return NULL;
}

static void test_fifo_without_a_writer_waits_only_until_the_job_is_cancelled(void **state)
{
	char *dir = temp_dir(), *out = temp_dir();
	snprintf(fifo_path, sizeof(fifo_path), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo_path, 0600), 0);
	cm_cancel token;
	assert_int_equal(cm_cancel_init(&token), 0);
	env_launch l = {.mode = ENV_LAUNCH_LOCAL, .listener = {.cancel = &token}};
	env_launch_install(&l);
	fl_env *env = env_with(1, 1, "BATCH");
	fl_write_text(fl_read_text_file(env, fifo_path), out);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, cancel_later, &token), 0);
	int64_t t0 = wall_ms();
	assert_int_equal(fl_execute(env, "no writer"), FL_ECANCELED);
	assert_true(wall_ms() - t0 < 10000);
	pthread_join(t, NULL);
	env_launch_install(NULL);
	fl_env_free(env);
	cm_cancel_fini(&token);
	remove_dir(dir);
	remove_dir(out);
}

static void test_a_missing_conf_dir_is_an_error_naming_it(void **state)
{
	/* A job linked into a program loads $FLINC_CONF_DIR/flinc.yaml itself;
	 * Flink refuses a conf dir that does not exist, rather than running
	 * with defaults on a typo. */
	setenv("FLINC_CONF_DIR", "/nonexistent/flinc-conf", 1);
	fl_env *env = fl_env_new(0, NULL);
	unsetenv("FLINC_CONF_DIR");
	assert_non_null(env);
	fl_discard(fl_generator(env, 10, 0, mc_gen_kv));
	assert_int_equal(fl_execute(env, "confdir"), FL_ENOENT);
	assert_string_equal(
	    fl_env_error(env),
	    "the configuration directory '/nonexistent/flinc-conf' (FLINC_CONF_DIR) "
	    "cannot be used: No such file or directory");
	fl_env_free(env);
	/* An existing directory without flinc.yaml: defaults. */
	char *dir = temp_dir();
	setenv("FLINC_CONF_DIR", dir, 1);
	env = fl_env_new(0, NULL);
	unsetenv("FLINC_CONF_DIR");
	fl_discard(fl_generator(env, 10, 0, mc_gen_kv));
	assert_int_equal(fl_execute(env, "confdir"), 0);
	fl_env_free(env);
	remove_dir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keyed_sum_across_two_taskmanagers_is_exact),
	    cmocka_unit_test(test_taskmanagers_without_a_task_are_left_out),
	    cmocka_unit_test(test_keyed_sum_with_control_over_nng_is_exact),
	    cmocka_unit_test(test_a_failure_reaches_the_jobmaster_over_nng),
	    cmocka_unit_test(test_the_local_cluster_restarts_a_failed_job),
	    cmocka_unit_test(test_streaming_emits_every_update_and_ends_at_the_total),
	    cmocka_unit_test(test_reduce_after_flat_map_and_rebalance),
	    cmocka_unit_test(test_failing_user_function_fails_the_job_with_its_message),
	    cmocka_unit_test(test_failure_after_a_flat_map_ignoring_collect_fails_the_job),
	    cmocka_unit_test(test_key_error_after_a_flat_map_ignoring_collect_fails_the_job),
	    cmocka_unit_test(test_a_task_sleeping_in_user_code_is_interrupted_on_cancel),
	    cmocka_unit_test(test_a_task_ignoring_cancellation_fails_after_the_timeout),
	    cmocka_unit_test(test_slow_consumer_bounds_buffer_memory),
	    cmocka_unit_test(test_buffer_timeout_flushes_a_slow_sources_records),
	    cmocka_unit_test(test_slow_source_function_still_flushes_within_the_timeout),
	    cmocka_unit_test(test_keys_longer_than_the_stack_buffer_work),
	    cmocka_unit_test(test_second_execute_runs_only_the_new_dataflow),
	    cmocka_unit_test(test_text_source_reads_files_as_of_graph_building),
	    cmocka_unit_test(test_file_sink_publishes_whole_runs_only),
	    cmocka_unit_test(test_two_sinks_on_one_directory_spelled_differently_are_refused),
	    cmocka_unit_test(test_dotdot_after_a_symbolic_link_is_resolved_as_the_kernel_does),
	    cmocka_unit_test(test_a_directory_another_run_writes_to_is_refused),
	    cmocka_unit_test(test_an_output_path_through_a_file_says_it_cannot_be_read),
	    cmocka_unit_test(test_a_commit_missing_a_part_file_publishes_nothing),
	    cmocka_unit_test(test_parallelism_above_max_parallelism_fails_before_running),
	    cmocka_unit_test(test_text_source_fails_when_its_file_shrinks_while_read),
	    cmocka_unit_test(test_text_source_fails_when_its_file_grows_while_read),
	    cmocka_unit_test(test_text_source_fails_at_once_when_its_file_shrank_before_the_run),
	    cmocka_unit_test(test_text_source_reads_a_file_that_says_zero_bytes_to_its_end),
	    cmocka_unit_test(test_text_source_reads_a_fifo_as_one_stream),
	    cmocka_unit_test(test_fifo_without_a_writer_waits_only_until_the_job_is_cancelled),
	    cmocka_unit_test(test_a_missing_conf_dir_is_an_error_naming_it),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
