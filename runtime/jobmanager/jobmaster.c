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
	bool cancel_requested;
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

void jm_on_task_state(void *arg, const char *job_id, uint64_t attempt, int vertex, int subtask,
		      enum tm_task_state state, const char *error)
{
	jm_job *j = *(jm_job **)arg;
	if (!j || strcmp(j->id, job_id) != 0)
		return;
	if (!tm_task_state_is_final(state))
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

static int schedule(tm_taskmanager **tms, size_t ntms, const jg_graph *jg, uint32_t **where,
		    jm_result *res)
{
	int64_t have = 0;
	int maxslots = 0;
	for (size_t i = 0; i < ntms; i++) {
		have += tm_slots(tms[i]);
		if (tm_slots(tms[i]) > maxslots)
			maxslots = tm_slots(tms[i]);
	}
	if (have < jg->slots_needed) {
		snprintf(res->error, sizeof(res->error),
			 "could not acquire the minimum required resources: the job needs %d task "
			 "slots but the cluster has %lld (%zu TaskManagers); lower the parallelism or "
			 "add TaskManagers/slots (taskmanager.numberOfTaskSlots)",
			 jg->slots_needed, (long long)have, ntms);
		return FL_ERANGE;
	}
	/* Free slots, round-robin across TaskManagers. */
	/* Only the slots the job uses are laid out. */
	size_t nslots = (size_t)jg->slots_needed;
	uint32_t *slots = calloc(nslots ? nslots : 1, sizeof(*slots));
	if (!slots)
		return FL_ENOMEM;
	size_t n = 0;
	for (int r = 0; r < maxslots && n < nslots; r++)
		for (size_t i = 0; i < ntms && n < nslots; i++)
			if (r < tm_slots(tms[i]))
				slots[n++] = (uint32_t)i;
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
			where[v][i] = slots[base + i];
	}
	free(vbase);
	free(slots);
	return 0;
}

/* The cancel token's watcher: flags the job for its loop (never blocks). */
static void on_cancel(void *arg)
{
	jm_job *j = arg;
	pthread_mutex_lock(&j->mu);
	j->cancel_requested = true;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
}

/* Sums the TaskManagers' counters and tells the listener. */
static void report_progress(tm_taskmanager **tms, size_t ntms, const jg_graph *jg, const char *job_id,
			    uint64_t attempt, uint64_t *in, uint64_t *out, jm_node_progress *np,
			    int64_t elapsed, const jm_listener *l)
{
	size_t nnodes = jg->sg->nnodes;
	memset(in, 0, nnodes * sizeof(uint64_t));
	memset(out, 0, nnodes * sizeof(uint64_t));
	for (size_t k = 0; k < ntms; k++)
		tm_job_metrics(tms[k], job_id, attempt, in, out, nnodes);
	for (size_t i = 0; i < nnodes; i++) {
		const sg_node *n = jg->sg->nodes[i];
		np[i] = (jm_node_progress){n->name, sg_kind_is_source(n->kind), sg_kind_is_sink(n->kind),
					   in[i], out[i]};
	}
	jm_progress p = {job_id, elapsed, nnodes, np};
	l->progress(l->arg, &p);
}

