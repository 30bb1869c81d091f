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
 * Resources (Flink's fine-grained resource management): a TaskManager
 * announces its total resources — CPU, process memory, managed and network
 * memory; its task memory is what the process has beyond managed and
 * network memory — and its number of slots N. Its default slot is 1/N of
 * each (Flink's defaultSlotResourceProfile = total / numberOfTaskSlots).
 * A request with a profile gets a dynamic slot cut from the TaskManager's
 * free resources to exactly that size; a request without one (UNKNOWN)
 * gets a default slot, which also takes its resources from the free ones.
 * A TaskManager never holds more than N slots, dynamic or default. A job's
 * slots go back to the free resources when it releases them.
 *
 * Slots: a job asks for its slots per slot sharing group (rm_allocate),
 * all or none. The ResourceManager places the larger profiles first, each
 * slot on the TaskManager that fits it and holds the fewest of this job's
 * slots, the one with the most free slots among those (pipelines spread
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
#include "common/resource.h"
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
	/* A TaskManager whose connection dropped is lost once it has been
	 * unreachable for this long (heartbeat.rpc-failure-threshold times
	 * heartbeat.interval; 0: only the timeout counts). */
	int64_t unreachable_ms;
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

/* What a job asks for: slots of one slot sharing group. */
typedef struct rm_request {
	const char *group;   /* named in messages; copied */
	cm_resource profile; /* UNKNOWN: a TaskManager's default slot */
	int slots;
} rm_request;

/* Most slots one job may ask for. */
#define RM_MAX_JOB_SLOTS (1 << 20)

/* Slots of a job: per TaskManager used, its gateway and how many slots;
 * per job slot (the requests' slots in request order), which TaskManager
 * holds it and what it holds. */
typedef struct rm_allocation {
	size_t n;
	rpc_tm_gateway **tms;
	int *slots;
	char **resource_ids;
	size_t nslots;
	uint32_t *placement;   /* job slot -> index into tms */
	cm_resource *profiles; /* job slot -> its resources (a default slot's size) */
	/* internal */
	void **entries;
	cm_resource *taken; /* per TaskManager used: the resources held there */
	uint32_t *slot_request;
	char **groups;
	size_t ngroups;
	char job_id[33];
	struct rm_allocation *next;
} rm_allocation;

/*
 * Takes the slots of nreq requests for job_id (all of them or none),
 * waiting up to timeout_ms (slot.request.timeout) for them to fit, or
 * until cancel (may be NULL) is requested. Returns 0 with *out (give back
 * with rm_release), FL_ETIMEDOUT with err ("Could not acquire the minimum
 * required resources: ...") naming, for requests without profiles, how
 * many slots were needed and how many the cluster had, else the slot
 * sharing group that did not fit, its profile and the free resources of
 * the TaskManager with the most; FL_EINVAL for a negative slot count or
 * more than RM_MAX_JOB_SLOTS in all, FL_ECANCELED or FL_ENOMEM.
 */
int rm_allocate(rm_resourcemanager *rm, const char *job_id, const rm_request *req, size_t nreq,
		int64_t timeout_ms, cm_cancel *cancel, rm_allocation **out, cm_err *err);
/* Slots that callers of rm_allocate wait for, and that jobs declared they
 * want (rm_declare) beyond those and the ones they hold, less the free
 * default slots of the registered TaskManagers (0 when nobody wants more):
 * what a driver that can start TaskManagers (the Kubernetes one) should
 * start. */
int64_t rm_pending_slots(rm_resourcemanager *rm);
/* The other way round: free slots beyond what is waited for or declared,
 * which a driver may release (0 when none). */
int64_t rm_surplus_slots(rm_resourcemanager *rm);
/* Jobs that declare what they want at most (the adaptive scheduler). */
#define RM_MAX_DECLARED 256
/* Job job_id wants `slots` in all at most (0: nothing, and the declaration
 * is dropped), as Flink's declarative resource management's requirements:
 * the slots its allocations hold and its rm_allocate waits for are part of
 * them, and only the rest counts for rm_pending_slots, so a driver that can
 * start TaskManagers starts each once. A job keeps its declaration across
 * its rm_allocate, rm_release and restarts. Returns 0, or FL_ERANGE when
 * RM_MAX_DECLARED jobs declared already. */
int rm_declare(rm_resourcemanager *rm, const char *job_id, int64_t slots);
/* Why the TaskManagers a driver started do not come (a Kubernetes pod that
 * cannot start, with the kubelet's or scheduler's reason), added to the
 * error of a slot request that times out; NULL or "" clears it. Copied
 * (cut to 399 bytes). */
void rm_set_provider_note(rm_resourcemanager *rm, const char *note);
/* Why the TaskManagers a driver starts can never come (a pod whose image
 * name is invalid, or missing with pull policy Never): while set, a slot
 * request that has to wait fails at once with it (FL_ETIMEDOUT, "Could not
 * acquire the minimum required resources: job J: <why>") instead of at
 * slot.request.timeout. NULL or "" clears it. Copied (cut to 399 bytes). */
void rm_set_provider_failure(rm_resourcemanager *rm, const char *why);
/* Copies the failure rm_set_provider_failure set into buf (cap > 0);
 * false when none is set. */
bool rm_provider_failure(rm_resourcemanager *rm, char *buf, size_t cap);
/* Forgets the registered TaskManager resource_id when no job holds a slot
 * on it (its process is about to be stopped, so nothing may be placed
 * there). Returns 0, FL_ENOENT (not registered) or FL_EINVAL (slots held). */
int rm_release_idle(rm_resourcemanager *rm, const char *resource_id);
/* The TaskManager resource_id is going away (its pod is being deleted or
 * ended, or it cancelled its tasks itself): forgotten at once when it holds
 * no slot (rm_release_idle), else kept for its holders but given no slot
 * more and not counted as free for heartbeat.timeout (by then a dying one
 * is lost), so a job restarting at once does not land on it again.
 * Returns 0 or FL_ENOENT (not registered). */
int rm_drain(rm_resourcemanager *rm, const char *resource_id);

/* Gives the slots back to their TaskManagers' free resources and frees a
 * (NULL: nothing). */
void rm_release(rm_resourcemanager *rm, rm_allocation *a);

/* A slot held on a TaskManager (rm_slots). */
typedef struct rm_slot_view {
	char job_id[33];
	char group[201];
	cm_resource res;
} rm_slot_view;

/*
 * The slots jobs hold on TaskManager resource_id, each job's in its job
 * slot order (malloc'd, *out freed by the caller; *n may be 0). Returns 0,
 * FL_ENOENT (no such TaskManager) or FL_ENOMEM.
 */
int rm_slots(rm_resourcemanager *rm, const char *resource_id, rm_slot_view **out, size_t *n);

/* A registered TaskManager as the REST API shows it. */
typedef struct rm_tm_view {
	char resource_id[128];
	char rpc_address[256];
	char data_address[256];
	int slots, free_slots; /* free: default slots that still fit */
	int64_t cpu_milli, memory_bytes, managed_bytes, network_bytes;
	cm_resource total;	  /* heap_bytes: its task memory; offheap 0 */
	cm_resource free;	  /* total less what its slots hold */
	cm_resource default_slot; /* total / slots */
	int64_t registered_wall_ms, last_heard_wall_ms;
} rm_tm_view;

/* The registered TaskManagers and their slots, total and free (what
 * /overview and /metrics show). */
void rm_totals(rm_resourcemanager *rm, size_t *ntms, int *slots, int *free_slots);
/* TaskManagers forgotten since the start because they fell silent for
 * heartbeat.timeout. */
uint64_t rm_lost_taskmanagers(rm_resourcemanager *rm);
/* The registered TaskManager resource_id. Returns 0 or FL_ENOENT. */
int rm_get(rm_resourcemanager *rm, const char *resource_id, rm_tm_view *out);

/* A snapshot of the registered TaskManagers (malloc'd, *out freed by the
 * caller). Returns 0 or FL_ENOMEM. */
int rm_list(rm_resourcemanager *rm, rm_tm_view **out, size_t *n);

#endif
