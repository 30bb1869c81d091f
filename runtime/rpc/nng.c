/*
 * nng.c — gateways over NNG request/reply: the server side turns requests
 * into calls on a wrapped gateway, the client side turns calls into
 * requests. See nng.h and protocol.h.
 */
#include "rpc/nng.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/sync.h"
#include "network/nngerr.h"
#include "rpc/protocol.h"

#define ADDRESS_MAX 256

/*
 * NNG before 1.6.0 (Debian 12 ships 1.5.2) leaks a message handed to a
 * pipe that is being closed: the protocol sends it on the pipe's aio, which
 * pipe_close has just closed, and the transport's send returns when
 * nni_aio_begin fails without freeing it or calling back (nanomsg/nng#1713,
 * fixed by nng commit 759a2e9d in 1.6.0). A request (start_call) or a
 * reply (srv_send) racing with its peer's death, a TaskManager killed in
 * integration.kill, leaks 112 bytes plus its body. Every message flinc
 * sends is made by msg_to_send (its callers free the message when the
 * hand-over fails), which tests/support/lsan.supp names for the sanitizer
 * test runs: the leak report leaves out what it allocates, and nothing
 * else (the calls' own state, received messages).
 */

/* A message holding bytes[0..n) for NNG to send; NULL when out of memory.
 * Not inlined: tests/support/lsan.supp names it (see above). */
__attribute__((noinline)) static nng_msg *msg_to_send(const uint8_t *bytes, size_t n)
{
	nng_msg *m = NULL;
	if (nng_msg_alloc(&m, 0) != 0)
		return NULL;
	if (nng_msg_append(m, bytes, n) != 0) {
		nng_msg_free(m);
		return NULL;
	}
	return m;
}

/* ================================================================ server */

struct sctx {
	struct rpc_server *s;
	nng_ctx ctx;
	nng_aio *aio;
	int method;
	uint64_t id;
	uint8_t mac[CM_MAC_LEN];
	bool sending; /* the aio carries a reply, not a receive */
	bool waiting; /* a gateway call owes this context its reply */
};

struct rpc_server {
	nng_socket sock;
	nng_listener listener;
	char address[ADDRESS_MAX];
	cm_secret secret;
	char cluster_id[64];
	char self[RPC_TO_MAX + 1]; /* "" : requests need not name a receiver */
	rpc_seen *seen;
	rpc_tm_gateway *tm;
	rpc_jm_gateway *jm;
	rpc_rm_gateway *rm;
	struct sctx ctxs[RPC_SERVER_CONTEXTS];
	int nctxs;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a gateway call answered */
	int calls;	   /* gateway calls not yet answered */
	int busy;	   /* threads about to use a context (enter/leave) */
	bool closing;
	int64_t last_reject_log;
	uint64_t rejected_unlogged;
};

/* NNG 1.5.2 panics when a context is used after its socket was closed, so
 * every use of a context is bracketed: enter fails once closing began, and
 * rpc_server_free closes the socket only when nobody is inside. */
static bool enter(struct rpc_server *s)
{
	pthread_mutex_lock(&s->mu);
	bool ok = !s->closing;
	if (ok)
		s->busy++;
	pthread_mutex_unlock(&s->mu);
	return ok;
}

