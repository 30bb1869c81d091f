/*
 * gateway.h — how a JobMaster and a TaskManager talk (Flink's
 * TaskExecutorGateway and JobMasterGateway): two interfaces, each with an
 * in-process implementation (the TaskManager's and the JobMaster's own,
 * posting to their service loops) and an NNG request/reply one (rpc/nng.h)
 * that carries the same calls between processes. The JobMaster never sees
 * TaskManager internals, nor the other way round: only these calls and the
 * bytes they carry.
 *
 * Every call is asynchronous: it returns at once and `done` is called
 * exactly once later, with 0 or an FL_E* code, a message when it failed,
 * and the call's reply payload (bytes, valid during the call only). done
 * may run on any thread (a service loop, an NNG callback), must not block,
 * and is usually a post to the caller's own loop. A call on a gateway whose
 * peer is gone completes with FL_ECLOSED (or FL_ETIMEDOUT) and a message
 * naming the peer.
 *
 * Payloads (common/buf.h encodings):
 *   slots      reply: str resource id, str data address, uvarint slots
 *   metrics    reply: uvarint n, n x (uvarint node, uvarint in, uvarint out),
 *              uvarint t, t x (uvarint vertex, uvarint bytes in, uvarint bytes
 *              out, uvarint back-pressured ms) of each task
 *   heartbeat  reply: str resource id
 *   others     no reply payload
 */
#ifndef FLINC_RPC_GATEWAY_H
#define FLINC_RPC_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*rpc_done_fn)(void *arg, int rc, const char *msg, const uint8_t *payload,
			    size_t len);

/* ------------------------------------------ JobMaster -> TaskManager */

typedef struct rpc_tm_gateway rpc_tm_gateway;

struct rpc_tm_gateway_ops {
	/* The TaskManager's identity and slots (its registration). */
	void (*slots)(rpc_tm_gateway *g, rpc_done_fn done, void *arg);
	/* Deploys one task from its encoded descriptor (graph/descriptor.h);
	 * its state updates go to the JobMaster reachable at jm_address. */
	void (*submit)(rpc_tm_gateway *g, const uint8_t *tdd, size_t len, const char *jm_address,
		       rpc_done_fn done, void *arg);
	/* Starts every submitted task of the job attempt (phase two). */
	void (*start)(rpc_tm_gateway *g, const char *job_id, uint64_t attempt, rpc_done_fn done,
		      void *arg);
	/* Cancels every task of the job attempt; they report their final
	 * states. */
	void (*cancel)(rpc_tm_gateway *g, const char *job_id, uint64_t attempt, rpc_done_fn done,
		       void *arg);
	/* Frees the job attempt's tasks, once all reported a final state. */
	void (*release)(rpc_tm_gateway *g, const char *job_id, uint64_t attempt, rpc_done_fn done,
			void *arg);
	/* Records in/out per stream node of the job attempt's tasks here. */
	void (*metrics)(rpc_tm_gateway *g, const char *job_id, uint64_t attempt, rpc_done_fn done,
			void *arg);
	/* A heartbeat from the JobMaster at jm_address: the reply says the
	 * TaskManager is alive, the request that the JobMaster is. */
	void (*heartbeat)(rpc_tm_gateway *g, const char *jm_address, rpc_done_fn done, void *arg);
	/* Starts checkpoint (or savepoint: kind, enum cp_kind) id at the
	 * source task (vertex, subtask) of the job attempt: the task snapshots
	 * its operators into dir and sends the barrier downstream (Flink's
	 * triggerCheckpoint); every task acknowledges on its JobMaster gateway.
	 * timestamp: the trigger's wall-clock ms. */
	void (*trigger_checkpoint)(rpc_tm_gateway *g, const char *job_id, uint64_t attempt,
				   int vertex, int subtask, uint64_t id, int64_t timestamp, int kind,
				   const char *dir, rpc_done_fn done, void *arg);
	/* Checkpoint id of the job attempt completed (sinks commit what it
	 * covers) or, aborted, was abandoned (Flink's
	 * notifyCheckpointComplete / notifyCheckpointAborted). */
	void (*notify_checkpoint)(rpc_tm_gateway *g, const char *job_id, uint64_t attempt,
				  uint64_t id, bool aborted, rpc_done_fn done, void *arg);
	/* Frees the gateway (not the TaskManager). Calls still in flight
	 * complete before it returns. */
	void (*free)(rpc_tm_gateway *g);
	/* For how many ms the TaskManager has been unreachable: its
	 * connection dropped (or was never made) and is not back; 0 while
	 * connected. NULL: always reachable (in-process). Thread-safe. */
	int64_t (*unreachable_ms)(rpc_tm_gateway *g);
};


struct rpc_tm_gateway {
	const struct rpc_tm_gateway_ops *ops;
};

