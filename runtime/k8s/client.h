/*
 * client.h — a Kubernetes API client on libcurl and cJSON.
 *
 * One k8s_client owns one curl easy handle, reused for every request (the
 * connection and TLS session stay up; HTTP/2 when the server offers it). A
 * client is used by one thread at a time; make one per thread.
 *
 * Errors: every call fills a k8s_err. code is an FL_E* value; http is the
 * HTTP status (0 when no answer came); reason is the API's Status reason
 * ("NotFound", "AlreadyExists", "Conflict", "Forbidden", "Expired", ...) or
 * "" when the answer carried none; msg names the verb, the resource and the
 * API's message. Mapping: 404 FL_ENOENT, 409/412 FL_EINVAL, 410 FL_ERANGE,
 * other answers FL_EIO, a response above the cap FL_ERANGE, a timeout
 * FL_ETIMEDOUT, a malformed body FL_EPROTO.
 */
#ifndef FLINC_K8S_CLIENT_H
#define FLINC_K8S_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "k8s/config.h"

#define K8S_RESPONSE_MAX_DEFAULT (64u << 20)
#define K8S_TIMEOUT_MS_DEFAULT 30000

typedef struct k8s_err {
	cm_err e; /* e.code, e.msg */
	long http;
	char reason[64];
} k8s_err;

void k8s_err_clear(k8s_err *e);
/* Whether e is the API's answer with this reason (e.g. "NotFound"). */
bool k8s_err_is(const k8s_err *e, const char *reason);

/* A kind of resource: "v1"/"configmaps"/true, "apps/v1"/"deployments"/true. */
typedef struct k8s_resource {
	const char *group_version;
	const char *plural;
	bool namespaced;
} k8s_resource;

extern const k8s_resource K8S_CONFIGMAPS, K8S_PODS, K8S_SERVICES, K8S_SECRETS, K8S_DEPLOYMENTS, K8S_LEASES,
    K8S_EVENTS, K8S_NAMESPACES, K8S_NODES;

typedef struct k8s_client k8s_client;

/*
 * k8s_client_new makes a client for cfg (copied: cfg may be freed after).
 * Errors: FL_ENOMEM, FL_EIO (libcurl cannot start). On error *out is NULL.
 */
int k8s_client_new(k8s_client **out, const k8s_config *cfg, cm_err *err);
void k8s_client_free(k8s_client *c);
/* The largest response body accepted (default K8S_RESPONSE_MAX_DEFAULT). */
void k8s_client_set_max_response(k8s_client *c, size_t max);
/* flag (may be NULL): once non-zero, a request in flight ends within about a
 * second with FL_ECANCELED (another thread may set it: how a watch is
 * stopped). */
void k8s_client_set_abort(k8s_client *c, atomic_int *flag);
/* Whole-request timeout (default K8S_TIMEOUT_MS_DEFAULT). */
void k8s_client_set_timeout_ms(k8s_client *c, long ms);
/* New connections the client has opened so far (1 while one is reused). */
long k8s_client_connects(const k8s_client *c);
/* HTTP version of the last answer: 11, 20, ... (0 before any). */
int k8s_client_http_version(const k8s_client *c);
/* The config the client was made from (namespace, server). */
const k8s_config *k8s_client_config(const k8s_client *c);

/*
 * k8s_request: one request. path starts with "/" ("/api/v1/..."), query is
 * NULL or "a=b&c=d" (already escaped), body NULL or text with content_type.
 * On 2xx *out (if out is not NULL) is the parsed body (the caller frees it
 * with cJSON_Delete; NULL for an empty body). what names the request in
 * errors ("create configmaps/x in ns").
 */
int k8s_request(k8s_client *c, const char *method, const char *path, const char *query,
		const char *content_type, const char *body, const char *what, cJSON **out,
		k8s_err *err);

/*
 * k8s_get_text: a GET whose 2xx answer is text (a pod's log): at most
 * cap - 1 bytes of it into buf, NUL-terminated, *len their count; a longer
 * answer is cut there (not an error: ask for less with tailLines/limitBytes).
 * Errors as k8s_request's.
 */
int k8s_get_text(k8s_client *c, const char *path, const char *query, const char *what, char *buf,
		 size_t cap, size_t *len, k8s_err *err);

/* The path of a resource collection, object or subresource into buf. ns is
 * ignored for cluster-scoped kinds; name and sub may be NULL. Errors:
 * FL_EINVAL (no namespace for a namespaced kind, or a part that is empty,
 * "." or "..", or holds '/', '?', '#', '%', '&' or white space),
 * FL_ERANGE (does not fit). */
int k8s_path(char *buf, size_t size, const k8s_resource *r, const char *ns, const char *name,
	     const char *sub);

