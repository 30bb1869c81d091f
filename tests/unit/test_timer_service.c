/*
 * Timers of keyed process functions (issue #9, step 2): the timer service
 * on both backends (deduplication, deletion, firing order, the backend as
 * the truth, rebuilt by key group after a restore, its limits), and jobs on
 * the mini cluster: event-time timers counting per key and window over
 * out-of-order input, exact, fired before the watermark goes downstream;
 * processing-time timers on the fake clock; timers asked for where there
 * are none refused by name. Runs under ThreadSanitizer too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "state/backend.h"
#include "taskmanager/timer_service.h"
#include "types/keygroup.h"
#include <flinc/flinc.h>

#define MAXP 8

static st_backend *backend(const char *type)
{
	st_backend_config bc = {
	    .max_parallelism = MAXP, .name = "timers test", .dir = getenv("TMPDIR")};
	st_backend *b = NULL;
	cm_err err = {0};
	if (st_backend_new(type, &bc, &b, &err) != 0)
		fail_msg("backend %s: %s", type, err.msg);
	return b;
}

static tm_timers *service(st_backend *b, size_t max)
{
	tm_timers *t = NULL;
	cm_err err = {0};
	if (tm_timers_new(b, "Timers", max, &t, &err) != 0)
		fail_msg("tm_timers_new: %s", err.msg);
	return t;
}

static int reg(tm_timers *t, enum tm_timer_domain d, int64_t time, const char *key)
{
	size_t n = strlen(key);
	return tm_timers_register(t, d, time, key, n, kg_murmur3_32(key, n, 0), NULL, 0);
}

static int del(tm_timers *t, enum tm_timer_domain d, int64_t time, const char *key)
{
	size_t n = strlen(key);
	return tm_timers_delete(t, d, time, key, n, kg_murmur3_32(key, n, 0), NULL, 0);
}

static int count_entry(void *arg, const st_entry *e)
{
	(*(size_t *)arg)++;
	return 0;
}

/* Entries of every state in b: the timer states are all it holds here. */
static size_t stored(st_backend *b)
{
	size_t n = 0;
	assert_int_equal(st_iterate(b, 0, MAXP - 1, count_entry, &n), 0);
	return n;
}

static void expect_pop(tm_timers *t, enum tm_timer_domain d, int64_t upto, int64_t time,
		       const char *key)
{
	tm_timer tm;
	assert_int_equal(tm_timers_pop(t, d, upto, &tm), 1);
	assert_true(tm.time == time);
	assert_int_equal(tm.klen, strlen(key));
	assert_memory_equal(tm.key, key, tm.klen);
	assert_int_equal(tm.nslen, 0);
	assert_int_equal(tm.hash, kg_murmur3_32(key, tm.klen, 0));
}

static void service_basics(const char *type)
{
	st_backend *b = backend(type);
	tm_timers *t = service(b, 100);
	assert_int_equal(reg(t, TM_TIMER_EVENT, 5, "kb"), 0);
	assert_int_equal(reg(t, TM_TIMER_EVENT, 5, "ka"), 0);
	assert_int_equal(reg(t, TM_TIMER_EVENT, 3, "kc"), 0);
	assert_int_equal(reg(t, TM_TIMER_EVENT, 5, "ka"), 0);  /* the same timer */
	assert_int_equal(reg(t, TM_TIMER_EVENT, -7, "ka"), 0); /* negative times order too */
	assert_int_equal(reg(t, TM_TIMER_PROC, 5, "ka"), 0);   /* another domain */
	assert_int_equal(tm_timers_count(t, TM_TIMER_EVENT), 4);
	assert_int_equal(tm_timers_count(t, TM_TIMER_PROC), 1);
	assert_int_equal(stored(b), 5);
	assert_int_equal(del(t, TM_TIMER_EVENT, 3, "kc"), 0);
	assert_int_equal(del(t, TM_TIMER_EVENT, 3, "kc"), 0); /* gone already: fine */
	assert_int_equal(stored(b), 4);
	assert_true(tm_timers_peek(t, TM_TIMER_EVENT) == -7);
	tm_timer tm;
	expect_pop(t, TM_TIMER_EVENT, 4, -7, "ka");
	assert_int_equal(tm_timers_pop(t, TM_TIMER_EVENT, 4, &tm), 0);
	expect_pop(t, TM_TIMER_EVENT, 5, 5, "ka"); /* equal times: key order */
	expect_pop(t, TM_TIMER_EVENT, 5, 5, "kb");
	assert_int_equal(tm_timers_pop(t, TM_TIMER_EVENT, INT64_MAX, &tm), 0);
	assert_true(tm_timers_peek(t, TM_TIMER_EVENT) == INT64_MAX);
	/* Fired timers left the backend; the processing-time one is there. */
	assert_int_equal(stored(b), 1);
	expect_pop(t, TM_TIMER_PROC, 5, 5, "ka");
	assert_int_equal(stored(b), 0);
	tm_timers_free(t);
	st_backend_free(b);
}

