/*
 * lease.c — leader election on a Lease: see lease.h.
 */
#include "k8s/lease.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/sync.h"
#include "k8s/client.h"

struct k8s_lease {
	k8s_client *kc; /* the thread's; after it ended, k8s_lease_free's */
	char ns[254], name[254], id[K8S_LEASE_ID_MAX], app[64], owner_uid[64], owner_name[254];
	int64_t duration_ms, deadline_ms, retry_ms;
	void (*on_grant)(void *arg);
	void (*on_revoke)(void *arg);
	void *arg;
	pthread_t thread;
	bool started;
	atomic_int abort; /* stops a request in flight */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;	    /* mu */
	bool leader;	    /* mu */
	int64_t renewed_ms; /* mu: monotonic time of the last write that won */
	/* The record as last seen (thread only): a change restarts expiry. */
	char seen_holder[K8S_LEASE_ID_MAX], seen_renew[40], seen_rv[64];
	int64_t seen_ms;
};

int k8s_lease_identity(char *buf, size_t cap)
{
	char host[256] = "";
	const char *pod = getenv("POD_NAME");
	if (!pod || !*pod) {
		if (gethostname(host, sizeof(host) - 1) != 0)
			snprintf(host, sizeof(host), "flinc");
		pod = host;
	}
	uint8_t r[8];
	if (cm_random(r, sizeof(r)) != 0)
		return FL_EIO;
	int n = snprintf(buf, cap, "%.250s-%02x%02x%02x%02x%02x%02x%02x%02x", pod, r[0], r[1], r[2],
			 r[3], r[4], r[5], r[6], r[7]);
	return n > 0 && (size_t)n < cap ? 0 : FL_ERANGE;
}

int k8s_lease_opts_check(const k8s_lease_opts *o, cm_err *err)
{
	if (!o->ns || !*o->ns || !o->name || !*o->name || !o->identity || !*o->identity)
		return cm_err_set(err, FL_EINVAL,
				  "a Lease candidate needs a namespace, a name and "
				  "an identity");
	if (strlen(o->ns) > 253 || strlen(o->name) > 253 ||
	    strlen(o->identity) >= K8S_LEASE_ID_MAX ||
	    (o->labels_app && strlen(o->labels_app) > 63))
		return cm_err_set(err, FL_EINVAL,
				  "Lease %.100s: a name or the identity is too long", o->name);
	if (o->retry_period_ms <= 0 || o->renew_deadline_ms <= o->retry_period_ms ||
	    o->lease_duration_ms <= o->renew_deadline_ms)
		return cm_err_set(
		    err, FL_EINVAL,
		    "high-availability.kubernetes.leader-election: retry-period (%lld ms) must be "
		    "positive and below renew-deadline (%lld ms), which must be below "
		    "lease-duration (%lld ms)",
		    (long long)o->retry_period_ms, (long long)o->renew_deadline_ms,
		    (long long)o->lease_duration_ms);
	if (o->lease_duration_ms / 1000 > 86400 * 365)
		return cm_err_set(err, FL_EINVAL,
				  "high-availability.kubernetes.leader-election.lease-duration is "
				  "too long");
	return 0;
}

enum k8s_lease_step k8s_lease_decide(const char *holder, const char *me, int64_t observed_ms,
				     int64_t duration_ms, int64_t default_ms, int64_t now_ms)
{
	if (!holder || !*holder)
		return K8S_LEASE_TAKE;
	if (strcmp(holder, me) == 0)
		return K8S_LEASE_RENEW;
	int64_t d = duration_ms > 0 ? duration_ms : default_ms;
	return now_ms - observed_ms >= d ? K8S_LEASE_TAKE : K8S_LEASE_WAIT;
}

