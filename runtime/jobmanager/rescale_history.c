/*
 * rescale_history.c — the adaptive scheduler's rescales of a job, kept for
 * Flink's /jobs/:jobid/rescales/... endpoints (see rescale_history.h).
 */
#include "jobmanager/rescale_history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

#include "common/auth.h"
#include "graph/plan_json.h"

/* Scheduler states a rescale passes through: Flink's are at most a few
 * (Executing, Restarting, WaitingForResources, CreatingExecutionGraph);
 * more are folded into the last. */
#define RH_MAX_SPANS 8
/* Durations kept per terminal state for the summary's percentiles: the
 * latest ones, as Flink's statistics keep a bounded window. */
#define RH_MAX_DURATIONS 1024
#define RH_NAME_MAX 256

struct rh_vertex {
	char id[33];
	char name[RH_NAME_MAX];
	int group;
	int desired, sufficient, pre, post; /* -1: none */
};

struct rh_group {
	char id[33];
	char name[RH_NAME_MAX];
	int desired, minimal, pre, post; /* slots; -1: none */
};

struct rh_span {
	const char *state;    /* a string literal */
	int64_t enter, leave; /* leave -1 while in it */
	char *exception;
};

struct rh_rescale {
	char uuid[37], req_uuid[37];
	long attempt;
	struct rh_vertex *v;
	size_t nv;
	struct rh_group *g;
	size_t ng;
	struct rh_span spans[RH_MAX_SPANS];
	int nspans;
	int64_t start, end; /* end -1 while in progress */
	enum rh_terminal terminal;
	enum rh_cause cause;
	enum rh_reason reason;
};

/* The latest durations of one kind, a ring. */
struct rh_durations {
	int64_t v[RH_MAX_DURATIONS];
	size_t n, at;
};

struct rh_history {
	rh_config conf;
	char job_id[33];
	char req_uuid[37];
	long attempts; /* under req_uuid */
	unsigned req_gen;
	/* The latest conf.history_max rescales, a ring; cur is the one in
	 * progress (the newest) or NULL. */
	struct rh_rescale **ring;
	size_t n, at;
	struct rh_rescale *cur;
	long counts[RH_NTERMINALS];
	/* Ended ones' durations: [0] all, then by terminal state. */
	struct rh_durations dur[RH_NTERMINALS];
};

static const char *const cause_names[] = {"INITIAL_SCHEDULE", "UPDATE_REQUIREMENT",
					  "NEW_RESOURCE_AVAILABLE", "RECOVERABLE_FAILOVER"};
static const char *const terminal_names[] = {NULL, "COMPLETED", "FAILED", "IGNORED"};
static const char *const reason_names[] = {NULL,
					   "SUCCEEDED",
					   "EXCEPTION_OCCURRED",
					   "RESOURCE_REQUIREMENTS_UPDATED",
					   "NO_RESOURCES_OR_PARALLELISMS_CHANGE",
					   "JOB_FINISHED",
					   "JOB_FAILED",
					   "JOB_CANCELED",
					   "JOB_FAILOVER_RESTARTING"};

/* A random version 4 UUID, as Flink's rescale and requirement ids. */
static void new_uuid(char out[37])
{
	unsigned char b[16] = {0};
	if (cm_random(b, sizeof(b)) != 0) {
		/* getrandom failing leaves the ids unique per process only. */
		static _Atomic unsigned long seq;
		unsigned long s = ++seq;
		memcpy(b, &s, sizeof(s) < sizeof(b) ? sizeof(s) : sizeof(b));
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

int rh_new(const rh_config *c, const char *job_id, rh_history **out)
{
	*out = NULL;
	rh_history *h = calloc(1, sizeof(*h));
	if (!h)
		return FL_ENOMEM;
	h->conf = *c;
	if (h->conf.history_max < 0)
		h->conf.history_max = 0;
	if (h->conf.history_max > 0) {
		h->ring = calloc((size_t)h->conf.history_max, sizeof(*h->ring));
		if (!h->ring) {
			free(h);
			return FL_ENOMEM;
		}
	}
	snprintf(h->job_id, sizeof(h->job_id), "%s", job_id);
	new_uuid(h->req_uuid);
	*out = h;
	return 0;
}

static void rescale_free(struct rh_rescale *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->nspans; i++)
		free(r->spans[i].exception);
	free(r->v);
	free(r->g);
	free(r);
}

void rh_free(rh_history *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++)
		rescale_free(h->ring[i]);
	free(h->ring);
	free(h);
}

