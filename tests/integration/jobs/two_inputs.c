/*
 * two_inputs.c — a job for the two-input tests (issue #9, "Two inputs"):
 * two paced generators connected (fl_connect).
 *
 *   A: "orders", offsets 0..N-1: (key = o % 40, event time BASE + 2*o +
 *      (o*7919 % 1000))
 *   B: "payments", offsets 0..N/2-1: (key = o % 40, event time BASE + 4*o +
 *      (o*104729 % 1000))
 *
 * Both have a bounded-out-of-orderness watermark of 1000 ms (no record is
 * late against its own input). Paced at the same rate, B's event time runs
 * twice as fast as A's and B ends halfway, so the operator's watermark (the
 * minimum over both inputs, B's excluded once it ended) is A's: a runtime
 * that took the larger one would fire windows before A's records are in.
 *
 * --mode co-process (default): key_by(key) on both, a keyed co-process
 *   function counting per key and 100 ms window of event time the records
 *   of each input in one MapState (window end -> (count A, count B)), with
 *   an event-time timer at each window's end; the timer prints
 *     <key> <window start> <count A> <count B>
 * --mode co-map: co_map of the unkeyed streams, printing
 *     A <offset>   /   B <offset>
 * --mode key-types: as co-process, B keyed by a string field: the task
 *   fails naming the two key types.
 * --mode timer-unkeyed: a co-process with on_timer on unkeyed streams:
 *   refused when the graph is built.
 * --mode broadcast / broadcast-write: the broadcast state pattern (below).
 * --mode chained: a co-map chained with both its inputs (below): one task
 *   for key_by(A) -> running count, rebalance(B) -> map and the co-map.
 * --mode window-join / sliding-join / session-join / interval-join: the joins
 *   (below). --mode cogroup: a window coGroup of 100 ms tumbling windows
 *   printing per key and window with a record
 *     <key> <count A> <count B> <window end - 1>
 * --mode files --files A B [--paced]: two text files of lines "<key><TAB>...",
 *   co-mapped in one task with both sources, then each key's running count
 *   (--paced: the co-map sleeps 1 ms every 8 lines, so that the test's
 *   stop comes before the end).
 * --mode sources: both generators at the job's parallelism, co-mapped to
 *   (key, time, side) in one task with them, then key_by(key) into a
 *   keyed process function printing the co-process lines.
 * --mode mixed: as sources, but B at parallelism 1 rebalanced into a map
 *   at the job's: the co-map's task runs A's generator beside the map fed
 *   from the network (a source's chain and a network-fed one in one task).
 *   --fail-once: A's generator fails at offset 3000 once, when the file
 *   named by the environment variable TI_FAIL_MARKER of the process running
 *   it does not exist yet (the failure creates it), for recovery tests.
 *
 *   two_inputs.so [--count N] [--rate R] [--mode MODE] [--files A B] [--paced]
 *                 [--fail-once]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <flinc/flinc.h>

#define KEYS 40
#define WIN 100
#define BASE 1700000000000LL

int ti_gen_a(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, off % KEYS);
	fl_row_add_timestamp(out, BASE + 2 * off + off * 7919 % 1000);
	fl_row_add_string(out, "k", 1);
	return fl_row_add_int64(out, off);
}

/* --fail-once: A's generator, failing at offset 3000 the first time
 * (TI_FAIL_MARKER names the file that says it did; the function runs in a
 * TaskManager, so the variant travels as its name). */
int ti_gen_a_fail_once(fl_ctx *ctx, int64_t off, fl_row *out)
{
	const char *marker = getenv("TI_FAIL_MARKER");
	if (off == 3000 && marker) {
		int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd >= 0) {
			close(fd);
			return fl_fail(ctx, "failing once at offset %lld, as asked", (long long)off);
		}
	}
	return ti_gen_a(ctx, off, out);
}

int ti_gen_b(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, off % KEYS);
	fl_row_add_timestamp(out, BASE + 4 * off + off * 104729 % 1000);
	fl_row_add_string(out, "k", 1);
	return fl_row_add_int64(out, off);
}

static const fl_state_desc COUNTS = {.name = "counts"};

