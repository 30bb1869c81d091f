/*
 * frame.h — the wire format of the data plane (see endpoint.h): a 24-byte
 * little-endian header, then `len` payload bytes for DATA frames only.
 */
#ifndef FLINC_NETWORK_FRAME_H
#define FLINC_NETWORK_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define NET_FRAME_HDR 24

enum net_frame_type {
	NET_FR_OPEN = 1,
	NET_FR_DATA = 2,
	NET_FR_EVENT = 3,
	NET_FR_CREDIT = 4,
	NET_FR_CLOSE = 5,
};

/* Most credits one CREDIT frame may grant (and a producer may hold). */
#define NET_MAX_CREDIT (1 << 24)

struct net_frame {
	uint8_t type;
	uint8_t event;
	uint32_t len;
	uint64_t channel;
	int64_t arg;
};

void net_frame_encode(uint8_t out[NET_FRAME_HDR], const struct net_frame *f);

/*
 * Decodes and validates a header: known type, zero padding, len <=
 * NET_MAX_BUFFER and only on DATA, a known event on EVENT, 1..NET_MAX_CREDIT
 * on CREDIT. Returns 0, or FL_EPROTO with a description in why.
 */
int net_frame_decode(const uint8_t in[NET_FRAME_HDR], struct net_frame *f, char *why,
		     size_t whylen);

#endif
