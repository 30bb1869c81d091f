/*
 * workqueue.c — keys in a FIFO, each tracked once; delayed keys wait in the
 * same table with a due time. Lookups are linear: a controller's queue holds
 * tens to thousands of keys and each operation is one scan, no allocation
 * but the key's first appearance.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "k8s/workqueue.h"

typedef struct entry {
	struct entry *next_all, *prev_all;
	struct entry *next_ready;
	int64_t due_ms; /* 0: not delayed */
	int retries;
	bool ready;	 /* in the FIFO */
	bool dirty;	 /* wanted again (in the FIFO, or queued at done) */
	bool processing; /* handed out, no done yet */
	char key[];
} entry;

struct k8s_queue {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	entry *all;
	entry *head, *tail; /* the FIFO of ready keys */
	size_t nkeys, nready, max_keys;
	long base_ms, max_ms;
	bool shut;
};

int k8s_queue_new(k8s_queue **out, size_t max_keys, long base_ms, long max_ms)
{
	*out = NULL;
	k8s_queue *q = calloc(1, sizeof(*q));
	if (!q)
		return FL_ENOMEM;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_mutex_init(&q->mu, NULL) != 0) {
		free(q);
		return FL_ENOMEM;
	}
	if (pthread_cond_init(&q->cv, &ca) != 0) {
		pthread_mutex_destroy(&q->mu);
		free(q);
		return FL_ENOMEM;
	}
	pthread_condattr_destroy(&ca);
	q->max_keys = max_keys ? max_keys : 65536;
	q->base_ms = base_ms > 0 ? base_ms : 5;
	q->max_ms = max_ms > 0 ? max_ms : 1000000;
	*out = q;
	return 0;
}

