/*
 * descriptor.c — building task deployment descriptors from the job graph,
 * and freeing them. The wire form is in descriptor_codec.c.
 */
#include "graph/descriptor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void td_edge_bases(const jg_graph *jg, uint64_t *edge_base)
{
	uint64_t total = 0;
	for (size_t e = 0; e < jg->nedges; e++) {
		const jg_edge *ed = &jg->edges[e];
		edge_base[e] = total;
		uint64_t ps = (uint64_t)jg->vertices[ed->src_vertex].parallelism;
		uint64_t pd = (uint64_t)jg->vertices[ed->dst_vertex].parallelism;
		total += ed->part == SG_PART_FORWARD ? ps : ps * pd;
	}
}

static char *dup_or_null(const char *s, bool *oom)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

static void key_copy(td_key *dst, const sg_key *src, bool *oom)
{
	dst->by_fn = src->by_fn;
	dst->field = src->field;
	dst->fn_symbol = dup_or_null(src->fn_symbol, oom);
}

static int *ints_dup(const int *v, size_t n, bool *oom)
{
	if (n == 0)
		return NULL;
	int *d = malloc(n * sizeof(*d));
	if (!d) {
		*oom = true;
		return NULL;
	}
	memcpy(d, v, n * sizeof(*d));
	return d;
}

static void build_output(const jg_graph *jg, const td_placement *pl, int eid, td_output *o,
			 bool *oom)
{
	const jg_edge *e = &jg->edges[eid];
	const jg_vertex *dv = &jg->vertices[e->dst_vertex];
	o->edge = eid;
	o->part = e->part;
	snprintf(o->tag, sizeof(o->tag), "%s", jg_edge_is_side(e) ? e->tag : "");
	key_copy(&o->key, e->key, oom);
	o->dst_name = dup_or_null(jg->sg->nodes[e->dst_node]->name, oom);
	o->dst_parallelism = dv->parallelism;
	o->dst_max_parallelism = dv->max_parallelism;
	o->edge_base = pl->edge_base[eid];
	o->nconsumers = e->part == SG_PART_FORWARD ? 1 : dv->parallelism;
	if (!(o->consumer_peer = calloc((size_t)o->nconsumers, sizeof(uint32_t)))) {
		*oom = true;
		o->nconsumers = 0;
	}
}

