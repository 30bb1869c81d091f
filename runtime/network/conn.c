#include "network/conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

#include "common/sync.h"

#define RX_STAGING (64 * 1024)

struct remote_out {
	net_outchan base;
	struct net_conn *c;
	uint64_t id;
	int64_t credit; /* c->mu */
	bool cancelled; /* c->mu */
	pthread_cond_t cv;
	struct remote_out *next; /* c->outs, c->mu */
};

int net_conn_new(struct net_conn **out, struct net_endpoint *ep, nng_stream *s, const char *peer,
		 bool dialed)
{
	*out = NULL;
	struct net_conn *c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	if (nng_aio_alloc(&c->send_aio, NULL, NULL) != 0)
		goto fail_conn;
	if (nng_aio_alloc(&c->recv_aio, NULL, NULL) != 0)
		goto fail_send_aio;
	if (!(c->rx = malloc(RX_STAGING)))
		goto fail_recv_aio;
	if (pthread_mutex_init(&c->mu, NULL) != 0)
		goto fail_rx;
	if (pthread_mutex_init(&c->send_mu, NULL) != 0)
		goto fail_mu;
	if (pthread_mutex_init(&c->io_mu, NULL) != 0) {
		pthread_mutex_destroy(&c->send_mu);
		goto fail_mu;
	}
	c->ep = ep;
	c->s = s;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->dialed = dialed;
	atomic_init(&c->refs, 1);
	atomic_init(&c->done, false);
	/* Credit frames are tiny and latency-bound; Nagle would hold them. */
	nng_stream_set_bool(s, NNG_OPT_TCP_NODELAY, true);
	nng_stream_set_bool(s, NNG_OPT_TCP_KEEPALIVE, true);
	*out = c;
	return 0;

fail_mu:
	pthread_mutex_destroy(&c->mu);
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

void net_conn_unref(struct net_conn *c)
{
	if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	nng_stream_free(c->s);
	nng_aio_free(c->send_aio);
	nng_aio_free(c->recv_aio);
	free(c->rx);
	pthread_mutex_destroy(&c->io_mu);
	pthread_mutex_destroy(&c->send_mu);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

void net_conn_fail(struct net_conn *c, const char *why)
{
	pthread_mutex_lock(&c->mu);
	if (!c->failed) {
		c->failed = true;
		snprintf(c->why, sizeof(c->why), "%s", why);
	}
	for (struct remote_out *o = c->outs; o; o = o->next)
		pthread_cond_broadcast(&o->cv);
	pthread_mutex_unlock(&c->mu);
	/* Closing (not freeing) completes operations in flight with
	 * NNG_ECLOSED; io_mu keeps new ones from starting afterwards. */
	pthread_mutex_lock(&c->io_mu);
	if (!c->closed) {
		c->closed = true;
		nng_stream_close(c->s);
		/* Belt and braces: an operation the close did not complete
		 * (seen as a rare hang at shutdown under ASan's timing) is
		 * ended explicitly; aborting an idle aio does nothing. */
		nng_aio_abort(c->recv_aio, NNG_ECLOSED);
		nng_aio_abort(c->send_aio, NNG_ECLOSED);
	}
	pthread_mutex_unlock(&c->io_mu);
}

/* Starts send or recv on aio unless the stream is closed; then waits. */
static int stream_io(struct net_conn *c, nng_aio *aio, bool send)
{
	pthread_mutex_lock(&c->io_mu);
	if (c->closed) {
		pthread_mutex_unlock(&c->io_mu);
		return NNG_ECLOSED;
	}
	if (send)
		nng_stream_send(c->s, aio);
	else
		nng_stream_recv(c->s, aio);
	pthread_mutex_unlock(&c->io_mu);
	nng_aio_wait(aio);
	return nng_aio_result(aio);
}

bool net_conn_failed(struct net_conn *c)
{
	pthread_mutex_lock(&c->mu);
	bool f = c->failed;
	pthread_mutex_unlock(&c->mu);
	return f;
}

static int send_iov(struct net_conn *c, nng_iov *iov, unsigned n)
{
	while (n > 0) {
		nng_aio_set_iov(c->send_aio, n, iov);
		int rv = stream_io(c, c->send_aio, true);
		if (rv != 0)
			return rv;
		size_t done = nng_aio_count(c->send_aio);
		/* A partial write: skip what went out, resend the rest. */
		while (n > 0 && done >= iov[0].iov_len) {
			done -= iov[0].iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov[0].iov_buf = (uint8_t *)iov[0].iov_buf + done;
			iov[0].iov_len -= done;
		}
	}
	return 0;
}

int net_conn_send(struct net_conn *c, const struct net_frame *f, const void *payload)
{
	uint8_t hdr[NET_FRAME_HDR];
	net_frame_encode(hdr, f);
	nng_iov iov[2] = {{.iov_buf = hdr, .iov_len = sizeof(hdr)},
			  {.iov_buf = (void *)payload, .iov_len = f->len}};
	pthread_mutex_lock(&c->send_mu);
	int rv = send_iov(c, iov, f->len > 0 ? 2 : 1);
	pthread_mutex_unlock(&c->send_mu);
	if (rv != 0) {
		char why[200];
		snprintf(why, sizeof(why), "send failed: %s", nng_strerror(rv));
		net_conn_fail(c, why);
		return FL_ECLOSED;
	}
	return 0;
}

int net_conn_recv(struct net_conn *c, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t staged = c->rx_end - c->rx_start;
	size_t take = staged < len ? staged : len;
	memcpy(p, c->rx + c->rx_start, take);
	c->rx_start += take;
	p += take;
	len -= take;
	if (len == 0)
		return 0;
	c->rx_start = c->rx_end = 0;
	while (len > 0) {
		/* The rest goes straight to its destination (no copy for big
		 * payloads); whatever else is ready lands in the staging area. */
		nng_iov iov[2] = {{.iov_buf = p, .iov_len = len},
				  {.iov_buf = c->rx, .iov_len = RX_STAGING}};
		nng_aio_set_iov(c->recv_aio, 2, iov);
		int rv = stream_io(c, c->recv_aio, false);
		if (rv != 0)
			return rv;
		size_t n = nng_aio_count(c->recv_aio);
		if (n == 0)
			return NNG_ECLOSED;
		if (n > len) {
			c->rx_end = n - len;
			n = len;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static int remote_send(net_outchan *oc, net_buffer *b)
{
	struct remote_out *o = (struct remote_out *)oc;
	struct net_conn *c = o->c;
	int rc = 0;
	pthread_mutex_lock(&c->mu);
	while (!o->cancelled && !c->failed && o->credit <= 0)
		pthread_cond_wait(&o->cv, &c->mu);
	if (o->cancelled)
		rc = FL_ECANCELED;
	else if (c->failed)
		rc = FL_ECLOSED;
	else
		o->credit--;
	pthread_mutex_unlock(&c->mu);
	if (rc == 0) {
		struct net_frame f = {.channel = o->id};
		if (b->kind == NET_BUF_EVENT) {
			f.type = NET_FR_EVENT;
			f.event = b->event;
			f.arg = b->arg;
		} else {
			f.type = NET_FR_DATA;
			f.len = b->len;
		}
		rc = net_conn_send(c, &f, b->data);
	}
	net_buffer_free(b);
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
		net_conn_send(c, &f, NULL);
	}
	pthread_cond_destroy(&o->cv);
	net_conn_unref(c);
	free(o);
}

static const struct net_outchan_ops remote_ops = {
    .send = remote_send,
    .cancel = remote_cancel,
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
	struct net_frame f = {.type = NET_FR_OPEN, .channel = id};
	if (net_conn_send(c, &f, NULL) != 0) {
		remote_free(&o->base);
		return FL_EIO;
	}
	*out = &o->base;
	return 0;
}

int net_conn_add_credit(struct net_conn *c, uint64_t id, int64_t credit)
{
	int rc = 0;
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
