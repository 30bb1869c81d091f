/*
 * restore.h — a job starting from a checkpoint or savepoint (Flink's
 * Checkpoints.loadAndValidateCheckpoint and StateAssignmentOperation):
 * the state of a `_metadata` file checked against the job's graph, and
 * each new subtask given its share.
 *
 * Matching is by operator uid (fl_uid, or the generated one). State of an
 * operator the job no longer has is refused unless the job allows it
 * (`execution.savepoint.ignore-unclaimed-state`, the CLI's
 * --allowNonRestoredState); keyed state restored into an operator of
 * another max parallelism is refused (its key groups would not map).
 * Redistribution: an operator's list state elements go back to the same
 * subtask when the parallelism is unchanged, else are split in order into
 * contiguous, even runs (Flink's round-robin repartitioner), but a broadcast
 * process function's (its broadcast state) goes whole to each new subtask
 * from old subtask (new index modulo old parallelism); keyed state
 * goes by key group: a subtask gets every old file whose key groups meet
 * its own range and reads only the intersection.
 *
 * Threads: no shared state; safe from any thread.
 */
#ifndef FLINC_CHECKPOINT_RESTORE_H
#define FLINC_CHECKPOINT_RESTORE_H

#include <stdbool.h>

#include "checkpoint/coordinator.h"
#include "checkpoint/metadata.h"
#include "common/err.h"
#include "config/config.h"
#include "graph/descriptor.h"
#include "graph/jobgraph.h"

/*
 * Checks that m (read from `what`) fits jg: every state's uid names an
 * operator of jg (or allow_non_restored), and keyed state's max
 * parallelism is its operator's. An operator whose max parallelism was
 * derived (set neither by the program nor by pipeline.max-parallelism)
 * takes its state's, as in Flink, when its parallelism fits under it: jg's
 * vertex is changed then. Returns 0 or FL_EINVAL with err naming the
 * checkpoint, the operator and what does not fit.
 */
int cp_restore_check(const cp_metadata *m, const char *what, jg_graph *jg,
		     bool allow_non_restored, cm_err *err);

/*
 * The job's starting point from c: when `execution.savepoint.path` is set,
 * reads that checkpoint or savepoint (a directory or its `_metadata`),
 * checks it against jg and registers it with cp (cp_restored), so that the
 * job's first attempt, and every restart until a newer checkpoint
 * completes, starts from it. cp NULL is a BATCH job, which cannot start
 * from a checkpoint (FL_EINVAL when the key is set). Returns 0 (also when the key is unset), or
 * FL_EINVAL (no such checkpoint, or one that does not fit), FL_EIO,
 * FL_EPROTO (a damaged one) or FL_ENOMEM, with err naming the path (and the
 * operator).
 */
int cp_restore_start(cp_coordinator *cp, const cfg *c, jg_graph *jg, cm_err *err);

/*
 * cp_restore_start with the checkpoint at path (a directory or its
 * `_metadata`, file:// or none) and allow for
 * execution.savepoint.ignore-unclaimed-state: how a JobManager that took
 * over restores a job from the checkpoint the high-availability store
 * names. Errors as cp_restore_start (naming CFG_SAVEPOINT_PATH's value).
 */
int cp_restore_path(cp_coordinator *cp, const char *path, bool allow, jg_graph *jg, cm_err *err);

/*
 * Gives td (a subtask of the job m was taken from, at any parallelism) its
 * shares of checkpoint m found in dir: td->restore_id and every operator's
 * td_restore (see above). Returns 0 or FL_ENOMEM.
 */
int cp_restore_fill(const cp_metadata *m, const char *dir, td_task *td);

#endif
