#include <stdatomic.h>
#include <stdlib.h>

#include <flinc/flinc.h>

#include "network/gate_internal.h"
#include "network/outchan.h"

struct local_outchan {
	net_outchan base;
	net_gate *gate;
	int ch;
	/* Set by cancel from any thread; the gate rechecks it under its lock,
	 * so a producer sleeping on a full channel cannot miss it. */
	atomic_bool stop;
};

static int local_send(net_outchan *c, net_buffer *b)
{
	struct local_outchan *lc = (struct local_outchan *)c;
	return net_gate_push_stoppable(lc->gate, lc->ch, b, &lc->stop);
}

static void local_cancel(net_outchan *c)
{
	struct local_outchan *lc = (struct local_outchan *)c;
	atomic_store(&lc->stop, true);
	net_gate_wake_channel(lc->gate, lc->ch);
}

static void local_free(net_outchan *c)
{
	free(c);
}

static const struct net_outchan_ops local_ops = {
    .send = local_send,
    .cancel = local_cancel,
    .why = NULL,
    .free = local_free,
};

int net_outchan_local(net_outchan **out, struct net_gate *g, int ch)
{
	*out = NULL;
	struct local_outchan *lc = calloc(1, sizeof(*lc));
	if (!lc)
		return FL_ENOMEM;
	lc->base.ops = &local_ops;
	lc->gate = g;
	lc->ch = ch;
	atomic_init(&lc->stop, false);
	*out = &lc->base;
	return 0;
}
