/*
 * The execution graph: Flink's ExecutionState transition rules per subtask
 * (forward only; any live state may fail or be cancelled; CANCELING may
 * still finish; a final state never changes), the per-state counts, a
 * vertex's aggregate state, the job status rules and the timestamps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/env.h"
#include "graph/jobgraph.h"
#include "jobmanager/execgraph.h"

int eg_gen(fl_ctx *ctx, int64_t off, fl_row *out);

int eg_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, off % 5);
	return fl_row_add_int64(out, off);
}

struct fixture {
	fl_env *env;
	jg_graph *jg;
	eg_graph *eg;
};

/* generator (p=2) -> key_by -> sum (p=3) -> discard: two vertices. */
static struct fixture *setup(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_non_null(f->env = fl_env_new(0, NULL));
	fl_stream *s = fl_set_parallelism(fl_generator(f->env, 100, 0, eg_gen), 2);
	fl_discard(fl_set_parallelism(fl_sum(fl_key_by(s, 0), 1), 3));
	f->env->graph->parallelism = 3;
	cm_err err = {0};
	assert_int_equal(jg_build(f->env->graph, "eg", &f->jg, &err), 0);
	assert_int_equal(f->jg->nvertices, 2);
	assert_int_equal(f->jg->vertices[0].parallelism, 2);
	assert_int_equal(f->jg->vertices[1].parallelism, 3);
	assert_int_equal(eg_new(&f->eg, f->jg, 1000), 0);
	return f;
}

static void teardown(struct fixture *f)
{
	eg_free(f->eg);
	jg_free(f->jg);
	fl_env_free(f->env);
	free(f);
}

static const enum tm_task_state live[] = {TM_TASK_CREATED, TM_TASK_SCHEDULED, TM_TASK_DEPLOYING,
					  TM_TASK_RUNNING, TM_TASK_CANCELING};
static const enum tm_task_state finals[] = {TM_TASK_FINISHED, TM_TASK_CANCELED, TM_TASK_FAILED};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Every count of vertex v, nfinal and the subtasks agree. */
static void assert_consistent(const eg_graph *eg)
{
	int nfinal = 0;
	for (size_t v = 0; v < eg->nvertices; v++) {
		const eg_vertex *ev = &eg->vertices[v];
		int count[TM_TASK_NSTATES] = {0}, total = 0;
		for (int i = 0; i < ev->parallelism; i++) {
			count[ev->subtasks[i].state]++;
			if (tm_task_state_is_final(ev->subtasks[i].state))
				nfinal++;
		}
		for (int s = 0; s < TM_TASK_NSTATES; s++) {
			assert_int_equal(ev->count[s], count[s]);
			total += ev->count[s];
		}
		assert_int_equal(total, ev->parallelism);
	}
	assert_int_equal(eg->nfinal, nfinal);
	assert_int_equal(eg_all_final(eg), nfinal == eg->ntasks);
}

/* Brings subtask (v, i) from CREATED to state s along allowed moves. */
static void reach(eg_graph *eg, int v, int i, enum tm_task_state s)
{
	if (s == TM_TASK_CREATED)
		return;
	if (s == TM_TASK_CANCELING || tm_task_state_is_final(s)) {
		assert_true(eg_set_state(eg, v, i, TM_TASK_RUNNING, 1, NULL));
		assert_true(eg_set_state(eg, v, i, s, 2, s == TM_TASK_FAILED ? "boom" : NULL));
	} else {
		assert_true(eg_set_state(eg, v, i, s, 2, NULL));
	}
}

static void test_a_new_graph_has_every_subtask_created_and_the_job_created(void **state)
{
	struct fixture *f = setup();
	eg_graph *eg = f->eg;
	assert_ptr_equal(eg->jg, f->jg);
	assert_int_equal(eg->nvertices, 2);
	assert_int_equal(eg->ntasks, 5);
	assert_int_equal(eg->nfinal, 0);
	assert_false(eg_all_final(eg));
	assert_int_equal(eg->status, EG_CREATED);
	assert_int_equal(eg->status_since[EG_CREATED], 1000);
	assert_int_equal(eg->status_since[EG_RUNNING], 0);
	assert_null(eg->failure);
	for (size_t v = 0; v < 2; v++) {
		const eg_vertex *ev = &eg->vertices[v];
		assert_int_equal(ev->parallelism, f->jg->vertices[v].parallelism);
		assert_int_equal(ev->count[TM_TASK_CREATED], ev->parallelism);
		assert_int_equal(eg_vertex_state(eg, v), TM_TASK_CREATED);
		for (int i = 0; i < ev->parallelism; i++) {
			assert_int_equal(ev->subtasks[i].state, TM_TASK_CREATED);
			assert_int_equal(ev->subtasks[i].since[TM_TASK_CREATED], 1000);
			assert_int_equal(ev->subtasks[i].since[TM_TASK_RUNNING], 0);
			assert_int_equal(ev->subtasks[i].tm, -1);
			assert_null(ev->subtasks[i].failure);
		}
	}
	assert_consistent(eg);
	teardown(f);
}

