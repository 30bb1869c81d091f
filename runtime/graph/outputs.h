/*
 * outputs.h — the text file sink's files and the job-level commit that
 * publishes them (Flink's FileOutputFormat with InitializeOnMaster and
 * FinalizeOnMaster, with a Hadoop-style _SUCCESS marker).
 *
 * Names: every run of a job writes under its own run id (the first 16 hex
 * digits of the job id), so two runs never mix, and every attempt of the
 * run (a restart, a rescale: a new JobMaster) under its own attempt (16 hex
 * digits, the same for every task of the attempt), so two attempts never
 * share a hidden file:
 *   .part-<run>-<subtask>.inprogress.<attempt>
 *                  written by subtask <subtask> of attempt <attempt>
 *   part-<run>-<subtask>               published when the job FINISHED
 *   _SUCCESS                           written last, once all are published
 * A failed, cancelled or killed run leaves nothing that looks committed: its
 * files are hidden in-progress ones (removed on failure), and without
 * _SUCCESS a reader knows the directory holds no complete output. A task
 * of an attempt that lives on after the JobMaster gave it up (a zombie on
 * a TaskManager cut off from it) writes, removes and links only names of
 * its own attempt, which the next attempt never publishes.
 *
 * When checkpoints reach a sink (Flink's FileSink, two-phase), its subtasks
 * also roll part files at each checkpoint (taskmanager/sinks.c):
 *   .part-<run>-<subtask>-<n>.inprogress.<attempt>
 *                  file n of the subtask, written by job attempt <attempt>;
 *                  closed at a checkpoint, it is pending
 *   part-<run>-<subtask>-<n>
 *                  committed: renamed when its checkpoint completed
 *   .part-<run>-<subtask>-<n>.inprogress.<attempt>.end
 *                  a link, made by attempt <attempt>, to a file still
 *                  pending when the subtask's input ended: published with
 *                  the rest when that attempt FINISHED
 * and .part-<run>-<subtask>.inprogress.<attempt> is then what it wrote
 * after its last checkpoint. Committed files are visible while the job
 * runs; none is ever replaced or removed by a later attempt of the job.
 *
 * Before the job runs (outputs_prepare, on the JobMaster): a directory that
 * holds anything but hidden leftovers of killed runs, or part files this
 * run committed at checkpoints in an earlier attempt, is refused unless the
 * job may overwrite (fs.overwrite-files, Flink's NO_OVERWRITE default); a
 * job started from a savepoint or checkpoint (sg_graph.restored) continues
 * the output of the job it comes from, so other runs' part files do not
 * count for it either (a _SUCCESS does: that output is complete); a
 * path that cannot be read (through a file, no permission) is refused
 * saying so, never as output that exists. Two sinks whose directories are
 * the same place (`out`, `./out/`, `lnk/../out`) are refused too.
 * Each directory is then locked (flock on the directory itself: nothing is
 * written into it) until outputs_commit succeeds or outputs_abort runs, so
 * a second run into it, from this process or another, is refused while
 * this one writes; the kernel drops the lock of a process that dies, so a
 * killed run never blocks the next.
 *
 * At the end (outputs_commit, by the attempt that FINISHED), all or
 * nothing, each step for every sink before the next: every in-progress
 * file of the run's attempt must be there and, without overwrite, no other
 * run's part file (unless restored) or _SUCCESS may have appeared (a
 * writer that is not flinc takes no lock); an earlier _SUCCESS is set
 * aside (hidden, ._SUCCESS-<run>.replaced); this attempt's files are
 * renamed (its links of files pending at the end of input too; another
 * attempt's are never published); only then do the earlier runs' part
 * files go (overwrite, and not for a restored job, which continues them);
 * the directory is synced; _SUCCESS is written last (O_EXCL|O_NOFOLLOW)
 * and synced, or removed when that fails. A failure undoes the steps
 * before it: the files this commit renamed return to their hidden names,
 * and the earlier _SUCCESS returns while its output is still whole (files
 * committed at checkpoints stay: they were visible before). After a
 * commit, the run's hidden files that are left (pending files published
 * through their links, every other attempt's leftovers) are removed.
 * A run killed during its commit never leaves a _SUCCESS beside a mix of
 * runs (at worst the earlier output without its marker, set aside).
 * On failure (outputs_abort): the attempt's in-progress files and links
 * are removed (another attempt's are not its to remove: the next attempt's
 * sinks remove them) and the locks released; its pending two-phase files
 * stay, as a restore from their checkpoint commits them (the restored sink
 * removes the rest, see sinks.c).
 *
 * These touch the file system and may block; they run on the JobMaster's
 * loop once per job (and the naming in the tasks).
 */
