/*
 * reconcile.c — one reconcile of a FlinkApplication: see reconcile.h.
 */
#include "operator/reconcile.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/http.h"
#include "common/auth.h"
#include "common/clock.h"
#include "common/log.h"
#include "k8s/deploy.h"
#include "k8s/events.h"
#include "operator/decide.h"

#define COMP "operator"
/* Requests that act (stop, savepoint, rescale) may take the JobManager a
 * moment; a look (the jobs' overview, a savepoint's status) must not hold
 * the one worker: a JobManager whose Service has no route yet drops the
 * connection attempt, and a connect waits as long as the request may. */
#define REST_TIMEOUT_MS 10000
#define REST_LOOK_TIMEOUT_MS 2000

const k8s_resource OP_FLINKAPPLICATIONS = {OP_GROUP_VERSION, "flinkapplications", true};

typedef struct rctx {
	k8s_client *kc;
	op_app app;
	op_observed o;
	cJSON *status; /* the status being written (a copy of the object's) */
	char error[512];
	bool changed_spec;   /* lastReconciledSpec is to be written */
	bool refused;	     /* the API server refused the cluster as invalid (422) */
	char app_error[400]; /* why the JobManager's application failed before its job */
	/* Savepoints that left the history, disposed once status says so. */
	char *dispose[2 * OP_HISTORY_LIMIT];
	int ndispose;
} rctx;

/* ---------------------------------------------------------------- helpers */

static void now_rfc3339(char *buf, size_t cap)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* obj[key] = v (replacing); v is consumed. False on allocation failure. */
static bool put(cJSON *obj, const char *key, cJSON *v)
{
	if (!obj || !v) {
		cJSON_Delete(v);
		return false;
	}
	if (cJSON_GetObjectItemCaseSensitive(obj, key))
		return cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v);
	return cJSON_AddItemToObject(obj, key, v);
}

/* obj[key] as an object, made when missing or of another type. */
static cJSON *sub(cJSON *obj, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (cJSON_IsObject(v))
		return v;
	v = cJSON_CreateObject();
	return put(obj, key, v) ? v : NULL;
}

static void event(rctx *r, bool warning, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* An events.k8s.io/v1 Event on the FlinkApplication (kubectl describe fapp). */
static void event(rctx *r, bool warning, const char *reason, const char *fmt, ...)
{
	char note[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(note, sizeof(note), fmt, ap);
	va_end(ap);
	const char *me = getenv("POD_NAME");
	k8s_event ev = {.warning = warning,
			.reason = reason,
			.note = note,
			.controller = "flinc.dev/operator",
			.instance = me && *me ? me : "flinc-operator",
			.regarding = {OP_GROUP_VERSION, OP_KIND, r->app.object_name, r->app.ns,
				      r->app.uid}};
	if (warning)
		CM_WARN(COMP, "%s/%s %s: %s", r->app.ns, r->app.name, reason, note);
	else
		CM_INFO(COMP, "%s/%s %s: %s", r->app.ns, r->app.name, reason, note);
	k8s_err e;
	k8s_err_clear(&e);
	if (k8s_event_create(r->kc, r->app.ns, &ev, &e) != 0)
		CM_WARN(COMP, "%s/%s: cannot record event %s: %s", r->app.ns, r->app.name, reason,
			e.e.msg);
}

static void fail(rctx *r, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A step that failed: status.error, a Degraded condition and an event. */
static void fail(rctx *r, const char *reason, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	event(r, true, reason, "%s", r->error);
}

/*
 * Final savepoints that failed in a row, kept here too: status keeps them
 * (savepointInfo.deleteSavepointFailures, so a restarted operator backs
 * off as well), but a CRD older than that field prunes it, and every status
 * write is a watch event: without this the retries would come as fast as
 * the API server answers. Keyed by uid; the oldest slot is reused.
 */
#define BACKOFF_SLOTS 64
static struct {
	char uid[64];
	int64_t failures, last_ms;
} backoff[BACKOFF_SLOTS];
static pthread_mutex_t backoff_mu = PTHREAD_MUTEX_INITIALIZER;

/* failures 0: forget uid. */
static void backoff_note(const char *uid, int64_t failures, int64_t last_ms)
{
	pthread_mutex_lock(&backoff_mu);
	int slot = -1, oldest = 0;
	for (int i = 0; i < BACKOFF_SLOTS && slot < 0; i++)
		if (strcmp(backoff[i].uid, uid) == 0)
			slot = i;
	if (slot < 0 && failures > 0) {
		for (int i = 1; i < BACKOFF_SLOTS; i++)
			if (backoff[i].last_ms < backoff[oldest].last_ms)
				oldest = i;
		slot = oldest;
		snprintf(backoff[slot].uid, sizeof(backoff[slot].uid), "%s", uid);
	}
	if (slot >= 0) {
		if (failures > 0) {
			backoff[slot].failures = failures;
			backoff[slot].last_ms = last_ms;
		} else {
			memset(&backoff[slot], 0, sizeof(backoff[slot]));
		}
	}
	pthread_mutex_unlock(&backoff_mu);
}

/* What status lost (a pruned field) is taken from memory. */
static void backoff_apply(op_kept *k, const char *uid)
{
	pthread_mutex_lock(&backoff_mu);
	for (int i = 0; i < BACKOFF_SLOTS && uid[0]; i++) {
		if (strcmp(backoff[i].uid, uid) != 0)
			continue;
		if (backoff[i].failures > k->delete_failures) {
			k->delete_failures = backoff[i].failures;
			if (backoff[i].last_ms > k->trigger_ms)
				k->trigger_ms = backoff[i].last_ms;
		}
		break;
	}
	pthread_mutex_unlock(&backoff_mu);
}

/* ------------------------------------------------------------- JobManager */

static int jm_call(rctx *r, const char *method, const char *path, const char *body, cJSON **out,
		   long *status, cm_err *err)
{
	char hostport[200];
	snprintf(hostport, sizeof(hostport), "%s-rest.%s:%d", r->app.name, r->app.ns, 8081);
	/* The application's rest.port, else the chart's default one. */
	const cJSON *p = op_spec_conf(&r->app.spec, CFG_REST_PORT);
	const char *port = p ? p->valuestring : NULL;
	if (port)
		snprintf(hostport, sizeof(hostport), "%s-rest.%s:%.8s", r->app.name, r->app.ns,
			 port);
	cl_address addr;
	cl_http *h = NULL;
	int rc = cl_address_parse(hostport, 8081, &addr, err);
	if (!rc)
		rc = cl_http_new(
		    &h, &addr, strcmp(method, "GET") == 0 ? REST_LOOK_TIMEOUT_MS : REST_TIMEOUT_MS,
		    NULL, false, err);
	if (rc)
		return rc;
	cl_reply rep = {0};
	rc = cl_http_call(h, method, path, body, &rep, err);
	cl_http_free(h);
	if (rc)
		return rc;
	*status = rep.status;
	if (out) {
		*out = cJSON_ParseWithLength(rep.body, rep.len);
		if (!*out && rep.len) {
			rc = cm_err_set(err, FL_EPROTO, "%s %s on %s: the answer is not JSON",
					method, path, hostport);
		}
	}
	if (!rc && (rep.status < 200 || rep.status >= 300))
		rc = cm_err_set(err, FL_EIO, "%s %s on %s: HTTP %ld: %.300s", method, path,
				hostport, rep.status, rep.body);
	cl_reply_fini(&rep);
	if (rc && out) {
		cJSON_Delete(*out);
		*out = NULL;
	}
	return rc;
}

/* --------------------------------------------------------------- observing */

static bool owned_by(const cJSON *obj, const char *uid)
{
	const cJSON *ref;
	cJSON_ArrayForEach(
	    ref, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"),
						  "ownerReferences"))
	{
		const char *u = k8s_str(ref, "uid");
		if (u && strcmp(u, uid) == 0)
			return true;
	}
	return false;
}

static bool fatal_reason(const char *w)
{
	return w && (strstr(w, "ErrImage") || strcmp(w, "ImagePullBackOff") == 0 ||
		     strcmp(w, "InvalidImageName") == 0 || strstr(w, "CreateContainer") ||
		     strcmp(w, "CrashLoopBackOff") == 0);
}

/* Pods of component comp: how many, how many Running, and a waiting reason
 * that will not heal by itself. */
static int pods(rctx *r, const char *comp, int64_t *n, int64_t *running, char *why, size_t cap)
{
	char sel[200];
	snprintf(sel, sizeof(sel), "app=%s,component=%s,type=%s", r->app.name, comp,
		 K8S_TYPE_LABEL);
	k8s_list_opts lo = {.label_selector = sel};
	cJSON *list = NULL;
	k8s_err ke;
	k8s_err_clear(&ke);
	*n = *running = 0;
	if (k8s_list(r->kc, &K8S_PODS, r->app.ns, &lo, &list, &ke) != 0) {
		CM_WARN(COMP, "%s/%s: %s", r->app.ns, r->app.name, ke.e.msg);
		return ke.e.code;
	}
	const cJSON *pod;
	cJSON_ArrayForEach(pod, cJSON_GetObjectItemCaseSensitive(list, "items"))
	{
		if (k8s_str(pod, "metadata.deletionTimestamp"))
			continue;
		(*n)++;
		const char *phase = k8s_str(pod, "status.phase");
		if (phase && strcmp(phase, "Running") == 0)
			(*running)++;
		const cJSON *cs;
		cJSON_ArrayForEach(
		    cs, cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(pod, "status"), "containerStatuses"))
		{
			const char *w = k8s_str(cs, "state.waiting.reason");
			if (why && fatal_reason(w)) {
				const char *m = k8s_str(cs, "state.waiting.message");
				snprintf(why, cap, "pod %s: %s%s%.180s",
					 k8s_str(pod, "metadata.name"), w, m ? ": " : "",
					 m ? m : "");
			}
		}
	}
	cJSON_Delete(list);
	return 0;
}

/* An application cluster whose JobManager answers but runs no job: the
 * application may have failed before it made one (a job library missing
 * from the image, a main() that failed), which the JobManager only logs.
 * Its log's last lines are read for the line that says so (the JobManager's
 * own "The application failed: ..."), into r->app_error. */
static void application_failure(rctx *r)
{
	char sel[200];
	snprintf(sel, sizeof(sel), "app=%s,component=jobmanager,type=%s", r->app.name,
		 K8S_TYPE_LABEL);
	k8s_list_opts lo = {.label_selector = sel};
	cJSON *list = NULL;
	k8s_err ke;
	k8s_err_clear(&ke);
	if (k8s_list(r->kc, &K8S_PODS, r->app.ns, &lo, &list, &ke) != 0)
		return;
	const char *pod = NULL;
	const cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(list, "items"))
	{
		const char *phase = k8s_str(p, "status.phase");
		if (!k8s_str(p, "metadata.deletionTimestamp") && phase &&
		    strcmp(phase, "Running") == 0)
			pod = k8s_str(p, "metadata.name");
	}
	char path[600], what[400];
	static char log[16384]; /* one worker thread */
	size_t n = 0;
	if (pod &&
	    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/log", r->app.ns, pod) <
		(int)sizeof(path)) {
		snprintf(what, sizeof(what), "get pods/%s/log in namespace %s", pod, r->app.ns);
		k8s_err_clear(&ke);
		if (k8s_get_text(r->kc, path, "container=flinc-main-container&tailLines=40", what,
				 log, sizeof(log), &n, &ke) == 0) {
			static const char mark[] = "The application failed: ";
			const char *at = strstr(log, mark);
			if (at) {
				at += sizeof(mark) - 1;
				size_t len = strcspn(at, "\n");
				snprintf(r->app_error, sizeof(r->app_error),
					 "the application failed before it ran a job (pod %.100s): "
					 "%.*s",
					 pod, (int)(len < 250 ? len : 250), at);
			}
		} else {
			CM_INFO(COMP, "%s/%s: %s", r->app.ns, r->app.name, ke.e.msg);
		}
	}
	cJSON_Delete(list);
}