static void test_states_move_forward_and_record_when_each_was_entered(void **state)
{
	struct fixture *f = setup();
	eg_graph *eg = f->eg;
	const enum tm_task_state path[] = {TM_TASK_SCHEDULED, TM_TASK_DEPLOYING, TM_TASK_RUNNING,
					   TM_TASK_FINISHED};
	for (size_t k = 0; k < N(path); k++) {
		assert_true(eg_set_state(eg, 1, 2, path[k], 2000 + (int64_t)k, NULL));
		assert_int_equal(eg->vertices[1].subtasks[2].state, path[k]);
		assert_consistent(eg);
	}
	const eg_subtask *st = &eg->vertices[1].subtasks[2];
	assert_int_equal(st->since[TM_TASK_CREATED], 1000);
	for (size_t k = 0; k < N(path); k++)
		assert_int_equal(st->since[path[k]], 2000 + (int64_t)k);
	assert_int_equal(st->since[TM_TASK_CANCELING], 0);
	assert_int_equal(st->since[TM_TASK_CANCELED], 0);
	assert_int_equal(st->since[TM_TASK_FAILED], 0);
	assert_int_equal(eg->nfinal, 1);
	/* Skipping ahead is still forward. */
	assert_true(eg_set_state(eg, 0, 0, TM_TASK_RUNNING, 3000, NULL));
	assert_int_equal(eg->vertices[0].subtasks[0].since[TM_TASK_RUNNING], 3000);
	assert_int_equal(eg->vertices[0].subtasks[0].since[TM_TASK_SCHEDULED], 0);
	assert_consistent(eg);
	teardown(f);
}

static void test_a_subtask_never_moves_backwards_nor_to_its_own_state(void **state)
{
	for (size_t a = 0; a < N(live); a++) {
		if (live[a] == TM_TASK_CANCELING)
			continue; /* its own rules, below */
		for (int to = TM_TASK_CREATED; to <= (int)live[a]; to++) {
			struct fixture *f = setup();
			reach(f->eg, 0, 1, live[a]);
			eg_subtask before = f->eg->vertices[0].subtasks[1];
			assert_false(eg_set_state(f->eg, 0, 1, (enum tm_task_state)to, 9000, NULL));
			const eg_subtask *st = &f->eg->vertices[0].subtasks[1];
			assert_int_equal(st->state, live[a]);
			assert_memory_equal(st->since, before.since, sizeof(st->since));
			assert_consistent(f->eg);
			teardown(f);
		}
	}
}

static void test_any_live_state_may_fail_or_be_cancelled(void **state)
{
	const enum tm_task_state ends[] = {TM_TASK_FAILED, TM_TASK_CANCELED, TM_TASK_CANCELING};
	for (size_t a = 0; a < N(live); a++) {
		for (size_t b = 0; b < N(ends); b++) {
			struct fixture *f = setup();
			reach(f->eg, 1, 0, live[a]);
			bool moved = eg_set_state(f->eg, 1, 0, ends[b], 9000, "why");
			/* CANCELING -> CANCELING is no move. */
			bool expected =
			    !(live[a] == TM_TASK_CANCELING && ends[b] == TM_TASK_CANCELING);
			assert_int_equal(moved, expected);
			if (moved) {
				assert_int_equal(f->eg->vertices[1].subtasks[0].state, ends[b]);
				assert_int_equal(f->eg->vertices[1].subtasks[0].since[ends[b]],
						 9000);
			}
			assert_consistent(f->eg);
			teardown(f);
		}
	}
}

