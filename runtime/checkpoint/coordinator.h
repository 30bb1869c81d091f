/*
 * coordinator.h — a job's checkpoint coordinator (Flink's
 * CheckpointCoordinator): when to trigger, which checkpoints are pending,
 * which tasks acknowledged them, when one is complete (its `_metadata`
 * written last, atomically), which are discarded, and how many failures in
 * a row the job tolerates.
 *
 * It decides and keeps records; it sends nothing. Its owner (a JobMaster on
 * its loop) asks it when the next checkpoint is due, triggers the sources
 * with the id and directory it hands out, feeds it acknowledgements and
 * declines from tasks, expires checkpoints on their timeout and tells tasks
 * when one completed. It outlives a JobMaster: the Dispatcher keeps one per
 * job across restarts, so that a restarted attempt recovers from the latest
 * completed checkpoint.
 *
 * Directories: checkpoint N of job J is <checkpoints dir>/J/chk-N (Flink's
 * layout); a savepoint is <target>/savepoint-<first 6 of J>-<12 random hex>.
 * The coordinator creates the directory when it triggers; tasks write their
 * state files into it; completion writes _metadata. Discarding removes the
 * files the metadata names, then the directory (never anything else).
 *
 * Threads: every function may be called from any thread (an internal
 * mutex); none blocks on anything but the file system (completion and
 * discards write and remove files on the caller's thread).
 */
#ifndef FLINC_CHECKPOINT_COORDINATOR_H
#define FLINC_CHECKPOINT_COORDINATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checkpoint/metadata.h"
#include "common/err.h"
#include "config/config.h"

enum cp_retention {
	CP_RETAIN_NONE = 0,	    /* NO_EXTERNALIZED_CHECKPOINTS: removed when the job ends */
	CP_RETAIN_DELETE_ON_CANCEL, /* DELETE_ON_CANCELLATION */
	CP_RETAIN_ON_CANCEL,	    /* RETAIN_ON_CANCELLATION */
};

typedef struct cp_config {
	int64_t interval_ms; /* execution.checkpointing.interval; 0: none periodic */
	int64_t timeout_ms;
	int64_t min_pause_ms;
	int max_concurrent;
	int tolerable_failures; /* consecutive failed checkpoints the job survives */
	int num_retained;
	enum cp_retention retention;
	bool exactly_once; /* execution.checkpointing.mode */
	/* execution.checkpointing.checkpoints-after-tasks-finish (FLIP-147) */
	bool after_finish;
	char dir[1024];	   /* state.checkpoints.dir, a local path ("" none) */
	char savepoint_dir[1024];
} cp_config;

/* Reads Flink's keys from c. A directory given as file:///x becomes /x;
 * another scheme is FL_EINVAL naming the key. Returns 0 or FL_EINVAL. */
int cp_config_read(const cfg *c, cp_config *out, cm_err *err);

typedef struct cp_coordinator cp_coordinator;

/* A coordinator for job_id whose checkpoints need ntasks
 * acknowledgements. Returns 0 or FL_ENOMEM. */
int cp_new(const cp_config *c, const char *job_id, size_t ntasks, cp_coordinator **out);
void cp_free(cp_coordinator *cp);

/* The number of acknowledgements a checkpoint needs (a restarted attempt
 * with another parallelism sets it before it triggers). */
void cp_set_tasks(cp_coordinator *cp, size_t ntasks);

/* When the next periodic checkpoint may be triggered (monotonic ms), or -1
 * when periodic checkpoints are off. */
int64_t cp_next_due(cp_coordinator *cp, int64_t now_ms);

/*
 * Starts checkpoint (or savepoint, into target or the configured savepoint
 * directory) number *id and creates its directory, written to dir. Returns
 * 0, FL_EINVAL (no directory configured, a savepoint while one is pending
 * beyond max_concurrent), FL_ERANGE (too soon or too many pending for a
 * periodic one: nothing started, try at cp_next_due) or FL_EIO (the
 * directory cannot be created: the id is used up and the checkpoint shown
 * failed in the statistics and the log, not counted against the tolerable
 * failures), with err saying why.
 */
int cp_trigger(cp_coordinator *cp, int64_t now_ms, enum cp_kind kind, const char *target,
	       uint64_t *id, char *dir, size_t dir_cap, cm_err *err);

/* The next periodic checkpoint is due now, still no sooner than min-pause
 * after the last one ended. */
void cp_due_now(cp_coordinator *cp, int64_t now_ms);

/* A periodic checkpoint that was due could not start (tasks not all
 * running, refused): the next is due an interval from now, not at once. */
void cp_skipped(cp_coordinator *cp, int64_t now_ms);

enum cp_ack_result {
	CP_ACK_PENDING = 0, /* more acknowledgements to come */
	CP_ACK_COMPLETED,   /* the checkpoint is complete: tell the tasks */
	CP_ACK_IGNORED,	    /* unknown, aborted or already acknowledged */
};

