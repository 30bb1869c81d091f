/* Unit tests of runtime/types/codec.c and fl_row_format (row_format.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "types/codec.h"

/* xorshift64*: deterministic, so a failure reproduces. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static uint64_t dbits(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof(u));
	return u;
}

static double bitsd(uint64_t u)
{
	double d;
	memcpy(&d, &u, sizeof(d));
	return d;
}

/* Field-by-field equality; strings by content, doubles by bits except NaN. */
static void assert_rows_equal(const fl_row *a, const fl_row *b)
{
	assert_int_equal(a->nfields, b->nfields);
	for (uint32_t i = 0; i < a->nfields; i++) {
		assert_int_equal(a->types[i], b->types[i]);
		const fl_value *x = &a->values[i], *y = &b->values[i];
		switch (a->types[i]) {
		case FL_INT64:
		case FL_TIMESTAMP:
			assert_true(x->u.i == y->u.i);
			break;
		case FL_DOUBLE:
			if (isnan(x->u.d))
				assert_true(isnan(y->u.d));
			else
				assert_true(dbits(x->u.d) == dbits(y->u.d));
			break;
		case FL_BOOL:
			assert_int_equal(x->u.b, y->u.b);
			break;
		case FL_STRING:
		case FL_BYTES:
			assert_int_equal(x->u.s.len, y->u.s.len);
			if (x->u.s.len)
				assert_memory_equal(x->u.s.ptr, y->u.s.ptr, x->u.s.len);
			break;
		default:
			break;
		}
	}
}

/* Encodes r, checks the bound, decodes from an exact-size heap copy (so that
 * ASan catches any over-read) and checks equality. Returns the size. */
static size_t roundtrip(const fl_row *r, uint8_t *enc_out, size_t enc_cap)
{
	uint8_t buf[4096];
	size_t n = row_encode(r, buf, sizeof(buf));
	assert_true(n > 0);
	assert_true(n <= row_encoded_bound(r));
	uint8_t *copy = malloc(n);
	assert_non_null(copy);
	memcpy(copy, buf, n);
	fl_row out;
	size_t used = 0;
	assert_int_equal(row_decode(copy, n, &out, &used), 0);
	assert_int_equal(used, n);
	assert_rows_equal(r, &out);
	/* decode(encode(r)) re-encodes to the same bytes */
	uint8_t again[4096];
	assert_int_equal(row_encode(&out, again, sizeof(again)), n);
	assert_memory_equal(again, buf, n);
	free(copy);
	if (enc_out) {
		assert_true(n <= enc_cap);
		memcpy(enc_out, buf, n);
	}
	return n;
}

/* ------------------------------------------------------------ varints */

static void test_varint_roundtrips_at_every_length_boundary(void **state)
{
	(void)state;
	for (int bits = 0; bits <= 64; bits++) {
		uint64_t base = bits == 64 ? UINT64_MAX : ((uint64_t)1 << bits);
		uint64_t vals[3] = {base - 1, base, base + 1};
		for (int k = 0; k < 3; k++) {
			uint64_t v = vals[k], got = 0;
			uint8_t buf[ROW_VARINT_MAX];
			size_t n = row_varint_put(buf, sizeof(buf), v);
			size_t want = 1;
			for (uint64_t t = v; t >= 0x80; t >>= 7)
				want++;
			assert_int_equal(n, want);
			assert_int_equal(row_varint_get(buf, n, &got), n);
			assert_true(got == v);
			/* one byte short: put refuses, get sees truncation */
			assert_int_equal(row_varint_put(buf, n - 1, v), 0);
			assert_int_equal(row_varint_get(buf, n - 1, &got), 0);
		}
	}
}

