/*
 * bench_heapmap: WordCount's state access. For every word: encode the key,
 * hash it, get the count, increment it, put it back (the value a varint, as
 * a keyed sum keeps it). Words are drawn with a skew like text (a few very
 * common words, a long tail).
 *
 * The last case mirrors agg_process on a WordCount job: ~10-byte keys,
 * 14-byte values, Zipf(1) access, one st_heapmap_find + st_heapmap_put_at
 * per record, then one pass of st_heapmap_next as at the end of a batch.
 *
 * Usage: bench_heapmap [get/put ops per case, 0 skips] [wordcount updates]
 */
#include <stdint.h>
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

#define WC_SEQ (1u << 22)
#define WC_VLEN 14

struct wc_key {
	uint8_t b[12];
	uint8_t len;
	uint32_t hash;
};

/* Zipf(1) ranks in [0, n): inverts the CDF of 1/(r+1) by binary search. */
static int *zipf_sequence(int n, unsigned len)
{
	double *cdf = malloc(sizeof(double) * (size_t)n);
	int *seq = malloc(sizeof(int) * len);
	if (!cdf || !seq)
		exit(1);
	double sum = 0;
	for (int r = 0; r < n; r++)
		cdf[r] = (sum += 1.0 / (double)(r + 1));
	for (unsigned i = 0; i < len; i++) {
		double u = (double)(rnd() >> 11) * 0x1p-53 * sum;
		int lo = 0, hi = n - 1;
		while (lo < hi) {
			int mid = (lo + hi) / 2;
			if (cdf[mid] < u)
				lo = mid + 1;
			else
				hi = mid;
		}
		seq[i] = lo;
	}
	free(cdf);
	return seq;
}

static void run_wordcount(int nkeys, long nops, int prefetch)
{
	struct wc_key *keys = malloc(sizeof(*keys) * (size_t)nkeys);
	if (!keys)
		exit(1);
	rng = 0x9E3779B97F4A7C15ull; /* every case sees the same keys and order */
	/* 8..12 lowercase letters; the first four spell the index, so that
	 * every key is distinct. Rank r is key r: hashing scatters them. */
	for (int i = 0; i < nkeys; i++) {
		struct wc_key *k = &keys[i];
		k->len = (uint8_t)(8 + rnd() % 5);
		int x = i;
		for (int j = 0; j < 4; j++, x /= 26)
			k->b[j] = (uint8_t)('a' + x % 26);
		for (int j = 4; j < k->len; j++)
			k->b[j] = (uint8_t)('a' + rnd() % 26);
		k->hash = kg_murmur3_32(k->b, k->len, 0);
	}
	int *seq = zipf_sequence(nkeys, WC_SEQ);

	st_heapmap *m;
	if (st_heapmap_new(&m) != 0)
		exit(1);
	double t0 = now();
	for (long i = 0; i < nops; i++) {
		const struct wc_key *k = &keys[seq[i & (WC_SEQ - 1)]];
		/* what agg_process could do with a batch of records in hand */
		if (prefetch)
			st_heapmap_prefetch(m, keys[seq[(i + prefetch) & (WC_SEQ - 1)]].hash);
		const void *v;
		size_t vl, pos;
		uint8_t nv[WC_VLEN] = {0};
		uint64_t count = 0;
		if (st_heapmap_find(m, k->b, k->len, k->hash, &pos, &v, &vl))
			memcpy(&count, v, sizeof(count));
		count++;
		memcpy(nv, &count, sizeof(count));
		if (st_heapmap_put_at(m, pos, k->b, k->len, k->hash, (int)(k->hash % 128), nv,
				      sizeof(nv)) != 0)
			exit(1);
	}
	double t = now() - t0;

	double t1 = now();
	size_t cur = 0, kl, vl;
	const void *kp, *vp;
	int kg;
	uint64_t total = 0;
	while (st_heapmap_next(m, &cur, &kp, &kl, &vp, &vl, &kg)) {
		uint64_t c;
		memcpy(&c, vp, sizeof(c));
		total += c;
	}
	double ti = now() - t1;
	if (total != (uint64_t)nops)
		exit(2);

	printf("wordcount %d keys, %ld find+put_at (prefetch %2d): %5.1f ns/update   iterate "
	       "%.2f ms   %zu entries %.1f MiB\n",
	       nkeys, nops, prefetch, t * 1e9 / (double)nops, ti * 1e3, st_heapmap_size(m),
	       (double)st_heapmap_memory(m) / 1048576.0);
	st_heapmap_free(m);
	free(keys);
	free(seq);
}

int main(int argc, char **argv)
{
	long nops = argc > 1 ? atol(argv[1]) : 20000000;
	long wc = argc > 2 ? atol(argv[2]) : 30000000;
	if (nops > 0) {
		run(1000, nops);
		run(100000, nops);
		run(1000000, nops);
	}
	if (wc > 0) {
		run_wordcount(100000, wc, 0);
		run_wordcount(100000, wc, 4);
		run_wordcount(100000, wc, 8);
		run_wordcount(100000, wc, 16);
	}
	return 0;
}
