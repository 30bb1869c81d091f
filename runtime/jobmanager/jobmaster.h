/*
 * jobmaster.h — runs one job graph on a set of TaskManagers (Flink's
 * JobMaster with the standalone ResourceManager's fixed slots).
 *
 * Scheduling: all tasks are deployed at once (streaming, pipelined). Slot
 * sharing: subtask i of every vertex of a slot sharing group goes to the
 * group's i-th slot, so a job needs as many slots as the widest vertex per
 * group. Slots are taken round-robin across TaskManagers, so that pipelines
 * spread out and data crosses TaskManagers. Failure: the first failed task
 * fails the job (no restart strategy without checkpoints, as in Flink);
 * every other task is cancelled.
 */
#ifndef FLINC_JOBMANAGER_JOBMASTER_H
#define FLINC_JOBMANAGER_JOBMASTER_H

#include "graph/jobgraph.h"
#include "common/cancel.h"
#include "graph/descriptor.h"
#include "taskmanager/taskmanager.h"

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
 * while the job runs and once at its end. A request on cancel while the job
 * runs cancels it (it ends CANCELED, status FL_ECANCELED).
 */
typedef struct jm_listener {
	void *arg;
	void (*submitted)(void *arg, const char *job_id, const char *job_name);
	void (*progress)(void *arg, const jm_progress *p);
	cm_cancel *cancel;
} jm_listener;

typedef struct jm_job jm_job;

/* Fills id with 32 random hex digits (Flink's JobID form). */
void jm_new_job_id(char id[33]);

/*
 * Runs jg on the TaskManagers and blocks until it ends. The TaskManagers
 * must have been created with jm_on_task_state as their state callback and
 * the address of *slot (which jm_run_job fills) as its argument, so that
 * reports reach the running job. Returns 0 when the job ran (res->status
 * says how it ended) or an error when it could not be scheduled (not enough
 * slots: res->error names the numbers).
 */
int jm_run_job(tm_taskmanager **tms, size_t ntms, jm_job **slot, const jg_graph *jg,
	       const jm_listener *listener, jm_result *res);

/* The TaskManagers' state callback; arg is a jm_job ** (see above). */
void jm_on_task_state(void *arg, const char *job_id, uint64_t attempt, int vertex, int subtask,
		      enum tm_task_state state, const char *error);

#endif
