/*
 * The control protocol over NNG request/reply on loopback: every gateway
 * call arrives with its arguments and comes back with its reply; requests
 * from outside the cluster (another secret, another cluster, another
 * version, garbage) are refused with a message naming why and never reach
 * the gateway; a call that gets no reply times out; freeing a client ends
 * its calls.
 *
 * The served gateways here record what they receive: they are the test's
 * end of a real server, not a stand-in for a TaskManager.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <flinc/flinc.h>

#include "common/auth.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/sync.h"
#include "rpc/gateway.h"
#include "rpc/nng.h"
#include "rpc/protocol.h"

/* ---------------------------------------------------- the served side */

struct seen {
	pthread_mutex_t mu;
	int calls;
	char method[32];
	char job[64];
	uint64_t attempt;
	char address[256];
	size_t tdd_len;
	uint8_t tdd_first;
	int vertex, subtask, state;
	char error[256];
	bool answer; /* false: never answer (for timeouts) */
};

static struct seen seen = {.mu = PTHREAD_MUTEX_INITIALIZER, .answer = true};

static void record(const char *method, const char *job, uint64_t attempt, const char *address)
{
	pthread_mutex_lock(&seen.mu);
	seen.calls++;
	snprintf(seen.method, sizeof(seen.method), "%s", method);
	snprintf(seen.job, sizeof(seen.job), "%s", job ? job : "");
	seen.attempt = attempt;
	snprintf(seen.address, sizeof(seen.address), "%s", address ? address : "");
	pthread_mutex_unlock(&seen.mu);
}

/* Without an answer, the call is held: the test answers it late. */
static rpc_done_fn held_done;
static void *held_arg;

static void answer(rpc_done_fn done, void *arg, int rc, const char *msg, const uint8_t *p, size_t n)
{
	if (seen.answer) {
		done(arg, rc, msg, p, n);
	} else {
		held_done = done;
		held_arg = arg;
	}
}

static void s_slots(rpc_tm_gateway *g, rpc_done_fn done, void *arg)
{
	record("slots", NULL, 0, NULL);
	cm_wbuf w;
	cm_wbuf_init(&w, 128);
	cm_wbuf_str(&w, "tm-test");
	cm_wbuf_str(&w, "127.0.0.1:7777");
	cm_wbuf_uvarint(&w, 4);
	answer(done, arg, 0, NULL, cm_wbuf_data(&w), cm_wbuf_len(&w));
	cm_wbuf_fini(&w);
}

static void s_submit(rpc_tm_gateway *g, const uint8_t *tdd, size_t len, const char *jm_address,
		     rpc_done_fn done, void *arg)
{
	record("submit", NULL, 0, jm_address);
	pthread_mutex_lock(&seen.mu);
	seen.tdd_len = len;
	seen.tdd_first = len ? tdd[0] : 0;
	pthread_mutex_unlock(&seen.mu);
	answer(done, arg, FL_EINVAL, "descriptor refused for the test", NULL, 0);
}

