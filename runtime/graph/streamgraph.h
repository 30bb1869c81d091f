/*
 * streamgraph.h — the dataflow as the user built it (Flink's StreamGraph):
 * one node per operator, source or sink, with its input edges. Keyed and
 * partitioned views are not nodes; they are the partitioner and key carried
 * by the edges into the next node.
 *
 * User functions are kept by symbol name (plus the library that holds them)
 * so that a TaskManager in another process can resolve them with dlsym.
 */
#ifndef FLINC_GRAPH_STREAMGRAPH_H
#define FLINC_GRAPH_STREAMGRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <flinc/flinc.h>

#include "common/err.h"
#include "common/resource.h"

enum sg_kind {
	SG_SOURCE_GENERATOR,
	SG_SOURCE_TEXT_FILE,
	SG_MAP,
	SG_FLAT_MAP,
	SG_FILTER,
	SG_REDUCE,
	SG_SUM,
	SG_MIN,
	SG_MAX,
	SG_SINK_PRINT,
	SG_SINK_TEXT_FILE,
	SG_SINK_DISCARD,
	SG_PROCESS, /* keyed process function */
	SG_WINDOW,  /* keyed time windows */
	/* Two-input operators (fl_connect): they head their task, their
	 * input edges say which input they feed (sg_edge.side). */
	SG_CO_MAP,
	SG_CO_FLAT_MAP,
	SG_CO_PROCESS,	      /* keyed co-process function */
	SG_CO_BROADCAST,      /* keyed broadcast process function */
	SG_WINDOW_JOIN,	      /* keyed window join */
	SG_INTERVAL_JOIN,     /* keyed interval join */
	SG_BROADCAST_PROCESS, /* broadcast process function of an unkeyed stream (the last
			       * two-input kind: sg_kind_is_two_input) */
	/* A socket text source (fl_socket_text): paths[0] is its "host:port",
	 * gen_count its retries (-1: for ever); parallelism 1. Last: kinds
	 * are numbered on the wire. */
	SG_SOURCE_SOCKET,
	/* A keyed window coGroup: a two-input kind (sg_kind_is_two_input),
	 * numbered after the socket source since kinds travel by number. */
	SG_WINDOW_COGROUP,
};

/* A window spec as it travels: fl_window_spec's numbers, its functions by
 * symbol. */
enum {
	SG_WIN_REDUCE,
	SG_WIN_CREATE,
	SG_WIN_ADD,
	SG_WIN_RESULT,
	SG_WIN_MERGE,
	SG_WIN_FN,
	SG_WIN_PROCESS,
	SG_WIN_NFNS
};
typedef struct sg_window {
	int kind, time;
	/* Session windows: size_ms is the gap; count windows: size_ms is the
	 * count and slide_ms the count slide (0: tumbling). */
	int64_t size_ms;
	int64_t slide_ms, lateness_ms;
	char *fns[SG_WIN_NFNS];
	/* fl_window_trigger: kind, its count or interval (0 for the default),
	 * purging; fl_window_evictor: kind, its count or keep_ms (0 for none),
	 * after. */
	int trigger;
	int64_t trigger_n;
	bool purging;
	int evictor;
	int64_t evictor_n;
	bool evict_after;
} sg_window;

enum sg_partitioner {
	SG_PART_UNSET = 0, /* forward if parallelism matches, else rebalance */
	SG_PART_FORWARD,
	SG_PART_REBALANCE,
	SG_PART_HASH,
	SG_PART_BROADCAST,
};

/* How a record's key is found: a field, or a user key-selector function. */
typedef struct sg_key {
	bool by_fn;
	uint32_t field;
	char *fn_symbol; /* by_fn: the exported name of the fl_key_fn */
} sg_key;

typedef struct sg_edge {
	int src; /* node id */
	enum sg_partitioner part;
	sg_key key; /* meaningful for SG_PART_HASH */
	/* From src's side output of this tag (fl_side_output; a window's late
	 * records: FL_LATE_RECORDS_TAG); "" from its main output. */
	char tag[FL_TAG_MAX + 1];
	uint8_t side; /* a two-input operator's input it feeds: 0 first, 1 second */
} sg_edge;

