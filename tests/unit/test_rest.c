/*
 * The REST server on loopback, with libcurl as the client (as the CLI and
 * Flink's tooling are): routes and their parameters, Flink's JSON errors
 * (404, 405, 413, 400, 500), query strings, a multipart upload of binary
 * data that holds boundary look-alikes, static files and the ways out of
 * their directory, concurrent requests from several threads, handlers that
 * run at once, rest_server_free waiting for a running handler, clients
 * that idle or flood. Raw sockets check what curl would smooth over
 * (100 Continue, NNG's own answers). The request-side parsers (percent
 * decoding, patterns, query strings, multipart bodies) are tested on their
 * own too, malformed inputs first.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/sync.h"
#include "rest/rest.h"
#include "rest/rest_internal.h"

/* ------------------------------------------------------------ handlers */

static int h_jobs(void *arg, const rest_request *req, rest_response *resp)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddArrayToObject(o, "jobs");
	return rest_json(resp, 200, o);
}

static int h_overview(void *arg, const rest_request *req, rest_response *resp)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "route", "overview");
	return rest_json(resp, 200, o);
}

/* Echoes the parameters, the decoded path and the method. */
static int h_echo_params(void *arg, const rest_request *req, rest_response *resp)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "route", (const char *)arg);
	cJSON_AddStringToObject(o, "method", req->method);
	cJSON_AddStringToObject(o, "path", req->path);
	for (int i = 0; i < req->nparams; i++)
		cJSON_AddStringToObject(o, req->param_names[i], req->params[i]);
	return rest_json(resp, 200, o);
}

static int h_patch(void *arg, const rest_request *req, rest_response *resp)
{
	int rc = rest_error(resp, 202, "accepted %s", rest_param(req, "jobid"));
	snprintf(resp->location, sizeof(resp->location), "/jobs/%s", rest_param(req, "jobid"));
	return rc;
}

static int h_fail(void *arg, const rest_request *req, rest_response *resp)
{
	/* A half-built answer is dropped. */
	rest_error(resp, 200, "never seen");
	return FL_EIO;
}

static int h_bad_status(void *arg, const rest_request *req, rest_response *resp)
{
	resp->status = 42;
	return 0;
}

static int h_query(void *arg, const rest_request *req, rest_response *resp)
{
	cJSON *o = cJSON_CreateObject();
	static const char *const keys[] = {"a", "b c", "empty", "flag", "missing", "bad", "big"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char buf[16];
		int rc = rest_query(req, keys[i], buf, sizeof(buf));
		if (rc == 0)
			cJSON_AddStringToObject(o, keys[i], buf);
		else
			cJSON_AddNumberToObject(o, keys[i], rc);
	}
	cJSON_AddStringToObject(o, "raw", req->query);
	return rest_json(resp, 200, o);
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static int h_upload(void *arg, const rest_request *req, rest_response *resp)
{
	const uint8_t *data;
	size_t len;
	char fname[64];
	cm_err err = {0};
	int rc = rest_multipart_file(req->content_type, req->body, req->body_len, "jarfile", &data,
				     &len, fname, sizeof(fname), &err);
	if (rc != 0)
		return rest_error(resp, 400, "%s", err.msg);
	cJSON *o = cJSON_CreateObject();
	char hash[32];
	snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)fnv1a(data, len));
	cJSON_AddStringToObject(o, "filename", fname);
	cJSON_AddNumberToObject(o, "size", (double)len);
	cJSON_AddStringToObject(o, "hash", hash);
	return rest_json(resp, 200, o);
}

static int h_body(void *arg, const rest_request *req, rest_response *resp)
{
	cJSON *o = cJSON_CreateObject();
	char hash[32];
	snprintf(
	    hash, sizeof(hash), "%016llx",
	    (unsigned long long)fnv1a(req->body ? req->body : (const uint8_t *)"", req->body_len));
	cJSON_AddNumberToObject(o, "size", (double)req->body_len);
	cJSON_AddStringToObject(o, "hash", hash);
	cJSON_AddStringToObject(o, "type", req->content_type);
	return rest_json(resp, 200, o);
}

/* Two handlers meet here: proves they run at the same time. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int arrived;
	int met; /* handlers that saw the other one arrive */
	/* /block: holds until released */
	bool blocked, release, block_done;
} sync_state = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int h_meet(void *arg, const rest_request *req, rest_response *resp)
{
	pthread_mutex_lock(&sync_state.mu);
	sync_state.arrived++;
	pthread_cond_broadcast(&sync_state.cv);
	int64_t deadline = cm_now_ms() + 10000;
	while (sync_state.arrived % 2 != 0 && cm_now_ms() < deadline) {
		struct timespec ts = {.tv_sec = deadline / 1000,
				      .tv_nsec = (deadline % 1000) * 1000000};
		pthread_cond_timedwait(&sync_state.cv, &sync_state.mu, &ts);
	}
	bool met = sync_state.arrived % 2 == 0;
	if (met)
		sync_state.met++;
	pthread_mutex_unlock(&sync_state.mu);
	return rest_error(resp, met ? 200 : 504, met ? "met" : "alone");
}

static int h_block(void *arg, const rest_request *req, rest_response *resp)
{
	pthread_mutex_lock(&sync_state.mu);
	sync_state.blocked = true;
	pthread_cond_broadcast(&sync_state.cv);
	while (!sync_state.release)
		pthread_cond_wait(&sync_state.cv, &sync_state.mu);
	pthread_mutex_unlock(&sync_state.mu);
	usleep(50 * 1000); /* still running when free would otherwise go on */
	pthread_mutex_lock(&sync_state.mu);
	sync_state.block_done = true;
	pthread_mutex_unlock(&sync_state.mu);
	return rest_error(resp, 200, "released");
}

#define MAX_BODY 4096

static rest_server *start_server(size_t max_body, const char *static_dir)
{
	rest_server *s;
	cm_err err = {0};
	rest_options o = {.bind_host = "127.0.0.1", .port = 0, .max_body = max_body};
	assert_int_equal(rest_server_new(&s, &o, &err), 0);
	assert_int_equal(rest_route(s, "GET", "/jobs", h_jobs, NULL), 0);
	assert_int_equal(rest_route(s, "GET", "/jobs/overview", h_overview, NULL), 0);
	assert_int_equal(rest_route(s, "GET", "/jobs/:jobid", h_echo_params, "job"), 0);
	assert_int_equal(rest_route(s, "PATCH", "/jobs/:jobid", h_patch, NULL), 0);
	assert_int_equal(
	    rest_route(s, "GET", "/jobs/:jobid/vertices/:vertexid", h_echo_params, "vertex"), 0);
	assert_int_equal(rest_route(s, "GET", "/fail", h_fail, NULL), 0);
	assert_int_equal(rest_route(s, "GET", "/bad-status", h_bad_status, NULL), 0);
	assert_int_equal(rest_route(s, "GET", "/query", h_query, NULL), 0);
	assert_int_equal(rest_route(s, "POST", "/jars/upload", h_upload, NULL), 0);
	assert_int_equal(rest_route(s, "POST", "/body", h_body, NULL), 0);
	assert_int_equal(rest_route(s, "PUT", "/body", h_body, NULL), 0);
	assert_int_equal(rest_route(s, "GET", "/meet", h_meet, NULL), 0);
	assert_int_equal(rest_route(s, "GET", "/block", h_block, NULL), 0);
	if (static_dir)
		assert_int_equal(rest_static_dir(s, static_dir, &err), 0);
	assert_int_equal(rest_server_start(s, &err), 0);
	assert_true(rest_server_port(s) > 0);
	return s;
}

/* -------------------------------------------------------------- client */

struct reply {
	long status;
	char *body;
	size_t len;
	char ctype[128];
	char allow[128];
	char location[256];
	char connection[64];
	cJSON *json;
	int curl_rc;
};

static void reply_fini(struct reply *r)
{
	free(r->body);
	cJSON_Delete(r->json);
	memset(r, 0, sizeof(*r));
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct reply *r = ud;
	char *b = realloc(r->body, r->len + sz * n + 1);
	if (!b)
		return 0;
	memcpy(b + r->len, p, sz * n);
	r->body = b;
	r->len += sz * n;
	b[r->len] = '\0';
	return sz * n;
}

