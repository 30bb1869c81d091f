/*
 * config_keys.c — the keys flinc knows: type, default, valid range and a one
 * line description each, with Flink's names and defaults unless noted.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "config/config_internal.h"

#define KIB INT64_C(1024)
#define MIB (KIB * 1024)
#define TIB (MIB * 1024 * 1024)

#define MS_PER_S INT64_C(1000)
#define MS_PER_MIN (60 * MS_PER_S)
#define MS_PER_H (60 * MS_PER_MIN)
#define MS_PER_D (24 * MS_PER_H)
/* The default longest duration: a year keeps `monotonic now + value` far
 * from overflowing, in milliseconds and in nanoseconds alike. */
#define DURATION_MAX (365 * MS_PER_D)
/* Memory sizes that are numbers stay far below overflow when added up,
 * and far above any TaskManager's memory. */
#define MEMORY_MAX (16 * TIB)
/* The CLI's -p limit, and Flink's largest max parallelism. */
#define PARALLELISM_MAX 32768

static const char *const runtime_modes[] = {"STREAMING", "BATCH", "AUTOMATIC", NULL};
static const char *const ha_types[] = {"NONE", "KUBERNETES", "ZOOKEEPER", NULL};
static const char *const ckp_retentions[] = {
    "NO_EXTERNALIZED_CHECKPOINTS", "DELETE_ON_CANCELLATION", "RETAIN_ON_CANCELLATION", NULL};
static const char *const ckp_modes[] = {"EXACTLY_ONCE", "AT_LEAST_ONCE", NULL};
/* Flink's RecoveryClaimMode without LEGACY (deprecated since Flink 1.19; flinc
 * has never had its semantics). */
static const char *const restore_modes[] = {"NO_CLAIM", "CLAIM", NULL};
static const char *const pull_policies[] = {"IfNotPresent", "Always", "Never", NULL};
static const char *const exposed_types[] = {"ClusterIP", "NodePort", "LoadBalancer",
					    "Headless_ClusterIP", NULL};
static const char *const log_levels[] = {"DEBUG", "INFO", "WARN", "ERROR", NULL};
static const char *const rpc_transports[] = {"DIRECT", "NNG", NULL};
/* Keyed-state backends (runtime/state/backend.h); Flink's "rocksdb" is
 * flinc's "lmdb". */
static const char *const state_backends[] = {"hashmap", "lmdb", NULL};
/* jobmanager.scheduler: Flink's "default" and "adaptive" (streaming jobs). */
static const char *const schedulers[] = {"default", "adaptive", NULL};
/* Flink's names and aliases for restart-strategy.type. */
static const char *const restart_types[] = {"none",		 "off",
					    "disable",		 "fixed-delay",
					    "fixeddelay",	 "exponential-delay",
					    "exponentialdelay", "failure-rate",
					    "failurerate",	 NULL};

#define INT(n, d, lo, hi, ds)                                                                      \
	{                                                                                          \
		.name = n, .type = CFG_T_INT, .def = d, .min = lo, .max = hi, .desc = ds           \
	}
/* An int in lo..hi, or `off` to turn the feature off. */
#define INT_OR_OFF(n, d, lo, hi, o, ds)                                                            \
	{                                                                                          \
		.name = n, .type = CFG_T_INT, .def = d, .min = lo, .max = hi, .has_off = true,     \
		.off = o, .desc = ds                                                               \
	}
#define BOOL(n, d, ds)                                                                             \
	{                                                                                          \
		.name = n, .type = CFG_T_BOOL, .def = d, .desc = ds                                \
	}
#define DURATION(n, d, ds) DURATION_RANGE(n, d, 0, DURATION_MAX, ds)
/* A duration in lo..hi milliseconds. */
#define DURATION_RANGE(n, d, lo, hi, ds)                                                           \
	{                                                                                          \
		.name = n, .type = CFG_T_DURATION, .def = d, .min = lo, .max = hi, .desc = ds      \
	}
/* A memory size in lo..hi bytes; hi = INT64_MAX allows "infinite". */
#define MEMORY(n, d, lo, hi, p2, ds)                                                               \
	{                                                                                          \
		.name = n, .type = CFG_T_MEMORY, .def = d, .min = lo, .max = hi, .pow2 = p2,       \
		.desc = ds                                                                         \
	}
#define FRACTION(n, d, ds)                                                                         \
	{                                                                                          \
		.name = n, .type = CFG_T_FRACTION, .def = d, .desc = ds                            \
	}
