/*
 * kubernetes.c — flinc run-application --target kubernetes-application and
 * flinc kubernetes-session: see kubernetes.h.
 *
 * The objects are made by k8s_cluster_create (runtime/k8s/deploy.h), which
 * flinc-operator shares; this file adds the check that the cluster id is
 * free, the wait for the JobManager pod and what is printed.
 */
#include "client/kubernetes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/clock.h"
#include "config/config.h"
#include "k8s/client.h"
#include "k8s/cluster.h"
#include "k8s/deploy.h"
#include "k8s/podtemplate.h"

/* How long the client watches the JobManager pod start, to report an image
 * that cannot be pulled or a pod that cannot be created. */
#define POD_WAIT_MS 120000

bool cl_k8s_is_command(const char *cmd)
{
	return cmd &&
	       (strcmp(cmd, "run-application") == 0 || strcmp(cmd, "kubernetes-session") == 0);
}

void cl_k8s_args_fini(cl_k8s_args *a)
{
	free(a->dyn);
	memset(a, 0, sizeof(*a));
}

int cl_k8s_args_parse(cl_k8s_args *a, int argc, char **argv, cm_err *err)
{
	memset(a, 0, sizeof(*a));
	if (argc < 2 || !cl_k8s_is_command(argv[1]))
		return cm_err_set(err, FL_EINVAL, "not a Kubernetes command");
	a->session = strcmp(argv[1], "kubernetes-session") == 0;
	a->dyn = calloc((size_t)argc, sizeof(*a->dyn));
	if (!a->dyn)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	const char *cmd = argv[1];
	int i = 2;
	for (; i < argc; i++) {
		const char *s = argv[i];
		if (strcmp(s, "--") == 0) {
			i++;
			break;
		}
		if (s[0] != '-' || s[1] == '\0')
			break;
		if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
			a->help = true;
		} else if (strncmp(s, "-D", 2) == 0) {
			const char *v = s[2] ? s + 2 : (i + 1 < argc ? argv[++i] : NULL);
			if (!v || !strchr(v, '='))
				return cm_err_set(err, FL_EINVAL, "%s: -D needs key=value%s%.80s",
						  cmd, v ? ", not " : "", v ? v : "");
			a->dyn[a->ndyn++] = v;
		} else if (strcmp(s, "-t") == 0 || strcmp(s, "--target") == 0 ||
			   strcmp(s, "-e") == 0 || strcmp(s, "--executor") == 0) {
			if (a->session)
				return cm_err_set(
				    err, FL_EINVAL,
				    "%s takes no %s: it always starts a session cluster "
				    "on Kubernetes",
				    cmd, s);
			if (i + 1 == argc || !*argv[i + 1])
				return cm_err_set(err, FL_EINVAL, "%s: %s needs a value", cmd, s);
			a->target = argv[++i];
		} else if (strcmp(s, "-c") == 0 || strcmp(s, "--config") == 0) {
			if (i + 1 == argc || !*argv[i + 1])
				return cm_err_set(err, FL_EINVAL, "%s: %s needs a file", cmd, s);
			a->config_file = argv[++i];
		} else {
			return cm_err_set(err, FL_EINVAL, "%s: unknown option '%.80s'", cmd, s);
		}
	}
	if (a->help)
		return 0;
	if (a->session) {
		if (i < argc)
			return cm_err_set(
			    err, FL_EINVAL,
			    "kubernetes-session takes no job ('%.80s'): submit jobs to "
			    "the session with flinc run -m HOST:PORT JOB.so",
			    argv[i]);
		return 0;
	}
	if (!a->target)
		return cm_err_set(err, FL_EINVAL,
				  "run-application needs --target kubernetes-application");
	if (strcmp(a->target, "kubernetes-application") != 0)
		return cm_err_set(err, FL_EINVAL,
				  "run-application: unknown --target '%.80s' (flinc knows "
				  "kubernetes-application)",
				  a->target);
	if (i >= argc)
		return cm_err_set(
		    err, FL_EINVAL,
		    "run-application needs the job: local:///opt/flinc/usrlib/JOB.so, "
		    "a path inside the image");
	a->job = argv[i];
	a->job_argc = argc - i - 1;
	a->job_argv = argv + i + 1;
	char path[4096];
	return cl_k8s_job_path(a->job, path, sizeof(path), err);
}

