/*
 * operator.c — flinc-operator's process: see operator.h.
 */
#include "operator/operator.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "config/config.h"
#include "k8s/cluster.h"
#include "k8s/informer.h"
#include "k8s/lease.h"
#include "operator/metrics.h"
#include "operator/reconcile.h"
#include "operator/spec.h"

#define COMP "operator"
#define NS_MAX 64

static atomic_int stopping;
static atomic_int ready;
static atomic_int leading;  /* 1: this replica holds the Lease (or elects none) and acts */
static atomic_int electing; /* 1: leader election is on */
static atomic_long reconciles, failures;
static k8s_queue *queue;
static op_metrics *metrics;

/* The body of /metrics at most; the API latency series are about 100 lines. */
#define METRICS_MAX (64u << 10)

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stopping, 1);
}

/* ------------------------------------------------------------------ health */

typedef struct health {
	int fd;
	pthread_t thread;
} health;

static void answer(int c)
{
	char req[1024];
	struct timeval tv = {.tv_sec = 2};
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssize_t n = recv(c, req, sizeof(req) - 1, 0);
	if (n <= 0)
		return;
	req[n] = '\0';
	char small[512];
	char *body = small, *big = NULL;
	size_t blen = 0;
	int code = 404;
	if (strncmp(req, "GET /healthz ", 13) == 0) {
		code = 200;
		snprintf(small, sizeof(small), "ok\n");
	} else if (strncmp(req, "GET /readyz ", 12) == 0) {
		/* Ready once every informer has its first list: a standby is
		 * ready too (its caches are warm), so a rolling update of the
		 * operator's Deployment goes on while the old pod still leads. */
		code = atomic_load(&ready) ? 200 : 503;
		snprintf(small, sizeof(small), "%s\n",
			 code != 200		  ? "informers not synced"
			 : atomic_load(&leading)  ? "ok: leader"
			 : atomic_load(&electing) ? "ok: standby (waiting for the Lease)"
						  : "ok");
	} else if (strncmp(req, "GET /metrics ", 13) == 0) {
		op_gauges g = {.reconciles = atomic_load(&reconciles),
			       .failures = atomic_load(&failures),
			       .queue_depth = queue ? k8s_queue_len(queue) : 0,
			       .leader = atomic_load(&leading)};
		code = 500;
		snprintf(small, sizeof(small), "metrics do not fit in %u bytes\n", METRICS_MAX);
		if (metrics && (big = malloc(METRICS_MAX)) &&
		    op_metrics_format(metrics, &g, big, METRICS_MAX, &blen) == 0) {
			code = 200;
			body = big;
		}
	} else {
		snprintf(small, sizeof(small), "not found: /healthz, /readyz, /metrics\n");
	}
	if (body == small)
		blen = strlen(small);
	char head[200];
	int h = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain%s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 code,
			 code == 200   ? "OK"
			 : code == 503 ? "Service Unavailable"
			 : code == 500 ? "Internal Server Error"
				       : "Not Found",
			 body == big ? "; version=0.0.4" : "", blen);
	(void)!send(c, head, (size_t)h, MSG_NOSIGNAL);
	for (size_t off = 0; off < blen;) {
		ssize_t w = send(c, body + off, blen - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(big);
}

static void *health_loop(void *arg)
{
	health *h = arg;
	while (!atomic_load(&stopping)) {
		struct pollfd p = {.fd = h->fd, .events = POLLIN};
		if (poll(&p, 1, 500) <= 0)
			continue;
		int c = accept(h->fd, NULL, NULL);
		if (c < 0)
			continue;
		answer(c);
		close(c);
	}
	return NULL;
}

static int health_start(health *h, int port)
{
	h->fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (h->fd < 0)
		return FL_EIO;
	int one = 1, zero = 0;
	setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(h->fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	struct sockaddr_in6 a = {
	    .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = in6addr_any};
	if (bind(h->fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(h->fd, 16) != 0 ||
	    pthread_create(&h->thread, NULL, health_loop, h) != 0) {
		CM_ERROR(COMP, "cannot serve health checks on port %d: %s", port, strerror(errno));
		close(h->fd);
		h->fd = -1;
		return FL_EIO;
	}
	return 0;
}

/* ----------------------------------------------------------- leadership */

/* The Lease is lost (not renewed for renew-deadline): stop acting at once.
 * A reconcile may be in the middle of its steps on the worker thread, and
 * another replica may take the Lease once lease-duration has passed; the
 * only way to be sure nothing more is written is to end the process now
 * (the Apache operator's JOSDK does the same, System.exit(1)). Kubernetes
 * restarts the container, which comes back as a standby; whatever step was
 * cut short is in status and the next leader goes on from it. */
static void on_lost_lease(void *arg)
{
	(void)arg;
	if (atomic_load(&stopping))
		return; /* k8s_lease_free on the way out: a release, not a loss */
	atomic_store(&leading, 0);
	CM_ERROR(COMP, "flinc-operator lost its leader Lease: exiting so that it stops acting "
		       "at once (restarted, it comes back as a standby)");
	_exit(1);
}

/* The key of the FlinkApplication a cluster object belongs to: its app label
 * (the cluster id, the FlinkApplication's name) in its namespace. */
static int owner_key(void *arg, const cJSON *obj, char key[K8S_KEY_MAX])
{
	(void)arg;
	const char *ns = k8s_str(obj, "metadata.namespace");
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "labels");
	const char *app = k8s_str(labels, "app");
	if (!ns || !app || !*app)
		return 1;
	int n = snprintf(key, K8S_KEY_MAX, "%s/%s", ns, app);
	return n > 0 && n < K8S_KEY_MAX ? 0 : 1;
}

/* ------------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fprintf(f, "Usage: flinc-operator [--watch-namespaces NS[,NS...]] [--health-port PORT]\n"
		   "                      [--log-level debug|info|warn|error]\n"
		   "                      [--no-leader-election] [--lease-name NAME]\n"
		   "                      [--lease-namespace NS] [--lease-duration D]\n"
		   "                      [--renew-deadline D] [--retry-period D]\n"
		   "Reconciles FlinkApplications (flinc.dev/v1alpha1) in the namespaces named\n"
		   "(default: WATCH_NAMESPACES, else all). One replica acts at a time: the one\n"
		   "holding the Lease NAME (default flinc-operator-leader; LEASE_NAME) in NS\n"
		   "(default POD_NAMESPACE, else the configuration's namespace); the others keep\n"
		   "their caches warm and wait. Durations (LEASE_DURATION, RENEW_DEADLINE,\n"
		   "RETRY_PERIOD; e.g. \"15 s\") default to 15 s, 10 s and 2 s.\n"
		   "LEADER_ELECTION=false is --no-leader-election (one replica only).\n");
}

typedef struct op_args {
	const char *watch;
	int port;
	bool elect;
	const char *lease_name, *lease_ns;
	int64_t duration_ms, deadline_ms, retry_ms;
} op_args;

static int duration_arg(const char *what, const char *v, int64_t *out)
{
	if (!v)
		return 0;
	if (cfg_parse_duration_ms(v, out) != 0 || *out <= 0) {
		fprintf(stderr, "flinc-operator: %s '%.80s' is no positive duration (e.g. 15 s)\n",
			what, v);
		return 2;
	}
	return 0;
}

/* Arguments over the environment. Returns 0, -1 for --help, or 2. */
static int parse_args(int argc, char **argv, op_args *a)
{
	a->watch = getenv("WATCH_NAMESPACES");
	a->port = 8085;
	const char *le = getenv("LEADER_ELECTION");
	a->elect = !le || (strcasecmp(le, "false") != 0 && strcmp(le, "0") != 0);
	a->lease_name = getenv("LEASE_NAME");
	a->lease_ns = getenv("POD_NAMESPACE");
	const char *dur = getenv("LEASE_DURATION"), *dl = getenv("RENEW_DEADLINE"),
		   *rp = getenv("RETRY_PERIOD");
	for (int i = 1; i < argc; i++) {
		const char *k = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(k, "-h") == 0 || strcmp(k, "--help") == 0) {
			usage(stdout);
			return -1;
		} else if (strcmp(k, "--no-leader-election") == 0) {
			a->elect = false;
			continue;
		}
		if (!v) {
			fprintf(stderr, "flinc-operator: %.80s wants a value\n", k);
			usage(stderr);
			return 2;
		}
		i++;
		if (strcmp(k, "--watch-namespaces") == 0) {
			a->watch = v;
		} else if (strcmp(k, "--health-port") == 0) {
			char *end;
			long p = strtol(v, &end, 10);
			if (*end || p < 1 || p > 65535) {
				fprintf(stderr, "flinc-operator: --health-port %s is no port\n", v);
				return 2;
			}
			a->port = (int)p;
		} else if (strcmp(k, "--log-level") == 0) {
			enum cm_log_level l;
			if (cm_log_parse_level(v, &l) != 0) {
				fprintf(stderr,
					"flinc-operator: --log-level %s: debug, info, warn or "
					"error\n",
					v);
				return 2;
			}
			cm_log_set_level(l);
		} else if (strcmp(k, "--lease-name") == 0) {
			a->lease_name = v;
		} else if (strcmp(k, "--lease-namespace") == 0) {
			a->lease_ns = v;
		} else if (strcmp(k, "--lease-duration") == 0) {
			dur = v;
		} else if (strcmp(k, "--renew-deadline") == 0) {
			dl = v;
		} else if (strcmp(k, "--retry-period") == 0) {
			rp = v;
		} else {
			fprintf(stderr, "flinc-operator: unknown argument '%.80s'\n", k);
			usage(stderr);
			return 2;
		}
	}
	if (!a->lease_name || !*a->lease_name)
		a->lease_name = "flinc-operator-leader";
	if (a->lease_ns && !*a->lease_ns)
		a->lease_ns = NULL;
	a->duration_ms = 15000;
	a->deadline_ms = 10000;
	a->retry_ms = 2000;
	if (duration_arg("--lease-duration", dur, &a->duration_ms) ||
	    duration_arg("--renew-deadline", dl, &a->deadline_ms) ||
	    duration_arg("--retry-period", rp, &a->retry_ms))
		return 2;
	return 0;
}

int op_main(int argc, char **argv)
{
	op_args a = {0};
	int prc = parse_args(argc, argv, &a);
	if (prc)
		return prc < 0 ? 0 : prc;
	/* The chart's defaultConfiguration: a JSON map of flincConfiguration
	 * keys every application gets unless it sets them. */
	const char *defs = getenv("FLINC_OPERATOR_DEFAULT_CONFIGURATION");
	if (defs && *defs) {
		cm_err derr = {0};
		cJSON *d = cJSON_Parse(defs);
		if (!d || op_spec_set_defaults(d, &derr) != 0) {
			fprintf(stderr, "flinc-operator: FLINC_OPERATOR_DEFAULT_CONFIGURATION: %s\n",
				d ? derr.msg : "not JSON");
			return 2;
		}
	}
	/* The namespaces: a comma-separated list ("" or unset: all). */
	char nsbuf[4096];
	char *nss[NS_MAX];
	size_t nns = 0;
	snprintf(nsbuf, sizeof(nsbuf), "%s", a.watch ? a.watch : "");
	for (char *save = NULL, *t = strtok_r(nsbuf, ", ", &save); t;
	     t = strtok_r(NULL, ", ", &save)) {
		if (nns == NS_MAX) {
			fprintf(stderr, "flinc-operator: more than %d namespaces to watch\n",
				NS_MAX);
			return 2;
		}
		nss[nns++] = t;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int status = 1;
	cm_err err = {0};
	k8s_config kcfg = {0};
	k8s_client *kc = NULL;
	k8s_lease *lease = NULL;
	/* Per namespace (or once for all): FlinkApplications, the applications'
	 * JobManager Deployments, their pods. */
	enum { KINDS = 3 };
	k8s_informer *infs[NS_MAX * KINDS] = {0};
	size_t nslots = nns ? nns : 1, ninf = nslots * KINDS;
	health h = {.fd = -1};
	atomic_store(&electing, a.elect);
	atomic_store(&leading, 0);
	if (op_metrics_new(&metrics) != 0) {
		CM_ERROR(COMP, "out of memory");
		return 1;
	}
	k8s_set_request_observer(op_metrics_observe_cb, metrics);
	if (k8s_config_load(&kcfg, NULL, &err) != 0 || k8s_client_new(&kc, &kcfg, &err) != 0) {
		CM_ERROR(COMP, "cannot reach Kubernetes: %s", err.msg);
		goto out;
	}
	if (k8s_queue_new(&queue, 0, 500, 60000) != 0 || health_start(&h, a.port) != 0)
		goto out;
	/* Across all namespaces: the collection paths without a namespace. */
	k8s_resource kinds[KINDS] = {OP_FLINKAPPLICATIONS, K8S_DEPLOYMENTS, K8S_PODS};
	const char *what[KINDS] = {"FlinkApplications", "Deployments", "pods"};
	const char *sel[KINDS] = {NULL, "type=" K8S_TYPE_LABEL ",component=jobmanager",
				  "type=" K8S_TYPE_LABEL};
	if (!nns)
		for (int k = 0; k < KINDS; k++)
			kinds[k].namespaced = false;
	for (size_t i = 0; i < ninf; i++) {
		int k = (int)(i % KINDS);
		/* A change of a cluster's Deployment or pods reconciles its
		 * FlinkApplication at once (the periodic reconcile stays). */
		k8s_informer_opts io = {.bookmarks = true,
					.queue = queue,
					.label_selector = sel[k],
					.key_fn = k ? owner_key : NULL};
		if (k8s_informer_new(&infs[i], &kcfg, &kinds[k], nns ? nss[i / KINDS] : NULL, &io,
				     &err) != 0 ||
		    k8s_informer_start(infs[i], &err) != 0) {
			CM_ERROR(COMP, "cannot watch %s: %s", what[k], err.msg);
			goto out;
		}
	}
	for (size_t i = 0; i < ninf; i++) {
		int rc;
		while ((rc = k8s_informer_wait_synced(infs[i], 1000)) == FL_ETIMEDOUT &&
		       !atomic_load(&stopping))
			;
		if (rc && !atomic_load(&stopping)) {
			k8s_err ke;
			k8s_err_clear(&ke);
			k8s_informer_stop(infs[i], &ke);
			CM_ERROR(COMP,
				 "cannot list %s%s%s: %s (is the CRD installed, and "
				 "may the service account list them?)",
				 what[i % KINDS], nns ? " in namespace " : "",
				 nns ? nss[i / KINDS] : "", ke.e.msg);
			goto out;
		}
	}
	atomic_store(&ready, 1);
	CM_INFO(COMP, "flinc-operator watching FlinkApplications in %s; health on port %d",
		nns ? (a.watch ? a.watch : "") : "all namespaces", a.port);
	if (a.elect) {
		char id[K8S_LEASE_ID_MAX];
		if (k8s_lease_identity(id, sizeof(id)) != 0) {
			CM_ERROR(COMP, "cannot make a Lease identity");
			goto out;
		}
		k8s_lease_opts lo = {.ns = a.lease_ns ? a.lease_ns : kcfg.namespace,
				     .name = a.lease_name,
				     .identity = id,
				     .lease_duration_ms = a.duration_ms,
				     .renew_deadline_ms = a.deadline_ms,
				     .retry_period_ms = a.retry_ms,
				     .on_revoke = on_lost_lease};
		if (k8s_lease_start(&lease, &kcfg, &lo, &err) != 0) {
			CM_ERROR(COMP, "cannot run for leader: %s", err.msg);
			goto out;
		}
		CM_INFO(COMP, "%s: standby until it holds lease/%s in namespace %s", id,
			a.lease_name, lo.ns);
		while (!atomic_load(&stopping) && !k8s_lease_await(lease, 500))
			;
		if (atomic_load(&stopping))
			goto stop;
		CM_INFO(COMP, "%s leads: reconciling", id);
	}
	atomic_store(&leading, 1);
	while (!atomic_load(&stopping)) {
		char key[K8S_KEY_MAX];
		int rc = k8s_queue_get(queue, key, 500);
		if (rc == FL_ETIMEDOUT)
			continue;
		if (rc)
			break;
		/* Belt and braces: the lease thread ends the process when the
		 * Lease is lost; a renewal overdue is seen here first. */
		if (lease && !k8s_lease_is_leader(lease)) {
			k8s_queue_done(queue, key);
			on_lost_lease(NULL); /* does not return unless stopping */
			break;
		}
		char *slash = strchr(key, '/');
		if (!slash) {
			k8s_queue_done(queue, key);
			continue;
		}
		*slash = '\0';
		op_result res;
		op_reconcile(kc, key, slash + 1, &res);
		atomic_fetch_add(&reconciles, 1);
		*slash = '/';
		if (res.failed) {
			atomic_fetch_add(&failures, 1);
			(void)k8s_queue_retry(queue, key);
		} else {
			k8s_queue_forget(queue, key);
			if (res.requeue_ms > 0)
				(void)k8s_queue_add_after(queue, key, res.requeue_ms);
		}
		k8s_queue_done(queue, key);
	}
stop:
	CM_INFO(COMP, "flinc-operator stopping");
	status = 0;
out:
	atomic_store(&stopping, 1);
	/* The reconciles are over: the Lease is written free, so that a standby
	 * takes over at once rather than after lease-duration. */
	k8s_lease_free(lease, true);
	atomic_store(&leading, 0);
	if (queue)
		k8s_queue_shutdown(queue);
	for (size_t i = 0; i < ninf; i++)
		k8s_informer_free(infs[i]);
	if (h.fd >= 0) {
		pthread_join(h.thread, NULL);
		close(h.fd);
	}
	k8s_set_request_observer(NULL, NULL);
	k8s_queue_free(queue);
	queue = NULL;
	k8s_client_free(kc);
	k8s_config_fini(&kcfg);
	op_metrics_free(metrics);
	metrics = NULL;
	(void)op_spec_set_defaults(NULL, &(cm_err){0});
	return status;
}
