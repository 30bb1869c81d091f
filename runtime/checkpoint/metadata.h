/*
 * metadata.h — what a checkpoint or savepoint holds, and its `_metadata`
 * file (Flink's CheckpointMetadata): for every subtask of every stateful
 * operator, the key-group range it owned, the file of its keyed state and
 * its operator state (source positions, a sink's pending files) as bytes
 * only that operator reads.
 *
 * Paths inside are relative to the checkpoint's directory, so a savepoint
 * directory moved elsewhere stays restorable (Flink's relocatable
 * savepoints).
 *
 * File format (little endian, common/buf.h encodings):
 *   "FLCKMETA" u32 version (CP_METADATA_VERSION)
 *   str job id, uvarint checkpoint id, svarint timestamp (ms, wall clock),
 *   u8 kind (enum cp_kind), uvarint n, n x operator subtask state:
 *     str uid, uvarint subtask, uvarint parallelism, uvarint max
 *     parallelism, svarint key-group first, svarint key-group last,
 *     str keyed file ("" none), uvarint keyed bytes, bytes operator state,
 *     uvarint n, n x str earlier keyed file (version 3)
 *   u32 CRC-32C of everything before it.
 * A reader refuses another magic or version, a bad checksum, a truncated
 * or oversized file and values out of range, naming the file and what is
 * wrong; it never trusts a length it did not check against what is left.
 *
 * The same encoding of a task's operator states (cp_states_encode, without
 * the header and checksum) is what a task's acknowledgement carries.
 *
 * Not thread-safe per object; functions without a shared object are.
 */
#ifndef FLINC_CHECKPOINT_METADATA_H
#define FLINC_CHECKPOINT_METADATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* 3: keyed state as a chain of files (incremental checkpoints); 2:
 * operator state is a list state (cp_list_next); 1 held a generator's raw
 * position. Versions 2 and 3 are read. */
#define CP_METADATA_VERSION 3
/* Most earlier files of one subtask's keyed state (an incremental chain). */
#define CP_CHAIN_MAX 32
/* Largest _metadata file read (a checkpoint of 32768 subtasks with 1 KiB
 * of operator state each fits many times). */
#define CP_METADATA_MAX (256u * 1024u * 1024u)
/* Largest operator state of one subtask, and longest uid. */
#define CP_OP_STATE_MAX (64u * 1024u * 1024u)
#define CP_UID_MAX 256

enum cp_kind {
	CP_CHECKPOINT = 0,
	CP_SAVEPOINT = 1,
};
/* With a trigger's kind (rpc trigger_checkpoint): announce the checkpoint
 * and its directory to every task of the job on that TaskManager, before
 * any source is triggered, so that each task knows where to write when the
 * barrier reaches it. */
#define CP_TRIGGER_PREPARE 2
/* With a savepoint: stop-with-savepoint. At a source's trigger, the source
 * emits nothing after the barrier until the savepoint completes, then ends
 * (the job FINISHES); if the savepoint is aborted it goes on. Announced
 * (with PREPARE), a task with inputs fires no processing-time timer from
 * its share on, until it ends or the savepoint is aborted. */
#define CP_TRIGGER_STOP 4

/* One operator subtask's share of a checkpoint. */
typedef struct cp_op_state {
	char *uid; /* the operator's stable id (fl_uid, or generated) */
	int subtask, parallelism, max_parallelism;
	int kg_first, kg_last; /* its key groups; both -1 when not keyed */
	char *keyed_file;      /* relative to the checkpoint dir; NULL: none */
	uint64_t keyed_bytes;
	/* Incremental checkpoints: the keyed state is the chain base_files[0]
	 * (a whole file), base_files[1..] and keyed_file (deltas), restored in
	 * that order. Each earlier file is one an earlier checkpoint of the
	 * job wrote, named from this checkpoint's directory as
	 * "../chk-<id>/<name>" (cp_base_file_ok); the coordinator keeps it
	 * while a retained checkpoint names it. */
	char **base_files;
	size_t nbase;
	uint8_t *data; /* operator state, for the operator alone; may be NULL */
	size_t len;
} cp_op_state;

/*
 * An operator's state (cp_op_state.data) is a list state (Flink's operator
 * ListState, redistributed element by element when a job is restored at
 * another parallelism): elements back to back, each a uvarint length and
 * its bytes; an empty list is no bytes. cp_list_next reads the next element
 * of r: 1 with *e and *len, 0 at the end, -1 when malformed (r's error says
 * where).
 */
int cp_list_next(cm_rbuf *r, const uint8_t **e, size_t *len);

/* Whether p names a file of another checkpoint of the same job:
 * "../chk-<digits>/<name>" with a plain name. */
bool cp_base_file_ok(const char *p);

/* Deep copy / free of one state (dst is overwritten). 0 or FL_ENOMEM. */
int cp_op_state_copy(cp_op_state *dst, const cp_op_state *src);
void cp_op_state_fini(cp_op_state *s);

typedef struct cp_metadata {
	char job_id[33];
	uint64_t id;
	int64_t timestamp_ms;
	enum cp_kind kind;
	cp_op_state *states;
	size_t nstates;
} cp_metadata;

void cp_metadata_fini(cp_metadata *m);

/* Appends n states to w (a task's acknowledgement). Errors are w's. */
void cp_states_encode(cm_wbuf *w, const cp_op_state *s, size_t n);
/* Decodes what cp_states_encode wrote, all of r. On success *out (n
 * states, freed with cp_op_state_fini each and free) belongs to the caller.
 * Returns 0, FL_EPROTO with err naming what is wrong, or FL_ENOMEM. */
int cp_states_decode(cm_rbuf *r, cp_op_state **out, size_t *n, cm_err *err);

/* The bytes of a _metadata file (malloc'd *out). 0 or FL_ENOMEM. */
int cp_metadata_encode(const cp_metadata *m, uint8_t **out, size_t *len);
/* Parses a _metadata file's bytes; `what` names it in errors. Returns 0,
 * FL_EPROTO (err says what is wrong) or FL_ENOMEM. */
int cp_metadata_decode(const uint8_t *p, size_t len, const char *what, cp_metadata *m, cm_err *err);

/* Writes dir/_metadata atomically (a temporary file, fsync, rename, fsync
 * of dir): a reader sees the whole file or none. Returns 0 or FL_EIO /
 * FL_ENOMEM with err naming the path. */
int cp_metadata_write(const char *dir, const cp_metadata *m, cm_err *err);
/* Reads and checks dir/_metadata (or path itself when it names a file).
 * Returns 0, FL_ENOENT, FL_EIO, FL_EPROTO or FL_ENOMEM, with err naming
 * the file. */
int cp_metadata_read(const char *path, cp_metadata *m, cm_err *err);

#endif
