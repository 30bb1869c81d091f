/*
 * The timer queue of keyed operators (taskmanager/timers.h): deduplicated
 * by (time, key), deleted by the same pair, taken out in time order and,
 * for equal times, in key order; bounded; and equal to a model under a
 * long random sequence of operations. The unchecked queue (no set of its
 * own): equal timers kept, deletion refused, tm_timerq_retain's filter and
 * deduplication.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "taskmanager/timers.h"
#include <flinc/flinc.h>

static int pop_one(tm_timerq *q, int64_t upto, int64_t *ts, char *key, size_t cap)
{
	const void *k;
	size_t kl;
	int rc = tm_timerq_pop(q, upto, ts, &k, &kl);
	if (rc == 1) {
		assert_true(kl < cap);
		memcpy(key, k, kl);
		key[kl] = '\0';
	}
	return rc;
}

static void test_timers_are_deduplicated_and_fire_in_time_then_key_order(void **state)
{
	tm_timerq *q;
	assert_int_equal(tm_timerq_new(100, &q), 0);
	assert_true(tm_timerq_peek(q) == INT64_MAX);
	assert_int_equal(tm_timerq_add(q, 30, "b", 1), 1);
	assert_int_equal(tm_timerq_add(q, 10, "z", 1), 1);
	assert_int_equal(tm_timerq_add(q, 30, "a", 1), 1);
	assert_int_equal(tm_timerq_add(q, 30, "a", 1), 0); /* the same timer */
	assert_int_equal(tm_timerq_add(q, 20, "a", 1), 1); /* another time */
	assert_int_equal(tm_timerq_add(q, -5, "", 0), 1);  /* an empty key */
	assert_int_equal(tm_timerq_size(q), 5);
	assert_true(tm_timerq_peek(q) == -5);
	int64_t ts;
	char key[8];
	assert_int_equal(pop_one(q, 15, &ts, key, sizeof(key)), 1);
	assert_true(ts == -5 && strcmp(key, "") == 0);
	assert_int_equal(pop_one(q, 15, &ts, key, sizeof(key)), 1);
	assert_true(ts == 10 && strcmp(key, "z") == 0);
	assert_int_equal(pop_one(q, 15, &ts, key, sizeof(key)), 0); /* 20 is later */
	const char *want[] = {"a", "a", "b"};
	const int64_t want_ts[] = {20, 30, 30};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pop_one(q, INT64_MAX, &ts, key, sizeof(key)), 1);
		assert_true(ts == want_ts[i]);
		assert_string_equal(key, want[i]);
	}
	assert_int_equal(tm_timerq_size(q), 0);
	/* Fired, it can be registered again. */
	assert_int_equal(tm_timerq_add(q, 30, "a", 1), 1);
	tm_timerq_free(q);
}

static void test_a_deleted_timer_never_fires_and_others_keep_their_order(void **state)
{
	tm_timerq *q;
	assert_int_equal(tm_timerq_new(100, &q), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(tm_timerq_add(q, i * 10, "k", 1), 1);
	assert_int_equal(tm_timerq_delete(q, 0, "k", 1), 1); /* the head */
	assert_int_equal(tm_timerq_delete(q, 50, "k", 1), 1);
	assert_int_equal(tm_timerq_delete(q, 90, "k", 1), 1); /* the last */
	assert_int_equal(tm_timerq_delete(q, 50, "k", 1), 0);
	assert_int_equal(tm_timerq_delete(q, 40, "j", 1), 0);
	const int64_t want[] = {10, 20, 30, 40, 60, 70, 80};
	int64_t ts;
	char key[4];
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(pop_one(q, INT64_MAX, &ts, key, sizeof(key)), 1);
		assert_true(ts == want[i]);
	}
	assert_int_equal(pop_one(q, INT64_MAX, &ts, key, sizeof(key)), 0);
	tm_timerq_free(q);
}

