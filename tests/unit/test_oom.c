/*
 * Allocation-failure injection over the unit-level operations, as SQLite's
 * OOM tests do: for N = 1, 2, 3, ... the N-th allocation of the operation
 * fails (tests/support/failalloc.h), once ("one-shot") and then from the
 * N-th on ("persistent"), until an N beyond the operation's last allocation
 * lets it succeed.
 *
 * Each time an allocation failed, the operation must report FL_ENOMEM, free
 * what it allocated (ASan's leak checker runs at exit over the whole
 * executable) and leave no half state: a configuration that failed to load
 * or to take a key is unchanged, a map whose put failed holds what it held,
 * a record whose emit failed is not sent, so that retrying it sends it once.
 *
 * The test code itself must not allocate between arm and disarm (its
 * allocations would be counted too): state snapshots go to static buffers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/loop.h"
#include "config/config.h"
#include "graph/descriptor.h"
#include "graph/jobgraph.h"
#include "network/gate.h"
#include "network/outchan.h"
#include "network/pool.h"
#include "network/writer.h"
#include "rest/rest.h"
#include "rest/rest_internal.h"
#include "state/heapmap.h"
#include "types/codec.h"

#include "failalloc.h"

/* No operation here allocates anywhere near this often: more means a loop
 * that never stops failing. */
#define OOM_MAX_N 5000

/* The run in progress, for failure messages. */
static const char *cur_case;
static long cur_n;
static bool cur_persistent;

#define OOM_CHECK(cond)                                                                            \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail_msg("%s: allocation %ld failing%s: %s (line %d)", cur_case, cur_n,    \
				 cur_persistent ? " (and every one after it)" : "", #cond,         \
				 __LINE__);                                                        \
	} while (0)

/*
 * One operation under test: setup and check run with injection off; run is
 * the operation itself, with the N-th allocation failing. check sees run's
 * result and whether a failure was injected.
 */
struct oom_case {
	const char *name;
	void (*setup)(void *st);
	int (*run)(void *st);
	void (*check)(void *st, int rc, bool hit);
	void (*teardown)(void *st);
};

static void run_oom(const struct oom_case *oc, void *st)
{
	cur_case = oc->name;
	for (int persistent = 0; persistent <= 1; persistent++) {
		cur_persistent = persistent;
		failalloc_set_persistent(persistent);
		long n;
		for (n = 1; n <= OOM_MAX_N; n++) {
			cur_n = n;
			if (oc->setup)
				oc->setup(st);
			failalloc_arm(n);
			int rc = oc->run(st);
			failalloc_disarm();
			bool hit = failalloc_hit();
			if (!hit)
				OOM_CHECK(rc == 0);
			oc->check(st, rc, hit);
			if (oc->teardown)
				oc->teardown(st);
			if (!hit)
				break;
		}
		OOM_CHECK(n <= OOM_MAX_N);
		/* The loop must have reached the operation's allocations at all. */
		OOM_CHECK(n > 1);
		if (!persistent)
			print_message("%s: each of %ld allocations failed in turn\n", oc->name,
				      n - 1);
	}
	failalloc_set_persistent(false);
}

/* ---------------------------------------------------------- configuration */

/* cfg_each's output, key '=' value '\n' per entry, in a static buffer. */
struct cfg_dump {
	char text[16384];
	size_t len;
	bool overflow;
};

static void dump_entry(void *arg, const char *key, const char *value)
{
	struct cfg_dump *d = arg;
	int n = snprintf(d->text + d->len, sizeof(d->text) - d->len, "%s=%s\n", key, value);
	if (n < 0 || (size_t)n >= sizeof(d->text) - d->len)
		d->overflow = true;
	else
		d->len += (size_t)n;
}

static void cfg_dump(const cfg *c, struct cfg_dump *d)
{
	d->len = 0;
	d->text[0] = '\0';
	d->overflow = false;
	cfg_each(c, dump_entry, d);
	assert_false(d->overflow);
}

static bool dumps_equal(const struct cfg_dump *a, const struct cfg_dump *b)
{
	return a->len == b->len && memcmp(a->text, b->text, a->len) == 0;
}

/* A configuration as a deployment writes it: nested and flat keys, every
 * value type, comments, quoting, ignored Flink keys. */
static const char realistic_yaml[] = "# flinc.yaml\n"
				     "jobmanager:\n"
				     "  rpc:\n"
				     "    address: flinc-jobmanager.default.svc\n"
				     "    port: 6123\n"
				     "taskmanager:\n"
				     "  numberOfTaskSlots: 4\n"
				     "  host: \"\"\n"
				     "  data:\n"
				     "    port: 6121\n"
				     "  memory:\n"
				     "    segment-size: 64kb\n"
				     "    managed.size: 256 mb\n"
				     "  network.memory.buffers-per-channel: 4\n"
				     "parallelism.default: 2\n"
				     "pipeline.max-parallelism: 256\n"
				     "execution:\n"
				     "  runtime-mode: streaming\n"
				     "  buffer-timeout: 50 ms\n"
				     "  checkpointing.interval: 10 s\n"
				     "state.checkpoints.dir: 'file:///var/lib/flinc/checkpoints'\n"
				     "state.savepoints.dir: file:///var/lib/flinc/savepoints\n"
				     "rest:\n"
				     "  address: 0.0.0.0\n"
				     "  port: 8081\n"
				     "high-availability.type: none\n"
				     "env.java.opts.all: -Xmx1g\n"
				     "kubernetes.cluster-id: flinc\n";

