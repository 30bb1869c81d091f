/*
 * resourcemanager.c — the standalone ResourceManager: see
 * resourcemanager.h.
 */
#include "jobmanager/resourcemanager.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/sync.h"
#include "rpc/nng.h"

/* Bounds what hostile or broken registrations can make us keep. */
#define RM_MAX_TASKMANAGERS 4096

struct rm_tm {
	struct rm_tm *next;
	char resource_id[128];
	char rpc_address[256];
	char data_address[256];
	int slots, used;
	int64_t cpu_milli, memory_bytes, managed_bytes, network_bytes;
	int64_t registered_wall_ms, last_heard_wall_ms, last_heard_ms;
	rpc_tm_gateway *gw;
	int refs;  /* allocations holding it, plus one while registered */
	bool lost; /* no longer in the list */
};

struct rm_resourcemanager {
	rpc_rm_gateway base;
	cm_secret secret;
	char cluster_id[64];
	char session[33];
	int64_t heartbeat_timeout_ms, rpc_timeout_ms;
	rm_blob_fn blob;
	void *blob_arg;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* slots freed, a TaskManager registered, stopping */
	struct rm_tm *tms;
	size_t ntms;
	bool stopping;
	pthread_t reaper;
	bool reaper_started;
};

/* Drops one reference (mu held); returns the gateway to free outside mu,
 * or NULL. */
static rpc_tm_gateway *unref_locked(struct rm_tm *t, struct rm_tm **to_free)
{
	*to_free = NULL;
	if (--t->refs > 0)
		return NULL;
	*to_free = t;
	return t->gw;
}

static void free_entry(rpc_tm_gateway *gw, struct rm_tm *t)
{
	if (gw)
		gw->ops->free(gw);
	free(t);
}

/* Takes t out of the list (mu held); it lives on while allocations hold
 * it. Returns what to free outside mu through the out parameters. */
static void unlist_locked(rm_resourcemanager *rm, struct rm_tm *t, rpc_tm_gateway **gw,
			  struct rm_tm **entry)
{
	for (struct rm_tm **p = &rm->tms; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			rm->ntms--;
			break;
		}
	}
	t->lost = true;
	t->next = NULL;
	*gw = unref_locked(t, entry);
}

static struct rm_tm *find_locked(rm_resourcemanager *rm, const char *resource_id)
{
	for (struct rm_tm *t = rm->tms; t; t = t->next)
		if (strcmp(t->resource_id, resource_id) == 0)
			return t;
	return NULL;
}

static void reply_session(rm_resourcemanager *rm, rpc_done_fn done, void *arg)
{
	cm_wbuf w;
	cm_wbuf_init(&w, 64);
	cm_wbuf_str(&w, rm->session);
	if (cm_wbuf_error(&w))
		done(arg, FL_ENOMEM, "out of memory", NULL, 0);
	else
		done(arg, 0, NULL, cm_wbuf_data(&w), cm_wbuf_len(&w));
	cm_wbuf_fini(&w);
}

