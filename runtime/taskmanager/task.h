/*
 * task.h — one parallel subtask (Flink's Task): a thread running an
 * operator chain (operator.h), fed by its source or by its input gate, and
 * writing into record writers.
 *
 * Lifecycle, all calls but the thread's own from the TaskManager:
 *   tm_task_new     builds the chain from the descriptor (user functions
 *                   resolved), creates the input gate and registers every
 *                   input channel (locally and with the data endpoint), so
 *                   producers may connect from now on;
 *   tm_task_start   starts the thread, which reports RUNNING, connects its
 *                   outputs (local channels or remote ones through the
 *                   endpoint: every consumer of the job must be registered
 *                   by then, which the JobMaster's two-phase deployment
 *                   guarantees), runs, and reports its final state;
 *   tm_task_cancel  any time, from any thread;
 *   tm_task_join / tm_task_free  after the final state was reported.
 *
 * The task owns its descriptor and everything built from it; it borrows the
 * TaskManager services in tm_task_deps, which must outlive it.
 */
#ifndef FLINC_TASKMANAGER_TASK_H
#define FLINC_TASKMANAGER_TASK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "common/err.h"
#include "graph/descriptor.h"
#include "network/endpoint.h"
#include "network/gate.h"
#include "network/pool.h"
#include "taskmanager/align.h"
#include "taskmanager/channels.h"
#include "taskmanager/operator.h"
#include "taskmanager/watermarks.h"

/* Flink's ExecutionState, in Flink's order. */
enum tm_task_state {
	TM_TASK_CREATED = 0,
	TM_TASK_SCHEDULED,
	TM_TASK_DEPLOYING,
	TM_TASK_RUNNING,
	TM_TASK_FINISHED,
	TM_TASK_CANCELING,
	TM_TASK_CANCELED,
	TM_TASK_FAILED,
	TM_TASK_NSTATES
};

/* "RUNNING", ...; "?" for a value out of range. */
const char *tm_task_state_name(enum tm_task_state s);
/* FINISHED, CANCELED or FAILED. */
bool tm_task_state_is_final(enum tm_task_state s);

typedef struct tm_task tm_task;

/*
 * Called on the task's thread when the task switches to RUNNING and when it
 * reaches a final state (error: the failure message, or NULL). After the
 * final call the thread touches nothing of the TaskManager's.
 */
typedef void (*tm_task_state_fn)(void *arg, tm_task *t, enum tm_task_state st, const char *error);

/*
 * Called on the task's thread when it took its share of checkpoint id:
 * states are its operators' states (checkpoint/metadata.h's
 * cp_states_encode, valid during the call), or decline says why it could
 * not (then states is NULL).
 */
typedef void (*tm_task_ack_fn)(void *arg, tm_task *t, uint64_t id, const uint8_t *states,
			       size_t len, const char *decline);

/* Checkpoints announced to a task (their directories), kept at most. */
#define TM_PREPARED_MAX 4

/* What a task borrows from its TaskManager. */
typedef struct tm_task_deps {
	net_endpoint *ep;
	net_pool *pool;		 /* network buffers; the task reserves its share */
	tm_channels *channels;	 /* local input channels */
	const char *resource_id; /* this TaskManager: peers with it are local */
	uint32_t segment_size;
	int buffers_per_channel;
	tm_task_state_fn on_state;
	void *on_state_arg;
	tm_task_ack_fn on_ack; /* NULL: checkpoints are declined */
	void *on_ack_arg;
	/* Keyed state: taskmanager.state.local.root-dirs (NULL or "": the
	 * temp dir) and each keyed operator's share of managed memory, the
	 * LMDB backend's write cache (0: its default). */
	const char *state_dirs;
	size_t state_memory;
} tm_task_deps;

/* A record's key, hashed ahead of its state update (see tm_agg_key). */
typedef struct tm_prefetched_key {
	uint8_t kb[TM_KEY_BUF];
	size_t kl;
	uint32_t h;
	int fast;
} tm_prefetched_key;

