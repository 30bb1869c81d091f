#include "types/keygroup.h"

int kg_of_key(const void *key, size_t len, int max_parallelism)
{
	return kg_of_hash(kg_murmur3_32(key, len, 0), max_parallelism);
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