static void gw_register(rpc_rm_gateway *g, const rpc_tm_registration *r, rpc_done_fn done,
			void *arg)
{
	rm_resourcemanager *rm = (rm_resourcemanager *)g;
	char why[800];
	if (!r->resource_id[0] ||
	    strlen(r->resource_id) >= sizeof(((struct rm_tm *)0)->resource_id) ||
	    strlen(r->rpc_address) >= 256 || strlen(r->data_address) >= 256 ||
	    strncmp(r->rpc_address, "tcp://", 6) != 0 || !strchr(r->data_address, ':')) {
		snprintf(why, sizeof(why),
			 "refused the registration of TaskManager '%.128s': bad resource id or "
			 "addresses (rpc '%.100s', data '%.100s')",
			 r->resource_id, r->rpc_address, r->data_address);
		CM_WARN("resourcemanager", "%s", why);
		done(arg, FL_EINVAL, why, NULL, 0);
		return;
	}
	rpc_tm_gateway *old_gw = NULL;
	struct rm_tm *old = NULL;
	pthread_mutex_lock(&rm->mu);
	struct rm_tm *t = find_locked(rm, r->resource_id);
	if (t && strcmp(t->rpc_address, r->rpc_address) == 0 &&
	    strcmp(t->data_address, r->data_address) == 0 && t->slots == r->slots) {
		/* The same process registering again (it lost our replies). */
		t->last_heard_ms = cm_now_ms();
		t->last_heard_wall_ms = cm_wall_ms();
		pthread_mutex_unlock(&rm->mu);
		reply_session(rm, done, arg);
		return;
	}
	if (t) {
		CM_INFO("resourcemanager",
			"TaskManager %s registered again from %s: replacing its old registration "
			"from %s",
			t->resource_id, r->rpc_address, t->rpc_address);
		unlist_locked(rm, t, &old_gw, &old);
	}
	bool full = rm->ntms >= RM_MAX_TASKMANAGERS;
	pthread_mutex_unlock(&rm->mu);
	if (old)
		free_entry(old_gw, old);
	if (full) {
		snprintf(why, sizeof(why), "refused TaskManager %s: %d TaskManagers are registered",
			 r->resource_id, RM_MAX_TASKMANAGERS);
		CM_WARN("resourcemanager", "%s", why);
		done(arg, FL_ERANGE, why, NULL, 0);
		return;
	}
	struct rm_tm *n = calloc(1, sizeof(*n));
	if (!n) {
		done(arg, FL_ENOMEM, "out of memory", NULL, 0);
		return;
	}
	snprintf(n->resource_id, sizeof(n->resource_id), "%s", r->resource_id);
	snprintf(n->rpc_address, sizeof(n->rpc_address), "%s", r->rpc_address);
	snprintf(n->data_address, sizeof(n->data_address), "%s", r->data_address);
	n->slots = r->slots;
	n->cpu_milli = r->cpu_milli;
	n->memory_bytes = r->memory_bytes;
	n->managed_bytes = r->managed_bytes;
	n->network_bytes = r->network_bytes;
	n->registered_wall_ms = n->last_heard_wall_ms = cm_wall_ms();
	n->last_heard_ms = cm_now_ms();
	n->refs = 1;
	cm_err err = {0};
	int rc = rpc_tm_gateway_nng(&n->gw, n->rpc_address, &rm->secret, rm->cluster_id,
				    rm->rpc_timeout_ms, &err);
	if (rc) {
		snprintf(why, sizeof(why), "cannot reach TaskManager %s at %.200s: %.200s",
			 n->resource_id, n->rpc_address, err.msg);
		CM_WARN("resourcemanager", "%s", why);
		free(n);
		done(arg, rc, why, NULL, 0);
		return;
	}
	pthread_mutex_lock(&rm->mu);
	struct rm_tm *raced = find_locked(rm, n->resource_id);
	if (raced) /* two registrations of one id at once: the later wins */
		unlist_locked(rm, raced, &old_gw, &old);
	n->next = rm->tms;
	rm->tms = n;
	rm->ntms++;
	pthread_cond_broadcast(&rm->cv);
	pthread_mutex_unlock(&rm->mu);
	if (raced && old)
		free_entry(old_gw, old);
	CM_INFO("resourcemanager", "Registered TaskManager %s at %s (data %s) with %d slots",
		n->resource_id, n->rpc_address, n->data_address, n->slots);
	reply_session(rm, done, arg);
}

static void gw_heartbeat(rpc_rm_gateway *g, const char *resource_id, rpc_done_fn done, void *arg)
{
	rm_resourcemanager *rm = (rm_resourcemanager *)g;
	pthread_mutex_lock(&rm->mu);
	struct rm_tm *t = find_locked(rm, resource_id);
	if (t) {
		t->last_heard_ms = cm_now_ms();
		t->last_heard_wall_ms = cm_wall_ms();
	}
	pthread_mutex_unlock(&rm->mu);
	if (!t) {
		char why[200];
		snprintf(why, sizeof(why), "TaskManager %.128s is not registered", resource_id);
		done(arg, FL_ENOENT, why, NULL, 0);
		return;
	}
	reply_session(rm, done, arg);
}

