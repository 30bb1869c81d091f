/*
 * protocol.h — the control protocol: how a gateway call (rpc/gateway.h)
 * travels as one NNG request message and comes back as one reply.
 *
 *   request  u32le "FRPC" magic, u8 version, u8 method, u16 zero,
 *            u64le id, svarint wall-clock ms, 16-byte nonce, str cluster id,
 *            str to (the resource id of the receiver, "" when unknown),
 *            bytes body (the method's arguments), 32-byte mac
 *   reply    u32le "FRPR" magic, u8 version, u8 method, u16 zero,
 *            u64le id, svarint rc, str message, bytes payload, 32-byte mac
 *
 * The request's mac is HMAC(secret, "flinc-rpc-request" | the bytes before
 * it); the reply's is HMAC(secret, "flinc-rpc-reply" | the request's mac |
 * the bytes before it), so a reply belongs to exactly one request. A
 * request more than RPC_MAX_SKEW_MS away from the receiver's clock is
 * refused (a recorded request cannot be replayed later); within that
 * window the receiver remembers every nonce it accepted (rpc_seen), so a
 * replay to it is refused, and a request names its receiver ("to"), so a
 * replay to another TaskManager is refused too.
 *
 * The first 8 bytes keep their meaning in every version, so a peer with
 * another version gets an error naming both versions.
 */
#ifndef FLINC_RPC_PROTOCOL_H
#define FLINC_RPC_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "common/auth.h"
#include "common/buf.h"

#define RPC_VERSION 3 /* 2: checkpoints; 3: restore shares in descriptors, stop-with-savepoint */
#define RPC_MAX_MESSAGE (17u * 1024u * 1024u) /* a descriptor and then some */
#define RPC_MAX_SKEW_MS (5 * 60 * 1000)
#define RPC_NONCE 16
#define RPC_TO_MAX 127

enum rpc_method {
	RPC_SLOTS = 1,
	RPC_SUBMIT = 2,
	RPC_START = 3,
	RPC_CANCEL = 4,
	RPC_RELEASE = 5,
	RPC_METRICS = 6,
	RPC_HEARTBEAT = 7,
	RPC_TRIGGER_CHECKPOINT = 8,
	RPC_NOTIFY_CHECKPOINT = 9,
	RPC_TASK_STATE = 20,
	RPC_ACK_CHECKPOINT = 21,
	RPC_REGISTER_TM = 30,
	RPC_TM_HEARTBEAT = 31,
	RPC_BLOB = 32,
};

const char *rpc_method_name(int method);
/* Which gateway serves a method: 0 TaskManager, 1 JobMaster, 2
 * ResourceManager, -1 none. */
int rpc_method_target(int method);

typedef struct rpc_request {
	int method;
	uint64_t id;
	int64_t wall_ms;
	char cluster_id[64];
	char to[RPC_TO_MAX + 1];
	uint8_t nonce[RPC_NONCE];
	const uint8_t *body; /* view into the message */
	size_t body_len;
	uint8_t mac[CM_MAC_LEN];
} rpc_request;

typedef struct rpc_reply {
	int method;
	uint64_t id;
	int rc;
	char message[512];
	const uint8_t *payload; /* view into the message */
	size_t payload_len;
} rpc_reply;

/*
 * Encodes a request (body: the method's arguments, already encoded) for
 * the receiver `to` (its resource id; NULL or "" when not known yet) into
 * malloc'd bytes. Fills *mac with the request's mac (for checking its
 * reply). Returns 0, FL_ENOMEM, FL_ERANGE (over RPC_MAX_MESSAGE) or FL_EIO
 * (HMAC failed).
 */
int rpc_request_encode(int method, uint64_t id, const char *cluster_id, const char *to,
		       const uint8_t *body, size_t body_len, const cm_secret *s, uint8_t **out,
		       size_t *len, uint8_t mac[CM_MAC_LEN]);

