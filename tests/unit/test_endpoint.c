/* test_endpoint.c — remote channels over real loopback connections:
 * multiplexing, credit-based flow control, ordering, deferred registration,
 * protocol errors from a raw client, and peers going away mid-stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <flinc/flinc.h>

#include "common/clock.h"
#include "network/buffer.h"
#include "network/endpoint.h"
#include "network/frame.h"
#include "network/gate.h"

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static net_endpoint *ep_new(void)
{
	net_endpoint *ep;
	cm_err err;
	cm_err_clear(&err);
	assert_int_equal(net_endpoint_new(&ep, "127.0.0.1", 0, &err), 0);
	assert_true(net_endpoint_port(ep) > 0);
	return ep;
}

static net_buffer *tagged(int64_t seq, uint32_t size)
{
	net_buffer *b = net_buffer_new(size < 8 ? 8 : size);
	assert_non_null(b);
	for (uint32_t i = 0; i < b->cap; i++)
		b->data[i] = (uint8_t)(seq + i);
	memcpy(b->data, &seq, 8);
	b->len = b->cap;
	return b;
}

static int64_t check_tag(const net_buffer *b)
{
	int64_t seq;
	assert_int_equal(b->kind, NET_BUF_DATA);
	assert_true(b->len >= 8);
	memcpy(&seq, b->data, 8);
	for (uint32_t i = 8; i < b->len; i++)
		assert_int_equal(b->data[i], (uint8_t)(seq + i));
	return seq;
}

static net_outchan *open_out(net_endpoint *from, net_endpoint *to, uint64_t id)
{
	net_outchan *oc;
	cm_err err;
	cm_err_clear(&err);
	assert_int_equal(net_endpoint_open_output(from, net_endpoint_address(to), id, &oc, &err),
			 0);
	return oc;
}

struct sender {
	net_outchan **ocs;
	int nocs;
	int count; /* buffers per outchan, interleaved */
	uint32_t size;
	atomic_int sent;
	int rc;
	bool eop;
};

static void *send_main(void *arg)
{
	struct sender *s = arg;
	for (int i = 0; i < s->count; i++) {
		for (int k = 0; k < s->nocs; k++) {
			int rc = net_outchan_send(s->ocs[k], tagged(i, s->size));
			if (rc != 0) {
				s->rc = rc;
				return NULL;
			}
			atomic_fetch_add(&s->sent, 1);
		}
	}
	for (int k = 0; s->eop && k < s->nocs; k++) {
		int rc = net_outchan_send(s->ocs[k], net_buffer_event(NET_EV_END_OF_PARTITION, 0));
		if (rc != 0) {
			s->rc = rc;
			return NULL;
		}
	}
	return NULL;
}

/* Pops n data buffers, checking per-channel order. */
static void receive_in_order(net_gate *g, int nch, int per_channel)
{
	int64_t *next = calloc((size_t)nch, sizeof(*next));
	assert_non_null(next);
	for (int k = 0; k < nch * per_channel; k++) {
		net_buffer *b;
		int ch;
		int rc = net_gate_pop(g, cm_now_ms() + 10000, &b, &ch);
		if (rc != 0)
			fail_msg("pop %d: rc %d (%s)", k, rc, net_gate_error(g));
		assert_int_equal(check_tag(b), next[ch]);
		next[ch]++;
		net_buffer_free(b);
	}
	for (int c = 0; c < nch; c++)
		assert_int_equal(next[c], per_channel);
	free(next);
}

struct receiver {
	net_gate *g;
	int nch;
	int per_channel;
};

static void *receive_main(void *arg)
{
	struct receiver *r = arg;
	receive_in_order(r->g, r->nch, r->per_channel);
	return NULL;
}

