/*
 * spec.h — a FlinkApplication (flinc.dev/v1alpha1) as the operator reads it:
 * the decoder of the object the API server sends, the checks the schema
 * cannot make, and the cluster configuration a spec stands for.
 *
 * The object is outside input: the CRD's schema refuses most mistakes, but
 * an object stored before a schema change, a CRD applied without its
 * schema, or a hostile writer can send anything. Every field is checked
 * for type and range here again; a refusal names the field's path
 * ("spec.job.parallelism: ..."), never crashes, and allocates nothing that
 * the caller must free besides what op_app_fini frees.
 */
#ifndef FLINC_OP_SPEC_H
#define FLINC_OP_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "config/config.h"
#include "k8s/cluster.h"

#define OP_GROUP_VERSION "flinc.dev/v1alpha1"
#define OP_KIND "FlinkApplication"
#define OP_PATH_MAX 4096
#define OP_ARGS_MAX 256
/* The finalizer the operator puts on every FlinkApplication it manages, and
 * the annotation that asks for a savepoint before the cluster is deleted. */
#define OP_FINALIZER "flinc.dev/finalizer"
#define OP_SAVEPOINT_ON_DELETE "flinc.dev/savepoint-on-delete"
/* The Apache operator's keys in flincConfiguration the operator reads itself
 * (the cluster never sees a kubernetes.operator.* key). */
#define OP_KEY_PREFIX "kubernetes.operator."
#define OP_KEY_PERIODIC "kubernetes.operator.periodic.savepoint.interval"
#define OP_KEY_HISTORY_COUNT "kubernetes.operator.savepoint.history.max.count"
#define OP_KEY_HISTORY_AGE "kubernetes.operator.savepoint.history.max.age"
#define OP_KEY_CLEANUP "kubernetes.operator.savepoint.cleanup.enabled"
#define OP_KEY_SAVEPOINT_ON_DELETION "kubernetes.operator.job.savepoint-on-deletion"
/* status.jobStatus.savepointInfo.history holds at most this many (the CRD's
 * maxItems); the Apache operator's defaults for the count and the age. */
#define OP_HISTORY_LIMIT 32
#define OP_HISTORY_COUNT_DEFAULT 10
#define OP_HISTORY_AGE_DEFAULT_MS (24LL * 3600 * 1000)

typedef enum op_upgrade_mode { OP_STATELESS, OP_SAVEPOINT, OP_LAST_STATE } op_upgrade_mode;

typedef struct op_spec {
	char image[512];
	char pull_policy[16];
	char service_account[254];
	const cJSON *configuration;   /* spec.flincConfiguration (borrowed from op_app.obj) */
	double jm_cpu, tm_cpu;	      /* 0: not set */
	int64_t jm_memory, tm_memory; /* bytes; 0: not set */
	int64_t tm_replicas;	      /* 0: not set */
	int64_t slots;
	bool has_job;		    /* false: a session cluster */
	char job_path[OP_PATH_MAX]; /* the library in the image, from job.uri */
	const cJSON *args;	    /* job.args (borrowed) or NULL */
	int64_t parallelism;	    /* job.parallelism; 0: not set */
	op_upgrade_mode upgrade_mode;
	bool suspended; /* job.state */
	bool has_nonce;
	int64_t savepoint_nonce;
	char initial_savepoint[OP_PATH_MAX];
	bool allow_non_restored;
	int64_t restart_nonce;
	/* spec.podTemplate, jobManager.podTemplate, taskManager.podTemplate
	 * (borrowed; NULL: none), checked as Pods (k8s_pod_template_check). */
	const cJSON *pod_template, *jm_pod_template, *tm_pod_template;
	/* From flincConfiguration's kubernetes.operator.* keys: the periodic
	 * savepoint interval (0: none), the savepoint history's cap in entries
	 * and age (0: no age cap), whether what leaves it is disposed, and
	 * kubernetes.operator.job.savepoint-on-deletion. */
	int64_t periodic_savepoint_ms;
	int64_t history_max_count;
	int64_t history_max_age_ms;
	bool savepoint_cleanup;
	bool savepoint_on_deletion;
} op_spec;

/* What the operator keeps in status between reconciles (so a restarted
 * operator resumes where it was). */