/* Adds one to the count of input side for the record's window. */
static int count(fl_ctx *ctx, int side)
{
	int64_t ts = fl_ctx_timestamp(ctx);
	int64_t end = ts - ts % WIN + WIN - 1;
	fl_map_state *m = fl_get_map_state(ctx, &COUNTS);
	fl_row k = {0}, v, n = {0};
	fl_row_add_int64(&k, end);
	int rc = fl_map_state_get(m, &k, &v);
	if (rc < 0)
		return rc;
	int64_t c[2] = {rc ? fl_row_int64(&v, 0) : 0, rc ? fl_row_int64(&v, 1) : 0};
	c[side]++;
	fl_row_add_int64(&n, c[0]);
	fl_row_add_int64(&n, c[1]);
	if ((rc = fl_map_state_put(m, &k, &n)) != 0)
		return rc;
	return fl_ctx_register_event_timer(ctx, end);
}

int ti_orders(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return count(ctx, 0);
}

int ti_payments(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return count(ctx, 1);
}

int ti_fire(fl_ctx *ctx, int64_t time, enum fl_time_domain d, fl_collector *out)
{
	fl_row key, r = {0}, mk = {0}, v;
	int rc = fl_ctx_current_key(ctx, &key);
	if (rc)
		return rc;
	fl_map_state *m = fl_get_map_state(ctx, &COUNTS);
	fl_row_add_int64(&mk, time);
	if ((rc = fl_map_state_get(m, &mk, &v)) != 1)
		return rc < 0 ? rc
			      : fl_fail(ctx, "no counts for the window ending at %lld",
					(long long)time);
	fl_row_add_int64(&r, fl_row_int64(&key, 0));
	fl_row_add_int64(&r, time + 1 - WIN);
	fl_row_add_int64(&r, fl_row_int64(&v, 0));
	fl_row_add_int64(&r, fl_row_int64(&v, 1));
	if ((rc = fl_map_state_remove(m, &mk)) != 0)
		return rc;
	return fl_collect(out, &r);
}

static int tag(const char *t, const fl_row *in, fl_row *out)
{
	fl_row_add_string(out, t, 1);
	return fl_row_add_int64(out, fl_row_int64(in, 3));
}

int ti_map_a(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	return tag("A", in, out);
}

int ti_map_b(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	return tag("B", in, out);
}

/* --mode broadcast: rules (id r, event time BASE + 400*r + r*37 % 100,
 * weight r % 7 + 1) broadcast into RULES; the orders keyed by key count per
 * window in keyed state; the window's timer prints
 *   <key> <window start> <count> <sum of the weights of the rules whose
 *   time is at most the window's end>
 * (exact whatever the order in which the two inputs arrive: at the timer the
 * watermark says every rule up to the window's end is in). */
#define RULES_N 60
static const fl_state_desc RULES = {.name = "rules",
				    .key = {.nfields = 1, .types = {FL_INT64}},
				    .value = {.nfields = 2, .types = {FL_INT64, FL_INT64}}};

int ti_gen_rule(fl_ctx *ctx, int64_t r, fl_row *out)
{
	fl_row_add_int64(out, r);
	fl_row_add_timestamp(out, BASE + 400 * r + r * 37 % 100);
	return fl_row_add_int64(out, r % 7 + 1);
}

int ti_rule(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	fl_map_state *m = fl_get_broadcast_state(ctx, &RULES);
	fl_row k = {0}, v = {0};
	fl_row_add_int64(&k, fl_row_int64(in, 0));
	fl_row_add_int64(&v, fl_row_int64(in, 1));
	fl_row_add_int64(&v, fl_row_int64(in, 2));
	return fl_map_state_put(m, &k, &v);
}

int ti_bc_order(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return count(ctx, 0);
}

/* --mode broadcast-write: the keyed side writes the broadcast state. */
int ti_bc_order_writes(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	fl_row k = {0}, v = {0};
	fl_row_add_int64(&k, -1);
	fl_row_add_int64(&v, 0);
	fl_row_add_int64(&v, 0);
	return fl_map_state_put(fl_get_broadcast_state(ctx, &RULES), &k, &v);
}

int ti_bc_fire(fl_ctx *ctx, int64_t time, enum fl_time_domain d, fl_collector *out)
{
	fl_row key, r = {0}, mk = {0}, v, rk, rv;
	int rc = fl_ctx_current_key(ctx, &key);
	if (rc)
		return rc;
	fl_map_state *m = fl_get_map_state(ctx, &COUNTS);
	fl_row_add_int64(&mk, time);
	if ((rc = fl_map_state_get(m, &mk, &v)) != 1)
		return rc < 0 ? rc
			      : fl_fail(ctx, "no counts for the window ending at %lld",
					(long long)time);
	int64_t sum = 0;
	fl_state_iter *it;
	if ((rc = fl_map_state_entries(fl_get_broadcast_state(ctx, &RULES), &it)) < 0)
		return rc;
	while (rc == 1 && fl_state_iter_next_entry(it, &rk, &rv) == 1)
		if (fl_row_int64(&rv, 0) <= time)
			sum += fl_row_int64(&rv, 1);
	fl_row_add_int64(&r, fl_row_int64(&key, 0));
	fl_row_add_int64(&r, time + 1 - WIN);
	fl_row_add_int64(&r, fl_row_int64(&v, 0));
	fl_row_add_int64(&r, sum);
	if ((rc = fl_map_state_remove(m, &mk)) != 0)
		return rc;
	return fl_collect(out, &r);
}

