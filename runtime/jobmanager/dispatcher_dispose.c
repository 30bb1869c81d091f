/*
 * dispatcher_dispose.c — savepoint disposals of the Dispatcher (Flink's
 * SavepointDisposalHandlers): POST /savepoint-disposal starts one and
 * answers at once with its trigger id; a worker thread removes the
 * savepoint (cp_dispose) off the REST thread, one disposal at a time in the
 * order asked; GET /savepoint-disposal/:triggerid reads how it ended.
 *
 * The worker runs while disposals wait and ends when none is left; the
 * next request starts it again (joining the one before, which has
 * returned or is returning).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/dispose.h"
#include "common/log.h"
#include "jobmanager/dispatcher_internal.h"

/* The oldest disposal not started (mu held), or NULL. */
static struct ds_dispose_op *next_waiting(ds_dispatcher *d)
{
	struct ds_dispose_op *oldest = NULL;
	for (struct ds_dispose_op *o = d->disposals; o; o = o->next)
		if (!o->started)
			oldest = o;
	return oldest;
}

static void *dispose_worker(void *arg)
{
	ds_dispatcher *d = arg;
	char path[sizeof(((struct ds_dispose_op *)0)->path)], id[33];
	pthread_mutex_lock(&d->mu);
	for (;;) {
		struct ds_dispose_op *o = next_waiting(d);
		if (!o)
			break;
		o->started = true;
		memcpy(path, o->path, sizeof(path));
		memcpy(id, o->id, sizeof(id));
		bool stopping = d->stopping;
		pthread_mutex_unlock(&d->mu);
		char shown[512];
		cp_path_shown(path, shown, sizeof(shown));
		cm_err err = {0};
		int rc = stopping
			     ? cm_err_set(&err, FL_ECANCELED,
					  "Savepoint '%.300s' was not disposed: the JobManager "
					  "is shutting down",
					  shown)
			     : cp_dispose(path, &err);
		if (rc)
			CM_WARN("dispatcher", "Disposal %s of savepoint %s failed: %s", id, shown,
				err.msg);
		pthread_mutex_lock(&d->mu);
		/* The entry stays: only finished ones are dropped. */
		o->done = true;
		o->rc = rc;
		snprintf(o->result, sizeof(o->result), "%s", rc ? err.msg : "");
		pthread_cond_broadcast(&d->cv);
	}
	d->dispose_worker_running = false;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

int ds_dispose(ds_dispatcher *d, const char *path, char trigger_id[33], cm_err *err)
{
	if (!path || !*path)
		return cm_err_set(err, FL_EINVAL, "savepoint-path is empty");
	if (strlen(path) >= sizeof(((struct ds_dispose_op *)0)->path))
		return cm_err_set(err, FL_EINVAL, "savepoint-path is longer than %zu bytes",
				  sizeof(((struct ds_dispose_op *)0)->path) - 1);
	struct ds_dispose_op *o = calloc(1, sizeof(*o));
	if (!o)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	char shown[512];
	cp_path_shown(path, shown, sizeof(shown));
	jm_new_job_id(o->id);
	snprintf(o->path, sizeof(o->path), "%s", path);
	pthread_mutex_lock(&d->mu);
	int waiting = 0;
	for (struct ds_dispose_op *x = d->disposals; x; x = x->next)
		waiting += !x->done;
	int rc = 0;
	if (d->stopping)
		rc = cm_err_set(err, FL_ECANCELED, "the JobManager is shutting down");
	else if (waiting >= DS_MAX_DISPOSALS)
		rc = cm_err_set(err, FL_ERANGE,
				"%d savepoint disposals are waiting or in progress already",
				waiting);
	if (rc) {
		pthread_mutex_unlock(&d->mu);
		free(o);
		return rc;
	}
	o->next = d->disposals;
	d->disposals = o;
	if (++d->ndisposals > DS_MAX_DISPOSALS) {
		/* Forget the oldest finished one. */
		struct ds_dispose_op **pp = &d->disposals, **oldest = NULL;
		for (; *pp; pp = &(*pp)->next)
			if ((*pp)->done)
				oldest = pp;
		if (oldest) {
			struct ds_dispose_op *gone = *oldest;
			*oldest = gone->next;
			free(gone);
			d->ndisposals--;
		}
	}
	memcpy(trigger_id, o->id, 33);
	if (!d->dispose_worker_running) {
		/* The one before set running to false with mu held and touches
		 * nothing after: joining it here does not wait on mu. */
		if (d->dispose_worker_started)
			pthread_join(d->dispose_worker, NULL);
		d->dispose_worker_started =
		    pthread_create(&d->dispose_worker, NULL, dispose_worker, d) == 0;
		d->dispose_worker_running = d->dispose_worker_started;
		if (!d->dispose_worker_started) {
			/* The operation exists and says why it failed. */
			o->started = o->done = true;
			o->rc = FL_ENOMEM;
			snprintf(o->result, sizeof(o->result),
				 "Savepoint '%.300s' was not disposed: cannot start a thread",
				 shown);
		}
	}
	pthread_mutex_unlock(&d->mu);
	CM_INFO("dispatcher", "Disposing savepoint %s (disposal %s)", shown, trigger_id);
	return 0;
}

int ds_dispose_status(ds_dispatcher *d, const char *id, struct ds_dispose_op *out)
{
	int rc = FL_ENOENT;
	pthread_mutex_lock(&d->mu);
	for (struct ds_dispose_op *o = d->disposals; o; o = o->next)
		if (strcmp(o->id, id) == 0) {
			*out = *o;
			out->next = NULL;
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&d->mu);
	return rc;
}

void ds_dispose_fini(ds_dispatcher *d)
{
	pthread_mutex_lock(&d->mu);
	d->stopping = true;
	while (d->dispose_worker_running)
		pthread_cond_wait(&d->cv, &d->mu);
	bool join = d->dispose_worker_started;
	d->dispose_worker_started = false;
	pthread_mutex_unlock(&d->mu);
	if (join)
		pthread_join(d->dispose_worker, NULL);
	while (d->disposals) {
		struct ds_dispose_op *o = d->disposals;
		d->disposals = o->next;
		free(o);
	}
	d->ndisposals = 0;
}
