/*
 * test_k8s_lease.c — the pure parts of leader election on a Lease
 * (runtime/k8s/lease.h): when a candidate takes, renews or waits; the
 * MicroTime it writes; options refused by name; the holder identity. The
 * election itself runs against the real API server in
 * tests/e2e/k8s_client_e2e.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "k8s/lease.h"

static void test_a_free_lease_is_taken(void **s)
{
	(void)s;
	assert_int_equal(k8s_lease_decide(NULL, "me", 0, 15000, 15000, 1), K8S_LEASE_TAKE);
	assert_int_equal(k8s_lease_decide("", "me", 0, 15000, 15000, 1), K8S_LEASE_TAKE);
}

static void test_own_lease_is_renewed(void **s)
{
	(void)s;
	/* Even when it looks expired: the holder is this candidate. */
	assert_int_equal(k8s_lease_decide("me", "me", 0, 15000, 15000, 100000), K8S_LEASE_RENEW);
}

static void test_anothers_lease_is_taken_only_once_expired_as_observed(void **s)
{
	(void)s;
	/* Observed at 1000 (when the record last changed), 15 s lease. */
	assert_int_equal(k8s_lease_decide("other", "me", 1000, 15000, 15000, 1000), K8S_LEASE_WAIT);
	assert_int_equal(k8s_lease_decide("other", "me", 1000, 15000, 15000, 15999),
			 K8S_LEASE_WAIT);
	assert_int_equal(k8s_lease_decide("other", "me", 1000, 15000, 15000, 16000),
			 K8S_LEASE_TAKE);
	/* The record's own duration wins over the default; none: default. */
	assert_int_equal(k8s_lease_decide("other", "me", 1000, 1000, 15000, 2000), K8S_LEASE_TAKE);
	assert_int_equal(k8s_lease_decide("other", "me", 1000, 0, 15000, 2000), K8S_LEASE_WAIT);
	/* A prefix of this identity is someone else. */
	assert_int_equal(k8s_lease_decide("me-1", "me", 1000, 15000, 15000, 2000), K8S_LEASE_WAIT);
}

static void test_micro_time(void **s)
{
	(void)s;
	char buf[40];
	k8s_micro_time(0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00.000000Z");
	/* 2026-11-30T10:20:04.123Z */
	k8s_micro_time(1796034004123LL, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-30T10:20:04.123000Z");
}

static void test_options_refused_by_name(void **s)
{
	(void)s;
	k8s_lease_opts o = {.ns = "ns",
			    .name = "x-jobmanager-leader",
			    .identity = "pod-1",
			    .lease_duration_ms = 15000,
			    .renew_deadline_ms = 10000,
			    .retry_period_ms = 5000};
	cm_err err = {0};
	assert_int_equal(k8s_lease_opts_check(&o, &err), 0);
	o.renew_deadline_ms = 15000;
	err = (cm_err){0};
	assert_int_equal(k8s_lease_opts_check(&o, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "lease-duration"));
	o.renew_deadline_ms = 4000;
	err = (cm_err){0};
	assert_int_equal(k8s_lease_opts_check(&o, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "retry-period"));
	o.renew_deadline_ms = 10000;
	o.retry_period_ms = 0;
	err = (cm_err){0};
	assert_int_equal(k8s_lease_opts_check(&o, &err), FL_EINVAL);
	o.retry_period_ms = 5000;
	o.identity = "";
	err = (cm_err){0};
	assert_int_equal(k8s_lease_opts_check(&o, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "identity"));
	char longid[K8S_LEASE_ID_MAX + 1];
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	o.identity = longid;
	err = (cm_err){0};
	assert_int_equal(k8s_lease_opts_check(&o, &err), FL_EINVAL);
}

static void test_identity_is_pod_name_and_random(void **s)
{
	(void)s;
	setenv("POD_NAME", "job-abc-7d9f", 1);
	char a[K8S_LEASE_ID_MAX], b[K8S_LEASE_ID_MAX];
	assert_int_equal(k8s_lease_identity(a, sizeof(a)), 0);
	assert_int_equal(k8s_lease_identity(b, sizeof(b)), 0);
	assert_int_equal(strncmp(a, "job-abc-7d9f-", 13), 0);
	assert_int_equal(strlen(a), 13 + 16);
	assert_string_not_equal(a, b); /* two candidates of one pod differ */
	char small[8];
	assert_int_equal(k8s_lease_identity(small, sizeof(small)), FL_ERANGE);
	unsetenv("POD_NAME");
	assert_int_equal(k8s_lease_identity(a, sizeof(a)), 0);
	assert_true(strlen(a) > 17);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_free_lease_is_taken),
	    cmocka_unit_test(test_own_lease_is_renewed),
	    cmocka_unit_test(test_anothers_lease_is_taken_only_once_expired_as_observed),
	    cmocka_unit_test(test_micro_time),
	    cmocka_unit_test(test_options_refused_by_name),
	    cmocka_unit_test(test_identity_is_pod_name_and_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
