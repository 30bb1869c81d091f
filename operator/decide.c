/*
 * decide.c — what to do for an observed state: see decide.h.
 */
#include "operator/decide.h"

#include <stdio.h>
#include <string.h>

const char *op_action_name(op_action a)
{
	static const char *const names[] = {"none",
					    "invalid",
					    "deploy",
					    "begin-upgrade",
					    "stop-with-savepoint",
					    "poll-savepoint",
					    "trigger-savepoint",
					    "delete",
					    "wait",
					    "mark-suspended",
					    "rescale",
					    "record",
					    "add-finalizer",
					    "delete-ha-configmaps",
					    "remove-finalizer"};
	return (size_t)a < sizeof(names) / sizeof(*names) ? names[a] : "?";
}

static bool job_is(const op_observed *o, const char *state)
{
	return strcmp(o->job_state, state) == 0;
}

static void set(op_step *s, op_action a, const char *why)
{
	s->action = a;
	snprintf(s->why, sizeof(s->why), "%s", why);
}

/* Where a redeploy restores from: the savepoint just taken, else (modes that
 * keep state) the last one known. */
static void restore_point(const op_app *app, op_step *s)
{
	const op_kept *k = &app->kept;
	s->restore[0] = '\0';
	if (k->upgrade_savepoint[0])
		snprintf(s->restore, sizeof(s->restore), "%s", k->upgrade_savepoint);
	else if (app->spec.upgrade_mode != OP_STATELESS && k->last_savepoint[0])
		snprintf(s->restore, sizeof(s->restore), "%s", k->last_savepoint);
}

/*
 * last-state (Flink's): no savepoint. The JobManager's Deployment is deleted;
 * its JobManager, stopped by SIGTERM, suspends the job and keeps what high
 * availability recorded (the HA ConfigMaps, owned by the FlinkApplication,
 * not by the Deployment, and the checkpoints on the shared volume); the new
 * JobManager, of the same cluster id, runs the job under the same id and
 * resumes it from its latest completed checkpoint (which wins over a
 * savepoint given at the deploy: restore_point's is only the fallback for a
 * job that never completed one). Whatever the JobManager's state (starting,
 * unable to start, its job restarting): what HA recorded is all it needs,
 * and an upgrade that waited for a healthy JobManager could never replace
 * one that cannot start.
 */
static void last_state(const op_app *app, op_step *s)
{
	set(s, OP_ACT_DELETE,
	    app->spec.suspended
		? "last-state suspend: deleting the JobManager, keeping its HA metadata"
		: "last-state upgrade: deleting the JobManager, keeping its HA metadata (the "
		  "job resumes from its latest checkpoint)");
}

/* The steps of an upgrade or suspension in progress (status UPGRADING). */
static void upgrading(const op_app *app, const op_observed *o, op_step *s)
{
	const op_kept *k = &app->kept;
	switch (o->deployment) {
	case OP_DEP_DELETING:
		set(s, OP_ACT_WAIT, "the old cluster is being deleted");
		return;
	case OP_DEP_MISSING:
		if (app->spec.suspended) {
			set(s, OP_ACT_MARK_SUSPENDED, "suspended: the cluster is gone");
			return;
		}
		set(s, OP_ACT_DEPLOY, "upgrade: deploying the new spec");
		restore_point(app, s);
		s->drop_ha = app->spec.upgrade_mode != OP_LAST_STATE || k->upgrade_savepoint[0];
		return;
	case OP_DEP_FOREIGN:
		set(s, OP_ACT_WAIT, "a Deployment of this name is not this application's");
		return;
	default:
		break;
	}
	if (app->spec.upgrade_mode == OP_LAST_STATE && !k->upgrade_savepoint[0]) {
		last_state(app, s);
		return;
	}
	bool keep_state = app->spec.upgrade_mode != OP_STATELESS;
	if (!keep_state || k->upgrade_savepoint[0]) {
		set(s, OP_ACT_DELETE,
		    k->upgrade_savepoint[0] ? "savepoint taken: deleting the old cluster"
					    : "stateless upgrade: deleting the old cluster");
		return;
	}
	if (job_is(o, "RUNNING")) {
		set(s, OP_ACT_STOP_SAVEPOINT,
		    app->spec.suspended ? "suspending: stop with a savepoint"
					: "spec changed: stop with a savepoint to upgrade");
		s->trigger_type = app->spec.suspended ? "SUSPEND" : "UPGRADE";
		return;
	}
	if (!o->rest_ok || !o->job_state[0] || job_is(o, "CREATED") || job_is(o, "RESTARTING") ||
	    job_is(o, "INITIALIZING")) {
		set(s, OP_ACT_WAIT, "waiting for the job to run before taking its savepoint");
		return;
	}
	/* The job ended (FINISHED, FAILED, CANCELED): no savepoint can be taken;
	 * the last one known is used (restore_point at the deploy). */
	set(s, OP_ACT_DELETE, "the job is not running: upgrading from the last savepoint known");
}

