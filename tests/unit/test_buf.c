/*
 * test_buf.c — runtime/common/buf.c: round trips of every field type, the
 * writer's cap and sticky error, and the reader against hostile input
 * (every truncation point, hostile counts and lengths, bad varints, embedded
 * NULs), always over exact-size heap copies so that ASan sees any over-read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/varint.h"

/* An exact-size heap copy: reading one byte past it is an ASan error. */
static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);
	assert_non_null(d);
	if (n)
		memcpy(d, p, n);
	return d;
}

static void assert_msg_has(const cm_rbuf *r, const char *needle)
{
	if (!strstr(cm_rbuf_errmsg(r), needle))
		fail_msg("error message '%s' lacks '%s'", cm_rbuf_errmsg(r), needle);
}

/* ---------------------------------------------------------- round trips */

static const uint64_t uvals[] = {0,
				 1,
				 127,
				 128,
				 300,
				 16383,
				 16384,
				 (1ull << 32) - 1,
				 1ull << 32,
				 (1ull << 63) - 1,
				 1ull << 63,
				 UINT64_MAX};
static const int64_t svals[] = {0,  -1,	       1,	 -64,	    63,	      -65,
				64, INT32_MIN, INT32_MAX, INT64_MIN, INT64_MAX, INT64_MIN + 1};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void test_roundtrip_of_every_field_type(void **state)
{
	(void)state;
	cm_wbuf w;
	cm_wbuf_init(&w, 1 << 20);
	const uint8_t blob[] = {0, 1, 2, 0, 255};
	cm_wbuf_u8(&w, 0);
	cm_wbuf_u8(&w, 255);
	cm_wbuf_u32le(&w, 0);
	cm_wbuf_u32le(&w, 0xdeadbeefu);
	cm_wbuf_u32le(&w, UINT32_MAX);
	cm_wbuf_u64le(&w, 0x0123456789abcdefull);
	cm_wbuf_u64le(&w, UINT64_MAX);
	for (size_t i = 0; i < NELEM(uvals); i++)
		cm_wbuf_uvarint(&w, uvals[i]);
	for (size_t i = 0; i < NELEM(svals); i++)
		cm_wbuf_svarint(&w, svals[i]);
	cm_wbuf_bytes(&w, NULL, 0);
	cm_wbuf_bytes(&w, blob, sizeof(blob));
	cm_wbuf_str(&w, NULL);
	cm_wbuf_str(&w, "");
	cm_wbuf_str(&w, "héllo, wörld");
	cm_wbuf_raw(&w, blob, sizeof(blob));
	cm_wbuf_raw(&w, NULL, 0);
	assert_int_equal(cm_wbuf_error(&w), 0);

	size_t len;
	uint8_t *msg = cm_wbuf_take(&w, &len);
	assert_non_null(msg);
	assert_int_equal(cm_wbuf_len(&w), 0);

	cm_rbuf r;
	cm_rbuf_init(&r, msg, len);
	assert_int_equal(cm_rbuf_u8(&r), 0);
	assert_int_equal(cm_rbuf_u8(&r), 255);
	assert_int_equal(cm_rbuf_u32le(&r), 0);
	assert_int_equal(cm_rbuf_u32le(&r), 0xdeadbeefu);
	assert_int_equal(cm_rbuf_u32le(&r), UINT32_MAX);
	assert_true(cm_rbuf_u64le(&r) == 0x0123456789abcdefull);
	assert_true(cm_rbuf_u64le(&r) == UINT64_MAX);
	for (size_t i = 0; i < NELEM(uvals); i++)
		assert_true(cm_rbuf_uvarint(&r) == uvals[i]);
	for (size_t i = 0; i < NELEM(svals); i++)
		assert_true(cm_rbuf_svarint(&r) == svals[i]);
	const uint8_t *p;
	size_t n;
	assert_int_equal(cm_rbuf_bytes(&r, 100, &p, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(cm_rbuf_bytes(&r, sizeof(blob), &p, &n), 0);
	assert_int_equal(n, sizeof(blob));
	assert_memory_equal(p, blob, sizeof(blob));
	assert_true(p > msg && p < msg + len); /* a view, not a copy */
	char *s;
	assert_int_equal(cm_rbuf_strdup(&r, 100, &s), 0);
	assert_null(s);
	assert_int_equal(cm_rbuf_strdup(&r, 100, &s), 0);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(cm_rbuf_strdup(&r, 100, &s), 0);
	assert_string_equal(s, "héllo, wörld");
	free(s);
	assert_int_equal(cm_rbuf_raw(&r, sizeof(blob), &p), 0);
	assert_memory_equal(p, blob, sizeof(blob));
	assert_int_equal(cm_rbuf_raw(&r, 0, &p), 0);
	assert_int_equal(cm_rbuf_end(&r), 0);
	assert_int_equal(cm_rbuf_error(&r), 0);
	assert_string_equal(cm_rbuf_errmsg(&r), "");
	free(msg);
	cm_wbuf_fini(&w);
}

static void test_encoding_matches_the_documented_bytes(void **state)
{
	(void)state;
	cm_wbuf w;
	cm_wbuf_init(&w, 64);
	cm_wbuf_u32le(&w, 0x04030201u);
	cm_wbuf_u64le(&w, 0x0c0b0a0908070605ull);
	cm_wbuf_uvarint(&w, 300);
	cm_wbuf_svarint(&w, -1);
	cm_wbuf_svarint(&w, 1);
	cm_wbuf_str(&w, NULL);
	cm_wbuf_str(&w, "");
	cm_wbuf_str(&w, "ab");
	cm_wbuf_bytes(&w, "ab", 2);
	const uint8_t want[] = {1,    2, 3, 4, 5,   6,	 7, 8, 9, 10, 11, 12, 0xac, 0x02,
				0x01, 2, 0, 1, 3,   'a', 'b', 2, 'a', 'b'};
	assert_int_equal(cm_wbuf_error(&w), 0);
	assert_int_equal(cm_wbuf_len(&w), sizeof(want));
	assert_memory_equal(cm_wbuf_data(&w), want, sizeof(want));
	cm_wbuf_fini(&w);
}

static void test_null_and_empty_strings_stay_distinct(void **state)
{
	(void)state;
	cm_wbuf w;
	cm_wbuf_init(&w, 16);
	cm_wbuf_str(&w, "");
	cm_wbuf_str(&w, NULL);
	cm_wbuf_str(&w, "");
	size_t len;
	uint8_t *msg = cm_wbuf_take(&w, &len);
	assert_non_null(msg);
	assert_int_equal(len, 3);
	cm_rbuf r;
	cm_rbuf_init(&r, msg, len);
	char *a, *b, *c;
	assert_int_equal(cm_rbuf_strdup(&r, 0, &a), 0);
	assert_int_equal(cm_rbuf_strdup(&r, 0, &b), 0);
	assert_int_equal(cm_rbuf_strdup(&r, 0, &c), 0);
	assert_int_equal(cm_rbuf_end(&r), 0);
	assert_non_null(a);
	assert_string_equal(a, "");
	assert_null(b);
	assert_non_null(c);
	assert_string_equal(c, "");
	free(a);
	free(c);
	free(msg);
	cm_wbuf_fini(&w);
}

static void test_take_hands_over_the_bytes_and_the_writer_is_reusable(void **state)
{
	(void)state;
	cm_wbuf w;
	cm_wbuf_init(&w, 8);
	size_t len = 99;
	uint8_t *empty = cm_wbuf_take(&w, &len);
	assert_non_null(empty); /* NULL means error only */
	assert_int_equal(len, 0);
	free(empty);
	cm_wbuf_u64le(&w, 7);
	uint8_t *a = cm_wbuf_take(&w, &len);
	assert_int_equal(len, 8);
	cm_wbuf_u64le(&w, 9); /* the full max is available again */
	uint8_t *b = cm_wbuf_take(&w, &len);
	assert_int_equal(len, 8);
	assert_int_equal(a[0], 7);
	assert_int_equal(b[0], 9);
	free(a);
	free(b);
	cm_wbuf_fini(&w);
	cm_wbuf_fini(&w); /* twice is fine */
}

static void test_writer_grows_across_many_fields(void **state)
{
	(void)state;
	cm_wbuf w;
	cm_wbuf_init(&w, SIZE_MAX);
	for (uint32_t i = 0; i < 100000; i++) {
		cm_wbuf_u32le(&w, i);
		cm_wbuf_uvarint(&w, (uint64_t)i * 977);
	}
	assert_int_equal(cm_wbuf_error(&w), 0);
	cm_rbuf r;
	cm_rbuf_init(&r, cm_wbuf_data(&w), cm_wbuf_len(&w));
	for (uint32_t i = 0; i < 100000; i++) {
		assert_int_equal(cm_rbuf_u32le(&r), i);
		assert_true(cm_rbuf_uvarint(&r) == (uint64_t)i * 977);
	}
	assert_int_equal(cm_rbuf_end(&r), 0);
	cm_wbuf_fini(&w);
}

/* ------------------------------------------------------------ writer cap */

static void test_writer_cap_is_a_sticky_erange(void **state)
{
	(void)state;
	cm_wbuf w;
	cm_wbuf_init(&w, 12);
	cm_wbuf_u64le(&w, 1);
	cm_wbuf_u32le(&w, 2); /* exactly at the cap */
	assert_int_equal(cm_wbuf_error(&w), 0);
	assert_int_equal(cm_wbuf_len(&w), 12);
	cm_wbuf_u8(&w, 3);
	assert_int_equal(cm_wbuf_error(&w), FL_ERANGE);
	assert_int_equal(cm_wbuf_len(&w), 12);
	/* sticky: nothing after the failure is written, even what would fit */
	cm_wbuf_raw(&w, NULL, 0);
	cm_wbuf_str(&w, NULL);
	assert_int_equal(cm_wbuf_len(&w), 12);
	size_t len = 5;
	assert_null(cm_wbuf_take(&w, &len));
	assert_int_equal(len, 0);
	assert_int_equal(cm_wbuf_error(&w), FL_ERANGE);
	cm_wbuf_fini(&w);
}

static void test_writer_refuses_each_type_over_the_cap(void **state)
{
	(void)state;
	for (int kind = 0; kind < 8; kind++) {
		cm_wbuf w;
		cm_wbuf_init(&w, 3);
		cm_wbuf_u8(&w, 1);
		switch (kind) {
		case 0:
			cm_wbuf_u32le(&w, 1);
			break;
		case 1:
			cm_wbuf_u64le(&w, 1);
			break;
		case 2:
			cm_wbuf_uvarint(&w, UINT64_MAX);
			break;
		case 3:
			cm_wbuf_svarint(&w, INT64_MIN);
			break;
		case 4:
			cm_wbuf_bytes(&w, "abcd", 4);
			break;
		case 5:
			cm_wbuf_str(&w, "abc");
			break;
		case 6:
			cm_wbuf_raw(&w, "abc", 3);
			break;
		case 7:
			cm_wbuf_bytes(&w, "ab", 2); /* prefix + 2 = 3 > 2 left */
			break;
		}
		assert_int_equal(cm_wbuf_error(&w), FL_ERANGE);
		/* a failed field leaves nothing behind, not even its length */
		assert_int_equal(cm_wbuf_len(&w), 1);
		cm_wbuf_fini(&w);
	}
	cm_wbuf w;
	cm_wbuf_init(&w, 0);
	cm_wbuf_u8(&w, 1);
	assert_int_equal(cm_wbuf_error(&w), FL_ERANGE);
	cm_wbuf_fini(&w);
}

/* ------------------------------------------------------------ truncation */

enum field {
	F_U8,
	F_U32,
	F_U64,
	F_UVAR,
	F_SVAR,
	F_BYTES,
	F_STR,
	F_RAW,
	F_COUNT,
	F_ELEM1,
	F_ELEM2,
	F_NFIELDS
};

/* What the message says for a cut inside each field. A cut before a length
 * prefix says "truncated bytes length" / "truncated string length", which
 * contain these too. */
static const char *const field_what[F_NFIELDS] = {
    "truncated u8",	     "truncated u32",	"truncated u64",     "truncated varint",
    "truncated svarint", "truncated bytes", "truncated string", "truncated raw bytes",
    "truncated count",   "truncated varint", "truncated varint"};

/* Decodes the message of build_message; returns the reader's error. */
static int decode_message(cm_rbuf *r)
{
	const uint8_t *p;
	size_t n;
	char *s = NULL;
	(void)cm_rbuf_u8(r);
	(void)cm_rbuf_u32le(r);
	(void)cm_rbuf_u64le(r);
	(void)cm_rbuf_uvarint(r);
	(void)cm_rbuf_svarint(r);
	(void)cm_rbuf_bytes(r, 64, &p, &n);
	(void)cm_rbuf_strdup(r, 64, &s);
	free(s);
	(void)cm_rbuf_raw(r, 4, &p);
	size_t cnt = cm_rbuf_count(r, 16, 1);
	for (size_t i = 0; i < cnt; i++)
		(void)cm_rbuf_uvarint(r);
	return cm_rbuf_end(r);
}

static void test_every_truncation_point_fails_cleanly_with_its_offset(void **state)
{
	(void)state;
	cm_wbuf w;
	cm_wbuf_init(&w, 256);
	size_t start[F_NFIELDS + 1];
	start[F_U8] = cm_wbuf_len(&w);
	cm_wbuf_u8(&w, 7);
	start[F_U32] = cm_wbuf_len(&w);
	cm_wbuf_u32le(&w, 0x11223344u);
	start[F_U64] = cm_wbuf_len(&w);
	cm_wbuf_u64le(&w, 42);
	start[F_UVAR] = cm_wbuf_len(&w);
	cm_wbuf_uvarint(&w, 1ull << 40);
	start[F_SVAR] = cm_wbuf_len(&w);
	cm_wbuf_svarint(&w, -300000);
	start[F_BYTES] = cm_wbuf_len(&w);
	cm_wbuf_bytes(&w, "xyz", 3);
	start[F_STR] = cm_wbuf_len(&w);
	cm_wbuf_str(&w, "hello");
	start[F_RAW] = cm_wbuf_len(&w);
	cm_wbuf_raw(&w, "RAW!", 4);
	start[F_COUNT] = cm_wbuf_len(&w);
	cm_wbuf_uvarint(&w, 2);
	start[F_ELEM1] = cm_wbuf_len(&w);
	cm_wbuf_uvarint(&w, 1000);
	start[F_ELEM2] = cm_wbuf_len(&w);
	cm_wbuf_uvarint(&w, 2000);
	start[F_NFIELDS] = cm_wbuf_len(&w);
	assert_int_equal(cm_wbuf_error(&w), 0);
	size_t full = cm_wbuf_len(&w);

	cm_rbuf r;
	uint8_t *whole = dup_exact(cm_wbuf_data(&w), full);
	cm_rbuf_init(&r, whole, full);
	assert_int_equal(decode_message(&r), 0);
	free(whole);

	for (size_t cut = 0; cut < full; cut++) {
		uint8_t *p = dup_exact(cm_wbuf_data(&w), cut);
		cm_rbuf_init(&r, p, cut);
		assert_int_equal(decode_message(&r), FL_EPROTO);
		/* the field that straddles the cut */
		int f = 0;
		while (f + 1 < F_NFIELDS && start[f + 1] <= cut)
			f++;
		if (cut > start[F_COUNT] && cut - start[F_COUNT] - 1 < 2) {
			/* The count is whole but fewer bytes remain than its two
			 * elements need at least: refused before any element. */
			f = F_COUNT;
			assert_msg_has(&r, "count 2 of elements");
		} else {
			assert_msg_has(&r, field_what[f]);
		}
		char at[48];
		snprintf(at, sizeof(at), "at byte %zu", start[f]);
		assert_msg_has(&r, at);
		free(p);
	}
	cm_wbuf_fini(&w);
}

static void test_reads_after_an_error_touch_no_memory(void **state)
{
	(void)state;
	uint8_t *p = malloc(32);
	assert_non_null(p);
	memset(p, 0x05, 32);
	cm_rbuf r;
	cm_rbuf_init(&r, p, 32);
	assert_int_equal(cm_rbuf_fail(&r, "bad type %d at byte %zu", 9, cm_rbuf_offset(&r)),
			 FL_EPROTO);
	free(p); /* ASan reports any read from here on */
	const uint8_t *v = (const uint8_t *)"x";
	size_t n = 77;
	char *s = (char *)"x";
	assert_int_equal(cm_rbuf_u8(&r), 0);
	assert_int_equal(cm_rbuf_u32le(&r), 0);
	assert_true(cm_rbuf_u64le(&r) == 0);
	assert_true(cm_rbuf_uvarint(&r) == 0);
	assert_true(cm_rbuf_svarint(&r) == 0);
	assert_int_equal(cm_rbuf_bytes(&r, 10, &v, &n), FL_EPROTO);
	assert_null(v);
	assert_int_equal(n, 0);
	assert_int_equal(cm_rbuf_raw(&r, 1, &v), FL_EPROTO);
	assert_null(v);
	assert_int_equal(cm_rbuf_strdup(&r, 10, &s), FL_EPROTO);
	assert_null(s);
	assert_int_equal(cm_rbuf_count(&r, 10, 1), 0);
	assert_int_equal(cm_rbuf_end(&r), FL_EPROTO);
	assert_int_equal(cm_rbuf_offset(&r), 0);
	/* the first cause wins */
	cm_rbuf_fail(&r, "second");
	assert_string_equal(cm_rbuf_errmsg(&r), "bad type 9 at byte 0");
}

static void test_empty_and_null_input(void **state)
{
	(void)state;
	cm_rbuf r;
	cm_rbuf_init(&r, NULL, 0);
	assert_int_equal(cm_rbuf_end(&r), 0);
	assert_int_equal(cm_rbuf_remaining(&r), 0);
	const uint8_t *v;
	assert_int_equal(cm_rbuf_raw(&r, 0, &v), 0);
	assert_int_equal(cm_rbuf_u8(&r), 0);
	assert_int_equal(cm_rbuf_error(&r), FL_EPROTO);
	assert_string_equal(cm_rbuf_errmsg(&r),
			    "truncated u8 at byte 0 (1 bytes needed, 0 left)");
}

/* -------------------------------------------------------- hostile input */

static void test_hostile_counts_are_refused_before_any_allocation(void **state)
{
	(void)state;
	uint8_t buf[32];
	memset(buf, 0, sizeof(buf));
	cm_rbuf r;

	/* over max */
	size_t n = cm_varint_put(buf, sizeof(buf), 1000000);
	cm_rbuf_init(&r, buf, n);
	assert_int_equal(cm_rbuf_count(&r, 4096, 1), 0);
	assert_int_equal(cm_rbuf_error(&r), FL_EPROTO);
	assert_string_equal(cm_rbuf_errmsg(&r), "count 1000000 exceeds the 4096 allowed at byte 0");

	/* a count after 12 bytes of other fields names its own offset */
	uint8_t msg[40] = {0};
	size_t k = 12 + cm_varint_put(msg + 12, 28, UINT64_MAX);
	cm_rbuf_init(&r, msg, k);
	(void)cm_rbuf_u64le(&r);
	(void)cm_rbuf_u32le(&r);
	assert_int_equal(cm_rbuf_count(&r, 4096, 0), 0);
	assert_string_equal(cm_rbuf_errmsg(&r),
			    "count 18446744073709551615 exceeds the 4096 allowed at byte 12");

	/* within max, but the elements cannot all be there */
	buf[0] = 100;
	cm_rbuf_init(&r, buf, 21); /* 20 bytes after the count */
	assert_int_equal(cm_rbuf_count(&r, 4096, 8), 0);
	assert_string_equal(cm_rbuf_errmsg(&r), "count 100 of elements of at least 8 bytes does not "
						"fit in the 20 bytes left at byte 0");

	/* exactly enough room is accepted */
	buf[0] = 5;
	cm_rbuf_init(&r, buf, 21);
	assert_int_equal(cm_rbuf_count(&r, 5, 4), 5);
	assert_int_equal(cm_rbuf_error(&r), 0);
	cm_rbuf_init(&r, buf, 20);
	assert_int_equal(cm_rbuf_count(&r, 5, 4), 0);
	assert_int_equal(cm_rbuf_error(&r), FL_EPROTO);

	/* a huge count with a huge element size cannot overflow the check */
	assert_int_equal(cm_varint_put(buf, sizeof(buf), UINT64_MAX / 2), 9);
	cm_rbuf_init(&r, buf, sizeof(buf));
	assert_int_equal(cm_rbuf_count(&r, SIZE_MAX, SIZE_MAX / 2), 0);
	assert_int_equal(cm_rbuf_error(&r), FL_EPROTO);
}

static void test_hostile_lengths_of_bytes_and_strings(void **state)
{
	(void)state;
	uint8_t buf[16] = {0};
	cm_rbuf r;
	const uint8_t *p;
	size_t len;
	char *s;

	/* a length far past the end */
	size_t n = cm_varint_put(buf, sizeof(buf), UINT64_MAX);
	cm_rbuf_init(&r, buf, n);
	assert_int_equal(cm_rbuf_bytes(&r, SIZE_MAX, &p, &len), FL_EPROTO);
	assert_msg_has(&r, "truncated bytes at byte 0");
	cm_rbuf_init(&r, buf, n);
	assert_int_equal(cm_rbuf_strdup(&r, SIZE_MAX, &s), FL_EPROTO);
	assert_null(s);
	assert_msg_has(&r, "truncated string at byte 0");

	/* a length over the caller's max, even though the bytes are there */
	buf[0] = 6;
	memcpy(buf + 1, "abcdef", 6);
	cm_rbuf_init(&r, buf, 7);
	assert_int_equal(cm_rbuf_bytes(&r, 5, &p, &len), FL_EPROTO);
	assert_string_equal(cm_rbuf_errmsg(&r), "bytes of length 6 exceed the 5 allowed at byte 0");
	cm_rbuf_init(&r, buf, 7);
	assert_int_equal(cm_rbuf_strdup(&r, 4, &s), FL_EPROTO);
	assert_string_equal(cm_rbuf_errmsg(&r), "string of 5 bytes exceeds the 4 allowed at byte 0");
	cm_rbuf_init(&r, buf, 7);
	assert_int_equal(cm_rbuf_strdup(&r, 5, &s), 0);
	assert_string_equal(s, "abcde");
	free(s);
}

static void test_strings_with_an_embedded_nul_are_refused(void **state)
{
	(void)state;
	cm_wbuf w;
	cm_wbuf_init(&w, 64);
	cm_wbuf_u8(&w, 1);
	cm_wbuf_uvarint(&w, 4); /* a string of 3 bytes ... */
	cm_wbuf_raw(&w, "a\0b", 3);
	cm_rbuf r;
	cm_rbuf_init(&r, cm_wbuf_data(&w), cm_wbuf_len(&w));
	(void)cm_rbuf_u8(&r);
	char *s = (char *)"x";
	assert_int_equal(cm_rbuf_strdup(&r, 64, &s), FL_EPROTO);
	assert_null(s);
	assert_string_equal(cm_rbuf_errmsg(&r), "string at byte 1 has an embedded NUL at byte 3");
	/* the same bytes are fine as a byte string */
	cm_rbuf_init(&r, cm_wbuf_data(&w), cm_wbuf_len(&w));
	(void)cm_rbuf_u8(&r);
	(void)cm_rbuf_uvarint(&r);
	const uint8_t *p;
	assert_int_equal(cm_rbuf_raw(&r, 3, &p), 0);
	assert_int_equal(cm_rbuf_end(&r), 0);
	cm_wbuf_fini(&w);
}

static void test_bad_varints_name_their_offset(void **state)
{
	(void)state;
	cm_rbuf r;
	uint8_t eleven[14] = {0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1};
	cm_rbuf_init(&r, eleven, sizeof(eleven));
	(void)cm_rbuf_raw(&r, 3, &(const uint8_t *){NULL});
	(void)cm_rbuf_uvarint(&r);
	assert_msg_has(&r, "varint overflow at byte 3");

	uint8_t over[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
	uint8_t *p = dup_exact(over, sizeof(over));
	cm_rbuf_init(&r, p, sizeof(over));
	(void)cm_rbuf_svarint(&r);
	assert_string_equal(cm_rbuf_errmsg(&r), "svarint overflow at byte 0");
	free(p);

	uint8_t overlong[3] = {9, 0x80, 0x00};
	cm_rbuf_init(&r, overlong, sizeof(overlong));
	(void)cm_rbuf_u8(&r);
	(void)cm_rbuf_count(&r, 10, 0);
	assert_string_equal(cm_rbuf_errmsg(&r), "non-minimal count at byte 1");

	uint8_t trunc[3] = {0x80, 0x80, 0x80};
	p = dup_exact(trunc, sizeof(trunc));
	cm_rbuf_init(&r, p, sizeof(trunc));
	(void)cm_rbuf_uvarint(&r);
	assert_string_equal(cm_rbuf_errmsg(&r), "truncated varint at byte 0");
	assert_int_equal(cm_rbuf_offset(&r), 0);
	free(p);
}

static void test_trailing_bytes_are_an_error(void **state)
{
	(void)state;
	uint8_t buf[6] = {1, 2, 3, 4, 5, 6};
	cm_rbuf r;
	cm_rbuf_init(&r, buf, sizeof(buf));
	assert_int_equal(cm_rbuf_u32le(&r), 0x04030201u);
	assert_int_equal(cm_rbuf_remaining(&r), 2);
	assert_int_equal(cm_rbuf_end(&r), FL_EPROTO);
	assert_string_equal(cm_rbuf_errmsg(&r), "2 trailing bytes at byte 4");
}

/* Random bytes decoded as the test message: never a crash or an over-read,
 * and an error always comes with a message. */
static void test_random_input_fails_cleanly(void **state)
{
	(void)state;
	uint64_t x = 0x9E3779B97F4A7C15ull;
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = (size_t)(iter % 48);
		uint8_t *p = malloc(n ? n : 1);
		assert_non_null(p);
		for (size_t i = 0; i < n; i++) {
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
			p[i] = (uint8_t)((x * 0x2545F4914F6CDD1Dull) >> 56);
		}
		cm_rbuf r;
		cm_rbuf_init(&r, p, n);
		int rc = decode_message(&r);
		if (rc != 0)
			assert_true(cm_rbuf_errmsg(&r)[0] != '\0');
		free(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip_of_every_field_type),
	    cmocka_unit_test(test_encoding_matches_the_documented_bytes),
	    cmocka_unit_test(test_null_and_empty_strings_stay_distinct),
	    cmocka_unit_test(test_take_hands_over_the_bytes_and_the_writer_is_reusable),
	    cmocka_unit_test(test_writer_grows_across_many_fields),
	    cmocka_unit_test(test_writer_cap_is_a_sticky_erange),
	    cmocka_unit_test(test_writer_refuses_each_type_over_the_cap),
	    cmocka_unit_test(test_every_truncation_point_fails_cleanly_with_its_offset),
	    cmocka_unit_test(test_reads_after_an_error_touch_no_memory),
	    cmocka_unit_test(test_empty_and_null_input),
	    cmocka_unit_test(test_hostile_counts_are_refused_before_any_allocation),
	    cmocka_unit_test(test_hostile_lengths_of_bytes_and_strings),
	    cmocka_unit_test(test_strings_with_an_embedded_nul_are_refused),
	    cmocka_unit_test(test_bad_varints_name_their_offset),
	    cmocka_unit_test(test_trailing_bytes_are_an_error),
	    cmocka_unit_test(test_random_input_fails_cleanly),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
