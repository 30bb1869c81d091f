/*
 * kubernetes.c — the JobManager's TaskManager pods and its cleanup on
 * Kubernetes: see kubernetes.h.
 */
#include "jobmanager/kubernetes.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "k8s/client.h"
#include "k8s/cluster.h"
#include "k8s/events.h"
#include "k8s/informer.h"
#include "k8s/podtemplate.h"
#include "k8s/workqueue.h"

/* Pods this JobManager keeps track of at once; more are not created. */
#define MAX_PODS 1024
#define RECONCILE_MS 500
/* After the API refused a pod, the next try waits this long. */
#define CREATE_BACKOFF_MS 5000

struct pod {
	char name[254]; /* a DNS subdomain: at most 253 */
	bool used;
	bool terminal;	    /* ended or being deleted: not counted */
	bool stuck;	    /* cannot start (reason logged once) */
	bool never;	    /* stuck for a reason that does not heal */
	char why[400];	    /* when stuck: for the slot request's error */
	int64_t idle_since; /* monotonic ms; 0: holds slots or not registered */
};

struct jm_k8s {
	k8s_cluster_spec spec;
	cJSON *tm_template; /* the TaskManager pod template, or NULL */
	k8s_config kcfg;
	k8s_client *kc; /* the pod thread's */
	char owner_uid[64];
	rm_resourcemanager *rm;
	int64_t idle_timeout_ms;
	k8s_queue *queue;
	k8s_informer *informer;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	struct pod pods[MAX_PODS];
	long next_index;
	int64_t no_create_before;
	bool events_refused; /* the API refused an event: no more tried */
	/* Why the last TaskManager pod could not be created ("" since one
	 * was), and whether the API forbade it (RBAC: it does not heal). */
	char create_why[512];
	bool create_forbidden;
};