#define JOB_CALL(name)                                                                             \
	static void s_##name(rpc_tm_gateway *g, const char *job_id, uint64_t attempt,             \
			     rpc_done_fn done, void *arg)                                          \
	{                                                                                          \
		record(#name, job_id, attempt, NULL);                                              \
		answer(done, arg, 0, NULL, NULL, 0);                                               \
	}
JOB_CALL(start)
JOB_CALL(cancel)
JOB_CALL(release)

static void s_metrics(rpc_tm_gateway *g, const char *job_id, uint64_t attempt, rpc_done_fn done,
		      void *arg)
{
	record("metrics", job_id, attempt, NULL);
	static const uint8_t payload[] = {1, 3, 10, 20}; /* one node: 3, in 10, out 20 */
	answer(done, arg, 0, NULL, payload, sizeof(payload));
}

static void s_heartbeat(rpc_tm_gateway *g, const char *jm_address, rpc_done_fn done, void *arg)
{
	record("heartbeat", NULL, 0, jm_address);
	answer(done, arg, 0, NULL, NULL, 0);
}

static void s_free(rpc_tm_gateway *g)
{
}

static const struct rpc_tm_gateway_ops served_tm_ops = {
    .slots = s_slots,
    .submit = s_submit,
    .start = s_start,
    .cancel = s_cancel,
    .release = s_release,
    .metrics = s_metrics,
    .heartbeat = s_heartbeat,
    .free = s_free,
};
static rpc_tm_gateway served_tm = {.ops = &served_tm_ops};

static void s_task_state(rpc_jm_gateway *g, const char *resource_id, const char *job_id,
			 uint64_t attempt, int vertex, int subtask, int state, const char *error,
			 rpc_done_fn done, void *arg)
{
	record("task_state", job_id, attempt, resource_id);
	pthread_mutex_lock(&seen.mu);
	seen.vertex = vertex;
	seen.subtask = subtask;
	seen.state = state;
	snprintf(seen.error, sizeof(seen.error), "%s", error ? error : "(null)");
	pthread_mutex_unlock(&seen.mu);
	answer(done, arg, 0, NULL, NULL, 0);
}

static void s_jm_free(rpc_jm_gateway *g)
{
}

static const struct rpc_jm_gateway_ops served_jm_ops = {.task_state = s_task_state,
							.free = s_jm_free};
static rpc_jm_gateway served_jm = {.ops = &served_jm_ops};

/* ----------------------------------------------------- the caller side */

struct result {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int rc;
	char msg[1024];
	uint8_t payload[256];
	size_t len;
};

static void result_init(struct result *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
	cm_cond_init(&r->cv);
}

static void on_result(void *arg, int rc, const char *msg, const uint8_t *p, size_t len)
{
	struct result *r = arg;
	pthread_mutex_lock(&r->mu);
	r->rc = rc;
	snprintf(r->msg, sizeof(r->msg), "%s", msg ? msg : "");
	r->len = len < sizeof(r->payload) ? len : sizeof(r->payload);
	if (r->len)
		memcpy(r->payload, p, r->len);
	r->done = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static void result_wait(struct result *r)
{
	pthread_mutex_lock(&r->mu);
	while (!r->done)
		pthread_cond_wait(&r->cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
}

static cm_secret secret_of(const char *text)
{
	cm_secret s;
	cm_err err = {0};
	assert_int_equal(cm_secret_from_string(&s, text, &err), 0);
	return s;
}

static rpc_server *serve_tm(const char *secret, const char *cluster)
{
	cm_secret s = secret_of(secret);
	rpc_server *srv;
	cm_err err = {0};
	if (rpc_server_new(&srv, "tcp://127.0.0.1:0", &served_tm, NULL, NULL, "tm-test", &s, cluster,
			   &err) != 0)
		fail_msg("rpc_server_new: %s", err.msg);
	return srv;
}

static rpc_tm_gateway *client_tm(rpc_server *srv, const char *secret, const char *cluster,
				 int64_t timeout_ms)
{
	cm_secret s = secret_of(secret);
	rpc_tm_gateway *g;
	cm_err err = {0};
	if (rpc_tm_gateway_nng(&g, rpc_server_address(srv), &s, cluster, timeout_ms, &err) != 0)
		fail_msg("rpc_tm_gateway_nng: %s", err.msg);
	return g;
}

/* The first call a JobMaster makes: it learns whom it reached. */
static void hello(rpc_tm_gateway *g)
{
	struct result r;
	result_init(&r);
	g->ops->slots(g, on_result, &r);
	result_wait(&r);
	assert_int_equal(r.rc, 0);
}

static void test_every_taskmanager_call_arrives_and_returns(void **state)
{
	rpc_server *srv = serve_tm("secret", "c1");
	rpc_tm_gateway *g = client_tm(srv, "secret", "c1", 5000);
	struct result r;

	result_init(&r);
	g->ops->slots(g, on_result, &r);
	result_wait(&r);
	assert_int_equal(r.rc, 0);
	cm_rbuf rb;
	cm_rbuf_init(&rb, r.payload, r.len);
	char *rid = NULL, *addr = NULL;
	cm_rbuf_strdup(&rb, 64, &rid);
	cm_rbuf_strdup(&rb, 64, &addr);
	assert_int_equal(cm_rbuf_uvarint(&rb), 4);
	assert_string_equal(rid, "tm-test");
	assert_string_equal(addr, "127.0.0.1:7777");
	free(rid);
	free(addr);

	uint8_t tdd[3000];
	memset(tdd, 0x5a, sizeof(tdd));
	result_init(&r);
	g->ops->submit(g, tdd, sizeof(tdd), "tcp://jm:1", on_result, &r);
	result_wait(&r);
	assert_int_equal(r.rc, FL_EINVAL);
	assert_string_equal(r.msg, "descriptor refused for the test");
	assert_int_equal(seen.tdd_len, sizeof(tdd));
	assert_int_equal(seen.tdd_first, 0x5a);
	assert_string_equal(seen.address, "tcp://jm:1");

	void (*job_calls[])(rpc_tm_gateway *, const char *, uint64_t, rpc_done_fn, void *) = {
	    g->ops->start, g->ops->cancel, g->ops->release};
	const char *names[] = {"start", "cancel", "release"};
	for (int i = 0; i < 3; i++) {
		result_init(&r);
		job_calls[i](g, "0123456789abcdef0123456789abcdef", 0xfeedull + (uint64_t)i,
			     on_result, &r);
		result_wait(&r);
		assert_int_equal(r.rc, 0);
		assert_string_equal(seen.method, names[i]);
		assert_string_equal(seen.job, "0123456789abcdef0123456789abcdef");
		assert_int_equal(seen.attempt, 0xfeedull + (uint64_t)i);
	}

	result_init(&r);
	g->ops->metrics(g, "j", 1, on_result, &r);
	result_wait(&r);
	assert_int_equal(r.len, 4);
	assert_int_equal(r.payload[3], 20);

	result_init(&r);
	g->ops->heartbeat(g, "local:jobmaster-x", on_result, &r);
	result_wait(&r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(seen.address, "local:jobmaster-x");

	g->ops->free(g);
	rpc_server_free(srv);
}

static void test_task_states_reach_the_jobmaster(void **state)
{
	cm_secret s = secret_of("secret");
	rpc_server *srv;
	cm_err err = {0};
	assert_int_equal(rpc_server_new(&srv, "tcp://127.0.0.1:0", NULL, &served_jm, NULL, NULL, &s, "c1",
					&err),
			 0);
	rpc_jm_gateway *g;
	cm_err oerr = {0};
	assert_int_equal(rpc_jm_gateway_open(rpc_server_address(srv), &s, "c1", &g, &oerr), 0);
	struct result r;
	result_init(&r);
	g->ops->task_state(g, "tm-7", "job", 99, 3, 5, 7, "it broke", on_result, &r);
	result_wait(&r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(seen.method, "task_state");
	assert_string_equal(seen.address, "tm-7");
	assert_int_equal(seen.vertex, 3);
	assert_int_equal(seen.subtask, 5);
	assert_int_equal(seen.state, 7);
	assert_string_equal(seen.error, "it broke");
	/* A TaskManager method at a JobMaster's address is refused. */
	rpc_tm_gateway *wrong;
	assert_int_equal(rpc_tm_gateway_nng(&wrong, rpc_server_address(srv), &s, "c1", 5000, &err), 0);
	result_init(&r);
	wrong->ops->start(wrong, "job", 1, on_result, &r);
	result_wait(&r);
	assert_int_equal(r.rc, FL_EPROTO);
	assert_non_null(strstr(r.msg, "not served"));
	wrong->ops->free(wrong);
	g->ops->free(g);
	rpc_server_free(srv);
}

static void test_another_secret_is_refused_and_never_reaches_the_gateway(void **state)
{
	rpc_server *srv = serve_tm("secret", "c1");
	rpc_tm_gateway *g = client_tm(srv, "not the secret", "c1", 5000);
	int before = seen.calls;
	struct result r;
	result_init(&r);
	g->ops->cancel(g, "job", 1, on_result, &r);
	result_wait(&r);
	assert_int_equal(r.rc, FL_EPROTO);
	assert_non_null(strstr(r.msg, "failed authentication"));
	assert_non_null(strstr(r.msg, "security.internal.token"));
	assert_int_equal(seen.calls, before);
	g->ops->free(g);
	rpc_server_free(srv);
}

static void test_another_cluster_is_refused(void **state)
{
	rpc_server *srv = serve_tm("secret", "c1");
	rpc_tm_gateway *g = client_tm(srv, "secret", "c2", 5000);
	int before = seen.calls;
	struct result r;
	result_init(&r);
	g->ops->slots(g, on_result, &r);
	result_wait(&r);
	assert_int_equal(r.rc, FL_EPROTO);
	assert_non_null(strstr(r.msg, "'c2'"));
	assert_non_null(strstr(r.msg, "'c1'"));
	assert_int_equal(seen.calls, before);
	g->ops->free(g);
	rpc_server_free(srv);
}

/* A raw NNG peer: one request, its reply's bytes. */
static size_t raw_request(rpc_server *srv, const void *req, size_t len, uint8_t *reply, size_t cap)
{
	nng_socket sock;
	assert_int_equal(nng_req0_open(&sock), 0);
	assert_int_equal(nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, 5000), 0);
	assert_int_equal(nng_dial(sock, rpc_server_address(srv), NULL, 0), 0);
	assert_int_equal(nng_send(sock, (void *)req, len, 0), 0);
	void *buf = NULL;
	size_t n = 0;
	int rv = nng_recv(sock, &buf, &n, NNG_FLAG_ALLOC);
	assert_int_equal(rv, 0);
	size_t k = n < cap ? n : cap;
	memcpy(reply, buf, k);
	nng_free(buf, n);
	nng_close(sock);
	return k;
}

/* The message text of a reply, read without checking its mac (the raw peer
 * has no secret). */
static void reply_message(const uint8_t *b, size_t n, char *out, size_t cap)
{
	cm_rbuf r;
	cm_rbuf_init(&r, b, n);
	for (int i = 0; i < 16; i++)
		cm_rbuf_u8(&r);
	cm_rbuf_svarint(&r);
	char *m = NULL;
	cm_rbuf_strdup(&r, 1000, &m);
	snprintf(out, cap, "%s", m ? m : "");
	free(m);
}

static void test_another_version_and_garbage_get_an_error_naming_why(void **state)
{
	rpc_server *srv = serve_tm("secret", "c1");
	int before = seen.calls;
	uint8_t req[64] = {'F', 'R', 'P', 'C', 9, RPC_SLOTS, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};
	uint8_t reply[2048];
	char msg[1024];
	size_t n = raw_request(srv, req, sizeof(req), reply, sizeof(reply));
	reply_message(reply, n, msg, sizeof(msg));
	assert_non_null(strstr(msg, "version 9"));
	char ours[32];
	snprintf(ours, sizeof(ours), "version %d", RPC_VERSION);
	assert_non_null(strstr(msg, ours));
	static const char garbage[] = "GET / HTTP/1.1\r\nHost: flinc\r\n\r\nxxxxxxxxxxxxxxxxxxxxxxxxxx";
	n = raw_request(srv, garbage, sizeof(garbage), reply, sizeof(reply));
	reply_message(reply, n, msg, sizeof(msg));
	assert_non_null(strstr(msg, "not a flinc control request"));
	assert_int_equal(seen.calls, before);
	/* The server still serves the cluster. */
	rpc_tm_gateway *g = client_tm(srv, "secret", "c1", 5000);
	hello(g);
	struct result r;
	result_init(&r);
	g->ops->heartbeat(g, "x", on_result, &r);
	result_wait(&r);
	assert_int_equal(r.rc, 0);
	g->ops->free(g);
	rpc_server_free(srv);
}

/* A request as a peer holding the secret would send it. */
static size_t signed_request(int method, const char *to, const uint8_t *body, size_t len,
			     uint8_t *out, size_t cap)
{
	cm_secret sec = secret_of("secret");
	uint8_t *bytes, mac[CM_MAC_LEN];
	size_t n;
	assert_int_equal(rpc_request_encode(method, 7, "c1", to, body, len, &sec, &bytes, &n, mac),
			 0);
	assert_true(n <= cap);
	memcpy(out, bytes, n);
	free(bytes);
	return n;
}

static void test_a_replayed_request_is_refused(void **state)
{
	rpc_server *srv = serve_tm("secret", "c1");
	cm_wbuf w;
	cm_wbuf_init(&w, 256);
	cm_wbuf_str(&w, "0123456789abcdef0123456789abcdef");
	cm_wbuf_u64le(&w, 5);
	uint8_t req[512], reply[2048];
	char msg[1024];
	size_t n = signed_request(RPC_CANCEL, "tm-test", cm_wbuf_data(&w), cm_wbuf_len(&w), req,
				  sizeof(req));
	cm_wbuf_fini(&w);
	int before = seen.calls;
	size_t rn = raw_request(srv, req, n, reply, sizeof(reply));
	reply_message(reply, rn, msg, sizeof(msg));
	assert_string_equal(msg, "");
	assert_int_equal(seen.calls, before + 1);
	/* The same bytes again, as an observer on the wire would send them. */
	rn = raw_request(srv, req, n, reply, sizeof(reply));
	reply_message(reply, rn, msg, sizeof(msg));
	assert_non_null(strstr(msg, "replayed"));
	assert_int_equal(seen.calls, before + 1);
	rpc_server_free(srv);
}

static void test_a_request_for_another_taskmanager_is_refused(void **state)
{
	rpc_server *srv = serve_tm("secret", "c1");
	uint8_t tdd[16] = {0}, req[512], reply[2048];
	char msg[1024];
	cm_wbuf w;
	cm_wbuf_init(&w, 256);
	cm_wbuf_bytes(&w, tdd, sizeof(tdd));
	cm_wbuf_str(&w, "tcp://jm:1");
	int before = seen.calls;
	/* A submit recorded on its way to tm-other, replayed here. */
	size_t n = signed_request(RPC_SUBMIT, "tm-other", cm_wbuf_data(&w), cm_wbuf_len(&w), req,
				  sizeof(req));
	size_t rn = raw_request(srv, req, n, reply, sizeof(reply));
	reply_message(reply, rn, msg, sizeof(msg));
	assert_non_null(strstr(msg, "for tm-other reached tm-test"));
	/* Nor may a submit leave its receiver out: only slots may. */
	n = signed_request(RPC_SUBMIT, NULL, cm_wbuf_data(&w), cm_wbuf_len(&w), req, sizeof(req));
	rn = raw_request(srv, req, n, reply, sizeof(reply));
	reply_message(reply, rn, msg, sizeof(msg));
	assert_non_null(strstr(msg, "reached tm-test"));
	assert_int_equal(seen.calls, before);
	cm_wbuf_fini(&w);
	n = signed_request(RPC_SLOTS, NULL, NULL, 0, req, sizeof(req));
	rn = raw_request(srv, req, n, reply, sizeof(reply));
	reply_message(reply, rn, msg, sizeof(msg));
	assert_string_equal(msg, "");
	assert_int_equal(seen.calls, before + 1);
	rpc_server_free(srv);
}

static void test_the_replay_guard_grows_and_forgets_expired_nonces(void **state)
{
	rpc_seen *g;
	assert_int_equal(rpc_seen_new(&g), 0);
	char why[256];
	int64_t now = 1000000000;
	rpc_request r = {.wall_ms = now};
	for (uint32_t i = 0; i < 20000; i++) {
		memcpy(r.nonce, &i, sizeof(i));
		r.nonce[8] = (uint8_t)(i * 7); /* neighbours in the table too */
		assert_int_equal(rpc_seen_add(g, &r, now, why, sizeof(why)), 0);
	}
	for (uint32_t i = 0; i < 20000; i += 997) {
		memcpy(r.nonce, &i, sizeof(i));
		r.nonce[8] = (uint8_t)(i * 7);
		assert_int_equal(rpc_seen_add(g, &r, now + 1000, why, sizeof(why)), FL_EPROTO);
		assert_non_null(strstr(why, "replayed"));
	}
	/* Once a stamp is out of the window its nonce is forgotten: a request
	 * carrying it would be refused by the skew check anyway. */
	int64_t later = now + RPC_MAX_SKEW_MS + 1;
	uint32_t i = 0;
	memcpy(r.nonce, &i, sizeof(i));
	r.nonce[8] = 0;
	r.wall_ms = later;
	assert_int_equal(rpc_seen_add(g, &r, later, why, sizeof(why)), 0);
	assert_int_equal(rpc_seen_add(g, &r, later, why, sizeof(why)), FL_EPROTO);
	rpc_seen_free(g);
}

static void test_a_call_without_reply_times_out_naming_the_peer(void **state)
{
	rpc_server *srv = serve_tm("secret", "c1");
	rpc_tm_gateway *g = client_tm(srv, "secret", "c1", 300);
	hello(g);
	seen.answer = false;
	struct result r;
	result_init(&r);
	g->ops->start(g, "job", 1, on_result, &r);
	result_wait(&r);
	seen.answer = true;
	assert_int_equal(r.rc, FL_ETIMEDOUT);
	assert_non_null(strstr(r.msg, "no reply from tcp://127.0.0.1:"));
	assert_non_null(strstr(r.msg, "'start'"));
	g->ops->free(g);
	/* The late answer goes nowhere (the caller gave up); the server then
	 * frees cleanly. */
	held_done(held_arg, 0, NULL, NULL, 0);
	rpc_server_free(srv);
}

static void test_freeing_a_client_ends_its_calls(void **state)
{
	/* Nobody listens at this address: the call waits for a connection. */
	cm_secret s = secret_of("secret");
	rpc_tm_gateway *g;
	cm_err err = {0};
	assert_int_equal(rpc_tm_gateway_nng(&g, "tcp://127.0.0.1:1", &s, "c1", 60000, &err), 0);
	struct result r;
	result_init(&r);
	g->ops->slots(g, on_result, &r);
	g->ops->free(g);
	result_wait(&r);
	assert_int_equal(r.rc, FL_ECLOSED);
}

/* A JobMaster gateway that answers each task report a moment later, on a
 * thread of its own, as the Dispatcher's routing does under load. */
struct held {
	rpc_done_fn done;
	void *arg;
	int delay_us;
};

static _Atomic int late_pending;

static void *late_answer(void *arg)
{
	struct held *h = arg;
	struct timespec ts = {0, (long)(h->delay_us * 1000)};
	nanosleep(&ts, NULL);
	h->done(h->arg, 0, NULL, NULL, 0);
	free(h);
	atomic_fetch_sub(&late_pending, 1);
	return NULL;
}

static void late_task_state(rpc_jm_gateway *g, const char *resource_id, const char *job_id,
			    uint64_t attempt, int vertex, int subtask, int state, const char *error,
			    rpc_done_fn done, void *arg)
{
	struct held *h = calloc(1, sizeof(*h));
	assert_non_null(h);
	h->done = done;
	h->arg = arg;
	h->delay_us = rand() % 3000;
	atomic_fetch_add(&late_pending, 1);
	pthread_t t;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	assert_int_equal(pthread_create(&t, &a, late_answer, h), 0);
	pthread_attr_destroy(&a);
}

static const struct rpc_jm_gateway_ops late_jm_ops = {.task_state = late_task_state,
						      .free = s_jm_free};
static rpc_jm_gateway late_jm = {.ops = &late_jm_ops};

struct freeing {
	rpc_jm_gateway *g;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
};

static void *free_client(void *arg)
{
	struct freeing *f = arg;
	f->g->ops->free(f->g);
	pthread_mutex_lock(&f->mu);
	f->done = true;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* A client freed while its calls' replies are on their way, as a
 * TaskManager frees its JobMaster client when the job is released right
 * after its tasks' last reports: the free returns. With NNG 1.5.2 closing
 * the socket at once hung for ever in nng_close now and then (NNG's
 * reaper stuck stopping a pipe's send aio, nanomsg/nng#1813): within a
 * few hundred rounds here, and a TaskManager's service loop stopped
 * answering in integration.cluster. */
static void test_freeing_a_client_while_replies_come_returns(void **state)
{
	cm_secret s = secret_of("secret");
	rpc_server *srv;
	cm_err err = {0};
	assert_int_equal(
	    rpc_server_new(&srv, "tcp://127.0.0.1:0", NULL, &late_jm, NULL, NULL, &s, "c1", &err),
	    0);
	srand(7);
	for (int round = 0; round < 300; round++) {
		struct freeing f = {.done = false};
		assert_int_equal(
		    rpc_jm_gateway_nng(&f.g, rpc_server_address(srv), &s, "c1", 30000, &err), 0);
		/* Connected, as a TaskManager's client is long before: one call
		 * answered first. */
		struct result r;
		result_init(&r);
		f.g->ops->task_state(f.g, "tm", "0123456789abcdef0123456789abcdef", 1, 0, 0, 1, NULL,
				     on_result, &r);
		result_wait(&r);
		assert_int_equal(r.rc, 0);
		int n = 1 + rand() % 4;
		for (int k = 0; k < n; k++)
			f.g->ops->task_state(f.g, "tm", "0123456789abcdef0123456789abcdef", 1, 0, k,
					     3, NULL, NULL, NULL);
		struct timespec ts = {0, (long)(rand() % 3000) * 1000};
		nanosleep(&ts, NULL);
		pthread_mutex_init(&f.mu, NULL);
		cm_cond_init(&f.cv);
		pthread_t t;
		assert_int_equal(pthread_create(&t, NULL, free_client, &f), 0);
		int64_t deadline = cm_now_ms() + 20000;
		pthread_mutex_lock(&f.mu);
		while (!f.done && cm_now_ms() < deadline) {
			struct timespec d = cm_deadline_ts(deadline);
			pthread_cond_timedwait(&f.cv, &f.mu, &d);
		}
		bool freed = f.done;
		pthread_mutex_unlock(&f.mu);
		if (!freed)
			fail_msg("round %d: freeing the client did not return within 20 s", round);
		pthread_join(t, NULL);
		pthread_cond_destroy(&f.cv);
		pthread_mutex_destroy(&f.mu);
	}
	while (atomic_load(&late_pending) > 0) {
		struct timespec ts = {0, 1000000L};
		nanosleep(&ts, NULL);
	}
	rpc_server_free(srv);
}

/* A trigger's kind: a checkpoint or a savepoint, announced (PREPARE) or
 * not; STOP only with a savepoint, at a source or announced to every task
 * (a task with inputs then holds its processing-time timers). */
static void test_trigger_kinds_are_checked(void **state)
{
	(void)state;
	for (uint64_t kind = 0; kind <= 9; kind++) {
		cm_wbuf w;
		cm_wbuf_init(&w, 256);
		cm_wbuf_str(&w, "0123456789abcdef0123456789abcdef");
		cm_wbuf_u64le(&w, 1);
		cm_wbuf_uvarint(&w, 0);
		cm_wbuf_uvarint(&w, 0);
		cm_wbuf_uvarint(&w, 7);
		cm_wbuf_svarint(&w, 1700000000000);
		cm_wbuf_uvarint(&w, kind);
		cm_wbuf_str(&w, "/ckp/chk-7");
		assert_int_equal(cm_wbuf_error(&w), 0);
		rpc_args a;
		char why[256] = "";
		int rc = rpc_args_decode(RPC_TRIGGER_CHECKPOINT, cm_wbuf_data(&w), cm_wbuf_len(&w),
					 &a, why, sizeof(why));
		bool valid = kind <= 3 || kind == 5 || kind == 7;
		if (valid) {
			assert_int_equal(rc, 0);
			assert_int_equal(a.state, kind);
			rpc_args_fini(&a);
		} else {
			assert_int_equal(rc, FL_EPROTO);
			assert_non_null(strstr(why, "malformed trigger checkpoint request"));
		}
		cm_wbuf_fini(&w);
	}
}

static void test_bad_addresses_are_refused(void **state)
{
	cm_secret s = secret_of("secret");
	rpc_tm_gateway *g;
	cm_err err = {0};
	assert_int_equal(rpc_tm_gateway_nng(&g, "http://x", &s, "c", 100, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "http://x"));
	rpc_jm_gateway *j;
	cm_err_clear(&err);
	assert_int_equal(rpc_jm_gateway_open("ftp://x", &s, "c", &j, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "'ftp://x' is neither"));
	cm_err_clear(&err);
	assert_int_equal(rpc_jm_gateway_open("local:nobody", &s, "c", &j, &err), FL_ENOENT);
	assert_non_null(strstr(err.msg, "local:nobody"));
	rpc_server *srv;
	cm_err_clear(&err);
	assert_int_equal(rpc_server_new(&srv, "tcp://203.0.113.1:0", &served_tm, NULL, NULL, NULL, &s, "c",
					&err),
			 FL_EIO);
	assert_non_null(strstr(err.msg, "203.0.113.1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_taskmanager_call_arrives_and_returns),
	    cmocka_unit_test(test_task_states_reach_the_jobmaster),
	    cmocka_unit_test(test_another_secret_is_refused_and_never_reaches_the_gateway),
	    cmocka_unit_test(test_another_cluster_is_refused),
	    cmocka_unit_test(test_another_version_and_garbage_get_an_error_naming_why),
	    cmocka_unit_test(test_freeing_a_client_ends_its_calls),
	    cmocka_unit_test(test_freeing_a_client_while_replies_come_returns),
	    cmocka_unit_test(test_bad_addresses_are_refused),
	    cmocka_unit_test(test_trigger_kinds_are_checked),
	    cmocka_unit_test(test_a_call_without_reply_times_out_naming_the_peer),
	    cmocka_unit_test(test_a_replayed_request_is_refused),
	    cmocka_unit_test(test_the_replay_guard_grows_and_forgets_expired_nonces),
	    cmocka_unit_test(test_a_request_for_another_taskmanager_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
