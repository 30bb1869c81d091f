#include "common/loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/sync.h"

/*
 * One mutex guards the mailbox, the timer heap and the id map; the loop
 * thread drops it while a task or timer runs, so posters never wait for a
 * task. The mailbox is a power-of-two ring (no allocation per post once
 * warm). Timers live in a binary min-heap ordered by (deadline, id): ids grow
 * with every timer set, so equal deadlines pop in the order they were set.
 * Cancellation removes the entry from the heap in O(log n), which needs its
 * position: an open-addressing map (linear probing, id 0 = empty slot, since
 * ids are never 0) from id to heap position, kept up to date on every move.
 * Heap and map shrink when mostly empty, so memory follows the number of
 * pending timers, not the highest it ever was.
 */

struct task {
	cm_task_fn fn;
	void *arg;
};

struct timer {
	int64_t deadline;
	uint64_t id;
	cm_task_fn fn;
	void *arg;
};

struct slot {
	uint64_t id;
	size_t pos;
};

#define Q_MIN_CAP 64
/* An empty mailbox larger than this (in tasks) gives its memory back. */
#define Q_KEEP_CAP 4096
#define HEAP_MIN_CAP 16
#define MAP_MIN_BITS 5
/* Below this many slots the map never shrinks. */
#define MAP_KEEP_CAP 1024

struct cm_loop {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* the loop thread waits here for work */
	pthread_t thread;
	char name[16];
	bool stopping;
	int64_t stop_ms; /* when cm_loop_free began: timers due by then still run */

	struct task *q; /* ring of q_cap (a power of two) tasks */
	size_t q_head, q_len, q_cap;

	struct timer *heap;
	size_t heap_len, heap_cap;
	struct slot *map; /* 1 << map_bits slots, at most half full */
	size_t map_len;
	unsigned map_bits;
	uint64_t next_id;
};

static _Thread_local const cm_loop *tl_loop;

/* ----------------------------------------------------------------- mailbox */

static int q_push(cm_loop *l, cm_task_fn fn, void *arg)
{
	if (l->q_len == l->q_cap) {
		size_t ncap = l->q_cap ? l->q_cap * 2 : Q_MIN_CAP;
		if (ncap > SIZE_MAX / sizeof(struct task))
			return FL_ENOMEM;
		struct task *nq = malloc(ncap * sizeof(*nq));
		if (!nq)
			return FL_ENOMEM;
		for (size_t i = 0; i < l->q_len; i++)
			nq[i] = l->q[(l->q_head + i) & (l->q_cap - 1)];
		free(l->q);
		l->q = nq;
		l->q_cap = ncap;
		l->q_head = 0;
	}
	l->q[(l->q_head + l->q_len) & (l->q_cap - 1)] = (struct task){fn, arg};
	l->q_len++;
	return 0;
}

static struct task q_pop(cm_loop *l)
{
	struct task t = l->q[l->q_head];
	l->q_head = (l->q_head + 1) & (l->q_cap - 1);
	l->q_len--;
	return t;
}

/* ---------------------------------------------------------- id → position */

static size_t map_home(uint64_t id, unsigned bits)
{
	/* Fibonacci hashing: consecutive ids spread over the whole table. */
	return (size_t)((id * 0x9E3779B97F4A7C15ull) >> (64 - bits));
}

/* Index of id's slot, or SIZE_MAX. */
static size_t map_find(const cm_loop *l, uint64_t id)
{
	if (!l->map || id == 0)
		return SIZE_MAX;
	size_t mask = ((size_t)1 << l->map_bits) - 1;
	for (size_t i = map_home(id, l->map_bits);; i = (i + 1) & mask) {
		if (l->map[i].id == id)
			return i;
		if (l->map[i].id == 0)
			return SIZE_MAX;
	}
}

