/*
 * pool.c — the network buffer pool: segments and their headers in regions
 * mapped once, handed out from a LIFO stack of returned segments, then from
 * the never-used ones (so untouched memory stays untouched).
 */
#include "network/pool.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "common/sync.h"
#include "config/config.h"
#include "network/pool_internal.h"

/* A segment's header, alone on its cache line: the producer task updates
 * its buffer's len per record while the consumer reads and recycles
 * neighbouring buffers; packed 48-byte headers made those lines bounce
 * between cores (10% more CPU in WordCount than heap buffers). */
struct header {
	_Alignas(64) net_buffer b;
};

struct net_quota {
	net_pool *p;
	size_t min, max, used; /* p->mu */
	bool closed;
};

struct net_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a segment was returned, or net_pool_wake */
	uint32_t segment_size;
	size_t nsegments;
	uint8_t *data;	     /* nsegments * segment_size */
	struct header *headers; /* nsegments */
	uint32_t *stack;     /* returned segment indices */
	size_t nstack;
	size_t fresh; /* segments [fresh, nsegments) were never handed out */
	size_t reserved; /* sum of open quotas' minimums, and net_pool_reserve */
	size_t in_use;
	/* Segments in use that no reservation covers (net_pool_take, quotas
	 * beyond their minimum, a closed quota's). Invariant: borrowed <=
	 * nsegments - reserved, so a take within a minimum finds a segment. */
	size_t borrowed;
	int waiters;
	size_t map_data, map_headers, map_stack; /* mapping lengths */
};

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

int net_pool_new(net_pool **out, size_t nsegments, uint32_t segment_size, cm_err *err)
{
	*out = NULL;
	if (segment_size < 64 || (segment_size & (segment_size - 1)) != 0 || nsegments > UINT32_MAX)
		return cm_err_set(err, FL_EINVAL,
				  "network buffer pool: %zu segments of %u bytes is not a valid size",
				  nsegments, segment_size);
	net_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	p->segment_size = segment_size;
	p->nsegments = nsegments;
	size_t n = nsegments ? nsegments : 1;
	if (__builtin_mul_overflow(n, (size_t)segment_size, &p->map_data))
		goto nomem;
	p->map_headers = n * sizeof(struct header);
	p->map_stack = n * sizeof(uint32_t);
	if (!(p->data = map(p->map_data)) || !(p->headers = map(p->map_headers)) ||
	    !(p->stack = map(p->map_stack)))
		goto nomem;
	if (pthread_mutex_init(&p->mu, NULL) != 0)
		goto nomem;
	if (cm_cond_init(&p->cv) != 0) {
		pthread_mutex_destroy(&p->mu);
		goto nomem;
	}
	*out = p;
	return 0;
nomem:
	if (p->data)
		munmap(p->data, p->map_data);
	if (p->headers)
		munmap(p->headers, p->map_headers);
	if (p->stack)
		munmap(p->stack, p->map_stack);
	free(p);
	return cm_err_set(err, FL_ENOMEM,
			  "cannot map %zu network buffers of %u bytes for the network buffer pool",
			  nsegments, segment_size);
}

