/*
 * jobgraph.c — StreamGraph -> JobGraph: resolve defaults, validate, fuse
 * chains, and cut job edges where chaining stops.
 */
#include "graph/jobgraph.h"

#include <stdlib.h>
#include <string.h>

/* Directory names equal up to trailing slashes. */
static bool same_dir(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	while (la > 1 && a[la - 1] == '/')
		la--;
	while (lb > 1 && b[lb - 1] == '/')
		lb--;
	return la == lb && memcmp(a, b, la) == 0;
}

int jg_default_max_parallelism(int parallelism)
{
	/* Flink's KeyGroupRangeAssignment.computeDefaultMaxParallelism: 1.5 x
	 * the parallelism rounded up to a power of two, within [128, 32768]. */
	int64_t want = (int64_t)parallelism + parallelism / 2, pow2 = 1;
	while (pow2 < want)
		pow2 <<= 1;
	return pow2 < 128 ? 128 : pow2 > 32768 ? 32768 : (int)pow2;
}

/* A node's max parallelism: declared, the job's, or derived from the
 * parallelism it has when the job is built (kept through a rescale). */
static int node_max_parallelism(const jg_graph *g, const sg_node *n, int p)
{
	if (g->force_maxp)
		return g->force_maxp[n->id];
	return n->max_parallelism	  ? n->max_parallelism
	       : g->sg->max_parallelism ? g->sg->max_parallelism
					: jg_default_max_parallelism(p);
}

static int resolve_nodes(jg_graph *g, cm_err *err)
{
	const sg_graph *sg = g->sg;
	for (size_t i = 0; i < sg->nnodes; i++) {
		const sg_node *n = sg->nodes[i];
		int p = g->force_par	  ? g->force_par[i]
			: n->parallelism ? n->parallelism
					 : sg->parallelism;
		int maxp = node_max_parallelism(g, n, p);
		if (p > maxp)
			return cm_err_set(err, FL_EINVAL,
					  "operator '%s': parallelism %d is above its max parallelism %d "
					  "(pipeline.max-parallelism)",
					  n->name, p, maxp);
		g->node_parallelism[i] = p;
		/* Flink: an unset group is inherited when all inputs agree. */
		const char *group = n->slot_group;
		if (!group) {
			group = "default";
			for (size_t j = 0; j < n->ninputs; j++) {
				const char *ig = g->node_slot_group[n->inputs[j].src];
				if (j == 0)
					group = ig;
				else if (strcmp(group, ig) != 0)
					group = "default";
			}
		}
		if (!(g->node_slot_group[i] = strdup(group)))
			return FL_ENOMEM;
		if (n->kind == SG_SOURCE_GENERATOR && n->gen_count < 0 && sg->mode == FL_MODE_BATCH)
			return cm_err_set(err, FL_EINVAL,
					  "source '%s' is unbounded (count < 0) but the job runs in BATCH "
					  "mode, which needs bounded sources; use STREAMING mode or give a count",
					  n->name);
		/* Co-location: every member of the group in one slot sharing group,
		 * at one parallelism (the scheduler then puts subtask i of each
		 * into the group's i-th slot). */
		for (size_t j = 0; n->coloc_group && j < i; j++) {
			const sg_node *m = sg->nodes[j];
			if (!m->coloc_group || strcmp(m->coloc_group, n->coloc_group) != 0)
				continue;
			if (g->node_parallelism[j] != p)
				return cm_err_set(err, FL_EINVAL,
						  "co-location group '%s': operator '%s' has parallelism "
						  "%d and '%s' %d; co-located operators need the same "
						  "parallelism",
						  n->coloc_group, m->name, g->node_parallelism[j],
						  n->name, p);
			if (strcmp(g->node_slot_group[j], g->node_slot_group[i]) != 0)
				return cm_err_set(err, FL_EINVAL,
						  "co-location group '%s': operator '%s' is in slot "
						  "sharing group '%s' and '%s' in '%s'; co-located "
						  "operators need the same slot sharing group",
						  n->coloc_group, m->name, g->node_slot_group[j],
						  n->name, g->node_slot_group[i]);
		}
		/* Stable ids name state in savepoints: one operator each. */
		char ua[160], ub[160];
		const char *uid = sg_node_uid(n, ua, sizeof(ua));
		for (size_t j = 0; j < i; j++)
			if (strcmp(sg_node_uid(sg->nodes[j], ub, sizeof(ub)), uid) == 0)
				return cm_err_set(err, FL_EINVAL,
						  "operators '%s' and '%s' have the same uid '%s'; a uid "
						  "names one operator's state in savepoints",
						  sg->nodes[j]->name, n->name, uid);
		for (size_t j = 0; j < n->ninputs; j++) {
			const sg_edge *e = &n->inputs[j];
			if (e->src < 0 || (size_t)e->src >= i)
				return cm_err_set(err, FL_EINVAL, "operator '%s': input %zu is not an earlier operator (cycle?)",
						  n->name, j);
			if (sg_kind_is_sink(sg->nodes[e->src]->kind))
				return cm_err_set(err, FL_EINVAL, "operator '%s' reads from sink '%s'; sinks have no output",
						  n->name, sg->nodes[e->src]->name);
			/* A keyed broadcast process function's second input is
			 * the broadcast stream. */
			bool bcast =
			    (n->kind == SG_CO_BROADCAST || n->kind == SG_BROADCAST_PROCESS) &&
			    e->side == 1;
			if (sg_kind_is_keyed(n->kind) && !bcast && e->part != SG_PART_HASH)
				return cm_err_set(err, FL_EINVAL, "operator '%s' needs a keyed input (fl_key_by)",
						  n->name);
			if (bcast && e->part != SG_PART_BROADCAST)
				return cm_err_set(
				    err, FL_EINVAL,
				    "operator '%s' needs a broadcast stream as its second input "
				    "(fl_broadcast_state)",
				    n->name);
			if (e->side > 1 || (e->side == 1 && !sg_kind_is_two_input(n->kind)))
				return cm_err_set(err, FL_EINVAL,
						  "operator '%s' has one input, not two", n->name);
		}
	}
	return 0;
}