static void test_timers_dedup_delete_and_fire_in_order_hashmap(void **state)
{
	service_basics("hashmap");
}

static void test_timers_dedup_delete_and_fire_in_order_lmdb(void **state)
{
	service_basics("lmdb");
}

/* The model of random_against_a_model: live (time, key) pairs. */
struct live_timer {
	int64_t time;
	char key[4];
};

static int live_cmp(const void *a, const void *b)
{
	const struct live_timer *x = a, *y = b;
	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return strcmp(x->key, y->key);
}

/*
 * Registers, deletes, moves (delete then register later: a function that
 * pushes its timer back per record) and fires at random, against a model,
 * on the service: on the heap backend its queue keeps no set of its own, so
 * deleted timers' entries stay until they come up or the queue is cut
 * back (mostly moves, far ahead, so that it is cut back many times);
 * neither may ever fire one, nor fire a timer twice, nor lose one.
 */
static void random_against_a_model(const char *type)
{
	enum { OPS = 60000, KEYS = 50, CAP = 20000 };
	static struct live_timer model[CAP];
	size_t nm = 0, fired_total = 0, moved = 0;
	st_backend *b = backend(type);
	tm_timers *t = service(b, CAP);
	srand(7);
	int64_t wm = 0;
	for (int op = 0; op < OPS; op++) {
		struct live_timer m = {.time = wm + 1 + rand() % 5000};
		snprintf(m.key, sizeof(m.key), "%d", rand() % KEYS);
		size_t at = nm;
		for (size_t i = 0; i < nm; i++)
			if (live_cmp(&model[i], &m) == 0)
				at = i;
		int r = rand() % 20;
		if (r < 3) {
			assert_int_equal(reg(t, TM_TIMER_EVENT, m.time, m.key), 0);
			if (at == nm)
				model[nm++] = m;
		} else if (r < 5) {
			assert_int_equal(del(t, TM_TIMER_EVENT, m.time, m.key), 0);
			if (at < nm)
				model[at] = model[--nm];
		} else if (r < 19 && nm > 0) {
			/* Move a live timer later, and again to where it was. */
			size_t i = (size_t)rand() % nm;
			struct live_timer to = model[i];
			to.time += 1 + rand() % 3000;
			assert_int_equal(del(t, TM_TIMER_EVENT, model[i].time, model[i].key), 0);
			assert_int_equal(reg(t, TM_TIMER_EVENT, to.time, to.key), 0);
			size_t dup = nm;
			for (size_t j = 0; j < nm; j++)
				if (live_cmp(&model[j], &to) == 0)
					dup = j;
			if (dup < nm)
				model[i] = model[--nm];
			else
				model[i] = to;
			if (rand() % 2 && dup == nm) { /* back: a second queue entry for it */
				struct live_timer back = to;
				back.time = m.time;
				size_t dup2 = nm;
				for (size_t j = 0; j < nm; j++)
					if (j != i && live_cmp(&model[j], &back) == 0)
						dup2 = j;
				assert_int_equal(del(t, TM_TIMER_EVENT, to.time, to.key), 0);
				assert_int_equal(reg(t, TM_TIMER_EVENT, back.time, back.key), 0);
				if (dup2 < nm)
					model[i] = model[--nm];
				else
					model[i] = back;
			}
			moved++;
		} else {
			wm += rand() % 40;
			qsort(model, nm, sizeof(*model), live_cmp);
			size_t fired = 0;
			tm_timer tm;
			int rc;
			while ((rc = tm_timers_pop(t, TM_TIMER_EVENT, wm, &tm)) == 1) {
				assert_true(fired < nm);
				assert_true(tm.time == model[fired].time);
				assert_int_equal(tm.klen, strlen(model[fired].key));
				assert_memory_equal(tm.key, model[fired].key, tm.klen);
				fired++;
			}
			assert_int_equal(rc, 0);
			assert_true(fired == nm || model[fired].time > wm);
			memmove(model, model + fired, (nm - fired) * sizeof(*model));
			nm -= fired;
			fired_total += fired;
		}
		assert_int_equal(tm_timers_count(t, TM_TIMER_EVENT), nm);
		int64_t min = INT64_MAX;
		for (size_t i = 0; i < nm; i++)
			min = model[i].time < min ? model[i].time : min;
		/* The queue may show a deleted timer's earlier time, never a
		 * later one than the earliest live timer. */
		assert_true(tm_timers_peek(t, TM_TIMER_EVENT) <= min);
		if (nm == 0)
			assert_true(tm_timers_peek(t, TM_TIMER_EVENT) == INT64_MAX);
	}
	assert_int_equal(stored(b), nm); /* the backend holds the live ones only */
	/* The sequence did exercise it: thousands fired and moved. */
	assert_true(fired_total > 2000 && moved > 10000);
	tm_timers_free(t);
	st_backend_free(b);
}

