/*
 * timers.c — the timer queue (timers.h): a binary min-heap of entries that
 * carry the timer's time and its key's first 8 bytes inline, so that most
 * comparisons read the heap's own array, not the timer's node (at 100 K
 * window timers of one time, a comparison that read two nodes was a cache
 * miss each); and a chained hash table over (time, key) for deduplication
 * and lookup. A deletion marks the node dead and leaves its heap entry,
 * skipped when it reaches the top: nodes are never written while the heap
 * moves them. An unchecked queue (tm_timerq_new_unchecked) has no table:
 * its owner keeps the set, and the queue is only the heap.
 */
#include "taskmanager/timers.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

#include "types/keygroup.h"

typedef struct tnode {
	int64_t ts;
	uint32_t hash;
	bool dead;	    /* deleted: out of the hash table, its heap entry skipped */
	size_t klen;
	struct tnode *next; /* hash chain */
	uint8_t key[];
} tnode;

typedef struct hentry {
	int64_t ts;
	uint64_t pre; /* the key's first 8 bytes, big-endian, zero-padded */
	tnode *t;
} hentry;

struct tm_timerq {
	hentry *heap;
	size_t n, cap, max;
	size_t live; /* timers registered: n less the dead entries */
	tnode **buckets;
	size_t nbuckets; /* a power of two */
	tnode *popped;	 /* the last popped node, freed at the next call */
	bool unchecked;	 /* no hash table: tm_timerq_new_unchecked */
};

static uint32_t hash_of(int64_t ts, const void *key, size_t klen)
{
	return kg_murmur3_32(key, klen, (uint32_t)ts ^ (uint32_t)((uint64_t)ts >> 32));
}

static uint64_t prefix_of(const uint8_t *key, size_t klen)
{
	uint64_t p = 0;
	for (size_t i = 0; i < 8; i++)
		p = p << 8 | (i < klen ? key[i] : 0);
	return p;
}

/* Heap order: time, then key bytes, then length. Zero-padded big-endian
 * prefixes that differ order as the bytes do (where one key is shorter,
 * its padding is 0 and the other's byte is not: the shorter goes first,
 * as memcmp and then the length say); equal ones need the whole keys. */
static bool before(const hentry *a, const hentry *b)
{
	if (a->ts != b->ts)
		return a->ts < b->ts;
	if (a->pre != b->pre)
		return a->pre < b->pre;
	const tnode *x = a->t, *y = b->t;
	size_t m = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(x->key, y->key, m);
	return c != 0 ? c < 0 : x->klen < y->klen;
}

static void sift_up(tm_timerq *q, size_t i)
{
	hentry e = q->heap[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!before(&e, &q->heap[p]))
			break;
		q->heap[i] = q->heap[p];
		i = p;
	}
	q->heap[i] = e;
}

static void sift_down(tm_timerq *q, size_t i)
{
	hentry e = q->heap[i];
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		const hentry *best = &e;
		if (l < q->n && before(&q->heap[l], best))
			m = l, best = &q->heap[l];
		if (l + 1 < q->n && before(&q->heap[l + 1], best))
			m = l + 1;
		if (m == i)
			break;
		q->heap[i] = q->heap[m];
		i = m;
	}
	q->heap[i] = e;
}

/* Takes the top entry out of the heap (its node is the caller's). */
static void heap_pop_top(tm_timerq *q)
{
	if (--q->n == 0)
		return;
	q->heap[0] = q->heap[q->n];
	sift_down(q, 0);
}

/* Frees the dead entries at the top, so that the top is a live timer. */
static void drop_dead_top(tm_timerq *q)
{
	while (q->n && q->heap[0].t->dead) {
		tnode *t = q->heap[0].t;
		heap_pop_top(q);
		free(t);
	}
}

/* Frees every dead entry and rebuilds the heap of the live ones. */
static void compact(tm_timerq *q)
{
	size_t k = 0;
	for (size_t i = 0; i < q->n; i++) {
		if (q->heap[i].t->dead)
			free(q->heap[i].t);
		else
			q->heap[k++] = q->heap[i];
	}
	q->n = k;
	for (size_t i = k / 2; i-- > 0;)
		sift_down(q, i);
}

static void release_popped(tm_timerq *q)
{
	free(q->popped);
	q->popped = NULL;
}

int tm_timerq_new(size_t max_timers, tm_timerq **out)
{
	*out = NULL;
	if (max_timers == 0)
		return FL_EINVAL;
	tm_timerq *q = calloc(1, sizeof(*q));
	if (!q)
		return FL_ENOMEM;
	q->max = max_timers;
	q->nbuckets = 16;
	if (!(q->buckets = calloc(q->nbuckets, sizeof(*q->buckets)))) {
		free(q);
		return FL_ENOMEM;
	}
	*out = q;
	return 0;
}

int tm_timerq_new_unchecked(tm_timerq **out)
{
	int rc = tm_timerq_new(SIZE_MAX, out);
	if (rc == 0)
		(*out)->unchecked = true;
	return rc;
}

void tm_timerq_free(tm_timerq *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->n; i++)
		free(q->heap[i].t);
	free(q->heap);
	free(q->buckets);
	free(q->popped);
	free(q);
}

