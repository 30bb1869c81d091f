/*
 * lmdb_backend.c — the LMDB keyed-state backend (state.backend.type: lmdb).
 *
 * One LMDB environment per backend (one per task: LMDB allows one writer),
 * in a directory of its own under the configured root, removed on free.
 * Working state, not a durable copy (snapshots are): MDB_NOSYNC and
 * MDB_NOMETASYNC, so nothing is ever fsync'ed; MDB_NOTLS so that a
 * snapshot's read transaction, begun on the task thread, can be scanned and
 * ended on another thread. Without MDB_WRITEMAP: bench_state measured the
 * read-only map with write(2) at commit equal or up to 10% faster than
 * writing through a writable map, and a read-only map cannot be corrupted
 * by a stray pointer.
 *
 * LMDB key: big-endian u16 key group, big-endian u16 state id, varint key
 * length, key, namespace. All entries of a key-group range are one cursor
 * range, in key-group order (Flink's KeyGroupRange), with every state of a
 * key group together.
 *
 * Write cache: updates never go to LMDB one by one (a write transaction
 * costs microseconds). They land in an st_heapmap keyed by the LMDB key,
 * tombstones (deletes) as values of length 0, and the whole cache is
 * written in one transaction, keys sorted so the B-tree is walked once,
 * when its memory passes the budget and before iterate and snapshots. A hot
 * key is read from and written to the cache only; reads that miss the
 * cache go to a read transaction kept open between flushes.
 *
 * LMDB value: a little-endian u32 epoch, the backend's epoch when the
 * entry was flushed (backend.h, incremental snapshots), then the value.
 * With `incremental` a delete leaves a deletion record, the epoch alone, so
 * that the changes since an earlier cut include it; deletion records are
 * compacted away when they outnumber a quarter of the entries (the changes
 * before that are then unknown). Without it a delete removes the key.
 *
 * A full map is never an error: the transaction is aborted, the map is
 * doubled and the flush retried. LMDB can only be remapped while no
 * transaction is open in the process, which a snapshot's read transaction
 * may be (a cut not yet freed): then the entries wait in the cache, over
 * budget, until the cut is freed. To make that rare, the map is doubled
 * ahead of time whenever a flush leaves it more than half used.
 */
#include "state/backend.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/dirlock.h"
#include "common/varint.h"
#include "state/heapmap.h"
#include "types/keygroup.h"

#define LB_DEFAULT_CACHE (16u * 1024u * 1024u)
#define LB_MIN_CACHE (64u * 1024u)
#define LB_DEFAULT_MAP ((size_t)256 * 1024 * 1024)
#define LB_MIN_MAP ((size_t)64 * 1024)
#define LB_KEY_PREFIX 4 /* key group, state id */
#define LB_KEY_BUF (LB_KEY_PREFIX + CM_VARINT_MAX + ST_KEY_MAX)
#define LB_EPOCH 4	       /* bytes of the epoch before each value */
#define LB_DEL_COMPACT_MIN 4096 /* fewer deletion records are never compacted */
/* st_pos flags: the LMDB key's length (left in kbuf by st_find), and
 * whether st_find's hit was in the write cache. */
#define LB_POS_KLEN 0xffffu
#define LB_POS_CACHED 0x10000u

_Static_assert(LB_KEY_PREFIX + 2 + ST_KEY_MAX <= 511, "LMDB's default key size limit");

/* A cache entry during a flush. */
struct lb_ref {
	uint64_t prefix; /* the key's first 8 bytes, big-endian, zero-padded */
	const uint8_t *key;
	const void *val;
	uint32_t klen;
	uint32_t vlen; /* 0: tombstone */
};

typedef struct lmdb_backend {
	st_backend base; /* first: the st_backend pointer is this */
	MDB_env *env;
	MDB_dbi dbi;
	MDB_txn *rtxn; /* the task thread's read transaction, or NULL */
	int rtxn_live; /* rtxn begun or renewed (else reset) */
	char *dir;     /* our own directory, removed on free */
	int lock_fd;   /* its claim (common/dirlock.h), -1 none */
	size_t map_size;
	size_t cache_budget;
	st_heapmap *cache;
	struct lb_ref *refs;
	size_t refs_cap;
	uint64_t flushes, grows;
	int deferred; /* the last flush found the map full under a live cut */
	int incremental; /* deletes leave deletion records */
	size_t del_records; /* deletion records written since the last compaction */
	/* Held by write transactions and by the end of a cut's read
	 * transaction (which may be on another thread). */
	pthread_mutex_t cut_mu;
	uint8_t kbuf[LB_KEY_BUF];
} lmdb_backend;

