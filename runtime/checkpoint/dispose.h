/*
 * dispose.h — removing a savepoint (or a retained checkpoint) a user names
 * (Flink's savepoint disposal: `flink savepoint --dispose PATH`,
 * POST /savepoint-disposal).
 *
 * The path comes from any REST client, so it is hostile input: only a
 * directory flinc wrote is touched, and in it only what flinc writes.
 */
#ifndef FLINC_CHECKPOINT_DISPOSE_H
#define FLINC_CHECKPOINT_DISPOSE_H

#include <stddef.h>

#include "common/err.h"

/*
 * Disposes the savepoint or checkpoint at path: its directory, or its
 * `_metadata` file (meaning the directory holding it); a local path or a
 * file: URI (file:///dir, file:/dir, as Flink prints savepoint locations).
 *
 * The directory must hold a regular file `_metadata` that flinc's reader
 * accepts (cp_metadata_decode: magic, version, checksum, ranges, relative
 * state file names). Then, in this order: the keyed state files the
 * metadata names, every other `*.state` file of the directory (a task's
 * file whose acknowledgement never counted), `_metadata`, and the
 * directory itself when nothing else is left in it; anything else is left
 * where it is, the directory kept, and the log says so. Nothing is deleted
 * outside that directory, no symbolic link is followed below it, and
 * nothing is deleted at all unless the metadata was read and every state
 * file it names is a plain name in the directory (no '/').
 *
 * A state file already gone is not an error (a disposal interrupted
 * before). When a file cannot be removed, _metadata stays, so that the
 * disposal can be tried again.
 *
 * Returns 0, or with err naming the path and what is wrong:
 *   FL_EINVAL  empty path, another URI scheme, not a directory or _metadata
 *   FL_ENOENT  no such path, or no _metadata in the directory
 *   FL_EPROTO  _metadata is not a flinc checkpoint's (foreign, damaged, a
 *              state file outside the directory): nothing deleted
 *   FL_EIO     reading or removing failed
 *   FL_ENOMEM
 * Thread-safe; blocks on the file system only.
 */
int cp_dispose(const char *path, cm_err *err);

/* path for a message or the log: at most cap - 1 bytes, control characters
 * replaced by '?' (a path from a REST client must not forge log lines). */
void cp_path_shown(const char *path, char *out, size_t cap);

#endif
