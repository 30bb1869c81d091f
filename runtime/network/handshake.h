/*
 * handshake.h — how a data connection starts, before any frame: three fixed
 * messages that check the protocol version, the cluster and the job attempt
 * the connection is for, and prove both ends hold the cluster's shared
 * secret (HMAC-SHA256 over fresh nonces from both sides, so a recorded
 * handshake cannot be replayed and neither side can be impersonated).
 *
 *   dialer   -> acceptor  HELLO    magic "FLNC", kind 1, version, attempt,
 *                                  nonce_d, cluster id, dialer's resource id
 *   acceptor -> dialer    WELCOME  magic, kind 2, version, status, nonce_a,
 *                                  mac_a = HMAC(K, "flinc-data-acceptor" |
 *                                  HELLO | WELCOME up to mac_a), message
 *   dialer   -> acceptor  PROOF    magic, kind 3, version,
 *                                  mac_d = HMAC(K, "flinc-data-dialer" |
 *                                  HELLO | WELCOME)
 *
 * Every message starts with the same 8-byte prefix (magic, kind, version,
 * two bytes) in every version, so a peer speaking another version is told
 * so, with both version numbers, instead of timing out. A WELCOME with a
 * non-zero status refuses the connection and carries a message; its mac is
 * then zero.
 */
#ifndef FLINC_NETWORK_HANDSHAKE_H
#define FLINC_NETWORK_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/auth.h"

#define NET_PROTOCOL_VERSION 3 /* 2: the cancel-barrier event, 3: timestamped records */

#define NET_HS_PREFIX 8
#define NET_HS_HELLO_LEN 240
#define NET_HS_WELCOME_LEN 200
#define NET_HS_PROOF_LEN 40
#define NET_HS_NONCE 32
#define NET_HS_CLUSTER_MAX 63
#define NET_HS_ID_MAX 127
#define NET_HS_MSG_MAX 127

enum net_hs_kind { NET_HS_HELLO = 1, NET_HS_WELCOME = 2, NET_HS_PROOF = 3 };

enum net_hs_status {
	NET_HS_OK = 0,
	NET_HS_VERSION = 1, /* the acceptor speaks another version */
	NET_HS_CLUSTER = 2, /* another cluster id */
	NET_HS_ATTEMPT = 3, /* no channel of that job attempt here */
	NET_HS_BUSY = 4,    /* too many connections */
};

typedef struct net_hello {
	uint64_t attempt;
	uint8_t nonce[NET_HS_NONCE];
	char cluster_id[NET_HS_CLUSTER_MAX + 1];
	char resource_id[NET_HS_ID_MAX + 1];
} net_hello;

typedef struct net_welcome {
	uint16_t status;
	uint8_t nonce[NET_HS_NONCE];
	uint8_t mac[CM_MAC_LEN];
	char message[NET_HS_MSG_MAX + 1];
} net_welcome;

/* The common prefix of every message. */
typedef struct net_hs_prefix {
	uint8_t kind, version;
} net_hs_prefix;

/* Checks the magic; fills p. Returns 0 or FL_EPROTO (not a flinc data
 * connection: why filled). */
int net_hs_prefix_decode(const uint8_t in[NET_HS_PREFIX], net_hs_prefix *p, char *why, size_t len);

/* Encoders write the whole message (strings cut to their caps). */
void net_hs_hello_encode(uint8_t out[NET_HS_HELLO_LEN], const net_hello *h);
/* Decodes the bytes after the prefix check: FL_EPROTO on a malformed one. */
int net_hs_hello_decode(const uint8_t in[NET_HS_HELLO_LEN], net_hello *h, char *why, size_t len);
/* Encodes a WELCOME; when status is OK computes mac_a with s over hello. */
int net_hs_welcome_encode(uint8_t out[NET_HS_WELCOME_LEN], net_welcome *w,
			  const uint8_t hello[NET_HS_HELLO_LEN], const cm_secret *s);
int net_hs_welcome_decode(const uint8_t in[NET_HS_WELCOME_LEN], net_welcome *w, char *why,
			  size_t len);
/* True when w's mac is the acceptor's proof for hello and welcome bytes. */
bool net_hs_welcome_verify(const uint8_t welcome[NET_HS_WELCOME_LEN],
			   const uint8_t hello[NET_HS_HELLO_LEN], const cm_secret *s);
/* The dialer's PROOF over both earlier messages; FL_EIO if HMAC fails. */
int net_hs_proof_encode(uint8_t out[NET_HS_PROOF_LEN], const uint8_t hello[NET_HS_HELLO_LEN],
			const uint8_t welcome[NET_HS_WELCOME_LEN], const cm_secret *s);
bool net_hs_proof_verify(const uint8_t proof[NET_HS_PROOF_LEN],
			 const uint8_t hello[NET_HS_HELLO_LEN],
			 const uint8_t welcome[NET_HS_WELCOME_LEN], const cm_secret *s);

#endif
