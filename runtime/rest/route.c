/*
 * route.c — percent-decoding, route patterns, request paths and query
 * strings (rest_internal.h). Pure functions over bytes from a peer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rest/rest_internal.h"

#define REST_STR_(x) #x
#define REST_STR(x) REST_STR_(x)

struct rest_pattern {
	char *text;
	char *buf; /* the segments, NUL-separated; parameters without ':' */
	const char *seg[REST_MAX_SEGMENTS];
	bool param[REST_MAX_SEGMENTS];
	int nseg;
};

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int rest_pct_decode(const char *in, size_t len, char *out, size_t cap, bool plus_is_space,
		    size_t *out_len)
{
	size_t o = 0;
	int rc = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '%') {
			int hi = i + 2 < len ? hexval((unsigned char)in[i + 1]) : -1;
			int lo = i + 2 < len ? hexval((unsigned char)in[i + 2]) : -1;
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				rc = FL_EPROTO;
				break;
			}
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		} else if (c == '\0') {
			rc = FL_EPROTO;
			break;
		}
		if (o + 1 >= cap) {
			rc = FL_ERANGE;
			break;
		}
		out[o++] = (char)c;
	}
	if (rc != 0) {
		if (cap > 0)
			out[0] = '\0';
		return rc;
	}
	if (cap == 0)
		return FL_ERANGE;
	out[o] = '\0';
	if (out_len)
		*out_len = o;
	return 0;
}

/* ------------------------------------------------------------- patterns */

static bool is_unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static bool is_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

void rest_pattern_free(rest_pattern *p)
{
	if (!p)
		return;
	free(p->text);
	free(p->buf);
	free(p);
}

const char *rest_pattern_text(const rest_pattern *p)
{
	return p->text;
}

