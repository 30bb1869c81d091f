/*
 * rest.c — the REST server on NNG 1.5.2's HTTP server.
 *
 * NNG routes by path prefix and answers its own errors with HTML, and it
 * refuses a body over a handler's limit with 400 after allocating the
 * size the client announced. So the server registers one NNG handler for
 * every method and path ("/", tree, no body collection) and does the rest
 * itself: routing, the JSON errors, reading the body.
 *
 * A request goes through three places:
 *   - on_request, on NNG's thread: admission (at most REST_MAX_CALLS in
 *     progress), parsing, routing; errors are answered at once;
 *   - on_io, NNG's callbacks for our own aio: "100 Continue" when the client
 *     asked for it, then the body read in growing chunks, so memory follows
 *     the bytes that arrive, not the Content-Length a client claims;
 *   - a worker thread: the handler or the static file, then the answer.
 * Handlers run on the server's REST_WORKERS threads, never on NNG's: NNG
 * 1.5.2 completes every aio of the process (RPC, data plane) on one pool of
 * 2 x CPUs threads, which a handler waiting on a JobMaster must not hold.
 *
 * Every admitted request ends on a worker, which finishes NNG's aio
 * exactly once and frees the request (our aio included: freeing an aio
 * from its own callback deadlocks NNG).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/sync.h"
#include "rest/rest.h"
#include "rest/rest_internal.h"

#define REST_COMPONENT "rest"
#define REST_DEFAULT_MAX_BODY ((size_t)100 * 1024 * 1024)
#define REST_BODY_CHUNK ((size_t)64 * 1024)
#define REST_MAX_METHOD 16
#define JSON_TYPE "application/json; charset=UTF-8"

struct route {
	char method[8];
	rest_pattern *pattern;
	rest_handler_fn fn;
	void *arg;
};

struct call;

struct rest_server {
	char host[256];
	int port;
	size_t max_body;
	struct route *routes;
	int nroutes, routes_cap;
	int static_fd;

	nng_http_server *http;
	bool started;
	int bound_port;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct call *head, *tail; /* queued for the workers */
	int ncalls;		  /* admitted and not yet freed */
	bool stopping;
	pthread_t workers[REST_WORKERS];
	int nworkers;
};

enum call_kind { CALL_ROUTE, CALL_STATIC };

struct call {
	struct call *next;
	rest_server *s;
	nng_aio *cb; /* NNG's: finished once, by a worker */
	nng_http_conn *conn;
	nng_aio *io; /* ours: 100 Continue, then the body */
	enum call_kind kind;
	int route;
	const char *method; /* views into NNG's request, valid until cb finishes */
	const char *uri;
	const char *query;
	const char *content_type;
	rest_path path;
	const char *names[REST_MAX_PARAMS];
	const char *values[REST_MAX_PARAMS];
	int nparams;
	uint8_t *body;
	size_t body_len, body_cap, body_want;
	bool continuing; /* io is writing "100 Continue" */
	int failed;	 /* an NNG error: the connection is dropped */
};

/* The process's REST servers take and start their NNG server one at a time:
 * nng_http_server_hold hands out the same server for the same host and port,
 * port 0 included until it is started. */
static pthread_mutex_t hold_mu = PTHREAD_MUTEX_INITIALIZER;

