/*
 * task.h — one parallel subtask of a job vertex: a thread running an
 * operator chain, reading its input gate (or its source) and writing its
 * record writers.
 *
 * Lifecycle: tm_task_new (resolve functions, build the chain, create and
 * register the input gate) -> tm_task_connect (create record writers and
 * their channels: every consumer gate of the job must exist by then) ->
 * tm_task_start (thread) -> the thread reports its final state through the
 * TaskManager -> tm_task_join -> tm_task_free.
 */
#ifndef FLINC_TASKMANAGER_TASK_H
#define FLINC_TASKMANAGER_TASK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include <flinc/flinc.h>

#include "common/err.h"
#include "graph/jobgraph.h"
#include "network/gate.h"
#include "network/writer.h"
#include "state/heapmap.h"

enum tm_task_state {
	TM_TASK_DEPLOYING = 0,
	TM_TASK_RUNNING,
	TM_TASK_FINISHED,
	TM_TASK_CANCELED,
	TM_TASK_FAILED,
};

const char *tm_task_state_name(enum tm_task_state s);

typedef struct tm_task tm_task;
typedef struct tm_taskmanager tm_taskmanager;

/* Where every subtask of the job runs: addresses[vertex][subtask] is the
 * data address of its TaskManager. Shared, read-only while the job runs. */
typedef struct tm_placement {
	const char *const *const *addresses;
	uint64_t channel_base; /* job-wide base of channel ids */
	const uint64_t *edge_base; /* per job edge: first channel id offset */
} tm_placement;

/* Channel id of edge e between producer subtask i and consumer subtask j. */
uint64_t tm_channel_id(const tm_placement *pl, const jg_graph *jg, int e, int i, int j);

/* A network output of an operator. */
typedef struct tm_out {
	net_writer *writer;
	const jg_edge *edge;
	int dst_parallelism, max_parallelism;
	fl_key_fn key_fn; /* HASH by function */
} tm_out;

typedef struct tm_op tm_op;
typedef int (*tm_process_fn)(tm_op *op, const fl_row *row);
struct tm_op {
	/* Set once from the node kind: a direct call per record instead of a
	 * switch through op->node. */
	tm_process_fn process;
	const sg_node *node;
	tm_task *task;
	void *fn; /* resolved user function, if any */
	tm_op **chained;
	size_t nchained;
	tm_out *outs;
	size_t nouts;
	/* Counted by the task thread in plain fields, published to the atomics
	 * every few hundred records for the progress reader. */
	uint64_t n_in, n_out;
	_Atomic uint64_t records_in, records_out;
	/* keyed aggregations */
	st_heapmap *state;
	const sg_key *key;
	fl_key_fn key_fn;
	/* Keys that do not fit the stack buffer: [0] for the state key, [1] for
	 * partitioning output, since an aggregation may need both at once. */
	uint8_t *key_heap[2];
	size_t key_heap_cap[2];
	uint8_t *acc_buf; /* encoded new accumulator */
	size_t acc_cap;
	int max_parallelism;
	/* sinks */
	char *out_buf; /* print: pending lines */
	size_t out_len, out_cap;
	FILE *file;    /* text file sink */
	char *file_tmp, *file_final;
};

/* Largest encoded key handled on the stack; longer keys fail the record. */
#define TM_KEY_BUF 512
#define TM_PREFETCH_WINDOW 16

/* A record's key, hashed ahead of its state update (see tm_agg_key). */
typedef struct tm_prefetched_key {
	uint8_t kb[TM_KEY_BUF];
	size_t kl;
	uint32_t h;
	int fast;
} tm_prefetched_key;

struct fl_ctx {
	tm_task *task;
	int subtask, parallelism;
	char *scratch;
	size_t scratch_used;
	char user_msg[CM_ERR_MSG_MAX];
	bool user_failed;
};

struct fl_collector {
	tm_op *op;
};

