/*
 * k8s_client_e2e — runtime/k8s against a real kube-apiserver.
 *
 * Run by e2e/run-tests (or by hand: KUBECONFIG=... k8s_client_e2e). Works in
 * a namespace of its own (flinc-k8sclient-<pid>), deleted at the end. Prints
 * one PASS/FAIL line per check, then "N passed, N failed"; exits 1 on any
 * failure, 77 when no Kubernetes configuration is found.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "k8s/client.h"
#include "k8s/informer.h"
#include "k8s/lease.h"
#include "k8s/watch.h"

static int passed, failed;
static char ns[64];
static k8s_client *kc;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%s k8s client: ", ok ? "PASS" : "FAIL");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
	if (ok)
		passed++;
	else
		failed++;
}

static cJSON *configmap(const char *name, const char *labels_json, const char *data_json)
{
	char buf[8192];
	snprintf(buf, sizeof(buf),
		 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\","
		 "\"labels\":%s},\"data\":%s}",
		 name, labels_json ? labels_json : "{}", data_json ? data_json : "{}");
	cJSON *o = cJSON_Parse(buf);
	if (!o) {
		fprintf(stderr, "bad test JSON: %s\n", buf);
		exit(2);
	}
	return o;
}

static int count_items(const cJSON *list)
{
	return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(list, "items"));
}

/* ----------------------------------------------------------------- checks */

static void test_crud(void)
{
	k8s_err e;
	int ok = 1;
	for (int i = 0; i < 5; i++) {
		char name[32], labels[128];
		snprintf(name, sizeof(name), "cm-%d", i);
		snprintf(labels, sizeof(labels), "{\"app\":\"k8stest\",\"group\":\"%s\"}",
			 i % 2 ? "odd" : "even");
		cJSON *cm = configmap(name, labels, "{\"k\":\"v\"}");
		cJSON *out = NULL;
		k8s_err_clear(&e);
		if (k8s_create(kc, &K8S_CONFIGMAPS, ns, cm, &out, &e)) {
			printf("    %s\n", e.e.msg);
			ok = 0;
		}
		cJSON_Delete(cm);
		cJSON_Delete(out);
	}
	check(ok, "create 5 ConfigMaps in %s", ns);

	cJSON *got = NULL;
	k8s_err_clear(&e);
	int rc = k8s_get(kc, &K8S_CONFIGMAPS, ns, "cm-3", &got, &e);
	const char *v = k8s_str(got, "data.k"), *g = k8s_str(got, "metadata.labels.group");
	check(rc == 0 && v && strcmp(v, "v") == 0 && g && strcmp(g, "odd") == 0,
	      "get configmaps/cm-3 (rc %d %s)", rc, e.e.msg);
	cJSON_Delete(got);

	cJSON *dup = configmap("cm-3", NULL, NULL), *out = NULL;
	k8s_err_clear(&e);
	rc = k8s_create(kc, &K8S_CONFIGMAPS, ns, dup, &out, &e);
	check(rc == FL_EINVAL && e.http == 409 && k8s_err_is(&e, "AlreadyExists") &&
		  strstr(e.e.msg, "create configmaps/cm-3"),
	      "create of an existing name is AlreadyExists (409): %s", e.e.msg);
	cJSON_Delete(dup);

	k8s_err_clear(&e);
	rc = k8s_get(kc, &K8S_CONFIGMAPS, ns, "cm-missing", &got, &e);
	check(rc == FL_ENOENT && e.http == 404 && k8s_err_is(&e, "NotFound") && got == NULL &&
		  strstr(e.e.msg, "get configmaps/cm-missing") && strstr(e.e.msg, ns),
	      "get of a missing ConfigMap is NotFound (404) naming it: %s", e.e.msg);
}

static void test_list(void)
{
	k8s_err e;
	k8s_err_clear(&e);
	cJSON *l = NULL;
	k8s_list_opts o = {.label_selector = "app=k8stest,group=even"};
	int rc = k8s_list(kc, &K8S_CONFIGMAPS, ns, &o, &l, &e);
	check(rc == 0 && count_items(l) == 3, "list with labelSelector group=even: %d items (3)",
	      count_items(l));
	cJSON_Delete(l);
	l = NULL;
	k8s_list_opts f = {.field_selector = "metadata.name=cm-1"};
	rc = k8s_list(kc, &K8S_CONFIGMAPS, ns, &f, &l, &e);
	check(rc == 0 && count_items(l) == 1,
	      "list with fieldSelector metadata.name=cm-1: %d items", count_items(l));
	cJSON_Delete(l);

	/* Pages of 2: 2 + 2 + 1, joined by continue tokens. */
	int pages = 0, total = 0;
	char *cont = NULL;
	rc = 0;
	do {
		k8s_list_opts p = {
		    .label_selector = "app=k8stest", .limit = 2, .continue_token = cont};
		l = NULL;
		rc = k8s_list(kc, &K8S_CONFIGMAPS, ns, &p, &l, &e);
		free(cont);
		cont = NULL;
		if (rc)
			break;
		pages++;
		total += count_items(l);
		const char *c = k8s_str(l, "metadata.continue");
		if (c && *c)
			cont = strdup(c);
		cJSON_Delete(l);
	} while (cont && pages < 10);
	check(rc == 0 && pages == 3 && total == 5, "paginated list (limit 2): %d pages, %d items",
	      pages, total);
}

