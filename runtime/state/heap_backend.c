/*
 * heap_backend.c — the heap keyed-state backend (state.backend.type:
 * hashmap): one st_heapmap per declared state.
 *
 * The map key of a state without namespace is the key bytes themselves, so
 * the keyed aggregations' find / put_at probe is st_heapmap's, with nothing
 * copied. A namespaced state's map key is varint(klen) key ns (built in a
 * scratch buffer), hashed as the key's hash mixed with the namespace's, so
 * the windows of one key spread over the table.
 *
 * A delete frees the entry's slot (st_heapmap_del_at) unless a cut may still
 * ask about it: while the maps are frozen (the changes must hide the frozen
 * entry) or when incremental snapshots are configured (a cut reports
 * deleted keys). Then the entry stays as a tombstone, a value of length 0
 * (values are never empty, backend.h), and once tombstones outnumber live
 * entries of a state, its map is rebuilt without them.
 *
 * Snapshot cut: the maps are frozen. The cut takes every state's map as it
 * is (O(number of states)) and the backend continues on fresh, empty maps
 * that hold only the changes since the cut (deletes as tombstones); a
 * lookup that misses them reads the frozen map, which nothing writes while
 * the cut lives, so the cut may be scanned on any thread. When the cut is
 * freed (on any thread: an atomic flag), the next call on the task thread
 * folds the changes into the frozen maps, which become the live maps again:
 * O(keys changed during the snapshot). This is copy-on-write at the
 * granularity of a key, as Flink's CopyOnWriteStateMap. A second cut taken
 * while the first still lives is a compact copy of the merged view instead
 * (every live entry encoded into one buffer grouped by key group), the
 * strategy the first version used for every cut; bench_state measures both.
 *
 * Incremental snapshots: every live map stamps what is written with the
 * backend's epoch (one byte of the slot, backend.h), including the
 * tombstones of deletes, so the changes since an earlier cut are the
 * frozen maps' entries whose stamp lies between that cut's epoch and this
 * one's, tombstones included. Compacting tombstones away (or st_clear)
 * forgets deletions: the changes are then unknown before that epoch.
 */
#include "state/backend.h"

#include <stdlib.h>
#include <string.h>

#include "common/varint.h"
#include "state/heapmap.h"
#include "types/keygroup.h"

#define HB_TOMB_MIN 4096 /* fewer tombstones than this are never compacted */
#define IDX_CUR_BITS 55	 /* index entry: state << 56 | which << 55 | cursor */
/* st_pos flags: st_find hit a tombstone / a live entry of the live map. */
#define HB_POS_TOMB 1u
#define HB_POS_LIVE 2u

struct hb_state {
	st_heapmap *map;     /* live entries; while frozen, the changes since the cut */
	size_t tombs;	     /* tombstones in map */
	st_heapmap *frozen;  /* the map as of the freezing cut, or NULL */
	size_t frozen_tombs; /* tombstones in frozen */
};

typedef struct heap_backend {
	st_backend base; /* first: the st_backend pointer is this */
	struct hb_state st[ST_MAX_STATES];
	int frozen;	   /* a freezing cut was taken and not merged yet */
	int incremental;   /* st_backend_config.incremental: deletes leave tombstones */
	int frozen_hidden; /* st_clear ran since: the frozen maps are no state */
	/* 1 from the freezing cut until it is freed (on any thread). */
	atomic_int frozen_live;
	uint8_t kbuf[ST_KEY_MAX + CM_VARINT_MAX];
} heap_backend;

struct hb_cut {
	int frozen; /* 1: scans maps (frozen, immutable); 0: the compact copy */
	int nmaps;
	st_heapmap *maps[ST_MAX_STATES];
	/* Compact copy: entries of key group g are buf[off[g] .. off[g + 1]),
	 * each u16 state (LE), varint klen, varint nslen, varint vlen, key, ns,
	 * val. */
	uint8_t *buf;
	size_t *off; /* max_parallelism + 1 offsets */
};

static inline int flags_ns(unsigned flags)
{
	return (flags & ST_STATE_NAMESPACED) != 0;
}

static inline uint32_t ns_hash(uint32_t key_hash, const void *ns, size_t nslen)
{
	if (nslen == 0)
		return key_hash;
	return key_hash ^ (kg_murmur3_32(ns, nslen, 0x5bd1e995u) * 0x9E3779B1u);
}