static void test_channels_multiplexed_both_directions(void **state)
{
	enum { NCH = 4, N = 300 };
	net_endpoint *a = ep_new(), *b = ep_new();
	net_gate *ga, *gb;
	assert_int_equal(net_gate_new(&ga, NCH, 4), 0);
	assert_int_equal(net_gate_new(&gb, NCH, 4), 0);
	net_outchan *a2b[NCH], *b2a[NCH];
	for (int i = 0; i < NCH; i++) {
		assert_int_equal(net_endpoint_register_input(b, 100 + i, gb, i), 0);
		assert_int_equal(net_endpoint_register_input(a, 200 + i, ga, i), 0);
		a2b[i] = open_out(a, b, 100 + i);
		b2a[i] = open_out(b, a, 200 + i);
	}
	assert_int_equal(net_endpoint_register_input(b, 100, gb, 0), FL_EINVAL);
	struct sender sa = {.ocs = a2b, .nocs = NCH, .count = N, .size = 3000};
	struct sender sb = {.ocs = b2a, .nocs = NCH, .count = N, .size = 100};
	struct receiver ra = {.g = ga, .nch = NCH, .per_channel = N};
	pthread_t t1, t2, t3;
	assert_int_equal(pthread_create(&t1, NULL, send_main, &sa), 0);
	assert_int_equal(pthread_create(&t2, NULL, send_main, &sb), 0);
	assert_int_equal(pthread_create(&t3, NULL, receive_main, &ra), 0);
	receive_in_order(gb, NCH, N);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	pthread_join(t3, NULL);
	assert_int_equal(sa.rc, 0);
	assert_int_equal(sb.rc, 0);
	for (int i = 0; i < NCH; i++) {
		net_outchan_free(a2b[i]);
		net_outchan_free(b2a[i]);
	}
	net_endpoint_free(a);
	net_endpoint_free(b);
	net_gate_free(ga);
	net_gate_free(gb);
}

static void wait_sent(struct sender *s, int n)
{
	int64_t deadline = cm_now_ms() + 5000;
	while (atomic_load(&s->sent) < n && cm_now_ms() < deadline)
		sleep_ms(1);
	assert_int_equal(atomic_load(&s->sent), n);
}

static void test_credit_bounds_buffers_in_flight(void **state)
{
	enum { CAP = 3 };
	net_endpoint *p = ep_new(), *c = ep_new();
	net_gate *g;
	assert_int_equal(net_gate_new(&g, 1, CAP), 0);
	assert_int_equal(net_endpoint_register_input(c, 7, g, 0), 0);
	net_outchan *oc = open_out(p, c, 7);
	struct sender s = {.ocs = &oc, .nocs = 1, .count = 10, .size = 64};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, send_main, &s), 0);
	wait_sent(&s, CAP);
	sleep_ms(100);
	assert_int_equal(atomic_load(&s.sent), CAP); /* no credit left */
	net_buffer *b;
	int ch;
	assert_int_equal(net_gate_pop(g, cm_now_ms() + 5000, &b, &ch), 0);
	assert_int_equal(check_tag(b), 0);
	net_buffer_free(b);
	wait_sent(&s, CAP + 1); /* one credit back, one more buffer */
	sleep_ms(50);
	assert_int_equal(atomic_load(&s.sent), CAP + 1);
	for (int i = 1; i < 10; i++) {
		assert_int_equal(net_gate_pop(g, cm_now_ms() + 5000, &b, &ch), 0);
		assert_int_equal(check_tag(b), i);
		net_buffer_free(b);
	}
	pthread_join(t, NULL);
	assert_int_equal(s.rc, 0);
	net_outchan_free(oc);
	net_endpoint_free(p);
	net_endpoint_free(c);
	net_gate_free(g);
}

