/* Unit tests of runtime/state/heapmap.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

#include "state/heapmap.h"
#include "types/keygroup.h"

static uint32_t hash_of(const void *k, size_t n)
{
	return kg_murmur3_32(k, n, 0);
}

static int put_str(st_heapmap *m, const char *k, const char *v)
{
	size_t kl = strlen(k);
	return st_heapmap_put(m, k, kl, hash_of(k, kl), kg_of_key(k, kl, 128), v, strlen(v));
}

static void assert_entry(st_heapmap *m, const void *k, size_t kl, const void *want, size_t wl)
{
	const void *v = NULL;
	size_t vl = 0;
	assert_int_equal(st_heapmap_get(m, k, kl, hash_of(k, kl), &v, &vl), 1);
	assert_int_equal(vl, wl);
	if (wl)
		assert_memory_equal(v, want, wl);
}

static void test_new_map_is_empty_and_misses(void **state)
{
	(void)state;
	st_heapmap *m;
	assert_int_equal(st_heapmap_new(&m), 0);
	assert_int_equal(st_heapmap_size(m), 0);
	const void *v;
	size_t vl;
	assert_int_equal(st_heapmap_get(m, "x", 1, hash_of("x", 1), &v, &vl), 0);
	size_t cur = 0;
	const void *k;
	size_t kl;
	int kg;
	assert_int_equal(st_heapmap_next(m, &cur, &k, &kl, &v, &vl, &kg), 0);
	assert_true(st_heapmap_memory(m) > 0);
	st_heapmap_free(m);
	st_heapmap_free(NULL);
}

static void test_put_then_get_returns_the_value(void **state)
{
	(void)state;
	st_heapmap *m;
	assert_int_equal(st_heapmap_new(&m), 0);
	assert_int_equal(put_str(m, "hello", "1"), 0);
	assert_int_equal(put_str(m, "world", "22"), 0);
	assert_entry(m, "hello", 5, "1", 1);
	assert_entry(m, "world", 5, "22", 2);
	/* a key that is a prefix of another is a different key */
	const void *v;
	size_t vl;
	assert_int_equal(st_heapmap_get(m, "hell", 4, hash_of("hell", 4), &v, &vl), 0);
	assert_int_equal(st_heapmap_size(m), 2);
	st_heapmap_free(m);
}

static void test_empty_key_and_empty_value_are_valid(void **state)
{
	(void)state;
	st_heapmap *m;
	assert_int_equal(st_heapmap_new(&m), 0);
	assert_int_equal(st_heapmap_put(m, "", 0, hash_of("", 0), 0, "", 0), 0);
	assert_entry(m, "", 0, "", 0);
	assert_int_equal(st_heapmap_put(m, NULL, 0, hash_of("", 0), 0, "v", 1), 0);
	assert_entry(m, "", 0, "v", 1);
	assert_int_equal(st_heapmap_size(m), 1);
	st_heapmap_free(m);
}

static void test_keys_with_equal_hashes_stay_distinct(void **state)
{
	(void)state;
	st_heapmap *m;
	assert_int_equal(st_heapmap_new(&m), 0);
	char k[16];
	/* every key on the same hash: the worst case of probing */
	for (int i = 0; i < 500; i++) {
		int n = snprintf(k, sizeof(k), "c%d", i);
		assert_int_equal(st_heapmap_put(m, k, (size_t)n, 7u, i % 128, &i, sizeof(i)), 0);
	}
	for (int i = 0; i < 500; i++) {
		int n = snprintf(k, sizeof(k), "c%d", i);
		const void *v;
		size_t vl;
		assert_int_equal(st_heapmap_get(m, k, (size_t)n, 7u, &v, &vl), 1);
		assert_int_equal(vl, sizeof(int));
		assert_memory_equal(v, &i, sizeof(i));
	}
	assert_int_equal(st_heapmap_size(m), 500);
	st_heapmap_free(m);
}

static void test_growth_across_many_resizes_keeps_every_entry(void **state)
{
	(void)state;
	st_heapmap *m;
	assert_int_equal(st_heapmap_new(&m), 0);
	const int n = 200000;
	char k[32];
	for (int i = 0; i < n; i++) {
		int kl = snprintf(k, sizeof(k), "key:%d", i);
		int64_t v = (int64_t)i * 3;
		assert_int_equal(st_heapmap_put(m, k, (size_t)kl, hash_of(k, (size_t)kl),
						kg_of_key(k, (size_t)kl, 128), &v, sizeof(v)),
				 0);
		assert_int_equal(st_heapmap_size(m), (size_t)i + 1);
	}
	for (int i = 0; i < n; i++) {
		int kl = snprintf(k, sizeof(k), "key:%d", i);
		int64_t v = (int64_t)i * 3;
		assert_entry(m, k, (size_t)kl, &v, sizeof(v));
	}
	const void *v;
	size_t vl;
	assert_int_equal(st_heapmap_get(m, "key:-1", 6, hash_of("key:-1", 6), &v, &vl), 0);
	st_heapmap_free(m);
}

