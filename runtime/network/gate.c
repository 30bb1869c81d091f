/*
 * gate.c — an input gate (Flink's SingleInputGate): one consumer thread pops
 * buffers from n channels that producers (local writers, the endpoint's
 * receive callbacks) push into.
 *
 * Everything is under one mutex, g->mu: a pop is one lock, and there is one
 * gate per task, so it is not contended by more than its producers. Each
 * channel keeps its own FIFO of buffers (order within a channel is the
 * sender's order); channels that hold data are queued once each in arrival
 * order (g->fifo, a ring of nchannels slots), so a pop is O(1) and no channel
 * starves. A channel holds at most `capacity` buffers: a local producer then
 * sleeps on the channel's not_full (or gets FL_EAGAIN from push_nowait,
 * which the endpoint never hits because credit bounds what a peer may send).
 * A blocked channel (barrier alignment) stays out of the FIFO until
 * unblocked. A failure or a cancel wakes everybody; the first failure's
 * message is kept for the consumer.
 */
#include "network/gate.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <flinc/flinc.h>

#include "common/clock.h"
#include "common/sync.h"
#include "network/gate_internal.h"

#define GATE_ERR_MAX 384

struct gate_chan {
	net_buffer *head; /* FIFO linked through net_buffer.next */
	net_buffer *tail;
	int count;
	int waiters; /* producers sleeping on not_full */
	bool in_fifo;
	bool blocked;
	bool failed;
	pthread_cond_t not_full;
	net_consumed_fn consumed_fn;
	void *consumed_arg;
};

struct net_gate {
	pthread_mutex_t mu;
	pthread_cond_t not_empty;
	bool consumer_waiting;
	bool cancelled;
	bool woken; /* net_gate_wake: the next wait ends at once */
	int failed_ch; /* first failed channel, -1 if none */
	int nchannels;
	int capacity;
	/* Channels with data in arrival order, each at most once (Flink's
	 * inputChannelsWithData): a ring of nchannels slots. */
	int *fifo;
	int fifo_head;
	int fifo_len;
	struct gate_chan *chans;
	struct net_quota *quota;
	char error[GATE_ERR_MAX];
};

int net_gate_new(net_gate **out, int nchannels, int capacity)
{
	*out = NULL;
	if (nchannels < 1 || capacity < 1)
		return FL_EINVAL;
	net_gate *g = calloc(1, sizeof(*g));
	if (!g)
		return FL_ENOMEM;
	g->chans = calloc((size_t)nchannels, sizeof(*g->chans));
	g->fifo = calloc((size_t)nchannels, sizeof(*g->fifo));
	if (!g->chans || !g->fifo)
		goto fail_alloc;
	if (pthread_mutex_init(&g->mu, NULL) != 0)
		goto fail_alloc;
	if (cm_cond_init(&g->not_empty) != 0)
		goto fail_mutex;
	int i;
	for (i = 0; i < nchannels; i++) {
		if (cm_cond_init(&g->chans[i].not_full) != 0)
			break;
	}
	if (i < nchannels) {
		while (i-- > 0)
			pthread_cond_destroy(&g->chans[i].not_full);
		pthread_cond_destroy(&g->not_empty);
		goto fail_mutex;
	}
	g->nchannels = nchannels;
	g->capacity = capacity;
	g->failed_ch = -1;
	*out = g;
	return 0;

fail_mutex:
	pthread_mutex_destroy(&g->mu);
fail_alloc:
	free(g->chans);
	free(g->fifo);
	free(g);
	return FL_ENOMEM;
}

void net_gate_free(net_gate *g)
{
	if (!g)
		return;
	for (int i = 0; i < g->nchannels; i++) {
		struct gate_chan *c = &g->chans[i];
		net_buffer *b = c->head;
		while (b) {
			net_buffer *next = b->next;
			net_buffer_free(b);
			b = next;
		}
		pthread_cond_destroy(&c->not_full);
	}
	pthread_cond_destroy(&g->not_empty);
	pthread_mutex_destroy(&g->mu);
	free(g->chans);
	free(g->fifo);
	free(g);
}