struct cfg_state {
	cfg *c;
	cfg *out;
	cm_err err;
	struct cfg_dump before, after;
	int step; /* cfg_set sequence: the step that failed */
};

static void cfg_base(struct cfg_state *s, int extra)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(cfg_new(&s->c), 0);
	assert_int_equal(cfg_set(s->c, CFG_PARALLELISM, "3", NULL), 0);
	assert_int_equal(cfg_set_dynamic(s->c, "execution.runtime-mode=batch", NULL), 0);
	/* Ignored Flink keys: stored without a warning. */
	for (int i = 0; i < extra; i++) {
		char key[64];
		snprintf(key, sizeof(key), "env.java.opts.k%02d", i);
		assert_int_equal(cfg_set(s->c, key, "-Dx=1", NULL), 0);
	}
	cm_err_clear(&s->err);
}

static void cfg_teardown(void *st)
{
	struct cfg_state *s = st;
	cfg_free(s->c);
	cfg_free(s->out);
	s->c = s->out = NULL;
}

static void load_setup(void *st)
{
	struct cfg_state *s = st;
	cfg_base(s, 0);
	cfg_dump(s->c, &s->before);
}

static int load_run(void *st)
{
	struct cfg_state *s = st;
	return cfg_load_string(s->c, realistic_yaml, sizeof(realistic_yaml) - 1, "flinc.yaml",
			       &s->err);
}

static void load_check(void *st, int rc, bool hit)
{
	struct cfg_state *s = st;
	cfg_dump(s->c, &s->after);
	if (hit && rc != 0) {
		OOM_CHECK(rc == FL_ENOMEM);
		OOM_CHECK(s->err.code == FL_ENOMEM && s->err.msg[0] != '\0');
		OOM_CHECK(dumps_equal(&s->before, &s->after));
		return;
	}
	OOM_CHECK(rc == 0);
	int64_t v = 0;
	const char *str = NULL;
	OOM_CHECK(cfg_get_int(s->c, CFG_TM_SLOTS, &v) == 0 && v == 4);
	OOM_CHECK(cfg_get_int(s->c, CFG_PARALLELISM, &v) == 0 && v == 2);
	OOM_CHECK(cfg_get_memory_bytes(s->c, CFG_SEGMENT_SIZE, &v) == 0 && v == 65536);
	OOM_CHECK(cfg_get_duration_ms(s->c, CFG_CKP_INTERVAL, &v) == 0 && v == 10000);
	OOM_CHECK(cfg_get_string(s->c, CFG_RUNTIME_MODE, &str) == 0 &&
		  strcmp(str, "STREAMING") == 0);
	OOM_CHECK(cfg_get_string(s->c, CFG_JM_RPC_ADDRESS, &str) == 0 &&
		  strcmp(str, "flinc-jobmanager.default.svc") == 0);
	OOM_CHECK(cfg_is_set(s->c, "kubernetes.cluster-id"));
}

static void test_oom_cfg_load_string_fails_cleanly_and_leaves_config_unchanged(void **state)
{
	struct cfg_state s;
	struct oom_case oc = {"cfg_load_string", load_setup, load_run, load_check, cfg_teardown};
	run_oom(&oc, &s);
}

/* cfg_load_file reads into its own, capped buffer first. */
static char yaml_path[64];

static int load_file_run(void *st)
{
	struct cfg_state *s = st;
	return cfg_load_file(s->c, yaml_path, &s->err);
}

static void test_oom_cfg_load_file_fails_cleanly_and_leaves_config_unchanged(void **state)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(yaml_path, sizeof(yaml_path), "%.40s/flinc-oom-XXXXXX", dir);
	int fd = mkstemp(yaml_path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(realistic_yaml, 1, sizeof(realistic_yaml) - 1, f),
			 sizeof(realistic_yaml) - 1);
	assert_int_equal(fclose(f), 0);
	struct cfg_state s;
	struct oom_case oc = {"cfg_load_file", load_setup, load_file_run, load_check, cfg_teardown};
	run_oom(&oc, &s);
	unlink(yaml_path);
}

static void clone_setup(void *st)
{
	struct cfg_state *s = st;
	cfg_base(s, 20);
	cfg_dump(s->c, &s->before);
}

static int clone_run(void *st)
{
	struct cfg_state *s = st;
	return cfg_clone(s->c, &s->out);
}

static void clone_check(void *st, int rc, bool hit)
{
	struct cfg_state *s = st;
	cfg_dump(s->c, &s->after);
	OOM_CHECK(dumps_equal(&s->before, &s->after));
	if (hit && rc != 0) {
		OOM_CHECK(rc == FL_ENOMEM);
		OOM_CHECK(s->out == NULL);
		return;
	}
	OOM_CHECK(rc == 0 && s->out != NULL);
	cfg_dump(s->out, &s->after);
	OOM_CHECK(dumps_equal(&s->before, &s->after));
}

static void test_oom_cfg_clone_fails_cleanly(void **state)
{
	struct cfg_state s;
	struct oom_case oc = {"cfg_clone", clone_setup, clone_run, clone_check, cfg_teardown};
	run_oom(&oc, &s);
}

/* 2 + 14 = 16 keys: the first insert below grows the entry array. */
static void set_setup(void *st)
{
	struct cfg_state *s = st;
	cfg_base(s, 14);
}

/* Four sets, each on its own snapshot: an insert that grows the array, a
 * replace, and both again through the -D parser. */