void k8s_micro_time(int64_t wall_ms, char *buf, size_t cap)
{
	time_t s = (time_t)(wall_ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	unsigned micros = (unsigned)(((wall_ms % 1000) + 1000) % 1000) * 1000u;
	int n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
	if (n < 0 && cap)
		buf[0] = '\0';
}

/* Sets obj.spec to name holder (NULL: free) now; take: a new term. */
static bool fill_spec(k8s_lease *l, cJSON *obj, const char *holder, bool take)
{
	cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
	if (!cJSON_IsObject(spec)) {
		cJSON_DeleteItemFromObjectCaseSensitive(obj, "spec");
		if (!(spec = cJSON_AddObjectToObject(obj, "spec")))
			return false;
	}
	char now[40];
	k8s_micro_time(cm_wall_ms(), now, sizeof(now));
	const char *prev = k8s_str(obj, "spec.holderIdentity");
	bool transition = take && prev && *prev && holder && strcmp(prev, holder) != 0;
	cJSON *tr = cJSON_GetObjectItemCaseSensitive(spec, "leaseTransitions");
	double transitions = cJSON_IsNumber(tr) ? tr->valuedouble : 0;
	if (transition)
		transitions += 1;
	cJSON_DeleteItemFromObjectCaseSensitive(spec, "holderIdentity");
	cJSON_DeleteItemFromObjectCaseSensitive(spec, "renewTime");
	cJSON_DeleteItemFromObjectCaseSensitive(spec, "leaseDurationSeconds");
	cJSON_DeleteItemFromObjectCaseSensitive(spec, "leaseTransitions");
	bool ok = cJSON_AddNumberToObject(spec, "leaseTransitions", transitions) &&
		  cJSON_AddNumberToObject(spec, "leaseDurationSeconds",
					  holder ? (double)((l->duration_ms + 999) / 1000) : 1.0) &&
		  cJSON_AddStringToObject(spec, "renewTime", now);
	if (ok && holder)
		ok = cJSON_AddStringToObject(spec, "holderIdentity", holder) != NULL;
	if (ok && take) {
		cJSON_DeleteItemFromObjectCaseSensitive(spec, "acquireTime");
		ok = cJSON_AddStringToObject(spec, "acquireTime", now) != NULL;
	}
	return ok;
}

static void remember(k8s_lease *l, const cJSON *obj, int64_t now)
{
	const char *h = k8s_str(obj, "spec.holderIdentity");
	const char *r = k8s_str(obj, "spec.renewTime");
	const char *v = k8s_str(obj, "metadata.resourceVersion");
	h = h ? h : "";
	r = r ? r : "";
	v = v ? v : "";
	if (strcmp(h, l->seen_holder) != 0 || strcmp(r, l->seen_renew) != 0 ||
	    strcmp(v, l->seen_rv) != 0 || !l->seen_ms) {
		snprintf(l->seen_holder, sizeof(l->seen_holder), "%s", h);
		snprintf(l->seen_renew, sizeof(l->seen_renew), "%s", r);
		snprintf(l->seen_rv, sizeof(l->seen_rv), "%s", v);
		l->seen_ms = now;
	}
}

static cJSON *new_lease(k8s_lease *l)
{
	cJSON *o = cJSON_CreateObject(), *md, *labels, *refs, *ref;
	bool ok = o && cJSON_AddStringToObject(o, "apiVersion", "coordination.k8s.io/v1") &&
		  cJSON_AddStringToObject(o, "kind", "Lease") &&
		  (md = cJSON_AddObjectToObject(o, "metadata")) &&
		  cJSON_AddStringToObject(md, "name", l->name) &&
		  cJSON_AddStringToObject(md, "namespace", l->ns);
	if (ok && l->app[0])
		ok = (labels = cJSON_AddObjectToObject(md, "labels")) &&
		     cJSON_AddStringToObject(labels, "app", l->app) &&
		     cJSON_AddStringToObject(labels, "component", "jobmanager");
	if (ok && l->owner_uid[0])
		ok = (refs = cJSON_AddArrayToObject(md, "ownerReferences")) &&
		     (ref = cJSON_CreateObject()) && cJSON_AddItemToArray(refs, ref) &&
		     cJSON_AddStringToObject(ref, "apiVersion", "apps/v1") &&
		     cJSON_AddStringToObject(ref, "kind", "Deployment") &&
		     cJSON_AddStringToObject(ref, "name", l->owner_name) &&
		     cJSON_AddStringToObject(ref, "uid", l->owner_uid) &&
		     cJSON_AddTrueToObject(ref, "blockOwnerDeletion");
	if (ok && fill_spec(l, o, l->id, true))
		return o;
	cJSON_Delete(o);
	return NULL;
}

/* One round: 0 when this candidate holds the Lease after it, FL_EAGAIN-like
 * FL_ERANGE when another holds it, or the API's error. */
static int try_once(k8s_lease *l)
{
	k8s_err e;
	k8s_err_clear(&e);
	cJSON *cur = NULL, *out = NULL;
	int64_t now = cm_now_ms();
	int rc = k8s_get(l->kc, &K8S_LEASES, l->ns, l->name, &cur, &e);
	if (rc == FL_ENOENT) {
		cJSON *o = new_lease(l);
		if (!o)
			return FL_ENOMEM;
		k8s_err_clear(&e);
		rc = k8s_create(l->kc, &K8S_LEASES, l->ns, o, &out, &e);
		cJSON_Delete(o);
		if (rc == 0)
			remember(l, out, now);
		else if (!k8s_err_is(&e, "AlreadyExists"))
			CM_WARN("lease", "Cannot create lease/%s: %s", l->name, e.e.msg);
		cJSON_Delete(out);
		return rc;
	}
	if (rc) {
		CM_WARN("lease", "Cannot read lease/%s: %s", l->name, e.e.msg);
		return rc;
	}
	remember(l, cur, now);
	cJSON *d = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cur, "spec"),
						    "leaseDurationSeconds");
	int64_t dur = cJSON_IsNumber(d) && d->valuedouble > 0 && d->valuedouble < 1e9
			  ? (int64_t)d->valuedouble * 1000
			  : 0;
	enum k8s_lease_step step =
	    k8s_lease_decide(l->seen_holder, l->id, l->seen_ms, dur, l->duration_ms, now);
	if (step == K8S_LEASE_WAIT) {
		cJSON_Delete(cur);
		return FL_ERANGE;
	}
	char prev[K8S_LEASE_ID_MAX];
	snprintf(prev, sizeof(prev), "%s", l->seen_holder);
	if (!fill_spec(l, cur, l->id, step == K8S_LEASE_TAKE)) {
		cJSON_Delete(cur);
		return FL_ENOMEM;
	}
	/* The PUT carries the resourceVersion read: a candidate that wrote in
	 * between makes it fail with 409 Conflict. */
	k8s_err_clear(&e);
	rc = k8s_update(l->kc, &K8S_LEASES, l->ns, l->name, NULL, cur, &out, &e);
	cJSON_Delete(cur);
	if (rc == 0) {
		remember(l, out, now);
		if (step == K8S_LEASE_TAKE)
			CM_INFO("lease", "%s took lease/%s (from '%s')", l->id, l->name, prev);
	} else if (!k8s_err_is(&e, "Conflict")) {
		CM_WARN("lease", "Cannot write lease/%s: %s", l->name, e.e.msg);
	}
	cJSON_Delete(out);
	return rc;
}

