/*
 * gate_internal.h — gate functions used only inside runtime/network/ (by the
 * local outchan), so that a producer blocked on one channel can be released
 * without cancelling the consumer's whole gate.
 */
#ifndef FLINC_NETWORK_GATE_INTERNAL_H
#define FLINC_NETWORK_GATE_INTERNAL_H

#include <stdatomic.h>

#include "network/gate.h"

/*
 * As net_gate_push, but also gives up with FL_ECANCELED (b freed) once *stop
 * is true. The thread that sets *stop must then call net_gate_wake_channel.
 */
int net_gate_push_stoppable(net_gate *g, int ch, net_buffer *b, const atomic_bool *stop);

/* Wakes every producer waiting for room in channel ch, so it rechecks its
 * stop flag. */
void net_gate_wake_channel(net_gate *g, int ch);

/* The per-channel capacity given to net_gate_new (a remote channel's credit). */
int net_gate_capacity(const net_gate *g);

#endif
