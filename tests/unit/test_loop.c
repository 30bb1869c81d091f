/*
 * test_loop.c — runtime/common/loop.c: FIFO mailbox from many threads,
 * timers in (deadline, order set) order, cancellation, cm_loop_call, and
 * shutdown (drain, refusals, dropped timers). Runs under ASan and TSan; the
 * records tasks keep are plain memory written only on the loop thread, so
 * TSan would report any two tasks running at once. No assertion depends on
 * timing beyond "not before the deadline".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/loop.h"
#include "common/sync.h"

/* Long enough for a loaded 2-core machine under TSan; only a hang hits it. */
#define WAIT_MS 60000

/* ------------------------------------------------------------ helpers */

/* A counter other threads can wait on. */
struct counter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n;
};

static void counter_init(struct counter *c)
{
	pthread_mutex_init(&c->mu, NULL);
	assert_int_equal(cm_cond_init(&c->cv), 0);
	c->n = 0;
}

static void counter_fini(struct counter *c)
{
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
}

static void counter_add(struct counter *c)
{
	pthread_mutex_lock(&c->mu);
	c->n++;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* Waits until the counter reaches n; fails the test after WAIT_MS. */
static void counter_wait(struct counter *c, int n)
{
	struct timespec ts = cm_deadline_ts(cm_now_ms() + WAIT_MS);
	pthread_mutex_lock(&c->mu);
	while (c->n < n) {
		if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) != 0 && c->n < n) {
			pthread_mutex_unlock(&c->mu);
			fail_msg("timed out waiting for %d, have %d", n, c->n);
		}
	}
	pthread_mutex_unlock(&c->mu);
}

static void nop(void *arg)
{
	(void)arg;
}

/* Waits for everything posted before it (a cm_loop_call is a barrier). */
static void barrier(cm_loop *l)
{
	assert_int_equal(cm_loop_call(l, nop, NULL), 0);
}

/* ------------------------------------------------------------- mailbox */

#define POSTERS 4
#define PER_POSTER 20000

struct fifo {
	int64_t last[POSTERS]; /* loop-thread only */
	int total;
	bool in_order;
	bool on_loop;
	cm_loop *l;
};

static struct fifo g_fifo;

static void fifo_task(void *arg)
{
	uintptr_t v = (uintptr_t)arg;
	int who = (int)(v >> 32);
	int64_t seq = (int64_t)(v & 0xffffffffu);
	if (seq != g_fifo.last[who] + 1)
		g_fifo.in_order = false;
	g_fifo.last[who] = seq;
	g_fifo.total++;
	if (!cm_loop_in_thread(g_fifo.l))
		g_fifo.on_loop = false;
}

static void *fifo_poster(void *arg)
{
	uintptr_t who = (uintptr_t)arg;
	for (uintptr_t i = 0; i < PER_POSTER; i++) {
		int rc = cm_loop_post(g_fifo.l, fifo_task, (void *)((who << 32) | i));
		if (rc != 0)
			abort();
	}
	return NULL;
}

static void test_posts_from_several_threads_run_in_fifo_order(void **state)
{
	(void)state;
	memset(&g_fifo, 0, sizeof(g_fifo));
	for (int i = 0; i < POSTERS; i++)
		g_fifo.last[i] = -1;
	g_fifo.in_order = true;
	g_fifo.on_loop = true;
	assert_int_equal(cm_loop_new(&g_fifo.l, "fifo"), 0);
	assert_false(cm_loop_in_thread(g_fifo.l));
	pthread_t th[POSTERS];
	for (uintptr_t i = 0; i < POSTERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, fifo_poster, (void *)i), 0);
	for (int i = 0; i < POSTERS; i++)
		pthread_join(th[i], NULL);
	barrier(g_fifo.l);
	/* cm_loop_call's return orders the loop's writes before these reads */
	assert_int_equal(g_fifo.total, POSTERS * PER_POSTER);
	assert_true(g_fifo.in_order);
	assert_true(g_fifo.on_loop);
	for (int i = 0; i < POSTERS; i++)
		assert_int_equal(g_fifo.last[i], PER_POSTER - 1);
	cm_loop_free(g_fifo.l);
}

