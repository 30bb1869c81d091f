#include "jobmanager/minicluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static void human(uint64_t v, char *buf, size_t cap)
{
	if (v >= 1000000000ull)
		snprintf(buf, cap, "%.1fG", (double)v / 1e9);
	else if (v >= 1000000ull)
		snprintf(buf, cap, "%.1fM", (double)v / 1e6);
	else if (v >= 10000ull)
		snprintf(buf, cap, "%.1fK", (double)v / 1e3);
	else
		snprintf(buf, cap, "%llu", (unsigned long long)v);
}

/* One progress line: records in/out per operator. */
static void print_progress(void *arg, const jg_graph *jg, const uint64_t *in, const uint64_t *out,
			   int64_t elapsed_ms)
{
	char line[2048];
	size_t len = (size_t)snprintf(line, sizeof(line), "[%6.1fs]", (double)elapsed_ms / 1000.0);
	for (size_t i = 0; i < jg->sg->nnodes && len < sizeof(line); i++) {
		const sg_node *n = jg->sg->nodes[i];
		char a[32], b[32];
		human(in[i], a, sizeof(a));
		human(out[i], b, sizeof(b));
		if (sg_kind_is_source(n->kind))
			len += (size_t)snprintf(line + len, sizeof(line) - len, " %s out=%s |", n->name, b);
		else if (sg_kind_is_sink(n->kind))
			len += (size_t)snprintf(line + len, sizeof(line) - len, " %s in=%s |", n->name, a);
		else
			len += (size_t)snprintf(line + len, sizeof(line) - len, " %s in=%s out=%s |",
						n->name, a, b);
	}
	if (len >= sizeof(line))
		len = sizeof(line) - 1;
	if (len > 0 && line[len - 1] == '|')
		line[--len] = '\0';
	fprintf(stderr, "%s\n", line);
}

int mc_execute(const sg_graph *sg, const char *job_name, const cfg *c, bool progress,
	       jm_result *res)
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
	rc = jm_run_job(tms, (size_t)ntm, &current, jg, progress ? print_progress : NULL, NULL, res);
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
