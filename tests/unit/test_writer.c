/* test_writer.c — the record writer: framing, partitioners, flushing,
 * oversize records, events after data, cancellation, through local gates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <flinc/flinc.h>

#include "common/clock.h"
#include "network/buffer.h"
#include "network/gate.h"
#include "network/outchan.h"
#include "network/writer.h"
#include "types/codec.h"

#define MAXREC 4096

/* What one drain of the gate saw, in pop order. */
struct seen {
	int n;
	int ch[MAXREC];
	int64_t key[MAXREC];
	uint32_t slen[MAXREC]; /* length of field 1 (string) */
	int buffers[8];	       /* data buffers per channel */
	int nev;
	int ev_ch[64];
	int ev_after[64]; /* records seen on that channel before the event */
	int64_t ev_arg[64];
	int per_ch[8];
	uint32_t max_len;
	uint32_t max_cap;
};

struct rig {
	net_gate *g;
	net_writer *w;
	int n;
};

static void rig_new(struct rig *r, enum net_partitioner part, int n, uint32_t bufsize, int start)
{
	r->n = n;
	assert_int_equal(net_gate_new(&r->g, n, 256), 0);
	assert_int_equal(net_writer_new(&r->w, part, n, NULL, bufsize, start), 0);
	for (int i = 0; i < n; i++) {
		net_outchan *oc;
		assert_int_equal(net_outchan_local(&oc, r->g, i), 0);
		net_writer_set_channel(r->w, i, oc);
	}
}

static void rig_free(struct rig *r)
{
	net_writer_free(r->w);
	net_gate_free(r->g);
}

static void decode_buffer(struct seen *s, int ch, const net_buffer *b)
{
	size_t off = 0;
	while (off < b->len) {
		uint64_t len;
		size_t v = row_varint_get(b->data + off, b->len - off, &len);
		assert_true(v > 0);
		off += v;
		assert_true(len <= b->len - off); /* never split across buffers */
		fl_row row;
		size_t used;
		assert_int_equal(row_decode(b->data + off, len, &row, &used), 0);
		assert_int_equal(used, len);
		off += len;
		assert_true(s->n < MAXREC);
		s->ch[s->n] = ch;
		s->key[s->n] = fl_row_int64(&row, 0);
		size_t sl = 0;
		if (row.nfields > 1)
			fl_row_string(&row, 1, &sl);
		s->slen[s->n] = (uint32_t)sl;
		s->n++;
		s->per_ch[ch]++;
	}
}

static void drain(struct rig *r, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	for (;;) {
		net_buffer *b;
		int ch;
		int rc = net_gate_pop(r->g, 0, &b, &ch);
		if (rc == FL_ETIMEDOUT)
			break;
		assert_int_equal(rc, 0);
		if (b->kind == NET_BUF_EVENT) {
			s->ev_ch[s->nev] = ch;
			s->ev_after[s->nev] = s->per_ch[ch];
			s->ev_arg[s->nev] = b->arg;
			s->nev++;
		} else {
			s->buffers[ch]++;
			if (b->len > s->max_len)
				s->max_len = b->len;
			if (b->cap > s->max_cap)
				s->max_cap = b->cap;
			decode_buffer(s, ch, b);
		}
		net_buffer_free(b);
	}
}

static void make_row(fl_row *row, int64_t key, const char *str, size_t len)
{
	fl_row_clear(row);
	assert_int_equal(fl_row_add_int64(row, key), 0);
	assert_int_equal(fl_row_add_string(row, str, len), 0);
}

static const char text[] = "the quick brown fox jumps over the lazy dog, again and again";

static void test_forward_round_trips_rows_in_order(void **state)
{
	static struct seen s;
	struct rig r;
	int64_t before = net_buffer_bytes_live();
	rig_new(&r, NET_PART_FORWARD, 1, 512, 0);
	for (int i = 0; i < 1000; i++) {
		fl_row row;
		make_row(&row, i, text, (size_t)(i % 60));
		assert_int_equal(net_writer_emit_row(r.w, 5, &row), 0);
	}
	assert_int_equal(net_writer_flush_all(r.w), 0);
	drain(&r, &s);
	assert_int_equal(s.n, 1000);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(s.ch[i], 0);
		assert_int_equal(s.key[i], i);
		assert_int_equal(s.slen[i], (uint32_t)(i % 60));
	}
	assert_true(s.buffers[0] > 10); /* buffers filled, not one per record */
	assert_true(s.max_len <= 512);
	assert_true(net_writer_bytes_out(r.w) > 1000 * 3);
	rig_free(&r);
	assert_int_equal(net_buffer_bytes_live(), before);
}