static void *lease_main(void *arg)
{
	k8s_lease *l = arg;
	pthread_setname_np(pthread_self(), "k8s-lease");
	pthread_mutex_lock(&l->mu);
	while (!l->stop) {
		pthread_mutex_unlock(&l->mu);
		int rc = try_once(l);
		int64_t now = cm_now_ms();
		bool grant = false, revoke = false;
		pthread_mutex_lock(&l->mu);
		if (rc == 0) {
			l->renewed_ms = now;
			grant = !l->leader;
			l->leader = true;
		} else if (l->leader && now - l->renewed_ms >= l->deadline_ms) {
			l->leader = false;
			revoke = true;
		}
		if (grant || revoke)
			pthread_cond_broadcast(&l->cv);
		pthread_mutex_unlock(&l->mu);
		if (grant) {
			CM_INFO("lease", "%s leads (lease/%s)", l->id, l->name);
			if (l->on_grant)
				l->on_grant(l->arg);
		}
		if (revoke) {
			CM_WARN("lease",
				"%s lost the leadership: lease/%s not renewed for %lld ms "
				"(renew-deadline)",
				l->id, l->name, (long long)(now - l->renewed_ms));
			if (l->on_revoke)
				l->on_revoke(l->arg);
		}
		pthread_mutex_lock(&l->mu);
		/* A leader renews every retry period; so does a candidate try. A
		 * leader whose renewal failed tries again sooner. */
		int64_t wait = rc == 0 || !l->leader ? l->retry_ms : l->retry_ms / 4;
		struct timespec ts = cm_deadline_ts(cm_now_ms() + wait);
		while (!l->stop && cm_now_ms() < now + wait)
			if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) != 0)
				break;
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