static const char interim_continue[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* ------------------------------------------------------------ answers */

/* {"errors": [msg]} as malloc'd text, or NULL. */
static char *errors_json(const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(o, "errors");
	cJSON *m = cJSON_CreateString(msg);
	char *txt = NULL;
	if (o && a && m && cJSON_AddItemToArray(a, m)) {
		m = NULL;
		txt = cJSON_PrintUnformatted(o);
	}
	cJSON_Delete(m);
	cJSON_Delete(o);
	return txt;
}

/* What every answer that cannot be built says instead. */
static const char oom_body[] = "{\"errors\":[\"Internal server error: out of memory\"]}";

/*
 * Builds NNG's response: status, headers, a copy of body. close asks NNG
 * to close the connection after it (a body left unread must not be taken
 * for the next request). Returns the response or NULL (out of memory).
 */
static nng_http_res *make_res(int status, const char *type, const void *body, size_t len,
			      const char *location, const char *allow, bool close)
{
	nng_http_res *res;
	if (nng_http_res_alloc(&res) != 0)
		return NULL;
	int rv = nng_http_res_set_status(res, (uint16_t)status);
	if (rv == 0)
		rv = nng_http_res_set_header(res, "Content-Type", type);
	if (rv == 0 && location && location[0])
		rv = nng_http_res_set_header(res, "Location", location);
	if (rv == 0 && allow)
		rv = nng_http_res_set_header(res, "Allow", allow);
	if (rv == 0 && close)
		rv = nng_http_res_set_header(res, "Connection", "close");
	if (rv == 0)
		rv = len > 0 ? nng_http_res_copy_data(res, body, len)
			     : nng_http_res_set_data(res, NULL, 0);
	if (rv != 0) {
		nng_http_res_free(res);
		return NULL;
	}
	return res;
}

/* Finishes NNG's aio with res, or drops the connection without one. */
static void finish(nng_aio *cb, nng_http_res *res)
{
	if (!res) {
		nng_aio_finish(cb, NNG_ENOMEM);
		return;
	}
	nng_aio_set_output(cb, 0, res);
	nng_aio_finish(cb, 0);
}

static nng_http_res *error_res(int status, bool close, const char *allow, const char *fmt,
			       va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	char *txt = errors_json(msg);
	nng_http_res *res;
	if (txt) {
		res = make_res(status, JSON_TYPE, txt, strlen(txt), NULL, allow, close);
		cJSON_free(txt);
	} else {
		res = make_res(500, JSON_TYPE, oom_body, sizeof(oom_body) - 1, NULL, NULL, close);
	}
	return res;
}

/* {"errors": [message]} with status. */
static nng_http_res *error_resp(int status, bool close, const char *allow, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static nng_http_res *error_resp(int status, bool close, const char *allow, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	nng_http_res *res = error_res(status, close, allow, fmt, ap);
	va_end(ap);
	return res;
}

/* Answers {"errors": [message]} with status. */
static void answer_error(nng_aio *cb, int status, bool close, const char *allow, const char *fmt,
			 ...) __attribute__((format(printf, 5, 6)));
static void answer_error(nng_aio *cb, int status, bool close, const char *allow, const char *fmt,
			 ...)
{
	va_list ap;
	va_start(ap, fmt);
	nng_http_res *res = error_res(status, close, allow, fmt, ap);
	va_end(ap);
	finish(cb, res);
}

/* ------------------------------------------------------------- calls */

static void call_free(struct call *c)
{
	rest_server *s = c->s;
	if (c->io)
		nng_aio_free(c->io); /* waits for on_io to have returned */
	rest_path_fini(&c->path);
	free(c->body);
	free(c);
	pthread_mutex_lock(&s->mu);
	s->ncalls--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void enqueue(struct call *c)
{
	rest_server *s = c->s;
	pthread_mutex_lock(&s->mu);
	c->next = NULL;
	if (s->tail)
		s->tail->next = c;
	else
		s->head = c;
	s->tail = c;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Reads the next chunk of the body into [body_len, body_cap), growing the
 * buffer first when it is full. */
static void read_more(struct call *c)
{
	if (c->body_len == c->body_cap) {
		size_t cap = c->body_cap * 2;
		if (cap > c->body_want || cap < c->body_cap)
			cap = c->body_want;
		uint8_t *b = realloc(c->body, cap);
		if (!b) {
			c->failed = NNG_ENOMEM;
			enqueue(c);
			return;
		}
		c->body = b;
		c->body_cap = cap;
	}
	nng_iov iov = {.iov_buf = c->body + c->body_len, .iov_len = c->body_cap - c->body_len};
	int rv = nng_aio_set_iov(c->io, 1, &iov);
	if (rv != 0) {
		c->failed = rv;
		enqueue(c);
		return;
	}
	nng_http_conn_read_all(c->conn, c->io);
}

static void on_io(void *arg)
{
	struct call *c = arg;
	int rv = nng_aio_result(c->io);
	if (rv != 0) {
		c->failed = rv;
		enqueue(c);
		return;
	}
	if (c->continuing) {
		c->continuing = false;
	} else {
		c->body_len += nng_aio_count(c->io);
		if (c->body_len == c->body_want) {
			enqueue(c);
			return;
		}
	}
	read_more(c);
}

/* Content-Length: digits only, no sign, no list ("5, 5" when sent twice). */
static bool parse_length(const char *v, size_t *out)
{
	size_t n = 0;
	if (!*v)
		return false;
	for (; *v; v++) {
		if (*v < '0' || *v > '9' || n > (SIZE_MAX - 9) / 10)
			return false;
		n = n * 10 + (size_t)(*v - '0');
	}
	*out = n;
	return true;
}

static bool valid_method(const char *m)
{
	size_t n = strlen(m);
	if (n == 0 || n > REST_MAX_METHOD)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)m[i]) && !strchr("!#$%&'*+-.^_`|~", m[i]))
			return false;
	return true;
}

/* The request target's path and query: "/p?q", or the absolute form
 * "http://host/p?q" a proxy sends. */
static void split_target(const char *uri, const char **path, size_t *path_len, const char **query)
{
	const char *p = uri;
	if (strncasecmp(p, "http://", 7) == 0 || strncasecmp(p, "https://", 8) == 0) {
		p = strstr(p, "//") + 2;
		p += strcspn(p, "/?");
		if (*p != '/') {
			*path = "/";
			*path_len = 1;
			*query = *p == '?' ? p + 1 : "";
			return;
		}
	}
	const char *q = strchr(p, '?');
	*path = p;
	*path_len = q ? (size_t)(q - p) : strlen(p);
	*query = q ? q + 1 : "";
}

/* Shortens a request target for an error message, as Flink echoes it. */
static const char *uri_for_msg(const char *uri, char *buf, size_t cap)
{
	size_t n = strlen(uri);
	if (n < cap)
		return uri;
	snprintf(buf, cap, "%.*s...", (int)(cap - 4), uri);
	return buf;
}

static void on_request(nng_aio *cb)
{
	nng_http_req *req = nng_aio_get_input(cb, 0);
	nng_http_handler *h = nng_aio_get_input(cb, 1);
	nng_http_conn *conn = nng_aio_get_input(cb, 2);
	rest_server *s = nng_http_handler_get_data(h);

	pthread_mutex_lock(&s->mu);
	bool admit = !s->stopping && s->ncalls < REST_MAX_CALLS;
	if (admit)
		s->ncalls++;
	pthread_mutex_unlock(&s->mu);
	const char *cl = nng_http_req_get_header(req, "Content-Length");
	bool has_body = (cl && strcmp(cl, "0") != 0) ||
			nng_http_req_get_header(req, "Transfer-Encoding") != NULL;
	if (!admit) {
		answer_error(cb, 503, true, NULL,
			     "Service unavailable: %d requests are in progress; try again later",
			     REST_MAX_CALLS);
		return;
	}
	struct call *c = calloc(1, sizeof(*c));
	if (!c) {
		pthread_mutex_lock(&s->mu);
		s->ncalls--;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		nng_aio_finish(cb, NNG_ENOMEM);
		return;
	}
	c->s = s;
	c->cb = cb;
	c->conn = conn;
	c->method = nng_http_req_get_method(req);
	c->uri = nng_http_req_get_uri(req);
	const char *ct = nng_http_req_get_header(req, "Content-Type");
	c->content_type = ct ? ct : "";

	char ubuf[256];
	const char *shown = uri_for_msg(c->uri, ubuf, sizeof(ubuf));
	if (!valid_method(c->method)) {
		answer_error(cb, 400, true, NULL, "Bad request: malformed method");
		call_free(c);
		return;
	}
	const char *raw;
	size_t raw_len;
	split_target(c->uri, &raw, &raw_len, &c->query);
	char why[128];
	int rc = rest_path_parse(&c->path, raw, raw_len, why, sizeof(why));
	if (rc != 0) {
		if (rc == FL_ENOMEM)
			answer_error(cb, 500, has_body, NULL,
				     "Internal server error: out of memory");
		else
			answer_error(cb, 400, has_body, NULL, "Bad request: %s", why);
		call_free(c);
		return;
	}

	/* Routing: the first route matching path and method; HEAD is GET
	 * (NNG sends the headers only). */
	bool head = strcmp(c->method, "HEAD") == 0;
	char allow[64] = "";
	c->route = -1;
	for (int i = 0; i < s->nroutes; i++) {
		struct route *r = &s->routes[i];
		const char *names[REST_MAX_PARAMS], *values[REST_MAX_PARAMS];
		int np;
		if (!rest_pattern_match(r->pattern, &c->path, names, values, &np))
			continue;
		if (strcmp(r->method, c->method) == 0 || (head && strcmp(r->method, "GET") == 0)) {
			c->route = i;
			memcpy(c->names, names, sizeof(names));
			memcpy(c->values, values, sizeof(values));
			c->nparams = np;
			break;
		}
		if (!strstr(allow, r->method)) {
			size_t l = strlen(allow);
			snprintf(allow + l, sizeof(allow) - l, "%s%s", l ? ", " : "", r->method);
		}
	}
	if (c->route >= 0) {
		c->kind = CALL_ROUTE;
	} else if (allow[0]) {
		answer_error(cb, 405, has_body, allow,
			     "Method %s is not allowed for %s (allowed: %s)", c->method, shown,
			     allow);
		call_free(c);
		return;
	} else if (s->static_fd >= 0 && (head || strcmp(c->method, "GET") == 0)) {
		c->kind = CALL_STATIC;
	} else {
		answer_error(cb, 404, has_body, NULL, "Not found: %s", shown);
		call_free(c);
		return;
	}

	/* The body. NNG cannot read a chunked request body. */
	if (nng_http_req_get_header(req, "Transfer-Encoding")) {
		answer_error(cb, 411, true, NULL,
			     "Length required: a request body must come with a Content-Length, "
			     "not a Transfer-Encoding");
		call_free(c);
		return;
	}
	size_t want = 0;
	if (cl && !parse_length(cl, &want)) {
		answer_error(cb, 400, true, NULL, "Bad request: malformed Content-Length '%.40s'",
			     cl);
		call_free(c);
		return;
	}
	if (want > s->max_body) {
		answer_error(cb, 413, true, NULL,
			     "Payload too large: the request body of %zu bytes is larger than the "
			     "limit of %zu bytes (rest.server.max-content-length)",
			     want, s->max_body);
		call_free(c);
		return;
	}
	if (want == 0) {
		enqueue(c);
		return;
	}
	c->body_want = want;
	c->body_cap = want < REST_BODY_CHUNK ? want : REST_BODY_CHUNK;
	c->body = malloc(c->body_cap);
	rc = c->body ? nng_aio_alloc(&c->io, on_io, c) : NNG_ENOMEM;
	if (rc != 0) {
		answer_error(cb, 500, true, NULL, "Internal server error: out of memory");
		call_free(c);
		return;
	}
	/* A client that waits for "100 Continue" (curl does above 1 MiB) would
	 * otherwise send its body only after a second. */
	const char *expect = nng_http_req_get_header(req, "Expect");
	if (expect && strcasecmp(expect, "100-continue") == 0 &&
	    strcmp(nng_http_req_get_version(req), "HTTP/1.1") == 0) {
		nng_iov iov = {.iov_buf = (void *)interim_continue,
			       .iov_len = sizeof(interim_continue) - 1};
		c->continuing = true;
		if ((rc = nng_aio_set_iov(c->io, 1, &iov)) != 0) {
			c->failed = rc;
			enqueue(c);
			return;
		}
		nng_http_conn_write_all(conn, c->io);
		return;
	}
	read_more(c);
}

/* ----------------------------------------------------------- workers */

/* A header value the handler set: NUL-terminated within its field, no
 * control character. */
static bool header_safe(const char *v, size_t cap)
{
	const char *end = memchr(v, '\0', cap);
	if (!end)
		return false;
	for (; v < end; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return false;
	return true;
}

static nng_http_res *run_route(struct call *c)
{
	rest_server *s = c->s;
	struct route *r = &s->routes[c->route];
	rest_request rq = {
	    .method = c->method,
	    .path = c->path.decoded,
	    .query = c->query,
	    .content_type = c->content_type,
	    .body = c->body_len ? c->body : NULL,
	    .body_len = c->body_len,
	    .nparams = c->nparams,
	};
	for (int i = 0; i < c->nparams; i++) {
		rq.param_names[i] = c->names[i];
		rq.params[i] = c->values[i];
	}
	rest_response rs = {.status = 200};
	int rc = r->fn(r->arg, &rq, &rs);
	const char *why = NULL;
	if (rc != 0)
		why = fl_strerror(rc);
	else if (rs.status < 200 || rs.status > 599)
		why = "the handler set no valid status";
	else if (!rs.body && rs.body_len > 0)
		why = "the handler set a body length without a body";
	else if (!header_safe(rs.content_type, sizeof(rs.content_type)) ||
		 !header_safe(rs.location, sizeof(rs.location)))
		/* A Location built from a decoded parameter ("%0D%0A") must
		 * not add headers of its own. */
		why = "the handler set a header with a control character";
	nng_http_res *res;
	if (why) {
		/* The raw target: NNG refuses control characters in it, the
		 * decoded path may hold any. */
		char ubuf[256];
		CM_WARN(REST_COMPONENT, "%s %s (route %s %s) failed: %s (%d)", c->method,
			uri_for_msg(c->uri, ubuf, sizeof(ubuf)), r->method,
			rest_pattern_text(r->pattern), why, rc);
		char *txt = NULL;
		char msg[CM_ERR_MSG_MAX];
		snprintf(msg, sizeof(msg), "Internal server error: %s", why);
		txt = errors_json(msg);
		res = txt ? make_res(500, JSON_TYPE, txt, strlen(txt), NULL, NULL, false)
			  : make_res(500, JSON_TYPE, oom_body, sizeof(oom_body) - 1, NULL, NULL,
				     false);
		cJSON_free(txt);
	} else {
		res = make_res(rs.status, rs.content_type[0] ? rs.content_type : JSON_TYPE, rs.body,
			       rs.body_len, rs.location, NULL, false);
	}
	free(rs.body);
	return res;
}

static nng_http_res *run_static(struct call *c)
{
	char name[4096], why[128], ubuf[256];
	const char *shown = uri_for_msg(c->uri, ubuf, sizeof(ubuf));
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = rest_static_name(c->path.decoded, name, sizeof(name), why, sizeof(why));
	if (rc == 0)
		rc = rest_static_read(c->s->static_fd, name, true, &data, &len);
	nng_http_res *res;
	switch (rc) {
	case 0:
		res = make_res(200, rest_content_type(name), data, len, NULL, NULL, false);
		free(data);
		return res;
	case FL_ERANGE:
		return error_resp(500, false, NULL,
				  "Internal server error: %s is larger than the %d MiB a static "
				  "file may have",
				  shown, REST_STATIC_MAX_FILE / (1024 * 1024));
	case FL_ENOMEM:
	case FL_EIO:
		return error_resp(500, false, NULL, "Internal server error: cannot read %s: %s",
				  shown, fl_strerror(rc));
	default: /* missing files and refused names (a way out of the root) alike */
		return error_resp(404, false, NULL, "Not found: %s", shown);
	}
}

static void *worker_main(void *arg)
{
	rest_server *s = arg;
	pthread_setname_np(pthread_self(), "rest");
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->head && !s->stopping)
			pthread_cond_wait(&s->cv, &s->mu);
		struct call *c = s->head;
		if (!c)
			break; /* stopping, nothing queued */
		s->head = c->next;
		if (!s->head)
			s->tail = NULL;
		pthread_mutex_unlock(&s->mu);
		if (c->failed) {
			nng_aio_finish(c->cb, c->failed == NNG_ENOMEM ? NNG_ENOMEM : NNG_ECLOSED);
		} else {
			finish(c->cb, c->kind == CALL_ROUTE ? run_route(c) : run_static(c));
		}
		call_free(c);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* -------------------------------------------------------------- server */

int rest_server_new(rest_server **out, const rest_options *o, cm_err *err)
{
	*out = NULL;
	const char *host = o && o->bind_host ? o->bind_host : "";
	int port = o ? o->port : 0;
	if (port < 0 || port > 65535)
		return cm_err_set(err, FL_EINVAL, "rest.port %d is not a port (0 to 65535)", port);
	if (strlen(host) >= sizeof(((rest_server *)0)->host) || strpbrk(host, "/?#@ []"))
		return cm_err_set(err, FL_EINVAL,
				  "rest.bind-address '%.64s' is not a host name or "
				  "address",
				  host);
	rest_server *s = calloc(1, sizeof(*s));
	if (!s)
		return cm_err_set(err, FL_ENOMEM, "out of memory for the REST server");
	snprintf(s->host, sizeof(s->host), "%s", host);
	s->port = port;
	s->max_body = o && o->max_body ? o->max_body : REST_DEFAULT_MAX_BODY;
	s->static_fd = -1;
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s);
		return cm_err_set(err, FL_ENOMEM, "out of memory for the REST server");
	}
	if (cm_cond_init(&s->cv) != 0) {
		pthread_mutex_destroy(&s->mu);
		free(s);
		return cm_err_set(err, FL_ENOMEM, "out of memory for the REST server");
	}
	*out = s;
	return 0;
}

