/*
 * keyed_state.c — a job for the keyed state tests: a paced generator of
 * (offset, offset % 50) rows (one subtask), keyed by field 1, into a keyed process
 * function that keeps every kind of keyed state per key and prints, per
 * record, the key (from fl_ctx_current_key) and what its state says after
 * the record:
 *
 *   key  count  sum  recent  mods  max  avg  since  prev
 *
 *   count, sum   ValueState of rows (int64, int64)
 *   recent       ListState: the key's last three offsets, "a,b,c"
 *   mods         MapState int64 -> int64: offsets seen per offset % 4,
 *                "0:n 1:n ..." in map-key order
 *   max          ReducingState: the largest offset
 *   avg          AggregatingState, accumulator (sum, n): sum / n
 *   since        ValueState with a TTL of 60 s: the count when it was
 *                (re)created, so it is 0 unless it expired
 *   prev         ValueState of raw bytes: the previous offset, -1 at first
 *
 * Every field only depends on the key's offsets so far, so a key's line
 * with the largest count is its final one, whatever was replayed. TTL runs
 * on the fake clock of FLINC_FAKE_CLOCK_FILE in the tests.
 *
 * --half: the process function reads "since" only for keys below 25 (it
 * still declares it), so the other keys' TTL entries lie untouched.
 * --fail-once: the source fails at offset 25000 once, when the file named
 * by CKP_FAIL_MARKER (in the TaskManager's environment) does not exist
 * yet. Functions run in TaskManagers, where main() never ran: variants are
 * separate functions.
 *
 * Refusals: --conflict declares "stats" as a ListState too, --retype with
 * a string first field, --fail-process fails at offset 77, --long-key keys
 * by 600-byte strings, --unkeyed gives fl_process an unkeyed stream,
 * --state-in-map asks for keyed state in a map chained after it.
 *
 *   keyed_state.so [--rate R] [--count N] [--half] [--fail-once]
 *                  [--conflict | --retype | --fail-process | --long-key | --unkeyed |
 *                   --state-in-map]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <flinc/flinc.h>

#define FAIL_AT 25000
#define MOD 50
#define TTL_MS 60000

int ks_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, off);
	return fl_row_add_int64(out, off % MOD);
}

int ks_gen_fail_once(fl_ctx *ctx, int64_t off, fl_row *out)
{
	const char *marker = getenv("CKP_FAIL_MARKER");
	if (off == FAIL_AT && marker) {
		int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd >= 0) {
			close(fd);
			return fl_fail(ctx, "failing once at offset %lld, as asked",
				       (long long)off);
		}
	}
	return ks_gen(ctx, off, out);
}

int ks_max(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	int64_t a = fl_row_int64(acc, 0), b = fl_row_int64(in, 0);
	return fl_row_add_int64(out, a > b ? a : b);
}

int ks_avg_create(fl_ctx *ctx, fl_row *acc)
{
	fl_row_add_int64(acc, 0);
	return fl_row_add_int64(acc, 0);
}

int ks_avg_add(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	fl_row_add_int64(out, fl_row_int64(acc, 0) + fl_row_int64(in, 0));
	return fl_row_add_int64(out, fl_row_int64(acc, 1) + 1);
}

int ks_avg_result(fl_ctx *ctx, const fl_row *acc, fl_row *out)
{
	int64_t n = fl_row_int64(acc, 1);
	return fl_row_add_int64(out, n ? fl_row_int64(acc, 0) / n : 0);
}

static const fl_state_desc STATS = {.name = "stats",
				    .value = {.nfields = 2, .types = {FL_INT64, FL_INT64}}};
static const fl_state_desc RECENT = {.name = "recent",
				     .value = {.nfields = 1, .types = {FL_INT64}}};
static const fl_state_desc MODS = {.name = "mods",
				   .key = {.nfields = 1, .types = {FL_INT64}},
				   .value = {.nfields = 1, .types = {FL_INT64}}};
static const fl_state_desc MAX = {
    .name = "max", .value = {.nfields = 1, .types = {FL_INT64}}, .reduce = ks_max};
static const fl_state_desc AVG = {
    .name = "avg",
    .value = {.nfields = 2, .types = {FL_INT64, FL_INT64}},
    .agg = {.create = ks_avg_create, .add = ks_avg_add, .result = ks_avg_result}};
static const fl_state_desc SINCE = {
    .name = "since", .value = {.nfields = 1, .types = {FL_INT64}}, .ttl = {.ttl_ms = TTL_MS}};
static const fl_state_desc PREV = {.name = "prev", .value = {.format = FL_STATE_BYTES}};

static int process(fl_ctx *ctx, const fl_row *in, fl_collector *out, int read_since)
{
	int64_t off = fl_row_int64(in, 0);
	fl_row key, v;
	int rc;
	if ((rc = fl_ctx_current_key(ctx, &key)) != 0)
		return fl_fail(ctx, "no current key: %d", rc);
	if (fl_row_int64(&key, 0) != fl_row_int64(in, 1))
		return fl_fail(ctx, "the current key is not the record's");

	/* ValueState of rows */
	fl_value_state *stats = fl_get_state(ctx, &STATS);
	if ((rc = fl_value_state_get(stats, &v)) < 0)
		return rc;
	int64_t count = (rc ? fl_row_int64(&v, 0) : 0) + 1,
		sum = (rc ? fl_row_int64(&v, 1) : 0) + off;
	fl_row_clear(&v);
	fl_row_add_int64(&v, count);
	fl_row_add_int64(&v, sum);
	if ((rc = fl_value_state_update(stats, &v)) != 0)
		return rc;

	/* ListState: the last three offsets */
	fl_list_state *recent = fl_get_list_state(ctx, &RECENT);
	fl_state_iter *it;
	fl_row last[4];
	size_t n = 0;
	if ((rc = fl_list_state_get(recent, &it)) < 0)
		return rc;
	while (n < 3 && (rc = fl_state_iter_next(it, &last[n])) > 0)
		n++;
	if (rc < 0)
		return rc;
	fl_row_clear(&last[n]);
	fl_row_add_int64(&last[n], off);
	n++;
	size_t first = n > 3 ? n - 3 : 0;
	if ((rc = fl_list_state_update(recent, &last[first], n - first)) != 0)
		return rc;
	char *rs = fl_ctx_scratch(ctx, 80);
	int rl = 0;
	for (size_t i = first; i < n; i++)
		rl += snprintf(rs + rl, 80 - (size_t)rl, "%s%lld", i > first ? "," : "",
			       (long long)fl_row_int64(&last[i], 0));

	/* MapState */
	fl_map_state *mods = fl_get_map_state(ctx, &MODS);
	fl_row mk, mv;
	fl_row_clear(&mk);
	fl_row_add_int64(&mk, off % 4);
	if ((rc = fl_map_state_get(mods, &mk, &mv)) < 0)
		return rc;
	int64_t c = rc ? fl_row_int64(&mv, 0) : 0;
	fl_row_clear(&mv);
	fl_row_add_int64(&mv, c + 1);
	if ((rc = fl_map_state_put(mods, &mk, &mv)) != 0 ||
	    (rc = fl_map_state_contains(mods, &mk)) != 1)
		return rc < 0 ? rc : fl_fail(ctx, "a key just put is not in the map");
	if ((rc = fl_map_state_entries(mods, &it)) < 0)
		return rc;
	char *ms = fl_ctx_scratch(ctx, 120);
	int ml = 0;
	while ((rc = fl_state_iter_next_entry(it, &mk, &mv)) > 0)
		ml += snprintf(ms + ml, 120 - (size_t)ml, "%s%lld:%lld", ml ? " " : "",
			       (long long)fl_row_int64(&mk, 0), (long long)fl_row_int64(&mv, 0));
	if (rc < 0)
		return rc;

	/* ReducingState, AggregatingState */
	fl_reducing_state *max = fl_get_reducing_state(ctx, &MAX);
	fl_aggregating_state *avg = fl_get_aggregating_state(ctx, &AVG);
	fl_row x, mx, av;
	fl_row_clear(&x);
	fl_row_add_int64(&x, off);
	if ((rc = fl_reducing_state_add(max, &x)) != 0 ||
	    (rc = fl_aggregating_state_add(avg, &x)) != 0)
		return rc;
	if ((rc = fl_reducing_state_get(max, &mx)) != 1 ||
	    (rc = fl_aggregating_state_get(avg, &av)) != 1)
		return rc < 0 ? rc : fl_fail(ctx, "reducing or aggregating state absent after add");

	/* ValueState with TTL */
	fl_value_state *since = fl_get_state(ctx, &SINCE);
	int64_t since_v = -2;
	if (read_since || fl_row_int64(&key, 0) < MOD / 2) {
		if ((rc = fl_value_state_get(since, &v)) < 0)
			return rc;
		if (rc == 0) {
			since_v = count - 1;
			fl_row_clear(&v);
			fl_row_add_int64(&v, since_v);
			if ((rc = fl_value_state_update(since, &v)) != 0)
				return rc;
		} else {
			since_v = fl_row_int64(&v, 0);
		}
	}

	/* ValueState of raw bytes */
	fl_value_state *prev = fl_get_state(ctx, &PREV);
	int64_t prev_v = -1;
	if ((rc = fl_value_state_get(prev, &v)) < 0)
		return rc;
	if (rc) {
		size_t len;
		const char *p = fl_row_string(&v, 0, &len);
		if (len != sizeof(prev_v))
			return fl_fail(ctx, "prev holds %zu bytes", len);
		memcpy(&prev_v, p, sizeof(prev_v));
	}
	fl_row_clear(&v);
	fl_row_add_bytes(&v, &off, sizeof(off));
	if ((rc = fl_value_state_update(prev, &v)) != 0)
		return rc;

	fl_row o;
	fl_row_clear(&o);
	fl_row_add_int64(&o, fl_row_int64(&key, 0));
	fl_row_add_int64(&o, count);
	fl_row_add_int64(&o, sum);
	fl_row_add_string(&o, rs, (size_t)rl);
	fl_row_add_string(&o, ms, (size_t)ml);
	fl_row_add_int64(&o, fl_row_int64(&mx, 0));
	fl_row_add_int64(&o, fl_row_int64(&av, 0));
	fl_row_add_int64(&o, since_v);
	fl_row_add_int64(&o, prev_v);
	return fl_collect(out, &o);
}