typedef struct k8s_list_opts {
	const char *label_selector;
	const char *field_selector;
	long limit;		      /* 0: no limit */
	const char *continue_token;   /* from metadata.continue */
	const char *resource_version; /* NULL: most recent */
} k8s_list_opts;

/* The verbs. ns NULL means the client's namespace. sub is NULL or a
 * subresource ("status"). *out is the API's answer (caller frees). */
int k8s_get(k8s_client *c, const k8s_resource *r, const char *ns, const char *name, cJSON **out,
	    k8s_err *err);
int k8s_list(k8s_client *c, const k8s_resource *r, const char *ns, const k8s_list_opts *o,
	     cJSON **out, k8s_err *err);
int k8s_create(k8s_client *c, const k8s_resource *r, const char *ns, const cJSON *obj, cJSON **out,
	       k8s_err *err);
/* A server-side dry run of k8s_create (dryRun=All): defaulted, admitted and
 * validated as the create would be (422 Invalid when refused), nothing
 * stored. An object of that name that exists answers AlreadyExists (409)
 * after validation. */
int k8s_create_dry_run(k8s_client *c, const k8s_resource *r, const char *ns, const cJSON *obj,
		       cJSON **out, k8s_err *err);
/* PUT: obj's metadata.resourceVersion, when set, is a precondition (409). */
int k8s_update(k8s_client *c, const k8s_resource *r, const char *ns, const char *name,
	       const char *sub, const cJSON *obj, cJSON **out, k8s_err *err);
/* JSON merge patch (RFC 7386). */
int k8s_merge_patch(k8s_client *c, const k8s_resource *r, const char *ns, const char *name,
		    const char *sub, const cJSON *patch, cJSON **out, k8s_err *err);
/* Server-side apply of obj (full intent) as field_manager; force takes
 * fields other managers own. */
int k8s_apply(k8s_client *c, const k8s_resource *r, const char *ns, const char *name,
	      const char *sub, const cJSON *obj, const char *field_manager, bool force, cJSON **out,
	      k8s_err *err);

typedef struct k8s_delete_opts {
	const char *propagation;      /* "Foreground", "Background", "Orphan" or NULL */
	const char *uid;	      /* precondition or NULL */
	const char *resource_version; /* precondition or NULL */
} k8s_delete_opts;
int k8s_delete(k8s_client *c, const k8s_resource *r, const char *ns, const char *name,
	       const k8s_delete_opts *o, cJSON **out, k8s_err *err);

/*
 * k8s_stream: a GET whose 2xx body goes to on_data as it arrives (a watch).
 * on_data returns 0 to go on, or any other value to stop (k8s_stream then
 * returns that value, with err as on_data left it). A non-2xx answer is read
 * (capped) and turned into err as k8s_request does. timeout_ms 0: none.
 */
typedef int (*k8s_data_fn)(void *arg, const char *p, size_t n, k8s_err *err);
int k8s_stream(k8s_client *c, const char *path, const char *query, long timeout_ms,
	       const char *what, k8s_data_fn on_data, void *arg, k8s_err *err);

/*
 * k8s_modify: read-modify-write with retries on Conflict (client-go's
 * RetryOnConflict): gets the object, calls mutate on it (which changes it in
 * place and returns 0, or an FL_E* code to give up with), then PUTs it with
 * the resourceVersion it was read at. A 409 Conflict (someone wrote in
 * between) starts again from a fresh get, at most attempts times (0: 5).
 * *out (may be NULL) is the object written. The error of the last attempt
 * is kept; a mutate failure is returned as is.
 */
typedef int (*k8s_mutate_fn)(void *arg, cJSON *obj);
int k8s_modify(k8s_client *c, const k8s_resource *r, const char *ns, const char *name,
	       const char *sub, k8s_mutate_fn mutate, void *arg, int attempts, cJSON **out,
	       k8s_err *err);

/*
 * An observer of every request of every client in the process (the
 * operator's /metrics records API latency with it): verb is the HTTP method
 * ("GET", "POST", "PUT", "PATCH", "DELETE"; "WATCH" for k8s_stream), http
 * the answer's status (0 when none came: a timeout, a lost connection),
 * seconds the time to the whole answer (for a stream, to its first byte:
 * a watch lasts minutes). It runs on the requesting thread, any thread:
 * it must be thread-safe and quick. NULL removes it. Set it before
 * clients are started: replaced while requests run, one of them may pass
 * the new arg to the old fn (each store is atomic, the pair is not).
 */
typedef void (*k8s_request_observer)(void *arg, const char *verb, long http, double seconds);
void k8s_set_request_observer(k8s_request_observer fn, void *arg);

/* String field at a dotted path ("metadata.resourceVersion") or NULL. */
const char *k8s_str(const cJSON *obj, const char *path);

#endif
