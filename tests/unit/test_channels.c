/*
 * The local channel registry: lookups by (attempt, id) against a reference,
 * under random adds and removes that exercise growth and backward-shift
 * deletion; duplicates refused; attempts kept apart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <flinc/flinc.h>

#include "taskmanager/channels.h"

/* Gates are never dereferenced by the registry: any distinct non-NULL
 * pointers will do. */
static char gates[4];
#define GATE(i) ((net_gate *)&gates[(i) % 4])

static void test_add_find_remove(void **state)
{
	tm_channels *r;
	assert_int_equal(tm_channels_new(&r), 0);
	assert_int_equal(tm_channels_add(r, 7, 42, GATE(1), 3), 0);
	net_gate *g;
	int ch;
	assert_int_equal(tm_channels_find(r, 7, 42, &g, &ch), 0);
	assert_ptr_equal(g, GATE(1));
	assert_int_equal(ch, 3);
	assert_int_equal(tm_channels_find(r, 8, 42, &g, &ch), FL_ENOENT);
	tm_channels_remove(r, 7, 42);
	assert_int_equal(tm_channels_find(r, 7, 42, &g, &ch), FL_ENOENT);
	tm_channels_remove(r, 7, 42); /* nothing to remove: no effect */
	assert_int_equal(tm_channels_count(r), 0);
	tm_channels_free(r);
}

static void test_duplicate_is_refused_and_attempts_are_apart(void **state)
{
	tm_channels *r;
	assert_int_equal(tm_channels_new(&r), 0);
	assert_int_equal(tm_channels_add(r, 1, 5, GATE(0), 0), 0);
	assert_int_equal(tm_channels_add(r, 1, 5, GATE(1), 1), FL_EINVAL);
	assert_int_equal(tm_channels_add(r, 2, 5, GATE(2), 2), 0);
	net_gate *g;
	int ch;
	assert_int_equal(tm_channels_find(r, 1, 5, &g, &ch), 0);
	assert_int_equal(ch, 0);
	assert_int_equal(tm_channels_find(r, 2, 5, &g, &ch), 0);
	assert_int_equal(ch, 2);
	tm_channels_free(r);
}

/* Random adds and removes over a small id space (many collisions and long
 * probe runs), checked against a plain array after every step. */
static void test_random_operations_match_a_reference(void **state)
{
	enum { IDS = 3000, STEPS = 60000 };
	static int present[IDS]; /* channel + 1, or 0 */
	tm_channels *r;
	assert_int_equal(tm_channels_new(&r), 0);
	srand(12345);
	size_t n = 0;
	for (int step = 0; step < STEPS; step++) {
		int id = rand() % IDS;
		uint64_t attempt = (uint64_t)(id % 3);
		if (present[id]) {
			tm_channels_remove(r, attempt, (uint64_t)id);
			present[id] = 0;
			n--;
		} else {
			int ch = rand() % 1000;
			assert_int_equal(tm_channels_add(r, attempt, (uint64_t)id, GATE(id), ch), 0);
			present[id] = ch + 1;
			n++;
		}
		if (step % 997 == 0) {
			for (int k = 0; k < IDS; k++) {
				net_gate *g;
				int ch;
				int rc = tm_channels_find(r, (uint64_t)(k % 3), (uint64_t)k, &g, &ch);
				if (present[k]) {
					assert_int_equal(rc, 0);
					assert_int_equal(ch, present[k] - 1);
					assert_ptr_equal(g, GATE(k));
				} else {
					assert_int_equal(rc, FL_ENOENT);
				}
			}
			assert_int_equal(tm_channels_count(r), n);
		}
	}
	tm_channels_free(r);
}

/* 512 x 512 channels: the deployment of a parallelism-512 all-to-all edge. */
static void test_a_quarter_million_channels(void **state)
{
	tm_channels *r;
	assert_int_equal(tm_channels_new(&r), 0);
	for (uint64_t id = 0; id < 512 * 512; id++)
		assert_int_equal(tm_channels_add(r, 99, id, GATE(id), (int)(id % 512)), 0);
	for (uint64_t id = 0; id < 512 * 512; id += 7) {
		net_gate *g;
		int ch;
		assert_int_equal(tm_channels_find(r, 99, id, &g, &ch), 0);
		assert_int_equal(ch, (int)(id % 512));
	}
	tm_channels_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_add_find_remove),
	    cmocka_unit_test(test_duplicate_is_refused_and_attempts_are_apart),
	    cmocka_unit_test(test_random_operations_match_a_reference),
	    cmocka_unit_test(test_a_quarter_million_channels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
