/*
 * spec.c — decoding and checking a FlinkApplication: see spec.h.
 */
#include "operator/spec.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/kubernetes.h"
#include "k8s/podtemplate.h"

/* ---------------------------------------------------------------- fields */

/* Puts prefix before err's message (which snprintf must not read while it
 * writes it). */
static int wrap(cm_err *err, int rc, const char *prefix)
{
	char m[CM_ERR_MSG_MAX];
	snprintf(m, sizeof(m), "%s", err->msg);
	err->code = 0; /* cm_err_set keeps a first error */
	return cm_err_set(err, rc, "%s%.400s", prefix, m);
}

static cJSON *item(const cJSON *o, const char *key)
{
	return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

/* An optional object: absent or null is fine (*out NULL). */
static int get_obj(const cJSON *o, const char *key, const char *path, const cJSON **out,
		   cm_err *err)
{
	const cJSON *v = item(o, key);
	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsObject(v))
		return cm_err_set(err, FL_EINVAL, "%s.%s must be an object", path, key);
	*out = v;
	return 0;
}

static int get_str(const cJSON *o, const char *key, const char *path, char *buf, size_t cap,
		   bool required, cm_err *err)
{
	const cJSON *v = item(o, key);
	if (!v || cJSON_IsNull(v)) {
		if (required)
			return cm_err_set(err, FL_EINVAL, "%s.%s is required", path, key);
		return 0;
	}
	if (!cJSON_IsString(v))
		return cm_err_set(err, FL_EINVAL, "%s.%s must be a string", path, key);
	size_t n = strlen(v->valuestring);
	if (n >= cap)
		return cm_err_set(err, FL_EINVAL, "%s.%s is longer than %zu characters", path, key,
				  cap - 1);
	if (required && n == 0)
		return cm_err_set(err, FL_EINVAL, "%s.%s must not be empty", path, key);
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)v->valuestring[i] < 0x20 || v->valuestring[i] == 0x7f)
			return cm_err_set(err, FL_EINVAL, "%s.%s holds a control character", path,
					  key);
	}
	memcpy(buf, v->valuestring, n + 1);
	return 0;
}

/* An integer in [min, max]; *present tells whether it was given. */
static int get_int(const cJSON *o, const char *key, const char *path, int64_t min, int64_t max,
		   int64_t *out, bool *present, cm_err *err)
{
	const cJSON *v = item(o, key);
	if (present)
		*present = false;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
	    v->valuedouble != floor(v->valuedouble))
		return cm_err_set(err, FL_EINVAL, "%s.%s must be an integer", path, key);
	if (v->valuedouble < (double)min || v->valuedouble > (double)max)
		return cm_err_set(err, FL_EINVAL, "%s.%s must be between %lld and %lld, not %.0f",
				  path, key, (long long)min, (long long)max, v->valuedouble);
	*out = (int64_t)v->valuedouble;
	if (present)
		*present = true;
	return 0;
}

static int get_bool(const cJSON *o, const char *key, const char *path, bool *out, cm_err *err)
{
	const cJSON *v = item(o, key);
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsBool(v))
		return cm_err_set(err, FL_EINVAL, "%s.%s must be true or false", path, key);
	*out = cJSON_IsTrue(v);
	return 0;
}

int op_parse_memory(const char *q, int64_t *bytes)
{
	static const struct {
		const char *suffix;
		double factor;
	} units[] = {
	    {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
	    {"k", 1e3},	    {"M", 1e6},	       {"G", 1e9},	     {"T", 1e12},
	    {"", 1.0}};
	if (!q || !*q || strlen(q) > 40)
		return FL_EINVAL;
	const char *p = q;
	double whole = 0, frac = 0, scale = 1;
	int digits = 0;
	for (; *p >= '0' && *p <= '9'; p++, digits++)
		whole = whole * 10 + (*p - '0');
	if (!digits)
		return FL_EINVAL;
	if (*p == '.') {
		p++;
		int fd = 0;
		for (; *p >= '0' && *p <= '9'; p++, fd++) {
			scale /= 10;
			frac += (*p - '0') * scale;
		}
		if (!fd)
			return FL_EINVAL;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].suffix) == 0) {
			double v = (whole + frac) * units[i].factor;
			if (v > 9007199254740992.0 || v != floor(v))
				return FL_EINVAL;
			*bytes = (int64_t)v;
			return 0;
		}
	}
	return FL_EINVAL;
}

