/*
 * WindowCount — records counted per key and event-time window (issue #9's
 * example job):
 *
 *   flinc run --local window_count.so --input FILE [--input FILE]...
 *       (--tumbling MS | --sliding MS --slide MS | --session-gap MS)
 *       --out-of-orderness MS
 *       [--allowed-lateness MS] [--output DIR] [--mode streaming|batch]
 *       [--trigger-count N [--trigger-purging true]] [--evictor-count N
 *       [--evictor-after true]]
 *
 * Input lines are `<epoch millis><TAB><key>`; the event time is the first
 * field, the watermark bounded by --out-of-orderness. Output lines are
 * `<window start><TAB><window end><TAB><key><TAB><count>` (start inclusive,
 * end exclusive, ms), one per window fired: a window fires again with its
 * new count when a late record within --allowed-lateness arrives (the last
 * line of a window is its count). Records later than that are dropped; the
 * TaskManager logs how many when the job ends. In batch mode the only
 * watermark is the final one: every window fires once, at the end, and no
 * record is late (as Flink's BATCH execution). Without --output the lines
 * are printed to stdout. Session windows end --session-gap ms after the last
 * record of their key (records closer than that are one session).
 *
 * --trigger-count N replaces the window's trigger with a count trigger
 * (Flink's CountTrigger.of(N)): a window fires each time N more records
 * arrived, with its whole count so far, and no longer at its end (records
 * since its last firing are dropped when it is cleared); with
 * --trigger-purging true each firing empties it (PurgingTrigger). An
 * --evictor-count N keeps only a window's last N records when it fires
 * (CountEvictor.of(N), before the count; --evictor-after true: after it).
 *
 * Build your own job the same way:
 *   cc -shared -fPIC window_count.c -o window_count.so $(pkg-config --cflags --libs flinc)
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

/* The event time of a line: its first field. */
int wc_timestamp(fl_ctx *ctx, const fl_row *in, int64_t *ts)
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

/* (key, 1) from a line. */
int wc_key_one(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	size_t len;
	const char *s = fl_row_string(in, 0, &len);
	const char *tab = memchr(s, '\t', len);
	if (!tab)
		return fl_fail(ctx, "no key after the timestamp in the line '%.60s'", s);
	fl_row_clear(out);
	int rc = fl_row_add_string(out, tab + 1, len - (size_t)(tab + 1 - s));
	return rc ? rc : fl_row_add_int64(out, 1);
}

int wc_sum(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	*out = *acc;
	out->values[1].u.i += fl_row_int64(in, 1);
	return 0;
}

/* start, end, key, count */
int wc_emit(fl_ctx *ctx, int64_t start, int64_t end, const fl_row *result, fl_collector *out)
{
	size_t n;
	const char *key = fl_row_string(result, 0, &n);
	fl_row r = {0};
	fl_row_add_int64(&r, start);
	fl_row_add_int64(&r, end);
	fl_row_add_string(&r, key, n);
	fl_row_add_int64(&r, fl_row_int64(result, 1));
	return fl_collect(out, &r);
}

static int usage(const char *why)
{
	fprintf(stderr,
		"window_count: %s\n"
		"usage: window_count --input FILE [--input FILE]... (--tumbling MS | --sliding MS "
		"--slide MS) --out-of-orderness MS [--allowed-lateness MS] [--output DIR] "
		"[--mode streaming|batch] [--trigger-count N [--trigger-purging true]] "
		"[--evictor-count N [--evictor-after true]]\n",
		why);
	return 2;
}

/* A number of ms >= 0 from an argument, or -1. */
static int64_t millis(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	return *s && *end == '\0' && v >= 0 ? v : -1;
}

