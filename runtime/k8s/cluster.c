/*
 * cluster.c — the Kubernetes objects of a flinc cluster: see cluster.h.
 */
#include "k8s/cluster.h"

#include "k8s/podtemplate.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The user and group of the image (Dockerfile: USER 9999:9999). */
#define FLINC_UID 9999
#define YAML_MAX (1u << 20)

int k8s_cluster_id_check(const char *id, cm_err *err)
{
	const char *key = CFG_K8S_CLUSTER_ID;
	if (!id || !*id)
		return cm_err_set(err, FL_EINVAL,
				  "%s is not set: give the cluster a name (-D %s=NAME), a DNS-1035 "
				  "label such as my-job",
				  key, key);
	size_t n = strnlen(id, K8S_CLUSTER_ID_MAX + 1);
	if (n > K8S_CLUSTER_ID_MAX)
		return cm_err_set(
		    err, FL_EINVAL,
		    "%s '%.60s%s' is longer than %d characters (the names derived from "
		    "it, such as <cluster-id>-rest, must stay DNS labels)",
		    key, id, strlen(id) > 60 ? "..." : "", K8S_CLUSTER_ID_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		bool lower = c >= 'a' && c <= 'z', digit = c >= '0' && c <= '9';
		if (!lower && !digit && c != '-')
			return cm_err_set(
			    err, FL_EINVAL,
			    "%s '%s' is not a DNS-1035 label: character %zu ('%c') is "
			    "not a lower case letter, digit or '-'",
			    key, id, i + 1, c >= 0x20 && c < 0x7f ? c : '?');
		if (i == 0 && !lower)
			return cm_err_set(
			    err, FL_EINVAL,
			    "%s '%s' is not a DNS-1035 label: it must start with a lower "
			    "case letter",
			    key, id);
		if (i == n - 1 && c == '-')
			return cm_err_set(
			    err, FL_EINVAL,
			    "%s '%s' is not a DNS-1035 label: it must end with a letter "
			    "or digit",
			    key, id);
	}
	return 0;
}

/* A namespace is a DNS-1123 label: [a-z0-9-], at most 63, alphanumeric at
 * both ends. */
static int namespace_check(const char *ns, cm_err *err)
{
	size_t n = strnlen(ns, 64);
	if (n == 0 || n > 63)
		return cm_err_set(err, FL_EINVAL, "%s '%.70s' must be 1 to 63 characters",
				  CFG_K8S_NAMESPACE, ns);
	for (size_t i = 0; i < n; i++) {
		char c = ns[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (c != '-' || i == 0 || i == n - 1))
			return cm_err_set(err, FL_EINVAL,
					  "%s '%s' is not a DNS-1123 label (lower case letters, "
					  "digits and '-' inside)",
					  CFG_K8S_NAMESPACE, ns);
	}
	return 0;
}

/* Copies a string key into buf; FL_EINVAL naming the key when too long. */
static int copy_key(const cfg *c, const char *key, char *buf, size_t cap, cm_err *err)
{
	const char *v = "";
	cfg_get_string(c, key, &v);
	if (!v)
		v = "";
	if (strlen(v) >= cap)
		return cm_err_set(err, FL_EINVAL, "%s is longer than %zu characters", key, cap - 1);
	memcpy(buf, v, strlen(v) + 1);
	return 0;
}

/* kubernetes.volume.host-path: HOST:MOUNT, both absolute paths without
 * ':' or white space. */
static int host_path_volume(k8s_cluster_spec *s, const cfg *c, cm_err *err)
{
	const char *v = "";
	cfg_get_string(c, CFG_K8S_HOSTPATH_VOLUME, &v);
	if (!v || !*v)
		return 0;
	const char *colon = strchr(v, ':');
	size_t hl = colon ? (size_t)(colon - v) : 0;
	const char *mount = colon ? colon + 1 : "";
	bool ok = colon && hl > 1 && v[0] == '/' && mount[0] == '/' && strlen(mount) > 1 &&
		  !strchr(mount, ':') && hl < sizeof(s->host_path) &&
		  strlen(mount) < sizeof(s->mount_path);
	for (const char *p = v; ok && *p; p++)
		ok = *p > ' ' && *p != 0x7f;
	if (!ok)
		return cm_err_set(err, FL_EINVAL,
				  "%s '%.300s' is not HOST_DIR:MOUNT_PATH (two absolute paths, "
				  "e.g. /var/tmp/flinc:/data)",
				  CFG_K8S_HOSTPATH_VOLUME, v);
	memcpy(s->host_path, v, hl);
	s->host_path[hl] = '\0';
	snprintf(s->mount_path, sizeof(s->mount_path), "%s", mount);
	return 0;
}