#ifndef FLINC_GRAPH_OUTPUTS_H
#define FLINC_GRAPH_OUTPUTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "graph/jobgraph.h"

#define OUTPUTS_RUN_ID_LEN 16

/* The run id of job_id (its first 16 hex digits) into run[17]. */
void outputs_run_id(const char *job_id, char run[OUTPUTS_RUN_ID_LEN + 1]);

/* The kinds of file a text sink leaves in its directory (see above). */
enum outputs_kind {
	OUTPUTS_NONE = 0,  /* not a part file */
	OUTPUTS_WHOLE,	   /* .part-<run>-<s>.inprogress.<attempt> */
	OUTPUTS_PUBLISHED, /* part-<run>-<s> */
	OUTPUTS_ROLLING,   /* .part-<run>-<s>-<n>.inprogress.<attempt> */
	OUTPUTS_COMMITTED, /* part-<run>-<s>-<n> */
	OUTPUTS_AT_END,	   /* .part-<run>-<s>-<n>.inprogress.<attempt>.end */
};

/* A part file's name, parsed or to format. */
typedef struct outputs_name {
	enum outputs_kind kind;
	char run[OUTPUTS_RUN_ID_LEN + 1];
	int subtask;
	uint64_t counter; /* ROLLING, COMMITTED, AT_END */
	uint64_t attempt; /* WHOLE, ROLLING, AT_END (16 lower-case hex digits) */
} outputs_name;

/* Whether run is a run id: 16 hex digits. */
bool outputs_run_id_valid(const char *run);

/* dir/<n's name> into buf (n->kind not NONE, n->run a run id). Returns 0,
 * or FL_ERANGE when it does not fit. */
int outputs_name_path(char *buf, size_t cap, const char *dir, const outputs_name *n);

/* Parses a directory entry's name into *n; returns its kind, OUTPUTS_NONE
 * (*n untouched) for anything that is not exactly a part file's name, so
 * that outputs_name_path gives back the same name (a file removed by its
 * parsed name is the file listed). Names of flinc versions before the
 * attempt was in them (.part-<run>-<s>.inprogress, .part-<run>-<s>-<n>
 * .inprogress) are not part files' names. */
enum outputs_kind outputs_name_parse(const char *name, outputs_name *n);

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
 * runs: one run per job graph at a time. run: the run id of the job
 * (outputs_run_id), whose own committed part files never count. */
int outputs_prepare(const jg_graph *jg, const char *run, bool overwrite, cm_err *err);
/* Publishes the part files of the run's attempt `attempt` (the JobMaster's,
 * jm_attempt; see above) and, on success, releases jg's locks. Returns 0,
 * or an error naming the file and why; then nothing this commit would have
 * published is (no file under its final name that was not there before,
 * no _SUCCESS of the run), and the caller calls outputs_abort, which
 * releases them. */
int outputs_commit(const jg_graph *jg, const char *run, uint64_t attempt, bool overwrite,
		   cm_err *err);
/* Removes the in-progress files of the run's attempt `attempt` and its
 * links of files pending at the end of input (best effort; pending
 * two-phase files stay, and so do other attempts' files), and releases
 * jg's locks. */
void outputs_abort(const jg_graph *jg, const char *run, uint64_t attempt);

#endif
