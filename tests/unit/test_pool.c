/*
 * The network buffer pool: reservations refused with Flink's message and
 * numbers, segments recycled (most recently returned first), exhaustion
 * waits (back-pressure) until a buffer returns or the waiter is stopped,
 * and the local-execution sizing rules.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <flinc/flinc.h>

#include "config/config.h"
#include "network/pool.h"

static void test_reservation_beyond_the_pool_is_refused_with_flinks_message(void **state)
{
	net_pool *p;
	cm_err err = {0};
	assert_int_equal(net_pool_new(&p, 100, 4096, &err), 0);
	assert_int_equal(net_pool_reserve(p, 60, &err), 0);
	assert_int_equal(net_pool_unreserved(p), 40);
	assert_int_equal(net_pool_reserve(p, 41, &err), FL_ERANGE);
	assert_non_null(strstr(err.msg, "Insufficient number of network buffers: required 41, "
					"but only 40 available."));
	assert_non_null(strstr(err.msg, "currently set to 100 of 4096 bytes each"));
	assert_non_null(strstr(err.msg, "'taskmanager.memory.network.max'"));
	assert_int_equal(net_pool_unreserved(p), 40); /* a refusal reserves nothing */
	net_pool_unreserve(p, 60);
	assert_int_equal(net_pool_unreserved(p), 100);
	net_pool_free(p);
}

static void test_segments_are_recycled_last_in_first_out(void **state)
{
	net_pool *p;
	cm_err err = {0};
	assert_int_equal(net_pool_new(&p, 4, 4096, &err), 0);
	net_buffer *a, *b;
	assert_int_equal(net_pool_take(p, false, NULL, &a), 0);
	assert_int_equal(net_pool_take(p, false, NULL, &b), 0);
	assert_int_equal(a->cap, 4096);
	assert_int_equal(a->len, 0);
	assert_ptr_not_equal(a->data, b->data);
	uint8_t *bdata = b->data;
	memset(b->data, 0xab, b->cap); /* the whole segment is usable */
	net_buffer_free(b);
	assert_int_equal(net_pool_in_use(p), 1);
	net_buffer *c;
	assert_int_equal(net_pool_take(p, false, NULL, &c), 0);
	assert_ptr_equal(c->data, bdata); /* the warm segment comes back first */
	net_buffer_free(a);
	net_buffer_free(c);
	assert_int_equal(net_pool_in_use(p), 0);
	net_pool_free(p);
}

static void test_exhaustion_without_wait_is_erange(void **state)
{
	net_pool *p;
	cm_err err = {0};
	assert_int_equal(net_pool_new(&p, 2, 4096, &err), 0);
	net_buffer *b[3];
	assert_int_equal(net_pool_take(p, false, NULL, &b[0]), 0);
	assert_int_equal(net_pool_take(p, false, NULL, &b[1]), 0);
	assert_int_equal(net_pool_take(p, false, NULL, &b[2]), FL_ERANGE);
	assert_null(b[2]);
	net_buffer_free(b[0]);
	net_buffer_free(b[1]);
	net_pool_free(p);
}

struct waiter {
	net_pool *p;
	atomic_bool stop;
	atomic_int rc;
	net_buffer *got;
};

static void *wait_for_buffer(void *arg)
{
	struct waiter *w = arg;
	atomic_store(&w->rc, net_pool_take(w->p, true, &w->stop, &w->got));
	return NULL;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {0, ms * 1000000L};
	nanosleep(&ts, NULL);
}

static void test_exhaustion_waits_until_a_buffer_returns(void **state)
{
	net_pool *p;
	cm_err err = {0};
	assert_int_equal(net_pool_new(&p, 1, 4096, &err), 0);
	net_buffer *held;
	assert_int_equal(net_pool_take(p, false, NULL, &held), 0);
	struct waiter w = {.p = p};
	atomic_init(&w.stop, false);
	atomic_init(&w.rc, 1);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, wait_for_buffer, &w), 0);
	sleep_ms(50);
	assert_int_equal(atomic_load(&w.rc), 1); /* still waiting */
	net_buffer_free(held);
	pthread_join(th, NULL);
	assert_int_equal(atomic_load(&w.rc), 0);
	assert_non_null(w.got);
	net_buffer_free(w.got);
	net_pool_free(p);
}

static void test_a_stopped_waiter_gives_up_with_ecanceled(void **state)
{
	net_pool *p;
	cm_err err = {0};
	assert_int_equal(net_pool_new(&p, 1, 4096, &err), 0);
	net_buffer *held;
	assert_int_equal(net_pool_take(p, false, NULL, &held), 0);
	struct waiter w = {.p = p};
	atomic_init(&w.stop, false);
	atomic_init(&w.rc, 1);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, wait_for_buffer, &w), 0);
	sleep_ms(20);
	atomic_store(&w.stop, true);
	net_pool_wake(p);
	pthread_join(th, NULL);
	assert_int_equal(atomic_load(&w.rc), FL_ECANCELED);
	assert_null(w.got);
	net_buffer_free(held);
	net_pool_free(p);
}

