/*
 * Unit tests of the keyed-state backends (runtime/state/backend.h): every
 * behaviour test runs against both implementations, hashmap and lmdb,
 * through the same table; then LMDB specifics (map growth, write cache) and
 * the snapshot file (snapshot_file.h): rescaling through files, corrupt,
 * truncated and foreign files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <flinc/flinc.h>

#include "common/crc32c.h"
#include "state/backend.h"
#include "state/snapshot_file.h"
#include "types/keygroup.h"

#define MAXP 128

static char g_dir[4096];

static int make_dir(void **state)
{
	const char *base = getenv("TMPDIR");
	snprintf(g_dir, sizeof(g_dir), "%s/test_state_backend-XXXXXX",
		 base && *base ? base : "/tmp");
	return mkdtemp(g_dir) ? 0 : -1;
}

/* Every LMDB backend removed its directory: g_dir is empty again. */
static int remove_dir(void **state)
{
	return rmdir(g_dir);
}

static st_backend *new_backend_cfg(const char *type, st_backend_config cfg)
{
	st_backend *b = NULL;
	cm_err err = {0};
	if (!cfg.max_parallelism)
		cfg.max_parallelism = MAXP;
	cfg.dir = g_dir;
	cfg.name = "test";
	int rc = st_backend_new(type, &cfg, &b, &err);
	if (rc)
		fail_msg("st_backend_new(%s): %s", type, err.msg);
	return b;
}

static st_backend *new_backend(const char *type)
{
	return new_backend_cfg(type, (st_backend_config){0});
}

static st_key key_of(int state, const char *k)
{
	size_t n = strlen(k);
	uint32_t h = kg_murmur3_32(k, n, 0);
	return (st_key){
	    .state = state, .key_group = (int)(h % MAXP), .hash = h, .key = k, .klen = n};
}

static void put_s(st_backend *b, int state, const char *k, const char *v)
{
	st_key key = key_of(state, k);
	int rc = st_put(b, &key, v, strlen(v));
	if (rc)
		fail_msg("put %s: %s", k, st_backend_error(b));
}

/* Asserts k holds v (NULL: absent). */
static void expect(st_backend *b, int state, const char *k, const char *v)
{
	st_key key = key_of(state, k);
	const void *got;
	size_t gl;
	int rc = st_get(b, &key, &got, &gl);
	if (!v) {
		if (rc != 0)
			fail_msg("key %s: expected absent, got %d", k, rc);
		return;
	}
	if (rc != 1)
		fail_msg("key %s: expected '%s', got rc %d (%s)", k, v, rc, st_backend_error(b));
	assert_int_equal(gl, strlen(v));
	assert_memory_equal(got, v, gl);
}

static int declare(st_backend *b, const char *name, unsigned flags)
{
	int id = -1;
	assert_int_equal(st_declare(b, name, flags, &id), 0);
	return id;
}

/* -------------------------------------------------- both backends */

static void test_put_get_delete(void **state)
{
	st_backend *b = new_backend(*state);
	int s = declare(b, "counts", 0);
	assert_int_equal(s, 0);
	expect(b, s, "apple", NULL);
	put_s(b, s, "apple", "1");
	put_s(b, s, "pear", "2");
	expect(b, s, "apple", "1");
	put_s(b, s, "apple", "a much longer value that no longer fits in a cache line slot..");
	expect(b, s, "apple", "a much longer value that no longer fits in a cache line slot..");
	st_key k = key_of(s, "apple");
	assert_int_equal(st_delete(b, &k), 0);
	expect(b, s, "apple", NULL);
	expect(b, s, "pear", "2");
	assert_int_equal(st_delete(b, &k), 0); /* absent: fine */
	put_s(b, s, "apple", "3");	       /* revived */
	expect(b, s, "apple", "3");
	/* st_take says whether it removed anything. */
	assert_int_equal(st_take(b, &k), 1);
	expect(b, s, "apple", NULL);
	assert_int_equal(st_take(b, &k), 0);
	put_s(b, s, "apple", "3");
	expect(b, s, "apple", "3");
	/* Bad calls are refused with a message, and change nothing. */
	assert_int_equal(st_put(b, &k, "x", 0), FL_EINVAL);
	assert_non_null(strstr(st_backend_error(b), "counts"));
	st_key bad = key_of(7, "apple");
	assert_int_equal(st_put(b, &bad, "x", 1), FL_EINVAL);
	assert_non_null(strstr(st_backend_error(b), "not declared"));
	/* Each backend's longest key is fine, one byte more is refused naming
	 * the limit: LMDB's key size, a larger bound on the heap. */
	size_t max = b->key_max;
	assert_int_equal(max, strcmp(b->ops->type, "lmdb") == 0 ? ST_KEY_MAX : ST_HEAP_KEY_MAX);
	char *big = malloc(max + 1);
	assert_non_null(big);
	memset(big, 'k', max + 1);
	st_key lk = {.state = s, .key = big, .klen = max + 1};
	lk.hash = kg_murmur3_32(big, max + 1, 0);
	lk.key_group = (int)(lk.hash % MAXP);
	assert_int_equal(st_put(b, &lk, "x", 1), FL_ERANGE);
	char limit[32];
	snprintf(limit, sizeof(limit), "over the %zu bytes", max);
	assert_non_null(strstr(st_backend_error(b), limit));
	lk.klen = max;
	lk.hash = kg_murmur3_32(big, max, 0);
	lk.key_group = (int)(lk.hash % MAXP);
	assert_int_equal(st_put(b, &lk, "x", 1), 0);
	free(big);
	expect(b, s, "apple", "3");
	st_stats st;
	st_stats_get(b, &st);
	assert_int_equal(st.entries, 3);
	st_backend_free(b);
}

static int add_one(void *arg, const void *old, size_t oldlen, const void **nv, size_t *nvlen)
{
	int64_t *buf = arg, v = 0;
	if (old) {
		assert_int_equal(oldlen, sizeof(v));
		memcpy(&v, old, sizeof(v));
	}
	*buf = v + 1;
	*nv = buf;
	*nvlen = *buf >= 5 ? 0 : sizeof(*buf); /* delete when it reaches 5 */
	return 0;
}

/* Records the value of the key want->k (in the cut) in *want->out. */
static int w0_value_fn(void *arg, const st_entry *e)
{
	struct {
		int64_t *out;
		const st_key *k;
	} *want = arg;
	if (e->klen == want->k->klen && memcmp(e->key, want->k->key, e->klen) == 0) {
		assert_int_equal(e->vlen, sizeof(int64_t));
		memcpy(want->out, e->val, sizeof(int64_t));
	}
	return 0;
}

/* The keyed aggregations' pattern: find, compute, then either patch the
 * value in place (st_value_at, same length) or st_put_at, per record. */
