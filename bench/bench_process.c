/*
 * bench_process — what a ValueState update costs through the keyed process
 * function (fl_process) next to the built-in keyed sum (fl_sum), on the heap
 * and on LMDB: generator of (offset % keys, 1) -> key_by 0 -> operator ->
 * discard, parallelism 1, one TaskManager (a local channel between the two
 * tasks), STREAMING (every update emitted). Operators:
 *   sum         fl_sum(1): the one-probe read-modify-write, patched in place
 *   process     fl_process, no state: the function call and the emit
 *   value-row   fl_process with a ValueState of (int64): get, +1, update
 *   value-bytes the same with FL_STATE_BYTES (8 raw bytes, no codec)
 *   list-add    fl_process adding each record's (int64) to a ListState of
 *               its key: the lists grow to records / keys elements
 *   map-put     fl_process putting (n, 1) into a MapState of its key, n its
 *               record number of the key modulo 1000: the maps grow to
 *               min(records / keys, 1000) entries
 * Prints CPU ns per record (both tasks' threads) and wall records/s; the
 * state's own cost is value-* minus process. Figures only.
 *
 *   bench_process [records [keys]]   (default 20 M records, 100 K keys)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <flinc/flinc.h>

int bpr_gen(fl_ctx *ctx, int64_t off, fl_row *out);
int bpr_gen_1k(fl_ctx *ctx, int64_t off, fl_row *out);
int bpr_gen_1m(fl_ctx *ctx, int64_t off, fl_row *out);
int bpr_plain(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int bpr_value_row(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int bpr_value_bytes(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int bpr_list_add(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int bpr_map_put(fl_ctx *ctx, const fl_row *in, fl_collector *out);

static int gen(int64_t off, fl_row *out, int64_t keys)
{
	out->nfields = 2;
	out->types[0] = FL_INT64;
	out->values[0].u.i = off % keys;
	out->types[1] = FL_INT64;
	out->values[1].u.i = 1;
	return 0;
}

/* Functions run where main() did not: the key count is in their names. */
int bpr_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	return gen(off, out, 100000);
}

int bpr_gen_1k(fl_ctx *ctx, int64_t off, fl_row *out)
{
	return gen(off, out, 1024);
}

int bpr_gen_1m(fl_ctx *ctx, int64_t off, fl_row *out)
{
	return gen(off, out, 1000000);
}

int bpr_plain(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return fl_collect(out, in);
}

static const fl_state_desc COUNT_ROW = {.name = "count",
					.value = {.nfields = 1, .types = {FL_INT64}}};
static const fl_state_desc COUNT_BYTES = {.name = "count", .value = {.format = FL_STATE_BYTES}};

int bpr_value_row(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	fl_value_state *s = fl_get_state(ctx, &COUNT_ROW);
	fl_row v;
	int rc = fl_value_state_get(s, &v);
	if (rc < 0)
		return rc;
	int64_t n = (rc ? v.values[0].u.i : 0) + in->values[1].u.i;
	v.nfields = 1;
	v.types[0] = FL_INT64;
	v.values[0].u.i = n;
	if ((rc = fl_value_state_update(s, &v)) != 0)
		return rc;
	fl_row o = *in;
	o.values[1].u.i = n;
	return fl_collect(out, &o);
}

int bpr_value_bytes(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	fl_value_state *s = fl_get_state(ctx, &COUNT_BYTES);
	fl_row v;
	int rc = fl_value_state_get(s, &v);
	if (rc < 0)
		return rc;
	int64_t n = in->values[1].u.i;
	if (rc) {
		int64_t old;
		memcpy(&old, v.values[0].u.s.ptr, sizeof(old));
		n += old;
	}
	v.nfields = 0;
	fl_row_add_bytes(&v, &n, sizeof(n));
	if ((rc = fl_value_state_update(s, &v)) != 0)
		return rc;
	fl_row o = *in;
	o.values[1].u.i = n;
	return fl_collect(out, &o);
}

static const fl_state_desc SEEN = {.name = "seen", .value = {.nfields = 1, .types = {FL_INT64}}};

int bpr_list_add(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	fl_row v = {0};
	fl_row_add_int64(&v, in->values[1].u.i);
	int rc = fl_list_state_add(fl_get_list_state(ctx, &SEEN), &v);
	return rc ? rc : fl_collect(out, in);
}

static const fl_state_desc ITEMS = {.name = "items",
				    .key = {.nfields = 1, .types = {FL_INT64}},
				    .value = {.nfields = 1, .types = {FL_INT64}}};
