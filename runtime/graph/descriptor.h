/*
 * descriptor.h — the task deployment descriptor (Flink's
 * TaskDeploymentDescriptor): everything a TaskManager needs to run one
 * subtask, as plain data the TaskManager owns. A task never points into the
 * JobMaster's memory; across processes the descriptor travels as bytes
 * (td_encode / td_decode) and in one process it takes the same path.
 *
 * What it holds: the job (id, attempt, name, library of the user functions,
 * runtime mode, buffer timeout), the vertex (its chain of operators with
 * their parameters and user function names), the subtask index, the input
 * channels (Flink's InputGateDeploymentDescriptor: per input edge the
 * producer parallelism and the channel ids), and for each network output
 * only the consumers of this subtask (Flink's ResultPartitionDeployment
 * Descriptor): which TaskManager runs each consumer subtask, as an index into
 * a small table of peers (resource id, data address).
 *
 * Channel ids are unique within a job attempt only: the data plane scopes
 * every connection to one attempt (see network/endpoint.h), so ids need not
 * be unpredictable. Edge e's channel from producer subtask i to consumer
 * subtask j is edge_base[e] + i * pd + j, or edge_base[e] + i for a FORWARD
 * edge (i == j), pd being the consumer parallelism.
 */
#ifndef FLINC_GRAPH_DESCRIPTOR_H
#define FLINC_GRAPH_DESCRIPTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "graph/jobgraph.h"

/* Most bytes an encoded descriptor may have; td_decode refuses more. */
#define TD_MAX_ENCODED (16u * 1024u * 1024u)
/* Caps applied while decoding (outside input). */
#define TD_MAX_OPS 1024
#define TD_MAX_PATHS 65536
#define TD_MAX_PEERS 65536
#define TD_MAX_PARALLELISM 32768
#define TD_MAX_STRING 65536

typedef struct td_key {
	bool by_fn;
	uint32_t field;
	char *fn_symbol; /* by_fn: the exported name of the fl_key_fn */
} td_key;

/* One network output of an operator: a job edge seen from one producer. */
typedef struct td_output {
	int edge;		  /* job edge id */
	enum sg_partitioner part; /* resolved: FORWARD, REBALANCE, HASH, BROADCAST */
	td_key key;		  /* HASH: how the key is found */
	char *dst_name;		  /* consuming operator, for messages */
	int dst_parallelism, dst_max_parallelism;
	uint64_t edge_base; /* channel id base of the edge */
	int nconsumers;	    /* FORWARD: 1, else dst_parallelism */
	uint32_t *consumer_peer; /* [nconsumers]: index into td_task.peers */
	/* A side output's tag (fl_output), "" for a main output: side outputs
	 * come after the main ones (td_op.nouts counts both). */
	char tag[FL_TAG_MAX + 1];
} td_output;

/* A keyed state file an operator restores from: an old subtask's, whose
 * key groups kg_first..kg_last meet the new subtask's range (the task reads
 * only the intersection). */
typedef struct td_restore_file {
	char *path; /* absolute */
	int kg_first, kg_last;
} td_restore_file;

/*
 * What an operator starts from when its job is restored from a checkpoint
 * or savepoint (td_task.restore_id != 0) and the checkpoint holds its uid:
 * its share of the operator's list state, redistributed as Flink's
 * round-robin repartitioner does (unchanged parallelism: its own), and the
 * keyed state files meeting its key groups. An operator not restored
 * starts empty, as a new operator does in Flink.
 */
typedef struct td_restore {
	bool restored;
	uint8_t *list; /* cp_list encoding (checkpoint/metadata.h); NULL: empty */
	size_t list_len;
	td_restore_file *files;
	size_t nfiles;
} td_restore;

/* One operator of the chain; the fields mirror sg_node's. */
typedef struct td_op {
	int node; /* stream node id (metrics are per node) */
	enum sg_kind kind;
	char *name;
	char *uid;	 /* its stable id (sg_node_uid): names its state in checkpoints */
	char *fn_symbol; /* NULL when the kind has no user function */
	td_key key;	 /* keyed operators: the key of their input */
	int64_t gen_count;
	double gen_rate;
	char **paths;
	int64_t *sizes;
	size_t npaths;
	uint32_t field;
	char *dir;
	/* Sources: the watermark strategy (sg_node's fields; event_time
	 * false: none, no timestamps). */
	bool event_time;
	int wm_kind;
	int64_t wm_bound_ms;
	char *ts_symbol;
	uint32_t ts_field;
	int64_t wm_interval_ms;
	int64_t wm_idle_ms; /* a source's idle timeout (withIdleness), 0: none */
	/* A keyed process function's on_timer, or NULL (no timers). */
	char *timer_symbol;
	sg_window win; /* SG_WINDOW, SG_WINDOW_JOIN: its spec (streamgraph.h) */
	/* Two-input operators (sg_node's fields): the second input's
	 * function, the key of the second input (keyed kinds but the
	 * broadcast one), the broadcast state's name, an interval join's
	 * bounds. */
	char *fn2_symbol;
	td_key key2;
	char *bstate_name;
	int64_t lower_ms, upper_ms;
	int *chained; /* indices into td_task.ops fed in-thread */
	uint8_t *chained_side; /* [nchained]: the input of chained[i] fed (1: a
				* two-input operator's second); NULL: all 0 */
	size_t nchained;
	td_output *outs;
	size_t nouts;
	td_restore restore;
} td_op;

