/*
 * plan_json.c — Flink's JSON plans of a job graph and of its stream graph.
 */
#include "graph/plan_json.h"

#include <stdio.h>

void jg_vertex_id(const char *job_id, int v, char out[33])
{
	snprintf(out, 33, "%.24s%08x", job_id, (unsigned)v);
}

/* cJSON's adders return NULL when out of memory: every one is checked, and
 * a tree with anything missing is deleted whole. */
static bool add_str(cJSON *o, const char *k, const char *v)
{
	return cJSON_AddStringToObject(o, k, v ? v : "") != NULL;
}

static bool add_num(cJSON *o, const char *k, double v)
{
	return cJSON_AddNumberToObject(o, k, v) != NULL;
}

/* The parallelism the job set on one of jv's operators (fl_set_parallelism,
 * or 1 for one that is not parallel), or 0: every one follows the job's
 * default (a chain's operators share one parallelism). */
static int vertex_fixed_parallelism(const jg_graph *g, const jg_vertex *jv)
{
	for (size_t k = 0; k < jv->nops; k++) {
		const sg_node *sn = g->sg->nodes[jv->ops[k].node];
		if (sn->non_parallel)
			return 1;
		if (sn->parallelism_fixed && sn->parallelism > 0)
			return sn->parallelism;
	}
	return 0;
}

static cJSON *vertex_json(const jg_graph *g, const char *job_id, size_t v)
{
	const jg_vertex *jv = &g->vertices[v];
	char id[33];
	jg_vertex_id(job_id, (int)v, id);
	cJSON *n = cJSON_CreateObject();
	bool ok = n && add_str(n, "id", id) && add_num(n, "parallelism", jv->parallelism) &&
		  add_str(n, "operator", "") && add_str(n, "operator_strategy", "") &&
		  add_str(n, "description", jv->name);
	if (ok && jv->nin_edges) {
		cJSON *ins = cJSON_AddArrayToObject(n, "inputs");
		ok = ins != NULL;
		for (size_t k = 0; ok && k < jv->nin_edges; k++) {
			const jg_edge *e = &g->edges[jv->in_edges[k]];
			char src[33];
			jg_vertex_id(job_id, e->src_vertex, src);
			cJSON *in = cJSON_CreateObject();
			ok = in && cJSON_AddItemToArray(ins, in);
			if (in && !ok) {
				cJSON_Delete(in);
				break;
			}
			ok = add_num(in, "num", (double)k) && add_str(in, "id", src) &&
			     add_str(in, "ship_strategy", sg_ship_strategy(e->part, e->key)) &&
			     add_str(in, "exchange", "pipelined_bounded");
		}
	}
	if (ok)
		ok = cJSON_AddObjectToObject(n, "optimizer_properties") != NULL;
	/* flinc's own field: the parallelism the job's main() gave the chain
	 * (fl_set_parallelism), absent when it follows the job's default. A
	 * client that changes the default in place (the operator) keeps it;
	 * Flink's clients read the plan as raw JSON and pass it by. */
	int fixed = vertex_fixed_parallelism(g, jv);
	if (ok && fixed > 0)
		ok = add_num(n, "fixed_parallelism", fixed);
	if (!ok) {
		cJSON_Delete(n);
		return NULL;
	}
	return n;
}

cJSON *jg_plan_json(const jg_graph *g, const char *job_id)
{
	cJSON *plan = cJSON_CreateObject();
	bool ok = plan && add_str(plan, "jid", job_id) && add_str(plan, "name", g->job_name) &&
		  add_str(plan, "type", g->sg->mode == FL_MODE_BATCH ? "BATCH" : "STREAMING");
	cJSON *nodes = ok ? cJSON_AddArrayToObject(plan, "nodes") : NULL;
	ok = nodes != NULL;
	for (size_t v = 0; ok && v < g->nvertices; v++) {
		cJSON *n = vertex_json(g, job_id, v);
		ok = n && cJSON_AddItemToArray(nodes, n);
		if (n && !ok)
			cJSON_Delete(n);
	}
	if (!ok) {
		cJSON_Delete(plan);
		return NULL;
	}
	return plan;
}

/* The partitioner of stream edge e into node dst as the job graph resolved
 * it: unset is forward at equal parallelism, rebalance otherwise. */
static enum sg_partitioner edge_part(const jg_graph *g, const sg_node *dst, const sg_edge *e)
{
	if (e->part != SG_PART_UNSET)
		return e->part;
	return g->node_parallelism[e->src] == g->node_parallelism[dst->id] ? SG_PART_FORWARD
									   : SG_PART_REBALANCE;
}

static const char *pact(const sg_node *n)
{
	return sg_kind_is_source(n->kind) ? "Data Source"
	       : sg_kind_is_sink(n->kind) ? "Data Sink"
					  : "Operator";
}

cJSON *jg_stream_plan_json(const jg_graph *g)
{
	const sg_graph *sg = g->sg;
	cJSON *plan = cJSON_CreateObject();
	cJSON *nodes = plan ? cJSON_AddArrayToObject(plan, "nodes") : NULL;
	bool ok = nodes != NULL;
	/* Stream nodes are numbered in the order the program added them,
	 * inputs first: already a topological order, as Flink prints it. */
	for (size_t i = 0; ok && i < sg->nnodes; i++) {
		const sg_node *sn = sg->nodes[i];
		cJSON *n = cJSON_CreateObject();
		ok = n && cJSON_AddItemToArray(nodes, n);
		if (n && !ok) {
			cJSON_Delete(n);
			break;
		}
		ok = add_num(n, "id", sn->id + 1) && add_str(n, "type", sn->name) &&
		     add_str(n, "pact", pact(sn)) && add_str(n, "contents", sn->name) &&
		     add_num(n, "parallelism", g->node_parallelism[i]);
		if (ok && sn->ninputs) {
			cJSON *preds = cJSON_AddArrayToObject(n, "predecessors");
			ok = preds != NULL;
			for (size_t k = 0; ok && k < sn->ninputs; k++) {
				const sg_edge *e = &sn->inputs[k];
				cJSON *p = cJSON_CreateObject();
				ok = p && cJSON_AddItemToArray(preds, p);
				if (p && !ok) {
					cJSON_Delete(p);
					break;
				}
				ok = add_num(p, "id", e->src + 1) &&
				     add_str(p, "ship_strategy",
					     sg_ship_strategy(edge_part(g, sn, e), &e->key)) &&
				     /* Flink's JSONGenerator writes "second" for
				      * every input. */
				     add_str(p, "side", "second");
			}
		}
	}
	if (!ok) {
		cJSON_Delete(plan);
		return NULL;
	}
	return plan;
}
