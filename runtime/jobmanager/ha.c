/*
 * ha.c — JobManager high availability on Kubernetes: see ha.h.
 */
#include "jobmanager/ha.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "k8s/client.h"
#include "k8s/cluster.h"
#include "k8s/lease.h"

#define HA_LABEL "high-availability"
#define JOB_GRAPH_PREFIX "jobGraph-"
#define CKP_PREFIX "checkpointID-"
/* A request of the HA store may not hold a checkpoint's completion longer. */
#define HA_TIMEOUT_MS 5000

struct jm_ha {
	char id[K8S_CLUSTER_ID_MAX + 1];
	char ns[64];
	char dir[PATH_MAX]; /* <storageDir>/<cluster-id> */
	k8s_config kcfg;
	pthread_mutex_t mu; /* kc */
	k8s_client *kc;
	k8s_lease *lease;
	char identity[K8S_LEASE_ID_MAX];
	void (*lost)(void *arg);
	void *lost_arg;
	atomic_bool stopping;
	/* The owners of the cluster's Deployment (a FlinkApplication), each
	 * {apiVersion, kind, name, uid}, given to the HA ConfigMaps; NULL:
	 * none (they are then owned by nothing). */
	cJSON *owners;
};

bool jm_ha_wanted(const cfg *c)
{
	const char *t = "NONE";
	cfg_get_string(c, CFG_HA_TYPE, &t);
	return t && strcasecmp(t, "KUBERNETES") == 0;
}

void jm_ha_application_job_id(const char *cluster_id, char out[33])
{
	/* Java's String.hashCode over the id (ASCII: one UTF-16 unit a byte),
	 * in a JobID whose lower part is that int widened and upper part 0. */
	uint32_t h = 0;
	for (const unsigned char *p = (const unsigned char *)cluster_id; *p; p++)
		h = 31u * h + *p;
	int64_t lower = (int32_t)h;
	snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, (uint64_t)lower, (uint64_t)0);
}

void jm_ha_checkpoint_key(uint64_t id, char *buf, size_t cap)
{
	snprintf(buf, cap, CKP_PREFIX "%019" PRIu64, id);
}

int jm_ha_latest_in(const cJSON *data, uint64_t *id, const char **dir)
{
	bool found = false;
	const cJSON *e;
	cJSON_ArrayForEach(e, data)
	{
		const char *k = e->string;
		if (!k || strncmp(k, CKP_PREFIX, strlen(CKP_PREFIX)) != 0 || !cJSON_IsString(e) ||
		    !e->valuestring[0])
			continue;
		const char *digits = k + strlen(CKP_PREFIX);
		if (strlen(digits) != 19 || strspn(digits, "0123456789") != 19)
			continue;
		uint64_t n = strtoull(digits, NULL, 10);
		if (!found || n > *id) {
			*id = n;
			*dir = e->valuestring;
			found = true;
		}
	}
	return found ? 0 : FL_ENOENT;
}

static void on_revoke(void *arg)
{
	jm_ha *ha = arg;
	if (atomic_load(&ha->stopping))
		return;
	CM_ERROR("ha", "JobManager %s is no longer the leader of cluster %s", ha->identity, ha->id);
	if (ha->lost)
		ha->lost(ha->lost_arg);
}

/* mkdir -p of an absolute path (0750). */
static int make_dirs(const char *path, cm_err *err)
{
	char p[PATH_MAX];
	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
		return cm_err_set(err, FL_ERANGE, "%s: path too long", CFG_HA_STORAGE_DIR);
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0750) != 0 && errno != EEXIST)
			return cm_err_set(err, FL_EIO, "%s: cannot create %s: %s",
					  CFG_HA_STORAGE_DIR, p, strerror(errno));
		*s = c;
		if (!c)
			return 0;
	}
}

