/*
 * slow_sink — back-pressure test job.
 *
 *   slow_sink.so [--count N] [--sleep-us U] [--every K]
 *
 * A generator at parallelism 2 producing ~1 KiB rows as fast as it can,
 * rebalanced to a map at parallelism 1 that sleeps U µs after every K-th
 * record (default 1000 µs every 100 records: ~10 µs per record on average,
 * without burning a core on a busy wait), then a discard sink. With credit-based back-pressure the
 * sources are slowed to the map's pace and memory stays bounded; without it
 * the in-flight buffers would hold most of the N KiB produced. After the job
 * main() prints the number of records the map saw as `records=N` and its
 * peak RSS (VmHWM) as `peak_rss_kb=N` on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <flinc/flinc.h>

#define ROW_BYTES 1000

static char payload[ROW_BYTES];
static long sleep_us = 1000;
static long every = 100;
/* Records seen by the slow map: every TaskManager of the local mini cluster
 * lives in this process, so main() can print the total after the job. */
static _Atomic long long mapped;

int slow_sink_gen(fl_ctx *ctx, int64_t offset, fl_row *out)
{
	fl_row_add_int64(out, offset);
	/* ~1 KiB per record; the content varies with offset so nothing can be
	 * shared between records. */
	char *p = fl_ctx_scratch(ctx, ROW_BYTES);
	if (!p)
		return fl_fail(ctx, "no scratch memory");
	memcpy(p, payload, ROW_BYTES);
	snprintf(p, 24, "%020lld", (long long)offset);
	return fl_row_add_bytes(out, p, ROW_BYTES);
}

int slow_sink_slow_map(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	struct timespec ts = {sleep_us / 1000000, (sleep_us % 1000000) * 1000};
	if (sleep_us > 0 && fl_row_int64(in, 0) % every == 0)
		nanosleep(&ts, NULL);
	mapped++;
	fl_row_clear(out);
	return fl_row_add_int64(out, fl_row_int64(in, 0));
}

static long peak_rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	char line[256];
	long kb = -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

int main(int argc, char **argv)
{
	long long count = 400000;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--count") == 0)
			count = atoll(argv[i + 1]);
		else if (strcmp(argv[i], "--sleep-us") == 0)
			sleep_us = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--every") == 0)
			every = atol(argv[i + 1]) > 0 ? atol(argv[i + 1]) : 1;
	}
	for (int i = 0; i < ROW_BYTES; i++)
		payload[i] = (char)('a' + i % 26);

	fl_env *env = fl_env_new(argc, argv);
	if (!env)
		return 1;
	fl_stream *s = fl_set_parallelism(fl_generator(env, count, 0, slow_sink_gen), 2);
	s = fl_name(s, "Source: Fast Generator");
	s = fl_set_parallelism(fl_map(fl_rebalance(s), slow_sink_slow_map), 1);
	s = fl_name(s, "Slow Map");
	fl_set_parallelism(fl_discard(s), 1);
	int rc = fl_execute(env, "SlowSink");
	if (rc != 0)
		fprintf(stderr, "slow_sink: %s\n", fl_env_error(env));
	printf("records=%lld\npeak_rss_kb=%ld\n", (long long)mapped, peak_rss_kb());
	fflush(stdout);
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
