/*
 * fuzz_rpc.c — libFuzzer target for the control protocol's decoders
 * (runtime/rpc/protocol.h): what a TaskManager or JobMaster reads from any
 * peer that reaches its control port, before it is authenticated.
 *
 * Also the arguments of every method (rpc_args_decode), what a server
 * decodes after a request authenticated: registration, task reports, blob
 * requests and the TaskManager calls.
 *
 * Properties: no crash or leak on any bytes; a refusal says why; decoding
 * only ever accepts a request whose mac the secret produced: the fuzzer's
 * inputs are sealed with the same secret half of the time (so the checks
 * after the mac are reached), and a sealed request decodes to what was
 * sealed.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

#include "common/clock.h"
#include "rpc/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cm_secret secret;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!secret.set) {
		cm_err e = {0};
		cm_secret_from_string(&secret, "fuzzing secret", &e);
	}
	char why[600];
	rpc_request req;
	why[0] = '\0';
	if (rpc_request_decode(data, size, &secret, "c", "tm", cm_wall_ms(), &req, why,
			       sizeof(why)) != 0 &&
	    why[0] == '\0')
		__builtin_trap();
	rpc_reply rep;
	static const uint8_t req_mac[CM_MAC_LEN];
	why[0] = '\0';
	if (rpc_reply_decode(data, size, 7, req_mac, &secret, &rep, why, sizeof(why)) != 0 &&
	    why[0] == '\0')
		__builtin_trap();
	/* The input as the arguments of each method (what a server decodes
	 * once a request authenticated): refused with a reason, or decoded
	 * into fields within their documented ranges. */
	for (int method = 0; method < 40; method++) {
		rpc_args a;
		why[0] = '\0';
		int rc = rpc_args_decode(method, data, size, &a, why, sizeof(why));
		if (rc != 0) {
			if (why[0] == '\0')
				__builtin_trap();
			continue;
		}
		if (a.vertex > INT32_MAX || a.subtask > INT32_MAX || a.state > 64 ||
		    (method == RPC_REGISTER_TM && (a.slots < 1 || a.slots > (1u << 20))) ||
		    (method != RPC_SLOTS && !a.a) || (a.blen && !a.bytes) ||
		    (a.bytes && (a.bytes < data || a.bytes + a.blen > data + size)))
			__builtin_trap();
		rpc_args_fini(&a);
	}
	/* The input as a body: sealed into a request, it must decode back. */
	if (size > 0) {
		uint8_t *msg = NULL, mac[CM_MAC_LEN];
		size_t len = 0;
		int method = data[0] % 32;
		if (rpc_request_encode(method, 42, "c", "tm", data + 1, size - 1, &secret, &msg, &len,
				       mac) == 0) {
			if (rpc_request_decode(msg, len, &secret, "c", "tm", cm_wall_ms(), &req, why,
					       sizeof(why)) != 0 ||
			    strcmp(req.to, "tm") != 0 ||
			    req.method != method || req.id != 42 || req.body_len != size - 1 ||
			    (size > 1 && memcmp(req.body, data + 1, size - 1) != 0) ||
			    memcmp(req.mac, mac, CM_MAC_LEN) != 0)
				__builtin_trap();
			uint8_t *r = NULL;
			size_t rl = 0;
			if (rpc_reply_encode(method, 42, -3, "why", data, size, mac, &secret, &r, &rl) != 0 ||
			    rpc_reply_decode(r, rl, 42, mac, &secret, &rep, why, sizeof(why)) != 0 ||
			    rep.rc != -3 || rep.payload_len != size)
				__builtin_trap();
			free(r);
		}
		free(msg);
	}
	return 0;
}
