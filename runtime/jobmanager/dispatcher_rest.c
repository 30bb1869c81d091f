/*
 * dispatcher_rest.c — the JobManager's REST API (Flink's paths and JSON
 * shapes, Flink 2.x's field names) over the Dispatcher and the
 * ResourceManager. Running jobs are read through their JobMaster's loop
 * (jm_query); ended ones from the JSON archived at their end.
 *
 * Errors are Flink's: a status and {"errors": ["..."]}. A job id that is
 * not 32 hex digits is 400, an unknown one 404 ("Job could not be found."
 * as Flink says), cancelling an ended job 409.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include "checkpoint/coordinator.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/procstat.h"
#include "graph/jobgraph.h"
#include "graph/plan_json.h"
#include "jobmanager/adaptive.h"
#include "jobmanager/dispatcher_internal.h"
#include "jobmanager/rescale_history.h"
#include "jobmanager/scheduler.h"
#include "taskmanager/task.h"

#ifndef FLINC_VERSION_STRING
#define FLINC_VERSION_STRING "0.0.0"
#endif

/* Flink's ExecutionState names, in the order its JSON lists them. */
static const char *const flink_task_states[] = {
    "CREATED",	 "SCHEDULED", "DEPLOYING", "RUNNING",	  "FINISHED",
    "CANCELING", "CANCELED",  "FAILED",	   "RECONCILING", "INITIALIZING"};

static cJSON *state_counts(const int *count)
{
	cJSON *o = cJSON_CreateObject();
	for (size_t i = 0; o && i < sizeof(flink_task_states) / sizeof(*flink_task_states); i++) {
		int n = 0;
		for (int s = 0; count && s < TM_TASK_NSTATES; s++)
			if (strcmp(tm_task_state_name((enum tm_task_state)s),
				   flink_task_states[i]) == 0)
				n = count[s];
		cJSON_AddNumberToObject(o, flink_task_states[i], n);
	}
	return o;
}

/* Records in/out of vertex v: what enters its head from the network and
 * what its operators send to the network, as Flink's task metrics count. */
static void vertex_records(const jm_view *v, const jg_vertex *jv, double *in, double *out)
{
	*in = 0;
	*out = 0;
	if (!v->nodes)
		return;
	/* Every operator an input edge enters (more than the head when a
	 * two-input operator joined two chains), each once. */
	for (size_t k = 0; k < jv->nops; k++) {
		int node = jv->ops[k].node;
		bool entry = false;
		for (size_t e = 0; e < jv->nin_edges && !entry; e++)
			entry = v->jg->edges[jv->in_edges[e]].dst_node == node;
		if (entry && (size_t)node < v->nnodes)
			*in += (double)v->nodes[node].in;
	}
	for (size_t k = 0; k < jv->nops; k++)
		if (jv->ops[k].nout_edges > 0 && (size_t)jv->ops[k].node < v->nnodes)
			*out += (double)v->nodes[jv->ops[k].node].out;
}

/* Flink's IOMetricsInfo: records in/out and, when io is given, the bytes
 * the vertex's tasks received and sent over channels and the time they
 * were back-pressured. */
static cJSON *metrics_json(double in, double out, const jm_vertex_io *io, bool complete)
{
	cJSON *m = cJSON_CreateObject();
	cJSON_AddNumberToObject(m, "read-bytes", io ? (double)io->bytes_in : 0);
	cJSON_AddBoolToObject(m, "read-bytes-complete", complete);
	cJSON_AddNumberToObject(m, "write-bytes", io ? (double)io->bytes_out : 0);
	cJSON_AddBoolToObject(m, "write-bytes-complete", complete);
	cJSON_AddNumberToObject(m, "read-records", in);
	cJSON_AddBoolToObject(m, "read-records-complete", complete);
	cJSON_AddNumberToObject(m, "write-records", out);
	cJSON_AddBoolToObject(m, "write-records-complete", complete);
	cJSON_AddNumberToObject(m, "accumulated-backpressured-time",
				io ? (double)io->back_pressured_ms : 0);
	cJSON_AddNumberToObject(m, "accumulated-idle-time", 0);
	cJSON_AddNumberToObject(m, "accumulated-busy-time", 0);
	return m;
}

/* First entry into and last final state of a vertex's subtasks. */
static void vertex_times(const eg_vertex *ev, int64_t *start, int64_t *end)
{
	*start = -1;
	*end = -1;
	bool all_final = ev->parallelism > 0;
	for (int i = 0; i < ev->parallelism; i++) {
		const eg_subtask *st = &ev->subtasks[i];
		int64_t s = st->since[TM_TASK_DEPLOYING];
		if (s > 0 && (*start < 0 || s < *start))
			*start = s;
		int64_t e = 0;
		for (int f = TM_TASK_FINISHED; f < TM_TASK_NSTATES; f++)
			if (f != TM_TASK_CANCELING && st->since[f] > e)
				e = st->since[f];
		if (st->state != TM_TASK_FINISHED && st->state != TM_TASK_CANCELED &&
		    st->state != TM_TASK_FAILED)
			all_final = false;
		else if (e > *end)
			*end = e;
	}
	if (!all_final)
		*end = -1;
}

char *ds_print_free(cJSON *o)
{
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	return s;
}

cJSON *ds_details_tree(struct ds_job *j, const jm_view *v)
{
	int64_t now = cm_wall_ms();
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "jid", j->id);
	cJSON_AddStringToObject(o, "name", j->name);
	cJSON_AddBoolToObject(o, "isStoppable", false);
	enum eg_status st = j->status;
	cJSON_AddStringToObject(o, "state", eg_status_name(st));
	cJSON_AddStringToObject(o, "job-type", j->batch ? "BATCH" : "STREAMING");
	/* Flink 2.3's: the dashboard shows the Rescales tab for Adaptive. */
	cJSON_AddStringToObject(o, "schedulerType", j->adaptive ? "Adaptive" : "Default");
	cJSON_AddNumberToObject(o, "start-time", (double)j->start_ms);
	int64_t end = j->end_ms;
	if (v && eg_status_is_terminal(st))
		end = v->eg->status_since[st];
	cJSON_AddNumberToObject(o, "end-time", (double)end);
	cJSON_AddNumberToObject(o, "duration", (double)((end > 0 ? end : now) - j->start_ms));
	cJSON_AddNumberToObject(o, "maxParallelism", -1);
	cJSON_AddNumberToObject(o, "now", (double)now);
	cJSON *ts = cJSON_AddObjectToObject(o, "timestamps");
	for (int s = 0; ts && s < EG_NSTATUS; s++) {
		int64_t t = v ? v->eg->status_since[s] : 0;
		if (!v && s == EG_CREATED)
			t = j->start_ms;
		if (!v && (enum eg_status)s == j->status)
			t = j->end_ms > 0 ? j->end_ms : j->start_ms;
		cJSON_AddNumberToObject(ts, eg_status_name((enum eg_status)s), (double)t);
	}
	cJSON *vs = cJSON_AddArrayToObject(o, "vertices");
	int total[TM_TASK_NSTATES] = {0};
	for (size_t k = 0; v && vs && k < v->jg->nvertices; k++) {
		const jg_vertex *jv = &v->jg->vertices[k];
		const eg_vertex *ev = &v->eg->vertices[k];
		char id[33];
		jg_vertex_id(j->id, (int)k, id);
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "id", id);
		cJSON_AddStringToObject(x, "slotSharingGroupId",
					jv->slot_group ? jv->slot_group : "default");
		cJSON_AddStringToObject(x, "name", jv->name);
		cJSON_AddNumberToObject(x, "maxParallelism", jv->max_parallelism);
		cJSON_AddNumberToObject(x, "parallelism", jv->parallelism);
		cJSON_AddStringToObject(x, "status", tm_task_state_name(eg_vertex_state(v->eg, k)));
		int64_t vs_start, vs_end;
		vertex_times(ev, &vs_start, &vs_end);
		cJSON_AddNumberToObject(x, "start-time", (double)vs_start);
		cJSON_AddNumberToObject(x, "end-time", (double)vs_end);
		cJSON_AddNumberToObject(
		    x, "duration",
		    vs_start < 0 ? -1.0 : (double)((vs_end > 0 ? vs_end : now) - vs_start));
		cJSON_AddItemToObject(x, "tasks", state_counts(ev->count));
		double in, out;
		vertex_records(v, jv, &in, &out);
		/* Complete: the JobMaster's last full metrics round (Flink: every
		 * subtask reported). */
		cJSON_AddItemToObject(
		    x, "metrics", metrics_json(in, out, v->vertex_io ? &v->vertex_io[k] : NULL, true));
		cJSON_AddItemToArray(vs, x);
		for (int s = 0; s < TM_TASK_NSTATES; s++)
			total[s] += ev->count[s];
	}
	cJSON_AddItemToObject(o, "status-counts", state_counts(v ? total : NULL));
	if (j->plan) {
		cJSON *plan = cJSON_Parse(j->plan);
		if (plan)
			cJSON_AddItemToObject(o, "plan", plan);
	}
	return o;
}

cJSON *ds_exceptions_tree(struct ds_job *j, const jm_view *v)
{
	const char *root = j->error[0] ? j->error : NULL;
	int64_t when = j->end_ms;
	if (v && v->eg->failure) {
		root = v->eg->failure;
		when = v->eg->status_since[EG_FAILING] ? v->eg->status_since[EG_FAILING]
						       : v->eg->status_since[EG_FAILED];
	}
	cJSON *o = cJSON_CreateObject();
	cJSON *hist = cJSON_AddObjectToObject(o, "exceptionHistory");
	cJSON *entries = cJSON_AddArrayToObject(hist, "entries");
	cJSON_AddBoolToObject(hist, "truncated", false);
	if (root) {
		cJSON_AddStringToObject(o, "root-exception", root);
		cJSON_AddNumberToObject(o, "timestamp", (double)when);
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "exceptionName", "flinc.JobFailure");
		cJSON_AddStringToObject(e, "stacktrace", root);
		cJSON_AddNumberToObject(e, "timestamp", (double)when);
		/* The first failed subtask, when there is one. */
		for (size_t k = 0; v && k < v->jg->nvertices; k++) {
			const eg_vertex *ev = &v->eg->vertices[k];
			for (int i = 0; i < ev->parallelism; i++) {
				const eg_subtask *s = &ev->subtasks[i];
				if (s->state != TM_TASK_FAILED || !s->failure)
					continue;
				char name[300];
				snprintf(name, sizeof(name), "%s (%d/%d)", v->jg->vertices[k].name,
					 i + 1, ev->parallelism);
				cJSON_AddStringToObject(e, "taskName", name);
				if (s->tm >= 0 && (size_t)s->tm < v->ntms && v->tm_ids[s->tm])
					cJSON_AddStringToObject(e, "taskManagerId",
								v->tm_ids[s->tm]);
				k = v->jg->nvertices - 1;
				break;
			}
		}
		cJSON_AddItemToObject(e, "failureLabels", cJSON_CreateObject());
		cJSON_AddItemToObject(e, "concurrentExceptions", cJSON_CreateArray());
		cJSON_AddItemToArray(entries, e);
	} else {
		cJSON_AddNullToObject(o, "root-exception");
		cJSON_AddNullToObject(o, "timestamp");
	}
	/* The failures that restarted the job, after the latest one. */
	pthread_mutex_lock(&j->hmu);
	for (int h = 0; h < j->nhistory; h++) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "exceptionName", "flinc.JobFailure");
		cJSON_AddStringToObject(e, "stacktrace", j->history[h].msg);
		cJSON_AddNumberToObject(e, "timestamp", (double)j->history[h].when);
		cJSON_AddItemToObject(e, "failureLabels", cJSON_CreateObject());
		cJSON_AddItemToObject(e, "concurrentExceptions", cJSON_CreateArray());
		cJSON_AddItemToArray(entries, e);
	}
	if (!root && j->nhistory > 0) {
		cJSON_DeleteItemFromObject(o, "root-exception");
		cJSON_DeleteItemFromObject(o, "timestamp");
		cJSON_AddStringToObject(o, "root-exception", j->history[0].msg);
		cJSON_AddNumberToObject(o, "timestamp", (double)j->history[0].when);
	}
	pthread_mutex_unlock(&j->hmu);
	cJSON_AddItemToObject(o, "all-exceptions", cJSON_CreateArray());
	cJSON_AddBoolToObject(o, "truncated", false);
	return o;
}

/* ------------------------------------------------------------ helpers */

static bool valid_job_id(const char *id)
{
	size_t n = 0;
	for (; id[n]; n++)
		if (!((id[n] >= '0' && id[n] <= '9') || (id[n] >= 'a' && id[n] <= 'f') ||
		      (id[n] >= 'A' && id[n] <= 'F')))
			return false;
	return n == 32;
}

/* Sets resp to the given JSON text (taken over). */
static int json_text(rest_response *resp, int status, char *text)
{
	if (!text)
		return FL_ENOMEM;
	resp->status = status;
	resp->body = (uint8_t *)text;
	resp->body_len = strlen(text);
	return 0;
}

/* Looks up :jobid, answering 400/404 itself. NULL when it answered. */
static struct ds_job *job_of(ds_dispatcher *d, const rest_request *req, rest_response *resp)
{
	const char *id = rest_param(req, "jobid");
	if (!id || !valid_job_id(id)) {
		rest_error(resp, 400, "Invalid JobID '%.64s': a job id is 32 hex digits",
			   id ? id : "");
		return NULL;
	}
	char lower[33];
	for (int i = 0; i < 33; i++)
		lower[i] = (char)(id[i] >= 'A' && id[i] <= 'F' ? id[i] - 'A' + 'a' : id[i]);
	struct ds_job *j = ds_job_get(d, lower);
	if (!j)
		rest_error(resp, 404, "Job %s not found: Job could not be found.", lower);
	return j;
}

/* A running job's JSON built on its JobMaster's loop. */
struct build {
	struct ds_job *j;
	cJSON *(*fn)(struct ds_job *, const jm_view *);
	cJSON *out;
};