static int get_resources(const cJSON *parent, const char *path, double *cpu, int64_t *mem,
			 cm_err *err)
{
	const cJSON *r;
	char p[64];
	snprintf(p, sizeof(p), "%s.resources", path);
	int rc = get_obj(parent, "resources", path, &r, err);
	if (rc || !r)
		return rc;
	const cJSON *c = item(r, "cpu");
	if (c && !cJSON_IsNull(c)) {
		if (!cJSON_IsNumber(c) || !isfinite(c->valuedouble) || c->valuedouble < 0.001 ||
		    c->valuedouble > 4096)
			return cm_err_set(err, FL_EINVAL,
					  "%s.cpu must be a number of cores from 0.001 to 4096", p);
		*cpu = c->valuedouble;
	}
	char m[48] = "";
	if ((rc = get_str(r, "memory", p, m, sizeof(m), false, err)) != 0)
		return rc;
	if (*m) {
		if (op_parse_memory(m, mem) != 0 || *mem < (64 << 20))
			return cm_err_set(
			    err, FL_EINVAL,
			    "%s.memory '%s' is no Kubernetes quantity of at least 64Mi "
			    "(e.g. 512Mi, 2Gi)",
			    p, m);
	}
	return 0;
}

/* The chart's defaultConfiguration (op_spec_set_defaults): set once at
 * startup, read-only after. */
static cJSON *defaults;

const cJSON *op_spec_conf(const op_spec *s, const char *key)
{
	const cJSON *v = item(s->configuration, key);
	if (!v)
		v = item(defaults, key);
	return cJSON_IsString(v) ? v : NULL;
}

/*
 * The Apache operator's kubernetes.operator.* keys the operator reads from
 * flincConfiguration (they are the operator's, not the cluster's): the
 * periodic savepoint interval, the savepoint history's caps, whether what
 * leaves the history is disposed, savepoint-on-deletion. A value that does
 * not parse is refused naming its key.
 */
static int operator_keys(op_spec *s, cm_err *err)
{
	s->history_max_count = OP_HISTORY_COUNT_DEFAULT;
	s->history_max_age_ms = OP_HISTORY_AGE_DEFAULT_MS;
	s->savepoint_cleanup = true;
	const cJSON *v = op_spec_conf(s, OP_KEY_PERIODIC);
	if (cJSON_IsString(v) && (cfg_parse_duration_ms(v->valuestring, &s->periodic_savepoint_ms) != 0 ||
				  s->periodic_savepoint_ms < 0))
		return cm_err_set(err, FL_EINVAL,
				  "spec.flincConfiguration.%s: '%.60s' is no duration (\"10 min\", "
				  "\"1 h\"; 0 for none)",
				  OP_KEY_PERIODIC, v->valuestring);
	if (s->periodic_savepoint_ms > 0 && s->periodic_savepoint_ms < 1000)
		return cm_err_set(err, FL_EINVAL,
				  "spec.flincConfiguration.%s: at least 1 s (or 0 for none)",
				  OP_KEY_PERIODIC);
	v = op_spec_conf(s, OP_KEY_HISTORY_AGE);
	if (cJSON_IsString(v) && (cfg_parse_duration_ms(v->valuestring, &s->history_max_age_ms) != 0 ||
				  s->history_max_age_ms < 0))
		return cm_err_set(err, FL_EINVAL,
				  "spec.flincConfiguration.%s: '%.60s' is no duration (\"1 d\"; 0 for "
				  "no age limit)",
				  OP_KEY_HISTORY_AGE, v->valuestring);
	v = op_spec_conf(s, OP_KEY_HISTORY_COUNT);
	if (cJSON_IsString(v)) {
		char *end = NULL;
		errno = 0;
		long long n = strtoll(v->valuestring, &end, 10);
		if (errno || end == v->valuestring || *end || n < 1 || n > OP_HISTORY_LIMIT)
			return cm_err_set(err, FL_EINVAL,
					  "spec.flincConfiguration.%s: '%.60s' is not a whole number "
					  "from 1 to %d",
					  OP_KEY_HISTORY_COUNT, v->valuestring, OP_HISTORY_LIMIT);
		s->history_max_count = n;
	}
	static const char *const bools[] = {OP_KEY_CLEANUP, OP_KEY_SAVEPOINT_ON_DELETION};
	bool *outs[] = {&s->savepoint_cleanup, &s->savepoint_on_deletion};
	for (size_t i = 0; i < 2; i++) {
		v = op_spec_conf(s, bools[i]);
		if (!cJSON_IsString(v))
			continue;
		if (strcasecmp(v->valuestring, "true") == 0)
			*outs[i] = true;
		else if (strcasecmp(v->valuestring, "false") == 0)
			*outs[i] = false;
		else
			return cm_err_set(err, FL_EINVAL,
					  "spec.flincConfiguration.%s: '%.60s' is neither true nor false",
					  bools[i], v->valuestring);
	}
	return 0;
}

