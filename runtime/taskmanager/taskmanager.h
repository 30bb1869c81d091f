/*
 * taskmanager.h — a TaskManager: N task slots, a data-plane endpoint, and
 * the tasks deployed to it. In local mode several TaskManagers live in one
 * process and still exchange data over their endpoints (loopback TCP).
 *
 * Deployment is two-phase per job, so that every consumer gate exists before
 * any producer connects: tm_prepare_task for every task of the job on every
 * TaskManager, then tm_start_job everywhere.
 */
#ifndef FLINC_TASKMANAGER_TASKMANAGER_H
#define FLINC_TASKMANAGER_TASKMANAGER_H

#include "config/config.h"
#include "network/endpoint.h"
#include "taskmanager/task.h"

/* Task state reports to the JobMaster. Called on the task's thread. */
typedef void (*tm_state_fn)(void *arg, const char *job_id, int vertex, int subtask,
			    enum tm_task_state state, const char *error);

typedef struct tm_options {
	int index;  /* 0-based, for names and logs */
	int slots;  /* taskmanager.numberOfTaskSlots */
	const char *host; /* data address to bind, "127.0.0.1" locally */
	int port;         /* 0: any */
	const cfg *config;
	tm_state_fn on_state;
	void *on_state_arg;
} tm_options;

struct tm_taskmanager {
	int index, slots;
	char id[48];
	const cfg *config;
	net_endpoint *ep;
	tm_state_fn on_state;
	void *on_state_arg;
	uint32_t segment_size;
	int buffers_per_channel;
	pthread_mutex_t mu; /* guards tasks and the local channel registry */
	/* The output flusher (Flink's OutputFlusher): every TM_FLUSH_TICK_MS it
	 * raises each task's flush flag, so a partly filled buffer leaves
	 * within the buffer timeout even while a slow user function runs. */
	pthread_t flusher;
	pthread_cond_t flusher_cv;
	bool flusher_stop;
	tm_task **tasks;
	size_t ntasks, cap_tasks;
	struct tm_local_input {
		uint64_t id;
		net_gate *gate;
		int ch;
	} *inputs;
	size_t ninputs, cap_inputs;
};

int tm_new(tm_taskmanager **out, const tm_options *o, cm_err *err);
/* Cancels and joins every task, stops the endpoint, frees tm. */
void tm_free(tm_taskmanager *tm);
const char *tm_address(const tm_taskmanager *tm);

int tm_prepare_task(tm_taskmanager *tm, const char *job_id, const jg_graph *jg, int vertex,
		    int subtask, const tm_placement *pl, cm_err *err);
/* Connects and starts every prepared task of job_id. */
int tm_start_job(tm_taskmanager *tm, const char *job_id, cm_err *err);
void tm_cancel_job(tm_taskmanager *tm, const char *job_id);
/* Joins and frees every task of job_id (after all reached a final state). */
void tm_release_job(tm_taskmanager *tm, const char *job_id);

/* Sums records in/out of every operator (stream node id) of job_id into
 * in[] and out[] (arrays of the stream graph's node count). */
void tm_job_metrics(tm_taskmanager *tm, const char *job_id, uint64_t *in, uint64_t *out);

/* Local channel registry (used by tasks). */
int tm_register_local_input(tm_taskmanager *tm, uint64_t id, net_gate *g, int ch);
void tm_unregister_local_input(tm_taskmanager *tm, uint64_t id);
int tm_lookup_local_input(tm_taskmanager *tm, uint64_t id, net_gate **g, int *ch);
/* Called by a task's thread when it ends. */
void tm_report_state(tm_taskmanager *tm, tm_task *t, enum tm_task_state st, const char *error);

#endif
