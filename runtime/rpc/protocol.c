/*
 * protocol.c — request and reply messages of the control protocol.
 */
#include "rpc/protocol.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

#include "common/clock.h"

#define REQ_MAGIC 0x43505246u /* "FRPC" */
#define REP_MAGIC 0x52505246u /* "FRPR" */

const char *rpc_method_name(int method)
{
	switch (method) {
	case RPC_SLOTS:
		return "slots";
	case RPC_SUBMIT:
		return "submit";
	case RPC_START:
		return "start";
	case RPC_CANCEL:
		return "cancel";
	case RPC_RELEASE:
		return "release";
	case RPC_METRICS:
		return "metrics";
	case RPC_HEARTBEAT:
		return "heartbeat";
	case RPC_TRIGGER_CHECKPOINT:
		return "trigger checkpoint";
	case RPC_NOTIFY_CHECKPOINT:
		return "notify checkpoint";
	case RPC_TASK_STATE:
		return "task state";
	case RPC_ACK_CHECKPOINT:
		return "acknowledge checkpoint";
	case RPC_REGISTER_TM:
		return "register TaskManager";
	case RPC_TM_HEARTBEAT:
		return "TaskManager heartbeat";
	case RPC_BLOB:
		return "blob";
	default:
		return "unknown";
	}
}

int rpc_method_target(int method)
{
	switch (method) {
	case RPC_SLOTS:
	case RPC_SUBMIT:
	case RPC_START:
	case RPC_CANCEL:
	case RPC_RELEASE:
	case RPC_METRICS:
	case RPC_HEARTBEAT:
	case RPC_TRIGGER_CHECKPOINT:
	case RPC_NOTIFY_CHECKPOINT:
		return 0;
	case RPC_TASK_STATE:
	case RPC_ACK_CHECKPOINT:
		return 1;
	case RPC_REGISTER_TM:
	case RPC_TM_HEARTBEAT:
	case RPC_BLOB:
		return 2;
	default:
		return -1;
	}
}

static int mac_of(const cm_secret *s, const char *label, const uint8_t *extra, size_t extra_len,
		  const uint8_t *msg, size_t len, uint8_t out[CM_MAC_LEN])
{
	const void *parts[3] = {label, extra, msg};
	size_t lens[3] = {strlen(label), extra_len, len};
	return cm_hmac(s, parts, lens, 3, out);
}

/* Appends the mac over what w holds. */
static int seal(cm_wbuf *w, const cm_secret *s, const char *label, const uint8_t *extra,
		size_t extra_len, uint8_t mac[CM_MAC_LEN])
{
	if (cm_wbuf_error(w))
		return cm_wbuf_error(w);
	if (mac_of(s, label, extra, extra_len, cm_wbuf_data(w), cm_wbuf_len(w), mac) != 0)
		return FL_EIO;
	cm_wbuf_raw(w, mac, CM_MAC_LEN);
	return cm_wbuf_error(w);
}

int rpc_request_encode(int method, uint64_t id, const char *cluster_id, const char *to,
		       const uint8_t *body, size_t body_len, const cm_secret *s, uint8_t **out,
		       size_t *len, uint8_t mac[CM_MAC_LEN])
{
	if (to && strlen(to) > RPC_TO_MAX)
		return FL_ERANGE;
	uint8_t nonce[RPC_NONCE];
	if (cm_random(nonce, sizeof(nonce)) != 0)
		return FL_EIO;
	cm_wbuf w;
	cm_wbuf_init(&w, RPC_MAX_MESSAGE);
	cm_wbuf_u32le(&w, REQ_MAGIC);
	cm_wbuf_u8(&w, RPC_VERSION);
	cm_wbuf_u8(&w, (uint8_t)method);
	cm_wbuf_raw(&w, "\0\0", 2);
	cm_wbuf_u64le(&w, id);
	cm_wbuf_svarint(&w, cm_wall_ms()); /* for the receiver's replay window */
	cm_wbuf_raw(&w, nonce, sizeof(nonce));
	cm_wbuf_str(&w, cluster_id ? cluster_id : "");
	cm_wbuf_str(&w, to ? to : "");
	cm_wbuf_bytes(&w, body, body_len);
	int rc = seal(&w, s, "flinc-rpc-request", NULL, 0, mac);
	if (rc == 0 && !(*out = cm_wbuf_take(&w, len)))
		rc = cm_wbuf_error(&w) ? cm_wbuf_error(&w) : FL_ENOMEM;
	cm_wbuf_fini(&w);
	return rc;
}

