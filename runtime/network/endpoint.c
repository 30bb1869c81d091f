#include "network/endpoint.h"

#include <arpa/inet.h>
#include <nng/nng.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/sync.h"
#include "network/conn.h"
#include "network/frame.h"
#include "network/gate_internal.h"

#define REG_BUCKETS 1024
/* OPEN frames for channels nobody registered yet are remembered; a peer may
 * not make us remember more than this many. */
#define MAX_PENDING_OPENS 65536
#define DIAL_TIMEOUT_MS 10000

/*
 * A consumer registration (gate set) and/or an OPEN seen for a channel id
 * (conn set). Credit accounting is per registration so that data beyond
 * what we granted is caught as a protocol error.
 */
struct net_reg {
	uint64_t id;
	net_endpoint *ep;
	net_gate *gate; /* NULL: opened by a peer, not registered yet */
	int ch;
	int capacity;
	int batch;	       /* credits returned per CREDIT frame */
	struct net_conn *conn; /* connection the producer opened it on */
	int64_t granted;       /* credit the producer may still use */
	int returned;	       /* popped buffers not yet returned as credit */
	struct net_reg *next;  /* hash chain */
};

struct net_endpoint {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a dial finished */
	bool closing;
	nng_stream_listener *listener;
	pthread_t accept_thread;
	nng_aio *accept_aio;
	int port;
	char address[NET_PEER_MAX];
	struct net_conn *conns;
	struct net_reg *regs[REG_BUCKETS];
	int npending;
};

static struct net_reg **reg_slot(net_endpoint *ep, uint64_t id)
{
	uint64_t h = id * 0x9E3779B97F4A7C15ull;
	struct net_reg **p = &ep->regs[h >> 54];
	while (*p && (*p)->id != id)
		p = &(*p)->next;
	return p;
}

static struct net_reg *reg_find(net_endpoint *ep, uint64_t id)
{
	return *reg_slot(ep, id);
}

static void reg_remove(net_endpoint *ep, struct net_reg *r)
{
	struct net_reg **p = reg_slot(ep, r->id);
	if (*p == r)
		*p = r->next;
	if (!r->gate)
		ep->npending--;
}

static struct net_reg *reg_add(net_endpoint *ep, uint64_t id)
{
	struct net_reg *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->id = id;
	r->ep = ep;
	struct net_reg **p = reg_slot(ep, id);
	*p = r;
	return r;
}

/* ------------------------------------------------------------ credits */

static void send_credit(struct net_conn *c, uint64_t id, int n)
{
	struct net_frame f = {.type = NET_FR_CREDIT, .channel = id, .arg = n};
	/* A failed send fails the connection; its receive thread then fails
	 * the channel, so nothing more to do here. */
	net_conn_send(c, &f, NULL);
}

/* Gate consumed-listener, on the consumer thread: one popped buffer is one
 * credit back to the producer, batched to save frames. */
static void on_consumed(void *arg, int ch)
{
	struct net_reg *r = arg;
	net_endpoint *ep = r->ep;
	struct net_conn *c = NULL;
	int n = 0;
	uint64_t id = r->id;
	pthread_mutex_lock(&ep->mu);
	if (r->conn)
		r->returned++;
	if (r->conn && r->returned >= r->batch) {
		n = r->returned;
		r->returned = 0;
		r->granted += n;
		c = r->conn;
		net_conn_ref(c);
	}
	pthread_mutex_unlock(&ep->mu);
	if (c) {
		send_credit(c, id, n);
		net_conn_unref(c);
	}
}

/* Under ep->mu: attaches r (registered) to c and grants the full capacity.
 * Returns the credit to send after unlocking. */
static int attach(struct net_reg *r, struct net_conn *c)
{
	r->conn = c;
	net_conn_ref(c);
	r->granted = r->capacity;
	r->returned = 0;
	return r->capacity;
}

