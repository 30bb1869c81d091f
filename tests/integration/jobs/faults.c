/*
 * faults — user functions that take the process down, or end it.
 *
 *   faults.so MODE [--count N] [--idle-ms MS]
 *
 * A generator of N (default 1000) rows ("k", offset) → a map named
 * "Faulty Map" → print. At offset 500 the map, by MODE:
 *   segv     writes to address 0x10          (the process dies of SIGSEGV)
 *   abort    calls abort()                   (SIGABRT)
 *   recurse  recurses without end            (a stack overflow: SIGSEGV)
 *   exit     calls exit(3)
 *   exit0    calls exit(0)
 *   stuck    sleeps for 10 minutes, deaf to cancellation (it resumes the
 *            sleep when the runtime's interrupt ends it early)
 *   ok       passes every row on
 * --idle-ms MS: main() sleeps that long before building the dataflow (a
 * job that is not running yet, for signal tests).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <flinc/flinc.h>

#define AT 500

int faults_gen(fl_ctx *ctx, int64_t offset, fl_row *out)
{
	fl_row_add_string(out, "k", 1);
	return fl_row_add_int64(out, offset);
}

int m_segv(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	if (fl_row_int64(in, 1) == AT) {
		/* Through a volatile, so that no compiler sees the constant. */
		volatile uintptr_t addr = 0x10;
		*(volatile int *)addr = 1;
	}
	*out = *in;
	return 0;
}

int m_abort(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	if (fl_row_int64(in, 1) == AT)
		abort();
	*out = *in;
	return 0;
}

/* Not a tail call (the result is used after it), so no compiler turns it
 * into a loop: each level keeps 4 KiB of stack. */
int m_recurse(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	volatile char buf[4096];
	buf[0] = 1;
	if (fl_row_int64(in, 1) >= AT) {
		fl_row deeper = *in;
		deeper.values[1].u.i++;
		return m_recurse(ctx, &deeper, out) + buf[0] - 1;
	}
	*out = *in;
	return 0;
}

int m_exit(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	if (fl_row_int64(in, 1) == AT)
		exit(3);
	*out = *in;
	return 0;
}

int m_exit0(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	if (fl_row_int64(in, 1) == AT)
		exit(0);
	*out = *in;
	return 0;
}

int m_stuck(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	if (fl_row_int64(in, 1) == AT) {
		struct timespec ts = {.tv_sec = 600};
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	*out = *in;
	return 0;
}

int m_ok(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	*out = *in;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: faults.so MODE [--count N] [--idle-ms MS]\n");
		return 2;
	}
	const char *mode = argv[1];
	long long count = 1000, idle_ms = 0;
	for (int i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--count") == 0)
			count = atoll(argv[i + 1]);
		else if (strcmp(argv[i], "--idle-ms") == 0)
			idle_ms = atoll(argv[i + 1]);
	}
	static const struct {
		const char *mode;
		fl_map_fn fn;
	} modes[] = {{"segv", m_segv}, {"abort", m_abort}, {"recurse", m_recurse},
		     {"exit", m_exit}, {"exit0", m_exit0}, {"stuck", m_stuck},
		     {"ok", m_ok}};
	fl_map_fn fn = NULL;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(mode, modes[i].mode) == 0)
			fn = modes[i].fn;
	if (!fn) {
		fprintf(stderr, "faults.so: unknown mode '%s'\n", mode);
		return 2;
	}
	if (idle_ms > 0) {
		struct timespec ts = {.tv_sec = idle_ms / 1000,
				      .tv_nsec = idle_ms % 1000 * 1000000};
		nanosleep(&ts, NULL);
	}
	fl_env *env = fl_env_new(argc, argv);
	if (!env)
		return 1;
	fl_stream *s = fl_generator(env, count, 0, faults_gen);
	fl_print(fl_name(fl_map(s, fn), "Faulty Map"));
	int rc = fl_execute(env, "Faults");
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