int jm_ha_start(jm_ha **out, const cfg *c, void (*lost)(void *arg), void *arg, cm_err *err)
{
	*out = NULL;
	const char *id = "", *ns = "default", *storage = "";
	cfg_get_string(c, CFG_K8S_CLUSTER_ID, &id);
	cfg_get_string(c, CFG_K8S_NAMESPACE, &ns);
	cfg_get_string(c, CFG_HA_STORAGE_DIR, &storage);
	int rc = k8s_cluster_id_check(id ? id : "", err);
	if (rc)
		return rc;
	if (!storage || !*storage)
		return cm_err_set(
		    err, FL_EINVAL,
		    "%s must be set with %s: kubernetes (a directory every JobManager "
		    "pod mounts)",
		    CFG_HA_STORAGE_DIR, CFG_HA_TYPE);
	if (strncmp(storage, "file://", 7) == 0)
		storage += 7;
	if (storage[0] != '/')
		return cm_err_set(err, FL_EINVAL, "%s: '%.300s' is not a local absolute path",
				  CFG_HA_STORAGE_DIR, storage);
	int64_t lease_ms = 15000, renew_ms = 10000, retry_ms = 5000;
	cfg_get_duration_ms(c, CFG_HA_LEASE_DURATION, &lease_ms);
	cfg_get_duration_ms(c, CFG_HA_RENEW_DEADLINE, &renew_ms);
	cfg_get_duration_ms(c, CFG_HA_RETRY_PERIOD, &retry_ms);

	jm_ha *ha = calloc(1, sizeof(*ha));
	if (!ha)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	snprintf(ha->id, sizeof(ha->id), "%s", id);
	snprintf(ha->ns, sizeof(ha->ns), "%s", ns);
	ha->lost = lost;
	ha->lost_arg = arg;
	pthread_mutex_init(&ha->mu, NULL);
	/* Room for the names of files in it (job-<id>.json, lib-<sha256>.so). */
	if (snprintf(ha->dir, sizeof(ha->dir), "%s/%s", storage, id) >=
	    (int)sizeof(ha->dir) - 100) {
		rc = cm_err_set(err, FL_ERANGE, "%s: path too long", CFG_HA_STORAGE_DIR);
		goto fail;
	}
	if ((rc = make_dirs(ha->dir, err)) != 0)
		goto fail;
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	rc = host && *host ? k8s_config_in_cluster(&ha->kcfg, NULL, err)
			   : k8s_config_load(&ha->kcfg, NULL, err);
	if (rc || (rc = k8s_client_new(&ha->kc, &ha->kcfg, err)) != 0)
		goto fail;
	k8s_client_set_timeout_ms(ha->kc, HA_TIMEOUT_MS);
	if ((rc = k8s_lease_identity(ha->identity, sizeof(ha->identity))) != 0) {
		cm_err_set(err, rc, "cannot make a leader identity");
		goto fail;
	}
	/* The Lease goes with the Deployment (it keeps nothing worth keeping). */
	k8s_err e;
	k8s_err_clear(&e);
	cJSON *dep = NULL;
	char uid[64] = "";
	if (k8s_get(ha->kc, &K8S_DEPLOYMENTS, ha->ns, ha->id, &dep, &e) == 0 &&
	    k8s_str(dep, "metadata.uid"))
		snprintf(uid, sizeof(uid), "%s", k8s_str(dep, "metadata.uid"));
	ha->owners = jm_ha_map_owners(dep);
	cJSON_Delete(dep);
	char name[128];
	snprintf(name, sizeof(name), "%s-jobmanager-leader", ha->id);
	k8s_lease_opts lo = {.ns = ha->ns,
			     .name = name,
			     .identity = ha->identity,
			     .labels_app = ha->id,
			     .owner_uid = uid[0] ? uid : NULL,
			     .owner_name = ha->id,
			     .lease_duration_ms = lease_ms,
			     .renew_deadline_ms = renew_ms,
			     .retry_period_ms = retry_ms,
			     .on_revoke = on_revoke,
			     .arg = ha};
	if ((rc = k8s_lease_start(&ha->lease, &ha->kcfg, &lo, err)) != 0)
		goto fail;
	CM_INFO("ha",
		"High availability of cluster %s: candidate %s for lease/%s in namespace %s "
		"(lease %lld ms, renew deadline %lld ms, retry %lld ms), job records in %s",
		ha->id, ha->identity, name, ha->ns, (long long)lease_ms, (long long)renew_ms,
		(long long)retry_ms, ha->dir);
	*out = ha;
	return 0;
fail:
	jm_ha_free(ha, false);
	return rc;
}

