/*
 * conn.c — a data connection: the send queue, the receive state machine
 * (handshake, then frames), and the remote outchans. See conn.h.
 */
#include "network/conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/sync.h"
#include "network/endpoint_internal.h"
#include "network/nngerr.h"

/* A frame (or raw handshake bytes) waiting to be sent, with its payload. */
struct send_item {
	struct send_item *next;
	uint8_t head[NET_HS_HELLO_LEN]; /* frame header, or a handshake message */
	size_t head_len;
	net_buffer *b; /* DATA payload, or NULL */
};

struct remote_out {
	net_outchan base;
	struct net_conn *c;
	uint64_t id;
	int64_t credit; /* c->mu */
	bool cancelled; /* c->mu */
	pthread_cond_t cv;
	struct remote_out *next; /* c->outs, c->mu */
};

static void send_cb(void *arg);
static void recv_cb(void *arg);

int net_conn_new(struct net_conn **out, struct net_endpoint *ep, nng_stream *s, const char *peer,
		 bool dialed)
{
	*out = NULL;
	struct net_conn *c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	if (nng_aio_alloc(&c->send_aio, send_cb, c) != 0)
		goto fail_conn;
	if (nng_aio_alloc(&c->recv_aio, recv_cb, c) != 0)
		goto fail_send_aio;
	if (!(c->rx = malloc(NET_RX_STAGING)))
		goto fail_recv_aio;
	if (pthread_mutex_init(&c->mu, NULL) != 0)
		goto fail_rx;
	if (pthread_mutex_init(&c->io_mu, NULL) != 0) {
		pthread_mutex_destroy(&c->mu);
		goto fail_rx;
	}
	c->ep = ep;
	c->s = s;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->dialed = dialed;
	atomic_init(&c->idle_since_ms, cm_now_ms());
	atomic_init(&c->nchannels, 0);
	atomic_init(&c->refs, 1);
	/* Credit frames are tiny and latency-bound; Nagle would hold them. */
	nng_stream_set_bool(s, NNG_OPT_TCP_NODELAY, true);
	nng_stream_set_bool(s, NNG_OPT_TCP_KEEPALIVE, true);
	*out = c;
	return 0;

fail_rx:
	free(c->rx);
fail_recv_aio:
	nng_aio_free(c->recv_aio);
fail_send_aio:
	nng_aio_free(c->send_aio);
fail_conn:
	free(c);
fail:
	nng_stream_free(s);
	return FL_ENOMEM;
}

void net_conn_ref(struct net_conn *c)
{
	atomic_fetch_add(&c->refs, 1);
}

static void free_items(struct send_item *it)
{
	while (it) {
		struct send_item *next = it->next;
		net_buffer_free(it->b);
		free(it);
		it = next;
	}
}

