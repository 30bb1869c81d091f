/*
 * align.h — checkpoint barriers at a task with inputs (Flink's
 * CheckpointBarrierHandler): which checkpoint the task takes, when, and
 * which it gives up.
 *
 * Exactly once (Flink's aligned SingleCheckpointBarrierHandler): the first
 * barrier of checkpoint N starts an alignment; each channel whose barrier
 * of N arrived is blocked in the gate (its records wait, its producer
 * stalls on credit) until every channel delivered the barrier or ended;
 * then the task takes N and every channel flows again. At least once
 * (execution.checkpointing.mode: AT_LEAST_ONCE, Flink's
 * CheckpointBarrierTracker): nothing is blocked; N is taken when the last
 * channel's barrier arrived, so records after a barrier may be in the
 * snapshot's past and are replayed after a restore.
 *
 * Giving up (Flink's CancelCheckpointMarker): a cancel marker of N from
 * upstream, the JobMaster's abort of N, a barrier of a newer checkpoint,
 * or a barrier of N after N was aborted end the alignment of N (and of any
 * older one) and are answered TM_ALIGN_CANCEL once per checkpoint: the
 * task then sends the marker downstream, so the tasks there stop waiting
 * for a barrier that will not come, without waiting for the JobMaster.
 * Later barriers and markers of N or older are ignored.
 *
 * Channels that are not the gate's (a task's chained sources, Flink's
 * MultipleInputStreamTask with a source input): the nextra channels after
 * the gate's take part as any other, the task passing their barriers
 * (tm_align_barrier) and ends (tm_align_end); the aligner cannot block
 * them in the gate, so the task holds such a channel's producer while
 * tm_align_holds says so.
 *
 * One object per task, used by its thread only.
 */
#ifndef FLINC_TASKMANAGER_ALIGN_H
#define FLINC_TASKMANAGER_ALIGN_H

#include <stdbool.h>
#include <stdint.h>

#include "network/gate.h"

typedef struct tm_align {
	net_gate *gate;
	int nin;   /* channels: the gate's, then the extra ones */
	int ngate; /* the gate's channels, 0 .. ngate - 1 */
	bool at_least_once;
	uint64_t id;	  /* the checkpoint being aligned, 0 none */
	uint64_t last_id; /* the newest checkpoint taken or given up */
	bool *seen;	  /* per channel: its barrier of id arrived */
	int nseen;
	int ended; /* channels that ended (count as aligned) */
} tm_align;

enum tm_align_action {
	TM_ALIGN_NONE = 0,
	TM_ALIGN_CHECKPOINT, /* take checkpoint *id now (then channels flow) */
	TM_ALIGN_CANCEL,     /* checkpoint *id is given up: send its cancel marker on */
};

/* For a task reading gate's ngate channels and nextra others (numbered
 * ngate .. ngate + nextra - 1). Returns 0 or FL_ENOMEM. */
int tm_align_init(tm_align *a, net_gate *gate, int ngate, int nextra, bool at_least_once);
void tm_align_fini(tm_align *a);

/* The barrier of checkpoint id arrived on channel ch; aborted is the
 * newest checkpoint the JobMaster aborted. */
enum tm_align_action tm_align_barrier(tm_align *a, int ch, uint64_t id, uint64_t aborted,
				      uint64_t *out);
/* A cancel marker of id arrived, or the JobMaster aborted id. */
enum tm_align_action tm_align_cancel(tm_align *a, uint64_t id, uint64_t *out);
/* Channel ch ended. */
enum tm_align_action tm_align_end(tm_align *a, int ch, uint64_t *out);
/* Whether extra channel ch is to be held: it delivered the barrier of an
 * exactly-once checkpoint still aligning (what the gate does to its own). */
static inline bool tm_align_holds(const tm_align *a, int ch)
{
	return a->id && !a->at_least_once && a->seen[ch];
}

#endif