static void test_find_put_at_counts(void **state)
{
	st_backend *b = new_backend(*state);
	int s = declare(b, "sum", 0);
	char k[32];
	int in_place = 0;
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 3000; i++) {
			snprintf(k, sizeof(k), "w%d", i);
			st_key key = key_of(s, k);
			st_prefetch(b, s, key.hash);
			st_pos pos;
			const void *v;
			size_t vl;
			int64_t n = 0;
			int rc = st_find(b, &key, &pos, &v, &vl);
			assert_true(rc == 0 || rc == 1);
			assert_int_equal(rc, round > 0);
			if (rc) {
				assert_int_equal(vl, sizeof(n));
				memcpy(&n, v, sizeof(n));
			}
			n++;
			size_t ml;
			uint8_t *mv = rc ? st_value_at(b, &key, &pos, &ml) : NULL;
			if (mv) {
				assert_int_equal(ml, sizeof(n));
				memcpy(mv, &n, sizeof(n));
				in_place++;
				continue;
			}
			assert_int_equal(st_put_at(b, &key, &pos, &n, sizeof(n)), 0);
		}
	/* Every hit was in memory the backend owns: patched in place. */
	assert_int_equal(in_place, 6000);
	for (int i = 0; i < 3000; i++) {
		snprintf(k, sizeof(k), "w%d", i);
		st_key key = key_of(s, k);
		const void *v;
		size_t vl;
		int64_t n;
		assert_int_equal(st_get(b, &key, &v, &vl), 1);
		memcpy(&n, v, sizeof(n));
		assert_int_equal(n, 3);
	}
	/* After a cut, the value is the snapshot's (heap: frozen) or LMDB's
	 * (the cut flushed the cache): not writable in place. */
	st_cut *c;
	assert_int_equal(st_cut_new(b, &c), 0);
	st_key w0 = key_of(s, "w0");
	st_pos pos;
	const void *v;
	size_t vl;
	assert_int_equal(st_find(b, &w0, &pos, &v, &vl), 1);
	assert_null(st_value_at(b, &w0, &pos, &vl));
	int64_t four = 4;
	assert_int_equal(st_put_at(b, &w0, &pos, &four, sizeof(four)), 0);
	/* Now in the backend's own memory again. */
	assert_int_equal(st_find(b, &w0, &pos, &v, &vl), 1);
	assert_non_null(st_value_at(b, &w0, &pos, &vl));
	int64_t cut_value = 0;
	struct {
		int64_t *out;
		const st_key *k;
	} want = {&cut_value, &w0};
	assert_int_equal(st_cut_scan(c, w0.key_group, w0.key_group, w0_value_fn, &want), 0);
	assert_int_equal(cut_value, 3);
	st_cut_free(c);
	assert_int_equal(st_get(b, &w0, &v, &vl), 1);
	memcpy(&four, v, sizeof(four));
	assert_int_equal(four, 4);
	/* st_update: counts up, deletes at 5. */
	st_key key = key_of(s, "u");
	int64_t buf;
	for (int i = 0; i < 4; i++)
		assert_int_equal(st_update(b, &key, add_one, &buf), 0);
	assert_int_equal(st_get(b, &key, &v, &vl), 1);
	assert_int_equal(st_update(b, &key, add_one, &buf), 0);
	assert_int_equal(st_get(b, &key, &v, &vl), 0);
	st_backend_free(b);
}

static void test_namespaces(void **state)
{
	st_backend *b = new_backend(*state);
	int plain = declare(b, "plain", 0);
	int win = declare(b, "window-sum", ST_STATE_NAMESPACED);
	assert_int_equal(declare(b, "plain", 0), plain);
	int id;
	assert_int_equal(st_declare(b, "plain", ST_STATE_NAMESPACED, &id), FL_EINVAL);
	assert_int_equal(st_declare(b, "", 0, &id), FL_EINVAL);

	st_key k = key_of(win, "user1");
	uint64_t w1 = 1000, w2 = 2000;
	k.ns = &w1;
	k.nslen = sizeof(w1);
	assert_int_equal(st_put(b, &k, "a", 1), 0);
	k.ns = &w2;
	assert_int_equal(st_put(b, &k, "bb", 2), 0);
	k.ns = NULL;
	k.nslen = 0;
	assert_int_equal(st_put(b, &k, "ccc", 3), 0); /* empty namespace is its own */
	/* Key bytes that look like key + namespace are another entry. */
	char joined[5 + sizeof(w1)];
	memcpy(joined, "user1", 5);
	memcpy(joined + 5, &w1, sizeof(w1));
	st_key j = {.state = win, .key = joined, .klen = sizeof(joined)};
	j.hash = kg_murmur3_32(joined, sizeof(joined), 0);
	j.key_group = (int)(j.hash % MAXP);
	const void *v;
	size_t vl;
	assert_int_equal(st_get(b, &j, &v, &vl), 0);

	k.ns = &w1;
	k.nslen = sizeof(w1);
	assert_int_equal(st_get(b, &k, &v, &vl), 1);
	assert_int_equal(vl, 1);
	k.ns = &w2;
	assert_int_equal(st_get(b, &k, &v, &vl), 1);
	assert_int_equal(vl, 2);
	assert_int_equal(st_delete(b, &k), 0);
	assert_int_equal(st_get(b, &k, &v, &vl), 0);
	k.ns = NULL;
	k.nslen = 0;
	assert_int_equal(st_get(b, &k, &v, &vl), 1);
	assert_int_equal(vl, 3);
	/* Same key in another state is apart; a namespace on a plain state
	 * is refused. */
	st_key p = key_of(plain, "user1");
	assert_int_equal(st_get(b, &p, &v, &vl), 0);
	p.ns = &w1;
	p.nslen = sizeof(w1);
	assert_int_equal(st_put(b, &p, "x", 1), FL_EINVAL);
	assert_non_null(strstr(st_backend_error(b), "plain"));
	st_backend_free(b);
}

struct collect {
	int n;
	int last_kg;
	int kg_first, kg_last;
	int out_of_order;
	int by_state[4];
};

static int collect_fn(void *arg, const st_entry *e)
{
	struct collect *c = arg;
	if (e->key_group < c->last_kg || e->key_group < c->kg_first || e->key_group > c->kg_last)
		c->out_of_order++;
	if ((int)(kg_murmur3_32(e->key, e->klen, 0) % MAXP) != e->key_group)
		c->out_of_order++;
	c->last_kg = e->key_group;
	c->n++;
	c->by_state[e->state & 3]++;
	return 0;
}

