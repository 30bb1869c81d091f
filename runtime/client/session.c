/*
 * session.c — run, list and cancel against a session cluster (session.h).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "client/http.h"
#include "client/session.h"
#include "common/clock.h"
#include "common/sync.h"

/* Most lines of a root cause printed before the final line. */
#define CAUSE_LINES 60

/* ------------------------------------------------------------- output */

/* Says text line by line: the first after prefix, the others indented. */
static void say_lines(const char *prefix, const char *text, size_t max_lines)
{
	const char *p = text;
	for (size_t i = 0; *p && i < max_lines; i++) {
		const char *nl = strchr(p, '\n');
		int n = nl ? (int)(nl - p) : (int)strlen(p);
		if (i == 0)
			cl_say("%s%.*s", prefix, n, p);
		else
			cl_say("  %.*s", n, p);
		p = nl ? nl + 1 : p + n;
		if (nl && i + 1 == max_lines && *p)
			cl_say("  ...");
	}
}

static const char *signal_name(int sig)
{
	return sig == SIGINT	? "SIGINT"
	       : sig == SIGTERM ? "SIGTERM"
	       : sig == SIGHUP	? "SIGHUP"
				: "a signal";
}

/* The signal that requested cancellation (SIGINT when none is known). */
static int the_signal(const cl_session *s)
{
	int sig = s->signal ? atomic_load(s->signal) : 0;
	return sig > 0 ? sig : SIGINT;
}

static bool interrupted(const cl_session *s)
{
	return s->cancel && cm_cancel_requested(s->cancel);
}

/* ------------------------------------------------------------- replies */

static bool ok_status(long status)
{
	return status >= 200 && status < 300;
}

/*
 * Reports an HTTP error reply to `what` with Flink's "errors". Returns
 * CL_EXIT_JOB when the JobManager said why, CL_EXIT_UNREACHABLE when the
 * reply is not one of its error replies (another server on that port?).
 */
static int refused(const cl_http *h, const char *what, const cl_reply *r)
{
	char errs[8192];
	size_t n = cl_reply_errors(r->body, r->len, errs, sizeof(errs));
	char prefix[512];
	snprintf(prefix, sizeof(prefix),
		 "flinc: %s: the JobManager at %s answered HTTP %ld: ", what, cl_http_shown(h),
		 r->status);
	if (n > 0) {
		say_lines(prefix, errs, CAUSE_LINES);
		return CL_EXIT_JOB;
	}
	if (r->len == 0 || cl_reply_is_json(r->body, r->len)) {
		cl_say("%sno reason given", prefix);
		return CL_EXIT_JOB;
	}
	char head[120];
	cl_clean(head, sizeof(head), r->body, r->len, false);
	cl_say("%sa reply that is not JSON ('%s%s'): is a flinc JobManager listening there?",
	       prefix, head, r->len >= sizeof(head) ? "..." : "");
	return CL_EXIT_UNREACHABLE;
}

/* Reports a reply to `what` that could not be understood. */
static int unusable(const cl_http *h, const char *what, const cm_err *e)
{
	cl_say("flinc: %s: the JobManager at %s sent a reply flinc cannot use: %s", what,
	       cl_http_shown(h), e->msg);
	return CL_EXIT_UNREACHABLE;
}

/* Reports a failed request: the status for its FL_E* code. */
static int failed(const cl_session *s, int rc, const cm_err *e)
{
	if (rc == FL_ECANCELED) {
		int sig = the_signal(s);
		cl_say("Interrupted by %s: exiting", signal_name(sig));
		return 128 + sig;
	}
	cl_say("flinc: %s", e->msg);
	return rc == FL_ENOMEM ? CL_EXIT_JOB : CL_EXIT_UNREACHABLE;
}

/* ------------------------------------------------------------- waiting */

/* Sleeps that the cancel token cuts short. */
typedef struct waker {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool woken;
} waker;

