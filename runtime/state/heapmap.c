#include "state/heapmap.h"

#include <flinc/flinc.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HM_MAX_BYTES (16u * 1024u * 1024u)
#define HM_MIN_SLOTS 16
#define HM_LINE 64
#define HM_HUGE (2u * 1024u * 1024u) /* a transparent huge page */

/*
 * A lookup is bound by memory latency, not by probe length: with a slot
 * holding only {hash, entry pointer} a lookup took one miss for the slot and
 * a second, dependent one for the entry. So a slot is one cache line and
 * holds a small entry whole: key and value side by side in the line, beside
 * the hash, key group and lengths. A lookup of such a key touches one line
 * (two when probing crosses into the next, which the hardware prefetcher
 * usually has ready).
 *
 * Entries whose key and value do not fit in the line live out of line as
 * before, in one allocation: a small header, the key, then the value with
 * spare capacity, so that a value that grows a little is rewritten in place.
 * The slot keeps the full hash either way: a probe rejects most
 * non-matching slots without comparing keys, and growing the table needs no
 * rehashing of keys.
 */
enum { HM_EMPTY = 0, HM_INLINE = 1, HM_OUTLINE = 2 };

#define HM_INLINE_BYTES (HM_LINE - 12)
_Static_assert(HM_INLINE_BYTES == ST_HEAPMAP_INLINE_BYTES, "header and slot agree");

struct hm_entry {
	uint32_t klen;
	uint32_t vlen;
	uint32_t vcap;
	unsigned char data[]; /* key bytes, then vcap value bytes */
};

struct hm_slot {
	uint32_t hash;
	int32_t key_group;
	uint8_t kind;  /* HM_EMPTY (zeroed memory), HM_INLINE, HM_OUTLINE */
	uint8_t klen;  /* HM_INLINE: key bytes at data */
	uint8_t vlen;  /* HM_INLINE: value bytes after the key */
	uint8_t gen;   /* the map's generation when the entry was last written */
	/* HM_INLINE: key then value, klen + vlen <= HM_INLINE_BYTES.
	 * HM_OUTLINE: a struct hm_entry pointer, unaligned (see slot_entry). */
	unsigned char data[HM_INLINE_BYTES];
};

_Static_assert(sizeof(struct hm_slot) == HM_LINE, "a slot is one cache line");

