/*
 * multipart.c — finds one file part of a multipart/form-data body (RFC 7578
 * over RFC 2046), as POST /jars/upload sends it. The body comes from a
 * peer: every scan is bounded by body_len, header lines and counts are
 * capped, and anything the RFCs do not allow is refused with a message
 * naming the part and the byte offset rather than guessed at. Nothing is
 * allocated: the result is a view into the body.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rest/rest.h"

#define MP_MAX_BOUNDARY 70 /* RFC 2046 */
#define MP_MAX_LINE 1024   /* a part's header line, without its CRLF */
#define MP_MAX_HEADERS 16  /* header lines per part */
#define MP_MAX_PARTS 1024

/* RFC 7230 tchar. */
static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 2046 bcharsnospace, and the space (not last). */
static bool is_bchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("'()+_,-./:=? ", c) != NULL;
}

static const char *skip_ows(const char *s, const char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	return s;
}

/*
 * One "; name=value" parameter of a header value (Content-Type,
 * Content-Disposition) starting at *sp (before the ';'). The value, a
 * token or a quoted-string, is stored unquoted and unescaped in val (cap
 * bytes, NUL-terminated; a quoted-string holding a NUL or a control
 * character other than HTAB is refused). Returns 1 with a parameter, 0 at
 * the end of the value, -1 when malformed (*sp at the fault).
 */
static int next_param(const char **sp, const char *end, char *name, size_t name_cap, char *val,
		      size_t val_cap)
{
	const char *s = skip_ows(*sp, end);
	if (s == end) {
		*sp = s;
		return 0;
	}
	if (*s != ';') {
		*sp = s;
		return -1;
	}
	s = skip_ows(s + 1, end);
	/* A name too long for name_cap is parsed but stored as "", which
	 * matches no parameter the callers look for. */
	const char *name_start = s;
	size_t n = 0;
	while (s < end && is_tchar((unsigned char)*s)) {
		if (n + 1 < name_cap)
			name[n++] = *s;
		s++;
	}
	name[(size_t)(s - name_start) == n ? n : 0] = '\0';
	if (s == name_start || s == end || *s != '=') {
		*sp = s;
		return -1;
	}
	s++;
	size_t v = 0;
	if (s < end && *s == '"') {
		s++;
		for (;;) {
			if (s == end) {
				*sp = s;
				return -1; /* unterminated */
			}
			unsigned char c = (unsigned char)*s;
			if (c == '"')
				break;
			if (c == '\\') {
				if (s + 1 == end) {
					*sp = s;
					return -1;
				}
				c = (unsigned char)*++s;
			}
			if ((c < 0x20 && c != '\t') || c == 0x7f || v + 1 >= val_cap) {
				*sp = s;
				return -1;
			}
			val[v++] = (char)c;
			s++;
		}
		s++;
	} else {
		while (s < end && is_tchar((unsigned char)*s)) {
			if (v + 1 >= val_cap) {
				*sp = s;
				return -1;
			}
			val[v++] = *s++;
		}
		if (v == 0) {
			*sp = s;
			return -1;
		}
	}
	val[v] = '\0';
	*sp = s;
	return 1;
}

/* The boundary of a multipart/form-data Content-Type, into b (at least
 * MP_MAX_BOUNDARY + 1 bytes). */
static int parse_content_type(const char *ct, char *b, cm_err *err)
{
	const char *end = ct + strlen(ct);
	const char *s = skip_ows(ct, end);
	static const char mt[] = "multipart/form-data";
	const char *t = s;
	while (t < end && *t != ';' && *t != ' ' && *t != '\t')
		t++;
	if ((size_t)(t - s) != sizeof(mt) - 1 || strncasecmp(s, mt, sizeof(mt) - 1) != 0)
		return cm_err_set(err, FL_EPROTO, "the Content-Type '%.80s' is not %s", ct, mt);
	char name[32], val[MP_MAX_LINE + 1];
	bool have = false;
	int r;
	s = t;
	while ((r = next_param(&s, end, name, sizeof(name), val, sizeof(val))) == 1) {
		if (strcasecmp(name, "boundary") != 0)
			continue;
		if (have)
			return cm_err_set(err, FL_EPROTO,
					  "the Content-Type '%.80s' has two boundary parameters",
					  ct);
		have = true;
		size_t n = strlen(val);
		if (n == 0 || n > MP_MAX_BOUNDARY)
			return cm_err_set(err, FL_EPROTO,
					  "the multipart boundary is %zu bytes long, not 1 to %d",
					  n, MP_MAX_BOUNDARY);
		for (size_t i = 0; i < n; i++)
			if (!is_bchar((unsigned char)val[i]) || (val[i] == ' ' && i == n - 1))
				return cm_err_set(err, FL_EPROTO,
						  "the multipart boundary has a character RFC 2046 "
						  "does not allow (byte %zu of it)",
						  i);
		memcpy(b, val, n + 1);
	}
	if (r < 0)
		return cm_err_set(err, FL_EPROTO,
				  "malformed parameter in the Content-Type '%.80s' at byte %zu", ct,
				  (size_t)(s - ct));
	if (!have)
		return cm_err_set(err, FL_EPROTO, "the Content-Type '%.80s' has no boundary", ct);
	return 0;
}

