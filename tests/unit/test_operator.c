/*
 * test_operator.c — the pure parts of flinc-operator (operator/spec.h,
 * operator/decide.h): a FlinkApplication decoded and checked, each refusal
 * naming its field; the configuration a spec stands for; what changed since
 * the last reconciled spec; the step chosen for every observed state of a
 * deployment, an upgrade, a suspension and a savepoint; the lifecycle and
 * conditions reported.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "operator/decide.h"
#include "operator/metrics.h"
#include "operator/spec.h"

#define META                                                                                       \
	"\"apiVersion\":\"flinc.dev/v1alpha1\",\"kind\":\"FlinkApplication\","                     \
	"\"metadata\":{\"name\":\"wc\",\"namespace\":\"jobs\",\"uid\":\"u-1\",\"generation\":3,"         \
	"\"finalizers\":[\"flinc.dev/finalizer\"]}"

/* An application from spec JSON (and status JSON, or NULL). */
static void app_of(op_app *app, const char *spec, const char *status)
{
	char text[8192];
	snprintf(text, sizeof(text), "{" META ",\"spec\":%s%s%s}", spec,
		 status ? ",\"status\":" : "", status ? status : "");
	cJSON *obj = cJSON_Parse(text);
	if (!obj)
		fail_msg("not JSON: %s", text);
	cm_err err = {0};
	if (op_app_decode(app, obj, &err) != 0)
		fail_msg("decode: %s", err.msg);
}

#define JOB "\"job\":{\"uri\":\"local:///opt/flinc/usrlib/x.so\""
#define SP_DIR "\"flincConfiguration\":{\"execution.checkpointing.dir\":\"file:///ckp\"}"

static void test_decode_a_minimal_application(void **state)
{
	op_app app;
	app_of(&app, "{\"image\":\"flinc:1\"," JOB "}}", NULL);
	assert_true(app.valid);
	assert_string_equal(app.name, "wc");
	assert_string_equal(app.ns, "jobs");
	assert_int_equal(app.generation, 3);
	assert_string_equal(app.spec.pull_policy, "IfNotPresent");
	assert_string_equal(app.spec.service_account, "flinc");
	assert_string_equal(app.spec.job_path, "/opt/flinc/usrlib/x.so");
	assert_int_equal(app.spec.upgrade_mode, OP_STATELESS);
	assert_false(app.spec.suspended);
	assert_int_equal(op_spec_parallelism(&app.spec), 1);
	assert_int_equal(op_spec_taskmanagers(&app.spec), 1);
	op_app_fini(&app);
	/* Pod templates: the component's own, or the default one. */
	app_of(&app,
	       "{\"image\":\"flinc:1\",\"podTemplate\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\"},"
	       "\"taskManager\":{\"podTemplate\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\","
	       "\"metadata\":{\"labels\":{\"tier\":\"tm\"}}}}}",
	       NULL);
	assert_true(app.valid);
	assert_non_null(app.spec.pod_template);
	assert_null(app.spec.jm_pod_template);
	assert_non_null(cJSON_GetObjectItemCaseSensitive(app.spec.tm_pod_template, "metadata"));
	op_app_fini(&app);
	/* A session cluster: no job. */
	app_of(&app, "{\"image\":\"flinc:1\"}", NULL);
	assert_true(app.valid);
	assert_false(app.spec.has_job);
	op_app_fini(&app);
}

