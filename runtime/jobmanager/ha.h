/*
 * ha.h — JobManager high availability on Kubernetes (Flink's
 * KubernetesHaServices: high-availability.type: kubernetes).
 *
 * Leadership: one Lease, <cluster-id>-jobmanager-leader (k8s/lease.h), won
 * by one JobManager at a time; the identity written into it is the pod's
 * name and a random suffix. A JobManager runs jobs only while it leads.
 *
 * What survives a JobManager, in ConfigMaps labelled app=<cluster-id>,
 * configmap-type=high-availability (not owned by the Deployment: they
 * outlive it, as Flink's do, until the job is globally terminal; owned by
 * what owns the Deployment, if anything: a FlinkApplication's go with it,
 * and survive its last-state upgrades, which delete the Deployment):
 *
 *   <cluster-id>-cluster-config-map       jobGraph-<job id>: the path of the
 *                                         submitted job's record, a JSON file
 *                                         in high-availability.storageDir
 *   <cluster-id>-<job id>-config-map      checkpointID-<19 digits>: the
 *                                         directory of the latest completed
 *                                         checkpoint (its _metadata);
 *                                         counter: the next checkpoint id
 *
 * Every write is a PUT conditional on the resourceVersion read and is made
 * only while this JobManager leads (checked again right before the PUT): a
 * deposed leader never overwrites what its successor wrote, and the renew
 * deadline (below the lease duration) makes it stop believing it leads
 * before anybody else can win.
 *
 * Threads: every function may be called from any thread (one client under
 * a mutex).
 */
#ifndef FLINC_JOBMANAGER_HA_H
#define FLINC_JOBMANAGER_HA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "config/config.h"

typedef struct jm_ha jm_ha;

/* Whether c asks for high availability on Kubernetes. */
bool jm_ha_wanted(const cfg *c);

/*
 * Reads kubernetes.cluster-id, kubernetes.namespace,
 * high-availability.storageDir (required; a local path or file://, created
 * when missing) and the leader-election keys from c, connects (in a pod:
 * its service account; else as kubectl does) and starts the candidate.
 * lost (may be NULL) is called on the lease thread when leadership is lost
 * while running (not when jm_ha_free gives it up). Errors name the key or
 * the API's refusal.
 */
int jm_ha_start(jm_ha **out, const cfg *c, void (*lost)(void *arg), void *arg, cm_err *err);

/* Waits up to wait_ms for the leadership; returns whether this JobManager
 * leads. */
bool jm_ha_await(jm_ha *ha, int64_t wait_ms);
bool jm_ha_is_leader(jm_ha *ha);
/* The identity in the Lease. */
const char *jm_ha_identity(const jm_ha *ha);

/*
 * Records job job_id: writes record (a JSON object: the job's name, plan,
 * library and arguments) to <storageDir>/<cluster-id>/job-<job id>.json
 * (synced, then renamed into place) and its path under jobGraph-<job id>.
 * Errors: FL_ECANCELED (not the leader), the file system's or the API's.
 */
int jm_ha_put_job(jm_ha *ha, const char *job_id, const cJSON *record, cm_err *err);

/*
 * Keeps a copy of the job library at path (an uploaded jar, whose upload
 * directory goes with its JobManager) as <storageDir>/<cluster-id>/
 * lib-<hash>.so, once per hash (synced, then renamed into place); its path
 * into out. Errors: the file system's, FL_EINVAL (a hash that is not 64 hex
 * digits).
 */
int jm_ha_put_library(jm_ha *ha, const char *hash, const char *path, char *out, size_t cap,
		      cm_err *err);

/*
 * Calls fn for every job recorded in <cluster-id>-cluster-config-map, with
 * its id and its record (parsed, borrowed for the call; at most
 * JM_HA_RECORD_MAX bytes). A record that cannot be read or parsed is logged
 * and skipped. Returns 0 (also when nothing is recorded) or the API's
 * error.
 */
#define JM_HA_RECORD_MAX (16u << 20)
int jm_ha_list_jobs(jm_ha *ha, void (*fn)(void *arg, const char *job_id, const cJSON *record),
		    void *arg, cm_err *err);

/*
 * The latest completed checkpoint recorded for job_id: its directory into
 * dir and its id into *id. Returns 0, FL_ENOENT (none recorded), or the
 * API's error.
 */
int jm_ha_latest_checkpoint(jm_ha *ha, const char *job_id, char *dir, size_t cap, uint64_t *id,
			    cm_err *err);

/* Records checkpoint id in dir as job_id's latest (a cp_publish_fn's work).
 * Errors: FL_ECANCELED (not the leader), the API's (a Conflict retried). */
int jm_ha_put_checkpoint(jm_ha *ha, const char *job_id, uint64_t id, const char *dir, cm_err *err);

/* job_id reached a globally terminal state (FINISHED, CANCELED, FAILED):
 * its ConfigMap, its entry in the cluster's and its record go, and the
 * cluster's ConfigMap too once it records no job. */
int jm_ha_job_done(jm_ha *ha, const char *job_id, cm_err *err);

/* The cluster ends (an application's end): every ConfigMap labelled
 * app=<cluster-id>,configmap-type=high-availability goes. */
int jm_ha_cleanup(jm_ha *ha, cm_err *err);

/* Stops the candidate (release: frees the Lease for a successor at once)
 * and frees (NULL: nothing). */
void jm_ha_free(jm_ha *ha, bool release);

/* ------------------------------------------------------- pure parts */

/* The fixed job id of an application cluster with high availability
 * (Flink's new JobID(clusterId.hashCode(), 0)): the same in every
 * JobManager of the cluster. out: 32 hex digits. */
void jm_ha_application_job_id(const char *cluster_id, char out[33]);

/* The owners of a Deployment (its metadata.ownerReferences), each cut to
 * {apiVersion, kind, name, uid} (no controller, no blockOwnerDeletion: the
 * JobManager may not set that); an entry missing one is skipped. NULL:
 * none (or no memory). The caller frees. */
cJSON *jm_ha_map_owners(const cJSON *deployment);

/* Adds each of owners (jm_ha_map_owners's, or NULL) that metadata's
 * ownerReferences lack (by uid). False: out of memory. */
bool jm_ha_add_owners(cJSON *metadata, const cJSON *owners);

/* "checkpointID-%019llu" into buf (cap >= 32). */
void jm_ha_checkpoint_key(uint64_t id, char *buf, size_t cap);

/* The latest checkpointID-* entry of a ConfigMap's data: 0 with *id and
 * *dir (borrowed from data), or FL_ENOENT; an entry whose name or value is
 * malformed is skipped. */
int jm_ha_latest_in(const cJSON *data, uint64_t *id, const char **dir);

#endif