static void test_iterate_range_in_order(void **state)
{
	st_backend *b = new_backend(*state);
	int s0 = declare(b, "a", 0), s1 = declare(b, "b", ST_STATE_NAMESPACED);
	int want[MAXP] = {0};
	char k[32];
	for (int i = 0; i < 5000; i++) {
		snprintf(k, sizeof(k), "key-%d", i);
		put_s(b, s0, k, "v");
		st_key key = key_of(s1, k);
		key.ns = "ns";
		key.nslen = 2;
		assert_int_equal(st_put(b, &key, "w", 1), 0);
		want[key.key_group] += 2;
	}
	/* Deleted entries are not iterated. */
	for (int i = 0; i < 5000; i += 10) {
		snprintf(k, sizeof(k), "key-%d", i);
		st_key key = key_of(s0, k);
		assert_int_equal(st_delete(b, &key), 0);
		want[key.key_group]--;
	}
	int ranges[][2] = {{0, MAXP - 1}, {10, 50}, {77, 77}, {127, 127}};
	for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
		struct collect c = {
		    .last_kg = -1, .kg_first = ranges[r][0], .kg_last = ranges[r][1]};
		assert_int_equal(st_iterate(b, c.kg_first, c.kg_last, collect_fn, &c), 0);
		int expect_n = 0;
		for (int g = c.kg_first; g <= c.kg_last; g++)
			expect_n += want[g];
		assert_int_equal(c.n, expect_n);
		assert_int_equal(c.out_of_order, 0);
	}
	struct collect c = {.last_kg = -1, .kg_last = MAXP - 1};
	assert_int_equal(st_iterate(b, 0, MAXP - 1, collect_fn, &c), 0);
	assert_int_equal(c.by_state[0], 4500);
	assert_int_equal(c.by_state[1], 5000);
	assert_int_equal(st_iterate(b, 5, 4, collect_fn, &c), FL_EINVAL);
	assert_int_equal(st_iterate(b, 0, MAXP, collect_fn, &c), FL_EINVAL);
	st_backend_free(b);
}

static void test_clear(void **state)
{
	st_backend *b = new_backend(*state);
	int s = declare(b, "x", 0);
	put_s(b, s, "a", "1");
	assert_int_equal(st_flush(b), 0);
	put_s(b, s, "b", "2");
	assert_int_equal(st_clear(b), 0);
	expect(b, s, "a", NULL);
	expect(b, s, "b", NULL);
	assert_int_equal(declare(b, "x", 0), s); /* states stay declared */
	put_s(b, s, "a", "3");
	expect(b, s, "a", "3");
	st_backend_free(b);
}

/* ----------------------------------------------------------- snapshots */

static int value_of(int i, char *buf, size_t cap)
{
	/* Some values are long (out of line on the heap). */
	return snprintf(
	    buf, cap,
	    i % 7 ? "v%d" : "long-value-%d-................................................", i);
}

/* Fills the keys of key groups [first, last] out of 0..n-1 into b. */
static void fill_range(st_backend *b, int n, int first, int last)
{
	int s = declare(b, "count", 0), w = declare(b, "window", ST_STATE_NAMESPACED);
	char k[32], v[96];
	for (int i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "key-%d", i);
		st_key key = key_of(s, k);
		if (key.key_group < first || key.key_group > last)
			continue;
		value_of(i, v, sizeof(v));
		assert_int_equal(st_put(b, &key, v, strlen(v)), 0);
		if (i % 3 == 0) {
			key.state = w;
			uint32_t ns = (uint32_t)i;
			key.ns = &ns;
			key.nslen = sizeof(ns);
			assert_int_equal(st_put(b, &key, "w", 1), 0);
		}
	}
}

/* Checks that b holds exactly the entries fill_range puts in [first, last]. */
static void check_range(st_backend *b, int n, int first, int last)
{
	int s = declare(b, "count", 0), w = declare(b, "window", ST_STATE_NAMESPACED);
	char k[32], v[96];
	int want = 0;
	for (int i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "key-%d", i);
		st_key key = key_of(s, k);
		if (key.key_group < first || key.key_group > last) {
			expect(b, s, k, NULL);
			continue;
		}
		value_of(i, v, sizeof(v));
		expect(b, s, k, v);
		want++;
		key.state = w;
		uint32_t ns = (uint32_t)i;
		key.ns = &ns;
		key.nslen = sizeof(ns);
		const void *got;
		size_t gl;
		assert_int_equal(st_get(b, &key, &got, &gl), i % 3 == 0);
		want += i % 3 == 0;
	}
	struct collect c = {.last_kg = -1, .kg_last = MAXP - 1};
	assert_int_equal(st_iterate(b, 0, MAXP - 1, collect_fn, &c), 0);
	assert_int_equal(c.n, want);
	assert_int_equal(c.out_of_order, 0);
}

static FILE *write_snapshot(st_backend *b, int first, int last)
{
	FILE *f = tmpfile();
	assert_non_null(f);
	st_cut *c;
	assert_int_equal(st_cut_new(b, &c), 0);
	cm_err err = {0};
	uint64_t n = 0;
	int rc = st_snapfile_write(f, "chk-1/op-0", c, first, last, &n, &err);
	if (rc)
		fail_msg("write: %s", err.msg);
	st_cut_free(c);
	return f;
}

static void restore_from(st_backend *b, FILE *f, int first, int last)
{
	cm_err err = {0};
	int rc = st_snapfile_restore(b, f, "chk-1/op", first, last, &err);
	if (rc)
		fail_msg("restore: %s", err.msg);
}

/* Split 128 key groups 2 ways, snapshot each to a file, restore at 4 and at
 * 1 (into both backend types): the union equals the original. */
static void test_snapshot_rescale(void **state)
{
	const char *types[] = {"hashmap", "lmdb"};
	const int n = 20000;
	FILE *files[2];
	for (int i = 0; i < 2; i++) {
		int first, last;
		kg_range_for_operator(MAXP, 2, i, &first, &last);
		st_backend *b = new_backend(*state);
		fill_range(b, n, first, last);
		files[i] = write_snapshot(b, first, last);
		st_backend_free(b);
	}
	for (int t = 0; t < 2; t++) {
		for (int i = 0; i < 4; i++) {
			int first, last;
			kg_range_for_operator(MAXP, 4, i, &first, &last);
			st_backend *r = new_backend(types[t]);
			for (int f = 0; f < 2; f++)
				restore_from(r, files[f], first, last);
			check_range(r, n, first, last);
			st_backend_free(r);
		}
		st_backend *one = new_backend(types[t]);
		for (int f = 0; f < 2; f++)
			restore_from(one, files[f], 0, MAXP - 1);
		check_range(one, n, 0, MAXP - 1);
		st_backend_free(one);
	}
	fclose(files[0]);
	fclose(files[1]);
}

struct cut_check {
	st_backend *live; /* NULL when scanned off-thread */
	int n, bad;
	int state;
};

