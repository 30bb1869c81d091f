/*
 * timer_service.h — the timers of one keyed operator (Flink's
 * InternalTimerService): event-time and processing-time timers per key
 * and namespace, whose truth is keyed state in the operator's st_backend
 * (so checkpoints carry them and a restore at any parallelism moves them
 * with their key groups), with an in-memory queue per domain
 * (timers.h) that orders them and is rebuilt from the backend after a
 * restore.
 *
 * Layout in the backend: two states declared ST_STATE_NAMESPACED,
 * TM_TIMERS_EVENT_STATE and TM_TIMERS_PROC_STATE (Flink's names); an entry
 * per timer under (key, namespace = the timer's time as 8 bytes big-endian
 * with the sign bit flipped, so byte order is time order, then the timer's
 * own namespace bytes), its value one byte (1). Key plus namespace must fit
 * the backend's namespaced key limit (ST_KEY_MAX less 8).
 *
 * Firing order: time, then the key's bytes, then the namespace's. A popped
 * timer is gone from queue and backend before the caller fires it (so
 * on_timer may register it again).
 *
 * Errors: every call returns 0 (or 1) or a negative FL_E* code with the
 * cause in tm_timers_error, naming the operator.
 *
 * Threads: the task's thread only.
 */
#ifndef FLINC_TASKMANAGER_TIMER_SERVICE_H
#define FLINC_TASKMANAGER_TIMER_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "state/backend.h"

#define TM_TIMERS_EVENT_STATE "_timer_state/event_user-timers"
#define TM_TIMERS_PROC_STATE "_timer_state/processing_user-timers"

enum tm_timer_domain { TM_TIMER_EVENT = 0, TM_TIMER_PROC = 1 };

typedef struct tm_timers tm_timers;

/* A timer taken out by tm_timers_pop: its bytes are valid until the next
 * call on the service. */
typedef struct tm_timer {
	int64_t time;
	const void *key;
	size_t klen;
	const void *ns;
	size_t nslen;
	uint32_t hash; /* kg_murmur3_32(key, klen, 0) */
} tm_timer;

/*
 * Declares the two timer states in b (borrowed: outlives the service) and
 * returns the service in *out (tm_timers_free), holding at most
 * max_timers timers per domain. op_name is copied, for messages. Returns 0,
 * FL_ENOMEM, or the backend's error, with err set.
 */
int tm_timers_new(st_backend *b, const char *op_name, size_t max_timers, tm_timers **out,
		  cm_err *err);
void tm_timers_free(tm_timers *t);

/*
 * Registers (time, key, ns) in domain d: in the backend and the queue; once
 * only (registering it again is a no-op). hash is kg_murmur3_32(key,
 * klen, 0). Returns 0, FL_ERANGE (the queue holds max_timers, or key plus
 * ns too long for the backend), FL_ENOMEM, or the backend's error.
 */
int tm_timers_register(tm_timers *t, enum tm_timer_domain d, int64_t time, const void *key,
		       size_t klen, uint32_t hash, const void *ns, size_t nslen);
/* Deletes it; absent is not an error. Returns 0 or the backend's error. */
int tm_timers_delete(tm_timers *t, enum tm_timer_domain d, int64_t time, const void *key,
		     size_t klen, uint32_t hash, const void *ns, size_t nslen);
/*
 * Takes out the earliest timer of d if its time is <= upto, removing it
 * from the backend too: 1 with *out, 0 when none is due, or the backend's
 * error.
 */
int tm_timers_pop(tm_timers *t, enum tm_timer_domain d, int64_t upto, tm_timer *out);
/* The earliest time in d, INT64_MAX when none is pending. */
int64_t tm_timers_peek(tm_timers *t, enum tm_timer_domain d);
size_t tm_timers_count(const tm_timers *t, enum tm_timer_domain d);
/*
 * Rebuilds both queues from the backend's timer states (after a restore
 * put entries there): the queues are emptied first. Returns 0, FL_EPROTO
 * (an entry that is not a timer: its namespace shorter than a time),
 * FL_ERANGE (over max_timers), FL_ENOMEM or the backend's error.
 */
int tm_timers_rebuild(tm_timers *t);
/* The message of the last failure. */
const cm_err *tm_timers_error(const tm_timers *t);

#endif