struct tm_task {
	tm_taskmanager *tm;
	char job_id[33];
	const jg_graph *jg;
	const jg_vertex *vertex;
	int subtask;
	char name[256]; /* "Map -> Sink (2/4)" */
	const tm_placement *placement;
	net_gate *gate; /* NULL for a source vertex */
	uint64_t *in_ids; /* registered input channel ids */
	int nin;
	int ended_channels;
	tm_prefetched_key *prefetch_keys; /* TM_PREFETCH_WINDOW, for a keyed head */
	tm_op *ops; /* vertex ops, same order */
	size_t nops;
	fl_ctx ctx;
	int64_t buffer_timeout_ms;
	int64_t next_flush_ms;
	bool batch;
	_Atomic bool cancelled;
	/* Set by other threads for the task thread to act on at its next
	 * record: TM_ATTN_FLUSH (the flusher's tick) and TM_ATTN_CANCEL. One
	 * relaxed load per record is all the hot path pays. */
	_Atomic int attention;
	_Atomic int state;
	cm_err err;
	pthread_t thread;
	bool started;
};

/* Builds the task (functions resolved, gate registered with tm). Returns 0
 * or an error with err naming the cause; on error nothing is left behind. */
int tm_task_new(tm_taskmanager *tm, const char *job_id, const jg_graph *jg, int vertex, int subtask,
		const tm_placement *pl, tm_task **out, cm_err *err);
/* Creates the record writers and their channels. */
int tm_task_connect(tm_task *t, cm_err *err);
int tm_task_start(tm_task *t, cm_err *err);
/* Requests cancellation: wakes the thread wherever it waits. Thread-safe. */
void tm_task_cancel(tm_task *t);
void tm_task_join(tm_task *t);
void tm_task_free(tm_task *t);

/* Operator entry points used by the task loop and by sources. */
static inline int tm_op_process(tm_op *op, const fl_row *row)
{
	op->n_in++;
	return op->process(op, row);
}
/*
 * Keyed aggregation heads, batched: tm_agg_key encodes a record's field key
 * into kb (cap >= 512), hashes it and prefetches its state slot, returning 1
 * (0: no fast path for this key, use tm_op_process); tm_agg_process_keyed
 * then processes the record with that key and hash. Hashing a window of
 * records ahead hides the state lookup's cache miss.
 */
int tm_agg_key(tm_op *op, const fl_row *row, uint8_t *kb, size_t cap, size_t *kl, uint32_t *h);
int tm_agg_process_keyed(tm_op *op, const fl_row *in, const uint8_t *kb, size_t kl, uint32_t h);
/* Sets op->process from the operator kind. */
void tm_op_init(tm_op *op);
/* Publishes the task's record counters for metrics readers. */
void tm_task_publish_metrics(tm_task *t);
int tm_op_end_input(tm_op *op);
int tm_op_open(tm_op *op, cm_err *err);
/* Finishes sinks (flush, rename): `ok` false on failure or cancel. */
int tm_op_close(tm_op *op, bool ok);
/* Sends op's pending output (print buffer, partial network buffers). */
int tm_op_flush(tm_op *op);

/* Records the first failure of the task (op may be NULL). Returns rc. */
int tm_task_fail(tm_task *t, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define TM_ATTN_FLUSH 1
#define TM_ATTN_CANCEL 2

/* Handles a raised attention flag: FL_ECANCELED if cancelled, else flushes
 * when the buffer timeout passed. */
int tm_task_attend(tm_task *t);

static inline int tm_task_check(tm_task *t)
{
	return atomic_load_explicit(&t->attention, memory_order_relaxed) ? tm_task_attend(t) : 0;
}

/* Source loops (sources.c). */
int tm_run_generator(tm_task *t);
int tm_run_text_source(tm_task *t);

/* Flushes every writer and sink buffer of the task if its timeout passed
 * (or always, when force). */
int tm_task_maybe_flush(tm_task *t, bool force);

#endif