static void leave(struct rpc_server *s)
{
	pthread_mutex_lock(&s->mu);
	if (--s->busy == 0)
		pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void srv_recv(struct sctx *x)
{
	x->sending = false;
	nng_ctx_recv(x->ctx, x->aio);
}

/* Sends the reply of the request x holds (or, once closing, nothing). */
static void srv_send(struct sctx *x, int rc, const char *msg, const uint8_t *payload, size_t len)
{
	struct rpc_server *s = x->s;
	uint8_t *bytes = NULL;
	size_t n = 0;
	nng_msg *m = NULL;
	int err = rpc_reply_encode(x->method, x->id, rc, msg, payload, len, x->mac, &s->secret, &bytes,
				   &n);
	if (err == FL_ERANGE) /* a payload over the cap: say so instead */
		err = rpc_reply_encode(x->method, x->id, FL_ERANGE, "the reply is too large", NULL, 0,
				       x->mac, &s->secret, &bytes, &n);
	if (err == 0 && (m = msg_to_send(bytes, n)) != NULL) {
		x->sending = true;
		nng_aio_set_msg(x->aio, m);
		nng_ctx_send(x->ctx, x->aio);
	} else {
		/* Nothing to send: take the next request instead. */
		srv_recv(x);
	}
	free(bytes);
}

/* The wrapped gateway's answer, on any thread. */
static void srv_done(void *arg, int rc, const char *msg, const uint8_t *payload, size_t len)
{
	struct sctx *x = arg;
	struct rpc_server *s = x->s;
	pthread_mutex_lock(&s->mu);
	x->waiting = false;
	pthread_mutex_unlock(&s->mu);
	if (enter(s)) {
		srv_send(x, rc, msg, payload, len);
		leave(s);
	}
	pthread_mutex_lock(&s->mu);
	s->calls--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void log_rejection(struct rpc_server *s, const char *why)
{
	int64_t now = cm_now_ms();
	pthread_mutex_lock(&s->mu);
	bool log = now - s->last_reject_log >= 1000;
	uint64_t others = s->rejected_unlogged;
	if (log) {
		s->last_reject_log = now;
		s->rejected_unlogged = 0;
	} else {
		s->rejected_unlogged++;
	}
	pthread_mutex_unlock(&s->mu);
	if (log)
		CM_WARN("rpc", "refused a request on %s: %s%s", s->address, why,
			others ? " (and others since)" : "");
}

/* Decodes the method's arguments and makes the call; false if the body is
 * malformed or the method is not served here (why filled). */
static bool dispatch(struct sctx *x, const rpc_request *req, char *why, size_t whylen)
{
	struct rpc_server *s = x->s;
	int target = rpc_method_target(req->method);
	if ((target == 0 && !s->tm) || (target == 1 && !s->jm) || (target == 2 && !s->rm)) {
		snprintf(why, whylen, "%s is not served at %s", rpc_method_name(req->method),
			 s->address);
		return false;
	}
	/* Checkpoint calls of a peer whose gateway does not take them. */
	if ((req->method == RPC_TRIGGER_CHECKPOINT && !s->tm->ops->trigger_checkpoint) ||
	    (req->method == RPC_NOTIFY_CHECKPOINT && !s->tm->ops->notify_checkpoint) ||
	    (req->method == RPC_ACK_CHECKPOINT && !s->jm->ops->ack_checkpoint)) {
		snprintf(why, whylen, "%s is not supported at %s", rpc_method_name(req->method),
			 s->address);
		return false;
	}
	rpc_args a;
	if (rpc_args_decode(req->method, req->body, req->body_len, &a, why, whylen) != 0)
		return false;
	pthread_mutex_lock(&s->mu);
	x->waiting = true;
	s->calls++;
	pthread_mutex_unlock(&s->mu);
	rpc_tm_gateway *tm = s->tm;
	switch (req->method) {
	case RPC_SLOTS:
		tm->ops->slots(tm, srv_done, x);
		break;
	case RPC_SUBMIT:
		tm->ops->submit(tm, a.bytes, a.blen, a.a, srv_done, x);
		break;
	case RPC_START:
		tm->ops->start(tm, a.a, a.attempt, srv_done, x);
		break;
	case RPC_CANCEL:
		tm->ops->cancel(tm, a.a, a.attempt, srv_done, x);
		break;
	case RPC_RELEASE:
		tm->ops->release(tm, a.a, a.attempt, srv_done, x);
		break;
	case RPC_METRICS:
		tm->ops->metrics(tm, a.a, a.attempt, srv_done, x);
		break;
	case RPC_HEARTBEAT:
		tm->ops->heartbeat(tm, a.a, srv_done, x);
		break;
	case RPC_TRIGGER_CHECKPOINT:
		tm->ops->trigger_checkpoint(tm, a.a, a.attempt, (int)a.vertex, (int)a.subtask,
					    a.checkpoint, a.timestamp, (int)a.state, a.b, srv_done,
					    x);
		break;
	case RPC_NOTIFY_CHECKPOINT:
		tm->ops->notify_checkpoint(tm, a.a, a.attempt, a.checkpoint, a.state != 0, srv_done,
					   x);
		break;
	case RPC_TASK_STATE:
		s->jm->ops->task_state(s->jm, a.a, a.b, a.attempt, (int)a.vertex, (int)a.subtask,
				       (int)a.state, a.c, srv_done, x);
		break;
	case RPC_ACK_CHECKPOINT:
		s->jm->ops->ack_checkpoint(s->jm, a.a, a.b, a.attempt, (int)a.vertex,
					   (int)a.subtask, a.checkpoint, a.bytes, a.blen, a.c,
					   srv_done, x);
		break;
	case RPC_REGISTER_TM: {
		rpc_tm_registration reg = {.resource_id = a.a,
					   .rpc_address = a.b,
					   .data_address = a.d,
					   .slots = (int)a.slots,
					   .cpu_milli = (int64_t)a.cpu_milli,
					   .memory_bytes = (int64_t)a.memory_bytes,
					   .managed_bytes = (int64_t)a.managed_bytes,
					   .network_bytes = (int64_t)a.network_bytes};
		s->rm->ops->register_tm(s->rm, &reg, srv_done, x);
		break;
	}
	case RPC_TM_HEARTBEAT:
		s->rm->ops->tm_heartbeat(s->rm, a.a, srv_done, x);
		break;
	case RPC_BLOB:
		s->rm->ops->blob(s->rm, a.a, a.offset, srv_done, x);
		break;
	}
	rpc_args_fini(&a);
	return true;
}

static void srv_cb(void *arg)
{
	struct sctx *x = arg;
	struct rpc_server *s = x->s;
	int rv = nng_aio_result(x->aio);
	bool closing = !enter(s);
	if (x->sending) {
		/* A failed send still owns its message; a sent one is gone. */
		if (rv != 0) {
			nng_msg *sent = nng_aio_get_msg(x->aio);
			if (sent)
				nng_msg_free(sent);
		}
		nng_aio_set_msg(x->aio, NULL);
		if (!closing && rv != NNG_ECLOSED)
			srv_recv(x);
		if (!closing)
			leave(s);
		return;
	}
	if (rv != 0) {
		if (!closing && rv != NNG_ECLOSED)
			srv_recv(x);
		if (!closing)
			leave(s);
		return;
	}
	nng_msg *m = nng_aio_get_msg(x->aio);
	nng_aio_set_msg(x->aio, NULL);
	if (closing) {
		nng_msg_free(m);
		return;
	}
	rpc_request req;
	char why[512] = "";
	int64_t now = cm_wall_ms();
	int rc = rpc_request_decode(nng_msg_body(m), nng_msg_len(m), &s->secret, s->cluster_id,
				    s->self[0] ? s->self : NULL, now, &req, why, sizeof(why));
	if (rc == 0)
		rc = rpc_seen_add(s->seen, &req, now, why, sizeof(why));
	x->method = req.method;
	x->id = req.id;
	memcpy(x->mac, req.mac, CM_MAC_LEN);
	if (rc == 0 && dispatch(x, &req, why, sizeof(why))) {
		nng_msg_free(m);
		leave(s);
		return; /* srv_done replies */
	}
	nng_msg_free(m);
	log_rejection(s, why);
	srv_send(x, FL_EPROTO, why, NULL, 0);
	leave(s);
}

int rpc_server_new(rpc_server **out, const char *url, rpc_tm_gateway *tm, rpc_jm_gateway *jm,
		   rpc_rm_gateway *rm, const char *self, const cm_secret *secret,
		   const char *cluster_id, cm_err *err)
{
	*out = NULL;
	if (!url || (!tm && !jm && !rm) || (tm && (jm || rm)) || !secret || !secret->set || (self && strlen(self) > RPC_TO_MAX))
		return cm_err_set(err, FL_EINVAL, "rpc server: bad arguments");
	struct rpc_server *s = calloc(1, sizeof(*s));
	if (!s)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	if (rpc_seen_new(&s->seen) != 0) {
		free(s);
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	}
	s->secret = *secret;
	snprintf(s->cluster_id, sizeof(s->cluster_id), "%s", cluster_id ? cluster_id : "");
	snprintf(s->self, sizeof(s->self), "%s", self ? self : "");
	s->tm = tm;
	s->jm = jm;
	s->rm = rm;
	pthread_mutex_init(&s->mu, NULL);
	cm_cond_init(&s->cv);
	int rv = nng_rep0_open(&s->sock);
	if (rv == 0)
		rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, RPC_MAX_MESSAGE);
	if (rv == 0)
		rv = nng_listener_create(&s->listener, s->sock, url);
	if (rv == 0)
		rv = nng_listener_start(s->listener, 0);
	int port = 0;
	if (rv == 0)
		rv = nng_listener_get_int(s->listener, NNG_OPT_TCP_BOUND_PORT, &port);
	for (int i = 0; rv == 0 && i < RPC_SERVER_CONTEXTS; i++) {
		struct sctx *x = &s->ctxs[i];
		x->s = s;
		if ((rv = nng_aio_alloc(&x->aio, srv_cb, x)) == 0 &&
		    (rv = nng_ctx_open(&x->ctx, s->sock)) != 0)
			nng_aio_free(x->aio);
		if (rv == 0)
			s->nctxs = i + 1;
	}
	if (rv != 0) {
		cm_err_set(err, net_err_from_nng(rv), "cannot serve control requests at %s: %s", url,
			   nng_strerror(rv));
		nng_close(s->sock);
		for (int i = 0; i < s->nctxs; i++)
			nng_aio_free(s->ctxs[i].aio);
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		cm_secret_clear(&s->secret);
		rpc_seen_free(s->seen);
		free(s);
		return FL_EIO;
	}
	/* "tcp://host:port" with the bound port. */
	const char *host = url + (strncmp(url, "tcp://", 6) == 0 ? 6 : 0);
	const char *colon = strrchr(host, ':');
	int hl = colon ? (int)(colon - host) : (int)strlen(host);
	snprintf(s->address, sizeof(s->address), "tcp://%.*s:%d", hl, host, port);
	for (int i = 0; i < s->nctxs; i++)
		srv_recv(&s->ctxs[i]);
	CM_INFO("rpc", "serving %s requests at %s",
		tm ? "TaskManager" : rm ? "JobManager" : "JobMaster", s->address);
	*out = s;
	return 0;
}

const char *rpc_server_address(const rpc_server *s)
{
	return s->address;
}

void rpc_server_free(rpc_server *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->closing = true;
	while (s->busy > 0)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	nng_close(s->sock);
	for (int i = 0; i < s->nctxs; i++)
		nng_aio_stop(s->ctxs[i].aio);
	/* A call the gateway still owes an answer holds its context. */
	pthread_mutex_lock(&s->mu);
	while (s->calls > 0)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < s->nctxs; i++) {
		nng_aio_stop(s->ctxs[i].aio);
		nng_aio_free(s->ctxs[i].aio);
	}
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	cm_secret_clear(&s->secret);
	rpc_seen_free(s->seen);
	free(s);
}

