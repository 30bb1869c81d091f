/*
 * A TaskManager on its own, driven only through its gateway as a JobMaster
 * would drive it: the JobMaster side is a recording gateway registered as
 * "local:test-jm-N", descriptors are built from real job graphs. Deployment,
 * refusals, cancellation (interrupts and the watchdog), JobMaster loss and
 * a stalled service loop. Runs under ThreadSanitizer too.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/env.h"
#include "common/auth.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/sync.h"
#include "graph/descriptor.h"
#include "graph/jobgraph.h"
#include "rpc/gateway.h"
#include "taskmanager/taskmanager.h"

/* How long a test waits for something that must happen; a hang beyond it
 * fails the test (and ctest's timeout catches anything else). */
#define WAIT_MS 60000

#define JOB_A "0123456789abcdef0123456789abcdef"
#define JOB_B "fedcba9876543210fedcba9876543210"

/* ------------------------------------------------------ user functions */

int tmt_gen(fl_ctx *ctx, int64_t off, fl_row *out);
int tmt_gen_kv(fl_ctx *ctx, int64_t off, fl_row *out);
int tmt_identity(fl_ctx *ctx, const fl_row *in, fl_row *out);
int tmt_sleep(fl_ctx *ctx, const fl_row *in, fl_row *out);
int tmt_spin(fl_ctx *ctx, const fl_row *in, fl_row *out);
int tmt_deaf_sleep(fl_ctx *ctx, const fl_row *in, fl_row *out);

int tmt_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	return fl_row_add_int64(out, off);
}

/* (key, 1) over 7 keys. */
int tmt_gen_kv(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, off % 7);
	return fl_row_add_int64(out, 1);
}

int tmt_identity(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	*out = *in;
	return 0;
}

static void nap_ms(int64_t ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Each stuck function blocks once, on the first record after the test
 * armed it, and says where it is through its flags. */
static _Atomic bool sleep_armed, asleep;

/* Blocks in a system call for an hour: only an interrupt ends it early. */
int tmt_sleep(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	if (atomic_exchange(&sleep_armed, false)) {
		atomic_store(&asleep, true);
		sleep(3600);
		atomic_store(&asleep, false);
	}
	*out = *in;
	return 0;
}

static _Atomic bool spin_armed, spinning, spin_release;

/* Ignores every interrupt: spins until the test lets it go. */
int tmt_spin(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	if (atomic_exchange(&spin_armed, false)) {
		atomic_store(&spinning, true);
		while (!atomic_load(&spin_release))
			;
		atomic_store(&spinning, false);
	}
	*out = *in;
	return 0;
}

static _Atomic bool deaf_armed, deaf, deaf_release;
static _Atomic int deaf_interrupts;

/* Sleeps in short naps, counts the interrupts and sleeps on: a user
 * function that is deaf to cancellation until the test lets it go.
 * An interrupt (tm_task_interrupt's SIGURG) is counted only when it ends
 * a nap with EINTR; one that came while the thread was between naps (run
 * late under load, after its nap had ended) would be handled and not
 * counted, and a test awaiting it would wait in vain. So SIGURG is
 * blocked here except inside ppoll, which unblocks it atomically: an
 * interrupt that comes between naps stays pending and ends the next one. */
int tmt_deaf_sleep(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	if (atomic_exchange(&deaf_armed, false)) {
		sigset_t urg, old, open;
		sigemptyset(&urg);
		sigaddset(&urg, SIGURG);
		if (pthread_sigmask(SIG_BLOCK, &urg, &old) != 0)
			return FL_EINVAL;
		open = old;
		sigdelset(&open, SIGURG);
		atomic_store(&deaf, true);
		while (!atomic_load(&deaf_release)) {
			struct timespec ts = {0, 10 * 1000000L};
			if (ppoll(NULL, 0, &ts, &open) != 0 && errno == EINTR)
				atomic_fetch_add(&deaf_interrupts, 1);
		}
		atomic_store(&deaf, false);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	*out = *in;
	return 0;
}

static bool await_interrupts(int n)
{
	int64_t deadline = cm_now_ms() + WAIT_MS;
	while (atomic_load(&deaf_interrupts) < n) {
		if (cm_now_ms() > deadline)
			return false;
		nap_ms(1);
	}
	return true;
}

static bool await_flag(_Atomic bool *flag, bool value)
{
	int64_t deadline = cm_now_ms() + WAIT_MS;
	while (atomic_load(flag) != value) {
		if (cm_now_ms() > deadline)
			return false;
		nap_ms(1);
	}
	return true;
}

/* ------------------------------------------------- the JobMaster's side */

struct report {
	char resource_id[128];
	char job_id[33];
	uint64_t attempt;
	int vertex, subtask, state;
	bool has_error;
	char error[1024];
};

/* A JobMaster gateway that records every task state it is sent. */
struct recorder {
	rpc_jm_gateway base;
	char name[64];	  /* registered under */
	char address[80]; /* "local:" name */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct report *reports;
	size_t n, cap;
};

static void rec_task_state(rpc_jm_gateway *g, const char *resource_id, const char *job_id,
			   uint64_t attempt, int vertex, int subtask, int state, const char *error,
			   rpc_done_fn done, void *arg)
{
	struct recorder *r = (struct recorder *)g;
	pthread_mutex_lock(&r->mu);
	if (r->n == r->cap) {
		/* On the TaskManager's loop: no cmocka assertion here. */
		size_t ncap = r->cap ? r->cap * 2 : 64;
		struct report *nr = realloc(r->reports, ncap * sizeof(*nr));
		if (!nr)
			abort();
		r->reports = nr;
		r->cap = ncap;
	}
	struct report *p = &r->reports[r->n++];
	memset(p, 0, sizeof(*p));
	snprintf(p->resource_id, sizeof(p->resource_id), "%s", resource_id);
	snprintf(p->job_id, sizeof(p->job_id), "%s", job_id);
	p->attempt = attempt;
	p->vertex = vertex;
	p->subtask = subtask;
	p->state = state;
	p->has_error = error != NULL;
	snprintf(p->error, sizeof(p->error), "%s", error ? error : "");
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	if (done)
		done(arg, 0, NULL, NULL, 0);
}

static void rec_free(rpc_jm_gateway *g)
{
	(void)g; /* owned by the test */
}

static const struct rpc_jm_gateway_ops rec_ops = {.task_state = rec_task_state, .free = rec_free};

static void recorder_init(struct recorder *r)
{
	static _Atomic int seq;
	memset(r, 0, sizeof(*r));
	r->base.ops = &rec_ops;
	snprintf(r->name, sizeof(r->name), "test-jm-%d", atomic_fetch_add(&seq, 1));
	snprintf(r->address, sizeof(r->address), "local:%s", r->name);
	pthread_mutex_init(&r->mu, NULL);
	assert_int_equal(cm_cond_init(&r->cv), 0);
	assert_int_equal(rpc_local_register(r->name, &r->base), 0);
}

static void recorder_fini(struct recorder *r)
{
	rpc_local_unregister(r->name);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r->reports);
}

static const struct report *find_report(const struct recorder *r, const char *job_id,
					uint64_t attempt, int vertex, int subtask, int state)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct report *p = &r->reports[i];
		if (p->attempt == attempt && p->vertex == vertex && p->subtask == subtask &&
		    p->state == state && strcmp(p->job_id, job_id) == 0)
			return p;
	}
	return NULL;
}