static void header_value(const char *line, size_t n, const char *name, char *out, size_t cap)
{
	size_t k = strlen(name);
	if (n <= k + 1 || strncasecmp(line, name, k) != 0 || line[k] != ':')
		return;
	const char *v = line + k + 1;
	while (*v == ' ')
		v++;
	size_t vl = (size_t)(line + n - v);
	while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
		vl--;
	snprintf(out, cap, "%.*s", (int)vl, v);
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
	struct reply *r = ud;
	header_value(p, sz * n, "Content-Type", r->ctype, sizeof(r->ctype));
	header_value(p, sz * n, "Allow", r->allow, sizeof(r->allow));
	header_value(p, sz * n, "Location", r->location, sizeof(r->location));
	header_value(p, sz * n, "Connection", r->connection, sizeof(r->connection));
	return sz * n;
}

/* One request; the reply's JSON is parsed when it is JSON. */
static void http_ex(int port, const char *method, const char *target, const void *body, size_t len,
		    const char *ctype, curl_mime *(*mime)(CURL *, void *), void *mime_arg,
		    struct reply *r)
{
	memset(r, 0, sizeof(*r));
	CURL *c = curl_easy_init();
	assert_non_null(c);
	char url[8192];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, target);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	struct curl_slist *hdrs = NULL;
	char ct[256];
	if (ctype) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
		hdrs = curl_slist_append(hdrs, ct);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	}
	curl_mime *m = NULL;
	if (mime) {
		m = mime(c, mime_arg);
		curl_easy_setopt(c, CURLOPT_MIMEPOST, m);
	} else if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	r->curl_rc = (int)curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	curl_mime_free(m);
	if (r->body && strncmp(r->ctype, "application/json", 16) == 0)
		r->json = cJSON_Parse(r->body);
}

static void http(int port, const char *method, const char *target, const void *body, size_t len,
		 const char *ctype, struct reply *r)
{
	http_ex(port, method, target, body, len, ctype, NULL, NULL, r);
}

static const char *jstr(const struct reply *r, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const struct reply *r, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, key);
	return cJSON_IsNumber(v) ? v->valuedouble : -1e9;
}

/* The one message of {"errors": [message]}, or NULL when the body has
 * another shape. */
static const char *jerror(const struct reply *r)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(r->json, "errors");
	if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 1)
		return NULL;
	const cJSON *m = cJSON_GetArrayItem(a, 0);
	return cJSON_IsString(m) ? m->valuestring : NULL;
}

static void assert_json_error(const struct reply *r, long status, const char *msg)
{
	assert_int_equal(r->curl_rc, CURLE_OK);
	assert_int_equal(r->status, status);
	assert_string_equal(r->ctype, "application/json; charset=UTF-8");
	assert_non_null(jerror(r));
	if (msg)
		assert_string_equal(jerror(r), msg);
}

