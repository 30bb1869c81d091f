/*
 * outputs.h — the text file sink's files and the job-level commit that
 * publishes them (Flink's FileOutputFormat with InitializeOnMaster and
 * FinalizeOnMaster, with a Hadoop-style _SUCCESS marker).
 *
 * Names: every run of a job writes under its own run id (the first 16 hex
 * digits of the job id), so two runs never mix:
 *   .part-<run>-<subtask>.inprogress   written by subtask <subtask>
 *   part-<run>-<subtask>               published when the job FINISHED
 *   _SUCCESS                           written last, once all are published
 * A failed, cancelled or killed run leaves nothing that looks committed: its
 * files are hidden in-progress ones (removed on failure), and without
 * _SUCCESS a reader knows the directory holds no complete output.
 *
 * Before the job runs (outputs_prepare, on the JobMaster): a directory that
 * holds anything but hidden leftovers of killed runs is refused unless the
 * job may overwrite (fs.overwrite-files, Flink's NO_OVERWRITE default); a
 * path that cannot be read (through a file, no permission) is refused
 * saying so, never as output that exists. Two sinks whose directories are
 * the same place (`out`, `./out/`, `lnk/../out`) are refused too.
 * Each directory is then locked (flock on the directory itself: nothing is
 * written into it) until outputs_commit succeeds or outputs_abort runs, so
 * a second run into it, from this process or another, is refused while
 * this one writes; the kernel drops the lock of a process that dies, so a
 * killed run never blocks the next.
 *
 * At the end (outputs_commit), all or nothing, each step for every sink
 * before the next: every in-progress file of the run must be there and,
 * without overwrite, no other run's part file or _SUCCESS may have
 * appeared (a writer that is not flinc takes no lock); an earlier _SUCCESS
 * is set aside (hidden, ._SUCCESS-<run>.replaced); this run's files are
 * renamed; only then do the earlier runs' part files go (overwrite); the
 * directory is synced; _SUCCESS is written last (O_EXCL|O_NOFOLLOW) and
 * synced, or removed when that fails. A failure undoes the steps before
 * it: this run's files return to their hidden names, and the earlier
 * _SUCCESS returns while its output is still whole.
 * A run killed during its commit never leaves a _SUCCESS beside a mix of
 * runs (at worst the earlier output without its marker, set aside).
 * On failure (outputs_abort): this run's in-progress files are removed and
 * the locks released.
 *
 * These touch the file system and may block; they run on the JobMaster's
 * loop once per job (and the naming in the tasks).
 */
#ifndef FLINC_GRAPH_OUTPUTS_H
#define FLINC_GRAPH_OUTPUTS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "graph/jobgraph.h"

#define OUTPUTS_RUN_ID_LEN 16

/* The run id of job_id (its first 16 hex digits) into run[17]. */
void outputs_run_id(const char *job_id, char run[OUTPUTS_RUN_ID_LEN + 1]);

/* dir/.part-<run>-<subtask>.inprogress or dir/part-<run>-<subtask> into
 * buf. Returns 0, or FL_ERANGE when it does not fit (cap >= 4096 always
 * fits a path the file system accepts). */
int outputs_part_path(char *buf, size_t cap, const char *dir, const char *run, int subtask,
		      bool inprogress);

/*
 * Makes path absolute and canonical for comparison, resolved as the kernel
 * walks it: one component at a time, the part that exists resolved by
 * realpath (so `..` after a symbolic link leaves the link's target, not
 * the directory holding the link); what does not exist yet is joined as
 * written, `.` and repeated slashes dropped. Returns 0, FL_ERANGE or the
 * errno of a part that exists but cannot be read, with err naming the path.
 */
int outputs_canonical(const char *path, char *out, size_t cap, cm_err *err);

/* Creates dir and its parents (mkdir -p). Returns 0 or an error naming the
 * part that could not be created and why. */
int outputs_mkdirs(const char *dir, cm_err *err);

/* Checks, creates and locks the sinks' directories (see above). Returns 0,
 * or FL_EINVAL with err in Flink's words (a directory holding output) or
 * naming the directory another run writes to, or the mapped errno of a
 * directory that cannot be read, created or locked; then no lock is held.
 * The locks belong to jg until outputs_commit succeeds or outputs_abort
 * runs: one run per job graph at a time. */
int outputs_prepare(const jg_graph *jg, bool overwrite, cm_err *err);
/* Publishes the run's part files (see above) and, on success, releases
 * jg's locks. Returns 0, or an error naming the file and why; then nothing
 * of this run is published (no part file under its final name, no _SUCCESS
 * of it), and the caller calls outputs_abort, which releases them. */
int outputs_commit(const jg_graph *jg, const char *run, bool overwrite, cm_err *err);
/* Removes the run's in-progress files (best effort) and releases jg's
 * locks. */
void outputs_abort(const jg_graph *jg, const char *run);

#endif
