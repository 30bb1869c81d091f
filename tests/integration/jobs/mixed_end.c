/*
 * mixed_end.c — a bounded source and a long one into one keyed sum, for the
 * tests of checkpoints after tasks finish (FLIP-147):
 *
 *   mixed_end.so --count-a NA --count-b NB --rate-b R --mod M --text DIR
 *
 * Source "bounded" (parallelism 1, as fast as it goes) emits (offset, key
 * offset % M) for offsets 0..NA-1 and finishes at once; source "long"
 * (parallelism 1, R rows a second) emits (offset, key M + offset % M) for
 * 0..NB-1. Their union is keyed by the key and summed (every key's running
 * sum of offsets) into the exactly-once text sink DIR. Each key's records
 * come from one source in offset order, so every update the sum emits is
 * known in advance. With MIXED_FAIL_AT=OFF and MIXED_FAIL_MARKER=FILE in
 * the environment the long source fails at offset OFF once (when FILE does
 * not exist yet; the failure creates it).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <flinc/flinc.h>

static int64_t mod_of(void)
{
	const char *m = getenv("MIXED_MOD");
	return m && atoll(m) > 0 ? atoll(m) : 7;
}

int mixed_a(fl_ctx *ctx, int64_t off, fl_row *out)
{
	int rc = fl_row_add_int64(out, off);
	return rc ? rc : fl_row_add_int64(out, off % mod_of());
}

int mixed_b(fl_ctx *ctx, int64_t off, fl_row *out)
{
	const char *at = getenv("MIXED_FAIL_AT"), *marker = getenv("MIXED_FAIL_MARKER");
	if (at && marker && off == atoll(at)) {
		int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd >= 0) {
			close(fd);
			return fl_fail(ctx, "failing once at offset %lld, as asked", (long long)off);
		}
	}
	int64_t m = mod_of();
	int rc = fl_row_add_int64(out, off);
	return rc ? rc : fl_row_add_int64(out, m + off % m);
}

int main(int argc, char **argv)
{
	int64_t na = 1000, nb = 10000;
	double rate = 5000;
	const char *text = NULL;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--count-a") == 0)
			na = atoll(argv[i + 1]);
		else if (strcmp(argv[i], "--count-b") == 0)
			nb = atoll(argv[i + 1]);
		else if (strcmp(argv[i], "--rate-b") == 0)
			rate = atof(argv[i + 1]);
		else if (strcmp(argv[i], "--mod") == 0)
			setenv("MIXED_MOD", argv[i + 1], 1);
		else if (strcmp(argv[i], "--text") == 0)
			text = argv[i + 1];
	}
	if (!text) {
		fprintf(stderr, "usage: mixed_end.so --count-a NA --count-b NB --rate-b R --mod M "
				"--text DIR\n");
		return 2;
	}
	fl_env *env = fl_env_new(argc, argv);
	fl_stream *a = fl_set_parallelism(
	    fl_name(fl_uid(fl_generator(env, na, 0, mixed_a), "bounded"), "Source: Bounded"), 1);
	fl_stream *b = fl_set_parallelism(
	    fl_name(fl_uid(fl_generator(env, nb, rate, mixed_b), "long"), "Source: Long"), 1);
	fl_stream *s = fl_uid(fl_sum(fl_key_by(fl_union(a, b), 1), 0), "sums");
	fl_write_text(s, text);
	int rc = fl_execute(env, "MixedEnd");
	if (rc)
		fprintf(stderr, "mixed_end: %s\n", fl_env_error(env));
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