/* Every entry of the cut of "count" holds "old-<i>". */
static int old_value_fn(void *arg, const st_entry *e)
{
	struct cut_check *c = arg;
	if (e->state != c->state)
		return 0;
	char k[32], v[32];
	assert_true(e->klen < sizeof(k));
	memcpy(k, e->key, e->klen);
	k[e->klen] = 0;
	int i = atoi(k + 4);
	snprintf(v, sizeof(v), "old-%d", i);
	if (e->vlen != strlen(v) || memcmp(e->val, v, e->vlen) != 0)
		c->bad++;
	c->n++;
	return 0;
}

static void mutate_after_cut(st_backend *b, int s, int n)
{
	char k[32], v[32];
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < n + 2000; i++) {
			snprintf(k, sizeof(k), "key-%d", i);
			st_key key = key_of(s, k);
			if (i % 5 == 0) {
				assert_int_equal(st_delete(b, &key), 0);
				continue;
			}
			snprintf(v, sizeof(v), "new-%d-%d", round, i);
			assert_int_equal(st_put(b, &key, v, strlen(v)), 0);
		}
	assert_int_equal(st_flush(b), 0);
}

static void fill_old(st_backend *b, int s, int n)
{
	char k[32], v[32];
	for (int i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "key-%d", i);
		snprintf(v, sizeof(v), "old-%d", i);
		put_s(b, s, k, v);
	}
}

/* The scan sees the state at the cut, not the updates after it. */
static void test_cut_is_consistent(void **state)
{
	st_backend *b = new_backend_cfg(*state, (st_backend_config){.cache_bytes = 64 * 1024});
	int s = declare(b, "count", 0);
	const int n = 5000;
	fill_old(b, s, n);
	st_cut *c;
	assert_int_equal(st_cut_new(b, &c), 0);
	mutate_after_cut(b, s, n);
	/* Taken while the cut holds it (a tombstone on the heap): there
	 * once, then gone; the cut still has its old value. */
	st_key k7 = key_of(s, "key-7");
	assert_int_equal(st_take(b, &k7), 1);
	assert_int_equal(st_take(b, &k7), 0);
	struct cut_check cc = {.state = s};
	assert_int_equal(st_cut_scan(c, 0, MAXP - 1, old_value_fn, &cc), 0);
	assert_int_equal(cc.n, n);
	assert_int_equal(cc.bad, 0);
	st_cut_free(c);
	expect(b, s, "key-1", "new-2-1");
	expect(b, s, "key-5", NULL);
	expect(b, s, "key-7", NULL);
	st_backend_free(b);
}

static void *scan_thread(void *arg)
{
	st_cut *c = arg;
	struct cut_check *cc = calloc(1, sizeof(*cc));
	if (!cc)
		return NULL;
	/* Several passes, so that the scan overlaps the task's updates. */
	for (int pass = 0; pass < 4; pass++)
		if (st_cut_scan(c, 0, MAXP - 1, old_value_fn, cc) != 0)
			cc->bad++;
	st_cut_free(c);
	return cc;
}

/* As above, with the scan on another thread while the task updates. */
static void test_cut_scanned_on_another_thread(void **state)
{
	st_backend *b = new_backend_cfg(*state, (st_backend_config){.cache_bytes = 64 * 1024});
	int s = declare(b, "count", 0);
	const int n = 5000;
	fill_old(b, s, n);
	st_cut *c;
	assert_int_equal(st_cut_new(b, &c), 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, scan_thread, c), 0);
	mutate_after_cut(b, s, n);
	void *ret;
	assert_int_equal(pthread_join(th, &ret), 0);
	struct cut_check *cc = ret;
	assert_non_null(cc);
	assert_int_equal(cc->n, 4 * n);
	assert_int_equal(cc->bad, 0);
	free(cc);
	/* Freed on the other thread: the map may grow again, flushes write. */
	mutate_after_cut(b, s, n);
	st_stats st;
	st_stats_get(b, &st);
	assert_int_equal(st.cache_entries, 0);
	st_backend_free(b);
}

/* What key-<i> holds after `phase` rounds of overlap_change (NULL: absent). */
static const char *overlap_expect(int i, int phase, char *buf, size_t cap)
{
	if (phase == 0)
		return i < 3000 ? (snprintf(buf, cap, "old-%d", i), buf) : NULL;
	if (i >= 3000 || i % 3 == 1)
		return snprintf(buf, cap, "new-%d", i), buf;
	if (i % 3 == 0)
		return NULL;
	return snprintf(buf, cap, phase == 1 ? "old-%d" : "newer-%d", i), buf;
}

static void overlap_change(st_backend *b, int s, int phase)
{
	char k[32], v[32];
	for (int i = 0; i < 3500; i++) {
		snprintf(k, sizeof(k), "key-%d", i);
		st_key key = key_of(s, k);
		if (phase == 1 && i < 3000 && i % 3 == 0) {
			assert_int_equal(st_delete(b, &key), 0);
		} else if (phase == 1 && (i >= 3000 || i % 3 == 1)) {
			snprintf(v, sizeof(v), "new-%d", i);
			assert_int_equal(st_put(b, &key, v, strlen(v)), 0);
		} else if (phase == 2 && i < 3000 && i % 3 == 2) {
			snprintf(v, sizeof(v), "newer-%d", i);
			assert_int_equal(st_put(b, &key, v, strlen(v)), 0);
		}
	}
}

struct phase_check {
	int phase, n, bad;
};

static int phase_fn(void *arg, const st_entry *e)
{
	struct phase_check *c = arg;
	char k[32], want[32];
	assert_true(e->klen < sizeof(k));
	memcpy(k, e->key, e->klen);
	k[e->klen] = 0;
	const char *w = overlap_expect(atoi(k + 4), c->phase, want, sizeof(want));
	if (!w || e->vlen != strlen(w) || memcmp(e->val, w, e->vlen) != 0)
		c->bad++;
	c->n++;
	return 0;
}

static void expect_phase(st_backend *b, int s, int phase)
{
	char k[32], want[32];
	for (int i = 0; i < 3500; i++) {
		snprintf(k, sizeof(k), "key-%d", i);
		expect(b, s, k, overlap_expect(i, phase, want, sizeof(want)));
	}
	struct phase_check pc = {.phase = phase};
	assert_int_equal(st_iterate(b, 0, MAXP - 1, phase_fn, &pc), 0);
	assert_int_equal(pc.bad, 0);
	assert_int_equal(pc.n, phase == 0 ? 3000 : 2500);
}

static void scan_phase(st_cut *c, int phase)
{
	struct phase_check pc = {.phase = phase};
	assert_int_equal(st_cut_scan(c, 0, MAXP - 1, phase_fn, &pc), 0);
	assert_int_equal(pc.bad, 0);
	assert_int_equal(pc.n, phase == 0 ? 3000 : 2500);
}

/* Two cuts alive at once, changes before and after each (heap: the first
 * freezes, the second copies the merged view); reads and iterate see the
 * latest state throughout, and the changes survive the first cut's end. */
