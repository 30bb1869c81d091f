/*
 * colocated — a job whose source and map form a co-location group.
 *
 *   colocated.so [--count N]   (default: no end, 1000 records/s)
 *
 * A generator and a map (not chained to it) in co-location group "pair",
 * both at the job's parallelism, then a discard sink: subtask i of the
 * source and of the map must run in the same slot.
 */
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

int colocated_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	return fl_row_add_int64(out, off);
}

int colocated_map(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	*out = *in;
	return 0;
}

int main(int argc, char **argv)
{
	long long n = -1;
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--count") == 0)
			n = atoll(argv[i + 1]);
	fl_env *env = fl_env_new(argc, argv);
	fl_stream *src = fl_colocate(fl_generator(env, n, 1000, colocated_gen), "pair");
	fl_stream *m = fl_colocate(fl_disable_chaining(fl_map(fl_rebalance(src), colocated_map)), "pair");
	fl_discard(m);
	int rc = fl_execute(env, "Colocated");
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