static inline uint32_t cache_hash(const st_key *k)
{
	uint32_t h = k->hash ^ ((uint32_t)k->state * 0x9E3779B1u);
	if (k->nslen)
		h ^= kg_murmur3_32(k->ns, k->nslen, 0x5bd1e995u) * 0x85EBCA77u;
	return h;
}

/* Builds the LMDB key of k (checked) in kbuf; returns its length. */
static inline size_t lmdb_key(lmdb_backend *l, const st_key *k)
{
	uint8_t *p = l->kbuf;
	p[0] = (uint8_t)(k->key_group >> 8);
	p[1] = (uint8_t)k->key_group;
	p[2] = (uint8_t)(k->state >> 8);
	p[3] = (uint8_t)k->state;
	size_t n = LB_KEY_PREFIX + cm_varint_put(p + LB_KEY_PREFIX, CM_VARINT_MAX, k->klen);
	if (k->klen)
		memcpy(p + n, k->key, k->klen);
	if (k->nslen)
		memcpy(p + n + k->klen, k->ns, k->nslen);
	return n + k->klen + k->nslen;
}

/* Parses an LMDB key into e (state, key group, key, ns). 0 or FL_EPROTO. */
static int parse_key(const uint8_t *p, size_t n, st_entry *e)
{
	uint64_t kl;
	size_t vn;
	if (n < LB_KEY_PREFIX + 1 ||
	    !(vn = cm_varint_get(p + LB_KEY_PREFIX, n - LB_KEY_PREFIX, &kl)) ||
	    kl > n - LB_KEY_PREFIX - vn)
		return FL_EPROTO;
	e->key_group = p[0] << 8 | p[1];
	e->state = p[2] << 8 | p[3];
	e->key = p + LB_KEY_PREFIX + vn;
	e->klen = (size_t)kl;
	e->ns = p + LB_KEY_PREFIX + vn + kl;
	e->nslen = n - LB_KEY_PREFIX - vn - (size_t)kl;
	return 0;
}

static int lmdb_error(st_backend *b, int rc, const char *what)
{
	lmdb_backend *l = (lmdb_backend *)b;
	return st_fail(b, rc == ENOMEM ? FL_ENOMEM : FL_EIO, "LMDB state in %s: %s: %s", l->dir,
		       what, mdb_strerror(rc));
}

static inline uint32_t get_u32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int ensure_rtxn(lmdb_backend *l)
{
	if (l->rtxn_live)
		return 0;
	int rc =
	    l->rtxn ? mdb_txn_renew(l->rtxn) : mdb_txn_begin(l->env, NULL, MDB_RDONLY, &l->rtxn);
	if (rc) {
		if (l->rtxn) {
			mdb_txn_abort(l->rtxn);
			l->rtxn = NULL;
		}
		return lmdb_error(&l->base, rc, "beginning a read transaction");
	}
	l->rtxn_live = 1;
	return 0;
}

static void reset_rtxn(lmdb_backend *l)
{
	if (l->rtxn_live) {
		mdb_txn_reset(l->rtxn);
		l->rtxn_live = 0;
	}
}

/* Looks the LMDB key in kbuf[0..n) up in the committed data. 1, 0, or an
 * error. */
static int db_get(lmdb_backend *l, size_t n, const void **val, size_t *vlen)
{
	int rc = ensure_rtxn(l);
	if (rc)
		return rc;
	MDB_val k = {.mv_size = n, .mv_data = l->kbuf}, d;
	rc = mdb_get(l->rtxn, l->dbi, &k, &d);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return lmdb_error(&l->base, rc, "reading an entry");
	if (d.mv_size < LB_EPOCH)
		return st_fail(&l->base, FL_EPROTO, "LMDB state in %s: a value of %zu bytes",
			       l->dir, d.mv_size);
	if (d.mv_size == LB_EPOCH)
		return 0; /* a deletion record */
	*val = (const uint8_t *)d.mv_data + LB_EPOCH;
	*vlen = d.mv_size - LB_EPOCH;
	return 1;
}

static int lb_add_state(st_backend *b, int id)
{
	return 0;
}

