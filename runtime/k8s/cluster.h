/*
 * cluster.h — the objects of a flinc cluster on Kubernetes (Flink's native
 * Kubernetes integration), built from the configuration as JSON for the API.
 *
 * A cluster <id> (kubernetes.cluster-id) is:
 *
 *   Deployment  <id>                    the JobManager (one replica)
 *   Service     <id>                    internal, headless: TaskManagers reach
 *                                       the JobManager's RPC port through it
 *   Service     <id>-rest               the REST API (kubernetes.rest-service.
 *                                       exposed.type)
 *   ConfigMap   flinc-config-<id>       flinc.yaml, mounted at /opt/flinc/conf
 *   Secret      flinc-token-<id>        security.internal.token, mounted at
 *                                       /opt/flinc/secret
 *   Pods        <id>-taskmanager-<attempt>-<n>   created by the JobManager
 *
 * Every object carries the labels app=<id>, type=flinc-native-kubernetes and
 * component=jobmanager|taskmanager; everything but the Deployment is owned by
 * it (ownerReferences), so deleting the Deployment deletes the cluster.
 *
 * The builders allocate a cJSON tree the caller frees; they fail only on
 * allocation (FL_ENOMEM) or on a spec that k8s_cluster_spec_from_config
 * would have refused (FL_EINVAL, named).
 */
#ifndef FLINC_K8S_CLUSTER_H
#define FLINC_K8S_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "config/config.h"

/* Flink's limit: the longest cluster id whose derived names (the rest
 * Service, TaskManager pods) stay valid DNS labels. */
#define K8S_CLUSTER_ID_MAX 45
#define K8S_CONF_DIR "/opt/flinc/conf"
#define K8S_SECRET_DIR "/opt/flinc/secret"
#define K8S_MAIN_CONTAINER "flinc-main-container"
#define K8S_TYPE_LABEL "flinc-native-kubernetes"

/* Pod options (podtemplate.h): the index into k8s_cluster_spec.pod_options. */
enum { K8S_OPT_LABELS, K8S_OPT_ANNOTATIONS, K8S_OPT_NODE_SELECTOR, K8S_OPT_TOLERATIONS, K8S_NOPTS };
#define K8S_POD_OPTION_MAX 4096
#define K8S_PATH_MAX 4096
#define K8S_JM 0
#define K8S_TM 1

typedef struct k8s_cluster_spec {
	char id[K8S_CLUSTER_ID_MAX + 1];
	char ns[64];
	char image[512];
	char pull_policy[16];
	char service_account[254];
	char exposed_type[24];
	int64_t jm_cpu_milli, tm_cpu_milli; /* tm: 0 = one core per slot */
	int64_t jm_memory, tm_memory;	    /* bytes */
	int64_t rpc_port, rest_port;
	int64_t tm_slots;
	bool shutdown_on_finish;
	/* kubernetes.volume.host-path HOST:MOUNT ("" none): one node directory
	 * mounted in every pod (checkpoints, HA records, file sinks). */
	char host_path[512], mount_path[512];
	/* What podtemplate.h reads (k8s_pod_options_from_config): the pod
	 * options as configured and checked, of the JobManager [0] and the
	 * TaskManagers [1], and their pod template files ("": none). */
	char pod_options[2][K8S_NOPTS][K8S_POD_OPTION_MAX];
	char pod_template[2][K8S_PATH_MAX];
} k8s_cluster_spec;

/*
 * k8s_cluster_id_check: whether id is a DNS-1035 label Flink accepts as a
 * cluster id: 1..K8S_CLUSTER_ID_MAX of [a-z0-9-], starting with a letter,
 * ending with a letter or digit. Returns 0 or FL_EINVAL with err saying
 * what is wrong and at which character.
 */
int k8s_cluster_id_check(const char *id, cm_err *err);

/*
 * k8s_cluster_spec_from_config reads the kubernetes.* keys and the
 * resources of c. need_image: kubernetes.container.image must be set (the
 * client creating a cluster; the JobManager reads its own from the
 * ConfigMap). Errors FL_EINVAL naming the key: a missing or invalid
 * kubernetes.cluster-id, a missing image, a namespace that is no DNS-1123
 * label, a value that does not fit.
 */
int k8s_cluster_spec_from_config(k8s_cluster_spec *s, const cfg *c, bool need_image, cm_err *err);

/* Names: "<id>", "<id>-rest", "flinc-config-<id>", "flinc-token-<id>". */
void k8s_cluster_rest_service_name(const k8s_cluster_spec *s, char *buf, size_t cap);
void k8s_cluster_configmap_name(const k8s_cluster_spec *s, char *buf, size_t cap);
void k8s_cluster_secret_name(const k8s_cluster_spec *s, char *buf, size_t cap);

/*
 * The configuration the cluster's processes read, as flinc.yaml text
 * (malloc'd, *out freed by the caller): every key set in c except the
 * secret ones and the client's own (kubernetes.context), plus what the
 * cluster needs: high-availability.cluster-id and kubernetes.cluster-id,
 * jobmanager.rpc.address (the internal Service's name), the ports, the
 * bind addresses, security.internal.token-file. Values are YAML
 * double-quoted strings. Errors: FL_ENOMEM, FL_ERANGE (above 1 MiB, what
 * the processes would refuse).
 */
int k8s_cluster_flinc_yaml(const k8s_cluster_spec *s, const cfg *c, char **out, cm_err *err);

/*
 * The JobManager Deployment. application: the job library path in the image
 * (NULL: a session cluster), args its nargs arguments.
 */
int k8s_cluster_deployment(const k8s_cluster_spec *s, const char *application, char *const *args,
			   size_t nargs, cJSON **out, cm_err *err);
/* The ConfigMap holding yaml (k8s_cluster_flinc_yaml). */
int k8s_cluster_configmap(const k8s_cluster_spec *s, const char *yaml, cJSON **out, cm_err *err);
/* The Secret holding token. */
int k8s_cluster_secret(const k8s_cluster_spec *s, const char *token, cJSON **out, cm_err *err);
/* The internal Service (rest false) or the rest Service (rest true). */
int k8s_cluster_service(const k8s_cluster_spec *s, bool rest, cJSON **out, cm_err *err);
/*
 * A TaskManager pod named name, owned by the Deployment with owner_uid
 * (NULL: no owner), running flinc-taskmanager with resource id name.
 */
int k8s_cluster_taskmanager_pod(const k8s_cluster_spec *s, const char *name, const char *owner_uid,
				cJSON **out, cm_err *err);

/* Adds to obj's metadata the ownerReference to the Deployment s->id with
 * uid (controller, blockOwnerDeletion). Errors: FL_ENOMEM, FL_EINVAL (obj
 * has no metadata). */
int k8s_cluster_set_owner(cJSON *obj, const k8s_cluster_spec *s, const char *uid, cm_err *err);

/* "500m", "2": a CPU quantity from millicores (cap >= 24). */
void k8s_cpu_quantity(int64_t milli, char *buf, size_t cap);
/* "1600Mi", or the bytes when not a whole number of MiB (cap >= 24). */
void k8s_memory_quantity(int64_t bytes, char *buf, size_t cap);

#endif