/*
 * The steps of a deletion (metadata.deletionTimestamp set, our finalizer
 * on): a savepoint in progress is seen to its end; the final savepoint when
 * asked for and the job runs; the cluster deleted and every object of it
 * gone (so that an application made again under the same name meets none);
 * the HA ConfigMaps removed; the finalizer last.
 */
static void deleting(const op_app *app, const op_observed *o, op_step *s)
{
	const op_kept *k = &app->kept;
	if (!app->has_finalizer) {
		set(s, OP_ACT_NONE, "being deleted (no finalizer of ours: owner references clean up)");
		return;
	}
	if (!app->name_ok) {
		/* No cluster was ever made under this name, and what carries its
		 * cut form belongs to another application: nothing is touched. */
		set(s, OP_ACT_REMOVE_FINALIZER,
		    "being deleted: the name is no cluster id, no cluster was made for it");
		return;
	}
	if (k->trigger_id[0]) {
		set(s, OP_ACT_POLL_SAVEPOINT, "being deleted: a savepoint in progress is seen to its end");
		return;
	}
	bool want = app->savepoint_on_delete || (app->valid && app->spec.savepoint_on_deletion);
	/* What asked for the final savepoint, and so what to remove to go without. */
	const char *asked = app->savepoint_on_delete
				? "the annotation " OP_SAVEPOINT_ON_DELETE
				: "kubernetes.operator.job.savepoint-on-deletion (the application's "
				  "flincConfiguration or the operator's defaultConfiguration)";
	bool cluster = o->deployment == OP_DEP_READY || o->deployment == OP_DEP_DEPLOYING;
	if (want && !app->valid && cluster && !k->upgrade_savepoint[0]) {
		/* Asked for, but the spec cannot say where it goes: never skipped
		 * silently. */
		snprintf(s->why, sizeof(s->why),
			 "being deleted: the final savepoint waits for a valid spec (%.250s); fix "
			 "it, or remove %s to delete without one",
			 app->invalid.msg, asked);
		s->action = OP_ACT_WAIT;
		return;
	}
	if (want && app->valid && app->spec.has_job && !k->upgrade_savepoint[0] && cluster) {
		int64_t next = k->trigger_ms + op_delete_backoff_ms(k->delete_failures);
		if (k->delete_failures > 0 && o->now_ms > 0 && o->now_ms < next) {
			snprintf(s->why, sizeof(s->why),
				 "being deleted: the final savepoint failed %lld time%s; the next "
				 "try in %lld s (remove %s to delete without one)",
				 (long long)k->delete_failures, k->delete_failures == 1 ? "" : "s",
				 (long long)((next - o->now_ms + 999) / 1000), asked);
			s->action = OP_ACT_WAIT;
			s->wait_ms = next - o->now_ms;
			return;
		}
		if (o->deployment == OP_DEP_READY && job_is(o, "RUNNING")) {
			set(s, OP_ACT_STOP_SAVEPOINT, "being deleted: stop with a final savepoint");
			s->trigger_type = "DELETE";
			return;
		}
		if (!o->rest_ok || !o->job_state[0] || job_is(o, "CREATED") ||
		    job_is(o, "INITIALIZING") || job_is(o, "RESTARTING")) {
			snprintf(s->why, sizeof(s->why),
				 "being deleted: the final savepoint waits for the job to run "
				 "(remove %s to delete without one)",
				 asked);
			s->action = OP_ACT_WAIT;
			return;
		}
		/* The job ended (FINISHED, FAILED, CANCELED): nothing to save. */
	}
	switch (o->deployment) {
	case OP_DEP_READY:
	case OP_DEP_DEPLOYING:
	case OP_DEP_ERROR:
		set(s, OP_ACT_DELETE, "being deleted: deleting the cluster");
		return;
	case OP_DEP_DELETING:
		set(s, OP_ACT_WAIT, "being deleted: the cluster is going");
		return;
	case OP_DEP_FOREIGN:
		/* Another cluster of this name (not ours): its objects and HA
		 * ConfigMaps carry the same app label; none of them is touched. */
		set(s, OP_ACT_REMOVE_FINALIZER,
		    "being deleted: the Deployment of this name is not this application's (left "
		    "alone)");
		return;
	case OP_DEP_MISSING:
		break;
	}
	if (o->leftovers > 0) {
		set(s, OP_ACT_WAIT, "being deleted: waiting for the cluster's objects to go");
		return;
	}
	if (o->ha_configmaps > 0) {
		set(s, OP_ACT_DELETE_HA, "being deleted: removing the HA ConfigMaps");
		return;
	}
	set(s, OP_ACT_REMOVE_FINALIZER, "being deleted: the cluster is gone");
}