static int lb_get(st_backend *b, const st_key *k, const void **val, size_t *vlen)
{
	if (!st_key_ok(b, k))
		return st_key_error(b, k);
	lmdb_backend *l = (lmdb_backend *)b;
	size_t n = lmdb_key(l, k);
	const void *v;
	size_t vl;
	if (st_heapmap_get(l->cache, l->kbuf, n, cache_hash(k), &v, &vl)) {
		if (vl == 0)
			return 0; /* deleted since the last flush */
		*val = v;
		*vlen = vl;
		return 1;
	}
	return db_get(l, n, val, vlen);
}

static int lb_find(st_backend *b, const st_key *k, st_pos *pos, const void **val, size_t *vlen)
{
	if (!st_key_ok(b, k))
		return st_key_error(b, k);
	lmdb_backend *l = (lmdb_backend *)b;
	size_t n = lmdb_key(l, k);
	const void *v;
	size_t vl;
	pos->flags = (unsigned)n; /* for lb_put_at */
	if (st_heapmap_find(l->cache, l->kbuf, n, cache_hash(k), &pos->slot, &v, &vl)) {
		if (vl == 0)
			return 0;
		pos->flags |= LB_POS_CACHED;
		*val = v;
		*vlen = vl;
		return 1;
	}
	return db_get(l, n, val, vlen);
}

static int lb_flush_impl(lmdb_backend *l);

static int cuts_live(lmdb_backend *l)
{
	return atomic_load_explicit(&l->base.live_cuts, memory_order_acquire) > 0;
}

/* Stores val for k, whose LMDB key is in kbuf[0..n), at the cache slot. */
static int cache_store(lmdb_backend *l, const st_key *k, size_t n, size_t slot, const void *val,
		       size_t vlen)
{
	int rc =
	    st_heapmap_put_at(l->cache, slot, l->kbuf, n, cache_hash(k), k->key_group, val, vlen);
	if (rc)
		return st_fail(&l->base, rc,
			       "state '%s': cannot cache an entry of key group %d: %s",
			       l->base.states[k->state].name, k->key_group, fl_strerror(rc));
	/* Over budget: flush, unless the last attempt found the map full
	 * under a cut that is still live (each retry would fail the same). */
	if (st_heapmap_memory(l->cache) > l->cache_budget && !(l->deferred && cuts_live(l)))
		return lb_flush_impl(l);
	return 0;
}

static int check_value(st_backend *b, const st_key *k, size_t vlen)
{
	if (vlen && vlen <= ST_VALUE_MAX)
		return 0;
	return st_fail(b, vlen ? FL_ERANGE : FL_EINVAL, "state '%s': value of %zu bytes (1..%u)",
		       b->states[k->state].name, vlen, ST_VALUE_MAX);
}

static int lb_put_at(st_backend *b, const st_key *k, st_pos *pos, const void *val, size_t vlen)
{
	int rc = check_value(b, k, vlen);
	if (rc)
		return rc;
	lmdb_backend *l = (lmdb_backend *)b;
	/* st_find left k's LMDB key in kbuf and its length in flags (no call
	 * may come between, backend.h). */
	size_t n = pos->flags & LB_POS_KLEN ? pos->flags & LB_POS_KLEN : lmdb_key(l, k);
	return cache_store(l, k, n, pos->slot, val, vlen);
}

static void *lb_value_at(st_backend *b, const st_key *k, st_pos *pos, size_t *vlen)
{
	/* In the cache, the entry is already dirty: changing it in place is
	 * the update. A value read from LMDB must go through the cache. */
	if (!(pos->flags & LB_POS_CACHED))
		return NULL;
	return st_heapmap_value_at(((lmdb_backend *)b)->cache, pos->slot, vlen);
}

/* Blind write into the cache: no LMDB read. */
static int cache_write(st_backend *b, const st_key *k, const void *val, size_t vlen)
{
	if (!st_key_ok(b, k))
		return st_key_error(b, k);
	lmdb_backend *l = (lmdb_backend *)b;
	size_t n = lmdb_key(l, k), slot;
	const void *v;
	size_t vl;
	(void)st_heapmap_find(l->cache, l->kbuf, n, cache_hash(k), &slot, &v, &vl);
	return cache_store(l, k, n, slot, val, vlen);
}

static int lb_put(st_backend *b, const st_key *k, const void *val, size_t vlen)
{
	if ((unsigned)k->state < (unsigned)b->nstates) {
		int rc = check_value(b, k, vlen);
		if (rc)
			return rc;
	}
	return cache_write(b, k, val, vlen);
}

