/*
 * Unit tests of the keyed state kinds (runtime/state/keyed_state.h and the
 * fl_*_state functions of flinc.h): every state kind against both backends
 * (hashmap and lmdb), TTL on a driven fake clock (update types, visibility,
 * cleanup on read and in snapshots), declarations and stored values that
 * do not match, and the errors that name the state and the operator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <flinc/flinc.h>

#include "state/backend.h"
#include "state/keyed_state.h"
#include "state/snapshot_file.h"
#include "taskmanager/operator.h"
#include "types/codec.h"
#include "types/keygroup.h"

#define MAXP 128

static char g_dir[4096];
/* The fake clock TTL runs on: tests set it. */
static int64_t g_now;

static int64_t fake_clock(void *arg)
{
	(void)arg;
	return g_now;
}

static int make_dir(void **state)
{
	const char *base = getenv("TMPDIR");
	snprintf(g_dir, sizeof(g_dir), "%s/test_keyed_state-XXXXXX", base && *base ? base : "/tmp");
	return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	return rmdir(g_dir);
}

typedef struct fx {
	st_backend *b;
	ks_ctx *k;
	fl_ctx uctx;
	uint8_t kb[64];
} fx;

static st_backend *new_backend(const char *type)
{
	st_backend *b = NULL;
	cm_err err = {0};
	st_backend_config cfg = {.max_parallelism = MAXP, .dir = g_dir, .name = "test"};
	if (st_backend_new(type, &cfg, &b, &err))
		fail_msg("st_backend_new(%s): %s", type, err.msg);
	return b;
}

/* A context on b (a new backend when b is NULL). */
static fx *fx_on(const char *type, st_backend *b)
{
	fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->b = b ? b : new_backend(type);
	cm_err err = {0};
	ks_config kc = {
	    .backend = f->b, .op_name = "Counter", .uctx = &f->uctx, .clock = fake_clock};
	assert_int_equal(ks_new(&kc, &f->k, &err), 0);
	return f;
}

static fx *fx_new(void **state)
{
	g_now = 1000;
	return fx_on(*state, NULL);
}

/* Frees the context, and the backend unless keep. */
static st_backend *fx_free(fx *f, bool keep)
{
	st_backend *b = f->b;
	ks_free(f->k);
	free(f);
	if (!keep) {
		st_backend_free(b);
		b = NULL;
	}
	return b;
}

/* Makes the int64 key k current, encoded as the partitioner does. */
static void at(fx *f, int64_t k)
{
	ks_end_record(f->k);
	fl_row r = {0};
	fl_row_add_int64(&r, k);
	size_t n = row_encode(&r, f->kb, sizeof(f->kb));
	assert_true(n > 0);
	ks_set_key(f->k, f->kb, n, kg_murmur3_32(f->kb, n, 0));
}

static fl_row ri(int64_t a)
{
	fl_row r = {0};
	fl_row_add_int64(&r, a);
	return r;
}

static fl_row ri2(int64_t a, int64_t b)
{
	fl_row r = ri(a);
	fl_row_add_int64(&r, b);
	return r;
}

static fl_row rs(const char *s)
{
	fl_row r = {0};
	fl_row_add_string(&r, s, strlen(s));
	return r;
}

static fl_row rb(const void *p, size_t n)
{
	fl_row r = {0};
	fl_row_add_bytes(&r, p, n);
	return r;
}

static const char *err_of(fx *f)
{
	return ks_error(f->k)->msg;
}

#define assert_err_has(f, s)                                                                       \
	do {                                                                                       \
		if (!strstr(err_of(f), (s)))                                                       \
			fail_msg("error '%s' lacks '%s'", err_of(f), (s));                         \
	} while (0)

/* The value of an int64 ValueState, or -1 when absent. */
static int64_t vget(fl_value_state *s)
{
	fl_row r;
	int rc = fl_value_state_get(s, &r);
	assert_true(rc >= 0);
	return rc ? fl_row_int64(&r, 0) : -1;
}

static bool has_raw(st_backend *b, const char *name, int64_t k);

static const fl_state_desc COUNT = {.name = "count", .value = {.nfields = 1, .types = {FL_INT64}}};

/* ------------------------------------------------------------ ValueState */

static void test_value_state_per_key(void **state)
{
	fx *f = fx_new(state);
	at(f, 1);
	fl_value_state *c = ks_get(f->k, KS_VALUE, &COUNT);
	assert_non_null(c);
	assert_int_equal(vget(c), -1);
	fl_row v = ri(41);
	assert_int_equal(fl_value_state_update(c, &v), 0);
	assert_int_equal(vget(c), 41);
	/* A read followed by a write of the same state: one probe (st_find,
	 * st_put_at), and the value read stays intact. */
	for (int i = 0; i < 1000; i++) {
		at(f, i % 7 + 10);
		int64_t n = vget(c);
		v = ri(n < 0 ? 1 : n + 1);
		assert_int_equal(fl_value_state_update(c, &v), 0);
	}
	for (int k = 10; k < 17; k++) {
		at(f, k);
		assert_int_equal(vget(c), 1000 / 7 + (k - 10 < 1000 % 7));
	}
	at(f, 2);
	assert_int_equal(vget(c), -1);
	at(f, 1);
	assert_int_equal(vget(c), 41);
	assert_int_equal(fl_value_state_clear(c), 0);
	assert_int_equal(vget(c), -1);
	assert_int_equal(ks_error(f->k)->code, 0);
	fx_free(f, false);
}