static enum sg_partitioner resolve_part(const jg_graph *g, const sg_node *dst, const sg_edge *e,
					cm_err *err, int *rc)
{
	int ps = g->node_parallelism[e->src], pd = g->node_parallelism[dst->id];
	if (e->part == SG_PART_UNSET)
		return ps == pd ? SG_PART_FORWARD : SG_PART_REBALANCE;
	if (e->part == SG_PART_FORWARD && ps != pd)
		*rc = cm_err_set(err, FL_EINVAL,
				 "forward partitioning does not allow a change of parallelism: upstream "
				 "'%s' has parallelism %d, downstream '%s' has %d; use rebalance, "
				 "broadcast or key_by instead",
				 g->sg->nodes[e->src]->name, ps, dst->name, pd);
	return e->part;
}

/* Whether the edge src->dst (resolved to part) may be a chained call. */
static bool chainable_edge(const jg_graph *g, const sg_node *src, const sg_node *dst,
			   enum sg_partitioner part)
{
	return part == SG_PART_FORWARD &&
	       g->node_parallelism[src->id] == g->node_parallelism[dst->id] &&
	       strcmp(g->node_slot_group[src->id], g->node_slot_group[dst->id]) == 0 &&
	       !src->chaining_disabled && !dst->chaining_disabled && !dst->start_new_chain;
}

static bool chainable(const jg_graph *g, const sg_node *src, const sg_node *dst,
		      enum sg_partitioner part)
{
	return dst->ninputs == 1 && chainable_edge(g, src, dst, part);
}

static int push_int(int **arr, size_t *n, int v)
{
	int *na = realloc(*arr, (*n + 1) * sizeof(int));
	if (!na)
		return FL_ENOMEM;
	na[(*n)++] = v;
	*arr = na;
	return 0;
}

/* Chains ops[to] after ops[from] of v, into its input side. */
static int push_chained(jg_vertex *v, int from, int to, uint8_t side)
{
	jg_op *op = &v->ops[from];
	uint8_t *ns = realloc(op->chained_side, (op->nchained + 1) * sizeof(*ns));
	if (!ns)
		return FL_ENOMEM;
	op->chained_side = ns;
	ns[op->nchained] = side;
	return push_int(&op->chained, &op->nchained, to);
}

/* Appends an operator for node to v; its index, or -1 out of memory. */
static int add_op(jg_vertex *v, int node)
{
	jg_op *ops = realloc(v->ops, (v->nops + 1) * sizeof(*ops));
	if (!ops)
		return -1;
	v->ops = ops;
	memset(&v->ops[v->nops], 0, sizeof(v->ops[0]));
	v->ops[v->nops].node = node;
	return (int)v->nops++;
}

/* Index of node within its vertex's ops. */
static int op_index(const jg_vertex *v, int node)
{
	for (size_t i = 0; i < v->nops; i++)
		if (v->ops[i].node == node)
			return (int)i;
	return -1;
}