const rh_config *rh_config_of(const rh_history *h)
{
	return &h->conf;
}

void rh_new_requirements(rh_history *h)
{
	new_uuid(h->req_uuid);
	h->attempts = 0;
	h->req_gen++;
}

unsigned rh_requirements_gen(const rh_history *h)
{
	return h->req_gen;
}

bool rh_in_progress(const rh_history *h)
{
	return h->cur != NULL;
}

static int group_of(const jg_graph *g, const char *name)
{
	for (size_t i = 0; i < g->ngroups; i++)
		if (g->groups[i].name && name && strcmp(g->groups[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Which number of a vertex, and of a group, set_slots reads and writes. */
enum rh_field { RH_DESIRED, RH_LOWER, RH_PRE, RH_POST };

static int *vertex_field(struct rh_vertex *v, enum rh_field f)
{
	return f == RH_DESIRED ? &v->desired
	       : f == RH_LOWER ? &v->sufficient
	       : f == RH_PRE   ? &v->pre
			       : &v->post;
}

static int *group_field(struct rh_group *g, enum rh_field f)
{
	return f == RH_DESIRED ? &g->desired
	       : f == RH_LOWER ? &g->minimal
	       : f == RH_PRE   ? &g->pre
			       : &g->post;
}

/* A group's slots from its vertices' numbers f: its widest vertex's. */
static void set_slots(struct rh_rescale *r, enum rh_field f)
{
	for (size_t i = 0; i < r->ng; i++)
		*group_field(&r->g[i], f) = -1;
	for (size_t v = 0; v < r->nv; v++) {
		int gi = r->v[v].group, p = *vertex_field(&r->v[v], f);
		if (gi >= 0 && p > *group_field(&r->g[gi], f))
			*group_field(&r->g[gi], f) = p;
	}
}

static void durations_add(struct rh_durations *d, int64_t ms)
{
	d->v[d->at] = ms;
	d->at = (d->at + 1) % RH_MAX_DURATIONS;
	if (d->n < RH_MAX_DURATIONS)
		d->n++;
}

void rh_end(rh_history *h, int64_t now, enum rh_terminal t, enum rh_reason reason, const int *post,
	    const char *exception)
{
	struct rh_rescale *r = h->cur;
	if (!r || t == RH_IN_PROGRESS)
		return;
	if (post) {
		bool same = true;
		for (size_t v = 0; v < r->nv; v++) {
			r->v[v].post = post[v];
			same = same && r->v[v].pre == post[v];
		}
		set_slots(r, RH_POST);
		if (t == RH_COMPLETED && same) {
			t = RH_IGNORED;
			reason = RH_NO_RESOURCES_OR_PARALLELISMS_CHANGE;
		}
	}
	if (r->nspans > 0) {
		struct rh_span *s = &r->spans[r->nspans - 1];
		s->leave = now;
		if (exception && *exception && !s->exception)
			s->exception = strdup(exception); /* NULL: shown without it */
	}
	r->end = now;
	r->terminal = t;
	r->reason = reason;
	h->counts[t]++;
	int64_t ms = now > r->start ? now - r->start : 0;
	durations_add(&h->dur[0], ms);
	durations_add(&h->dur[t], ms);
	h->cur = NULL;
}

void rh_state(rh_history *h, int64_t now, const char *state)
{
	struct rh_rescale *r = h->cur;
	if (!r)
		return;
	if (r->nspans > 0) {
		struct rh_span *last = &r->spans[r->nspans - 1];
		if (strcmp(last->state, state) == 0)
			return;
		if (r->nspans == RH_MAX_SPANS) {
			last->state = state; /* folded into the last one */
			return;
		}
		last->leave = now;
	}
	r->spans[r->nspans++] = (struct rh_span){.state = state, .enter = now, .leave = -1};
}

int rh_begin(rh_history *h, int64_t now, enum rh_cause cause, const jg_graph *base,
	     const ad_bounds *b, const int *pre, const char *state, enum rh_reason superseded)
{
	if (h->cur)
		rh_end(h, now, RH_IGNORED, superseded, NULL, NULL);
	if (h->conf.history_max <= 0)
		return 0;
	struct rh_rescale *r = calloc(1, sizeof(*r));
	size_t nv = base->nvertices, ng = base->ngroups;
	if (r) {
		r->v = calloc(nv ? nv : 1, sizeof(*r->v));
		r->g = calloc(ng ? ng : 1, sizeof(*r->g));
	}
	if (!r || !r->v || !r->g) {
		rescale_free(r);
		return FL_ENOMEM;
	}
	r->nv = nv;
	r->ng = ng;
	new_uuid(r->uuid);
	memcpy(r->req_uuid, h->req_uuid, sizeof(r->req_uuid));
	r->attempt = ++h->attempts;
	r->start = now;
	r->end = -1;
	r->cause = cause;
	for (size_t v = 0; v < nv; v++) {
		struct rh_vertex *x = &r->v[v];
		jg_vertex_id(h->job_id, (int)v, x->id);
		snprintf(x->name, sizeof(x->name), "%s", base->vertices[v].name);
		x->group = group_of(base, base->vertices[v].slot_group);
		x->desired = b[v].upper;
		x->sufficient = b[v].lower;
		x->pre = pre ? pre[v] : -1;
		x->post = -1;
	}
	for (size_t i = 0; i < ng; i++) {
		/* Flink's SlotSharingGroupId is 16 bytes; flinc's groups are
		 * named, so the id is the job's with the group's index. */
		snprintf(r->g[i].id, sizeof(r->g[i].id), "%.24s%08x", h->job_id,
			 0x80000000u | (unsigned)i);
		snprintf(r->g[i].name, sizeof(r->g[i].name), "%s",
			 base->groups[i].name ? base->groups[i].name : "default");
	}
	set_slots(r, RH_DESIRED);
	set_slots(r, RH_LOWER);
	set_slots(r, RH_PRE);
	/* The oldest goes when the ring is full. */
	if (h->n == (size_t)h->conf.history_max) {
		rescale_free(h->ring[h->at]);
		h->n--;
	}
	h->ring[h->at] = r;
	h->at = (h->at + 1) % (size_t)h->conf.history_max;
	h->n++;
	h->cur = r;
	rh_state(h, now, state);
	return 0;
}

/* ---- JSON. cJSON's adders return NULL when out of memory: the builders
 * note it in *ok and the caller deletes a tree with anything missing. */

static void add_num(cJSON *o, const char *k, double v, bool *ok)
{
	if (!cJSON_AddNumberToObject(o, k, v))
		*ok = false;
}

/* A number, or null when negative (flinc has none). */
static void add_opt(cJSON *o, const char *k, int64_t v, bool *ok)
{
	if (!(v < 0 ? cJSON_AddNullToObject(o, k) : cJSON_AddNumberToObject(o, k, (double)v)))
		*ok = false;
}

static void add_str(cJSON *o, const char *k, const char *v, bool *ok)
{
	if (!(v ? cJSON_AddStringToObject(o, k, v) : cJSON_AddNullToObject(o, k)))
		*ok = false;
}

static void add_item(cJSON *o, const char *k, cJSON *item, bool *ok)
{
	if (!item || !cJSON_AddItemToObject(o, k, item)) {
		cJSON_Delete(item);
		*ok = false;
	}
}

static cJSON *finish(cJSON *o, bool ok)
{
	if (o && ok)
		return o;
	cJSON_Delete(o);
	return NULL;
}

cJSON *rh_config_json(const rh_history *h)
{
	const rh_config *c = &h->conf;
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;
	add_num(o, "rescaleHistoryMax", c->history_max, &ok);
	/* Flink's REACTIVE mode only; flinc has none. */
	add_str(o, "schedulerExecutionMode", NULL, &ok);
	add_opt(o, "submissionResourceWaitTimeoutInMillis", c->wait_timeout, &ok);
	add_opt(o, "submissionResourceStabilizationTimeoutInMillis", c->submit_stable, &ok);
	add_opt(o, "slotIdleTimeoutInMillis", c->slot_idle, &ok);
	add_opt(o, "executingCooldownTimeoutInMillis", c->cooldown, &ok);
	add_opt(o, "executingResourceStabilizationTimeoutInMillis", c->exec_stable, &ok);
	add_opt(o, "maximumDelayForTriggeringRescaleInMillis", c->max_trigger_delay, &ok);
	add_opt(o, "rescaleOnFailedCheckpointCount", c->rescale_on_failed_checkpoints, &ok);
	return finish(o, ok);
}

static cJSON *counts_json(const rh_history *h)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;
	/* In progress: begun and not ended (at most the current one). */
	add_num(o, "ignored", (double)h->counts[RH_IGNORED], &ok);
	add_num(o, "inProgress", h->cur ? 1 : 0, &ok);
	add_num(o, "completed", (double)h->counts[RH_COMPLETED], &ok);
	add_num(o, "failed", (double)h->counts[RH_FAILED], &ok);
	return finish(o, ok);
}

static cJSON *rescale_json(const struct rh_rescale *r)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;
	add_str(o, "rescaleUuid", r->uuid, &ok);
	add_str(o, "resourceRequirementsUuid", r->req_uuid, &ok);
	add_num(o, "rescaleAttemptId", (double)r->attempt, &ok);
	cJSON *vs = cJSON_CreateObject();
	for (size_t i = 0; vs && i < r->nv; i++) {
		const struct rh_vertex *v = &r->v[i];
		cJSON *x = cJSON_CreateObject();
		bool xok = x != NULL;
		add_str(x, "jobVertexId", v->id, &xok);
		add_str(x, "jobVertexName", v->name, &xok);
		add_str(x, "slotSharingGroupId", v->group >= 0 ? r->g[v->group].id : NULL, &xok);
		add_str(x, "slotSharingGroupName", v->group >= 0 ? r->g[v->group].name : NULL,
			&xok);
		add_opt(x, "desiredParallelism", v->desired, &xok);
		add_opt(x, "sufficientParallelism", v->sufficient, &xok);
		add_opt(x, "preRescaleParallelism", v->pre, &xok);
		add_opt(x, "postRescaleParallelism", v->post, &xok);
		add_item(vs, v->id, finish(x, xok), &ok);
	}
	add_item(o, "vertices", vs, &ok);
	cJSON *gs = cJSON_CreateObject();
	for (size_t i = 0; gs && i < r->ng; i++) {
		const struct rh_group *g = &r->g[i];
		cJSON *x = cJSON_CreateObject();
		bool xok = x != NULL;
		add_str(x, "slotSharingGroupId", g->id, &xok);
		add_str(x, "slotSharingGroupName", g->name, &xok);
		/* flinc's slot requests carry the group's declared profile
		 * (shown on /taskmanagers); not repeated here. */
		add_str(x, "requestResourceProfile", NULL, &xok);
		add_opt(x, "desiredSlots", g->desired, &xok);
		add_opt(x, "minimalRequiredSlots", g->minimal, &xok);
		add_opt(x, "preRescaleSlots", g->pre, &xok);
		add_opt(x, "postRescaleSlots", g->post, &xok);
		add_str(x, "acquiredResourceProfile", NULL, &xok);
		add_item(gs, g->id, finish(x, xok), &ok);
	}
	add_item(o, "slots", gs, &ok);
	cJSON *ss = cJSON_CreateArray();
	for (int i = 0; ss && i < r->nspans; i++) {
		const struct rh_span *s = &r->spans[i];
		cJSON *x = cJSON_CreateObject();
		bool xok = x != NULL;
		add_str(x, "state", s->state, &xok);
		add_opt(x, "enterTimestampInMillis", s->enter, &xok);
		add_opt(x, "leaveTimestampInMillis", s->leave, &xok);
		add_opt(x, "durationInMillis", s->leave >= 0 ? s->leave - s->enter : -1, &xok);
		add_str(x, "stringifiedException", s->exception, &xok);
		x = finish(x, xok);
		if (!x || !cJSON_AddItemToArray(ss, x)) {
			cJSON_Delete(x);
			ok = false;
		}
	}
	add_item(o, "schedulerStates", ss, &ok);
	add_opt(o, "startTimestampInMillis", r->start, &ok);
	add_opt(o, "endTimestampInMillis", r->end, &ok);
	add_str(o, "terminalState", terminal_names[r->terminal], &ok);
	add_str(o, "triggerCause", cause_names[r->cause], &ok);
	add_str(o, "terminatedReason", reason_names[r->reason], &ok);
	return finish(o, ok);
}

/* The i-th newest kept rescale (0: the newest). */
static const struct rh_rescale *nth_newest(const rh_history *h, size_t i)
{
	size_t max = (size_t)h->conf.history_max;
	return h->ring[(h->at + max - 1 - i) % max];
}

cJSON *rh_overview_json(const rh_history *h)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;
	add_item(o, "rescalesCounts", counts_json(h), &ok);
	const struct rh_rescale *latest[RH_NTERMINALS] = {0};
	for (size_t i = 0; i < h->n; i++) {
		const struct rh_rescale *r = nth_newest(h, i);
		if (!latest[r->terminal])
			latest[r->terminal] = r;
	}
	cJSON *l = cJSON_CreateObject();
	static const enum rh_terminal kinds[] = {RH_COMPLETED, RH_FAILED, RH_IGNORED};
	static const char *const keys[] = {"completed", "failed", "ignored"};
	for (size_t k = 0; l && k < 3; k++) {
		const struct rh_rescale *r = latest[kinds[k]];
		if (r)
			add_item(l, keys[k], rescale_json(r), &ok);
		else
			add_str(l, keys[k], NULL, &ok);
	}
	add_item(o, "latest", l, &ok);
	return finish(o, ok);
}

cJSON *rh_history_json(const rh_history *h)
{
	cJSON *a = cJSON_CreateArray();
	bool ok = a != NULL;
	for (size_t i = 0; a && i < h->n; i++) {
		cJSON *x = rescale_json(nth_newest(h, i));
		if (!x || !cJSON_AddItemToArray(a, x)) {
			cJSON_Delete(x);
			ok = false;
		}
	}
	return finish(a, ok);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Flink's StatsSummaryDto over d: min, max, avg and percentiles (nearest
 * rank), all 0 over no values. */
static cJSON *stats_json(const struct rh_durations *d)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;
	int64_t *s = d->n ? malloc(d->n * sizeof(*s)) : NULL;
	if (d->n && !s) {
		cJSON_Delete(o);
		return NULL;
	}
	double sum = 0;
	for (size_t i = 0; i < d->n; i++) {
		s[i] = d->v[i];
		sum += (double)d->v[i];
	}
	if (d->n)
		qsort(s, d->n, sizeof(*s), cmp_i64);
	add_num(o, "min", d->n ? (double)s[0] : 0, &ok);
	add_num(o, "max", d->n ? (double)s[d->n - 1] : 0, &ok);
	add_num(o, "avg", d->n ? sum / (double)d->n : 0, &ok);
	static const char *const names[] = {"p50", "p90", "p95", "p99", "p999"};
	static const double q[] = {0.5, 0.9, 0.95, 0.99, 0.999};
	for (size_t k = 0; k < 5; k++) {
		double v = 0;
		if (d->n) {
			size_t rank = (size_t)(q[k] * (double)d->n + 0.999999);
			v = (double)s[(rank ? rank : 1) - 1];
		}
		add_num(o, names[k], v, &ok);
	}
	free(s);
	return finish(o, ok);
}

cJSON *rh_summary_json(const rh_history *h)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;
	add_item(o, "rescalesCounts", counts_json(h), &ok);
	add_item(o, "rescalesDurationStatsInMillis", stats_json(&h->dur[0]), &ok);
	add_item(o, "completedRescalesDurationStatsInMillis", stats_json(&h->dur[RH_COMPLETED]),
		 &ok);
	add_item(o, "ignoredRescalesDurationStatsInMillis", stats_json(&h->dur[RH_IGNORED]), &ok);
	add_item(o, "failedRescalesDurationStatsInMillis", stats_json(&h->dur[RH_FAILED]), &ok);
	return finish(o, ok);
}

cJSON *rh_details_json(const rh_history *h, const char *uuid, bool *found)
{
	*found = false;
	for (size_t i = 0; i < h->n; i++) {
		const struct rh_rescale *r = nth_newest(h, i);
		if (strcmp(r->uuid, uuid) == 0) {
			*found = true;
			return rescale_json(r);
		}
	}
	return NULL;
}
