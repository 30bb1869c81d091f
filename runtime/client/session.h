/*
 * session.h — the client's commands against a session cluster's
 * JobManager (Flink's CliFrontend run/list/cancel over the REST API):
 *
 *   cl_session_run     upload a job (POST /jars/upload), start it
 *                      (POST /jars/<jarid>/run), and unless detached
 *                      follow it (GET /jobs/<jobid> every 500 ms) to its end
 *   cl_session_list    GET /jobs/overview, printed as `flink list` does
 *   cl_session_cancel  PATCH /jobs/<jobid>?mode=cancel
 *   cl_session_savepoint  POST /jobs/<jobid>/savepoints, then its status
 *                      until it completed
 *   cl_session_dispose POST /savepoint-disposal, then its status until it
 *                      completed
 *
 * Each returns the process exit status (the CL_EXIT_* of remote.h, or
 * 128 + N after signal N) after printing what Flink's client prints:
 * run's lines on stderr ("Job has been submitted with JobID <id>", progress
 * lines, and a final line, always last, that says how the job ended, as a
 * local run does); list's, cancel's and savepoint's output on stdout; errors
 * on stderr, prefixed "flinc: ", naming the JobManager's address.
 *
 * Interruption: the caller's cancel token (requested by its signal thread
 * on SIGINT, SIGTERM or SIGHUP, with the signal's number in *signal)
 * aborts a request in flight. While an attached run follows its job:
 * with sae (Flink's -sae), the job is cancelled and followed to its end;
 * without, on SIGINT with a terminal on stdin the user is asked "Cancel
 * job <id>? [y/N]", and otherwise (or on "no") the job is left running and
 * the command that cancels it is printed. Either way the status is 128 + N.
 *
 * Threads: call from one thread; the token may be requested from another.
 */
#ifndef FLINC_CLIENT_SESSION_H
#define FLINC_CLIENT_SESSION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/remote.h"
#include "common/cancel.h"

typedef struct cl_session {
	cl_address addr;	  /* the JobManager */
	int64_t timeout_ms;	  /* client.timeout: one request, or a lost contact */
	bool verbose;		  /* one line per HTTP request on stderr */
	bool progress;		  /* run: progress lines while attached */
	cm_cancel *cancel;	  /* may be NULL; borrowed */
	const atomic_int *signal; /* the signal behind a request of cancel; may be NULL */
	/* run: called once the job has an id, instead of printing the
	 * "submitted" line (the caller prints it); may be NULL. */
	void *arg;
	void (*submitted)(void *arg, const char *job_id);
} cl_session;

typedef struct cl_submit {
	const char *job_file; /* the job's shared object, checked before it is sent */
	char *const *args;    /* its arguments (programArgsList) */
	size_t nargs;
	int parallelism;	 /* > 0: "parallelism" */
	const char *const *conf; /* -D "key=value": "flinkConfiguration" */
	size_t nconf;
	bool detached; /* return once submitted */
	bool sae;      /* cancel the job when interrupted while attached */
	cl_restore restore; /* -s, -n, -rm: sent with the run */
} cl_submit;

/* The poll interval of an attached run. */
#define CL_POLL_MS 500

int cl_session_run(const cl_session *s, const cl_submit *job);
/* sections: CL_LIST_* of remote.h. */
int cl_session_list(const cl_session *s, unsigned sections);
/* job_id is checked (cl_job_id_valid) before anything is sent. */
int cl_session_cancel(const cl_session *s, const char *job_id);
/*
 * Flink's `savepoint JOBID [TARGET]`: prints "Triggering savepoint for job
 * <id>.", "Waiting for response...", then "Savepoint completed. Path:
 * <location>" and "You can resume your program from this savepoint with
 * the run command." (exit 0), or the cause on stderr (exit 1). target may
 * be NULL (the cluster's state.savepoints.dir). It waits client.timeout at
 * most; an interruption leaves the savepoint going on.
 */
int cl_session_savepoint(const cl_session *s, const char *job_id, const char *target);
/*
 * Flink's `savepoint --dispose PATH`: prints "Disposing savepoint
 * '<path>'.", "Waiting for response...", then "Savepoint '<path>'
 * disposed." (exit 0), or "Disposing the savepoint '<path>' failed" with
 * the JobManager's cause on stderr (exit 1). path is the JobManager's to
 * check. Waits as cl_session_savepoint does.
 */
int cl_session_dispose(const cl_session *s, const char *path);
/*
 * Flink's `stop [-p DIR] [-d] JOBID` (POST /jobs/<jobid>/stop, then the
 * savepoint's status): prints 'Suspending job "<id>" with a CANONICAL
 * savepoint.' (Draining with -d), then "Savepoint completed. Path: <path>"
 * (exit 0; the job then FINISHES), or the cause on stderr (exit 1).
 * Waits as cl_session_savepoint does.
 */
int cl_session_stop(const cl_session *s, const char *job_id, const char *target, bool drain);

/* One line on stderr with one write(2), mirrored into the client's log
 * file when it has one (cli.c); lines of other threads never interleave. */
void cl_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
