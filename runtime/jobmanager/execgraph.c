/*
 * execgraph.c — job and task states, with Flink's transition rules.
 */
#include "jobmanager/execgraph.h"

#include <stdlib.h>
#include <string.h>

const char *eg_status_name(enum eg_status s)
{
	static const char *const names[] = {"INITIALIZING", "CREATED",	  "RUNNING",
					    "FAILING",	    "FAILED",	  "CANCELLING",
					    "CANCELED",	    "FINISHED",	  "RESTARTING",
					    "SUSPENDED"};
	return (unsigned)s < EG_NSTATUS ? names[s] : "?";
}

bool eg_status_is_terminal(enum eg_status s)
{
	return s == EG_FAILED || s == EG_CANCELED || s == EG_FINISHED;
}

int eg_new(eg_graph **out, const jg_graph *jg, int64_t now_ms)
{
	eg_graph *eg = calloc(1, sizeof(*eg));
	if (!eg)
		return FL_ENOMEM;
	eg->jg = jg;
	if (!(eg->vertices = calloc(jg->nvertices ? jg->nvertices : 1, sizeof(*eg->vertices)))) {
		free(eg);
		return FL_ENOMEM;
	}
	eg->nvertices = jg->nvertices;
	for (size_t v = 0; v < jg->nvertices; v++) {
		eg_vertex *ev = &eg->vertices[v];
		ev->parallelism = jg->vertices[v].parallelism;
		if (!(ev->subtasks = calloc((size_t)ev->parallelism, sizeof(*ev->subtasks)))) {
			eg_free(eg);
			return FL_ENOMEM;
		}
		for (int i = 0; i < ev->parallelism; i++) {
			ev->subtasks[i].state = TM_TASK_CREATED;
			ev->subtasks[i].since[TM_TASK_CREATED] = now_ms;
			ev->subtasks[i].tm = -1;
		}
		ev->count[TM_TASK_CREATED] = ev->parallelism;
		eg->ntasks += ev->parallelism;
	}
	eg->status = EG_CREATED;
	eg->status_since[EG_CREATED] = now_ms;
	*out = eg;
	return 0;
}

void eg_free(eg_graph *eg)
{
	if (!eg)
		return;
	for (size_t v = 0; v < eg->nvertices; v++) {
		eg_vertex *ev = &eg->vertices[v];
		for (int i = 0; ev->subtasks && i < ev->parallelism; i++)
			free(ev->subtasks[i].failure);
		free(ev->subtasks);
	}
	free(eg->vertices);
	free(eg->failure);
	free(eg);
}

/* Flink's ExecutionState moves forward only; any live state may fail or be
 * cancelled; CANCELING may still end FINISHED (the task was done). */
static bool allowed(enum tm_task_state from, enum tm_task_state to)
{
	if (tm_task_state_is_final(from) || from == to)
		return false;
	if (to == TM_TASK_FAILED || to == TM_TASK_CANCELED || to == TM_TASK_CANCELING)
		return from != TM_TASK_CANCELING || to != TM_TASK_CANCELING;
	if (from == TM_TASK_CANCELING)
		return to == TM_TASK_FINISHED;
	return to > from;
}

bool eg_set_state(eg_graph *eg, int vertex, int subtask, enum tm_task_state state, int64_t now_ms,
		  const char *failure)
{
	if (vertex < 0 || (size_t)vertex >= eg->nvertices || (unsigned)state >= TM_TASK_NSTATES)
		return false;
	eg_vertex *ev = &eg->vertices[vertex];
	if (subtask < 0 || subtask >= ev->parallelism)
		return false;
	eg_subtask *st = &ev->subtasks[subtask];
	if (!allowed(st->state, state))
		return false;
	ev->count[st->state]--;
	ev->count[state]++;
	st->state = state;
	st->since[state] = now_ms;
	if (tm_task_state_is_final(state))
		eg->nfinal++;
	if (state == TM_TASK_FAILED && failure && !st->failure)
		st->failure = strdup(failure); /* best effort: the job keeps its own copy */
	return true;
}

/* How far a status is along the way to an end; a move goes forward only. */
static int status_rank(enum eg_status s)
{
	switch (s) {
	case EG_INITIALIZING:
		return 0;
	case EG_CREATED:
		return 1;
	case EG_RUNNING:
		return 2;
	case EG_CANCELLING:
		return 3;
	case EG_FAILING:
		return 4;
	default:
		return 5;
	}
}

static bool status_move_ok(enum eg_status from, enum eg_status to)
{
	if (eg_status_is_terminal(from) || from == to)
		return false;
	switch (to) {
	case EG_RESTARTING: /* the Dispatcher's, between JobMasters */
	case EG_SUSPENDED:
		return false;
	case EG_FINISHED: /* not once failing or cancelling */
		return status_rank(from) <= status_rank(EG_RUNNING);
	case EG_CANCELED: /* not once failing: that ends FAILED */
		return from != EG_FAILING;
	case EG_FAILED:
		return true;
	default:
		return status_rank(to) > status_rank(from);
	}
}

bool eg_set_status(eg_graph *eg, enum eg_status status, int64_t now_ms, const char *failure)
{
	if ((unsigned)status >= EG_NSTATUS || !status_move_ok(eg->status, status))
		return false;
	eg->status = status;
	eg->status_since[status] = now_ms;
	if (failure && !eg->failure)
		eg->failure = strdup(failure);
	return true;
}

enum tm_task_state eg_vertex_state(const eg_graph *eg, size_t vertex)
{
	const eg_vertex *ev = &eg->vertices[vertex];
	if (ev->count[TM_TASK_FAILED])
		return TM_TASK_FAILED;
	if (ev->count[TM_TASK_CANCELING])
		return TM_TASK_CANCELING;
	if (ev->count[TM_TASK_CANCELED])
		return TM_TASK_CANCELED;
	for (int s = 0; s < TM_TASK_NSTATES; s++)
		if (ev->count[s])
			return (enum tm_task_state)s;
	return TM_TASK_CREATED;
}
