/*
 * taskmanager.c — slots, deployment, and the output flusher.
 */
#include "taskmanager/taskmanager.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/sync.h"

#define TM_FLUSH_TICK_MS 20

struct tm_taskmanager {
	int index, slots;
	char resource_id[128];
	const cfg *config;
	net_endpoint *ep;
	net_pool *pool;
	tm_channels *channels;
	tm_state_fn on_state;
	void *on_state_arg;
	tm_task_deps deps;
	pthread_mutex_t mu; /* guards tasks */
	/* The output flusher (Flink's OutputFlusher): every TM_FLUSH_TICK_MS it
	 * raises each task's flush flag, so a partly filled buffer leaves
	 * within the buffer timeout even while a slow user function runs. */
	pthread_t flusher;
	pthread_cond_t flusher_cv;
	bool flusher_stop;
	tm_task **tasks;
	size_t ntasks, cap_tasks;
};

static void *flusher_main(void *arg)
{
	tm_taskmanager *tm = arg;
	pthread_mutex_lock(&tm->mu);
	while (!tm->flusher_stop) {
		struct timespec ts = cm_deadline_ts(cm_now_ms() + TM_FLUSH_TICK_MS);
		pthread_cond_timedwait(&tm->flusher_cv, &tm->mu, &ts);
		for (size_t i = 0; i < tm->ntasks; i++)
			atomic_fetch_or(&tm->tasks[i]->chain.attention, TM_ATTN_FLUSH);
	}
	pthread_mutex_unlock(&tm->mu);
	return NULL;
}

/* The task's upcall: logged here, forwarded to the JobMaster. */
static void on_task_state(void *arg, tm_task *t, enum tm_task_state st, const char *error)
{
	tm_taskmanager *tm = arg;
	if (st == TM_TASK_FAILED)
		CM_WARN("task", "switched from RUNNING to FAILED: %s", error ? error : "");
	else if (st == TM_TASK_RUNNING)
		CM_DEBUG("task", "switched from DEPLOYING to RUNNING");
	else
		CM_INFO("task", "switched from RUNNING to %s", tm_task_state_name(st));
	if (tm->on_state)
		tm->on_state(tm->on_state_arg, t->td->job_id, t->td->attempt, t->td->vertex,
			     t->td->subtask, st, error);
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
	int64_t seg = 32 * 1024, bpc = 2;
	if (o->config) {
		cfg_get_memory_bytes(o->config, CFG_SEGMENT_SIZE, &seg);
		cfg_get_int(o->config, CFG_BUFFERS_PER_CHANNEL, &bpc);
	}
	const char *bind = o->bind_host && *o->bind_host ? o->bind_host : "127.0.0.1";
	pthread_mutex_init(&tm->mu, NULL);
	if (cm_cond_init(&tm->flusher_cv) != 0) {
		pthread_mutex_destroy(&tm->mu);
		free(tm);
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	}
	int64_t net_bytes = 0;
	int rc = net_pool_size_from_config(o->config, &net_bytes, err);
	if (rc == 0)
		rc = net_pool_new(&tm->pool, (size_t)(net_bytes / seg), (uint32_t)seg, err);
	if (rc == 0 && (rc = tm_channels_new(&tm->channels)) != 0)
		cm_err_set(err, rc, "out of memory");
	/* The resource id is known before the endpoint exists: Flink's default
	 * is the host and port, here the host and a random suffix. */
	if (o->resource_id && *o->resource_id) {
		snprintf(tm->resource_id, sizeof(tm->resource_id), "%s", o->resource_id);
	} else {
		unsigned char r[3] = {0};
		if (cm_random(r, sizeof(r)) != 0)
			r[0] = (unsigned char)o->index;
		snprintf(tm->resource_id, sizeof(tm->resource_id), "%s-%d-%02x%02x%02x",
			 o->host && *o->host ? o->host : bind, o->index, r[0], r[1], r[2]);
	}
	int64_t max_conn = 1024, hs_timeout = 10000, idle_timeout = 60000;
	if (o->config) {
		cfg_get_int(o->config, CFG_MAX_CONNECTIONS, &max_conn);
		cfg_get_duration_ms(o->config, CFG_HANDSHAKE_TIMEOUT, &hs_timeout);
		cfg_get_duration_ms(o->config, CFG_IDLE_TIMEOUT, &idle_timeout);
	}
	net_endpoint_options eo = {.bind_host = bind,
				   .port = o->port,
				   .advertised_host = o->host,
				   .cluster_id = o->cluster_id,
				   .resource_id = tm->resource_id,
				   .secret = o->secret,
				   .pool = tm->pool,
				   .max_connections = (int)max_conn,
				   .handshake_timeout_ms = hs_timeout,
				   .idle_timeout_ms = idle_timeout};
	if (rc == 0)
		rc = net_endpoint_new(&tm->ep, &eo, err);
	if (rc == 0 && pthread_create(&tm->flusher, NULL, flusher_main, tm) != 0) {
		net_endpoint_free(tm->ep);
		rc = cm_err_set(err, FL_ENOMEM, "cannot start the output flusher thread");
	}
	if (rc) {
		tm_channels_free(tm->channels);
		net_pool_free(tm->pool);
		pthread_cond_destroy(&tm->flusher_cv);
		pthread_mutex_destroy(&tm->mu);
		free(tm);
		return rc;
	}
	tm->deps = (tm_task_deps){.ep = tm->ep,
				  .pool = tm->pool,
				  .channels = tm->channels,
				  .resource_id = tm->resource_id,
				  .segment_size = (uint32_t)seg,
				  .buffers_per_channel = (int)bpc,
				  .on_state = on_task_state,
				  .on_state_arg = tm};
	CM_INFO("taskmanager",
		"TaskManager %s started with %d slots, data address %s, %zu network buffers of %lld "
		"bytes (%lld MiB)",
		tm->resource_id, tm->slots, net_endpoint_address(tm->ep), net_pool_segments(tm->pool),
		(long long)seg, (long long)(net_bytes >> 20));
	*out = tm;
	return 0;
}