static void test_patch_apply_conflict(void)
{
	k8s_err e;
	k8s_err_clear(&e);
	cJSON *stale = NULL, *out = NULL;
	int rc = k8s_get(kc, &K8S_CONFIGMAPS, ns, "cm-0", &stale, &e);
	cJSON *patch = cJSON_Parse("{\"data\":{\"k\":\"patched\",\"new\":\"x\"}}");
	rc = rc ? rc : k8s_merge_patch(kc, &K8S_CONFIGMAPS, ns, "cm-0", NULL, patch, &out, &e);
	const char *v = k8s_str(out, "data.k"), *n = k8s_str(out, "data.new");
	check(rc == 0 && v && !strcmp(v, "patched") && n && !strcmp(n, "x"),
	      "JSON merge patch of configmaps/cm-0 (%s)", e.e.msg);
	cJSON_Delete(patch);
	cJSON_Delete(out);
	out = NULL;

	/* PUT with the resourceVersion from before the patch. */
	cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(stale, "data"), "k",
					       cJSON_CreateString("stale"));
	k8s_err_clear(&e);
	rc = k8s_update(kc, &K8S_CONFIGMAPS, ns, "cm-0", NULL, stale, &out, &e);
	check(rc == FL_EINVAL && e.http == 409 && k8s_err_is(&e, "Conflict") &&
		  strstr(e.e.msg, "update configmaps/cm-0"),
	      "update with a stale resourceVersion is a Conflict (409): %s", e.e.msg);
	cJSON_Delete(out);
	out = NULL;
	/* The same update with the current version goes through. */
	cJSON *cur = NULL;
	k8s_err_clear(&e);
	rc = k8s_get(kc, &K8S_CONFIGMAPS, ns, "cm-0", &cur, &e);
	if (!rc) {
		cJSON_ReplaceItemInObjectCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(cur, "data"), "k", cJSON_CreateString("put"));
		rc = k8s_update(kc, &K8S_CONFIGMAPS, ns, "cm-0", NULL, cur, &out, &e);
	}
	v = k8s_str(out, "data.k");
	check(rc == 0 && v && !strcmp(v, "put"),
	      "update (PUT) with the current resourceVersion (%s)", e.e.msg);
	cJSON_Delete(cur);
	cJSON_Delete(stale);
	cJSON_Delete(out);
	out = NULL;

	/* Server-side apply: create, then change, as one field manager. */
	cJSON *a = configmap("cm-applied", "{\"app\":\"applied\"}", "{\"a\":\"1\"}");
	k8s_err_clear(&e);
	rc =
	    k8s_apply(kc, &K8S_CONFIGMAPS, ns, "cm-applied", NULL, a, "flinc-e2e", false, &out, &e);
	cJSON_Delete(a);
	cJSON_Delete(out);
	out = NULL;
	a = configmap("cm-applied", "{\"app\":\"applied\"}", "{\"a\":\"2\",\"b\":\"3\"}");
	rc = rc ? rc
		: k8s_apply(kc, &K8S_CONFIGMAPS, ns, "cm-applied", NULL, a, "flinc-e2e", false,
			    &out, &e);
	cJSON_Delete(a);
	const cJSON *mf = cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(out, "metadata"),
					     "managedFields"),
	    0);
	const char *mgr = k8s_str(mf, "manager"), *op = k8s_str(mf, "operation");
	v = k8s_str(out, "data.a");
	check(rc == 0 && v && !strcmp(v, "2") && mgr && !strcmp(mgr, "flinc-e2e") && op &&
		  !strcmp(op, "Apply"),
	      "server-side apply twice (manager %s, operation %s) %s", mgr ? mgr : "-",
	      op ? op : "-", e.e.msg);
	cJSON_Delete(out);
}

/* Sets data.k to "mine"; on its first call another writer changes the
 * object first, so that the update conflicts once. */
typedef struct racer {
	int calls;
	k8s_client *other;
} racer;

