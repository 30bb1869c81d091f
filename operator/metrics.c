/*
 * metrics.c — flinc-operator's /metrics: see metrics.h.
 */
#include "operator/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

static const char *const VERBS[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "WATCH", "OTHER"};
#define NVERBS (sizeof(VERBS) / sizeof(*VERBS))

/* client-go's rest_client_request_duration_seconds buckets; +Inf is the count. */
static const double BOUNDS[] = {0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60};
static const char *const BOUND_TEXT[] = {"0.005", "0.025", "0.1", "0.25", "0.5", "1",
					 "2",	  "4",	   "8",	  "15",	  "30",	 "60"};
#define NBOUNDS (sizeof(BOUNDS) / sizeof(*BOUNDS))

typedef struct pair {
	unsigned verb;
	long code; /* -1: "other" (the table was full) */
	uint64_t n;
} pair;

typedef struct hist {
	uint64_t bucket[NBOUNDS]; /* non-cumulative: observations <= BOUNDS[i], > BOUNDS[i-1] */
	uint64_t count;
	double sum;
} hist;

struct op_metrics {
	pthread_mutex_t mu;
	pair pairs[OP_METRICS_CODES_MAX + NVERBS];
	size_t npairs;
	hist h[NVERBS];
};

int op_metrics_new(op_metrics **out)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return FL_ENOMEM;
	pthread_mutex_init(&(*out)->mu, NULL);
	return 0;
}

void op_metrics_free(op_metrics *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->mu);
	free(m);
}

static unsigned verb_index(const char *verb)
{
	for (unsigned i = 0; i + 1 < NVERBS; i++)
		if (verb && strcmp(verb, VERBS[i]) == 0)
			return i;
	return NVERBS - 1;
}

void op_metrics_observe(op_metrics *m, const char *verb, long http, double seconds)
{
	unsigned v = verb_index(verb);
	if (!(seconds >= 0)) /* NaN too */
		seconds = 0;
	if (http < 0 || http > 999)
		http = 0;
	pthread_mutex_lock(&m->mu);
	size_t i;
	for (i = 0; i < m->npairs; i++)
		if (m->pairs[i].verb == v && m->pairs[i].code == http)
			break;
	if (i == m->npairs) {
		/* A full table counts what is new as its verb's "other": each verb
		 * has room for one, so nothing is counted under another verb. */
		if (m->npairs < OP_METRICS_CODES_MAX) {
			m->pairs[m->npairs++] = (pair){.verb = v, .code = http};
		} else {
			for (i = 0; i < m->npairs; i++)
				if (m->pairs[i].verb == v && m->pairs[i].code == -1)
					break;
			if (i == m->npairs)
				m->pairs[m->npairs++] = (pair){.verb = v, .code = -1};
		}
	}
	m->pairs[i].n++;
	hist *h = &m->h[v];
	for (size_t b = 0; b < NBOUNDS; b++)
		if (seconds <= BOUNDS[b]) {
			h->bucket[b]++;
			break;
		}
	h->count++;
	h->sum += seconds;
	pthread_mutex_unlock(&m->mu);
}

void op_metrics_observe_cb(void *m, const char *verb, long http, double seconds)
{
	/* A request that read the observer while it was being replaced may see
	 * the new arg with the old fn: NULL is the one arg that can mean none. */
	if (m)
		op_metrics_observe(m, verb, http, seconds);
}

typedef struct out {
	char *buf;
	size_t cap, len;
	int rc;
} out;

static void emit(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(out *o, const char *fmt, ...)
{
	if (o->rc)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->rc = FL_ERANGE;
		return;
	}
	o->len += (size_t)n;
}

static int cmp_pair(const void *a, const void *b)
{
	const pair *x = a, *y = b;
	if (x->verb != y->verb)
		return x->verb < y->verb ? -1 : 1;
	return x->code < y->code ? -1 : x->code > y->code;
}

