/*
 * nng.h — the gateways (rpc/gateway.h) between processes: NNG
 * request/reply sockets carrying the control protocol (rpc/protocol.h),
 * every message authenticated with the cluster's shared secret.
 *
 * A server exposes one gateway at a tcp:// URL: each request is checked,
 * decoded and turned into the same call on the wrapped gateway, whose done
 * becomes the reply. A client gateway turns each call into a request on its
 * own NNG context (calls run concurrently) and completes with the reply, or
 * with FL_ETIMEDOUT after the client's timeout, or FL_ECLOSED when freed.
 *
 * Limits: messages over RPC_MAX_MESSAGE are refused by NNG before they are
 * read; a server handles at most RPC_SERVER_CONTEXTS requests at once (the
 * rest wait in NNG's queue); requests that fail authentication are
 * answered with an error (logged at most once a second) and never reach the
 * gateway.
 *
 * Threads: everything is thread-safe; done callbacks run on NNG's threads.
 */
#ifndef FLINC_RPC_NNG_H
#define FLINC_RPC_NNG_H

#include <stdint.h>

#include "common/auth.h"
#include "common/err.h"
#include "rpc/gateway.h"

#define RPC_SERVER_CONTEXTS 16

typedef struct rpc_server rpc_server;

/*
 * Serves gateway tm, or jm and/or rm (a JobManager serves both), at url
 * ("tcp://host:port", port 0: any). self, when not NULL, is the served
 * TaskManager's resource id: requests must name it (protocol.h). secret is
 * copied; cluster_id names the cluster requests must be for. A request
 * replayed within the skew window is refused. Returns 0, FL_EINVAL,
 * FL_ENOMEM or FL_EIO (cannot listen: err names the URL and why).
 */
int rpc_server_new(rpc_server **out, const char *url, rpc_tm_gateway *tm, rpc_jm_gateway *jm,
		   rpc_rm_gateway *rm, const char *self, const cm_secret *secret, const char *cluster_id, cm_err *err);
/* "tcp://host:port" with the port bound (valid for the server's life). */
const char *rpc_server_address(const rpc_server *s);
/* Stops serving: requests in flight get no reply; calls the wrapped gateway
 * still has to answer are waited for. */
void rpc_server_free(rpc_server *s);

/*
 * A client gateway for the server at url. timeout_ms bounds each call
 * (0: 60 s). Connects in the background and reconnects; a call while
 * disconnected waits within its timeout. Returns 0, FL_EINVAL or FL_ENOMEM.
 */
int rpc_tm_gateway_nng(rpc_tm_gateway **out, const char *url, const cm_secret *secret,
		       const char *cluster_id, int64_t timeout_ms, cm_err *err);
int rpc_jm_gateway_nng(rpc_jm_gateway **out, const char *url, const cm_secret *secret,
		       const char *cluster_id, int64_t timeout_ms, cm_err *err);
int rpc_rm_gateway_nng(rpc_rm_gateway **out, const char *url, const cm_secret *secret,
		       const char *cluster_id, int64_t timeout_ms, cm_err *err);

#endif
