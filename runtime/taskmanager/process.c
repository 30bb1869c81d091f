/*
 * process.c — flinc-taskmanager: a TaskManager process (Flink's
 * TaskManagerRunner). It starts a TaskManager, serves its gateway on
 * taskmanager.rpc.port, registers with the ResourceManager at
 * jobmanager.rpc.address:jobmanager.rpc.port and heartbeats it; when the
 * JobManager goes away it keeps trying to register again (its jobs'
 * tasks are cancelled by the TaskManager's own JobMaster watch) and exits
 * after taskmanager.registration.timeout without one. User libraries named
 * "blob:<sha256>" in descriptors are fetched from the JobManager, checked
 * and kept in a private directory for the process's life.
 *
 * SIGTERM, SIGINT or SIGHUP: cancels every task, stops and exits 0.
 */
#include "taskmanager/process.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/daemon.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/crash.h"
#include "common/dirlock.h"
#include "common/log.h"
#include "common/procstat.h"
#include "common/sync.h"
#include "network/pool.h"
#include "rest/rest.h"
#include "rpc/nng.h"
#include "state/backend.h"
#include "taskmanager/taskmanager.h"

/* Most bytes a user library fetched from the JobManager may have. */
#define BLOB_MAX (1ull << 31)

struct tmp {
	cfg *config;
	cm_secret secret;
	char cluster_id[64];
	char jm_url[300];
	rpc_rm_gateway *rm;
	tm_taskmanager *tm;
	rpc_server *server;
	rest_server *metrics;
	char rpc_address[300];
	char blob_dir[4096];
	int blob_lock; /* the claim of blob_dir (common/dirlock.h), -1 none */
	pthread_mutex_t blob_mu; /* one fetch at a time */
};

/* ------------------------------------------------- synchronous calls */

struct sync_call {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int rc;
	char msg[512];
	uint8_t *payload;
	size_t len;
};