/* The token's watcher: called with the token's lock held, it only posts. */
static void wake(void *arg)
{
	waker *w = arg;
	pthread_mutex_lock(&w->mu);
	w->woken = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Sleeps ms, or until woken (once per wake). */
static void nap(waker *w, int64_t ms)
{
	int64_t deadline = cm_now_ms() + ms;
	struct timespec ts = cm_deadline_ts(deadline);
	pthread_mutex_lock(&w->mu);
	while (!w->woken && cm_now_ms() < deadline)
		if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT)
			break;
	w->woken = false;
	pthread_mutex_unlock(&w->mu);
}

/* ----------------------------------------------------------- following */

/* Asks "Cancel job <id>? [y/N]" on the terminal; true on y or yes. */
static bool ask_cancel(const char *job_id)
{
	char q[128];
	int n = snprintf(q, sizeof(q), "Cancel job %s? [y/N] ", job_id);
	if (write(STDERR_FILENO, q, (size_t)n) < 0)
		return false;
	char a[16];
	size_t len = 0;
	for (;;) {
		char c;
		ssize_t r = read(STDIN_FILENO, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || c == '\n')
			break;
		if (len + 1 < sizeof(a))
			a[len++] = c;
	}
	a[len] = '\0';
	return strcmp(a, "y") == 0 || strcmp(a, "Y") == 0 || strcasecmp(a, "yes") == 0;
}

/* PATCH /jobs/<id>?mode=cancel. Returns 0 or an exit status (reported). */
static int request_cancel(const cl_session *s, cl_http *h, const char *job_id)
{
	char path[128], what[96];
	snprintf(path, sizeof(path), "/jobs/%s?mode=cancel", job_id);
	snprintf(what, sizeof(what), "cancelling job %s", job_id);
	cl_reply r;
	cm_err e = {0};
	int rc = cl_http_call(h, "PATCH", path, NULL, &r, &e);
	if (rc != 0)
		return failed(s, rc, &e);
	int code = ok_status(r.status) ? 0 : refused(h, what, &r);
	cl_reply_fini(&r);
	return code;
}

/* The job's run time: its duration, or what its times say. */
static long long run_ms(const cl_job *j)
{
	if (j->duration >= 0)
		return j->duration;
	if (j->start_time >= 0 && j->end_time >= j->start_time)
		return j->end_time - j->start_time;
	return 0;
}

/* Prints the final line of a job that reached state (and the cause of a
 * failure before it); returns the exit status. */
static int final_line(const cl_session *s, cl_http *h, const cl_job *j, int sig)
{
	if (strcmp(j->state, "FINISHED") == 0) {
		cl_say("Job '%s' (%s) FINISHED in %lld ms", j->name, j->jid, run_ms(j));
		return CL_EXIT_OK;
	}
	if (strcmp(j->state, "CANCELED") == 0) {
		cl_say("Job '%s' (%s) CANCELED after %lld ms", j->name, j->jid, run_ms(j));
		return sig ? 128 + sig : CL_EXIT_JOB;
	}
	if (strcmp(j->state, "FAILED") != 0) {
		cl_say("Job '%s' (%s) %s after %lld ms", j->name, j->jid, j->state, run_ms(j));
		return sig ? 128 + sig : CL_EXIT_JOB;
	}
	/* FAILED: the root cause, from the exceptions. */
	char path[128];
	snprintf(path, sizeof(path), "/jobs/%s/exceptions", j->jid);
	cl_reply r;
	cm_err e = {0};
	char *cause = malloc(65536);
	const char *first = "the JobManager gave no cause";
	char why[CM_ERR_MSG_MAX + 64];
	if (!cause) {
		first = "(out of memory reading the cause)";
	} else if (cl_http_call(h, "GET", path, NULL, &r, &e) != 0) {
		snprintf(why, sizeof(why), "(its cause is unknown: %s)", e.msg);
		first = why;
	} else {
		if (ok_status(r.status) && cl_reply_exception(r.body, r.len, cause, 65536) == 0) {
			/* A stack trace: all of it before, its first line in the final line. */
			char *nl = strchr(cause, '\n');
			if (nl) {
				say_lines("Cause: ", cause, CAUSE_LINES);
				*nl = '\0';
			}
			first = cause;
		}
		cl_reply_fini(&r);
	}
	cl_say("Job '%s' (%s) FAILED: %s", j->name, j->jid, first);
	free(cause);
	return sig ? 128 + sig : CL_EXIT_JOB;
}

