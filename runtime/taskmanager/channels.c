/*
 * channels.c — the local channel registry: open addressing with linear
 * probing and backward-shift deletion (no tombstones, so a long-lived
 * TaskManager never degrades).
 */
#include "taskmanager/channels.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include <flinc/flinc.h>

struct slot {
	uint64_t attempt, id;
	net_gate *gate; /* NULL: empty */
	int ch;
};

struct tm_channels {
	pthread_mutex_t mu;
	struct slot *slots;
	size_t cap; /* power of two */
	size_t n;
};

static size_t hash(uint64_t attempt, uint64_t id)
{
	uint64_t h = (id ^ (attempt * 0x9E3779B97F4A7C15ull)) * 0xBF58476D1CE4E5B9ull;
	return (size_t)(h ^ (h >> 31));
}

int tm_channels_new(tm_channels **out)
{
	tm_channels *r = calloc(1, sizeof(*r));
	if (!r)
		return FL_ENOMEM;
	r->cap = 64;
	if (!(r->slots = calloc(r->cap, sizeof(*r->slots)))) {
		free(r);
		return FL_ENOMEM;
	}
	if (pthread_mutex_init(&r->mu, NULL) != 0) {
		free(r->slots);
		free(r);
		return FL_ENOMEM;
	}
	*out = r;
	return 0;
}

void tm_channels_free(tm_channels *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->mu);
	free(r->slots);
	free(r);
}

/* Index of (attempt, id) or of the empty slot where it would go. */
static size_t probe(const tm_channels *r, uint64_t attempt, uint64_t id, bool *found)
{
	size_t mask = r->cap - 1, i = hash(attempt, id) & mask;
	for (;;) {
		const struct slot *s = &r->slots[i];
		if (!s->gate) {
			*found = false;
			return i;
		}
		if (s->id == id && s->attempt == attempt) {
			*found = true;
			return i;
		}
		i = (i + 1) & mask;
	}
}

static int grow(tm_channels *r)
{
	size_t ncap = r->cap * 2;
	struct slot *old = r->slots, *ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return FL_ENOMEM;
	size_t ocap = r->cap;
	r->slots = ns;
	r->cap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		if (old[i].gate) {
			bool found;
			r->slots[probe(r, old[i].attempt, old[i].id, &found)] = old[i];
		}
	}
	free(old);
	return 0;
}

int tm_channels_add(tm_channels *r, uint64_t attempt, uint64_t id, net_gate *g, int ch)
{
	pthread_mutex_lock(&r->mu);
	int rc = 0;
	if ((r->n + 1) * 4 > r->cap * 3)
		rc = grow(r);
	if (rc == 0) {
		bool found;
		size_t i = probe(r, attempt, id, &found);
		if (found) {
			rc = FL_EINVAL;
		} else {
			r->slots[i] = (struct slot){attempt, id, g, ch};
			r->n++;
		}
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

void tm_channels_remove(tm_channels *r, uint64_t attempt, uint64_t id)
{
	pthread_mutex_lock(&r->mu);
	bool found;
	size_t mask = r->cap - 1, i = probe(r, attempt, id, &found);
	if (found) {
		/* Backward shift: move later entries of the run into the hole
		 * when their home slot does not lie between the hole and them. */
		size_t hole = i, j = i;
		for (;;) {
			j = (j + 1) & mask;
			struct slot *s = &r->slots[j];
			if (!s->gate)
				break;
			size_t home = hash(s->attempt, s->id) & mask;
			if (((j - home) & mask) >= ((j - hole) & mask)) {
				r->slots[hole] = *s;
				hole = j;
			}
		}
		r->slots[hole] = (struct slot){0};
		r->n--;
	}
	pthread_mutex_unlock(&r->mu);
}

int tm_channels_find(tm_channels *r, uint64_t attempt, uint64_t id, net_gate **g, int *ch)
{
	pthread_mutex_lock(&r->mu);
	bool found;
	size_t i = probe(r, attempt, id, &found);
	if (found) {
		*g = r->slots[i].gate;
		*ch = r->slots[i].ch;
	}
	pthread_mutex_unlock(&r->mu);
	return found ? 0 : FL_ENOENT;
}

size_t tm_channels_count(tm_channels *r)
{
	pthread_mutex_lock(&r->mu);
	size_t n = r->n;
	pthread_mutex_unlock(&r->mu);
	return n;
}