static void test_every_refusal_names_its_field(void **state)
{
	static const struct {
		const char *spec, *says;
	} bad[] = {
	    {"{" JOB "}}", "spec.image is required"},
	    {"{\"image\":7}", "spec.image must be a string"},
	    {"{\"image\":\"a b\"}", "spec.image holds a space"},
	    {"{\"image\":\"i\",\"imagePullPolicy\":\"Sometimes\"}", "spec.imagePullPolicy"},
	    {"{\"image\":\"i\"," JOB ",\"parallelism\":0}}",
	     "spec.job.parallelism must be between 1"},
	    {"{\"image\":\"i\"," JOB ",\"parallelism\":1.5}}",
	     "spec.job.parallelism must be an integer"},
	    {"{\"image\":\"i\"," JOB ",\"upgradeMode\":\"sideways\"}}", "spec.job.upgradeMode"},
	    {"{\"image\":\"i\"," JOB ",\"state\":\"paused\"}}", "spec.job.state"},
	    {"{\"image\":\"i\"," JOB ",\"upgradeMode\":\"last-state\"}," SP_DIR "}",
	     "last-state resumes from the latest checkpoint"},
	    {"{\"image\":\"i\"," JOB ",\"upgradeMode\":\"savepoint\"}}",
	     "needs a directory for savepoints"},
	    {"{\"image\":\"i\",\"job\":{\"uri\":\"http://x/y.so\"}}", "spec.job.uri"},
	    {"{\"image\":\"i\",\"job\":{}}", "spec.job.uri is required"},
	    {"{\"image\":\"i\"," JOB ",\"args\":[1]}}", "spec.job.args[0] must be a string"},
	    {"{\"image\":\"i\",\"flincConfiguration\":{\"parallelism.default\":\"many\"}}",
	     "spec.flincConfiguration: invalid value 'many' for key 'parallelism.default'"},
	    {"{\"image\":\"i\",\"flincConfiguration\":{\"parallelism.default\":2}}",
	     "spec.flincConfiguration.parallelism.default must be a string"},
	    {"{\"image\":\"i\",\"flincConfiguration\":{\"kubernetes.cluster-id\":\"x\"}}",
	     "is set by the operator"},
	    {"{\"image\":\"i\"," JOB
	     "},\"flincConfiguration\":{\"jobmanager.scheduler\":\"default\"}}",
	     "jobmanager.scheduler must be adaptive"},
	    {"{\"image\":\"i\",\"taskManager\":{\"resources\":{\"memory\":\"lots\"}}}",
	     "spec.taskManager.resources.memory 'lots'"},
	    {"{\"image\":\"i\",\"taskManager\":{\"resources\":{\"cpu\":0}}}",
	     "spec.taskManager.resources.cpu"},
	    {"{\"image\":\"i\",\"taskManager\":{\"replicas\":0}}", "spec.taskManager.replicas"},
	    {"{\"image\":\"i\",\"jobManager\":{\"replicas\":2}}", "spec.jobManager.replicas"},
	    {"{\"image\":\"i\",\"taskManager\":7}", "spec.taskManager must be an object"},
	    {"7", "spec is required and must be an object"},
	    {"{\"image\":\"i\",\"taskManager\":{\"slots\":1,\"slots\":2}}", "a key given twice"},
	    {"{\"image\":\"i\",\"podTemplate\":{\"apiVersion\":\"apps/v1\",\"kind\":\"Pod\"}}",
	     "spec.podTemplate"},
	    {"{\"image\":\"i\",\"taskManager\":{\"podTemplate\":{\"apiVersion\":\"v1\","
	     "\"kind\":\"Deployment\"}}}",
	     "spec.taskManager.podTemplate"},
	    {"{\"image\":\"i\",\"flincConfiguration\":{\"execution.checkpointing.intervall\":"
	     "\"1 s\"}}",
	     "execution.checkpointing.intervall is no flinc option: did you mean "
	     "execution.checkpointing.interval?"},
	    {"{\"image\":\"i\",\"flincConfiguration\":{\"taskmanager.numberOfTaskSlot\":\"2\"}}",
	     "did you mean taskmanager.numberOfTaskSlots?"},
	    {"{\"image\":\"i\",\"flincConfiguration\":{\"jobmanager.memory.process.size\":"
	     "\"12 parsecs\"}}",
	     "jobmanager.memory.process.size"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		op_app app;
		app_of(&app, bad[i].spec, NULL);
		if (app.valid || !strstr(app.invalid.msg, bad[i].says))
			fail_msg("case %zu: valid %d, '%s' does not say '%s'", i, app.valid,
				 app.invalid.msg, bad[i].says);
		op_decide(&app, &(op_diff){0}, &(op_observed){0}, &(op_step){0});
		op_app_fini(&app);
	}
}

/* Keys of a job's own (far from every flinc option) are passed on; so are
 * the families flinc hands to others. */
static void test_keys_that_are_no_typos_are_accepted(void **state)
{
	static const char *const ok[] = {
	    "{\"image\":\"i\",\"flincConfiguration\":{\"fraud.threshold.amount\":\"100\"}}",
	    "{\"image\":\"i\",\"flincConfiguration\":{\"kubernetes.jobmanager.annotations\":"
	    "\"a:b\"}}",
	    "{\"image\":\"i\",\"flincConfiguration\":{\"execution.checkpointing.interval\":"
	    "\"1 s\"}}",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
		op_app app;
		app_of(&app, ok[i], NULL);
		if (!app.valid)
			fail_msg("case %zu refused: %s", i, app.invalid.msg);
		op_app_fini(&app);
	}
	assert_null(cfg_key_typo_of("execution.checkpointing.interval", 2));
	assert_string_equal(cfg_key_typo_of("parallelism.defualt", 2), "parallelism.default");
	assert_null(cfg_key_typo_of("parallelism.defualt", 1));
}

static void test_a_name_that_is_no_cluster_id_is_refused(void **state)
{
	cJSON *obj = cJSON_Parse("{\"metadata\":{\"name\":\"a-very-long-name-that-is-longer-than-"
				 "forty-five-characters\",\"namespace\":\"n\",\"uid\":\"u\"},"
				 "\"spec\":{\"image\":\"i\"}}");
	op_app app;
	cm_err err = {0};
	assert_int_equal(op_app_decode(&app, obj, &err), 0);
	assert_false(app.valid);
	assert_non_null(strstr(app.invalid.msg, "longer than 45"));
	/* Status is written to the object's own name, not the cut cluster id. */
	assert_string_equal(app.object_name,
			    "a-very-long-name-that-is-longer-than-forty-five-characters");
	op_app_fini(&app);
	/* Without a namespace or uid nothing can be written about it. */
	obj = cJSON_Parse("{\"metadata\":{\"name\":\"x\"},\"spec\":{}}");
	assert_int_equal(op_app_decode(&app, obj, &err), FL_EPROTO);
	op_app_fini(&app);
	assert_int_equal(op_app_decode(&app, cJSON_Parse("[]"), &err), FL_EPROTO);
	op_app_fini(&app);
}

static void test_configuration_of_the_cluster(void **state)
{
	op_app app;
	app_of(&app,
	       "{\"image\":\"flinc:1\",\"serviceAccount\":\"sa\",\"flincConfiguration\":{\"a.b\":"
	       "\"c\"},"
	       "\"jobManager\":{\"resources\":{\"cpu\":0.2,\"memory\":\"512Mi\"}},"
	       "\"taskManager\":{\"replicas\":3,\"slots\":2,\"resources\":{\"cpu\":0.1,\"memory\":"
	       "\"1Gi\"}}," JOB ",\"parallelism\":2,\"allowNonRestoredState\":true}}",
	       NULL);
	assert_true(app.valid);
	/* The replicas win over job.parallelism: 3 pods of 2 slots. */
	assert_int_equal(op_spec_parallelism(&app.spec), 6);
	assert_int_equal(op_spec_taskmanagers(&app.spec), 3);
	cfg *c = NULL;
	k8s_cluster_spec ks;
	cm_err err = {0};
	assert_int_equal(op_spec_cluster(&app, "file:///sp/savepoint-1", &c, &ks, &err), 0);
	assert_string_equal(ks.id, "wc");
	assert_string_equal(ks.ns, "jobs");
	assert_string_equal(ks.image, "flinc:1");
	assert_string_equal(ks.service_account, "sa");
	assert_int_equal(ks.jm_cpu_milli, 200);
	assert_int_equal(ks.tm_cpu_milli, 100);
	assert_int_equal(ks.jm_memory, 512 << 20);
	assert_int_equal(ks.tm_memory, 1 << 30);
	assert_int_equal(ks.tm_slots, 2);
	assert_false(ks.shutdown_on_finish);
	assert_string_equal(cfg_get_raw(c, "jobmanager.scheduler"), "adaptive");
	assert_string_equal(cfg_get_raw(c, "parallelism.default"), "6");
	assert_string_equal(cfg_get_raw(c, "execution.savepoint.path"), "file:///sp/savepoint-1");
	assert_string_equal(cfg_get_raw(c, "execution.savepoint.ignore-unclaimed-state"), "true");
	assert_string_equal(cfg_get_raw(c, "a.b"), "c");
	assert_string_equal(ks.pod_template[K8S_TM], ""); /* no template: none named */
	cfg_free(c);
	op_app_fini(&app);
	/* spec.podTemplate reaches the TaskManager pods too: the JobManager,
	 * which makes them, is pointed at the template in its ConfigMap. */
	app_of(&app,
	       "{\"image\":\"flinc:1\",\"podTemplate\":{\"apiVersion\":\"v1\",\"kind\":"
	       "\"Pod\",\"spec\":{\"volumes\":[{\"name\":\"state\",\"emptyDir\":{}}]}}," JOB
	       "}}",
	       NULL);
	assert_true(app.valid);
	assert_int_equal(op_spec_cluster(&app, NULL, &c, &ks, &err), 0);
	assert_string_not_equal(ks.pod_template[K8S_TM], "");
	char *yaml = NULL;
	assert_int_equal(k8s_cluster_flinc_yaml(&ks, c, &yaml, &err), 0);
	assert_non_null(strstr(yaml, "kubernetes.pod-template-file.taskmanager"));
	assert_non_null(strstr(yaml, "taskmanager-pod-template.yaml"));
	free(yaml);
	cfg_free(c);
	op_app_fini(&app);
}

static void test_memory_quantities(void **state)
{
	int64_t b;
	assert_int_equal(op_parse_memory("512Mi", &b), 0);
	assert_int_equal(b, 512 << 20);
	assert_int_equal(op_parse_memory("1.5Gi", &b), 0);
	assert_int_equal(b, 3 << 29);
	assert_int_equal(op_parse_memory("2G", &b), 0);
	assert_int_equal(b, 2000000000);
	assert_int_equal(op_parse_memory("1000", &b), 0);
	assert_int_equal(b, 1000);
	const char *bad[] = {"", "Mi", "1.Mi", "1XB", "-1", "0.5", "1e3", "99999999999Ti", NULL};
	for (int i = 0; bad[i]; i++)
		if (op_parse_memory(bad[i], &b) == 0)
			fail_msg("'%s' accepted", bad[i]);
}

/* The app with status kept as after reconciling spec0, now holding spec1. */
static void reconciled(op_app *app, const char *spec0, const char *spec1, const char *extra_status)
{
	op_app first;
	app_of(&first, spec0, NULL);
	assert_true(first.valid);
	char *canon = NULL;
	cm_err err = {0};
	assert_int_equal(
	    op_spec_canonical(cJSON_GetObjectItemCaseSensitive(first.obj, "spec"), &canon, &err),
	    0);
	cJSON *st = cJSON_CreateObject();
	cJSON *rs = cJSON_AddObjectToObject(st, "reconciliationStatus");
	cJSON_AddStringToObject(rs, "lastReconciledSpec", canon);
	free(canon);
	op_app_fini(&first);
	if (extra_status) {
		cJSON *x = cJSON_Parse(extra_status), *it;
		assert_non_null(x);
		cJSON_ArrayForEach(it, x)
		{
			cJSON *dst = cJSON_GetObjectItemCaseSensitive(st, it->string);
			if (cJSON_IsObject(dst) && cJSON_IsObject(it)) {
				cJSON *f;
				cJSON_ArrayForEach(f, it)
				    cJSON_AddItemToObject(dst, f->string, cJSON_Duplicate(f, true));
			} else {
				cJSON_AddItemToObject(st, it->string, cJSON_Duplicate(it, true));
			}
		}
		cJSON_Delete(x);
	}
	char *s = cJSON_PrintUnformatted(st);
	cJSON_Delete(st);
	app_of(app, spec1, s);
	free(s);
}

#define S0                                                                                         \
	"{\"image\":\"i\",\"taskManager\":{\"replicas\":1}," SP_DIR "," JOB                        \
	",\"upgradeMode\":\"savepoint\"}}"
#define S_SCALED                                                                                   \
	"{\"image\":\"i\",\"taskManager\":{\"replicas\":3}," SP_DIR "," JOB                        \
	",\"upgradeMode\":\"savepoint\"}}"
#define S_ARGS                                                                                     \
	"{\"image\":\"i\",\"taskManager\":{\"replicas\":1}," SP_DIR "," JOB                        \
	",\"upgradeMode\":\"savepoint\",\"args\":[\"x\"]}}"
#define S_SUSP                                                                                     \
	"{\"image\":\"i\",\"taskManager\":{\"replicas\":1}," SP_DIR "," JOB                        \
	",\"upgradeMode\":\"savepoint\",\"state\":\"suspended\"}}"
#define S_NONCE                                                                                    \
	"{\"image\":\"i\",\"taskManager\":{\"replicas\":1}," SP_DIR "," JOB                        \
	",\"upgradeMode\":\"savepoint\",\"savepointTriggerNonce\":4}}"

static void test_what_changed(void **state)
{
	op_app app;
	op_diff d;
	cm_err err = {0};
	reconciled(&app, S0, S0, NULL);
	assert_int_equal(op_spec_diff(&app, &d, &err), 0);
	assert_false(d.first || d.upgrade || d.rescale || d.state || d.nonce);
	op_app_fini(&app);
	reconciled(&app, S0, S_SCALED, NULL);
	assert_int_equal(op_spec_diff(&app, &d, &err), 0);
	assert_true(d.rescale);
	assert_false(d.upgrade || d.state);
	op_app_fini(&app);
	reconciled(&app, S0, S_ARGS, NULL);
	assert_int_equal(op_spec_diff(&app, &d, &err), 0);
	assert_true(d.upgrade);
	assert_false(d.rescale);
	op_app_fini(&app);
	reconciled(&app, S0, S_SUSP, NULL);
	assert_int_equal(op_spec_diff(&app, &d, &err), 0);
	assert_true(d.state);
	assert_false(d.upgrade || d.last_suspended);
	op_app_fini(&app);
	reconciled(&app, S0, S_NONCE, NULL);
	assert_int_equal(op_spec_diff(&app, &d, &err), 0);
	assert_true(d.nonce);
	assert_false(d.upgrade);
	op_app_fini(&app);
	/* The nonce acted on is kept in status: not again. */
	reconciled(&app, S0, S_NONCE, "{\"jobStatus\":{\"savepointInfo\":{\"triggerNonce\":4}}}");
	assert_int_equal(op_spec_diff(&app, &d, &err), 0);
	assert_false(d.nonce);
	op_app_fini(&app);
	app_of(&app, S0, NULL);
	assert_int_equal(op_spec_diff(&app, &d, &err), 0);
	assert_true(d.first);
	op_app_fini(&app);
	/* A lastReconciledSpec that is not JSON: redeploy. */
	app_of(&app, S0, "{\"reconciliationStatus\":{\"lastReconciledSpec\":\"{nope\"}}");
	assert_int_equal(op_spec_diff(&app, &d, &err), 0);
	assert_true(d.upgrade);
	op_app_fini(&app);
}

/* The step for app (spec1 after spec0, with status extra) observed as o. */
static op_action step_for(const char *spec0, const char *spec1, const char *extra,
			  const op_observed *o, op_step *st)
{
	op_app app;
	op_diff d;
	cm_err err = {0};
	if (spec0)
		reconciled(&app, spec0, spec1, extra);
	else
		app_of(&app, spec1, extra);
	assert_int_equal(op_spec_diff(&app, &d, &err), 0);
	op_decide(&app, &d, o, st);
	op_app_fini(&app);
	return st->action;
}

static const op_observed RUNNING = {.deployment = OP_DEP_READY,
				    .rest_ok = true,
				    .job_id = "0123456789abcdef0123456789abcdef",
				    .job_state = "RUNNING",
				    .tm_pods = 1,
				    .tm_ready = 1};
static const op_observed MISSING = {.deployment = OP_DEP_MISSING};

static void test_the_step_for_each_state(void **state)
{
	op_step st;
	op_observed starting = {.deployment = OP_DEP_DEPLOYING};
	op_observed foreign = {.deployment = OP_DEP_FOREIGN};
	op_observed finished = RUNNING;
	snprintf(finished.job_state, sizeof(finished.job_state), "FINISHED");
	/* New. */
	assert_int_equal(step_for(NULL, S0, NULL, &MISSING, &st), OP_ACT_DEPLOY);
	assert_string_equal(st.restore, "");
	assert_true(st.drop_ha); /* a namesake's leftovers are not its state */
	assert_int_equal(step_for(NULL, S_SUSP, NULL, &MISSING, &st), OP_ACT_MARK_SUSPENDED);
	assert_int_equal(step_for(NULL, S0, NULL, &RUNNING, &st), OP_ACT_RECORD);
	assert_int_equal(step_for(NULL, S0, NULL, &foreign, &st), OP_ACT_WAIT);
	/* Nothing changed. */
	assert_int_equal(step_for(S0, S0, NULL, &RUNNING, &st), OP_ACT_NONE);
	assert_int_equal(step_for(S0, S0, NULL, &starting, &st), OP_ACT_NONE);
	/* The Deployment deleted by someone: deployed again, from the last savepoint. */
	assert_int_equal(
	    step_for(S0, S0,
		     "{\"jobStatus\":{\"savepointInfo\":{\"lastSavepoint\":{\"location\":"
		     "\"file:/sp/1\"}}}}",
		     &MISSING, &st),
	    OP_ACT_DEPLOY);
	assert_string_equal(st.restore, "file:/sp/1");
	/* A Deployment deleted by hand: HA's records are how its job recovers. */
	assert_false(st.drop_ha);
	/* Rescale in place, only while the job runs. */
	assert_int_equal(step_for(S0, S_SCALED, NULL, &RUNNING, &st), OP_ACT_RESCALE);
	assert_int_equal(step_for(S0, S_SCALED, NULL, &starting, &st), OP_ACT_WAIT);
	assert_int_equal(step_for(S0, S_SCALED, NULL, &finished, &st), OP_ACT_RECORD);
	/* An upgrade starts by saying so in status. */
	assert_int_equal(step_for(S0, S_ARGS, NULL, &RUNNING, &st), OP_ACT_BEGIN_UPGRADE);
	assert_int_equal(step_for(S0, S_SUSP, NULL, &RUNNING, &st), OP_ACT_BEGIN_UPGRADE);
	/* An upgrade whose savepoint failed is not tried again for the same
	 * generation (the error stays in status); a new spec tries again. */
	assert_int_equal(step_for(S0, S_ARGS, "{\"reconciliationStatus\":{\"failedGeneration\":3}}",
				  &RUNNING, &st),
			 OP_ACT_NONE);
	assert_non_null(strstr(st.why, "change the spec"));
	assert_int_equal(step_for(S0, S_ARGS, "{\"reconciliationStatus\":{\"failedGeneration\":2}}",
				  &RUNNING, &st),
			 OP_ACT_BEGIN_UPGRADE);
	/* Savepoint triggered by the nonce, only while running. */
	assert_int_equal(step_for(S0, S_NONCE, NULL, &RUNNING, &st), OP_ACT_TRIGGER_SAVEPOINT);
	assert_string_equal(st.trigger_type, "MANUAL");
	assert_int_equal(step_for(S0, S_NONCE, NULL, &starting, &st), OP_ACT_WAIT);
}

#define UPGRADING "{\"reconciliationStatus\":{\"state\":\"UPGRADING\"}"

static void test_the_steps_of_a_savepoint_upgrade(void **state)
{
	op_step st;
	op_observed deleting = {.deployment = OP_DEP_DELETING};
	op_observed restarting = RUNNING;
	snprintf(restarting.job_state, sizeof(restarting.job_state), "RESTARTING");
	/* 1. Running: stop with a savepoint. */
	assert_int_equal(step_for(S0, S_ARGS, UPGRADING "}", &RUNNING, &st), OP_ACT_STOP_SAVEPOINT);
	assert_string_equal(st.trigger_type, "UPGRADE");
	assert_int_equal(step_for(S0, S_ARGS, UPGRADING "}", &restarting, &st), OP_ACT_WAIT);
	/* 2. The savepoint in progress is polled, whatever else holds. */
	assert_int_equal(step_for(S0, S_ARGS,
				  UPGRADING
				  ",\"jobStatus\":{\"savepointInfo\":{\"triggerId\":\"ab\"}}}",
				  &RUNNING, &st),
			 OP_ACT_POLL_SAVEPOINT);
	/* 3. Its path in status: the old cluster is deleted... */
	const char *taken =
	    "{\"reconciliationStatus\":{\"state\":\"UPGRADING\",\"upgradeSavepoint\":"
	    "\"file:/sp/2\"}}";
	assert_int_equal(step_for(S0, S_ARGS, taken, &RUNNING, &st), OP_ACT_DELETE);
	assert_int_equal(step_for(S0, S_ARGS, taken, &deleting, &st), OP_ACT_WAIT);
	/* 4. ...and the new one deployed from it. */
	assert_int_equal(step_for(S0, S_ARGS, taken, &MISSING, &st), OP_ACT_DEPLOY);
	assert_string_equal(st.restore, "file:/sp/2");
	assert_true(st.drop_ha); /* no HA checkpoint may win over it */
	/* Suspending ends when the cluster is gone; resuming restores. */
	assert_int_equal(step_for(S0, S_SUSP, UPGRADING "}", &RUNNING, &st), OP_ACT_STOP_SAVEPOINT);
	assert_string_equal(st.trigger_type, "SUSPEND");
	assert_int_equal(step_for(S0, S_SUSP, taken, &MISSING, &st), OP_ACT_MARK_SUSPENDED);
	assert_int_equal(
	    step_for(S_SUSP, S0,
		     "{\"jobStatus\":{\"savepointInfo\":{\"lastSavepoint\":{\"location\":"
		     "\"file:/sp/3\"}}}}",
		     &MISSING, &st),
	    OP_ACT_DEPLOY);
	assert_string_equal(st.restore, "file:/sp/3");
	assert_true(st.drop_ha);
	assert_int_equal(step_for(S_SUSP, S_SUSP, NULL, &MISSING, &st), OP_ACT_NONE);
	/* Stateless: no savepoint, straight to the delete. */
	const char *stateless0 = "{\"image\":\"i\"," JOB "}}";
	const char *stateless1 = "{\"image\":\"j\"," JOB "}}";
	assert_int_equal(step_for(stateless0, stateless1, UPGRADING "}", &RUNNING, &st),
			 OP_ACT_DELETE);
	assert_int_equal(step_for(stateless0, stateless1, UPGRADING "}", &MISSING, &st),
			 OP_ACT_DEPLOY);
	assert_string_equal(st.restore, "");
	assert_true(st.drop_ha); /* a fresh start, not HA's last checkpoint */
}

#define HA_CONF                                                                                    \
	"\"flincConfiguration\":{\"execution.checkpointing.dir\":\"file:///ckp\","                \
	"\"high-availability.type\":\"kubernetes\","                                             \
	"\"high-availability.storageDir\":\"file:///ckp/ha\"}"
#define S_LS0                                                                                      \
	"{\"image\":\"i\",\"taskManager\":{\"replicas\":1}," HA_CONF "," JOB                      \
	",\"upgradeMode\":\"last-state\"}}"
#define S_LS_ARGS                                                                                  \
	"{\"image\":\"i\",\"taskManager\":{\"replicas\":1}," HA_CONF "," JOB                      \
	",\"upgradeMode\":\"last-state\",\"args\":[\"x\"]}}"
#define S_LS_SUSP                                                                                  \
	"{\"image\":\"i\",\"taskManager\":{\"replicas\":1}," HA_CONF "," JOB                      \
	",\"upgradeMode\":\"last-state\",\"state\":\"suspended\"}}"

/* last-state takes no savepoint: the JobManager goes (its HA metadata stays,
 * owned by the application) and the new one resumes from the latest
 * checkpoint HA recorded; the last savepoint known is only the fallback. */
static void test_the_steps_of_a_last_state_upgrade(void **state)
{
	op_step st;
	op_observed deleting = {.deployment = OP_DEP_DELETING};
	op_observed starting = {.deployment = OP_DEP_DEPLOYING};
	op_observed broken = {.deployment = OP_DEP_ERROR};
	op_observed restarting = RUNNING;
	snprintf(restarting.job_state, sizeof(restarting.job_state), "RESTARTING");
	/* The spec changes: the upgrade is recorded first, as any other. */
	assert_int_equal(step_for(S_LS0, S_LS_ARGS, NULL, &RUNNING, &st), OP_ACT_BEGIN_UPGRADE);
	/* Then the JobManager is deleted at once, running or not, no savepoint. */
	assert_int_equal(step_for(S_LS0, S_LS_ARGS, UPGRADING "}", &RUNNING, &st), OP_ACT_DELETE);
	assert_null(st.trigger_type);
	assert_non_null(strstr(st.why, "last-state"));
	assert_int_equal(step_for(S_LS0, S_LS_ARGS, UPGRADING "}", &restarting, &st),
			 OP_ACT_DELETE);
	assert_int_equal(step_for(S_LS0, S_LS_ARGS, UPGRADING "}", &starting, &st),
			 OP_ACT_DELETE);
	assert_int_equal(step_for(S_LS0, S_LS_ARGS, UPGRADING "}", &broken, &st), OP_ACT_DELETE);
	assert_int_equal(step_for(S_LS0, S_LS_ARGS, UPGRADING "}", &deleting, &st), OP_ACT_WAIT);
	/* The new cluster: no savepoint to give, HA's checkpoint is found by the
	 * JobManager... */
	assert_int_equal(step_for(S_LS0, S_LS_ARGS, UPGRADING "}", &MISSING, &st), OP_ACT_DEPLOY);
	assert_string_equal(st.restore, "");
	assert_false(st.drop_ha); /* what HA recorded is what the job resumes from */
	/* ...or, when it recorded none, the last savepoint known. */
	assert_int_equal(step_for(S_LS0, S_LS_ARGS,
				  UPGRADING ",\"jobStatus\":{\"savepointInfo\":{\"lastSavepoint\":{"
					    "\"location\":\"file:/sp/7\"}}}}",
				  &MISSING, &st),
			 OP_ACT_DEPLOY);
	assert_string_equal(st.restore, "file:/sp/7");
	/* A savepoint an earlier mode took for this upgrade is still used. */
	assert_int_equal(step_for(S_LS0, S_LS_ARGS,
				  "{\"reconciliationStatus\":{\"state\":\"UPGRADING\","
				  "\"upgradeSavepoint\":\"file:/sp/8\"}}",
				  &RUNNING, &st),
			 OP_ACT_DELETE);
	assert_int_equal(step_for(S_LS0, S_LS_ARGS,
				  "{\"reconciliationStatus\":{\"state\":\"UPGRADING\","
				  "\"upgradeSavepoint\":\"file:/sp/8\"}}",
				  &MISSING, &st),
			 OP_ACT_DEPLOY);
	assert_string_equal(st.restore, "file:/sp/8");
	assert_true(st.drop_ha); /* that savepoint, not an older checkpoint */
	/* Suspend: the same delete, then SUSPENDED; resume deploys (HA resumes). */
	assert_int_equal(step_for(S_LS0, S_LS_SUSP, NULL, &RUNNING, &st), OP_ACT_BEGIN_UPGRADE);
	assert_int_equal(step_for(S_LS0, S_LS_SUSP, UPGRADING "}", &RUNNING, &st), OP_ACT_DELETE);
	assert_non_null(strstr(st.why, "suspend"));
	assert_int_equal(step_for(S_LS0, S_LS_SUSP, UPGRADING "}", &MISSING, &st),
			 OP_ACT_MARK_SUSPENDED);
	assert_int_equal(step_for(S_LS_SUSP, S_LS0, NULL, &MISSING, &st), OP_ACT_DEPLOY);
	assert_string_equal(st.restore, "");
	assert_false(st.drop_ha);
	/* A savepoint in progress (a manual one) is still polled first. */
	assert_int_equal(step_for(S_LS0, S_LS_ARGS,
				  UPGRADING ",\"jobStatus\":{\"savepointInfo\":{\"triggerId\":\"ab\"}}}",
				  &RUNNING, &st),
			 OP_ACT_POLL_SAVEPOINT);
}

static void test_lifecycle_and_conditions(void **state)
{
	op_app app;
	op_condition c[3];
	reconciled(&app, S0, S0, NULL);
	assert_string_equal(op_lifecycle(&app, &RUNNING), "STABLE");
	op_conditions(&app, &RUNNING, "STABLE", "", c);
	assert_string_equal(c[0].type, "Ready");
	assert_true(c[0].status);
	assert_string_equal(c[0].reason, "JobRunning");
	assert_false(c[1].status);
	assert_false(c[2].status);
	op_observed failed = RUNNING;
	snprintf(failed.job_state, sizeof(failed.job_state), "FAILED");
	assert_string_equal(op_lifecycle(&app, &failed), "FAILED");
	op_conditions(&app, &failed, "FAILED", "", c);
	assert_false(c[0].status);
	assert_true(c[2].status);
	assert_string_equal(c[2].reason, "JobFailed");
	/* Fewer TaskManagers than the parallelism needs: progressing. */
	op_observed short_tm = RUNNING;
	short_tm.tm_ready = 0;
	op_conditions(&app, &short_tm, "STABLE", "", c);
	assert_true(c[1].status);
	assert_string_equal(c[1].reason, "Scaling");
	op_conditions(&app, &RUNNING, "STABLE", "cannot create the cluster: Forbidden", c);
	assert_true(c[2].status);
	assert_string_equal(c[2].reason, "ReconcileError");
	op_observed err = {.deployment = OP_DEP_ERROR, .deployment_why = "pod x: ErrImagePull"};
	assert_string_equal(op_lifecycle(&app, &err), "FAILED");
	assert_string_equal(op_deployment_status(&err), "ERROR");
	op_conditions(&app, &err, "FAILED", "", c);
	assert_string_equal(c[0].reason, "JobManagerCannotStart");
	assert_non_null(strstr(c[0].message, "ErrImagePull"));
	op_app_fini(&app);
	app_of(&app, S0, NULL);
	assert_string_equal(op_lifecycle(&app, &MISSING), "CREATED");
	op_app_fini(&app);
	reconciled(&app, S0, S_SUSP, NULL);
	assert_string_equal(op_lifecycle(&app, &MISSING), "SUSPENDED");
	op_app_fini(&app);
	reconciled(&app, S0, S_ARGS, UPGRADING "}");
	assert_string_equal(op_lifecycle(&app, &RUNNING), "UPGRADING");
	op_app_fini(&app);
	app_of(&app, "{\"image\":\"i\",\"job\":{}}", NULL);
	op_conditions(&app, &MISSING, "CREATED", "", c);
	assert_true(c[2].status);
	assert_string_equal(c[2].reason, "ValidationError");
	assert_non_null(strstr(c[2].message, "spec.job.uri"));
	op_app_fini(&app);
}

static void test_canonical_spec_sorts_keys(void **state)
{
	cJSON *a = cJSON_Parse("{\"b\":{\"y\":1,\"x\":[{\"q\":1,\"p\":2}]},\"a\":\"s\"}");
	char *s = NULL;
	cm_err err = {0};
	assert_int_equal(op_spec_canonical(a, &s, &err), 0);
	assert_string_equal(s, "{\"a\":\"s\",\"b\":{\"x\":[{\"p\":2,\"q\":1}],\"y\":1}}");
	free(s);
	cJSON_Delete(a);
}

/* The exposition: counters, the leader gauge, requests by verb and code
 * (sorted; no answer is code "error"), cumulative buckets ending in +Inf
 * equal to _count, and a buffer too small refused. */
static void test_metrics_exposition(void **state)
{
	op_metrics *m;
	assert_int_equal(op_metrics_new(&m), 0);
	op_metrics_observe(m, "PUT", 200, 0.020);
	op_metrics_observe(m, "GET", 404, 0.004);
	op_metrics_observe(m, "GET", 200, 0.003);
	op_metrics_observe(m, "GET", 200, 3.0);
	op_metrics_observe(m, "GET", 0, 70.0);
	op_metrics_observe(m, "BREW", 418, 0.1);
	op_gauges g = {.reconciles = 7, .failures = 2, .queue_depth = 3, .leader = 1};
	static char buf[16384];
	size_t len;
	assert_int_equal(op_metrics_format(m, &g, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, strlen(buf));
	static const char *const want[] = {
	    "\nflinc_operator_reconciles_total 7\n",
	    "\nflinc_operator_reconcile_errors_total 2\n",
	    "\nflinc_operator_queue_depth 3\n",
	    "# TYPE flinc_operator_leader gauge\nflinc_operator_leader 1\n",
	    "# TYPE flinc_operator_k8s_requests_total counter\n"
	    "flinc_operator_k8s_requests_total{verb=\"GET\",code=\"error\"} 1\n"
	    "flinc_operator_k8s_requests_total{verb=\"GET\",code=\"200\"} 2\n"
	    "flinc_operator_k8s_requests_total{verb=\"GET\",code=\"404\"} 1\n"
	    "flinc_operator_k8s_requests_total{verb=\"PUT\",code=\"200\"} 1\n"
	    "flinc_operator_k8s_requests_total{verb=\"OTHER\",code=\"418\"} 1\n",
	    "# TYPE flinc_operator_k8s_request_duration_seconds histogram\n"
	    "flinc_operator_k8s_request_duration_seconds_bucket{verb=\"GET\",le=\"0.005\"} 2\n",
	    "{verb=\"GET\",le=\"2\"} 2\n"
	    "flinc_operator_k8s_request_duration_seconds_bucket{verb=\"GET\",le=\"4\"} 3\n",
	    "{verb=\"GET\",le=\"60\"} 3\n"
	    "flinc_operator_k8s_request_duration_seconds_bucket{verb=\"GET\",le=\"+Inf\"} 4\n"
	    "flinc_operator_k8s_request_duration_seconds_sum{verb=\"GET\"} 73.007000\n"
	    "flinc_operator_k8s_request_duration_seconds_count{verb=\"GET\"} 4\n",
	    "{verb=\"PUT\",le=\"0.005\"} 0\n"
	    "flinc_operator_k8s_request_duration_seconds_bucket{verb=\"PUT\",le=\"0.025\"} 1\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++)
		if (!strstr(buf, want[i]))
			fail_msg("missing:\n%s\nin:\n%s", want[i], buf);
	/* A verb never used has no series. */
	assert_null(strstr(buf, "verb=\"DELETE\""));
	assert_int_equal(op_metrics_format(m, &g, buf, 200, &len), FL_ERANGE);
	op_metrics_free(m);
}

typedef struct obs_arg {
	op_metrics *m;
	int id;
} obs_arg;

static void *observe_many(void *p)
{
	obs_arg *a = p;
	for (int i = 0; i < 5000; i++)
		op_metrics_observe(a->m, a->id % 2 ? "GET" : "PUT", 200 + (i % 3), 0.001 * (i % 7));
	return NULL;
}

/* Four threads at once (the request observer runs on every client's
 * thread): no count lost. */
static void test_metrics_from_many_threads(void **state)
{
	op_metrics *m;
	assert_int_equal(op_metrics_new(&m), 0);
	pthread_t t[4];
	obs_arg a[4];
	for (int i = 0; i < 4; i++) {
		a[i] = (obs_arg){.m = m, .id = i};
		assert_int_equal(pthread_create(&t[i], NULL, observe_many, &a[i]), 0);
	}
	static char buf[16384];
	size_t len;
	op_gauges g = {0};
	assert_int_equal(op_metrics_format(m, &g, buf, sizeof(buf), &len), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(op_metrics_format(m, &g, buf, sizeof(buf), &len), 0);
	assert_non_null(
	    strstr(buf, "flinc_operator_k8s_request_duration_seconds_count{verb=\"GET\"} 10000\n"));
	assert_non_null(
	    strstr(buf, "flinc_operator_k8s_request_duration_seconds_count{verb=\"PUT\"} 10000\n"));
	assert_non_null(
	    strstr(buf, "flinc_operator_k8s_requests_total{verb=\"GET\",code=\"201\"} 3334\n"));
	op_metrics_free(m);
}

/* ------------------------------------------------- finalizer and deletion */

/* An application with metadata md (the members after name/namespace/uid). */
static void app_md(op_app *app, const char *md, const char *spec, const char *status)
{
	char text[8192];
	snprintf(text, sizeof(text),
		 "{\"apiVersion\":\"flinc.dev/v1alpha1\",\"kind\":\"FlinkApplication\","
		 "\"metadata\":{\"name\":\"wc\",\"namespace\":\"jobs\",\"uid\":\"u-1\","
		 "\"generation\":3%s%s},\"spec\":%s%s%s}",
		 md[0] ? "," : "", md, spec, status ? ",\"status\":" : "", status ? status : "");
	cJSON *obj = cJSON_Parse(text);
	if (!obj)
		fail_msg("not JSON: %s", text);
	cm_err err = {0};
	if (op_app_decode(app, obj, &err) != 0)
		fail_msg("decode: %s", err.msg);
}

#define OURS "\"finalizers\":[\"other.io/keep\",\"flinc.dev/finalizer\"]"
#define GOING "\"deletionTimestamp\":\"2026-11-30T14:00:00Z\"," OURS
#define SP_ON_DELETE "\"annotations\":{\"flinc.dev/savepoint-on-delete\":\"true\"}"
#define RECONCILED_S0 "{\"reconciliationStatus\":{\"lastReconciledSpec\":\"{}\"}"

static op_action delete_step(const char *md, const char *status, const op_observed *o,
			     op_step *st)
{
	op_app app;
	app_md(&app, md, S0, status);
	op_diff d = {0};
	op_decide(&app, &d, o, st);
	if (app.deleting)
		assert_string_equal(op_lifecycle(&app, o), "DELETING");
	op_app_fini(&app);
	return st->action;
}

static void test_the_finalizer_comes_first(void **state)
{
	op_step st;
	op_app app;
	/* None, or only someone else's: ours is added before anything else,
	 * even before a validation error is reported. */
	assert_int_equal(delete_step("", NULL, &MISSING, &st), OP_ACT_ADD_FINALIZER);
	assert_int_equal(delete_step("\"finalizers\":[\"other.io/keep\"]", NULL, &RUNNING, &st),
			 OP_ACT_ADD_FINALIZER);
	app_md(&app, "", "{\"image\":\"i\",\"job\":{}}", NULL);
	assert_false(app.valid);
	op_diff d = {0};
	op_decide(&app, &d, &MISSING, &st);
	assert_int_equal(st.action, OP_ACT_ADD_FINALIZER);
	op_app_fini(&app);
	/* With it: the usual steps. */
	app_md(&app, OURS, S0, NULL);
	assert_true(app.has_finalizer);
	assert_false(app.deleting || app.savepoint_on_delete);
	assert_int_equal(op_spec_diff(&app, &d, &(cm_err){0}), 0);
	op_decide(&app, &d, &MISSING, &st);
	assert_int_equal(st.action, OP_ACT_DEPLOY);
	op_app_fini(&app);
}

static void test_deletion_without_a_savepoint(void **state)
{
	op_step st;
	op_observed deleting = {.deployment = OP_DEP_DELETING};
	op_observed left = {.deployment = OP_DEP_MISSING, .leftovers = 2};
	op_observed ha = {.deployment = OP_DEP_MISSING, .ha_configmaps = 3};
	op_observed broken = {.deployment = OP_DEP_ERROR};
	/* The cluster goes (whatever its state), then we wait until every object
	 * of it is gone, then the HA ConfigMaps, then the finalizer. */
	assert_int_equal(delete_step(GOING, RECONCILED_S0 "}", &RUNNING, &st), OP_ACT_DELETE);
	assert_int_equal(delete_step(GOING, NULL, &broken, &st), OP_ACT_DELETE);
	assert_int_equal(delete_step(GOING, NULL, &deleting, &st), OP_ACT_WAIT);
	assert_int_equal(delete_step(GOING, NULL, &left, &st), OP_ACT_WAIT);
	assert_non_null(strstr(st.why, "objects"));
	assert_int_equal(delete_step(GOING, NULL, &ha, &st), OP_ACT_DELETE_HA);
	assert_int_equal(delete_step(GOING, NULL, &MISSING, &st), OP_ACT_REMOVE_FINALIZER);
	/* A cluster of this name that is not this application's: nothing of it
	 * is touched (its objects and HA ConfigMaps carry the same label). */
	op_observed foreign = {.deployment = OP_DEP_FOREIGN, .leftovers = 3, .ha_configmaps = 2};
	assert_int_equal(delete_step(GOING, NULL, &foreign, &st), OP_ACT_REMOVE_FINALIZER);
	/* A savepoint in progress (say a periodic one) is seen to its end first. */
	assert_int_equal(
	    delete_step(GOING, "{\"jobStatus\":{\"savepointInfo\":{\"triggerId\":\"ab\"}}}",
			&RUNNING, &st),
	    OP_ACT_POLL_SAVEPOINT);
	/* Without our finalizer there is nothing to hold. */
	assert_int_equal(delete_step("\"deletionTimestamp\":\"2026-11-30T14:00:00Z\"", NULL,
				     &RUNNING, &st),
			 OP_ACT_NONE);
	/* An invalid application that asks for a final savepoint waits, saying
	 * why and how to go without it (its state is never dropped silently);
	 * without the annotation it is deleted the same way as a valid one. */
	op_app app;
	app_md(&app, GOING "," SP_ON_DELETE, "{\"image\":\"i\",\"job\":{}}", NULL);
	assert_false(app.valid);
	op_diff d = {0};
	op_decide(&app, &d, &RUNNING, &st);
	assert_int_equal(st.action, OP_ACT_WAIT);
	assert_non_null(strstr(st.why, "waits for a valid spec"));
	assert_non_null(strstr(st.why, "remove the annotation flinc.dev/savepoint-on-delete"));
	op_app_fini(&app);
	app_md(&app, GOING, "{\"image\":\"i\",\"job\":{}}", NULL);
	op_decide(&app, &d, &RUNNING, &st);
	assert_int_equal(st.action, OP_ACT_DELETE);
	op_app_fini(&app);
	/* A name that is no cluster id: nothing was made under it, and what
	 * carries its cut form is another application's. */
	cJSON *obj = cJSON_Parse(
	    "{\"apiVersion\":\"flinc.dev/v1alpha1\",\"kind\":\"FlinkApplication\","
	    "\"metadata\":{\"name\":\"a-name-that-is-longer-than-forty-five-characters-in-all\","
	    "\"namespace\":\"jobs\",\"uid\":\"u-2\",\"generation\":1," GOING "},\"spec\":" S0 "}");
	assert_non_null(obj);
	cm_err err = {0};
	assert_int_equal(op_app_decode(&app, obj, &err), 0);
	assert_false(app.valid);
	op_observed gone = {.deployment = OP_DEP_MISSING, .ha_configmaps = 2};
	op_decide(&app, &d, &gone, &st);
	assert_int_equal(st.action, OP_ACT_REMOVE_FINALIZER);
	op_app_fini(&app);
}

static void test_deletion_with_a_final_savepoint(void **state)
{
	op_step st;
	op_observed restarting = RUNNING, finished = RUNNING, no_rest = RUNNING;
	snprintf(restarting.job_state, sizeof(restarting.job_state), "RESTARTING");
	snprintf(finished.job_state, sizeof(finished.job_state), "FINISHED");
	no_rest.rest_ok = false;
	no_rest.job_state[0] = '\0';
	op_observed starting = {.deployment = OP_DEP_DEPLOYING};
	/* Running: stop with a savepoint of type DELETE. */
	assert_int_equal(delete_step(GOING "," SP_ON_DELETE, NULL, &RUNNING, &st),
			 OP_ACT_STOP_SAVEPOINT);
	assert_string_equal(st.trigger_type, "DELETE");
	/* The same from the Apache operator's key in flincConfiguration. */
	op_app app;
	app_md(&app, GOING,
	       "{\"image\":\"i\",\"flincConfiguration\":{\"kubernetes.operator.job.savepoint-on-"
	       "deletion\":\"true\"}," JOB "}}",
	       NULL);
	assert_true(app.valid);
	assert_true(app.spec.savepoint_on_deletion);
	op_diff d = {0};
	op_decide(&app, &d, &RUNNING, &st);
	assert_int_equal(st.action, OP_ACT_STOP_SAVEPOINT);
	op_app_fini(&app);
	/* Its path in status: the cluster goes. */
	assert_int_equal(delete_step(GOING "," SP_ON_DELETE,
				     "{\"reconciliationStatus\":{\"upgradeSavepoint\":\"file:/sp/9\"}}",
				     &RUNNING, &st),
			 OP_ACT_DELETE);
	/* Not running yet (or the JobManager not answering): wait, and say how to
	 * delete without it. */
	assert_int_equal(delete_step(GOING "," SP_ON_DELETE, NULL, &restarting, &st), OP_ACT_WAIT);
	assert_non_null(strstr(st.why, "flinc.dev/savepoint-on-delete"));
	assert_int_equal(delete_step(GOING "," SP_ON_DELETE, NULL, &no_rest, &st), OP_ACT_WAIT);
	assert_int_equal(delete_step(GOING "," SP_ON_DELETE, NULL, &starting, &st), OP_ACT_WAIT);
	/* The job ended, or no cluster runs: nothing to save. */
	assert_int_equal(delete_step(GOING "," SP_ON_DELETE, NULL, &finished, &st), OP_ACT_DELETE);
	assert_int_equal(delete_step(GOING "," SP_ON_DELETE, NULL, &MISSING, &st),
			 OP_ACT_REMOVE_FINALIZER);
	/* A final savepoint that failed is tried again after a back-off that
	 * doubles (5 s, 10 s, ... at most 5 min); the error stays meanwhile. */
	assert_int_equal(op_delete_backoff_ms(0), 0);
	assert_int_equal(op_delete_backoff_ms(1), 5000);
	assert_int_equal(op_delete_backoff_ms(2), 10000);
	assert_int_equal(op_delete_backoff_ms(7), 300000);
	assert_int_equal(op_delete_backoff_ms(100), 300000);
	op_observed now = RUNNING;
	now.now_ms = 1800000000000LL;
	assert_int_equal(delete_step(GOING "," SP_ON_DELETE,
				     "{\"jobStatus\":{\"savepointInfo\":{\"deleteSavepointFailures\":2,"
				     "\"triggerTimestamp\":1799999995000}}}",
				     &now, &st),
			 OP_ACT_WAIT);
	assert_int_equal(st.wait_ms, 5000);
	assert_non_null(strstr(st.why, "failed 2 times"));
	assert_non_null(strstr(st.why, "flinc.dev/savepoint-on-delete"));
	assert_int_equal(delete_step(GOING "," SP_ON_DELETE,
				     "{\"jobStatus\":{\"savepointInfo\":{\"deleteSavepointFailures\":2,"
				     "\"triggerTimestamp\":1799999989000}}}",
				     &now, &st),
			 OP_ACT_STOP_SAVEPOINT);
	/* The annotation must say "true". */
	assert_int_equal(
	    delete_step(GOING ",\"annotations\":{\"flinc.dev/savepoint-on-delete\":\"no\"}", NULL,
			&RUNNING, &st),
	    OP_ACT_DELETE);
}

/* ------------------------------------------- periodic savepoints, history */

#define NOW 1800000000000LL
#define S_PERIODIC                                                                                 \
	"{\"image\":\"i\",\"taskManager\":{\"replicas\":1},\"flincConfiguration\":{"               \
	"\"execution.checkpointing.dir\":\"file:///ckp\","                                         \
	"\"kubernetes.operator.periodic.savepoint.interval\":\"10 s\"}," JOB                       \
	",\"upgradeMode\":\"savepoint\"}}"

static void test_periodic_savepoints(void **state)
{
	op_app app;
	op_step st;
	op_diff d;
	cm_err err = {0};
	op_observed o = RUNNING;
	o.now_ms = NOW;
	o.job_start_ms = NOW - 60000;
	/* Never taken, the job up for a minute: due now. */
	reconciled(&app, S_PERIODIC, S_PERIODIC, NULL);
	assert_int_equal(app.spec.periodic_savepoint_ms, 10000);
	assert_int_equal(op_periodic_due_in(&app, &o), 0);
	assert_int_equal(op_spec_diff(&app, &d, &err), 0);
	op_decide(&app, &d, &o, &st);
	assert_int_equal(st.action, OP_ACT_TRIGGER_SAVEPOINT);
	assert_string_equal(st.trigger_type, "PERIODIC");
	/* Counted from the job's start. */
	o.job_start_ms = NOW - 4000;
	assert_int_equal(op_periodic_due_in(&app, &o), 6000);
	op_decide(&app, &d, &o, &st);
	assert_int_equal(st.action, OP_ACT_NONE);
	/* Not while the job does not run. */
	o.job_start_ms = NOW - 60000;
	snprintf(o.job_state, sizeof(o.job_state), "RESTARTING");
	assert_int_equal(op_periodic_due_in(&app, &o), -1);
	op_app_fini(&app);
	/* Counted from the last periodic trigger, and from the last savepoint. */
	o = RUNNING;
	o.now_ms = NOW;
	reconciled(&app, S_PERIODIC, S_PERIODIC,
		   "{\"jobStatus\":{\"savepointInfo\":{\"lastPeriodicSavepointTimestamp\":" "1799999997000}}}");
	assert_int_equal(op_periodic_due_in(&app, &o), 7000);
	op_app_fini(&app);
	reconciled(&app, S_PERIODIC, S_PERIODIC,
		   "{\"jobStatus\":{\"savepointInfo\":{\"lastSavepoint\":{\"location\":\"file:/sp/1\","
		   "\"timeStamp\":1799999999000}}}}");
	assert_int_equal(op_periodic_due_in(&app, &o), 9000);
	op_app_fini(&app);
	/* Not in the middle of an upgrade; not without the key. */
	reconciled(&app, S_PERIODIC, S_PERIODIC, UPGRADING "}");
	assert_int_equal(op_periodic_due_in(&app, &o), -1);
	op_app_fini(&app);
	reconciled(&app, S0, S0, NULL);
	assert_int_equal(op_periodic_due_in(&app, &o), -1);
	op_app_fini(&app);
	/* The operator's keys change nothing of the cluster: no upgrade. */
	reconciled(&app, S0, S_PERIODIC, NULL);
	assert_int_equal(op_spec_diff(&app, &d, &err), 0);
	assert_false(d.upgrade);
	op_app_fini(&app);
	/* Values that do not parse are refused naming their key. */
	app_of(&app,
	       "{\"image\":\"i\",\"flincConfiguration\":{\"kubernetes.operator.periodic.savepoint."
	       "interval\":\"often\"}," JOB "}}",
	       NULL);
	assert_false(app.valid);
	assert_non_null(strstr(app.invalid.msg, "periodic.savepoint.interval"));
	op_app_fini(&app);
	app_of(&app,
	       "{\"image\":\"i\",\"flincConfiguration\":{\"kubernetes.operator.savepoint.history."
	       "max.count\":\"33\"}," JOB "}}",
	       NULL);
	assert_false(app.valid);
	assert_non_null(strstr(app.invalid.msg, "history.max.count"));
	op_app_fini(&app);
}

/* A history of n entries, oldest first, each a second apart ending at NOW:
 * locations file:/sp/0.. with triggerType types[i % ntypes]. */
static cJSON *history_of(int n, const char *const *types, int ntypes)
{
	cJSON *h = cJSON_CreateArray();
	for (int i = 0; i < n; i++) {
		char loc[32];
		snprintf(loc, sizeof(loc), "file:/sp/%d", i);
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "location", loc);
		cJSON_AddNumberToObject(e, "timeStamp", (double)(NOW - (n - 1 - i) * 1000LL));
		if (types[i % ntypes])
			cJSON_AddStringToObject(e, "triggerType", types[i % ntypes]);
		cJSON_AddItemToArray(h, e);
	}
	return h;
}

static void test_the_history_cap_and_what_is_disposed(void **state)
{
	op_app app;
	bool drop[2 * OP_HISTORY_LIMIT], dispose[2 * OP_HISTORY_LIMIT];
	static const char *const periodic[] = {"PERIODIC"};
	/* 12 entries, the default cap of 10: the two oldest leave and go. */
	reconciled(&app, S0, S0, NULL);
	assert_int_equal(app.spec.history_max_count, 10);
	cJSON *h = history_of(12, periodic, 1);
	assert_int_equal(op_history_trim(&app, h, NOW, drop, dispose), 2);
	for (int i = 0; i < 12; i++) {
		assert_int_equal(drop[i], i < 2);
		assert_int_equal(dispose[i], i < 2);
	}
	cJSON_Delete(h);
	op_app_fini(&app);
	/* Never the initial savepoint, the last one, an upgrade's, or one the
	 * operator did not take; those leave the history with their files. */
	static const char *const mixed[] = {"UPGRADE", NULL, "SUSPEND", "MANUAL", "DELETE",
					    "PERIODIC"};
	reconciled(&app, S0,
		   "{\"image\":\"i\",\"taskManager\":{\"replicas\":1},\"flincConfiguration\":{"
		   "\"execution.checkpointing.dir\":\"file:///ckp\","
		   "\"kubernetes.operator.savepoint.history.max.count\":\"2\"}," JOB
		   ",\"upgradeMode\":\"savepoint\",\"initialSavepointPath\":\"file:/sp/2\"}}",
		   "{\"reconciliationStatus\":{\"upgradeSavepoint\":\"file:/sp/3\"},\"jobStatus\":{"
		   "\"savepointInfo\":{\"lastSavepoint\":{\"location\":\"file:/sp/4\"}}}}");
	h = history_of(8, mixed, 6);
	assert_int_equal(op_history_trim(&app, h, NOW, drop, dispose), 6);
	assert_true(drop[0] && dispose[0]);   /* UPGRADE */
	assert_true(drop[1] && !dispose[1]);  /* no type: not ours */
	assert_true(drop[2] && !dispose[2]);  /* initialSavepointPath */
	assert_true(drop[3] && !dispose[3]);  /* the upgrade's savepoint */
	assert_true(drop[4] && !dispose[4]);  /* the last savepoint */
	assert_true(drop[5] && dispose[5]);   /* PERIODIC */
	assert_false(drop[6] || drop[7]);
	cJSON_Delete(h);
	op_app_fini(&app);
	/* cleanup disabled: they leave, their files stay. */
	reconciled(&app, S0,
		   "{\"image\":\"i\",\"flincConfiguration\":{"
		   "\"execution.checkpointing.dir\":\"file:///ckp\","
		   "\"kubernetes.operator.savepoint.history.max.count\":\"1\","
		   "\"kubernetes.operator.savepoint.cleanup.enabled\":\"false\"}," JOB "}}",
		   NULL);
	h = history_of(3, periodic, 1);
	assert_int_equal(op_history_trim(&app, h, NOW, drop, dispose), 2);
	assert_true(drop[0] && drop[1] && !drop[2]);
	assert_false(dispose[0] || dispose[1]);
	cJSON_Delete(h);
	op_app_fini(&app);
	/* By age: older than max.age leaves, the newest stays however old. */
	reconciled(&app, S0,
		   "{\"image\":\"i\",\"flincConfiguration\":{"
		   "\"execution.checkpointing.dir\":\"file:///ckp\","
		   "\"kubernetes.operator.savepoint.history.max.age\":\"2500 ms\"}," JOB "}}",
		   NULL);
	h = history_of(5, periodic, 1);
	assert_int_equal(op_history_trim(&app, h, NOW, drop, dispose), 2);
	assert_true(drop[0] && drop[1] && !drop[2]);
	assert_int_equal(op_history_trim(&app, h, NOW + 3600000, drop, dispose), 4);
	assert_false(drop[4]);
	cJSON_Delete(h);
	/* A location twice: disposed once; nothing from an empty history. */
	h = cJSON_Parse("[{\"location\":\"file:/sp/x\",\"triggerType\":\"MANUAL\",\"timeStamp\":1},"
			"{\"location\":\"file:/sp/x\",\"triggerType\":\"MANUAL\",\"timeStamp\":2},"
			"{\"location\":\"file:/sp/y\",\"triggerType\":\"MANUAL\",\"timeStamp\":"
			"1800000000000}]");
	assert_int_equal(op_history_trim(&app, h, NOW, drop, dispose), 2);
	assert_true(dispose[0] != dispose[1]);
	cJSON_Delete(h);
	h = cJSON_CreateArray();
	assert_int_equal(op_history_trim(&app, h, NOW, drop, dispose), 0);
	cJSON_Delete(h);
	op_app_fini(&app);
}

static void test_the_default_configuration(void **state)
{
	cm_err err = {0};
	/* Numbers and booleans (as Helm writes them unquoted) are taken as text. */
	assert_int_equal(op_spec_set_defaults(cJSON_Parse("{\"a.b\":\"from-defaults\",\"x.y\":2,"
							   "\"execution.checkpointing.dir\":"
							   "\"file:///d\",\"kubernetes.operator."
							   "periodic.savepoint.interval\":\"1 h\","
							   "\"kubernetes.operator.savepoint.cleanup."
							   "enabled\":false}"),
					      &err),
			 0);
	op_app app;
	app_of(&app, "{\"image\":\"i\",\"flincConfiguration\":{\"a.b\":\"mine\"}," JOB "}}", NULL);
	assert_true(app.valid);
	/* The operator's keys from the defaults. */
	assert_int_equal(app.spec.periodic_savepoint_ms, 3600000);
	assert_false(app.spec.savepoint_cleanup);
	cfg *c = NULL;
	k8s_cluster_spec ks;
	assert_int_equal(op_spec_cluster(&app, NULL, &c, &ks, &err), 0);
	assert_string_equal(cfg_get_raw(c, "a.b"), "mine"); /* the application's wins */
	assert_string_equal(cfg_get_raw(c, "x.y"), "2");
	assert_string_equal(cfg_get_raw(c, "execution.checkpointing.dir"), "file:///d");
	assert_null(cfg_get_raw(c, "kubernetes.operator.periodic.savepoint.interval"));
	assert_string_equal(op_spec_conf(&app.spec, "execution.checkpointing.dir")->valuestring,
			    "file:///d");
	cfg_free(c);
	op_app_fini(&app);
	/* A savepoint upgrade finds its directory in the defaults. */
	app_of(&app, "{\"image\":\"i\"," JOB ",\"upgradeMode\":\"savepoint\"}}", NULL);
	assert_true(app.valid);
	op_app_fini(&app);
	/* Refused, naming the key: the operator's own, a value of the wrong type, a bad
	 * operator key, no map. */
	assert_int_equal(op_spec_set_defaults(cJSON_Parse("{\"kubernetes.cluster-id\":\"x\"}"), &err),
			 FL_EINVAL);
	assert_non_null(strstr(err.msg, "kubernetes.cluster-id"));
	err = (cm_err){0};
	assert_int_equal(op_spec_set_defaults(cJSON_Parse("{\"parallelism.default\":\"many\"}"),
					      &err),
			 FL_EINVAL);
	assert_non_null(strstr(err.msg, "parallelism.default"));
	err = (cm_err){0};
	assert_int_equal(
	    op_spec_set_defaults(
		cJSON_Parse("{\"kubernetes.operator.savepoint.history.max.count\":\"0\"}"), &err),
	    FL_EINVAL);
	assert_non_null(strstr(err.msg, "history.max.count"));
	assert_int_equal(op_spec_set_defaults(cJSON_Parse("{\"a\":[1]}"), &err), FL_EINVAL);
	assert_int_equal(op_spec_set_defaults(cJSON_Parse("[]"), &err), FL_EINVAL);
	/* A refused one leaves none; NULL clears. */
	app_of(&app, "{\"image\":\"i\"," JOB "}}", NULL);
	assert_int_equal(app.spec.periodic_savepoint_ms, 0);
	op_app_fini(&app);
	assert_int_equal(op_spec_set_defaults(NULL, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode_a_minimal_application),
	    cmocka_unit_test(test_every_refusal_names_its_field),
	    cmocka_unit_test(test_a_name_that_is_no_cluster_id_is_refused),
	    cmocka_unit_test(test_configuration_of_the_cluster),
	    cmocka_unit_test(test_memory_quantities),
	    cmocka_unit_test(test_keys_that_are_no_typos_are_accepted),
	    cmocka_unit_test(test_metrics_exposition),
	    cmocka_unit_test(test_metrics_from_many_threads),
	    cmocka_unit_test(test_what_changed),
	    cmocka_unit_test(test_the_step_for_each_state),
	    cmocka_unit_test(test_the_steps_of_a_savepoint_upgrade),
	    cmocka_unit_test(test_the_steps_of_a_last_state_upgrade),
	    cmocka_unit_test(test_lifecycle_and_conditions),
	    cmocka_unit_test(test_canonical_spec_sorts_keys),
	    cmocka_unit_test(test_the_finalizer_comes_first),
	    cmocka_unit_test(test_deletion_without_a_savepoint),
	    cmocka_unit_test(test_deletion_with_a_final_savepoint),
	    cmocka_unit_test(test_periodic_savepoints),
	    cmocka_unit_test(test_the_history_cap_and_what_is_disposed),
	    cmocka_unit_test(test_the_default_configuration),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
