/*
 * buffer.c — heap buffers and events; pooled segments go back to their
 * pool (pool.c).
 */
#include "network/buffer.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "network/pool_internal.h"

/* Counts header and payload of heap and pooled buffers in use: the quantity
 * back-pressure must keep bounded. */
static _Atomic int64_t bytes_live;

void net_buffer_account(int64_t delta)
{
	atomic_fetch_add_explicit(&bytes_live, delta, memory_order_relaxed);
}

static net_buffer *alloc_buffer(uint32_t cap)
{
	net_buffer *b = malloc(sizeof(*b) + cap);
	if (!b)
		return NULL;
	b->next = NULL;
	b->kind = NET_BUF_DATA;
	b->event = NET_EV_NONE;
	b->len = 0;
	b->cap = cap;
	b->arg = 0;
	b->data = (uint8_t *)(b + 1);
	b->pool = NULL;
	b->quota = NULL;
	net_buffer_account((int64_t)(sizeof(*b) + cap));
	return b;
}

net_buffer *net_buffer_new(uint32_t cap)
{
	if (cap > NET_MAX_BUFFER)
		return NULL;
	return alloc_buffer(cap);
}

net_buffer *net_buffer_event(enum net_event ev, int64_t arg)
{
	net_buffer *b = alloc_buffer(0);
	if (!b)
		return NULL;
	b->kind = NET_BUF_EVENT;
	b->event = (uint8_t)ev;
	b->arg = arg;
	return b;
}

void net_buffer_free(net_buffer *b)
{
	if (!b)
		return;
	if (b->pool) {
		net_pool_give_back(b->pool, b);
		return;
	}
	net_buffer_account(-(int64_t)(sizeof(*b) + b->cap));
	free(b);
}

int64_t net_buffer_bytes_live(void)
{
	return atomic_load_explicit(&bytes_live, memory_order_relaxed);
}
