/*
 * process.c — flinc-jobmanager: the JobManager process (Flink's
 * ClusterEntrypoint). It serves the control RPC endpoint on
 * jobmanager.rpc.port (TaskManagers register with its ResourceManager and
 * report to its JobMasters there) and the REST API on rest.port, and runs
 * either as a session cluster (jobs come through the REST API, the process
 * stays up) or, with --application JOB.so, as an application cluster: the
 * job's main() runs here, each fl_execute going straight to the
 * Dispatcher, and the process exits with the job's result when main()
 * returns (unless execution.shutdown-on-application-finish is false).
 *
 * SIGTERM, SIGINT or SIGHUP: cancels every job, waits for them, exits 0.
 */
#include "jobmanager/process.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/daemon.h"
#include "common/clock.h"
#include "common/crash.h"
#include "common/log.h"
#include "jobmanager/dispatcher.h"
#include "jobmanager/ha.h"
#include "jobmanager/kubernetes.h"
#include "jobmanager/resourcemanager.h"
#include "jobmanager/web.h"
#include "rest/rest.h"
#include "rpc/nng.h"

struct jmp {
	cfg *config;
	cm_secret secret;
	char cluster_id[64];
	rm_resourcemanager *rm;
	jm_k8s *k8s; /* on Kubernetes: TaskManager pods, the cluster's deletion */
	jm_ha *ha;   /* high availability: leadership, the jobs' records */
	_Atomic(ds_dispatcher *) ds;
	rpc_server *server;
	rest_server *rest;
	char upload_dir[4096];
	bool made_upload_dir;
	sigset_t signals;
	_Atomic int stop_signal;
	atomic_bool exiting;
};

static int blob_trampoline(void *arg, const char *hash, uint64_t offset, uint8_t *buf, size_t cap,
			   size_t *n, uint64_t *total, cm_err *err)
{
	struct jmp *p = arg;
	ds_dispatcher *ds = atomic_load(&p->ds);
	if (!ds)
		return cm_err_set(err, FL_ENOENT, "the JobManager is starting");
	return ds_blob(ds, hash, offset, buf, cap, n, total, err);
}

/* The RPC endpoint starts before the Dispatcher (whose JobMasters must
 * know the endpoint's port): it serves this router, which forwards task
 * reports to the Dispatcher once there is one. */
struct router {
	rpc_jm_gateway base;
	struct jmp *p;
};

/* The Dispatcher's gateway, or NULL having answered done. */
static rpc_jm_gateway *router_target(rpc_jm_gateway *g, rpc_done_fn done, void *arg)
{
	ds_dispatcher *ds = atomic_load(&((struct router *)g)->p->ds);
	if (!ds && done)
		done(arg, FL_ENOENT, "the JobManager runs no jobs yet", NULL, 0);
	return ds ? ds_gateway(ds) : NULL;
}

static void router_task_state(rpc_jm_gateway *g, const char *resource_id, const char *job_id,
			      uint64_t attempt, int vertex, int subtask, int state,
			      const char *error, rpc_done_fn done, void *arg)
{
	rpc_jm_gateway *t = router_target(g, done, arg);
	if (t)
		t->ops->task_state(t, resource_id, job_id, attempt, vertex, subtask, state, error,
				   done, arg);
}

static void router_ack_checkpoint(rpc_jm_gateway *g, const char *resource_id, const char *job_id,
				  uint64_t attempt, int vertex, int subtask, uint64_t id,
				  const uint8_t *states, size_t len, const char *decline,
				  rpc_done_fn done, void *arg)
{
	rpc_jm_gateway *t = router_target(g, done, arg);
	if (t)
		t->ops->ack_checkpoint(t, resource_id, job_id, attempt, vertex, subtask, id, states,
				       len, decline, done, arg);
}

static void router_free(rpc_jm_gateway *g)
{
	(void)g;
}