static int mutate_racing(void *arg, cJSON *obj)
{
	racer *r = arg;
	if (r->calls++ == 0) {
		cJSON *p = cJSON_Parse("{\"data\":{\"other\":\"was here\"}}");
		k8s_err e;
		k8s_err_clear(&e);
		int rc = k8s_merge_patch(r->other, &K8S_CONFIGMAPS, ns, "cm-2", NULL, p, NULL, &e);
		cJSON_Delete(p);
		if (rc)
			return rc;
	}
	cJSON *data = cJSON_GetObjectItemCaseSensitive(obj, "data");
	cJSON_DeleteItemFromObjectCaseSensitive(data, "k");
	return cJSON_AddStringToObject(data, "k", "mine") ? 0 : FL_ENOMEM;
}

static void test_modify_retries_conflicts(void)
{
	racer r = {0};
	cm_err ce = {0};
	k8s_client_new(&r.other, k8s_client_config(kc), &ce);
	k8s_err e;
	k8s_err_clear(&e);
	cJSON *out = NULL;
	int rc = r.other ? k8s_modify(kc, &K8S_CONFIGMAPS, ns, "cm-2", NULL, mutate_racing, &r, 0,
				      &out, &e)
			 : FL_EIO;
	const char *k = k8s_str(out, "data.k"), *o = k8s_str(out, "data.other");
	check(rc == 0 && r.calls == 2 && k && !strcmp(k, "mine") && o && !strcmp(o, "was here"),
	      "read-modify-write retried once after a Conflict keeps both writes (%d calls, %s)",
	      r.calls, e.e.msg);
	cJSON_Delete(out);
	k8s_client_free(r.other);
}

static void test_status_subresource(void)
{
	/* The namespace's status, through its status subresource. */
	cJSON *p = cJSON_Parse(
		  "{\"status\":{\"conditions\":[{\"type\":\"FlincTest\","
		  "\"status\":\"True\",\"reason\":\"E2E\",\"message\":\"set by "
		  "k8s_client_e2e\",\"lastTransitionTime\":\"2026-01-01T00:00:00Z\"}]}}"),
	      *out = NULL;
	k8s_err e;
	k8s_err_clear(&e);
	int rc = k8s_merge_patch(kc, &K8S_NAMESPACES, NULL, ns, "status", p, &out, &e);
	cJSON_Delete(p);
	const cJSON *conds = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(out, "status"), "conditions");
	bool found = false;
	const cJSON *c;
	cJSON_ArrayForEach(c, conds)
	{
		const char *t = k8s_str(c, "type");
		found |= t && !strcmp(t, "FlincTest");
	}
	check(rc == 0 && found, "merge patch of namespaces/%s/status sets a condition (%s)", ns,
	      e.e.msg);
	cJSON_Delete(out);
}

static void test_delete(void)
{
	k8s_err e;
	k8s_err_clear(&e);
	cJSON *cm = NULL;
	int rc = k8s_get(kc, &K8S_CONFIGMAPS, ns, "cm-1", &cm, &e);
	const char *uid = k8s_str(cm, "metadata.uid");
	k8s_delete_opts bad = {.uid = "00000000-0000-0000-0000-000000000000"};
	k8s_err_clear(&e);
	rc = k8s_delete(kc, &K8S_CONFIGMAPS, ns, "cm-1", &bad, NULL, &e);
	check(rc == FL_EINVAL && e.http == 409 && strstr(e.e.msg, "delete configmaps/cm-1"),
	      "delete with a wrong uid precondition is refused (409): %s", e.e.msg);
	k8s_delete_opts good = {.uid = uid, .propagation = "Background"};
	k8s_err_clear(&e);
	rc = k8s_delete(kc, &K8S_CONFIGMAPS, ns, "cm-1", &good, NULL, &e);
	cJSON *gone = NULL;
	k8s_err e2;
	k8s_err_clear(&e2);
	int rc2 = k8s_get(kc, &K8S_CONFIGMAPS, ns, "cm-1", &gone, &e2);
	check(rc == 0 && rc2 == FL_ENOENT,
	      "delete with the right uid precondition and propagationPolicy Background (%s)",
	      e.e.msg);
	cJSON_Delete(cm);
	cJSON_Delete(gone);
}

static void test_oversized(void)
{
	char big[4096 + 32];
	memset(big, 'x', 4096);
	snprintf(big + 4096, 32, "\"}");
	char data[4200];
	snprintf(data, sizeof(data), "{\"big\":\"%.4096s\"}", big);
	cJSON *cm = configmap("cm-big", "{\"app\":\"k8stest\"}", data), *out = NULL;
	k8s_err e;
	k8s_err_clear(&e);
	k8s_create(kc, &K8S_CONFIGMAPS, ns, cm, &out, &e);
	cJSON_Delete(cm);
	cJSON_Delete(out);
	out = NULL;
	k8s_client_set_max_response(kc, 2048);
	k8s_err_clear(&e);
	int rc = k8s_list(kc, &K8S_CONFIGMAPS, ns, NULL, &out, &e);
	check(rc == FL_ERANGE && out == NULL && strstr(e.e.msg, "2048-byte cap") &&
		  strstr(e.e.msg, "list configmaps"),
	      "a list larger than a 2048-byte cap is refused: %s", e.e.msg);
	k8s_client_set_max_response(kc, K8S_RESPONSE_MAX_DEFAULT);
	k8s_err_clear(&e);
	rc = k8s_list(kc, &K8S_CONFIGMAPS, ns, NULL, &out, &e);
	check(rc == 0 && count_items(out) >= 5,
	      "the same client lists it with the default cap (%s)", e.e.msg);
	cJSON_Delete(out);
}