int k8s_cluster_spec_from_config(k8s_cluster_spec *s, const cfg *c, bool need_image, cm_err *err)
{
	memset(s, 0, sizeof(*s));
	const char *id = NULL;
	cfg_get_string(c, CFG_K8S_CLUSTER_ID, &id);
	int rc = k8s_cluster_id_check(id, err);
	if (rc)
		return rc;
	memcpy(s->id, id, strlen(id) + 1);
	if ((rc = copy_key(c, CFG_K8S_NAMESPACE, s->ns, sizeof(s->ns), err)) != 0 ||
	    (rc = namespace_check(s->ns, err)) != 0 ||
	    (rc = copy_key(c, CFG_K8S_IMAGE, s->image, sizeof(s->image), err)) != 0 ||
	    (rc = copy_key(c, CFG_K8S_PULL_POLICY, s->pull_policy, sizeof(s->pull_policy), err)) !=
		0 ||
	    (rc = copy_key(c, CFG_K8S_SERVICE_ACCOUNT, s->service_account,
			   sizeof(s->service_account), err)) != 0 ||
	    (rc = copy_key(c, CFG_K8S_REST_EXPOSED, s->exposed_type, sizeof(s->exposed_type),
			   err)) != 0)
		return rc;
	if (need_image && !s->image[0])
		return cm_err_set(err, FL_EINVAL,
				  "%s is not set: the image of the JobManager and TaskManager pods "
				  "(-D %s=flinc:0.1.0)",
				  CFG_K8S_IMAGE, CFG_K8S_IMAGE);
	for (const char *p = s->image; *p; p++) {
		if (*p <= ' ' || *p == 0x7f)
			return cm_err_set(err, FL_EINVAL,
					  "%s '%s' holds white space or a control character",
					  CFG_K8S_IMAGE, s->image);
	}
	if (!s->service_account[0])
		return cm_err_set(err, FL_EINVAL, "%s is empty", CFG_K8S_SERVICE_ACCOUNT);
	double jm_cpu = 1.0, tm_cpu = 0;
	cfg_get_double(c, CFG_K8S_JM_CPU, &jm_cpu);
	cfg_get_double(c, CFG_K8S_TM_CPU, &tm_cpu);
	s->jm_cpu_milli = (int64_t)llround(jm_cpu * 1000);
	s->tm_cpu_milli = (int64_t)llround(tm_cpu * 1000);
	if (s->jm_cpu_milli < 1)
		return cm_err_set(err, FL_EINVAL, "%s must be at least 0.001", CFG_K8S_JM_CPU);
	s->jm_memory = 1600ll << 20;
	s->tm_memory = 1728ll << 20;
	cfg_get_memory_bytes(c, CFG_JM_PROCESS_SIZE, &s->jm_memory);
	cfg_get_memory_bytes(c, CFG_TM_PROCESS_SIZE, &s->tm_memory);
	if (s->tm_memory < (32ll << 20))
		return cm_err_set(err, FL_EINVAL,
				  "%s must be at least 32 mb for a TaskManager pod on Kubernetes",
				  CFG_TM_PROCESS_SIZE);
	s->rpc_port = 6123;
	s->rest_port = 8081;
	s->tm_slots = 1;
	cfg_get_int(c, CFG_JM_RPC_PORT, &s->rpc_port);
	cfg_get_int(c, CFG_REST_PORT, &s->rest_port);
	cfg_get_int(c, CFG_TM_SLOTS, &s->tm_slots);
	if (s->rpc_port < 1 || s->rpc_port > 65535)
		return cm_err_set(err, FL_EINVAL,
				  "%s must be a fixed port (1..65535) on Kubernetes, not %lld",
				  CFG_JM_RPC_PORT, (long long)s->rpc_port);
	if (s->rest_port < 1 || s->rest_port > 65535)
		return cm_err_set(err, FL_EINVAL,
				  "%s must be a fixed port (1..65535) on Kubernetes, not %lld",
				  CFG_REST_PORT, (long long)s->rest_port);
	s->shutdown_on_finish = true;
	cfg_get_bool(c, CFG_SHUTDOWN_ON_APP_FINISH, &s->shutdown_on_finish);
	if ((rc = host_path_volume(s, c, err)) != 0)
		return rc;
	/* High availability keeps its records in a directory every JobManager
	 * pod mounts: refused here, before a cluster exists, without it. */
	const char *ha = "NONE", *storage = "";
	cfg_get_string(c, CFG_HA_TYPE, &ha);
	cfg_get_string(c, CFG_HA_STORAGE_DIR, &storage);
	if (ha && strcasecmp(ha, "KUBERNETES") == 0 && (!storage || !*storage))
		return cm_err_set(
		    err, FL_EINVAL,
		    "%s must be set with %s: kubernetes (a directory every JobManager "
		    "pod mounts, e.g. under %s)",
		    CFG_HA_STORAGE_DIR, CFG_HA_TYPE, CFG_K8S_HOSTPATH_VOLUME);
	return k8s_pod_options_from_config(s, c, err);
}

