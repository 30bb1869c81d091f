/*
 * client.c — Kubernetes API requests on one persistent curl easy handle.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "common/buf.h"
#include "k8s/client.h"

const k8s_resource K8S_CONFIGMAPS = {"v1", "configmaps", true};
const k8s_resource K8S_PODS = {"v1", "pods", true};
const k8s_resource K8S_SERVICES = {"v1", "services", true};
const k8s_resource K8S_SECRETS = {"v1", "secrets", true};
const k8s_resource K8S_NAMESPACES = {"v1", "namespaces", false};
const k8s_resource K8S_NODES = {"v1", "nodes", false};
const k8s_resource K8S_DEPLOYMENTS = {"apps/v1", "deployments", true};
const k8s_resource K8S_LEASES = {"coordination.k8s.io/v1", "leases", true};
const k8s_resource K8S_EVENTS = {"events.k8s.io/v1", "events", true};

/* A Status body of an error answer is small; more is not read. */
#define ERROR_BODY_MAX (64u << 10)

struct k8s_client {
	CURL *curl;
	k8s_config cfg;
	size_t max_response;
	long timeout_ms;
	char errbuf[CURL_ERROR_SIZE];
	atomic_int *abort; /* set: the request in flight ends (FL_ECANCELED) */
	long connects;	   /* new connections made so far */
	long http_version; /* CURL_HTTP_VERSION_* of the last answer */
};

/* The process's request observer: fn and arg are read together under a
 * sequence of two atomics (arg is stored before fn, fn cleared first). */
static _Atomic(k8s_request_observer) observer_fn;
static _Atomic(void *) observer_arg;

void k8s_set_request_observer(k8s_request_observer fn, void *arg)
{
	atomic_store(&observer_fn, NULL);
	atomic_store(&observer_arg, arg);
	atomic_store(&observer_fn, fn);
}

