/* test_gate.c — the input gate: per-channel FIFO, fairness, back-pressure,
 * deadlines, cancellation, barrier blocking, failure, and the local outchan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <flinc/flinc.h>

#include "common/clock.h"
#include "network/buffer.h"
#include "network/gate.h"
#include "network/outchan.h"

static net_buffer *tagged(int64_t seq)
{
	net_buffer *b = net_buffer_new(8);
	assert_non_null(b);
	memcpy(b->data, &seq, 8);
	b->len = 8;
	return b;
}

static int64_t tag_of(const net_buffer *b)
{
	int64_t v;
	memcpy(&v, b->data, 8);
	return v;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void test_new_rejects_bad_arguments(void **state)
{
	net_gate *g;
	assert_int_equal(net_gate_new(&g, 0, 4), FL_EINVAL);
	assert_int_equal(net_gate_new(&g, 2, 0), FL_EINVAL);
	assert_int_equal(net_gate_new(&g, 3, 1), 0);
	assert_int_equal(net_gate_channels(g), 3);
	net_gate_free(g);
}

static void test_fifo_per_channel(void **state)
{
	net_gate *g;
	assert_int_equal(net_gate_new(&g, 1, 8), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(net_gate_push(g, 0, tagged(i)), 0);
	for (int i = 0; i < 8; i++) {
		net_buffer *b;
		int ch = -1;
		assert_int_equal(net_gate_pop(g, 0, &b, &ch), 0);
		assert_int_equal(ch, 0);
		assert_int_equal(tag_of(b), i);
		net_buffer_free(b);
	}
	net_buffer *b;
	int ch;
	assert_int_equal(net_gate_pop(g, 0, &b, &ch), FL_ETIMEDOUT);
	net_gate_free(g);
}

static void test_round_robin_across_channels(void **state)
{
	net_gate *g;
	assert_int_equal(net_gate_new(&g, 3, 4), 0);
	/* Channel 0 fills up first; the others must not wait behind it. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(net_gate_push(g, 0, tagged(i)), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(net_gate_push(g, 1, tagged(100 + i)), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(net_gate_push(g, 2, tagged(200 + i)), 0);
	for (int round = 0; round < 3; round++) {
		for (int c = 0; c < 3; c++) {
			net_buffer *b;
			int ch;
			assert_int_equal(net_gate_pop(g, -1, &b, &ch), 0);
			assert_int_equal(ch, c);
			assert_int_equal(tag_of(b), c * 100 + round);
			net_buffer_free(b);
		}
	}
	net_gate_free(g);
}

struct producer {
	net_gate *g;
	net_outchan *oc; /* when set, push through it instead */
	int ch;
	int count;
	atomic_int pushed;
	int rc;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	p->rc = 0;
	for (int i = 0; i < p->count; i++) {
		int rc = p->oc ? net_outchan_send(p->oc, tagged(i))
			       : net_gate_push(p->g, p->ch, tagged(i));
		if (rc != 0) {
			p->rc = rc;
			break;
		}
		atomic_fetch_add(&p->pushed, 1);
	}
	return NULL;
}

static void wait_pushed(struct producer *p, int n)
{
	int64_t deadline = cm_now_ms() + 5000;
	while (atomic_load(&p->pushed) < n && cm_now_ms() < deadline)
		sleep_ms(1);
	assert_int_equal(atomic_load(&p->pushed), n);
}

static void test_producer_blocks_when_full_and_resumes_on_pop(void **state)
{
	net_gate *g;
	assert_int_equal(net_gate_new(&g, 1, 2), 0);
	struct producer p = {.g = g, .ch = 0, .count = 10};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, produce, &p), 0);
	wait_pushed(&p, 2);
	sleep_ms(50);
	assert_int_equal(atomic_load(&p.pushed), 2); /* back-pressure holds it */
	for (int i = 0; i < 10; i++) {
		net_buffer *b;
		int ch;
		assert_int_equal(net_gate_pop(g, cm_now_ms() + 5000, &b, &ch), 0);
		assert_int_equal(tag_of(b), i);
		net_buffer_free(b);
	}
	pthread_join(t, NULL);
	assert_int_equal(p.rc, 0);
	assert_int_equal(atomic_load(&p.pushed), 10);
	net_gate_free(g);
}

