/* Unit tests of runtime/types/intfmt.c, and of the integers fl_row_format
 * prints with it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <flinc/flinc.h>

#include "types/intfmt.h"

/* xorshift64*: the same values on every run. */
static uint64_t rnd_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545f4914f6cdd1du;
}

static size_t checked;

/* fmt_int64 of v writes what snprintf writes, not a byte more, and the
 * length it returns; with any smaller room it writes nothing at all. */
static void expect_as_snprintf(int64_t v)
{
	char want[32], got[FMT_INT64_MAX + 2];
	int wn = snprintf(want, sizeof(want), "%" PRId64, v);
	memset(got, '#', sizeof(got));
	size_t n = fmt_int64(got, FMT_INT64_MAX, v);
	if (n != (size_t)wn || memcmp(got, want, n) != 0)
		fail_msg("fmt_int64(%" PRId64 ") gave %zu bytes '%.*s', snprintf %d '%s'", v, n,
			 (int)(n <= FMT_INT64_MAX ? n : FMT_INT64_MAX), got, wn, want);
	for (size_t i = n; i < sizeof(got); i++)
		assert_int_equal(got[i], '#');
	/* exactly enough room */
	memset(got, '#', sizeof(got));
	assert_int_equal(fmt_int64(got + 1, n, v), n);
	assert_memory_equal(got + 1, want, n);
	assert_int_equal(got[0], '#');
	assert_int_equal(got[n + 1], '#');
	/* one byte short, and none */
	memset(got, '#', sizeof(got));
	assert_int_equal(fmt_int64(got, n - 1, v), n);
	assert_int_equal(fmt_int64(NULL, 0, v), n);
	for (size_t i = 0; i < sizeof(got); i++)
		assert_int_equal(got[i], '#');
	checked++;
}

static void test_edges_print_as_snprintf(void **state)
{
	(void)state;
	static const int64_t edges[] = {
	    0,	 1,   -1,   9,	 -9,	    10,	       -10,	      11,	    -11, 99,
	    -99, 100, -100, 101, INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1};
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		expect_as_snprintf(edges[i]);
	char buf[FMT_INT64_MAX];
	assert_int_equal(fmt_int64(buf, sizeof(buf), INT64_MIN), FMT_INT64_MAX);
	assert_memory_equal(buf, "-9223372036854775808", FMT_INT64_MAX);
	assert_int_equal(fmt_int64(buf, sizeof(buf), 0), 1);
	assert_memory_equal(buf, "0", 1);
}

/* Where the number of digits changes: each power of ten and its
 * neighbours, and each power of two (the digit count is estimated from the
 * bit length) and its neighbours, both signs. */
static void test_digit_count_boundaries_print_as_snprintf(void **state)
{
	(void)state;
	int64_t p = 1;
	for (int e = 0; e <= 18; e++) {
		for (int64_t d = -2; d <= 2; d++) {
			expect_as_snprintf(p + d);
			expect_as_snprintf(-(p + d));
		}
		if (e < 18)
			p *= 10;
	}
	for (int b = 0; b < 63; b++) {
		int64_t q = (int64_t)1 << b;
		for (int64_t d = -1; d <= 1; d++) {
			expect_as_snprintf(q + d);
			expect_as_snprintf(-(q + d));
		}
	}
}

static void test_random_values_print_as_snprintf(void **state)
{
	(void)state;
	for (int i = 0; i < 300000; i++) {
		uint64_t r = rnd();
		/* all magnitudes alike: shift the value down by 0..63 bits */
		int64_t v = (int64_t)(r >> (rnd() % 64));
		expect_as_snprintf(v);
		expect_as_snprintf((int64_t)(0u - (uint64_t)v)); /* wraps at INT64_MIN */
	}
	for (int64_t v = -100000; v <= 100000; v++)
		expect_as_snprintf(v);
	assert_true(checked > 800000);
}

/* The row formatter's integers and timestamps, whole and cut at every cap,
 * are snprintf's text. */
static void test_row_format_prints_integers_as_snprintf(void **state)
{
	(void)state;
	for (int i = 0; i < 20000; i++) {
		int64_t a = (int64_t)(rnd() >> (rnd() % 64));
		int64_t b = (int64_t)(0u - (rnd() >> (rnd() % 64)));
		fl_row r = {0};
		fl_row_add_string(&r, "w", 1);
		fl_row_add_int64(&r, a);
		fl_row_add_timestamp(&r, b);
		char want[80], got[80];
		int wn = snprintf(want, sizeof(want), "w\t%" PRId64 "\t%" PRId64, a, b);
		for (size_t cap = i < 200 ? 0 : sizeof(got); cap <= sizeof(got); cap++) {
			memset(got, '#', sizeof(got));
			assert_int_equal(fl_row_format(&r, cap ? got : NULL, cap), wn);
			if (cap == 0)
				continue;
			size_t kept = cap - 1 < (size_t)wn ? cap - 1 : (size_t)wn;
			assert_memory_equal(got, want, kept);
			assert_int_equal(got[kept], '\0');
			if (kept + 1 < sizeof(got))
				assert_int_equal(got[kept + 1], '#');
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_edges_print_as_snprintf),
	    cmocka_unit_test(test_digit_count_boundaries_print_as_snprintf),
	    cmocka_unit_test(test_random_values_print_as_snprintf),
	    cmocka_unit_test(test_row_format_prints_integers_as_snprintf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