/* The map key and hash of k (k checked). */
static inline const void *map_key(heap_backend *h, const st_key *k, size_t *len, uint32_t *hash)
{
	if (!flags_ns(h->base.states[k->state].flags)) {
		*len = k->klen;
		*hash = k->hash;
		return k->key;
	}
	size_t n = cm_varint_put(h->kbuf, sizeof(h->kbuf), k->klen);
	if (k->klen)
		memcpy(h->kbuf + n, k->key, k->klen);
	if (k->nslen)
		memcpy(h->kbuf + n + k->klen, k->ns, k->nslen);
	*len = n + k->klen + k->nslen;
	*hash = ns_hash(k->hash, k->ns, k->nslen);
	return h->kbuf;
}

/* Splits a stored map key back into key and namespace. */
static inline void split_key(unsigned flags, const void *mk, size_t mlen, st_entry *e)
{
	if (!flags_ns(flags)) {
		e->key = mk;
		e->klen = mlen;
		e->ns = NULL;
		e->nslen = 0;
		return;
	}
	uint64_t kl = 0;
	size_t n = cm_varint_get(mk, mlen, &kl); /* we wrote it: well formed */
	e->key = (const uint8_t *)mk + n;
	e->klen = (size_t)kl;
	e->ns = (const uint8_t *)mk + n + kl;
	e->nslen = mlen - n - (size_t)kl;
}

/* The hash a stored entry was put with. */
static uint32_t stored_hash(unsigned flags, const void *mk, size_t ml)
{
	st_entry e;
	split_key(flags, mk, ml, &e);
	return ns_hash(kg_murmur3_32(e.key, e.klen, 0), e.ns, e.nslen);
}

/* Folds the changes made since the freezing cut into the frozen maps, which
 * become the live maps again. Idempotent, so a failure (out of memory)
 * leaves a correct state and the next call retries. */
static int merge(heap_backend *h)
{
	st_backend *b = &h->base;
	for (int i = 0; i < b->nstates; i++) {
		struct hb_state *s = &h->st[i];
		if (!s->frozen)
			continue;
		if (h->frozen_hidden) {
			st_heapmap_free(s->frozen);
			s->frozen = NULL;
			continue;
		}
		unsigned flags = b->states[i].flags;
		size_t cur = 0;
		const void *mk, *v, *fv;
		size_t ml, vl, fvl, slot;
		int kg;
		/* The changes were made after the cut: stamped now, they stay
		 * after it (a later stamp than their own only over-reports). */
		st_heapmap_set_gen(s->frozen, (uint8_t)b->epoch);
		while (st_heapmap_next(s->map, &cur, &mk, &ml, &v, &vl, &kg)) {
			uint32_t hash = stored_hash(flags, mk, ml);
			int hit = st_heapmap_find(s->frozen, mk, ml, hash, &slot, &fv, &fvl);
			if (vl == 0 && !(hit && fvl))
				continue; /* deleting what the frozen map lacks */
			if (vl == 0 && !h->incremental) {
				st_heapmap_del_at(s->frozen, slot); /* no cut asks */
				continue;
			}
			int rc = st_heapmap_put_at(s->frozen, slot, mk, ml, hash, kg, v, vl);
			if (rc)
				return st_fail(b, rc,
					       "state '%s': merging the changes made during a "
					       "snapshot: %s",
					       b->states[i].name, fl_strerror(rc));
			if (vl == 0)
				s->frozen_tombs++;
			else if (hit && fvl == 0)
				s->frozen_tombs--;
		}
		st_heapmap_free(s->map);
		s->map = s->frozen;
		s->tombs = s->frozen_tombs;
		s->frozen = NULL;
		s->frozen_tombs = 0;
	}
	h->frozen = 0;
	h->frozen_hidden = 0;
	return 0;
}

/* Every live map stamps what is written from now on with the epoch. */
static void stamp_live(heap_backend *h)
{
	for (int i = 0; i < h->base.nstates; i++)
		st_heapmap_set_gen(h->st[i].map, (uint8_t)h->base.epoch);
}

/* On the task thread before any access: merge once the freezing cut is
 * gone. The acquire pairs with hb_cut_free's release: the scan's reads of
 * the frozen maps come before our writes to them. */
static inline int sync_frozen(heap_backend *h)
{
	if (h->frozen && !atomic_load_explicit(&h->frozen_live, memory_order_acquire))
		return merge(h);
	return 0;
}