/* Waits up to timeout_ms for the report of (vertex, subtask) switching to
 * state; copies it to *out. Returns false if it did not come. */
static bool await_report(struct recorder *r, const char *job_id, uint64_t attempt, int vertex,
			 int subtask, int state, int64_t timeout_ms, struct report *out)
{
	int64_t deadline = cm_now_ms() + timeout_ms;
	pthread_mutex_lock(&r->mu);
	const struct report *p;
	while (!(p = find_report(r, job_id, attempt, vertex, subtask, state))) {
		struct timespec ts = cm_deadline_ts(deadline);
		if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) == ETIMEDOUT &&
		    !find_report(r, job_id, attempt, vertex, subtask, state))
			break;
	}
	if (p && out)
		*out = *p;
	pthread_mutex_unlock(&r->mu);
	return p != NULL;
}

/* Reports of the job attempt in state, so far. */
static int count_reports(struct recorder *r, const char *job_id, uint64_t attempt, int state)
{
	int n = 0;
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->n; i++)
		if (r->reports[i].attempt == attempt && r->reports[i].state == state &&
		    strcmp(r->reports[i].job_id, job_id) == 0)
			n++;
	pthread_mutex_unlock(&r->mu);
	return n;
}

/* ------------------------------------------------------- gateway calls */

/* One asynchronous call: done copies its answer here. */
struct call {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int rc;
	char msg[1024];
	uint8_t *payload;
	size_t len;
};

static struct call *call_new(void)
{
	struct call *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	pthread_mutex_init(&c->mu, NULL);
	assert_int_equal(cm_cond_init(&c->cv), 0);
	return c;
}

static void call_done(void *arg, int rc, const char *msg, const uint8_t *payload, size_t len)
{
	struct call *c = arg;
	uint8_t *copy = NULL;
	if (len) {
		/* On the TaskManager's loop: no cmocka assertion here. */
		if (!(copy = malloc(len)))
			abort();
		memcpy(copy, payload, len);
	}
	pthread_mutex_lock(&c->mu);
	c->rc = rc;
	snprintf(c->msg, sizeof(c->msg), "%s", msg ? msg : "");
	c->payload = copy;
	c->len = len;
	c->done = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* Waits for done; a call that never completes hangs the test until its
 * timeout, as it should. */
static struct call *call_wait(struct call *c)
{
	pthread_mutex_lock(&c->mu);
	while (!c->done)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
	return c;
}

static void call_free(struct call *c)
{
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c->payload);
	free(c);
}

/* ------------------------------------------------------------ harness */

struct harness {
	cfg *config;
	cm_secret secret;
	tm_taskmanager *tm;
	rpc_tm_gateway *gw;
	struct recorder jm;
	/* The heartbeat thread (beat_start). */
	pthread_t beater;
	_Atomic bool beating;
	_Atomic int beats;
	_Atomic int beat_rc; /* the first failed heartbeat's code */
};

/* A TaskManager with short cancellation settings and a long heartbeat
 * timeout, then the (key, value) pairs of kv (NULL-terminated) on top. */
static struct harness *harness_new(const char *const *kv)
{
	struct harness *h = calloc(1, sizeof(*h));
	assert_non_null(h);
	cm_err err = {0};
	assert_int_equal(cfg_new(&h->config), 0);
	assert_int_equal(cfg_set(h->config, CFG_CANCEL_INTERVAL, "100 ms", &err), 0);
	assert_int_equal(cfg_set(h->config, CFG_CANCEL_TIMEOUT, "30 s", &err), 0);
	assert_int_equal(cfg_set(h->config, CFG_HEARTBEAT_TIMEOUT, "10 min", &err), 0);
	for (size_t i = 0; kv && kv[i]; i += 2)
		assert_int_equal(cfg_set(h->config, kv[i], kv[i + 1], &err), 0);
	assert_int_equal(cm_secret_from_string(&h->secret, "tm-test-secret", &err), 0);
	tm_options o = {.index = 0,
			.slots = 4,
			.bind_host = "127.0.0.1",
			.cluster_id = "tm-test",
			.secret = &h->secret,
			.config = h->config};
	assert_int_equal(tm_new(&h->tm, &o, &err), 0);
	h->gw = tm_gateway(h->tm);
	recorder_init(&h->jm);
	return h;
}

static void harness_free(struct harness *h)
{
	tm_free(h->tm);
	recorder_fini(&h->jm);
	cfg_free(h->config);
	cm_secret_clear(&h->secret);
	free(h);
}

/* For a TaskManager that tm_free keeps (a task thread left behind): its
 * configuration is borrowed for as long as it lives, so it stays too,
 * reachable from the kept TaskManager. */
static void harness_free_keeping_config(struct harness *h)
{
	tm_free(h->tm);
	recorder_fini(&h->jm);
	cm_secret_clear(&h->secret);
	free(h);
}

static int submit_bytes(struct harness *h, const uint8_t *b, size_t len, const char *jm_address,
			char *msg, size_t msg_size)
{
	struct call *c = call_new();
	h->gw->ops->submit(h->gw, b, len, jm_address, call_done, c);
	call_wait(c);
	int rc = c->rc;
	if (msg)
		snprintf(msg, msg_size, "%s", c->msg);
	call_free(c);
	return rc;
}

typedef void (*job_call_fn)(rpc_tm_gateway *g, const char *job_id, uint64_t attempt,
			    rpc_done_fn done, void *arg);

/* start, cancel, release or metrics; the caller frees the call. */
static struct call *job_call(struct harness *h, job_call_fn fn, const char *job_id,
			     uint64_t attempt)
{
	struct call *c = call_new();
	fn(h->gw, job_id, attempt, call_done, c);
	return call_wait(c);
}

