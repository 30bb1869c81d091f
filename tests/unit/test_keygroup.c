/* Unit tests of runtime/types/keygroup.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "types/codec.h"
#include "types/keygroup.h"

static void test_murmur3_matches_reference_vectors(void **state)
{
	(void)state;
	/* From the reference MurmurHash3_x86_32 (cross-checked with an
	 * independent implementation and published vectors). */
	static const char fox[] = "The quick brown fox jumps over the lazy dog";
	assert_int_equal(kg_murmur3_32("", 0, 0), 0);
	assert_int_equal(kg_murmur3_32("", 0, 1), 0x514E28B7);
	assert_int_equal(kg_murmur3_32("", 0, 0xffffffff), 0x81F16F39);
	assert_int_equal(kg_murmur3_32("hello", 5, 0), 0x248bfa47);
	assert_int_equal(kg_murmur3_32(fox, strlen(fox), 0), 0x2e4ff723);
	assert_int_equal(kg_murmur3_32(fox, strlen(fox), 0x9747b28c), 0x2fa826cd);
	assert_int_equal(kg_murmur3_32("Hello, world!", 13, 1234), 0xfaf6cdb3);
	assert_int_equal(kg_murmur3_32("\0\0\0\0", 4, 0), 0x2362f9de);
}

static void test_murmur3_covers_every_tail_length(void **state)
{
	(void)state;
	/* lengths 1..4 take each branch of the tail switch and the block loop */
	assert_int_equal(kg_murmur3_32("a", 1, 0), 0x3c2569b2);
	assert_int_equal(kg_murmur3_32("ab", 2, 0), 0x9bbfd75f);
	assert_int_equal(kg_murmur3_32("abc", 3, 0), 0xb3dd93fa);
	assert_int_equal(kg_murmur3_32("abcd", 4, 0), 0x43ed676a);
}

static void test_murmur3_does_not_depend_on_alignment(void **state)
{
	(void)state;
	uint8_t buf[64 + 8];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 37 + 11);
	uint8_t ref[64];
	memcpy(ref, buf, 64);
	uint32_t want = kg_murmur3_32(ref, 64, 42);
	for (size_t off = 0; off < 8; off++) {
		memmove(buf + off, ref, 64);
		assert_int_equal(kg_murmur3_32(buf + off, 64, 42), want);
	}
}

static void test_key_group_is_hash_modulo_max_parallelism(void **state)
{
	(void)state;
	static const int maxps[] = {1, 2, 3, 7, 128, 1000, 32768};
	char key[32];
	for (size_t m = 0; m < sizeof(maxps) / sizeof(maxps[0]); m++) {
		for (int k = 0; k < 1000; k++) {
			int n = snprintf(key, sizeof(key), "key-%d", k);
			int kg = kg_of_key(key, (size_t)n, maxps[m]);
			assert_true(kg >= 0 && kg < maxps[m]);
			assert_int_equal(kg, kg_murmur3_32(key, (size_t)n, 0) % (uint32_t)maxps[m]);
		}
	}
}

static void test_key_groups_spread_evenly(void **state)
{
	(void)state;
	int counts[128] = {0};
	for (int64_t k = 0; k < 128000; k++) {
		fl_row r = {0};
		fl_row_add_int64(&r, k);
		uint8_t enc[16];
		size_t n = row_encode(&r, enc, sizeof(enc));
		counts[kg_of_key(enc, n, 128)]++;
	}
	for (int i = 0; i < 128; i++)
		assert_true(counts[i] > 800 && counts[i] < 1200);
}

