/*
 * test_auth.c — runtime/common/auth.c: RFC 4231 HMAC-SHA256 vectors, MACs
 * over split parts, secrets from strings and files (newline stripping, empty,
 * too big, FIFO and directory refused without blocking, permission warning),
 * constant-time comparison and getrandom.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/clock.h"

/* ------------------------------------------------------------ helpers */

static void unhex(const char *hex, uint8_t *out, size_t n)
{
	assert_int_equal(strlen(hex), 2 * n);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void mac_of(const cm_secret *s, const void *data, size_t len, uint8_t out[CM_MAC_LEN])
{
	const void *parts[1] = {data};
	size_t lens[1] = {len};
	assert_int_equal(cm_hmac(s, parts, lens, 1, out), 0);
}

/* A scratch directory per test run, removed at the end. */
static char g_dir[64];

static int make_dir(void **state)
{
	(void)state;
	snprintf(g_dir, sizeof(g_dir), "/tmp/flinc-test-auth-XXXXXX");
	return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void path_in_dir(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", g_dir, name);
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	unlink(path); /* a file left read-only by an earlier step */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, mode), 0); /* whatever the umask */
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* Captures what is written to stderr between begin and end. */
struct capture {
	int saved;
	char path[96];
};

static void capture_begin(struct capture *c)
{
	path_in_dir(c->path, sizeof(c->path), "stderr.txt");
	int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	c->saved = dup(2);
	dup2(fd, 2);
	close(fd);
}

static char *capture_end(struct capture *c)
{
	dup2(c->saved, 2);
	close(c->saved);
	FILE *f = fopen(c->path, "r");
	assert_non_null(f);
	static char buf[4096];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* ------------------------------------------------------- RFC 4231 vectors */

struct vector {
	const char *key_hex; /* NULL: key_byte repeated key_len times */
	uint8_t key_byte;
	size_t key_len;
	const char *data;
	size_t data_len; /* 0: strlen(data) */
	uint8_t data_byte;
	const char *mac_hex;
	size_t mac_len;
};

static const struct vector rfc4231[] = {
    /* 1 */ {NULL, 0x0b, 20, "Hi There", 0, 0,
	     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", 32},
    /* 2 */
    {"4a656665", 0, 4, "what do ya want for nothing?", 0, 0,
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", 32},
    /* 3 */
    {NULL, 0xaa, 20, NULL, 50, 0xdd,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", 32},
    /* 4 */
    {"0102030405060708090a0b0c0d0e0f10111213141516171819", 0, 25, NULL, 50, 0xcd,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", 32},
    /* 5: the RFC gives the first 128 bits only */
    {NULL, 0x0c, 20, "Test With Truncation", 0, 0, "a3b6167473100ee06e0c796c2955552b", 16},
    /* 6: a key longer than the block */
    {NULL, 0xaa, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 0, 0,
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", 32},
    /* 7 */
    {NULL, 0xaa, 131,
     "This is a test using a larger than block-size key and a larger than block-size "
     "data. The key needs to be hashed before being used by the HMAC algorithm.",
     0, 0, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", 32},
};

static void vector_key(const struct vector *v, char *key)
{
	if (v->key_hex)
		unhex(v->key_hex, (uint8_t *)key, v->key_len);
	else
		memset(key, v->key_byte, v->key_len);
	key[v->key_len] = '\0'; /* no vector key contains a NUL byte */
}

static const char *vector_data(const struct vector *v, char *buf, size_t *len)
{
	if (v->data) {
		*len = strlen(v->data);
		return v->data;
	}
	memset(buf, v->data_byte, v->data_len);
	*len = v->data_len;
	return buf;
}

static void test_rfc4231_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rfc4231) / sizeof(rfc4231[0]); i++) {
		const struct vector *v = &rfc4231[i];
		char key[256], dbuf[64];
		vector_key(v, key);
		cm_secret s;
		cm_err err;
		cm_err_clear(&err);
		assert_int_equal(cm_secret_from_string(&s, key, &err), 0);
		assert_true(s.set);
		assert_int_equal(s.len, v->key_len > 64 ? 32 : v->key_len);
		size_t dlen;
		const char *data = vector_data(v, dbuf, &dlen);
		uint8_t mac[CM_MAC_LEN], want[CM_MAC_LEN];
		mac_of(&s, data, dlen, mac);
		unhex(v->mac_hex, want, v->mac_len);
		if (memcmp(mac, want, v->mac_len) != 0)
			fail_msg("RFC 4231 test case %zu: wrong MAC", i + 1);
	}
}

static void test_a_64_byte_key_is_kept_and_a_65_byte_key_hashed(void **state)
{
	(void)state;
	char k64[65], k65[66];
	memset(k64, 'k', 64);
	k64[64] = '\0';
	memset(k65, 'k', 65);
	k65[65] = '\0';
	cm_secret s;
	assert_int_equal(cm_secret_from_string(&s, k64, NULL), 0);
	assert_int_equal(s.len, 64);
	assert_memory_equal(s.key, k64, 64);
	assert_int_equal(cm_secret_from_string(&s, k65, NULL), 0);
	assert_int_equal(s.len, 32);
	/* SHA-256("k" x 65), as HMAC would use it */
	uint8_t mac_hashed[CM_MAC_LEN], mac_raw[CM_MAC_LEN];
	mac_of(&s, "x", 1, mac_hashed);
	cm_secret raw = {.len = 32, .set = true};
	memcpy(raw.key, s.key, 32);
	mac_of(&raw, "x", 1, mac_raw);
	assert_memory_equal(mac_hashed, mac_raw, CM_MAC_LEN);
	cm_secret_clear(&s);
	assert_false(s.set);
	assert_int_equal(s.len, 0);
}

static void test_parts_split_at_every_position_give_the_same_mac(void **state)
{
	(void)state;
	const struct vector *v = &rfc4231[6];
	char key[256];
	vector_key(v, key);
	cm_secret s;
	assert_int_equal(cm_secret_from_string(&s, key, NULL), 0);
	const char *data = v->data;
	size_t n = strlen(data);
	uint8_t want[CM_MAC_LEN], mac[CM_MAC_LEN];
	unhex(v->mac_hex, want, CM_MAC_LEN);
	for (size_t i = 0; i <= n; i++) {
		for (size_t j = i; j <= n; j++) {
			/* empty parts may be NULL */
			const void *parts[3] = {i ? data : NULL, j > i ? data + i : NULL,
						j < n ? data + j : NULL};
			size_t lens[3] = {i, j - i, n - j};
			assert_int_equal(cm_hmac(&s, parts, lens, 3, mac), 0);
			if (memcmp(mac, want, CM_MAC_LEN) != 0)
				fail_msg("split at %zu and %zu: wrong MAC", i, j);
		}
	}
	/* no parts at all: the MAC of the empty message */
	uint8_t empty1[CM_MAC_LEN], empty2[CM_MAC_LEN];
	assert_int_equal(cm_hmac(&s, NULL, NULL, 0, empty1), 0);
	mac_of(&s, "", 0, empty2);
	assert_memory_equal(empty1, empty2, CM_MAC_LEN);
}

static void test_hmac_refuses_an_unset_secret_and_null_parts(void **state)
{
	(void)state;
	cm_secret s;
	memset(&s, 0, sizeof(s));
	uint8_t mac[CM_MAC_LEN];
	memset(mac, 0x55, sizeof(mac));
	const void *parts[1] = {"abc"};
	size_t lens[1] = {3};
	assert_int_equal(cm_hmac(&s, parts, lens, 1, mac), FL_EINVAL);
	uint8_t zero[CM_MAC_LEN] = {0};
	assert_memory_equal(mac, zero, CM_MAC_LEN);
	assert_int_equal(cm_hmac(NULL, parts, lens, 1, mac), FL_EINVAL);
	assert_int_equal(cm_secret_from_string(&s, "key", NULL), 0);
	parts[0] = NULL;
	assert_int_equal(cm_hmac(&s, parts, lens, 1, mac), FL_EINVAL);
}

static void test_secret_from_string_refuses_null_and_empty(void **state)
{
	(void)state;
	cm_secret s;
	cm_err err;
	cm_err_clear(&err);
	assert_int_equal(cm_secret_from_string(&s, "", &err), FL_EINVAL);
	assert_false(s.set);
	assert_string_equal(err.msg, "the secret is empty");
	cm_err_clear(&err);
	assert_int_equal(cm_secret_from_string(&s, NULL, &err), FL_EINVAL);
	assert_false(s.set);
	/* a string is taken as it is: a newline stays */
	cm_secret a, b;
	assert_int_equal(cm_secret_from_string(&a, "key\n", NULL), 0);
	assert_int_equal(cm_secret_from_string(&b, "key", NULL), 0);
	assert_int_equal(a.len, 4);
	assert_int_equal(b.len, 3);
}

/* --------------------------------------------------------------- files */

/* Loads path and returns the MAC of "m" under it (asserting success). */
static void file_mac(const char *path, uint8_t mac[CM_MAC_LEN])
{
	cm_secret s;
	cm_err err;
	cm_err_clear(&err);
	int rc = cm_secret_from_file(&s, path, &err);
	if (rc != 0)
		fail_msg("loading %s: %s", path, err.msg);
	mac_of(&s, "m", 1, mac);
}

static void string_mac(const char *key, uint8_t mac[CM_MAC_LEN])
{
	cm_secret s;
	assert_int_equal(cm_secret_from_string(&s, key, NULL), 0);
	mac_of(&s, "m", 1, mac);
}

static void test_secret_file_strips_one_trailing_newline(void **state)
{
	(void)state;
	char p[96];
	uint8_t want[CM_MAC_LEN], got[CM_MAC_LEN];
	string_mac("s3cret", want);
	static const char *const forms[] = {"s3cret", "s3cret\n", "s3cret\r\n"};
	for (size_t i = 0; i < 3; i++) {
		path_in_dir(p, sizeof(p), "secret");
		write_file(p, forms[i], strlen(forms[i]), 0600);
		file_mac(p, got);
		assert_memory_equal(got, want, CM_MAC_LEN);
	}
	/* only one: a second newline is part of the secret */
	write_file(p, "s3cret\n\n", 8, 0600);
	file_mac(p, got);
	string_mac("s3cret\n", want);
	assert_memory_equal(got, want, CM_MAC_LEN);
	/* a lone \r is not a newline */
	write_file(p, "s3cret\r", 7, 0600);
	file_mac(p, got);
	string_mac("s3cret\r", want);
	assert_memory_equal(got, want, CM_MAC_LEN);
}

static void test_secret_file_of_any_bytes_and_long_keys(void **state)
{
	(void)state;
	/* RFC 4231 case 6 from a file: a 131-byte key with no newline */
	const struct vector *v = &rfc4231[5];
	uint8_t key[131];
	memset(key, v->key_byte, sizeof(key));
	char p[96];
	path_in_dir(p, sizeof(p), "long");
	write_file(p, key, sizeof(key), 0400);
	cm_secret s;
	assert_int_equal(cm_secret_from_file(&s, p, NULL), 0);
	uint8_t mac[CM_MAC_LEN], want[CM_MAC_LEN];
	mac_of(&s, v->data, strlen(v->data), mac);
	unhex(v->mac_hex, want, CM_MAC_LEN);
	assert_memory_equal(mac, want, CM_MAC_LEN);

	/* exactly the cap is accepted; binary bytes (NUL included) are kept */
	uint8_t big[CM_SECRET_FILE_MAX];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	write_file(p, big, sizeof(big), 0600);
	assert_int_equal(cm_secret_from_file(&s, p, NULL), 0);
	assert_int_equal(s.len, 32);
}

static void test_secret_file_refuses_empty_and_too_big(void **state)
{
	(void)state;
	char p[96];
	cm_secret s;
	cm_err err;
	static const char *const empties[] = {"", "\n", "\r\n"};
	for (size_t i = 0; i < 3; i++) {
		path_in_dir(p, sizeof(p), "empty");
		write_file(p, empties[i], strlen(empties[i]), 0600);
		cm_err_clear(&err);
		assert_int_equal(cm_secret_from_file(&s, p, &err), FL_EINVAL);
		assert_false(s.set);
		assert_non_null(strstr(err.msg, "is empty"));
		assert_non_null(strstr(err.msg, p));
	}

	static uint8_t big[CM_SECRET_FILE_MAX + 1];
	memset(big, 'x', sizeof(big));
	path_in_dir(p, sizeof(p), "big");
	write_file(p, big, sizeof(big), 0600);
	cm_err_clear(&err);
	assert_int_equal(cm_secret_from_file(&s, p, &err), FL_ERANGE);
	assert_false(s.set);
	assert_non_null(strstr(err.msg, p));
	assert_non_null(strstr(err.msg, "4096"));

	path_in_dir(p, sizeof(p), "missing");
	cm_err_clear(&err);
	assert_int_equal(cm_secret_from_file(&s, p, &err), FL_ENOENT);
	assert_non_null(strstr(err.msg, p));
	assert_int_equal(cm_secret_from_file(&s, NULL, NULL), FL_EINVAL);
}

static void test_secret_file_refuses_fifo_and_directory_without_blocking(void **state)
{
	(void)state;
	char p[96];
	cm_secret s;
	cm_err err;
	/* A FIFO with no writer: a blocking open would wait forever; the
	 * alarm turns that into a failure instead of a hang. */
	path_in_dir(p, sizeof(p), "fifo");
	assert_int_equal(mkfifo(p, 0600), 0);
	alarm(30);
	int64_t t0 = cm_now_ms();
	cm_err_clear(&err);
	assert_int_equal(cm_secret_from_file(&s, p, &err), FL_EINVAL);
	alarm(0);
	assert_true(cm_now_ms() - t0 < 30000);
	assert_false(s.set);
	assert_non_null(strstr(err.msg, "not a regular file"));
	assert_non_null(strstr(err.msg, p));

	cm_err_clear(&err);
	assert_int_equal(cm_secret_from_file(&s, g_dir, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "not a regular file"));

	/* a character device is not a secret either */
	cm_err_clear(&err);
	assert_int_equal(cm_secret_from_file(&s, "/dev/zero", &err), FL_EINVAL);
}

static void test_secret_file_readable_by_others_is_accepted_with_a_warning(void **state)
{
	(void)state;
	char p[96];
	path_in_dir(p, sizeof(p), "open-secret");
	write_file(p, "shh\n", 4, 0644);
	cm_secret s;
	struct capture c;
	capture_begin(&c);
	int rc = cm_secret_from_file(&s, p, NULL);
	char *log = capture_end(&c);
	assert_int_equal(rc, 0);
	assert_true(s.set);
	assert_non_null(strstr(log, "WARN"));
	assert_non_null(strstr(log, "security"));
	assert_non_null(strstr(log, p));
	assert_non_null(strstr(log, "0644"));

	/* 0600 and 0400 stay quiet */
	write_file(p, "shh\n", 4, 0600);
	capture_begin(&c);
	rc = cm_secret_from_file(&s, p, NULL);
	log = capture_end(&c);
	assert_int_equal(rc, 0);
	assert_string_equal(log, "");
}

/* ------------------------------------------------- compare and random */

static void test_mac_equal_finds_every_single_bit_difference(void **state)
{
	(void)state;
	uint8_t a[CM_MAC_LEN], b[CM_MAC_LEN];
	for (size_t i = 0; i < CM_MAC_LEN; i++)
		a[i] = (uint8_t)(i * 37 + 1);
	memcpy(b, a, sizeof(a));
	assert_true(cm_mac_equal(a, b, CM_MAC_LEN));
	assert_true(cm_mac_equal(a, b, 0));
	for (size_t i = 0; i < CM_MAC_LEN; i++) {
		for (int bit = 0; bit < 8; bit++) {
			b[i] ^= (uint8_t)(1u << bit);
			assert_false(cm_mac_equal(a, b, CM_MAC_LEN));
			assert_false(cm_mac_equal(b, a, CM_MAC_LEN));
			/* a prefix that stops before the difference is equal */
			assert_true(cm_mac_equal(a, b, i));
			b[i] ^= (uint8_t)(1u << bit);
		}
	}
	assert_true(cm_mac_equal(a, b, CM_MAC_LEN));
}

static void test_random_fills_buffers_of_any_size(void **state)
{
	(void)state;
	assert_int_equal(cm_random(NULL, 0), 0);
	uint8_t a[32], b[32];
	assert_int_equal(cm_random(a, sizeof(a)), 0);
	assert_int_equal(cm_random(b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a)); /* 2^-256 odds of a false alarm */
	size_t n = 1 << 20; /* larger than one getrandom call returns at once */
	uint8_t *big = calloc(1, n);
	assert_non_null(big);
	assert_int_equal(cm_random(big, n), 0);
	size_t zeros = 0;
	for (size_t i = 0; i < n; i++)
		zeros += big[i] == 0;
	assert_true(zeros < n / 128); /* about n/256 expected */
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc4231_vectors),
	    cmocka_unit_test(test_a_64_byte_key_is_kept_and_a_65_byte_key_hashed),
	    cmocka_unit_test(test_parts_split_at_every_position_give_the_same_mac),
	    cmocka_unit_test(test_hmac_refuses_an_unset_secret_and_null_parts),
	    cmocka_unit_test(test_secret_from_string_refuses_null_and_empty),
	    cmocka_unit_test(test_secret_file_strips_one_trailing_newline),
	    cmocka_unit_test(test_secret_file_of_any_bytes_and_long_keys),
	    cmocka_unit_test(test_secret_file_refuses_empty_and_too_big),
	    cmocka_unit_test(test_secret_file_refuses_fifo_and_directory_without_blocking),
	    cmocka_unit_test(test_secret_file_readable_by_others_is_accepted_with_a_warning),
	    cmocka_unit_test(test_mac_equal_finds_every_single_bit_difference),
	    cmocka_unit_test(test_random_fills_buffers_of_any_size),
	};
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