static void test_value_state_rows_strings_and_bytes(void **state)
{
	fx *f = fx_new(state);
	static const fl_state_desc name = {.name = "name"}; /* any row */
	static const fl_state_desc raw = {.name = "raw", .value = {.format = FL_STATE_BYTES}};
	at(f, 1);
	fl_value_state *n = ks_get(f->k, KS_VALUE, &name);
	fl_value_state *r = ks_get(f->k, KS_VALUE, &raw);
	fl_row v = rs("hello");
	fl_row_add_double(&v, 2.5);
	fl_row_add_null(&v);
	assert_int_equal(fl_value_state_update(n, &v), 0);
	uint8_t blob[5] = {0, 1, 2, 0, 255};
	v = rb(blob, sizeof(blob));
	assert_int_equal(fl_value_state_update(r, &v), 0);
	fl_row out, out2;
	assert_int_equal(fl_value_state_get(n, &out), 1);
	/* Writes of other states and keys leave a row read before intact:
	 * it lives in the record's own memory. */
	at(f, 2);
	v = rs("another value, long enough to be stored out of line in the heap map");
	assert_int_equal(fl_value_state_update(n, &v), 0);
	assert_int_equal(fl_value_state_get(n, &out2), 1);
	size_t len;
	assert_int_equal(out2.nfields, 1);
	at(f, 1);
	assert_int_equal(fl_value_state_get(n, &out), 1);
	assert_int_equal(out.nfields, 3);
	assert_memory_equal(fl_row_string(&out, 0, &len), "hello", 5);
	assert_true(fl_row_double(&out, 1) == 2.5);
	assert_int_equal(fl_row_type(&out, 2), FL_NULL);
	assert_int_equal(fl_value_state_get(r, &out), 1);
	assert_int_equal(fl_row_type(&out, 0), FL_BYTES);
	const char *p = fl_row_string(&out, 0, &len);
	assert_int_equal(len, sizeof(blob));
	assert_memory_equal(p, blob, sizeof(blob));
	/* Empty bytes are a value too. */
	v = rb(blob, 0);
	assert_int_equal(fl_value_state_update(r, &v), 0);
	assert_int_equal(fl_value_state_get(r, &out), 1);
	fl_row_string(&out, 0, &len);
	assert_int_equal(len, 0);
	fx_free(f, false);
}

static void test_value_of_the_wrong_shape_is_refused(void **state)
{
	fx *f = fx_new(state);
	at(f, 1);
	fl_value_state *c = ks_get(f->k, KS_VALUE, &COUNT);
	fl_row v = rs("x");
	assert_int_equal(fl_value_state_update(c, &v), FL_ETYPE);
	assert_err_has(f, "state 'count' of operator 'Counter': the value given is ");
	assert_err_has(f, "field 0 is string where the state declares int64");
	/* The first error sticks. */
	v = ri(1);
	assert_int_equal(fl_value_state_update(c, &v), FL_ETYPE);
	assert_null(ks_get(f->k, KS_LIST, &COUNT));
	fx_free(f, false);

	f = fx_new(state);
	static const fl_state_desc raw = {.name = "raw", .value = {.format = FL_STATE_BYTES}};
	at(f, 1);
	fl_value_state *r = ks_get(f->k, KS_VALUE, &raw);
	v = ri2(1, 2);
	assert_int_equal(fl_value_state_update(r, &v), FL_ETYPE);
	assert_err_has(f, "where the state takes raw bytes");
	fx_free(f, false);

	/* A null field passes any declared type. */
	f = fx_new(state);
	at(f, 1);
	c = ks_get(f->k, KS_VALUE, &COUNT);
	fl_row nul = {0};
	fl_row_add_null(&nul);
	assert_int_equal(fl_value_state_update(c, &nul), 0);
	fx_free(f, false);
}

static void test_value_over_an_entry_is_refused(void **state)
{
	fx *f = fx_new(state);
	static const fl_state_desc raw = {.name = "raw", .value = {.format = FL_STATE_BYTES}};
	at(f, 1);
	fl_value_state *r = ks_get(f->k, KS_VALUE, &raw);
	size_t n = ST_VALUE_MAX + 1;
	uint8_t *big = calloc(1, n);
	assert_non_null(big);
	fl_row v = rb(big, n);
	assert_int_equal(fl_value_state_update(r, &v), FL_ERANGE);
	assert_err_has(f,
		       "state 'raw' of operator 'Counter': a value of 16777217 bytes is over the "
		       "16777215 bytes a state entry holds");
	free(big);
	fx_free(f, false);
}

/* ------------------------------------------------------------- ListState */

static int64_t list_sum(fl_list_state *l, int *count)
{
	fl_state_iter *it;
	int rc = fl_list_state_get(l, &it);
	assert_true(rc >= 0);
	fl_row e;
	int64_t s = 0;
	*count = 0;
	while ((rc = fl_state_iter_next(it, &e)) > 0) {
		s = s * 10 + fl_row_int64(&e, 0);
		(*count)++;
	}
	assert_int_equal(rc, 0);
	return s;
}

static void test_list_state(void **state)
{
	fx *f = fx_new(state);
	static const fl_state_desc L = {.name = "l", .value = {.nfields = 1, .types = {FL_INT64}}};
	at(f, 1);
	fl_list_state *l = ks_get(f->k, KS_LIST, &L);
	int n;
	fl_state_iter *it;
	assert_int_equal(fl_list_state_get(l, &it), 0);
	fl_row e;
	assert_int_equal(fl_state_iter_next(it, &e), 0);
	fl_row a = ri(1), b[2] = {ri(2), ri(3)};
	assert_int_equal(fl_list_state_add(l, &a), 0);
	assert_int_equal(fl_list_state_add_all(l, b, 2), 0);
	assert_int_equal(fl_list_state_add_all(l, b, 0), 0);
	assert_int_equal(list_sum(l, &n), 123);
	assert_int_equal(n, 3);
	assert_int_equal(fl_list_state_get(l, &it), 1);
	at(f, 2);
	assert_int_equal(list_sum(l, &n), 0);
	assert_int_equal(fl_list_state_update(l, b, 2), 0);
	assert_int_equal(list_sum(l, &n), 23);
	at(f, 1);
	assert_int_equal(fl_list_state_update(l, b + 1, 1), 0);
	assert_int_equal(list_sum(l, &n), 3);
	assert_int_equal(fl_list_state_update(l, NULL, 0), 0); /* empty: cleared */
	assert_int_equal(fl_list_state_get(l, &it), 0);
	at(f, 2);
	assert_int_equal(fl_list_state_clear(l), 0);
	assert_int_equal(list_sum(l, &n), 0);
	/* A thousand elements, one add each. */
	for (int i = 0; i < 1000; i++) {
		fl_row x = ri(i);
		assert_int_equal(fl_list_state_add(l, &x), 0);
	}
	assert_int_equal(fl_list_state_get(l, &it), 1);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(fl_state_iter_next(it, &e), 1);
		assert_int_equal(fl_row_int64(&e, 0), i);
	}
	assert_int_equal(fl_state_iter_next(it, &e), 0);
	/* Elements of the wrong type are refused before anything is written. */
	fl_row bad[2] = {ri(5), rs("five")};
	assert_int_equal(fl_list_state_add_all(l, bad, 2), FL_ETYPE);
	assert_err_has(f, "state 'l' of operator 'Counter': the element given is ");
	fx_free(f, false);
}

