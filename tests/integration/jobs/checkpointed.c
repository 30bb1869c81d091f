/*
 * checkpointed.c — a job for the checkpoint and restore tests: a paced
 * generator of (offset, offset % M) rows (M = 7 unless --mod), rebalanced
 * to a map, discarded; with --keyed, keyed by field 1 and summed instead
 * (keyed state: every key's running sum of offsets); with --print, the
 * result printed instead of discarded (a key's largest printed sum is its
 * final one, as sums only grow); with --text DIR, written as text to DIR.
 * --fail-once: the source fails at offset 25000 once, when the file named
 * by the environment variable CKP_FAIL_MARKER of the process running it
 * does not exist yet (the failure creates it), for recovery tests.
 * --uid-suffix S appends S to every uid (a program whose operators no
 * longer match a savepoint's). --source-parallelism N runs the generator
 * with N subtasks whatever the job's parallelism (1: every key's records
 * reach its sum in offset order, so each update it emits is known).
 *
 * Functions run in TaskManagers, where main() never ran: what they need is
 * in their names (one generator per variant), not in globals main() sets.
 *
 *   checkpointed.so [--rate ROWS_PER_S] [--count N] [--mod 7|50] [--keyed]
 *                   [--print | --text DIR] [--fail-once] [--uid-suffix S]
 *                   [--source-parallelism N]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <flinc/flinc.h>

#define FAIL_AT 25000

static int gen(fl_ctx *ctx, int64_t off, fl_row *out, int64_t mod)
{
	int rc = fl_row_add_int64(out, off);
	return rc ? rc : fl_row_add_int64(out, off % mod);
}

int ckp_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	return gen(ctx, off, out, 7);
}

int ckp_gen50(fl_ctx *ctx, int64_t off, fl_row *out)
{
	return gen(ctx, off, out, 50);
}

int ckp_gen50_fail_once(fl_ctx *ctx, int64_t off, fl_row *out)
{
	const char *marker = getenv("CKP_FAIL_MARKER");
	if (off == FAIL_AT && marker) {
		int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd >= 0) {
			close(fd);
			return fl_fail(ctx, "failing once at offset %lld, as asked", (long long)off);
		}
	}
	return gen(ctx, off, out, 50);
}

int ckp_map(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	*out = *in;
	return 0;
}

int main(int argc, char **argv)
{
	double rate = 2000;
	int64_t count = -1;
	int keyed = 0, print = 0, mod = 7, fail_once = 0, source_p = 0;
	const char *text = NULL, *suffix = "";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc)
			rate = atof(argv[++i]);
		else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			count = atoll(argv[++i]);
		else if (strcmp(argv[i], "--mod") == 0 && i + 1 < argc)
			mod = atoi(argv[++i]);
		else if (strcmp(argv[i], "--keyed") == 0)
			keyed = 1;
		else if (strcmp(argv[i], "--print") == 0)
			print = 1;
		else if (strcmp(argv[i], "--text") == 0 && i + 1 < argc)
			text = argv[++i];
		else if (strcmp(argv[i], "--fail-once") == 0)
			fail_once = 1;
		else if (strcmp(argv[i], "--uid-suffix") == 0 && i + 1 < argc)
			suffix = argv[++i];
		else if (strcmp(argv[i], "--source-parallelism") == 0 && i + 1 < argc)
			source_p = atoi(argv[++i]);
	}
	fl_generator_fn fn = fail_once ? ckp_gen50_fail_once : mod == 50 ? ckp_gen50 : ckp_gen;
	char numbers[64], sums[64], copy[64];
	snprintf(numbers, sizeof(numbers), "numbers%s", suffix);
	snprintf(sums, sizeof(sums), "sums%s", suffix);
	snprintf(copy, sizeof(copy), "copy%s", suffix);
	fl_env *env = fl_env_new(argc, argv);
	fl_stream *s = fl_uid(fl_generator(env, count, rate, fn), numbers);
	if (source_p > 0)
		s = fl_set_parallelism(s, source_p);
	if (keyed)
		s = fl_uid(fl_sum(fl_key_by(s, 1), 0), sums);
	else
		s = fl_uid(fl_map(fl_rebalance(s), ckp_map), copy);
	if (text)
		fl_write_text(s, text);
	else if (print)
		fl_print(s);
	else
		fl_discard(s);
	int rc = fl_execute(env, "Checkpointed");
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