int rest_route(rest_server *s, const char *method, const char *pattern, rest_handler_fn fn,
	       void *arg)
{
	static const char *const methods[] = {"GET", "POST", "PATCH", "DELETE", "PUT"};
	bool known = false;
	for (size_t i = 0; method && i < sizeof(methods) / sizeof(methods[0]); i++)
		known |= strcmp(method, methods[i]) == 0;
	if (!known || !fn || s->started)
		return FL_EINVAL;
	rest_pattern *p;
	int rc = rest_pattern_parse(&p, pattern, NULL);
	if (rc != 0)
		return rc;
	if (s->nroutes == s->routes_cap) {
		int cap = s->routes_cap ? s->routes_cap * 2 : 16;
		struct route *r = realloc(s->routes, (size_t)cap * sizeof(*r));
		if (!r) {
			rest_pattern_free(p);
			return FL_ENOMEM;
		}
		s->routes = r;
		s->routes_cap = cap;
	}
	struct route *r = &s->routes[s->nroutes++];
	snprintf(r->method, sizeof(r->method), "%s", method);
	r->pattern = p;
	r->fn = fn;
	r->arg = arg;
	return 0;
}

int rest_static_dir(rest_server *s, const char *dir, cm_err *err)
{
	if (s->started)
		return cm_err_set(err, FL_EINVAL,
				  "static files must be set before the REST server "
				  "starts");
	int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		return cm_err_set(err, e == ENOTDIR ? FL_EINVAL : cm_err_from_errno(e),
				  "cannot serve static files from '%s': %s", dir, strerror(e));
	}
	if (s->static_fd >= 0)
		close(s->static_fd);
	s->static_fd = fd;
	return 0;
}

