/*
 * config_values.c — the value syntaxes of configuration keys, as Flink's
 * TimeUtils.parseDuration and MemorySize.parseBytes read them: a decimal
 * number, optional blanks, an optional case-insensitive unit; and plain
 * decimal numbers for fractions.
 */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "config/config_internal.h"

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

/* Trims s into [*b, *e). */
static void trim(const char *s, const char **b, const char **e)
{
	const char *end = s + strlen(s);
	while (s < end && is_blank(*s))
		s++;
	while (end > s && is_blank(end[-1]))
		end--;
	*b = s;
	*e = end;
}

int cfg_parse_int(const char *s, int64_t *out)
{
	const char *b, *e;
	if (!s || !out)
		return FL_EINVAL;
	trim(s, &b, &e);
	const char *p = b;
	bool neg = false;
	if (p < e && (*p == '+' || *p == '-'))
		neg = *p++ == '-';
	if (p == e)
		return FL_EINVAL;
	uint64_t v = 0;
	/* Accumulate the magnitude; INT64_MIN's magnitude is one above max. */
	uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; p < e; p++) {
		if (*p < '0' || *p > '9')
			return FL_EINVAL;
		unsigned d = (unsigned)(*p - '0');
		if (v > (limit - d) / 10)
			return FL_EINVAL;
		v = v * 10 + d;
	}
	if (neg)
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*out = (int64_t)v;
	return 0;
}

int cfg_parse_bool(const char *s, bool *out)
{
	const char *b, *e;
	if (!s || !out)
		return FL_EINVAL;
	trim(s, &b, &e);
	size_t n = (size_t)(e - b);
	if (n == 4 && strncasecmp(b, "true", 4) == 0) {
		*out = true;
		return 0;
	}
	if (n == 5 && strncasecmp(b, "false", 5) == 0) {
		*out = false;
		return 0;
	}
	return FL_EINVAL;
}

struct unit {
	const char *label;
	int64_t factor;
};

/*
 * Splits "<digits><blanks><unit>" and returns digits * the unit's factor
 * (the first table entry's label may be empty: no unit). No sign, no
 * fraction, no overflow.
 */
static int parse_scaled(const char *s, const struct unit *units, size_t nunits, int64_t *out)
{
	const char *b, *e;
	if (!s || !out)
		return FL_EINVAL;
	trim(s, &b, &e);
	const char *p = b;
	int64_t v = 0;
	while (p < e && *p >= '0' && *p <= '9') {
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *p - '0', &v))
			return FL_EINVAL;
		p++;
	}
	if (p == b)
		return FL_EINVAL; /* does not start with a number */
	while (p < e && is_blank(*p))
		p++;
	size_t ulen = (size_t)(e - p);
	for (size_t i = 0; i < nunits; i++) {
		if (strlen(units[i].label) == ulen && strncasecmp(p, units[i].label, ulen) == 0) {
			int64_t r;
			if (__builtin_mul_overflow(v, units[i].factor, &r))
				return FL_EINVAL;
			*out = r;
			return 0;
		}
	}
	return FL_EINVAL;
}

#define MS_PER_S INT64_C(1000)
#define MS_PER_MIN (60 * MS_PER_S)
#define MS_PER_H (60 * MS_PER_MIN)
#define MS_PER_D (24 * MS_PER_H)

static const struct unit duration_units[] = {
    {"", 1},
    {"ms", 1},
    {"milli", 1},
    {"millis", 1},
    {"millisecond", 1},
    {"milliseconds", 1},
    {"s", MS_PER_S},
    {"sec", MS_PER_S},
    {"secs", MS_PER_S},
    {"second", MS_PER_S},
    {"seconds", MS_PER_S},
    {"m", MS_PER_MIN}, /* Flink's TimeUtils reads "m" as minutes */
    {"min", MS_PER_MIN},
    {"mins", MS_PER_MIN},
    {"minute", MS_PER_MIN},
    {"minutes", MS_PER_MIN},
    {"h", MS_PER_H},
    {"hour", MS_PER_H},
    {"hours", MS_PER_H},
    {"d", MS_PER_D},
    {"day", MS_PER_D},
    {"days", MS_PER_D},
};

int cfg_parse_duration_ms(const char *s, int64_t *out)
{
	return parse_scaled(s, duration_units, sizeof(duration_units) / sizeof(duration_units[0]),
			    out);
}

#define KIB INT64_C(1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define TIB (GIB * 1024)

static const struct unit memory_units[] = {
    {"", 1},	 {"b", 1},     {"bytes", 1},	   {"k", KIB},
    {"kb", KIB}, {"kib", KIB}, {"kibibytes", KIB}, {"m", MIB},
    {"mb", MIB}, {"mib", MIB}, {"mebibytes", MIB}, {"g", GIB},
    {"gb", GIB}, {"gib", GIB}, {"gibibytes", GIB}, {"t", TIB},
    {"tb", TIB}, {"tib", TIB}, {"tebibytes", TIB},
};

int cfg_parse_memory_bytes(const char *s, int64_t *out)
{
	const char *b, *e;
	if (!s || !out)
		return FL_EINVAL;
	/* Flink documents an unbounded size (taskmanager.memory.network.max) as
	 * "infinite"; it stands for the largest size, as MemorySize.MAX_VALUE. */
	trim(s, &b, &e);
	if (e - b == 8 && strncasecmp(b, "infinite", 8) == 0) {
		*out = INT64_MAX;
		return 0;
	}
	return parse_scaled(s, memory_units, sizeof(memory_units) / sizeof(memory_units[0]), out);
}

int cfg_parse_decimal(const char *s, double *out)
{
	/* Exact powers of ten as doubles (10^22 is the largest). */
	static const double p10[] = {1e0,  1e1,	 1e2,  1e3,  1e4,  1e5,	 1e6,  1e7,
				     1e8,  1e9,	 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
				     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
	const char *b, *e;
	if (!s || !out)
		return FL_EINVAL;
	trim(s, &b, &e);
	const char *p = b;
	if (p < e && *p == '+')
		p++;
	/* Up to 19 significant digits in m, value = m / 10^scale. By hand
	 * rather than strtod, whose decimal point follows LC_NUMERIC. */
	uint64_t m = 0;
	int digits = 0;
	int64_t scale = 0;
	bool any = false, dot = false;
	for (; p < e; p++) {
		if (*p == '.' && !dot) {
			dot = true;
			continue;
		}
		if (*p < '0' || *p > '9')
			return FL_EINVAL;
		any = true;
		if (m == 0 && *p == '0') {
			scale += dot; /* a leading zero */
		} else if (digits < 19) {
			m = m * 10 + (uint64_t)(*p - '0');
			digits++;
			scale += dot;
		} else if (!dot) {
			scale--; /* a digit beyond the 19th, before the point */
		}
	}
	if (!any)
		return FL_EINVAL;
	/* One rounding when m < 2^53 and scale <= 22, as for "0.1". */
	double v = (double)m;
	for (; scale > 22 && v != 0; scale -= 22)
		v /= p10[22];
	for (; scale < -22 && isfinite(v); scale += 22)
		v *= p10[22];
	if (scale >= 0 && scale <= 22)
		v /= p10[scale];
	else if (scale < 0 && scale >= -22)
		v *= p10[-scale];
	if (!isfinite(v))
		return FL_EINVAL; /* more than 308 digits before the point */
	*out = v;
	return 0;
}