static void test_varint_get_rejects_eleven_bytes_overflow_and_overlong(void **state)
{
	(void)state;
	uint64_t v;
	uint8_t eleven[11] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	assert_int_equal(row_varint_get(eleven, sizeof(eleven), &v), 0);
	/* 10th byte may only carry bit 63 */
	uint8_t over[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
	assert_int_equal(row_varint_get(over, sizeof(over), &v), 0);
	uint8_t max[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	assert_int_equal(row_varint_get(max, sizeof(max), &v), 10);
	assert_true(v == UINT64_MAX);
	/* non-minimal forms break canonical encoding */
	uint8_t overlong0[2] = {0x80, 0x00};
	assert_int_equal(row_varint_get(overlong0, 2, &v), 0);
	uint8_t overlong1[3] = {0x81, 0x80, 0x00};
	assert_int_equal(row_varint_get(overlong1, 3, &v), 0);
	assert_int_equal(row_varint_get(overlong0, 0, &v), 0);
}

/* ---------------------------------------------------------- round trips */

static void test_roundtrip_every_type_with_extremes(void **state)
{
	(void)state;
	static const int64_t ints[] = {0,
				       1,
				       -1,
				       63,
				       -64,
				       64,
				       -65,
				       8191,
				       -8192,
				       INT32_MAX,
				       INT32_MIN,
				       INT64_MAX,
				       INT64_MIN,
				       INT64_MAX - 1,
				       INT64_MIN + 1};
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		fl_row r = {0};
		fl_row_add_int64(&r, ints[i]);
		fl_row_add_timestamp(&r, ints[i]);
		roundtrip(&r, NULL, 0);
	}
	static const double dbl[] = {0.0,      1.0,	-1.5,	3.141592653589793, DBL_MAX,
				     -DBL_MAX, DBL_MIN, 5e-324, INFINITY,	   -INFINITY};
	for (size_t i = 0; i < sizeof(dbl) / sizeof(dbl[0]); i++) {
		fl_row r = {0};
		fl_row_add_double(&r, dbl[i]);
		assert_int_equal(roundtrip(&r, NULL, 0), 1 + 1 + 8);
	}
	fl_row r = {0};
	fl_row_add_bool(&r, true);
	fl_row_add_bool(&r, false);
	fl_row_add_null(&r);
	fl_row_add_string(&r, "héllo wörld", strlen("héllo wörld"));
	fl_row_add_bytes(&r, "\x00\xff\x80", 3);
	roundtrip(&r, NULL, 0);
}

static void test_zigzag_puts_minus64_to_63_in_one_byte(void **state)
{
	(void)state;
	for (int64_t v = -200; v <= 200; v++) {
		fl_row r = {0};
		fl_row_add_int64(&r, v);
		size_t n = roundtrip(&r, NULL, 0);
		assert_int_equal(n, (v >= -64 && v <= 63) ? 3 : 4);
	}
	fl_row r = {0};
	fl_row_add_int64(&r, INT64_MIN);
	assert_int_equal(roundtrip(&r, NULL, 0), 2 + ROW_VARINT_MAX);
}

static void test_roundtrip_keeps_negative_zero_and_nan(void **state)
{
	(void)state;
	fl_row r = {0};
	fl_row_add_double(&r, -0.0);
	fl_row_add_double(&r, NAN);
	uint8_t enc[64];
	roundtrip(&r, enc, sizeof(enc));
	fl_row out;
	size_t used;
	assert_int_equal(row_decode(enc, sizeof(enc), &out, &used), 0);
	assert_true(signbit(out.values[0].u.d));
	assert_true(out.values[0].u.d == 0.0);
	assert_true(isnan(out.values[1].u.d));
}

static void test_every_nan_payload_encodes_to_the_same_bytes(void **state)
{
	(void)state;
	uint64_t nans[] = {0x7ff8000000000000ull, 0xfff8000000000000ull, 0x7ff0000000000001ull,
			   0x7fffffffffffffffull, 0xfff0000000000123ull};
	uint8_t first[16], cur[16];
	for (size_t i = 0; i < sizeof(nans) / sizeof(nans[0]); i++) {
		fl_row r = {0};
		fl_row_add_double(&r, bitsd(nans[i]));
		assert_int_equal(row_encode(&r, cur, sizeof(cur)), 10);
		if (i == 0)
			memcpy(first, cur, 10);
		assert_memory_equal(first, cur, 10);
	}
}

static void test_roundtrip_empty_strings_bytes_and_rows(void **state)
{
	(void)state;
	fl_row r = {0};
	assert_int_equal(roundtrip(&r, NULL, 0), 1);
	fl_row_add_string(&r, "", 0);
	fl_row_add_bytes(&r, NULL, 0);
	fl_row_add_string(&r, NULL, 0);
	assert_int_equal(roundtrip(&r, NULL, 0), 1 + 3 * 2);
}

static void test_roundtrip_sixteen_fields_of_mixed_types(void **state)
{
	(void)state;
	fl_row r = {0};
	static const char big[300] = {'x'};
	for (int i = 0; i < FL_ROW_MAX_FIELDS; i++) {
		switch (i % 7) {
		case 0:
			fl_row_add_int64(&r, (int64_t)i * -123456789);
			break;
		case 1:
			fl_row_add_double(&r, i / 3.0);
			break;
		case 2:
			fl_row_add_string(&r, big, sizeof(big)); /* 2-byte length */
			break;
		case 3:
			fl_row_add_bytes(&r, "\x01\x02", 2);
			break;
		case 4:
			fl_row_add_bool(&r, i & 1);
			break;
		case 5:
			fl_row_add_timestamp(&r, 1700000000000 + i);
			break;
		default:
			fl_row_add_null(&r);
			break;
		}
	}
	assert_int_equal(r.nfields, FL_ROW_MAX_FIELDS);
	assert_int_equal(fl_row_add_null(&r), FL_ERANGE);
	roundtrip(&r, NULL, 0);
}

static void test_encoding_matches_documented_bytes(void **state)
{
	(void)state;
	fl_row r = {0};
	fl_row_add_int64(&r, -1);
	fl_row_add_string(&r, "ab", 2);
	fl_row_add_bool(&r, true);
	fl_row_add_null(&r);
	fl_row_add_timestamp(&r, 300);
	fl_row_add_double(&r, 1.0);
	fl_row_add_bytes(&r, "\xfe", 1);
	static const uint8_t want[] = {
	    7,	  FL_INT64,  1, FL_STRING, 2, 'a', 'b', FL_BOOL, 1,    FL_NULL, FL_TIMESTAMP, 0xd8,
	    0x04, FL_DOUBLE, 0, 0,	   0, 0,   0,	0,	 0xf0, 0x3f,	FL_BYTES,     1,
	    0xfe};
	uint8_t got[64];
	assert_int_equal(row_encode(&r, got, sizeof(got)), sizeof(want));
	assert_memory_equal(got, want, sizeof(want));
}

static void test_equal_rows_encode_to_equal_bytes(void **state)
{
	(void)state;
	char s1[] = "word", s2[] = "word";
	fl_row a = {0}, b = {0};
	fl_row_add_string(&a, s1, 4);
	fl_row_add_string(&b, s2, 4);
	fl_row_add_int64(&a, 42);
	fl_row_add_int64(&b, 42);
	/* a bool set through its byte as something other than 1 */
	fl_row_add_bool(&a, true);
	fl_row_add_bool(&b, true);
	/* garbage in unused union bytes must not leak into the encoding */
	memset(&a.values[3], 0xAA, sizeof(a.values[3]));
	memset(&b.values[3], 0x55, sizeof(b.values[3]));
	fl_row_add_null(&a);
	fl_row_add_null(&b);
	uint8_t ea[64], eb[64];
	size_t na = row_encode(&a, ea, sizeof(ea)), nb = row_encode(&b, eb, sizeof(eb));
	assert_true(na > 0);
	assert_int_equal(na, nb);
	assert_memory_equal(ea, eb, na);
}

static void test_encode_never_writes_past_cap_and_fails_when_short(void **state)
{
	(void)state;
	fl_row r = {0};
	fl_row_add_string(&r, "some string", 11);
	fl_row_add_int64(&r, INT64_MIN);
	fl_row_add_double(&r, 2.5);
	fl_row_add_bool(&r, false);
	fl_row_add_null(&r);
	fl_row_add_bytes(&r, "abc", 3);
	uint8_t full[128];
	size_t n = row_encode(&r, full, sizeof(full));
	assert_true(n > 0);
	for (size_t cap = 0; cap < n; cap++) {
		uint8_t *buf = malloc(cap ? cap : 1); /* ASan catches overruns */
		assert_non_null(buf);
		assert_int_equal(row_encode(&r, buf, cap), 0);
		free(buf);
	}
	uint8_t *exact = malloc(n);
	assert_non_null(exact);
	assert_int_equal(row_encode(&r, exact, n), n);
	assert_memory_equal(exact, full, n);
	free(exact);
}

static void test_encode_refuses_rows_with_bad_shape(void **state)
{
	(void)state;
	uint8_t buf[256];
	fl_row r = {0};
	fl_row_add_int64(&r, 1);
	r.types[0] = 7;
	assert_int_equal(row_encode(&r, buf, sizeof(buf)), 0);
	assert_int_equal(row_encoded_bound(&r), 0);
	r.types[0] = FL_INT64;
	r.nfields = FL_ROW_MAX_FIELDS + 1;
	assert_int_equal(row_encode(&r, buf, sizeof(buf)), 0);
	assert_int_equal(row_encoded_bound(&r), 0);
}

/* ------------------------------------------------------------ decoding */

static void expect_eproto(const uint8_t *bytes, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	assert_non_null(copy);
	memcpy(copy, bytes, n);
	fl_row out;
	size_t used = 12345;
	assert_int_equal(row_decode(copy, n, &out, &used), FL_EPROTO);
	assert_int_equal(used, 12345); /* untouched on failure */
	free(copy);
}

static void test_decode_rejects_every_truncated_prefix(void **state)
{
	(void)state;
	fl_row r = {0};
	fl_row_add_string(&r, "truncate me", 11);
	fl_row_add_int64(&r, -1234567890123);
	fl_row_add_double(&r, 0.25);
	fl_row_add_bool(&r, true);
	fl_row_add_null(&r);
	fl_row_add_timestamp(&r, 1);
	fl_row_add_bytes(&r, "\x00\x01", 2);
	fl_row_add_null(&r);
	uint8_t enc[256];
	size_t n = roundtrip(&r, enc, sizeof(enc));
	/* the field count comes first, so every strict prefix is incomplete */
	for (size_t k = 0; k < n; k++)
		expect_eproto(enc, k);
}

static void test_decode_stops_at_the_row_end_of_a_longer_buffer(void **state)
{
	(void)state;
	fl_row a = {0}, b = {0};
	fl_row_add_string(&a, "first", 5);
	fl_row_add_int64(&b, 2);
	uint8_t buf[64];
	size_t na = row_encode(&a, buf, sizeof(buf));
	size_t nb = row_encode(&b, buf + na, sizeof(buf) - na);
	fl_row out;
	size_t used;
	assert_int_equal(row_decode(buf, na + nb, &out, &used), 0);
	assert_int_equal(used, na);
	assert_rows_equal(&a, &out);
	assert_int_equal(row_decode(buf + na, nb, &out, &used), 0);
	assert_int_equal(used, nb);
	assert_rows_equal(&b, &out);
}

static void test_decode_rejects_malformed_input(void **state)
{
	(void)state;
	/* more than 16 fields */
	expect_eproto((const uint8_t[]){17}, 1);
	expect_eproto((const uint8_t[]){0x80, 0x00}, 2);
	expect_eproto((const uint8_t[]){0x90, 0x00}, 2);
	/* unknown type bytes */
	expect_eproto((const uint8_t[]){1, 7}, 2);
	expect_eproto((const uint8_t[]){1, 0xff}, 2);
	/* integer varint of 11 bytes; overflowing 10th byte */
	expect_eproto((const uint8_t[]){1, FL_INT64, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					0xff, 0xff, 0x01},
		      13);
	expect_eproto((const uint8_t[]){1, FL_TIMESTAMP, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					0xff, 0xff, 0x7f},
		      12);
	/* overlong integer */
	expect_eproto((const uint8_t[]){1, FL_INT64, 0x80, 0x00}, 4);
	/* string length past the end, far past, and over UINT32_MAX */
	expect_eproto((const uint8_t[]){1, FL_STRING, 3, 'a', 'b'}, 5);
	expect_eproto((const uint8_t[]){1, FL_BYTES, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'}, 8);
	expect_eproto((const uint8_t[]){1, FL_STRING, 0x80, 0x80, 0x80, 0x80, 0x10, 'a'}, 8);
	/* bool other than 0/1; short double; non-canonical NaN */
	expect_eproto((const uint8_t[]){1, FL_BOOL, 2}, 3);
	expect_eproto((const uint8_t[]){1, FL_DOUBLE, 0, 0, 0, 0, 0, 0, 0}, 9);
	expect_eproto((const uint8_t[]){1, FL_DOUBLE, 1, 0, 0, 0, 0, 0, 0xf8, 0x7f}, 10);
	expect_eproto((const uint8_t[]){1, FL_DOUBLE, 0, 0, 0, 0, 0, 0, 0xf8, 0xff}, 10);
	/* empty input */
	expect_eproto((const uint8_t[]){0}, 0);
	/* the canonical NaN and an empty row are fine */
	fl_row out;
	size_t used;
	const uint8_t nan[] = {1, FL_DOUBLE, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f};
	assert_int_equal(row_decode(nan, sizeof(nan), &out, &used), 0);
	assert_true(isnan(out.values[0].u.d));
	const uint8_t empty[] = {0};
	assert_int_equal(row_decode(empty, 1, &out, &used), 0);
	assert_int_equal(out.nfields, 0);
	assert_int_equal(used, 1);
}

static void test_decode_rejects_bad_varints_with_bytes_to_spare(void **state)
{
	(void)state;
	/* The decoder reads varints without per-byte bounds checks when ten
	 * bytes remain: the same rules must hold there. */
	static const uint8_t bad[][12] = {
	    {1, FL_INT64, 0x80, 0x00},
	    {1, FL_INT64, 0x81, 0x80, 0x00},
	    {1, FL_INT64, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},
	    {1, FL_STRING, 0x80, 0x00},
	    {1, FL_STRING, 0xff, 0xff, 0xff, 0xff, 0x10},
	};
	uint8_t buf[40];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(buf, 0, sizeof(buf));
		memcpy(buf, bad[i], sizeof(bad[i]));
		expect_eproto(buf, sizeof(buf));
	}
	/* eleven continuation bytes */
	memset(buf, 0xff, sizeof(buf));
	buf[0] = 1;
	buf[1] = FL_INT64;
	expect_eproto(buf, sizeof(buf));
	/* and the largest valid values decode */
	fl_row r = {0}, out;
	fl_row_add_int64(&r, INT64_MIN);
	fl_row_add_int64(&r, 128);
	memset(buf, 0, sizeof(buf));
	size_t n = row_encode(&r, buf, sizeof(buf)), used;
	assert_int_equal(row_decode(buf, sizeof(buf), &out, &used), 0);
	assert_int_equal(used, n);
	assert_rows_equal(&r, &out);
}

/* Decodes buf[0..n) from an exact heap copy; an accepted row must re-encode
 * to exactly the bytes it consumed (canonical in both directions). */
static int decode_checked(const uint8_t *bytes, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	assert_non_null(copy);
	memcpy(copy, bytes, n);
	fl_row out;
	size_t used = 0;
	int rc = row_decode(copy, n, &out, &used);
	if (rc == 0) {
		assert_true(used >= 1 && used <= n);
		uint8_t re[512];
		assert_int_equal(row_encode(&out, re, sizeof(re)), used);
		assert_memory_equal(re, copy, used);
	} else {
		assert_int_equal(rc, FL_EPROTO);
	}
	free(copy);
	return rc == 0;
}

static void test_random_garbage_never_crashes_and_accepted_input_is_canonical(void **state)
{
	(void)state;
	uint8_t buf[256];
	size_t accepted = 0;
	for (int iter = 0; iter < 300000; iter++) {
		size_t n = (size_t)(rnd() % 48);
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)rnd();
		/* half the time, bytes shaped like rows so that decoding gets
		 * deep: small field counts, valid-ish types, short lengths */
		if ((iter & 1) && n > 0) {
			buf[0] = (uint8_t)(rnd() % 18);
			for (size_t i = 1; i < n; i++) {
				uint64_t x = rnd();
				if (x % 3 == 0)
					buf[i] = (uint8_t)(x % 8);
				else if (x % 3 == 1)
					buf[i] = (uint8_t)((x >> 8) % 4);
			}
		}
		accepted += (size_t)decode_checked(buf, n);
	}
	/* the shaped half must reach the success path a fair number of times */
	assert_true(accepted > 1000);
}

static void test_mutated_valid_rows_decode_or_fail_cleanly(void **state)
{
	(void)state;
	fl_row r = {0};
	fl_row_add_string(&r, "mutation", 8);
	fl_row_add_int64(&r, 1234567);
	fl_row_add_double(&r, -2.75);
	fl_row_add_bool(&r, false);
	fl_row_add_timestamp(&r, -5);
	fl_row_add_bytes(&r, "zz", 2);
	uint8_t enc[128];
	size_t n = roundtrip(&r, enc, sizeof(enc));
	uint8_t m[128];
	for (size_t pos = 0; pos < n; pos++) {
		for (int v = 0; v < 256; v++) {
			memcpy(m, enc, n);
			m[pos] = (uint8_t)v;
			decode_checked(m, n);
		}
	}
}

/* ------------------------------------------------------------ row_copy */

static void test_row_copy_outlives_the_source(void **state)
{
	(void)state;
	char *src = strdup("ephemeral");
	assert_non_null(src);
	fl_row r = {0};
	fl_row_add_string(&r, src, strlen(src));
	fl_row_add_int64(&r, 7);
	uint8_t *buf = NULL;
	size_t cap = 0;
	fl_row out;
	assert_int_equal(row_copy(&r, &buf, &cap, &out), 0);
	assert_non_null(buf);
	assert_true(cap >= 1);
	memset(src, 'X', strlen(src));
	free(src);
	size_t len;
	const char *s = fl_row_string(&out, 0, &len);
	assert_int_equal(len, 9);
	assert_memory_equal(s, "ephemeral", 9);
	assert_true((const uint8_t *)s >= buf && (const uint8_t *)s < buf + cap);
	assert_true(fl_row_int64(&out, 1) == 7);
	free(buf);
}

static void test_row_copy_grows_and_reuses_its_buffer(void **state)
{
	(void)state;
	uint8_t *buf = NULL;
	size_t cap = 0;
	char text[5000];
	memset(text, 'q', sizeof(text));
	for (size_t len = 0; len < sizeof(text); len += 97) {
		fl_row r = {0}, out;
		fl_row_add_string(&r, text, len);
		fl_row_add_bool(&r, true);
		assert_int_equal(row_copy(&r, &buf, &cap, &out), 0);
		assert_rows_equal(&r, &out);
	}
	free(buf);
}

static void test_row_copy_of_a_row_that_lives_in_the_same_buffer(void **state)
{
	(void)state;
	uint8_t *buf = NULL;
	size_t cap = 0;
	fl_row acc, r = {0};
	fl_row_add_string(&r, "abc", 3);
	assert_int_equal(row_copy(&r, &buf, &cap, &acc), 0);
	/* build a longer row from acc's own strings and copy it back over acc */
	for (int i = 0; i < 20; i++) {
		fl_row next = acc;
		fl_row_add_string(&next, acc.values[0].u.s.ptr, acc.values[0].u.s.len);
		if (next.nfields > 8)
			next.nfields = 1;
		assert_int_equal(row_copy(&next, &buf, &cap, &acc), 0);
		for (uint32_t f = 0; f < acc.nfields; f++) {
			size_t len;
			const char *s = fl_row_string(&acc, f, &len);
			assert_int_equal(len, 3);
			assert_memory_equal(s, "abc", 3);
		}
	}
	/* in place: out == r */
	assert_int_equal(row_copy(&acc, &buf, &cap, &acc), 0);
	size_t len;
	assert_memory_equal(fl_row_string(&acc, 0, &len), "abc", 3);
	free(buf);
}

static void test_row_copy_rejects_oversize_and_bad_rows(void **state)
{
	(void)state;
	size_t big = ROW_MAX_ENCODED; /* with its header it is over the limit */
	char *p = malloc(big);
	assert_non_null(p);
	memset(p, 'b', big);
	fl_row r = {0}, out;
	fl_row_add_bytes(&r, p, big);
	uint8_t *buf = NULL;
	size_t cap = 0;
	assert_int_equal(row_copy(&r, &buf, &cap, &out), FL_ERANGE);
	assert_null(buf);
	r.values[0].u.s.len = ROW_MAX_ENCODED - 8; /* 1 + 1 + 4 + len: fits */
	assert_int_equal(row_copy(&r, &buf, &cap, &out), 0);
	assert_int_equal(out.values[0].u.s.len, ROW_MAX_ENCODED - 8);
	r.types[0] = 99;
	assert_int_equal(row_copy(&r, &buf, &cap, &out), FL_EINVAL);
	free(buf);
	free(p);
}

/* -------------------------------------------------------- fl_row_format */

static void expect_format(const fl_row *r, const char *want)
{
	char buf[512];
	size_t n = fl_row_format(r, buf, sizeof(buf));
	assert_string_equal(buf, want);
	assert_int_equal(n, strlen(want));
}

static void expect_double(double d, const char *want)
{
	fl_row r = {0};
	fl_row_add_double(&r, d);
	expect_format(&r, want);
}

static void test_format_prints_each_type_tab_separated(void **state)
{
	(void)state;
	fl_row r = {0};
	fl_row_add_string(&r, "hello world", 11);
	fl_row_add_int64(&r, -42);
	fl_row_add_double(&r, 0.5);
	fl_row_add_bool(&r, true);
	fl_row_add_bool(&r, false);
	fl_row_add_timestamp(&r, 1700000000123);
	fl_row_add_null(&r);
	fl_row_add_bytes(&r, "\x00\xab\xff\x10", 4);
	fl_row_add_int64(&r, INT64_MIN);
	fl_row_add_int64(&r, INT64_MAX);
	expect_format(&r, "hello world\t-42\t0.5\ttrue\tfalse\t1700000000123\tnull\t00abff10\t"
			  "-9223372036854775808\t9223372036854775807");
	fl_row e = {0};
	expect_format(&e, "");
	fl_row s = {0};
	fl_row_add_string(&s, "", 0);
	fl_row_add_string(&s, "", 0);
	expect_format(&s, "\t");
}

static void test_format_prints_shortest_round_trip_doubles(void **state)
{
	(void)state;
	expect_double(0.1, "0.1");
	expect_double(1.0 / 3.0, "0.3333333333333333");
	expect_double(3.0, "3");
	expect_double(-0.0, "-0");
	expect_double(100.0, "100");
	expect_double(-1234500.0, "-1234500");
	expect_double(1e16, "10000000000000000");
	expect_double(1e17, "1e+17");
	expect_double(123456789012345678.0, "1.2345678901234568e+17");
	expect_double(0.0001, "0.0001");
	expect_double(0.00001, "1e-05");
	expect_double(1e21, "1e+21");
	expect_double(1e-7, "1e-07");
	expect_double(5e-324, "5e-324");
	expect_double(DBL_MAX, "1.7976931348623157e+308");
	expect_double(0.1 + 0.2, "0.30000000000000004");
	expect_double(NAN, "NaN");
	expect_double(INFINITY, "Infinity");
	expect_double(-INFINITY, "-Infinity");
	/* every finite double prints text that reads back as itself */
	for (int i = 0; i < 20000; i++) {
		double d = bitsd(rnd());
		if (!isfinite(d))
			continue;
		fl_row r = {0};
		fl_row_add_double(&r, d);
		char buf[64];
		assert_true(fl_row_format(&r, buf, sizeof(buf)) < sizeof(buf));
		assert_true(strtod(buf, NULL) == d);
	}
}

static void test_format_with_cap_zero_writes_nothing_and_returns_length(void **state)
{
	(void)state;
	fl_row r = {0};
	fl_row_add_string(&r, "abc", 3);
	fl_row_add_int64(&r, 12);
	char guard = '#';
	assert_int_equal(fl_row_format(&r, &guard, 0), 6);
	assert_int_equal(guard, '#');
	assert_int_equal(fl_row_format(&r, NULL, 0), 6);
}

static void test_format_truncates_like_snprintf_at_every_cap(void **state)
{
	(void)state;
	fl_row r = {0};
	fl_row_add_string(&r, "key", 3);
	fl_row_add_double(&r, 2.25);
	fl_row_add_bytes(&r, "\x01\x02", 2);
	fl_row_add_null(&r);
	const char *full = "key\t2.25\t0102\tnull";
	size_t flen = strlen(full);
	for (size_t cap = 1; cap <= flen + 2; cap++) {
		char *buf = malloc(cap + 1);
		assert_non_null(buf);
		buf[cap] = '#';
		assert_int_equal(fl_row_format(&r, buf, cap), flen);
		size_t kept = cap - 1 < flen ? cap - 1 : flen;
		assert_int_equal(strlen(buf), kept);
		assert_memory_equal(buf, full, kept);
		assert_int_equal(buf[cap], '#');
		free(buf);
	}
}

/* Probe U19: a NULL string with a length is refused when added, and a row
 * built by hand with one is neither encoded nor dereferenced when printed. */
static void test_null_strings_with_a_length_are_refused_not_dereferenced(void **state)
{
	fl_row r = {0};
	assert_int_equal(fl_row_add_string(&r, NULL, 10), FL_EINVAL);
	assert_int_equal(fl_row_add_bytes(&r, NULL, 3), FL_EINVAL);
	assert_int_equal(r.nfields, 0);
	assert_int_equal(fl_row_add_string(&r, NULL, 0), 0); /* empty is fine */
	r.types[1] = FL_STRING;
	r.values[1].u.s.ptr = NULL;
	r.values[1].u.s.len = 10;
	r.nfields = 2;
	uint8_t buf[64];
	assert_int_equal(row_encoded_bound(&r), 0);
	assert_int_equal(row_encode(&r, buf, sizeof(buf)), 0);
	char text[64];
	fl_row_format(&r, text, sizeof(text));
	assert_string_equal(text, "\t(null)");
	char why[160];
	assert_int_equal(row_check(&r, why, sizeof(why)), FL_EINVAL);
	assert_non_null(strstr(why, "field 1 is a NULL string of 10 bytes"));
}

/* Probe U18: why a row cannot be sent is named, not mistaken for size. */
static void test_row_check_names_why_a_row_cannot_be_encoded(void **state)
{
	fl_row r = {0};
	char why[160];
	fl_row_add_int64(&r, 1);
	assert_int_equal(row_check(&r, why, sizeof(why)), 0);
	r.nfields = 1000;
	assert_int_equal(row_check(&r, why, sizeof(why)), FL_EINVAL);
	assert_non_null(strstr(why, "1000 fields"));
	r.nfields = 1;
	r.types[0] = 77;
	assert_int_equal(row_check(&r, why, sizeof(why)), FL_EINVAL);
	assert_non_null(strstr(why, "unknown type 77"));
	static char big[ROW_MAX_ENCODED];
	fl_row_clear(&r);
	fl_row_add_bytes(&r, big, sizeof(big));
	assert_int_equal(row_check(&r, why, sizeof(why)), FL_ERANGE);
	assert_non_null(strstr(why, "over the"));
}

static void test_patch_field_rewrites_a_numeric_field_as_encode_would(void **state)
{
	(void)state;
	/* (string, int64, double, int64): every value of field 1 and 3 either
	 * patches to exactly row_encode's bytes or leaves the buffer alone. */
	static const int64_t vals[] = {0,   1,	  -1,	 63,	   64,	     -64,    -65,
				       127, 128,  8191,	 8192,	   -8193,    1 << 20, INT64_MAX,
				       INT64_MIN, 300, -300, 1000000, 123456789};
	for (size_t a = 0; a < sizeof(vals) / sizeof(vals[0]); a++) {
		for (size_t b = 0; b < sizeof(vals) / sizeof(vals[0]); b++) {
			for (uint32_t f = 1; f <= 3; f += 2) {
				fl_row r = {0};
				fl_row_add_string(&r, "key", 3);
				fl_row_add_int64(&r, vals[a]);
				fl_row_add_double(&r, 2.5);
				fl_row_add_int64(&r, vals[a]);
				uint8_t buf[64], want[64];
				size_t n = row_encode(&r, buf, sizeof(buf));
				assert_true(n > 0);
				uint8_t before[64];
				memcpy(before, buf, n);
				r.values[f].u.i = vals[b];
				size_t wn = row_encode(&r, want, sizeof(want));
				if (row_patch_field(buf, n, &r, f)) {
					assert_int_equal(wn, n);
					assert_memory_equal(buf, want, n);
				} else {
					assert_true(wn != n);
					assert_memory_equal(buf, before, n);
				}
			}
		}
	}
	/* doubles always keep their length; other types are never patched */
	fl_row r = {0};
	fl_row_add_double(&r, 1.0);
	fl_row_add_string(&r, "x", 1);
	uint8_t buf[32], want[32];
	size_t n = row_encode(&r, buf, sizeof(buf));
	r.values[0].u.d = -7.25;
	assert_int_equal(row_patch_field(buf, n, &r, 0), 1);
	assert_int_equal(row_encode(&r, want, sizeof(want)), n);
	assert_memory_equal(buf, want, n);
	assert_int_equal(row_patch_field(buf, n, &r, 1), 0);
	assert_int_equal(row_patch_field(buf, n, &r, 2), 0);
	/* a type that does not match the bytes is refused */
	r.types[0] = FL_INT64;
	r.values[0].u.i = 1;
	assert_int_equal(row_patch_field(buf, n, &r, 0), 0);
	assert_memory_equal(buf, want, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_null_strings_with_a_length_are_refused_not_dereferenced),
	    cmocka_unit_test(test_row_check_names_why_a_row_cannot_be_encoded),
	    cmocka_unit_test(test_varint_roundtrips_at_every_length_boundary),
	    cmocka_unit_test(test_varint_get_rejects_eleven_bytes_overflow_and_overlong),
	    cmocka_unit_test(test_roundtrip_every_type_with_extremes),
	    cmocka_unit_test(test_zigzag_puts_minus64_to_63_in_one_byte),
	    cmocka_unit_test(test_roundtrip_keeps_negative_zero_and_nan),
	    cmocka_unit_test(test_every_nan_payload_encodes_to_the_same_bytes),
	    cmocka_unit_test(test_roundtrip_empty_strings_bytes_and_rows),
	    cmocka_unit_test(test_roundtrip_sixteen_fields_of_mixed_types),
	    cmocka_unit_test(test_encoding_matches_documented_bytes),
	    cmocka_unit_test(test_equal_rows_encode_to_equal_bytes),
	    cmocka_unit_test(test_encode_never_writes_past_cap_and_fails_when_short),
	    cmocka_unit_test(test_encode_refuses_rows_with_bad_shape),
	    cmocka_unit_test(test_decode_rejects_every_truncated_prefix),
	    cmocka_unit_test(test_decode_stops_at_the_row_end_of_a_longer_buffer),
	    cmocka_unit_test(test_decode_rejects_malformed_input),
	    cmocka_unit_test(test_decode_rejects_bad_varints_with_bytes_to_spare),
	    cmocka_unit_test(test_random_garbage_never_crashes_and_accepted_input_is_canonical),
	    cmocka_unit_test(test_mutated_valid_rows_decode_or_fail_cleanly),
	    cmocka_unit_test(test_patch_field_rewrites_a_numeric_field_as_encode_would),
	    cmocka_unit_test(test_row_copy_outlives_the_source),
	    cmocka_unit_test(test_row_copy_grows_and_reuses_its_buffer),
	    cmocka_unit_test(test_row_copy_of_a_row_that_lives_in_the_same_buffer),
	    cmocka_unit_test(test_row_copy_rejects_oversize_and_bad_rows),
	    cmocka_unit_test(test_format_prints_each_type_tab_separated),
	    cmocka_unit_test(test_format_prints_shortest_round_trip_doubles),
	    cmocka_unit_test(test_format_with_cap_zero_writes_nothing_and_returns_length),
	    cmocka_unit_test(test_format_truncates_like_snprintf_at_every_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
