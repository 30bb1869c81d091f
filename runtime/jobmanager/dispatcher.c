/*
 * dispatcher.c — jobs, uploaded libraries and main() runs of the
 * Dispatcher: see dispatcher.h. The REST API over them is in
 * dispatcher_rest.c.
 */
#include "jobmanager/dispatcher.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/launch.h"
#include "checkpoint/coordinator.h"
#include "checkpoint/restore.h"
#include "common/auth.h"
#include "common/clock.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/sync.h"
#include "graph/jobgraph.h"
#include "graph/plan_json.h"
#include "jobmanager/adaptive.h"
#include "jobmanager/dispatcher_internal.h"
#include "jobmanager/ha.h"
#include "jobmanager/rescale_history.h"
#include "jobmanager/restart.h"

/* ----------------------------------------------------------- registry */

struct ds_job *ds_job_get(ds_dispatcher *d, const char *id)
{
	pthread_mutex_lock(&d->mu);
	struct ds_job *j = d->jobs;
	while (j && strcmp(j->id, id) != 0)
		j = j->next;
	if (j)
		j->refs++;
	pthread_mutex_unlock(&d->mu);
	return j;
}

void ds_job_put(ds_dispatcher *d, struct ds_job *j)
{
	pthread_mutex_lock(&d->mu);
	/* The Dispatcher's thread waits for the last reference but its own
	 * (refs 1) before it frees the JobMaster: wake it then too. */
	if (--j->refs <= 1)
		pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

void ds_job_note_failure(struct ds_job *j, int64_t when, const char *msg)
{
	/* Newest first; the oldest falls off. */
	pthread_mutex_lock(&j->hmu);
	memmove(&j->history[1], &j->history[0], sizeof(j->history) - sizeof(j->history[0]));
	j->history[0].when = when;
	snprintf(j->history[0].msg, sizeof(j->history[0].msg), "%s", msg ? msg : "");
	if (j->nhistory < DS_MAX_HISTORY)
		j->nhistory++;
	pthread_mutex_unlock(&j->hmu);
}

static void job_free(struct ds_job *j)
{
	if (j->cancel_ready) {
		cm_cancel_fini(&j->cancel);
		pthread_mutex_destroy(&j->hmu);
	}
	free(j->details);
	free(j->exceptions);
	free(j->plan);
	rh_free(j->rescales);
	cp_free(j->cp);
	while (j->sp_ops) {
		struct ds_sp_op *o = j->sp_ops;
		j->sp_ops = o->next;
		free(o);
	}
	free(j);
}

/* Drops the oldest ended jobs over the cap (mu held). */
static void trim_locked(ds_dispatcher *d)
{
	while (d->njobs > DS_MAX_ARCHIVED) {
		struct ds_job **oldest = NULL;
		for (struct ds_job **p = &d->jobs; *p; p = &(*p)->next)
			if ((*p)->ended && (*p)->refs == 0)
				oldest = p;
		if (!oldest)
			return;
		struct ds_job *j = *oldest;
		*oldest = j->next;
		d->njobs--;
		job_free(j);
	}
}

void ds_job_counts(ds_dispatcher *d, ds_counts *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_lock(&d->mu);
	for (struct ds_job *j = d->jobs; j; j = j->next) {
		switch ((enum eg_status)j->status) {
		case EG_FINISHED:
			c->finished++;
			break;
		case EG_CANCELED:
			c->cancelled++;
			break;
		case EG_FAILED:
			c->failed++;
			break;
		default:
			c->running++;
		}
	}
	pthread_mutex_unlock(&d->mu);
}

/* ------------------------------------------------------------ routing */

/* The running JobMaster of job_id with a reference on its entry, or NULL
 * having answered done. */
static struct ds_job *running_job(ds_dispatcher *d, const char *job_id, rpc_done_fn done,
				  void *arg)
{
	pthread_mutex_lock(&d->mu);
	struct ds_job *j = d->jobs;
	while (j && strcmp(j->id, job_id) != 0)
		j = j->next;
	jm_jobmaster *jm = j ? j->jm : NULL;
	if (jm)
		j->refs++;
	pthread_mutex_unlock(&d->mu);
	if (!jm) {
		char why[128];
		snprintf(why, sizeof(why), "no JobMaster for job %.32s here", job_id);
		if (done)
			done(arg, FL_ENOENT, why, NULL, 0);
		return NULL;
	}
	return j;
}

/* Task reports go to the job's running JobMaster. */
static void gw_task_state(rpc_jm_gateway *g, const char *resource_id, const char *job_id,
			  uint64_t attempt, int vertex, int subtask, int state, const char *error,
			  rpc_done_fn done, void *arg)
{
	ds_dispatcher *d = (ds_dispatcher *)g;
	struct ds_job *j = running_job(d, job_id, done, arg);
	if (!j)
		return;
	rpc_jm_gateway *t = jm_gateway(j->jm);
	t->ops->task_state(t, resource_id, job_id, attempt, vertex, subtask, state, error, done,
			   arg);
	ds_job_put(d, j);
}

static void gw_ack_checkpoint(rpc_jm_gateway *g, const char *resource_id, const char *job_id,
			      uint64_t attempt, int vertex, int subtask, uint64_t id,
			      const uint8_t *states, size_t len, const char *decline,
			      rpc_done_fn done, void *arg)
{
	ds_dispatcher *d = (ds_dispatcher *)g;
	struct ds_job *j = running_job(d, job_id, done, arg);
	if (!j)
		return;
	rpc_jm_gateway *t = jm_gateway(j->jm);
	t->ops->ack_checkpoint(t, resource_id, job_id, attempt, vertex, subtask, id, states, len,
			       decline, done, arg);
	ds_job_put(d, j);
}

static void gw_free(rpc_jm_gateway *g)
{
	(void)g;
}

static const struct rpc_jm_gateway_ops gw_ops = {
    .task_state = gw_task_state, .ack_checkpoint = gw_ack_checkpoint, .free = gw_free};

rpc_jm_gateway *ds_gateway(ds_dispatcher *d)
{
	return &d->gw;
}

/* --------------------------------------------------------- submission */

/* What fl_execute's submit callback needs: where TaskManagers find the
 * library, and who waits for the first job id. */
struct submitter {
	ds_dispatcher *d;
	char locator[80]; /* "blob:<hash>", or "" for the graph's own path */
	char job_id[33];  /* the id the next job asked for ("jobId"), or "" */
	/* An uploaded jar's run (NULL: the application's): what a JobManager
	 * taking over needs to run it again (high availability). */
	const char *jar_path, *jar_name, *jar_hash;
	int argc;
	char *const *argv;
};

struct archive_arg {
	struct ds_job *j;
	char *details, *exceptions;
	int counts[TM_TASK_NSTATES];
	bool counted;
};

static void archive_view(void *arg, const jm_view *v)
{
	struct archive_arg *a = arg;
	a->details = ds_print_free(ds_details_tree(a->j, v));
	a->exceptions = ds_print_free(ds_exceptions_tree(a->j, v));
	ds_task_counts(v, a->counts);
	a->counted = true;
}

/* The JobMaster's status changes, on its loop. */
/* A TaskManager that cancelled its tasks itself is stopping: no slot of
 * the job's restart (nor any other) may land on it. */
static void on_tm_stopping(void *arg, const char *resource_id)
{
	struct ds_job *j = arg;
	rm_drain(j->d->rm, resource_id);
}

static void on_jm_status(void *arg, enum eg_status st)
{
	struct ds_job *j = arg;
	ds_dispatcher *d = j->d;
	pthread_mutex_lock(&d->mu);
	/* A JobMaster's FAILED is its attempt's end: the Dispatcher decides
	 * next whether the job restarts (RESTARTING) or has FAILED. Its other
	 * final states wait for the Dispatcher too, which first settles what
	 * the job's end leaves of its checkpoints: nobody sees FINISHED or
	 * CANCELED with checkpoints still to be removed. */
	if (j->rescaling && (st == EG_CANCELLING || st == EG_CANCELED))
		j->status = EG_RESTARTING; /* stopped to restart at another parallelism */
	else if (st == EG_FAILED)
		j->status = EG_FAILING;
	else if (!eg_status_is_terminal(st))
		j->status = st;
	pthread_mutex_unlock(&d->mu);
}

static enum eg_status status_of(int rc)
{
	return rc == 0 ? EG_FINISHED : rc == FL_ECANCELED ? EG_CANCELED : EG_FAILED;
}

/* Ends a job that never got a JobMaster. */
static void end_without_jobmaster(ds_dispatcher *d, struct ds_job *j, int rc, const char *why)
{
	pthread_mutex_lock(&d->mu);
	j->status = status_of(rc);
	j->end_ms = cm_wall_ms();
	snprintf(j->error, sizeof(j->error), "%s", why);
	/* Never deployed: as Flink cancels the executions of a job that
	 * fails before they run. */
	memset(j->task_counts, 0, sizeof(j->task_counts));
	j->task_counts[TM_TASK_CANCELED] = j->ntasks;
	/* Under mu, as the REST handlers build an entry's JSON (mu, then
	 * the history's hmu). */
	j->details = ds_print_free(ds_details_tree(j, NULL));
	j->exceptions = ds_print_free(ds_exceptions_tree(j, NULL));
	j->ended = true;
	trim_locked(d);
	pthread_mutex_unlock(&d->mu);
}

/* ------------------------------------------------- adaptive scheduler */

/* What the REST API shows of j before its JobMaster starts: jg's subtasks,
 * all CREATED, and its plan. */
static void ds_job_adopt_graph(ds_dispatcher *d, struct ds_job *j, const jg_graph *jg)
{
	int ntasks = 0;
	for (size_t v = 0; v < jg->nvertices; v++)
		ntasks += jg->vertices[v].parallelism;
	cJSON *o = jg_plan_json(jg, j->id);
	char *plan = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	pthread_mutex_lock(&d->mu);
	j->ntasks = ntasks;
	memset(j->task_counts, 0, sizeof(j->task_counts));
	j->task_counts[TM_TASK_CREATED] = ntasks;
	if (plan) { /* else the old plan stays: better than none */
		free(j->plan);
		j->plan = plan;
	}
	pthread_mutex_unlock(&d->mu);
}

struct ad_conf {
	int64_t wait_timeout, submit_stable, cooldown, exec_stable;
	bool active_checkpoint;
};

static void ad_conf_read(const cfg *c, struct ad_conf *ac)
{
	*ac = (struct ad_conf){300000, 10000, 30000, 60000, true};
	cfg_get_bool(c, CFG_ADAPTIVE_ACTIVE_CHECKPOINT, &ac->active_checkpoint);
	cfg_get_duration_ms(c, CFG_ADAPTIVE_WAIT_TIMEOUT, &ac->wait_timeout);
	cfg_get_duration_ms(c, CFG_ADAPTIVE_SUBMIT_STABILIZATION, &ac->submit_stable);
	cfg_get_duration_ms(c, CFG_ADAPTIVE_COOLDOWN, &ac->cooldown);
	cfg_get_duration_ms(c, CFG_ADAPTIVE_EXEC_STABILIZATION, &ac->exec_stable);
}

/* Slots job j could run on now: the free ones and those a holds. */
static int ad_slots(ds_dispatcher *d, const rm_allocation *a)
{
	size_t ntms = 0;
	int slots = 0, free_slots = 0;
	rm_totals(d->rm, &ntms, &slots, &free_slots);
	return free_slots + (a ? (int)a->nslots : 0);
}

/* The bounds as they are now (mu not held); b has base->nvertices. */
static void ad_bounds_now(ds_dispatcher *d, struct ds_job *j, ad_bounds *b, size_t n)
{
	pthread_mutex_lock(&d->mu);
	memcpy(b, j->bounds, n * sizeof(*b));
	pthread_mutex_unlock(&d->mu);
}

/*
 * Declares the slots j's upper bounds want in all (rm_declare). Refused
 * when RM_MAX_DECLARED jobs declared: said once while it lasts (*warned);
 * the job then only gets TaskManagers started for what it asks rm_allocate
 * for.
 */
static void ad_declare(ds_dispatcher *d, struct ds_job *j, const jg_graph *base,
		       const ad_bounds *b, bool *warned)
{
	int slots = ad_slots_for_bounds(base, b, false);
	if (rm_declare(d->rm, j->id, slots) == 0) {
		*warned = false;
		return;
	}
	if (!*warned)
		CM_WARN("dispatcher",
			"Job '%s' (%s): its upper bounds' %d slots cannot be declared to the "
			"ResourceManager (%d jobs declared already): no TaskManagers are "
			"started for slots it does not ask for",
			j->name, j->id, slots, RM_MAX_DECLARED);
	*warned = true;
}

static void ad_format(const int *par, size_t n, char *out, size_t cap)
{
	size_t at = 0;
	out[0] = '\0';
	for (size_t v = 0; v < n && at + 16 < cap; v++)
		at += (size_t)snprintf(out + at, cap - at, "%s%d", v ? "," : "", par[v]);
}

/*
 * Flink's WaitingForResources: until the slots give every vertex its upper
 * bound, or its lower bound with the number of slots unchanged for
 * submission.resource-stabilization-timeout. par gets the parallelisms.
 * Returns 0, FL_ECANCELED or FL_ETIMEDOUT with err.
 */
static int ad_wait_for_slots(ds_dispatcher *d, struct ds_job *j, const jg_graph *base,
			     const struct ad_conf *ac, ad_bounds *b, int *par, cm_err *err)
{
	int64_t start = cm_now_ms(), stable_since = -1;
	int last = -1;
	bool said = false, warned = false;
	for (;;) {
		ad_bounds_now(d, j, b, base->nvertices);
		/* What it wants at most, for a driver that starts TaskManagers;
		 * it stands through the rm_allocate that follows, which takes
		 * part of it (not more). */
		ad_declare(d, j, base, b, &warned);
		int slots = ad_slots(d, NULL);
		enum ad_fit fit = ad_plan(base, b, slots, par);
		if (fit == AD_DESIRED)
			return 0;
		int64_t now = cm_now_ms();
		if (fit == AD_INSUFFICIENT || slots != last)
			stable_since = fit == AD_SUFFICIENT ? now : -1;
		last = slots;
		if (stable_since >= 0 && now - stable_since >= ac->submit_stable)
			return 0;
		if (!said) {
			CM_INFO("dispatcher",
				"Job '%s' (%s) waits for slots: %d free, its upper bounds want %d, its "
				"lower bounds %d (adaptive scheduler)",
				j->name, j->id, slots, ad_slots_for_bounds(base, b, false),
				ad_slots_for_bounds(base, b, true));
			said = true;
		}
		char never[400];
		if (fit == AD_INSUFFICIENT && rm_provider_failure(d->rm, never, sizeof(never)))
			return cm_err_set(err, FL_ETIMEDOUT,
					  "Could not acquire the minimum required resources: the "
					  "lower bounds need %d slots, %d are free: %s",
					  ad_slots_for_bounds(base, b, true), slots, never);
		if (now - start >= ac->wait_timeout)
			return cm_err_set(
			    err, FL_ETIMEDOUT,
			    "Could not acquire the minimum required resources within %lld ms "
			    "(jobmanager.adaptive-scheduler.submission.resource-wait-timeout): the "
			    "lower bounds need %d slots, %d are free",
			    (long long)ac->wait_timeout, ad_slots_for_bounds(base, b, true), slots);
		pthread_mutex_lock(&d->mu);
		bool stop = d->stopping || cm_cancel_requested(&j->cancel);
		if (!stop) {
			struct timespec ts = cm_deadline_ts(cm_now_ms() + 50);
			pthread_cond_timedwait(&d->cv, &d->mu, &ts);
		}
		pthread_mutex_unlock(&d->mu);
		if (stop)
			return cm_err_set(err, FL_ECANCELED,
					  "the job was cancelled while it waited for slots");
	}
}

/* The checkpoint taken before a rescale: its end, from the JobMaster's
 * loop. Two references (the loop's call and the waiter's): the last one
 * frees it, so neither outlives the other's use. */
struct ad_ckpt {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;
	bool done;
	int rc;
	char text[600];
};

static void ad_ckpt_put(struct ad_ckpt *w)
{
	pthread_mutex_lock(&w->mu);
	bool last = --w->refs == 0;
	pthread_mutex_unlock(&w->mu);
	if (last) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
	}
}