static void sync_done(void *arg, int rc, const char *msg, const uint8_t *payload, size_t len)
{
	struct sync_call *c = arg;
	uint8_t *copy = len ? malloc(len) : NULL;
	if (copy)
		memcpy(copy, payload, len);
	pthread_mutex_lock(&c->mu);
	c->rc = rc;
	snprintf(c->msg, sizeof(c->msg), "%s", msg ? msg : "");
	if (len && !copy && rc == 0) {
		c->rc = FL_ENOMEM;
		snprintf(c->msg, sizeof(c->msg), "out of memory");
	}
	c->payload = copy;
	c->len = copy ? len : 0;
	c->done = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void sync_init(struct sync_call *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	cm_cond_init(&c->cv);
}

/* Waits for the call's done (the gateway's timeout bounds it). */
static int sync_wait(struct sync_call *c)
{
	pthread_mutex_lock(&c->mu);
	while (!c->done)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
	return c->rc;
}

static void sync_fini(struct sync_call *c)
{
	free(c->payload);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
}

/* ------------------------------------------------------------- blobs */

static bool is_hash(const char *h)
{
	size_t n = 0;
	for (; h[n]; n++)
		if (!((h[n] >= '0' && h[n] <= '9') || (h[n] >= 'a' && h[n] <= 'f')))
			return false;
	return n == 64;
}

/* Fetches blob hash into the blob directory (blob_mu held). */
static int fetch_blob(struct tmp *p, const char *hash, const char *path, cm_err *err)
{
	char part[4200];
	if ((size_t)snprintf(part, sizeof(part), "%s.part", path) >= sizeof(part))
		return cm_err_set(err, FL_ERANGE, "blob path too long: %.200s...", path);
	int fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return cm_err_set(err, cm_err_from_errno(errno), "cannot write %s: %s", part,
				  strerror(errno));
	uint64_t off = 0, total = UINT64_MAX;
	int rc = 0;
	int64_t t0 = cm_now_ms();
	while (rc == 0 && off < total) {
		struct sync_call c;
		sync_init(&c);
		p->rm->ops->blob(p->rm, hash, off, sync_done, &c);
		rc = sync_wait(&c);
		if (rc) {
			cm_err_set(err, rc,
				   "cannot fetch the job library %.16s... from the JobManager: %s",
				   hash, c.msg);
			sync_fini(&c);
			break;
		}
		cm_rbuf r;
		cm_rbuf_init(&r, c.payload, c.len);
		uint64_t t = cm_rbuf_uvarint(&r);
		const uint8_t *chunk = NULL;
		size_t n = 0;
		cm_rbuf_bytes(&r, RPC_BLOB_CHUNK, &chunk, &n);
		if (cm_rbuf_end(&r) != 0 || t > BLOB_MAX || (total != UINT64_MAX && t != total) ||
		    (n == 0 && off < t) || off + n > t) {
			rc = cm_err_set(
			    err, FL_EPROTO,
			    "the JobManager sent a malformed chunk of job library %.16s...", hash);
			sync_fini(&c);
			break;
		}
		total = t;
		size_t w = 0;
		while (w < n) {
			ssize_t k = write(fd, chunk + w, n - w);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				rc = cm_err_set(err, FL_EIO, "cannot write %s: %s", part,
						strerror(errno));
				break;
			}
			w += (size_t)k;
		}
		off += n;
		sync_fini(&c);
	}
	if (rc == 0 && fsync(fd) != 0)
		rc = cm_err_set(err, FL_EIO, "cannot write %s: %s", part, strerror(errno));
	char got[65];
	if (rc == 0) {
		if (lseek(fd, 0, SEEK_SET) != 0) {
			rc = cm_err_set(err, FL_EIO, "cannot read back %s", part);
		} else {
			close(fd);
			fd = open(part, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0 || cm_sha256_fd(fd, got, NULL) != 0)
				rc = cm_err_set(err, FL_EIO, "cannot read back %s", part);
			else if (strcmp(got, hash) != 0)
				rc = cm_err_set(
				    err, FL_EPROTO,
				    "the job library fetched from the JobManager has hash "
				    "%s, not %s: refused",
				    got, hash);
		}
	}
	if (fd >= 0)
		close(fd);
	if (rc == 0 && rename(part, path) != 0)
		rc = cm_err_set(err, FL_EIO, "cannot publish %s: %s", path, strerror(errno));
	if (rc)
		unlink(part);
	else
		CM_INFO("taskmanager",
			"Fetched job library %s (%llu bytes) from the JobManager in %lld ms", hash,
			(unsigned long long)total, (long long)(cm_now_ms() - t0));
	return rc;
}

static int resolve_library(void *arg, const char *locator, char **path, cm_err *err)
{
	struct tmp *p = arg;
	*path = NULL;
	if (strncmp(locator, "blob:", 5) != 0) {
		/* A path: the library is in this TaskManager's image. */
		if (!(*path = strdup(locator)))
			return cm_err_set(err, FL_ENOMEM, "out of memory");
		return 0;
	}
	const char *hash = locator + 5;
	if (!is_hash(hash))
		return cm_err_set(err, FL_EINVAL, "bad job library locator '%.80s'", locator);
	char file[4200];
	snprintf(file, sizeof(file), "%s/%s.so", p->blob_dir, hash);
	pthread_mutex_lock(&p->blob_mu);
	int rc = 0;
	if (access(file, F_OK) != 0)
		rc = fetch_blob(p, hash, file, err);
	pthread_mutex_unlock(&p->blob_mu);
	if (rc)
		return rc;
	if (!(*path = strdup(file)))
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	return 0;
}

/*
 * What TaskManagers killed on this machine left behind (common/dirlock.h):
 * their job-library directories under tmp and their LMDB state directories
 * under each of taskmanager.state.local.root-dirs (or tmp).
 */
static void reap_leftovers(const cfg *config, const char *tmp)
{
	cm_dir_reap(tmp, "flinc-tm-blobs-");
	const char *dirs = "";
	if (config)
		cfg_get_string(config, CFG_STATE_LOCAL_DIRS, &dirs);
	if (!dirs || !*dirs) {
		cm_dir_reap(tmp, "flinc-state-");
		return;
	}
	char root[4096];
	size_t n = st_local_dir_count(dirs);
	for (size_t i = 0; i < n; i++)
		if (st_pick_local_dir(dirs, (unsigned)i, root, sizeof(root)) == 0 && root[0])
			cm_dir_reap(root, "flinc-state-");
}