/* ------------------------------------------------------------------ watch */

typedef struct seen {
	char types[32][16];
	char names[32][32];
	int n;
	int stop_on; /* event type that ends the watch */
	const char *stop_name;
	int list_end;
	k8s_client *mutator; /* creates an object at LIST_END */
} seen;

static int on_event(void *arg, const k8s_watch_event *ev)
{
	seen *s = arg;
	const char *name = k8s_str(ev->object, "metadata.name");
	if (s->n < 32) {
		snprintf(s->types[s->n], sizeof(s->types[0]), "%s", k8s_watch_type_name(ev->type));
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name ? name : "");
		s->n++;
	}
	if (ev->type == K8S_WATCH_LIST_END) {
		s->list_end++;
		if (s->mutator) {
			cJSON *cm = configmap("cm-live", "{\"app\":\"watchtest\"}", NULL),
			      *out = NULL;
			k8s_err e;
			k8s_err_clear(&e);
			int rc = k8s_create(s->mutator, &K8S_CONFIGMAPS, ns, cm, &out, &e);
			cJSON_Delete(cm);
			cJSON_Delete(out);
			if (rc)
				return rc;
		}
	}
	if ((int)ev->type == s->stop_on && (!s->stop_name || (name && !strcmp(name, s->stop_name))))
		return 1;
	return 0;
}

static atomic_int watch_stop;

static void *watchdog(void *arg)
{
	(void)arg;
	for (int i = 0; i < 90 && !atomic_load(&watch_stop); i++)
		sleep(1);
	atomic_store(&watch_stop, 2);
	return NULL;
}

static int run_watch(const k8s_watch_opts *o, seen *s, k8s_watch_stats *st, k8s_err *e)
{
	atomic_store(&watch_stop, 0);
	pthread_t t;
	pthread_create(&t, NULL, watchdog, NULL);
	k8s_err_clear(e);
	int rc = k8s_watch(kc, &K8S_CONFIGMAPS, ns, o, on_event, s, st, e);
	int timed_out = atomic_load(&watch_stop) == 2;
	atomic_store(&watch_stop, 1);
	pthread_join(t, NULL);
	return timed_out ? FL_ETIMEDOUT : rc;
}

static void *create_late(void *arg)
{
	sleep(3);
	cJSON *cm = configmap("cm-late", "{\"app\":\"watchtest\"}", NULL);
	k8s_err e;
	k8s_err_clear(&e);
	if (k8s_create(arg, &K8S_CONFIGMAPS, ns, cm, NULL, &e))
		printf("    create cm-late: %s\n", e.e.msg);
	cJSON_Delete(cm);
	return NULL;
}

