/*
 * cli.c — the command-line client (Flink's CliFrontend; `cmd/flinc` is its
 * bin/flink). It lives in the library, not the executable, because the job
 * .so it loads links libflinc.so too: both must share one runtime instance,
 * and the library exports only the public API (fl_program_main among it).
 *
 *   flinc run --local [-p N] [-D key=value]... [--config FILE] JOB.so [args]
 *   flinc plan [--dot] [-p N] [-D key=value]... JOB.so [args]
 *
 * Both load the job's shared object, install a launch that says how
 * fl_execute() should run, and call the job's main(argc, argv).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <flinc/flinc.h>

#include "api/launch.h"
#include "common/log.h"
#include "config/config.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage:\n"
		"  flinc run --local [options] JOB.so [job arguments]   run a job on a local mini cluster\n"
		"  flinc plan [--dot] [options] JOB.so [job arguments]  print the job graph\n"
		"  flinc version\n"
		"\n"
		"Options:\n"
		"  -p, --parallelism N     default parallelism of the job (parallelism.default)\n"
		"  -D key=value            set a configuration key (overrides the file)\n"
		"  -c, --config FILE       configuration file (default: $FLINC_CONF_DIR/flinc.yaml)\n"
		"  --local                 run on an in-process mini cluster\n"
		"  --dot                   (plan) print Graphviz instead of text\n"
		"  --no-progress           do not print progress lines\n"
		"\n"
		"A job is a shared object built against libflinc whose main(argc, argv) builds a\n"
		"dataflow and calls fl_execute():\n"
		"  cc -shared -fPIC job.c -o job.so $(pkg-config --cflags --libs flinc)\n");
}

static void human(uint64_t v, char *buf, size_t cap)
{
	if (v >= 1000000000ull)
		snprintf(buf, cap, "%.1fG", (double)v / 1e9);
	else if (v >= 1000000ull)
		snprintf(buf, cap, "%.1fM", (double)v / 1e6);
	else if (v >= 10000ull)
		snprintf(buf, cap, "%.1fK", (double)v / 1e3);
	else
		snprintf(buf, cap, "%llu", (unsigned long long)v);
}

/* One progress line: records in/out per operator. */
static void print_progress(void *arg, const jm_progress *p)
{
	char line[2048];
	size_t len = (size_t)snprintf(line, sizeof(line), "[%6.1fs]", (double)p->elapsed_ms / 1000.0);
	for (size_t i = 0; i < p->nnodes && len < sizeof(line); i++) {
		const jm_node_progress *n = &p->nodes[i];
		char a[32], b[32];
		human(n->in, a, sizeof(a));
		human(n->out, b, sizeof(b));
		if (n->source)
			len += (size_t)snprintf(line + len, sizeof(line) - len, " %s out=%s |", n->name, b);
		else if (n->sink)
			len += (size_t)snprintf(line + len, sizeof(line) - len, " %s in=%s |", n->name, a);
		else
			len += (size_t)snprintf(line + len, sizeof(line) - len, " %s in=%s out=%s |",
						n->name, a, b);
	}
	if (len >= sizeof(line))
		len = sizeof(line) - 1;
	if (len > 0 && line[len - 1] == '|')
		line[--len] = '\0';
	fprintf(stderr, "%s\n", line);
}

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("flinc: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 2;
}