static void test_iterators_survive_writes(void **state)
{
	fx *f = fx_new(state);
	static const fl_state_desc L = {.name = "l"};
	at(f, 1);
	fl_list_state *l = ks_get(f->k, KS_LIST, &L);
	fl_value_state *c = ks_get(f->k, KS_VALUE, &COUNT);
	for (int i = 0; i < 5; i++) {
		fl_row x = rs("an element with a string long enough to live out of line");
		fl_row_add_int64(&x, i);
		assert_int_equal(fl_list_state_add(l, &x), 0);
	}
	fl_state_iter *it;
	assert_int_equal(fl_list_state_get(l, &it), 1);
	fl_row e;
	int i = 0;
	while (fl_state_iter_next(it, &e) > 0) {
		/* Writes in the loop, to this list and others: the iterator
		 * walks the list as it was. */
		assert_int_equal(fl_list_state_add(l, &e), 0);
		fl_row v = ri(i);
		assert_int_equal(fl_value_state_update(c, &v), 0);
		assert_int_equal(fl_row_int64(&e, 1), i);
		i++;
	}
	assert_int_equal(i, 5);
	int n = 0;
	assert_int_equal(fl_list_state_get(l, &it), 1);
	while (fl_state_iter_next(it, &e) > 0)
		n++;
	assert_int_equal(n, 10);
	fx_free(f, false);
}

/* -------------------------------------------------------------- MapState */

static void test_map_state(void **state)
{
	fx *f = fx_new(state);
	static const fl_state_desc M = {.name = "m",
					.key = {.nfields = 1, .types = {FL_STRING}},
					.value = {.nfields = 1, .types = {FL_INT64}}};
	at(f, 1);
	fl_map_state *m = ks_get(f->k, KS_MAP, &M);
	assert_int_equal(fl_map_state_is_empty(m), 1);
	const char *keys[] = {"pear", "apple", "fig", "banana"};
	for (int i = 0; i < 4; i++) {
		fl_row k = rs(keys[i]), v = ri(i);
		assert_int_equal(fl_map_state_put(m, &k, &v), 0);
	}
	fl_row k = rs("fig"), v = ri(30);
	assert_int_equal(fl_map_state_put(m, &k, &v), 0); /* replaces */
	assert_int_equal(fl_map_state_is_empty(m), 0);
	fl_row out;
	assert_int_equal(fl_map_state_get(m, &k, &out), 1);
	assert_int_equal(fl_row_int64(&out, 0), 30);
	assert_int_equal(fl_map_state_contains(m, &k), 1);
	fl_row none = rs("kiwi");
	assert_int_equal(fl_map_state_get(m, &none, &out), 0);
	assert_int_equal(fl_map_state_contains(m, &none), 0);
	assert_int_equal(fl_map_state_remove(m, &none), 0);
	/* Entries in order of the keys' encoded bytes: same length strings
	 * sort as strings, shorter ones first (the length comes first). */
	fl_state_iter *it;
	assert_int_equal(fl_map_state_entries(m, &it), 1);
	const char *order[] = {"fig", "pear", "apple", "banana"};
	int64_t vals[] = {30, 0, 1, 3};
	fl_row ek, ev;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(fl_state_iter_next_entry(it, &ek, &ev), 1);
		size_t len;
		const char *s = fl_row_string(&ek, 0, &len);
		assert_int_equal(len, strlen(order[i]));
		assert_memory_equal(s, order[i], len);
		assert_int_equal(fl_row_int64(&ev, 0), vals[i]);
	}
	assert_int_equal(fl_state_iter_next_entry(it, &ek, NULL), 0);
	k = rs("pear");
	assert_int_equal(fl_map_state_remove(m, &k), 0);
	assert_int_equal(fl_map_state_contains(m, &k), 0);
	at(f, 2);
	assert_int_equal(fl_map_state_is_empty(m), 1);
	at(f, 1);
	assert_int_equal(fl_map_state_entries(m, &it), 1);
	int n = 0;
	while (fl_state_iter_next_entry(it, &ek, NULL) > 0)
		n++;
	assert_int_equal(n, 3);
	/* Removing every entry removes the map. */
	for (int i = 0; i < 4; i++) {
		k = rs(keys[i]);
		assert_int_equal(fl_map_state_remove(m, &k), 0);
	}
	assert_int_equal(fl_map_state_is_empty(m), 1);
	assert_false(has_raw(f->b, "m", 1));
	fl_row mk = ri(1);
	assert_int_equal(fl_map_state_put(m, &mk, &v), FL_ETYPE);
	assert_err_has(f, "the map key given is ");
	fx_free(f, false);
}

static void test_map_state_bytes_keys_and_clear(void **state)
{
	fx *f = fx_new(state);
	static const fl_state_desc M = {.name = "m", .key = {.format = FL_STATE_BYTES}};
	at(f, 7);
	fl_map_state *m = ks_get(f->k, KS_MAP, &M);
	for (int i = 0; i < 300; i++) {
		uint32_t kk = (uint32_t)(i * 7919) % 1000;
		fl_row k = rb(&kk, sizeof(kk)), v = ri2(i, -i);
		assert_int_equal(fl_map_state_put(m, &k, &v), 0);
	}
	fl_state_iter *it;
	assert_int_equal(fl_map_state_entries(m, &it), 1);
	fl_row ek, ev;
	int n = 0;
	uint8_t prev[4] = {0};
	while (fl_state_iter_next_entry(it, &ek, &ev) > 0) {
		size_t len;
		const char *p = fl_row_string(&ek, 0, &len);
		assert_int_equal(len, 4);
		if (n)
			assert_true(memcmp(prev, p, 4) < 0);
		memcpy(prev, p, 4);
		assert_int_equal(fl_row_int64(&ev, 0), -fl_row_int64(&ev, 1));
		n++;
	}
	assert_int_equal(n, 300);
	assert_int_equal(fl_map_state_clear(m), 0);
	assert_int_equal(fl_map_state_is_empty(m), 1);
	fx_free(f, false);
}

