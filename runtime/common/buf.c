#include "common/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/varint.h"

/* ------------------------------------------------------------------ writer */

/* The first allocation: most control messages fit, few waste much. */
#define WBUF_MIN_CAP 64

void cm_wbuf_init(cm_wbuf *w, size_t max)
{
	w->data = NULL;
	w->len = 0;
	w->cap = 0;
	w->max = max;
	w->err = 0;
}

void cm_wbuf_fini(cm_wbuf *w)
{
	free(w->data);
	w->data = NULL;
	w->len = 0;
	w->cap = 0;
}

int cm_wbuf_error(const cm_wbuf *w)
{
	return w->err;
}

size_t cm_wbuf_len(const cm_wbuf *w)
{
	return w->len;
}

const uint8_t *cm_wbuf_data(const cm_wbuf *w)
{
	return w->data;
}

/*
 * Makes room for n more bytes and returns where they go, or NULL with the
 * sticky error set. n must be > 0 (callers skip empty writes, so that no
 * pointer arithmetic or memcpy ever happens on a NULL buffer).
 */
static uint8_t *wbuf_reserve(cm_wbuf *w, size_t n)
{
	if (w->err)
		return NULL;
	/* len <= max always holds, so the subtraction cannot wrap. */
	if (n > w->max - w->len) {
		w->err = FL_ERANGE;
		return NULL;
	}
	size_t need = w->len + n;
	if (need > w->cap) {
		size_t ncap = w->cap ? w->cap : WBUF_MIN_CAP;
		while (ncap < need)
			ncap = ncap > SIZE_MAX / 2 ? SIZE_MAX : ncap * 2;
		if (ncap > w->max)
			ncap = w->max;
		uint8_t *nd = realloc(w->data, ncap);
		if (!nd) {
			w->err = FL_ENOMEM;
			return NULL;
		}
		w->data = nd;
		w->cap = ncap;
	}
	uint8_t *p = w->data + w->len;
	w->len = need;
	return p;
}

void cm_wbuf_raw(cm_wbuf *w, const void *p, size_t len)
{
	if (len == 0)
		return;
	uint8_t *d = wbuf_reserve(w, len);
	if (d)
		memcpy(d, p, len);
}

void cm_wbuf_u8(cm_wbuf *w, uint8_t v)
{
	uint8_t *d = wbuf_reserve(w, 1);
	if (d)
		d[0] = v;
}

void cm_wbuf_u32le(cm_wbuf *w, uint32_t v)
{
	uint8_t *d = wbuf_reserve(w, 4);
	if (d) {
		for (int i = 0; i < 4; i++)
			d[i] = (uint8_t)(v >> (8 * i));
	}
}

void cm_wbuf_u64le(cm_wbuf *w, uint64_t v)
{
	uint8_t *d = wbuf_reserve(w, 8);
	if (d) {
		for (int i = 0; i < 8; i++)
			d[i] = (uint8_t)(v >> (8 * i));
	}
}

void cm_wbuf_uvarint(cm_wbuf *w, uint64_t v)
{
	size_t n = cm_varint_len(v);
	uint8_t *d = wbuf_reserve(w, n);
	if (d)
		cm_varint_put(d, n, v);
}

void cm_wbuf_svarint(cm_wbuf *w, int64_t v)
{
	cm_wbuf_uvarint(w, cm_zigzag(v));
}

/*
 * Checks that a length prefix of value prefix and a body of len bytes fit
 * together, so that a field over the cap leaves no dangling prefix behind.
 */
static bool wbuf_fits_prefixed(cm_wbuf *w, uint64_t prefix, size_t len)
{
	if (w->err)
		return false;
	size_t room = w->max - w->len;
	if (len > room || cm_varint_len(prefix) > room - len) {
		w->err = FL_ERANGE;
		return false;
	}
	return true;
}

void cm_wbuf_bytes(cm_wbuf *w, const void *p, size_t len)
{
	if (!wbuf_fits_prefixed(w, (uint64_t)len, len))
		return;
	cm_wbuf_uvarint(w, (uint64_t)len);
	cm_wbuf_raw(w, p, len);
}

