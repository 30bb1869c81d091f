/*
 * checkpointed.c — a job for the checkpoint tests: a paced generator of
 * (offset, offset % 7) rows, rebalanced to a map, discarded; with
 * --keyed, keyed by field 1 and summed instead (keyed state); with
 * --text DIR, written as text to DIR (a sink that cannot take part in
 * checkpoints yet, so its tasks decline them).
 *
 *   checkpointed.so [--rate ROWS_PER_S] [--count N] [--keyed] [--text DIR]
 */
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

int ckp_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	int rc = fl_row_add_int64(out, off);
	return rc ? rc : fl_row_add_int64(out, off % 7);
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
	int keyed = 0;
	const char *text = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc)
			rate = atof(argv[++i]);
		else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			count = atoll(argv[++i]);
		else if (strcmp(argv[i], "--keyed") == 0)
			keyed = 1;
		else if (strcmp(argv[i], "--text") == 0 && i + 1 < argc)
			text = argv[++i];
	}
	fl_env *env = fl_env_new(argc, argv);
	fl_stream *s = fl_uid(fl_generator(env, count, rate, ckp_gen), "numbers");
	if (keyed)
		s = fl_uid(fl_sum(fl_key_by(s, 1), 0), "sums");
	else
		s = fl_uid(fl_map(fl_rebalance(s), ckp_map), "copy");
	if (text)
		fl_write_text(s, text);
	else
		fl_discard(s);
	int rc = fl_execute(env, "Checkpointed");
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