static void test_random_operations_match_a_model_hashmap(void **state)
{
	random_against_a_model("hashmap");
}

static void test_random_operations_match_a_model_lmdb(void **state)
{
	random_against_a_model("lmdb");
}

typedef struct copy_arg {
	st_backend *to;
	int kg_first, kg_last;
} copy_arg;

static int copy_entry(void *arg, const st_entry *e)
{
	copy_arg *c = arg;
	if (e->key_group < c->kg_first || e->key_group > c->kg_last)
		return 0;
	return st_restore_entry(c->to, e);
}

/* A restore at another parallelism: the entries of a key-group range go
 * into a new backend, whose service rebuilds its queues from them; the
 * two halves together fire every timer once, each in order. */
static void rebuild_by_key_group(const char *from_type, const char *to_type)
{
	st_backend *a = backend(from_type);
	tm_timers *ta = service(a, 10000);
	char key[16];
	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "k%d", i % 37);
		assert_int_equal(
		    reg(ta, i % 3 ? TM_TIMER_EVENT : TM_TIMER_PROC, (i * 7919) % 1000, key), 0);
	}
	size_t nev = tm_timers_count(ta, TM_TIMER_EVENT), npr = tm_timers_count(ta, TM_TIMER_PROC);
	size_t got_ev = 0, got_pr = 0;
	for (int half = 0; half < 2; half++) {
		st_backend *b = backend(to_type);
		/* A new subtask declares its timer states before its restore
		 * (the process function's open), as here. */
		tm_timers *tb = service(b, 10000);
		copy_arg c = {.to = b,
			      .kg_first = half ? MAXP / 2 : 0,
			      .kg_last = half ? MAXP - 1 : MAXP / 2 - 1};
		assert_int_equal(st_iterate(a, 0, MAXP - 1, copy_entry, &c), 0);
		assert_int_equal(tm_timers_rebuild(tb), 0);
		for (int d = 0; d < 2; d++) {
			tm_timer tm;
			int64_t last = INT64_MIN;
			int rc;
			while ((rc = tm_timers_pop(tb, d, INT64_MAX, &tm)) == 1) {
				assert_true(tm.time >= last);
				last = tm.time;
				int kg = kg_of_hash(tm.hash, MAXP);
				assert_true(kg >= c.kg_first && kg <= c.kg_last);
				/* It was registered in a (the same domain). */
				assert_int_equal(tm_timers_delete(ta, d, tm.time, tm.key, tm.klen,
								  tm.hash, NULL, 0),
						 0);
				*(d == TM_TIMER_EVENT ? &got_ev : &got_pr) += 1;
			}
			assert_int_equal(rc, 0);
		}
		assert_int_equal(stored(b), 0);
		tm_timers_free(tb);
		st_backend_free(b);
	}
	assert_int_equal(got_ev, nev);
	assert_int_equal(got_pr, npr);
	/* Every timer of a was found in one of the halves (and deleted). */
	assert_int_equal(tm_timers_count(ta, TM_TIMER_EVENT), 0);
	assert_int_equal(tm_timers_count(ta, TM_TIMER_PROC), 0);
	assert_int_equal(stored(a), 0);
	tm_timers_free(ta);
	st_backend_free(a);
}