void k8s_cluster_rest_service_name(const k8s_cluster_spec *s, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s-rest", s->id);
}

void k8s_cluster_configmap_name(const k8s_cluster_spec *s, char *buf, size_t cap)
{
	snprintf(buf, cap, "flinc-config-%s", s->id);
}

void k8s_cluster_secret_name(const k8s_cluster_spec *s, char *buf, size_t cap)
{
	snprintf(buf, cap, "flinc-token-%s", s->id);
}

void k8s_cpu_quantity(int64_t milli, char *buf, size_t cap)
{
	if (milli % 1000 == 0)
		snprintf(buf, cap, "%" PRId64, milli / 1000);
	else
		snprintf(buf, cap, "%" PRId64 "m", milli);
}

void k8s_memory_quantity(int64_t bytes, char *buf, size_t cap)
{
	if (bytes % (1 << 20) == 0)
		snprintf(buf, cap, "%" PRId64 "Mi", bytes >> 20);
	else
		snprintf(buf, cap, "%" PRId64, bytes);
}

/* ------------------------------------------------------- flinc.yaml text */

struct ybuf {
	char *p;
	size_t len, cap;
	bool bad; /* out of memory or above YAML_MAX */
	bool too_long;
};

static void yput(struct ybuf *b, const char *s, size_t n)
{
	if (b->bad)
		return;
	if (b->len + n + 1 > YAML_MAX) {
		b->bad = b->too_long = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (!q) {
			b->bad = true;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* A YAML double-quoted scalar: '"' and '\' escaped, control bytes as \xNN. */
static void yquoted(struct ybuf *b, const char *s)
{
	yput(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			yput(b, e, 2);
		} else if (c < 0x20 || c == 0x7f) {
			char e[5];
			snprintf(e, sizeof(e), "\\x%02x", c);
			yput(b, e, 4);
		} else {
			yput(b, (const char *)s, 1);
		}
	}
	yput(b, "\"", 1);
}

static void yline(struct ybuf *b, const char *key, const char *value)
{
	yquoted(b, key);
	yput(b, ": ", 2);
	yquoted(b, value);
	yput(b, "\n", 1);
}

/* Keys the cluster sets itself (k8s_cluster_flinc_yaml), or the client's
 * alone. */
static const char *const overridden[] = {CFG_CLUSTER_ID,
					 CFG_K8S_CLUSTER_ID,
					 CFG_K8S_NAMESPACE,
					 CFG_JM_RPC_ADDRESS,
					 CFG_JM_RPC_PORT,
					 CFG_REST_PORT,
					 CFG_JM_BIND_HOST,
					 CFG_REST_BIND_ADDRESS,
					 CFG_TOKEN_FILE,
					 CFG_K8S_CONTEXT,
					 CFG_LOG_FILE,
					 CFG_TM_RESOURCE_ID,
					 /* Client paths: the TaskManager
					  * template goes into the ConfigMap. */
					 CFG_K8S_POD_TEMPLATE,
					 CFG_K8S_POD_TEMPLATE_OLD,
					 CFG_K8S_JM_POD_TEMPLATE,
					 CFG_K8S_TM_POD_TEMPLATE,
					 NULL};

static void copy_entry(void *arg, const char *key, const char *value)
{
	struct ybuf *b = arg;
	for (size_t i = 0; overridden[i]; i++) {
		if (strcmp(key, overridden[i]) == 0)
			return;
	}
	/* Secrets never go into a ConfigMap (the token goes into the Secret). */
	if (cfg_is_sensitive(key))
		return;
	yline(b, key, value);
}

int k8s_cluster_flinc_yaml(const k8s_cluster_spec *s, const cfg *c, char **out, cm_err *err)
{
	*out = NULL;
	struct ybuf b = {0};
	yput(&b, "# flinc.yaml of the cluster on Kubernetes (written by flinc run-application)\n",
	     strlen("# flinc.yaml of the cluster on Kubernetes (written by flinc "
		    "run-application)\n"));
	cfg_each(c, copy_entry, &b);
	char v[160];
	yline(&b, CFG_CLUSTER_ID, s->id);
	yline(&b, CFG_K8S_CLUSTER_ID, s->id);
	yline(&b, CFG_K8S_NAMESPACE, s->ns);
	/* TaskManagers reach the JobManager through its internal Service. */
	snprintf(v, sizeof(v), "%s.%s", s->id, s->ns);
	yline(&b, CFG_JM_RPC_ADDRESS, v);
	snprintf(v, sizeof(v), "%" PRId64, s->rpc_port);
	yline(&b, CFG_JM_RPC_PORT, v);
	snprintf(v, sizeof(v), "%" PRId64, s->rest_port);
	yline(&b, CFG_REST_PORT, v);
	yline(&b, CFG_JM_BIND_HOST, "0.0.0.0");
	yline(&b, CFG_REST_BIND_ADDRESS, "0.0.0.0");
	yline(&b, CFG_TOKEN_FILE, K8S_SECRET_DIR "/token");
	if (s->pod_template[K8S_TM][0])
		yline(&b, CFG_K8S_TM_POD_TEMPLATE, K8S_CONF_DIR "/" K8S_TM_TEMPLATE_FILE);
	if (b.bad) {
		free(b.p);
		return b.too_long
			   ? cm_err_set(err, FL_ERANGE,
					"the cluster's configuration is above %u bytes", YAML_MAX)
			   : cm_err_set(err, FL_ENOMEM, "out of memory");
	}
	*out = b.p;
	return 0;
}

/* ------------------------------------------------------------ JSON trees */

/* A builder that remembers an allocation failure: every call after one is
 * a no-op, and the caller checks jb.oom once at the end. */
struct jb {
	bool oom;
};

static cJSON *jb_check(struct jb *b, cJSON *x)
{
	if (!x)
		b->oom = true;
	return x;
}

static cJSON *jb_obj(struct jb *b, cJSON *parent, const char *key)
{
	if (b->oom || !parent)
		return NULL;
	return jb_check(b, cJSON_AddObjectToObject(parent, key));
}

static cJSON *jb_arr(struct jb *b, cJSON *parent, const char *key)
{
	if (b->oom || !parent)
		return NULL;
	return jb_check(b, cJSON_AddArrayToObject(parent, key));
}

static void jb_str(struct jb *b, cJSON *parent, const char *key, const char *v)
{
	if (!b->oom && parent)
		jb_check(b, cJSON_AddStringToObject(parent, key, v));
}

static void jb_num(struct jb *b, cJSON *parent, const char *key, double v)
{
	if (!b->oom && parent)
		jb_check(b, cJSON_AddNumberToObject(parent, key, v));
}

static void jb_bool(struct jb *b, cJSON *parent, const char *key, bool v)
{
	if (!b->oom && parent)
		jb_check(b, cJSON_AddBoolToObject(parent, key, v));
}

static cJSON *jb_push_obj(struct jb *b, cJSON *arr)
{
	if (b->oom || !arr)
		return NULL;
	cJSON *o = jb_check(b, cJSON_CreateObject());
	if (o && !cJSON_AddItemToArray(arr, o)) {
		cJSON_Delete(o);
		b->oom = true;
		return NULL;
	}
	return o;
}

static void jb_push_str(struct jb *b, cJSON *arr, const char *s)
{
	if (b->oom || !arr)
		return;
	cJSON *o = jb_check(b, cJSON_CreateString(s));
	if (o && !cJSON_AddItemToArray(arr, o)) {
		cJSON_Delete(o);
		b->oom = true;
	}
}

static int jb_end(struct jb *b, cJSON *root, cJSON **out, cm_err *err)
{
	if (b->oom || !root) {
		cJSON_Delete(root);
		*out = NULL;
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	}
	*out = root;
	return 0;
}

static cJSON *jb_root(struct jb *b, const char *api_version, const char *kind)
{
	cJSON *r = jb_check(b, cJSON_CreateObject());
	jb_str(b, r, "apiVersion", api_version);
	jb_str(b, r, "kind", kind);
	return r;
}

static void labels(struct jb *b, cJSON *parent, const char *key, const k8s_cluster_spec *s,
		   const char *component)
{
	cJSON *l = jb_obj(b, parent, key);
	jb_str(b, l, "app", s->id);
	jb_str(b, l, "component", component);
	jb_str(b, l, "type", K8S_TYPE_LABEL);
}

static cJSON *metadata(struct jb *b, cJSON *root, const char *name, const k8s_cluster_spec *s,
		       const char *component)
{
	cJSON *m = jb_obj(b, root, "metadata");
	jb_str(b, m, "name", name);
	jb_str(b, m, "namespace", s->ns);
	labels(b, m, "labels", s, component);
	return m;
}

int k8s_cluster_set_owner(cJSON *obj, const k8s_cluster_spec *s, const char *uid, cm_err *err)
{
	cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	if (!cJSON_IsObject(m))
		return cm_err_set(err, FL_EINVAL, "the object has no metadata");
	struct jb b = {0};
	cJSON *refs = cJSON_GetObjectItemCaseSensitive(m, "ownerReferences");
	if (!refs)
		refs = jb_arr(&b, m, "ownerReferences");
	cJSON *r = jb_push_obj(&b, refs);
	jb_str(&b, r, "apiVersion", "apps/v1");
	jb_str(&b, r, "kind", "Deployment");
	jb_str(&b, r, "name", s->id);
	jb_str(&b, r, "uid", uid);
	jb_bool(&b, r, "controller", true);
	jb_bool(&b, r, "blockOwnerDeletion", true);
	return b.oom ? cm_err_set(err, FL_ENOMEM, "out of memory") : 0;
}

static void resources(struct jb *b, cJSON *container, int64_t cpu_milli, int64_t memory)
{
	char cpu[24], mem[24];
	k8s_cpu_quantity(cpu_milli, cpu, sizeof(cpu));
	k8s_memory_quantity(memory, mem, sizeof(mem));
	cJSON *r = jb_obj(b, container, "resources");
	/* Flink's limit factors default to 1: requests are the limits. */
	const char *which[] = {"requests", "limits"};
	for (int i = 0; i < 2; i++) {
		cJSON *q = jb_obj(b, r, which[i]);
		jb_str(b, q, "cpu", cpu);
		jb_str(b, q, "memory", mem);
	}
}

/* The pod spec shared by the JobManager and the TaskManagers: the service
 * account, the image's user, the configuration and token volumes, and the
 * main container (returned) with its mounts and FLINC_CONF_DIR. */
static cJSON *pod_spec(struct jb *b, cJSON *spec, const k8s_cluster_spec *s, const char *program)
{
	jb_str(b, spec, "serviceAccountName", s->service_account);
	cJSON *sc = jb_obj(b, spec, "securityContext");
	jb_bool(b, sc, "runAsNonRoot", true);
	jb_num(b, sc, "runAsUser", FLINC_UID);
	jb_num(b, sc, "runAsGroup", FLINC_UID);
	jb_num(b, sc, "fsGroup", FLINC_UID);
	char name[128];
	cJSON *vols = jb_arr(b, spec, "volumes");
	cJSON *v = jb_push_obj(b, vols);
	jb_str(b, v, "name", "flinc-config-volume");
	cJSON *cm = jb_obj(b, v, "configMap");
	k8s_cluster_configmap_name(s, name, sizeof(name));
	jb_str(b, cm, "name", name);
	v = jb_push_obj(b, vols);
	jb_str(b, v, "name", "flinc-token-volume");
	cJSON *sec = jb_obj(b, v, "secret");
	k8s_cluster_secret_name(s, name, sizeof(name));
	jb_str(b, sec, "secretName", name);
	jb_num(b, sec, "defaultMode", 0400);
	if (s->host_path[0]) {
		v = jb_push_obj(b, vols);
		jb_str(b, v, "name", "flinc-host-path-volume");
		cJSON *hp = jb_obj(b, v, "hostPath");
		jb_str(b, hp, "path", s->host_path);
		jb_str(b, hp, "type", "DirectoryOrCreate");
	}

	cJSON *c = jb_push_obj(b, jb_arr(b, spec, "containers"));
	jb_str(b, c, "name", K8S_MAIN_CONTAINER);
	jb_str(b, c, "image", s->image);
	jb_str(b, c, "imagePullPolicy", s->pull_policy);
	jb_push_str(b, jb_arr(b, c, "command"), program);
	cJSON *env = jb_arr(b, c, "env");
	cJSON *e = jb_push_obj(b, env);
	jb_str(b, e, "name", "FLINC_CONF_DIR");
	jb_str(b, e, "value", K8S_CONF_DIR);
	e = jb_push_obj(b, env);
	jb_str(b, e, "name", "POD_NAME");
	jb_str(b, jb_obj(b, jb_obj(b, e, "valueFrom"), "fieldRef"), "fieldPath", "metadata.name");
	cJSON *mounts = jb_arr(b, c, "volumeMounts");
	cJSON *m = jb_push_obj(b, mounts);
	jb_str(b, m, "name", "flinc-config-volume");
	jb_str(b, m, "mountPath", K8S_CONF_DIR);
	jb_bool(b, m, "readOnly", true);
	m = jb_push_obj(b, mounts);
	jb_str(b, m, "name", "flinc-token-volume");
	jb_str(b, m, "mountPath", K8S_SECRET_DIR);
	jb_bool(b, m, "readOnly", true);
	if (s->host_path[0]) {
		m = jb_push_obj(b, mounts);
		jb_str(b, m, "name", "flinc-host-path-volume");
		jb_str(b, m, "mountPath", s->mount_path);
	}
	return c;
}

static void port(struct jb *b, cJSON *ports, const char *name, int64_t p, bool service)
{
	cJSON *o = jb_push_obj(b, ports);
	jb_str(b, o, "name", name);
	jb_num(b, o, service ? "port" : "containerPort", (double)p);
	if (service)
		jb_num(b, o, "targetPort", (double)p);
	jb_str(b, o, "protocol", "TCP");
}

int k8s_cluster_deployment(const k8s_cluster_spec *s, const char *application, char *const *args,
			   size_t nargs, cJSON **out, cm_err *err)
{
	struct jb b = {0};
	cJSON *root = jb_root(&b, "apps/v1", "Deployment");
	metadata(&b, root, s->id, s, "jobmanager");
	cJSON *spec = jb_obj(&b, root, "spec");
	jb_num(&b, spec, "replicas", 1);
	/* One JobManager at a time: the old pod is gone before a new one
	 * starts (both would answer the same Service). */
	jb_str(&b, jb_obj(&b, spec, "strategy"), "type", "Recreate");
	labels(&b, jb_obj(&b, spec, "selector"), "matchLabels", s, "jobmanager");
	cJSON *tpl = jb_obj(&b, spec, "template");
	labels(&b, jb_obj(&b, tpl, "metadata"), "labels", s, "jobmanager");
	cJSON *ps = jb_obj(&b, tpl, "spec");
	cJSON *c = pod_spec(&b, ps, s, "flinc-jobmanager");
	cJSON *a = jb_arr(&b, c, "args");
	if (application) {
		jb_push_str(&b, a, "--application");
		jb_push_str(&b, a, application);
		jb_push_str(&b, a, "--");
		for (size_t i = 0; i < nargs; i++)
			jb_push_str(&b, a, args[i]);
	}
	cJSON *ports = jb_arr(&b, c, "ports");
	port(&b, ports, "rest", s->rest_port, false);
	port(&b, ports, "jobmanager-rpc", s->rpc_port, false);
	resources(&b, c, s->jm_cpu_milli, s->jm_memory);
	return jb_end(&b, root, out, err);
}

int k8s_cluster_configmap(const k8s_cluster_spec *s, const char *yaml, cJSON **out, cm_err *err)
{
	struct jb b = {0};
	char name[128];
	k8s_cluster_configmap_name(s, name, sizeof(name));
	cJSON *root = jb_root(&b, "v1", "ConfigMap");
	metadata(&b, root, name, s, "jobmanager");
	jb_str(&b, jb_obj(&b, root, "data"), "flinc.yaml", yaml);
	return jb_end(&b, root, out, err);
}

int k8s_cluster_secret(const k8s_cluster_spec *s, const char *token, cJSON **out, cm_err *err)
{
	struct jb b = {0};
	char name[128];
	k8s_cluster_secret_name(s, name, sizeof(name));
	cJSON *root = jb_root(&b, "v1", "Secret");
	metadata(&b, root, name, s, "jobmanager");
	jb_str(&b, root, "type", "Opaque");
	jb_str(&b, jb_obj(&b, root, "stringData"), "token", token);
	return jb_end(&b, root, out, err);
}

int k8s_cluster_service(const k8s_cluster_spec *s, bool rest, cJSON **out, cm_err *err)
{
	struct jb b = {0};
	char name[128];
	if (rest)
		k8s_cluster_rest_service_name(s, name, sizeof(name));
	else
		snprintf(name, sizeof(name), "%s", s->id);
	cJSON *root = jb_root(&b, "v1", "Service");
	metadata(&b, root, name, s, "jobmanager");
	cJSON *spec = jb_obj(&b, root, "spec");
	bool headless = !rest || strcmp(s->exposed_type, "Headless_ClusterIP") == 0;
	jb_str(&b, spec, "type", rest && !headless ? s->exposed_type : "ClusterIP");
	if (headless)
		jb_str(&b, spec, "clusterIP", "None");
	/* TaskManagers resolve the JobManager before its pod is Ready. */
	if (!rest)
		jb_bool(&b, spec, "publishNotReadyAddresses", true);
	labels(&b, spec, "selector", s, "jobmanager");
	cJSON *ports = jb_arr(&b, spec, "ports");
	if (rest)
		port(&b, ports, "rest", s->rest_port, true);
	else
		port(&b, ports, "jobmanager-rpc", s->rpc_port, true);
	return jb_end(&b, root, out, err);
}

int k8s_cluster_taskmanager_pod(const k8s_cluster_spec *s, const char *name, const char *owner_uid,
				cJSON **out, cm_err *err)
{
	struct jb b = {0};
	cJSON *root = jb_root(&b, "v1", "Pod");
	metadata(&b, root, name, s, "taskmanager");
	cJSON *spec = jb_obj(&b, root, "spec");
	/* A TaskManager that ends is replaced by the ResourceManager, not
	 * restarted in place by the kubelet. */
	jb_str(&b, spec, "restartPolicy", "Never");
	cJSON *c = pod_spec(&b, spec, s, "flinc-taskmanager");
	char rid[300];
	snprintf(rid, sizeof(rid), "%s=%s", CFG_TM_RESOURCE_ID, name);
	cJSON *a = jb_arr(&b, c, "args");
	jb_push_str(&b, a, "-D");
	jb_push_str(&b, a, rid);
	int64_t cpu = s->tm_cpu_milli ? s->tm_cpu_milli : s->tm_slots * 1000;
	/* The TaskManager announces the pod's CPU, not the node's, fractions
	 * too (0.2 is 0.2). */
	char cores[64];
	if (cpu % 1000 == 0) {
		snprintf(cores, sizeof(cores), "%s=%lld", CFG_TM_CPU_CORES,
			 (long long)(cpu / 1000));
	} else {
		snprintf(cores, sizeof(cores), "%s=%lld.%03lld", CFG_TM_CPU_CORES,
			 (long long)(cpu / 1000), (long long)(cpu % 1000));
		size_t n = strlen(cores);
		while (cores[n - 1] == '0')
			cores[--n] = '\0';
	}
	jb_push_str(&b, a, "-D");
	jb_push_str(&b, a, cores);
	resources(&b, c, cpu, s->tm_memory);
	if (!b.oom && root && owner_uid) {
		int rc = k8s_cluster_set_owner(root, s, owner_uid, err);
		if (rc) {
			cJSON_Delete(root);
			*out = NULL;
			return rc;
		}
	}
	return jb_end(&b, root, out, err);
}