/* ------------------------------------------- Reducing and Aggregating */

/* Functions of state descriptors: exported, as in a job. */
int kst_sum(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out);
int kst_fail(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out);
int kst_avg_create(fl_ctx *ctx, fl_row *acc);
int kst_avg_add(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out);
int kst_avg_result(fl_ctx *ctx, const fl_row *acc, fl_row *out);

int kst_sum(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	return fl_row_add_int64(out, fl_row_int64(acc, 0) + fl_row_int64(in, 0));
}

int kst_fail(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	return fl_fail(ctx, "cannot add %lld", (long long)fl_row_int64(in, 0));
}

int kst_avg_create(fl_ctx *ctx, fl_row *acc)
{
	fl_row_add_int64(acc, 0);
	return fl_row_add_int64(acc, 0);
}

int kst_avg_add(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	fl_row_add_int64(out, fl_row_int64(acc, 0) + fl_row_int64(in, 0));
	return fl_row_add_int64(out, fl_row_int64(acc, 1) + 1);
}

int kst_avg_result(fl_ctx *ctx, const fl_row *acc, fl_row *out)
{
	return fl_row_add_double(out, (double)fl_row_int64(acc, 0) / (double)fl_row_int64(acc, 1));
}

static const fl_state_desc SUM = {
    .name = "sum", .value = {.nfields = 1, .types = {FL_INT64}}, .reduce = kst_sum};
static const fl_state_desc AVG = {
    .name = "avg",
    .value = {.nfields = 2, .types = {FL_INT64, FL_INT64}},
    .agg = {.create = kst_avg_create, .add = kst_avg_add, .result = kst_avg_result}};

static void test_reducing_and_aggregating(void **state)
{
	fx *f = fx_new(state);
	at(f, 1);
	fl_reducing_state *s = ks_get(f->k, KS_REDUCING, &SUM);
	fl_aggregating_state *a = ks_get(f->k, KS_AGGREGATING, &AVG);
	fl_row out;
	assert_int_equal(fl_reducing_state_get(s, &out), 0);
	assert_int_equal(fl_aggregating_state_get(a, &out), 0);
	for (int i = 1; i <= 4; i++) {
		fl_row x = ri(i);
		assert_int_equal(fl_reducing_state_add(s, &x), 0);
		assert_int_equal(fl_aggregating_state_add(a, &x), 0);
	}
	assert_int_equal(fl_reducing_state_get(s, &out), 1);
	assert_int_equal(fl_row_int64(&out, 0), 10);
	assert_int_equal(fl_aggregating_state_get(a, &out), 1);
	assert_true(fl_row_double(&out, 0) == 2.5);
	at(f, 2);
	assert_int_equal(fl_reducing_state_get(s, &out), 0);
	at(f, 1);
	assert_int_equal(fl_reducing_state_clear(s), 0);
	assert_int_equal(fl_aggregating_state_clear(a), 0);
	assert_int_equal(fl_reducing_state_get(s, &out), 0);
	assert_int_equal(fl_aggregating_state_get(a, &out), 0);
	fx_free(f, false);
}

static void test_user_function_failure(void **state)
{
	fx *f = fx_new(state);
	static const fl_state_desc bad = {.name = "bad", .reduce = kst_fail};
	at(f, 1);
	fl_reducing_state *s = ks_get(f->k, KS_REDUCING, &bad);
	fl_row x = ri(3);
	assert_int_equal(fl_reducing_state_add(s, &x), 0); /* the first is stored as it is */
	assert_int_equal(fl_reducing_state_add(s, &x), FL_EUSER);
	assert_int_equal(ks_error(f->k)->code, FL_EUSER);
	assert_err_has(f, "state 'bad' of operator 'Counter': its reduce function failed");
	assert_true(f->uctx.user_failed);
	assert_string_equal(f->uctx.user_msg, "cannot add 3");
	fx_free(f, false);
}

/* ----------------------------------------------------------- declarations */

