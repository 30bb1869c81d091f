/*
 * handshake.c — encoding and checking the three handshake messages.
 */
#include "network/handshake.h"

#include <stdio.h>
#include <string.h>

#include <flinc/flinc.h>

static const char magic[4] = {'F', 'L', 'N', 'C'};

static void put_prefix(uint8_t *out, uint8_t kind, uint16_t extra)
{
	memcpy(out, magic, 4);
	out[4] = kind;
	out[5] = NET_PROTOCOL_VERSION;
	out[6] = (uint8_t)extra;
	out[7] = (uint8_t)(extra >> 8);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* A length byte, then up to cap bytes, zero padded. */
static void put_str(uint8_t *p, size_t cap, const char *s)
{
	size_t n = s ? strnlen(s, cap) : 0;
	memset(p, 0, cap + 1);
	p[0] = (uint8_t)n;
	if (n)
		memcpy(p + 1, s, n);
}

static int get_str(const uint8_t *p, size_t cap, char *out, const char *what, char *why,
		   size_t len)
{
	size_t n = p[0];
	if (n > cap) {
		snprintf(why, len, "handshake %s of %zu bytes, more than %zu", what, n, cap);
		return FL_EPROTO;
	}
	for (size_t i = 0; i < n; i++) {
		if (p[1 + i] < 0x20 || p[1 + i] == 0x7f) {
			snprintf(why, len, "handshake %s holds a control character", what);
			return FL_EPROTO;
		}
	}
	memcpy(out, p + 1, n);
	out[n] = '\0';
	return 0;
}

int net_hs_prefix_decode(const uint8_t in[NET_HS_PREFIX], net_hs_prefix *p, char *why, size_t len)
{
	if (memcmp(in, magic, 4) != 0) {
		snprintf(why, len, "not a flinc data connection (no handshake)");
		return FL_EPROTO;
	}
	p->kind = in[4];
	p->version = in[5];
	return 0;
}

void net_hs_hello_encode(uint8_t out[NET_HS_HELLO_LEN], const net_hello *h)
{
	put_prefix(out, NET_HS_HELLO, 0);
	put64(out + 8, h->attempt);
	memcpy(out + 16, h->nonce, NET_HS_NONCE);
	put_str(out + 48, NET_HS_CLUSTER_MAX, h->cluster_id);
	put_str(out + 112, NET_HS_ID_MAX, h->resource_id);
}

int net_hs_hello_decode(const uint8_t in[NET_HS_HELLO_LEN], net_hello *h, char *why, size_t len)
{
	if (in[4] != NET_HS_HELLO || in[6] || in[7]) {
		snprintf(why, len, "handshake: expected HELLO, got message kind %u", in[4]);
		return FL_EPROTO;
	}
	h->attempt = get64(in + 8);
	memcpy(h->nonce, in + 16, NET_HS_NONCE);
	if (get_str(in + 48, NET_HS_CLUSTER_MAX, h->cluster_id, "cluster id", why, len) ||
	    get_str(in + 112, NET_HS_ID_MAX, h->resource_id, "resource id", why, len))
		return FL_EPROTO;
	return 0;
}

static int mac_over(const cm_secret *s, const char *label, const uint8_t *a, size_t la,
		    const uint8_t *b, size_t lb, uint8_t out[CM_MAC_LEN])
{
	const void *parts[3] = {label, a, b};
	size_t lens[3] = {strlen(label), la, lb};
	return cm_hmac(s, parts, lens, 3, out);
}

/* The WELCOME bytes its mac covers: everything before the mac. */
#define WELCOME_MAC_AT 40

int net_hs_welcome_encode(uint8_t out[NET_HS_WELCOME_LEN], net_welcome *w,
			  const uint8_t hello[NET_HS_HELLO_LEN], const cm_secret *s)
{
	put_prefix(out, NET_HS_WELCOME, w->status);
	memcpy(out + 8, w->nonce, NET_HS_NONCE);
	memset(out + WELCOME_MAC_AT, 0, CM_MAC_LEN);
	put_str(out + 72, NET_HS_MSG_MAX, w->message);
	if (w->status != NET_HS_OK)
		return 0;
	/* The mac covers the message text too: it is part of what was said. */
	uint8_t m[CM_MAC_LEN];
	uint8_t tail[NET_HS_WELCOME_LEN];
	memcpy(tail, out, NET_HS_WELCOME_LEN);
	int rc = mac_over(s, "flinc-data-acceptor", hello, NET_HS_HELLO_LEN, tail,
			  NET_HS_WELCOME_LEN, m);
	if (rc)
		return rc;
	memcpy(out + WELCOME_MAC_AT, m, CM_MAC_LEN);
	memcpy(w->mac, m, CM_MAC_LEN);
	return 0;
}

int net_hs_welcome_decode(const uint8_t in[NET_HS_WELCOME_LEN], net_welcome *w, char *why,
			  size_t len)
{
	if (in[4] != NET_HS_WELCOME) {
		snprintf(why, len, "handshake: expected WELCOME, got message kind %u", in[4]);
		return FL_EPROTO;
	}
	w->status = (uint16_t)(in[6] | in[7] << 8);
	memcpy(w->nonce, in + 8, NET_HS_NONCE);
	memcpy(w->mac, in + WELCOME_MAC_AT, CM_MAC_LEN);
	return get_str(in + 72, NET_HS_MSG_MAX, w->message, "message", why, len);
}

bool net_hs_welcome_verify(const uint8_t welcome[NET_HS_WELCOME_LEN],
			   const uint8_t hello[NET_HS_HELLO_LEN], const cm_secret *s)
{
	uint8_t copy[NET_HS_WELCOME_LEN], m[CM_MAC_LEN];
	memcpy(copy, welcome, NET_HS_WELCOME_LEN);
	memset(copy + WELCOME_MAC_AT, 0, CM_MAC_LEN);
	if (mac_over(s, "flinc-data-acceptor", hello, NET_HS_HELLO_LEN, copy, NET_HS_WELCOME_LEN,
		     m) != 0)
		return false;
	return cm_mac_equal(m, welcome + WELCOME_MAC_AT, CM_MAC_LEN);
}

int net_hs_proof_encode(uint8_t out[NET_HS_PROOF_LEN], const uint8_t hello[NET_HS_HELLO_LEN],
			const uint8_t welcome[NET_HS_WELCOME_LEN], const cm_secret *s)
{
	put_prefix(out, NET_HS_PROOF, 0);
	return mac_over(s, "flinc-data-dialer", hello, NET_HS_HELLO_LEN, welcome,
			NET_HS_WELCOME_LEN, out + 8);
}

bool net_hs_proof_verify(const uint8_t proof[NET_HS_PROOF_LEN],
			 const uint8_t hello[NET_HS_HELLO_LEN],
			 const uint8_t welcome[NET_HS_WELCOME_LEN], const cm_secret *s)
{
	if (proof[4] != NET_HS_PROOF)
		return false;
	uint8_t m[CM_MAC_LEN];
	if (mac_over(s, "flinc-data-dialer", hello, NET_HS_HELLO_LEN, welcome, NET_HS_WELCOME_LEN,
		     m) != 0)
		return false;
	return cm_mac_equal(m, proof + 8, CM_MAC_LEN);
}
