/*
 * conn.h — one data-plane connection (an nng_stream) and the remote outchans
 * that send over it. Internal to runtime/network/.
 *
 * Lifetime: reference counted. The endpoint's connection list holds one
 * reference (dropped only after the receive thread was joined), and every
 * remote outchan and every consumer registration attached to the connection
 * holds one, so an outchan may outlive its endpoint: it then only sees
 * FL_ECLOSED.
 *
 * Locks: c->mu guards failed/why and the outchans' credit; c->send_mu
 * serialises writes to the stream. Order: endpoint lock, then c->mu; never
 * take the endpoint lock while holding c->mu or c->send_mu.
 */
#ifndef FLINC_NETWORK_CONN_H
#define FLINC_NETWORK_CONN_H

#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "network/frame.h"
#include "network/outchan.h"

struct net_endpoint;
struct remote_out;

#define NET_PEER_MAX 128

struct net_conn {
	struct net_endpoint *ep; /* used by the receive thread only */
	nng_stream *s;
	char peer[NET_PEER_MAX]; /* "host:port" of the other side */
	bool dialed;		 /* we dialed it (peer is the dial address) */
	bool connecting;	 /* dial in progress (endpoint lock) */
	atomic_int refs;
	pthread_t thread;
	bool thread_started;
	atomic_bool done;      /* receive thread finished its cleanup */
	struct net_conn *next; /* endpoint's list (endpoint lock) */

	pthread_mutex_t mu;
	bool failed;
	char why[256];
	struct remote_out *outs;

	/* NNG 1.5.2 never completes a send or recv started on a stream that
	 * was already closed, so starting an operation and closing the stream
	 * are serialised by io_mu, and nothing starts once `closed` is set. */
	pthread_mutex_t io_mu;
	bool closed;

	pthread_mutex_t send_mu;
	nng_aio *send_aio;
	nng_aio *recv_aio; /* receive thread only */
	/* Bytes read past the frame asked for (receive thread only): every
	 * read also asks for what follows, so back-to-back frames cost one
	 * read, not two. */
	uint8_t *rx;
	size_t rx_start;
	size_t rx_end;
};

/* A connection over stream s (taken over: freed with the connection, or by
 * this call when it fails). Returns 0 or FL_ENOMEM. refs starts at 1. */
int net_conn_new(struct net_conn **out, struct net_endpoint *ep, nng_stream *s, const char *peer,
		 bool dialed);
void net_conn_ref(struct net_conn *c);
/* Drops a reference; the last one frees (the receive thread must be joined). */
void net_conn_unref(struct net_conn *c);

/* Marks the connection failed (first reason wins), closes the stream so the
 * receive thread and any blocked writer return, and wakes every outchan. */
void net_conn_fail(struct net_conn *c, const char *why);
bool net_conn_failed(struct net_conn *c);

/* Writes a header and its payload (len bytes, may be NULL when len is 0)
 * under the send lock. Returns 0 or FL_ECLOSED (the connection is failed). */
int net_conn_send(struct net_conn *c, const struct net_frame *f, const void *payload);

/* Reads exactly len bytes (receive thread only). Returns 0 or an NNG error
 * (NNG_ECLOSED at EOF). */
int net_conn_recv(struct net_conn *c, void *buf, size_t len);

/* Producer side: a remote outchan for channel id on c (takes a reference to
 * c), sending OPEN first. Returns 0, FL_EINVAL (id already open on c),
 * FL_ENOMEM or FL_EIO (the connection failed). */
int net_conn_open_out(struct net_conn *c, uint64_t id, net_outchan **out);

/* Adds credit from a CREDIT frame to channel id's outchan (ignored if none). */
int net_conn_add_credit(struct net_conn *c, uint64_t id, int64_t credit);

#endif