/* The frozen map to consult on a miss of state s, or NULL. */
static inline st_heapmap *frozen_of(const heap_backend *h, const struct hb_state *s)
{
	return h->frozen && !h->frozen_hidden ? s->frozen : NULL;
}

static int hb_add_state(st_backend *b, int id)
{
	heap_backend *h = (heap_backend *)b;
	if (st_heapmap_new(&h->st[id].map) != 0)
		return st_fail(b, FL_ENOMEM, "out of memory declaring state '%s'",
			       b->states[id].name);
	st_heapmap_set_gen(h->st[id].map, (uint8_t)b->epoch);
	h->st[id].tombs = 0;
	h->st[id].frozen = NULL;
	return 0;
}

static int hb_find(st_backend *b, const st_key *k, st_pos *pos, const void **val, size_t *vlen)
{
	if (!st_key_ok(b, k))
		return st_key_error(b, k);
	heap_backend *h = (heap_backend *)b;
	int rc;
	if (h->frozen && (rc = sync_frozen(h)) != 0)
		return rc;
	size_t ml;
	uint32_t hash;
	const void *mk = map_key(h, k, &ml, &hash);
	struct hb_state *s = &h->st[k->state];
	const void *v;
	size_t vl;
	pos->flags = 0;
	if (st_heapmap_find(s->map, mk, ml, hash, &pos->slot, &v, &vl)) {
		if (vl == 0) {
			pos->flags = HB_POS_TOMB;
			return 0;
		}
		pos->flags = HB_POS_LIVE;
		*val = v;
		*vlen = vl;
		return 1;
	}
	st_heapmap *fz = frozen_of(h, s);
	if (fz && st_heapmap_get(fz, mk, ml, hash, &v, &vl) && vl) {
		/* Unchanged since the cut: put_at copies it into the changes. */
		*val = v;
		*vlen = vl;
		return 1;
	}
	return 0;
}

static int hb_get(st_backend *b, const st_key *k, const void **val, size_t *vlen)
{
	st_pos pos;
	return hb_find(b, k, &pos, val, vlen);
}

static int store_error(st_backend *b, const st_key *k, int rc)
{
	return st_fail(b, rc, "state '%s': cannot store an entry of key group %d: %s",
		       b->states[k->state].name, k->key_group, fl_strerror(rc));
}

static int hb_put_at(st_backend *b, const st_key *k, st_pos *pos, const void *val, size_t vlen)
{
	if (vlen == 0 || vlen > ST_VALUE_MAX)
		return st_fail(b, vlen ? FL_ERANGE : FL_EINVAL,
			       "state '%s': value of %zu bytes (1..%u)", b->states[k->state].name,
			       vlen, ST_VALUE_MAX);
	heap_backend *h = (heap_backend *)b;
	size_t ml;
	uint32_t hash;
	const void *mk = map_key(h, k, &ml, &hash);
	struct hb_state *s = &h->st[k->state];
	int rc = st_heapmap_put_at(s->map, pos->slot, mk, ml, hash, k->key_group, val, vlen);
	if (rc)
		return store_error(b, k, rc);
	if (pos->flags & HB_POS_TOMB)
		s->tombs--;
	pos->flags = 0;
	return 0;
}

static void *hb_value_at(st_backend *b, const st_key *k, st_pos *pos, size_t *vlen)
{
	/* Only an entry of the live map: a value found in a frozen map
	 * belongs to the snapshot. */
	if (!(pos->flags & HB_POS_LIVE))
		return NULL;
	return st_heapmap_value_at(((heap_backend *)b)->st[k->state].map, pos->slot, vlen);
}

static int hb_put(st_backend *b, const st_key *k, const void *val, size_t vlen)
{
	st_pos pos;
	const void *v;
	size_t vl;
	int rc = hb_find(b, k, &pos, &v, &vl);
	if (rc < 0)
		return rc;
	return hb_put_at(b, k, &pos, val, vlen);
}

/* Rebuilds a state's map without its tombstones. On failure the old map
 * stays, which is still correct. Not while frozen: the tombstones of the
 * changes hide frozen entries. */
