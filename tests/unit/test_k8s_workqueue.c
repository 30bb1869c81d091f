/*
 * test_k8s_workqueue.c — the controller work queue (runtime/k8s/workqueue.h):
 * deduplication, a key never handed out twice at once, rate-limited retries,
 * the key cap and shutdown.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/clock.h"
#include "k8s/workqueue.h"

static void test_keys_are_queued_once_in_order(void **state)
{
	(void)state;
	k8s_queue *q;
	assert_int_equal(k8s_queue_new(&q, 0, 0, 0), 0);
	assert_int_equal(k8s_queue_add(q, "ns/a"), 0);
	assert_int_equal(k8s_queue_add(q, "ns/b"), 0);
	assert_int_equal(k8s_queue_add(q, "ns/a"), 0);
	assert_int_equal(k8s_queue_len(q), 2);
	char k[K8S_KEY_MAX];
	assert_int_equal(k8s_queue_get(q, k, 0), 0);
	assert_string_equal(k, "ns/a");
	assert_int_equal(k8s_queue_get(q, k, 0), 0);
	assert_string_equal(k, "ns/b");
	assert_int_equal(k8s_queue_get(q, k, 0), FL_ETIMEDOUT);
	k8s_queue_done(q, "ns/a");
	k8s_queue_done(q, "ns/b");
	assert_int_equal(k8s_queue_get(q, k, 10), FL_ETIMEDOUT);
	k8s_queue_free(q);
}

static void test_a_key_being_processed_is_queued_again_at_done(void **state)
{
	(void)state;
	k8s_queue *q;
	assert_int_equal(k8s_queue_new(&q, 0, 0, 0), 0);
	char k[K8S_KEY_MAX];
	assert_int_equal(k8s_queue_add(q, "x"), 0);
	assert_int_equal(k8s_queue_get(q, k, 0), 0);
	/* Changed again while a worker handles it: not handed to another. */
	assert_int_equal(k8s_queue_add(q, "x"), 0);
	assert_int_equal(k8s_queue_add(q, "x"), 0);
	assert_int_equal(k8s_queue_len(q), 0);
	assert_int_equal(k8s_queue_get(q, k, 0), FL_ETIMEDOUT);
	k8s_queue_done(q, "x");
	assert_int_equal(k8s_queue_len(q), 1);
	assert_int_equal(k8s_queue_get(q, k, 0), 0);
	assert_string_equal(k, "x");
	k8s_queue_done(q, "x");
	assert_int_equal(k8s_queue_get(q, k, 0), FL_ETIMEDOUT);
	k8s_queue_free(q);
}

static void test_retries_back_off_and_forget_resets(void **state)
{
	(void)state;
	k8s_queue *q;
	assert_int_equal(k8s_queue_new(&q, 0, 40, 160), 0);
	char k[K8S_KEY_MAX];
	long waits[4];
	for (int i = 0; i < 4; i++) {
		assert_int_equal(k8s_queue_retry(q, "r"), 0);
		assert_int_equal(k8s_queue_retries(q, "r"), i + 1);
		int64_t t0 = cm_now_ms();
		assert_int_equal(k8s_queue_get(q, k, 5000), 0);
		waits[i] = (long)(cm_now_ms() - t0);
		k8s_queue_done(q, "r");
	}
	/* 40, 80, 160, 160 (the cap) ms, give or take the scheduler. */
	assert_true(waits[0] >= 35 && waits[0] < 1000);
	assert_true(waits[1] >= 75);
	assert_true(waits[2] >= 155);
	assert_true(waits[3] >= 155 && waits[3] < 2000);
	k8s_queue_forget(q, "r");
	assert_int_equal(k8s_queue_retries(q, "r"), 0);
	/* An add beats a pending delayed retry. */
	assert_int_equal(k8s_queue_retry(q, "s"), 0);
	assert_int_equal(k8s_queue_add(q, "s"), 0);
	assert_int_equal(k8s_queue_get(q, k, 0), 0);
	assert_string_equal(k, "s");
	k8s_queue_done(q, "s");
	k8s_queue_free(q);
}

static void test_cap_and_long_keys(void **state)
{
	(void)state;
	k8s_queue *q;
	assert_int_equal(k8s_queue_new(&q, 2, 0, 0), 0);
	assert_int_equal(k8s_queue_add(q, "a"), 0);
	assert_int_equal(k8s_queue_add(q, "b"), 0);
	assert_int_equal(k8s_queue_add(q, "c"), FL_ERANGE);
	assert_int_equal(k8s_queue_add(q, "a"), 0);
	char k[K8S_KEY_MAX];
	assert_int_equal(k8s_queue_get(q, k, 0), 0);
	k8s_queue_done(q, k); /* done and forgotten: its slot is free again */
	assert_int_equal(k8s_queue_add(q, "c"), 0);
	char longkey[K8S_KEY_MAX + 1];
	memset(longkey, 'k', K8S_KEY_MAX);
	longkey[K8S_KEY_MAX] = 0;
	k8s_queue_forget(q, "b");
	assert_int_equal(k8s_queue_add(q, longkey), FL_ERANGE);
	k8s_queue_free(q);
}

static void *shut_later(void *arg)
{
	usleep(50000);
	k8s_queue_shutdown(arg);
	return NULL;
}

static void test_shutdown_wakes_a_blocked_get(void **state)
{
	(void)state;
	k8s_queue *q;
	assert_int_equal(k8s_queue_new(&q, 0, 0, 0), 0);
	assert_int_equal(k8s_queue_add(q, "left"), 0);
	assert_int_equal(k8s_queue_add_after(q, "delayed", 60000), 0);
	pthread_t t;
	char k[K8S_KEY_MAX];
	assert_int_equal(k8s_queue_get(q, k, -1), 0);
	k8s_queue_done(q, k);
	pthread_create(&t, NULL, shut_later, q);
	assert_int_equal(k8s_queue_get(q, k, -1), FL_ECLOSED);
	pthread_join(t, NULL);
	assert_int_equal(k8s_queue_add(q, "late"), FL_ECLOSED);
	k8s_queue_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keys_are_queued_once_in_order),
	    cmocka_unit_test(test_a_key_being_processed_is_queued_again_at_done),
	    cmocka_unit_test(test_retries_back_off_and_forget_resets),
	    cmocka_unit_test(test_cap_and_long_keys),
	    cmocka_unit_test(test_shutdown_wakes_a_blocked_get),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