/* A decimal number in lo/1000..hi/1000. */
#define DECIMAL(n, d, lo, hi, ds)                                                                  \
	{                                                                                          \
		.name = n, .type = CFG_T_DECIMAL, .def = d, .min = lo, .max = hi, .desc = ds       \
	}
#define STRING(n, d, ds)                                                                           \
	{                                                                                          \
		.name = n, .type = CFG_T_STRING, .def = d, .desc = ds                              \
	}
#define ENUM(n, d, ch, ds)                                                                         \
	{                                                                                          \
		.name = n, .type = CFG_T_ENUM, .def = d, .choices = ch, .desc = ds                 \
	}

static const struct cfg_key keys[] = {
    /* Slots are allocated up front: the range bounds that allocation. */
    INT(CFG_TM_SLOTS, "1", 1, PARALLELISM_MAX,
	"Task slots per TaskManager (parallel subtasks it runs)."),
    INT(CFG_PARALLELISM, "1", 1, PARALLELISM_MAX,
	"Parallelism of operators and jobs that do not set their own."),
    INT(CFG_MAX_PARALLELISM, "128", 1, PARALLELISM_MAX,
	"Maximum parallelism: the number of key groups keyed state is split into."),
    /* Flink also accepts -1 ("flush only when a buffer is full"); flinc does not. */
    DURATION(CFG_BUFFER_TIMEOUT, "100 ms",
	     "Longest time a partly filled network buffer waits before it is flushed."),
    DURATION(CFG_AUTO_WATERMARK_INTERVAL, "200 ms",
	     "Interval of periodic watermarks at sources with a watermark strategy (0: none "
	     "but the final one)."),
    ENUM(CFG_RUNTIME_MODE, "STREAMING", runtime_modes,
	 "Runtime execution mode: STREAMING, BATCH or AUTOMATIC."),
    /* Each TaskManager is threads and a data endpoint in this process. */
    INT(CFG_LOCAL_TMS, "1", 1, 256, "TaskManagers started by a local (mini) cluster."),
    ENUM(CFG_LOCAL_RPC, "DIRECT", rpc_transports,
	 "How the local cluster's JobMaster reaches its TaskManagers: DIRECT calls, or NNG "
	 "request/reply over loopback TCP as separate processes would (flinc only; for tests)."),
    MEMORY(CFG_SEGMENT_SIZE, "32 kb", 4 * KIB, 16 * MIB, true,
	   "Size of one network buffer (memory segment), a power of two."),
    FRACTION(CFG_NET_FRACTION, "0.1",
	     "Fraction of a TaskManager's total memory used for network buffers."),
    MEMORY(CFG_NET_MIN, "64 mb", 0, MEMORY_MAX, false, "Least memory for network buffers."),
    MEMORY(CFG_NET_MAX, "infinite", 0, INT64_MAX, false,
	   "Most memory for network buffers (infinite: no limit)."),
    /* A CREDIT frame carries at most 2^24 (NET_MAX_CREDIT); 65536 buffers
     * of one channel are already 2 GiB at 32 KiB each. */
    INT(CFG_BUFFERS_PER_CHANNEL, "2", 1, 65536,
	"Exclusive network buffers per outgoing/incoming channel (credits)."),
    INT(CFG_FLOATING_BUFFERS, "8", 0, 65536,
	"Floating network buffers per input gate or result partition, shared by its channels."),
    STRING(CFG_JM_RPC_ADDRESS, "localhost", "Address at which the JobManager is reached."),
    INT(CFG_JM_RPC_PORT, "6123", 0, 65535, "Port of the JobManager's RPC endpoint."),
    STRING(CFG_JM_BIND_HOST, "", "Local address the JobManager binds to (empty: all interfaces)."),
    STRING(CFG_REST_ADDRESS, "", "Address of the REST endpoint (empty: all interfaces)."),
    INT(CFG_REST_PORT, "8081", 0, 65535, "Port of the REST endpoint and web UI."),
    /* At least 1 ms: 0 would mean "no timeout" to libcurl. */
    DURATION_RANGE(
	CFG_CLIENT_TIMEOUT, "60 s", 1, MS_PER_D,
	"Timeout of one request of the client to the JobManager's REST API, and how long "
	"an attached client retries a JobManager that stopped answering."),
    STRING(CFG_TM_HOST, "", "Address a TaskManager advertises (empty: detected)."),
    STRING(CFG_TM_BIND_HOST, "",
	   "Local address a TaskManager process binds to (empty: all interfaces; the local "
	   "cluster uses 127.0.0.1)."),
    STRING(CFG_TM_RESOURCE_ID, "",
	   "Id of a TaskManager (empty: generated from its RPC address, port and a random "
	   "suffix)."),
    INT(CFG_TM_RPC_PORT, "0", 0, 65535, "Port of a TaskManager's RPC endpoint (0: any free port)."),
    ENUM(CFG_RESTART_TYPE, "none", restart_types,
	 "How a failed job restarts: none, fixed-delay, exponential-delay or failure-rate."),
    INT(CFG_RESTART_FIXED_ATTEMPTS, "1", 0, INT32_MAX,
	"fixed-delay: restarts before the job fails."),
    DURATION_RANGE(CFG_RESTART_FIXED_DELAY, "1 s", 0, MS_PER_D,
		   "fixed-delay: time between restarts."),
    DURATION_RANGE(CFG_RESTART_EXP_INITIAL, "1 s", 0, MS_PER_D,
		   "exponential-delay: the first delay."),
    DURATION_RANGE(CFG_RESTART_EXP_MAX, "1 min", 0, MS_PER_D,
		   "exponential-delay: the largest delay."),
    DECIMAL(CFG_RESTART_EXP_MULTIPLIER, "1.5", 1000, 1000000,
	    "exponential-delay: each delay is the last one times this."),
    DURATION_RANGE(CFG_RESTART_EXP_RESET, "1 h", 1, MS_PER_D * 365,
		   "exponential-delay: a job running this long without failing starts again from "
		   "the first delay."),
    DECIMAL(CFG_RESTART_EXP_JITTER, "0.1", 0, 1000,
	    "exponential-delay: each delay varies randomly by up to this fraction."),
    INT(CFG_RESTART_EXP_ATTEMPTS, "2147483647", 0, INT32_MAX,
	"exponential-delay: restarts before the job fails (counted since the last reset)."),
    INT(CFG_RESTART_RATE_MAX, "1", 1, INT32_MAX,
	"failure-rate: failures within the interval after which the job fails."),
    DURATION_RANGE(CFG_RESTART_RATE_INTERVAL, "1 min", 1, MS_PER_D,
		   "failure-rate: the interval failures are counted in."),
    DURATION_RANGE(CFG_RESTART_RATE_DELAY, "1 s", 0, MS_PER_D,
		   "failure-rate: time between restarts."),
    STRING(CFG_PROM_PORT, "9249-9260",
	   "Port, or range of ports (the first free one is taken), of a TaskManager's "
	   "Prometheus /metrics endpoint; 0: any free port."),
    DURATION_RANGE(CFG_SLOT_REQUEST_TIMEOUT, "5 min", 1, MS_PER_D,
		   "Time a job waits for the slots it needs before it fails."),
    ENUM(CFG_SCHEDULER, "default", schedulers,
	 "default: a job runs at its parallelism; adaptive: a streaming job's parallelism "
	 "follows the slots it can get, within bounds PUT /jobs/:jobid/resource-requirements "
	 "sets, rescaling from its latest checkpoint."),
    DURATION_RANGE(CFG_ADAPTIVE_WAIT_TIMEOUT, "5 min", 0, MS_PER_D,
		   "adaptive: time a job waits at its start or restart for the slots of its lower "
		   "bounds before it fails."),
    DURATION(CFG_ADAPTIVE_SUBMIT_STABILIZATION, "10 s",
	     "adaptive: at a start or restart with fewer slots than the upper bounds want, "
	     "how long the slots must stay unchanged before the job starts with them."),
    DURATION(CFG_ADAPTIVE_COOLDOWN, "30 s",
	     "adaptive: least time from a start or rescale to the next rescale."),
    DURATION(CFG_ADAPTIVE_EXEC_STABILIZATION, "1 min",
	     "adaptive: how long a parallelism that is better than the running one but short "
	     "of the upper bounds must stay possible before the job rescales to it (one that "
	     "meets the upper bounds rescales once the cooldown is over)."),
    BOOL(CFG_ADAPTIVE_ACTIVE_CHECKPOINT, "true",
	 "adaptive: before a rescale, take a checkpoint and restart from it (nothing to "
	 "replay); false: restart from the latest completed checkpoint at once."),
    DECIMAL(CFG_TM_CPU_CORES, "0", 0, 4096000,
	    "CPU cores a TaskManager announces, fractions too (0: the cores of its machine)."),
    MEMORY(CFG_TM_PROCESS_SIZE, "1728 mb", 0, MEMORY_MAX, false,
	   "Total memory a TaskManager process announces."),
    STRING(CFG_REST_BIND_ADDRESS, "",
	   "Local address the REST endpoint binds to (empty: rest.address, or all interfaces)."),
    MEMORY(CFG_REST_MAX_CONTENT, "100 mb", 1024, 1ll << 31, false,
	   "Largest request body the REST endpoint accepts (a job library upload included)."),
    STRING(CFG_WEB_UPLOAD_DIR, "",
	   "Directory for uploaded job libraries (empty: a new directory under $TMPDIR)."),
    STRING(CFG_WEB_STATIC_DIR, "",
	   "Directory of the web dashboard's files, served at / (flinc only; empty: "
	   "share/flinc/web beside the binaries, else the cache scripts/fetch-web.sh fills)."),
    BOOL(CFG_WEB_SUBMIT, "true", "Whether the web dashboard offers to upload and run jobs."),
    INT(CFG_WEB_RESCALE_HISTORY, "0", 0, 10000,
	"Rescales of an adaptive job kept for /jobs/:jobid/rescales/... and the dashboard's "
	"Rescales tab; 0 keeps none (the endpoints answer 404)."),
    BOOL(CFG_WEB_CANCEL, "true", "Whether the web dashboard offers to cancel jobs."),
    DURATION_RANGE(CFG_WEB_REFRESH, "3 s", 100, MS_PER_H,
		   "How often the web dashboard refreshes what it shows."),
    STRING(CFG_CLUSTER_ID, "default",
	   "Id of the cluster; its JobManager and TaskManagers must agree (and share "
	   "security.internal.token)."),
    BOOL(CFG_SHUTDOWN_ON_APP_FINISH, "true",
	 "An application cluster stops when its main() returned."),
    DURATION_RANGE(CFG_TM_REGISTRATION_TIMEOUT, "5 min", 1, MS_PER_D,
		   "A TaskManager that cannot register with its JobManager for this long exits."),
    INT(CFG_TM_DATA_PORT, "0", 0, 65535,
	"Port of a TaskManager's data (shuffle) endpoint (0: any free port)."),
    INT(CFG_MAX_CONNECTIONS, "1024", 1, 65536,
	"Most inbound data connections a TaskManager accepts, authenticated or not (flinc "
	"only)."),
    DURATION_RANGE(CFG_HANDSHAKE_TIMEOUT, "10 s", 1, MS_PER_H,
		   "Time an inbound data connection has to complete its handshake (flinc only)."),
    DURATION_RANGE(CFG_IDLE_TIMEOUT, "60 s", 1, MS_PER_D,
		   "An inbound data connection that carries no channel for this long is closed "
		   "(flinc only)."),
    DURATION_RANGE(CFG_HEARTBEAT_INTERVAL, "10 s", 1, MS_PER_D,
		   "Time between heartbeat requests from the sender to the receiver."),
    DURATION_RANGE(CFG_HEARTBEAT_TIMEOUT, "50 s", 1, MS_PER_D,
		   "Time without a heartbeat after which the other side is considered lost."),
    INT_OR_OFF(CFG_HEARTBEAT_FAILURES, "2", 1, 1000, -1,
	       "Consecutive failed heartbeat RPCs after which the target is unreachable (-1: "
	       "off)."),
    DURATION_RANGE(CFG_CANCEL_INTERVAL, "30 s", 1, MS_PER_D,
		   "Time between two attempts to cancel a task (interrupting its thread)."),
    DURATION_RANGE(CFG_CANCEL_TIMEOUT, "180 s", 0, MS_PER_D,
		   "Time after which a task stuck in cancelling is a fatal TaskManager error (0: "
		   "no watchdog)."),
    STRING(CFG_TOKEN, "",
	   "Shared secret that authenticates data and control connections between flinc "
	   "processes (flinc only; never printed)."),
    STRING(CFG_TOKEN_FILE, "", "File whose content is security.internal.token (flinc only)."),
    /* Flink has no default (unset = off); flinc spells "off" as 0. */
    DURATION(CFG_CKP_INTERVAL, "0", "Interval between checkpoints (0: checkpointing disabled)."),
    STRING(CFG_CKP_DIR, "", "Directory (URI) where checkpoints are written."),
    STRING(CFG_SP_DIR, "", "Default directory (URI) for savepoints."),
    STRING(CFG_CKP_DIR_NEW, "",
	   "Directory (file:// URI or path) where checkpoints are written (Flink 2's name of "
	   "state.checkpoints.dir, which it takes precedence over)."),
    STRING(CFG_SP_DIR_NEW, "",
	   "Default directory for savepoints (Flink 2's name of state.savepoints.dir)."),
    DURATION_RANGE(CFG_CKP_TIMEOUT, "10 min", 1, DURATION_MAX,
		   "Time after which a checkpoint in progress is aborted."),
    DURATION(CFG_CKP_MIN_PAUSE, "0",
	     "Least time between the end of a checkpoint and the "
	     "start of the next."),
    INT(CFG_CKP_MAX_CONCURRENT, "1", 1, 1,
	"Checkpoints in progress at once (flinc supports 1, Flink's default)."),
    INT(CFG_CKP_TOLERABLE, "0", 0, INT32_MAX,
	"Consecutive checkpoint failures the job tolerates before it fails."),
    INT(CFG_CKP_NUM_RETAINED, "1", 1, 100, "Completed checkpoints kept."),
    INT(CFG_CKP_NUM_RETAINED_OLD, "1", 1, 100,
	"Completed checkpoints kept (the deprecated name of "
	"execution.checkpointing.num-retained)."),
    BOOL(CFG_CKP_AFTER_FINISH, "true",
	 "Whether checkpoints go on once some tasks finished (their state recorded as "
	 "finished; a task with an exactly-once sink waits for a checkpoint after its end of "
	 "input to commit before it finishes)."),
    BOOL(CFG_CKP_AFTER_FINISH_OLD, "true",
	 "The deprecated name of execution.checkpointing.checkpoints-after-tasks-finish."),
    ENUM(CFG_CKP_RETENTION, "NO_EXTERNALIZED_CHECKPOINTS", ckp_retentions,
	 "What happens to completed checkpoints when the job ends: "
	 "NO_EXTERNALIZED_CHECKPOINTS (removed), DELETE_ON_CANCELLATION or "
	 "RETAIN_ON_CANCELLATION."),
    ENUM(CFG_CKP_MODE, "EXACTLY_ONCE", ckp_modes,
	 "Checkpointing guarantee: EXACTLY_ONCE (aligned barriers) or AT_LEAST_ONCE."),
    BOOL(CFG_CKP_INCREMENTAL, "false",
	 "Whether checkpoints write only what changed since the last one."),
    STRING(CFG_SAVEPOINT_PATH, "", "Savepoint or checkpoint to start the job from."),
    BOOL(CFG_SAVEPOINT_IGNORE_UNCLAIMED, "false",
	 "Whether a restore may skip state of operators the job no longer has "
	 "(--allowNonRestoredState)."),
    ENUM(CFG_SAVEPOINT_RESTORE_MODE, "NO_CLAIM", restore_modes,
	 "Who owns the files of the savepoint or checkpoint a job starts from: NO_CLAIM (the "
	 "user: the job never deletes them) or CLAIM (the job, which deletes it once newer "
	 "checkpoints subsume it) (--restoreMode)."),
    ENUM(CFG_STATE_BACKEND, "hashmap", state_backends,
	 "Keyed-state backend: hashmap (on the heap) or lmdb (LMDB files behind a write cache)."),
    STRING(CFG_STATE_LOCAL_DIRS, "",
	   "Directories, comma-separated, for task-local state files such as each task's LMDB "
	   "environment (empty: the system temp dir)."),
    BOOL(CFG_OVERWRITE_FILES, "false",
	 "Whether file sinks overwrite existing output files by default."),
    MEMORY(CFG_MANAGED_SIZE, "128 mb", 0, MEMORY_MAX, false,
	   "Managed memory of a TaskManager (state backends, batch operators)."),
    FRACTION(CFG_MANAGED_FRACTION, "0.4",
	     "Managed memory as a fraction of taskmanager.memory.process.size, used only when "
	     "this key is set and taskmanager.memory.managed.size is not."),
    ENUM(CFG_HA_TYPE, "NONE", ha_types, "High-availability mode: NONE, KUBERNETES or ZOOKEEPER."),
    STRING(CFG_HA_STORAGE_DIR, "",
	   "Directory (a local path or file://, on a volume every JobManager pod mounts) where "
	   "the JobManager keeps what high availability recovers: the submitted job graphs."),
    DURATION_RANGE(CFG_HA_LEASE_DURATION, "15 s", 1000, MS_PER_D,
		   "How long a JobManager's leadership lease lasts unrenewed before a standby or "
		   "its replacement may take it."),
    DURATION_RANGE(CFG_HA_RENEW_DEADLINE, "10 s", 500, MS_PER_D,
		   "A leader that could not renew its lease for this long gives up leadership "
		   "(below the lease duration)."),
    DURATION_RANGE(CFG_HA_RETRY_PERIOD, "5 s", 100, MS_PER_D,
		   "How often a leader renews its lease and a candidate tries to take it."),
    STRING(CFG_K8S_HOSTPATH_VOLUME, "",
	   "HOST_DIR:MOUNT_PATH: a directory of the node mounted in every JobManager and "
	   "TaskManager pod (checkpoints, high-availability.storageDir, file sinks)."),
    STRING(CFG_K8S_CLUSTER_ID, "",
	   "Name of a cluster on Kubernetes: its JobManager Deployment, Services, ConfigMap and "
	   "TaskManager pods are named after it (a DNS-1035 label of at most 45 characters)."),
    STRING(CFG_K8S_NAMESPACE, "default", "Namespace of a cluster on Kubernetes."),
    STRING(CFG_K8S_IMAGE, "", "Image of the JobManager and TaskManager containers."),
    ENUM(CFG_K8S_PULL_POLICY, "IfNotPresent", pull_policies,
	 "Image pull policy: IfNotPresent, Always or Never."),
    STRING(CFG_K8S_SERVICE_ACCOUNT, "default",
	   "Service account of the JobManager and TaskManager pods; the JobManager's must be "
	   "allowed to create, watch and delete pods and to delete its Deployment."),
    DECIMAL(CFG_K8S_JM_CPU, "1.0", 1, 4096000, "CPU of the JobManager container."),
    DECIMAL(CFG_K8S_TM_CPU, "0", 0, 4096000,
	    "CPU of a TaskManager container (0: taskmanager.numberOfTaskSlots)."),
    ENUM(CFG_K8S_REST_EXPOSED, "ClusterIP", exposed_types,
	 "How the <cluster-id>-rest Service is exposed: ClusterIP, NodePort, LoadBalancer or "
	 "Headless_ClusterIP."),
    STRING(CFG_K8S_CONTEXT, "", "kubeconfig context the client uses (empty: the current one)."),
    STRING(CFG_K8S_JM_LABELS, "", "Labels of the JobManager pod, as k1:v1,k2:v2."),
    STRING(CFG_K8S_TM_LABELS, "", "Labels of the TaskManager pods, as k1:v1,k2:v2."),
    STRING(CFG_K8S_JM_ANNOTATIONS, "", "Annotations of the JobManager pod, as k1:v1,k2:v2."),
    STRING(CFG_K8S_TM_ANNOTATIONS, "", "Annotations of the TaskManager pods, as k1:v1,k2:v2."),
    STRING(CFG_K8S_JM_NODE_SELECTOR, "", "Node selector of the JobManager pod, as k1:v1,k2:v2."),
    STRING(CFG_K8S_TM_NODE_SELECTOR, "",
	   "Node selector of the TaskManager pods, as k1:v1,k2:v2."),
    STRING(CFG_K8S_JM_TOLERATIONS, "",
	   "Tolerations of the JobManager pod, as key:k,operator:Equal,value:v,effect:NoSchedule;..."),
    STRING(CFG_K8S_TM_TOLERATIONS, "",
	   "Tolerations of the TaskManager pods, as "
	   "key:k,operator:Equal,value:v,effect:NoSchedule;..."),
    STRING(CFG_K8S_POD_TEMPLATE, "",
	   "Pod template file (YAML) of the JobManager and TaskManager pods, unless one of their "
	   "own is set."),
    STRING(CFG_K8S_POD_TEMPLATE_OLD, "",
	   "Flink's deprecated name of kubernetes.pod-template-file.default, read when that is "
	   "not set."),
    STRING(CFG_K8S_JM_POD_TEMPLATE, "", "Pod template file (YAML) of the JobManager pod."),
    STRING(CFG_K8S_TM_POD_TEMPLATE, "", "Pod template file (YAML) of the TaskManager pods."),
    MEMORY(CFG_JM_PROCESS_SIZE, "1600 mb", 32 * MIB, MEMORY_MAX, false,
	   "Total memory of the JobManager process (its container's memory on Kubernetes)."),
    DURATION_RANGE(CFG_RM_TM_TIMEOUT, "30 s", 0, MS_PER_D,
		   "An idle TaskManager pod is released after this long (Kubernetes only)."),
    ENUM(CFG_LOG_LEVEL, "INFO", log_levels,
	 "Lowest level logged: DEBUG, INFO, WARN or ERROR (flinc only)."),
    STRING(CFG_LOG_FILE, "",
	   "Path of the client's log file (empty: a default under the system temp dir)."),
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

size_t cfg_key_count(void)
{
	return NKEYS;
}

const struct cfg_key *cfg_key_at(size_t i)
{
	return i < NKEYS ? &keys[i] : NULL;
}

const struct cfg_key *cfg_key_find(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	}
	return NULL;
}