static int cli_main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("flinc %d.%d.%d\n", FLINC_VERSION_MAJOR, FLINC_VERSION_MINOR, FLINC_VERSION_PATCH);
		return 0;
	}
	bool is_run = strcmp(cmd, "run") == 0, is_plan = strcmp(cmd, "plan") == 0;
	if (!is_run && !is_plan) {
		fprintf(stderr, "flinc: unknown command '%s'\n\n", cmd);
		usage(stderr);
		return 2;
	}

	cfg *conf = NULL;
	if (cfg_new(&conf) != 0)
		return die("out of memory");
	cm_err err = {0};
	const char *config_file = NULL;
	bool local = false, dot = false, progress = isatty(STDERR_FILENO);
	/* -D and -p apply after the file, whatever their order on the line. */
	const char **dyn = calloc((size_t)argc, sizeof(char *));
	size_t ndyn = 0;
	const char *parallelism = NULL;
	int i = 2;
	int rc = 0;
	if (!dyn) {
		cfg_free(conf);
		return die("out of memory");
	}
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-')
			break;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "--local") == 0) {
			local = true;
		} else if (strcmp(a, "--dot") == 0 && is_plan) {
			dot = true;
		} else if (strcmp(a, "--no-progress") == 0) {
			progress = false;
		} else if (strcmp(a, "-p") == 0 || strcmp(a, "--parallelism") == 0) {
			if (++i == argc) {
				rc = die("%s needs a value", a);
				goto out;
			}
			parallelism = argv[i];
		} else if (strncmp(a, "-D", 2) == 0) {
			const char *kv = a[2] ? a + 2 : (++i < argc ? argv[i] : NULL);
			if (!kv) {
				rc = die("-D needs key=value");
				goto out;
			}
			dyn[ndyn++] = kv;
		} else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (++i == argc) {
				rc = die("%s needs a file", a);
				goto out;
			}
			config_file = argv[i];
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			goto out;
		} else {
			rc = die("unknown option '%s' (see flinc --help)", a);
			goto out;
		}
	}
	if (i >= argc) {
		rc = die("%s: no job given: flinc %s [options] JOB.so [args]", cmd, cmd);
		goto out;
	}
	if (is_run && !local) {
		rc = die("run: only --local is supported in this version: there is no session cluster "
			 "to submit to yet (use flinc run --local)");
		goto out;
	}

	/* Configuration: file, then -D, then -p. */
	char path[4096];
	const char *dir = getenv("FLINC_CONF_DIR");
	if (!config_file && dir && *dir) {
		snprintf(path, sizeof(path), "%s/flinc.yaml", dir);
		if (access(path, F_OK) == 0)
			config_file = path;
	}
	if (config_file && (rc = cfg_load_file(conf, config_file, &err)) != 0) {
		rc = die("%s", err.msg);
		goto out;
	}
	for (size_t k = 0; k < ndyn; k++) {
		if (cfg_set_dynamic(conf, dyn[k], &err) != 0) {
			rc = die("-D %s: %s", dyn[k], err.msg);
			goto out;
		}
	}
	if (parallelism) {
		char *end;
		errno = 0;
		long p = strtol(parallelism, &end, 10);
		if (errno || *end || end == parallelism || p < 1 || p > 32768) {
			rc = die("-p needs a parallelism between 1 and 32768, not '%s'", parallelism);
			goto out;
		}
		if (cfg_set(conf, CFG_PARALLELISM, parallelism, &err) != 0) {
			rc = die("%s", err.msg);
			goto out;
		}
	}
	const char *level = NULL;
	enum cm_log_level lv;
	if (cfg_is_set(conf, CFG_LOG_LEVEL) && cfg_get_string(conf, CFG_LOG_LEVEL, &level) == 0 &&
	    cm_log_parse_level(level, &lv) == 0)
		cm_log_set_level(lv);

	/* Load the job. RTLD_LOCAL: its symbols stay out of the global scope,
	 * so its functions are shipped by library path + name. */
	const char *job = argv[i];
	char *real = realpath(job, NULL);
	if (!real) {
		rc = die("cannot load job '%s': %s", job, strerror(errno));
		goto out;
	}
	void *h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		rc = die("cannot load job '%s': %s", job, dlerror());
		free(real);
		goto out;
	}
	int (*job_main)(int, char **) = (int (*)(int, char **))dlsym(h, "main");
	if (!job_main) {
		rc = die("'%s' has no main() function: a job is a shared object whose "
			 "main(argc, argv) builds the dataflow and calls fl_execute()",
			 job);
		free(real);
		goto out;
	}
	env_launch launch = {.mode = is_plan ? ENV_LAUNCH_PLAN : ENV_LAUNCH_LOCAL,
			    .config = conf,
			    .plan_dot = dot,
			    .listener = {.progress = progress && !is_plan ? print_progress : NULL}};
	env_launch_install(&launch);
	int main_rc = job_main(argc - i, argv + i);
	env_launch_install(NULL);
	free(real);
	/* The job .so stays loaded: dlclose could unmap code that libc still
	 * references through atexit or thread-local destructors. */
	if (launch.executions == 0) {
		rc = die("the main() of '%s' returned %d without calling fl_execute(): no job ran", job,
			 main_rc);
		goto out;
	}
	if (is_plan) {
		rc = launch.status == 0 ? 0 : (fprintf(stderr, "flinc: %s\n", launch.error), 1);
		goto out;
	}
	if (launch.status == 0) {
		fprintf(stderr, "Job '%s' (%s) FINISHED in %lld ms\n", launch.job_name, launch.job_id,
			(long long)launch.runtime_ms);
		rc = main_rc == 0 ? 0 : 1;
	} else {
		fprintf(stderr, "Job '%s'%s%s%s FAILED: %s\n", launch.job_name,
			launch.job_id[0] ? " (" : "", launch.job_id, launch.job_id[0] ? ")" : "",
			launch.error);
		rc = 1;
	}
out:
	free(dyn);
	cfg_free(conf);
	return rc;
}

FL_API int fl_program_main(const char *program, int argc, char **argv)
{
	if (!program || strcmp(program, "flinc") == 0)
		return cli_main(argc, argv);
	fprintf(stderr, "flinc: unknown program '%s'\n", program);
	return 2;
}
