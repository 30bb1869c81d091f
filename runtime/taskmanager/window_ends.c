/*
 * window_ends.c — buckets of window ends (window_ends.h). The buckets live
 * in one array in time order, from index head on: the due one is taken
 * from the front (head moves), a new time is mostly the latest (appended),
 * and a time between two is inserted with a move of the later buckets,
 * which are few (one per distinct end time pending). A bucket's keys are
 * appended to its byte array, its entries hold their offsets and first 8
 * bytes, and it is sorted once, when its time comes (again if a key joins
 * it after that). A drained bucket's arrays are kept for the next new time,
 * so that a steady stream of windows allocates nothing.
 */
#include "taskmanager/window_ends.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

#define SPARES 2

struct ent {
	uint64_t pre; /* the key's first 8 bytes, big-endian, zero-padded */
	size_t off;   /* of the key in the bucket's bytes */
	uint32_t aux;
	uint16_t klen;
};

struct bucket {
	int64_t time;
	struct ent *e;
	size_t n, cap, next; /* entries, room, taken */
	uint8_t *bytes;
	size_t blen, bcap;
	bool sorted; /* e[next..n) in key order */
};

struct tm_ends {
	struct bucket *b; /* b[head .. head + nb) in time order */
	size_t head, nb, cap;
	size_t last; /* the bucket the last add went to (a hint) */
	size_t size;
	bool drained; /* b[head] emptied by the last pop: dropped at the next call */
	struct bucket spare[SPARES];
	size_t nspare;
	struct ent *tmp; /* the merge sort's scratch, kept */
	size_t tmpcap;
};

int tm_ends_new(tm_ends **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : FL_ENOMEM;
}

static void bucket_free(struct bucket *k)
{
	free(k->e);
	free(k->bytes);
}

/* Keeps k's arrays for a later bucket, or frees them. */
static void recycle(tm_ends *q, struct bucket *k)
{
	if (q->nspare < SPARES) {
		k->n = k->next = k->blen = 0;
		q->spare[q->nspare++] = *k;
	} else {
		bucket_free(k);
	}
}

static void drop_drained(tm_ends *q)
{
	if (!q->drained)
		return;
	q->drained = false;
	recycle(q, &q->b[q->head]);
	q->head++;
	if (--q->nb == 0)
		q->head = 0;
}

void tm_ends_clear(tm_ends *q)
{
	for (size_t i = 0; i < q->nb; i++)
		recycle(q, &q->b[q->head + i]);
	q->head = q->nb = q->size = 0;
	q->drained = false;
}

void tm_ends_free(tm_ends *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->nb; i++)
		bucket_free(&q->b[q->head + i]);
	for (size_t i = 0; i < q->nspare; i++)
		bucket_free(&q->spare[i]);
	free(q->b);
	free(q->tmp);
	free(q);
}

/* The array p of *cap elements of size elem doubled (to first when
 * empty), *cap updated; NULL with p and *cap untouched when out of
 * memory. */
static void *grow(void *p, size_t *cap, size_t elem, size_t first)
{
	size_t nc = *cap ? *cap * 2 : first;
	void *np = nc <= SIZE_MAX / elem ? realloc(p, nc * elem) : NULL;
	if (np)
		*cap = nc;
	return np;
}

/* Room in k for one more entry of klen bytes. */
static int reserve(struct bucket *k, size_t klen)
{
	if (k->n == k->cap) {
		struct ent *ne = grow(k->e, &k->cap, sizeof(*k->e), 64);
		if (!ne)
			return FL_ENOMEM;
		k->e = ne;
	}
	if (k->bcap - k->blen < klen) {
		size_t nc = k->bcap ? k->bcap : 1024;
		while (nc - k->blen < klen) {
			if (nc > SIZE_MAX / 2)
				return FL_ENOMEM;
			nc *= 2;
		}
		uint8_t *nb = realloc(k->bytes, nc);
		if (!nb)
			return FL_ENOMEM;
		k->bytes = nb;
		k->bcap = nc;
	}
	return 0;
}

/* The index of the bucket of time, or of the first later one (where a
 * bucket of time goes); *found says which. */