static void test_order_preserved_across_10k_buffers(void **state)
{
	enum { N = 10000 };
	int64_t before = net_buffer_bytes_live();
	net_endpoint *p = ep_new(), *c = ep_new();
	net_gate *g;
	assert_int_equal(net_gate_new(&g, 2, 8), 0);
	assert_int_equal(net_endpoint_register_input(c, 1, g, 0), 0);
	assert_int_equal(net_endpoint_register_input(c, 2, g, 1), 0);
	net_outchan *ocs[2] = {open_out(p, c, 1), open_out(p, c, 2)};
	struct sender s = {.ocs = ocs, .nocs = 2, .count = N / 2, .size = 1024, .eop = true};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, send_main, &s), 0);
	receive_in_order(g, 2, N / 2);
	for (int k = 0; k < 2; k++) {
		net_buffer *b;
		int ch;
		assert_int_equal(net_gate_pop(g, cm_now_ms() + 5000, &b, &ch), 0);
		assert_int_equal(b->kind, NET_BUF_EVENT);
		assert_int_equal(b->event, NET_EV_END_OF_PARTITION);
		net_buffer_free(b);
	}
	pthread_join(t, NULL);
	assert_int_equal(s.rc, 0);
	/* A producer that finished and closed its channels is no failure. */
	net_outchan_free(ocs[0]);
	net_outchan_free(ocs[1]);
	sleep_ms(50);
	net_endpoint_free(p);
	net_buffer *b;
	int ch;
	assert_int_equal(net_gate_pop(g, cm_now_ms() + 200, &b, &ch), FL_ETIMEDOUT);
	net_endpoint_free(c);
	net_gate_free(g);
	assert_int_equal(net_buffer_bytes_live(), before);
}

static void test_open_before_register(void **state)
{
	net_endpoint *p = ep_new(), *c = ep_new();
	net_outchan *oc = open_out(p, c, 99);
	struct sender s = {.ocs = &oc, .nocs = 1, .count = 20, .size = 500};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, send_main, &s), 0);
	sleep_ms(100);
	assert_int_equal(atomic_load(&s.sent), 0); /* no credit before registration */
	net_gate *g;
	assert_int_equal(net_gate_new(&g, 3, 2), 0);
	assert_int_equal(net_endpoint_register_input(c, 99, g, 2), 0);
	int64_t next = 0;
	for (int i = 0; i < 20; i++) {
		net_buffer *b;
		int ch;
		assert_int_equal(net_gate_pop(g, cm_now_ms() + 5000, &b, &ch), 0);
		assert_int_equal(ch, 2);
		assert_int_equal(check_tag(b), next++);
		net_buffer_free(b);
	}
	pthread_join(t, NULL);
	assert_int_equal(s.rc, 0);
	net_outchan_free(oc);
	net_endpoint_unregister_input(c, 99);
	net_endpoint_free(p);
	net_endpoint_free(c);
	net_gate_free(g);
}

/* ---------------------------------------------------- raw TCP client */