/* Inserts id (absent; the table has a free slot). */
static void map_insert(struct slot *map, unsigned bits, uint64_t id, size_t pos)
{
	size_t mask = ((size_t)1 << bits) - 1;
	size_t i = map_home(id, bits);
	while (map[i].id != 0)
		i = (i + 1) & mask;
	map[i].id = id;
	map[i].pos = pos;
}

/* Rebuilds the map with 1 << bits slots; FL_ENOMEM leaves it unchanged. */
static int map_rehash(cm_loop *l, unsigned bits)
{
	struct slot *nm = calloc((size_t)1 << bits, sizeof(*nm));
	if (!nm)
		return FL_ENOMEM;
	if (l->map) {
		size_t old = (size_t)1 << l->map_bits;
		for (size_t i = 0; i < old; i++) {
			if (l->map[i].id != 0)
				map_insert(nm, bits, l->map[i].id, l->map[i].pos);
		}
	}
	free(l->map);
	l->map = nm;
	l->map_bits = bits;
	return 0;
}

/* Deletes slot i, shifting later members of its probe run back so that
 * lookups never stop early at the hole (no tombstones). */
static void map_delete_at(cm_loop *l, size_t i)
{
	size_t mask = ((size_t)1 << l->map_bits) - 1;
	size_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (l->map[j].id == 0)
			break;
		size_t k = map_home(l->map[j].id, l->map_bits);
		/* j's entry may move to i unless its home lies cyclically in (i, j]. */
		bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
		if (!stays) {
			l->map[i] = l->map[j];
			i = j;
		}
	}
	l->map[i].id = 0;
	l->map_len--;
}

static void map_set_pos(cm_loop *l, uint64_t id, size_t pos)
{
	l->map[map_find(l, id)].pos = pos;
}

/* ------------------------------------------------------------------- heap */

static bool timer_before(const struct timer *a, const struct timer *b)
{
	return a->deadline < b->deadline || (a->deadline == b->deadline && a->id < b->id);
}

static void heap_place(cm_loop *l, size_t pos, struct timer t)
{
	l->heap[pos] = t;
	map_set_pos(l, t.id, pos);
}

static void heap_sift_up(cm_loop *l, size_t pos)
{
	struct timer t = l->heap[pos];
	while (pos > 0) {
		size_t parent = (pos - 1) / 2;
		if (!timer_before(&t, &l->heap[parent]))
			break;
		heap_place(l, pos, l->heap[parent]);
		pos = parent;
	}
	heap_place(l, pos, t);
}

static void heap_sift_down(cm_loop *l, size_t pos)
{
	struct timer t = l->heap[pos];
	for (;;) {
		size_t c = 2 * pos + 1;
		if (c >= l->heap_len)
			break;
		if (c + 1 < l->heap_len && timer_before(&l->heap[c + 1], &l->heap[c]))
			c++;
		if (!timer_before(&l->heap[c], &t))
			break;
		heap_place(l, pos, l->heap[c]);
		pos = c;
	}
	heap_place(l, pos, t);
}

/* Gives memory back when the heap and map are mostly empty; a failed
 * shrink only keeps the larger tables. */
static void timers_trim(cm_loop *l)
{
	if (l->heap_cap > HEAP_MIN_CAP && l->heap_len < l->heap_cap / 4) {
		size_t ncap = l->heap_cap / 2;
		struct timer *nh = realloc(l->heap, ncap * sizeof(*nh));
		if (nh) {
			l->heap = nh;
			l->heap_cap = ncap;
		}
	}
	size_t slots = (size_t)1 << l->map_bits;
	if (l->map && slots > MAP_KEEP_CAP && l->map_len < slots / 8)
		(void)map_rehash(l, l->map_bits - 1);
}

/* Removes and returns the timer at heap position pos. */
static struct timer heap_remove(cm_loop *l, size_t pos)
{
	struct timer t = l->heap[pos];
	map_delete_at(l, map_find(l, t.id));
	l->heap_len--;
	if (pos != l->heap_len) {
		l->heap[pos] = l->heap[l->heap_len];
		if (pos > 0 && timer_before(&l->heap[pos], &l->heap[(pos - 1) / 2]))
			heap_sift_up(l, pos);
		else
			heap_sift_down(l, pos);
	}
	timers_trim(l);
	return t;
}

