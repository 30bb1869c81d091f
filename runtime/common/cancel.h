/*
 * cancel.h — a cancellation request that crosses layers: whoever starts
 * work (the client, on SIGINT) requests it, whoever runs the work (the mini
 * cluster's JobMaster) watches it while the work runs.
 *
 * Threads: every function is thread-safe. A watcher is called with the
 * token's lock held, so it must only flag or post (never block), and
 * cm_cancel_unwatch waits for a watcher that is running: after unwatch
 * returns, the watcher's arg may be freed.
 */
#ifndef FLINC_COMMON_CANCEL_H
#define FLINC_COMMON_CANCEL_H

#include <pthread.h>
#include <stdbool.h>

typedef void (*cm_cancel_fn)(void *arg);

typedef struct cm_cancel {
	pthread_mutex_t mu;
	bool requested;
	cm_cancel_fn fn;
	void *arg;
} cm_cancel;

/* Returns 0 or FL_ENOMEM. */
int cm_cancel_init(cm_cancel *c);
void cm_cancel_fini(cm_cancel *c);
/* Requests cancellation (idempotent) and calls the watcher, if any. Not
 * async-signal-safe: call it from a thread (e.g. one that sigwait()s). */
void cm_cancel_request(cm_cancel *c);
bool cm_cancel_requested(cm_cancel *c);
/* Installs the one watcher (replacing any); calls it at once when
 * cancellation was already requested. */
void cm_cancel_watch(cm_cancel *c, cm_cancel_fn fn, void *arg);
void cm_cancel_unwatch(cm_cancel *c);

#endif
