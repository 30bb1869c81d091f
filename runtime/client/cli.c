/*
 * cli.c — the command-line client (Flink's CliFrontend; `cmd/flinc` is its
 * bin/flink). It lives in the library, not the executable, because the job
 * .so it loads links libflinc.so too: both must share one runtime instance,
 * and the library exports only the public API (fl_program_main among it).
 *
 *   flinc run --local [-p N] [-D key=value]... [--config FILE] JOB.so [args]
 *   flinc plan|info [--dot] [-p N] [-D key=value]... JOB.so [args]
 *
 * Both load the job's shared object, install a launch that says how
 * fl_execute() should run, and call the job's main(argc, argv).
 *
 *   flinc run [-m HOST:PORT] [-d] [-sae] [-p N] [-D key=value]... JOB.so [args]
 *   flinc list [-m HOST:PORT] [-a|-r|-s]
 *   flinc cancel [-m HOST:PORT] JOBID
 *   flinc savepoint [-m HOST:PORT] JOBID [DIR] | --dispose PATH
 *
 * talk to a session cluster's JobManager over its REST API instead
 * (session.h): the job's shared object is uploaded and run there, never
 * loaded here. The command line is parsed by args.c.
 *
 * What `run` shows on stderr is what Flink's client shows: the job id once
 * the job is submitted, warnings and errors, a progress line on a terminal,
 * and one final line, always last, that says how the job ended. The INFO log
 * goes to a file (log.file, by default under the temp directory; its path
 * is printed once), or to stderr with -v.
 *
 * Process-wide duties, taken first thing: descriptors 0-2 exist (a closed
 * stdout must not become NNG's epoll descriptor); SIGPIPE is caught by a
 * handler that does nothing, so a closed pipe fails the print sink with a
 * message (EPIPE) instead of killing the process, while the processes a
 * job starts still get SIGPIPE at its default; SIGINT, SIGTERM and SIGHUP
 * (the terminal closed) are blocked in every thread and taken by one
 * thread that cancels the job; a crash in user code leaves a line naming
 * the task (common/crash.h); exit() from user code while a job runs fails
 * it instead of looking like success.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <flinc/flinc.h>

#include "api/launch.h"
#include "client/args.h"
#include "client/kubernetes.h"
#include "client/remote.h"
#include "client/session.h"
#include "common/cancel.h"
#include "common/crash.h"
#include "common/log.h"
#include "config/config.h"
#include "jobmanager/process.h"
#include "taskmanager/process.h"

/*
 * What the client's threads share: the main thread (the job's main()), the
 * signal thread, the JobMaster's listener callbacks and the exit handler.
 * Static: the exit handler may run after cli_main's frame is gone.
 */
typedef struct cl_client {
	env_launch launch;
	cm_cancel cancel;
	bool cancel_ready;
	/* mu guards job_id, job_of, final_printed, cancel_ready and active. */
	pthread_mutex_t mu;
	char job_id[33];    /* from the listener's submitted callback */
	int job_of;	    /* the execution (launch.executions) job_id belongs to */
	bool final_printed; /* the final line is out: nothing may follow it */
	atomic_int signal;  /* the first SIGINT/SIGTERM/SIGHUP received, 0 if none */
	sigset_t sigs;	    /* the signals the signal thread waits for */
	pthread_t sig_thread;
	bool sig_started;
	atomic_bool quit; /* tells the signal thread to end */
	bool active;	  /* a run or plan is in progress (for the exit handler) */
	/* A command against a session cluster is running: the main thread
	 * reacts to the signal (session.h); remote_addr is its JobManager. */
	bool remote;
	char remote_addr[sizeof(((cl_address *)0)->shown)];
	atomic_bool logging_to_file; /* read by cl_say() on any thread */
} cl_client;

static cl_client client = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* ------------------------------------------------------------- output */

/* Writes one line to stderr with one write(2) and, when the INFO log goes
 * to a file, into it too, so the file tells the whole story of the run
 * (session.h declares it for the cluster commands). */
