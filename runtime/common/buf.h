/*
 * buf.h — a bounded binary encoder and a hostile-input decoder for control
 * messages and task deployment descriptors.
 *
 * Wire forms (all integers little endian):
 *   u8, u32le, u64le   1, 4, 8 bytes
 *   uvarint            unsigned LEB128, minimal form only (common/varint.h)
 *   svarint            zigzag, then uvarint
 *   bytes              uvarint length, then the bytes
 *   str                uvarint (length + 1), then the bytes, no NUL; a
 *                      prefix of 0 is the NULL string, 1 is "" — so NULL and
 *                      "" survive a round trip as themselves
 *   raw                the bytes, no length (the reader knows it)
 *
 * Both sides keep a sticky error: after the first failure every further call
 * does nothing (writer) or returns 0 / NULL without reading the input
 * (reader), so a caller encodes or decodes a whole message and checks once.
 *
 * Neither object is thread-safe; each is used by one thread at a time.
 */
#ifndef FLINC_COMMON_BUF_H
#define FLINC_COMMON_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <flinc/flinc.h>

/* ------------------------------------------------------------------ writer */

/* Fields are private; use the functions below. */
typedef struct cm_wbuf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max;
	int err;
} cm_wbuf;

/*
 * cm_wbuf_init prepares an empty writer that will hold at most max bytes.
 * Allocates nothing until the first write. Every initialised writer must be
 * given to cm_wbuf_fini (also after cm_wbuf_take, and after an error).
 */
void cm_wbuf_init(cm_wbuf *w, size_t max);

/* cm_wbuf_fini frees what the writer holds. Safe to call twice. */
void cm_wbuf_fini(cm_wbuf *w);

/*
 * cm_wbuf_error returns 0, or the first error of any write: FL_ENOMEM (realloc
 * failed) or FL_ERANGE (the field would have taken the writer past its max).
 * The field that failed is not written, nor is anything after it.
 */
int cm_wbuf_error(const cm_wbuf *w);

/* cm_wbuf_len returns the bytes written so far. */
size_t cm_wbuf_len(const cm_wbuf *w);

/* cm_wbuf_data returns the bytes written so far (owned by the writer; valid
 * until the next write, take or fini; NULL when nothing was written). */
const uint8_t *cm_wbuf_data(const cm_wbuf *w);

/*
 * The writes. Each appends one field in the form of the table above, or
 * records the sticky error and appends nothing. p may be NULL when len is 0.
 * cm_wbuf_str takes NULL or a NUL-terminated string.
 */
void cm_wbuf_u8(cm_wbuf *w, uint8_t v);
void cm_wbuf_u32le(cm_wbuf *w, uint32_t v);
void cm_wbuf_u64le(cm_wbuf *w, uint64_t v);
void cm_wbuf_uvarint(cm_wbuf *w, uint64_t v);
void cm_wbuf_svarint(cm_wbuf *w, int64_t v);
void cm_wbuf_bytes(cm_wbuf *w, const void *p, size_t len);
void cm_wbuf_str(cm_wbuf *w, const char *s);
void cm_wbuf_raw(cm_wbuf *w, const void *p, size_t len);

/*
 * cm_wbuf_take hands the bytes written to the caller: returns a malloc'd
 * buffer (the caller frees it; never NULL on success, also when nothing was
 * written) and stores its length in *len. The writer is then empty again,
 * with the same max, and may be reused. Returns NULL with *len = 0 when the
 * writer holds an error, or when an empty writer cannot allocate its 1-byte
 * buffer (FL_ENOMEM, recorded); the writer keeps its memory then, for
 * cm_wbuf_fini.
 */
uint8_t *cm_wbuf_take(cm_wbuf *w, size_t *len);

/* ------------------------------------------------------------------ reader */

#define CM_RBUF_MSG_MAX 160

/* Fields are private; use the functions below. */
typedef struct cm_rbuf {
	const uint8_t *p;
	size_t len;
	size_t off;
	int err;
	char msg[CM_RBUF_MSG_MAX];
} cm_rbuf;