int net_endpoint_register_input(net_endpoint *ep, uint64_t id, net_gate *g, int ch)
{
	int capacity = net_gate_capacity(g);
	pthread_mutex_lock(&ep->mu);
	struct net_reg *r = reg_find(ep, id);
	if (r && r->gate) {
		pthread_mutex_unlock(&ep->mu);
		return FL_EINVAL;
	}
	bool pending = r != NULL;
	if (!r && !(r = reg_add(ep, id))) {
		pthread_mutex_unlock(&ep->mu);
		return FL_ENOMEM;
	}
	if (pending)
		ep->npending--;
	r->gate = g;
	r->ch = ch;
	r->capacity = capacity;
	r->batch = capacity / 4 > 1 ? capacity / 4 : 1;
	net_gate_set_consumed_fn(g, ch, on_consumed, r);
	struct net_conn *c = NULL;
	int grant = 0;
	if (r->conn) {
		/* Opened before we registered: the attach was deferred. */
		c = r->conn;
		net_conn_unref(c); /* attach takes its own; the pending one goes */
		grant = attach(r, c);
		net_conn_ref(c);
	}
	pthread_mutex_unlock(&ep->mu);
	if (c) {
		send_credit(c, id, grant);
		net_conn_unref(c);
	}
	return 0;
}

void net_endpoint_unregister_input(net_endpoint *ep, uint64_t id)
{
	pthread_mutex_lock(&ep->mu);
	struct net_reg *r = reg_find(ep, id);
	if (r && r->gate) {
		reg_remove(ep, r);
		net_gate_set_consumed_fn(r->gate, r->ch, NULL, NULL);
	} else {
		r = NULL;
	}
	pthread_mutex_unlock(&ep->mu);
	if (r) {
		net_conn_unref(r->conn);
		free(r);
	}
}

/* ------------------------------------------------------------ receive */

/* Reads and discards a DATA payload for a channel nobody listens to any
 * more (unregistered while its producer still held credit). */
static int skip_payload(struct net_conn *c, uint32_t len)
{
	uint8_t sink[4096];
	while (len > 0) {
		uint32_t n = len < sizeof(sink) ? len : (uint32_t)sizeof(sink);
		int rv = net_conn_recv(c, sink, n);
		if (rv != 0)
			return rv;
		len -= n;
	}
	return 0;
}

enum { RX_OK = 0, RX_IO = 1, RX_PROTO = 2 };

/* Takes one credit for DATA/EVENT on r's channel. -1: unknown channel (drop),
 * 0: ok, 1: protocol error (why filled). */
static int take_credit(net_endpoint *ep, struct net_conn *c, const struct net_frame *f, char *why,
		       size_t whylen)
{
	struct net_reg *r = reg_find(ep, f->channel);
	if (!r)
		return -1;
	if (r->conn != c) {
		snprintf(why, whylen, "data on channel %llu which is not open on this connection",
			 (unsigned long long)f->channel);
		return 1;
	}
	if (!r->gate || r->granted <= 0) {
		snprintf(why, whylen, "data beyond granted credit on channel %llu",
			 (unsigned long long)f->channel);
		return 1;
	}
	r->granted--;
	return 0;
}

/* Pushes b into the registered gate, if the channel is still registered to
 * c. Called with ep->mu held, so unregister cannot free the gate meanwhile. */
static int deliver(net_endpoint *ep, struct net_conn *c, uint64_t id, net_buffer *b, char *why,
		   size_t whylen)
{
	struct net_reg *r = reg_find(ep, id);
	if (!r || r->conn != c || !r->gate) {
		net_buffer_free(b);
		return RX_OK;
	}
	int rc = net_gate_push_nowait(r->gate, r->ch, b);
	if (rc == FL_ERANGE) {
		snprintf(why, whylen, "channel %llu overflowed its gate", (unsigned long long)id);
		return RX_PROTO;
	}
	return RX_OK; /* FL_ECLOSED / FL_ECANCELED: the consumer is going away */
}

