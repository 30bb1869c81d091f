/*
 * The end timers of windows that imply them (taskmanager/window_ends.h):
 * taken out in time order, equal times in key-byte order, keys pushed
 * twice out twice, entries joining a bucket being taken out, the look
 * ahead, and equal to a model under a long random sequence (few distinct
 * times, as window ends are, and keys that share prefixes or hold zeros).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "taskmanager/window_ends.h"
#include <flinc/flinc.h>

static void expect_pop(tm_ends *q, int64_t upto, int64_t time, const char *key, uint32_t aux)
{
	int64_t t;
	const void *k;
	size_t kl;
	uint32_t a;
	assert_int_equal(tm_ends_pop(q, upto, &t, &k, &kl, &a), 1);
	assert_true(t == time);
	assert_int_equal(kl, strlen(key));
	assert_memory_equal(k, key, kl);
	assert_int_equal(a, aux);
}

static int add(tm_ends *q, int64_t time, const char *key, uint32_t aux)
{
	return tm_ends_add(q, time, key, strlen(key), aux);
}

static void test_ends_come_out_in_time_then_key_order(void **state)
{
	tm_ends *q;
	assert_int_equal(tm_ends_new(&q), 0);
	assert_true(tm_ends_peek(q) == INT64_MAX);
	assert_int_equal(add(q, 999, "b", 1), 0);
	assert_int_equal(add(q, 1999, "a", 2), 0);
	assert_int_equal(add(q, 999, "a", 3), 0);
	assert_int_equal(add(q, -1, "z", 4), 0);   /* an earlier time: inserted in front */
	assert_int_equal(add(q, 999, "ab", 5), 0); /* a longer key after its prefix */
	assert_int_equal(add(q, 999, "", 6), 0);   /* the empty key first */
	assert_int_equal(add(q, 1499, "c", 7), 0); /* between two times */
	assert_int_equal(add(q, 999, "b", 8), 0);  /* pushed twice: out twice */
	assert_int_equal(tm_ends_size(q), 8);
	assert_true(tm_ends_peek(q) == -1);
	int64_t t;
	const void *k;
	size_t kl;
	uint32_t a;
	assert_int_equal(tm_ends_pop(q, -2, &t, &k, &kl, &a), 0);
	expect_pop(q, 999, -1, "z", 4);
	expect_pop(q, 999, 999, "", 6);
	/* The look ahead: the next entries of the due bucket, in order. */
	assert_int_equal(tm_ends_ahead(q, 0, &k, &kl, &a), 1);
	assert_int_equal(a, 3);
	assert_int_equal(tm_ends_ahead(q, 3, &k, &kl, &a), 1);
	assert_int_equal(kl, 1);
	assert_memory_equal(k, "b", 1);
	assert_int_equal(tm_ends_ahead(q, 4, &k, &kl, &a), 0); /* past its bucket */
	expect_pop(q, 999, 999, "a", 3);
	/* A key joining the bucket being taken out takes its place. */
	assert_int_equal(add(q, 999, "aa", 9), 0);
	expect_pop(q, 999, 999, "aa", 9);
	expect_pop(q, 999, 999, "ab", 5);
	/* Equal entries come out in either order. */
	uint32_t both = 0;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(tm_ends_pop(q, 999, &t, &k, &kl, &a), 1);
		assert_true(t == 999 && kl == 1 && memcmp(k, "b", 1) == 0);
		both |= 1u << a;
	}
	assert_int_equal(both, (1u << 1) | (1u << 8));
	assert_int_equal(tm_ends_pop(q, 999, &t, &k, &kl, &a), 0);
	assert_true(tm_ends_peek(q) == 1499);
	assert_int_equal(tm_ends_size(q), 2);
	tm_ends_clear(q);
	assert_int_equal(tm_ends_size(q), 0);
	assert_true(tm_ends_peek(q) == INT64_MAX);
	assert_int_equal(tm_ends_pop(q, INT64_MAX, &t, &k, &kl, &a), 0);
	/* Reused after the clear. */
	assert_int_equal(add(q, 5, "x", 10), 0);
	expect_pop(q, 5, 5, "x", 10);
	char big[70000];
	memset(big, 'k', sizeof(big));
	assert_int_equal(tm_ends_add(q, 1, big, sizeof(big), 0), FL_ERANGE);
	assert_int_equal(tm_ends_size(q), 0);
	tm_ends_free(q);
}

