/*
 * rest.h — the HTTP server behind the JobManager's REST API and web UI
 * (Flink's RestServerEndpoint), on NNG's HTTP server.
 *
 * Routes are a method and a path pattern whose segments are literals or
 * ":name" parameters ("/jobs/:jobid/vertices/:vertexid"); the first route
 * that matches both wins, so register literal routes before parametrised
 * ones that overlap them ("/jobs/overview" before "/jobs/:jobid"), as
 * Flink orders its handlers. Matching is per segment after
 * percent-decoding each ("%2F" stays inside a parameter); one trailing '/'
 * is ignored; HEAD is served by the GET route (headers only).
 *
 * Every answer under the API is JSON, and errors are Flink's shape,
 * {"errors": ["..."]}: 404 "Not found: <request target>" for a path no
 * route matches (and, with rest_static_dir, no file either), 405 with an
 * Allow header for a path that matches only with another method, 400 for a
 * malformed path (bad percent-escape, NUL) or Content-Length, 411 for a
 * body without Content-Length (a chunked one: NNG cannot read those), 413
 * for a body over max_body before a byte of it is read, 503 beyond
 * REST_MAX_CALLS requests in progress, 500 when a handler fails. A client
 * that sends "Expect: 100-continue" gets "100 Continue" once its request
 * is accepted. Answers that leave a body unread close the connection.
 *
 * What NNG 1.5.2 decides before this server sees a request: a request
 * line or header line with a control character, or without its spaces,
 * closes the connection without an answer; so does a partial line that
 * reaches the end of NNG's 8 KiB read buffer (a header block that arrives
 * at once is capped near 8 KiB); no Host header on HTTP/1.1 is 400, a
 * version other than HTTP/1.x 505, a target not beginning with '/' 404 —
 * those three with a JSON body but NNG's "text/html" Content-Type. NNG
 * has no read timeout and no cap on the number of header lines: a
 * connection that idles costs a descriptor and about 8 KiB, never a
 * thread, until the client goes; one that sends complete header lines a
 * packet at a time is read for as long as it sends (memory grows with
 * them). Where hostile clients can reach the port, put a proxy with
 * timeouts and header limits in front.
 *
 * Handlers run on the server's REST_WORKERS threads, several at once:
 * they must be thread-safe and may block briefly (a query to a
 * JobMaster's loop), but not on anything a client controls. They never
 * run on NNG's threads.
 */
#ifndef FLINC_REST_REST_H
#define FLINC_REST_REST_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define REST_MAX_PARAMS 8
/* Threads that run handlers and read static files. */
#define REST_WORKERS 4
/* Requests in progress at once (reading a body, queued or in a handler);
 * more are answered 503. With max_body this bounds the memory of bodies. */
#define REST_MAX_CALLS 256

typedef struct rest_request {
	const char *method;	  /* "GET", "POST", ... */
	const char *path;	  /* decoded path, without the query */
	const char *query;	  /* raw query string after '?', "" when none */
	const char *content_type; /* "" when absent */
	const uint8_t *body;	  /* NULL when empty */
	size_t body_len;
	/* The route's ":name" parameters, in pattern order, percent-decoded. */
	const char *param_names[REST_MAX_PARAMS];
	const char *params[REST_MAX_PARAMS];
	int nparams;
} rest_request;

typedef struct rest_response {
	int status;	       /* 200 unless the handler sets another */
	char content_type[64]; /* "application/json; charset=UTF-8" unless set */
	uint8_t *body;	       /* malloc'd, owned by the server after return */
	size_t body_len;
	char location[256]; /* a Location header when not empty */
} rest_response;

/* Fills resp; returns 0, or an FL_E* code to have the server answer 500
 * {"errors": ["Internal server error: <fl_strerror(code)>"]} and log the
 * route (the handler need not have touched resp; a body it set is freed).
 * resp->body must come from malloc (or rest_json/rest_error). */
typedef int (*rest_handler_fn)(void *arg, const rest_request *req, rest_response *resp);

typedef struct rest_server rest_server;

typedef struct rest_options {
	const char *bind_host; /* "" or NULL: all interfaces */
	int port;	       /* 0: any free port */
	size_t max_body;       /* rest.server.max-content-length; 0: 100 MiB */
} rest_options;