/* sg_node.sizes[i] of an input read as one unsplittable stream. */
#define SG_SIZE_STREAM (-1)

typedef struct sg_node {
	int id; /* index in sg_graph.nodes */
	enum sg_kind kind;
	char *name;      /* user-set or default name */
	char *uid;       /* fl_uid, or NULL: generated (sg_node_uid) */
	char *fn_symbol; /* map/flat_map/filter/reduce/process/generator function */
	int parallelism; /* 0: the job default */
	/* Set by fl_set_parallelism (Flink's isParallelismConfigured), not
	 * taken from the environment: an in-place change of the job's
	 * default parallelism keeps it. */
	bool parallelism_fixed;
	int max_parallelism;
	/* Not a parallel operator (a socket source, fl_window_all): its
	 * parallelism is 1, another is refused. */
	bool non_parallel;
	bool chaining_disabled;
	bool start_new_chain;
	char *slot_group; /* NULL: inherited from the inputs, else "default" */
	char *coloc_group; /* NULL: none (fl_colocate) */
	/* kind-specific parameters */
	int64_t gen_count;
	double gen_rate;
	char **paths;	/* text file source */
	int64_t *sizes; /* their sizes when the graph was built, so every
			 * subtask cuts the same splits (a file whose size then
			 * changes fails the job); SG_SIZE_STREAM: read as one
			 * stream by one subtask (size 0 in stat, a FIFO, a
			 * device) */
	size_t npaths;
	uint32_t field; /* sum/min/max */
	char *dir;      /* text file sink */
	/* Sources with fl_assign_timestamps_and_watermarks (event_time):
	 * wm_kind is its enum fl_watermark_kind; the assigner is ts_symbol,
	 * or field ts_field when NULL. wm_interval_ms: the job's
	 * pipeline.auto-watermark-interval (set by fl_execute). */
	bool event_time;
	int wm_kind;
	int64_t wm_bound_ms;
	char *ts_symbol;
	uint32_t ts_field;
	int64_t wm_interval_ms;
	int64_t wm_idle_ms; /* withIdleness: 0 none */
	/* A keyed process function's on_timer (fl_keyed_process), or NULL. */
	char *timer_symbol;
	/* A window (fl_window): its spec's numbers and its functions'
	 * symbols (SG_WIN_*; NULL where the spec has none). */
	sg_window win;
	/* Two-input operators: the second input's function (co_map's map2,
	 * co_process's process2, the broadcast side's function), the
	 * broadcast state's name (SG_CO_BROADCAST), an interval join's
	 * bounds (SG_INTERVAL_JOIN; a window join's windows are in win). */
	char *fn2_symbol;
	char *bstate_name;
	int64_t lower_ms, upper_ms;
	sg_edge *inputs;
	size_t ninputs;
} sg_node;

typedef struct sg_graph {
	sg_node **nodes;
	size_t nnodes, cap;
	/* Library holding the user functions; NULL: the main program. */
	char *library;
	int parallelism;     /* job default */
	int max_parallelism; /* key groups; 0: derived per operator, as Flink does */
	enum fl_runtime_mode mode;
	int64_t buffer_timeout_ms;
	bool overwrite_files; /* fs.overwrite-files: text sinks may replace output */
	/* execution.savepoint.path is set: text sinks continue the output of
	 * the job the state comes from (graph/outputs.h). */
	bool restored;
	/* Resource profiles registered per slot sharing group
	 * (fl_register_slot_sharing_group); a group not listed has none. */
	struct sg_group_resource *group_res;
	size_t ngroup_res;
} sg_graph;

/* A slot sharing group's declared profile. */
typedef struct sg_group_resource {
	char *name;
	cm_resource res;
} sg_group_resource;

/* Most slot sharing groups a job may declare profiles for. */
#define SG_MAX_GROUP_RESOURCES 1024