/*
 * Handles the first interruption while following job_id. Returns 0 when
 * the job is being cancelled (keep following it), or the exit status
 * after leaving it running.
 */
static int on_interrupt(const cl_session *s, cl_http *h, const char *job_id, bool sae, int sig)
{
	/* From here requests run to their end: a second signal exits at once. */
	cl_http_set_cancel(h, NULL);
	bool cancel = sae;
	if (!sae && sig == SIGINT && isatty(STDIN_FILENO))
		cancel = ask_cancel(job_id);
	if (!cancel) {
		cl_say("Job %s goes on running on the cluster; to cancel it: flinc cancel -m %s %s",
		       job_id, s->addr.shown, job_id);
		return 128 + sig;
	}
	cl_say("Cancelling job %s.", job_id);
	return request_cancel(s, h, job_id);
}

/* Follows job_id to its end; returns the exit status. */
static int follow(const cl_session *s, cl_http *h, const char *job_id, bool sae)
{
	waker w = {.mu = PTHREAD_MUTEX_INITIALIZER, .woken = false};
	if (cm_cond_init(&w.cv) != 0) {
		cl_say("flinc: out of memory");
		return CL_EXIT_JOB;
	}
	if (s->cancel)
		cm_cancel_watch(s->cancel, wake, &w);
	char path[128];
	snprintf(path, sizeof(path), "/jobs/%s", job_id);
	char what[96];
	snprintf(what, sizeof(what), "following job %s", job_id);
	int64_t last_ok = cm_now_ms(), last_progress = 0, cancel_deadline = 0;
	bool lost = false;
	int sig = 0, code = -1;
	char tmo[32];
	snprintf(tmo, sizeof(tmo), "%lld ms", (long long)s->timeout_ms);
	if (s->timeout_ms % 1000 == 0)
		snprintf(tmo, sizeof(tmo), "%lld s", (long long)(s->timeout_ms / 1000));
	while (code < 0) {
		if (!sig && interrupted(s)) {
			sig = the_signal(s);
			int rc = on_interrupt(s, h, job_id, sae, sig);
			if (rc != 0) {
				code = rc > 127 ? rc : 128 + sig;
				break;
			}
			cancel_deadline = cm_now_ms() + s->timeout_ms;
			last_ok = cm_now_ms();
		}
		cl_reply r;
		cm_err e = {0};
		int rc = cl_http_call(h, "GET", path, NULL, &r, &e);
		bool transient = rc == FL_EIO || rc == FL_ETIMEDOUT;
		if (rc == 0 && r.status >= 500) {
			transient = true;
			snprintf(e.msg, sizeof(e.msg), "the JobManager at %s answered HTTP %ld",
				 s->addr.shown, r.status);
			cl_reply_fini(&r);
		}
		if (rc == FL_ECANCELED)
			continue; /* handled at the top */
		if (transient) {
			/* A JobManager busy or restarting: retried for client.timeout. */
			if (cm_now_ms() - last_ok > s->timeout_ms) {
				cl_say(
				    "flinc: lost contact with the JobManager at %s for %s "
				    "(client.timeout): %s; job %s may still be running (flinc list "
				    "-m %s)",
				    s->addr.shown, tmo, e.msg, job_id, s->addr.shown);
				code = CL_EXIT_UNREACHABLE;
				break;
			}
			if (!lost)
				cl_say("flinc: %s; retrying for up to %s", e.msg, tmo);
			lost = true;
			nap(&w, CL_POLL_MS);
			continue;
		}
		if (rc != 0) {
			code = failed(s, rc, &e);
			break;
		}
		if (!ok_status(r.status)) {
			code = refused(h, what, &r);
			cl_reply_fini(&r);
			break;
		}
		cl_job j;
		rc = cl_reply_job(r.body, r.len, &j, &e);
		cl_reply_fini(&r);
		if (rc != 0) {
			code = unusable(h, what, &e);
			break;
		}
		if (lost)
			cl_say("flinc: the JobManager at %s answers again", s->addr.shown);
		lost = false;
		last_ok = cm_now_ms();
		bool over = cl_state_class(j.state) == CL_STATE_TERMINAL ||
			    strcmp(j.state, "SUSPENDED") == 0;
		if (s->progress && j.nvertices > 0 &&
		    (over || cm_now_ms() - last_progress >= 1000)) {
			char line[2048];
			cl_progress_line(&j, line, sizeof(line));
			cl_say("%s", line);
			last_progress = cm_now_ms();
		}
		if (over) {
			code = final_line(s, h, &j, sig);
		} else if (sig && cm_now_ms() > cancel_deadline) {
			cl_say("flinc: job %s is still %s %s after it was asked to cancel "
			       "(client.timeout): exiting; flinc list -m %s shows how it ends",
			       job_id, j.state, tmo, s->addr.shown);
			code = 128 + sig;
		}
		cl_job_fini(&j);
		if (code < 0)
			nap(&w, CL_POLL_MS);
	}
	if (s->cancel)
		cm_cancel_unwatch(s->cancel);
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	return code;
}

