/*
 * api_ops — end-to-end checks of the job API, one dataflow per --case.
 *
 *   api_ops.so --case NAME [--count N]
 *
 * Every function is deterministic so that test_api_features.sh can compute
 * the exact expected output independently (with awk). Parallelism comes
 * from -p unless a case sets it; the runtime mode from -D
 * execution.runtime-mode (the job does not set it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

static const char *const KEYS[] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6",
				   "k7", "k8", "k9", "k10", "k11", "k12"};

/* (x) */
int api_gen_x(fl_ctx *ctx, int64_t offset, fl_row *out)
{
	return fl_row_add_int64(out, offset);
}

/* ("a", x) and ("b", 10x): the two inputs of the union. */
int api_gen_a(fl_ctx *ctx, int64_t offset, fl_row *out)
{
	fl_row_add_string(out, "a", 1);
	return fl_row_add_int64(out, offset);
}

int api_gen_b(fl_ctx *ctx, int64_t offset, fl_row *out)
{
	fl_row_add_string(out, "b", 1);
	return fl_row_add_int64(out, offset * 10);
}

/* ("k<x%13>", x, x/2.0) */
int api_gen_keyed(fl_ctx *ctx, int64_t offset, fl_row *out)
{
	const char *k = KEYS[offset % 13];
	fl_row_add_string(out, k, strlen(k));
	fl_row_add_int64(out, offset);
	return fl_row_add_double(out, (double)offset * 0.5);
}

/* (x, ...) -> (x, subtask, parallelism) of the map's own subtask. */
int api_tag_subtask(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	fl_row_clear(out);
	fl_row_add_int64(out, fl_row_int64(in, 0));
	fl_row_add_int64(out, fl_ctx_subtask(ctx));
	return fl_row_add_int64(out, fl_ctx_parallelism(ctx));
}

/* x -> (x, (x % 1000) * 2, "s<x>") with the string in scratch memory. */
int api_map_ops(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	int64_t x = fl_row_int64(in, 0);
	char *s = fl_ctx_scratch(ctx, 24);
	if (!s)
		return fl_fail(ctx, "no scratch");
	int n = snprintf(s, 24, "s%lld", (long long)x);
	fl_row_clear(out);
	fl_row_add_int64(out, x);
	fl_row_add_int64(out, (x % 1000) * 2);
	return fl_row_add_string(out, s, (size_t)n);
}

int api_filter_not3(fl_ctx *ctx, const fl_row *in)
{
	return fl_row_int64(in, 0) % 3 != 0;
}

/* Emits x % 4 copies of (x, copy, string). */
int api_flat_copies(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	int64_t x = fl_row_int64(in, 0);
	size_t len;
	const char *s = fl_row_string(in, 2, &len);
	for (int64_t c = 0; c < x % 4; c++) {
		fl_row r;
		fl_row_clear(&r);
		fl_row_add_int64(&r, x);
		fl_row_add_int64(&r, c);
		fl_row_add_string(&r, s, len);
		int rc = fl_collect(out, &r);
		if (rc)
			return rc;
	}
	return 0;
}

/* Key: x % 7. */
int api_key_mod7(fl_ctx *ctx, const fl_row *in, fl_row *key)
{
	return fl_row_add_int64(key, fl_row_int64(in, 1) % 7);
}

/* (k, x, d) + (k, x', d') -> (k, x + x', max(d, d')) */
int api_reduce(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	size_t len;
	const char *k = fl_row_string(acc, 0, &len);
	double a = fl_row_double(acc, 2), b = fl_row_double(in, 2);
	fl_row_clear(out);
	fl_row_add_string(out, k, len);
	fl_row_add_int64(out, fl_row_int64(acc, 1) + fl_row_int64(in, 1));
	return fl_row_add_double(out, a > b ? a : b);
}

int api_keep_even(fl_ctx *ctx, const fl_row *in)
{
	return fl_row_int64(in, 0) % 2 == 0;
}

int api_identity(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	*out = *in;
	return 0;
}

static fl_stream *one(fl_stream *s)
{
	return fl_set_parallelism(s, 1);
}