/* -------------------------------------------------------- registration */

/* The ResourceManager's session id, the payload of its registration and
 * heartbeat replies. */
static int parse_session(const struct sync_call *c, char *session, size_t cap)
{
	cm_rbuf r;
	cm_rbuf_init(&r, c->payload, c->len);
	char *s = NULL;
	cm_rbuf_strdup(&r, 64, &s);
	int rc = cm_rbuf_end(&r) != 0 || !s ? FL_EPROTO : 0;
	if (rc == 0)
		snprintf(session, cap, "%s", s);
	free(s);
	return rc;
}

static int register_once(struct tmp *p, char *session, size_t cap, char *why, size_t whylen)
{
	int64_t cpu_milli = 0, mem = 0, managed = 0, net = 0, slots = 1;
	/* Fractions too: a Kubernetes pod of 0.2 CPU announces 0.2. */
	double cores = 0;
	cfg_get_double(p->config, CFG_TM_CPU_CORES, &cores);
	cpu_milli = (int64_t)llround(cores * 1000);
	if (cpu_milli <= 0)
		cpu_milli = sysconf(_SC_NPROCESSORS_ONLN) * 1000;
	cfg_get_memory_bytes(p->config, CFG_TM_PROCESS_SIZE, &mem);
	cfg_get_memory_bytes(p->config, CFG_MANAGED_SIZE, &managed);
	/* Flink: an explicit size wins over the fraction. flinc keeps its
	 * 128 MB default unless the fraction is set. */
	double fraction = 0;
	if (!cfg_is_set(p->config, CFG_MANAGED_SIZE) && cfg_is_set(p->config, CFG_MANAGED_FRACTION) &&
	    cfg_get_double(p->config, CFG_MANAGED_FRACTION, &fraction) == 0)
		managed = (int64_t)((double)mem * fraction);
	cfg_get_int(p->config, CFG_TM_SLOTS, &slots);
	net_pool_size_from_config(p->config, &net, NULL);
	rpc_tm_registration reg = {.resource_id = tm_resource_id(p->tm),
				   .rpc_address = p->rpc_address,
				   .data_address = tm_data_address(p->tm),
				   .slots = tm_slots(p->tm),
				   .cpu_milli = cpu_milli,
				   .memory_bytes = mem,
				   .managed_bytes = managed,
				   .network_bytes = net};
	struct sync_call c;
	sync_init(&c);
	p->rm->ops->register_tm(p->rm, &reg, sync_done, &c);
	int rc = sync_wait(&c);
	if (rc == 0 && (rc = parse_session(&c, session, cap)) != 0)
		snprintf(why, whylen, "malformed registration reply");
	else if (rc)
		snprintf(why, whylen, "%s", c.msg);
	sync_fini(&c);
	return rc;
}

static int heartbeat_once(struct tmp *p, char *session, size_t cap, char *why, size_t whylen)
{
	struct sync_call c;
	sync_init(&c);
	p->rm->ops->tm_heartbeat(p->rm, tm_resource_id(p->tm), sync_done, &c);
	int rc = sync_wait(&c);
	if (rc == 0)
		rc = parse_session(&c, session, cap);
	snprintf(why, whylen, "%s",
		 rc == FL_EPROTO && !c.msg[0] ? "malformed heartbeat reply" : c.msg);
	sync_fini(&c);
	return rc;
}