int64_t op_delete_backoff_ms(int64_t failures)
{
	if (failures <= 0)
		return 0;
	int64_t ms = 5000;
	for (int64_t i = 1; i < failures && ms < 300000; i++)
		ms *= 2;
	return ms < 300000 ? ms : 300000;
}

int64_t op_periodic_due_in(const op_app *app, const op_observed *o)
{
	const op_spec *sp = &app->spec;
	if (!app->valid || app->deleting || !sp->has_job || sp->periodic_savepoint_ms <= 0 ||
	    o->now_ms <= 0 || o->deployment != OP_DEP_READY || !job_is(o, "RUNNING") ||
	    strcmp(op_lifecycle(app, o), "STABLE") != 0)
		return -1;
	int64_t base = app->kept.last_periodic_ms;
	if (app->kept.last_savepoint_ms > base)
		base = app->kept.last_savepoint_ms;
	if (o->job_start_ms > base)
		base = o->job_start_ms;
	int64_t due = base + sp->periodic_savepoint_ms;
	return due <= o->now_ms ? 0 : due - o->now_ms;
}

static bool operator_triggered(const char *type)
{
	static const char *const types[] = {"UPGRADE", "SUSPEND", "DELETE", "MANUAL", "PERIODIC"};
	for (size_t i = 0; type && i < sizeof(types) / sizeof(*types); i++)
		if (strcmp(type, types[i]) == 0)
			return true;
	return false;
}