/* The joins (--mode window-join: tumbling 100 ms; sliding-join: 200 ms
 * every 100 ms; session-join: sessions with a gap of 30 ms over both
 * inputs' records; interval-join: payments from 50 ms before to 100 ms
 * after the order) print
 *   <key> <order offset> <payment offset> <timestamp of the pair> */
int ti_join(fl_ctx *ctx, const fl_row *l, const fl_row *r, fl_collector *out)
{
	fl_row o = {0};
	fl_row_add_int64(&o, fl_row_int64(l, 0));
	fl_row_add_int64(&o, fl_row_int64(l, 3));
	fl_row_add_int64(&o, fl_row_int64(r, 3));
	fl_row_add_int64(&o, fl_ctx_timestamp(ctx));
	return fl_collect(out, &o);
}

/* --mode cogroup: the counts of a key's orders and payments in a window. */
int ti_cogroup(fl_ctx *ctx, const fl_row *l, size_t nl, const fl_row *r, size_t nr,
	       fl_collector *out)
{
	fl_row o = {0};
	fl_row_add_int64(&o, fl_row_int64(nl ? &l[0] : &r[0], 0));
	fl_row_add_int64(&o, (int64_t)nl);
	fl_row_add_int64(&o, (int64_t)nr);
	fl_row_add_int64(&o, fl_ctx_timestamp(ctx));
	return fl_collect(out, &o);
}

/* --mode chained: A keyed by its key into a process function that counts
 * the key's records in keyed state (the source's records of a key arrive
 * in offset order, so the count of offset o is o / 40 + 1, across a
 * savepoint and a restore too), B rebalanced into a map, both forward into
 * a co-map at the same parallelism: the three chain into one task. Lines
 *   A <key> <offset> <count>   /   B <key> <offset> 0 */
static const fl_state_desc RUNNING = {.name = "running", .value = {.nfields = 1, .types = {FL_INT64}}};

int ti_running(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	fl_value_state *s = fl_get_state(ctx, &RUNNING);
	fl_row v, r = {0};
	int rc = fl_value_state_get(s, &v);
	if (rc < 0)
		return rc;
	int64_t c = (rc ? fl_row_int64(&v, 0) : 0) + 1;
	fl_row n = {0};
	fl_row_add_int64(&n, c);
	if ((rc = fl_value_state_update(s, &n)) != 0)
		return rc;
	fl_row_add_string(&r, "A", 1);
	fl_row_add_int64(&r, fl_row_int64(in, 0));
	fl_row_add_int64(&r, fl_row_int64(in, 3));
	fl_row_add_int64(&r, c);
	return fl_collect(out, &r);
}

int ti_tag_chained_b(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	fl_row_add_string(out, "B", 1);
	fl_row_add_int64(out, fl_row_int64(in, 0));
	fl_row_add_int64(out, fl_row_int64(in, 3));
	return fl_row_add_int64(out, 0);
}

/* --mode sources: both generators at the job's parallelism, co-mapped
 * to (key, time, side), then counted per key and window by a keyed process
 * function (the co-process counts, one input at a time). */
static int side_of(int64_t side, const fl_row *in, fl_row *out)
{
	fl_row_add_int64(out, fl_row_int64(in, 0));
	fl_row_add_int64(out, fl_row_int64(in, 1));
	return fl_row_add_int64(out, side);
}

int ti_side_a(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	return side_of(0, in, out);
}

int ti_side_b(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	return side_of(1, in, out);
}

int ti_count_side(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return count(ctx, (int)fl_row_int64(in, 2));
}

/* --mode files A B: the lines "<key><TAB>..." of two text files,
 * co-mapped to (key, side), then each key's running count:
 *   <key> <count>   (1..n for a key of n lines in both files) */
static bool files_paced;