static void test_canceling_may_still_finish_but_not_go_back(void **state)
{
	struct fixture *f = setup();
	reach(f->eg, 0, 0, TM_TASK_CANCELING);
	assert_false(eg_set_state(f->eg, 0, 0, TM_TASK_RUNNING, 9000, NULL));
	assert_false(eg_set_state(f->eg, 0, 0, TM_TASK_DEPLOYING, 9000, NULL));
	assert_false(eg_set_state(f->eg, 0, 0, TM_TASK_CREATED, 9000, NULL));
	assert_true(eg_set_state(f->eg, 0, 0, TM_TASK_FINISHED, 9000, NULL));
	assert_int_equal(f->eg->vertices[0].subtasks[0].state, TM_TASK_FINISHED);
	assert_int_equal(f->eg->nfinal, 1);
	assert_consistent(f->eg);
	teardown(f);
}

static void test_a_final_state_never_changes(void **state)
{
	for (size_t a = 0; a < N(finals); a++) {
		struct fixture *f = setup();
		reach(f->eg, 1, 1, finals[a]);
		assert_int_equal(f->eg->nfinal, 1);
		eg_subtask before = f->eg->vertices[1].subtasks[1];
		for (int to = 0; to < TM_TASK_NSTATES; to++) {
			assert_false(
			    eg_set_state(f->eg, 1, 1, (enum tm_task_state)to, 9000, "late"));
			const eg_subtask *st = &f->eg->vertices[1].subtasks[1];
			assert_int_equal(st->state, finals[a]);
			assert_memory_equal(st->since, before.since, sizeof(st->since));
			assert_ptr_equal(st->failure, before.failure);
		}
		/* A late or duplicated report counts nothing twice. */
		assert_int_equal(f->eg->nfinal, 1);
		assert_consistent(f->eg);
		teardown(f);
	}
}

static void test_out_of_range_indexes_and_states_are_refused(void **state)
{
	struct fixture *f = setup();
	eg_graph *eg = f->eg;
	assert_false(eg_set_state(eg, -1, 0, TM_TASK_RUNNING, 1, NULL));
	assert_false(eg_set_state(eg, 2, 0, TM_TASK_RUNNING, 1, NULL));
	assert_false(eg_set_state(eg, 0, -1, TM_TASK_RUNNING, 1, NULL));
	assert_false(eg_set_state(eg, 0, 2, TM_TASK_RUNNING, 1, NULL)); /* p = 2 */
	assert_false(eg_set_state(eg, 1, 3, TM_TASK_RUNNING, 1, NULL)); /* p = 3 */
	assert_false(eg_set_state(eg, 0, 0, TM_TASK_NSTATES, 1, NULL));
	assert_false(eg_set_state(eg, 0, 0, (enum tm_task_state) - 1, 1, NULL));
	assert_false(eg_set_status(eg, EG_NSTATUS, 1, NULL));
	assert_false(eg_set_status(eg, (enum eg_status) - 1, 1, NULL));
	assert_int_equal(eg->status, EG_CREATED);
	assert_int_equal(eg->vertices[1].count[TM_TASK_CREATED], 3);
	assert_consistent(eg);
	teardown(f);
}

static void test_counts_follow_every_move_and_nfinal_reaches_ntasks(void **state)
{
	struct fixture *f = setup();
	eg_graph *eg = f->eg;
	for (int i = 0; i < 3; i++)
		assert_true(eg_set_state(eg, 1, i, TM_TASK_RUNNING, 5, NULL));
	assert_int_equal(eg->vertices[1].count[TM_TASK_RUNNING], 3);
	assert_int_equal(eg->vertices[1].count[TM_TASK_CREATED], 0);
	assert_int_equal(eg->vertices[0].count[TM_TASK_CREATED], 2);
	assert_true(eg_set_state(eg, 1, 0, TM_TASK_FINISHED, 6, NULL));
	assert_true(eg_set_state(eg, 1, 1, TM_TASK_CANCELED, 6, NULL));
	assert_true(eg_set_state(eg, 1, 2, TM_TASK_FAILED, 6, "x"));
	assert_true(eg_set_state(eg, 0, 0, TM_TASK_CANCELED, 6, NULL));
	assert_int_equal(eg->nfinal, 4);
	assert_false(eg_all_final(eg));
	assert_consistent(eg);
	assert_true(eg_set_state(eg, 0, 1, TM_TASK_FINISHED, 7, NULL));
	assert_int_equal(eg->nfinal, eg->ntasks);
	assert_true(eg_all_final(eg));
	assert_consistent(eg);
	teardown(f);
}