void cm_wbuf_str(cm_wbuf *w, const char *s)
{
	if (!s) {
		cm_wbuf_uvarint(w, 0);
		return;
	}
	size_t len = strlen(s);
	if (!wbuf_fits_prefixed(w, (uint64_t)len + 1, len))
		return;
	cm_wbuf_uvarint(w, (uint64_t)len + 1);
	cm_wbuf_raw(w, s, len);
}

uint8_t *cm_wbuf_take(cm_wbuf *w, size_t *len)
{
	*len = 0;
	if (w->err)
		return NULL;
	uint8_t *out = w->data;
	if (!out) {
		/* Nothing written: still a buffer, so NULL always means error. */
		out = malloc(1);
		if (!out) {
			w->err = FL_ENOMEM;
			return NULL;
		}
	}
	*len = w->len;
	w->data = NULL;
	w->len = 0;
	w->cap = 0;
	return out;
}

/* ------------------------------------------------------------------ reader */

void cm_rbuf_init(cm_rbuf *r, const void *p, size_t len)
{
	r->p = p;
	r->len = p ? len : 0;
	r->off = 0;
	r->err = 0;
	r->msg[0] = '\0';
}

int cm_rbuf_error(const cm_rbuf *r)
{
	return r->err;
}

const char *cm_rbuf_errmsg(const cm_rbuf *r)
{
	return r->msg;
}

size_t cm_rbuf_offset(const cm_rbuf *r)
{
	return r->off;
}

size_t cm_rbuf_remaining(const cm_rbuf *r)
{
	return r->len - r->off;
}

static int rbuf_vfail(cm_rbuf *r, int code, const char *fmt, va_list ap)
{
	if (!r->err) {
		vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
		r->err = code;
	}
	return code;
}

