/*
 * timer_service.c — a keyed operator's timers (timer_service.h): the
 * backend holds them, a timers.h queue per domain orders them. The queue's
 * key for a timer is key | ns | klen (2 bytes big-endian), so equal times
 * fire in key-byte order and the key and namespace can be split again.
 *
 * On the heap backend the queue is unchecked (timers.h): the backend's
 * timer state is the one set of timers, a lookup there costs one cache
 * line, and a second set in the queue cost two more misses per timer
 * registered and fired (at 100 K keys, a fifth of a window's record). A
 * delete removes only the backend's entry; pop skips queue entries the
 * backend no longer holds, and the queue is cut back to the backend's
 * timers when it holds twice as many entries as there are timers. On
 * LMDB a lookup is a B-tree walk, so the queue keeps its own set there and
 * a timer registered again costs no read.
 */
#include "taskmanager/timer_service.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

#include "taskmanager/timers.h"
#include "types/keygroup.h"

#define TIME_BYTES 8
/* Longest key plus namespace of a timer: what a namespaced backend key
 * holds less the time. */
#define TIMER_KEY_MAX (ST_KEY_MAX - TIME_BYTES)

struct tm_timers {
	st_backend *b;
	char *op_name;
	size_t max;
	int state[2];
	tm_timerq *q[2];
	bool unchecked;	 /* the queues keep no set: the backend's is the one */
	size_t live[2];	 /* unchecked: the timers registered (the queue may hold more) */
	/* The popped timer's bytes (the queue's are gone at its next call). */
	uint8_t popped[TIMER_KEY_MAX + 2];
	cm_err err;
};

static const char *const DOMAIN_NAME[2] = {"event-time", "processing-time"};

static void put_time(uint8_t *p, int64_t t)
{
	uint64_t u = (uint64_t)t ^ (UINT64_C(1) << 63);
	for (int i = 7; i >= 0; i--, u >>= 8)
		p[i] = (uint8_t)u;
}

static int64_t get_time(const uint8_t *p)
{
	uint64_t u = 0;
	for (int i = 0; i < 8; i++)
		u = u << 8 | p[i];
	return (int64_t)(u ^ (UINT64_C(1) << 63));
}

static int new_queue(const tm_timers *t, tm_timerq **q)
{
	return t->unchecked ? tm_timerq_new_unchecked(q) : tm_timerq_new(t->max, q);
}