static void test_timers_rebuilt_by_key_group_after_a_restore(void **state)
{
	rebuild_by_key_group("hashmap", "hashmap");
	rebuild_by_key_group("hashmap", "lmdb");
	rebuild_by_key_group("lmdb", "hashmap");
}

static void test_timer_limits_are_errors_naming_them(void **state)
{
	st_backend *b = backend("hashmap");
	tm_timers *t = service(b, 3);
	assert_int_equal(reg(t, TM_TIMER_EVENT, 1, "a"), 0);
	assert_int_equal(reg(t, TM_TIMER_EVENT, 2, "a"), 0);
	assert_int_equal(reg(t, TM_TIMER_EVENT, 3, "a"), 0);
	assert_int_equal(reg(t, TM_TIMER_EVENT, 3, "a"), 0); /* held already */
	assert_int_equal(reg(t, TM_TIMER_EVENT, 4, "a"), FL_ERANGE);
	assert_non_null(strstr(tm_timers_error(t)->msg, "more than 3 event-time timers pending"));
	assert_non_null(strstr(tm_timers_error(t)->msg, "'Timers'"));
	assert_int_equal(stored(b), 3);
	char big[600];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(reg(t, TM_TIMER_PROC, 1, big), FL_ERANGE);
	assert_non_null(
	    strstr(tm_timers_error(t)->msg, "processing-time timer's key of 599 bytes"));
	assert_int_equal(stored(b), 3);
	/* A restored entry that is not a timer (namespace too short). */
	int id = -1;
	assert_int_equal(st_declare(b, TM_TIMERS_EVENT_STATE, ST_STATE_NAMESPACED, &id), 0);
	st_entry e = {
	    .state = id, .key = "zz", .klen = 2, .ns = "abc", .nslen = 3, .val = "\1", .vlen = 1};
	assert_int_equal(st_restore_entry(b, &e), 0);
	assert_int_equal(tm_timers_rebuild(t), FL_EPROTO);
	assert_non_null(strstr(tm_timers_error(t)->msg, "namespace of 3 bytes"));
	tm_timers_free(t);
	st_backend_free(b);
}

/* ------------------------------------------------------- jobs: event time */

/* Generated records: key off % NKEYS, event time off * 2 + JITTER(off),
 * at most 49 ms behind the largest before it: a bound of 50 makes none
 * late. Windows of WIN ms per key, counted by timers at their ends. */
#define NKEYS 11
#define JITTER(off) (((off)*7919) % 50)
#define BOUND 50
#define WIN 100
#define NREC 6000
#define NWIN ((NREC * 2 + 50) / WIN + 1)

int tt_gen(fl_ctx *ctx, int64_t off, fl_row *out);
int tt_count(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int tt_fire(fl_ctx *ctx, int64_t time, enum fl_time_domain d, fl_collector *out);
int tt_check(fl_ctx *ctx, const fl_row *in, fl_collector *out);

int tt_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, off % NKEYS);
	return fl_row_add_timestamp(out, off * 2 + JITTER(off));
}

/* Per key, a map window end -> count; a timer at each window's end. */
static const fl_state_desc COUNTS = {.name = "counts"};

int tt_count(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	int64_t ts = fl_ctx_timestamp(ctx);
	int64_t end = ts - ts % WIN + WIN - 1;
	fl_map_state *m = fl_get_map_state(ctx, &COUNTS);
	fl_row k = {0}, v;
	fl_row_add_int64(&k, end);
	int rc = fl_map_state_get(m, &k, &v);
	if (rc < 0)
		return rc;
	int64_t n = rc ? fl_row_int64(&v, 0) : 0;
	fl_row nv = {0};
	fl_row_add_int64(&nv, n + 1);
	if ((rc = fl_map_state_put(m, &k, &nv)) != 0)
		return rc;
	return fl_ctx_register_event_timer(ctx, end);
}

static _Atomic int64_t fired[NKEYS][NWIN];
static _Atomic int64_t n_fired, n_bad_ts, n_bad_domain, n_out_late, n_out, n_order;
static _Atomic int64_t last_fired[NKEYS];

