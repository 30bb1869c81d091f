/*
 * writer.h — a task's record writer for one output edge (Flink's
 * RecordWriter + ResultPartition): serializes rows into one buffer per
 * channel and sends full buffers, partitioning by the edge's rule.
 *
 * Flushing: a partly filled buffer is sent when it fills, when an event is
 * broadcast, or when net_writer_flush_all is called (the task calls it when
 * the buffer timeout has passed and before it blocks). Records are never
 * split across buffers; a record larger than the buffer size gets a buffer
 * of its own.
 *
 * Threads: one writer belongs to one task thread.
 */
#ifndef FLINC_NETWORK_WRITER_H
#define FLINC_NETWORK_WRITER_H

#include <stdint.h>

#include <flinc/flinc.h>

#include "network/outchan.h"
#include "network/pool.h"

enum net_partitioner {
	NET_PART_FORWARD = 0,   /* one channel: subtask i -> subtask i */
	NET_PART_REBALANCE = 1, /* round robin over all channels */
	NET_PART_HASH = 2,      /* by key group of the record's key */
	NET_PART_BROADCAST = 3, /* every record to every channel */
};

typedef struct net_writer net_writer;

/*
 * Creates a writer with nchannels channels whose outchans are set with
 * net_writer_set_channel before the first emit. Buffers come from quota
 * (their size is its pool's segment size), waiting while the quota allows
 * none (back-pressure); quota NULL: heap buffers of buffer_size bytes
 * (tests and benchmarks). A record larger than a buffer gets a heap buffer
 * of its own. For NET_PART_REBALANCE, `start` picks the first channel.
 * Returns 0, FL_EINVAL or FL_ENOMEM. The quota must outlive the writer.
 */
int net_writer_new(net_writer **out, enum net_partitioner part, int nchannels, net_quota *quota,
		   uint32_t buffer_size, int start);
/* Frees the writer, its unsent buffers and its outchans. */
void net_writer_free(net_writer *w);

/* Gives channel i its outchan (the writer owns it from then on). */
void net_writer_set_channel(net_writer *w, int i, net_outchan *c);
int net_writer_channels(const net_writer *w);

/*
 * Emits an encoded record (rec[0..len), as codec.h's row_encode makes it).
 * For NET_PART_HASH the caller passes the target channel it computed from
 * the key group; for the other partitioners `channel` is ignored. Returns 0
 * or the outchan's error (FL_ECANCELED, FL_ECLOSED, FL_EIO), FL_ENOMEM, or
 * FL_ERANGE for a record over ROW_MAX_ENCODED.
 */
int net_writer_emit(net_writer *w, int channel, const uint8_t *rec, uint32_t len);

/*
 * Encodes row r straight into the channel's buffer (no intermediate copy).
 * Same channel rule and errors as net_writer_emit.
 */
int net_writer_emit_row(net_writer *w, int channel, const fl_row *r);

/*
 * net_writer_emit_row with the record's event-time timestamp (codec.h's
 * ROW_TS_MARK framing). Same channel rule and errors.
 */
int net_writer_emit_row_ts(net_writer *w, int channel, const fl_row *r, int64_t ts);

/* Flushes every channel, then sends event ev (arg) on every channel. */
int net_writer_broadcast_event(net_writer *w, enum net_event ev, int64_t arg);

/* Sends every non-empty buffer. */
int net_writer_flush_all(net_writer *w);

/* Cancels every outchan and a wait for a pool buffer (releases a thread
 * blocked on back-pressure). Safe to call from another thread. */
void net_writer_cancel(net_writer *w);

/* Why sends on channel ch fail (see net_outchan_why), or NULL; ch -1: the
 * channel whose send failed last. */
const char *net_writer_why(net_writer *w, int ch);

/* Bytes of data buffers sent so far (for metrics); any thread. */
uint64_t net_writer_bytes_out(const net_writer *w);
/* Data buffers sent so far, and nanoseconds the writer waited to hand a
 * buffer over (the consumer's room or credit) or for a free buffer from its
 * quota: back-pressure, as Flink's backPressuredTime. Owner thread only. */
uint64_t net_writer_buffers_out(const net_writer *w);
uint64_t net_writer_back_pressured_ns(const net_writer *w);

#endif