static void ad_ckpt_done(void *arg, int rc, const char *text)
{
	struct ad_ckpt *w = arg;
	pthread_mutex_lock(&w->mu);
	w->done = true;
	w->rc = rc;
	snprintf(w->text, sizeof(w->text), "%s", text ? text : "");
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	ad_ckpt_put(w);
}

/* Flink's rescale-trigger.active-checkpoint: a checkpoint now, so that the
 * rescaled job restarts from it and replays nothing; waits for its end
 * (bounded by execution.checkpointing.timeout) or the job's. */
static void ad_checkpoint_first(struct ds_job *j, jm_jobmaster *jm)
{
	struct ad_ckpt *w = calloc(1, sizeof(*w));
	if (!w)
		return; /* then from the latest completed one */
	if (cm_cond_init(&w->cv) != 0) {
		free(w);
		return;
	}
	pthread_mutex_init(&w->mu, NULL);
	w->refs = 2;
	if (jm_trigger_checkpoint(jm, ad_ckpt_done, w) != 0) {
		w->refs = 1;
		ad_ckpt_put(w);
		return;
	}
	pthread_mutex_lock(&w->mu);
	while (!w->done) {
		struct timespec ts = cm_deadline_ts(cm_now_ms() + 100);
		pthread_cond_timedwait(&w->cv, &w->mu, &ts);
		if (w->done)
			break;
		pthread_mutex_unlock(&w->mu);
		bool ended = jm_wait_for(jm, 0);
		pthread_mutex_lock(&w->mu);
		if (ended)
			break;
	}
	if (w->done && w->rc == 0)
		CM_INFO("dispatcher", "Job '%s' (%s) took a checkpoint for the rescale: %s", j->name,
			j->id, w->text);
	else if (w->done)
		CM_WARN("dispatcher",
			"Job '%s' (%s): the checkpoint for the rescale failed (%s); it restarts from "
			"its latest completed one",
			j->name, j->id, w->text);
	pthread_mutex_unlock(&w->mu);
	ad_ckpt_put(w);
}