/* Whether job edges lead from vertex a to vertex b. */
static bool reaches(const jg_graph *g, int a, int b, uint8_t *seen)
{
	if (a == b)
		return true;
	if (seen[a])
		return false;
	seen[a] = 1;
	for (size_t e = 0; e < g->nedges; e++)
		if (g->edges[e].src_vertex == a && reaches(g, g->edges[e].dst_vertex, b, seen))
			return true;
	return false;
}

static bool linked(const jg_graph *g, int a, int b, int *rc)
{
	uint8_t *seen = calloc(g->nvertices ? g->nvertices : 1, 1);
	if (!seen) {
		*rc = FL_ENOMEM;
		return true;
	}
	bool r = reaches(g, a, b, seen);
	memset(seen, 0, g->nvertices);
	r = r || reaches(g, b, a, seen);
	free(seen);
	return r;
}

/* Moves vertex gone's operators and input edges into vertex keep (both
 * chains of a two-input operator); gone is left empty, to be dropped by
 * renumber_vertices. */
static int merge_vertices(jg_graph *g, int keep, int gone)
{
	jg_vertex *k = &g->vertices[keep], *d = &g->vertices[gone];
	size_t off = k->nops;
	jg_op *ops = realloc(k->ops, (k->nops + d->nops) * sizeof(*ops));
	if (!ops)
		return FL_ENOMEM;
	k->ops = ops;
	int *ins = realloc(k->in_edges, (k->nin_edges + d->nin_edges + 1) * sizeof(*ins));
	if (!ins)
		return FL_ENOMEM;
	k->in_edges = ins;
	for (size_t j = 0; j < d->nops; j++) {
		jg_op *op = &k->ops[off + j];
		*op = d->ops[j];
		for (size_t c = 0; c < op->nchained; c++)
			op->chained[c] += (int)off;
	}
	k->nops += d->nops;
	if (d->nin_edges) /* NULL when none (a vertex of sources only) */
		memcpy(k->in_edges + k->nin_edges, d->in_edges, d->nin_edges * sizeof(int));
	k->nin_edges += d->nin_edges;
	free(d->ops);
	free(d->in_edges);
	d->ops = NULL;
	d->in_edges = NULL;
	d->nops = d->nin_edges = 0;
	for (size_t e = 0; e < g->nedges; e++) {
		if (g->edges[e].src_vertex == gone)
			g->edges[e].src_vertex = keep;
		if (g->edges[e].dst_vertex == gone)
			g->edges[e].dst_vertex = keep;
	}
	for (size_t n = 0; n < g->sg->nnodes; n++)
		if (g->node_vertex[n] == gone)
			g->node_vertex[n] = keep;
	return 0;
}

/* Whether one thread can serve source n in turns with others: a
 * generator, or a text file source of regular files only (a stream's
 * reads block; a socket source's too). */
static bool shares_a_task(const sg_node *n)
{
	if (n->kind == SG_SOURCE_GENERATOR)
		return true;
	if (n->kind != SG_SOURCE_TEXT_FILE)
		return false;
	for (size_t i = 0; i < n->npaths; i++)
		if (n->sizes[i] <= 0) /* read as a stream */
			return false;
	return true;
}

/*
 * The sources v holds: 0 when none (its inputs come from the network); 1
 * when only sources that one thread serves in turns, with each other and
 * with an input gate (tm_run_sources); -1 when another (a socket or a
 * stream reader runs its own blocking loop, so it keeps a task to itself).
 */
static int source_heads(const jg_graph *g, const jg_vertex *v)
{
	int r = 0;
	for (size_t j = 0; j < v->nops; j++) {
		const sg_node *n = g->sg->nodes[v->ops[j].node];
		if (!sg_kind_is_source(n->kind))
			continue;
		if (!shares_a_task(n))
			return -1;
		r = 1;
	}
	return r;
}

/*
 * Where two-input node goes when it chains with both its inputs (the
 * header's rule): *into is the vertex it joins (the two input vertices
 * merged when they differ), or -1 when it heads a vertex of its own.
 */