static const fl_state_desc NTH = {.name = "nth", .value = {.format = FL_STATE_BYTES}};

int bpr_map_put(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	fl_value_state *nth = fl_get_state(ctx, &NTH);
	fl_row v;
	int rc = fl_value_state_get(nth, &v);
	if (rc < 0)
		return rc;
	int64_t n = 0;
	if (rc)
		memcpy(&n, v.values[0].u.s.ptr, sizeof(n));
	fl_row k = {0}, one = {0}, next = {0};
	fl_row_add_int64(&k, n % 1000);
	fl_row_add_int64(&one, 1);
	n++;
	fl_row_add_bytes(&next, &n, sizeof(n));
	if ((rc = fl_map_state_put(fl_get_map_state(ctx, &ITEMS), &k, &one)) != 0 ||
	    (rc = fl_value_state_update(nth, &next)) != 0)
		return rc;
	return fl_collect(out, in);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum op { SUM, PLAIN, VALUE_ROW, VALUE_BYTES, LIST_ADD, MAP_PUT, NOPS };
static const char *const OP_NAMES[] = {"sum",	    "process",	"value-row",
				       "value-bytes", "list-add", "map-put"};

/* Runs one case; returns CPU ns per record. */
static double run(enum op op, const char *backend, int64_t n, int64_t keys)
{
	fl_env *env = fl_env_new(0, NULL);
	fl_env_set_parallelism(env, 1);
	fl_env_set_config(env, "state.backend.type", backend);
	fl_generator_fn g = keys == 1024 ? bpr_gen_1k : keys == 1000000 ? bpr_gen_1m : bpr_gen;
	fl_stream *k = fl_key_by(fl_generator(env, n, 0, g), 0);
	fl_stream *s = op == SUM	 ? fl_sum(k, 1)
		       : op == PLAIN	 ? fl_process(k, bpr_plain)
		       : op == VALUE_ROW ? fl_process(k, bpr_value_row)
		       : op == LIST_ADD	 ? fl_process(k, bpr_list_add)
		       : op == MAP_PUT	 ? fl_process(k, bpr_map_put)
					 : fl_process(k, bpr_value_bytes);
	fl_discard(s);
	double t0 = now_s(), c0 = cpu_s();
	int rc = fl_execute(env, "bench_process");
	double dt = now_s() - t0, dc = cpu_s() - c0;
	double ns = dc * 1e9 / (double)n;
	printf("%-8s %-12s %7lld keys: %6.1f ns CPU/record, %6.2f M records/s wall%s\n", backend,
	       OP_NAMES[op], (long long)keys, ns, (double)n / dt / 1e6, rc ? " [JOB FAILED]" : "");
	if (rc)
		printf("  %s\n", fl_env_error(env));
	fl_env_free(env);
	return ns;
}

int main(int argc, char **argv)
{
	int64_t n = argc > 1 ? atoll(argv[1]) : 20000000;
	int64_t keys = argc > 2 ? atoll(argv[2]) : 100000;
	if (keys != 1024 && keys != 100000 && keys != 1000000) {
		fprintf(stderr, "keys: 1024, 100000 or 1000000\n");
		return 2;
	}
	const char *backends[] = {"hashmap", "lmdb"};
	for (int b = 0; b < 2; b++) {
		double ns[NOPS];
		for (int op = 0; op < NOPS; op++)
			ns[op] = run((enum op)op, backends[b], n, keys);
		printf("%-8s ValueState update via fl_process: %.1f ns/record over fl_sum (row), "
		       "%.1f (bytes); the state alone: %.1f (row), %.1f (bytes) over the stateless "
		       "process function\n",
		       backends[b], ns[VALUE_ROW] - ns[SUM], ns[VALUE_BYTES] - ns[SUM],
		       ns[VALUE_ROW] - ns[PLAIN], ns[VALUE_BYTES] - ns[PLAIN]);
		printf("%-8s ListState add: %.1f ns/record over the stateless process function, "
		       "lists of up to %lld elements\n",
		       backends[b], ns[LIST_ADD] - ns[PLAIN], (long long)((n + keys - 1) / keys));
		printf("%-8s MapState put (and a ValueState's count): %.1f ns/record over the "
		       "stateless process function, maps of up to %lld entries\n",
		       backends[b], ns[MAP_PUT] - ns[PLAIN],
		       (long long)((n + keys - 1) / keys < 1000 ? (n + keys - 1) / keys : 1000));
	}
	return 0;
}