static int decode_spec(op_app *app, const cJSON *spec, cm_err *err)
{
	op_spec *s = &app->spec;
	memset(s, 0, sizeof(*s));
	snprintf(s->pull_policy, sizeof(s->pull_policy), "IfNotPresent");
	snprintf(s->service_account, sizeof(s->service_account), "flinc");
	s->slots = 1;
	if (!cJSON_IsObject(spec))
		return cm_err_set(err, FL_EINVAL, "spec is required and must be an object");
	int rc;
	if ((rc = get_str(spec, "image", "spec", s->image, sizeof(s->image), true, err)) != 0)
		return rc;
	if (strchr(s->image, ' '))
		return cm_err_set(err, FL_EINVAL, "spec.image holds a space");
	if ((rc = get_str(spec, "imagePullPolicy", "spec", s->pull_policy, sizeof(s->pull_policy),
			  false, err)) != 0)
		return rc;
	if (strcmp(s->pull_policy, "Always") && strcmp(s->pull_policy, "IfNotPresent") &&
	    strcmp(s->pull_policy, "Never"))
		return cm_err_set(err, FL_EINVAL,
				  "spec.imagePullPolicy must be Always, IfNotPresent or Never, not "
				  "'%.40s'",
				  s->pull_policy);
	if ((rc = get_str(spec, "serviceAccount", "spec", s->service_account,
			  sizeof(s->service_account), false, err)) != 0)
		return rc;
	if (!*s->service_account)
		return cm_err_set(err, FL_EINVAL, "spec.serviceAccount must not be empty");
	if ((rc = get_obj(spec, "flincConfiguration", "spec", &s->configuration, err)) != 0)
		return rc;
	const cJSON *kv;
	int nkeys = 0;
	cJSON_ArrayForEach(kv, s->configuration)
	{
		if (++nkeys > 1000)
			return cm_err_set(err, FL_EINVAL,
					  "spec.flincConfiguration has more than 1000 keys");
		if (!cJSON_IsString(kv))
			return cm_err_set(err, FL_EINVAL,
					  "spec.flincConfiguration.%.200s must be a string (quote "
					  "numbers and booleans in YAML)",
					  kv->string);
	}
	if ((rc = operator_keys(s, err)) != 0)
		return rc;
	bool present;
	if ((rc = get_int(spec, "restartNonce", "spec", INT64_MIN / 2, INT64_MAX / 2,
			  &s->restart_nonce, NULL, err)) != 0)
		return rc;
	const cJSON *jm, *tm, *job;
	if ((rc = get_obj(spec, "podTemplate", "spec", &s->pod_template, err)) != 0 ||
	    (rc = get_obj(spec, "jobManager", "spec", &jm, err)) != 0 ||
	    (rc = get_obj(spec, "taskManager", "spec", &tm, err)) != 0 ||
	    (rc = get_obj(spec, "job", "spec", &job, err)) != 0)
		return rc;
	int64_t jm_replicas = 1;
	if ((rc = get_int(jm, "replicas", "spec.jobManager", 1, 1, &jm_replicas, NULL, err)) != 0 ||
	    (rc = get_resources(jm, "spec.jobManager", &s->jm_cpu, &s->jm_memory, err)) != 0 ||
	    (rc = get_obj(jm, "podTemplate", "spec.jobManager", &s->jm_pod_template, err)) != 0)
		return rc;
	if ((rc = get_int(tm, "replicas", "spec.taskManager", 1, 1000, &s->tm_replicas, NULL,
			  err)) != 0 ||
	    (rc = get_int(tm, "slots", "spec.taskManager", 1, 1024, &s->slots, NULL, err)) != 0 ||
	    (rc = get_resources(tm, "spec.taskManager", &s->tm_cpu, &s->tm_memory, err)) != 0 ||
	    (rc = get_obj(tm, "podTemplate", "spec.taskManager", &s->tm_pod_template, err)) != 0)
		return rc;
	/* Pods, as a pod template file must be (refused here, not when the
	 * cluster is made). */
	if ((s->pod_template &&
	     (rc = k8s_pod_template_check(s->pod_template, "spec.podTemplate", err)) != 0) ||
	    (s->jm_pod_template && (rc = k8s_pod_template_check(s->jm_pod_template,
								 "spec.jobManager.podTemplate",
								 err)) != 0) ||
	    (s->tm_pod_template && (rc = k8s_pod_template_check(s->tm_pod_template,
								 "spec.taskManager.podTemplate",
								 err)) != 0))
		return rc;
	if (!job)
		return 0;
	s->has_job = true;
	char uri[OP_PATH_MAX + 16];
	if ((rc = get_str(job, "uri", "spec.job", uri, sizeof(uri), true, err)) != 0)
		return rc;
	if ((rc = cl_k8s_job_path(uri, s->job_path, sizeof(s->job_path), err)) != 0)
		return wrap(err, rc, "spec.job.uri: ");
	const cJSON *args = item(job, "args");
	if (args && !cJSON_IsNull(args)) {
		if (!cJSON_IsArray(args))
			return cm_err_set(err, FL_EINVAL,
					  "spec.job.args must be a list of strings");
		int i = 0;
		const cJSON *a;
		cJSON_ArrayForEach(a, args)
		{
			if (!cJSON_IsString(a))
				return cm_err_set(err, FL_EINVAL,
						  "spec.job.args[%d] must be a string", i);
			if (++i > OP_ARGS_MAX)
				return cm_err_set(err, FL_EINVAL,
						  "spec.job.args has more than %d items",
						  OP_ARGS_MAX);
		}
		s->args = args;
	}
	if ((rc = get_int(job, "parallelism", "spec.job", 1, 32768, &s->parallelism, NULL, err)) !=
	    0)
		return rc;
	char mode[16] = "stateless", state[16] = "running";
	if ((rc = get_str(job, "upgradeMode", "spec.job", mode, sizeof(mode), false, err)) != 0 ||
	    (rc = get_str(job, "state", "spec.job", state, sizeof(state), false, err)) != 0)
		return rc;
	if (strcmp(mode, "stateless") == 0)
		s->upgrade_mode = OP_STATELESS;
	else if (strcmp(mode, "savepoint") == 0)
		s->upgrade_mode = OP_SAVEPOINT;
	else if (strcmp(mode, "last-state") == 0)
		s->upgrade_mode = OP_LAST_STATE;
	else
		return cm_err_set(
		    err, FL_EINVAL,
		    "spec.job.upgradeMode must be stateless, savepoint or last-state, "
		    "not '%s'",
		    mode);
	if (strcmp(state, "running") && strcmp(state, "suspended"))
		return cm_err_set(err, FL_EINVAL,
				  "spec.job.state must be running or suspended, not '%s'", state);
	s->suspended = strcmp(state, "suspended") == 0;
	if ((rc = get_int(job, "savepointTriggerNonce", "spec.job", INT64_MIN / 2, INT64_MAX / 2,
			  &s->savepoint_nonce, &present, err)) != 0)
		return rc;
	s->has_nonce = present;
	if ((rc = get_str(job, "initialSavepointPath", "spec.job", s->initial_savepoint,
			  sizeof(s->initial_savepoint), false, err)) != 0 ||
	    (rc = get_bool(job, "allowNonRestoredState", "spec.job", &s->allow_non_restored,
			   err)) != 0)
		return rc;
	/* The checks across fields that the CRD's CEL rules also make (an object
	 * may predate them). */
	const cJSON *ha = op_spec_conf(s, CFG_HA_TYPE);
	if (s->upgrade_mode == OP_LAST_STATE &&
	    (!cJSON_IsString(ha) || strcasecmp(ha->valuestring, "none") == 0))
		return cm_err_set(
		    err, FL_EINVAL,
		    "spec.job.upgradeMode last-state resumes from the latest checkpoint "
		    "that high availability keeps: set spec.flincConfiguration "
		    "high-availability.type, or use upgradeMode savepoint");
	if (s->upgrade_mode != OP_STATELESS && !op_spec_conf(s, CFG_CKP_DIR) &&
	    !op_spec_conf(s, CFG_CKP_DIR_NEW) && !op_spec_conf(s, CFG_SP_DIR) &&
	    !op_spec_conf(s, CFG_SP_DIR_NEW))
		return cm_err_set(err, FL_EINVAL,
				  "spec.job.upgradeMode %s needs a directory for savepoints: set "
				  "spec.flincConfiguration execution.checkpointing.dir (or "
				  "execution.checkpointing.savepoint-dir)",
				  mode);
	return 0;
}