static int two_input_vertex(jg_graph *g, const sg_node *node, int *into, cm_err *err)
{
	*into = -1;
	if (!sg_kind_is_two_input(node->kind) || node->ninputs != 2 ||
	    node->inputs[0].side == node->inputs[1].side)
		return 0;
	int vx[2];
	for (size_t j = 0; j < 2; j++) {
		const sg_edge *se = &node->inputs[j];
		int rc = 0;
		enum sg_partitioner p = resolve_part(g, node, se, err, &rc);
		if (rc)
			return rc;
		if (se->tag[0] || !chainable_edge(g, g->sg->nodes[se->src], node, p))
			return 0;
		vx[j] = g->node_vertex[se->src];
	}
	if (vx[0] != vx[1]) {
		const jg_vertex *a = &g->vertices[vx[0]], *b = &g->vertices[vx[1]];
		int rc = 0;
		if (source_heads(g, a) < 0 || source_heads(g, b) < 0)
			return 0;
		if (a->max_parallelism != b->max_parallelism || linked(g, vx[0], vx[1], &rc))
			return rc;
		/* Keep the network-fed side when only one is: the merged
		 * ops[0] is then not a source, as td_decode and the task
		 * require of a task with inputs (its sources run beside the
		 * gate). Otherwise the earlier vertex, as before. */
		bool fa = !sg_kind_is_source(g->sg->nodes[a->ops[0].node]->kind);
		bool fb = !sg_kind_is_source(g->sg->nodes[b->ops[0].node]->kind);
		int keep = vx[0] < vx[1] ? vx[0] : vx[1];
		if (fa != fb)
			keep = fa ? vx[0] : vx[1];
		if ((rc = merge_vertices(g, keep, vx[0] + vx[1] - keep)) != 0)
			return rc;
		vx[0] = keep;
	}
	*into = vx[0];
	return 0;
}

/* Drops the vertices merge_vertices emptied and puts the rest in
 * topological order (a merged vertex may now follow vertices that came
 * after it), the earliest first among those ready: ids are dense again
 * and a graph without merges keeps its order. */
static int renumber_vertices(jg_graph *g)
{
	size_t n = g->nvertices, live = 0;
	for (size_t v = 0; v < n; v++)
		live += g->vertices[v].nops > 0;
	if (live == n)
		return 0;
	int *map = malloc(n * sizeof(int)), *pending = calloc(n, sizeof(int));
	jg_vertex *nv = calloc(n, sizeof(*nv));
	if (!map || !pending || !nv) {
		free(map);
		free(pending);
		free(nv);
		return FL_ENOMEM;
	}
	for (size_t e = 0; e < g->nedges; e++)
		pending[g->edges[e].dst_vertex]++;
	for (size_t v = 0; v < n; v++)
		map[v] = g->vertices[v].nops ? -1 : -2;
	for (size_t next = 0; next < live; next++) {
		size_t v = 0;
		while (v < n && (map[v] != -1 || pending[v] > 0))
			v++;
		if (v == n)
			break; /* impossible: merges never join linked vertices */
		map[v] = (int)next;
		nv[next] = g->vertices[v];
		nv[next].id = (int)next;
		for (size_t e = 0; e < g->nedges; e++)
			if (g->edges[e].src_vertex == (int)v)
				pending[g->edges[e].dst_vertex]--;
	}
	for (size_t e = 0; e < g->nedges; e++) {
		g->edges[e].src_vertex = map[g->edges[e].src_vertex];
		g->edges[e].dst_vertex = map[g->edges[e].dst_vertex];
	}
	for (size_t i = 0; i < g->sg->nnodes; i++)
		g->node_vertex[i] = map[g->node_vertex[i]];
	free(g->vertices);
	g->vertices = nv;
	g->nvertices = live;
	free(map);
	free(pending);
	return 0;
}

