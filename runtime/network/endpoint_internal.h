/*
 * endpoint_internal.h — what a connection's receive callback asks of its
 * endpoint (registrations, credit, the handshake's checks, teardown).
 * Internal to runtime/network/. Every function is thread-safe and never
 * blocks: they run on NNG's callback threads.
 */
#ifndef FLINC_NETWORK_ENDPOINT_INTERNAL_H
#define FLINC_NETWORK_ENDPOINT_INTERNAL_H

#include "common/auth.h"
#include "network/conn.h"
#include "network/endpoint.h"
#include "network/pool.h"

/* Decides the WELCOME status for an accepted connection's HELLO: the
 * cluster id must match and the attempt have channels here. On refusal
 * fills msg (NET_HS_MSG_MAX + 1 bytes) for the peer. Records the attempt
 * and the peer's resource id on c. */
int net_ep_on_hello(net_endpoint *ep, struct net_conn *c, const net_hello *h, char *msg);
/* The connection failed its handshake (counted for the statistics). */
void net_ep_on_rejected(net_endpoint *ep);
/* Logs why an unauthenticated connection was closed, at most once a second
 * (with the number of others since), so a flood cannot flood the log. */
void net_ep_log_rejection(net_endpoint *ep, const char *why);
/* The connection proved it holds the secret. */
void net_ep_on_authenticated(net_endpoint *ep, struct net_conn *c);

/* OPEN of channel id on c: attaches it and grants its credit. FL_EPROTO
 * (why filled): not registered for c's attempt, or already open. */
int net_ep_on_open(net_endpoint *ep, struct net_conn *c, uint64_t id, char *why, size_t len);
/* Takes one credit for a DATA/EVENT frame and, with buf (DATA), the buffer
 * its payload goes into (see take_buffer). 0, FL_ENOENT (the channel is no
 * longer registered: drop the frame), FL_EPROTO or FL_ENOMEM (why filled). */
int net_ep_take_credit(net_endpoint *ep, struct net_conn *c, const struct net_frame *f,
		       net_buffer **buf, char *why, size_t len);
/* Pushes b (taken over) into the channel's gate. 0 or FL_EPROTO (the gate
 * overflowed: the peer sent beyond credit). */
int net_ep_deliver(net_endpoint *ep, struct net_conn *c, uint64_t id, net_buffer *b, char *why,
		   size_t len);
/* CLOSE of channel id on c. */
void net_ep_on_close(net_endpoint *ep, struct net_conn *c, uint64_t id);

/* c is failed and no aio is in flight: the endpoint tears it down on its
 * own thread (fails its channels, drops the list's reference). */
void net_ep_conn_dead(net_endpoint *ep, struct net_conn *c);

const cm_secret *net_ep_secret(net_endpoint *ep);
int64_t net_ep_handshake_timeout(net_endpoint *ep);

#endif