static void test_a_failure_is_kept_for_failed_only(void **state)
{
	struct fixture *f = setup();
	eg_graph *eg = f->eg;
	assert_true(eg_set_state(eg, 0, 0, TM_TASK_FAILED, 5, "bad record 7"));
	assert_string_equal(eg->vertices[0].subtasks[0].failure, "bad record 7");
	assert_true(eg_set_state(eg, 0, 1, TM_TASK_CANCELED, 5, "not a failure"));
	assert_null(eg->vertices[0].subtasks[1].failure);
	assert_true(eg_set_state(eg, 1, 0, TM_TASK_FAILED, 5, NULL));
	assert_null(eg->vertices[1].subtasks[0].failure);
	teardown(f);
}

/* Sets vertex 1's three subtasks to a, b, c and returns its aggregate. */
static enum tm_task_state aggregate(enum tm_task_state a, enum tm_task_state b,
				    enum tm_task_state c)
{
	struct fixture *f = setup();
	reach(f->eg, 1, 0, a);
	reach(f->eg, 1, 1, b);
	reach(f->eg, 1, 2, c);
	assert_consistent(f->eg);
	enum tm_task_state s = eg_vertex_state(f->eg, 1);
	/* Vertex 0 is untouched. */
	assert_int_equal(eg_vertex_state(f->eg, 0), TM_TASK_CREATED);
	teardown(f);
	return s;
}

static void test_vertex_state_is_failed_canceling_canceled_or_least_advanced(void **state)
{
	const enum tm_task_state C = TM_TASK_CREATED, S = TM_TASK_SCHEDULED, D = TM_TASK_DEPLOYING,
				 R = TM_TASK_RUNNING, F = TM_TASK_FINISHED, CG = TM_TASK_CANCELING,
				 CD = TM_TASK_CANCELED, X = TM_TASK_FAILED;
	/* FAILED wins over everything. */
	assert_int_equal(aggregate(X, CG, CD), X);
	assert_int_equal(aggregate(F, F, X), X);
	assert_int_equal(aggregate(C, X, R), X);
	/* Then CANCELING, over CANCELED and the rest. */
	assert_int_equal(aggregate(CD, CG, F), CG);
	assert_int_equal(aggregate(C, R, CG), CG);
	/* Then CANCELED. */
	assert_int_equal(aggregate(F, CD, R), CD);
	assert_int_equal(aggregate(CD, C, C), CD);
	/* Else the least advanced. */
	assert_int_equal(aggregate(F, R, F), R);
	assert_int_equal(aggregate(R, D, F), D);
	assert_int_equal(aggregate(S, R, R), S);
	assert_int_equal(aggregate(F, F, F), F);
	assert_int_equal(aggregate(R, R, R), R);
	assert_int_equal(aggregate(C, F, R), C);
}

static void test_job_status_moves_until_terminal_and_keeps_the_first_cause(void **state)
{
	struct fixture *f = setup();
	eg_graph *eg = f->eg;
	assert_true(eg_set_status(eg, EG_RUNNING, 10, NULL));
	assert_false(eg_set_status(eg, EG_RUNNING, 11, NULL));
	assert_int_equal(eg->status_since[EG_RUNNING], 10);
	assert_null(eg->failure);
	assert_true(eg_set_status(eg, EG_FAILING, 12, "root cause"));
	assert_string_equal(eg->failure, "root cause");
	assert_true(eg_set_status(eg, EG_FAILED, 13, "a later symptom"));
	assert_string_equal(eg->failure, "root cause");
	assert_int_equal(eg->status, EG_FAILED);
	assert_int_equal(eg->status_since[EG_CREATED], 1000);
	assert_int_equal(eg->status_since[EG_FAILING], 12);
	assert_int_equal(eg->status_since[EG_FAILED], 13);
	assert_int_equal(eg->status_since[EG_CANCELED], 0);
	teardown(f);
}

static void test_a_terminal_job_status_is_final(void **state)
{
	const enum eg_status terminal[] = {EG_FAILED, EG_CANCELED, EG_FINISHED};
	for (size_t a = 0; a < N(terminal); a++) {
		struct fixture *f = setup();
		eg_graph *eg = f->eg;
		assert_true(eg_set_status(eg, EG_RUNNING, 10, NULL));
		assert_true(eg_set_status(eg, terminal[a], 20, NULL));
		assert_true(eg_status_is_terminal(terminal[a]));
		for (int s = 0; s < EG_NSTATUS; s++) {
			assert_false(eg_set_status(eg, (enum eg_status)s, 30, "late"));
			assert_int_equal(eg->status, terminal[a]);
		}
		assert_null(eg->failure);
		assert_int_equal(eg->status_since[terminal[a]], 20);
		teardown(f);
	}
	for (int s = 0; s < EG_NSTATUS; s++)
		assert_int_equal(eg_status_is_terminal((enum eg_status)s),
				 s == EG_FAILED || s == EG_CANCELED || s == EG_FINISHED);
}

