/*
 * informer.c — list + watch on a thread into a hash table of objects.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "k8s/informer.h"

typedef struct obj {
	struct obj *next;
	cJSON *json;
	unsigned gen; /* the list it was last seen in (for relists) */
	char key[];
} obj;

struct k8s_informer {
	k8s_client *client;
	k8s_resource res;
	char *ns;
	k8s_informer_opts o;
	char *label_selector, *field_selector;
	pthread_t thread;
	bool started, joined;
	atomic_int stop;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	obj **buckets;
	size_t nbuckets, count;
	unsigned gen;
	bool synced, ended;
	int rc;
	k8s_err err;
};

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static obj **slot(k8s_informer *inf, const char *key)
{
	obj **p = &inf->buckets[hash(key) & (inf->nbuckets - 1)];
	while (*p && strcmp((*p)->key, key) != 0)
		p = &(*p)->next;
	return p;
}

static int grow(k8s_informer *inf)
{
	size_t nb = inf->nbuckets * 2;
	obj **b = calloc(nb, sizeof(*b));
	if (!b)
		return FL_ENOMEM;
	for (size_t i = 0; i < inf->nbuckets; i++)
		for (obj *o = inf->buckets[i], *n; o; o = n) {
			n = o->next;
			obj **h = &b[hash(o->key) & (nb - 1)];
			o->next = *h;
			*h = o;
		}
	free(inf->buckets);
	inf->buckets = b;
	inf->nbuckets = nb;
	return 0;
}

static int key_of(const k8s_informer *inf, const cJSON *o, char key[K8S_KEY_MAX])
{
	const char *name = k8s_str(o, "metadata.name");
	const char *ns = k8s_str(o, "metadata.namespace");
	if (!name)
		return FL_EPROTO;
	/* A namespaced kind watched across all namespaces (a resource given as
	 * cluster-wide) still keys its objects by namespace. */
	int n = ns ? snprintf(key, K8S_KEY_MAX, "%s/%s", ns, name)
		   : snprintf(key, K8S_KEY_MAX, "%s", name);
	return n < 0 || n >= K8S_KEY_MAX ? FL_ERANGE : 0;
}

static void enqueue(k8s_informer *inf, const char *key, const cJSON *o)
{
	/* A full queue loses the key, not the cache entry: the next change
	 * or relist queues it again. */
	if (!inf->o.queue)
		return;
	if (inf->o.key_fn) {
		char mapped[K8S_KEY_MAX];
		if (inf->o.key_fn(inf->o.key_arg, o, mapped) == 0) {
			mapped[K8S_KEY_MAX - 1] = '\0';
			(void)k8s_queue_add(inf->o.queue, mapped);
		}
		return;
	}
	(void)k8s_queue_add(inf->o.queue, key);
}

/* Under mu. */
static int upsert(k8s_informer *inf, const cJSON *o, bool listed)
{
	char key[K8S_KEY_MAX];
	int rc = key_of(inf, o, key);
	if (rc)
		return rc;
	cJSON *copy = cJSON_Duplicate(o, 1);
	if (!copy)
		return FL_ENOMEM;
	obj **p = slot(inf, key);
	bool changed = true;
	if (*p) {
		const char *a = k8s_str((*p)->json, "metadata.resourceVersion");
		const char *b = k8s_str(o, "metadata.resourceVersion");
		changed = !listed || !a || !b || strcmp(a, b) != 0;
		cJSON_Delete((*p)->json);
		(*p)->json = copy;
		(*p)->gen = inf->gen;
	} else {
		if (inf->count >= inf->o.max_objects) {
			cJSON_Delete(copy);
			return FL_ERANGE;
		}
		size_t len = strlen(key);
		obj *n = malloc(sizeof(*n) + len + 1);
		if (!n) {
			cJSON_Delete(copy);
			return FL_ENOMEM;
		}
		memcpy(n->key, key, len + 1);
		n->json = copy;
		n->gen = inf->gen;
		n->next = NULL;
		*p = n;
		inf->count++;
		if (inf->count > inf->nbuckets * 2)
			(void)grow(inf); /* failing, chains get longer: still correct */
	}
	if (changed)
		enqueue(inf, key, o);
	return 0;
}

static void remove_key(k8s_informer *inf, const char *key)
{
	obj **p = slot(inf, key);
	if (!*p)
		return;
	obj *o = *p;
	*p = o->next;
	cJSON_Delete(o->json);
	free(o);
	inf->count--;
}

/* After a relist: what the list did not hold was deleted meanwhile. */
static void sweep(k8s_informer *inf)
{
	for (size_t i = 0; i < inf->nbuckets; i++)
		for (obj **p = &inf->buckets[i]; *p;) {
			obj *o = *p;
			if (o->gen == inf->gen) {
				p = &o->next;
				continue;
			}
			*p = o->next;
			enqueue(inf, o->key, o->json);
			cJSON_Delete(o->json);
			free(o);
			inf->count--;
		}
}

static int on_event(void *arg, const k8s_watch_event *ev)
{
	k8s_informer *inf = arg;
	int rc = 0;
	char key[K8S_KEY_MAX];
	pthread_mutex_lock(&inf->mu);
	switch (ev->type) {
	case K8S_WATCH_LIST_BEGIN:
		inf->gen++;
		break;
	case K8S_WATCH_LISTED:
		rc = upsert(inf, ev->object, true);
		break;
	case K8S_WATCH_LIST_END:
		sweep(inf);
		inf->synced = true;
		pthread_cond_broadcast(&inf->cv);
		break;
	case K8S_WATCH_ADDED:
	case K8S_WATCH_MODIFIED:
		rc = upsert(inf, ev->object, false);
		break;
	case K8S_WATCH_DELETED:
		if (!(rc = key_of(inf, ev->object, key))) {
			remove_key(inf, key);
			enqueue(inf, key, ev->object);
		}
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&inf->mu);
	return rc;
}

