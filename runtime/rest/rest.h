/*
 * rest.h — the HTTP server behind the JobManager's REST API and web UI
 * (Flink's RestServerEndpoint), on NNG's HTTP server.
 *
 * Routes are a method and a path pattern whose segments are literals or
 * ":name" parameters ("/jobs/:jobid/vertices/:vertexid"); the first route
 * that matches both wins. A path no route matches gets 404, a path that
 * matches only with another method 405, both as Flink answers errors: a JSON
 * body {"errors": ["..."]}. Request bodies over the server's cap are refused
 * with 413 before a handler sees them; a handler that fails to build its
 * answer gets 500 with the reason.
 *
 * Handlers run on NNG's threads, several at once: they must be
 * thread-safe, may block briefly (a query to a JobMaster's loop) but not on
 * anything a client controls.
 */
#ifndef FLINC_REST_REST_H
#define FLINC_REST_REST_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define REST_MAX_PARAMS 8

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
	int status;		  /* 200 unless the handler sets another */
	char content_type[64];	  /* "application/json; charset=UTF-8" unless set */
	uint8_t *body;		  /* malloc'd, owned by the server after return */
	size_t body_len;
	char location[256];	  /* a Location header when not empty */
} rest_response;

/* Fills resp; returns 0, or an FL_E* code to have the server answer 500
 * with msg (the handler need not have touched resp). */
typedef int (*rest_handler_fn)(void *arg, const rest_request *req, rest_response *resp);

typedef struct rest_server rest_server;

typedef struct rest_options {
	const char *bind_host; /* "" or NULL: all interfaces */
	int port;	       /* 0: any free port */
	size_t max_body;       /* rest.server.max-content-length; 0: 100 MiB */
} rest_options;

/* Creates a server (not yet serving). Returns 0, FL_ENOMEM or FL_EINVAL. */
int rest_server_new(rest_server **out, const rest_options *o, cm_err *err);
/* Adds a route before rest_server_start. method "GET", "POST", "PATCH",
 * "DELETE", "PUT". Returns 0, FL_EINVAL (bad pattern) or FL_ENOMEM. */
int rest_route(rest_server *s, const char *method, const char *pattern, rest_handler_fn fn,
	       void *arg);
/* Serves a tree of static files (the web UI) under url prefix "/" for every
 * GET no route matched, from directory dir; "/" serves dir/index.html.
 * Optional; call before start. */
int rest_static_dir(rest_server *s, const char *dir, cm_err *err);
/* Starts listening. Returns 0 or FL_EIO with err naming the address. */
int rest_server_start(rest_server *s, cm_err *err);
/* The bound port (after start). */
int rest_server_port(const rest_server *s);
/* Stops and frees: handlers running finish first. */
void rest_server_free(rest_server *s);

/* ---------------------------------------------- helpers for handlers */

/* The value of ":name" in req, or NULL. */
const char *rest_param(const rest_request *req, const char *name);
/* Copies the percent-decoded value of query parameter key into buf (cap
 * bytes). Returns 0, FL_ENOENT (absent) or FL_ERANGE (too long, or bad
 * escapes). */
int rest_query(const rest_request *req, const char *key, char *buf, size_t cap);

/* Sets resp to status with a JSON body (takes the printed text of a cJSON
 * tree: json is cJSON *, freed here). Returns 0 or FL_ENOMEM. */
int rest_json(rest_response *resp, int status, void *json);
/* Sets resp to status and {"errors": [message]}. Returns 0 or FL_ENOMEM. */
int rest_error(rest_response *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Finds the file part named field in a multipart/form-data body
 * (content_type carries the boundary). On success *data/*len view into
 * body and filename (may be NULL) receives the part's filename, cut to cap
 * bytes. Returns 0, FL_ENOENT (no such part) or FL_EPROTO with err naming
 * what is malformed.
 */
int rest_multipart_file(const char *content_type, const uint8_t *body, size_t body_len,
			const char *field, const uint8_t **data, size_t *len, char *filename,
			size_t cap, cm_err *err);

#endif
