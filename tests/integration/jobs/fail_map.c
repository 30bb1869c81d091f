/*
 * fail_map — a user function that fails.
 *
 *   fail_map.so [--fail-at N]
 *
 * An unbounded generator at parallelism 2 → a map that calls fl_fail() at the
 * record with offset N (default 5000) → rebalance → a discard sink at
 * parallelism 2. The job must FAIL with the message, and every other task
 * (the other source subtask never stops by itself) must be cancelled.
 */
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

static long long fail_at = 5000;

int fail_map_gen(fl_ctx *ctx, int64_t offset, fl_row *out)
{
	return fl_row_add_int64(out, offset);
}

int fail_map_checked_map(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	long long v = (long long)fl_row_int64(in, 0);
	if (v == fail_at)
		return fl_fail(ctx, "bad record %lld", v);
	*out = *in;
	return 0;
}

int main(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i += 2)
		if (strcmp(argv[i], "--fail-at") == 0)
			fail_at = atoll(argv[i + 1]);
	fl_env *env = fl_env_new(argc, argv);
	if (!env)
		return 1;
	fl_stream *s = fl_set_parallelism(fl_generator(env, -1, 0, fail_map_gen), 2);
	s = fl_name(fl_map(s, fail_map_checked_map), "Checked Map");
	fl_set_parallelism(fl_discard(fl_rebalance(s)), 2);
	int rc = fl_execute(env, "FailMap");
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