void net_pool_free(net_pool *p)
{
	if (!p)
		return;
	assert(p->in_use == 0 && "every network buffer must be returned before the pool is freed");
	munmap(p->data, p->map_data);
	munmap(p->headers, p->map_headers);
	munmap(p->stack, p->map_stack);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

uint32_t net_pool_segment_size(const net_pool *p)
{
	return p->segment_size;
}

size_t net_pool_segments(const net_pool *p)
{
	return p->nsegments;
}

size_t net_pool_unreserved(net_pool *p)
{
	pthread_mutex_lock(&p->mu);
	size_t n = p->nsegments - p->reserved;
	pthread_mutex_unlock(&p->mu);
	return n;
}

size_t net_pool_in_use(net_pool *p)
{
	pthread_mutex_lock(&p->mu);
	size_t n = p->in_use;
	pthread_mutex_unlock(&p->mu);
	return n;
}

static int reserve_locked(net_pool *p, size_t n, cm_err *err);

int net_pool_reserve(net_pool *p, size_t n, cm_err *err)
{
	pthread_mutex_lock(&p->mu);
	int rc = reserve_locked(p, n, err);
	pthread_mutex_unlock(&p->mu);
	return rc;
}

/* Under p->mu. What is reserved or borrowed is not available. */
static int reserve_locked(net_pool *p, size_t n, cm_err *err)
{
	size_t avail = p->nsegments - p->reserved - p->borrowed;
	if (n > avail) {
		return cm_err_set(err, FL_ERANGE,
				  "Insufficient number of network buffers: required %zu, but only %zu "
				  "available. The total number of network buffers is currently set to "
				  "%zu of %u bytes each. You can increase this number by setting the "
				  "configuration keys '" CFG_NET_FRACTION "', '" CFG_NET_MIN
				  "', and '" CFG_NET_MAX "'.",
				  n, avail, p->nsegments, p->segment_size);
	}
	p->reserved += n;
	return 0;
}

void net_pool_unreserve(net_pool *p, size_t n)
{
	pthread_mutex_lock(&p->mu);
	assert(n <= p->reserved);
	p->reserved -= n;
	pthread_mutex_unlock(&p->mu);
}

/* Under p->mu: a free segment's index, or -1. */
static int64_t pop_free(net_pool *p)
{
	if (p->nstack > 0)
		return p->stack[--p->nstack];
	if (p->fresh < p->nsegments)
		return (int64_t)p->fresh++;
	return -1;
}

/* Under p->mu: whether one more segment may be borrowed. */
static bool may_borrow(const net_pool *p)
{
	return p->borrowed < p->nsegments - p->reserved;
}

/* Under p->mu: whether quota q (NULL: a take outside quotas) may take a
 * segment now, and whether it would borrow it. */
static bool may_take(const net_pool *p, const net_quota *q, bool *borrow)
{
	if (q && q->used < q->min) {
		*borrow = false;
		return true;
	}
	*borrow = true;
	return (!q || q->used < q->max) && may_borrow(p);
}

/* Takes a segment for q (or outside quotas), waiting as net_quota_take
 * says. */
static int take(net_pool *p, net_quota *q, bool wait, const atomic_bool *stop, net_buffer **out)
{
	*out = NULL;
	pthread_mutex_lock(&p->mu);
	bool borrow;
	while (!may_take(p, q, &borrow)) {
		if (!wait) {
			pthread_mutex_unlock(&p->mu);
			return FL_ERANGE;
		}
		if (stop && atomic_load(stop)) {
			pthread_mutex_unlock(&p->mu);
			return FL_ECANCELED;
		}
		p->waiters++;
		pthread_cond_wait(&p->cv, &p->mu);
		p->waiters--;
	}
	int64_t i = pop_free(p);
	/* A minimum is reserved and borrowing stays within the unreserved
	 * rest: a segment is free. */
	assert(i >= 0);
	p->in_use++;
	if (borrow)
		p->borrowed++;
	if (q)
		q->used++;
	pthread_mutex_unlock(&p->mu);
	net_buffer *b = &p->headers[i].b;
	b->next = NULL;
	b->kind = NET_BUF_DATA;
	b->event = NET_EV_NONE;
	b->len = 0;
	b->cap = p->segment_size;
	b->arg = 0;
	b->data = p->data + (size_t)i * p->segment_size;
	b->pool = p;
	b->quota = q;
	net_buffer_account((int64_t)p->segment_size);
	*out = b;
	return 0;
}

int net_pool_take(net_pool *p, bool wait, const atomic_bool *stop, net_buffer **out)
{
	return take(p, NULL, wait, stop, out);
}

int net_quota_take(net_quota *q, bool wait, const atomic_bool *stop, net_buffer **out)
{
	return take(q->p, q, wait, stop, out);
}

int net_quotas_new(net_pool *p, size_t n, const size_t *min, const size_t *max, net_quota **out,
		   cm_err *err)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		out[i] = NULL;
		total += min[i];
	}
	for (size_t i = 0; i < n; i++) {
		if (!(out[i] = calloc(1, sizeof(*out[i])))) {
			for (size_t k = 0; k < i; k++) {
				free(out[k]);
				out[k] = NULL;
			}
			return cm_err_set(err, FL_ENOMEM, "out of memory");
		}
		out[i]->p = p;
		out[i]->min = min[i];
		out[i]->max = max[i] > min[i] ? max[i] : min[i];
	}
	pthread_mutex_lock(&p->mu);
	int rc = reserve_locked(p, total, err);
	pthread_mutex_unlock(&p->mu);
	if (rc) {
		for (size_t i = 0; i < n; i++) {
			free(out[i]);
			out[i] = NULL;
		}
	}
	return rc;
}

