/*
 * jobmaster.h — the JobMaster of one job (Flink's JobMaster): a service with
 * its own loop (Flink's main-thread executor) and mailbox, owning the job's
 * execution graph (execgraph.h).
 *
 * Its inputs are messages: replies of TaskManager gateway calls, task state
 * reports, heartbeat replies and their timeouts, a cancellation request,
 * progress ticks. What it does, in order:
 *   1. asks every TaskManager gateway for its slots;
 *   2. assigns slots (slot sharing: subtask i of every vertex of a group
 *      goes to the group's i-th slot; each slot on the TaskManager the
 *      ResourceManager placed it, else round-robin across TaskManagers
 *      so pipelines spread out) — or fails with the numbers when they do not
 *      suffice;
 *   3. submits every task's deployment descriptor (phase one), then starts
 *      the job attempt on every TaskManager once all were accepted (phase
 *      two), and reports the job RUNNING;
 *   4. follows task states; the first failure fails the job (no restart
 *      strategy without checkpoints, as in Flink) and every other task is
 *      cancelled; a cancellation request cancels every task;
 *   5. heartbeats every TaskManager each heartbeat.interval; one that does
 *      not answer within heartbeat.timeout fails the job;
 *   6. when every task is final, releases them on every TaskManager and
 *      ends FINISHED, FAILED or CANCELED.
 *
 * Threads: jm_new, jm_cancel, jm_wait and jm_free are thread-safe; the
 * listener's callbacks run on the JobMaster's loop.
 */
#ifndef FLINC_JOBMANAGER_JOBMASTER_H
#define FLINC_JOBMANAGER_JOBMASTER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/cancel.h"
#include "config/config.h"
#include "graph/jobgraph.h"
#include "jobmanager/execgraph.h"
#include "rpc/gateway.h"

typedef struct jm_result {
	int status; /* 0 FINISHED, FL_EJOBFAILED, FL_ECANCELED, or the deployment error */
	char job_id[33];
	char error[CM_ERR_MSG_MAX];
	int64_t runtime_ms;
} jm_result;

/* Records in and out of one operator (stream node), summed over subtasks. */
typedef struct jm_node_progress {
	const char *name;
	bool source, sink;
	uint64_t in, out;
} jm_node_progress;

/* A job vertex's network I/O over its subtasks, from the last complete
 * metrics round: Flink's read-bytes, write-bytes and accumulated
 * back-pressured time (ms, summed over subtasks). */
typedef struct jm_vertex_io {
	uint64_t bytes_in, bytes_out, back_pressured_ms;
} jm_vertex_io;

typedef struct jm_progress {
	const char *job_id;
	int64_t elapsed_ms;
	size_t nnodes;
	const jm_node_progress *nodes; /* valid during the call */
} jm_progress;

/*
 * What the launcher of a job hears about it (Flink's job status listener
 * and the client's progress), on the JobMaster's thread; every member may be
 * NULL. submitted: once the job has an id; progress: about once a second
 * while the job runs and once at its end; status: after each change of the
 * job's status (it may take a lock of the caller's, provided no thread
 * holding that lock waits for this JobMaster). A request on cancel while the
 * job runs cancels it (it ends CANCELED, status FL_ECANCELED).
 */
typedef struct jm_listener {
	void *arg;
	void (*submitted)(void *arg, const char *job_id, const char *job_name);
	void (*progress)(void *arg, const jm_progress *p);
	void (*status)(void *arg, enum eg_status status);
	/* A TaskManager cancelled a task itself: it is shutting down (SIGTERM,
	 * its pod deleted). Called before the job fails for it, on the
	 * JobMaster's thread, so the caller can keep it from getting slots of
	 * a restart. May be NULL. */
	void (*taskmanager_stopping)(void *arg, const char *resource_id);
	cm_cancel *cancel;
} jm_listener;

typedef struct jm_jobmaster jm_jobmaster;