/* Statuses only go forward: a failing or cancelling job never runs (or
 * finishes) again; a cancelling one may still fail; a failing one ends
 * FAILED, not CANCELED. */
static void test_job_status_only_moves_forward(void **state)
{
	struct fixture *f = setup();
	eg_graph *eg = f->eg;
	assert_true(eg_set_status(eg, EG_FAILING, 10, "lost a TaskManager while deploying"));
	assert_false(eg_set_status(eg, EG_RUNNING, 11, NULL));
	assert_false(eg_set_status(eg, EG_CREATED, 11, NULL));
	assert_false(eg_set_status(eg, EG_CANCELLING, 11, NULL));
	assert_false(eg_set_status(eg, EG_CANCELED, 11, NULL));
	assert_false(eg_set_status(eg, EG_FINISHED, 11, NULL));
	assert_int_equal(eg->status, EG_FAILING);
	assert_int_equal(eg->status_since[EG_RUNNING], 0);
	assert_true(eg_set_status(eg, EG_FAILED, 12, NULL));
	teardown(f);

	f = setup();
	eg = f->eg;
	assert_true(eg_set_status(eg, EG_RUNNING, 10, NULL));
	assert_true(eg_set_status(eg, EG_CANCELLING, 11, NULL));
	assert_false(eg_set_status(eg, EG_RUNNING, 12, NULL));
	assert_false(eg_set_status(eg, EG_FINISHED, 12, NULL));
	assert_true(eg_set_status(eg, EG_FAILING, 12, "a task failed while cancelling"));
	assert_true(eg_set_status(eg, EG_FAILED, 13, NULL));
	teardown(f);

	f = setup();
	eg = f->eg;
	assert_true(eg_set_status(eg, EG_RUNNING, 10, NULL));
	assert_false(eg_set_status(eg, EG_CREATED, 11, NULL));
	assert_true(eg_set_status(eg, EG_CANCELLING, 11, NULL));
	assert_true(eg_set_status(eg, EG_CANCELED, 12, NULL));
	teardown(f);
}

static void test_state_and_status_names_are_flinks(void **state)
{
	assert_string_equal(eg_status_name(EG_INITIALIZING), "INITIALIZING");
	assert_string_equal(eg_status_name(EG_CANCELLING), "CANCELLING");
	assert_string_equal(eg_status_name(EG_FINISHED), "FINISHED");
	assert_string_equal(eg_status_name(EG_NSTATUS), "?");
	assert_string_equal(tm_task_state_name(TM_TASK_CANCELING), "CANCELING");
	assert_string_equal(tm_task_state_name(TM_TASK_FAILED), "FAILED");
	assert_string_equal(tm_task_state_name(TM_TASK_NSTATES), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_new_graph_has_every_subtask_created_and_the_job_created),
	    cmocka_unit_test(test_states_move_forward_and_record_when_each_was_entered),
	    cmocka_unit_test(test_a_subtask_never_moves_backwards_nor_to_its_own_state),
	    cmocka_unit_test(test_any_live_state_may_fail_or_be_cancelled),
	    cmocka_unit_test(test_canceling_may_still_finish_but_not_go_back),
	    cmocka_unit_test(test_a_final_state_never_changes),
	    cmocka_unit_test(test_out_of_range_indexes_and_states_are_refused),
	    cmocka_unit_test(test_counts_follow_every_move_and_nfinal_reaches_ntasks),
	    cmocka_unit_test(test_a_failure_is_kept_for_failed_only),
	    cmocka_unit_test(test_vertex_state_is_failed_canceling_canceled_or_least_advanced),
	    cmocka_unit_test(test_job_status_moves_until_terminal_and_keeps_the_first_cause),
	    cmocka_unit_test(test_a_terminal_job_status_is_final),
	    cmocka_unit_test(test_job_status_only_moves_forward),
	    cmocka_unit_test(test_state_and_status_names_are_flinks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
