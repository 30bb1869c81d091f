/*
 * execute.c — fl_execute(): take the configuration into the stream graph,
 * then plan or run it as the launcher says.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/env.h"
#include "common/log.h"
#include "graph/jobgraph.h"
#include "graph/plan_json.h"
#include "jobmanager/minicluster.h"

static void apply_config(fl_env *env)
{
	sg_graph *g = env->graph;
	int64_t p = 1, maxp = 128, timeout = 100;
	const char *mode = "STREAMING";
	cfg_get_int(env->config, CFG_PARALLELISM, &p);
	cfg_get_int(env->config, CFG_MAX_PARALLELISM, &maxp);
	cfg_get_duration_ms(env->config, CFG_BUFFER_TIMEOUT, &timeout);
	cfg_get_string(env->config, CFG_RUNTIME_MODE, &mode);
	g->parallelism = (int)p;
	/* Unset: each operator derives it from its parallelism, as in Flink. */
	g->max_parallelism = cfg_is_set(env->config, CFG_MAX_PARALLELISM) ? (int)maxp : 0;
	g->buffer_timeout_ms = timeout;
	int64_t wm_interval = 200;
	cfg_get_duration_ms(env->config, CFG_AUTO_WATERMARK_INTERVAL, &wm_interval);
	for (size_t i = 0; i < g->nnodes; i++)
		g->nodes[i]->wm_interval_ms = wm_interval;
	bool overwrite = false;
	cfg_get_bool(env->config, CFG_OVERWRITE_FILES, &overwrite);
	g->overwrite_files = overwrite;
	const char *savepoint = "";
	cfg_get_string(env->config, CFG_SAVEPOINT_PATH, &savepoint);
	g->restored = savepoint && savepoint[0];
	if (strcasecmp(mode, "BATCH") == 0) {
		g->mode = FL_MODE_BATCH;
	} else if (strcasecmp(mode, "AUTOMATIC") == 0) {
		/* Flink: BATCH when every source is bounded. */
		bool bounded = true;
		for (size_t i = 0; i < g->nnodes; i++)
			if (g->nodes[i]->kind == SG_SOURCE_GENERATOR && g->nodes[i]->gen_count < 0)
				bounded = false;
		g->mode = bounded ? FL_MODE_BATCH : FL_MODE_STREAMING;
	} else {
		g->mode = FL_MODE_STREAMING;
	}
}

static int plan(fl_env *env, const char *name, env_launch *l)
{
	jg_graph *jg;
	cm_err e = {0};
	int rc = jg_build(env->graph, name, &jg, &e);
	if (rc)
		return env_fail(env, rc, "%s", e.msg);
	if (l->planned) {
		rc = l->planned(l->planned_arg, jg);
	} else if (l->plan_format == ENV_PLAN_FLINK_INFO) {
		cJSON *o = jg_stream_plan_json(jg);
		char *s = o ? cJSON_Print(o) : NULL;
		cJSON_Delete(o);
		if (s)
			printf("----------------------- Execution Plan -----------------------\n"
			       "%s\n"
			       "--------------------------------------------------------------\n"
			       "\nNo description provided.\n",
			       s);
		else
			rc = FL_ENOMEM;
		free(s);
	} else if (l->plan_format == ENV_PLAN_DOT) {
		jg_print_dot(jg, stdout);
	} else {
		jg_print_text(jg, stdout);
	}
	fflush(stdout);
	jg_free(jg);
	if (rc)
		return env_fail(env, rc, "%s",
				rc == FL_ENOMEM ? "out of memory" : "the job's plan was refused");
	return 0;
}

FL_API int fl_execute(fl_env *env, const char *job_name)
{
	if (!env)
		return FL_EINVAL;
	env_launch local = {.mode = ENV_LAUNCH_LOCAL};
	env_launch *l = env_launch_current();
	if (!l)
		l = &local;
	l->executions++;
	snprintf(l->job_name, sizeof(l->job_name), "%s", job_name ? job_name : "flinc job");
	l->job_id[0] = '\0';
	/* Before the cancellation check: a launcher that requests cancellation
	 * and then sees no job running knows that none will start. */
	atomic_store(&l->running, true);
	int rc = env->err.code;
	if (rc == 0 && l->listener.cancel && cm_cancel_requested(l->listener.cancel)) {
		/* Cancelled between jobs: main() must not start another. */
		rc = env_record(env, FL_ECANCELED, "the job was cancelled before it started");
	} else if (rc == 0) {
		apply_config(env);
		if (l->mode == ENV_LAUNCH_PLAN) {
			rc = plan(env, job_name, l);
		} else {
			jm_result res;
			if (l->mode == ENV_LAUNCH_SUBMIT)
				l->submit(l->submit_arg, env->graph, job_name, env->config,
					  &l->listener, &res);
			else
				mc_execute(env->graph, job_name, env->config, &l->listener, &res);
			memcpy(l->job_id, res.job_id, sizeof(l->job_id));
			l->runtime_ms = res.runtime_ms;
			rc = res.status;
			if (rc)
				env_record(env, rc, res.error);
			/* Without a launcher (a job linked into a program and run
			 * directly) nobody else reports how the job ended. */
			if (l == &local) {
				if (rc)
					CM_ERROR("client", "Job '%s'%s%s%s FAILED: %s", l->job_name,
						 l->job_id[0] ? " (" : "", l->job_id,
						 l->job_id[0] ? ")" : "", res.error);
				else
					CM_INFO("client", "Job '%s' (%s) FINISHED in %lld ms", l->job_name,
						l->job_id, (long long)l->runtime_ms);
			}
		}
	}
	l->status = rc;
	snprintf(l->error, sizeof(l->error), "%s", rc ? env->err.msg : "");
	atomic_store(&l->running, false);
	/* As Flink clears its transformations after execute(): a second call
	 * runs only what was built since. */
	if (env->err.code == 0 && env_reset_graph(env) != 0)
		env_fail(env, FL_ENOMEM, "out of memory");
	return rc;
}