struct nested {
	cm_loop *l;
	int step; /* loop-thread only */
	int seen_by_inner;
};

static void nested_inner(void *arg)
{
	struct nested *n = arg;
	n->seen_by_inner = n->step; /* the outer task finished first */
	n->step++;
}

static void nested_outer(void *arg)
{
	struct nested *n = arg;
	if (cm_loop_post(n->l, nested_inner, n) != 0)
		abort(); /* cmocka's asserts must stay on the test's thread */
	n->step = 1; /* after the post: the inner task must see it */
}

static void test_a_post_from_the_loop_thread_runs_after_the_current_task(void **state)
{
	(void)state;
	struct nested n = {0};
	assert_int_equal(cm_loop_new(&n.l, NULL), 0);
	assert_int_equal(cm_loop_post(n.l, nested_outer, &n), 0);
	barrier(n.l); /* the outer task has run, so the inner one is queued */
	barrier(n.l); /* and has run */
	assert_int_equal(n.seen_by_inner, 1);
	assert_int_equal(n.step, 2);
	cm_loop_free(n.l);
}

static char g_name[32];

static void read_name(void *arg)
{
	(void)arg;
	pthread_getname_np(pthread_self(), g_name, sizeof(g_name));
}

static void test_the_thread_is_named_and_known_as_the_loop_thread(void **state)
{
	(void)state;
	cm_loop *l;
	assert_int_equal(cm_loop_new(&l, "jobmaster-0123456789abcdef"), 0);
	assert_int_equal(cm_loop_call(l, read_name, NULL), 0);
	assert_string_equal(g_name, "jobmaster-01234"); /* 15 bytes */
	assert_false(cm_loop_in_thread(l));
	assert_false(cm_loop_in_thread(NULL));
	cm_loop_free(l);
	cm_loop_free(NULL);
	assert_int_equal(cm_loop_new(NULL, "x"), FL_EINVAL);
}

/* --------------------------------------------------------------- call */

struct callrec {
	cm_loop *l;
	bool on_loop;
	int value;
	int nested_rc;
	int nested_value_at_return;
};

static void call_set(void *arg)
{
	struct callrec *c = arg;
	c->on_loop = cm_loop_in_thread(c->l);
	c->value++;
}

static void call_from_loop(void *arg)
{
	struct callrec *c = arg;
	/* from the loop thread: runs inline, before cm_loop_call returns */
	c->nested_rc = cm_loop_call(c->l, call_set, c);
	c->nested_value_at_return = c->value;
}

static void test_call_waits_for_fn_from_another_thread_and_runs_inline_on_the_loop(void **state)
{
	(void)state;
	struct callrec c = {0};
	assert_int_equal(cm_loop_new(&c.l, "call"), 0);
	assert_int_equal(cm_loop_call(c.l, call_set, &c), 0);
	assert_true(c.on_loop);
	assert_int_equal(c.value, 1);
	assert_int_equal(cm_loop_call(c.l, call_from_loop, &c), 0);
	assert_int_equal(c.nested_rc, 0);
	assert_int_equal(c.nested_value_at_return, 2);
	assert_true(c.on_loop);
	cm_loop_free(c.l);
}

/* ------------------------------------------------------------- timers */

#define MAX_FIRED 200000

struct fired {
	struct counter done;
	int n;		       /* loop-thread only */
	uint64_t ids[MAX_FIRED]; /* in firing order */
	int64_t late[MAX_FIRED]; /* fire time - deadline */
};

static struct fired *g_fired;

struct tarm {
	int64_t deadline;
	uint64_t id;
	int tag;
};

static void timer_record(void *arg)
{
	struct tarm *t = arg;
	int i = g_fired->n++;
	if (i < MAX_FIRED) {
		g_fired->ids[i] = t->id;
		g_fired->late[i] = cm_now_ms() - t->deadline;
	}
	counter_add(&g_fired->done);
}

static void fired_setup(void)
{
	g_fired = calloc(1, sizeof(*g_fired));
	assert_non_null(g_fired);
	counter_init(&g_fired->done);
}

