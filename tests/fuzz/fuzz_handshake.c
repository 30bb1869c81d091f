/*
 * fuzz_handshake.c — libFuzzer target for the data plane's handshake
 * decoders (runtime/network/handshake.h): the first bytes a TaskManager
 * reads from any peer that connects, before it is authenticated.
 *
 * Properties: no crash on any bytes; a refusal says why; a HELLO it accepts
 * re-encodes to the same bytes; a WELCOME's message is NUL-terminated
 * printable text; verifying a proof agrees exactly with computing it (true
 * for the computed bytes, false for any other).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <flinc/flinc.h>

#include "network/handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[160];
	if (size >= NET_HS_PREFIX) {
		net_hs_prefix p;
		why[0] = '\0';
		if (net_hs_prefix_decode(data, &p, why, sizeof(why)) != 0 && why[0] == '\0')
			__builtin_trap();
	}
	if (size >= NET_HS_HELLO_LEN) {
		net_hello h;
		why[0] = '\0';
		if (net_hs_hello_decode(data, &h, why, sizeof(why)) == 0) {
			uint8_t out[NET_HS_HELLO_LEN];
			net_hs_hello_encode(out, &h);
			/* The prefix's version byte and zero padding after the
			 * strings are not kept by the decoder; the rest is. */
			if (memcmp(out + 8, data + 8, 40) != 0 ||
			    strlen(h.cluster_id) > NET_HS_CLUSTER_MAX ||
			    strlen(h.resource_id) > NET_HS_ID_MAX)
				__builtin_trap();
		} else if (why[0] == '\0') {
			__builtin_trap();
		}
	}
	if (size >= NET_HS_WELCOME_LEN) {
		net_welcome w;
		why[0] = '\0';
		if (net_hs_welcome_decode(data, &w, why, sizeof(why)) == 0) {
			for (const char *c = w.message; *c; c++)
				if ((unsigned char)*c < 0x20)
					__builtin_trap();
		}
	}
	if (size >= NET_HS_HELLO_LEN + NET_HS_WELCOME_LEN + NET_HS_PROOF_LEN) {
		static cm_secret s;
		if (!s.set) {
			cm_err e = {0};
			cm_secret_from_string(&s, "fuzzing secret", &e);
		}
		const uint8_t *hello = data, *welcome = data + NET_HS_HELLO_LEN,
			      *proof = welcome + NET_HS_WELCOME_LEN;
		uint8_t want[NET_HS_PROOF_LEN];
		if (net_hs_proof_encode(want, hello, welcome, &s) != 0)
			__builtin_trap();
		bool same = proof[4] == NET_HS_PROOF && memcmp(want + 8, proof + 8, CM_MAC_LEN) == 0;
		if (net_hs_proof_verify(proof, hello, welcome, &s) != same)
			__builtin_trap();
		/* The acceptor's proof: recompute the WELCOME from its fields.
		 * Only for this protocol version: the encoder writes its own,
		 * and a peer of another is refused before any MAC is checked
		 * (libFuzzer's comparison tracing can learn a valid MAC for a
		 * WELCOME of version 1 from the memcmp in verify). */
		net_welcome w;
		if (net_hs_welcome_decode(welcome, &w, why, sizeof(why)) == 0 && w.status == 0 &&
		    welcome[5] == NET_PROTOCOL_VERSION) {
			uint8_t again[NET_HS_WELCOME_LEN];
			net_welcome w2 = w;
			if (net_hs_welcome_encode(again, &w2, hello, &s) != 0)
				__builtin_trap();
			bool match = memcmp(again + 40, welcome + 40, CM_MAC_LEN) == 0 &&
				     memcmp(again, welcome, 40) == 0 &&
				     memcmp(again + 72, welcome + 72, NET_HS_WELCOME_LEN - 72) == 0;
			if (net_hs_welcome_verify(welcome, hello, &s) != match)
				__builtin_trap();
		}
	}
	return 0;
}
