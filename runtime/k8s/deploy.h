/*
 * deploy.h — creating a flinc cluster on Kubernetes: the one sequence that
 * `flinc run-application --target kubernetes-application`, `flinc
 * kubernetes-session` and flinc-operator share.
 *
 * Order, as Flink's KubernetesClusterDescriptor: the Deployment first, then
 * the ConfigMap, the Secret and both Services owned by it (they need its
 * uid). The JobManager pod waits for its ConfigMap and Secret volumes, so
 * the order cannot start it without them. Anything failing after the
 * Deployment was made deletes the Deployment again (Background propagation,
 * uid precondition), and with it what it owns.
 */
#ifndef FLINC_K8S_DEPLOY_H
#define FLINC_K8S_DEPLOY_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "config/config.h"
#include "k8s/client.h"
#include "k8s/cluster.h"

typedef struct k8s_cluster_create_opts {
	const char *yaml;	 /* k8s_cluster_flinc_yaml */
	const char *token;	 /* the cluster's shared secret (k8s_cluster_token) */
	const char *application; /* job library path in the image; NULL: a session */
	char *const *args;	 /* its arguments */
	size_t nargs;
	/* NULL, or an ownerReference (apiVersion, kind, name, uid, ...) put on
	 * the Deployment: how flinc-operator makes its FlinkApplication own the
	 * cluster. Borrowed. */
	const cJSON *owner;
	/* The pod templates of the JobManager and the TaskManagers
	 * ([K8S_JM], [K8S_TM]; NULL: none), checked already
	 * (k8s_pod_template_check): merged into the Deployment's pod, and the
	 * TaskManagers' into the ConfigMap for the pods the JobManager makes.
	 * Borrowed. */
	const cJSON *templates[2];
	/* true: only the Deployment is sent, as a server-side dry run
	 * (k8s_create_dry_run): what Kubernetes would refuse in it (a pod
	 * template) is found while nothing is made. A Deployment of that name
	 * that exists answers AlreadyExists once the new one validated: the
	 * caller takes that for accepted. */
	bool dry_run;
} k8s_cluster_create_opts;

/*
 * k8s_cluster_create makes the cluster s in s->ns. *deployment and
 * *rest_service (either may be NULL) receive the API's answers for the
 * Deployment and the rest Service (caller frees). Nothing is checked before
 * (an existing Deployment <id> is the API's AlreadyExists). Errors: the
 * API's (err names the verb and object; a failure after the Deployment says
 * whether deleting it again worked), FL_ENOMEM, FL_EINVAL (a spec the
 * builders refuse). On error nothing is returned and, as far as the API
 * allowed, nothing is left.
 */
int k8s_cluster_create(k8s_client *kc, const k8s_cluster_spec *s, const k8s_cluster_create_opts *o,
		       cJSON **deployment, cJSON **rest_service, k8s_err *err);

/*
 * The cluster's shared secret into buf: security.internal.token when set,
 * else 32 random bytes as 64 hex digits. Errors: FL_EINVAL (the token does
 * not fit cap), FL_EIO (no randomness; cap below 65).
 */
int k8s_cluster_token(const cfg *c, char *buf, size_t cap);

#endif
