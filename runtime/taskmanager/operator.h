/*
 * operator.h — an operator chain (Flink's OperatorChain): the operators of
 * one subtask, called in one thread as plain function calls with an fl_row
 * on the stack, and the source loops that head a chain.
 *
 * Layering: this file knows nothing of tasks, TaskManagers or gates. The
 * task (task.h) embeds a tm_chain, gives its operators their record writers
 * (tm_out.writer) and runs either a source loop from here or its own input
 * loop that feeds tm_op_process. Operators record failures in the chain
 * (tm_chain_fail) and see cancellation through its flags.
 *
 * Threads: everything here runs on the task's thread, except where a
 * function says otherwise (the flags and the published counters are read or
 * set by other threads).
 */
#ifndef FLINC_TASKMANAGER_OPERATOR_H
#define FLINC_TASKMANAGER_OPERATOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <flinc/flinc.h>

#include "common/buf.h"
#include "common/err.h"
#include "graph/descriptor.h"
#include "network/writer.h"
#include "state/backend.h"
#include "state/snapshot_file.h"

typedef struct tm_chain tm_chain;
typedef struct tm_op tm_op;

/* A network output of an operator; writer is set by the task. */
typedef struct tm_out {
	net_writer *writer;
	const td_output *desc; /* in the chain's descriptor */
	fl_key_fn key_fn;      /* HASH by function */
} tm_out;

typedef int (*tm_process_fn)(tm_op *op, const fl_row *row);

/*
 * What an operator's snapshot hook records for one checkpoint (the task
 * gathers them into its acknowledgement): its list state (Flink's operator
 * ListState, redistributed element by element when the job is restored at
 * another parallelism), its keyed state file, or why it declines.
 */
typedef struct tm_snapshot {
	uint64_t id;
	int kind;	 /* enum cp_kind */
	const char *dir; /* the checkpoint's directory */
	/* Incremental checkpoints (td->incremental, kind CP_CHECKPOINT): the
	 * latest checkpoint the task heard completed, what a delta may build
	 * on. tm_snapshot_keyed sets delta, since (the base cut's epoch), the
	 * earlier files of the chain (base_files[nbase], names from dir) and
	 * hist (where the writer records the file's size). */
	uint64_t base_id;
	bool delta;
	uint64_t since;
	char **base_files;
	size_t nbase;
	struct tm_inc_entry *hist;
	cm_wbuf *elems;	 /* list state elements (tm_snapshot_add) */
	uint64_t nelems;
	char keyed_file[160]; /* its keyed state file in dir; "" none */
	st_cut *cut;	      /* to write as keyed_file off the task thread */
	/* What the writer passes each entry of the cut through (TTL cleanup),
	 * on its thread; filter_free(filter_arg) when the cut is written or
	 * dropped. NULL: none. */
	st_snap_filter_fn filter;
	void *filter_arg;
	void (*filter_free)(void *arg);
	uint64_t keyed_bytes;
	int kg_first, kg_last;	  /* key groups in that file */
	char why[CM_ERR_MSG_MAX]; /* set with a nonzero return: declines */
} tm_snapshot;

/* Adds one element to the snapshot's list state. */
void tm_snapshot_add(tm_snapshot *s, const void *p, size_t len);

/*
 * An operator's behaviour (Flink's StreamOperator), one per kind: every
 * hook but process may be NULL (nothing to do). All run on the task's
 * thread, in this order: open, restore (when the job is restored and the
 * checkpoint holds the operator's uid), then process / snapshot / notify
 * interleaved, end_input, close; fini frees what the operator holds in
 * every case (also after a failed open).
 *   restore   reads the operator's share (td_restore); an error fails the
 *             task with err.
 *   snapshot  records the operator's state at a barrier (nothing after
 *             the barrier has been processed); returns 0 or declines the
 *             checkpoint with s->why (the task goes on). NULL: stateless.
 *   notify    checkpoint id completed (true) or was aborted (false);
 *             completed means every checkpoint up to id is (Flink's
 *             notifyCheckpointComplete); returns 0 or an error that fails
 *             the task.
 */
