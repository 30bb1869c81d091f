/*
 * bench_heapmap: WordCount's state access. For every word: encode the key,
 * hash it, get the count, increment it, put it back (the value a varint, as
 * a keyed sum keeps it). Words are drawn with a skew like text (a few very
 * common words, a long tail).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "state/heapmap.h"
#include "types/codec.h"
#include "types/keygroup.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct key {
	uint8_t enc[32];
	size_t len;
	uint32_t hash;
};

static void run(int nkeys, long nops)
{
	struct key *keys = malloc(sizeof(*keys) * (size_t)nkeys);
	int *seq = malloc(sizeof(int) * 1048576);
	if (!keys || !seq)
		exit(1);
	for (int i = 0; i < nkeys; i++) {
		char w[24];
		int n = snprintf(w, sizeof(w), "word%d", i);
		fl_row r = {0};
		fl_row_add_string(&r, w, (size_t)n);
		keys[i].len = row_encode(&r, keys[i].enc, sizeof(keys[i].enc));
		keys[i].hash = kg_murmur3_32(keys[i].enc, keys[i].len, 0);
	}
	/* skewed choice: squaring a uniform number favours small indexes */
	for (int i = 0; i < 1048576; i++) {
		double u = (double)(rnd() % 1000000) / 1000000.0;
		seq[i] = (int)(u * u * u * nkeys);
	}

	st_heapmap *m;
	if (st_heapmap_new(&m) != 0)
		exit(1);
	double t0 = now();
	for (long i = 0; i < nops; i++) {
		const struct key *k = &keys[seq[i & 1048575]];
		const void *v;
		size_t vl;
		uint64_t count = 0;
		if (st_heapmap_get(m, k->enc, k->len, k->hash, &v, &vl))
			row_varint_get(v, vl, &count);
		uint8_t nv[ROW_VARINT_MAX];
		size_t nl = row_varint_put(nv, sizeof(nv), count + 1);
		if (st_heapmap_put(m, k->enc, k->len, k->hash, (int)(k->hash % 128), nv, nl) != 0)
			exit(1);
	}
	double t = now() - t0;

	/* pure lookups of the same sequence */
	double t1 = now();
	uint64_t hits = 0;
	for (long i = 0; i < nops; i++) {
		const struct key *k = &keys[seq[i & 1048575]];
		const void *v;
		size_t vl;
		hits += (uint64_t)st_heapmap_get(m, k->enc, k->len, k->hash, &v, &vl);
	}
	double tg = now() - t1;

	printf("%8d keys: get+put %6.1f M updates/s (%5.1f ns)   get %6.1f M ops/s (%5.1f ns)   "
	       "%zu entries %.1f MiB (%llu)\n",
	       nkeys, (double)nops / t / 1e6, t * 1e9 / (double)nops, (double)nops / tg / 1e6,
	       tg * 1e9 / (double)nops, st_heapmap_size(m),
	       (double)st_heapmap_memory(m) / 1048576.0, (unsigned long long)(hits & 1));
	st_heapmap_free(m);
	free(keys);
	free(seq);
}

int main(int argc, char **argv)
{
	long nops = argc > 1 ? atol(argv[1]) : 20000000;
	run(1000, nops);
	run(100000, nops);
	run(1000000, nops);
	return 0;
}
