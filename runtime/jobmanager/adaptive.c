/*
 * adaptive.c — see adaptive.h.
 */
#include "jobmanager/adaptive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flinc/flinc.h"
#include "graph/plan_json.h"

void ad_default_bounds(const jg_graph *jg, ad_bounds *b)
{
	for (size_t v = 0; v < jg->nvertices; v++)
		b[v] = (ad_bounds){1, jg->vertices[v].parallelism};
}

/* The group index of vertex v (jg->groups are by name). */
static size_t group_of(const jg_graph *jg, size_t v)
{
	for (size_t g = 0; g < jg->ngroups; g++)
		if (strcmp(jg->groups[g].name, jg->vertices[v].slot_group) == 0)
			return g;
	return 0;
}

/* Union-find over the vertices joined by forward edges. */
static size_t root(size_t *up, size_t v)
{
	while (up[v] != v)
		v = up[v] = up[up[v]];
	return v;
}

/* up[v]: the forward class of each vertex (n entries). */
static void forward_classes(const jg_graph *jg, size_t *up)
{
	for (size_t v = 0; v < jg->nvertices; v++)
		up[v] = v;
	for (size_t e = 0; e < jg->nedges; e++) {
		const jg_edge *x = &jg->edges[e];
		if (x->part != SG_PART_FORWARD)
			continue;
		size_t a = root(up, (size_t)x->src_vertex), b = root(up, (size_t)x->dst_vertex);
		if (a != b)
			up[a] = b;
	}
}

/* A job has few vertices and groups: the small fixed arrays bound them. */
#define AD_MAX 512

enum ad_fit ad_plan(const jg_graph *jg, const ad_bounds *b, int slots, int *par)
{
	size_t n = jg->nvertices, ng = jg->ngroups;
	if (n == 0 || n > AD_MAX || ng == 0 || ng > AD_MAX)
		return AD_INSUFFICIENT;
	int lo[AD_MAX] = {0}, hi[AD_MAX] = {0}, width[AD_MAX] = {0};
	for (size_t v = 0; v < n; v++) {
		size_t g = group_of(jg, v);
		if (b[v].lower > lo[g])
			lo[g] = b[v].lower;
		if (b[v].upper > hi[g])
			hi[g] = b[v].upper;
	}
	int left = slots;
	for (size_t g = 0; g < ng; g++) {
		width[g] = lo[g] < left ? lo[g] : (left > 0 ? left : 0);
		left -= width[g];
	}
	/* In turn, one slot at a time, to the groups that want more. */
	for (bool more = true; left > 0 && more;) {
		more = false;
		for (size_t g = 0; g < ng && left > 0; g++)
			if (width[g] < hi[g]) {
				width[g]++;
				left--;
				more = true;
			}
	}
	for (size_t v = 0; v < n; v++) {
		int w = width[group_of(jg, v)];
		par[v] = b[v].upper < w ? b[v].upper : w;
	}
	size_t up[AD_MAX];
	forward_classes(jg, up);
	for (size_t v = 0; v < n; v++) {
		size_t r = root(up, v);
		if (par[v] < par[r])
			par[r] = par[v];
	}
	enum ad_fit fit = AD_DESIRED;
	for (size_t v = 0; v < n; v++) {
		par[v] = par[root(up, v)];
		if (par[v] < b[v].lower || par[v] < 1)
			fit = AD_INSUFFICIENT;
		else if (par[v] < b[v].upper && fit == AD_DESIRED)
			fit = AD_SUFFICIENT;
	}
	return fit;
}

int ad_slots_needed(const jg_graph *jg, const int *par)
{
	int total = 0;
	for (size_t g = 0; g < jg->ngroups; g++) {
		int widest = 0;
		for (size_t v = 0; v < jg->nvertices; v++)
			if (group_of(jg, v) == g && par[v] > widest)
				widest = par[v];
		total += widest;
	}
	return total;
}

int ad_slots_for_bounds(const jg_graph *jg, const ad_bounds *b, bool lower)
{
	int par[AD_MAX];
	size_t n = jg->nvertices < AD_MAX ? jg->nvertices : AD_MAX;
	for (size_t v = 0; v < n; v++)
		par[v] = lower ? b[v].lower : b[v].upper;
	return ad_slots_needed(jg, par);
}