static int compact(heap_backend *h, int state)
{
	struct hb_state *s = &h->st[state];
	unsigned flags = h->base.states[state].flags;
	st_heapmap *nm;
	if (st_heapmap_new(&nm) != 0)
		return FL_ENOMEM;
	st_heapmap_set_gen(nm, (uint8_t)h->base.epoch);
	size_t cur = 0;
	const void *k, *v;
	size_t kl, vl;
	int kg;
	while (st_heapmap_next(s->map, &cur, &k, &kl, &v, &vl, &kg)) {
		if (vl == 0)
			continue;
		if (st_heapmap_put(nm, k, kl, stored_hash(flags, k, kl), kg, v, vl)) {
			st_heapmap_free(nm);
			return FL_ENOMEM;
		}
	}
	st_heapmap_free(s->map);
	s->map = nm;
	s->tombs = 0;
	/* The deletions are forgotten: no changes before now can be told. */
	h->base.changes_floor = h->base.epoch;
	return 0;
}

/* Removes k: 1 when it was there, 0 when absent, or an error. */
static int hb_take(st_backend *b, const st_key *k)
{
	st_pos pos;
	const void *v;
	size_t vl;
	int rc = hb_find(b, k, &pos, &v, &vl);
	if (rc <= 0)
		return rc; /* absent (or already a tombstone), or an error */
	heap_backend *h = (heap_backend *)b;
	struct hb_state *s = &h->st[k->state];
	if (!h->frozen && !h->incremental) {
		/* No cut will ask what changed: the slot is freed, no
		 * tombstone, and the map never needs compacting. */
		st_heapmap_del_at(s->map, pos.slot);
		return 1;
	}
	size_t ml;
	uint32_t hash;
	const void *mk = map_key(h, k, &ml, &hash);
	/* Replacing a value by a tombstone allocates nothing; inserting one
	 * (over an entry only the frozen map has) may grow the map. */
	rc = st_heapmap_put_at(s->map, pos.slot, mk, ml, hash, k->key_group, NULL, 0);
	if (rc)
		return store_error(b, k, rc);
	s->tombs++;
	if (!h->frozen && s->tombs >= HB_TOMB_MIN && s->tombs * 2 > st_heapmap_size(s->map))
		(void)compact(h, k->state); /* optional: a failure keeps tombstones */
	return 1;
}

static int hb_del(st_backend *b, const st_key *k)
{
	int rc = hb_take(b, k);
	return rc > 0 ? 0 : rc;
}

static void hb_prefetch(st_backend *b, const st_key *k)
{
	int state = k->state;
	if ((unsigned)state >= (unsigned)b->nstates)
		return;
	heap_backend *h = (heap_backend *)b;
	uint32_t hash = flags_ns(b->states[state].flags) ? ns_hash(k->hash, k->ns, k->nslen) : k->hash;
	st_heapmap_prefetch(h->st[state].map, hash);
	st_heapmap *fz = frozen_of(h, &h->st[state]);
	if (fz)
		st_heapmap_prefetch(fz, hash);
}

/* ------------------------------------------------------- walking entries */

/* A map to walk: entries of `state` in map, except those shadow holds
 * (live or tombstone). which tells the index which of the two maps of a
 * state it is. */
struct source {
	int state, which;
	unsigned flags;
	const st_heapmap *map, *shadow;
	/* Changes only: entries (tombstones too) stamped since+1 .. since+span
	 * (modulo 256). span 0: live entries, whatever their stamp. */
	uint8_t since;
	unsigned span;
};

static inline int wanted(const struct source *src, const st_heapmap *m, size_t cur, size_t vl)
{
	if (!src->span)
		return vl != 0;
	unsigned d = (uint8_t)(st_heapmap_gen_before(m, cur) - src->since);
	return d >= 1 && d <= src->span;
}

typedef void (*walk_fn)(void *arg, const struct source *src, size_t cur_before, int kg,
			const void *mk, size_t ml, const void *v, size_t vl);

/* Calls fn for every live entry of the sources in key groups
 * kg_first..kg_last, in map order. */
static void walk(const struct source *src, int nsrc, int kg_first, int kg_last, walk_fn fn,
		 void *arg)
{
	for (int i = 0; i < nsrc; i++) {
		size_t cur = 0, before = 0, ml, vl, svl;
		const void *mk, *v, *sv;
		int kg;
		while (st_heapmap_next(src[i].map, &cur, &mk, &ml, &v, &vl, &kg)) {
			if (kg >= kg_first && kg <= kg_last && wanted(&src[i], src[i].map, cur, vl) &&
			    !(src[i].shadow &&
			      st_heapmap_get((st_heapmap *)src[i].shadow, mk, ml,
					     stored_hash(src[i].flags, mk, ml), &sv, &svl)))
				fn(arg, &src[i], before, kg, mk, ml, v, vl);
			before = cur;
		}
	}
}

