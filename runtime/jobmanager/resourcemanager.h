/*
 * resourcemanager.h — the JobManager's ResourceManager with the standalone
 * driver (Flink's StandaloneResourceManager): it knows the TaskManagers that
 * registered, hands their slots to jobs, and forgets a TaskManager it has
 * not heard of for heartbeat.timeout. It cannot start TaskManagers.
 *
 * A TaskManager registers (its resource id, RPC and data addresses, slots
 * and resources) and then heartbeats; the reply carries this
 * ResourceManager's session id, so a TaskManager notices a restarted
 * JobManager and registers again. Registering again under the same resource
 * id from another address replaces the old entry (a restarted process).
 *
 * Slots: a job asks for n slots (rm_allocate); the ResourceManager spreads
 * them evenly over the TaskManagers that have free ones (pipelines spread
 * out, as the mini cluster does; Flink's cluster.evenly-spread-out-slots)
 * and waits, up to a timeout, for
 * TaskManagers to register or other jobs to release theirs. The allocation
 * holds a gateway to each TaskManager it uses; a TaskManager that is lost
 * meanwhile stays allocated (the job's JobMaster notices the loss itself)
 * and its gateway lives until the allocation is released.
 *
 * Threads: every function is thread-safe; rm_allocate blocks its caller.
 */
#ifndef FLINC_JOBMANAGER_RESOURCEMANAGER_H
#define FLINC_JOBMANAGER_RESOURCEMANAGER_H

#include <stddef.h>
#include <stdint.h>

#include "common/auth.h"
#include "common/cancel.h"
#include "common/err.h"
#include "rpc/gateway.h"

typedef struct rm_resourcemanager rm_resourcemanager;

/* Reads a chunk of the user library with the given hash (for the blob
 * method): fills up to cap bytes at offset into buf, *n and *total.
 * Returns 0, FL_ENOENT or FL_EIO with err. */
typedef int (*rm_blob_fn)(void *arg, const char *hash, uint64_t offset, uint8_t *buf, size_t cap,
			  size_t *n, uint64_t *total, cm_err *err);

typedef struct rm_options {
	const cm_secret *secret; /* for the gateways to TaskManagers (copied) */
	const char *cluster_id;
	int64_t heartbeat_timeout_ms;
	int64_t rpc_timeout_ms; /* per gateway call to a TaskManager */
	rm_blob_fn blob;	/* may be NULL: no blobs served */
	void *blob_arg;
} rm_options;

int rm_new(rm_resourcemanager **out, const rm_options *o, cm_err *err);
/* Stops the reaper and frees every TaskManager entry; allocations must have
 * been released. */
void rm_free(rm_resourcemanager *rm);

/* The gateway TaskManagers call (served by the JobManager's RPC server).
 * Owned by the ResourceManager. */
rpc_rm_gateway *rm_gateway(rm_resourcemanager *rm);

/* Slots of a job: per TaskManager used, its gateway and how many slots. */
typedef struct rm_allocation {
	size_t n;
	rpc_tm_gateway **tms;
	int *slots;
	char **resource_ids;
	void **entries; /* internal */
} rm_allocation;

/*
 * Takes n slots for job_id, waiting up to timeout_ms (slot.request.timeout)
 * for enough to be free, or until cancel (may be NULL) is requested.
 * Returns 0 with *out (give back with rm_release), FL_ETIMEDOUT with err
 * naming how many slots were needed and how many the cluster had,
 * FL_ECANCELED or FL_ENOMEM.
 */
int rm_allocate(rm_resourcemanager *rm, const char *job_id, int n, int64_t timeout_ms,
		cm_cancel *cancel, rm_allocation **out, cm_err *err);
void rm_release(rm_resourcemanager *rm, rm_allocation *a);

/* A registered TaskManager as the REST API shows it. */
typedef struct rm_tm_view {
	char resource_id[128];
	char rpc_address[256];
	char data_address[256];
	int slots, free_slots;
	int64_t cpu_milli, memory_bytes, managed_bytes, network_bytes;
	int64_t registered_wall_ms, last_heard_wall_ms;
} rm_tm_view;

/* The registered TaskManagers and their slots, total and free (what
 * /overview and /metrics show). */
void rm_totals(rm_resourcemanager *rm, size_t *ntms, int *slots, int *free_slots);
/* The registered TaskManager resource_id. Returns 0 or FL_ENOENT. */
int rm_get(rm_resourcemanager *rm, const char *resource_id, rm_tm_view *out);

/* A snapshot of the registered TaskManagers (malloc'd, *out freed by the
 * caller). Returns 0 or FL_ENOMEM. */
int rm_list(rm_resourcemanager *rm, rm_tm_view **out, size_t *n);

#endif
