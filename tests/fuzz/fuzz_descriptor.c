/*
 * fuzz_descriptor.c — libFuzzer target for the task deployment descriptor
 * decoder (runtime/graph/descriptor.h): a TaskManager decodes what a
 * JobMaster (possibly hostile, over the network) sent.
 *
 * Properties: td_decode never crashes or leaks; a refusal is FL_EPROTO (or
 * FL_ENOMEM) with a message; a descriptor it accepts is canonical: encoding
 * it again gives back exactly the input bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

#include "graph/descriptor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	td_task *td = NULL;
	cm_err err = {0};
	int rc = td_decode(data, size, &td, &err);
	if (rc != 0) {
		if ((rc != FL_EPROTO && rc != FL_ENOMEM) || td || err.msg[0] == '\0')
			__builtin_trap();
		return 0;
	}
	uint8_t *out = NULL;
	size_t len = 0;
	if (td_encode(td, &out, &len) != 0 || len != size || memcmp(out, data, size) != 0)
		__builtin_trap();
	free(out);
	td_free(td);
	return 0;
}
