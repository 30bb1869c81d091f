/*
 * taskmanager.h — a TaskManager (Flink's TaskExecutor): N task slots, a
 * data-plane endpoint, and the tasks deployed to it. In local mode several
 * TaskManagers live in one process and still exchange data over their
 * endpoints (loopback TCP).
 *
 * Deployment is two-phase per job attempt, so that every consumer gate
 * exists before any producer connects: tm_submit for every task of the job
 * on every TaskManager, then tm_start_job everywhere.
 *
 * Identity: a TaskManager is known by its resource id (taskmanager.resource-id,
 * generated when unset); its data endpoint binds to the bind host
 * (taskmanager.bind-host) and is advertised under the host peers dial
 * (taskmanager.host).
 *
 * Threads: every function is thread-safe. None blocks for long: tasks dial
 * their outputs on their own threads; tm_release_job joins threads that
 * already reported a final state.
 */
#ifndef FLINC_TASKMANAGER_TASKMANAGER_H
#define FLINC_TASKMANAGER_TASKMANAGER_H

#include "common/auth.h"
#include "config/config.h"
#include "taskmanager/task.h"

typedef struct tm_taskmanager tm_taskmanager;

/* Task state reports to the JobMaster, on the task's thread: RUNNING, then
 * one final state (error: the failure message, else NULL). */
typedef void (*tm_state_fn)(void *arg, const char *job_id, uint64_t attempt, int vertex,
			    int subtask, enum tm_task_state state, const char *error);

typedef struct tm_options {
	int index;	       /* 0-based, for names and logs */
	int slots;	       /* taskmanager.numberOfTaskSlots */
	const char *bind_host; /* data endpoint bind address */
	const char *host;      /* advertised data address host; NULL: bind_host */
	int port;	       /* 0: any */
	const char *resource_id; /* NULL: generated */
	const char *cluster_id;	 /* peers of another cluster are refused */
	const cm_secret *secret; /* the cluster's shared secret (copied) */
	const cfg *config;	 /* borrowed: must outlive the TaskManager */
	tm_state_fn on_state;
	void *on_state_arg;
} tm_options;

/* Starts a TaskManager (its endpoint listening, its output flusher).
 * Returns 0, FL_ENOMEM or FL_EIO (cannot listen) with err naming why. */
int tm_new(tm_taskmanager **out, const tm_options *o, cm_err *err);
/* Cancels and joins every task, stops the endpoint, frees tm. */
void tm_free(tm_taskmanager *tm);

const char *tm_resource_id(const tm_taskmanager *tm);
/* The advertised data address, "host:port". */
const char *tm_data_address(const tm_taskmanager *tm);
int tm_slots(const tm_taskmanager *tm);

/*
 * Phase 1: builds the task of descriptor td (taken over, even on error) and
 * registers its input channels. Returns 0 or an error with err naming it.
 */
int tm_submit(tm_taskmanager *tm, td_task *td, cm_err *err);
/* Phase 2: starts every submitted task of (job_id, attempt), adding the
 * number started to *started. Returns 0 or FL_ENOMEM (a thread could not
 * start; err says which task). */
int tm_start_job(tm_taskmanager *tm, const char *job_id, uint64_t attempt, int *started,
		 cm_err *err);
/* Cancels every task of (job_id, attempt); they report their final state. */
void tm_cancel_job(tm_taskmanager *tm, const char *job_id, uint64_t attempt);
/* Joins and frees every task of (job_id, attempt); call once all reported
 * a final state (or were never started). */
void tm_release_job(tm_taskmanager *tm, const char *job_id, uint64_t attempt);

/* Adds records in/out of every operator of (job_id, attempt) into in[] and
 * out[], indexed by stream node id (nnodes entries). */
void tm_job_metrics(tm_taskmanager *tm, const char *job_id, uint64_t attempt, uint64_t *in,
		    uint64_t *out, size_t nnodes);

#endif
