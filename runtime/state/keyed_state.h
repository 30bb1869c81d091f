/*
 * keyed_state.h — Flink's keyed state kinds (ValueState, ListState,
 * MapState, ReducingState, AggregatingState) with TTL, on one st_backend:
 * what a keyed process function (taskmanager/process_op.c) reaches through
 * flinc.h's fl_get_*_state and the handle functions, which this module
 * implements.
 *
 * Layout in the backend. One st_declare per state name, without namespace
 * (the namespace is empty for now; windows will scope by it). Every state
 * is ONE entry per key:
 *   - ValueState, ReducingState, AggregatingState: the value (accumulator);
 *   - ListState: the whole list;
 *   - MapState: the whole map, its entries sorted by map-key bytes.
 * Why not an entry per list element or map key: the entry's key group is
 * recomputed from its key bytes at restore (st_restore_entry, and the
 * snapshot reader checks it), so a map key cannot be folded into the key;
 * and a namespace per map key would need iteration over one key's
 * namespaces, which neither backend has (the heap is a hash map, LMDB's
 * write cache too). One entry keeps every state restorable and rescalable
 * by key group with nothing new in the backends, at the price of a
 * list or map write costing time linear in its size (see flinc.h).
 *
 * Value bytes: a header byte, then the kind's body.
 *   header   bits 0-2 kind (enum ks_kind), bit 3 values are raw bytes
 *            (FL_STATE_BYTES), bit 4 map keys are raw bytes, bit 5 TTL
 *            timestamps present, bits 6-7 zero (a newer format)
 *   value    [i64le last access] payload
 *   list     per element: [i64le last access] varint length, payload
 *   map      per entry, by key bytes: [i64le last access] varint key length,
 *            key, varint value length, value
 *   payload  the row codec's bytes (FL_STATE_ROW) or the raw bytes
 * The header makes every value self-describing: an entry restored into a
 * state declared as another kind or format is refused by name, and one
 * written with or without TTL is read either way (no timestamp: the time of
 * the read).
 *
 * TTL (Flink's StateTtlConfig, processing time in ms): a value expires when
 * last access + ttl <= now. Reads clean up what expired (a value is
 * deleted, a list or map rewritten without it); list and map writes drop
 * expired elements as they rewrite; snapshots leave expired values and
 * elements out (ks_snap_filter). Keys never accessed again keep expired
 * entries in the live backend until then (Flink's incremental cleanup is
 * not built).
 *
 * Errors: the first failure is kept (ks_error) and every later call
 * returns it; the operator fails its task with the message, which names
 * the state and the operator.
 *
 * Threads: a context belongs to the task thread, except a snapshot filter,
 * which is self-contained and may run on the thread that writes the
 * snapshot.
 */
#ifndef FLINC_STATE_KEYED_STATE_H
#define FLINC_STATE_KEYED_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <flinc/flinc.h>

#include "common/err.h"
#include "state/backend.h"

enum ks_kind {
	KS_VALUE = 1,
	KS_LIST = 2,
	KS_MAP = 3,
	KS_REDUCING = 4,
	KS_AGGREGATING = 5,
};

/* Header bits of a stored value. */
#define KS_H_KIND 0x07u
#define KS_H_BYTES 0x08u
#define KS_H_KEY_BYTES 0x10u
#define KS_H_TTL 0x20u
#define KS_H_RESERVED 0xc0u

/* Processing time in ms for TTL. */
typedef int64_t (*ks_clock_fn)(void *arg);

typedef struct ks_ctx ks_ctx;

typedef struct ks_config {
	st_backend *backend; /* borrowed: outlives the context */
	const char *op_name; /* the operator, for messages (copied) */
	fl_ctx *uctx;	     /* handed to reduce and aggregate functions */
	ks_clock_fn clock;   /* NULL: the wall clock */
	void *clock_arg;
} ks_config;

/* Returns 0 with *out owned by the caller (ks_free), or FL_ENOMEM. */
int ks_new(const ks_config *cfg, ks_ctx **out, cm_err *err);
/* Frees the context (not the backend). k may be NULL. */
void ks_free(ks_ctx *k);

/*
 * ks_set_key makes key (its encoded bytes, borrowed until ks_end_record;
 * hash = kg_murmur3_32(key, klen, 0), as the partitioner computed) the
 * current key. ks_end_record forgets it, the cached time and every row and
 * iterator handed out for the record.
 */
void ks_set_key(ks_ctx *k, const void *key, size_t klen, uint32_t hash);
void ks_end_record(ks_ctx *k);
/* Makes writes (MapState put, remove, clear: the kinds a broadcast
 * state has) fail with "is read-only <why>" until called again with NULL.
 * why is borrowed. */
void ks_set_read_only(ks_ctx *k, const char *why);
/* The current key's bytes, or NULL (*len 0) when none is set. */
const void *ks_current_key(const ks_ctx *k, size_t *len);

/*
 * ks_get returns the handle of desc as kind (an fl_value_state *, ...,
 * by kind), declaring the state in the backend on first use. NULL with the
 * error recorded when desc is invalid, its name was declared as another
 * kind or with another type, TTL or function, or the backend refuses.
 */
void *ks_get(ks_ctx *k, enum ks_kind kind, const fl_state_desc *desc);

/* The first error recorded (code 0: none). FL_EUSER: a reduce or
 * aggregate function failed (its fl_fail message is in the fl_ctx). */
const cm_err *ks_error(const ks_ctx *k);

/* A backend state id worth prefetching for the next record (the first
 * state declared), or -1. */
int ks_prefetch_state(const ks_ctx *k);

/*
 * Snapshot filter: a self-contained copy of the TTL states and the time
 * now, for st_snapfile_write_filtered (ks_snap_filter_entry as its filter, the
 * object as its argument). *out is NULL when no declared state has a TTL
 * (nothing to filter). Returns 0 or FL_ENOMEM.
 */
typedef struct ks_snap_filter ks_snap_filter;
int ks_snap_filter_new(ks_ctx *k, ks_snap_filter **out);
/* Leaves out expired values (0), rewrites lists and maps without their
 * expired elements (1, e->val changed, valid until the next call), keeps
 * everything else (1); FL_ENOMEM. */
int ks_snap_filter_entry(void *arg, st_entry *e);
void ks_snap_filter_free(ks_snap_filter *f);

#endif