static void gw_blob(rpc_rm_gateway *g, const char *hash, uint64_t offset, rpc_done_fn done,
		    void *arg)
{
	rm_resourcemanager *rm = (rm_resourcemanager *)g;
	if (!rm->blob) {
		done(arg, FL_ENOENT, "this JobManager serves no user libraries", NULL, 0);
		return;
	}
	/* Room for the chunk and the two length prefixes. */
	uint8_t *buf = malloc(RPC_BLOB_CHUNK + 32);
	if (!buf) {
		done(arg, FL_ENOMEM, "out of memory", NULL, 0);
		return;
	}
	size_t n = 0;
	uint64_t total = 0;
	cm_err err = {0};
	int rc = rm->blob(rm->blob_arg, hash, offset, buf + 32, RPC_BLOB_CHUNK, &n, &total, &err);
	if (rc) {
		free(buf);
		done(arg, rc, err.msg, NULL, 0);
		return;
	}
	cm_wbuf w;
	cm_wbuf_init(&w, RPC_BLOB_CHUNK + 64);
	cm_wbuf_uvarint(&w, total);
	cm_wbuf_bytes(&w, buf + 32, n);
	free(buf);
	if (cm_wbuf_error(&w))
		done(arg, FL_ENOMEM, "out of memory", NULL, 0);
	else
		done(arg, 0, NULL, cm_wbuf_data(&w), cm_wbuf_len(&w));
	cm_wbuf_fini(&w);
}

static void gw_free(rpc_rm_gateway *g)
{
	(void)g; /* owned by the ResourceManager */
}

static const struct rpc_rm_gateway_ops gw_ops = {
    .register_tm = gw_register, .tm_heartbeat = gw_heartbeat, .blob = gw_blob, .free = gw_free};

/* Forgets TaskManagers not heard of for heartbeat.timeout. */
static void *reaper_main(void *arg)
{
	rm_resourcemanager *rm = arg;
	pthread_setname_np(pthread_self(), "rm-reaper");
	int64_t period = rm->heartbeat_timeout_ms / 4;
	if (period > 1000)
		period = 1000;
	if (period < 10)
		period = 10;
	pthread_mutex_lock(&rm->mu);
	while (!rm->stopping) {
		struct timespec ts = cm_deadline_ts(cm_now_ms() + period);
		pthread_cond_timedwait(&rm->cv, &rm->mu, &ts);
		int64_t now = cm_now_ms();
		struct rm_tm *t = rm->tms;
		while (t && !rm->stopping) {
			struct rm_tm *next = t->next;
			if (now - t->last_heard_ms > rm->heartbeat_timeout_ms) {
				CM_WARN("resourcemanager",
					"TaskManager %s at %s is lost: no heartbeat for %lld ms "
					"(heartbeat.timeout); its slots are gone",
					t->resource_id, t->rpc_address,
					(long long)(now - t->last_heard_ms));
				rpc_tm_gateway *gw;
				struct rm_tm *entry;
				unlist_locked(rm, t, &gw, &entry);
				if (entry) {
					pthread_mutex_unlock(&rm->mu);
					free_entry(gw, entry);
					pthread_mutex_lock(&rm->mu);
					next = rm->tms; /* the list may have changed */
				}
			}
			t = next;
		}
	}
	pthread_mutex_unlock(&rm->mu);
	return NULL;
}

int rm_new(rm_resourcemanager **out, const rm_options *o, cm_err *err)
{
	*out = NULL;
	if (!o->secret || !o->secret->set)
		return cm_err_set(err, FL_EINVAL, "resourcemanager: no secret");
	rm_resourcemanager *rm = calloc(1, sizeof(*rm));
	if (!rm)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	rm->base.ops = &gw_ops;
	rm->secret = *o->secret;
	snprintf(rm->cluster_id, sizeof(rm->cluster_id), "%s", o->cluster_id ? o->cluster_id : "");
	rm->heartbeat_timeout_ms = o->heartbeat_timeout_ms > 0 ? o->heartbeat_timeout_ms : 50000;
	rm->rpc_timeout_ms = o->rpc_timeout_ms > 0 ? o->rpc_timeout_ms : 60000;
	rm->blob = o->blob;
	rm->blob_arg = o->blob_arg;
	unsigned char r[16] = {0};
	cm_random(r, sizeof(r));
	for (int i = 0; i < 16; i++)
		snprintf(rm->session + 2 * i, 3, "%02x", r[i]);
	pthread_mutex_init(&rm->mu, NULL);
	cm_cond_init(&rm->cv);
	if (pthread_create(&rm->reaper, NULL, reaper_main, rm) != 0) {
		pthread_cond_destroy(&rm->cv);
		pthread_mutex_destroy(&rm->mu);
		cm_secret_clear(&rm->secret);
		free(rm);
		return cm_err_set(err, FL_ENOMEM, "cannot start the ResourceManager's thread");
	}
	rm->reaper_started = true;
	*out = rm;
	return 0;
}

