/*
 * text_lines — counts the lines of text inputs, optionally slowly.
 *
 *   text_lines.so [--slow-us N] FILE...
 *
 * Text file source (all files) → a map that turns each line into
 * ("lines", 1) and, with --slow-us, sleeps N µs per line → key_by(0) →
 * sum(1), in BATCH mode: prints "lines<TAB>TOTAL" once. Slow reading gives
 * a test time to change an input while it is read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <flinc/flinc.h>

static long slow_us;

int text_lines_one(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	if (slow_us > 0) {
		struct timespec ts = {.tv_sec = slow_us / 1000000, .tv_nsec = slow_us % 1000000 * 1000};
		nanosleep(&ts, NULL);
	}
	fl_row_clear(out);
	fl_row_add_string(out, "lines", 5);
	return fl_row_add_int64(out, 1);
}

int main(int argc, char **argv)
{
	int first = 1;
	if (argc > 2 && strcmp(argv[1], "--slow-us") == 0) {
		slow_us = atol(argv[2]);
		first = 3;
	}
	if (first >= argc) {
		fprintf(stderr, "usage: text_lines.so [--slow-us N] FILE...\n");
		return 2;
	}
	fl_env *env = fl_env_new(argc, argv);
	if (!env)
		return 1;
	fl_env_set_runtime_mode(env, FL_MODE_BATCH);
	fl_stream *s = fl_read_text_files(env, (const char *const *)argv + first,
					  (size_t)(argc - first));
	fl_print(fl_sum(fl_key_by(fl_map(s, text_lines_one), 0), 1));
	int rc = fl_execute(env, "TextLines");
	if (rc)
		fprintf(stderr, "text_lines: %s\n", fl_env_error(env));
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
