#include <flinc/flinc.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "types/intfmt.h"

/* Output that counts every byte but stores only what fits, as snprintf. */
struct sink {
	char *buf;
	size_t cap; /* bytes storable before the NUL: cap - 1, or 0 */
	size_t len; /* bytes the full text needs so far */
};

static void sink_put(struct sink *s, const char *p, size_t n)
{
	if (n > 0 && s->len < s->cap) {
		size_t room = s->cap - s->len;
		memcpy(s->buf + s->len, p, n < room ? n : room);
	}
	s->len += n;
}

static void sink_str(struct sink *s, const char *p)
{
	sink_put(s, p, strlen(p));
}

/* An integer straight into the output when it surely fits (the usual
 * case: one line in a sink's large buffer), through a copy when it may not. */
static void sink_int64(struct sink *s, int64_t v)
{
	if (s->len < s->cap && s->cap - s->len >= FMT_INT64_MAX) {
		s->len += fmt_int64(s->buf + s->len, s->cap - s->len, v);
		return;
	}
	char tmp[FMT_INT64_MAX];
	sink_put(s, tmp, fmt_int64(tmp, sizeof(tmp), v));
}

/*
 * Shortest "%.*g" text that reads back as the same double. "%.17g" always
 * round-trips but prints 0.1 as 0.10000000000000001; users expect 0.1.
 * Non-finite values print as Java's Double.toString does, since Flink's print
 * sink shows them that way (strtod accepts both spellings).
 */
static void format_double(struct sink *s, double d)
{
	char tmp[40];
	if (isnan(d)) {
		sink_str(s, "NaN");
		return;
	}
	if (isinf(d)) {
		sink_str(s, d < 0 ? "-Infinity" : "Infinity");
		return;
	}
	int prec;
	for (prec = 1; prec < 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	if (prec == 17)
		snprintf(tmp, sizeof(tmp), "%.17g", d);
	/* The shortest form of 100 is "1e+02"; print whole numbers of up to
	 * 17 digits in full instead (more precision still round-trips). */
	char *e = strchr(tmp, 'e');
	if (e) {
		long x = strtol(e + 1, NULL, 10);
		if (x >= prec && x < 17)
			snprintf(tmp, sizeof(tmp), "%.*g", (int)x + 1, d);
	}
	sink_str(s, tmp);
}

FL_API size_t fl_row_format(const fl_row *r, char *buf, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	struct sink s = {buf, cap ? cap - 1 : 0, 0};
	uint32_t nf = r->nfields < FL_ROW_MAX_FIELDS ? r->nfields : FL_ROW_MAX_FIELDS;
	for (uint32_t i = 0; i < nf; i++) {
		const fl_value *v = &r->values[i];
		if (i > 0)
			sink_put(&s, "\t", 1);
		switch (r->types[i]) {
		case FL_NULL:
			sink_str(&s, "null");
			break;
		case FL_INT64:
		case FL_TIMESTAMP:
			sink_int64(&s, v->u.i);
			break;
		case FL_DOUBLE:
			format_double(&s, v->u.d);
			break;
		case FL_BOOL:
			sink_str(&s, v->u.b ? "true" : "false");
			break;
		case FL_STRING:
			if (!v->u.s.ptr && v->u.s.len)
				sink_str(&s, "(null)");
			else
				sink_put(&s, v->u.s.ptr, v->u.s.len);
			break;
		case FL_BYTES: {
			const unsigned char *p = (const unsigned char *)v->u.s.ptr;
			if (!p && v->u.s.len) {
				sink_str(&s, "(null)");
				break;
			}
			for (uint32_t j = 0; j < v->u.s.len; j++) {
				char h[2] = {hex[p[j] >> 4], hex[p[j] & 15]};
				sink_put(&s, h, 2);
			}
			break;
		}
		default:
			sink_str(&s, "?");
			break;
		}
	}
	if (cap > 0)
		buf[s.len < s.cap ? s.len : s.cap] = '\0';
	return s.len;
}