static void test_watch(void)
{
	k8s_err e;
	k8s_err_clear(&e);
	cJSON *l = NULL;
	k8s_list_opts lo = {.label_selector = "app=watchtest"};
	int rc = k8s_list(kc, &K8S_CONFIGMAPS, ns, &lo, &l, &e);
	char rv0[64] = "";
	snprintf(rv0, sizeof(rv0), "%s", rc ? "" : k8s_str(l, "metadata.resourceVersion"));
	cJSON_Delete(l);

	/* Changes made first; the watch from rv0 replays them. */
	cJSON *cm = configmap("cm-w", "{\"app\":\"watchtest\"}", "{\"n\":\"1\"}"), *out = NULL;
	rc = rc ? rc : k8s_create(kc, &K8S_CONFIGMAPS, ns, cm, &out, &e);
	cJSON_Delete(cm);
	cJSON_Delete(out);
	out = NULL;
	cJSON *patch = cJSON_Parse("{\"data\":{\"n\":\"2\"}}");
	rc = rc ? rc : k8s_merge_patch(kc, &K8S_CONFIGMAPS, ns, "cm-w", NULL, patch, &out, &e);
	cJSON_Delete(patch);
	cJSON_Delete(out);
	rc = rc ? rc : k8s_delete(kc, &K8S_CONFIGMAPS, ns, "cm-w", NULL, NULL, &e);
	if (rc) {
		check(0, "watch setup: %s", e.e.msg);
		return;
	}
	seen s = {.stop_on = K8S_WATCH_DELETED, .stop_name = "cm-w"};
	k8s_watch_opts o = {.label_selector = "app=watchtest",
			    .resource_version = rv0,
			    .bookmarks = true,
			    .timeout_seconds = 20,
			    .max_failures = 3,
			    .stop = &watch_stop};
	k8s_watch_stats st;
	rc = run_watch(&o, &s, &st, &e);
	check(rc == 0 && s.n == 3 && !strcmp(s.types[0], "ADDED") &&
		  !strcmp(s.types[1], "MODIFIED") && !strcmp(s.types[2], "DELETED") &&
		  st.lists == 0,
	      "watch resumed from resourceVersion %s sees ADDED, MODIFIED, DELETED (%d events, "
	      "%d lists, rc %d %s)",
	      rv0, s.n, st.lists, rc, e.e.msg);

	/* No version: list first, then live events (one created at LIST_END). */
	k8s_client *mut = NULL;
	cm_err ce = {0};
	k8s_client_new(&mut, k8s_client_config(kc), &ce);
	seen s2 = {.stop_on = K8S_WATCH_ADDED, .stop_name = "cm-live", .mutator = mut};
	o.resource_version = NULL;
	rc = run_watch(&o, &s2, &st, &e);
	check(rc == 0 && st.lists == 1 && s2.list_end == 1 && !strcmp(s2.types[0], "LIST_BEGIN") &&
		  !strcmp(s2.types[s2.n - 1], "ADDED"),
	      "watch without a version lists, then sees a live ADDED (%d events, rv %s, rc %d %s)",
	      s2.n, st.resource_version, rc, e.e.msg);

	/* Watches of 1 s: the server ends each, the client resumes from the
	 * last version and still sees an object created 3 s later. */
	seen s5 = {.stop_on = K8S_WATCH_ADDED, .stop_name = "cm-late"};
	pthread_t late;
	pthread_create(&late, NULL, create_late, mut);
	o.resource_version = st.resource_version[0] ? strdup(st.resource_version) : NULL;
	o.timeout_seconds = 1;
	rc = run_watch(&o, &s5, &st, &e);
	pthread_join(late, NULL);
	free((char *)o.resource_version);
	o.timeout_seconds = 20;
	check(rc == 0 && st.reconnects >= 2 && st.lists == 0 && s5.n >= 1 &&
		  !strcmp(s5.names[s5.n - 1], "cm-late"),
	      "watches ended by the server (timeoutSeconds 1) resume and see a later ADDED "
	      "(%d reconnects, %d lists, rc %d %s)",
	      st.reconnects, st.lists, rc, e.e.msg);

	/* A version long compacted away: 410 Gone, then a relist. */
	seen s3 = {.stop_on = K8S_WATCH_LIST_END};
	o.resource_version = "1";
	rc = run_watch(&o, &s3, &st, &e);
	check(
	    rc == 0 && st.gone == 1 && st.lists == 1 && s3.list_end == 1,
	    "watch from resourceVersion 1 gets 410 Gone and relists (gone %d, lists %d, rc %d %s)",
	    st.gone, st.lists, rc, e.e.msg);

	/* An event above the cap is an error, not a buffer without bound. */
	/* From a version taken just before the update: an older one may have
	 * left the API server's watch cache by now (410, then a relist). */
	k8s_list_opts lo1 = {.label_selector = "app=nothing", .limit = 1};
	cJSON *l1 = NULL;
	char rv1[64] = "";
	if (k8s_list(kc, &K8S_CONFIGMAPS, ns, &lo1, &l1, &e) == 0)
		snprintf(rv1, sizeof(rv1), "%s", k8s_str(l1, "metadata.resourceVersion"));
	cJSON_Delete(l1);
	cJSON *big = NULL;
	k8s_get(kc, &K8S_CONFIGMAPS, ns, "cm-big", &big, &e);
	cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(big, "metadata"),
					       "labels", cJSON_Parse("{\"app\":\"watchtest\"}"));
	cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(big, "metadata"),
						"resourceVersion");
	rc = k8s_update(kc, &K8S_CONFIGMAPS, ns, "cm-big", NULL, big, NULL, &e);
	cJSON_Delete(big);
	if (rc)
		printf("    update of cm-big: %s\n", e.e.msg);
	seen s4 = {.stop_on = K8S_WATCH_LIST_END};
	o.resource_version = rv1;
	o.max_event = 1024;
	rc = run_watch(&o, &s4, &st, &e);
	check(rc == FL_ERANGE && strstr(e.e.msg, "1024-byte cap"),
	      "a watch event above a 1024-byte cap is refused (rc %d, gone %d, lists %d, failures "
	      "%d, reconnects %d, from %s): %s",
	      rc, st.gone, st.lists, st.failures, st.reconnects, rv1, e.e.msg);
	k8s_client_free(mut);
}

