/*
 * dispatcher_internal.h — the Dispatcher's state, shared by dispatcher.c
 * (jobs, libraries, runs) and dispatcher_rest.c (the REST API over them).
 */
#ifndef FLINC_JOBMANAGER_DISPATCHER_INTERNAL_H
#define FLINC_JOBMANAGER_DISPATCHER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/cancel.h"
#include "jobmanager/dispatcher.h"
#include "jobmanager/execgraph.h"
#include "jobmanager/jobmaster.h"

/* Finished jobs kept for the REST API (Flink's jobstore.max-capacity). */
#define DS_MAX_ARCHIVED 1000
/* Failures a job's exception history keeps (restarted attempts). */
#define DS_MAX_HISTORY 16
/* Uploaded libraries kept at once. */
#define DS_MAX_JARS 256

struct ds_jar {
	struct ds_jar *next;
	char id[192]; /* "<32 hex>_<name>" */
	char name[128];
	char path[4400];
	char hash[65];
	uint64_t size;
	int64_t uploaded_ms;
};

struct ds_job {
	struct ds_job *next;
	ds_dispatcher *d;
	char id[33];
	char name[128];
	bool batch;
	int64_t start_ms, end_ms; /* wall clock; end -1 while running */
	/* What the REST API shows: the JobMaster's status as it changes
	 * (on_jm_status), FAILED shown as FAILING until the Dispatcher
	 * decided against a restart; then RESTARTING or the final status.
	 * Written under mu; atomic so that JobMaster loops building a
	 * job's JSON read it without mu. */
	_Atomic enum eg_status status;
	jm_jobmaster *jm;	  /* while it runs (mu); queries hold refs */
	int refs;
	bool ended; /* its thread is done with it */
	cm_cancel cancel;
	bool cancel_ready;
	char *details;	  /* archived /jobs/:id JSON, after the end */
	char *exceptions; /* archived /jobs/:id/exceptions JSON */
	char *plan;	  /* /jobs/:id/plan JSON, from the start */
	char error[CM_ERR_MSG_MAX];
	/* Failures that restarted the job, newest first (hmu: read on
	 * JobMaster loops and REST threads). */
	pthread_mutex_t hmu;
	struct {
		int64_t when;
		char msg[CM_ERR_MSG_MAX];
	} history[DS_MAX_HISTORY];
	int nhistory;
	char restart_strategy[300];
	/* Its checkpoints across restarts; NULL for a batch job. Thread-safe
	 * on its own; freed with the entry. */
	struct cp_coordinator *cp;
	/* Savepoint operations asked for through the REST API (mu), newest
	 * first, at most DS_MAX_SAVEPOINT_OPS. */
	struct ds_sp_op *sp_ops;
	int nsp_ops;
	/* Subtasks of all its vertices, and how many are in each state
	 * while it has no JobMaster: all CREATED before, as archived after
	 * (mu). With a JobMaster, its loop has the counts. */
	int ntasks;
	int task_counts[TM_TASK_NSTATES];
	/* The adaptive scheduler (jobmanager.scheduler: adaptive, streaming
	 * jobs; NULL otherwise, and once the job ended): the job graph as
	 * submitted, whose vertex ids and max parallelisms the bounds use,
	 * and the bounds per vertex, as PUT /jobs/:jobid/resource-requirements
	 * last set them (mu). Each PUT wakes cv. */
	bool adaptive; /* set before the job is listed, then constant */
	const struct jg_graph *adaptive_jg;
	struct ad_bounds *bounds;
	/* The running JobMaster is being stopped to restart at another
	 * parallelism (mu): its CANCELLING is shown as RESTARTING. */
	bool rescaling;
	/* Its rescales, for /jobs/:jobid/rescales/... (mu): an adaptive job's,
	 * kept after its end; NULL for other jobs. */
	struct rh_history *rescales;
};

/* Savepoint operations kept per job (Flink's completed-operation cache). */
#define DS_MAX_SAVEPOINT_OPS 64

/* A savepoint (or stop-with-savepoint) asked for through the REST API. */
struct ds_sp_op {
	struct ds_sp_op *next;
	char id[33]; /* the trigger id */
	bool done;
	int rc;		  /* 0: result is the savepoint's path, else why it failed */
	bool cancel_job;  /* cancel the job once the savepoint completed */
	char result[1100];
};

/* Records a failure that restarted j (takes j->hmu). */
void ds_job_note_failure(struct ds_job *j, int64_t when, const char *msg);

