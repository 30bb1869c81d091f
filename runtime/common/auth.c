#include "common/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/md.h>

#include "common/log.h"

/* Only the generic mbedtls_md_* API: it is the same in mbedTLS 2.28 (Debian
 * 12) and 3.x, so a library upgrade needs no change here. */

static int md_code(int rc)
{
	return rc == MBEDTLS_ERR_MD_ALLOC_FAILED ? FL_ENOMEM : FL_EIO;
}

void cm_secret_clear(cm_secret *s)
{
	if (s)
		explicit_bzero(s, sizeof(*s));
}

/* Stores key[0..len) (len > 0) in s, hashed when longer than HMAC's block.
 * Returns 0 or an mbedTLS error code. */
static int secret_store(cm_secret *s, const uint8_t *key, size_t len)
{
	cm_secret_clear(s);
	if (len > sizeof(s->key)) {
		const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
		if (!md)
			return MBEDTLS_ERR_MD_FEATURE_UNAVAILABLE;
		int rc = mbedtls_md(md, key, len, s->key);
		if (rc != 0) {
			cm_secret_clear(s);
			return rc;
		}
		s->len = CM_MAC_LEN;
	} else {
		memcpy(s->key, key, len);
		s->len = len;
	}
	s->set = true;
	return 0;
}

int cm_secret_from_string(cm_secret *s, const char *text, cm_err *err)
{
	cm_secret_clear(s);
	if (!text)
		return cm_err_set(err, FL_EINVAL, "the secret is NULL");
	size_t len = strlen(text);
	if (len == 0)
		return cm_err_set(err, FL_EINVAL, "the secret is empty");
	int rc = secret_store(s, (const uint8_t *)text, len);
	if (rc != 0)
		return cm_err_set(err, md_code(rc), "hashing the secret failed (mbedTLS -0x%04x)",
				  (unsigned)-rc);
	return 0;
}

/* Reads fd to its end into buf[0..cap); *len gets the bytes read, cap when
 * the file has at least cap bytes. Returns 0 or an errno value. */
static int read_upto(int fd, uint8_t *buf, size_t cap, size_t *len)
{
	size_t n = 0;
	while (n < cap) {
		ssize_t k = read(fd, buf + n, cap - n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	*len = n;
	return 0;
}

int cm_secret_from_file(cm_secret *s, const char *path, cm_err *err)
{
	cm_secret_clear(s);
	if (!path)
		return cm_err_set(err, FL_EINVAL, "the secret file path is NULL");
	/* O_NONBLOCK: opening a FIFO for reading must not wait for a writer;
	 * fstat then refuses it before any read. Symlinks are followed, as
	 * Kubernetes mounts Secrets through them. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		return cm_err_set(err, cm_err_from_errno(e), "cannot open secret file '%s': %s", path,
				  strerror(e));
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return cm_err_set(err, FL_EIO, "cannot stat secret file '%s': %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return cm_err_set(err, FL_EINVAL, "secret file '%s' is not a regular file", path);
	}
	if (st.st_size > CM_SECRET_FILE_MAX) {
		close(fd);
		return cm_err_set(err, FL_ERANGE,
				  "secret file '%s' is %lld bytes, more than the %d allowed", path,
				  (long long)st.st_size, CM_SECRET_FILE_MAX);
	}
	if (st.st_mode & (S_IRGRP | S_IROTH))
		CM_WARN("security",
			"secret file '%s' is readable by group or others (mode %04o); make it 0600 "
			"or 0400",
			path, (unsigned)(st.st_mode & 07777));

	/* One byte more than allowed, to catch a file that grew after fstat. */
	uint8_t buf[CM_SECRET_FILE_MAX + 1];
	size_t len = 0;
	int e = read_upto(fd, buf, sizeof(buf), &len);
	close(fd);
	int rc = 0;
	if (e != 0) {
		rc = cm_err_set(err, FL_EIO, "cannot read secret file '%s': %s", path, strerror(e));
	} else if (len > CM_SECRET_FILE_MAX) {
		rc = cm_err_set(err, FL_ERANGE, "secret file '%s' is more than the %d bytes allowed",
				path, CM_SECRET_FILE_MAX);
	} else {
		if (len > 0 && buf[len - 1] == '\n') {
			len--;
			if (len > 0 && buf[len - 1] == '\r')
				len--;
		}
		if (len == 0) {
			rc = cm_err_set(err, FL_EINVAL, "secret file '%s' is empty", path);
		} else {
			int mrc = secret_store(s, buf, len);
			if (mrc != 0)
				rc = cm_err_set(err, md_code(mrc),
						"hashing the secret of '%s' failed (mbedTLS -0x%04x)",
						path, (unsigned)-mrc);
		}
	}
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

int cm_hmac(const cm_secret *s, const void *const *parts, const size_t *lens, size_t nparts,
	    uint8_t out[CM_MAC_LEN])
{
	memset(out, 0, CM_MAC_LEN);
	if (!s || !s->set)
		return FL_EINVAL;
	for (size_t i = 0; i < nparts; i++) {
		if (lens[i] > 0 && !parts[i])
			return FL_EINVAL;
	}
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	if (!md)
		return FL_EIO;
	mbedtls_md_context_t ctx;
	mbedtls_md_init(&ctx);
	int rc = mbedtls_md_setup(&ctx, md, 1);
	if (rc == 0)
		rc = mbedtls_md_hmac_starts(&ctx, s->key, s->len);
	for (size_t i = 0; rc == 0 && i < nparts; i++) {
		if (lens[i] > 0)
			rc = mbedtls_md_hmac_update(&ctx, parts[i], lens[i]);
	}
	if (rc == 0)
		rc = mbedtls_md_hmac_finish(&ctx, out);
	mbedtls_md_free(&ctx); /* also wipes the keyed pads */
	if (rc != 0) {
		memset(out, 0, CM_MAC_LEN);
		return md_code(rc);
	}
	return 0;
}

bool cm_mac_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	/* No early exit: the loop always runs n times, and the volatile
	 * accumulator keeps the compiler from adding one. */
	volatile uint8_t diff = 0;
	for (size_t i = 0; i < n; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

int cm_random(void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n > 0) {
		ssize_t k = getrandom(p, n, 0);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return FL_EIO;
		}
		if (k == 0)
			return FL_EIO; /* cannot happen for n > 0; never spin */
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int cm_sha256_fd(int fd, char hex[65], uint64_t *size)
{
	hex[0] = '\0';
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	if (!md)
		return FL_EIO;
	mbedtls_md_context_t ctx;
	mbedtls_md_init(&ctx);
	int rc = mbedtls_md_setup(&ctx, md, 0);
	if (rc == 0)
		rc = mbedtls_md_starts(&ctx);
	uint8_t buf[65536];
	uint64_t total = 0;
	int err = 0;
	while (rc == 0) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = cm_err_from_errno(errno);
			break;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		rc = mbedtls_md_update(&ctx, buf, (size_t)n);
	}
	uint8_t out[32];
	if (rc == 0 && err == 0)
		rc = mbedtls_md_finish(&ctx, out);
	mbedtls_md_free(&ctx);
	if (err)
		return err;
	if (rc != 0)
		return md_code(rc);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", out[i]);
	if (size)
		*size = total;
	return 0;
}