struct tm_task {
	tm_chain chain;
	td_task *td; /* owned */
	tm_task_deps deps;
	char name[256]; /* "Map -> Sink (2/4)" */
	net_gate *gate; /* NULL for a source */
	uint64_t *in_ids; /* registered input channel ids */
	/* A task whose network inputs do not all go to the head's one input
	 * (a two-input head, or two chains joined by a two-input operator):
	 * per channel, the operator it feeds and which input (0, 1); NULL
	 * for every other task, whose one input costs no lookup. */
	uint8_t *ch_side;
	tm_op **ch_op;
	int nin;
	/* A task of an input gate and chained sources (Flink's
	 * MultipleInputStreamTask with a source input; run_mixed_loop): its
	 * sources are one more channel, numbered nin, of the aligner and the
	 * watermark valve. src_ended: they ended (task thread). stop_id: a
	 * stop-with-savepoint whose trigger holds them until it completed
	 * (then they end) or was aborted (task thread). In a task with
	 * inputs only, stop_id is a stop-with-savepoint it took its share of
	 * and which was not aborted: its processing-time timers wait. */
	bool mixed;
	bool src_ended;
	uint64_t stop_id;
	/* Its shares of deps.pool: the record writers' buffers, the input
	 * gate's (received data); NULL without a pool. */
	net_quota *out_quota, *in_quota;
	int ended_channels;
	tm_prefetched_key *prefetch_keys; /* TM_PREFETCH_WINDOW, for a keyed head */
	_Atomic int state;
	pthread_mutex_t mu; /* orders writer creation against tm_task_cancel */
	pthread_t thread;
	bool started;
	bool abandoned; /* left behind by the cancellation watchdog */
	bool ended_unstarted; /* tm_task_end_unstarted ended it (mu) */
	/* Once its job is released, an abandoned task stays on its
	 * TaskManager's list through this link: its thread may still run. */
	struct tm_task *left_next;
	/* For the back-pressure rate of /metrics: when the task was made, and
	 * the previous scrape's time and figure (the TaskManager's loop only). */
	int64_t created_ms;
	int64_t prom_sampled_ms;
	uint64_t prom_sampled_bp_ns;
	/* Checkpoints (ckp_mu): those announced with their directories, and
	 * the one a source is to take at its next record. */
	pthread_mutex_t ckp_mu;
	struct tm_prepared {
		uint64_t id;
		int kind; /* enum cp_kind */
		char dir[1100];
	} prepared[TM_PREPARED_MAX];
	uint64_t trigger_id;
	bool trigger_stop; /* stop-with-savepoint (ckp_mu) */
	/* A trigger for a task with inputs that has not reached its end of
	 * input yet (ckp_mu): await_final_checkpoint takes it there. */
	uint64_t deferred_id;
	bool deferred_stop;
	/* The newest checkpoint taken (task thread), and the barriers of a
	 * task with inputs (align.h). */
	uint64_t last_ckp_id;
	tm_align align;
	/* The task's event-time watermark over its inputs (watermarks.h). */
	tm_wm_valve wm;
	/* The newest checkpoint the JobMaster aborted (tm_task_abort_checkpoint):
	 * an alignment of it or an older one ends, so that a barrier that will
	 * never come does not block channels for good (Flink's
	 * CancelCheckpointMarker). */
	_Atomic uint64_t abort_id;
	/* The newest checkpoint completed (tm_task_notify_checkpoint), and what
	 * the task thread passed to its operators of that and of abort_id. */
	_Atomic uint64_t complete_id;
	uint64_t told_complete, told_abort;
	bool wants_notify; /* an operator has a notify hook */
	/* FLIP-147: its end of input is done and its chain's end went out
	 * (task thread sets it; the TaskManager's loop reads it to accept a
	 * trigger as for a source): it waits for a checkpoint to commit. */
	_Atomic bool awaiting_final;
	/* The snapshot whose files a writer thread writes (task thread starts
	 * and joins it; the writer only reads these). */
	pthread_t writer;
	bool writer_started;
	struct tm_pending_snapshot *writing;
	uint64_t writing_id;
};