static int key_of_line(fl_ctx *ctx, int64_t side, bool paced, const fl_row *in, fl_row *out)
{
	/* --paced: 1 ms every 8 lines of the subtask's thread. main's
	 * arguments never reach a TaskManager's copy of this library, so the
	 * pacing travels as the functions' names (ti_line_*_paced): a flag set
	 * by main paced only the local cluster, and on the session cluster the
	 * job could end before the test's stop. */
	static _Thread_local unsigned lines;
	if (paced && ++lines % 8 == 0) {
		struct timespec ts = {0, 1000000L};
		nanosleep(&ts, NULL);
	}
	size_t len;
	const char *l = fl_row_string(in, 0, &len);
	char buf[32];
	if (!l || len == 0)
		return fl_fail(ctx, "an empty line");
	if (len >= sizeof(buf))
		len = sizeof(buf) - 1; /* the key is what comes first */
	memcpy(buf, l, len);
	buf[len] = '\0';
	fl_row_add_int64(out, strtoll(buf, NULL, 10));
	return fl_row_add_int64(out, side);
}

int ti_line_a(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	return key_of_line(ctx, 0, false, in, out);
}

int ti_line_b(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	return key_of_line(ctx, 1, false, in, out);
}

int ti_line_a_paced(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	return key_of_line(ctx, 0, true, in, out);
}

int ti_line_b_paced(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	return key_of_line(ctx, 1, true, in, out);
}

int ti_count_key(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	fl_value_state *s = fl_get_state(ctx, &RUNNING);
	fl_row v, r = {0}, n = {0};
	int rc = fl_value_state_get(s, &v);
	if (rc < 0)
		return rc;
	int64_t c = (rc ? fl_row_int64(&v, 0) : 0) + 1;
	fl_row_add_int64(&n, c);
	if ((rc = fl_value_state_update(s, &n)) != 0)
		return rc;
	fl_row_add_int64(&r, fl_row_int64(in, 0));
	fl_row_add_int64(&r, c);
	return fl_collect(out, &r);
}

int ti_same(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	*out = *in;
	return 0;
}