/* Registers and heartbeats until a signal. Returns the exit status. */
static int serve(struct tmp *p, const sigset_t *signals)
{
	int64_t interval = 10000, timeout = 50000, reg_timeout = 300000;
	cfg_get_duration_ms(p->config, CFG_HEARTBEAT_INTERVAL, &interval);
	cfg_get_duration_ms(p->config, CFG_HEARTBEAT_TIMEOUT, &timeout);
	cfg_get_duration_ms(p->config, CFG_TM_REGISTRATION_TIMEOUT, &reg_timeout);
	char session[65] = "", now_session[65];
	bool registered = false;
	int64_t last_ok = cm_now_ms(), unregistered_since = cm_now_ms();
	int64_t retry_ms = 50;
	bool said_waiting = false;
	for (;;) {
		char why[512] = "";
		int64_t wait;
		if (!registered) {
			if (register_once(p, session, sizeof(session), why, sizeof(why)) == 0) {
				registered = true;
				last_ok = cm_now_ms();
				retry_ms = 50;
				said_waiting = false;
				CM_INFO("taskmanager",
					"Successful registration at the ResourceManager at %s "
					"(session %s)",
					p->jm_url, session);
				wait = interval;
			} else {
				int64_t since = cm_now_ms() - unregistered_since;
				if (!said_waiting) {
					CM_WARN(
					    "taskmanager",
					    "Cannot register at the ResourceManager at %s: %s; "
					    "retrying (taskmanager.registration.timeout %lld ms)",
					    p->jm_url, why, (long long)reg_timeout);
					said_waiting = true;
				}
				if (since > reg_timeout) {
					CM_ERROR("taskmanager",
						 "Could not register at the ResourceManager at %s "
						 "within "
						 "%lld ms (taskmanager.registration.timeout): %s; "
						 "exiting",
						 p->jm_url, (long long)reg_timeout, why);
					return 1;
				}
				/* Attempts are cheap: retry soon, so a TaskManager started
				 * before its JobManager joins it quickly. */
				wait = retry_ms;
				retry_ms = retry_ms * 2 > 2000 ? 2000 : retry_ms * 2;
			}
		} else {
			int rc =
			    heartbeat_once(p, now_session, sizeof(now_session), why, sizeof(why));
			if (rc == 0 && strcmp(now_session, session) == 0) {
				last_ok = cm_now_ms();
			} else if (rc == 0 || rc == FL_ENOENT) {
				CM_INFO("taskmanager",
					"The ResourceManager at %s %s: registering again",
					p->jm_url,
					rc == 0 ? "restarted" : "no longer knows this TaskManager");
				registered = false;
				unregistered_since = cm_now_ms();
			} else {
				/* No answer: a missed heartbeat, and a lost
				 * ResourceManager once heartbeat.timeout passed. */
				tm_note_heartbeat_missed(p->tm);
				if (cm_now_ms() - last_ok > timeout) {
					CM_WARN("taskmanager",
						"The ResourceManager at %s is lost: no heartbeat reply "
						"for %lld ms (heartbeat.timeout): %s; registering again",
						p->jm_url, (long long)(cm_now_ms() - last_ok), why);
					registered = false;
					unregistered_since = cm_now_ms();
				}
			}
			wait = registered ? interval : 0;
		}
		struct timespec ts = {wait / 1000, (wait % 1000) * 1000000L};
		siginfo_t si;
		int sig = sigtimedwait(signals, &si, &ts);
		if (sig > 0) {
			CM_INFO("taskmanager", "Received %s: shutting down",
				sig == SIGTERM	? "SIGTERM"
				: sig == SIGINT ? "SIGINT"
						: "SIGHUP");
			return 0;
		}
	}
}

/* ----------------------------------------------------------- metrics */

static int h_metrics(void *arg, const rest_request *req, rest_response *resp)
{
	struct tmp *p = arg;
	cm_wbuf w;
	cm_wbuf_init(&w, 64u << 20);
	int rc = tm_prometheus(p->tm, &w);
	char labels[300] = "component=\"taskmanager\",tm_id=\"";
	size_t n = strlen(labels);
	for (const char *c = tm_resource_id(p->tm); *c && n + 3 < sizeof(labels); c++)
		labels[n++] = *c == '"' || *c == '\\' || *c == '\n' ? '_' : *c;
	labels[n++] = '"';
	labels[n] = '\0';
	if (rc == 0) {
		cm_procstat_prometheus(&w, labels);
		rc = rest_text(resp, 200, "text/plain; version=0.0.4; charset=utf-8", &w);
	}
	cm_wbuf_fini(&w);
	return rc;
}

/* Serves /metrics on the first free port of metrics.reporter.prom.port
 * ("9249", "9249-9260", or 0 for any). Without one, logs why and goes on
 * (a TaskManager runs tasks without being scraped). */