/*
 * Finds the next delimiter line at or after from: CRLF "--" boundary (or,
 * when from is 0, the delimiter alone at the start of the body), then
 * either "--" (the close delimiter) or optional SP/HTAB padding and CRLF.
 * An occurrence followed by anything else is not a delimiter (it is data)
 * and the search goes on. Returns the offset where the delimiter begins
 * (its CRLF) or SIZE_MAX; *next is the offset after the line, *close set
 * for the close delimiter.
 */
static size_t find_delimiter(const uint8_t *body, size_t n, size_t from, const char *needle,
			     size_t nlen, size_t *next, bool *close)
{
	if (n == 0)
		return SIZE_MAX;
	size_t at = from;
	bool at_start = from == 0;
	while (at <= n) {
		size_t hit, after;
		if (at_start && n >= nlen - 2 && memcmp(body, needle + 2, nlen - 2) == 0) {
			hit = 0;
			after = nlen - 2;
		} else {
			const uint8_t *p = memmem(body + at, n - at, needle, nlen);
			if (!p)
				return SIZE_MAX;
			hit = (size_t)(p - body);
			after = hit + nlen;
		}
		at_start = false;
		if (after + 2 <= n && body[after] == '-' && body[after + 1] == '-') {
			*close = true;
			*next = after + 2;
			return hit;
		}
		size_t q = after;
		while (q < n && (body[q] == ' ' || body[q] == '\t'))
			q++;
		if (q + 2 <= n && body[q] == '\r' && body[q + 1] == '\n') {
			*close = false;
			*next = q + 2;
			return hit;
		}
		at = hit + 1;
	}
	return SIZE_MAX;
}