static int on_data(net_endpoint *ep, struct net_conn *c, const struct net_frame *f, char *why,
		   size_t whylen)
{
	pthread_mutex_lock(&ep->mu);
	int t = take_credit(ep, c, f, why, whylen);
	pthread_mutex_unlock(&ep->mu);
	if (t > 0)
		return RX_PROTO;
	if (t < 0) {
		if (f->type == NET_FR_DATA && skip_payload(c, f->len) != 0)
			return RX_IO;
		return RX_OK;
	}
	net_buffer *b;
	if (f->type == NET_FR_DATA) {
		/* len was checked against NET_MAX_BUFFER by net_frame_decode,
		 * and the sender held credit, so this allocation is bounded. */
		b = net_buffer_new(f->len);
		if (!b) {
			snprintf(why, whylen, "out of memory for a %u-byte buffer", f->len);
			return RX_PROTO;
		}
		if (net_conn_recv(c, b->data, f->len) != 0) {
			net_buffer_free(b);
			return RX_IO;
		}
		b->len = f->len;
	} else {
		b = net_buffer_event((enum net_event)f->event, f->arg);
		if (!b) {
			snprintf(why, whylen, "out of memory for an event");
			return RX_PROTO;
		}
	}
	pthread_mutex_lock(&ep->mu);
	int rc = deliver(ep, c, f->channel, b, why, whylen);
	pthread_mutex_unlock(&ep->mu);
	return rc;
}

static int on_open(net_endpoint *ep, struct net_conn *c, uint64_t id, char *why, size_t whylen)
{
	int grant = 0;
	pthread_mutex_lock(&ep->mu);
	struct net_reg *r = reg_find(ep, id);
	if (r && r->conn) {
		pthread_mutex_unlock(&ep->mu);
		snprintf(why, whylen, "channel %llu opened twice", (unsigned long long)id);
		return RX_PROTO;
	}
	if (r) {
		grant = attach(r, c);
	} else {
		if (ep->npending >= MAX_PENDING_OPENS || !(r = reg_add(ep, id))) {
			pthread_mutex_unlock(&ep->mu);
			snprintf(why, whylen, "too many channels opened but not registered");
			return RX_PROTO;
		}
		ep->npending++;
		r->conn = c;
		net_conn_ref(c);
	}
	pthread_mutex_unlock(&ep->mu);
	if (grant)
		send_credit(c, id, grant);
	return RX_OK;
}

static void on_close(net_endpoint *ep, struct net_conn *c, uint64_t id)
{
	struct net_conn *drop = NULL;
	pthread_mutex_lock(&ep->mu);
	struct net_reg *r = reg_find(ep, id);
	if (r && r->conn == c) {
		drop = c;
		r->conn = NULL;
		if (!r->gate) {
			reg_remove(ep, r);
			free(r);
		}
	}
	pthread_mutex_unlock(&ep->mu);
	net_conn_unref(drop);
}

/* The connection is gone: every channel it carried fails. */
static void conn_lost(net_endpoint *ep, struct net_conn *c, const char *why)
{
	char msg[512];
	snprintf(msg, sizeof(msg), "connection to %s lost: %s", c->peer, why);
	int nfailed = 0;
	pthread_mutex_lock(&ep->mu);
	for (int i = 0; i < REG_BUCKETS; i++) {
		struct net_reg **p = &ep->regs[i];
		while (*p) {
			struct net_reg *r = *p;
			if (r->conn != c) {
				p = &r->next;
				continue;
			}
			r->conn = NULL;
			/* Still referenced by the list, so never the last ref. */
			net_conn_unref(c);
			if (r->gate) {
				net_gate_fail(r->gate, r->ch, msg);
				nfailed++;
				p = &r->next;
			} else {
				*p = r->next;
				ep->npending--;
				free(r);
			}
		}
	}
	bool closing = ep->closing;
	pthread_mutex_unlock(&ep->mu);
	if (closing && nfailed == 0)
		CM_DEBUG("network", "%s", msg);
	else
		CM_INFO("network", "%s (%d input channels failed)", msg, nfailed);
}

