/*
 * kubernetes.h — the client's native Kubernetes commands (Flink's shapes):
 *
 *   flinc run-application --target kubernetes-application [-c FILE] [-D k=v]...
 *         local:///opt/flinc/usrlib/JOB.so [job args]
 *   flinc kubernetes-session [-c FILE] [-D k=v]...
 *
 * Both create a cluster on Kubernetes (runtime/k8s/cluster.h) with the
 * kubeconfig kubectl would use (kubernetes.context picks a context), print
 * how to reach its REST API and return; the cluster lives on.
 */
#ifndef FLINC_CLIENT_KUBERNETES_H
#define FLINC_CLIENT_KUBERNETES_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "config/config.h"

typedef struct cl_k8s_args {
	bool session;		 /* kubernetes-session */
	const char *target;	 /* --target / -t / -e (run-application) */
	const char *config_file; /* -c / --config */
	const char **dyn;	 /* -D key=value, in order (array owned) */
	size_t ndyn;
	const char *job; /* run-application: the job URI */
	int job_argc;	 /* arguments after it */
	char **job_argv;
	bool help;
} cl_k8s_args;

/* Whether argv[1] is one of these commands. */
bool cl_k8s_is_command(const char *cmd);

/*
 * Parses argv (argv[1] the command). Errors FL_EINVAL naming the argument:
 * an unknown option, a missing value, a target other than
 * kubernetes-application, no job URI, a job URI that is not
 * local:///ABSOLUTE/PATH, session options after the command's end. Free
 * with cl_k8s_args_fini, on error too.
 */
int cl_k8s_args_parse(cl_k8s_args *a, int argc, char **argv, cm_err *err);
void cl_k8s_args_fini(cl_k8s_args *a);

/*
 * The path in the image a job URI names: "local:///opt/x.so" -> "/opt/x.so".
 * Errors FL_EINVAL: another scheme (Flink's own message: only local:// is
 * supported on Kubernetes), a relative path, "..", a path too long.
 */
int cl_k8s_job_path(const char *uri, char *buf, size_t cap, cm_err *err);

/*
 * The REST endpoint of the session cluster kubernetes.cluster-id in
 * kubernetes.namespace (flinc run|list|cancel --target kubernetes-session),
 * as Flink's client finds it from the <cluster-id>-rest Service: ClusterIP
 * "<id>-rest.<ns>:<port>" (reachable from inside the cluster), NodePort the
 * first node's InternalIP (else ExternalIP) and the node port, LoadBalancer
 * its ingress address. Writes "host:port" into buf. Errors name the key,
 * the missing Service ("no session cluster ..."), a load balancer without
 * an address yet, or the API's refusal.
 */
int cl_k8s_rest_address(const cfg *c, char *buf, size_t cap, cm_err *err);

/* Runs the command; returns the exit status (0, 1 refused or failed, 2
 * bad arguments or configuration). */
int cl_k8s_main(int argc, char **argv);

#endif