static int rbuf_failc(cm_rbuf *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int rbuf_failc(cm_rbuf *r, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rbuf_vfail(r, code, fmt, ap);
	va_end(ap);
	return code;
}

int cm_rbuf_fail(cm_rbuf *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rbuf_vfail(r, FL_EPROTO, fmt, ap);
	va_end(ap);
	return FL_EPROTO;
}

/*
 * Returns the next n bytes and moves past them, or NULL when the reader
 * holds an error or fewer than n bytes remain (recorded, naming what at the
 * offset start). The offset does not move on failure, so it keeps naming the
 * field that failed. n may be 0: the result, NULL for an empty input, then
 * must not be dereferenced.
 */
static const uint8_t *rbuf_take(cm_rbuf *r, size_t n, const char *what, size_t start)
{
	if (r->err)
		return NULL;
	size_t left = r->len - r->off;
	if (n > left) {
		rbuf_failc(r, FL_EPROTO, "truncated %s at byte %zu (%zu bytes needed, %zu left)", what,
			   start, n, left);
		r->off = start;
		return NULL;
	}
	const uint8_t *p = r->p ? r->p + r->off : NULL;
	r->off += n;
	return p;
}

/* Reads one uvarint; false (recorded, naming what) on any malformation. */
static bool rbuf_varint(cm_rbuf *r, const char *what, uint64_t *v)
{
	*v = 0;
	if (r->err)
		return false;
	size_t left = r->len - r->off;
	size_t k = left ? cm_varint_get(r->p + r->off, left, v) : 0;
	if (k > 0) {
		r->off += k;
		return true;
	}
	/* Say why: find the terminating byte, if any, within 10 bytes. */
	size_t scan = left < CM_VARINT_MAX ? left : CM_VARINT_MAX;
	for (size_t i = 0; i < scan; i++) {
		uint8_t b = r->p[r->off + i];
		if (b < 0x80) {
			if (i == CM_VARINT_MAX - 1 && b > 1)
				rbuf_failc(r, FL_EPROTO, "%s overflow at byte %zu", what, r->off);
			else
				rbuf_failc(r, FL_EPROTO, "non-minimal %s at byte %zu", what, r->off);
			return false;
		}
	}
	if (left < CM_VARINT_MAX)
		rbuf_failc(r, FL_EPROTO, "truncated %s at byte %zu", what, r->off);
	else
		rbuf_failc(r, FL_EPROTO, "%s overflow at byte %zu (more than %d bytes)", what,
			   r->off, CM_VARINT_MAX);
	return false;
}

uint8_t cm_rbuf_u8(cm_rbuf *r)
{
	const uint8_t *p = rbuf_take(r, 1, "u8", r->off);
	return p ? p[0] : 0;
}

uint32_t cm_rbuf_u32le(cm_rbuf *r)
{
	const uint8_t *p = rbuf_take(r, 4, "u32", r->off);
	if (!p)
		return 0;
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

uint64_t cm_rbuf_u64le(cm_rbuf *r)
{
	const uint8_t *p = rbuf_take(r, 8, "u64", r->off);
	if (!p)
		return 0;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

uint64_t cm_rbuf_uvarint(cm_rbuf *r)
{
	uint64_t v;
	return rbuf_varint(r, "varint", &v) ? v : 0;
}

int64_t cm_rbuf_svarint(cm_rbuf *r)
{
	uint64_t v;
	return rbuf_varint(r, "svarint", &v) ? cm_unzigzag(v) : 0;
}

int cm_rbuf_raw(cm_rbuf *r, size_t n, const uint8_t **ptr)
{
	*ptr = NULL;
	const uint8_t *p = rbuf_take(r, n, "raw bytes", r->off);
	if (!p && r->err)
		return r->err;
	*ptr = n ? p : NULL;
	return 0;
}

int cm_rbuf_bytes(cm_rbuf *r, size_t max, const uint8_t **ptr, size_t *len)
{
	*ptr = NULL;
	*len = 0;
	size_t start = r->off;
	uint64_t n;
	if (!rbuf_varint(r, "bytes length", &n))
		return r->err;
	if (n > max) {
		r->off = start;
		return rbuf_failc(r, FL_EPROTO,
				  "bytes of length %llu exceed the %zu allowed at byte %zu",
				  (unsigned long long)n, max, start);
	}
	const uint8_t *p = rbuf_take(r, (size_t)n, "bytes", start);
	if (!p && r->err)
		return r->err;
	*ptr = n ? p : NULL;
	*len = (size_t)n;
	return 0;
}

int cm_rbuf_strdup(cm_rbuf *r, size_t max, char **out)
{
	*out = NULL;
	size_t start = r->off;
	uint64_t n1;
	if (!rbuf_varint(r, "string length", &n1))
		return r->err;
	if (n1 == 0)
		return 0; /* the NULL string */
	uint64_t n = n1 - 1;
	if (n > max) {
		r->off = start;
		return rbuf_failc(r, FL_EPROTO,
				  "string of %llu bytes exceeds the %zu allowed at byte %zu",
				  (unsigned long long)n, max, start);
	}
	size_t body = r->off;
	const uint8_t *p = rbuf_take(r, (size_t)n, "string", start);
	if (!p && r->err)
		return r->err;
	const uint8_t *nul = n ? memchr(p, 0, (size_t)n) : NULL;
	if (nul) {
		r->off = start;
		return rbuf_failc(r, FL_EPROTO, "string at byte %zu has an embedded NUL at byte %zu",
				  start, body + (size_t)(nul - p));
	}
	char *s = malloc((size_t)n + 1);
	if (!s) {
		r->off = start;
		return rbuf_failc(r, FL_ENOMEM, "out of memory copying a string of %llu bytes at byte %zu",
				  (unsigned long long)n, start);
	}
	if (n)
		memcpy(s, p, (size_t)n);
	s[n] = '\0';
	*out = s;
	return 0;
}

size_t cm_rbuf_count(cm_rbuf *r, size_t max, size_t min_elem_bytes)
{
	size_t start = r->off;
	uint64_t n;
	if (!rbuf_varint(r, "count", &n))
		return 0;
	if (n > max) {
		r->off = start;
		rbuf_failc(r, FL_EPROTO, "count %llu exceeds the %zu allowed at byte %zu",
			   (unsigned long long)n, max, start);
		return 0;
	}
	size_t left = r->len - r->off;
	if (min_elem_bytes > 0 && n > left / min_elem_bytes) {
		r->off = start;
		rbuf_failc(r, FL_EPROTO,
			   "count %llu of elements of at least %zu bytes does not fit in the %zu bytes "
			   "left at byte %zu",
			   (unsigned long long)n, min_elem_bytes, left, start);
		return 0;
	}
	return (size_t)n;
}

int cm_rbuf_end(cm_rbuf *r)
{
	if (r->err)
		return r->err;
	if (r->off != r->len)
		return rbuf_failc(r, FL_EPROTO, "%zu trailing bytes at byte %zu", r->len - r->off,
				  r->off);
	return 0;
}