static void test_push_nowait_full_is_erange(void **state)
{
	net_gate *g;
	assert_int_equal(net_gate_new(&g, 2, 1), 0);
	int64_t before = net_buffer_bytes_live();
	assert_int_equal(net_gate_push_nowait(g, 1, tagged(1)), 0);
	assert_int_equal(net_gate_push_nowait(g, 1, tagged(2)), FL_ERANGE);
	assert_int_equal(net_gate_push_nowait(g, 0, tagged(3)), 0);
	net_gate_free(g);
	assert_int_equal(net_buffer_bytes_live(), before);
}

static void test_pop_deadline_times_out(void **state)
{
	net_gate *g;
	assert_int_equal(net_gate_new(&g, 2, 1), 0);
	int64_t t0 = cm_now_ms();
	net_buffer *b = (net_buffer *)1;
	int ch;
	assert_int_equal(net_gate_pop(g, t0 + 60, &b, &ch), FL_ETIMEDOUT);
	assert_null(b);
	assert_true(cm_now_ms() - t0 >= 60);
	net_gate_free(g);
}

struct consumer {
	net_gate *g;
	int rc;
	int ch;
	int64_t tag;
};

static void *consume_one(void *arg)
{
	struct consumer *c = arg;
	net_buffer *b = NULL;
	c->rc = net_gate_pop(c->g, cm_now_ms() + 10000, &b, &c->ch);
	if (b) {
		c->tag = tag_of(b);
		net_buffer_free(b);
	}
	return NULL;
}

static void test_cancel_wakes_consumer_and_producer(void **state)
{
	net_gate *g;
	assert_int_equal(net_gate_new(&g, 2, 1), 0);
	/* Consumer waits on an empty gate... */
	struct consumer c = {.g = g};
	pthread_t tc;
	assert_int_equal(pthread_create(&tc, NULL, consume_one, &c), 0);
	sleep_ms(30);
	net_gate_block(g, 0); /* ...and will not take channel 0's data. */
	struct producer p = {.g = g, .ch = 0, .count = 5};
	pthread_t tp;
	assert_int_equal(pthread_create(&tp, NULL, produce, &p), 0);
	wait_pushed(&p, 1);
	sleep_ms(30);
	int64_t t0 = cm_now_ms();
	net_gate_cancel(g);
	pthread_join(tc, NULL);
	pthread_join(tp, NULL);
	assert_true(cm_now_ms() - t0 < 2000);
	assert_int_equal(c.rc, FL_ECANCELED);
	assert_int_equal(p.rc, FL_ECANCELED);
	assert_int_equal(net_gate_push(g, 1, tagged(0)), FL_ECANCELED);
	net_buffer *b;
	int ch;
	assert_int_equal(net_gate_pop(g, -1, &b, &ch), FL_ECANCELED);
	net_gate_free(g);
}

static void test_blocked_channel_is_skipped_until_unblocked(void **state)
{
	net_gate *g;
	assert_int_equal(net_gate_new(&g, 2, 4), 0);
	assert_int_equal(net_gate_push(g, 0, tagged(1)), 0);
	assert_int_equal(net_gate_push(g, 0, tagged(2)), 0);
	assert_int_equal(net_gate_push(g, 1, tagged(10)), 0);
	net_gate_block(g, 0);
	net_buffer *b;
	int ch;
	assert_int_equal(net_gate_pop(g, 0, &b, &ch), 0);
	assert_int_equal(ch, 1);
	assert_int_equal(tag_of(b), 10);
	net_buffer_free(b);
	assert_int_equal(net_gate_pop(g, cm_now_ms() + 20, &b, &ch), FL_ETIMEDOUT);

	/* A consumer waiting on the blocked gate wakes when unblocked. */
	struct consumer c = {.g = g};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, consume_one, &c), 0);
	sleep_ms(30);
	net_gate_unblock_all(g);
	pthread_join(t, NULL);
	assert_int_equal(c.rc, 0);
	assert_int_equal(c.ch, 0);
	assert_int_equal(c.tag, 1);
	assert_int_equal(net_gate_pop(g, 0, &b, &ch), 0);
	assert_int_equal(tag_of(b), 2);
	net_buffer_free(b);
	net_gate_free(g);
}

