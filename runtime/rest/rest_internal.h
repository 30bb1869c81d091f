/*
 * rest_internal.h — the request-side parsers of the REST server, apart from
 * the server so that unit tests and the fuzzer (tests/fuzz/fuzz_rest.c)
 * reach them without a socket: percent-decoding, path patterns and their
 * matching, static file names. Internal to runtime/rest/.
 *
 * Everything here reads input from a peer: every function is bounded by
 * the lengths it is given, never reads past them, and refuses what it
 * cannot represent instead of cutting it short. None keeps state; all are
 * thread-safe.
 */
#ifndef FLINC_REST_REST_INTERNAL_H
#define FLINC_REST_REST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "rest/rest.h"

/* Segments of a pattern or of a routable path. A request path with more is
 * matched by no route (404), never refused as malformed. */
#define REST_MAX_SEGMENTS 32
/* Bytes of a pattern ("/jobs/:jobid/..."); request paths are capped by
 * NNG's 8 KiB header buffer. */
#define REST_MAX_PATTERN 512

/*
 * Percent-decodes in[0..len) into out (cap bytes, NUL-terminated), '+' as
 * a space when plus_is_space (query strings, as Flink's netty decoder
 * does). Stores the decoded length (without the NUL) in *out_len when not
 * NULL. Returns 0; FL_EPROTO for a '%' not followed by two hex digits or
 * an escape that decodes to a NUL byte (a C string could not carry it);
 * FL_ERANGE when the result and its NUL do not fit in cap. out holds ""
 * on error (when cap > 0).
 */
int rest_pct_decode(const char *in, size_t len, char *out, size_t cap, bool plus_is_space,
		    size_t *out_len);

/* A parsed route pattern. Opaque; immutable once parsed. */
typedef struct rest_pattern rest_pattern;

/*
 * Parses pattern: '/' followed by segments separated by single '/', each a
 * literal (unreserved characters of RFC 3986: letters, digits, "-._~", and
 * none of "." or "..") or ":name" (name: letters, digits, '_'; at most
 * REST_MAX_PARAMS, no name twice). "/" alone has no segment; a trailing '/'
 * is refused (request paths match with or without one). At most
 * REST_MAX_SEGMENTS segments and REST_MAX_PATTERN bytes. On success *out
 * owns a copy (free with rest_pattern_free). Returns 0, FL_EINVAL with err
 * naming the pattern and what is wrong, or FL_ENOMEM.
 */
int rest_pattern_parse(rest_pattern **out, const char *pattern, cm_err *err);
void rest_pattern_free(rest_pattern *p);
/* The pattern's text, as given. */
const char *rest_pattern_text(const rest_pattern *p);

/*
 * A request path split into percent-decoded segments. The segments live in
 * buf; decoded is the whole path decoded (for rest_request.path). Fields are
 * read-only for users; filled by rest_path_parse, released by
 * rest_path_fini.
 */
typedef struct rest_path {
	char *buf;
	char *decoded;
	const char *seg[REST_MAX_SEGMENTS];
	int nseg; /* -1: more segments than REST_MAX_SEGMENTS (routes never match) */
} rest_path;

/*
 * Parses raw[0..len), the request target's path (before any '?'), which
 * must begin with '/'. Each segment between '/' is percent-decoded on its
 * own, so "%2F" inside a parameter stays inside it. A trailing '/' is
 * ignored ("/jobs/" is "/jobs"); an empty segment inside ("/a//b") is kept
 * and matches nothing. Returns 0; FL_EPROTO with why (cap bytes) naming the
 * fault: no leading '/', a malformed escape, an escape decoding to NUL;
 * FL_ENOMEM. On error p needs no rest_path_fini.
 */
int rest_path_parse(rest_path *p, const char *raw, size_t len, char *why, size_t cap);
void rest_path_fini(rest_path *p);

/*
 * Matches path against pattern: same number of segments, literals equal
 * byte for byte, parameters non-empty. On a match stores the parameters'
 * names and values (views into pattern and path) in names/values (at least
 * REST_MAX_PARAMS each) and their count in *nparams, and returns true.
 */
bool rest_pattern_match(const rest_pattern *pattern, const rest_path *path, const char **names,
			const char **values, int *nparams);

/*
 * Finds query parameter key in query[0..len) ("a=1&b=x%20y"; pairs split by
 * '&', a pair without '=' has the value ""; keys compared after decoding,
 * the first pair with the key wins; a pair whose key is malformed is
 * skipped) and decodes its value ('+' is a space) into buf (cap bytes).
 * Returns 0, FL_ENOENT, or FL_ERANGE (does not fit, or a malformed or NUL
 * escape in the value; buf holds "").
 */
int rest_query_find(const char *query, size_t len, const char *key, char *buf, size_t cap);

/*
 * The file a static GET asks for: decoded path -> a name relative to the
 * static root, written to out (cap bytes). "/" and any path ending in '/'
 * name that directory's index.html; the leading '/' is dropped. Refuses
 * (FL_EPROTO, why filled) a segment "." or "..", a backslash, a NUL, and
 * names that do not fit (FL_ERANGE).
 */
int rest_static_name(const char *decoded_path, char *out, size_t cap, char *why, size_t why_cap);

/* Largest static file served (the web UI's bundles are a few MiB); a larger
 * one is answered 500 naming the limit. */
#define REST_STATIC_MAX_FILE (64 * 1024 * 1024)

/*
 * Reads the regular file name (from rest_static_name) beneath the directory
 * open as root into *data (malloc'd; the caller frees it) and *len. With
 * use_openat2 the kernel resolves name beneath root (symbolic links that
 * stay inside are followed) and the component walk below is the fallback
 * where openat2 is refused; without it every component is opened with
 * O_NOFOLLOW (no symbolic link at all). Returns 0; FL_ENOENT (missing,
 * unreadable, not a regular file, or resolving outside root); FL_ERANGE
 * (larger than REST_STATIC_MAX_FILE); FL_ENOMEM; FL_EIO.
 */
int rest_static_read(int root, const char *name, bool use_openat2, uint8_t **data, size_t *len);

/* The Content-Type for a file name by its extension (case-insensitive):
 * .html, .js, .css, .json, .png, .svg, .ico, .woff2 and a few more;
 * "application/octet-stream" otherwise. Never NULL. */
const char *rest_content_type(const char *name);

#endif