static int lb_del(st_backend *b, const st_key *k)
{
	return cache_write(b, k, NULL, 0); /* a tombstone */
}

static void lb_prefetch(st_backend *b, const st_key *k)
{
	/* The write cache's slot; LMDB pages are not prefetched. */
	st_heapmap_prefetch(((lmdb_backend *)b)->cache, cache_hash(k));
}

static int ref_cmp(const void *a, const void *b)
{
	/* LMDB's order (memcmp, then shorter first), with the first 8 bytes
	 * (key group, state, length, key start) compared as one integer:
	 * zero padding orders a shorter key first, as memcmp does. */
	const struct lb_ref *x = a, *y = b;
	if (x->prefix != y->prefix)
		return x->prefix < y->prefix ? -1 : 1;
	if (x->klen > 8 && y->klen > 8) {
		uint32_t n = (x->klen < y->klen ? x->klen : y->klen) - 8;
		int c = memcmp(x->key + 8, y->key + 8, n);
		if (c)
			return c;
	}
	return (x->klen > y->klen) - (x->klen < y->klen);
}

static int grow_map(lmdb_backend *l)
{
	/* No transaction of ours may be open: the map is unmapped. */
	if (l->rtxn) {
		mdb_txn_abort(l->rtxn);
		l->rtxn = NULL;
		l->rtxn_live = 0;
	}
	size_t nsize = l->map_size * 2;
	int rc = mdb_env_set_mapsize(l->env, nsize);
	if (rc)
		return lmdb_error(&l->base, rc, "enlarging the map");
	l->map_size = nsize;
	l->grows++;
	return 0;
}

/* Writes refs[0..n) in one transaction, doubling the map while it is full.
 * Returns 0, 1 when the map is full and a live cut keeps it from growing
 * (nothing written), or an error. Called with cut_mu held. */
static int commit_refs(lmdb_backend *l, size_t n)
{
	uint8_t stamp[LB_EPOCH];
	uint32_t e32 = (uint32_t)l->base.epoch;
	for (int i = 0; i < LB_EPOCH; i++)
		stamp[i] = (uint8_t)(e32 >> (8 * i));
	for (;;) {
		size_t dels = 0;
		MDB_txn *w;
		int rc = mdb_txn_begin(l->env, NULL, 0, &w);
		if (rc)
			return lmdb_error(&l->base, rc, "beginning a write transaction");
		/* One cursor for all: with sorted keys, LMDB finds most keys
		 * on the leaf page it is already on, without a descent. */
		MDB_cursor *cur;
		if ((rc = mdb_cursor_open(w, l->dbi, &cur)) != 0) {
			mdb_txn_abort(w);
			return lmdb_error(&l->base, rc, "opening a cursor");
		}
		for (size_t i = 0; i < n && rc == 0; i++) {
			MDB_val mk = {.mv_size = l->refs[i].klen,
				      .mv_data = (void *)l->refs[i].key};
			MDB_val mv = {.mv_size = LB_EPOCH + l->refs[i].vlen};
			if (l->refs[i].vlen) {
				/* Reserved, then filled: the epoch and the value
				 * in place, no staging copy. */
				if ((rc = mdb_cursor_put(cur, &mk, &mv, MDB_RESERVE)) == 0) {
					memcpy(mv.mv_data, stamp, LB_EPOCH);
					memcpy((uint8_t *)mv.mv_data + LB_EPOCH, l->refs[i].val,
					       l->refs[i].vlen);
				}
			} else if ((rc = mdb_cursor_get(cur, &mk, &mv, MDB_SET)) == 0) {
				if (!l->incremental) {
					rc = mdb_cursor_del(cur, 0);
				} else if (mv.mv_size != LB_EPOCH) {
					MDB_val dv = {.mv_size = LB_EPOCH, .mv_data = stamp};
					rc = mdb_cursor_put(cur, &mk, &dv, MDB_CURRENT);
					dels++;
				}
			} else if (rc == MDB_NOTFOUND) {
				rc = 0;
			}
		}
		mdb_cursor_close(cur);
		if (rc == 0)
			rc = mdb_txn_commit(w); /* frees w, also when it fails */
		else
			mdb_txn_abort(w);
		if (rc == 0) {
			l->del_records += dels;
			return 0;
		}
		if (rc != MDB_MAP_FULL)
			return lmdb_error(&l->base, rc, "writing cached state");
		if (cuts_live(l))
			return 1;
		if ((rc = grow_map(l)) != 0)
			return rc;
	}
}