static void build_on_loop(void *arg, const jm_view *v)
{
	struct build *b = arg;
	b->out = b->fn(b->j, v);
}

/* The job's JSON of one kind: built live from its JobMaster's view, or
 * parsed from the archive (text, the smaller form for up to
 * DS_MAX_ARCHIVED ended jobs), or from what the entry alone knows. A tree
 * for the caller to delete, or NULL when out of memory. */
static cJSON *job_tree(ds_dispatcher *d, struct ds_job *j,
		       cJSON *(*fn)(struct ds_job *, const jm_view *), char *const *archived)
{
	pthread_mutex_lock(&d->mu);
	jm_jobmaster *jm = j->jm;
	cJSON *tree = NULL;
	bool from_archive = !jm && *archived;
	if (from_archive)
		tree = cJSON_Parse(*archived);
	pthread_mutex_unlock(&d->mu);
	if (from_archive)
		return tree;
	if (jm) {
		struct build b = {.j = j, .fn = fn};
		if (jm_query(jm, build_on_loop, &b) == 0)
			return b.out;
	}
	/* From the entry alone, which its job thread writes under mu. */
	pthread_mutex_lock(&d->mu);
	tree = fn(j, NULL);
	pthread_mutex_unlock(&d->mu);
	return tree;
}

/* ------------------------------------------------------------ handlers */

static int h_config(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	/* The dashboard's switches (Flink's web.* keys). */
	bool submit = true, cancel = true;
	int64_t refresh = 3000;
	cfg_get_bool(d->config, CFG_WEB_SUBMIT, &submit);
	cfg_get_bool(d->config, CFG_WEB_CANCEL, &cancel);
	cfg_get_duration_ms(d->config, CFG_WEB_REFRESH, &refresh);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "refresh-interval", (double)refresh);
	cJSON_AddStringToObject(o, "timezone-name", "Coordinated Universal Time");
	cJSON_AddNumberToObject(o, "timezone-offset", 0);
	cJSON_AddStringToObject(o, "flink-version", FLINC_VERSION_STRING);
	cJSON_AddStringToObject(o, "flink-revision", "flinc");
	cJSON *f = cJSON_AddObjectToObject(o, "features");
	cJSON_AddBoolToObject(f, "web-submit", submit);
	cJSON_AddBoolToObject(f, "web-cancel", cancel);
	cJSON_AddBoolToObject(f, "web-rescale", false);
	cJSON_AddBoolToObject(f, "web-history", false);
	return rest_json(resp, 200, o);
}

static int h_overview(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	size_t n = 0;
	int slots = 0, free_slots = 0;
	rm_totals(d->rm, &n, &slots, &free_slots);
	ds_counts c;
	ds_job_counts(d, &c);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "taskmanagers", (double)n);
	cJSON_AddNumberToObject(o, "slots-total", slots);
	cJSON_AddNumberToObject(o, "slots-available", free_slots);
	cJSON_AddNumberToObject(o, "jobs-running", c.running);
	cJSON_AddNumberToObject(o, "jobs-finished", c.finished);
	cJSON_AddNumberToObject(o, "jobs-cancelled", c.cancelled);
	cJSON_AddNumberToObject(o, "jobs-failed", c.failed);
	cJSON_AddStringToObject(o, "flink-version", FLINC_VERSION_STRING);
	cJSON_AddStringToObject(o, "flink-commit", "flinc");
	return rest_json(resp, 200, o);
}

static int h_jobs(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	cJSON *o = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(o, "jobs");
	pthread_mutex_lock(&d->mu);
	for (struct ds_job *j = d->jobs; a && j; j = j->next) {
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "id", j->id);
		cJSON_AddStringToObject(x, "status", eg_status_name(j->status));
		cJSON_AddItemToArray(a, x);
	}
	pthread_mutex_unlock(&d->mu);
	return rest_json(resp, 200, o);
}

void ds_task_counts(const jm_view *v, int counts[TM_TASK_NSTATES])
{
	memset(counts, 0, TM_TASK_NSTATES * sizeof(*counts));
	for (size_t k = 0; k < v->jg->nvertices; k++)
		for (int s = 0; s < TM_TASK_NSTATES; s++)
			counts[s] += v->eg->vertices[k].count[s];
}

static void counts_on_loop(void *arg, const jm_view *v)
{
	ds_task_counts(v, arg);
}

/* Flink's JobDetails "tasks": every ExecutionState in lower case, and
 * "total", which Flink's client (RestClusterClient.listJobs, `flink list`)
 * requires. */
static cJSON *overview_tasks(const int *count, int total)
{
	cJSON *o = cJSON_CreateObject();
	for (size_t i = 0; o && i < sizeof(flink_task_states) / sizeof(*flink_task_states); i++) {
		char key[16];
		size_t k = 0;
		for (; flink_task_states[i][k] && k < sizeof(key) - 1; k++)
			key[k] = (char)(flink_task_states[i][k] - 'A' + 'a');
		key[k] = 0;
		int n = 0;
		for (int s = 0; s < TM_TASK_NSTATES; s++)
			if (strcmp(tm_task_state_name((enum tm_task_state)s),
				   flink_task_states[i]) == 0)
				n = count[s];
		cJSON_AddNumberToObject(o, key, n);
	}
	cJSON_AddNumberToObject(o, "total", total);
	return o;
}

/* Every job, newest first, each with a reference (dash_jobs_put). */
static struct ds_job **dash_jobs_get(ds_dispatcher *d, size_t *n)
{
	pthread_mutex_lock(&d->mu);
	size_t cap = d->njobs, k = 0;
	struct ds_job **a = calloc(cap ? cap : 1, sizeof(*a));
	for (struct ds_job *j = d->jobs; a && j && k < cap; j = j->next) {
		j->refs++;
		a[k++] = j;
	}
	pthread_mutex_unlock(&d->mu);
	*n = k;
	return a;
}

static void dash_jobs_put(ds_dispatcher *d, struct ds_job **a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ds_job_put(d, a[i]);
	free(a);
}

/* GET /jobs/overview: Flink's MultipleJobsDetails, {"jobs": [JobDetails]},
 * as `flink list` reads it. The task counts of a running job come from its
 * JobMaster's loop, so the jobs are held by a reference, not the lock. */
static int h_jobs_overview(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	size_t n = 0;
	struct ds_job **js = dash_jobs_get(d, &n);
	if (!js)
		return FL_ENOMEM;
	int64_t now = cm_wall_ms();
	cJSON *o = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(o, "jobs");
	for (size_t i = 0; i < n; i++) {
		struct ds_job *j = js[i];
		int counts[TM_TASK_NSTATES];
		pthread_mutex_lock(&d->mu);
		jm_jobmaster *jm = j->jm;
		enum eg_status status = j->status;
		int64_t end_ms = j->end_ms;
		memcpy(counts, j->task_counts, sizeof(counts));
		pthread_mutex_unlock(&d->mu);
		if (jm)
			jm_query(jm, counts_on_loop, counts);
		cJSON *x = a ? cJSON_CreateObject() : NULL;
		if (x) {
			cJSON_AddStringToObject(x, "jid", j->id);
			cJSON_AddStringToObject(x, "name", j->name);
			cJSON_AddStringToObject(x, "state", eg_status_name(status));
			cJSON_AddStringToObject(x, "jobType", j->batch ? "BATCH" : "STREAMING");
			cJSON_AddNumberToObject(x, "start-time", (double)j->start_ms);
			cJSON_AddNumberToObject(x, "end-time", (double)end_ms);
			cJSON_AddNumberToObject(
			    x, "duration", (double)((end_ms > 0 ? end_ms : now) - j->start_ms));
			cJSON_AddNumberToObject(x, "last-modification",
						(double)(end_ms > 0 ? end_ms : j->start_ms));
			cJSON_AddItemToObject(x, "tasks", overview_tasks(counts, j->ntasks));
			cJSON_AddNumberToObject(x, "pending-operators", 0);
			cJSON_AddItemToArray(a, x);
		}
	}
	dash_jobs_put(d, js, n);
	return rest_json(resp, 200, o);
}

static int h_job(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	struct ds_job *j = job_of(d, req, resp);
	if (!j)
		return 0;
	cJSON *o = job_tree(d, j, ds_details_tree, &j->details);
	ds_job_put(d, j);
	return rest_json(resp, 200, o);
}

static int h_job_exceptions(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	struct ds_job *j = job_of(d, req, resp);
	if (!j)
		return 0;
	cJSON *o = job_tree(d, j, ds_exceptions_tree, &j->exceptions);
	ds_job_put(d, j);
	return rest_json(resp, 200, o);
}

static int h_job_plan(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	struct ds_job *j = job_of(d, req, resp);
	if (!j)
		return 0;
	/* Under mu: an adaptive job's rescale replaces its plan. */
	pthread_mutex_lock(&d->mu);
	size_t n = j->plan ? strlen(j->plan) : 2;
	char *s = malloc(n + 16);
	if (s)
		snprintf(s, n + 16, "{\"plan\":%s}", j->plan ? j->plan : "{}");
	pthread_mutex_unlock(&d->mu);
	ds_job_put(d, j);
	return json_text(resp, 200, s);
}

/* ---- the adaptive scheduler's resource requirements (Flink's
 * JobResourceRequirementsHandler and ...UpdateHandler, FLIP-291) */

/* True with mu held when j runs under the adaptive scheduler; else false
 * with *rc what answering the error returned (mu not held). */
static bool adaptive_job(ds_dispatcher *d, struct ds_job *j, rest_response *resp, int *rc)
{
	pthread_mutex_lock(&d->mu);
	if (j->bounds && j->adaptive_jg)
		return true;
	bool ended = j->ended || eg_status_is_terminal(j->status);
	pthread_mutex_unlock(&d->mu);
	if (ended)
		*rc = rest_error(resp, 409,
				 "Job %s has ended: its resource requirements no longer apply.",
				 j->id);
	else
		*rc = rest_error(resp, 400,
				 "Job %s does not run under the adaptive scheduler: its resource "
				 "requirements are fixed (set jobmanager.scheduler: adaptive for a "
				 "streaming job).",
				 j->id);
	return false;
}

static int h_requirements(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	struct ds_job *j = job_of(d, req, resp);
	if (!j)
		return 0;
	int rc = 0;
	if (!adaptive_job(d, j, resp, &rc)) {
		ds_job_put(d, j);
		return rc;
	}
	cJSON *o = ad_bounds_to_json(j->adaptive_jg, j->id, j->bounds);
	pthread_mutex_unlock(&d->mu);
	ds_job_put(d, j);
	return o ? rest_json(resp, 200, o) : FL_ENOMEM;
}

static int h_requirements_put(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	struct ds_job *j = job_of(d, req, resp);
	if (!j)
		return 0;
	cJSON *body = req->body_len > 0
			  ? cJSON_ParseWithLength((const char *)req->body, req->body_len)
			  : NULL;
	int rc = 0;
	if (!adaptive_job(d, j, resp, &rc)) {
		cJSON_Delete(body);
		ds_job_put(d, j);
		return rc;
	}
	size_t n = j->adaptive_jg->nvertices;
	ad_bounds *b = calloc(n ? n : 1, sizeof(*b));
	char why[600] = "";
	int vrc = !body ? FL_EINVAL
		  : b	? ad_bounds_from_json(body, j->adaptive_jg, j->id, b, why, sizeof(why))
			: FL_ENOMEM;
	if (!body)
		snprintf(why, sizeof(why), "the request body is not JSON");
	if (vrc == 0) {
		memcpy(j->bounds, b, n * sizeof(*b));
		if (j->rescales)
			rh_new_requirements(j->rescales);
		pthread_cond_broadcast(&d->cv);
		CM_INFO("dispatcher", "Job %s: new resource requirements for its %zu vertices",
			j->id, n);
	}
	pthread_mutex_unlock(&d->mu);
	ds_job_put(d, j);
	free(b);
	cJSON_Delete(body);
	if (vrc == FL_ENOMEM)
		return FL_ENOMEM;
	if (vrc)
		return rest_error(resp, 400, "%s", why);
	return rest_json(resp, 200, cJSON_CreateObject());
}

static int h_job_config(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	struct ds_job *j = job_of(d, req, resp);
	if (!j)
		return 0;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "jid", j->id);
	cJSON_AddStringToObject(o, "name", j->name);
	cJSON *ec = cJSON_AddObjectToObject(o, "execution-config");
	cJSON_AddStringToObject(ec, "execution-mode", j->batch ? "BATCH" : "PIPELINED");
	pthread_mutex_lock(&d->mu);
	cJSON_AddStringToObject(ec, "restart-strategy",
				j->restart_strategy[0] ? j->restart_strategy
						       : "Restart deactivated.");
	pthread_mutex_unlock(&d->mu);
	cJSON_AddBoolToObject(ec, "object-reuse-mode", false);
	cJSON_AddItemToObject(ec, "user-config", cJSON_CreateObject());
	ds_job_put(d, j);
	return rest_json(resp, 200, o);
}

static int h_job_cancel(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	char mode[32] = "cancel";
	int q = rest_query(req, "mode", mode, sizeof(mode));
	if (q == FL_ERANGE || (q == 0 && strcmp(mode, "cancel") != 0)) {
		return rest_error(resp, 400,
				  "Unsupported termination mode '%.20s': only mode=cancel is "
				  "supported (stop-with-savepoint needs savepoints)",
				  mode);
	}
	struct ds_job *j = job_of(d, req, resp);
	if (!j)
		return 0;
	pthread_mutex_lock(&d->mu);
	bool terminal = eg_status_is_terminal(j->status) || j->ended;
	enum eg_status st = j->status;
	pthread_mutex_unlock(&d->mu);
	int rc;
	if (terminal) {
		rc = rest_error(resp, 409, "Job %s is already in the terminal state %s", j->id,
				eg_status_name(st));
	} else {
		CM_INFO("dispatcher", "Cancelling job %s (REST request)", j->id);
		cm_cancel_request(&j->cancel);
		rc = rest_json(resp, 202, cJSON_CreateObject());
	}
	ds_job_put(d, j);
	return rc;
}