bool jm_ha_await(jm_ha *ha, int64_t wait_ms)
{
	return k8s_lease_await(ha->lease, wait_ms);
}

bool jm_ha_is_leader(jm_ha *ha)
{
	return k8s_lease_is_leader(ha->lease);
}

const char *jm_ha_identity(const jm_ha *ha)
{
	return ha->identity;
}

static void cluster_map_name(const jm_ha *ha, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s-cluster-config-map", ha->id);
}

static void job_map_name(const jm_ha *ha, const char *job_id, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s-%s-config-map", ha->id, job_id);
}

static cJSON *new_map(const jm_ha *ha, const char *name)
{
	cJSON *o = cJSON_CreateObject(), *md, *labels;
	bool ok = o && cJSON_AddStringToObject(o, "apiVersion", "v1") &&
		  cJSON_AddStringToObject(o, "kind", "ConfigMap") &&
		  (md = cJSON_AddObjectToObject(o, "metadata")) &&
		  cJSON_AddStringToObject(md, "name", name) &&
		  (labels = cJSON_AddObjectToObject(md, "labels")) &&
		  cJSON_AddStringToObject(labels, "app", ha->id) &&
		  cJSON_AddStringToObject(labels, "configmap-type", HA_LABEL) &&
		  cJSON_AddStringToObject(labels, "type", K8S_TYPE_LABEL) &&
		  cJSON_AddObjectToObject(o, "data");
	if (ok)
		return o;
	cJSON_Delete(o);
	return NULL;
}

cJSON *jm_ha_map_owners(const cJSON *deployment)
{
	const cJSON *refs = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(deployment, "metadata"), "ownerReferences");
	cJSON *out = NULL, *ref;
	cJSON_ArrayForEach(ref, refs)
	{
		static const char *const keys[] = {"apiVersion", "kind", "name", "uid"};
		cJSON *o = cJSON_CreateObject();
		bool ok = o != NULL;
		for (size_t i = 0; ok && i < sizeof(keys) / sizeof(*keys); i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(ref, keys[i]);
			ok = cJSON_IsString(v) && v->valuestring[0] &&
			     cJSON_AddStringToObject(o, keys[i], v->valuestring);
		}
		if (ok && !out)
			ok = (out = cJSON_CreateArray()) != NULL;
		if (!ok || !cJSON_AddItemToArray(out, o))
			cJSON_Delete(o); /* malformed (or no memory): skipped */
	}
	return out;
}

bool jm_ha_add_owners(cJSON *metadata, const cJSON *owners)
{
	if (!cJSON_GetArraySize(owners))
		return true;
	cJSON *refs = cJSON_GetObjectItemCaseSensitive(metadata, "ownerReferences");
	if (!cJSON_IsArray(refs)) {
		cJSON_DeleteItemFromObjectCaseSensitive(metadata, "ownerReferences");
		if (!(refs = cJSON_AddArrayToObject(metadata, "ownerReferences")))
			return false;
	}
	const cJSON *want;
	cJSON_ArrayForEach(want, owners)
	{
		const char *uid = k8s_str(want, "uid");
		bool have = false;
		const cJSON *r;
		cJSON_ArrayForEach(r, refs)
		{
			const char *u = k8s_str(r, "uid");
			have = have || (u && uid && strcmp(u, uid) == 0);
		}
		cJSON *copy = have ? NULL : cJSON_Duplicate(want, true);
		if (!have && (!copy || !cJSON_AddItemToArray(refs, copy))) {
			cJSON_Delete(copy);
			return false;
		}
	}
	return true;
}

/* One change to a map's data: set key to value (NULL: remove it); prune:
 * remove the other checkpointID-* keys. */
struct edit {
	jm_ha *ha;
	const char *key, *value;
	bool prune;
	const char *counter; /* NULL or the next checkpoint id */
};