/* Removes every deletion record once they are many (a quarter of the
 * entries): one write transaction walking the whole database. The changes
 * before now are then unknown (the next incremental snapshot is whole). */
static int compact_deletions(lmdb_backend *l)
{
	MDB_stat st;
	if (mdb_env_stat(l->env, &st) == 0 && l->del_records * 4 < st.ms_entries)
		return 0;
	MDB_txn *w = NULL;
	MDB_cursor *cur = NULL;
	pthread_mutex_lock(&l->cut_mu);
	int rc = mdb_txn_begin(l->env, NULL, 0, &w);
	if (rc == 0)
		rc = mdb_cursor_open(w, l->dbi, &cur);
	MDB_val k, d;
	int g = rc ? rc : mdb_cursor_get(cur, &k, &d, MDB_FIRST);
	while (g == 0) {
		/* After a delete the cursor is on the next entry, which
		 * MDB_NEXT then returns (LMDB's C_DEL). */
		if (d.mv_size == LB_EPOCH && (rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		g = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
	}
	if (rc == 0 && g != MDB_NOTFOUND)
		rc = g;
	if (cur)
		mdb_cursor_close(cur);
	if (w && rc == 0)
		rc = mdb_txn_commit(w); /* frees w, also when it fails */
	else if (w)
		mdb_txn_abort(w);
	pthread_mutex_unlock(&l->cut_mu);
	if (rc == MDB_MAP_FULL)
		return 0; /* deletes need pages too: tried again at the next flush */
	if (rc)
		return lmdb_error(&l->base, rc, "compacting deletion records");
	l->del_records = 0;
	l->base.changes_floor = l->base.epoch;
	return 0;
}

/* Writes the cache in one transaction and empties it. Returns 0 also when
 * the map is full and cannot grow because a cut is live: the cache then
 * keeps its entries. */
static int lb_flush_impl(lmdb_backend *l)
{
	size_t n = st_heapmap_size(l->cache);
	if (n == 0)
		return 0;
	if (n > l->refs_cap) {
		size_t cap = n + n / 2;
		struct lb_ref *nr = realloc(l->refs, cap * sizeof(*nr));
		if (!nr)
			return st_fail(&l->base, FL_ENOMEM,
				       "out of memory flushing %zu cached state entries", n);
		l->refs = nr;
		l->refs_cap = cap;
	}
	size_t cur = 0, i = 0, kl, vl;
	const void *k, *v;
	while (st_heapmap_next(l->cache, &cur, &k, &kl, &v, &vl, NULL)) {
		uint8_t pre[8] = {0};
		memcpy(pre, k, kl < 8 ? kl : 8);
		uint64_t p64 = 0;
		for (int j = 0; j < 8; j++)
			p64 = p64 << 8 | pre[j];
		l->refs[i++] = (struct lb_ref){
		    .prefix = p64, .key = k, .val = v, .klen = (uint32_t)kl, .vlen = (uint32_t)vl};
	}
	/* In key order every page of the B-tree is visited once. */
	qsort(l->refs, n, sizeof(*l->refs), ref_cmp);
	reset_rtxn(l);
	pthread_mutex_lock(&l->cut_mu);
	int rc = commit_refs(l, n);
	pthread_mutex_unlock(&l->cut_mu);
	if (rc == 1) {
		l->deferred = 1;
		return 0; /* retried once the cut is freed */
	}
	if (rc)
		return rc;
	l->flushes++;
	l->deferred = 0;
	if (l->del_records >= LB_DEL_COMPACT_MIN && (rc = compact_deletions(l)) != 0)
		return rc;
	st_heapmap *nc;
	if (st_heapmap_new(&nc) != 0)
		return st_fail(&l->base, FL_ENOMEM, "out of memory renewing the write cache");
	st_heapmap_free(l->cache);
	l->cache = nc;
	/* Grow early, while no cut holds the map. */
	MDB_envinfo info;
	MDB_stat st;
	if (!cuts_live(l) && mdb_env_info(l->env, &info) == 0 && mdb_env_stat(l->env, &st) == 0 &&
	    (info.me_last_pgno + 1) * (size_t)st.ms_psize > l->map_size / 2)
		return grow_map(l);
	return 0;
}

static int lb_flush(st_backend *b)
{
	cm_err_clear(&b->err);
	return lb_flush_impl((lmdb_backend *)b);
}

/* Flushes, and fails if entries had to stay in the cache. */
static int flush_all(lmdb_backend *l, const char *what)
{
	int rc = lb_flush_impl(l);
	if (rc)
		return rc;
	if (st_heapmap_size(l->cache))
		return st_fail(&l->base, FL_ERANGE,
			       "LMDB state in %s: %s: the map is full and cannot grow while an "
			       "earlier snapshot is being written",
			       l->dir, what);
	return 0;
}

/* Walks the key groups kg_first..kg_last of txn in order. */
/* What a scan passes: live entries, or the changes of epochs since+1 ..
 * upto (deletion records as vlen 0). */
struct scan_filter {
	bool changes;
	uint32_t since, span;
};

static int scan(MDB_txn *txn, MDB_dbi dbi, int kg_first, int kg_last, st_entry_fn fn, void *arg,
		cm_err *err, const char *dir, const struct scan_filter *flt)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, dbi, &c);
	if (rc)
		return cm_err_set(err, FL_EIO, "LMDB state in %s: opening a cursor: %s", dir,
				  mdb_strerror(rc));
	uint8_t first[2] = {(uint8_t)(kg_first >> 8), (uint8_t)kg_first};
	MDB_val k = {.mv_size = sizeof(first), .mv_data = first}, d;
	int ret = 0;
	for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
		st_entry e;
		if (parse_key(k.mv_data, k.mv_size, &e) != 0) {
			ret = cm_err_set(err, FL_EPROTO,
					 "LMDB state in %s: malformed key of %zu bytes", dir,
					 k.mv_size);
			break;
		}
		if (e.key_group > kg_last)
			break;
		if (d.mv_size < LB_EPOCH) {
			ret = cm_err_set(err, FL_EPROTO, "LMDB state in %s: a value of %zu bytes",
					 dir, d.mv_size);
			break;
		}
		if (flt && flt->changes) {
			uint32_t age = get_u32le(d.mv_data) - flt->since;
			if (age < 1 || age > flt->span)
				continue;
		} else if (d.mv_size == LB_EPOCH) {
			continue; /* a deletion record */
		}
		e.vlen = d.mv_size - LB_EPOCH;
		e.val = e.vlen ? (const uint8_t *)d.mv_data + LB_EPOCH : NULL;
		if ((ret = fn(arg, &e)) != 0)
			break;
	}
	if (ret == 0 && rc != 0 && rc != MDB_NOTFOUND)
		ret =
		    cm_err_set(err, FL_EIO, "LMDB state in %s: reading: %s", dir, mdb_strerror(rc));
	mdb_cursor_close(c);
	return ret;
}