bool cfg_key_ignored(const char *name)
{
	return strncmp(name, "env.java", 8) == 0 || strncmp(name, "kubernetes.", 11) == 0;
}

/* Levenshtein distance, two rows; both strings are at most CFG_KEY_MAX. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strnlen(a, CFG_KEY_MAX), lb = strnlen(b, CFG_KEY_MAX);
	size_t row0[CFG_KEY_MAX + 1], row1[CFG_KEY_MAX + 1];
	size_t *prev = row0, *cur = row1;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			size_t m = sub < del ? sub : del;
			cur[j] = m < ins ? m : ins;
		}
		size_t *t = prev;
		prev = cur;
		cur = t;
	}
	return prev[lb];
}

const char *cfg_key_nearest(const char *name)
{
	size_t len = strnlen(name, CFG_KEY_MAX);
	size_t limit = len / 4 > 2 ? len / 4 : 2;
	const char *best = NULL;
	size_t best_d = SIZE_MAX;
	for (size_t i = 0; i < NKEYS; i++) {
		/* The length difference is a lower bound of the distance: a long
		 * key (up to CFG_KEY_MAX) is then never compared in full. */
		size_t klen = strlen(keys[i].name);
		if ((len > klen ? len - klen : klen - len) > limit)
			continue;
		size_t d = edit_distance(name, keys[i].name);
		if (d < best_d) {
			best_d = d;
			best = keys[i].name;
		}
	}
	return best_d <= limit ? best : NULL;
}

