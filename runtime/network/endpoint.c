/*
 * endpoint.c — the data endpoint: listening and accepting, the consumer
 * registrations and their credit, dialing with the handshake, and the
 * service loop that tears connections down and closes idle ones.
 */
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
#include "common/loop.h"
#include "common/sync.h"
#include "network/conn.h"
#include "network/endpoint_internal.h"
#include "network/frame.h"
#include "network/gate_internal.h"

#define DIAL_TIMEOUT_MS 10000
#define SWEEP_MS 1000

/* A consumer registration; conn is set once the producer OPENs it. Credit
 * accounting is per registration so that data beyond what we granted is
 * caught as a protocol error. */
struct net_reg {
	uint64_t attempt, id;
	net_endpoint *ep;
	net_gate *gate;
	int ch;
	int capacity;
	int batch;	       /* credits returned per CREDIT frame */
	struct net_conn *conn; /* connection the producer opened it on */
	int64_t granted;       /* credit the producer may still use */
	int returned;	       /* popped buffers not yet returned as credit */
	struct net_reg *next;  /* hash chain */
};

struct attempt_count {
	uint64_t attempt;
	size_t n;
};

/* A dial in progress: others wanting the same (peer, attempt) wait. */
struct dialing {
	char peer[NET_PEER_MAX];
	uint64_t attempt;
	struct dialing *next;
};

struct net_endpoint {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a dial finished, or a connection was torn down */
	bool closing;
	cm_secret secret;
	char cluster_id[NET_HS_CLUSTER_MAX + 1];
	char resource_id[NET_HS_ID_MAX + 1];
	net_pool *pool;
	int max_connections;
	int64_t handshake_timeout_ms, idle_timeout_ms;
	nng_stream_listener *listener;
	nng_aio *accept_aio;
	bool accepting; /* an accept is in flight */
	int port;
	char address[NET_PEER_MAX];
	cm_loop *loop;
	uint64_t sweep_timer;
	struct net_conn *conns;
	struct dialing *dials;
	int ninbound, noutbound;
	uint64_t refused, rejected;
	int64_t last_refusal_log;
	int64_t last_rejection_log;
	uint64_t rejections_unlogged;
	struct net_reg **buckets;
	size_t nbuckets, nregs;
	struct attempt_count *attempts;
	size_t nattempts, cap_attempts;
};

/* ----------------------------------------------------------- registry */

static size_t reg_hash(const net_endpoint *ep, uint64_t attempt, uint64_t id)
{
	uint64_t h = (id ^ (attempt * 0x9E3779B97F4A7C15ull)) * 0xBF58476D1CE4E5B9ull;
	return (size_t)(h ^ (h >> 29)) & (ep->nbuckets - 1);
}

static struct net_reg **reg_slot(net_endpoint *ep, uint64_t attempt, uint64_t id)
{
	struct net_reg **p = &ep->buckets[reg_hash(ep, attempt, id)];
	while (*p && ((*p)->id != id || (*p)->attempt != attempt))
		p = &(*p)->next;
	return p;
}

static struct net_reg *reg_find(net_endpoint *ep, uint64_t attempt, uint64_t id)
{
	return *reg_slot(ep, attempt, id);
}

/* Doubles the table when chains would average above two. */
static int reg_grow(net_endpoint *ep)
{
	if (ep->nregs < ep->nbuckets * 2)
		return 0;
	size_t nb = ep->nbuckets * 2;
	struct net_reg **b = calloc(nb, sizeof(*b));
	if (!b)
		return FL_ENOMEM;
	struct net_reg **old = ep->buckets;
	size_t ob = ep->nbuckets;
	ep->buckets = b;
	ep->nbuckets = nb;
	for (size_t i = 0; i < ob; i++) {
		struct net_reg *r = old[i];
		while (r) {
			struct net_reg *next = r->next;
			size_t h = reg_hash(ep, r->attempt, r->id);
			r->next = b[h];
			b[h] = r;
			r = next;
		}
	}
	free(old);
	return 0;
}

static struct attempt_count *attempt_find(net_endpoint *ep, uint64_t attempt)
{
	for (size_t i = 0; i < ep->nattempts; i++)
		if (ep->attempts[i].attempt == attempt)
			return &ep->attempts[i];
	return NULL;
}

static int attempt_add(net_endpoint *ep, uint64_t attempt)
{
	struct attempt_count *a = attempt_find(ep, attempt);
	if (a) {
		a->n++;
		return 0;
	}
	if (ep->nattempts == ep->cap_attempts) {
		size_t ncap = ep->cap_attempts ? ep->cap_attempts * 2 : 8;
		struct attempt_count *na = realloc(ep->attempts, ncap * sizeof(*na));
		if (!na)
			return FL_ENOMEM;
		ep->attempts = na;
		ep->cap_attempts = ncap;
	}
	ep->attempts[ep->nattempts++] = (struct attempt_count){attempt, 1};
	return 0;
}

