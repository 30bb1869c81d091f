/*
 * fuzz_metadata.c — libFuzzer target for the checkpoint metadata reader
 * (runtime/checkpoint/metadata.h): a JobManager restoring a job reads a
 * _metadata file that may be damaged or crafted.
 *
 * The input is the file's body: the target adds the header and the right
 * checksum, so that mutations reach the decoder instead of all failing the
 * checksum (which the unit tests cover).
 *
 * Properties: cp_metadata_decode never crashes or leaks; a refusal is
 * FL_EPROTO (or FL_ENOMEM) with a message; what it accepts encodes again
 * into a file it accepts, which encodes into the same bytes.
 */
#include <endian.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

#include "checkpoint/metadata.h"
#include "common/crc32c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1u << 20)
		return 0;
	uint8_t *file = malloc(size + 16);
	if (!file)
		return 0;
	memcpy(file, "FLCKMETA", 8);
	uint32_t v = htole32(CP_METADATA_VERSION);
	memcpy(file + 8, &v, 4);
	if (size)
		memcpy(file + 12, data, size);
	uint32_t crc = htole32(cm_crc32c(0, file, size + 12));
	memcpy(file + 12 + size, &crc, 4);
	cp_metadata m;
	cm_err err = {0};
	int rc = cp_metadata_decode(file, size + 16, "fuzz", &m, &err);
	free(file);
	if (rc != 0) {
		if ((rc != FL_EPROTO && rc != FL_ENOMEM) || m.states || err.msg[0] == '\0')
			__builtin_trap();
		return 0;
	}
	uint8_t *a = NULL, *b = NULL;
	size_t la = 0, lb = 0;
	if (cp_metadata_encode(&m, &a, &la) != 0)
		__builtin_trap();
	cp_metadata_fini(&m);
	if (cp_metadata_decode(a, la, "again", &m, &err) != 0 ||
	    cp_metadata_encode(&m, &b, &lb) != 0 || la != lb || memcmp(a, b, la) != 0)
		__builtin_trap();
	cp_metadata_fini(&m);
	free(a);
	free(b);
	return 0;
}
