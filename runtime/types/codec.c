#include "types/codec.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "common/varint.h"

/*
 * The encoder and decoder are on the per-record hot path (tens of millions of
 * rows per second): one switch per field, no function pointers, no
 * allocation, and a one-byte fast path for the small varints that dominate
 * (field counts, short string lengths, small integers).
 *
 * The decoder accepts exactly the bytes the encoder produces and nothing
 * else (minimal varints, bools 0/1, one NaN bit pattern). Every accepted
 * input therefore re-encodes to the same bytes, which keeps encoded keys
 * canonical even when they arrive from a peer or a checkpoint file.
 */

/* The one NaN the encoding carries (Java's Double.doubleToLongBits NaN). */
#define CANONICAL_NAN 0x7ff8000000000000ull

/* Caller guarantees room for cm_varint_len(v) bytes. */
static inline uint8_t *varint_put_unchecked(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline uint64_t double_bits(double d)
{
	uint64_t u;
	if (d != d)
		return CANONICAL_NAN;
	memcpy(&u, &d, sizeof(u));
	return u;
}

static inline void store_le64(uint8_t *p, uint64_t u)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(p, &u, 8);
#else
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(u >> (8 * i));
#endif
}

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t u;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(&u, p, 8);
#else
	u = 0;
	for (int i = 0; i < 8; i++)
		u |= (uint64_t)p[i] << (8 * i);
#endif
	return u;
}

size_t row_varint_put(uint8_t *buf, size_t cap, uint64_t v)
{
	return cm_varint_put(buf, cap, v);
}

size_t row_varint_get(const uint8_t *buf, size_t len, uint64_t *v)
{
	return cm_varint_get(buf, len, v);
}

/* Payload bound of a field of type t, or SIZE_MAX for an unknown type. */
static inline size_t field_bound(uint8_t t, const fl_value *v)
{
	switch (t) {
	case FL_NULL:
		return 0;
	case FL_INT64:
	case FL_TIMESTAMP:
		return ROW_VARINT_MAX;
	case FL_DOUBLE:
		return 8;
	case FL_BOOL:
		return 1;
	case FL_STRING:
	case FL_BYTES:
		if (!v->u.s.ptr && v->u.s.len)
			return SIZE_MAX; /* a NULL string with a length */
		return cm_varint_len(v->u.s.len) + v->u.s.len;
	default:
		return SIZE_MAX;
	}
}

/*
 * A row whose nfields or type bytes are out of range (user code may scribble
 * on the plain struct) cannot be encoded: its bound is 0 and row_encode
 * returns 0 for it, so callers treat it as a failure, never as "grow the
 * buffer and retry" forever (row_copy reports FL_EINVAL).
 */
size_t row_encoded_bound(const fl_row *r)
{
	if (r->nfields > FL_ROW_MAX_FIELDS)
		return 0;
	size_t n = 1; /* nfields <= 16: one varint byte */
	for (uint32_t i = 0; i < r->nfields; i++) {
		size_t b = field_bound(r->types[i], &r->values[i]);
		if (b == SIZE_MAX)
			return 0;
		n += 1 + b;
	}
	return n;
}

/* Exact encoded size, 0 for an unencodable row. */
static size_t row_encoded_size(const fl_row *r)
{
	if (r->nfields > FL_ROW_MAX_FIELDS)
		return 0;
	size_t n = 1;
	for (uint32_t i = 0; i < r->nfields; i++) {
		uint8_t t = r->types[i];
		if (t == FL_INT64 || t == FL_TIMESTAMP) {
			n += 1 + cm_varint_len(cm_zigzag(r->values[i].u.i));
		} else {
			size_t b = field_bound(t, &r->values[i]);
			if (b == SIZE_MAX)
				return 0;
			n += 1 + b;
		}
	}
	return n;
}

