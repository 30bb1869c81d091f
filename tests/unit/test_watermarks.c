/* test_watermarks.c — a task's event-time watermark over its input
 * channels (runtime/taskmanager/watermarks.h, Flink's StatusWatermarkValve):
 * the minimum over open channels, passed on only when it rises. */
#include <setjmp.h>
#include <stdarg.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_the_minimum_over_channels_passes_on_when_it_rises),
	    cmocka_unit_test(test_ended_channels_hold_nothing_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