/* ---- savepoints (Flink's SavepointHandlers and StopWithSavepoint) */

/* Starts a savepoint from body fields target_key and cancel_key. */
static int savepoint_request(void *arg, const rest_request *req, rest_response *resp,
			     const char *target_key, const char *cancel_key, bool stop)
{
	ds_dispatcher *d = arg;
	cJSON *body = NULL;
	if (req->body_len > 0) {
		body = cJSON_ParseWithLength((const char *)req->body, req->body_len);
		if (!body || !cJSON_IsObject(body)) {
			cJSON_Delete(body);
			return rest_error(resp, 400, "Request body is not a JSON object");
		}
	}
	const cJSON *target = cJSON_GetObjectItemCaseSensitive(body, target_key);
	const cJSON *cancel = cancel_key ? cJSON_GetObjectItemCaseSensitive(body, cancel_key) : NULL;
	const cJSON *tid = cJSON_GetObjectItemCaseSensitive(body, "triggerId");
	const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(body, "formatType");
	int rc;
	if (target && !cJSON_IsNull(target) && !cJSON_IsString(target)) {
		rc = rest_error(resp, 400, "%s must be a string", target_key);
		goto out;
	}
	if (cancel && !cJSON_IsNull(cancel) && !cJSON_IsBool(cancel)) {
		rc = rest_error(resp, 400, "%s must be true or false", cancel_key);
		goto out;
	}
	/* drain: Flink then sends MAX_WATERMARK first (event-time timers and
	 * windows fire); flinc has no event time yet, so it changes nothing. */
	const cJSON *drain = stop ? cJSON_GetObjectItemCaseSensitive(body, "drain") : NULL;
	if (drain && !cJSON_IsNull(drain) && !cJSON_IsBool(drain)) {
		rc = rest_error(resp, 400, "drain must be true or false");
		goto out;
	}
	if (tid && !cJSON_IsNull(tid) && (!cJSON_IsString(tid) || !valid_job_id(tid->valuestring))) {
		rc = rest_error(resp, 400, "triggerId must be 32 hex digits");
		goto out;
	}
	if (fmt && !cJSON_IsNull(fmt) &&
	    (!cJSON_IsString(fmt) || (strcmp(fmt->valuestring, "CANONICAL") != 0 &&
				      strcmp(fmt->valuestring, "NATIVE") != 0))) {
		rc = rest_error(resp, 400, "formatType must be CANONICAL or NATIVE");
		goto out;
	}
	struct ds_job *j = job_of(d, req, resp);
	if (!j) {
		rc = 0;
		goto out;
	}
	char id[33] = "";
	if (tid && cJSON_IsString(tid))
		snprintf(id, sizeof(id), "%s", tid->valuestring);
	cm_err err = {0};
	rc = ds_savepoint(d, j, target && cJSON_IsString(target) ? target->valuestring : NULL,
			  !stop && cJSON_IsTrue(cancel), stop, id, &err);
	ds_job_put(d, j);
	if (rc == FL_EINVAL || rc == FL_ECLOSED || rc == FL_ERANGE) {
		rc = rest_error(resp, rc == FL_EINVAL ? 400 : rc == FL_ECLOSED ? 409 : 429, "%s",
				err.msg);
	} else if (rc == 0) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "request-id", id);
		rc = rest_json(resp, 202, o);
	}
out:
	cJSON_Delete(body);
	return rc;
}

static int h_savepoint_trigger(void *arg, const rest_request *req, rest_response *resp)
{
	return savepoint_request(arg, req, resp, "target-directory", "cancel-job", false);
}

/* Stop with a savepoint (Flink's StopWithSavepointHandlers): the sources
 * take the savepoint, hold their records until it completed, then end; the
 * job FINISHES. A failed savepoint leaves the job running. */
static int h_job_stop(void *arg, const rest_request *req, rest_response *resp)
{
	return savepoint_request(arg, req, resp, "targetDirectory", NULL, true);
}

/* Flink's failure-cause of an asynchronous operation, as a savepoint's and a
 * disposal's status show it. */
static void add_failure_cause(cJSON *oper, const char *cls, const char *why)
{
	cJSON *f = cJSON_AddObjectToObject(oper, "failure-cause");
	cJSON_AddStringToObject(f, "class", cls);
	cJSON_AddStringToObject(f, "stack-trace", why);
	cJSON_AddStringToObject(f, "serialized-throwable", "");
}

static int h_savepoint_status(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	const char *tid = rest_param(req, "triggerid");
	struct ds_job *j = job_of(d, req, resp);
	if (!j)
		return 0;
	struct ds_sp_op op;
	int rc = ds_savepoint_status(d, j, tid ? tid : "", &op);
	ds_job_put(d, j);
	if (rc)
		return rest_error(resp, 404, "There is no savepoint operation with triggerId=%.64s "
					     "for job %s.",
				  tid ? tid : "", j->id);
	cJSON *o = cJSON_CreateObject();
	cJSON *st = cJSON_AddObjectToObject(o, "status");
	cJSON_AddStringToObject(st, "id", op.done ? "COMPLETED" : "IN_PROGRESS");
	if (op.done) {
		cJSON *oper = cJSON_AddObjectToObject(o, "operation");
		if (op.rc == 0) {
			char loc[1200];
			snprintf(loc, sizeof(loc), "file:%s", op.result);
			cJSON_AddStringToObject(oper, "location", loc);
		} else {
			add_failure_cause(oper, "flinc.SavepointFailure", op.result);
		}
	}
	return rest_json(resp, 200, o);
}

/* ---- savepoint disposal (Flink's SavepointDisposalHandlers) */

static int h_dispose_trigger(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	cJSON *body = req->body_len > 0
			  ? cJSON_ParseWithLength((const char *)req->body, req->body_len)
			  : NULL;
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(body, "savepoint-path");
	char id[33];
	cm_err err = {0};
	int rc;
	if (!body || !cJSON_IsObject(body)) {
		rc = rest_error(resp, 400,
				"Request body is not a JSON object with savepoint-path (Flink's "
				"SavepointDisposalRequest)");
	} else if (!cJSON_IsString(path) || !path->valuestring[0]) {
		rc = rest_error(resp, 400, "savepoint-path must be a non-empty string");
	} else if ((rc = ds_dispose(d, path->valuestring, id, &err)) == 0) {
		/* How it ends, the operation's status says (Flink answers 202 for a
		 * path that turns out not to be a savepoint too). */
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "request-id", id);
		rc = rest_json(resp, 202, o);
	} else if (rc != FL_ENOMEM) {
		rc = rest_error(resp,
				rc == FL_EINVAL	  ? 400
				: rc == FL_ERANGE ? 429
						  : 503,
				"%s", err.msg);
	}
	cJSON_Delete(body);
	return rc;
}

static int h_dispose_status(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	const char *tid = rest_param(req, "triggerid");
	struct ds_dispose_op *op = malloc(sizeof(*op));
	if (!op)
		return FL_ENOMEM;
	if (ds_dispose_status(d, tid ? tid : "", op) != 0) {
		free(op);
		return rest_error(resp, 404,
				  "There is no savepoint disposal operation with triggerId=%.64s.",
				  tid ? tid : "");
	}
	cJSON *o = cJSON_CreateObject();
	cJSON *st = cJSON_AddObjectToObject(o, "status");
	cJSON_AddStringToObject(st, "id", op->done ? "COMPLETED" : "IN_PROGRESS");
	if (op->done) {
		cJSON *oper = cJSON_AddObjectToObject(o, "operation");
		if (op->rc != 0)
			add_failure_cause(oper, "flinc.SavepointDisposalFailure", op->result);
	}
	free(op);
	return rest_json(resp, 200, o);
}

static void dash_subtask_extra(cJSON *x, const jm_view *v, int vertex, int subtask, int64_t now);

struct vertex_req {
	const struct ds_job *j;
	int v;
	bool found;
	cJSON *out;
};

static void vertex_on_loop(void *arg, const jm_view *v)
{
	struct vertex_req *r = arg;
	if (r->v < 0 || (size_t)r->v >= v->jg->nvertices)
		return;
	const jg_vertex *jv = &v->jg->vertices[r->v];
	const eg_vertex *ev = &v->eg->vertices[r->v];
	int64_t now = cm_wall_ms();
	char id[33];
	jg_vertex_id(r->j->id, r->v, id);
	r->found = true;
	cJSON *o = r->out = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "name", jv->name);
	cJSON_AddNumberToObject(o, "parallelism", jv->parallelism);
	cJSON_AddNumberToObject(o, "maxParallelism", jv->max_parallelism);
	cJSON_AddNumberToObject(o, "now", (double)now);
	cJSON *subs = cJSON_AddArrayToObject(o, "subtasks");
	for (int i = 0; subs && i < ev->parallelism; i++) {
		const eg_subtask *s = &ev->subtasks[i];
		cJSON *x = cJSON_CreateObject();
		cJSON_AddNumberToObject(x, "subtask", i);
		cJSON_AddStringToObject(x, "status", tm_task_state_name(s->state));
		cJSON_AddNumberToObject(x, "attempt", 0);
		const char *tm = s->tm >= 0 && (size_t)s->tm < v->ntms ? v->tm_ids[s->tm] : NULL;
		cJSON_AddStringToObject(x, "endpoint", tm ? tm : "(unassigned)");
		cJSON_AddStringToObject(x, "taskmanager-id", tm ? tm : "(unassigned)");
		/* flinc's: the job's slot it runs in (shared by subtask i of a slot
		 * sharing group, and so of a co-location group). */
		cJSON_AddNumberToObject(x, "slot", sch_slot_of(v->jg, r->v, i));
		int64_t start = s->since[TM_TASK_DEPLOYING] ? s->since[TM_TASK_DEPLOYING] : -1;
		int64_t end = -1;
		for (int f = TM_TASK_FINISHED; f < TM_TASK_NSTATES; f++)
			if (f != TM_TASK_CANCELING && s->since[f] > end)
				end = s->since[f];
		if (end == 0)
			end = -1;
		cJSON_AddNumberToObject(x, "start-time", (double)start);
		cJSON_AddNumberToObject(x, "end-time", (double)end);
		cJSON_AddNumberToObject(x, "duration",
					start < 0 ? -1.0 : (double)((end > 0 ? end : now) - start));
		cJSON *ts = cJSON_AddObjectToObject(x, "status-timestamps");
		for (int st = 0; ts && st < TM_TASK_NSTATES; st++)
			cJSON_AddNumberToObject(ts, tm_task_state_name((enum tm_task_state)st),
						(double)s->since[st]);
		if (s->failure)
			cJSON_AddStringToObject(x, "failure-cause", s->failure);
		dash_subtask_extra(x, v, r->v, i, now);
		cJSON_AddItemToArray(subs, x);
	}
}

static int h_vertex(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	struct ds_job *j = job_of(d, req, resp);
	if (!j)
		return 0;
	const char *vid = rest_param(req, "vertexid");
	int rc = 0;
	unsigned v = 0;
	if (!vid || strlen(vid) != 32 || strncasecmp(vid, j->id, 24) != 0 ||
	    sscanf(vid + 24, "%8x", &v) != 1) {
		rc = rest_error(resp, 404, "Vertex %.64s of job %s not found", vid ? vid : "",
				j->id);
		ds_job_put(d, j);
		return rc;
	}
	pthread_mutex_lock(&d->mu);
	jm_jobmaster *jm = j->jm;
	pthread_mutex_unlock(&d->mu);
	struct vertex_req r = {.j = j, .v = (int)v};
	if (jm)
		jm_query(jm, vertex_on_loop, &r);
	if (r.found)
		rc = rest_json(resp, 200, r.out);
	else
		rc = rest_error(resp, 404,
				"Vertex %.64s of job %s not found (or the job is no longer "
				"running)",
				vid, j->id);
	ds_job_put(d, j);
	return rc;
}

static void dash_tm_details(ds_dispatcher *d, cJSON *x, const rm_tm_view *t);
static void dash_tm_assigned(ds_dispatcher *d, cJSON *x, const rm_tm_view *t);

static cJSON *resource_json(const cm_resource *r, int64_t network_bytes)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "cpuCores", (double)r->cpu_milli / 1000.0);
	cJSON_AddNumberToObject(o, "taskHeapMemory", (double)(r->heap_bytes >> 20));
	cJSON_AddNumberToObject(o, "taskOffHeapMemory", (double)(r->offheap_bytes >> 20));
	cJSON_AddNumberToObject(o, "managedMemory", (double)(r->managed_bytes >> 20));
	cJSON_AddNumberToObject(o, "networkMemory", (double)(network_bytes >> 20));
	cJSON_AddItemToObject(o, "extendedResources", cJSON_CreateObject());
	return o;
}

static cJSON *tm_json(const rm_tm_view *t, int64_t now)
{
	cJSON *x = cJSON_CreateObject();
	cJSON_AddStringToObject(x, "id", t->resource_id);
	cJSON_AddStringToObject(x, "path", t->rpc_address);
	const char *port = strrchr(t->data_address, ':');
	cJSON_AddNumberToObject(x, "dataPort", port ? atoi(port + 1) : -1);
	cJSON_AddNumberToObject(x, "jmxPort", -1);
	cJSON_AddNumberToObject(x, "timeSinceLastHeartbeat", (double)t->last_heard_wall_ms);
	cJSON_AddNumberToObject(x, "slotsNumber", t->slots);
	cJSON_AddNumberToObject(x, "freeSlots", t->free_slots);
	/* Flink's ResourceProfileInfo: cores and MiB; flinc's task memory is
	 * one pool, shown as task heap. */
	cJSON_AddItemToObject(x, "totalResource", resource_json(&t->total, t->network_bytes));
	cJSON_AddItemToObject(x, "freeResource", resource_json(&t->free, t->network_bytes));
	cJSON *hw = cJSON_AddObjectToObject(x, "hardware");
	cJSON_AddNumberToObject(hw, "cpuCores", (double)(t->cpu_milli / 1000));
	cJSON_AddNumberToObject(hw, "physicalMemory", (double)t->memory_bytes);
	cJSON_AddNumberToObject(hw, "freeMemory", (double)t->memory_bytes);
	cJSON_AddNumberToObject(hw, "managedMemory", (double)t->managed_bytes);
	cJSON_AddNumberToObject(x, "registered", (double)t->registered_wall_ms);
	(void)now;
	return x;
}

