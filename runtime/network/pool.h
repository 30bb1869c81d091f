/*
 * pool.h — a TaskManager's network buffer pool (Flink's NetworkBufferPool):
 * a fixed number of equal segments (taskmanager.memory.segment-size) carved
 * from one memory region sized by taskmanager.memory.network.*. Record
 * writers and the data endpoint take their buffers from it, so the memory
 * the data plane uses has a bound fixed at start, whatever the parallelism
 * or the input rate.
 *
 * Reservations: before a task is deployed, the TaskManager reserves the
 * buffers the task may hold at once (Flink's "required buffers": per output
 * of S channels S + 1, per input gate of C channels C * buffers-per-channel
 * + 1). A task that does not fit is refused with Flink's "Insufficient
 * number of network buffers" message; once deployed, its buffers are
 * there. Exhaustion beyond that means waiting (back-pressure), never growth.
 *
 * Memory: the region is mapped without reserving swap and is touched only
 * as segments are first used; returned segments are reused last-in
 * first-out, so the resident size follows the peak use, not the pool size.
 *
 * Threads: all functions are thread-safe.
 */
#ifndef FLINC_NETWORK_POOL_H
#define FLINC_NETWORK_POOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "network/buffer.h"

typedef struct net_pool net_pool;

/*
 * Creates a pool of nsegments segments of segment_size bytes (a power of
 * two >= 64). Returns 0, FL_EINVAL, or FL_ENOMEM (the region cannot be
 * mapped) with err naming the size.
 */
int net_pool_new(net_pool **out, size_t nsegments, uint32_t segment_size, cm_err *err);
/* Frees the pool. Every segment must have been returned (a programmer
 * error otherwise: asserted). */
void net_pool_free(net_pool *p);

uint32_t net_pool_segment_size(const net_pool *p);
size_t net_pool_segments(const net_pool *p);
/* Segments not reserved by any task. */
size_t net_pool_unreserved(net_pool *p);
/* Segments handed out and not yet returned. */
size_t net_pool_in_use(net_pool *p);

/*
 * Reserves n segments. Returns 0, or FL_ERANGE with err holding Flink's
 * message ("Insufficient number of network buffers: required N, but only M
 * available. The total number of network buffers is currently set to T of
 * S bytes each. You can increase this number by setting the configuration
 * keys ...").
 */
int net_pool_reserve(net_pool *p, size_t n, cm_err *err);
/* Gives back n reserved segments. */
void net_pool_unreserve(net_pool *p, size_t n);

/*
 * Takes a free segment as a data buffer (cap = segment size, len 0); it
 * returns to the pool when net_buffer_free'd. With wait, blocks while none
 * is free, until one is returned or *stop (may be NULL) becomes true and
 * net_pool_wake is called: then FL_ECANCELED. Without wait, FL_ERANGE when
 * none is free.
 */
int net_pool_take(net_pool *p, bool wait, const atomic_bool *stop, net_buffer **out);
/* Wakes every thread waiting in net_pool_take, so it rechecks its flag. */
void net_pool_wake(net_pool *p);

/* Network memory of a TaskManager from the configuration, as Flink resolves
 * it for local execution: taskmanager.memory.network.min and .max; when
 * only one is set it is both; when neither, 64 MiB. Returns 0 or FL_EINVAL
 * (min above max) with err naming both. */
struct cfg;
int net_pool_size_from_config(const struct cfg *c, int64_t *bytes, cm_err *err);

#endif