static void record_event(jm_k8s *k, bool warning, const char *reason, const char *action,
			 const char *pod, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

bool jm_k8s_wanted(const cfg *c)
{
	const char *id = NULL;
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	return cfg_get_string(c, CFG_K8S_CLUSTER_ID, &id) == 0 && id && *id && host && *host;
}

static struct pod *find(jm_k8s *k, const char *name)
{
	for (size_t i = 0; i < MAX_PODS; i++)
		if (k->pods[i].used && strcmp(k->pods[i].name, name) == 0)
			return &k->pods[i];
	return NULL;
}

/* A new entry for name, or NULL when the table is full or the name is
 * longer than a pod name can be. */
static struct pod *add(jm_k8s *k, const char *name)
{
	size_t len = strnlen(name, sizeof(k->pods[0].name));
	if (len == sizeof(k->pods[0].name))
		return NULL;
	for (size_t i = 0; i < MAX_PODS; i++) {
		if (!k->pods[i].used) {
			struct pod *p = &k->pods[i];
			memset(p, 0, sizeof(*p));
			p->used = true;
			memcpy(p->name, name, len + 1);
			return p;
		}
	}
	return NULL;
}

static void delete_pod(jm_k8s *k, const char *name)
{
	k8s_err e;
	k8s_err_clear(&e);
	if (k8s_delete(k->kc, &K8S_PODS, k->spec.ns, name, NULL, NULL, &e) != 0 &&
	    !k8s_err_is(&e, "NotFound"))
		CM_WARN("kubernetes", "Could not delete TaskManager pod %s: %s", name, e.e.msg);
}

/* Why a container will not start by itself, or NULL. */
static const char *stuck_reason(const cJSON *pod, const char **msg)
{
	/* Init containers too: one that cannot start (a pod template's) holds
	 * the main container back as well. */
	static const char *const lists[] = {"initContainerStatuses", "containerStatuses"};
	for (size_t i = 0; i < 2; i++) {
		cJSON *cs;
		cJSON_ArrayForEach(cs, cJSON_GetObjectItemCaseSensitive(
					   cJSON_GetObjectItemCaseSensitive(pod, "status"), lists[i]))
		{
			const char *r = k8s_str(cs, "state.waiting.reason");
			if (r && (strstr(r, "ErrImage") || strcmp(r, "ImagePullBackOff") == 0 ||
				  strcmp(r, "InvalidImageName") == 0 || strstr(r, "CreateContainer"))) {
				*msg = k8s_str(cs, "state.waiting.message");
				return r;
			}
		}
	}
	/* Not placed on any node (too little CPU or memory, a taint). */
	cJSON *cond;
	cJSON_ArrayForEach(cond, cJSON_GetObjectItemCaseSensitive(
				     cJSON_GetObjectItemCaseSensitive(pod, "status"), "conditions"))
	{
		const char *type = k8s_str(cond, "type"), *status = k8s_str(cond, "status");
		const char *r = k8s_str(cond, "reason");
		if (type && status && r && strcmp(type, "PodScheduled") == 0 &&
		    strcmp(status, "False") == 0 && strcmp(r, "Unschedulable") == 0) {
			*msg = k8s_str(cond, "message");
			return r;
		}
	}
	return NULL;
}

/* Reasons a pod's container never gets past by itself: the job's slot
 * request fails at once instead of at slot.request.timeout. */
static bool never_heals(const char *why)
{
	return strcmp(why, "InvalidImageName") == 0 || strcmp(why, "ErrImageNeverPull") == 0;
}

/* The n of a pod named <id>-taskmanager-<attempt>-<n>, or 0. */
static long pod_index(const jm_k8s *k, const char *name)
{
	size_t idl = strlen(k->spec.id);
	const char *infix = "-taskmanager-";
	if (strncmp(name, k->spec.id, idl) != 0 || strncmp(name + idl, infix, strlen(infix)) != 0)
		return 0;
	const char *last = strrchr(name, '-');
	if (!last || !last[1])
		return 0;
	char *end = NULL;
	long n = strtol(last + 1, &end, 10);
	return end && *end == '\0' && n > 0 ? n : 0;
}

/* How a pod's container ended, for the log. */
static void ended_how(const cJSON *pod, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s",
		 k8s_str(pod, "status.reason") ? k8s_str(pod, "status.reason") : "");
	cJSON *cs;
	cJSON_ArrayForEach(
	    cs, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(pod, "status"),
						 "containerStatuses"))
	{
		cJSON *t = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(cs, "state"), "terminated");
		cJSON *code = cJSON_GetObjectItemCaseSensitive(t, "exitCode");
		const char *r = k8s_str(t, "reason");
		if (cJSON_IsNumber(code)) {
			size_t n = strlen(buf);
			snprintf(buf + n, cap - n, "%s%s exit code %d", n ? ", " : "", r ? r : "",
				 code->valueint);
		}
	}
	if (!buf[0])
		snprintf(buf, cap, "no reason given");
}

