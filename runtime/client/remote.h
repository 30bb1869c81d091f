/*
 * remote.h — what the client needs to talk to a session cluster and that
 * needs no JobManager to test: the JobManager's address, job ids, the check
 * that a job file is a shared object for this machine, the JSON of the
 * REST replies (Flink's shapes), and the lines printed from them.
 *
 * Every parser takes the reply's text and its length (replies are not
 * NUL-terminated for them), trusts nothing in it, and copies what it keeps
 * into bounded fields: strings from the JobManager are cut to their field
 * and their control characters replaced by '?', so that a job name cannot
 * move the cursor of the terminal it is printed on. The messages in err
 * say what is wrong with the reply; the caller adds which JobManager and
 * which request.
 *
 * The REST shapes read (Flink's REST API):
 *   POST /jars/upload          {"filename": "/dir/<jarid>", "status": "success"}
 *   POST /jars/<jarid>/run     {"jobid": "<32 hex>"}
 *   GET  /jobs/overview        {"jobs": [{"jid", "name", "state", "start-time",
 *                                         "end-time", "duration", ...}]}
 *   GET  /jobs/<jobid>         {"jid", "name", "state", "start-time", "end-time",
 *                               "duration", "vertices": [{"id", "name",
 *                               "metrics": {"read-records", "write-records"}}],
 *                               "plan": {"nodes": [{"id", "inputs": [{"id"}]}]}}
 *   GET  /jobs/<jobid>/exceptions  {"root-exception": "..."} (Flink 1.x) or
 *                               {"exceptionHistory": {"entries": [{"exceptionName",
 *                               "stacktrace"}]}} (both Flink 2.x)
 *   POST /jobs/<jobid>/savepoints, POST /savepoint-disposal
 *                              {"request-id": "<32 hex>"}
 *   GET  /jobs/<jobid>/savepoints/<id>, GET /savepoint-disposal/<id>
 *                              {"status": {"id": "IN_PROGRESS" | "COMPLETED"},
 *                               "operation": {"location": "..."} or
 *                               {"failure-cause": {"class", "stack-trace"}}}
 *   any error                  {"errors": ["...", ...]}
 *
 * Threads: every function is reentrant; none keeps state.
 */
#ifndef FLINC_CLIENT_REMOTE_H
#define FLINC_CLIENT_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"
#include "config/config.h"

/* Exit statuses of the client's commands (also in its usage text). */
enum {
	CL_EXIT_OK = 0,		 /* done; run: FINISHED, or submitted with -d */
	CL_EXIT_JOB = 1,	 /* the job FAILED, was CANCELED or SUSPENDED, or the
				    JobManager refused the request */
	CL_EXIT_USAGE = 2,	 /* bad arguments, configuration, job file or job id:
				    nothing was sent */
	CL_EXIT_UNREACHABLE = 3, /* no answer from the JobManager, or a reply that
				    could not be understood */
				 /* 128 + N: interrupted by signal N (130: Ctrl-C) */
};

/* Largest REST reply the client reads (a job with thousands of vertices
 * stays far below it). */
#define CL_MAX_REPLY ((size_t)16 << 20)

/* A job id: 32 hexadecimal digits (Flink's JobID.toHexString). */
#define CL_JOB_ID_LEN 32

/* ---------------------------------------------------- the JobManager */

typedef struct cl_address {
	char url[320];	 /* "http://host:port" (or https), no trailing '/' */
	char shown[330]; /* as -m takes it back: "host:port", or the https URL */
} cl_address;

/*
 * Parses a JobManager address as -m takes it: "HOST:PORT", "HOST" (port
 * default_port), "[IPV6]:PORT", or a URL "http://HOST[:PORT][/]" or
 * "https://...". HOST is a name or an IPv4 address ([A-Za-z0-9._-], at
 * most 253 bytes) or a bracketed IPv6 address; PORT is 1..65535.
 * Returns 0, or FL_EINVAL with err naming what is wrong (the text cut to
 * 80 bytes).
 */
int cl_address_parse(const char *s, int default_port, cl_address *out, cm_err *err);

/*
 * The JobManager's address from the configuration: rest.address (when
 * empty: jobmanager.rpc.address, as Flink falls back) and rest.port.
 * Returns 0 or FL_EINVAL (an address that does not parse, naming the key).
 */
int cl_address_from_config(const cfg *c, cl_address *out, cm_err *err);

/* ------------------------------------------------------------ job ids */

/* True when s is a job id: exactly 32 hexadecimal digits (any case). */
bool cl_job_id_valid(const char *s);