/* NNG's own answers (a request without Host, an unsupported HTTP version,
 * a request target that is not a path) get JSON bodies too; NNG still
 * labels them text/html. */
static int set_error_pages(nng_http_server *http)
{
	static const struct {
		uint16_t code;
		const char *body;
	} pages[] = {
	    {400, "{\"errors\":[\"Bad request\"]}"},
	    {404, "{\"errors\":[\"Not found\"]}"},
	    {405, "{\"errors\":[\"Method not allowed\"]}"},
	    {500, "{\"errors\":[\"Internal server error\"]}"},
	    {505, "{\"errors\":[\"HTTP version not supported\"]}"},
	};
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		int rv = nng_http_server_set_error_page(http, pages[i].code, pages[i].body);
		if (rv != 0)
			return rv;
	}
	return 0;
}

static void stop_workers(rest_server *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->cv);
	while (s->ncalls > 0)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	s->nworkers = 0;
}

int rest_server_start(rest_server *s, cm_err *err)
{
	if (s->started)
		return cm_err_set(err, FL_EINVAL, "the REST server is already started");
	char url[300];
	const char *host = s->host[0] ? s->host : "0.0.0.0";
	snprintf(url, sizeof(url), strchr(host, ':') ? "http://[%s]:%d" : "http://%s:%d", host,
		 s->port);
	char where[300];
	snprintf(where, sizeof(where), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, s->port);

	for (int i = 0; i < REST_WORKERS; i++) {
		if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0) {
			stop_workers(s);
			s->stopping = false;
			return cm_err_set(err, FL_ENOMEM, "cannot start the REST server's threads");
		}
		s->nworkers++;
	}

	nng_url *u = NULL;
	nng_http_server *http = NULL;
	nng_http_handler *h = NULL;
	bool added = false;
	const char *step = "parse the address";
	pthread_mutex_lock(&hold_mu);
	int rv = nng_url_parse(&u, url);
	if (rv == 0) {
		step = "create the server";
		rv = nng_http_server_hold(&http, u);
	}
	if (rv == 0) {
		step = "add the handler";
		rv = nng_http_handler_alloc(&h, "/", on_request);
	}
	if (rv == 0)
		rv = nng_http_handler_set_method(h, NULL);
	if (rv == 0)
		rv = nng_http_handler_set_tree(h);
	if (rv == 0)
		rv = nng_http_handler_collect_body(h, false, 0);
	if (rv == 0)
		rv = nng_http_handler_set_data(h, s, NULL);
	if (rv == 0) {
		rv = nng_http_server_add_handler(http, h);
		added = rv == 0;
		if (rv == NNG_EADDRINUSE)
			step = "take the address (another REST server of this process serves it)";
	}
	if (rv == 0) {
		step = "set its error pages";
		rv = set_error_pages(http);
	}
	if (rv == 0) {
		step = "listen";
		rv = nng_http_server_start(http);
	}
	nng_sockaddr sa;
	if (rv == 0) {
		s->started = true;
		step = "read the bound port";
		rv = nng_http_server_get_addr(http, &sa);
	}
	pthread_mutex_unlock(&hold_mu);
	nng_url_free(u);
	if (rv != 0) {
		if (s->started) {
			nng_http_server_stop(http);
			s->started = false;
		}
		if (added)
			nng_http_server_del_handler(http, h);
		if (h)
			nng_http_handler_free(h);
		if (http)
			nng_http_server_release(http);
		stop_workers(s);
		s->stopping = false;
		return cm_err_set(err, rv == NNG_ENOMEM ? FL_ENOMEM : FL_EIO,
				  "REST server on %s: cannot %s: %s", where, step,
				  nng_strerror(rv));
	}
	s->http = http;
	s->bound_port =
	    sa.s_family == NNG_AF_INET6 ? ntohs(sa.s_in6.sa_port) : ntohs(sa.s_in.sa_port);
	CM_INFO(REST_COMPONENT, "Rest endpoint listening at %s:%d", host, s->bound_port);
	return 0;
}