typedef struct tm_op_class {
	tm_process_fn process;
	/* Two-input operators: the records of the second input (process
	 * takes the first's). NULL for every other kind. */
	tm_process_fn process2;
	/* Keyed operators other than the aggregations: process with the key
	 * already encoded and hashed (the batched path of tm_agg_key and
	 * tm_agg_process_keyed); NULL for the aggregations themselves. */
	int (*process_keyed)(tm_op *op, const fl_row *in, const uint8_t *kb, size_t kl,
			     uint32_t h);
	/* Optional, beside process_keyed: a hint that the record of key kb
	 * (hash h) and timestamp ts (TM_TS_NONE: none) comes soon, to prefetch
	 * the state it will read (a window's, whose namespace the timestamp
	 * picks). Without it tm_agg_key prefetches the key's entry of
	 * op->state_id. */
	void (*prefetch)(tm_op *op, int64_t ts, const uint8_t *kb, size_t kl, uint32_t h);
	int (*open)(tm_op *op, cm_err *err);
	int (*restore)(tm_op *op, const td_restore *rs, cm_err *err);
	int (*end_input)(tm_op *op);
	int (*flush)(tm_op *op);
	int (*snapshot)(tm_op *op, tm_snapshot *s);
	int (*notify)(tm_op *op, uint64_t id, bool completed);
	int (*close)(tm_op *op, bool ok);
	void (*fini)(tm_op *op);
	/* Timers (keyed process functions with an on_timer). watermark: the
	 * chain's watermark rose to w; fires the event-time timers due
	 * before w goes downstream. proc_timers: fires the processing-time
	 * timers due now and sets *deadline (cm_now_ms time) to when the
	 * next may be due (INT64_MAX: none pending). Both return 0 or an
	 * error recorded in the chain. */
	int (*watermark)(tm_op *op, int64_t w);
	int (*proc_timers)(tm_op *op, int64_t *deadline);
} tm_op_class;

/*
 * For keyed operators (every one keeps its state in one st_backend):
 * tm_keyed_backend_open makes the job's backend (state.backend.type) with
 * the task's local directory and memory share (open hook; 0 or an error
 * with err). tm_snapshot_keyed writes the key groups of the subtask from a
 * cut of b as its keyed file in the checkpoint (snapshot hook: fills
 * s->keyed_file and friends; declines with s->why). tm_restore_keyed
 * reads this subtask's key groups of every file in rs into b, whichever
 * backend wrote them, mapping states by name (restore hook).
 */
int tm_keyed_backend_open(tm_op *op, st_backend **out, cm_err *err);
int tm_snapshot_keyed(tm_op *op, st_backend *b, tm_snapshot *s);
/* tm_snapshot_keyed with a filter of the entries written (TTL cleanup;
 * snapshot_file.h), run on the thread that writes the file; filter_arg is
 * the snapshot's from the call on (filter_free frees it; NULL: nothing to
 * free), also when the cut fails. */
int tm_snapshot_keyed_filtered(tm_op *op, st_backend *b, tm_snapshot *s, st_snap_filter_fn filter,
			       void *filter_arg, void (*filter_free)(void *arg));
int tm_restore_keyed(tm_op *op, st_backend *b, const td_restore *rs, cm_err *err);

/* The classes of the sources (sources.c) and sinks (sinks.c). */
/* The class of an operator kind: what it does and whether it has state
 * (snapshot). */
const tm_op_class *tm_op_class_of(enum sg_kind k);
extern const tm_op_class tm_generator_class;
extern const tm_op_class tm_text_source_class;
extern const tm_op_class tm_socket_source_class;
extern const tm_op_class tm_print_class;
extern const tm_op_class tm_file_sink_class;
extern const tm_op_class tm_discard_class;
/* The keyed process function's (process_op.c). */
extern const tm_op_class tm_process_class;
/*
 * Processing time of keyed operators (state TTL, timers, windows;
 * process_op.c): the wall clock in epoch ms or, when the environment of the
 * process names FLINC_FAKE_CLOCK_FILE (a test hook), the number of ms in
 * that file, read again at most every 10 ms. tm_clock_init reads the
 * environment (0 or FL_ENOMEM with err; who names the task in the log);
 * tm_clock_deadline turns the next timer's time (INT64_MAX: none) into a
 * cm_now_ms deadline for the task loop.
 */
typedef struct tm_clock {
	char *file; /* the fake clock, or NULL */
	int64_t ms, read_at;
	bool warned;
} tm_clock;
int tm_clock_init(tm_clock *k, const char *who, cm_err *err);
void tm_clock_fini(tm_clock *k);
int64_t tm_clock_now(tm_clock *k);
int64_t tm_clock_deadline(const tm_clock *k, int64_t now, int64_t next);
/* The keyed co-process function's and the keyed broadcast process
 * function's (process_op.c). */