size_t row_encode(const fl_row *r, uint8_t *buf, size_t cap)
{
	uint32_t nf = r->nfields;
	if (nf > FL_ROW_MAX_FIELDS || cap < 1)
		return 0;
	uint8_t *p = buf;
	uint8_t *const end = buf + cap;
	*p++ = (uint8_t)nf;
	for (uint32_t i = 0; i < nf; i++) {
		uint8_t t = r->types[i];
		const fl_value *v = &r->values[i];
		size_t room = (size_t)(end - p);
		/* Integers first, without the jump table: keys, counts and
		 * sums are the fields of most rows. */
		if (__builtin_expect((t == FL_INT64 || t == FL_TIMESTAMP) && room >= 1 + ROW_VARINT_MAX, 1)) {
			uint64_t z = cm_zigzag(v->u.i);
			p[0] = t;
			if (z < 0x80) {
				p[1] = (uint8_t)z;
				p += 2;
			} else {
				p = varint_put_unchecked(p + 1, z);
			}
			continue;
		}
		switch (t) {
		case FL_NULL:
			if (room < 1)
				return 0;
			*p++ = t;
			break;
		case FL_INT64:
		case FL_TIMESTAMP: {
			uint64_t z = cm_zigzag(v->u.i);
			if (room >= 2 && z < 0x80) {
				p[0] = t;
				p[1] = (uint8_t)z;
				p += 2;
				break;
			}
			/* only near the end of the buffer is the exact size needed */
			if (room < 1 + ROW_VARINT_MAX && room < 1 + cm_varint_len(z))
				return 0;
			*p++ = t;
			p = varint_put_unchecked(p, z);
			break;
		}
		case FL_DOUBLE:
			if (room < 9)
				return 0;
			*p++ = t;
			store_le64(p, double_bits(v->u.d));
			p += 8;
			break;
		case FL_BOOL:
			if (room < 2)
				return 0;
			p[0] = t;
			p[1] = v->u.b ? 1 : 0;
			p += 2;
			break;
		case FL_STRING:
		case FL_BYTES: {
			uint32_t l = v->u.s.len;
			size_t need = 1 + cm_varint_len(l) + l;
			if (room < need || (l && !v->u.s.ptr))
				return 0;
			*p++ = t;
			if (l < 0x80)
				*p++ = (uint8_t)l;
			else
				p = varint_put_unchecked(p, l);
			if (l)
				memcpy(p, v->u.s.ptr, l);
			p += l;
			break;
		}
		default:
			return 0;
		}
	}
	return (size_t)(p - buf);
}

/*
 * Varint read; returns NULL on malformed input. With ten bytes left the
 * bounds check per byte is unnecessary, and one- and two-byte values (field
 * counts, lengths, small integers) take straight-line code.
 */
static inline const uint8_t *varint_read(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	/* A one-byte value needs only one byte left: the last field of a row
	 * decoded from an exact-length slice (a state value, a framed record)
	 * never has ten bytes behind it. */
	if (__builtin_expect(p < end && p[0] < 0x80, 1)) {
		*v = p[0];
		return p + 1;
	}
	if (end - p >= 2 && p[1] < 0x80) {
		if (p[1] == 0)
			return NULL; /* overlong */
		*v = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
		return p + 2;
	}
	if (__builtin_expect(end - p >= ROW_VARINT_MAX, 1)) {
		uint64_t b = p[0];
		if (b < 0x80) {
			*v = b;
			return p + 1;
		}
		uint64_t r = b & 0x7f;
		b = p[1];
		if (b < 0x80) {
			if (b == 0)
				return NULL; /* overlong */
			*v = r | b << 7;
			return p + 2;
		}
		r |= (b & 0x7f) << 7;
		for (int i = 2; i < ROW_VARINT_MAX; i++) {
			b = p[i];
			r |= (b & 0x7f) << (7 * i);
			if (b < 0x80) {
				if (b == 0 || (i == ROW_VARINT_MAX - 1 && b > 1))
					return NULL;
				*v = r;
				return p + i + 1;
			}
		}
		return NULL;
	}
	size_t k = cm_varint_get(p, (size_t)(end - p), v);
	return k ? p + k : NULL;
}

int row_decode(const uint8_t *buf, size_t len, fl_row *out, size_t *consumed)
{
	const uint8_t *p = buf;
	const uint8_t *const end = buf + len;
	out->nfields = 0;
	/* nfields <= 16 always fits one byte; any larger first byte (a
	 * continuation bit included) is out of range. */
	if (len < 1 || buf[0] > FL_ROW_MAX_FIELDS)
		return FL_EPROTO;
	uint32_t nf = *p++;
	for (uint32_t i = 0; i < nf; i++) {
		if (p >= end)
			return FL_EPROTO;
		uint8_t t = *p++;
		fl_value *v = &out->values[i];
		out->types[i] = t;
		if (__builtin_expect(t == FL_INT64 || t == FL_TIMESTAMP, 1)) {
			uint64_t z;
			if (!(p = varint_read(p, end, &z)))
				return FL_EPROTO;
			v->u.i = cm_unzigzag(z);
			continue;
		}
		switch (t) {
		case FL_NULL:
			break;
		case FL_INT64:
		case FL_TIMESTAMP: {
			uint64_t z;
			if (!(p = varint_read(p, end, &z)))
				return FL_EPROTO;
			v->u.i = cm_unzigzag(z);
			break;
		}
		case FL_DOUBLE: {
			if (end - p < 8)
				return FL_EPROTO;
			uint64_t u = load_le64(p);
			double d;
			memcpy(&d, &u, sizeof(d));
			if (d != d && u != CANONICAL_NAN)
				return FL_EPROTO;
			v->u.d = d;
			p += 8;
			break;
		}
		case FL_BOOL:
			if (p >= end || *p > 1)
				return FL_EPROTO;
			v->u.b = *p++ != 0;
			break;
		case FL_STRING:
		case FL_BYTES: {
			uint64_t l;
			if (!(p = varint_read(p, end, &l)))
				return FL_EPROTO;
			if (l > UINT32_MAX || l > (uint64_t)(end - p))
				return FL_EPROTO;
			v->u.s.ptr = (const char *)p;
			v->u.s.len = (uint32_t)l;
			p += l;
			break;
		}
		default:
			return FL_EPROTO;
		}
	}
	out->nfields = nf;
	*consumed = (size_t)(p - buf);
	return 0;
}