const char *cfg_key_typo_of(const char *key, size_t max_distance)
{
	if (!key || cfg_key_find(key) || cfg_key_ignored(key))
		return NULL;
	size_t len = strnlen(key, CFG_KEY_MAX + 1);
	if (len > CFG_KEY_MAX)
		return NULL;
	const char *best = NULL;
	size_t best_d = SIZE_MAX;
	for (size_t i = 0; i < NKEYS; i++) {
		size_t klen = strlen(keys[i].name);
		if ((len > klen ? len - klen : klen - len) > max_distance)
			continue;
		size_t d = edit_distance(key, keys[i].name);
		if (d < best_d) {
			best_d = d;
			best = keys[i].name;
		}
	}
	return best_d <= max_distance ? best : NULL;
}

void cfg_key_warn_unknown(const char *name)
{
	/* The nearest-key search is the costly part: skip it when the
	 * warning would not be printed anyway. */
	if (cm_log_get_level() > CM_LOG_WARN || cfg_key_find(name) || cfg_key_ignored(name))
		return;
	const char *near = cfg_key_nearest(name);
	if (near)
		CM_WARN("config", "Unknown configuration key '%s' (did you mean '%s'?)", name,
			near);
	else
		CM_WARN("config", "Unknown configuration key '%s'", name);
}