static void test_the_queue_is_bounded(void **state)
{
	tm_timerq *q;
	assert_int_equal(tm_timerq_new(0, &q), FL_EINVAL);
	assert_int_equal(tm_timerq_new(3, &q), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(tm_timerq_add(q, i, "k", 1), 1);
	assert_int_equal(tm_timerq_add(q, 9, "k", 1), FL_ERANGE);
	assert_int_equal(tm_timerq_add(q, 1, "k", 1), 0); /* a duplicate still is one */
	assert_int_equal(tm_timerq_delete(q, 1, "k", 1), 1);
	assert_int_equal(tm_timerq_add(q, 9, "k", 1), 1);
	tm_timerq_free(q); /* frees the timers it holds */
}

/* The model: a flat array of live (ts, key) pairs. */
typedef struct mt {
	int64_t ts;
	uint8_t key[32];
	size_t klen;
} mt;

static int mt_cmp(const void *a, const void *b)
{
	const mt *x = a, *y = b;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	size_t m = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(x->key, y->key, m);
	return c ? c : (x->klen < y->klen ? -1 : x->klen > y->klen);
}

/* Key k's bytes in one of three forms: short decimal text; text behind a
 * 20-byte prefix they all share (the queue keeps 8 bytes inline: order
 * then needs the whole keys); 1 to 4 bytes that may be zero, where a
 * shorter key is a prefix of a longer one (zero padding must not tie). */
static size_t key_bytes(int form, int k, uint8_t *out)
{
	if (form == 0)
		return (size_t)snprintf((char *)out, 32, "%d", k);
	if (form == 1)
		return (size_t)snprintf((char *)out, 32, "a-common-prefix-key-%d", k);
	size_t n = 1 + (size_t)(k % 4);
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(i == 0 ? k / 4 % 3 : (k >> i) & 1);
	return n;
}

static void random_operations(int form)
{
	enum { N = 20000, TS = 300, KEYS = 40, CAP = 5000 };
	static mt model[CAP];
	size_t nm = 0;
	tm_timerq *q;
	assert_int_equal(tm_timerq_new(CAP, &q), 0);
	srand(42 + form);
	int64_t wm = -1;
	size_t total_fired = 0, peak = 0;
	for (int op = 0; op < N; op++) {
		int r = rand() % 10;
		mt m = {.ts = wm + 1 + rand() % TS};
		m.klen = key_bytes(form, rand() % KEYS, m.key);
		size_t found = nm;
		for (size_t i = 0; i < nm; i++)
			if (mt_cmp(&model[i], &m) == 0)
				found = i;
		if (r < 6) {
			int rc = tm_timerq_add(q, m.ts, m.key, m.klen);
			assert_int_equal(rc, found < nm ? 0 : 1);
			if (found == nm)
				model[nm++] = m;
		} else if (r < 8) {
			assert_int_equal(tm_timerq_delete(q, m.ts, m.key, m.klen),
					 found < nm ? 1 : 0);
			if (found < nm)
				model[found] = model[--nm];
		} else {
			/* The watermark advances: everything up to it fires, in order. */
			wm += rand() % 50;
			qsort(model, nm, sizeof(*model), mt_cmp);
			size_t fired = 0;
			int64_t got;
			const void *k;
			size_t kl;
			while (tm_timerq_pop(q, wm, &got, &k, &kl) == 1) {
				assert_true(fired < nm);
				assert_true(got == model[fired].ts);
				assert_int_equal(kl, model[fired].klen);
				assert_memory_equal(k, model[fired].key, kl);
				fired++;
			}
			assert_true(fired == nm || model[fired].ts > wm);
			memmove(model, model + fired, (nm - fired) * sizeof(*model));
			nm -= fired;
			total_fired += fired;
		}
		assert_int_equal(tm_timerq_size(q), nm);
		/* The earliest live timer, whatever was deleted before it. */
		int64_t min = INT64_MAX;
		for (size_t i = 0; i < nm; i++)
			if (model[i].ts < min)
				min = model[i].ts;
		assert_true(tm_timerq_peek(q) == min);
		if (nm > peak)
			peak = nm;
	}
	/* The sequence did exercise the queue: thousands fired, tens held at once. */
	assert_true(total_fired > 2000 && peak > 30);
	tm_timerq_free(q);
}

static void test_random_operations_match_a_model(void **state)
{
	random_operations(0);
}

static void test_long_keys_with_a_common_prefix_match_a_model(void **state)
{
	random_operations(1);
}

static void test_short_keys_with_zero_bytes_match_a_model(void **state)
{
	random_operations(2);
}

/* Deleted timers stay in the heap until they reach its top or the heap is
 * full: a queue at its bound with most timers deleted still takes new
 * ones, and fires the live ones in order. */
static void test_deleted_timers_make_room_at_the_bound(void **state)
{
	tm_timerq *q;
	assert_int_equal(tm_timerq_new(64, &q), 0);
	for (int i = 0; i < 64; i++)
		assert_int_equal(tm_timerq_add(q, 1000 - i, &i, sizeof(i)), 1);
	for (int i = 0; i < 60; i++) /* all but the 4 latest times */
		assert_int_equal(tm_timerq_delete(q, 1000 - i - 4, (int[]){i + 4}, sizeof(int)), 1);
	assert_int_equal(tm_timerq_size(q), 4);
	assert_true(tm_timerq_peek(q) == 997);
	for (int i = 0; i < 60; i++)
		assert_int_equal(tm_timerq_add(q, 2000 + i, &i, sizeof(i)), 1);
	assert_int_equal(tm_timerq_add(q, 3000, "x", 1), FL_ERANGE);
	int64_t ts, prev = INT64_MIN;
	const void *k;
	size_t kl, n = 0;
	while (tm_timerq_pop(q, INT64_MAX, &ts, &k, &kl) == 1) {
		assert_true(ts > prev);
		prev = ts;
		n++;
	}
	assert_int_equal(n, 64);
	tm_timerq_free(q);
}

/* Keeps timers whose key's first byte is not 'x'; fails at key "stop". */
static int keep_not_x(void *arg, int64_t ts, const void *key, size_t klen)
{
	(*(int *)arg)++;
	if (klen == 4 && memcmp(key, "stop", 4) == 0)
		return FL_EIO;
	return klen == 0 || *(const char *)key != 'x';
}

static void test_an_unchecked_queue_keeps_equal_timers_and_retain_drops_and_dedups(void **state)
{
	tm_timerq *q;
	assert_int_equal(tm_timerq_new_unchecked(&q), 0);
	const char *keys[] = {"b", "xa", "a", "b", "c", "xb", "a", "b"};
	const int64_t ts[] = {5, 1, 5, 5, 2, 9, 5, 7};
	for (int i = 0; i < 8; i++)
		assert_int_equal(tm_timerq_add(q, ts[i], keys[i], strlen(keys[i])), 1);
	assert_int_equal(tm_timerq_size(q), 8); /* (5, "b") twice, (5, "a") twice */
	assert_int_equal(tm_timerq_delete(q, 5, "b", 1), FL_EINVAL);
	int calls = 0;
	assert_int_equal(tm_timerq_retain(q, keep_not_x, &calls), 0);
	assert_int_equal(calls, 8);
	assert_int_equal(tm_timerq_size(q), 4); /* xa, xb dropped; one (5, a), one (5, b) */
	/* Retained in order, and new ones still go in their place. */
	assert_int_equal(tm_timerq_add(q, 3, "d", 1), 1);
	const struct {
		int64_t ts;
		const char *key;
	} want[] = {{2, "c"}, {3, "d"}, {5, "a"}, {5, "b"}, {7, "b"}};
	int64_t t;
	char k[16];
	for (int i = 0; i < 5; i++) {
		assert_int_equal(pop_one(q, INT64_MAX, &t, k, sizeof(k)), 1);
		assert_true(t == want[i].ts);
		assert_string_equal(k, want[i].key);
	}
	assert_int_equal(pop_one(q, INT64_MAX, &t, k, sizeof(k)), 0);
	/* An error stops the walk and keeps what it did not see. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(tm_timerq_add(q, i, i == 1 ? "stop" : "x", i == 1 ? 4 : 1), 1);
	calls = 0;
	assert_int_equal(tm_timerq_retain(q, keep_not_x, &calls), FL_EIO);
	assert_true(tm_timerq_size(q) >= 1 && tm_timerq_size(q) <= 4);
	assert_true(tm_timerq_peek(q) <= 1);
	tm_timerq_clear(q);
	assert_int_equal(tm_timerq_size(q), 0);
	assert_true(tm_timerq_peek(q) == INT64_MAX);
	tm_timerq_free(q);
	/* A checked queue has no retain. */
	assert_int_equal(tm_timerq_new(4, &q), 0);
	assert_int_equal(tm_timerq_retain(q, keep_not_x, &calls), FL_EINVAL);
	tm_timerq_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_timers_are_deduplicated_and_fire_in_time_then_key_order),
	    cmocka_unit_test(test_a_deleted_timer_never_fires_and_others_keep_their_order),
	    cmocka_unit_test(test_the_queue_is_bounded),
	    cmocka_unit_test(test_random_operations_match_a_model),
	    cmocka_unit_test(test_long_keys_with_a_common_prefix_match_a_model),
	    cmocka_unit_test(test_short_keys_with_zero_bytes_match_a_model),
	    cmocka_unit_test(test_deleted_timers_make_room_at_the_bound),
	    cmocka_unit_test(test_an_unchecked_queue_keeps_equal_timers_and_retain_drops_and_dedups),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