/* The rescale in progress of j, if any, enters scheduler state `state`
 * (mu held). */
static void rh_state_of(struct ds_job *j, const char *state)
{
	if (j->rescales)
		rh_state(j->rescales, cm_wall_ms(), state);
}

/* A rescale of j begins (mu not held; see rh_begin); bounds are read under
 * mu. Out of memory it is not recorded, and said so. */
static void rh_begin_of(ds_dispatcher *d, struct ds_job *j, enum rh_cause cause,
			const jg_graph *base, const ad_bounds *b, const int *pre,
			const char *state, enum rh_reason superseded)
{
	pthread_mutex_lock(&d->mu);
	int rc = j->rescales
		     ? rh_begin(j->rescales, cm_wall_ms(), cause, base, b, pre, state, superseded)
		     : 0;
	pthread_mutex_unlock(&d->mu);
	if (rc)
		CM_WARN("dispatcher", "Job '%s' (%s): out of memory, a rescale goes unrecorded",
			j->name, j->id);
}

/* How many times j's resource requirements were set (mu not held). */
static unsigned gen_now(ds_dispatcher *d, struct ds_job *j)
{
	pthread_mutex_lock(&d->mu);
	unsigned gen = j->rescales ? rh_requirements_gen(j->rescales) : 0;
	pthread_mutex_unlock(&d->mu);
	return gen;
}

/* The rescale in progress of j, if any, ends (mu not held). */
static void rh_end_of(ds_dispatcher *d, struct ds_job *j, enum rh_terminal t, enum rh_reason r,
		      const int *post, const char *exception)
{
	pthread_mutex_lock(&d->mu);
	if (j->rescales)
		rh_end(j->rescales, cm_wall_ms(), t, r, post, exception);
	pthread_mutex_unlock(&d->mu);
}

/*
 * Flink's Executing: waits for jm's end, but when the slots (free, and those
 * of a) or the bounds allow other parallelisms than cur — at the upper
 * bounds, or better for executing.resource-stabilization-timeout — and the
 * cooldown since the start passed, stops jm to restart at them: *rescale
 * true, next filled. Returns once jm is done (jm_wait's part is left).
 */
static void ad_execute(ds_dispatcher *d, struct ds_job *j, jm_jobmaster *jm, const jg_graph *base,
		       const int *cur, const rm_allocation *a, const struct ad_conf *ac,
		       ad_bounds *b, int *next, bool *rescale)
{
	size_t n = base->nvertices;
	int64_t started = cm_now_ms(), better_since = -1;
	bool warned = false;
	*rescale = false;
	/* New requirements since this start make a rescale's cause. */
	unsigned gen = gen_now(d, j);
	while (!jm_wait_for(jm, 100)) {
		if (cm_cancel_requested(&j->cancel))
			continue;
		ad_bounds_now(d, j, b, n);
		/* In all: the ResourceManager counts the slots a holds. */
		ad_declare(d, j, base, b, &warned);
		enum ad_fit fit = ad_plan(base, b, ad_slots(d, a), next);
		if (fit == AD_INSUFFICIENT || memcmp(next, cur, n * sizeof(int)) == 0) {
			better_since = -1;
			continue;
		}
		int64_t now = cm_now_ms();
		if (better_since < 0)
			better_since = now;
		if (now - started < ac->cooldown ||
		    (fit != AD_DESIRED && now - better_since < ac->exec_stable))
			continue;
		char from[200], to[200];
		ad_format(cur, n, from, sizeof(from));
		ad_format(next, n, to, sizeof(to));
		CM_INFO("dispatcher",
			"Job '%s' (%s) rescales from parallelism [%s] to [%s] (vertex order)%s",
			j->name, j->id, from, to,
			ac->active_checkpoint && j->cp ? ": a checkpoint first, then a restart from it"
						       : ": restarting from its latest checkpoint");
		rh_begin_of(d, j, gen_now(d, j) != gen ? RH_UPDATE_REQUIREMENT : RH_NEW_RESOURCE_AVAILABLE,
			    base, b, cur, "Executing", RH_RESOURCE_REQUIREMENTS_UPDATED);
		if (ac->active_checkpoint && j->cp)
			ad_checkpoint_first(j, jm);
		pthread_mutex_lock(&d->mu);
		rh_state_of(j, "Restarting");
		j->rescaling = true;
		j->status = EG_RESTARTING;
		pthread_mutex_unlock(&d->mu);
		*rescale = true;
		jm_cancel(jm);
		return;
	}
}

/* cp_publish_fn: a completed checkpoint recorded in the HA store. */
static int ha_publish(void *arg, uint64_t id, enum cp_kind kind, const char *dir, cm_err *err)
{
	(void)kind;
	struct ds_job *j = arg;
	return jm_ha_put_checkpoint(j->d->ha, j->id, id, dir, err);
}

/* Whether a job that ends now ends only here (the JobManager stops, or no
 * longer leads): then nothing of it that another leader needs goes. */
static bool ds_suspended(ds_dispatcher *d)
{
	pthread_mutex_lock(&d->mu);
	bool s = d->suspending;
	pthread_mutex_unlock(&d->mu);
	return s || (d->ha && !jm_ha_is_leader(d->ha));
}

static void record_key(void *arg, const char *key, const char *value)
{
	if (strcmp(value, CFG_HIDDEN) != 0)
		cJSON_AddStringToObject(arg, key, value);
}

/* Records j in the HA store (its name and plan, the library and where it
 * came from). */
static int ha_record(ds_dispatcher *d, struct ds_job *j, const struct submitter *s, const cfg *c,
		     cm_err *err)
{
	cJSON *rec = cJSON_CreateObject();
	cJSON *plan = j->plan ? cJSON_Parse(j->plan) : NULL;
	bool ok = rec && cJSON_AddStringToObject(rec, "jobId", j->id) &&
		  cJSON_AddStringToObject(rec, "name", j->name) &&
		  cJSON_AddStringToObject(rec, "library", s->locator) &&
		  cJSON_AddStringToObject(rec, "jobManager", d->jm_address);
	if (ok && plan) {
		ok = cJSON_AddItemToObject(rec, "plan", plan);
		plan = ok ? NULL : plan;
	}
	cJSON_Delete(plan);
	/* A session's job: its library kept where a successor finds it, its
	 * arguments and configuration (secrets left out: cfg_each hides them). */
	int rc = 0;
	if (ok && s->jar_path) {
		char lib[PATH_MAX];
		cJSON *args, *conf;
		rc = jm_ha_put_library(d->ha, s->jar_hash, s->jar_path, lib, sizeof(lib), err);
		ok = rc == 0 && cJSON_AddStringToObject(rec, "libraryFile", lib) &&
		     cJSON_AddStringToObject(rec, "jarName", s->jar_name) &&
		     (args = cJSON_AddArrayToObject(rec, "args")) &&
		     (conf = cJSON_AddObjectToObject(rec, "config"));
		for (int i = 0; ok && i < s->argc; i++)
			ok = cJSON_AddItemToArray(args, cJSON_CreateString(s->argv[i]));
		if (ok)
			cfg_each(c, record_key, conf);
	}
	if (rc == 0)
		rc = ok ? jm_ha_put_job(d->ha, j->id, rec, err)
			: cm_err_set(err, FL_ENOMEM, "out of memory");
	cJSON_Delete(rec);
	return rc;
}