/* The sources of the backend's current contents (merged view). */
static int live_sources(heap_backend *h, struct source *src)
{
	int n = 0;
	for (int i = 0; i < h->base.nstates; i++) {
		unsigned flags = h->base.states[i].flags;
		src[n++] =
		    (struct source){.state = i, .which = 0, .flags = flags, .map = h->st[i].map};
		st_heapmap *fz = frozen_of(h, &h->st[i]);
		if (fz)
			src[n++] = (struct source){.state = i,
						   .which = 1,
						   .flags = flags,
						   .map = fz,
						   .shadow = h->st[i].map};
	}
	return n;
}

struct index_ctx {
	int kg_first;
	size_t *fill; /* count pass: at kg - first + 1; fill pass: next slot */
	uint64_t *idx;
};

static void count_one(void *arg, const struct source *src, size_t before, int kg, const void *mk,
		      size_t ml, const void *v, size_t vl)
{
	struct index_ctx *x = arg;
	x->fill[kg - x->kg_first + 1]++;
}

static void index_one(void *arg, const struct source *src, size_t before, int kg, const void *mk,
		      size_t ml, const void *v, size_t vl)
{
	struct index_ctx *x = arg;
	x->idx[x->fill[kg - x->kg_first]++] =
	    (uint64_t)src->state << 56 | (uint64_t)src->which << IDX_CUR_BITS | before;
}

/* The entries of the range, grouped by key group (a counting sort), as
 * state << 56 | which << 55 | cursor. *out (malloc'ed, NULL when *n is 0). */
static int index_range(const struct source *src, int nsrc, int kg_first, int kg_last,
		       uint64_t **out, size_t *n)
{
	size_t nkg = (size_t)(kg_last - kg_first + 1);
	struct index_ctx x = {.kg_first = kg_first};
	if (!(x.fill = calloc(nkg + 1, sizeof(*x.fill))))
		return FL_ENOMEM;
	walk(src, nsrc, kg_first, kg_last, count_one, &x);
	for (size_t g = 1; g <= nkg; g++)
		x.fill[g] += x.fill[g - 1];
	size_t total = x.fill[nkg];
	if (total && !(x.idx = malloc(total * sizeof(*x.idx)))) {
		free(x.fill);
		return FL_ENOMEM;
	}
	walk(src, nsrc, kg_first, kg_last, index_one, &x);
	free(x.fill);
	*out = x.idx;
	*n = total;
	return 0;
}

/* Passes the indexed entries to fn; src (a few per state) names the maps. */
static int emit_index(const uint64_t *idx, size_t n, const struct source *src, int nsrc,
		      const unsigned *flags, st_entry_fn fn, void *arg)
{
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		int s = (int)(idx[i] >> 56), which = (int)(idx[i] >> IDX_CUR_BITS) & 1;
		size_t cur = (size_t)(idx[i] & ((UINT64_C(1) << IDX_CUR_BITS) - 1));
		const st_heapmap *m = NULL;
		for (int j = 0; j < nsrc && !m; j++)
			if (src[j].state == s && src[j].which == which)
				m = src[j].map;
		st_entry e = {.state = s};
		const void *mk;
		size_t ml;
		(void)st_heapmap_next(m, &cur, &mk, &ml, &e.val, &e.vlen, &e.key_group);
		if (e.vlen == 0)
			e.val = NULL; /* a deletion (changes only) */
		split_key(flags[s], mk, ml, &e);
		rc = fn(arg, &e);
	}
	return rc;
}

/* index_range then emit_index; *nomem tells an allocation failure apart
 * from fn's return. */
static int index_and_emit(const struct source *src, int nsrc, const unsigned *flags, int kg_first,
			  int kg_last, st_entry_fn fn, void *arg, int *nomem)
{
	uint64_t *idx;
	size_t n;
	*nomem = 0;
	if (index_range(src, nsrc, kg_first, kg_last, &idx, &n) != 0) {
		*nomem = 1;
		return FL_ENOMEM;
	}
	int rc = emit_index(idx, n, src, nsrc, flags, fn, arg);
	free(idx);
	return rc;
}