static void *receive_main(void *arg)
{
	struct net_conn *c = arg;
	net_endpoint *ep = c->ep;
	char why[256] = "";
	uint8_t hdr[NET_FRAME_HDR];
	for (;;) {
		int rv = net_conn_recv(c, hdr, sizeof(hdr));
		if (rv != 0) {
			snprintf(why, sizeof(why), "%s",
				 rv == NNG_ECLOSED || rv == NNG_ECONNSHUT ? "closed"
									  : nng_strerror(rv));
			break;
		}
		struct net_frame f;
		if (net_frame_decode(hdr, &f, why, sizeof(why)) != 0) {
			CM_WARN("network", "protocol error from %s: %s", c->peer, why);
			break;
		}
		int rc = RX_OK;
		switch (f.type) {
		case NET_FR_OPEN:
			rc = on_open(ep, c, f.channel, why, sizeof(why));
			break;
		case NET_FR_DATA:
		case NET_FR_EVENT:
			rc = on_data(ep, c, &f, why, sizeof(why));
			break;
		case NET_FR_CREDIT:
			if (net_conn_add_credit(c, f.channel, f.arg) != 0) {
				snprintf(why, sizeof(why), "credit overflow on channel %llu",
					 (unsigned long long)f.channel);
				rc = RX_PROTO;
			}
			break;
		case NET_FR_CLOSE:
			on_close(ep, c, f.channel);
			break;
		}
		if (rc == RX_PROTO) {
			CM_WARN("network", "protocol error from %s: %s", c->peer, why);
			break;
		}
		if (rc == RX_IO) {
			snprintf(why, sizeof(why), "closed in the middle of a frame");
			break;
		}
	}
	pthread_mutex_lock(&c->mu);
	if (c->failed) /* a writer or the endpoint closed it: theirs is the cause */
		snprintf(why, sizeof(why), "%s", c->why);
	pthread_mutex_unlock(&c->mu);
	net_conn_fail(c, why);
	conn_lost(ep, c, why);
	atomic_store(&c->done, true);
	return NULL;
}

/* Under ep->mu: adds c to the list and starts its receive thread. */
static int start_conn(net_endpoint *ep, struct net_conn *c)
{
	if (pthread_create(&c->thread, NULL, receive_main, c) != 0)
		return FL_ENOMEM;
	c->thread_started = true;
	return 0;
}

/* Under ep->mu: frees connections whose thread ended and that nobody else
 * references, so a long-lived TaskManager does not accumulate dead ones. */
static void reap_conns(net_endpoint *ep)
{
	struct net_conn **p = &ep->conns;
	while (*p) {
		struct net_conn *c = *p;
		if (atomic_load(&c->done) && atomic_load(&c->refs) == 1) {
			*p = c->next;
			pthread_join(c->thread, NULL);
			net_conn_unref(c);
		} else {
			p = &c->next;
		}
	}
}

/* ------------------------------------------------------------ accept */

static void peer_name(nng_stream *s, char *buf, size_t len)
{
	nng_sockaddr sa;
	snprintf(buf, len, "unknown peer");
	if (nng_stream_get_addr(s, NNG_OPT_REMADDR, &sa) != 0)
		return;
	char host[INET6_ADDRSTRLEN];
	if (sa.s_family == NNG_AF_INET) {
		inet_ntop(AF_INET, &sa.s_in.sa_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sa.s_in.sa_port));
	} else if (sa.s_family == NNG_AF_INET6) {
		inet_ntop(AF_INET6, sa.s_in6.sa_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sa.s_in6.sa_port));
	}
}

