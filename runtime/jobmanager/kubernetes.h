/*
 * kubernetes.h — the JobManager's Kubernetes side (Flink's
 * KubernetesResourceManagerDriver and the application's cleanup), started
 * when the JobManager runs in a pod of a cluster that flinc
 * run-application / kubernetes-session created (kubernetes.cluster-id set,
 * KUBERNETES_SERVICE_HOST in the environment).
 *
 * TaskManager pods: a thread watches the cluster's TaskManager pods with an
 * informer (label app=<id>,component=taskmanager) and, about every half
 * second, compares what the ResourceManager's waiting jobs lack
 * (rm_pending_slots) with the slots of pods that have not registered yet,
 * and creates pods <id>-taskmanager-1-<n> for the difference
 * (taskmanager.numberOfTaskSlots each), owned by the JobManager Deployment.
 * A pod that ends (Failed, Succeeded) or is deleted is dropped; the
 * TaskManager it ran is lost to the ResourceManager, its job restarts and
 * asks for slots again, which makes a new pod. A pod that cannot start
 * (image pull, container creation) is logged with the kubelet's reason and
 * not replaced (no endless stream of failing pods). A registered
 * TaskManager with no slot held for resourcemanager.taskmanager-timeout is
 * released: forgotten by the ResourceManager first, then its pod deleted.
 *
 * Its service account needs: pods create, get, list, watch, delete;
 * deployments get, delete (deploy/kubernetes-rbac.yaml).
 */
#ifndef FLINC_JOBMANAGER_KUBERNETES_H
#define FLINC_JOBMANAGER_KUBERNETES_H

#include <stdbool.h>

#include "common/err.h"
#include "config/config.h"
#include "jobmanager/resourcemanager.h"

typedef struct jm_k8s jm_k8s;

/* Whether this process should run the Kubernetes side: kubernetes.cluster-id
 * is set and the process is in a pod (KUBERNETES_SERVICE_HOST). */
bool jm_k8s_wanted(const cfg *c);

/*
 * Reads the cluster from c, connects with the pod's service account, reads
 * its own Deployment (its uid owns the TaskManager pods) and starts the
 * pod thread. rm must outlive the driver. Errors name the key, or the
 * API's refusal (a missing RBAC verb).
 */
int jm_k8s_start(jm_k8s **out, const cfg *c, rm_resourcemanager *rm, cm_err *err);

/* Deletes the JobManager Deployment (the Kubernetes garbage collector then
 * deletes everything it owns: Services, ConfigMap, Secret, TaskManager
 * pods). Returns 0 (also when it is already gone) or the API's error. */
int jm_k8s_delete_cluster(jm_k8s *k, cm_err *err);

/* Stops the thread and frees (NULL: nothing). TaskManager pods stay (they
 * go with the Deployment). */
void jm_k8s_free(jm_k8s *k);

#endif