static int set_run(void *st)
{
	struct cfg_state *s = st;
	int rc;
	s->step = 0;
	cfg_dump(s->c, &s->before);
	if ((rc = cfg_set(s->c, CFG_TM_HOST, "tm-1.flinc", &s->err)) != 0)
		return rc;
	s->step = 1;
	cfg_dump(s->c, &s->before);
	if ((rc = cfg_set(s->c, CFG_PARALLELISM, "8", &s->err)) != 0)
		return rc;
	s->step = 2;
	cfg_dump(s->c, &s->before);
	if ((rc = cfg_set_dynamic(s->c, "rest.port=9091", &s->err)) != 0)
		return rc;
	s->step = 3;
	cfg_dump(s->c, &s->before);
	return cfg_set_dynamic(s->c, "execution.runtime-mode=streaming", &s->err);
}

static void set_check(void *st, int rc, bool hit)
{
	struct cfg_state *s = st;
	cfg_dump(s->c, &s->after);
	if (hit && rc != 0) {
		OOM_CHECK(rc == FL_ENOMEM);
		OOM_CHECK(s->err.code == FL_ENOMEM && s->err.msg[0] != '\0');
		OOM_CHECK(dumps_equal(&s->before, &s->after));
		return;
	}
	OOM_CHECK(rc == 0 && s->step == 3);
	const char *v = NULL;
	int64_t i = 0;
	OOM_CHECK(cfg_get_string(s->c, CFG_TM_HOST, &v) == 0 && strcmp(v, "tm-1.flinc") == 0);
	OOM_CHECK(cfg_get_int(s->c, CFG_PARALLELISM, &i) == 0 && i == 8);
	OOM_CHECK(cfg_get_int(s->c, CFG_REST_PORT, &i) == 0 && i == 9091);
	OOM_CHECK(cfg_get_string(s->c, CFG_RUNTIME_MODE, &v) == 0 && strcmp(v, "STREAMING") == 0);
}

static void test_oom_cfg_set_and_set_dynamic_leave_config_unchanged(void **state)
{
	struct cfg_state s;
	struct oom_case oc = {"cfg_set/cfg_set_dynamic", set_setup, set_run, set_check,
			      cfg_teardown};
	run_oom(&oc, &s);
}

/* ------------------------------------------------------------- input gate */

struct gate_state {
	net_gate *g;
	int64_t live_before;
	int popped;
	bool order_ok;
};

static void gate_setup(void *st)
{
	struct gate_state *s = st;
	memset(s, 0, sizeof(*s));
	s->live_before = net_buffer_bytes_live();
}

/* A new gate, three data buffers and an event pushed on two channels, all
 * popped back. */
static int gate_run(void *st)
{
	struct gate_state *s = st;
	int rc = net_gate_new(&s->g, 2, 4);
	if (rc != 0)
		return rc;
	for (int i = 0; i < 4; i++) {
		net_buffer *b = i < 3 ? net_buffer_new(64) : net_buffer_event(NET_EV_BARRIER, 7);
		if (!b)
			return FL_ENOMEM;
		if (i < 3) {
			b->data[0] = (uint8_t)i;
			b->len = 1;
		}
		if ((rc = net_gate_push_nowait(s->g, i % 2, b)) != 0)
			return rc;
	}
	s->order_ok = true;
	int seen[2] = {0, 0};
	for (;;) {
		net_buffer *b;
		int ch;
		rc = net_gate_pop(s->g, 0, &b, &ch);
		if (rc == FL_ETIMEDOUT)
			break;
		if (rc != 0)
			return rc;
		/* Per channel, FIFO: channel 0 had buffers 0, 2; channel 1 had 1
		 * and the barrier. */
		int want = ch + 2 * seen[ch]++;
		if (want < 3 ? b->kind != NET_BUF_DATA || b->data[0] != want
			     : b->kind != NET_BUF_EVENT || b->arg != 7)
			s->order_ok = false;
		net_buffer_free(b);
		s->popped++;
	}
	return 0;
}

static void gate_check(void *st, int rc, bool hit)
{
	struct gate_state *s = st;
	if (hit && rc != 0) {
		OOM_CHECK(rc == FL_ENOMEM);
		return;
	}
	OOM_CHECK(rc == 0 && s->popped == 4 && s->order_ok);
}

static void gate_teardown(void *st)
{
	struct gate_state *s = st;
	net_gate_free(s->g);
	s->g = NULL;
	/* Every buffer is back, whichever allocation failed. */
	OOM_CHECK(net_buffer_bytes_live() == s->live_before);
}

static void test_oom_gate_new_push_pop(void **state)
{
	struct gate_state s;
	struct oom_case oc = {"net_gate", gate_setup, gate_run, gate_check, gate_teardown};
	run_oom(&oc, &s);
}

/* ---------------------------------------------------------- record writer */

#define WR_RECORDS 24
#define WR_BUFFER 256

/* First failing allocation after which a broadcast record arrived twice. */
static long broadcast_dup_n;
static bool broadcast_dup_persistent;

struct writer_state {
	enum net_partitioner part;
	net_gate *g;
	net_writer *w;
	int64_t live_before;
	int chans_set;		/* outchans the writer holds */
	int emitted;		/* records emit reported as sent (0..emitted-1) */
	int got[2][WR_RECORDS]; /* times each record arrived, per channel */
	bool garbled;
};

/* Record i: (i, a string of 10 bytes, or 300 for every third record: more
 * than a buffer, so it gets an oversized buffer of its own). */
