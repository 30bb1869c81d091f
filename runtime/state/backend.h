/*
 * backend.h — the keyed-state backend of one subtask: the interface every
 * keyed operator uses, with two implementations, the heap map
 * (heap_backend.c, `state.backend.type: hashmap`) and LMDB behind a write
 * cache (lmdb_backend.c, `state.backend.type: lmdb`).
 *
 * Data model (Flink's): a state is declared by name (the state descriptor's
 * name) and gets a small integer id. An entry lives under
 * (key group, state id, key bytes, namespace bytes) and holds value bytes.
 * The namespace is empty unless the state was declared ST_STATE_NAMESPACED
 * (windows keep one value per window of a key there). Values are never
 * empty: a value of length 0 is FL_EINVAL, so that both backends can use
 * length 0 internally as a tombstone at no cost on the hot path.
 *
 * Keys: the caller hashes the key bytes once, as the partitioner already
 * does: hash = kg_murmur3_32(key, klen, 0), key_group = hash %
 * max_parallelism (types/keygroup.h). The backend trusts both (restore
 * recomputes them from the key bytes); passing other values makes entries
 * unreachable, never memory-unsafe. Key plus namespace bytes are at most
 * the backend's key_max (LMDB: ST_KEY_MAX, its key size limit with the
 * prefix; heap: ST_HEAP_KEY_MAX, ST_KEY_MAX with a namespace), values at
 * most ST_VALUE_MAX; more is FL_ERANGE naming the limit.
 *
 * The hot path of a keyed aggregation is one probe (st_find, compute,
 * st_put_at), preceded a few records earlier by st_prefetch, exactly as with
 * st_heapmap today. The calls are through a vtable: one indirect call each.
 *
 * Snapshots come in two phases. st_cut, on the task thread, is the
 * synchronous part: it fixes the state as of now (heap: the maps are frozen
 * and later changes go to new maps, copy-on-write per key, O(states); LMDB:
 * flush the write cache, then open a read transaction). The cut is then
 * scanned by key-group range with st_cut_scan, on any one thread, while the
 * task thread keeps updating the backend: the scan sees the state at the
 * cut, never a later write.
 *
 * Threads: a backend belongs to one task thread; every st_* call on it
 * (including st_cut) comes from that thread. A cut may be scanned and freed
 * on another thread (one thread at a time per cut) concurrently with the
 * task thread's calls; every cut must be freed before its backend.
 *
 * Blocking: the heap backend never blocks. The LMDB backend does file I/O
 * (page faults on its memory map; a flush writes a transaction of up to the
 * cache budget) inside st_put, st_put_at, st_delete, st_flush, st_cut,
 * st_iterate, st_restore_entry and st_clear; nothing waits on another
 * thread.
 *
 * Errors: every call that can fail returns 0 (or 1 for a hit) or a negative
 * FL_E* code, and st_backend_error() then describes the cause (state name,
 * key group, LMDB's message, the directory). An error leaves the backend
 * usable and unchanged by the failed call unless the call says otherwise.
 */
#ifndef FLINC_STATE_BACKEND_H
#define FLINC_STATE_BACKEND_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct st_backend st_backend;
typedef struct st_cut st_cut;

/* Longest key plus namespace in LMDB (its 511-byte key limit, less the
 * key-group, state and length prefix), and of a namespaced state's key on
 * the heap. */
#define ST_KEY_MAX 496
/* Longest key of a state without namespace on the heap (the keyed
 * aggregations' keys are whole fields: strings of any length a row holds
 * up to this), and the longest a snapshot file holds. */
#define ST_HEAP_KEY_MAX (64u * 1024u)
/* Longest value (the heap map's limit is 16 MiB). */
#define ST_VALUE_MAX (16u * 1024u * 1024u - 1u)
/* Most states (named tables) per backend. */
#define ST_MAX_STATES 256
/* Longest state name, in bytes. */
#define ST_NAME_MAX 255

/* Declaration flags. */
#define ST_STATE_NAMESPACED 1u /* entries carry a namespace (else it is empty) */

/* One key of one state. ns may be NULL when nslen is 0. */
typedef struct st_key {
	int state;	 /* id returned by st_declare */
	int key_group;	 /* hash % max_parallelism */
	uint32_t hash;	 /* kg_murmur3_32(key, klen, 0) */
	const void *key; /* klen + nslen <= ST_KEY_MAX */
	size_t klen;
	const void *ns;
	size_t nslen;
} st_key;