int main(int argc, char **argv)
{
	const char *inputs[64];
	size_t ninputs = 0;
	const char *output = NULL;
	bool batch = false;
	int64_t tumbling = -1, sliding = -1, slide = -1, gap = -1, bound = -1, lateness = 0;
	int64_t trigger_count = -1, evictor_count = -1;
	bool purging = false, evict_after = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return usage("an option without its value");
		i++;
		if (strcmp(a, "--input") == 0) {
			if (ninputs == sizeof(inputs) / sizeof(inputs[0]))
				return usage("more than 64 --input files");
			inputs[ninputs++] = v;
		} else if (strcmp(a, "--output") == 0) {
			output = v;
		} else if (strcmp(a, "--mode") == 0) {
			if (strcmp(v, "streaming") != 0 && strcmp(v, "batch") != 0)
				return usage("--mode must be streaming or batch");
			batch = strcmp(v, "batch") == 0;
		} else if (strcmp(a, "--trigger-purging") == 0 || strcmp(a, "--evictor-after") == 0) {
			if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
				return usage("--trigger-purging and --evictor-after take true or false");
			*(a[2] == 't' ? &purging : &evict_after) = strcmp(v, "true") == 0;
		} else {
			int64_t ms = millis(v);
			if (ms < 0) {
				fprintf(stderr,
					"window_count: %s needs a number of ms >= 0, not '%s'\n", a,
					v);
				return 2;
			}
			if (strcmp(a, "--tumbling") == 0)
				tumbling = ms;
			else if (strcmp(a, "--sliding") == 0)
				sliding = ms;
			else if (strcmp(a, "--slide") == 0)
				slide = ms;
			else if (strcmp(a, "--session-gap") == 0)
				gap = ms;
			else if (strcmp(a, "--out-of-orderness") == 0)
				bound = ms;
			else if (strcmp(a, "--allowed-lateness") == 0)
				lateness = ms;
			else if (strcmp(a, "--trigger-count") == 0)
				trigger_count = ms;
			else if (strcmp(a, "--evictor-count") == 0)
				evictor_count = ms;
			else
				return usage("unknown option");
		}
	}
	if (ninputs == 0 || bound < 0 || (tumbling >= 0) + (sliding >= 0) + (gap >= 0) != 1 ||
	    (sliding >= 0) != (slide >= 0))
		return usage("give --input, --out-of-orderness, and one of --tumbling, --sliding "
			     "with --slide, --session-gap");
	fl_env *env = fl_env_new(argc, argv);
	if (!env)
		return 1;
	if (batch) {
		fl_env_set_runtime_mode(env, FL_MODE_BATCH);
		fl_env_set_config(env, "pipeline.auto-watermark-interval", "0 ms");
	}
	fl_window_spec spec = {.kind = tumbling >= 0  ? FL_WINDOW_TUMBLING
				       : sliding >= 0 ? FL_WINDOW_SLIDING
						      : FL_WINDOW_SESSION,
			       .size_ms = tumbling >= 0 ? tumbling : sliding,
			       .slide_ms = slide,
			       .gap_ms = gap,
			       .allowed_lateness_ms = lateness,
			       .reduce = wc_sum,
			       .window_fn = wc_emit};
	if (trigger_count >= 0)
		spec.trigger = (fl_window_trigger){
		    .kind = FL_TRIGGER_COUNT, .count = trigger_count, .purging = purging};
	else
		spec.trigger.purging = purging;
	if (evictor_count >= 0)
		spec.evictor = (fl_window_evictor){
		    .kind = FL_EVICTOR_COUNT, .count = evictor_count, .after = evict_after};
	fl_watermark_strategy ws = {.kind = FL_WATERMARK_BOUNDED,
				    .out_of_orderness_ms = bound,
				    .timestamp_fn = wc_timestamp};
	fl_stream *s = fl_read_text_files(env, inputs, ninputs);
	s = fl_map(fl_assign_timestamps_and_watermarks(s, &ws), wc_key_one);
	s = fl_window(fl_key_by(s, 0), &spec);
	if (output)
		fl_write_text(s, output);
	else
		fl_print(s);
	int rc = fl_execute(env, "WindowCount");
	if (rc)
		fprintf(stderr, "window_count: %s\n", fl_env_error(env));
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
