/*
 * Two-input operators (issue #9, "Two inputs") on the mini cluster:
 * the watermark of a two-input operator is the minimum of its inputs'
 * (an input that ended no longer holds it back), co_map sends each input
 * to its own function, a keyed co-process function's two functions and
 * its timers share the key's state, the broadcast state is the same on
 * every subtask and read-only on the keyed side, the interval and window
 * joins match exactly the pairs computed here, keys of different types
 * fail the job naming both, and a two-input operator chained with both
 * its inputs (a chain that is a DAG) runs in their task with the same
 * results and watermarks, two sources' chains too (one thread serving
 * both sources). Runs under ThreadSanitizer too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <flinc/flinc.h>

#define NA 3000 /* records of the slow input */
#define NB 1500 /* of the fast one: twice the event time per record */
#define KEYS 5

int ut_gen_a(fl_ctx *ctx, int64_t off, fl_row *out);
int ut_gen_b(fl_ctx *ctx, int64_t off, fl_row *out);
int ut_gen_b_str(fl_ctx *ctx, int64_t off, fl_row *out);
int ut_wm_a(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int ut_wm_b(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int ut_tag_a(fl_ctx *ctx, const fl_row *in, fl_row *out);
int ut_tag_b(fl_ctx *ctx, const fl_row *in, fl_row *out);
int ut_count(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int ut_add_a(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int ut_add_b(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int ut_fire(fl_ctx *ctx, int64_t time, enum fl_time_domain d, fl_collector *out);
int ut_sums(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int ut_rule(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int ut_keyed_reads(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int ut_bc_fire(fl_ctx *ctx, int64_t time, enum fl_time_domain d, fl_collector *out);
int ut_join(fl_ctx *ctx, const fl_row *l, const fl_row *r, fl_collector *out);
int ut_pairs(fl_ctx *ctx, const fl_row *in, fl_collector *out);

static int64_t ts_a(int64_t o)
{
	return 1000 + 2 * o + (o * 7919) % 40;
}

static int64_t ts_b(int64_t o)
{
	return 1000 + 4 * o + (o * 104729) % 40;
}

/* (key, offset, timestamp) */
int ut_gen_a(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, off % KEYS);
	fl_row_add_int64(out, off);
	return fl_row_add_timestamp(out, ts_a(off));
}

int ut_gen_b(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, off % KEYS);
	fl_row_add_int64(out, off);
	return fl_row_add_timestamp(out, ts_b(off));
}

int ut_gen_b_str(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_string(out, "k", 1);
	fl_row_add_int64(out, off);
	return fl_row_add_timestamp(out, ts_b(off));
}

static fl_env *env_with(int p)
{
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	assert_int_equal(fl_env_set_parallelism(env, p), 0);
	assert_int_equal(fl_env_set_config(env, "local.number-taskmanager", p > 1 ? "2" : "1"), 0);
	assert_int_equal(fl_env_set_config(env, "pipeline.auto-watermark-interval", "1 ms"), 0);
	return env;
}

/* Both inputs as event-time sources at parallelism 1 (bound 50 ms), paced
 * at rate records/s each: the second's event time runs twice as fast and
 * it ends halfway. */
static void sources(fl_env *env, double rate, fl_generator_fn gb, fl_stream **a, fl_stream **b)
{
	fl_watermark_strategy ws = {
	    .kind = FL_WATERMARK_BOUNDED, .out_of_orderness_ms = 50, .timestamp_field = 2};
	*a = fl_assign_timestamps_and_watermarks(
	    fl_set_parallelism(fl_generator(env, NA, rate, ut_gen_a), 1), &ws);
	*b = fl_assign_timestamps_and_watermarks(
	    fl_set_parallelism(fl_generator(env, NB, rate, gb), 1), &ws);
}

static void run(fl_env *env)
{
	int rc = fl_execute(env, "two inputs");
	if (rc)
		fail_msg("job: %s", fl_env_error(env));
	fl_env_free(env);
}

/* ------------------------------------------------------------ watermarks */

/* Per subtask: the largest timestamp of the slow input seen, and how
 * often the operator's watermark was above what it allows. */
static _Atomic int64_t max_a[4], n_above, n_wm_seen, n_seen[2];

static int wm_check(fl_ctx *ctx, const fl_row *in, int side)
{
	int i = fl_ctx_subtask(ctx);
	int64_t wm = fl_ctx_watermark(ctx), ts = fl_ctx_timestamp(ctx);
	if (side == 0 && ts > atomic_load(&max_a[i]))
		atomic_store(&max_a[i], ts);
	/* The slow input's watermark is below its largest timestamp less
	 * the bound (a watermark follows the records it covers on their
	 * channel): the operator's, the minimum, may not be above it while
	 * that input has records to come. */
	if (wm != INT64_MIN) {
		atomic_fetch_add(&n_wm_seen, 1);
		if (atomic_load(&n_seen[0]) < NA && wm > atomic_load(&max_a[i]) - 51)
			atomic_fetch_add(&n_above, 1);
	}
	atomic_fetch_add(&n_seen[side], 1);
	return 0;
}

/* Before a run checked by wm_check, and after it: every record of both
 * inputs seen, watermarks reached the operator, none above what the slow
 * input allows. */
static void reset_wm_checks(void)
{
	for (int i = 0; i < 4; i++)
		atomic_store(&max_a[i], INT64_MIN);
	atomic_store(&n_above, 0);
	atomic_store(&n_wm_seen, 0);
	atomic_store(&n_seen[0], 0);
	atomic_store(&n_seen[1], 0);
}

static void assert_wm_checks(void)
{
	assert_int_equal(atomic_load(&n_seen[0]), NA);
	assert_int_equal(atomic_load(&n_seen[1]), NB);
	assert_true(atomic_load(&n_wm_seen) > 0); /* watermarks did reach it */
	assert_int_equal(atomic_load(&n_above), 0);
}

int ut_wm_a(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return wm_check(ctx, in, 0);
}

int ut_wm_b(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return wm_check(ctx, in, 1);
}

static void test_the_watermark_is_the_minimum_of_both_inputs(void **state)
{
	reset_wm_checks();
	fl_env *env = env_with(1);
	fl_stream *a, *b;
	sources(env, 6000, ut_gen_b, &a, &b);
	/* Apart from its sources (chained with them it would be one task:
	 * test_two_sources_chained_with_a_two_input_operator): the valve over
	 * the network is what this tests. */
	fl_discard(fl_disable_chaining(fl_co_flat_map(fl_connect(a, b), ut_wm_a, ut_wm_b)));
	run(env);
	assert_wm_checks();
}

/* ---------------------------------------------------------------- co_map */

static _Atomic int64_t tagged[2], n_sum_bad;

int ut_tag_a(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	fl_row_add_int64(out, 0);
	return fl_row_add_int64(out, fl_row_int64(in, 1));
}

int ut_tag_b(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	fl_row_add_int64(out, 1);
	return fl_row_add_int64(out, fl_row_int64(in, 1));
}

int ut_count(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	int64_t side = fl_row_int64(in, 0);
	if (side == 0 || side == 1)
		atomic_fetch_add(&tagged[side], fl_row_int64(in, 1));
	return 0;
}

static void test_co_map_sends_each_input_to_its_function(void **state)
{
	atomic_store(&tagged[0], 0);
	atomic_store(&tagged[1], 0);
	fl_env *env = env_with(2);
	fl_stream *a, *b;
	sources(env, 0, ut_gen_b, &a, &b);
	fl_discard(fl_flat_map(
	    fl_co_map(fl_connect(fl_rebalance(a), fl_rebalance(b)), ut_tag_a, ut_tag_b), ut_count));
	run(env);
	/* Offsets summed per input: each record once, by its function. */
	assert_int_equal(atomic_load(&tagged[0]), (int64_t)NA * (NA - 1) / 2);
	assert_int_equal(atomic_load(&tagged[1]), (int64_t)NB * (NB - 1) / 2);
}

/* A stream connected with itself: two edges from one producer, each
 * record through both functions. */
static void test_a_stream_connected_with_itself_feeds_both_functions(void **state)
{
	atomic_store(&tagged[0], 0);
	atomic_store(&tagged[1], 0);
	fl_env *env = env_with(2);
	fl_stream *a, *b;
	sources(env, 0, ut_gen_b, &a, &b);
	fl_discard(b);
	fl_discard(fl_flat_map(fl_co_map(fl_connect(a, a), ut_tag_a, ut_tag_b), ut_count));
	run(env);
	assert_int_equal(atomic_load(&tagged[0]), (int64_t)NA * (NA - 1) / 2);
	assert_int_equal(atomic_load(&tagged[1]), (int64_t)NA * (NA - 1) / 2);
}

/* ------------------------------------------------------------ co_process */

static const fl_state_desc SUM = {.name = "sum",
				  .value = {.nfields = 2, .types = {FL_INT64, FL_INT64}}};
static _Atomic int64_t key_sum[KEYS][2], n_fired;

/* Adds the offset into the key's (sum of A, sum of B) and registers the
 * timer that reports it at the end of time. */
static int add(fl_ctx *ctx, const fl_row *in, int side)
{
	fl_value_state *s = fl_get_state(ctx, &SUM);
	fl_row v, n = {0};
	int rc = fl_value_state_get(s, &v);
	if (rc < 0)
		return rc;
	int64_t x[2] = {rc ? fl_row_int64(&v, 0) : 0, rc ? fl_row_int64(&v, 1) : 0};
	x[side] += fl_row_int64(in, 1);
	fl_row_add_int64(&n, x[0]);
	fl_row_add_int64(&n, x[1]);
	if ((rc = fl_value_state_update(s, &n)) != 0)
		return rc;
	return fl_ctx_register_event_timer(ctx, 1000000);
}

int ut_add_a(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return add(ctx, in, 0);
}

int ut_add_b(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return add(ctx, in, 1);
}

int ut_fire(fl_ctx *ctx, int64_t time, enum fl_time_domain d, fl_collector *out)
{
	fl_row key, v, r = {0};
	int rc = fl_ctx_current_key(ctx, &key);
	if (rc || (rc = fl_value_state_get(fl_get_state(ctx, &SUM), &v)) != 1)
		return rc < 0 ? rc : fl_fail(ctx, "no sum at the timer");
	fl_row_add_int64(&r, fl_row_int64(&key, 0));
	fl_row_add_int64(&r, fl_row_int64(&v, 0));
	fl_row_add_int64(&r, fl_row_int64(&v, 1));
	return fl_collect(out, &r);
}

int ut_sums(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	int64_t k = fl_row_int64(in, 0);
	if (k < 0 || k >= KEYS)
		atomic_fetch_add(&n_sum_bad, 1);
	else {
		atomic_fetch_add(&key_sum[k][0], fl_row_int64(in, 1));
		atomic_fetch_add(&key_sum[k][1], fl_row_int64(in, 2));
	}
	atomic_fetch_add(&n_fired, 1);
	return 0;
}

static void test_a_co_process_shares_state_and_timers_between_its_inputs(void **state)
{
	memset(key_sum, 0, sizeof(key_sum));
	atomic_store(&n_fired, 0);
	atomic_store(&n_sum_bad, 0);
	fl_env *env = env_with(2);
	fl_stream *a, *b;
	sources(env, 0, ut_gen_b, &a, &b);
	fl_co_process_spec spec = {.process1 = ut_add_a, .process2 = ut_add_b, .on_timer = ut_fire};
	fl_discard(fl_flat_map(fl_co_process(fl_connect(fl_key_by(a, 0), fl_key_by(b, 0)), &spec),
			       ut_sums));
	run(env);
	/* One timer per key (both inputs registered the same one), with both
	 * inputs' sums in the one state of the key. */
	assert_int_equal(atomic_load(&n_fired), KEYS);
	assert_int_equal(atomic_load(&n_sum_bad), 0);
	for (int k = 0; k < KEYS; k++) {
		int64_t ea = 0, eb = 0;
		for (int64_t o = k; o < NA; o += KEYS)
			ea += o;
		for (int64_t o = k; o < NB; o += KEYS)
			eb += o;
		assert_int_equal(atomic_load(&key_sum[k][0]), ea);
		assert_int_equal(atomic_load(&key_sum[k][1]), eb);
	}
}

static void test_keys_of_different_types_fail_naming_both(void **state)
{
	fl_env *env = env_with(1);
	fl_stream *a, *b;
	sources(env, 0, ut_gen_b_str, &a, &b);
	fl_co_process_spec spec = {.process1 = ut_add_a, .process2 = ut_add_b, .on_timer = ut_fire};
	fl_discard(fl_co_process(fl_connect(fl_key_by(a, 0), fl_key_by(b, 0)), &spec));
	assert_int_equal(fl_execute(env, "key types"), FL_EJOBFAILED);
	assert_non_null(
	    strstr(fl_env_error(env), "the first input's key is (int64), the second's (string)"));
	fl_env_free(env);
}

/* ------------------------------------------------------- broadcast state */

static const fl_state_desc RULES = {.name = "rules"};
static _Atomic int64_t n_rules_at_end[4], n_keyed_reads;

/* Every rule (the fast input's offsets) into the broadcast state. */
int ut_rule(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	fl_row k = {0}, v = {0};
	fl_row_add_int64(&k, fl_row_int64(in, 1));
	fl_row_add_int64(&v, 1);
	return fl_map_state_put(fl_get_broadcast_state(ctx, &RULES), &k, &v);
}

int ut_keyed_reads(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	fl_row k = {0}, v;
	fl_row_add_int64(&k, 0);
	int rc = fl_map_state_get(fl_get_broadcast_state(ctx, &RULES), &k, &v);
	if (rc < 0)
		return rc;
	atomic_fetch_add(&n_keyed_reads, 1);
	return fl_ctx_register_event_timer(ctx, 1000000);
}

/* At the end of time: how many rules this subtask's copy holds. */
int ut_bc_fire(fl_ctx *ctx, int64_t time, enum fl_time_domain d, fl_collector *out)
{
	fl_state_iter *it;
	fl_row k, v;
	int64_t n = 0;
	int rc = fl_map_state_entries(fl_get_broadcast_state(ctx, &RULES), &it);
	if (rc < 0)
		return rc;
	while (rc == 1 && fl_state_iter_next_entry(it, &k, &v) == 1)
		n++;
	atomic_store(&n_rules_at_end[fl_ctx_subtask(ctx)], n);
	return 0;
}

static void test_the_broadcast_state_is_the_same_on_every_subtask(void **state)
{
	for (int i = 0; i < 4; i++)
		atomic_store(&n_rules_at_end[i], -1);
	atomic_store(&n_keyed_reads, 0);
	fl_env *env = env_with(2);
	fl_stream *a, *b;
	sources(env, 0, ut_gen_b, &a, &b);
	fl_broadcast_process_spec spec = {
	    .process = ut_keyed_reads, .process_broadcast = ut_rule, .on_timer = ut_bc_fire};
	fl_discard(fl_broadcast_process(fl_connect(fl_key_by(a, 0), fl_broadcast_state(b, &RULES)),
					&spec));
	run(env);
	assert_int_equal(atomic_load(&n_keyed_reads), NA);
	assert_int_equal(atomic_load(&n_rules_at_end[0]), NB);
	assert_int_equal(atomic_load(&n_rules_at_end[1]), NB);
}

/* The broadcast process function of an unkeyed stream: the broadcast side
 * on every subtask, the other side reading, and refused when it writes. */
static _Atomic int64_t n_unkeyed_reads, n_bc_calls[4];
int ut_unkeyed_reads(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int ut_unkeyed_reads(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	fl_row k = {0}, v;
	fl_row_add_int64(&k, 0);
	int rc = fl_map_state_get(fl_get_broadcast_state(ctx, &RULES), &k, &v);
	if (rc < 0)
		return rc;
	atomic_fetch_add(&n_unkeyed_reads, 1);
	return 0;
}
int ut_unkeyed_writes(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int ut_unkeyed_writes(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return ut_rule(ctx, in, out);
}
int ut_counted_rule(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int ut_counted_rule(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	atomic_fetch_add(&n_bc_calls[fl_ctx_subtask(ctx)], 1);
	return ut_rule(ctx, in, out);
}

static void test_an_unkeyed_broadcast_process_function(void **state)
{
	atomic_store(&n_unkeyed_reads, 0);
	for (int i = 0; i < 4; i++)
		atomic_store(&n_bc_calls[i], 0);
	fl_env *env = env_with(2);
	fl_stream *a, *b;
	sources(env, 0, ut_gen_b, &a, &b);
	fl_broadcast_process_spec spec = {.process = ut_unkeyed_reads,
					  .process_broadcast = ut_counted_rule};
	fl_discard(fl_broadcast_process(fl_connect(fl_rebalance(a), fl_broadcast_state(b, &RULES)),
					&spec));
	run(env);
	assert_int_equal(atomic_load(&n_unkeyed_reads), NA);
	assert_int_equal(atomic_load(&n_bc_calls[0]), NB);
	assert_int_equal(atomic_load(&n_bc_calls[1]), NB);

	env = env_with(1);
	sources(env, 0, ut_gen_b, &a, &b);
	spec.process = ut_unkeyed_writes;
	fl_discard(fl_broadcast_process(fl_connect(a, fl_broadcast_state(b, &RULES)), &spec));
	assert_int_equal(fl_execute(env, "writes"), FL_EJOBFAILED);
	assert_non_null(strstr(fl_env_error(env),
			       "state 'rules' of operator 'BroadcastProcess': is "
			       "read-only in the other input's process function"));
	fl_env_free(env);
}

/* ----------------------------------------------------------------- joins */

static _Atomic int64_t n_pairs, pair_sum, n_pair_bad_ts;

int ut_join(fl_ctx *ctx, const fl_row *l, const fl_row *r, fl_collector *out)
{
	fl_row o = {0};
	fl_row_add_int64(&o, fl_row_int64(l, 1));
	fl_row_add_int64(&o, fl_row_int64(r, 1));
	fl_row_add_int64(&o, fl_ctx_timestamp(ctx));
	return fl_collect(out, &o);
}

enum join_kind { INTERVAL_JOIN, WINDOW_JOIN, SESSION_JOIN };
static enum join_kind join_kind;
#define SESSION_GAP 6
/* Session join: the session of each record of either input (by offset),
 * and each session's end - 1, computed here (sessions in ts order per
 * key: a record within the gap of the one before joins it). */
static int sess_a[NA], sess_b[NB];
static int64_t sess_last[NA + NB];

static void sessions_of_keys(void)
{
	static int64_t ts[NA + NB];
	static int who[NA + NB]; /* offset, B's as NA + offset */
	int ns = 0;
	for (int k = 0; k < KEYS; k++) {
		int n = 0;
		for (int x = k; x < NA; x += KEYS)
			ts[n] = ts_a(x), who[n++] = x;
		for (int y = k; y < NB; y += KEYS)
			ts[n] = ts_b(y), who[n++] = NA + y;
		for (int i = 1; i < n; i++) /* insertion sort: a few hundred */
			for (int j = i; j > 0 && ts[j] < ts[j - 1]; j--) {
				int64_t t = ts[j];
				ts[j] = ts[j - 1], ts[j - 1] = t;
				int w = who[j];
				who[j] = who[j - 1], who[j - 1] = w;
			}
		for (int i = 0; i < n; i++) {
			if (i == 0 || ts[i] > ts[i - 1] + SESSION_GAP)
				ns++;
			sess_last[ns - 1] = ts[i] + SESSION_GAP - 1;
			if (who[i] < NA)
				sess_a[who[i]] = ns - 1;
			else
				sess_b[who[i] - NA] = ns - 1;
		}
	}
}

int ut_pairs(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	int64_t a = fl_row_int64(in, 0), b = fl_row_int64(in, 1), ts = fl_row_int64(in, 2);
	int64_t want = join_kind == WINDOW_JOIN    ? ts_a(a) - ts_a(a) % 100 + 99
		       : join_kind == SESSION_JOIN ? sess_last[sess_a[a]]
						   : (ts_a(a) > ts_b(b) ? ts_a(a) : ts_b(b));
	if (ts != want)
		atomic_fetch_add(&n_pair_bad_ts, 1);
	atomic_fetch_add(&n_pairs, 1);
	atomic_fetch_add(&pair_sum, a * 7 + b * 13);
	return 0;
}

static void run_join(enum join_kind kind)
{
	join_kind = kind;
	if (kind == SESSION_JOIN)
		sessions_of_keys();
	atomic_store(&n_pairs, 0);
	atomic_store(&pair_sum, 0);
	atomic_store(&n_pair_bad_ts, 0);
	fl_env *env = env_with(2);
	fl_stream *a, *b;
	sources(env, 0, ut_gen_b, &a, &b);
	fl_window_join_spec wj = {.kind = FL_WINDOW_TUMBLING, .size_ms = 100, .join = ut_join};
	if (kind == SESSION_JOIN)
		wj = (fl_window_join_spec){
		    .kind = FL_WINDOW_SESSION, .gap_ms = SESSION_GAP, .join = ut_join};
	fl_interval_join_spec ij = {
	    .lower_ms = -20, .upper_ms = 30, .upper_exclusive = true, .join = ut_join};
	fl_stream *ka = fl_key_by(a, 0), *kb = fl_key_by(b, 0);
	fl_discard(fl_flat_map(kind != INTERVAL_JOIN ? fl_window_join(ka, kb, &wj)
						     : fl_interval_join(ka, kb, &ij),
			       ut_pairs));
	run(env);
	int64_t n = 0, sum = 0;
	for (int64_t x = 0; x < NA; x++)
		for (int64_t y = x % KEYS; y < NB; y += KEYS) {
			int64_t tl = ts_a(x), tr = ts_b(y);
			bool match = kind == WINDOW_JOIN    ? tl - tl % 100 == tr - tr % 100
				     : kind == SESSION_JOIN ? sess_a[x] == sess_b[y]
							    : tr >= tl - 20 && tr < tl + 30;
			if (match && y % KEYS == x % KEYS) {
				n++;
				sum += x * 7 + y * 13;
			}
		}
	assert_true(n > 100);
	assert_int_equal(atomic_load(&n_pairs), n);
	assert_int_equal(atomic_load(&pair_sum), sum);
	assert_int_equal(atomic_load(&n_pair_bad_ts), 0);
}

static void test_the_interval_join_matches_exactly_its_pairs(void **state)
{
	run_join(INTERVAL_JOIN);
}

static void test_the_window_join_matches_exactly_its_pairs(void **state)
{
	run_join(WINDOW_JOIN);
}

/* Session windows: the pairs of a session of either input's records
 * (sessions merged across both inputs), each at its session's end - 1. */
static void test_the_session_window_join_matches_exactly_its_pairs(void **state)
{
	run_join(SESSION_JOIN);
}

/* ---------------------------------------------------------- coGroup */

int ut_cogroup(fl_ctx *ctx, const fl_row *l, size_t nl, const fl_row *r, size_t nr,
	       fl_collector *out);

/* Calls, calls with one side empty, records seen per side, and calls
 * that broke a rule (mixed keys, a record of another window, a side out
 * of arrival order, no record at all). */
static _Atomic int64_t n_groups, n_left_only, n_right_only, n_grouped[2], n_group_bad;
#define MAX_WIN 128

/* The window (tumbling, 100 ms) or session of a record, as its end - 1. */
static int64_t group_end(int side, int64_t off)
{
	int64_t ts = side ? ts_b(off) : ts_a(off);
	if (join_kind == SESSION_JOIN)
		return sess_last[side ? sess_b[off] : sess_a[off]];
	return ts - ts % 100 + 99;
}

int ut_cogroup(fl_ctx *ctx, const fl_row *l, size_t nl, const fl_row *r, size_t nr,
	       fl_collector *out)
{
	(void)out;
	int64_t ts = fl_ctx_timestamp(ctx);
	bool bad = nl + nr == 0;
	int64_t key = nl ? fl_row_int64(&l[0], 0) : nr ? fl_row_int64(&r[0], 0) : -1;
	for (int side = 0; side < 2; side++) {
		const fl_row *rows = side ? r : l;
		size_t n = side ? nr : nl;
		for (size_t i = 0; i < n; i++) {
			int64_t off = fl_row_int64(&rows[i], 1);
			bad |= fl_row_int64(&rows[i], 0) != key || group_end(side, off) != ts ||
			       (i > 0 && off <= fl_row_int64(&rows[i - 1], 1));
		}
		atomic_fetch_add(&n_grouped[side], (int64_t)n);
	}
	atomic_fetch_add(&n_groups, 1);
	if (nr == 0)
		atomic_fetch_add(&n_left_only, 1);
	if (nl == 0)
		atomic_fetch_add(&n_right_only, 1);
	if (bad)
		atomic_fetch_add(&n_group_bad, 1);
	return 0;
}

/* A window coGroup over both inputs (tumbling 100 ms, or sessions of gap
 * SESSION_GAP merged over both): one call per key and window with a
 * record, every record once in its own window's call, each side in
 * arrival order; the windows with one side only are called too. */
static void run_cogroup(enum join_kind kind)
{
	join_kind = kind;
	sessions_of_keys();
	atomic_store(&n_groups, 0);
	atomic_store(&n_left_only, 0);
	atomic_store(&n_right_only, 0);
	atomic_store(&n_grouped[0], 0);
	atomic_store(&n_grouped[1], 0);
	atomic_store(&n_group_bad, 0);
	fl_env *env = env_with(2);
	fl_stream *a, *b;
	sources(env, 0, ut_gen_b, &a, &b);
	fl_window_cogroup_spec cg = {.kind = FL_WINDOW_TUMBLING, .size_ms = 100,
				     .cogroup = ut_cogroup};
	if (kind == SESSION_JOIN)
		cg = (fl_window_cogroup_spec){
		    .kind = FL_WINDOW_SESSION, .gap_ms = SESSION_GAP, .cogroup = ut_cogroup};
	fl_discard(fl_window_cogroup(fl_key_by(a, 0), fl_key_by(b, 0), &cg));
	run(env);
	/* The groups expected: per key and window (or session), whether
	 * each side has a record in it. */
	static uint8_t has[KEYS * MAX_WIN][2], has_s[NA + NB][2];
	memset(has, 0, sizeof(has));
	memset(has_s, 0, sizeof(has_s));
	for (int side = 0; side < 2; side++)
		for (int64_t o = 0; o < (side ? NB : NA); o++) {
			if (kind == SESSION_JOIN) {
				has_s[side ? sess_b[o] : sess_a[o]][side] = 1;
				continue;
			}
			int64_t w = (group_end(side, o) - 1000) / 100;
			assert_true(w >= 0 && w < MAX_WIN);
			has[(o % KEYS) * MAX_WIN + w][side] = 1;
		}
	int64_t groups = 0, left_only = 0, right_only = 0;
	size_t cells = kind == SESSION_JOIN ? NA + NB : KEYS * MAX_WIN;
	for (size_t i = 0; i < cells; i++) {
		const uint8_t *h = kind == SESSION_JOIN ? has_s[i] : has[i];
		groups += h[0] || h[1];
		left_only += h[0] && !h[1];
		right_only += !h[0] && h[1];
	}
	assert_int_equal(atomic_load(&n_group_bad), 0);
	assert_int_equal(atomic_load(&n_grouped[0]), NA);
	assert_int_equal(atomic_load(&n_grouped[1]), NB);
	assert_int_equal(atomic_load(&n_groups), groups);
	assert_int_equal(atomic_load(&n_left_only), left_only);
	assert_int_equal(atomic_load(&n_right_only), right_only);
	if (kind == SESSION_JOIN)
		assert_true(right_only > 0); /* the outer case ran (the data has no left-only session) */
}

static void test_a_tumbling_window_cogroup_sees_every_record_once(void **state)
{
	run_cogroup(WINDOW_JOIN);
}

static void test_a_session_window_cogroup_sees_every_record_once(void **state)
{
	run_cogroup(SESSION_JOIN);
}

/* Bad coGroup specs are refused when the graph is built, naming what. */
static void test_a_bad_cogroup_is_refused_by_name(void **state)
{
	fl_env *env = env_with(1);
	fl_stream *a, *b;
	sources(env, 0, ut_gen_b, &a, &b);
	fl_window_cogroup_spec cg = {.kind = FL_WINDOW_SESSION, .gap_ms = 0, .cogroup = ut_cogroup};
	assert_null(fl_window_cogroup(fl_key_by(a, 0), fl_key_by(b, 0), &cg));
	assert_non_null(strstr(fl_env_error(env),
			       "window_cogroup: gap_ms of a session window must be > 0, not 0"));
	fl_env_free(env);
	env = env_with(1);
	sources(env, 0, ut_gen_b, &a, &b);
	cg = (fl_window_cogroup_spec){.kind = FL_WINDOW_TUMBLING, .size_ms = 100};
	assert_null(fl_window_cogroup(fl_key_by(a, 0), b, &cg));
	assert_non_null(strstr(fl_env_error(env), "window_cogroup: the right stream is not keyed"));
	fl_env_free(env);
}

/* ------------------------------------------------- late join records */

int ut_gen_a_late(fl_ctx *ctx, int64_t off, fl_row *out);
int ut_late_left(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int ut_late_right(fl_ctx *ctx, const fl_row *in, fl_collector *out);

/* ut_gen_a, but offsets 1499, 1999, 2499 and 2999 at time 5: far behind
 * the watermark (paced, it passed 900 long before), late for any join. */
#define LATE_FROM 1000
int ut_gen_a_late(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, off % KEYS);
	fl_row_add_int64(out, off);
	return fl_row_add_timestamp(out, off >= LATE_FROM && off % 500 == 499 ? 5 : ts_a(off));
}

static _Atomic int64_t n_late[2], n_late_bad;

static int late_seen(fl_ctx *ctx, const fl_row *in, int side)
{
	int64_t off = fl_row_int64(in, 1);
	if (side || off < LATE_FROM || off % 500 != 499 || fl_ctx_timestamp(ctx) != 5)
		atomic_fetch_add(&n_late_bad, 1);
	atomic_fetch_add(&n_late[side], 1);
	return 0;
}

int ut_late_left(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return late_seen(ctx, in, 0);
}

int ut_late_right(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	return late_seen(ctx, in, 1);
}

/* Each join's late records of the left input, and none of the right,
 * on the side outputs fl_join_late_records gives: exactly the four
 * records far behind, with their timestamps. */
static void test_late_join_records_reach_their_side_outputs(void **state)
{
	for (int kind = 0; kind < 3; kind++) {
		atomic_store(&n_late[0], 0);
		atomic_store(&n_late[1], 0);
		atomic_store(&n_late_bad, 0);
		fl_env *env = env_with(2);
		fl_watermark_strategy ws = {
		    .kind = FL_WATERMARK_BOUNDED, .out_of_orderness_ms = 50, .timestamp_field = 2};
		fl_stream *a = fl_assign_timestamps_and_watermarks(
		    fl_set_parallelism(fl_generator(env, NA, 10000, ut_gen_a_late), 1), &ws);
		fl_stream *b = fl_assign_timestamps_and_watermarks(
		    fl_set_parallelism(fl_generator(env, NB, 10000, ut_gen_b), 1), &ws);
		fl_stream *ka = fl_key_by(a, 0), *kb = fl_key_by(b, 0);
		fl_window_join_spec wj = {.kind = FL_WINDOW_TUMBLING, .size_ms = 100, .join = ut_join};
		fl_interval_join_spec ij = {.lower_ms = -20, .upper_ms = 30, .join = ut_join};
		fl_window_cogroup_spec cg = {
		    .kind = FL_WINDOW_TUMBLING, .size_ms = 100, .cogroup = ut_cogroup};
		fl_stream *j = kind == 0   ? fl_interval_join(ka, kb, &ij)
			       : kind == 1 ? fl_window_join(ka, kb, &wj)
					   : fl_window_cogroup(ka, kb, &cg);
		fl_discard(j);
		fl_discard(fl_flat_map(fl_join_late_records(j, 0), ut_late_left));
		fl_discard(fl_flat_map(fl_join_late_records(j, 1), ut_late_right));
		join_kind = WINDOW_JOIN; /* ut_cogroup's checks: not the late ones */
		run(env);
		assert_int_equal(atomic_load(&n_late[0]), (NA - LATE_FROM) / 500);
		assert_int_equal(atomic_load(&n_late[1]), 0);
		assert_int_equal(atomic_load(&n_late_bad), 0);
	}
	fl_env *env = env_with(1);
	fl_stream *a, *b;
	sources(env, 0, ut_gen_b, &a, &b);
	assert_null(fl_join_late_records(fl_map(a, ut_tag_a), 0));
	assert_non_null(strstr(fl_env_error(env), "join_late_records: needs the stream"));
	fl_env_free(env);
	env = env_with(1);
	sources(env, 0, ut_gen_b, &a, &b);
	fl_interval_join_spec ij = {.lower_ms = 0, .upper_ms = 1, .join = ut_join};
	assert_null(fl_join_late_records(fl_interval_join(fl_key_by(a, 0), fl_key_by(b, 0), &ij), 2));
	assert_non_null(strstr(fl_env_error(env), "join_late_records: input 2: 0 (left) or 1 (right)"));
	fl_env_free(env);
}

/* ------------------------------------------- chained with both inputs */

/* Set by the pass-through maps on the thread that runs them: a two-input
 * operator that sees it set runs in the same task as its inputs' chains. */
static _Thread_local int tl_mapped;
static _Atomic int64_t n_same_thread, n_other_thread;
int ut_pass(fl_ctx *ctx, const fl_row *in, fl_row *out);
int ut_tag_chained_a(fl_ctx *ctx, const fl_row *in, fl_row *out);
int ut_tag_chained_b(fl_ctx *ctx, const fl_row *in, fl_row *out);
int ut_wm_chained_a(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int ut_wm_chained_b(fl_ctx *ctx, const fl_row *in, fl_collector *out);

int ut_pass(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	tl_mapped = 1;
	*out = *in;
	return 0;
}

static void same_thread(void)
{
	atomic_fetch_add(tl_mapped ? &n_same_thread : &n_other_thread, 1);
}

int ut_tag_chained_a(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	same_thread();
	return ut_tag_a(ctx, in, out);
}

int ut_tag_chained_b(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	same_thread();
	return ut_tag_b(ctx, in, out);
}

int ut_wm_chained_a(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	same_thread();
	return wm_check(ctx, in, 0);
}

int ut_wm_chained_b(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	same_thread();
	return wm_check(ctx, in, 1);
}

static void reset_chained(void)
{
	atomic_store(&tagged[0], 0);
	atomic_store(&tagged[1], 0);
	atomic_store(&n_same_thread, 0);
	atomic_store(&n_other_thread, 0);
}

/* Two chains fed over the network (rebalance -> map), joined by a co-map
 * on forward edges at parallelism 2: one task runs both maps and the
 * co-map, each record reaches its own function once. */
static void test_a_co_map_chained_with_two_network_fed_chains(void **state)
{
	reset_chained();
	fl_env *env = env_with(2);
	fl_stream *a, *b;
	sources(env, 0, ut_gen_b, &a, &b);
	fl_stream *ma = fl_map(fl_rebalance(a), ut_pass), *mb = fl_map(fl_rebalance(b), ut_pass);
	fl_discard(fl_flat_map(fl_co_map(fl_connect(ma, mb), ut_tag_chained_a, ut_tag_chained_b),
			       ut_count));
	run(env);
	assert_int_equal(atomic_load(&tagged[0]), (int64_t)NA * (NA - 1) / 2);
	assert_int_equal(atomic_load(&tagged[1]), (int64_t)NB * (NB - 1) / 2);
	assert_int_equal(atomic_load(&n_same_thread), NA + NB);
	assert_int_equal(atomic_load(&n_other_thread), 0);
}

/* The same at parallelism 1 with event time: the chained co-flat-map's
 * watermark is still the minimum of both inputs'. */
static void test_a_chained_two_input_operator_has_the_minimum_watermark(void **state)
{
	reset_chained();
	reset_wm_checks();
	fl_env *env = env_with(1);
	fl_stream *a, *b;
	sources(env, 6000, ut_gen_b, &a, &b);
	fl_stream *ma = fl_map(fl_rebalance(a), ut_pass), *mb = fl_map(fl_rebalance(b), ut_pass);
	fl_discard(fl_co_flat_map(fl_connect(ma, mb), ut_wm_chained_a, ut_wm_chained_b));
	run(env);
	assert_wm_checks();
	assert_int_equal(atomic_load(&n_same_thread), NA + NB);
}

/* A diamond: one source into both inputs, one through a map, all in the
 * source's task. */
static void test_a_diamond_into_a_co_map_runs_in_the_source_task(void **state)
{
	reset_chained();
	fl_env *env = env_with(1);
	fl_stream *a, *b;
	sources(env, 0, ut_gen_b, &a, &b);
	fl_discard(b);
	fl_discard(fl_flat_map(
	    fl_co_map(fl_connect(fl_map(a, ut_pass), a), ut_tag_chained_a, ut_tag_b), ut_count));
	run(env);
	assert_int_equal(atomic_load(&tagged[0]), (int64_t)NA * (NA - 1) / 2);
	assert_int_equal(atomic_load(&tagged[1]), (int64_t)NA * (NA - 1) / 2);
	assert_int_equal(atomic_load(&n_same_thread), NA);
}

/* Two generators, each through a map, into a co-flat-map on forward
 * edges: one task whose thread serves both sources in turns; paced, its
 * watermark is the minimum of both sources' (the fast one's is ahead). */
static void test_two_sources_chained_with_a_two_input_operator(void **state)
{
	reset_chained();
	reset_wm_checks();
	fl_env *env = env_with(1);
	fl_stream *a, *b;
	sources(env, 6000, ut_gen_b, &a, &b);
	fl_discard(fl_co_flat_map(fl_connect(fl_map(a, ut_pass), fl_map(b, ut_pass)),
				  ut_wm_chained_a, ut_wm_chained_b));
	run(env);
	assert_wm_checks();
	assert_int_equal(atomic_load(&n_same_thread), NA + NB);
	assert_int_equal(atomic_load(&n_other_thread), 0);
}

/* A source's chain beside a network-fed one (rebalance -> map) into a
 * co-flat-map on forward edges, each way round: one task runs the
 * generator, both maps and the co-flat-map on one thread (the gate read
 * between the source's turns); paced, its watermark is the minimum of the
 * source's and the network's, whichever side is ahead. */
static void test_a_source_chain_beside_a_network_fed_chain(void **state)
{
	for (int way = 0; way < 2; way++) {
		reset_chained();
		reset_wm_checks();
		fl_env *env = env_with(1);
		fl_stream *a, *b;
		sources(env, 6000, ut_gen_b, &a, &b);
		/* way 0: the slow input is the chained source; 1: the fast. */
		fl_stream *ma = way ? fl_map(fl_rebalance(a), ut_pass) : fl_map(a, ut_pass);
		fl_stream *mb = way ? fl_map(b, ut_pass) : fl_map(fl_rebalance(b), ut_pass);
		fl_discard(fl_co_flat_map(fl_connect(ma, mb), ut_wm_chained_a, ut_wm_chained_b));
		run(env);
		assert_wm_checks();
		assert_int_equal(atomic_load(&n_same_thread), NA + NB);
		assert_int_equal(atomic_load(&n_other_thread), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_the_watermark_is_the_minimum_of_both_inputs),
	    cmocka_unit_test(test_co_map_sends_each_input_to_its_function),
	    cmocka_unit_test(test_a_stream_connected_with_itself_feeds_both_functions),
	    cmocka_unit_test(test_a_co_process_shares_state_and_timers_between_its_inputs),
	    cmocka_unit_test(test_keys_of_different_types_fail_naming_both),
	    cmocka_unit_test(test_the_broadcast_state_is_the_same_on_every_subtask),
	    cmocka_unit_test(test_an_unkeyed_broadcast_process_function),
	    cmocka_unit_test(test_the_interval_join_matches_exactly_its_pairs),
	    cmocka_unit_test(test_the_window_join_matches_exactly_its_pairs),
	    cmocka_unit_test(test_the_session_window_join_matches_exactly_its_pairs),
	    cmocka_unit_test(test_a_tumbling_window_cogroup_sees_every_record_once),
	    cmocka_unit_test(test_a_session_window_cogroup_sees_every_record_once),
	    cmocka_unit_test(test_a_bad_cogroup_is_refused_by_name),
	    cmocka_unit_test(test_late_join_records_reach_their_side_outputs),
	    cmocka_unit_test(test_a_co_map_chained_with_two_network_fed_chains),
	    cmocka_unit_test(test_a_chained_two_input_operator_has_the_minimum_watermark),
	    cmocka_unit_test(test_a_diamond_into_a_co_map_runs_in_the_source_task),
	    cmocka_unit_test(test_two_sources_chained_with_a_two_input_operator),
	    cmocka_unit_test(test_a_source_chain_beside_a_network_fed_chain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