int cl_k8s_job_path(const char *uri, char *buf, size_t cap, cm_err *err)
{
	const char *scheme = "local://";
	if (strncmp(uri, scheme, strlen(scheme)) != 0) {
		const char *colon = strstr(uri, "://");
		if (colon)
			return cm_err_set(
			    err, FL_EINVAL,
			    "the job '%.80s': only the local:// scheme is supported on "
			    "Kubernetes (a path inside the image), not %.*s",
			    uri, (int)(colon - uri + 3 > 20 ? 20 : colon - uri + 3), uri);
		return cm_err_set(err, FL_EINVAL,
				  "the job '%.80s' must be a local:// URI naming a path inside the "
				  "image, e.g. local:///opt/flinc/usrlib/wordcount.so",
				  uri);
	}
	const char *p = uri + strlen(scheme);
	if (p[0] != '/' || p[1] == '\0')
		return cm_err_set(err, FL_EINVAL,
				  "the job '%.80s' must name an absolute path inside the image "
				  "(local:///path/JOB.so)",
				  uri);
	for (const char *q = p; *q; q++) {
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			return cm_err_set(err, FL_EINVAL,
					  "the job '%.80s' holds a control character", uri);
		if (q[0] == '/' && q[1] == '.' && q[2] == '.' && (q[3] == '/' || q[3] == '\0'))
			return cm_err_set(err, FL_EINVAL, "the job '%.80s' holds '..'", uri);
	}
	if (strlen(p) >= cap)
		return cm_err_set(err, FL_EINVAL, "the job path '%.80s...' is too long", p);
	memcpy(buf, p, strlen(p) + 1);
	return 0;
}

/* The address of a node of type want ("InternalIP", "ExternalIP") into buf. */
static bool node_address(const cJSON *nodes, const char *want, char *buf, size_t cap)
{
	cJSON *n, *a;
	cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(nodes, "items"))
	{
		cJSON_ArrayForEach(a,
				   cJSON_GetObjectItemCaseSensitive(
				       cJSON_GetObjectItemCaseSensitive(n, "status"), "addresses"))
		{
			const char *type = k8s_str(a, "type"), *addr = k8s_str(a, "address");
			if (type && addr && strcmp(type, want) == 0 && strlen(addr) < cap) {
				memcpy(buf, addr, strlen(addr) + 1);
				return true;
			}
		}
	}
	return false;
}

int cl_k8s_rest_address(const cfg *c, char *buf, size_t cap, cm_err *err)
{
	k8s_cluster_spec s;
	int rc = k8s_cluster_spec_from_config(&s, c, false, err);
	if (rc)
		return rc;
	k8s_config kcfg = {0};
	k8s_client *kc = NULL;
	cJSON *svc = NULL, *nodes = NULL;
	const char *context = NULL;
	cfg_get_string(c, CFG_K8S_CONTEXT, &context);
	if ((rc = k8s_config_load(&kcfg, context && *context ? context : NULL, err)) != 0 ||
	    (rc = k8s_client_new(&kc, &kcfg, err)) != 0)
		goto out;
	char name[128];
	k8s_cluster_rest_service_name(&s, name, sizeof(name));
	k8s_err ke;
	k8s_err_clear(&ke);
	if ((rc = k8s_get(kc, &K8S_SERVICES, s.ns, name, &svc, &ke)) != 0) {
		if (k8s_err_is(&ke, "NotFound"))
			cm_err_set(err, rc,
				   "no session cluster '%s' in namespace %s: service %s not found "
				   "(kubernetes.cluster-id, kubernetes.namespace)",
				   s.id, s.ns, name);
		else
			cm_err_set(err, rc, "%s", ke.e.msg);
		goto out;
	}
	const char *type = k8s_str(svc, "spec.type");
	cJSON *port0 =
	    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
				   cJSON_GetObjectItemCaseSensitive(svc, "spec"), "ports"),
			       0);
	cJSON *port = cJSON_GetObjectItemCaseSensitive(port0, "port");
	cJSON *node_port = cJSON_GetObjectItemCaseSensitive(port0, "nodePort");
	if (!cJSON_IsNumber(port)) {
		rc = cm_err_set(err, FL_EPROTO, "service %s in namespace %s has no port", name,
				s.ns);
		goto out;
	}
	char host[256] = "";
	int p = port->valueint;
	if (type && strcmp(type, "NodePort") == 0 && cJSON_IsNumber(node_port)) {
		k8s_list_opts o = {0};
		k8s_err_clear(&ke);
		if ((rc = k8s_list(kc, &K8S_NODES, NULL, &o, &nodes, &ke)) != 0) {
			cm_err_set(err, rc, "%s (a NodePort service needs a node's address)",
				   ke.e.msg);
			goto out;
		}
		if (!node_address(nodes, "InternalIP", host, sizeof(host)) &&
		    !node_address(nodes, "ExternalIP", host, sizeof(host))) {
			rc = cm_err_set(err, FL_ENOENT, "no node has an address for service %s",
					name);
			goto out;
		}
		p = node_port->valueint;
	} else if (type && strcmp(type, "LoadBalancer") == 0) {
		cJSON *ing = cJSON_GetArrayItem(
		    cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(svc, "status"), "loadBalancer"),
			"ingress"),
		    0);
		const char *a = k8s_str(ing, "ip") ? k8s_str(ing, "ip") : k8s_str(ing, "hostname");
		if (!a || strlen(a) >= sizeof(host)) {
			rc = cm_err_set(err, FL_ENOENT,
					"the load balancer of service %s in namespace %s has no "
					"address yet",
					name, s.ns);
			goto out;
		}
		snprintf(host, sizeof(host), "%s", a);
	} else {
		snprintf(host, sizeof(host), "%s.%s", name, s.ns);
	}
	if ((size_t)snprintf(buf, cap, "%s:%d", host, p) >= cap)
		rc = cm_err_set(err, FL_ERANGE, "the address of service %s is too long", name);