static void fired_teardown(void)
{
	counter_fini(&g_fired->done);
	free(g_fired);
	g_fired = NULL;
}

static void test_timers_fire_in_deadline_order_and_never_early(void **state)
{
	(void)state;
	fired_setup();
	cm_loop *l;
	assert_int_equal(cm_loop_new(&l, "timers"), 0);
	int64_t now = cm_now_ms();
	/* set out of order; two share a deadline; one is already past */
	struct tarm t[6] = {{now + 120, 0, 0}, {now + 40, 0, 0}, {now + 80, 0, 0},
			    {now + 40, 0, 0},  {now - 5, 0, 0},	 {now + 1, 0, 0}};
	for (int i = 0; i < 6; i++)
		assert_int_equal(cm_loop_timer(l, t[i].deadline, timer_record, &t[i], &t[i].id), 0);
	for (int i = 0; i < 6; i++) {
		assert_true(t[i].id != 0);
		for (int j = 0; j < i; j++)
			assert_true(t[i].id != t[j].id);
	}
	counter_wait(&g_fired->done, 6);
	barrier(l);
	uint64_t want[6] = {t[4].id, t[5].id, t[1].id, t[3].id, t[2].id, t[0].id};
	for (int i = 0; i < 6; i++) {
		assert_true(g_fired->ids[i] == want[i]);
		assert_true(g_fired->late[i] >= 0);
	}
	cm_loop_free(l);
	fired_teardown();
}

static void test_timers_with_one_deadline_run_in_the_order_set(void **state)
{
	(void)state;
	fired_setup();
	cm_loop *l;
	assert_int_equal(cm_loop_new(&l, "same"), 0);
	enum { N = 2000 };
	struct tarm *t = calloc(N, sizeof(*t));
	assert_non_null(t);
	int64_t d = cm_now_ms() + 30;
	for (int i = 0; i < N; i++) {
		t[i].deadline = d;
		assert_int_equal(cm_loop_timer(l, d, timer_record, &t[i], &t[i].id), 0);
	}
	counter_wait(&g_fired->done, N);
	barrier(l);
	for (int i = 0; i < N; i++)
		assert_true(g_fired->ids[i] == t[i].id);
	cm_loop_free(l);
	free(t);
	fired_teardown();
}

struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool entered, open;
};

static void gate_init(struct gate *g)
{
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	g->entered = g->open = false;
}

static void gate_fini(struct gate *g)
{
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
}