extern const tm_op_class tm_co_process_class;
extern const tm_op_class tm_broadcast_process_class;
extern const tm_op_class tm_broadcast_unkeyed_class;
/* The keyed window join's and interval join's (process_op.c). */
extern const tm_op_class tm_join_class;
/* The keyed windows' (window_op.c). */
extern const tm_op_class tm_window_class;
/* A source's process hook: what it produces is emitted. */
int tm_source_process(tm_op *op, const fl_row *row);
/* A row to op's side outputs of tag (outs[nmain..]): returns how many
 * there are (0: none, the row dropped) or the error (recorded in the
 * chain). */
int tm_emit_side(tm_op *op, const char *tag, const fl_row *row);

/* A generator's range of offsets still to emit (a split, as Flink's
 * NumberSequenceSource's): next .. end - 1. */
typedef struct tm_gen_split {
	int64_t next, end;
	int64_t max_ts; /* event time: its largest timestamp (TM_TS_NONE) */
} tm_gen_split;

struct tm_op {
	/* Set once from the node kind: a direct call per record instead of a
	 * switch through op->node. */
	tm_process_fn process;
	tm_process_fn process2; /* a two-input head's second input */
	const tm_op_class *cls;
	const td_op *node; /* in the chain's descriptor */
	tm_chain *chain;
	void *fn; /* resolved user function, if any */
	void *timer_fn; /* a keyed process function's on_timer, if any */
	void *fn2;	/* a two-input operator's function of its second input */
	fl_timestamp_fn ts_fn; /* a source's timestamp assigner, if any */
	/* Fed in-thread. A two-input operator chained into its second input
	 * appears here as its in2 (the chain stays a list of tm_op, so emit
	 * pays nothing for DAGs). */
	tm_op **chained;
	size_t nchained;
	/* A two-input operator chained into its second input: a stand-in
	 * whose process passes records to this operator's process2 (impl
	 * points back here); NULL otherwise. */
	tm_op *in2;
	tm_out *outs; /* the main outputs, then a window's late records' */
	size_t nouts; /* all of them */
	size_t nmain; /* the main ones (what emit reaches) */
	/* Counted by the task thread in plain fields, published to the atomics
	 * every few hundred records for the progress reader. */
	uint64_t n_in, n_out;
	/* A generator source: its splits, the one being read first (what a
	 * checkpoint records: the loop advances splits[0].next per record). */
	tm_gen_split *gen_splits;
	size_t gen_nsplits;
	/* A text file source: its splits still to read with their positions
	 * (Flink's FileSourceSplits), what a checkpoint records (sources.c). */
	struct tm_text_source *text;
	/* A source with a watermark strategy: when its next periodic
	 * watermark is due (cm_now_ms). */
	int64_t wm_next_ms;
	/* A socket source with a watermark strategy: the largest timestamp
	 * read (its one split's). */
	int64_t sock_max_ts;
	/* A source with an idle timeout (withIdleness): it said it is idle
	 * and produced nothing since. */
	bool src_idle;
	_Atomic uint64_t records_in, records_out;
	/* Incremental checkpoints: the keyed files of the last snapshots
	 * (operators.c; NULL until the first). */
	struct tm_inc *inc;
	/* keyed aggregations: their backend and state id */
	st_backend *state;
	int state_id;
	const td_key *key;
	fl_key_fn key_fn;
	/* Keyed two-input operators: the key of the second input. */
	const td_key *key2;
	fl_key_fn key2_fn;
	/* Keys that do not fit the stack buffer: [0] for the state key, [1] for
	 * partitioning output, since an aggregation may need both at once. */
	uint8_t *key_heap[2];
	size_t key_heap_cap[2];
	uint8_t *acc_buf; /* encoded new accumulator */
	size_t acc_cap;
	int max_parallelism;
	/* sinks */
	char *out_buf; /* pending lines */
	size_t out_len, out_cap;
	FILE *file; /* text file sink */
	char *file_tmp; /* its in-progress path */
	struct tm_file_sink *fsink; /* its two-phase commit (sinks.c) */
	void *impl; /* what an operator kind keeps of its own (process_op.c) */
};

/* A record without a timestamp; no watermark yet (Flink's
 * Long.MIN_VALUE). */
#define TM_TS_NONE INT64_MIN

