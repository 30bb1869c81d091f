/*
 * snapshot_file.h — the file that holds one subtask's keyed state at a
 * checkpoint or savepoint: the entries of a key-group range, written from a
 * cut (backend.h) and read back by key-group range, so that a subtask
 * restored at another parallelism reads only the part of each old file it
 * owns.
 *
 * Format, version 2 (integers little endian, as in the checkpoint's
 * _metadata file; CRC = CRC-32C, common/crc32c.h):
 *
 *   header   40 bytes: "FLSTATE\0", u32 version, u32 max parallelism,
 *            u32 first key group, u32 last key group, u32 number of states,
 *            u32 bytes of the state table, u32 flags, u32 CRC of the 36
 *            bytes before it. Flags: ST_SNAP_FLAG_DELTA, the file holds
 *            the changes since an earlier snapshot (an incremental
 *            checkpoint's): an entry of value length 0 deletes its key.
 *            Version 1 is version 2 with flags zero (and is read).
 *   states   per state, ids 0, 1, ...: u8 flags (ST_STATE_*), u8 name
 *            length (1..255), name; then u32 CRC of the table
 *   blocks   for each key group in order, zero or more blocks of its
 *            entries: u32 payload bytes, u32 entries, u32 CRC of those 8
 *            bytes and the payload, payload. An entry is u16 state id,
 *            varint key length, varint namespace length, varint value
 *            length, key, namespace, value (value length >= 1, or 0 in a
 *            delta). Blocks are
 *            cut at about 64 KiB; a larger entry gets a block of its own.
 *   index    per key group of the range: u64 offset of its first block,
 *            u64 bytes of its blocks, u64 entries; then u32 CRC of the index
 *   trailer  24 bytes: u64 offset of the index, u64 total entries, u32 CRC
 *            of those 16 bytes, "FLSE"
 *
 * The writer streams (no seeking: a pipe will do); the reader seeks: it
 * reads the trailer and index first, then only the blocks of the key groups
 * asked for. Everything read is bounded by the file's size and checked
 * before it is used: a truncated, corrupt (CRC), foreign (magic) or newer
 * (version) file, an index that does not tile the data, an entry whose key
 * does not hash to its key group, all are refused with FL_EPROTO and a
 * message naming the file, the offset and what is wrong; never a crash.
 * A block's entries are all checked before the first of them is passed on.
 *
 * Threads: a writer or reader is used by one thread at a time; none share
 * anything.
 */
#ifndef FLINC_STATE_SNAPSHOT_FILE_H
#define FLINC_STATE_SNAPSHOT_FILE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"
#include "state/backend.h"

#define ST_SNAP_VERSION 2
#define ST_SNAP_FLAG_DELTA 1u
/* Largest block payload a reader accepts: one largest entry. */
#define ST_SNAP_BLOCK_MAX ((uint32_t)ST_VALUE_MAX + ST_HEAP_KEY_MAX + 64u)

/*
 * st_snapfile_write writes the entries of key groups kg_first..kg_last of
 * cut c, with c's state table, to f as one snapshot file (fname names it in
 * messages). Any one thread (where the cut may be scanned). Flushes f; does
 * not fsync or close it. Returns 0 with *entries (may be NULL) set, or
 * FL_EINVAL (range), FL_ENOMEM, FL_EIO (a write failed: a full disk is
 * ENOSPC in the message), or a scan error, with err naming fname.
 */
int st_snapfile_write(FILE *f, const char *fname, st_cut *c, int kg_first, int kg_last,
		      uint64_t *entries, cm_err *err);

/*
 * A filter of st_snapfile_write_filtered, called for each entry of the cut
 * before it is written, on the writing thread: returns 1 to write *e, which
 * it may change (another value, valid until its next call: TTL cleanup
 * rewrites a list without its expired elements), 0 to leave the entry out
 * (an expired value), or a negative FL_E* code to fail the write.
 */
typedef int (*st_snap_filter_fn)(void *arg, st_entry *e);

/* st_snapfile_write with a filter (NULL: none, as st_snapfile_write);
 * *entries counts the entries written. */
int st_snapfile_write_filtered(FILE *f, const char *fname, st_cut *c, int kg_first, int kg_last,
			       st_snap_filter_fn filter, void *filter_arg, uint64_t *entries,
			       cm_err *err);

/*
 * st_snapfile_write_changes writes a delta file: the changes of key groups
 * kg_first..kg_last between the cut of epoch `since` and cut c
 * (st_cut_scan_changes), deletions as entries of value length 0; a filter
 * that leaves an entry out writes its deletion. FL_EINVAL when the changes
 * are not known (st_cut_changes_known: write the whole cut instead).
 * Otherwise as st_snapfile_write_filtered.
 */
int st_snapfile_write_changes(FILE *f, const char *fname, st_cut *c, uint64_t since, int kg_first,
			      int kg_last, st_snap_filter_fn filter, void *filter_arg,
			      uint64_t *entries, cm_err *err);

typedef struct st_snapfile st_snapfile;

/*
 * st_snapfile_open reads and checks the header, state table, index and
 * trailer of the snapshot file open as f (seekable; fname for messages).
 * Returns 0 with *out owned by the caller (st_snapfile_close, which does
 * not close f), FL_EPROTO (not a valid snapshot file), FL_EIO, FL_ENOMEM.
 */
int st_snapfile_open(FILE *f, const char *fname, st_snapfile **out, cm_err *err);
void st_snapfile_close(st_snapfile *r);

/* What the file holds. */
int st_snapfile_max_parallelism(const st_snapfile *r);
void st_snapfile_range(const st_snapfile *r, int *kg_first, int *kg_last);
uint64_t st_snapfile_entries(const st_snapfile *r);
/* Whether the file is a delta (its entries of vlen 0 delete). */
bool st_snapfile_is_delta(const st_snapfile *r);
int st_snapfile_nstates(const st_snapfile *r);
/* Name and flags of the file's state id (0 <= id < nstates). */
const char *st_snapfile_state_name(const st_snapfile *r, int id, unsigned *flags);

/*
 * st_snapfile_read passes fn every entry of the file in key groups
 * kg_first..kg_last (clipped to the file's range; an empty intersection
 * reads nothing), in key-group order, with e->state the FILE's state id.
 * Returns 0, fn's nonzero return, FL_EPROTO / FL_EIO / FL_ENOMEM with err
 * naming the file and offset. Entries passed before an error stay passed.
 */
int st_snapfile_read(st_snapfile *r, int kg_first, int kg_last, st_entry_fn fn, void *arg,
		     cm_err *err);

/*
 * st_snapfile_restore adds to b the entries of key groups
 * kg_first..kg_last of the snapshot file f (a delta's deletions delete;
 * restore a chain's files in order, whole file first): it checks that the file's max
 * parallelism is b's, declares the file's states in b by name (same flags)
 * and restores the entries under b's ids. Call once per old file whose
 * range meets the new one. Returns 0 or an error as above (FL_EINVAL for a
 * max parallelism or state flags that differ), with err naming the file. On
 * error b may hold part of the file's entries: clear or free it.
 */
int st_snapfile_restore(st_backend *b, FILE *f, const char *fname, int kg_first, int kg_last,
			cm_err *err);

#endif
