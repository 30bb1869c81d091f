/*
 * endpoint.h — a TaskManager's data-plane endpoint: remote channels between
 * TaskManagers over NNG byte streams (nng_stream), with the runtime's own
 * framing and credit-based flow control, all logical channels between two
 * TaskManagers multiplexed over one TCP connection per direction.
 *
 * Model: the producer side dials the consumer's endpoint (one connection per
 * (local endpoint, peer address) pair, shared by all channels to that peer).
 * Every remote channel has a job-wide unique 64-bit id chosen by the
 * JobMaster.
 *
 * Frames (little endian, 24-byte header, then `len` payload bytes):
 *   u8 type, u8 event, u16 zero, u32 len, u64 channel, i64 arg
 *   OPEN    producer->consumer  arg = 0
 *   DATA    producer->consumer  payload = buffer bytes (len <= NET_MAX_BUFFER)
 *   EVENT   producer->consumer  event, arg
 *   CREDIT  consumer->producer  arg = number of buffers granted
 *   CLOSE   producer->consumer  channel released (after END_OF_PARTITION)
 * A frame with an unknown type, a length over NET_MAX_BUFFER, or data beyond
 * granted credit is a protocol error: the connection is closed and every
 * channel on it fails (consumers see FL_ECLOSED from net_gate_pop with a
 * message naming the peer; producers get FL_ECLOSED from send).
 *
 * Credits: when a consumer registers channel X with capacity C (its gate
 * channel capacity), it grants C credits once X is OPEN; each buffer popped
 * from the gate returns one credit. A producer sends a buffer or event only
 * while it holds credit, so receivers never block and memory stays bounded
 * at C buffers per channel on the receiving side.
 *
 * Threads: the endpoint runs one receive thread per connection (blocking
 * nng_stream I/O via nng_aio_wait); sends happen on the producer task's own
 * thread under the connection's send lock. All functions are thread-safe.
 */
#ifndef FLINC_NETWORK_ENDPOINT_H
#define FLINC_NETWORK_ENDPOINT_H

#include <stdint.h>

#include "common/err.h"
#include "network/gate.h"
#include "network/outchan.h"

typedef struct net_endpoint net_endpoint;

/*
 * Starts an endpoint listening on host:port (port 0 picks a free one).
 * Returns 0, FL_EIO (cannot listen; err names the address) or FL_ENOMEM.
 */
int net_endpoint_new(net_endpoint **out, const char *host, int port, cm_err *err);
/* Stops listening, closes every connection (failing their channels), joins
 * its threads and frees it. */
void net_endpoint_free(net_endpoint *ep);

/* The bound port and "host:port" (valid for the endpoint's lifetime). */
int net_endpoint_port(const net_endpoint *ep);
const char *net_endpoint_address(const net_endpoint *ep);

/*
 * Consumer side: delivers remote channel `id` into gate g's channel ch.
 * Installs the gate's consumed-listener for ch. May be called before or
 * after the producer opens the channel. Returns 0, FL_EINVAL (id already
 * registered) or FL_ENOMEM.
 */
int net_endpoint_register_input(net_endpoint *ep, uint64_t id, net_gate *g, int ch);
/* Forgets channel id (the gate is going away). */
void net_endpoint_unregister_input(net_endpoint *ep, uint64_t id);

/*
 * Producer side: an outchan that sends to channel `id` at the endpoint
 * listening on peer "host:port". Connects on first use (retrying for up to
 * 10 s while the peer is starting). Returns 0, FL_EIO (err names the peer) or
 * FL_ENOMEM.
 */
int net_endpoint_open_output(net_endpoint *ep, const char *peer, uint64_t id, net_outchan **out,
			     cm_err *err);

#endif
