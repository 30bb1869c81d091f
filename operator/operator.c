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
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "k8s/informer.h"
#include "operator/reconcile.h"
#include "operator/spec.h"

#define COMP "operator"
#define NS_MAX 64

static atomic_int stopping;
static atomic_int ready;
static atomic_long reconciles, failures;
static k8s_queue *queue;

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
	char body[512];
	int code = 404;
	if (strncmp(req, "GET /healthz ", 13) == 0) {
		code = 200;
		snprintf(body, sizeof(body), "ok\n");
	} else if (strncmp(req, "GET /readyz ", 12) == 0) {
		code = atomic_load(&ready) ? 200 : 503;
		snprintf(body, sizeof(body), code == 200 ? "ok\n" : "informers not synced\n");
	} else if (strncmp(req, "GET /metrics ", 13) == 0) {
		code = 200;
		snprintf(body, sizeof(body),
			 "# TYPE flinc_operator_reconciles_total counter\n"
			 "flinc_operator_reconciles_total %ld\n"
			 "# TYPE flinc_operator_reconcile_errors_total counter\n"
			 "flinc_operator_reconcile_errors_total %ld\n"
			 "# TYPE flinc_operator_queue_depth gauge\n"
			 "flinc_operator_queue_depth %zu\n",
			 atomic_load(&reconciles), atomic_load(&failures),
			 queue ? k8s_queue_len(queue) : 0);
	} else {
		snprintf(body, sizeof(body), "not found: /healthz, /readyz, /metrics\n");
	}
	char head[200];
	int h = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 code,
			 code == 200   ? "OK"
			 : code == 503 ? "Service Unavailable"
				       : "Not Found",
			 strlen(body));
	(void)!send(c, head, (size_t)h, MSG_NOSIGNAL);
	(void)!send(c, body, strlen(body), MSG_NOSIGNAL);
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

/* ------------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fprintf(f, "Usage: flinc-operator [--watch-namespaces NS[,NS...]] [--health-port PORT]\n"
		   "                      [--log-level debug|info|warn|error]\n"
		   "Reconciles FlinkApplications (flinc.dev/v1alpha1) in the namespaces named\n"
		   "(default: WATCH_NAMESPACES, else all).\n");
}

int op_main(int argc, char **argv)
{
	const char *watch = getenv("WATCH_NAMESPACES");
	int port = 8085;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--watch-namespaces") == 0 && v) {
			watch = v;
			i++;
		} else if (strcmp(a, "--health-port") == 0 && v) {
			char *end;
			long p = strtol(v, &end, 10);
			if (*end || p < 1 || p > 65535) {
				fprintf(stderr, "flinc-operator: --health-port %s is no port\n", v);
				return 2;
			}
			port = (int)p;
			i++;
		} else if (strcmp(a, "--log-level") == 0 && v) {
			enum cm_log_level l;
			if (cm_log_parse_level(v, &l) != 0) {
				fprintf(stderr,
					"flinc-operator: --log-level %s: debug, info, warn or "
					"error\n",
					v);
				return 2;
			}
			cm_log_set_level(l);
			i++;
		} else {
			fprintf(stderr, "flinc-operator: unknown argument '%.80s'\n", a);
			usage(stderr);
			return 2;
		}
	}
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
	snprintf(nsbuf, sizeof(nsbuf), "%s", watch ? watch : "");
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
	k8s_informer *infs[NS_MAX] = {0};
	size_t ninf = nns ? nns : 1;
	health h = {.fd = -1};
	if (k8s_config_load(&kcfg, NULL, &err) != 0 || k8s_client_new(&kc, &kcfg, &err) != 0) {
		CM_ERROR(COMP, "cannot reach Kubernetes: %s", err.msg);
		goto out;
	}
	if (k8s_queue_new(&queue, 0, 500, 60000) != 0 || health_start(&h, port) != 0)
		goto out;
	/* Across all namespaces: the collection path without a namespace. */
	k8s_resource all = OP_FLINKAPPLICATIONS;
	all.namespaced = false;
	for (size_t i = 0; i < ninf; i++) {
		k8s_informer_opts io = {.bookmarks = true, .queue = queue};
		if (k8s_informer_new(&infs[i], &kcfg, nns ? &OP_FLINKAPPLICATIONS : &all,
				     nns ? nss[i] : NULL, &io, &err) != 0 ||
		    k8s_informer_start(infs[i], &err) != 0) {
			CM_ERROR(COMP, "cannot watch FlinkApplications: %s", err.msg);
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
				 "cannot list FlinkApplications%s%s: %s (is the CRD installed, and "
				 "may the service account list them?)",
				 nns ? " in namespace " : "", nns ? nss[i] : "", ke.e.msg);
			goto out;
		}
	}
	atomic_store(&ready, 1);
	CM_INFO(COMP, "flinc-operator watching FlinkApplications in %s; health on port %d",
		nns ? (watch ? watch : "") : "all namespaces", port);
	while (!atomic_load(&stopping)) {
		char key[K8S_KEY_MAX];
		int rc = k8s_queue_get(queue, key, 500);
		if (rc == FL_ETIMEDOUT)
			continue;
		if (rc)
			break;
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
	CM_INFO(COMP, "flinc-operator stopping");
	status = 0;
out:
	atomic_store(&stopping, 1);
	if (queue)
		k8s_queue_shutdown(queue);
	for (size_t i = 0; i < ninf; i++)
		k8s_informer_free(infs[i]);
	if (h.fd >= 0) {
		pthread_join(h.thread, NULL);
		close(h.fd);
	}
	k8s_queue_free(queue);
	queue = NULL;
	k8s_client_free(kc);
	k8s_config_fini(&kcfg);
	(void)op_spec_set_defaults(NULL, &(cm_err){0});
	return status;
}
