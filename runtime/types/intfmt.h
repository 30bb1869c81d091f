/*
 * intfmt.h — integers as decimal text, without printf.
 *
 * The text sinks write one line per record, mostly counts: snprintf's
 * format parsing and locale machinery cost more than the rest of the line.
 * fmt_int64 writes exactly the bytes snprintf("%" PRId64) writes (no NUL).
 */
#ifndef FLINC_TYPES_INTFMT_H
#define FLINC_TYPES_INTFMT_H

#include <stddef.h>
#include <stdint.h>

/* Most bytes fmt_int64 writes: "-9223372036854775808". */
#define FMT_INT64_MAX 20

/*
 * Writes v in decimal (a '-' before a negative one) to buf[0, n), where n,
 * between 1 and FMT_INT64_MAX, is the returned length. If n > cap nothing is
 * written (buf may then be NULL). No NUL is written.
 */
size_t fmt_int64(char *buf, size_t cap, int64_t v);

#endif
