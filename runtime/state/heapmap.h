/*
 * heapmap.h — an in-memory hash map from byte keys to byte values, the heap
 * keyed-state backend of one subtask (keyed aggregations keep the
 * accumulated row of every key here).
 *
 * Keys and values are copied in. Lookups take the key's 32-bit hash, which
 * the caller already computed for partitioning. Open addressing; grows by
 * doubling at 3/4 load. Entries remember their key group so that a snapshot
 * can be cut by key-group range later.
 *
 * Each slot is one cache line holding the hash, key group, lengths and, when
 * key and value together fit in ST_HEAPMAP_INLINE_BYTES, the bytes
 * themselves: looking up such a key costs one cache miss. Larger entries are
 * allocated apart and cost a second, dependent miss.
 *
 * Not thread-safe: one map belongs to one task thread.
 */
#ifndef FLINC_STATE_HEAPMAP_H
#define FLINC_STATE_HEAPMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_heapmap st_heapmap;

/* Most key plus value bytes stored within the slot; more go out of line. */
#define ST_HEAPMAP_INLINE_BYTES 52

/* Returns 0 or FL_ENOMEM. *out owned by the caller (st_heapmap_free). */
int st_heapmap_new(st_heapmap **out);
void st_heapmap_free(st_heapmap *m);

/*
 * Looks key up. On a hit stores a pointer to the value bytes (valid until the
 * next put or free) and its length, and returns 1; returns 0 on a miss.
 */
int st_heapmap_get(st_heapmap *m, const void *key, size_t klen, uint32_t hash, const void **val,
		   size_t *vlen);

/* Inserts or replaces. Returns 0, FL_ENOMEM (map unchanged) or FL_ERANGE
 * (key or value over 16 MiB). */
int st_heapmap_put(st_heapmap *m, const void *key, size_t klen, uint32_t hash, int key_group,
		   const void *val, size_t vlen);

/*
 * Read-modify-write in one probe: st_heapmap_find looks key up and returns a
 * position; on a hit it returns 1 with the value as st_heapmap_get does,
 * else 0. st_heapmap_put_at then stores the new value at that position
 * (same key, hash and no other put in between). Errors as st_heapmap_put.
 */
int st_heapmap_find(st_heapmap *m, const void *key, size_t klen, uint32_t hash, size_t *pos,
		    const void **val, size_t *vlen);
int st_heapmap_put_at(st_heapmap *m, size_t pos, const void *key, size_t klen, uint32_t hash,
		      int key_group, const void *val, size_t vlen);

/*
 * Removes the entry at pos (a position st_heapmap_find returned with a hit,
 * no put in between), freeing its slot: later entries of its probe run move
 * back (backward-shift deletion), so no tombstone is left and a map that
 * inserts and deletes keys forever stays as fast as a fresh one. Moves
 * entries: positions, value pointers and iteration cursors taken before it
 * are invalid after it. A map that stays mostly empty over many deletes
 * shrinks (memory back after a burst of keys). Cannot fail.
 */
void st_heapmap_del_at(st_heapmap *m, size_t pos);

/*
 * The value bytes of the entry at pos (a position st_heapmap_find returned
 * with a hit, no put in between), writable in place for an update that
 * keeps the value's length; its length in *vlen. Valid until the next put
 * or free.
 */
void *st_heapmap_value_at(st_heapmap *m, size_t pos, size_t *vlen);

/*
 * Hint that a lookup with this hash is coming: starts loading its slot so
 * that the lookup, issued a few records later, does not wait for memory.
 * Has no effect on the map; any later put may make it useless, never wrong.
 */
void st_heapmap_prefetch(const st_heapmap *m, uint32_t hash);

/*
 * Generations, for incremental snapshots: every entry written (put, put_at,
 * and value_at, whose caller writes in place) is stamped with the map's
 * current generation, 0 until st_heapmap_set_gen changes it. The stamp is
 * one byte of the slot, so it costs no memory and no extra cache line; its
 * owner compares generations modulo 256. st_heapmap_gen_before gives the
 * stamp of the entry st_heapmap_next just returned (cursor as it left it).
 */
void st_heapmap_set_gen(st_heapmap *m, uint8_t gen);
uint8_t st_heapmap_gen_before(const st_heapmap *m, size_t cursor);

size_t st_heapmap_size(const st_heapmap *m);
/* Bytes held (tables plus entries), for metrics and memory tests. */
size_t st_heapmap_memory(const st_heapmap *m);

/* Iteration in unspecified order; the map must not change meanwhile.
 * Start with *cursor = 0; returns 1 with the entry, 0 at the end. */
int st_heapmap_next(const st_heapmap *m, size_t *cursor, const void **key, size_t *klen,
		    const void **val, size_t *vlen, int *key_group);

#endif