/* ================================================================ client */

struct client {
	nng_socket sock;
	char url[ADDRESS_MAX];
	cm_secret secret;
	char cluster_id[64];
	/* The receiver's resource id, learnt from the first slots reply: later
	 * requests name it, so they cannot be replayed to another
	 * TaskManager (mu). */
	char to[RPC_TO_MAX + 1];
	int64_t timeout_ms;
	_Atomic uint64_t next_id;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a call ended, or a context use (busy) */
	int inflight;
	int busy; /* threads about to use a context (see enter) */
	bool closing;
	/* The connection (one dialer: at most one pipe at a time), from NNG's
	 * pipe events: its pipe id (0: none) and since when it has had none
	 * (monotonic ms). */
	_Atomic uint32_t pipe;
	_Atomic int64_t down_since_ms;
	_Atomic bool was_up; /* connected once: a later drop is a lost peer */
	struct call *calls; /* in flight (mu), for a dropped connection */
	int dropping;	    /* pipe callbacks failing calls (mu) */
	nng_dialer dialer;  /* (mu) */
	int64_t redialed_ms; /* when the dialer was last made anew (mu) */
};

/* A connection down this long gets a new dialer (see start_call). */
#define REDIAL_AFTER_MS 2000

static void drop_calls(struct client *c);

