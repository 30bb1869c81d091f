/*
 * endpoint.h — a TaskManager's data-plane endpoint: remote channels between
 * TaskManagers over NNG byte streams (nng_stream), with the runtime's own
 * framing and credit-based flow control.
 *
 * Connections: the producer side dials the consumer's endpoint, one
 * connection per (peer, job attempt), shared by every channel of that
 * attempt between the two. Every connection starts with a handshake
 * (handshake.h: protocol version, cluster id, job attempt, and proof that
 * both ends hold the cluster's shared secret); nothing else is read before
 * it ends, and it must end within the handshake timeout. Channel ids are
 * unique within a job attempt and are looked up in the attempt of the
 * connection they arrive on, so one job can never touch another's channels.
 *
 * Frames (little endian, 24-byte header, then `len` payload bytes):
 *   u8 type, u8 event, u16 zero, u32 len, u64 channel, i64 arg
 *   OPEN    producer->consumer  the channel must be registered here
 *   DATA    producer->consumer  payload = buffer bytes (len <= NET_MAX_BUFFER)
 *   EVENT   producer->consumer  event, arg
 *   CREDIT  consumer->producer  arg = number of buffers granted
 *   CLOSE   producer->consumer  channel released (after END_OF_PARTITION)
 * A malformed frame, an OPEN for a channel not registered (or opened
 * twice), or data beyond granted credit is a protocol error: the connection
 * closes and every channel on it fails (consumers see FL_ECLOSED from
 * net_gate_pop with a message naming the peer and the reason; producers get
 * FL_ECLOSED from send, the reason through net_outchan_why).
 *
 * Credits: a consumer registering a channel grants its gate channel's
 * capacity once the channel is OPEN; each buffer popped from the gate
 * returns one credit. A producer sends only while it holds credit, so the
 * receiver never blocks and buffers arriving always have a place: they
 * come from the TaskManager's network buffer pool, where the consumer's
 * task reserved them.
 *
 * Limits: at most max_connections inbound connections at once (more are
 * closed at accept); a connection without a channel for idle_timeout is
 * closed.
 *
 * Threads: I/O runs on NNG's callback threads, connection lifecycle on the
 * endpoint's own service thread; there is no thread per connection. All
 * functions are thread-safe. net_endpoint_open_output may block for the
 * dial (up to 10 s while the peer starts) and the handshake.
 */
#ifndef FLINC_NETWORK_ENDPOINT_H
#define FLINC_NETWORK_ENDPOINT_H

#include <stdint.h>

#include "common/auth.h"
#include "common/err.h"
#include "network/gate.h"
#include "network/outchan.h"
#include "network/pool.h"

typedef struct net_endpoint net_endpoint;

typedef struct net_endpoint_options {
	const char *bind_host;	 /* address to listen on */
	int port;		 /* 0: any free port */
	const char *advertised_host; /* what peers dial; NULL: bind_host */
	const char *cluster_id;	 /* connections from another cluster are refused */
	const char *resource_id; /* this TaskManager, told to the peers we dial */
	const cm_secret *secret; /* required; copied */
	net_pool *pool;		 /* received buffers; borrowed, NULL: heap */
	int max_connections;	 /* inbound, at once; 0: 1024 */
	int64_t handshake_timeout_ms; /* 0: 10 s */
	int64_t idle_timeout_ms;      /* 0: 60 s */
} net_endpoint_options;

/*
 * Starts an endpoint listening on bind_host:port. Returns 0, FL_EINVAL (no
 * secret, bad address), FL_EIO (cannot listen; err names the address and
 * the reason) or FL_ENOMEM.
 */
int net_endpoint_new(net_endpoint **out, const net_endpoint_options *o, cm_err *err);
/* Stops listening, closes every connection (failing their channels),
 * waits for their I/O to end and frees the endpoint. */
void net_endpoint_free(net_endpoint *ep);

/* The bound port and "advertised_host:port" (valid for the endpoint's
 * lifetime). */
int net_endpoint_port(const net_endpoint *ep);
const char *net_endpoint_address(const net_endpoint *ep);

/*
 * Consumer side: delivers remote channel (attempt, id) into gate g's
 * channel ch. Installs the gate's consumed-listener for ch. Must happen
 * before the producer opens the channel (the JobMaster's two-phase
 * deployment). Returns 0, FL_EINVAL (already registered) or FL_ENOMEM.
 */
int net_endpoint_register_input(net_endpoint *ep, uint64_t attempt, uint64_t id, net_gate *g,
				int ch);
/* Forgets the channel (its gate is going away; the consumer thread that
 * pops from it must have ended). */
void net_endpoint_unregister_input(net_endpoint *ep, uint64_t attempt, uint64_t id);

/*
 * Producer side: an outchan that sends to channel (attempt, id) at the
 * endpoint listening on peer "host:port". Dials and shakes hands on first
 * use for that (peer, attempt). Returns 0, FL_EIO (err names the peer and
 * why: unreachable, refused by the peer with its reason, failed
 * authentication), FL_EINVAL (already open) or FL_ENOMEM.
 */
int net_endpoint_open_output(net_endpoint *ep, const char *peer, uint64_t attempt, uint64_t id,
			     net_outchan **out, cm_err *err);

/* Counters, for tests and metrics. */
typedef struct net_endpoint_stats {
	int inbound;	     /* accepted connections alive (handshaking or not) */
	int authenticated;   /* connections that completed the handshake */
	int outbound;	     /* dialed connections alive */
	uint64_t refused;    /* inbound connections closed at accept (limit) */
	uint64_t rejected;   /* connections that failed their handshake */
} net_endpoint_stats;
void net_endpoint_stats_get(net_endpoint *ep, net_endpoint_stats *s);

#endif
