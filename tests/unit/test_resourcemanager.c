/*
 * The standalone ResourceManager behind a real RPC server on loopback:
 * TaskManagers register through the NNG client a TaskManager process uses,
 * heartbeat, are forgotten after heartbeat.timeout; slots are handed out
 * most-free first, a request that cannot be met waits and then fails
 * naming the numbers, a release wakes a waiter; blobs come back in chunks.
 * Resource profiles: dynamic slots cut to a slot sharing group's profile
 * from a TaskManager's free resources and given back on release, default
 * slots (1/N of a TaskManager) for groups without one, larger profiles
 * placed first, and a refusal that names the group and its profile.
 * Declarations (the adaptive scheduler's): a job's whole want, which its own
 * requests and slots are part of, so that a fake driver (Kubernetes' pod
 * reconciler without Kubernetes) starts each TaskManager once.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
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
#include "jobmanager/resourcemanager.h"
#include "rpc/nng.h"

struct call {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int rc;
	char msg[512];
	uint8_t payload[8 << 20];
	size_t len;
};

static void on_done(void *arg, int rc, const char *msg, const uint8_t *p, size_t len)
{
	struct call *c = arg;
	pthread_mutex_lock(&c->mu);
	c->rc = rc;
	snprintf(c->msg, sizeof(c->msg), "%s", msg ? msg : "");
	c->len = len < sizeof(c->payload) ? len : 0;
	if (c->len)
		memcpy(c->payload, p, c->len);
	c->done = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static struct call *call_new(void)
{
	struct call *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	pthread_mutex_init(&c->mu, NULL);
	cm_cond_init(&c->cv);
	return c;
}

static int call_wait(struct call *c)
{
	pthread_mutex_lock(&c->mu);
	while (!c->done)
		pthread_cond_wait(&c->cv, &c->mu);
	c->done = false;
	pthread_mutex_unlock(&c->mu);
	return c->rc;
}

static void call_free(struct call *c)
{
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* A 5 MiB blob: more than one RPC_BLOB_CHUNK. */
#define BLOB_SIZE (5u << 20)
static uint8_t *blob_data;
static const char blob_hash[] = "aa00000000000000000000000000000000000000000000000000000000000000";

static int blob_fn(void *arg, const char *hash, uint64_t offset, uint8_t *buf, size_t cap,
		   size_t *n, uint64_t *total, cm_err *err)
{
	if (strcmp(hash, blob_hash) != 0)
		return cm_err_set(err, FL_ENOENT, "no blob %s", hash);
	*total = BLOB_SIZE;
	size_t want = BLOB_SIZE - offset < cap ? BLOB_SIZE - offset : cap;
	memcpy(buf, blob_data + offset, want);
	*n = want;
	return 0;
}

struct fixture {
	cm_secret secret;
	rm_resourcemanager *rm;
	rpc_server *srv;
	rpc_rm_gateway *client;
};

static void setup(struct fixture *f, int64_t heartbeat_timeout_ms)
{
	cm_err err = {0};
	assert_int_equal(cm_secret_from_string(&f->secret, "rm-test-secret", &err), 0);
	rm_options o = {.secret = &f->secret,
			.cluster_id = "c1",
			.heartbeat_timeout_ms = heartbeat_timeout_ms,
			.blob = blob_fn};
	assert_int_equal(rm_new(&f->rm, &o, &err), 0);
	assert_int_equal(rpc_server_new(&f->srv, "tcp://127.0.0.1:0", NULL, NULL, rm_gateway(f->rm),
					NULL, &f->secret, "c1", &err),
			 0);
	assert_int_equal(rpc_rm_gateway_nng(&f->client, rpc_server_address(f->srv), &f->secret,
					    "c1", 5000, &err),
			 0);
}

static void teardown(struct fixture *f)
{
	f->client->ops->free(f->client);
	rpc_server_free(f->srv);
	rm_free(f->rm);
	cm_secret_clear(&f->secret);
}

static int reg(struct fixture *f, const char *id, const char *rpc, int slots, char *msg, size_t cap)
{
	struct call *c = call_new();
	rpc_tm_registration r = {.resource_id = id,
				 .rpc_address = rpc,
				 .data_address = "127.0.0.1:1",
				 .slots = slots,
				 .cpu_milli = 2000,
				 .memory_bytes = 1 << 30};
	f->client->ops->register_tm(f->client, &r, on_done, c);
	int rc = call_wait(c);
	if (msg)
		snprintf(msg, cap, "%s", c->msg);
	call_free(c);
	return rc;
}

