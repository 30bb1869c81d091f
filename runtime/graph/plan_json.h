/*
 * plan_json.h — a job's plan in Flink's two JSON shapes.
 *
 * The job graph plan is what Flink's REST API answers for
 * GET /jobs/:jobid/plan and POST /jars/:jarid/plan (JsonPlanGenerator): one
 * node per job vertex (a chain), its inputs with their ship strategy.
 *
 *   {"jid", "name", "type": "STREAMING"|"BATCH", "nodes": [{"id",
 *    "parallelism", "operator", "operator_strategy", "description",
 *    "inputs": [{"num", "id", "ship_strategy", "exchange"}],
 *    "optimizer_properties": {}}]}
 *
 * The stream graph plan is what Flink's `flink info` prints
 * (StreamGraph#getStreamingPlanAsJSON): one node per operator, before
 * chaining, numbered from 1, with its predecessors.
 *
 *   {"nodes": [{"id", "type", "pact": "Data Source"|"Operator"|"Data Sink",
 *    "contents", "parallelism", "predecessors": [{"id", "ship_strategy",
 *    "side"}]}]}
 *
 * Both return a new cJSON tree the caller deletes, or NULL when out of
 * memory. They read the graphs only; thread-safe on graphs nobody changes.
 */
#ifndef FLINC_GRAPH_PLAN_JSON_H
#define FLINC_GRAPH_PLAN_JSON_H

#include <cjson/cJSON.h>

#include "graph/jobgraph.h"

/* The 32-hex-digit id of job vertex v of job job_id (as the REST API names
 * vertices): the job id's first 24 digits and v. */
void jg_vertex_id(const char *job_id, int v, char out[33]);

/* Flink's job graph plan of g under job_id. */
cJSON *jg_plan_json(const jg_graph *g, const char *job_id);

/* Flink's stream graph plan of g's stream graph, parallelism and
 * partitioners resolved as g resolved them. */
cJSON *jg_stream_plan_json(const jg_graph *g);

#endif
