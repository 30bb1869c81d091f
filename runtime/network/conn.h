/*
 * conn.h — one data-plane connection (an nng_stream) between two
 * TaskManagers for one job attempt, and the remote outchans that send over
 * it. Internal to runtime/network/.
 *
 * I/O is asynchronous, on NNG's own threads, with no thread per
 * connection: one receive aio parses frames out of a staging buffer and
 * receives large payloads straight into network buffers; one send aio
 * drains a FIFO of queued frames, so neither a task thread nor a callback
 * ever blocks on the socket. Producers queue only what their credit allows,
 * which bounds the queue.
 *
 * Lifetime: reference counted. The endpoint's list holds one reference until
 * the connection is dead (failed, and no aio in flight), which the
 * endpoint's service loop then tears down; every remote outchan and every
 * consumer registration attached to the connection holds one. So an NNG
 * callback never drops the last reference, and an outchan may outlive its
 * endpoint (it then only sees FL_ECLOSED).
 *
 * Locks: c->mu guards failure state, the outchans' credit and the send
 * queue; c->io_mu serialises starting an operation against closing the
 * stream (NNG 1.5.2 never completes an operation started on a closed
 * stream). Order: endpoint lock, then c->mu, then c->io_mu, then a gate's
 * or the pool's lock; no lock is held while calling back into the
 * endpoint's registrations except as the endpoint functions document.
 */
#ifndef FLINC_NETWORK_CONN_H
#define FLINC_NETWORK_CONN_H

#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "network/frame.h"
#include "network/handshake.h"
#include "network/outchan.h"

struct net_endpoint;
struct remote_out;
struct send_item;

#define NET_PEER_MAX 128
#define NET_RX_STAGING (64 * 1024)

enum net_rx_state {
	RX_HELLO_PREFIX, /* acceptor: the first 8 bytes of HELLO */
	RX_HELLO,	 /* acceptor: the rest of HELLO */
	RX_PROOF,	 /* acceptor: PROOF */
	RX_FRAMES,	 /* frames out of the staging buffer */
	RX_PAYLOAD,	 /* a DATA payload straight into rx_buf (or discarded) */
};

struct net_conn {
	struct net_endpoint *ep;
	nng_stream *s;
	char peer[NET_PEER_MAX];       /* "host:port" of the other side */
	char peer_id[NET_HS_ID_MAX + 1]; /* its resource id, once known */
	uint64_t attempt;	       /* the job attempt it carries */
	bool dialed;		       /* we dialed it */
	atomic_int refs;
	struct net_conn *next; /* endpoint's list (endpoint lock) */
	/* Channels attached (remote outchans on a dialed connection,
	 * consumer registrations on an accepted one), and since when none is:
	 * an idle connection is closed after taskmanager.network.connections.
	 * idle-timeout. */
	atomic_int nchannels;
	_Atomic int64_t idle_since_ms;
	int64_t deadline_ms; /* handshake must end by then (receive side) */
	bool authenticated;  /* endpoint lock */
	bool listed;	     /* in the endpoint's list (set once, before I/O) */

	pthread_mutex_t mu;
	bool failed;
	char why[256];
	struct remote_out *outs;
	struct send_item *sq_head, *sq_tail; /* frames waiting to be sent */
	bool sending;			     /* the send aio is in flight */
	bool rx_active;			     /* the receive aio is in flight */
	bool close_when_sent;		     /* a refusal: fail once the queue drains */
	bool dead_posted;		     /* teardown handed to the endpoint */

	pthread_mutex_t io_mu;
	bool closed;

	nng_aio *send_aio;
	/* The frames in flight: up to NET_SEND_BATCH queued items go out in
	 * one gathered write. */
	nng_iov send_iov[2 * 4];
	unsigned send_niov;
	unsigned send_items;

	/* Receive side, touched only by the receive callback (and by setup
	 * before the first receive starts). */
	nng_aio *recv_aio;
	enum net_rx_state rx_state;
	uint8_t *rx; /* NET_RX_STAGING bytes */
	size_t rx_start, rx_end;
	struct net_frame rx_frame;  /* the DATA frame whose payload is coming */
	net_buffer *rx_buf;	    /* its buffer; NULL: the payload is discarded */
	uint32_t rx_have;	    /* payload bytes received so far */
	uint8_t hs_hello[NET_HS_HELLO_LEN];
	uint8_t hs_welcome[NET_HS_WELCOME_LEN];
};

/* A connection over stream s (taken over: freed with the connection, or by
 * this call when it fails). refs starts at 1. Returns 0 or FL_ENOMEM. */
int net_conn_new(struct net_conn **out, struct net_endpoint *ep, nng_stream *s, const char *peer,
		 bool dialed);
void net_conn_ref(struct net_conn *c);
/* Drops a reference; the last one frees (no aio may be in flight: the
 * endpoint guarantees it by holding its reference until teardown). */
void net_conn_unref(struct net_conn *c);

/* Marks the connection failed (first reason wins), drops queued frames,
 * wakes every outchan and closes the stream so the aios in flight end.
 * Thread-safe, idempotent; never blocks on I/O. Only for a listed
 * connection (an unlisted one is simply unref'd by whoever made it). */
void net_conn_fail(struct net_conn *c, const char *why);
bool net_conn_failed(struct net_conn *c);
/* The failure reason ("" while the connection is fine). Stable once
 * net_conn_failed returned true. */
const char *net_conn_why(struct net_conn *c);

/* Queues a frame (header f, payload b: a data buffer or NULL) for sending;
 * b is taken over (freed once sent or when the connection fails). Returns
 * 0, FL_ECLOSED (failed: b freed), or FL_ENOMEM. Never blocks. */
int net_conn_queue(struct net_conn *c, const struct net_frame *f, net_buffer *b);
/* Queues raw bytes (a handshake message, len <= 256). */
int net_conn_queue_raw(struct net_conn *c, const void *p, size_t len);

/* Blocking, for the dialer's handshake only (before the receive aio runs):
 * exactly len bytes in or out, or an FL_E* code (why filled). */
int net_conn_read_sync(struct net_conn *c, void *buf, size_t len, int64_t timeout_ms, char *why,
		       size_t whylen);
int net_conn_write_sync(struct net_conn *c, const void *buf, size_t len, char *why,
			size_t whylen);

/* Starts the receive callbacks in state st (RX_HELLO_PREFIX for an
 * accepted connection, RX_FRAMES after a dialer's handshake). */
void net_conn_start_receive(struct net_conn *c, enum net_rx_state st, int64_t timeout_ms);

/* Producer side: a remote outchan for channel id on c (takes a reference
 * to c), sending OPEN first. Returns 0, FL_EINVAL (id already open on c),
 * FL_ENOMEM or FL_ECLOSED (the connection failed). */
int net_conn_open_out(struct net_conn *c, uint64_t id, net_outchan **out);
/* Adds credit from a CREDIT frame to channel id's outchan. Returns 0, or
 * FL_EPROTO (credit for a channel not open here, or above NET_MAX_CREDIT). */
int net_conn_add_credit(struct net_conn *c, uint64_t id, int64_t credit);

#endif