static int h_taskmanagers(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	rm_tm_view *tms = NULL;
	size_t n = 0;
	if (rm_list(d->rm, &tms, &n) != 0)
		return FL_ENOMEM;
	int64_t now = cm_wall_ms();
	cJSON *o = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(o, "taskmanagers");
	for (size_t i = 0; a && i < n; i++) {
		cJSON *x = tm_json(&tms[i], now);
		if (x)
			dash_tm_assigned(d, x, &tms[i]);
		cJSON_AddItemToArray(a, x);
	}
	free(tms);
	return rest_json(resp, 200, o);
}

static int h_taskmanager(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	const char *id = rest_param(req, "taskmanagerid");
	rm_tm_view t;
	if (rm_get(d->rm, id, &t) != 0)
		return rest_error(resp, 404, "TaskManager %.128s does not exist", id ? id : "");
	cJSON *x = tm_json(&t, cm_wall_ms());
	if (x)
		dash_tm_details(d, x, &t);
	return rest_json(resp, 200, x);
}

struct cfg_collect {
	cJSON *a;
};

static void add_key(void *arg, const char *key, const char *value)
{
	struct cfg_collect *c = arg;
	cJSON *x = cJSON_CreateObject();
	cJSON_AddStringToObject(x, "key", key);
	cJSON_AddStringToObject(x, "value", value);
	cJSON_AddItemToArray(c->a, x);
}

static int h_jm_config(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	struct cfg_collect c = {cJSON_CreateArray()};
	if (!c.a)
		return FL_ENOMEM;
	/* cfg_each hides secrets' values (CFG_HIDDEN). */
	cfg_each(d->config, add_key, &c);
	add_key(&c, "web.tmpdir", d->upload_dir);
	return rest_json(resp, 200, c.a);
}

static cJSON *jar_json(const struct ds_jar *jar)
{
	cJSON *x = cJSON_CreateObject();
	cJSON_AddStringToObject(x, "id", jar->id);
	cJSON_AddStringToObject(x, "name", jar->name);
	cJSON_AddNumberToObject(x, "uploaded", (double)jar->uploaded_ms);
	cJSON *entry = cJSON_AddArrayToObject(x, "entry");
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "name", "main");
	cJSON_AddNullToObject(e, "description");
	cJSON_AddItemToArray(entry, e);
	cJSON_AddStringToObject(x, "sha256", jar->hash);
	return x;
}

static int h_jars(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "address", d->rest_address);
	cJSON *a = cJSON_AddArrayToObject(o, "files");
	pthread_mutex_lock(&d->mu);
	for (struct ds_jar *j = d->jars; a && j; j = j->next)
		cJSON_AddItemToArray(a, jar_json(j));
	pthread_mutex_unlock(&d->mu);
	return rest_json(resp, 200, o);
}

static int h_jar_upload(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	const uint8_t *data = NULL;
	size_t len = 0;
	char filename[256] = "";
	cm_err err = {0};
	int rc = rest_multipart_file(req->content_type, req->body, req->body_len, "jarfile", &data,
				     &len, filename, sizeof(filename), &err);
	if (rc == FL_ENOENT)
		return rest_error(resp, 400,
				  "No file uploaded: POST /jars/upload takes multipart/form-data "
				  "with the job library in the field 'jarfile'");
	if (rc)
		return rest_error(resp, 400, "Malformed upload: %s", err.msg);
	struct ds_jar jar;
	rc = ds_jar_add(d, filename, data, len, &jar, &err);
	if (rc)
		return rest_error(resp,
				  rc == FL_ERANGE   ? 429
				  : rc == FL_EINVAL ? 400
						    : 500,
				  "%s", err.msg);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "filename", jar.path);
	cJSON_AddStringToObject(o, "status", "success");
	return rest_json(resp, 200, o);
}

static int h_jar_delete(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	const char *id = rest_param(req, "jarid");
	if (!id || ds_jar_delete(d, id) != 0)
		return rest_error(resp, 404, "Jar file %.160s does not exist", id ? id : "");
	return rest_json(resp, 200, cJSON_CreateObject());
}

/* Splits Flink's "programArgs" string on blanks (quotes group). */
static int split_args(const char *s, char ***out, int *n)
{
	size_t cap = strlen(s) / 2 + 2;
	char **v = calloc(cap, sizeof(char *));
	char *buf = malloc(strlen(s) + 1);
	if (!v || !buf) {
		free(v);
		free(buf);
		return FL_ENOMEM;
	}
	int k = 0;
	const char *p = s;
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		size_t m = 0;
		char q = 0;
		while (*p && (q || (*p != ' ' && *p != '\t'))) {
			if (!q && (*p == '"' || *p == '\''))
				q = *p;
			else if (q && *p == q)
				q = 0;
			else
				buf[m++] = *p;
			p++;
		}
		buf[m] = '\0';
		if (!(v[k++] = strdup(buf))) {
			for (int i = 0; i < k; i++)
				free(v[i]);
			free(v);
			free(buf);
			return FL_ENOMEM;
		}
	}
	free(buf);
	*out = v;
	*n = k;
	return 0;
}

/* What POST /jars/:jarid/run and /plan take (Flink's JarRunRequestBody and
 * JarPlanRequestBody; ?parallelism= too, as Flink's deprecated query
 * parameter). */
struct jar_request {
	cJSON *body;
	cfg *config; /* the cluster's with flinkConfiguration and parallelism */
	char **argv;
	int argc;
	const char *job_id; /* "jobId", into body; NULL when not given */
};

static void jar_request_fini(struct jar_request *q)
{
	for (int i = 0; q->argv && i < q->argc; i++)
		free(q->argv[i]);
	free(q->argv);
	cfg_free(q->config);
	cJSON_Delete(q->body);
}

/* Flink's restore settings of a run (JarRunRequestBody): savepointPath,
 * allowNonRestoredState and restoreMode (or claimMode, Flink 2's name, which
 * wins when both are given) into the run's configuration, over what
 * flinkConfiguration set. An empty savepointPath is none, as in Flink.
 * Returns 0 (*refused false), 0 with *refused and a 400 answer naming the
 * field in resp, or FL_ENOMEM. */
static int restore_settings(struct jar_request *q, rest_response *resp, bool *refused)
{
	*refused = true;
	const cJSON *sp = cJSON_GetObjectItemCaseSensitive(q->body, "savepointPath");
	const cJSON *anrs = cJSON_GetObjectItemCaseSensitive(q->body, "allowNonRestoredState");
	cm_err err = {0};
	if (sp && !cJSON_IsNull(sp)) {
		if (!cJSON_IsString(sp))
			return rest_error(resp, 400,
					  "savepointPath must be a string: the savepoint or "
					  "checkpoint to start the job from");
		if (sp->valuestring[0] &&
		    cfg_set(q->config, CFG_SAVEPOINT_PATH, sp->valuestring, &err) != 0)
			return rest_error(resp, 400, "savepointPath: %s", err.msg);
	}
	if (anrs && !cJSON_IsNull(anrs)) {
		if (!cJSON_IsBool(anrs))
			return rest_error(resp, 400, "allowNonRestoredState must be true or false");
		if (cfg_set(q->config, CFG_SAVEPOINT_IGNORE_UNCLAIMED,
			    cJSON_IsTrue(anrs) ? "true" : "false", &err) != 0)
			return rest_error(resp, 400, "allowNonRestoredState: %s", err.msg);
	}
	static const char *const modes[] = {"restoreMode", "claimMode"};
	for (size_t i = 0; i < sizeof(modes) / sizeof(*modes); i++) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(q->body, modes[i]);
		if (!m || cJSON_IsNull(m))
			continue;
		if (!cJSON_IsString(m))
			return rest_error(resp, 400, "%s must be a string: CLAIM or NO_CLAIM",
					  modes[i]);
		if (cfg_set(q->config, CFG_SAVEPOINT_RESTORE_MODE, m->valuestring, &err) != 0)
			return rest_error(resp, 400, "%s: %s", modes[i], err.msg);
	}
	*refused = false;
	return 0;
}

/* Parses req into q. Returns 0 (q filled; *answered false), 0 with
 * *answered true when the request was refused with a 4xx answer in resp,
 * or FL_ENOMEM. q is to be finished in every case. */
static int jar_request_parse(ds_dispatcher *d, const rest_request *req, rest_response *resp,
			     struct jar_request *q, bool *answered)
{
	*answered = true;
	if (req->body_len > 0) {
		q->body = cJSON_ParseWithLength((const char *)req->body, req->body_len);
		if (!q->body || !cJSON_IsObject(q->body))
			return rest_error(resp, 400, "Request body is not a JSON object: %s",
					  q->body ? "not an object" : "malformed JSON");
	}
	if (cfg_clone(d->config, &q->config) != 0)
		return FL_ENOMEM;
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(q->body, "programArgsList");
	const cJSON *str = cJSON_GetObjectItemCaseSensitive(q->body, "programArgs");
	const cJSON *par = cJSON_GetObjectItemCaseSensitive(q->body, "parallelism");
	const cJSON *conf = cJSON_GetObjectItemCaseSensitive(q->body, "flinkConfiguration");
	const cJSON *jid = cJSON_GetObjectItemCaseSensitive(q->body, "jobId");
	cm_err err = {0};
	if (jid && !cJSON_IsNull(jid)) {
		if (!cJSON_IsString(jid) || !valid_job_id(jid->valuestring))
			return rest_error(resp, 400, "jobId must be a job id of 32 hex digits");
		q->job_id = jid->valuestring;
	}
	if (list && !cJSON_IsNull(list)) {
		if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > 4096)
			return rest_error(resp, 400, "programArgsList must be an array of strings");
		q->argv = calloc((size_t)cJSON_GetArraySize(list) + 1, sizeof(char *));
		if (!q->argv)
			return FL_ENOMEM;
		const cJSON *x;
		cJSON_ArrayForEach(x, list)
		{
			if (!cJSON_IsString(x))
				return rest_error(resp, 400,
						  "programArgsList must be an array of strings");
			if (!(q->argv[q->argc++] = strdup(x->valuestring)))
				return FL_ENOMEM;
		}
	} else if (str && cJSON_IsString(str)) {
		int rc = split_args(str->valuestring, &q->argv, &q->argc);
		if (rc)
			return rc;
	}
	if (conf && !cJSON_IsNull(conf)) {
		if (!cJSON_IsObject(conf))
			return rest_error(resp, 400,
					  "flinkConfiguration must be an object of strings");
		const cJSON *x;
		cJSON_ArrayForEach(x, conf)
		{
			char num[64];
			const char *v = cJSON_IsString(x) ? x->valuestring : NULL;
			if (cJSON_IsNumber(x)) {
				snprintf(num, sizeof(num), "%.17g", x->valuedouble);
				v = num;
			} else if (cJSON_IsBool(x)) {
				v = cJSON_IsTrue(x) ? "true" : "false";
			}
			if (!v || cfg_set(q->config, x->string, v, &err) != 0)
				return rest_error(resp, 400, "flinkConfiguration: %s",
						  v ? err.msg : "values must be strings");
		}
	}
	/* After flinkConfiguration: "parallelism" (or ?parallelism=) wins over
	 * its parallelism.default, as in Flink's JarRunHandler and as -p does. */
	char pv[16];
	if (par && !cJSON_IsNull(par)) {
		if (!cJSON_IsNumber(par) || par->valuedouble < 1 || par->valuedouble > 32768 ||
		    par->valuedouble != (double)(int)par->valuedouble)
			return rest_error(resp, 400,
					  "parallelism must be an integer from 1 to 32768");
		snprintf(pv, sizeof(pv), "%d", (int)par->valuedouble);
	} else if (rest_query(req, "parallelism", pv, sizeof(pv)) != 0) {
		pv[0] = '\0';
	}
	if (pv[0] && cfg_set(q->config, CFG_PARALLELISM, pv, &err) != 0)
		return rest_error(resp, 400, "parallelism: %s", err.msg);
	bool refused;
	int rc = restore_settings(q, resp, &refused);
	if (rc || refused)
		return rc;
	*answered = false;
	return 0;
}

/* POST /jars/:jarid/run (plan false) and Flink's JarPlanHandler (plan true:
 * the job graph main() builds, nothing run). */
static int jar_main(ds_dispatcher *d, const rest_request *req, rest_response *resp, bool plan)
{
	const char *id = rest_param(req, "jarid");
	struct jar_request q = {0};
	bool answered;
	int rc = jar_request_parse(d, req, resp, &q, &answered);
	if (rc || answered)
		goto out;
	char job_id[33], *text = NULL;
	cm_err err = {0};
	if (plan)
		rc = ds_jar_plan(d, id ? id : "", q.argc, q.argv, q.config, q.job_id, &text, &err);
	else
		rc = ds_jar_run(d, id ? id : "", q.argc, q.argv, q.config, q.job_id, job_id, &err);
	q.config = NULL; /* taken over */
	if (rc) {
		rc = rc == FL_ENOMEM ? rc
				     : rest_error(resp,
						  rc == FL_ENOENT	   ? 404
						  : rc == FL_ETIMEDOUT ? 504
								       : 400,
						  "%s", err.msg);
	} else if (plan) {
		size_t n = strlen(text) + 16;
		char *s = malloc(n);
		if (s)
			snprintf(s, n, "{\"plan\":%s}", text);
		free(text);
		rc = json_text(resp, 200, s);
	} else {
		cJSON *o = cJSON_CreateObject();
		if (o && !cJSON_AddStringToObject(o, "jobid", job_id)) {
			cJSON_Delete(o);
			o = NULL;
		}
		rc = rest_json(resp, 200, o);
	}
out:
	jar_request_fini(&q);
	return rc;
}

