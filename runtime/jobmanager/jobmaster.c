/*
 * jobmaster.c — slot assignment, two-phase deployment, and following task
 * states to the job's end.
 */
#include "jobmanager/jobmaster.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/sync.h"

struct jm_job {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char id[33];
	int final;
	bool failed;
	char error[CM_ERR_MSG_MAX];
};

static _Atomic uint64_t job_seq;

void jm_new_job_id(char id[33])
{
	unsigned char b[16];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		/* No entropy source: time and a counter still make ids unique
		 * within this process, which is all a local cluster needs. */
		uint64_t t = (uint64_t)cm_wall_ms(), s = atomic_fetch_add(&job_seq, 1);
		memcpy(b, &t, 8);
		memcpy(b + 8, &s, 8);
	}
	for (int i = 0; i < 16; i++)
		snprintf(id + 2 * i, 3, "%02x", b[i]);
}

void jm_on_task_state(void *arg, const char *job_id, int vertex, int subtask,
		      enum tm_task_state state, const char *error)
{
	jm_job *j = *(jm_job **)arg;
	if (!j || strcmp(j->id, job_id) != 0)
		return;
	if (state == TM_TASK_RUNNING || state == TM_TASK_DEPLOYING)
		return;
	pthread_mutex_lock(&j->mu);
	j->final++;
	if (state == TM_TASK_FAILED && !j->failed) {
		j->failed = true;
		snprintf(j->error, sizeof(j->error), "%s", error ? error : "task failed");
	}
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
}

static int schedule(tm_taskmanager **tms, size_t ntms, const jg_graph *jg, const char ***addr,
		    jm_result *res)
{
	int have = 0, maxslots = 0;
	for (size_t i = 0; i < ntms; i++) {
		have += tms[i]->slots;
		if (tms[i]->slots > maxslots)
			maxslots = tms[i]->slots;
	}
	if (have < jg->slots_needed) {
		snprintf(res->error, sizeof(res->error),
			 "could not acquire the minimum required resources: the job needs %d task "
			 "slots but the cluster has %d (%zu TaskManagers); lower the parallelism or "
			 "add TaskManagers/slots (taskmanager.numberOfTaskSlots)",
			 jg->slots_needed, have, ntms);
		return FL_ERANGE;
	}
	/* Free slots, round-robin across TaskManagers. */
	tm_taskmanager **slots = calloc((size_t)have, sizeof(*slots));
	if (!slots)
		return FL_ENOMEM;
	int n = 0;
	for (int r = 0; r < maxslots; r++)
		for (size_t i = 0; i < ntms; i++)
			if (r < tms[i]->slots)
				slots[n++] = tms[i];
	/* Each slot sharing group gets a consecutive run of slots, as wide as
	 * its widest vertex. */
	int *vbase = calloc(jg->nvertices, sizeof(int));
	if (!vbase) {
		free(slots);
		return FL_ENOMEM;
	}
	int next = 0;
	for (size_t v = 0; v < jg->nvertices; v++) {
		const jg_vertex *vx = &jg->vertices[v];
		int base = -1;
		for (size_t u = 0; u < v && base < 0; u++)
			if (strcmp(jg->vertices[u].slot_group, vx->slot_group) == 0)
				base = vbase[u];
		if (base < 0) {
			int width = 0;
			for (size_t u = v; u < jg->nvertices; u++)
				if (strcmp(jg->vertices[u].slot_group, vx->slot_group) == 0 &&
				    jg->vertices[u].parallelism > width)
					width = jg->vertices[u].parallelism;
			base = next;
			next += width;
		}
		vbase[v] = base;
		for (int i = 0; i < vx->parallelism; i++)
			addr[v][i] = tm_address(slots[base + i]);
	}
	free(vbase);
	free(slots);
	return 0;
}