static int raw_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void raw_send(int fd, uint8_t type, uint32_t len, uint64_t channel, int64_t arg,
		     const void *payload)
{
	struct net_frame f = {.type = type, .len = len, .channel = channel, .arg = arg};
	uint8_t hdr[NET_FRAME_HDR];
	net_frame_encode(hdr, &f);
	assert_int_equal(write(fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	if (payload && len)
		assert_int_equal(write(fd, payload, len), (ssize_t)len);
}

/* Reads until n bytes or EOF/timeout; returns the bytes read. */
static ssize_t raw_read(int fd, void *buf, size_t n, int timeout_ms)
{
	size_t got = 0;
	int64_t deadline = cm_now_ms() + timeout_ms;
	while (got < n) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int left = (int)(deadline - cm_now_ms());
		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			return -1;
		ssize_t r = read(fd, (uint8_t *)buf + got, n - got);
		if (r <= 0)
			return (ssize_t)got;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static void expect_credit(int fd, uint64_t channel, int64_t n)
{
	uint8_t hdr[NET_FRAME_HDR];
	assert_int_equal(raw_read(fd, hdr, sizeof(hdr), 5000), NET_FRAME_HDR);
	struct net_frame f;
	char why[128];
	assert_int_equal(net_frame_decode(hdr, &f, why, sizeof(why)), 0);
	assert_int_equal(f.type, NET_FR_CREDIT);
	assert_int_equal(f.channel, channel);
	assert_int_equal(f.arg, n);
}

static void expect_closed(int fd)
{
	uint8_t junk[64];
	assert_int_equal(raw_read(fd, junk, sizeof(junk), 5000), 0); /* EOF */
}

static void expect_channel_failed(net_gate *g, int channel, const char *words)
{
	net_buffer *b;
	int ch = -1;
	int rc;
	/* Data accepted before the bad frame may come first. */
	while ((rc = net_gate_pop(g, cm_now_ms() + 5000, &b, &ch)) == 0)
		net_buffer_free(b);
	assert_int_equal(rc, FL_ECLOSED);
	assert_int_equal(ch, channel);
	const char *msg = net_gate_error(g);
	if (!strstr(msg, words) || !strstr(msg, "127.0.0.1:"))
		fail_msg("error message '%s' lacks '%s' or the peer", msg, words);
}

static void test_bogus_frame_type_fails_channel(void **state)
{
	net_endpoint *c = ep_new();
	net_gate *g;
	assert_int_equal(net_gate_new(&g, 2, 5), 0);
	assert_int_equal(net_endpoint_register_input(c, 77, g, 1), 0);
	int fd = raw_connect(net_endpoint_port(c));
	raw_send(fd, NET_FR_OPEN, 0, 77, 0, NULL);
	expect_credit(fd, 77, 5);
	static const char garbage[NET_FRAME_HDR] = "GET / HTTP/1.1\r\nHost: x";
	assert_int_equal(write(fd, garbage, sizeof(garbage)), (ssize_t)sizeof(garbage));
	expect_closed(fd);
	close(fd);
	expect_channel_failed(g, 1, "unknown frame type");
	net_endpoint_free(c);
	net_gate_free(g);
}

static void test_oversized_length_fails_before_allocating(void **state)
{
	net_endpoint *c = ep_new();
	net_gate *g;
	assert_int_equal(net_gate_new(&g, 1, 5), 0);
	assert_int_equal(net_endpoint_register_input(c, 5, g, 0), 0);
	int64_t before = net_buffer_bytes_live();
	int fd = raw_connect(net_endpoint_port(c));
	raw_send(fd, NET_FR_OPEN, 0, 5, 0, NULL);
	expect_credit(fd, 5, 5);
	raw_send(fd, NET_FR_DATA, 0xFFFFFFF0u, 5, 0, NULL);
	expect_closed(fd);
	close(fd);
	expect_channel_failed(g, 0, "limit");
	assert_int_equal(net_buffer_bytes_live(), before);
	net_endpoint_free(c);
	net_gate_free(g);
}

static void test_data_beyond_credit_fails_channel(void **state)
{
	net_endpoint *c = ep_new();
	net_gate *g;
	assert_int_equal(net_gate_new(&g, 1, 2), 0);
	assert_int_equal(net_endpoint_register_input(c, 9, g, 0), 0);
	int fd = raw_connect(net_endpoint_port(c));
	/* Data before OPEN: this connection holds no credit at all. */
	raw_send(fd, NET_FR_OPEN, 0, 9, 0, NULL);
	expect_credit(fd, 9, 2);
	uint8_t payload[100] = {0};
	for (int i = 0; i < 3; i++)
		raw_send(fd, NET_FR_DATA, sizeof(payload), 9, 0, payload);
	expect_closed(fd);
	close(fd);
	expect_channel_failed(g, 0, "credit");
	net_endpoint_free(c);
	net_gate_free(g);
}

/* ------------------------------------------------- peers going away */

static void test_producer_endpoint_freed_mid_stream(void **state)
{
	net_endpoint *p = ep_new(), *c = ep_new();
	net_gate *g;
	assert_int_equal(net_gate_new(&g, 1, 4), 0);
	assert_int_equal(net_endpoint_register_input(c, 3, g, 0), 0);
	net_outchan *oc = open_out(p, c, 3);
	struct sender s = {.ocs = &oc, .nocs = 1, .count = 1000000, .size = 4096};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, send_main, &s), 0);
	for (int i = 0; i < 50; i++) {
		net_buffer *b;
		int ch;
		assert_int_equal(net_gate_pop(g, cm_now_ms() + 5000, &b, &ch), 0);
		net_buffer_free(b);
	}
	int64_t t0 = cm_now_ms();
	net_endpoint_free(p); /* the sender keeps its outchan */
	pthread_join(t, NULL);
	assert_int_equal(s.rc, FL_ECLOSED);
	expect_channel_failed(g, 0, "lost");
	assert_true(cm_now_ms() - t0 < 5000);
	assert_int_equal(net_outchan_send(oc, tagged(0, 8)), FL_ECLOSED);
	net_outchan_free(oc);
	net_endpoint_free(c);
	net_gate_free(g);
}

static void test_consumer_endpoint_freed_releases_blocked_producer(void **state)
{
	net_endpoint *p = ep_new(), *c = ep_new();
	net_gate *g;
	assert_int_equal(net_gate_new(&g, 1, 2), 0);
	assert_int_equal(net_endpoint_register_input(c, 4, g, 0), 0);
	net_outchan *oc = open_out(p, c, 4);
	struct sender s = {.ocs = &oc, .nocs = 1, .count = 100, .size = 256};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, send_main, &s), 0);
	wait_sent(&s, 2); /* now blocked on credit: nobody pops */
	int64_t t0 = cm_now_ms();
	net_endpoint_free(c);
	pthread_join(t, NULL);
	assert_int_equal(s.rc, FL_ECLOSED);
	assert_true(cm_now_ms() - t0 < 5000);
	net_buffer *b;
	int ch;
	assert_int_equal(net_gate_pop(g, cm_now_ms() + 1000, &b, &ch), FL_ECLOSED);
	assert_non_null(strstr(net_gate_error(g), "shut down"));
	net_outchan_free(oc);
	net_endpoint_free(p);
	net_gate_free(g);
}