static int apply_edit(void *arg, cJSON *obj)
{
	struct edit *ed = arg;
	/* Checked right before each PUT (a retry after a Conflict too). */
	if (!k8s_lease_is_leader(ed->ha->lease))
		return FL_ECANCELED;
	cJSON *data = cJSON_GetObjectItemCaseSensitive(obj, "data");
	if (!cJSON_IsObject(data)) {
		cJSON_DeleteItemFromObjectCaseSensitive(obj, "data");
		if (!(data = cJSON_AddObjectToObject(obj, "data")))
			return FL_ENOMEM;
	}
	if (ed->prune) {
		for (cJSON *e = data->child, *next; e; e = next) {
			next = e->next;
			if (e->string && strncmp(e->string, CKP_PREFIX, strlen(CKP_PREFIX)) == 0)
				cJSON_Delete(cJSON_DetachItemViaPointer(data, e));
		}
	}
	cJSON_DeleteItemFromObjectCaseSensitive(data, ed->key);
	if (ed->value && !cJSON_AddStringToObject(data, ed->key, ed->value))
		return FL_ENOMEM;
	if (ed->counter) {
		cJSON_DeleteItemFromObjectCaseSensitive(data, "counter");
		if (!cJSON_AddStringToObject(data, "counter", ed->counter))
			return FL_ENOMEM;
	}
	cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	cJSON *ann = cJSON_GetObjectItemCaseSensitive(md, "annotations");
	if (!cJSON_IsObject(ann)) {
		cJSON_DeleteItemFromObjectCaseSensitive(md, "annotations");
		ann = cJSON_AddObjectToObject(md, "annotations");
	}
	if (ann) {
		cJSON_DeleteItemFromObjectCaseSensitive(ann, "flinc.dev/leader");
		cJSON_AddStringToObject(ann, "flinc.dev/leader", ed->ha->identity);
	}
	return jm_ha_add_owners(md, ed->ha->owners) ? 0 : FL_ENOMEM;
}

/* Applies ed to ConfigMap name, creating it when missing (mu held). */
static int edit_map(jm_ha *ha, const char *name, struct edit *ed, cm_err *err)
{
	for (int round = 0; round < 3; round++) {
		k8s_err e;
		k8s_err_clear(&e);
		int rc = k8s_modify(ha->kc, &K8S_CONFIGMAPS, ha->ns, name, NULL, apply_edit, ed, 0,
				    NULL, &e);
		if (rc == FL_ECANCELED)
			return cm_err_set(
			    err, rc,
			    "JobManager %s is not the leader of cluster %s: configmap/%s "
			    "is not written",
			    ha->identity, ha->id, name);
		if (rc != FL_ENOENT || !k8s_err_is(&e, "NotFound")) {
			if (rc)
				cm_err_set(err, rc, "%s", e.e.msg);
			return rc;
		}
		if (!ed->value)
			return 0; /* nothing to remove */
		cJSON *o = new_map(ha, name);
		if (!o)
			return cm_err_set(err, FL_ENOMEM, "out of memory");
		if ((rc = apply_edit(ed, o)) != 0) {
			cJSON_Delete(o);
			if (rc == FL_ECANCELED)
				return cm_err_set(err, rc,
						  "JobManager %s is not the leader of cluster %s: "
						  "configmap/%s is not created",
						  ha->identity, ha->id, name);
			return cm_err_set(err, rc, "out of memory");
		}
		k8s_err_clear(&e);
		rc = k8s_create(ha->kc, &K8S_CONFIGMAPS, ha->ns, o, NULL, &e);
		cJSON_Delete(o);
		if (rc == 0)
			return 0;
		if (!k8s_err_is(&e, "AlreadyExists"))
			return cm_err_set(err, rc, "%s", e.e.msg);
	}
	return cm_err_set(err, FL_EIO, "configmap/%s: created and deleted under us", name);
}

/* Writes text to path through a synced temporary file renamed into place. */
static int write_file(const char *path, const char *text, cm_err *err)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.inprogress", path) >= (int)sizeof(tmp))
		return cm_err_set(err, FL_ERANGE, "%s: path too long", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return cm_err_set(err, FL_EIO, "cannot write %s: %s", tmp, strerror(errno));
	size_t len = strlen(text), done = 0;
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = errno;
			close(fd);
			unlink(tmp);
			return cm_err_set(err, FL_EIO, "cannot write %s: %s", tmp, strerror(e));
		}
		done += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return cm_err_set(err, FL_EIO, "cannot write %s: %s", path, strerror(e));
	}
	return 0;
}

