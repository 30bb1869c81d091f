/*
 * bench_two_inputs — what a two-input operator costs next to a one-input
 * one on the same records: two generators of (offset % keys, 1), each half
 * the records, parallelism 1, one TaskManager (local channels), into
 *   union       fl_union -> key_by 0 -> fl_process (stateless): a one-input
 *               task reading two channels (the baseline)
 *   co-process  key_by 0 on each -> fl_co_process (both stateless): the
 *               two-input task, the channel's input picking the function
 *   co-state    the same with a ValueState of (int64) shared by both inputs:
 *               get, +1, update
 *   co-map      fl_co_map of the unkeyed streams: chained with both
 *               generators, one task serving both sources in turns
 *   sources-apart the same with chaining disabled on the co-map: three
 *               tasks, the co-map fed over forward local channels
 *   map         fl_union -> fl_map: co-map's one-input baseline
 *   maps-apart  rebalance -> map on each, fl_co_map with chaining disabled:
 *               the co-map in a task of its own, fed over local channels
 *   maps-chained the same chained: the two maps and the co-map in one task
 *               (two-input chaining; one exchange fewer per record)
 *   mixed       a's generator chained into the co-map beside rebalance ->
 *               map of b: one task running a source and an input gate
 *   mixed-apart the same with chaining disabled on the co-map
 * -> discard. Prints CPU ns per record (every thread of the process) and
 * wall records/s. Figures only.
 *
 *   bench_two_inputs [records [keys]]   (default 20 M records, 100 K keys)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <flinc/flinc.h>

int b2_gen(fl_ctx *ctx, int64_t off, fl_row *out);
int b2_plain(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int b2_state(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int b2_map(fl_ctx *ctx, const fl_row *in, fl_row *out);

static int64_t nkeys = 100000;

int b2_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	out->nfields = 2;
	out->types[0] = FL_INT64;
	out->values[0].u.i = off % nkeys;
	out->types[1] = FL_INT64;
	out->values[1].u.i = 1;
	return 0;
}

int b2_plain(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return fl_collect(out, in);
}

int b2_map(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	*out = *in;
	return 0;
}

static const fl_state_desc COUNT = {.name = "count", .value = {.nfields = 1, .types = {FL_INT64}}};

int b2_state(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	fl_value_state *s = fl_get_state(ctx, &COUNT);
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

static double now_s(int clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum op {
	UNION,
	CO_PROCESS,
	CO_STATE,
	CO_MAP,
	MAP,
	MAPS_APART,
	MAPS_CHAINED,
	SOURCES_APART,
	MIXED,
	MIXED_APART,
	NOPS
};
static const char *const OP_NAMES[] = {"union",	       "co-process",	"co-state", "co-map",
				       "map",	       "maps-apart",	"maps-chained",
				       "sources-apart", "mixed",	"mixed-apart"};

/* Runs one case; returns CPU ns per record. */
static double run(enum op op, int64_t n)
{
	fl_env *env = fl_env_new(0, NULL);
	fl_env_set_parallelism(env, 1);
	fl_stream *a = fl_generator(env, n / 2, 0, b2_gen),
		  *b = fl_generator(env, n - n / 2, 0, b2_gen);
	fl_co_process_spec plain = {.process1 = b2_plain, .process2 = b2_plain};
	fl_co_process_spec state = {.process1 = b2_state, .process2 = b2_state};
	fl_stream *s = NULL;
	switch (op) {
	case UNION:
		s = fl_process(fl_key_by(fl_union(a, b), 0), b2_plain);
		break;
	case CO_PROCESS:
		s = fl_co_process(fl_connect(fl_key_by(a, 0), fl_key_by(b, 0)), &plain);
		break;
	case CO_STATE:
		s = fl_co_process(fl_connect(fl_key_by(a, 0), fl_key_by(b, 0)), &state);
		break;
	case CO_MAP:
	case SOURCES_APART:
		s = fl_co_map(fl_connect(a, b), b2_map, b2_map);
		if (op == SOURCES_APART)
			s = fl_disable_chaining(s);
		break;
	case MAPS_APART:
	case MAPS_CHAINED:
		s = fl_co_map(
		    fl_connect(fl_map(fl_rebalance(a), b2_map), fl_map(fl_rebalance(b), b2_map)),
		    b2_map, b2_map);
		if (op == MAPS_APART)
			s = fl_disable_chaining(s);
		break;
	case MIXED:
	case MIXED_APART:
		s = fl_co_map(fl_connect(fl_map(a, b2_map), fl_map(fl_rebalance(b), b2_map)), b2_map,
			      b2_map);
		if (op == MIXED_APART)
			s = fl_disable_chaining(s);
		break;
	default:
		s = fl_map(fl_union(a, b), b2_map);
		break;
	}
	fl_discard(s);
	double t0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	int rc = fl_execute(env, "bench_two_inputs");
	double dt = now_s(CLOCK_MONOTONIC) - t0, dc = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	double ns = dc * 1e9 / (double)n;
	printf("%-12s %7lld keys: %6.1f ns CPU/record, %6.2f M records/s wall%s\n", OP_NAMES[op],
	       (long long)nkeys, ns, (double)n / dt / 1e6, rc ? " [JOB FAILED]" : "");
	if (rc)
		printf("  %s\n", fl_env_error(env));
	fl_env_free(env);
	return ns;
}

int main(int argc, char **argv)
{
	int64_t n = argc > 1 ? atoll(argv[1]) : 20000000;
	if (argc > 2)
		nkeys = atoll(argv[2]);
	if (n < 2 || nkeys < 1) {
		fprintf(stderr, "usage: bench_two_inputs [records >= 2 [keys >= 1]]\n");
		return 2;
	}
	double ns[NOPS];
	for (int op = 0; op < NOPS; op++)
		ns[op] = run((enum op)op, n);
	printf("two inputs over one: co-process %+.1f ns/record over union -> process; co-map "
	       "%+.1f over union -> map; shared ValueState %.1f over the stateless co-process; "
	       "chained with both inputs %+.1f over apart; with both sources %+.1f over apart; "
	       "a source beside a network input %+.1f over apart\n",
	       ns[CO_PROCESS] - ns[UNION], ns[CO_MAP] - ns[MAP], ns[CO_STATE] - ns[CO_PROCESS],
	       ns[MAPS_CHAINED] - ns[MAPS_APART], ns[CO_MAP] - ns[SOURCES_APART],
	       ns[MIXED] - ns[MIXED_APART]);
	return 0;
}