static int job_call_rc(struct harness *h, job_call_fn fn, const char *job_id, uint64_t attempt)
{
	struct call *c = job_call(h, fn, job_id, attempt);
	int rc = c->rc;
	call_free(c);
	return rc;
}

struct metric {
	uint64_t node, in, out;
};

/* The metrics of the job attempt: returns n, the first cap in m. */
static size_t get_metrics(struct harness *h, const char *job_id, uint64_t attempt, struct metric *m,
			  size_t cap)
{
	struct call *c = job_call(h, h->gw->ops->metrics, job_id, attempt);
	assert_int_equal(c->rc, 0);
	cm_rbuf r;
	cm_rbuf_init(&r, c->payload, c->len);
	size_t n = (size_t)cm_rbuf_uvarint(&r);
	for (size_t i = 0; i < n; i++) {
		struct metric x;
		x.node = cm_rbuf_uvarint(&r);
		x.in = cm_rbuf_uvarint(&r);
		x.out = cm_rbuf_uvarint(&r);
		if (i < cap)
			m[i] = x;
	}
	/* Then each task's vertex, bytes in and out, back-pressured ms. */
	size_t nt = (size_t)cm_rbuf_uvarint(&r);
	for (size_t i = 0; i < nt * 4; i++)
		cm_rbuf_uvarint(&r);
	assert_int_equal(cm_rbuf_end(&r), 0);
	call_free(c);
	return n;
}

/* Records out of stream node `node`, summed over the job attempt's tasks. */
static uint64_t records_out(struct harness *h, const char *job_id, uint64_t attempt, int node)
{
	struct metric m[64];
	size_t n = get_metrics(h, job_id, attempt, m, 64);
	assert_true(n <= 64);
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		if (m[i].node == (uint64_t)node)
			sum += m[i].out;
	return sum;
}

static void *beat_main(void *arg)
{
	struct harness *h = arg;
	while (atomic_load(&h->beating)) {
		struct call *c = call_new();
		h->gw->ops->heartbeat(h->gw, h->jm.address, call_done, c);
		call_wait(c);
		if (c->rc) {
			int zero = 0;
			atomic_compare_exchange_strong(&h->beat_rc, &zero, c->rc);
		}
		call_free(c);
		atomic_fetch_add(&h->beats, 1);
		nap_ms(100);
	}
	return NULL;
}

/* Heartbeats from the test's JobMaster every 100 ms until beat_stop. */
static void beat_start(struct harness *h)
{
	atomic_store(&h->beating, true);
	assert_int_equal(pthread_create(&h->beater, NULL, beat_main, h), 0);
}

static void beat_stop(struct harness *h)
{
	atomic_store(&h->beating, false);
	pthread_join(h->beater, NULL);
	assert_int_equal(atomic_load(&h->beat_rc), 0);
}

/* --------------------------------------------------------------- jobs */

/* A job graph placed entirely on the harness's TaskManager. */
struct job {
	fl_env *env;
	jg_graph *jg;
	uint32_t **where;
	uint64_t *edge_base;
	td_peer peer;
	td_placement pl;
	char job_id[33];
	int ntasks;
};

/* Takes env (its dataflow built) over; every stream without a parallelism
 * of its own gets `parallelism`. */
static struct job *job_new(struct harness *h, fl_env *env, int parallelism, const char *job_id,
			   uint64_t attempt)
{
	struct job *j = calloc(1, sizeof(*j));
	assert_non_null(j);
	j->env = env;
	env->graph->parallelism = parallelism;
	cm_err err = {0};
	assert_int_equal(jg_build(env->graph, "tm-test", &j->jg, &err), 0);
	assert_non_null(j->where = calloc(j->jg->nvertices, sizeof(*j->where)));
	for (size_t v = 0; v < j->jg->nvertices; v++) {
		j->where[v] = calloc((size_t)j->jg->vertices[v].parallelism, sizeof(uint32_t));
		assert_non_null(j->where[v]);
		j->ntasks += j->jg->vertices[v].parallelism;
	}
	assert_non_null(j->edge_base = calloc(j->jg->nedges + 1, sizeof(uint64_t)));
	td_edge_bases(j->jg, j->edge_base);
	snprintf(j->job_id, sizeof(j->job_id), "%s", job_id);
	j->peer = (td_peer){(char *)tm_resource_id(h->tm), (char *)tm_data_address(h->tm)};
	j->pl = (td_placement){.job_id = j->job_id,
			       .attempt = attempt,
			       .peers = &j->peer,
			       .npeers = 1,
			       .subtask_peer = (const uint32_t *const *)j->where,
			       .edge_base = j->edge_base};
	return j;
}

static void job_free(struct job *j)
{
	for (size_t v = 0; v < j->jg->nvertices; v++)
		free(j->where[v]);
	free(j->where);
	free(j->edge_base);
	jg_free(j->jg);
	fl_env_free(j->env);
	free(j);
}

static uint64_t job_attempt(const struct job *j)
{
	return j->pl.attempt;
}

/* The encoded descriptor of (vertex, subtask); the caller frees it. */
static uint8_t *descriptor(struct job *j, int vertex, int subtask, size_t *len)
{
	td_task *td;
	uint8_t *b;
	assert_int_equal(td_build(j->jg, &j->pl, vertex, subtask, &td), 0);
	assert_int_equal(td_encode(td, &b, len), 0);
	td_free(td);
	return b;
}

static int submit(struct harness *h, struct job *j, int vertex, int subtask, char *msg,
		  size_t msg_size)
{
	size_t len;
	uint8_t *b = descriptor(j, vertex, subtask, &len);
	int rc = submit_bytes(h, b, len, h->jm.address, msg, msg_size);
	free(b);
	return rc;
}

/* Phase one and two: every subtask submitted, then the attempt started. */
static void deploy(struct harness *h, struct job *j)
{
	char msg[1024];
	for (size_t v = 0; v < j->jg->nvertices; v++)
		for (int i = 0; i < j->jg->vertices[v].parallelism; i++) {
			int rc = submit(h, j, (int)v, i, msg, sizeof(msg));
			if (rc)
				fail_msg("submit (%zu, %d): %s: %s", v, i, fl_strerror(rc), msg);
		}
	assert_int_equal(job_call_rc(h, h->gw->ops->start, j->job_id, job_attempt(j)), 0);
}

/* Waits until every subtask reported state, from this TaskManager, for
 * this job attempt; with error only for FAILED. */
