/*
 * keygroup.h — key groups, the unit of keyed-state partitioning (Flink's
 * KeyGroupRangeAssignment).
 *
 * A key is hashed from its canonical encoding; its key group is
 * hash % max_parallelism; the operator subtask that owns a key group at
 * parallelism p is kg * p / max_parallelism, so each subtask owns one
 * contiguous range of key groups and rescaling moves whole key groups.
 */
#ifndef FLINC_TYPES_KEYGROUP_H
#define FLINC_TYPES_KEYGROUP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t kg__rotl32(uint32_t x, int r)
{
	return (x << r) | (x >> (32 - r));
}

/* Blocks are read little endian, as the reference does on x86, so that the
 * hash (and with it every key group) is the same on every host. */
static inline uint32_t kg__load_le32(const uint8_t *p)
{
	uint32_t v;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(&v, p, 4);
#else
	v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
#endif
	return v;
}

/* MurmurHash3 x86_32 of data with the given seed. Inline: it runs twice per
 * keyed record (partitioning, state), on keys of a few bytes. */
static inline uint32_t kg_murmur3_32(const void *data, size_t len, uint32_t seed)
{
	const uint8_t *p = data;
	const uint32_t c1 = 0xcc9e2d51, c2 = 0x1b873593;
	uint32_t h = seed;
	size_t nblocks = len / 4;

	for (size_t i = 0; i < nblocks; i++) {
		uint32_t k = kg__load_le32(p + 4 * i);
		k *= c1;
		k = kg__rotl32(k, 15);
		k *= c2;
		h ^= k;
		h = kg__rotl32(h, 13);
		h = h * 5 + 0xe6546b64;
	}

	const uint8_t *tail = p + 4 * nblocks;
	uint32_t k = 0;
	switch (len & 3) {
	case 3:
		k ^= (uint32_t)tail[2] << 16;
		/* fall through */
	case 2:
		k ^= (uint32_t)tail[1] << 8;
		/* fall through */
	case 1:
		k ^= tail[0];
		k *= c1;
		k = kg__rotl32(k, 15);
		k *= c2;
		h ^= k;
	}

	/* The reference mixes in the length as a 32-bit int. */
	h ^= (uint32_t)len;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/* MurmurHash3 x86_32 (seed 0) of the len <= 8 bytes of w, little endian,
 * whose bytes from len on are zero: the same value as kg_murmur3_32 of those
 * bytes, computed from a register. A key just built byte by byte in memory
 * and read back as 32-bit blocks stalls on store forwarding; this does not. */
static inline uint32_t kg_murmur3_32_word(uint64_t w, size_t len)
{
	const uint32_t c1 = 0xcc9e2d51, c2 = 0x1b873593;
	uint32_t h = 0, k;
	size_t left = len;
	while (left >= 4) {
		k = (uint32_t)w * c1;
		k = kg__rotl32(k, 15) * c2;
		h ^= k;
		h = kg__rotl32(h, 13) * 5 + 0xe6546b64;
		w >>= 32;
		left -= 4;
	}
	if (left) {
		k = (uint32_t)w * c1;
		k = kg__rotl32(k, 15) * c2;
		h ^= k;
	}
	h ^= (uint32_t)len;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/* Key group of an encoded key. Precondition: max_parallelism >= 1. */
int kg_of_key(const void *key, size_t len, int max_parallelism);

/* Key group of a key's hash (hash % max_parallelism). The default maximum
 * parallelism, 128, is a power of two: a mask then, not a division. */
static inline int kg_of_hash(uint32_t hash, int max_parallelism)
{
	uint32_t m = (uint32_t)max_parallelism;
	return (int)((m & (m - 1)) == 0 ? hash & (m - 1) : hash % m);
}

/* Subtask that owns key group kg. Precondition: 1 <= p <= max_parallelism. */
static inline int kg_operator_index(int kg, int max_parallelism, int parallelism)
{
	uint32_t m = (uint32_t)max_parallelism;
	if ((m & (m - 1)) == 0)
		return (int)(((int64_t)kg * parallelism) >> __builtin_ctz(m));
	return (int)((int64_t)kg * parallelism / max_parallelism);
}

/* The range [*first, *last] of key groups owned by subtask `index`. */
void kg_range_for_operator(int max_parallelism, int parallelism, int index, int *first, int *last);

#endif