static void test_fail_returns_eclosed_with_reason(void **state)
{
	net_gate *g;
	assert_int_equal(net_gate_new(&g, 3, 1), 0);
	/* A producer blocked on the channel that fails is released. */
	struct producer p = {.g = g, .ch = 2, .count = 3};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, produce, &p), 0);
	wait_pushed(&p, 1);
	sleep_ms(20);
	net_gate_fail(g, 2, "connection to 10.0.0.7:6121 lost");
	pthread_join(t, NULL);
	assert_int_equal(p.rc, FL_ECLOSED);
	net_buffer *b;
	int ch = -1;
	assert_int_equal(net_gate_pop(g, -1, &b, &ch), FL_ECLOSED);
	assert_int_equal(ch, 2);
	assert_non_null(strstr(net_gate_error(g), "10.0.0.7:6121 lost"));
	assert_non_null(strstr(net_gate_error(g), "channel 2"));
	assert_int_equal(net_gate_push(g, 2, tagged(0)), FL_ECLOSED);
	assert_int_equal(net_gate_push_nowait(g, 2, tagged(0)), FL_ECLOSED);
	net_gate_fail(g, 0, "second failure");
	assert_null(strstr(net_gate_error(g), "second"));
	net_gate_free(g);
}

static void test_free_with_queued_buffers_leaks_nothing(void **state)
{
	int64_t before = net_buffer_bytes_live();
	net_gate *g;
	assert_int_equal(net_gate_new(&g, 4, 16), 0);
	for (int c = 0; c < 4; c++) {
		for (int i = 0; i < 10; i++)
			assert_int_equal(net_gate_push(g, c, net_buffer_new(32 * 1024)), 0);
		assert_int_equal(net_gate_push(g, c, net_buffer_event(NET_EV_BARRIER, 7)), 0);
	}
	assert_true(net_buffer_bytes_live() > before + 40 * 32 * 1024);
	net_gate_free(g);
	assert_int_equal(net_buffer_bytes_live(), before);
}

struct listener_rec {
	net_gate *g;
	int calls;
	int last_ch;
	pthread_t thread;
};

static void on_consumed(void *arg, int ch)
{
	struct listener_rec *r = arg;
	r->calls++;
	r->last_ch = ch;
	r->thread = pthread_self();
	/* Takes the gate lock: would deadlock if pop still held it. */
	net_gate_block(r->g, ch);
	net_gate_unblock_all(r->g);
}

static void test_consumed_listener_runs_on_consumer_after_unlock(void **state)
{
	net_gate *g;
	assert_int_equal(net_gate_new(&g, 2, 2), 0);
	struct listener_rec r = {.g = g};
	net_gate_set_consumed_fn(g, 1, on_consumed, &r);
	assert_int_equal(net_gate_push(g, 0, tagged(0)), 0);
	assert_int_equal(net_gate_push(g, 1, tagged(1)), 0);
	net_buffer *b;
	int ch;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(net_gate_pop(g, 0, &b, &ch), 0);
		net_buffer_free(b);
	}
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.last_ch, 1);
	assert_true(pthread_equal(r.thread, pthread_self()));
	net_gate_free(g);
}

