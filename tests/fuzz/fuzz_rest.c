/*
 * fuzz_rest.c — libFuzzer target for the REST server's request-side
 * parsers (runtime/rest/rest_internal.h, rest_multipart_file): what any
 * client that reaches the REST port controls.
 *
 * The input is read several ways: up to its first '\n' as a Content-Type
 * and the rest as a multipart body; whole, as a request path, a query
 * string, a route pattern, a static file path; and as the data of a file
 * part or a parameter value that must come back unchanged.
 *
 * Properties: no crash, leak or read outside the input (each view is its
 * own allocation of exactly its length, so ASan sees one byte past it); a
 * multipart refusal says why and leaves no result; a result lies inside the
 * body; a file part whose data holds no delimiter comes back byte for byte;
 * a percent-encoded value decodes to itself; a route pattern matches its
 * own text; a static name never climbs out of the root.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rest/rest.h"
#include "rest/rest_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

#define BOUNDARY "fuzzB0undary"

static uint8_t *dup_exact(const void *p, size_t n)
{
	uint8_t *b = malloc(n ? n : 1);
	if (!b)
		abort();
	if (n)
		memcpy(b, p, n);
	return b;
}

/* The input as a C string: cut at its first NUL, in an allocation of exactly
 * that length plus the NUL. */
static char *cstr(const uint8_t *data, size_t size)
{
	const uint8_t *z = memchr(data, '\0', size);
	size_t n = z ? (size_t)(z - data) : size;
	char *s = malloc(n + 1);
	if (!s)
		abort();
	memcpy(s, data, n);
	s[n] = '\0';
	return s;
}

static void multipart_as_given(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t ctl = nl ? (size_t)(nl - data) : size;
	char *ct = cstr(data, ctl);
	size_t bl = nl ? size - ctl - 1 : 0;
	uint8_t *body = dup_exact(nl ? nl + 1 : data, bl);
	const uint8_t *got = (const uint8_t *)"x";
	size_t len = 99;
	char fname[16];
	cm_err err = {0};
	int rc =
	    rest_multipart_file(ct, body, bl, "jarfile", &got, &len, fname, sizeof(fname), &err);
	if (rc == 0) {
		CHECK(got >= body && len <= bl && (size_t)(got - body) <= bl - len);
		CHECK(strlen(fname) < sizeof(fname));
	} else {
		CHECK(rc == FL_EPROTO || rc == FL_ENOENT);
		CHECK(err.msg[0] != '\0' && got == NULL && len == 0 && fname[0] == '\0');
	}
	free(body);
	free(ct);
}

/* The input as a file's data inside a well-formed body. */
static void multipart_round_trip(const uint8_t *data, size_t size)
{
	static const char head[] = "--" BOUNDARY "\r\n"
				   "Content-Disposition: form-data; name=\"jarfile\"; "
				   "filename=\"f.jar\"\r\n\r\n";
	static const char tail[] = "\r\n--" BOUNDARY "--\r\n";
	size_t hl = sizeof(head) - 1, tl = sizeof(tail) - 1;
	uint8_t *body = malloc(hl + size + tl);
	if (!body)
		abort();
	memcpy(body, head, hl);
	if (size)
		memcpy(body + hl, data, size);
	memcpy(body + hl + size, tail, tl);
	const uint8_t *got;
	size_t len;
	char fname[16];
	cm_err err = {0};
	int rc =
	    rest_multipart_file("multipart/form-data; boundary=" BOUNDARY, body, hl + size + tl,
				"jarfile", &got, &len, fname, sizeof(fname), &err);
	/* "\r\n--BOUNDARY" in the data (the CRLF before it included) may end
	 * the part early; without one the data must come back whole. */
	static const char delim[] = "\r\n--" BOUNDARY;
	if (!memmem(body + hl - 2, size + 2, delim, sizeof(delim) - 1)) {
		CHECK(rc == 0);
		CHECK(got == body + hl && len == size);
		CHECK(strcmp(fname, "f.jar") == 0);
	}
	free(body);
}

