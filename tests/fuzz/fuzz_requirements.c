/*
 * fuzz_requirements.c — libFuzzer target for the body of PUT
 * /jobs/:jobid/resource-requirements (jobmanager/adaptive.c,
 * ad_bounds_from_json): what any client that reaches the REST port sends.
 *
 * The job graph is built by hand: three vertices, the first two on a forward
 * edge, the third behind a hash edge, max parallelism 128, 8, 128.
 *
 * Properties: no crash, leak or read outside the input; a refusal says why;
 * accepted bounds lie in 1..max parallelism with lower <= upper and equal
 * across the forward edge, come back unchanged through ad_bounds_to_json, and
 * give ad_plan parallelisms within the upper bounds for any slot count.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "graph/plan_json.h"
#include "jobmanager/adaptive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static const char *JOB = "0123456789abcdef0123456789abcdef";

static jg_vertex vertices[3] = {
    {.id = 0, .name = "Source: Generator", .parallelism = 2, .max_parallelism = 128,
     .slot_group = "default"},
    {.id = 1, .name = "Map", .parallelism = 2, .max_parallelism = 8, .slot_group = "default"},
    {.id = 2, .name = "Keyed Aggregation", .parallelism = 4, .max_parallelism = 128,
     .slot_group = "default"},
};
static jg_edge edges[2] = {
    {.id = 0, .src_vertex = 0, .dst_vertex = 1, .part = SG_PART_FORWARD},
    {.id = 1, .src_vertex = 1, .dst_vertex = 2, .part = SG_PART_HASH},
};
static jg_group groups[1] = {{.name = "default", .width = 4}};
static jg_graph graph = {.vertices = vertices,
			 .nvertices = 3,
			 .edges = edges,
			 .nedges = 2,
			 .slots_needed = 4,
			 .groups = groups,
			 .ngroups = 1};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *body = cJSON_ParseWithLength((const char *)data, size);
	ad_bounds b[3];
	char why[600] = "";
	int rc = ad_bounds_from_json(body, &graph, JOB, b, why, sizeof(why));
	if (rc) {
		CHECK(rc == FL_EINVAL && why[0]);
		cJSON_Delete(body);
		return 0;
	}
	for (int v = 0; v < 3; v++)
		CHECK(b[v].lower >= 1 && b[v].lower <= b[v].upper &&
		      b[v].upper <= vertices[v].max_parallelism);
	CHECK(b[0].lower == b[1].lower && b[0].upper == b[1].upper);
	cJSON *o = ad_bounds_to_json(&graph, JOB, b);
	CHECK(o);
	ad_bounds again[3];
	CHECK(ad_bounds_from_json(o, &graph, JOB, again, why, sizeof(why)) == 0);
	CHECK(memcmp(again, b, sizeof(b)) == 0);
	cJSON_Delete(o);
	int slots = size ? data[0] : 0, par[3];
	enum ad_fit fit = ad_plan(&graph, b, slots, par);
	for (int v = 0; v < 3; v++)
		CHECK(par[v] <= b[v].upper && (fit == AD_INSUFFICIENT || par[v] >= b[v].lower));
	CHECK(par[0] == par[1]);
	CHECK(fit != AD_DESIRED || (par[2] == b[2].upper && par[0] == b[0].upper));
	cJSON_Delete(body);
	return 0;
}