/* Sets err to Flink's refusal of s as a job id ("Cannot parse JobID from
 * ...") with what a job id is, s cut to 80 bytes; returns FL_EINVAL. */
int cl_job_id_refuse(const char *s, cm_err *err);

/* -------------------------------------------------------- job files */

/*
 * Checks that the bytes of a file (len bytes, the whole file) are an ELF
 * shared object this process could load: ELF magic, this machine's word
 * size, byte order and instruction set, type ET_DYN, and not a
 * position-independent executable (DF_1_PIE: dlopen refuses those).
 * Returns 0, or FL_EINVAL with err saying what the file is instead (the
 * caller adds the path).
 */
int cl_elf_check(const unsigned char *file, size_t len, cm_err *err);

/*
 * Opens a job file for upload: a regular file, readable, at most max_size
 * bytes (0: no limit), that passes cl_elf_check. On success *fd (owned by
 * the caller, O_CLOEXEC) and *size describe it; the upload reads the
 * descriptor checked, never the path again. Errors (err names the path):
 * the mapped errno (cannot open), FL_EINVAL (not a regular file, not a
 * shared object for this machine), FL_ERANGE (larger than max_size).
 */
int cl_job_file_open(const char *path, uint64_t max_size, int *fd, uint64_t *size, cm_err *err);

/* ------------------------------------------------------------ replies */

/*
 * POST /jars/upload: the jar id is the last path component of "filename".
 * Refuses a reply whose status is present and not "success", a filename
 * missing or empty, or a jar id that is ".", "..", longer than cap - 1 or
 * holds control characters. Returns 0 or FL_EPROTO.
 */
int cl_reply_upload(const char *body, size_t len, char *jar_id, size_t cap, cm_err *err);

/* POST /jars/<jarid>/run: "jobid", which must be a job id. Returns 0 or
 * FL_EPROTO. */
int cl_reply_run(const char *body, size_t len, char job_id[CL_JOB_ID_LEN + 1], cm_err *err);

/*
 * The "errors" of an error reply, one per line, cleaned, into out (cap
 * bytes, cut with "..." when longer). Returns the number of errors found
 * (0 when the reply is not JSON or has no "errors" array of strings; out
 * is then "").
 */
size_t cl_reply_errors(const char *body, size_t len, char *out, size_t cap);

/* Whether the reply parses as JSON. */
bool cl_reply_is_json(const char *body, size_t len);

typedef struct cl_vertex {
	char name[128];
	int64_t read, write; /* read-records, write-records; -1 when absent */
	bool source, sink;   /* from the plan: no inputs / nobody's input */
} cl_vertex;

typedef struct cl_job {
	char jid[CL_JOB_ID_LEN + 1];
	char name[128];
	char state[32];	     /* Flink's JobStatus name, "" when absent */
	int64_t start_time;  /* ms since the epoch; -1 when unknown */
	int64_t end_time;    /* -1 while running */
	int64_t duration;    /* ms; -1 when absent */
	cl_vertex *vertices; /* GET /jobs/<jobid> only; malloc'd */
	size_t nvertices;
	bool has_plan; /* source/sink are known */
} cl_job;

/* At most this many vertices are kept of a job (the rest are dropped). */
#define CL_MAX_VERTICES 1024

/*
 * GET /jobs/<jobid>. "jid" must be a job id and "state" a string; the rest
 * is optional. On success *out owns a vertex array (cl_job_fini). Returns
 * 0, FL_EPROTO or FL_ENOMEM.
 */
int cl_reply_job(const char *body, size_t len, cl_job *out, cm_err *err);
void cl_job_fini(cl_job *j);

typedef struct cl_job_list {
	cl_job *jobs; /* no vertices */
	size_t njobs;
} cl_job_list;

/* At most this many jobs are kept of an overview. */
#define CL_MAX_JOBS 100000

/* GET /jobs/overview: "jobs", an array of jobs as cl_reply_job reads them
 * (without vertices). Returns 0, FL_EPROTO or FL_ENOMEM. */
int cl_reply_overview(const char *body, size_t len, cl_job_list *out, cm_err *err);
void cl_job_list_fini(cl_job_list *l);

/*
 * GET /jobs/<jobid>/exceptions: the root cause as text (several lines when
 * it is a stack trace), cleaned, into out: "root-exception" when present,
 * else the first entry of exceptionHistory (its "stacktrace", or its
 * "exceptionName"). Returns 0, or FL_ENOENT (out = "") when the reply has
 * none.
 */
int cl_reply_exception(const char *body, size_t len, char *out, size_t cap);

/* ---------------------------------------------------------- job states */