int net_gate_channels(const net_gate *g)
{
	return g->nchannels;
}

void net_gate_set_consumed_fn(net_gate *g, int ch, net_consumed_fn fn, void *arg)
{
	assert(ch >= 0 && ch < g->nchannels);
	pthread_mutex_lock(&g->mu);
	g->chans[ch].consumed_fn = fn;
	g->chans[ch].consumed_arg = arg;
	pthread_mutex_unlock(&g->mu);
}

static void fifo_push(net_gate *g, int ch)
{
	g->fifo[(g->fifo_head + g->fifo_len) % g->nchannels] = ch;
	g->fifo_len++;
	g->chans[ch].in_fifo = true;
}

static int fifo_take(net_gate *g)
{
	int ch = g->fifo[g->fifo_head];
	g->fifo_head = (g->fifo_head + 1) % g->nchannels;
	g->fifo_len--;
	g->chans[ch].in_fifo = false;
	return ch;
}

/* Called with g->mu held and room in the channel. */
static void enqueue(net_gate *g, int ch, net_buffer *b)
{
	struct gate_chan *c = &g->chans[ch];
	b->next = NULL;
	if (c->tail)
		c->tail->next = b;
	else
		c->head = b;
	c->tail = b;
	c->count++;
	if (!c->in_fifo)
		fifo_push(g, ch);
	/* A blocked channel cannot satisfy the consumer; waking it would only
	 * make it spin. unblock_all wakes it instead. */
	if (g->consumer_waiting && !c->blocked)
		pthread_cond_signal(&g->not_empty);
}

static int push_locked(net_gate *g, int ch, net_buffer *b, const atomic_bool *stop)
{
	struct gate_chan *c = &g->chans[ch];
	int rc = 0;
	for (;;) {
		if (g->cancelled || (stop && atomic_load(stop))) {
			rc = FL_ECANCELED;
			break;
		}
		if (c->failed) {
			rc = FL_ECLOSED;
			break;
		}
		if (c->count < g->capacity)
			break;
		c->waiters++;
		pthread_cond_wait(&c->not_full, &g->mu);
		c->waiters--;
	}
	if (rc == 0)
		enqueue(g, ch, b);
	return rc;
}

int net_gate_push(net_gate *g, int ch, net_buffer *b)
{
	return net_gate_push_stoppable(g, ch, b, NULL);
}

int net_gate_push_stoppable(net_gate *g, int ch, net_buffer *b, const atomic_bool *stop)
{
	assert(ch >= 0 && ch < g->nchannels);
	pthread_mutex_lock(&g->mu);
	int rc = push_locked(g, ch, b, stop);
	pthread_mutex_unlock(&g->mu);
	if (rc != 0)
		net_buffer_free(b);
	return rc;
}

void net_gate_wake_channel(net_gate *g, int ch)
{
	assert(ch >= 0 && ch < g->nchannels);
	pthread_mutex_lock(&g->mu);
	pthread_cond_broadcast(&g->chans[ch].not_full);
	pthread_mutex_unlock(&g->mu);
}

int net_gate_push_nowait(net_gate *g, int ch, net_buffer *b)
{
	assert(ch >= 0 && ch < g->nchannels);
	struct gate_chan *c = &g->chans[ch];
	int rc = 0;
	pthread_mutex_lock(&g->mu);
	if (g->cancelled)
		rc = FL_ECANCELED;
	else if (c->failed)
		rc = FL_ECLOSED;
	else if (c->count >= g->capacity)
		rc = FL_ERANGE;
	else
		enqueue(g, ch, b);
	pthread_mutex_unlock(&g->mu);
	if (rc != 0)
		net_buffer_free(b);
	return rc;
}

/* Next channel to serve, or -1. Blocked channels are rotated to the back,
 * so they keep their place among themselves and never hide ready ones. */
static int next_ready(net_gate *g)
{
	for (int n = g->fifo_len; n > 0; n--) {
		int ch = fifo_take(g);
		if (!g->chans[ch].blocked)
			return ch;
		fifo_push(g, ch);
	}
	return -1;
}

