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
	cm_resource total, dflt; /* see resourcemanager.h */
	cm_resource held;	 /* what its slots hold */
	int64_t registered_wall_ms, last_heard_wall_ms, last_heard_ms;
	rpc_tm_gateway *gw;
	int refs;  /* allocations holding it, plus one while registered */
	bool lost; /* no longer in the list */
	/* Its process is going (rm_drain): nothing is placed on it before this
	 * monotonic ms. Not for ever: a TaskManager that stopped its tasks
	 * but lives on (it lost its JobMaster for a while) and still beats is
	 * offered again after heartbeat.timeout; one that dies is lost by then. */
	int64_t drain_until_ms;
};

/* A caller of rm_allocate that waits: on its stack, linked in rm->waiters. */
struct rm_waiter {
	const char *job_id;
	int64_t slots;
	struct rm_waiter *next;
};

struct rm_resourcemanager {
	rpc_rm_gateway base;
	cm_secret secret;
	char cluster_id[64];
	char session[33];
	int64_t heartbeat_timeout_ms, rpc_timeout_ms;
	int64_t unreachable_ms; /* 0: only heartbeat.timeout loses a TaskManager */
	rm_blob_fn blob;
	void *blob_arg;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* slots freed, a TaskManager registered, stopping */
	struct rm_tm *tms;
	size_t ntms;
	rm_allocation *allocs; /* live allocations (rm_slots) */
	bool stopping;
	struct rm_waiter *waiters; /* rm_allocate callers that wait for slots */
	/* Slots jobs want in all (rm_declare): the adaptive scheduler's upper
	 * bounds, which cover what the job holds and waits for. */
	struct rm_declared {
		char job_id[33];
		int64_t slots;
	} declared[RM_MAX_DECLARED];
	size_t ndeclared;
	char provider_note[400]; /* why started TaskManagers do not come ("": none) */
	char provider_failure[400]; /* why they never will ("": none) */
	uint64_t lost; /* TaskManagers forgotten for silence (heartbeat.timeout) */
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

/* A TaskManager's total resources and default slot from what it
 * announced: its task memory is the process memory beyond managed and
 * network memory; the default slot is 1/slots of each (Flink's
 * defaultSlotResourceProfile). */
static void resources_of(struct rm_tm *t)
{
	int64_t task = t->memory_bytes - t->managed_bytes - t->network_bytes;
	t->total = (cm_resource){.cpu_milli = t->cpu_milli,
				 .heap_bytes = task > 0 ? task : 0,
				 .managed_bytes = t->managed_bytes};
	int n = t->slots > 0 ? t->slots : 1;
	t->dflt = (cm_resource){.cpu_milli = t->total.cpu_milli / n,
				.heap_bytes = t->total.heap_bytes / n,
				.managed_bytes = t->total.managed_bytes / n};
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
	resources_of(n);
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
	char tot[200], dfl[200];
	CM_INFO("resourcemanager",
		"Registered TaskManager %s at %s (data %s) with %d slots, total resources %s, "
		"default slot %s",
		n->resource_id, n->rpc_address, n->data_address, n->slots,
		cm_resource_format(&n->total, tot, sizeof(tot)),
		cm_resource_format(&n->dflt, dfl, sizeof(dfl)));
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
	if (rm->unreachable_ms > 0 && rm->unreachable_ms / 2 < period)
		period = rm->unreachable_ms / 2;
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
			int64_t down = rm->unreachable_ms > 0 && t->gw ? rpc_tm_unreachable_ms(t->gw) : 0;
			if (now - t->last_heard_ms > rm->heartbeat_timeout_ms ||
			    (down > 0 && down >= rm->unreachable_ms)) {
				if (down >= rm->unreachable_ms && rm->unreachable_ms > 0)
					CM_WARN("resourcemanager",
						"TaskManager %s at %s is lost: its connection dropped "
						"%lld ms ago and is not back "
						"(heartbeat.rpc-failure-threshold); its slots are gone",
						t->resource_id, t->rpc_address, (long long)down);
				else
					CM_WARN("resourcemanager",
						"TaskManager %s at %s is lost: no heartbeat for %lld ms "
						"(heartbeat.timeout); its slots are gone",
						t->resource_id, t->rpc_address,
						(long long)(now - t->last_heard_ms));
				rm->lost++;
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
	rm->unreachable_ms = o->unreachable_ms;
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
	if (a->groups)
		for (size_t i = 0; i < a->ngroups; i++)
			free(a->groups[i]);
	free(a->groups);
	free(a->resource_ids);
	free(a->tms);
	free(a->slots);
	free(a->entries);
	free(a->taken);
	free(a->placement);
	free(a->profiles);
	free(a->slot_request);
	free(a);
}

/* Resources free on t beyond what its slots and the trial hold. */
struct trial_tm {
	struct rm_tm *t;
	int free_slots, job_slots;
	cm_resource free;
};

static void res_add(cm_resource *a, const cm_resource *b, int sign)
{
	a->cpu_milli += sign * b->cpu_milli;
	a->heap_bytes += sign * b->heap_bytes;
	a->offheap_bytes += sign * b->offheap_bytes;
	a->managed_bytes += sign * b->managed_bytes;
}

static cm_resource free_of(const struct rm_tm *t)
{
	cm_resource f = t->total;
	res_add(&f, &t->held, -1);
	/* Heap and off-heap share one pool: keep the free pool in heap. */
	f.heap_bytes += f.offheap_bytes; /* offheap is 0 - held off-heap */
	f.offheap_bytes = 0;
	return f;
}

static bool fits(const cm_resource *free, int free_slots, const cm_resource *p)
{
	return free_slots > 0 && free->cpu_milli >= p->cpu_milli &&
	       free->heap_bytes >= cm_resource_task_bytes(p) &&
	       free->managed_bytes >= p->managed_bytes;
}

/* Default slots that fit in free (at most free_slots). */
static int default_fits(const cm_resource *free, int free_slots, const cm_resource *d)
{
	int64_t n = free_slots > 0 ? free_slots : 0;
	if (d->cpu_milli > 0 && free->cpu_milli / d->cpu_milli < n)
		n = free->cpu_milli / d->cpu_milli;
	if (d->heap_bytes > 0 && free->heap_bytes / d->heap_bytes < n)
		n = free->heap_bytes / d->heap_bytes;
	if (d->managed_bytes > 0 && free->managed_bytes / d->managed_bytes < n)
		n = free->managed_bytes / d->managed_bytes;
	return n > 0 ? (int)n : 0;
}

/* Order of placement: profiles before default slots, larger first (CPU,
 * then task memory, then managed memory), so small slots do not take the
 * room a large one needs; ties keep the request order. */
static int bigger_first(const rm_request *a, size_t ia, const rm_request *b, size_t ib)
{
	bool ua = cm_resource_is_unknown(&a->profile), ub = cm_resource_is_unknown(&b->profile);
	if (ua != ub)
		return ua ? 1 : -1;
	const cm_resource *x = &a->profile, *y = &b->profile;
	if (x->cpu_milli != y->cpu_milli)
		return x->cpu_milli > y->cpu_milli ? -1 : 1;
	if (cm_resource_task_bytes(x) != cm_resource_task_bytes(y))
		return cm_resource_task_bytes(x) > cm_resource_task_bytes(y) ? -1 : 1;
	if (x->managed_bytes != y->managed_bytes)
		return x->managed_bytes > y->managed_bytes ? -1 : 1;
	return ia < ib ? -1 : ia > ib;
}

/*
 * Places every slot of the requests (mu held) on trial copies of the
 * TaskManagers' free resources: fills placement (job slot -> index into tt)
 * and returns -1, or returns the index of the first request (in placement
 * order) that did not fit. order is the placement order of the requests.
 */
static long trial_locked(struct trial_tm *tt, size_t ntt, const rm_request *req,
			 const size_t *order, size_t nreq, const int *first_slot,
			 uint32_t *placement)
{
	for (size_t oi = 0; oi < nreq; oi++) {
		const rm_request *r = &req[order[oi]];
		for (int s = 0; s < r->slots; s++) {
			long best = -1;
			for (size_t k = 0; k < ntt; k++) {
				const cm_resource *p = cm_resource_is_unknown(&r->profile)
							   ? &tt[k].t->dflt
							   : &r->profile;
				if (!fits(&tt[k].free, tt[k].free_slots, p))
					continue;
				if (best < 0 || tt[k].job_slots < tt[best].job_slots ||
				    (tt[k].job_slots == tt[best].job_slots &&
				     tt[k].free_slots > tt[best].free_slots))
					best = (long)k;
			}
			if (best < 0)
				return (long)order[oi];
			struct trial_tm *b = &tt[best];
			const cm_resource *p =
			    cm_resource_is_unknown(&r->profile) ? &b->t->dflt : &r->profile;
			b->free.cpu_milli -= p->cpu_milli;
			b->free.heap_bytes -= cm_resource_task_bytes(p);
			b->free.managed_bytes -= p->managed_bytes;
			b->free_slots--;
			b->job_slots++;
			placement[first_slot[order[oi]] + s] = (uint32_t)best;
		}
	}
	return -1;
}

/* Commits a placement that fitted (mu held): a's arrays from it, the
 * TaskManagers' held resources and slots. */
static int commit_locked(rm_resourcemanager *rm, struct trial_tm *tt, size_t ntt,
			 const rm_request *req, size_t nreq, const int *first_slot,
			 uint32_t *placement, rm_allocation *a)
{
	size_t cap = ntt ? ntt : 1;
	a->tms = calloc(cap, sizeof(*a->tms));
	a->slots = calloc(cap, sizeof(*a->slots));
	a->resource_ids = calloc(cap, sizeof(*a->resource_ids));
	a->entries = calloc(cap, sizeof(*a->entries));
	a->taken = calloc(cap, sizeof(*a->taken));
	long *index = calloc(cap, sizeof(*index)); /* trial index -> a index + 1 */
	if (!a->tms || !a->slots || !a->resource_ids || !a->entries || !a->taken || !index) {
		free(index);
		return FL_ENOMEM;
	}
	for (size_t q = 0; q < nreq; q++) {
		for (int s = 0; s < req[q].slots; s++) {
			size_t js = (size_t)first_slot[q] + (size_t)s;
			size_t k = placement[js];
			struct rm_tm *t = tt[k].t;
			if (!index[k]) {
				if (!(a->resource_ids[a->n] = strdup(t->resource_id))) {
					free(index);
					return FL_ENOMEM;
				}
				a->entries[a->n] = t;
				a->tms[a->n] = t->gw;
				index[k] = (long)++a->n;
			}
			size_t ai = (size_t)index[k] - 1;
			a->profiles[js] =
			    cm_resource_is_unknown(&req[q].profile) ? t->dflt : req[q].profile;
			a->slot_request[js] = (uint32_t)q;
			res_add(&a->taken[ai], &a->profiles[js], 1);
			a->slots[ai]++;
			placement[js] = (uint32_t)ai;
		}
	}
	free(index);
	for (size_t k = 0; k < a->n; k++) {
		struct rm_tm *t = a->entries[k];
		t->used += a->slots[k];
		res_add(&t->held, &a->taken[k], 1);
		t->refs++;
	}
	a->next = rm->allocs;
	rm->allocs = a;
	return 0;
}

static void untake_locked(rm_resourcemanager *rm, rm_allocation *a)
{
	for (size_t k = 0; k < a->n; k++) {
		struct rm_tm *t = a->entries[k];
		t->used -= a->slots[k];
		res_add(&t->held, &a->taken[k], -1);
	}
	for (rm_allocation **p = &rm->allocs; *p; p = &(*p)->next) {
		if (*p == a) {
			*p = a->next;
			break;
		}
	}
}

/* Copies the requests' groups into a and lays out the job slots. */
static int prepare(rm_allocation *a, const rm_request *req, size_t nreq, int *first_slot)
{
	if (!(a->groups = calloc(nreq ? nreq : 1, sizeof(*a->groups))))
		return FL_ENOMEM;
	a->ngroups = nreq;
	size_t total = 0;
	for (size_t q = 0; q < nreq; q++) {
		first_slot[q] = (int)total;
		total += (size_t)req[q].slots;
		if (!(a->groups[q] = strndup(req[q].group ? req[q].group : "default", 200)))
			return FL_ENOMEM;
	}
	a->nslots = total;
	size_t c = total ? total : 1;
	if (!(a->placement = calloc(c, sizeof(*a->placement))) ||
	    !(a->profiles = calloc(c, sizeof(*a->profiles))) ||
	    !(a->slot_request = calloc(c, sizeof(*a->slot_request))))
		return FL_ENOMEM;
	return 0;
}

/* The refusal after slot.request.timeout (mu held). */
static void refuse_locked(rm_resourcemanager *rm, const char *job_id, const rm_request *req,
			  size_t nreq, long failed, int64_t waited, cm_err *err)
{
	int free_slots = 0, total = 0, needed = 0;
	bool profiles = false;
	for (struct rm_tm *t = rm->tms; t; t = t->next) {
		cm_resource f = free_of(t);
		free_slots += default_fits(&f, t->slots - t->used, &t->dflt);
		total += t->slots;
	}
	for (size_t q = 0; q < nreq; q++) {
		needed += req[q].slots;
		profiles |= !cm_resource_is_unknown(&req[q].profile);
	}
	if (!profiles || failed < 0) {
		cm_err_set(
		    err, FL_ETIMEDOUT,
		    "Could not acquire the minimum required resources: job %s needs %d "
		    "slots, the cluster has %d free of %d on %zu TaskManager(s) after waiting "
		    "%lld ms (slot.request.timeout)",
		    job_id, needed, free_slots, total, rm->ntms, (long long)waited);
		return;
	}
	/* The TaskManager with the most free resources (CPU, then task
	 * memory, then managed memory). */
	const struct rm_tm *big = NULL;
	cm_resource bf = {0};
	for (struct rm_tm *t = rm->tms; t; t = t->next) {
		cm_resource f = free_of(t);
		if (!big || f.cpu_milli > bf.cpu_milli ||
		    (f.cpu_milli == bf.cpu_milli &&
		     (f.heap_bytes > bf.heap_bytes ||
		      (f.heap_bytes == bf.heap_bytes && f.managed_bytes > bf.managed_bytes)))) {
			big = t;
			bf = f;
		}
	}
	const rm_request *r = &req[failed];
	char want[200], have[300] = "no TaskManager is registered";
	cm_resource_format(&r->profile, want, sizeof(want));
	if (big) {
		char cpu[32], task[32], managed[32];
		snprintf(have, sizeof(have),
			 "the TaskManager with the most free resources, %.128s, has %s CPU cores, "
			 "%s task memory, %s managed memory and %d of %d slots free",
			 big->resource_id, cm_cpu_format(bf.cpu_milli, cpu, sizeof(cpu)),
			 cm_memory_format(bf.heap_bytes, task, sizeof(task)),
			 cm_memory_format(bf.managed_bytes, managed, sizeof(managed)),
			 big->slots - big->used, big->slots);
	}
	cm_err_set(err, FL_ETIMEDOUT,
		   "Could not acquire the minimum required resources: job %s: slot sharing group "
		   "'%.200s' needs %d slot(s) of resource profile %s; %s (%zu TaskManager(s)) "
		   "after waiting %lld ms (slot.request.timeout)",
		   job_id, r->group ? r->group : "default", r->slots, want, have, rm->ntms,
		   (long long)waited);
}

int rm_allocate(rm_resourcemanager *rm, const char *job_id, const rm_request *req, size_t nreq,
		int64_t timeout_ms, cm_cancel *cancel, rm_allocation **out, cm_err *err)
{
	*out = NULL;
	int64_t needed = 0;
	for (size_t q = 0; q < nreq; q++) {
		if (req[q].slots < 0)
			return cm_err_set(err, FL_EINVAL,
					  "job %s asks for %d slots of slot sharing group '%.200s'",
					  job_id, req[q].slots, req[q].group ? req[q].group : "");
		needed += req[q].slots;
	}
	if (needed > RM_MAX_JOB_SLOTS)
		return cm_err_set(err, FL_EINVAL, "job %s asks for %lld slots, more than %d",
				  job_id, (long long)needed, RM_MAX_JOB_SLOTS);
	rm_allocation *a = calloc(1, sizeof(*a));
	int *first_slot = calloc(nreq ? nreq : 1, sizeof(*first_slot));
	size_t *order = calloc(nreq ? nreq : 1, sizeof(*order));
	int rc = a && first_slot && order ? prepare(a, req, nreq, first_slot) : FL_ENOMEM;
	if (rc) {
		free_allocation(a);
		free(first_slot);
		free(order);
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	}
	snprintf(a->job_id, sizeof(a->job_id), "%s", job_id);
	/* Insertion sort: a job has few slot sharing groups. */
	for (size_t q = 0; q < nreq; q++) {
		size_t i = q;
		for (; i > 0 && bigger_first(&req[q], q, &req[order[i - 1]], order[i - 1]) < 0; i--)
			order[i] = order[i - 1];
		order[i] = q;
	}
	int64_t start = cm_now_ms(), deadline = start + timeout_ms;
	bool said = false;
	struct rm_waiter me = {.job_id = a->job_id, .slots = needed};
	struct trial_tm *tt = NULL;
	pthread_mutex_lock(&rm->mu);
	for (;;) {
		free(tt);
		tt = calloc(rm->ntms ? rm->ntms : 1, sizeof(*tt));
		if (!tt) {
			rc = FL_ENOMEM;
			break;
		}
		size_t ntt = 0;
		for (struct rm_tm *t = rm->tms; t; t = t->next, ntt++)
			tt[ntt] = (struct trial_tm){
			    .t = t,
			    .free_slots = t->drain_until_ms > cm_now_ms() ? 0 : t->slots - t->used,
			    .free = free_of(t)};
		long failed = trial_locked(tt, ntt, req, order, nreq, first_slot, a->placement);
		if (failed < 0) {
			/* On failure nothing of the TaskManagers changed. */
			rc = commit_locked(rm, tt, ntt, req, nreq, first_slot, a->placement, a);
			break;
		}
		int64_t now = cm_now_ms();
		if (rm->stopping || (cancel && cm_cancel_requested(cancel))) {
			rc = cm_err_set(err, FL_ECANCELED,
					"the slot request of job %s was cancelled", job_id);
			break;
		}
		if (rm->provider_failure[0]) {
			rc = cm_err_set(err, FL_ETIMEDOUT,
					"Could not acquire the minimum required resources: job %s: %s",
					job_id, rm->provider_failure);
			break;
		}
		if (now >= deadline) {
			refuse_locked(rm, job_id, req, nreq, failed, now - start, err);
			if (err && rm->provider_note[0]) {
				size_t n = strnlen(err->msg, sizeof(err->msg));
				snprintf(err->msg + n, sizeof(err->msg) - n, "; %s",
					 rm->provider_note);
			}
			rc = FL_ETIMEDOUT;
			break;
		}
		if (!said) {
			me.next = rm->waiters;
			rm->waiters = &me;
			char want[200];
			CM_INFO(
			    "resourcemanager",
			    "Job %s needs %lld slots; slot sharing group '%.200s' (%d slot(s) of "
			    "%s) does not fit yet: waiting up to %lld ms for TaskManagers or slots",
			    job_id, (long long)needed, a->groups[failed], req[failed].slots,
			    cm_resource_format(&req[failed].profile, want, sizeof(want)),
			    (long long)(deadline - now));
			said = true;
		}
		int64_t wake = now + 200 < deadline ? now + 200 : deadline;
		struct timespec ts = cm_deadline_ts(wake);
		pthread_cond_timedwait(&rm->cv, &rm->mu, &ts);
	}
	for (struct rm_waiter **w = &rm->waiters; said && *w; w = &(*w)->next) {
		if (*w == &me) {
			*w = me.next;
			break;
		}
	}
	pthread_mutex_unlock(&rm->mu);
	free(tt);
	free(first_slot);
	free(order);
	if (rc) {
		if (rc == FL_ENOMEM)
			cm_err_set(err, rc, "out of memory");
		free_allocation(a);
		return rc;
	}
	for (size_t k = 0; k < a->n; k++) {
		char held[200];
		CM_INFO("resourcemanager", "Job %s holds %d slot(s) on TaskManager %s: %s in all",
			job_id, a->slots[k], a->resource_ids[k],
			cm_resource_format(&a->taken[k], held, sizeof(held)));
	}
	*out = a;
	return 0;
}

/* Slots job_id holds and waits for (mu held). */
static int64_t covered_locked(rm_resourcemanager *rm, const char *job_id)
{
	int64_t n = 0;
	for (const rm_allocation *a = rm->allocs; a; a = a->next)
		if (strcmp(a->job_id, job_id) == 0)
			n += (int64_t)a->nslots;
	for (const struct rm_waiter *w = rm->waiters; w; w = w->next)
		if (strcmp(w->job_id, job_id) == 0)
			n += w->slots;
	return n;
}

/*
 * Slots wanted less the free ones (mu held). Wanted: what rm_allocate
 * callers wait for, and of each declaration what the job neither holds nor
 * waits for. A declaration is the job's whole want, so its own request is
 * part of it, not more: counting both would make a driver start its
 * TaskManagers twice (the surplus only going at the idle timeout).
 */
static int64_t balance_locked(rm_resourcemanager *rm)
{
	int64_t free_slots = 0;
	int64_t now = cm_now_ms();
	for (struct rm_tm *t = rm->tms; t; t = t->next)
		if (t->drain_until_ms <= now)
			free_slots += t->slots - t->used;
	int64_t wanted = 0;
	for (const struct rm_waiter *w = rm->waiters; w; w = w->next)
		wanted += w->slots;
	for (size_t i = 0; i < rm->ndeclared; i++) {
		int64_t more = rm->declared[i].slots - covered_locked(rm, rm->declared[i].job_id);
		if (more > 0)
			wanted += more;
	}
	return wanted - free_slots;
}

int64_t rm_pending_slots(rm_resourcemanager *rm)
{
	pthread_mutex_lock(&rm->mu);
	int64_t b = balance_locked(rm);
	pthread_mutex_unlock(&rm->mu);
	return b > 0 ? b : 0;
}

int64_t rm_surplus_slots(rm_resourcemanager *rm)
{
	pthread_mutex_lock(&rm->mu);
	int64_t b = balance_locked(rm);
	pthread_mutex_unlock(&rm->mu);
	return b < 0 ? -b : 0;
}

int rm_declare(rm_resourcemanager *rm, const char *job_id, int64_t slots)
{
	if (slots < 0)
		slots = 0;
	pthread_mutex_lock(&rm->mu);
	size_t i = 0;
	while (i < rm->ndeclared && strcmp(rm->declared[i].job_id, job_id) != 0)
		i++;
	int rc = 0;
	if (slots == 0) {
		if (i < rm->ndeclared) /* dropped: the last takes its place */
			rm->declared[i] = rm->declared[--rm->ndeclared];
	} else if (i < rm->ndeclared) {
		rm->declared[i].slots = slots;
	} else if (rm->ndeclared < RM_MAX_DECLARED) {
		snprintf(rm->declared[i].job_id, sizeof(rm->declared[i].job_id), "%s", job_id);
		rm->declared[i].slots = slots;
		rm->ndeclared++;
	} else {
		rc = FL_ERANGE;
	}
	pthread_mutex_unlock(&rm->mu);
	return rc;
}

void rm_set_provider_note(rm_resourcemanager *rm, const char *note)
{
	pthread_mutex_lock(&rm->mu);
	snprintf(rm->provider_note, sizeof(rm->provider_note), "%s", note ? note : "");
	pthread_mutex_unlock(&rm->mu);
}

int rm_drain(rm_resourcemanager *rm, const char *resource_id)
{
	int rc = rm_release_idle(rm, resource_id);
	if (rc != FL_EINVAL)
		return rc;
	pthread_mutex_lock(&rm->mu);
	for (struct rm_tm *t = rm->tms; t; t = t->next)
		if (strcmp(t->resource_id, resource_id) == 0)
			t->drain_until_ms = cm_now_ms() + rm->heartbeat_timeout_ms;
	pthread_mutex_unlock(&rm->mu);
	return 0;
}

void rm_set_provider_failure(rm_resourcemanager *rm, const char *why)
{
	pthread_mutex_lock(&rm->mu);
	bool was = rm->provider_failure[0] != '\0';
	snprintf(rm->provider_failure, sizeof(rm->provider_failure), "%s", why ? why : "");
	/* Waiting requests fail now, not at their next wake-up. */
	if (!was && rm->provider_failure[0])
		pthread_cond_broadcast(&rm->cv);
	pthread_mutex_unlock(&rm->mu);
}

bool rm_provider_failure(rm_resourcemanager *rm, char *buf, size_t cap)
{
	pthread_mutex_lock(&rm->mu);
	bool set = rm->provider_failure[0] != '\0';
	snprintf(buf, cap, "%s", rm->provider_failure);
	pthread_mutex_unlock(&rm->mu);
	return set;
}

int rm_release_idle(rm_resourcemanager *rm, const char *resource_id)
{
	pthread_mutex_lock(&rm->mu);
	struct rm_tm *t = rm->tms;
	while (t && strcmp(t->resource_id, resource_id) != 0)
		t = t->next;
	if (!t) {
		pthread_mutex_unlock(&rm->mu);
		return FL_ENOENT;
	}
	if (t->used > 0 || t->refs > 1) {
		pthread_mutex_unlock(&rm->mu);
		return FL_EINVAL;
	}
	rpc_tm_gateway *gw;
	struct rm_tm *entry;
	unlist_locked(rm, t, &gw, &entry);
	pthread_mutex_unlock(&rm->mu);
	if (entry)
		free_entry(gw, entry);
	CM_INFO("resourcemanager", "TaskManager %s released (idle)", resource_id);
	return 0;
}

void rm_release(rm_resourcemanager *rm, rm_allocation *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&rm->mu);
	untake_locked(rm, a);
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
	if (a->n)
		CM_INFO("resourcemanager", "Job %s released its %zu slot(s) on %zu TaskManager(s)",
			a->job_id, a->nslots, a->n);
	for (size_t k = 0; k < nfree; k++)
		free_entry(a->tms[k], a->entries[k]);
	free_allocation(a);
}

int rm_slots(rm_resourcemanager *rm, const char *resource_id, rm_slot_view **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&rm->mu);
	struct rm_tm *t = resource_id ? find_locked(rm, resource_id) : NULL;
	if (!t) {
		pthread_mutex_unlock(&rm->mu);
		return FL_ENOENT;
	}
	size_t cap = t->used > 0 ? (size_t)t->used : 1;
	rm_slot_view *v = calloc(cap, sizeof(*v));
	if (!v) {
		pthread_mutex_unlock(&rm->mu);
		return FL_ENOMEM;
	}
	size_t i = 0;
	for (rm_allocation *a = rm->allocs; a; a = a->next) {
		for (size_t js = 0; js < a->nslots && i < cap; js++) {
			if (a->entries[a->placement[js]] != t)
				continue;
			snprintf(v[i].job_id, sizeof(v[i].job_id), "%s", a->job_id);
			snprintf(v[i].group, sizeof(v[i].group), "%s",
				 a->groups[a->slot_request[js]]);
			v[i].res = a->profiles[js];
			i++;
		}
	}
	pthread_mutex_unlock(&rm->mu);
	*out = v;
	*n = i;
	return 0;
}

static void view_of(const struct rm_tm *t, rm_tm_view *v)
{
	snprintf(v->resource_id, sizeof(v->resource_id), "%s", t->resource_id);
	snprintf(v->rpc_address, sizeof(v->rpc_address), "%s", t->rpc_address);
	snprintf(v->data_address, sizeof(v->data_address), "%s", t->data_address);
	v->slots = t->slots;
	v->total = t->total;
	v->free = free_of(t);
	v->default_slot = t->dflt;
	v->free_slots = default_fits(&v->free, t->slots - t->used, &t->dflt);
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
		cm_resource f = free_of(t);
		*slots += t->slots;
		*free_slots += default_fits(&f, t->slots - t->used, &t->dflt);
	}
	pthread_mutex_unlock(&rm->mu);
}

uint64_t rm_lost_taskmanagers(rm_resourcemanager *rm)
{
	pthread_mutex_lock(&rm->mu);
	uint64_t n = rm->lost;
	pthread_mutex_unlock(&rm->mu);
	return n;
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