static void test_cancel_releases_producer_waiting_for_credit(void **state)
{
	net_endpoint *p = ep_new(), *c = ep_new();
	net_outchan *oc = open_out(p, c, 12); /* never registered: no credit */
	struct sender s = {.ocs = &oc, .nocs = 1, .count = 1, .size = 8};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, send_main, &s), 0);
	sleep_ms(50);
	net_outchan_cancel(oc);
	pthread_join(t, NULL);
	assert_int_equal(s.rc, FL_ECANCELED);
	net_outchan_free(oc);
	net_endpoint_free(p);
	net_endpoint_free(c);
}

struct late_start {
	int port;
	net_endpoint *ep;
};

static void *start_late(void *arg)
{
	struct late_start *l = arg;
	sleep_ms(300);
	cm_err err;
	cm_err_clear(&err);
	assert_int_equal(net_endpoint_new(&l->ep, "127.0.0.1", l->port, &err), 0);
	return NULL;
}

static void test_dial_retries_until_peer_listens(void **state)
{
	net_endpoint *probe = ep_new();
	int port = net_endpoint_port(probe);
	net_endpoint_free(probe);
	net_endpoint *p = ep_new();
	struct late_start l = {.port = port};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, start_late, &l), 0);
	char peer[64];
	snprintf(peer, sizeof(peer), "127.0.0.1:%d", port);
	net_outchan *oc;
	cm_err err;
	cm_err_clear(&err);
	int rc = net_endpoint_open_output(p, peer, 1, &oc, &err);
	pthread_join(t, NULL);
	assert_int_equal(rc, 0);
	net_outchan_free(oc);
	net_endpoint_free(p);
	net_endpoint_free(l.ep);
}

static void test_listen_on_bad_address_names_it(void **state)
{
	net_endpoint *ep;
	cm_err err;
	cm_err_clear(&err);
	assert_int_equal(net_endpoint_new(&ep, "203.0.113.1", 0, &err), FL_EIO);
	assert_non_null(strstr(err.msg, "203.0.113.1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_channels_multiplexed_both_directions),
	    cmocka_unit_test(test_credit_bounds_buffers_in_flight),
	    cmocka_unit_test(test_order_preserved_across_10k_buffers),
	    cmocka_unit_test(test_open_before_register),
	    cmocka_unit_test(test_bogus_frame_type_fails_channel),
	    cmocka_unit_test(test_oversized_length_fails_before_allocating),
	    cmocka_unit_test(test_data_beyond_credit_fails_channel),
	    cmocka_unit_test(test_producer_endpoint_freed_mid_stream),
	    cmocka_unit_test(test_consumer_endpoint_freed_releases_blocked_producer),
	    cmocka_unit_test(test_cancel_releases_producer_waiting_for_credit),
	    cmocka_unit_test(test_dial_retries_until_peer_listens),
	    cmocka_unit_test(test_listen_on_bad_address_names_it),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