static void wr_record(int i, fl_row *r, char *text)
{
	size_t len = i % 3 == 0 ? 300 : 10;
	memset(text, 'a' + i % 26, len);
	fl_row_clear(r);
	fl_row_add_int64(r, i);
	fl_row_add_string(r, text, len);
}

static void writer_setup(void *st)
{
	struct writer_state *s = st;
	enum net_partitioner part = s->part;
	memset(s, 0, sizeof(*s));
	s->part = part;
	s->live_before = net_buffer_bytes_live();
	assert_int_equal(net_gate_new(&s->g, 2, 4 * WR_RECORDS), 0);
}

static int writer_emit_from(struct writer_state *s, int first)
{
	static char text[300];
	for (int i = first; i < WR_RECORDS; i++) {
		fl_row r;
		wr_record(i, &r, text);
		int rc = net_writer_emit_row(s->w, 0, &r);
		if (rc != 0)
			return rc;
		s->emitted = i + 1;
	}
	return net_writer_flush_all(s->w);
}

static int writer_run(void *st)
{
	struct writer_state *s = st;
	int rc = net_writer_new(&s->w, s->part, 2, NULL, WR_BUFFER, 0);
	if (rc != 0)
		return rc;
	for (int ch = 0; ch < 2; ch++) {
		net_outchan *oc;
		if ((rc = net_outchan_local(&oc, s->g, ch)) != 0)
			return rc;
		net_writer_set_channel(s->w, ch, oc);
		s->chans_set++;
	}
	return writer_emit_from(s, 0);
}

/* Takes every buffer out of the gate and counts the records in them. */
static void writer_drain(struct writer_state *s)
{
	net_buffer *b;
	int ch;
	while (net_gate_pop(s->g, 0, &b, &ch) == 0) {
		size_t off = 0;
		while (off < b->len) {
			uint64_t len;
			size_t k = row_varint_get(b->data + off, b->len - off, &len);
			fl_row r;
			size_t used;
			if (k == 0 || len > b->len - off - k ||
			    row_decode(b->data + off + k, (size_t)len, &r, &used) != 0 ||
			    used != len || r.nfields != 2) {
				s->garbled = true;
				break;
			}
			int64_t id = fl_row_int64(&r, 0);
			if (id < 0 || id >= WR_RECORDS)
				s->garbled = true;
			else
				s->got[ch][id]++;
			off += k + (size_t)len;
		}
		net_buffer_free(b);
	}
}

static void writer_check(void *st, int rc, bool hit)
{
	struct writer_state *s = st;
	if (hit && rc != 0) {
		OOM_CHECK(rc == FL_ENOMEM);
		/* Retrying the failed record and the rest, with memory back,
		 * must deliver every record exactly once. */
		if (s->chans_set < 2)
			return; /* no writer to retry with: nothing was sent */
		if (s->emitted < WR_RECORDS)
			OOM_CHECK(writer_emit_from(s, s->emitted) == 0);
		else
			OOM_CHECK(net_writer_flush_all(s->w) == 0);
	}
	writer_drain(s);
	OOM_CHECK(!s->garbled);
	for (int i = 0; i < WR_RECORDS; i++) {
		if (s->part != NET_PART_BROADCAST) {
			OOM_CHECK(s->got[0][i] + s->got[1][i] == 1);
			continue;
		}
		/* Never lost; sent twice on a channel is the known defect
		 * below. */
		OOM_CHECK(s->got[0][i] >= 1 && s->got[1][i] >= 1);
		OOM_CHECK(s->got[0][i] <= 2 && s->got[1][i] <= 2);
		if ((s->got[0][i] == 2 || s->got[1][i] == 2) && broadcast_dup_n == 0) {
			broadcast_dup_n = cur_n;
			broadcast_dup_persistent = cur_persistent;
		}
	}
}

static void writer_teardown(void *st)
{
	struct writer_state *s = st;
	net_writer_free(s->w);
	net_gate_free(s->g);
	s->w = NULL;
	s->g = NULL;
	OOM_CHECK(net_buffer_bytes_live() == s->live_before);
}

static void test_oom_writer_emit_flush_into_local_outchan_sends_each_record_once(void **state)
{
	struct writer_state s = {.part = NET_PART_REBALANCE};
	struct oom_case oc = {"net_writer (rebalance)", writer_setup, writer_run, writer_check,
			      writer_teardown};
	run_oom(&oc, &s);
}

static void test_oom_writer_broadcast_sends_each_record_once_per_channel(void **state)
{
	struct writer_state s = {.part = NET_PART_BROADCAST};
	struct oom_case oc = {"net_writer (broadcast)", writer_setup, writer_run, writer_check,
			      writer_teardown};
	run_oom(&oc, &s);
	/* A broadcast record that failed with FL_ENOMEM must be on no channel,
	 * so a retry sends it once (the writer makes room on every channel
	 * before it writes to any). */
	if (broadcast_dup_n)
		fail_msg("allocation %ld failing%s: a broadcast record that failed with FL_ENOMEM "
			 "was already in some channels; retrying sent it twice",
			 broadcast_dup_n, broadcast_dup_persistent ? " (persistent)" : "");
}

/* ------------------------------------------------------------- heap state */

#define HM_KEYS 40

