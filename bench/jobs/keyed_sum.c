/*
 * keyed_sum.c — the keyed benchmark's job as a cluster runs it (the same
 * pipeline as bench_pipeline's keyed case): a generator of (offset & 1023,
 * 1) rows, key_by field 0, sum field 1, discard.
 *
 *   flinc run -m HOST:PORT -p 2 keyed_sum.so [RECORDS]   (default 50 M)
 *   a RECORDS of 0 runs without end (for latency and RSS figures)
 */
#include <stdlib.h>

#include <flinc/flinc.h>

int keyed_sum_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	out->nfields = 2;
	out->types[0] = FL_INT64;
	out->values[0].u.i = off & 1023;
	out->types[1] = FL_INT64;
	out->values[1].u.i = 1;
	return 0;
}

int main(int argc, char **argv)
{
	fl_env *env = fl_env_new(argc, argv);
	int64_t n = argc > 1 ? atoll(argv[1]) : 50000000;
	fl_discard(fl_sum(fl_key_by(fl_generator(env, n > 0 ? n : -1, 0, keyed_sum_gen), 0), 1));
	int rc = fl_execute(env, "KeyedSum");
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