static void test_rebalance_is_round_robin_from_start(void **state)
{
	static struct seen s;
	struct rig r;
	rig_new(&r, NET_PART_REBALANCE, 3, 1024, 1);
	for (int i = 0; i < 30; i++) {
		fl_row row;
		make_row(&row, i, text, 3);
		assert_int_equal(net_writer_emit_row(r.w, -1, &row), 0);
	}
	assert_int_equal(net_writer_flush_all(r.w), 0);
	drain(&r, &s);
	assert_int_equal(s.n, 30);
	for (int i = 0; i < 30; i++)
		assert_int_equal(s.ch[i], (int)((s.key[i] + 1) % 3));
	assert_int_equal(s.per_ch[0], 10);
	assert_int_equal(s.per_ch[1], 10);
	assert_int_equal(s.per_ch[2], 10);
	rig_free(&r);
}

static void test_hash_routes_to_given_channel(void **state)
{
	static struct seen s;
	struct rig r;
	rig_new(&r, NET_PART_HASH, 4, 1024, 0);
	for (int i = 0; i < 40; i++) {
		fl_row row;
		make_row(&row, i, text, 5);
		int target = (i * 7) % 4;
		if (i % 2)
			assert_int_equal(net_writer_emit_row(r.w, target, &row), 0);
		else {
			uint8_t enc[256];
			size_t n = row_encode(&row, enc, sizeof(enc));
			assert_true(n > 0);
			assert_int_equal(net_writer_emit(r.w, target, enc, (uint32_t)n), 0);
		}
	}
	assert_int_equal(net_writer_flush_all(r.w), 0);
	drain(&r, &s);
	assert_int_equal(s.n, 40);
	for (int i = 0; i < 40; i++)
		assert_int_equal(s.ch[i], (int)((s.key[i] * 7) % 4));
	rig_free(&r);
}

static void test_broadcast_reaches_every_channel(void **state)
{
	static struct seen s;
	struct rig r;
	rig_new(&r, NET_PART_BROADCAST, 3, 256, 0);
	for (int i = 0; i < 50; i++) {
		fl_row row;
		make_row(&row, i, text, (size_t)(i % 60));
		assert_int_equal(net_writer_emit_row(r.w, 0, &row), 0);
	}
	fl_row row;
	make_row(&row, 50, text, 10);
	uint8_t enc[256];
	size_t n = row_encode(&row, enc, sizeof(enc));
	assert_int_equal(net_writer_emit(r.w, 0, enc, (uint32_t)n), 0);
	assert_int_equal(net_writer_flush_all(r.w), 0);
	drain(&r, &s);
	assert_int_equal(s.n, 3 * 51);
	for (int c = 0; c < 3; c++) {
		assert_int_equal(s.per_ch[c], 51);
		int64_t next = 0;
		for (int i = 0; i < s.n; i++) {
			if (s.ch[i] == c) {
				assert_int_equal(s.key[i], next);
				next++;
			}
		}
	}
	rig_free(&r);
}

static void test_flush_all_sends_partial_buffers(void **state)
{
	static struct seen s;
	struct rig r;
	rig_new(&r, NET_PART_HASH, 2, 32 * 1024, 0);
	fl_row row;
	make_row(&row, 1, text, 4);
	assert_int_equal(net_writer_emit_row(r.w, 1, &row), 0);
	make_row(&row, 2, text, 4);
	assert_int_equal(net_writer_emit_row(r.w, 1, &row), 0);
	drain(&r, &s);
	assert_int_equal(s.n, 0); /* still in the writer's buffer */
	assert_int_equal(net_writer_flush_all(r.w), 0);
	drain(&r, &s);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.buffers[1], 1);
	assert_int_equal(s.buffers[0], 0); /* nothing sent for an empty channel */
	assert_int_equal(net_writer_flush_all(r.w), 0);
	drain(&r, &s);
	assert_int_equal(s.n, 0);
	rig_free(&r);
}