static void client_pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct client *c = arg;
	uint32_t id = nng_pipe_id(p);
	if (ev == NNG_PIPE_EV_ADD_POST) {
		atomic_store(&c->pipe, id);
		atomic_store(&c->was_up, true);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		uint32_t cur = id;
		/* Only the pipe in use: a pipe refused before it was added
		 * does not take the connection down. */
		if (atomic_compare_exchange_strong(&c->pipe, &cur, 0)) {
			atomic_store(&c->down_since_ms, cm_now_ms());
			drop_calls(c);
		}
	}
}

/* For how long the client has had no connection (0: connected). */
static int64_t client_unreachable_ms(struct client *c)
{
	if (atomic_load(&c->pipe))
		return 0;
	int64_t d = cm_now_ms() - atomic_load(&c->down_since_ms);
	return d > 0 ? d : 1;
}

/* As the server's enter/leave: no context use once closing began, and the
 * socket closes only when nobody is about to use one. */
static bool client_enter(struct client *c)
{
	pthread_mutex_lock(&c->mu);
	bool ok = !c->closing;
	if (ok)
		c->busy++;
	pthread_mutex_unlock(&c->mu);
	return ok;
}

static void client_leave(struct client *c)
{
	pthread_mutex_lock(&c->mu);
	if (--c->busy == 0)
		pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

struct call {
	struct client *c;
	nng_ctx ctx;
	nng_aio *aio;
	int method;
	uint64_t id;
	uint8_t mac[CM_MAC_LEN];
	bool sent;
	rpc_done_fn done;
	void *arg;
	/* On c->calls while in flight (mu). A dropped connection pins the
	 * calls it cancels so that they outlive the cancel; the last of the
	 * call's end and the unpinning frees it. */
	struct call *prev, *next;
	int pins;
	bool ended, dropped;
};

static void call_unlink_locked(struct client *c, struct call *k)
{
	if (k->prev)
		k->prev->next = k->next;
	else if (c->calls == k)
		c->calls = k->next;
	if (k->next)
		k->next->prev = k->prev;
	k->prev = k->next = NULL;
}

static void call_end(struct call *k, int rc, const char *msg, const uint8_t *p, size_t len)
{
	struct client *c = k->c;
	rpc_done_fn done = k->done;
	void *arg = k->arg;
	nng_ctx ctx = k->ctx;
	nng_aio *aio = k->aio;
	pthread_mutex_lock(&c->mu);
	call_unlink_locked(c, k);
	k->ended = true;
	bool pinned = k->pins > 0; /* then k is drop_calls' to free */
	pthread_mutex_unlock(&c->mu);
	if (done)
		done(arg, rc, msg, p, len);
	/* Once closing, nng_close closes every context itself. */
	if (client_enter(c)) {
		nng_ctx_close(ctx);
		client_leave(c);
	}
	if (!pinned) {
		nng_aio_reap(aio); /* freed off this callback */
		free(k);
	}
	pthread_mutex_lock(&c->mu);
	c->inflight--;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/*
 * The connection dropped (the TaskManager died, or its network): the calls
 * in flight cannot be answered on it, and a request of the req protocol
 * waits for a new connection until its timeout; they end now with
 * FL_ECLOSED instead, so that a lost TaskManager holds nothing (a job's
 * cancellation, its final metrics) for the RPC timeout. On NNG's pipe
 * callback thread; nothing of ours is locked while an aio is cancelled.
 */
static void drop_calls(struct client *c)
{
	pthread_mutex_lock(&c->mu);
	if (c->closing) {
		pthread_mutex_unlock(&c->mu);
		return;
	}
	size_t n = 0;
	for (struct call *k = c->calls; k; k = k->next)
		n++;
	struct call **pinned = n ? calloc(n, sizeof(*pinned)) : NULL;
	n = 0;
	for (struct call *k = c->calls; pinned && k; k = k->next) {
		k->pins++;
		k->dropped = true;
		pinned[n++] = k;
	}
	c->dropping++;
	pthread_mutex_unlock(&c->mu);
	for (size_t i = 0; i < n; i++)
		nng_aio_cancel(pinned[i]->aio);
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < n; i++) {
		struct call *k = pinned[i];
		if (--k->pins == 0 && k->ended) {
			nng_aio_reap(k->aio);
			free(k);
		}
	}
	c->dropping--;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	free(pinned);
}

/* A slots reply starts with the TaskManager's resource id (gateway.h). */
static void learn_receiver(struct client *c, const uint8_t *payload, size_t len)
{
	cm_rbuf r;
	cm_rbuf_init(&r, payload, len);
	char *id = NULL;
	cm_rbuf_strdup(&r, RPC_TO_MAX, &id);
	if (!id)
		return;
	pthread_mutex_lock(&c->mu);
	snprintf(c->to, sizeof(c->to), "%s", id);
	pthread_mutex_unlock(&c->mu);
	free(id);
}

static void call_cb(void *arg)
{
	struct call *k = arg;
	struct client *c = k->c;
	int rv = nng_aio_result(k->aio);
	if (rv == 0 && !k->sent) {
		k->sent = true;
		if (client_enter(c)) {
			nng_ctx_recv(k->ctx, k->aio);
			client_leave(c);
			return;
		}
		char why[300];
		snprintf(why, sizeof(why), "the gateway to %s is closed", c->url);
		call_end(k, FL_ECLOSED, why, NULL, 0);
		return;
	}
	char why[600];
	if (rv != 0) {
		nng_msg *m = nng_aio_get_msg(k->aio);
		if (m && !k->sent)
			nng_msg_free(m);
		pthread_mutex_lock(&c->mu);
		bool dropped = k->dropped;
		pthread_mutex_unlock(&c->mu);
		if (dropped && rv == NNG_ECANCELED) {
			snprintf(why, sizeof(why), "the connection to %s dropped before '%s' was answered",
				 c->url, rpc_method_name(k->method));
			call_end(k, FL_ECLOSED, why, NULL, 0);
			return;
		}
		if (rv == NNG_ETIMEDOUT)
			snprintf(why, sizeof(why), "no reply from %s to '%s' within %lld ms", c->url,
				 rpc_method_name(k->method), (long long)c->timeout_ms);
		else
			snprintf(why, sizeof(why), "'%s' to %s failed: %s", rpc_method_name(k->method),
				 c->url, nng_strerror(rv));
		call_end(k, net_err_from_nng(rv), why, NULL, 0);
		return;
	}
	nng_msg *m = nng_aio_get_msg(k->aio);
	rpc_reply r;
	if (rpc_reply_decode(nng_msg_body(m), nng_msg_len(m), k->id, k->mac, &c->secret, &r, why,
			     sizeof(why)) != 0) {
		char msg[900];
		snprintf(msg, sizeof(msg), "%s: %s", c->url, why);
		nng_msg_free(m);
		call_end(k, FL_EPROTO, msg, NULL, 0);
		return;
	}
	if (k->method == RPC_SLOTS && r.rc == 0)
		learn_receiver(c, r.payload, r.payload_len);
	call_end(k, r.rc, r.rc ? r.message : NULL, r.payload, r.payload_len);
	nng_msg_free(m);
}

/* Starts one call; done is called exactly once, also on failure here. */
static void start_call(struct client *c, int method, cm_wbuf *body, rpc_done_fn done, void *arg)
{
	char why[300];
	int rc = cm_wbuf_error(body);
	if (rc) {
		snprintf(why, sizeof(why), "cannot encode '%s' for %s", rpc_method_name(method), c->url);
		goto fail;
	}
	pthread_mutex_lock(&c->mu);
	if (c->closing) {
		pthread_mutex_unlock(&c->mu);
		rc = FL_ECLOSED;
		snprintf(why, sizeof(why), "the gateway to %s is closed", c->url);
		goto fail;
	}
	/* A peer whose connection dropped: fail now rather than wait for the
	 * timeout for a connection that may never come back (a peer that
	 * comes back is reached again by the next call). */
	if (atomic_load(&c->was_up) && !atomic_load(&c->pipe)) {
		/* The dialer may be stuck connecting to an address that is gone
		 * (a Kubernetes pod replaced under the same Service name: TCP
		 * gives up on the old IP only after about a minute). A new
		 * dialer resolves the name again and connects to what it names
		 * now. At most once per REDIAL_AFTER_MS. */
		int64_t now = cm_now_ms();
		if (client_unreachable_ms(c) >= REDIAL_AFTER_MS &&
		    now - c->redialed_ms >= REDIAL_AFTER_MS) {
			c->redialed_ms = now;
			nng_dialer old_d = c->dialer, new_d;
			if (nng_dial(c->sock, c->url, &new_d, NNG_FLAG_NONBLOCK) == 0) {
				c->dialer = new_d;
				nng_dialer_close(old_d);
			}
		}
		pthread_mutex_unlock(&c->mu);
		rc = FL_ECLOSED;
		snprintf(why, sizeof(why), "cannot send '%s' to %.200s: its connection dropped %lld ms ago",
			 rpc_method_name(method), c->url, (long long)client_unreachable_ms(c));
		goto fail;
	}
	c->inflight++;
	c->busy++; /* until the request is handed to NNG */
	char to[RPC_TO_MAX + 1];
	memcpy(to, c->to, sizeof(to));
	pthread_mutex_unlock(&c->mu);
	struct call *k = calloc(1, sizeof(*k));
	uint8_t *bytes = NULL;
	size_t n = 0;
	nng_msg *m = NULL;
	rc = FL_ENOMEM;
	if (!k)
		goto fail_inflight;
	k->c = c;
	k->method = method;
	k->id = atomic_fetch_add(&c->next_id, 1);
	k->done = done;
	k->arg = arg;
	rc = rpc_request_encode(method, k->id, c->cluster_id, to, cm_wbuf_data(body),
				cm_wbuf_len(body), &c->secret, &bytes, &n, k->mac);
	if (rc == 0 && !(m = msg_to_send(bytes, n)))
		rc = FL_ENOMEM;
	free(bytes);
	if (rc == 0 && nng_aio_alloc(&k->aio, call_cb, k) != 0)
		rc = FL_ENOMEM;
	if (rc == 0 && nng_ctx_open(&k->ctx, c->sock) != 0) {
		nng_aio_free(k->aio);
		rc = FL_ECLOSED;
	}
	if (rc) {
		if (m)
			nng_msg_free(m);
		free(k);
		goto fail_inflight;
	}
	nng_aio_set_timeout(k->aio, (nng_duration)c->timeout_ms);
	nng_aio_set_msg(k->aio, m);
	pthread_mutex_lock(&c->mu);
	k->next = c->calls;
	if (c->calls)
		c->calls->prev = k;
	c->calls = k;
	pthread_mutex_unlock(&c->mu);
	nng_ctx_send(k->ctx, k->aio);
	client_leave(c);
	return;

fail_inflight:
	client_leave(c);
	snprintf(why, sizeof(why), "cannot send '%s' to %s: %s", rpc_method_name(method), c->url,
		 fl_strerror(rc));
	pthread_mutex_lock(&c->mu);
	c->inflight--;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
fail:
	if (done)
		done(arg, rc, why, NULL, 0);
}

static int client_init(struct client *c, const char *url, const cm_secret *secret,
		       const char *cluster_id, int64_t timeout_ms, cm_err *err)
{
	if (!url || strncmp(url, "tcp://", 6) != 0 || strlen(url) >= ADDRESS_MAX || !secret ||
	    !secret->set)
		return cm_err_set(err, FL_EINVAL, "bad control address '%.200s'",
				  url ? url : "(null)");
	snprintf(c->url, sizeof(c->url), "%s", url);
	c->secret = *secret;
	snprintf(c->cluster_id, sizeof(c->cluster_id), "%s", cluster_id ? cluster_id : "");
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 60000;
	uint64_t seed = 0;
	cm_random(&seed, sizeof(seed));
	atomic_init(&c->next_id, seed);
	pthread_mutex_init(&c->mu, NULL);
	cm_cond_init(&c->cv);
	atomic_init(&c->pipe, 0);
	atomic_init(&c->down_since_ms, cm_now_ms());
	atomic_init(&c->was_up, false);
	int rv = nng_req0_open(&c->sock);
	/* Connection drops are seen at once (a TaskManager killed), not
	 * only when heartbeats time out. */
	if (rv == 0)
		rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, client_pipe_event, c);
	if (rv == 0)
		rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, client_pipe_event, c);
	/* Never resend: a request is answered once or times out. */
	if (rv == 0)
		rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if (rv == 0)
		rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, RPC_MAX_MESSAGE);
	/* Reconnect soon (a peer that restarts, a TaskManager started before
	 * its JobManager) but not in a tight loop: 50 ms doubling to 1 s. */
	if (rv == 0)
		rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 50);
	if (rv == 0)
		rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 1000);
	if (rv == 0)
		rv = nng_dial(c->sock, url, &c->dialer, NNG_FLAG_NONBLOCK);
	c->redialed_ms = cm_now_ms();
	if (rv != 0) {
		if (c->sock.id)
			nng_close(c->sock);
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mu);
		return cm_err_set(err, net_err_from_nng(rv), "cannot connect to %s: %s", url,
				  nng_strerror(rv));
	}
	return 0;
}

