/*
 * event_time.c — a job for the event-time tests (issue #9): lines
 * "<epoch millis><TAB><key>" of text files, timestamps from the first
 * field (an assigner function), a bounded-out-of-orderness watermark →
 * map to (key, millis) → key_by(key) → a process function that writes
 * "<key><TAB><millis><TAB><timestamp><TAB><late>" per record, late 1 when
 * the record's timestamp is not above the task's watermark when it
 * arrives (0 otherwise), into the text sink.
 *
 *   event_time.so --out-of-orderness MS --output DIR FILE...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

int et_timestamp(fl_ctx *ctx, const fl_row *in, int64_t *ts)
{
	size_t len;
	const char *s = fl_row_string(in, 0, &len);
	char buf[32];
	size_t n = 0;
	while (n < len && n < sizeof(buf) - 1 && s[n] != '\t')
		buf[n] = s[n], n++;
	buf[n] = '\0';
	char *end;
	*ts = strtoll(buf, &end, 10);
	if (n == 0 || *end != '\0')
		return fl_fail(ctx, "no timestamp at the start of a line (%.40s)", buf);
	return 0;
}

int et_fields(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	size_t len;
	const char *s = fl_row_string(in, 0, &len);
	const char *tab = memchr(s, '\t', len);
	if (!tab)
		return fl_fail(ctx, "no key in a line");
	fl_row_clear(out);
	int rc = fl_row_add_string(out, tab + 1, len - (size_t)(tab + 1 - s));
	return rc ? rc : fl_row_add_int64(out, strtoll(s, NULL, 10));
}

int et_mark(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	int64_t ts = fl_ctx_timestamp(ctx);
	fl_row r = *in;
	fl_row_add_int64(&r, ts);
	fl_row_add_int64(&r, ts <= fl_ctx_watermark(ctx) ? 1 : 0);
	return fl_collect(out, &r);
}

int main(int argc, char **argv)
{
	int64_t bound = -1;
	const char *dir = NULL;
	int first = 1;
	for (; first + 1 < argc && strncmp(argv[first], "--", 2) == 0; first += 2) {
		if (strcmp(argv[first], "--out-of-orderness") == 0)
			bound = strtoll(argv[first + 1], NULL, 10);
		else if (strcmp(argv[first], "--output") == 0)
			dir = argv[first + 1];
		else
			return 2;
	}
	if (first >= argc || !dir)
		return 2;
	fl_env *env = fl_env_new(argc, argv);
	if (!env)
		return 1;
	fl_stream *s =
	    fl_read_text_files(env, (const char *const *)argv + first, (size_t)(argc - first));
	fl_watermark_strategy ws = {.kind = FL_WATERMARK_BOUNDED,
				    .out_of_orderness_ms = bound,
				    .timestamp_fn = et_timestamp};
	s = fl_assign_timestamps_and_watermarks(s, &ws);
	s = fl_map(s, et_fields);
	fl_write_text(fl_process(fl_key_by(s, 0), et_mark), dir);
	int rc = fl_execute(env, "EventTime");
	if (rc)
		fprintf(stderr, "%s\n", fl_env_error(env));
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