/* Observes the cluster into r->o. Returns 0, or the API's error when the
 * Deployment could not be read (nothing is decided on a guess). */
static int observe(rctx *r)
{
	op_observed *o = &r->o;
	memset(o, 0, sizeof(*o));
	cJSON *dep = NULL;
	k8s_err ke;
	k8s_err_clear(&ke);
	if (k8s_get(r->kc, &K8S_DEPLOYMENTS, r->app.ns, r->app.name, &dep, &ke) != 0) {
		if (!k8s_err_is(&ke, "NotFound")) {
			CM_WARN(COMP, "%s/%s: %s", r->app.ns, r->app.name, ke.e.msg);
			return ke.e.code ? ke.e.code : FL_EIO;
		}
		o->deployment = OP_DEP_MISSING;
		return 0;
	}
	const cJSON *avail = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(dep, "status"), "availableReplicas");
	if (!owned_by(dep, r->app.uid))
		o->deployment = OP_DEP_FOREIGN;
	else if (k8s_str(dep, "metadata.deletionTimestamp"))
		o->deployment = OP_DEP_DELETING;
	else if (cJSON_IsNumber(avail) && avail->valuedouble >= 1)
		o->deployment = OP_DEP_READY;
	else
		o->deployment = OP_DEP_DEPLOYING;
	cJSON_Delete(dep);
	if (o->deployment == OP_DEP_FOREIGN || o->deployment == OP_DEP_DELETING)
		return 0;
	int64_t n, running;
	if (o->deployment == OP_DEP_DEPLOYING &&
	    pods(r, "jobmanager", &n, &running, o->deployment_why, sizeof(o->deployment_why)) ==
		0 &&
	    o->deployment_why[0])
		o->deployment = OP_DEP_ERROR;
	(void)pods(r, "taskmanager", &o->tm_pods, &o->tm_ready, NULL, 0);
	if (o->deployment != OP_DEP_READY)
		return 0;
	cJSON *jobs = NULL;
	long st = 0;
	cm_err err = {0};
	if (jm_call(r, "GET", "/jobs/overview", NULL, &jobs, &st, &err) != 0) {
		CM_INFO(COMP, "%s/%s: JobManager not answering yet: %s", r->app.ns, r->app.name,
			err.msg);
		return 0;
	}
	o->rest_ok = true;
	/* An application cluster runs one job; the latest started is its job. */
	const cJSON *j, *best = NULL;
	double best_start = -1;
	cJSON_ArrayForEach(j, cJSON_GetObjectItemCaseSensitive(jobs, "jobs"))
	{
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "start-time");
		double t = cJSON_IsNumber(s) ? s->valuedouble : 0;
		if (t > best_start) {
			best_start = t;
			best = j;
		}
	}
	if (best) {
		const char *id = k8s_str(best, "jid"), *state = k8s_str(best, "state"),
			   *name = k8s_str(best, "name");
		if (id && strlen(id) < sizeof(o->job_id))
			snprintf(o->job_id, sizeof(o->job_id), "%s", id);
		if (state && strlen(state) < sizeof(o->job_state))
			snprintf(o->job_state, sizeof(o->job_state), "%s", state);
		if (name)
			snprintf(o->job_name, sizeof(o->job_name), "%.127s", name);
		o->job_start_ms = (int64_t)best_start;
	}
	cJSON_Delete(jobs);
	if (!best && r->app.spec.has_job)
		application_failure(r);
	return 0;
}

/* ------------------------------------------------------------------ steps */