static void decode_kept(op_kept *k, const cJSON *status)
{
	memset(k, 0, sizeof(*k));
	const cJSON *rs = item(status, "reconciliationStatus");
	const cJSON *v = item(rs, "lastReconciledSpec");
	if (cJSON_IsString(v) && strlen(v->valuestring) < sizeof(k->last_spec))
		snprintf(k->last_spec, sizeof(k->last_spec), "%s", v->valuestring);
	v = item(rs, "state");
	k->upgrading = cJSON_IsString(v) && strcmp(v->valuestring, "UPGRADING") == 0;
	v = item(rs, "upgradeSavepoint");
	if (cJSON_IsString(v) && strlen(v->valuestring) < sizeof(k->upgrade_savepoint))
		snprintf(k->upgrade_savepoint, sizeof(k->upgrade_savepoint), "%s", v->valuestring);
	v = item(rs, "failedGeneration");
	if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble < 9e15)
		k->failed_generation = (int64_t)v->valuedouble;
	const cJSON *js = item(status, "jobStatus");
	const cJSON *si = item(js, "savepointInfo");
	v = item(item(si, "lastSavepoint"), "location");
	if (cJSON_IsString(v) && strlen(v->valuestring) < sizeof(k->last_savepoint))
		snprintf(k->last_savepoint, sizeof(k->last_savepoint), "%s", v->valuestring);
	v = item(si, "triggerId");
	if (cJSON_IsString(v) && strlen(v->valuestring) < sizeof(k->trigger_id))
		snprintf(k->trigger_id, sizeof(k->trigger_id), "%s", v->valuestring);
	v = item(si, "triggerType");
	if (cJSON_IsString(v) && strlen(v->valuestring) < sizeof(k->trigger_type))
		snprintf(k->trigger_type, sizeof(k->trigger_type), "%s", v->valuestring);
	v = item(si, "triggerNonce");
	if (cJSON_IsNumber(v) && isfinite(v->valuedouble) && fabs(v->valuedouble) < 4e18) {
		k->has_handled_nonce = true;
		k->handled_nonce = (int64_t)v->valuedouble;
	}
	v = item(js, "jobId");
	if (cJSON_IsString(v) && strlen(v->valuestring) < sizeof(k->job_id))
		snprintf(k->job_id, sizeof(k->job_id), "%s", v->valuestring);
	v = item(js, "state");
	if (cJSON_IsString(v) && strlen(v->valuestring) < sizeof(k->job_state))
		snprintf(k->job_state, sizeof(k->job_state), "%s", v->valuestring);
	v = item(status, "lifecycleState");
	if (cJSON_IsString(v) && strlen(v->valuestring) < sizeof(k->lifecycle))
		snprintf(k->lifecycle, sizeof(k->lifecycle), "%s", v->valuestring);
	v = item(si, "lastPeriodicSavepointTimestamp");
	if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9e15)
		k->last_periodic_ms = (int64_t)v->valuedouble;
	v = item(item(si, "lastSavepoint"), "timeStamp");
	if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9e15)
		k->last_savepoint_ms = (int64_t)v->valuedouble;
	v = item(si, "triggerTimestamp");
	if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9e15)
		k->trigger_ms = (int64_t)v->valuedouble;
	v = item(si, "deleteSavepointFailures");
	if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e9)
		k->delete_failures = (int64_t)v->valuedouble;
}