int rest_pattern_parse(rest_pattern **out, const char *pattern, cm_err *err)
{
	*out = NULL;
	if (!pattern || pattern[0] != '/')
		return cm_err_set(err, FL_EINVAL, "route pattern '%s' does not begin with '/'",
				  pattern ? pattern : "(null)");
	size_t len = strlen(pattern);
	if (len > REST_MAX_PATTERN)
		return cm_err_set(err, FL_EINVAL,
				  "route pattern '%.40s...' is longer than %d bytes", pattern,
				  REST_MAX_PATTERN);
	rest_pattern *p = calloc(1, sizeof(*p));
	if (!p)
		return cm_err_set(err, FL_ENOMEM, "out of memory for route pattern '%s'", pattern);
	p->text = strdup(pattern);
	p->buf = malloc(len + 1);
	if (!p->text || !p->buf) {
		rest_pattern_free(p);
		return cm_err_set(err, FL_ENOMEM, "out of memory for route pattern '%s'", pattern);
	}
	const char *why = NULL;
	char *w = p->buf;
	const char *s = pattern + 1;
	int nparams = 0;
	while (*s != '\0') {
		const char *end = strchr(s, '/');
		size_t n = end ? (size_t)(end - s) : strlen(s);
		if (n == 0) {
			why = end ? "has an empty segment" : "ends with '/'";
			break;
		}
		if (p->nseg == REST_MAX_SEGMENTS) {
			why = "has too many segments";
			break;
		}
		bool param = s[0] == ':';
		const char *name = param ? s + 1 : s;
		size_t nlen = param ? n - 1 : n;
		if (param && nlen == 0)
			why = "has a parameter without a name";
		for (size_t i = 0; i < nlen && !why; i++)
			if (param ? !is_name_char((unsigned char)name[i])
				  : !is_unreserved((unsigned char)name[i]))
				why = param ? "has a parameter name with a character other than a "
					      "letter, digit or '_'"
					    : "has a literal segment with a character that is not "
					      "unreserved (letters, digits, '-', '.', '_', '~')";
		if (!why && !param &&
		    ((nlen == 1 && name[0] == '.') ||
		     (nlen == 2 && name[0] == '.' && name[1] == '.')))
			why = "has a '.' or '..' segment";
		if (!why && param && ++nparams > REST_MAX_PARAMS)
			why = "has more than " REST_STR(REST_MAX_PARAMS) " parameters";
		for (int k = 0; k < p->nseg && !why && param; k++)
			if (p->param[k] && strlen(p->seg[k]) == nlen &&
			    memcmp(p->seg[k], name, nlen) == 0)
				why = "names a parameter twice";
		if (why)
			break;
		memcpy(w, name, nlen);
		w[nlen] = '\0';
		p->seg[p->nseg] = w;
		p->param[p->nseg] = param;
		p->nseg++;
		w += nlen + 1;
		if (!end)
			break;
		s = end + 1;
		if (*s == '\0') {
			why = "ends with '/'";
			break;
		}
	}
	if (why) {
		int rc = cm_err_set(err, FL_EINVAL, "route pattern '%s' %s", pattern, why);
		rest_pattern_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

/* ---------------------------------------------------------------- paths */

void rest_path_fini(rest_path *p)
{
	if (!p)
		return;
	free(p->buf);
	free(p->decoded);
	p->buf = NULL;
	p->decoded = NULL;
	p->nseg = 0;
}

static int path_fail(char *why, size_t cap, const char *msg, size_t at)
{
	if (cap > 0) {
		if (at == SIZE_MAX)
			snprintf(why, cap, "%s", msg);
		else
			snprintf(why, cap, "%s at byte %zu of the path", msg, at);
	}
	return FL_EPROTO;
}

int rest_path_parse(rest_path *p, const char *raw, size_t len, char *why, size_t cap)
{
	memset(p, 0, sizeof(*p));
	if (len == 0 || raw[0] != '/')
		return path_fail(why, cap, "the request target does not begin with '/'", SIZE_MAX);
	/* Decoding only shrinks: len + 1 bytes hold the segments and the
	 * whole path alike. */
	p->buf = malloc(len + 1);
	p->decoded = malloc(len + 1);
	if (!p->buf || !p->decoded) {
		rest_path_fini(p);
		if (cap > 0)
			snprintf(why, cap, "out of memory");
		return FL_ENOMEM;
	}
	for (size_t i = 0; i < len; i++) {
		if (raw[i] == '%' && (i + 2 >= len || hexval((unsigned char)raw[i + 1]) < 0 ||
				      hexval((unsigned char)raw[i + 2]) < 0)) {
			rest_path_fini(p);
			return path_fail(why, cap, "malformed percent-escape", i);
		}
		if (raw[i] == '\0' || (raw[i] == '%' && raw[i + 1] == '0' && raw[i + 2] == '0')) {
			rest_path_fini(p);
			return path_fail(why, cap, "NUL byte", i);
		}
	}
	/* The escapes are valid now: decoding cannot fail. */
	if (rest_pct_decode(raw, len, p->decoded, len + 1, false, NULL) != 0) {
		rest_path_fini(p);
		return path_fail(why, cap, "cannot decode the path", SIZE_MAX);
	}
	/* raw[1..end) holds the segments, separated by '/'; one trailing '/'
	 * is not a segment. */
	size_t end = len;
	if (end > 1 && raw[end - 1] == '/')
		end--;
	char *w = p->buf;
	for (size_t i = 1; end > 1;) {
		size_t j = i;
		while (j < end && raw[j] != '/')
			j++;
		if (p->nseg == REST_MAX_SEGMENTS) {
			p->nseg = -1;
			break;
		}
		size_t n = 0;
		(void)rest_pct_decode(raw + i, j - i, w, (size_t)(p->buf + len + 1 - w), false, &n);
		p->seg[p->nseg++] = w;
		w += n + 1;
		if (j >= end)
			break;
		i = j + 1;
	}
	return 0;
}

bool rest_pattern_match(const rest_pattern *pattern, const rest_path *path, const char **names,
			const char **values, int *nparams)
{
	if (path->nseg != pattern->nseg)
		return false;
	int np = 0;
	for (int i = 0; i < pattern->nseg; i++) {
		if (pattern->param[i]) {
			if (path->seg[i][0] == '\0')
				return false;
		} else if (strcmp(pattern->seg[i], path->seg[i]) != 0) {
			return false;
		}
	}
	for (int i = 0; i < pattern->nseg; i++) {
		if (pattern->param[i]) {
			names[np] = pattern->seg[i];
			values[np] = path->seg[i];
			np++;
		}
	}
	*nparams = np;
	return true;
}

/* ---------------------------------------------------------------- query */

/* Whether the percent-decoded form of raw[0..len) ('+' a space) is key. */
static bool decoded_equals(const char *raw, size_t len, const char *key)
{
	size_t k = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)raw[i];
		if (c == '%') {
			int hi = i + 2 < len ? hexval((unsigned char)raw[i + 1]) : -1;
			int lo = i + 2 < len ? hexval((unsigned char)raw[i + 2]) : -1;
			if (hi < 0 || lo < 0)
				return false;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (c == '\0' || key[k] == '\0' || (unsigned char)key[k] != c)
			return false;
		k++;
	}
	return key[k] == '\0';
}

int rest_query_find(const char *query, size_t len, const char *key, char *buf, size_t cap)
{
	if (cap > 0)
		buf[0] = '\0';
	size_t i = 0;
	while (i < len) {
		const char *pair = query + i;
		const char *amp = memchr(pair, '&', len - i);
		size_t n = amp ? (size_t)(amp - pair) : len - i;
		const char *eq = memchr(pair, '=', n);
		size_t klen = eq ? (size_t)(eq - pair) : n;
		if (n > 0 && decoded_equals(pair, klen, key)) {
			const char *v = eq ? eq + 1 : pair + n;
			size_t vlen = (size_t)(pair + n - v);
			if (rest_pct_decode(v, vlen, buf, cap, true, NULL) != 0)
				return FL_ERANGE;
			return 0;
		}
		i += n + 1;
	}
	return FL_ENOENT;
}