static int h_jar_run(void *arg, const rest_request *req, rest_response *resp)
{
	return jar_main(arg, req, resp, false);
}

static int h_jar_plan(void *arg, const rest_request *req, rest_response *resp)
{
	return jar_main(arg, req, resp, true);
}

/* Prometheus text format (Flink's PrometheusReporter, on the REST port). */
static int h_metrics(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	size_t n = 0;
	int slots = 0, free_slots = 0;
	rm_totals(d->rm, &n, &slots, &free_slots);
	ds_counts c;
	ds_job_counts(d, &c);
	cm_wbuf w;
	cm_wbuf_init(&w, 1u << 20);
	char buf[2048];
	int len = snprintf(
	    buf, sizeof(buf),
	    "# HELP flinc_jobmanager_taskmanagers Registered TaskManagers.\n"
	    "# TYPE flinc_jobmanager_taskmanagers gauge\n"
	    "flinc_jobmanager_taskmanagers %zu\n"
	    "# HELP flinc_jobmanager_slots_total Task slots of the registered TaskManagers.\n"
	    "# TYPE flinc_jobmanager_slots_total gauge\n"
	    "flinc_jobmanager_slots_total %d\n"
	    "# HELP flinc_jobmanager_slots_available Task slots no job holds.\n"
	    "# TYPE flinc_jobmanager_slots_available gauge\n"
	    "flinc_jobmanager_slots_available %d\n"
	    "# HELP flinc_jobmanager_jobs Jobs by state.\n"
	    "# TYPE flinc_jobmanager_jobs gauge\n"
	    "flinc_jobmanager_jobs{state=\"running\"} %d\n"
	    "flinc_jobmanager_jobs{state=\"finished\"} %d\n"
	    "flinc_jobmanager_jobs{state=\"cancelled\"} %d\n"
	    "flinc_jobmanager_jobs{state=\"failed\"} %d\n"
	    "# HELP flinc_jobmanager_heartbeats_missed_total Heartbeat requests to TaskManagers "
	    "still unanswered when the next was due.\n"
	    "# TYPE flinc_jobmanager_heartbeats_missed_total counter\n"
	    "flinc_jobmanager_heartbeats_missed_total %llu\n"
	    "# HELP flinc_jobmanager_taskmanagers_lost_total TaskManagers forgotten after "
	    "heartbeat.timeout without a heartbeat.\n"
	    "# TYPE flinc_jobmanager_taskmanagers_lost_total counter\n"
	    "flinc_jobmanager_taskmanagers_lost_total %llu\n",
	    n, slots, free_slots, c.running, c.finished, c.cancelled, c.failed,
	    (unsigned long long)jm_heartbeats_missed(),
	    (unsigned long long)rm_lost_taskmanagers(d->rm));
	if (len > 0 && (size_t)len < sizeof(buf))
		cm_wbuf_raw(&w, buf, (size_t)len);
	cm_procstat_prometheus(&w, "component=\"jobmanager\"");
	int rc = rest_text(resp, 200, "text/plain; version=0.0.4; charset=utf-8", &w);
	cm_wbuf_fini(&w);
	return rc;
}

/* ------------------------------------------------------ web dashboard */
/*
 * What Apache Flink's web dashboard (served at / by jobmanager/web.c) asks
 * for beyond the API the CLI uses, in Flink's shapes. Most is read from
 * the job's /jobs/:id JSON (live from its JobMaster or archived), so a
 * running and an ended job answer alike. Where flinc has no such thing
 * yet the answer says so as Flink does when a feature is off: checkpoints
 * are Flink's 404 "Checkpointing is not enabled", back-pressure its
 * "deprecated" status, flame graphs its "disabled" graph, watermarks and
 * accumulators empty lists, metrics only the figures flinc measures.
 */

/* The job's /jobs/:id JSON, parsed; NULL when out of memory. */
static cJSON *dash_details(ds_dispatcher *d, struct ds_job *j)
{
	return job_tree(d, j, ds_details_tree, &j->details);
}

static double dash_num(const cJSON *o, const char *key)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(x) ? x->valuedouble : 0;
}

static const char *dash_str(const cJSON *o, const char *key)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(x) ? x->valuestring : "";
}

/* Flink's JobDetails (an entry of /jobs/overview) from a job's details:
 * "tasks" counts subtasks per ExecutionState in lower case, and "total". */
static cJSON *dash_job_item(const cJSON *det)
{
	cJSON *x = cJSON_CreateObject();
	cJSON_AddStringToObject(x, "jid", dash_str(det, "jid"));
	cJSON_AddStringToObject(x, "name", dash_str(det, "name"));
	cJSON_AddStringToObject(x, "state", dash_str(det, "state"));
	cJSON_AddStringToObject(x, "job-type", dash_str(det, "job-type"));
	double start = dash_num(det, "start-time"), end = dash_num(det, "end-time");
	cJSON_AddNumberToObject(x, "start-time", start);
	cJSON_AddNumberToObject(x, "end-time", end);
	cJSON_AddNumberToObject(x, "duration", dash_num(det, "duration"));
	double last = start;
	const cJSON *t;
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(det, "timestamps"))
	{
		if (cJSON_IsNumber(t) && t->valuedouble > last)
			last = t->valuedouble;
	}
	cJSON_AddNumberToObject(x, "last-modification", last);
	cJSON *tasks = cJSON_AddObjectToObject(x, "tasks");
	double total = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(det, "status-counts"))
	{
		char lower[32];
		size_t i = 0;
		for (; c->string[i] && i + 1 < sizeof(lower); i++)
			lower[i] = (char)(c->string[i] >= 'A' && c->string[i] <= 'Z'
					      ? c->string[i] - 'A' + 'a'
					      : c->string[i]);
		lower[i] = '\0';
		cJSON_AddNumberToObject(tasks, lower, c->valuedouble);
		total += c->valuedouble;
	}
	cJSON_AddNumberToObject(tasks, "total", total);
	return x;
}

/* ---- applications (Flink 2.3). flinc has no application entity yet:
 * each job is shown as an application of its own, under the job's id (as
 * Flink wraps a job submitted alone), so a main() that submits several
 * jobs shows as several applications. */

/* Flink's ApplicationState of a job's state. */
static const char *dash_app_state(const char *job_state)
{
	static const char *const same[] = {"CREATED",  "RUNNING",  "FAILING", "FAILED",
					   "CANCELED", "FINISHED", NULL};
	for (int i = 0; same[i]; i++)
		if (strcmp(job_state, same[i]) == 0)
			return job_state;
	if (strcmp(job_state, "CANCELLING") == 0)
		return "CANCELING";
	if (strcmp(job_state, "INITIALIZING") == 0)
		return "CREATED";
	if (strcmp(job_state, "SUSPENDED") == 0)
		return "FAILED";
	return "RUNNING"; /* RESTARTING, RECONCILING */
}

static cJSON *dash_app_head(const cJSON *det)
{
	cJSON *x = cJSON_CreateObject();
	cJSON_AddStringToObject(x, "id", dash_str(det, "jid"));
	cJSON_AddStringToObject(x, "name", dash_str(det, "name"));
	cJSON_AddStringToObject(x, "status", dash_app_state(dash_str(det, "state")));
	cJSON_AddNumberToObject(x, "start-time", dash_num(det, "start-time"));
	cJSON_AddNumberToObject(x, "end-time", dash_num(det, "end-time"));
	cJSON_AddNumberToObject(x, "duration", dash_num(det, "duration"));
	return x;
}

static int h_dash_apps(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	size_t n = 0;
	struct ds_job **a = dash_jobs_get(d, &n);
	if (!a)
		return FL_ENOMEM;
	cJSON *o = cJSON_CreateObject();
	cJSON *apps = cJSON_AddArrayToObject(o, "applications");
	int rc = 0;
	for (size_t i = 0; apps && i < n; i++) {
		cJSON *det = dash_details(d, a[i]);
		if (!det) {
			rc = FL_ENOMEM;
			break;
		}
		cJSON *x = dash_app_head(det);
		cJSON *jobs = cJSON_AddObjectToObject(x, "jobs");
		cJSON_AddNumberToObject(jobs, dash_str(det, "state"), 1);
		cJSON_AddItemToArray(apps, x);
		cJSON_Delete(det);
	}
	dash_jobs_put(d, a, n);
	if (rc) {
		cJSON_Delete(o);
		return rc;
	}
	return rest_json(resp, 200, o);
}

static int h_dash_app(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	struct ds_job *j = job_of(d, req, resp);
	if (!j)
		return 0;
	cJSON *det = dash_details(d, j);
	ds_job_put(d, j);
	if (!det)
		return FL_ENOMEM;
	cJSON *x = dash_app_head(det);
	cJSON *ts = cJSON_AddObjectToObject(x, "timestamps");
	const cJSON *t;
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(det, "timestamps"))
	{
		const char *s = dash_app_state(t->string);
		if (strcmp(s, t->string) == 0 && cJSON_IsNumber(t))
			cJSON_AddNumberToObject(ts, s, t->valuedouble);
	}
	cJSON *jobs = cJSON_AddArrayToObject(x, "jobs");
	cJSON_AddItemToArray(jobs, dash_job_item(det));
	cJSON_Delete(det);
	return rest_json(resp, 200, x);
}

static int h_dash_app_exceptions(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	struct ds_job *j = job_of(d, req, resp);
	if (!j)
		return 0;
	cJSON *ex = job_tree(d, j, ds_exceptions_tree, &j->exceptions);
	char id[33];
	snprintf(id, sizeof(id), "%s", j->id);
	ds_job_put(d, j);
	if (!ex)
		return FL_ENOMEM;
	cJSON *o = cJSON_CreateObject();
	cJSON *hist = cJSON_AddObjectToObject(o, "exceptionHistory");
	cJSON *entries = cJSON_AddArrayToObject(hist, "entries");
	const cJSON *e;
	cJSON_ArrayForEach(e,
			   cJSON_GetObjectItemCaseSensitive(
			       cJSON_GetObjectItemCaseSensitive(ex, "exceptionHistory"), "entries"))
	{
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "exceptionName", dash_str(e, "exceptionName"));
		cJSON_AddStringToObject(x, "stacktrace", dash_str(e, "stacktrace"));
		cJSON_AddNumberToObject(x, "timestamp", dash_num(e, "timestamp"));
		cJSON_AddStringToObject(x, "jobId", id);
		cJSON_AddItemToArray(entries, x);
	}
	cJSON_Delete(ex);
	return rest_json(resp, 200, o);
}

/* ---- a job's vertices */

/* What the dashboard's subtask table reads beyond GET .../vertices/:id:
 * Flink's "metrics" (records are known per vertex, so per subtask only
 * when there is one; otherwise they say incomplete) and "status-duration",
 * the time spent in each state up to RUNNING. */
static void dash_subtask_extra(cJSON *x, const jm_view *v, int vertex, int subtask, int64_t now)
{
	const jg_vertex *jv = &v->jg->vertices[vertex];
	const eg_subtask *s = &v->eg->vertices[vertex].subtasks[subtask];
	double in = 0, out = 0;
	bool known = jv->parallelism == 1;
	if (known)
		vertex_records(v, jv, &in, &out);
	cJSON_AddItemToObject(x, "metrics",
			      metrics_json(in, out, known && v->vertex_io ? &v->vertex_io[vertex] : NULL,
					   known));
	static const enum tm_task_state order[] = {TM_TASK_CREATED, TM_TASK_SCHEDULED,
						   TM_TASK_DEPLOYING, TM_TASK_RUNNING};
	cJSON *d = cJSON_AddObjectToObject(x, "status-duration");
	for (size_t k = 0; d && k < sizeof(order) / sizeof(*order); k++) {
		int64_t since = s->since[order[k]], until = 0;
		/* Left at the first later state entered (or a final one). */
		for (int f = order[k] + 1; since > 0 && f < TM_TASK_NSTATES; f++)
			if (s->since[f] >= since && (until == 0 || s->since[f] < until))
				until = s->since[f];
		if (since > 0 && until == 0)
			until = now;
		cJSON_AddNumberToObject(d, tm_task_state_name(order[k]),
					since > 0 ? (double)(until - since) : 0);
	}
}

/* Looks up :jobid and :vertexid. Returns the vertex inside *det (the job's
 * details, for the caller to free), or NULL having answered 400/404, or
 * NULL with *rc = FL_ENOMEM. */
static const cJSON *dash_vertex(ds_dispatcher *d, const rest_request *req, rest_response *resp,
				cJSON **det, int *rc)
{
	*det = NULL;
	*rc = 0;
	struct ds_job *j = job_of(d, req, resp);
	if (!j)
		return NULL;
	*det = dash_details(d, j);
	ds_job_put(d, j);
	if (!*det) {
		*rc = FL_ENOMEM;
		return NULL;
	}
	const char *vid = rest_param(req, "vertexid");
	const cJSON *v;
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(*det, "vertices"))
	{
		if (vid && strcasecmp(dash_str(v, "id"), vid) == 0)
			return v;
	}
	*rc = rest_error(resp, 404, "Vertex %.64s of job %s not found", vid ? vid : "",
			 dash_str(*det, "jid"));
	return NULL;
}