/* ------------------------------------------------------------- commands */

/* The last path component of path. */
static const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');
	return b && b[1] ? b + 1 : path;
}

int cl_session_run(const cl_session *s, const cl_submit *job)
{
	cm_err e = {0};
	char *body = NULL;
	if (cl_run_body(job->args, job->nargs, job->parallelism, job->conf, job->nconf,
			&job->restore, &body, &e) != 0) {
		cl_say("flinc: %s", e.msg);
		return CL_EXIT_USAGE;
	}
	int fd = -1;
	uint64_t size = 0;
	if (cl_job_file_open(job->job_file, 0, &fd, &size, &e) != 0) {
		cl_say("flinc: %s", e.msg);
		free(body);
		return CL_EXIT_USAGE;
	}
	cl_http *h = NULL;
	if (cl_http_new(&h, &s->addr, s->timeout_ms, s->cancel, s->verbose, &e) != 0) {
		cl_say("flinc: %s", e.msg);
		close(fd);
		free(body);
		return CL_EXIT_JOB;
	}
	int code = CL_EXIT_OK;
	cl_reply r = {0};
	char jar[256], what[160];
	char sb[100];
	cl_clean(sb, sizeof(sb), base_name(job->job_file), strlen(base_name(job->job_file)), false);
	snprintf(what, sizeof(what), "uploading job '%s'", sb);

	/* 1. The job's shared object, as Flink's web UI uploads a jar. */
	int rc = cl_http_upload(h, "/jars/upload", "jarfile", fd, size, base_name(job->job_file),
				&r, &e);
	close(fd);
	if (rc != 0) {
		if (rc == FL_ECANCELED) {
			int sig = the_signal(s);
			cl_say("Interrupted by %s before the job was submitted: exiting",
			       signal_name(sig));
			code = 128 + sig;
		} else {
			code = failed(s, rc, &e);
		}
		goto done;
	}
	if (!ok_status(r.status)) {
		code = refused(h, what, &r);
		goto done;
	}
	if (cl_reply_upload(r.body, r.len, jar, sizeof(jar), &e) != 0) {
		code = unusable(h, what, &e);
		goto done;
	}
	cl_reply_fini(&r);

	/* 2. Run it. */
	char esc[800], path[900];
	if (cl_http_escape(jar, esc, sizeof(esc)) != 0) {
		cl_say("flinc: the jar id '%.80s' is too long", jar);
		code = CL_EXIT_UNREACHABLE;
		goto done;
	}
	snprintf(path, sizeof(path), "/jars/%s/run", esc);
	snprintf(what, sizeof(what), "running job '%s'", sb);
	if (interrupted(s)) {
		int sig = the_signal(s);
		cl_say("Interrupted by %s before the job was submitted: exiting", signal_name(sig));
		code = 128 + sig;
		goto done;
	}
	rc = cl_http_call(h, "POST", path, body, &r, &e);
	if (rc != 0) {
		if (rc == FL_ECANCELED) {
			int sig = the_signal(s);
			cl_say("Interrupted by %s while the job was being submitted: it may run on "
			       "the "
			       "cluster anyway (flinc list -m %s shows it)",
			       signal_name(sig), s->addr.shown);
			code = 128 + sig;
		} else {
			code = failed(s, rc, &e);
		}
		goto done;
	}
	if (!ok_status(r.status)) {
		code = refused(h, what, &r);
		goto done;
	}
	char job_id[CL_JOB_ID_LEN + 1];
	if (cl_reply_run(r.body, r.len, job_id, &e) != 0) {
		code = unusable(h, what, &e);
		goto done;
	}
	cl_reply_fini(&r);
	if (s->submitted)
		s->submitted(s->arg, job_id);
	else
		cl_say("Job has been submitted with JobID %s", job_id);

	/* 3. Attached: follow it to its end. */
	if (!job->detached)
		code = follow(s, h, job_id, job->sae);
done:
	cl_reply_fini(&r);
	cl_http_free(h);
	free(body);
	return code;
}