static int build_chains(jg_graph *g, cm_err *err)
{
	const sg_graph *sg = g->sg;
	size_t n = sg->nnodes;
	if (!(g->vertices = calloc(n, sizeof(*g->vertices))))
		return FL_ENOMEM;
	size_t max_edges = 0;
	for (size_t i = 0; i < n; i++)
		max_edges += sg->nodes[i]->ninputs;
	if (max_edges && !(g->edges = calloc(max_edges, sizeof(*g->edges))))
		return FL_ENOMEM;

	for (size_t i = 0; i < n; i++) {
		const sg_node *node = sg->nodes[i];
		int rc = 0;
		enum sg_partitioner p0 =
		    node->ninputs ? resolve_part(g, node, &node->inputs[0], err, &rc) : SG_PART_UNSET;
		if (rc)
			return rc;
		/* A side output always leaves its task: the chained calls
		 * carry one output per operator. */
		if (node->ninputs == 1 && !node->inputs[0].tag[0] &&
		    chainable(g, sg->nodes[node->inputs[0].src], node, p0)) {
			jg_vertex *v = &g->vertices[g->node_vertex[node->inputs[0].src]];
			int parent = op_index(v, node->inputs[0].src);
			int at = add_op(v, node->id);
			if (at < 0 || push_chained(v, parent, at, 0))
				return FL_ENOMEM;
			g->node_vertex[i] = v->id;
			continue;
		}
		int into = -1;
		if ((rc = two_input_vertex(g, node, &into, err)) != 0)
			return rc;
		if (into >= 0) {
			jg_vertex *v = &g->vertices[into];
			int at = add_op(v, node->id);
			if (at < 0)
				return FL_ENOMEM;
			for (size_t j = 0; j < 2; j++)
				if (push_chained(v, op_index(v, node->inputs[j].src), at,
						 node->inputs[j].side))
					return FL_ENOMEM;
			g->node_vertex[i] = v->id;
			continue;
		}
		jg_vertex *v = &g->vertices[g->nvertices];
		v->id = (int)g->nvertices++;
		v->parallelism = g->node_parallelism[i];
		v->max_parallelism = node_max_parallelism(g, node, v->parallelism);
		v->slot_group = g->node_slot_group[i];
		if (!(v->ops = calloc(1, sizeof(*v->ops))))
			return FL_ENOMEM;
		v->ops[0].node = node->id;
		v->nops = 1;
		g->node_vertex[i] = v->id;
		for (size_t j = 0; j < node->ninputs; j++) {
			const sg_edge *se = &node->inputs[j];
			enum sg_partitioner p = resolve_part(g, node, se, err, &rc);
			if (rc)
				return rc;
			jg_edge *e = &g->edges[g->nedges];
			e->id = (int)g->nedges++;
			e->src_node = se->src;
			e->dst_node = node->id;
			e->src_vertex = g->node_vertex[se->src];
			e->dst_vertex = v->id;
			e->part = p;
			e->key = &se->key;
			e->dst_input = (int)j;
			e->tag = se->tag;
			e->side = se->side;
			jg_vertex *sv = &g->vertices[e->src_vertex];
			jg_op *sop = &sv->ops[op_index(sv, se->src)];
			if (push_int(&sop->out_edges, &sop->nout_edges, e->id) ||
			    push_int(&v->in_edges, &v->nin_edges, e->id))
				return FL_ENOMEM;
		}
	}
	return renumber_vertices(g);
}

static int name_vertices(jg_graph *g)
{
	for (size_t i = 0; i < g->nvertices; i++) {
		jg_vertex *v = &g->vertices[i];
		size_t len = 1;
		for (size_t j = 0; j < v->nops; j++)
			len += strlen(g->sg->nodes[v->ops[j].node]->name) + 4;
		if (!(v->name = malloc(len)))
			return FL_ENOMEM;
		v->name[0] = '\0';
		for (size_t j = 0; j < v->nops; j++) {
			if (j)
				strcat(v->name, " -> ");
			strcat(v->name, g->sg->nodes[v->ops[j].node]->name);
		}
	}
	return 0;
}

/* Slot sharing: a group needs as many slots as its widest vertex; groups
 * in the order their first vertex appears (the scheduler's order). */
static int count_slots(jg_graph *g)
{
	int total = 0;
	if (!(g->groups = calloc(g->nvertices ? g->nvertices : 1, sizeof(*g->groups))))
		return FL_ENOMEM;
	for (size_t i = 0; i < g->nvertices; i++) {
		const jg_vertex *v = &g->vertices[i];
		bool first = true;
		for (size_t j = 0; j < i; j++)
			if (strcmp(g->vertices[j].slot_group, v->slot_group) == 0)
				first = false;
		if (!first)
			continue;
		int widest = 0;
		for (size_t j = i; j < g->nvertices; j++)
			if (strcmp(g->vertices[j].slot_group, v->slot_group) == 0 &&
			    g->vertices[j].parallelism > widest)
				widest = g->vertices[j].parallelism;
		jg_group *gr = &g->groups[g->ngroups++];
		gr->name = v->slot_group;
		gr->width = widest;
		gr->first_slot = total;
		const cm_resource *r = sg_group_resource_of(g->sg, v->slot_group);
		if (r)
			gr->res = *r;
		total += widest;
	}
	g->slots_needed = total;
	return 0;
}

static int build(const sg_graph *sg, const char *job_name, const int *force_par,
		 const int *force_maxp, jg_graph **out, cm_err *err);

int jg_build(const sg_graph *sg, const char *job_name, jg_graph **out, cm_err *err)
{
	return build(sg, job_name, NULL, NULL, out, err);
}