static const char *entry_str(const cJSON *e, const char *key)
{
	const cJSON *v = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, key) : NULL;
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int op_history_trim(const op_app *app, const cJSON *history, int64_t now_ms,
		    bool drop[2 * OP_HISTORY_LIMIT], bool dispose[2 * OP_HISTORY_LIMIT])
{
	const op_spec *sp = &app->spec;
	int n = cJSON_IsArray(history) ? cJSON_GetArraySize(history) : 0;
	if (n > 2 * OP_HISTORY_LIMIT)
		n = 2 * OP_HISTORY_LIMIT;
	const cJSON *e[2 * OP_HISTORY_LIMIT];
	int i = 0, left = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, history)
	{
		if (i >= n)
			break;
		e[i] = it;
		drop[i] = dispose[i] = false;
		i++;
	}
	int64_t cap = sp->history_max_count >= 1 ? sp->history_max_count : OP_HISTORY_COUNT_DEFAULT;
	if (cap > OP_HISTORY_LIMIT)
		cap = OP_HISTORY_LIMIT;
	for (i = 0; i < n - 1; i++) { /* the newest (n - 1) always stays */
		const cJSON *ts = cJSON_GetObjectItemCaseSensitive(e[i], "timeStamp");
		bool old = sp->history_max_age_ms > 0 && now_ms > 0 && cJSON_IsNumber(ts) &&
			   ts->valuedouble + (double)sp->history_max_age_ms < (double)now_ms;
		if (n - i > cap || old) {
			drop[i] = true;
			left++;
		}
	}
	for (i = 0; i < n; i++) {
		const char *loc = entry_str(e[i], "location");
		if (!drop[i] || !sp->savepoint_cleanup || !loc || !*loc ||
		    !operator_triggered(entry_str(e[i], "triggerType")) ||
		    strcmp(loc, sp->initial_savepoint) == 0 ||
		    strcmp(loc, app->kept.last_savepoint) == 0 ||
		    strcmp(loc, app->kept.upgrade_savepoint) == 0)
			continue;
		bool stays = false;
		for (int j = 0; j < n && !stays; j++) {
			const char *other = entry_str(e[j], "location");
			stays = !drop[j] && other && strcmp(other, loc) == 0;
		}
		/* The same location dropped twice is disposed once. */
		for (int j = 0; j < i && !stays; j++) {
			const char *other = entry_str(e[j], "location");
			stays = dispose[j] && other && strcmp(other, loc) == 0;
		}
		dispose[i] = !stays;
	}
	return left;
}