static bool new_trigger_id(char id[33])
{
	unsigned char b[16];
	if (cm_random(b, sizeof(b)) != 0)
		return false;
	for (int i = 0; i < 16; i++)
		snprintf(id + 2 * i, 3, "%02x", b[i]);
	return true;
}

static void record_spec(rctx *r)
{
	r->changed_spec = true;
}

/*
 * Removes the cluster's high-availability ConfigMaps (labelled
 * app=<name>,configmap-type=high-availability), which its JobManagers keep
 * across a redeploy: before a deploy that must not resume from them, and
 * when the application is deleted; why is for the log. 0, or the API's
 * error after fail() said so (a deploy waits: a job that resumed from a
 * stale checkpoint would be worse than a late one).
 */
static int drop_ha(rctx *r, const char *why)
{
	char sel[200];
	snprintf(sel, sizeof(sel), "app=%s,configmap-type=high-availability", r->app.name);
	k8s_list_opts lo = {.label_selector = sel};
	cJSON *list = NULL;
	k8s_err ke;
	k8s_err_clear(&ke);
	int rc = k8s_list(r->kc, &K8S_CONFIGMAPS, r->app.ns, &lo, &list, &ke);
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(list, "items"))
	{
		const char *name = k8s_str(it, "metadata.name");
		if (rc || !name)
			continue;
		k8s_err_clear(&ke);
		if (k8s_delete(r->kc, &K8S_CONFIGMAPS, r->app.ns, name, NULL, NULL, &ke) != 0 &&
		    !k8s_err_is(&ke, "NotFound"))
			rc = ke.e.code ? ke.e.code : FL_EIO;
		else
			CM_INFO(COMP, "%s/%s: removed configmap/%s (high availability): %s", r->app.ns,
				r->app.name, name, why);
	}
	cJSON_Delete(list);
	if (rc)
		fail(r, "Error", "cannot remove the high-availability ConfigMaps (%s): %s", sel,
		     ke.e.msg);
	return rc;
}

/* Makes the cluster of the spec (restored from restore, or NULL); dry: only
 * a server-side dry run of its Deployment, which Kubernetes validates (an
 * existing Deployment of the name counts as accepted). Returns 0, or
 * non-zero after fail() said why. */
static int create_cluster(rctx *r, const char *restore, bool dry)
{
	cfg *conf = NULL;
	k8s_cluster_spec ks;
	cm_err err = {0};
	char *yaml = NULL;
	char token[256];
	cJSON *owner = NULL;
	int rc = 1;
	if (op_spec_cluster(&r->app, restore, &conf, &ks, &err) != 0 ||
	    k8s_cluster_flinc_yaml(&ks, conf, &yaml, &err) != 0) {
		fail(r, "Error", "cannot build the cluster: %s", err.msg);
		goto out;
	}
	if (k8s_cluster_token(conf, token, sizeof(token)) != 0) {
		fail(r, "Error", "cannot make the cluster's secret");
		goto out;
	}
	owner = cJSON_CreateObject();
	if (!owner || !cJSON_AddStringToObject(owner, "apiVersion", OP_GROUP_VERSION) ||
	    !cJSON_AddStringToObject(owner, "kind", OP_KIND) ||
	    !cJSON_AddStringToObject(owner, "name", r->app.name) ||
	    !cJSON_AddStringToObject(owner, "uid", r->app.uid) ||
	    !cJSON_AddBoolToObject(owner, "controller", true) ||
	    !cJSON_AddBoolToObject(owner, "blockOwnerDeletion", true)) {
		fail(r, "Error", "out of memory");
		goto out;
	}
	char *argv[OP_ARGS_MAX];
	size_t nargs = 0;
	const cJSON *a;
	cJSON_ArrayForEach(a, r->app.spec.args)
	{
		if (nargs < OP_ARGS_MAX && cJSON_IsString(a))
			argv[nargs++] = a->valuestring;
	}
	k8s_cluster_create_opts co = {.yaml = yaml,
				      .token = token,
				      .application =
					  r->app.spec.has_job ? r->app.spec.job_path : NULL,
				      .args = argv,
				      .nargs = nargs,
				      .owner = owner,
				      /* A component's own template, else spec.podTemplate
				       * (Flink's operator merges the two; here the more
				       * specific one is taken whole). */
				      .templates = {r->app.spec.jm_pod_template
							? r->app.spec.jm_pod_template
							: r->app.spec.pod_template,
						    r->app.spec.tm_pod_template
							? r->app.spec.tm_pod_template
							: r->app.spec.pod_template}};
	co.dry_run = dry;
	k8s_err ke;
	k8s_err_clear(&ke);
	if (k8s_cluster_create(r->kc, &ks, &co, NULL, NULL, &ke) != 0 &&
	    !(dry && k8s_err_is(&ke, "AlreadyExists"))) {
		/* 422 Invalid: what the spec asks for (a pod template, most
		 * likely) is refused by Kubernetes itself, which the operator's
		 * own checks did not foresee: a ValidationError, not a fault. */
		r->refused = ke.http == 422;
		if (dry && r->refused) {
			/* Retried with back-off until the spec changes: one
			 * event per message, not per retry. */
			const char *was = k8s_str(r->status, "error");
			snprintf(r->error, sizeof(r->error),
				 "the new spec is refused by Kubernetes (the running cluster "
				 "is left as it is): %.400s",
				 ke.e.msg);
			if (!was || strcmp(was, r->error) != 0)
				event(r, true, "ValidationError", "%s", r->error);
		} else if (r->refused) {
			/* Retried with back-off until the spec changes (and then
			 * once a minute): one event per message, as above, not a
			 * Warning per retry. */
			const char *was = k8s_str(r->status, "error");
			snprintf(r->error, sizeof(r->error), "cannot create the cluster: %.450s",
				 ke.e.msg);
			if (!was || strcmp(was, r->error) != 0)
				event(r, true, "ValidationError", "%s", r->error);
		} else {
			fail(r, "Error", "cannot create the cluster: %s", ke.e.msg);
		}
		goto out;
	}
	rc = 0;
out:
	memset(token, 0, sizeof(token));
	cJSON_Delete(owner);
	free(yaml);
	cfg_free(conf);
	return rc;
}

static void step_deploy(rctx *r, const op_step *s)
{
	const char *restore = s->restore[0] ? s->restore : NULL;
	if (s->drop_ha && drop_ha(r, "the new job does not resume from it") != 0)
		return;
	if (create_cluster(r, restore, false) != 0)
		return;
	cJSON *rs = sub(r->status, "reconciliationStatus");
	put(rs, "state", cJSON_CreateString("DEPLOYED"));
	put(rs, "upgradeSavepoint", cJSON_CreateNull());
	cJSON *si = sub(sub(r->status, "jobStatus"), "savepointInfo");
	if (r->app.spec.has_nonce)
		put(si, "triggerNonce", cJSON_CreateNumber((double)r->app.spec.savepoint_nonce));
	record_spec(r);
	if (restore)
		event(r, false, "Submit",
		      "%s: cluster %s created at parallelism %lld, restored from %s", s->why,
		      r->app.name, (long long)op_spec_parallelism(&r->app.spec), restore);
	else
		event(r, false, "Submit", "%s: cluster %s created at parallelism %lld", s->why,
		      r->app.name, (long long)op_spec_parallelism(&r->app.spec));
}

static void step_delete(rctx *r, const op_step *s)
{
	k8s_err ke;
	k8s_err_clear(&ke);
	/* Foreground: the Deployment stays until what it owns is gone, so the
	 * new cluster's objects of the same names are made only after. */
	k8s_delete_opts d = {.propagation = "Foreground"};
	if (k8s_delete(r->kc, &K8S_DEPLOYMENTS, r->app.ns, r->app.name, &d, NULL, &ke) != 0 &&
	    !k8s_err_is(&ke, "NotFound")) {
		fail(r, "Error", "cannot delete the old cluster: %s", ke.e.msg);
		return;
	}
	CM_INFO(COMP, "%s/%s: %s", r->app.ns, r->app.name, s->why);
}

