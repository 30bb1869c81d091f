/*
 * The timer queue of keyed operators (taskmanager/timers.h): deduplicated
 * by (time, key), deleted by the same pair, taken out in time order and,
 * for equal times, in key order; bounded; and equal to a model under a
 * long random sequence of operations.
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
	int key;
} mt;

static int mt_cmp(const void *a, const void *b)
{
	const mt *x = a, *y = b;
	char kx[16], ky[16];
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	snprintf(kx, sizeof(kx), "%d", x->key);
	snprintf(ky, sizeof(ky), "%d", y->key);
	size_t lx = strlen(kx), ly = strlen(ky), m = lx < ly ? lx : ly;
	int c = memcmp(kx, ky, m);
	return c ? c : (lx < ly ? -1 : lx > ly);
}

static void test_random_operations_match_a_model(void **state)
{
	enum { N = 20000, TS = 300, KEYS = 40, CAP = 5000 };
	static mt model[CAP];
	size_t nm = 0;
	tm_timerq *q;
	assert_int_equal(tm_timerq_new(CAP, &q), 0);
	srand(42);
	int64_t wm = -1;
	size_t total_fired = 0, peak = 0;
	for (int op = 0; op < N; op++) {
		int r = rand() % 10;
		int64_t ts = wm + 1 + rand() % TS;
		int key = rand() % KEYS;
		char kb[16];
		int kl = snprintf(kb, sizeof(kb), "%d", key);
		size_t found = nm;
		for (size_t i = 0; i < nm; i++)
			if (model[i].ts == ts && model[i].key == key)
				found = i;
		if (r < 6) {
			int rc = tm_timerq_add(q, ts, kb, (size_t)kl);
			assert_int_equal(rc, found < nm ? 0 : 1);
			if (found == nm)
				model[nm++] = (mt){ts, key};
		} else if (r < 8) {
			assert_int_equal(tm_timerq_delete(q, ts, kb, (size_t)kl),
					 found < nm ? 1 : 0);
			if (found < nm)
				model[found] = model[--nm];
		} else {
			/* The watermark advances: everything up to it fires, in order. */
			wm += rand() % 50;
			qsort(model, nm, sizeof(*model), mt_cmp);
			size_t fired = 0;
			int64_t got;
			char key_got[16];
			while (pop_one(q, wm, &got, key_got, sizeof(key_got)) == 1) {
				assert_true(fired < nm);
				assert_true(got == model[fired].ts);
				assert_int_equal(atoi(key_got), model[fired].key);
				fired++;
			}
			assert_true(fired == nm || model[fired].ts > wm);
			memmove(model, model + fired, (nm - fired) * sizeof(*model));
			nm -= fired;
			total_fired += fired;
		}
		assert_int_equal(tm_timerq_size(q), nm);
		if (nm > peak)
			peak = nm;
	}
	/* The sequence did exercise the queue: thousands fired, tens held at once. */
	assert_true(total_fired > 2000 && peak > 30);
	tm_timerq_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_timers_are_deduplicated_and_fire_in_time_then_key_order),
	    cmocka_unit_test(test_a_deleted_timer_never_fires_and_others_keep_their_order),
	    cmocka_unit_test(test_the_queue_is_bounded),
	    cmocka_unit_test(test_random_operations_match_a_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