/* True when a and b have the same vertices, chains and edges. */
static bool same_shape(const jg_graph *a, const jg_graph *b)
{
	if (a->nvertices != b->nvertices || a->nedges != b->nedges)
		return false;
	for (size_t v = 0; v < a->nvertices; v++) {
		const jg_vertex *x = &a->vertices[v], *y = &b->vertices[v];
		if (x->nops != y->nops || x->nin_edges != y->nin_edges)
			return false;
		for (size_t k = 0; k < x->nops; k++)
			if (x->ops[k].node != y->ops[k].node)
				return false;
	}
	for (size_t e = 0; e < a->nedges; e++) {
		const jg_edge *x = &a->edges[e], *y = &b->edges[e];
		if (x->src_vertex != y->src_vertex || x->dst_vertex != y->dst_vertex ||
		    x->part != y->part || x->src_node != y->src_node || x->dst_node != y->dst_node)
			return false;
	}
	return true;
}

int jg_rescale(const jg_graph *g, const int *parallelism, jg_graph **out, cm_err *err)
{
	*out = NULL;
	size_t n = g->sg->nnodes;
	int *par = calloc(n ? n : 1, sizeof(int)), *maxp = calloc(n ? n : 1, sizeof(int));
	if (!par || !maxp) {
		free(par);
		free(maxp);
		return cm_err_set(err, FL_ENOMEM, "out of memory while rescaling the job graph");
	}
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		const jg_vertex *v = &g->vertices[g->node_vertex[i]];
		par[i] = parallelism[v->id];
		/* The vertex's, as the first build settled it and a restore may
		 * have adopted it from the state (cp_restore_check): a derived
		 * one must not move with the parallelism. */
		maxp[i] = v->max_parallelism;
		if (par[i] < 1 || par[i] > maxp[i]) {
			rc = cm_err_set(err, FL_EINVAL,
					"vertex '%s': parallelism %d is outside 1..%d (the max "
					"parallelism of '%s')",
					v->name, par[i], maxp[i], g->sg->nodes[i]->name);
			break;
		}
	}
	jg_graph *r = NULL;
	if (rc == 0)
		rc = build(g->sg, g->job_name, par, maxp, &r, err);
	free(par);
	free(maxp);
	if (rc == 0 && !same_shape(g, r)) {
		jg_free(r);
		return cm_err_set(err, FL_EINVAL,
				  "at these parallelisms the job's operators would chain or connect "
				  "differently (vertices joined by a forward edge need one "
				  "parallelism)");
	}
	if (rc == 0)
		*out = r;
	return rc;
}

static int build(const sg_graph *sg, const char *job_name, const int *force_par,
		 const int *force_maxp, jg_graph **out, cm_err *err)
{
	if (sg->nnodes == 0)
		return cm_err_set(err, FL_EINVAL,
				  "no operators defined in the dataflow: nothing to execute");
	bool has_sink = false;
	for (size_t i = 0; i < sg->nnodes; i++)
		has_sink |= sg_kind_is_sink(sg->nodes[i]->kind);
	if (!has_sink)
		return cm_err_set(err, FL_EINVAL,
				  "the dataflow has no sink: add fl_print, fl_write_text or fl_discard");
	/* Two text sinks on one directory would write the same part files. */
	for (size_t i = 0; i < sg->nnodes; i++) {
		if (sg->nodes[i]->kind != SG_SINK_TEXT_FILE)
			continue;
		for (size_t j = 0; j < i; j++)
			if (sg->nodes[j]->kind == SG_SINK_TEXT_FILE &&
			    same_dir(sg->nodes[i]->dir, sg->nodes[j]->dir))
				return cm_err_set(err, FL_EINVAL,
						  "sinks '%s' and '%s' both write to directory '%s': "
						  "give each text file sink its own directory",
						  sg->nodes[j]->name, sg->nodes[i]->name,
						  sg->nodes[i]->dir);
	}
	jg_graph *g = calloc(1, sizeof(*g));
	if (!g)
		return cm_err_set(err, FL_ENOMEM, "out of memory while building the job graph");
	g->sg = sg;
	g->force_par = force_par;
	g->force_maxp = force_maxp;
	int rc = FL_ENOMEM;
	if (!(g->job_name = strdup(job_name && *job_name ? job_name : "flinc job")) ||
	    !(g->node_vertex = calloc(sg->nnodes, sizeof(int))) ||
	    !(g->node_parallelism = calloc(sg->nnodes, sizeof(int))) ||
	    !(g->node_slot_group = calloc(sg->nnodes, sizeof(char *))))
		goto fail;
	if ((rc = resolve_nodes(g, err)) != 0 || (rc = build_chains(g, err)) != 0 ||
	    (rc = name_vertices(g)) != 0 || (rc = count_slots(g)) != 0)
		goto fail;
	g->force_par = g->force_maxp = NULL;
	*out = g;
	return 0;
fail:
	if (rc == FL_ENOMEM)
		cm_err_set(err, FL_ENOMEM, "out of memory while building the job graph");
	jg_free(g);
	return rc;
}

