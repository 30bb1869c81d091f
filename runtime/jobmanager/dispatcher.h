/*
 * dispatcher.h — the JobManager's Dispatcher (Flink's Dispatcher): it
 * keeps the uploaded job libraries ("jars", as Flink's REST API calls them),
 * runs a library's main() when asked to (POST /jars/:id/run, or the
 * application's at start), starts one JobMaster per job that main()
 * submits, routes TaskManagers' reports to the right JobMaster, and keeps
 * every job's status for the REST API, also after it ended (Flink's
 * ArchivedExecutionGraph).
 *
 * A job submitted by a main() (fl_execute in ENV_LAUNCH_SUBMIT mode) runs
 * on that main()'s thread: the Dispatcher registers it (CREATED), asks the
 * ResourceManager for its slots (waiting up to slot.request.timeout), starts
 * its JobMaster with the TaskManagers it got, waits for the end, archives
 * the job's final view and gives the slots back. One job's failure touches
 * no other job.
 *
 * Threads: everything is thread-safe.
 */
#ifndef FLINC_JOBMANAGER_DISPATCHER_H
#define FLINC_JOBMANAGER_DISPATCHER_H

#include <stdbool.h>

#include "common/err.h"
#include "config/config.h"
#include "jobmanager/resourcemanager.h"
#include "rest/rest.h"
#include "rpc/gateway.h"

typedef struct ds_dispatcher ds_dispatcher;

typedef struct ds_options {
	const cfg *config;	  /* the cluster's configuration, borrowed */
	rm_resourcemanager *rm;	  /* borrowed */
	const char *jm_address;	  /* "tcp://host:port": how TaskManagers reach JobMasters */
	const char *upload_dir;	  /* existing directory for uploaded libraries */
	const char *rest_address; /* "http://host:port", for replies that name it */
	/* High availability (jobmanager/ha.h), borrowed, or NULL: jobs are
	 * recorded, their completed checkpoints too, a job whose id has a
	 * recorded checkpoint starts from it, and the records go when it is
	 * globally terminal. */
	struct jm_ha *ha;
} ds_options;

int ds_new(ds_dispatcher **out, const ds_options *o, cm_err *err);
/* Cancels every job, waits up to wait_ms for their main() threads, and
 * frees the Dispatcher. Returns false (and frees nothing) when a main()
 * did not return in time: the process should then exit without freeing. */
bool ds_free(ds_dispatcher *d, int64_t wait_ms);

/* Refuses new jobs and cancels every running one (a shutdown's first
 * step; ds_free does it too). */
void ds_cancel_all(ds_dispatcher *d);
/* ds_cancel_all for a JobManager that stops under high availability (a
 * signal, leadership lost): the jobs end here without ending globally —
 * no checkpoint is discarded and their HA records stay, for the next
 * leader to recover them. */
void ds_suspend_all(ds_dispatcher *d);
/* Waits up to wait_ms for every job's main() thread to return (after
 * ds_cancel_all: their jobs end once their tasks report, so the reports
 * must still reach the Dispatcher meanwhile). Returns whether they all
 * did; false is logged. */
bool ds_wait(ds_dispatcher *d, int64_t wait_ms);

/* The JobMaster gateway TaskManagers report to (task states), routing by
 * job id. Owned by the Dispatcher. */
rpc_jm_gateway *ds_gateway(ds_dispatcher *d);

/* rm_blob_fn over the uploaded libraries (arg: the Dispatcher). */
int ds_blob(void *arg, const char *hash, uint64_t offset, uint8_t *buf, size_t cap, size_t *n,
	    uint64_t *total, cm_err *err);

/* Adds the REST API's routes (Flink's paths) to s. */
int ds_rest_routes(ds_dispatcher *d, rest_server *s);

/*
 * The application cluster's entry point: runs main() of the library at
 * path (TaskManagers load it from the same path) on this thread with args,
 * every job it submits going to this Dispatcher. Fills *main_rc with what
 * main() returned, and res with how its last job ended. Returns 0 when
 * main() ran, or an error with err (the library cannot be loaded, has no
 * main, or main() submitted no job).
 */
int ds_run_application(ds_dispatcher *d, const char *path, int argc, char **argv, int *main_rc,
		       int *job_status, cm_err *err);

/*
 * High availability, a session cluster's new leader: every job the HA store
 * records with its library (ds_options.ha) is run again as it was
 * submitted (its library, arguments and configuration), under its own id,
 * so that it resumes from its latest recorded checkpoint. Jobs recorded by
 * an application are left to it (its main() runs again). Returns 0 or the
 * API's error; a job that cannot be run again is logged.
 */
int ds_recover(ds_dispatcher *d, cm_err *err);

/* Counts of jobs by coarse state, for logs and /overview. */
typedef struct ds_counts {
	int running, finished, cancelled, failed;
} ds_counts;
void ds_job_counts(ds_dispatcher *d, ds_counts *c);

#endif