/* The model: every pending (time, key, aux), sorted before each drain. */
typedef struct me {
	int64_t time;
	uint8_t key[24];
	size_t klen;
	uint32_t aux;
} me;

static int me_cmp(const void *a, const void *b)
{
	const me *x = a, *y = b;
	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	size_t m = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(x->key, y->key, m);
	return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

/* Key k in one of three forms: decimal text, text behind a shared 12-byte
 * prefix (the queue keeps 8 bytes inline), 1 to 4 bytes that may be zero
 * (a shorter key is a prefix of a longer one). */
static size_t key_bytes(int form, int k, uint8_t *out)
{
	if (form == 0)
		return (size_t)snprintf((char *)out, 24, "%d", k);
	if (form == 1)
		return (size_t)snprintf((char *)out, 24, "common-pref-%d", k);
	size_t n = 1 + (size_t)(k % 4);
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(i == 0 ? k / 4 % 3 : (k >> i) & 1);
	return n;
}

static void random_against_a_model(int form)
{
	enum { OPS = 40000, CAP = 40000 };
	static me model[CAP];
	size_t nm = 0, popped = 0, peak = 0;
	tm_ends *q;
	assert_int_equal(tm_ends_new(&q), 0);
	srand(11 + form);
	int64_t wm = 0;
	for (int op = 0; op < OPS; op++) {
		if (rand() % 8) {
			/* Window ends: multiples of 100 ahead of the watermark,
			 * a few at once, sometimes one far ahead. */
			me m = {.time = (wm / 100 + 1 + rand() % 6) * 100 - 1,
				.aux = (uint32_t)op};
			if (rand() % 50 == 0)
				m.time += 100000;
			m.klen = key_bytes(form, rand() % 300, m.key);
			assert_true(nm < CAP);
			assert_int_equal(tm_ends_add(q, m.time, m.key, m.klen, m.aux), 0);
			model[nm++] = m;
		} else {
			wm += rand() % 150;
			qsort(model, nm, sizeof(*model), me_cmp);
			size_t i = 0;
			int64_t t;
			const void *k;
			size_t kl;
			uint32_t a;
			while (tm_ends_pop(q, wm, &t, &k, &kl, &a) == 1) {
				assert_true(i < nm);
				assert_true(t == model[i].time);
				assert_int_equal(kl, model[i].klen);
				assert_memory_equal(k, model[i].key, kl);
				/* Equal keys of equal times may come out in either
				 * order: their aux must be one of theirs. */
				if (a != model[i].aux) {
					size_t j = i + 1;
					while (j < nm && me_cmp(&model[j], &model[i]) == 0 &&
					       model[j].aux != a)
						j++;
					assert_true(j < nm && model[j].aux == a);
					model[j].aux = model[i].aux;
				}
				const void *ak;
				size_t akl;
				uint32_t aa;
				if (i + 2 < nm && tm_ends_ahead(q, 1, &ak, &akl, &aa) == 1 &&
				    model[i + 2].time == t) {
					assert_int_equal(akl, model[i + 2].klen);
					assert_memory_equal(ak, model[i + 2].key, akl);
				}
				i++;
			}
			assert_true(i == nm || model[i].time > wm);
			memmove(model, model + i, (nm - i) * sizeof(*model));
			nm -= i;
			popped += i;
		}
		assert_int_equal(tm_ends_size(q), nm);
		int64_t min = INT64_MAX;
		for (size_t i = 0; i < nm; i++)
			min = model[i].time < min ? model[i].time : min;
		assert_true(tm_ends_peek(q) == min);
		peak = nm > peak ? nm : peak;
	}
	/* It did exercise the queue: thousands out, hundreds pending at once. */
	assert_true(popped > 10000 && peak > 200);
	tm_ends_free(q);
}

static void test_random_operations_match_a_model(void **state)
{
	random_against_a_model(0);
}

static void test_keys_with_a_common_prefix_match_a_model(void **state)
{
	random_against_a_model(1);
}

static void test_short_keys_with_zero_bytes_match_a_model(void **state)
{
	random_against_a_model(2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ends_come_out_in_time_then_key_order),
	    cmocka_unit_test(test_random_operations_match_a_model),
	    cmocka_unit_test(test_keys_with_a_common_prefix_match_a_model),
	    cmocka_unit_test(test_short_keys_with_zero_bytes_match_a_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
