/* test_align.c — checkpoint barriers at a task with inputs
 * (runtime/taskmanager/align.h), on a real input gate: exactly-once
 * alignment blocks the channels whose barrier arrived, at-least-once does
 * not, and cancel markers, aborts and newer barriers end an alignment,
 * each giving the marker to send on once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include <flinc/flinc.h>

#include "network/buffer.h"
#include "network/gate.h"
#include "taskmanager/align.h"

static void push_data(net_gate *g, int ch, int64_t tag)
{
	net_buffer *b = net_buffer_new(8);
	assert_non_null(b);
	memcpy(b->data, &tag, 8);
	b->len = 8;
	assert_int_equal(net_gate_push(g, ch, b), 0);
}

/* The tag of the next buffer the task would read, -1 when none is ready
 * (blocked channels are skipped). */
static int64_t pop_tag(net_gate *g, int *ch)
{
	net_buffer *b;
	if (net_gate_pop(g, 0, &b, ch) != 0)
		return -1;
	int64_t v;
	memcpy(&v, b->data, 8);
	net_buffer_free(b);
	return v;
}

struct fixture {
	net_gate *g;
	tm_align a;
};

static void setup(struct fixture *f, bool at_least_once)
{
	assert_int_equal(net_gate_new(&f->g, 2, 16), 0);
	assert_int_equal(tm_align_init(&f->a, f->g, 2, 0, at_least_once), 0);
}

static void teardown(struct fixture *f)
{
	tm_align_fini(&f->a);
	net_gate_free(f->g);
}

/* Exactly once: after channel 0's barrier, only channel 1 is read until its
 * barrier; then the checkpoint is taken and channel 0's records flow. */
static void test_exactly_once_blocks_until_every_barrier(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, false);
	uint64_t id = 0;
	push_data(f.g, 0, 100);
	push_data(f.g, 1, 200);
	assert_int_equal(tm_align_barrier(&f.a, 0, 5, 0, &id), TM_ALIGN_NONE);
	int ch;
	assert_int_equal(pop_tag(f.g, &ch), 200); /* channel 0 is blocked */
	assert_int_equal(ch, 1);
	assert_int_equal(pop_tag(f.g, &ch), -1);
	assert_int_equal(tm_align_barrier(&f.a, 1, 5, 0, &id), TM_ALIGN_CHECKPOINT);
	assert_int_equal(id, 5);
	assert_int_equal(pop_tag(f.g, &ch), 100); /* flows again */
	/* A late barrier of 5 is ignored. */
	assert_int_equal(tm_align_barrier(&f.a, 0, 5, 0, &id), TM_ALIGN_NONE);
	teardown(&f);
}

/* At least once: nothing is blocked; the checkpoint is taken with the last
 * channel's barrier. */
static void test_at_least_once_blocks_nothing(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, true);
	uint64_t id = 0;
	push_data(f.g, 0, 100);
	assert_int_equal(tm_align_barrier(&f.a, 0, 5, 0, &id), TM_ALIGN_NONE);
	int ch;
	assert_int_equal(pop_tag(f.g, &ch), 100); /* channel 0 still read */
	assert_int_equal(ch, 0);
	assert_int_equal(tm_align_barrier(&f.a, 1, 5, 0, &id), TM_ALIGN_CHECKPOINT);
	assert_int_equal(id, 5);
	teardown(&f);
}

/* An ended channel counts as aligned. */
static void test_an_ended_channel_counts_as_aligned(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, false);
	uint64_t id = 0;
	assert_int_equal(tm_align_barrier(&f.a, 0, 3, 0, &id), TM_ALIGN_NONE);
	assert_int_equal(tm_align_end(&f.a, 1, &id), TM_ALIGN_CHECKPOINT);
	assert_int_equal(id, 3);
	/* Later checkpoints need only the live channel's barrier. */
	assert_int_equal(tm_align_barrier(&f.a, 0, 4, 0, &id), TM_ALIGN_CHECKPOINT);
	assert_int_equal(id, 4);
	teardown(&f);
}

/* At least once, a channel that delivered its barrier and then ended (it
 * is not blocked, so it can) counts once: the checkpoint still waits for
 * the other channel's barrier, or its records before it would be lost. */
static void test_a_channel_ending_after_its_barrier_counts_once(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, true);
	uint64_t id = 0;
	assert_int_equal(tm_align_barrier(&f.a, 0, 7, 0, &id), TM_ALIGN_NONE);
	assert_int_equal(tm_align_end(&f.a, 0, &id), TM_ALIGN_NONE);
	assert_int_equal(tm_align_barrier(&f.a, 1, 7, 0, &id), TM_ALIGN_CHECKPOINT);
	assert_int_equal(id, 7);
	/* The next checkpoint needs only the live channel. */
	assert_int_equal(tm_align_barrier(&f.a, 1, 8, 0, &id), TM_ALIGN_CHECKPOINT);
	assert_int_equal(id, 8);
	teardown(&f);
}

/* A cancel marker ends the alignment: the channels flow, the marker is to
 * be sent on once, and the checkpoint's late barrier is ignored. */