#define MIB (1ll << 20)
#define GIB (1ll << 30)

/* Registers a TaskManager with the given resources. */
static int reg_res(struct fixture *f, const char *id, const char *rpc, int slots, int64_t cpu_milli,
		   int64_t memory, int64_t managed, int64_t network)
{
	struct call *c = call_new();
	rpc_tm_registration r = {.resource_id = id,
				 .rpc_address = rpc,
				 .data_address = "127.0.0.1:1",
				 .slots = slots,
				 .cpu_milli = cpu_milli,
				 .memory_bytes = memory,
				 .managed_bytes = managed,
				 .network_bytes = network};
	f->client->ops->register_tm(f->client, &r, on_done, c);
	int rc = call_wait(c);
	call_free(c);
	return rc;
}

/* n default slots of one group, as a job without profiles asks. */
static int alloc_n(rm_resourcemanager *rm, const char *job, int n, int64_t timeout_ms,
		   cm_cancel *cancel, rm_allocation **out, cm_err *err)
{
	rm_request r = {.group = "default", .slots = n};
	return rm_allocate(rm, job, &r, 1, timeout_ms, cancel, out, err);
}

static int heartbeat(struct fixture *f, const char *id)
{
	struct call *c = call_new();
	f->client->ops->tm_heartbeat(f->client, id, on_done, c);
	int rc = call_wait(c);
	call_free(c);
	return rc;
}

static int slots_of(rm_allocation *a, const char *id)
{
	for (size_t k = 0; k < a->n; k++)
		if (strcmp(a->resource_ids[k], id) == 0)
			return a->slots[k];
	return 0;
}

static void test_register_allocate_release(void **state)
{
	struct fixture f;
	setup(&f, 60000);
	char msg[512];
	assert_int_equal(reg(&f, "tm-1", "tcp://127.0.0.1:9", 2, msg, sizeof(msg)), 0);
	assert_int_equal(reg(&f, "tm-2", "tcp://127.0.0.1:10", 3, msg, sizeof(msg)), 0);
	/* The same registration again is idempotent. */
	assert_int_equal(reg(&f, "tm-1", "tcp://127.0.0.1:9", 2, msg, sizeof(msg)), 0);
	rm_tm_view *v;
	size_t n;
	assert_int_equal(rm_list(f.rm, &v, &n), 0);
	assert_int_equal(n, 2);
	free(v);
	/* Evenly: 4 slots go 2 and 2. */
	rm_allocation *a = NULL;
	cm_err err = {0};
	assert_int_equal(alloc_n(f.rm, "job-a", 4, 1000, NULL, &a, &err), 0);
	assert_int_equal(slots_of(a, "tm-1"), 2);
	assert_int_equal(slots_of(a, "tm-2"), 2);
	/* One slot left: a request for 2 waits, then fails naming the numbers. */
	rm_allocation *b = NULL;
	int64_t t0 = cm_now_ms();
	assert_int_equal(alloc_n(f.rm, "job-b", 2, 300, NULL, &b, &err), FL_ETIMEDOUT);
	assert_true(cm_now_ms() - t0 >= 300);
	assert_non_null(strstr(err.msg, "needs 2 slots"));
	assert_non_null(strstr(err.msg, "1 free of 5"));
	assert_null(b);
	rm_release(f.rm, a);
	cm_err_clear(&err);
	assert_int_equal(alloc_n(f.rm, "job-b", 5, 1000, NULL, &b, &err), 0);
	assert_int_equal(slots_of(b, "tm-1") + slots_of(b, "tm-2"), 5);
	rm_release(f.rm, b);
	/* Heartbeats: known and unknown. */
	assert_int_equal(heartbeat(&f, "tm-2"), 0);
	assert_int_equal(heartbeat(&f, "tm-unknown"), FL_ENOENT);
	/* A registration that names no TCP address is refused. */
	assert_int_equal(reg(&f, "tm-3", "local:x", 1, msg, sizeof(msg)), FL_EINVAL);
	assert_non_null(strstr(msg, "tm-3"));
	teardown(&f);
}

struct waiter {
	rm_resourcemanager *rm;
	int rc;
	rm_allocation *a;
};

static void *wait_for_slots(void *arg)
{
	struct waiter *w = arg;
	cm_err err = {0};
	w->rc = alloc_n(w->rm, "job-w", 3, 10000, NULL, &w->a, &err);
	return NULL;
}

