/* bench_exchange.c — data-plane throughput: writer -> endpoint -> gate over
 * loopback between two endpoints in one process, and writer -> local
 * channel -> gate. Buffers come from network buffer pools as in a
 * TaskManager (one for the producer, one for the consumer's endpoint).
 * Prints figures only. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

#include "common/auth.h"
#include "common/clock.h"
#include "common/log.h"
#include "network/buffer.h"
#include "network/endpoint.h"
#include "network/gate.h"
#include "network/pool.h"
#include "network/writer.h"

#define TOTAL_BYTES (1024ll * 1024 * 1024)
#define RECORD 1000
#define CAPACITY 32

struct producer {
	net_pool *pool;	 /* the producer's buffers */
	net_quota *quota; /* all of them, for the writer */
	net_writer *w;	 /* writer mode */
	net_outchan *oc; /* raw mode: full buffers straight to the outchan */
	uint32_t bufsize;
	int rc;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	if (p->w) {
		static uint8_t rec[RECORD];
		memset(rec, 'r', sizeof(rec));
		for (long long sent = 0; sent < TOTAL_BYTES; sent += RECORD) {
			if ((p->rc = net_writer_emit(p->w, 0, rec, RECORD)) != 0)
				return NULL;
		}
		p->rc = net_writer_broadcast_event(p->w, NET_EV_END_OF_PARTITION, 0);
		return NULL;
	}
	for (long long sent = 0; sent < TOTAL_BYTES; sent += p->bufsize) {
		net_buffer *b;
		if ((p->rc = net_pool_take(p->pool, true, NULL, &b)) != 0)
			return NULL;
		b->len = p->bufsize;
		if ((p->rc = net_outchan_send(p->oc, b)) != 0)
			return NULL;
	}
	p->rc = net_outchan_send(p->oc, net_buffer_event(NET_EV_END_OF_PARTITION, 0));
	return NULL;
}

static void run(const char *name, net_gate *g, struct producer *p)
{
	int64_t t0 = cm_now_ns();
	pthread_t t;
	if (pthread_create(&t, NULL, produce, p) != 0) {
		fprintf(stderr, "pthread_create failed\n");
		exit(1);
	}
	long long bytes = 0, buffers = 0;
	for (;;) {
		net_buffer *b;
		int ch;
		int rc = net_gate_pop(g, cm_now_ms() + 30000, &b, &ch);
		if (rc != 0) {
			fprintf(stderr, "%s: pop failed: %d %s\n", name, rc, net_gate_error(g));
			exit(1);
		}
		bool end = b->kind == NET_BUF_EVENT && b->event == NET_EV_END_OF_PARTITION;
		bytes += b->len;
		buffers += b->kind == NET_BUF_DATA;
		net_buffer_free(b);
		if (end)
			break;
	}
	pthread_join(t, NULL);
	double s = (double)(cm_now_ns() - t0) / 1e9;
	if (p->rc != 0) {
		fprintf(stderr, "%s: producer failed: %d\n", name, p->rc);
		exit(1);
	}
	printf("%-34s %6.2f GB/s  %9.0f buffers/s  (%lld MB in %.2f s)\n", name, bytes / s / 1e9,
	       buffers / s, bytes / 1000000, s);
}

/* A pool with room for what is in flight: the gate's capacity on each side
 * and the writer's buffer being filled. */
#define POOL_SEGMENTS (2 * CAPACITY + 8)
static net_pool *pool_of(uint32_t bufsize)
{
	net_pool *pool;
	cm_err err;
	cm_err_clear(&err);
	if (net_pool_new(&pool, POOL_SEGMENTS, bufsize, &err) != 0) {
		fprintf(stderr, "pool: %s\n", err.msg);
		exit(1);
	}
	return pool;
}

