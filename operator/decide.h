/*
 * decide.h — the pure half of a reconcile: from a FlinkApplication (spec and
 * what status kept) and what was observed of its cluster, the one step to
 * take now, the lifecycle state and the conditions to report. No I/O here:
 * tests/unit/test_operator.c drives every branch.
 *
 * A reconcile takes one step and is queued again; the steps of an upgrade
 * are written to status as they happen (UPGRADING, then the savepoint's
 * path, then the new spec), so an operator restarted in the middle goes on
 * from status and never loses a savepoint.
 */
#ifndef FLINC_OP_DECIDE_H
#define FLINC_OP_DECIDE_H

#include "operator/spec.h"

typedef enum op_deployment {
	OP_DEP_MISSING,	  /* no Deployment <name> */
	OP_DEP_DEPLOYING, /* exists, JobManager not available yet */
	OP_DEP_READY,	  /* JobManager available */
	OP_DEP_DELETING,  /* being deleted */
	OP_DEP_ERROR,	  /* its pod cannot start (image, ...) */
	OP_DEP_FOREIGN,	  /* a Deployment of that name not owned by this application */
} op_deployment;

typedef struct op_observed {
	op_deployment deployment;
	char deployment_why[256]; /* OP_DEP_ERROR: the kubelet's reason */
	bool rest_ok;		  /* the JobManager's REST API answered */
	char job_id[40];	  /* "" none yet */
	char job_state[24];	  /* RUNNING, FINISHED, ... ("" none) */
	char job_name[128];
	int64_t job_start_ms;
	int64_t tm_pods, tm_ready; /* TaskManager pods, and those running */
	int64_t now_ms;		   /* the wall clock when observed (periodic savepoints) */
	/* While the application is being deleted: objects of its cluster still
	 * there besides the Deployment (pods, Services, ConfigMaps, Secrets), and
	 * its high-availability ConfigMaps. */
	int64_t leftovers, ha_configmaps;
} op_observed;

typedef enum op_action {
	OP_ACT_NONE,		  /* observe and report */
	OP_ACT_INVALID,		  /* report the validation error; touch nothing */
	OP_ACT_DEPLOY,		  /* create the cluster (restore: op_step.restore) */
	OP_ACT_BEGIN_UPGRADE,	  /* record UPGRADING in status, then go on */
	OP_ACT_STOP_SAVEPOINT,	  /* stop the job with a savepoint */
	OP_ACT_POLL_SAVEPOINT,	  /* a savepoint is being taken */
	OP_ACT_TRIGGER_SAVEPOINT, /* savepointTriggerNonce changed */
	OP_ACT_DELETE,		  /* delete the Deployment (and what it owns) */
	OP_ACT_WAIT,		  /* something is on its way: look again soon */
	OP_ACT_MARK_SUSPENDED,	  /* nothing runs and nothing should: record the spec */
	OP_ACT_RESCALE,		  /* PUT resource-requirements at the new parallelism */
	OP_ACT_RECORD,		  /* record the spec as reconciled (nothing to do on the cluster) */
	OP_ACT_ADD_FINALIZER,	  /* put OP_FINALIZER on the object first */
	OP_ACT_DELETE_HA,	  /* being deleted: remove the cluster's HA ConfigMaps */
	OP_ACT_REMOVE_FINALIZER,  /* being deleted, nothing left: let the object go */
} op_action;

typedef struct op_step {
	op_action action;
	/* DEPLOY: the savepoint to restore from ("" none). */
	char restore[OP_PATH_MAX];
	/* DEPLOY: remove the cluster's high-availability ConfigMaps first (a
	 * new application, a stateless or savepoint upgrade, a resume but in
	 * last-state mode): their latest checkpoint would win over the
	 * savepoint, or over a fresh start. A last-state upgrade, and a
	 * redeploy of a Deployment someone deleted, keep them: the job
	 * resumes from them. */
	bool drop_ha;
	/* STOP_SAVEPOINT / TRIGGER_SAVEPOINT: UPGRADE, SUSPEND, DELETE (the
	 * final savepoint), MANUAL or PERIODIC. */
	const char *trigger_type;
	/* Why, for the log and events ("spec changed: upgrade by savepoint"). */
	char why[CM_ERR_MSG_MAX];
	/* WAIT: look again after this long (0: the usual). */
	int64_t wait_ms;
} op_step;

/* The back-off before final savepoint number failures + 1: 5 s, doubled per
 * failure in a row, at most 5 min. */
int64_t op_delete_backoff_ms(int64_t failures);

/* The step to take now. */
void op_decide(const op_app *app, const op_diff *d, const op_observed *o, op_step *step);

const char *op_action_name(op_action a);

/*
 * While a job runs and the application is STABLE with
 * kubernetes.operator.periodic.savepoint.interval set: the milliseconds
 * until the next periodic savepoint is due (0: due now), counted from the
 * latest of the last periodic trigger, the last savepoint and the job's
 * start. -1: none is due at all.
 */
int64_t op_periodic_due_in(const op_app *app, const op_observed *o);

/*
 * The savepoint history's cap: which entries of history (the status's
 * jobStatus.savepointInfo.history, oldest first, at most 2 *
 * OP_HISTORY_LIMIT looked at) leave it. An entry leaves when more than
 * spec.history_max_count newer ones stay, or when it is older than
 * spec.history_max_age_ms at now_ms (0: no age cap); the newest always
 * stays. drop[i] is set for those that leave; dispose[i] for those whose
 * files go too: kubernetes.operator.savepoint.cleanup.enabled, taken by the
 * operator (triggerType UPGRADE, SUSPEND, DELETE, MANUAL or PERIODIC), and
 * neither job.initialSavepointPath, the last savepoint, an upgrade's
 * savepoint nor the location of an entry that stays. Returns how many
 * leave.
 */
int op_history_trim(const op_app *app, const cJSON *history, int64_t now_ms,
		    bool drop[2 * OP_HISTORY_LIMIT], bool dispose[2 * OP_HISTORY_LIMIT]);

/* status.lifecycleState for what is known now. */
const char *op_lifecycle(const op_app *app, const op_observed *o);

/* status.jobManagerDeploymentStatus. */
const char *op_deployment_status(const op_observed *o);

typedef struct op_condition {
	const char *type; /* Ready, Progressing, Degraded */
	bool status;
	char reason[64];
	char message[512];
} op_condition;

/* The three conditions (Ready, Progressing, Degraded, in that order) for
 * lifecycle, what was observed and error ("" none: the last step's failure
 * or the validation error). */
void op_conditions(const op_app *app, const op_observed *o, const char *lifecycle,
		   const char *error, op_condition out[3]);

#endif
