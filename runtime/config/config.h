/*
 * config.h — flinc's configuration: Flink's key names, one YAML file, and
 * -D key=value overrides.
 *
 * The YAML file may use flat keys (`taskmanager.numberOfTaskSlots: 4`) or
 * nested maps (`taskmanager: {numberOfTaskSlots: 4}`) or both; nested keys are
 * joined with '.'. Every known key has a type and a default (the table in
 * config.c, printed by cfg_describe). Values are validated when set: a bad
 * value is an error naming the key, the value and, for files, the line and
 * column. An unknown key is accepted with a warning that names it and, when
 * one is close (edit distance), the nearest known key, as Flink does.
 *
 * Value syntaxes (as Flink's):
 *   int       decimal integer, range-checked per key
 *   bool      true/false (any case)
 *   duration  "100 ms", "100ms", "1 s", "2 min", "1 h", "1 d"; a bare number is ms;
 *             every duration key has a finite maximum (365 d unless tighter)
 *   memory    "32kb", "32 kb", "64m", "1 gb", bytes if no unit (k/kb/kib = 1024);
 *             "infinite" (any case) is INT64_MAX, valid where a key allows it
 *   fraction  a decimal number in [0, 1]: "0.1", ".1", "1", "0"
 *   string    anything
 *   enum      one of a fixed list, case-insensitive
 *
 * Values of sensitive keys (names containing "password", "secret", "token",
 * ... as Flink's GlobalConfiguration.isSensitive) are never printed: messages
 * and cfg_each show CFG_HIDDEN instead.
 *
 * Not thread-safe for writes; concurrent reads of a fully built cfg are fine.
 */