static int submit(void *arg, const sg_graph *sg, const char *job_name, const cfg *c,
		  const jm_listener *L, jm_result *res)
{
	struct submitter *s = arg;
	ds_dispatcher *d = s->d;
	memset(res, 0, sizeof(*res));
	cm_err err = {0};
	jg_graph *jg = NULL;
	int rc = jg_build(sg, job_name, &jg, &err);
	if (rc) {
		res->status = rc;
		snprintf(res->error, sizeof(res->error), "%s", err.msg);
		return rc;
	}
	cp_config cc;
	if ((rc = cp_config_read(c, &cc, &err)) != 0) {
		jg_free(jg);
		res->status = rc;
		snprintf(res->error, sizeof(res->error), "%s", err.msg);
		return rc;
	}
	struct ds_job *j = calloc(1, sizeof(*j));
	if (!j || cm_cancel_init(&j->cancel) != 0) {
		free(j);
		jg_free(jg);
		res->status = FL_ENOMEM;
		snprintf(res->error, sizeof(res->error), "out of memory");
		return FL_ENOMEM;
	}
	j->d = d;
	j->cancel_ready = true;
	pthread_mutex_init(&j->hmu, NULL);
	if (s->job_id[0]) {
		memcpy(j->id, s->job_id, sizeof(j->id));
		s->job_id[0] = '\0'; /* for the first job of main() only */
	} else {
		jm_new_job_id(j->id);
	}
	snprintf(j->name, sizeof(j->name), "%s", job_name ? job_name : "flinc job");
	j->batch = sg->mode == FL_MODE_BATCH;
	j->start_ms = cm_wall_ms();
	j->end_ms = -1;
	j->status = EG_CREATED;
	j->refs = 1; /* this thread's */
	for (size_t v = 0; v < jg->nvertices; v++)
		j->ntasks += jg->vertices[v].parallelism;
	j->task_counts[TM_TASK_CREATED] = j->ntasks;
	/* Streaming jobs have a checkpoint coordinator (savepoints need one
	 * even without periodic checkpoints); batch jobs none, as in Flink. */
	if (!j->batch && cp_new(&cc, j->id, (size_t)j->ntasks, &j->cp) != 0) {
		job_free(j);
		jg_free(jg);
		res->status = FL_ENOMEM;
		snprintf(res->error, sizeof(res->error), "out of memory");
		return FL_ENOMEM;
	}
	/* High availability: a job that a JobManager before this one ran
	 * resumes from the latest checkpoint recorded for it (in place of
	 * execution.savepoint.path, as in Flink). */
	bool recovered = false;
	if (d->ha && j->cp) {
		char hdir[PATH_MAX];
		uint64_t hid = 0;
		rc = jm_ha_latest_checkpoint(d->ha, j->id, hdir, sizeof(hdir), &hid, &err);
		if (rc == 0) {
			bool allow = false;
			cfg_get_bool(c, CFG_SAVEPOINT_IGNORE_UNCLAIMED, &allow);
			CM_INFO("dispatcher",
				"Job %s was run by an earlier JobManager: recovering it from its "
				"checkpoint %llu in %s",
				j->id, (unsigned long long)hid, hdir);
			rc = cp_restore_path(j->cp, hdir, allow, jg, &err);
			recovered = rc == 0;
		} else if (rc == FL_ENOENT) {
			rc = 0;
		}
		if (rc == 0)
			cp_set_publish(j->cp, ha_publish, j);
		if (rc) {
			job_free(j);
			jg_free(jg);
			res->status = rc;
			snprintf(res->error, sizeof(res->error), "%s", err.msg);
			return rc;
		}
	}
	/* A job started from a savepoint or checkpoint: refused here, before
	 * it exists, when the state does not fit its graph. */
	if (!recovered && (rc = cp_restore_start(j->cp, c, jg, &err)) != 0) {
		job_free(j);
		jg_free(jg);
		res->status = rc;
		snprintf(res->error, sizeof(res->error), "%s", err.msg);
		return rc;
	}
	/* The adaptive scheduler: streaming jobs only, as in Flink. */
	const char *sched = "default";
	cfg_get_string(c, CFG_SCHEDULER, &sched);
	j->adaptive = !j->batch && strcmp(sched, "adaptive") == 0;
	cJSON *plan = jg_plan_json(jg, j->id);
	j->plan = plan ? cJSON_PrintUnformatted(plan) : NULL;
	cJSON_Delete(plan);
	memcpy(res->job_id, j->id, sizeof(res->job_id));
	pthread_mutex_lock(&d->mu);
	if (d->stopping) {
		pthread_mutex_unlock(&d->mu);
		job_free(j);
		jg_free(jg);
		res->status = FL_ECANCELED;
		snprintf(res->error, sizeof(res->error), "the JobManager is shutting down");
		return FL_ECANCELED;
	}
	for (struct ds_job *o = d->jobs; o; o = o->next)
		if (strcmp(o->id, j->id) == 0) {
			pthread_mutex_unlock(&d->mu);
			res->status = FL_EINVAL;
			snprintf(res->error, sizeof(res->error),
				 "Job has already been submitted: the job id %s is taken", j->id);
			job_free(j);
			jg_free(jg);
			return FL_EINVAL;
		}
	j->next = d->jobs;
	d->jobs = j;
	d->njobs++;
	trim_locked(d);
	pthread_mutex_unlock(&d->mu);
	CM_INFO("dispatcher", "Received job '%s' (%s): %zu vertices, %d slots needed", j->name,
		j->id, jg->nvertices, jg->slots_needed);
	if (L && L->submitted)
		L->submitted(L->arg, j->id, j->name);
	/* High availability: recorded before it runs; a JobManager that is not
	 * the leader runs nothing. */
	int ha_rc = 0;
	cm_err ha_err = {0};
	if (d->ha && (ha_rc = ha_record(d, j, s, c, &ha_err)) != 0)
		CM_ERROR("dispatcher", "Job '%s' (%s) cannot be recorded for high availability: %s",
			 j->name, j->id, ha_err.msg);
	int64_t slot_timeout = 300000;
	cfg_get_duration_ms(c, CFG_SLOT_REQUEST_TIMEOUT, &slot_timeout);
	rs_policy pol;
	rs_init(&pol, c);
	pthread_mutex_lock(&d->mu);
	rs_describe(&pol, j->restart_strategy, sizeof(j->restart_strategy));
	pthread_mutex_unlock(&d->mu);
	bool adaptive = j->adaptive;
	struct ad_conf ac;
	ad_conf_read(c, &ac);
	size_t nv = jg->nvertices ? jg->nvertices : 1;
	int *cur = calloc(nv, sizeof(int)), *next = calloc(nv, sizeof(int));
	ad_bounds *scratch = calloc(nv, sizeof(*scratch));
	ad_bounds *bounds = adaptive ? calloc(nv, sizeof(*bounds)) : NULL;
	rh_history *rescales = NULL;
	if (adaptive) {
		rh_config rc_conf = {.history_max = 0,
				     .wait_timeout = ac.wait_timeout,
				     .submit_stable = ac.submit_stable,
				     .slot_idle = -1, /* flinc's slots are never idle-freed */
				     .cooldown = ac.cooldown,
				     .exec_stable = ac.exec_stable,
				     .max_trigger_delay = -1,
				     .rescale_on_failed_checkpoints = -1};
		int64_t max = 0;
		cfg_get_int(c, CFG_WEB_RESCALE_HISTORY, &max);
		rc_conf.history_max = (int)max;
		if (rh_new(&rc_conf, j->id, &rescales) != 0)
			rescales = NULL;
	}
	bool nomem = !cur || !next || !scratch || (adaptive && (!bounds || !rescales));
	if (adaptive && !nomem) {
		ad_default_bounds(jg, bounds);
		pthread_mutex_lock(&d->mu);
		j->adaptive_jg = jg;
		j->bounds = bounds;
		j->rescales = rescales;
		pthread_mutex_unlock(&d->mu);
	} else {
		rh_free(rescales);
	}
	/* The graph each attempt runs: jg, or jg rescaled (then owned here). */
	jg_graph *run = jg;
	bool planned = false; /* next holds a rescale's parallelisms */
	rm_request *req = NULL;
	for (int attempt = 1;; attempt++) {
		int64_t t0 = cm_now_ms();
		rm_allocation *a = NULL;
		jm_jobmaster *jm = NULL;
		bool rescaled = false;
		cm_err_clear(&err);
		rc = nomem   ? cm_err_set(&err, FL_ENOMEM, "out of memory")
		     : ha_rc ? cm_err_set(&err, ha_rc, "%s", ha_err.msg)
			     : 0;
		/* Adaptive: the parallelisms the slots allow, or a rescale's. */
		if (rc == 0 && adaptive) {
			if (planned) {
				memcpy(cur, next, jg->nvertices * sizeof(int));
			} else {
				/* The first schedule, or a restart after a failure
				 * (a rescale cut short by it is ignored). */
				for (size_t v = 0; v < jg->nvertices; v++)
					cur[v] = run->vertices[v].parallelism;
				rh_begin_of(d, j, attempt == 1 ? RH_INITIAL_SCHEDULE
								: RH_RECOVERABLE_FAILOVER,
					    jg, j->bounds, attempt == 1 ? NULL : cur,
					    "WaitingForResources", RH_JOB_FAILOVER_RESTARTING);
				rc = ad_wait_for_slots(d, j, jg, &ac, scratch, cur, &err);
			}
			planned = false;
			bool same = true;
			for (size_t v = 0; rc == 0 && v < jg->nvertices; v++)
				same = same && run->vertices[v].parallelism == cur[v];
			if (rc == 0) {
				pthread_mutex_lock(&d->mu);
				rh_state_of(j, "CreatingExecutionGraph");
				pthread_mutex_unlock(&d->mu);
			}
			jg_graph *nj = NULL;
			if (rc == 0 && !same && (rc = jg_rescale(jg, cur, &nj, &err)) == 0) {
				if (run != jg)
					jg_free(run);
				run = nj;
				ds_job_adopt_graph(d, j, run);
			}
		}
		/* One request per slot sharing group, with its declared profile. */
		if (rc == 0) {
			free(req);
			req = calloc(run->ngroups ? run->ngroups : 1, sizeof(*req));
			for (size_t g = 0; req && g < run->ngroups; g++)
				req[g] = (rm_request){.group = run->groups[g].name,
						      .profile = run->groups[g].res,
						      .slots = run->groups[g].width};
			rc = req ? rm_allocate(d->rm, j->id, req, run->ngroups, slot_timeout,
					       &j->cancel, &a, &err)
				 : cm_err_set(&err, FL_ENOMEM, "out of memory");
		}
		if (rc == 0) {
			jm_params p = {.jg = run,
				       .tms = a->tms,
				       .ntms = a->n,
				       .config = c,
				       .listener = &(jm_listener){.arg = j,
								   .status = on_jm_status,
								   .taskmanager_stopping =
								       on_tm_stopping,
								   .cancel = &j->cancel},
				       .address = d->jm_address,
				       .slot_limit = a->slots,
				       .placement = a->placement,
				       .library = s->locator[0] ? s->locator : NULL,
				       .job_id = j->id,
				       .cp = j->cp};
			rc = jm_new(&jm, &p, &err);
		}
		if (rc == 0) {
			pthread_mutex_lock(&d->mu);
			j->jm = jm; /* its status comes through on_jm_status */
			pthread_mutex_unlock(&d->mu);
			CM_INFO("dispatcher",
				"Job '%s' (%s) got its slots in %lld ms; JobMaster started "
				"(attempt %d)",
				j->name, j->id, (long long)(cm_now_ms() - t0), attempt);
			if (adaptive) {
				for (size_t v = 0; v < jg->nvertices; v++)
					cur[v] = run->vertices[v].parallelism;
				rh_end_of(d, j, RH_COMPLETED, RH_SUCCEEDED, cur, NULL);
				ad_execute(d, j, jm, jg, cur, a, &ac, scratch, next, &rescaled);
			}
			jm_wait(jm, res);
			rc = res->status;
			if (rc)
				snprintf(err.msg, sizeof(err.msg), "%s", res->error);
		} else {
			res->status = rc == FL_ETIMEDOUT ? FL_EJOBFAILED : rc;
			snprintf(res->error, sizeof(res->error), "%s", err.msg);
			if (adaptive && rc == FL_ECANCELED)
				rh_end_of(d, j, RH_IGNORED, RH_JOB_CANCELED, NULL, NULL);
			else if (adaptive)
				rh_end_of(d, j, RH_FAILED, RH_EXCEPTION_OCCURRED, NULL, err.msg);
		}
		/* A JobMaster stopped for a rescale (and not finished or failed
		 * first) restarts at once, outside the restart strategy, with
		 * its checkpoints kept. */
		bool rescale = rescaled && rc == FL_ECANCELED && !cm_cancel_requested(&j->cancel);
		if (rescaled) {
			pthread_mutex_lock(&d->mu);
			rescale = rescale && !d->stopping;
			j->rescaling = false;
			pthread_mutex_unlock(&d->mu);
		}
		if (rescale) {
			if (jm) {
				pthread_mutex_lock(&d->mu);
				while (j->refs > 1)
					pthread_cond_wait(&d->cv, &d->mu);
				j->jm = NULL;
				j->status = EG_RESTARTING;
				pthread_mutex_unlock(&d->mu);
				jm_free(jm);
			}
			rm_release(d->rm, a);
			planned = true;
			continue;
		}
		/* Restart or not, decided before anyone is shown FAILED. */
		bool cancelled = rc == FL_ECANCELED || cm_cancel_requested(&j->cancel);
		int64_t delay = 0;
		char why[400] = "";
		unsigned char r = 0;
		cm_random(&r, 1);
		bool restart = rc != 0 && !cancelled &&
			       rs_next(&pol, cm_now_ms(), r / 256.0, &delay, why, sizeof(why));
		/* A final end: what externalized-checkpoint-retention keeps is
		 * settled before anyone is shown the final state. */
		if (!restart && j->cp && !ds_suspended(d))
			cp_job_ended(j->cp, cancelled, rc == 0);
		/* Shown from now on, and in the archive built next: a JobMaster's
		 * FAILED (shown as FAILING) becomes FAILED or RESTARTING. */
		pthread_mutex_lock(&d->mu);
		j->status = restart			      ? EG_RESTARTING
			    : eg_status_is_terminal(j->status) ? j->status
							       : status_of(rc);
		pthread_mutex_unlock(&d->mu);
		if (jm) {
			struct archive_arg aa = {.j = j};
			jm_query(jm, archive_view, &aa);
			pthread_mutex_lock(&d->mu);
			free(j->details);
			free(j->exceptions);
			j->details = restart ? NULL : aa.details;
			j->exceptions = restart ? NULL : aa.exceptions;
			if (aa.counted && !restart)
				memcpy(j->task_counts, aa.counts, sizeof(j->task_counts));
			if (restart) {
				free(aa.details);
				free(aa.exceptions);
			}
			/* Queries that use the JobMaster end before it goes. */
			while (j->refs > 1)
				pthread_cond_wait(&d->cv, &d->mu);
			j->jm = NULL;
			pthread_mutex_unlock(&d->mu);
			jm_free(jm);
		}
		rm_release(d->rm, a);
		if (rc == 0)
			break;
		if (restart) {
			ds_job_note_failure(j, cm_wall_ms(), err.msg);
			pthread_mutex_lock(&d->mu);
			j->status = EG_RESTARTING;
			pthread_mutex_unlock(&d->mu);
			CM_WARN("dispatcher",
				"Job '%s' (%s) switched from state FAILING to RESTARTING: restart "
				"%lld in "
				"%lld ms after: %s",
				j->name, j->id, (long long)pol.restarts, (long long)delay, err.msg);
			/* The delay, cut short by a cancellation. */
			int64_t until = cm_now_ms() + delay;
			pthread_mutex_lock(&d->mu);
			while (cm_now_ms() < until && !cm_cancel_requested(&j->cancel) &&
			       !d->stopping) {
				int64_t w = cm_now_ms() + 50 < until ? cm_now_ms() + 50 : until;
				struct timespec ts = cm_deadline_ts(w);
				pthread_cond_timedwait(&d->cv, &d->mu, &ts);
			}
			bool stop = d->stopping;
			pthread_mutex_unlock(&d->mu);
			if (!cm_cancel_requested(&j->cancel) && !stop)
				continue;
			rc = FL_ECANCELED;
			snprintf(err.msg, sizeof(err.msg),
				 "the job was cancelled while restarting");
			res->status = FL_ECANCELED;
			snprintf(res->error, sizeof(res->error), "%s", err.msg);
		} else if (!cancelled && pol.type != RS_NONE) {
			CM_ERROR("dispatcher", "Job '%s' (%s) is not restarted: %s", j->name, j->id,
				 why);
		}
		break;
	}
	rs_fini(&pol);
	free(req);
	if (adaptive) {
		(void)rm_declare(d->rm, j->id, 0); /* a drop never fails */
		/* A rescale the job's end cut short. */
		rh_end_of(d, j, RH_IGNORED,
			  rc == 0 ? RH_JOB_FINISHED
			  : rc == FL_ECANCELED || cm_cancel_requested(&j->cancel) ? RH_JOB_CANCELED
										  : RH_JOB_FAILED,
			  NULL, NULL);
	}
	pthread_mutex_lock(&d->mu);
	j->adaptive_jg = NULL;
	j->bounds = NULL;
	pthread_mutex_unlock(&d->mu);
	free(bounds);
	free(scratch);
	free(cur);
	free(next);
	if (run != jg)
		jg_free(run);
	jg_free(jg);
	if (rc) {
		CM_ERROR("dispatcher", "Job '%s' (%s) %s: %s", j->name, j->id,
			 rc == FL_ECANCELED ? "was cancelled" : "failed", err.msg);
	}
	pthread_mutex_lock(&d->mu);
	bool archived = j->details != NULL;
	if (archived) {
		j->end_ms = cm_wall_ms();
		if (rc && err.msg[0])
			snprintf(j->error, sizeof(j->error), "%s", err.msg);
	}
	pthread_mutex_unlock(&d->mu);
	if (!archived)
		end_without_jobmaster(d, j, rc,
				      err.msg); /* never ran, or cancelled while restarting */
	bool suspended = ds_suspended(d);
	if (j->cp && !suspended) /* the ends above that had no JobMaster (idempotent) */
		cp_job_ended(j->cp, rc == FL_ECANCELED, rc == 0);
	if (suspended && d->ha) {
		CM_INFO("dispatcher",
			"Job '%s' (%s) is suspended here (%s): its checkpoints and "
			"high-availability records stay for the next leader",
			j->name, j->id,
			jm_ha_is_leader(d->ha) ? "the JobManager stops" : "leadership lost");
	} else {
		if (d->ha) {
			cm_err herr = {0};
			if (jm_ha_job_done(d->ha, j->id, &herr) != 0)
				CM_WARN("dispatcher",
					"Job '%s' (%s): its high-availability records stay: %s",
					j->name, j->id, herr.msg);
		}
		CM_INFO("dispatcher", "Job '%s' (%s) reached its final state %s", j->name, j->id,
			eg_status_name(j->status));
	}
	pthread_mutex_lock(&d->mu);
	j->ended = true;
	j->refs--;
	pthread_cond_broadcast(&d->cv);
	trim_locked(d);
	pthread_mutex_unlock(&d->mu);
	return rc;
}