int net_gate_pop(net_gate *g, int64_t deadline_ms, net_buffer **out, int *ch)
{
	*out = NULL;
	pthread_mutex_lock(&g->mu);
	int rc = 0, c = -1;
	for (;;) {
		if (g->cancelled) {
			rc = FL_ECANCELED;
			break;
		}
		if (g->failed_ch >= 0) {
			*ch = g->failed_ch;
			rc = FL_ECLOSED;
			break;
		}
		c = next_ready(g);
		if (c >= 0)
			break;
		if (g->woken || (deadline_ms >= 0 && cm_now_ms() >= deadline_ms)) {
			g->woken = false;
			rc = FL_ETIMEDOUT;
			break;
		}
		g->consumer_waiting = true;
		if (deadline_ms < 0) {
			pthread_cond_wait(&g->not_empty, &g->mu);
		} else {
			struct timespec ts = cm_deadline_ts(deadline_ms);
			pthread_cond_timedwait(&g->not_empty, &g->mu, &ts);
		}
		g->consumer_waiting = false;
	}
	net_consumed_fn fn = NULL;
	void *arg = NULL;
	if (rc == 0) {
		struct gate_chan *gc = &g->chans[c];
		net_buffer *b = gc->head;
		gc->head = b->next;
		if (!gc->head)
			gc->tail = NULL;
		b->next = NULL;
		gc->count--;
		if (gc->head)
			fifo_push(g, c); /* round robin: back of the queue */
		if (gc->waiters > 0)
			pthread_cond_signal(&gc->not_full);
		fn = gc->consumed_fn;
		arg = gc->consumed_arg;
		*out = b;
		*ch = c;
	}
	pthread_mutex_unlock(&g->mu);
	/* Outside the lock: a remote listener writes a credit frame to a
	 * socket, which must never stall producers pushing into this gate. */
	if (fn)
		fn(arg, c);
	return rc;
}

void net_gate_fail(net_gate *g, int ch, const char *why)
{
	assert(ch >= 0 && ch < g->nchannels);
	pthread_mutex_lock(&g->mu);
	struct gate_chan *c = &g->chans[ch];
	if (!c->failed) {
		c->failed = true;
		if (g->failed_ch < 0) {
			g->failed_ch = ch;
			snprintf(g->error, sizeof(g->error), "input channel %d: %s", ch,
				 why ? why : "failed");
		}
	}
	pthread_cond_broadcast(&c->not_full);
	pthread_cond_broadcast(&g->not_empty);
	pthread_mutex_unlock(&g->mu);
}

const char *net_gate_error(net_gate *g)
{
	/* Written once, under the lock, before pop could report the failure;
	 * a consumer that saw FL_ECLOSED therefore reads a stable string. */
	return g->error;
}

void net_gate_cancel(net_gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->cancelled = true;
	for (int i = 0; i < g->nchannels; i++)
		pthread_cond_broadcast(&g->chans[i].not_full);
	pthread_cond_broadcast(&g->not_empty);
	pthread_mutex_unlock(&g->mu);
}

void net_gate_wake(net_gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->woken = true;
	pthread_cond_signal(&g->not_empty);
	pthread_mutex_unlock(&g->mu);
}

void net_gate_block(net_gate *g, int ch)
{
	assert(ch >= 0 && ch < g->nchannels);
	pthread_mutex_lock(&g->mu);
	g->chans[ch].blocked = true;
	pthread_mutex_unlock(&g->mu);
}

void net_gate_unblock_all(net_gate *g)
{
	pthread_mutex_lock(&g->mu);
	for (int i = 0; i < g->nchannels; i++)
		g->chans[i].blocked = false;
	if (g->fifo_len > 0)
		pthread_cond_broadcast(&g->not_empty);
	pthread_mutex_unlock(&g->mu);
}

int net_gate_capacity(const net_gate *g)
{
	return g->capacity;
}

void net_gate_set_quota(net_gate *g, struct net_quota *q)
{
	g->quota = q;
}

struct net_quota *net_gate_quota(const net_gate *g)
{
	return g->quota;
}