static void test_ranges_are_contiguous_cover_all_groups_and_match_operator_index(void **state)
{
	(void)state;
	static const int maxps[] = {1, 2, 3, 4, 5, 7, 10, 16, 100, 127, 128, 129, 1000, 4096};
	for (size_t m = 0; m < sizeof(maxps) / sizeof(maxps[0]); m++) {
		int maxp = maxps[m];
		for (int p = 1; p <= maxp && p <= 300; p++) {
			int next = 0;
			for (int i = 0; i < p; i++) {
				int first, last;
				kg_range_for_operator(maxp, p, i, &first, &last);
				/* contiguous, non-empty since p <= maxp */
				assert_int_equal(first, next);
				assert_true(last >= first);
				for (int kg = first; kg <= last; kg++)
					assert_int_equal(kg_operator_index(kg, maxp, p), i);
				next = last + 1;
			}
			assert_int_equal(next, maxp);
		}
	}
}

static void test_ranges_hold_for_the_largest_max_parallelism(void **state)
{
	(void)state;
	/* Flink's upper bound 2^15 and beyond: the int64 arithmetic must not
	 * overflow. */
	int maxp = 1 << 20;
	static const int ps[] = {1, 3, 1000, 65537, 1 << 20};
	for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
		int p = ps[k], next = 0;
		for (int i = 0; i < p; i += (p > 2000 ? 997 : 1)) {
			int first, last;
			kg_range_for_operator(maxp, p, i, &first, &last);
			if (p <= 2000)
				assert_int_equal(first, next);
			assert_int_equal(kg_operator_index(first, maxp, p), i);
			assert_int_equal(kg_operator_index(last, maxp, p), i);
			if (first > 0)
				assert_int_equal(kg_operator_index(first - 1, maxp, p), i - 1);
			if (last < maxp - 1)
				assert_int_equal(kg_operator_index(last + 1, maxp, p), i + 1);
			next = last + 1;
		}
	}
}

static void test_murmur3_of_a_word_matches_the_bytes(void **state)
{
	(void)state;
	/* The register form that keyed records use must give every key the
	 * same hash, and so the same key group, as the byte form. */
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (int round = 0; round < 2000; round++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		for (size_t len = 0; len <= 8; len++) {
			uint64_t w = len == 8 ? x : x & ((1ull << (8 * len)) - 1);
			uint8_t b[8];
			for (size_t i = 0; i < 8; i++)
				b[i] = (uint8_t)(w >> (8 * i));
			assert_int_equal(kg_murmur3_32_word(w, len), kg_murmur3_32(b, len, 0));
		}
	}
}

static void test_key_group_and_operator_index_agree_with_division(void **state)
{
	(void)state;
	/* The power-of-two shortcuts must pick what the division picks. */
	static const int maxps[] = {1, 2, 3, 7, 64, 128, 1000, 4096, 32768};
	for (size_t m = 0; m < sizeof(maxps) / sizeof(maxps[0]); m++) {
		int maxp = maxps[m];
		for (uint32_t h = 0; h < 100000; h += 7)
			assert_int_equal(kg_of_hash(h * 2654435761u, maxp),
					 (h * 2654435761u) % (uint32_t)maxp);
		for (int p = 1; p <= maxp && p <= 300; p += (p < 10 ? 1 : 37))
			for (int kg = 0; kg < maxp; kg += (maxp > 1000 ? 13 : 1))
				assert_int_equal(kg_operator_index(kg, maxp, p),
						 (int)((int64_t)kg * p / maxp));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_murmur3_matches_reference_vectors),
	    cmocka_unit_test(test_murmur3_covers_every_tail_length),
	    cmocka_unit_test(test_murmur3_does_not_depend_on_alignment),
	    cmocka_unit_test(test_murmur3_of_a_word_matches_the_bytes),
	    cmocka_unit_test(test_key_group_and_operator_index_agree_with_division),
	    cmocka_unit_test(test_key_group_is_hash_modulo_max_parallelism),
	    cmocka_unit_test(test_key_groups_spread_evenly),
	    cmocka_unit_test(test_ranges_are_contiguous_cover_all_groups_and_match_operator_index),
	    cmocka_unit_test(test_ranges_hold_for_the_largest_max_parallelism),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
