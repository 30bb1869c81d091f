/*
 * buffer.h — the unit of data exchange: a buffer of framed records, or an
 * in-band event (end of partition, checkpoint barrier, watermark).
 *
 * Events travel in the same FIFO as data, so a barrier can never overtake
 * the records before it. A buffer has exactly one owner at a time; handing
 * it to a queue or a connection transfers ownership.
 */
#ifndef FLINC_NETWORK_BUFFER_H
#define FLINC_NETWORK_BUFFER_H

#include <stddef.h>
#include <stdint.h>

enum net_buf_kind {
	NET_BUF_DATA = 0,  /* data[0..len) holds records: varint length + encoded row */
	NET_BUF_EVENT = 1, /* event and arg are meaningful; len == 0 */
};

enum net_event {
	NET_EV_NONE = 0,
	NET_EV_END_OF_PARTITION = 1, /* producer subtask finished: no more data */
	NET_EV_BARRIER = 2,          /* checkpoint barrier, arg = checkpoint id */
	NET_EV_WATERMARK = 3,        /* arg = event-time watermark in ms */
	NET_EV_CANCEL_BARRIER = 4,   /* checkpoint arg given up (Flink's CancelCheckpointMarker) */
};

struct net_pool;

typedef struct net_buffer {
	struct net_buffer *next; /* queue link, owned by whoever holds the buffer */
	uint8_t kind;            /* enum net_buf_kind */
	uint8_t event;           /* enum net_event */
	uint32_t len;            /* bytes used in data */
	uint32_t cap;            /* bytes allocated in data */
	int64_t arg;             /* event argument */
	uint8_t *data;
	struct net_pool *pool;   /* the pool the segment returns to; NULL: heap */
	struct net_quota *quota; /* the quota it was taken for, or NULL */
} net_buffer;

/* A heap data buffer with room for cap bytes (cap <= NET_MAX_BUFFER), or
 * NULL when memory is exhausted. The data plane takes its buffers from a
 * pool (pool.h); heap buffers are for records larger than a segment. */
net_buffer *net_buffer_new(uint32_t cap);
/* An event buffer (no data), or NULL when memory is exhausted. */
net_buffer *net_buffer_event(enum net_event ev, int64_t arg);
/* Frees b, or returns its segment to its pool. NULL is a no-op. */
void net_buffer_free(net_buffer *b);

/* Largest buffer payload that may exist or cross a connection: one record of
 * ROW_MAX_ENCODED plus its length prefix. */
#define NET_MAX_BUFFER (16u * 1024u * 1024u + 16u)

/* Bytes currently allocated in all buffers of this process (for tests and
 * the memory-bound checks of back-pressure). */
int64_t net_buffer_bytes_live(void);

#endif