static void step_savepoint(rctx *r, const op_step *s, bool stop)
{
	char id[33];
	if (!r->o.job_id[0] || !new_trigger_id(id)) {
		fail(r, "SavepointError", "no job to take a savepoint of");
		return;
	}
	/* The trigger id goes to status before the request: an operator that
	 * stops in between finds the operation by it. */
	cJSON *si = sub(sub(r->status, "jobStatus"), "savepointInfo");
	put(si, "triggerId", cJSON_CreateString(id));
	put(si, "triggerType", cJSON_CreateString(s->trigger_type));
	put(si, "triggerTimestamp", cJSON_CreateNumber((double)cm_wall_ms()));
	if (strcmp(s->trigger_type, "MANUAL") == 0)
		put(si, "triggerNonce", cJSON_CreateNumber((double)r->app.spec.savepoint_nonce));
	/* The next periodic one is counted from this trigger, whatever its end. */
	if (strcmp(s->trigger_type, "PERIODIC") == 0)
		put(si, "lastPeriodicSavepointTimestamp", cJSON_CreateNumber((double)cm_wall_ms()));
	snprintf(r->app.kept.trigger_id, sizeof(r->app.kept.trigger_id), "%s", id);
	snprintf(r->app.kept.trigger_type, sizeof(r->app.kept.trigger_type), "%s", s->trigger_type);
}

/* Where savepoints go: the savepoint directory when configured, else the
 * checkpoint directory (the CRD and op_app_decode ask for one of them). */
static const char *savepoint_dir(const op_spec *s)
{
	static const char *const keys[] = {CFG_SP_DIR_NEW, CFG_SP_DIR, CFG_CKP_DIR_NEW,
					   CFG_CKP_DIR};
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		const cJSON *v = op_spec_conf(s, keys[i]); /* the application's, else the default */
		if (cJSON_IsString(v) && v->valuestring[0])
			return v->valuestring;
	}
	return NULL;
}

/*
 * The JobManager refused the savepoint request: status no longer waits for
 * it (a merge patch: the object changed since it was read, by our own
 * write), and an upgrade waiting for it is over, not to be tried again
 * until the spec changes.
 */
/* A savepoint that ends an upgrade or suspension: its failure ends them. */
static bool for_upgrade(const char *trigger_type)
{
	return strcmp(trigger_type, "UPGRADE") == 0 || strcmp(trigger_type, "SUSPEND") == 0;
}

static void refused_trigger(rctx *r, const char *why)
{
	bool upgrade = for_upgrade(r->app.kept.trigger_type);
	cJSON *patch = cJSON_CreateObject(), *st, *si, *rs;
	bool ok = patch && (st = cJSON_AddObjectToObject(patch, "status")) &&
		  cJSON_AddStringToObject(st, "error", why) &&
		  (si = cJSON_AddObjectToObject(cJSON_AddObjectToObject(st, "jobStatus"),
						"savepointInfo")) &&
		  cJSON_AddNullToObject(si, "triggerId");
	if (strcmp(r->app.kept.trigger_type, "DELETE") == 0)
		backoff_note(r->app.uid, r->app.kept.delete_failures + 1, cm_wall_ms());
	if (ok && strcmp(r->app.kept.trigger_type, "DELETE") == 0)
		ok = cJSON_AddNumberToObject(si, "deleteSavepointFailures",
					     (double)(r->app.kept.delete_failures + 1)) != NULL;
	if (ok && upgrade)
		ok = (rs = cJSON_AddObjectToObject(st, "reconciliationStatus")) &&
		     cJSON_AddStringToObject(rs, "state", "DEPLOYED") &&
		     cJSON_AddNumberToObject(rs, "failedGeneration", (double)r->app.generation);
	k8s_err ke;
	k8s_err_clear(&ke);
	if (!ok || k8s_merge_patch(r->kc, &OP_FLINKAPPLICATIONS, r->app.ns, r->app.object_name,
				   "status", patch, NULL, &ke) != 0)
		CM_WARN(COMP, "%s/%s: cannot write status: %s", r->app.ns, r->app.name,
			ok ? ke.e.msg : "out of memory");
	cJSON_Delete(patch);
	event(r, true, "SavepointError", "%s", why);
	/* Tried again (a final savepoint) after the back-off, not at once. */
	snprintf(r->error, sizeof(r->error), "%s", why);
}

/* Sends the savepoint request whose trigger id status now holds. */
static void send_savepoint(rctx *r, bool stop)
{
	char path[200];
	snprintf(path, sizeof(path), "/jobs/%s/%s", r->o.job_id, stop ? "stop" : "savepoints");
	const char *dir = savepoint_dir(&r->app.spec);
	cJSON *body = cJSON_CreateObject();
	bool ok = body && cJSON_AddStringToObject(body, "triggerId", r->app.kept.trigger_id) &&
		  (!dir || cJSON_AddStringToObject(
			       body, stop ? "targetDirectory" : "target-directory", dir)) &&
		  (stop ? cJSON_AddFalseToObject(body, "drain") != NULL
			: cJSON_AddFalseToObject(body, "cancel-job") != NULL);
	char *text = ok ? cJSON_PrintUnformatted(body) : NULL;
	cJSON_Delete(body);
	if (!text) {
		refused_trigger(r, "out of memory");
		return;
	}
	long st = 0;
	cm_err err = {0};
	int rc = jm_call(r, "POST", path, text, NULL, &st, &err);
	free(text);
	if (rc && st) {
		char why[512];
		snprintf(why, sizeof(why), "the JobManager refused the savepoint of job %s: %.400s",
			 r->o.job_id, err.msg);
		refused_trigger(r, why);
		return;
	}
	if (rc) {
		/* No answer: the request may have arrived; the poll finds out. */
		CM_WARN(COMP, "%s/%s: %s", r->app.ns, r->app.name, err.msg);
		return;
	}
	event(r, false, "SavepointTriggered", "%s of job %s into %s (trigger %s)",
	      stop ? "stop with a savepoint" : "savepoint", r->o.job_id,
	      dir ? dir : "the default directory", r->app.kept.trigger_id);
}

/*
 * The savepoint history's cap (op_history_trim): the entries that leave it
 * are taken out of the status being written; the files of those the
 * operator took are disposed through the JobManager once status no longer
 * names them (dispose_all, after the write). Only while the JobManager
 * answers: otherwise the history waits for the next look.
 */
static void trim_history(rctx *r)
{
	cJSON *hist = cJSON_GetObjectItemCaseSensitive(
	    sub(sub(r->status, "jobStatus"), "savepointInfo"), "history");
	if (!r->o.rest_ok) {
		/* Never above what the CRD takes (its maxItems), disposal or not. */
		while (cJSON_GetArraySize(hist) > OP_HISTORY_LIMIT)
			cJSON_DeleteItemFromArray(hist, 0);
		return;
	}
	bool drop[2 * OP_HISTORY_LIMIT], dispose[2 * OP_HISTORY_LIMIT];
	if (!cJSON_IsArray(hist) || op_history_trim(&r->app, hist, cm_wall_ms(), drop, dispose) == 0)
		return;
	int n = cJSON_GetArraySize(hist);
	if (n > 2 * OP_HISTORY_LIMIT)
		n = 2 * OP_HISTORY_LIMIT;
	for (int i = n - 1; i >= 0; i--) {
		if (!drop[i])
			continue;
		cJSON *e = cJSON_DetachItemFromArray(hist, i);
		const cJSON *loc = cJSON_GetObjectItemCaseSensitive(e, "location");
		if (dispose[i] && cJSON_IsString(loc) && r->ndispose < 2 * OP_HISTORY_LIMIT) {
			char *p = strdup(loc->valuestring);
			if (p)
				r->dispose[r->ndispose++] = p;
		} else if (cJSON_IsString(loc)) {
			CM_INFO(COMP, "%s/%s: savepoint %.300s leaves the history (its files stay)",
				r->app.ns, r->app.name, loc->valuestring);
		}
		cJSON_Delete(e);
	}
}