int cl_session_list(const cl_session *s, unsigned sections)
{
	cm_err e = {0};
	cl_http *h = NULL;
	if (cl_http_new(&h, &s->addr, s->timeout_ms, s->cancel, s->verbose, &e) != 0) {
		cl_say("flinc: %s", e.msg);
		return CL_EXIT_JOB;
	}
	printf("Waiting for response...\n");
	fflush(stdout);
	cl_reply r;
	int code = CL_EXIT_OK;
	int rc = cl_http_call(h, "GET", "/jobs/overview", NULL, &r, &e);
	if (rc != 0) {
		code = failed(s, rc, &e);
	} else if (!ok_status(r.status)) {
		code = refused(h, "listing jobs", &r);
		cl_reply_fini(&r);
	} else {
		cl_job_list l;
		rc = cl_reply_overview(r.body, r.len, &l, &e);
		cl_reply_fini(&r);
		if (rc != 0) {
			code = unusable(h, "listing jobs", &e);
		} else {
			cl_list_print(stdout, &l, sections);
			cl_job_list_fini(&l);
			if (fflush(stdout) != 0) {
				cl_say("flinc: cannot write the list to stdout: %s",
				       strerror(errno));
				code = CL_EXIT_JOB;
			}
		}
	}
	cl_http_free(h);
	return code;
}

/* 0, or CL_EXIT_USAGE once it said why job_id is not a job id. */
static int check_job_id(const char *job_id)
{
	if (cl_job_id_valid(job_id))
		return 0;
	cm_err e = {0};
	cl_job_id_refuse(job_id, &e);
	cl_say("flinc: %s", e.msg);
	return CL_EXIT_USAGE;
}

int cl_session_cancel(const cl_session *s, const char *job_id)
{
	int code = check_job_id(job_id);
	if (code)
		return code;
	cm_err e = {0};
	cl_http *h = NULL;
	if (cl_http_new(&h, &s->addr, s->timeout_ms, s->cancel, s->verbose, &e) != 0) {
		cl_say("flinc: %s", e.msg);
		return CL_EXIT_JOB;
	}
	printf("Cancelling job %s.\n", job_id);
	fflush(stdout);
	code = request_cancel(s, h, job_id);
	if (code == 0) {
		printf("Cancelled job %s.\n", job_id);
		fflush(stdout);
	}
	cl_http_free(h);
	return code;
}

/* ---------------------------------------------------------- operations */

/*
 * Starts an asynchronous operation (POST start with body) and polls its
 * status (GET status_prefix/<trigger id>) until it completed, retrying a
 * JobManager that does not answer, for client.timeout at most. Returns 0
 * with *op, or the exit status (reported; `what` names the operation).
 */
