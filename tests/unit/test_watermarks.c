/* test_watermarks.c — a task's event-time watermark over its input
 * channels (runtime/taskmanager/watermarks.h, Flink's StatusWatermarkValve):
 * the minimum over open channels, passed on only when it rises; idle
 * channels (withIdleness) excluded until they send a watermark again, one
 * that comes back behind held back by nothing until it caught up, and the
 * task idle when every open channel is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "taskmanager/watermarks.h"

static void test_the_minimum_over_channels_passes_on_when_it_rises(void **state)
{
	(void)state;
	tm_wm_valve v;
	assert_int_equal(tm_wm_init(&v, 3), 0);
	int64_t w = 0;
	assert_false(tm_wm_input(&v, 0, 100, &w)); /* channels 1 and 2 have none */
	assert_false(tm_wm_input(&v, 1, 50, &w));
	assert_true(tm_wm_input(&v, 2, 70, &w));
	assert_int_equal(w, 50);
	assert_false(tm_wm_input(&v, 2, 60, &w)); /* a channel's watermark never falls */
	assert_false(tm_wm_input(&v, 0, 200, &w)); /* the minimum is still 50 */
	assert_true(tm_wm_input(&v, 1, 300, &w));
	assert_int_equal(w, 70);
	tm_wm_fini(&v);
}

static void test_ended_channels_hold_nothing_back(void **state)
{
	(void)state;
	tm_wm_valve v;
	assert_int_equal(tm_wm_init(&v, 2), 0);
	int64_t w = 0;
	assert_false(tm_wm_input(&v, 0, 10, &w));
	assert_true(tm_wm_end(&v, 1, &w)); /* only channel 0 counts now */
	assert_int_equal(w, 10);
	assert_false(tm_wm_input(&v, 1, 99, &w)); /* ended: ignored */
	assert_true(tm_wm_end(&v, 0, &w)); /* every channel ended: the end of time */
	assert_int_equal(w, TM_WM_END);
	assert_false(tm_wm_end(&v, 0, &w));
	assert_false(tm_wm_input(&v, 7, 1, &w)); /* no such channel */
	tm_wm_fini(&v);
}

static void test_idle_channels_hold_nothing_back_until_active(void **state)
{
	(void)state;
	tm_wm_valve v;
	assert_int_equal(tm_wm_init(&v, 3), 0);
	int64_t w = 0;
	bool idle = true;
	assert_false(tm_wm_input(&v, 0, 100, &w));
	assert_false(tm_wm_input(&v, 1, 200, &w));
	/* Channel 2 never sent one: its idleness lets the others through. */
	assert_true(tm_wm_input(&v, 2, TM_WM_IDLE, &w));
	assert_int_equal(w, 100);
	assert_false(tm_wm_status(&v, &idle)); /* the task is not idle */
	assert_true(tm_wm_input(&v, 0, 300, &w));
	assert_int_equal(w, 200);
	/* Back with a watermark behind the task's: it holds nothing back
	 * until it caught up, and the others go on meanwhile. */
	assert_false(tm_wm_input(&v, 2, 150, &w));
	assert_true(tm_wm_input(&v, 1, 400, &w));
	assert_int_equal(w, 300);
	assert_false(tm_wm_input(&v, 2, 320, &w)); /* caught up: it holds back again */
	assert_true(tm_wm_input(&v, 0, 500, &w));
	assert_int_equal(w, 320);
	tm_wm_fini(&v);
}

static void test_the_task_is_idle_when_every_open_channel_is(void **state)
{
	(void)state;
	tm_wm_valve v;
	assert_int_equal(tm_wm_init(&v, 2), 0);
	int64_t w = 0;
	bool idle = false;
	assert_false(tm_wm_input(&v, 0, 10, &w));
	assert_true(tm_wm_input(&v, 1, 20, &w));
	assert_int_equal(w, 10);
	assert_true(tm_wm_input(&v, 0, TM_WM_IDLE, &w)); /* only channel 1 counts */
	assert_int_equal(w, 20);
	assert_false(tm_wm_status(&v, &idle));
	assert_false(tm_wm_input(&v, 1, TM_WM_IDLE, &w)); /* both idle: no watermark rises */
	assert_true(tm_wm_status(&v, &idle));
	assert_true(idle);
	assert_false(tm_wm_status(&v, &idle)); /* said once */
	assert_false(tm_wm_input(&v, 1, TM_WM_IDLE, &w));
	/* A watermark no higher than its last still makes channel 1 active. */
	assert_false(tm_wm_input(&v, 1, 20, &w));
	assert_true(tm_wm_status(&v, &idle));
	assert_false(idle);
	/* The idle one ending: the task goes by the other alone. */
	assert_false(tm_wm_end(&v, 0, &w)); /* still 20 */
	assert_false(tm_wm_status(&v, &idle));
	assert_true(tm_wm_input(&v, 1, 30, &w));
	assert_int_equal(w, 30);
	/* Every channel ended: the end of time, and not idle. */
	assert_false(tm_wm_input(&v, 1, TM_WM_IDLE, &w));
	assert_true(tm_wm_status(&v, &idle) && idle);
	assert_true(tm_wm_end(&v, 1, &w));
	assert_int_equal(w, TM_WM_END);
	assert_true(tm_wm_status(&v, &idle));
	assert_false(idle);
	tm_wm_fini(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_the_minimum_over_channels_passes_on_when_it_rises),
	    cmocka_unit_test(test_ended_channels_hold_nothing_back),
	    cmocka_unit_test(test_idle_channels_hold_nothing_back_until_active),
	    cmocka_unit_test(test_the_task_is_idle_when_every_open_channel_is),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
