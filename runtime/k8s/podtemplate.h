/*
 * podtemplate.h — what a user adds to the pods of a cluster on Kubernetes:
 * pod templates (kubernetes.pod-template-file.*, or a FlinkApplication's
 * spec.podTemplate through the operator), and the labels, annotations,
 * node selector and tolerations of the kubernetes.{jobmanager,taskmanager}.*
 * keys, as Flink's native Kubernetes integration has them.
 *
 * Merging a template into a pod flinc built (k8s_pod_template_apply), as
 * Flink does with its "flink-main-container":
 *   - metadata: the template's labels and annotations are kept where flinc
 *     sets no value for the key (app, component, type and the configured
 *     ones win); name, namespace and owner references are flinc's.
 *   - spec: volumes, tolerations and image pull secrets are the template's
 *     followed by flinc's; nodeSelector merged (the configuration wins);
 *     securityContext: the template's fields win over flinc's defaults
 *     (user 9999); serviceAccountName and a TaskManager's restartPolicy
 *     (Never) are flinc's, and a JobManager template's restartPolicy is
 *     dropped (a Deployment's pods restart Always); every other field
 *     (affinity, initContainers, priorityClassName, ...) is the template's.
 *   - containers: the one named flinc-main-container is merged with flinc's
 *     (first in the list): name, image, imagePullPolicy, command and args are
 *     flinc's; env merged (flinc's win for a name both have); ports: the
 *     template's whose name and port flinc does not use, then flinc's;
 *     volumeMounts: the template's then flinc's; resources: the template's
 *     with cpu and memory requests and limits flinc's (the configuration's);
 *     anything else (probes, securityContext, envFrom, ...) the template's.
 *     Every other container (sidecars) is kept, after the main one.
 */
#ifndef FLINC_K8S_PODTEMPLATE_H
#define FLINC_K8S_PODTEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "config/config.h"
#include "k8s/cluster.h"

/* The largest pod template file read (and YAML text converted). */
#define K8S_TEMPLATE_MAX (256u * 1024)
/* The name the TaskManager template has in the cluster's ConfigMap, and
 * so under K8S_CONF_DIR in the JobManager pod (Flink mounts it the same
 * way). */
#define K8S_TM_TEMPLATE_FILE "taskmanager-pod-template.yaml"

/*
 * k8s_yaml_to_json converts one YAML document (len bytes, at most
 * K8S_TEMPLATE_MAX) into a cJSON tree the caller frees, with the scalar
 * types Kubernetes gives YAML (plain 1, 0x1f, 0644 octal, 1.5, true/yes/on,
 * null/~ are numbers, booleans and null; quoted scalars are strings).
 * what names the text in errors. Errors FL_EINVAL with the line and column:
 * not YAML, more than one document, a key that is not a scalar or appears
 * twice, nesting deeper than 64, aliases expanding to more than 100000
 * nodes, an integer beyond 2^53; FL_ERANGE too long; FL_ENOMEM.
 */
int k8s_yaml_to_json(const char *text, size_t len, const char *what, cJSON **out, cm_err *err);

/*
 * k8s_pod_template_check: whether tpl is a Pod a template may be: a mapping
 * of apiVersion (v1), kind (Pod), metadata and spec (status ignored), with
 * labels and annotations maps of strings, containers, initContainers and
 * volumes lists of maps with a name, no volume named as flinc's own
 * (flinc-config-volume, flinc-token-volume). what names it in errors.
 * Returns 0 or FL_EINVAL naming the field.
 */
int k8s_pod_template_check(const cJSON *tpl, const char *what, cm_err *err);

/*
 * k8s_pod_template_load reads the file path (at most K8S_TEMPLATE_MAX bytes),
 * converts it (k8s_yaml_to_json) and checks it (k8s_pod_template_check).
 * *out, the template, is the caller's. Errors name the file: FL_ENOENT or
 * FL_EIO it cannot be read, FL_EINVAL, FL_ERANGE, FL_ENOMEM.
 */
int k8s_pod_template_load(const char *path, cJSON **out, cm_err *err);

/*
 * k8s_pod_template_apply merges the checked template tpl (NULL: nothing)
 * into obj, a Pod or a Deployment (its spec.template) flinc built, as the
 * header comment says; jobmanager: obj is the JobManager's. tpl is not
 * changed. Errors: FL_EINVAL (obj has no pod spec or main container, a
 * template volume or port clashes with flinc's), FL_ENOMEM; obj may be
 * half merged then, and is for freeing only.
 */
int k8s_pod_template_apply(cJSON *obj, const cJSON *tpl, bool jobmanager, cm_err *err);

/*
 * k8s_pod_options_from_config reads into s the labels, annotations, node
 * selector and tolerations keys of the JobManager and the TaskManagers,
 * and the pod template paths (kubernetes.pod-template-file.jobmanager or
 * .taskmanager, else .default, else Flink's older kubernetes.pod-template-
 * file), checking each value's format: maps as
 * Flink's "k1:v1,k2:v2" (a part may be quoted with ' or "), tolerations
 * "key:k,operator:Equal,value:v,effect:NoSchedule;..." (fields key,
 * operator, value, effect, tolerationSeconds). Called by
 * k8s_cluster_spec_from_config. Errors: FL_EINVAL naming the key and what
 * is wrong (a part without ':', a label that is no Kubernetes label or one
 * of flinc's own app, component, type; an unknown toleration field, ...).
 */
int k8s_pod_options_from_config(k8s_cluster_spec *s, const cfg *c, cm_err *err);

/*
 * k8s_pod_options_apply adds the configured labels, annotations, node
 * selector and tolerations (s, of the JobManager or the TaskManagers) to
 * obj, a Pod or a Deployment (its pod template). Errors: FL_EINVAL (obj
 * has no pod spec), FL_ENOMEM.
 */
int k8s_pod_options_apply(cJSON *obj, const k8s_cluster_spec *s, bool jobmanager, cm_err *err);

/*
 * k8s_pod_finish: k8s_pod_options_apply, then k8s_pod_template_apply with
 * tpl (NULL: none): what a JobManager Deployment or TaskManager pod gets
 * after k8s_cluster_deployment / k8s_cluster_taskmanager_pod.
 */
int k8s_pod_finish(cJSON *obj, const k8s_cluster_spec *s, bool jobmanager, const cJSON *tpl,
		   cm_err *err);

/*
 * k8s_configmap_add_template adds the TaskManager template tpl to the
 * cluster's ConfigMap cm (data K8S_TM_TEMPLATE_FILE, as JSON, which is
 * YAML), where the JobManager finds it (k8s_cluster_flinc_yaml points
 * kubernetes.pod-template-file.taskmanager at it). Errors: FL_EINVAL (cm
 * has no data), FL_ENOMEM.
 */
int k8s_configmap_add_template(cJSON *cm, const cJSON *tpl, cm_err *err);

#endif