/*
 * Task `task` acknowledged checkpoint id with its operators' states (taken
 * over, freed here in every case). On completion the metadata is written
 * and older checkpoints beyond the retained number are discarded. Returns
 * the result, or a negative FL_E* when completing failed (the checkpoint is
 * then failed and counted; *fail_job says the tolerable number was
 * exceeded), with err.
 */
int cp_ack(cp_coordinator *cp, uint64_t id, size_t task, cp_op_state *states, size_t n,
	   int64_t now_ms, bool *fail_job, cm_err *err);

/* Whether task acknowledged pending checkpoint id. */
bool cp_acked(cp_coordinator *cp, uint64_t id, size_t task);

/* Aborts pending checkpoint id (a task declined it: reason) or, with id 0,
 * every pending one; removes their directories; counts each as failed, and,
 * when counts, against the tolerable number (not for the job's own failover
 * or end, as Flink does not). *fail_job: more consecutive failures than
 * tolerated (the count then starts over, as Flink's does when it fails the
 * job). Returns how many were aborted. */
int cp_abort(cp_coordinator *cp, uint64_t id, const char *reason, int64_t now_ms, bool counts,
	     bool *fail_job);
/* Aborts the pending checkpoints older than the timeout, as cp_abort; *id
 * (may be NULL): the last one aborted. */
int cp_expire(cp_coordinator *cp, int64_t now_ms, uint64_t *id, bool *fail_job);
/* The earliest time a pending checkpoint expires, or -1 when none is
 * pending. */
int64_t cp_next_expiry(cp_coordinator *cp);

/*
 * A completed checkpoint or savepoint, its `_metadata` written, is handed to
 * fn (the high-availability store: jobmanager/ha.h) before it counts as
 * completed and before older ones are discarded; fn runs on the thread that
 * completed it, under the coordinator's lock (it must not call back into
 * cp). When fn fails (0 or an FL_E* code with err), the checkpoint fails as
 * if writing its metadata had failed: its files are removed, the failure is
 * counted, and the tasks are never told it completed. fn NULL: none.
 */
typedef int (*cp_publish_fn)(void *arg, uint64_t id, enum cp_kind kind, const char *dir,
			     cm_err *err);
void cp_set_publish(cp_coordinator *cp, cp_publish_fn fn, void *arg);

/* The job reached a final state: discards every pending checkpoint and
 * what the retention policy says (a finished job's checkpoints always, as
 * Flink does). cancelled / finished: how it ended. */
void cp_job_ended(cp_coordinator *cp, bool cancelled, bool finished);

/* The directory of completed checkpoint id (while it is retained, or the
 * latest savepoint). Returns 0 or FL_ENOENT. */
int cp_path_of(cp_coordinator *cp, uint64_t id, char *dir, size_t dir_cap);

/* A deep copy of the latest completed checkpoint or savepoint, the one to
 * restore from, with its directory. Returns 0, FL_ENOENT (none) or
 * FL_ENOMEM. */
int cp_latest(cp_coordinator *cp, cp_metadata *out, char *dir, size_t dir_cap);

/* Starts the job from checkpoint m found in dir (execution.savepoint.path):
 * later checkpoints number from its id + 1, and it is what cp_latest gives
 * until a newer one completes. It is never
 * discarded (Flink's NO_CLAIM mode: the files stay the user's). Returns 0
 * or FL_ENOMEM. */
int cp_restored(cp_coordinator *cp, const cp_metadata *m, const char *dir, int64_t now_ms);

/* A job attempt was deployed from checkpoint id in dir (the statistics'
 * restored count and latest restore). */
void cp_count_restore(cp_coordinator *cp, uint64_t id, const char *dir);

/* ------------------------------------------------------------ statistics */

enum cp_status { CP_IN_PROGRESS = 0, CP_COMPLETED, CP_FAILED };

typedef struct cp_stat {
	uint64_t id;
	enum cp_status status;
	enum cp_kind kind;
	int64_t trigger_ms;    /* wall clock */
	int64_t latest_ack_ms; /* wall clock, 0 none */
	int64_t duration_ms;   /* trigger to completion (or now) */
	uint64_t state_bytes;  /* keyed and operator state acknowledged */
	size_t acked, ntasks;
	char path[1100];   /* its directory */
	char failure[256]; /* why it failed */
} cp_stat;

/* How many entries cp_stats keeps (Flink's web.checkpoints.history). */
#define CP_HISTORY 10

typedef struct cp_stats {
	uint64_t triggered, in_progress, completed, failed, restored;
	cp_stat history[CP_HISTORY]; /* newest first */
	size_t nhistory;
	bool have_completed, have_savepoint, have_failed, have_restored;
	cp_stat latest_completed, latest_savepoint, latest_failed;
	uint64_t restored_id;
	int64_t restored_ms;
	char restored_path[1100];
	uint64_t min_duration, max_duration, sum_duration;
	uint64_t min_size, max_size, sum_size;
} cp_stats;

void cp_get_stats(cp_coordinator *cp, cp_stats *out);
/* The configuration it runs with. */
void cp_get_config(cp_coordinator *cp, cp_config *out);

#endif