out:
	cJSON_Delete(svc);
	cJSON_Delete(nodes);
	k8s_client_free(kc);
	k8s_config_fini(&kcfg);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage:\n"
		"  flinc run-application --target kubernetes-application [-c FILE] [-D k=v]...\n"
		"        local:///opt/flinc/usrlib/JOB.so [job arguments]\n"
		"  flinc kubernetes-session [-c FILE] [-D k=v]...\n"
		"\n"
		"Creates a flinc cluster on Kubernetes and returns: the JobManager Deployment\n"
		"<cluster-id>, its Services <cluster-id> and <cluster-id>-rest, the ConfigMap\n"
		"flinc-config-<cluster-id> and the Secret flinc-token-<cluster-id>, all deleted\n"
		"with the Deployment. An application cluster runs JOB.so's main() and deletes\n"
		"itself when it ends (unless execution.shutdown-on-application-finish=false).\n"
		"\n"
		"Keys: kubernetes.cluster-id (required), kubernetes.container.image (required),\n"
		"kubernetes.namespace, kubernetes.service-account, kubernetes.context,\n"
		"kubernetes.container.image.pull-policy, kubernetes.jobmanager.cpu,\n"
		"kubernetes.taskmanager.cpu, jobmanager.memory.process.size,\n"
		"taskmanager.memory.process.size, taskmanager.numberOfTaskSlots,\n"
		"kubernetes.rest-service.exposed.type, resourcemanager.taskmanager-timeout.\n");
}

/* A waiting reason of a container that will not start by itself. */
static bool fatal_reason(const char *r)
{
	return r && (strstr(r, "ErrImage") || strcmp(r, "ImagePullBackOff") == 0 ||
		     strcmp(r, "InvalidImageName") == 0 || strstr(r, "CreateContainer") ||
		     strcmp(r, "RunContainerError") == 0);
}

/*
 * Watches the JobManager pod until its container runs (0), cannot start
 * (FL_EINVAL, the kubelet's reason printed), or POD_WAIT_MS pass (0 with a
 * note). A Deployment restarts its pod, so a container that ran and ended
 * also counts as started.
 */