/* One entry, as iterate, scan and restore see it. */
typedef struct st_entry {
	int key_group;
	int state;
	const void *key;
	size_t klen;
	const void *ns;
	size_t nslen;
	const void *val; /* vlen >= 1 */
	size_t vlen;
} st_entry;

/*
 * Called once per entry by st_iterate, st_cut_scan and the snapshot reader.
 * The entry's bytes are valid during the call only. Returning nonzero stops
 * the walk, which then returns that value (use a negative FL_E* code for
 * errors).
 */
typedef int (*st_entry_fn)(void *arg, const st_entry *e);

/* Position of a key found by st_find, for the st_put_at that follows.
 * Opaque: its fields belong to the backend. */
typedef struct st_pos {
	size_t slot;
	unsigned flags;
} st_pos;

/* Figures for metrics and tests. */
typedef struct st_stats {
	size_t entries;	      /* live entries (LMDB: committed + cached, an upper bound) */
	size_t memory_bytes;  /* heap bytes held (maps, cache) */
	size_t disk_bytes;    /* LMDB: bytes of the map in use; heap: 0 */
	size_t map_bytes;     /* LMDB: current map size; heap: 0 */
	size_t cache_entries; /* LMDB: entries in the write cache (incl. tombstones) */
	uint64_t flushes;     /* LMDB: write transactions committed by cache flushes */
	uint64_t map_grows;   /* LMDB: times the map was enlarged */
} st_stats;

/* How to build a backend. Zeroes give the defaults. */
typedef struct st_backend_config {
	int max_parallelism; /* key groups; required, 1..32768 */
	/* A name for messages and file names (task name and subtask). */
	const char *name;
	/* LMDB: parent directory of the environment's own directory
	 * (taskmanager.state.local.root-dirs); NULL or "": $TMPDIR or /tmp. */
	const char *dir;
	/* LMDB: write-cache budget in bytes (the slot's share of managed
	 * memory); 0: 16 MiB. At least 64 KiB is used. */
	size_t cache_bytes;
	/* LMDB: initial map size; 0: 256 MiB. Grows by doubling when full. */
	size_t map_bytes;
	/* LMDB: open with MDB_WRITEMAP (for benchmarks; the default, a
	 * read-only map written with write(2), measured as fast or faster). */
	int lmdb_writemap;
	/* Incremental snapshots will be asked for (st_cut_scan_changes):
	 * LMDB then keeps a record of each deleted key until its compaction
	 * (the heap keeps tombstones anyway). */
	int incremental;
} st_backend_config;

/* The vtable. Use the st_* wrappers below, not the members. */
struct st_backend_ops {
	const char *type; /* "hashmap" or "lmdb" */
	int (*add_state)(st_backend *b, int id);
	int (*get)(st_backend *b, const st_key *k, const void **val, size_t *vlen);
	int (*put)(st_backend *b, const st_key *k, const void *val, size_t vlen);
	int (*del)(st_backend *b, const st_key *k);
	/* NULL: st_take probes with get first. */
	int (*take)(st_backend *b, const st_key *k);
	int (*find)(st_backend *b, const st_key *k, st_pos *pos, const void **val, size_t *vlen);
	int (*put_at)(st_backend *b, const st_key *k, st_pos *pos, const void *val, size_t vlen);
	void *(*value_at)(st_backend *b, const st_key *k, st_pos *pos, size_t *vlen);
	void (*prefetch)(st_backend *b, const st_key *k);
	int (*iterate)(st_backend *b, int kg_first, int kg_last, st_entry_fn fn, void *arg);
	int (*flush)(st_backend *b);
	int (*cut)(st_backend *b, st_cut *c);
	int (*cut_scan)(st_cut *c, int kg_first, int kg_last, st_entry_fn fn, void *arg);
	int (*cut_scan_changes)(st_cut *c, uint64_t since, int kg_first, int kg_last,
				st_entry_fn fn, void *arg);
	void (*cut_free)(st_cut *c);
	int (*clear)(st_backend *b);
	void (*stats)(st_backend *b, st_stats *out);
	void (*free)(st_backend *b);
};

struct st_state_info {
	char *name;
	unsigned flags;
};