static void test_overlapping_cuts(void **state)
{
	st_backend *b = new_backend(*state);
	int s = declare(b, "count", 0);
	fill_old(b, s, 3000);
	st_cut *c1, *c2;
	assert_int_equal(st_cut_new(b, &c1), 0);
	overlap_change(b, s, 1);
	expect_phase(b, s, 1);
	assert_int_equal(st_cut_new(b, &c2), 0);
	overlap_change(b, s, 2);
	expect_phase(b, s, 2);
	scan_phase(c1, 0);
	scan_phase(c2, 1);
	st_cut_free(c1);
	expect_phase(b, s, 2); /* heap: folds the changes back here */
	scan_phase(c2, 1);
	st_cut_free(c2);
	expect_phase(b, s, 2);
	/* A third cut after both: sees the latest. */
	st_cut *c3;
	assert_int_equal(st_cut_new(b, &c3), 0);
	scan_phase(c3, 2);
	st_cut_free(c3);
	expect_phase(b, s, 2);
	st_backend_free(b);
}

/* st_clear while a cut lives: the backend is empty, the cut is not. */
static void test_clear_during_cut(void **state)
{
	st_backend *b = new_backend(*state);
	int s = declare(b, "count", 0);
	fill_old(b, s, 3000);
	st_cut *c;
	assert_int_equal(st_cut_new(b, &c), 0);
	assert_int_equal(st_clear(b), 0);
	expect(b, s, "key-1", NULL);
	put_s(b, s, "key-2", "again");
	scan_phase(c, 0);
	st_cut_free(c);
	expect(b, s, "key-1", NULL);
	expect(b, s, "key-2", "again");
	struct collect cl = {.last_kg = -1, .kg_last = MAXP - 1};
	assert_int_equal(st_iterate(b, 0, MAXP - 1, collect_fn, &cl), 0);
	assert_int_equal(cl.n, 1);
	st_backend_free(b);
}

/* ------------------------------------------------------------ LMDB only */

static void test_lmdb_map_grows_from_tiny(void **state)
{
	st_backend *b = new_backend_cfg(
	    "lmdb", (st_backend_config){.map_bytes = 64 * 1024, .cache_bytes = 64 * 1024});
	int s = declare(b, "big", 0);
	char k[32], v[200];
	memset(v, 'x', sizeof(v));
	const int n = 30000; /* ~7 MB of entries into a 64 KiB map */
	for (int i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "key-%d", i);
		st_key key = key_of(s, k);
		assert_int_equal(st_put(b, &key, v, sizeof(v)), 0);
	}
	assert_int_equal(st_flush(b), 0);
	st_stats st;
	st_stats_get(b, &st);
	assert_true(st.map_grows >= 6);
	assert_true(st.map_bytes >= 64 * 1024 * 64);
	assert_int_equal(st.entries, n);
	for (int i = 0; i < n; i += 97) {
		snprintf(k, sizeof(k), "key-%d", i);
		st_key key = key_of(s, k);
		const void *got;
		size_t gl;
		assert_int_equal(st_get(b, &key, &got, &gl), 1);
		assert_int_equal(gl, sizeof(v));
	}
	st_backend_free(b);
}

/* While a cut pins the map it cannot grow: entries wait in the cache, and
 * go to LMDB once the cut is freed. */
static void test_lmdb_full_map_waits_for_cut(void **state)
{
	st_backend *b = new_backend_cfg(
	    "lmdb", (st_backend_config){.map_bytes = 64 * 1024, .cache_bytes = 64 * 1024});
	int s = declare(b, "big", 0);
	put_s(b, s, "first", "1");
	st_cut *c;
	assert_int_equal(st_cut_new(b, &c), 0);
	char k[32], v[200];
	memset(v, 'y', sizeof(v));
	for (int i = 0; i < 3000; i++) {
		snprintf(k, sizeof(k), "key-%d", i);
		st_key key = key_of(s, k);
		assert_int_equal(st_put(b, &key, v, sizeof(v)), 0);
	}
	st_stats st;
	st_stats_get(b, &st);
	assert_true(st.cache_entries > 0);
	/* A second cut cannot be consistent without the cache: refused. */
	st_cut *c2;
	assert_int_equal(st_cut_new(b, &c2), FL_ERANGE);
	assert_non_null(strstr(st_backend_error(b), "map is full"));
	struct cut_check cc = {.state = 99};
	assert_int_equal(st_cut_scan(c, 0, MAXP - 1, old_value_fn, &cc), 0);
	st_cut_free(c);
	assert_int_equal(st_flush(b), 0);
	st_stats_get(b, &st);
	assert_int_equal(st.cache_entries, 0);
	assert_int_equal(st.entries, 3001);
	st_backend_free(b);
}

static void test_lmdb_cache_flushes_when_full(void **state)
{
	st_backend *b = new_backend_cfg("lmdb", (st_backend_config){.cache_bytes = 64 * 1024});
	int s = declare(b, "count", 0);
	/* A hot key updated many times never reaches LMDB. */
	st_key hot = key_of(s, "hot");
	for (int64_t i = 1; i <= 100000; i++) {
		st_pos pos;
		const void *v;
		size_t vl;
		assert_true(st_find(b, &hot, &pos, &v, &vl) >= 0);
		assert_int_equal(st_put_at(b, &hot, &pos, &i, sizeof(i)), 0);
	}
	st_stats st;
	st_stats_get(b, &st);
	assert_int_equal(st.flushes, 0);
	assert_int_equal(st.cache_entries, 1);
	/* Many keys overflow 64 KiB: flushed in a few transactions, and every
	 * value stays readable from the cache or from LMDB. */
	char k[32];
	for (int i = 0; i < 20000; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		put_s(b, s, k, k);
	}
	st_stats_get(b, &st);
	assert_true(st.flushes >= 2);
	assert_true(st.flushes < 200);
	assert_true(st.memory_bytes < 1024 * 1024);
	for (int i = 0; i < 20000; i += 7) {
		snprintf(k, sizeof(k), "k%d", i);
		expect(b, s, k, k);
	}
	const void *v;
	size_t vl;
	int64_t last;
	assert_int_equal(st_get(b, &hot, &v, &vl), 1);
	memcpy(&last, v, sizeof(last));
	assert_int_equal(last, 100000);
	st_backend_free(b);
}

/* Deletes are tombstones in the cache until flushed, and hide committed
 * values meanwhile. */
