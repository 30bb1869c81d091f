/*
 * operator.h — flinc-operator: the controller of FlinkApplications.
 *
 *   flinc-operator [--watch-namespaces NS[,NS...]] [--health-port PORT]
 *                  [--log-level LEVEL]
 *
 * One informer per watched namespace (or one across all of them) feeds a
 * rate-limited work queue; one worker reconciles one application at a time
 * (reconcile.h). An HTTP endpoint answers /healthz, /readyz (once every
 * informer has its first list) and /metrics. Runs in the cluster with the
 * pod's service account, or outside with the kubeconfig kubectl would use.
 */
#ifndef FLINC_OP_OPERATOR_H
#define FLINC_OP_OPERATOR_H

/* Returns the exit status: 0 after SIGTERM/SIGINT, 1 on a failure to start,
 * 2 on bad arguments. */
int op_main(int argc, char **argv);

#endif