static void *accept_main(void *arg)
{
	net_endpoint *ep = arg;
	for (;;) {
		/* Started under the lock that net_endpoint_free holds while
		 * closing the listener: NNG 1.5.2 never completes an accept
		 * started after the close. */
		pthread_mutex_lock(&ep->mu);
		if (ep->closing) {
			pthread_mutex_unlock(&ep->mu);
			break;
		}
		nng_stream_listener_accept(ep->listener, ep->accept_aio);
		pthread_mutex_unlock(&ep->mu);
		nng_aio_wait(ep->accept_aio);
		int rv = nng_aio_result(ep->accept_aio);
		pthread_mutex_lock(&ep->mu);
		bool closing = ep->closing;
		pthread_mutex_unlock(&ep->mu);
		if (rv != 0) {
			if (closing || rv == NNG_ECLOSED)
				break;
			CM_WARN("network", "accept on %s failed: %s", ep->address,
				nng_strerror(rv));
			struct timespec ts = {0, 50 * 1000000L};
			nanosleep(&ts, NULL);
			continue;
		}
		nng_stream *s = nng_aio_get_output(ep->accept_aio, 0);
		if (closing) {
			nng_stream_free(s);
			break;
		}
		char peer[NET_PEER_MAX];
		peer_name(s, peer, sizeof(peer));
		struct net_conn *c;
		if (net_conn_new(&c, ep, s, peer, false) != 0) {
			CM_WARN("network", "out of memory accepting %s", peer);
			continue;
		}
		pthread_mutex_lock(&ep->mu);
		reap_conns(ep);
		int rc = start_conn(ep, c);
		if (rc == 0) {
			c->next = ep->conns;
			ep->conns = c;
		}
		pthread_mutex_unlock(&ep->mu);
		if (rc != 0) {
			CM_WARN("network", "cannot start a receive thread for %s", peer);
			net_conn_unref(c);
			continue;
		}
		CM_INFO("network", "accepted data connection from %s on %s", peer, ep->address);
	}
	return NULL;
}

/* ------------------------------------------------------------ lifecycle */

int net_endpoint_new(net_endpoint **out, const char *host, int port, cm_err *err)
{
	*out = NULL;
	if (!host || port < 0 || port > 65535)
		return cm_err_set(err, FL_EINVAL, "bad data endpoint address %s:%d",
				  host ? host : "(null)", port);
	net_endpoint *ep = calloc(1, sizeof(*ep));
	if (!ep)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	if (pthread_mutex_init(&ep->mu, NULL) != 0) {
		free(ep);
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	}
	if (cm_cond_init(&ep->cv) != 0) {
		pthread_mutex_destroy(&ep->mu);
		free(ep);
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	}
	char url[NET_PEER_MAX + 16];
	snprintf(url, sizeof(url), "tcp://%s:%d", host, port);
	int rv, rc = FL_EIO;
	if ((rv = nng_aio_alloc(&ep->accept_aio, NULL, NULL)) != 0) {
		rc = FL_ENOMEM;
		goto fail;
	}
	if ((rv = nng_stream_listener_alloc(&ep->listener, url)) != 0)
		goto fail;
	if ((rv = nng_stream_listener_listen(ep->listener)) != 0)
		goto fail;
	if ((rv = nng_stream_listener_get_int(ep->listener, NNG_OPT_TCP_BOUND_PORT, &ep->port)) !=
	    0)
		goto fail;
	snprintf(ep->address, sizeof(ep->address), "%s:%d", host, ep->port);
	if (pthread_create(&ep->accept_thread, NULL, accept_main, ep) != 0) {
		rc = FL_ENOMEM;
		rv = NNG_ENOMEM;
		goto fail;
	}
	CM_INFO("network", "data endpoint listening on %s", ep->address);
	*out = ep;
	return 0;

fail:
	cm_err_set(err, rc, "cannot listen for data connections on %s:%d: %s", host, port,
		   nng_strerror(rv));
	if (ep->listener)
		nng_stream_listener_free(ep->listener);
	if (ep->accept_aio)
		nng_aio_free(ep->accept_aio);
	pthread_cond_destroy(&ep->cv);
	pthread_mutex_destroy(&ep->mu);
	free(ep);
	return rc;
}