static void remote(uint32_t bufsize, bool writer, uint64_t id)
{
	cm_err err;
	cm_err_clear(&err);
	net_endpoint *pe, *ce;
	cm_secret secret;
	cm_secret_from_string(&secret, "bench", &err);
	net_pool *ppool = pool_of(bufsize), *cpool = pool_of(bufsize);
	net_endpoint_options o = {.bind_host = "127.0.0.1",
				  .cluster_id = "bench",
				  .resource_id = "bench",
				  .secret = &secret};
	net_endpoint_options co = o;
	co.pool = cpool;
	if (net_endpoint_new(&pe, &o, &err) != 0 || net_endpoint_new(&ce, &co, &err) != 0) {
		fprintf(stderr, "endpoint: %s\n", err.msg);
		exit(1);
	}
	net_gate *g;
	net_outchan *oc;
	if (net_gate_new(&g, 1, CAPACITY) != 0 || net_endpoint_register_input(ce, 1, id, g, 0) != 0 ||
	    net_endpoint_open_output(pe, net_endpoint_address(ce), 1, id, &oc, &err) != 0) {
		fprintf(stderr, "setup failed: %s\n", err.msg);
		exit(1);
	}
	struct producer p = {.bufsize = bufsize, .pool = ppool};
	char name[64];
	if (writer) {
		if (net_quota_new(ppool, POOL_SEGMENTS, POOL_SEGMENTS, &p.quota, &err) != 0 ||
		    net_writer_new(&p.w, NET_PART_FORWARD, 1, p.quota, bufsize, 0) != 0)
			exit(1);
		net_writer_set_channel(p.w, 0, oc);
		snprintf(name, sizeof(name), "remote writer %u KiB, %d B rec", bufsize / 1024,
			 RECORD);
	} else {
		p.oc = oc;
		snprintf(name, sizeof(name), "remote full buffers %u KiB", bufsize / 1024);
	}
	run(name, g, &p);
	if (p.w)
		net_writer_free(p.w);
	else
		net_outchan_free(oc);
	net_quota_close(p.quota);
	net_endpoint_unregister_input(ce, 1, id);
	net_endpoint_free(pe);
	net_endpoint_free(ce);
	net_gate_free(g);
	net_pool_free(ppool);
	net_pool_free(cpool);
}

static void local(uint32_t bufsize)
{
	net_gate *g;
	net_outchan *oc;
	struct producer p = {.bufsize = bufsize, .pool = pool_of(bufsize)};
	cm_err err;
	cm_err_clear(&err);
	if (net_gate_new(&g, 1, CAPACITY) != 0 || net_outchan_local(&oc, g, 0) != 0 ||
	    net_quota_new(p.pool, POOL_SEGMENTS, POOL_SEGMENTS, &p.quota, &err) != 0 ||
	    net_writer_new(&p.w, NET_PART_FORWARD, 1, p.quota, bufsize, 0) != 0)
		exit(1);
	net_writer_set_channel(p.w, 0, oc);
	char name[64];
	snprintf(name, sizeof(name), "local writer %u KiB, %d B rec", bufsize / 1024, RECORD);
	run(name, g, &p);
	net_writer_free(p.w);
	net_gate_free(g);
	net_quota_close(p.quota);
	net_pool_free(p.pool);
}

/* With an argument, runs only the cases whose name contains it. */
int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : "";
	cm_log_set_level(CM_LOG_WARN);
	printf("1 GB per run, gate capacity %d buffers\n", CAPACITY);
	if (strstr("remote-raw-32", only))
		remote(32 * 1024, false, 1);
	if (strstr("remote-raw-128", only))
		remote(128 * 1024, false, 2);
	if (strstr("remote-writer-32", only))
		remote(32 * 1024, true, 3);
	if (strstr("remote-writer-128", only))
		remote(128 * 1024, true, 4);
	if (strstr("local-writer-32", only))
		local(32 * 1024);
	if (strstr("local-writer-128", only))
		local(128 * 1024);
	return 0;
}