/* How long client_fini lets calls in flight end before it closes the socket. */
#define CLOSE_DRAIN_MS 2000

static void client_fini(struct client *c)
{
	pthread_mutex_lock(&c->mu);
	/*
	 * Calls in flight on a connection end first (answered, timed out, or
	 * dropped with it), for at most CLOSE_DRAIN_MS: NNG before 1.9 can hang
	 * nng_close for ever when a pipe is torn down while a message is being
	 * sent on it (nanomsg/nng#1813, fixed by nng commit aac4dc36: an aio
	 * whose task was prepared but never scheduled makes nni_aio_stop wait
	 * for ever, in NNG's one reaper thread, and every later socket close
	 * waits for that reaper). A TaskManager releasing a job right after
	 * its tasks' last reports closed its JobMaster client with their
	 * replies still coming: its service loop hung in nng_close and it
	 * answered nothing more (integration.cluster's 'two jobs running').
	 */
	int64_t drain_until = cm_now_ms() + (c->timeout_ms < CLOSE_DRAIN_MS ? c->timeout_ms : CLOSE_DRAIN_MS);
	while (c->inflight > 0 && atomic_load(&c->pipe) && cm_now_ms() < drain_until) {
		struct timespec ts = cm_deadline_ts(drain_until);
		pthread_cond_timedwait(&c->cv, &c->mu, &ts);
	}
	c->closing = true;
	while (c->busy > 0 || c->dropping > 0)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
	nng_close(c->sock); /* calls in flight end with NNG_ECLOSED */
	pthread_mutex_lock(&c->mu);
	while (c->inflight > 0)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	cm_secret_clear(&c->secret);
}

