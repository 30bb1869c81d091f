/*
 * varint.h — unsigned LEB128 varints and zigzag, shared by the row codec
 * (types/codec.c) and the control-message buffers (common/buf.c).
 *
 * The encoding is canonical: cm_varint_get accepts only the minimal form that
 * cm_varint_put produces (no trailing 0x80/0x00 padding, no bits above 63), so
 * decoded-then-re-encoded bytes are identical. Everything here is pure and
 * thread-safe.
 */
#ifndef FLINC_COMMON_VARINT_H
#define FLINC_COMMON_VARINT_H

#include <stddef.h>
#include <stdint.h>

/* Most bytes a varint of a uint64_t takes. */
#define CM_VARINT_MAX 10

/* cm_varint_len returns the bytes cm_varint_put writes for v (1..10). */
static inline size_t cm_varint_len(uint64_t v)
{
	/* bits needed, rounded up to groups of 7 */
	unsigned bits = 64u - (unsigned)__builtin_clzll(v | 1);
	return (bits + 6) / 7;
}

/*
 * cm_varint_put writes v into buf[0..cap) and returns the bytes written, or 0
 * if it does not fit (nothing written then). Never writes past buf + cap.
 */
static inline size_t cm_varint_put(uint8_t *buf, size_t cap, uint64_t v)
{
	size_t n = cm_varint_len(v);
	if (n > cap)
		return 0;
	while (v >= 0x80) {
		*buf++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*buf = (uint8_t)v;
	return n;
}

/*
 * cm_varint_get reads one varint from buf[0..len) into *v and returns the
 * bytes read (1..10), or 0 when the input is truncated, longer than 10 bytes,
 * overflows 64 bits or is not minimal (*v untouched then). Never reads past
 * buf + len.
 */
static inline size_t cm_varint_get(const uint8_t *buf, size_t len, uint64_t *v)
{
	uint64_t r = 0;
	size_t max = len < CM_VARINT_MAX ? len : CM_VARINT_MAX;
	for (size_t i = 0; i < max; i++) {
		uint8_t b = buf[i];
		r |= (uint64_t)(b & 0x7f) << (7 * i);
		if (b < 0x80) {
			/* The 10th byte holds only bit 63; a zero last byte after
			 * others is an overlong (non-canonical) form. */
			if ((i == CM_VARINT_MAX - 1 && b > 1) || (i > 0 && b == 0))
				return 0;
			*v = r;
			return i + 1;
		}
	}
	return 0; /* truncated, or more than 10 bytes */
}

/* cm_zigzag maps signed to unsigned so that small magnitudes stay small:
 * 0, -1, 1, -2, ... become 0, 1, 2, 3, ... */
static inline uint64_t cm_zigzag(int64_t v)
{
	uint64_t u = (uint64_t)v;
	return (u << 1) ^ (0 - (u >> 63));
}

/* cm_unzigzag is the inverse of cm_zigzag. */
static inline int64_t cm_unzigzag(uint64_t z)
{
	return (int64_t)((z >> 1) ^ (0 - (z & 1)));
}

#endif
