/*
 * codec.h — the compact binary encoding of rows.
 *
 * A row is encoded as: varint nfields, then per field one type byte followed
 * by its payload:
 *   FL_NULL      nothing
 *   FL_INT64     zigzag varint (1 byte for -64..63)
 *   FL_TIMESTAMP zigzag varint
 *   FL_DOUBLE    8 bytes, IEEE 754 little endian
 *   FL_BOOL      1 byte (0 or 1)
 *   FL_STRING    varint length, bytes
 *   FL_BYTES     varint length, bytes
 * The encoding is canonical: equal rows have equal bytes, so encoded keys can
 * be hashed and compared as bytes.
 *
 * In network buffers each record is framed as varint length + encoded row.
 */
#ifndef FLINC_TYPES_CODEC_H
#define FLINC_TYPES_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <flinc/flinc.h>

#include "common/varint.h"

/*
 * A record with an event-time timestamp (Flink's StreamRecord with
 * hasTimestamp) is framed as varint length + ROW_TS_MARK + zigzag varint
 * timestamp + encoded row. The mark can never start an encoded row (its
 * first byte is nfields <= FL_ROW_MAX_FIELDS), so records without a
 * timestamp keep their bytes and cost nothing more.
 */
#define ROW_TS_MARK 0x7Fu
/* Most bytes the timestamp prefix takes. */
#define ROW_TS_PREFIX_MAX (1 + CM_VARINT_MAX)

/* Writes the prefix of timestamp ts into buf (cap >= ROW_TS_PREFIX_MAX);
 * returns its length. */
static inline size_t row_ts_prefix_put(uint8_t *buf, int64_t ts)
{
	buf[0] = ROW_TS_MARK;
	uint64_t z = ((uint64_t)ts << 1) ^ (uint64_t)(ts >> 63);
	return 1 + cm_varint_put(buf + 1, CM_VARINT_MAX, z);
}

/* Reads the optional timestamp prefix of a framed record buf[0..len):
 * returns the bytes it takes (0 when there is none: *ts untouched), or
 * -1 when it is malformed. */
static inline int row_ts_prefix_get(const uint8_t *buf, size_t len, int64_t *ts)
{
	if (len == 0 || buf[0] != ROW_TS_MARK)
		return 0;
	uint64_t z;
	size_t n = cm_varint_get(buf + 1, len - 1, &z);
	if (n == 0)
		return -1;
	*ts = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
	return (int)(1 + n);
}

/* Largest encoded row the runtime accepts (a record over this fails the job). */
#define ROW_MAX_ENCODED (16u * 1024u * 1024u)
/* Most bytes a varint of a uint64_t takes. */
#define ROW_VARINT_MAX CM_VARINT_MAX

/* Upper bound of row_encode's output for r (exact for all but varints). */
size_t row_encoded_bound(const fl_row *r);

/*
 * Encodes r into buf. Returns the number of bytes written (> 0), or 0 if cap is
 * too small (nothing useful written then). Never writes past buf + cap.
 */
size_t row_encode(const fl_row *r, uint8_t *buf, size_t cap);

/*
 * Decodes one row from buf[0..len). String and bytes fields of *out point
 * into buf, so buf must outlive *out. On success stores the bytes consumed in
 * *consumed and returns 0. Returns FL_EPROTO on malformed or truncated input
 * (unknown type byte, varint overflow, length past the end, more than
 * FL_ROW_MAX_FIELDS fields), never reading past buf + len.
 */
int row_decode(const uint8_t *buf, size_t len, fl_row *out, size_t *consumed);

/*
 * Rewrites, in place, field f of the encoded row buf[0..len) with field f of
 * r, when r's field f is an int64, timestamp or double of the type already
 * there and its encoding has the same length as the one it replaces (a
 * keyed sum, min or max changes one numeric field of its accumulator, and
 * its varint length changes only when the value crosses a power of 128).
 * The caller guarantees that buf decodes to r except in field f's value.
 * Returns 1 when rewritten (buf now encodes r exactly as row_encode would),
 * 0 when not (buf unchanged: encode the row instead).
 */
int row_patch_field(uint8_t *buf, size_t len, const fl_row *r, uint32_t f);

/* Varint helpers (unsigned LEB128), thin wrappers over cm_varint_put and
 * cm_varint_get (common/varint.h), which state the contract. */
size_t row_varint_put(uint8_t *buf, size_t cap, uint64_t v);
size_t row_varint_get(const uint8_t *buf, size_t len, uint64_t *v);

/*
 * Says why r cannot be encoded: FL_EINVAL (too many fields, an unknown type,
 * a NULL string with a length) or FL_ERANGE (over ROW_MAX_ENCODED), with
 * why filled; 0 if it can. For error messages: not on the hot path.
 */
int row_check(const fl_row *r, char *why, size_t len);

/*
 * Copies row r into a self-contained form: encodes it into *buf (grown with
 * realloc as needed, *cap updated) and decodes it back into *out so that
 * strings point into *buf. Used to keep a row beyond the call that received
 * it. Returns 0, FL_ENOMEM or FL_ERANGE (row over ROW_MAX_ENCODED).
 */
int row_copy(const fl_row *r, uint8_t **buf, size_t *cap, fl_row *out);

#endif