/* Reads the 8-byte prefix shared by every version. */
static int prefix(cm_rbuf *r, uint32_t magic, const char *what, int *method, char *why,
		  size_t whylen)
{
	uint32_t m = cm_rbuf_u32le(r);
	uint8_t version = cm_rbuf_u8(r);
	*method = cm_rbuf_u8(r);
	uint16_t zero = (uint16_t)(cm_rbuf_u8(r) | cm_rbuf_u8(r) << 8);
	if (cm_rbuf_error(r) || m != magic) {
		snprintf(why, whylen, "not a flinc control %s", what);
		return FL_EPROTO;
	}
	if (version != RPC_VERSION) {
		snprintf(why, whylen,
			 "control protocol version %u is not supported: this process speaks version %d",
			 version, RPC_VERSION);
		return FL_EPROTO;
	}
	if (zero != 0) {
		snprintf(why, whylen, "malformed control %s header", what);
		return FL_EPROTO;
	}
	return 0;
}

int rpc_request_decode(const uint8_t *buf, size_t len, const cm_secret *s, const char *cluster_id,
		       const char *self, int64_t now_wall_ms, rpc_request *r, char *why,
		       size_t whylen)
{
	memset(r, 0, sizeof(*r));
	if (len > RPC_MAX_MESSAGE || len < CM_MAC_LEN + 8) {
		snprintf(why, whylen, "a control request of %zu bytes", len);
		return FL_EPROTO;
	}
	cm_rbuf rb;
	cm_rbuf_init(&rb, buf, len - CM_MAC_LEN);
	int rc = prefix(&rb, REQ_MAGIC, "request", &r->method, why, whylen);
	r->id = cm_rbuf_u64le(&rb);
	memcpy(r->mac, buf + len - CM_MAC_LEN, CM_MAC_LEN);
	if (rc)
		return rc;
	r->wall_ms = cm_rbuf_svarint(&rb);
	const uint8_t *nonce = NULL;
	cm_rbuf_raw(&rb, RPC_NONCE, &nonce);
	if (nonce)
		memcpy(r->nonce, nonce, RPC_NONCE);
	char *cluster = NULL, *to = NULL;
	cm_rbuf_strdup(&rb, sizeof(r->cluster_id) - 1, &cluster);
	if (cluster) {
		memcpy(r->cluster_id, cluster, strlen(cluster) + 1);
		free(cluster);
	}
	cm_rbuf_strdup(&rb, RPC_TO_MAX, &to);
	if (to) {
		memcpy(r->to, to, strlen(to) + 1);
		free(to);
	}
	cm_rbuf_bytes(&rb, RPC_MAX_MESSAGE, &r->body, &r->body_len);
	if (cm_rbuf_end(&rb) != 0) {
		snprintf(why, whylen, "malformed control request: %s", cm_rbuf_errmsg(&rb));
		return FL_EPROTO;
	}
	uint8_t mac[CM_MAC_LEN];
	if (mac_of(s, "flinc-rpc-request", NULL, 0, buf, len - CM_MAC_LEN, mac) != 0 ||
	    !cm_mac_equal(mac, r->mac, CM_MAC_LEN)) {
		snprintf(why, whylen,
			 "a control request failed authentication: the sender does not hold this "
			 "cluster's security.internal.token");
		return FL_EPROTO;
	}
	if (cluster_id && strcmp(r->cluster_id, cluster_id) != 0) {
		snprintf(why, whylen, "a control request for cluster '%.60s', not '%.60s'",
			 r->cluster_id, cluster_id);
		return FL_EPROTO;
	}
	if (self && strcmp(r->to, self) != 0 && (r->to[0] || r->method != RPC_SLOTS)) {
		snprintf(why, whylen, "a control request for %.60s reached %.60s",
			 r->to[0] ? r->to : "an unnamed receiver", self);
		return FL_EPROTO;
	}
	int64_t skew = now_wall_ms - r->wall_ms;
	if (skew > RPC_MAX_SKEW_MS || skew < -RPC_MAX_SKEW_MS) {
		snprintf(why, whylen,
			 "a control request stamped %lld ms away from this clock (more than %d ms "
			 "allowed): replayed, or the clocks differ",
			 (long long)skew, RPC_MAX_SKEW_MS);
		return FL_EPROTO;
	}
	return 0;
}

