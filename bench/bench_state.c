/*
 * bench_state: the keyed-state backends (runtime/state/backend.h) side by
 * side, printing figures only.
 *
 * Updates: WordCount's access, 1 million keys by default (~12-byte keys,
 * 8-byte counts): per record st_find, +1, then the count patched in place
 * (st_value_at) or stored with st_put_at, as the keyed sum does, with
 * st_prefetch 16 records ahead as the task loop does; keys uniform, skewed (index =
 * n * u^3: a few very hot keys, a long tail), and WordCount-like (Zipf(1)
 * over 200 K words, as words in text). Heap, then LMDB behind its
 * write cache (as configured by default, with MDB_WRITEMAP, and with a small
 * cache).
 *
 * Snapshots: a state of about `snapshot MB` (100-byte values), then the cut
 * (synchronous part, on the task thread: heap freezes its maps, LMDB opens a
 * read transaction), a second cut while the first lives (heap: a compact
 * copy of every entry), the scan of the first cut written to a snapshot
 * file, and a restore of that file into a fresh backend, in MB/s of entry
 * bytes.
 *
 * Usage: bench_state [keys] [updates per case] [snapshot MB] [lmdb cache MB]
 *                    [wordcount words]
 * Files go under $TMPDIR (or /tmp) and are removed.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "state/backend.h"
#include "state/heapmap.h"
#include "state/snapshot_file.h"
#include "types/keygroup.h"

#define MAXP 128
#define AHEAD 16

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

struct bkey {
	char k[16];
	uint8_t len;
	uint32_t hash;
};

static struct bkey *keys;

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "bench_state: %s: %s\n", what, msg);
	exit(1);
}

static st_backend *make(const char *type, size_t cache_mb, int writemap)
{
	st_backend_config cfg = {.max_parallelism = MAXP,
				 .name = "bench",
				 .cache_bytes = cache_mb << 20,
				 .lmdb_writemap = writemap};
	cm_err err = {0};
	st_backend *b;
	if (st_backend_new(type, &cfg, &b, &err))
		die(type, err.msg);
	return b;
}

static inline st_key key_at(int state, int i)
{
	return (st_key){.state = state,
			.key_group = (int)(keys[i].hash % MAXP),
			.hash = keys[i].hash,
			.key = keys[i].k,
			.klen = keys[i].len};
}

/* seq[0..n) of key indexes; returns updates/s. */
static double run_updates(st_backend *b, const int *seq, long n)
{
	int s;
	if (st_declare(b, "count", 0, &s))
		die("declare", st_backend_error(b));
	double t0 = now();
	for (long i = 0; i < n; i++) {
		if (i + AHEAD < n)
			st_prefetch(b, s, keys[seq[i + AHEAD]].hash);
		st_key k = key_at(s, seq[i]);
		st_pos pos;
		const void *v;
		size_t vl;
		int64_t c = 0;
		int rc = st_find(b, &k, &pos, &v, &vl);
		if (rc < 0)
			die("find", st_backend_error(b));
		if (rc)
			memcpy(&c, v, sizeof(c));
		c++;
		/* As the keyed sum: same length, so patch in place when the
		 * backend lets us. */
		size_t ml;
		void *mv = rc ? st_value_at(b, &k, &pos, &ml) : NULL;
		if (mv) {
			memcpy(mv, &c, sizeof(c));
			continue;
		}
		if (st_put_at(b, &k, &pos, &c, sizeof(c)))
			die("put_at", st_backend_error(b));
	}
	if (st_flush(b))
		die("flush", st_backend_error(b));
	return (double)n / (now() - t0);
}

/* Zipf(1) over nwords: word i drawn with probability ~ 1/(i+1), as words
 * in text. */
