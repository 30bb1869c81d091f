/*
 * informer.h — a cache of one kind of object kept by list + watch on a
 * thread of its own, feeding a work queue (client-go's shared informer,
 * one consumer).
 *
 * The informer's thread runs k8s_watch with a client of its own; every
 * object added, changed or deleted (and every object a relist finds gone)
 * puts its key — "namespace/name", or "name" for cluster-scoped kinds —
 * into the queue given. A controller then takes keys from the queue and
 * reads the objects from the cache (a missing one was deleted).
 */
#ifndef FLINC_K8S_INFORMER_H
#define FLINC_K8S_INFORMER_H

#include "k8s/watch.h"
#include "k8s/workqueue.h"

typedef struct k8s_informer k8s_informer;

typedef struct k8s_informer_opts {
	const char *label_selector;
	const char *field_selector;
	bool bookmarks;
	long timeout_seconds; /* of one watch request (default 300) */
	size_t max_objects;   /* cache cap (default 100000): more ends the watch, FL_ERANGE */
	k8s_queue *queue;     /* may be NULL; not owned */
	/* NULL: an object's own key is queued. Else the key to queue for an
	 * object added, changed or deleted (e.g. the object that owns it):
	 * key_fn writes it into key and returns 0, or returns non-zero to
	 * queue nothing. It runs on the informer's thread under its lock: it
	 * must not call into this informer. */
	int (*key_fn)(void *arg, const cJSON *obj, char key[K8S_KEY_MAX]);
	void *key_arg;
} k8s_informer_opts;

/* k8s_informer_new prepares an informer for r in ns (NULL: the config's
 * namespace; ignored for cluster-scoped kinds). Nothing runs yet. Errors:
 * FL_ENOMEM, FL_EIO. */
int k8s_informer_new(k8s_informer **out, const k8s_config *cfg, const k8s_resource *r,
		     const char *ns, const k8s_informer_opts *o, cm_err *err);
/* Starts the thread. Errors: FL_ENOMEM (no thread), FL_EINVAL (started). */
int k8s_informer_start(k8s_informer *inf, cm_err *err);
/* Waits until the first list is in the cache: 0, FL_ETIMEDOUT, or the
 * watch's error when it ended first. timeout_ms < 0: forever. */
int k8s_informer_wait_synced(k8s_informer *inf, long timeout_ms);
/* A copy of the cached object with key (caller frees): 0, or FL_ENOENT
 * (NULL), FL_ENOMEM. */
int k8s_informer_get(k8s_informer *inf, const char *key, cJSON **copy);
/* Objects in the cache. */
size_t k8s_informer_count(k8s_informer *inf);
/* Stops the thread (within about a second) and returns how the watch ended:
 * 0, or its error (in err). Safe to call twice and before start. */
int k8s_informer_stop(k8s_informer *inf, k8s_err *err);
/* Stops and frees. */
void k8s_informer_free(k8s_informer *inf);

#endif