const char *cfg_key_enum_canonical(const struct cfg_key *k, const char *value)
{
	if (k->type != CFG_T_ENUM)
		return NULL;
	for (const char *const *ch = k->choices; *ch; ch++) {
		if (strcasecmp(*ch, value) == 0)
			return *ch;
	}
	return NULL;
}

/* Writes a byte count in the largest unit that divides it ("16mb"), or
 * "infinite" for the largest. */
static void fmt_bytes(char *buf, size_t cap, int64_t v)
{
	static const char *const units[] = {"b", "kb", "mb", "gb", "tb"};
	if (v == INT64_MAX) {
		snprintf(buf, cap, "infinite");
		return;
	}
	size_t u = 0;
	while (u < 4 && v != 0 && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	snprintf(buf, cap, "%lld%s", (long long)v, units[u]);
}

/* Writes milliseconds in the largest unit that divides them ("365 d"). */
static void fmt_ms(char *buf, size_t cap, int64_t v)
{
	static const struct {
		int64_t ms;
		const char *unit;
	} units[] = {{MS_PER_D, "d"}, {MS_PER_H, "h"}, {MS_PER_MIN, "min"}, {MS_PER_S, "s"}};
	for (size_t i = 0; v != 0 && i < sizeof(units) / sizeof(units[0]); i++) {
		if (v % units[i].ms == 0) {
			snprintf(buf, cap, "%lld %s", (long long)(v / units[i].ms), units[i].unit);
			return;
		}
	}
	snprintf(buf, cap, "%lld ms", (long long)v);
}

int cfg_key_validate(const struct cfg_key *k, const char *value, char *expect, size_t cap)
{
	int64_t v = 0;
	double d = 0;
	bool b;
	char lo[32], hi[32];
	const char *what = "", *example = NULL;
	int rc = 0;

	switch (k->type) {
	case CFG_T_STRING:
		return 0;
	case CFG_T_BOOL:
		if (cfg_parse_bool(value, &b) == 0)
			return 0;
		snprintf(expect, cap, "true or false");
		return FL_EINVAL;
	case CFG_T_ENUM:
		if (cfg_key_enum_canonical(k, value))
			return 0;
		size_t n = (size_t)snprintf(expect, cap, "one of");
		for (const char *const *ch = k->choices; *ch && n < cap; ch++)
			n += (size_t)snprintf(expect + n, cap - n, "%s %s",
					      ch == k->choices ? "" : ",", *ch);
		return FL_EINVAL;
	case CFG_T_FRACTION:
		/* NaN, infinities and signs do not parse. */
		rc = cfg_parse_decimal(value, &d);
		snprintf(expect, cap, "a fraction between 0 and 1%s", rc ? " (e.g. 0.1)" : "");
		return rc == 0 && d <= 1.0 ? 0 : FL_EINVAL;
	case CFG_T_DECIMAL:
		rc = cfg_parse_decimal(value, &d);
		snprintf(expect, cap, "a number between %g and %g", (double)k->min / 1000,
			 (double)k->max / 1000);
		return rc == 0 && d * 1000 >= (double)k->min && d * 1000 <= (double)k->max
			       ? 0
			       : FL_EINVAL;
	case CFG_T_INT:
		rc = cfg_parse_int(value, &v);
		what = "an integer";
		snprintf(lo, sizeof(lo), "%lld", (long long)k->min);
		snprintf(hi, sizeof(hi), "%lld", (long long)k->max);
		break;
	case CFG_T_DURATION:
		rc = cfg_parse_duration_ms(value, &v);
		what = "a duration";
		example = "e.g. 100 ms, 10 s, 2 min";
		fmt_ms(lo, sizeof(lo), k->min);
		fmt_ms(hi, sizeof(hi), k->max);
		break;
	case CFG_T_MEMORY:
		rc = cfg_parse_memory_bytes(value, &v);
		what = k->pow2 ? "a power-of-two memory size" : "a memory size";
		example = k->pow2 ? NULL : "e.g. 64 mb, 1 gb";
		fmt_bytes(lo, sizeof(lo), k->min);
		fmt_bytes(hi, sizeof(hi), k->max);
		if (rc == 0 && k->pow2 && (v & (v - 1)) != 0)
			rc = FL_EINVAL;
		break;
	}
	size_t n = (size_t)snprintf(expect, cap, "%s between %s and %s", what, lo, hi);
	if (k->has_off && n < cap)
		n += (size_t)snprintf(expect + n, cap - n, ", or %lld to turn it off",
				      (long long)k->off);
	/* Examples of the syntax only when the value does not parse. */
	if (rc != 0 && example && n < cap)
		snprintf(expect + n, cap - n, " (%s)", example);
	if (rc == 0 && (v < k->min || v > k->max) && !(k->has_off && v == k->off))
		rc = FL_EINVAL;
	return rc;
}

/* Flink's GlobalConfiguration.SENSITIVE_KEYS: a key whose name contains one
 * of these (in any case) has a secret value. */
static const char *const sensitive[] = {
    "password",	   "secret", "fs.azure.account.key", "apikey",	    "api-key",	    "auth-params",
    "service-key", "token",  "basic-auth",	     "jaas.config", "http-headers",
};

bool cfg_is_sensitive(const char *key)
{
	if (!key)
		return false;
	for (size_t i = 0; i < sizeof(sensitive) / sizeof(sensitive[0]); i++) {
		if (strcasestr(key, sensitive[i]))
			return true;
	}
	return false;
}
