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
 * st_heapmap has no delete: a deleted entry stays as a tombstone, a value of
 * length 0 (values are never empty, backend.h). Once tombstones outnumber
 * live entries of a state, its map is rebuilt without them.
 *
 * The snapshot cut is a compact copy: every live entry encoded into one
 * buffer, grouped by key group (a counting sort: one pass sizes each key
 * group, a second copies). The cut then owns nothing of the live maps, so
 * the scan may run anywhere while the task keeps updating. Its cost is a
 * pass over the state on the task thread (see bench/bench_state.c).
 */
#include "state/backend.h"

#include <stdlib.h>
#include <string.h>

#include "common/varint.h"
#include "state/heapmap.h"
#include "types/keygroup.h"

#define HB_TOMB_MIN 4096 /* fewer tombstones than this are never compacted */

struct hb_state {
	st_heapmap *map;
	size_t tombs; /* entries whose value is a tombstone */
};

typedef struct heap_backend {
	st_backend base; /* first: the st_backend pointer is this */
	struct hb_state st[ST_MAX_STATES];
	uint8_t kbuf[ST_KEY_MAX + CM_VARINT_MAX];
} heap_backend;

/* A cut: entries of key group g are buf[off[g] .. off[g + 1]), each
 * u16 state (LE), varint klen, varint nslen, varint vlen, key, ns, val. */
struct hb_cut {
	uint8_t *buf;
	size_t *off; /* max_parallelism + 1 offsets */
};