static void test_oversize_record_gets_own_buffer(void **state)
{
	static struct seen s;
	static char big[100000];
	memset(big, 'x', sizeof(big));
	struct rig r;
	rig_new(&r, NET_PART_FORWARD, 1, 256, 0);
	fl_row row;
	make_row(&row, 0, text, 10);
	assert_int_equal(net_writer_emit_row(r.w, 0, &row), 0);
	make_row(&row, 1, big, sizeof(big));
	assert_int_equal(net_writer_emit_row(r.w, 0, &row), 0);
	make_row(&row, 2, text, 10);
	assert_int_equal(net_writer_emit_row(r.w, 0, &row), 0);
	/* Also through emit: a pre-encoded big record. */
	make_row(&row, 3, big, 5000);
	uint8_t *enc = malloc(6000);
	assert_non_null(enc);
	size_t n = row_encode(&row, enc, 6000);
	assert_true(n > 5000);
	assert_int_equal(net_writer_emit(r.w, 0, enc, (uint32_t)n), 0);
	free(enc);
	assert_int_equal(net_writer_flush_all(r.w), 0);
	drain(&r, &s);
	assert_int_equal(s.n, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(s.key[i], i);
	assert_int_equal(s.slen[1], sizeof(big));
	assert_int_equal(s.slen[3], 5000);
	assert_int_equal(s.buffers[0], 4); /* small, big, small, big */
	assert_true(s.max_cap >= sizeof(big));
	rig_free(&r);
}

static void test_varint_prefix_shrinks_when_bound_overestimates(void **state)
{
	static struct seen s;
	struct rig r;
	rig_new(&r, NET_PART_FORWARD, 1, 4096, 0);
	static char str[200];
	memset(str, 'y', sizeof(str));
	/* Lengths around the 1/2-byte varint boundary (127/128). */
	for (int len = 100; len < 200; len++) {
		fl_row row;
		make_row(&row, len, str, (size_t)len);
		assert_int_equal(net_writer_emit_row(r.w, 0, &row), 0);
	}
	assert_int_equal(net_writer_flush_all(r.w), 0);
	drain(&r, &s);
	assert_int_equal(s.n, 100);
	for (int i = 0; i < 100; i++)
		assert_int_equal(s.slen[i], (uint32_t)(100 + i));
	rig_free(&r);
}

static void test_events_follow_data_in_order(void **state)
{
	static struct seen s;
	struct rig r;
	rig_new(&r, NET_PART_REBALANCE, 2, 4096, 0);
	for (int i = 0; i < 6; i++) {
		fl_row row;
		make_row(&row, i, text, 2);
		assert_int_equal(net_writer_emit_row(r.w, 0, &row), 0);
	}
	assert_int_equal(net_writer_broadcast_event(r.w, NET_EV_BARRIER, 42), 0);
	fl_row row;
	make_row(&row, 6, text, 2);
	assert_int_equal(net_writer_emit_row(r.w, 0, &row), 0);
	assert_int_equal(net_writer_broadcast_event(r.w, NET_EV_END_OF_PARTITION, 0), 0);
	drain(&r, &s);
	assert_int_equal(s.n, 7);
	assert_int_equal(s.nev, 4);
	int barriers = 0;
	for (int i = 0; i < s.nev; i++) {
		if (s.ev_arg[i] == 42) {
			barriers++;
			assert_int_equal(s.ev_after[i], 3); /* all 3 records of its channel */
		} else {
			assert_int_equal(s.ev_after[i], s.ev_ch[i] == 0 ? 4 : 3);
		}
	}
	assert_int_equal(barriers, 2);
	rig_free(&r);
}

static void test_record_over_max_is_erange(void **state)
{
	struct rig r;
	rig_new(&r, NET_PART_FORWARD, 1, 1024, 0);
	static const uint8_t one = 0;
	assert_int_equal(net_writer_emit(r.w, 0, &one, ROW_MAX_ENCODED + 1), FL_ERANGE);
	net_writer *w;
	assert_int_equal(net_writer_new(&w, NET_PART_FORWARD, 0, NULL, 1024, 0), FL_EINVAL);
	rig_free(&r);
}

struct blocked_emit {
	net_writer *w;
	int rc;
};

static void *emit_until_error(void *arg)
{
	struct blocked_emit *b = arg;
	for (int i = 0; i < 1000000; i++) {
		fl_row row;
		make_row(&row, i, text, 50);
		int rc = net_writer_emit_row(b->w, 0, &row);
		if (rc != 0) {
			b->rc = rc;
			return NULL;
		}
	}
	return NULL;
}

static void test_cancel_releases_writer_blocked_on_backpressure(void **state)
{
	net_gate *g;
	net_writer *w;
	assert_int_equal(net_gate_new(&g, 1, 2), 0);
	assert_int_equal(net_writer_new(&w, NET_PART_FORWARD, 1, NULL, 1024, 0), 0);
	net_outchan *oc;
	assert_int_equal(net_outchan_local(&oc, g, 0), 0);
	net_writer_set_channel(w, 0, oc);
	struct blocked_emit b = {.w = w};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, emit_until_error, &b), 0);
	struct timespec ts = {0, 50 * 1000000L};
	nanosleep(&ts, NULL);
	net_writer_cancel(w);
	pthread_join(t, NULL);
	assert_int_equal(b.rc, FL_ECANCELED);
	net_writer_free(w);
	net_gate_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_forward_round_trips_rows_in_order),
	    cmocka_unit_test(test_rebalance_is_round_robin_from_start),
	    cmocka_unit_test(test_hash_routes_to_given_channel),
	    cmocka_unit_test(test_broadcast_reaches_every_channel),
	    cmocka_unit_test(test_flush_all_sends_partial_buffers),
	    cmocka_unit_test(test_oversize_record_gets_own_buffer),
	    cmocka_unit_test(test_varint_prefix_shrinks_when_bound_overestimates),
	    cmocka_unit_test(test_events_follow_data_in_order),
	    cmocka_unit_test(test_record_over_max_is_erange),
	    cmocka_unit_test(test_cancel_releases_writer_blocked_on_backpressure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