static void test_forbidden(void)
{
	/* A service account with no role: its token may not list ConfigMaps. */
	k8s_err e;
	k8s_err_clear(&e);
	cJSON *sa = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"ServiceAccount\","
				"\"metadata\":{\"name\":\"nobody\"}}"),
	      *out = NULL;
	const k8s_resource sas = {"v1", "serviceaccounts", true};
	int rc = k8s_create(kc, &sas, ns, sa, NULL, &e);
	cJSON_Delete(sa);
	char path[256];
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/serviceaccounts/nobody/token", ns);
	rc = rc ? rc
		: k8s_request(kc, "POST", path, NULL, "application/json",
			      "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":"
			      "\"TokenRequest\",\"spec\":{\"expirationSeconds\":600}}",
			      "request a token", &out, &e);
	const char *tok = k8s_str(out, "status.token");
	if (rc || !tok) {
		check(0, "Forbidden: token for a service account: %s", e.e.msg);
		cJSON_Delete(out);
		return;
	}
	k8s_config cfg = *k8s_client_config(kc);
	cfg.token = (char *)tok;
	cfg.cert = cfg.key = NULL;
	cfg.cert_len = cfg.key_len = 0;
	k8s_client *nb = NULL;
	cm_err ce = {0};
	k8s_client_new(&nb, &cfg, &ce);
	cJSON *l = NULL;
	k8s_err_clear(&e);
	rc = nb ? k8s_list(nb, &K8S_CONFIGMAPS, ns, NULL, &l, &e) : FL_EIO;
	check(rc == FL_EIO && e.http == 403 && k8s_err_is(&e, "Forbidden") &&
		  strstr(e.e.msg, "list configmaps") && strstr(e.e.msg, "cannot list"),
	      "RBAC refusal is Forbidden (403) naming the verb: %s", e.e.msg);
	cJSON_Delete(l);
	k8s_client_free(nb);
	cJSON_Delete(out);
}

/* No API server at the address, and a server whose certificate the CA given
 * did not sign: clear errors, nothing hangs. */
static void test_unreachable_and_untrusted(void)
{
	const k8s_config *base = k8s_client_config(kc);
	k8s_config cfg = *base;
	cfg.server = (char *)"https://127.0.0.1:1";
	k8s_client *c = NULL;
	cm_err ce = {0};
	k8s_err e;
	k8s_err_clear(&e);
	cJSON *out = NULL;
	int rc = k8s_client_new(&c, &cfg, &ce) ? FL_EIO
						: k8s_get(c, &K8S_CONFIGMAPS, ns, "x", &out, &e);
	check(rc != 0 && c && strstr(e.e.msg, "127.0.0.1:1"),
	      "no API server at the address: refused naming it: %s", c ? e.e.msg : ce.msg);
	cJSON_Delete(out);
	k8s_client_free(c);
	/* The client certificate as the only trusted CA: it signed nothing. */
	if (!base->cert || base->insecure) {
		check(1, "untrusted server certificate: skipped (no client certificate here)");
		return;
	}
	cfg = *base;
	cfg.ca = base->cert;
	cfg.ca_len = base->cert_len;
	c = NULL;
	out = NULL;
	k8s_err_clear(&e);
	rc = k8s_client_new(&c, &cfg, &ce) ? FL_EIO : k8s_get(c, &K8S_CONFIGMAPS, ns, "x", &out, &e);
	check(rc != 0 && c && (strstr(e.e.msg, "certificate") || strstr(e.e.msg, "SSL")),
	      "a server certificate the CA did not sign is refused: %s", c ? e.e.msg : ce.msg);
	cJSON_Delete(out);
	k8s_client_free(c);
}

/* Waits for the next key from the informer's queue. */
static int next_key(k8s_queue *q, char key[K8S_KEY_MAX])
{
	int rc = k8s_queue_get(q, key, 15000);
	if (rc)
		snprintf(key, K8S_KEY_MAX, "(none: %d)", rc);
	else
		k8s_queue_done(q, key);
	return rc;
}