void cl_say(const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof(line) - 1 ? (size_t)n : sizeof(line) - 2;
	if (atomic_load(&client.logging_to_file))
		cm_log_file_note("client", "%s", line);
	line[len++] = '\n';
	const char *p = line;
	while (len > 0) {
		ssize_t w = write(STDERR_FILENO, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		len -= (size_t)w;
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage:\n"
		"  flinc run [options] JOB.so [job arguments]          submit a job to a session cluster\n"
		"  flinc run --local [options] JOB.so [job arguments]  run a job on a local mini cluster\n"
		"  flinc list [options]                                list the cluster's jobs\n"
		"  flinc cancel [options] JOBID                        cancel a job on the cluster\n"
		"  flinc savepoint [options] JOBID [TARGET_DIRECTORY]  take a savepoint of a job\n"
		"  flinc savepoint [options] -d PATH                   dispose of a savepoint\n"
		"  flinc stop [options] [-p DIR] [-d] JOBID            stop a job with a savepoint\n"
		"  flinc info|plan [--dot] [options] JOB.so [args]     print the job graph, run nothing\n"
		"  flinc version\n"
		"  flinc run-application --target kubernetes-application -D kubernetes.cluster-id=NAME\n"
		"        -D kubernetes.container.image=IMAGE local:///PATH/JOB.so [args]\n"
		"                                                      an application cluster on Kubernetes\n"
		"  flinc kubernetes-session -D kubernetes.cluster-id=NAME -D kubernetes.container.image=IMAGE\n"
		"                                                      a session cluster on Kubernetes\n"
		"                          (flinc run-application --help: the Kubernetes keys)\n"
		"\n"
		"Options:\n"
		"  -t, --target remote|kubernetes-session\n"
		"                          kubernetes-session: the JobManager is the rest Service\n"
		"                          of -D kubernetes.cluster-id (and kubernetes.namespace)\n"
		"  -m, --jobmanager HOST:PORT\n"
		"                          the JobManager's REST endpoint, or http://HOST:PORT\n"
		"                          (default: rest.address, else jobmanager.rpc.address,\n"
		"                          and rest.port: localhost:8081)\n"
		"  -d, --detached          (run) return once the job is submitted\n"
		"  -sae, --shutdownOnAttachedExit\n"
		"                          (run) cancel the job when the attached client is\n"
		"                          interrupted (Ctrl-C, SIGTERM, SIGHUP)\n"
		"  -p, --parallelism N     default parallelism of the job (parallelism.default)\n"
		"  -s, --fromSavepoint PATH\n"
		"                          (run) start the job from this savepoint or retained\n"
		"                          checkpoint (execution.savepoint.path)\n"
		"  -n, --allowNonRestoredState\n"
		"                          (run) skip its state of operators the job no longer has\n"
		"  -rm, --restoreMode CLAIM|NO_CLAIM  (also -cm, --claimMode)\n"
		"                          (run) whether the job takes over the savepoint's files\n"
		"                          (default NO_CLAIM: they stay the user's)\n"
		"  -d, --dispose PATH      (savepoint) remove the savepoint at PATH (a directory the\n"
		"                          JobManager can reach) instead of taking one\n"
		"  -p, --savepointPath DIR (stop) where the savepoint goes (default: the cluster's\n"
		"                          execution.checkpointing.savepoint-dir)\n"
		"  -d, --drain             (stop) Flink's drain (no effect yet: no event time)\n"
		"  -D key=value            set a configuration key (overrides the file); run on a\n"
		"                          cluster sends them with the job (flinkConfiguration)\n"
		"  -c, --config FILE       configuration file (default: $FLINC_CONF_DIR/flinc.yaml)\n"
		"  --local                 (run) run on an in-process mini cluster\n"
		"  -a, --all               (list) running, scheduled and terminated jobs\n"
		"  -r, --running           (list) running jobs\n"
		"  -s, --scheduled         (list) scheduled jobs (default: running and scheduled)\n"
		"  --dot                   (info, plan) print Graphviz instead of text\n"
		"  --no-progress           (run) do not print progress lines\n"
		"  -v, --verbose           (run --local) the INFO log on stderr instead of the log\n"
		"                          file; (cluster commands) one line per HTTP request\n"
		"\n"
		"run prints the job id, warnings and errors, and a final line on stderr.\n"
		"--local: the INFO log goes to log.file (default:\n"
		"$TMPDIR/flinc-$USER-client-$HOSTNAME.log); Ctrl-C cancels the job.\n"
		"On a cluster: JOB.so is uploaded (POST /jars/upload) and started (POST\n"
		"/jars/ID/run); unless -d, run follows the job to its end. Ctrl-C then cancels\n"
		"it with -sae, else asks whether to (stdin a terminal) or leaves it running.\n"
		"A second Ctrl-C exits at once. A request fails after client.timeout (default\n"
		"60 s; connecting, after 10 s).\n"
		"\n"
		"Exit status:\n"
		"  0       done; run: the job FINISHED (or was submitted, with -d)\n"
		"  1       the job FAILED, was CANCELED or SUSPENDED, or the JobManager refused\n"
		"          the request (its errors are printed)\n"
		"  2       bad arguments, configuration, job file or job id: nothing was sent\n"
		"  3       the JobManager did not answer, or its reply could not be understood\n"
		"  128+N   interrupted by signal N (130: Ctrl-C)\n"
		"\n"
		"A job is a shared object built against libflinc whose main(argc, argv) builds a\n"
		"dataflow and calls fl_execute():\n"
		"  cc -shared -fPIC job.c -o job.so $(pkg-config --cflags --libs flinc)\n");
}

/* One progress line: records in/out per operator (JobMaster thread). */
static void print_progress(void *arg, const jm_progress *p)
{
	char line[2048];
	size_t len = (size_t)snprintf(line, sizeof(line), "[%6.1fs]", (double)p->elapsed_ms / 1000.0);
	for (size_t i = 0; i < p->nnodes && len < sizeof(line); i++) {
		const jm_node_progress *n = &p->nodes[i];
		char a[32], b[32];
		cl_human(n->in, a, sizeof(a));
		cl_human(n->out, b, sizeof(b));
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

/* The job has an id and runs (JobMaster thread): Flink's words. */
static void on_submitted(void *arg, const char *job_id, const char *job_name)
{
	cl_client *cl = arg;
	pthread_mutex_lock(&cl->mu);
	snprintf(cl->job_id, sizeof(cl->job_id), "%s", job_id);
	cl->job_of = atomic_load(&cl->launch.executions);
	pthread_mutex_unlock(&cl->mu);
	cl_say("Job has been submitted with JobID %s", job_id);
}

/* The job a session cluster runs has an id (main thread): as above. */
static void on_remote_submitted(void *arg, const char *job_id)
{
	cl_client *cl = arg;
	pthread_mutex_lock(&cl->mu);
	snprintf(cl->job_id, sizeof(cl->job_id), "%s", job_id);
	pthread_mutex_unlock(&cl->mu);
	cl_say("Job has been submitted with JobID %s", job_id);
}

/* Prints "flinc: MESSAGE" on stderr and returns 2, the exit code of a usage
 * or configuration error. */
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

/* "SIGINT", "SIGTERM" or "SIGHUP", for the client's lines. */
static const char *signal_name(int sig)
{
	return sig == SIGINT    ? "SIGINT"
	       : sig == SIGTERM ? "SIGTERM"
	       : sig == SIGHUP  ? "SIGHUP"
				: "a signal";
}

/*
 * Prints the final line of the last job, once (later callers get false),
 * and returns through *code the exit status it calls for: 0 FINISHED, 1
 * FAILED, 128+N CANCELED on signal N. Caller holds cl->mu.
 */
static bool final_line_locked(cl_client *cl, int *code)
{
	if (cl->final_printed)
		return false;
	cl->final_printed = true;
	const env_launch *l = &cl->launch;
	int sig = atomic_load(&cl->signal);
	if (l->status == 0) {
		cl_say("Job '%s' (%s) FINISHED in %lld ms", l->job_name, l->job_id,
		    (long long)l->runtime_ms);
		*code = 0;
	} else if (l->status == FL_ECANCELED) {
		if (l->job_id[0])
			cl_say("Job '%s' (%s) CANCELED after %lld ms", l->job_name, l->job_id,
			    (long long)l->runtime_ms);
		else
			cl_say("Job '%s' CANCELED before it started", l->job_name);
		*code = sig ? 128 + sig : 1;
	} else {
		cl_say("Job '%s'%s%s%s FAILED: %s", l->job_name, l->job_id[0] ? " (" : "", l->job_id,
		    l->job_id[0] ? ")" : "", l->error);
		*code = 1;
	}
	return true;
}

/* ------------------------------------------------------------ signals */

/*
 * The signal thread: the first SIGINT/SIGTERM/SIGHUP cancels the running
 * job (the main thread then prints CANCELED and exits 128+N: 130, 143,
 * 129), or exits at once when no job runs (fl_execute refuses to start one
 * after the request); a second one exits at once. SIGHUP is SIGTERM's
 * twin: a closed terminal cancels the job cleanly (its output is removed,
 * nothing half-written looks committed) instead of killing the process.
 */
static void *signal_main(void *arg)
{
	cl_client *cl = arg;
	for (;;) {
		int sig = 0;
		if (sigwait(&cl->sigs, &sig) != 0)
			continue;
		if (atomic_load(&cl->quit))
			return NULL;
		int none = 0;
		bool first = atomic_compare_exchange_strong(&cl->signal, &none, sig);
		pthread_mutex_lock(&cl->mu);
		bool over = cl->final_printed;
		if (!first) {
			if (!over && cl->remote && cl->job_id[0])
				cl_say("Exiting at once on a second %s; job %s may still be running "
				    "on the cluster (flinc cancel -m %s %s cancels it)",
				    signal_name(sig), cl->job_id, cl->remote_addr, cl->job_id);
			else if (!over)
				cl_say("Exiting at once on a second %s, without waiting for the job "
				    "to be cancelled",
				    signal_name(sig));
			_exit(128 + sig);
		}
		if (over) {
			/* The run has ended; its status stands. */
			pthread_mutex_unlock(&cl->mu);
			continue;
		}
		if (cl->remote) {
			/* The main thread decides: abort a request, cancel the job,
			 * ask, or leave it running (session.h). */
			if (cl->cancel_ready)
				cm_cancel_request(&cl->cancel);
			pthread_mutex_unlock(&cl->mu);
			continue;
		}
		if (cl->cancel_ready)
			cm_cancel_request(&cl->cancel);
		if (!atomic_load(&cl->launch.running)) {
			cl_say("Interrupted by %s while no job was running: exiting",
			    signal_name(sig));
			_exit(128 + sig);
		}
		cl_say("Cancelling the job (%s); %s", signal_name(sig),
		    sig == SIGINT ? "press Ctrl-C again to exit at once"
				  : "a second signal exits at once");
		pthread_mutex_unlock(&cl->mu);
	}
}

/*
 * SIGPIPE's handler: nothing, so that a write to a closed pipe fails with
 * EPIPE. Not SIG_IGN: an ignored signal stays ignored across exec, and a
 * process the job starts (`sort | head`) would then see EPIPE errors where
 * it expects to die quietly; a handler is reset to the default by exec.
 */
static void on_sigpipe(int sig)
{
	(void)sig;
}

/* The signals the signal thread takes, unless ignored at start. */
static const int client_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define NCLIENT_SIGNALS (sizeof(client_signals) / sizeof(client_signals[0]))

/*
 * Blocks SIGINT, SIGTERM and SIGHUP in the calling thread, and so in every
 * thread it starts afterwards, and catches SIGPIPE (on_sigpipe). A signal
 * that was ignored when the client started (nohup, a background job of a
 * non-interactive shell) stays ignored, as a shell's convention asks;
 * SIGPIPE too (a write still fails with EPIPE).
 */
static void take_signals(cl_client *cl)
{
	sigemptyset(&cl->sigs);
	for (size_t i = 0; i < NCLIENT_SIGNALS; i++) {
		struct sigaction old;
		if (sigaction(client_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN &&
		    !(old.sa_flags & SA_SIGINFO))
			continue;
		sigaddset(&cl->sigs, client_signals[i]);
	}
	pthread_sigmask(SIG_BLOCK, &cl->sigs, NULL);
	struct sigaction prev;
	if (sigaction(SIGPIPE, NULL, &prev) == 0 && prev.sa_handler == SIG_IGN &&
	    !(prev.sa_flags & SA_SIGINFO))
		return;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigpipe;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
}

/* One of the signals the signal thread waits for, or 0 if all are ignored. */
static int a_taken_signal(const cl_client *cl)
{
	for (size_t i = 0; i < NCLIENT_SIGNALS; i++)
		if (sigismember(&cl->sigs, client_signals[i]) == 1)
			return client_signals[i];
	return 0;
}

/* Starts the signal thread, unless every signal is ignored. Main thread. */
static void start_signal_thread(cl_client *cl)
{
	if (!a_taken_signal(cl))
		return;
	atomic_store(&cl->quit, false);
	cl->sig_started = pthread_create(&cl->sig_thread, NULL, signal_main, cl) == 0;
}

/* Ends and joins the signal thread: it is woken by one of its own signals
 * with quit set. A real signal arriving now is dropped: the run is over. */
static void stop_signal_thread(cl_client *cl)
{
	if (!cl->sig_started)
		return;
	atomic_store(&cl->quit, true);
	pthread_kill(cl->sig_thread, a_taken_signal(cl));
	pthread_join(cl->sig_thread, NULL);
	cl->sig_started = false;
}

/* -------------------------------------------------------------- exit() */

/*
 * Runs at exit(): while a job runs, exit() can only come from user code
 * (the client never calls it then), and the job must not look like a
 * success: FAILED, exit status 1. When main() called exit() after its jobs,
 * the final line it skipped is printed here.
 */
static void at_exit(int status, void *arg)
{
	cl_client *cl = arg;
	if (!cl->active)
		return;
	if (atomic_load(&cl->launch.running)) {
		pthread_mutex_lock(&cl->mu);
		const char *id =
		    cl->job_of == atomic_load(&cl->launch.executions) ? cl->job_id : "";
		char why[64];
		if (status == INT32_MIN)
			snprintf(why, sizeof(why), "exit()");
		else
			snprintf(why, sizeof(why), "exit(%d)", status);
		if (!cl->final_printed)
			cl_say("Job '%s'%s%s%s FAILED: the process exited (%s called from user code?) "
			    "while the job was running",
			    cl->launch.job_name, id[0] ? " (" : "", id, id[0] ? ")" : "", why);
		cl->final_printed = true;
		_exit(1);
	}
	if (cl->launch.mode != ENV_LAUNCH_LOCAL || atomic_load(&cl->launch.executions) == 0)
		return;
	pthread_mutex_lock(&cl->mu);
	int code = 0;
	bool printed = final_line_locked(cl, &code);
	pthread_mutex_unlock(&cl->mu);
	if (printed && code != 0)
		_exit(code);
}

/* Registers at_exit; glibc's on_exit also tells it the exit status. */
#if defined(__GLIBC__)
static void register_exit_handler(void)
{
	on_exit(at_exit, &client);
}
#else
static void at_exit_plain(void)
{
	at_exit(INT32_MIN, &client);
}

static void register_exit_handler(void)
{
	atexit(at_exit_plain);
}
#endif

/* ------------------------------------------------------- start and log */

/*
 * Reopens descriptors 0, 1 and 2 on /dev/null when they are closed, so that
 * stdout never aliases a descriptor the runtime opens later. A closed
 * stdout is reopened read-only: a print sink then fails (EBADF, as on the
 * closed descriptor) instead of its output vanishing into /dev/null.
 * Returns a bit mask of the descriptors that were closed.
 */
static int reopen_std_fds(void)
{
	int closed = 0;
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		int nfd = open("/dev/null", fd == 2 ? O_WRONLY : O_RDONLY);
		if (nfd >= 0 && nfd != fd) {
			dup2(nfd, fd);
			close(nfd);
		}
		closed |= 1 << fd;
	}
	return closed;
}

/* The user name for the default log file: [A-Za-z0-9._-] only. */
static void user_name(char *buf, size_t cap)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];
	const char *name = NULL;
	if (getpwuid_r(geteuid(), &pw, tmp, sizeof(tmp), &res) == 0 && res)
		name = res->pw_name;
	if (!name || !*name)
		name = getenv("USER");
	if (!name || !*name) {
		snprintf(buf, cap, "%lu", (unsigned long)geteuid());
		return;
	}
	size_t n = 0;
	for (const char *p = name; *p && n + 1 < cap; p++)
		buf[n++] = (strchr("._-", *p) || (*p >= 'a' && *p <= 'z') ||
			    (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
			       ? *p
			       : '_';
	buf[n] = '\0';
}

/* Flink's default client log: flink-${USER}-client-${HOSTNAME}.log, here
 * under ${TMPDIR:-/tmp} since there is no installation log directory.
 * Returns 0, or -1 when it does not fit in cap (a very long TMPDIR). */
static int default_log_path(char *buf, size_t cap)
{
	char user[64], host[256];
	user_name(user, sizeof(user));
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	for (char *p = host; *p; p++)
		if (*p == '/')
			*p = '_';
	const char *tmp = getenv("TMPDIR");
	if (!tmp || tmp[0] != '/')
		tmp = "/tmp";
	size_t tl = strlen(tmp);
	while (tl > 1 && tmp[tl - 1] == '/')
		tl--;
	int n = snprintf(buf, cap, "%.*s/flinc-%s-client-%s.log", (int)tl, tmp, user, host);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* The command line for the log file's header: -D values of sensitive keys
 * hidden, each argument cut at 200 bytes. */
static void command_line(int argc, char **argv, char *buf, size_t cap)
{
	size_t len = 0;
	buf[0] = '\0';
	for (int i = 0; i < argc && len + 1 < cap; i++) {
		const char *a = argv[i];
		char hidden[CM_ERR_MSG_MAX];
		const char *kv = NULL;
		if (strncmp(a, "-D", 2) == 0 && a[2])
			kv = a + 2;
		else if (i > 0 && strcmp(argv[i - 1], "-D") == 0)
			kv = a;
		const char *eq = kv ? strchr(kv, '=') : NULL;
		if (kv && (eq ? (size_t)(eq - kv) < 256 : strlen(kv) < 256)) {
			char key[256];
			size_t kl = eq ? (size_t)(eq - kv) : strlen(kv);
			memcpy(key, kv, kl);
			key[kl] = '\0';
			if (cfg_is_sensitive(key)) {
				snprintf(hidden, sizeof(hidden), "%s%s=%s", a == kv ? "" : "-D",
					 key, CFG_HIDDEN);
				a = hidden;
			}
		}
		int n = snprintf(buf + len, cap - len, "%s%.200s%s", i ? " " : "", a,
				 strlen(a) > 200 ? "..." : "");
		if (n < 0)
			break;
		len += (size_t)n;
	}
}

/*
 * Sends the INFO log of a run to its file and keeps stderr for warnings and
 * errors, or, with verbose, leaves everything on stderr. A file that cannot
 * be used is a warning: the log then goes to stderr.
 */
static void setup_log(cl_client *cl, const cfg *conf, bool verbose, int argc, char **argv)
{
	if (verbose)
		return;
	/* A path cut short would name another file: refused instead. */
	char path[4096];
	const char *configured = NULL;
	if (cfg_get_string(conf, CFG_LOG_FILE, &configured) == 0 && configured && *configured) {
		if (strlen(configured) >= sizeof(path)) {
			CM_WARN("client",
				"log file '%.200s...' (" CFG_LOG_FILE ") is longer than %zu bytes: "
				"refused; the log goes to stderr instead",
				configured, sizeof(path) - 1);
			return;
		}
		memcpy(path, configured, strlen(configured) + 1);
	} else if (default_log_path(path, sizeof(path)) != 0) {
		const char *tmp = getenv("TMPDIR"); /* only a long one fails */
		CM_WARN("client",
			"the default log file under TMPDIR '%.200s...' would be longer than %zu "
			"bytes: set " CFG_LOG_FILE " to a shorter path; the log goes to stderr "
			"instead",
			tmp ? tmp : "", sizeof(path) - 1);
		return;
	}
	cm_err err = {0};
	if (cm_log_set_file(path, &err) != 0) {
		CM_WARN("client", "%s; the log goes to stderr instead", err.msg);
		return;
	}
	cm_log_set_stderr_level(CM_LOG_WARN);
	atomic_store(&cl->logging_to_file, true);
	char cmd[3000];
	command_line(argc, argv, cmd, sizeof(cmd));
	cm_log_file_note("client", "==== flinc %d.%d.%d client, pid %ld: %s", FLINC_VERSION_MAJOR,
			 FLINC_VERSION_MINOR, FLINC_VERSION_PATCH, (long)getpid(), cmd);
	cl_say("Log file: %s", path);
}

/* $FLINC_CONF_DIR/flinc.yaml when no -c FILE (cfg_default_file's rules). */
static int default_config_file(char *path, size_t cap, const char **out)
{
	bool found = false;
	cm_err err = {0};
	*out = NULL;
	if (cfg_default_file(path, cap, &found, &err) != 0)
		return die("%s", err.msg);
	if (found)
		*out = path;
	return 0;
}

/* --------------------------------------------------------------- main */

/*
 * run (on a session cluster), list, cancel and savepoint: the JobManager's address
 * (-m, else the configuration) and client.timeout, then session.c does the
 * talking. The signal thread requests cl->cancel; session.c decides what
 * a signal means. Returns the exit status.
 */
static int cluster_command(cl_client *cl, const cl_args *a, const cfg *conf, int argc,
			   char **argv)
{
	cm_err err = {0};
	cl_session s = {0};
	if (a->kubernetes) {
		char hostport[300];
		int64_t port = 0;
		if (cl_k8s_rest_address(conf, hostport, sizeof(hostport), &err) != 0)
			return die("%s", err.msg);
		if (cfg_get_int(conf, CFG_REST_PORT, &port) != 0)
			port = 0;
		if (cl_address_parse(hostport, (int)port, &s.addr, &err) != 0)
			return die("%s", err.msg);
	} else if (a->jobmanager) {
		int64_t port = 0;
		if (cfg_get_int(conf, CFG_REST_PORT, &port) != 0)
			port = 0;
		if (cl_address_parse(a->jobmanager, (int)port, &s.addr, &err) != 0)
			return die("%s", err.msg);
	} else if (cl_address_from_config(conf, &s.addr, &err) != 0) {
		return die("%s", err.msg);
	}
	if (cfg_get_duration_ms(conf, CFG_CLIENT_TIMEOUT, &s.timeout_ms) != 0)
		s.timeout_ms = 60000;
	s.verbose = a->verbose;
	s.progress = !a->no_progress && isatty(STDERR_FILENO);
	if (cm_cancel_init(&cl->cancel) != 0)
		return die("out of memory");
	pthread_mutex_lock(&cl->mu);
	cl->cancel_ready = true;
	cl->remote = true;
	snprintf(cl->remote_addr, sizeof(cl->remote_addr), "%s", s.addr.shown);
	pthread_mutex_unlock(&cl->mu);
	s.cancel = &cl->cancel;
	s.signal = &cl->signal;
	s.arg = cl;
	s.submitted = on_remote_submitted;
	if (a->cmd == CL_CMD_LIST)
		return cl_session_list(&s, a->list);
	if (a->cmd == CL_CMD_CANCEL)
		return cl_session_cancel(&s, argv[a->first]);
	if (a->cmd == CL_CMD_STOP)
		return cl_session_stop(&s, argv[a->first], a->savepoint_path, a->drain);
	if (a->cmd == CL_CMD_SAVEPOINT && a->dispose)
		return cl_session_dispose(&s, a->dispose);
	if (a->cmd == CL_CMD_SAVEPOINT)
		return cl_session_savepoint(&s, argv[a->first],
					    a->first + 1 < argc ? argv[a->first + 1] : NULL);
	cl_submit job = {.job_file = argv[a->first],
			 .args = argv + a->first + 1,
			 .nargs = (size_t)(argc - a->first - 1),
			 .parallelism = a->parallelism,
			 .conf = a->dyn,
			 .nconf = a->ndyn,
			 .detached = a->detached,
			 .sae = a->sae,
			 .restore = {.path = a->from_savepoint,
				     .allow_non_restored = a->allow_non_restored,
				     .mode = a->restore_mode}};
	return cl_session_run(&s, &job);
}

/* The client: parses, configures, then either loads the job and runs its
 * main() (run --local, plan, info) or talks to a session cluster (run,
 * list, cancel). Returns the process exit status. Called once per process,
 * on its main thread. */
static int cli_main(int argc, char **argv)
{
	cl_client *cl = &client;
	/* A fresh state (fl_program_main may be called again in one process). */
	memset(&cl->launch, 0, sizeof(cl->launch));
	cl->job_id[0] = '\0';
	cl->job_of = 0;
	cl->final_printed = false;
	atomic_store(&cl->logging_to_file, false);
	atomic_store(&cl->signal, 0);
	/* First, before any thread exists: every thread inherits the mask. */
	int closed = reopen_std_fds();
	take_signals(cl);
	cm_crash_install();
	cm_crash_thread_init();
	start_signal_thread(cl);
	static bool exit_handler;
	if (!exit_handler) {
		register_exit_handler();
		exit_handler = true;
	}

	int rc = 0;
	cfg *conf = NULL;
	cm_err err = {0};
	cl_args args;
	int prc = cl_args_parse(argc, argv, &args, &err);
	if (prc == FL_ENOENT) {
		if (argc >= 2)
			fprintf(stderr, "flinc: %s\n\n", err.msg);
		usage(stderr);
		rc = 2;
		goto done;
	}
	if (prc != 0) {
		rc = die("%s", err.msg);
		goto done;
	}
	if (args.cmd == CL_CMD_HELP) {
		usage(stdout);
		goto done;
	}
	if (args.cmd == CL_CMD_VERSION) {
		printf("flinc %d.%d.%d\n", FLINC_VERSION_MAJOR, FLINC_VERSION_MINOR, FLINC_VERSION_PATCH);
		goto done;
	}
	bool is_plan = args.cmd == CL_CMD_PLAN;
	bool progress = !args.no_progress && isatty(STDERR_FILENO);
	if (cfg_new(&conf) != 0) {
		rc = die("out of memory");
		goto done;
	}

	/* Configuration: file, then -D, then -p. */
	const char *config_file = args.config_file;
	char path[4096];
	if (!config_file && (rc = default_config_file(path, sizeof(path), &config_file)) != 0)
		goto done;
	if (config_file && cfg_load_file(conf, config_file, &err) != 0) {
		rc = die("%s", err.msg);
		goto done;
	}
	for (size_t k = 0; k < args.ndyn; k++) {
		/* The message names the key and at most 80 bytes of the value
		 * (none of a secret's): the argument itself may be 100 KB. */
		if (cfg_set_dynamic(conf, args.dyn[k], &err) != 0) {
			rc = die("%s", err.msg);
			goto done;
		}
	}
	if (args.parallelism > 0) {
		char p[16];
		snprintf(p, sizeof(p), "%d", args.parallelism);
		if (cfg_set(conf, CFG_PARALLELISM, p, &err) != 0) {
			rc = die("%s", err.msg);
			goto done;
		}
	}
	/* What the job starts from, over -D as in Flink's CLI (a run on a
	 * cluster sends them in its request instead). */
	if ((args.from_savepoint &&
	     cfg_set(conf, CFG_SAVEPOINT_PATH, args.from_savepoint, &err) != 0) ||
	    (args.allow_non_restored &&
	     cfg_set(conf, CFG_SAVEPOINT_IGNORE_UNCLAIMED, "true", &err) != 0) ||
	    (args.restore_mode &&
	     cfg_set(conf, CFG_SAVEPOINT_RESTORE_MODE, args.restore_mode, &err) != 0)) {
		rc = die("%s", err.msg);
		goto done;
	}
	const char *level = NULL;
	enum cm_log_level lv;
	if (cfg_is_set(conf, CFG_LOG_LEVEL) && cfg_get_string(conf, CFG_LOG_LEVEL, &level) == 0 &&
	    cm_log_parse_level(level, &lv) == 0)
		cm_log_set_level(lv);
	if (args.cmd != CL_CMD_PLAN && !(args.cmd == CL_CMD_RUN && args.local)) {
		rc = cluster_command(cl, &args, conf, argc, argv);
		goto done;
	}
	if (!is_plan)
		setup_log(cl, conf, args.verbose, argc, argv);
	if (closed & 2)
		CM_WARN("client",
			"stdout (descriptor 1) was closed when flinc started: it now reads from "
			"/dev/null, so that no other file takes its place; a print sink fails "
			"with 'Bad file descriptor': stdout is closed");

	/* Load the job. RTLD_LOCAL: its symbols stay out of the global scope,
	 * so its functions are shipped by library path + name. */
	int i = args.first;
	const char *job = argv[i];
	char *real = realpath(job, NULL);
	if (!real) {
		rc = die("cannot load job '%s': %s", job, strerror(errno));
		goto done;
	}
	void *h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		rc = die("cannot load job '%s': %s", job, dlerror());
		free(real);
		goto done;
	}
	int (*job_main)(int, char **) = (int (*)(int, char **))dlsym(h, "main");
	if (!job_main) {
		rc = die("'%s' has no main() function: a job is a shared object whose "
			 "main(argc, argv) builds the dataflow and calls fl_execute()",
			 job);
		free(real);
		goto done;
	}
	if (cm_cancel_init(&cl->cancel) != 0) {
		free(real);
		rc = die("out of memory");
		goto done;
	}
	env_launch *l = &cl->launch;
	l->mode = is_plan ? ENV_LAUNCH_PLAN : ENV_LAUNCH_LOCAL;
	l->config = conf;
	l->plan_format = args.dot ? ENV_PLAN_DOT
			 : strcmp(args.name, "info") == 0 ? ENV_PLAN_FLINK_INFO
							  : ENV_PLAN_TEXT;
	l->listener = (jm_listener){.arg = cl,
				    .submitted = is_plan ? NULL : on_submitted,
				    .progress = progress && !is_plan ? print_progress : NULL,
				    .cancel = &cl->cancel};
	pthread_mutex_lock(&cl->mu);
	cl->cancel_ready = true;
	cl->active = true;
	pthread_mutex_unlock(&cl->mu);
	env_launch_install(l);
	int main_rc = job_main(argc - i, argv + i);
	env_launch_install(NULL);
	free(real);
	/* The job .so stays loaded: dlclose could unmap code that libc still
	 * references through atexit or thread-local destructors. */
	pthread_mutex_lock(&cl->mu);
	if (atomic_load(&l->executions) == 0) {
		cl->final_printed = true;
		pthread_mutex_unlock(&cl->mu);
		rc = die("the main() of '%s' returned %d without calling fl_execute(): no job ran", job,
			 main_rc);
		goto done;
	}
	if (is_plan) {
		cl->final_printed = true;
		pthread_mutex_unlock(&cl->mu);
		rc = l->status == 0 ? 0 : (fprintf(stderr, "flinc: %s\n", l->error), 1);
		goto done;
	}
	final_line_locked(cl, &rc);
	pthread_mutex_unlock(&cl->mu);
	if (rc == 0 && main_rc != 0)
		rc = 1;
done:
	stop_signal_thread(cl);
	pthread_mutex_lock(&cl->mu);
	if (cl->cancel_ready) {
		cl->cancel_ready = false;
		cm_cancel_fini(&cl->cancel);
	}
	cl->active = false;
	cl->remote = false;
	pthread_mutex_unlock(&cl->mu);
	cm_log_set_file(NULL, NULL);
	cm_crash_thread_fini();
	cl_args_fini(&args);
	cfg_free(conf);
	return rc;
}

FL_API int fl_program_main(const char *program, int argc, char **argv)
{
	if ((!program || strcmp(program, "flinc") == 0) && argc >= 2 && cl_k8s_is_command(argv[1]))
		return cl_k8s_main(argc, argv);
	if (!program || strcmp(program, "flinc") == 0)
		return cli_main(argc, argv);
	if (strcmp(program, "flinc-taskmanager") == 0)
		return tm_process_main(argc, argv);
	if (strcmp(program, "flinc-jobmanager") == 0)
		return jm_process_main(argc, argv);
	fprintf(stderr, "flinc: unknown program '%s'\n", program);
	return 2;
}