struct st_heapmap {
	struct hm_slot *slots; /* HM_LINE-aligned, inside table_mem */
	void *table_mem;
	size_t table_bytes; /* allocation size of table_mem */
	size_t mask;	    /* nslots - 1, nslots a power of two */
	unsigned shift;	    /* 64 - log2(nslots) */
	size_t size;
	size_t entry_bytes; /* sum of out-of-line entry allocation sizes */
	uint8_t gen;	    /* stamped on every entry written (st_heapmap_set_gen) */
	size_t peak;	    /* most entries since the last shrink check */
	size_t dels;	    /* deletes since the last shrink check */
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

/* The pointer sits at offset 12 of the slot so that the inline area can
 * take the rest of the line; memcpy makes the unaligned access defined. */
static inline struct hm_entry *slot_entry(const struct hm_slot *s)
{
	struct hm_entry *e;
	memcpy(&e, s->data, sizeof(e));
	return e;
}

static inline void slot_set_entry(struct hm_slot *s, struct hm_entry *e)
{
	memcpy(s->data, &e, sizeof(e));
}

static inline size_t entry_alloc_size(size_t klen, size_t vcap)
{
	return sizeof(struct hm_entry) + klen + vcap;
}

static inline int fits_inline(size_t klen, size_t vlen)
{
	return klen + vlen <= HM_INLINE_BYTES;
}

static int table_alloc(st_heapmap *m, size_t nslots)
{
	if (nslots > (SIZE_MAX - (HM_LINE - 1)) / sizeof(struct hm_slot))
		return FL_ENOMEM;
	size_t bytes = nslots * sizeof(struct hm_slot);
	void *mem;
	struct hm_slot *slots;
	if (bytes >= HM_HUGE) {
		/*
		 * Slots are hit at random, so a table of many 4 KiB pages
		 * adds a TLB miss (a page walk, itself missing the cache) to
		 * most lookups. On 2 MiB pages a 64 MiB table needs 32 TLB
		 * entries. The advice is only a hint: THP may be off. bytes
		 * is a power of two, a multiple of the alignment as
		 * aligned_alloc requires; memset also faults the pages in
		 * as huge ones.
		 */
		mem = aligned_alloc(HM_HUGE, bytes);
		if (!mem)
			return FL_ENOMEM;
		(void)madvise(mem, bytes, MADV_HUGEPAGE);
		memset(mem, 0, bytes);
		slots = mem;
	} else {
		/* C has no aligned calloc: align by hand, at the cost of at
		 * most one line. */
		bytes += HM_LINE - 1;
		mem = calloc(1, bytes);
		if (!mem)
			return FL_ENOMEM;
		uintptr_t a = ((uintptr_t)mem + (HM_LINE - 1)) & ~(uintptr_t)(HM_LINE - 1);
		slots = (struct hm_slot *)a;
	}
	unsigned bits = 0;
	while (((size_t)1 << bits) < nslots)
		bits++;
	m->slots = slots;
	m->table_mem = mem;
	m->table_bytes = bytes;
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
	if (m->entry_bytes) /* skip the walk when every entry is inline */
		for (size_t i = 0; i <= m->mask; i++)
			if (m->slots[i].kind == HM_OUTLINE)
				free(slot_entry(&m->slots[i]));
	free(m->table_mem);
	free(m);
}

/* Slot holding key, or the empty slot where it would go. */
static inline size_t find_slot(const st_heapmap *m, const void *key, size_t klen, uint32_t hash)
{
	size_t i = slot_of(m, hash);
	for (;;) {
		const struct hm_slot *s = &m->slots[i];
		if (s->kind == HM_EMPTY)
			return i;
		if (s->hash == hash) {
			if (s->kind == HM_INLINE) {
				if (s->klen == klen &&
				    (klen == 0 || memcmp(s->data, key, klen) == 0))
					return i;
			} else {
				const struct hm_entry *e = slot_entry(s);
				if (e->klen == klen &&
				    (klen == 0 || memcmp(e->data, key, klen) == 0))
					return i;
			}
		}
		i = (i + 1) & m->mask;
	}
}

/* The empty slot where a key known to be absent goes. Compares no keys, so
 * it is safe when the key bytes lived in a table that has just been freed. */
static inline size_t free_slot(const st_heapmap *m, uint32_t hash)
{
	size_t i = slot_of(m, hash);
	while (m->slots[i].kind != HM_EMPTY)
		i = (i + 1) & m->mask;
	return i;
}

static inline void slot_value(const struct hm_slot *s, const void **val, size_t *vlen)
{
	if (s->kind == HM_INLINE) {
		*val = s->data + s->klen;
		*vlen = s->vlen;
	} else {
		const struct hm_entry *e = slot_entry(s);
		*val = e->data + e->klen;
		*vlen = e->vlen;
	}
}

void st_heapmap_prefetch(const st_heapmap *m, uint32_t hash)
{
	__builtin_prefetch(&m->slots[slot_of(m, hash)]);
}

int st_heapmap_get(st_heapmap *m, const void *key, size_t klen, uint32_t hash, const void **val,
		   size_t *vlen)
{
	if (klen > HM_MAX_BYTES)
		return 0;
	const struct hm_slot *s = &m->slots[find_slot(m, key, klen, hash)];
	if (s->kind == HM_EMPTY)
		return 0;
	slot_value(s, val, vlen);
	return 1;
}

/* Moves every entry into a table of n slots (a power of two holding them
 * at under 3/4 load). */
static int resize(st_heapmap *m, size_t n)
{
	struct hm_slot *old = m->slots;
	void *old_mem = m->table_mem;
	size_t oldn = m->mask + 1;
	if (table_alloc(m, n) != 0)
		return FL_ENOMEM; /* table_alloc left the map untouched */
	for (size_t i = 0; i < oldn; i++)
		if (old[i].kind != HM_EMPTY)
			m->slots[free_slot(m, old[i].hash)] = old[i];
	free(old_mem);
	return 0;
}

/* Value capacity for a new or regrown out-of-line value: some slack for
 * small values, which are the ones that grow a byte at a time. */
static inline size_t value_cap(size_t vlen)
{
	size_t c = vlen + (vlen >> 3) + 8;
	return c > HM_MAX_BYTES ? HM_MAX_BYTES : c;
}

/* A new out-of-line entry holding key and val, or NULL. */
static struct hm_entry *entry_new(const void *key, size_t klen, const void *val, size_t vlen,
				  size_t *alloc_size)
{
	size_t vcap = value_cap(vlen);
	size_t esz = entry_alloc_size(klen, vcap);
	struct hm_entry *e = malloc(esz);
	if (!e)
		return NULL;
	e->klen = (uint32_t)klen;
	e->vlen = (uint32_t)vlen;
	e->vcap = (uint32_t)vcap;
	if (klen)
		memcpy(e->data, key, klen);
	if (vlen)
		memcpy(e->data + klen, val, vlen);
	*alloc_size = esz;
	return e;
}

static int replace_outline(st_heapmap *m, struct hm_slot *s, const void *val, size_t vlen)
{
	struct hm_entry *e = slot_entry(s);
	if (fits_inline(e->klen, vlen)) {
		/* Back into the line: the key is fast again and the allocation
		 * goes. Copy before freeing, as val may point into e. */
		size_t klen = e->klen;
		memcpy(s->data, e->data, klen);
		if (vlen)
			memcpy(s->data + klen, val, vlen);
		m->entry_bytes -= entry_alloc_size(klen, e->vcap);
		free(e);
		s->kind = HM_INLINE;
		s->klen = (uint8_t)klen;
		s->vlen = (uint8_t)vlen;
		return 0;
	}
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
		e = ne;
		slot_set_entry(s, e);
	}
in_place:
	if (vlen)
		memmove(e->data + e->klen, val, vlen);
	e->vlen = (uint32_t)vlen;
	return 0;
}

