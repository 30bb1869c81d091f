#include "common/cancel.h"

#include <flinc/flinc.h>

int cm_cancel_init(cm_cancel *c)
{
	c->requested = false;
	c->fn = NULL;
	c->arg = NULL;
	return pthread_mutex_init(&c->mu, NULL) == 0 ? 0 : FL_ENOMEM;
}

void cm_cancel_fini(cm_cancel *c)
{
	pthread_mutex_destroy(&c->mu);
}

void cm_cancel_request(cm_cancel *c)
{
	pthread_mutex_lock(&c->mu);
	c->requested = true;
	if (c->fn)
		c->fn(c->arg);
	pthread_mutex_unlock(&c->mu);
}

bool cm_cancel_requested(cm_cancel *c)
{
	pthread_mutex_lock(&c->mu);
	bool r = c->requested;
	pthread_mutex_unlock(&c->mu);
	return r;
}

void cm_cancel_watch(cm_cancel *c, cm_cancel_fn fn, void *arg)
{
	pthread_mutex_lock(&c->mu);
	c->fn = fn;
	c->arg = arg;
	if (c->requested && fn)
		fn(arg);
	pthread_mutex_unlock(&c->mu);
}

void cm_cancel_unwatch(cm_cancel *c)
{
	pthread_mutex_lock(&c->mu);
	c->fn = NULL;
	c->arg = NULL;
	pthread_mutex_unlock(&c->mu);
}