static void test_lmdb_tombstones(void **state)
{
	st_backend *b = new_backend("lmdb");
	int s = declare(b, "x", 0);
	put_s(b, s, "a", "1");
	put_s(b, s, "b", "2");
	assert_int_equal(st_flush(b), 0);
	st_key a = key_of(s, "a"), z = key_of(s, "never");
	assert_int_equal(st_delete(b, &a), 0);
	assert_int_equal(st_delete(b, &z), 0);
	expect(b, s, "a", NULL);
	st_pos pos;
	const void *v;
	size_t vl;
	assert_int_equal(st_find(b, &a, &pos, &v, &vl), 0);
	st_stats st;
	st_stats_get(b, &st);
	assert_int_equal(st.cache_entries, 2);
	struct collect c = {.last_kg = -1, .kg_last = MAXP - 1};
	assert_int_equal(st_iterate(b, 0, MAXP - 1, collect_fn, &c), 0); /* flushes */
	assert_int_equal(c.n, 1);
	expect(b, s, "a", NULL);
	expect(b, s, "b", "2");
	st_backend_free(b);
}

/* Heap: many deletes give the map's memory back; the live entries survive. */
static void test_heap_tombstones_compact(void **state)
{
	st_backend *b = new_backend("hashmap");
	int s = declare(b, "x", 0);
	char k[32];
	for (int i = 0; i < 20000; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		put_s(b, s, k, k);
	}
	st_stats before;
	st_stats_get(b, &before);
	for (int i = 0; i < 20000; i++) {
		if (i % 10 == 0)
			continue;
		snprintf(k, sizeof(k), "k%d", i);
		st_key key = key_of(s, k);
		assert_int_equal(st_delete(b, &key), 0);
	}
	/* The map stays mostly empty while keys come and go: its memory
	 * comes back (not at once: a map that refills keeps its table). */
	for (int i = 0; i < 20000; i++) {
		put_s(b, s, "tmp", "t");
		st_key key = key_of(s, "tmp");
		assert_int_equal(st_delete(b, &key), 0);
	}
	st_stats after;
	st_stats_get(b, &after);
	assert_int_equal(after.entries, 2000);
	assert_true(after.memory_bytes < before.memory_bytes);
	for (int i = 0; i < 20000; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		expect(b, s, k, i % 10 == 0 ? k : NULL);
	}
	st_backend_free(b);
}