#ifndef FLINC_CONFIG_CONFIG_H
#define FLINC_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Known keys, spelled once. */
#define CFG_TM_SLOTS "taskmanager.numberOfTaskSlots"
#define CFG_PARALLELISM "parallelism.default"
#define CFG_MAX_PARALLELISM "pipeline.max-parallelism"
#define CFG_BUFFER_TIMEOUT "execution.buffer-timeout"
#define CFG_AUTO_WATERMARK_INTERVAL "pipeline.auto-watermark-interval"
#define CFG_RUNTIME_MODE "execution.runtime-mode"
#define CFG_LOCAL_TMS "local.number-taskmanager"
#define CFG_SEGMENT_SIZE "taskmanager.memory.segment-size"
#define CFG_BUFFERS_PER_CHANNEL "taskmanager.network.memory.buffers-per-channel"
#define CFG_JM_RPC_ADDRESS "jobmanager.rpc.address"
#define CFG_JM_RPC_PORT "jobmanager.rpc.port"
#define CFG_REST_ADDRESS "rest.address"
#define CFG_REST_PORT "rest.port"
#define CFG_CLIENT_TIMEOUT "client.timeout"
#define CFG_TM_HOST "taskmanager.host"
#define CFG_TM_DATA_PORT "taskmanager.data.port"
#define CFG_CKP_INTERVAL "execution.checkpointing.interval"
#define CFG_CKP_DIR "state.checkpoints.dir"
#define CFG_SP_DIR "state.savepoints.dir"
/* Flink 2's names of the two above (the old ones are its deprecated keys). */
#define CFG_CKP_DIR_NEW "execution.checkpointing.dir"
#define CFG_SP_DIR_NEW "execution.checkpointing.savepoint-dir"
#define CFG_CKP_TIMEOUT "execution.checkpointing.timeout"
#define CFG_CKP_MIN_PAUSE "execution.checkpointing.min-pause"
#define CFG_CKP_MAX_CONCURRENT "execution.checkpointing.max-concurrent-checkpoints"
#define CFG_CKP_TOLERABLE "execution.checkpointing.tolerable-failed-checkpoints"
#define CFG_CKP_NUM_RETAINED "execution.checkpointing.num-retained"
#define CFG_CKP_NUM_RETAINED_OLD "state.checkpoints.num-retained"
#define CFG_CKP_AFTER_FINISH "execution.checkpointing.checkpoints-after-tasks-finish"
#define CFG_CKP_AFTER_FINISH_OLD "execution.checkpointing.checkpoints-after-tasks-finish.enabled"
#define CFG_CKP_RETENTION "execution.checkpointing.externalized-checkpoint-retention"
#define CFG_CKP_MODE "execution.checkpointing.mode"
#define CFG_CKP_INCREMENTAL "execution.checkpointing.incremental"
#define CFG_SAVEPOINT_PATH "execution.savepoint.path"
#define CFG_SAVEPOINT_IGNORE_UNCLAIMED "execution.savepoint.ignore-unclaimed-state"
#define CFG_SAVEPOINT_RESTORE_MODE "execution.savepoint-restore-mode"
#define CFG_STATE_BACKEND "state.backend.type"
#define CFG_STATE_LOCAL_DIRS "taskmanager.state.local.root-dirs"
#define CFG_MANAGED_SIZE "taskmanager.memory.managed.size"
#define CFG_MANAGED_FRACTION "taskmanager.memory.managed.fraction"
#define CFG_HA_TYPE "high-availability.type"
/* JobManager high availability on Kubernetes (jobmanager/ha.h). */
#define CFG_HA_STORAGE_DIR "high-availability.storageDir"
#define CFG_HA_LEASE_DURATION "high-availability.kubernetes.leader-election.lease-duration"
#define CFG_HA_RENEW_DEADLINE "high-availability.kubernetes.leader-election.renew-deadline"
#define CFG_HA_RETRY_PERIOD "high-availability.kubernetes.leader-election.retry-period"
/* One hostPath volume in every pod of a cluster on Kubernetes: HOST:MOUNT. */
#define CFG_K8S_HOSTPATH_VOLUME "kubernetes.volume.host-path"
#define CFG_LOG_LEVEL "log.level"
#define CFG_NET_FRACTION "taskmanager.memory.network.fraction"
#define CFG_NET_MIN "taskmanager.memory.network.min"
#define CFG_NET_MAX "taskmanager.memory.network.max"
#define CFG_FLOATING_BUFFERS "taskmanager.network.memory.floating-buffers-per-gate"
#define CFG_CANCEL_INTERVAL "task.cancellation.interval"
#define CFG_CANCEL_TIMEOUT "task.cancellation.timeout"
#define CFG_HEARTBEAT_INTERVAL "heartbeat.interval"
#define CFG_HEARTBEAT_TIMEOUT "heartbeat.timeout"
#define CFG_HEARTBEAT_FAILURES "heartbeat.rpc-failure-threshold"
#define CFG_TM_BIND_HOST "taskmanager.bind-host"
#define CFG_JM_BIND_HOST "jobmanager.bind-host"
#define CFG_TM_RESOURCE_ID "taskmanager.resource-id"
#define CFG_TM_RPC_PORT "taskmanager.rpc.port"
#define CFG_TOKEN "security.internal.token"
#define CFG_TOKEN_FILE "security.internal.token-file"
#define CFG_LOG_FILE "log.file"
#define CFG_OVERWRITE_FILES "fs.overwrite-files"
#define CFG_MAX_CONNECTIONS "taskmanager.network.connections.max"
#define CFG_HANDSHAKE_TIMEOUT "taskmanager.network.handshake-timeout"
#define CFG_IDLE_TIMEOUT "taskmanager.network.connections.idle-timeout"
#define CFG_LOCAL_RPC "local.rpc-transport"
#define CFG_SLOT_REQUEST_TIMEOUT "slot.request.timeout"
/* The adaptive scheduler (Flink 2's names). */
#define CFG_SCHEDULER "jobmanager.scheduler"
#define CFG_ADAPTIVE_WAIT_TIMEOUT "jobmanager.adaptive-scheduler.submission.resource-wait-timeout"
#define CFG_ADAPTIVE_SUBMIT_STABILIZATION                                                          \
	"jobmanager.adaptive-scheduler.submission.resource-stabilization-timeout"
#define CFG_ADAPTIVE_COOLDOWN "jobmanager.adaptive-scheduler.executing.cooldown-after-rescaling"
#define CFG_ADAPTIVE_EXEC_STABILIZATION                                                            \
	"jobmanager.adaptive-scheduler.executing.resource-stabilization-timeout"
#define CFG_ADAPTIVE_ACTIVE_CHECKPOINT                                                             \
	"jobmanager.adaptive-scheduler.rescale-trigger.active-checkpoint.enabled"
