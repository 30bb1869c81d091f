/*
 * adaptive.h — the adaptive scheduler's decisions (Flink's AdaptiveScheduler
 * with FLIP-291's declared resource requirements): per job vertex a lower and
 * an upper bound on its parallelism; from the slots a job can have, the
 * parallelism of every vertex. The Dispatcher (dispatcher.c) waits for
 * slots, starts the JobMaster at that parallelism and restarts it from the
 * latest checkpoint at another one when the slots or the bounds change.
 *
 * Pure functions over a job graph: no locks, no I/O.
 */
#ifndef FLINC_JOBMANAGER_ADAPTIVE_H
#define FLINC_JOBMANAGER_ADAPTIVE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "graph/jobgraph.h"

typedef struct ad_bounds {
	int lower, upper;
} ad_bounds;

/* What a number of slots gives a job (ad_plan). */
enum ad_fit {
	AD_INSUFFICIENT = 0, /* not every vertex reaches its lower bound */
	AD_SUFFICIENT,	     /* every vertex at or above its lower bound */
	AD_DESIRED,	     /* every vertex at its upper bound */
};

/* Flink's defaults: lower 1, upper the vertex's parallelism in jg. */
void ad_default_bounds(const jg_graph *jg, ad_bounds *b);

/*
 * The parallelism of each vertex of jg (par[nvertices]) with `slots` slots:
 * each slot sharing group starts with the slots of its highest lower bound,
 * the rest are handed out one at a time, in turn, to the groups below their
 * highest upper bound; a vertex runs at min(upper bound, its group's slots);
 * vertices joined by a forward edge run at the lowest of theirs. Returns how
 * well that fits; with AD_INSUFFICIENT par is still filled (with what the
 * slots give) for messages.
 */
enum ad_fit ad_plan(const jg_graph *jg, const ad_bounds *b, int slots, int *par);

/* Slots the job needs at parallelisms par: per slot sharing group its widest
 * vertex, summed. */
int ad_slots_needed(const jg_graph *jg, const int *par);
/* The same with every vertex at its lower (or upper) bound. */
int ad_slots_for_bounds(const jg_graph *jg, const ad_bounds *b, bool lower);

/*
 * Reads Flink's JobResourceRequirementsBody —
 *   {"<vertex id>": {"parallelism": {"lowerBound": L, "upperBound": U}}, ...}
 * — for job job_id (vertex ids as jg_vertex_id makes them) into out
 * (nvertices entries). Every vertex must be named once, 1 <= L <= U <= its
 * max parallelism, and vertices joined by a forward edge need the same
 * bounds. Returns 0 or FL_EINVAL with why naming the vertex and the field.
 */
int ad_bounds_from_json(const cJSON *body, const jg_graph *jg, const char *job_id,
			ad_bounds *out, char *why, size_t why_cap);

/* The same shape from b; NULL when out of memory. */
cJSON *ad_bounds_to_json(const jg_graph *jg, const char *job_id, const ad_bounds *b);

#endif