int op_app_decode(op_app *app, cJSON *obj, cm_err *err)
{
	memset(app, 0, sizeof(*app));
	app->obj = obj;
	const cJSON *md = item(obj, "metadata");
	const cJSON *name = item(md, "name"), *ns = item(md, "namespace"), *uid = item(md, "uid");
	if (!cJSON_IsString(name) || !cJSON_IsString(ns) || !cJSON_IsString(uid) ||
	    strlen(ns->valuestring) >= sizeof(app->ns) || !*ns->valuestring ||
	    strlen(uid->valuestring) >= sizeof(app->uid) || strlen(name->valuestring) > 253)
		return cm_err_set(err, FL_EPROTO,
				  "a FlinkApplication without metadata.name, namespace and uid");
	snprintf(app->ns, sizeof(app->ns), "%s", ns->valuestring);
	snprintf(app->object_name, sizeof(app->object_name), "%s", name->valuestring);
	snprintf(app->uid, sizeof(app->uid), "%s", uid->valuestring);
	const cJSON *gen = item(md, "generation");
	if (cJSON_IsNumber(gen) && gen->valuedouble >= 0 && gen->valuedouble < 9e15)
		app->generation = (int64_t)gen->valuedouble;
	app->deleting = item(md, "deletionTimestamp") != NULL;
	const cJSON *f;
	cJSON_ArrayForEach(f, item(md, "finalizers"))
	{
		if (cJSON_IsString(f) && strcmp(f->valuestring, OP_FINALIZER) == 0)
			app->has_finalizer = true;
	}
	const cJSON *sod = item(item(md, "annotations"), OP_SAVEPOINT_ON_DELETE);
	app->savepoint_on_delete = cJSON_IsString(sod) && strcasecmp(sod->valuestring, "true") == 0;
	decode_kept(&app->kept, item(obj, "status"));
	/* The name becomes the cluster id: Flink's rules for it. */
	if (strlen(name->valuestring) > K8S_CLUSTER_ID_MAX) {
		snprintf(app->name, sizeof(app->name), "%.*s", K8S_CLUSTER_ID_MAX,
			 name->valuestring);
		cm_err_set(&app->invalid, FL_EINVAL,
			   "metadata.name '%.80s' is longer than %d characters: it names the "
			   "cluster, whose TaskManager pods add to it",
			   name->valuestring, K8S_CLUSTER_ID_MAX);
		return 0;
	}
	snprintf(app->name, sizeof(app->name), "%s", name->valuestring);
	cm_err e = {0};
	if (k8s_cluster_id_check(app->name, &e) != 0) {
		cm_err_set(&app->invalid, FL_EINVAL, "metadata.name: %.400s", e.msg);
		return 0;
	}
	app->name_ok = true;
	if (decode_spec(app, item(obj, "spec"), &app->invalid) != 0)
		return 0;
	/* What lastReconciledSpec will keep must be made. */
	char *canon = NULL;
	if (op_spec_canonical(item(obj, "spec"), &canon, &app->invalid) != 0)
		return 0;
	free(canon);
	/* The configuration is checked by building it once. */
	cfg *conf = NULL;
	k8s_cluster_spec ks;
	if (op_spec_cluster(app, NULL, &conf, &ks, &app->invalid) != 0)
		return 0;
	cfg_free(conf);
	app->valid = true;
	return 0;
}

void op_app_fini(op_app *app)
{
	cJSON_Delete(app->obj);
	memset(app, 0, sizeof(*app));
}

int64_t op_spec_parallelism(const op_spec *s)
{
	if (s->tm_replicas > 0)
		return s->tm_replicas * s->slots;
	return s->parallelism > 0 ? s->parallelism : 1;
}

int64_t op_spec_taskmanagers(const op_spec *s)
{
	int64_t p = op_spec_parallelism(s);
	return (p + s->slots - 1) / s->slots;
}

