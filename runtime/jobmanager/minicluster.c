#include "jobmanager/minicluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

int mc_execute(const sg_graph *sg, const char *job_name, const cfg *c,
	       const jm_listener *listener, jm_result *res)
{
	memset(res, 0, sizeof(*res));
	cm_err err = {0};
	jg_graph *jg = NULL;
	int rc = jg_build(sg, job_name, &jg, &err);
	if (rc) {
		snprintf(res->error, sizeof(res->error), "%s", err.msg);
		res->status = rc;
		return rc;
	}
	int64_t ntm = 1, slots = 1;
	cfg_get_int(c, CFG_LOCAL_TMS, &ntm);
	cfg_get_int(c, CFG_TM_SLOTS, &slots);
	int64_t fit = (jg->slots_needed + ntm - 1) / ntm;
	if (slots < fit)
		slots = fit;
	const char *host = NULL;
	if (cfg_get_string(c, CFG_TM_HOST, &host) != 0 || !host || !*host)
		host = "127.0.0.1";
	CM_INFO("minicluster", "Starting local cluster: %lld TaskManager(s) with %lld slot(s) each",
		(long long)ntm, (long long)slots);
	tm_taskmanager **tms = calloc((size_t)ntm, sizeof(*tms));
	jm_job *current = NULL;
	if (!tms) {
		rc = FL_ENOMEM;
		snprintf(res->error, sizeof(res->error), "out of memory");
		goto out;
	}
	for (int64_t i = 0; i < ntm; i++) {
		tm_options o = {.index = (int)i, .slots = (int)slots, .bind_host = host, .port = 0,
				.config = c, .on_state = jm_on_task_state, .on_state_arg = &current};
		if ((rc = tm_new(&tms[i], &o, &err)) != 0) {
			snprintf(res->error, sizeof(res->error), "cannot start TaskManager %lld: %.440s",
				 (long long)i, err.msg);
			goto out;
		}
	}
	rc = jm_run_job(tms, (size_t)ntm, &current, jg, listener, res);
	if (rc && !res->status)
		res->status = rc;
out:
	if (tms)
		for (int64_t i = 0; i < ntm; i++)
			tm_free(tms[i]);
	free(tms);
	jg_free(jg);
	if (rc && !res->status)
		res->status = rc;
	return rc;
}