void jg_free(jg_graph *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->nvertices; i++) {
		jg_vertex *v = &g->vertices[i];
		for (size_t j = 0; j < v->nops; j++) {
			free(v->ops[j].chained);
			free(v->ops[j].chained_side);
			free(v->ops[j].out_edges);
		}
		free(v->ops);
		free(v->in_edges);
		free(v->name);
	}
	free(g->vertices);
	free(g->groups);
	free(g->edges);
	if (g->node_slot_group)
		for (size_t i = 0; i < g->sg->nnodes; i++)
			free(g->node_slot_group[i]);
	free(g->node_slot_group);
	free(g->node_parallelism);
	free(g->node_vertex);
	free(g->job_name);
	free(g);
}

static void print_key(const sg_key *k, FILE *f)
{
	if (sg_key_is_global(k))
		fprintf(f, "no key: window_all");
	else if (k->by_fn)
		fprintf(f, "key %s()", k->fn_symbol);
	else
		fprintf(f, "key field %u", k->field);
}

static void print_window(const sg_window *w, FILE *f)
{
	static const char *const fn[SG_WIN_NFNS] = {"reduce", "create", "add", "result",
						    "merge",  "window", "process"};
	const char *time = w->time == FL_PROCESSING_TIME ? "processing" : "event";
	if (w->kind == FL_WINDOW_COUNT) {
		if (w->slide_ms && w->slide_ms != w->size_ms)
			fprintf(f, " count %lld every %lld records", (long long)w->size_ms,
				(long long)w->slide_ms);
		else
			fprintf(f, " count %lld records", (long long)w->size_ms);
		for (int i = 0; i < SG_WIN_NFNS; i++)
			if (w->fns[i])
				fprintf(f, ", %s %s()", fn[i], w->fns[i]);
		return;
	}
	if (w->kind == FL_WINDOW_SESSION)
		fprintf(f, " session gap %lld ms", (long long)w->size_ms);
	else if (w->kind == FL_WINDOW_SLIDING)
		fprintf(f, " sliding %lld ms every %lld ms", (long long)w->size_ms,
			(long long)w->slide_ms);
	else
		fprintf(f, " tumbling %lld ms", (long long)w->size_ms);
	fprintf(f, ", %s time", time);
	if (w->lateness_ms)
		fprintf(f, ", lateness %lld ms", (long long)w->lateness_ms);
	const char *purging = w->purging ? "purging " : "";
	if (w->trigger == FL_TRIGGER_COUNT)
		fprintf(f, ", %strigger every %lld records", purging, (long long)w->trigger_n);
	else if (w->trigger != FL_TRIGGER_DEFAULT)
		fprintf(f, ", %strigger every %lld ms", purging, (long long)w->trigger_n);
	else if (w->purging)
		fprintf(f, ", purging trigger");
	if (w->evictor)
		fprintf(f, ", evict %s %lld %s %s",
			w->evictor == FL_EVICTOR_COUNT ? "to the last" : "beyond",
			(long long)w->evictor_n, w->evictor == FL_EVICTOR_COUNT ? "records" : "ms",
			w->evict_after ? "after" : "before");
	for (int i = 0; i < SG_WIN_NFNS; i++)
		if (w->fns[i])
			fprintf(f, ", %s %s()", fn[i], w->fns[i]);
}

/* A two-input operator chained with its inputs: which operator feeds
 * each (" <- input 1 Map A, input 2 Map B"). */
static void print_chained_inputs(const jg_graph *g, const jg_vertex *v, size_t at, FILE *f)
{
	if (!sg_kind_is_two_input(g->sg->nodes[v->ops[at].node]->kind))
		return;
	const char *from[2] = {NULL, NULL};
	for (size_t j = 0; j < at; j++)
		for (size_t c = 0; c < v->ops[j].nchained; c++)
			if ((size_t)v->ops[j].chained[c] == at)
				from[v->ops[j].chained_side[c] & 1] =
				    g->sg->nodes[v->ops[j].node]->name;
	if (from[0] && from[1])
		fprintf(f, " <- input 1 %s, input 2 %s", from[0], from[1]);
}