/* A bound: a JSON integer in 1..max. */
static int read_bound(const cJSON *p, const char *field, const char *vid, int max, int *out,
		      char *why, size_t cap)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(p, field);
	/* In int's range before the cast (fuzz.requirements found 2e15). */
	double d = cJSON_IsNumber(x) ? x->valuedouble : 0.5;
	if (!(d > -2147483648.0 && d < 2147483648.0) || d != (double)(int)d) {
		snprintf(why, cap, "job vertex %s: parallelism.%s must be an integer in 1..%d", vid,
			 field, max);
		return FL_EINVAL;
	}
	int v = (int)d;
	if (v < 1 || v > max) {
		snprintf(why, cap,
			 "job vertex %s: parallelism.%s %d is outside 1..%d (the vertex's max "
			 "parallelism)",
			 vid, field, v, max);
		return FL_EINVAL;
	}
	*out = v;
	return 0;
}

int ad_bounds_from_json(const cJSON *body, const jg_graph *jg, const char *job_id,
			ad_bounds *out, char *why, size_t why_cap)
{
	size_t n = jg->nvertices;
	if (!cJSON_IsObject(body)) {
		snprintf(why, why_cap,
			 "the request body must be a JSON object of job vertex ids to "
			 "{\"parallelism\": {\"lowerBound\": L, \"upperBound\": U}}");
		return FL_EINVAL;
	}
	if (n > AD_MAX) {
		snprintf(why, why_cap, "the job has more than %d vertices", AD_MAX);
		return FL_EINVAL;
	}
	bool seen[AD_MAX] = {false};
	const cJSON *it;
	cJSON_ArrayForEach(it, body)
	{
		size_t v = n;
		char id[33];
		for (size_t k = 0; k < n && it->string; k++) {
			jg_vertex_id(job_id, (int)k, id);
			if (strcasecmp(id, it->string) == 0)
				v = k;
		}
		if (v == n) {
			snprintf(why, why_cap, "job vertex %.64s was not found in the job %s",
				 it->string ? it->string : "", job_id);
			return FL_EINVAL;
		}
		jg_vertex_id(job_id, (int)v, id);
		if (seen[v]) {
			snprintf(why, why_cap, "job vertex %s is named twice", id);
			return FL_EINVAL;
		}
		seen[v] = true;
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "parallelism");
		if (!cJSON_IsObject(p)) {
			snprintf(why, why_cap,
				 "job vertex %s: \"parallelism\" must be an object with lowerBound "
				 "and upperBound",
				 id);
			return FL_EINVAL;
		}
		int max = jg->vertices[v].max_parallelism;
		int rc = read_bound(p, "lowerBound", id, max, &out[v].lower, why, why_cap);
		if (!rc)
			rc = read_bound(p, "upperBound", id, max, &out[v].upper, why, why_cap);
		if (rc)
			return rc;
		if (out[v].lower > out[v].upper) {
			snprintf(why, why_cap,
				 "job vertex %s: the lower bound %d is above the upper bound %d", id,
				 out[v].lower, out[v].upper);
			return FL_EINVAL;
		}
	}
	for (size_t v = 0; v < n; v++)
		if (!seen[v]) {
			char id[33];
			jg_vertex_id(job_id, (int)v, id);
			snprintf(why, why_cap,
				 "the request is incomplete: job vertex %s ('%.200s') has no resource "
				 "requirements",
				 id, jg->vertices[v].name);
			return FL_EINVAL;
		}
	size_t up[AD_MAX];
	forward_classes(jg, up);
	for (size_t v = 0; v < n; v++) {
		size_t r = root(up, v);
		if (out[v].lower != out[r].lower || out[v].upper != out[r].upper) {
			char a[33], b[33];
			jg_vertex_id(job_id, (int)v, a);
			jg_vertex_id(job_id, (int)r, b);
			snprintf(why, why_cap,
				 "job vertices %s and %s are joined by forward edges and need the "
				 "same bounds (%d..%d and %d..%d)",
				 a, b, out[v].lower, out[v].upper, out[r].lower, out[r].upper);
			return FL_EINVAL;
		}
	}
	return 0;
}

cJSON *ad_bounds_to_json(const jg_graph *jg, const char *job_id, const ad_bounds *b)
{
	cJSON *o = cJSON_CreateObject();
	for (size_t v = 0; o && v < jg->nvertices; v++) {
		char id[33];
		jg_vertex_id(job_id, (int)v, id);
		cJSON *x = cJSON_AddObjectToObject(o, id);
		cJSON *p = x ? cJSON_AddObjectToObject(x, "parallelism") : NULL;
		if (!p || !cJSON_AddNumberToObject(p, "lowerBound", b[v].lower) ||
		    !cJSON_AddNumberToObject(p, "upperBound", b[v].upper)) {
			cJSON_Delete(o);
			return NULL;
		}
	}
	return o;
}
