/*
 * local.c — "local:NAME" addresses: JobMaster gateways registered in this
 * process, opened by TaskManagers as references that outlive nothing: once
 * the JobMaster unregisters, calls through an open reference complete with
 * FL_ECLOSED.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

#include "rpc/gateway.h"

struct entry {
	char *name;
	rpc_jm_gateway *target; /* NULL once unregistered */
	int refs;		/* open references, plus one while registered */
	struct entry *next;
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct entry *registry;

/* Under registry_mu. */
static void entry_unref(struct entry *e)
{
	if (--e->refs > 0)
		return;
	for (struct entry **p = &registry; *p; p = &(*p)->next) {
		if (*p == e) {
			*p = e->next;
			break;
		}
	}
	free(e->name);
	free(e);
}

int rpc_local_register(const char *name, rpc_jm_gateway *g)
{
	struct entry *e = calloc(1, sizeof(*e));
	if (!e || !(e->name = strdup(name))) {
		free(e);
		return FL_ENOMEM;
	}
	e->target = g;
	e->refs = 1;
	pthread_mutex_lock(&registry_mu);
	for (struct entry *o = registry; o; o = o->next) {
		if (o->target && strcmp(o->name, name) == 0) {
			pthread_mutex_unlock(&registry_mu);
			free(e->name);
			free(e);
			return FL_EINVAL;
		}
	}
	e->next = registry;
	registry = e;
	pthread_mutex_unlock(&registry_mu);
	return 0;
}

void rpc_local_unregister(const char *name)
{
	pthread_mutex_lock(&registry_mu);
	for (struct entry *e = registry; e; e = e->next) {
		if (e->target && strcmp(e->name, name) == 0) {
			e->target = NULL;
			entry_unref(e);
			break;
		}
	}
	pthread_mutex_unlock(&registry_mu);
}

/* A reference: forwards to the registered gateway while it is there. */
struct ref {
	rpc_jm_gateway base;
	struct entry *e;
};

static void ref_task_state(rpc_jm_gateway *g, const char *resource_id, const char *job_id,
			   uint64_t attempt, int vertex, int subtask, int state, const char *error,
			   rpc_done_fn done, void *arg)
{
	struct ref *r = (struct ref *)g;
	/* The registry lock is held across the forward so that unregister
	 * cannot let the target go meanwhile; the target only posts. */
	pthread_mutex_lock(&registry_mu);
	rpc_jm_gateway *t = r->e->target;
	if (t)
		t->ops->task_state(t, resource_id, job_id, attempt, vertex, subtask, state, error, done,
				   arg);
	pthread_mutex_unlock(&registry_mu);
	if (!t && done) {
		char msg[200];
		snprintf(msg, sizeof(msg), "the JobMaster at local:%s is gone", r->e->name);
		done(arg, FL_ECLOSED, msg, NULL, 0);
	}
}

static void ref_ack_checkpoint(rpc_jm_gateway *g, const char *resource_id, const char *job_id,
			       uint64_t attempt, int vertex, int subtask, uint64_t id,
			       const uint8_t *states, size_t len, const char *decline,
			       rpc_done_fn done, void *arg)
{
	struct ref *r = (struct ref *)g;
	pthread_mutex_lock(&registry_mu);
	rpc_jm_gateway *t = r->e->target;
	if (t)
		t->ops->ack_checkpoint(t, resource_id, job_id, attempt, vertex, subtask, id, states,
				       len, decline, done, arg);
	pthread_mutex_unlock(&registry_mu);
	if (!t && done) {
		char msg[200];
		snprintf(msg, sizeof(msg), "the JobMaster at local:%s is gone", r->e->name);
		done(arg, FL_ECLOSED, msg, NULL, 0);
	}
}

static void ref_free(rpc_jm_gateway *g)
{
	struct ref *r = (struct ref *)g;
	pthread_mutex_lock(&registry_mu);
	entry_unref(r->e);
	pthread_mutex_unlock(&registry_mu);
	free(r);
}

static const struct rpc_jm_gateway_ops ref_ops = {
    .task_state = ref_task_state, .ack_checkpoint = ref_ack_checkpoint, .free = ref_free};

int rpc_local_open(const char *name, rpc_jm_gateway **out)
{
	*out = NULL;
	struct ref *r = calloc(1, sizeof(*r));
	if (!r)
		return FL_ENOMEM;
	r->base.ops = &ref_ops;
	pthread_mutex_lock(&registry_mu);
	for (struct entry *e = registry; e; e = e->next) {
		if (e->target && strcmp(e->name, name) == 0) {
			e->refs++;
			r->e = e;
			break;
		}
	}
	pthread_mutex_unlock(&registry_mu);
	if (!r->e) {
		free(r);
		return FL_ENOENT;
	}
	*out = &r->base;
	return 0;
}
