/*
 * operator.h — flinc-operator: the controller of FlinkApplications.
 *
 *   flinc-operator [--watch-namespaces NS[,NS...]] [--health-port PORT]
 *                  [--log-level LEVEL] [--no-leader-election]
 *                  [--lease-name NAME] [--lease-namespace NS]
 *                  [--lease-duration D] [--renew-deadline D] [--retry-period D]
 *
 * Per watched namespace (or once across all of them) informers on
 * FlinkApplications, on the applications' JobManager Deployments and on
 * their pods (these queue the FlinkApplication named by their app label)
 * feed a rate-limited work queue; one worker reconciles one application at
 * a time (reconcile.h), and only while this replica holds the leader Lease
 * (k8s/lease.h): a standby keeps its informers and queue warm and takes
 * nothing; a lost Lease ends the process (exit 1). An HTTP endpoint answers
 * /healthz, /readyz (once every informer has its first list, leader or
 * standby) and /metrics (metrics.h). Runs in the cluster with the pod's
 * service account, or outside with the kubeconfig kubectl would use.
 */
#ifndef FLINC_OP_OPERATOR_H
#define FLINC_OP_OPERATOR_H

/* Returns the exit status: 0 after SIGTERM/SIGINT, 1 on a failure to start,
 * 2 on bad arguments. */
int op_main(int argc, char **argv);

#endif