void op_decide(const op_app *app, const op_diff *d, const op_observed *o, op_step *step)
{
	memset(step, 0, sizeof(*step));
	const op_kept *k = &app->kept;
	const op_spec *sp = &app->spec;
	if (app->deleting) {
		deleting(app, o, step);
		return;
	}
	if (!app->has_finalizer) {
		set(step, OP_ACT_ADD_FINALIZER,
		    "the finalizer " OP_FINALIZER " first: a deletion waits for the cluster to go");
		return;
	}
	if (!app->valid) {
		set(step, OP_ACT_INVALID, app->invalid.msg);
		return;
	}
	if (k->trigger_id[0]) {
		set(step, OP_ACT_POLL_SAVEPOINT, "a savepoint is in progress");
		return;
	}
	if (k->upgrading) {
		upgrading(app, o, step);
		return;
	}
	if (o->deployment == OP_DEP_FOREIGN) {
		set(step, OP_ACT_WAIT,
		    "a Deployment with this application's name exists and is not owned by it: "
		    "delete it or rename the application");
		return;
	}
	if (d->first) {
		if (sp->has_job && sp->suspended)
			set(step, OP_ACT_MARK_SUSPENDED, "created suspended");
		else if (o->deployment == OP_DEP_MISSING) {
			set(step, OP_ACT_DEPLOY, "new application");
			/* HA ConfigMaps of an application of the same name deleted a
			 * moment ago, not yet collected, are not this one's state. */
			step->drop_ha = true;
		}
		else
			set(step, OP_ACT_RECORD, "the cluster exists: adopted");
		return;
	}
	bool stay_suspended = d->last_suspended && sp->suspended;
	if ((d->upgrade || d->state) && k->failed_generation == app->generation) {
		set(step, OP_ACT_NONE,
		    "the upgrade of this spec failed: change the spec (or restartNonce) to try "
		    "again, or use upgradeMode stateless");
		return;
	}
	if (d->upgrade || d->state) {
		if (stay_suspended) {
			set(step, OP_ACT_MARK_SUSPENDED, "spec changed while suspended");
			return;
		}
		if (d->last_suspended && o->deployment == OP_DEP_MISSING) {
			set(step, OP_ACT_DEPLOY, "resuming");
			restore_point(app, step);
			/* A savepoint the suspension took wins over any checkpoint. */
			step->drop_ha =
			    sp->upgrade_mode != OP_LAST_STATE || app->kept.upgrade_savepoint[0];
			return;
		}
		if (o->deployment == OP_DEP_MISSING && sp->suspended) {
			set(step, OP_ACT_MARK_SUSPENDED, "suspended: nothing runs");
			return;
		}
		set(step, OP_ACT_BEGIN_UPGRADE,
		    d->upgrade	    ? "spec changed: upgrade"
		    : sp->suspended ? "suspend"
				    : "resume");
		return;
	}
	if (d->last_suspended) {
		set(step, d->rescale ? OP_ACT_RECORD : OP_ACT_NONE, "suspended");
		return;
	}
	if (o->deployment == OP_DEP_MISSING) {
		/* Deleted by someone else: deploy again as last reconciled. */
		set(step, OP_ACT_DEPLOY, "the cluster's Deployment is missing: deploying it again");
		restore_point(app, step);
		return;
	}
	if (d->rescale) {
		if (!sp->has_job) {
			set(step, OP_ACT_RECORD, "a session cluster: its jobs take the slots");
		} else if (job_is(o, "RUNNING")) {
			set(step, OP_ACT_RESCALE, "parallelism changed: rescaling in place");
		} else if (job_is(o, "FINISHED") || job_is(o, "FAILED") || job_is(o, "CANCELED")) {
			set(step, OP_ACT_RECORD, "the job has ended: nothing to rescale");
		} else {
			set(step, OP_ACT_WAIT, "rescale waits for the job to run");
		}
		return;
	}
	if (d->nonce) {
		if (job_is(o, "RUNNING")) {
			set(step, OP_ACT_TRIGGER_SAVEPOINT, "savepointTriggerNonce changed");
			step->trigger_type = "MANUAL";
		} else {
			set(step, OP_ACT_WAIT, "the savepoint waits for the job to run");
		}
		return;
	}
	if (op_periodic_due_in(app, o) == 0) {
		set(step, OP_ACT_TRIGGER_SAVEPOINT,
		    "periodic savepoint (" OP_KEY_PERIODIC ")");
		step->trigger_type = "PERIODIC";
		return;
	}
	set(step, OP_ACT_NONE, "");
}

const char *op_lifecycle(const op_app *app, const op_observed *o)
{
	const op_kept *k = &app->kept;
	if (app->deleting)
		return "DELETING";
	if (k->upgrading)
		return "UPGRADING";
	if (!k->last_spec[0])
		return "CREATED";
	if (o->deployment == OP_DEP_MISSING && app->spec.has_job && app->spec.suspended)
		return "SUSPENDED";
	if (o->deployment == OP_DEP_ERROR || job_is(o, "FAILED"))
		return "FAILED";
	if (o->deployment == OP_DEP_READY &&
	    (!app->spec.has_job || job_is(o, "RUNNING") || job_is(o, "FINISHED")))
		return "STABLE";
	return "DEPLOYED";
}

const char *op_deployment_status(const op_observed *o)
{
	switch (o->deployment) {
	case OP_DEP_MISSING:
	case OP_DEP_FOREIGN:
		return "MISSING";
	case OP_DEP_DEPLOYING:
		return "DEPLOYING";
	case OP_DEP_READY:
		return o->rest_ok ? "READY" : "DEPLOYED_NOT_READY";
	case OP_DEP_ERROR:
		return "ERROR";
	case OP_DEP_DELETING:
		return "DEPLOYING";
	}
	return "MISSING";
}

