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

/* As assert_entry, with the hash given. */
static void assert_entry_h(st_heapmap *m, const void *k, size_t kl, uint32_t h, const void *want,
			   size_t wl)
{
	const void *v = NULL;
	size_t vl = 0;
	assert_int_equal(st_heapmap_get(m, k, kl, h, &v, &vl), 1);
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

/* ------------------------------------------- inline and out-of-line entries */

#define INL ST_HEAPMAP_INLINE_BYTES

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static void test_value_growing_past_the_inline_area_and_shrinking_back(void **state)
{
	(void)state;
	st_heapmap *m;
	assert_int_equal(st_heapmap_new(&m), 0);
	size_t empty = st_heapmap_memory(m);
	uint8_t v[4 * INL];
	fill(v, sizeof(v), 3);
	uint32_t h = hash_of("key", 3);
	/* growing within the slot: in place, no allocation */
	assert_int_equal(st_heapmap_put(m, "key", 3, h, 1, v, 5), 0);
	const void *p1, *p2;
	size_t vl;
	assert_int_equal(st_heapmap_get(m, "key", 3, h, &p1, &vl), 1);
	assert_int_equal(st_heapmap_put(m, "key", 3, h, 1, v, INL - 3), 0);
	assert_int_equal(st_heapmap_get(m, "key", 3, h, &p2, &vl), 1);
	assert_ptr_equal(p1, p2);
	assert_entry(m, "key", 3, v, INL - 3);
	assert_int_equal(st_heapmap_memory(m), empty);
	/* one byte more leaves the slot */
	assert_int_equal(st_heapmap_put(m, "key", 3, h, 2, v, INL - 2), 0);
	assert_entry(m, "key", 3, v, INL - 2);
	assert_true(st_heapmap_memory(m) > empty + INL - 2);
	assert_int_equal(st_heapmap_put(m, "key", 3, h, 2, v, sizeof(v)), 0);
	assert_entry(m, "key", 3, v, sizeof(v));
	/* back to fitting: back in the slot, the allocation given back */
	assert_int_equal(st_heapmap_put(m, "key", 3, h, 3, v + 1, INL - 3), 0);
	assert_entry(m, "key", 3, v + 1, INL - 3);
	assert_int_equal(st_heapmap_memory(m), empty);
	/* and out again, then back with a tail of its own out-of-line value */
	assert_int_equal(st_heapmap_put(m, "key", 3, h, 3, v, sizeof(v)), 0);
	assert_int_equal(st_heapmap_get(m, "key", 3, h, &p1, &vl), 1);
	assert_int_equal(st_heapmap_put(m, "key", 3, h, 4, (const uint8_t *)p1 + 100, 20), 0);
	assert_entry(m, "key", 3, v + 100, 20);
	assert_int_equal(st_heapmap_memory(m), empty);
	/* an inline value put back from its own bytes, shifted */
	assert_int_equal(st_heapmap_get(m, "key", 3, h, &p1, &vl), 1);
	assert_int_equal(st_heapmap_put(m, "key", 3, h, 4, (const uint8_t *)p1 + 2, 18), 0);
	assert_entry(m, "key", 3, v + 102, 18);
	assert_int_equal(st_heapmap_size(m), 1);
	size_t cur = 0, kl;
	const void *k, *pv;
	int kg;
	assert_int_equal(st_heapmap_next(m, &cur, &k, &kl, &pv, &vl, &kg), 1);
	assert_int_equal(kg, 4);
	st_heapmap_free(m);
}

static void test_keys_at_the_inline_limit(void **state)
{
	(void)state;
	st_heapmap *m;
	assert_int_equal(st_heapmap_new(&m), 0);
	size_t empty = st_heapmap_memory(m);
	uint8_t k[INL + 2];
	fill(k, sizeof(k), 11);
	/* all on one hash so that the keys are told apart by comparison */
	const uint32_t h = 42;
	/* exactly the limit with an empty value: in the slot */
	assert_int_equal(st_heapmap_put(m, k, INL, h, 0, "", 0), 0);
	assert_int_equal(st_heapmap_memory(m), empty);
	/* one byte of value, or one byte more of key: out of line */
	assert_int_equal(st_heapmap_put(m, k, INL + 1, h, 1, "", 0), 0);
	assert_true(st_heapmap_memory(m) > empty);
	assert_int_equal(st_heapmap_put(m, k, INL - 1, h, 2, "x", 1), 0);
	assert_int_equal(st_heapmap_put(m, k, INL + 2, h, 3, "yz", 2), 0);
	assert_int_equal(st_heapmap_size(m), 4);
	assert_entry_h(m, k, INL, h, "", 0);
	assert_entry_h(m, k, INL + 1, h, "", 0);
	assert_entry_h(m, k, INL - 1, h, "x", 1);
	assert_entry_h(m, k, INL + 2, h, "yz", 2);
	/* same length, last byte differs: a different key, in or out of line */
	const void *v;
	size_t vl;
	k[INL - 1] ^= 1;
	assert_int_equal(st_heapmap_get(m, k, INL, h, &v, &vl), 0);
	k[INL - 1] ^= 1;
	k[INL] ^= 1;
	assert_int_equal(st_heapmap_get(m, k, INL + 1, h, &v, &vl), 0);
	k[INL] ^= 1;
	/* the limit key gains a value byte: leaves the slot, still found */
	assert_int_equal(st_heapmap_put(m, k, INL, h, 0, "v", 1), 0);
	assert_entry_h(m, k, INL, h, "v", 1);
	assert_int_equal(st_heapmap_put(m, k, INL, h, 0, "", 0), 0);
	assert_entry_h(m, k, INL, h, "", 0);
	assert_int_equal(st_heapmap_size(m), 4);
	st_heapmap_free(m);
}

/* Value of key i: out of line for every third key, else in the slot. */
static size_t mixed_vlen(int i)
{
	return i % 3 == 0 ? 100 + (size_t)(i % 50) : (size_t)(i % 40);
}

static void put_mixed(st_heapmap *m, int i, uint8_t seed)
{
	char k[16];
	uint8_t v[160];
	int kl = snprintf(k, sizeof(k), "m%d", i);
	fill(v, mixed_vlen(i), (uint8_t)(i + seed));
	assert_int_equal(
	    st_heapmap_put(m, k, (size_t)kl, hash_of(k, (size_t)kl), i % 128, v, mixed_vlen(i)), 0);
}

static void check_mixed(st_heapmap *m, int i, uint8_t seed)
{
	char k[16];
	uint8_t v[160];
	int kl = snprintf(k, sizeof(k), "m%d", i);
	fill(v, mixed_vlen(i), (uint8_t)(i + seed));
	assert_entry(m, k, (size_t)kl, v, mixed_vlen(i));
}

static void test_growth_moves_inline_and_out_of_line_entries(void **state)
{
	(void)state;
	st_heapmap *m;
	assert_int_equal(st_heapmap_new(&m), 0);
	const int n = 20000;
	for (int i = 0; i < n; i++) {
		put_mixed(m, i, 0);
		/* the early keys keep their values through every doubling */
		if ((i & (i - 1)) == 0)
			for (int j = 0; j <= i; j++)
				check_mixed(m, j, 0);
	}
	for (int i = 0; i < n; i++)
		check_mixed(m, i, 0);
	assert_int_equal(st_heapmap_size(m), (size_t)n);
	/* the table is counted: at least one line per slot for n entries */
	assert_true(st_heapmap_memory(m) >= (size_t)n * 4 / 3 * 64);
	st_heapmap_free(m);
}

static void test_iteration_after_mixed_entries_and_transitions(void **state)
{
	(void)state;
	st_heapmap *m;
	assert_int_equal(st_heapmap_new(&m), 0);
	const int n = 3000;
	for (int i = 0; i < n; i++)
		put_mixed(m, i, 0);
	/* move some out of line and some back in */
	uint8_t big[200];
	fill(big, sizeof(big), 9);
	for (int i = 0; i < n; i += 5) {
		char k[16];
		int kl = snprintf(k, sizeof(k), "m%d", i);
		assert_int_equal(st_heapmap_put(m, k, (size_t)kl, hash_of(k, (size_t)kl), i % 128,
						big, sizeof(big)),
				 0);
		assert_int_equal(st_heapmap_put(m, k, (size_t)kl, hash_of(k, (size_t)kl), i % 128,
						big, i % 2 ? 7 : sizeof(big)),
				 0);
	}
	uint8_t *seen = calloc((size_t)n, 1);
	assert_non_null(seen);
	size_t cur = 0, kl, vl, count = 0;
	const void *k, *v;
	int kg;
	while (st_heapmap_next(m, &cur, &k, &kl, &v, &vl, &kg)) {
		char ks[16];
		assert_true(kl > 1 && kl < sizeof(ks));
		memcpy(ks, k, kl);
		ks[kl] = 0;
		int i = atoi(ks + 1);
		assert_true(ks[0] == 'm' && i >= 0 && i < n);
		assert_int_equal(seen[i], 0);
		seen[i] = 1;
		count++;
		assert_int_equal(kg, i % 128);
		uint8_t want[200];
		size_t wl = mixed_vlen(i);
		fill(want, wl, (uint8_t)i);
		if (i % 5 == 0) {
			wl = i % 2 ? 7 : sizeof(big);
			memcpy(want, big, wl);
		}
		assert_int_equal(vl, wl);
		assert_memory_equal(v, want, wl);
	}
	assert_int_equal(count, (size_t)n);
	free(seen);
	st_heapmap_free(m);
}

/* find, then put_at with value v of length vl; checks hit and old value. */
static void find_put(st_heapmap *m, const char *key, int want_hit, size_t old_len, const uint8_t *v,
		     size_t vl)
{
	size_t kl = strlen(key), pos, ol = 0;
	uint32_t h = hash_of(key, kl);
	const void *old = NULL;
	assert_int_equal(st_heapmap_find(m, key, kl, h, &pos, &old, &ol), want_hit);
	if (want_hit)
		assert_int_equal(ol, old_len);
	assert_int_equal(st_heapmap_put_at(m, pos, key, kl, h, 5, v, vl), 0);
	assert_entry(m, key, kl, v, vl);
}

static void test_find_put_at_on_inline_and_out_of_line_entries(void **state)
{
	(void)state;
	st_heapmap *m;
	assert_int_equal(st_heapmap_new(&m), 0);
	uint8_t v[300];
	fill(v, sizeof(v), 1);
	find_put(m, "small", 0, 0, v, 10);	  /* insert in the slot */
	find_put(m, "large", 0, 0, v, 300);	  /* insert out of line */
	find_put(m, "small", 1, 10, v + 1, 12);	  /* in -> in */
	find_put(m, "small", 1, 12, v, 200);	  /* in -> out */
	find_put(m, "large", 1, 300, v + 2, 250); /* out -> out */
	find_put(m, "large", 1, 250, v + 3, 4);	  /* out -> in */
	find_put(m, "small", 1, 200, v, 0);	  /* out -> in, empty */
	/* inserts that grow the table, of both kinds, through find + put_at */
	char k[16];
	for (int i = 0; i < 100; i++) {
		snprintf(k, sizeof(k), "g%d", i);
		find_put(m, k, 0, 0, v + i, i % 2 ? 8 : 120);
	}
	for (int i = 0; i < 100; i++) {
		snprintf(k, sizeof(k), "g%d", i);
		assert_entry(m, k, strlen(k), v + i, i % 2 ? 8 : 120);
	}
	assert_entry(m, "small", 5, v, 0);
	assert_entry(m, "large", 5, v + 3, 4);
	/* put_at of the value find returned, for both kinds */
	const void *old;
	size_t ol, pos;
	uint32_t h = hash_of("g1", 2);
	assert_int_equal(st_heapmap_find(m, "g1", 2, h, &pos, &old, &ol), 1);
	assert_int_equal(st_heapmap_put_at(m, pos, "g1", 2, h, 5, old, ol), 0);
	assert_entry(m, "g1", 2, v + 1, 8);
	h = hash_of("g2", 2);
	assert_int_equal(st_heapmap_find(m, "g2", 2, h, &pos, &old, &ol), 1);
	assert_int_equal(st_heapmap_put_at(m, pos, "g2", 2, h, 5, (const uint8_t *)old + 1, 119),
			 0);
	assert_entry(m, "g2", 2, v + 3, 119);
	assert_int_equal(st_heapmap_size(m), 102);
	st_heapmap_free(m);
}

static void test_value_at_writes_in_place_for_inline_and_outline_values(void **state)
{
	(void)state;
	st_heapmap *m;
	assert_int_equal(st_heapmap_new(&m), 0);
	uint8_t big[200];
	memset(big, 'b', sizeof(big));
	assert_int_equal(st_heapmap_put(m, "in", 2, hash_of("in", 2), 1, "abcd", 4), 0);
	assert_int_equal(st_heapmap_put(m, "out", 3, hash_of("out", 3), 1, big, sizeof(big)), 0);
	const char *keys[] = {"in", "out"};
	for (int i = 0; i < 2; i++) {
		size_t kl = strlen(keys[i]), pos, vl, wl;
		const void *v;
		uint32_t h = hash_of(keys[i], kl);
		assert_int_equal(st_heapmap_find(m, keys[i], kl, h, &pos, &v, &vl), 1);
		uint8_t *w = st_heapmap_value_at(m, pos, &wl);
		assert_ptr_equal(w, v);
		assert_int_equal(wl, vl);
		w[0] = 'Z';
	}
	assert_entry(m, "in", 2, "Zbcd", 4);
	big[0] = 'Z';
	assert_entry(m, "out", 3, big, sizeof(big));
	st_heapmap_free(m);
}

static void test_inserting_bytes_read_from_the_map_survives_growth(void **state)
{
	(void)state;
	/* A new key whose key or value bytes point into the map, inserted just
	 * when the table doubles: the bytes must be taken before the old table
	 * goes. */
	st_heapmap *m;
	assert_int_equal(st_heapmap_new(&m), 0);
	uint8_t v[40];
	fill(v, sizeof(v), 77);
	assert_int_equal(st_heapmap_put(m, "source-key", 10, hash_of("source-key", 10), 0, v, 40),
			 0);
	char k[16];
	for (int i = 0; st_heapmap_size(m) < 12; i++) {
		snprintf(k, sizeof(k), "f%d", i);
		assert_int_equal(put_str(m, k, "f"), 0);
	}
	/* 12 of 16 slots: the next insert doubles */
	const void *sv;
	size_t svl;
	assert_int_equal(st_heapmap_get(m, "source-key", 10, hash_of("source-key", 10), &sv, &svl),
			 1);
	size_t cur = 0, kl, vl;
	const void *kp, *vp;
	int kg;
	do
		assert_int_equal(st_heapmap_next(m, &cur, &kp, &kl, &vp, &vl, &kg), 1);
	while (kl != 10);
	/* key: a prefix of the stored key (so a new key), value: its value */
	uint32_t h = hash_of(kp, 9);
	size_t pos;
	const void *ov;
	size_t ol;
	assert_int_equal(st_heapmap_find(m, kp, 9, h, &pos, &ov, &ol), 0);
	assert_int_equal(st_heapmap_put_at(m, pos, kp, 9, h, 0, sv, svl), 0);
	assert_int_equal(st_heapmap_size(m), 13);
	assert_entry(m, "source-ke", 9, v, 40);
	assert_entry(m, "source-key", 10, v, 40);
	st_heapmap_free(m);
}

/* Deleting frees the slot (backward shift): under heavy churn with clustered
 * hashes (runs that wrap around the table's end, keys on equal hashes,
 * inline and out-of-line entries), every live key stays found with its
 * value, every deleted key misses, the size counts live keys only and the
 * out-of-line memory goes back. Checked against a plain array. */
static void test_delete_frees_slots_under_churn(void **state)
{
	(void)state;
	enum { N = 3000, ROUNDS = 40000 };
	static int live[N];
	memset(live, 0, sizeof(live));
	st_heapmap *m;
	assert_int_equal(st_heapmap_new(&m), 0);
	size_t base_mem = st_heapmap_memory(m);
	char k[16], big[100];
	memset(big, 'v', sizeof(big));
	uint64_t r = 12345;
	size_t nlive = 0;
	for (int round = 0; round < ROUNDS; round++) {
		r = r * 6364136223846793005ull + 1442695040888963407ull;
		int i = (int)((r >> 33) % N);
		int n = snprintf(k, sizeof(k), "k%d", i);
		/* few distinct hashes: long probe runs */
		uint32_t h = (uint32_t)(i % 37) * 0x01000193u;
		size_t vl = i % 3 == 0 ? sizeof(big) : sizeof(int) + (size_t)(i % 5);
		memcpy(big, &i, sizeof(i));
		size_t pos;
		const void *v;
		size_t gl;
		int hit = st_heapmap_find(m, k, (size_t)n, h, &pos, &v, &gl);
		assert_int_equal(hit, live[i]);
		if (hit) {
			st_heapmap_del_at(m, pos);
			live[i] = 0;
			nlive--;
		} else {
			assert_int_equal(
			    st_heapmap_put_at(m, pos, k, (size_t)n, h, i % 128, big, vl), 0);
			live[i] = 1;
			nlive++;
		}
		assert_int_equal(st_heapmap_size(m), nlive);
		if (round % 5000 == 4999 || round == ROUNDS - 1)
			for (int j = 0; j < N; j++) {
				int jn = snprintf(k, sizeof(k), "k%d", j);
				uint32_t jh = (uint32_t)(j % 37) * 0x01000193u;
				int got = st_heapmap_get(m, k, (size_t)jn, jh, &v, &gl);
				assert_int_equal(got, live[j]);
				if (got) {
					assert_int_equal(gl, j % 3 == 0
								 ? sizeof(big)
								 : sizeof(int) + (size_t)(j % 5));
					assert_memory_equal(v, &j, sizeof(j));
				}
			}
	}
	/* iteration sees exactly the live keys */
	size_t cur = 0, seen = 0, kl, vl;
	const void *kk, *vv;
	int kg;
	while (st_heapmap_next(m, &cur, &kk, &kl, &vv, &vl, &kg))
		seen++;
	assert_int_equal(seen, nlive);
	/* delete everything left: empty, and the out-of-line bytes are back */
	size_t full_mem = st_heapmap_memory(m);
	for (int j = 0; j < N; j++) {
		if (!live[j])
			continue;
		int jn = snprintf(k, sizeof(k), "k%d", j);
		size_t pos;
		const void *v;
		size_t gl;
		assert_int_equal(st_heapmap_find(m, k, (size_t)jn, (uint32_t)(j % 37) * 0x01000193u,
						 &pos, &v, &gl),
				 1);
		st_heapmap_del_at(m, pos);
	}
	assert_int_equal(st_heapmap_size(m), 0);
	size_t empty_mem = st_heapmap_memory(m);
	assert_true(empty_mem < full_mem); /* the out-of-line entries were freed */
	/* one out-of-line entry in and out: exactly the same memory */
	assert_int_equal(st_heapmap_put(m, "x", 1, 5u, 0, big, sizeof(big)), 0);
	assert_true(st_heapmap_memory(m) > empty_mem);
	size_t pos;
	const void *v;
	size_t gl;
	assert_int_equal(st_heapmap_find(m, "x", 1, 5u, &pos, &v, &gl), 1);
	st_heapmap_del_at(m, pos);
	assert_int_equal(st_heapmap_memory(m), empty_mem);
	assert_true(empty_mem >= base_mem);
	cur = 0;
	assert_int_equal(st_heapmap_next(m, &cur, &kk, &kl, &vv, &vl, &kg), 0);
	st_heapmap_free(m);
}

static void test_prefetch_changes_nothing(void **state)
{
	(void)state;
	st_heapmap *m;
	assert_int_equal(st_heapmap_new(&m), 0);
	st_heapmap_prefetch(m, 0);
	st_heapmap_prefetch(m, UINT32_MAX);
	assert_int_equal(put_str(m, "a", "1"), 0);
	st_heapmap_prefetch(m, hash_of("a", 1));
	assert_entry(m, "a", 1, "1", 1);
	assert_int_equal(st_heapmap_size(m), 1);
	st_heapmap_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_map_is_empty_and_misses),
	    cmocka_unit_test(test_delete_frees_slots_under_churn),
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
	    cmocka_unit_test(test_value_growing_past_the_inline_area_and_shrinking_back),
	    cmocka_unit_test(test_keys_at_the_inline_limit),
	    cmocka_unit_test(test_growth_moves_inline_and_out_of_line_entries),
	    cmocka_unit_test(test_iteration_after_mixed_entries_and_transitions),
	    cmocka_unit_test(test_find_put_at_on_inline_and_out_of_line_entries),
	    cmocka_unit_test(test_value_at_writes_in_place_for_inline_and_outline_values),
	    cmocka_unit_test(test_inserting_bytes_read_from_the_map_survives_growth),
	    cmocka_unit_test(test_prefetch_changes_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