static void start_metrics(struct tmp *p, const char *bind_host)
{
	const char *spec = "9249-9260";
	cfg_get_string(p->config, CFG_PROM_PORT, &spec);
	long lo = 0, hi = 0;
	char *end;
	lo = strtol(spec, &end, 10);
	hi = lo;
	if (*end == '-')
		hi = strtol(end + 1, &end, 10);
	if (*end || lo < 0 || hi < lo || hi > 65535 || (lo == 0 && hi != 0)) {
		CM_WARN("taskmanager",
			"metrics.reporter.prom.port '%.40s' is not a port or a range LOW-HIGH: no "
			"/metrics endpoint",
			spec);
		return;
	}
	cm_err err = {0};
	for (long port = lo; port <= hi; port++) {
		rest_options o = {.bind_host = bind_host, .port = (int)port, .max_body = 1024};
		rest_server *s = NULL;
		cm_err_clear(&err);
		if (rest_server_new(&s, &o, &err) == 0 &&
		    rest_route(s, "GET", "/metrics", h_metrics, p) == 0 &&
		    rest_server_start(s, &err) == 0) {
			p->metrics = s;
			CM_INFO("taskmanager", "Prometheus metrics at http://%s:%d/metrics",
				bind_host, rest_server_port(s));
			return;
		}
		rest_server_free(s);
	}
	CM_WARN("taskmanager",
		"no /metrics endpoint: no free port in %s (metrics.reporter.prom.port): %s", spec,
		err.msg);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: flinc-taskmanager [--config FILE] [-D key=value]...\n"
		   "\n"
		   "Starts a TaskManager that registers with the JobManager at\n"
		   "jobmanager.rpc.address:jobmanager.rpc.port and runs the tasks it is given.\n"
		   "Configuration: $FLINC_CONF_DIR/flinc.yaml or --config, then -D.\n");
}