static void zipf_seq(int *seq, long n, int nwords)
{
	double *cdf = malloc(sizeof(double) * (size_t)nwords), sum = 0;
	if (!cdf)
		die("malloc", "out of memory");
	for (int i = 0; i < nwords; i++)
		cdf[i] = (sum += 1.0 / (i + 1));
	for (long i = 0; i < n; i++) {
		double u = (double)(rnd() >> 11) / 9007199254740992.0 * sum;
		int lo = 0, hi = nwords - 1;
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
}

/* The same loop on a bare st_heapmap: what the interface costs. */
static double run_raw(const int *seq, long n)
{
	st_heapmap *m;
	if (st_heapmap_new(&m))
		die("heapmap", "out of memory");
	double t0 = now();
	for (long i = 0; i < n; i++) {
		if (i + AHEAD < n)
			st_heapmap_prefetch(m, keys[seq[i + AHEAD]].hash);
		const struct bkey *k = &keys[seq[i]];
		size_t pos, vl;
		const void *v;
		int64_t c = 0;
		int hit = st_heapmap_find(m, k->k, k->len, k->hash, &pos, &v, &vl);
		if (hit)
			memcpy(&c, v, sizeof(c));
		c++;
		if (hit) {
			memcpy(st_heapmap_value_at(m, pos, &vl), &c, sizeof(c));
			continue;
		}
		if (st_heapmap_put_at(m, pos, k->k, k->len, k->hash, (int)(k->hash % MAXP), &c,
				      sizeof(c)))
			die("put_at", "failed");
	}
	double r = (double)n / (now() - t0);
	st_heapmap_free(m);
	return r;
}

static void updates(int nkeys, long nops, size_t cache_mb, int nwords)
{
	int *uni = malloc(sizeof(int) * (size_t)nops), *skew = malloc(sizeof(int) * (size_t)nops);
	int *zipf = malloc(sizeof(int) * (size_t)nops);
	if (!uni || !skew || !zipf)
		die("malloc", "out of memory");
	for (long i = 0; i < nops; i++) {
		uni[i] = (int)(rnd() % (uint64_t)nkeys);
		double u = (double)(rnd() >> 11) / 9007199254740992.0;
		skew[i] = (int)((double)nkeys * u * u * u);
	}
	zipf_seq(zipf, nops, nwords < nkeys ? nwords : nkeys);
	struct {
		const char *label, *type;
		size_t cache_mb;
		int writemap;
	} cases[] = {
	    {"hashmap", "hashmap", 0, 0},
	    {"lmdb", "lmdb", cache_mb, 0},
	    {"lmdb, MDB_WRITEMAP", "lmdb", cache_mb, 1},
	    {"lmdb, 4 MiB cache", "lmdb", 4, 0},
	};
	printf("updates (find, +1, in place or put_at; prefetch %d ahead), %d keys (wordcount: "
	       "Zipf(1) over "
	       "%d words), %ld updates per run; lmdb cache %zu MiB\n",
	       AHEAD, nkeys, nwords < nkeys ? nwords : nkeys, nops, cache_mb);
	printf("%-20s %14s %14s %14s %10s %10s\n", "backend", "uniform Mup/s", "skewed Mup/s",
	       "wordcount", "flushes", "disk MB");
	double heap_u = 0, heap_s = 0, heap_z = 0;
	printf("%-20s %14.2f %14.2f %14.2f %10s %10s\n", "bare st_heapmap",
	       run_raw(uni, nops) / 1e6, run_raw(skew, nops) / 1e6, run_raw(zipf, nops) / 1e6, "-",
	       "-");
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		st_backend *b = make(cases[c].type, cases[c].cache_mb, cases[c].writemap);
		double u = run_updates(b, uni, nops);
		st_stats st;
		st_stats_get(b, &st);
		st_backend_free(b);
		b = make(cases[c].type, cases[c].cache_mb, cases[c].writemap);
		double s = run_updates(b, skew, nops);
		st_backend_free(b);
		b = make(cases[c].type, cases[c].cache_mb, cases[c].writemap);
		double z = run_updates(b, zipf, nops);
		st_backend_free(b);
		if (c == 0) {
			heap_u = u;
			heap_s = s;
			heap_z = z;
		}
		printf("%-20s %14.2f %14.2f %14.2f %10llu %10.1f", cases[c].label, u / 1e6, s / 1e6,
		       z / 1e6, (unsigned long long)st.flushes, (double)st.disk_bytes / 1e6);
		if (c)
			printf("   (heap is %.1fx / %.1fx / %.1fx)", heap_u / u, heap_s / s,
			       heap_z / z);
		printf("\n");
	}
	free(uni);
	free(skew);
	free(zipf);
}

struct sink {
	uint64_t n, bytes;
};