/* ha->dir leaves room for these names (jm_ha_start). */
static void job_file(const jm_ha *ha, const char *job_id, char *buf, size_t cap)
{
	if (snprintf(buf, cap, "%s/job-%.32s.json", ha->dir, job_id) >= (int)cap)
		buf[0] = '\0';
}

int jm_ha_put_job(jm_ha *ha, const char *job_id, const cJSON *record, cm_err *err)
{
	if (!jm_ha_is_leader(ha))
		return cm_err_set(err, FL_ECANCELED,
				  "JobManager %s is not the leader of cluster %s: job %s is not "
				  "recorded",
				  ha->identity, ha->id, job_id);
	char path[PATH_MAX], key[64], name[160];
	job_file(ha, job_id, path, sizeof(path));
	char *text = cJSON_PrintUnformatted(record);
	if (!text)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	int rc = write_file(path, text, err);
	free(text);
	if (rc)
		return rc;
	snprintf(key, sizeof(key), JOB_GRAPH_PREFIX "%s", job_id);
	cluster_map_name(ha, name, sizeof(name));
	struct edit ed = {.ha = ha, .key = key, .value = path};
	pthread_mutex_lock(&ha->mu);
	rc = edit_map(ha, name, &ed, err);
	pthread_mutex_unlock(&ha->mu);
	if (rc == 0)
		CM_INFO("ha", "Recorded job %s: %s in configmap/%s", job_id, path, name);
	return rc;
}

int jm_ha_put_library(jm_ha *ha, const char *hash, const char *path, char *out, size_t cap,
		      cm_err *err)
{
	if (strlen(hash) != 64 || strspn(hash, "0123456789abcdef") != 64)
		return cm_err_set(err, FL_EINVAL, "not a library hash: '%.80s'", hash);
	if (snprintf(out, cap, "%s/lib-%s.so", ha->dir, hash) >= (int)cap)
		return cm_err_set(err, FL_ERANGE, "%s: path too long", CFG_HA_STORAGE_DIR);
	struct stat st;
	if (stat(out, &st) == 0 && S_ISREG(st.st_mode))
		return 0; /* the same bytes, by their hash */
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.inprogress", out) >= (int)sizeof(tmp))
		return cm_err_set(err, FL_ERANGE, "%s: path too long", CFG_HA_STORAGE_DIR);
	int in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return cm_err_set(err, FL_EIO, "cannot read %s: %s", path, strerror(errno));
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0) {
		int e = errno;
		close(in);
		return cm_err_set(err, FL_EIO, "cannot write %s: %s", tmp, strerror(e));
	}
	char buf[65536];
	int rc = 0;
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				rc = cm_err_set(err, FL_EIO, "cannot read %s: %s", path,
						strerror(errno));
			break;
		}
		for (ssize_t done = 0; rc == 0 && done < n;) {
			ssize_t w = write(fd, buf + done, (size_t)(n - done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				rc = cm_err_set(err, FL_EIO, "cannot write %s: %s", tmp,
						strerror(errno));
			else
				done += w;
		}
		if (rc)
			break;
	}
	close(in);
	if (rc == 0 && fsync(fd) != 0)
		rc = cm_err_set(err, FL_EIO, "cannot write %s: %s", tmp, strerror(errno));
	if (close(fd) != 0 && rc == 0)
		rc = cm_err_set(err, FL_EIO, "cannot write %s: %s", tmp, strerror(errno));
	if (rc == 0 && rename(tmp, out) != 0)
		rc = cm_err_set(err, FL_EIO, "cannot write %s: %s", out, strerror(errno));
	if (rc)
		unlink(tmp);
	return rc;
}

