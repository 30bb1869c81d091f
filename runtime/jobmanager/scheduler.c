/*
 * scheduler.c — slot sharing groups laid out on round-robin slots.
 */
#include "jobmanager/scheduler.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

int sch_assign(const jg_graph *jg, const int *slots, size_t ntms, const uint32_t *placement,
	       uint32_t **where, char *msg, size_t msglen)
{
	if (placement) {
		/* The ResourceManager chose each job slot's TaskManager. */
		for (size_t v = 0; v < jg->nvertices; v++) {
			const jg_vertex *vx = &jg->vertices[v];
			for (int i = 0; i < vx->parallelism; i++) {
				uint32_t k = placement[sch_slot_of(jg, (int)v, i)];
				if (k >= ntms) {
					snprintf(
					    msg, msglen,
					    "the slot of subtask %d of '%s' is on TaskManager %u "
					    "of %zu",
					    i, vx->name, (unsigned)k, ntms);
					return FL_EINVAL;
				}
				where[v][i] = k;
			}
		}
		return 0;
	}
	int64_t have = 0;
	int maxslots = 0;
	for (size_t k = 0; k < ntms; k++) {
		have += slots[k];
		if (slots[k] > maxslots)
			maxslots = slots[k];
	}
	if (have < jg->slots_needed) {
		snprintf(msg, msglen,
			 "could not acquire the minimum required resources: the job needs %d task "
			 "slots but the cluster has %lld (%zu TaskManagers); lower the parallelism or "
			 "add TaskManagers/slots (taskmanager.numberOfTaskSlots)",
			 jg->slots_needed, (long long)have, ntms);
		return FL_ERANGE;
	}
	/* Only the slots the job uses are laid out. */
	size_t nslots = (size_t)jg->slots_needed;
	uint32_t *order = calloc(nslots ? nslots : 1, sizeof(*order));
	int *vbase = calloc(jg->nvertices ? jg->nvertices : 1, sizeof(int));
	if (!order || !vbase) {
		free(order);
		free(vbase);
		return FL_ENOMEM;
	}
	size_t n = 0;
	for (int r = 0; r < maxslots && n < nslots; r++)
		for (size_t k = 0; k < ntms && n < nslots; k++)
			if (r < slots[k])
				order[n++] = (uint32_t)k;
	/* Each slot sharing group gets a consecutive run of slots, as wide as
	 * its widest vertex. */
	int next = 0;
	for (size_t v = 0; v < jg->nvertices; v++) {
		const jg_vertex *vx = &jg->vertices[v];
		int base = -1;
		for (size_t u = 0; u < v && base < 0; u++)
			if (strcmp(jg->vertices[u].slot_group, vx->slot_group) == 0)
				base = vbase[u];
		if (base < 0) {
			int width = 0;
			for (size_t u = v; u < jg->nvertices; u++)
				if (strcmp(jg->vertices[u].slot_group, vx->slot_group) == 0 &&
				    jg->vertices[u].parallelism > width)
					width = jg->vertices[u].parallelism;
			base = next;
			next += width;
		}
		vbase[v] = base;
		for (int i = 0; i < vx->parallelism; i++)
			where[v][i] = order[base + i];
	}
	free(vbase);
	free(order);
	return 0;
}

int sch_slot_of(const jg_graph *jg, int vertex, int subtask)
{
	/* The group's run of slots starts after the runs of the groups first
	 * seen before it, each as wide as its widest vertex (as sch_assign). */
	const char *group = jg->vertices[vertex].slot_group;
	int base = 0;
	for (size_t v = 0; v < jg->nvertices; v++) {
		const char *gv = jg->vertices[v].slot_group;
		bool first = true;
		for (size_t u = 0; u < v && first; u++)
			if (strcmp(jg->vertices[u].slot_group, gv) == 0)
				first = false;
		if (!first)
			continue;
		if (strcmp(gv, group) == 0)
			break;
		int width = 0;
		for (size_t u = v; u < jg->nvertices; u++)
			if (strcmp(jg->vertices[u].slot_group, gv) == 0 &&
			    jg->vertices[u].parallelism > width)
				width = jg->vertices[u].parallelism;
		base += width;
	}
	return base + subtask;
}