/* Whether metric id is in the comma-separated list get ("" matches all). */
static bool dash_wanted(const char *get, const char *id)
{
	if (!*get)
		return true;
	size_t n = strlen(id);
	for (const char *p = get; p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == n && strncmp(p, id, n) == 0)
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

/* GET .../subtasks/metrics[?get=a,b]: Flink's aggregated metrics. flinc's
 * JobMaster knows a vertex's records in and out summed over its subtasks,
 * so those two have their "sum" and nothing else; other metrics (rates,
 * busy and back-pressured time, bytes) are not measured and not listed. */
static int h_dash_subtask_metrics(void *arg, const rest_request *req, rest_response *resp)
{
	cJSON *det;
	int rc;
	const cJSON *v = dash_vertex(arg, req, resp, &det, &rc);
	if (!v) {
		cJSON_Delete(det);
		return rc;
	}
	char get[2048] = "";
	bool values = rest_query(req, "get", get, sizeof(get)) == 0;
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(v, "metrics");
	const struct {
		const char *id, *field;
	} known[] = {{"numRecordsIn", "read-records"}, {"numRecordsOut", "write-records"}};
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; a && i < sizeof(known) / sizeof(*known); i++) {
		if (values && !dash_wanted(get, known[i].id))
			continue;
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "id", known[i].id);
		if (values)
			cJSON_AddNumberToObject(x, "sum", dash_num(m, known[i].field));
		cJSON_AddItemToArray(a, x);
	}
	cJSON_Delete(det);
	return rest_json(resp, 200, a);
}

/* Answers 200 with build(vertex) after checking the job and the vertex. */
static int dash_vertex_answer(void *arg, const rest_request *req, rest_response *resp,
			      cJSON *(*build)(const cJSON *v))
{
	cJSON *det;
	int rc;
	const cJSON *v = dash_vertex(arg, req, resp, &det, &rc);
	if (v)
		rc = rest_json(resp, 200, build(v));
	cJSON_Delete(det);
	return rc;
}

static cJSON *dash_empty_list(const cJSON *v)
{
	(void)v;
	return cJSON_CreateArray();
}

/* Per-subtask metrics ("0.numRecordsIn"): flinc's JobMaster has none. */
static int h_dash_vertex_metrics(void *arg, const rest_request *req, rest_response *resp)
{
	return dash_vertex_answer(arg, req, resp, dash_empty_list);
}

/* Watermarks: flinc's sources emit none yet. */
static int h_dash_watermarks(void *arg, const rest_request *req, rest_response *resp)
{
	return dash_vertex_answer(arg, req, resp, dash_empty_list);
}

static cJSON *dash_accumulators(const cJSON *v)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", dash_str(v, "id"));
	cJSON_AddItemToObject(o, "user-accumulators", cJSON_CreateArray());
	return o;
}

static int h_dash_accumulators(void *arg, const rest_request *req, rest_response *resp)
{
	return dash_vertex_answer(arg, req, resp, dash_accumulators);
}

static cJSON *dash_subtask_accumulators(const cJSON *v)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", dash_str(v, "id"));
	cJSON_AddNumberToObject(o, "parallelism", dash_num(v, "parallelism"));
	cJSON_AddItemToObject(o, "subtasks", cJSON_CreateArray());
	return o;
}

static int h_dash_subtask_accumulators(void *arg, const rest_request *req, rest_response *resp)
{
	return dash_vertex_answer(arg, req, resp, dash_subtask_accumulators);
}

/* Flink's answer when no back-pressure statistics are available. */
static cJSON *dash_backpressure(const cJSON *v)
{
	(void)v;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "status", "deprecated");
	return o;
}

static int h_dash_backpressure(void *arg, const rest_request *req, rest_response *resp)
{
	return dash_vertex_answer(arg, req, resp, dash_backpressure);
}

/* Flink's answer with rest.flamegraph.enabled off (endTimestamp -2). */
static cJSON *dash_flamegraph(const cJSON *v)
{
	(void)v;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "endTimestamp", -2);
	cJSON_AddNullToObject(o, "data");
	return o;
}

static int h_dash_flamegraph(void *arg, const rest_request *req, rest_response *resp)
{
	return dash_vertex_answer(arg, req, resp, dash_flamegraph);
}

/* Flink's 404 for a job without checkpointing: flinc has none yet. */
/* ---- checkpoints (Flink's CheckpointingStatistics and friends) */

static const char *cp_status_name(enum cp_status st)
{
	return st == CP_COMPLETED ? "COMPLETED" : st == CP_FAILED ? "FAILED" : "IN_PROGRESS";
}

/* Flink's CheckpointStatistics of one checkpoint. */
static cJSON *cp_stat_json(const cp_stat *s)
{
	cJSON *x = cJSON_CreateObject();
	cJSON_AddStringToObject(x, "className",
				s->status == CP_COMPLETED ? "completed"
				: s->status == CP_FAILED  ? "failed"
							  : "in_progress");
	cJSON_AddNumberToObject(x, "id", (double)s->id);
	cJSON_AddStringToObject(x, "status", cp_status_name(s->status));
	cJSON_AddBoolToObject(x, "is_savepoint", s->kind == CP_SAVEPOINT);
	if (s->kind == CP_SAVEPOINT)
		cJSON_AddStringToObject(x, "savepointFormat", "CANONICAL");
	cJSON_AddNumberToObject(x, "trigger_timestamp", (double)s->trigger_ms);
	cJSON_AddNumberToObject(x, "latest_ack_timestamp",
				s->latest_ack_ms ? (double)s->latest_ack_ms : -1);
	cJSON_AddNumberToObject(x, "checkpointed_size", (double)s->state_bytes);
	cJSON_AddNumberToObject(x, "state_size", (double)s->state_bytes);
	cJSON_AddNumberToObject(x, "end_to_end_duration", (double)s->duration_ms);
	cJSON_AddNumberToObject(x, "alignment_buffered", 0);
	cJSON_AddNumberToObject(x, "processed_data", 0);
	cJSON_AddNumberToObject(x, "persisted_data", 0);
	cJSON_AddNumberToObject(x, "num_subtasks", (double)s->ntasks);
	cJSON_AddNumberToObject(x, "num_acknowledged_subtasks", (double)s->acked);
	cJSON_AddStringToObject(x, "checkpoint_type",
				s->kind == CP_SAVEPOINT ? "SAVEPOINT" : "CHECKPOINT");
	cJSON_AddItemToObject(x, "tasks", cJSON_CreateObject());
	if (s->status == CP_COMPLETED) {
		cJSON_AddStringToObject(x, "external_path", s->path);
		cJSON_AddBoolToObject(x, "discarded", false);
	} else if (s->status == CP_FAILED) {
		cJSON_AddNumberToObject(x, "failure_timestamp",
					(double)(s->trigger_ms + s->duration_ms));
		cJSON_AddStringToObject(x, "failure_message", s->failure);
	}
	return x;
}

/* Flink's MinMaxAvgStatistics from a min, max and sum over n values. */
static cJSON *cp_minmax(uint64_t min, uint64_t max, uint64_t sum, uint64_t n)
{
	cJSON *x = cJSON_CreateObject();
	double avg = n ? (double)sum / (double)n : 0;
	cJSON_AddNumberToObject(x, "min", (double)(n ? min : 0));
	cJSON_AddNumberToObject(x, "max", (double)max);
	cJSON_AddNumberToObject(x, "avg", avg);
	/* Percentiles need the values; flinc keeps min, max and the sum. */
	static const char *const pct[] = {"p50", "p90", "p95", "p99", "p999"};
	for (size_t i = 0; i < sizeof(pct) / sizeof(*pct); i++)
		cJSON_AddNumberToObject(x, pct[i], avg);
	return x;
}

/* The job's coordinator, or NULL having answered 404 (a batch job). */
static struct ds_job *cp_job_of(ds_dispatcher *d, const rest_request *req, rest_response *resp)
{
	struct ds_job *j = job_of(d, req, resp);
	if (j && !j->cp) {
		rest_error(resp, 404, "Checkpointing is not enabled for this job (%s).", j->id);
		ds_job_put(d, j);
		return NULL;
	}
	return j;
}

/* A copy of the job's checkpoint statistics (malloc'd), or NULL having
 * answered 400/404 (*rc 0) or with *rc FL_ENOMEM. */
static cp_stats *cp_stats_of(ds_dispatcher *d, const rest_request *req, rest_response *resp,
			     int *rc)
{
	*rc = 0;
	struct ds_job *j = cp_job_of(d, req, resp);
	if (!j)
		return NULL;
	cp_stats *st = malloc(sizeof(*st));
	if (st)
		cp_get_stats(j->cp, st);
	else
		*rc = FL_ENOMEM;
	ds_job_put(d, j);
	return st;
}

static int h_checkpoints(void *arg, const rest_request *req, rest_response *resp)
{
	int rc;
	cp_stats *st = cp_stats_of(arg, req, resp, &rc);
	if (!st)
		return rc;
	cJSON *o = cJSON_CreateObject();
	cJSON *counts = cJSON_AddObjectToObject(o, "counts");
	cJSON_AddNumberToObject(counts, "restored", (double)st->restored);
	cJSON_AddNumberToObject(counts, "total", (double)st->triggered);
	cJSON_AddNumberToObject(counts, "in_progress", (double)st->in_progress);
	cJSON_AddNumberToObject(counts, "completed", (double)st->completed);
	cJSON_AddNumberToObject(counts, "failed", (double)st->failed);
	cJSON *sum = cJSON_AddObjectToObject(o, "summary");
	cJSON_AddItemToObject(sum, "checkpointed_size",
			      cp_minmax(st->min_size, st->max_size, st->sum_size, st->completed));
	cJSON_AddItemToObject(sum, "state_size",
			      cp_minmax(st->min_size, st->max_size, st->sum_size, st->completed));
	cJSON_AddItemToObject(
	    sum, "end_to_end_duration",
	    cp_minmax(st->min_duration, st->max_duration, st->sum_duration, st->completed));
	cJSON_AddItemToObject(sum, "alignment_buffered", cp_minmax(0, 0, 0, 0));
	cJSON_AddItemToObject(sum, "processed_data", cp_minmax(0, 0, 0, 0));
	cJSON_AddItemToObject(sum, "persisted_data", cp_minmax(0, 0, 0, 0));
	cJSON *latest = cJSON_AddObjectToObject(o, "latest");
	if (st->have_completed)
		cJSON_AddItemToObject(latest, "completed", cp_stat_json(&st->latest_completed));
	else
		cJSON_AddNullToObject(latest, "completed");
	if (st->have_savepoint)
		cJSON_AddItemToObject(latest, "savepoint", cp_stat_json(&st->latest_savepoint));
	else
		cJSON_AddNullToObject(latest, "savepoint");
	if (st->have_failed)
		cJSON_AddItemToObject(latest, "failed", cp_stat_json(&st->latest_failed));
	else
		cJSON_AddNullToObject(latest, "failed");
	if (st->have_restored) {
		cJSON *r = cJSON_AddObjectToObject(latest, "restored");
		cJSON_AddNumberToObject(r, "id", (double)st->restored_id);
		cJSON_AddNumberToObject(r, "restore_timestamp", (double)st->restored_ms);
		cJSON_AddBoolToObject(r, "is_savepoint", strstr(st->restored_path, "savepoint-") != NULL);
		cJSON_AddStringToObject(r, "external_path", st->restored_path);
	} else {
		cJSON_AddNullToObject(latest, "restored");
	}
	cJSON *h = cJSON_AddArrayToObject(o, "history");
	for (size_t i = 0; h && i < st->nhistory; i++)
		cJSON_AddItemToArray(h, cp_stat_json(&st->history[i]));
	free(st);
	return rest_json(resp, 200, o);
}

static int h_checkpoints_config(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	struct ds_job *j = cp_job_of(d, req, resp);
	if (!j)
		return 0;
	cp_config c;
	cp_get_config(j->cp, &c);
	ds_job_put(d, j);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "mode", c.exactly_once ? "exactly_once" : "at_least_once");
	/* Flink's Long.MAX_VALUE when periodic checkpoints are off. */
	cJSON_AddNumberToObject(o, "interval",
				c.interval_ms > 0 ? (double)c.interval_ms : 9223372036854775807.0);
	cJSON_AddNumberToObject(o, "timeout", (double)c.timeout_ms);
	cJSON_AddNumberToObject(o, "min_pause", (double)c.min_pause_ms);
	cJSON_AddNumberToObject(o, "max_concurrent", c.max_concurrent);
	cJSON *ext = cJSON_AddObjectToObject(o, "externalization");
	cJSON_AddBoolToObject(ext, "enabled", c.retention != CP_RETAIN_NONE);
	cJSON_AddBoolToObject(ext, "delete_on_cancellation",
			      c.retention != CP_RETAIN_ON_CANCEL);
	cJSON_AddStringToObject(o, "state_backend", "hashmap");
	cJSON_AddStringToObject(o, "checkpoint_storage", "FileSystemCheckpointStorage");
	cJSON_AddBoolToObject(o, "unaligned_checkpoints", false);
	cJSON_AddNumberToObject(o, "tolerable_failed_checkpoints", c.tolerable_failures);
	cJSON_AddNumberToObject(o, "aligned_checkpoint_timeout", 0);
	/* flinc triggers only while every task runs. */
	cJSON_AddBoolToObject(o, "checkpoints_after_tasks_finish", false);
	cJSON_AddBoolToObject(o, "state_changelog_enabled", false);
	cJSON_AddNumberToObject(o, "changelog_periodic_materialization_interval", 0);
	cJSON_AddStringToObject(o, "changelog_storage", "memory");
	return rest_json(resp, 200, o);
}

static int h_checkpoint_details(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	const char *cid = rest_param(req, "checkpointid");
	char *end = NULL;
	unsigned long long id = cid ? strtoull(cid, &end, 10) : 0;
	if (!cid || !*cid || *end || id == 0)
		return rest_error(resp, 400, "Invalid checkpoint id '%.32s': a positive number",
				  cid ? cid : "");
	int rc;
	cp_stats *st = cp_stats_of(d, req, resp, &rc);
	if (!st)
		return rc;
	cJSON *o = NULL;
	for (size_t i = 0; !o && i < st->nhistory; i++)
		if (st->history[i].id == id)
			o = cp_stat_json(&st->history[i]);
	free(st);
	if (!o)
		return rest_error(resp, 404,
				  "Could not find checkpointing statistics for checkpoint %llu.", id);
	return rest_json(resp, 200, o);
}