static int wait_jobmanager(k8s_client *kc, const k8s_cluster_spec *s)
{
	char sel[200];
	snprintf(sel, sizeof(sel), "app=%s,component=jobmanager,type=%s", s->id, K8S_TYPE_LABEL);
	k8s_list_opts o = {.label_selector = sel};
	int64_t deadline = cm_now_ms() + POD_WAIT_MS;
	const char *last = "no pod yet";
	char lastbuf[300] = "";
	while (cm_now_ms() < deadline) {
		cJSON *list = NULL;
		k8s_err ke;
		k8s_err_clear(&ke);
		if (k8s_list(kc, &K8S_PODS, s->ns, &o, &list, &ke) != 0) {
			fprintf(stderr, "flinc: %s\n", ke.e.msg);
			return ke.e.code;
		}
		cJSON *pod;
		cJSON_ArrayForEach(pod, cJSON_GetObjectItemCaseSensitive(list, "items"))
		{
			cJSON *cs;
			cJSON_ArrayForEach(cs, cJSON_GetObjectItemCaseSensitive(
						   cJSON_GetObjectItemCaseSensitive(pod, "status"),
						   "containerStatuses"))
			{
				const char *waiting = k8s_str(cs, "state.waiting.reason");
				if (fatal_reason(waiting)) {
					const char *msg = k8s_str(cs, "state.waiting.message");
					fprintf(stderr,
						"flinc: the JobManager pod %s cannot start: %s%s%s "
						"(kubernetes.container.image is '%s')\n",
						k8s_str(pod, "metadata.name"), waiting,
						msg ? ": " : "", msg ? msg : "", s->image);
					cJSON_Delete(list);
					return FL_EINVAL;
				}
				if (cJSON_GetObjectItemCaseSensitive(
					cJSON_GetObjectItemCaseSensitive(cs, "state"), "running") ||
				    cJSON_GetObjectItemCaseSensitive(
					cJSON_GetObjectItemCaseSensitive(cs, "state"),
					"terminated") ||
				    cJSON_GetObjectItemCaseSensitive(
					cJSON_GetObjectItemCaseSensitive(cs, "lastState"),
					"terminated")) {
					cJSON_Delete(list);
					return 0;
				}
				if (waiting) {
					snprintf(lastbuf, sizeof(lastbuf), "container %s", waiting);
					last = lastbuf;
				}
			}
			const char *phase = k8s_str(pod, "status.phase");
			if (!cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(pod, "status"),
				"containerStatuses")) &&
			    phase) {
				snprintf(lastbuf, sizeof(lastbuf), "pod %s", phase);
				last = lastbuf;
			}
		}
		cJSON_Delete(list);
		sleep(1);
	}
	fprintf(stderr,
		"flinc: note: the JobManager pod has not started after %d s (%s); see kubectl "
		"describe pod -n %s -l app=%s,component=jobmanager\n",
		POD_WAIT_MS / 1000, last, s->ns, s->id);
	return 0;
}

static int load_config(const cl_k8s_args *a, cfg **out)
{
	cm_err err = {0};
	cfg *c = NULL;
	if (cfg_new(&c) != 0) {
		fprintf(stderr, "flinc: out of memory\n");
		return 1;
	}
	const char *file = a->config_file;
	char path[4096];
	bool found = false;
	if (!file) {
		if (cfg_default_file(path, sizeof(path), &found, &err) != 0)
			goto bad;
		if (found)
			file = path;
	}
	if (file && cfg_load_file(c, file, &err) != 0)
		goto bad;
	for (size_t k = 0; k < a->ndyn; k++) {
		if (cfg_set_dynamic(c, a->dyn[k], &err) != 0)
			goto bad;
	}
	*out = c;
	return 0;
bad:
	fprintf(stderr, "flinc: %s\n", err.msg);
	cfg_free(c);
	return 2;
}

static void print_access(const k8s_cluster_spec *s, const cJSON *rest_svc, const cl_k8s_args *a,
			 const char *job)
{
	char rest[128];
	k8s_cluster_rest_service_name(s, rest, sizeof(rest));
	if (a->session)
		printf("Session cluster %s created in namespace %s.\n", s->id, s->ns);
	else
		printf("Application cluster %s created in namespace %s, running %s.\n", s->id,
		       s->ns, job);
	printf("REST API: service %s port %lld (%s), inside the cluster http://%s.%s:%lld\n", rest,
	       (long long)s->rest_port, s->exposed_type, rest, s->ns, (long long)s->rest_port);
	cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(
				  cJSON_GetObjectItemCaseSensitive(rest_svc, "spec"), "ports"))
	{
		cJSON *np = cJSON_GetObjectItemCaseSensitive(p, "nodePort");
		if (cJSON_IsNumber(np))
			printf("Node port: %d on every node\n", np->valueint);
	}
	printf("From here: kubectl port-forward -n %s service/%s %lld, then flinc list -m "
	       "localhost:%lld\n",
	       s->ns, rest, (long long)s->rest_port, (long long)s->rest_port);
	if (a->session)
		printf("Jobs: flinc run --target kubernetes-session -D kubernetes.cluster-id=%s -D "
		       "kubernetes.namespace=%s JOB.so (inside the cluster, or with a NodePort or "
		       "LoadBalancer rest Service)\n",
		       s->id, s->ns);
	printf("Logs: kubectl logs -n %s deployment/%s -f\n", s->ns, s->id);
	printf("Delete: kubectl delete deployment/%s -n %s (removes everything it created)\n",
	       s->id, s->ns);
}

/* The pod templates of the JobManager and the TaskManagers, read and
 * checked before anything is created (a template that is no Pod is refused
 * with nothing left behind). The TaskManagers' goes into the ConfigMap. */
static int load_templates(const k8s_cluster_spec *s, cJSON **tpl, cm_err *err)
{
	for (int who = 0; who < 2; who++) {
		if (!s->pod_template[who][0])
			continue;
		int rc = k8s_pod_template_load(s->pod_template[who], &tpl[who], err);
		if (rc)
			return rc;
	}
	return 0;
}