/*
 * Disposes the savepoints trim_history took out of the history (POST
 * /savepoint-disposal, then its status, for a few seconds at most). A
 * failure is a warning event naming the path, not a retry: status no
 * longer holds the entry, the files stay for a person to remove.
 */
/* How long one reconcile follows its disposals: the one worker serves every
 * application, so a slow JobManager must not hold it; a disposal still
 * running then finishes on its own (the JobManager logs its end). */
#define DISPOSE_FOLLOW_MS 5000

static void dispose_all(rctx *r)
{
	int64_t until = cm_now_ms() + DISPOSE_FOLLOW_MS;
	bool unreachable = false;
	for (int i = 0; i < r->ndispose; i++) {
		const char *path = r->dispose[i];
		if (unreachable) {
			event(r, true, "SavepointError",
			      "savepoint %s left the history but could not be disposed (its files "
			      "stay): the JobManager did not answer",
			      path);
			continue;
		}
		cJSON *body = cJSON_CreateObject(), *ans = NULL;
		char *text = body && cJSON_AddStringToObject(body, "savepoint-path", path)
				 ? cJSON_PrintUnformatted(body)
				 : NULL;
		cJSON_Delete(body);
		long st = 0;
		cm_err err = {0};
		int rc = text ? jm_call(r, "POST", "/savepoint-disposal", text, &ans, &st, &err)
			      : cm_err_set(&err, FL_ENOMEM, "out of memory");
		free(text);
		unreachable = rc != 0 && st == 0;
		const char *id = rc ? NULL : k8s_str(ans, "request-id");
		char idbuf[64] = "", why[400] = "";
		if (id)
			snprintf(idbuf, sizeof(idbuf), "%s", id);
		else if (!rc)
			snprintf(why, sizeof(why), "the JobManager gave no request-id");
		else
			snprintf(why, sizeof(why), "%.390s", err.msg);
		cJSON_Delete(ans);
		bool done = false;
		for (int t = 0; idbuf[0] && !done && t < 50 && cm_now_ms() < until; t++) {
			char p[128];
			snprintf(p, sizeof(p), "/savepoint-disposal/%s", idbuf);
			ans = NULL;
			if (jm_call(r, "GET", p, NULL, &ans, &st, &err) != 0) {
				snprintf(why, sizeof(why), "%.390s", err.msg);
				break;
			}
			const char *state = k8s_str(ans, "status.id");
			if (state && strcmp(state, "COMPLETED") == 0) {
				done = true;
				const char *f = k8s_str(ans, "operation.failure-cause.stack-trace");
				if (f)
					snprintf(why, sizeof(why), "%s", f);
			}
			cJSON_Delete(ans);
			if (!done)
				nanosleep(&(struct timespec){.tv_nsec = 100000000L}, NULL);
		}
		if (done && !why[0])
			event(r, false, "SavepointDisposed",
			      "savepoint %s left the history (%s): disposed", path,
			      OP_KEY_HISTORY_COUNT);
		else if (done || why[0])
			event(r, true, "SavepointError",
			      "savepoint %s left the history but could not be disposed (its files "
			      "stay): %.300s",
			      path, why);
		else
			CM_INFO(COMP, "%s/%s: disposal %s of %s still in progress", r->app.ns,
				r->app.name, idbuf, path);
	}
}

static void step_poll(rctx *r)
{
	const op_kept *k = &r->app.kept;
	cJSON *si = sub(sub(r->status, "jobStatus"), "savepointInfo");
	const char *job = r->o.job_id[0] ? r->o.job_id : k->job_id;
	char path[200];
	snprintf(path, sizeof(path), "/jobs/%s/savepoints/%s", job, k->trigger_id);
	cJSON *ans = NULL;
	long st = 0;
	cm_err err = {0};
	int rc = jm_call(r, "GET", path, NULL, &ans, &st, &err);
	bool upgrade = for_upgrade(k->trigger_type);
	/* A savepoint that stops the job (an upgrade's, a suspension's, the final
	 * one of a deletion): its path is what comes next. */
	bool stops = upgrade || strcmp(k->trigger_type, "DELETE") == 0;
	if (rc && (r->o.deployment == OP_DEP_MISSING || r->o.deployment == OP_DEP_DELETING)) {
		fail(r, "SavepointError",
		     "the JobManager went away while savepoint %s of job %s was "
		     "being taken",
		     k->trigger_id, job);
		goto clear;
	}
	if (rc && st != 404) {
		CM_INFO(COMP, "%s/%s: savepoint %s: %s", r->app.ns, r->app.name, k->trigger_id,
			err.msg);
		return; /* looked at again */
	}
	if (st == 404) {
		fail(r, "SavepointError", "the JobManager knows no savepoint %s of job %s",
		     k->trigger_id, job);
		goto clear;
	}
	const char *state = k8s_str(ans, "status.id");
	if (!state || strcmp(state, "COMPLETED") != 0) {
		cJSON_Delete(ans);
		return;
	}
	const char *loc = k8s_str(ans, "operation.location");
	if (!loc) {
		const char *why = k8s_str(ans, "operation.failure-cause.stack-trace");
		fail(r, "SavepointError", "savepoint of job %s failed: %.300s", job,
		     why ? why : "no reason given");
		goto clear;
	}
	cJSON *last = cJSON_CreateObject();
	if (last) {
		cJSON_AddStringToObject(last, "location", loc);
		cJSON_AddNumberToObject(last, "timeStamp", (double)cm_wall_ms());
		cJSON_AddStringToObject(last, "triggerType", k->trigger_type);
		if (strcmp(k->trigger_type, "MANUAL") == 0 && r->app.spec.has_nonce)
			cJSON_AddNumberToObject(last, "triggerNonce",
						(double)r->app.spec.savepoint_nonce);
		cJSON *hist = cJSON_GetObjectItemCaseSensitive(si, "history");
		if (!cJSON_IsArray(hist)) {
			hist = cJSON_CreateArray();
			put(si, "history", hist);
		}
		if (hist)
			cJSON_AddItemToArray(hist, cJSON_Duplicate(last, true));
		put(si, "lastSavepoint", last);
		snprintf(r->app.kept.last_savepoint, sizeof(r->app.kept.last_savepoint), "%s",
			 loc);
	}
	if (stops) {
		snprintf(r->app.kept.upgrade_savepoint, sizeof(r->app.kept.upgrade_savepoint), "%s",
			 loc);
		put(sub(r->status, "reconciliationStatus"), "upgradeSavepoint",
		    cJSON_CreateString(loc));
	}
	event(r, false, "SavepointCompleted", "%s savepoint of job %s at %s",
	      strcmp(k->trigger_type, "DELETE") == 0 ? "final" : k->trigger_type, job, loc);
	trim_history(r);
clear:
	cJSON_Delete(ans);
	put(si, "triggerId", cJSON_CreateNull());
	/* A final savepoint: failures in a row count for the back-off; a
	 * success ends them. */
	if (strcmp(k->trigger_type, "DELETE") == 0)
		backoff_note(r->app.uid, r->error[0] ? k->delete_failures + 1 : 0,
			     k->trigger_ms > 0 ? k->trigger_ms : cm_wall_ms());
	if (strcmp(k->trigger_type, "DELETE") == 0)
		put(si, "deleteSavepointFailures",
		    r->error[0] ? cJSON_CreateNumber((double)(k->delete_failures + 1))
				: cJSON_CreateNull());
	/* A failed upgrade savepoint ends the upgrade; the spec stays
	 * unreconciled, so it is tried again after the back-off. */
	if (upgrade && r->error[0]) {
		cJSON *rs = sub(r->status, "reconciliationStatus");
		put(rs, "state", cJSON_CreateString("DEPLOYED"));
		put(rs, "failedGeneration", cJSON_CreateNumber((double)r->app.generation));
	}
}