/* ---------------------------------------------------------- libraries */

/* The ELF machine this process runs as: an uploaded library must match. */
static int own_machine(void)
{
	static int machine = -1;
	if (machine >= 0)
		return machine;
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	Elf64_Ehdr h;
	if (fd >= 0 && read(fd, &h, sizeof(h)) == (ssize_t)sizeof(h))
		machine = h.e_machine;
	if (fd >= 0)
		close(fd);
	return machine;
}

static int check_elf(const uint8_t *data, size_t len, cm_err *err)
{
	if (len < sizeof(Elf64_Ehdr) || memcmp(data, ELFMAG, SELFMAG) != 0)
		return cm_err_set(err, FL_EINVAL,
				  "the upload is not a shared object: it does not start with "
				  "the ELF magic");
	Elf64_Ehdr h;
	memcpy(&h, data, sizeof(h));
	if (h.e_ident[EI_CLASS] != ELFCLASS64 || h.e_ident[EI_DATA] != ELFDATA2LSB)
		return cm_err_set(err, FL_EINVAL,
				  "the upload is not a 64-bit little-endian ELF object, as this "
				  "JobManager is");
	if (h.e_type != ET_DYN)
		return cm_err_set(err, FL_EINVAL,
				  "the upload is an ELF object of type %u, not a shared object "
				  "(build it with -shared -fPIC)",
				  (unsigned)h.e_type);
	int m = own_machine();
	if (m >= 0 && h.e_machine != m)
		return cm_err_set(err, FL_EINVAL,
				  "the upload is built for ELF machine %u, this JobManager runs "
				  "on machine %d",
				  (unsigned)h.e_machine, m);
	return 0;
}

