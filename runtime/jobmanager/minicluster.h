/*
 * minicluster.h — Flink's MiniCluster: a JobMaster and N TaskManagers in
 * this process (local.number-taskmanager), the TaskManagers exchanging data
 * over loopback TCP exactly as separate processes would.
 */
#ifndef FLINC_JOBMANAGER_MINICLUSTER_H
#define FLINC_JOBMANAGER_MINICLUSTER_H

#include <stdbool.h>

#include "common/cancel.h"
#include "config/config.h"
#include "jobmanager/jobmaster.h"

/*
 * Builds the job graph of sg, starts the TaskManagers (slots per TaskManager:
 * taskmanager.numberOfTaskSlots, raised so that the job fits, as Flink's
 * local environment does), runs the job and stops the cluster. Returns 0
 * when the job ran (res->status tells how it ended) or an error with
 * res->error naming it (bad graph, cannot listen, not enough slots). The
 * listener (may be NULL) hears of the job's id, its progress, and may cancel
 * it (see jm_listener).
 */
int mc_execute(const sg_graph *sg, const char *job_name, const cfg *c,
	       const jm_listener *listener, jm_result *res);

#endif