struct ds_dispatcher {
	rpc_jm_gateway gw;
	const cfg *config;
	rm_resourcemanager *rm;
	char jm_address[300];
	char upload_dir[4096];
	char rest_address[300];
	pthread_mutex_t mu;
	pthread_cond_t cv; /* refs dropped, runs ended, a run submitted */
	struct ds_jar *jars;
	size_t njars;
	struct ds_job *jobs; /* newest first */
	size_t njobs;
	int runs; /* main() threads running */
	bool stopping;
	/* High availability (NULL: none); suspending: the JobManager stops
	 * without ending its jobs globally (their checkpoints and HA records
	 * stay for the next leader). */
	struct jm_ha *ha;
	bool suspending;
	/* Savepoint disposals asked for through the REST API (mu), newest
	 * first, at most DS_MAX_DISPOSALS; done one at a time, in order, by a
	 * worker thread that runs while some are waiting
	 * (dispatcher_dispose.c). */
	struct ds_dispose_op *disposals;
	int ndisposals;
	bool dispose_worker_running, dispose_worker_started;
	pthread_t dispose_worker;
};

/* Savepoint disposals kept (Flink's completed-operation cache) and, of them,
 * waiting or in progress at most. */
#define DS_MAX_DISPOSALS 64

/* A savepoint disposal (POST /savepoint-disposal). */
struct ds_dispose_op {
	struct ds_dispose_op *next;
	char id[33]; /* the trigger id */
	bool started, done;
	int rc;			     /* when done: 0, or cp_dispose's error */
	char result[CM_ERR_MSG_MAX]; /* why it failed */
	char path[4096];
};

/* Starts disposing the savepoint at path (cp_dispose, on the disposal
 * worker); trigger_id names the new operation. Returns 0, FL_EINVAL (no
 * path, or too long), FL_ERANGE (DS_MAX_DISPOSALS waiting already),
 * FL_ECANCELED (the Dispatcher is stopping) or FL_ENOMEM, with err. */
int ds_dispose(ds_dispatcher *d, const char *path, char trigger_id[33], cm_err *err);
/* A copy of disposal id. Returns 0 or FL_ENOENT. */
int ds_dispose_status(ds_dispatcher *d, const char *id, struct ds_dispose_op *out);
/* Waits for the disposal worker (those not started fail: the JobManager is
 * shutting down) and frees the operations. After ds_cancel_all. */
void ds_dispose_fini(ds_dispatcher *d);

/* Finds job id and takes a reference (mu not held). NULL if unknown. */
struct ds_job *ds_job_get(ds_dispatcher *d, const char *id);
void ds_job_put(ds_dispatcher *d, struct ds_job *j);

/* A job's details / exceptions (Flink's JSON) from a JobMaster view (on
 * its loop) or, with v NULL, from what the entry alone knows (mu held). A
 * tree for the caller to delete, or NULL when out of memory. */
cJSON *ds_details_tree(struct ds_job *j, const jm_view *v);
cJSON *ds_exceptions_tree(struct ds_job *j, const jm_view *v);
/* The text of a tree, which is deleted; NULL when either is missing. */
char *ds_print_free(cJSON *o);
/* Adds up the subtasks of every vertex in each state (on the loop). */
void ds_task_counts(const jm_view *v, int counts[TM_TASK_NSTATES]);

/* Starts a savepoint of running job j into target (NULL: the configured
 * directory), cancelling the job after it when cancel_job, or, with stop,
 * as stop-with-savepoint (the sources end once it completed and the job
 * FINISHES; if it fails, the job goes on); trigger_id
 * names the operation (given: 32 hex digits, else a new one; an id already
 * used names that operation and starts nothing). Returns 0, FL_EINVAL (a
 * batch job, no directory), FL_ECLOSED (not running), FL_ERANGE (too many
 * in progress) or FL_ENOMEM, with err. */
int ds_savepoint(ds_dispatcher *d, struct ds_job *j, const char *target, bool cancel_job,
		 bool stop, char trigger_id[33], cm_err *err);
/* A copy of operation id of j. Returns 0 or FL_ENOENT. */
int ds_savepoint_status(ds_dispatcher *d, struct ds_job *j, const char *id, struct ds_sp_op *out);

/* Uploads and runs (dispatcher.c), for the REST handlers. */
int ds_jar_add(ds_dispatcher *d, const char *filename, const uint8_t *data, size_t len,
	       struct ds_jar *out, cm_err *err);
int ds_jar_delete(ds_dispatcher *d, const char *id);
/* Runs main() of jar id with args and configuration c (taken over, freed
 * here); fills job_id with the first job main() submitted, which gets
 * want_id (32 hex digits; a job of that id must not exist) when set.
 * Returns 0, FL_ENOENT (no such jar) or an error with err. */
int ds_jar_run(ds_dispatcher *d, const char *id, int argc, char **argv, cfg *c,
	       const char *want_id, char job_id[33], cm_err *err);
/* Runs main() of jar id as ds_jar_run does, but plans its first job instead
 * of submitting it: *plan is Flink's job graph plan (malloc'd JSON text),
 * under job_id when set (32 hex digits), else under a new id. */
int ds_jar_plan(ds_dispatcher *d, const char *id, int argc, char **argv, cfg *c,
		const char *job_id, char **plan, cm_err *err);

#endif
