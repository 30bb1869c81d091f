/*
 * fuzz_frame.c — libFuzzer target for the data plane's frame header decoder
 * (runtime/network/frame.h), which reads 24 bytes straight from a peer.
 *
 * Properties: net_frame_decode never crashes on any 24 bytes, and a header
 * it accepts is canonical: net_frame_encode of the decoded frame gives back
 * exactly the same 24 bytes (no field is dropped or normalised, so a frame
 * means one thing only).
 *
 * Inputs shorter than a header are ignored; longer ones are cut into
 * consecutive headers, as a stream of header-only frames would arrive.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <flinc/flinc.h>

#include "network/buffer.h"
#include "network/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_header(const uint8_t in[NET_FRAME_HDR])
{
	struct net_frame f;
	char why[128];
	why[0] = '\0';
	int rc = net_frame_decode(in, &f, why, sizeof(why));
	if (rc != 0) {
		/* A refusal is FL_EPROTO with a reason, never anything else. */
		if (rc != FL_EPROTO || why[0] == '\0' || memchr(why, '\0', sizeof(why)) == NULL)
			__builtin_trap();
		return;
	}
	uint8_t out[NET_FRAME_HDR];
	memset(out, 0xa5, sizeof(out));
	net_frame_encode(out, &f);
	if (memcmp(in, out, NET_FRAME_HDR) != 0)
		__builtin_trap();
	/* The accepted frame satisfies the contract the decoder promises. */
	if (f.type != NET_FR_DATA && f.len != 0)
		__builtin_trap();
	if (f.len > NET_MAX_BUFFER)
		__builtin_trap();
	if (f.type == NET_FR_CREDIT && (f.arg < 1 || f.arg > NET_MAX_CREDIT))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (size_t off = 0; off + NET_FRAME_HDR <= size; off += NET_FRAME_HDR) {
		/* A copy of exactly 24 bytes, so ASan sees any read past it. */
		uint8_t hdr[NET_FRAME_HDR];
		memcpy(hdr, data + off, NET_FRAME_HDR);
		check_header(hdr);
	}
	return 0;
}