/* ------------------------------------------------------------------ thread */

static void *loop_main(void *arg)
{
	cm_loop *l = arg;
	tl_loop = l;
	pthread_setname_np(pthread_self(), l->name);

	pthread_mutex_lock(&l->mu);
	for (;;) {
		/* The tasks queued now; what they post waits for the next
		 * round, after the timers due meanwhile. */
		for (size_t n = l->q_len; n > 0; n--) {
			struct task t = q_pop(l);
			pthread_mutex_unlock(&l->mu);
			t.fn(t.arg);
			pthread_mutex_lock(&l->mu);
		}
		if (l->q_len == 0 && l->q_cap > Q_KEEP_CAP) {
			free(l->q);
			l->q = NULL;
			l->q_cap = 0;
			l->q_head = 0;
		}

		/* The timers due now, but not those set during this round
		 * (id >= limit): a timer re-arming itself in the past must not
		 * keep the tasks waiting. */
		int64_t now = l->stopping ? l->stop_ms : cm_now_ms();
		uint64_t limit = l->next_id;
		while (l->heap_len > 0 && l->heap[0].deadline <= now && l->heap[0].id < limit) {
			struct timer t = heap_remove(l, 0);
			pthread_mutex_unlock(&l->mu);
			t.fn(t.arg);
			pthread_mutex_lock(&l->mu);
		}

		if (l->q_len > 0)
			continue;
		now = l->stopping ? l->stop_ms : cm_now_ms();
		if (l->heap_len > 0 && l->heap[0].deadline <= now)
			continue;
		if (l->stopping)
			break; /* drained: what remains is not due, and is dropped */
		if (l->heap_len > 0) {
			struct timespec ts = cm_deadline_ts(l->heap[0].deadline);
			pthread_cond_timedwait(&l->cv, &l->mu, &ts);
		} else {
			pthread_cond_wait(&l->cv, &l->mu);
		}
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* -------------------------------------------------------------------- API */

int cm_loop_new(cm_loop **out, const char *name)
{
	if (!out)
		return FL_EINVAL;
	*out = NULL;
	cm_loop *l = calloc(1, sizeof(*l));
	if (!l)
		return FL_ENOMEM;
	if (pthread_mutex_init(&l->mu, NULL) != 0) {
		free(l);
		return FL_ENOMEM;
	}
	if (cm_cond_init(&l->cv) != 0) {
		pthread_mutex_destroy(&l->mu);
		free(l);
		return FL_ENOMEM;
	}
	const char *src = name ? name : "loop";
	size_t n = strnlen(src, sizeof(l->name) - 1);
	memcpy(l->name, src, n);
	l->name[n] = '\0';
	l->next_id = 1;

	int rc = pthread_create(&l->thread, NULL, loop_main, l);
	if (rc != 0) {
		pthread_cond_destroy(&l->cv);
		pthread_mutex_destroy(&l->mu);
		free(l);
		return rc == EAGAIN ? FL_ENOMEM : cm_err_from_errno(rc);
	}
	*out = l;
	return 0;
}

bool cm_loop_in_thread(const cm_loop *l)
{
	return l != NULL && tl_loop == l;
}

int cm_loop_post(cm_loop *l, cm_task_fn fn, void *arg)
{
	bool self = cm_loop_in_thread(l);
	pthread_mutex_lock(&l->mu);
	if (l->stopping && !self) {
		pthread_mutex_unlock(&l->mu);
		return FL_ECANCELED;
	}
	int rc = q_push(l, fn, arg);
	/* The loop sleeps only on an empty mailbox, so the first task wakes
	 * it and later ones find it awake. */
	if (rc == 0 && !self && l->q_len == 1)
		pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	return rc;
}

int cm_loop_timer(cm_loop *l, int64_t deadline_ms, cm_task_fn fn, void *arg, uint64_t *id)
{
	bool self = cm_loop_in_thread(l);
	pthread_mutex_lock(&l->mu);
	if (l->stopping) {
		pthread_mutex_unlock(&l->mu);
		return FL_ECANCELED;
	}
	if (l->heap_len == l->heap_cap) {
		size_t ncap = l->heap_cap ? l->heap_cap * 2 : HEAP_MIN_CAP;
		struct timer *nh = ncap <= SIZE_MAX / sizeof(*nh)
				       ? realloc(l->heap, ncap * sizeof(*nh))
				       : NULL;
		if (!nh) {
			pthread_mutex_unlock(&l->mu);
			return FL_ENOMEM;
		}
		l->heap = nh;
		l->heap_cap = ncap;
	}
	if (!l->map || (l->map_len + 1) * 2 > ((size_t)1 << l->map_bits)) {
		if (map_rehash(l, l->map ? l->map_bits + 1 : MAP_MIN_BITS) != 0) {
			pthread_mutex_unlock(&l->mu);
			return FL_ENOMEM;
		}
	}
	uint64_t tid = l->next_id++;
	size_t pos = l->heap_len++;
	l->heap[pos] = (struct timer){deadline_ms, tid, fn, arg};
	map_insert(l->map, l->map_bits, tid, pos);
	l->map_len++;
	heap_sift_up(l, pos);
	/* Stored under the lock, so a timer fn that reads the id from where
	 * the caller keeps it sees it even when the timer runs at once. */
	if (id)
		*id = tid;
	/* A new earliest deadline shortens the loop's sleep. */
	if (!self && l->heap[0].id == tid)
		pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	return 0;
}

bool cm_loop_timer_cancel(cm_loop *l, uint64_t id)
{
	pthread_mutex_lock(&l->mu);
	size_t i = map_find(l, id);
	bool found = i != SIZE_MAX;
	if (found)
		(void)heap_remove(l, l->map[i].pos);
	pthread_mutex_unlock(&l->mu);
	return found;
}

struct call {
	cm_task_fn fn;
	void *arg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
};

static void call_run(void *p)
{
	struct call *c = p;
	c->fn(c->arg);
	/* c lives on the caller's stack until it sees done under c->mu, so
	 * nothing here touches c after the unlock. */
	pthread_mutex_lock(&c->mu);
	c->done = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

int cm_loop_call(cm_loop *l, cm_task_fn fn, void *arg)
{
	if (cm_loop_in_thread(l)) {
		fn(arg);
		return 0;
	}
	struct call c = {.fn = fn, .arg = arg, .done = false};
	if (pthread_mutex_init(&c.mu, NULL) != 0)
		return FL_ENOMEM;
	if (pthread_cond_init(&c.cv, NULL) != 0) {
		pthread_mutex_destroy(&c.mu);
		return FL_ENOMEM;
	}
	int rc = cm_loop_post(l, call_run, &c);
	if (rc == 0) {
		pthread_mutex_lock(&c.mu);
		while (!c.done)
			pthread_cond_wait(&c.cv, &c.mu);
		pthread_mutex_unlock(&c.mu);
	}
	pthread_cond_destroy(&c.cv);
	pthread_mutex_destroy(&c.mu);
	return rc;
}

void cm_loop_free(cm_loop *l)
{
	if (!l)
		return;
	/* Checked in every build, not only with assert(): joining itself
	 * would fail and the loop would be freed under the running task. */
	if (cm_loop_in_thread(l)) {
		CM_ERROR("loop", "cm_loop_free called from the thread of loop '%s'", l->name);
		abort();
	}
	pthread_mutex_lock(&l->mu);
	l->stopping = true;
	l->stop_ms = cm_now_ms();
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->thread, NULL);

	free(l->q);
	free(l->heap); /* timers not yet due: dropped, fn never called */
	free(l->map);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
}