void rm_free(rm_resourcemanager *rm)
{
	if (!rm)
		return;
	pthread_mutex_lock(&rm->mu);
	rm->stopping = true;
	pthread_cond_broadcast(&rm->cv);
	pthread_mutex_unlock(&rm->mu);
	if (rm->reaper_started)
		pthread_join(rm->reaper, NULL);
	while (rm->tms) {
		struct rm_tm *t = rm->tms;
		rpc_tm_gateway *gw;
		struct rm_tm *entry;
		unlist_locked(rm, t, &gw, &entry);
		if (entry)
			free_entry(gw, entry);
	}
	pthread_cond_destroy(&rm->cv);
	pthread_mutex_destroy(&rm->mu);
	cm_secret_clear(&rm->secret);
	free(rm);
}

rpc_rm_gateway *rm_gateway(rm_resourcemanager *rm)
{
	return &rm->base;
}

static void free_allocation(rm_allocation *a)
{
	if (!a)
		return;
	if (a->resource_ids)
		for (size_t i = 0; i < a->n; i++)
			free(a->resource_ids[i]);
	free(a->resource_ids);
	free(a->tms);
	free(a->slots);
	free(a->entries);
	free(a);
}

/* Takes n slots (mu held, enough are free), most free first. */
static int take_locked(rm_resourcemanager *rm, int n, rm_allocation *a)
{
	size_t cap = rm->ntms;
	a->tms = calloc(cap, sizeof(*a->tms));
	a->slots = calloc(cap, sizeof(*a->slots));
	a->resource_ids = calloc(cap, sizeof(*a->resource_ids));
	a->entries = calloc(cap, sizeof(*a->entries));
	if (!a->tms || !a->slots || !a->resource_ids || !a->entries)
		return FL_ENOMEM;
	for (size_t k = 0; k < cap; k++)
		a->resource_ids[k] = NULL;
	for (int s = 0; s < n; s++) {
		/* Evenly: the TaskManager this job has the fewest slots of, the
		 * most free among those. */
		struct rm_tm *best = NULL;
		int best_taken = 0;
		for (struct rm_tm *t = rm->tms; t; t = t->next) {
			if (t->slots - t->used <= 0)
				continue;
			int taken = 0;
			for (size_t k = 0; k < a->n; k++)
				if (a->entries[k] == t)
					taken = a->slots[k];
			if (!best || taken < best_taken ||
			    (taken == best_taken &&
			     t->slots - t->used > best->slots - best->used)) {
				best = t;
				best_taken = taken;
			}
		}
		size_t k = 0;
		while (k < a->n && a->entries[k] != best)
			k++;
		if (k == a->n) {
			if (!(a->resource_ids[k] = strdup(best->resource_id)))
				return FL_ENOMEM;
			a->entries[k] = best;
			a->tms[k] = best->gw;
			a->n++;
		}
		a->slots[k]++;
		best->used++;
	}
	for (size_t k = 0; k < a->n; k++)
		((struct rm_tm *)a->entries[k])->refs++;
	return 0;
}

static void untake_locked(rm_allocation *a)
{
	for (size_t k = 0; k < a->n; k++)
		((struct rm_tm *)a->entries[k])->used -= a->slots[k];
}