static void test_informer(void)
{
	k8s_err e;
	k8s_err_clear(&e);
	cJSON *cm = configmap("inf-0", "{\"app\":\"inf\"}", "{\"v\":\"0\"}");
	k8s_create(kc, &K8S_CONFIGMAPS, ns, cm, NULL, &e);
	cJSON_Delete(cm);
	k8s_queue *q = NULL;
	k8s_queue_new(&q, 0, 0, 0);
	k8s_informer *inf = NULL;
	k8s_informer_opts io = {.label_selector = "app=inf", .bookmarks = true, .queue = q};
	cm_err ce = {0};
	int rc = k8s_informer_new(&inf, k8s_client_config(kc), &K8S_CONFIGMAPS, ns, &io, &ce);
	rc = rc ? rc : k8s_informer_start(inf, &ce);
	rc = rc ? rc : k8s_informer_wait_synced(inf, 15000);
	char key[K8S_KEY_MAX], want[K8S_KEY_MAX];
	snprintf(want, sizeof(want), "%s/inf-0", ns);
	int krc = rc ? rc : next_key(q, key);
	check(rc == 0 && k8s_informer_count(inf) == 1 && krc == 0 && !strcmp(key, want),
	      "informer synced: %zu object, key %s (rc %d %s)", inf ? k8s_informer_count(inf) : 0,
	      key, rc, ce.msg);
	if (rc) {
		k8s_informer_free(inf);
		k8s_queue_free(q);
		return;
	}
	cm = configmap("inf-1", "{\"app\":\"inf\"}", "{\"v\":\"1\"}");
	k8s_create(kc, &K8S_CONFIGMAPS, ns, cm, NULL, &e);
	cJSON_Delete(cm);
	snprintf(want, sizeof(want), "%s/inf-1", ns);
	krc = next_key(q, key);
	cJSON *got = NULL;
	k8s_informer_get(inf, want, &got);
	const char *v = k8s_str(got, "data.v");
	check(krc == 0 && !strcmp(key, want) && v && !strcmp(v, "1"),
	      "informer queues %s when it is created and caches it", key);
	cJSON_Delete(got);
	got = NULL;

	cJSON *patch = cJSON_Parse("{\"data\":{\"v\":\"2\"}}");
	k8s_merge_patch(kc, &K8S_CONFIGMAPS, ns, "inf-1", NULL, patch, NULL, &e);
	cJSON_Delete(patch);
	krc = next_key(q, key);
	k8s_informer_get(inf, want, &got);
	v = k8s_str(got, "data.v");
	check(krc == 0 && !strcmp(key, want) && v && !strcmp(v, "2"),
	      "informer queues %s when it changes, the cache holds the change", key);
	cJSON_Delete(got);
	got = NULL;

	k8s_delete(kc, &K8S_CONFIGMAPS, ns, "inf-0", NULL, NULL, &e);
	snprintf(want, sizeof(want), "%s/inf-0", ns);
	krc = next_key(q, key);
	rc = k8s_informer_get(inf, want, &got);
	check(krc == 0 && !strcmp(key, want) && rc == FL_ENOENT && k8s_informer_count(inf) == 1,
	      "informer queues %s when it is deleted, and drops it from the cache", key);
	cJSON_Delete(got);

	k8s_queue_retry(q, want);
	int64_t t0 = cm_now_ms();
	krc = next_key(q, key);
	check(krc == 0 && !strcmp(key, want) && k8s_queue_retries(q, want) == 1,
	      "a retried key comes back after its delay (%lld ms)", (long long)(cm_now_ms() - t0));

	/* Stopped in the middle of a 300 s watch request: at once. */
	t0 = cm_now_ms();
	k8s_err_clear(&e);
	rc = k8s_informer_stop(inf, &e);
	long ms = (long)(cm_now_ms() - t0);
	check(rc == 0 && ms < 3000, "informer stops in %ld ms during a watch (%s)", ms, e.e.msg);
	k8s_informer_free(inf);
	k8s_queue_free(q);
}

static atomic_int grants, revokes;
static void on_grant(void *arg)
{
	(void)arg;
	atomic_fetch_add(&grants, 1);
}
static void on_revoke(void *arg)
{
	(void)arg;
	atomic_fetch_add(&revokes, 1);
}

static k8s_lease *candidate(const k8s_config *cfg, const char *id)
{
	k8s_lease_opts o = {.ns = ns,
			    .name = "lease-e2e",
			    .identity = id,
			    .labels_app = "lease-e2e",
			    .lease_duration_ms = 3000,
			    .renew_deadline_ms = 2000,
			    .retry_period_ms = 500,
			    .on_grant = on_grant,
			    .on_revoke = on_revoke};
	k8s_lease *l = NULL;
	cm_err err = {0};
	if (k8s_lease_start(&l, cfg, &o, &err) != 0)
		check(0, "start lease candidate %s: %s", id, err.msg);
	return l;
}