static int lb_iterate(st_backend *b, int kg_first, int kg_last, st_entry_fn fn, void *arg)
{
	cm_err_clear(&b->err);
	if (kg_first < 0 || kg_last >= b->max_parallelism || kg_first > kg_last)
		return st_fail(b, FL_EINVAL, "key-group range %d..%d outside 0..%d", kg_first,
			       kg_last, b->max_parallelism - 1);
	lmdb_backend *l = (lmdb_backend *)b;
	int rc = flush_all(l, "iterating");
	if (rc == 0)
		rc = ensure_rtxn(l);
	if (rc)
		return rc;
	return scan(l->rtxn, l->dbi, kg_first, kg_last, fn, arg, &b->err, l->dir, NULL);
}

static int lb_cut(st_backend *b, st_cut *c)
{
	lmdb_backend *l = (lmdb_backend *)b;
	int rc = flush_all(l, "cutting a snapshot");
	if (rc)
		return rc;
	MDB_txn *t;
	if ((rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &t)) != 0)
		return lmdb_error(b, rc, "beginning a snapshot's read transaction");
	c->impl = t;
	b->epoch++; /* the cache is empty: what comes is the next epoch's */
	return 0;
}

static int lb_cut_scan(st_cut *c, int kg_first, int kg_last, st_entry_fn fn, void *arg)
{
	/* Only immutable fields of the backend are read here: the scan may run
	 * on another thread. */
	lmdb_backend *l = (lmdb_backend *)c->b;
	return scan(c->impl, l->dbi, kg_first, kg_last, fn, arg, &c->err, l->dir, NULL);
}

