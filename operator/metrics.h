/*
 * metrics.h — flinc-operator's /metrics: counters and gauges of the
 * operator, and the latency of its Kubernetes API requests by verb and code,
 * in the Prometheus text format (version 0.0.4).
 *
 *   flinc_operator_reconciles_total                       counter
 *   flinc_operator_reconcile_errors_total                 counter
 *   flinc_operator_queue_depth                            gauge
 *   flinc_operator_leader                                 gauge (1: this replica acts)
 *   flinc_operator_k8s_requests_total{verb,code}          counter
 *   flinc_operator_k8s_request_duration_seconds{verb}     histogram (_bucket{le}, _sum, _count)
 *
 * verb is the HTTP method (GET, POST, PUT, PATCH, DELETE; WATCH for the
 * informers' streams, timed to their first byte), as client-go's
 * rest_client_request_duration_seconds; code the HTTP status, "error" when
 * no answer came. The histogram's buckets are client-go's (5 ms to 60 s).
 *
 * Threads: op_metrics_observe and op_metrics_format may be called from any
 * thread at once (one mutex).
 */
#ifndef FLINC_OP_METRICS_H
#define FLINC_OP_METRICS_H

#include <stddef.h>

typedef struct op_metrics op_metrics;

/* Errors: FL_ENOMEM. */
int op_metrics_new(op_metrics **out);
void op_metrics_free(op_metrics *m);

/* One request (a k8s_request_observer: pass op_metrics_observe_cb and m to
 * k8s_set_request_observer). A verb not in the list above is counted as
 * "OTHER"; more than OP_METRICS_CODES_MAX distinct (verb, code) pairs fold
 * the new ones into code "other". */
void op_metrics_observe(op_metrics *m, const char *verb, long http, double seconds);
void op_metrics_observe_cb(void *m, const char *verb, long http, double seconds);

#define OP_METRICS_CODES_MAX 64

/* What the operator's process adds. */
typedef struct op_gauges {
	long reconciles, failures;
	size_t queue_depth;
	int leader; /* 1 when this replica holds the Lease (or elects none) */
} op_gauges;

/*
 * Writes the whole exposition into buf (NUL-terminated) and its length into
 * *len. Returns 0, or FL_ERANGE when it does not fit (buf then holds a
 * truncated text that must not be served).
 */
int op_metrics_format(op_metrics *m, const op_gauges *g, char *buf, size_t cap, size_t *len);

#endif