/* One pod changed, appeared or went (key "namespace/name"). */
static void observe(jm_k8s *k, const char *key)
{
	const char *name = strchr(key, '/');
	name = name ? name + 1 : key;
	cJSON *pod = NULL;
	int rc = k8s_informer_get(k->informer, key, &pod);
	struct pod *p = find(k, name);
	if (rc == FL_ENOENT) {
		if (p) {
			if (!p->terminal)
				CM_WARN("kubernetes", "TaskManager pod %s was deleted", name);
			/* Nothing may be placed on its TaskManager any more; one
			 * holding slots is lost to its job by heartbeat. */
			rm_drain(k->rm, name);
			p->used = false;
		}
		return;
	}
	if (rc != 0)
		return;
	if (!p && !(p = add(k, name))) {
		cJSON_Delete(pod);
		return;
	}
	/* Pods of an earlier JobManager (its pod restarted) are adopted: their
	 * TaskManagers register again; new pods are numbered after them. */
	long n = pod_index(k, name);
	if (n > k->next_index)
		k->next_index = n;
	const char *phase = k8s_str(pod, "status.phase");
	bool deleting = k8s_str(pod, "metadata.deletionTimestamp") != NULL;
	if (phase && (strcmp(phase, "Failed") == 0 || strcmp(phase, "Succeeded") == 0)) {
		if (!p->terminal) {
			char how[256];
			ended_how(pod, how, sizeof(how));
			CM_WARN("kubernetes", "TaskManager pod %s ended (%s): %s; deleting it",
				name, phase, how);
			rm_drain(k->rm, name);
			record_event(k, true, "TaskManagerEnded", "Delete", name,
				     "TaskManager pod %s ended (%s): %s", name, phase, how);
			p->terminal = true;
			delete_pod(k, name);
		}
	} else if (deleting) {
		if (!p->terminal) {
			/* Its process is stopping: a job restarting at once must
			 * not get its slots again (it would fail on them, and with
			 * a restart delay of 0 burn through its attempts). First,
			 * before the event's round trip to the API server. */
			rm_drain(k->rm, name);
			CM_WARN("kubernetes", "TaskManager pod %s is being deleted", name);
			record_event(k, true, "TaskManagerDeleted", "Delete", name,
				     "TaskManager pod %s is being deleted", name);
		}
		p->terminal = true;
	} else {
		const char *msg = NULL;
		const char *why = stuck_reason(pod, &msg);
		if (why && !p->stuck) {
			p->stuck = true;
			p->never = never_heals(why);
			char hint[700];
			if (strcmp(why, "Unschedulable") == 0)
				snprintf(
				    hint, sizeof(hint),
				    "it asks for %lld millicores and %lld bytes "
				    "(kubernetes.taskmanager.cpu, taskmanager.memory.process.size)",
				    (long long)(k->spec.tm_cpu_milli ? k->spec.tm_cpu_milli
								     : k->spec.tm_slots * 1000),
				    (long long)k->spec.tm_memory);
			else
				snprintf(hint, sizeof(hint), "kubernetes.container.image is '%.200s'%s%.200s",
					 k->spec.image,
					 k->tm_template ? "; images of the pod template " : "",
					 k->tm_template ? k->spec.pod_template[K8S_TM] : "");
			CM_ERROR("kubernetes",
				 "TaskManager pod %s cannot start: %s%s%s (%s); no more pods are "
				 "created while it waits",
				 name, why, msg ? ": " : "", msg ? msg : "", hint);
			snprintf(p->why, sizeof(p->why),
				 "TaskManager pod %s cannot start: %s%s%.200s", name, why,
				 msg ? ": " : "", msg ? msg : "");
			record_event(k, true, "TaskManagerCannotStart", "Create", name, "%s (%s)",
				     p->why, hint);
		} else if (!why && p->stuck) {
			p->stuck = p->never = false;
		}
	}
	cJSON_Delete(pod);
}

/*
 * Records an events.k8s.io/v1 Event on the JobManager Deployment about a
 * TaskManager pod (kubectl describe deployment/<id>, kubectl get events).
 * Best effort: a refusal is logged once, and no event is tried after it.
 */
