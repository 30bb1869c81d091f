/*
 * gate.h — a task's input gate: one bounded FIFO per input channel (one
 * channel per producer subtask), read by the one consumer task thread.
 *
 * Capacity: each channel holds at most `capacity` buffers (data or events).
 * That capacity is the channel's credit: a local producer blocks in
 * net_gate_push while its channel is full (back-pressure); a remote producer
 * only sends when the receiver granted credit, so the connection's receiver
 * uses net_gate_push_nowait, which never blocks.
 *
 * Fairness: net_gate_pop serves channels with data in round-robin order
 * (Flink's inputChannelsWithData queue), so no producer starves another.
 *
 * Blocking (for aligned checkpoints): a blocked channel keeps its buffers and
 * is skipped by pop until unblocked.
 *
 * Threads: any number of producer threads, exactly one consumer thread.
 * Ownership: a pushed buffer belongs to the gate (even when push fails: the
 * gate frees it); a popped buffer belongs to the caller.
 */
#ifndef FLINC_NETWORK_GATE_H
#define FLINC_NETWORK_GATE_H

#include <stdint.h>

#include "network/buffer.h"

typedef struct net_gate net_gate;

/* Called on the consumer thread after a buffer of channel ch was popped, so
 * a remote channel can return one credit to its producer. */
typedef void (*net_consumed_fn)(void *arg, int ch);

/* Returns 0, FL_EINVAL (nchannels < 1, capacity < 1) or FL_ENOMEM. */
int net_gate_new(net_gate **out, int nchannels, int capacity);
/* Frees the gate and every buffer still queued. No thread may use it. */
void net_gate_free(net_gate *g);

int net_gate_channels(const net_gate *g);

/* Installs a consumed-listener for channel ch (before any push). */
void net_gate_set_consumed_fn(net_gate *g, int ch, net_consumed_fn fn, void *arg);

/*
 * Appends b to channel ch, waiting while the channel is full. Returns 0,
 * FL_ECANCELED if the gate was cancelled (b freed), FL_ECLOSED if the channel
 * was failed (b freed).
 */
int net_gate_push(net_gate *g, int ch, net_buffer *b);
/* Appends without waiting; FL_ERANGE (b freed) if the channel is full, which
 * for a credit-based remote channel is a protocol violation. */
int net_gate_push_nowait(net_gate *g, int ch, net_buffer *b);

/*
 * Takes the next buffer, waiting until one is available or the monotonic
 * deadline (cm_now_ms() clock; < 0 waits forever) passes. Returns 0 with *out
 * and *ch set, FL_ETIMEDOUT, FL_ECANCELED, or FL_ECLOSED if a channel was
 * failed (with *ch naming it) — the reason is in net_gate_error().
 */
int net_gate_pop(net_gate *g, int64_t deadline_ms, net_buffer **out, int *ch);

/* Marks channel ch failed (e.g. its connection broke): pop returns
 * FL_ECLOSED from then on, pushers are released. */
void net_gate_fail(net_gate *g, int ch, const char *why);
const char *net_gate_error(net_gate *g);

/* Makes the consumer's wait in pop (the one going on, or else the next)
 * end with FL_ETIMEDOUT when no buffer is ready, so that it attends to
 * something other than its input (a task's checkpoint trigger). */
void net_gate_wake(net_gate *g);
/* Wakes every waiter; pop and push return FL_ECANCELED from then on. */
void net_gate_cancel(net_gate *g);

/* Barrier alignment: pop skips a blocked channel until it is unblocked. */
void net_gate_block(net_gate *g, int ch);
void net_gate_unblock_all(net_gate *g);

/* The quota received buffers for this gate are taken from (the task's
 * share of the pool; NULL: the endpoint's pool or the heap). Set before the
 * gate is registered with an endpoint; read under the endpoint's lock. */
struct net_quota;
void net_gate_set_quota(net_gate *g, struct net_quota *q);
struct net_quota *net_gate_quota(const net_gate *g);

#endif