static int run_operation(const cl_session *s, cl_http *h, const char *start, const char *body,
			 const char *status_prefix, const char *what, cl_operation *op)
{
	cl_reply r;
	cm_err e = {0};
	int rc = cl_http_call(h, "POST", start, body, &r, &e);
	if (rc != 0)
		return failed(s, rc, &e);
	if (!ok_status(r.status)) {
		int code = refused(h, what, &r);
		cl_reply_fini(&r);
		return code;
	}
	char id[CL_JOB_ID_LEN + 1];
	rc = cl_reply_trigger(r.body, r.len, id, &e);
	cl_reply_fini(&r);
	if (rc != 0)
		return unusable(h, what, &e);
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", status_prefix, id);
	waker w = {.mu = PTHREAD_MUTEX_INITIALIZER, .woken = false};
	if (cm_cond_init(&w.cv) != 0) {
		cl_say("flinc: out of memory");
		return CL_EXIT_JOB;
	}
	if (s->cancel)
		cm_cancel_watch(s->cancel, wake, &w);
	int64_t deadline = cm_now_ms() + s->timeout_ms, pause = 20;
	int code = -1;
	while (code < 0) {
		rc = cl_http_call(h, "GET", path, NULL, &r, &e);
		bool transient = rc == FL_EIO || rc == FL_ETIMEDOUT;
		if (rc == 0 && r.status >= 500) {
			transient = true;
			snprintf(e.msg, sizeof(e.msg), "the JobManager at %s answered HTTP %ld",
				 s->addr.shown, r.status);
			cl_reply_fini(&r);
		}
		if (rc != 0 && rc != FL_ECANCELED && !transient) {
			code = failed(s, rc, &e);
			break;
		}
		if (rc == 0 && !transient) {
			if (!ok_status(r.status)) {
				code = refused(h, what, &r);
				cl_reply_fini(&r);
				break;
			}
			int prc = cl_reply_operation(r.body, r.len, op, &e);
			cl_reply_fini(&r);
			if (prc != 0) {
				code = unusable(h, what, &e);
				break;
			}
			if (op->done) {
				code = 0;
				break;
			}
		}
		if (rc == FL_ECANCELED || interrupted(s)) {
			int sig = the_signal(s);
			cl_say("Interrupted by %s: exiting; %s goes on on the cluster (trigger id %s)",
			       signal_name(sig), what, id);
			code = 128 + sig;
		} else if (cm_now_ms() >= deadline) {
			cl_say("flinc: %s: no outcome from the JobManager at %s within "
			       "client.timeout (%lld ms)%s%s; it may still complete",
			       what, s->addr.shown, (long long)s->timeout_ms, transient ? ": " : "",
			       transient ? e.msg : "");
			code = CL_EXIT_UNREACHABLE;
		} else {
			nap(&w, pause);
			pause = pause * 2 < CL_POLL_MS ? pause * 2 : CL_POLL_MS;
		}
	}
	if (s->cancel)
		cm_cancel_unwatch(s->cancel);
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	return code;
}