static void await_all(struct harness *h, struct job *j, int state)
{
	for (size_t v = 0; v < j->jg->nvertices; v++)
		for (int i = 0; i < j->jg->vertices[v].parallelism; i++) {
			struct report r;
			if (!await_report(&h->jm, j->job_id, job_attempt(j), (int)v, i, state,
					  WAIT_MS, &r))
				fail_msg("no %s report from (%zu, %d) of attempt %llu",
					 tm_task_state_name(state), v, i,
					 (unsigned long long)job_attempt(j));
			assert_string_equal(r.resource_id, tm_resource_id(h->tm));
			assert_string_equal(r.job_id, j->job_id);
			assert_int_equal(r.attempt, job_attempt(j));
			assert_int_equal(r.has_error, state == TM_TASK_FAILED);
		}
}

/* The stream node of the job's generator (the head of vertex 0). */
static int generator_node(const struct job *j)
{
	return j->jg->vertices[0].ops[0].node;
}

/* generator(count) -> map -> key_by(0) -> sum(1) -> discard */
static fl_env *keyed_job(int64_t count)
{
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	fl_discard(
	    fl_sum(fl_key_by(fl_map(fl_generator(env, count, 0, tmt_gen_kv), tmt_identity), 0), 1));
	return env;
}

/* generator(count, rate) [-> map(fn)] -> discard, one vertex */
static fl_env *chain_job(int64_t count, double rate, fl_map_fn fn)
{
	fl_env *env = fl_env_new(0, NULL);
	assert_non_null(env);
	fl_stream *s = fl_generator(env, count, rate, tmt_gen);
	if (fn)
		s = fl_map(s, fn);
	fl_discard(s);
	return env;
}

/* Waits until the job attempt is gone from the TaskManager (its metrics
 * are empty). */
static bool await_released(struct harness *h, const char *job_id, uint64_t attempt)
{
	int64_t deadline = cm_now_ms() + WAIT_MS;
	while (get_metrics(h, job_id, attempt, NULL, 0) != 0) {
		if (cm_now_ms() > deadline)
			return false;
		nap_ms(20);
	}
	return true;
}

/* -------------------------------------------------------------- tests */

static void test_slots_reply_names_the_resource_the_data_address_and_the_slots(void **state)
{
	struct harness *h = harness_new(NULL);
	struct call *c = call_new();
	h->gw->ops->slots(h->gw, call_done, c);
	call_wait(c);
	assert_int_equal(c->rc, 0);
	cm_rbuf r;
	cm_rbuf_init(&r, c->payload, c->len);
	char *rid = NULL, *addr = NULL;
	assert_int_equal(cm_rbuf_strdup(&r, 1024, &rid), 0);
	assert_int_equal(cm_rbuf_strdup(&r, 1024, &addr), 0);
	uint64_t slots = cm_rbuf_uvarint(&r);
	assert_int_equal(cm_rbuf_end(&r), 0);
	assert_string_equal(rid, tm_resource_id(h->tm));
	assert_string_equal(addr, tm_data_address(h->tm));
	assert_non_null(strchr(addr, ':'));
	assert_int_equal(slots, 4);
	assert_int_equal(tm_slots(h->tm), 4);
	free(rid);
	free(addr);
	call_free(c);
	harness_free(h);
}

static void test_heartbeat_reply_names_the_resource(void **state)
{
	struct harness *h = harness_new(NULL);
	struct call *c = call_new();
	h->gw->ops->heartbeat(h->gw, h->jm.address, call_done, c);
	call_wait(c);
	assert_int_equal(c->rc, 0);
	cm_rbuf r;
	cm_rbuf_init(&r, c->payload, c->len);
	char *rid = NULL;
	assert_int_equal(cm_rbuf_strdup(&r, 1024, &rid), 0);
	assert_int_equal(cm_rbuf_end(&r), 0);
	assert_string_equal(rid, tm_resource_id(h->tm));
	free(rid);
	call_free(c);
	harness_free(h);
}

/* Two-phase deployment of a keyed job (local channels between the two
 * vertices), its reports, its metrics and its release; then a second
 * attempt of the same job, whose channel ids are the same numbers, runs
 * while the first is still deployed, and a job of another id after both. */
static void test_a_job_runs_to_finished_and_reports_every_subtask(void **state)
{
	struct harness *h = harness_new(NULL);
	struct job *j = job_new(h, keyed_job(1000), 2, JOB_A, 1);
	assert_int_equal(j->jg->nvertices, 2);
	assert_int_equal(j->ntasks, 4);
	deploy(h, j);
	await_all(h, j, TM_TASK_RUNNING);
	await_all(h, j, TM_TASK_FINISHED);
	assert_int_equal(count_reports(&h->jm, JOB_A, 1, TM_TASK_RUNNING), 4);
	assert_int_equal(count_reports(&h->jm, JOB_A, 1, TM_TASK_FINISHED), 4);

	/* The generator's node counts each of its records once, over both
	 * subtasks; the sum (head of vertex 1) received them all. */
	assert_int_equal(records_out(h, JOB_A, 1, generator_node(j)), 1000);
	struct metric m[16];
	size_t n = get_metrics(h, JOB_A, 1, m, 16);
	assert_int_equal(n, 2 * (j->jg->vertices[0].nops + j->jg->vertices[1].nops));
	uint64_t sum_in = 0;
	for (size_t i = 0; i < n; i++)
		if (m[i].node == (uint64_t)j->jg->vertices[1].ops[0].node)
			sum_in += m[i].in;
	assert_int_equal(sum_in, 1000);

	/* Attempt 2 of the same job while attempt 1 is still deployed. */
	struct job *j2 = job_new(h, keyed_job(500), 2, JOB_A, 2);
	deploy(h, j2);
	await_all(h, j2, TM_TASK_FINISHED);
	assert_int_equal(records_out(h, JOB_A, 2, generator_node(j2)), 500);
	assert_int_equal(records_out(h, JOB_A, 1, generator_node(j)), 1000);
	/* Attempt 1 got no report of attempt 2's. */
	assert_int_equal(count_reports(&h->jm, JOB_A, 1, TM_TASK_FINISHED), 4);

	assert_int_equal(job_call_rc(h, h->gw->ops->release, JOB_A, 1), 0);
	assert_int_equal(get_metrics(h, JOB_A, 1, NULL, 0), 0);
	assert_int_equal(job_call_rc(h, h->gw->ops->release, JOB_A, 2), 0);
	assert_int_equal(get_metrics(h, JOB_A, 2, NULL, 0), 0);

	struct job *j3 = job_new(h, keyed_job(300), 2, JOB_B, 1);
	deploy(h, j3);
	await_all(h, j3, TM_TASK_FINISHED);
	assert_int_equal(records_out(h, JOB_B, 1, generator_node(j3)), 300);
	assert_int_equal(job_call_rc(h, h->gw->ops->release, JOB_B, 1), 0);

	job_free(j3);
	job_free(j2);
	job_free(j);
	harness_free(h);
}