static int lb_cut_scan_changes(st_cut *c, uint64_t since, int kg_first, int kg_last,
			       st_entry_fn fn, void *arg)
{
	lmdb_backend *l = (lmdb_backend *)c->b;
	struct scan_filter f = {
	    .changes = true, .since = (uint32_t)since, .span = (uint32_t)(c->epoch - since)};
	return scan(c->impl, l->dbi, kg_first, kg_last, fn, arg, &c->err, l->dir, &f);
}

static void lb_cut_free(st_cut *c)
{
	if (!c->impl)
		return;
	/* Under cut_mu: LMDB may reuse this transaction's pages as soon as it
	 * ends, and the lock orders our last reads before the writer's reuse
	 * (LMDB's reader table alone is invisible to ThreadSanitizer). */
	lmdb_backend *l = (lmdb_backend *)c->b;
	pthread_mutex_lock(&l->cut_mu);
	mdb_txn_abort(c->impl);
	pthread_mutex_unlock(&l->cut_mu);
}

static int lb_clear(st_backend *b)
{
	cm_err_clear(&b->err);
	lmdb_backend *l = (lmdb_backend *)b;
	st_heapmap *nc;
	if (st_heapmap_new(&nc) != 0)
		return st_fail(b, FL_ENOMEM, "out of memory clearing the write cache");
	st_heapmap_free(l->cache);
	l->cache = nc;
	reset_rtxn(l);
	MDB_txn *w;
	pthread_mutex_lock(&l->cut_mu);
	int rc = mdb_txn_begin(l->env, NULL, 0, &w);
	if (rc == 0) {
		if ((rc = mdb_drop(w, l->dbi, 0)) != 0)
			mdb_txn_abort(w);
		else
			rc = mdb_txn_commit(w);
	}
	pthread_mutex_unlock(&l->cut_mu);
	l->del_records = 0;
	b->changes_floor = b->epoch; /* the deletions are not recorded */
	return rc ? lmdb_error(b, rc, "clearing") : 0;
}

static void lb_stats(st_backend *b, st_stats *out)
{
	lmdb_backend *l = (lmdb_backend *)b;
	memset(out, 0, sizeof(*out));
	out->memory_bytes =
	    sizeof(*l) + st_heapmap_memory(l->cache) + l->refs_cap * sizeof(*l->refs);
	out->cache_entries = st_heapmap_size(l->cache);
	out->map_bytes = l->map_size;
	out->flushes = l->flushes;
	out->map_grows = l->grows;
	MDB_envinfo info;
	MDB_stat st;
	if (mdb_env_info(l->env, &info) == 0 && mdb_env_stat(l->env, &st) == 0) {
		out->disk_bytes = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
		out->entries = st.ms_entries + out->cache_entries;
	}
}

static void lb_free(st_backend *b)
{
	lmdb_backend *l = (lmdb_backend *)b;
	if (l->rtxn)
		mdb_txn_abort(l->rtxn);
	if (l->env)
		mdb_env_close(l->env);
	if (l->dir) {
		cm_dir_remove(l->dir);
		free(l->dir);
	}
	if (l->lock_fd >= 0)
		close(l->lock_fd); /* after the files went: nobody reaps them meanwhile */
	st_heapmap_free(l->cache);
	free(l->refs);
	pthread_mutex_destroy(&l->cut_mu);
	free(l);
}

static const struct st_backend_ops lmdb_ops = {
    .type = "lmdb",
    .add_state = lb_add_state,
    .get = lb_get,
    .put = lb_put,
    .del = lb_del,
    .find = lb_find,
    .put_at = lb_put_at,
    .value_at = lb_value_at,
    .prefetch = lb_prefetch,
    .iterate = lb_iterate,
    .flush = lb_flush,
    .cut = lb_cut,
    .cut_scan = lb_cut_scan,
    .cut_scan_changes = lb_cut_scan_changes,
    .cut_free = lb_cut_free,
    .clear = lb_clear,
    .stats = lb_stats,
    .free = lb_free,
};

