/*
 * rescale_history.h — what the adaptive scheduler did to a job's
 * parallelism, for Flink's REST endpoints /jobs/:jobid/rescales/{config,
 * overview,history,summary,details/:rescaleuuid} (FLIP-487 and FLIP-495,
 * Flink 2.3) and the dashboard's Rescales tab.
 *
 * A rescale is one pass from a reason to change the parallelism (the first
 * schedule, new resource requirements, new slots, a restart after a
 * failure) to the JobMaster running at the new one, or to the reason it
 * did not get there. The Dispatcher's job thread writes it (rh_begin,
 * rh_state, rh_end) as its adaptive scheduler moves; the REST threads read
 * it. Not thread-safe: the caller holds one lock around both (the
 * Dispatcher's mu). Records are self-contained, so they outlive the job's
 * graph and are shown after its end.
 *
 * web.adaptive-scheduler.rescale-history.size (Flink's default 0) bounds
 * the records kept; 0 keeps none and the endpoints other than config answer
 * 404, as Flink's do.
 */
#ifndef FLINC_JOBMANAGER_RESCALE_HISTORY_H
#define FLINC_JOBMANAGER_RESCALE_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "graph/jobgraph.h"
#include "jobmanager/adaptive.h"

/* Flink's TriggerCause. */
enum rh_cause {
	RH_INITIAL_SCHEDULE = 0,
	RH_UPDATE_REQUIREMENT,
	RH_NEW_RESOURCE_AVAILABLE,
	RH_RECOVERABLE_FAILOVER,
};

/* Flink's TerminalState; IN_PROGRESS while it is none. */
enum rh_terminal { RH_IN_PROGRESS = 0, RH_COMPLETED, RH_FAILED, RH_IGNORED, RH_NTERMINALS };

/* Flink's TerminatedReason. */
enum rh_reason {
	RH_NO_REASON = 0,
	RH_SUCCEEDED,
	RH_EXCEPTION_OCCURRED,
	RH_RESOURCE_REQUIREMENTS_UPDATED,
	RH_NO_RESOURCES_OR_PARALLELISMS_CHANGE,
	RH_JOB_FINISHED,
	RH_JOB_FAILED,
	RH_JOB_CANCELED,
	RH_JOB_FAILOVER_RESTARTING,
};

/* The adaptive scheduler's settings, as /rescales/config shows them
 * (milliseconds; -1: flinc has no such setting, shown as null). */
typedef struct rh_config {
	int history_max;
	int64_t wait_timeout, submit_stable, slot_idle, cooldown, exec_stable;
	int64_t max_trigger_delay;
	int rescale_on_failed_checkpoints;
} rh_config;

typedef struct rh_history rh_history;

/* A history for job job_id (32 hex digits) under config c. Returns 0 or
 * FL_ENOMEM. */
int rh_new(const rh_config *c, const char *job_id, rh_history **out);
void rh_free(rh_history *h);
const rh_config *rh_config_of(const rh_history *h);

/* A new resource requirements id (after a PUT of resource requirements):
 * the rescales begun after it carry it, their attempt ids counted from 1. */
void rh_new_requirements(rh_history *h);
/* How many times rh_new_requirements was called. */
unsigned rh_requirements_gen(const rh_history *h);

/*
 * A rescale begins at wall time now, for `cause`, with the graph as
 * submitted (base: names, slot sharing groups), the bounds b and the
 * parallelisms it runs at (pre; NULL when it runs at none), in scheduler
 * state `state` (Flink's names: "Executing", "WaitingForResources",
 * "Restarting", "CreatingExecutionGraph"). A rescale still in progress ends
 * first as IGNORED for reason `superseded`. Returns 0, or FL_ENOMEM (then
 * nothing is recorded; the job goes on).
 */
int rh_begin(rh_history *h, int64_t now, enum rh_cause cause, const jg_graph *base,
	     const ad_bounds *b, const int *pre, const char *state, enum rh_reason superseded);

/* The rescale in progress enters scheduler state `state` (NULL-safe: no
 * rescale, nothing happens). */
void rh_state(rh_history *h, int64_t now, const char *state);

/* Whether a rescale is in progress. */
bool rh_in_progress(const rh_history *h);

/*
 * The rescale in progress ends: post are the parallelisms the job runs at
 * now (NULL: none), exception the error text of a FAILED one (or NULL).
 * COMPLETED with SUCCEEDED becomes IGNORED with
 * NO_RESOURCES_OR_PARALLELISMS_CHANGE when post equals its pre.
 */
void rh_end(rh_history *h, int64_t now, enum rh_terminal t, enum rh_reason r, const int *post,
	    const char *exception);

/* The endpoints' bodies; NULL when out of memory. rh_details_json also
 * NULL when no rescale kept has that uuid (*found false). */
cJSON *rh_config_json(const rh_history *h);
cJSON *rh_overview_json(const rh_history *h);
cJSON *rh_history_json(const rh_history *h);
cJSON *rh_summary_json(const rh_history *h);
cJSON *rh_details_json(const rh_history *h, const char *uuid, bool *found);

#endif
