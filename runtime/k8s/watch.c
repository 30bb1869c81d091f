/*
 * watch.c — list + watch with resume, relist on 410, jittered back-off.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/clock.h"
#include "k8s/watch.h"

#define MAX_EVENT_DEFAULT (4u << 20)

/* Internal stop reasons of one watch request (positive: not errors). */
#define STOP_USER 1
#define STOP_GONE 2
#define STOP_FAILED 3 /* an ERROR event other than 410: reconnect */

const char *k8s_watch_type_name(k8s_watch_type t)
{
	static const char *const n[] = {"ADDED", "MODIFIED",   "DELETED", "BOOKMARK",
					"ERROR", "LIST_BEGIN", "LISTED",  "LIST_END"};
	return (unsigned)t < sizeof(n) / sizeof(n[0]) ? n[t] : "?";
}

int k8s_watch_decode(const char *line, size_t len, k8s_watch_event *ev, cm_err *err)
{
	memset(ev, 0, sizeof(*ev));
	cJSON *root = cJSON_ParseWithLength(line, len);
	if (!root)
		return cm_err_set(err, FL_EPROTO, "watch event is not JSON (%zu bytes)", len);
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
	const cJSON *obj = cJSON_GetObjectItemCaseSensitive(root, "object");
	static const char *const names[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
	int t = -1;
	if (cJSON_IsString(type))
		for (int i = 0; i < 5; i++)
			if (strcmp(type->valuestring, names[i]) == 0)
				t = i;
	if (t < 0 || !cJSON_IsObject(obj)) {
		int rc = cm_err_set(err, FL_EPROTO, "watch event has %s",
				    t < 0 ? "no known type" : "no object");
		cJSON_Delete(root);
		return rc;
	}
	ev->type = (k8s_watch_type)t;
	ev->root = root;
	ev->object = obj;
	ev->resource_version = k8s_str(obj, "metadata.resourceVersion");
	if (ev->type == K8S_WATCH_ERROR) {
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
		/* An HTTP status: anything else (a peer may send any number;
		 * casting one beyond long is undefined) is 0, unknown. */
		ev->error_code = cJSON_IsNumber(code) && code->valuedouble >= 0 &&
					 code->valuedouble < 1000
				     ? (long)code->valuedouble
				     : 0;
	}
	return 0;
}

void k8s_watch_event_fini(k8s_watch_event *ev)
{
	cJSON_Delete(ev->root);
	memset(ev, 0, sizeof(*ev));
}

/* ------------------------------------------------------------------ state */

typedef struct wstate {
	k8s_watch_fn fn;
	void *arg;
	const k8s_watch_opts *o;
	k8s_watch_stats *st;
	k8s_lines lines; /* the partial line, capped at max_event */
	k8s_err *cur_err;
	int events; /* events seen in the current request */
	int cb_rc;  /* the callback's error */
	char errmsg[256];
} wstate;

static bool stopped(const wstate *w)
{
	return w->o->stop && atomic_load(w->o->stop);
}

static void set_rv(wstate *w, const char *rv)
{
	if (rv && *rv)
		snprintf(w->st->resource_version, sizeof(w->st->resource_version), "%s", rv);
}

static int deliver(wstate *w, const k8s_watch_event *ev, k8s_err *err)
{
	int rc = w->fn(w->arg, ev);
	if (rc < 0) {
		w->cb_rc = rc;
		if (err && !err->e.code)
			cm_err_set(&err->e, rc, "watch callback failed on a %s event",
				   k8s_watch_type_name(ev->type));
		return rc;
	}
	if (rc > 0 || stopped(w))
		return STOP_USER;
	return 0;
}

static int on_line(wstate *w, const char *p, size_t n, k8s_err *err)
{
	while (n && (p[n - 1] == '\r' || p[n - 1] == ' '))
		n--;
	if (n == 0)
		return 0;
	k8s_watch_event ev;
	int rc = k8s_watch_decode(p, n, &ev, err ? &err->e : NULL);
	if (rc)
		return rc;
	w->events++;
	if (ev.type == K8S_WATCH_ERROR) {
		const char *msg = k8s_str(ev.object, "message");
		snprintf(w->errmsg, sizeof(w->errmsg), "ERROR event, code %ld: %s", ev.error_code,
			 msg ? msg : "");
		rc = ev.error_code == 410 ? STOP_GONE : STOP_FAILED;
	} else {
		set_rv(w, ev.resource_version);
		rc = deliver(w, &ev, err);
	}
	k8s_watch_event_fini(&ev);
	return rc;
}

int k8s_lines_feed(k8s_lines *l, const char *p, size_t n, k8s_line_fn fn, void *arg)
{
	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;
		int rc = 0;
		/* The cap holds for a line however it arrives, whole or in pieces. */
		if (l->len + take > l->max)
			return FL_ERANGE;
		if (l->len == 0 && nl) {
			rc = fn(arg, p, take); /* a whole line in the chunk: no copy */
		} else {
			if (l->len + take > l->cap) {
				size_t nc = l->cap ? l->cap : 4096;
				while (nc < l->len + take)
					nc *= 2;
				if (nc > l->max)
					nc = l->max;
				char *nb = realloc(l->buf, nc);
				if (!nb)
					return FL_ENOMEM;
				l->buf = nb;
				l->cap = nc;
			}
			memcpy(l->buf + l->len, p, take);
			l->len += take;
			if (nl) {
				rc = fn(arg, l->buf, l->len);
				l->len = 0;
			}
		}
		if (rc)
			return rc;
		if (!nl)
			break;
		p = nl + 1;
		n -= take + 1;
	}
	return 0;
}