static void test_declarations_checked(void **state)
{
	static const fl_state_desc count_str = {.name = "count",
						.value = {.nfields = 1, .types = {FL_STRING}}};
	static const fl_state_desc count_ttl = {
	    .name = "count", .value = {.nfields = 1, .types = {FL_INT64}}, .ttl = {.ttl_ms = 5}};
	static const fl_state_desc count_same = {.name = "count",
						 .value = {.nfields = 1, .types = {FL_INT64}}};
	static const fl_state_desc sum_other = {
	    .name = "sum", .value = {.nfields = 1, .types = {FL_INT64}}, .reduce = kst_fail};
	struct {
		const fl_state_desc *first, *again;
		enum ks_kind k1, k2;
		const char *why;
	} cases[] = {
	    {&COUNT, &COUNT, KS_VALUE, KS_LIST,
	     "declared as a ValueState, and again as a ListState"},
	    {&COUNT, &count_same, KS_VALUE, KS_MAP,
	     "declared as a ValueState, and again as a MapState"},
	    {&COUNT, &count_str, KS_VALUE, KS_VALUE, "declared again with another value type"},
	    {&COUNT, &count_ttl, KS_VALUE, KS_VALUE, "declared again with another TTL"},
	    {&SUM, &sum_other, KS_REDUCING, KS_REDUCING,
	     "declared again with another reduce function"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fx *f = fx_new(state);
		assert_non_null(ks_get(f->k, cases[i].k1, cases[i].first));
		assert_null(ks_get(f->k, cases[i].k2, cases[i].again));
		assert_int_equal(ks_error(f->k)->code, FL_EINVAL);
		assert_err_has(f, cases[i].why);
		fx_free(f, false);
	}
	/* Another descriptor with the same contents is the same state. */
	fx *f = fx_new(state);
	void *h = ks_get(f->k, KS_VALUE, &COUNT);
	assert_ptr_equal(ks_get(f->k, KS_VALUE, &count_same), h);
	assert_ptr_equal(ks_get(f->k, KS_VALUE, &COUNT), h);
	assert_int_equal(ks_prefetch_state(f->k), 0);
	fx_free(f, false);

	static const fl_state_desc empty = {.name = ""};
	static const fl_state_desc badtype = {.name = "t", .value = {.nfields = 1, .types = {9}}};
	static const fl_state_desc bytes_fields = {
	    .name = "t", .value = {.format = FL_STATE_BYTES, .nfields = 1}};
	static const fl_state_desc negttl = {.name = "t", .ttl = {.ttl_ms = -1}};
	static const fl_state_desc badvis = {.name = "t", .ttl = {.ttl_ms = 1, .visibility = 7}};
	static const fl_state_desc noreduce = {.name = "t"};
	struct {
		const fl_state_desc *d;
		enum ks_kind k;
		const char *why;
	} bad[] = {
	    {&empty, KS_VALUE, "name is empty"},
	    {&badtype, KS_VALUE, "state 't' of operator 'Counter': its value type is invalid"},
	    {&bytes_fields, KS_VALUE, "its value type is invalid"},
	    {&badtype, KS_MAP, "its value type is invalid"},
	    {&negttl, KS_LIST, "its time to live is negative"},
	    {&badvis, KS_VALUE, "TTL update type or visibility is unknown"},
	    {&noreduce, KS_REDUCING, "a ReducingState needs a reduce function"},
	    {&noreduce, KS_AGGREGATING, "an AggregatingState needs create, add and result"},
	    {NULL, KS_VALUE, "a state descriptor is NULL"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = fx_new(state);
		assert_null(ks_get(f->k, bad[i].k, bad[i].d));
		assert_err_has(f, bad[i].why);
		fx_free(f, false);
	}
}

static void test_no_current_key_and_null_handles(void **state)
{
	fx *f = fx_new(state);
	fl_value_state *c = ks_get(f->k, KS_VALUE, &COUNT);
	fl_row v = ri(1);
	assert_int_equal(fl_value_state_update(NULL, &v), FL_EINVAL);
	assert_int_equal(fl_list_state_add(NULL, &v), FL_EINVAL);
	assert_int_equal(fl_state_iter_next(NULL, &v), FL_EINVAL);
	assert_int_equal(ks_error(f->k)->code, 0);
	assert_int_equal(fl_value_state_update(c, &v), FL_EINVAL);
	assert_err_has(f, "state 'count' of operator 'Counter': used without a current key");
	fx_free(f, false);
	f = fx_new(state);
	at(f, 1);
	c = ks_get(f->k, KS_VALUE, &COUNT);
	assert_int_equal(fl_list_state_add((fl_list_state *)c, &v), FL_EINVAL);
	assert_err_has(f, "a ValueState handle used as a ListState");
	fx_free(f, false);
}

/* ------------------------------------------------ stored values checked */

/* Writes raw value bytes for the int64 key k of state name. */
static void put_raw(st_backend *b, const char *name, int64_t k, const void *v, size_t n)
{
	int id;
	assert_int_equal(st_declare(b, name, 0, &id), 0);
	fl_row r = ri(k);
	uint8_t kb[32];
	size_t kl = row_encode(&r, kb, sizeof(kb));
	uint32_t h = kg_murmur3_32(kb, kl, 0);
	st_key key = {.state = id, .key_group = (int)(h % MAXP), .hash = h, .key = kb, .klen = kl};
	assert_int_equal(st_put(b, &key, v, n), 0);
}

/* Whether the int64 key k of state name has an entry in b. */
static bool has_raw(st_backend *b, const char *name, int64_t k)
{
	int id;
	assert_int_equal(st_declare(b, name, 0, &id), 0);
	fl_row r = ri(k);
	uint8_t kb[32];
	size_t kl = row_encode(&r, kb, sizeof(kb));
	uint32_t h = kg_murmur3_32(kb, kl, 0);
	st_key key = {.state = id, .key_group = (int)(h % MAXP), .hash = h, .key = kb, .klen = kl};
	const void *v;
	size_t n;
	int rc = st_get(b, &key, &v, &n);
	assert_true(rc >= 0);
	return rc == 1;
}

static void test_stored_values_that_do_not_match(void **state)
{
	/* A ValueState's entry read by a ListState of that name (a program
	 * changed between savepoint and restore). */
	fx *f = fx_new(state);
	at(f, 1);
	fl_row v = ri(5);
	assert_int_equal(fl_value_state_update(ks_get(f->k, KS_VALUE, &COUNT), &v), 0);
	st_backend *b = fx_free(f, true);
	f = fx_on(*state, b);
	at(f, 1);
	fl_state_iter *it;
	assert_int_equal(fl_list_state_get(ks_get(f->k, KS_LIST, &COUNT), &it), FL_ETYPE);
	assert_err_has(f,
		       "state 'count' of operator 'Counter': it holds a ValueState value, but is "
		       "declared as a ListState");
	b = fx_free(f, true);

	/* Rows where raw bytes are declared. */
	static const fl_state_desc raw = {.name = "count", .value = {.format = FL_STATE_BYTES}};
	f = fx_on(*state, b);
	at(f, 1);
	fl_row out;
	assert_int_equal(fl_value_state_get(ks_get(f->k, KS_VALUE, &raw), &out), FL_ETYPE);
	assert_err_has(f, "it holds row values, but is declared with raw bytes");
	b = fx_free(f, true);

	/* Another row type. */
	static const fl_state_desc str = {.name = "count",
					  .value = {.nfields = 2, .types = {FL_STRING, FL_INT64}}};
	f = fx_on(*state, b);
	at(f, 1);
	assert_int_equal(fl_value_state_get(ks_get(f->k, KS_VALUE, &str), &out), FL_ETYPE);
	assert_err_has(f, "a stored value does not decode as the declared type: a row of 1 fields "
			  "where the state declares 2");
	b = fx_free(f, true);

	/* Damaged or foreign bytes. */
	const uint8_t newer[] = {0x41, 1, 1, 2};
	const uint8_t notrow[] = {KS_VALUE, 1, 99, 2};
	const uint8_t short_ts[] = {KS_VALUE | KS_H_TTL, 1, 2};
	const uint8_t list_trunc[] = {KS_LIST, 5, 1, 1};
	struct {
		const uint8_t *v;
		size_t n;
		enum ks_kind kind;
		int code;
		const char *why;
	} cases[] = {
	    {newer, sizeof(newer), KS_VALUE, FL_EPROTO, "written by a newer flinc"},
	    {notrow, sizeof(notrow), KS_VALUE, FL_EPROTO,
	     "a stored value does not decode as a row"},
	    {short_ts, sizeof(short_ts), KS_VALUE, FL_EPROTO, "a stored value is malformed"},
	    {list_trunc, sizeof(list_trunc), KS_LIST, FL_EPROTO, "a stored list is malformed"},
	};
	static const fl_state_desc any = {.name = "x"};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		put_raw(b, "x", 3, cases[i].v, cases[i].n);
		f = fx_on(*state, b);
		at(f, 3);
		void *h = ks_get(f->k, cases[i].kind, &any);
		int rc = cases[i].kind == KS_VALUE ? fl_value_state_get(h, &out)
						   : fl_list_state_get(h, &it);
		assert_int_equal(rc, cases[i].code);
		assert_err_has(f, cases[i].why);
		assert_err_has(f, "state 'x' of operator 'Counter'");
		b = fx_free(f, true);
	}
	st_backend_free(b);
}

static void test_lmdb_key_too_long(void **state)
{
	(void)state;
	g_now = 0;
	fx *f = fx_on("lmdb", NULL);
	fl_row r = {0};
	char s[600];
	memset(s, 'k', sizeof(s));
	fl_row_add_string(&r, s, sizeof(s));
	uint8_t kb[700];
	size_t n = row_encode(&r, kb, sizeof(kb));
	ks_set_key(f->k, kb, n, kg_murmur3_32(kb, n, 0));
	fl_row v = ri(1);
	assert_int_equal(fl_value_state_update(ks_get(f->k, KS_VALUE, &COUNT), &v), FL_ERANGE);
	assert_err_has(f, "operator 'Counter': state 'count': key of 604 bytes plus namespace of 0 "
			  "over the 496 bytes the lmdb state backend takes");
	ks_end_record(f->k);
	fx_free(f, false);
}

/* -------------------------------------------------------------------- TTL */

static void test_ttl_value_on_create_and_write(void **state)
{
	fx *f = fx_new(state);
	static const fl_state_desc T = {
	    .name = "t", .value = {.nfields = 1, .types = {FL_INT64}}, .ttl = {.ttl_ms = 50}};
	g_now = 100;
	at(f, 1);
	fl_value_state *t = ks_get(f->k, KS_VALUE, &T);
	fl_row v = ri(7);
	assert_int_equal(fl_value_state_update(t, &v), 0);
	g_now = 149;
	at(f, 1);
	assert_int_equal(vget(t), 7); /* a read does not refresh */
	g_now = 150;		      /* last access + ttl <= now: expired */
	at(f, 1);
	assert_true(has_raw(f->b, "t", 1));
	assert_int_equal(vget(t), -1);
	assert_false(has_raw(f->b, "t", 1)); /* cleaned up by the read */
	/* A write refreshes. */
	assert_int_equal(fl_value_state_update(t, &v), 0);
	g_now = 190;
	at(f, 1);
	assert_int_equal(fl_value_state_update(t, &v), 0);
	g_now = 239;
	at(f, 1);
	assert_int_equal(vget(t), 7);
	/* The time is taken once per record: a record spans one instant. */
	g_now = 240;
	assert_int_equal(vget(t), 7);
	at(f, 1);
	assert_int_equal(vget(t), -1);
	fx_free(f, false);
}

static void test_ttl_value_on_read_and_write(void **state)
{
	fx *f = fx_new(state);
	static const fl_state_desc T = {.name = "t",
					.value = {.nfields = 1, .types = {FL_INT64}},
					.ttl = {.ttl_ms = 50, .update = FL_TTL_ON_READ_AND_WRITE}};
	g_now = 100;
	at(f, 1);
	fl_value_state *t = ks_get(f->k, KS_VALUE, &T);
	fl_row v = ri(7);
	assert_int_equal(fl_value_state_update(t, &v), 0);
	for (g_now = 140; g_now < 400; g_now += 40) {
		at(f, 1);
		assert_int_equal(vget(t), 7); /* each read keeps it alive */
	}
	g_now += 50;
	at(f, 1);
	assert_int_equal(vget(t), -1);
	fx_free(f, false);
}

static void test_ttl_return_expired_if_not_cleaned_up(void **state)
{
	fx *f = fx_new(state);
	static const fl_state_desc T = {
	    .name = "t",
	    .value = {.nfields = 1, .types = {FL_INT64}},
	    .ttl = {.ttl_ms = 50, .visibility = FL_TTL_RETURN_EXPIRED_IF_NOT_CLEANED_UP}};
	static const fl_state_desc R = {
	    .name = "r",
	    .value = {.nfields = 1, .types = {FL_INT64}},
	    .reduce = kst_sum,
	    .ttl = {.ttl_ms = 50, .visibility = FL_TTL_RETURN_EXPIRED_IF_NOT_CLEANED_UP}};
	g_now = 100;
	at(f, 1);
	fl_value_state *t = ks_get(f->k, KS_VALUE, &T);
	fl_reducing_state *r = ks_get(f->k, KS_REDUCING, &R);
	fl_row v = ri(7);
	assert_int_equal(fl_value_state_update(t, &v), 0);
	assert_int_equal(fl_reducing_state_add(r, &v), 0);
	g_now = 200;
	at(f, 1);
	assert_int_equal(vget(t), 7);  /* returned once... */
	assert_int_equal(vget(t), -1); /* ...and cleaned up */
	/* A reducing state folds nothing into an expired value. */
	fl_row x = ri(1);
	assert_int_equal(fl_reducing_state_add(r, &x), 0);
	fl_row out;
	assert_int_equal(fl_reducing_state_get(r, &out), 1);
	assert_int_equal(fl_row_int64(&out, 0), 1);
	fx_free(f, false);
}

static void test_ttl_list_per_element(void **state)
{
	fx *f = fx_new(state);
	static const fl_state_desc L = {
	    .name = "l", .value = {.nfields = 1, .types = {FL_INT64}}, .ttl = {.ttl_ms = 100}};
	at(f, 1);
	fl_list_state *l = ks_get(f->k, KS_LIST, &L);
	for (int i = 0; i < 5; i++) {
		g_now = 100 + 10 * i; /* element i written at 100 + 10 i */
		at(f, 1);
		fl_row x = ri(i + 1);
		assert_int_equal(fl_list_state_add(l, &x), 0);
	}
	int n;
	g_now = 219; /* 1 and 2 expired (written at 100, 110) */
	at(f, 1);
	assert_int_equal(list_sum(l, &n), 345);
	g_now = 250;
	at(f, 1);
	assert_int_equal(list_sum(l, &n), 0); /* every one expired */
	assert_false(has_raw(f->b, "l", 1));
	/* add drops what expired as it rewrites. */
	g_now = 300;
	at(f, 1);
	fl_row x = ri(1);
	assert_int_equal(fl_list_state_add(l, &x), 0);
	g_now = 350;
	at(f, 1);
	x = ri(2);
	assert_int_equal(fl_list_state_add(l, &x), 0);
	g_now = 420;
	at(f, 1);
	x = ri(3);
	assert_int_equal(fl_list_state_add(l, &x), 0);
	assert_int_equal(list_sum(l, &n), 23);
	fx_free(f, false);
}

static void test_ttl_map_per_entry(void **state)
{
	fx *f = fx_new(state);
	static const fl_state_desc M = {.name = "m",
					.key = {.nfields = 1, .types = {FL_INT64}},
					.value = {.nfields = 1, .types = {FL_INT64}},
					.ttl = {.ttl_ms = 100, .update = FL_TTL_ON_READ_AND_WRITE}};
	at(f, 1);
	fl_map_state *m = ks_get(f->k, KS_MAP, &M);
	for (int i = 0; i < 4; i++) {
		g_now = 100 + 10 * i;
		at(f, 1);
		fl_row k = ri(i), v = ri(10 * i);
		assert_int_equal(fl_map_state_put(m, &k, &v), 0);
	}
	/* A read refreshes its entry only. */
	g_now = 195;
	at(f, 1);
	fl_row k = ri(0), out;
	assert_int_equal(fl_map_state_get(m, &k, &out), 1);
	g_now = 215; /* 1 (110) expired, 0 read at 195 alive */
	at(f, 1);
	k = ri(1);
	assert_int_equal(fl_map_state_contains(m, &k), 0);
	fl_state_iter *it;
	assert_int_equal(fl_map_state_entries(m, &it), 1);
	fl_row ek;
	int64_t seen = 0;
	while (fl_state_iter_next_entry(it, &ek, NULL) > 0)
		seen = seen * 10 + fl_row_int64(&ek, 0) + 1;
	assert_int_equal(seen, 134); /* keys 0, 2, 3 */
	g_now = 500;
	at(f, 1);
	assert_int_equal(fl_map_state_is_empty(m), 1);
	assert_false(has_raw(f->b, "m", 1));
	fx_free(f, false);
}

/* Values written before the state had a TTL count from their first read. */
static void test_ttl_added_to_a_stored_state(void **state)
{
	fx *f = fx_new(state);
	static const fl_state_desc L = {.name = "l"};
	static const fl_state_desc T = {
	    .name = "count", .value = {.nfields = 1, .types = {FL_INT64}}, .ttl = {.ttl_ms = 50}};
	static const fl_state_desc LT = {.name = "l", .ttl = {.ttl_ms = 50}};
	g_now = 100;
	at(f, 1);
	fl_row v = ri(3);
	assert_int_equal(fl_value_state_update(ks_get(f->k, KS_VALUE, &COUNT), &v), 0);
	assert_int_equal(fl_list_state_add(ks_get(f->k, KS_LIST, &L), &v), 0);
	st_backend *b = fx_free(f, true);
	f = fx_on(*state, b);
	g_now = 1000;
	at(f, 1);
	fl_value_state *t = ks_get(f->k, KS_VALUE, &T);
	fl_list_state *l = ks_get(f->k, KS_LIST, &LT);
	int n;
	assert_int_equal(vget(t), 3);
	assert_int_equal(list_sum(l, &n), 3);
	g_now = 1049;
	at(f, 1);
	assert_int_equal(vget(t), 3);
	assert_int_equal(list_sum(l, &n), 3);
	g_now = 1050;
	at(f, 1);
	assert_int_equal(vget(t), -1);
	assert_int_equal(list_sum(l, &n), 0);
	fx_free(f, false);
}

/* What a snapshot of b holds, restored into a fresh backend of the same
 * type: written with the context's TTL filter. */
static st_backend *snapshot_through_filter(fx *f, const char *type, uint64_t *entries)
{
	ks_snap_filter *flt = NULL;
	assert_int_equal(ks_snap_filter_new(f->k, &flt), 0);
	assert_non_null(flt);
	st_cut *c = NULL;
	assert_int_equal(st_cut_new(f->b, &c), 0);
	char path[4200];
	snprintf(path, sizeof(path), "%s/snap.state", g_dir);
	FILE *fp = fopen(path, "w+b");
	assert_non_null(fp);
	cm_err err = {0};
	assert_int_equal(st_snapfile_write_filtered(fp, path, c, 0, MAXP - 1, ks_snap_filter_entry,
						    flt, entries, &err),
			 0);
	st_cut_free(c);
	ks_snap_filter_free(flt);
	st_backend *nb = new_backend(type);
	rewind(fp);
	if (st_snapfile_restore(nb, fp, path, 0, MAXP - 1, &err))
		fail_msg("restore: %s", err.msg);
	fclose(fp);
	unlink(path);
	return nb;
}

static void test_ttl_cleanup_in_snapshots(void **state)
{
	fx *f = fx_new(state);
	static const fl_state_desc T = {
	    .name = "t", .value = {.nfields = 1, .types = {FL_INT64}}, .ttl = {.ttl_ms = 100}};
	static const fl_state_desc L = {
	    .name = "l", .value = {.nfields = 1, .types = {FL_INT64}}, .ttl = {.ttl_ms = 100}};
	static const fl_state_desc M = {
	    .name = "m", .key = {.nfields = 1, .types = {FL_INT64}}, .ttl = {.ttl_ms = 100}};
	fl_value_state *t = ks_get(f->k, KS_VALUE, &T);
	fl_list_state *l = ks_get(f->k, KS_LIST, &L);
	fl_map_state *m = ks_get(f->k, KS_MAP, &M);
	fl_value_state *c = ks_get(f->k, KS_VALUE, &COUNT); /* no TTL */
	/* Keys 0..9 written at 100, keys 10..19 at 150; each key's list and
	 * map get one element at 100 and one at 150. */
	for (int k = 0; k < 20; k++) {
		g_now = k < 10 ? 100 : 150;
		at(f, k);
		fl_row v = ri(k);
		assert_int_equal(fl_value_state_update(t, &v), 0);
		assert_int_equal(fl_value_state_update(c, &v), 0);
	}
	for (g_now = 100; g_now <= 150; g_now += 50) {
		for (int k = 0; k < 20; k++) {
			at(f, k);
			fl_row v = ri(g_now), mk = ri(g_now);
			assert_int_equal(fl_list_state_add(l, &v), 0);
			assert_int_equal(fl_map_state_put(m, &mk, &v), 0);
		}
	}
	ks_end_record(f->k);
	g_now = 220; /* what was written at 100 expired */
	uint64_t entries;
	st_backend *nb = snapshot_through_filter(f, *state, &entries);
	/* 10 t + 20 count + 20 lists + 20 maps */
	assert_int_equal(entries, 70);
	fx *g = fx_on(*state, nb);
	g_now = 100; /* read back where nothing has expired */
	t = ks_get(g->k, KS_VALUE, &T);
	l = ks_get(g->k, KS_LIST, &L);
	m = ks_get(g->k, KS_MAP, &M);
	c = ks_get(g->k, KS_VALUE, &COUNT);
	for (int k = 0; k < 20; k++) {
		at(g, k);
		assert_int_equal(vget(t), k < 10 ? -1 : k);
		assert_int_equal(vget(c), k);
		int n;
		assert_int_equal(list_sum(l, &n), 150);
		fl_row mk = ri(100), out;
		assert_int_equal(fl_map_state_contains(m, &mk), 0);
		mk = ri(150);
		assert_int_equal(fl_map_state_get(m, &mk, &out), 1);
	}
	fx_free(g, false);
	/* Nothing expired yet: nothing left out, nothing rewritten. */
	g_now = 120;
	nb = snapshot_through_filter(f, *state, &entries);
	assert_int_equal(entries, 80);
	st_backend_free(nb);
	fx_free(f, false);
}

struct writer_arg {
	st_cut *cut;
	ks_snap_filter *flt;
	FILE *fp;
	char path[4200];
	uint64_t entries;
	int rc;
};

static void *write_snapshot(void *p)
{
	struct writer_arg *w = p;
	cm_err err = {0};
	w->rc = st_snapfile_write_filtered(w->fp, w->path, w->cut, 0, MAXP - 1,
					   ks_snap_filter_entry, w->flt, &w->entries, &err);
	return NULL;
}

/* As a checkpoint does: the cut and its filter are written on another
 * thread while the task thread goes on changing the state (TSan: the
 * filter shares nothing with the context). */
static void test_ttl_filter_on_a_writer_thread(void **state)
{
	fx *f = fx_new(state);
	static const fl_state_desc L = {
	    .name = "l", .value = {.nfields = 1, .types = {FL_INT64}}, .ttl = {.ttl_ms = 100}};
	fl_list_state *l = ks_get(f->k, KS_LIST, &L);
	for (int k = 0; k < 2000; k++) {
		g_now = k % 2 ? 100 : 150;
		at(f, k);
		fl_row v = ri(k);
		assert_int_equal(fl_list_state_add(l, &v), 0);
	}
	ks_end_record(f->k);
	g_now = 220;
	struct writer_arg w = {0};
	assert_int_equal(ks_snap_filter_new(f->k, &w.flt), 0);
	assert_int_equal(st_cut_new(f->b, &w.cut), 0);
	snprintf(w.path, sizeof(w.path), "%s/thread.state", g_dir);
	w.fp = fopen(w.path, "w+b");
	assert_non_null(w.fp);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, write_snapshot, &w), 0);
	for (int k = 0; k < 2000; k++) {
		at(f, k);
		fl_row v = ri(-k);
		assert_int_equal(fl_list_state_add(l, &v), 0);
	}
	ks_end_record(f->k);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w.rc, 0);
	assert_int_equal(w.entries, 1000); /* the keys written at 150 */
	st_cut_free(w.cut);
	ks_snap_filter_free(w.flt);
	fclose(w.fp);
	unlink(w.path);
	fx_free(f, false);
}