typedef struct jm_params {
	const jg_graph *jg;	  /* borrowed: outlives the JobMaster */
	rpc_tm_gateway **tms;	  /* the TaskManagers offering slots, borrowed */
	size_t ntms;
	const cfg *config;	  /* heartbeat.*, borrowed */
	const jm_listener *listener; /* may be NULL; borrowed */
	/* How TaskManagers reach this JobMaster: NULL registers it in this
	 * process as "local:jobmaster-<job id>"; otherwise an address served by
	 * an RPC server the caller runs over jm_gateway(). */
	const char *address;
	/* At most this many slots of each TaskManager (tms order), NULL: all
	 * it reports. A session cluster's ResourceManager gives a job a share
	 * of each TaskManager. Copied. */
	const int *slot_limit;
	/* The TaskManager (index into tms) of each of the job's
	 * jg->slots_needed slots, as the ResourceManager fitted them to the
	 * slot sharing groups' profiles; NULL: round-robin over the slots.
	 * Copied. */
	const uint32_t *placement;
	/* Where TaskManagers load the user library from (td_placement's
	 * library): NULL for the graph's own path. */
	const char *library;
	/* The job's id (32 hex digits) when the caller chose it, else NULL. */
	const char *job_id;
	/* The job's checkpoint coordinator (borrowed; outlives the JobMaster),
	 * NULL: no checkpoints. The JobMaster triggers periodic checkpoints
	 * once every task runs, and savepoints on request. */
	struct cp_coordinator *cp;
} jm_params;

/* Fills id with 32 random hex digits (Flink's JobID form). */
void jm_new_job_id(char id[33]);

/* Heartbeat requests to TaskManagers, of every JobMaster in this process,
 * still unanswered when the next one was due (thread-safe). */
uint64_t jm_heartbeats_missed(void);

/*
 * Starts the JobMaster of p->jg and its job. Returns 0 with *out (free with
 * jm_free after jm_wait) or FL_ENOMEM with err.
 */
int jm_new(jm_jobmaster **out, const jm_params *p, cm_err *err);
/* Requests cancellation (idempotent, thread-safe). */
void jm_cancel(jm_jobmaster *jm);
/* Blocks until the job reached a terminal status and every TaskManager
 * released it; fills res. */
void jm_wait(jm_jobmaster *jm, jm_result *res);
/* Waits up to timeout_ms for the job to reach a terminal status; true
 * once it has (jm_wait then returns soon). */
bool jm_wait_for(jm_jobmaster *jm, int64_t timeout_ms);
/* Frees the JobMaster (after jm_wait). */
void jm_free(jm_jobmaster *jm);

/* A savepoint's end, on the JobMaster's loop: rc 0 and its directory, or
 * an error and why. */
typedef void (*jm_savepoint_fn)(void *arg, int rc, const char *path_or_error);
/* Takes a savepoint into target (NULL: the configured savepoint directory),
 * with stop the sources' last (stop-with-savepoint: they end once it
 * completed, and the job FINISHES): fn is called exactly once, also when
 * the job ends first. Thread-safe.
 * Returns 0 (fn will be called) or FL_ENOMEM / FL_EINVAL (no coordinator;
 * fn is not called). */
int jm_trigger_savepoint(jm_jobmaster *jm, const char *target, bool stop, jm_savepoint_fn fn,
			 void *arg);
/* A checkpoint now, as a periodic one is taken (min-pause, one at a time)
 * but without waiting for the interval: the adaptive scheduler's before a
 * rescale (Flink's rescale-trigger.active-checkpoint). fn as for
 * jm_trigger_savepoint, with the checkpoint's directory. */
int jm_trigger_checkpoint(jm_jobmaster *jm, jm_savepoint_fn fn, void *arg);

/* The JobMaster's own gateway, for an RPC server that exposes it. Owned by
 * the JobMaster. */
rpc_jm_gateway *jm_gateway(jm_jobmaster *jm);
/* The job's id (valid for the JobMaster's lifetime). */
const char *jm_job_id(const jm_jobmaster *jm);
/* The job attempt (random, fixed at jm_new): scopes channels and reports. */
uint64_t jm_attempt(const jm_jobmaster *jm);

/* What a query sees, on the JobMaster's loop, valid during the call only:
 * the graphs, the records in/out per stream node from the last complete
 * metrics round (nodes[i].in/out; zero before the first), and the resource
 * id of each TaskManager (eg subtasks' tm indexes into tm_ids; an entry is
 * NULL before that TaskManager answered). */
typedef struct jm_view {
	const jg_graph *jg;
	const struct eg_graph *eg;
	const char *job_id;
	uint64_t attempt;
	const jm_node_progress *nodes;
	size_t nnodes;
	const jm_vertex_io *vertex_io; /* per job vertex */
	const char *const *tm_ids;
	size_t ntms;
} jm_view;
typedef void (*jm_view_fn)(void *arg, const jm_view *v);

/* Runs fn on the JobMaster's loop and waits for it (the REST API's window
 * into a running job, Flink's RPC to the JobMaster's main thread). Not from
 * the loop itself. Valid until jm_free, also after the job ended. Returns 0
 * or FL_ECANCELED (the loop is stopping). */
int jm_query(jm_jobmaster *jm, jm_view_fn fn, void *arg);

#endif