static void test_waiter_woken_by_registration(void **state)
{
	struct fixture f;
	setup(&f, 60000);
	struct waiter w = {.rm = f.rm, .rc = -1};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, wait_for_slots, &w), 0);
	struct timespec ts = {0, 100 * 1000000L};
	nanosleep(&ts, NULL);
	assert_int_equal(reg(&f, "late", "tcp://127.0.0.1:11", 4, NULL, 0), 0);
	pthread_join(t, NULL);
	assert_int_equal(w.rc, 0);
	assert_int_equal(slots_of(w.a, "late"), 3);
	rm_release(f.rm, w.a);
	teardown(&f);
}

/* An adaptive job declares what it wants in all (it holds nothing here):
 * pending for a driver to start, and free slots it wants are no surplus to
 * release. */
static void test_declared_slots(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 60000);
	assert_int_equal(reg(&f, "tm-1", "tcp://127.0.0.1:12", 2, NULL, 0), 0);
	assert_int_equal(rm_pending_slots(f.rm), 0);
	assert_int_equal(rm_surplus_slots(f.rm), 2);
	assert_int_equal(rm_declare(f.rm, "job-a", 5), 0);
	assert_int_equal(rm_pending_slots(f.rm), 3);
	assert_int_equal(rm_surplus_slots(f.rm), 0);
	/* A new declaration replaces the job's last; others add up. */
	assert_int_equal(rm_declare(f.rm, "job-a", 1), 0);
	assert_int_equal(rm_pending_slots(f.rm), 0);
	assert_int_equal(rm_surplus_slots(f.rm), 1);
	assert_int_equal(rm_declare(f.rm, "job-b", 4), 0);
	assert_int_equal(rm_pending_slots(f.rm), 3);
	assert_int_equal(rm_declare(f.rm, "job-a", 0), 0);
	assert_int_equal(rm_declare(f.rm, "job-b", -3), 0); /* none: dropped */
	assert_int_equal(rm_pending_slots(f.rm), 0);
	assert_int_equal(rm_surplus_slots(f.rm), 2);
	/* Bounded: one declaration per job up to RM_MAX_DECLARED jobs. */
	char id[33];
	for (int i = 0; i < RM_MAX_DECLARED; i++) {
		snprintf(id, sizeof(id), "job-%d", i);
		assert_int_equal(rm_declare(f.rm, id, 1), 0);
	}
	assert_int_equal(rm_declare(f.rm, "one-too-many", 1), FL_ERANGE);
	assert_int_equal(rm_declare(f.rm, "job-7", 3), 0); /* a known one still changes */
	assert_int_equal(rm_pending_slots(f.rm), RM_MAX_DECLARED + 2 - 2);
	teardown(&f);
}

/*
 * A named fake of a driver that starts TaskManagers (kubernetes.c's
 * reconcile, without Kubernetes): every tick it starts workers for the
 * pending slots beyond those of workers still starting, and a worker
 * registers (1 slot) start_ms after it was started, as a pod comes up.
 */
#define FAKE_MAX_WORKERS 32
struct fake_driver {
	struct fixture *f;
	int64_t start_ms;
	int started, registered;
	int64_t started_at[FAKE_MAX_WORKERS];
};

static void fake_driver_tick(struct fake_driver *d)
{
	int64_t now = cm_now_ms();
	while (d->registered < d->started && now - d->started_at[d->registered] >= d->start_ms) {
		char id[32], rpc[64];
		snprintf(id, sizeof(id), "worker-%d", d->registered + 1);
		snprintf(rpc, sizeof(rpc), "tcp://127.0.0.1:%d", 20001 + d->registered);
		assert_int_equal(reg(d->f, id, rpc, 1, NULL, 0), 0);
		d->registered++;
	}
	int64_t missing = rm_pending_slots(d->f->rm) - (d->started - d->registered);
	for (; missing > 0 && d->started < FAKE_MAX_WORKERS; missing--)
		d->started_at[d->started++] = now;
}

/* Ticks every 10 ms for ms, or until *done once every started worker has
 * registered. */