static void attempt_drop(net_endpoint *ep, uint64_t attempt)
{
	struct attempt_count *a = attempt_find(ep, attempt);
	if (a && --a->n == 0)
		*a = ep->attempts[--ep->nattempts];
}

/* Under ep->mu: attaches r to c. */
static void attach(struct net_reg *r, struct net_conn *c)
{
	r->conn = c;
	net_conn_ref(c);
	r->granted = r->capacity;
	r->returned = 0;
	atomic_fetch_add(&c->nchannels, 1);
}

/* Under ep->mu: detaches r from its connection; the caller unrefs it. */
static struct net_conn *detach(struct net_reg *r)
{
	struct net_conn *c = r->conn;
	r->conn = NULL;
	if (c && atomic_fetch_sub(&c->nchannels, 1) == 1)
		atomic_store(&c->idle_since_ms, cm_now_ms());
	return c;
}

static void send_credit(struct net_conn *c, uint64_t id, int n)
{
	struct net_frame f = {.type = NET_FR_CREDIT, .channel = id, .arg = n};
	/* FL_ECLOSED: the connection failed, which fails the channel. Lost
	 * credit would stall the channel for good: fail the connection. */
	if (net_conn_queue(c, &f, NULL) == FL_ENOMEM)
		net_conn_fail(c, "out of memory returning credit");
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

int net_endpoint_register_input(net_endpoint *ep, uint64_t attempt, uint64_t id, net_gate *g,
				int ch)
{
	int capacity = net_gate_capacity(g);
	pthread_mutex_lock(&ep->mu);
	if (reg_find(ep, attempt, id)) {
		pthread_mutex_unlock(&ep->mu);
		return FL_EINVAL;
	}
	struct net_reg *r = calloc(1, sizeof(*r));
	if (!r || reg_grow(ep) != 0 || attempt_add(ep, attempt) != 0) {
		pthread_mutex_unlock(&ep->mu);
		free(r);
		return FL_ENOMEM;
	}
	*r = (struct net_reg){.attempt = attempt,
			      .id = id,
			      .ep = ep,
			      .gate = g,
			      .ch = ch,
			      .capacity = capacity,
			      .batch = capacity / 4 > 1 ? capacity / 4 : 1};
	struct net_reg **slot = reg_slot(ep, attempt, id);
	*slot = r;
	ep->nregs++;
	net_gate_set_consumed_fn(g, ch, on_consumed, r);
	pthread_mutex_unlock(&ep->mu);
	return 0;
}

void net_endpoint_unregister_input(net_endpoint *ep, uint64_t attempt, uint64_t id)
{
	pthread_mutex_lock(&ep->mu);
	struct net_reg **slot = reg_slot(ep, attempt, id), *r = *slot;
	struct net_conn *c = NULL;
	if (r) {
		*slot = r->next;
		ep->nregs--;
		attempt_drop(ep, attempt);
		net_gate_set_consumed_fn(r->gate, r->ch, NULL, NULL);
		c = detach(r);
	}
	pthread_mutex_unlock(&ep->mu);
	net_conn_unref(c);
	free(r);
}

/* ------------------------------------------- what the receiver asks for */

const cm_secret *net_ep_secret(net_endpoint *ep)
{
	return &ep->secret;
}

int64_t net_ep_handshake_timeout(net_endpoint *ep)
{
	return ep->handshake_timeout_ms;
}

int net_ep_on_hello(net_endpoint *ep, struct net_conn *c, const net_hello *h, char *msg)
{
	int status = NET_HS_OK;
	pthread_mutex_lock(&ep->mu);
	snprintf(c->peer_id, sizeof(c->peer_id), "%s", h->resource_id);
	c->attempt = h->attempt;
	if (strcmp(h->cluster_id, ep->cluster_id) != 0) {
		snprintf(msg, NET_HS_MSG_MAX + 1, "this TaskManager belongs to cluster '%.40s', not '%.40s'",
			 ep->cluster_id, h->cluster_id);
		status = NET_HS_CLUSTER;
	} else if (!attempt_find(ep, h->attempt)) {
		snprintf(msg, NET_HS_MSG_MAX + 1,
			 "no channel of job attempt %016llx is deployed on this TaskManager",
			 (unsigned long long)h->attempt);
		status = NET_HS_ATTEMPT;
	}
	pthread_mutex_unlock(&ep->mu);
	return status;
}

void net_ep_on_rejected(net_endpoint *ep)
{
	pthread_mutex_lock(&ep->mu);
	ep->rejected++;
	pthread_mutex_unlock(&ep->mu);
}

void net_ep_log_rejection(net_endpoint *ep, const char *why)
{
	int64_t now = cm_now_ms();
	pthread_mutex_lock(&ep->mu);
	bool log = now - ep->last_rejection_log >= 1000;
	uint64_t others = ep->rejections_unlogged;
	if (log) {
		ep->last_rejection_log = now;
		ep->rejections_unlogged = 0;
	} else {
		ep->rejections_unlogged++;
	}
	pthread_mutex_unlock(&ep->mu);
	if (log && others)
		CM_WARN("network", "closed a data connection: %s (and %llu more rejected since)", why,
			(unsigned long long)others);
	else if (log)
		CM_WARN("network", "closed a data connection: %s", why);
}

void net_ep_on_authenticated(net_endpoint *ep, struct net_conn *c)
{
	pthread_mutex_lock(&ep->mu);
	c->authenticated = true;
	pthread_mutex_unlock(&ep->mu);
	CM_INFO("network", "data connection from %s (%s) authenticated for job attempt %016llx",
		 c->peer, c->peer_id, (unsigned long long)c->attempt);
}

int net_ep_on_open(net_endpoint *ep, struct net_conn *c, uint64_t id, char *why, size_t len)
{
	pthread_mutex_lock(&ep->mu);
	struct net_reg *r = reg_find(ep, c->attempt, id);
	if (!r || r->conn) {
		pthread_mutex_unlock(&ep->mu);
		snprintf(why, len, r ? "channel %llu opened twice" : "channel %llu of job attempt %016llx is not deployed here",
			 (unsigned long long)id, (unsigned long long)c->attempt);
		return FL_EPROTO;
	}
	attach(r, c);
	int grant = r->capacity;
	pthread_mutex_unlock(&ep->mu);
	send_credit(c, id, grant);
	return 0;
}

/* Under ep->mu: a buffer for a DATA frame of len bytes to gate g: from the
 * gate's quota (which holds a buffer for every credit granted), else the
 * endpoint's pool, else the heap (a record larger than a segment). */
static int take_buffer(net_endpoint *ep, net_gate *g, uint32_t len, net_buffer **out, char *why,
		       size_t whylen)
{
	net_quota *q = net_gate_quota(g);
	if (q && len <= net_quota_segment_size(q)) {
		if (net_quota_take(q, false, NULL, out) == 0)
			return 0;
		snprintf(why, whylen, "every buffer of the receiving gate is in use (%zu)",
			 net_quota_in_use(q));
		return FL_EPROTO;
	}
	if (!q && ep->pool && len <= net_pool_segment_size(ep->pool)) {
		if (net_pool_take(ep->pool, false, NULL, out) == 0)
			return 0;
		snprintf(why, whylen, "the network buffer pool is exhausted (%zu buffers in use)",
			 net_pool_in_use(ep->pool));
		return FL_EPROTO;
	}
	if ((*out = net_buffer_new(len)) != NULL)
		return 0;
	snprintf(why, whylen, "out of memory for a %u-byte buffer", len);
	return FL_ENOMEM;
}

int net_ep_take_credit(net_endpoint *ep, struct net_conn *c, const struct net_frame *f,
		       net_buffer **buf, char *why, size_t len)
{
	int rc = 0;
	if (buf)
		*buf = NULL;
	pthread_mutex_lock(&ep->mu);
	struct net_reg *r = reg_find(ep, c->attempt, f->channel);
	if (!r) {
		rc = FL_ENOENT; /* unregistered meanwhile: the consumer is gone */
	} else if (r->conn != c) {
		snprintf(why, len, "data on channel %llu which is not open on this connection",
			 (unsigned long long)f->channel);
		rc = FL_EPROTO;
	} else if (r->granted <= 0) {
		snprintf(why, len, "data beyond granted credit on channel %llu",
			 (unsigned long long)f->channel);
		rc = FL_EPROTO;
	} else {
		r->granted--;
		if (buf)
			rc = take_buffer(ep, r->gate, f->len, buf, why, len);
	}
	pthread_mutex_unlock(&ep->mu);
	return rc;
}

int net_ep_deliver(net_endpoint *ep, struct net_conn *c, uint64_t id, net_buffer *b, char *why,
		   size_t len)
{
	/* Under ep->mu, so unregister cannot free the gate meanwhile. */
	pthread_mutex_lock(&ep->mu);
	struct net_reg *r = reg_find(ep, c->attempt, id);
	int rc = 0;
	if (!r || r->conn != c) {
		net_buffer_free(b);
	} else if (net_gate_push_nowait(r->gate, r->ch, b) == FL_ERANGE) {
		snprintf(why, len, "channel %llu overflowed its gate", (unsigned long long)id);
		rc = FL_EPROTO;
	}
	pthread_mutex_unlock(&ep->mu);
	return rc;
}

void net_ep_on_close(net_endpoint *ep, struct net_conn *c, uint64_t id)
{
	struct net_conn *drop = NULL;
	pthread_mutex_lock(&ep->mu);
	struct net_reg *r = reg_find(ep, c->attempt, id);
	if (r && r->conn == c)
		drop = detach(r);
	pthread_mutex_unlock(&ep->mu);
	net_conn_unref(drop); /* never the last: the list holds one */
}

/* ------------------------------------------------------------ teardown */

/* On the service thread: c is failed and idle. Its channels fail, it
 * leaves the list, and the list's reference goes. */
static void teardown(void *arg)
{
	struct net_conn *c = arg;
	net_endpoint *ep = c->ep;
	/* The callbacks are done (check_dead); stop makes sure of it. */
	nng_aio_stop(c->recv_aio);
	nng_aio_stop(c->send_aio);
	char msg[512];
	snprintf(msg, sizeof(msg), "connection to %s%s%s%s lost: %s", c->peer,
		 c->peer_id[0] ? " (" : "", c->peer_id, c->peer_id[0] ? ")" : "", net_conn_why(c));
	int nfailed = 0, ndrop = 0;
	pthread_mutex_lock(&ep->mu);
	for (struct net_conn **p = &ep->conns; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	if (c->dialed)
		ep->noutbound--;
	else
		ep->ninbound--;
	for (size_t i = 0; i < ep->nbuckets; i++) {
		for (struct net_reg *r = ep->buckets[i]; r; r = r->next) {
			if (r->conn != c)
				continue;
			detach(r);
			ndrop++;
			net_gate_fail(r->gate, r->ch, msg);
			nfailed++;
		}
	}
	bool closing = ep->closing;
	pthread_cond_broadcast(&ep->cv);
	pthread_mutex_unlock(&ep->mu);
	/* The registrations' references, then the list's. */
	for (int i = 0; i < ndrop; i++)
		net_conn_unref(c);
	if (nfailed > 0)
		CM_WARN("network", "%s (%d input channels failed)", msg, nfailed);
	else if (!closing && c->authenticated)
		CM_DEBUG("network", "%s", msg);
	net_conn_unref(c);
}

void net_ep_conn_dead(net_endpoint *ep, struct net_conn *c)
{
	/* The service thread runs until the endpoint is freed, which waits for
	 * every listed connection to be torn down, so the post succeeds but
	 * for memory exhaustion; then net_endpoint_free tears it down. */
	if (cm_loop_post(ep->loop, teardown, c) != 0)
		CM_ERROR("network", "cannot hand connection %s to its teardown (out of memory)",
			 c->peer);
}

/* ------------------------------------------------------------- accept */

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

/* Under ep->mu: starts the next accept unless closing. NNG 1.5.2 never
 * completes an accept started after the listener was closed, so starting
 * and closing are serialised by ep->mu. */
static void start_accept(net_endpoint *ep)
{
	ep->accepting = !ep->closing;
	if (ep->accepting)
		nng_stream_listener_accept(ep->listener, ep->accept_aio);
}

struct accepted_ctx {
	net_endpoint *ep;
	nng_stream *s;
};

static void on_accepted(void *arg)
{
	struct accepted_ctx *a = arg;
	net_endpoint *ep = a->ep;
	nng_stream *s = a->s;
	free(a);
	char peer[NET_PEER_MAX];
	peer_name(s, peer, sizeof(peer));
	pthread_mutex_lock(&ep->mu);
	bool full = ep->ninbound >= ep->max_connections, closing = ep->closing;
	int64_t now = cm_now_ms();
	bool log = full && now - ep->last_refusal_log >= 1000;
	if (full) {
		ep->refused++;
		if (log)
			ep->last_refusal_log = now;
	}
	pthread_mutex_unlock(&ep->mu);
	if (full || closing) {
		if (log)
			CM_WARN("network",
				"refused data connection from %s: %d inbound connections are open "
				"(taskmanager.network.connections.max)",
				peer, ep->max_connections);
		nng_stream_free(s);
		return;
	}
	struct net_conn *c;
	if (net_conn_new(&c, ep, s, peer, false) != 0) {
		CM_WARN("network", "out of memory accepting %s", peer);
		return;
	}
	pthread_mutex_lock(&ep->mu);
	/* net_endpoint_free may have begun meanwhile: it no longer looks at
	 * the list, so nothing may join it. */
	if (ep->closing) {
		pthread_mutex_unlock(&ep->mu);
		net_conn_unref(c);
		return;
	}
	c->next = ep->conns;
	ep->conns = c;
	c->listed = true;
	ep->ninbound++;
	pthread_mutex_unlock(&ep->mu);
	CM_DEBUG("network", "accepted data connection from %s on %s", peer, ep->address);
	net_conn_start_receive(c, RX_HELLO_PREFIX, ep->handshake_timeout_ms);
}

static void accept_cb(void *arg)
{
	net_endpoint *ep = arg;
	int rv = nng_aio_result(ep->accept_aio);
	pthread_mutex_lock(&ep->mu);
	ep->accepting = false;
	if (rv == 0) {
		struct accepted_ctx *a = malloc(sizeof(*a));
		nng_stream *s = nng_aio_get_output(ep->accept_aio, 0);
		if (!a || ep->closing) {
			nng_stream_free(s);
			free(a);
		} else {
			*a = (struct accepted_ctx){ep, s};
			if (cm_loop_post(ep->loop, on_accepted, a) != 0) {
				nng_stream_free(s);
				free(a);
			}
		}
	} else if (rv != NNG_ECLOSED && !ep->closing) {
		CM_WARN("network", "accept on %s failed: %s", ep->address, nng_strerror(rv));
	}
	if (rv != NNG_ECLOSED)
		start_accept(ep);
	pthread_cond_broadcast(&ep->cv);
	pthread_mutex_unlock(&ep->mu);
}

/* -------------------------------------------------------------- sweep */

/* On the service thread, every second: closes connections that carried no
 * channel for the idle timeout. */
static void sweep(void *arg)
{
	net_endpoint *ep = arg;
	int64_t now = cm_now_ms();
	struct net_conn *idle[64];
	int n = 0;
	pthread_mutex_lock(&ep->mu);
	for (struct net_conn *c = ep->conns; c && n < 64; c = c->next) {
		if (c->authenticated && atomic_load(&c->nchannels) == 0 &&
		    now - atomic_load(&c->idle_since_ms) >= ep->idle_timeout_ms &&
		    !net_conn_failed(c)) {
			net_conn_ref(c);
			idle[n++] = c;
		}
	}
	/* Re-armed under the lock that net_endpoint_free sets closing with, so
	 * it either sees closing or its timer is cancelled there. */
	if (!ep->closing)
		cm_loop_timer(ep->loop, now + SWEEP_MS, sweep, ep, &ep->sweep_timer);
	pthread_mutex_unlock(&ep->mu);
	for (int i = 0; i < n; i++) {
		char why[128];
		snprintf(why, sizeof(why), "no channel for %lld ms (taskmanager.network.connections.idle-timeout)",
			 (long long)ep->idle_timeout_ms);
		net_conn_fail(idle[i], why);
		net_conn_unref(idle[i]);
	}
}

/* ---------------------------------------------------------- lifecycle */

int net_endpoint_new(net_endpoint **out, const net_endpoint_options *o, cm_err *err)
{
	*out = NULL;
	const char *host = o->bind_host;
	if (!host || !*host || o->port < 0 || o->port > 65535)
		return cm_err_set(err, FL_EINVAL, "bad data endpoint address %s:%d",
				  host ? host : "(null)", o->port);
	if (!o->secret || !o->secret->set)
		return cm_err_set(err, FL_EINVAL,
				  "the data endpoint needs the cluster's shared secret "
				  "(security.internal.token)");
	net_endpoint *ep = calloc(1, sizeof(*ep));
	if (!ep)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	ep->secret = *o->secret;
	snprintf(ep->cluster_id, sizeof(ep->cluster_id), "%s", o->cluster_id ? o->cluster_id : "");
	snprintf(ep->resource_id, sizeof(ep->resource_id), "%s",
		 o->resource_id ? o->resource_id : "");
	ep->pool = o->pool;
	ep->max_connections = o->max_connections > 0 ? o->max_connections : 1024;
	ep->handshake_timeout_ms = o->handshake_timeout_ms > 0 ? o->handshake_timeout_ms : 10000;
	ep->idle_timeout_ms = o->idle_timeout_ms > 0 ? o->idle_timeout_ms : 60000;
	ep->nbuckets = 1024;
	int rv = 0, rc = FL_ENOMEM;
	if (!(ep->buckets = calloc(ep->nbuckets, sizeof(*ep->buckets))))
		goto fail_mem;
	if (pthread_mutex_init(&ep->mu, NULL) != 0)
		goto fail_mem;
	if (cm_cond_init(&ep->cv) != 0) {
		pthread_mutex_destroy(&ep->mu);
		goto fail_mem;
	}
	if (cm_loop_new(&ep->loop, "flinc-net") != 0)
		goto fail_sync;
	char url[NET_PEER_MAX + 16];
	snprintf(url, sizeof(url), "tcp://%s:%d", host, o->port);
	rc = FL_EIO;
	if ((rv = nng_aio_alloc(&ep->accept_aio, accept_cb, ep)) != 0 ||
	    (rv = nng_stream_listener_alloc(&ep->listener, url)) != 0 ||
	    (rv = nng_stream_listener_listen(ep->listener)) != 0 ||
	    (rv = nng_stream_listener_get_int(ep->listener, NNG_OPT_TCP_BOUND_PORT, &ep->port)) !=
		0) {
		if (rv == NNG_ENOMEM)
			rc = FL_ENOMEM;
		cm_err_set(err, rc, "cannot listen for data connections on %s:%d: %s", host, o->port,
			   nng_strerror(rv));
		goto fail_listen;
	}
	snprintf(ep->address, sizeof(ep->address), "%s:%d",
		 o->advertised_host && *o->advertised_host ? o->advertised_host : host, ep->port);
	pthread_mutex_lock(&ep->mu);
	if (cm_loop_timer(ep->loop, cm_now_ms() + SWEEP_MS, sweep, ep, &ep->sweep_timer) != 0) {
		pthread_mutex_unlock(&ep->mu);
		cm_err_set(err, FL_ENOMEM, "out of memory");
		rc = FL_ENOMEM;
		goto fail_listen;
	}
	start_accept(ep);
	pthread_mutex_unlock(&ep->mu);
	CM_INFO("network", "data endpoint listening on %s:%d, advertised as %s", host, ep->port,
		ep->address);
	*out = ep;
	return 0;

fail_listen:
	if (ep->listener)
		nng_stream_listener_free(ep->listener);
	if (ep->accept_aio)
		nng_aio_free(ep->accept_aio);
	cm_loop_free(ep->loop);
fail_sync:
	pthread_cond_destroy(&ep->cv);
	pthread_mutex_destroy(&ep->mu);
fail_mem:
	free(ep->buckets);
	cm_secret_clear(&ep->secret);
	free(ep);
	if (rc == FL_ENOMEM && !(err && err->code))
		cm_err_set(err, FL_ENOMEM, "out of memory");
	return rc;
}

void net_endpoint_free(net_endpoint *ep)
{
	if (!ep)
		return;
	pthread_mutex_lock(&ep->mu);
	ep->closing = true;
	nng_stream_listener_close(ep->listener);
	cm_loop_timer_cancel(ep->loop, ep->sweep_timer);
	pthread_mutex_unlock(&ep->mu);
	nng_aio_stop(ep->accept_aio);

	/* Fail every connection; their aios end and the service thread tears
	 * them down. Wait for that (bounded), then stop the service thread. */
	char why[200];
	snprintf(why, sizeof(why), "data endpoint %s shut down", ep->address);
	pthread_mutex_lock(&ep->mu);
	while (ep->dials) /* a dial in progress lists nothing once it sees closing */
		pthread_cond_wait(&ep->cv, &ep->mu);
	struct net_conn **all = NULL;
	size_t n = 0;
	for (struct net_conn *c = ep->conns; c; c = c->next)
		n++;
	if (n && (all = calloc(n, sizeof(*all)))) {
		n = 0;
		for (struct net_conn *c = ep->conns; c; c = c->next) {
			net_conn_ref(c);
			all[n++] = c;
		}
	}
	pthread_mutex_unlock(&ep->mu);
	for (size_t i = 0; all && i < n; i++) {
		net_conn_fail(all[i], why);
		net_conn_unref(all[i]);
	}
	free(all);
	int64_t deadline = cm_now_ms() + 5000;
	pthread_mutex_lock(&ep->mu);
	while (ep->conns && cm_now_ms() < deadline) {
		struct timespec ts = cm_deadline_ts(deadline);
		pthread_cond_timedwait(&ep->cv, &ep->mu, &ts);
	}
	/* What the service thread could not take (memory exhausted) is torn
	 * down here, off any NNG callback. */
	struct net_conn *left = ep->conns, *mine = NULL;
	ep->conns = NULL;
	pthread_mutex_unlock(&ep->mu);
	/* Those already handed to the teardown stay its (it runs as the loop
	 * ends); the others are unlisted first, so nothing hands them to the
	 * loop once it is gone. */
	while (left) {
		struct net_conn *next = left->next;
		pthread_mutex_lock(&left->mu);
		bool posted = left->dead_posted;
		if (!posted)
			left->listed = false;
		pthread_mutex_unlock(&left->mu);
		if (!posted) {
			left->next = mine;
			mine = left;
		}
		left = next;
	}
	cm_loop_free(ep->loop);
	while (mine) {
		struct net_conn *next = mine->next;
		mine->next = NULL;
		net_conn_fail(mine, why);
		nng_aio_stop(mine->recv_aio);
		nng_aio_stop(mine->send_aio);
		net_conn_unref(mine);
		mine = next;
	}
	nng_stream_listener_free(ep->listener);
	nng_aio_free(ep->accept_aio);
	for (size_t i = 0; i < ep->nbuckets; i++) {
		struct net_reg *r = ep->buckets[i];
		while (r) {
			struct net_reg *next = r->next;
			net_gate_set_consumed_fn(r->gate, r->ch, NULL, NULL);
			net_conn_unref(detach(r));
			free(r);
			r = next;
		}
	}
	free(ep->buckets);
	free(ep->attempts);
	CM_INFO("network", "data endpoint %s stopped", ep->address);
	cm_secret_clear(&ep->secret);
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

void net_endpoint_stats_get(net_endpoint *ep, net_endpoint_stats *s)
{
	pthread_mutex_lock(&ep->mu);
	s->inbound = ep->ninbound;
	s->outbound = ep->noutbound;
	s->authenticated = 0;
	for (struct net_conn *c = ep->conns; c; c = c->next)
		s->authenticated += c->authenticated;
	s->refused = ep->refused;
	s->rejected = ep->rejected;
	pthread_mutex_unlock(&ep->mu);
}

/* ---------------------------------------------------------------- dial */

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
		snprintf(why, whylen, "cannot connect to %s: %s", peer,
			 nng_strerror(rv ? rv : NNG_ETIMEDOUT));
	nng_aio_free(aio);
	nng_stream_dialer_free(d);
	return s;
}

/* The dialer's side of the handshake, blocking. Returns 0 or FL_EIO with
 * why naming the reason. */
/* Milliseconds until deadline, at least 1 (0 would mean no timeout). */
static int64_t left_ms(int64_t deadline)
{
	int64_t left = deadline - cm_now_ms();
	return left > 0 ? left : 1;
}

static int shake_hands(net_endpoint *ep, struct net_conn *c, uint64_t attempt, char *why,
		       size_t len)
{
	net_hello h = {.attempt = attempt};
	snprintf(h.cluster_id, sizeof(h.cluster_id), "%s", ep->cluster_id);
	snprintf(h.resource_id, sizeof(h.resource_id), "%s", ep->resource_id);
	char io[200] = "";
	/* One deadline for the whole exchange, not one per read. */
	int64_t deadline = cm_now_ms() + ep->handshake_timeout_ms;
	if (cm_random(h.nonce, sizeof(h.nonce)) != 0) {
		snprintf(why, len, "no randomness for the handshake");
		return FL_EIO;
	}
	net_hs_hello_encode(c->hs_hello, &h);
	if (net_conn_write_sync(c, c->hs_hello, NET_HS_HELLO_LEN, io, sizeof(io)) != 0 ||
	    net_conn_read_sync(c, c->hs_welcome, NET_HS_PREFIX, left_ms(deadline), io, sizeof(io)) !=
		0) {
		snprintf(why, len, "handshake with %s failed: %s", c->peer, io);
		return FL_EIO;
	}
	net_hs_prefix p;
	if (net_hs_prefix_decode(c->hs_welcome, &p, io, sizeof(io)) != 0) {
		snprintf(why, len, "%s is not a flinc data endpoint: %s", c->peer, io);
		return FL_EIO;
	}
	if (p.version != NET_PROTOCOL_VERSION) {
		snprintf(why, len,
			 "the TaskManager at %s speaks data protocol version %d; this one speaks "
			 "version %d",
			 c->peer, p.version, NET_PROTOCOL_VERSION);
		return FL_EIO;
	}
	net_welcome w;
	if (net_conn_read_sync(c, c->hs_welcome + NET_HS_PREFIX, NET_HS_WELCOME_LEN - NET_HS_PREFIX,
			       left_ms(deadline), io, sizeof(io)) != 0 ||
	    net_hs_welcome_decode(c->hs_welcome, &w, io, sizeof(io)) != 0) {
		snprintf(why, len, "handshake with %s failed: %s", c->peer, io);
		return FL_EIO;
	}
	if (w.status != NET_HS_OK) {
		snprintf(why, len, "the TaskManager at %s refused the data connection: %s", c->peer,
			 w.message);
		return FL_EIO;
	}
	if (!net_hs_welcome_verify(c->hs_welcome, c->hs_hello, &ep->secret)) {
		snprintf(why, len,
			 "the TaskManager at %s failed authentication: it does not hold this "
			 "cluster's security.internal.token",
			 c->peer);
		return FL_EIO;
	}
	uint8_t proof[NET_HS_PROOF_LEN];
	if (net_hs_proof_encode(proof, c->hs_hello, c->hs_welcome, &ep->secret) != 0) {
		snprintf(why, len, "handshake with %s failed: cannot compute the proof", c->peer);
		return FL_EIO;
	}
	if (net_conn_write_sync(c, proof, sizeof(proof), io, sizeof(io)) != 0) {
		snprintf(why, len, "handshake with %s failed: %s", c->peer, io);
		return FL_EIO;
	}
	return 0;
}

/* Under ep->mu: counts the caller's channel-to-be as carried by c, so the
 * idle sweep leaves c alone until the caller opened it (unclaim). */
static void claim(struct net_conn *c)
{
	atomic_fetch_add(&c->nchannels, 1);
}

static void unclaim(struct net_conn *c)
{
	if (atomic_fetch_sub(&c->nchannels, 1) == 1)
		atomic_store(&c->idle_since_ms, cm_now_ms());
}

/* Under ep->mu: a live connection we dialed to (peer, attempt), or NULL. */
static struct net_conn *find_dialed(net_endpoint *ep, const char *peer, uint64_t attempt)
{
	for (struct net_conn *c = ep->conns; c; c = c->next)
		if (c->dialed && c->attempt == attempt && strcmp(c->peer, peer) == 0 &&
		    !net_conn_failed(c))
			return c;
	return NULL;
}

static bool dialing(net_endpoint *ep, const char *peer, uint64_t attempt)
{
	for (struct dialing *d = ep->dials; d; d = d->next)
		if (d->attempt == attempt && strcmp(d->peer, peer) == 0)
			return true;
	return false;
}

/* A referenced, authenticated connection to (peer, attempt), dialing it if
 * needed; one dial at a time per (peer, attempt). */
static int get_conn(net_endpoint *ep, const char *peer, uint64_t attempt, struct net_conn **out,
		    cm_err *err)
{
	*out = NULL;
	pthread_mutex_lock(&ep->mu);
	for (;;) {
		if (ep->closing) {
			pthread_mutex_unlock(&ep->mu);
			return cm_err_set(err, FL_EIO, "data endpoint %s is shutting down",
					  ep->address);
		}
		struct net_conn *c = find_dialed(ep, peer, attempt);
		if (c) {
			net_conn_ref(c);
			claim(c);
			pthread_mutex_unlock(&ep->mu);
			*out = c;
			return 0;
		}
		if (!dialing(ep, peer, attempt))
			break;
		pthread_cond_wait(&ep->cv, &ep->mu);
	}
	struct dialing *d = calloc(1, sizeof(*d));
	if (!d) {
		pthread_mutex_unlock(&ep->mu);
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	}
	snprintf(d->peer, sizeof(d->peer), "%s", peer);
	d->attempt = attempt;
	d->next = ep->dials;
	ep->dials = d;
	pthread_mutex_unlock(&ep->mu);

	char why[400] = "out of memory";
	int rc = FL_EIO;
	nng_stream *s = dial(peer, why, sizeof(why));
	struct net_conn *c = NULL;
	if (s && (rc = net_conn_new(&c, ep, s, peer, true)) == 0) {
		c->attempt = attempt;
		rc = shake_hands(ep, c, attempt, why, sizeof(why));
	}

	pthread_mutex_lock(&ep->mu);
	for (struct dialing **p = &ep->dials; *p; p = &(*p)->next) {
		if (*p == d) {
			*p = d->next;
			break;
		}
	}
	free(d);
	if (rc == 0 && ep->closing) {
		rc = FL_EIO;
		snprintf(why, sizeof(why), "data endpoint %s is shutting down", ep->address);
	}
	if (rc == 0) {
		c->next = ep->conns;
		ep->conns = c;
		c->listed = true;
		c->authenticated = true;
		ep->noutbound++;
		net_conn_ref(c); /* the caller's */
		claim(c);
	}
	pthread_cond_broadcast(&ep->cv);
	pthread_mutex_unlock(&ep->mu);
	if (rc != 0) {
		net_conn_unref(c);
		return cm_err_set(err, rc == FL_ENOMEM ? FL_ENOMEM : FL_EIO, "%s", why);
	}
	net_conn_start_receive(c, RX_FRAMES, 0);
	CM_INFO("network", "data connection to %s established for job attempt %016llx", peer,
		 (unsigned long long)attempt);
	*out = c;
	return 0;
}

int net_endpoint_open_output(net_endpoint *ep, const char *peer, uint64_t attempt, uint64_t id,
			     net_outchan **out, cm_err *err)
{
	*out = NULL;
	if (!peer || strlen(peer) >= NET_PEER_MAX)
		return cm_err_set(err, FL_EINVAL, "bad data endpoint address '%.64s'",
				  peer ? peer : "(null)");
	struct net_conn *c;
	int rc = get_conn(ep, peer, attempt, &c, err);
	if (rc != 0)
		return rc;
	rc = net_conn_open_out(c, id, out);
	unclaim(c);
	if (rc == FL_EINVAL)
		cm_err_set(err, rc, "channel %llu to %s is already open", (unsigned long long)id, peer);
	else if (rc == FL_ECLOSED)
		cm_err_set(err, FL_EIO, "cannot open channel %llu to %s: %s", (unsigned long long)id,
			   peer, net_conn_why(c));
	else if (rc)
		cm_err_set(err, rc, "cannot open channel %llu to %s: %s", (unsigned long long)id, peer,
			   fl_strerror(rc));
	net_conn_unref(c);
	return rc == FL_ECLOSED ? FL_EIO : rc;
}