/* Flink's aggregate state of subtasks counted by state (its
 * ExecutionJobVertex.getAggregateJobVertexState). */
static const char *dash_aggregate_state(const cJSON *counts, int total)
{
	static const char *const first[] = {"FAILED",	    "CANCELING", "CANCELED",
					    "INITIALIZING", "RUNNING",	 NULL};
	for (int i = 0; first[i]; i++)
		if (dash_num(counts, first[i]) > 0)
			return first[i];
	int fin = (int)dash_num(counts, "FINISHED");
	if (fin > 0)
		return fin == total ? "FINISHED" : "RUNNING";
	static const char *const rest[] = {"DEPLOYING", "SCHEDULED", "RECONCILING", NULL};
	for (int i = 0; rest[i]; i++)
		if (dash_num(counts, rest[i]) > 0)
			return rest[i];
	return "CREATED";
}

/* GET .../vertices/:vertexid/taskmanagers: the vertex's subtasks grouped
 * by TaskManager (running jobs, as GET .../vertices/:vertexid). Records per
 * TaskManager are not known (the JobMaster sums them per vertex): their
 * metrics say incomplete, as Flink's do before every subtask reported. */
static int h_dash_vertex_tms(void *arg, const rest_request *req, rest_response *resp)
{
	int rc = h_vertex(arg, req, resp);
	if (rc || resp->status != 200)
		return rc;
	cJSON *vx = cJSON_ParseWithLength((const char *)resp->body, resp->body_len);
	if (!vx)
		return FL_ENOMEM;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", dash_str(vx, "id"));
	cJSON_AddStringToObject(o, "name", dash_str(vx, "name"));
	double now = dash_num(vx, "now");
	cJSON_AddNumberToObject(o, "now", now);
	cJSON *tms = cJSON_AddArrayToObject(o, "taskmanagers");
	const cJSON *sub;
	cJSON_ArrayForEach(sub, cJSON_GetObjectItemCaseSensitive(vx, "subtasks"))
	{
		const char *tm = dash_str(sub, "taskmanager-id");
		cJSON *g = NULL, *x;
		cJSON_ArrayForEach(x, tms)
		{
			if (strcmp(dash_str(x, "taskmanager-id"), tm) == 0)
				g = x;
		}
		if (!g) {
			g = cJSON_CreateObject();
			cJSON_AddStringToObject(g, "host", tm);
			cJSON_AddStringToObject(g, "endpoint", tm);
			cJSON_AddStringToObject(g, "taskmanager-id", tm);
			cJSON_AddNumberToObject(g, "start-time", -1);
			cJSON_AddNumberToObject(g, "end-time", -1);
			cJSON_AddItemToObject(g, "metrics", metrics_json(0, 0, NULL, false));
			cJSON_AddItemToObject(g, "status-counts", state_counts(NULL));
			cJSON_AddItemToArray(tms, g);
		}
		double st = dash_num(sub, "start-time"), en = dash_num(sub, "end-time");
		cJSON *gs = cJSON_GetObjectItemCaseSensitive(g, "start-time");
		cJSON *ge = cJSON_GetObjectItemCaseSensitive(g, "end-time");
		if (st > 0 && (gs->valuedouble < 0 || st < gs->valuedouble))
			cJSON_SetNumberValue(gs, st);
		if (en > ge->valuedouble)
			cJSON_SetNumberValue(ge, en);
		cJSON *c = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(g, "status-counts"), dash_str(sub, "status"));
		if (c)
			cJSON_SetNumberValue(c, c->valuedouble + 1);
	}
	cJSON *g;
	cJSON_ArrayForEach(g, tms)
	{
		const cJSON *counts = cJSON_GetObjectItemCaseSensitive(g, "status-counts");
		int total = 0;
		const cJSON *c;
		cJSON_ArrayForEach(c, counts) total += (int)c->valuedouble;
		const char *state = dash_aggregate_state(counts, total);
		cJSON_AddStringToObject(g, "status", state);
		double st = dash_num(g, "start-time"), en = dash_num(g, "end-time");
		bool ended = !strcmp(state, "FINISHED") || !strcmp(state, "CANCELED") ||
			     !strcmp(state, "FAILED");
		if (!ended)
			cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(g, "end-time"), -1);
		cJSON_AddNumberToObject(g, "duration",
					st < 0 ? -1 : (ended && en > 0 ? en : now) - st);
	}
	cJSON_Delete(vx);
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
	return rest_json(resp, 200, o);
}

/* ---- Rescales (Flink 2.3's /jobs/:jobid/rescales/..., FLIP-487) */

enum rescales_view { RV_CONFIG, RV_OVERVIEW, RV_HISTORY, RV_SUMMARY, RV_DETAILS };

/* One of the views of job :jobid's rescale history, with Flink's answers
 * when there is none: a job that is not adaptive, or kept no history
 * (web.adaptive-scheduler.rescale-history.size 0), has only 404s. */
static int rescales_answer(ds_dispatcher *d, const rest_request *req, rest_response *resp,
			   enum rescales_view view)
{
	struct ds_job *j = job_of(d, req, resp);
	if (!j)
		return 0;
	const char *uuid = view == RV_DETAILS ? rest_param(req, "rescaleuuid") : NULL;
	cJSON *o = NULL;
	bool found = true;
	pthread_mutex_lock(&d->mu);
	const rh_history *h = j->rescales;
	bool kept = h && rh_config_of(h)->history_max > 0;
	if (view == RV_CONFIG && h)
		o = rh_config_json(h);
	else if (view == RV_OVERVIEW && kept)
		o = rh_overview_json(h);
	else if (view == RV_HISTORY && kept)
		o = rh_history_json(h);
	else if (view == RV_SUMMARY && kept)
		o = rh_summary_json(h);
	else if (view == RV_DETAILS && kept)
		o = rh_details_json(h, uuid ? uuid : "", &found);
	pthread_mutex_unlock(&d->mu);
	int rc;
	if (o)
		rc = rest_json(resp, 200, o);
	else if (view == RV_CONFIG && !h)
		rc = rest_error(resp, 404, "AdaptiveScheduler is not enabled for this job (%s).",
				j->id);
	else if (!kept)
		rc = rest_error(resp, 404,
				"The job `%s` has not enabled the `Adaptive` scheduler, or it has "
				"been enabled but the value of configuration option `%s` has not "
				"been set to greater than `0`.",
				j->id, CFG_WEB_RESCALE_HISTORY);
	else if (!found)
		rc = rest_error(resp, 404,
				"Could not find rescale details of specified rescaleUuid %.64s.",
				uuid ? uuid : "");
	else
		rc = FL_ENOMEM;
	ds_job_put(d, j);
	return rc;
}

static int h_rescales_config(void *arg, const rest_request *req, rest_response *resp)
{
	return rescales_answer(arg, req, resp, RV_CONFIG);
}

static int h_rescales_overview(void *arg, const rest_request *req, rest_response *resp)
{
	return rescales_answer(arg, req, resp, RV_OVERVIEW);
}

static int h_rescales_history(void *arg, const rest_request *req, rest_response *resp)
{
	return rescales_answer(arg, req, resp, RV_HISTORY);
}

static int h_rescales_summary(void *arg, const rest_request *req, rest_response *resp)
{
	return rescales_answer(arg, req, resp, RV_SUMMARY);
}

static int h_rescales_details(void *arg, const rest_request *req, rest_response *resp)
{
	return rescales_answer(arg, req, resp, RV_DETAILS);
}

/* ---- TaskManagers */

/* Slots one job holds on a TaskManager, and the tasks in each. */
#define DASH_MAX_SLOTS 256
struct dash_slots {
	const char *tm;
	int slots;
	int tasks[DASH_MAX_SLOTS]; /* per slot */
	int total;		   /* tasks on the TaskManager */
};

/* On the job's loop: with slot sharing, slot i of a group holds the i-th of
 * each of its vertices' subtasks on that TaskManager, so the group needs
 * as many slots there as its busiest vertex has subtasks, and slot i has
 * a task of every vertex with more than i subtasks there. */
static void dash_slots_on_loop(void *arg, const jm_view *v)
{
	struct dash_slots *r = arg;
	int tm = -1;
	for (size_t i = 0; i < v->ntms; i++)
		if (v->tm_ids[i] && strcmp(v->tm_ids[i], r->tm) == 0)
			tm = (int)i;
	if (tm < 0)
		return;
	size_t nv = v->jg->nvertices;
	for (size_t k = 0; k < nv; k++) {
		const char *g = v->jg->vertices[k].slot_group ? v->jg->vertices[k].slot_group : "";
		bool first = true; /* the group is counted at its first vertex */
		for (size_t q = 0; q < k && first; q++) {
			const char *h =
			    v->jg->vertices[q].slot_group ? v->jg->vertices[q].slot_group : "";
			first = strcmp(g, h) != 0;
		}
		if (!first)
			continue;
		int base = r->slots, most = 0;
		for (size_t q = k; q < nv; q++) {
			const char *h =
			    v->jg->vertices[q].slot_group ? v->jg->vertices[q].slot_group : "";
			if (strcmp(g, h) != 0)
				continue;
			const eg_vertex *ev = &v->eg->vertices[q];
			int here = 0;
			for (int i = 0; i < ev->parallelism; i++)
				if (ev->subtasks[i].tm == tm &&
				    !tm_task_state_is_final(ev->subtasks[i].state))
					here++;
			for (int i = 0; i < here && base + i < DASH_MAX_SLOTS; i++)
				r->tasks[base + i]++;
			r->total += here;
			if (here > most)
				most = here;
		}
		r->slots = base + most < DASH_MAX_SLOTS ? base + most : DASH_MAX_SLOTS;
	}
}

/* Fills Flink's allocatedSlots of TaskManager t into a (when not NULL): one
 * entry per slot a running job holds there, with its tasks and its share
 * of the TaskManager's resources. Returns the tasks running there. */
static int dash_tm_slots(ds_dispatcher *d, cJSON *a, const rm_tm_view *t)
{
	size_t n = 0;
	int total = 0;
	struct ds_job **jobs = dash_jobs_get(d, &n);
	for (size_t i = 0; jobs && i < n; i++) {
		pthread_mutex_lock(&d->mu);
		jm_jobmaster *jm = jobs[i]->jm;
		pthread_mutex_unlock(&d->mu);
		struct dash_slots *r = calloc(1, sizeof(*r));
		if (!r)
			break;
		r->tm = t->resource_id;
		if (!jm || jm_query(jm, dash_slots_on_loop, r) != 0) {
			free(r);
			continue;
		}
		total += r->total;
		/* The resources of the job's slots there, in its slot order
		 * (the ResourceManager's dynamic or default slots). */
		size_t nres = 0, next = 0;
		rm_slot_view *res = NULL;
		if (a && rm_slots(d->rm, t->resource_id, &res, &nres) != 0)
			nres = 0;
		for (int s = 0; a && s < r->slots; s++) {
			while (next < nres && strcmp(res[next].job_id, jobs[i]->id) != 0)
				next++;
			cJSON *x = cJSON_CreateObject();
			cJSON_AddStringToObject(x, "jobId", jobs[i]->id);
			cJSON_AddNumberToObject(x, "assignedTasks", r->tasks[s]);
			cJSON_AddItemToObject(x, "resource",
					      resource_json(next < nres ? &res[next].res
									: &t->default_slot,
							    t->slots > 0 ? t->network_bytes / t->slots
									 : 0));
			cJSON_AddItemToArray(a, x);
			next++;
		}
		free(res);
		free(r);
	}
	if (jobs)
		dash_jobs_put(d, jobs, n);
	return total;
}

/* The tasks running on a TaskManager (its "assignedTasks"). */
static void dash_tm_assigned(ds_dispatcher *d, cJSON *x, const rm_tm_view *t)
{
	cJSON_AddNumberToObject(x, "assignedTasks", dash_tm_slots(d, NULL, t));
}

/* What the TaskManager page's detail needs beyond tm_json: Flink's
 * memory configuration (what flinc's TaskManager announced), the metrics
 * block (flinc has no JVM: heap, non-heap, direct and mapped memory and
 * garbage collectors are 0 / empty; network buffers are known in bytes),
 * the slots jobs hold there and the tasks running there. */
static void dash_tm_details(ds_dispatcher *d, cJSON *x, const rm_tm_view *t)
{
	cJSON *mc = cJSON_AddObjectToObject(x, "memoryConfiguration");
	cJSON_AddNumberToObject(mc, "frameworkHeap", 0);
	cJSON_AddNumberToObject(mc, "taskHeap", 0);
	cJSON_AddNumberToObject(mc, "frameworkOffHeap", 0);
	cJSON_AddNumberToObject(mc, "taskOffHeap", 0);
	cJSON_AddNumberToObject(mc, "networkMemory", (double)t->network_bytes);
	cJSON_AddNumberToObject(mc, "managedMemory", (double)t->managed_bytes);
	cJSON_AddNumberToObject(mc, "jvmMetaspace", 0);
	cJSON_AddNumberToObject(mc, "jvmOverhead", 0);
	cJSON_AddNumberToObject(mc, "totalFlinkMemory",
				(double)(t->network_bytes + t->managed_bytes));
	cJSON_AddNumberToObject(mc, "totalProcessMemory", (double)t->memory_bytes);
	cJSON *m = cJSON_AddObjectToObject(x, "metrics");
	static const char *const zero[] = {"heapUsed",
					   "heapCommitted",
					   "heapMax",
					   "nonHeapUsed",
					   "nonHeapCommitted",
					   "nonHeapMax",
					   "directCount",
					   "directUsed",
					   "directMax",
					   "mappedCount",
					   "mappedUsed",
					   "mappedMax",
					   "memorySegmentsAvailable",
					   "memorySegmentsTotal",
					   "nettyShuffleMemorySegmentsAvailable",
					   "nettyShuffleMemorySegmentsUsed",
					   "nettyShuffleMemorySegmentsTotal",
					   "nettyShuffleMemoryAvailable",
					   "nettyShuffleMemoryUsed"};
	for (size_t i = 0; i < sizeof(zero) / sizeof(*zero); i++)
		cJSON_AddNumberToObject(m, zero[i], 0);
	cJSON_AddNumberToObject(m, "nettyShuffleMemoryTotal", (double)t->network_bytes);
	cJSON_AddItemToObject(m, "garbageCollectors", cJSON_CreateArray());
	int tasks = dash_tm_slots(d, cJSON_AddArrayToObject(x, "allocatedSlots"), t);
	cJSON_AddNumberToObject(x, "assignedTasks", tasks);
}

