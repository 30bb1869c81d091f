/*
 * auth.h — the shared secret that data and control connections prove they
 * hold: HMAC-SHA256 (mbedTLS), constant-time MAC comparison, and kernel
 * randomness for nonces.
 *
 * The secret comes from a string (configuration, environment) or from a file
 * (a mounted Kubernetes Secret). Keys longer than SHA-256's 64-byte block are
 * stored as their SHA-256 digest, which is exactly what HMAC does with such a
 * key (RFC 2104), so every length works and gives the standard MAC.
 *
 * All functions are thread-safe; a cm_secret is read-only once loaded.
 */
#ifndef FLINC_COMMON_AUTH_H
#define FLINC_COMMON_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* The largest secret file accepted, in bytes (after which it is refused). */
#define CM_SECRET_FILE_MAX 4096
/* Bytes of an HMAC-SHA256. */
#define CM_MAC_LEN 32

/* key[0..len) is the HMAC key when set is true. */
typedef struct cm_secret {
	uint8_t key[64];
	size_t len;
	bool set;
} cm_secret;

/*
 * cm_secret_from_string loads text (its bytes up to the NUL, taken as they
 * are) as the secret. Returns 0, or FL_EINVAL when text is NULL or empty, or
 * FL_EIO if hashing a long key fails; the message in err names the cause. On
 * error *s is cleared (set = false).
 */
int cm_secret_from_string(cm_secret *s, const char *text, cm_err *err);

/*
 * cm_secret_from_file loads the secret from the file at path: at most
 * CM_SECRET_FILE_MAX bytes, with one trailing newline ("\n" or "\r\n")
 * removed, as editors and `kubectl create secret --from-file` leave one. A
 * file readable by group or others is accepted with a warning on the
 * "security" log. Never blocks: a FIFO, a directory or any other non-regular
 * file is refused. Returns 0, or (with a message in err naming path) FL_ENOENT
 * (no such file), FL_EINVAL (path is NULL, not a regular file, or empty once
 * the newline is removed), FL_ERANGE (over CM_SECRET_FILE_MAX bytes), FL_EIO
 * (other open or read errors, or hashing failed). On error *s is cleared.
 * The buffer that held the file is wiped before the function returns.
 */
int cm_secret_from_file(cm_secret *s, const char *path, cm_err *err);

/* cm_secret_clear wipes the key and marks s unset. s may be NULL. */
void cm_secret_clear(cm_secret *s);

/*
 * cm_hmac computes HMAC-SHA256 with s's key over the concatenation of
 * parts[0..nparts) (parts[i] is lens[i] bytes; it may be NULL when lens[i]
 * is 0) into out. Returns 0, FL_EINVAL (s not set, or a NULL part of
 * non-zero length), FL_ENOMEM or FL_EIO (mbedTLS failed); out is zeroed on
 * error.
 */
int cm_hmac(const cm_secret *s, const void *const *parts, const size_t *lens, size_t nparts,
	    uint8_t out[CM_MAC_LEN]);

/*
 * cm_mac_equal compares a[0..n) and b[0..n) in time that depends on n only,
 * not on where they differ (so a peer cannot find a valid MAC byte by byte).
 * Returns true when they are equal; true for n = 0.
 */
bool cm_mac_equal(const uint8_t *a, const uint8_t *b, size_t n);

/*
 * cm_random fills buf[0..n) from the kernel's CSPRNG (getrandom), resuming
 * after signals and short reads. Returns 0, or FL_EIO.
 */
int cm_random(void *buf, size_t n);

/*
 * cm_sha256_fd reads fd to its end and writes the SHA-256 of what it read
 * as 64 lowercase hex digits (and NUL) into hex, and the byte count into
 * *size (may be NULL). Returns 0, an FL_E* code from errno, or FL_EIO.
 */
int cm_sha256_fd(int fd, char hex[65], uint64_t *size);

#endif