/* One input edge of the chain: into the head, or into another operator
 * fed from the network when a two-input operator chained two chains
 * (never into a source: one chained beside the gate reads on its own). */
typedef struct td_input {
	int edge;
	int src_parallelism;
	bool forward;	    /* one channel, from the producer with our index */
	uint64_t edge_base; /* channel id base of the edge */
	int op;		    /* index into td_task.ops of the operator it feeds */
	uint8_t side;	    /* that operator's input: 0, or 1 for a two-input one's second */
} td_input;

typedef struct td_peer {
	char *resource_id;
	char *data_address; /* "host:port" of its data endpoint */
} td_peer;

typedef struct td_task {
	char job_id[33];
	uint64_t attempt; /* job attempt: scopes channel ids and connections */
	char *job_name;
	char *library; /* "" : the main program */
	bool batch;
	int64_t buffer_timeout_ms;
	int nnodes; /* stream nodes of the job (size of per-node metrics) */
	int vertex;
	char *vertex_name;
	int subtask, parallelism, max_parallelism;
	/* The checkpoint or savepoint the task starts from (its id), 0 for a
	 * fresh start; operators' shares are in td_op.restore. */
	uint64_t restore_id;
	/* state.backend.type of the job: "hashmap" or "lmdb" (NULL: hashmap). */
	char *state_backend;
	/* execution.checkpointing.incremental: checkpoints write keyed state
	 * as deltas on the previous one (savepoints stay whole). */
	bool incremental;
	/* execution.checkpointing.mode AT_LEAST_ONCE: barriers are not
	 * aligned (taskmanager/align.h). */
	bool at_least_once;
	/* FLIP-147 (periodic checkpoints, checkpoints after tasks finish): a
	 * task whose operators commit on checkpoints finishes only after a
	 * checkpoint taken past its end of input completed. */
	bool final_checkpoint;
	td_op *ops; /* ops[0] is the head, topological order */
	size_t nops;
	td_input *inputs;
	size_t ninputs;
	td_peer *peers;
	size_t npeers;
} td_task;

/* Where every subtask of a job runs, as the JobMaster decided. */
typedef struct td_placement {
	const char *job_id;
	uint64_t attempt;
	const td_peer *peers;	  /* the TaskManagers, borrowed */
	size_t npeers;
	const uint32_t *const *subtask_peer; /* [vertex][subtask] -> peer index */
	const uint64_t *edge_base;	  /* [job edge] -> channel id base */
	/* Where TaskManagers find the user library: NULL for the graph's own
	 * path, or a locator such as "blob:<sha256>" (fetched from the
	 * JobManager, see taskmanager.h). */
	const char *library;
} td_placement;

/*
 * Computes the channel id bases of jg's edges into edge_base[jg->nedges]
 * (consecutive ranges: an edge has ps*pd channels, ps when FORWARD).
 */
void td_edge_bases(const jg_graph *jg, uint64_t *edge_base);

/* The channel id of edge base b from producer i to consumer j (see above). */
static inline uint64_t td_channel_id(uint64_t base, bool forward, int i, int j, int pd)
{
	return forward ? base + (uint64_t)i : base + (uint64_t)i * (uint64_t)pd + (uint64_t)j;
}

/*
 * Builds the descriptor of (vertex, subtask) of jg placed by pl. On success
 * *out is owned by the caller (td_free); nothing in it points into jg or pl.
 * Returns 0 or FL_ENOMEM.
 */
int td_build(const jg_graph *jg, const td_placement *pl, int vertex, int subtask, td_task **out);

/*
 * Encodes td into malloc'd bytes (*out, *len), at most TD_MAX_ENCODED.
 * Returns 0, FL_ENOMEM, or FL_ERANGE when the descriptor would be larger.
 */
int td_encode(const td_task *td, uint8_t **out, size_t *len);

/*
 * Decodes bytes from an encoder that may be a peer: every length, count and
 * index is checked (caps above, peers in range, chained indices after their
 * operator, kinds known, every input of every operator fed exactly once:
 * by one chained operator or by the network, the head a source exactly
 * when there are no inputs, sources after the head only generators and
 * text file sources, none fed from the network), and nothing is allocated
 * beyond what the input can hold. Returns 0 with *out owned by the caller, FL_ENOMEM, or FL_EPROTO with
 * err naming what was wrong and at which byte.
 */
int td_decode(const uint8_t *buf, size_t len, td_task **out, cm_err *err);

void td_free(td_task *td);
/* Frees what r holds and empties it. */
void td_restore_fini(td_restore *r);

#endif
