/*
 * workqueue.h — a work queue of object keys with rate-limited retries, as
 * client-go's workqueue: what a controller processes after an informer saw
 * a change.
 *
 * Rules (client-go's):
 *   - a key is queued at most once: adding a queued key does nothing;
 *   - a key being processed (between get and done) is never handed out
 *     twice: added meanwhile, it is queued again at done;
 *   - retry(key) queues it after base * 2^(retries) ms, capped at max, and
 *     counts; forget(key) resets the count (call it after a success);
 *   - at most max_keys distinct keys are tracked; one more is FL_ERANGE.
 *
 * Threads: every function is thread-safe; get blocks.
 */
#ifndef FLINC_K8S_WORKQUEUE_H
#define FLINC_K8S_WORKQUEUE_H

#include <stddef.h>

#include "common/err.h"

#define K8S_KEY_MAX 320 /* "namespace/name": 63 + 1 + 253, and a NUL */

typedef struct k8s_queue k8s_queue;

/* k8s_queue_new: max_keys 0 means 65536; base_ms/max_ms 0 mean 5 and
 * 1000000 (client-go's defaults). Errors: FL_ENOMEM. */
int k8s_queue_new(k8s_queue **out, size_t max_keys, long base_ms, long max_ms);
/* Frees the queue; no thread may be in get. */
void k8s_queue_free(k8s_queue *q);

/* Errors: FL_ERANGE (too many keys, or a key longer than K8S_KEY_MAX - 1),
 * FL_ECLOSED (after shutdown), FL_ENOMEM. */
int k8s_queue_add(k8s_queue *q, const char *key);
int k8s_queue_add_after(k8s_queue *q, const char *key, long delay_ms);
int k8s_queue_retry(k8s_queue *q, const char *key);
void k8s_queue_forget(k8s_queue *q, const char *key);
/* Retries counted for key since the last forget. */
int k8s_queue_retries(k8s_queue *q, const char *key);

/*
 * k8s_queue_get waits up to timeout_ms (< 0: forever) for a key and copies
 * it into key (K8S_KEY_MAX bytes). The caller must call k8s_queue_done with
 * it. Returns 0, FL_ETIMEDOUT, or FL_ECLOSED once shut down and no key is
 * ready (delayed keys are dropped at shutdown).
 */
int k8s_queue_get(k8s_queue *q, char key[K8S_KEY_MAX], long timeout_ms);
void k8s_queue_done(k8s_queue *q, const char *key);

/* Keys ready now (not delayed, not being processed). */
size_t k8s_queue_len(k8s_queue *q);
/* Wakes every get; adds fail from now on. */
void k8s_queue_shutdown(k8s_queue *q);

#endif