/* Largest encoded key handled on the stack; longer keys go to the heap. */
#define TM_KEY_BUF 512
#define TM_PREFETCH_WINDOW 16

struct fl_ctx {
	tm_chain *chain;
	int subtask, parallelism;
	char *scratch;
	size_t scratch_used;
	char user_msg[CM_ERR_MSG_MAX];
	bool user_failed;
	/* The keyed state of the process function being called (with its
	 * current key), NULL elsewhere: what fl_get_*_state reach. */
	struct ks_ctx *keyed;
	/* The keyed process function being called when it has timers
	 * (fl_ctx_register_*_timer reach its service), NULL elsewhere. */
	tm_op *timer_op;
	/* The broadcast process function being called (its broadcast state,
	 * fl_get_broadcast_state), NULL elsewhere. */
	tm_op *bcast_op;
};

struct fl_collector {
	tm_op *op;
	/* A keyed process function's: its keyed state, hidden from the
	 * operators chained after it while they run (Flink has no keyed state
	 * there). */
	struct ks_ctx *keyed;
	tm_op *timer_op;
	tm_op *bcast_op;
};

/* Set by other threads for the task thread to act on at its next record:
 * the output flusher's tick and cancellation. One relaxed load per record
 * is all the hot path pays. */
#define TM_ATTN_FLUSH 1
#define TM_ATTN_CANCEL 2
#define TM_ATTN_CHECKPOINT 4 /* a source: take the triggered checkpoint now */

/* Returned by a source's checkpoint handler (through tm_chain_check) after
 * a stop-with-savepoint completed: the source ends as at the end of its
 * input. Positive, unlike every FL_E* code. */
#define TM_STOPPED 1
/* The argument of an END_OF_PARTITION sent by a task that was stopped
 * with a savepoint (0: its input ended): downstream, its end is not the
 * end of time, so no final watermark fires timers after the savepoint
 * (Flink's stop without --drain). */
#define TM_EOP_STOPPED 1

struct tm_chain {
	const td_task *td; /* borrowed: outlives the chain */
	const char *name;  /* "Map -> Sink (2/4)", borrowed */
	tm_op *ops;	   /* td->nops, in the descriptor's order */
	size_t nops;
	fl_ctx ctx;
	/* Event time: the timestamp of the record being processed (Flink
	 * keeps it in the StreamRecord; here the chain's calls are depth
	 * first, so one field is the record's for as long as it travels the
	 * chain, and what an operator emits takes it, as Flink's
	 * TimestampedCollector does); TM_TS_NONE: none. wm: the task's
	 * watermark (a source's: the last it emitted). */
	int64_t ts;
	int64_t wm;
	cm_err err; /* the first failure */
	int64_t buffer_timeout_ms;
	int64_t next_flush_ms;
	bool batch;
	/* An operator of the chain has timers (tm_chain_proc_timers). */
	bool has_timers;
	/* Stopped with a savepoint (its source, or an input that was): its
	 * END_OF_PARTITION says so (TM_EOP_STOPPED). */
	bool stopped;
	/* A task of sources and inputs: its sources emit nothing now (their
	 * barrier is aligning, or a stop-with-savepoint holds them); a
	 * source's turn ends at the record it is at (task thread). */
	bool src_hold;
	/* Where keyed operators' backends live (the task's deps). */
	const char *state_dirs;
	size_t state_memory;
	_Atomic bool cancelled;
	_Atomic int attention;
	/* TM_ATTN_CHECKPOINT's handler (the task's), called on the task thread
	 * between two records of a source; returns 0 or an error that fails
	 * the task. */
	int (*on_checkpoint)(void *arg);
	void *on_checkpoint_arg;
	/* The task's network I/O (Flink's numBytesIn/Out, numBuffersIn/Out and
	 * accumulated back-pressured time): data buffers received are counted
	 * by the task thread in the plain fields, the writers count what they
	 * send; tm_chain_publish_metrics copies both into the atomics that
	 * metrics readers load, with the record counters. */
	uint64_t n_bytes_in, n_buffers_in;
	_Atomic uint64_t bytes_in, buffers_in, bytes_out, buffers_out, back_pressured_ns;
};

/*
 * Builds the chain of td: resolves user functions by name in td->library,
 * links chained operators. Network writers are left NULL for the task to
 * set. Returns 0, FL_ENOMEM, or FL_ENOENT (a function or the library cannot
 * be found) with err naming it; on error the chain holds nothing
 * (tm_chain_fini is still safe).
 */