static void test_no_filter_without_ttl(void **state)
{
	fx *f = fx_new(state);
	at(f, 1);
	assert_non_null(ks_get(f->k, KS_VALUE, &COUNT));
	ks_snap_filter *flt = (ks_snap_filter *)1;
	assert_int_equal(ks_snap_filter_new(f->k, &flt), 0);
	assert_null(flt);
	fx_free(f, false);
}

#define BOTH(fn)                                                                                   \
	cmocka_unit_test_prestate(fn, (void *)"hashmap"),                                          \
	    cmocka_unit_test_prestate(fn, (void *)"lmdb")

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(test_value_state_per_key),
	    BOTH(test_value_state_rows_strings_and_bytes),
	    BOTH(test_value_of_the_wrong_shape_is_refused),
	    BOTH(test_value_over_an_entry_is_refused),
	    BOTH(test_list_state),
	    BOTH(test_iterators_survive_writes),
	    BOTH(test_map_state),
	    BOTH(test_map_state_bytes_keys_and_clear),
	    BOTH(test_reducing_and_aggregating),
	    BOTH(test_user_function_failure),
	    BOTH(test_declarations_checked),
	    BOTH(test_no_current_key_and_null_handles),
	    BOTH(test_stored_values_that_do_not_match),
	    cmocka_unit_test(test_lmdb_key_too_long),
	    BOTH(test_ttl_value_on_create_and_write),
	    BOTH(test_ttl_value_on_read_and_write),
	    BOTH(test_ttl_return_expired_if_not_cleaned_up),
	    BOTH(test_ttl_list_per_element),
	    BOTH(test_ttl_map_per_entry),
	    BOTH(test_ttl_added_to_a_stored_state),
	    BOTH(test_ttl_cleanup_in_snapshots),
	    BOTH(test_no_filter_without_ttl),
	    BOTH(test_ttl_filter_on_a_writer_thread),
	};
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