/* Returns 0 or FL_ENOMEM. */
int sg_graph_new(sg_graph **out);

/* Sets (or replaces: the last registration wins, as Flink's
 * registerSlotSharingGroup) the profile of slot sharing group name; res must
 * not be UNKNOWN. Returns 0, FL_ERANGE past SG_MAX_GROUP_RESOURCES groups,
 * or FL_ENOMEM (g unchanged on error). */
int sg_set_group_resource(sg_graph *g, const char *name, const cm_resource *res);
/* The profile registered for group name, or NULL. */
const cm_resource *sg_group_resource_of(const sg_graph *g, const char *name);
/* Copies every registered profile of src into dst (a new dataflow of the
 * same environment keeps them). Returns 0 or FL_ENOMEM. */
int sg_copy_group_resources(sg_graph *dst, const sg_graph *src);
void sg_graph_free(sg_graph *g);

/* Adds a node of kind with a copy of the given inputs. On success *out points
 * at the node (owned by g). Returns 0 or FL_ENOMEM. */
int sg_add_node(sg_graph *g, enum sg_kind kind, const sg_edge *inputs, size_t ninputs,
		sg_node **out);

/* The node's stable id: its fl_uid, or "<type>-<id>" ("sum-3") written to
 * buf. */
const char *sg_node_uid(const sg_node *n, char *buf, size_t cap);

/* Default display name of a node kind ("Map", "Keyed Aggregation", ...). */
const char *sg_kind_default_name(enum sg_kind kind);
/* Short operator type name used in plans and metrics ("map", "sum", ...). */
const char *sg_kind_type(enum sg_kind kind);
const char *sg_partitioner_name(enum sg_partitioner p);
bool sg_kind_is_source(enum sg_kind k);
bool sg_kind_is_sink(enum sg_kind k);
bool sg_kind_is_keyed(enum sg_kind k);
/* Operators with two inputs (fl_connect and the joins). */
bool sg_kind_is_two_input(enum sg_kind k);
/* The key selector of fl_window_all (Flink's NullByteKeySelector): one key
 * for every record, resolved inside the runtime by sg_resolve_function. */
#define SG_GLOBAL_KEY_SYMBOL "flinc.global-key"
/* Whether k is fl_window_all's key (k may be NULL). */
bool sg_key_is_global(const sg_key *k);
/* An edge's ship strategy as Flink names it: the partitioner's name, or
 * GLOBAL for fl_window_all's input. */
const char *sg_ship_strategy(enum sg_partitioner p, const sg_key *k);
/* The largest count of a count window (its elements are kept per key when
 * it slides). */
#define SG_MAX_COUNT_WINDOW (INT64_C(1) << 30)
/* The largest kind known (the descriptor decoder's bound). */
#define SG_KIND_LAST SG_WINDOW_COGROUP
/* Checks a window spec against flinc.h's rules (w's numbers; fns: a bit
 * 1 << SG_WIN_* per function the spec has): 0, or FL_EINVAL with why (cap
 * bytes) naming the field and its value. fl_window and the descriptor
 * decoder both use it. */
int sg_window_check(const sg_window *w, unsigned fns, char *why, size_t cap);

/* Deep copies of edges/keys. Return 0 or FL_ENOMEM. */
int sg_key_copy(sg_key *dst, const sg_key *src);
void sg_key_fini(sg_key *k);

/*
 * Names a user function for shipping: finds the exported symbol at exactly
 * `fn` with dladdr and records in *library the object that holds it ("" for
 * the main program). Returns 0 with *symbol (malloc'd) or FL_EINVAL with a
 * message naming `what` ("map", ...) when the function has no exported name
 * (a static or hidden function).
 */
int sg_name_function(const void *fn, const char *what, char **symbol, char **library, cm_err *err);

/*
 * Resolves symbol in library ("" or NULL: the main program / global scope).
 * Returns 0 with *fn, or FL_ENOENT with a message naming both.
 */
int sg_resolve_function(const char *library, const char *symbol, void **fn, cm_err *err);

#endif
