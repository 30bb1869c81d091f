/*
 * reconcile.h — one reconcile of one FlinkApplication: read it fresh from the
 * API server, observe its cluster (the Deployment, the TaskManager pods, the
 * JobManager's REST API through the <name>-rest Service), take the one step
 * op_decide picks, write status (through the status subresource, at the
 * resourceVersion read, so a concurrent writer makes it try again) and
 * events.
 */
#ifndef FLINC_OP_RECONCILE_H
#define FLINC_OP_RECONCILE_H

#include <stdint.h>

#include "k8s/client.h"

extern const k8s_resource OP_FLINKAPPLICATIONS;

typedef struct op_result {
	long requeue_ms; /* look again after this long (0: only on a change) */
	bool failed;	 /* retry with back-off */
} op_result;

/* Reconciles ns/name with kc (one thread). Never fails the process: every
 * error is logged, reported in status where it can be, and asks for a
 * retry. */
void op_reconcile(k8s_client *kc, const char *ns, const char *name, op_result *res);

#endif