static void path_and_patterns(const uint8_t *data, size_t size)
{
	static const char *const patterns[] = {"/",
					       "/jobs",
					       "/jobs/overview",
					       "/jobs/:jobid",
					       "/jobs/:jobid/vertices/:vertexid",
					       "/jars/:jarid/run",
					       "/:a/:b/:c/:d/:e/:f/:g/:h"};
	uint8_t *raw = dup_exact(data, size);
	rest_path p;
	char why[128];
	int rc = rest_path_parse(&p, (const char *)raw, size, why, sizeof(why));
	if (rc == 0) {
		CHECK(p.nseg >= -1 && p.nseg <= REST_MAX_SEGMENTS);
		CHECK(strlen(p.decoded) <= size);
		for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
			rest_pattern *pat;
			CHECK(rest_pattern_parse(&pat, patterns[i], NULL) == 0);
			const char *names[REST_MAX_PARAMS], *values[REST_MAX_PARAMS];
			int np = -1;
			if (rest_pattern_match(pat, &p, names, values, &np)) {
				CHECK(np >= 0 && np <= REST_MAX_PARAMS);
				for (int k = 0; k < np; k++)
					CHECK(values[k][0] != '\0');
			}
			rest_pattern_free(pat);
		}
		rest_path_fini(&p);
	} else {
		CHECK(rc == FL_EPROTO && why[0] != '\0');
	}
	free(raw);

	/* The input as a pattern: accepted ones match their own text. */
	char *text = cstr(data, size);
	rest_pattern *pat;
	cm_err err = {0};
	rc = rest_pattern_parse(&pat, text, &err);
	if (rc == 0) {
		rest_path tp;
		CHECK(rest_path_parse(&tp, text, strlen(text), why, sizeof(why)) == 0);
		const char *names[REST_MAX_PARAMS], *values[REST_MAX_PARAMS];
		int np;
		CHECK(rest_pattern_match(pat, &tp, names, values, &np));
		rest_path_fini(&tp);
		rest_pattern_free(pat);
	} else {
		CHECK(rc == FL_EINVAL && err.msg[0] != '\0');
	}

	/* The input as a static path. */
	char name[256];
	rc = rest_static_name(text, name, sizeof(name), why, sizeof(why));
	if (rc == 0) {
		CHECK(name[0] != '/');
		for (const char *s = name;;) {
			const char *e = strchr(s, '/');
			size_t n = e ? (size_t)(e - s) : strlen(s);
			CHECK(!(n == 2 && s[0] == '.' && s[1] == '.'));
			CHECK(!(n == 1 && s[0] == '.'));
			if (!e)
				break;
			s = e + 1;
		}
	}
	free(text);
}

static void queries(const uint8_t *data, size_t size)
{
	uint8_t *q = dup_exact(data, size);
	static const char *const keys[] = {"a", "jarfile", "", "b c"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char buf[32];
		int rc = rest_query_find((const char *)q, size, keys[i], buf, sizeof(buf));
		CHECK(rc == 0 || rc == FL_ENOENT || rc == FL_ERANGE);
		CHECK(strlen(buf) < sizeof(buf));
	}
	free(q);

	/* The input, percent-encoded as a value, decodes to itself (up to a
	 * NUL, which no value may hold). */
	size_t n = 0;
	while (n < size && data[n] != 0)
		n++;
	char *enc = malloc(2 + 3 * n + 1);
	char *dec = malloc(n + 1);
	if (!enc || !dec)
		abort();
	size_t e = 0;
	enc[e++] = 'k';
	enc[e++] = '=';
	for (size_t i = 0; i < n; i++) {
		if (data[i] == '&' || data[i] == '%' || data[i] == '+' || data[i] == '=' ||
		    data[i] == '#' || data[i] >= 0x80 || data[i] < 0x20)
			e += (size_t)sprintf(enc + e, "%%%02X", data[i]);
		else
			enc[e++] = (char)data[i];
	}
	enc[e] = '\0';
	CHECK(rest_query_find(enc, e, "k", dec, n + 1) == 0);
	CHECK(strlen(dec) == n && memcmp(dec, data, n) == 0);
	if (n > 0)
		CHECK(rest_query_find(enc, e, "k", dec, n) == FL_ERANGE);
	free(enc);
	free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	multipart_as_given(data, size);
	multipart_round_trip(data, size);
	path_and_patterns(data, size);
	queries(data, size);
	return 0;
}
