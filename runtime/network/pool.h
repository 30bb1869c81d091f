/*
 * pool.h — a TaskManager's network buffer pool (Flink's NetworkBufferPool):
 * a fixed number of equal segments (taskmanager.memory.segment-size) carved
 * from one memory region sized by taskmanager.memory.network.*. Record
 * writers and the data endpoint take their buffers from it, so the memory
 * the data plane uses has a bound fixed at start, whatever the parallelism
 * or the input rate.
 *
 * Quotas (Flink's LocalBufferPool): each task takes its buffers through
 * quotas. A quota's minimum is reserved when it is created (Flink's
 * "required buffers": per output of S channels S + 1, per input gate of C
 * channels C * buffers-per-channel + 1); a task that does not fit is
 * refused with Flink's "Insufficient number of network buffers" message.
 * Up to its minimum a quota's takes always find a segment, whatever other
 * tasks hold; beyond it, up to its maximum, it borrows only segments nobody
 * reserved. A quota at its limit waits (back-pressure), never grows, and
 * never takes what another task was promised: a receiver that granted
 * credit for its reserved buffers always has them.
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
 * Takes an unreserved segment as a data buffer (cap = segment size, len 0),
 * outside any quota; it returns to the pool when net_buffer_free'd. With
 * wait, blocks while none is free, until one is returned or *stop (may be
 * NULL) becomes true and net_pool_wake is called: then FL_ECANCELED.
 * Without wait, FL_ERANGE when none is free.
 */
int net_pool_take(net_pool *p, bool wait, const atomic_bool *stop, net_buffer **out);
/* Wakes every thread waiting in a take, so it rechecks its flag. */
void net_pool_wake(net_pool *p);

typedef struct net_quota net_quota;

/*
 * A share of p: min segments reserved for it, at most max held at once
 * (max >= min; beyond min, only unreserved segments are borrowed). Returns
 * 0, FL_ERANGE with Flink's message when min does not fit next to what is
 * reserved and borrowed, or FL_ENOMEM.
 */
int net_quota_new(net_pool *p, size_t min, size_t max, net_quota **out, cm_err *err);
/* n quotas at once, all or none: the message names their total. */
int net_quotas_new(net_pool *p, size_t n, const size_t *min, const size_t *max, net_quota **out,
		   cm_err *err);
/* Gives the quota's reservation back. Its buffers still out stay valid and
 * return to the pool when freed; the quota goes with the last of them.
 * NULL is a no-op. */
void net_quota_close(net_quota *q);
/*
 * Takes a segment for the quota: within min at once; beyond min while the
 * quota is under max and an unreserved segment is free. Otherwise, with
 * wait, blocks until that changes or *stop (may be NULL) becomes true and
 * net_quota_wake is called (FL_ECANCELED); without wait, FL_ERANGE.
 */
int net_quota_take(net_quota *q, bool wait, const atomic_bool *stop, net_buffer **out);
/* Wakes every thread waiting in a take of q's pool. */
void net_quota_wake(net_quota *q);
uint32_t net_quota_segment_size(const net_quota *q);
/* Segments the quota holds. */
size_t net_quota_in_use(net_quota *q);

/* Network memory of a TaskManager from the configuration, as Flink resolves
 * it for local execution: taskmanager.memory.network.min and .max; when
 * only one is set it is both; when neither, 64 MiB. Returns 0 or FL_EINVAL
 * (min above max) with err naming both. */
struct cfg;
int net_pool_size_from_config(const struct cfg *c, int64_t *bytes, cm_err *err);

#endif