/* Reports a finished request to the observer, if any. */
static void observe(k8s_client *c, const char *method, bool stream, long http)
{
	k8s_request_observer fn = atomic_load(&observer_fn);
	if (!fn)
		return;
	curl_off_t us = 0;
	if (curl_easy_getinfo(c->curl,
			      stream ? CURLINFO_STARTTRANSFER_TIME_T : CURLINFO_TOTAL_TIME_T,
			      &us) != CURLE_OK)
		us = 0;
	fn(atomic_load(&observer_arg), stream ? "WATCH" : method, http, (double)us / 1e6);
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void k8s_err_clear(k8s_err *e)
{
	if (!e)
		return;
	cm_err_clear(&e->e);
	e->http = 0;
	e->reason[0] = 0;
}

bool k8s_err_is(const k8s_err *e, const char *reason)
{
	return e && strcmp(e->reason, reason) == 0;
}

static int k8s_set(k8s_err *e, int code, long http, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int k8s_set(k8s_err *e, int code, long http, const char *reason, const char *fmt, ...)
{
	if (!e)
		return code;
	if (e->e.code)
		return code; /* first cause wins */
	e->http = http;
	snprintf(e->reason, sizeof(e->reason), "%s", reason ? reason : "");
	va_list ap;
	va_start(ap, fmt);
	cm_err_vset(&e->e, code, fmt, ap);
	va_end(ap);
	return code;
}

static int dup_blob(uint8_t **dst, size_t *dlen, const uint8_t *src, size_t len)
{
	*dlen = 0;
	*dst = NULL;
	if (!src)
		return 0;
	*dst = malloc(len + 1);
	if (!*dst)
		return FL_ENOMEM;
	memcpy(*dst, src, len);
	(*dst)[len] = 0;
	*dlen = len;
	return 0;
}

static int dup_s(char **dst, const char *s)
{
	*dst = NULL;
	if (!s)
		return 0;
	*dst = strdup(s);
	return *dst ? 0 : FL_ENOMEM;
}

int k8s_client_new(k8s_client **out, const k8s_config *cfg, cm_err *err)
{
	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return cm_err_set(err, FL_EIO, "libcurl cannot start: %s",
				  curl_easy_strerror(global_rc));
	if (!cfg->server)
		return cm_err_set(err, FL_EINVAL, "Kubernetes configuration has no server");
	k8s_client *c = calloc(1, sizeof(*c));
	if (!c)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	int rc = dup_s(&c->cfg.server, cfg->server);
	rc = rc ? rc : dup_s(&c->cfg.namespace, cfg->namespace ? cfg->namespace : "default");
	rc = rc ? rc : dup_s(&c->cfg.context, cfg->context);
	rc = rc ? rc : dup_s(&c->cfg.token, cfg->token);
	rc = rc ? rc : dup_blob(&c->cfg.ca, &c->cfg.ca_len, cfg->ca, cfg->ca_len);
	rc = rc ? rc : dup_blob(&c->cfg.cert, &c->cfg.cert_len, cfg->cert, cfg->cert_len);
	rc = rc ? rc : dup_blob(&c->cfg.key, &c->cfg.key_len, cfg->key, cfg->key_len);
	c->cfg.insecure = cfg->insecure;
	if (rc) {
		k8s_client_free(c);
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	}
	c->curl = curl_easy_init();
	if (!c->curl) {
		k8s_client_free(c);
		return cm_err_set(err, FL_EIO, "libcurl cannot start (curl_easy_init failed)");
	}
	c->max_response = K8S_RESPONSE_MAX_DEFAULT;
	c->timeout_ms = K8S_TIMEOUT_MS_DEFAULT;
	*out = c;
	return 0;
}

void k8s_client_free(k8s_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	k8s_config_fini(&c->cfg);
	free(c);
}

void k8s_client_set_max_response(k8s_client *c, size_t max)
{
	c->max_response = max;
}

void k8s_client_set_abort(k8s_client *c, atomic_int *flag)
{
	c->abort = flag;
}

/* libcurl calls it about once a second even when no data moves. */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	k8s_client *c = ud;
	return c->abort && atomic_load(c->abort) ? 1 : 0;
}

void k8s_client_set_timeout_ms(k8s_client *c, long ms)
{
	c->timeout_ms = ms;
}

long k8s_client_connects(const k8s_client *c)
{
	return c->connects;
}

int k8s_client_http_version(const k8s_client *c)
{
	switch (c->http_version) {
	case CURL_HTTP_VERSION_1_0:
		return 10;
	case CURL_HTTP_VERSION_1_1:
		return 11;
	case CURL_HTTP_VERSION_2_0:
		return 20;
	case CURL_HTTP_VERSION_3:
		return 30;
	default:
		return 0;
	}
}

const k8s_config *k8s_client_config(const k8s_client *c)
{
	return &c->cfg;
}

/* A name that would change the path or query: Kubernetes names never hold
 * these. */
static bool bad_segment(const char *s)
{
	return s && (!*s || strpbrk(s, "/?#%& \t\r\n") || !strcmp(s, ".") || !strcmp(s, ".."));
}

int k8s_path(char *buf, size_t size, const k8s_resource *r, const char *ns, const char *name,
	     const char *sub)
{
	if ((r->namespaced && (!ns || bad_segment(ns))) || bad_segment(name) || bad_segment(sub))
		return FL_EINVAL;
	bool core = strchr(r->group_version, '/') == NULL;
	int n =
	    snprintf(buf, size, "/%s/%s%s%s/%s%s%s%s%s", core ? "api" : "apis", r->group_version,
		     r->namespaced ? "/namespaces/" : "", r->namespaced ? ns : "", r->plural,
		     name ? "/" : "", name ? name : "", sub ? "/" : "", sub ? sub : "");
	return n < 0 || (size_t)n >= size ? FL_ERANGE : 0;
}

/* ---------------------------------------------------------------- requests */

typedef struct xfer {
	k8s_client *c;
	cm_wbuf body; /* the answer, or the error Status of a streamed request */
	bool oversized;
	k8s_data_fn on_data; /* streaming: 2xx data goes here */
	void *arg;
	k8s_err *err;
	int stop_rc;
	bool observed; /* the request observer has seen it (a stream: at its headers) */
	bool plain;    /* on_data takes a whole answer (k8s_get_text), not a stream */
} xfer;

/* A stream is reported to the observer when its headers are in (a watch
 * then lasts minutes); other requests when they end. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	xfer *x = ud;
	size_t n = size * nmemb;
	if (!x->observed && !x->plain && n <= 2 && (p[0] == '\r' || p[0] == '\n')) {
		long code = 0;
		curl_easy_getinfo(x->c->curl, CURLINFO_RESPONSE_CODE, &code);
		if (code >= 200) {
			observe(x->c, "GET", true, code);
			x->observed = true;
		}
	}
	return n;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
	xfer *x = ud;
	size_t n = size * nmemb;
	if (x->on_data) {
		long code = 0;
		curl_easy_getinfo(x->c->curl, CURLINFO_RESPONSE_CODE, &code);
		if (code >= 200 && code < 300) {
			int rc = x->on_data(x->arg, p, n, x->err);
			if (rc) {
				x->stop_rc = rc;
				return 0;
			}
			return n;
		}
	}
	cm_wbuf_raw(&x->body, p, n);
	if (cm_wbuf_error(&x->body)) {
		x->oversized = cm_wbuf_error(&x->body) == FL_ERANGE;
		return 0;
	}
	return n;
}

/* Sets everything a request needs on the (reset) handle. */
static int prepare(k8s_client *c, const char *method, const char *url, struct curl_slist *hdrs,
		   long timeout_ms, xfer *x)
{
	CURL *h = c->curl;
	/* Reset keeps the live connections, TLS sessions and DNS cache. */
	curl_easy_reset(h);
	c->errbuf[0] = 0;
	CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(h, opt, val);                                        \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_CUSTOMREQUEST, method);
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_ERRORBUFFER, c->errbuf);
	SET(CURLOPT_WRITEFUNCTION, on_write);
	SET(CURLOPT_WRITEDATA, x);
	if (x->on_data) {
		SET(CURLOPT_HEADERFUNCTION, on_header);
		SET(CURLOPT_HEADERDATA, x);
	}
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	SET(CURLOPT_TIMEOUT_MS, timeout_ms);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "https,http");
	if (rc == CURLE_OK)
		curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	if (c->abort) {
		SET(CURLOPT_XFERINFOFUNCTION, on_progress);
		SET(CURLOPT_XFERINFODATA, c);
		SET(CURLOPT_NOPROGRESS, 0L);
	}
	if (c->cfg.ca) {
		struct curl_blob b = {c->cfg.ca, c->cfg.ca_len, CURL_BLOB_NOCOPY};
		SET(CURLOPT_CAINFO_BLOB, &b);
	}
	if (c->cfg.cert) {
		struct curl_blob b = {c->cfg.cert, c->cfg.cert_len, CURL_BLOB_NOCOPY};
		SET(CURLOPT_SSLCERT_BLOB, &b);
		SET(CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (c->cfg.key) {
		struct curl_blob b = {c->cfg.key, c->cfg.key_len, CURL_BLOB_NOCOPY};
		SET(CURLOPT_SSLKEY_BLOB, &b);
		SET(CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (c->cfg.insecure) {
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
	}
#undef SET
	if (rc != CURLE_OK)
		return k8s_set(x->err, FL_EIO, 0, NULL, "libcurl option: %s",
			       curl_easy_strerror(rc));
	return 0;
}

static int code_of(long http)
{
	switch (http) {
	case 404:
		return FL_ENOENT;
	case 409:
	case 412:
		return FL_EINVAL;
	case 410:
		return FL_ERANGE;
	default:
		return FL_EIO;
	}
}

/* Turns a non-2xx answer into err, keeping the API's Status. */
static int api_error(k8s_err *err, long http, const uint8_t *body, size_t len, const char *what)
{
	cJSON *st = body && len ? cJSON_ParseWithLength((const char *)body, len) : NULL;
	const char *reason = k8s_str(st, "reason");
	const char *msg = k8s_str(st, "message");
	char raw[200] = "";
	if (!msg && body && len)
		snprintf(raw, sizeof(raw), "%.*s", (int)(len < 199 ? len : 199),
			 (const char *)body);
	int rc = k8s_set(err, code_of(http), http, reason, "%s: HTTP %ld%s%s: %s", what, http,
			 reason ? " " : "", reason ? reason : "", msg ? msg : raw);
	cJSON_Delete(st);
	return rc;
}

static int perform(k8s_client *c, const char *method, const char *path, const char *query,
		   const char *content_type, const char *body, long timeout_ms, const char *what,
		   xfer *x, cJSON **out)
{
	k8s_err *err = x->err;
	size_t ulen = strlen(c->cfg.server) + strlen(path) + (query ? strlen(query) : 0) + 2;
	char *url = malloc(ulen + 1);
	if (!url)
		return k8s_set(err, FL_ENOMEM, 0, NULL, "%s: out of memory", what);
	snprintf(url, ulen + 1, "%s%s%s%s", c->cfg.server, path, query && *query ? "?" : "",
		 query && *query ? query : "");
	struct curl_slist *hdrs = NULL, *t;
	char auth[64 + 8192];
	int rc = 0;
#define ADD(s)                                                                                     \
	do {                                                                                       \
		if (!rc) {                                                                         \
			t = curl_slist_append(hdrs, s);                                            \
			if (!t)                                                                    \
				rc = FL_ENOMEM;                                                    \
			else                                                                       \
				hdrs = t;                                                          \
		}                                                                                  \
	} while (0)
	ADD("Accept: application/json");
	ADD("User-Agent: flinc/" FLINC_VERSION_STRING);
	if (c->cfg.token) {
		if (snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->cfg.token) >=
		    (int)sizeof(auth))
			rc = k8s_set(err, FL_ERANGE, 0, NULL, "%s: bearer token too long", what);
		ADD(auth);
	}
	char ct[128];
	if (content_type) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
		ADD(ct);
	}
#undef ADD
	if (rc) {
		curl_slist_free_all(hdrs);
		free(url);
		return k8s_set(err, rc, 0, NULL, "%s: out of memory", what);
	}
	rc = prepare(c, method, url, hdrs, timeout_ms, x);
	if (!rc && body) {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	CURLcode cc = rc ? CURLE_OK : curl_easy_perform(c->curl);
	long http = 0, nconn = 0;
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &http);
	if (curl_easy_getinfo(c->curl, CURLINFO_NUM_CONNECTS, &nconn) == CURLE_OK)
		c->connects += nconn;
	curl_easy_getinfo(c->curl, CURLINFO_HTTP_VERSION, &c->http_version);
	if (!rc && !x->observed)
		observe(c, method, x->on_data && !x->plain, http);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	if (rc) {
		free(url);
		return rc;
	}
	if (x->stop_rc) {
		rc = x->stop_rc;
	} else if (x->oversized) {
		rc = k8s_set(err, FL_ERANGE, http, NULL,
			     "%s: response larger than the %zu-byte cap, refused", what,
			     x->body.max);
	} else if (cc == CURLE_ABORTED_BY_CALLBACK) {
		rc = k8s_set(err, FL_ECANCELED, http, NULL, "%s: canceled", what);
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		rc = k8s_set(err, FL_ETIMEDOUT, http, NULL, "%s: %s %s: timed out (%s)", what,
			     method, url, c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
	} else if (cc != CURLE_OK) {
		rc = k8s_set(err, FL_EIO, http, NULL, "%s: %s %s: %s", what, method, url,
			     c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
	} else if (http < 200 || http >= 300) {
		rc = api_error(err, http, cm_wbuf_data(&x->body), cm_wbuf_len(&x->body), what);
	} else if (out && cm_wbuf_len(&x->body) > 0) {
		*out = cJSON_ParseWithLength((const char *)cm_wbuf_data(&x->body),
					     cm_wbuf_len(&x->body));
		if (!*out)
			rc =
			    k8s_set(err, FL_EPROTO, http, NULL, "%s: the answer is not JSON", what);
	}
	free(url);
	return rc;
}

int k8s_request(k8s_client *c, const char *method, const char *path, const char *query,
		const char *content_type, const char *body, const char *what, cJSON **out,
		k8s_err *err)
{
	if (out)
		*out = NULL;
	xfer x = {.c = c, .err = err};
	cm_wbuf_init(&x.body, c->max_response);
	int rc = perform(c, method, path, query, content_type, body, c->timeout_ms, what, &x, out);
	cm_wbuf_fini(&x.body);
	return rc;
}

typedef struct text_sink {
	char *buf;
	size_t cap, len;
} text_sink;

static int on_text(void *arg, const char *p, size_t n, k8s_err *err)
{
	(void)err;
	text_sink *t = arg;
	size_t room = t->cap - 1 - t->len;
	size_t take = n < room ? n : room;
	memcpy(t->buf + t->len, p, take);
	t->len += take;
	t->buf[t->len] = '\0';
	return 0; /* the rest is read and dropped: the connection stays usable */
}

int k8s_get_text(k8s_client *c, const char *path, const char *query, const char *what, char *buf,
		 size_t cap, size_t *len, k8s_err *err)
{
	*len = 0;
	if (!cap)
		return k8s_set(err, FL_EINVAL, 0, NULL, "%s: no room for the answer", what);
	buf[0] = '\0';
	text_sink t = {.buf = buf, .cap = cap};
	xfer x = {.c = c, .err = err, .on_data = on_text, .arg = &t, .plain = true};
	cm_wbuf_init(&x.body, ERROR_BODY_MAX);
	int rc = perform(c, "GET", path, query, NULL, NULL, c->timeout_ms, what, &x, NULL);
	cm_wbuf_fini(&x.body);
	*len = t.len;
	return rc;
}

int k8s_stream(k8s_client *c, const char *path, const char *query, long timeout_ms,
	       const char *what, k8s_data_fn on_data, void *arg, k8s_err *err)
{
	xfer x = {.c = c, .err = err, .on_data = on_data, .arg = arg};
	cm_wbuf_init(&x.body, ERROR_BODY_MAX);
	int rc = perform(c, "GET", path, query, NULL, NULL, timeout_ms, what, &x, NULL);
	cm_wbuf_fini(&x.body);
	return rc;
}

/* ---------------------------------------------------------------- verbs */

const char *k8s_str(const cJSON *obj, const char *path)
{
	char key[128];
	const cJSON *cur = obj;
	while (cur && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = 0;
		cur = cJSON_GetObjectItemCaseSensitive(cur, key);
		path += n + (dot ? 1 : 0);
	}
	return cJSON_IsString(cur) ? cur->valuestring : NULL;
}

#define WHAT_MAX 512

static const char *ns_of(k8s_client *c, const char *ns)
{
	return ns ? ns : c->cfg.namespace;
}

static void what_of(char *what, const char *verb, const k8s_resource *r, const char *ns,
		    const char *name, const char *sub)
{
	snprintf(what, WHAT_MAX, "%s %s%s%s%s%s%s%s", verb, r->plural, name ? "/" : "",
		 name ? name : "", sub ? "/" : "", sub ? sub : "",
		 r->namespaced ? " in namespace " : "", r->namespaced ? ns : "");
}

/* Appends "&key=escaped(value)" to q (capped). */
static int qadd(k8s_client *c, char *q, size_t size, const char *key, const char *value)
{
	if (!value)
		return 0;
	char *e = curl_easy_escape(c->curl, value, 0);
	if (!e)
		return FL_ENOMEM;
	size_t l = strlen(q);
	int n = snprintf(q + l, size - l, "%s%s=%s", l ? "&" : "", key, e);
	curl_free(e);
	return n < 0 || (size_t)n >= size - l ? FL_ERANGE : 0;
}

#define PATH_MAX_K8S 1024
#define QUERY_MAX 4096

static int obj_request(k8s_client *c, const char *verb, const char *method, const k8s_resource *r,
		       const char *ns, const char *name, const char *sub, const char *query,
		       const char *ctype, const cJSON *obj, cJSON **out, k8s_err *err)
{
	char path[PATH_MAX_K8S], what[WHAT_MAX];
	int rc;
	ns = ns_of(c, ns);
	what_of(what, verb, r, ns, name, sub);
	if (out)
		*out = NULL;
	if ((rc = k8s_path(path, sizeof(path), r, ns, name, sub)))
		return k8s_set(err, rc, 0, NULL, "%s: %s", what,
			       rc == FL_EINVAL ? "not a valid name" : "path too long");
	char *body = NULL;
	if (obj && !(body = cJSON_PrintUnformatted(obj)))
		return k8s_set(err, FL_ENOMEM, 0, NULL, "%s: out of memory", what);
	rc = k8s_request(c, method, path, query, ctype, body, what, out, err);
	cJSON_free(body);
	return rc;
}

int k8s_get(k8s_client *c, const k8s_resource *r, const char *ns, const char *name, cJSON **out,
	    k8s_err *err)
{
	return obj_request(c, "get", "GET", r, ns, name, NULL, NULL, NULL, NULL, out, err);
}

int k8s_list(k8s_client *c, const k8s_resource *r, const char *ns, const k8s_list_opts *o,
	     cJSON **out, k8s_err *err)
{
	char q[QUERY_MAX] = "", lim[32];
	int rc = 0;
	if (o) {
		rc = rc ? rc : qadd(c, q, sizeof(q), "labelSelector", o->label_selector);
		rc = rc ? rc : qadd(c, q, sizeof(q), "fieldSelector", o->field_selector);
		snprintf(lim, sizeof(lim), "%ld", o->limit);
		rc = rc ? rc : qadd(c, q, sizeof(q), "limit", o->limit > 0 ? lim : NULL);
		rc = rc ? rc : qadd(c, q, sizeof(q), "continue", o->continue_token);
		rc = rc ? rc : qadd(c, q, sizeof(q), "resourceVersion", o->resource_version);
	}
	if (rc) {
		if (out)
			*out = NULL;
		return k8s_set(err, rc, 0, NULL, "list %s: query too long or out of memory",
			       r->plural);
	}
	return obj_request(c, "list", "GET", r, ns, NULL, NULL, q, NULL, NULL, out, err);
}

static int create_q(k8s_client *c, const k8s_resource *r, const char *ns, const cJSON *obj,
		    const char *query, cJSON **out, k8s_err *err);

int k8s_create(k8s_client *c, const k8s_resource *r, const char *ns, const cJSON *obj, cJSON **out,
	       k8s_err *err)
{
	return create_q(c, r, ns, obj, NULL, out, err);
}

int k8s_create_dry_run(k8s_client *c, const k8s_resource *r, const char *ns, const cJSON *obj,
		       cJSON **out, k8s_err *err)
{
	return create_q(c, r, ns, obj, "dryRun=All", out, err);
}

static int create_q(k8s_client *c, const k8s_resource *r, const char *ns, const cJSON *obj,
		    const char *query, cJSON **out, k8s_err *err)
{
	/* Named in errors by the object's name when it has one. */
	char path[PATH_MAX_K8S], what[WHAT_MAX];
	ns = ns_of(c, ns);
	what_of(what, "create", r, ns, k8s_str(obj, "metadata.name"), NULL);
	if (out)
		*out = NULL;
	int rc = k8s_path(path, sizeof(path), r, ns, NULL, NULL);
	if (rc)
		return k8s_set(err, rc, 0, NULL, "%s: %s", what,
			       rc == FL_EINVAL ? "not a valid namespace" : "path too long");
	char *body = cJSON_PrintUnformatted(obj);
	if (!body)
		return k8s_set(err, FL_ENOMEM, 0, NULL, "%s: out of memory", what);
	rc = k8s_request(c, "POST", path, query, "application/json", body, what, out, err);
	cJSON_free(body);
	return rc;
}

int k8s_update(k8s_client *c, const k8s_resource *r, const char *ns, const char *name,
	       const char *sub, const cJSON *obj, cJSON **out, k8s_err *err)
{
	return obj_request(c, "update", "PUT", r, ns, name, sub, NULL, "application/json", obj, out,
			   err);
}

int k8s_merge_patch(k8s_client *c, const k8s_resource *r, const char *ns, const char *name,
		    const char *sub, const cJSON *patch, cJSON **out, k8s_err *err)
{
	return obj_request(c, "patch", "PATCH", r, ns, name, sub, NULL,
			   "application/merge-patch+json", patch, out, err);
}

int k8s_apply(k8s_client *c, const k8s_resource *r, const char *ns, const char *name,
	      const char *sub, const cJSON *obj, const char *field_manager, bool force, cJSON **out,
	      k8s_err *err)
{
	char q[QUERY_MAX] = "";
	int rc = qadd(c, q, sizeof(q), "fieldManager", field_manager ? field_manager : "flinc");
	rc = rc ? rc : qadd(c, q, sizeof(q), "force", force ? "true" : NULL);
	if (rc) {
		if (out)
			*out = NULL;
		return k8s_set(err, rc, 0, NULL, "apply %s/%s: query too long", r->plural, name);
	}
	/* JSON is YAML: the apply body goes as JSON text. */
	return obj_request(c, "apply", "PATCH", r, ns, name, sub, q, "application/apply-patch+yaml",
			   obj, out, err);
}

int k8s_delete(k8s_client *c, const k8s_resource *r, const char *ns, const char *name,
	       const k8s_delete_opts *o, cJSON **out, k8s_err *err)
{
	cJSON *opts = cJSON_CreateObject();
	bool ok = opts && cJSON_AddStringToObject(opts, "kind", "DeleteOptions") &&
		  cJSON_AddStringToObject(opts, "apiVersion", "v1");
	if (ok && o && o->propagation)
		ok = cJSON_AddStringToObject(opts, "propagationPolicy", o->propagation) != NULL;
	if (ok && o && (o->uid || o->resource_version)) {
		cJSON *pre = cJSON_AddObjectToObject(opts, "preconditions");
		ok = pre && (!o->uid || cJSON_AddStringToObject(pre, "uid", o->uid)) &&
		     (!o->resource_version ||
		      cJSON_AddStringToObject(pre, "resourceVersion", o->resource_version));
	}
	if (!ok) {
		cJSON_Delete(opts);
		if (out)
			*out = NULL;
		return k8s_set(err, FL_ENOMEM, 0, NULL, "delete %s/%s: out of memory", r->plural,
			       name);
	}
	int rc = obj_request(c, "delete", "DELETE", r, ns, name, NULL, NULL, "application/json",
			     opts, out, err);
	cJSON_Delete(opts);
	return rc;
}

int k8s_modify(k8s_client *c, const k8s_resource *r, const char *ns, const char *name,
	       const char *sub, k8s_mutate_fn mutate, void *arg, int attempts, cJSON **out,
	       k8s_err *err)
{
	if (out)
		*out = NULL;
	if (attempts <= 0)
		attempts = 5;
	int rc = 0;
	for (int i = 0; i < attempts; i++) {
		k8s_err e;
		k8s_err_clear(&e);
		cJSON *obj = NULL;
		rc = k8s_get(c, r, ns, name, &obj, &e);
		if (!rc && (rc = mutate(arg, obj)) != 0) {
			cJSON_Delete(obj);
			char what[WHAT_MAX];
			what_of(what, "modify", r, ns_of(c, ns), name, sub);
			return k8s_set(err, rc, 0, NULL, "%s: the change was given up (%d)", what,
				       rc);
		}
		if (!rc)
			rc = k8s_update(c, r, ns, name, sub, obj, out, &e);
		cJSON_Delete(obj);
		if (rc == 0 || !(e.http == 409 && k8s_err_is(&e, "Conflict")) ||
		    i == attempts - 1) {
			if (rc && err && !err->e.code)
				*err = e;
			return rc;
		}
	}
	return rc;
}