/* ------------------------------------------------------------- comparing */

static int cmp_keys(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	return strcmp(x->string, y->string);
}

/* Sorts every object's members by key, in place (depth capped: the API
 * server nests less than this). */
static int sort_keys(cJSON *o, int depth)
{
	if (depth > 64)
		return FL_ERANGE;
	/* A number JSON cannot hold again (1e999 parses as infinity and prints
	 * as null): the spec kept would differ from the spec read. */
	if (cJSON_IsNumber(o) && !isfinite(o->valuedouble))
		return FL_ETYPE;
	cJSON *c;
	size_t n = 0;
	cJSON_ArrayForEach(c, o)
	{
		int rc = sort_keys(c, depth + 1);
		if (rc)
			return rc;
		n++;
	}
	if (!cJSON_IsObject(o) || n < 2)
		return 0;
	cJSON **v = malloc(n * sizeof(*v));
	if (!v)
		return FL_ENOMEM;
	size_t i = 0;
	cJSON_ArrayForEach(c, o) v[i++] = c;
	qsort(v, n, sizeof(*v), cmp_keys);
	/* A key given twice: readers disagree on which counts (cJSON takes the
	 * first, the API server the last). */
	for (i = 1; i < n; i++) {
		if (strcmp(v[i - 1]->string, v[i]->string) == 0) {
			free(v);
			return FL_EINVAL;
		}
	}
	for (i = 0; i < n; i++) {
		v[i]->prev = i ? v[i - 1] : v[n - 1]; /* cJSON: the head's prev is the tail */
		v[i]->next = i + 1 < n ? v[i + 1] : NULL;
	}
	o->child = v[0];
	free(v);
	return 0;
}

int op_spec_canonical(const cJSON *spec, char **out, cm_err *err)
{
	*out = NULL;
	cJSON *copy = cJSON_Duplicate(spec, true);
	if (!copy)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	int rc = sort_keys(copy, 0);
	char *s = rc ? NULL : cJSON_PrintUnformatted(copy);
	cJSON_Delete(copy);
	if (rc == FL_ERANGE)
		return cm_err_set(err, rc, "spec is nested more than 64 levels deep");
	if (rc == FL_EINVAL)
		return cm_err_set(err, rc, "spec holds an object with a key given twice");
	if (rc == FL_ETYPE)
		return cm_err_set(err, FL_EINVAL, "spec holds a number out of range");
	if (!s)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	if (strlen(s) >= sizeof(((op_kept *)0)->last_spec)) {
		free(s);
		return cm_err_set(err, FL_ERANGE, "spec is longer than %zu bytes as JSON",
				  sizeof(((op_kept *)0)->last_spec) - 1);
	}
	*out = s;
	return 0;
}

/* The spec without the fields applied in place. */
static cJSON *upgrade_part(const cJSON *spec)
{
	cJSON *c = cJSON_Duplicate(spec, true);
	if (!c)
		return NULL;
	cJSON *tm = cJSON_GetObjectItemCaseSensitive(c, "taskManager");
	if (cJSON_IsObject(tm))
		cJSON_DeleteItemFromObjectCaseSensitive(tm, "replicas");
	cJSON *job = cJSON_GetObjectItemCaseSensitive(c, "job");
	if (cJSON_IsObject(job)) {
		cJSON_DeleteItemFromObjectCaseSensitive(job, "parallelism");
		cJSON_DeleteItemFromObjectCaseSensitive(job, "state");
		cJSON_DeleteItemFromObjectCaseSensitive(job, "savepointTriggerNonce");
	}
	/* The operator's own keys take effect without a redeploy. */
	cJSON *conf = cJSON_GetObjectItemCaseSensitive(c, "flincConfiguration");
	cJSON *kv = cJSON_IsObject(conf) ? conf->child : NULL;
	while (kv) {
		cJSON *next = kv->next;
		if (kv->string && strncmp(kv->string, OP_KEY_PREFIX, strlen(OP_KEY_PREFIX)) == 0)
			cJSON_Delete(cJSON_DetachItemViaPointer(conf, kv));
		kv = next;
	}
	return c;
}

int op_spec_diff(const op_app *app, op_diff *d, cm_err *err)
{
	memset(d, 0, sizeof(*d));
	const op_spec *s = &app->spec;
	if (!app->kept.last_spec[0]) {
		d->first = true;
		return 0;
	}
	if (s->has_nonce &&
	    (!app->kept.has_handled_nonce || app->kept.handled_nonce != s->savepoint_nonce))
		d->nonce = true;
	cJSON *old = cJSON_Parse(app->kept.last_spec);
	const cJSON *now = item(app->obj, "spec");
	if (!cJSON_IsObject(old)) {
		cJSON_Delete(old);
		d->upgrade = true;
		return 0;
	}
	cJSON *a = upgrade_part(old), *b = upgrade_part(now);
	op_app prev = {0};
	int rc = 0;
	if (!a || !b) {
		rc = cm_err_set(err, FL_ENOMEM, "out of memory");
		goto out;
	}
	d->upgrade = !cJSON_Compare(a, b, true);
	/* The old spec's parallelism and state, read as the new one is. */
	if (decode_spec(&prev, old, &(cm_err){0}) != 0) {
		d->upgrade = true;
		goto out;
	}
	d->rescale = op_spec_parallelism(&prev.spec) != op_spec_parallelism(s);
	d->state = prev.spec.suspended != s->suspended;
	d->last_suspended = prev.spec.suspended;
out:
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(old);
	return rc;
}

