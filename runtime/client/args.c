/*
 * args.c — the client's command line (args.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/args.h"
#include "client/remote.h"

#define SHOWN 80

/* s cut to SHOWN bytes with "..." for a message (arguments may be huge). */
static const char *shown(const char *s, char buf[SHOWN + 4])
{
	size_t n = strnlen(s, SHOWN + 1);
	if (n <= SHOWN)
		return s;
	memcpy(buf, s, SHOWN);
	memcpy(buf + SHOWN, "...", 4);
	return buf;
}

/* Commands an option applies to, as bits of 1 << cl_command. */
#define RUN (1u << CL_CMD_RUN)
#define PLAN (1u << CL_CMD_PLAN)
#define LIST (1u << CL_CMD_LIST)
#define CANCEL (1u << CL_CMD_CANCEL)
#define SAVEPOINT (1u << CL_CMD_SAVEPOINT)
#define STOP (1u << CL_CMD_STOP)

enum opt {
	O_LOCAL,
	O_JOBMANAGER,
	O_DETACHED,
	O_SAE,
	O_PARALLELISM,
	O_DYNAMIC,
	O_CONFIG,
	O_DOT,
	O_NO_PROGRESS,
	O_VERBOSE,
	O_ALL,
	O_RUNNING,
	O_SCHEDULED,
	O_FROM_SAVEPOINT,
	O_ALLOW_NON_RESTORED,
	O_RESTORE_MODE,
	O_DISPOSE,
	O_SAVEPOINT_PATH,
	O_DRAIN,
	O_HELP,
	O_TARGET,
};

static const struct cli_option {
	const char *short_name, *long_name;
	enum opt id;
	unsigned applies;
	bool value;
} options[] = {
    {NULL, "--local", O_LOCAL, RUN, false},
    {"-m", "--jobmanager", O_JOBMANAGER, RUN | LIST | CANCEL | SAVEPOINT | STOP, true},
    {"-d", "--detached", O_DETACHED, RUN, false},
    {"-sae", "--shutdownOnAttachedExit", O_SAE, RUN, false},
    {"-p", "--parallelism", O_PARALLELISM, RUN | PLAN, true},
    {"-D", NULL, O_DYNAMIC, RUN | PLAN | LIST | CANCEL | SAVEPOINT | STOP, true},
    {"-c", "--config", O_CONFIG, RUN | PLAN | LIST | CANCEL | SAVEPOINT | STOP, true},
    {NULL, "--dot", O_DOT, PLAN, false},
    {NULL, "--no-progress", O_NO_PROGRESS, RUN, false},
    {"-v", "--verbose", O_VERBOSE, RUN | LIST | CANCEL | SAVEPOINT | STOP, false},
    {"-a", "--all", O_ALL, LIST, false},
    {"-r", "--running", O_RUNNING, LIST, false},
    {"-s", "--scheduled", O_SCHEDULED, LIST, false},
    {"-s", "--fromSavepoint", O_FROM_SAVEPOINT, RUN, true},
    {"-n", "--allowNonRestoredState", O_ALLOW_NON_RESTORED, RUN, false},
    {"-rm", "--restoreMode", O_RESTORE_MODE, RUN, true},
    /* Flink 2's name of --restoreMode. */
    {"-cm", "--claimMode", O_RESTORE_MODE, RUN, true},
    {"-d", "--dispose", O_DISPOSE, SAVEPOINT, true},
    /* Flink's `stop -p DIR` and `-d` (drain). */
    {"-p", "--savepointPath", O_SAVEPOINT_PATH, STOP, true},
    {"-d", "--drain", O_DRAIN, STOP, false},
    {"-h", "--help", O_HELP, RUN | PLAN | LIST | CANCEL | SAVEPOINT | STOP, false},
    /* Flink's -t/--target: where the cluster is (remote: -m; kubernetes-session:
     * the rest Service of kubernetes.cluster-id). */
    {"-t", "--target", O_TARGET, RUN | LIST | CANCEL | SAVEPOINT | STOP, true},
};

static bool option_named(const struct cli_option *o, const char *a)
{
	return (o->short_name && strcmp(a, o->short_name) == 0) ||
	       (o->long_name && strcmp(a, o->long_name) == 0) ||
	       /* -Dkey=value */
	       (o->id == O_DYNAMIC && strncmp(a, "-D", 2) == 0 && a[2]);
}

/* The option a names for command cmd; else one of that name for another
 * command (refused by the caller, naming both), else NULL. */
static const struct cli_option *find_option(const char *a, enum cl_command cmd)
{
	const struct cli_option *other = NULL;
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
		const struct cli_option *o = &options[i];
		if (!option_named(o, a))
			continue;
		if (o->applies & (1u << cmd))
			return o;
		if (!other)
			other = o;
	}
	return other;
}