/* Runs on the loop: says it entered, then blocks until the gate opens. */
static void gate_block(void *arg)
{
	struct gate *g = arg;
	pthread_mutex_lock(&g->mu);
	g->entered = true;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

static void gate_wait_entered(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	while (!g->entered)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

struct cancel_in_run {
	struct gate gate;
	uint64_t id;
};

static void timer_blocks(void *arg)
{
	struct cancel_in_run *c = arg;
	gate_block(&c->gate);
}

static void test_cancel_before_during_and_after_firing(void **state)
{
	(void)state;
	fired_setup();
	cm_loop *l;
	assert_int_equal(cm_loop_new(&l, "cancel"), 0);

	/* before: true once, then false; the fn never runs */
	struct tarm far = {cm_now_ms() + 3600 * 1000, 0, 0};
	assert_int_equal(cm_loop_timer(l, far.deadline, timer_record, &far, &far.id), 0);
	assert_true(cm_loop_timer_cancel(l, far.id));
	assert_false(cm_loop_timer_cancel(l, far.id));
	assert_false(cm_loop_timer_cancel(l, 0));
	assert_false(cm_loop_timer_cancel(l, far.id + 1000));

	/* after: false */
	struct tarm past = {cm_now_ms() - 1, 0, 0};
	assert_int_equal(cm_loop_timer(l, past.deadline, timer_record, &past, &past.id), 0);
	counter_wait(&g_fired->done, 1);
	assert_false(cm_loop_timer_cancel(l, past.id));

	/* during: false while its fn runs */
	struct cancel_in_run c;
	gate_init(&c.gate);
	assert_int_equal(cm_loop_timer(l, cm_now_ms(), timer_blocks, &c, &c.id), 0);
	gate_wait_entered(&c.gate);
	assert_false(cm_loop_timer_cancel(l, c.id));
	gate_open(&c.gate);
	barrier(l);
	gate_fini(&c.gate);

	assert_int_equal(g_fired->n, 1);
	assert_true(g_fired->ids[0] == past.id);
	/* ids are never reused: a new timer gets a fresh one */
	uint64_t id2;
	assert_int_equal(cm_loop_timer(l, far.deadline, timer_record, &far, &id2), 0);
	assert_true(id2 > c.id);
	cm_loop_free(l); /* drops it unrun */
	assert_int_equal(g_fired->n, 1);
	fired_teardown();
}

/* A loop task that holds the loop until *open (a counter) reaches 1. */
static void hold_loop(void *arg)
{
	counter_wait(arg, 1);
}

static void test_ten_thousand_timers_half_cancelled(void **state)
{
	(void)state;
	fired_setup();
	cm_loop *l;
	assert_int_equal(cm_loop_new(&l, "10k"), 0);
	/* The loop is held while the timers are armed and half cancelled, so
	 * none falls due before its cancel however slow the machine is. */
	struct counter open;
	counter_init(&open);
	assert_int_equal(cm_loop_post(l, hold_loop, &open), 0);
	enum { N = 10000 };
	struct tarm *t = calloc(N, sizeof(*t));
	assert_non_null(t);
	int64_t base = cm_now_ms() + 200;
	uint64_t x = 88172645463325252ull;
	for (int i = 0; i < N; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		t[i].deadline = base + (int64_t)(x % 100); /* many shared deadlines */
		t[i].tag = i;
		assert_int_equal(cm_loop_timer(l, t[i].deadline, timer_record, &t[i], &t[i].id), 0);
	}
	for (int i = 0; i < N; i += 2)
		assert_true(cm_loop_timer_cancel(l, t[i].id));
	counter_add(&open);
	counter_wait(&g_fired->done, N / 2);
	barrier(l);
	assert_int_equal(g_fired->n, N / 2);
	/* only the odd ones, in (deadline, order set) order */
	int64_t prev_deadline = INT64_MIN;
	uint64_t prev_id = 0;
	for (int k = 0; k < N / 2; k++) {
		uint64_t id = g_fired->ids[k];
		int i = (int)(id - t[0].id); /* ids were handed out in sequence */
		assert_true(i >= 0 && i < N && t[i].id == id);
		assert_int_equal(i % 2, 1);
		assert_true(t[i].deadline > prev_deadline ||
			    (t[i].deadline == prev_deadline && id > prev_id));
		assert_true(g_fired->late[k] >= 0);
		prev_deadline = t[i].deadline;
		prev_id = id;
	}
	cm_loop_free(l);
	counter_fini(&open);
	free(t);
	fired_teardown();
}

/* 100k pending timers, cancelled in random order: the heap and the id map
 * stay consistent (every cancel finds its timer exactly once) and cheap. */
static void test_a_hundred_thousand_timers_set_and_cancelled_in_random_order(void **state)
{
	(void)state;
	fired_setup();
	cm_loop *l;
	assert_int_equal(cm_loop_new(&l, "100k"), 0);
	enum { N = 100000 };
	uint64_t *ids = malloc(N * sizeof(*ids));
	struct tarm *t = calloc(N, sizeof(*t));
	assert_non_null(ids);
	assert_non_null(t);
	int64_t base = cm_now_ms() + 3600 * 1000;
	uint64_t x = 0x2545F4914F6CDD1Dull;
	for (int i = 0; i < N; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		t[i].deadline = base + (int64_t)(x % 1000);
		assert_int_equal(cm_loop_timer(l, t[i].deadline, timer_record, &t[i], &ids[i]), 0);
	}
	for (int i = N - 1; i > 0; i--) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int j = (int)(x % (uint64_t)(i + 1));
		uint64_t tmp = ids[i];
		ids[i] = ids[j];
		ids[j] = tmp;
	}
	/* cancel all but the last 100, then move those to fire now, in a
	 * known order, by cancelling and re-setting them */
	for (int i = 0; i < N - 100; i++)
		assert_true(cm_loop_timer_cancel(l, ids[i]));
	for (int i = 0; i < N - 100; i++)
		assert_false(cm_loop_timer_cancel(l, ids[i]));
	int64_t now = cm_now_ms();
	struct tarm soon[100];
	for (int i = 0; i < 100; i++) {
		assert_true(cm_loop_timer_cancel(l, ids[N - 100 + i]));
		soon[i].deadline = now - 100 + i;
		assert_int_equal(cm_loop_timer(l, soon[i].deadline, timer_record, &soon[i],
					       &soon[i].id),
				 0);
	}
	counter_wait(&g_fired->done, 100);
	barrier(l);
	assert_int_equal(g_fired->n, 100);
	for (int i = 0; i < 100; i++)
		assert_true(g_fired->ids[i] == soon[i].id);
	cm_loop_free(l);
	free(ids);
	free(t);
	fired_teardown();
}

/* -------------------------------------------------------- no starvation */

struct starve {
	cm_loop *l;
	bool stop; /* loop-thread only */
	int rounds;
	struct counter done;
};

static void rearm_in_the_past(void *arg)
{
	struct starve *s = arg;
	s->rounds++;
	if (!s->stop) {
		if (cm_loop_timer(s->l, 0, rearm_in_the_past, s, NULL) != 0)
			abort();
	} else
		counter_add(&s->done);
}

static void set_stop(void *arg)
{
	((struct starve *)arg)->stop = true;
}

static void repost_self(void *arg)
{
	struct starve *s = arg;
	s->rounds++;
	if (!s->stop) {
		if (cm_loop_post(s->l, repost_self, s) != 0)
			abort();
	} else
		counter_add(&s->done);
}

static void test_neither_tasks_nor_timers_starve_the_other(void **state)
{
	(void)state;
	struct starve s = {0};
	counter_init(&s.done);
	assert_int_equal(cm_loop_new(&s.l, "starve"), 0);

	/* a timer re-arming itself in the past: a posted task still runs */
	assert_int_equal(cm_loop_timer(s.l, 0, rearm_in_the_past, &s, NULL), 0);
	assert_int_equal(cm_loop_call(s.l, set_stop, &s), 0);
	counter_wait(&s.done, 1);

	/* a task reposting itself: a due timer still runs */
	barrier(s.l);
	s.stop = false; /* the loop is idle: nothing pending touches s */
	assert_int_equal(cm_loop_post(s.l, repost_self, &s), 0);
	assert_int_equal(cm_loop_timer(s.l, cm_now_ms() + 5, set_stop, &s, NULL), 0);
	counter_wait(&s.done, 2);

	cm_loop_free(s.l);
	counter_fini(&s.done);
}

/* ------------------------------------------------------------ shutdown */

struct shut {
	cm_loop *l;
	struct gate gate;
	int ran; /* loop-thread only */
	int chain_left;
	int chain_ran;
	int timer_rc_in_drain;
	int post_rc_in_drain;
	bool far_timer_ran;
	bool due_timer_ran;
};

static void shut_count(void *arg)
{
	((struct shut *)arg)->ran++;
}

static void shut_chain(void *arg)
{
	struct shut *s = arg;
	s->chain_ran++;
	if (--s->chain_left > 0)
		s->post_rc_in_drain = cm_loop_post(s->l, shut_chain, s);
}

static void shut_far_timer(void *arg)
{
	((struct shut *)arg)->far_timer_ran = true;
}

static void shut_due_timer(void *arg)
{
	((struct shut *)arg)->due_timer_ran = true;
}

/* Blocks until the test has seen free begin, then posts a chain of tasks
 * (each posting the next) and tries a timer: the drain runs the chain. */
static void shut_blocker(void *arg)
{
	struct shut *s = arg;
	gate_block(&s->gate);
	s->chain_left = 100;
	s->post_rc_in_drain = cm_loop_post(s->l, shut_chain, s);
	s->timer_rc_in_drain = cm_loop_timer(s->l, 0, shut_far_timer, s, NULL);
}

static void *freer(void *arg)
{
	cm_loop_free(arg);
	return NULL;
}

static void test_free_drains_posted_tasks_and_refuses_new_posts(void **state)
{
	(void)state;
	struct shut s = {0};
	gate_init(&s.gate);
	assert_int_equal(cm_loop_new(&s.l, "shutdown"), 0);
	assert_int_equal(cm_loop_post(s.l, shut_blocker, &s), 0);
	gate_wait_entered(&s.gate);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(cm_loop_post(s.l, shut_count, &s), 0);
	assert_int_equal(cm_loop_timer(s.l, cm_now_ms() - 1, shut_due_timer, &s, NULL), 0);
	assert_int_equal(cm_loop_timer(s.l, cm_now_ms() + 3600 * 1000, shut_far_timer, &s, NULL),
			 0);

	/* free begins on another thread; posts succeed until it does, and
	 * every post that succeeded runs */
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, freer, s.l), 0);
	int accepted = 1000, rc;
	while ((rc = cm_loop_post(s.l, shut_count, &s)) == 0) {
		accepted++;
		sched_yield();
	}
	assert_int_equal(rc, FL_ECANCELED);
	assert_int_equal(cm_loop_timer(s.l, 0, shut_far_timer, &s, NULL), FL_ECANCELED);
	assert_int_equal(cm_loop_call(s.l, shut_far_timer, &s), FL_ECANCELED);
	/* the loop is alive until the blocked task returns */
	gate_open(&s.gate);
	pthread_join(th, NULL);

	assert_int_equal(s.ran, accepted);
	assert_int_equal(s.chain_ran, 100); /* posted during the drain: ran too */
	assert_int_equal(s.post_rc_in_drain, 0);
	assert_int_equal(s.timer_rc_in_drain, FL_ECANCELED);
	assert_true(s.due_timer_ran);   /* due when free began */
	assert_false(s.far_timer_ran);  /* dropped unrun */
	gate_fini(&s.gate);
}

