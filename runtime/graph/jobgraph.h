/*
 * jobgraph.h — the job graph (Flink's JobGraph): stream nodes fused into
 * chains by Flink's chaining rules, one job vertex per chain, job edges
 * between vertices carrying the partitioner.
 *
 * Chaining rule: node B joins the chain of its input A when the edge A->B is
 * (resolved) FORWARD, B has exactly one input, A and B have the same
 * parallelism and slot sharing group, B does not start a new chain, and
 * neither has chaining disabled. A chain is a tree: its head may feed several
 * chained operators.
 *
 * Two-input operators (Flink's multiple-input chaining): a two-input node
 * with exactly one edge per input, both of them chainable as above, joins
 * the chain(s) of its two inputs, which then become one vertex: a chain is
 * a DAG. Both inputs in one vertex (a diamond) always chain. Two vertices
 * merge when every source either holds is a generator or a text file
 * source of regular files (one thread serves them in turns, and beside an
 * input gate: Flink's MultipleInputStreamTask with chained sources; a
 * socket source or a stream's text source keeps its own task), they have
 * the same max parallelism, and no job edge path joins them (that would be
 * a cycle through the task). A merged vertex may have several operators
 * fed from the network (its in_edges' dst_node say which) and sources
 * beside them; its ops[0] is network-fed whenever one of its operators is
 * (a vertex with in_edges is never headed by a source), and a source is
 * never fed by an edge. Vertices are then put back in topological order.
 *
 * Resolution done here: unset parallelism becomes the job default, unset
 * max parallelism the job's, unset slot sharing groups inherit from their
 * inputs, unset partitioners become FORWARD (same parallelism) or
 * REBALANCE.
 */
#ifndef FLINC_GRAPH_JOBGRAPH_H
#define FLINC_GRAPH_JOBGRAPH_H

#include <stdio.h>

#include "graph/streamgraph.h"

typedef struct jg_edge {
	int id;
	int src_vertex, dst_vertex;
	int src_node, dst_node; /* stream nodes at both ends */
	enum sg_partitioner part; /* resolved: never SG_PART_UNSET */
	const sg_key *key;        /* for HASH: points into the stream graph */
	int dst_input;            /* index of this edge among dst_node's inputs */
	const char *tag;          /* a side output's (sg_edge.tag), "" the main output */
	uint8_t side;             /* a two-input operator's input: 0 first, 1 second */
} jg_edge;

/* Whether e comes from a side output (its tag set). */
static inline bool jg_edge_is_side(const jg_edge *e)
{
	return e->tag && e->tag[0];
}

/* One operator of a chain and where its output goes. */
typedef struct jg_op {
	int node;           /* stream node id */
	int *chained;       /* indices into the vertex's ops[] fed in-thread */
	uint8_t *chained_side; /* [nchained]: the input of chained[i] fed, 0 or 1
				* (1 only for a two-input operator's second) */
	size_t nchained;
	int *out_edges;     /* job edge ids fed by this operator */
	size_t nout_edges;
} jg_op;

typedef struct jg_vertex {
	int id;
	char *name; /* "Source: Text File -> Flat Map" */
	int parallelism, max_parallelism;
	const char *slot_group;
	jg_op *ops; /* ops[0] is the head; topological order */
	size_t nops;
	/* job edge ids into the vertex: into the head, or, in a vertex that
	 * chained a two-input operator with two chains, into the head of
	 * either chain (the edge's dst_node) */
	int *in_edges;
	size_t nin_edges;
} jg_vertex;

/* A slot sharing group of the job: its slots are the job's slots
 * first_slot .. first_slot + width - 1 (sch_slot_of). */
typedef struct jg_group {
	const char *name; /* the vertices' slot_group */
	int width;	  /* its widest vertex's parallelism: the slots it needs */
	int first_slot;
	cm_resource res; /* declared profile; UNKNOWN: default slots */
} jg_group;

typedef struct jg_graph {
	const sg_graph *sg; /* borrowed: must outlive the job graph */
	char *job_name;
	jg_vertex *vertices; /* topological order */
	size_t nvertices;
	jg_edge *edges;
	size_t nedges;
	int slots_needed; /* sum over slot sharing groups of their highest parallelism */
	jg_group *groups; /* in order of their first vertex */
	size_t ngroups;
	int *node_vertex; /* stream node id -> vertex id */
	int *node_parallelism;
	char **node_slot_group;
	/* While jg_rescale builds: parallelism and max parallelism per
	 * stream node, instead of what the stream graph says. */
	const int *force_par, *force_maxp;
} jg_graph;

/*
 * Builds the job graph of sg. Errors (FL_EINVAL with a message): no
 * operators, an explicit FORWARD edge between different parallelisms,
 * parallelism above max parallelism, a keyed aggregation whose input is not
 * keyed, an unbounded source in BATCH mode, a cycle. Returns 0, FL_EINVAL or
 * FL_ENOMEM; on success *out is owned by the caller.
 */
int jg_build(const sg_graph *sg, const char *job_name, jg_graph **out, cm_err *err);
void jg_free(jg_graph *g);

/*
 * The job graph g at other parallelisms (parallelism[v] for vertex v),
 * for the adaptive scheduler's rescales: the same stream graph, vertices,
 * chains, edges and max parallelisms (so keyed state keeps its key
 * groups). FL_EINVAL when a parallelism is outside 1..the vertex's max
 * parallelism or the graph would take another shape (a forward edge
 * between vertices of different parallelism); *out owned by the caller.
 */
int jg_rescale(const jg_graph *g, const int *parallelism, jg_graph **out, cm_err *err);

/* Flink's default max parallelism for an operator of this parallelism. */
int jg_default_max_parallelism(int parallelism);

/* Prints the plan as text or as a Graphviz digraph. */
void jg_print_text(const jg_graph *g, FILE *f);
void jg_print_dot(const jg_graph *g, FILE *f);

#endif