int tm_process_main(int argc, char **argv)
{
	sigset_t signals;
	cl_daemon_signals(&signals);
	cm_crash_install();
	cm_crash_thread_init();
	cl_daemon_args a;
	cm_err err = {0};
	if (cl_daemon_args_parse(&a, argc, argv, false, &err) != 0) {
		fprintf(stderr, "flinc-taskmanager: %s\n", err.msg);
		return 2;
	}
	if (a.help) {
		usage(stdout);
		cl_daemon_args_fini(&a);
		return 0;
	}
	struct tmp p = {.config = a.config, .blob_lock = -1};
	pthread_mutex_init(&p.blob_mu, NULL);
	int status = 1;
	const char *jm_host = "localhost", *id = "default", *bind = "", *host = "", *rid = "";
	int64_t jm_port = 6123, rpc_port = 0, data_port = 0, slots = 1;
	cfg_get_string(p.config, CFG_JM_RPC_ADDRESS, &jm_host);
	cfg_get_int(p.config, CFG_JM_RPC_PORT, &jm_port);
	cfg_get_string(p.config, CFG_CLUSTER_ID, &id);
	cfg_get_string(p.config, CFG_TM_BIND_HOST, &bind);
	cfg_get_string(p.config, CFG_TM_HOST, &host);
	cfg_get_string(p.config, CFG_TM_RESOURCE_ID, &rid);
	cfg_get_int(p.config, CFG_TM_RPC_PORT, &rpc_port);
	cfg_get_int(p.config, CFG_TM_DATA_PORT, &data_port);
	cfg_get_int(p.config, CFG_TM_SLOTS, &slots);
	snprintf(p.cluster_id, sizeof(p.cluster_id), "%s", id);
	snprintf(p.jm_url, sizeof(p.jm_url), "tcp://%s:%lld", jm_host, (long long)jm_port);
	char where[4400];
	if (cl_cluster_secret(p.config, false, &p.secret, where, sizeof(where), &err) != 0) {
		CM_ERROR("taskmanager", "%s", err.msg);
		goto out;
	}
	/* The advertised host: configured, the bind host when it is one, or
	 * the local address that reaches the JobManager. */
	char advertised[256];
	if (*host) {
		snprintf(advertised, sizeof(advertised), "%s", host);
	} else if (*bind && strcmp(bind, "0.0.0.0") != 0 && strcmp(bind, "::") != 0) {
		snprintf(advertised, sizeof(advertised), "%s", bind);
	} else if (cl_local_address_towards(jm_host, (int)jm_port, advertised, sizeof(advertised),
					    &err) != 0) {
		CM_ERROR("taskmanager",
			 "cannot find the address to advertise: %s (set taskmanager.host)",
			 err.msg);
		goto out;
	}
	const char *bind_host = *bind ? bind : "0.0.0.0";
	const char *tmp = getenv("TMPDIR");
	reap_leftovers(p.config, tmp && *tmp ? tmp : "/tmp");
	snprintf(p.blob_dir, sizeof(p.blob_dir), "%s/flinc-tm-blobs-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(p.blob_dir)) {
		CM_ERROR("taskmanager", "cannot create a directory for job libraries under %s: %s",
			 tmp && *tmp ? tmp : "/tmp", strerror(errno));
		p.blob_dir[0] = '\0';
		goto out;
	}
	if (cm_dir_claim(p.blob_dir, &p.blob_lock, &err) != 0) {
		CM_ERROR("taskmanager", "%s", err.msg);
		goto out;
	}
	tm_options o = {.index = 0,
			.slots = (int)slots,
			.bind_host = bind_host,
			.host = advertised,
			.port = (int)data_port,
			.resource_id = *rid ? rid : NULL,
			.cluster_id = p.cluster_id,
			.secret = &p.secret,
			.config = p.config,
			.exit_on_stuck_task = true,
			.resolve_library = resolve_library,
			.resolve_arg = &p};
	if (tm_new(&p.tm, &o, &err) != 0) {
		CM_ERROR("taskmanager", "cannot start the TaskManager: %s", err.msg);
		goto out;
	}
	char url[300];
	snprintf(url, sizeof(url), "tcp://%s:%lld", bind_host, (long long)rpc_port);
	if (rpc_server_new(&p.server, url, tm_gateway(p.tm), NULL, NULL, tm_resource_id(p.tm),
			   &p.secret, p.cluster_id, &err) != 0) {
		CM_ERROR("taskmanager", "%s (taskmanager.rpc.port)", err.msg);
		goto out;
	}
	const char *bound = strrchr(rpc_server_address(p.server), ':');
	snprintf(p.rpc_address, sizeof(p.rpc_address), "tcp://%s%s", advertised,
		 bound ? bound : "");
	/* A call waits at most a heartbeat interval (and 30 s): signals are
	 * looked at between calls. */
	int64_t call_timeout = 10000;
	cfg_get_duration_ms(p.config, CFG_HEARTBEAT_INTERVAL, &call_timeout);
	if (call_timeout > 30000)
		call_timeout = 30000;
	if (call_timeout < 1000)
		call_timeout = 1000;
	if (rpc_rm_gateway_nng(&p.rm, p.jm_url, &p.secret, p.cluster_id, call_timeout, &err) != 0) {
		CM_ERROR("taskmanager", "%s (jobmanager.rpc.address, jobmanager.rpc.port)",
			 err.msg);
		goto out;
	}
	start_metrics(&p, bind_host);
	CM_INFO("taskmanager",
		"TaskManager %s: %lld slots, RPC at %s, data at %s, cluster '%s', secret from %s; "
		"registering at %s",
		tm_resource_id(p.tm), (long long)slots, p.rpc_address, tm_data_address(p.tm),
		p.cluster_id, where, p.jm_url);
	status = serve(&p, &signals);
out:
	/* The server first (no call reaches the TaskManager after it), then
	 * the TaskManager (its tasks cancelled), then the registration. */
	rest_server_free(p.metrics);
	rpc_server_free(p.server);
	tm_free(p.tm);
	if (p.rm)
		p.rm->ops->free(p.rm);
	if (p.blob_dir[0])
		cm_dir_remove(p.blob_dir);
	if (p.blob_lock >= 0)
		close(p.blob_lock);
	cm_secret_clear(&p.secret);
	pthread_mutex_destroy(&p.blob_mu);
	cl_daemon_args_fini(&a);
	CM_INFO("taskmanager", "Stopped (exit %d)", status);
	cm_crash_thread_fini();
	return status;
}
