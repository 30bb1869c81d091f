/*
 * dirlock.h — working directories that outlive a killed process, and their
 * removal by the next one.
 *
 * A process that makes a working directory (a TaskManager's job libraries,
 * a keyed operator's LMDB files) claims it: cm_dir_claim leaves a `.lock`
 * file in it that the process holds an exclusive flock(2) on for as long as
 * the directory is in use. The kernel drops the lock when the process dies,
 * however it dies, so `kill -9` leaves a directory whose lock nobody holds.
 * cm_dir_reap, run by a process starting in the same place, removes such
 * directories: those named with a given prefix under a root whose `.lock`
 * it can take. A directory without `.lock` (being made, or written by an
 * older flinc) is left alone; so is everything else under the root.
 *
 * The lock file appears already locked: it is made as `.lock.new`, locked,
 * then renamed, so a reaper never sees an unlocked `.lock` of a live
 * directory. flock works across processes and PID namespaces on one
 * machine's local file systems (a hostPath shared by pods of one node);
 * network file systems may not honour it, and then nothing is reaped that
 * should not be only if their flock fails closed — flinc's directories are
 * meant for local disks.
 */
#ifndef FLINC_COMMON_DIRLOCK_H
#define FLINC_COMMON_DIRLOCK_H

#include "common/err.h"

/* Claims dir (which the caller just made): 0 with *fd the lock's
 * descriptor, to close when the directory is gone; or an error naming the
 * path. */
int cm_dir_claim(const char *dir, int *fd, cm_err *err);

/* Removes dir's plain files and links (never followed), then dir (left
 * when it holds a subdirectory): a process's own working directory when it
 * is done with it. */
void cm_dir_remove(const char *dir);

/* Removes the directories root/<prefix>* whose lock nobody holds: their
 * plain files and links (never followed), then the directory (left when it
 * holds a subdirectory). Returns how many were removed; problems are
 * logged, never fatal. */
int cm_dir_reap(const char *root, const char *prefix);

#endif