static void fake_driver_run(struct fake_driver *d, int64_t ms, atomic_bool *done)
{
	int64_t until = cm_now_ms() + ms;
	while (cm_now_ms() < until &&
	       !(done && atomic_load(done) && d->registered == d->started)) {
		fake_driver_tick(d);
		struct timespec ts = {0, 10 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

struct job_request {
	rm_resourcemanager *rm;
	const char *job;
	int slots;
	int rc;
	rm_allocation *a;
	atomic_bool done;
};

static void *request_slots(void *arg)
{
	struct job_request *r = arg;
	cm_err err = {0};
	r->rc = alloc_n(r->rm, r->job, r->slots, 10000, NULL, &r->a, &err);
	atomic_store(&r->done, true);
	return NULL;
}

/*
 * An adaptive job declares the slots its upper bounds want and then asks
 * for them (rm_allocate), keeping its declaration: the declaration covers
 * the slots it waits for and those it holds, so a driver starts each
 * TaskManager once — 3 for 3 slots, not 3 for the declaration and 3 more
 * for the request. Its rescale to 5 starts the 2 more, and its restart at
 * 5 on them none.
 */
static void test_declared_slots_cover_the_jobs_own_request(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 60000);
	struct fake_driver d = {.f = &f, .start_ms = 200};
	assert_int_equal(rm_declare(f.rm, "job-a", 3), 0);
	assert_int_equal(rm_pending_slots(f.rm), 3);
	struct job_request r = {.rm = f.rm, .job = "job-a", .slots = 3, .rc = -1};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, request_slots, &r), 0);
	fake_driver_run(&d, 5000, &r.done);
	pthread_join(t, NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.a->nslots, 3);
	/* It holds what it declared: nothing more is wanted, even a while on. */
	fake_driver_run(&d, 300, NULL);
	assert_int_equal(d.started, 3);
	assert_int_equal(rm_pending_slots(f.rm), 0);
	assert_int_equal(rm_surplus_slots(f.rm), 0);
	/* Its upper bounds rise to 5 while it holds 3: 2 more. */
	assert_int_equal(rm_declare(f.rm, "job-a", 5), 0);
	assert_int_equal(rm_pending_slots(f.rm), 2);
	fake_driver_run(&d, 600, NULL);
	assert_int_equal(d.started, 5);
	assert_int_equal(d.registered, 5);
	assert_int_equal(rm_pending_slots(f.rm), 0);
	/* It restarts at 5: the 3 go back, 5 are taken, nothing is pending
	 * on the way nor after. */
	rm_release(f.rm, r.a);
	assert_int_equal(rm_pending_slots(f.rm), 0);
	assert_int_equal(rm_surplus_slots(f.rm), 0);
	rm_allocation *a = NULL;
	cm_err err = {0};
	assert_int_equal(alloc_n(f.rm, "job-a", 5, 1000, NULL, &a, &err), 0);
	fake_driver_run(&d, 300, NULL);
	assert_int_equal(d.started, 5);
	assert_int_equal(rm_pending_slots(f.rm), 0);
	/* Another job's request is not covered by job-a's declaration. */
	assert_int_equal(rm_declare(f.rm, "job-a", 6), 0);
	assert_int_equal(rm_pending_slots(f.rm), 1);
	struct job_request other = {.rm = f.rm, .job = "job-b", .slots = 2, .rc = -1};
	assert_int_equal(pthread_create(&t, NULL, request_slots, &other), 0);
	fake_driver_run(&d, 5000, &other.done);
	pthread_join(t, NULL);
	assert_int_equal(other.rc, 0);
	fake_driver_run(&d, 300, NULL);
	assert_int_equal(d.started, 8);
	rm_release(f.rm, other.a);
	rm_release(f.rm, a);
	/* Its end: the declaration dropped, every worker is surplus. */
	assert_int_equal(rm_declare(f.rm, "job-a", 0), 0);
	assert_int_equal(rm_pending_slots(f.rm), 0);
	assert_int_equal(rm_surplus_slots(f.rm), 8);
	teardown(&f);
}

/* What a driver that starts TaskManagers (Kubernetes) reads: the slots
 * waiting jobs lack beyond the free ones; and releasing an idle
 * TaskManager, refused while a job holds a slot there. */
