/*
 * SocketWindowWordCount — Flink's classic first streaming job: the words of
 * the lines a socket sends, counted per word in tumbling processing-time
 * windows, printed as each window ends.
 *
 *   nc -lk 9999                                   # in one terminal: type lines
 *   flinc run --local socket_window_word_count.so --port 9999 [--hostname HOST]
 *       [--window-ms MS] [--max-retry N] [--output DIR]
 *
 * Output lines are `<word><TAB><count>`, one per word seen in a window of
 * --window-ms (default 5000) ms, when the window ends; words are runs of
 * ASCII letters and digits, lowercased. When the socket closes, the job
 * connects again up to --max-retry times, 500 ms apart (default 0: it ends
 * with the connection; -1: for ever); an unreachable socket fails the job
 * naming the address. A window still open when the input ends is dropped:
 * processing-time windows fire on the clock, not at the end of the input
 * (as in Flink).
 *
 * Build your own job the same way:
 *   cc -shared -fPIC socket_window_word_count.c -o socket_window_word_count.so \
 *      $(pkg-config --cflags --libs flinc)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

static int is_word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Splits a line into (word, 1) rows, the word lowercased. */
int swwc_tokenize(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	size_t len;
	const char *s = fl_row_string(in, 0, &len);
	size_t i = 0;
	while (i < len) {
		while (i < len && !is_word_char((unsigned char)s[i]))
			i++;
		size_t start = i;
		while (i < len && is_word_char((unsigned char)s[i]))
			i++;
		if (i == start)
			break;
		size_t wlen = i - start;
		char *w = fl_ctx_scratch(ctx, wlen);
		if (!w)
			return fl_fail(ctx, "a line holds more than 1 MiB of words");
		for (size_t k = 0; k < wlen; k++) {
			char c = s[start + k];
			w[k] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
		}
		fl_row row;
		fl_row_clear(&row);
		int rc = fl_row_add_string(&row, w, wlen);
		if (rc == 0)
			rc = fl_row_add_int64(&row, 1);
		if (rc == 0)
			rc = fl_collect(out, &row);
		if (rc)
			return rc;
	}
	return 0;
}

int swwc_sum(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	(void)ctx;
	*out = *acc;
	out->values[1].u.i += fl_row_int64(in, 1);
	return 0;
}

static int usage(const char *why)
{
	fprintf(stderr,
		"socket_window_word_count: %s\n"
		"usage: socket_window_word_count --port PORT [--hostname HOST] [--window-ms MS] "
		"[--max-retry N] [--output DIR]\n",
		why);
	return 2;
}

/* An integer in lo..hi from s, or fails with *ok false. */
static long long number(const char *s, long long lo, long long hi, int *ok)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	*ok = *s && *end == '\0' && v >= lo && v <= hi;
	return v;
}

int main(int argc, char **argv)
{
	const char *host = "localhost", *output = NULL;
	long long port = -1, window_ms = 5000, max_retry = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return usage("an option without its value");
		i++;
		int ok = 1;
		if (strcmp(a, "--hostname") == 0)
			host = v;
		else if (strcmp(a, "--output") == 0)
			output = v;
		else if (strcmp(a, "--port") == 0)
			port = number(v, 1, 65535, &ok);
		else if (strcmp(a, "--window-ms") == 0)
			window_ms = number(v, 1, 365LL * 24 * 3600 * 1000, &ok);
		else if (strcmp(a, "--max-retry") == 0)
			max_retry = number(v, -1, 1000000000, &ok);
		else
			return usage("unknown option");
		if (!ok) {
			fprintf(stderr, "socket_window_word_count: bad value '%s' for %s\n", v, a);
			return 2;
		}
	}
	if (port < 0)
		return usage("give --port (the socket to read, e.g. of `nc -lk 9999`)");
	fl_env *env = fl_env_new(argc, argv);
	if (!env)
		return 1;
	fl_window_spec spec = {.kind = FL_WINDOW_TUMBLING,
			       .time = FL_PROCESSING_TIME,
			       .size_ms = window_ms,
			       .reduce = swwc_sum};
	fl_stream *s = fl_socket_text(env, host, (int)port, max_retry);
	s = fl_window(fl_key_by(fl_flat_map(s, swwc_tokenize), 0), &spec);
	if (output)
		fl_write_text(s, output);
	else
		fl_print(s);
	int rc = fl_execute(env, "Socket Window WordCount");
	if (rc)
		fprintf(stderr, "socket_window_word_count: %s\n", fl_env_error(env));
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