/* ------------------------------------------------- TaskManager client */

struct tm_client {
	rpc_tm_gateway base;
	struct client c;
};

#define TMC(g) (&((struct tm_client *)(g))->c)

static void tmc_slots(rpc_tm_gateway *g, rpc_done_fn done, void *arg)
{
	cm_wbuf w;
	cm_wbuf_init(&w, 16);
	start_call(TMC(g), RPC_SLOTS, &w, done, arg);
	cm_wbuf_fini(&w);
}

static void tmc_submit(rpc_tm_gateway *g, const uint8_t *tdd, size_t len, const char *jm_address,
		       rpc_done_fn done, void *arg)
{
	cm_wbuf w;
	cm_wbuf_init(&w, RPC_MAX_MESSAGE - 1024);
	cm_wbuf_bytes(&w, tdd, len);
	cm_wbuf_str(&w, jm_address);
	start_call(TMC(g), RPC_SUBMIT, &w, done, arg);
	cm_wbuf_fini(&w);
}

static void tmc_job(rpc_tm_gateway *g, int method, const char *job_id, uint64_t attempt,
		    rpc_done_fn done, void *arg)
{
	cm_wbuf w;
	cm_wbuf_init(&w, 256);
	cm_wbuf_str(&w, job_id);
	cm_wbuf_u64le(&w, attempt);
	start_call(TMC(g), method, &w, done, arg);
	cm_wbuf_fini(&w);
}

