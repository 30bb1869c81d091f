/*
 * execgraph.h — the JobMaster's view of one job (Flink's ExecutionGraph):
 * the job's status, and per vertex and subtask the task's state, where it
 * runs, when it entered each state and why it failed. What the REST API
 * will serve (/jobs/:id, /jobs/:id/vertices/...) comes from here.
 *
 * States and their order are Flink's (ExecutionState, JobStatus). A final
 * state never changes again, so a late or duplicated report cannot undo
 * one; a report that does not move a subtask forward is refused.
 *
 * Threads: owned by the JobMaster's service loop; not thread-safe.
 */
#ifndef FLINC_JOBMANAGER_EXECGRAPH_H
#define FLINC_JOBMANAGER_EXECGRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "graph/jobgraph.h"
#include "taskmanager/task.h"

/* Flink's JobStatus, in Flink's order. */
enum eg_status {
	EG_INITIALIZING = 0,
	EG_CREATED,
	EG_RUNNING,
	EG_FAILING,
	EG_FAILED,
	EG_CANCELLING,
	EG_CANCELED,
	EG_FINISHED,
	/* The Dispatcher's, between attempts (a JobMaster never uses them). */
	EG_RESTARTING,
	EG_SUSPENDED,
	EG_NSTATUS
};

const char *eg_status_name(enum eg_status s);
bool eg_status_is_terminal(enum eg_status s);

typedef struct eg_subtask {
	enum tm_task_state state;
	int64_t since[TM_TASK_NSTATES]; /* wall-clock ms it entered each state, 0: never */
	int tm;				/* index of the TaskManager it runs on, -1: none */
	char *failure;			/* FAILED: why */
} eg_subtask;

typedef struct eg_vertex {
	int parallelism;
	eg_subtask *subtasks;
	int count[TM_TASK_NSTATES]; /* subtasks in each state */
} eg_vertex;

typedef struct eg_graph {
	const jg_graph *jg; /* borrowed */
	enum eg_status status;
	int64_t status_since[EG_NSTATUS];
	eg_vertex *vertices;
	size_t nvertices;
	int ntasks, nfinal; /* subtasks, and those in a final state */
	char *failure;	    /* the job's root cause once FAILING/FAILED */
} eg_graph;

/* Builds the graph of jg with every subtask CREATED and the job CREATED.
 * Returns 0 or FL_ENOMEM. */
int eg_new(eg_graph **out, const jg_graph *jg, int64_t now_ms);
void eg_free(eg_graph *eg);

/*
 * Moves subtask (vertex, subtask) to state at now_ms (failure: the message
 * for FAILED, else ignored). Returns true if it moved; false for an index
 * out of range or a transition Flink does not allow (out of a final state,
 * or backwards), which leaves the graph unchanged.
 */
bool eg_set_state(eg_graph *eg, int vertex, int subtask, enum tm_task_state state, int64_t now_ms,
		  const char *failure);

/* Moves the job to status, forward only: INITIALIZING, CREATED, RUNNING,
 * then CANCELLING or FAILING (CANCELLING may still turn FAILING), then a
 * terminal status (FINISHED not once failing or cancelling, CANCELED not
 * once failing); terminal statuses are final. The first failure cause is
 * kept. Returns true if it moved. */
bool eg_set_status(eg_graph *eg, enum eg_status status, int64_t now_ms, const char *failure);

/* A vertex's aggregate state as Flink computes it: FAILED if any subtask
 * failed, else CANCELING/CANCELED if any is, else the least advanced. */
enum tm_task_state eg_vertex_state(const eg_graph *eg, size_t vertex);

/* True when every subtask is in a final state. */
static inline bool eg_all_final(const eg_graph *eg)
{
	return eg->nfinal == eg->ntasks;
}

#endif