static int hb_iterate(st_backend *b, int kg_first, int kg_last, st_entry_fn fn, void *arg)
{
	cm_err_clear(&b->err);
	if (kg_first < 0 || kg_last >= b->max_parallelism || kg_first > kg_last)
		return st_fail(b, FL_EINVAL, "key-group range %d..%d outside 0..%d", kg_first,
			       kg_last, b->max_parallelism - 1);
	heap_backend *h = (heap_backend *)b;
	int rc = sync_frozen(h);
	if (rc)
		return rc;
	struct source *src = malloc(sizeof(*src) * 2 * (size_t)(b->nstates ? b->nstates : 1));
	unsigned flags[ST_MAX_STATES];
	if (!src)
		return st_fail(b, FL_ENOMEM, "out of memory iterating key groups %d..%d", kg_first,
			       kg_last);
	for (int i = 0; i < b->nstates; i++)
		flags[i] = b->states[i].flags;
	int nomem;
	rc = index_and_emit(src, live_sources(h, src), flags, kg_first, kg_last, fn, arg, &nomem);
	free(src);
	if (nomem)
		return st_fail(b, FL_ENOMEM, "out of memory iterating key groups %d..%d", kg_first,
			       kg_last);
	return rc;
}

static int hb_flush(st_backend *b)
{
	return sync_frozen((heap_backend *)b);
}

/* --------------------------------------------------------------- cuts */

struct copy_ctx {
	size_t *off;
	uint8_t *buf;
	int pass; /* 1: size, 2: copy */
};

static void copy_one(void *arg, const struct source *src, size_t before, int kg, const void *mk,
		     size_t ml, const void *v, size_t vl)
{
	struct copy_ctx *x = arg;
	st_entry e;
	split_key(src->flags, mk, ml, &e);
	size_t hdr = 2 + cm_varint_len(e.klen) + cm_varint_len(e.nslen) + cm_varint_len(vl);
	if (x->pass == 1) {
		x->off[kg + 1] += hdr + e.klen + e.nslen + vl;
		return;
	}
	uint8_t *p = x->buf + x->off[kg];
	p[0] = (uint8_t)src->state;
	p[1] = (uint8_t)(src->state >> 8);
	size_t n = 2;
	n += cm_varint_put(p + n, CM_VARINT_MAX, e.klen);
	n += cm_varint_put(p + n, CM_VARINT_MAX, e.nslen);
	n += cm_varint_put(p + n, CM_VARINT_MAX, vl);
	memcpy(p + n, e.key, e.klen);
	n += e.klen;
	if (e.nslen)
		memcpy(p + n, e.ns, e.nslen);
	n += e.nslen;
	memcpy(p + n, v, vl);
	x->off[kg] += n + vl;
}

/* The compact copy of the merged view, grouped by key group: one pass
 * sizes each key group, a second copies each entry to its group's fill
 * point, which ends at the next group's start. */
static int copy_cut(heap_backend *h, struct hb_cut *hc)
{
	st_backend *b = &h->base;
	size_t ngroups = (size_t)b->max_parallelism;
	struct source *src = malloc(sizeof(*src) * 2 * (size_t)(b->nstates ? b->nstates : 1));
	struct copy_ctx x = {.off = calloc(ngroups + 1, sizeof(size_t)), .pass = 1};
	if (!src || !x.off)
		goto nomem;
	int nsrc = live_sources(h, src);
	walk(src, nsrc, 0, b->max_parallelism - 1, copy_one, &x);
	for (size_t g = 1; g <= ngroups; g++)
		x.off[g] += x.off[g - 1];
	size_t total = x.off[ngroups];
	if (!(x.buf = malloc(total ? total : 1)))
		goto nomem;
	x.pass = 2;
	walk(src, nsrc, 0, b->max_parallelism - 1, copy_one, &x);
	for (size_t g = ngroups; g > 0; g--)
		x.off[g] = x.off[g - 1];
	x.off[0] = 0;
	free(src);
	hc->buf = x.buf;
	hc->off = x.off;
	return 0;
nomem:
	free(src);
	free(x.off);
	return st_fail(b, FL_ENOMEM, "out of memory copying the heap state for a snapshot");
}

/* Freezes every state's map (see the top of the file). 0, or FL_ENOMEM
 * with nothing changed. */