static void test_free_of_an_idle_loop_with_pending_timers(void **state)
{
	(void)state;
	cm_loop *l;
	assert_int_equal(cm_loop_new(&l, "idle"), 0);
	struct shut s = {0};
	for (int i = 0; i < 1000; i++)
		assert_int_equal(cm_loop_timer(l, cm_now_ms() + 3600 * 1000 + i, shut_far_timer, &s,
					       NULL),
				 0);
	cm_loop_free(l); /* returns at once; ASan checks nothing leaks */
	assert_false(s.far_timer_ran);
}

static void free_self(void *arg)
{
	cm_loop_free(arg);
}

static void test_free_from_the_loop_thread_aborts(void **state)
{
	(void)state;
#if defined(__SANITIZE_THREAD__)
	skip(); /* TSan does not support threads in a child forked after threads */
#endif
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* quiet the expected message */
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, 2);
		cm_loop *l;
		if (cm_loop_new(&l, "self") != 0)
			_exit(3);
		cm_loop_post(l, free_self, l);
		sleep(60);
		_exit(4);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_posts_from_several_threads_run_in_fifo_order),
	    cmocka_unit_test(test_a_post_from_the_loop_thread_runs_after_the_current_task),
	    cmocka_unit_test(test_the_thread_is_named_and_known_as_the_loop_thread),
	    cmocka_unit_test(test_call_waits_for_fn_from_another_thread_and_runs_inline_on_the_loop),
	    cmocka_unit_test(test_timers_fire_in_deadline_order_and_never_early),
	    cmocka_unit_test(test_timers_with_one_deadline_run_in_the_order_set),
	    cmocka_unit_test(test_cancel_before_during_and_after_firing),
	    cmocka_unit_test(test_ten_thousand_timers_half_cancelled),
	    cmocka_unit_test(test_a_hundred_thousand_timers_set_and_cancelled_in_random_order),
	    cmocka_unit_test(test_neither_tasks_nor_timers_starve_the_other),
	    cmocka_unit_test(test_free_drains_posted_tasks_and_refuses_new_posts),
	    cmocka_unit_test(test_free_of_an_idle_loop_with_pending_timers),
	    cmocka_unit_test(test_free_from_the_loop_thread_aborts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