static void snapshots(double mb, size_t cache_mb)
{
	const size_t vlen = 100;
	long n = (long)(mb * 1e6 / (double)(vlen + 12));
	uint8_t val[100];
	memset(val, 'v', sizeof(val));
	const char *tmp = getenv("TMPDIR");
	char path[4096];
	snprintf(path, sizeof(path), "%s/bench_state-%d.snap", tmp && *tmp ? tmp : "/tmp",
		 (int)getpid());
	printf("\nsnapshot of %ld entries (12-byte keys, %zu-byte values: %.0f MB)\n", n, vlen,
	       (double)n * (double)(vlen + 12) / 1e6);
	printf("%-10s %10s %10s %12s %14s %14s %14s\n", "backend", "fill s", "cut ms", "2nd cut ms",
	       "write MB/s", "file MB", "restore MB/s");
	const char *types[] = {"hashmap", "lmdb"};
	for (int t = 0; t < 2; t++) {
		st_backend *b = make(types[t], cache_mb, 0);
		int s;
		if (st_declare(b, "value", 0, &s))
			die("declare", st_backend_error(b));
		double t0 = now();
		for (long i = 0; i < n; i++) {
			char k[16];
			int kl = snprintf(k, sizeof(k), "k%011ld", i);
			uint32_t h = kg_murmur3_32(k, (size_t)kl, 0);
			st_key key = {.state = s,
				      .key_group = (int)(h % MAXP),
				      .hash = h,
				      .key = k,
				      .klen = (size_t)kl};
			if (st_put(b, &key, val, vlen))
				die("put", st_backend_error(b));
		}
		if (st_flush(b))
			die("flush", st_backend_error(b));
		double fill = now() - t0;
		t0 = now();
		st_cut *c;
		if (st_cut_new(b, &c))
			die("cut", st_backend_error(b));
		double cut = now() - t0;
		/* A second cut while the first lives: heap copies every entry. */
		st_cut *c2;
		t0 = now();
		if (st_cut_new(b, &c2))
			die("second cut", st_backend_error(b));
		double cut2 = now() - t0;
		st_cut_free(c2);
		FILE *f = fopen(path, "w+");
		if (!f)
			die(path, "cannot create");
		cm_err err = {0};
		uint64_t entries;
		t0 = now();
		if (st_snapfile_write(f, path, c, 0, MAXP - 1, &entries, &err))
			die("write", err.msg);
		double wr = now() - t0;
		st_cut_free(c);
		long fsize = ftell(f);
		double bytes = (double)n * (double)(vlen + 12);
		st_backend_free(b);
		st_backend *r = make(types[t], cache_mb, 0);
		t0 = now();
		if (st_snapfile_restore(r, f, path, 0, MAXP - 1, &err) || st_flush(r))
			die("restore", err.msg[0] ? err.msg : st_backend_error(r));
		double rs = now() - t0;
		st_backend_free(r);
		fclose(f);
		unlink(path);
		printf("%-10s %10.2f %10.1f %12.1f %14.0f %14.1f %14.0f\n", types[t], fill,
		       cut * 1e3, cut2 * 1e3, bytes / wr / 1e6, (double)fsize / 1e6,
		       bytes / rs / 1e6);
	}
}

int main(int argc, char **argv)
{
	int nkeys = argc > 1 ? atoi(argv[1]) : 1000000;
	long nops = argc > 2 ? atol(argv[2]) : 5000000;
	double mb = argc > 3 ? atof(argv[3]) : 200;
	size_t cache_mb = argc > 4 ? (size_t)atol(argv[4]) : 32;
	int nwords = argc > 5 ? atoi(argv[5]) : 200000;
	if (nkeys < 1 || nops < 1 || mb < 0)
		die("usage", "bench_state [keys] [updates per case] [snapshot MB] [lmdb cache MB]");
	keys = malloc(sizeof(*keys) * (size_t)nkeys);
	if (!keys)
		die("malloc", "out of memory");
	for (int i = 0; i < nkeys; i++) {
		keys[i].len = (uint8_t)snprintf(keys[i].k, sizeof(keys[i].k), "word%07d", i);
		keys[i].hash = kg_murmur3_32(keys[i].k, keys[i].len, 0);
	}
	updates(nkeys, nops, cache_mb, nwords);
	if (mb > 0)
		snapshots(mb, cache_mb);
	free(keys);
	return 0;
}