int tm_timers_new(st_backend *b, const char *op_name, size_t max_timers, tm_timers **out,
		  cm_err *err)
{
	*out = NULL;
	tm_timers *t = calloc(1, sizeof(*t));
	if (!t || !(t->op_name = strdup(op_name ? op_name : "?"))) {
		free(t);
		return cm_err_set(err, FL_ENOMEM, "operator '%s': out of memory for its timers",
				  op_name);
	}
	t->b = b;
	t->max = max_timers;
	t->unchecked = strcmp(b->ops->type, "hashmap") == 0;
	int rc = 0;
	static const char *const names[2] = {TM_TIMERS_EVENT_STATE, TM_TIMERS_PROC_STATE};
	for (int d = 0; d < 2 && rc == 0; d++) {
		if ((rc = st_declare(b, names[d], ST_STATE_NAMESPACED, &t->state[d])) != 0)
			cm_err_set(err, rc, "operator '%s': cannot declare its %s timers: %s",
				   t->op_name, DOMAIN_NAME[d], st_backend_error(b));
		else if ((rc = new_queue(t, &t->q[d])) != 0)
			cm_err_set(err, rc, "operator '%s': out of memory for its timers",
				   t->op_name);
	}
	if (rc) {
		tm_timers_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void tm_timers_free(tm_timers *t)
{
	if (!t)
		return;
	tm_timerq_free(t->q[0]);
	tm_timerq_free(t->q[1]);
	free(t->op_name);
	free(t);
}

const cm_err *tm_timers_error(const tm_timers *t)
{
	return &t->err;
}

static int fail(tm_timers *t, int rc, enum tm_timer_domain d, const char *what)
{
	t->err.code = 0;
	return cm_err_set(&t->err, rc, "operator '%s': cannot %s a %s timer: %s", t->op_name, what,
			  DOMAIN_NAME[d], st_backend_error(t->b));
}

/* The queue's key of (key, ns) into buf (TIMER_KEY_MAX + 2 bytes). */
static size_t queue_key(uint8_t *buf, const void *key, size_t klen, const void *ns, size_t nslen)
{
	if (klen)
		memcpy(buf, key, klen);
	if (nslen)
		memcpy(buf + klen, ns, nslen);
	buf[klen + nslen] = (uint8_t)(klen >> 8);
	buf[klen + nslen + 1] = (uint8_t)klen;
	return klen + nslen + 2;
}

/* The backend key of a timer; its namespace (time + ns) goes to nsbuf
 * (TIME_BYTES + TIMER_KEY_MAX bytes). */
static st_key backend_key(const tm_timers *t, enum tm_timer_domain d, int64_t time, const void *key,
			  size_t klen, uint32_t hash, const void *ns, size_t nslen, uint8_t *nsbuf)
{
	put_time(nsbuf, time);
	if (nslen)
		memcpy(nsbuf + TIME_BYTES, ns, nslen);
	return (st_key){.state = t->state[d],
			.key_group = kg_of_hash(hash, t->b->max_parallelism),
			.hash = hash,
			.key = key,
			.klen = klen,
			.ns = nsbuf,
			.nslen = TIME_BYTES + nslen};
}

static int too_long(tm_timers *t, enum tm_timer_domain d, size_t klen, size_t nslen)
{
	t->err.code = 0;
	return cm_err_set(&t->err, FL_ERANGE,
			  "operator '%s': a %s timer's key of %zu bytes (namespace %zu) is over "
			  "the %d bytes a timer's key and namespace may have",
			  t->op_name, DOMAIN_NAME[d], klen, nslen, TIMER_KEY_MAX);
}

static int queue_failed(tm_timers *t, enum tm_timer_domain d, int rc)
{
	t->err.code = 0;
	if (rc == FL_ERANGE)
		return cm_err_set(&t->err, rc,
				  "operator '%s': more than %zu %s timers pending in one subtask",
				  t->op_name, t->max, DOMAIN_NAME[d]);
	return cm_err_set(&t->err, rc, "operator '%s': out of memory for a timer", t->op_name);
}

/* Of an unchecked queue: whether the backend still holds the timer of a
 * queue entry (1), not (0), or its error. */
struct holds_arg {
	tm_timers *t;
	enum tm_timer_domain d;
};

static int holds(void *arg, int64_t time, const void *qk, size_t ql)
{
	tm_timers *t = ((struct holds_arg *)arg)->t;
	enum tm_timer_domain d = ((struct holds_arg *)arg)->d;
	const uint8_t *q = qk;
	size_t klen = (size_t)q[ql - 2] << 8 | q[ql - 1];
	uint8_t nsbuf[TIME_BYTES + TIMER_KEY_MAX];
	st_key k = backend_key(t, d, time, q, klen, kg_murmur3_32(q, klen, 0), q + klen,
			       ql - 2 - klen, nsbuf);
	const void *v;
	size_t vl;
	return st_get(t->b, &k, &v, &vl);
}

/* Of an unchecked queue: cuts it back to the backend's timers when it holds
 * twice as many entries (deleted timers' entries wait for their time
 * otherwise: a function that moves a timer per record would grow it). */
static int bound_queue(tm_timers *t, enum tm_timer_domain d)
{
	if (t->live[d] == 0) {
		tm_timerq_clear(t->q[d]);
		return 0;
	}
	if (tm_timerq_size(t->q[d]) < 2 * t->live[d] + 1024)
		return 0;
	int rc = tm_timerq_retain(t->q[d], holds, &(struct holds_arg){.t = t, .d = d});
	return rc ? fail(t, rc, d, "look up") : 0;
}

static int register_unchecked(tm_timers *t, enum tm_timer_domain d, int64_t time, const uint8_t *qk,
			      size_t ql, const st_key *k)
{
	st_pos pos;
	const void *v;
	size_t vl;
	int rc = st_find(t->b, k, &pos, &v, &vl);
	if (rc)
		return rc < 0 ? fail(t, rc, d, "register") : 0; /* 1: already registered */
	if (t->live[d] >= t->max)
		return queue_failed(t, d, FL_ERANGE);
	static const uint8_t one = 1;
	if ((rc = st_put_at(t->b, k, &pos, &one, 1)) != 0)
		return fail(t, rc, d, "register");
	t->live[d]++;
	/* Pushed after the put: a queue entry without a backend entry would
	 * only be skipped, a timer without a queue entry would never fire. */
	if ((rc = tm_timerq_add(t->q[d], time, qk, ql)) < 0) {
		t->live[d]--;
		(void)st_delete(t->b, k);
		return queue_failed(t, d, rc);
	}
	return bound_queue(t, d);
}

int tm_timers_register(tm_timers *t, enum tm_timer_domain d, int64_t time, const void *key,
		       size_t klen, uint32_t hash, const void *ns, size_t nslen)
{
	if (klen > TIMER_KEY_MAX || nslen > TIMER_KEY_MAX - klen)
		return too_long(t, d, klen, nslen);
	uint8_t qk[TIMER_KEY_MAX + 2], nsbuf[TIME_BYTES + TIMER_KEY_MAX];
	size_t ql = queue_key(qk, key, klen, ns, nslen);
	st_key k = backend_key(t, d, time, key, klen, hash, ns, nslen, nsbuf);
	if (t->unchecked)
		return register_unchecked(t, d, time, qk, ql, &k);
	int rc = tm_timerq_add(t->q[d], time, qk, ql);
	if (rc == 0)
		return 0; /* already registered: already in the backend */
	if (rc < 0)
		return queue_failed(t, d, rc);
	static const uint8_t one = 1;
	if ((rc = st_put(t->b, &k, &one, 1)) != 0) {
		tm_timerq_delete(t->q[d], time, qk, ql);
		return fail(t, rc, d, "register");
	}
	return 0;
}

int tm_timers_delete(tm_timers *t, enum tm_timer_domain d, int64_t time, const void *key,
		     size_t klen, uint32_t hash, const void *ns, size_t nslen)
{
	if (klen > TIMER_KEY_MAX || nslen > TIMER_KEY_MAX - klen)
		return 0; /* could never have been registered */
	uint8_t qk[TIMER_KEY_MAX + 2], nsbuf[TIME_BYTES + TIMER_KEY_MAX];
	size_t ql = queue_key(qk, key, klen, ns, nslen);
	st_key k = backend_key(t, d, time, key, klen, hash, ns, nslen, nsbuf);
	int rc;
	if (t->unchecked) {
		if ((rc = st_take(t->b, &k)) <= 0)
			return rc ? fail(t, rc, d, "delete") : 0;
		t->live[d]--; /* its queue entry is skipped when it comes up */
		return bound_queue(t, d);
	}
	if (tm_timerq_delete(t->q[d], time, qk, ql) == 0)
		return 0;
	rc = st_delete(t->b, &k);
	return rc ? fail(t, rc, d, "delete") : 0;
}

int tm_timers_pop(tm_timers *t, enum tm_timer_domain d, int64_t upto, tm_timer *out)
{
	for (;;) {
		int64_t time;
		const void *qk;
		size_t ql;
		if (tm_timerq_pop(t->q[d], upto, &time, &qk, &ql) == 0)
			return 0;
		/* Queue keys were built by queue_key: at least the 2 length bytes. */
		memcpy(t->popped, qk, ql);
		size_t klen = (size_t)t->popped[ql - 2] << 8 | t->popped[ql - 1];
		*out = (tm_timer){.time = time,
				  .key = t->popped,
				  .klen = klen,
				  .ns = t->popped + klen,
				  .nslen = ql - 2 - klen,
				  .hash = kg_murmur3_32(t->popped, klen, 0)};
		uint8_t nsbuf[TIME_BYTES + TIMER_KEY_MAX];
		st_key k = backend_key(t, d, time, out->key, out->klen, out->hash, out->ns,
				       out->nslen, nsbuf);
		int rc = t->unchecked ? st_take(t->b, &k) : st_delete(t->b, &k);
		if (rc < 0)
			return fail(t, rc, d, "fire");
		if (t->unchecked && rc == 0)
			continue; /* deleted, or an equal entry fired it */
		if (t->unchecked && --t->live[d] == 0)
			tm_timerq_clear(t->q[d]);
		return 1;
	}
}

int64_t tm_timers_peek(tm_timers *t, enum tm_timer_domain d)
{
	if (t->unchecked && t->live[d] == 0)
		return INT64_MAX; /* what the queue holds is stale */
	return tm_timerq_peek(t->q[d]);
}

size_t tm_timers_count(const tm_timers *t, enum tm_timer_domain d)
{
	return t->unchecked ? t->live[d] : tm_timerq_size(t->q[d]);
}

static int rebuild_entry(void *arg, const st_entry *e)
{
	tm_timers *t = arg;
	enum tm_timer_domain d;
	if (e->state == t->state[TM_TIMER_EVENT])
		d = TM_TIMER_EVENT;
	else if (e->state == t->state[TM_TIMER_PROC])
		d = TM_TIMER_PROC;
	else
		return 0;
	if (e->nslen < TIME_BYTES || e->klen > TIMER_KEY_MAX ||
	    e->nslen - TIME_BYTES > TIMER_KEY_MAX - e->klen)
		return cm_err_set(&t->err, FL_EPROTO,
				  "operator '%s': a restored %s timer of key group %d has a "
				  "namespace of %zu bytes and a key of %zu: not a timer",
				  t->op_name, DOMAIN_NAME[d], e->key_group, e->nslen, e->klen);
	uint8_t qk[TIMER_KEY_MAX + 2];
	const uint8_t *ns = e->ns;
	size_t ql = queue_key(qk, e->key, e->klen, ns + TIME_BYTES, e->nslen - TIME_BYTES);
	if (t->unchecked && t->live[d] >= t->max)
		return cm_err_set(&t->err, FL_ERANGE,
				  "operator '%s': the restored state holds more than %zu %s timers "
				  "for one subtask",
				  t->op_name, t->max, DOMAIN_NAME[d]);
	int rc = tm_timerq_add(t->q[d], get_time(ns), qk, ql);
	if (rc == 1 && t->unchecked)
		t->live[d]++;
	if (rc == FL_ERANGE)
		return cm_err_set(&t->err, rc,
				  "operator '%s': the restored state holds more than %zu %s timers "
				  "for one subtask",
				  t->op_name, t->max, DOMAIN_NAME[d]);
	if (rc < 0)
		return cm_err_set(&t->err, rc, "operator '%s': out of memory for its timers",
				  t->op_name);
	return 0;
}

int tm_timers_rebuild(tm_timers *t)
{
	for (int d = 0; d < 2; d++) {
		tm_timerq *q;
		int rc = new_queue(t, &q);
		if (rc) {
			t->err.code = 0;
			return cm_err_set(
			    &t->err, rc, "operator '%s': out of memory for its timers", t->op_name);
		}
		tm_timerq_free(t->q[d]);
		t->q[d] = q;
		t->live[d] = 0;
	}
	t->err.code = 0;
	int rc = st_iterate(t->b, 0, t->b->max_parallelism - 1, rebuild_entry, t);
	if (rc && !t->err.code)
		cm_err_set(&t->err, rc, "operator '%s': cannot read its restored timers: %s",
			   t->op_name, st_backend_error(t->b));
	return rc;
}