static void tmc_start(rpc_tm_gateway *g, const char *job_id, uint64_t attempt, rpc_done_fn done,
		      void *arg)
{
	tmc_job(g, RPC_START, job_id, attempt, done, arg);
}

static void tmc_cancel(rpc_tm_gateway *g, const char *job_id, uint64_t attempt, rpc_done_fn done,
		       void *arg)
{
	tmc_job(g, RPC_CANCEL, job_id, attempt, done, arg);
}

static void tmc_release(rpc_tm_gateway *g, const char *job_id, uint64_t attempt, rpc_done_fn done,
			void *arg)
{
	tmc_job(g, RPC_RELEASE, job_id, attempt, done, arg);
}

static void tmc_metrics(rpc_tm_gateway *g, const char *job_id, uint64_t attempt, rpc_done_fn done,
			void *arg)
{
	tmc_job(g, RPC_METRICS, job_id, attempt, done, arg);
}

static void tmc_heartbeat(rpc_tm_gateway *g, const char *jm_address, rpc_done_fn done, void *arg)
{
	cm_wbuf w;
	cm_wbuf_init(&w, 1024);
	cm_wbuf_str(&w, jm_address);
	start_call(TMC(g), RPC_HEARTBEAT, &w, done, arg);
	cm_wbuf_fini(&w);
}

static void tmc_trigger_checkpoint(rpc_tm_gateway *g, const char *job_id, uint64_t attempt,
				   int vertex, int subtask, uint64_t id, int64_t timestamp, int kind,
				   const char *dir, rpc_done_fn done, void *arg)
{
	cm_wbuf w;
	cm_wbuf_init(&w, 8192);
	cm_wbuf_str(&w, job_id);
	cm_wbuf_u64le(&w, attempt);
	cm_wbuf_uvarint(&w, (uint64_t)vertex);
	cm_wbuf_uvarint(&w, (uint64_t)subtask);
	cm_wbuf_uvarint(&w, id);
	cm_wbuf_svarint(&w, timestamp);
	cm_wbuf_uvarint(&w, (uint64_t)kind);
	cm_wbuf_str(&w, dir);
	start_call(TMC(g), RPC_TRIGGER_CHECKPOINT, &w, done, arg);
	cm_wbuf_fini(&w);
}

static void tmc_notify_checkpoint(rpc_tm_gateway *g, const char *job_id, uint64_t attempt,
				  uint64_t id, bool aborted, rpc_done_fn done, void *arg)
{
	cm_wbuf w;
	cm_wbuf_init(&w, 256);
	cm_wbuf_str(&w, job_id);
	cm_wbuf_u64le(&w, attempt);
	cm_wbuf_uvarint(&w, id);
	cm_wbuf_uvarint(&w, aborted ? 1 : 0);
	start_call(TMC(g), RPC_NOTIFY_CHECKPOINT, &w, done, arg);
	cm_wbuf_fini(&w);
}

static void tmc_free(rpc_tm_gateway *g)
{
	client_fini(TMC(g));
	free(g);
}

static int64_t tmc_unreachable_ms(rpc_tm_gateway *g)
{
	return client_unreachable_ms(TMC(g));
}

static const struct rpc_tm_gateway_ops tm_client_ops = {
    .slots = tmc_slots,
    .submit = tmc_submit,
    .start = tmc_start,
    .cancel = tmc_cancel,
    .release = tmc_release,
    .metrics = tmc_metrics,
    .heartbeat = tmc_heartbeat,
    .trigger_checkpoint = tmc_trigger_checkpoint,
    .notify_checkpoint = tmc_notify_checkpoint,
    .free = tmc_free,
    .unreachable_ms = tmc_unreachable_ms,
};

int rpc_tm_gateway_nng(rpc_tm_gateway **out, const char *url, const cm_secret *secret,
		       const char *cluster_id, int64_t timeout_ms, cm_err *err)
{
	*out = NULL;
	struct tm_client *t = calloc(1, sizeof(*t));
	if (!t)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	int rc = client_init(&t->c, url, secret, cluster_id, timeout_ms, err);
	if (rc) {
		free(t);
		return rc;
	}
	t->base.ops = &tm_client_ops;
	*out = &t->base;
	return 0;
}

/* --------------------------------------------------- JobMaster client */

struct jm_client {
	rpc_jm_gateway base;
	struct client c;
};

