/*
 * test_k8s_cluster.c — the objects of a flinc cluster on Kubernetes built
 * from the configuration (runtime/k8s/cluster.h): names, labels, owner
 * references, ports, resources, the flinc.yaml the processes read; the
 * cluster id's DNS-1035 rules; and the arguments of flinc run-application
 * and kubernetes-session (runtime/client/kubernetes.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/kubernetes.h"
#include "k8s/client.h"
#include "k8s/cluster.h"
#include "../support/json_at.h"

static cfg *conf_of(const char *const *kv)
{
	cfg *c = NULL;
	assert_int_equal(cfg_new(&c), 0);
	cm_err err = {0};
	for (; *kv; kv++) {
		if (cfg_set_dynamic(c, *kv, &err) != 0)
			fail_msg("%s: %s", *kv, err.msg);
	}
	return c;
}

static void spec_of(k8s_cluster_spec *s, const char *const *kv)
{
	cfg *c = conf_of(kv);
	cm_err err = {0};
	if (k8s_cluster_spec_from_config(s, c, true, &err) != 0)
		fail_msg("%s", err.msg);
	cfg_free(c);
}

static const char *const basic[] = {"kubernetes.cluster-id=wc-1",
				    "kubernetes.container.image=flinc:0.1.0",
				    "kubernetes.namespace=jobs", NULL};

static void assert_labels(const cJSON *l, const char *component)
{
	assert_str_at(l, "app", "wc-1");
	assert_str_at(l, "component", component);
	assert_str_at(l, "type", K8S_TYPE_LABEL);
}

static void test_cluster_id_dns1035(void **state)
{
	(void)state;
	cm_err err = {0};
	assert_int_equal(k8s_cluster_id_check("a", &err), 0);
	assert_int_equal(k8s_cluster_id_check("my-job-2", &err), 0);
	const char *bad[] = {"", "My-job", "2job", "job-", "job_1", "job.1", "jöb", NULL};
	for (const char **b = bad; *b; b++) {
		cm_err_clear(&err);
		if (k8s_cluster_id_check(*b, &err) != FL_EINVAL)
			fail_msg("'%s' accepted", *b);
		assert_non_null(strstr(err.msg, "kubernetes.cluster-id"));
	}
	cm_err_clear(&err);
	assert_int_equal(k8s_cluster_id_check("job_1", &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "character 4 ('_')"));
	char longid[K8S_CLUSTER_ID_MAX + 2];
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	cm_err_clear(&err);
	assert_int_equal(k8s_cluster_id_check(longid, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "longer than 45"));
	longid[K8S_CLUSTER_ID_MAX] = '\0';
	assert_int_equal(k8s_cluster_id_check(longid, &err), 0);
}

static void test_spec_refuses_missing_and_bad_keys(void **state)
{
	(void)state;
	struct {
		const char *kv[4];
		const char *named;
	} cases[] = {
	    {{"kubernetes.container.image=x", NULL}, "kubernetes.cluster-id is not set"},
	    {{"kubernetes.cluster-id=ok", NULL}, "kubernetes.container.image is not set"},
	    {{"kubernetes.cluster-id=ok", "kubernetes.container.image=a b", NULL}, "white space"},
	    {{"kubernetes.cluster-id=ok", "kubernetes.container.image=x",
	      "kubernetes.namespace=Bad_NS", NULL},
	     "kubernetes.namespace"},
	    {{"kubernetes.cluster-id=ok", "kubernetes.container.image=x", "rest.port=0", NULL},
	     "rest.port"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg *c = conf_of(cases[i].kv);
		k8s_cluster_spec s;
		cm_err err = {0};
		assert_int_equal(k8s_cluster_spec_from_config(&s, c, true, &err), FL_EINVAL);
		if (!strstr(err.msg, cases[i].named))
			fail_msg("case %zu: '%s' does not say '%s'", i, err.msg, cases[i].named);
		cfg_free(c);
	}
	/* A value the key's type refuses is named when it is set. */
	cfg *c = NULL;
	cm_err err = {0};
	assert_int_equal(cfg_new(&c), 0);
	assert_int_equal(
	    cfg_set_dynamic(c, "kubernetes.container.image.pull-policy=Sometimes", &err),
	    FL_EINVAL);
	assert_non_null(strstr(err.msg, "kubernetes.container.image.pull-policy"));
	cm_err_clear(&err);
	assert_int_equal(cfg_set_dynamic(c, "kubernetes.jobmanager.cpu=lots", &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "kubernetes.jobmanager.cpu"));
	cfg_free(c);
}