const char *tm_resource_id(const tm_taskmanager *tm)
{
	return tm->resource_id;
}

const char *tm_data_address(const tm_taskmanager *tm)
{
	return net_endpoint_address(tm->ep);
}

int tm_slots(const tm_taskmanager *tm)
{
	return tm->slots;
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
	net_pool_free(tm->pool);
	tm_channels_free(tm->channels);
	pthread_cond_destroy(&tm->flusher_cv);
	pthread_mutex_destroy(&tm->mu);
	CM_INFO("taskmanager", "TaskManager %s stopped", tm->resource_id);
	free(tm);
}

static bool of_job(const tm_task *t, const char *job_id, uint64_t attempt)
{
	return t->td->attempt == attempt && strcmp(t->td->job_id, job_id) == 0;
}

int tm_submit(tm_taskmanager *tm, td_task *td, cm_err *err)
{
	tm_task *t;
	int rc = tm_task_new(&tm->deps, td, &t, err);
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
	CM_DEBUG("taskmanager", "Received task %s (job %s) on %s", t->name, t->td->job_id,
		 tm->resource_id);
	return 0;
}

int tm_start_job(tm_taskmanager *tm, const char *job_id, uint64_t attempt, int *started,
		 cm_err *err)
{
	pthread_mutex_lock(&tm->mu);
	int rc = 0;
	for (size_t i = 0; i < tm->ntasks && rc == 0; i++) {
		tm_task *t = tm->tasks[i];
		if (of_job(t, job_id, attempt) && !t->started &&
		    (rc = tm_task_start(t, err)) == 0)
			(*started)++;
	}
	pthread_mutex_unlock(&tm->mu);
	return rc;
}

void tm_cancel_job(tm_taskmanager *tm, const char *job_id, uint64_t attempt)
{
	pthread_mutex_lock(&tm->mu);
	for (size_t i = 0; i < tm->ntasks; i++)
		if (of_job(tm->tasks[i], job_id, attempt))
			tm_task_cancel(tm->tasks[i]);
	pthread_mutex_unlock(&tm->mu);
}

void tm_release_job(tm_taskmanager *tm, const char *job_id, uint64_t attempt)
{
	/* One task at a time, freed outside the lock: freeing joins the
	 * task's thread, which may still be reporting its final state. */
	for (;;) {
		tm_task *t = NULL;
		pthread_mutex_lock(&tm->mu);
		for (size_t i = 0; i < tm->ntasks; i++) {
			if (of_job(tm->tasks[i], job_id, attempt)) {
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

void tm_job_metrics(tm_taskmanager *tm, const char *job_id, uint64_t attempt, uint64_t *in,
		    uint64_t *out, size_t nnodes)
{
	pthread_mutex_lock(&tm->mu);
	for (size_t i = 0; i < tm->ntasks; i++) {
		tm_task *t = tm->tasks[i];
		if (!of_job(t, job_id, attempt))
			continue;
		for (size_t j = 0; j < t->chain.nops; j++) {
			size_t node = (size_t)t->chain.ops[j].node->node;
			if (node >= nnodes)
				continue;
			in[node] += atomic_load_explicit(&t->chain.ops[j].records_in,
							 memory_order_relaxed);
			out[node] += atomic_load_explicit(&t->chain.ops[j].records_out,
							  memory_order_relaxed);
		}
	}
	pthread_mutex_unlock(&tm->mu);
}