int op_metrics_format(op_metrics *m, const op_gauges *g, char *buf, size_t cap, size_t *len)
{
	out o = {.buf = buf, .cap = cap};
	*len = 0;
	if (!cap)
		return FL_ERANGE;
	buf[0] = '\0';
	emit(
	    &o,
	    "# HELP flinc_operator_reconciles_total Reconciles done.\n"
	    "# TYPE flinc_operator_reconciles_total counter\n"
	    "flinc_operator_reconciles_total %ld\n"
	    "# HELP flinc_operator_reconcile_errors_total Reconciles that failed and are retried.\n"
	    "# TYPE flinc_operator_reconcile_errors_total counter\n"
	    "flinc_operator_reconcile_errors_total %ld\n"
	    "# HELP flinc_operator_queue_depth FlinkApplications waiting for a reconcile.\n"
	    "# TYPE flinc_operator_queue_depth gauge\n"
	    "flinc_operator_queue_depth %zu\n"
	    "# HELP flinc_operator_leader 1 when this replica holds the leader Lease and acts.\n"
	    "# TYPE flinc_operator_leader gauge\n"
	    "flinc_operator_leader %d\n",
	    g->reconciles, g->failures, g->queue_depth, g->leader ? 1 : 0);
	/* A copy taken under the lock, written out after it. */
	/* OP_METRICS_CODES_MAX (verb, code) pairs, then room for each verb's
	 * "other" (code -1), which takes what comes once the pairs are full. */
	pair pairs[OP_METRICS_CODES_MAX + NVERBS];
	hist h[NVERBS];
	pthread_mutex_lock(&m->mu);
	size_t np = m->npairs;
	memcpy(pairs, m->pairs, np * sizeof(*pairs));
	memcpy(h, m->h, sizeof(h));
	pthread_mutex_unlock(&m->mu);
	qsort(pairs, np, sizeof(*pairs), cmp_pair);
	emit(&o, "# HELP flinc_operator_k8s_requests_total Kubernetes API requests by verb "
		 "(HTTP method, WATCH for watches) and HTTP status.\n"
		 "# TYPE flinc_operator_k8s_requests_total counter\n");
	for (size_t i = 0; i < np; i++) {
		if (pairs[i].code > 0)
			emit(&o,
			     "flinc_operator_k8s_requests_total{verb=\"%s\",code=\"%ld\"} %llu\n",
			     VERBS[pairs[i].verb], pairs[i].code, (unsigned long long)pairs[i].n);
		else
			emit(&o,
			     "flinc_operator_k8s_requests_total{verb=\"%s\",code=\"%s\"} %llu\n",
			     VERBS[pairs[i].verb], pairs[i].code == 0 ? "error" : "other",
			     (unsigned long long)pairs[i].n);
	}
	emit(&o, "# HELP flinc_operator_k8s_request_duration_seconds Kubernetes API request "
		 "latency by verb (a watch: to its first byte).\n"
		 "# TYPE flinc_operator_k8s_request_duration_seconds histogram\n");
	for (size_t v = 0; v < NVERBS; v++) {
		if (!h[v].count)
			continue;
		uint64_t cum = 0;
		for (size_t b = 0; b < NBOUNDS; b++) {
			cum += h[v].bucket[b];
			emit(&o,
			     "flinc_operator_k8s_request_duration_seconds_bucket{verb=\"%s\",le=\"%"
			     "s\"} "
			     "%llu\n",
			     VERBS[v], BOUND_TEXT[b], (unsigned long long)cum);
		}
		emit(&o,
		     "flinc_operator_k8s_request_duration_seconds_bucket{verb=\"%s\",le=\"+Inf\"} "
		     "%llu\n"
		     "flinc_operator_k8s_request_duration_seconds_sum{verb=\"%s\"} %.6f\n"
		     "flinc_operator_k8s_request_duration_seconds_count{verb=\"%s\"} %llu\n",
		     VERBS[v], (unsigned long long)h[v].count, VERBS[v], h[v].sum, VERBS[v],
		     (unsigned long long)h[v].count);
	}
	*len = o.len;
	return o.rc;
}