/* A raw connection, for what curl would not send. */
static int raw_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	struct timeval tv = {.tv_sec = 20};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void raw_send(int fd, const char *s)
{
	size_t n = strlen(s);
	assert_int_equal(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Reads until the peer closes, cap - 1 bytes have come, an answer with its
 * Content-Length of body has, or, with stop_at_headers, its headers have.
 * Returns the bytes read; buf is NUL-terminated. -1 on a timeout. */
static ssize_t raw_recv(int fd, char *buf, size_t cap, bool stop_at_headers)
{
	size_t got = 0;
	for (;;) {
		ssize_t r = recv(fd, buf + got, cap - 1 - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == ECONNRESET)
			break;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
		buf[got] = '\0';
		const char *end = strstr(buf, "\r\n\r\n");
		if (got == cap - 1 || (stop_at_headers && end))
			break;
		/* A whole answer on a connection kept open. */
		const char *cl = strcasestr(buf, "\r\nContent-Length: ");
		if (end && cl && cl < end &&
		    (size_t)(end + 4 - buf) + strtoul(cl + 18, NULL, 10) <= got)
			break;
	}
	buf[got] = '\0';
	return (ssize_t)got;
}

/* -------------------------------------------------------------- routing */

static void test_routes_match_literals_then_parameters(void **state)
{
	rest_server *s = start_server(MAX_BODY, NULL);
	int port = rest_server_port(s);
	struct reply r;

	http(port, "GET", "/jobs", NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "application/json; charset=UTF-8");
	assert_string_equal(r.body, "{\"jobs\":[]}");
	reply_fini(&r);

	http(port, "GET", "/jobs/", NULL, 0, NULL, &r); /* one trailing '/' is ignored */
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"jobs\":[]}");
	reply_fini(&r);

	http(port, "GET", "/jobs/overview", NULL, 0, NULL, &r); /* registered first */
	assert_string_equal(jstr(&r, "route"), "overview");
	reply_fini(&r);

	http(port, "GET", "/jobs/8f3a01?x=1", NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(&r, "route"), "job");
	assert_string_equal(jstr(&r, "jobid"), "8f3a01");
	assert_string_equal(jstr(&r, "path"), "/jobs/8f3a01");
	reply_fini(&r);

	/* Parameters are decoded per segment: an escaped '/' stays inside. */
	http(port, "GET", "/jobs/a%2Fb%20c/vertices/v%3A1", NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(&r, "route"), "vertex");
	assert_string_equal(jstr(&r, "jobid"), "a/b c");
	assert_string_equal(jstr(&r, "vertexid"), "v:1");
	assert_string_equal(jstr(&r, "path"), "/jobs/a/b c/vertices/v:1");
	reply_fini(&r);

	/* HEAD is served by the GET route, headers only. */
	http(port, "HEAD", "/jobs/abc", NULL, 0, NULL, &r);
	assert_int_equal(r.curl_rc, CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 0);
	reply_fini(&r);

	http(port, "PATCH", "/jobs/abc", NULL, 0, NULL, &r);
	assert_int_equal(r.status, 202);
	assert_string_equal(r.location, "/jobs/abc");
	assert_string_equal(jerror(&r), "accepted abc");
	reply_fini(&r);

	/* An empty segment matches no parameter. */
	http(port, "GET", "/jobs//vertices/x", NULL, 0, NULL, &r);
	assert_json_error(&r, 404, "Not found: /jobs//vertices/x");
	reply_fini(&r);
	rest_server_free(s);
}

static void test_unknown_path_is_404_in_flinks_words(void **state)
{
	rest_server *s = start_server(MAX_BODY, NULL);
	int port = rest_server_port(s);
	struct reply r;
	http(port, "GET", "/nope?x=1", NULL, 0, NULL, &r);
	assert_json_error(&r, 404, "Not found: /nope?x=1");
	reply_fini(&r);
	http(port, "GET", "/jobs/a/b", NULL, 0, NULL, &r);
	assert_json_error(&r, 404, "Not found: /jobs/a/b");
	reply_fini(&r);
	/* A long target is shortened in the message. */
	char target[600] = "/";
	memset(target + 1, 'x', 500);
	http(port, "GET", target, NULL, 0, NULL, &r);
	assert_json_error(&r, 404, NULL);
	assert_int_equal(strlen(jerror(&r)), strlen("Not found: ") + 255);
	assert_string_equal(jerror(&r) + strlen(jerror(&r)) - 3, "...");
	reply_fini(&r);
	/* Without static files, even "/" is a 404. */
	http(port, "GET", "/", NULL, 0, NULL, &r);
	assert_json_error(&r, 404, "Not found: /");
	reply_fini(&r);
	/* A POST to an unknown path with a body: answered, connection closed. */
	http(port, "POST", "/nope", "abc", 3, "text/plain", &r);
	assert_json_error(&r, 404, "Not found: /nope");
	assert_string_equal(r.connection, "close");
	reply_fini(&r);
	rest_server_free(s);
}

static void test_wrong_method_is_405_with_allow(void **state)
{
	rest_server *s = start_server(MAX_BODY, NULL);
	int port = rest_server_port(s);
	struct reply r;
	http(port, "DELETE", "/jobs/abc", NULL, 0, NULL, &r);
	assert_json_error(&r, 405,
			  "Method DELETE is not allowed for /jobs/abc (allowed: GET, PATCH)");
	assert_string_equal(r.allow, "GET, PATCH");
	reply_fini(&r);
	http(port, "POST", "/jobs", "{}", 2, "application/json", &r);
	assert_json_error(&r, 405, NULL);
	assert_string_equal(r.allow, "GET");
	reply_fini(&r);
	rest_server_free(s);
}

static void test_handler_failure_is_500_with_the_reason(void **state)
{
	rest_server *s = start_server(MAX_BODY, NULL);
	struct reply r;
	http(rest_server_port(s), "GET", "/fail", NULL, 0, NULL, &r);
	assert_json_error(&r, 500, "Internal server error: I/O error");
	reply_fini(&r);
	http(rest_server_port(s), "GET", "/bad-status", NULL, 0, NULL, &r);
	assert_json_error(&r, 500, "Internal server error: the handler set no valid status");
	reply_fini(&r);
	/* A Location built from a decoded parameter cannot add a header. */
	http(rest_server_port(s), "PATCH", "/jobs/a%0D%0AX-Evil:%201", NULL, 0, NULL, &r);
	assert_json_error(
	    &r, 500, "Internal server error: the handler set a header with a control character");
	assert_string_equal(r.location, "");
	reply_fini(&r);
	rest_server_free(s);
}

static void test_malformed_paths_are_400(void **state)
{
	rest_server *s = start_server(MAX_BODY, NULL);
	int port = rest_server_port(s);
	struct reply r;
	http(port, "GET", "/jobs/%zz", NULL, 0, NULL, &r);
	assert_json_error(&r, 400, "Bad request: malformed percent-escape at byte 6 of the path");
	reply_fini(&r);
	http(port, "GET", "/jobs/ab%4", NULL, 0, NULL, &r);
	assert_json_error(&r, 400, NULL);
	reply_fini(&r);
	http(port, "GET", "/jobs/a%00b", NULL, 0, NULL, &r);
	assert_json_error(&r, 400, "Bad request: NUL byte at byte 7 of the path");
	reply_fini(&r);
	rest_server_free(s);
}

/* ----------------------------------------------------------------- bodies */

static void test_bodies_up_to_the_cap_arrive_whole_and_beyond_it_are_413(void **state)
{
	rest_server *s = start_server(MAX_BODY, NULL);
	int port = rest_server_port(s);
	uint8_t *b = malloc(3 << 20);
	assert_non_null(b);
	for (size_t i = 0; i < (3u << 20); i++)
		b[i] = (uint8_t)(i * 131 + (i >> 9));
	struct reply r;

	http(port, "POST", "/body", b, MAX_BODY, "application/octet-stream", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal((int)jnum(&r, "size"), MAX_BODY);
	char want[32];
	snprintf(want, sizeof(want), "%016llx", (unsigned long long)fnv1a(b, MAX_BODY));
	assert_string_equal(jstr(&r, "hash"), want);
	assert_string_equal(jstr(&r, "type"), "application/octet-stream");
	reply_fini(&r);

	http(port, "POST", "/body", b, MAX_BODY + 1, "application/octet-stream", &r);
	assert_json_error(&r, 413,
			  "Payload too large: the request body of 4097 bytes is larger than the "
			  "limit of 4096 bytes (rest.server.max-content-length)");
	assert_string_equal(r.connection, "close");
	reply_fini(&r);

	/* Far beyond: refused before the body is sent (curl waits for 100
	 * Continue above 1 MiB). */
	http(port, "PUT", "/body", b, 3 << 20, "application/octet-stream", &r);
	assert_json_error(&r, 413, NULL);
	reply_fini(&r);

	/* An empty body is no body. */
	http(port, "POST", "/body", "", 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal((int)jnum(&r, "size"), 0);
	reply_fini(&r);
	rest_server_free(s);

	/* The default cap and a large body, read in growing chunks. */
	s = start_server(0, NULL);
	http(rest_server_port(s), "PUT", "/body", b, 3 << 20, "application/octet-stream", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal((int)jnum(&r, "size"), 3 << 20);
	snprintf(want, sizeof(want), "%016llx", (unsigned long long)fnv1a(b, 3 << 20));
	assert_string_equal(jstr(&r, "hash"), want);
	reply_fini(&r);
	rest_server_free(s);
	free(b);
}

static void test_expect_100_continue_is_answered_before_the_body(void **state)
{
	rest_server *s = start_server(MAX_BODY, NULL);
	int fd = raw_connect(rest_server_port(s));
	char buf[4096];
	raw_send(fd, "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
		     "Expect: 100-continue\r\n\r\n");
	assert_true(raw_recv(fd, buf, sizeof(buf), true) > 0);
	assert_string_equal(buf, "HTTP/1.1 100 Continue\r\n\r\n");
	raw_send(fd, "hello");
	assert_true(raw_recv(fd, buf, sizeof(buf), true) > 0);
	assert_true(strncmp(buf, "HTTP/1.1 200 ", 13) == 0);
	close(fd);

	/* Too large: the final answer comes instead of 100 Continue. */
	fd = raw_connect(rest_server_port(s));
	raw_send(fd, "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\n"
		     "Expect: 100-continue\r\n\r\n");
	assert_true(raw_recv(fd, buf, sizeof(buf), false) > 0);
	assert_true(strncmp(buf, "HTTP/1.1 413 ", 13) == 0);
	close(fd);
	rest_server_free(s);
}

/* What NNG answers itself, and what this server refuses on the wire. */
static void test_malformed_requests_on_the_wire(void **state)
{
	rest_server *s = start_server(MAX_BODY, NULL);
	int port = rest_server_port(s);
	char buf[4096];
	static const struct {
		const char *req;
		const char *status; /* NULL: closed without an answer */
	} cases[] = {
	    {"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\nhello", "400"},
	    {"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "400"},
	    {"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
	     "400"},
	    /* Sent twice, NNG joins them: "5, 5". */
	    {"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"
	     "hello",
	     "400"},
	    {"POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
	     "0\r\n\r\n",
	     "411"},
	    {"G@T /jobs HTTP/1.1\r\nHost: x\r\n\r\n", "400"},
	    /* NNG's own: no Host, an unknown version, a target that is not a path. */
	    {"GET /jobs HTTP/1.1\r\n\r\n", "400"},
	    {"GET /jobs HTTP/2.0\r\nHost: x\r\n\r\n", "505"},
	    {"GET jobs HTTP/1.1\r\nHost: x\r\n\r\n", "404"},
	    /* NNG closes at once: no spaces, a control character. */
	    {"GARBAGE\r\n\r\n", NULL},
	    {"GET /jobs HTTP/1.1\r\nHost: \x01x\r\n\r\n", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = raw_connect(port);
		raw_send(fd, cases[i].req);
		ssize_t n = raw_recv(fd, buf, sizeof(buf), false);
		if (n < 0)
			fail_msg("case %zu: neither an answer nor a close", i);
		if (!cases[i].status) {
			if (n != 0)
				fail_msg("case %zu: expected no answer, got '%s'", i, buf);
		} else {
			char want[32];
			snprintf(want, sizeof(want), "HTTP/1.1 %s ", cases[i].status);
			if (strncmp(buf, want, strlen(want)) != 0)
				fail_msg("case %zu: expected %s, got '%.200s'", i, cases[i].status,
					 buf);
			/* Every body is JSON errors, NNG's own included. */
			const char *body = strstr(buf, "\r\n\r\n");
			assert_non_null(body);
			cJSON *j = cJSON_Parse(body + 4);
			if (!j || !cJSON_IsArray(cJSON_GetObjectItem(j, "errors")))
				fail_msg("case %zu: body is not JSON errors: '%s'", i, body + 4);
			cJSON_Delete(j);
		}
		close(fd);
	}
	/* The server still serves. */
	struct reply r;
	http(port, "GET", "/jobs", NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	reply_fini(&r);
	rest_server_free(s);
}

/* ----------------------------------------------------------------- queries */

static void test_query_parameters_are_decoded(void **state)
{
	char buf[16];
	const char *q = "a=1&b+c=x%20y+z&empty=&flag&bad=%zz&big=0123456789abcdefXYZ&a=2&=v&&";
	size_t n = strlen(q);
	assert_int_equal(rest_query_find(q, n, "a", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1"); /* the first wins */
	assert_int_equal(rest_query_find(q, n, "b c", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "x y z");
	assert_int_equal(rest_query_find(q, n, "empty", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(rest_query_find(q, n, "flag", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(rest_query_find(q, n, "missing", buf, sizeof(buf)), FL_ENOENT);
	assert_int_equal(rest_query_find(q, n, "bad", buf, sizeof(buf)), FL_ERANGE);
	assert_string_equal(buf, "");
	assert_int_equal(rest_query_find(q, n, "big", buf, sizeof(buf)), FL_ERANGE);
	assert_int_equal(rest_query_find(q, n, "", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "v");
	assert_int_equal(rest_query_find("k=%00", 5, "k", buf, sizeof(buf)), FL_ERANGE);
	assert_int_equal(rest_query_find("k%3D=1", 6, "k=", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1");
	assert_int_equal(rest_query_find("%zz=1&k=2", 9, "k", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2");
	assert_int_equal(rest_query_find("", 0, "k", buf, sizeof(buf)), FL_ENOENT);
	/* Only len bytes are read. */
	assert_int_equal(rest_query_find("k=123456", 4, "k", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "12");

	/* Through the server. */
	rest_server *s = start_server(MAX_BODY, NULL);
	struct reply r;
	http(rest_server_port(s), "GET",
	     "/query?"
	     "a=1&b+c=x%20y+z&empty=&flag&bad=%zz&big=0123456789abcdefXYZ",
	     NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(&r, "a"), "1");
	assert_string_equal(jstr(&r, "b c"), "x y z");
	assert_string_equal(jstr(&r, "empty"), "");
	assert_string_equal(jstr(&r, "flag"), "");
	assert_int_equal((int)jnum(&r, "missing"), FL_ENOENT);
	assert_int_equal((int)jnum(&r, "bad"), FL_ERANGE);
	assert_int_equal((int)jnum(&r, "big"), FL_ERANGE);
	assert_string_equal(jstr(&r, "raw"),
			    "a=1&b+c=x%20y+z&empty=&flag&bad=%zz&big=0123456789abcdefXYZ");
	reply_fini(&r);
	http(rest_server_port(s), "GET", "/query", NULL, 0, NULL, &r);
	assert_string_equal(jstr(&r, "raw"), "");
	reply_fini(&r);
	rest_server_free(s);
}

static void test_percent_decoding(void **state)
{
	char out[8];
	size_t n;
	assert_int_equal(rest_pct_decode("a%41+%7e", 8, out, sizeof(out), false, &n), 0);
	assert_string_equal(out, "aA+~");
	assert_int_equal(n, 4);
	assert_int_equal(rest_pct_decode("a+b", 3, out, sizeof(out), true, &n), 0);
	assert_string_equal(out, "a b");
	assert_int_equal(rest_pct_decode("%", 1, out, sizeof(out), false, NULL), FL_EPROTO);
	assert_int_equal(rest_pct_decode("%4", 2, out, sizeof(out), false, NULL), FL_EPROTO);
	assert_int_equal(rest_pct_decode("%4g", 3, out, sizeof(out), false, NULL), FL_EPROTO);
	assert_int_equal(rest_pct_decode("%00", 3, out, sizeof(out), false, NULL), FL_EPROTO);
	assert_string_equal(out, "");
	/* "%41" cut short by len is malformed, not read past. */
	assert_int_equal(rest_pct_decode("%41", 2, out, sizeof(out), false, NULL), FL_EPROTO);
	assert_int_equal(rest_pct_decode("1234567", 7, out, sizeof(out), false, NULL), 0);
	assert_int_equal(rest_pct_decode("12345678", 8, out, sizeof(out), false, NULL), FL_ERANGE);
	assert_int_equal(rest_pct_decode("", 0, out, 0, false, NULL), FL_ERANGE);
	assert_int_equal(rest_pct_decode("", 0, out, 1, false, &n), 0);
	assert_int_equal(n, 0);
}

static void test_bad_patterns_and_methods_are_refused(void **state)
{
	static const char *const bad[] = {
	    "",
	    "jobs",
	    "/jobs/",
	    "/jobs//x",
	    "/:",
	    "/:a/:a",
	    "/a b",
	    "/a%20b",
	    "/..",
	    "/a/./b",
	    "/:a-b",
	    "/a?b",
	    "/:a/:b/:c/:d/:e/:f/:g/:h/:i",
	};
	rest_server *s;
	cm_err err = {0};
	rest_options o = {0};
	assert_int_equal(rest_server_new(&s, &o, &err), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (rest_route(s, "GET", bad[i], h_jobs, NULL) != FL_EINVAL)
			fail_msg("pattern '%s' was accepted", bad[i]);
	assert_int_equal(rest_route(s, "GET", NULL, h_jobs, NULL), FL_EINVAL);
	assert_int_equal(rest_route(s, "HEAD", "/x", h_jobs, NULL), FL_EINVAL);
	assert_int_equal(rest_route(s, "get", "/x", h_jobs, NULL), FL_EINVAL);
	assert_int_equal(rest_route(s, NULL, "/x", h_jobs, NULL), FL_EINVAL);
	assert_int_equal(rest_route(s, "GET", "/x", NULL, NULL), FL_EINVAL);
	assert_int_equal(rest_route(s, "GET", "/", h_jobs, NULL), 0);
	assert_int_equal(rest_route(s, "GET", "/a-b.c_d~e/:x_1/Z9", h_jobs, NULL), 0);
	rest_server_free(s);

	rest_pattern *p;
	cm_err e2 = {0};
	assert_int_equal(rest_pattern_parse(&p, "/jobs/", &e2), FL_EINVAL);
	assert_string_equal(e2.msg, "route pattern '/jobs/' ends with '/'");

	o.port = 70000;
	cm_err_clear(&err);
	assert_int_equal(rest_server_new(&s, &o, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "70000"));
	o.port = 0;
	o.bind_host = "a/b";
	cm_err_clear(&err);
	assert_int_equal(rest_server_new(&s, &o, &err), FL_EINVAL);
}

static void test_paths_split_into_decoded_segments(void **state)
{
	rest_path p;
	char why[128];
	assert_int_equal(rest_path_parse(&p, "/", 1, why, sizeof(why)), 0);
	assert_int_equal(p.nseg, 0);
	assert_string_equal(p.decoded, "/");
	rest_path_fini(&p);
	assert_int_equal(rest_path_parse(&p, "/a//b%2F/", 9, why, sizeof(why)), 0);
	assert_int_equal(p.nseg, 3);
	assert_string_equal(p.seg[0], "a");
	assert_string_equal(p.seg[1], "");
	assert_string_equal(p.seg[2], "b/");
	assert_string_equal(p.decoded, "/a//b//");
	rest_path_fini(&p);
	assert_int_equal(rest_path_parse(&p, "x", 1, why, sizeof(why)), FL_EPROTO);
	assert_int_equal(rest_path_parse(&p, "", 0, why, sizeof(why)), FL_EPROTO);
	/* Only len bytes are read. */
	assert_int_equal(rest_path_parse(&p, "/ab%zz", 3, why, sizeof(why)), 0);
	assert_string_equal(p.decoded, "/ab");
	rest_path_fini(&p);
	char deep[3 * (REST_MAX_SEGMENTS + 1) + 1] = "";
	for (int i = 0; i <= REST_MAX_SEGMENTS; i++)
		strcat(deep, "/ab");
	assert_int_equal(rest_path_parse(&p, deep, strlen(deep), why, sizeof(why)), 0);
	assert_int_equal(p.nseg, -1);
	rest_path_fini(&p);
}

/* -------------------------------------------------------------- multipart */

#define BND "XyZ-boundary"

/* A multipart body with one file part around data. */
static size_t build_upload(uint8_t *out, const uint8_t *data, size_t len, const char *filename,
			   size_t *data_at)
{
	size_t n = 0;
	n += (size_t)sprintf((char *)out + n,
			     "preamble to ignore\r\n--" BND "\r\n"
			     "Content-Disposition: form-data; name=\"other\"\r\n\r\nvalue\r\n"
			     "--" BND "  \r\n" /* transport padding */
			     "content-disposition: form-data; name=\"jarfile\"; filename=\"%s\"\r\n"
			     "Content-Type: application/x-java-archive\r\n\r\n",
			     filename);
	if (data_at)
		*data_at = n;
	memcpy(out + n, data, len);
	n += len;
	n += (size_t)sprintf((char *)out + n, "\r\n--" BND "--\r\nepilogue\r\n");
	return n;
}

/* Bytes that look like delimiters without being ones, NULs, CRs, every
 * byte value. */
static size_t tricky_data(uint8_t *d)
{
	size_t n = 0;
	const char *pieces[] = {"--" BND "\r\n",       "\r\n--" BND "X\r\n", "\r\n--" BND "-",
				"\r\n--XyZ-bound\r\n", "\r\n\r\n",	     "\r\n--" BND "\t-\r\n",
				"\r--" BND "\r\n",     "\n--" BND "--\r\n"};
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		memcpy(d + n, pieces[i], strlen(pieces[i]));
		n += strlen(pieces[i]);
		for (int b = 0; b < 256; b++)
			d[n++] = (uint8_t)(b * 7 + (int)i);
	}
	d[n++] = '\r'; /* data ending in CR, right before the delimiter's CRLF */
	return n;
}

static void test_multipart_finds_the_file_among_look_alike_boundaries(void **state)
{
	uint8_t data[8 * 300], body[8192];
	size_t dl = tricky_data(data);
	size_t at;
	size_t bl = build_upload(body, data, dl, "job.jar", &at);
	const uint8_t *got;
	size_t len;
	char fname[32];
	cm_err err = {0};
	assert_int_equal(rest_multipart_file("multipart/form-data; boundary=" BND, body, bl,
					     "jarfile", &got, &len, fname, sizeof(fname), &err),
			 0);
	assert_int_equal(len, dl);
	assert_memory_equal(got, data, dl);
	assert_string_equal(fname, "job.jar");
	assert_ptr_equal(got, body + at);

	/* The other part, a quoted boundary with a space, parameters in
	 * another case and order. */
	assert_int_equal(
	    rest_multipart_file(" Multipart/Form-Data ; charset=utf-8;BOUNDARY=\"" BND "\"", body,
				bl, "other", &got, &len, fname, sizeof(fname), &err),
	    0);
	assert_int_equal(len, 5);
	assert_memory_equal(got, "value", 5);
	assert_string_equal(fname, "");

	assert_int_equal(rest_multipart_file("multipart/form-data; boundary=" BND, body, bl,
					     "missing", &got, &len, NULL, 0, &err),
			 FL_ENOENT);
	assert_null(got);
	assert_string_equal(err.msg, "the multipart body has no part named 'missing'");

	/* The filename cut at a character boundary; escapes in quotes. */
	static const char ut[] = "multipart/form-data; boundary=b";
	static const char b2[] =
	    "--b\r\nContent-Disposition: form-data; name=\"f\\\"x\"; filename=\"\xc3\xa9t\xc3\xa9"
	    ".jar\"\r\n\r\n\r\n--b--";
	char small[4];
	cm_err_clear(&err);
	assert_int_equal(rest_multipart_file(ut, (const uint8_t *)b2, sizeof(b2) - 1, "f\"x", &got,
					     &len, small, sizeof(small), &err),
			 0);
	assert_int_equal(len, 0);
	assert_string_equal(small, "\xc3\xa9t");
	char tiny[2];
	assert_int_equal(rest_multipart_file(ut, (const uint8_t *)b2, sizeof(b2) - 1, "f\"x", &got,
					     &len, tiny, sizeof(tiny), &err),
			 0);
	assert_string_equal(tiny, "");
}

static void test_multipart_refuses_malformed_bodies(void **state)
{
	static const char ct[] = "multipart/form-data; boundary=b";
	char long_line[1200 + 64], many[40 * 20 + 64];
	snprintf(long_line, sizeof(long_line),
		 "--b\r\nContent-Disposition: form-data; name=\"jarfile\"\r\nX-Pad: %01100d\r\n\r\n"
		 "x\r\n--b--",
		 0);
	size_t m = (size_t)sprintf(many, "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n");
	for (int i = 0; i < 16; i++)
		m += (size_t)sprintf(many + m, "X-%d: y\r\n", i);
	sprintf(many + m, "\r\nx\r\n--b--");
	const struct {
		const char *ct, *body, *msg;
	} cases[] = {
	    {"text/plain", "", "the Content-Type 'text/plain' is not multipart/form-data"},
	    {"", "", "the Content-Type '' is not multipart/form-data"},
	    {"multipart/form-datax; boundary=b", "", "is not multipart/form-data"},
	    {"multipart/form-data", "", "has no boundary"},
	    {"multipart/form-data; boundary=", "", "malformed parameter"},
	    {"multipart/form-data; boundary=\"\"", "", "0 bytes long"},
	    {"multipart/form-data; boundary=\"b", "", "malformed parameter"},
	    {"multipart/form-data boundary=b", "", "malformed parameter"},
	    {"multipart/form-data; boundary=a; boundary=b", "", "two boundary parameters"},
	    {"multipart/form-data; boundary=\"a\x01\"", "", "malformed parameter"},
	    {"multipart/form-data; boundary=\"a\\\"b\"", "", "does not allow"},
	    {"multipart/form-data; boundary=\"ab \"", "", "does not allow"},
	    {"multipart/form-data; boundary="
	     "12345678901234567890123456789012345678901234567890123456789012345678901",
	     "", "71 bytes long"},
	    {ct, "", "has no boundary line '--b'"},
	    {ct, "--bb\r\n", "has no boundary line"},
	    {ct, "--b", "has no boundary line"},
	    {ct, "--b\r\n", "part 1: the body ends inside its headers"},
	    {ct, "--b\r\nContent-Disposition: form-data; name=a\r", "the body ends inside"},
	    {ct, "--b\r\nContent-Disposition: form-data; name=a\r\n", "the body ends inside"},
	    {ct, "--b\r\nContent-Disposition: form-data; name=a\nX: y\r\n\r\n\r\n--b--",
	     "an LF without CR"},
	    {ct, "--b\r\nContent-Disposition: form-data; name=a\rX: y\r\n\r\n\r\n--b--",
	     "a CR without LF"},
	    {ct, "--b\r\nContent-Disposition: form-data; name=a\x01\r\n\r\n\r\n--b--",
	     "a control character"},
	    {ct, "--b\r\nContent-Disposition: form-data; name=a\r\n filename=x\r\n\r\n\r\n--b--",
	     "is folded"},
	    {ct, "--b\r\nX-Other: 1\r\n\r\nx\r\n--b--", "has no Content-Disposition"},
	    {ct, "--b\r\n\r\nx\r\n--b--", "has no Content-Disposition"},
	    {ct, "--b\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--b--",
	     "is not form-data"},
	    {ct, "--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--", "has no name"},
	    {ct, "--b\r\nContent-Disposition: form-data; filename=x\r\n\r\nx\r\n--b--",
	     "has no name"},
	    {ct, "--b\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\nx\r\n--b--",
	     "two name parameters"},
	    {ct, "--b\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--b--",
	     "malformed parameter in the Content-Disposition"},
	    {ct, "--b\r\nContent-Disposition: form-data; name=\r\n\r\nx\r\n--b--",
	     "malformed parameter"},
	    {ct,
	     "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--b\r\n"
	     "Content-Disposition: form-data; name=a\r\nContent-Disposition: form-data; "
	     "name=a\r\n\r\ny\r\n--b--",
	     "part 2 has two Content-Disposition headers"},
	    {ct, "--b\r\nNo colon here\r\n\r\nx\r\n--b--", "is not 'Name: value'"},
	    {ct, "--b\r\n: empty name\r\n\r\nx\r\n--b--", "is not 'Name: value'"},
	    {ct, "--b\r\nContent-Disposition: form-data; name=jarfile\r\n\r\nabc",
	     "part 1 ('jarfile', at byte 53) does not end with a boundary line"},
	    {ct, "--b\r\nContent-Disposition: form-data; name=jarfile\r\n\r\nabc\r\n--b",
	     "does not end with a boundary line"},
	    {ct, "--b\r\nContent-Disposition: form-data; name=jarfile\r\n\r\nabc\r\n--bX",
	     "does not end with a boundary line"},
	    {ct,
	     "--b\r\nContent-Disposition: form-data; name=jarfile\r\n\r\nx\r\n--b\r\n"
	     "Content-Disposition: form-data; name=jarfile\r\n\r\ny\r\n--b--",
	     "two parts named 'jarfile'"},
	    {ct, long_line, "is longer than 1024 bytes"},
	    {ct, many, "more than 16 header lines"},
	    {ct, "--b--", "no part named 'jarfile'"}, /* FL_ENOENT */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const uint8_t *got = (const uint8_t *)"x";
		size_t len = 7;
		char fname[8] = "junk";
		cm_err err = {0};
		int want = strstr(cases[i].msg, "no part named") ? FL_ENOENT : FL_EPROTO;
		/* A copy of exactly the body's length, so ASan sees any read past it. */
		size_t bl = strlen(cases[i].body);
		uint8_t *b = bl ? malloc(bl) : NULL;
		if (bl)
			memcpy(b, cases[i].body, bl);
		int rc = rest_multipart_file(cases[i].ct, b, bl, "jarfile", &got, &len, fname,
					     sizeof(fname), &err);
		free(b);
		if (rc != want || !strstr(err.msg, cases[i].msg) || got != NULL || len != 0 ||
		    fname[0] != '\0')
			fail_msg("case %zu: rc %d (want %d), message '%s' (want '%s')", i, rc, want,
				 err.msg, cases[i].msg);
	}
	/* The line cap counts the line, not its CRLF: 1024 bytes pass. */
	char ok[1200];
	snprintf(ok, sizeof(ok),
		 "--b\r\nContent-Disposition: form-data; name=\"jarfile\"\r\nX-Pad: %01016d\r\n\r\n"
		 "x\r\n--b--",
		 0);
	const uint8_t *got;
	size_t len;
	cm_err err = {0};
	assert_int_equal(rest_multipart_file(ct, (const uint8_t *)ok, strlen(ok), "jarfile", &got,
					     &len, NULL, 0, &err),
			 0);
	assert_int_equal(len, 1);
}

/* Every prefix of a valid body is refused (or, for the prefixes that still
 * end with the close delimiter, accepted), and none is read past. */
static void test_multipart_truncated_bodies_never_read_past_the_end(void **state)
{
	uint8_t data[8 * 300], body[8192];
	size_t dl = tricky_data(data);
	size_t bl = build_upload(body, data, dl, "a.jar", NULL);
	size_t close_end = bl - strlen("\r\nepilogue\r\n");
	for (size_t n = 0; n <= bl; n++) {
		uint8_t *b = malloc(n ? n : 1);
		memcpy(b, body, n);
		const uint8_t *got;
		size_t len;
		cm_err err = {0};
		int rc = rest_multipart_file("multipart/form-data; boundary=" BND, n ? b : NULL, n,
					     "jarfile", &got, &len, NULL, 0, &err);
		if (n >= close_end) {
			assert_int_equal(rc, 0);
			assert_int_equal(len, dl);
		} else if (rc != FL_EPROTO || err.msg[0] == '\0') {
			fail_msg("prefix of %zu bytes: rc %d '%s'", n, rc, err.msg);
		}
		free(b);
	}
}

struct upload {
	const uint8_t *data;
	size_t len;
};

static curl_mime *upload_mime(CURL *c, void *arg)
{
	struct upload *u = arg;
	curl_mime *m = curl_mime_init(c);
	curl_mimepart *p = curl_mime_addpart(m);
	curl_mime_name(p, "jarfile");
	curl_mime_data(p, (const char *)u->data, u->len);
	curl_mime_filename(p, "wordcount.jar");
	curl_mime_type(p, "application/x-java-archive");
	p = curl_mime_addpart(m);
	curl_mime_name(p, "note");
	curl_mime_data(p, "hello", CURL_ZERO_TERMINATED);
	return m;
}

static void test_upload_of_a_binary_file(void **state)
{
	rest_server *s = start_server(4 << 20, NULL);
	int port = rest_server_port(s);
	size_t n = 1536 * 1024; /* above curl's 1 MiB Expect threshold */
	uint8_t *d = malloc(n);
	uint64_t x = 88172645463325252ULL;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		d[i] = (uint8_t)x;
	}
	struct upload u = {d, n};
	struct reply r;
	http_ex(port, "POST", "/jars/upload", NULL, 0, NULL, upload_mime, &u, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(&r, "filename"), "wordcount.jar");
	assert_int_equal((size_t)jnum(&r, "size"), n);
	char want[32];
	snprintf(want, sizeof(want), "%016llx", (unsigned long long)fnv1a(d, n));
	assert_string_equal(jstr(&r, "hash"), want);
	reply_fini(&r);

	/* A body of our own with look-alike boundaries inside the data. */
	uint8_t data[8 * 300], body[8192];
	size_t dl = tricky_data(data);
	size_t at;
	size_t bl = build_upload(body, data, dl, "tricky.jar", &at);
	http(port, "POST", "/jars/upload", body, bl, "multipart/form-data; boundary=" BND, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(&r, "filename"), "tricky.jar");
	assert_int_equal((size_t)jnum(&r, "size"), dl);
	snprintf(want, sizeof(want), "%016llx", (unsigned long long)fnv1a(data, dl));
	assert_string_equal(jstr(&r, "hash"), want);
	reply_fini(&r);

	/* Cut short: the handler's 400 names what is wrong. */
	http(port, "POST", "/jars/upload", body, bl / 2, "multipart/form-data; boundary=" BND, &r);
	char msg[200];
	snprintf(msg, sizeof(msg),
		 "multipart part 2 ('jarfile', at byte %zu) does not end with a boundary line: the "
		 "body is cut short or the boundary is wrong",
		 at);
	assert_json_error(&r, 400, msg);
	reply_fini(&r);
	free(d);
	rest_server_free(s);
}

/* ---------------------------------------------------------- static files */

static char sdir[256];

static void write_file(const char *rel, const char *text)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", sdir, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void make_static_tree(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(sdir, sizeof(sdir), "%s/flinc-rest-XXXXXX", base);
	assert_non_null(mkdtemp(sdir));
	char p[512];
	snprintf(p, sizeof(p), "%s/web", sdir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/web/sub", sdir);
	assert_int_equal(mkdir(p, 0700), 0);
	write_file("secret.txt", "secret");
	write_file("web/index.html", "<html>flinc</html>");
	write_file("web/sub/index.html", "<html>sub</html>");
	static const char *const files[] = {"app.js",	  "style.css", "data.json",
					    "img.png",	  "pic.svg",   "favicon.ico",
					    "font.woff2", "blob.bin",  "UPPER.HTML"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char rel[64];
		snprintf(rel, sizeof(rel), "web/%s", files[i]);
		write_file(rel, files[i]);
	}
	snprintf(p, sizeof(p), "%s/web/inside.html", sdir);
	assert_int_equal(symlink("sub/index.html", p), 0);
	snprintf(p, sizeof(p), "%s/web/out.txt", sdir);
	assert_int_equal(symlink("../secret.txt", p), 0);
	char abs[512];
	snprintf(abs, sizeof(abs), "%s/secret.txt", sdir);
	snprintf(p, sizeof(p), "%s/web/abs.txt", sdir);
	assert_int_equal(symlink(abs, p), 0);
	snprintf(p, sizeof(p), "%s/web/updir", sdir);
	assert_int_equal(symlink("..", p), 0);
	snprintf(p, sizeof(p), "%s/web/fifo", sdir);
	assert_int_equal(mkfifo(p, 0600), 0);
}

static void remove_static_tree(void)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sdir);
	assert_int_equal(system(cmd), 0);
}

static void test_static_files_with_their_types(void **state)
{
	make_static_tree();
	char web[300];
	snprintf(web, sizeof(web), "%s/web", sdir);
	rest_server *s = start_server(MAX_BODY, web);
	int port = rest_server_port(s);
	static const struct {
		const char *path, *type, *body;
	} ok[] = {
	    {"/", "text/html; charset=UTF-8", "<html>flinc</html>"},
	    {"/index.html", "text/html; charset=UTF-8", "<html>flinc</html>"},
	    {"/sub/", "text/html; charset=UTF-8", "<html>sub</html>"},
	    {"/app.js", "text/javascript; charset=UTF-8", "app.js"},
	    {"/style.css?v=3", "text/css; charset=UTF-8", "style.css"},
	    {"/data.json", "application/json; charset=UTF-8", "data.json"},
	    {"/img.png", "image/png", "img.png"},
	    {"/pic.svg", "image/svg+xml", "pic.svg"},
	    {"/favicon.ico", "image/x-icon", "favicon.ico"},
	    {"/font.woff2", "font/woff2", "font.woff2"},
	    {"/blob.bin", "application/octet-stream", "blob.bin"},
	    {"/UPPER.HTML", "text/html; charset=UTF-8", "UPPER.HTML"},
	    {"/%61pp.js", "text/javascript; charset=UTF-8", "app.js"},
	    {"/inside.html", "text/html; charset=UTF-8", "<html>sub</html>"},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct reply r;
		http(port, "GET", ok[i].path, NULL, 0, NULL, &r);
		if (r.status != 200 || strcmp(r.ctype, ok[i].type) != 0 || !r.body ||
		    strcmp(r.body, ok[i].body) != 0)
			fail_msg("%s: %ld '%s' '%s'", ok[i].path, r.status, r.ctype,
				 r.body ? r.body : "");
		reply_fini(&r);
	}
	/* Routes still win; HEAD has the headers only. */
	struct reply r;
	http(port, "GET", "/jobs", NULL, 0, NULL, &r);
	assert_string_equal(r.body, "{\"jobs\":[]}");
	reply_fini(&r);
	http(port, "HEAD", "/", NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "text/html; charset=UTF-8");
	assert_int_equal(r.len, 0);
	reply_fini(&r);

	/* Ways out of the directory, and what is not a file. */
	static const char *const refused[] = {
	    "/../secret.txt",
	    "/%2e%2e/secret.txt",
	    "/sub/../../secret.txt",
	    "/sub/%2E%2E/%2e%2e/secret.txt",
	    "/..%2fsecret.txt",
	    "/./index.html",
	    "/out.txt",
	    "/abs.txt",
	    "/updir/secret.txt",
	    "/sub",
	    "/missing.js",
	    "/fifo",
	    "/..\\secret.txt",
	    "/sub/..",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		http(port, "GET", refused[i], NULL, 0, NULL, &r);
		if (r.status != 404 || !jerror(&r) || strncmp(jerror(&r), "Not found: ", 11) != 0)
			fail_msg("%s: %ld '%s'", refused[i], r.status, r.body ? r.body : "");
		reply_fini(&r);
	}
	/* Only GET and HEAD reach the files. */
	http(port, "POST", "/index.html", "x", 1, "text/plain", &r);
	assert_json_error(&r, 404, "Not found: /index.html");
	reply_fini(&r);
	rest_server_free(s);

	/* The fallback without openat2 refuses every symbolic link. */
	int root = open(web, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(root >= 0);
	uint8_t *d;
	size_t len;
	assert_int_equal(rest_static_read(root, "sub/index.html", false, &d, &len), 0);
	assert_int_equal(len, strlen("<html>sub</html>"));
	free(d);
	static const char *const walk_refused[] = {
	    "inside.html", "out.txt", "abs.txt", "updir/secret.txt", "sub", "fifo", "nope"};
	for (size_t i = 0; i < sizeof(walk_refused) / sizeof(walk_refused[0]); i++)
		if (rest_static_read(root, walk_refused[i], false, &d, &len) != FL_ENOENT)
			fail_msg("walk: %s was read", walk_refused[i]);
	assert_int_equal(rest_static_read(root, "inside.html", true, &d, &len), 0);
	free(d);
	close(root);

	cm_err err = {0};
	rest_options o = {0};
	assert_int_equal(rest_server_new(&s, &o, &err), 0);
	char missing[300];
	snprintf(missing, sizeof(missing), "%s/none", sdir);
	assert_int_equal(rest_static_dir(s, missing, &err), FL_ENOENT);
	assert_non_null(strstr(err.msg, missing));
	cm_err_clear(&err);
	snprintf(missing, sizeof(missing), "%s/secret.txt", sdir);
	assert_int_equal(rest_static_dir(s, missing, &err), FL_EINVAL);
	rest_server_free(s);
	remove_static_tree();

	char name[64], why[64];
	assert_int_equal(rest_static_name("/a/b/", name, sizeof(name), why, sizeof(why)), 0);
	assert_string_equal(name, "a/b/index.html");
	assert_int_equal(rest_static_name("//a", name, sizeof(name), why, sizeof(why)), 0);
	assert_string_equal(name, "a"); /* never an absolute name */
	assert_int_equal(rest_static_name("/a/../b", name, sizeof(name), why, sizeof(why)),
			 FL_EPROTO);
	assert_int_equal(rest_static_name("/a/..", name, sizeof(name), why, sizeof(why)),
			 FL_EPROTO);
	assert_int_equal(rest_static_name("/.", name, sizeof(name), why, sizeof(why)), FL_EPROTO);
	assert_int_equal(rest_static_name("/a\\b", name, sizeof(name), why, sizeof(why)),
			 FL_EPROTO);
	assert_int_equal(rest_static_name("/...", name, sizeof(name), why, sizeof(why)), 0);
	assert_int_equal(rest_static_name("/0123456789", name, 8, why, sizeof(why)), FL_ERANGE);
	assert_string_equal(rest_content_type("x.WOFF2"), "font/woff2");
	assert_string_equal(rest_content_type(".js"), "application/octet-stream");
	assert_string_equal(rest_content_type("a/.js"), "application/octet-stream");
	assert_string_equal(rest_content_type("js"), "application/octet-stream");
}

/* ------------------------------------------------------------- threads */

struct client_arg {
	int port;
	int id;
	int ok;
};

static void *client_main(void *p)
{
	struct client_arg *a = p;
	for (int i = 0; i < 20; i++) {
		struct reply r;
		char target[64], body[64];
		if (i % 2 == 0) {
			snprintf(target, sizeof(target), "/jobs/t%d-%d", a->id, i);
			http(a->port, "GET", target, NULL, 0, NULL, &r);
			char want[64];
			snprintf(want, sizeof(want), "t%d-%d", a->id, i);
			if (r.status == 200 && jstr(&r, "jobid") &&
			    strcmp(jstr(&r, "jobid"), want) == 0)
				a->ok++;
		} else {
			int n = snprintf(body, sizeof(body), "body of %d/%d", a->id, i);
			http(a->port, "POST", "/body", body, (size_t)n, "text/plain", &r);
			if (r.status == 200 && (int)jnum(&r, "size") == n)
				a->ok++;
		}
		reply_fini(&r);
	}
	return NULL;
}

static void test_concurrent_requests_from_several_threads(void **state)
{
	rest_server *s = start_server(MAX_BODY, NULL);
	enum { N = 8 };
	pthread_t t[N];
	struct client_arg a[N];
	for (int i = 0; i < N; i++) {
		a[i] = (struct client_arg){.port = rest_server_port(s), .id = i};
		assert_int_equal(pthread_create(&t[i], NULL, client_main, &a[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].ok, 20);
	}
	rest_server_free(s);
}

struct meet_arg {
	int port;
	long status;
};

static void *meet_main(void *p)
{
	struct meet_arg *a = p;
	struct reply r;
	http(a->port, "GET", "/meet", NULL, 0, NULL, &r);
	a->status = r.status;
	reply_fini(&r);
	return NULL;
}

static void test_handlers_run_at_the_same_time(void **state)
{
	assert_int_equal(cm_cond_init(&sync_state.cv), 0);
	sync_state.arrived = 0;
	sync_state.met = 0;
	rest_server *s = start_server(MAX_BODY, NULL);
	pthread_t t[2];
	struct meet_arg a[2] = {{rest_server_port(s), 0}, {rest_server_port(s), 0}};
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, meet_main, &a[i]), 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].status, 200);
	}
	assert_int_equal(sync_state.met, 2);
	rest_server_free(s);
	pthread_cond_destroy(&sync_state.cv);
}

static void *block_client(void *p)
{
	struct meet_arg *a = p;
	struct reply r;
	http(a->port, "GET", "/block", NULL, 0, NULL, &r);
	a->status = r.status;
	reply_fini(&r);
	return NULL;
}

struct free_arg {
	rest_server *s;
	atomic_bool returned;
};

static void *free_main(void *p)
{
	struct free_arg *a = p;
	rest_server_free(a->s);
	atomic_store(&a->returned, true);
	return NULL;
}

static void test_free_waits_for_a_running_handler(void **state)
{
	assert_int_equal(cm_cond_init(&sync_state.cv), 0);
	sync_state.blocked = sync_state.release = sync_state.block_done = false;
	rest_server *s = start_server(MAX_BODY, NULL);
	pthread_t c, f;
	struct meet_arg a = {rest_server_port(s), 0};
	assert_int_equal(pthread_create(&c, NULL, block_client, &a), 0);
	pthread_mutex_lock(&sync_state.mu);
	while (!sync_state.blocked)
		pthread_cond_wait(&sync_state.cv, &sync_state.mu);
	pthread_mutex_unlock(&sync_state.mu);

	struct free_arg fa = {.s = s};
	assert_int_equal(pthread_create(&f, NULL, free_main, &fa), 0);
	usleep(100 * 1000); /* free has begun (a slow machine only weakens the check) */
	assert_false(atomic_load(&fa.returned));
	pthread_mutex_lock(&sync_state.mu);
	sync_state.release = true;
	pthread_cond_broadcast(&sync_state.cv);
	pthread_mutex_unlock(&sync_state.mu);
	pthread_join(f, NULL);
	pthread_mutex_lock(&sync_state.mu);
	assert_true(sync_state.block_done); /* finished before free returned */
	pthread_mutex_unlock(&sync_state.mu);
	pthread_join(c, NULL); /* its connection was closed: no answer */
	assert_int_equal(a.status, 0);
	pthread_cond_destroy(&sync_state.cv);
}

/* ------------------------------------------------------- hostile clients */

static void test_idle_and_slow_clients_hold_no_thread(void **state)
{
	rest_server *s = start_server(MAX_BODY, NULL);
	int port = rest_server_port(s);
	/* More idle connections than NNG and the server have threads, each
	 * stuck somewhere else: nothing sent, half a request line, headers
	 * without their end, a body announced and never sent. */
	enum { N = 24 };
	int fds[N];
	for (int i = 0; i < N; i++) {
		fds[i] = raw_connect(port);
		switch (i % 4) {
		case 1:
			raw_send(fds[i], "GET /jo");
			break;
		case 2:
			raw_send(fds[i], "GET /jobs HTTP/1.1\r\nHost: x\r\n");
			break;
		case 3:
			raw_send(fds[i],
				 "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
				 "abc");
			break;
		}
	}
	struct reply r;
	for (int i = 0; i < 10; i++) {
		http(port, "GET", "/jobs/x", NULL, 0, NULL, &r);
		assert_int_equal(r.status, 200);
		reply_fini(&r);
	}
	/* Freeing closes them all. */
	rest_server_free(s);
	char buf[256];
	for (int i = 0; i < N; i++) {
		assert_int_equal(raw_recv(fds[i], buf, sizeof(buf), false), 0);
		close(fds[i]);
	}
}

static void test_requests_beyond_the_cap_get_503(void **state)
{
	rest_server *s = start_server(MAX_BODY, NULL);
	int port = rest_server_port(s);
	/* Each request holds a call open (its body never comes): exactly
	 * REST_MAX_CALLS are admitted, whichever they are, and the rest are
	 * answered 503 at once. */
	enum { N = REST_MAX_CALLS + 8 };
	int fds[N];
	bool refused[N];
	for (int i = 0; i < N; i++) {
		fds[i] = raw_connect(port);
		refused[i] = false;
		raw_send(fds[i], "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n");
	}
	int nrefused = 0;
	char buf[1024];
	int64_t deadline = cm_now_ms() + 30000;
	while (nrefused < N - REST_MAX_CALLS && cm_now_ms() < deadline) {
		struct pollfd pf[N];
		for (int i = 0; i < N; i++)
			pf[i] = (struct pollfd){.fd = refused[i] ? -1 : fds[i], .events = POLLIN};
		assert_true(poll(pf, N, 1000) >= 0);
		for (int i = 0; i < N; i++) {
			if (!(pf[i].revents & (POLLIN | POLLHUP)))
				continue;
			assert_true(raw_recv(fds[i], buf, sizeof(buf), false) > 0);
			if (strncmp(buf, "HTTP/1.1 503 ", 13) != 0 ||
			    !strstr(buf, "Service unavailable: 256 requests are in progress; try "
					 "again later") ||
			    !strcasestr(buf, "\r\nConnection: close\r\n"))
				fail_msg("connection %d: '%s'", i, buf);
			refused[i] = true;
			nrefused++;
		}
	}
	assert_int_equal(nrefused, N - REST_MAX_CALLS);

	/* One finishes its body: room for one more. */
	int i = 0;
	while (refused[i])
		i++;
	raw_send(fds[i], "0123456789");
	assert_true(raw_recv(fds[i], buf, sizeof(buf), false) > 0);
	assert_true(strncmp(buf, "HTTP/1.1 200 ", 13) == 0);
	struct reply r;
	deadline = cm_now_ms() + 20000;
	do { /* the worker frees the finished call just after answering */
		http(port, "GET", "/jobs", NULL, 0, NULL, &r);
		long st = r.status;
		reply_fini(&r);
		if (st == 200)
			break;
		usleep(10 * 1000);
	} while (cm_now_ms() < deadline);
	assert_true(cm_now_ms() < deadline);
	rest_server_free(s);
	for (int k = 0; k < N; k++)
		close(fds[k]);
}

static void test_servers_on_port_zero_are_apart_and_a_taken_port_is_refused(void **state)
{
	rest_server *a = start_server(MAX_BODY, NULL);
	rest_server *b = start_server(MAX_BODY, NULL);
	assert_int_not_equal(rest_server_port(a), rest_server_port(b));
	struct reply r;
	http(rest_server_port(b), "GET", "/jobs", NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	reply_fini(&r);

	rest_server *c;
	cm_err err = {0};
	rest_options o = {.bind_host = "127.0.0.1", .port = rest_server_port(a)};
	assert_int_equal(rest_server_new(&c, &o, &err), 0);
	assert_int_equal(rest_route(c, "GET", "/jobs", h_jobs, NULL), 0);
	assert_int_equal(rest_server_start(c, &err), FL_EIO);
	assert_non_null(strstr(err.msg, "127.0.0.1:"));
	assert_non_null(strstr(err.msg, "another REST server of this process"));
	rest_server_free(c);
	/* a is untouched. */
	http(rest_server_port(a), "GET", "/jobs", NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	reply_fini(&r);

	/* A port another process (here: a plain socket) holds. */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	socklen_t sl = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	o.port = ntohs(sa.sin_port);
	cm_err_clear(&err);
	assert_int_equal(rest_server_new(&c, &o, &err), 0);
	assert_int_equal(rest_server_start(c, &err), FL_EIO);
	assert_non_null(strstr(err.msg, "cannot listen"));
	rest_server_free(c);
	close(fd);
	rest_server_free(a);
	rest_server_free(b);
	rest_server_free(NULL);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		cmocka_set_test_filter(argv[1]); /* one test by name, when debugging */
	curl_global_init(CURL_GLOBAL_ALL);
	cm_log_set_level(CM_LOG_WARN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_percent_decoding),
	    cmocka_unit_test(test_paths_split_into_decoded_segments),
	    cmocka_unit_test(test_bad_patterns_and_methods_are_refused),
	    cmocka_unit_test(test_multipart_finds_the_file_among_look_alike_boundaries),
	    cmocka_unit_test(test_multipart_refuses_malformed_bodies),
	    cmocka_unit_test(test_multipart_truncated_bodies_never_read_past_the_end),
	    cmocka_unit_test(test_routes_match_literals_then_parameters),
	    cmocka_unit_test(test_unknown_path_is_404_in_flinks_words),
	    cmocka_unit_test(test_wrong_method_is_405_with_allow),
	    cmocka_unit_test(test_handler_failure_is_500_with_the_reason),
	    cmocka_unit_test(test_malformed_paths_are_400),
	    cmocka_unit_test(test_bodies_up_to_the_cap_arrive_whole_and_beyond_it_are_413),
	    cmocka_unit_test(test_expect_100_continue_is_answered_before_the_body),
	    cmocka_unit_test(test_malformed_requests_on_the_wire),
	    cmocka_unit_test(test_query_parameters_are_decoded),
	    cmocka_unit_test(test_upload_of_a_binary_file),
	    cmocka_unit_test(test_static_files_with_their_types),
	    cmocka_unit_test(test_concurrent_requests_from_several_threads),
	    cmocka_unit_test(test_handlers_run_at_the_same_time),
	    cmocka_unit_test(test_free_waits_for_a_running_handler),
	    cmocka_unit_test(test_idle_and_slow_clients_hold_no_thread),
	    cmocka_unit_test(test_requests_beyond_the_cap_get_503),
	    cmocka_unit_test(test_servers_on_port_zero_are_apart_and_a_taken_port_is_refused),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
