/*
 * test_client_session.c — run, list and cancel against a fake JobManager
 * (tests/support/fakejm.h) that answers with Flink's REST shapes, and
 * with broken ones: what is sent (the upload, the run request, the
 * cancel), what is printed, the exit statuses, interruption with and
 * without -sae, and the bounded failures (closed port, a server that never
 * answers, HTML, a 17 MiB reply, 503 while following a job).
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/session.h"
#include "common/clock.h"
#include "fakejm.h"

/* ------------------------------------------------------------ harness */

typedef struct env {
	fakejm *jm;
	cl_session s;
	cm_cancel cancel;
	atomic_int signal;
	char *out, *err; /* what the last command printed */
	int code;
	int64_t took_ms;
} env;

static env *start(fakejm_mode mode, const char *states, int64_t timeout_ms)
{
	env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	fakejm_options o = {.mode = mode, .states = states};
	assert_int_equal(fakejm_start(&o, &e->jm), 0);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", fakejm_port(e->jm));
	cm_err err = {0};
	assert_int_equal(cl_address_parse(addr, 8081, &e->s.addr, &err), 0);
	assert_int_equal(cm_cancel_init(&e->cancel), 0);
	e->s.timeout_ms = timeout_ms;
	e->s.cancel = &e->cancel;
	e->s.signal = &e->signal;
	e->s.progress = true;
	return e;
}

static void stop(env *e)
{
	fakejm_stop(e->jm);
	cm_cancel_fini(&e->cancel);
	free(e->out);
	free(e->err);
	free(e);
}

static char *slurp(int fd)
{
	off_t len = lseek(fd, 0, SEEK_END);
	assert_true(len >= 0);
	char *buf = malloc((size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)len, 0), len);
	buf[len] = '\0';
	close(fd);
	return buf;
}