static void test_keys_sharing_low_hash_bits_are_still_fast_and_correct(void **state)
{
	(void)state;
	/* One subtask at parallelism == max parallelism only sees hashes with
	 * the same residue mod 128. The map must not degrade on them. */
	st_heapmap *m;
	assert_int_equal(st_heapmap_new(&m), 0);
	for (uint32_t i = 0; i < 100000; i++) {
		uint32_t h = i * 128 + 5;
		assert_int_equal(st_heapmap_put(m, &i, sizeof(i), h, 5, &i, sizeof(i)), 0);
	}
	for (uint32_t i = 0; i < 100000; i++) {
		const void *v;
		size_t vl;
		assert_int_equal(st_heapmap_get(m, &i, sizeof(i), i * 128 + 5, &v, &vl), 1);
		assert_memory_equal(v, &i, sizeof(i));
	}
	st_heapmap_free(m);
}

static void test_replace_keeps_size_and_updates_value_and_key_group(void **state)
{
	(void)state;
	st_heapmap *m;
	assert_int_equal(st_heapmap_new(&m), 0);
	assert_int_equal(st_heapmap_put(m, "k", 1, hash_of("k", 1), 3, "a", 1), 0);
	assert_int_equal(
	    st_heapmap_put(m, "k", 1, hash_of("k", 1), 9, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", 32),
	    0);
	assert_entry(m, "k", 1, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", 32);
	assert_int_equal(st_heapmap_put(m, "k", 1, hash_of("k", 1), 9, "c", 1), 0);
	assert_entry(m, "k", 1, "c", 1);
	assert_int_equal(st_heapmap_size(m), 1);
	size_t cur = 0, kl, vl;
	const void *k, *v;
	int kg = -1;
	assert_int_equal(st_heapmap_next(m, &cur, &k, &kl, &v, &vl, &kg), 1);
	assert_int_equal(kg, 9);
	st_heapmap_free(m);
}

static void test_value_growing_by_a_byte_is_updated_in_place(void **state)
{
	(void)state;
	st_heapmap *m;
	assert_int_equal(st_heapmap_new(&m), 0);
	uint8_t val[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	uint32_t h = hash_of("cnt", 3);
	assert_int_equal(st_heapmap_put(m, "cnt", 3, h, 0, val, 1), 0);
	const void *p1, *p2;
	size_t vl;
	assert_int_equal(st_heapmap_get(m, "cnt", 3, h, &p1, &vl), 1);
	size_t mem = st_heapmap_memory(m);
	assert_int_equal(st_heapmap_put(m, "cnt", 3, h, 0, val, 2), 0);
	assert_int_equal(st_heapmap_get(m, "cnt", 3, h, &p2, &vl), 1);
	assert_ptr_equal(p1, p2);
	assert_int_equal(vl, 2);
	assert_int_equal(st_heapmap_memory(m), mem);
	st_heapmap_free(m);
}

static void test_putting_back_the_value_from_get_is_safe(void **state)
{
	(void)state;
	st_heapmap *m;
	assert_int_equal(st_heapmap_new(&m), 0);
	char big[1000];
	memset(big, 'z', sizeof(big));
	uint32_t h = hash_of("k", 1);
	assert_int_equal(st_heapmap_put(m, "k", 1, h, 0, big, sizeof(big)), 0);
	const void *v;
	size_t vl;
	assert_int_equal(st_heapmap_get(m, "k", 1, h, &v, &vl), 1);
	/* a small tail of its own value: would be a shrink, must not move */
	assert_int_equal(st_heapmap_put(m, "k", 1, h, 0, (const char *)v + 990, 10), 0);
	assert_entry(m, "k", 1, big, 10);
	assert_int_equal(st_heapmap_get(m, "k", 1, h, &v, &vl), 1);
	assert_int_equal(st_heapmap_put(m, "k", 1, h, 0, v, vl), 0);
	assert_entry(m, "k", 1, big, 10);
	st_heapmap_free(m);
}

static void test_iteration_sees_every_entry_exactly_once(void **state)
{
	(void)state;
	st_heapmap *m;
	assert_int_equal(st_heapmap_new(&m), 0);
	const int n = 5000;
	for (int i = 0; i < n; i++) {
		uint32_t key = (uint32_t)i * 2654435761u;
		int64_t val = -i;
		assert_int_equal(st_heapmap_put(m, &key, sizeof(key), hash_of(&key, sizeof(key)),
						i % 128, &val, sizeof(val)),
				 0);
	}
	uint8_t *seen = calloc((size_t)n, 1);
	assert_non_null(seen);
	size_t cur = 0, kl, vl, count = 0;
	const void *k, *v;
	int kg;
	while (st_heapmap_next(m, &cur, &k, &kl, &v, &vl, &kg)) {
		assert_int_equal(kl, sizeof(uint32_t));
		assert_int_equal(vl, sizeof(int64_t));
		int64_t val;
		memcpy(&val, v, sizeof(val));
		int i = (int)-val;
		assert_true(i >= 0 && i < n);
		uint32_t key;
		memcpy(&key, k, sizeof(key));
		assert_true(key == (uint32_t)i * 2654435761u);
		assert_int_equal(kg, i % 128);
		assert_int_equal(seen[i], 0);
		seen[i] = 1;
		count++;
	}
	assert_int_equal(count, n);
	/* stays at the end */
	assert_int_equal(st_heapmap_next(m, &cur, &k, &kl, &v, &vl, &kg), 0);
	free(seen);
	st_heapmap_free(m);
}

static void test_alternating_value_sizes_keep_memory_bounded(void **state)
{
	(void)state;
	st_heapmap *m;
	assert_int_equal(st_heapmap_new(&m), 0);
	static uint8_t big[4096];
	char k[16];
	uint32_t hashes[1000];
	int klens[1000];
	for (int i = 0; i < 1000; i++) {
		klens[i] = snprintf(k, sizeof(k), "w%d", i);
		hashes[i] = hash_of(k, (size_t)klens[i]);
	}
	size_t peak_after_warmup = 0, first = 0;
	for (int r = 0; r < 1000000; r++) {
		int i = r % 1000;
		snprintf(k, sizeof(k), "w%d", i);
		/* sizes cycle through tiny, small, large, medium */
		static const size_t sizes[] = {1, 9, 4096, 300, 2, 4000};
		size_t vl = sizes[(r / 1000 + i) % 6];
		assert_int_equal(
		    st_heapmap_put(m, k, (size_t)klens[i], hashes[i], i % 128, big, vl), 0);
		if (r == 12000 - 1)
			first = st_heapmap_memory(m);
		if (r >= 12000 && st_heapmap_memory(m) > peak_after_warmup)
			peak_after_warmup = st_heapmap_memory(m);
	}
	assert_int_equal(st_heapmap_size(m), 1000);
	/* no creep after a warm-up: every key holds at most its largest value
	 * plus slack, whatever the history */
	assert_true(peak_after_warmup <= first + first / 4);
	assert_true(peak_after_warmup < 1000 * (4096 + 4096 / 4 + 128) + (1 << 16));
	st_heapmap_free(m);
}

static void test_values_that_shrink_give_their_memory_back(void **state)
{
	(void)state;
	st_heapmap *m;
	assert_int_equal(st_heapmap_new(&m), 0);
	size_t empty = st_heapmap_memory(m);
	uint8_t *big = calloc(1, 1 << 20);
	assert_non_null(big);
	uint32_t h = hash_of("k", 1);
	assert_int_equal(st_heapmap_put(m, "k", 1, h, 0, big, 1 << 20), 0);
	assert_true(st_heapmap_memory(m) > empty + (1 << 20));
	assert_int_equal(st_heapmap_put(m, "k", 1, h, 0, big, 8), 0);
	assert_true(st_heapmap_memory(m) < empty + 256);
	free(big);
	st_heapmap_free(m);
}

static void test_oversize_key_or_value_is_erange_and_leaves_map_unchanged(void **state)
{
	(void)state;
	st_heapmap *m;
	assert_int_equal(st_heapmap_new(&m), 0);
	size_t over = 16u * 1024u * 1024u + 1;
	uint8_t *big = calloc(1, over);
	assert_non_null(big);
	assert_int_equal(st_heapmap_put(m, big, over, 1, 0, "v", 1), FL_ERANGE);
	assert_int_equal(st_heapmap_put(m, "k", 1, hash_of("k", 1), 0, big, over), FL_ERANGE);
	assert_int_equal(st_heapmap_size(m), 0);
	assert_int_equal(put_str(m, "k", "old"), 0);
	assert_int_equal(st_heapmap_put(m, "k", 1, hash_of("k", 1), 0, big, over), FL_ERANGE);
	assert_entry(m, "k", 1, "old", 3);
	/* exactly 16 MiB is allowed */
	assert_int_equal(st_heapmap_put(m, "k", 1, hash_of("k", 1), 0, big, over - 1), 0);
	assert_entry(m, "k", 1, big, over - 1);
	free(big);
	st_heapmap_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_map_is_empty_and_misses),
	    cmocka_unit_test(test_put_then_get_returns_the_value),
	    cmocka_unit_test(test_empty_key_and_empty_value_are_valid),
	    cmocka_unit_test(test_keys_with_equal_hashes_stay_distinct),
	    cmocka_unit_test(test_growth_across_many_resizes_keeps_every_entry),
	    cmocka_unit_test(test_keys_sharing_low_hash_bits_are_still_fast_and_correct),
	    cmocka_unit_test(test_replace_keeps_size_and_updates_value_and_key_group),
	    cmocka_unit_test(test_value_growing_by_a_byte_is_updated_in_place),
	    cmocka_unit_test(test_putting_back_the_value_from_get_is_safe),
	    cmocka_unit_test(test_iteration_sees_every_entry_exactly_once),
	    cmocka_unit_test(test_alternating_value_sizes_keep_memory_bounded),
	    cmocka_unit_test(test_values_that_shrink_give_their_memory_back),
	    cmocka_unit_test(test_oversize_key_or_value_is_erange_and_leaves_map_unchanged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