static void test_pending_slots_and_idle_release(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 60000);
	assert_int_equal(rm_pending_slots(f.rm), 0);
	assert_int_equal(reg(&f, "tm-1", "tcp://127.0.0.1:12", 1, NULL, 0), 0);
	struct waiter w = {.rm = f.rm, .rc = -1};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, wait_for_slots, &w), 0);
	/* The waiter asks for 3 and 1 is free: 2 are pending once it waits. */
	int64_t pending = 0;
	for (int i = 0; i < 1000 && pending == 0; i++) {
		struct timespec ts = {0, 10 * 1000000L};
		nanosleep(&ts, NULL);
		pending = rm_pending_slots(f.rm);
	}
	assert_int_equal(pending, 2);
	assert_int_equal(reg(&f, "tm-2", "tcp://127.0.0.1:13", 2, NULL, 0), 0);
	pthread_join(t, NULL);
	assert_int_equal(w.rc, 0);
	assert_int_equal(rm_pending_slots(f.rm), 0);
	assert_int_equal(rm_release_idle(f.rm, "tm-1"), FL_EINVAL);
	assert_int_equal(rm_release_idle(f.rm, "tm-nobody"), FL_ENOENT);
	rm_release(f.rm, w.a);
	assert_int_equal(rm_release_idle(f.rm, "tm-1"), 0);
	assert_int_equal(rm_release_idle(f.rm, "tm-1"), FL_ENOENT);
	size_t ntms = 0;
	int slots = 0, free_slots = 0;
	rm_totals(f.rm, &ntms, &slots, &free_slots);
	assert_int_equal(ntms, 1);
	assert_int_equal(slots, 2);
	/* Nothing is placed on a released TaskManager: 3 slots no longer fit. */
	rm_allocation *a = NULL;
	cm_err err = {0};
	assert_int_equal(alloc_n(f.rm, "job-x", 3, 100, NULL, &a, &err), FL_ETIMEDOUT);
	assert_int_equal(rm_pending_slots(f.rm), 0);
	assert_null(strstr(err.msg, "cannot start"));
	/* Why the driver's TaskManagers do not come is in the refusal. */
	rm_set_provider_note(f.rm, "TaskManager pod p-1 cannot start: Unschedulable: no node");
	cm_err_clear(&err);
	assert_int_equal(alloc_n(f.rm, "job-x", 3, 100, NULL, &a, &err), FL_ETIMEDOUT);
	assert_non_null(strstr(err.msg, "needs 3 slots"));
	assert_non_null(strstr(err.msg, "; TaskManager pod p-1 cannot start: Unschedulable: no node"));
	rm_set_provider_note(f.rm, NULL);
	cm_err_clear(&err);
	assert_int_equal(alloc_n(f.rm, "job-x", 3, 100, NULL, &a, &err), FL_ETIMEDOUT);
	assert_null(strstr(err.msg, "cannot start"));
	teardown(&f);
}

/* A driver's TaskManagers that can never come (a pod whose image name is
 * invalid) fail a waiting request at once, not at its timeout; a request
 * that fits without them is untouched. */
static void test_provider_failure_fails_waiting_requests_at_once(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 0);
	assert_int_equal(reg(&f, "tm-1", "tcp://127.0.0.1:12", 2, NULL, 0), 0);
	rm_set_provider_failure(f.rm, "TaskManager pod p-1 cannot start: InvalidImageName: x");
	char why[400];
	assert_true(rm_provider_failure(f.rm, why, sizeof(why)));
	assert_non_null(strstr(why, "InvalidImageName"));
	rm_allocation *a = NULL;
	cm_err err = {0};
	/* An hour's timeout: the test ends only if the failure ends it. */
	assert_int_equal(alloc_n(f.rm, "job-x", 3, 3600000, NULL, &a, &err), FL_ETIMEDOUT);
	assert_null(strstr(err.msg, "slot.request.timeout"));
	assert_non_null(strstr(err.msg, "Could not acquire the minimum required resources: job "
					"job-x: TaskManager pod p-1 cannot start: InvalidImageName"));
	assert_int_equal(rm_pending_slots(f.rm), 0);
	cm_err_clear(&err);
	assert_int_equal(alloc_n(f.rm, "job-y", 2, 60000, NULL, &a, &err), 0);
	rm_release(f.rm, a);
	rm_set_provider_failure(f.rm, "");
	assert_false(rm_provider_failure(f.rm, why, sizeof(why)));
	cm_err_clear(&err);
	assert_int_equal(alloc_n(f.rm, "job-x", 3, 100, NULL, &a, &err), FL_ETIMEDOUT);
	assert_non_null(strstr(err.msg, "slot.request.timeout"));
	teardown(&f);
}

/* A TaskManager whose pod is going: its free slots are no longer offered
 * or counted, its held ones stay with their job; once free it is forgotten. */