static void test_deployment_of_an_application(void **state)
{
	(void)state;
	k8s_cluster_spec s;
	const char *kv[] = {"kubernetes.cluster-id=wc-1",
			    "kubernetes.container.image=reg/flinc:1",
			    "kubernetes.namespace=jobs",
			    "kubernetes.service-account=flinc",
			    "kubernetes.container.image.pull-policy=never",
			    "kubernetes.jobmanager.cpu=0.25",
			    "jobmanager.memory.process.size=800m",
			    NULL};
	spec_of(&s, kv);
	char *args[] = {"--input", "/in.txt"};
	cJSON *d = NULL;
	cm_err err = {0};
	assert_int_equal(
	    k8s_cluster_deployment(&s, "/opt/flinc/usrlib/wordcount.so", args, 2, &d, &err), 0);
	assert_str_at(d, "apiVersion", "apps/v1");
	assert_str_at(d, "kind", "Deployment");
	assert_str_at(d, "metadata.name", "wc-1");
	assert_str_at(d, "metadata.namespace", "jobs");
	assert_labels(at(d, "metadata.labels"), "jobmanager");
	assert_labels(at(d, "spec.selector.matchLabels"), "jobmanager");
	assert_labels(at(d, "spec.template.metadata.labels"), "jobmanager");
	assert_num_at(d, "spec.replicas", 1);
	const cJSON *pod = at(d, "spec.template.spec");
	assert_str_at(pod, "serviceAccountName", "flinc");
	assert_true(cJSON_IsTrue(at(pod, "securityContext.runAsNonRoot")));
	const cJSON *c = at(pod, "containers.0");
	assert_str_at(c, "name", K8S_MAIN_CONTAINER);
	assert_str_at(c, "image", "reg/flinc:1");
	assert_str_at(c, "imagePullPolicy", "Never");
	assert_str_at(c, "command.0", "flinc-jobmanager");
	assert_str_at(c, "args.0", "--application");
	assert_str_at(c, "args.1", "/opt/flinc/usrlib/wordcount.so");
	assert_str_at(c, "args.2", "--");
	assert_str_at(c, "args.3", "--input");
	assert_str_at(c, "args.4", "/in.txt");
	assert_int_equal(cJSON_GetArraySize(at(c, "args")), 5);
	assert_str_at(c, "ports.0.name", "rest");
	assert_num_at(c, "ports.0.containerPort", 8081);
	assert_str_at(c, "ports.1.name", "jobmanager-rpc");
	assert_num_at(c, "ports.1.containerPort", 6123);
	assert_str_at(c, "resources.requests.cpu", "250m");
	assert_str_at(c, "resources.limits.cpu", "250m");
	assert_str_at(c, "resources.requests.memory", "800Mi");
	assert_str_at(c, "resources.limits.memory", "800Mi");
	assert_str_at(c, "env.0.name", "FLINC_CONF_DIR");
	assert_str_at(c, "env.0.value", K8S_CONF_DIR);
	assert_str_at(c, "volumeMounts.0.mountPath", K8S_CONF_DIR);
	assert_str_at(pod, "volumes.0.configMap.name", "flinc-config-wc-1");
	assert_str_at(pod, "volumes.1.secret.secretName", "flinc-token-wc-1");
	/* Only the Deployment has no owner: it is the root of the cluster. */
	assert_null(at(d, "metadata.ownerReferences"));
	cJSON_Delete(d);

	/* A session: no --application, no arguments. */
	assert_int_equal(k8s_cluster_deployment(&s, NULL, NULL, 0, &d, &err), 0);
	assert_int_equal(cJSON_GetArraySize(at(d, "spec.template.spec.containers.0.args")), 0);
	cJSON_Delete(d);
}