/* A file name safe to keep: its last component, [A-Za-z0-9._-] only. */
static void safe_name(const char *filename, char *out, size_t cap)
{
	const char *base = filename ? strrchr(filename, '/') : NULL;
	base = base ? base + 1 : filename ? filename : "";
	size_t n = 0;
	for (const char *p = base; *p && n + 1 < cap; p++) {
		char ch = *p;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
		out[n++] = ok ? ch : '_';
	}
	out[n] = '\0';
	if (n == 0 || out[0] == '.')
		snprintf(out, cap, "job.so");
}

int ds_jar_add(ds_dispatcher *d, const char *filename, const uint8_t *data, size_t len,
	       struct ds_jar *out, cm_err *err)
{
	int rc = check_elf(data, len, err);
	if (rc)
		return rc;
	struct ds_jar *jar = calloc(1, sizeof(*jar));
	if (!jar)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	safe_name(filename, jar->name, sizeof(jar->name));
	unsigned char r[16];
	if (cm_random(r, sizeof(r)) != 0) {
		free(jar);
		return cm_err_set(err, FL_EIO, "no randomness for the upload's id");
	}
	char hex[33];
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", r[i]);
	snprintf(jar->id, sizeof(jar->id), "%s_%s", hex, jar->name);
	snprintf(jar->path, sizeof(jar->path), "%s/%s", d->upload_dir, jar->id);
	int fd = open(jar->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = cm_err_set(err, FL_EIO, "cannot store the upload: %s", strerror(errno));
		free(jar);
		return rc;
	}
	bool ok = cm_write_all(fd, data, len) == 0 && fsync(fd) == 0 &&
		  lseek(fd, 0, SEEK_SET) == 0;
	close(fd);
	int hfd = ok ? open(jar->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
	ok = hfd >= 0 && cm_sha256_fd(hfd, jar->hash, &jar->size) == 0 && jar->size == len;
	if (hfd >= 0)
		close(hfd);
	if (!ok) {
		unlink(jar->path);
		free(jar);
		return cm_err_set(err, FL_EIO, "cannot store the upload in %s", d->upload_dir);
	}
	jar->uploaded_ms = cm_wall_ms();
	pthread_mutex_lock(&d->mu);
	bool full = d->njars >= DS_MAX_JARS;
	if (!full) {
		jar->next = d->jars;
		d->jars = jar;
		d->njars++;
	}
	pthread_mutex_unlock(&d->mu);
	if (full) {
		unlink(jar->path);
		free(jar);
		return cm_err_set(err, FL_ERANGE,
				  "%d job libraries are stored already: delete some first "
				  "(DELETE /jars/:jarid)",
				  DS_MAX_JARS);
	}
	CM_INFO("dispatcher", "Stored job library %s (%zu bytes, sha256 %s)", jar->id, len,
		jar->hash);
	*out = *jar;
	out->next = NULL;
	return 0;
}

int ds_jar_delete(ds_dispatcher *d, const char *id)
{
	pthread_mutex_lock(&d->mu);
	struct ds_jar **p = &d->jars;
	while (*p && strcmp((*p)->id, id) != 0)
		p = &(*p)->next;
	struct ds_jar *jar = *p;
	if (jar) {
		*p = jar->next;
		d->njars--;
	}
	pthread_mutex_unlock(&d->mu);
	if (!jar)
		return FL_ENOENT;
	/* A TaskManager that still needs it has it cached, or its job fails
	 * to deploy with the reason. */
	unlink(jar->path);
	free(jar);
	return 0;
}

int ds_blob(void *arg, const char *hash, uint64_t offset, uint8_t *buf, size_t cap, size_t *n,
	    uint64_t *total, cm_err *err)
{
	ds_dispatcher *d = arg;
	char path[4400] = "";
	pthread_mutex_lock(&d->mu);
	for (struct ds_jar *j = d->jars; j; j = j->next)
		if (strcmp(j->hash, hash) == 0) {
			snprintf(path, sizeof(path), "%s", j->path);
			*total = j->size;
			break;
		}
	pthread_mutex_unlock(&d->mu);
	if (!path[0])
		return cm_err_set(err, FL_ENOENT, "no job library with hash %.64s here", hash);
	if (offset > *total)
		return cm_err_set(err, FL_ERANGE, "offset %llu is past the library's end",
				  (unsigned long long)offset);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return cm_err_set(err, FL_EIO, "cannot read job library %.64s: %s", hash,
				  strerror(errno));
	size_t want = *total - offset < cap ? (size_t)(*total - offset) : cap;
	size_t got = 0;
	while (got < want) {
		ssize_t k = pread(fd, buf + got, want - got, (off_t)(offset + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	close(fd);
	if (got != want)
		return cm_err_set(err, FL_EIO, "job library %.64s changed while being read", hash);
	*n = got;
	return 0;
}

/* ------------------------------------------------------- savepoints */

struct sp_ctx {
	ds_dispatcher *d;
	struct ds_job *j;
	char id[33];
};

/* A savepoint's end, on the JobMaster's loop (which the entry outlives). */
static void on_savepoint_done(void *arg, int rc, const char *text)
{
	struct sp_ctx *c = arg;
	ds_dispatcher *d = c->d;
	struct ds_job *j = c->j;
	bool cancel = false;
	pthread_mutex_lock(&d->mu);
	for (struct ds_sp_op *o = j->sp_ops; o; o = o->next)
		if (strcmp(o->id, c->id) == 0) {
			o->done = true;
			o->rc = rc;
			snprintf(o->result, sizeof(o->result), "%s", text ? text : "");
			cancel = rc == 0 && o->cancel_job;
		}
	pthread_mutex_unlock(&d->mu);
	if (rc == 0)
		CM_INFO("dispatcher", "Savepoint %s of job %s completed: %s%s", c->id, j->id, text,
			cancel ? "; cancelling the job" : "");
	else
		CM_WARN("dispatcher", "Savepoint %s of job %s failed: %s", c->id, j->id, text);
	if (cancel)
		cm_cancel_request(&j->cancel);
	free(c);
}

int ds_savepoint(ds_dispatcher *d, struct ds_job *j, const char *target, bool cancel_job,
		 bool stop, char trigger_id[33], cm_err *err)
{
	if (!j->cp)
		return cm_err_set(err, FL_EINVAL,
				  "Job %s is a batch job: it takes no savepoints, as in Flink", j->id);
	struct ds_sp_op *o = calloc(1, sizeof(*o));
	struct sp_ctx *c = calloc(1, sizeof(*c));
	if (!o || !c) {
		free(o);
		free(c);
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	}
	if (!trigger_id[0])
		jm_new_job_id(trigger_id);
	memcpy(o->id, trigger_id, 33);
	memcpy(c->id, trigger_id, 33);
	o->cancel_job = cancel_job;
	c->d = d;
	c->j = j;
	cp_config cc;
	cp_get_config(j->cp, &cc);
	if ((!target || !*target) && !cc.savepoint_dir[0]) {
		free(o);
		free(c);
		return cm_err_set(err, FL_EINVAL,
				  "No savepoint directory: give target-directory or set "
				  "execution.checkpointing.savepoint-dir (state.savepoints.dir)");
	}
	pthread_mutex_lock(&d->mu);
	jm_jobmaster *jm = j->status == EG_RUNNING ? j->jm : NULL;
	int rc = 0, running = 0;
	bool known = false;
	for (struct ds_sp_op *x = j->sp_ops; x; x = x->next) {
		known = known || strcmp(x->id, trigger_id) == 0;
		running += !x->done;
	}
	if (known) {
		/* Flink: a trigger id already used names that operation. */
		pthread_mutex_unlock(&d->mu);
		free(o);
		free(c);
		return 0;
	}
	if (!jm) {
		rc = cm_err_set(err, FL_ECLOSED, "Job %s is not running (%s): no savepoint", j->id,
				eg_status_name(j->status));
	} else if (running >= DS_MAX_SAVEPOINT_OPS) {
		rc = cm_err_set(err, FL_ERANGE, "%d savepoints of job %s are in progress already",
				running, j->id);
	} else {
		o->next = j->sp_ops;
		j->sp_ops = o;
		if (++j->nsp_ops > DS_MAX_SAVEPOINT_OPS) {
			/* Forget the oldest finished one. */
			struct ds_sp_op **pp = &j->sp_ops, **oldest = NULL;
			for (; *pp; pp = &(*pp)->next)
				if ((*pp)->done)
					oldest = pp;
			if (oldest) {
				struct ds_sp_op *gone = *oldest;
				*oldest = gone->next;
				free(gone);
				j->nsp_ops--;
			}
		}
		o = NULL;
	}
	pthread_mutex_unlock(&d->mu);
	if (rc == 0) {
		/* The caller's reference keeps the JobMaster until this returns;
		 * the callback runs before the JobMaster ends. */
		rc = jm_trigger_savepoint(jm, target, stop, on_savepoint_done, c);
		if (rc) {
			pthread_mutex_lock(&d->mu);
			for (struct ds_sp_op *x = j->sp_ops; x; x = x->next)
				if (strcmp(x->id, trigger_id) == 0) {
					x->done = true;
					x->rc = rc;
					snprintf(x->result, sizeof(x->result), "%s",
						 "the JobMaster cannot take the request");
				}
			pthread_mutex_unlock(&d->mu);
			free(c);
			rc = 0; /* the operation exists and says why it failed */
		}
		CM_INFO("dispatcher", "Triggering savepoint %s of job %s into %s%s", trigger_id,
			j->id, target && *target ? target : "the configured directory",
			stop	       ? ", then stopping the job (its sources end)"
			: cancel_job ? ", then cancelling the job"
				     : "");
		return 0;
	}
	free(o);
	free(c);
	return rc;
}

int ds_savepoint_status(ds_dispatcher *d, struct ds_job *j, const char *id, struct ds_sp_op *out)
{
	int rc = FL_ENOENT;
	pthread_mutex_lock(&d->mu);
	for (struct ds_sp_op *o = j->sp_ops; o; o = o->next)
		if (strcmp(o->id, id) == 0) {
			*out = *o;
			out->next = NULL;
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&d->mu);
	return rc;
}

/* ------------------------------------------------------- main() runs */

struct run {
	ds_dispatcher *d;
	struct submitter sub;
	char path[4400];
	char jar_name[128], jar_hash[65];
	int argc;
	char **argv; /* owned, argv[0] is the library name */
	cfg *config; /* owned */
	env_launch launch;
	/* Between the thread and the REST handler waiting for the job id: d->mu. */
	bool submitted, ended, abandoned;
	char job_id[33];
	char *plan; /* a plan run: the first job's plan (JSON text) */
	char error[CM_ERR_MSG_MAX];
};

static void run_free(struct run *r)
{
	for (int i = 0; r->argv && i < r->argc; i++)
		free(r->argv[i]);
	free(r->argv);
	cfg_free(r->config);
	free(r->plan);
	free(r);
}

static void on_run_submitted(void *arg, const char *job_id, const char *job_name)
{
	struct run *r = arg;
	ds_dispatcher *d = r->d;
	pthread_mutex_lock(&d->mu);
	if (!r->submitted) {
		r->submitted = true;
		memcpy(r->job_id, job_id, 33);
		pthread_cond_broadcast(&d->cv);
	}
	pthread_mutex_unlock(&d->mu);
}

/* A plan run's first job: its plan under the job id the request chose (or
 * a new one), as if submitted. Later jobs of the same main() are ignored,
 * as Flink's plan extraction stops the program at its first execute(). */
static int on_run_planned(void *arg, const jg_graph *jg)
{
	struct run *r = arg;
	ds_dispatcher *d = r->d;
	pthread_mutex_lock(&d->mu);
	bool first = !r->submitted;
	pthread_mutex_unlock(&d->mu);
	if (!first)
		return 0;
	if (!r->job_id[0])
		jm_new_job_id(r->job_id);
	cJSON *o = jg_plan_json(jg, r->job_id);
	char *text = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	pthread_mutex_lock(&d->mu);
	r->plan = text;
	r->submitted = true;
	if (!text)
		snprintf(r->error, sizeof(r->error), "out of memory");
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	return text ? 0 : FL_ENOMEM;
}

/* Loads the library and runs its main() with launch l on this thread.
 * Returns 0 with *main_rc, or an error with err. */
static int call_main(const char *path, int argc, char **argv, env_launch *l, int *main_rc,
		     cm_err *err)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return cm_err_set(err, FL_EINVAL, "cannot load job library '%s': %s", path,
				  dlerror());
	int (*job_main)(int, char **) = (int (*)(int, char **))dlsym(h, "main");
	if (!job_main)
		return cm_err_set(err, FL_EINVAL,
				  "'%s' has no main() function: a job is a shared object whose "
				  "main(argc, argv) builds the dataflow and calls fl_execute()",
				  path);
	env_launch_install(l);
	*main_rc = job_main(argc, argv);
	env_launch_install(NULL);
	/* The library stays loaded: its code may run in exit handlers. */
	if (atomic_load(&l->executions) == 0)
		return cm_err_set(err, FL_EINVAL,
				  "the main() of '%s' returned %d without calling fl_execute(): "
				  "no job ran",
				  path, *main_rc);
	return 0;
}

static void *run_main(void *arg)
{
	struct run *r = arg;
	ds_dispatcher *d = r->d;
	cm_err err = {0};
	int main_rc = 0;
	int rc = call_main(r->path, r->argc, r->argv, &r->launch, &main_rc, &err);
	if (rc)
		CM_ERROR("dispatcher", "%s", err.msg);
	else if (r->launch.status)
		CM_INFO("dispatcher", "main() of %s returned %d; its last job ended: %s", r->path,
			main_rc, r->launch.error);
	pthread_mutex_lock(&d->mu);
	if (!r->submitted)
		snprintf(r->error, sizeof(r->error), "%s",
			 rc		      ? err.msg
			 : r->launch.error[0] ? r->launch.error
					      : "no job was submitted");
	r->ended = true;
	bool free_it = r->abandoned;
	d->runs--;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	if (free_it)
		run_free(r);
	return NULL;
}

/* Runs main() of jar id on a thread of its own, submitting its jobs or, with
 * plan set, planning them (*plan: the first one's plan). The first job gets
 * the id in job_id when that is set, else a new one; job_id is its id on
 * return. */
static int start_run(ds_dispatcher *d, const char *id, int argc, char **argv, cfg *c,
		     char job_id[33], char **plan, cm_err *err)
{
	struct run *r = calloc(1, sizeof(*r));
	if (!r) {
		cfg_free(c);
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	}
	r->d = d;
	r->config = c;
	r->sub.d = d;
	pthread_mutex_lock(&d->mu);
	struct ds_jar *jar = d->jars;
	while (jar && strcmp(jar->id, id) != 0)
		jar = jar->next;
	if (jar) {
		snprintf(r->path, sizeof(r->path), "%s", jar->path);
		snprintf(r->sub.locator, sizeof(r->sub.locator), "blob:%s", jar->hash);
		snprintf(r->jar_name, sizeof(r->jar_name), "%s", jar->name);
		snprintf(r->jar_hash, sizeof(r->jar_hash), "%s", jar->hash);
		r->sub.jar_path = r->path;
		r->sub.jar_name = r->jar_name;
		r->sub.jar_hash = r->jar_hash;
	}
	pthread_mutex_unlock(&d->mu);
	int rc = 0;
	if (!jar) {
		rc = cm_err_set(err, FL_ENOENT, "Jar file %.160s does not exist", id);
		goto fail;
	}
	r->argv = calloc((size_t)argc + 2, sizeof(char *));
	if (!r->argv) {
		rc = cm_err_set(err, FL_ENOMEM, "out of memory");
		goto fail;
	}
	r->argv[r->argc++] = strdup(jar ? id : "job");
	for (int i = 0; i < argc; i++)
		r->argv[r->argc++] = strdup(argv[i]);
	for (int i = 0; i < r->argc; i++)
		if (!r->argv[i]) {
			rc = cm_err_set(err, FL_ENOMEM, "out of memory");
			goto fail;
		}
	r->sub.argc = r->argc - 1; /* the program's own arguments */
	r->sub.argv = r->argv + 1;
	r->launch.config = r->config;
	if (plan) {
		r->launch.mode = ENV_LAUNCH_PLAN;
		r->launch.planned = on_run_planned;
		r->launch.planned_arg = r;
		memcpy(r->job_id, job_id, 33);
	} else {
		memcpy(r->sub.job_id, job_id, 33);
		r->launch.mode = ENV_LAUNCH_SUBMIT;
		r->launch.submit = submit;
		r->launch.submit_arg = &r->sub;
		r->launch.listener = (jm_listener){.arg = r, .submitted = on_run_submitted};
	}
	pthread_mutex_lock(&d->mu);
	if (d->stopping) {
		pthread_mutex_unlock(&d->mu);
		rc = cm_err_set(err, FL_ECANCELED, "the JobManager is shutting down");
		goto fail;
	}
	d->runs++;
	pthread_mutex_unlock(&d->mu);
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 8u << 20);
	int prc = pthread_create(&t, &attr, run_main, r);
	pthread_attr_destroy(&attr);
	if (prc != 0) {
		pthread_mutex_lock(&d->mu);
		d->runs--;
		pthread_mutex_unlock(&d->mu);
		rc = cm_err_set(err, FL_ENOMEM, "cannot start a thread for main()");
		goto fail;
	}
	/* Until main() submitted its first job or returned, at most a minute. */
	int64_t deadline = cm_now_ms() + 60000;
	pthread_mutex_lock(&d->mu);
	while (!r->submitted && !r->ended && cm_now_ms() < deadline) {
		struct timespec ts = cm_deadline_ts(deadline);
		pthread_cond_timedwait(&d->cv, &d->mu, &ts);
	}
	if (r->submitted && plan && !r->plan)
		rc = cm_err_set(err, FL_ENOMEM, "out of memory");
	else if (r->submitted) {
		memcpy(job_id, r->job_id, 33);
		if (plan) {
			*plan = r->plan;
			r->plan = NULL;
		}
	} else if (r->ended)
		rc = cm_err_set(err, FL_EINVAL, "%s", r->error);
	else
		rc = cm_err_set(err, FL_ETIMEDOUT,
				"the main() of %.160s has not %s a job within 60 s; it keeps "
				"running",
				id, plan ? "planned" : "submitted");
	bool free_now = r->ended;
	r->abandoned = !r->ended;
	pthread_mutex_unlock(&d->mu);
	if (free_now)
		run_free(r);
	return rc;
fail:
	run_free(r);
	return rc;
}

int ds_jar_run(ds_dispatcher *d, const char *id, int argc, char **argv, cfg *c,
	       const char *want_id, char job_id[33], cm_err *err)
{
	snprintf(job_id, 33, "%s", want_id ? want_id : "");
	return start_run(d, id, argc, argv, c, job_id, NULL, err);
}

int ds_jar_plan(ds_dispatcher *d, const char *id, int argc, char **argv, cfg *c,
		const char *job_id, char **plan, cm_err *err)
{
	char jid[33] = "";
	if (job_id)
		snprintf(jid, sizeof(jid), "%s", job_id);
	*plan = NULL;
	return start_run(d, id, argc, argv, c, jid, plan, err);
}

/* What a recovered job may bring: a library of at most this size (the REST
 * upload's own default cap), at most this many arguments. */
#define DS_RECOVER_LIB_MAX (512u << 20)
#define DS_RECOVER_ARGS_MAX 1024

static const char *json_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* The whole regular file at path, at most max bytes, into *data (malloc'd). */
static int read_lib(const char *path, size_t max, uint8_t **data, size_t *len, cm_err *err)
{
	*data = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return cm_err_set(err, FL_EIO, "cannot read %s: %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > max) {
		close(fd);
		return cm_err_set(err, FL_ERANGE, "%s is not a library of 1 byte to %zu bytes",
				  path, max);
	}
	*len = (size_t)st.st_size;
	size_t got = 0;
	int rc = !(*data = malloc(*len))				  ? FL_ENOMEM
		 : cm_read_all(fd, *data, *len, &got) != 0 || got != *len ? FL_EIO
									  : 0;
	close(fd);
	if (rc) {
		free(*data);
		*data = NULL;
		return cm_err_set(err, rc, "cannot read %s", path);
	}
	return 0;
}

/* One recorded job of a session cluster, run again (ds_recover). */
static void recover_one(void *arg, const char *job_id, const cJSON *rec)
{
	ds_dispatcher *d = arg;
	const char *lib = json_str(rec, "libraryFile"), *name = json_str(rec, "jarName");
	if (!lib) {
		CM_INFO("dispatcher", "Job %s: recorded by an application, which runs it again",
			job_id);
		return;
	}
	cm_err err = {0};
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = read_lib(lib, DS_RECOVER_LIB_MAX, &data, &len, &err);
	struct ds_jar jar;
	if (rc == 0)
		rc = ds_jar_add(d, name ? name : "job.so", data, len, &jar, &err);
	free(data);
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(rec, "args");
	int argc = 0;
	char *argv[DS_RECOVER_ARGS_MAX];
	const cJSON *a;
	cJSON_ArrayForEach(a, args)
	{
		if (rc == 0 && (!cJSON_IsString(a) || argc == DS_RECOVER_ARGS_MAX))
			rc = cm_err_set(&err, FL_EPROTO, "its arguments are not at most %d strings",
					DS_RECOVER_ARGS_MAX);
		if (rc == 0)
			argv[argc++] = a->valuestring;
	}
	cfg *c = NULL;
	if (rc == 0 && (rc = cfg_clone(d->config, &c)) != 0)
		cm_err_set(&err, rc, "out of memory");
	const cJSON *kv;
	cJSON_ArrayForEach(kv, cJSON_GetObjectItemCaseSensitive(rec, "config"))
	{
		cm_err kerr = {0};
		if (rc == 0 && cJSON_IsString(kv) && kv->string &&
		    cfg_set(c, kv->string, kv->valuestring, &kerr) != 0)
			CM_WARN("dispatcher", "Job %s: its recorded %s is not taken: %s", job_id,
				kv->string, kerr.msg);
	}
	char id[33];
	snprintf(id, sizeof(id), "%s", job_id);
	if (rc == 0) {
		rc = start_run(d, jar.id, argc, argv, c, id, NULL, &err);
		c = NULL; /* start_run's */
	}
	cfg_free(c);
	if (rc)
		CM_ERROR("dispatcher", "Cannot recover job %s from its record (%s): %s", job_id,
			 lib, err.msg);
	else
		CM_INFO("dispatcher", "Recovered job %s: main() of %s runs again", job_id,
			name ? name : lib);
}

int ds_recover(ds_dispatcher *d, cm_err *err)
{
	return d->ha ? jm_ha_list_jobs(d->ha, recover_one, d, err) : 0;
}

int ds_run_application(ds_dispatcher *d, const char *path, int argc, char **argv, int *main_rc,
		       int *job_status, cm_err *err)
{
	struct submitter sub = {.d = d};
	/* Under high availability the application's job keeps one id in every
	 * JobManager of the cluster (Flink's, from the cluster id), so that a
	 * successor finds what its predecessor recorded. */
	const char *cid = NULL;
	if (d->ha && cfg_get_string(d->config, CFG_CLUSTER_ID, &cid) == 0 && cid && *cid)
		jm_ha_application_job_id(cid, sub.job_id);
	env_launch l = {
	    .mode = ENV_LAUNCH_SUBMIT, .config = d->config, .submit = submit, .submit_arg = &sub};
	int rc = call_main(path, argc, argv, &l, main_rc, err);
	*job_status = l.status;
	if (rc == 0 && l.status)
		cm_err_set(err, l.status, "%s", l.error);
	return rc;
}

/* ------------------------------------------------------------ lifecycle */

int ds_new(ds_dispatcher **out, const ds_options *o, cm_err *err)
{
	*out = NULL;
	ds_dispatcher *d = calloc(1, sizeof(*d));
	if (!d)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	d->gw.ops = &gw_ops;
	d->config = o->config;
	d->rm = o->rm;
	snprintf(d->jm_address, sizeof(d->jm_address), "%s", o->jm_address);
	snprintf(d->upload_dir, sizeof(d->upload_dir), "%s", o->upload_dir);
	snprintf(d->rest_address, sizeof(d->rest_address), "%s",
		 o->rest_address ? o->rest_address : "");
	d->ha = o->ha;
	pthread_mutex_init(&d->mu, NULL);
	cm_cond_init(&d->cv);
	*out = d;
	return 0;
}

void ds_cancel_all(ds_dispatcher *d)
{
	pthread_mutex_lock(&d->mu);
	d->stopping = true;
	for (struct ds_job *j = d->jobs; j; j = j->next)
		if (!j->ended)
			cm_cancel_request(&j->cancel);
	pthread_mutex_unlock(&d->mu);
}

void ds_suspend_all(ds_dispatcher *d)
{
	pthread_mutex_lock(&d->mu);
	d->suspending = true;
	pthread_mutex_unlock(&d->mu);
	ds_cancel_all(d);
}

bool ds_wait(ds_dispatcher *d, int64_t wait_ms)
{
	int64_t deadline = cm_now_ms() + wait_ms;
	pthread_mutex_lock(&d->mu);
	while (d->runs > 0 && cm_now_ms() < deadline) {
		struct timespec ts = cm_deadline_ts(deadline);
		pthread_cond_timedwait(&d->cv, &d->mu, &ts);
	}
	int runs = d->runs;
	pthread_mutex_unlock(&d->mu);
	if (runs > 0)
		CM_WARN("dispatcher", "%d job main() function(s) did not return within %lld ms",
			runs, (long long)wait_ms);
	return runs == 0;
}

bool ds_free(ds_dispatcher *d, int64_t wait_ms)
{
	if (!d)
		return true;
	ds_cancel_all(d);
	if (!ds_wait(d, wait_ms))
		return false;
	ds_dispose_fini(d);
	while (d->jobs) {
		struct ds_job *j = d->jobs;
		d->jobs = j->next;
		job_free(j);
	}
	while (d->jars) {
		struct ds_jar *jar = d->jars;
		d->jars = jar->next;
		unlink(jar->path);
		free(jar);
	}
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
	free(d);
	return true;
}
