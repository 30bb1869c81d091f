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
#include "client/daemon.h"
#include "client/remote.h"
#include "config/config.h"

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

/* -t/--target: remote (the default) or kubernetes-session, which finds the
 * JobManager by kubernetes.cluster-id and so excludes -m and --local. */
static void test_target_kubernetes_session(void **state)
{
	(void)state;
	cl_args a;
	cm_err err;
	assert_int_equal(PARSE(&a, &err, "run", "-t", "kubernetes-session", "-D",
			       "kubernetes.cluster-id=s", "job.so"),
			 0);
	assert_true(a.kubernetes);
	assert_true(a.remote);
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "list", "--target", "remote"), 0);
	assert_false(a.kubernetes);
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "cancel", "--target", "kubernetes-session",
			       "0123456789abcdef0123456789abcdef"),
			 0);
	assert_true(a.kubernetes);
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "list", "-t", "yarn-session"), FL_EINVAL);
	assert_non_null(strstr(err.msg, "unknown target 'yarn-session'"));
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "list", "-t", "kubernetes-session", "-m", "jm:1"),
			 FL_EINVAL);
	assert_non_null(strstr(err.msg, "excludes -m"));
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "run", "--local", "-t", "kubernetes-session", "job.so"),
			 FL_EINVAL);
	assert_non_null(strstr(err.msg, "excludes --local"));
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "info", "-t", "kubernetes-session", "job.so"), FL_EINVAL);
	assert_non_null(strstr(err.msg, "does not apply to 'info'"));
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

static void test_run_restore_options(void **state)
{
	cl_args a;
	cm_err err;
	assert_int_equal(PARSE(&a, &err, "run", "-m", "jm:1", "-s", "/sp/savepoint-1", "-n", "-rm",
			       "claim", "job.so", "-s", "x"),
			 0);
	assert_string_equal(a.from_savepoint, "/sp/savepoint-1");
	assert_true(a.allow_non_restored);
	assert_string_equal(a.restore_mode, "claim");
	assert_int_equal(a.first, 9); /* the job's own -s is its own */
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "run", "--local", "--fromSavepoint", "file:///sp",
			       "--allowNonRestoredState", "--restoreMode", "NO_CLAIM", "job.so"),
			 0);
	assert_true(a.local);
	assert_string_equal(a.from_savepoint, "file:///sp");
	assert_true(a.allow_non_restored);
	assert_string_equal(a.restore_mode, "NO_CLAIM");
	cl_args_fini(&a);
	/* Flink 2's name of --restoreMode. */
	assert_int_equal(PARSE(&a, &err, "run", "-cm", "CLAIM", "job.so"), 0);
	assert_string_equal(a.restore_mode, "CLAIM");
	assert_null(a.from_savepoint);
	assert_false(a.allow_non_restored);
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "run", "--claimMode", "LEGACY", "job.so"), FL_EINVAL);
	assert_string_equal(err.msg, "--claimMode takes CLAIM or NO_CLAIM, not 'LEGACY'");
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "run", "-s", "", "job.so"), FL_EINVAL);
	assert_string_equal(err.msg, "-s needs the path of a savepoint or checkpoint");
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "run", "-s"), FL_EINVAL);
	assert_string_equal(err.msg, "-s needs a value");
	cl_args_fini(&a);
	/* -s of list is still --scheduled; plan has no -s. */
	assert_int_equal(PARSE(&a, &err, "list", "-s"), 0);
	assert_int_equal(a.list, CL_LIST_SCHEDULED);
	assert_null(a.from_savepoint);
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "plan", "-s", "/sp", "job.so"), FL_EINVAL);
	assert_string_equal(err.msg, "option '-s' does not apply to 'plan' (see flinc --help)");
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "list", "-n"), FL_EINVAL);
	assert_string_equal(err.msg, "option '-n' does not apply to 'list' (see flinc --help)");
	cl_args_fini(&a);
}