static int command_of(const char *name, enum cl_command *out)
{
	static const struct {
		const char *name;
		enum cl_command cmd;
	} commands[] = {
	    {"run", CL_CMD_RUN},	   {"plan", CL_CMD_PLAN},     {"info", CL_CMD_PLAN},
	    {"list", CL_CMD_LIST},	   {"cancel", CL_CMD_CANCEL}, {"savepoint", CL_CMD_SAVEPOINT},
	    {"stop", CL_CMD_STOP},
	    {"version", CL_CMD_VERSION},
	    {"--version", CL_CMD_VERSION}, {"help", CL_CMD_HELP},     {"--help", CL_CMD_HELP},
	    {"-h", CL_CMD_HELP},
	};
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(name, commands[i].name) == 0) {
			*out = commands[i].cmd;
			return 0;
		}
	}
	return FL_ENOENT;
}

int cl_args_parse(int argc, char **argv, cl_args *a, cm_err *err)
{
	char sb[SHOWN + 4];
	memset(a, 0, sizeof(*a));
	if (argc < 2)
		return cm_err_set(err, FL_ENOENT, "no command given");
	a->name = argv[1];
	if (command_of(a->name, &a->cmd) != 0)
		return cm_err_set(err, FL_ENOENT, "unknown command '%s'", shown(a->name, sb));
	a->first = argc;
	if (a->cmd == CL_CMD_HELP || a->cmd == CL_CMD_VERSION)
		return 0;
	/* -D applies after the configuration file, whatever its place. */
	a->dyn = calloc((size_t)argc, sizeof(char *));
	if (!a->dyn)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	const char *parallelism = NULL;
	int i = 2;
	for (; i < argc; i++) {
		const char *arg = argv[i];
		if (arg[0] != '-')
			break;
		if (strcmp(arg, "--") == 0) {
			i++;
			break;
		}
		const struct cli_option *o = find_option(arg, a->cmd);
		if (!o)
			return cm_err_set(err, FL_EINVAL, "unknown option '%s' (see flinc --help)",
					  shown(arg, sb));
		if (!(o->applies & (1u << a->cmd)))
			return cm_err_set(err, FL_EINVAL,
					  "option '%s' does not apply to '%s' (see flinc --help)",
					  shown(arg, sb), a->name);
		const char *v = NULL;
		if (o->id == O_DYNAMIC && arg[2]) {
			v = arg + 2;
		} else if (o->value) {
			if (++i == argc) {
				if (o->id == O_DYNAMIC)
					return cm_err_set(err, FL_EINVAL, "-D needs key=value");
				return cm_err_set(err, FL_EINVAL, "%s needs a %s", arg,
						  o->id == O_CONFIG ? "file" : "value");
			}
			v = argv[i];
		}
		switch (o->id) {
		case O_LOCAL:
			a->local = true;
			break;
		case O_JOBMANAGER:
			a->jobmanager = v;
			break;
		case O_TARGET:
			if (strcmp(v, "remote") != 0 && strcmp(v, "kubernetes-session") != 0)
				return cm_err_set(err, FL_EINVAL,
						  "%s: unknown target '%s' (flinc knows remote and "
						  "kubernetes-session; run-application takes "
						  "kubernetes-application)",
						  o->long_name, shown(v, sb));
			a->kubernetes = strcmp(v, "kubernetes-session") == 0;
			break;
		case O_DETACHED:
			a->detached = true;
			break;
		case O_SAE:
			a->sae = true;
			break;
		case O_PARALLELISM:
			parallelism = v;
			break;
		case O_DYNAMIC:
			a->dyn[a->ndyn++] = v;
			break;
		case O_CONFIG:
			a->config_file = v;
			break;
		case O_DOT:
			a->dot = true;
			break;
		case O_NO_PROGRESS:
			a->no_progress = true;
			break;
		case O_VERBOSE:
			a->verbose = true;
			break;
		case O_ALL:
			a->list |= CL_LIST_RUNNING | CL_LIST_SCHEDULED | CL_LIST_TERMINATED;
			break;
		case O_RUNNING:
			a->list |= CL_LIST_RUNNING;
			break;
		case O_SCHEDULED:
			a->list |= CL_LIST_SCHEDULED;
			break;
		case O_FROM_SAVEPOINT:
			if (!*v)
				return cm_err_set(err, FL_EINVAL,
						  "%s needs the path of a savepoint or checkpoint",
						  arg);
			a->from_savepoint = v;
			break;
		case O_ALLOW_NON_RESTORED:
			a->allow_non_restored = true;
			break;
		case O_RESTORE_MODE:
			/* Flink's RecoveryClaimMode, any case; its deprecated
			 * LEGACY is not one flinc has. */
			if (strcasecmp(v, "CLAIM") != 0 && strcasecmp(v, "NO_CLAIM") != 0)
				return cm_err_set(err, FL_EINVAL,
						  "%s takes CLAIM or NO_CLAIM, not '%s'", arg,
						  shown(v, sb));
			a->restore_mode = v;
			break;
		case O_DISPOSE:
			if (!*v)
				return cm_err_set(err, FL_EINVAL,
						  "%s needs the path of a savepoint", arg);
			a->dispose = v;
			break;
		case O_SAVEPOINT_PATH:
			if (!*v)
				return cm_err_set(err, FL_EINVAL,
						  "%s needs the directory for the savepoint", arg);
			a->savepoint_path = v;
			break;
		case O_DRAIN:
			a->drain = true;
			break;
		case O_HELP:
			a->cmd = CL_CMD_HELP;
			return 0;
		}
	}
	a->first = i;

	if (parallelism) {
		char *end;
		errno = 0;
		long p = strtol(parallelism, &end, 10);
		if (errno || *end || end == parallelism || p < 1 || p > 32768)
			return cm_err_set(err, FL_EINVAL,
					  "-p needs a parallelism between 1 and 32768, not '%s'",
					  shown(parallelism, sb));
		a->parallelism = (int)p;
	}
	if (a->kubernetes && (a->jobmanager || a->local))
		return cm_err_set(err, FL_EINVAL,
				  "%s: --target kubernetes-session finds the JobManager by "
				  "kubernetes.cluster-id; it excludes %s",
				  a->name, a->local ? "--local" : "-m");
	switch (a->cmd) {
	case CL_CMD_RUN:
		if (a->local && a->jobmanager)
			return cm_err_set(
			    err, FL_EINVAL,
			    "run: --local and -m exclude each other: --local runs the "
			    "job here, -m on a session cluster");
		if (a->local && (a->detached || a->sae))
			return cm_err_set(err, FL_EINVAL,
					  "run: %s applies to a session cluster, not to --local",
					  a->detached ? "-d" : "-sae");
		if (a->detached && a->sae)
			return cm_err_set(
			    err, FL_EINVAL,
			    "run: -sae (--shutdownOnAttachedExit) applies to an attached "
			    "run, not with -d");
		a->remote = !a->local;
		/* fall through */
	case CL_CMD_PLAN:
		if (i >= argc)
			return cm_err_set(err, FL_EINVAL,
					  "%s: no job given: flinc %s [options] JOB.so [args]",
					  a->name, a->name);
		break;
	case CL_CMD_LIST:
		if (i < argc)
			return cm_err_set(err, FL_EINVAL, "list takes no arguments, not '%s'",
					  shown(argv[i], sb));
		/* Flink's default: running and scheduled jobs. */
		if (!a->list)
			a->list = CL_LIST_RUNNING | CL_LIST_SCHEDULED;
		break;
	case CL_CMD_CANCEL:
		if (i >= argc)
			return cm_err_set(
			    err, FL_EINVAL,
			    "cancel: no job id given: flinc cancel [-m HOST:PORT] JOBID");
		if (i + 1 < argc)
			return cm_err_set(err, FL_EINVAL, "cancel: one job id only, not also '%s'",
					  shown(argv[i + 1], sb));
		if (!cl_job_id_valid(argv[i]))
			return cl_job_id_refuse(argv[i], err);
		break;
	case CL_CMD_SAVEPOINT:
		/* Flink's `savepoint --dispose PATH [JOBID]` takes and ignores
		 * a job id; it must still be one. */
		if (a->dispose ? i + 1 < argc : i + 2 < argc)
			return cm_err_set(err, FL_EINVAL, "savepoint: unexpected argument '%s'",
					  shown(argv[a->dispose ? i + 1 : i + 2], sb));
		if (!a->dispose && i >= argc)
			return cm_err_set(
			    err, FL_EINVAL,
			    "savepoint: no job id given: flinc savepoint [-m HOST:PORT] JOBID "
			    "[TARGET_DIRECTORY], or flinc savepoint [-m HOST:PORT] --dispose PATH");
		if (i < argc && !cl_job_id_valid(argv[i]))
			return cl_job_id_refuse(argv[i], err);
		break;
	case CL_CMD_STOP:
		if (i >= argc)
			return cm_err_set(err, FL_EINVAL,
					  "stop: no job id given: flinc stop [-m HOST:PORT] "
					  "[-p SAVEPOINT_DIR] [-d] JOBID");
		if (i + 1 < argc)
			return cm_err_set(err, FL_EINVAL, "stop: one job id only, not also '%s'",
					  shown(argv[i + 1], sb));
		if (!cl_job_id_valid(argv[i]))
			return cl_job_id_refuse(argv[i], err);
		break;
	default:
		break;
	}
	return 0;
}

void cl_args_fini(cl_args *a)
{
	free(a->dyn);
	a->dyn = NULL;
	a->ndyn = 0;
}
