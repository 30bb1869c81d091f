/*
 * JoinFiles — two text inputs joined by key in event time (issue #9's
 * two-input example: Flink's window join and interval join):
 *
 *   flinc run --local join_files.so --left FILE [--left FILE]...
 *       --right FILE [--right FILE]...
 *       (--window MS [--slide MS] | --session-gap MS | --interval LOWER UPPER)
 *       [--left-outer] --out-of-orderness MS [--output DIR]
 *
 * Input lines are `<epoch millis><TAB><key><TAB><value>`; the event time is
 * the first field, each input's watermark bounded by --out-of-orderness.
 * --window MS joins the left and right lines of a key that fall in the same
 * tumbling window of MS ms (with --slide, sliding windows of MS every
 * --slide ms: a pair is joined once per window it shares), when the
 * watermark passes the window's end. --session-gap MS joins the lines of a
 * key in the same session: a run of lines of either side each at most MS
 * ms after the one before (Flink's EventTimeSessionWindows.withGap), when
 * the watermark passes the session's last line by MS ms. --interval LOWER UPPER joins a left
 * line at tl with the right lines of its key at tr, tl + LOWER <= tr <=
 * tl + UPPER (both inclusive; LOWER may be negative), as they arrive.
 * Output lines are
 *
 *   <key><TAB><left value><TAB><right value><TAB><left millis><TAB><right millis>
 *
 * one per pair joined. --left-outer (with --window or --session-gap) makes
 * it a left outer join, by Flink's coGroup of the two sides' lines per key
 * and window: a left line without a right one in its window is output
 * once, as `<key><TAB><left value><TAB>-<TAB><left millis><TAB>-`.
 * Without --output they are printed to stdout. Lines
 * behind the watermark are late and dropped (the TaskManager logs how many).
 *
 * Build your own job the same way:
 *   cc -shared -fPIC join_files.c -o join_files.so $(pkg-config --cflags --libs flinc)
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

/* The event time of a line: its first field. */
int jf_timestamp(fl_ctx *ctx, const fl_row *in, int64_t *ts)
{
	size_t len;
	const char *s = fl_row_string(in, 0, &len);
	char buf[24];
	size_t n = 0;
	while (n < len && n < sizeof(buf) - 1 && s[n] != '\t')
		buf[n] = s[n], n++;
	buf[n] = '\0';
	char *end;
	*ts = strtoll(buf, &end, 10);
	if (n == 0 || *end != '\0' || n == sizeof(buf) - 1)
		return fl_fail(ctx, "no timestamp at the start of the line '%.60s'", s);
	return 0;
}

/* (key, value, millis) from a line. */
int jf_parse(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	size_t len;
	const char *s = fl_row_string(in, 0, &len);
	const char *k = memchr(s, '\t', len);
	const char *v = k ? memchr(k + 1, '\t', len - (size_t)(k + 1 - s)) : NULL;
	if (!v)
		return fl_fail(ctx, "a line without its key and value: '%.60s'", s);
	fl_row_clear(out);
	fl_row_add_string(out, k + 1, (size_t)(v - k - 1));
	fl_row_add_string(out, v + 1, len - (size_t)(v + 1 - s));
	return fl_row_add_int64(out, fl_ctx_timestamp(ctx));
}

int jf_join(fl_ctx *ctx, const fl_row *l, const fl_row *r, fl_collector *out)
{
	size_t kn, ln, rn;
	const char *k = fl_row_string(l, 0, &kn);
	const char *lv = fl_row_string(l, 1, &ln);
	const char *rv = fl_row_string(r, 1, &rn);
	fl_row o = {0};
	fl_row_add_string(&o, k, kn);
	fl_row_add_string(&o, lv, ln);
	fl_row_add_string(&o, rv, rn);
	fl_row_add_int64(&o, fl_row_int64(l, 2));
	fl_row_add_int64(&o, fl_row_int64(r, 2));
	return fl_collect(out, &o);
}

/* --left-outer: a window's pairs, and its left lines alone when it has no
 * right one. */