int td_build(const jg_graph *jg, const td_placement *pl, int vertex, int subtask, td_task **out)
{
	*out = NULL;
	const jg_vertex *v = &jg->vertices[vertex];
	const sg_graph *sg = jg->sg;
	td_task *td = calloc(1, sizeof(*td));
	if (!td)
		return FL_ENOMEM;
	bool oom = false;
	snprintf(td->job_id, sizeof(td->job_id), "%s", pl->job_id);
	td->attempt = pl->attempt;
	td->job_name = dup_or_null(jg->job_name, &oom);
	td->library = dup_or_null(pl->library ? pl->library : sg->library ? sg->library : "", &oom);
	td->batch = sg->mode == FL_MODE_BATCH;
	td->buffer_timeout_ms = sg->buffer_timeout_ms;
	td->nnodes = (int)sg->nnodes;
	td->vertex = vertex;
	td->vertex_name = dup_or_null(v->name, &oom);
	td->subtask = subtask;
	td->parallelism = v->parallelism;
	td->max_parallelism = v->max_parallelism;

	if (pl->npeers && (td->peers = calloc(pl->npeers, sizeof(*td->peers)))) {
		td->npeers = pl->npeers;
		for (size_t i = 0; i < pl->npeers; i++) {
			td->peers[i].resource_id = dup_or_null(pl->peers[i].resource_id, &oom);
			td->peers[i].data_address = dup_or_null(pl->peers[i].data_address, &oom);
		}
	} else if (pl->npeers) {
		oom = true;
	}

	if (v->nin_edges && (td->inputs = calloc(v->nin_edges, sizeof(*td->inputs)))) {
		td->ninputs = v->nin_edges;
		for (size_t k = 0; k < v->nin_edges; k++) {
			const jg_edge *e = &jg->edges[v->in_edges[k]];
			td->inputs[k].edge = e->id;
			td->inputs[k].src_parallelism = jg->vertices[e->src_vertex].parallelism;
			td->inputs[k].forward = e->part == SG_PART_FORWARD;
			td->inputs[k].edge_base = pl->edge_base[e->id];
			td->inputs[k].side = e->side;
			for (size_t j = 0; j < v->nops; j++)
				if (v->ops[j].node == e->dst_node)
					td->inputs[k].op = (int)j;
		}
	} else if (v->nin_edges) {
		oom = true;
	}

	if (!(td->ops = calloc(v->nops, sizeof(*td->ops)))) {
		td_free(td);
		return FL_ENOMEM;
	}
	td->nops = v->nops;
	for (size_t i = 0; i < v->nops && !oom; i++) {
		const jg_op *jop = &v->ops[i];
		const sg_node *n = sg->nodes[jop->node];
		td_op *op = &td->ops[i];
		op->node = n->id;
		op->kind = n->kind;
		op->name = dup_or_null(n->name, &oom);
		char ub[160];
		op->uid = dup_or_null(sg_node_uid(n, ub, sizeof(ub)), &oom);
		op->fn_symbol = dup_or_null(n->fn_symbol, &oom);
		if (sg_kind_is_keyed(n->kind)) {
			/* Each input's key: the first edge of either side (a
			 * union's edges share their key_by). */
			bool got[2] = {false, false};
			for (size_t j = 0; j < n->ninputs; j++) {
				int sd = n->inputs[j].side;
				if (got[sd] || (sd == 1 && n->kind == SG_CO_BROADCAST))
					continue;
				key_copy(sd ? &op->key2 : &op->key, &n->inputs[j].key, &oom);
				got[sd] = true;
			}
		}
		op->fn2_symbol = dup_or_null(n->fn2_symbol, &oom);
		op->bstate_name = dup_or_null(n->bstate_name, &oom);
		op->lower_ms = n->lower_ms;
		op->upper_ms = n->upper_ms;
		op->gen_count = n->gen_count;
		op->gen_rate = n->gen_rate;
		op->field = n->field;
		op->dir = dup_or_null(n->dir, &oom);
		op->event_time = n->event_time;
		op->wm_kind = n->wm_kind;
		op->wm_bound_ms = n->wm_bound_ms;
		op->ts_symbol = dup_or_null(n->ts_symbol, &oom);
		op->ts_field = n->ts_field;
		op->wm_interval_ms = n->wm_interval_ms;
		op->wm_idle_ms = n->wm_idle_ms;
		op->timer_symbol = dup_or_null(n->timer_symbol, &oom);
		op->win = n->win;
		for (int f = 0; f < SG_WIN_NFNS; f++)
			op->win.fns[f] = dup_or_null(n->win.fns[f], &oom);
		if (n->npaths) {
			op->paths = calloc(n->npaths, sizeof(*op->paths));
			op->sizes = calloc(n->npaths, sizeof(*op->sizes));
			if (!op->paths || !op->sizes) {
				oom = true;
			} else {
				op->npaths = n->npaths;
				for (size_t p = 0; p < n->npaths; p++) {
					op->paths[p] = dup_or_null(n->paths[p], &oom);
					op->sizes[p] = n->sizes[p];
				}
			}
		}
		op->chained = ints_dup(jop->chained, jop->nchained, &oom);
		op->nchained = op->chained ? jop->nchained : 0;
		for (size_t k = 0; k < op->nchained && !op->chained_side; k++)
			if (jop->chained_side[k] && (op->chained_side = malloc(op->nchained)))
				memcpy(op->chained_side, jop->chained_side, op->nchained);
			else if (jop->chained_side[k])
				oom = true;
		if (jop->nout_edges) {
			if (!(op->outs = calloc(jop->nout_edges, sizeof(*op->outs)))) {
				oom = true;
				break;
			}
			op->nouts = jop->nout_edges;
			/* Main outputs first, then the side outputs (td_output). */
			size_t at = 0;
			for (int side = 0; side < 2; side++)
				for (size_t k = 0; k < jop->nout_edges; k++)
					if (jg_edge_is_side(&jg->edges[jop->out_edges[k]]) ==
					    (side == 1))
						build_output(jg, pl, jop->out_edges[k], &op->outs[at++],
							     &oom);
			for (size_t k = 0; k < jop->nout_edges; k++) {
				td_output *o = &op->outs[k];
				const jg_edge *e = &jg->edges[o->edge];
				for (int c = 0; c < o->nconsumers; c++) {
					int j = e->part == SG_PART_FORWARD ? subtask : c;
					o->consumer_peer[c] = pl->subtask_peer[e->dst_vertex][j];
				}
			}
		}
	}
	if (oom) {
		td_free(td);
		return FL_ENOMEM;
	}
	*out = td;
	return 0;
}

void td_restore_fini(td_restore *r)
{
	free(r->list);
	for (size_t i = 0; i < r->nfiles; i++)
		free(r->files[i].path);
	free(r->files);
	memset(r, 0, sizeof(*r));
}

static void key_fini(td_key *k)
{
	free(k->fn_symbol);
}

void td_free(td_task *td)
{
	if (!td)
		return;
	for (size_t i = 0; i < td->nops; i++) {
		td_op *op = &td->ops[i];
		free(op->name);
		free(op->uid);
		free(op->fn_symbol);
		free(op->ts_symbol);
		free(op->timer_symbol);
		for (int f = 0; f < SG_WIN_NFNS; f++)
			free(op->win.fns[f]);
		key_fini(&op->key);
		key_fini(&op->key2);
		free(op->fn2_symbol);
		free(op->bstate_name);
		for (size_t p = 0; p < op->npaths; p++)
			free(op->paths[p]);
		free(op->paths);
		free(op->sizes);
		free(op->dir);
		free(op->chained);
		free(op->chained_side);
		for (size_t k = 0; k < op->nouts; k++) {
			key_fini(&op->outs[k].key);
			free(op->outs[k].dst_name);
			free(op->outs[k].consumer_peer);
		}
		free(op->outs);
		td_restore_fini(&op->restore);
	}
	free(td->ops);
	free(td->inputs);
	for (size_t i = 0; i < td->npeers; i++) {
		free(td->peers[i].resource_id);
		free(td->peers[i].data_address);
	}
	free(td->peers);
	free(td->job_name);
	free(td->library);
	free(td->vertex_name);
	free(td->state_backend);
	free(td);
}