static void test_size_from_configuration_follows_flinks_local_rules(void **state)
{
	cfg *c;
	cm_err err = {0};
	int64_t bytes;
	assert_int_equal(cfg_new(&c), 0);
	assert_int_equal(net_pool_size_from_config(c, &bytes, &err), 0);
	assert_int_equal(bytes, 64 << 20); /* neither bound set: 64 MiB */
	assert_int_equal(cfg_set(c, CFG_NET_MAX, "16 mb", &err), 0);
	assert_int_equal(net_pool_size_from_config(c, &bytes, &err), 0);
	assert_int_equal(bytes, 16 << 20); /* one bound set: it is both */
	assert_int_equal(cfg_set(c, CFG_NET_MIN, "32 mb", &err), 0);
	assert_int_equal(net_pool_size_from_config(c, &bytes, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, CFG_NET_MIN));
	cfg_free(c);
}

/* A quota's minimum is there whatever the others hold; beyond it a quota
 * borrows only what nobody reserved, up to its maximum. */
static void test_quotas_keep_their_minimum_and_borrow_only_unreserved_segments(void **state)
{
	net_pool *p;
	cm_err err = {0};
	assert_int_equal(net_pool_new(&p, 10, 4096, &err), 0);
	net_quota *a, *b;
	assert_int_equal(net_quota_new(p, 3, 8, &a, &err), 0);
	assert_int_equal(net_quota_new(p, 3, 3, &b, &err), 0);
	net_buffer *ha[10], *hb[3];
	int na = 0;
	while (net_quota_take(a, false, NULL, &ha[na]) == 0)
		na++;
	assert_int_equal(na, 3 + 4); /* its 3 and the 4 nobody reserved; not b's */
	assert_int_equal(net_quota_in_use(a), 7);
	for (int i = 0; i < 3; i++)
		assert_int_equal(net_quota_take(b, false, NULL, &hb[i]), 0);
	net_buffer *x;
	assert_int_equal(net_quota_take(b, false, NULL, &x), FL_ERANGE); /* at its max */
	/* Nothing is left to reserve while a borrows the rest. */
	net_quota *c;
	assert_int_equal(net_quota_new(p, 1, 1, &c, &err), FL_ERANGE);
	assert_non_null(strstr(err.msg, "required 1, but only 0 available"));
	/* A borrowed segment returned can be borrowed again, by anyone. */
	net_buffer_free(ha[--na]);
	assert_int_equal(net_pool_take(p, false, NULL, &x), 0);
	assert_int_equal(net_quota_take(a, false, NULL, &ha[na]), FL_ERANGE);
	net_buffer_free(x);
	assert_int_equal(net_quota_take(a, false, NULL, &ha[na++]), 0);
	while (na > 0)
		net_buffer_free(ha[--na]);
	for (int i = 0; i < 3; i++)
		net_buffer_free(hb[i]);
	assert_int_equal(net_pool_in_use(p), 0);
	net_quota_close(a);
	net_quota_close(b);
	assert_int_equal(net_pool_unreserved(p), 10);
	net_pool_free(p);
}

/* A closed quota gives its reservation back at once; its buffers still out
 * stay valid (counted as borrowed) and the quota goes with the last one. */
static void test_a_closed_quota_lives_until_its_last_buffer_returns(void **state)
{
	net_pool *p;
	cm_err err = {0};
	assert_int_equal(net_pool_new(&p, 4, 4096, &err), 0);
	net_quota *a;
	assert_int_equal(net_quota_new(p, 4, 4, &a, &err), 0);
	net_buffer *h[2];
	assert_int_equal(net_quota_take(a, false, NULL, &h[0]), 0);
	assert_int_equal(net_quota_take(a, false, NULL, &h[1]), 0);
	net_quota_close(a);
	assert_int_equal(net_pool_unreserved(p), 4);
	/* Only the 2 free segments can be promised now. */
	net_quota *b;
	assert_int_equal(net_quota_new(p, 3, 3, &b, &err), FL_ERANGE);
	assert_int_equal(net_quota_new(p, 2, 2, &b, &err), 0);
	memset(h[0]->data, 0xab, h[0]->cap); /* still ours */
	net_buffer_free(h[0]);
	net_buffer_free(h[1]); /* frees the quota (ASan would report a leak) */
	net_quota_close(b);
	net_pool_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quotas_keep_their_minimum_and_borrow_only_unreserved_segments),
	    cmocka_unit_test(test_a_closed_quota_lives_until_its_last_buffer_returns),
	    cmocka_unit_test(test_reservation_beyond_the_pool_is_refused_with_flinks_message),
	    cmocka_unit_test(test_segments_are_recycled_last_in_first_out),
	    cmocka_unit_test(test_exhaustion_without_wait_is_erange),
	    cmocka_unit_test(test_exhaustion_waits_until_a_buffer_returns),
	    cmocka_unit_test(test_a_stopped_waiter_gives_up_with_ecanceled),
	    cmocka_unit_test(test_size_from_configuration_follows_flinks_local_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
