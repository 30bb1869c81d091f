/*
 * channels.h — a TaskManager's registry of local input channels: which gate
 * channel consumes channel id X of job attempt A, so that a producer task on
 * the same TaskManager hands its buffers straight to the consumer's gate.
 *
 * A hash table (open addressing, grown at 3/4 load), so deploying p^2
 * channels costs O(p^2), not O(p^4) as a list scan per channel would.
 *
 * Threads: every function is thread-safe (one internal mutex, held only for
 * the table operation; nothing blocks under it).
 */
#ifndef FLINC_TASKMANAGER_CHANNELS_H
#define FLINC_TASKMANAGER_CHANNELS_H

#include <stddef.h>
#include <stdint.h>

#include "network/gate.h"

typedef struct tm_channels tm_channels;

/* Returns 0 or FL_ENOMEM; *out owned by the caller. */
int tm_channels_new(tm_channels **out);
/* Frees the registry (the gates are not its to free). */
void tm_channels_free(tm_channels *r);

/* Registers (attempt, id) -> (g, ch). Returns 0, FL_EINVAL (already
 * registered) or FL_ENOMEM. g must stay valid until unregistered. */
int tm_channels_add(tm_channels *r, uint64_t attempt, uint64_t id, net_gate *g, int ch);
/* Forgets (attempt, id); nothing if it is not registered. */
void tm_channels_remove(tm_channels *r, uint64_t attempt, uint64_t id);
/* Looks up (attempt, id). Returns 0 with *g and *ch, or FL_ENOENT. */
int tm_channels_find(tm_channels *r, uint64_t attempt, uint64_t id, net_gate **g, int *ch);
/* Number of registered channels. */
size_t tm_channels_count(tm_channels *r);

#endif