static void step_rescale(rctx *r)
{
	char path[200];
	snprintf(path, sizeof(path), "/jobs/%s", r->o.job_id);
	cJSON *job = NULL, *body = NULL;
	long st = 0;
	cm_err err = {0};
	int64_t p = op_spec_parallelism(&r->app.spec);
	if (jm_call(r, "GET", path, NULL, &job, &st, &err) != 0) {
		fail(r, "Error", "cannot read job %s to rescale it: %s", r->o.job_id, err.msg);
		return;
	}
	/* The plan says which vertices the job gave a parallelism of their
	 * own (fixed_parallelism): those keep it, as they would in a job
	 * restarted with the new default; the rest take p. */
	cJSON *plan = NULL;
	snprintf(path, sizeof(path), "/jobs/%s/plan", r->o.job_id);
	if (jm_call(r, "GET", path, NULL, &plan, &st, &err) != 0) {
		cJSON_Delete(job);
		fail(r, "Error", "cannot read the plan of job %s to rescale it: %s", r->o.job_id,
		     err.msg);
		return;
	}
	const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(plan, "plan"), "nodes");
	body = cJSON_CreateObject();
	const cJSON *v;
	bool ok = body != NULL;
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(job, "vertices"))
	{
		const char *vid = k8s_str(v, "id");
		const cJSON *maxp = cJSON_GetObjectItemCaseSensitive(v, "maxParallelism");
		int64_t upper = p;
		const cJSON *node;
		cJSON_ArrayForEach(node, nodes)
		{
			const char *nid = k8s_str(node, "id");
			const cJSON *fixed =
			    cJSON_GetObjectItemCaseSensitive(node, "fixed_parallelism");
			if (vid && nid && strcmp(vid, nid) == 0 && cJSON_IsNumber(fixed) &&
			    fixed->valuedouble >= 1)
				upper = (int64_t)fixed->valuedouble;
		}
		if (cJSON_IsNumber(maxp) && maxp->valuedouble >= 1 && maxp->valuedouble < upper)
			upper = (int64_t)maxp->valuedouble;
		cJSON *e = cJSON_CreateObject(), *par;
		ok = ok && vid && e && (par = cJSON_AddObjectToObject(e, "parallelism")) &&
		     cJSON_AddNumberToObject(par, "lowerBound", 1) &&
		     cJSON_AddNumberToObject(par, "upperBound", (double)upper) &&
		     cJSON_AddItemToObject(body, vid, e);
		if (!ok) {
			cJSON_Delete(e);
			break;
		}
	}
	char *text = ok ? cJSON_PrintUnformatted(body) : NULL;
	cJSON_Delete(job);
	cJSON_Delete(plan);
	cJSON_Delete(body);
	if (!text) {
		fail(r, "Error", "cannot rescale job %s: no vertices or out of memory",
		     r->o.job_id);
		return;
	}
	snprintf(path, sizeof(path), "/jobs/%s/resource-requirements", r->o.job_id);
	int rc = jm_call(r, "PUT", path, text, NULL, &st, &err);
	free(text);
	if (rc) {
		fail(r, "Error", "rescaling job %s to %lld refused: %s", r->o.job_id, (long long)p,
		     err.msg);
		return;
	}
	record_spec(r);
	event(r, false, "Scaling",
	      "job %s rescales in place to parallelism %lld (%lld TaskManager pods of %lld slots)",
	      r->o.job_id, (long long)p, (long long)op_spec_taskmanagers(&r->app.spec),
	      (long long)r->app.spec.slots);
}

/* ------------------------------------------------------------- deletion */

/*
 * metadata.finalizers with OP_FINALIZER added (add) or removed, as a merge
 * patch at the resourceVersion read: a concurrent change of the object
 * (another finalizer added or removed) makes it fail with a Conflict and
 * the reconcile tries again, so no one else's finalizer is ever dropped.
 */
static int patch_finalizers(rctx *r, bool add)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(r->app.obj, "metadata");
	const char *rv = k8s_str(md, "resourceVersion");
	cJSON *patch = cJSON_CreateObject(), *pm = NULL, *list = NULL;
	bool ok = patch && rv && (pm = cJSON_AddObjectToObject(patch, "metadata")) &&
		  cJSON_AddStringToObject(pm, "resourceVersion", rv) &&
		  (list = cJSON_AddArrayToObject(pm, "finalizers"));
	const cJSON *f;
	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(md, "finalizers"))
	{
		if (ok && cJSON_IsString(f) && strcmp(f->valuestring, OP_FINALIZER) != 0)
			ok = cJSON_AddItemToArray(list, cJSON_CreateString(f->valuestring));
	}
	if (ok && add)
		ok = cJSON_AddItemToArray(list, cJSON_CreateString(OP_FINALIZER));
	k8s_err ke;
	k8s_err_clear(&ke);
	int rc = ok ? k8s_merge_patch(r->kc, &OP_FLINKAPPLICATIONS, r->app.ns, r->app.object_name,
				      NULL, patch, NULL, &ke)
		    : FL_ENOMEM;
	cJSON_Delete(patch);
	if (rc && ok && !add && k8s_err_is(&ke, "NotFound"))
		rc = 0; /* gone already */
	if (rc && ok && k8s_err_is(&ke, "Conflict"))
		CM_INFO(COMP, "%s/%s: the object changed: the finalizer waits for the next look",
			r->app.ns, r->app.name);
	else if (rc)
		fail(r, "Error", "cannot %s the finalizer %s: %s", add ? "add" : "remove",
		     OP_FINALIZER, ok ? ke.e.msg : "out of memory");
	else
		CM_INFO(COMP, "%s/%s: finalizer %s %s", r->app.ns, r->app.name, OP_FINALIZER,
			add ? "added" : "removed: the application goes");
	return rc;
}

/* How many objects of kind res labelled sel there are (-1: unknown). */
static int64_t count(rctx *r, const k8s_resource *res, const char *sel, cJSON **items)
{
	k8s_list_opts lo = {.label_selector = sel};
	cJSON *list = NULL;
	k8s_err ke;
	k8s_err_clear(&ke);
	if (k8s_list(r->kc, res, r->app.ns, &lo, &list, &ke) != 0) {
		CM_WARN(COMP, "%s/%s: %s", r->app.ns, r->app.name, ke.e.msg);
		return -1;
	}
	int64_t n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(list, "items"));
	if (items)
		*items = list;
	else
		cJSON_Delete(list);
	return n;
}

/* While deleting: what of the cluster is left besides its Deployment (pods,
 * Services, ConfigMaps), and
 * its HA ConfigMaps (which have no owner: they outlive a Deployment). */
static void observe_leftovers(rctx *r)
{
	char sel[256];
	snprintf(sel, sizeof(sel), "app=%s,type=%s,configmap-type!=high-availability",
		 r->app.name, K8S_TYPE_LABEL);
	/* Not Secrets: the operator may create them, never read them (the
	 * Deployment's Foreground deletion waits for its Secret anyway). */
	const k8s_resource *kinds[] = {&K8S_PODS, &K8S_SERVICES, &K8S_CONFIGMAPS};
	r->o.leftovers = 0;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(*kinds); i++) {
		int64_t n = count(r, kinds[i], sel, NULL);
		r->o.leftovers += n < 0 ? 1 : n; /* unknown: not gone */
	}
	snprintf(sel, sizeof(sel), "app=%s,configmap-type=high-availability", r->app.name);
	int64_t n = count(r, &K8S_CONFIGMAPS, sel, NULL);
	r->o.ha_configmaps = n < 0 ? 1 : n;
}

/* ------------------------------------------------------------------ status */