static size_t find_bucket(const tm_ends *q, int64_t time, bool *found)
{
	size_t lo = q->head, hi = q->head + q->nb;
	if (q->last >= lo && q->last < hi && q->b[q->last].time == time) {
		*found = true;
		return q->last;
	}
	if (q->nb && q->b[hi - 1].time < time) { /* the common case: a new latest */
		*found = false;
		return hi;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (q->b[mid].time < time)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < q->head + q->nb && q->b[lo].time == time;
	return lo;
}

/* A new bucket of time at index at (find_bucket's), with room for an entry
 * of klen bytes; the queue unchanged on failure. Returns its index. */
static int insert_bucket(tm_ends *q, size_t at, int64_t time, size_t klen, size_t *idx)
{
	if (q->head + q->nb == q->cap) {
		if (q->head > 0) { /* room at the front: slide down */
			memmove(q->b, q->b + q->head, q->nb * sizeof(*q->b));
			at -= q->head;
			q->head = 0;
		} else {
			struct bucket *nb = grow(q->b, &q->cap, sizeof(*q->b), 16);
			if (!nb)
				return FL_ENOMEM;
			q->b = nb;
		}
	}
	struct bucket k = q->nspare ? q->spare[--q->nspare] : (struct bucket){0};
	if (reserve(&k, klen) != 0) {
		recycle(q, &k);
		return FL_ENOMEM;
	}
	k.time = time;
	k.sorted = false;
	memmove(q->b + at + 1, q->b + at, (q->head + q->nb - at) * sizeof(*q->b));
	q->b[at] = k;
	q->nb++;
	*idx = at;
	return 0;
}

static uint64_t prefix_of(const uint8_t *key, size_t klen)
{
	uint64_t p = 0;
	for (size_t i = 0; i < 8; i++)
		p = p << 8 | (i < klen ? key[i] : 0);
	return p;
}

int tm_ends_add(tm_ends *q, int64_t time, const void *key, size_t klen, uint32_t aux)
{
	drop_drained(q);
	if (klen > UINT16_MAX)
		return FL_ERANGE;
	bool found;
	size_t i = find_bucket(q, time, &found);
	int rc = found ? reserve(&q->b[i], klen) : insert_bucket(q, i, time, klen, &i);
	if (rc)
		return rc;
	struct bucket *k = &q->b[i];
	if (klen)
		memcpy(k->bytes + k->blen, key, klen);
	k->e[k->n++] = (struct ent){
	    .pre = prefix_of(key, klen), .off = k->blen, .aux = aux, .klen = (uint16_t)klen};
	k->blen += klen;
	k->sorted = false;
	q->last = i;
	q->size++;
	return 0;
}

/* Key order: the zero-padded big-endian prefixes order as the bytes do
 * where they differ (see timers.c's before()); equal ones need the keys. */
static inline int ent_cmp(const struct ent *x, const struct ent *y, const uint8_t *base)
{
	if (x->pre != y->pre)
		return x->pre < y->pre ? -1 : 1;
	size_t m = x->klen < y->klen ? x->klen : y->klen;
	int c = m ? memcmp(base + x->off, base + y->off, m) : 0;
	return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

static int ent_cmp_r(const void *a, const void *b, void *base)
{
	return ent_cmp(a, b, base);
}

/*
 * Merge sort of a[0..n) with tmp (n / 2 entries): no allocation per sort
 * (glibc's qsort mallocs its buffer, fresh pages each time at 100 K
 * entries), comparisons inlined, and a run already in order (keys that
 * came in key order) costs one comparison per merge.
 */
static void sort_ents(struct ent *a, size_t n, struct ent *tmp, const uint8_t *base)
{
	if (n <= 16) {
		for (size_t i = 1; i < n; i++) {
			struct ent e = a[i];
			size_t j = i;
			for (; j > 0 && ent_cmp(&a[j - 1], &e, base) > 0; j--)
				a[j] = a[j - 1];
			a[j] = e;
		}
		return;
	}
	size_t h = n / 2;
	sort_ents(a, h, tmp, base);
	sort_ents(a + h, n - h, tmp, base);
	if (ent_cmp(&a[h - 1], &a[h], base) <= 0)
		return;
	memcpy(tmp, a, h * sizeof(*a));
	size_t i = 0, j = h, k = 0;
	while (i < h && j < n)
		a[k++] = ent_cmp(&a[j], &tmp[i], base) < 0 ? a[j++] : tmp[i++];
	while (i < h)
		a[k++] = tmp[i++];
}

/* Sorts the entries of k not yet taken. */
static void sort_bucket(tm_ends *q, struct bucket *k)
{
	size_t n = k->n - k->next, need = n / 2 + 1;
	if (q->tmpcap < need) {
		struct ent *t = need <= SIZE_MAX / sizeof(*t) ? realloc(q->tmp, need * sizeof(*t))
							     : NULL;
		if (!t) { /* no scratch: glibc's sort, which needs none to work */
			qsort_r(k->e + k->next, n, sizeof(*k->e), ent_cmp_r, k->bytes);
			return;
		}
		q->tmp = t;
		q->tmpcap = need;
	}
	sort_ents(k->e + k->next, n, q->tmp, k->bytes);
}

int tm_ends_pop(tm_ends *q, int64_t upto, int64_t *time, const void **key, size_t *klen,
		uint32_t *aux)
{
	drop_drained(q);
	if (q->nb == 0 || q->b[q->head].time > upto)
		return 0;
	struct bucket *k = &q->b[q->head];
	if (!k->sorted) {
		sort_bucket(q, k);
		k->sorted = true;
	}
	const struct ent *e = &k->e[k->next++];
	*time = k->time;
	*key = k->bytes + e->off;
	*klen = e->klen;
	*aux = e->aux;
	q->size--;
	q->drained = k->next == k->n;
	return 1;
}

int tm_ends_ahead(const tm_ends *q, size_t n, const void **key, size_t *klen, uint32_t *aux)
{
	if (q->nb == 0)
		return 0;
	const struct bucket *k = &q->b[q->head];
	if (!k->sorted || n >= k->n - k->next)
		return 0;
	const struct ent *e = &k->e[k->next + n];
	*key = k->bytes + e->off;
	*klen = e->klen;
	*aux = e->aux;
	return 1;
}

int64_t tm_ends_peek(const tm_ends *q)
{
	size_t i = q->head + (q->drained ? 1 : 0);
	return i < q->head + q->nb ? q->b[i].time : INT64_MAX;
}

size_t tm_ends_size(const tm_ends *q)
{
	return q->size;
}