static int freeze(heap_backend *h, struct hb_cut *hc)
{
	st_backend *b = &h->base;
	st_heapmap *fresh[ST_MAX_STATES];
	for (int i = 0; i < b->nstates; i++) {
		if (st_heapmap_new(&fresh[i]) != 0) {
			while (i-- > 0)
				st_heapmap_free(fresh[i]);
			return FL_ENOMEM;
		}
	}
	for (int i = 0; i < b->nstates; i++) {
		struct hb_state *s = &h->st[i];
		hc->maps[i] = s->frozen = s->map;
		s->frozen_tombs = s->tombs;
		s->map = fresh[i];
		s->tombs = 0;
	}
	hc->nmaps = b->nstates;
	hc->frozen = 1;
	h->frozen = 1;
	h->frozen_hidden = 0;
	atomic_store_explicit(&h->frozen_live, 1, memory_order_relaxed);
	return 0;
}

static int hb_cut(st_backend *b, st_cut *c)
{
	heap_backend *h = (heap_backend *)b;
	int rc = sync_frozen(h);
	if (rc)
		return rc;
	struct hb_cut *hc = calloc(1, sizeof(*hc));
	if (!hc)
		return st_fail(b, FL_ENOMEM, "out of memory cutting a snapshot");
	/* One frozen generation at a time; a cut while one lives copies. */
	if (h->frozen || freeze(h, hc) != 0) {
		if ((rc = copy_cut(h, hc)) != 0) {
			free(hc);
			return rc;
		}
		c->changes_unknown = true; /* the copy has no stamps */
	}
	c->impl = hc;
	b->epoch++;
	stamp_live(h);
	return 0;
}