/* rpc_tm_unreachable_ms(g): g's unreachable_ms, or 0 without one. */
static inline int64_t rpc_tm_unreachable_ms(rpc_tm_gateway *g)
{
	return g->ops->unreachable_ms ? g->ops->unreachable_ms(g) : 0;
}

/* ------------------------------------------ TaskManager -> JobMaster */

typedef struct rpc_jm_gateway rpc_jm_gateway;

struct rpc_jm_gateway_ops {
	/* A task of the job attempt switched to state (enum tm_task_state);
	 * error: the failure message or NULL. resource_id: the TaskManager. */
	void (*task_state)(rpc_jm_gateway *g, const char *resource_id, const char *job_id,
			   uint64_t attempt, int vertex, int subtask, int state, const char *error,
			   rpc_done_fn done, void *arg);
	/* Task (vertex, subtask) of the job attempt acknowledged checkpoint id
	 * with its operators' states (checkpoint/metadata.h's
	 * cp_states_encode), or, with decline set, declined it for that
	 * reason. */
	void (*ack_checkpoint)(rpc_jm_gateway *g, const char *resource_id, const char *job_id,
			       uint64_t attempt, int vertex, int subtask, uint64_t id,
			       const uint8_t *states, size_t len, const char *decline,
			       rpc_done_fn done, void *arg);
	void (*free)(rpc_jm_gateway *g);
};

struct rpc_jm_gateway {
	const struct rpc_jm_gateway_ops *ops;
};

/* ---------------------------------- TaskManager -> ResourceManager */

/* What a TaskManager announces when it registers (Flink's
 * TaskExecutorRegistration): where it is and what it has. */
typedef struct rpc_tm_registration {
	const char *resource_id;
	const char *rpc_address;  /* "tcp://host:port" of its gateway */
	const char *data_address; /* "host:port" of its data endpoint */
	int slots;		  /* taskmanager.numberOfTaskSlots */
	int64_t cpu_milli;	  /* taskmanager.cpu.cores x 1000 */
	int64_t memory_bytes;	  /* taskmanager.memory.process.size */
	int64_t managed_bytes;	  /* managed memory */
	int64_t network_bytes;	  /* its network buffer pool */
} rpc_tm_registration;

/*
 * Payloads:
 *   register_tm   reply: str ResourceManager session id (new each time the
 *                 JobManager starts: a TaskManager that sees another one
 *                 registers again)
 *   tm_heartbeat  reply: str session id; FL_ENOENT when the TaskManager is
 *                 not registered (it registers again)
 *   blob          reply: uvarint total size, bytes chunk (at most
 *                 RPC_BLOB_CHUNK bytes from offset); FL_ENOENT for an
 *                 unknown hash
 */
#define RPC_BLOB_CHUNK (4u * 1024u * 1024u)

typedef struct rpc_rm_gateway rpc_rm_gateway;

struct rpc_rm_gateway_ops {
	void (*register_tm)(rpc_rm_gateway *g, const rpc_tm_registration *r, rpc_done_fn done,
			    void *arg);
	void (*tm_heartbeat)(rpc_rm_gateway *g, const char *resource_id, rpc_done_fn done,
			     void *arg);
	/* A chunk of the user library with SHA-256 hash (64 hex digits). */
	void (*blob)(rpc_rm_gateway *g, const char *hash, uint64_t offset, rpc_done_fn done,
		     void *arg);
	void (*free)(rpc_rm_gateway *g);
};

struct rpc_rm_gateway {
	const struct rpc_rm_gateway_ops *ops;
};

/* -------------------------------------------- in-process addresses */

/*
 * In one process a JobMaster is reached by the address "local:NAME": it
 * registers its in-process gateway under NAME, and a TaskManager given that
 * address looks it up. rpc_local_open gives a reference the caller frees
 * with rpc_jm_gateway's free; the registered gateway stays until
 * unregistered and every reference is gone. Thread-safe.
 */
int rpc_local_register(const char *name, rpc_jm_gateway *g);
void rpc_local_unregister(const char *name);
/* Returns 0 with *out, FL_ENOENT (no such name) or FL_ENOMEM. */
int rpc_local_open(const char *name, rpc_jm_gateway **out);

/*
 * Opens a JobMaster gateway for an address: "local:NAME" (above) or
 * "tcp://host:port" (NNG request/reply, authenticated with the secret the
 * caller's process was started with: see rpc/nng.h). Returns 0, FL_ENOENT,
 * FL_EINVAL (unknown scheme or a bad address) or FL_ENOMEM, with err naming
 * the address and why.
 */
struct cm_secret;
struct cm_err;
int rpc_jm_gateway_open(const char *address, const struct cm_secret *secret,
			const char *cluster_id, rpc_jm_gateway **out, struct cm_err *err);

#endif