void k8s_lines_fini(k8s_lines *l)
{
	free(l->buf);
	memset(l, 0, sizeof(*l));
}

static int line_cb(void *arg, const char *line, size_t len)
{
	wstate *w = arg;
	return on_line(w, line, len, w->cur_err);
}

/* The watch body, as it arrives. */
static int on_data(void *arg, const char *p, size_t n, k8s_err *err)
{
	wstate *w = arg;
	w->cur_err = err;
	int rc = k8s_lines_feed(&w->lines, p, n, line_cb, w);
	if (rc == FL_ERANGE && err && !err->e.code)
		cm_err_set(&err->e, FL_ERANGE, "watch event larger than the %zu-byte cap",
			   w->lines.max);
	return rc;
}

/* ------------------------------------------------------------------- loop */

static _Thread_local uint64_t jitter_state; /* per thread: watches run on many */

static long backoff_ms(const k8s_watch_opts *o, int failures)
{
	long base = o->backoff_initial_ms > 0 ? o->backoff_initial_ms : 200;
	long max = o->backoff_max_ms > 0 ? o->backoff_max_ms : 30000;
	long d = base;
	for (int i = 1; i < failures && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	/* xorshift64: jitter only, no need for quality. */
	uint64_t x = jitter_state ? jitter_state
				  : ((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^
				     (uint64_t)(uintptr_t)&jitter_state) |
					1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	jitter_state = x;
	return d / 2 + (long)(x % (uint64_t)(d / 2 + 1)); /* [d/2, d] */
}

static void sleep_ms(const wstate *w, long ms)
{
	while (ms > 0 && !stopped(w)) {
		long step = ms > 100 ? 100 : ms;
		struct timespec ts = {step / 1000, (step % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		ms -= step;
	}
}

/* One paginated list, delivered as LIST_BEGIN, LISTED..., LIST_END. */
static int do_list(k8s_client *c, const k8s_resource *r, const char *ns, wstate *w, k8s_err *err)
{
	const k8s_watch_opts *o = w->o;
	k8s_list_opts lo = {.label_selector = o->label_selector,
			    .field_selector = o->field_selector,
			    .limit = o->list_limit > 0 ? o->list_limit : 500};
	char *cont = NULL;
	int rc;
	bool begun = false;
	w->st->lists++;
	for (;;) {
		cJSON *page = NULL;
		lo.continue_token = cont;
		rc = k8s_list(c, r, ns, &lo, &page, err);
		free(cont);
		cont = NULL;
		if (rc)
			return rc;
		/* Announced once the first page is there: a list that fails
		 * at once leaves the callback's cache alone. */
		if (!begun) {
			k8s_watch_event ev = {.type = K8S_WATCH_LIST_BEGIN};
			begun = true;
			if ((rc = deliver(w, &ev, err))) {
				cJSON_Delete(page);
				return rc;
			}
		}
		const cJSON *items = cJSON_GetObjectItemCaseSensitive(page, "items");
		const cJSON *it;
		cJSON_ArrayForEach(it, items)
		{
			k8s_watch_event li = {.type = K8S_WATCH_LISTED,
					      .object = it,
					      .resource_version =
						  k8s_str(it, "metadata.resourceVersion")};
			if ((rc = deliver(w, &li, err)))
				break;
		}
		set_rv(w, k8s_str(page, "metadata.resourceVersion"));
		const char *next = k8s_str(page, "metadata.continue");
		if (!rc && next && *next && !(cont = strdup(next)))
			rc = FL_ENOMEM;
		cJSON_Delete(page);
		if (rc)
			return rc;
		if (!cont)
			break;
	}
	k8s_watch_event end = {.type = K8S_WATCH_LIST_END,
			       .resource_version = w->st->resource_version};
	return deliver(w, &end, err);
}

/* Whether a failed request is worth retrying. */
static bool retryable(int rc, const k8s_err *e)
{
	if (rc > 0)
		return true; /* an ERROR event other than 410 */
	if (e->http)
		return !(e->http == 400 || e->http == 401 || e->http == 403 || e->http == 404 ||
			 e->http == 422);
	return rc == FL_EIO || rc == FL_ETIMEDOUT;
}

int k8s_watch(k8s_client *c, const k8s_resource *r, const char *ns, const k8s_watch_opts *o,
	      k8s_watch_fn fn, void *arg, k8s_watch_stats *stats, k8s_err *err)
{
	k8s_watch_stats local;
	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	wstate w = {.fn = fn, .arg = arg, .o = o, .st = stats};
	w.lines.max = o->max_event ? o->max_event : MAX_EVENT_DEFAULT;
	set_rv(&w, o->resource_version);
	ns = ns ? ns : k8s_client_config(c)->namespace;
	char path[1024], q[4096], what[600] = "";
	int prc = k8s_path(path, sizeof(path), r, ns, NULL, NULL);
	if (prc)
		return cm_err_set(err ? &err->e : NULL, prc, "watch %s in namespace %s: %s",
				  r->plural, ns ? ns : "",
				  prc == FL_EINVAL ? "not a valid namespace" : "path too long");
	long tmo = o->timeout_seconds > 0 ? o->timeout_seconds : 300;
	int failures = 0, requests = 0, rc = 0;
	k8s_err e;
	while (!stopped(&w)) {
		k8s_err_clear(&e);
		w.cb_rc = 0;
		if (!stats->resource_version[0]) {
			snprintf(what, sizeof(what), "list %s in namespace %s", r->plural, ns);
			rc = do_list(c, r, ns, &w, &e);
		} else {
			int n = snprintf(q, sizeof(q),
					 "watch=1&timeoutSeconds=%ld&resourceVersion=%s%s", tmo,
					 stats->resource_version,
					 o->bookmarks ? "&allowWatchBookmarks=true" : "");
			const char *sels[2][2] = {{"labelSelector", o->label_selector},
						  {"fieldSelector", o->field_selector}};
			for (int i = 0; i < 2 && n > 0 && (size_t)n < sizeof(q); i++) {
				if (!sels[i][1])
					continue;
				char *esc = curl_easy_escape(NULL, sels[i][1], 0);
				if (!esc) {
					rc = cm_err_set(&e.e, FL_ENOMEM, "watch: out of memory");
					goto fail;
				}
				n += snprintf(q + n, sizeof(q) - (size_t)n, "&%s=%s", sels[i][0],
					      esc);
				curl_free(esc);
			}
			if (n < 0 || (size_t)n >= sizeof(q)) {
				rc = cm_err_set(&e.e, FL_ERANGE, "watch %s: query too long",
						r->plural);
				goto fail;
			}
			snprintf(what, sizeof(what),
				 "watch %s in namespace %s from resourceVersion %s", r->plural, ns,
				 stats->resource_version);
			if (requests++)
				stats->reconnects++;
			w.lines.len = 0;
			w.events = 0;
			w.errmsg[0] = 0;
			rc = k8s_stream(c, path, q, (tmo + 30) * 1000, what, on_data, &w, &e);
		}
		if (rc == STOP_USER || stopped(&w)) {
			rc = 0;
			break;
		}
		if (w.cb_rc) {
			rc = w.cb_rc;
			goto fail;
		}
		if (rc == STOP_GONE || e.http == 410) {
			/* The version is gone (compacted, or a list's continue
			 * token expired): list again, at once. */
			stats->gone++;
			stats->resource_version[0] = 0;
			failures = 0;
			continue;
		}
		if (rc == 0) {
			/* A list done, or the server ended the watch at
			 * timeoutSeconds: go on at once. */
			failures = 0;
			continue;
		}
		stats->failures++;
		if (!retryable(rc, &e))
			goto fail;
		if (w.events > 0)
			failures = 0;
		failures++;
		if (o->max_failures && failures >= o->max_failures) {
			if (!e.e.code)
				cm_err_set(&e.e, FL_EIO, "%s: %s", what,
					   w.errmsg[0] ? w.errmsg : "failed");
			rc = e.e.code;
			goto fail;
		}
		sleep_ms(&w, backoff_ms(o, failures));
	}
	k8s_lines_fini(&w.lines);
	return 0;
fail:
	k8s_lines_fini(&w.lines);
	if (!e.e.code)
		cm_err_set(&e.e, rc < 0 ? rc : FL_EIO, "%s: %s", what,
			   w.errmsg[0] ? w.errmsg : "failed");
	if (err)
		*err = e;
	return e.e.code;
}
