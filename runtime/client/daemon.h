/*
 * daemon.h — what the long-running processes (flinc-jobmanager,
 * flinc-taskmanager) share: their command line, the cluster's secret, the
 * address they advertise, and their signals.
 */
#ifndef FLINC_CLIENT_DAEMON_H
#define FLINC_CLIENT_DAEMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/auth.h"
#include "common/err.h"
#include "config/config.h"

typedef struct cl_daemon_args {
	cfg *config;		 /* file ($FLINC_CONF_DIR/flinc.yaml or --config), then -D */
	const char *application; /* --application JOB.so (JobManager only), or NULL */
	int job_argc;		 /* the arguments after the job library */
	char **job_argv;	 /* job_argv[0] is the library */
	bool help;
} cl_daemon_args;

/*
 * Parses [--config FILE] [-D key=value]... [--application JOB.so [--] [job
 * args]] (application only when allow_application) and loads the
 * configuration. With --application also what its jobs start from, as
 * Flink's standalone-job takes it: -s/--fromSavepoint PATH,
 * -n/--allowNonRestoredState, -rm/--restoreMode (or -cm/--claimMode) MODE,
 * set over -D as execution.savepoint.path, .ignore-unclaimed-state and
 * execution.savepoint-restore-mode. Returns 0 (free with
 * cl_daemon_args_fini) or an error with err naming the argument, key or
 * file.
 */
int cl_daemon_args_parse(cl_daemon_args *a, int argc, char **argv, bool allow_application,
			 cm_err *err);
void cl_daemon_args_fini(cl_daemon_args *a);

/*
 * The cluster's shared secret: security.internal.token, else the file
 * security.internal.token-file, else the per-user default file
 * $TMPDIR/flinc-<user>-<cluster id>.token, which a JobManager creates
 * (create: mode 0600, 32 random bytes as hex) when it does not exist, so
 * that a JobManager and TaskManagers started by one user on one machine
 * agree without configuration. Fills where (cap bytes) with where the
 * secret came from, for the log. Returns 0 or an error with err.
 */
int cl_cluster_secret(const cfg *c, bool create, cm_secret *s, char *where, size_t cap,
		      cm_err *err);

/*
 * The local address this machine uses to reach host:port (a UDP socket
 * connected there: no packet is sent), as Flink's TaskManager finds the
 * address it advertises. Returns 0 or an error with err.
 */
int cl_local_address_towards(const char *host, int port, char *out, size_t cap, cm_err *err);

/* Blocks SIGINT, SIGTERM and SIGHUP in this thread (call before any other
 * thread starts, so every thread inherits it) and fills set with them, for
 * sigtimedwait. SIGPIPE is ignored (a peer that goes away is an error
 * return, not a death). */
void cl_daemon_signals(sigset_t *set);

#endif