int jf_left_outer(fl_ctx *ctx, const fl_row *l, size_t nl, const fl_row *r, size_t nr,
		  fl_collector *out)
{
	for (size_t i = 0; i < nl; i++) {
		if (nr == 0) {
			size_t kn, ln;
			const char *k = fl_row_string(&l[i], 0, &kn);
			const char *lv = fl_row_string(&l[i], 1, &ln);
			fl_row o = {0};
			fl_row_add_string(&o, k, kn);
			fl_row_add_string(&o, lv, ln);
			fl_row_add_string(&o, "-", 1);
			fl_row_add_int64(&o, fl_row_int64(&l[i], 2));
			fl_row_add_string(&o, "-", 1);
			int rc = fl_collect(out, &o);
			if (rc)
				return rc;
		}
		for (size_t j = 0; j < nr; j++) {
			int rc = jf_join(ctx, &l[i], &r[j], out);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int usage(const char *why)
{
	fprintf(stderr,
		"join_files: %s\n"
		"usage: join_files --left FILE [--left FILE]... --right FILE [--right FILE]... "
		"(--window MS [--slide MS] | --session-gap MS | --interval LOWER UPPER) "
		"[--left-outer] --out-of-orderness MS [--output DIR]\n",
		why);
	return 2;
}

/* A whole number of ms from an argument into *v; false if it is not one. */
static bool millis(const char *s, int64_t *v)
{
	char *end;
	long long x = strtoll(s, &end, 10);
	*v = x;
	return *s && *end == '\0';
}

/* One input: the files, timestamps from the lines, (key, value, millis),
 * keyed by key. */
static fl_stream *input(fl_env *env, const char **paths, size_t n, int64_t bound)
{
	fl_watermark_strategy ws = {.kind = FL_WATERMARK_BOUNDED,
				    .out_of_orderness_ms = bound,
				    .timestamp_fn = jf_timestamp};
	fl_stream *s = fl_assign_timestamps_and_watermarks(fl_read_text_files(env, paths, n), &ws);
	return fl_key_by(fl_map(s, jf_parse), 0);
}

int main(int argc, char **argv)
{
	const char *left[64], *right[64];
	size_t nleft = 0, nright = 0;
	const char *output = NULL;
	int64_t window = -1, slide = -1, gap = -1, lower = 0, upper = 0, bound = -1;
	bool interval = false, outer = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--left-outer") == 0) {
			outer = true;
			continue;
		}
		if (!v)
			return usage("an option without its value");
		i++;
		if (strcmp(a, "--left") == 0 || strcmp(a, "--right") == 0) {
			bool l = a[2] == 'l';
			if ((l ? nleft : nright) == 64)
				return usage("more than 64 files on one side");
			if (l)
				left[nleft++] = v;
			else
				right[nright++] = v;
		} else if (strcmp(a, "--output") == 0) {
			output = v;
		} else if (strcmp(a, "--interval") == 0) {
			if (i + 1 >= argc || !millis(v, &lower) || !millis(argv[i + 1], &upper))
				return usage("--interval needs LOWER and UPPER, whole ms");
			interval = true;
			i++;
		} else {
			int64_t ms;
			if (!millis(v, &ms) || ms < 0) {
				fprintf(stderr,
					"join_files: %s needs a number of ms >= 0, not '%s'\n", a,
					v);
				return 2;
			}
			if (strcmp(a, "--window") == 0)
				window = ms;
			else if (strcmp(a, "--slide") == 0)
				slide = ms;
			else if (strcmp(a, "--session-gap") == 0)
				gap = ms;
			else if (strcmp(a, "--out-of-orderness") == 0)
				bound = ms;
			else
				return usage("unknown option");
		}
	}
	if (nleft == 0 || nright == 0 || bound < 0 ||
	    (int)interval + (window >= 0) + (gap >= 0) != 1 || (slide >= 0 && window < 0))
		return usage("give --left, --right, --out-of-orderness and one of --window "
			     "(with --slide or not), --session-gap and --interval");
	if (outer && interval)
		return usage("--left-outer joins by window or session, not by interval");
	fl_env *env = fl_env_new(argc, argv);
	if (!env)
		return 1;
	fl_stream *l = input(env, left, nleft, bound), *r = input(env, right, nright, bound);
	fl_stream *joined;
	if (interval) {
		fl_interval_join_spec spec = {
		    .lower_ms = lower, .upper_ms = upper, .join = jf_join};
		joined = fl_interval_join(l, r, &spec);
	} else if (outer) {
		fl_window_cogroup_spec spec = {
		    .kind = gap >= 0 ? FL_WINDOW_SESSION
				     : slide >= 0 ? FL_WINDOW_SLIDING : FL_WINDOW_TUMBLING,
		    .size_ms = window,
		    .slide_ms = slide,
		    .gap_ms = gap,
		    .cogroup = jf_left_outer};
		joined = fl_window_cogroup(l, r, &spec);
	} else if (gap >= 0) {
		fl_window_join_spec spec = {
		    .kind = FL_WINDOW_SESSION, .gap_ms = gap, .join = jf_join};
		joined = fl_window_join(l, r, &spec);
	} else {
		fl_window_join_spec spec = {.kind =
						slide >= 0 ? FL_WINDOW_SLIDING : FL_WINDOW_TUMBLING,
					    .size_ms = window,
					    .slide_ms = slide,
					    .join = jf_join};
		joined = fl_window_join(l, r, &spec);
	}
	if (output)
		fl_write_text(joined, output);
	else
		fl_print(joined);
	int rc = fl_execute(env, "JoinFiles");
	if (rc)
		fprintf(stderr, "join_files: %s\n", fl_env_error(env));
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
