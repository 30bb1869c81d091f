/*
 * fuzz_ha_data.c — libFuzzer target for what a JobManager reads back from
 * a high-availability ConfigMap (jobmanager/ha.h, jm_ha_latest_in): the
 * `data` of <cluster-id>-<job id>-config-map as the API server returns it,
 * which anybody allowed to update ConfigMaps in the namespace may have
 * written.
 *
 * Properties: no crash, leak or read outside the input; when an entry is
 * found, it is a well-formed one, named by the checkpointID-<19 digits> key
 * that jm_ha_checkpoint_key makes of its id, its value a non-empty string,
 * and no other well-formed entry has a larger id; when none is found, no
 * entry is well-formed.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "jobmanager/ha.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static bool well_formed(const cJSON *e, uint64_t *id)
{
	const char *k = e->string;
	if (!k || strncmp(k, "checkpointID-", 13) != 0 || strlen(k) != 13 + 19 ||
	    strspn(k + 13, "0123456789") != 19 || !cJSON_IsString(e) || !e->valuestring[0])
		return false;
	*id = strtoull(k + 13, NULL, 10);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *d = cJSON_ParseWithLength((const char *)data, size);
	uint64_t id = 0;
	const char *dir = NULL;
	int rc = jm_ha_latest_in(d, &id, &dir);
	CHECK(rc == 0 || rc == FL_ENOENT);
	const cJSON *e;
	if (rc == 0) {
		CHECK(dir && dir[0]);
		bool same = false;
		cJSON_ArrayForEach(e, d)
		{
			uint64_t other;
			if (well_formed(e, &other)) {
				CHECK(other <= id);
				/* The entry found (a key may repeat: JSON allows it). */
				if (e->valuestring == dir) {
					char key[40];
					jm_ha_checkpoint_key(id, key, sizeof(key));
					CHECK(other == id && strcmp(e->string, key) == 0);
					same = true;
				}
			}
		}
		CHECK(same);
	} else {
		cJSON_ArrayForEach(e, d)
		{
			uint64_t other;
			CHECK(!well_formed(e, &other));
		}
	}
	char job[33];
	char *text = malloc(size + 1);
	if (text) {
		memcpy(text, data, size);
		text[size] = '\0';
		jm_ha_application_job_id(text, job);
		CHECK(strlen(job) == 32 && strspn(job, "0123456789abcdef") == 32);
		free(text);
	}
	cJSON_Delete(d);
	return 0;
}