int cl_k8s_main(int argc, char **argv)
{
	cm_err err = {0};
	cl_k8s_args a;
	if (cl_k8s_args_parse(&a, argc, argv, &err) != 0) {
		fprintf(stderr, "flinc: %s\n", err.msg);
		cl_k8s_args_fini(&a);
		return 2;
	}
	if (a.help) {
		usage(stdout);
		cl_k8s_args_fini(&a);
		return 0;
	}
	int status = 2;
	cfg *conf = NULL;
	char *yaml = NULL;
	k8s_config kcfg = {0};
	k8s_client *kc = NULL;
	cJSON *dep = NULL, *rest_out = NULL;
	cJSON *tpl[2] = {NULL, NULL};
	char token[256] = "";
	char job[4096] = "";
	k8s_cluster_spec s;
	if (load_config(&a, &conf) != 0)
		goto out;
	if (k8s_cluster_spec_from_config(&s, conf, true, &err) != 0 ||
	    (!a.session && cl_k8s_job_path(a.job, job, sizeof(job), &err) != 0) ||
	    k8s_cluster_flinc_yaml(&s, conf, &yaml, &err) != 0 ||
	    load_templates(&s, tpl, &err) != 0) {
		fprintf(stderr, "flinc: %s\n", err.msg);
		goto out;
	}
	if (k8s_cluster_token(conf, token, sizeof(token)) != 0) {
		fprintf(stderr, "flinc: cannot make the cluster's secret (%s)\n", CFG_TOKEN);
		goto out;
	}
	status = 1;
	const char *context = NULL;
	cfg_get_string(conf, CFG_K8S_CONTEXT, &context);
	if (k8s_config_load(&kcfg, context && *context ? context : NULL, &err) != 0 ||
	    k8s_client_new(&kc, &kcfg, &err) != 0) {
		fprintf(stderr, "flinc: cannot reach Kubernetes: %s\n", err.msg);
		goto out;
	}
	/* The cluster id names every object: one that exists is refused before
	 * anything is made. */
	k8s_err ke;
	k8s_err_clear(&ke);
	cJSON *old = NULL;
	if (k8s_get(kc, &K8S_DEPLOYMENTS, s.ns, s.id, &old, &ke) == 0) {
		fprintf(
		    stderr,
		    "flinc: a cluster with kubernetes.cluster-id '%s' already exists in namespace "
		    "%s (deployment/%s): delete it (kubectl delete deployment/%s -n %s) or "
		    "choose another kubernetes.cluster-id\n",
		    s.id, s.ns, s.id, s.id, s.ns);
		cJSON_Delete(old);
		goto out;
	}
	if (!k8s_err_is(&ke, "NotFound") || ke.http != 404) {
		fprintf(stderr, "flinc: %s\n", ke.e.msg);
		goto out;
	}
	k8s_cluster_create_opts co = {.yaml = yaml,
				      .token = token,
				      .application = a.session ? NULL : job,
				      .args = a.job_argv,
				      .nargs = (size_t)a.job_argc,
				      .templates = {tpl[K8S_JM], tpl[K8S_TM]}};
	k8s_err_clear(&ke);
	if (k8s_cluster_create(kc, &s, &co, &dep, &rest_out, &ke) != 0) {
		fprintf(stderr, "flinc: %s\n", ke.e.msg);
		goto out;
	}
	if (wait_jobmanager(kc, &s) != 0)
		goto undo;
	print_access(&s, rest_out, &a, a.job);
	status = 0;
	goto out;
undo:
	k8s_err_clear(&ke);
	k8s_delete_opts d = {.propagation = "Background", .uid = k8s_str(dep, "metadata.uid")};
	if (k8s_delete(kc, &K8S_DEPLOYMENTS, s.ns, s.id, &d, NULL, &ke) == 0)
		fprintf(stderr, "flinc: deleted deployment/%s and what it owns again\n", s.id);
	else
		fprintf(stderr, "flinc: could not delete deployment/%s again: %s\n", s.id,
			ke.e.msg);
out:
	memset(token, 0, sizeof(token));
	cJSON_Delete(dep);
	cJSON_Delete(rest_out);
	cJSON_Delete(tpl[K8S_JM]);
	cJSON_Delete(tpl[K8S_TM]);
	k8s_client_free(kc);
	k8s_config_fini(&kcfg);
	free(yaml);
	cfg_free(conf);
	cl_k8s_args_fini(&a);
	return status;
}