static void record_event(jm_k8s *k, bool warning, const char *reason, const char *action,
			 const char *pod, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void record_event(jm_k8s *k, bool warning, const char *reason, const char *action,
			 const char *pod, const char *fmt, ...)
{
	if (k->events_refused)
		return;
	char note[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(note, sizeof(note), fmt, ap);
	va_end(ap);
	const char *me = getenv("POD_NAME");
	k8s_object_ref rel = {"v1", "Pod", pod, k->spec.ns, NULL};
	k8s_event ev = {.warning = warning,
			.reason = reason,
			.action = action,
			.note = note,
			.controller = "flinc.dev/jobmanager",
			.instance = me && *me ? me : k->spec.id,
			.regarding = {"apps/v1", "Deployment", k->spec.id, k->spec.ns, k->owner_uid},
			.related = &rel};
	k8s_err e;
	k8s_err_clear(&e);
	if (k8s_event_create(k->kc, k->spec.ns, &ev, &e) != 0) {
		CM_WARN(
		    "kubernetes",
		    "Cannot record events on deployment/%s: %s (the service account '%s' needs to "
		    "create events.k8s.io events); no more are tried",
		    k->spec.id, e.e.msg, k->spec.service_account);
		k->events_refused = true;
	}
}

static void create_pod(jm_k8s *k)
{
	char name[128];
	snprintf(name, sizeof(name), "%s-taskmanager-1-%ld", k->spec.id, ++k->next_index);
	cJSON *obj = NULL;
	cm_err err = {0};
	if (k8s_cluster_taskmanager_pod(&k->spec, name, k->owner_uid, &obj, &err) != 0 ||
	    k8s_pod_finish(obj, &k->spec, false, k->tm_template, &err) != 0) {
		cJSON_Delete(obj);
		CM_ERROR("kubernetes", "Cannot build TaskManager pod %s: %s", name, err.msg);
		k->no_create_before = cm_now_ms() + CREATE_BACKOFF_MS;
		return;
	}
	struct pod *p = add(k, name);
	if (!p) {
		CM_ERROR("kubernetes",
			 "Not creating TaskManager pod %s: %d pods are tracked already", name,
			 MAX_PODS);
		cJSON_Delete(obj);
		k->no_create_before = cm_now_ms() + CREATE_BACKOFF_MS;
		return;
	}
	k8s_err e;
	k8s_err_clear(&e);
	if (k8s_create(k->kc, &K8S_PODS, k->spec.ns, obj, NULL, &e) != 0) {
		CM_ERROR("kubernetes",
			 "Cannot create TaskManager pod %s: %s (the service account '%s' needs to "
			 "create pods)",
			 name, e.e.msg, k->spec.service_account);
		/* For the job's exceptions too: at once when RBAC forbids it. */
		k->create_forbidden = e.http == 403 || k8s_err_is(&e, "Forbidden");
		snprintf(k->create_why, sizeof(k->create_why),
			 "cannot create TaskManager pod %.60s: %.200s (the service account '%.60s' "
			 "needs the verb create on pods)",
			 name, e.e.msg, k->spec.service_account);
		p->used = false;
		k->no_create_before = cm_now_ms() + CREATE_BACKOFF_MS;
	} else {
		k->create_why[0] = '\0';
		CM_INFO("kubernetes", "Created TaskManager pod %s (%lld slot(s))", name,
			(long long)k->spec.tm_slots);
		record_event(
		    k, false, "TaskManagerCreated", "Create", name,
		    "Created TaskManager pod %s with %lld slot(s) for the slots jobs wait for",
		    name, (long long)k->spec.tm_slots);
	}
	cJSON_Delete(obj);
}

static void reconcile(jm_k8s *k)
{
	rm_tm_view *tms = NULL;
	size_t ntms = 0;
	if (rm_list(k->rm, &tms, &ntms) != 0)
		return;
	int64_t now = cm_now_ms();
	int64_t starting = 0; /* slots of pods not registered yet */
	for (size_t i = 0; i < MAX_PODS; i++) {
		struct pod *p = &k->pods[i];
		if (!p->used || p->terminal)
			continue;
		rm_tm_view *v = NULL;
		for (size_t j = 0; j < ntms && !v; j++)
			if (strcmp(tms[j].resource_id, p->name) == 0)
				v = &tms[j];
		if (!v) {
			starting += k->spec.tm_slots;
			p->idle_since = 0;
			continue;
		}
		if (v->free_slots < v->slots) {
			p->idle_since = 0;
			continue;
		}
		if (!p->idle_since)
			p->idle_since = now;
	}
	/* The first pod that cannot start explains a slot request that times
	 * out (the job's exceptions), not only this log. */
	const char *note = "";
	for (size_t i = 0; i < MAX_PODS && !note[0]; i++)
		if (k->pods[i].used && !k->pods[i].terminal && k->pods[i].stuck)
			note = k->pods[i].why;
	if (!note[0])
		note = k->create_why;
	rm_set_provider_note(k->rm, note);
	const char *never = "";
	for (size_t i = 0; i < MAX_PODS && !never[0]; i++)
		if (k->pods[i].used && !k->pods[i].terminal && k->pods[i].never)
			never = k->pods[i].why;
	if (!never[0] && k->create_forbidden)
		never = k->create_why;
	rm_set_provider_failure(k->rm, never);
	int64_t pending = rm_pending_slots(k->rm);
	/* A pod that can never start and that no job waits for any more (its
	 * request failed) goes: a later request makes a new one, which says
	 * again why it cannot start. */
	for (size_t i = 0; i < MAX_PODS && pending == 0; i++) {
		struct pod *p = &k->pods[i];
		if (p->used && !p->terminal && p->never) {
			CM_INFO("kubernetes", "Deleting TaskManager pod %s: it cannot start and no "
				"job waits for it", p->name);
			p->terminal = true;
			delete_pod(k, p->name);
		}
	}
	/* Idle pods go only while the free slots exceed what jobs wait for or
	 * declared (an adaptive job's upper bounds: it takes new slots after
	 * its cooldown, which may outlast the idle timeout). */
	int64_t surplus = rm_surplus_slots(k->rm);
	int64_t pod_slots = k->spec.tm_slots > 0 ? k->spec.tm_slots : 1;
	for (size_t i = 0; i < MAX_PODS && pending == 0 && surplus >= pod_slots; i++) {
		struct pod *p = &k->pods[i];
		if (!p->used || p->terminal || !p->idle_since ||
		    now - p->idle_since < k->idle_timeout_ms)
			continue;
		if (rm_release_idle(k->rm, p->name) == 0) {
			CM_INFO("kubernetes",
				"Releasing TaskManager pod %s: idle for %lld ms "
				"(resourcemanager.taskmanager-timeout)",
				p->name, (long long)(now - p->idle_since));
			p->terminal = true;
			surplus -= pod_slots;
			delete_pod(k, p->name);
			record_event(k, false, "TaskManagerReleased", "Delete", p->name,
				     "Released TaskManager pod %s: idle for %lld ms "
				     "(resourcemanager.taskmanager-timeout)",
				     p->name, (long long)(now - p->idle_since));
		} else {
			p->idle_since = 0;
		}
	}
	free(tms);
	int64_t missing = pending - starting;
	if (missing <= 0 || now < k->no_create_before)
		return;
	int64_t slots = k->spec.tm_slots > 0 ? k->spec.tm_slots : 1;
	int64_t n = (missing + slots - 1) / slots;
	CM_INFO("kubernetes", "Jobs wait for %lld slot(s), %lld are starting: creating %lld pod(s)",
		(long long)pending, (long long)starting, (long long)n);
	for (int64_t i = 0; i < n && now >= k->no_create_before; i++)
		create_pod(k);
}

static void *pods_main(void *arg)
{
	jm_k8s *k = arg;
	pthread_setname_np(pthread_self(), "k8s-pods");
	int64_t last = 0;
	while (!atomic_load(&k->stop)) {
		char key[K8S_KEY_MAX];
		int rc = k8s_queue_get(k->queue, key, RECONCILE_MS);
		if (rc == FL_ECLOSED)
			break;
		if (rc == 0) {
			observe(k, key);
			k8s_queue_done(k->queue, key);
		}
		int64_t now = cm_now_ms();
		if (now - last >= RECONCILE_MS) {
			reconcile(k);
			last = now;
		}
	}
	return NULL;
}

int jm_k8s_start(jm_k8s **out, const cfg *c, rm_resourcemanager *rm, cm_err *err)
{
	*out = NULL;
	jm_k8s *k = calloc(1, sizeof(*k));
	if (!k)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	k->rm = rm;
	int rc = k8s_cluster_spec_from_config(&k->spec, c, true, err);
	if (rc)
		goto fail;
	if (k->spec.pod_template[K8S_TM][0] &&
	    (rc = k8s_pod_template_load(k->spec.pod_template[K8S_TM], &k->tm_template, err)) != 0)
		goto fail;
	k->idle_timeout_ms = 30000;
	cfg_get_duration_ms(c, CFG_RM_TM_TIMEOUT, &k->idle_timeout_ms);
	if ((rc = k8s_config_in_cluster(&k->kcfg, NULL, err)) != 0 ||
	    (rc = k8s_client_new(&k->kc, &k->kcfg, err)) != 0)
		goto fail;
	k8s_err e;
	k8s_err_clear(&e);
	cJSON *dep = NULL;
	if ((rc = k8s_get(k->kc, &K8S_DEPLOYMENTS, k->spec.ns, k->spec.id, &dep, &e)) != 0) {
		cm_err_set(err, rc,
			   "%s (the JobManager's own Deployment owns its TaskManager pods)",
			   e.e.msg);
		goto fail;
	}
	const char *uid = k8s_str(dep, "metadata.uid");
	snprintf(k->owner_uid, sizeof(k->owner_uid), "%s", uid ? uid : "");
	cJSON_Delete(dep);
	if (!k->owner_uid[0]) {
		rc = cm_err_set(err, FL_EPROTO, "deployment/%s has no metadata.uid", k->spec.id);
		goto fail;
	}
	char sel[200];
	snprintf(sel, sizeof(sel), "app=%s,component=taskmanager,type=%s", k->spec.id,
		 K8S_TYPE_LABEL);
	if ((rc = k8s_queue_new(&k->queue, 0, 0, 0)) != 0) {
		cm_err_set(err, rc, "out of memory");
		goto fail;
	}
	k8s_informer_opts io = {.label_selector = sel, .bookmarks = true, .queue = k->queue};
	if ((rc = k8s_informer_new(&k->informer, &k->kcfg, &K8S_PODS, k->spec.ns, &io, err)) != 0 ||
	    (rc = k8s_informer_start(k->informer, err)) != 0)
		goto fail;
	if (pthread_create(&k->thread, NULL, pods_main, k) != 0) {
		rc = cm_err_set(err, FL_ENOMEM, "cannot start the Kubernetes pod thread");
		goto fail;
	}
	k->started = true;
	CM_INFO("kubernetes",
		"Kubernetes ResourceManager driver of cluster %s in namespace %s: TaskManager pods "
		"of %lld slot(s) from image %s%s%s, owned by deployment/%s (uid %s)",
		k->spec.id, k->spec.ns, (long long)k->spec.tm_slots, k->spec.image,
		k->tm_template ? " and pod template " : "",
		k->tm_template ? k->spec.pod_template[K8S_TM] : "", k->spec.id, k->owner_uid);
	*out = k;
	return 0;
fail:
	jm_k8s_free(k);
	return rc;
}

static void stop_thread(jm_k8s *k)
{
	atomic_store(&k->stop, true);
	if (k->queue)
		k8s_queue_shutdown(k->queue);
	if (k->started) {
		pthread_join(k->thread, NULL);
		k->started = false;
	}
	if (k->informer) {
		k8s_informer_free(k->informer);
		k->informer = NULL;
	}
}

int jm_k8s_delete_cluster(jm_k8s *k, cm_err *err)
{
	stop_thread(k);
	k8s_err e;
	k8s_err_clear(&e);
	k8s_delete_opts o = {.propagation = "Background", .uid = k->owner_uid};
	int rc = k8s_delete(k->kc, &K8S_DEPLOYMENTS, k->spec.ns, k->spec.id, &o, NULL, &e);
	if (rc && k8s_err_is(&e, "NotFound"))
		return 0;
	if (rc)
		return cm_err_set(err, rc,
				  "%s (the service account '%s' needs to delete deployments)",
				  e.e.msg, k->spec.service_account);
	CM_INFO("kubernetes", "Deleted deployment/%s: Kubernetes deletes what it owns", k->spec.id);
	return 0;
}

void jm_k8s_free(jm_k8s *k)
{
	if (!k)
		return;
	stop_thread(k);
	k8s_queue_free(k->queue);
	k8s_client_free(k->kc);
	k8s_config_fini(&k->kcfg);
	cJSON_Delete(k->tm_template);
	free(k);
}