void net_endpoint_free(net_endpoint *ep)
{
	if (!ep)
		return;
	pthread_mutex_lock(&ep->mu);
	ep->closing = true;
	nng_stream_listener_close(ep->listener);
	pthread_mutex_unlock(&ep->mu);
	pthread_join(ep->accept_thread, NULL);
	nng_stream_listener_free(ep->listener);
	nng_aio_free(ep->accept_aio);

	/* No new connections from here on (accept stopped, open_output refuses
	 * when closing), so the list can be walked without the lock: the
	 * receive threads only touch the registrations. */
	char why[200];
	snprintf(why, sizeof(why), "data endpoint %s shut down", ep->address);
	for (struct net_conn *c = ep->conns; c; c = c->next) {
		if (!c->connecting) /* a dial placeholder: see net_endpoint_free's contract */
			net_conn_fail(c, why);
	}
	for (struct net_conn *c = ep->conns; c; c = c->next) {
		if (c->thread_started)
			pthread_join(c->thread, NULL);
	}
	for (int i = 0; i < REG_BUCKETS; i++) {
		struct net_reg *r = ep->regs[i];
		while (r) {
			struct net_reg *next = r->next;
			if (r->gate)
				net_gate_set_consumed_fn(r->gate, r->ch, NULL, NULL);
			net_conn_unref(r->conn);
			free(r);
			r = next;
		}
	}
	struct net_conn *c = ep->conns;
	while (c) {
		struct net_conn *next = c->next;
		net_conn_unref(c);
		c = next;
	}
	CM_INFO("network", "data endpoint %s stopped", ep->address);
	pthread_cond_destroy(&ep->cv);
	pthread_mutex_destroy(&ep->mu);
	free(ep);
}

int net_endpoint_port(const net_endpoint *ep)
{
	return ep->port;
}

const char *net_endpoint_address(const net_endpoint *ep)
{
	return ep->address;
}

/* ------------------------------------------------------------ dial */

/* Dials peer, retrying while it is not listening yet (a TaskManager that is
 * still starting). Returns the stream or NULL with why filled. */
