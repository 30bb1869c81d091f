/*
 * test_client_args.c — the client's command line (client/args.h): which
 * command, which options apply where, what each option sets, and the
 * refusals, before anything is loaded or sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "client/args.h"
#include "client/remote.h"

/* Parses a NULL-terminated list of arguments after "flinc". */
#define PARSE(a, err, ...) parse(a, err, (char *[]){"flinc", __VA_ARGS__, NULL})

static int parse(cl_args *a, cm_err *err, char **argv)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	cm_err_clear(err);
	return cl_args_parse(argc, argv, a, err);
}

static void test_no_or_unknown_command_is_enoent(void **state)
{
	cl_args a;
	cm_err err = {0};
	char *argv[] = {"flinc", NULL};
	assert_int_equal(cl_args_parse(1, argv, &a, &err), FL_ENOENT);
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "launch"), FL_ENOENT);
	assert_string_equal(err.msg, "unknown command 'launch'");
	cl_args_fini(&a);
}

static void test_help_and_version(void **state)
{
	cl_args a;
	cm_err err;
	const char *help[] = {"help", "-h", "--help"};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(PARSE(&a, &err, (char *)help[i]), 0);
		assert_int_equal(a.cmd, CL_CMD_HELP);
		cl_args_fini(&a);
	}
	assert_int_equal(PARSE(&a, &err, "version"), 0);
	assert_int_equal(a.cmd, CL_CMD_VERSION);
	cl_args_fini(&a);
	/* -h after a command, even with other options. */
	assert_int_equal(PARSE(&a, &err, "list", "-a", "--help"), 0);
	assert_int_equal(a.cmd, CL_CMD_HELP);
	cl_args_fini(&a);
}

static void test_run_without_local_is_remote_with_every_option(void **state)
{
	cl_args a;
	cm_err err;
	assert_int_equal(PARSE(&a, &err, "run", "-m", "jm:9091", "-d", "-p", "4", "-D", "a.b=1",
			       "-Dc.d=2", "-c", "conf.yaml", "-v", "--no-progress", "job.so",
			       "--mode", "batch", "-p", "7"),
			 0);
	assert_int_equal(a.cmd, CL_CMD_RUN);
	assert_true(a.remote);
	assert_false(a.local);
	assert_true(a.detached);
	assert_false(a.sae);
	assert_int_equal(a.parallelism, 4);
	assert_string_equal(a.jobmanager, "jm:9091");
	assert_int_equal(a.ndyn, 2);
	assert_string_equal(a.dyn[0], "a.b=1");
	assert_string_equal(a.dyn[1], "c.d=2");
	assert_string_equal(a.config_file, "conf.yaml");
	assert_true(a.verbose);
	assert_true(a.no_progress);
	/* The job, then its own arguments, options included. */
	assert_int_equal(a.first, 14);
	cl_args_fini(&a);
}

static void test_run_long_options_and_sae(void **state)
{
	cl_args a;
	cm_err err;
	assert_int_equal(PARSE(&a, &err, "run", "--jobmanager", "http://jm:8081",
			       "--shutdownOnAttachedExit", "--parallelism", "2", "job.so"),
			 0);
	assert_true(a.sae);
	assert_false(a.detached);
	assert_string_equal(a.jobmanager, "http://jm:8081");
	assert_int_equal(a.parallelism, 2);
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "run", "-sae", "--detached", "job.so"), FL_EINVAL);
	assert_string_equal(err.msg, "run: -sae (--shutdownOnAttachedExit) applies to an attached "
				     "run, not with -d");
	cl_args_fini(&a);
}

static void test_run_local_excludes_cluster_options(void **state)
{
	cl_args a;
	cm_err err;
	assert_int_equal(PARSE(&a, &err, "run", "--local", "job.so"), 0);
	assert_true(a.local);
	assert_false(a.remote);
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "run", "--local", "-m", "jm:1", "job.so"), FL_EINVAL);
	assert_non_null(strstr(err.msg, "--local and -m exclude each other"));
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "run", "--local", "-d", "job.so"), FL_EINVAL);
	assert_string_equal(err.msg, "run: -d applies to a session cluster, not to --local");
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "run", "-sae", "--local", "job.so"), FL_EINVAL);
	assert_string_equal(err.msg, "run: -sae applies to a session cluster, not to --local");
	cl_args_fini(&a);
}

static void test_run_and_info_need_a_job(void **state)
{
	cl_args a;
	cm_err err;
	assert_int_equal(PARSE(&a, &err, "run", "-m", "jm:1"), FL_EINVAL);
	assert_string_equal(err.msg, "run: no job given: flinc run [options] JOB.so [args]");
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "info", "-p", "2"), FL_EINVAL);
	assert_string_equal(err.msg, "info: no job given: flinc info [options] JOB.so [args]");
	cl_args_fini(&a);
}

static void test_info_is_plan(void **state)
{
	cl_args a;
	cm_err err;
	assert_int_equal(PARSE(&a, &err, "info", "--dot", "-p", "3", "job.so", "x"), 0);
	assert_int_equal(a.cmd, CL_CMD_PLAN);
	assert_string_equal(a.name, "info");
	assert_true(a.dot);
	assert_int_equal(a.parallelism, 3);
	assert_int_equal(a.first, 5);
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "plan", "job.so"), 0);
	assert_int_equal(a.cmd, CL_CMD_PLAN);
	cl_args_fini(&a);
}