/* ---------------------------------------------------------- configuration */

/* Keys the spec's own fields set, refused in flincConfiguration. */
static const char *const own_keys[] = {CFG_K8S_CLUSTER_ID, CFG_K8S_NAMESPACE, CFG_K8S_CONTEXT,
				       CFG_SHUTDOWN_ON_APP_FINISH, CFG_SAVEPOINT_PATH};

static int set(cfg *c, const char *key, const char *value, cm_err *err)
{
	return cfg_set(c, key, value, err);
}

int op_spec_cluster(const op_app *app, const char *restore, cfg **conf, k8s_cluster_spec *ks,
		    cm_err *err)
{
	const op_spec *s = &app->spec;
	cfg *c = NULL;
	*conf = NULL;
	if (cfg_new(&c) != 0)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	int rc = 0;
	const cJSON *kv;
	cJSON_ArrayForEach(kv, s->configuration)
	{
		/* The operator's own keys (operator_keys) stay out of the cluster. */
		if (kv->string && strncmp(kv->string, OP_KEY_PREFIX, strlen(OP_KEY_PREFIX)) == 0)
			continue;
		for (size_t i = 0; i < sizeof(own_keys) / sizeof(*own_keys); i++) {
			if (strcmp(kv->string, own_keys[i]) == 0) {
				rc = cm_err_set(err, FL_EINVAL,
						"spec.flincConfiguration.%s is set by the operator "
						"(from metadata and the job's state): leave it out",
						kv->string);
				goto out;
			}
		}
		if (!cJSON_IsString(kv)) {
			rc = cm_err_set(err, FL_EINVAL,
					"spec.flincConfiguration.%.200s must be a string",
					kv->string);
			goto out;
		}
		/* A key one or two edits from a flinc option is a typo of it (a
		 * job's own keys do not look like flinc's). */
		const char *meant = cfg_key_typo_of(kv->string, 2);
		if (meant) {
			rc = cm_err_set(err, FL_EINVAL,
					"spec.flincConfiguration.%.200s is no flinc option: did "
					"you mean %s?",
					kv->string, meant);
			goto out;
		}
		if ((rc = cfg_set(c, kv->string, kv->valuestring, err)) != 0) {
			wrap(err, rc, "spec.flincConfiguration: ");
			goto out;
		}
	}
	/* The operator's defaults, under the application's own keys. */
	cJSON_ArrayForEach(kv, defaults)
	{
		if (strncmp(kv->string, OP_KEY_PREFIX, strlen(OP_KEY_PREFIX)) == 0 ||
		    item(s->configuration, kv->string))
			continue;
		if ((rc = cfg_set(c, kv->string, kv->valuestring, err)) != 0) {
			wrap(err, rc, "the operator's defaultConfiguration: ");
			goto out;
		}
	}
	const char *sched = cfg_get_raw(c, CFG_SCHEDULER);
	if (s->has_job && sched && strcasecmp(sched, "adaptive") != 0) {
		rc = cm_err_set(err, FL_EINVAL,
				"spec.flincConfiguration.jobmanager.scheduler must be adaptive (or "
				"left out): the operator rescales jobs in place through it");
		goto out;
	}
	char buf[64];
	if ((rc = set(c, CFG_K8S_CLUSTER_ID, app->name, err)) ||
	    (rc = set(c, CFG_K8S_NAMESPACE, app->ns, err)) ||
	    (rc = set(c, CFG_K8S_IMAGE, s->image, err)) ||
	    (rc = set(c, CFG_K8S_PULL_POLICY, s->pull_policy, err)) ||
	    (rc = set(c, CFG_K8S_SERVICE_ACCOUNT, s->service_account, err)))
		goto out;
	snprintf(buf, sizeof(buf), "%lld", (long long)s->slots);
	if ((rc = set(c, CFG_TM_SLOTS, buf, err)) != 0)
		goto out;
	if (s->jm_cpu > 0) {
		snprintf(buf, sizeof(buf), "%.3f", s->jm_cpu);
		if ((rc = set(c, CFG_K8S_JM_CPU, buf, err)) != 0)
			goto out;
	}
	if (s->tm_cpu > 0) {
		snprintf(buf, sizeof(buf), "%.3f", s->tm_cpu);
		if ((rc = set(c, CFG_K8S_TM_CPU, buf, err)) != 0)
			goto out;
	}
	if (s->jm_memory > 0) {
		snprintf(buf, sizeof(buf), "%lldb", (long long)s->jm_memory);
		if ((rc = set(c, CFG_JM_PROCESS_SIZE, buf, err)) != 0)
			goto out;
	}
	if (s->tm_memory > 0) {
		snprintf(buf, sizeof(buf), "%lldb", (long long)s->tm_memory);
		if ((rc = set(c, CFG_TM_PROCESS_SIZE, buf, err)) != 0)
			goto out;
	}
	if (s->has_job) {
		snprintf(buf, sizeof(buf), "%lld", (long long)op_spec_parallelism(s));
		/* The cluster stays after the job ends, so that the operator sees how
		 * it ended (Flink's operator sets the same). */
		if ((rc = set(c, CFG_SCHEDULER, "adaptive", err)) ||
		    (rc = set(c, CFG_PARALLELISM, buf, err)) ||
		    (rc = set(c, CFG_SHUTDOWN_ON_APP_FINISH, "false", err)))
			goto out;
		const char *from = restore && *restore ? restore : NULL;
		if (!from && s->initial_savepoint[0])
			from = s->initial_savepoint;
		if (from && ((rc = set(c, CFG_SAVEPOINT_PATH, from, err)) ||
			     (rc = set(c, CFG_SAVEPOINT_IGNORE_UNCLAIMED,
				       s->allow_non_restored ? "true" : "false", err))))
			goto out;
	}
	if ((rc = k8s_cluster_spec_from_config(ks, c, true, err)) != 0) {
		wrap(err, rc, "spec: ");
		goto out;
	}
	/* The TaskManagers' template goes into the cluster's ConfigMap (the
	 * creation's templates[K8S_TM]); this makes flinc.yaml point the
	 * JobManager, which creates the TaskManager pods, at it. */
	if (s->tm_pod_template || s->pod_template)
		snprintf(ks->pod_template[K8S_TM], sizeof(ks->pod_template[K8S_TM]), "%s",
			 s->tm_pod_template ? "spec.taskManager.podTemplate" : "spec.podTemplate");
	*conf = c;
	return 0;
out:
	cfg_free(c);
	return rc;
}