int rpc_reply_encode(int method, uint64_t id, int rc, const char *message, const uint8_t *payload,
		     size_t payload_len, const uint8_t req_mac[CM_MAC_LEN], const cm_secret *s,
		     uint8_t **out, size_t *len)
{
	cm_wbuf w;
	cm_wbuf_init(&w, RPC_MAX_MESSAGE);
	cm_wbuf_u32le(&w, REP_MAGIC);
	cm_wbuf_u8(&w, RPC_VERSION);
	cm_wbuf_u8(&w, (uint8_t)method);
	cm_wbuf_raw(&w, "\0\0", 2);
	cm_wbuf_u64le(&w, id);
	cm_wbuf_svarint(&w, rc);
	cm_wbuf_str(&w, message ? message : "");
	cm_wbuf_bytes(&w, payload, payload_len);
	uint8_t mac[CM_MAC_LEN];
	int err = seal(&w, s, "flinc-rpc-reply", req_mac, CM_MAC_LEN, mac);
	if (err == 0 && !(*out = cm_wbuf_take(&w, len)))
		err = cm_wbuf_error(&w) ? cm_wbuf_error(&w) : FL_ENOMEM;
	cm_wbuf_fini(&w);
	return err;
}

int rpc_reply_decode(const uint8_t *buf, size_t len, uint64_t id,
		     const uint8_t req_mac[CM_MAC_LEN], const cm_secret *s, rpc_reply *r, char *why,
		     size_t whylen)
{
	memset(r, 0, sizeof(*r));
	if (len > RPC_MAX_MESSAGE || len < CM_MAC_LEN + 8) {
		snprintf(why, whylen, "a control reply of %zu bytes", len);
		return FL_EPROTO;
	}
	cm_rbuf rb;
	cm_rbuf_init(&rb, buf, len - CM_MAC_LEN);
	int rc = prefix(&rb, REP_MAGIC, "reply", &r->method, why, whylen);
	if (rc)
		return rc;
	r->id = cm_rbuf_u64le(&rb);
	int64_t code = cm_rbuf_svarint(&rb);
	char *msg = NULL;
	cm_rbuf_strdup(&rb, sizeof(r->message) - 1, &msg);
	if (msg) {
		memcpy(r->message, msg, strlen(msg) + 1);
		free(msg);
	}
	cm_rbuf_bytes(&rb, RPC_MAX_MESSAGE, &r->payload, &r->payload_len);
	if (cm_rbuf_end(&rb) != 0) {
		snprintf(why, whylen, "malformed control reply: %s", cm_rbuf_errmsg(&rb));
		return FL_EPROTO;
	}
	uint8_t mac[CM_MAC_LEN];
	if (mac_of(s, "flinc-rpc-reply", req_mac, CM_MAC_LEN, buf, len - CM_MAC_LEN, mac) != 0 ||
	    !cm_mac_equal(mac, buf + len - CM_MAC_LEN, CM_MAC_LEN)) {
		snprintf(why, whylen,
			 "a control reply failed authentication: the peer does not hold this "
			 "cluster's security.internal.token");
		return FL_EPROTO;
	}
	if (r->id != id) {
		snprintf(why, whylen, "a control reply to request %llu, not %llu",
			 (unsigned long long)r->id, (unsigned long long)id);
		return FL_EPROTO;
	}
	if (code > 0 || code < -1000) {
		snprintf(why, whylen, "a control reply with status %lld", (long long)code);
		return FL_EPROTO;
	}
	r->rc = (int)code;
	return 0;
}

/* -------------------------------------------------------- replay guard */

struct seen_entry {
	uint8_t nonce[RPC_NONCE];
	int64_t expires_ms; /* 0: never used; <= now: expired (a tombstone) */
};

struct rpc_seen {
	pthread_mutex_t mu;
	struct seen_entry *t;
	size_t cap;  /* a power of two */
	size_t used; /* entries not 0: live and expired */
};

#define SEEN_MIN 256

int rpc_seen_new(rpc_seen **out)
{
	*out = NULL;
	rpc_seen *s = calloc(1, sizeof(*s));
	if (!s)
		return FL_ENOMEM;
	if (!(s->t = calloc(SEEN_MIN, sizeof(*s->t))) || pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s->t);
		free(s);
		return FL_ENOMEM;
	}
	s->cap = SEEN_MIN;
	*out = s;
	return 0;
}

void rpc_seen_free(rpc_seen *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->mu);
	free(s->t);
	free(s);
}

/* Nonces are random: their first bytes are a hash. */
static size_t seen_slot(const uint8_t nonce[RPC_NONCE], size_t cap)
{
	uint64_t h;
	memcpy(&h, nonce, sizeof(h));
	return (size_t)h & (cap - 1);
}

/* Rebuilds the table with room for the live entries (dropping expired
 * ones), growing it when they fill more than a quarter. */