static void cond(op_condition *c, const char *type, bool status, const char *reason,
		 const char *msg)
{
	c->type = type;
	c->status = status;
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	snprintf(c->message, sizeof(c->message), "%s", msg);
}

void op_conditions(const op_app *app, const op_observed *o, const char *lifecycle,
		   const char *error, op_condition out[3])
{
	char msg[512];
	bool has_job = app->spec.has_job;
	/* Ready */
	if (strcmp(lifecycle, "STABLE") == 0) {
		if (!has_job)
			cond(&out[0], "Ready", true, "SessionReady", "the session cluster answers");
		else if (strcmp(o->job_state, "FINISHED") == 0)
			cond(&out[0], "Ready", true, "JobFinished", "the job has finished");
		else {
			snprintf(msg, sizeof(msg),
				 "job %s is RUNNING with %lld of %lld TaskManager pods ready",
				 o->job_id, (long long)o->tm_ready,
				 (long long)op_spec_taskmanagers(&app->spec));
			cond(&out[0], "Ready", true, "JobRunning", msg);
		}
	} else if (strcmp(lifecycle, "SUSPENDED") == 0) {
		cond(&out[0], "Ready", false, "Suspended",
		     "job.state is suspended; set it to running to resume");
	} else if (strcmp(lifecycle, "FAILED") == 0) {
		if (o->deployment == OP_DEP_ERROR)
			snprintf(msg, sizeof(msg), "the JobManager cannot start: %s",
				 o->deployment_why);
		else
			snprintf(msg, sizeof(msg),
				 "job %s FAILED: see kubectl logs deployment/%s for its exception",
				 o->job_id, app->name);
		cond(&out[0], "Ready", false,
		     o->deployment == OP_DEP_ERROR ? "JobManagerCannotStart" : "JobFailed", msg);
	} else if (strcmp(lifecycle, "UPGRADING") == 0) {
		cond(&out[0], "Ready", false, "Upgrading", "the application is being upgraded");
	} else if (strcmp(lifecycle, "DELETING") == 0) {
		cond(&out[0], "Ready", false, "Deleting", "the application is being deleted");
	} else {
		snprintf(msg, sizeof(msg), "JobManager %s, job %s", op_deployment_status(o),
			 o->job_state[0] ? o->job_state : "not yet submitted");
		cond(&out[0], "Ready", false, "Deploying", msg);
	}
	/* Progressing */
	bool progressing = strcmp(lifecycle, "CREATED") == 0 ||
			   strcmp(lifecycle, "DEPLOYED") == 0 ||
			   strcmp(lifecycle, "UPGRADING") == 0;
	if (progressing)
		cond(&out[1], "Progressing", true,
		     strcmp(lifecycle, "UPGRADING") == 0 ? "Upgrading" : "Deploying",
		     out[0].message);
	else if (has_job && strcmp(o->job_state, "RUNNING") == 0 &&
		 o->tm_ready < op_spec_taskmanagers(&app->spec)) {
		snprintf(msg, sizeof(msg), "%lld of %lld TaskManager pods ready",
			 (long long)o->tm_ready, (long long)op_spec_taskmanagers(&app->spec));
		cond(&out[1], "Progressing", true, "Scaling", msg);
	} else
		cond(&out[1], "Progressing", false, "Settled", "nothing is changing");
	/* Degraded */
	if (!app->valid)
		cond(&out[2], "Degraded", true, "ValidationError", app->invalid.msg);
	else if (error && *error)
		cond(&out[2], "Degraded", true, "ReconcileError", error);
	else if (strcmp(lifecycle, "FAILED") == 0)
		cond(&out[2], "Degraded", true, out[0].reason, out[0].message);
	else if (o->deployment == OP_DEP_FOREIGN)
		cond(&out[2], "Degraded", true, "NameTaken",
		     "a Deployment with this application's name exists and is not owned by it");
	else
		cond(&out[2], "Degraded", false, "AsExpected", "");
}