/* The JSON record at path, at most JM_HA_RECORD_MAX bytes, or NULL (logged). */
static cJSON *read_record(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > JM_HA_RECORD_MAX) {
		CM_WARN("ha", "Skipping the job record %s: %s", path,
			fd < 0 ? strerror(errno) : "not a file of 1 byte to 16 MiB");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	size_t len = (size_t)st.st_size, got = 0;
	char *text = malloc(len + 1);
	while (text && got < len) {
		ssize_t n = read(fd, text + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	cJSON *rec = NULL;
	if (text && got == len) {
		text[len] = '\0';
		rec = cJSON_ParseWithLength(text, len);
	}
	free(text);
	if (!cJSON_IsObject(rec)) {
		CM_WARN("ha", "Skipping the job record %s: not a JSON object", path);
		cJSON_Delete(rec);
		return NULL;
	}
	return rec;
}

/* HA ConfigMap name into *cm: 0, FL_ENOENT (none, err untouched) or the
 * API's error in err. */
static int get_map(jm_ha *ha, const char *name, cJSON **cm, cm_err *err)
{
	k8s_err e;
	k8s_err_clear(&e);
	pthread_mutex_lock(&ha->mu);
	int rc = k8s_get(ha->kc, &K8S_CONFIGMAPS, ha->ns, name, cm, &e);
	pthread_mutex_unlock(&ha->mu);
	if (rc && rc != FL_ENOENT)
		return cm_err_set(err, rc, "%s", e.e.msg);
	return rc;
}

int jm_ha_list_jobs(jm_ha *ha, void (*fn)(void *arg, const char *job_id, const cJSON *record),
		    void *arg, cm_err *err)
{
	char name[160];
	cluster_map_name(ha, name, sizeof(name));
	cJSON *cm = NULL;
	int rc = get_map(ha, name, &cm, err);
	if (rc == FL_ENOENT)
		return 0;
	if (rc)
		return rc;
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(cm, "data"))
	{
		const char *k = it->string;
		size_t pl = strlen(JOB_GRAPH_PREFIX);
		if (!k || strncmp(k, JOB_GRAPH_PREFIX, pl) != 0 || strlen(k + pl) != 32 ||
		    strspn(k + pl, "0123456789abcdef") != 32 || !cJSON_IsString(it))
			continue;
		/* Only records of this cluster's directory are read. */
		char want[PATH_MAX];
		job_file(ha, k + pl, want, sizeof(want));
		if (strcmp(it->valuestring, want) != 0) {
			CM_WARN("ha", "Skipping job %s: its record is '%.300s', not %s", k + pl,
				it->valuestring, want);
			continue;
		}
		cJSON *rec = read_record(want);
		if (rec)
			fn(arg, k + pl, rec);
		cJSON_Delete(rec);
	}
	cJSON_Delete(cm);
	return 0;
}

int jm_ha_latest_checkpoint(jm_ha *ha, const char *job_id, char *dir, size_t cap, uint64_t *id,
			    cm_err *err)
{
	char name[160];
	job_map_name(ha, job_id, name, sizeof(name));
	cJSON *cm = NULL;
	int rc = get_map(ha, name, &cm, err);
	if (rc)
		return rc;
	const char *d = NULL;
	rc = jm_ha_latest_in(cJSON_GetObjectItemCaseSensitive(cm, "data"), id, &d);
	if (rc == 0 && snprintf(dir, cap, "%s", d) >= (int)cap)
		rc = cm_err_set(err, FL_ERANGE, "configmap/%s: a checkpoint path too long", name);
	cJSON_Delete(cm);
	return rc;
}

int jm_ha_put_checkpoint(jm_ha *ha, const char *job_id, uint64_t id, const char *dir, cm_err *err)
{
	char name[160], key[40], counter[32];
	job_map_name(ha, job_id, name, sizeof(name));
	jm_ha_checkpoint_key(id, key, sizeof(key));
	snprintf(counter, sizeof(counter), "%" PRIu64, id + 1);
	struct edit ed = {.ha = ha, .key = key, .value = dir, .prune = true, .counter = counter};
	pthread_mutex_lock(&ha->mu);
	int rc = edit_map(ha, name, &ed, err);
	pthread_mutex_unlock(&ha->mu);
	if (rc == 0)
		CM_INFO("ha", "Recorded checkpoint %" PRIu64 " of job %s in configmap/%s: %s", id,
			job_id, name, dir);
	return rc;
}

static int delete_map(jm_ha *ha, const char *name, cm_err *err)
{
	k8s_err e;
	k8s_err_clear(&e);
	int rc = k8s_delete(ha->kc, &K8S_CONFIGMAPS, ha->ns, name, NULL, NULL, &e);
	if (rc && !k8s_err_is(&e, "NotFound"))
		return cm_err_set(err, rc, "%s", e.e.msg);
	return 0;
}

/* The cluster's map, once it records no job, goes: nothing is left to
 * recover (mu held). Conditional on the version read: a job recorded
 * meanwhile keeps it. Best effort. */
static void drop_if_empty(jm_ha *ha, const char *name)
{
	k8s_err e;
	k8s_err_clear(&e);
	cJSON *cm = NULL;
	if (k8s_get(ha->kc, &K8S_CONFIGMAPS, ha->ns, name, &cm, &e) != 0)
		return;
	bool jobs = false;
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(cm, "data"))
	{
		jobs = jobs || (it->string && strncmp(it->string, JOB_GRAPH_PREFIX,
						      strlen(JOB_GRAPH_PREFIX)) == 0);
	}
	const char *rv = k8s_str(cm, "metadata.resourceVersion");
	if (!jobs && rv && k8s_lease_is_leader(ha->lease)) {
		k8s_delete_opts o = {.resource_version = rv};
		k8s_err_clear(&e);
		if (k8s_delete(ha->kc, &K8S_CONFIGMAPS, ha->ns, name, &o, NULL, &e) == 0)
			CM_INFO("ha", "configmap/%s records no job any more: removed", name);
	}
	cJSON_Delete(cm);
}