struct heapmap_state {
	st_heapmap *m;
	int step;
	size_t size_before;
	uint64_t sum_before;
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/* Order-independent digest of the whole map: keys, values, key groups. */
static uint64_t hm_digest(const st_heapmap *m)
{
	uint64_t sum = 0;
	size_t cur = 0, klen, vlen;
	const void *k, *v;
	int kg;
	while (st_heapmap_next(m, &cur, &k, &klen, &v, &vlen, &kg)) {
		uint64_t h = 0xcbf29ce484222325ull;
		h = fnv(h, &klen, sizeof(klen));
		h = fnv(h, k, klen);
		h = fnv(h, &vlen, sizeof(vlen));
		h = fnv(h, v, vlen);
		h = fnv(h, &kg, sizeof(kg));
		sum += h;
	}
	return sum;
}

static uint32_t hm_hash(const char *key)
{
	return (uint32_t)fnv(0xcbf29ce484222325ull, key, strlen(key));
}

/* Value of key i at round r: 8 bytes (inline) or, for every fifth key, 100
 * (out of line). Round 1 turns key 3 out of line, key 5 inline and grows
 * key 10 past its capacity. */
static size_t hm_value(int i, int round, char *buf)
{
	size_t len = i % 5 == 0 ? 100 : 8;
	if (round == 1 && i == 3)
		len = 200;
	if (round == 1 && i == 5)
		len = 4;
	if (round == 1 && i == 10)
		len = 1000;
	memset(buf, 'A' + (i + round) % 26, len);
	return len;
}

static void hm_setup(void *st)
{
	struct heapmap_state *s = st;
	memset(s, 0, sizeof(*s));
}

static int hm_put(struct heapmap_state *s, int i, int round)
{
	static char val[1000];
	char key[32];
	snprintf(key, sizeof(key), "key-%d", i);
	size_t vlen = hm_value(i, round, val);
	s->size_before = st_heapmap_size(s->m);
	s->sum_before = hm_digest(s->m);
	return st_heapmap_put(s->m, key, strlen(key), hm_hash(key), i % 128, val, vlen);
}

/* A new map, 40 puts (growing the table twice), then four replacements that
 * move values in and out of line. */
static int hm_run(void *st)
{
	struct heapmap_state *s = st;
	int rc = st_heapmap_new(&s->m);
	if (rc != 0)
		return rc;
	for (s->step = 0; s->step < HM_KEYS; s->step++)
		if ((rc = hm_put(s, s->step, 0)) != 0)
			return rc;
	static const int again[] = {3, 5, 10, 11};
	for (size_t j = 0; j < sizeof(again) / sizeof(again[0]); j++, s->step++)
		if ((rc = hm_put(s, again[j], 1)) != 0)
			return rc;
	return 0;
}

static void hm_check(void *st, int rc, bool hit)
{
	struct heapmap_state *s = st;
	if (hit && rc != 0) {
		OOM_CHECK(rc == FL_ENOMEM);
		if (s->m) {
			/* "FL_ENOMEM (map unchanged)" */
			OOM_CHECK(st_heapmap_size(s->m) == s->size_before);
			OOM_CHECK(hm_digest(s->m) == s->sum_before);
		}
		return;
	}
	OOM_CHECK(st_heapmap_size(s->m) == HM_KEYS);
	for (int i = 0; i < HM_KEYS; i++) {
		char key[32], want[1000];
		snprintf(key, sizeof(key), "key-%d", i);
		int round = i == 3 || i == 5 || i == 10 || i == 11;
		size_t wlen = hm_value(i, round, want);
		const void *v;
		size_t vlen;
		OOM_CHECK(st_heapmap_get(s->m, key, strlen(key), hm_hash(key), &v, &vlen) == 1);
		OOM_CHECK(vlen == wlen && memcmp(v, want, wlen) == 0);
	}
}

static void hm_teardown(void *st)
{
	struct heapmap_state *s = st;
	st_heapmap_free(s->m);
	s->m = NULL;
}

static void test_oom_heapmap_put_and_grow_leave_map_unchanged(void **state)
{
	struct heapmap_state s;
	struct oom_case oc = {"st_heapmap", hm_setup, hm_run, hm_check, hm_teardown};
	run_oom(&oc, &s);
}

/* ---------------------------------------------------------------- row_copy */

struct rowcopy_state {
	fl_row src, first, second;
	uint8_t *buf;
	size_t cap;
	int step;
	uint8_t *buf_before;
	size_t cap_before;
};

static const char rc_text[] = "a string field long enough to matter";
static const uint8_t rc_bytes[] = {0, 1, 2, 0xfe, 0xff};

static void rowcopy_setup(void *st)
{
	struct rowcopy_state *s = st;
	memset(s, 0, sizeof(*s));
	fl_row_add_int64(&s->src, -42);
	fl_row_add_string(&s->src, rc_text, sizeof(rc_text) - 1);
	fl_row_add_bytes(&s->src, rc_bytes, sizeof(rc_bytes));
	fl_row_add_double(&s->src, 2.5);
	fl_row_add_null(&s->src);
}

static bool rows_equal(const fl_row *a, const fl_row *b)
{
	uint8_t ea[256], eb[256];
	size_t na = row_encode(a, ea, sizeof(ea)), nb = row_encode(b, eb, sizeof(eb));
	return na > 0 && na == nb && memcmp(ea, eb, na) == 0;
}

/* A first copy into no buffer (realloc), then a copy of that copy, whose
 * strings live in the buffer (a fresh allocation, as an accumulator does). */
static int rowcopy_run(void *st)
{
	struct rowcopy_state *s = st;
	int rc;
	s->step = 0;
	s->buf_before = s->buf;
	s->cap_before = s->cap;
	if ((rc = row_copy(&s->src, &s->buf, &s->cap, &s->first)) != 0)
		return rc;
	s->step = 1;
	s->buf_before = s->buf;
	s->cap_before = s->cap;
	return row_copy(&s->first, &s->buf, &s->cap, &s->second);
}

static void rowcopy_check(void *st, int rc, bool hit)
{
	struct rowcopy_state *s = st;
	if (hit && rc != 0) {
		OOM_CHECK(rc == FL_ENOMEM);
		OOM_CHECK(s->buf == s->buf_before && s->cap == s->cap_before);
		if (s->step == 1) /* the first copy still reads back */
			OOM_CHECK(rows_equal(&s->first, &s->src));
		return;
	}
	/* (first pointed into the buffer the second copy replaced) */
	OOM_CHECK(rows_equal(&s->second, &s->src));
}

static void rowcopy_teardown(void *st)
{
	struct rowcopy_state *s = st;
	free(s->buf);
	s->buf = NULL;
}

static void test_oom_row_copy_keeps_buffer_on_failure(void **state)
{
	struct rowcopy_state s;
	struct oom_case oc = {"row_copy", rowcopy_setup, rowcopy_run, rowcopy_check,
			      rowcopy_teardown};
	run_oom(&oc, &s);
}

/* ------------------------------------------------------------- job graph */

struct graph_state {
	sg_graph *sg;
	jg_graph *jg;
	cm_err err;
	bool build_sg; /* the stream graph too is built under injection */
};

/*
 * generator (p=2) -> map -> filter -> key_by(0) -> sum (p=3) -> print (p=3),
 * and map -> rebalance -> discard: three vertices, two job edges.
 */
static int sg_build_small(sg_graph **out)
{
	sg_graph *g;
	sg_node *n;
	int rc = sg_graph_new(&g);
	if (rc != 0)
		return rc;
	g->parallelism = 2;
	if ((rc = sg_add_node(g, SG_SOURCE_GENERATOR, NULL, 0, &n)) != 0)
		goto fail;
	n->gen_count = 100;
	if (!(n->fn_symbol = strdup("tg_gen")))
		goto nomem;
	sg_edge e = {.src = 0, .part = SG_PART_UNSET};
	if ((rc = sg_add_node(g, SG_MAP, &e, 1, &n)) != 0)
		goto fail;
	e.src = 1;
	if ((rc = sg_add_node(g, SG_FILTER, &e, 1, &n)) != 0)
		goto fail;
	sg_edge keyed = {
	    .src = 2, .part = SG_PART_HASH, .key = {.by_fn = true, .fn_symbol = "tg_key"}};
	if ((rc = sg_add_node(g, SG_SUM, &keyed, 1, &n)) != 0)
		goto fail;
	n->parallelism = 3;
	e.src = 3;
	if ((rc = sg_add_node(g, SG_SINK_PRINT, &e, 1, &n)) != 0)
		goto fail;
	n->parallelism = 3;
	sg_edge reb = {.src = 1, .part = SG_PART_REBALANCE};
	if ((rc = sg_add_node(g, SG_SINK_DISCARD, &reb, 1, &n)) != 0)
		goto fail;
	if (!(n->slot_group = strdup("sinks")))
		goto nomem;
	*out = g;
	return 0;
nomem:
	rc = FL_ENOMEM;
fail:
	sg_graph_free(g);
	return rc;
}

static void graph_setup(void *st)
{
	struct graph_state *s = st;
	bool build_sg = s->build_sg;
	memset(s, 0, sizeof(*s));
	s->build_sg = build_sg;
	cm_err_clear(&s->err);
	if (!build_sg)
		assert_int_equal(sg_build_small(&s->sg), 0);
}

static int graph_run(void *st)
{
	struct graph_state *s = st;
	int rc;
	if (s->build_sg && (rc = sg_build_small(&s->sg)) != 0)
		return rc;
	return jg_build(s->sg, "oom", &s->jg, &s->err);
}

static void graph_check(void *st, int rc, bool hit)
{
	struct graph_state *s = st;
	if (hit && rc != 0) {
		OOM_CHECK(rc == FL_ENOMEM);
		OOM_CHECK(s->jg == NULL);
		if (s->sg)
			OOM_CHECK(s->err.code == FL_ENOMEM);
		return;
	}
	OOM_CHECK(s->jg != NULL);
	OOM_CHECK(s->jg->nvertices == 3 && s->jg->nedges == 2);
	OOM_CHECK(strcmp(s->jg->vertices[0].name, "Source: Generator -> Map -> Filter") == 0);
	OOM_CHECK(s->jg->slots_needed == 3 + 2);
	OOM_CHECK(strcmp(s->sg->nodes[3]->inputs[0].key.fn_symbol, "tg_key") == 0);
}

static void graph_teardown(void *st)
{
	struct graph_state *s = st;
	jg_free(s->jg);
	sg_graph_free(s->sg);
	s->jg = NULL;
	s->sg = NULL;
}

static void test_oom_jg_build_fails_cleanly(void **state)
{
	struct graph_state s = {.build_sg = false};
	struct oom_case oc = {"jg_build", graph_setup, graph_run, graph_check, graph_teardown};
	run_oom(&oc, &s);
}

static void test_oom_stream_graph_and_jg_build_fail_cleanly(void **state)
{
	struct graph_state s = {.build_sg = true};
	struct oom_case oc = {"sg_add_node + jg_build", graph_setup, graph_run, graph_check,
			      graph_teardown};
	run_oom(&oc, &s);
}

/* ------------------------------------------------- deployment descriptors */

/* The small graph placed on two TaskManagers; the sum's subtask 1 is built,
 * encoded and decoded under injection. Placement arrays are static: the
 * test must not allocate while armed. */
struct desc_state {
	sg_graph *sg;
	jg_graph *jg;
	td_task *td, *back;
	uint8_t *bytes;
	size_t len;
	cm_err err;
};

static td_peer desc_peers[2] = {{"tm-a", "127.0.0.1:1000"}, {"tm-b", "127.0.0.1:2000"}};
static uint32_t desc_where[3][3] = {{0, 1, 0}, {1, 0, 1}, {0, 1, 0}};
static const uint32_t *const desc_subtask_peer[3] = {desc_where[0], desc_where[1], desc_where[2]};
static uint64_t desc_edge_base[2];

static td_placement desc_placement(void)
{
	return (td_placement){.job_id = "0123456789abcdef0123456789abcdef",
			      .attempt = 99,
			      .peers = desc_peers,
			      .npeers = 2,
			      .subtask_peer = desc_subtask_peer,
			      .edge_base = desc_edge_base};
}

static void desc_setup(void *st)
{
	struct desc_state *s = st;
	memset(s, 0, sizeof(*s));
	cm_err_clear(&s->err);
	assert_int_equal(sg_build_small(&s->sg), 0);
	assert_int_equal(jg_build(s->sg, "oom", &s->jg, &s->err), 0);
	assert_int_equal(s->jg->nedges, 2);
	td_edge_bases(s->jg, desc_edge_base);
}

static int desc_run(void *st)
{
	struct desc_state *s = st;
	td_placement pl = desc_placement();
	int rc = td_build(s->jg, &pl, 1, 1, &s->td);
	if (rc == 0)
		rc = td_encode(s->td, &s->bytes, &s->len);
	if (rc == 0)
		rc = td_decode(s->bytes, s->len, &s->back, &s->err);
	return rc;
}

static void desc_check(void *st, int rc, bool hit)
{
	struct desc_state *s = st;
	if (hit && rc != 0) {
		OOM_CHECK(rc == FL_ENOMEM);
		/* Whatever step failed left its output unset. */
		OOM_CHECK(s->back == NULL);
		OOM_CHECK(s->bytes == NULL || s->td != NULL);
		return;
	}
	OOM_CHECK(s->back != NULL);
	OOM_CHECK(s->back->subtask == 1 && s->back->attempt == 99);
	OOM_CHECK(s->back->nops == s->td->nops && s->back->ninputs == s->td->ninputs);
	uint8_t *again = NULL;
	size_t len = 0;
	OOM_CHECK(td_encode(s->back, &again, &len) == 0);
	OOM_CHECK(len == s->len && memcmp(again, s->bytes, len) == 0);
	free(again);
}

static void desc_teardown(void *st)
{
	struct desc_state *s = st;
	td_free(s->back);
	td_free(s->td);
	free(s->bytes);
	jg_free(s->jg);
	sg_graph_free(s->sg);
	memset(s, 0, sizeof(*s));
}

static void test_oom_descriptor_build_encode_decode_fail_cleanly(void **state)
{
	struct desc_state s;
	struct oom_case oc = {"td_build + td_encode + td_decode", desc_setup, desc_run, desc_check,
			      desc_teardown};
	run_oom(&oc, &s);
}

/* ------------------------------------------------- buffer pool, event loop */

struct pool_state {
	net_pool *pool;
	net_buffer *b;
	cm_err err;
};

static int pool_run(void *st)
{
	struct pool_state *s = st;
	memset(s, 0, sizeof(*s));
	int rc = net_pool_new(&s->pool, 16, 4096, &s->err);
	if (rc == 0)
		rc = net_pool_reserve(s->pool, 4, &s->err);
	if (rc == 0)
		rc = net_pool_take(s->pool, false, NULL, &s->b);
	return rc;
}

static void pool_check(void *st, int rc, bool hit)
{
	struct pool_state *s = st;
	if (hit && rc != 0) {
		OOM_CHECK(rc == FL_ENOMEM);
		OOM_CHECK(s->b == NULL);
		return;
	}
	OOM_CHECK(s->b != NULL && s->b->cap == 4096);
}

static void pool_teardown(void *st)
{
	struct pool_state *s = st;
	net_buffer_free(s->b);
	if (s->pool) {
		OOM_CHECK(net_pool_in_use(s->pool) == 0);
		net_pool_free(s->pool);
	}
}

static void test_oom_pool_new_reserve_take_fail_cleanly(void **state)
{
	struct pool_state s;
	struct oom_case oc = {"net_pool_new + reserve + take", NULL, pool_run, pool_check,
			      pool_teardown};
	run_oom(&oc, &s);
}

struct loop_state {
	cm_loop *loop;
	atomic_int ran;
};

static void loop_task(void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
}

static int loop_run(void *st)
{
	struct loop_state *s = st;
	s->loop = NULL;
	atomic_store(&s->ran, 0);
	int rc = cm_loop_new(&s->loop, "oom");
	if (rc == 0)
		rc = cm_loop_call(s->loop, loop_task, &s->ran);
	return rc;
}

static void loop_check(void *st, int rc, bool hit)
{
	struct loop_state *s = st;
	if (hit && rc != 0) {
		OOM_CHECK(rc == FL_ENOMEM);
		OOM_CHECK(atomic_load(&s->ran) == 0);
		return;
	}
	OOM_CHECK(atomic_load(&s->ran) == 1);
}

static void loop_teardown(void *st)
{
	struct loop_state *s = st;
	cm_loop_free(s->loop);
	s->loop = NULL;
}

static void test_oom_loop_new_and_call_fail_cleanly(void **state)
{
	struct loop_state s;
	struct oom_case oc = {"cm_loop_new + cm_loop_call", NULL, loop_run, loop_check,
			      loop_teardown};
	run_oom(&oc, &s);
}

/* ------------------------------------------------------------------- REST */

struct rest_oom_state {
	rest_server *s;
	rest_response resp;
	int matched;
};

static int rest_oom_handler(void *arg, const rest_request *req, rest_response *resp)
{
	return 0;
}

static int rest_oom_run(void *st)
{
	struct rest_oom_state *s = st;
	memset(s, 0, sizeof(*s));
	rest_options o = {.bind_host = "127.0.0.1"};
	int rc = rest_server_new(&s->s, &o, NULL);
	/* More routes than the first table holds: it grows. */
	static char patterns[20][32];
	for (int i = 0; rc == 0 && i < 20; i++) {
		snprintf(patterns[i], sizeof(patterns[i]), "/r%d/:id/x", i);
		rc = rest_route(s->s, i % 2 ? "GET" : "POST", patterns[i], rest_oom_handler, NULL);
	}
	rest_path p;
	char why[64];
	if (rc == 0)
		rc = rest_path_parse(&p, "/r19/a%20b/x", 12, why, sizeof(why));
	if (rc == 0) {
		rest_pattern *pat;
		rc = rest_pattern_parse(&pat, "/r19/:id/x", NULL);
		const char *names[REST_MAX_PARAMS], *values[REST_MAX_PARAMS];
		int np;
		if (rc == 0 && rest_pattern_match(pat, &p, names, values, &np) &&
		    strcmp(values[0], "a b") == 0)
			s->matched = 1;
		rest_pattern_free(pat);
		rest_path_fini(&p);
	}
	if (rc == 0)
		rc = rest_error(&s->resp, 404, "no job %s", "x");
	return rc;
}

static void rest_oom_check(void *st, int rc, bool hit)
{
	struct rest_oom_state *s = st;
	if (hit && rc != 0) {
		OOM_CHECK(rc == FL_ENOMEM);
		OOM_CHECK(s->resp.body == NULL);
		return;
	}
	OOM_CHECK(s->matched == 1);
	OOM_CHECK(s->resp.status == 404 && s->resp.body != NULL);
}

static void rest_oom_teardown(void *st)
{
	struct rest_oom_state *s = st;
	rest_server_free(s->s);
	free(s->resp.body);
}

static void test_oom_rest_routes_paths_and_errors_fail_cleanly(void **state)
{
	struct rest_oom_state s;
	struct oom_case oc = {"rest_server_new + rest_route + rest_path_parse + rest_error", NULL,
			      rest_oom_run, rest_oom_check, rest_oom_teardown};
	run_oom(&oc, &s);
}

/* ------------------------------------------------------------- the wrapper */

/* The injector itself: the n-th allocation fails, once or from then on. */
static void test_failalloc_fails_exactly_the_nth_allocation(void **state)
{
	failalloc_set_persistent(false);
	failalloc_arm(2);
	void *a = malloc(8), *b = malloc(8), *c = strdup("x");
	failalloc_disarm();
	assert_non_null(a);
	assert_null(b);
	assert_non_null(c);
	assert_true(failalloc_hit());
	assert_int_equal(failalloc_count(), 3);
	free(a);
	free(c);

	failalloc_set_persistent(true);
	failalloc_arm(1);
	void *d = calloc(1, 8);
	char *e = NULL;
	int n = asprintf(&e, "%d", 1);
	failalloc_disarm();
	failalloc_set_persistent(false);
	assert_null(d);
	assert_int_equal(n, -1);

	failalloc_arm(5);
	void *f = realloc(NULL, 8);
	failalloc_disarm();
	assert_false(failalloc_hit());
	assert_non_null(f);
	free(f);
}

int main(void)
{
	/* Unknown-key warnings would repeat on every iteration; none of the
	 * operations here depends on them. */
	cm_log_set_level(CM_LOG_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_failalloc_fails_exactly_the_nth_allocation),
	    cmocka_unit_test(test_oom_cfg_load_string_fails_cleanly_and_leaves_config_unchanged),
	    cmocka_unit_test(test_oom_cfg_load_file_fails_cleanly_and_leaves_config_unchanged),
	    cmocka_unit_test(test_oom_cfg_clone_fails_cleanly),
	    cmocka_unit_test(test_oom_cfg_set_and_set_dynamic_leave_config_unchanged),
	    cmocka_unit_test(test_oom_gate_new_push_pop),
	    cmocka_unit_test(test_oom_writer_emit_flush_into_local_outchan_sends_each_record_once),
	    cmocka_unit_test(test_oom_writer_broadcast_sends_each_record_once_per_channel),
	    cmocka_unit_test(test_oom_heapmap_put_and_grow_leave_map_unchanged),
	    cmocka_unit_test(test_oom_row_copy_keeps_buffer_on_failure),
	    cmocka_unit_test(test_oom_jg_build_fails_cleanly),
	    cmocka_unit_test(test_oom_stream_graph_and_jg_build_fail_cleanly),
	    cmocka_unit_test(test_oom_descriptor_build_encode_decode_fail_cleanly),
	    cmocka_unit_test(test_oom_pool_new_reserve_take_fail_cleanly),
	    cmocka_unit_test(test_oom_loop_new_and_call_fail_cleanly),
	    cmocka_unit_test(test_oom_rest_routes_paths_and_errors_fail_cleanly),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