static void test_a_truncated_descriptor_is_refused_with_a_message(void **state)
{
	struct harness *h = harness_new(NULL);
	struct job *j = job_new(h, keyed_job(10), 2, JOB_A, 1);
	size_t len;
	uint8_t *b = descriptor(j, 0, 0, &len);
	char msg[1024];
	assert_int_equal(submit_bytes(h, b, len / 2, h->jm.address, msg, sizeof(msg)), FL_EPROTO);
	assert_non_null(strstr(msg, "malformed task deployment descriptor"));
	assert_int_equal(submit_bytes(h, b, 0, h->jm.address, msg, sizeof(msg)), FL_EPROTO);
	assert_true(msg[0] != '\0');
	/* Nothing of it was kept: the whole descriptor is accepted after. */
	assert_int_equal(submit_bytes(h, b, len, h->jm.address, msg, sizeof(msg)), 0);
	free(b);
	assert_int_equal(job_call_rc(h, h->gw->ops->release, JOB_A, 1), 0);
	job_free(j);
	harness_free(h);
}

static void test_a_descriptor_naming_an_unknown_jobmaster_is_refused(void **state)
{
	struct harness *h = harness_new(NULL);
	struct job *j = job_new(h, keyed_job(10), 2, JOB_A, 1);
	size_t len;
	uint8_t *b = descriptor(j, 0, 0, &len);
	char msg[1024];
	assert_int_equal(submit_bytes(h, b, len, "local:no-such-jobmaster", msg, sizeof(msg)),
			 FL_ENOENT);
	assert_non_null(strstr(msg, "cannot reach the JobMaster at 'local:no-such-jobmaster'"));
	/* Nothing was deployed. */
	assert_int_equal(job_call_rc(h, h->gw->ops->start, JOB_A, 1), FL_ENOENT);
	free(b);
	job_free(j);
	harness_free(h);
}

static void test_the_same_subtask_submitted_twice_is_refused(void **state)
{
	struct harness *h = harness_new(NULL);
	struct job *j = job_new(h, keyed_job(10), 2, JOB_A, 1);
	char msg[1024];
	assert_int_equal(submit(h, j, 1, 1, msg, sizeof(msg)), 0);
	assert_int_equal(submit(h, j, 1, 1, msg, sizeof(msg)), FL_EINVAL);
	assert_non_null(strstr(msg, "(2/2) is already deployed here"));
	/* Another subtask of the vertex, and the same one of another attempt,
	 * are fine. */
	assert_int_equal(submit(h, j, 1, 0, msg, sizeof(msg)), 0);
	j->pl.attempt = 2;
	assert_int_equal(submit(h, j, 1, 1, msg, sizeof(msg)), 0);
	/* Unstarted tasks are released at once. */
	assert_int_equal(job_call_rc(h, h->gw->ops->release, JOB_A, 1), 0);
	assert_int_equal(job_call_rc(h, h->gw->ops->release, JOB_A, 2), 0);
	job_free(j);
	harness_free(h);
}

/* do_start: an attempt with no task here is an error (the JobMaster's
 * deployment went wrong); do_cancel and do_release: nothing to do is
 * success (they are idempotent). */
static void test_calls_for_an_unknown_job_attempt(void **state)
{
	struct harness *h = harness_new(NULL);
	struct call *c = job_call(h, h->gw->ops->start, JOB_A, 9);
	assert_int_equal(c->rc, FL_ENOENT);
	assert_non_null(strstr(c->msg, "no task of that job attempt is deployed here"));
	call_free(c);
	assert_int_equal(job_call_rc(h, h->gw->ops->cancel, JOB_A, 9), 0);
	assert_int_equal(job_call_rc(h, h->gw->ops->release, JOB_A, 9), 0);
	assert_int_equal(get_metrics(h, JOB_A, 9, NULL, 0), 0);
	harness_free(h);
}

static void test_release_while_tasks_run_is_refused(void **state)
{
	struct harness *h = harness_new(NULL);
	struct job *j = job_new(h, chain_job(-1, 0, NULL), 2, JOB_A, 1);
	deploy(h, j);
	await_all(h, j, TM_TASK_RUNNING);
	struct call *c = job_call(h, h->gw->ops->release, JOB_A, 1);
	assert_int_equal(c->rc, FL_EINVAL);
	assert_non_null(strstr(c->msg, "still has running tasks"));
	call_free(c);
	assert_true(get_metrics(h, JOB_A, 1, NULL, 0) > 0);
	assert_int_equal(job_call_rc(h, h->gw->ops->cancel, JOB_A, 1), 0);
	await_all(h, j, TM_TASK_CANCELED);
	assert_int_equal(job_call_rc(h, h->gw->ops->release, JOB_A, 1), 0);
	job_free(j);
	harness_free(h);
}

/* 1 MiB of 32 KiB buffers (32) against 8 sources needing 9 each and 8 sums
 * needing 17 each: some submit is refused with Flink's message, and the
 * buffers of released tasks come back (a second attempt gets as far). */
static void test_a_task_needing_more_network_buffers_than_the_pool_is_refused(void **state)
{
	const char *const kv[] = {CFG_NET_MAX, "1mb", NULL};
	struct harness *h = harness_new(kv);
	struct job *j = job_new(h, keyed_job(100), 8, JOB_A, 1);
	int accepted[2] = {0, 0};
	for (int a = 0; a < 2; a++) {
		j->pl.attempt = (uint64_t)a + 1;
		char msg[1024] = "";
		int rc = 0;
		for (size_t v = 0; v < j->jg->nvertices && rc == 0; v++)
			for (int i = 0; i < j->jg->vertices[v].parallelism && rc == 0; i++)
				if ((rc = submit(h, j, (int)v, i, msg, sizeof(msg))) == 0)
					accepted[a]++;
		assert_int_equal(rc, FL_ERANGE);
		assert_non_null(strstr(msg, "Insufficient number of network buffers"));
		assert_non_null(strstr(msg, CFG_NET_MAX));
		assert_int_equal(job_call_rc(h, h->gw->ops->release, JOB_A, j->pl.attempt), 0);
	}
	assert_true(accepted[0] > 0 && accepted[0] < j->ntasks);
	assert_int_equal(accepted[1], accepted[0]);
	job_free(j);
	harness_free(h);
}