static const struct rpc_jm_gateway_ops router_ops = {
    .task_state = router_task_state, .ack_checkpoint = router_ack_checkpoint, .free = router_free};

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL)
			if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
				unlinkat(dirfd(d), e->d_name, 0);
		closedir(d);
	}
	rmdir(dir);
}

static const char *signal_name(int sig)
{
	return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "SIGHUP";
}

/* Application mode: while main() runs on the main thread, this thread
 * takes the signals and cancels the jobs. jm_process_main wakes it with a
 * thread-directed SIGTERM (exiting set) when it no longer needs it. */
static void *signal_main(void *arg)
{
	struct jmp *p = arg;
	int sig = 0;
	while (sigwait(&p->signals, &sig) != 0 || sig <= 0)
		;
	if (atomic_load(&p->exiting))
		return NULL;
	atomic_store(&p->stop_signal, sig);
	CM_INFO("jobmanager", "Received %s: cancelling the application's jobs", signal_name(sig));
	ds_dispatcher *ds = atomic_load(&p->ds);
	if (ds && p->ha)
		ds_suspend_all(ds);
	else if (ds)
		ds_cancel_all(ds);
	return NULL;
}

/* Leadership lost while running: stop as on SIGTERM (the jobs are
 * suspended, not ended); the Deployment starts this JobManager again, as
 * a candidate. */