void k8s_queue_free(k8s_queue *q)
{
	if (!q)
		return;
	for (entry *e = q->all, *n; e; e = n) {
		n = e->next_all;
		free(e);
	}
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

static entry *find(k8s_queue *q, const char *key)
{
	for (entry *e = q->all; e; e = e->next_all)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static int find_or_add(k8s_queue *q, const char *key, entry **out)
{
	*out = find(q, key);
	if (*out)
		return 0;
	size_t len = strlen(key);
	if (len >= K8S_KEY_MAX || q->nkeys >= q->max_keys)
		return FL_ERANGE;
	entry *e = calloc(1, sizeof(*e) + len + 1);
	if (!e)
		return FL_ENOMEM;
	memcpy(e->key, key, len + 1);
	e->next_all = q->all;
	if (q->all)
		q->all->prev_all = e;
	q->all = e;
	q->nkeys++;
	*out = e;
	return 0;
}

/* Drops an entry nobody needs any more (not queued, delayed, processed or
 * counting retries). */
static void maybe_drop(k8s_queue *q, entry *e)
{
	if (e->dirty || e->ready || e->processing || e->due_ms || e->retries)
		return;
	if (e->prev_all)
		e->prev_all->next_all = e->next_all;
	else
		q->all = e->next_all;
	if (e->next_all)
		e->next_all->prev_all = e->prev_all;
	q->nkeys--;
	free(e);
}

static void push_ready(k8s_queue *q, entry *e)
{
	e->ready = true;
	e->next_ready = NULL;
	if (q->tail)
		q->tail->next_ready = e;
	else
		q->head = e;
	q->tail = e;
	q->nready++;
	pthread_cond_signal(&q->cv);
}

static void mark_dirty(k8s_queue *q, entry *e)
{
	e->due_ms = 0;
	if (e->dirty)
		return;
	e->dirty = true;
	if (!e->processing)
		push_ready(q, e);
}

int k8s_queue_add(k8s_queue *q, const char *key)
{
	pthread_mutex_lock(&q->mu);
	entry *e = NULL;
	int rc = q->shut ? FL_ECLOSED : find_or_add(q, key, &e);
	if (!rc)
		mark_dirty(q, e);
	pthread_mutex_unlock(&q->mu);
	return rc;
}

int k8s_queue_add_after(k8s_queue *q, const char *key, long delay_ms)
{
	if (delay_ms <= 0)
		return k8s_queue_add(q, key);
	pthread_mutex_lock(&q->mu);
	entry *e = NULL;
	int rc = q->shut ? FL_ECLOSED : find_or_add(q, key, &e);
	if (!rc && !e->dirty) {
		int64_t due = cm_now_ms() + delay_ms;
		if (!e->due_ms || due < e->due_ms)
			e->due_ms = due;
		pthread_cond_broadcast(&q->cv); /* a waiter may need an earlier wake-up */
	}
	pthread_mutex_unlock(&q->mu);
	return rc;
}

int k8s_queue_retry(k8s_queue *q, const char *key)
{
	pthread_mutex_lock(&q->mu);
	entry *e = NULL;
	int rc = q->shut ? FL_ECLOSED : find_or_add(q, key, &e);
	long delay = q->base_ms;
	if (!rc) {
		for (int i = 0; i < e->retries && delay < q->max_ms; i++)
			delay *= 2;
		if (delay > q->max_ms)
			delay = q->max_ms;
		e->retries++;
	}
	pthread_mutex_unlock(&q->mu);
	return rc ? rc : k8s_queue_add_after(q, key, delay);
}

void k8s_queue_forget(k8s_queue *q, const char *key)
{
	pthread_mutex_lock(&q->mu);
	entry *e = find(q, key);
	if (e) {
		e->retries = 0;
		maybe_drop(q, e);
	}
	pthread_mutex_unlock(&q->mu);
}

int k8s_queue_retries(k8s_queue *q, const char *key)
{
	pthread_mutex_lock(&q->mu);
	entry *e = find(q, key);
	int n = e ? e->retries : 0;
	pthread_mutex_unlock(&q->mu);
	return n;
}

/* Moves delayed keys that are due to the FIFO; returns the next due time
 * (0: none). */
static int64_t promote_due(k8s_queue *q, int64_t now)
{
	int64_t next = 0;
	for (entry *e = q->all; e; e = e->next_all) {
		if (!e->due_ms)
			continue;
		if (e->due_ms <= now)
			mark_dirty(q, e);
		else if (!next || e->due_ms < next)
			next = e->due_ms;
	}
	return next;
}

int k8s_queue_get(k8s_queue *q, char key[K8S_KEY_MAX], long timeout_ms)
{
	int64_t deadline = timeout_ms >= 0 ? cm_now_ms() + timeout_ms : 0;
	int rc = 0;
	pthread_mutex_lock(&q->mu);
	for (;;) {
		int64_t now = cm_now_ms();
		int64_t next_due = q->shut ? 0 : promote_due(q, now);
		if (q->head) {
			entry *e = q->head;
			q->head = e->next_ready;
			if (!q->head)
				q->tail = NULL;
			q->nready--;
			e->ready = false;
			e->dirty = false;
			e->processing = true;
			memcpy(key, e->key, strlen(e->key) + 1);
			break;
		}
		if (q->shut) {
			rc = FL_ECLOSED;
			break;
		}
		if (timeout_ms >= 0 && now >= deadline) {
			rc = FL_ETIMEDOUT;
			break;
		}
		int64_t wake = timeout_ms >= 0 ? deadline : 0;
		if (next_due && (!wake || next_due < wake))
			wake = next_due;
		if (wake) {
			struct timespec ts = cm_deadline_ts(wake);
			pthread_cond_timedwait(&q->cv, &q->mu, &ts);
		} else {
			pthread_cond_wait(&q->cv, &q->mu);
		}
	}
	pthread_mutex_unlock(&q->mu);
	return rc;
}

void k8s_queue_done(k8s_queue *q, const char *key)
{
	pthread_mutex_lock(&q->mu);
	entry *e = find(q, key);
	if (e && e->processing) {
		e->processing = false;
		if (e->dirty && !q->shut)
			push_ready(q, e);
		else
			maybe_drop(q, e);
	}
	pthread_mutex_unlock(&q->mu);
}

size_t k8s_queue_len(k8s_queue *q)
{
	pthread_mutex_lock(&q->mu);
	size_t n = q->nready;
	pthread_mutex_unlock(&q->mu);
	return n;
}

void k8s_queue_shutdown(k8s_queue *q)
{
	pthread_mutex_lock(&q->mu);
	q->shut = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}