static int seen_rehash(rpc_seen *s, int64_t now)
{
	size_t live = 0;
	for (size_t i = 0; i < s->cap; i++)
		live += s->t[i].expires_ms > now;
	size_t cap = s->cap;
	while (live * 4 >= cap && cap < RPC_SEEN_MAX * 2)
		cap *= 2;
	struct seen_entry *t = calloc(cap, sizeof(*t));
	if (!t)
		return FL_ENOMEM;
	size_t used = 0;
	for (size_t i = 0; i < s->cap; i++) {
		if (s->t[i].expires_ms <= now)
			continue;
		size_t j = seen_slot(s->t[i].nonce, cap);
		while (t[j].expires_ms != 0)
			j = (j + 1) & (cap - 1);
		t[j] = s->t[i];
		used++;
	}
	free(s->t);
	s->t = t;
	s->cap = cap;
	s->used = used;
	return 0;
}

int rpc_seen_add(rpc_seen *s, const rpc_request *r, int64_t now_wall_ms, char *why, size_t whylen)
{
	/* A stamp is accepted while within the skew window of the receiver's
	 * clock: remember it until then. */
	int64_t expires = r->wall_ms + RPC_MAX_SKEW_MS + 1;
	if (expires <= now_wall_ms)
		expires = now_wall_ms + 1;
	pthread_mutex_lock(&s->mu);
	/* Half full (live and expired): rebuild, growing when live entries
	 * fill a quarter; above RPC_SEEN_MAX live entries, refuse. */
	if (s->used * 2 >= s->cap) {
		int rc = seen_rehash(s, now_wall_ms);
		if (rc == 0 && s->used * 2 >= s->cap)
			rc = FL_ERANGE;
		if (rc != 0) {
			pthread_mutex_unlock(&s->mu);
			snprintf(why, whylen,
				 rc == FL_ERANGE ? "too many control requests within %d ms (more than %u)"
						 : "out of memory for the replay guard (%d ms, %u)",
				 RPC_MAX_SKEW_MS, RPC_SEEN_MAX);
			return rc;
		}
	}
	size_t j = seen_slot(r->nonce, s->cap), free_slot = SIZE_MAX;
	while (s->t[j].expires_ms != 0) {
		if (s->t[j].expires_ms > now_wall_ms) {
			if (memcmp(s->t[j].nonce, r->nonce, RPC_NONCE) == 0) {
				pthread_mutex_unlock(&s->mu);
				snprintf(why, whylen,
					 "a replayed control request: its nonce was accepted within "
					 "the last %d ms",
					 2 * RPC_MAX_SKEW_MS);
				return FL_EPROTO;
			}
		} else if (free_slot == SIZE_MAX) {
			free_slot = j;
		}
		j = (j + 1) & (s->cap - 1);
	}
	if (free_slot == SIZE_MAX) {
		free_slot = j;
		s->used++;
	}
	memcpy(s->t[free_slot].nonce, r->nonce, RPC_NONCE);
	s->t[free_slot].expires_ms = expires;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* Longest address a request may carry (a URL or host:port). */
#define ARGS_ADDRESS_MAX 256

void rpc_args_fini(rpc_args *a)
{
	free(a->a);
	free(a->b);
	free(a->c);
	free(a->d);
	memset(a, 0, sizeof(*a));
}

int rpc_args_decode(int method, const uint8_t *body, size_t len, rpc_args *out, char *why,
		    size_t whylen)
{
	memset(out, 0, sizeof(*out));
	cm_rbuf r;
	cm_rbuf_init(&r, body, len);
	switch (method) {
	case RPC_SLOTS:
		break;
	case RPC_SUBMIT:
		cm_rbuf_bytes(&r, RPC_MAX_MESSAGE, &out->bytes, &out->blen);
		cm_rbuf_strdup(&r, ARGS_ADDRESS_MAX, &out->a);
		break;
	case RPC_START:
	case RPC_CANCEL:
	case RPC_RELEASE:
	case RPC_METRICS:
		cm_rbuf_strdup(&r, 64, &out->a);
		out->attempt = cm_rbuf_u64le(&r);
		break;
	case RPC_HEARTBEAT:
		cm_rbuf_strdup(&r, ARGS_ADDRESS_MAX, &out->a);
		break;
	case RPC_TASK_STATE:
		cm_rbuf_strdup(&r, 256, &out->a);
		cm_rbuf_strdup(&r, 64, &out->b);
		out->attempt = cm_rbuf_u64le(&r);
		out->vertex = cm_rbuf_uvarint(&r);
		out->subtask = cm_rbuf_uvarint(&r);
		out->state = cm_rbuf_uvarint(&r);
		cm_rbuf_strdup(&r, 4096, &out->c);
		break;
	case RPC_REGISTER_TM:
		cm_rbuf_strdup(&r, RPC_TO_MAX, &out->a);
		cm_rbuf_strdup(&r, ARGS_ADDRESS_MAX, &out->b);
		cm_rbuf_strdup(&r, ARGS_ADDRESS_MAX, &out->d);
		out->slots = cm_rbuf_uvarint(&r);
		out->cpu_milli = cm_rbuf_uvarint(&r);
		out->memory_bytes = cm_rbuf_uvarint(&r);
		out->managed_bytes = cm_rbuf_uvarint(&r);
		out->network_bytes = cm_rbuf_uvarint(&r);
		break;
	case RPC_TM_HEARTBEAT:
		cm_rbuf_strdup(&r, RPC_TO_MAX, &out->a);
		break;
	case RPC_BLOB:
		cm_rbuf_strdup(&r, 64, &out->a);
		out->offset = cm_rbuf_uvarint(&r);
		break;
	case RPC_TRIGGER_CHECKPOINT:
		cm_rbuf_strdup(&r, 64, &out->a);
		out->attempt = cm_rbuf_u64le(&r);
		out->vertex = cm_rbuf_uvarint(&r);
		out->subtask = cm_rbuf_uvarint(&r);
		out->checkpoint = cm_rbuf_uvarint(&r);
		out->timestamp = cm_rbuf_svarint(&r);
		out->state = cm_rbuf_uvarint(&r);
		cm_rbuf_strdup(&r, 4096, &out->b);
		break;
	case RPC_NOTIFY_CHECKPOINT:
		cm_rbuf_strdup(&r, 64, &out->a);
		out->attempt = cm_rbuf_u64le(&r);
		out->checkpoint = cm_rbuf_uvarint(&r);
		out->state = cm_rbuf_uvarint(&r);
		break;
	case RPC_ACK_CHECKPOINT:
		cm_rbuf_strdup(&r, 256, &out->a);
		cm_rbuf_strdup(&r, 64, &out->b);
		out->attempt = cm_rbuf_u64le(&r);
		out->vertex = cm_rbuf_uvarint(&r);
		out->subtask = cm_rbuf_uvarint(&r);
		out->checkpoint = cm_rbuf_uvarint(&r);
		cm_rbuf_bytes(&r, RPC_MAX_MESSAGE, &out->bytes, &out->blen);
		cm_rbuf_strdup(&r, 4096, &out->c);
		break;
	default:
		cm_rbuf_fail(&r, "unknown method %d", method);
		break;
	}
	bool needs_a = method != RPC_SLOTS;
	bool bad = cm_rbuf_end(&r) != 0 || (needs_a && !out->a) || out->vertex > INT32_MAX ||
		   out->subtask > INT32_MAX || out->state > 64 || out->offset > INT64_MAX ||
		   (method == RPC_TASK_STATE && !out->b) ||
		   /* kind: checkpoint or savepoint, | PREPARE; a savepoint
		    * | STOP, at a source or announced to every task */
		   (method == RPC_TRIGGER_CHECKPOINT &&
		    (!out->b || out->state > 7 || (out->state & 5) == 4)) ||
		   (method == RPC_NOTIFY_CHECKPOINT && out->state > 1) ||
		   (method == RPC_ACK_CHECKPOINT && !out->b) ||
		   ((method == RPC_TRIGGER_CHECKPOINT || method == RPC_NOTIFY_CHECKPOINT ||
		     method == RPC_ACK_CHECKPOINT) &&
		    (out->checkpoint == 0 || out->checkpoint > INT64_MAX)) ||
		   (method == RPC_REGISTER_TM &&
		    (!out->b || !out->d || out->slots < 1 || out->slots > 1u << 20 ||
		     out->cpu_milli > INT64_MAX || out->memory_bytes > INT64_MAX ||
		     out->managed_bytes > INT64_MAX || out->network_bytes > INT64_MAX));
	if (bad) {
		int rc = cm_rbuf_error(&r) == FL_ENOMEM ? FL_ENOMEM : FL_EPROTO;
		snprintf(why, whylen, "malformed %s request: %s", rpc_method_name(method),
			 cm_rbuf_errmsg(&r)[0] ? cm_rbuf_errmsg(&r) : "missing or out-of-range field");
		rpc_args_fini(out);
		return rc;
	}
	return 0;
}