/*
 * cm_rbuf_init starts reading p[0..len). The reader never reads outside that
 * range and never writes to it; p must stay valid while the reader and any
 * view from cm_rbuf_bytes are in use. p may be NULL when len is 0.
 */
void cm_rbuf_init(cm_rbuf *r, const void *p, size_t len);

/*
 * cm_rbuf_error returns 0 or the first error: FL_EPROTO for malformed input,
 * FL_ENOMEM when cm_rbuf_strdup could not allocate. cm_rbuf_errmsg describes
 * it ("truncated string at byte 57", "varint overflow at byte 3", ...; "" when
 * there is no error); byte offsets count from p and name the first byte of
 * the field that failed.
 */
int cm_rbuf_error(const cm_rbuf *r);
const char *cm_rbuf_errmsg(const cm_rbuf *r);

/*
 * cm_rbuf_fail records a decoding error the caller found (an unknown message
 * type, a value out of its range) as FL_EPROTO with a printf-formatted
 * message, unless an error is already recorded. Returns FL_EPROTO. Use
 * cm_rbuf_offset to name the position.
 */
int cm_rbuf_fail(cm_rbuf *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* cm_rbuf_offset returns the offset of the next unread byte;
 * cm_rbuf_remaining the bytes left after it. */
size_t cm_rbuf_offset(const cm_rbuf *r);
size_t cm_rbuf_remaining(const cm_rbuf *r);

/*
 * The fixed-size and varint reads: each returns the value, or 0 when the
 * reader already holds an error or the field is truncated or malformed
 * (recorded). uvarint accepts only the minimal form; svarint is its zigzag.
 */
uint8_t cm_rbuf_u8(cm_rbuf *r);
uint32_t cm_rbuf_u32le(cm_rbuf *r);
uint64_t cm_rbuf_u64le(cm_rbuf *r);
uint64_t cm_rbuf_uvarint(cm_rbuf *r);
int64_t cm_rbuf_svarint(cm_rbuf *r);

/*
 * cm_rbuf_raw reads n bytes written by cm_wbuf_raw and stores a view into the
 * input in *ptr (no copy; may be NULL for n = 0). Returns 0, or FL_EPROTO
 * (past the end) with *ptr = NULL.
 */
int cm_rbuf_raw(cm_rbuf *r, size_t n, const uint8_t **ptr);

/*
 * cm_rbuf_bytes reads a length-prefixed byte string of at most max bytes and
 * stores a view into the input in *ptr / *len (no copy; *ptr is not
 * NUL-terminated and may be NULL for length 0). Returns 0, or FL_EPROTO
 * (length over max, or past the end) with *ptr = NULL and *len = 0.
 */
int cm_rbuf_bytes(cm_rbuf *r, size_t max, const uint8_t **ptr, size_t *len);

/*
 * cm_rbuf_strdup reads a string written by cm_wbuf_str of at most max bytes
 * (not counting the NUL) and stores a malloc'd NUL-terminated copy in *out
 * (the caller frees it), or NULL for a NULL string. Returns 0, FL_EPROTO
 * (length over max, past the end, or an embedded NUL byte) or FL_ENOMEM;
 * *out is NULL on error.
 */
int cm_rbuf_strdup(cm_rbuf *r, size_t max, char **out);

/*
 * cm_rbuf_count reads an element count (uvarint) for an array whose elements
 * take at least min_elem_bytes each on the wire. Returns the count, or 0 with
 * FL_EPROTO recorded when it exceeds max or when count * min_elem_bytes
 * exceeds the bytes remaining — so a hostile count can never make the caller
 * allocate more than the input could describe. min_elem_bytes 0 checks max
 * only.
 */
size_t cm_rbuf_count(cm_rbuf *r, size_t max, size_t min_elem_bytes);

/*
 * cm_rbuf_end checks that the whole input was consumed. Returns 0, the
 * reader's earlier error, or FL_EPROTO ("N trailing bytes at byte X").
 */
int cm_rbuf_end(cm_rbuf *r);

#endif
