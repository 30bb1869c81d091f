/*
 * taskmanager.h — a TaskManager (Flink's TaskExecutor): N task slots, a
 * network buffer pool, a data-plane endpoint, and the tasks deployed to it,
 * served by one service loop (a cm_loop, Flink's main-thread executor).
 *
 * A JobMaster reaches it only through its gateway (rpc/gateway.h):
 * tm_gateway() in this process, or the same gateway behind an NNG
 * request/reply server between processes. Deployment is two-phase per job
 * attempt: submit every task everywhere (each registers its input channels),
 * then start everywhere, so a producer never dials a consumer that is not
 * there yet. Task states go to the JobMaster whose address came with the
 * job's first task; one TaskManager serves any number of jobs.
 *
 * Cancellation (Flink's TaskCanceler and TaskCancelerWatchDog): a cancelled
 * task's thread is interrupted (a signal that ends blocking system calls
 * with EINTR) every task.cancellation.interval until it ends; if it has not
 * ended after task.cancellation.timeout, a TaskManager process exits (as
 * Flink's does), and an in-process one reports the task FAILED, leaves its
 * thread behind and is itself never freed.
 *
 * Liveness: a JobMaster heartbeats its TaskManagers; a job whose JobMaster
 * has not been heard of for heartbeat.timeout is cancelled here and
 * released once its tasks ended.
 *
 * Identity: the resource id (taskmanager.resource-id, generated when unset);
 * the data endpoint binds to the bind host (taskmanager.bind-host) and is
 * advertised under the host peers dial (taskmanager.host).
 *
 * Threads: every function is thread-safe; none blocks on a task.
 */
#ifndef FLINC_TASKMANAGER_TASKMANAGER_H
#define FLINC_TASKMANAGER_TASKMANAGER_H

#include <stdbool.h>

#include "common/auth.h"
#include "config/config.h"
#include "rpc/gateway.h"
#include "taskmanager/task.h"

typedef struct tm_taskmanager tm_taskmanager;

typedef struct tm_options {
	int index;		 /* 0-based, for names and logs */
	int slots;		 /* taskmanager.numberOfTaskSlots */
	const char *bind_host;	 /* data endpoint bind address */
	const char *host;	 /* advertised data address host; NULL: bind_host */
	int port;		 /* 0: any */
	const char *resource_id; /* NULL: generated */
	const char *cluster_id;	 /* peers of another cluster are refused */
	const cm_secret *secret; /* the cluster's shared secret (copied) */
	const cfg *config;	 /* borrowed: must outlive the TaskManager */
	/* A task that ignores cancellation past task.cancellation.timeout ends
	 * the process (a TaskManager process) instead of being left behind. */
	bool exit_on_stuck_task;
	/* Turns a descriptor's library locator into a path to dlopen (NULL:
	 * locators are paths). A TaskManager process fetches "blob:<sha256>"
	 * from its JobManager here. Runs on the TaskManager's loop; returns 0
	 * with a malloc'd *path, or an error with err (the task is refused). */
	int (*resolve_library)(void *arg, const char *locator, char **path, cm_err *err);
	void *resolve_arg;
} tm_options;

/* Starts a TaskManager (its loop, pool, endpoint and output flusher).
 * Returns 0, FL_ENOMEM, FL_EINVAL (configuration) or FL_EIO (cannot
 * listen), err naming why. */
int tm_new(tm_taskmanager **out, const tm_options *o, cm_err *err);
/* Cancels every task, waits for them, stops everything and frees tm; with a
 * task left behind by the cancellation watchdog, logs that and keeps the
 * TaskManager (its memory stays reachable for the stuck thread). */
void tm_free(tm_taskmanager *tm);

const char *tm_resource_id(const tm_taskmanager *tm);
/* The advertised data address, "host:port". */
const char *tm_data_address(const tm_taskmanager *tm);
int tm_slots(const tm_taskmanager *tm);

/* The in-process gateway to this TaskManager (owned by it: do not free). */
rpc_tm_gateway *tm_gateway(tm_taskmanager *tm);

/* Appends this TaskManager's metrics in Prometheus text format to w (slots,
 * tasks, network buffers, heartbeats missed, records in/out per operator,
 * and per task bytes and buffers in/out and back-pressured time), read on
 * its loop. Returns 0 or an error (the loop is stopping, out of
 * memory). */
struct cm_wbuf;
int tm_prometheus(tm_taskmanager *tm, struct cm_wbuf *w);

/* Counts a heartbeat request to the ResourceManager that got no answer in
 * time (the process's registration loop calls it); /metrics shows it as
 * flinc_taskmanager_heartbeats_missed_total{from="resourcemanager"}. Any
 * thread. */
void tm_note_heartbeat_missed(tm_taskmanager *tm);

/* For tests of liveness: holds the service loop busy for ms milliseconds,
 * as a TaskManager that stopped answering would be. Returns 0 or the post
 * error. */
int tm_test_stall(tm_taskmanager *tm, int64_t ms);

#endif