static void test_cancel_ends_an_unbounded_job_canceled(void **state)
{
	struct harness *h = harness_new(NULL);
	struct job *j = job_new(h, keyed_job(-1), 2, JOB_A, 1);
	deploy(h, j);
	await_all(h, j, TM_TASK_RUNNING);
	assert_int_equal(job_call_rc(h, h->gw->ops->cancel, JOB_A, 1), 0);
	await_all(h, j, TM_TASK_CANCELED);
	assert_int_equal(count_reports(&h->jm, JOB_A, 1, TM_TASK_FAILED), 0);
	assert_int_equal(count_reports(&h->jm, JOB_A, 1, TM_TASK_FINISHED), 0);
	/* A second cancel of an ended attempt is harmless. */
	assert_int_equal(job_call_rc(h, h->gw->ops->cancel, JOB_A, 1), 0);
	assert_int_equal(job_call_rc(h, h->gw->ops->release, JOB_A, 1), 0);
	job_free(j);
	harness_free(h);
}

/* A cancel that arrives before the start (NNG serves each call on its own
 * context, so they can cross): every task ends CANCELED, reported, never
 * started; a late start starts nothing. (Unstarted tasks once reported
 * nothing, and the job never ended.) */
static void test_a_cancel_before_the_start_ends_every_task_canceled(void **state)
{
	struct harness *h = harness_new(NULL);
	struct job *j = job_new(h, keyed_job(-1), 2, JOB_A, 1);
	char msg[1024];
	for (size_t v = 0; v < j->jg->nvertices; v++)
		for (int i = 0; i < j->jg->vertices[v].parallelism; i++)
			assert_int_equal(submit(h, j, (int)v, i, msg, sizeof(msg)), 0);
	assert_int_equal(job_call_rc(h, h->gw->ops->cancel, JOB_A, 1), 0);
	await_all(h, j, TM_TASK_CANCELED);
	assert_int_equal(job_call_rc(h, h->gw->ops->start, JOB_A, 1), 0);
	assert_int_equal(count_reports(&h->jm, JOB_A, 1, TM_TASK_RUNNING), 0);
	assert_int_equal(job_call_rc(h, h->gw->ops->release, JOB_A, 1), 0);
	job_free(j);
	harness_free(h);
}

static void test_a_task_sleeping_in_user_code_is_interrupted_and_canceled(void **state)
{
	struct harness *h = harness_new(NULL);
	atomic_store(&sleep_armed, true);
	struct job *j = job_new(h, chain_job(-1, 0, tmt_sleep), 1, JOB_A, 1);
	deploy(h, j);
	assert_true(await_flag(&asleep, true));
	assert_int_equal(job_call_rc(h, h->gw->ops->cancel, JOB_A, 1), 0);
	/* Without the interrupt this waits for the hour of the sleep. */
	await_all(h, j, TM_TASK_CANCELED);
	assert_false(atomic_load(&asleep));
	assert_int_equal(job_call_rc(h, h->gw->ops->release, JOB_A, 1), 0);
	job_free(j);
	harness_free(h);
}

/* The watchdog gives up on a task that ignores interrupts: FAILED after
 * task.cancellation.timeout, its thread left behind. tm_free then keeps
 * the TaskManager on purpose (the thread may still use its memory): it
 * stays reachable from taskmanager.c's list of kept TaskManagers, and
 * the abandoned task from that TaskManager's list of tasks left behind
 * once its job is released, so LeakSanitizer reports neither. */
static void test_a_task_ignoring_cancellation_fails_after_the_timeout(void **state)
{
	const char *const kv[] = {CFG_CANCEL_TIMEOUT, "1 s", NULL};
	struct harness *h = harness_new(kv);
	atomic_store(&spin_release, false);
	atomic_store(&spin_armed, true);
	struct job *j = job_new(h, chain_job(-1, 0, tmt_spin), 1, JOB_A, 1);
	deploy(h, j);
	await_all(h, j, TM_TASK_RUNNING);
	assert_true(await_flag(&spinning, true));
	assert_int_equal(job_call_rc(h, h->gw->ops->cancel, JOB_A, 1), 0);
	struct report r;
	assert_true(await_report(&h->jm, JOB_A, 1, 0, 0, TM_TASK_FAILED, WAIT_MS, &r));
	assert_non_null(strstr(r.error, "did not exit gracefully"));
	assert_non_null(strstr(r.error, "task.cancellation.timeout"));
	assert_true(atomic_load(&spinning)); /* reported while it still spins */
	/* Its JobMaster releases the job, as after any final state. */
	assert_int_equal(job_call_rc(h, h->gw->ops->release, JOB_A, 1), 0);
	assert_int_equal(get_metrics(h, JOB_A, 1, NULL, 0), 0);
	atomic_store(&spin_release, true);
	assert_true(await_flag(&spinning, false));
	job_free(j);
	harness_free_keeping_config(h);
}

/* With no heartbeat for heartbeat.timeout, the TaskManager cancels the job
 * itself ("JobMaster ... is lost") and releases it; it still takes new
 * jobs from a JobMaster that heartbeats. */
static void test_a_job_whose_jobmaster_is_lost_is_cancelled_and_released(void **state)
{
	const char *const kv[] = {CFG_HEARTBEAT_TIMEOUT, "300 ms", NULL};
	struct harness *h = harness_new(kv);
	struct job *j = job_new(h, chain_job(-1, 2000, NULL), 2, JOB_A, 1);
	deploy(h, j);
	await_all(h, j, TM_TASK_RUNNING);
	assert_true(await_released(h, JOB_A, 1));
	/* The job is gone: calls about it are those of an unknown attempt. */
	assert_int_equal(job_call_rc(h, h->gw->ops->start, JOB_A, 1), FL_ENOENT);
	assert_int_equal(job_call_rc(h, h->gw->ops->release, JOB_A, 1), 0);

	beat_start(h);
	struct job *j2 = job_new(h, keyed_job(1000), 2, JOB_B, 1);
	deploy(h, j2);
	await_all(h, j2, TM_TASK_FINISHED);
	assert_int_equal(records_out(h, JOB_B, 1, generator_node(j2)), 1000);
	assert_int_equal(job_call_rc(h, h->gw->ops->release, JOB_B, 1), 0);
	beat_stop(h);
	job_free(j2);
	job_free(j);
	harness_free(h);
}