static int hb_cut_scan(st_cut *c, int kg_first, int kg_last, st_entry_fn fn, void *arg)
{
	struct hb_cut *hc = c->impl;
	if (hc->frozen) {
		/* The frozen maps are immutable while the cut lives; the state
		 * table is the cut's copy: nothing of the live backend is read. */
		struct source src[ST_MAX_STATES];
		unsigned flags[ST_MAX_STATES];
		for (int i = 0; i < hc->nmaps; i++) {
			flags[i] = c->states[i].flags;
			src[i] = (struct source){
			    .state = i, .which = 1, .flags = flags[i], .map = hc->maps[i]};
		}
		int nomem;
		int rc = index_and_emit(src, hc->nmaps, flags, kg_first, kg_last, fn, arg, &nomem);
		if (nomem)
			return cm_err_set(&c->err, FL_ENOMEM,
					  "out of memory indexing key groups %d..%d of a snapshot",
					  kg_first, kg_last);
		return rc;
	}
	for (int g = kg_first; g <= kg_last; g++) {
		const uint8_t *p = hc->buf + hc->off[g], *end = hc->buf + hc->off[g + 1];
		while (p < end) {
			/* Written by copy_cut: lengths are sound. */
			uint64_t kl = 0, nl = 0, vl = 0;
			st_entry e = {.key_group = g, .state = p[0] | p[1] << 8};
			p += 2;
			p += cm_varint_get(p, (size_t)(end - p), &kl);
			p += cm_varint_get(p, (size_t)(end - p), &nl);
			p += cm_varint_get(p, (size_t)(end - p), &vl);
			e.key = p;
			e.klen = (size_t)kl;
			e.ns = p + kl;
			e.nslen = (size_t)nl;
			e.val = p + kl + nl;
			e.vlen = (size_t)vl;
			p += kl + nl + vl;
			int rc = fn(arg, &e);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int hb_cut_scan_changes(st_cut *c, uint64_t since, int kg_first, int kg_last,
			       st_entry_fn fn, void *arg)
{
	struct hb_cut *hc = c->impl;
	struct source src[ST_MAX_STATES];
	unsigned flags[ST_MAX_STATES];
	/* st_cut_changes_known checked the span and that hc is frozen maps. */
	for (int i = 0; i < hc->nmaps; i++) {
		flags[i] = c->states[i].flags;
		src[i] = (struct source){.state = i,
					 .which = 1,
					 .flags = flags[i],
					 .map = hc->maps[i],
					 .since = (uint8_t)since,
					 .span = (unsigned)(c->epoch - since)};
	}
	int nomem;
	int rc = index_and_emit(src, hc->nmaps, flags, kg_first, kg_last, fn, arg, &nomem);
	if (nomem)
		return cm_err_set(&c->err, FL_ENOMEM,
				  "out of memory indexing the changes of key groups %d..%d", kg_first,
				  kg_last);
	return rc;
}

static void hb_cut_free(st_cut *c)
{
	struct hb_cut *hc = c->impl;
	if (!hc)
		return;
	if (hc->frozen) {
		/* Release: our reads of the frozen maps come before the task
		 * thread's merge into them (sync_frozen's acquire). */
		heap_backend *h = (heap_backend *)c->b;
		atomic_store_explicit(&h->frozen_live, 0, memory_order_release);
	}
	free(hc->buf);
	free(hc->off);
	free(hc);
}

/* ---------------------------------------------------------------- rest */

static int hb_clear(st_backend *b)
{
	cm_err_clear(&b->err);
	heap_backend *h = (heap_backend *)b;
	int rc = sync_frozen(h);
	if (rc)
		return rc;
	for (int s = 0; s < b->nstates; s++) {
		st_heapmap *nm;
		if (st_heapmap_new(&nm) != 0)
			return st_fail(b, FL_ENOMEM, "out of memory clearing state '%s'",
				       b->states[s].name);
		st_heapmap_free(h->st[s].map);
		st_heapmap_set_gen(nm, (uint8_t)b->epoch);
		h->st[s].map = nm;
		h->st[s].tombs = 0;
	}
	b->changes_floor = b->epoch; /* the deletions are not recorded */
	/* The frozen maps belong to the live cut until it is freed. */
	if (h->frozen)
		h->frozen_hidden = 1;
	return 0;
}

static void hb_stats(st_backend *b, st_stats *out)
{
	heap_backend *h = (heap_backend *)b;
	memset(out, 0, sizeof(*out));
	out->memory_bytes = sizeof(*h);
	for (int i = 0; i < b->nstates; i++) {
		struct hb_state *s = &h->st[i];
		out->entries += st_heapmap_size(s->map) - s->tombs;
		out->memory_bytes += st_heapmap_memory(s->map);
		if (s->frozen) {
			out->memory_bytes += st_heapmap_memory(s->frozen);
			/* Keys changed since the cut count twice: an upper bound. */
			if (!h->frozen_hidden)
				out->entries += st_heapmap_size(s->frozen) - s->frozen_tombs;
		}
	}
}

static void hb_free(st_backend *b)
{
	heap_backend *h = (heap_backend *)b;
	for (int s = 0; s < b->nstates; s++) {
		st_heapmap_free(h->st[s].map);
		st_heapmap_free(h->st[s].frozen); /* every cut was freed */
	}
	free(h);
}

static const struct st_backend_ops heap_ops = {
    .type = "hashmap",
    .add_state = hb_add_state,
    .get = hb_get,
    .put = hb_put,
    .del = hb_del,
    .take = hb_take,
    .find = hb_find,
    .put_at = hb_put_at,
    .value_at = hb_value_at,
    .prefetch = hb_prefetch,
    .iterate = hb_iterate,
    .flush = hb_flush,
    .cut = hb_cut,
    .cut_scan = hb_cut_scan,
    .cut_scan_changes = hb_cut_scan_changes,
    .cut_free = hb_cut_free,
    .clear = hb_clear,
    .stats = hb_stats,
    .free = hb_free,
};

int st_heap_backend_new(const st_backend_config *cfg, st_backend **out, cm_err *err)
{
	if (!cfg || cfg->max_parallelism < 1 || cfg->max_parallelism > 32768)
		return cm_err_set(err, FL_EINVAL,
				  "state backend: max parallelism %d outside 1..32768",
				  cfg ? cfg->max_parallelism : 0);
	heap_backend *h = calloc(1, sizeof(*h));
	if (!h)
		return cm_err_set(err, FL_ENOMEM, "out of memory creating the heap state backend");
	h->base.ops = &heap_ops;
	h->base.max_parallelism = cfg->max_parallelism;
	h->base.key_max = ST_HEAP_KEY_MAX;
	h->base.epoch = 1;
	h->base.epoch_window = 200; /* one-byte stamps, with a margin */
	h->incremental = cfg->incremental != 0;
	atomic_init(&h->base.live_cuts, 0);
	atomic_init(&h->frozen_live, 0);
	*out = &h->base;
	return 0;
}