int jm_run_job(tm_taskmanager **tms, size_t ntms, jm_job **slot, const jg_graph *jg,
	       const jm_listener *listener, jm_result *res)
{
	static const jm_listener none = {0};
	const jm_listener *L = listener ? listener : &none;
	cm_cancel *cancel = L->cancel;
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
	size_t nnodes = jg->sg->nnodes;
	uint32_t **where = calloc(jg->nvertices, sizeof(*where));
	uint64_t *edge_base = calloc(jg->nedges ? jg->nedges : 1, sizeof(*edge_base));
	td_peer *peers = calloc(ntms, sizeof(*peers));
	uint64_t *in = calloc(nnodes, sizeof(uint64_t));
	uint64_t *out = calloc(nnodes, sizeof(uint64_t));
	jm_node_progress *np = calloc(nnodes, sizeof(*np));
	if (!where || !edge_base || !peers || !in || !out || !np)
		goto done;
	for (size_t v = 0; v < jg->nvertices; v++)
		if (!(where[v] = calloc((size_t)jg->vertices[v].parallelism, sizeof(uint32_t))))
			goto done;
	if ((rc = schedule(tms, ntms, jg, where, res)) != 0) {
		if (rc == FL_ENOMEM)
			snprintf(res->error, sizeof(res->error), "out of memory while scheduling");
		goto done;
	}
	for (size_t k = 0; k < ntms; k++) {
		peers[k].resource_id = (char *)tm_resource_id(tms[k]);
		peers[k].data_address = (char *)tm_data_address(tms[k]);
	}
	td_edge_bases(jg, edge_base);
	/* Until the data plane scopes channel ids by attempt, ids stay unique
	 * per process by a job sequence in the high bits. */
	uint64_t channel_base = (atomic_fetch_add(&job_seq, 1) + 1) << 40;
	for (size_t e = 0; e < jg->nedges; e++)
		edge_base[e] += channel_base;
	uint64_t attempt = channel_base;
	td_placement pl = {.job_id = job.id,
			   .attempt = attempt,
			   .peers = peers,
			   .npeers = ntms,
			   .subtask_peer = (const uint32_t *const *)where,
			   .edge_base = edge_base};
	*slot = &job;

	/* Phase 1: every task's input gate exists before any producer starts. */
	cm_err err = {0};
	for (size_t v = 0; v < jg->nvertices && rc == 0; v++) {
		for (int i = 0; i < jg->vertices[v].parallelism && rc == 0; i++) {
			/* The descriptor travels as bytes, as it will between
			 * processes: what the TaskManager runs is what it decoded. */
			td_task *td;
			uint8_t *bytes = NULL;
			size_t len = 0;
			if ((rc = td_build(jg, &pl, (int)v, i, &td)) == 0) {
				rc = td_encode(td, &bytes, &len);
				td_free(td);
			}
			if (rc) {
				cm_err_set(&err, rc, "cannot encode the deployment descriptor of %s (%d/%d): %s",
					   jg->vertices[v].name, i + 1, jg->vertices[v].parallelism,
					   fl_strerror(rc));
				break;
			}
			rc = td_decode(bytes, len, &td, &err);
			free(bytes);
			if (rc == 0)
				rc = tm_submit(tms[where[v][i]], td, &err);
		}
	}
	if (rc == 0) {
		CM_INFO("jobmaster", "Job '%s' (%s) switched from CREATED to RUNNING", jg->job_name,
			job.id);
		if (L->submitted)
			L->submitted(L->arg, job.id, jg->job_name);
	}
	/* Phase 2: start; tasks connect their outputs on their own threads. */
	int started = 0;
	for (size_t k = 0; k < ntms && rc == 0; k++)
		rc = tm_start_job(tms[k], job.id, attempt, &started, &err);
	if (rc) {
		snprintf(res->error, sizeof(res->error), "deployment failed: %.480s",
			 err.msg[0] ? err.msg : fl_strerror(rc));
		CM_ERROR("jobmaster", "%s", res->error);
		for (size_t k = 0; k < ntms; k++)
			tm_cancel_job(tms[k], job.id, attempt);
	}

	/* Follow the job: progress once a second, cancel everything on the
	 * first failure, end when every started task is final. */
	bool cancelled = rc != 0, user_cancelled = false;
	int64_t next_progress = cm_now_ms() + 1000;
	if (cancel)
		cm_cancel_watch(cancel, on_cancel, &job);
	pthread_mutex_lock(&job.mu);
	while (job.final < started) {
		if (job.cancel_requested && !cancelled && !job.failed) {
			cancelled = user_cancelled = true;
			pthread_mutex_unlock(&job.mu);
			CM_INFO("jobmaster", "Job '%s' (%s) switched from RUNNING to CANCELLING",
				jg->job_name, job.id);
			for (size_t k = 0; k < ntms; k++)
				tm_cancel_job(tms[k], job.id, attempt);
			pthread_mutex_lock(&job.mu);
			continue;
		}
		if (job.failed && !cancelled) {
			cancelled = true;
			pthread_mutex_unlock(&job.mu);
			CM_INFO("jobmaster", "Job '%s' (%s) switched from RUNNING to FAILING: %s",
				jg->job_name, job.id, job.error);
			for (size_t k = 0; k < ntms; k++)
				tm_cancel_job(tms[k], job.id, attempt);
			pthread_mutex_lock(&job.mu);
			continue;
		}
		if (!L->progress) {
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
			report_progress(tms, ntms, jg, job.id, attempt, in, out, np, cm_now_ms() - t0,
					L);
			pthread_mutex_lock(&job.mu);
		}
	}
	bool failed = job.failed;
	pthread_mutex_unlock(&job.mu);
	if (cancel)
		cm_cancel_unwatch(cancel);
	if (L->progress && rc == 0)
		report_progress(tms, ntms, jg, job.id, attempt, in, out, np, cm_now_ms() - t0, L);
	for (size_t k = 0; k < ntms; k++)
		tm_release_job(tms[k], job.id, attempt);
	*slot = NULL;
	res->runtime_ms = cm_now_ms() - t0;
	if (rc == 0) {
		res->status = failed ? FL_EJOBFAILED : user_cancelled ? FL_ECANCELED : 0;
		if (failed)
			snprintf(res->error, sizeof(res->error), "%s", job.error);
		else if (user_cancelled)
			snprintf(res->error, sizeof(res->error), "the job was cancelled");
		CM_INFO("jobmaster", "Job '%s' (%s) switched to %s after %lld ms", jg->job_name, job.id,
			failed ? "FAILED" : user_cancelled ? "CANCELED" : "FINISHED",
			(long long)res->runtime_ms);
	} else {
		res->status = rc;
		rc = 0;
	}
done:
	if (where)
		for (size_t v = 0; v < jg->nvertices; v++)
			free(where[v]);
	free(where);
	free(edge_base);
	free(peers);
	free(in);
	free(out);
	free(np);
	pthread_cond_destroy(&job.cv);
	pthread_mutex_destroy(&job.mu);
	cm_log_set_thread_job(NULL);
	if (rc == FL_ENOMEM && !res->error[0])
		snprintf(res->error, sizeof(res->error), "out of memory");
	return rc;
}
