/*
 * scheduler.h — slot assignment (Flink's default scheduler with slot
 * sharing, for a fixed set of TaskManagers).
 *
 * Slot sharing: subtask i of every vertex of a slot sharing group goes to the
 * group's i-th slot, so a group needs as many slots as its widest vertex and
 * a job the sum over its groups. Slots are taken round-robin across
 * TaskManagers (the first slot of each, then the second...), so pipelines
 * spread out and data crosses TaskManagers.
 *
 * Co-location groups (fl_colocate) need nothing more: their members share a
 * slot sharing group and a parallelism (jg_build checks), so subtask i of
 * each lands in the group's i-th slot.
 */
#ifndef FLINC_JOBMANAGER_SCHEDULER_H
#define FLINC_JOBMANAGER_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "graph/jobgraph.h"

/*
 * Fills where[vertex][subtask] with the index of the TaskManager that runs
 * it. With placement (slots_needed entries: the TaskManager of each job
 * slot, as the ResourceManager fitted them to the groups' profiles) each
 * subtask goes to its slot's TaskManager; without, slots[k] free slots on
 * TaskManager k are taken round-robin. Returns 0, FL_ERANGE when the slots
 * do not suffice (msg names both numbers and what to change), FL_EINVAL
 * for a placement naming a TaskManager past ntms, or FL_ENOMEM.
 */
int sch_assign(const jg_graph *jg, const int *slots, size_t ntms, const uint32_t *placement,
	       uint32_t **where, char *msg, size_t msglen);

/* The job's slot (0 .. slots_needed-1) that subtask of vertex runs in: the
 * same for subtask i of every vertex of a slot sharing group. */
int sch_slot_of(const jg_graph *jg, int vertex, int subtask);

#endif
