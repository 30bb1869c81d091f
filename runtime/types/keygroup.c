#include "types/keygroup.h"

#include <string.h>

static inline uint32_t rotl32(uint32_t x, int r)
{
	return (x << r) | (x >> (32 - r));
}

/* Blocks are read little endian, as the reference does on x86, so that the
 * hash (and with it every key group) is the same on every host. */
static inline uint32_t load_le32(const uint8_t *p)
{
	uint32_t v;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(&v, p, 4);
#else
	v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
#endif
	return v;
}

uint32_t kg_murmur3_32(const void *data, size_t len, uint32_t seed)
{
	const uint8_t *p = data;
	const uint32_t c1 = 0xcc9e2d51, c2 = 0x1b873593;
	uint32_t h = seed;
	size_t nblocks = len / 4;

	for (size_t i = 0; i < nblocks; i++) {
		uint32_t k = load_le32(p + 4 * i);
		k *= c1;
		k = rotl32(k, 15);
		k *= c2;
		h ^= k;
		h = rotl32(h, 13);
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
		k = rotl32(k, 15);
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

int kg_of_key(const void *key, size_t len, int max_parallelism)
{
	return (int)(kg_murmur3_32(key, len, 0) % (uint32_t)max_parallelism);
}

/*
 * The inverse of kg_operator_index (Flink's
 * computeKeyGroupRangeForOperatorIndex): kg maps to index i exactly when
 * i * maxp <= kg * p < (i + 1) * maxp, so the range is
 * [ceil(i * maxp / p), floor(((i + 1) * maxp - 1) / p)].
 */
void kg_range_for_operator(int max_parallelism, int parallelism, int index, int *first, int *last)
{
	int64_t maxp = max_parallelism, p = parallelism, i = index;
	*first = (int)((i * maxp + p - 1) / p);
	*last = (int)(((i + 1) * maxp - 1) / p);
}
