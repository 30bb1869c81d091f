/*
 * window_ends.h — the end timers of a window operator whose windows imply
 * them (window_op.c): (time, key) pairs taken out in time order and, for
 * equal times, in the order of the keys' bytes (then length), as the timer
 * queue (timers.h) orders them.
 *
 * Window ends are few distinct times with many keys each (every key's
 * window of a tumbling second ends at the same millisecond), so the queue
 * is a bucket per distinct time, kept in time order, each holding its keys'
 * bytes in one array: a push appends (no allocation per timer, no heap
 * sift), and a bucket is sorted by key once, when it comes due. Keeps no
 * set: a key pushed twice comes out twice (the window operator pushes a
 * window's end once, when its first record creates it).
 *
 * Each entry carries a 32-bit value of the caller's (the key's hash), given
 * back with it. tm_ends_ahead shows the entries about to come out of the
 * due bucket, for prefetching their state.
 *
 * One object per operator, used by the task's thread only.
 */
#ifndef FLINC_TASKMANAGER_WINDOW_ENDS_H
#define FLINC_TASKMANAGER_WINDOW_ENDS_H

#include <stddef.h>
#include <stdint.h>

typedef struct tm_ends tm_ends;

/* Returns 0 with *out, or FL_ENOMEM. */
int tm_ends_new(tm_ends **out);
void tm_ends_free(tm_ends *q);

/* Adds (time, key[0..klen)) with aux: 0, FL_ERANGE (klen over 65535) or
 * FL_ENOMEM (the queue unchanged). */
int tm_ends_add(tm_ends *q, int64_t time, const void *key, size_t klen, uint32_t aux);
/* Takes out the earliest entry if its time is <= upto: 1 with *time, *key,
 * *klen and *aux (the key valid until the next call on q but tm_ends_ahead
 * and tm_ends_size), 0 when there is none that early. */
int tm_ends_pop(tm_ends *q, int64_t upto, int64_t *time, const void **key, size_t *klen,
		uint32_t *aux);
/* The entry n places after the one tm_ends_pop took last, if it is in the
 * same bucket: 1 with *key, *klen, *aux (valid as a popped key), else 0. */
int tm_ends_ahead(const tm_ends *q, size_t n, const void **key, size_t *klen, uint32_t *aux);
/* The earliest time, INT64_MAX when the queue is empty. */
int64_t tm_ends_peek(const tm_ends *q);
size_t tm_ends_size(const tm_ends *q);
/* Drops every entry (keeps the memory for reuse). */
void tm_ends_clear(tm_ends *q);

#endif
