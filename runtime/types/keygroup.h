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

/* MurmurHash3 x86_32 of data with the given seed. */
uint32_t kg_murmur3_32(const void *data, size_t len, uint32_t seed);

/* Key group of an encoded key. Precondition: max_parallelism >= 1. */
int kg_of_key(const void *key, size_t len, int max_parallelism);

/* Subtask that owns key group kg. Precondition: 1 <= p <= max_parallelism. */
static inline int kg_operator_index(int kg, int max_parallelism, int parallelism)
{
	return (int)((int64_t)kg * parallelism / max_parallelism);
}

/* The range [*first, *last] of key groups owned by subtask `index`. */
void kg_range_for_operator(int max_parallelism, int parallelism, int index, int *first, int *last);

#endif
