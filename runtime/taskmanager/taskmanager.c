/*
 * taskmanager.c — slots, deployment and the local channel registry.
 */
#include "taskmanager/taskmanager.h"

#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/sync.h"

#define TM_FLUSH_TICK_MS 20

static void *flusher_main(void *arg)
{
	tm_taskmanager *tm = arg;
	pthread_mutex_lock(&tm->mu);
	while (!tm->flusher_stop) {
		struct timespec ts = cm_deadline_ts(cm_now_ms() + TM_FLUSH_TICK_MS);
		pthread_cond_timedwait(&tm->flusher_cv, &tm->mu, &ts);
		for (size_t i = 0; i < tm->ntasks; i++)
			atomic_fetch_or(&tm->tasks[i]->attention, TM_ATTN_FLUSH);
	}
	pthread_mutex_unlock(&tm->mu);
	return NULL;
}

int tm_new(tm_taskmanager **out, const tm_options *o, cm_err *err)
{
	tm_taskmanager *tm = calloc(1, sizeof(*tm));
	if (!tm)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	tm->index = o->index;
	tm->slots = o->slots;
	tm->config = o->config;
	tm->on_state = o->on_state;
	tm->on_state_arg = o->on_state_arg;
	snprintf(tm->id, sizeof(tm->id), "taskmanager-%d", o->index);
	int64_t seg = 32 * 1024, bpc = 2;
	if (o->config) {
		cfg_get_memory_bytes(o->config, CFG_SEGMENT_SIZE, &seg);
		cfg_get_int(o->config, CFG_BUFFERS_PER_CHANNEL, &bpc);
	}
	tm->segment_size = (uint32_t)seg;
	tm->buffers_per_channel = (int)bpc;
	pthread_mutex_init(&tm->mu, NULL);
	if (cm_cond_init(&tm->flusher_cv) != 0) {
		pthread_mutex_destroy(&tm->mu);
		free(tm);
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	}
	int rc = net_endpoint_new(&tm->ep, o->host ? o->host : "127.0.0.1", o->port, err);
	if (rc == 0 && pthread_create(&tm->flusher, NULL, flusher_main, tm) != 0) {
		net_endpoint_free(tm->ep);
		rc = cm_err_set(err, FL_ENOMEM, "cannot start the output flusher thread");
	}
	if (rc) {
		pthread_cond_destroy(&tm->flusher_cv);
		pthread_mutex_destroy(&tm->mu);
		free(tm);
		return rc;
	}
	CM_INFO("taskmanager", "TaskManager %s started with %d slots, data address %s", tm->id,
		tm->slots, net_endpoint_address(tm->ep));
	*out = tm;
	return 0;
}

const char *tm_address(const tm_taskmanager *tm)
{
	return net_endpoint_address(tm->ep);
}

void tm_free(tm_taskmanager *tm)
{
	if (!tm)
		return;
	pthread_mutex_lock(&tm->mu);
	tm->flusher_stop = true;
	pthread_cond_signal(&tm->flusher_cv);
	for (size_t i = 0; i < tm->ntasks; i++)
		tm_task_cancel(tm->tasks[i]);
	pthread_mutex_unlock(&tm->mu);
	pthread_join(tm->flusher, NULL);
	for (size_t i = 0; i < tm->ntasks; i++)
		tm_task_join(tm->tasks[i]);
	for (size_t i = 0; i < tm->ntasks; i++)
		tm_task_free(tm->tasks[i]);
	free(tm->tasks);
	net_endpoint_free(tm->ep);
	free(tm->inputs);
	pthread_cond_destroy(&tm->flusher_cv);
	pthread_mutex_destroy(&tm->mu);
	CM_INFO("taskmanager", "TaskManager %s stopped", tm->id);
	free(tm);
}

int tm_prepare_task(tm_taskmanager *tm, const char *job_id, const jg_graph *jg, int vertex,
		    int subtask, const tm_placement *pl, cm_err *err)
{
	tm_task *t;
	int rc = tm_task_new(tm, job_id, jg, vertex, subtask, pl, &t, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&tm->mu);
	if (tm->ntasks == tm->cap_tasks) {
		size_t ncap = tm->cap_tasks ? tm->cap_tasks * 2 : 8;
		tm_task **nt = realloc(tm->tasks, ncap * sizeof(*nt));
		if (!nt) {
			pthread_mutex_unlock(&tm->mu);
			tm_task_free(t);
			return cm_err_set(err, FL_ENOMEM, "out of memory");
		}
		tm->tasks = nt;
		tm->cap_tasks = ncap;
	}
	tm->tasks[tm->ntasks++] = t;
	pthread_mutex_unlock(&tm->mu);
	CM_INFO("taskmanager", "Received task %s (job %s) on %s", t->name, job_id, tm->id);
	return 0;
}