int tt_fire(fl_ctx *ctx, int64_t time, enum fl_time_domain d, fl_collector *out)
{
	if (d != FL_EVENT_TIME)
		atomic_fetch_add(&n_bad_domain, 1);
	if (fl_ctx_timestamp(ctx) != time || fl_ctx_watermark(ctx) < time)
		atomic_fetch_add(&n_bad_ts, 1);
	fl_row key;
	int rc = fl_ctx_current_key(ctx, &key);
	if (rc)
		return rc;
	int64_t k = fl_row_int64(&key, 0);
	/* Per key, timers fire in time order. */
	if (atomic_exchange(&last_fired[k], time) >= time)
		atomic_fetch_add(&n_order, 1);
	fl_map_state *m = fl_get_map_state(ctx, &COUNTS);
	fl_row mk = {0}, v;
	fl_row_add_int64(&mk, time);
	if ((rc = fl_map_state_get(m, &mk, &v)) != 1)
		return rc < 0 ? rc : fl_fail(ctx, "no count for window %lld", (long long)time);
	int64_t n = fl_row_int64(&v, 0);
	if ((rc = fl_map_state_remove(m, &mk)) != 0)
		return rc;
	atomic_fetch_add(&n_fired, 1);
	fl_row r = {0};
	fl_row_add_int64(&r, k);
	fl_row_add_int64(&r, time + 1 - WIN);
	fl_row_add_int64(&r, n);
	return fl_collect(out, &r);
}

/* Downstream of the timers, across the network: a window's count arrives
 * with the timer's time as its timestamp, before the watermark that fired
 * it (never late). */
int tt_check(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	int64_t k = fl_row_int64(in, 0), start = fl_row_int64(in, 1);
	if (fl_ctx_timestamp(ctx) != start + WIN - 1)
		atomic_fetch_add(&n_bad_ts, 1);
	if (fl_ctx_timestamp(ctx) <= fl_ctx_watermark(ctx))
		atomic_fetch_add(&n_out_late, 1);
	if (k >= 0 && k < NKEYS && start >= 0 && start / WIN < NWIN)
		atomic_fetch_add(&fired[k][start / WIN], fl_row_int64(in, 2));
	atomic_fetch_add(&n_out, 1);
	return 0;
}

static void reset(void)
{
	for (int k = 0; k < NKEYS; k++) {
		atomic_store(&last_fired[k], INT64_MIN);
		for (int w = 0; w < NWIN; w++)
			atomic_store(&fired[k][w], 0);
	}
	atomic_store(&n_fired, 0);
	atomic_store(&n_bad_ts, 0);
	atomic_store(&n_bad_domain, 0);
	atomic_store(&n_out_late, 0);
	atomic_store(&n_out, 0);
	atomic_store(&n_order, 0);
}

static fl_env *env_with(int p, int tms, const char *backend_type)
{
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	char buf[16];
	snprintf(buf, sizeof(buf), "%d", tms);
	assert_int_equal(fl_env_set_parallelism(env, p), 0);
	assert_int_equal(fl_env_set_config(env, "local.number-taskmanager", buf), 0);
	assert_int_equal(fl_env_set_config(env, "pipeline.auto-watermark-interval", "5 ms"), 0);
	assert_int_equal(fl_env_set_config(env, "state.backend.type", backend_type), 0);
	return env;
}

static void count_windows(const char *backend_type, double rate)
{
	reset();
	fl_env *env = env_with(2, 2, backend_type);
	fl_stream *s = fl_generator(env, NREC, rate, tt_gen);
	fl_watermark_strategy ws = {
	    .kind = FL_WATERMARK_BOUNDED, .out_of_orderness_ms = BOUND, .timestamp_field = 1};
	s = fl_assign_timestamps_and_watermarks(s, &ws);
	fl_process_spec spec = {.process = tt_count, .on_timer = tt_fire};
	s = fl_keyed_process(fl_key_by(s, 0), &spec);
	fl_discard(fl_process(fl_key_by(s, 1), tt_check));
	int rc = fl_execute(env, "timers");
	if (rc)
		fail_msg("job: %s", fl_env_error(env));
	/* The reference, from the generator's own formula. */
	static int64_t want[NKEYS][NWIN];
	memset(want, 0, sizeof(want));
	int64_t windows = 0;
	for (int64_t off = 0; off < NREC; off++) {
		int64_t ts = off * 2 + JITTER(off);
		if (want[off % NKEYS][ts / WIN]++ == 0)
			windows++;
	}
	for (int k = 0; k < NKEYS; k++)
		for (int w = 0; w < NWIN; w++)
			if (atomic_load(&fired[k][w]) != want[k][w])
				fail_msg("key %d window %d: %lld counted, %lld expected", k, w,
					 (long long)atomic_load(&fired[k][w]),
					 (long long)want[k][w]);
	assert_int_equal(atomic_load(&n_fired), windows);
	assert_int_equal(atomic_load(&n_out), windows);
	assert_int_equal(atomic_load(&n_bad_ts), 0);
	assert_int_equal(atomic_load(&n_bad_domain), 0);
	assert_int_equal(atomic_load(&n_order), 0);
	assert_int_equal(atomic_load(&n_out_late), 0);
	fl_env_free(env);
}

