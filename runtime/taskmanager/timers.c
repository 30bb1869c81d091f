/*
 * timers.c — the timer queue (timers.h): a binary min-heap of timer nodes
 * that know their heap index (so a deletion is O(log n)), and a chained
 * hash table over (time, key) for deduplication and lookup.
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
	size_t klen;
	size_t at;	    /* index in the heap */
	struct tnode *next; /* hash chain */
	uint8_t key[];
} tnode;

struct tm_timerq {
	tnode **heap;
	size_t n, cap, max;
	tnode **buckets;
	size_t nbuckets; /* a power of two */
	tnode *popped;	 /* the last popped node, freed at the next call */
};

static uint32_t hash_of(int64_t ts, const void *key, size_t klen)
{
	return kg_murmur3_32(key, klen, (uint32_t)ts ^ (uint32_t)((uint64_t)ts >> 32));
}

/* Heap order: time, then key bytes, then length. */
static bool before(const tnode *a, const tnode *b)
{
	if (a->ts != b->ts)
		return a->ts < b->ts;
	size_t m = a->klen < b->klen ? a->klen : b->klen;
	int c = memcmp(a->key, b->key, m);
	return c != 0 ? c < 0 : a->klen < b->klen;
}

static void place(tm_timerq *q, size_t i, tnode *t)
{
	q->heap[i] = t;
	t->at = i;
}

static void sift_up(tm_timerq *q, size_t i)
{
	tnode *t = q->heap[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!before(t, q->heap[p]))
			break;
		place(q, i, q->heap[p]);
		i = p;
	}
	place(q, i, t);
}

static void sift_down(tm_timerq *q, size_t i)
{
	tnode *t = q->heap[i];
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		const tnode *best = t;
		if (l < q->n && before(q->heap[l], best))
			m = l, best = q->heap[l];
		if (l + 1 < q->n && before(q->heap[l + 1], best))
			m = l + 1;
		if (m == i)
			break;
		place(q, i, q->heap[m]);
		i = m;
	}
	place(q, i, t);
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

void tm_timerq_free(tm_timerq *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->n; i++)
		free(q->heap[i]);
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
	if (q->n < q->nbuckets || q->nbuckets > SIZE_MAX / 2 / sizeof(tnode *))
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
	uint32_t h = hash_of(ts, key, klen);
	if (*find(q, ts, key, klen, h))
		return 0;
	if (q->n >= q->max)
		return FL_ERANGE;
	if (q->n == q->cap) {
		size_t nc = q->cap ? q->cap * 2 : 16;
		if (nc > q->max)
			nc = q->max;
		tnode **nh = realloc(q->heap, nc * sizeof(*nh));
		if (!nh)
			return FL_ENOMEM;
		q->heap = nh;
		q->cap = nc;
	}
	if (grow_buckets(q) != 0 || klen > SIZE_MAX - sizeof(tnode))
		return FL_ENOMEM;
	tnode *t = malloc(sizeof(*t) + klen);
	if (!t)
		return FL_ENOMEM;
	t->ts = ts;
	t->hash = h;
	t->klen = klen;
	if (klen)
		memcpy(t->key, key, klen);
	tnode **slot = &q->buckets[h & (q->nbuckets - 1)];
	t->next = *slot;
	*slot = t;
	q->heap[q->n] = t;
	t->at = q->n++;
	sift_up(q, t->at);
	return 1;
}

/* Takes t out of the heap (not out of the hash table). */
static void heap_remove(tm_timerq *q, tnode *t)
{
	size_t i = t->at;
	tnode *last = q->heap[--q->n];
	if (i == q->n)
		return;
	place(q, i, last);
	if (i > 0 && before(last, q->heap[(i - 1) / 2]))
		sift_up(q, i);
	else
		sift_down(q, i);
}

int tm_timerq_delete(tm_timerq *q, int64_t ts, const void *key, size_t klen)
{
	release_popped(q);
	tnode **pp = find(q, ts, key, klen, hash_of(ts, key, klen));
	tnode *t = *pp;
	if (!t)
		return 0;
	*pp = t->next;
	heap_remove(q, t);
	free(t);
	return 1;
}

int tm_timerq_pop(tm_timerq *q, int64_t upto, int64_t *ts, const void **key, size_t *klen)
{
	release_popped(q);
	if (q->n == 0 || q->heap[0]->ts > upto)
		return 0;
	tnode *t = q->heap[0];
	tnode **pp = find(q, t->ts, t->key, t->klen, t->hash);
	*pp = t->next;
	heap_remove(q, t);
	q->popped = t;
	*ts = t->ts;
	*key = t->key;
	*klen = t->klen;
	return 1;
}

int64_t tm_timerq_peek(const tm_timerq *q)
{
	return q->n ? q->heap[0]->ts : INT64_MAX;
}

size_t tm_timerq_size(const tm_timerq *q)
{
	return q->n;
}