static inline int is_ns(const st_backend *b, int state)
{
	return (b->states[state].flags & ST_STATE_NAMESPACED) != 0;
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
	if (!is_ns(&h->base, k->state)) {
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
static inline void split_key(const st_backend *b, int state, const void *mk, size_t mlen,
			     st_entry *e)
{
	if (!is_ns(b, state)) {
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

static int hb_add_state(st_backend *b, int id)
{
	heap_backend *h = (heap_backend *)b;
	if (st_heapmap_new(&h->st[id].map) != 0)
		return st_fail(b, FL_ENOMEM, "out of memory declaring state '%s'",
			       b->states[id].name);
	h->st[id].tombs = 0;
	return 0;
}

static int hb_get(st_backend *b, const st_key *k, const void **val, size_t *vlen)
{
	if (!st_key_ok(b, k))
		return st_key_error(b, k);
	heap_backend *h = (heap_backend *)b;
	size_t ml;
	uint32_t hash;
	const void *mk = map_key(h, k, &ml, &hash);
	const void *v;
	size_t vl;
	if (!st_heapmap_get(h->st[k->state].map, mk, ml, hash, &v, &vl) || vl == 0)
		return 0;
	*val = v;
	*vlen = vl;
	return 1;
}

static int hb_find(st_backend *b, const st_key *k, st_pos *pos, const void **val, size_t *vlen)
{
	if (!st_key_ok(b, k))
		return st_key_error(b, k);
	heap_backend *h = (heap_backend *)b;
	size_t ml;
	uint32_t hash;
	const void *mk = map_key(h, k, &ml, &hash);
	const void *v;
	size_t vl;
	pos->flags = 0;
	if (!st_heapmap_find(h->st[k->state].map, mk, ml, hash, &pos->slot, &v, &vl))
		return 0;
	if (vl == 0) {
		pos->flags = 1; /* a tombstone: put_at revives it */
		return 0;
	}
	*val = v;
	*vlen = vl;
	return 1;
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
	if (pos->flags & 1) {
		s->tombs--;
		pos->flags = 0;
	}
	return 0;
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

/* The hash a stored entry was put with. */
static uint32_t stored_hash(const st_backend *b, int state, const void *mk, size_t ml)
{
	st_entry e;
	split_key(b, state, mk, ml, &e);
	return ns_hash(kg_murmur3_32(e.key, e.klen, 0), e.ns, e.nslen);
}

/* Rebuilds a state's map without its tombstones. On failure the old map
 * stays, which is still correct. */
static int compact(heap_backend *h, int state)
{
	struct hb_state *s = &h->st[state];
	st_heapmap *nm;
	if (st_heapmap_new(&nm) != 0)
		return FL_ENOMEM;
	size_t cur = 0;
	const void *k, *v;
	size_t kl, vl;
	int kg;
	while (st_heapmap_next(s->map, &cur, &k, &kl, &v, &vl, &kg)) {
		if (vl == 0)
			continue;
		if (st_heapmap_put(nm, k, kl, stored_hash(&h->base, state, k, kl), kg, v, vl)) {
			st_heapmap_free(nm);
			return FL_ENOMEM;
		}
	}
	st_heapmap_free(s->map);
	s->map = nm;
	s->tombs = 0;
	return 0;
}

static int hb_del(st_backend *b, const st_key *k)
{
	st_pos pos;
	const void *v;
	size_t vl;
	int rc = hb_find(b, k, &pos, &v, &vl);
	if (rc <= 0)
		return rc; /* absent (or already a tombstone), or an error */
	heap_backend *h = (heap_backend *)b;
	size_t ml;
	uint32_t hash;
	const void *mk = map_key(h, k, &ml, &hash);
	struct hb_state *s = &h->st[k->state];
	/* Shrinking a value to nothing allocates nothing: cannot fail. */
	rc = st_heapmap_put_at(s->map, pos.slot, mk, ml, hash, k->key_group, NULL, 0);
	if (rc)
		return store_error(b, k, rc);
	s->tombs++;
	if (s->tombs >= HB_TOMB_MIN && s->tombs * 2 > st_heapmap_size(s->map))
		(void)compact(h, k->state); /* optional: a failure keeps tombstones */
	return 0;
}

static void hb_prefetch(st_backend *b, int state, uint32_t hash)
{
	if ((unsigned)state < (unsigned)b->nstates)
		st_heapmap_prefetch(((heap_backend *)b)->st[state].map, hash);
}

/* Entries of the range, as (state << 48 | map cursor) grouped by key group:
 * a counting sort. *out (malloc'ed, may be NULL when n is 0) holds *n. */
static int index_range(heap_backend *h, int kg_first, int kg_last, uint64_t **out, size_t *n)
{
	st_backend *b = &h->base;
	size_t nkg = (size_t)(kg_last - kg_first + 1);
	size_t *fill = calloc(nkg + 1, sizeof(*fill));
	if (!fill)
		return FL_ENOMEM;
	const void *k, *v;
	size_t kl, vl, total = 0;
	int kg;
	for (int s = 0; s < b->nstates; s++) {
		size_t cur = 0;
		while (st_heapmap_next(h->st[s].map, &cur, &k, &kl, &v, &vl, &kg))
			if (vl && kg >= kg_first && kg <= kg_last) {
				fill[kg - kg_first + 1]++;
				total++;
			}
	}
	for (size_t g = 1; g <= nkg; g++)
		fill[g] += fill[g - 1];
	uint64_t *idx = total ? malloc(total * sizeof(*idx)) : NULL;
	if (total && !idx) {
		free(fill);
		return FL_ENOMEM;
	}
	for (int s = 0; s < b->nstates; s++) {
		size_t cur = 0, before = 0;
		while (st_heapmap_next(h->st[s].map, &cur, &k, &kl, &v, &vl, &kg)) {
			if (vl && kg >= kg_first && kg <= kg_last)
				idx[fill[kg - kg_first]++] = (uint64_t)s << 48 | before;
			before = cur;
		}
	}
	free(fill);
	*out = idx;
	*n = total;
	return 0;
}

static int hb_iterate(st_backend *b, int kg_first, int kg_last, st_entry_fn fn, void *arg)
{
	cm_err_clear(&b->err);
	if (kg_first < 0 || kg_last >= b->max_parallelism || kg_first > kg_last)
		return st_fail(b, FL_EINVAL, "key-group range %d..%d outside 0..%d", kg_first,
			       kg_last, b->max_parallelism - 1);
	heap_backend *h = (heap_backend *)b;
	uint64_t *idx;
	size_t n;
	if (index_range(h, kg_first, kg_last, &idx, &n) != 0)
		return st_fail(b, FL_ENOMEM, "out of memory iterating key groups %d..%d", kg_first,
			       kg_last);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		int s = (int)(idx[i] >> 48);
		size_t cur = (size_t)(idx[i] & ((UINT64_C(1) << 48) - 1));
		st_entry e = {.state = s};
		const void *mk;
		size_t ml;
		(void)st_heapmap_next(h->st[s].map, &cur, &mk, &ml, &e.val, &e.vlen, &e.key_group);
		split_key(b, s, mk, ml, &e);
		rc = fn(arg, &e);
	}
	free(idx);
	return rc;
}

static int hb_flush(st_backend *b)
{
	return 0;
}

static inline size_t rec_size(size_t ml_key, size_t nslen, size_t vlen, size_t klen)
{
	return 2 + cm_varint_len(klen) + cm_varint_len(nslen) + cm_varint_len(vlen) + ml_key;
}

static int hb_cut(st_backend *b, st_cut *c)
{
	heap_backend *h = (heap_backend *)b;
	size_t ngroups = (size_t)b->max_parallelism;
	struct hb_cut *hc = calloc(1, sizeof(*hc));
	size_t *off = calloc(ngroups + 1, sizeof(*off));
	if (!hc || !off)
		goto nomem;
	const void *mk, *v;
	size_t ml, vl;
	int kg;
	/* Pass 1: bytes per key group, counted at off[kg + 1]. */
	for (int s = 0; s < b->nstates; s++) {
		size_t cur = 0;
		while (st_heapmap_next(h->st[s].map, &cur, &mk, &ml, &v, &vl, &kg)) {
			if (!vl)
				continue;
			st_entry e;
			split_key(b, s, mk, ml, &e);
			off[kg + 1] += rec_size(e.klen + e.nslen + vl, e.nslen, vl, e.klen);
		}
	}
	for (size_t g = 1; g <= ngroups; g++)
		off[g] += off[g - 1];
	size_t total = off[ngroups];
	hc->buf = malloc(total ? total : 1);
	if (!hc->buf)
		goto nomem;
	/* Pass 2: copy each entry to its key group's fill point, off[kg],
	 * which ends at the next group's start; then shift back. */
	for (int s = 0; s < b->nstates; s++) {
		size_t cur = 0;
		while (st_heapmap_next(h->st[s].map, &cur, &mk, &ml, &v, &vl, &kg)) {
			if (!vl)
				continue;
			st_entry e;
			split_key(b, s, mk, ml, &e);
			uint8_t *p = hc->buf + off[kg];
			p[0] = (uint8_t)s;
			p[1] = (uint8_t)(s >> 8);
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
			off[kg] += n + vl;
		}
	}
	for (size_t g = ngroups; g > 0; g--)
		off[g] = off[g - 1];
	off[0] = 0;
	hc->off = off;
	c->impl = hc;
	return 0;
nomem:
	if (hc)
		free(hc->buf);
	free(hc);
	free(off);
	return st_fail(b, FL_ENOMEM, "out of memory copying the heap state for a snapshot");
}

static int hb_cut_scan(st_cut *c, int kg_first, int kg_last, st_entry_fn fn, void *arg)
{
	struct hb_cut *hc = c->impl;
	for (int g = kg_first; g <= kg_last; g++) {
		const uint8_t *p = hc->buf + hc->off[g], *end = hc->buf + hc->off[g + 1];
		while (p < end) {
			/* The cut was written by hb_cut: lengths are sound. */
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

static void hb_cut_free(st_cut *c)
{
	struct hb_cut *hc = c->impl;
	if (!hc)
		return;
	free(hc->buf);
	free(hc->off);
	free(hc);
}

static int hb_clear(st_backend *b)
{
	heap_backend *h = (heap_backend *)b;
	for (int s = 0; s < b->nstates; s++) {
		st_heapmap *nm;
		if (st_heapmap_new(&nm) != 0)
			return st_fail(b, FL_ENOMEM, "out of memory clearing state '%s'",
				       b->states[s].name);
		st_heapmap_free(h->st[s].map);
		h->st[s].map = nm;
		h->st[s].tombs = 0;
	}
	return 0;
}

static void hb_stats(st_backend *b, st_stats *out)
{
	heap_backend *h = (heap_backend *)b;
	memset(out, 0, sizeof(*out));
	out->memory_bytes = sizeof(*h);
	for (int s = 0; s < b->nstates; s++) {
		out->entries += st_heapmap_size(h->st[s].map) - h->st[s].tombs;
		out->memory_bytes += st_heapmap_memory(h->st[s].map);
	}
}

static void hb_free(st_backend *b)
{
	heap_backend *h = (heap_backend *)b;
	for (int s = 0; s < b->nstates; s++)
		st_heapmap_free(h->st[s].map);
	free(h);
}

static const struct st_backend_ops heap_ops = {
    .type = "hashmap",
    .add_state = hb_add_state,
    .get = hb_get,
    .put = hb_put,
    .del = hb_del,
    .find = hb_find,
    .put_at = hb_put_at,
    .prefetch = hb_prefetch,
    .iterate = hb_iterate,
    .flush = hb_flush,
    .cut = hb_cut,
    .cut_scan = hb_cut_scan,
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
	atomic_init(&h->base.live_cuts, 0);
	*out = &h->base;
	return 0;
}
