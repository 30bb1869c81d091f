/*
 * timers.h — the in-memory timer queue of a keyed operator (Flink's
 * HeapPriorityQueueSet behind InternalTimerService): timers are (time,
 * key) pairs, deduplicated (registering one twice holds it once), deleted
 * by the same pair, and taken out in time order (equal times in the order
 * of their keys' bytes, so firing is deterministic).
 *
 * It is a cache: issue #9's timers keep their truth in a namespaced state
 * of the operator's backend (checkpointed and redistributed by key group
 * like any keyed state) and rebuild this queue from it on restore. This
 * module knows nothing of backends.
 *
 * Ownership: the queue copies keys in and frees them; a key returned by
 * tm_timerq_pop is valid until the next call on the queue. One object per
 * operator, used by the task's thread only.
 */
#ifndef FLINC_TASKMANAGER_TIMERS_H
#define FLINC_TASKMANAGER_TIMERS_H

#include <stddef.h>
#include <stdint.h>

typedef struct tm_timerq tm_timerq;

/* A queue of at most max_timers timers (> 0). Returns 0 with *out, or
 * FL_ENOMEM / FL_EINVAL. */
int tm_timerq_new(size_t max_timers, tm_timerq **out);
/*
 * A queue that keeps no set of its timers: for an owner that keeps the set
 * elsewhere (the heap backend's timer state, where a lookup costs one cache
 * line) and so need not pay for a second one. tm_timerq_add always adds
 * (1, or FL_ENOMEM), an equal timer too; tm_timerq_delete is refused
 * (FL_EINVAL); tm_timerq_pop returns entries in order whether or not the
 * owner still holds them, and the owner skips those it does not;
 * tm_timerq_size counts entries. The owner bounds how many there are with
 * tm_timerq_retain.
 */
int tm_timerq_new_unchecked(tm_timerq **out);
void tm_timerq_free(tm_timerq *q);

/*
 * Of an unchecked queue: keeps the entries for which keep(arg, ts, key,
 * klen) returns 1 and only one of equal ones, drops those it returns 0 for.
 * A negative return stops the walk and is returned (the entries not walked
 * are kept); the queue stays valid either way. O(n log n).
 */
typedef int (*tm_timerq_keep_fn)(void *arg, int64_t ts, const void *key, size_t klen);
int tm_timerq_retain(tm_timerq *q, tm_timerq_keep_fn keep, void *arg);
/* Of an unchecked queue: drops every entry. */
void tm_timerq_clear(tm_timerq *q);

/* Registers (ts, key[0..klen)): 1 added, 0 already registered, FL_ERANGE
 * when the queue holds max_timers, FL_ENOMEM. */
int tm_timerq_add(tm_timerq *q, int64_t ts, const void *key, size_t klen);
/* Deletes (ts, key): 1 deleted, 0 not registered. */
int tm_timerq_delete(tm_timerq *q, int64_t ts, const void *key, size_t klen);
/* Takes out the earliest timer if its time is <= upto: 1 with *ts, *key
 * and *klen (the key valid until the next call on q), 0 when there is
 * none that early. */
int tm_timerq_pop(tm_timerq *q, int64_t upto, int64_t *ts, const void **key, size_t *klen);
/* The earliest timer's time, INT64_MAX when the queue is empty. */
int64_t tm_timerq_peek(const tm_timerq *q);
size_t tm_timerq_size(const tm_timerq *q);

#endif
