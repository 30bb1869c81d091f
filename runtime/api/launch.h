/*
 * launch.h — how fl_execute() runs a job, decided by whoever called the
 * job's main(): the flinc CLI installs a launch before calling main(); with
 * none installed (a job linked into a program and run directly) jobs run on
 * a local mini cluster with the configuration from $FLINC_CONF_DIR.
 *
 * The launch also carries results back to the launcher, since main()'s
 * return value is the user's to choose.
 */
#ifndef FLINC_API_LAUNCH_H
#define FLINC_API_LAUNCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/cancel.h"
#include "common/err.h"
#include "config/config.h"
#include "graph/jobgraph.h"
#include "jobmanager/jobmaster.h"

enum env_launch_mode {
	ENV_LAUNCH_LOCAL = 0, /* run on an in-process mini cluster */
	ENV_LAUNCH_PLAN = 1,  /* print the job graph, run nothing */
	ENV_LAUNCH_SUBMIT = 2, /* hand the graph to submit (a JobManager's dispatcher) */
};

/* SUBMIT: runs the job sg (configuration c) to its end on a cluster and
 * fills res, as mc_execute does; L is the launch's listener. */
typedef int (*env_submit_fn)(void *arg, const sg_graph *sg, const char *job_name, const cfg *c,
			     const jm_listener *L, jm_result *res);

typedef struct env_launch {
	enum env_launch_mode mode;
	const cfg *config; /* borrowed; NULL: defaults + $FLINC_CONF_DIR/flinc.yaml */
	/* PLAN: what fl_execute prints on stdout for each job (planned unset). */
	enum env_plan_format {
		ENV_PLAN_TEXT = 0,
		ENV_PLAN_DOT,	     /* Graphviz */
		ENV_PLAN_FLINK_INFO, /* as Flink's `flink info`: its stream graph JSON, framed */
	} plan_format;
	/* PLAN: when set, takes each job's graph instead of printing it (on the
	 * thread that called fl_execute; jg is valid during the call only).
	 * Returns 0 or FL_ENOMEM, which fl_execute returns. */
	int (*planned)(void *arg, const jg_graph *jg);
	void *planned_arg;
	env_submit_fn submit; /* SUBMIT */
	void *submit_arg;
	/* LOCAL: what the launcher hears of each job (id, progress), and its
	 * cancel token: a request cancels the running job, and later
	 * fl_execute calls return FL_ECANCELED at once. */
	jm_listener listener;
	/* True while fl_execute is starting or running a job: set before the
	 * cancellation check, cleared after the job ended and the results
	 * below were written. Read by the launcher's other threads (a signal
	 * thread, an exit handler); job_name is written before it is set. */
	atomic_bool running;
	/* Written by fl_execute: */
	atomic_int executions; /* number of fl_execute calls */
	int status;         /* result of the last: 0 FINISHED, FL_ECANCELED, else negative */
	char job_id[33];
	char job_name[128];
	int64_t runtime_ms;
	char error[CM_ERR_MSG_MAX];
} env_launch;

/* Installs l as the calling thread's launch (NULL removes it): whoever calls
 * a job's main() installs it on that thread first. */
void env_launch_install(env_launch *l);
env_launch *env_launch_current(void);

#endif