int main(int argc, char **argv)
{
	const char *c = "";
	const char *dir = NULL;
	long long count = 1000;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--case") == 0)
			c = argv[i + 1];
		else if (strcmp(argv[i], "--count") == 0)
			count = atoll(argv[i + 1]);
		else if (strcmp(argv[i], "--output") == 0)
			dir = argv[i + 1];
	}
	fl_env *env = fl_env_new(argc, argv);
	if (!env)
		return 1;
	if (strcmp(c, "gen") == 0) {
		/* Generator split over subtasks: subtask i produces i, i+p, ... */
		fl_stream *s = fl_map(fl_generator(env, count, 0, api_gen_x), api_tag_subtask);
		one(fl_print(s));
	} else if (strcmp(c, "ops") == 0) {
		fl_stream *s = fl_generator(env, count, 0, api_gen_x);
		s = fl_flat_map(fl_filter(fl_map(s, api_map_ops), api_filter_not3), api_flat_copies);
		one(fl_print(s));
	} else if (strncmp(c, "keyed-", 6) == 0) {
		/* One source subtask: the order of records per key is fixed. */
		const char *agg = c + 6;
		fl_stream *s = one(fl_generator(env, count, 0, api_gen_keyed));
		fl_stream *k = strcmp(agg, "keyfn") == 0 ? fl_key_by_fn(s, api_key_mod7) : fl_key_by(s, 0);
		fl_stream *r;
		if (strcmp(agg, "sum1") == 0 || strcmp(agg, "keyfn") == 0)
			r = fl_sum(k, 1);
		else if (strcmp(agg, "sum2") == 0)
			r = fl_sum(k, 2);
		else if (strcmp(agg, "min1") == 0)
			r = fl_min(k, 1);
		else if (strcmp(agg, "min2") == 0)
			r = fl_min(k, 2);
		else if (strcmp(agg, "max1") == 0)
			r = fl_max(k, 1);
		else if (strcmp(agg, "max2") == 0)
			r = fl_max(k, 2);
		else
			r = fl_reduce(k, api_reduce);
		fl_print(r);
	} else if (strcmp(c, "union") == 0) {
		fl_stream *a = fl_generator(env, count, 0, api_gen_a);
		fl_stream *b = fl_generator(env, count / 2, 0, api_gen_b);
		one(fl_print(fl_union(a, b)));
	} else if (strcmp(c, "rebalance") == 0) {
		fl_stream *s = one(fl_generator(env, count, 0, api_gen_x));
		s = fl_set_parallelism(fl_map(fl_rebalance(s), api_tag_subtask), 4);
		one(fl_print(s));
	} else if (strcmp(c, "broadcast") == 0) {
		fl_stream *s = one(fl_generator(env, count, 0, api_gen_x));
		s = fl_set_parallelism(fl_map(fl_broadcast(s), api_tag_subtask), 3);
		one(fl_print(s));
	} else if (strcmp(c, "print") == 0) {
		/* Source and print at the default parallelism, chained. */
		fl_print(fl_generator(env, count, 0, api_gen_x));
	} else if (strcmp(c, "files") == 0) {
		fl_write_text(fl_map(fl_generator(env, count, 0, api_gen_x), api_tag_subtask), dir);
	} else if (strcmp(c, "plan") == 0) {
		/* Chains expected (default parallelism p, group 'default' unless said):
		 * [Src, M1] [M2] [M3, M4] [M5, Even] [M6, Sink] (p 2, group 'other'). */
		fl_stream *s = fl_name(fl_generator(env, count, 0, api_gen_x), "Src");
		s = fl_name(fl_map(s, api_identity), "M1");
		s = fl_disable_chaining(fl_name(fl_map(s, api_identity), "M2"));
		s = fl_name(fl_map(s, api_identity), "M3");
		s = fl_name(fl_map(s, api_identity), "M4");
		s = fl_start_new_chain(fl_name(fl_map(s, api_identity), "M5"));
		s = fl_name(fl_filter(s, api_keep_even), "Even");
		s = fl_slot_sharing_group(fl_name(fl_map(s, api_identity), "M6"), "other");
		s = fl_set_parallelism(s, 2);
		fl_set_parallelism(fl_name(fl_print(s), "Sink"), 2);
	} else if (strcmp(c, "unbounded") == 0) {
		fl_discard(fl_sum(fl_key_by(fl_generator(env, -1, 0, api_gen_keyed), 0), 1));
	} else {
		fprintf(stderr, "api_ops: unknown --case '%s'\n", c);
		fl_env_free(env);
		return 2;
	}
	int rc = fl_execute(env, c);
	if (rc != 0)
		fprintf(stderr, "api_ops: %s\n", fl_env_error(env));
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
