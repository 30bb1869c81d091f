/*
 * config.h — where a Kubernetes API server is and how to authenticate to it.
 *
 * Two sources, as client-go and kubectl read them:
 *
 *   kubeconfig   one file or several (KUBECONFIG=a:b:c). Files that do not
 *                exist are skipped, as kubectl does. Entries merge by name
 *                and the first file that names a cluster, user or context
 *                wins; current-context comes from the first file that sets
 *                one. certificate-authority, client-certificate, client-key
 *                and tokenFile paths are relative to the file that holds
 *                the entry; the *-data forms are base64.
 *   in-cluster   the pod's service account: KUBERNETES_SERVICE_HOST/PORT
 *                and /var/run/secrets/kubernetes.io/serviceaccount/{token,
 *                ca.crt,namespace}.
 *
 * Every input is capped (K8S_CONFIG_FILE_MAX per file, K8S_CONFIG_FILES_MAX
 * files); errors name the file, and for YAML errors the line and column.
 */
#ifndef FLINC_K8S_CONFIG_H
#define FLINC_K8S_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define K8S_CONFIG_FILE_MAX (1u << 20)
#define K8S_CONFIG_FILES_MAX 16
#define K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* All strings and blobs are owned by the config (k8s_config_fini frees
 * them); any may be NULL when the source does not set it. PEM blobs are
 * the bytes of the file or the decoded *-data. */
typedef struct k8s_config {
	char *server;	 /* "https://host:port" (no trailing slash) */
	char *namespace; /* the context's or service account's; "default" if none */
	char *context;	 /* the context used (NULL in-cluster) */
	char *token;	 /* bearer token */
	uint8_t *ca;	 /* cluster CA, PEM */
	size_t ca_len;
	uint8_t *cert; /* client certificate, PEM */
	size_t cert_len;
	uint8_t *key; /* client key, PEM */
	size_t key_len;
	bool insecure; /* insecure-skip-tls-verify */
} k8s_config;

/*
 * k8s_config_from_kubeconfig fills *out from the kubeconfig files in paths
 * (a ':'-separated list like KUBECONFIG's; empty elements are skipped) and
 * the context named context (NULL: the current-context). Errors: FL_ENOENT
 * (no file exists, the context / its cluster / user is not defined — the
 * name is in the message), FL_EPROTO (malformed YAML: file:line:column; bad
 * base64; a missing server), FL_ERANGE (a file above the cap), FL_EIO,
 * FL_ENOMEM. On error *out holds nothing (it is zeroed).
 */
int k8s_config_from_kubeconfig(k8s_config *out, const char *paths, const char *context,
			       cm_err *err);

/*
 * k8s_config_in_cluster fills *out from the service account in sa_dir (NULL:
 * K8S_SA_DIR) and KUBERNETES_SERVICE_HOST/PORT. Errors: FL_ENOENT (not in a
 * pod: no host variable, or no token), FL_EIO, FL_ERANGE, FL_ENOMEM.
 */
int k8s_config_in_cluster(k8s_config *out, const char *sa_dir, cm_err *err);

/*
 * k8s_config_load picks as kubectl does: $KUBECONFIG when set and non-empty,
 * else ~/.kube/config when it exists, else the in-cluster service account.
 * context applies to the kubeconfig forms only.
 */
int k8s_config_load(k8s_config *out, const char *context, cm_err *err);

/* k8s_config_fini frees what c holds and zeroes it. Safe twice. */
void k8s_config_fini(k8s_config *c);

#endif
