#include "state/heapmap.h"

#include <flinc/flinc.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HM_MAX_BYTES (16u * 1024u * 1024u)
#define HM_MIN_SLOTS 16

/*
 * One allocation per entry: a small header, the key, then the value with
 * spare capacity, so that a value that grows a little (a counter whose varint
 * gains a byte) is rewritten in place. The slot array holds the full hash
 * beside the entry pointer: a probe rejects most non-matching slots without
 * touching the entry, and growing the table needs no rehashing of keys.
 */
struct hm_entry {
	uint32_t klen;
	uint32_t vlen;
	uint32_t vcap;
	int32_t key_group;
	unsigned char data[]; /* key bytes, then vcap value bytes */
};

struct hm_slot {
	uint32_t hash;
	struct hm_entry *e; /* NULL: empty */
};

struct st_heapmap {
	struct hm_slot *slots;
	size_t mask;	/* nslots - 1, nslots a power of two */
	unsigned shift; /* 64 - log2(nslots) */
	size_t size;
	size_t entry_bytes; /* sum of entry allocation sizes */
};

/*
 * The caller's hash also chooses the key group (hash % max_parallelism), so
 * all keys of one subtask share low bits: with 128 key groups and
 * parallelism 128 every key of a subtask has the same low 7 bits. Fibonacci
 * hashing takes the slot from the high bits of hash * 2^64/phi, which
 * depend on every bit of the hash.
 */
static inline size_t slot_of(const st_heapmap *m, uint32_t hash)
{
	return (size_t)(((uint64_t)hash * 0x9E3779B97F4A7C15ull) >> m->shift);
}

static inline size_t entry_alloc_size(size_t klen, size_t vcap)
{
	return sizeof(struct hm_entry) + klen + vcap;
}

static int table_alloc(st_heapmap *m, size_t nslots)
{
	struct hm_slot *s = calloc(nslots, sizeof(*s));
	if (!s)
		return FL_ENOMEM;
	unsigned bits = 0;
	while (((size_t)1 << bits) < nslots)
		bits++;
	m->slots = s;
	m->mask = nslots - 1;
	m->shift = 64 - bits;
	return 0;
}

int st_heapmap_new(st_heapmap **out)
{
	st_heapmap *m = calloc(1, sizeof(*m));
	if (!m)
		return FL_ENOMEM;
	if (table_alloc(m, HM_MIN_SLOTS) != 0) {
		free(m);
		return FL_ENOMEM;
	}
	*out = m;
	return 0;
}

void st_heapmap_free(st_heapmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i <= m->mask; i++)
		free(m->slots[i].e);
	free(m->slots);
	free(m);
}

/* Slot holding key, or the empty slot where it would go. */
static inline size_t find_slot(const st_heapmap *m, const void *key, size_t klen, uint32_t hash)
{
	size_t i = slot_of(m, hash);
	for (;;) {
		const struct hm_slot *s = &m->slots[i];
		if (!s->e)
			return i;
		if (s->hash == hash && s->e->klen == klen &&
		    (klen == 0 || memcmp(s->e->data, key, klen) == 0))
			return i;
		i = (i + 1) & m->mask;
	}
}

int st_heapmap_get(st_heapmap *m, const void *key, size_t klen, uint32_t hash, const void **val,
		   size_t *vlen)
{
	if (klen > HM_MAX_BYTES)
		return 0;
	struct hm_entry *e = m->slots[find_slot(m, key, klen, hash)].e;
	if (!e)
		return 0;
	*val = e->data + e->klen;
	*vlen = e->vlen;
	return 1;
}

static int grow(st_heapmap *m)
{
	struct hm_slot *old = m->slots;
	size_t oldn = m->mask + 1;
	if (table_alloc(m, oldn * 2) != 0)
		return FL_ENOMEM; /* table_alloc left the map untouched */
	for (size_t i = 0; i < oldn; i++) {
		if (!old[i].e)
			continue;
		size_t j = slot_of(m, old[i].hash);
		while (m->slots[j].e)
			j = (j + 1) & m->mask;
		m->slots[j] = old[i];
	}
	free(old);
	return 0;
}

/* Value capacity for a new or regrown value: some slack for small values,
 * which are the ones that grow a byte at a time. */
static inline size_t value_cap(size_t vlen)
{
	size_t c = vlen + (vlen >> 3) + 8;
	return c > HM_MAX_BYTES ? HM_MAX_BYTES : c;
}

