#include "network/frame.h"

#include <stdio.h>

#include <flinc/flinc.h>

#include "network/buffer.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void net_frame_encode(uint8_t out[NET_FRAME_HDR], const struct net_frame *f)
{
	out[0] = f->type;
	out[1] = f->event;
	put16(out + 2, 0);
	put32(out + 4, f->len);
	put64(out + 8, f->channel);
	put64(out + 16, (uint64_t)f->arg);
}

int net_frame_decode(const uint8_t in[NET_FRAME_HDR], struct net_frame *f, char *why, size_t whylen)
{
	f->type = in[0];
	f->event = in[1];
	f->len = get32(in + 4);
	f->channel = get64(in + 8);
	f->arg = (int64_t)get64(in + 16);
	if (f->type < NET_FR_OPEN || f->type > NET_FR_CLOSE) {
		snprintf(why, whylen, "unknown frame type %u", f->type);
		return FL_EPROTO;
	}
	if (get16(in + 2) != 0) {
		snprintf(why, whylen, "nonzero reserved header bytes in frame type %u", f->type);
		return FL_EPROTO;
	}
	if (f->len > NET_MAX_BUFFER) {
		snprintf(why, whylen, "frame length %u over the %u-byte limit", f->len,
			 NET_MAX_BUFFER);
		return FL_EPROTO;
	}
	if (f->type != NET_FR_DATA && f->len != 0) {
		snprintf(why, whylen, "frame type %u with a %u-byte payload", f->type, f->len);
		return FL_EPROTO;
	}
	if (f->type == NET_FR_EVENT &&
	    (f->event < NET_EV_END_OF_PARTITION || f->event > NET_EV_CANCEL_BARRIER)) {
		snprintf(why, whylen, "unknown event %u on channel %llu", f->event,
			 (unsigned long long)f->channel);
		return FL_EPROTO;
	}
	if (f->type == NET_FR_CREDIT && (f->arg < 1 || f->arg > NET_MAX_CREDIT)) {
		snprintf(why, whylen, "credit %lld out of range on channel %llu", (long long)f->arg,
			 (unsigned long long)f->channel);
		return FL_EPROTO;
	}
	return 0;
}