/* Creates a server (not yet serving). Returns 0, FL_ENOMEM or FL_EINVAL
 * (a port outside 0..65535, a host that is not a name or address; err
 * says which). */
int rest_server_new(rest_server **out, const rest_options *o, cm_err *err);
/* Adds a route before rest_server_start. method "GET", "POST", "PATCH",
 * "DELETE", "PUT". A pattern is '/' and segments of letters, digits and
 * "-._~", or ":name" (at most REST_MAX_PARAMS), without a trailing '/'.
 * Returns 0, FL_EINVAL (bad method or pattern, fn NULL, server started) or
 * FL_ENOMEM. */
int rest_route(rest_server *s, const char *method, const char *pattern, rest_handler_fn fn,
	       void *arg);
/* Serves a tree of static files (the web UI) under url prefix "/" for every
 * GET no route matched, from directory dir; "/" (and any path ending in
 * '/') serves that directory's index.html. A path with a "." or ".."
 * segment, or that resolves outside dir (a symbolic link out of it), is
 * 404; files are read whole, at most 64 MiB, with the Content-Type of
 * their extension (.html, .js, .css, .json, .png, .svg, .ico, .woff2, ...).
 * Optional; call before start. Returns 0, or FL_ENOENT / FL_EINVAL with err
 * naming dir when it cannot be opened as a directory. */
int rest_static_dir(rest_server *s, const char *dir, cm_err *err);
/* Starts the workers and listens. Returns 0, FL_EINVAL (already
 * started), FL_ENOMEM, or FL_EIO with err naming the address and NNG's
 * reason (in use, or served by another rest_server of this process). */
int rest_server_start(rest_server *s, cm_err *err);
/* The bound port (after start). */
int rest_server_port(const rest_server *s);
/* Stops and frees (s may be NULL): connections are closed, requests
 * not yet answered are dropped, and handlers running finish first; must
 * not be called from a handler or from a thread a handler waits for. */
void rest_server_free(rest_server *s);

/* ---------------------------------------------- helpers for handlers */

/* The value of ":name" in req, or NULL. */
const char *rest_param(const rest_request *req, const char *name);
/* Copies the percent-decoded value of query parameter key into buf (cap
 * bytes). Returns 0, FL_ENOENT (absent) or FL_ERANGE (too long, or bad
 * escapes). */
int rest_query(const rest_request *req, const char *key, char *buf, size_t cap);

/* Sets resp to status with a JSON body (takes the printed text of a cJSON
 * tree: json is cJSON *, freed here; NULL, as a failed cJSON_Create*
 * gives, is FL_ENOMEM). Replaces a body set before. Returns 0 or
 * FL_ENOMEM. */
int rest_json(rest_response *resp, int status, void *json);
/* Sets resp to status with the bytes of w as its body (taken: w is empty
 * after) and content_type (e.g. Prometheus' text format). Returns 0, w's
 * error, or FL_ENOMEM. */
struct cm_wbuf;
int rest_text(rest_response *resp, int status, const char *content_type, struct cm_wbuf *w);
/* Sets resp to status and {"errors": [message]}. Returns 0 or FL_ENOMEM. */
int rest_error(rest_response *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Finds the file part named field in a multipart/form-data body
 * (content_type carries the boundary). On success *data and *len view into
 * body and filename (may be NULL) receives the part's filename, cut to cap
 * bytes (at a UTF-8 character boundary; "" when the part has none). The
 * filename is the client's text: never use it as a path.
 *
 * The body is checked whole: a boundary of 1 to 70 characters RFC 2046
 * allows (quoted or not), delimiter lines ending in CRLF, part headers in
 * CRLF lines of at most 1024 bytes, at most 16 per part, no folding, a
 * Content-Disposition form-data with a name on every part, at most 1024
 * parts, the close delimiter. Data that only looks like a delimiter
 * ("--boundary" not after CRLF, or followed by other bytes) is data.
 * Returns 0, FL_ENOENT (no such part; err says so) or FL_EPROTO with err
 * naming what is malformed and where (part number, byte offset); a second
 * part named field is FL_EPROTO too.
 */
int rest_multipart_file(const char *content_type, const uint8_t *body, size_t body_len,
			const char *field, const uint8_t **data, size_t *len, char *filename,
			size_t cap, cm_err *err);

#endif