/* Copies s into out (cap bytes) cut at a UTF-8 character boundary. */
static void copy_cut(char *out, size_t cap, const char *s)
{
	if (!out || cap == 0)
		return;
	size_t n = strlen(s);
	if (n >= cap) {
		n = cap - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(out, s, n);
	out[n] = '\0';
}

/* What one part's headers say. */
struct part_hdr {
	bool disposition;
	bool has_name, has_filename;
	char name[MP_MAX_LINE + 1];
	char filename[MP_MAX_LINE + 1];
};

static int parse_disposition(const char *v, const char *end, int k, size_t at, struct part_hdr *h,
			     cm_err *err)
{
	const char *s = v;
	while (s < end && is_tchar((unsigned char)*s))
		s++;
	if ((size_t)(s - v) != 9 || strncasecmp(v, "form-data", 9) != 0)
		return cm_err_set(err, FL_EPROTO,
				  "multipart part %d: the Content-Disposition at byte %zu is not "
				  "form-data",
				  k, at);
	char name[32], val[MP_MAX_LINE + 1];
	int r;
	while ((r = next_param(&s, end, name, sizeof(name), val, sizeof(val))) == 1) {
		bool is_name = strcasecmp(name, "name") == 0;
		bool is_file = strcasecmp(name, "filename") == 0;
		if (!is_name && !is_file)
			continue; /* filename* (RFC 7578 4.2: not to be used), others */
		if (is_name ? h->has_name : h->has_filename)
			return cm_err_set(err, FL_EPROTO,
					  "multipart part %d: the Content-Disposition at byte %zu "
					  "has two %s parameters",
					  k, at, name);
		memcpy(is_name ? h->name : h->filename, val, strlen(val) + 1);
		if (is_name)
			h->has_name = true;
		else
			h->has_filename = true;
	}
	if (r < 0)
		return cm_err_set(
		    err, FL_EPROTO,
		    "multipart part %d: malformed parameter in the Content-Disposition "
		    "at byte %zu",
		    k, at + (size_t)(s - v));
	if (!h->has_name)
		return cm_err_set(
		    err, FL_EPROTO,
		    "multipart part %d: the Content-Disposition at byte %zu has no name", k, at);
	return 0;
}

/*
 * Parses the headers of part k starting at body[from] up to and with the
 * empty line; stores the offset of the part's content in *content.
 */
static int parse_part_headers(const uint8_t *body, size_t n, size_t from, int k, struct part_hdr *h,
			      size_t *content, cm_err *err)
{
	size_t at = from;
	memset(h, 0, sizeof(*h));
	for (int lines = 0;; lines++) {
		/* The line: bytes up to CRLF, none of them CR, LF or a control
		 * character other than HTAB. */
		size_t e = at;
		size_t lim = n - at > MP_MAX_LINE ? at + MP_MAX_LINE + 1 : n;
		while (e < lim && body[e] != '\r' && body[e] != '\n' &&
		       (body[e] >= 0x20 || body[e] == '\t') && body[e] != 0x7f)
			e++;
		if (e == n || (e == n - 1 && body[e] == '\r'))
			return cm_err_set(err, FL_EPROTO,
					  "multipart part %d: the body ends inside its headers (at "
					  "byte %zu)",
					  k, n);
		if (e == lim)
			return cm_err_set(err, FL_EPROTO,
					  "multipart part %d: a header line at byte %zu is longer "
					  "than %d bytes",
					  k, at, MP_MAX_LINE);
		if (body[e] != '\r' || body[e + 1] != '\n')
			return cm_err_set(err, FL_EPROTO,
					  "multipart part %d: a header line at byte %zu has %s at "
					  "byte %zu",
					  k, at,
					  body[e] == '\r'   ? "a CR without LF"
					  : body[e] == '\n' ? "an LF without CR"
							    : "a control character",
					  e);
		if (e == at) {
			*content = e + 2;
			break;
		}
		if (lines == MP_MAX_HEADERS)
			return cm_err_set(err, FL_EPROTO,
					  "multipart part %d has more than %d header lines", k,
					  MP_MAX_HEADERS);
		const char *line = (const char *)body + at, *lend = (const char *)body + e;
		if (*line == ' ' || *line == '\t')
			return cm_err_set(err, FL_EPROTO,
					  "multipart part %d: a header line at byte %zu is folded "
					  "(begins with white space)",
					  k, at);
		const char *c = line;
		while (c < lend && is_tchar((unsigned char)*c))
			c++;
		if (c == line || c == lend || *c != ':')
			return cm_err_set(err, FL_EPROTO,
					  "multipart part %d: the header line at byte %zu is not "
					  "'Name: value'",
					  k, at);
		size_t nlen = (size_t)(c - line);
		const char *v = skip_ows(c + 1, lend);
		while (lend > v && (lend[-1] == ' ' || lend[-1] == '\t'))
			lend--;
		if (nlen == 19 && strncasecmp(line, "Content-Disposition", 19) == 0) {
			if (h->disposition)
				return cm_err_set(err, FL_EPROTO,
						  "multipart part %d has two Content-Disposition "
						  "headers",
						  k);
			h->disposition = true;
			int rc = parse_disposition(v, lend, k, at + (size_t)(v - line), h, err);
			if (rc != 0)
				return rc;
		}
		at = e + 2;
	}
	if (!h->disposition)
		return cm_err_set(err, FL_EPROTO,
				  "multipart part %d (at byte %zu) has no Content-Disposition", k,
				  from);
	return 0;
}

int rest_multipart_file(const char *content_type, const uint8_t *body, size_t body_len,
			const char *field, const uint8_t **data, size_t *len, char *filename,
			size_t cap, cm_err *err)
{
	*data = NULL;
	*len = 0;
	if (filename && cap > 0)
		filename[0] = '\0';
	char boundary[MP_MAX_BOUNDARY + 1];
	int rc = parse_content_type(content_type ? content_type : "", boundary, err);
	if (rc != 0)
		return rc;
	if (!body)
		body_len = 0;
	char needle[4 + MP_MAX_BOUNDARY + 1];
	size_t nlen = (size_t)snprintf(needle, sizeof(needle), "\r\n--%s", boundary);

	size_t next;
	bool close;
	size_t at = find_delimiter(body, body_len, 0, needle, nlen, &next, &close);
	if (at == SIZE_MAX)
		return cm_err_set(err, FL_EPROTO,
				  "the multipart body (%zu bytes) has no boundary line '--%s'",
				  body_len, boundary);
	/* The outputs are set only on success: the whole body must be valid. */
	bool found = false;
	size_t found_at = 0, found_len = 0;
	char found_name[MP_MAX_LINE + 1] = "";
	for (int k = 1; !close; k++) {
		if (k > MP_MAX_PARTS)
			return cm_err_set(err, FL_EPROTO,
					  "the multipart body has more than %d parts",
					  MP_MAX_PARTS);
		struct part_hdr h;
		size_t content = 0;
		rc = parse_part_headers(body, body_len, next, k, &h, &content, err);
		if (rc != 0)
			return rc;
		size_t end = find_delimiter(body, body_len, content, needle, nlen, &next, &close);
		if (end == SIZE_MAX)
			return cm_err_set(
			    err, FL_EPROTO,
			    "multipart part %d ('%.64s', at byte %zu) does not end with a "
			    "boundary line: the body is cut short or the boundary is "
			    "wrong",
			    k, h.name, content);
		if (strcmp(h.name, field) == 0) {
			if (found)
				return cm_err_set(err, FL_EPROTO,
						  "the multipart body has two parts named '%.64s'",
						  field);
			found = true;
			found_at = content;
			found_len = end - content;
			memcpy(found_name, h.filename, sizeof(found_name));
		}
	}
	if (!found)
		return cm_err_set(err, FL_ENOENT, "the multipart body has no part named '%.64s'",
				  field);
	*data = body + found_at;
	*len = found_len;
	copy_cut(filename, cap, found_name);
	return 0;
}