static void test_a_cancel_marker_ends_the_alignment(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, false);
	uint64_t id = 0;
	push_data(f.g, 0, 100);
	assert_int_equal(tm_align_barrier(&f.a, 0, 7, 0, &id), TM_ALIGN_NONE);
	int ch;
	assert_int_equal(pop_tag(f.g, &ch), -1); /* blocked */
	assert_int_equal(tm_align_cancel(&f.a, 7, &id), TM_ALIGN_CANCEL);
	assert_int_equal(id, 7);
	assert_int_equal(pop_tag(f.g, &ch), 100);
	assert_int_equal(tm_align_cancel(&f.a, 7, &id), TM_ALIGN_NONE); /* once */
	assert_int_equal(tm_align_barrier(&f.a, 1, 7, 0, &id), TM_ALIGN_NONE);
	/* The next checkpoint aligns as usual. */
	assert_int_equal(tm_align_barrier(&f.a, 1, 8, 0, &id), TM_ALIGN_NONE);
	assert_int_equal(tm_align_barrier(&f.a, 0, 8, 0, &id), TM_ALIGN_CHECKPOINT);
	assert_int_equal(id, 8);
	teardown(&f);
}

/* A barrier of a checkpoint the JobMaster aborted before it arrived is
 * answered with its cancel marker, not an alignment. */
static void test_a_barrier_of_an_aborted_checkpoint_is_cancelled(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, false);
	uint64_t id = 0;
	push_data(f.g, 0, 100);
	assert_int_equal(tm_align_barrier(&f.a, 0, 9, 9, &id), TM_ALIGN_CANCEL);
	assert_int_equal(id, 9);
	int ch;
	assert_int_equal(pop_tag(f.g, &ch), 100); /* never blocked */
	assert_int_equal(tm_align_barrier(&f.a, 1, 9, 9, &id), TM_ALIGN_NONE);
	teardown(&f);
}

/* A newer checkpoint's barrier supersedes the alignment in progress. */
static void test_a_newer_barrier_supersedes(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, false);
	uint64_t id = 0;
	assert_int_equal(tm_align_barrier(&f.a, 0, 10, 0, &id), TM_ALIGN_NONE);
	assert_int_equal(tm_align_barrier(&f.a, 1, 11, 0, &id), TM_ALIGN_NONE);
	push_data(f.g, 0, 100);
	int ch;
	assert_int_equal(pop_tag(f.g, &ch), 100); /* 10's block is gone */
	assert_int_equal(tm_align_barrier(&f.a, 0, 10, 0, &id), TM_ALIGN_NONE); /* late */
	assert_int_equal(tm_align_barrier(&f.a, 0, 11, 0, &id), TM_ALIGN_CHECKPOINT);
	assert_int_equal(id, 11);
	teardown(&f);
}

/* A task's chained sources as an extra channel (2, after the gate's two):
 * their barrier (the trigger) holds them, not a gate channel, until the
 * gate's barriers came; a gate barrier first blocks its channel until the
 * sources' barrier comes; the sources' end counts as aligned. At least
 * once, nothing is held. */
static void test_an_extra_channel_is_held_not_blocked(void **state)
{
	(void)state;
	net_gate *g;
	tm_align a;
	uint64_t id = 0;
	int ch;
	assert_int_equal(net_gate_new(&g, 2, 16), 0);
	assert_int_equal(tm_align_init(&a, g, 2, 1, false), 0);
	assert_int_equal(tm_align_barrier(&a, 2, 3, 0, &id), TM_ALIGN_NONE);
	assert_true(tm_align_holds(&a, 2));
	push_data(g, 0, 100);
	push_data(g, 1, 200);
	assert_int_equal(pop_tag(g, &ch), 100); /* the gate's channels flow */
	assert_int_equal(tm_align_barrier(&a, 0, 3, 0, &id), TM_ALIGN_NONE);
	assert_int_equal(pop_tag(g, &ch), 200);
	assert_int_equal(tm_align_barrier(&a, 1, 3, 0, &id), TM_ALIGN_CHECKPOINT);
	assert_int_equal(id, 3);
	assert_false(tm_align_holds(&a, 2));
	/* Gate barriers first: channel 0 blocks until the trigger. */
	assert_int_equal(tm_align_barrier(&a, 0, 4, 0, &id), TM_ALIGN_NONE);
	assert_false(tm_align_holds(&a, 2));
	push_data(g, 0, 101);
	assert_int_equal(pop_tag(g, &ch), -1);
	assert_int_equal(tm_align_barrier(&a, 1, 4, 0, &id), TM_ALIGN_NONE);
	assert_int_equal(tm_align_barrier(&a, 2, 4, 0, &id), TM_ALIGN_CHECKPOINT);
	assert_int_equal(id, 4);
	assert_int_equal(pop_tag(g, &ch), 101);
	/* The sources ended: the gate's barriers alone complete 5. */
	assert_int_equal(tm_align_end(&a, 2, &id), TM_ALIGN_NONE);
	assert_int_equal(tm_align_barrier(&a, 0, 5, 0, &id), TM_ALIGN_NONE);
	assert_int_equal(tm_align_barrier(&a, 1, 5, 0, &id), TM_ALIGN_CHECKPOINT);
	assert_int_equal(id, 5);
	tm_align_fini(&a);
	assert_int_equal(tm_align_init(&a, g, 2, 1, true), 0);
	assert_int_equal(tm_align_barrier(&a, 2, 6, 0, &id), TM_ALIGN_NONE);
	assert_false(tm_align_holds(&a, 2));
	tm_align_fini(&a);
	net_gate_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exactly_once_blocks_until_every_barrier),
	    cmocka_unit_test(test_at_least_once_blocks_nothing),
	    cmocka_unit_test(test_an_ended_channel_counts_as_aligned),
	    cmocka_unit_test(test_a_channel_ending_after_its_barrier_counts_once),
	    cmocka_unit_test(test_a_cancel_marker_ends_the_alignment),
	    cmocka_unit_test(test_a_barrier_of_an_aborted_checkpoint_is_cancelled),
	    cmocka_unit_test(test_a_newer_barrier_supersedes),
	    cmocka_unit_test(test_an_extra_channel_is_held_not_blocked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