int ks_process(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return process(ctx, in, out, 1);
}

int ks_process_half(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return process(ctx, in, out, 0);
}

/* --conflict: "stats" asked for as a ListState too. */
int ks_process_conflict(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	static const fl_state_desc stats_list = {.name = "stats"};
	fl_get_state(ctx, &STATS);
	fl_list_state *l = fl_get_list_state(ctx, &stats_list);
	return fl_list_state_add(l, in);
}

/* --retype: "stats" declared with a string first field (a savepoint of
 * the normal job holds int64s there). */
int ks_process_retype(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	static const fl_state_desc stats_str = {
	    .name = "stats", .value = {.nfields = 2, .types = {FL_STRING, FL_INT64}}};
	fl_row v;
	int rc = fl_value_state_get(fl_get_state(ctx, &stats_str), &v);
	return rc < 0 ? rc : fl_collect(out, in);
}

/* --fail-process: the process function fails at offset 77. */
int ks_process_fail(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	if (fl_row_int64(in, 0) == 77)
		return fl_fail(ctx, "no good at offset %lld", (long long)fl_row_int64(in, 0));
	return process(ctx, in, out, 1);
}

/* --long-key: keys of 600 bytes ("k" and 599 times the key digit). */
int ks_gen_long(fl_ctx *ctx, int64_t off, fl_row *out)
{
	char *k = fl_ctx_scratch(ctx, 600);
	if (!k)
		return fl_fail(ctx, "no scratch");
	memset(k, '0' + (int)(off % 10), 600);
	k[0] = 'k';
	fl_row_add_int64(out, off);
	return fl_row_add_string(out, k, 600);
}