static int replace_value(st_heapmap *m, struct hm_slot *s, const void *val, size_t vlen)
{
	struct hm_entry *e = s->e;
	/*
	 * In place when it fits, unless the value has shrunk to well under a
	 * quarter of its capacity: then shrink, so that one key that once
	 * held a large value does not pin that memory forever.
	 */
	int fits = vlen <= e->vcap;
	int wasteful = e->vcap > 64 && vlen < e->vcap / 4;
	/* A value passed back from st_heapmap_get (or a part of it) lives in
	 * e itself: it can only shrink, and must not move under memmove. */
	uintptr_t vp = (uintptr_t)val, lo = (uintptr_t)e->data, hi = lo + e->klen + e->vcap;
	if (fits && vlen && vp < hi && vp + vlen > lo)
		wasteful = 0;
	if (!fits || wasteful) {
		size_t ncap = value_cap(vlen);
		struct hm_entry *ne = realloc(e, entry_alloc_size(e->klen, ncap));
		if (!ne) {
			if (fits)
				goto in_place; /* shrinking is optional */
			return FL_ENOMEM;
		}
		m->entry_bytes -= entry_alloc_size(ne->klen, ne->vcap);
		m->entry_bytes += entry_alloc_size(ne->klen, ncap);
		ne->vcap = (uint32_t)ncap;
		s->e = e = ne;
	}
in_place:
	if (vlen)
		memmove(e->data + e->klen, val, vlen);
	e->vlen = (uint32_t)vlen;
	return 0;
}

int st_heapmap_find(st_heapmap *m, const void *key, size_t klen, uint32_t hash, size_t *pos,
		    const void **val, size_t *vlen)
{
	if (klen > HM_MAX_BYTES) {
		*pos = SIZE_MAX;
		return 0;
	}
	*pos = find_slot(m, key, klen, hash);
	struct hm_entry *e = m->slots[*pos].e;
	if (!e)
		return 0;
	*val = e->data + e->klen;
	*vlen = e->vlen;
	return 1;
}

int st_heapmap_put(st_heapmap *m, const void *key, size_t klen, uint32_t hash, int key_group,
		   const void *val, size_t vlen)
{
	if (klen > HM_MAX_BYTES)
		return FL_ERANGE;
	return st_heapmap_put_at(m, find_slot(m, key, klen, hash), key, klen, hash, key_group, val,
				 vlen);
}

int st_heapmap_put_at(st_heapmap *m, size_t i, const void *key, size_t klen, uint32_t hash,
		      int key_group, const void *val, size_t vlen)
{
	if (klen > HM_MAX_BYTES || vlen > HM_MAX_BYTES || i > m->mask)
		return FL_ERANGE;
	struct hm_slot *s = &m->slots[i];
	if (s->e) {
		s->e->key_group = key_group;
		return replace_value(m, s, val, vlen);
	}

	size_t vcap = value_cap(vlen);
	size_t esz = entry_alloc_size(klen, vcap);
	struct hm_entry *e = malloc(esz);
	if (!e)
		return FL_ENOMEM;
	/* Grow before inserting so that the load stays <= 3/4 and every probe
	 * ends at an empty slot. */
	if ((m->size + 1) * 4 > (m->mask + 1) * 3) {
		if (grow(m) != 0) {
			free(e);
			return FL_ENOMEM;
		}
		i = find_slot(m, key, klen, hash);
		s = &m->slots[i];
	}
	e->klen = (uint32_t)klen;
	e->vlen = (uint32_t)vlen;
	e->vcap = (uint32_t)vcap;
	e->key_group = key_group;
	if (klen)
		memcpy(e->data, key, klen);
	if (vlen)
		memcpy(e->data + klen, val, vlen);
	s->hash = hash;
	s->e = e;
	m->size++;
	m->entry_bytes += esz;
	return 0;
}

size_t st_heapmap_size(const st_heapmap *m)
{
	return m->size;
}

size_t st_heapmap_memory(const st_heapmap *m)
{
	return sizeof(*m) + (m->mask + 1) * sizeof(struct hm_slot) + m->entry_bytes;
}

int st_heapmap_next(const st_heapmap *m, size_t *cursor, const void **key, size_t *klen,
		    const void **val, size_t *vlen, int *key_group)
{
	for (size_t i = *cursor; i <= m->mask; i++) {
		const struct hm_entry *e = m->slots[i].e;
		if (!e)
			continue;
		*cursor = i + 1;
		*key = e->data;
		*klen = e->klen;
		*val = e->data + e->klen;
		*vlen = e->vlen;
		if (key_group)
			*key_group = e->key_group;
		return 1;
	}
	*cursor = m->mask + 1;
	return 0;
}