int jm_ha_job_done(jm_ha *ha, const char *job_id, cm_err *err)
{
	char name[160], key[64], path[PATH_MAX];
	job_map_name(ha, job_id, name, sizeof(name));
	snprintf(key, sizeof(key), JOB_GRAPH_PREFIX "%s", job_id);
	pthread_mutex_lock(&ha->mu);
	int rc = delete_map(ha, name, err);
	if (rc == 0) {
		char cname[160];
		cluster_map_name(ha, cname, sizeof(cname));
		struct edit ed = {.ha = ha, .key = key, .value = NULL};
		if ((rc = edit_map(ha, cname, &ed, err)) == 0)
			drop_if_empty(ha, cname);
	}
	pthread_mutex_unlock(&ha->mu);
	job_file(ha, job_id, path, sizeof(path));
	if (rc == 0 && unlink(path) != 0 && errno != ENOENT)
		CM_WARN("ha", "Cannot remove %s: %s", path, strerror(errno));
	if (rc == 0)
		CM_INFO("ha", "Job %s is globally terminal: configmap/%s and its record removed",
			job_id, name);
	return rc;
}

int jm_ha_cleanup(jm_ha *ha, cm_err *err)
{
	char sel[200];
	snprintf(sel, sizeof(sel), "app=%s,configmap-type=%s", ha->id, HA_LABEL);
	k8s_list_opts lo = {.label_selector = sel};
	k8s_err e;
	k8s_err_clear(&e);
	cJSON *list = NULL;
	pthread_mutex_lock(&ha->mu);
	int rc = k8s_list(ha->kc, &K8S_CONFIGMAPS, ha->ns, &lo, &list, &e);
	if (rc)
		cm_err_set(err, rc, "%s", e.e.msg);
	cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(list, "items"))
	{
		const char *name = k8s_str(it, "metadata.name");
		if (name && rc == 0)
			rc = delete_map(ha, name, err);
	}
	pthread_mutex_unlock(&ha->mu);
	cJSON_Delete(list);
	if (rc == 0)
		CM_INFO("ha", "Removed the high-availability ConfigMaps of cluster %s (%s)", ha->id,
			sel);
	rmdir(ha->dir);
	return rc;
}

void jm_ha_free(jm_ha *ha, bool release)
{
	if (!ha)
		return;
	atomic_store(&ha->stopping, true);
	k8s_lease_free(ha->lease, release);
	cJSON_Delete(ha->owners);
	k8s_client_free(ha->kc);
	k8s_config_fini(&ha->kcfg);
	pthread_mutex_destroy(&ha->mu);
	free(ha);
}