#define CFG_PROM_PORT "metrics.reporter.prom.port"
#define CFG_RESTART_TYPE "restart-strategy.type"
#define CFG_RESTART_FIXED_ATTEMPTS "restart-strategy.fixed-delay.attempts"
#define CFG_RESTART_FIXED_DELAY "restart-strategy.fixed-delay.delay"
#define CFG_RESTART_EXP_INITIAL "restart-strategy.exponential-delay.initial-backoff"
#define CFG_RESTART_EXP_MAX "restart-strategy.exponential-delay.max-backoff"
#define CFG_RESTART_EXP_MULTIPLIER "restart-strategy.exponential-delay.backoff-multiplier"
#define CFG_RESTART_EXP_RESET "restart-strategy.exponential-delay.reset-backoff-threshold"
#define CFG_RESTART_EXP_JITTER "restart-strategy.exponential-delay.jitter-factor"
#define CFG_RESTART_EXP_ATTEMPTS "restart-strategy.exponential-delay.attempts-before-reset-backoff"
#define CFG_RESTART_RATE_MAX "restart-strategy.failure-rate.max-failures-per-interval"
#define CFG_RESTART_RATE_INTERVAL "restart-strategy.failure-rate.failure-rate-interval"
#define CFG_RESTART_RATE_DELAY "restart-strategy.failure-rate.delay"
#define CFG_TM_CPU_CORES "taskmanager.cpu.cores"
#define CFG_TM_PROCESS_SIZE "taskmanager.memory.process.size"
#define CFG_REST_BIND_ADDRESS "rest.bind-address"
#define CFG_REST_MAX_CONTENT "rest.server.max-content-length"
#define CFG_WEB_UPLOAD_DIR "web.upload.dir"
#define CFG_WEB_STATIC_DIR "web.static-dir"
#define CFG_WEB_SUBMIT "web.submit.enable"
#define CFG_WEB_CANCEL "web.cancel.enable"
#define CFG_WEB_REFRESH "web.refresh-interval"
#define CFG_WEB_RESCALE_HISTORY "web.adaptive-scheduler.rescale-history.size"
#define CFG_CLUSTER_ID "high-availability.cluster-id"
#define CFG_SHUTDOWN_ON_APP_FINISH "execution.shutdown-on-application-finish"
#define CFG_TM_REGISTRATION_TIMEOUT "taskmanager.registration.timeout"
/* Native Kubernetes (Flink's kubernetes.* keys; runtime/k8s/cluster.h). */
#define CFG_K8S_CLUSTER_ID "kubernetes.cluster-id"
#define CFG_K8S_NAMESPACE "kubernetes.namespace"
#define CFG_K8S_IMAGE "kubernetes.container.image"
#define CFG_K8S_PULL_POLICY "kubernetes.container.image.pull-policy"
#define CFG_K8S_SERVICE_ACCOUNT "kubernetes.service-account"
#define CFG_K8S_JM_CPU "kubernetes.jobmanager.cpu"
#define CFG_K8S_TM_CPU "kubernetes.taskmanager.cpu"
#define CFG_K8S_REST_EXPOSED "kubernetes.rest-service.exposed.type"
#define CFG_K8S_CONTEXT "kubernetes.context"
#define CFG_K8S_JM_LABELS "kubernetes.jobmanager.labels"
#define CFG_K8S_TM_LABELS "kubernetes.taskmanager.labels"
#define CFG_K8S_JM_ANNOTATIONS "kubernetes.jobmanager.annotations"
#define CFG_K8S_TM_ANNOTATIONS "kubernetes.taskmanager.annotations"
#define CFG_K8S_JM_NODE_SELECTOR "kubernetes.jobmanager.node-selector"
#define CFG_K8S_TM_NODE_SELECTOR "kubernetes.taskmanager.node-selector"
#define CFG_K8S_JM_TOLERATIONS "kubernetes.jobmanager.tolerations"
#define CFG_K8S_TM_TOLERATIONS "kubernetes.taskmanager.tolerations"
#define CFG_K8S_POD_TEMPLATE "kubernetes.pod-template-file.default"
/* Flink's older name of .default, still read. */
#define CFG_K8S_POD_TEMPLATE_OLD "kubernetes.pod-template-file"
#define CFG_K8S_JM_POD_TEMPLATE "kubernetes.pod-template-file.jobmanager"
#define CFG_K8S_TM_POD_TEMPLATE "kubernetes.pod-template-file.taskmanager"
#define CFG_JM_PROCESS_SIZE "jobmanager.memory.process.size"
#define CFG_RM_TM_TIMEOUT "resourcemanager.taskmanager-timeout"

/* What is printed in place of a sensitive value (Flink's HIDDEN_CONTENT). */
#define CFG_HIDDEN "******"