int net_quota_new(net_pool *p, size_t min, size_t max, net_quota **out, cm_err *err)
{
	return net_quotas_new(p, 1, &min, &max, out, err);
}

void net_quota_close(net_quota *q)
{
	if (!q)
		return;
	net_pool *p = q->p;
	pthread_mutex_lock(&p->mu);
	/* The segments it still holds within its minimum are borrowed from
	 * now on: the reservation goes, the segments stay counted. */
	size_t held = q->used < q->min ? q->used : q->min;
	p->reserved -= q->min;
	p->borrowed += held;
	q->min = 0;
	q->closed = true;
	bool gone = q->used == 0;
	if (p->waiters)
		pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (gone)
		free(q);
}

void net_quota_wake(net_quota *q)
{
	net_pool_wake(q->p);
}

uint32_t net_quota_segment_size(const net_quota *q)
{
	return q->p->segment_size;
}

size_t net_quota_in_use(net_quota *q)
{
	pthread_mutex_lock(&q->p->mu);
	size_t n = q->used;
	pthread_mutex_unlock(&q->p->mu);
	return n;
}

void net_pool_give_back(net_pool *p, net_buffer *b)
{
	size_t i = (size_t)((struct header *)b - p->headers);
	assert(i < p->nsegments);
	net_quota *q = b->quota, *gone = NULL;
	net_buffer_account(-(int64_t)p->segment_size);
	pthread_mutex_lock(&p->mu);
	p->stack[p->nstack++] = (uint32_t)i;
	p->in_use--;
	/* A segment above its quota's minimum (or outside quotas) was
	 * borrowed. */
	if (!q || q->used > q->min)
		p->borrowed--;
	if (q && --q->used == 0 && q->closed)
		gone = q;
	/* Waiters wait for different things (their quota, a borrowable
	 * segment): all recheck. */
	if (p->waiters)
		pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	free(gone);
}

void net_pool_wake(net_pool *p)
{
	pthread_mutex_lock(&p->mu);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

int net_pool_size_from_config(const struct cfg *c, int64_t *bytes, cm_err *err)
{
	const int64_t local_default = 64 * 1024 * 1024;
	int64_t lo = local_default, hi = local_default;
	bool has_lo = c && cfg_is_set(c, CFG_NET_MIN), has_hi = c && cfg_is_set(c, CFG_NET_MAX);
	if (has_lo)
		cfg_get_memory_bytes(c, CFG_NET_MIN, &lo);
	if (has_hi)
		cfg_get_memory_bytes(c, CFG_NET_MAX, &hi);
	/* Flink's local execution: one bound set means both; none, 64 MiB. */
	if (has_lo && !has_hi)
		hi = lo;
	if (has_hi && !has_lo)
		lo = hi;
	if (lo > hi)
		return cm_err_set(err, FL_EINVAL,
				  "'" CFG_NET_MIN "' (%lld bytes) is above '" CFG_NET_MAX
				  "' (%lld bytes)",
				  (long long)lo, (long long)hi);
	/* Between min and max, the local cluster takes the smallest. */
	*bytes = lo;
	return 0;
}