int tm_start_job(tm_taskmanager *tm, const char *job_id, cm_err *err)
{
	/* Tasks are only added by prepare (before start) and removed by
	 * release (after all ended), so iterating without the lock while the
	 * job's threads run would be safe; the lock keeps TSan's view simple. */
	pthread_mutex_lock(&tm->mu);
	int rc = 0;
	for (size_t i = 0; i < tm->ntasks && rc == 0; i++) {
		tm_task *t = tm->tasks[i];
		if (strcmp(t->job_id, job_id) != 0 || t->started)
			continue;
		rc = tm_task_connect(t, err);
		if (rc == 0)
			rc = tm_task_start(t, err);
	}
	pthread_mutex_unlock(&tm->mu);
	return rc;
}

void tm_cancel_job(tm_taskmanager *tm, const char *job_id)
{
	pthread_mutex_lock(&tm->mu);
	for (size_t i = 0; i < tm->ntasks; i++)
		if (strcmp(tm->tasks[i]->job_id, job_id) == 0)
			tm_task_cancel(tm->tasks[i]);
	pthread_mutex_unlock(&tm->mu);
}

void tm_release_job(tm_taskmanager *tm, const char *job_id)
{
	/* One task at a time, freed outside the lock: freeing joins the
	 * task's thread and unregisters its inputs, which takes tm->mu. */
	for (;;) {
		tm_task *t = NULL;
		pthread_mutex_lock(&tm->mu);
		for (size_t i = 0; i < tm->ntasks; i++) {
			if (strcmp(tm->tasks[i]->job_id, job_id) == 0) {
				t = tm->tasks[i];
				tm->tasks[i] = tm->tasks[--tm->ntasks];
				break;
			}
		}
		pthread_mutex_unlock(&tm->mu);
		if (!t)
			return;
		tm_task_free(t);
	}
}

void tm_job_metrics(tm_taskmanager *tm, const char *job_id, uint64_t *in, uint64_t *out)
{
	pthread_mutex_lock(&tm->mu);
	for (size_t i = 0; i < tm->ntasks; i++) {
		tm_task *t = tm->tasks[i];
		if (strcmp(t->job_id, job_id) != 0)
			continue;
		for (size_t j = 0; j < t->nops; j++) {
			in[t->ops[j].node->id] +=
			    atomic_load_explicit(&t->ops[j].records_in, memory_order_relaxed);
			out[t->ops[j].node->id] +=
			    atomic_load_explicit(&t->ops[j].records_out, memory_order_relaxed);
		}
	}
	pthread_mutex_unlock(&tm->mu);
}

int tm_register_local_input(tm_taskmanager *tm, uint64_t id, net_gate *g, int ch)
{
	pthread_mutex_lock(&tm->mu);
	if (tm->ninputs == tm->cap_inputs) {
		size_t ncap = tm->cap_inputs ? tm->cap_inputs * 2 : 32;
		struct tm_local_input *ni = realloc(tm->inputs, ncap * sizeof(*ni));
		if (!ni) {
			pthread_mutex_unlock(&tm->mu);
			return FL_ENOMEM;
		}
		tm->inputs = ni;
		tm->cap_inputs = ncap;
	}
	tm->inputs[tm->ninputs++] = (struct tm_local_input){id, g, ch};
	pthread_mutex_unlock(&tm->mu);
	return 0;
}

void tm_unregister_local_input(tm_taskmanager *tm, uint64_t id)
{
	pthread_mutex_lock(&tm->mu);
	for (size_t i = 0; i < tm->ninputs; i++) {
		if (tm->inputs[i].id == id) {
			tm->inputs[i] = tm->inputs[--tm->ninputs];
			break;
		}
	}
	pthread_mutex_unlock(&tm->mu);
}

int tm_lookup_local_input(tm_taskmanager *tm, uint64_t id, net_gate **g, int *ch)
{
	/* Called from tm_start_job, which holds tm->mu. */
	for (size_t i = 0; i < tm->ninputs; i++) {
		if (tm->inputs[i].id == id) {
			*g = tm->inputs[i].gate;
			*ch = tm->inputs[i].ch;
			return 0;
		}
	}
	return FL_ENOENT;
}

void tm_report_state(tm_taskmanager *tm, tm_task *t, enum tm_task_state st, const char *error)
{
	if (st == TM_TASK_FAILED)
		CM_WARN("task", "%s switched from RUNNING to FAILED: %s", t->name, error ? error : "");
	else
		CM_INFO("task", "%s switched to %s", t->name, tm_task_state_name(st));
	if (tm->on_state)
		tm->on_state(tm->on_state_arg, t->job_id, t->vertex->id, t->subtask, st, error);
}