static void compose_status(rctx *r, const op_step *step)
{
	cJSON *st = r->status;
	op_app *app = &r->app;
	char now[40];
	now_rfc3339(now, sizeof(now));
	if (r->changed_spec) {
		put(sub(st, "reconciliationStatus"), "failedGeneration", cJSON_CreateNull());
		app->kept.failed_generation = 0;
		char *canon = NULL;
		cm_err err = {0};
		if (op_spec_canonical(cJSON_GetObjectItemCaseSensitive(app->obj, "spec"), &canon,
				      &err) == 0) {
			cJSON *rs = sub(st, "reconciliationStatus");
			put(rs, "lastReconciledSpec", cJSON_CreateString(canon));
			put(rs, "reconciliationTimestamp",
			    cJSON_CreateNumber((double)cm_wall_ms()));
			snprintf(app->kept.last_spec, sizeof(app->kept.last_spec), "%s", canon);
			free(canon);
		} else {
			fail(r, "Error", "%s", err.msg);
		}
	}
	/* What status says now feeds the lifecycle. */
	const cJSON *rsv = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(st, "reconciliationStatus"), "state");
	app->kept.upgrading = cJSON_IsString(rsv) && strcmp(rsv->valuestring, "UPGRADING") == 0;
	const char *lc = op_lifecycle(app, &r->o);
	if (strcmp(lc, "STABLE") == 0) {
		const char *ls =
		    k8s_str(cJSON_GetObjectItemCaseSensitive(st, "reconciliationStatus"),
			    "lastReconciledSpec");
		if (ls)
			put(sub(st, "reconciliationStatus"), "lastStableSpec",
			    cJSON_CreateString(ls));
	}
	put(st, "lifecycleState", cJSON_CreateString(lc));
	put(st, "jobManagerDeploymentStatus", cJSON_CreateString(op_deployment_status(&r->o)));
	put(st, "clusterId", cJSON_CreateString(app->name));
	if (step->action == OP_ACT_NONE || step->action == OP_ACT_INVALID || r->changed_spec)
		put(st, "observedGeneration", cJSON_CreateNumber((double)app->generation));
	/* A failed upgrade's error stays until the spec changes. */
	const char *kept_error = k8s_str(st, "error");
	bool app_error_new = r->app_error[0] && app->valid && !r->error[0] &&
			     (!kept_error || strcmp(kept_error, r->app_error) != 0);
	const char *err = !app->valid	? app->invalid.msg
			  : r->error[0] ? r->error
			  : r->app_error[0] ? r->app_error
			  : (app->kept.failed_generation == app->generation ||
			     (app->deleting && app->kept.delete_failures > 0)) &&
				    kept_error
			      ? kept_error
			      : "";
	char errbuf[512];
	snprintf(errbuf, sizeof(errbuf), "%s", err);
	err = errbuf;
	put(st, "error", *err ? cJSON_CreateString(err) : cJSON_CreateNull());
	cJSON *js = sub(st, "jobStatus");
	if (r->o.job_id[0]) {
		if (strcmp(r->o.job_state, app->kept.job_state) != 0 && r->o.job_state[0])
			event(r, strcmp(r->o.job_state, "FAILED") == 0, "JobStatusChanged",
			      "job %s is %s (was %s)", r->o.job_id, r->o.job_state,
			      app->kept.job_state[0] ? app->kept.job_state : "not running");
		bool moved = !k8s_str(js, "jobId") || !k8s_str(js, "state") ||
			     strcmp(k8s_str(js, "jobId"), r->o.job_id) != 0 ||
			     strcmp(k8s_str(js, "state"), r->o.job_state) != 0 ||
			     !k8s_str(js, "updateTime");
		put(js, "jobId", cJSON_CreateString(r->o.job_id));
		put(js, "state", cJSON_CreateString(r->o.job_state));
		put(js, "jobName", cJSON_CreateString(r->o.job_name));
		if (r->o.job_start_ms > 0) {
			time_t t = (time_t)(r->o.job_start_ms / 1000);
			struct tm tm;
			char when[40];
			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			put(js, "startTime", cJSON_CreateString(when));
		}
		/* updateTime moves only with the job: an unchanged status is not
		 * written (each write is a watch event, i.e. another reconcile). */
		if (moved)
			put(js, "updateTime", cJSON_CreateString(now));
	} else if (r->o.deployment == OP_DEP_MISSING) {
		put(js, "state", cJSON_CreateString(app->spec.suspended ? "SUSPENDED" : ""));
	}
	if (app->spec.has_job)
		put(js, "parallelism", cJSON_CreateNumber((double)op_spec_parallelism(&app->spec)));
	cJSON *tm = sub(st, "taskManager");
	char sel[128];
	snprintf(sel, sizeof(sel), "app=%s,component=taskmanager", app->name);
	put(tm, "replicas", cJSON_CreateNumber((double)r->o.tm_pods));
	put(tm, "readyReplicas", cJSON_CreateNumber((double)r->o.tm_ready));
	put(tm, "labelSelector", cJSON_CreateString(sel));
	/* Conditions keep their lastTransitionTime while their status holds. */
	op_condition c[3];
	op_conditions(app, &r->o, lc, err, c);
	if (r->refused && r->error[0] && c[2].status)
		snprintf(c[2].reason, sizeof(c[2].reason), "ValidationError");
	if (r->app_error[0] && app->valid && !r->error[0] && c[2].status)
		snprintf(c[2].reason, sizeof(c[2].reason), "ApplicationFailed");
	if (app_error_new)
		event(r, true, "Error", "%s", r->app_error);
	cJSON *old = cJSON_GetObjectItemCaseSensitive(st, "conditions");
	cJSON *conds = cJSON_CreateArray();
	for (int i = 0; conds && i < 3; i++) {
		const char *since = now;
		const cJSON *oc;
		cJSON_ArrayForEach(oc, old)
		{
			const char *t = k8s_str(oc, "type"), *s = k8s_str(oc, "status"),
				   *lt = k8s_str(oc, "lastTransitionTime");
			if (t && s && lt && strcmp(t, c[i].type) == 0 &&
			    strcmp(s, c[i].status ? "True" : "False") == 0)
				since = lt;
		}
		cJSON *e = cJSON_CreateObject();
		if (!e)
			break;
		cJSON_AddStringToObject(e, "type", c[i].type);
		cJSON_AddStringToObject(e, "status", c[i].status ? "True" : "False");
		cJSON_AddStringToObject(e, "reason", c[i].reason);
		cJSON_AddStringToObject(e, "message", c[i].message);
		cJSON_AddStringToObject(e, "lastTransitionTime", since);
		cJSON_AddNumberToObject(e, "observedGeneration", (double)app->generation);
		cJSON_AddItemToArray(conds, e);
	}
	put(st, "conditions", conds);
}

/* Removes null members, recursively: status is written whole (PUT), where a
 * null and an absent field mean the same, and the API server stores neither
 * (it prunes nulls of fields that are not nullable). */
static void drop_nulls(cJSON *o, int depth)
{
	cJSON *c = o ? o->child : NULL;
	while (c && depth < 32) {
		cJSON *next = c->next;
		if (cJSON_IsNull(c) && cJSON_IsObject(o))
			cJSON_Delete(cJSON_DetachItemViaPointer(o, c));
		else
			drop_nulls(c, depth + 1);
		c = next;
	}
}

/* Writes r->status through the status subresource at the resourceVersion
 * the object was read at. */
static int write_status(rctx *r)
{
	cJSON *obj = cJSON_Duplicate(r->app.obj, true);
	if (!obj || !put(obj, "status", cJSON_Duplicate(r->status, true))) {
		cJSON_Delete(obj);
		return FL_ENOMEM;
	}
	k8s_err ke;
	k8s_err_clear(&ke);
	int rc = k8s_update(r->kc, &OP_FLINKAPPLICATIONS, r->app.ns, r->app.object_name, "status",
			    obj, NULL, &ke);
	cJSON_Delete(obj);
	if (rc)
		CM_WARN(COMP, "%s/%s: cannot write status: %s", r->app.ns, r->app.name, ke.e.msg);
	return rc;
}