int row_patch_field(uint8_t *buf, size_t len, const fl_row *r, uint32_t f)
{
	if (f >= r->nfields)
		return 0;
	/* Field f's offset from r's fields before it, which buf holds
	 * unchanged: sizes from registers, no walk over the bytes. */
	size_t off = 1;
	for (uint32_t i = 0; i < f; i++) {
		uint8_t t = r->types[i];
		if (t == FL_INT64 || t == FL_TIMESTAMP)
			off += 1 + cm_varint_len(cm_zigzag(r->values[i].u.i));
		else if (t == FL_DOUBLE)
			off += 9;
		else if (t == FL_BOOL)
			off += 2;
		else if (t == FL_STRING || t == FL_BYTES)
			off += 1 + cm_varint_len(r->values[i].u.s.len) + r->values[i].u.s.len;
		else
			off += 1;
	}
	uint8_t t = r->types[f];
	if (off >= len || buf[off] != t)
		return 0;
	uint8_t *p = buf + off + 1;
	size_t room = len - off - 1;
	if (t == FL_DOUBLE) {
		if (room < 8)
			return 0;
		store_le64(p, double_bits(r->values[f].u.d));
		return 1;
	}
	if (t != FL_INT64 && t != FL_TIMESTAMP)
		return 0;
	size_t old = 0; /* the old varint's length */
	while (old < room && old < ROW_VARINT_MAX && (p[old] & 0x80))
		old++;
	if (old == room || old == ROW_VARINT_MAX)
		return 0;
	uint64_t z = cm_zigzag(r->values[f].u.i);
	if (old + 1 != cm_varint_len(z))
		return 0;
	varint_put_unchecked(p, z);
	return 1;
}

static int strings_point_into(const fl_row *r, const uint8_t *buf, size_t cap)
{
	if (!buf)
		return 0;
	uintptr_t lo = (uintptr_t)buf, hi = lo + cap;
	for (uint32_t i = 0; i < r->nfields; i++) {
		if (r->types[i] != FL_STRING && r->types[i] != FL_BYTES)
			continue;
		uintptr_t s = (uintptr_t)r->values[i].u.s.ptr;
		uintptr_t e = s + r->values[i].u.s.len;
		if (s < hi && e > lo)
			return 1;
	}
	return 0;
}

int row_copy(const fl_row *r, uint8_t **buf, size_t *cap, fl_row *out)
{
	size_t need = row_encoded_size(r);
	if (need == 0)
		return FL_EINVAL;
	if (need > ROW_MAX_ENCODED)
		return FL_ERANGE;
	/*
	 * Re-copying a row whose strings live in *buf (say, an accumulator
	 * kept by an earlier row_copy) must not overwrite or realloc its
	 * source while encoding: encode into a fresh buffer then.
	 */
	if (strings_point_into(r, *buf, *cap)) {
		uint8_t *nb = malloc(need);
		if (!nb)
			return FL_ENOMEM;
		row_encode(r, nb, need);
		free(*buf);
		*buf = nb;
		*cap = need;
	} else {
		if (*cap < need || !*buf) {
			uint8_t *nb = realloc(*buf, need);
			if (!nb)
				return FL_ENOMEM;
			*buf = nb;
			*cap = need;
		}
		row_encode(r, *buf, *cap);
	}
	size_t used;
	return row_decode(*buf, need, out, &used);
}

int row_check(const fl_row *r, char *why, size_t len)
{
	if (r->nfields > FL_ROW_MAX_FIELDS) {
		snprintf(why, len, "it has %u fields, at most %d are allowed", r->nfields,
			 FL_ROW_MAX_FIELDS);
		return FL_EINVAL;
	}
	size_t total = 1;
	for (uint32_t i = 0; i < r->nfields; i++) {
		uint8_t t = r->types[i];
		if (t > FL_TIMESTAMP) {
			snprintf(why, len, "field %u has the unknown type %u", i, t);
			return FL_EINVAL;
		}
		if ((t == FL_STRING || t == FL_BYTES) && !r->values[i].u.s.ptr && r->values[i].u.s.len) {
			snprintf(why, len, "field %u is a NULL %s of %u bytes", i,
				 t == FL_STRING ? "string" : "byte string", r->values[i].u.s.len);
			return FL_EINVAL;
		}
		total += 1 + field_bound(t, &r->values[i]);
	}
	if (total > ROW_MAX_ENCODED) {
		snprintf(why, len, "it encodes to about %zu bytes, over the %u-byte limit", total,
			 ROW_MAX_ENCODED);
		return FL_ERANGE;
	}
	return 0;
}