/*
 * Builds the task of descriptor td, which it takes over (freed with the
 * task, or by this call when it fails), and reserves the network buffers it
 * may hold at once (Flink's required buffers: S + 1 per output of S
 * channels, C * buffers-per-channel + 1 for an input gate of C channels).
 * Returns 0 with *out, or an error with err naming the cause (a function
 * that cannot be resolved, FL_ERANGE with Flink's "Insufficient number of
 * network buffers" message, a channel registered twice, memory); on error
 * nothing is left registered or reserved.
 */
int tm_task_new(const tm_task_deps *deps, td_task *td, tm_task **out, cm_err *err);
/* Starts the task's thread, unless it started or ended already (then 0).
 * Returns 0 or FL_ENOMEM (err says so). */
int tm_task_start(tm_task *t, cm_err *err);
/* Ends a task whose thread never started (cancelled before its start, or
 * its start failed) in final state st, reporting it through on_state as
 * the thread would have. Returns false, doing nothing, when the thread
 * started or the task already ended. Thread-safe. */
bool tm_task_end_unstarted(tm_task *t, enum tm_task_state st, const char *error);
/* Requests cancellation and wakes the thread wherever the runtime blocks it
 * (gate, back-pressure). Thread-safe, idempotent. */
void tm_task_cancel(tm_task *t);
/* Interrupts the task's thread (a signal with a handler that does nothing,
 * installed without SA_RESTART, so a blocking system call in user code or
 * the runtime returns EINTR). Harmless when the thread already ended.
 * Thread-safe; call after tm_task_cancel. */
void tm_task_interrupt(tm_task *t);
/* Gives up on a task whose thread does not end (the cancellation
 * watchdog): the thread is detached and never interrupted or joined again;
 * the task's memory must then never be freed. */
void tm_task_abandon(tm_task *t);
/* Whether the task's thread runs and was not given up on (started, not
 * abandoned, not final); whether it was abandoned. Under the task's lock:
 * tm_task_abandon may run on another thread. */
bool tm_task_live(tm_task *t);
bool tm_task_was_abandoned(tm_task *t);
/* Announces checkpoint id (kind, written into dir) so that the task can
 * take its share when the barrier arrives. Thread-safe. Returns 0. */
int tm_task_prepare_checkpoint(tm_task *t, uint64_t id, int kind, const char *dir);
/* A source task: takes checkpoint id (announced before) at its next
 * record and sends the barrier downstream; with stop (stop-with-savepoint)
 * it then emits nothing until the checkpoint completed, and ends, or was
 * aborted, and goes on. A task running sources beside its input gate takes
 * the trigger as its sources' barrier (held until the gate's barriers
 * came, exactly once). Thread-safe. Returns 0, or FL_EINVAL when the task
 * is not a running source. */
int tm_task_trigger_checkpoint(tm_task *t, uint64_t id, bool stop);

/* Checkpoint id was aborted: an alignment of it (or an older one) ends
 * within TM_ABORT_CHECK_MS, and operators are told. Thread-safe. */
void tm_task_abort_checkpoint(tm_task *t, uint64_t id);
/* Checkpoint id completed: the task's operators are told on its thread
 * (within TM_ABORT_CHECK_MS when it waits for input; a source at its next
 * record). Thread-safe. */
void tm_task_notify_checkpoint(tm_task *t, uint64_t id);
#define TM_ABORT_CHECK_MS 100

/* Waits for the thread (if started). */
void tm_task_join(tm_task *t);
/* Joins, unregisters the inputs and frees everything. */
void tm_task_free(tm_task *t);

static inline enum tm_task_state tm_task_get_state(const tm_task *t)
{
	return (enum tm_task_state)atomic_load(&((tm_task *)t)->state);
}

#endif