static void test_many_producers_keep_per_channel_order(void **state)
{
	enum { NP = 4, N = 3000 };
	net_gate *g;
	assert_int_equal(net_gate_new(&g, NP, 3), 0);
	struct producer p[NP];
	pthread_t t[NP];
	for (int i = 0; i < NP; i++) {
		p[i] = (struct producer){.g = g, .ch = i, .count = N};
		assert_int_equal(pthread_create(&t[i], NULL, produce, &p[i]), 0);
	}
	int64_t next[NP] = {0};
	for (int k = 0; k < NP * N; k++) {
		net_buffer *b;
		int ch;
		assert_int_equal(net_gate_pop(g, cm_now_ms() + 10000, &b, &ch), 0);
		assert_int_equal(tag_of(b), next[ch]);
		next[ch]++;
		net_buffer_free(b);
	}
	for (int i = 0; i < NP; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(p[i].rc, 0);
		assert_int_equal(next[i], N);
	}
	net_gate_free(g);
}

static void test_local_outchan_delivers_and_cancel_releases_producer(void **state)
{
	net_gate *g;
	assert_int_equal(net_gate_new(&g, 2, 1), 0);
	net_outchan *oc;
	assert_int_equal(net_outchan_local(&oc, g, 1), 0);
	struct producer p = {.oc = oc, .count = 5};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, produce, &p), 0);
	wait_pushed(&p, 1);
	sleep_ms(30);
	net_outchan_cancel(oc);
	pthread_join(t, NULL);
	assert_int_equal(p.rc, FL_ECANCELED);
	assert_int_equal(net_outchan_send(oc, tagged(9)), FL_ECANCELED);
	/* The gate itself is not cancelled: its consumer still reads. */
	net_buffer *b;
	int ch;
	assert_int_equal(net_gate_pop(g, 0, &b, &ch), 0);
	assert_int_equal(ch, 1);
	assert_int_equal(tag_of(b), 0);
	net_buffer_free(b);
	net_outchan_free(oc);
	net_gate_free(g);
}

static void *wake_later(void *arg)
{
	sleep_ms(20);
	net_gate_wake(arg);
	return NULL;
}

/* net_gate_wake ends the consumer's wait for input (the one going on, or
 * the next) without a buffer; a buffer ready is still taken first. */
static void test_wake_ends_a_wait_once(void **state)
{
	(void)state;
	net_gate *g;
	net_buffer *b;
	int ch;
	assert_int_equal(net_gate_new(&g, 2, 4), 0);
	net_gate_wake(g);
	assert_int_equal(net_gate_pop(g, -1, &b, &ch), FL_ETIMEDOUT);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, wake_later, g), 0);
	assert_int_equal(net_gate_pop(g, -1, &b, &ch), FL_ETIMEDOUT);
	pthread_join(th, NULL);
	assert_int_equal(net_gate_push(g, 1, tagged(7)), 0);
	net_gate_wake(g);
	assert_int_equal(net_gate_pop(g, -1, &b, &ch), 0);
	assert_int_equal(tag_of(b), 7);
	net_buffer_free(b);
	assert_int_equal(net_gate_pop(g, -1, &b, &ch), FL_ETIMEDOUT);
	/* Once: the next wait times out at its deadline only. */
	int64_t t0 = cm_now_ms();
	assert_int_equal(net_gate_pop(g, t0 + 30, &b, &ch), FL_ETIMEDOUT);
	assert_true(cm_now_ms() >= t0 + 30);
	net_gate_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_rejects_bad_arguments),
	    cmocka_unit_test(test_fifo_per_channel),
	    cmocka_unit_test(test_round_robin_across_channels),
	    cmocka_unit_test(test_producer_blocks_when_full_and_resumes_on_pop),
	    cmocka_unit_test(test_push_nowait_full_is_erange),
	    cmocka_unit_test(test_pop_deadline_times_out),
	    cmocka_unit_test(test_cancel_wakes_consumer_and_producer),
	    cmocka_unit_test(test_blocked_channel_is_skipped_until_unblocked),
	    cmocka_unit_test(test_fail_returns_eclosed_with_reason),
	    cmocka_unit_test(test_free_with_queued_buffers_leaks_nothing),
	    cmocka_unit_test(test_consumed_listener_runs_on_consumer_after_unlock),
	    cmocka_unit_test(test_many_producers_keep_per_channel_order),
	    cmocka_unit_test(test_local_outchan_delivers_and_cancel_releases_producer),
	    cmocka_unit_test(test_wake_ends_a_wait_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