static void *run(void *arg)
{
	k8s_informer *inf = arg;
	k8s_watch_opts wo = {.label_selector = inf->label_selector,
			     .field_selector = inf->field_selector,
			     .bookmarks = inf->o.bookmarks,
			     .timeout_seconds = inf->o.timeout_seconds,
			     .stop = &inf->stop};
	k8s_err e;
	k8s_err_clear(&e);
	int rc = k8s_watch(inf->client, &inf->res, inf->ns, &wo, on_event, inf, NULL, &e);
	pthread_mutex_lock(&inf->mu);
	inf->rc = rc;
	inf->err = e;
	inf->ended = true;
	pthread_cond_broadcast(&inf->cv);
	pthread_mutex_unlock(&inf->mu);
	return NULL;
}

static char *dup_or_null(const char *s, bool *fail)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*fail = true;
	return d;
}

int k8s_informer_new(k8s_informer **out, const k8s_config *cfg, const k8s_resource *r,
		     const char *ns, const k8s_informer_opts *o, cm_err *err)
{
	*out = NULL;
	k8s_informer *inf = calloc(1, sizeof(*inf));
	if (!inf)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	inf->o = *o;
	if (!inf->o.max_objects)
		inf->o.max_objects = 100000;
	inf->res = *r;
	inf->nbuckets = 64;
	inf->buckets = calloc(inf->nbuckets, sizeof(*inf->buckets));
	bool fail = !inf->buckets;
	inf->ns = dup_or_null(ns ? ns : cfg->namespace, &fail);
	inf->label_selector = dup_or_null(o->label_selector, &fail);
	inf->field_selector = dup_or_null(o->field_selector, &fail);
	inf->o.label_selector = inf->o.field_selector = NULL;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&inf->mu, NULL);
	pthread_cond_init(&inf->cv, &ca);
	pthread_condattr_destroy(&ca);
	inf->joined = true; /* nothing to join before start */
	if (fail) {
		k8s_informer_free(inf);
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	}
	int rc = k8s_client_new(&inf->client, cfg, err);
	if (rc) {
		k8s_informer_free(inf);
		return rc;
	}
	k8s_client_set_abort(inf->client, &inf->stop);
	*out = inf;
	return 0;
}

int k8s_informer_start(k8s_informer *inf, cm_err *err)
{
	if (inf->started)
		return cm_err_set(err, FL_EINVAL, "informer of %s already started",
				  inf->res.plural);
	if (pthread_create(&inf->thread, NULL, run, inf) != 0)
		return cm_err_set(err, FL_ENOMEM, "informer of %s: cannot start a thread",
				  inf->res.plural);
	inf->started = true;
	inf->joined = false;
	return 0;
}

int k8s_informer_wait_synced(k8s_informer *inf, long timeout_ms)
{
	int64_t deadline = cm_now_ms() + timeout_ms;
	int rc = 0;
	pthread_mutex_lock(&inf->mu);
	while (!inf->synced && !inf->ended) {
		if (timeout_ms < 0) {
			pthread_cond_wait(&inf->cv, &inf->mu);
			continue;
		}
		if (cm_now_ms() >= deadline) {
			rc = FL_ETIMEDOUT;
			break;
		}
		struct timespec ts = cm_deadline_ts(deadline);
		pthread_cond_timedwait(&inf->cv, &inf->mu, &ts);
	}
	if (!rc && !inf->synced)
		rc = inf->rc ? inf->rc : FL_ECLOSED;
	pthread_mutex_unlock(&inf->mu);
	return rc;
}

int k8s_informer_get(k8s_informer *inf, const char *key, cJSON **copy)
{
	*copy = NULL;
	int rc = FL_ENOENT;
	pthread_mutex_lock(&inf->mu);
	obj **p = slot(inf, key);
	if (*p) {
		*copy = cJSON_Duplicate((*p)->json, 1);
		rc = *copy ? 0 : FL_ENOMEM;
	}
	pthread_mutex_unlock(&inf->mu);
	return rc;
}

size_t k8s_informer_count(k8s_informer *inf)
{
	pthread_mutex_lock(&inf->mu);
	size_t n = inf->count;
	pthread_mutex_unlock(&inf->mu);
	return n;
}

int k8s_informer_stop(k8s_informer *inf, k8s_err *err)
{
	atomic_store(&inf->stop, 1);
	if (!inf->joined) {
		pthread_join(inf->thread, NULL);
		inf->joined = true;
	}
	if (err)
		*err = inf->err;
	return inf->rc;
}

void k8s_informer_free(k8s_informer *inf)
{
	if (!inf)
		return;
	k8s_informer_stop(inf, NULL);
	for (size_t i = 0; inf->buckets && i < inf->nbuckets; i++)
		for (obj *o = inf->buckets[i], *n; o; o = n) {
			n = o->next;
			cJSON_Delete(o->json);
			free(o);
		}
	free(inf->buckets);
	k8s_client_free(inf->client);
	free(inf->ns);
	free(inf->label_selector);
	free(inf->field_selector);
	pthread_cond_destroy(&inf->cv);
	pthread_mutex_destroy(&inf->mu);
	free(inf);
}