static void test_services_and_owner(void **state)
{
	(void)state;
	k8s_cluster_spec s;
	spec_of(&s, basic);
	cm_err err = {0};
	cJSON *in = NULL, *rest = NULL;
	assert_int_equal(k8s_cluster_service(&s, false, &in, &err), 0);
	assert_int_equal(k8s_cluster_service(&s, true, &rest, &err), 0);
	assert_str_at(in, "metadata.name", "wc-1");
	assert_str_at(in, "spec.clusterIP", "None");
	assert_str_at(in, "spec.ports.0.name", "jobmanager-rpc");
	assert_num_at(in, "spec.ports.0.port", 6123);
	assert_labels(at(in, "spec.selector"), "jobmanager");
	assert_str_at(rest, "metadata.name", "wc-1-rest");
	assert_str_at(rest, "spec.type", "ClusterIP");
	assert_null(at(rest, "spec.clusterIP"));
	assert_str_at(rest, "spec.ports.0.name", "rest");
	assert_num_at(rest, "spec.ports.0.port", 8081);
	assert_num_at(rest, "spec.ports.0.targetPort", 8081);
	assert_labels(at(rest, "metadata.labels"), "jobmanager");
	assert_int_equal(k8s_cluster_set_owner(rest, &s, "uid-123", &err), 0);
	assert_str_at(rest, "metadata.ownerReferences.0.apiVersion", "apps/v1");
	assert_str_at(rest, "metadata.ownerReferences.0.kind", "Deployment");
	assert_str_at(rest, "metadata.ownerReferences.0.name", "wc-1");
	assert_str_at(rest, "metadata.ownerReferences.0.uid", "uid-123");
	assert_true(cJSON_IsTrue(at(rest, "metadata.ownerReferences.0.controller")));
	assert_true(cJSON_IsTrue(at(rest, "metadata.ownerReferences.0.blockOwnerDeletion")));
	cJSON_Delete(in);
	cJSON_Delete(rest);

	const char *np[] = {"kubernetes.cluster-id=wc-1", "kubernetes.container.image=x",
			    "kubernetes.rest-service.exposed.type=nodeport", "rest.port=9091",
			    NULL};
	spec_of(&s, np);
	assert_int_equal(k8s_cluster_service(&s, true, &rest, &err), 0);
	assert_str_at(rest, "spec.type", "NodePort");
	assert_num_at(rest, "spec.ports.0.port", 9091);
	cJSON_Delete(rest);
	cJSON *o = cJSON_CreateObject();
	assert_int_equal(k8s_cluster_set_owner(o, &s, "u", &err), FL_EINVAL);
	cJSON_Delete(o);
}