/* The directory is under the configured root and gone after free. */
static void test_lmdb_directory_removed(void **state)
{
	st_backend *b = new_backend("lmdb");
	DIR *d = opendir(g_dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += strncmp(de->d_name, "flinc-state-test-", 17) == 0;
	closedir(d);
	assert_int_equal(n, 1);
	st_backend_free(b);
	/* remove_dir (group teardown) fails if anything is left. */
	st_backend_config cfg = {.max_parallelism = MAXP, .dir = "/nonexistent/dir"};
	cm_err err = {0};
	st_backend *x = NULL;
	assert_int_equal(st_lmdb_backend_new(&cfg, &x, &err), FL_ENOENT);
	assert_null(x);
	assert_non_null(strstr(err.msg, "/nonexistent/dir"));
	assert_non_null(strstr(err.msg, "taskmanager.state.local.root-dirs"));
}

/* ------------------------------------------------------ snapshot files */

static size_t file_bytes(FILE *f, uint8_t **out)
{
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	assert_true(n > 0);
	uint8_t *p = malloc((size_t)n);
	assert_non_null(p);
	rewind(f);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	*out = p;
	return (size_t)n;
}

static int count_fn(void *arg, const st_entry *e)
{
	(*(int *)arg)++;
	return 0;
}

/* Opens and reads all of p[0..n) as a snapshot file. */
static int read_bytes(const uint8_t *p, size_t n, cm_err *err)
{
	FILE *f = tmpfile();
	assert_non_null(f);
	if (n)
		assert_int_equal(fwrite(p, 1, n, f), n);
	st_snapfile *r;
	int rc = st_snapfile_open(f, "chk-7/op-3", &r, err);
	if (rc == 0) {
		int cnt = 0;
		rc = st_snapfile_read(r, 0, MAXP - 1, count_fn, &cnt, err);
		st_snapfile_close(r);
	}
	fclose(f);
	return rc;
}

static void test_pick_local_dir(void **state)
{
	char out[16];
	assert_int_equal(st_pick_local_dir(NULL, 3, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(st_pick_local_dir(" , ", 3, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(st_pick_local_dir("/a", 7, out, sizeof(out)), 0);
	assert_string_equal(out, "/a");
	assert_int_equal(st_pick_local_dir(" /a , /bb,,/c ", 0, out, sizeof(out)), 0);
	assert_string_equal(out, "/a");
	assert_int_equal(st_pick_local_dir(" /a , /bb,,/c ", 1, out, sizeof(out)), 0);
	assert_string_equal(out, "/bb");
	assert_int_equal(st_pick_local_dir(" /a , /bb,,/c ", 5, out, sizeof(out)), 0);
	assert_string_equal(out, "/c");
	assert_int_equal(st_pick_local_dir("/a-very-long-directory", 0, out, sizeof(out)),
			 FL_ERANGE);
	assert_string_equal(out, "");
}

/* The file format's checksum is exactly CRC-32C (common/crc32c.h). */
static void test_crc32c_known_value(void **state)
{
	assert_int_equal(cm_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(cm_crc32c(cm_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
	assert_int_equal(cm_crc32c(0, "", 0), 0);
}

static void test_file_refuses_corrupt_truncated_foreign(void **state)
{
	st_backend *b = new_backend("hashmap");
	fill_range(b, 200, 0, MAXP - 1);
	FILE *f = write_snapshot(b, 0, MAXP - 1);
	st_backend_free(b);
	uint8_t *p;
	size_t n = file_bytes(f, &p);
	fclose(f);
	cm_err err = {0};
	assert_int_equal(read_bytes(p, n, &err), 0);

	/* Every truncation is refused, naming the file. */
	for (size_t len = 0; len < n; len++) {
		cm_err_clear(&err);
		if (read_bytes(p, len, &err) != FL_EPROTO)
			fail_msg("truncated to %zu of %zu bytes: accepted", len, n);
		assert_non_null(strstr(err.msg, "chk-7/op-3"));
	}
	/* Every flipped byte is refused. */
	for (size_t i = 0; i < n; i++) {
		p[i] ^= 0x20;
		cm_err_clear(&err);
		if (read_bytes(p, n, &err) != FL_EPROTO)
			fail_msg("byte %zu of %zu flipped: accepted", i, n);
		p[i] ^= 0x20;
	}
	/* Trailing garbage. */
	uint8_t *q = malloc(n + 1);
	assert_non_null(q);
	memcpy(q, p, n);
	q[n] = 0;
	cm_err_clear(&err);
	assert_int_equal(read_bytes(q, n + 1, &err), FL_EPROTO);
	free(q);
	/* A foreign file. */
	const char *txt = "this is a text file and not a snapshot, but it is long enough "
			  "to hold a header, an index and a trailer..................";
	cm_err_clear(&err);
	assert_int_equal(read_bytes((const uint8_t *)txt, strlen(txt), &err), FL_EPROTO);
	assert_non_null(strstr(err.msg, "magic"));
	/* A newer version (with a valid header checksum). */
	p[8] = 3; /* the version, little endian */
	uint32_t crc = cm_crc32c(0, p, 36);
	p[36] = (uint8_t)crc;
	p[37] = (uint8_t)(crc >> 8);
	p[38] = (uint8_t)(crc >> 16);
	p[39] = (uint8_t)(crc >> 24);
	cm_err_clear(&err);
	assert_int_equal(read_bytes(p, n, &err), FL_EPROTO);
	assert_non_null(strstr(err.msg, "version 3"));
	assert_non_null(strstr(err.msg, "chk-7/op-3"));
	free(p);
}

static void test_file_max_parallelism_must_match(void **state)
{
	st_backend *b = new_backend(*state);
	fill_range(b, 100, 0, MAXP - 1);
	FILE *f = write_snapshot(b, 0, MAXP - 1);
	st_backend_free(b);
	st_backend *r = new_backend_cfg(*state, (st_backend_config){.max_parallelism = 256});
	cm_err err = {0};
	assert_int_equal(st_snapfile_restore(r, f, "sp-1/op", 0, 255, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "max parallelism 128"));
	assert_non_null(strstr(err.msg, "sp-1/op"));
	st_backend_free(r);
	/* A restore of a range outside the file reads nothing. */
	st_backend *e = new_backend(*state);
	cm_err_clear(&err);
	FILE *g = write_snapshot((b = new_backend(*state)), 0, 63);
	st_backend_free(b);
	assert_int_equal(st_snapfile_restore(e, g, "sp-1/op", 64, 127, &err), 0);
	st_stats st;
	st_stats_get(e, &st);
	assert_int_equal(st.entries, 0);
	st_backend_free(e);
	fclose(f);
	fclose(g);
}


/* ------------------------------------------------ incremental snapshots */

#define INC_KEYS 6000

/* The reference model: key i holds model[i] (0: absent); values are
 * "v<model>-<i>", with a long one now and then (out of line on the heap). */
static void inc_value(int i, int m, char *v, size_t cap)
{
	if (m % 7 == 3)
		snprintf(v, cap, "v%d-%d-%0100d", m, i, 0);
	else
		snprintf(v, cap, "v%d-%d", m, i);
}

/* Changes some keys: puts (through put, and find / put_at, and in place
 * through st_value_at when the length stays), deletes. */
static void inc_mutate(st_backend *b, int s, int *model, unsigned *seed, int n)
{
	char k[32], v[160];
	for (int j = 0; j < n; j++) {
		int i = (int)(rand_r(seed) % INC_KEYS);
		snprintf(k, sizeof(k), "key-%d", i);
		st_key key = key_of(s, k);
		int op = (int)(rand_r(seed) % 10);
		if (op < 2) {
			assert_int_equal(st_delete(b, &key), 0);
			model[i] = 0;
			continue;
		}
		int m = model[i] + 1 + (int)(rand_r(seed) % 3);
		inc_value(i, m, v, sizeof(v));
		st_pos pos;
		const void *old;
		size_t ol;
		int hit = st_find(b, &key, &pos, &old, &ol);
		assert_true(hit >= 0);
		size_t vl = strlen(v);
		void *in_place = hit == 1 && ol == vl ? st_value_at(b, &key, &pos, &ol) : NULL;
		if (in_place)
			memcpy(in_place, v, vl);
		else
			assert_int_equal(st_put_at(b, &key, &pos, v, vl), 0);
		model[i] = m;
	}
}

static void inc_check(st_backend *b, int s, const int *model)
{
	char k[32], v[160];
	for (int i = 0; i < INC_KEYS; i++) {
		snprintf(k, sizeof(k), "key-%d", i);
		if (!model[i]) {
			expect(b, s, k, NULL);
			continue;
		}
		inc_value(i, model[i], v, sizeof(v));
		expect(b, s, k, v);
	}
}

/* A whole file, then deltas of random changes (with more changes made while
 * each cut is written): restoring the whole file and the deltas in order,
 * into either backend, gives exactly the contents at each cut; a delta of
 * few changes is much smaller than the whole. */
static void test_incremental_chain(void **state)
{
	const char *types[] = {"hashmap", "lmdb"};
	st_backend *b = new_backend_cfg(*state, (st_backend_config){.incremental = 1});
	int s = declare(b, "count", 0);
	static int model[INC_KEYS], at_cut[INC_KEYS];
	memset(model, 0, sizeof(model));
	unsigned seed = 42;
	inc_mutate(b, s, model, &seed, 4 * INC_KEYS);
	FILE *files[8];
	long sizes[8];
	uint64_t prev = 0;
	cm_err err = {0};
	for (int round = 0; round < 8; round++) {
		st_cut *c;
		assert_int_equal(st_cut_new(b, &c), 0);
		memcpy(at_cut, model, sizeof(model));
		/* Changes after the cut are not in it. */
		inc_mutate(b, s, model, &seed, 300);
		files[round] = tmpfile();
		assert_non_null(files[round]);
		uint64_t n = 0;
		int rc;
		if (round == 0) {
			rc = st_snapfile_write(files[round], "chk-1/op", c, 0, MAXP - 1, &n, &err);
		} else {
			assert_true(st_cut_changes_known(c, prev));
			rc = st_snapfile_write_changes(files[round], "chk-n/op", c, prev, 0,
						       MAXP - 1, NULL, NULL, &n, &err);
		}
		if (rc)
			fail_msg("write round %d: %s", round, err.msg);
		prev = st_cut_epoch(c);
		st_cut_free(c);
		sizes[round] = ftell(files[round]);
		if (round > 0)
			assert_true(sizes[round] * 4 < sizes[0]);
		/* Restore the chain so far, into both kinds. */
		for (int t = 0; t < 2; t++) {
			st_backend *r = new_backend(types[t]);
			for (int f = 0; f <= round; f++)
				restore_from(r, files[f], 0, MAXP - 1);
			inc_check(r, declare(r, "count", 0), at_cut);
			st_backend_free(r);
		}
		/* The next round's changes. */
		inc_mutate(b, s, model, &seed, 500);
	}
	for (int f = 0; f < 8; f++)
		fclose(files[f]);
	st_backend_free(b);
}

/* A delta can skip a cut whose checkpoint failed: the changes since an
 * older cut include those of the cut between. */
static void test_incremental_skips_a_cut(void **state)
{
	st_backend *b = new_backend_cfg(*state, (st_backend_config){.incremental = 1});
	int s = declare(b, "count", 0);
	static int model[INC_KEYS];
	memset(model, 0, sizeof(model));
	unsigned seed = 7;
	inc_mutate(b, s, model, &seed, 2 * INC_KEYS);
	st_cut *c0, *c1, *c2;
	assert_int_equal(st_cut_new(b, &c0), 0);
	FILE *full = tmpfile(), *delta = tmpfile();
	cm_err err = {0};
	assert_int_equal(st_snapfile_write(full, "full", c0, 0, MAXP - 1, NULL, &err), 0);
	uint64_t e0 = st_cut_epoch(c0);
	st_cut_free(c0);
	inc_mutate(b, s, model, &seed, 400);
	assert_int_equal(st_cut_new(b, &c1), 0); /* its file is never written */
	st_cut_free(c1);
	inc_mutate(b, s, model, &seed, 400);
	assert_int_equal(st_cut_new(b, &c2), 0);
	assert_int_equal(st_snapfile_write_changes(delta, "delta", c2, e0, 0, MAXP - 1, NULL, NULL,
						   NULL, &err),
			 0);
	st_cut_free(c2);
	st_backend *r = new_backend(*state);
	restore_from(r, full, 0, MAXP - 1);
	restore_from(r, delta, 0, MAXP - 1);
	inc_check(r, declare(r, "count", 0), model);
	st_backend_free(r);
	fclose(full);
	fclose(delta);
	st_backend_free(b);
}

/* Forgotten deletions make the changes unknown: the heap's compaction of
 * tombstones, LMDB's of deletion records, and st_clear; asking for a delta
 * then is refused rather than written wrong. */
static void test_incremental_unknown_after_compaction(void **state)
{
	st_backend *b = new_backend_cfg(*state, (st_backend_config){.incremental = 1});
	int s = declare(b, "x", 0);
	char k[32];
	for (int i = 0; i < 40000; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		put_s(b, s, k, k);
	}
	st_cut *c;
	assert_int_equal(st_cut_new(b, &c), 0);
	uint64_t e0 = st_cut_epoch(c);
	st_cut_free(c);
	put_s(b, s, "k1", "changed");
	assert_int_equal(st_cut_new(b, &c), 0);
	assert_true(st_cut_changes_known(c, e0));
	uint64_t e1 = st_cut_epoch(c);
	st_cut_free(c);
	for (int i = 0; i < 40000; i++) {
		if (i % 10 == 0)
			continue;
		snprintf(k, sizeof(k), "k%d", i);
		st_key key = key_of(s, k);
		assert_int_equal(st_delete(b, &key), 0);
	}
	assert_int_equal(st_flush(b), 0);
	assert_int_equal(st_cut_new(b, &c), 0);
	assert_false(st_cut_changes_known(c, e1));
	FILE *f = tmpfile();
	cm_err err = {0};
	assert_int_equal(
	    st_snapfile_write_changes(f, "chk-3/x", c, e1, 0, MAXP - 1, NULL, NULL, NULL, &err),
	    FL_EINVAL);
	assert_non_null(strstr(err.msg, "not known"));
	uint64_t e2 = st_cut_epoch(c);
	st_cut_free(c);
	/* From the next cut on, changes are known again. */
	put_s(b, s, "k0", "again");
	assert_int_equal(st_cut_new(b, &c), 0);
	assert_true(st_cut_changes_known(c, e2));
	st_cut_free(c);
	assert_int_equal(st_clear(b), 0);
	assert_int_equal(st_cut_new(b, &c), 0);
	assert_false(st_cut_changes_known(c, e2));
	st_cut_free(c);
	fclose(f);
	st_backend_free(b);
}

/* A delete in a whole (not delta) file is refused: value length 0 is only
 * a deletion in a delta. */
static void test_file_whole_refuses_deletion(void **state)
{
	st_backend *b = new_backend_cfg("hashmap", (st_backend_config){.incremental = 1});
	int s = declare(b, "x", 0);
	put_s(b, s, "a", "1");
	put_s(b, s, "b", "2");
	st_cut *c;
	assert_int_equal(st_cut_new(b, &c), 0);
	uint64_t e0 = st_cut_epoch(c);
	st_cut_free(c);
	st_key a = key_of(s, "a");
	assert_int_equal(st_delete(b, &a), 0);
	assert_int_equal(st_cut_new(b, &c), 0);
	FILE *f = tmpfile();
	cm_err err = {0};
	assert_int_equal(
	    st_snapfile_write_changes(f, "d", c, e0, 0, MAXP - 1, NULL, NULL, NULL, &err), 0);
	st_cut_free(c);
	/* Clear the delta flag (and fix the header's checksum). */
	uint8_t h[40];
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	assert_int_equal(fread(h, 1, 40, f), 40);
	assert_int_equal(h[32], ST_SNAP_FLAG_DELTA);
	h[32] = 0;
	uint32_t crc = cm_crc32c(0, h, 36);
	for (int i = 0; i < 4; i++)
		h[36 + i] = (uint8_t)(crc >> (8 * i));
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	assert_int_equal(fwrite(h, 1, 40, f), 40);
	fflush(f);
	st_backend *r = new_backend("hashmap");
	assert_int_equal(st_snapfile_restore(r, f, "d", 0, MAXP - 1, &err), FL_EPROTO);
	assert_non_null(strstr(err.msg, "out of bounds"));
	st_backend_free(r);
	fclose(f);
	st_backend_free(b);
}

#define BOTH(fn)                                                                                   \
	cmocka_unit_test_prestate(fn, (void *)"hashmap"),                                          \
	    cmocka_unit_test_prestate(fn, (void *)"lmdb")

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(test_put_get_delete),
	    BOTH(test_find_put_at_counts),
	    BOTH(test_namespaces),
	    BOTH(test_iterate_range_in_order),
	    BOTH(test_clear),
	    BOTH(test_snapshot_rescale),
	    BOTH(test_cut_is_consistent),
	    BOTH(test_cut_scanned_on_another_thread),
	    BOTH(test_overlapping_cuts),
	    BOTH(test_clear_during_cut),
	    BOTH(test_file_max_parallelism_must_match),
	    BOTH(test_incremental_chain),
	    BOTH(test_incremental_skips_a_cut),
	    BOTH(test_incremental_unknown_after_compaction),
	    cmocka_unit_test(test_file_whole_refuses_deletion),
	    cmocka_unit_test(test_lmdb_map_grows_from_tiny),
	    cmocka_unit_test(test_lmdb_full_map_waits_for_cut),
	    cmocka_unit_test(test_lmdb_cache_flushes_when_full),
	    cmocka_unit_test(test_lmdb_tombstones),
	    cmocka_unit_test(test_heap_tombstones_compact),
	    cmocka_unit_test(test_lmdb_directory_removed),
	    cmocka_unit_test(test_pick_local_dir),
	    cmocka_unit_test(test_crc32c_known_value),
	    cmocka_unit_test(test_file_refuses_corrupt_truncated_foreign),
	};
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