/* --------------------------------------------------------------- reconcile */

void op_reconcile(k8s_client *kc, const char *ns, const char *name, op_result *res)
{
	memset(res, 0, sizeof(*res));
	rctx r = {.kc = kc};
	cJSON *obj = NULL;
	k8s_err ke;
	k8s_err_clear(&ke);
	if (k8s_get(kc, &OP_FLINKAPPLICATIONS, ns, name, &obj, &ke) != 0) {
		if (k8s_err_is(&ke, "NotFound")) {
			CM_INFO(COMP, "%s/%s: deleted; its cluster goes with it (owner references)",
				ns, name);
			return;
		}
		CM_WARN(COMP, "%s/%s: %s", ns, name, ke.e.msg);
		res->failed = true;
		return;
	}
	cm_err err = {0};
	if (op_app_decode(&r.app, obj, &err) != 0) {
		CM_WARN(COMP, "%s/%s: ignored: %s", ns, name, err.msg);
		op_app_fini(&r.app);
		return;
	}
	if (r.app.deleting && !r.app.has_finalizer) {
		CM_INFO(COMP, "%s/%s: being deleted (not holding it)", ns, name);
		op_app_fini(&r.app);
		return;
	}
	const cJSON *old = cJSON_GetObjectItemCaseSensitive(obj, "status");
	r.status = cJSON_IsObject(old) ? cJSON_Duplicate(old, true) : cJSON_CreateObject();
	if (!r.status) {
		res->failed = true;
		op_app_fini(&r.app);
		return;
	}
	if (observe(&r) != 0) {
		res->failed = true;
		cJSON_Delete(r.status);
		op_app_fini(&r.app);
		return;
	}
	r.o.now_ms = cm_wall_ms();
	if (r.app.deleting) {
		observe_leftovers(&r);
		backoff_apply(&r.app.kept, r.app.uid);
	}
	op_diff d = {0};
	op_step step = {0};
	if (r.app.valid && !r.app.deleting && op_spec_diff(&r.app, &d, &err) != 0)
		fail(&r, "Error", "%s", err.msg);
	op_decide(&r.app, &d, &r.o, &step);
	if (step.action != OP_ACT_NONE && step.action != OP_ACT_WAIT)
		CM_INFO(COMP, "%s/%s: %s (%s)", ns, name, op_action_name(step.action), step.why);
	bool send = false, stop = false;
	res->requeue_ms = 2000;
	switch (step.action) {
	case OP_ACT_INVALID: {
		const char *was = k8s_str(old, "error");
		if (!was || strcmp(was, r.app.invalid.msg) != 0)
			event(&r, true, "ValidationError", "%s (nothing running was changed)",
			      r.app.invalid.msg);
		res->requeue_ms = 0;
		break;
	}
	case OP_ACT_DEPLOY:
		step_deploy(&r, &step);
		break;
	case OP_ACT_BEGIN_UPGRADE:
		/* Nothing of the running cluster goes before Kubernetes has
		 * accepted the new one's Deployment (a dry run). */
		if (!r.app.spec.suspended && create_cluster(&r, NULL, true) != 0)
			break;
		put(sub(r.status, "reconciliationStatus"), "state",
		    cJSON_CreateString("UPGRADING"));
		event(&r, false,
		      d.upgrade		     ? "SpecChanged"
		      : r.app.spec.suspended ? "Suspended"
					     : "SpecChanged",
		      "%s (upgrade mode %s)", step.why,
		      r.app.spec.upgrade_mode == OP_STATELESS	? "stateless"
		      : r.app.spec.upgrade_mode == OP_SAVEPOINT ? "savepoint"
								: "last-state");
		res->requeue_ms = 100;
		break;
	case OP_ACT_STOP_SAVEPOINT:
	case OP_ACT_TRIGGER_SAVEPOINT:
		stop = step.action == OP_ACT_STOP_SAVEPOINT;
		step_savepoint(&r, &step, stop);
		send = !r.error[0];
		res->requeue_ms = 1000;
		break;
	case OP_ACT_POLL_SAVEPOINT:
		step_poll(&r);
		res->requeue_ms = 1000;
		break;
	case OP_ACT_DELETE:
		step_delete(&r, &step);
		res->requeue_ms = 1000;
		break;
	case OP_ACT_MARK_SUSPENDED:
		put(sub(r.status, "reconciliationStatus"), "state", cJSON_CreateString("DEPLOYED"));
		put(sub(r.status, "reconciliationStatus"), "upgradeSavepoint", cJSON_CreateNull());
		record_spec(&r);
		event(&r, false, "Suspended", "%s", step.why);
		break;
	case OP_ACT_RESCALE:
		step_rescale(&r);
		break;
	case OP_ACT_RECORD:
		record_spec(&r);
		break;
	case OP_ACT_WAIT:
		/* A deletion waits on the garbage collector (no watch on the
		 * cluster's objects): kubectl delete returns when it is done. */
		if (step.wait_ms > 0)
			CM_INFO(COMP, "%s/%s: %s", ns, name, step.why);
		res->requeue_ms = step.wait_ms > 0 ? (long)step.wait_ms + 50
				  : r.app.deleting ? 500
						   : 2000;
		break;
	case OP_ACT_ADD_FINALIZER:
	case OP_ACT_REMOVE_FINALIZER:
		/* The object changes (or goes): no status write at the old
		 * resourceVersion; the watch event brings the next reconcile. */
		if (patch_finalizers(&r, step.action == OP_ACT_ADD_FINALIZER) != 0) {
			res->failed = true;
			if (r.error[0])
				break; /* refused (not a conflict): said in status too */
		} else if (step.action == OP_ACT_ADD_FINALIZER) {
			res->requeue_ms = 100;
		} else {
			res->requeue_ms = 0;
			backoff_note(r.app.uid, 0, 0);
		}
		cJSON_Delete(r.status);
		op_app_fini(&r.app);
		return;
	case OP_ACT_DELETE_HA:
		(void)drop_ha(&r, "the application is deleted");
		res->requeue_ms = 500;
		break;
	case OP_ACT_NONE:
		/* Stable and complete: a slow look; anything still on its way (pods
		 * of a rescale starting): soon. */
		res->requeue_ms = strcmp(op_lifecycle(&r.app, &r.o), "STABLE") == 0 &&
					  (!r.app.spec.has_job ||
					   r.o.tm_ready >= op_spec_taskmanagers(&r.app.spec) ||
					   strcmp(r.o.job_state, "RUNNING") != 0)
				      ? 15000
				      : 2000;
		/* The next periodic savepoint is due before that: look then. */
		int64_t due = op_periodic_due_in(&r.app, &r.o);
		if (due >= 0 && due + 50 < res->requeue_ms)
			res->requeue_ms = (long)due + 50;
		trim_history(&r); /* entries past max.age */
		break;
	}
	compose_status(&r, &step);
	drop_nulls(r.status, 0);
	/* Nothing new: no write, so no watch event and no reconcile it would
	 * cause (a status write per reconcile would loop). */
	cJSON *was = cJSON_GetObjectItemCaseSensitive(r.app.obj, "status");
	if (cJSON_IsObject(was) && cJSON_Compare(was, r.status, true)) {
		/* nothing to write */
	} else if (write_status(&r) != 0) {
		res->failed = true;
	} else {
		if (send)
			send_savepoint(&r, stop);
		dispose_all(&r);
	}
	for (int i = 0; i < r.ndispose; i++)
		free(r.dispose[i]);
	if (r.error[0])
		res->failed = true;
	cJSON_Delete(r.status);
	op_app_fini(&r.app);
}