typedef struct cfg cfg;

/* Creates an empty configuration (every key at its default). *out is owned
 * by the caller. Returns 0 or FL_ENOMEM. */
int cfg_new(cfg **out);
void cfg_free(cfg *c);
/* Deep copy. Returns 0 or FL_ENOMEM. */
int cfg_clone(const cfg *c, cfg **out);

/*
 * Loads a YAML file on top of c. Errors: FL_ENOENT (file missing), FL_EIO,
 * FL_EPROTO (malformed YAML, with "path:line:column: ..." in err; a document
 * that is not a map; a sequence value; maps or sequences nested more than 64
 * levels deep, refused before libyaml reads further; a key given twice in the
 * file, flat or nested, or twice in one map, naming both positions),
 * FL_EINVAL (a bad value, naming key, file and line). Files over 1 MiB or
 * with more than 10000 keys are refused (FL_ERANGE). On error c is unchanged.
 * Keys set before the call (an earlier file, cfg_set) are overridden, not
 * duplicates.
 */
int cfg_load_file(cfg *c, const char *path, cm_err *err);

/*
 * The default configuration file, $FLINC_CONF_DIR/flinc.yaml, for every
 * program without -c FILE (the CLI, the processes, a job run directly).
 * The directory must exist, as Flink refuses a conf dir that does not: a
 * typo must not silently run with defaults; a directory without flinc.yaml
 * is fine. Returns 0 with *found telling whether path (cap bytes) holds a
 * file to load, or an error with err naming the directory.
 */
int cfg_default_file(char *path, size_t cap, bool *found, cm_err *err);

/* Loads YAML text (same rules; `origin` names it in messages). */
int cfg_load_string(cfg *c, const char *yaml, size_t len, const char *origin, cm_err *err);

/* Sets key to value after validating it. FL_EINVAL names key and value. */
int cfg_set(cfg *c, const char *key, const char *value, cm_err *err);

/* Parses "key=value" (a -D argument) and sets it. FL_EINVAL if no '='. */
int cfg_set_dynamic(cfg *c, const char *assignment, cm_err *err);

/* Raw value of key, or NULL if never set. */
const char *cfg_get_raw(const cfg *c, const char *key);
bool cfg_is_set(const cfg *c, const char *key);

/*
 * Typed getters: the set value or the key's default. They return FL_ENOENT for
 * a key with neither (unknown key never set), FL_ETYPE if the key is known
 * with another type. Values were validated when set, so parsing cannot fail.
 */
int cfg_get_int(const cfg *c, const char *key, int64_t *out);
int cfg_get_bool(const cfg *c, const char *key, bool *out);
int cfg_get_duration_ms(const cfg *c, const char *key, int64_t *out);
int cfg_get_memory_bytes(const cfg *c, const char *key, int64_t *out);
/* Fraction keys (a number in [0, 1]); for an unknown key, any non-negative
 * decimal number. */
int cfg_get_double(const cfg *c, const char *key, double *out);
/* String and enum keys; the enum value is normalised to its canonical spelling
 * (e.g. "batch" -> "BATCH"). The pointer is valid until c changes. */
int cfg_get_string(const cfg *c, const char *key, const char **out);

/* Calls fn for every set key in sorted order (for logging the effective
 * configuration). The value of a sensitive key is passed as CFG_HIDDEN;
 * code that must copy it reads it with cfg_get_raw. */
void cfg_each(const cfg *c, void (*fn)(void *arg, const char *key, const char *value), void *arg);

/* True if key's value is secret: its name contains, in any case, one of
 * Flink's sensitive words ("password", "secret", "token", "apikey",
 * "api-key", "auth-params", "service-key", "basic-auth", "jaas.config",
 * "http-headers", "fs.azure.account.key"). Print CFG_HIDDEN instead. */
bool cfg_is_sensitive(const char *key);

/* For a key no flinc option has (and not one of the families flinc passes
 * on, env.java*, kubernetes.*): the known key at most max_distance edits
 * away (the nearest), else NULL. A known key gives NULL. What a caller that
 * refuses typos (flinc-operator) uses; others only warn. */
const char *cfg_key_typo_of(const char *key, size_t max_distance);

/* Parsers shared with other modules; return 0 or FL_EINVAL. */
int cfg_parse_duration_ms(const char *s, int64_t *out);
int cfg_parse_memory_bytes(const char *s, int64_t *out);

#endif