/* Common part of every backend; the implementations embed it first. */
struct st_backend {
	const struct st_backend_ops *ops;
	int max_parallelism;
	size_t key_max; /* longest key of a state without namespace */
	int nstates;
	struct st_state_info states[ST_MAX_STATES];
	atomic_int live_cuts; /* cuts not yet freed (decremented off-thread) */
	/* Incremental snapshots (task thread): writes are stamped with epoch;
	 * a cut closes it (the next writes carry epoch + 1). Changes since an
	 * epoch below changes_floor are not known any more (deletions were
	 * forgotten: a compaction, st_clear). epoch_window: how far back a
	 * stamp can tell (the heap's is one byte). */
	uint64_t epoch;
	uint64_t changes_floor;
	uint64_t epoch_window;
	cm_err err;
};

/* Common part of a cut; a copy of the state table as of the cut. */
struct st_cut {
	st_backend *b;
	int max_parallelism;
	int nstates;
	struct st_state_info states[ST_MAX_STATES];
	uint64_t epoch;		/* the epoch this cut closed */
	uint64_t changes_floor; /* the backend's, at the cut */
	uint64_t epoch_window;
	bool changes_unknown; /* the implementation cannot scan changes of this cut */
	cm_err err;	      /* set by a failed st_cut_scan */
	void *impl;	      /* the implementation's part */
};

/* ---------------------------------------------------------------- create */

/*
 * st_backend_new builds a backend of the given type ("hashmap" or "lmdb",
 * case-insensitive; Flink's state.backend.type). Returns 0 with *out owned
 * by the caller (st_backend_free), or FL_EINVAL (unknown type, bad
 * config), FL_ENOMEM, FL_EIO (LMDB directory or environment), with err
 * naming the cause. *out is untouched on error.
 */
int st_backend_new(const char *type, const st_backend_config *cfg, st_backend **out, cm_err *err);
int st_heap_backend_new(const st_backend_config *cfg, st_backend **out, cm_err *err);
int st_lmdb_backend_new(const st_backend_config *cfg, st_backend **out, cm_err *err);

/*
 * st_pick_local_dir writes to out (cap bytes) the directory of
 * taskmanager.state.local.root-dirs (a comma-separated list; blanks around
 * entries ignored) that a task with the given index uses: index modulo the
 * number of entries, as Flink spreads tasks over its local directories.
 * An empty list writes "" (the backend then uses $TMPDIR or /tmp). Returns
 * 0, or FL_ERANGE (the entry does not fit in cap) with out = "".
 */
int st_pick_local_dir(const char *root_dirs, unsigned index, char *out, size_t cap);
/* How many entries the list has (st_pick_local_dir's indices 0..n-1). */
size_t st_local_dir_count(const char *root_dirs);

/* Frees b and all its state; LMDB removes its files and directory.
 * Precondition: every cut of b was freed. b may be NULL. */
void st_backend_free(st_backend *b);

/* The message of the last failed call (empty if none). */
const char *st_backend_error(const st_backend *b);

/*
 * st_declare returns in *id the id of the state called name, declaring it
 * with flags if it is new. Ids are 0, 1, ... in declaration order. Returns
 * 0, FL_EINVAL (empty or over ST_NAME_MAX name; flags differ from the
 * earlier declaration), FL_ERANGE (over ST_MAX_STATES) or FL_ENOMEM.
 */
int st_declare(st_backend *b, const char *name, unsigned flags, int *id);

/* -------------------------------------------------------- point access */

/*
 * st_get looks k up: 1 with *val, *vlen set (valid until the next call on
 * b), 0 when absent, or FL_EINVAL / FL_ERANGE (bad key), FL_EIO (LMDB),
 * FL_ENOMEM (heap: folding in the changes made during a snapshot).
 */
static inline int st_get(st_backend *b, const st_key *k, const void **val, size_t *vlen)
{
	return b->ops->get(b, k, val, vlen);
}

/* st_put inserts or replaces. val may point into a value st_get returned.
 * Returns 0, FL_EINVAL (vlen 0, bad key), FL_ERANGE (too long), FL_ENOMEM,
 * FL_EIO (LMDB: the write-cache flush this put set off failed; the value
 * is cached, the backend is only fit to be freed). */
static inline int st_put(st_backend *b, const st_key *k, const void *val, size_t vlen)
{
	return b->ops->put(b, k, val, vlen);
}

/* st_delete removes k; absent is not an error. Errors as st_put. */
static inline int st_delete(st_backend *b, const st_key *k)
{
	return b->ops->del(b, k);
}

