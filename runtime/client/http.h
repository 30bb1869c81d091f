/*
 * http.h — the client's HTTP requests to a JobManager's REST API, on
 * libcurl: one connection reused across requests, bounded times, bounded
 * replies, and a cancel token that aborts a request in flight.
 *
 * Bounds: connecting takes at most CL_CONNECT_TIMEOUT_MS (or the request
 * timeout when shorter); a request at most timeout_ms (client.timeout)
 * from start to the end of its reply; an upload has no total bound (a
 * large job on a slow link) but fails when less than one byte a second
 * moves for timeout_ms. A reply over CL_MAX_REPLY bytes is refused while
 * it arrives. Proxies from the environment (http_proxy, ...) are not used:
 * a JobManager is reached directly, as Flink's client does.
 *
 * Threads: one cl_http is used by one thread at a time; the cancel token
 * may be requested from any thread.
 */
#ifndef FLINC_CLIENT_HTTP_H
#define FLINC_CLIENT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/remote.h"
#include "common/cancel.h"
#include "common/err.h"

#define CL_CONNECT_TIMEOUT_MS 10000

typedef struct cl_http cl_http;

typedef struct cl_reply {
	long status; /* HTTP status */
	char *body;  /* malloc'd, NUL-terminated (len excludes it); never NULL */
	size_t len;
	char content_type[80]; /* "" when absent */
} cl_reply;

/*
 * Creates a client of the JobManager at addr (copied). timeout_ms > 0 is
 * the request timeout; cancel (may be NULL, borrowed, must outlive the
 * client) aborts a request when requested; verbose prints one line per
 * request on stderr. Returns 0, FL_ENOMEM or FL_EIO (libcurl cannot start),
 * with err set.
 */
int cl_http_new(cl_http **out, const cl_address *addr, int64_t timeout_ms, cm_cancel *cancel,
		bool verbose, cm_err *err);
void cl_http_free(cl_http *h);

/* Replaces the cancel token (NULL: requests are no longer aborted), e.g.
 * to send a cancel request after an interruption. */
void cl_http_set_cancel(cl_http *h, cm_cancel *cancel);

/* The address as messages name it ("host:port"). */
const char *cl_http_shown(const cl_http *h);

/*
 * Sends method (GET, POST, PATCH, DELETE) to path (starting with '/',
 * already percent-encoded) with a JSON body (NULL: none) and reads the
 * reply into *r (cl_reply_fini), whatever its status: an HTTP error is a
 * reply, not an error here.
 * Errors, with err naming the JobManager's address and the request:
 *   FL_EIO        no connection (refused, unresolved host, connect timeout)
 *                 or the connection broke
 *   FL_ETIMEDOUT  connected, but no complete reply within the timeout
 *   FL_ERANGE     the reply is longer than CL_MAX_REPLY
 *   FL_ECANCELED  the cancel token was requested
 *   FL_ENOMEM
 * On error *r holds nothing to free.
 */
int cl_http_call(cl_http *h, const char *method, const char *path, const char *json, cl_reply *r,
		 cm_err *err);

/*
 * POSTs a multipart/form-data body to path with one file part, field, of
 * size bytes read from fd (from offset 0, with pread) under filename.
 * Same errors as cl_http_call; fd stays open.
 */
int cl_http_upload(cl_http *h, const char *path, const char *field, int fd, uint64_t size,
		   const char *filename, cl_reply *r, cm_err *err);

/* Percent-encodes s for one path segment into out (cap bytes). Returns 0
 * or FL_ERANGE. */
int cl_http_escape(const char *s, char *out, size_t cap);

void cl_reply_fini(cl_reply *r);

#endif
