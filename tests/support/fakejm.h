/*
 * fakejm.h — a fake JobManager for the client's tests: an HTTP/1.1 server
 * on 127.0.0.1 that answers Flink's REST paths with canned JSON, so that
 * the client's run/list/cancel can be tested without a cluster. It knows
 * one job at a time:
 *
 *   POST  /jars/upload             a multipart part "jarfile" with a filename:
 *                                  {"filename": "/tmp/fakejm/<n>_<filename>",
 *                                   "status": "success"}; else 400
 *   POST  /jars/<jarid>/run        a jar it was given: {"jobid": FAKEJM_JOB_ID};
 *                                  else 404
 *   GET   /jobs/<jobid>            the job with the next of `states` (the last
 *                                  repeats; after a cancel: CANCELLING, then
 *                                  CANCELED), three vertices with growing
 *                                  metrics and a plan
 *   GET   /jobs/<jobid>/exceptions {"exceptionHistory": {"entries":
 *                                  [{"exceptionName", "stacktrace": exception}]}}
 *   GET   /jobs/overview           the job (once run) and one FINISHED job
 *   PATCH /jobs/<jobid>?mode=cancel  202 {} for the job, else 404
 *   anything else                  404 {"errors": ["Not found: <path>"]}
 *
 * Modes other than FAKEJM_NORMAL answer every request the same broken way.
 * One request per connection ("Connection: close"), served one at a time
 * on the server's thread. Not for production: test input only.
 */
#ifndef FLINC_TESTS_FAKEJM_H
#define FLINC_TESTS_FAKEJM_H

#include <stddef.h>

#define FAKEJM_JOB_ID "f00dfeedf00dfeedf00dfeedf00dfeed"
#define FAKEJM_DONE_ID "0000000000000000000000000000d0e5"

typedef enum fakejm_mode {
	FAKEJM_NORMAL,
	FAKEJM_SILENT,	/* reads each request and never answers it */
	FAKEJM_GARBAGE, /* 200 with an HTML page */
	FAKEJM_HUGE,	/* 200 with a 17 MiB JSON body, chunked (no length) */
	FAKEJM_REFUSE,	/* 400 {"errors": ["refused by the fake", "second line"]} */
	FAKEJM_DOWN,	/* 503 with no body */
} fakejm_mode;

typedef struct fakejm_options {
	fakejm_mode mode;
	const char *states;    /* comma-separated; NULL: "RUNNING,FINISHED" */
	const char *exception; /* the FAILED job's cause; NULL: a default */
	int port;	       /* 0: any free port */
} fakejm_options;

typedef struct fakejm fakejm;

/* Parses "normal", "silent", "garbage", "huge", "refuse", "down". Returns
 * 0 or -1. */
int fakejm_mode_parse(const char *s, fakejm_mode *out);

/* Starts serving. Returns 0, or -1 with errno. */
int fakejm_start(const fakejm_options *o, fakejm **out);
int fakejm_port(const fakejm *f);
/* Changes the mode from the next request on (any thread). */
void fakejm_set_mode(fakejm *f, fakejm_mode mode);
/* Every request so far, "METHOD TARGET\n" each (malloc'd). */
char *fakejm_requests(fakejm *f);
/* The body of the last request whose method is method and whose target
 * starts with prefix, or NULL (malloc'd, NUL-terminated). */
char *fakejm_body(fakejm *f, const char *method, const char *prefix);
/* Stops serving (closing held connections) and frees. */
void fakejm_stop(fakejm *f);

#endif