/* st_take removes k and says whether it was there: 1 removed, 0 absent,
 * or an error as st_get and st_put. One probe where the backend can tell
 * (the heap's); else st_get, then st_delete. */
static inline int st_take(st_backend *b, const st_key *k)
{
	if (b->ops->take)
		return b->ops->take(b, k);
	const void *v;
	size_t vl;
	int rc = b->ops->get(b, k, &v, &vl);
	if (rc <= 0)
		return rc;
	rc = b->ops->del(b, k);
	return rc ? rc : 1;
}

/*
 * Read-modify-write in one probe: st_find looks k up as st_get does and
 * fills *pos; st_put_at then stores a new value for the same k at that
 * position. Between the two, the caller makes no other call on b (st_get
 * and st_prefetch included). *val stays valid until st_put_at and may be
 * passed to it. Errors as st_get and st_put.
 */
static inline int st_find(st_backend *b, const st_key *k, st_pos *pos, const void **val,
			  size_t *vlen)
{
	return b->ops->find(b, k, pos, val, vlen);
}

static inline int st_put_at(st_backend *b, const st_key *k, st_pos *pos, const void *val,
			    size_t vlen)
{
	return b->ops->put_at(b, k, pos, val, vlen);
}

/*
 * st_value_at, after an st_find of k that returned 1 (no call on b
 * between), returns the stored value's bytes writable in place, for an
 * update that keeps the value's length: writing them is the update, and no
 * st_put_at follows. Returns NULL (with *vlen untouched) when the value
 * cannot be changed in place: heap, a value that a live snapshot cut still
 * shares; LMDB, a value read from LMDB rather than the write cache. The
 * caller then stores with st_put_at at the same position as usual. The
 * pointer is valid until the next call on b. (The keyed sum's patch of one
 * field, st_heapmap_value_at's use in operators.c.)
 */
static inline void *st_value_at(st_backend *b, const st_key *k, st_pos *pos, size_t *vlen)
{
	return b->ops->value_at(b, k, pos, vlen);
}

/*
 * st_update_fn gets the current value (old NULL, oldlen 0 when absent) and
 * sets the new one in *nv, *nvlen (valid until it returns to st_update), or
 * *nvlen = 0 to delete. A negative return is passed on and stores nothing.
 */
typedef int (*st_update_fn)(void *arg, const void *old, size_t oldlen, const void **nv,
			    size_t *nvlen);

/* st_update is st_find, fn, st_put_at (or st_delete). Returns 0, fn's
 * error, or st_put's errors. */
int st_update(st_backend *b, const st_key *k, st_update_fn fn, void *arg);

/* A hint that the lookup of a key of state with this hash (no namespace)
 * comes soon. No effect on the contents; LMDB prefetches its write cache's
 * slot only. */
static inline void st_prefetch(st_backend *b, int state, uint32_t hash)
{
	b->ops->prefetch(b, &(st_key){.state = state, .hash = hash});
}

/* The same for k, namespace included (its key bytes are not read). */
static inline void st_prefetch_key(st_backend *b, const st_key *k)
{
	b->ops->prefetch(b, k);
}

/* ------------------------------------------------------------ bulk */

/*
 * st_iterate calls fn for every entry of key groups kg_first..kg_last, in
 * key-group order (order inside one key group unspecified). fn must not call
 * b. Returns 0, fn's nonzero return, FL_EINVAL (bad range), FL_ENOMEM or
 * FL_EIO. LMDB flushes its write cache first.
 */
static inline int st_iterate(st_backend *b, int kg_first, int kg_last, st_entry_fn fn, void *arg)
{
	return b->ops->iterate(b, kg_first, kg_last, fn, arg);
}

/* st_flush writes LMDB's write cache in one transaction (no-op on heap).
 * Returns 0, FL_ENOMEM or FL_EIO. */
static inline int st_flush(st_backend *b)
{
	return b->ops->flush(b);
}

/*
 * st_restore_entry adds one entry of a snapshot (e->state is an id of b,
 * key group and hash are recomputed from the key). Restoring several
 * snapshots' ranges into one backend is fine. Errors as st_put.
 */
int st_restore_entry(st_backend *b, const st_entry *e);
/* st_restore_delete removes e's key (a delta file's deletion; e->val and
 * e->vlen unused). Errors as st_delete, and FL_EPROTO as above. */
int st_restore_delete(st_backend *b, const st_entry *e);