int ks_process_count(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	fl_row v;
	fl_value_state *stats = fl_get_state(ctx, &STATS);
	int rc = fl_value_state_get(stats, &v);
	if (rc < 0)
		return rc;
	int64_t n = (rc ? fl_row_int64(&v, 0) : 0) + 1;
	fl_row_clear(&v);
	fl_row_add_int64(&v, n);
	fl_row_add_int64(&v, 0);
	return fl_value_state_update(stats, &v);
}

/* --state-in-map: a map chained after the process function asks for
 * keyed state (refused: only the process function has it). */
int ks_map_with_state(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	fl_value_state *s = fl_get_state(ctx, &STATS);
	fl_row v;
	int rc = fl_value_state_get(s, &v);
	if (rc < 0)
		return rc;
	*out = *in;
	return 0;
}

int main(int argc, char **argv)
{
	double rate = 2000;
	int64_t count = -1;
	int half = 0, fail_once = 0, conflict = 0, retype = 0, fail_process = 0, long_key = 0,
	    unkeyed = 0, state_in_map = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc)
			rate = atof(argv[++i]);
		else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			count = atoll(argv[++i]);
		else if (strcmp(argv[i], "--half") == 0)
			half = 1;
		else if (strcmp(argv[i], "--fail-once") == 0)
			fail_once = 1;
		else if (strcmp(argv[i], "--conflict") == 0)
			conflict = 1;
		else if (strcmp(argv[i], "--retype") == 0)
			retype = 1;
		else if (strcmp(argv[i], "--fail-process") == 0)
			fail_process = 1;
		else if (strcmp(argv[i], "--long-key") == 0)
			long_key = 1;
		else if (strcmp(argv[i], "--unkeyed") == 0)
			unkeyed = 1;
		else if (strcmp(argv[i], "--state-in-map") == 0)
			state_in_map = 1;
	}
	fl_process_fn fn = conflict	  ? ks_process_conflict
			   : retype	  ? ks_process_retype
			   : fail_process ? ks_process_fail
			   : long_key	  ? ks_process_count
			   : half	  ? ks_process_half
					  : ks_process;
	fl_generator_fn gen = long_key ? ks_gen_long : fail_once ? ks_gen_fail_once : ks_gen;
	fl_env *env = fl_env_new(argc, argv);
	/* One source subtask: every key's records arrive in offset order, so
	 * "recent" and "prev" are exact too, at every parallelism. */
	fl_stream *s = fl_uid(fl_generator(env, count, rate, gen), "numbers");
	fl_set_parallelism(s, 1);
	s = fl_uid(fl_process(unkeyed ? s : fl_key_by(s, 1), fn), "keyed-state");
	if (state_in_map)
		s = fl_map(s, ks_map_with_state);
	fl_print(s);
	int rc = fl_execute(env, "Keyed state");
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