/*
 * Decodes and checks a request: format, version (FL_EPROTO naming both
 * versions), mac (FL_EACCES-like FL_EPROTO "failed authentication"),
 * cluster id, clock skew, and, when self is not NULL, the receiver: "to"
 * must be self, or empty for a slots request (the first call, made before
 * the caller knows whom it reached). Returns 0 or FL_EPROTO with why
 * filled; r->id, r->method and r->mac are filled as far as they were read,
 * so an error reply can still name the request.
 */
int rpc_request_decode(const uint8_t *buf, size_t len, const cm_secret *s, const char *cluster_id,
		       const char *self, int64_t now_wall_ms, rpc_request *r, char *why,
		       size_t whylen);

/*
 * The nonces a receiver accepted, each remembered until its request's stamp
 * leaves the skew window: a replay within the window is refused. A hash
 * set that grows with the rate of accepted (authenticated) requests, up to
 * RPC_SEEN_MAX entries. Thread-safe.
 */
#define RPC_SEEN_MAX (1u << 20)
typedef struct rpc_seen rpc_seen;
int rpc_seen_new(rpc_seen **out);
void rpc_seen_free(rpc_seen *s);
/* Records r's nonce. Returns 0 the first time; FL_EPROTO with why for a
 * nonce already recorded (a replay); FL_ERANGE with why when the set is
 * full of live entries (more than RPC_SEEN_MAX requests within the window),
 * FL_ENOMEM when it cannot grow. */
int rpc_seen_add(rpc_seen *s, const rpc_request *r, int64_t now_wall_ms, char *why, size_t whylen);

/*
 * The arguments of a method, decoded from a request's body (the encoding is
 * in rpc/nng.c's client calls and gateway.h): strings are malloc'd and
 * NUL-terminated, bytes view into the body. Which fields a method fills:
 *   submit        bytes (descriptor), a (JobMaster address)
 *   start, cancel, release, metrics   a (job id), attempt
 *   heartbeat     a (JobMaster address)
 *   task state    a (resource id), b (job id), attempt, vertex, subtask,
 *                 state, c (error, NULL when none)
 *   register TM   a (resource id), b (RPC address), d (data address),
 *                 slots, cpu_milli, memory_bytes, managed_bytes,
 *                 network_bytes
 *   TM heartbeat  a (resource id)
 *   blob          a (hash), offset
 *   trigger checkpoint  a (job id), attempt, vertex, subtask, checkpoint,
 *                 timestamp, state (kind, | CP_TRIGGER_PREPARE), b (directory)
 *   notify checkpoint   a (job id), attempt, checkpoint, state (1: aborted)
 *   ack checkpoint      a (resource id), b (job id), attempt, vertex,
 *                 subtask, checkpoint, bytes (states), c (decline reason,
 *                 NULL for an acknowledgement)
 */
typedef struct rpc_args {
	char *a, *b, *c, *d;
	const uint8_t *bytes;
	size_t blen;
	uint64_t attempt, vertex, subtask, state, offset, checkpoint;
	int64_t timestamp;
	uint64_t slots, cpu_milli, memory_bytes, managed_bytes, network_bytes;
} rpc_args;

/* Decodes the body of a request of method: every length and count checked,
 * every number in range for its use (vertex and subtask in int, state below
 * 64, 1..2^20 slots, resources and offsets in int64). Returns 0 (free with
 * rpc_args_fini) or FL_EPROTO / FL_ENOMEM with why naming the method and
 * what was wrong; nothing to free then. */
int rpc_args_decode(int method, const uint8_t *body, size_t len, rpc_args *out, char *why,
		    size_t whylen);
void rpc_args_fini(rpc_args *a);

/* Encodes the reply to the request with request mac req_mac. */
int rpc_reply_encode(int method, uint64_t id, int rc, const char *message, const uint8_t *payload,
		     size_t payload_len, const uint8_t req_mac[CM_MAC_LEN], const cm_secret *s,
		     uint8_t **out, size_t *len);

/* Decodes and checks a reply to the request with id and req_mac. Returns 0
 * or FL_EPROTO with why filled. */
int rpc_reply_decode(const uint8_t *buf, size_t len, uint64_t id,
		     const uint8_t req_mac[CM_MAC_LEN], const cm_secret *s, rpc_reply *r, char *why,
		     size_t whylen);

#endif