static void jmc_task_state(rpc_jm_gateway *g, const char *resource_id, const char *job_id,
			   uint64_t attempt, int vertex, int subtask, int state, const char *error,
			   rpc_done_fn done, void *arg)
{
	cm_wbuf w;
	cm_wbuf_init(&w, 16384);
	cm_wbuf_str(&w, resource_id);
	cm_wbuf_str(&w, job_id);
	cm_wbuf_u64le(&w, attempt);
	cm_wbuf_uvarint(&w, (uint64_t)vertex);
	cm_wbuf_uvarint(&w, (uint64_t)subtask);
	cm_wbuf_uvarint(&w, (uint64_t)state);
	cm_wbuf_str(&w, error);
	start_call(&((struct jm_client *)g)->c, RPC_TASK_STATE, &w, done, arg);
	cm_wbuf_fini(&w);
}

static void jmc_ack_checkpoint(rpc_jm_gateway *g, const char *resource_id, const char *job_id,
			       uint64_t attempt, int vertex, int subtask, uint64_t id,
			       const uint8_t *states, size_t len, const char *decline,
			       rpc_done_fn done, void *arg)
{
	cm_wbuf w;
	cm_wbuf_init(&w, RPC_MAX_MESSAGE - 1024);
	cm_wbuf_str(&w, resource_id);
	cm_wbuf_str(&w, job_id);
	cm_wbuf_u64le(&w, attempt);
	cm_wbuf_uvarint(&w, (uint64_t)vertex);
	cm_wbuf_uvarint(&w, (uint64_t)subtask);
	cm_wbuf_uvarint(&w, id);
	cm_wbuf_bytes(&w, states, len);
	cm_wbuf_str(&w, decline);
	start_call(&((struct jm_client *)g)->c, RPC_ACK_CHECKPOINT, &w, done, arg);
	cm_wbuf_fini(&w);
}

static void jmc_free(rpc_jm_gateway *g)
{
	client_fini(&((struct jm_client *)g)->c);
	free(g);
}

static const struct rpc_jm_gateway_ops jm_client_ops = {
    .task_state = jmc_task_state, .ack_checkpoint = jmc_ack_checkpoint, .free = jmc_free};

int rpc_jm_gateway_nng(rpc_jm_gateway **out, const char *url, const cm_secret *secret,
		       const char *cluster_id, int64_t timeout_ms, cm_err *err)
{
	*out = NULL;
	struct jm_client *j = calloc(1, sizeof(*j));
	if (!j)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	int rc = client_init(&j->c, url, secret, cluster_id, timeout_ms, err);
	if (rc) {
		free(j);
		return rc;
	}
	j->base.ops = &jm_client_ops;
	*out = &j->base;
	return 0;
}

/* --------------------------------------------- ResourceManager client */

struct rm_client {
	rpc_rm_gateway base;
	struct client c;
};

#define RMC(g) (&((struct rm_client *)(g))->c)

static void rmc_register(rpc_rm_gateway *g, const rpc_tm_registration *r, rpc_done_fn done,
			 void *arg)
{
	cm_wbuf w;
	cm_wbuf_init(&w, 4096);
	cm_wbuf_str(&w, r->resource_id);
	cm_wbuf_str(&w, r->rpc_address);
	cm_wbuf_str(&w, r->data_address);
	cm_wbuf_uvarint(&w, (uint64_t)r->slots);
	cm_wbuf_uvarint(&w, (uint64_t)(r->cpu_milli > 0 ? r->cpu_milli : 0));
	cm_wbuf_uvarint(&w, (uint64_t)(r->memory_bytes > 0 ? r->memory_bytes : 0));
	cm_wbuf_uvarint(&w, (uint64_t)(r->managed_bytes > 0 ? r->managed_bytes : 0));
	cm_wbuf_uvarint(&w, (uint64_t)(r->network_bytes > 0 ? r->network_bytes : 0));
	start_call(RMC(g), RPC_REGISTER_TM, &w, done, arg);
	cm_wbuf_fini(&w);
}

static void rmc_heartbeat(rpc_rm_gateway *g, const char *resource_id, rpc_done_fn done,
			  void *arg)
{
	cm_wbuf w;
	cm_wbuf_init(&w, 256);
	cm_wbuf_str(&w, resource_id);
	start_call(RMC(g), RPC_TM_HEARTBEAT, &w, done, arg);
	cm_wbuf_fini(&w);
}

static void rmc_blob(rpc_rm_gateway *g, const char *hash, uint64_t offset, rpc_done_fn done,
		     void *arg)
{
	cm_wbuf w;
	cm_wbuf_init(&w, 128);
	cm_wbuf_str(&w, hash);
	cm_wbuf_uvarint(&w, offset);
	start_call(RMC(g), RPC_BLOB, &w, done, arg);
	cm_wbuf_fini(&w);
}

static void rmc_free(rpc_rm_gateway *g)
{
	client_fini(RMC(g));
	free(g);
}

static const struct rpc_rm_gateway_ops rm_client_ops = {.register_tm = rmc_register,
							.tm_heartbeat = rmc_heartbeat,
							.blob = rmc_blob,
							.free = rmc_free};

int rpc_rm_gateway_nng(rpc_rm_gateway **out, const char *url, const cm_secret *secret,
		       const char *cluster_id, int64_t timeout_ms, cm_err *err)
{
	*out = NULL;
	struct rm_client *m = calloc(1, sizeof(*m));
	if (!m)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	int rc = client_init(&m->c, url, secret, cluster_id, timeout_ms, err);
	if (rc) {
		free(m);
		return rc;
	}
	m->base.ops = &rm_client_ops;
	*out = &m->base;
	return 0;
}