int rm_allocate(rm_resourcemanager *rm, const char *job_id, int n, int64_t timeout_ms,
		cm_cancel *cancel, rm_allocation **out, cm_err *err)
{
	*out = NULL;
	rm_allocation *a = calloc(1, sizeof(*a));
	if (!a)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	int64_t start = cm_now_ms(), deadline = start + timeout_ms;
	bool said = false;
	int rc = 0;
	pthread_mutex_lock(&rm->mu);
	for (;;) {
		int free_slots = 0, total = 0;
		for (struct rm_tm *t = rm->tms; t; t = t->next) {
			free_slots += t->slots - t->used;
			total += t->slots;
		}
		if (free_slots >= n) {
			rc = take_locked(rm, n, a);
			if (rc) {
				untake_locked(a);
				for (size_t k = 0; k < a->n; k++)
					((struct rm_tm *)a->entries[k])->refs--;
				a->n = 0;
			}
			break;
		}
		int64_t now = cm_now_ms();
		if (rm->stopping || (cancel && cm_cancel_requested(cancel))) {
			rc = cm_err_set(err, FL_ECANCELED,
					"the slot request of job %s was cancelled", job_id);
			break;
		}
		if (now >= deadline) {
			rc = cm_err_set(
			    err, FL_ETIMEDOUT,
			    "Could not acquire the minimum required resources: job %s "
			    "needs %d slots, the cluster has %d free of %d on %zu "
			    "TaskManager(s) after waiting %lld ms (slot.request.timeout)",
			    job_id, n, free_slots, total, rm->ntms, (long long)(now - start));
			break;
		}
		if (!said) {
			CM_INFO("resourcemanager",
				"Job %s needs %d slots, %d are free: waiting up to %lld ms for "
				"TaskManagers or slots",
				job_id, n, free_slots, (long long)(deadline - now));
			said = true;
		}
		int64_t wake = now + 200 < deadline ? now + 200 : deadline;
		struct timespec ts = cm_deadline_ts(wake);
		pthread_cond_timedwait(&rm->cv, &rm->mu, &ts);
	}
	pthread_mutex_unlock(&rm->mu);
	if (rc) {
		if (rc == FL_ENOMEM)
			cm_err_set(err, rc, "out of memory");
		free_allocation(a);
		return rc;
	}
	*out = a;
	return 0;
}

void rm_release(rm_resourcemanager *rm, rm_allocation *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&rm->mu);
	untake_locked(a);
	size_t nfree = 0;
	for (size_t k = 0; k < a->n; k++) {
		struct rm_tm *entry;
		rpc_tm_gateway *gw = unref_locked(a->entries[k], &entry);
		/* Reuse the arrays for what to free outside the lock. */
		if (entry) {
			a->tms[nfree] = gw;
			a->entries[nfree] = entry;
			nfree++;
		}
	}
	pthread_cond_broadcast(&rm->cv);
	pthread_mutex_unlock(&rm->mu);
	for (size_t k = 0; k < nfree; k++)
		free_entry(a->tms[k], a->entries[k]);
	free_allocation(a);
}

static void view_of(const struct rm_tm *t, rm_tm_view *v)
{
	snprintf(v->resource_id, sizeof(v->resource_id), "%s", t->resource_id);
	snprintf(v->rpc_address, sizeof(v->rpc_address), "%s", t->rpc_address);
	snprintf(v->data_address, sizeof(v->data_address), "%s", t->data_address);
	v->slots = t->slots;
	v->free_slots = t->slots - t->used;
	v->cpu_milli = t->cpu_milli;
	v->memory_bytes = t->memory_bytes;
	v->managed_bytes = t->managed_bytes;
	v->network_bytes = t->network_bytes;
	v->registered_wall_ms = t->registered_wall_ms;
	v->last_heard_wall_ms = t->last_heard_wall_ms;
}

void rm_totals(rm_resourcemanager *rm, size_t *ntms, int *slots, int *free_slots)
{
	*slots = *free_slots = 0;
	pthread_mutex_lock(&rm->mu);
	*ntms = rm->ntms;
	for (struct rm_tm *t = rm->tms; t; t = t->next) {
		*slots += t->slots;
		*free_slots += t->slots - t->used;
	}
	pthread_mutex_unlock(&rm->mu);
}

int rm_get(rm_resourcemanager *rm, const char *resource_id, rm_tm_view *out)
{
	pthread_mutex_lock(&rm->mu);
	struct rm_tm *t = resource_id ? find_locked(rm, resource_id) : NULL;
	if (t)
		view_of(t, out);
	pthread_mutex_unlock(&rm->mu);
	return t ? 0 : FL_ENOENT;
}

int rm_list(rm_resourcemanager *rm, rm_tm_view **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&rm->mu);
	rm_tm_view *v = calloc(rm->ntms ? rm->ntms : 1, sizeof(*v));
	if (!v) {
		pthread_mutex_unlock(&rm->mu);
		return FL_ENOMEM;
	}
	size_t i = 0;
	for (struct rm_tm *t = rm->tms; t; t = t->next, i++)
		view_of(t, &v[i]);
	pthread_mutex_unlock(&rm->mu);
	*out = v;
	*n = i;
	return 0;
}