static nng_stream *dial(const char *peer, char *why, size_t whylen)
{
	char url[NET_PEER_MAX + 16];
	snprintf(url, sizeof(url), "tcp://%s", peer);
	nng_stream_dialer *d = NULL;
	nng_aio *aio = NULL;
	nng_stream *s = NULL;
	int rv = nng_stream_dialer_alloc(&d, url);
	if (rv == 0)
		rv = nng_aio_alloc(&aio, NULL, NULL);
	int64_t deadline = cm_now_ms() + DIAL_TIMEOUT_MS;
	long backoff_ms = 10;
	while (rv == 0) {
		int64_t left = deadline - cm_now_ms();
		nng_aio_set_timeout(aio, left < 2000 ? (nng_duration)(left > 1 ? left : 1) : 2000);
		nng_stream_dialer_dial(d, aio);
		nng_aio_wait(aio);
		rv = nng_aio_result(aio);
		if (rv == 0) {
			s = nng_aio_get_output(aio, 0);
			break;
		}
		if (rv != NNG_ECONNREFUSED && rv != NNG_ETIMEDOUT && rv != NNG_ECONNRESET &&
		    rv != NNG_EADDRINVAL && rv != NNG_EUNREACHABLE)
			break;
		if (cm_now_ms() + backoff_ms >= deadline)
			break;
		struct timespec ts = {backoff_ms / 1000, (backoff_ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		backoff_ms = backoff_ms * 2 > 500 ? 500 : backoff_ms * 2;
		rv = 0;
	}
	if (!s)
		snprintf(why, whylen, "cannot connect to data endpoint %s: %s", peer,
			 nng_strerror(rv ? rv : NNG_ETIMEDOUT));
	nng_aio_free(aio);
	nng_stream_dialer_free(d);
	return s;
}

/* Under ep->mu: the live connection we dialed to peer, or NULL. */
static struct net_conn *find_dialed(net_endpoint *ep, const char *peer)
{
	for (struct net_conn *c = ep->conns; c; c = c->next) {
		if (c->dialed && !atomic_load(&c->done) && strcmp(c->peer, peer) == 0 &&
		    (c->connecting || !net_conn_failed(c)))
			return c;
	}
	return NULL;
}

/* A referenced connection dialed to peer, dialing it if needed. */
static int get_conn(net_endpoint *ep, const char *peer, struct net_conn **out, cm_err *err)
{
	*out = NULL;
	pthread_mutex_lock(&ep->mu);
	for (;;) {
		if (ep->closing) {
			pthread_mutex_unlock(&ep->mu);
			return cm_err_set(err, FL_EIO, "data endpoint %s is shutting down",
					  ep->address);
		}
		struct net_conn *c = find_dialed(ep, peer);
		if (!c)
			break;
		if (!c->connecting) {
			net_conn_ref(c);
			pthread_mutex_unlock(&ep->mu);
			*out = c;
			return 0;
		}
		pthread_cond_wait(&ep->cv, &ep->mu);
	}
	reap_conns(ep);
	/* A placeholder others wait on, so one peer gets one connection. */
	struct net_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		pthread_mutex_unlock(&ep->mu);
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	}
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->dialed = true;
	c->connecting = true;
	c->next = ep->conns;
	ep->conns = c;
	pthread_mutex_unlock(&ep->mu);

	char why[300] = "out of memory";
	nng_stream *s = dial(peer, why, sizeof(why));
	struct net_conn *real = NULL;
	int rc = s ? net_conn_new(&real, ep, s, peer, true) : FL_EIO;

	pthread_mutex_lock(&ep->mu);
	for (struct net_conn **p = &ep->conns; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	free(c);
	if (rc == 0 && ep->closing) {
		rc = FL_EIO;
		snprintf(why, sizeof(why), "data endpoint %s is shutting down", ep->address);
	}
	if (rc == 0 && (rc = start_conn(ep, real)) == 0) {
		real->next = ep->conns;
		ep->conns = real;
		net_conn_ref(real);
	}
	pthread_cond_broadcast(&ep->cv);
	pthread_mutex_unlock(&ep->mu);
	if (rc != 0) {
		net_conn_unref(real);
		return cm_err_set(err, rc == FL_ENOMEM ? FL_ENOMEM : FL_EIO, "%s", why);
	}
	CM_INFO("network", "data connection to %s established", peer);
	*out = real;
	return 0;
}

int net_endpoint_open_output(net_endpoint *ep, const char *peer, uint64_t id, net_outchan **out,
			     cm_err *err)
{
	*out = NULL;
	if (!peer || strlen(peer) >= NET_PEER_MAX)
		return cm_err_set(err, FL_EINVAL, "bad data endpoint address '%s'",
				  peer ? peer : "(null)");
	struct net_conn *c;
	int rc = get_conn(ep, peer, &c, err);
	if (rc != 0)
		return rc;
	rc = net_conn_open_out(c, id, out);
	net_conn_unref(c);
	if (rc == FL_EINVAL)
		return cm_err_set(err, rc, "channel %llu to %s is already open",
				  (unsigned long long)id, peer);
	if (rc != 0)
		return cm_err_set(err, rc, "cannot open channel %llu to %s: %s",
				  (unsigned long long)id, peer,
				  rc == FL_ENOMEM ? "out of memory" : "connection failed");
	return 0;
}
