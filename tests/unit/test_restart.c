/*
 * Restart strategies, as Flink's: how many restarts each allows, their
 * delays, the exponential backoff's growth, cap, jitter and reset, the
 * failure rate's window, and the message when recovery is suppressed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <flinc/flinc.h>

#include "config/config.h"
#include "jobmanager/restart.h"

static void policy(rs_policy *p, const char *const *kv)
{
	cfg *c;
	cm_err err = {0};
	assert_int_equal(cfg_new(&c), 0);
	for (; *kv; kv += 2)
		assert_int_equal(cfg_set(c, kv[0], kv[1], &err), 0);
	assert_int_equal(rs_init(p, c), 0);
	cfg_free(c);
}

static void test_none_by_default(void **state)
{
	rs_policy p;
	policy(&p, (const char *const[]){NULL});
	int64_t d;
	char why[400];
	assert_false(rs_next(&p, 1000, 0.5, &d, why, sizeof(why)));
	assert_string_equal(why, "Recovery is suppressed by Restart deactivated.");
	rs_fini(&p);
}

static void test_fixed_delay(void **state)
{
	rs_policy p;
	policy(&p, (const char *const[]){"restart-strategy.type", "fixed-delay",
					 "restart-strategy.fixed-delay.attempts", "2",
					 "restart-strategy.fixed-delay.delay", "250 ms", NULL});
	int64_t d;
	char why[400];
	assert_true(rs_next(&p, 0, 0.5, &d, why, sizeof(why)));
	assert_int_equal(d, 250);
	assert_true(rs_next(&p, 10, 0.5, &d, why, sizeof(why)));
	assert_false(rs_next(&p, 20, 0.5, &d, why, sizeof(why)));
	assert_non_null(strstr(why, "#2 restart attempts"));
	rs_fini(&p);
}

static void test_exponential_growth_cap_jitter_reset(void **state)
{
	rs_policy p;
	policy(&p, (const char *const[]){
		       "restart-strategy.type", "exponential-delay",
		       "restart-strategy.exponential-delay.initial-backoff", "100 ms",
		       "restart-strategy.exponential-delay.max-backoff", "1 s",
		       "restart-strategy.exponential-delay.backoff-multiplier", "2",
		       "restart-strategy.exponential-delay.jitter-factor", "0",
		       "restart-strategy.exponential-delay.reset-backoff-threshold", "10 s", NULL});
	int64_t d, want[] = {100, 200, 400, 800, 1000, 1000};
	char why[400];
	for (int i = 0; i < 6; i++) {
		assert_true(rs_next(&p, i * 10, 0.5, &d, why, sizeof(why)));
		assert_int_equal(d, want[i]);
	}
	/* Running past the threshold starts again from the initial backoff. */
	assert_true(rs_next(&p, 50 + 10000, 0.5, &d, why, sizeof(why)));
	assert_int_equal(d, 100);
	rs_fini(&p);
	/* Jitter stays within the fraction, and within [initial, max]. */
	policy(&p,
	       (const char *const[]){
		   "restart-strategy.type", "exponential-delay",
		   "restart-strategy.exponential-delay.initial-backoff", "1 s",
		   "restart-strategy.exponential-delay.max-backoff", "10 s",
		   "restart-strategy.exponential-delay.backoff-multiplier", "2",
		   "restart-strategy.exponential-delay.jitter-factor", "0.5",
		   "restart-strategy.exponential-delay.attempts-before-reset-backoff", "3", NULL});
	assert_true(rs_next(&p, 0, 0.99, &d, why, sizeof(why)));
	assert_true(d >= 1000 && d <= 1500);
	assert_true(rs_next(&p, 1, 0.0, &d, why, sizeof(why)));
	assert_true(d >= 1000 && d <= 2000);
	assert_true(rs_next(&p, 2, 0.5, &d, why, sizeof(why)));
	assert_int_equal(d, 4000);
	assert_false(rs_next(&p, 3, 0.5, &d, why, sizeof(why)));
	rs_fini(&p);
}

static void test_failure_rate_window(void **state)
{
	rs_policy p;
	policy(&p,
	       (const char *const[]){"restart-strategy.type", "failure-rate",
				     "restart-strategy.failure-rate.max-failures-per-interval", "2",
				     "restart-strategy.failure-rate.failure-rate-interval", "1 s",
				     "restart-strategy.failure-rate.delay", "10 ms", NULL});
	int64_t d;
	char why[400];
	assert_true(rs_next(&p, 0, 0.5, &d, why, sizeof(why)));
	assert_int_equal(d, 10);
	assert_true(rs_next(&p, 100, 0.5, &d, why, sizeof(why)));
	/* A third failure within the second: suppressed. */
	assert_false(rs_next(&p, 500, 0.5, &d, why, sizeof(why)));
	assert_non_null(strstr(why, "maximum of 2 failures within interval 1000 ms"));
	/* Failures spread out are allowed. */
	assert_true(rs_next(&p, 5000, 0.5, &d, why, sizeof(why)));
	rs_fini(&p);
}

static void test_bad_values_are_refused_naming_the_key(void **state)
{
	cfg *c;
	cm_err err = {0};
	assert_int_equal(cfg_new(&c), 0);
	assert_int_equal(cfg_set(c, "restart-strategy.type", "sometimes", &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "restart-strategy.type"));
	cm_err_clear(&err);
	assert_int_equal(
	    cfg_set(c, "restart-strategy.exponential-delay.backoff-multiplier", "0.5", &err),
	    FL_EINVAL);
	assert_non_null(strstr(err.msg, "between 1 and 1000"));
	cfg_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_none_by_default),
	    cmocka_unit_test(test_fixed_delay),
	    cmocka_unit_test(test_exponential_growth_cap_jitter_reset),
	    cmocka_unit_test(test_failure_rate_window),
	    cmocka_unit_test(test_bad_values_are_refused_naming_the_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
