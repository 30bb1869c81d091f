/*
 * pool_internal.h — what buffer.c and pool.c share inside runtime/network/.
 */
#ifndef FLINC_NETWORK_POOL_INTERNAL_H
#define FLINC_NETWORK_POOL_INTERNAL_H

#include <stdint.h>

#include "network/buffer.h"

/* Returns pooled buffer b to pool p (net_buffer_free's work for pooled
 * buffers). */
void net_pool_give_back(struct net_pool *p, net_buffer *b);
/* Adds delta to the live-bytes figure of net_buffer_bytes_live. */
void net_buffer_account(int64_t delta);

#endif