/* Flink's metric list (GET .../metrics: ids; ?get=a,b: ids with values) of
 * the figures known. */
struct dash_metric {
	const char *id;
	double v;
};

static int dash_metric_list(const rest_request *req, rest_response *resp,
			    const struct dash_metric *known, size_t n)
{
	char get[2048] = "";
	bool values = rest_query(req, "get", get, sizeof(get)) == 0;
	cJSON *a = cJSON_CreateArray();
	for (size_t k = 0; a && k < n; k++) {
		if (values && !dash_wanted(get, known[k].id))
			continue;
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "id", known[k].id);
		if (values) {
			char num[32];
			snprintf(num, sizeof(num), "%.0f", known[k].v);
			cJSON_AddStringToObject(x, "value", num);
		}
		cJSON_AddItemToArray(a, x);
	}
	return rest_json(resp, 200, a);
}

/* GET /taskmanagers/:id/metrics[?get=a,b]: what the JobManager knows of a
 * TaskManager (its own Prometheus /metrics has the rest). */
static int h_dash_tm_metrics(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	const char *id = rest_param(req, "taskmanagerid");
	rm_tm_view t;
	if (rm_get(d->rm, id, &t) != 0)
		return rest_error(resp, 404, "TaskManager %.128s does not exist", id ? id : "");
	const struct dash_metric known[] = {
	    {"Status.Shuffle.Netty.TotalMemory", (double)t.network_bytes},
	    {"Status.Flink.Memory.Managed.Total", (double)t.managed_bytes},
	};
	return dash_metric_list(req, resp, known, sizeof(known) / sizeof(*known));
}

/* What flinc processes do not keep: their logs go to stdout/stderr (the
 * console, `kubectl logs`, or the file start-cluster.sh points them at). */
static int h_dash_no_log(void *arg, const rest_request *req, rest_response *resp)
{
	(void)arg;
	return rest_error(resp, 404,
			  "Not available: flinc processes log to their stdout/stderr, not to a "
			  "file the JobManager serves (see the console, `kubectl logs`, or "
			  "start-cluster.sh's log directory); request %.200s",
			  req->path);
}

/* A TaskManager's threads (the JobManager cannot list them) and the
 * profiler (Flink's rest.profiling.enabled; flinc has none). */
static int h_dash_not_available(void *arg, const rest_request *req, rest_response *resp)
{
	(void)arg;
	return rest_error(resp, 404,
			  "Not available in flinc: %.200s (thread dumps are served for the "
			  "JobManager only; there is no profiler)",
			  req->path);
}

static int h_dash_log_list(void *arg, const rest_request *req, rest_response *resp)
{
	(void)arg;
	(void)req;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "logs", cJSON_CreateArray());
	return rest_json(resp, 200, o);
}

/* ---- the JobManager */

/* GET /jobs/:jobid/jobmanager/config: the configuration of the JobManager
 * the job runs in (the -D pairs a job was submitted with are not kept). */
static int h_dash_job_jm_config(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	struct ds_job *j = job_of(d, req, resp);
	if (!j)
		return 0;
	ds_job_put(d, j);
	return h_jm_config(arg, req, resp);
}

/* GET /jobmanager/environment: flinc runs no JVM; what it runs on. */
static int h_dash_environment(void *arg, const rest_request *req, rest_response *resp)
{
	(void)arg;
	(void)req;
	struct utsname u;
	if (uname(&u) != 0)
		snprintf(u.machine, sizeof(u.machine), "unknown");
	char version[256];
	snprintf(version, sizeof(version), "none: flinc %s is C (%s %s)", FLINC_VERSION_STRING,
		 u.sysname, u.release);
	cJSON *o = cJSON_CreateObject();
	cJSON *jvm = cJSON_AddObjectToObject(o, "jvm");
	cJSON_AddStringToObject(jvm, "version", version);
	cJSON_AddStringToObject(jvm, "arch", u.machine);
	cJSON_AddItemToObject(jvm, "options", cJSON_CreateArray());
	cJSON_AddItemToObject(o, "classpath", cJSON_CreateArray());
	return rest_json(resp, 200, o);
}

/* GET /jobmanager/metrics[?get=a,b]: Flink's cluster figures under their
 * Flink names, and the process's own (flinc names; there is no JVM). */
static int h_dash_jm_metrics(void *arg, const rest_request *req, rest_response *resp)
{
	ds_dispatcher *d = arg;
	size_t n = 0;
	int slots = 0, free_slots = 0;
	rm_totals(d->rm, &n, &slots, &free_slots);
	ds_counts c;
	ds_job_counts(d, &c);
	cm_procstat ps = {0};
	cm_procstat_read(&ps);
	const struct dash_metric known[] = {
	    {"numRegisteredTaskManagers", (double)n},
	    {"taskSlotsTotal", slots},
	    {"taskSlotsAvailable", free_slots},
	    {"numRunningJobs", c.running},
	    {"Status.Process.Memory.RSS", (double)ps.rss_bytes},
	    {"Status.Process.CPU.Time", ps.cpu_seconds * 1000.0},
	    {"Status.Process.Threads.Count", (double)ps.threads},
	    {"Status.Process.FileDescriptors.Count", (double)ps.open_fds},
	};
	return dash_metric_list(req, resp, known, sizeof(known) / sizeof(*known));
}

/* GET /jobmanager/thread-dump: this process's threads from /proc, by name
 * and scheduler state (no stacks: C threads have no portable ones). */
static int h_dash_thread_dump(void *arg, const rest_request *req, rest_response *resp)
{
	(void)arg;
	(void)req;
	cJSON *o = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(o, "threadInfos");
	DIR *dir = opendir("/proc/self/task");
	struct dirent *e;
	for (int k = 0; a && dir && k < 4096 && (e = readdir(dir)) != NULL; k++) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char path[300], name[64] = "?", stat[512] = "";
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (f) {
			if (fgets(name, sizeof(name), f))
				name[strcspn(name, "\n")] = '\0';
			fclose(f);
		}
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
		if ((f = fopen(path, "r")) != NULL) {
			if (!fgets(stat, sizeof(stat), f))
				stat[0] = '\0';
			fclose(f);
		}
		/* The state follows the parenthesised name: "tid (name) S ...". */
		const char *p = strrchr(stat, ')');
		char state = p && p[1] == ' ' ? p[2] : '?';
		const char *word = state == 'R'			  ? "RUNNABLE"
				   : state == 'S'		  ? "WAITING (sleeping)"
				   : state == 'D'		  ? "WAITING (disk)"
				   : state == 'T' || state == 't' ? "STOPPED"
								  : "UNKNOWN";
		char text[400];
		snprintf(text, sizeof(text), "\"%s\" tid=%s %s\n", name, e->d_name, word);
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "threadName", name);
		cJSON_AddStringToObject(x, "stringifiedThreadInfo", text);
		cJSON_AddItemToArray(a, x);
	}
	if (dir)
		closedir(dir);
	return rest_json(resp, 200, o);
}

/* The dashboard's routes, after ds_rest_routes's (literal before
 * parametrised, as there). */
static int ds_rest_dashboard_routes(ds_dispatcher *d, rest_server *s)
{
	static const struct {
		const char *method, *pattern;
		rest_handler_fn fn;
	} routes[] = {
	    {"GET", "/applications/overview", h_dash_apps},
	    {"GET", "/applications/:jobid", h_dash_app},
	    {"GET", "/applications/:jobid/exceptions", h_dash_app_exceptions},
	    {"POST", "/applications/:jobid/cancel", h_job_cancel},
	    {"GET", "/jobs/:jobid/jobmanager/config", h_dash_job_jm_config},
	    {"GET", "/jobs/:jobid/jobmanager/environment", h_dash_environment},
	    {"GET", "/jobs/:jobid/vertices/:vertexid/subtasks/metrics", h_dash_subtask_metrics},
	    {"GET", "/jobs/:jobid/vertices/:vertexid/metrics", h_dash_vertex_metrics},
	    {"GET", "/jobs/:jobid/vertices/:vertexid/watermarks", h_dash_watermarks},
	    {"GET", "/jobs/:jobid/vertices/:vertexid/accumulators", h_dash_accumulators},
	    {"GET", "/jobs/:jobid/vertices/:vertexid/subtasks/accumulators",
	     h_dash_subtask_accumulators},
	    {"GET", "/jobs/:jobid/vertices/:vertexid/backpressure", h_dash_backpressure},
	    {"GET", "/jobs/:jobid/vertices/:vertexid/flamegraph", h_dash_flamegraph},
	    {"GET", "/jobs/:jobid/vertices/:vertexid/taskmanagers", h_dash_vertex_tms},
	    {"GET", "/jobs/:jobid/rescales/config", h_rescales_config},
	    {"GET", "/jobs/:jobid/rescales/history", h_rescales_history},
	    {"GET", "/jobs/:jobid/rescales/overview", h_rescales_overview},
	    {"GET", "/jobs/:jobid/rescales/summary", h_rescales_summary},
	    {"GET", "/jobs/:jobid/rescales/details/:rescaleuuid", h_rescales_details},
	    {"GET", "/taskmanagers/:taskmanagerid/metrics", h_dash_tm_metrics},
	    {"GET", "/taskmanagers/:taskmanagerid/logs", h_dash_log_list},
	    {"GET", "/taskmanagers/:taskmanagerid/log", h_dash_no_log},
	    {"GET", "/taskmanagers/:taskmanagerid/stdout", h_dash_no_log},
	    {"GET", "/taskmanagers/:taskmanagerid/thread-dump", h_dash_not_available},
	    {"GET", "/taskmanagers/:taskmanagerid/profiler", h_dash_not_available},
	    {"GET", "/jobmanager/profiler", h_dash_not_available},
	    {"GET", "/jobmanager/environment", h_dash_environment},
	    {"GET", "/jobmanager/metrics", h_dash_jm_metrics},
	    {"GET", "/jobmanager/logs", h_dash_log_list},
	    {"GET", "/jobmanager/log", h_dash_no_log},
	    {"GET", "/jobmanager/stdout", h_dash_no_log},
	    {"GET", "/jobmanager/thread-dump", h_dash_thread_dump},
	};
	for (size_t i = 0; i < sizeof(routes) / sizeof(*routes); i++) {
		int rc = rest_route(s, routes[i].method, routes[i].pattern, routes[i].fn, d);
		if (rc)
			return rc;
	}
	return 0;
}

int ds_rest_routes(ds_dispatcher *d, rest_server *s)
{
	static const struct {
		const char *method, *pattern;
		rest_handler_fn fn;
	} routes[] = {
	    {"GET", "/config", h_config},
	    {"GET", "/overview", h_overview},
	    {"GET", "/jobs", h_jobs},
	    {"GET", "/jobs/overview", h_jobs_overview},
	    {"GET", "/jobs/:jobid", h_job},
	    {"PATCH", "/jobs/:jobid", h_job_cancel},
	    {"GET", "/jobs/:jobid/plan", h_job_plan},
	    {"GET", "/jobs/:jobid/resource-requirements", h_requirements},
	    {"PUT", "/jobs/:jobid/resource-requirements", h_requirements_put},
	    {"GET", "/jobs/:jobid/exceptions", h_job_exceptions},
	    {"GET", "/jobs/:jobid/config", h_job_config},
	    {"GET", "/jobs/:jobid/vertices/:vertexid", h_vertex},
	    {"GET", "/jobs/:jobid/checkpoints", h_checkpoints},
	    {"GET", "/jobs/:jobid/checkpoints/config", h_checkpoints_config},
	    {"GET", "/jobs/:jobid/checkpoints/details/:checkpointid", h_checkpoint_details},
	    {"POST", "/jobs/:jobid/savepoints", h_savepoint_trigger},
	    {"GET", "/jobs/:jobid/savepoints/:triggerid", h_savepoint_status},
	    {"POST", "/jobs/:jobid/stop", h_job_stop},
	    {"POST", "/savepoint-disposal", h_dispose_trigger},
	    {"GET", "/savepoint-disposal/:triggerid", h_dispose_status},
	    {"GET", "/taskmanagers", h_taskmanagers},
	    {"GET", "/taskmanagers/:taskmanagerid", h_taskmanager},
	    {"GET", "/jobmanager/config", h_jm_config},
	    {"GET", "/metrics", h_metrics},
	    {"GET", "/jars", h_jars},
	    {"POST", "/jars/upload", h_jar_upload},
	    {"POST", "/jars/:jarid/run", h_jar_run},
	    {"POST", "/jars/:jarid/plan", h_jar_plan},
	    {"GET", "/jars/:jarid/plan", h_jar_plan},
	    {"DELETE", "/jars/:jarid", h_jar_delete},
	};
	/* As Flink's RestServerEndpoint, every route twice: under the API
	 * version's prefix, "/v1/jobs/overview", which is what Flink's own
	 * RestClient (the `flink` CLI's RestClusterClient) always asks for,
	 * and without it, for the default version (the web UI, curl). */
	for (size_t i = 0; i < sizeof(routes) / sizeof(*routes); i++) {
		char v1[64];
		snprintf(v1, sizeof(v1), "/v1%s", routes[i].pattern);
		int rc = rest_route(s, routes[i].method, v1, routes[i].fn, d);
		if (!rc)
			rc = rest_route(s, routes[i].method, routes[i].pattern, routes[i].fn, d);
		if (rc)
			return rc;
	}
	return ds_rest_dashboard_routes(d, s);
}