static void test_drain_offers_no_more_slots(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 0);
	assert_int_equal(reg(&f, "tm-1", "tcp://127.0.0.1:12", 2, NULL, 0), 0);
	rm_allocation *a = NULL, *b = NULL;
	cm_err err = {0};
	assert_int_equal(alloc_n(f.rm, "job-a", 1, 1000, NULL, &a, &err), 0);
	assert_int_equal(rm_drain(f.rm, "tm-1"), 0);
	assert_int_equal(rm_surplus_slots(f.rm), 0);
	assert_int_equal(alloc_n(f.rm, "job-b", 1, 100, NULL, &b, &err), FL_ETIMEDOUT);
	rm_tm_view v;
	assert_int_equal(rm_get(f.rm, "tm-1", &v), 0);
	rm_release(f.rm, a);
	assert_int_equal(rm_drain(f.rm, "tm-1"), 0);
	assert_int_equal(rm_get(f.rm, "tm-1", &v), FL_ENOENT);
	assert_int_equal(rm_drain(f.rm, "tm-1"), FL_ENOENT);
	teardown(&f);
}

static void test_lost_after_heartbeat_timeout(void **state)
{
	struct fixture f;
	setup(&f, 200);
	assert_int_equal(reg(&f, "tm-x", "tcp://127.0.0.1:12", 2, NULL, 0), 0);
	/* An allocation holds it while it is forgotten. */
	rm_allocation *a = NULL;
	cm_err err = {0};
	assert_int_equal(alloc_n(f.rm, "job", 1, 1000, NULL, &a, &err), 0);
	rm_tm_view *v;
	size_t n = 1;
	for (int i = 0; i < 100 && n > 0; i++) {
		struct timespec ts = {0, 20 * 1000000L};
		nanosleep(&ts, NULL);
		assert_int_equal(rm_list(f.rm, &v, &n), 0);
		free(v);
	}
	assert_int_equal(n, 0);
	assert_int_equal(heartbeat(&f, "tm-x"), FL_ENOENT);
	rm_release(f.rm, a);
	/* Registering again brings it back. */
	assert_int_equal(reg(&f, "tm-x", "tcp://127.0.0.1:12", 2, NULL, 0), 0);
	assert_int_equal(heartbeat(&f, "tm-x"), 0);
	teardown(&f);
}

static void test_blob_in_chunks(void **state)
{
	struct fixture f;
	setup(&f, 60000);
	blob_data = malloc(BLOB_SIZE);
	assert_non_null(blob_data);
	for (size_t i = 0; i < BLOB_SIZE; i++)
		blob_data[i] = (uint8_t)(i * 31 + 7);
	struct call *c = call_new();
	uint64_t off = 0, total = 0;
	int chunks = 0;
	do {
		f.client->ops->blob(f.client, blob_hash, off, on_done, c);
		assert_int_equal(call_wait(c), 0);
		cm_rbuf r;
		cm_rbuf_init(&r, c->payload, c->len);
		total = cm_rbuf_uvarint(&r);
		const uint8_t *p;
		size_t n;
		cm_rbuf_bytes(&r, RPC_BLOB_CHUNK, &p, &n);
		assert_int_equal(cm_rbuf_end(&r), 0);
		assert_int_equal(total, BLOB_SIZE);
		assert_memory_equal(p, blob_data + off, n);
		off += n;
		chunks++;
	} while (off < total);
	assert_int_equal(chunks, 2);
	f.client->ops->blob(f.client, "bb00", 0, on_done, c);
	assert_int_equal(call_wait(c), FL_ENOENT);
	call_free(c);
	free(blob_data);
	teardown(&f);
}

static void assert_res(const cm_resource *r, int64_t cpu, int64_t heap, int64_t offheap,
		       int64_t managed)
{
	assert_int_equal(r->cpu_milli, cpu);
	assert_int_equal(r->heap_bytes, heap);
	assert_int_equal(r->offheap_bytes, offheap);
	assert_int_equal(r->managed_bytes, managed);
}

static void test_default_slots_are_equal_shares(void **state)
{
	struct fixture f;
	setup(&f, 60000);
	/* 4 slots of 4 cores, 4 GiB process, 1 GiB managed, 256 MiB network:
	 * task memory 2.75 GiB, a default slot 1 core, 704 MiB, 256 MiB. */
	assert_int_equal(reg_res(&f, "tm-1", "tcp://127.0.0.1:9", 4, 4000, 4 * GIB, GIB, 256 * MIB),
			 0);
	rm_tm_view v;
	assert_int_equal(rm_get(f.rm, "tm-1", &v), 0);
	assert_res(&v.total, 4000, 2816 * MIB, 0, GIB);
	assert_res(&v.default_slot, 1000, 704 * MIB, 0, 256 * MIB);
	assert_int_equal(v.free_slots, 4);
	rm_allocation *a = NULL;
	cm_err err = {0};
	assert_int_equal(alloc_n(f.rm, "job-a", 4, 1000, NULL, &a, &err), 0);
	assert_int_equal(a->nslots, 4);
	for (size_t s = 0; s < a->nslots; s++)
		assert_res(&a->profiles[s], 1000, 704 * MIB, 0, 256 * MIB);
	assert_int_equal(rm_get(f.rm, "tm-1", &v), 0);
	assert_res(&v.free, 0, 0, 0, 0);
	assert_int_equal(v.free_slots, 0);
	rm_release(f.rm, a);
	assert_int_equal(rm_get(f.rm, "tm-1", &v), 0);
	assert_res(&v.free, 4000, 2816 * MIB, 0, GIB);
	assert_int_equal(v.free_slots, 4);
	teardown(&f);
}

