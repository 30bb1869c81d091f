/* env.h — the environment behind the public fl_env / fl_stream handles. */
#ifndef FLINC_API_ENV_H
#define FLINC_API_ENV_H

#include <stdbool.h>
#include <stddef.h>

#include <flinc/flinc.h>

#include "api/launch.h"
#include "common/err.h"
#include "config/config.h"
#include "graph/streamgraph.h"

struct fl_env {
	cfg *config; /* owned: the launcher's copy plus fl_env_set_* */
	sg_graph *graph;
	cm_err err; /* first error while building; later calls are no-ops */
	int argc;
	char **argv;
	fl_stream **streams; /* every handle handed out, freed with env */
	size_t nstreams, cap_streams;
	/* Bumped by fl_execute, which starts a new dataflow as Flink clears its
	 * transformations: handles of an earlier generation are refused. */
	unsigned generation;
};

/*
 * A stream handle. A concrete stream is a node's output (node >= 0, one
 * edge from it with an unset partitioner); a view (node < 0) is a set of
 * edges with partitioners and keys that the next node takes as its inputs.
 */
struct fl_stream {
	fl_env *env;
	int node;
	sg_edge *edges;
	size_t nedges;
	bool keyed;
	unsigned generation;
	/* fl_connect's view: the first stream's edges (side 0), then the
	 * second's (side 1); keyed2: the second is keyed (keyed: the first). */
	bool connected, keyed2;
	/* fl_broadcast_state's view, and a connect with one: the broadcast
	 * state's descriptor (the job's, static), else NULL. */
	const fl_state_desc *bdesc;
};

/* Starts a new, empty dataflow in env (after fl_execute). Returns 0 or
 * FL_ENOMEM. */
int env_reset_graph(fl_env *env);

/* Records the first error of env without logging it (the cause was logged
 * where it happened) and returns code. */
int env_record(fl_env *env, int code, const char *msg);
/* Records the first error of env (logged at once) and returns code. */
int env_fail(fl_env *env, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