enum cl_state_class {
	CL_STATE_SCHEDULED, /* CREATED, INITIALIZING */
	CL_STATE_RUNNING,   /* everything not globally terminal (and unknown names) */
	CL_STATE_TERMINAL,  /* FINISHED, FAILED, CANCELED */
};

/* Flink's classes of JobStatus names (case-sensitive, as Flink sends them). */
enum cl_state_class cl_state_class(const char *state);

/* ------------------------------------------------------------- output */

/* Which sections `flinc list` prints. */
#define CL_LIST_RUNNING 1u
#define CL_LIST_SCHEDULED 2u
#define CL_LIST_TERMINATED 4u

/*
 * Prints jobs as Flink's `flink list` does, to out: for each section asked
 * for (running/restarting, scheduled, terminated) a dashed title, one line
 * per job sorted by start time, "dd.MM.yyyy HH:mm:ss : <jid> : <name>
 * (<STATE>)" in local time, and a dashed line; "No running jobs." and "No
 * scheduled jobs." for empty sections (an empty terminated section prints
 * nothing). Sorts l->jobs in place.
 */
void cl_list_print(FILE *out, cl_job_list *l, unsigned sections);

/* 1234 -> "1234", 12345 -> "12.3K", then M and G (progress lines). */
void cl_human(uint64_t v, char *buf, size_t cap);

/*
 * A progress line of a job from its GET /jobs/<jobid> reply, as the local
 * run prints them: "[  12.3s] Source out=1.2K | Map in=1.2K out=1.2K |
 * Sink in=1.2K" (sources show out, sinks in; without a plan both).
 */
void cl_progress_line(const cl_job *j, char *buf, size_t cap);

/* What a run starts from (Flink's SavepointRestoreSettings). */
typedef struct cl_restore {
	const char *path;	 /* savepoint or checkpoint; NULL: none */
	bool allow_non_restored; /* its state of operators the job lacks may be skipped */
	const char *mode;	 /* CLAIM or NO_CLAIM; NULL: the cluster's default */
} cl_restore;

/*
 * The body of POST /jars/<jarid>/run (Flink 2.x's JarRunRequestBody):
 * {"programArgsList": [args...], "parallelism": N (when > 0),
 * "flinkConfiguration": {key: value, ...} (when nconf > 0, each conf[i] a
 * "key=value" split at its first '='), "savepointPath", "allowNonRestoredState"
 * and "restoreMode" (those restore (may be NULL) sets)}. *out is malloc'd
 * text. Returns 0, FL_EINVAL (an assignment without '=') or FL_ENOMEM.
 */
int cl_run_body(char *const *args, size_t nargs, int parallelism, const char *const *conf,
		size_t nconf, const cl_restore *restore, char **out, cm_err *err);

/* The body of POST /jobs/<jobid>/savepoints: {"target-directory": target
 * (when not NULL), "cancel-job": false}. 0 or FL_ENOMEM. */
int cl_savepoint_body(const char *target, char **out, cm_err *err);
/* The body of POST /jobs/<jobid>/stop: {"targetDirectory": target (if
 * any), "drain": drain}. 0 or FL_ENOMEM. */
int cl_stop_body(const char *target, bool drain, char **out, cm_err *err);
/* The body of POST /savepoint-disposal: {"savepoint-path": path}. 0 or
 * FL_ENOMEM. */
int cl_dispose_body(const char *path, char **out, cm_err *err);

/* The trigger id of an asynchronous operation's start: "request-id", 32
 * hexadecimal digits. Returns 0 or FL_EPROTO. */
int cl_reply_trigger(const char *body, size_t len, char id[CL_JOB_ID_LEN + 1], cm_err *err);

/* How an asynchronous operation (a savepoint, a disposal) stands. */
typedef struct cl_operation {
	bool done;	 /* COMPLETED */
	bool failed;	 /* it has a failure-cause */
	char text[4096]; /* the location, or the cause (several lines), cleaned */
} cl_operation;

/*
 * An operation's status: "status"."id" IN_PROGRESS or COMPLETED; when
 * completed, "operation"."failure-cause" (its "stack-trace", else its
 * "class") or else "operation"."location" (may be absent: a disposal has
 * none). Returns 0 or FL_EPROTO.
 */
int cl_reply_operation(const char *body, size_t len, cl_operation *out, cm_err *err);

/* Copies at most cap - 1 bytes of s into out, control characters (but
 * newline and tab when keep_lines) replaced by '?', never cutting a UTF-8
 * sequence in two. */
void cl_clean(char *out, size_t cap, const char *s, size_t len, bool keep_lines);

#endif