static void test_options_that_do_not_apply_are_refused(void **state)
{
	cl_args a;
	cm_err err;
	struct {
		const char *cmd, *opt;
	} cases[] = {
	    {"plan", "-m"},	 {"info", "-d"},     {"list", "-p"},
	    {"cancel", "-a"},	 {"run", "--dot"},   {"run", "-r"},
	    {"list", "--local"}, {"cancel", "-sae"}, {"plan", "--no-progress"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(
		    PARSE(&a, &err, (char *)cases[i].cmd, (char *)cases[i].opt, "x", "y"),
		    FL_EINVAL);
		char want[128];
		snprintf(want, sizeof(want),
			 "option '%s' does not apply to '%s' (see flinc --help)", cases[i].opt,
			 cases[i].cmd);
		assert_string_equal(err.msg, want);
		cl_args_fini(&a);
	}
	assert_int_equal(PARSE(&a, &err, "run", "--frobnicate", "job.so"), FL_EINVAL);
	assert_string_equal(err.msg, "unknown option '--frobnicate' (see flinc --help)");
	cl_args_fini(&a);
}

static void test_option_values_are_required(void **state)
{
	cl_args a;
	cm_err err;
	assert_int_equal(PARSE(&a, &err, "run", "-m"), FL_EINVAL);
	assert_string_equal(err.msg, "-m needs a value");
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "list", "-c"), FL_EINVAL);
	assert_string_equal(err.msg, "-c needs a file");
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "cancel", "-D"), FL_EINVAL);
	assert_string_equal(err.msg, "-D needs key=value");
	cl_args_fini(&a);
}

static void test_parallelism_range_and_cut_message(void **state)
{
	cl_args a;
	cm_err err;
	const char *bad[] = {"0", "-1", "32769", "2x", "", "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(PARSE(&a, &err, "run", "-p", (char *)bad[i], "job.so"), FL_EINVAL);
		assert_non_null(strstr(err.msg, "-p needs a parallelism between 1 and 32768"));
		cl_args_fini(&a);
	}
	char big[300];
	memset(big, '7', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(PARSE(&a, &err, "run", "-p", big, "job.so"), FL_EINVAL);
	assert_true(strlen(err.msg) < 200);
	assert_non_null(strstr(err.msg, "...'"));
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "run", "-p", "32768", "job.so"), 0);
	assert_int_equal(a.parallelism, 32768);
	cl_args_fini(&a);
}

static void test_list_sections(void **state)
{
	cl_args a;
	cm_err err = {0};
	char *argv[] = {"flinc", "list", NULL};
	assert_int_equal(cl_args_parse(2, argv, &a, &err), 0);
	assert_int_equal(a.list, CL_LIST_RUNNING | CL_LIST_SCHEDULED);
	assert_null(a.jobmanager);
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "list", "-r"), 0);
	assert_int_equal(a.list, CL_LIST_RUNNING);
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "list", "--scheduled"), 0);
	assert_int_equal(a.list, CL_LIST_SCHEDULED);
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "list", "-a", "-m", "jm:1"), 0);
	assert_int_equal(a.list, CL_LIST_RUNNING | CL_LIST_SCHEDULED | CL_LIST_TERMINATED);
	assert_string_equal(a.jobmanager, "jm:1");
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "list", "everything"), FL_EINVAL);
	assert_string_equal(err.msg, "list takes no arguments, not 'everything'");
	cl_args_fini(&a);
}

static void test_cancel_validates_the_job_id(void **state)
{
	cl_args a;
	cm_err err;
	assert_int_equal(
	    PARSE(&a, &err, "cancel", "-m", "jm:1", "0123456789abcdefABCDEF0123456789"), 0);
	assert_int_equal(a.cmd, CL_CMD_CANCEL);
	assert_int_equal(a.first, 4);
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "cancel", "not-a-job-id"), FL_EINVAL);
	assert_string_equal(err.msg, "Cannot parse JobID from \"not-a-job-id\": a job id is 32 "
				     "hexadecimal digits (flinc list shows them)");
	cl_args_fini(&a);
	/* 31 and 33 digits, a non-hex digit. */
	const char *bad[] = {"0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0",
			     "0123456789abcdef0123456789abcdeg"};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(PARSE(&a, &err, "cancel", (char *)bad[i]), FL_EINVAL);
		cl_args_fini(&a);
	}
	char *argv[] = {"flinc", "cancel", NULL};
	cm_err_clear(&err);
	assert_int_equal(cl_args_parse(2, argv, &a, &err), FL_EINVAL);
	assert_string_equal(err.msg, "cancel: no job id given: flinc cancel [-m HOST:PORT] JOBID");
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "cancel", "0123456789abcdef0123456789abcdef", "more"),
			 FL_EINVAL);
	assert_string_equal(err.msg, "cancel: one job id only, not also 'more'");
	cl_args_fini(&a);
}

static void test_double_dash_ends_options(void **state)
{
	cl_args a;
	cm_err err;
	assert_int_equal(PARSE(&a, &err, "run", "-d", "--", "-odd-name.so", "-x"), 0);
	assert_int_equal(a.first, 4);
	cl_args_fini(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_or_unknown_command_is_enoent),
	    cmocka_unit_test(test_help_and_version),
	    cmocka_unit_test(test_run_without_local_is_remote_with_every_option),
	    cmocka_unit_test(test_run_long_options_and_sae),
	    cmocka_unit_test(test_run_local_excludes_cluster_options),
	    cmocka_unit_test(test_run_and_info_need_a_job),
	    cmocka_unit_test(test_info_is_plan),
	    cmocka_unit_test(test_options_that_do_not_apply_are_refused),
	    cmocka_unit_test(test_option_values_are_required),
	    cmocka_unit_test(test_parallelism_range_and_cut_message),
	    cmocka_unit_test(test_list_sections),
	    cmocka_unit_test(test_cancel_validates_the_job_id),
	    cmocka_unit_test(test_double_dash_ends_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
