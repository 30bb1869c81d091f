/*
 * fanout.c — the memory benchmark's job (the code review's fanout2.c): a
 * generator at parallelism p emitting 1 KiB rows, key_by on the offset (so
 * every producer feeds every consumer), a map that sleeps 1 ms every 256
 * records (so buffers queue up), discard.
 *
 *   flinc run --local -p P fanout.so RECORDS
 */
#include <stdlib.h>
#include <time.h>

#include <flinc/flinc.h>

static char payload[1000];

int fanout_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, off);
	return fl_row_add_bytes(out, payload, sizeof(payload));
}

int fanout_slow(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	if (fl_row_int64(in, 0) % 256 == 0) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	fl_row_clear(out);
	return fl_row_add_int64(out, fl_row_int64(in, 0));
}

int main(int argc, char **argv)
{
	fl_env *env = fl_env_new(argc, argv);
	int64_t n = argc > 1 ? atoll(argv[1]) : 100000;
	fl_discard(fl_map(fl_key_by(fl_generator(env, n, 0, fanout_gen), 0), fanout_slow));
	int rc = fl_execute(env, "fanout");
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