int jm_run_job(tm_taskmanager **tms, size_t ntms, jm_job **slot, const jg_graph *jg,
	       jm_progress_fn progress, void *progress_arg, jm_result *res)
{
	memset(res, 0, sizeof(*res));
	int64_t t0 = cm_now_ms();
	jm_job job = {0};
	jm_new_job_id(job.id);
	memcpy(res->job_id, job.id, sizeof(job.id));
	pthread_mutex_init(&job.mu, NULL);
	if (cm_cond_init(&job.cv) != 0) {
		pthread_mutex_destroy(&job.mu);
		return FL_ENOMEM;
	}
	cm_log_set_thread_job(job.id);
	CM_INFO("jobmaster", "Job '%s' (%s) submitted: %zu vertices, %d slots needed", jg->job_name,
		job.id, jg->nvertices, jg->slots_needed);

	int rc = FL_ENOMEM;
	const char ***addr = calloc(jg->nvertices, sizeof(*addr));
	uint64_t *edge_base = calloc(jg->nedges ? jg->nedges : 1, sizeof(*edge_base));
	uint64_t *in = calloc(jg->sg->nnodes, sizeof(uint64_t));
	uint64_t *out = calloc(jg->sg->nnodes, sizeof(uint64_t));
	if (!addr || !edge_base || !in || !out)
		goto done;
	for (size_t v = 0; v < jg->nvertices; v++)
		if (!(addr[v] = calloc((size_t)jg->vertices[v].parallelism, sizeof(char *))))
			goto done;
	if ((rc = schedule(tms, ntms, jg, addr, res)) != 0) {
		if (rc == FL_ENOMEM)
			snprintf(res->error, sizeof(res->error), "out of memory while scheduling");
		goto done;
	}
	uint64_t total = 0;
	for (size_t e = 0; e < jg->nedges; e++) {
		const jg_edge *ed = &jg->edges[e];
		edge_base[e] = total;
		int ps = jg->vertices[ed->src_vertex].parallelism;
		int pd = jg->vertices[ed->dst_vertex].parallelism;
		total += ed->part == SG_PART_FORWARD ? (uint64_t)ps : (uint64_t)ps * (uint64_t)pd;
	}
	tm_placement pl = {.addresses = (const char *const *const *)addr,
			   .channel_base = (atomic_fetch_add(&job_seq, 1) + 1) << 40,
			   .edge_base = edge_base};
	*slot = &job;

	/* Phase 1: every task's input gate exists before any producer starts. */
	cm_err err = {0};
	for (size_t v = 0; v < jg->nvertices && rc == 0; v++) {
		for (int i = 0; i < jg->vertices[v].parallelism && rc == 0; i++) {
			tm_taskmanager *tm = NULL;
			for (size_t k = 0; k < ntms; k++)
				if (strcmp(tm_address(tms[k]), addr[v][i]) == 0)
					tm = tms[k];
			rc = tm_prepare_task(tm, job.id, jg, (int)v, i, &pl, &err);
		}
	}
	if (rc == 0)
		CM_INFO("jobmaster", "Job '%s' (%s) switched from CREATED to RUNNING", jg->job_name,
			job.id);
	/* Phase 2: connect and start. */
	for (size_t k = 0; k < ntms && rc == 0; k++)
		rc = tm_start_job(tms[k], job.id, &err);
	if (rc) {
		snprintf(res->error, sizeof(res->error), "deployment failed: %.480s",
			 err.msg[0] ? err.msg : fl_strerror(rc));
		CM_ERROR("jobmaster", "%s", res->error);
		for (size_t k = 0; k < ntms; k++)
			tm_cancel_job(tms[k], job.id);
	}

	/* Follow the job: progress once a second, cancel everything on the
	 * first failure, end when every started task is final. */
	int started = 0;
	for (size_t k = 0; k < ntms; k++) {
		pthread_mutex_lock(&tms[k]->mu);
		for (size_t i = 0; i < tms[k]->ntasks; i++)
			if (strcmp(tms[k]->tasks[i]->job_id, job.id) == 0 && tms[k]->tasks[i]->started)
				started++;
		pthread_mutex_unlock(&tms[k]->mu);
	}
	bool cancelled = rc != 0;
	int64_t next_progress = cm_now_ms() + 1000;
	pthread_mutex_lock(&job.mu);
	while (job.final < started) {
		if (job.failed && !cancelled) {
			cancelled = true;
			pthread_mutex_unlock(&job.mu);
			CM_INFO("jobmaster", "Job '%s' (%s) switched from RUNNING to FAILING: %s",
				jg->job_name, job.id, job.error);
			for (size_t k = 0; k < ntms; k++)
				tm_cancel_job(tms[k], job.id);
			pthread_mutex_lock(&job.mu);
			continue;
		}
		if (!progress) {
			pthread_cond_wait(&job.cv, &job.mu);
			continue;
		}
		struct timespec ts = cm_deadline_ts(next_progress);
		pthread_cond_timedwait(&job.cv, &job.mu, &ts);
		if (cm_now_ms() >= next_progress) {
			/* From now, not from the last deadline: a late wake-up must
			 * not leave the deadline in the past (a busy loop). */
			next_progress = cm_now_ms() + 1000;
			pthread_mutex_unlock(&job.mu);
			memset(in, 0, jg->sg->nnodes * sizeof(uint64_t));
			memset(out, 0, jg->sg->nnodes * sizeof(uint64_t));
			for (size_t k = 0; k < ntms; k++)
				tm_job_metrics(tms[k], job.id, in, out);
			progress(progress_arg, jg, in, out, cm_now_ms() - t0);
			pthread_mutex_lock(&job.mu);
		}
	}
	bool failed = job.failed;
	pthread_mutex_unlock(&job.mu);
	if (progress && rc == 0) {
		memset(in, 0, jg->sg->nnodes * sizeof(uint64_t));
		memset(out, 0, jg->sg->nnodes * sizeof(uint64_t));
		for (size_t k = 0; k < ntms; k++)
			tm_job_metrics(tms[k], job.id, in, out);
		progress(progress_arg, jg, in, out, cm_now_ms() - t0);
	}
	for (size_t k = 0; k < ntms; k++)
		tm_release_job(tms[k], job.id);
	*slot = NULL;
	res->runtime_ms = cm_now_ms() - t0;
	if (rc == 0) {
		res->status = failed ? FL_EJOBFAILED : 0;
		if (failed)
			snprintf(res->error, sizeof(res->error), "%s", job.error);
		CM_INFO("jobmaster", "Job '%s' (%s) switched to %s after %lld ms", jg->job_name, job.id,
			failed ? "FAILED" : "FINISHED", (long long)res->runtime_ms);
	} else {
		res->status = rc;
		rc = 0;
	}
done:
	if (addr)
		for (size_t v = 0; v < jg->nvertices; v++)
			free((void *)addr[v]);
	free(addr);
	free(edge_base);
	free(in);
	free(out);
	pthread_cond_destroy(&job.cv);
	pthread_mutex_destroy(&job.mu);
	cm_log_set_thread_job(NULL);
	if (rc == FL_ENOMEM && !res->error[0])
		snprintf(res->error, sizeof(res->error), "out of memory");
	return rc;
}