/* Paced, so that periodic watermarks fire timers while the job runs; and
 * unpaced, where the final watermark fires most of them. */
static void test_event_timers_count_windows_exactly_hashmap(void **state)
{
	count_windows("hashmap", 20000);
	count_windows("hashmap", 0);
}

static void test_event_timers_count_windows_exactly_lmdb(void **state)
{
	count_windows("lmdb", 20000);
}

/* ------------------------------------------------- jobs: processing time */

static char clock_path[256];
static _Atomic int64_t n_registered, n_proc_fired, n_proc_bad;

static void set_clock(long long ms)
{
	char tmp[300];
	snprintf(tmp, sizeof(tmp), "%s.tmp", clock_path);
	FILE *f = fopen(tmp, "w");
	assert_non_null(f);
	fprintf(f, "%lld\n", ms);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, clock_path), 0);
}

/* Waits (polling, no assertion on time) until *v reaches n; false after a
 * minute, a hang rather than a timing. */
static bool await_count(_Atomic int64_t *v, int64_t n)
{
	for (int i = 0; i < 60000 && atomic_load(v) < n; i++) {
		struct timespec ts = {0, 1000000L};
		nanosleep(&ts, NULL);
	}
	return atomic_load(v) >= n;
}

int tt_pgen(fl_ctx *ctx, int64_t off, fl_row *out);
int tt_pregister(fl_ctx *ctx, const fl_row *in, fl_collector *out);
int tt_pfire(fl_ctx *ctx, int64_t time, enum fl_time_domain d, fl_collector *out);

#define PRECS 200

/* The last record waits until every key registered its timer, moves the
 * fake clock past them, and waits until they fired: the job cannot end
 * (dropping pending processing-time timers) before. */
int tt_pgen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	if (off == PRECS - 1) {
		if (!await_count(&n_registered, NKEYS))
			return fl_fail(ctx, "the keys never registered their timers");
		set_clock(1500);
		if (!await_count(&n_proc_fired, NKEYS))
			return fl_fail(ctx, "the processing-time timers never fired");
	}
	return fl_row_add_int64(out, off % NKEYS);
}

static const fl_state_desc SEEN = {.name = "seen"};

int tt_pregister(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	fl_value_state *seen = fl_get_state(ctx, &SEEN);
	fl_row v;
	int rc = fl_value_state_get(seen, &v);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	fl_row one = {0};
	fl_row_add_int64(&one, 1);
	if ((rc = fl_value_state_update(seen, &one)) != 0)
		return rc;
	int64_t now = fl_ctx_current_processing_time(ctx);
	if (now != 1000)
		atomic_fetch_add(&n_proc_bad, 1);
	/* Registered twice, and one deleted: one timer at 1500 per key. */
	if ((rc = fl_ctx_register_processing_timer(ctx, now + 500)) != 0 ||
	    (rc = fl_ctx_register_processing_timer(ctx, now + 500)) != 0 ||
	    (rc = fl_ctx_register_processing_timer(ctx, now + 700)) != 0 ||
	    (rc = fl_ctx_delete_processing_timer(ctx, now + 700)) != 0)
		return rc;
	atomic_fetch_add(&n_registered, 1);
	return 0;
}

int tt_pfire(fl_ctx *ctx, int64_t time, enum fl_time_domain d, fl_collector *out)
{
	if (d != FL_PROCESSING_TIME || time != 1500 || fl_ctx_timestamp(ctx) != INT64_MIN ||
	    fl_ctx_current_processing_time(ctx) < 1500)
		atomic_fetch_add(&n_proc_bad, 1);
	fl_row key;
	if (fl_ctx_current_key(ctx, &key) != 0 || fl_row_int64(&key, 0) >= NKEYS)
		atomic_fetch_add(&n_proc_bad, 1);
	fl_value_state *seen = fl_get_state(ctx, &SEEN);
	fl_row v;
	if (fl_value_state_get(seen, &v) != 1)
		atomic_fetch_add(&n_proc_bad, 1);
	atomic_fetch_add(&n_proc_fired, 1);
	return 0;
}