typedef struct op_kept {
	char last_spec[16384];		     /* reconciliationStatus.lastReconciledSpec ("" none) */
	bool upgrading;			     /* reconciliationStatus.state UPGRADING */
	char upgrade_savepoint[OP_PATH_MAX]; /* taken for an upgrade/suspend, not yet used */
	char last_savepoint[OP_PATH_MAX];    /* savepointInfo.lastSavepoint.location */
	char trigger_id[40];		     /* savepointInfo.triggerId ("" none) */
	char trigger_type[16];		     /* UPGRADE, SUSPEND, MANUAL */
	bool has_handled_nonce;
	int64_t handled_nonce; /* savepointInfo.triggerNonce: the last nonce acted on */
	/* reconciliationStatus.failedGeneration: an upgrade of this generation
	 * failed (its savepoint could not be taken); not tried again until the
	 * spec changes. 0: none. */
	int64_t failed_generation;
	char job_id[40];
	char job_state[24];
	char lifecycle[16];
	/* savepointInfo.lastPeriodicSavepointTimestamp (when the last periodic
	 * savepoint was triggered) and lastSavepoint.timeStamp, ms; 0: never. */
	int64_t last_periodic_ms;
	int64_t last_savepoint_ms;
	/* savepointInfo.triggerTimestamp (ms) and
	 * savepointInfo.deleteSavepointFailures: final savepoints that failed in
	 * a row (the next is tried after a back-off). */
	int64_t trigger_ms;
	int64_t delete_failures;
} op_kept;

typedef struct op_app {
	cJSON *obj; /* the whole object (owned) */
	char ns[64];
	char name[K8S_CLUSTER_ID_MAX + 1]; /* the cluster id (cut when too long: invalid) */
	char object_name[254];		   /* metadata.name, for the API */
	char uid[64];
	int64_t generation;
	bool deleting;	/* metadata.deletionTimestamp set */
	bool name_ok;	/* the name is a cluster id: a cluster may have been made under it */
	bool has_finalizer;	  /* metadata.finalizers holds OP_FINALIZER */
	bool savepoint_on_delete; /* the annotation OP_SAVEPOINT_ON_DELETE is "true" */
	bool valid;	/* spec decoded and checked */
	cm_err invalid; /* why not */
	op_spec spec;
	op_kept kept;
} op_app;

/*
 * op_app_decode takes obj (ownership passes to app, on error too) and reads
 * its identity, spec and status. Returns FL_EPROTO only when the object
 * cannot even be named (no metadata.name/namespace/uid of the right shape:
 * nothing can be written about it); a bad spec returns 0 with app->valid
 * false and app->invalid naming the field. Free with op_app_fini.
 */
int op_app_decode(op_app *app, cJSON *obj, cm_err *err);
void op_app_fini(op_app *app);

/* The parallelism the job runs at: taskManager.replicas x slots when the
 * replicas are set, else job.parallelism, else 1. */
int64_t op_spec_parallelism(const op_spec *s);
/* TaskManager pods that parallelism needs: ceil(P / slots). */
int64_t op_spec_taskmanagers(const op_spec *s);

/*
 * The spec as lastReconciledSpec keeps it: canonical JSON text (sorted
 * keys, defaults the schema applies filled in) of spec. Two specs that
 * differ only in fields the operator applies in place (see op_spec_diff)
 * differ only there. *out malloc'd. Errors: FL_ENOMEM, FL_ERANGE (longer
 * than op_kept.last_spec holds).
 */
int op_spec_canonical(const cJSON *spec, char **out, cm_err *err);

typedef struct op_diff {
	bool upgrade;	     /* anything but the fields below changed: redeploy */
	bool rescale;	     /* the parallelism (job.parallelism, taskManager.replicas/slots) */
	bool state;	     /* job.state */
	bool nonce;	     /* job.savepointTriggerNonce */
	bool first;	     /* nothing reconciled yet */
	bool last_suspended; /* the reconciled spec's job.state was suspended */
} op_diff;

/* Compares the spec (op_app.obj's) with kept->last_spec. A last_spec that
 * does not parse counts as an upgrade. */
int op_spec_diff(const op_app *app, op_diff *d, cm_err *err);

/*
 * op_spec_cluster: the configuration of the application's cluster (*conf,
 * caller frees with cfg_free) and its k8s_cluster_spec. restore: NULL or
 * the savepoint to start the job from (execution.savepoint.path).
 * Errors FL_EINVAL naming the spec field or flincConfiguration key (a value
 * of the wrong type for its key, a key the operator sets itself), FL_ENOMEM.
 */
int op_spec_cluster(const op_app *app, const char *restore, cfg **conf, k8s_cluster_spec *ks,
		    cm_err *err);

/*
 * The operator's default configuration (the chart's defaultConfiguration):
 * flincConfiguration keys every application gets unless it sets them
 * itself. defaults: a JSON object (ownership passes, on error too) whose
 * values are strings, numbers or booleans (numbers and booleans are taken
 * as their text); NULL: none. Keys the operator sets itself are refused.
 * Called once at startup, before any reconcile (read without a lock
 * after). Errors: FL_EINVAL naming the key, FL_ENOMEM.
 */
int op_spec_set_defaults(cJSON *defaults, cm_err *err);

/* flincConfiguration key of s: the application's value, else the default's
 * (NULL: neither, or not a string). */
const cJSON *op_spec_conf(const op_spec *s, const char *key);

/* A Kubernetes quantity ("512Mi", "1G", "1500") in bytes. FL_EINVAL for
 * anything else, a fraction of a byte, or above 2^53. */
int op_parse_memory(const char *q, int64_t *bytes);

#endif