/* st_clear removes every entry of every state (states stay declared).
 * Returns 0, FL_ENOMEM or FL_EIO; on error the contents are unspecified
 * and the caller should free b. */
static inline int st_clear(st_backend *b)
{
	return b->ops->clear(b);
}

static inline void st_stats_get(st_backend *b, st_stats *out)
{
	b->ops->stats(b, out);
}

/* ------------------------------------------------------------ snapshots */

/*
 * st_cut fixes the current contents of b (the synchronous phase, on the task
 * thread) and returns them in *out, owned by the caller (st_cut_free).
 * Returns 0, FL_ENOMEM or FL_EIO (LMDB: cache flush or read transaction),
 * FL_ERANGE (LMDB: map full, see below).
 * Heap: the first cut freezes the maps; until it is freed, a key changed
 * for the first time is copied (memory: the changed keys twice), and a
 * second cut meanwhile is a compact copy of every entry (memory: the state
 * again). After the freezing cut is freed, the next call folds the changes
 * back (O(keys changed)). LMDB: the cut pins the pages of the moment, so
 * the file grows with later updates until the cut is freed, and the map
 * cannot be enlarged meanwhile: a flush that needs a larger map keeps the
 * entries in the write cache (over budget) until the cut is freed, and a
 * further cut then fails with FL_ERANGE.
 */
int st_cut_new(st_backend *b, st_cut **out);

/*
 * st_cut_scan calls fn for every entry of key groups kg_first..kg_last as of
 * the cut, in key-group order. Any one thread at a time; may run while the
 * task thread uses the backend. Returns 0, fn's nonzero return, FL_EINVAL,
 * FL_EIO (message in c->err).
 */
int st_cut_scan(st_cut *c, int kg_first, int kg_last, st_entry_fn fn, void *arg);

/* Frees the cut, on any thread (not concurrently with a scan of it). */
void st_cut_free(st_cut *c);

/*
 * Incremental snapshots (execution.checkpointing.incremental). Every write
 * to a backend (put, put_at, an in-place update through st_value_at,
 * delete) is stamped with the backend's current epoch, and every cut
 * closes one: st_cut_epoch(c) is the epoch of c, and writes after c carry
 * a later one. The cost on the hot path is one byte stored in a slot the
 * update writes anyway (heap) or four bytes before each value (LMDB).
 *
 * st_cut_scan_changes passes the entries of key groups kg_first..kg_last
 * that changed after the cut of epoch `since` up to cut c, a deleted key as
 * an entry with vlen 0 and val NULL, in key-group order, each key once. It
 * may pass an entry that did not change (never leaves one out): applying
 * what it passes, in order, to the contents as of cut `since` gives the
 * contents as of c. Same threads as st_cut_scan.
 *
 * st_cut_changes_known says whether the changes since `since` can be told:
 * false when since is not an earlier cut's epoch of this backend, when
 * deletions since then were forgotten (the heap's compaction of
 * tombstones, LMDB's of deletion records, st_clear), when the heap's
 * one-byte stamps cannot reach that far back (over 200 cuts), or when c
 * is the heap's compact copy (a second cut while another lives). Then
 * write the whole cut; st_cut_scan_changes returns FL_EINVAL.
 */
uint64_t st_cut_epoch(const st_cut *c);
bool st_cut_changes_known(const st_cut *c, uint64_t since);
int st_cut_scan_changes(st_cut *c, uint64_t since, int kg_first, int kg_last, st_entry_fn fn,
			void *arg);

/* ---------------------------------------------------------------- shared */

/* For the implementations: whether k is acceptable to b (state declared,
 * its namespace flag respected, key group in range, lengths); if not,
 * st_key_error sets b->err and returns FL_EINVAL or FL_ERANGE. */
static inline int st_key_ok(const st_backend *b, const st_key *k)
{
	return (unsigned)k->state < (unsigned)b->nstates &&
	       (unsigned)k->key_group < (unsigned)b->max_parallelism &&
	       (b->states[k->state].flags & ST_STATE_NAMESPACED
		    ? k->klen <= ST_KEY_MAX && k->nslen <= ST_KEY_MAX - k->klen
		    : k->nslen == 0 && k->klen <= b->key_max);
}
int st_key_error(st_backend *b, const st_key *k);

/* For the implementations: replaces b's message (printf format) and
 * returns code. */
int st_fail(st_backend *b, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