/* Prints a line of the savepoint command on stdout, as Flink's CLI does. */
static void out_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out_line(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* What `flinc savepoint` and `flinc stop` differ in. */
typedef struct savepoint_cmd {
	const char *start;  /* the operation starts with POST /jobs/<id>/<start> */
	const char *what;   /* "the <what> of job <id>" in messages */
	const char *head;   /* the lines printed before it starts */
	const char *failed; /* the start of the line saying that the savepoint failed */
	const char *hint;   /* a line after the savepoint's path, or NULL */
} savepoint_cmd;

/*
 * The savepoint operation of job_id (valid) that c describes, started with
 * body (borrowed): prints c->head, waits for its outcome as run_operation
 * does, then prints the savepoint's path, or why it failed. Returns the exit
 * status.
 */
static int savepoint_operation(const cl_session *s, const char *job_id, const char *body,
			       const savepoint_cmd *c)
{
	cm_err e = {0};
	cl_http *h = NULL;
	if (cl_http_new(&h, &s->addr, s->timeout_ms, s->cancel, s->verbose, &e) != 0) {
		cl_say("flinc: %s", e.msg);
		return CL_EXIT_JOB;
	}
	out_line("%s", c->head);
	char start[128], status[128], what[128];
	snprintf(start, sizeof(start), "/jobs/%s/%s", job_id, c->start);
	snprintf(status, sizeof(status), "/jobs/%s/savepoints", job_id);
	snprintf(what, sizeof(what), "the %s of job %s", c->what, job_id);
	cl_operation *op = malloc(sizeof(*op));
	int code = op ? run_operation(s, h, start, body, status, what, op) : CL_EXIT_JOB;
	if (!op) {
		cl_say("flinc: out of memory");
	} else if (code == 0 && op->failed) {
		say_lines(c->failed, op->text, CAUSE_LINES);
		code = CL_EXIT_JOB;
	} else if (code == 0) {
		out_line("Savepoint completed. Path: %s", op->text);
		if (c->hint)
			out_line("%s", c->hint);
	}
	free(op);
	cl_http_free(h);
	return code;
}

int cl_session_savepoint(const cl_session *s, const char *job_id, const char *target)
{
	int code = check_job_id(job_id);
	if (code)
		return code;
	cm_err e = {0};
	char *body = NULL;
	if (cl_savepoint_body(target, &body, &e) != 0) {
		cl_say("flinc: %s", e.msg);
		return CL_EXIT_JOB;
	}
	char head[128];
	snprintf(head, sizeof(head), "Triggering savepoint for job %s.\nWaiting for response...",
		 job_id);
	savepoint_cmd c = {
	    .start = "savepoints",
	    .what = "savepoint",
	    .head = head,
	    .failed = "flinc: Triggering a savepoint for the job failed: ",
	    .hint = "You can resume your program from this savepoint with the run command.",
	};
	code = savepoint_operation(s, job_id, body, &c);
	free(body);
	return code;
}

int cl_session_stop(const cl_session *s, const char *job_id, const char *target, bool drain)
{
	int code = check_job_id(job_id);
	if (code)
		return code;
	cm_err e = {0};
	char *body = NULL;
	if (cl_stop_body(target, drain, &body, &e) != 0) {
		cl_say("flinc: %s", e.msg);
		return CL_EXIT_JOB;
	}
	char head[128];
	snprintf(head, sizeof(head), "%s job \"%s\" with a CANONICAL savepoint.",
		 drain ? "Draining" : "Suspending", job_id);
	savepoint_cmd c = {
	    .start = "stop",
	    .what = "stop",
	    .head = head,
	    .failed = "flinc: Stopping the job with a savepoint failed: ",
	};
	code = savepoint_operation(s, job_id, body, &c);
	free(body);
	return code;
}

int cl_session_dispose(const cl_session *s, const char *path)
{
	cm_err e = {0};
	char *body = NULL;
	if (cl_dispose_body(path, &body, &e) != 0) {
		cl_say("flinc: %s", e.msg);
		return CL_EXIT_JOB;
	}
	cl_http *h = NULL;
	if (cl_http_new(&h, &s->addr, s->timeout_ms, s->cancel, s->verbose, &e) != 0) {
		cl_say("flinc: %s", e.msg);
		free(body);
		return CL_EXIT_JOB;
	}
	/* The path as given; cleaned for the terminal. */
	char shown[600];
	cl_clean(shown, sizeof(shown), path, strlen(path), false);
	out_line("Disposing savepoint '%s'.", shown);
	out_line("Waiting for response...");
	char what[700];
	snprintf(what, sizeof(what), "disposing savepoint '%s'", shown);
	cl_operation *op = malloc(sizeof(*op));
	int code = op ? run_operation(s, h, "/savepoint-disposal", body, "/savepoint-disposal",
				      what, op)
		      : CL_EXIT_JOB;
	if (!op) {
		cl_say("flinc: out of memory");
	} else if (code == 0 && op->failed) {
		char prefix[700];
		snprintf(prefix, sizeof(prefix), "flinc: Disposing the savepoint '%s' failed: ",
			 shown);
		say_lines(prefix, op->text, CAUSE_LINES);
		code = CL_EXIT_JOB;
	} else if (code == 0) {
		out_line("Savepoint '%s' disposed.", shown);
	}
	free(op);
	cl_http_free(h);
	free(body);
	return code;
}