int rest_server_port(const rest_server *s)
{
	return s->bound_port;
}

void rest_server_free(rest_server *s)
{
	if (!s)
		return;
	if (s->started) {
		/* Closes every connection and waits until NNG has let go of
		 * each: every request it handed us is finished by then (the
		 * workers keep running meanwhile). */
		nng_http_server_stop(s->http);
	}
	stop_workers(s);
	if (s->http)
		nng_http_server_release(s->http); /* frees our handler, later */
	for (int i = 0; i < s->nroutes; i++)
		rest_pattern_free(s->routes[i].pattern);
	free(s->routes);
	if (s->static_fd >= 0)
		close(s->static_fd);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* ------------------------------------------------------------ helpers */

const char *rest_param(const rest_request *req, const char *name)
{
	for (int i = 0; i < req->nparams; i++)
		if (strcmp(req->param_names[i], name) == 0)
			return req->params[i];
	return NULL;
}

int rest_query(const rest_request *req, const char *key, char *buf, size_t cap)
{
	const char *q = req->query ? req->query : "";
	return rest_query_find(q, strlen(q), key, buf, cap);
}

/* Puts body (malloc'd, taken over) into resp with status and type. */
static void set_body(rest_response *resp, int status, const char *type, uint8_t *body, size_t len)
{
	free(resp->body);
	resp->body = body;
	resp->body_len = len;
	resp->status = status;
	snprintf(resp->content_type, sizeof(resp->content_type), "%s", type);
}

int rest_json(rest_response *resp, int status, void *json)
{
	if (!json)
		return FL_ENOMEM;
	char *txt = cJSON_PrintUnformatted(json);
	cJSON_Delete(json);
	if (!txt)
		return FL_ENOMEM;
	set_body(resp, status, JSON_TYPE, (uint8_t *)txt, strlen(txt));
	return 0;
}

int rest_error(rest_response *resp, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return FL_EINVAL;
	char *msg = malloc((size_t)n + 1);
	if (!msg)
		return FL_ENOMEM;
	va_start(ap, fmt);
	vsnprintf(msg, (size_t)n + 1, fmt, ap);
	va_end(ap);
	char *txt = errors_json(msg);
	free(msg);
	if (!txt)
		return FL_ENOMEM;
	set_body(resp, status, JSON_TYPE, (uint8_t *)txt, strlen(txt));
	return 0;
}

int rest_text(rest_response *resp, int status, const char *content_type, cm_wbuf *w)
{
	int rc = cm_wbuf_error(w);
	if (rc)
		return rc;
	size_t len = 0;
	uint8_t *body = cm_wbuf_take(w, &len);
	if (!body)
		return FL_ENOMEM;
	set_body(resp, status, content_type, body, len);
	return 0;
}