/* Leader election on a real Lease: two candidates in this process. */
static void test_lease(const k8s_config *cfg)
{
	k8s_lease *a = candidate(cfg, "candidate-a"), *b = NULL, *c = NULL;
	if (!a)
		return;
	bool a_leads = k8s_lease_await(a, 10000);
	b = candidate(cfg, "candidate-b");
	if (!b) {
		k8s_lease_free(a, false);
		return;
	}
	bool b_leads = k8s_lease_await(b, 2500);
	k8s_err e;
	k8s_err_clear(&e);
	cJSON *l = NULL;
	k8s_get(kc, &K8S_LEASES, ns, "lease-e2e", &l, &e);
	const char *h = k8s_str(l, "spec.holderIdentity");
	check(a_leads && !b_leads && k8s_lease_is_leader(a) && h && !strcmp(h, "candidate-a") &&
		  atomic_load(&grants) == 1,
	      "lease: the first candidate leads, the second waits (holder %s)", h ? h : "none");
	/* What the leader last read: its stale view after it is deposed. */
	char *stale = cJSON_PrintUnformatted(l);
	cJSON_Delete(l);

	/* The leader stops renewing (its process froze or died). */
	int64_t t0 = cm_now_ms();
	k8s_lease_free(a, false);
	b_leads = k8s_lease_await(b, 15000);
	long took = (long)(cm_now_ms() - t0);
	check(b_leads && took >= 2500 && atomic_load(&grants) == 2,
	      "lease: the second candidate takes over %ld ms after the leader stopped renewing "
	      "(lease-duration 3000 ms)",
	      took);
	k8s_err_clear(&e);
	l = NULL;
	k8s_get(kc, &K8S_LEASES, ns, "lease-e2e", &l, &e);
	h = k8s_str(l, "spec.holderIdentity");
	cJSON *tr = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(l, "spec"),
						     "leaseTransitions");
	check(h && !strcmp(h, "candidate-b") && cJSON_IsNumber(tr) && tr->valueint == 1,
	      "lease: holder %s, %d transition(s)", h ? h : "none",
	      cJSON_IsNumber(tr) ? tr->valueint : -1);
	cJSON_Delete(l);

	/* The deposed leader writes itself back with what it read: refused. */
	cJSON *old = stale ? cJSON_Parse(stale) : NULL;
	free(stale);
	cJSON *spec = cJSON_GetObjectItemCaseSensitive(old, "spec");
	cJSON_ReplaceItemInObjectCaseSensitive(spec, "holderIdentity",
					       cJSON_CreateString("candidate-a"));
	k8s_err_clear(&e);
	int rc = old ? k8s_update(kc, &K8S_LEASES, ns, "lease-e2e", NULL, old, NULL, &e) : -1;
	cJSON_Delete(old);
	check(rc == FL_EINVAL && k8s_err_is(&e, "Conflict"),
	      "lease: a deposed leader's conditional write is refused: %s", e.e.msg);
	check(k8s_lease_is_leader(b), "lease: the new leader still leads after that write");

	/* A leader that stops cleanly frees the Lease: the next takes it at
	 * once, not after lease-duration. */
	c = candidate(cfg, "candidate-c");
	if (c) {
		t0 = cm_now_ms();
		k8s_lease_free(b, true);
		bool c_leads = k8s_lease_await(c, 10000);
		took = (long)(cm_now_ms() - t0);
		check(c_leads && took < 2000 && atomic_load(&revokes) == 2,
		      "lease: a released lease is taken in %ld ms; both stopped leaders were "
		      "revoked",
		      took);
		k8s_lease_free(c, true);
	} else {
		k8s_lease_free(b, true);
	}
}

int main(void)
{
	k8s_config cfg;
	cm_err ce = {0};
	if (k8s_config_load(&cfg, NULL, &ce)) {
		printf("SKIP k8s client: no Kubernetes configuration: %s\n", ce.msg);
		return 77;
	}
	if (k8s_client_new(&kc, &cfg, &ce)) {
		printf("FAIL k8s client: %s\n", ce.msg);
		return 1;
	}
	k8s_client_set_timeout_ms(kc, 20000);
	snprintf(ns, sizeof(ns), "flinc-k8sclient-%d", (int)getpid());
	char nsjson[256];
	snprintf(nsjson, sizeof(nsjson),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}",
		 ns);
	cJSON *nso = cJSON_Parse(nsjson);
	k8s_err e;
	k8s_err_clear(&e);
	int rc = k8s_create(kc, &K8S_NAMESPACES, NULL, nso, NULL, &e);
	cJSON_Delete(nso);
	check(rc == 0, "create namespace %s on %s (context %s): %s", ns, cfg.server,
	      cfg.context ? cfg.context : "in-cluster", e.e.msg);
	if (rc == 0) {
		test_crud();
		test_list();
		test_patch_apply_conflict();
		test_modify_retries_conflicts();
		test_status_subresource();
		test_delete();
		check(k8s_client_connects(kc) == 1 && k8s_client_http_version(kc) == 20,
		      "%ld connection(s) for every request so far, HTTP/%d.%d",
		      k8s_client_connects(kc), k8s_client_http_version(kc) / 10,
		      k8s_client_http_version(kc) % 10);
		test_oversized();
		test_watch();
		test_informer();
		test_forbidden();
		test_unreachable_and_untrusted();
		test_lease(&cfg);
		k8s_err_clear(&e);
		k8s_delete_opts d = {.propagation = "Background"};
		rc = k8s_delete(kc, &K8S_NAMESPACES, NULL, ns, &d, NULL, &e);
		check(rc == 0, "delete namespace %s: %s", ns, e.e.msg);
	}
	k8s_client_free(kc);
	k8s_config_fini(&cfg);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