void net_conn_unref(struct net_conn *c)
{
	if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	nng_aio_free(c->send_aio);
	nng_aio_free(c->recv_aio);
	nng_stream_free(c->s);
	free_items(c->sq_head);
	net_buffer_free(c->rx_buf);
	free(c->rx);
	pthread_mutex_destroy(&c->io_mu);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* Hands the connection to the endpoint's teardown once it is failed and no
 * aio is in flight any more. */
static void check_dead(struct net_conn *c)
{
	pthread_mutex_lock(&c->mu);
	bool dead = c->listed && c->failed && !c->sending && !c->rx_active && !c->dead_posted;
	if (dead)
		c->dead_posted = true;
	pthread_mutex_unlock(&c->mu);
	if (dead)
		net_ep_conn_dead(c->ep, c);
}

void net_conn_fail(struct net_conn *c, const char *why)
{
	struct send_item *drop = NULL;
	pthread_mutex_lock(&c->mu);
	if (!c->failed) {
		c->failed = true;
		snprintf(c->why, sizeof(c->why), "%.250s", why);
	}
	/* Queued frames go; those being sent stay until their aio ends. */
	if (c->sq_head) {
		struct send_item **keep = &c->sq_head, *last = NULL;
		for (unsigned k = 0; c->sending && k < c->send_items && *keep; k++) {
			last = *keep;
			keep = &(*keep)->next;
		}
		drop = *keep;
		*keep = NULL;
		c->sq_tail = last;
	}
	for (struct remote_out *o = c->outs; o; o = o->next)
		pthread_cond_broadcast(&o->cv);
	pthread_mutex_unlock(&c->mu);
	free_items(drop);
	/* Closing (not freeing) completes the aios in flight with NNG_ECLOSED;
	 * io_mu keeps new ones from starting afterwards. */
	pthread_mutex_lock(&c->io_mu);
	if (!c->closed) {
		c->closed = true;
		nng_stream_close(c->s);
	}
	pthread_mutex_unlock(&c->io_mu);
	check_dead(c);
}

bool net_conn_failed(struct net_conn *c)
{
	pthread_mutex_lock(&c->mu);
	bool f = c->failed;
	pthread_mutex_unlock(&c->mu);
	return f;
}

const char *net_conn_why(struct net_conn *c)
{
	return c->why;
}

/* ----------------------------------------------------------------- send */

/* Most queued frames written with one gathered send: two iovs each (header,
 * payload). NNG guarantees set_iov for up to 4 iovs; beyond, it may fail
 * for memory, and then one frame goes alone. */
#define NET_SEND_BATCH 4

/* Under c->mu: starts sending the queue's first frames unless a send is in
 * flight or the stream is closed. */
static void kick_send(struct net_conn *c)
{
	if (c->sending || !c->sq_head || c->failed)
		return;
	unsigned n = 0, items = 0;
	for (struct send_item *it = c->sq_head; it && items < NET_SEND_BATCH; it = it->next) {
		c->send_iov[n++] = (nng_iov){.iov_buf = it->head, .iov_len = it->head_len};
		if (it->b && it->b->len > 0)
			c->send_iov[n++] = (nng_iov){.iov_buf = it->b->data, .iov_len = it->b->len};
		items++;
	}
	if (nng_aio_set_iov(c->send_aio, n, c->send_iov) != 0) {
		struct send_item *it = c->sq_head;
		n = 0;
		c->send_iov[n++] = (nng_iov){.iov_buf = it->head, .iov_len = it->head_len};
		if (it->b && it->b->len > 0)
			c->send_iov[n++] = (nng_iov){.iov_buf = it->b->data, .iov_len = it->b->len};
		items = 1;
		nng_aio_set_iov(c->send_aio, n, c->send_iov); /* n <= 4: cannot fail */
	}
	c->send_niov = n;
	c->send_items = items;
	pthread_mutex_lock(&c->io_mu);
	if (!c->closed) {
		c->sending = true;
		nng_stream_send(c->s, c->send_aio);
	}
	pthread_mutex_unlock(&c->io_mu);
}

/* Under c->mu: appends an item and starts sending if idle. */
static void enqueue_locked(struct net_conn *c, struct send_item *it)
{
	it->next = NULL;
	if (c->sq_tail)
		c->sq_tail->next = it;
	else
		c->sq_head = it;
	c->sq_tail = it;
	kick_send(c);
}

int net_conn_queue(struct net_conn *c, const struct net_frame *f, net_buffer *b)
{
	struct send_item *it = malloc(sizeof(*it));
	if (!it) {
		net_buffer_free(b);
		return FL_ENOMEM;
	}
	net_frame_encode(it->head, f);
	it->head_len = NET_FRAME_HDR;
	it->b = b;
	pthread_mutex_lock(&c->mu);
	if (c->failed) {
		pthread_mutex_unlock(&c->mu);
		free(it);
		net_buffer_free(b);
		return FL_ECLOSED;
	}
	enqueue_locked(c, it);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

int net_conn_queue_raw(struct net_conn *c, const void *p, size_t len)
{
	struct send_item *it = malloc(sizeof(*it));
	if (!it)
		return FL_ENOMEM;
	if (len > sizeof(it->head)) {
		free(it);
		return FL_EINVAL;
	}
	memcpy(it->head, p, len);
	it->head_len = len;
	it->b = NULL;
	pthread_mutex_lock(&c->mu);
	if (c->failed) {
		pthread_mutex_unlock(&c->mu);
		free(it);
		return FL_ECLOSED;
	}
	enqueue_locked(c, it);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

static void send_cb(void *arg)
{
	struct net_conn *c = arg;
	int rv = nng_aio_result(c->send_aio);
	size_t n = nng_aio_count(c->send_aio);
	struct send_item *done = NULL;
	char why[512] = "";
	pthread_mutex_lock(&c->mu);
	if (rv == 0) {
		/* A short write: skip what went out and send the rest. */
		unsigned i = 0;
		while (i < c->send_niov && n >= c->send_iov[i].iov_len)
			n -= c->send_iov[i++].iov_len;
		if (i < c->send_niov) {
			unsigned k = 0;
			for (; i < c->send_niov; i++, k++)
				c->send_iov[k] = c->send_iov[i];
			c->send_iov[0].iov_buf = (uint8_t *)c->send_iov[0].iov_buf + n;
			c->send_iov[0].iov_len -= n;
			c->send_niov = k;
			int src = nng_aio_set_iov(c->send_aio, k, c->send_iov);
			pthread_mutex_lock(&c->io_mu);
			bool closed = c->closed;
			if (!closed && src == 0)
				nng_stream_send(c->s, c->send_aio);
			pthread_mutex_unlock(&c->io_mu);
			if (!closed && src == 0) {
				pthread_mutex_unlock(&c->mu);
				return;
			}
			rv = src ? NNG_ENOMEM : NNG_ECLOSED;
		}
	}
	c->sending = false;
	/* The frames that went out (or, on error, were in flight) leave the
	 * queue; their buffers are freed after the lock. */
	struct send_item **tail = &done;
	for (unsigned k = 0; k < c->send_items && c->sq_head; k++) {
		struct send_item *it = c->sq_head;
		c->sq_head = it->next;
		it->next = NULL;
		*tail = it;
		tail = &it->next;
	}
	if (!c->sq_head)
		c->sq_tail = NULL;
	c->send_items = 0;
	bool close_now = false;
	if (rv == 0) {
		kick_send(c);
		close_now = c->close_when_sent && !c->sq_head;
		if (close_now)
			snprintf(why, sizeof(why), "%s", c->why);
	} else {
		snprintf(why, sizeof(why), "send to %s failed: %s", c->peer, nng_strerror(rv));
	}
	pthread_mutex_unlock(&c->mu);
	free_items(done);
	if (rv != 0 || close_now)
		net_conn_fail(c, why);
	else
		check_dead(c);
}

/* -------------------------------------------------------- blocking I/O */

static int sync_io(struct net_conn *c, void *buf, size_t len, bool send, int64_t timeout_ms,
		   char *why, size_t whylen)
{
	nng_aio *aio;
	if (nng_aio_alloc(&aio, NULL, NULL) != 0) {
		snprintf(why, whylen, "out of memory");
		return FL_ENOMEM;
	}
	uint8_t *p = buf;
	int rv = 0;
	int64_t deadline = timeout_ms > 0 ? cm_now_ms() + timeout_ms : 0;
	while (len > 0 && rv == 0) {
		nng_iov iov = {.iov_buf = p, .iov_len = len};
		nng_aio_set_iov(aio, 1, &iov);
		if (deadline) {
			int64_t left = deadline - cm_now_ms();
			nng_aio_set_timeout(aio, left > 0 ? (nng_duration)left : 1);
		}
		pthread_mutex_lock(&c->io_mu);
		if (c->closed) {
			pthread_mutex_unlock(&c->io_mu);
			rv = NNG_ECLOSED;
			break;
		}
		if (send)
			nng_stream_send(c->s, aio);
		else
			nng_stream_recv(c->s, aio);
		pthread_mutex_unlock(&c->io_mu);
		nng_aio_wait(aio);
		rv = nng_aio_result(aio);
		size_t n = nng_aio_count(aio);
		if (rv == 0 && n == 0)
			rv = NNG_ECLOSED;
		p += n;
		len -= n;
	}
	nng_aio_free(aio);
	if (rv != 0)
		snprintf(why, whylen, "%s", rv == NNG_ETIMEDOUT ? "timed out" : nng_strerror(rv));
	return net_err_from_nng(rv);
}

int net_conn_read_sync(struct net_conn *c, void *buf, size_t len, int64_t timeout_ms, char *why,
		       size_t whylen)
{
	return sync_io(c, buf, len, false, timeout_ms, why, whylen);
}

int net_conn_write_sync(struct net_conn *c, const void *buf, size_t len, char *why, size_t whylen)
{
	return sync_io(c, (void *)buf, len, true, 0, why, whylen);
}

/* -------------------------------------------------------------- receive */

/* Starts the next receive: straight into the payload buffer when one is
 * being filled (whatever follows lands in the staging area), else into the
 * staging area after what is staged. */
static void start_recv(struct net_conn *c)
{
	nng_iov iov[2];
	unsigned n = 0;
	if (c->rx_state == RX_PAYLOAD && c->rx_buf) {
		c->rx_start = c->rx_end = 0;
		iov[n++] = (nng_iov){.iov_buf = c->rx_buf->data + c->rx_have,
				     .iov_len = c->rx_frame.len - c->rx_have};
		iov[n++] = (nng_iov){.iov_buf = c->rx, .iov_len = NET_RX_STAGING};
	} else {
		if (c->rx_start > 0) {
			memmove(c->rx, c->rx + c->rx_start, c->rx_end - c->rx_start);
			c->rx_end -= c->rx_start;
			c->rx_start = 0;
		}
		iov[n++] = (nng_iov){.iov_buf = c->rx + c->rx_end,
				     .iov_len = NET_RX_STAGING - c->rx_end};
	}
	nng_aio_set_iov(c->recv_aio, n, iov);
	if (c->rx_state < RX_FRAMES) {
		int64_t left = c->deadline_ms - cm_now_ms();
		nng_aio_set_timeout(c->recv_aio, left > 0 ? (nng_duration)left : 1);
	} else {
		nng_aio_set_timeout(c->recv_aio, NNG_DURATION_INFINITE);
	}
	pthread_mutex_lock(&c->mu);
	pthread_mutex_lock(&c->io_mu);
	bool closed = c->closed;
	c->rx_active = !closed;
	if (!closed)
		nng_stream_recv(c->s, c->recv_aio);
	pthread_mutex_unlock(&c->io_mu);
	pthread_mutex_unlock(&c->mu);
	if (closed)
		check_dead(c);
}

void net_conn_start_receive(struct net_conn *c, enum net_rx_state st, int64_t timeout_ms)
{
	c->rx_state = st;
	c->deadline_ms = cm_now_ms() + timeout_ms;
	start_recv(c);
}

static size_t staged(const struct net_conn *c)
{
	return c->rx_end - c->rx_start;
}

/* Outcome of one step of the receive machine. */
enum step { STEP_MORE, STEP_NEED, STEP_FAIL, STEP_STOP };

/* Refuses the connection with a WELCOME carrying status and msg, sent
 * before the connection is closed. */
static enum step refuse(struct net_conn *c, uint16_t status, const char *msg, char *why,
			size_t len)
{
	net_welcome w = {.status = status};
	snprintf(w.message, sizeof(w.message), "%s", msg);
	uint8_t out[NET_HS_WELCOME_LEN];
	net_hs_welcome_encode(out, &w, c->hs_hello, NULL);
	net_conn_queue_raw(c, out, sizeof(out));
	snprintf(why, len, "refused data connection from %s: %s", c->peer, msg);
	return STEP_STOP;
}

static enum step step_hello_prefix(struct net_conn *c, char *why, size_t len)
{
	if (staged(c) < NET_HS_PREFIX)
		return STEP_NEED;
	net_hs_prefix p;
	if (net_hs_prefix_decode(c->rx + c->rx_start, &p, why, len) != 0)
		return STEP_FAIL;
	if (p.kind != NET_HS_HELLO) {
		snprintf(why, len, "handshake: expected HELLO, got message kind %u", p.kind);
		return STEP_FAIL;
	}
	if (p.version != NET_PROTOCOL_VERSION) {
		char msg[NET_HS_MSG_MAX + 1];
		snprintf(msg, sizeof(msg),
			 "this TaskManager speaks data protocol version %d, the peer version %d",
			 NET_PROTOCOL_VERSION, p.version);
		return refuse(c, NET_HS_VERSION, msg, why, len);
	}
	c->rx_state = RX_HELLO;
	return STEP_MORE;
}

static enum step step_hello(struct net_conn *c, char *why, size_t len)
{
	if (staged(c) < NET_HS_HELLO_LEN)
		return STEP_NEED;
	memcpy(c->hs_hello, c->rx + c->rx_start, NET_HS_HELLO_LEN);
	c->rx_start += NET_HS_HELLO_LEN;
	net_hello h;
	if (net_hs_hello_decode(c->hs_hello, &h, why, len) != 0)
		return STEP_FAIL;
	char msg[NET_HS_MSG_MAX + 1] = "";
	int status = net_ep_on_hello(c->ep, c, &h, msg);
	if (status != NET_HS_OK)
		return refuse(c, (uint16_t)status, msg, why, len);
	net_welcome w = {.status = NET_HS_OK};
	if (cm_random(w.nonce, sizeof(w.nonce)) != 0 ||
	    net_hs_welcome_encode(c->hs_welcome, &w, c->hs_hello, net_ep_secret(c->ep)) != 0) {
		snprintf(why, len, "cannot compute the handshake");
		return STEP_FAIL;
	}
	if (net_conn_queue_raw(c, c->hs_welcome, NET_HS_WELCOME_LEN) != 0) {
		snprintf(why, len, "cannot send the handshake");
		return STEP_FAIL;
	}
	c->rx_state = RX_PROOF;
	return STEP_MORE;
}

static enum step step_proof(struct net_conn *c, char *why, size_t len)
{
	if (staged(c) < NET_HS_PROOF_LEN)
		return STEP_NEED;
	const uint8_t *p = c->rx + c->rx_start;
	c->rx_start += NET_HS_PROOF_LEN;
	if (!net_hs_proof_verify(p, c->hs_hello, c->hs_welcome, net_ep_secret(c->ep))) {
		snprintf(why, len,
			 "data connection from %.64s (claiming to be %.64s) failed authentication: "
			 "it does not hold this cluster's security.internal.token",
			 c->peer, c->peer_id[0] ? c->peer_id : "unknown");
		return STEP_FAIL;
	}
	net_ep_on_authenticated(c->ep, c);
	c->rx_state = RX_FRAMES;
	return STEP_MORE;
}

/* Delivers the completed payload (or drops a discarded one). */
static enum step finish_payload(struct net_conn *c, char *why, size_t len)
{
	net_buffer *b = c->rx_buf;
	c->rx_buf = NULL;
	c->rx_state = RX_FRAMES;
	if (!b)
		return STEP_MORE;
	b->len = c->rx_frame.len;
	return net_ep_deliver(c->ep, c, c->rx_frame.channel, b, why, len) == 0 ? STEP_MORE
										  : STEP_FAIL;
}

static enum step step_payload(struct net_conn *c, char *why, size_t len)
{
	uint32_t need = c->rx_frame.len - c->rx_have;
	size_t take = staged(c) < need ? staged(c) : need;
	if (take) {
		if (c->rx_buf)
			memcpy(c->rx_buf->data + c->rx_have, c->rx + c->rx_start, take);
		c->rx_start += take;
		c->rx_have += (uint32_t)take;
	}
	if (c->rx_have == c->rx_frame.len)
		return finish_payload(c, why, len);
	return STEP_NEED;
}

static enum step step_frame(struct net_conn *c, char *why, size_t len)
{
	if (staged(c) < NET_FRAME_HDR)
		return STEP_NEED;
	struct net_frame f;
	if (net_frame_decode(c->rx + c->rx_start, &f, why, len) != 0)
		return STEP_FAIL;
	c->rx_start += NET_FRAME_HDR;
	/* Data flows from dialer to acceptor; only credit comes back. */
	if (c->dialed && f.type != NET_FR_CREDIT) {
		snprintf(why, len, "%s sent a frame of type %d on a connection this side dialed",
			 c->peer, f.type);
		return STEP_FAIL;
	}
	switch (f.type) {
	case NET_FR_OPEN:
		return net_ep_on_open(c->ep, c, f.channel, why, len) == 0 ? STEP_MORE : STEP_FAIL;
	case NET_FR_CLOSE:
		net_ep_on_close(c->ep, c, f.channel);
		return STEP_MORE;
	case NET_FR_CREDIT:
		if (net_conn_add_credit(c, f.channel, f.arg) != 0) {
			snprintf(why, len, "credit %lld for channel %llu is not acceptable",
				 (long long)f.arg, (unsigned long long)f.channel);
			return STEP_FAIL;
		}
		return STEP_MORE;
	default:
		break;
	}
	net_buffer *rx = NULL;
	int rc = net_ep_take_credit(c->ep, c, &f, f.type == NET_FR_DATA ? &rx : NULL, why, len);
	if (rc == FL_EPROTO || rc == FL_ENOMEM)
		return STEP_FAIL;
	if (f.type == NET_FR_EVENT) {
		if (rc == FL_ENOENT)
			return STEP_MORE;
		net_buffer *b = net_buffer_event((enum net_event)f.event, f.arg);
		if (!b) {
			snprintf(why, len, "out of memory for an event");
			return STEP_FAIL;
		}
		return net_ep_deliver(c->ep, c, f.channel, b, why, len) == 0 ? STEP_MORE : STEP_FAIL;
	}
	/* DATA: into a segment of the consumer's gate quota (credit was
	 * granted only for buffers it holds), or a heap buffer for a single
	 * oversized record; or dropped (rx NULL) when the channel is gone. */
	c->rx_frame = f;
	c->rx_have = 0;
	c->rx_buf = rx;
	c->rx_state = RX_PAYLOAD;
	return step_payload(c, why, len);
}

static void recv_cb(void *arg)
{
	struct net_conn *c = arg;
	int rv = nng_aio_result(c->recv_aio);
	size_t n = nng_aio_count(c->recv_aio);
	char why[300] = "";
	if (rv != 0 || n == 0) {
		if (c->rx_state < RX_FRAMES)
			net_ep_on_rejected(c->ep);
		if (rv == NNG_ETIMEDOUT)
			snprintf(why, sizeof(why),
				 "no handshake from %s within %lld ms (taskmanager.network.handshake-timeout)",
				 c->peer, (long long)net_ep_handshake_timeout(c->ep));
		else if (rv == 0 || rv == NNG_ECLOSED || rv == NNG_ECONNSHUT)
			snprintf(why, sizeof(why), "closed by %s", c->peer);
		else
			snprintf(why, sizeof(why), "receive from %s failed: %s", c->peer,
				 nng_strerror(rv));
		pthread_mutex_lock(&c->mu);
		c->rx_active = false;
		pthread_mutex_unlock(&c->mu);
		net_conn_fail(c, why);
		return;
	}
	if (c->rx_state == RX_PAYLOAD && c->rx_buf) {
		uint32_t need = c->rx_frame.len - c->rx_have;
		size_t direct = n < need ? n : need;
		c->rx_have += (uint32_t)direct;
		c->rx_end = n - direct; /* read-ahead into the staging area */
	} else {
		c->rx_end += n;
	}
	enum step st = STEP_MORE;
	while (st == STEP_MORE) {
		switch (c->rx_state) {
		case RX_HELLO_PREFIX:
			st = step_hello_prefix(c, why, sizeof(why));
			break;
		case RX_HELLO:
			st = step_hello(c, why, sizeof(why));
			break;
		case RX_PROOF:
			st = step_proof(c, why, sizeof(why));
			break;
		case RX_FRAMES:
			st = step_frame(c, why, sizeof(why));
			break;
		case RX_PAYLOAD:
			st = step_payload(c, why, sizeof(why));
			break;
		}
	}
	if (st == STEP_NEED) {
		start_recv(c);
		return;
	}
	if (c->rx_state < RX_FRAMES) {
		net_ep_on_rejected(c->ep);
		net_ep_log_rejection(c->ep, why); /* unauthenticated: rate-limited */
	}
	else if (st == STEP_FAIL)
		CM_WARN("network", "protocol error on data connection %s: %s", c->peer, why);
	else
		CM_WARN("network", "%s", why);
	pthread_mutex_lock(&c->mu);
	c->rx_active = false;
	/* A refusal's WELCOME is queued: the connection closes once it is
	 * sent (send_cb), unless nothing is left to send. */
	bool wait_send = st == STEP_STOP && c->sq_head && !c->failed;
	if (wait_send) {
		c->close_when_sent = true;
		snprintf(c->why, sizeof(c->why), "%.250s", why);
	}
	pthread_mutex_unlock(&c->mu);
	if (!wait_send)
		net_conn_fail(c, why);
}

/* ------------------------------------------------------- remote outchan */

static int remote_send(net_outchan *oc, net_buffer *b)
{
	struct remote_out *o = (struct remote_out *)oc;
	struct net_conn *c = o->c;
	struct send_item *it = malloc(sizeof(*it));
	if (!it) {
		net_buffer_free(b);
		return FL_ENOMEM;
	}
	struct net_frame f = {.channel = o->id};
	bool event = b->kind == NET_BUF_EVENT;
	if (event) {
		f.type = NET_FR_EVENT;
		f.event = b->event;
		f.arg = b->arg;
	} else {
		f.type = NET_FR_DATA;
		f.len = b->len;
	}
	net_frame_encode(it->head, &f);
	it->head_len = NET_FRAME_HDR;
	it->b = event ? NULL : b;
	int rc = 0;
	pthread_mutex_lock(&c->mu);
	while (!o->cancelled && !c->failed && o->credit <= 0)
		pthread_cond_wait(&o->cv, &c->mu);
	if (o->cancelled)
		rc = FL_ECANCELED;
	else if (c->failed)
		rc = FL_ECLOSED;
	if (rc == 0) {
		o->credit--;
		enqueue_locked(c, it);
	}
	pthread_mutex_unlock(&c->mu);
	/* Once queued, a data buffer belongs to the send queue (and may be
	 * gone already); an event's header went into the frame. */
	if (rc) {
		free(it);
		net_buffer_free(b);
	} else if (event) {
		net_buffer_free(b);
	}
	return rc;
}

static void remote_cancel(net_outchan *oc)
{
	struct remote_out *o = (struct remote_out *)oc;
	pthread_mutex_lock(&o->c->mu);
	o->cancelled = true;
	pthread_cond_broadcast(&o->cv);
	pthread_mutex_unlock(&o->c->mu);
}

static const char *remote_why(net_outchan *oc)
{
	struct remote_out *o = (struct remote_out *)oc;
	return net_conn_failed(o->c) ? net_conn_why(o->c) : NULL;
}

static void remote_free(net_outchan *oc)
{
	struct remote_out *o = (struct remote_out *)oc;
	struct net_conn *c = o->c;
	pthread_mutex_lock(&c->mu);
	for (struct remote_out **p = &c->outs; *p; p = &(*p)->next) {
		if (*p == o) {
			*p = o->next;
			break;
		}
	}
	bool failed = c->failed;
	pthread_mutex_unlock(&c->mu);
	if (!failed) {
		/* Lets the consumer forget the channel, so closing the connection
		 * later does not fail a gate that already has all its data. */
		struct net_frame f = {.type = NET_FR_CLOSE, .channel = o->id};
		net_conn_queue(c, &f, NULL);
	}
	if (atomic_fetch_sub(&c->nchannels, 1) == 1)
		atomic_store(&c->idle_since_ms, cm_now_ms());
	pthread_cond_destroy(&o->cv);
	net_conn_unref(c);
	free(o);
}

static const struct net_outchan_ops remote_ops = {
    .send = remote_send,
    .cancel = remote_cancel,
    .why = remote_why,
    .free = remote_free,
};

int net_conn_open_out(struct net_conn *c, uint64_t id, net_outchan **out)
{
	*out = NULL;
	struct remote_out *o = calloc(1, sizeof(*o));
	if (!o)
		return FL_ENOMEM;
	if (cm_cond_init(&o->cv) != 0) {
		free(o);
		return FL_ENOMEM;
	}
	o->base.ops = &remote_ops;
	o->c = c;
	o->id = id;
	pthread_mutex_lock(&c->mu);
	for (struct remote_out *p = c->outs; p; p = p->next) {
		if (p->id == id) {
			pthread_mutex_unlock(&c->mu);
			pthread_cond_destroy(&o->cv);
			free(o);
			return FL_EINVAL;
		}
	}
	o->next = c->outs;
	c->outs = o;
	pthread_mutex_unlock(&c->mu);
	net_conn_ref(c);
	atomic_fetch_add(&c->nchannels, 1);
	struct net_frame f = {.type = NET_FR_OPEN, .channel = id};
	int rc = net_conn_queue(c, &f, NULL);
	if (rc != 0) {
		remote_free(&o->base);
		return rc; /* FL_ECLOSED (the connection failed) or FL_ENOMEM */
	}
	*out = &o->base;
	return 0;
}

int net_conn_add_credit(struct net_conn *c, uint64_t id, int64_t credit)
{
	/* Credit for a channel this side already closed is a harmless race
	 * (the consumer returned credit before it saw the CLOSE); credit on a
	 * connection we did not dial is a peer's error. */
	int rc = c->dialed ? 0 : FL_EPROTO;
	pthread_mutex_lock(&c->mu);
	for (struct remote_out *o = c->outs; o; o = o->next) {
		if (o->id == id) {
			if (o->credit + credit > NET_MAX_CREDIT) {
				rc = FL_EPROTO;
			} else {
				o->credit += credit;
				pthread_cond_signal(&o->cv);
			}
			break;
		}
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}
