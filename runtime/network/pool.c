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
	size_t reserved;
	size_t in_use;
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

int net_pool_reserve(net_pool *p, size_t n, cm_err *err)
{
	pthread_mutex_lock(&p->mu);
	size_t avail = p->nsegments - p->reserved;
	if (n > avail) {
		pthread_mutex_unlock(&p->mu);
		return cm_err_set(err, FL_ERANGE,
				  "Insufficient number of network buffers: required %zu, but only %zu "
				  "available. The total number of network buffers is currently set to "
				  "%zu of %u bytes each. You can increase this number by setting the "
				  "configuration keys '" CFG_NET_FRACTION "', '" CFG_NET_MIN
				  "', and '" CFG_NET_MAX "'.",
				  n, avail, p->nsegments, p->segment_size);
	}
	p->reserved += n;
	pthread_mutex_unlock(&p->mu);
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

int net_pool_take(net_pool *p, bool wait, const atomic_bool *stop, net_buffer **out)
{
	*out = NULL;
	pthread_mutex_lock(&p->mu);
	int64_t i;
	while ((i = pop_free(p)) < 0) {
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
	p->in_use++;
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
	net_buffer_account((int64_t)p->segment_size);
	*out = b;
	return 0;
}

void net_pool_give_back(net_pool *p, net_buffer *b)
{
	size_t i = (size_t)((struct header *)b - p->headers);
	assert(i < p->nsegments);
	net_buffer_account(-(int64_t)p->segment_size);
	pthread_mutex_lock(&p->mu);
	p->stack[p->nstack++] = (uint32_t)i;
	p->in_use--;
	if (p->waiters)
		pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
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
