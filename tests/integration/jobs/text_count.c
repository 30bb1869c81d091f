/*
 * text_count.c — a job for the text source's checkpoint tests: the lines of
 * text files (uid "lines") → a map that takes each line's first word →
 * key_by(word) → sum of 1 per line (uid "counts") → print, streaming. A
 * word's largest printed count is its final one, as counts only grow.
 *
 * --paced: the map sleeps 1 ms every 16 lines of its subtask (at most 16 K
 * lines/s per subtask), so checkpoints land in the middle of the reading.
 * --fail-once: paced too, and the map fails on a line holding the word
 * FAILONCE when the file named by the environment variable
 * CKP_FAIL_MARKER of the process running it does not exist yet (the
 * failure creates it), for recovery tests.
 *
 * Functions run in TaskManagers, where main() never ran: what they need is
 * in their names (one map per variant), not in globals main() sets.
 *
 *   text_count.so [--paced | --fail-once] FILE...
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <flinc/flinc.h>

#define PACE_EVERY 16

static int first_word(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	size_t len;
	const char *s = fl_row_string(in, 0, &len);
	size_t n = 0;
	while (n < len && s[n] != ' ')
		n++;
	fl_row_clear(out);
	int rc = fl_row_add_string(out, s, n);
	return rc ? rc : fl_row_add_int64(out, 1);
}

static void pace(void)
{
	static _Thread_local unsigned lines; /* per subtask: one thread each */
	if (++lines % PACE_EVERY == 0) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
}

int text_count_word(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	return first_word(ctx, in, out);
}

int text_count_word_paced(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	pace();
	return first_word(ctx, in, out);
}

int text_count_word_fail_once(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	pace();
	size_t len;
	const char *s = fl_row_string(in, 0, &len);
	const char *marker = getenv("CKP_FAIL_MARKER");
	if (marker && memmem(s, len, "FAILONCE", 8)) {
		int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd >= 0) {
			close(fd);
			return fl_fail(ctx, "failing once at the FAILONCE line, as asked");
		}
	}
	return first_word(ctx, in, out);
}

int main(int argc, char **argv)
{
	fl_map_fn fn = text_count_word;
	int first = 1;
	for (; first < argc && strncmp(argv[first], "--", 2) == 0; first++) {
		if (strcmp(argv[first], "--paced") == 0)
			fn = text_count_word_paced;
		else if (strcmp(argv[first], "--fail-once") == 0)
			fn = text_count_word_fail_once;
		else
			return 2;
	}
	if (first >= argc)
		return 2;
	fl_env *env = fl_env_new(argc, argv);
	if (!env)
		return 1;
	fl_stream *s = fl_uid(
	    fl_read_text_files(env, (const char *const *)argv + first, (size_t)(argc - first)),
	    "lines");
	s = fl_name(fl_map(s, fn), "First Word");
	fl_print(fl_uid(fl_sum(fl_key_by(s, 0), 1), "counts"));
	int rc = fl_execute(env, "TextCount");
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