static void test_profile_cuts_a_dynamic_slot_and_release_returns_it(void **state)
{
	struct fixture f;
	setup(&f, 60000);
	/* Task memory 3 GiB; default slot 1 core, 768 MiB, 256 MiB managed. */
	assert_int_equal(reg_res(&f, "tm-1", "tcp://127.0.0.1:9", 4, 4000, 4 * GIB, GIB, 0), 0);
	rm_request r = {.group = "big",
			.profile = {.cpu_milli = 2000,
				    .heap_bytes = GIB,
				    .offheap_bytes = 512 * MIB,
				    .managed_bytes = 512 * MIB},
			.slots = 1};
	rm_allocation *a = NULL;
	cm_err err = {0};
	assert_int_equal(rm_allocate(f.rm, "job-a", &r, 1, 1000, NULL, &a, &err), 0);
	assert_int_equal(a->nslots, 1);
	assert_int_equal(a->placement[0], 0);
	assert_res(&a->profiles[0], 2000, GIB, 512 * MIB, 512 * MIB);
	rm_tm_view v;
	assert_int_equal(rm_get(f.rm, "tm-1", &v), 0);
	/* Heap and off-heap come from one task memory pool. */
	assert_res(&v.free, 2000, 1536 * MIB, 0, 512 * MIB);
	/* Two default slots still fit in what is left (CPU: 2, memory: 2). */
	assert_int_equal(v.free_slots, 2);
	rm_slot_view *sv = NULL;
	size_t n = 0;
	assert_int_equal(rm_slots(f.rm, "tm-1", &sv, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(sv[0].job_id, "job-a");
	assert_string_equal(sv[0].group, "big");
	assert_res(&sv[0].res, 2000, GIB, 512 * MIB, 512 * MIB);
	free(sv);
	/* A second such slot fits; a third does not (CPU is gone). */
	rm_allocation *b = NULL;
	assert_int_equal(rm_allocate(f.rm, "job-b", &r, 1, 1000, NULL, &b, &err), 0);
	rm_allocation *c = NULL;
	assert_int_equal(rm_allocate(f.rm, "job-c", &r, 1, 100, NULL, &c, &err), FL_ETIMEDOUT);
	assert_null(c);
	rm_release(f.rm, a);
	rm_release(f.rm, b);
	assert_int_equal(rm_get(f.rm, "tm-1", &v), 0);
	assert_res(&v.free, 4000, 3 * GIB, 0, GIB);
	assert_int_equal(v.free_slots, 4);
	assert_int_equal(rm_slots(f.rm, "tm-1", &sv, &n), 0);
	assert_int_equal(n, 0);
	free(sv);
	assert_int_equal(rm_slots(f.rm, "nope", &sv, &n), FL_ENOENT);
	teardown(&f);
}

static void test_mix_places_profiles_first(void **state)
{
	struct fixture f;
	setup(&f, 60000);
	/* small: 2 slots, 2 cores; large: 2 slots, 8 cores, 8 GiB. */
	assert_int_equal(reg_res(&f, "small", "tcp://127.0.0.1:9", 2, 2000, 2 * GIB, 512 * MIB, 0),
			 0);
	assert_int_equal(reg_res(&f, "large", "tcp://127.0.0.1:10", 2, 8000, 8 * GIB, 2 * GIB, 0),
			 0);
	/* Default slots asked first: spread evenly they would take a slot of
	 * "large", which both heavy slots need. */
	rm_request r[2] = {
	    {.group = "default", .slots = 2},
	    {.group = "heavy", .profile = {.cpu_milli = 3000, .heap_bytes = 2 * GIB}, .slots = 2}};
	rm_allocation *a = NULL;
	cm_err err = {0};
	assert_int_equal(rm_allocate(f.rm, "job-mix", r, 2, 1000, NULL, &a, &err), 0);
	assert_int_equal(a->nslots, 4);
	for (size_t s = 0; s < 4; s++)
		assert_string_equal(a->resource_ids[a->placement[s]], s < 2 ? "small" : "large");
	assert_int_equal(slots_of(a, "small"), 2);
	assert_int_equal(slots_of(a, "large"), 2);
	/* small's default slot: 1 core, 768 MiB task memory, 256 MiB managed. */
	assert_res(&a->profiles[0], 1000, 768 * MIB, 0, 256 * MIB);
	assert_res(&a->profiles[2], 3000, 2 * GIB, 0, 0);
	rm_tm_view v;
	assert_int_equal(rm_get(f.rm, "large", &v), 0);
	assert_res(&v.free, 2000, 2 * GIB, 0, 2 * GIB);
	assert_int_equal(v.free_slots, 0); /* its two slots are taken */
	rm_release(f.rm, a);
	teardown(&f);
}

static void test_refusal_names_the_profile_and_holds_nothing(void **state)
{
	struct fixture f;
	setup(&f, 60000);
	assert_int_equal(reg_res(&f, "tm-1", "tcp://127.0.0.1:9", 2, 2000, 2 * GIB, 512 * MIB, 0),
			 0);
	rm_request r[2] = {
	    {.group = "default", .slots = 1},
	    {.group = "huge",
	     .profile = {.cpu_milli = 16000, .heap_bytes = 4 * GIB, .managed_bytes = 0},
	     .slots = 1}};
	rm_allocation *a = NULL;
	cm_err err = {0};
	assert_int_equal(rm_allocate(f.rm, "job-h", r, 2, 100, NULL, &a, &err), FL_ETIMEDOUT);
	assert_null(a);
	assert_non_null(strstr(err.msg, "Could not acquire the minimum required resources"));
	assert_non_null(strstr(err.msg, "slot sharing group 'huge' needs 1 slot(s)"));
	assert_non_null(strstr(err.msg, "{cpuCores=16.0, taskHeapMemory=4 gb, "
					"taskOffHeapMemory=0 bytes, managedMemory=0 bytes}"));
	assert_non_null(strstr(err.msg, "tm-1, has 2.0 CPU cores, 1536 mb task memory, "
					"512 mb managed memory and 2 of 2 slots free"));
	/* All or nothing: the default slot that fitted is not held. */
	rm_tm_view v;
	assert_int_equal(rm_get(f.rm, "tm-1", &v), 0);
	assert_int_equal(v.free_slots, 2);
	/* Bad requests. */
	rm_request neg = {.group = "g", .slots = -1};
	assert_int_equal(rm_allocate(f.rm, "job-n", &neg, 1, 100, NULL, &a, &err), FL_EINVAL);
	teardown(&f);
}

static void test_resource_format(void **state)
{
	char b[200];
	cm_resource u = {0};
	assert_string_equal(cm_resource_format(&u, b, sizeof(b)), "UNKNOWN");
	cm_resource r = {.cpu_milli = 1500, .heap_bytes = 256 * MIB, .managed_bytes = 3072};
	assert_string_equal(cm_resource_format(&r, b, sizeof(b)),
			    "{cpuCores=1.5, taskHeapMemory=256 mb, taskOffHeapMemory=0 bytes, "
			    "managedMemory=3 kb}");
	r.cpu_milli = 250;
	assert_string_equal(cm_cpu_format(r.cpu_milli, b, sizeof(b)), "0.25");
	/* Truncation stays terminated. */
	assert_string_equal(cm_resource_format(&r, b, 5), "{cpu");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_register_allocate_release),
	    cmocka_unit_test(test_waiter_woken_by_registration),
	    cmocka_unit_test(test_pending_slots_and_idle_release),
	    cmocka_unit_test(test_provider_failure_fails_waiting_requests_at_once),
	    cmocka_unit_test(test_drain_offers_no_more_slots),
	    cmocka_unit_test(test_declared_slots),
    cmocka_unit_test(test_declared_slots_cover_the_jobs_own_request),
	    cmocka_unit_test(test_lost_after_heartbeat_timeout),
	    cmocka_unit_test(test_blob_in_chunks),
	    cmocka_unit_test(test_default_slots_are_equal_shares),
	    cmocka_unit_test(test_profile_cuts_a_dynamic_slot_and_release_returns_it),
	    cmocka_unit_test(test_mix_places_profiles_first),
	    cmocka_unit_test(test_refusal_names_the_profile_and_holds_nothing),
	    cmocka_unit_test(test_resource_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