static void test_taskmanager_pod(void **state)
{
	(void)state;
	k8s_cluster_spec s;
	const char *kv[] = {"kubernetes.cluster-id=wc-1", "kubernetes.container.image=x",
			    "taskmanager.numberOfTaskSlots=2", "taskmanager.memory.process.size=1g",
			    NULL};
	spec_of(&s, kv);
	cJSON *p = NULL;
	cm_err err = {0};
	assert_int_equal(k8s_cluster_taskmanager_pod(&s, "wc-1-taskmanager-1-1", "uid-9", &p, &err),
			 0);
	assert_str_at(p, "kind", "Pod");
	assert_str_at(p, "metadata.name", "wc-1-taskmanager-1-1");
	assert_labels(at(p, "metadata.labels"), "taskmanager");
	assert_str_at(p, "metadata.ownerReferences.0.uid", "uid-9");
	assert_str_at(p, "spec.restartPolicy", "Never");
	const cJSON *c = at(p, "spec.containers.0");
	assert_str_at(c, "command.0", "flinc-taskmanager");
	assert_str_at(c, "args.1", "taskmanager.resource-id=wc-1-taskmanager-1-1");
	assert_str_at(c, "args.3", "taskmanager.cpu.cores=2");
	/* CPU: one core per slot unless kubernetes.taskmanager.cpu says. */
	assert_str_at(c, "resources.limits.cpu", "2");
	assert_str_at(c, "resources.limits.memory", "1024Mi");
	cJSON_Delete(p);
	const char *kv2[] = {"kubernetes.cluster-id=wc-1", "kubernetes.container.image=x",
			     "kubernetes.taskmanager.cpu=0.5", NULL};
	spec_of(&s, kv2);
	assert_int_equal(k8s_cluster_taskmanager_pod(&s, "n", NULL, &p, &err), 0);
	assert_str_at(p, "spec.containers.0.resources.requests.cpu", "500m");
	assert_str_at(p, "spec.containers.0.args.3", "taskmanager.cpu.cores=0.5");
	assert_null(at(p, "metadata.ownerReferences"));
	cJSON_Delete(p);
}

/* kubernetes.volume.host-path: one node directory in every pod; and high
 * availability refused without its storage directory. */