int k8s_lease_start(k8s_lease **out, const k8s_config *cfg, const k8s_lease_opts *o, cm_err *err)
{
	*out = NULL;
	int rc = k8s_lease_opts_check(o, err);
	if (rc)
		return rc;
	k8s_lease *l = calloc(1, sizeof(*l));
	if (!l)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	snprintf(l->ns, sizeof(l->ns), "%s", o->ns);
	snprintf(l->name, sizeof(l->name), "%s", o->name);
	snprintf(l->id, sizeof(l->id), "%s", o->identity);
	snprintf(l->app, sizeof(l->app), "%s", o->labels_app ? o->labels_app : "");
	if (o->owner_uid && o->owner_name) {
		snprintf(l->owner_uid, sizeof(l->owner_uid), "%s", o->owner_uid);
		snprintf(l->owner_name, sizeof(l->owner_name), "%s", o->owner_name);
	}
	l->duration_ms = o->lease_duration_ms;
	l->deadline_ms = o->renew_deadline_ms;
	l->retry_ms = o->retry_period_ms;
	l->on_grant = o->on_grant;
	l->on_revoke = o->on_revoke;
	l->arg = o->arg;
	pthread_mutex_init(&l->mu, NULL);
	if (cm_cond_init(&l->cv) != 0) {
		pthread_mutex_destroy(&l->mu);
		free(l);
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	}
	if ((rc = k8s_client_new(&l->kc, cfg, err)) != 0) {
		k8s_lease_free(l, false);
		return rc;
	}
	/* A request may not outlast the time a leader has to renew. */
	k8s_client_set_timeout_ms(l->kc, l->deadline_ms / 2 > 1000 ? l->deadline_ms / 2 : 1000);
	k8s_client_set_abort(l->kc, &l->abort);
	if (pthread_create(&l->thread, NULL, lease_main, l) != 0) {
		k8s_lease_free(l, false);
		return cm_err_set(err, FL_ENOMEM, "cannot start the lease thread");
	}
	l->started = true;
	*out = l;
	return 0;
}

bool k8s_lease_is_leader(k8s_lease *l)
{
	pthread_mutex_lock(&l->mu);
	bool yes = l->leader && cm_now_ms() - l->renewed_ms < l->deadline_ms;
	pthread_mutex_unlock(&l->mu);
	return yes;
}

bool k8s_lease_await(k8s_lease *l, int64_t wait_ms)
{
	int64_t until = wait_ms < 0 ? INT64_MAX : cm_now_ms() + wait_ms;
	pthread_mutex_lock(&l->mu);
	while (!l->leader && !l->stop && cm_now_ms() < until) {
		int64_t w = cm_now_ms() + 200 < until ? cm_now_ms() + 200 : until;
		struct timespec ts = cm_deadline_ts(w);
		pthread_cond_timedwait(&l->cv, &l->mu, &ts);
	}
	bool yes = l->leader;
	pthread_mutex_unlock(&l->mu);
	return yes;
}

const char *k8s_lease_id(const k8s_lease *l)
{
	return l->id;
}

/* Writes the Lease free when this candidate still holds it. */
static void release(k8s_lease *l)
{
	k8s_err e;
	k8s_err_clear(&e);
	cJSON *cur = NULL;
	if (k8s_get(l->kc, &K8S_LEASES, l->ns, l->name, &cur, &e) != 0) {
		CM_WARN("lease", "Cannot release lease/%s: %s", l->name, e.e.msg);
		return;
	}
	const char *h = k8s_str(cur, "spec.holderIdentity");
	if (h && strcmp(h, l->id) == 0 && fill_spec(l, cur, NULL, false)) {
		k8s_err_clear(&e);
		if (k8s_update(l->kc, &K8S_LEASES, l->ns, l->name, NULL, cur, NULL, &e) == 0)
			CM_INFO("lease", "%s released lease/%s", l->id, l->name);
		else
			CM_WARN("lease", "Cannot release lease/%s: %s", l->name, e.e.msg);
	}
	cJSON_Delete(cur);
}

void k8s_lease_free(k8s_lease *l, bool rel)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	l->stop = true;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	atomic_store(&l->abort, 1);
	if (l->started)
		pthread_join(l->thread, NULL);
	atomic_store(&l->abort, 0);
	pthread_mutex_lock(&l->mu);
	bool led = l->leader;
	l->leader = false;
	pthread_mutex_unlock(&l->mu);
	if (led && rel && l->kc)
		release(l);
	if (led && l->on_revoke)
		l->on_revoke(l->arg);
	k8s_client_free(l->kc);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
}