/* A JobManager that took over (high availability) deploys the job again,
 * same id and address, while the killed one's attempt still runs here: the
 * new attempt is refused and the old one cancelled and released; then the
 * new attempt deploys. */
static void test_a_new_attempt_supersedes_a_running_one_of_the_same_job(void **state)
{
	struct harness *h = harness_new(NULL);
	beat_start(h); /* the new JobMaster's heartbeats reach the old attempt too */
	struct job *j = job_new(h, chain_job(-1, 2000, NULL), 2, JOB_A, 1);
	deploy(h, j);
	await_all(h, j, TM_TASK_RUNNING);
	j->pl.attempt = 2;
	char msg[1024];
	assert_int_equal(submit(h, j, 0, 0, msg, sizeof(msg)), FL_EINVAL);
	assert_non_null(strstr(msg, "still runs an earlier attempt of job"));
	assert_true(await_released(h, JOB_A, 1));
	assert_int_equal(count_reports(&h->jm, JOB_A, 1, TM_TASK_FAILED), 0);
	deploy(h, j);
	await_all(h, j, TM_TASK_RUNNING);
	assert_int_equal(job_call_rc(h, h->gw->ops->cancel, JOB_A, 2), 0);
	await_all(h, j, TM_TASK_CANCELED);
	assert_int_equal(job_call_rc(h, h->gw->ops->release, JOB_A, 2), 0);
	beat_stop(h);
	job_free(j);
	harness_free(h);
}

static void test_heartbeats_keep_a_job_running(void **state)
{
	const char *const kv[] = {CFG_HEARTBEAT_TIMEOUT, "300 ms", NULL};
	struct harness *h = harness_new(kv);
	struct job *j = job_new(h, chain_job(-1, 2000, NULL), 2, JOB_A, 1);
	beat_start(h);
	deploy(h, j);
	await_all(h, j, TM_TASK_RUNNING);
	/* Long enough for the TaskManager's check of its JobMasters (every
	 * second) to have run twice. */
	int64_t until = cm_now_ms() + 2500;
	while (cm_now_ms() < until)
		nap_ms(50);
	assert_true(atomic_load(&h->beats) > 0);
	assert_int_equal(count_reports(&h->jm, JOB_A, 1, TM_TASK_CANCELED), 0);
	assert_int_equal(count_reports(&h->jm, JOB_A, 1, TM_TASK_FAILED), 0);
	assert_int_equal(get_metrics(h, JOB_A, 1, NULL, 0), 2 * j->jg->vertices[0].nops);
	uint64_t before = records_out(h, JOB_A, 1, generator_node(j));
	uint64_t after;
	int64_t deadline = cm_now_ms() + WAIT_MS;
	while ((after = records_out(h, JOB_A, 1, generator_node(j))) == before &&
	       cm_now_ms() < deadline)
		nap_ms(50);
	assert_true(after > before);
	assert_int_equal(job_call_rc(h, h->gw->ops->cancel, JOB_A, 1), 0);
	await_all(h, j, TM_TASK_CANCELED);
	assert_int_equal(job_call_rc(h, h->gw->ops->release, JOB_A, 1), 0);
	beat_stop(h);
	job_free(j);
	harness_free(h);
}

/* A stalled service loop answers nothing; a call made meanwhile is
 * answered once it is free again. */
static void test_a_stalled_loop_answers_a_slots_call_after_the_stall(void **state)
{
	struct harness *h = harness_new(NULL);
	int64_t t0 = cm_now_ms();
	assert_int_equal(tm_test_stall(h->tm, 1000), 0);
	struct call *c = call_new();
	h->gw->ops->slots(h->gw, call_done, c);
	call_wait(c);
	/* A lower bound only: the stall began after t0 and lasted 1000 ms. */
	assert_true(cm_now_ms() - t0 >= 999);
	assert_int_equal(c->rc, 0);
	assert_true(c->len > 0);
	call_free(c);
	harness_free(h);
}

/* A lost JobMaster's job whose task ignores cancellation: once the
 * watchdog gave up on the task, nothing of the job is left running, so
 * the TaskManager releases it as it does any job of a lost JobMaster. */
static void test_a_lost_jobmasters_job_with_a_stuck_task_is_released(void **state)
{
	const char *const kv[] = {CFG_HEARTBEAT_TIMEOUT, "300 ms", CFG_CANCEL_TIMEOUT, "1 s", NULL};
	struct harness *h = harness_new(kv);
	atomic_store(&spin_release, false);
	atomic_store(&spin_armed, true);
	struct job *j = job_new(h, chain_job(-1, 0, tmt_spin), 1, JOB_A, 1);
	deploy(h, j);
	await_all(h, j, TM_TASK_RUNNING);
	assert_true(await_flag(&spinning, true));
	bool released = await_released(h, JOB_A, 1);
	atomic_store(&spin_release, true);
	assert_true(await_flag(&spinning, false));
	assert_true(released);
	job_free(j);
	harness_free_keeping_config(h);
}

static struct harness *freeing;

static void *free_main(void *arg)
{
	(void)arg;
	tm_free(freeing->tm);
	return NULL;
}

/* One round of the test below: a TaskManager whose JobMaster is lost has
 * a deaf task left; tm_free, on its own thread, waits for it while the
 * test lets it go. */
static void free_while_a_lost_jobmasters_task_ends(void)
{
	/* Interrupts come from the cancellation, tm_free and (after 1 s) the
	 * watchdog's first round; none after that within the hour. */
	const char *const kv[] = {CFG_HEARTBEAT_TIMEOUT,
				  "300 ms",
				  CFG_CANCEL_TIMEOUT,
				  "2 h",
				  CFG_CANCEL_INTERVAL,
				  "1 h",
				  NULL};
	struct harness *h = harness_new(kv);
	atomic_store(&deaf_release, false);
	atomic_store(&deaf_interrupts, 0);
	atomic_store(&deaf_armed, true);
	struct job *j = job_new(h, chain_job(-1, 0, tmt_deaf_sleep), 1, JOB_A, 1);
	deploy(h, j);
	await_all(h, j, TM_TASK_RUNNING);
	assert_true(await_flag(&deaf, true));
	/* No heartbeat: the TaskManager cancels the job. */
	assert_true(await_interrupts(1));
	freeing = h;
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, free_main, NULL), 0);
	/* tm_free interrupts the task, then waits for it. */
	assert_true(await_interrupts(2));
	atomic_store(&deaf_release, true);
	pthread_join(t, NULL);
	assert_false(atomic_load(&deaf));
	h->tm = NULL; /* freed, not kept: its task ended */
	job_free(j);
	harness_free(h);
}