int tm_chain_init(tm_chain *c, const td_task *td, const char *name, cm_err *err);
/* Frees operator memory, writers included (closing open files unflushed). */
void tm_chain_fini(tm_chain *c);

/* Records the chain's first failure (later ones are ignored) and returns rc
 * (FL_EINVAL when rc is 0). */
int tm_chain_fail(tm_chain *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A user function fn (its symbol; NULL: "?") of op returned rc < 0: the
 * task's failure, naming the operator, the function and its message
 * (fl_fail) or code; a cancellation passed back is returned as it is. */
int tm_op_user_failed(tm_op *op, int rc, const char *fn);

/* Opens every operator in order (sinks create their files). Returns 0 or the
 * first error (recorded in the chain); *opened says how many were opened,
 * so that tm_chain_close closes exactly those. */
int tm_chain_open(tm_chain *c, size_t *opened);
/* End of input: operators emit what they held (BATCH aggregations), then
 * every output is flushed and END_OF_PARTITION sent downstream. */
int tm_chain_finish(tm_chain *c);
/* Closes the first `opened` operators: sinks finish their files when `ok`
 * (else they remove them). Returns 0 or the first error. */
int tm_chain_close(tm_chain *c, size_t opened, bool ok);

/* Publishes the per-operator record counters and the task's I/O counters
 * for metrics readers. Task thread only. */
void tm_chain_publish_metrics(tm_chain *c);
/* Flushes every writer and sink buffer if the buffer timeout passed (or
 * always, when force). */
int tm_chain_maybe_flush(tm_chain *c, bool force);

/* Restores every operator that td says has a share (after tm_chain_open).
 * Returns 0 or the first error (recorded in the chain). */
int tm_chain_restore(tm_chain *c);
/*
 * A checkpoint in two phases (Flink's synchronous and asynchronous parts).
 * tm_chain_snapshot_begin, on the task thread at the barrier, snapshots
 * every stateful operator: list states are copied, keyed operators take a
 * cut. base_id: the latest checkpoint the task heard completed (what an
 * incremental checkpoint's deltas build on, when the job has them).
 * Returns 0 with *out, or declines the checkpoint with why.
 * tm_pending_snapshot_async says whether cuts remain to be written;
 * tm_pending_snapshot_finish, on any one thread while the task goes on,
 * writes them as snapshot files and appends the operators' states to ack
 * as the acknowledgement carries them (cp_states_encode): 0 with *n
 * states, or an error with why (a full disk, an unwritable directory).
 * tm_pending_snapshot_free frees what is left (cuts included), also after
 * a failure; every pending snapshot is freed before its chain.
 */
typedef struct tm_pending_snapshot tm_pending_snapshot;
int tm_chain_snapshot_begin(tm_chain *c, uint64_t id, int kind, uint64_t base_id, const char *dir,
			    tm_pending_snapshot **out, char *why, size_t why_cap);
bool tm_pending_snapshot_async(const tm_pending_snapshot *p);
int tm_pending_snapshot_finish(tm_pending_snapshot *p, cm_wbuf *ack, size_t *n, char *why,
			       size_t why_cap);
void tm_pending_snapshot_free(tm_pending_snapshot *p);
/* Tells every operator that checkpoint id completed or was aborted.
 * Returns 0 or the first error (recorded in the chain). */
int tm_chain_notify(tm_chain *c, uint64_t id, bool completed);
/* Whether an operator of the chain wants checkpoint notifications (its
 * task then wakes to deliver them). */
bool tm_chain_wants_notify(const tm_chain *c);

/* Handles a raised attention flag: FL_ECANCELED if cancelled, else flushes
 * when the buffer timeout passed. */
int tm_chain_attend(tm_chain *c);

static inline int tm_chain_check(tm_chain *c)
{
	return atomic_load_explicit(&c->attention, memory_order_relaxed) ? tm_chain_attend(c) : 0;
}

/* Records watermark w as the chain's, lets every operator with an
 * event-time hook fire its timers due at w, in chain order (so what they
 * emit reaches the operators after them before w does), then passes w
 * down the chain's network outputs. Returns 0 or the error (recorded in
 * the chain). */
int tm_chain_watermark(tm_chain *c, int64_t w);
/* Fires the processing-time timers due now in every operator that has
 * them, and lowers *deadline (cm_now_ms time; -1: none yet) to when the
 * next may be due. Returns 0 or the error (recorded in the chain). */
int tm_chain_proc_timers(tm_chain *c, int64_t *deadline);

/* Requests cancellation; safe from any thread. Waking a thread blocked in
 * a gate or a writer is the task's part. */
void tm_chain_cancel(tm_chain *c);

/* Per-record entry into an operator. */
static inline int tm_op_process(tm_op *op, const fl_row *row)
{
	op->n_in++;
	return op->process(op, row);
}

/*
 * Keyed aggregation heads, batched: tm_agg_key encodes a record's field key
 * into kb (cap >= TM_KEY_BUF), hashes it and prefetches its state slot
 * (the class's prefetch with ts when it has one), returning 1 (0: no fast
 * path for this key, use tm_op_process);
 * tm_agg_process_keyed then processes the record with that key and hash.
 * Hashing a window of records ahead hides the state lookup's cache miss.
 */
int tm_agg_key(tm_op *op, const fl_row *row, int64_t ts, uint8_t *kb, size_t cap, size_t *kl,
	       uint32_t *h);
int tm_agg_process_keyed(tm_op *op, const fl_row *in, const uint8_t *kb, size_t kl, uint32_t h);

/* Event time at sources (sources.c): the watermark a split's largest
 * timestamp allows under n's strategy (Flink's bounded out-of-orderness:
 * max - bound - 1; monotonous: bound 0), TM_TS_NONE for none; and a
 * generator's, the minimum over its splits still to read (none while one
 * of them has produced nothing; the end of time when none is left). */
int64_t tm_split_watermark(const td_op *n, int64_t max_ts);
int64_t tm_gen_watermark(const tm_op *head);

/* Source loops (sources.c): run the chain's head source to its end.
 * Return 0 at the end of input, or the error (recorded in the chain). */
/* Tells the chain's network outputs that it turned idle (Flink's
 * WatermarkStatus.IDLE: TM_WM_IDLE) or active again (its watermark). */
int tm_chain_wm_status(tm_chain *c, bool idle);
int tm_run_generator(tm_chain *c);
int tm_run_text_source(tm_chain *c);
int tm_run_socket_source(tm_chain *c);
/* Several sources in one chain (generators and text file sources of
 * regular files, whose chains a two-input operator joined): served in
 * turns on the task's thread, to the end of all. */
int tm_run_sources(tm_chain *c);

/*
 * The sources of a chain served in turns by a loop of the task's own
 * (tm_run_sources's, or that of a task with an input gate too). Their
 * watermark (the minimum over those not idle, tm_run_sources's rule) and
 * idleness go to the hook: TM_SRC_WATERMARK with w when the periodic
 * interval passed, TM_SRC_IDLE when every source still producing turned
 * idle, TM_SRC_ACTIVE when one produces again. Their end of input is the
 * caller's to pass on (no final watermark is sent through the hook).
 */
enum tm_src_wm { TM_SRC_WATERMARK, TM_SRC_IDLE, TM_SRC_ACTIVE };
typedef int (*tm_sources_wm_fn)(void *arg, enum tm_src_wm what, int64_t w);
typedef struct tm_sources tm_sources;
/* Sets up every source of c; 0 with *out, or the error (recorded in the
 * chain: a source kind that cannot share its thread, memory). */
int tm_sources_new(tm_chain *c, tm_sources_wm_fn fn, void *arg, tm_sources **out);
void tm_sources_free(tm_sources *g);
/* A turn of every source with records left (up to 1024 records each, a
 * paced one's only while due, lowering *due to when its next is), ending
 * early when c->src_hold is set; *ran says whether any produced. Returns
 * 0, TM_STOPPED or the error (recorded in the chain). */
int tm_sources_round(tm_sources *g, bool *ran, int64_t *due);
/* After a round, at now (cm_now_ms): idleness and the periodic watermark
 * through the hook. */
int tm_sources_tick(tm_sources *g, int64_t now);
/* Whether a source has records left; whether one is an unbounded
 * generator (no end: its subtask waits for cancellation). */
bool tm_sources_live(const tm_sources *g);
bool tm_sources_unbounded(const tm_sources *g);
/* How long a loop with nothing to do may wait (ms, at least 1): until a
 * paced source's next record (due), the flush, an idle timeout or the
 * next periodic watermark, at most 100 ms. */
int64_t tm_sources_wait_ms(const tm_sources *g, int64_t now, int64_t due);

#endif