static void test_processing_time_timers_fire_on_the_clock(void **state)
{
	snprintf(clock_path, sizeof(clock_path), "%s/timers-clock-%d",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	set_clock(1000);
	setenv("FLINC_FAKE_CLOCK_FILE", clock_path, 1);
	atomic_store(&n_registered, 0);
	atomic_store(&n_proc_fired, 0);
	atomic_store(&n_proc_bad, 0);
	fl_env *env = env_with(2, 1, "hashmap");
	/* Paced with no buffer timeout: each record is flushed as it goes,
	 * so the records before the last one reach the timers' operator
	 * while the last one waits. */
	assert_int_equal(fl_env_set_config(env, "execution.buffer-timeout", "0 ms"), 0);
	fl_stream *s = fl_generator(env, PRECS, 100000, tt_pgen);
	fl_process_spec spec = {.process = tt_pregister, .on_timer = tt_pfire};
	fl_discard(fl_keyed_process(fl_key_by(s, 0), &spec));
	int rc = fl_execute(env, "processing timers");
	unsetenv("FLINC_FAKE_CLOCK_FILE");
	unlink(clock_path);
	if (rc)
		fail_msg("job: %s", fl_env_error(env));
	assert_int_equal(atomic_load(&n_registered), NKEYS);
	assert_int_equal(atomic_load(&n_proc_fired), NKEYS);
	assert_int_equal(atomic_load(&n_proc_bad), 0);
	fl_env_free(env);
}

/* ----------------------------------------------------- timers refused */

int tt_map_timer(fl_ctx *ctx, const fl_row *in, fl_row *out);
int tt_plain_process(fl_ctx *ctx, const fl_row *in, fl_collector *out);

int tt_map_timer(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	*out = *in;
	return fl_ctx_register_event_timer(ctx, 5);
}

int tt_plain_process(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	fl_ctx_register_processing_timer(ctx, 5); /* unchecked: still fails the job */
	return 0;
}

static void test_timers_outside_a_keyed_process_function_are_refused(void **state)
{
	fl_env *env = env_with(1, 1, "hashmap");
	fl_discard(fl_map(fl_generator(env, 10, 0, tt_gen), tt_map_timer));
	assert_int_equal(fl_execute(env, "map timer"), FL_EJOBFAILED);
	assert_non_null(strstr(fl_env_error(env), "an event-time timer registered outside a keyed "
						  "process function"));
	fl_env_free(env);

	env = env_with(1, 1, "hashmap");
	fl_discard(fl_process(fl_key_by(fl_generator(env, 10, 0, tt_gen), 0), tt_plain_process));
	assert_int_equal(fl_execute(env, "process without on_timer"), FL_EJOBFAILED);
	assert_non_null(strstr(fl_env_error(env), "a processing-time timer registered in a keyed "
						  "process function without an on_timer function"));
	fl_env_free(env);

	/* Refused when the graph is built: a spec without its function. */
	env = env_with(1, 1, "hashmap");
	fl_process_spec spec = {.on_timer = tt_fire};
	assert_null(fl_keyed_process(fl_key_by(fl_generator(env, 10, 0, tt_gen), 0), &spec));
	assert_non_null(strstr(fl_env_error(env), "the spec has no process function"));
	fl_env_free(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_timers_dedup_delete_and_fire_in_order_hashmap),
	    cmocka_unit_test(test_timers_dedup_delete_and_fire_in_order_lmdb),
	    cmocka_unit_test(test_random_operations_match_a_model_hashmap),
	    cmocka_unit_test(test_random_operations_match_a_model_lmdb),
	    cmocka_unit_test(test_timers_rebuilt_by_key_group_after_a_restore),
	    cmocka_unit_test(test_timer_limits_are_errors_naming_them),
	    cmocka_unit_test(test_event_timers_count_windows_exactly_hashmap),
	    cmocka_unit_test(test_event_timers_count_windows_exactly_lmdb),
	    cmocka_unit_test(test_processing_time_timers_fire_on_the_clock),
	    cmocka_unit_test(test_timers_outside_a_keyed_process_function_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