static void test_savepoint_triggers_or_disposes(void **state)
{
	cl_args a;
	cm_err err;
	const char *id = "0123456789abcdef0123456789abcdef";
	assert_int_equal(PARSE(&a, &err, "savepoint", "-m", "jm:1", (char *)id), 0);
	assert_int_equal(a.cmd, CL_CMD_SAVEPOINT);
	assert_null(a.dispose);
	assert_int_equal(a.first, 4);
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "savepoint", (char *)id, "/sp"), 0);
	assert_int_equal(a.first, 2);
	cl_args_fini(&a);
	/* -d is --dispose here, with a value; Flink's trailing job id too. */
	assert_int_equal(PARSE(&a, &err, "savepoint", "-d", "/sp/savepoint-1"), 0);
	assert_string_equal(a.dispose, "/sp/savepoint-1");
	assert_false(a.detached);
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "savepoint", "-v", "--dispose", "file:/sp/x", (char *)id),
			 0);
	assert_string_equal(a.dispose, "file:/sp/x");
	assert_true(a.verbose);
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "savepoint", "-d", "/sp", (char *)id, "more"), FL_EINVAL);
	assert_string_equal(err.msg, "savepoint: unexpected argument 'more'");
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "savepoint", (char *)id, "/sp", "more"), FL_EINVAL);
	assert_string_equal(err.msg, "savepoint: unexpected argument 'more'");
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "savepoint", "-d", "/sp", "not-a-job"), FL_EINVAL);
	assert_non_null(strstr(err.msg, "Cannot parse JobID from \"not-a-job\""));
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "savepoint", "-m", "jm:1"), FL_EINVAL);
	assert_non_null(strstr(err.msg, "savepoint: no job id given"));
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "savepoint", "-d", ""), FL_EINVAL);
	assert_string_equal(err.msg, "-d needs the path of a savepoint");
	cl_args_fini(&a);
	assert_int_equal(PARSE(&a, &err, "savepoint", "-p", "2", (char *)id), FL_EINVAL);
	assert_string_equal(err.msg, "option '-p' does not apply to 'savepoint' (see flinc --help)");
	cl_args_fini(&a);
	/* run's -d is --detached, without a value. */
	assert_int_equal(PARSE(&a, &err, "run", "-d", "job.so"), 0);
	assert_true(a.detached);
	assert_null(a.dispose);
	cl_args_fini(&a);
}

/* flinc-jobmanager's arguments (client/daemon.h); NULL-terminated. */
#define DAEMON(a, app, err, ...)                                                                    \
	daemon_parse(a, app, err, (char *[]){"flinc-jobmanager", __VA_ARGS__, NULL})

static int daemon_parse(cl_daemon_args *a, bool app, cm_err *err, char **argv)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	cm_err_clear(err);
	return cl_daemon_args_parse(a, argc, argv, app, err);
}

static void test_application_restore_options_win_over_dynamic_keys(void **state)
{
	cl_daemon_args a;
	cm_err err;
	assert_int_equal(DAEMON(&a, true, &err, "-s", "/sp/savepoint-1", "-D",
				"execution.savepoint.path=/other", "-n", "-rm", "claim",
				"--application", "job.so", "--", "--job-arg"),
			 0);
	assert_string_equal(a.application, "job.so");
	assert_int_equal(a.job_argc, 2);
	const char *v = NULL;
	bool b = false;
	assert_int_equal(cfg_get_string(a.config, CFG_SAVEPOINT_PATH, &v), 0);
	assert_string_equal(v, "/sp/savepoint-1");
	assert_int_equal(cfg_get_bool(a.config, CFG_SAVEPOINT_IGNORE_UNCLAIMED, &b), 0);
	assert_true(b);
	assert_int_equal(cfg_get_string(a.config, CFG_SAVEPOINT_RESTORE_MODE, &v), 0);
	assert_string_equal(v, "CLAIM");
	cl_daemon_args_fini(&a);
	assert_int_equal(DAEMON(&a, true, &err, "--fromSavepoint", "/sp", "--claimMode", "LEGACY",
				"--application", "job.so"),
			 FL_EINVAL);
	assert_non_null(strstr(err.msg, "execution.savepoint-restore-mode"));
	cl_daemon_args_fini(&a);
	/* A session cluster's jobs take it from flinc run. */
	assert_int_equal(DAEMON(&a, true, &err, "--allowNonRestoredState"), FL_EINVAL);
	assert_string_equal(err.msg,
			    "--allowNonRestoredState applies to an application cluster "
			    "(--application JOB.so); the jobs of a session cluster take it from "
			    "flinc run");
	cl_daemon_args_fini(&a);
	assert_int_equal(DAEMON(&a, true, &err, "--application", "job.so", "-s"), FL_EINVAL);
	assert_string_equal(err.msg, "-s needs a value");
	cl_daemon_args_fini(&a);
	/* A TaskManager has none of them. */
	assert_int_equal(DAEMON(&a, false, &err, "-s", "/sp"), FL_EINVAL);
	assert_string_equal(err.msg, "unknown argument '-s' (see --help)");
	cl_daemon_args_fini(&a);
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
	    cmocka_unit_test(test_run_restore_options),
	    cmocka_unit_test(test_target_kubernetes_session),
	    cmocka_unit_test(test_savepoint_triggers_or_disposes),
	    cmocka_unit_test(test_application_restore_options_win_over_dynamic_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