/* mkdtemp's template for the environment's directory under root. */
static int make_dir(const char *root, const char *name, char **out, cm_err *err)
{
	char safe[65];
	size_t n = 0;
	for (const char *p = name ? name : "task"; *p && n < sizeof(safe) - 1; p++)
		safe[n++] = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
				    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'
				? *p
				: '_';
	safe[n] = 0;
	size_t len = strlen(root) + n + 32;
	char *dir = malloc(len);
	if (!dir)
		return cm_err_set(err, FL_ENOMEM,
				  "out of memory creating the LMDB state directory");
	snprintf(dir, len, "%s/flinc-state-%s-XXXXXX", root, safe);
	if (!mkdtemp(dir)) {
		int e = errno;
		free(dir);
		return cm_err_set(err, cm_err_from_errno(e),
				  "cannot create the LMDB state directory under '%s' "
				  "(taskmanager.state.local.root-dirs): %s",
				  root, strerror(e));
	}
	*out = dir;
	return 0;
}

int st_lmdb_backend_new(const st_backend_config *cfg, st_backend **out, cm_err *err)
{
	if (!cfg || cfg->max_parallelism < 1 || cfg->max_parallelism > 32768)
		return cm_err_set(err, FL_EINVAL,
				  "state backend: max parallelism %d outside 1..32768",
				  cfg ? cfg->max_parallelism : 0);
	lmdb_backend *l = calloc(1, sizeof(*l));
	if (!l)
		return cm_err_set(err, FL_ENOMEM, "out of memory creating the LMDB state backend");
	l->base.ops = &lmdb_ops;
	l->lock_fd = -1;
	l->base.max_parallelism = cfg->max_parallelism;
	l->base.key_max = ST_KEY_MAX;
	l->base.epoch = 1;
	l->base.epoch_window = UINT32_MAX / 2; /* four-byte stamps */
	l->incremental = cfg->incremental != 0;
	atomic_init(&l->base.live_cuts, 0);
	pthread_mutex_init(&l->cut_mu, NULL);
	l->cache_budget = cfg->cache_bytes ? cfg->cache_bytes : LB_DEFAULT_CACHE;
	if (l->cache_budget < LB_MIN_CACHE)
		l->cache_budget = LB_MIN_CACHE;
	l->map_size = cfg->map_bytes ? cfg->map_bytes : LB_DEFAULT_MAP;
	if (l->map_size < LB_MIN_MAP)
		l->map_size = LB_MIN_MAP;
	const char *root = cfg->dir && *cfg->dir ? cfg->dir : getenv("TMPDIR");
	if (!root || !*root)
		root = "/tmp";
	int rc;
	if ((rc = st_heapmap_new(&l->cache)) != 0) {
		free(l);
		return cm_err_set(err, FL_ENOMEM, "out of memory creating the LMDB write cache");
	}
	if ((rc = make_dir(root, cfg->name, &l->dir, err)) != 0 ||
	    (rc = cm_dir_claim(l->dir, &l->lock_fd, err)) != 0)
		goto fail;
	unsigned flags = MDB_NOSYNC | MDB_NOMETASYNC | MDB_NOTLS | MDB_NORDAHEAD |
			 (cfg->lmdb_writemap ? MDB_WRITEMAP : 0);
	MDB_txn *t;
	if ((rc = mdb_env_create(&l->env)) != 0 ||
	    (rc = mdb_env_set_mapsize(l->env, l->map_size)) != 0 ||
	    (rc = mdb_env_open(l->env, l->dir, flags, 0600)) != 0 ||
	    (rc = mdb_txn_begin(l->env, NULL, 0, &t)) != 0) {
		rc = cm_err_set(err, rc == ENOMEM ? FL_ENOMEM : FL_EIO,
				"cannot open LMDB state in %s: %s", l->dir, mdb_strerror(rc));
		goto fail;
	}
	if (mdb_env_get_maxkeysize(l->env) < LB_KEY_PREFIX + 2 + ST_KEY_MAX) {
		mdb_txn_abort(t);
		rc = cm_err_set(err, FL_EINVAL,
				"LMDB state in %s: this liblmdb takes keys of at most %d bytes, "
				"flinc needs %d",
				l->dir, mdb_env_get_maxkeysize(l->env),
				LB_KEY_PREFIX + 2 + ST_KEY_MAX);
		goto fail;
	}
	if ((rc = mdb_dbi_open(t, NULL, 0, &l->dbi)) != 0)
		mdb_txn_abort(t);
	else
		rc = mdb_txn_commit(t); /* frees t, also when it fails */
	if (rc) {
		rc = cm_err_set(err, FL_EIO, "cannot open LMDB state in %s: %s", l->dir,
				mdb_strerror(rc));
		goto fail;
	}
	*out = &l->base;
	return 0;
fail:
	lb_free(&l->base);
	return rc;
}