int main(int argc, char **argv)
{
	int64_t n = 20000;
	double rate = 0;
	const char *mode = "co-process";
	const char *file_a = NULL, *file_b = NULL;
	bool fail_once = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--paced") == 0) {
			files_paced = true;
		} else if (strcmp(argv[i], "--fail-once") == 0) {
			fail_once = true;
		} else if (i + 1 >= argc) {
			break; /* a last word alone, ignored as before */
		} else if (strcmp(argv[i], "--files") == 0 && i + 2 < argc) {
			file_a = argv[++i];
			file_b = argv[++i];
		} else if (strcmp(argv[i], "--count") == 0) {
			n = strtoll(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--rate") == 0) {
			rate = strtod(argv[++i], NULL);
		} else if (strcmp(argv[i], "--mode") == 0) {
			mode = argv[++i];
		} else {
			return 2;
		}
	}
	fl_env *env = fl_env_new(argc, argv);
	if (!env)
		return 1;
	fl_watermark_strategy ws = {
	    .kind = FL_WATERMARK_BOUNDED, .out_of_orderness_ms = 1000, .timestamp_field = 1};
	/* --mode sources: the generators at the job's parallelism. */
	const bool at_job_p = strcmp(mode, "sources") == 0;
	const bool mixed = strcmp(mode, "mixed") == 0; /* A only at the job's */
	fl_stream *a = NULL, *b = NULL;
	if (strcmp(mode, "files") != 0) { /* --mode files has no generators */
		a = fl_uid(fl_generator(env, n, rate, fail_once ? ti_gen_a_fail_once : ti_gen_a),
			   "orders");
		b = fl_uid(fl_generator(env, n / 2, rate, ti_gen_b), "payments");
		a = fl_assign_timestamps_and_watermarks(
		    at_job_p || mixed ? a : fl_set_parallelism(a, 1), &ws);
		b = fl_assign_timestamps_and_watermarks(at_job_p ? b : fl_set_parallelism(b, 1),
							&ws);
	}
	fl_co_process_spec spec = {
	    .process1 = ti_orders, .process2 = ti_payments, .on_timer = ti_fire};
	fl_window_join_spec wj = {.kind = FL_WINDOW_TUMBLING, .size_ms = WIN, .join = ti_join};
	fl_interval_join_spec ij = {.lower_ms = -50, .upper_ms = 100, .join = ti_join};
	if (strcmp(mode, "session-join") == 0)
		wj = (fl_window_join_spec){.kind = FL_WINDOW_SESSION, .gap_ms = 30, .join = ti_join};
	if (strcmp(mode, "sliding-join") == 0)
		wj = (fl_window_join_spec){.kind = FL_WINDOW_SLIDING,
					   .size_ms = 2 * WIN,
					   .slide_ms = WIN,
					   .join = ti_join};
	if (strcmp(mode, "window-join") == 0 || strcmp(mode, "sliding-join") == 0 ||
	    strcmp(mode, "session-join") == 0) {
		fl_print(fl_uid(fl_window_join(fl_key_by(a, 0), fl_key_by(b, 0), &wj), "join"));
	} else if (strcmp(mode, "cogroup") == 0) {
		fl_window_cogroup_spec cg = {
		    .kind = FL_WINDOW_TUMBLING, .size_ms = WIN, .cogroup = ti_cogroup};
		fl_print(fl_uid(fl_window_cogroup(fl_key_by(a, 0), fl_key_by(b, 0), &cg), "join"));
	} else if (strcmp(mode, "interval-join") == 0) {
		fl_print(fl_uid(fl_interval_join(fl_key_by(a, 0), fl_key_by(b, 0), &ij), "join"));
	} else if (strncmp(mode, "broadcast", 9) == 0) {
		fl_stream *rules = fl_assign_timestamps_and_watermarks(
		    fl_set_parallelism(
			fl_uid(
			    fl_generator(env, RULES_N, rate * RULES_N / (n ? n : 1), ti_gen_rule),
			    "rules"),
			1),
		    &ws);
		fl_broadcast_process_spec bs = {.process = strcmp(mode, "broadcast-write") == 0
							       ? ti_bc_order_writes
							       : ti_bc_order,
						.process_broadcast = ti_rule,
						.on_timer = ti_bc_fire};
		fl_print(
		    fl_uid(fl_broadcast_process(
			       fl_connect(fl_key_by(a, 0), fl_broadcast_state(rules, &RULES)), &bs),
			   "bc-counts"));
	} else if (strcmp(mode, "chained") == 0) {
		fl_process_spec rs = {.process = ti_running};
		fl_stream *ca = fl_uid(fl_keyed_process(fl_key_by(a, 0), &rs), "running");
		fl_stream *cb = fl_uid(fl_map(fl_rebalance(b), ti_tag_chained_b), "tag-b");
		fl_print(fl_uid(fl_co_map(fl_connect(ca, cb), ti_same, ti_same), "co-map"));
	} else if (strcmp(mode, "files") == 0) {
		if (!file_a || !file_b)
			return 2;
		fl_stream *fa = fl_uid(fl_read_text_file(env, file_a), "file-a");
		fl_stream *fb = fl_uid(fl_read_text_file(env, file_b), "file-b");
		fl_stream *co = fl_uid(fl_co_map(fl_connect(fa, fb),
						 files_paced ? ti_line_a_paced : ti_line_a,
						 files_paced ? ti_line_b_paced : ti_line_b),
				       "lines");
		fl_process_spec cs = {.process = ti_count_key};
		fl_print(fl_uid(fl_keyed_process(fl_key_by(co, 0), &cs), "key-counts"));
	} else if (strcmp(mode, "sources") == 0) {
		/* Chained with the co-map into one task. */
		fl_stream *co = fl_uid(fl_co_map(fl_connect(a, b), ti_side_a, ti_side_b), "sides");
		fl_process_spec cs = {.process = ti_count_side, .on_timer = ti_fire};
		fl_print(fl_uid(fl_keyed_process(fl_key_by(co, 0), &cs), "counts"));
	} else if (mixed) {
		fl_stream *mb = fl_uid(fl_map(fl_rebalance(b), ti_same), "payments-in");
		fl_stream *co = fl_uid(fl_co_map(fl_connect(a, mb), ti_side_a, ti_side_b), "sides");
		fl_process_spec cs = {.process = ti_count_side, .on_timer = ti_fire};
		fl_print(fl_uid(fl_keyed_process(fl_key_by(co, 0), &cs), "counts"));
	} else if (strcmp(mode, "co-map") == 0)
		fl_print(fl_co_map(fl_connect(a, b), ti_map_a, ti_map_b));
	else if (strcmp(mode, "timer-unkeyed") == 0)
		fl_print(fl_co_process(fl_connect(a, b), &spec));
	else if (strcmp(mode, "key-types") == 0)
		fl_print(fl_co_process(fl_connect(fl_key_by(a, 0), fl_key_by(b, 2)), &spec));
	else
		fl_print(fl_uid(fl_co_process(fl_connect(fl_key_by(a, 0), fl_key_by(b, 0)), &spec),
				"co-counts"));
	int rc = fl_execute(env, "TwoInputs");
	if (rc)
		fprintf(stderr, "%s\n", fl_env_error(env));
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
