/*
 * args.h — the client's command line, parsed and checked before anything
 * is loaded or sent:
 *
 *   flinc run [--local | -m HOST:PORT] [-d] [-sae] [-p N] [-s PATH [-n] [-rm MODE]]
 *             [-D k=v]... [-c FILE] JOB.so [args]
 *   flinc plan | info [--dot] [-p N] [-D k=v]... [-c FILE] JOB.so [args]
 *   flinc list [-m HOST:PORT] [-r] [-s] [-a] [-D k=v]... [-c FILE]
 *   flinc cancel [-m HOST:PORT] [-D k=v]... [-c FILE] JOBID
 *   flinc savepoint [-m HOST:PORT] [-D k=v]... [-c FILE] JOBID [TARGET_DIRECTORY]
 *   flinc savepoint [-m HOST:PORT] [-D k=v]... [-c FILE] -d|--dispose PATH [JOBID]
 *   flinc stop [-m HOST:PORT] [-D k=v]... [-c FILE] [-p DIR] [-d] JOBID
 *   flinc version | help
 *
 * run, list, cancel, savepoint and stop also take -t/--target remote (the
 * default) or kubernetes-session (-D kubernetes.cluster-id=NAME names it).
 *
 * Options come before the job; the first argument that is not an option
 * (or everything after "--") is the job, and what follows it is the job's.
 * An option that does not apply to the command is refused, naming both.
 * A short name means what the command makes of it, as in Flink's CLI: -s
 * is run's --fromSavepoint and list's --scheduled, -d run's --detached and
 * savepoint's --dispose.
 */
#ifndef FLINC_CLIENT_ARGS_H
#define FLINC_CLIENT_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

enum cl_command {
	CL_CMD_HELP,
	CL_CMD_VERSION,
	CL_CMD_RUN,
	CL_CMD_PLAN, /* plan and info */
	CL_CMD_LIST,
	CL_CMD_CANCEL,
	CL_CMD_SAVEPOINT, /* trigger one, or dispose of one */
	CL_CMD_STOP,	  /* stop-with-savepoint */
};

typedef struct cl_args {
	enum cl_command cmd;
	const char *name;	 /* the command as typed ("info", "plan", ...) */
	const char *config_file; /* -c/--config; NULL: $FLINC_CONF_DIR/flinc.yaml */
	const char **dyn;	 /* -D key=value, in order; the array is owned */
	size_t ndyn;
	int parallelism;	/* -p; 0 when not given */
	const char *jobmanager; /* -m; NULL: from the configuration */
	bool kubernetes;	/* -t kubernetes-session: the rest Service of
				 * kubernetes.cluster-id is the JobManager */
	bool local;		/* run --local */
	bool remote;		/* run: on a session cluster (not --local) */
	bool detached;		/* run -d */
	bool sae;		/* run -sae */
	bool dot;		/* plan --dot */
	bool verbose;		/* -v */
	bool no_progress;	/* --no-progress */
	unsigned list;		/* list: CL_LIST_* sections */
	/* run: what the job starts from (Flink's -s, -n, -rm/-cm): NULL or
	 * false when not given; restore_mode is CLAIM or NO_CLAIM (any case). */
	const char *from_savepoint;
	bool allow_non_restored;
	const char *restore_mode;
	const char *dispose; /* savepoint -d PATH; NULL: trigger one */
	const char *savepoint_path; /* stop -p DIR; NULL: the cluster's directory */
	bool drain;		    /* stop -d */
	/* argv index of JOB.so (run, plan), JOBID (cancel, savepoint), or of
	 * what follows the options (argc when nothing does) */
	int first;
} cl_args;

/*
 * Parses argv (argv[0] is the program, argv[1] the command). Strings point
 * into argv. Returns 0; FL_ENOENT for a missing or unknown command (the
 * caller shows the usage); FL_EINVAL for anything else wrong (a usage
 * error, exit status 2), err saying what, user text cut to 80 bytes.
 * Free with cl_args_fini, on error too.
 */
int cl_args_parse(int argc, char **argv, cl_args *out, cm_err *err);
void cl_args_fini(cl_args *a);

#endif