static int temp_fd(void)
{
	char path[] = "/tmp/flinc-test-session-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

enum what { RUN, LIST, CANCEL };

/* Runs one command with stdout and stderr captured and stdin on /dev/null
 * (no terminal: nobody is asked anything). */
static void call(env *e, enum what w, const void *arg)
{
	free(e->out);
	free(e->err);
	fflush(stdout);
	int o = temp_fd(), r = temp_fd();
	int so = dup(1), se = dup(2), si = dup(0);
	int null = open("/dev/null", O_RDONLY);
	assert_true(so >= 0 && se >= 0 && si >= 0 && null >= 0);
	dup2(o, 1);
	dup2(r, 2);
	dup2(null, 0);
	close(null);
	int64_t t0 = cm_now_ms();
	if (w == RUN)
		e->code = cl_session_run(&e->s, arg);
	else if (w == LIST)
		e->code = cl_session_list(&e->s, *(const unsigned *)arg);
	else
		e->code = cl_session_cancel(&e->s, arg);
	e->took_ms = cm_now_ms() - t0;
	fflush(stdout);
	dup2(so, 1);
	dup2(se, 2);
	dup2(si, 0);
	close(so);
	close(se);
	close(si);
	e->out = slurp(o);
	e->err = slurp(r);
}

static void expect_in(const char *text, const char *want)
{
	if (!strstr(text, want))
		fail_msg("expected '%s' in:\n%s", want, text);
}

static void expect_not_in(const char *text, const char *want)
{
	if (strstr(text, want))
		fail_msg("did not expect '%s' in:\n%s", want, text);
}

/* The last line of text. */
static const char *last_line(char *text)
{
	size_t n = strlen(text);
	while (n > 0 && text[n - 1] == '\n')
		text[--n] = '\0';
	char *nl = strrchr(text, '\n');
	return nl ? nl + 1 : text;
}

/* A real shared object to submit: the cmocka library. */
static const char *a_shared_object(void)
{
	Dl_info info;
	assert_true(dladdr((void *)_cmocka_run_group_tests, &info) != 0);
	return info.dli_fname;
}

static const char *base(const char *p)
{
	const char *b = strrchr(p, '/');
	return b ? b + 1 : p;
}

#define ID FAKEJM_JOB_ID

/* ------------------------------------------------------------- run */

static void test_run_attached_uploads_runs_and_follows_to_finished(void **state)
{
	env *e = start(FAKEJM_NORMAL, "CREATED,RUNNING,RUNNING,FINISHED", 5000);
	char *args[] = {"--input", "in.txt"};
	const char *conf[] = {"parallelism.default=3", "my.key=a=b"};
	cl_submit job = {.job_file = a_shared_object(),
			 .args = args,
			 .nargs = 2,
			 .parallelism = 4,
			 .conf = conf,
			 .nconf = 2};
	call(e, RUN, &job);
	assert_int_equal(e->code, 0);
	expect_in(e->err, "Job has been submitted with JobID " ID "\n");
	/* Progress lines, sources with out, sinks with in. */
	expect_in(e->err, "] Source: Words out=");
	expect_in(e->err, " | Count in=");
	expect_in(e->err, " | Sink: Print in=");
	assert_string_equal(last_line(e->err), "Job 'Fake WordCount' (" ID ") FINISHED in 9000 ms");
	assert_string_equal(e->out, "");

	char *reqs = fakejm_requests(e->jm);
	char want[512];
	snprintf(want, sizeof(want), "POST /jars/upload\nPOST /jars/1_%s/run\nGET /jobs/" ID "\n",
		 base(job.job_file));
	if (strncmp(reqs, want, strlen(want)) != 0)
		fail_msg("requests:\n%s", reqs);
	free(reqs);
	/* The run request: Flink 2.x's JarRunRequestBody. */
	char *body = fakejm_body(e->jm, "POST", "/jars/1_");
	assert_non_null(body);
	assert_string_equal(body, "{\"programArgsList\":[\"--input\",\"in.txt\"],\"parallelism\":4,"
				  "\"flinkConfiguration\":{\"parallelism.default\":\"3\","
				  "\"my.key\":\"a=b\"}}");
	free(body);
	/* The upload: field jarfile, the file's name and its bytes. */
	body = fakejm_body(e->jm, "POST", "/jars/upload");
	assert_non_null(body);
	expect_in(body, "name=\"jarfile\"");
	snprintf(want, sizeof(want), "filename=\"%s\"", base(job.job_file));
	expect_in(body, want);
	expect_in(body, "\x7f"
			"ELF");
	free(body);
	stop(e);
}

static void test_run_detached_returns_once_submitted(void **state)
{
	env *e = start(FAKEJM_NORMAL, "RUNNING", 5000);
	cl_submit job = {.job_file = a_shared_object(), .detached = true};
	call(e, RUN, &job);
	assert_int_equal(e->code, 0);
	assert_string_equal(e->err, "Job has been submitted with JobID " ID "\n");
	char *reqs = fakejm_requests(e->jm);
	expect_not_in(reqs, "GET /jobs/");
	free(reqs);
	char *body = fakejm_body(e->jm, "POST", "/jars/1_");
	assert_string_equal(body, "{\"programArgsList\":[]}");
	free(body);
	stop(e);
}

static void test_run_failed_prints_the_cause_then_the_final_line(void **state)
{
	env *e = start(FAKEJM_NORMAL, "RUNNING,FAILED", 5000);
	e->s.progress = false;
	cl_submit job = {.job_file = a_shared_object()};
	call(e, RUN, &job);
	assert_int_equal(e->code, CL_EXIT_JOB);
	expect_in(e->err, "Cause: org.flinc.UserError: map failed\n  \tat map (job.c:12)\n");
	expect_not_in(e->err, "] Source");
	assert_string_equal(last_line(e->err), "Job 'Fake WordCount' (" ID
					       ") FAILED: org.flinc.UserError: map failed");
	stop(e);
}

static void test_run_canceled_elsewhere_exits_1(void **state)
{
	env *e = start(FAKEJM_NORMAL, "RUNNING,CANCELED", 5000);
	cl_submit job = {.job_file = a_shared_object()};
	call(e, RUN, &job);
	assert_int_equal(e->code, CL_EXIT_JOB);
	assert_string_equal(last_line(e->err),
			    "Job 'Fake WordCount' (" ID ") CANCELED after 9000 ms");
	stop(e);
}

static void test_run_refuses_a_file_that_is_no_shared_object_before_sending(void **state)
{
	env *e = start(FAKEJM_NORMAL, NULL, 5000);
	cl_submit job = {.job_file = "/etc/passwd"};
	call(e, RUN, &job);
	assert_int_equal(e->code, CL_EXIT_USAGE);
	assert_string_equal(e->err,
			    "flinc: job '/etc/passwd' is not an ELF file: a job is a shared "
			    "object (build the job with cc -shared -fPIC job.c -o job.so)\n");
	char *reqs = fakejm_requests(e->jm);
	assert_string_equal(reqs, "");
	free(reqs);
	stop(e);
}

static void test_run_upload_refused_prints_flinks_errors(void **state)
{
	env *e = start(FAKEJM_REFUSE, NULL, 5000);
	cl_submit job = {.job_file = a_shared_object()};
	call(e, RUN, &job);
	assert_int_equal(e->code, CL_EXIT_JOB);
	char want[512];
	snprintf(want, sizeof(want),
		 "flinc: uploading job '%s': the JobManager at %s answered HTTP 400: refused by "
		 "the fake\n  second line\n",
		 base(job.job_file), e->s.addr.shown);
	assert_string_equal(e->err, want);
	stop(e);
}

/* Requests the cancel token with signal sig once the fake has seen a
 * request starting with `after` (a thread: as the client's signal thread). */
typedef struct interrupter {
	env *e;
	int sig;
	const char *after;
	pthread_t t;
} interrupter;

static void *interrupt_main(void *arg)
{
	interrupter *in = arg;
	for (int i = 0; i < 1000; i++) {
		char *reqs = fakejm_requests(in->e->jm);
		bool seen = strstr(reqs, in->after) != NULL;
		free(reqs);
		if (seen)
			break;
		usleep(10000);
	}
	atomic_store(&in->e->signal, in->sig);
	cm_cancel_request(&in->e->cancel);
	return NULL;
}

static void interrupt_after(interrupter *in, env *e, int sig, const char *after)
{
	in->e = e;
	in->sig = sig;
	in->after = after;
	assert_int_equal(pthread_create(&in->t, NULL, interrupt_main, in), 0);
}

static void test_run_sae_cancels_the_job_on_a_signal(void **state)
{
	env *e = start(FAKEJM_NORMAL, "RUNNING", 5000);
	e->s.progress = false;
	cl_submit job = {.job_file = a_shared_object(), .sae = true};
	interrupter in;
	interrupt_after(&in, e, SIGTERM, "GET /jobs/" ID);
	call(e, RUN, &job);
	pthread_join(in.t, NULL);
	assert_int_equal(e->code, 128 + SIGTERM);
	expect_in(e->err, "Cancelling job " ID ".\n");
	assert_string_equal(last_line(e->err),
			    "Job 'Fake WordCount' (" ID ") CANCELED after 9000 ms");
	char *reqs = fakejm_requests(e->jm);
	expect_in(reqs, "PATCH /jobs/" ID "?mode=cancel\n");
	free(reqs);
	stop(e);
}

static void test_run_without_sae_leaves_the_job_running_on_a_signal(void **state)
{
	env *e = start(FAKEJM_NORMAL, "RUNNING", 5000);
	e->s.progress = false;
	cl_submit job = {.job_file = a_shared_object()};
	interrupter in;
	interrupt_after(&in, e, SIGINT, "GET /jobs/" ID);
	call(e, RUN, &job);
	pthread_join(in.t, NULL);
	assert_int_equal(e->code, 130);
	char want[512];
	snprintf(want, sizeof(want),
		 "Job " ID " goes on running on the cluster; to cancel it: flinc cancel -m %s " ID,
		 e->s.addr.shown);
	assert_string_equal(last_line(e->err), want);
	char *reqs = fakejm_requests(e->jm);
	expect_not_in(reqs, "PATCH");
	free(reqs);
	stop(e);
}

static void test_run_interrupted_before_submission_sends_no_run(void **state)
{
	env *e = start(FAKEJM_NORMAL, "RUNNING", 5000);
	atomic_store(&e->signal, SIGINT);
	cm_cancel_request(&e->cancel);
	cl_submit job = {.job_file = a_shared_object()};
	call(e, RUN, &job);
	assert_int_equal(e->code, 130);
	assert_string_equal(last_line(e->err),
			    "Interrupted by SIGINT before the job was submitted: exiting");
	char *reqs = fakejm_requests(e->jm);
	expect_not_in(reqs, "/run");
	free(reqs);
	stop(e);
}

/* Flips the fake to `mode` once it has seen `after`, and back to NORMAL
 * after back_ms (0: never). */
typedef struct flipper {
	env *e;
	fakejm_mode mode;
	const char *after;
	int back_ms;
	pthread_t t;
} flipper;

static void *flip_main(void *arg)
{
	flipper *fl = arg;
	for (int i = 0; i < 1000; i++) {
		char *reqs = fakejm_requests(fl->e->jm);
		bool seen = strstr(reqs, fl->after) != NULL;
		free(reqs);
		if (seen)
			break;
		usleep(5000);
	}
	fakejm_set_mode(fl->e->jm, fl->mode);
	if (fl->back_ms) {
		usleep((useconds_t)fl->back_ms * 1000);
		fakejm_set_mode(fl->e->jm, FAKEJM_NORMAL);
	}
	return NULL;
}

static void test_run_retries_a_jobmanager_that_stops_answering(void **state)
{
	/* Down for ~1.2 s of a 4 s client.timeout: the client waits, then
	 * follows the job to its end. */
	env *e = start(FAKEJM_NORMAL, "RUNNING,RUNNING,RUNNING,FINISHED", 4000);
	e->s.progress = false;
	flipper fl = {.e = e, .mode = FAKEJM_DOWN, .after = "GET /jobs/" ID, .back_ms = 1200};
	assert_int_equal(pthread_create(&fl.t, NULL, flip_main, &fl), 0);
	cl_submit job = {.job_file = a_shared_object()};
	call(e, RUN, &job);
	pthread_join(fl.t, NULL);
	assert_int_equal(e->code, 0);
	expect_in(e->err, "answered HTTP 503; retrying for up to 4 s\n");
	expect_in(e->err, "flinc: the JobManager at 127.0.0.1:");
	expect_in(e->err, " answers again\n");
	assert_string_equal(last_line(e->err), "Job 'Fake WordCount' (" ID ") FINISHED in 9000 ms");
	stop(e);
}

static void test_run_gives_up_on_a_lost_jobmanager_after_the_timeout(void **state)
{
	env *e = start(FAKEJM_NORMAL, "RUNNING", 1000);
	e->s.progress = false;
	flipper fl = {.e = e, .mode = FAKEJM_DOWN, .after = "GET /jobs/" ID};
	assert_int_equal(pthread_create(&fl.t, NULL, flip_main, &fl), 0);
	cl_submit job = {.job_file = a_shared_object()};
	call(e, RUN, &job);
	pthread_join(fl.t, NULL);
	assert_int_equal(e->code, CL_EXIT_UNREACHABLE);
	char want[1536];
	snprintf(want, sizeof(want),
		 "flinc: lost contact with the JobManager at %s for 1 s (client.timeout): the "
		 "JobManager at %s answered HTTP 503; job " ID " may still be running (flinc list "
		 "-m %s)",
		 e->s.addr.shown, e->s.addr.shown, e->s.addr.shown);
	assert_string_equal(last_line(e->err), want);
	/* Bounded: the timeout plus a poll or two. */
	assert_true(e->took_ms < 5000);
	stop(e);
}

/* ------------------------------------------------------- list, cancel */

static void test_list_sections_and_no_jobs(void **state)
{
	setenv("TZ", "UTC", 1);
	tzset();
	env *e = start(FAKEJM_NORMAL, "RUNNING", 5000);
	unsigned sections = CL_LIST_RUNNING | CL_LIST_SCHEDULED;
	call(e, LIST, &sections);
	assert_int_equal(e->code, 0);
	assert_string_equal(e->out,
			    "Waiting for response...\nNo running jobs.\nNo scheduled jobs.\n");
	sections |= CL_LIST_TERMINATED;
	call(e, LIST, &sections);
	assert_int_equal(e->code, 0);
	assert_string_equal(e->out,
			    "Waiting for response...\nNo running jobs.\nNo scheduled jobs.\n"
			    "---------------------- Terminated Jobs -----------------------\n"
			    "13.09.2020 12:26:40 : " FAKEJM_DONE_ID " : Done Job (FINISHED)\n"
			    "--------------------------------------------------------------\n");
	/* Once a job runs, it is listed. */
	cl_submit job = {.job_file = a_shared_object(), .detached = true};
	call(e, RUN, &job);
	sections = CL_LIST_RUNNING;
	call(e, LIST, &sections);
	assert_string_equal(e->out,
			    "Waiting for response...\n"
			    "------------------ Running/Restarting Jobs -------------------\n"
			    "14.11.2023 22:13:20 : " ID " : Fake WordCount (RUNNING)\n"
			    "--------------------------------------------------------------\n");
	stop(e);
}

static void test_cancel_known_unknown_and_malformed_ids(void **state)
{
	env *e = start(FAKEJM_NORMAL, "RUNNING", 5000);
	cl_submit job = {.job_file = a_shared_object(), .detached = true};
	call(e, RUN, &job);
	call(e, CANCEL, ID);
	assert_int_equal(e->code, 0);
	assert_string_equal(e->out, "Cancelling job " ID ".\nCancelled job " ID ".\n");
	assert_string_equal(e->err, "");

	call(e, CANCEL, "0123456789abcdef0123456789abcdef");
	assert_int_equal(e->code, CL_EXIT_JOB);
	expect_in(e->err, "flinc: cancelling job 0123456789abcdef0123456789abcdef: the JobManager "
			  "at 127.0.0.1:");
	expect_in(e->err, " answered HTTP 404: Job 0123456789abcdef0123456789abcdef not found\n");

	char *before = fakejm_requests(e->jm);
	call(e, CANCEL, "not-a-job-id");
	assert_int_equal(e->code, CL_EXIT_USAGE);
	assert_string_equal(e->err,
			    "flinc: Cannot parse JobID from \"not-a-job-id\": a job id is 32 "
			    "hexadecimal digits (flinc list shows them)\n");
	char *after = fakejm_requests(e->jm);
	assert_string_equal(before, after);
	free(before);
	free(after);
	stop(e);
}

/* -------------------------------------------------- bounded failures */

static void test_closed_port_fails_at_once_naming_the_address(void **state)
{
	/* A port that was free a moment ago and has nobody listening. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof(a);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	close(fd);
	env *e = start(FAKEJM_NORMAL, NULL, 60000);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(a.sin_port));
	cm_err err = {0};
	assert_int_equal(cl_address_parse(addr, 1, &e->s.addr, &err), 0);
	unsigned sections = CL_LIST_RUNNING;
	call(e, LIST, &sections);
	assert_int_equal(e->code, CL_EXIT_UNREACHABLE);
	char want[128];
	snprintf(want, sizeof(want),
		 "flinc: cannot reach the JobManager at %s (is one running there?", addr);
	expect_in(e->err, want);
	assert_true(e->took_ms < 5000);
	stop(e);
}

static void test_silent_jobmanager_times_out(void **state)
{
	env *e = start(FAKEJM_SILENT, NULL, 700);
	unsigned sections = CL_LIST_RUNNING;
	call(e, LIST, &sections);
	assert_int_equal(e->code, CL_EXIT_UNREACHABLE);
	char want[512];
	snprintf(want, sizeof(want),
		 "flinc: the JobManager at %s did not answer GET /jobs/overview within 700 ms "
		 "(client.timeout)\n",
		 e->s.addr.shown);
	assert_string_equal(e->err, want);
	assert_true(e->took_ms >= 600 && e->took_ms < 4000);
	stop(e);
}

static void test_html_and_huge_replies_are_refused(void **state)
{
	env *e = start(FAKEJM_GARBAGE, NULL, 5000);
	unsigned sections = CL_LIST_RUNNING;
	call(e, LIST, &sections);
	assert_int_equal(e->code, CL_EXIT_UNREACHABLE);
	expect_in(e->err, "flinc: listing jobs: the JobManager at 127.0.0.1:");
	expect_in(e->err, " sent a reply flinc cannot use: the reply is not JSON: "
			  "'<html><body>Welcome</body></html>'\n");
	stop(e);

	e = start(FAKEJM_HUGE, NULL, 20000);
	call(e, LIST, &sections);
	assert_int_equal(e->code, CL_EXIT_UNREACHABLE);
	expect_in(e->err, " answered GET /jobs/overview with more than 16 MiB: refused\n");
	stop(e);
}

int main(void)
{
	/* A test that fails must not leave the fake's socket writes killing it. */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_run_attached_uploads_runs_and_follows_to_finished),
	    cmocka_unit_test(test_run_detached_returns_once_submitted),
	    cmocka_unit_test(test_run_failed_prints_the_cause_then_the_final_line),
	    cmocka_unit_test(test_run_canceled_elsewhere_exits_1),
	    cmocka_unit_test(test_run_refuses_a_file_that_is_no_shared_object_before_sending),
	    cmocka_unit_test(test_run_upload_refused_prints_flinks_errors),
	    cmocka_unit_test(test_run_sae_cancels_the_job_on_a_signal),
	    cmocka_unit_test(test_run_without_sae_leaves_the_job_running_on_a_signal),
	    cmocka_unit_test(test_run_interrupted_before_submission_sends_no_run),
	    cmocka_unit_test(test_run_retries_a_jobmanager_that_stops_answering),
	    cmocka_unit_test(test_run_gives_up_on_a_lost_jobmanager_after_the_timeout),
	    cmocka_unit_test(test_list_sections_and_no_jobs),
	    cmocka_unit_test(test_cancel_known_unknown_and_malformed_ids),
	    cmocka_unit_test(test_closed_port_fails_at_once_naming_the_address),
	    cmocka_unit_test(test_silent_jobmanager_times_out),
	    cmocka_unit_test(test_html_and_huge_replies_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