static void ha_lost(void *arg)
{
	(void)arg;
	CM_ERROR("jobmanager", "Leadership lost: suspending the jobs and stopping");
	kill(getpid(), SIGTERM);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: flinc-jobmanager [--config FILE] [-D key=value]... [-s PATH [-n] [-rm "
		"CLAIM|NO_CLAIM]]\n"
		"                        [--application JOB.so [-- job args]]\n"
		"\n"
		"Without --application: a session cluster; jobs are submitted through the REST\n"
		"API on rest.port (flinc run -m HOST:PORT JOB.so). With --application: runs the\n"
		"job's main() here and exits with its result; -s/--fromSavepoint starts it from\n"
		"a savepoint, -n/--allowNonRestoredState skips state of operators it no longer\n"
		"has, -rm/--restoreMode says whether it takes over the savepoint's files.\n"
		"TaskManagers register at jobmanager.rpc.port (default 6123).\n");
}

int jm_process_main(int argc, char **argv)
{
	struct jmp p = {0};
	cl_daemon_signals(&p.signals);
	cm_crash_install();
	cm_crash_thread_init();
	cl_daemon_args a;
	cm_err err = {0};
	if (cl_daemon_args_parse(&a, argc, argv, true, &err) != 0) {
		fprintf(stderr, "flinc-jobmanager: %s\n", err.msg);
		return 2;
	}
	if (a.help) {
		usage(stdout);
		cl_daemon_args_fini(&a);
		return 0;
	}
	p.config = a.config;
	int status = 1;
	ds_dispatcher *ds = NULL;
	const char *id = "default", *rpc_host = "localhost", *bind = "", *rest_bind = "",
		   *rest_host = "", *upload = "";
	int64_t rpc_port = 6123, rest_port = 8081, hb_timeout = 50000, max_body = 100 << 20;
	cfg_get_string(p.config, CFG_CLUSTER_ID, &id);
	cfg_get_string(p.config, CFG_JM_RPC_ADDRESS, &rpc_host);
	cfg_get_int(p.config, CFG_JM_RPC_PORT, &rpc_port);
	cfg_get_string(p.config, CFG_JM_BIND_HOST, &bind);
	cfg_get_string(p.config, CFG_REST_BIND_ADDRESS, &rest_bind);
	cfg_get_string(p.config, CFG_REST_ADDRESS, &rest_host);
	cfg_get_int(p.config, CFG_REST_PORT, &rest_port);
	cfg_get_duration_ms(p.config, CFG_HEARTBEAT_TIMEOUT, &hb_timeout);
	int64_t hb_interval = 10000, hb_failures = 2;
	cfg_get_duration_ms(p.config, CFG_HEARTBEAT_INTERVAL, &hb_interval);
	cfg_get_int(p.config, CFG_HEARTBEAT_FAILURES, &hb_failures);
	cfg_get_memory_bytes(p.config, CFG_REST_MAX_CONTENT, &max_body);
	cfg_get_string(p.config, CFG_WEB_UPLOAD_DIR, &upload);
	snprintf(p.cluster_id, sizeof(p.cluster_id), "%s", id);
	char where[4400];
	if (cl_cluster_secret(p.config, true, &p.secret, where, sizeof(where), &err) != 0) {
		CM_ERROR("jobmanager", "%s", err.msg);
		goto out;
	}
	if (*upload) {
		snprintf(p.upload_dir, sizeof(p.upload_dir), "%s", upload);
		if (mkdir(p.upload_dir, 0700) != 0 && errno != EEXIST) {
			CM_ERROR("jobmanager", "cannot create web.upload.dir %s: %s", p.upload_dir,
				 strerror(errno));
			goto out;
		}
	} else {
		const char *tmp = getenv("TMPDIR");
		snprintf(p.upload_dir, sizeof(p.upload_dir), "%s/flinc-web-XXXXXX",
			 tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(p.upload_dir)) {
			CM_ERROR("jobmanager", "cannot create an upload directory: %s",
				 strerror(errno));
			goto out;
		}
		p.made_upload_dir = true;
	}
	rm_options ro = {.secret = &p.secret,
			 .cluster_id = p.cluster_id,
			 .heartbeat_timeout_ms = hb_timeout,
			 .unreachable_ms = hb_failures > 0 ? hb_failures * hb_interval : 0,
			 /* Flink's rpc timeout (10 s), shorter with a shorter
			  * heartbeat.timeout: a call in flight to a TaskManager
			  * that died holds its job's end until it times out. */
			 .rpc_timeout_ms =
			     hb_timeout < 10000 ? (hb_timeout > 1000 ? hb_timeout : 1000) : 10000,
			 .blob = blob_trampoline,
			 .blob_arg = &p};
	if (rm_new(&p.rm, &ro, &err) != 0) {
		CM_ERROR("jobmanager", "%s", err.msg);
		goto out;
	}
	/* The RPC endpoint: TaskManagers register here and report to the
	 * JobMasters here (the dispatcher routes by job id). */
	const char *bind_host = *bind ? bind : "0.0.0.0";
	char url[300];
	snprintf(url, sizeof(url), "tcp://%s:%lld", bind_host, (long long)rpc_port);
	struct router router = {.base.ops = &router_ops, .p = &p};
	if (rpc_server_new(&p.server, url, NULL, &router.base, rm_gateway(p.rm), NULL, &p.secret,
			   p.cluster_id, &err) != 0) {
		CM_ERROR("jobmanager", "%s (jobmanager.rpc.port)", err.msg);
		goto out;
	}
	/* How TaskManagers reach the JobMasters: the configured address with
	 * the bound port. */
	const char *bound = strrchr(rpc_server_address(p.server), ':');
	char jm_address[300];
	snprintf(jm_address, sizeof(jm_address), "tcp://%s%s", rpc_host, bound ? bound : ":6123");
	char rest_address[300];
	snprintf(rest_address, sizeof(rest_address), "http://%s:%lld",
		 *rest_host ? rest_host : rpc_host, (long long)rest_port);
	if (jm_ha_wanted(p.config) && jm_ha_start(&p.ha, p.config, ha_lost, &p, &err) != 0) {
		CM_ERROR("jobmanager", "cannot run with high availability: %s", err.msg);
		goto out;
	}
	ds_options dopt = {.config = p.config,
			   .rm = p.rm,
			   .jm_address = jm_address,
			   .upload_dir = p.upload_dir,
			   .rest_address = rest_address,
			   .ha = p.ha};
	if (ds_new(&ds, &dopt, &err) != 0) {
		CM_ERROR("jobmanager", "%s", err.msg);
		goto out;
	}
	atomic_store(&p.ds, ds);
	rest_options rest_o = {.bind_host = *rest_bind ? rest_bind : rest_host,
			       .port = (int)rest_port,
			       .max_body = (size_t)max_body};
	char web_dir[4096] = "";
	if (rest_server_new(&p.rest, &rest_o, &err) != 0 || ds_rest_routes(ds, p.rest) != 0) {
		CM_ERROR("jobmanager", "cannot serve the REST API: %s",
			 err.msg[0] ? err.msg : "out of memory");
		goto out;
	}
	if (jm_web_serve(p.rest, p.config, web_dir, sizeof(web_dir), &err) != 0) {
		CM_ERROR("jobmanager", "cannot serve the web dashboard: %s",
			 err.msg[0] ? err.msg : "out of memory");
		goto out;
	}
	if (rest_server_start(p.rest, &err) != 0) {
		CM_ERROR("jobmanager",
			 "cannot serve the REST API: %s (rest.port, rest.bind-address)",
			 err.msg[0] ? err.msg : "out of memory");
		goto out;
	}
	CM_INFO("jobmanager",
		"JobManager of cluster '%s' up: RPC at %s (TaskManagers reach it as %s), REST API "
		"at port %d, secret from %s, uploads in %s",
		p.cluster_id, rpc_server_address(p.server), jm_address, rest_server_port(p.rest),
		where, p.upload_dir);
	if (web_dir[0])
		CM_INFO("jobmanager", "Web dashboard at / from %s", web_dir);
	else
		CM_INFO("jobmanager",
			"No web dashboard (scripts/fetch-web.sh fetches Flink's, or set "
			"web.static-dir): / answers 404");
	/* Tools (start-cluster.sh, tests) read the bound ports from here. */
	printf("flinc-jobmanager: rest port %d rpc %s\n", rest_server_port(p.rest),
	       rpc_server_address(p.server));
	fflush(stdout);
	/* High availability: nothing runs, and no TaskManager pod is made,
	 * until this JobManager leads (TaskManagers may register meanwhile). */
	if (p.ha) {
		int64_t t0 = cm_now_ms();
		CM_INFO("jobmanager", "Waiting for the leadership of cluster %s as %s",
			p.cluster_id, jm_ha_identity(p.ha));
		while (!jm_ha_await(p.ha, 200)) {
			struct timespec poll = {.tv_sec = 0};
			int got = sigtimedwait(&p.signals, NULL, &poll);
			if (got > 0) {
				CM_INFO("jobmanager",
					"Received %s while waiting for the leadership",
					signal_name(got));
				status = 0;
				goto out;
			}
		}
		CM_INFO("jobmanager", "Leader of cluster %s after %lld ms", p.cluster_id,
			(long long)(cm_now_ms() - t0));
	}
	if (jm_k8s_wanted(p.config) && jm_k8s_start(&p.k8s, p.config, p.rm, &err) != 0) {
		CM_ERROR("jobmanager", "cannot run on Kubernetes: %s", err.msg);
		goto out;
	}
	/* A session cluster's new leader runs the jobs its predecessor left. */
	if (p.ha && !a.application && ds_recover(ds, &err) != 0)
		CM_ERROR("jobmanager", "Cannot read the jobs to recover: %s", err.msg);
	pthread_t sig_thread;
	bool sig_thread_started = false;
	if (a.application) {
		sig_thread_started = pthread_create(&sig_thread, NULL, signal_main, &p) == 0;
		bool shutdown = true;
		cfg_get_bool(p.config, CFG_SHUTDOWN_ON_APP_FINISH, &shutdown);
		CM_INFO("jobmanager", "Running the application %s", a.application);
		int main_rc = 0, job_status = 0;
		int rc = ds_run_application(ds, a.application, a.job_argc, a.job_argv, &main_rc,
					    &job_status, &err);
		if (rc) {
			CM_ERROR("jobmanager", "The application failed: %s", err.msg);
			status = 1;
		} else if (job_status) {
			CM_ERROR("jobmanager", "The application's job did not finish: %s", err.msg);
			status = 1;
		} else {
			CM_INFO("jobmanager", "The application finished (main() returned %d)",
				main_rc);
			status = main_rc == 0 ? 0 : 1;
		}
		if (sig_thread_started) {
			atomic_store(&p.exiting, true);
			pthread_kill(sig_thread, SIGTERM);
			pthread_join(sig_thread, NULL);
		}
		int stopped = atomic_load(&p.stop_signal);
		if (stopped) {
			CM_INFO("jobmanager", "Stopped by %s", signal_name(stopped));
			goto out;
		}
		if (shutdown && p.ha) {
			/* The job is globally terminal: nothing is left to recover. */
			cm_err_clear(&err);
			if (jm_ha_cleanup(p.ha, &err) != 0)
				CM_WARN(
				    "jobmanager",
				    "Cannot remove the high-availability ConfigMaps: %s (kubectl "
				    "delete configmap -l app=%s,configmap-type=high-availability)",
				    err.msg, p.cluster_id);
		}
		if (shutdown && p.k8s) {
			/* As Flink: the application's end deletes its cluster. The
			 * Deployment would otherwise start the JobManager, and the
			 * job, again. */
			cm_err_clear(&err);
			if (jm_k8s_delete_cluster(p.k8s, &err) != 0) {
				CM_ERROR("jobmanager",
					 "Cannot delete the cluster: %s; staying up so that the "
					 "Deployment does not run the application again (kubectl "
					 "delete deployment removes it)",
					 err.msg);
				shutdown = false;
			} else {
				/* Until the garbage collector stops this pod: a
				 * process that exits first is restarted in place by
				 * the kubelet, and would run the job again. */
				struct timespec wait = {.tv_sec = 60};
				int got = sigtimedwait(&p.signals, NULL, &wait);
				if (got > 0)
					CM_INFO("jobmanager", "Received %s while the cluster is deleted",
						signal_name(got));
			}
		}
		if (shutdown)
			goto out;
		CM_INFO("jobmanager",
			"Staying up (execution.shutdown-on-application-finish is false)");
	}
	int sig = 0;
	while (sigwait(&p.signals, &sig) != 0 || sig <= 0)
		;
	CM_INFO("jobmanager", "Received %s: %s every job and shutting down", signal_name(sig),
		p.ha ? "suspending" : "cancelling");
	if (p.ha && ds)
		ds_suspend_all(ds);
	if (!a.application)
		status = 0;
out:
	/* REST first (no new jobs), then the jobs (their JobMasters still need
	 * the RPC endpoint, and the router, to hear their tasks end), then the
	 * endpoint: it returns once no request is being routed, so nothing
	 * reaches into the Dispatcher (a late task report, a blob read) while
	 * it is freed; then the ResourceManager, whose gateway the endpoint
	 * served too. */
	rest_server_free(p.rest);
	if (ds) {
		if (p.ha)
			ds_suspend_all(ds); /* what a successor needs stays */
		else
			ds_cancel_all(ds);
		if (!ds_wait(ds, 30000)) {
			CM_ERROR("jobmanager", "exiting with job main() functions still running");
			fflush(NULL);
			_exit(status ? status : 1);
		}
	}
	/* The jobs ended here: a successor may lead now, at once. */
	jm_ha_free(p.ha, true);
	p.ha = NULL;
	rpc_server_free(p.server);
	atomic_store(&p.ds, NULL);
	ds_free(ds, 0);
	jm_k8s_free(p.k8s);
	rm_free(p.rm);
	if (p.made_upload_dir)
		remove_dir(p.upload_dir);
	cm_secret_clear(&p.secret);
	cl_daemon_args_fini(&a);
	CM_INFO("jobmanager", "Stopped (exit %d)", status);
	cm_crash_thread_fini();
	return status;
}