static void test_host_path_volume_and_ha_keys(void **state)
{
	(void)state;
	k8s_cluster_spec s;
	const char *kv[] = {"kubernetes.cluster-id=wc-1",
			    "kubernetes.container.image=x",
			    "kubernetes.volume.host-path=/var/tmp/flinc-ha:/data",
			    "high-availability.type=kubernetes",
			    "high-availability.storageDir=file:///data/ha",
			    NULL};
	spec_of(&s, kv);
	cJSON *p = NULL, *d = NULL;
	cm_err err = {0};
	assert_int_equal(k8s_cluster_taskmanager_pod(&s, "wc-1-taskmanager-1-1", NULL, &p, &err),
			 0);
	assert_int_equal(k8s_cluster_deployment(&s, "/opt/flinc/usrlib/x.so", NULL, 0, &d, &err),
			 0);
	const cJSON *specs[] = {at(p, "spec"), at(d, "spec.template.spec")};
	for (int i = 0; i < 2; i++) {
		assert_str_at(specs[i], "volumes.2.name", "flinc-host-path-volume");
		assert_str_at(specs[i], "volumes.2.hostPath.path", "/var/tmp/flinc-ha");
		assert_str_at(specs[i], "containers.0.volumeMounts.2.name",
			      "flinc-host-path-volume");
		assert_str_at(specs[i], "containers.0.volumeMounts.2.mountPath", "/data");
	}
	cJSON_Delete(p);
	cJSON_Delete(d);
	/* The HA keys reach the cluster's processes. */
	cfg *c = conf_of(kv);
	char *yaml = NULL;
	assert_int_equal(k8s_cluster_flinc_yaml(&s, c, &yaml, &err), 0);
	assert_non_null(strstr(yaml, "high-availability.storageDir"));
	assert_non_null(strstr(yaml, "high-availability.type"));
	free(yaml);
	cfg_free(c);

	const char *bad[][2] = {
	    {"kubernetes.volume.host-path=/var/tmp", "HOST_DIR:MOUNT_PATH"},
	    {"kubernetes.volume.host-path=tmp:/data", "HOST_DIR:MOUNT_PATH"},
	    {"kubernetes.volume.host-path=/a:/b:/c", "HOST_DIR:MOUNT_PATH"},
	    {"kubernetes.volume.host-path=/a:/", "HOST_DIR:MOUNT_PATH"},
	    {"high-availability.type=kubernetes", "high-availability.storageDir"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *kb[] = {"kubernetes.cluster-id=wc-1", "kubernetes.container.image=x",
				    bad[i][0], NULL};
		c = conf_of(kb);
		err = (cm_err){0};
		assert_int_equal(k8s_cluster_spec_from_config(&s, c, true, &err), FL_EINVAL);
		if (!strstr(err.msg, bad[i][1]))
			fail_msg("%s: %s", bad[i][0], err.msg);
		cfg_free(c);
	}
}

static void test_configmap_round_trips_the_configuration(void **state)
{
	(void)state;
	const char *kv[] = {"kubernetes.cluster-id=wc-1",
			    "kubernetes.container.image=x",
			    "kubernetes.namespace=jobs",
			    "kubernetes.context=laptop",
			    "parallelism.default=3",
			    "security.internal.token=s3cret",
			    "state.checkpoints.dir=/data/\"quoted\" \\ dir",
			    "jobmanager.rpc.address=somewhere-else",
			    NULL};
	cfg *c = conf_of(kv);
	k8s_cluster_spec s;
	cm_err err = {0};
	assert_int_equal(k8s_cluster_spec_from_config(&s, c, true, &err), 0);
	char *yaml = NULL;
	assert_int_equal(k8s_cluster_flinc_yaml(&s, c, &yaml, &err), 0);
	/* No secret in a ConfigMap. */
	assert_null(strstr(yaml, "s3cret"));
	cJSON *cm = NULL;
	assert_int_equal(k8s_cluster_configmap(&s, yaml, &cm, &err), 0);
	assert_str_at(cm, "metadata.name", "flinc-config-wc-1");
	assert_labels(at(cm, "metadata.labels"), "jobmanager");
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(at(cm, "data"), "flinc.yaml");
	assert_true(cJSON_IsString(data));
	assert_string_equal(data->valuestring, yaml);
	cJSON_Delete(cm);

	cfg *back = NULL;
	assert_int_equal(cfg_new(&back), 0);
	if (cfg_load_string(back, yaml, strlen(yaml), "flinc.yaml", &err) != 0)
		fail_msg("%s\n%s", err.msg, yaml);
	const char *v = NULL;
	int64_t n = 0;
	assert_int_equal(cfg_get_int(back, "parallelism.default", &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(cfg_get_string(back, "state.checkpoints.dir", &v), 0);
	assert_string_equal(v, "/data/\"quoted\" \\ dir");
	assert_int_equal(cfg_get_string(back, CFG_CLUSTER_ID, &v), 0);
	assert_string_equal(v, "wc-1");
	/* TaskManagers reach the JobManager through the internal Service. */
	assert_int_equal(cfg_get_string(back, CFG_JM_RPC_ADDRESS, &v), 0);
	assert_string_equal(v, "wc-1.jobs");
	assert_int_equal(cfg_get_string(back, CFG_TOKEN_FILE, &v), 0);
	assert_string_equal(v, K8S_SECRET_DIR "/token");
	assert_false(cfg_is_set(back, CFG_TOKEN));
	assert_false(cfg_is_set(back, CFG_K8S_CONTEXT));
	cfg_free(back);
	free(yaml);

	cJSON *sec = NULL;
	assert_int_equal(k8s_cluster_secret(&s, "s3cret", &sec, &err), 0);
	assert_str_at(sec, "metadata.name", "flinc-token-wc-1");
	assert_str_at(sec, "stringData.token", "s3cret");
	cJSON_Delete(sec);
	cfg_free(c);
}

static void test_quantities(void **state)
{
	(void)state;
	char b[24];
	k8s_cpu_quantity(1000, b, sizeof(b));
	assert_string_equal(b, "1");
	k8s_cpu_quantity(1500, b, sizeof(b));
	assert_string_equal(b, "1500m");
	k8s_memory_quantity(1600ll << 20, b, sizeof(b));
	assert_string_equal(b, "1600Mi");
	k8s_memory_quantity((1ll << 20) + 1, b, sizeof(b));
	assert_string_equal(b, "1048577");
}

static int parse(cl_k8s_args *a, cm_err *err, ...)
{
	static char *argv[32];
	va_list ap;
	va_start(ap, err);
	int argc = 0;
	argv[argc++] = "flinc";
	for (char *s; (s = va_arg(ap, char *)) != NULL && argc < 31;)
		argv[argc++] = s;
	va_end(ap);
	argv[argc] = NULL;
	cm_err_clear(err);
	return cl_k8s_args_parse(a, argc, argv, err);
}

static void test_arguments(void **state)
{
	(void)state;
	cl_k8s_args a;
	cm_err err = {0};
	assert_int_equal(parse(&a, &err, "run-application", "--target", "kubernetes-application",
			       "-D", "kubernetes.cluster-id=x", "-Dkubernetes.container.image=i",
			       "local:///opt/flinc/usrlib/wc.so", "--input", "/x", NULL),
			 0);
	assert_false(a.session);
	assert_int_equal(a.ndyn, 2);
	assert_string_equal(a.dyn[1], "kubernetes.container.image=i");
	assert_string_equal(a.job, "local:///opt/flinc/usrlib/wc.so");
	assert_int_equal(a.job_argc, 2);
	assert_string_equal(a.job_argv[0], "--input");
	cl_k8s_args_fini(&a);

	assert_int_equal(parse(&a, &err, "kubernetes-session", "-D", "a=b", NULL), 0);
	assert_true(a.session);
	cl_k8s_args_fini(&a);

	struct {
		const char *argv[6];
		const char *says;
	} bad[] = {
	    {{"run-application", "local:///a.so"}, "needs --target kubernetes-application"},
	    {{"run-application", "-t", "yarn-application", "local:///a.so"}, "unknown --target"},
	    {{"run-application", "-t", "kubernetes-application"}, "needs the job"},
	    {{"run-application", "-t", "kubernetes-application", "/opt/a.so"}, "local:// URI"},
	    {{"run-application", "-t", "kubernetes-application", "s3://b/a.so"}, "not s3://"},
	    {{"run-application", "-t", "kubernetes-application", "local://a.so"}, "absolute path"},
	    {{"run-application", "-t", "kubernetes-application", "local:///a/../b.so"}, "'..'"},
	    {{"run-application", "-D", "nokey", "local:///a.so"}, "-D needs key=value"},
	    {{"run-application", "--bogus"}, "unknown option '--bogus'"},
	    {{"run-application", "-t"}, "-t needs a value"},
	    {{"kubernetes-session", "local:///a.so"}, "takes no job"},
	    {{"kubernetes-session", "--target", "x"}, "takes no --target"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[8] = {"flinc"};
		int argc = 1;
		for (int j = 0; j < 6 && bad[i].argv[j]; j++)
			argv[argc++] = (char *)bad[i].argv[j];
		cm_err_clear(&err);
		int rc = cl_k8s_args_parse(&a, argc, argv, &err);
		cl_k8s_args_fini(&a);
		if (rc != FL_EINVAL || !strstr(err.msg, bad[i].says))
			fail_msg("case %zu: rc %d, '%s' does not say '%s'", i, rc, err.msg,
				 bad[i].says);
	}
	char path[64];
	assert_int_equal(
	    cl_k8s_job_path("local:///opt/flinc/usrlib/x.so", path, sizeof(path), &err), 0);
	assert_string_equal(path, "/opt/flinc/usrlib/x.so");
	assert_true(cl_k8s_is_command("run-application"));
	assert_false(cl_k8s_is_command("run"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cluster_id_dns1035),
	    cmocka_unit_test(test_spec_refuses_missing_and_bad_keys),
	    cmocka_unit_test(test_deployment_of_an_application),
	    cmocka_unit_test(test_services_and_owner),
	    cmocka_unit_test(test_taskmanager_pod),
	    cmocka_unit_test(test_host_path_volume_and_ha_keys),
	    cmocka_unit_test(test_configmap_round_trips_the_configuration),
	    cmocka_unit_test(test_quantities),
	    cmocka_unit_test(test_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