static int replace_value(st_heapmap *m, struct hm_slot *s, const void *val, size_t vlen)
{
	if (s->kind == HM_OUTLINE)
		return replace_outline(m, s, val, vlen);
	size_t klen = s->klen;
	if (fits_inline(klen, vlen)) {
		/* val may be (part of) this very value: memmove */
		if (vlen)
			memmove(s->data + klen, val, vlen);
		s->vlen = (uint8_t)vlen;
		return 0;
	}
	/* Outgrew the line. A value this long cannot lie inside the slot, so
	 * val stays valid while the slot is rewritten. */
	size_t esz;
	struct hm_entry *e = entry_new(s->data, klen, val, vlen, &esz);
	if (!e)
		return FL_ENOMEM;
	m->entry_bytes += esz;
	s->kind = HM_OUTLINE;
	s->klen = 0;
	s->vlen = 0;
	slot_set_entry(s, e);
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
	const struct hm_slot *s = &m->slots[*pos];
	if (s->kind == HM_EMPTY)
		return 0;
	slot_value(s, val, vlen);
	return 1;
}

void *st_heapmap_value_at(st_heapmap *m, size_t pos, size_t *vlen)
{
	const void *val;
	m->slots[pos].gen = m->gen; /* the caller writes it in place */
	slot_value(&m->slots[pos], &val, vlen);
	return (void *)val; /* the map's own memory, handed out writable */
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
	if (s->kind != HM_EMPTY) {
		int rc = replace_value(m, s, val, vlen);
		if (rc == 0) {
			s->key_group = key_group;
			s->gen = m->gen;
		}
		return rc;
	}

	/*
	 * Build the slot before growing: key or val may point into the table
	 * (a value read from another key), which growing frees.
	 */
	struct hm_slot ns = {.hash = hash, .key_group = key_group, .gen = m->gen};
	size_t esz = 0;
	if (fits_inline(klen, vlen)) {
		ns.kind = HM_INLINE;
		ns.klen = (uint8_t)klen;
		ns.vlen = (uint8_t)vlen;
		if (klen)
			memcpy(ns.data, key, klen);
		if (vlen)
			memcpy(ns.data + klen, val, vlen);
	} else {
		struct hm_entry *e = entry_new(key, klen, val, vlen, &esz);
		if (!e)
			return FL_ENOMEM;
		ns.kind = HM_OUTLINE;
		slot_set_entry(&ns, e);
	}
	/* Grow before inserting so that the load stays <= 3/4 and every probe
	 * ends at an empty slot. */
	if ((m->size + 1) * 4 > (m->mask + 1) * 3) {
		if (resize(m, (m->mask + 1) * 2) != 0) {
			if (ns.kind == HM_OUTLINE)
				free(slot_entry(&ns));
			return FL_ENOMEM;
		}
		i = free_slot(m, hash);
	}
	m->slots[i] = ns;
	if (++m->size > m->peak)
		m->peak = m->size;
	m->entry_bytes += esz;
	return 0;
}