void jg_print_text(const jg_graph *g, FILE *f)
{
	const sg_graph *sg = g->sg;
	char maxp[16] = "auto"; /* derived per operator */
	if (sg->max_parallelism)
		snprintf(maxp, sizeof(maxp), "%d", sg->max_parallelism);
	fprintf(f, "Job \"%s\": mode %s, default parallelism %d, max parallelism %s, slots needed %d\n",
		g->job_name, sg->mode == FL_MODE_BATCH ? "BATCH" : "STREAMING", sg->parallelism, maxp,
		g->slots_needed);
	for (size_t i = 0; i < g->nvertices; i++) {
		const jg_vertex *v = &g->vertices[i];
		fprintf(f, "\nVertex %d: %s\n", v->id + 1, v->name);
		fprintf(f, "  parallelism %d, max parallelism %d, slot sharing group '%s'\n",
			v->parallelism, v->max_parallelism, v->slot_group);
		/* A vertex that joined two chains has several heads: several
		 * network-fed operators, or sources beside one. */
		int heads = 1;
		for (size_t j = 0; j < v->nin_edges; j++)
			if (g->edges[v->in_edges[j]].dst_node != v->ops[0].node)
				heads = 2;
		for (size_t j = 1; j < v->nops; j++)
			if (sg_kind_is_source(sg->nodes[v->ops[j].node]->kind))
				heads = 2;
		for (size_t j = 0; j < v->nin_edges; j++) {
			const jg_edge *e = &g->edges[v->in_edges[j]];
			fprintf(f, "  input%s: vertex %d (%s) via %s",
				sg_kind_is_two_input(sg->nodes[e->dst_node]->kind)
				    ? (e->side ? " 2" : " 1")
				    : "",
				e->src_vertex + 1, sg->nodes[e->src_node]->name,
				sg_ship_strategy(e->part, e->key));
			if (e->part == SG_PART_HASH) {
				fprintf(f, " (");
				print_key(e->key, f);
				fprintf(f, ")");
			}
			if (heads > 1)
				fprintf(f, " into %s", sg->nodes[e->dst_node]->name);
			fprintf(f, "\n");
		}
		for (size_t j = 0; j < v->nops; j++) {
			const sg_node *n = sg->nodes[v->ops[j].node];
			bool head = j == 0 || sg_kind_is_source(n->kind);
			for (size_t k = 0; k < v->nin_edges && !head; k++)
				head = g->edges[v->in_edges[k]].dst_node == n->id;
			fprintf(f, "  %s %s [%s", head ? "head " : "chain", n->name, sg_kind_type(n->kind));
			if (n->fn_symbol)
				fprintf(f, " %s()", n->fn_symbol);
			if (n->kind == SG_SUM || n->kind == SG_MIN || n->kind == SG_MAX)
				fprintf(f, " field %u", n->field);
			if (n->timer_symbol)
				fprintf(f, " on_timer %s()", n->timer_symbol);
			if (n->kind == SG_WINDOW)
				print_window(&n->win, f);
			if (n->fn2_symbol)
				fprintf(f, " input 2 %s()", n->fn2_symbol);
			if (n->bstate_name)
				fprintf(f, " broadcast state '%s'", n->bstate_name);
			if (n->kind == SG_WINDOW_JOIN || n->kind == SG_WINDOW_COGROUP)
				print_window(&n->win, f);
			if (n->kind == SG_INTERVAL_JOIN)
				fprintf(f, " between %lld and %lld ms", (long long)n->lower_ms,
					(long long)n->upper_ms);
			fprintf(f, "]");
			print_chained_inputs(g, v, j, f);
			fprintf(f, "\n");
		}
	}
}

static void dot_escape(const char *s, FILE *f)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
}

void jg_print_dot(const jg_graph *g, FILE *f)
{
	fprintf(f, "digraph \"");
	dot_escape(g->job_name, f);
	fprintf(f, "\" {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n");
	for (size_t i = 0; i < g->nvertices; i++) {
		const jg_vertex *v = &g->vertices[i];
		fprintf(f, "  v%d [label=\"", v->id + 1);
		for (size_t j = 0; j < v->nops; j++) {
			if (j)
				fprintf(f, "\\n");
			dot_escape(g->sg->nodes[v->ops[j].node]->name, f);
		}
		fprintf(f, "\\nparallelism %d\"];\n", v->parallelism);
	}
	for (size_t i = 0; i < g->nedges; i++) {
		const jg_edge *e = &g->edges[i];
		fprintf(f, "  v%d -> v%d [label=\"%s\"];\n", e->src_vertex + 1, e->dst_vertex + 1,
			sg_ship_strategy(e->part, e->key));
	}
	fprintf(f, "}\n");
}