/* tm_free waits for the tasks of every job, including one that a lost
 * JobMaster left being cancelled, whose end releases it on the loop:
 * tm_free must not be looking at tasks that the loop frees meanwhile.
 * A race: a few rounds make it likely to show (ASan, TSan). */
static void test_tm_free_waits_for_a_lost_jobmasters_task_that_is_still_ending(void **state)
{
	for (int round = 0; round < 4; round++)
		free_while_a_lost_jobmasters_task_ends();
}

/* A JobMaster's release that reaches a TaskManager being freed is
 * answered, and the job left to tm_free, which is walking the job table
 * meanwhile (here: waiting for a deaf task of a job listed before it). */
static void test_a_release_during_tm_free_is_answered_and_left_to_it(void **state)
{
	const char *const kv[] = {CFG_CANCEL_TIMEOUT, "2 h", CFG_CANCEL_INTERVAL, "1 h", NULL};
	struct harness *h = harness_new(kv);
	struct job *done = job_new(h, keyed_job(100), 1, JOB_A, 1);
	deploy(h, done);
	await_all(h, done, TM_TASK_FINISHED);
	atomic_store(&deaf_release, false);
	atomic_store(&deaf_interrupts, 0);
	atomic_store(&deaf_armed, true);
	struct job *deaf_job = job_new(h, chain_job(-1, 0, tmt_deaf_sleep), 1, JOB_B, 1);
	deploy(h, deaf_job);
	await_all(h, deaf_job, TM_TASK_RUNNING);
	assert_true(await_flag(&deaf, true));
	freeing = h;
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, free_main, NULL), 0);
	/* tm_free cancelled the deaf task (an interrupt) and waits for it. */
	assert_true(await_interrupts(1));
	struct call *c = call_new();
	h->gw->ops->release(h->gw, JOB_A, 1, call_done, c);
	atomic_store(&deaf_release, true);
	pthread_join(t, NULL);
	call_wait(c);
	assert_int_equal(c->rc, 0);
	call_free(c);
	h->tm = NULL; /* freed */
	job_free(deaf_job);
	job_free(done);
	harness_free(h);
}

/* tm_free while a cancelled job's watchdog is still armed (its tasks
 * ended before the watchdog's first round, after 1 s): the job is
 * released with the TaskManager, nothing used after it is gone. */
static void test_tm_free_right_after_a_cancel_frees_everything(void **state)
{
	const char *const kv[] = {CFG_CANCEL_INTERVAL, "10 s", NULL};
	struct harness *h = harness_new(kv);
	struct job *j = job_new(h, keyed_job(-1), 2, JOB_A, 1);
	deploy(h, j);
	await_all(h, j, TM_TASK_RUNNING);
	assert_int_equal(job_call_rc(h, h->gw->ops->cancel, JOB_A, 1), 0);
	await_all(h, j, TM_TASK_CANCELED);
	harness_free(h); /* no release: tm_free releases the job */
	job_free(j);
}

/* tm_free while the cancellation watchdog is still counting down for a
 * task that ignores it: one of them gives up on the task and tm_free
 * keeps the TaskManager. */
static void test_tm_free_during_a_cancellation_timing_out_keeps_the_taskmanager(void **state)
{
	const char *const kv[] = {CFG_CANCEL_TIMEOUT, "1 s", NULL};
	struct harness *h = harness_new(kv);
	atomic_store(&spin_release, false);
	atomic_store(&spin_armed, true);
	struct job *j = job_new(h, chain_job(-1, 0, tmt_spin), 1, JOB_A, 1);
	deploy(h, j);
	await_all(h, j, TM_TASK_RUNNING);
	assert_true(await_flag(&spinning, true));
	assert_int_equal(job_call_rc(h, h->gw->ops->cancel, JOB_A, 1), 0);
	tm_free(h->tm); /* returns once it gave up on the task */
	assert_true(atomic_load(&spinning));
	atomic_store(&spin_release, true);
	assert_true(await_flag(&spinning, false));
	h->tm = NULL; /* kept, not freed */
	job_free(j);
	harness_free_keeping_config(h);
}

/* An argument runs only the tests whose names match it (cmocka's
 * pattern: * and ? wildcards). */
int main(int argc, char **argv)
{
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_slots_reply_names_the_resource_the_data_address_and_the_slots),
	    cmocka_unit_test(test_heartbeat_reply_names_the_resource),
	    cmocka_unit_test(test_a_job_runs_to_finished_and_reports_every_subtask),
	    cmocka_unit_test(test_a_truncated_descriptor_is_refused_with_a_message),
	    cmocka_unit_test(test_a_descriptor_naming_an_unknown_jobmaster_is_refused),
	    cmocka_unit_test(test_the_same_subtask_submitted_twice_is_refused),
	    cmocka_unit_test(test_calls_for_an_unknown_job_attempt),
	    cmocka_unit_test(test_release_while_tasks_run_is_refused),
	    cmocka_unit_test(test_a_task_needing_more_network_buffers_than_the_pool_is_refused),
	    cmocka_unit_test(test_cancel_ends_an_unbounded_job_canceled),
	    cmocka_unit_test(test_a_cancel_before_the_start_ends_every_task_canceled),
	    cmocka_unit_test(test_a_task_sleeping_in_user_code_is_interrupted_and_canceled),
	    cmocka_unit_test(test_a_job_whose_jobmaster_is_lost_is_cancelled_and_released),
	    cmocka_unit_test(test_heartbeats_keep_a_job_running),
	    cmocka_unit_test(test_a_new_attempt_supersedes_a_running_one_of_the_same_job),
	    cmocka_unit_test(test_a_stalled_loop_answers_a_slots_call_after_the_stall),
	    cmocka_unit_test(test_tm_free_right_after_a_cancel_frees_everything),
	    cmocka_unit_test(test_tm_free_waits_for_a_lost_jobmasters_task_that_is_still_ending),
	    cmocka_unit_test(test_a_release_during_tm_free_is_answered_and_left_to_it),
	    /* Last: these keep their TaskManagers (a task thread left behind). */
	    cmocka_unit_test(test_a_task_ignoring_cancellation_fails_after_the_timeout),
	    cmocka_unit_test(test_a_lost_jobmasters_job_with_a_stuck_task_is_released),
	    cmocka_unit_test(test_tm_free_during_a_cancellation_timing_out_keeps_the_taskmanager),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