void st_heapmap_del_at(st_heapmap *m, size_t pos)
{
	if (pos > m->mask || m->slots[pos].kind == HM_EMPTY)
		return;
	struct hm_slot *s = &m->slots[pos];
	if (s->kind == HM_OUTLINE) {
		struct hm_entry *e = slot_entry(s);
		m->entry_bytes -= entry_alloc_size(e->klen, e->vcap);
		free(e);
	}
	/*
	 * Linear probing: an entry at j whose home is h may move into the
	 * hole at i when i lies cyclically in [h, j), i.e. the probe from h
	 * passes i before reaching j. Every probe run ends at an empty slot
	 * (load <= 3/4), so the loop ends.
	 */
	size_t i = pos, j = pos;
	for (;;) {
		j = (j + 1) & m->mask;
		const struct hm_slot *sj = &m->slots[j];
		if (sj->kind == HM_EMPTY)
			break;
		size_t h = slot_of(m, sj->hash);
		if (((j - h) & m->mask) >= ((j - i) & m->mask)) {
			m->slots[i] = *sj;
			i = j;
		}
	}
	memset(&m->slots[i], 0, sizeof(m->slots[i]));
	m->size--;
	/*
	 * Give memory back once the map stays mostly empty (a burst of keys
	 * gone), but not to a map that empties and refills (a window's keys,
	 * cleared when it fires: shrinking and regrowing each time cost more
	 * than the rest, in fresh pages the kernel zeroes). So every n/4
	 * deletes, a map whose peak since the last look stayed under 1/8 load
	 * shrinks to hold that peak at 1/4. Optional: out of memory keeps
	 * the larger table.
	 */
	size_t n = m->mask + 1;
	if (++m->dels < n / 4)
		return;
	size_t peak = m->peak;
	m->dels = 0;
	m->peak = m->size;
	if (n <= HM_MIN_SLOTS || peak * 8 >= n)
		return;
	size_t nn = HM_MIN_SLOTS;
	while (nn < peak * 4)
		nn *= 2;
	if (nn < n)
		(void)resize(m, nn);
}

void st_heapmap_set_gen(st_heapmap *m, uint8_t gen)
{
	m->gen = gen;
}

uint8_t st_heapmap_gen_before(const st_heapmap *m, size_t cursor)
{
	return cursor > 0 && cursor - 1 <= m->mask ? m->slots[cursor - 1].gen : 0;
}

size_t st_heapmap_size(const st_heapmap *m)
{
	return m->size;
}

size_t st_heapmap_memory(const st_heapmap *m)
{
	return sizeof(*m) + m->table_bytes + m->entry_bytes;
}

int st_heapmap_next(const st_heapmap *m, size_t *cursor, const void **key, size_t *klen,
		    const void **val, size_t *vlen, int *key_group)
{
	for (size_t i = *cursor; i <= m->mask; i++) {
		const struct hm_slot *s = &m->slots[i];
		if (s->kind == HM_EMPTY)
			continue;
		*cursor = i + 1;
		if (s->kind == HM_INLINE) {
			*key = s->data;
			*klen = s->klen;
		} else {
			const struct hm_entry *e = slot_entry(s);
			*key = e->data;
			*klen = e->klen;
		}
		slot_value(s, val, vlen);
		if (key_group)
			*key_group = s->key_group;
		return 1;
	}
	*cursor = m->mask + 1;
	return 0;
}