static tnode **find(tm_timerq *q, int64_t ts, const void *key, size_t klen, uint32_t h)
{
	tnode **pp = &q->buckets[h & (q->nbuckets - 1)];
	for (; *pp; pp = &(*pp)->next) {
		const tnode *t = *pp;
		if (t->hash == h && t->ts == ts && t->klen == klen &&
		    memcmp(t->key, key, klen) == 0)
			break;
	}
	return pp;
}

/* Doubles the table when it holds more timers than buckets. */
static int grow_buckets(tm_timerq *q)
{
	if (q->live < q->nbuckets || q->nbuckets > SIZE_MAX / 2 / sizeof(tnode *))
		return 0;
	size_t nb = q->nbuckets * 2;
	tnode **b = calloc(nb, sizeof(*b));
	if (!b)
		return FL_ENOMEM;
	for (size_t i = 0; i < q->nbuckets; i++)
		for (tnode *t = q->buckets[i], *next; t; t = next) {
			next = t->next;
			t->next = b[t->hash & (nb - 1)];
			b[t->hash & (nb - 1)] = t;
		}
	free(q->buckets);
	q->buckets = b;
	q->nbuckets = nb;
	return 0;
}

int tm_timerq_add(tm_timerq *q, int64_t ts, const void *key, size_t klen)
{
	release_popped(q);
	uint32_t h = q->unchecked ? 0 : hash_of(ts, key, klen);
	if (!q->unchecked && *find(q, ts, key, klen, h))
		return 0;
	if (q->live >= q->max)
		return FL_ERANGE;
	if (q->n == q->cap && q->live < q->n)
		compact(q); /* dead entries make room first */
	if (q->n == q->cap) {
		size_t nc = q->cap ? q->cap * 2 : 16;
		if (nc > q->max)
			nc = q->max;
		hentry *nh = realloc(q->heap, nc * sizeof(*nh));
		if (!nh)
			return FL_ENOMEM;
		q->heap = nh;
		q->cap = nc;
	}
	if ((!q->unchecked && grow_buckets(q) != 0) || klen > SIZE_MAX - sizeof(tnode))
		return FL_ENOMEM;
	tnode *t = malloc(sizeof(*t) + klen);
	if (!t)
		return FL_ENOMEM;
	t->ts = ts;
	t->hash = h;
	t->dead = false;
	t->klen = klen;
	if (klen)
		memcpy(t->key, key, klen);
	t->next = NULL;
	if (!q->unchecked) {
		tnode **slot = &q->buckets[h & (q->nbuckets - 1)];
		t->next = *slot;
		*slot = t;
	}
	q->heap[q->n] = (hentry){.ts = ts, .pre = prefix_of(t->key, klen), .t = t};
	q->live++;
	sift_up(q, q->n++);
	return 1;
}

int tm_timerq_delete(tm_timerq *q, int64_t ts, const void *key, size_t klen)
{
	release_popped(q);
	if (q->unchecked)
		return FL_EINVAL;
	tnode **pp = find(q, ts, key, klen, hash_of(ts, key, klen));
	tnode *t = *pp;
	if (!t)
		return 0;
	*pp = t->next;
	t->dead = true;
	q->live--;
	drop_dead_top(q);
	return 1;
}

int tm_timerq_pop(tm_timerq *q, int64_t upto, int64_t *ts, const void **key, size_t *klen)
{
	release_popped(q);
	if (q->n == 0 || q->heap[0].ts > upto)
		return 0;
	tnode *t = q->heap[0].t;
	if (!q->unchecked) {
		tnode **pp = find(q, t->ts, t->key, t->klen, t->hash);
		*pp = t->next;
	}
	heap_pop_top(q);
	q->live--;
	drop_dead_top(q);
	q->popped = t;
	*ts = t->ts;
	*key = t->key;
	*klen = t->klen;
	return 1;
}

int64_t tm_timerq_peek(const tm_timerq *q)
{
	return q->n ? q->heap[0].ts : INT64_MAX; /* the top is never dead */
}

size_t tm_timerq_size(const tm_timerq *q)
{
	return q->live;
}

static int cmp_entries(const void *a, const void *b)
{
	return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

int tm_timerq_retain(tm_timerq *q, tm_timerq_keep_fn keep, void *arg)
{
	if (!q->unchecked)
		return FL_EINVAL;
	release_popped(q);
	size_t k = 0, i = 0;
	int rc = 0;
	for (; i < q->n; i++) {
		tnode *t = q->heap[i].t;
		if ((rc = keep(arg, t->ts, t->key, t->klen)) < 0)
			break;
		if (rc)
			q->heap[k++] = q->heap[i];
		else
			free(t);
	}
	while (i < q->n) /* after an error: the rest stays */
		q->heap[k++] = q->heap[i++];
	/* A sorted array is a heap; equal timers are then side by side. */
	qsort(q->heap, k, sizeof(*q->heap), cmp_entries);
	size_t u = 0;
	for (size_t j = 0; j < k; j++) {
		if (u && cmp_entries(&q->heap[u - 1], &q->heap[j]) == 0)
			free(q->heap[j].t);
		else
			q->heap[u++] = q->heap[j];
	}
	q->n = q->live = u;
	return rc < 0 ? rc : 0;
}

void tm_timerq_clear(tm_timerq *q)
{
	release_popped(q);
	for (size_t i = 0; i < q->n; i++)
		free(q->heap[i].t);
	q->n = q->live = 0;
}
