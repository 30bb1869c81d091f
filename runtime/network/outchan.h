/*
 * outchan.h — where a producer's subpartition sends its buffers: a local
 * channel of a gate in the same TaskManager, or a remote channel over a
 * connection to another TaskManager (endpoint.h).
 */
#ifndef FLINC_NETWORK_OUTCHAN_H
#define FLINC_NETWORK_OUTCHAN_H

#include "network/buffer.h"

typedef struct net_outchan net_outchan;

struct net_outchan_ops {
	/* Sends b (ownership passes, even on error), waiting for room/credit.
	 * Returns 0, FL_ECANCELED, FL_ECLOSED or FL_EIO. */
	int (*send)(net_outchan *c, net_buffer *b);
	/* Releases any thread blocked in send; later sends fail FL_ECANCELED. */
	void (*cancel)(net_outchan *c);
	/* Why sends fail (a broken connection's reason), or NULL. */
	const char *(*why)(net_outchan *c);
	void (*free)(net_outchan *c);
};

struct net_outchan {
	const struct net_outchan_ops *ops;
};

/* A local channel: buffers go straight into gate g's channel ch. The gate
 * must outlive the outchan. Returns 0 or FL_ENOMEM. */
struct net_gate;
int net_outchan_local(net_outchan **out, struct net_gate *g, int ch);

static inline int net_outchan_send(net_outchan *c, net_buffer *b)
{
	return c->ops->send(c, b);
}
static inline void net_outchan_cancel(net_outchan *c)
{
	c->ops->cancel(c);
}
/* The reason a send failed with FL_ECLOSED ("connection to X lost: ..."),
 * or NULL when the channel has none to give. */
static inline const char *net_outchan_why(net_outchan *c)
{
	return c->ops->why ? c->ops->why(c) : NULL;
}
static inline void net_outchan_free(net_outchan *c)
{
	if (c)
		c->ops->free(c);
}

#endif