int op_spec_set_defaults(cJSON *d, cm_err *err)
{
	cJSON_Delete(defaults);
	defaults = NULL;
	if (!d)
		return 0;
	if (!cJSON_IsObject(d)) {
		cJSON_Delete(d);
		return cm_err_set(err, FL_EINVAL,
				  "defaultConfiguration must be a map of keys to values");
	}
	cJSON *kv;
	int n = 0;
	cJSON_ArrayForEach(kv, d)
	{
		char text[64] = "";
		const char *why = NULL;
		if (++n > 1000)
			why = "more than 1000 keys";
		for (size_t i = 0; !why && i < sizeof(own_keys) / sizeof(*own_keys); i++)
			if (strcmp(kv->string, own_keys[i]) == 0)
				why = "set by the operator for each application";
		if (!why && cJSON_IsNumber(kv)) {
			if (!isfinite(kv->valuedouble))
				why = "a number out of range";
			else
				snprintf(text, sizeof(text), "%.17g", kv->valuedouble);
		} else if (!why && cJSON_IsBool(kv)) {
			snprintf(text, sizeof(text), "%s", cJSON_IsTrue(kv) ? "true" : "false");
		} else if (!why && !cJSON_IsString(kv)) {
			why = "not a string, number or boolean";
		}
		if (why) {
			int rc = cm_err_set(err, FL_EINVAL, "defaultConfiguration.%.200s: %s",
					    kv->string, why);
			cJSON_Delete(d);
			return rc;
		}
		if (!cJSON_IsString(kv)) {
			cJSON *str = cJSON_CreateString(text);
			/* The replacement takes the key's name with it. */
			if (str && !(str->string = strdup(kv->string))) {
				cJSON_Delete(str);
				str = NULL;
			}
			if (!str || !cJSON_ReplaceItemViaPointer(d, kv, str)) {
				cJSON_Delete(str);
				cJSON_Delete(d);
				return cm_err_set(err, FL_ENOMEM, "out of memory");
			}
			kv = str;
		}
	}
	/* Each value must be one the cluster's configuration takes. */
	cfg *c = NULL;
	if (cfg_new(&c) != 0) {
		cJSON_Delete(d);
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	}
	int rc = 0;
	cJSON_ArrayForEach(kv, d)
	{
		if (strncmp(kv->string, OP_KEY_PREFIX, strlen(OP_KEY_PREFIX)) == 0)
			continue;
		if ((rc = cfg_set(c, kv->string, kv->valuestring, err)) != 0) {
			wrap(err, rc, "defaultConfiguration: ");
			break;
		}
	}
	cfg_free(c);
	if (rc) {
		cJSON_Delete(d);
		return rc;
	}
	defaults = d;
	/* Its kubernetes.operator.* keys are checked as an application's are. */
	op_spec probe = {.configuration = NULL};
	if ((rc = operator_keys(&probe, err)) != 0) {
		wrap(err, rc, "defaultConfiguration: ");
		cJSON_Delete(defaults);
		defaults = NULL;
	}
	return rc;
}
