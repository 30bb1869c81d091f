/*
 * test_k8s_podtemplate.c — pod templates and pod options
 * (runtime/k8s/podtemplate.h): YAML read with Kubernetes' scalar types, a
 * template that is no YAML or no Pod refused naming the file and the field,
 * the merge of flinc-main-container and of the pod spec as Flink's, the
 * labels, annotations, node selectors and tolerations of the configuration
 * and their errors, and the TaskManager template's way into the ConfigMap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "k8s/cluster.h"
#include "k8s/podtemplate.h"
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

/* The spec of kv, or the error it gets (returned, err filled). */
static int spec_rc(k8s_cluster_spec *s, const char *const *kv, cm_err *err)
{
	cfg *c = conf_of(kv);
	int rc = k8s_cluster_spec_from_config(s, c, true, err);
	cfg_free(c);
	return rc;
}

static void assert_has(const char *msg, const char *want)
{
	if (!strstr(msg, want))
		fail_msg("'%s' does not say '%s'", msg, want);
}

static cJSON *yaml(const char *text)
{
	cJSON *o = NULL;
	cm_err err = {0};
	if (k8s_yaml_to_json(text, strlen(text), "t.yaml", &o, &err) != 0)
		fail_msg("%s", err.msg);
	return o;
}

static void yaml_fails(const char *text, const char *want)
{
	cJSON *o = NULL;
	cm_err err = {0};
	assert_int_not_equal(k8s_yaml_to_json(text, strlen(text), "t.yaml", &o, &err), 0);
	assert_null(o);
	assert_has(err.msg, "t.yaml");
	assert_has(err.msg, want);
}

static void test_yaml_scalars_take_kubernetes_types(void **state)
{
	(void)state;
	cJSON *o = yaml("a: 9999\nb: \"9999\"\nc: 0644\nd: 0x1f\ne: 1.5\nf: true\ng: yes\n"
			"h: ~\ni: 'on'\nj: -3\nk: 1e3\nl: .inf\nm: |\n  two\n  lines\n"
			"n: [x, 2, {p: q}]\n");
	assert_num_at(o, "a", 9999);
	assert_str_at(o, "b", "9999");
	assert_num_at(o, "c", 420);
	assert_num_at(o, "d", 31);
	assert_num_at(o, "e", 1.5);
	assert_true(cJSON_IsTrue(at(o, "f")));
	assert_true(cJSON_IsTrue(at(o, "g")));
	assert_true(cJSON_IsNull(at(o, "h")));
	assert_str_at(o, "i", "on");
	assert_num_at(o, "j", -3);
	assert_num_at(o, "k", 1000);
	assert_str_at(o, "l", ".inf");
	assert_str_at(o, "m", "two\nlines\n");
	assert_str_at(o, "n.0", "x");
	assert_num_at(o, "n.1", 2);
	assert_str_at(o, "n.2.p", "q");
	cJSON_Delete(o);
	/* Aliases are followed. */
	o = yaml("base: &b {x: 1}\nuse: *b\n");
	assert_num_at(o, "use.x", 1);
	cJSON_Delete(o);
}

static void test_yaml_refusals_say_where(void **state)
{
	(void)state;
	yaml_fails("a: [1, 2\n", "is not valid YAML: line");
	yaml_fails("a: 1\na: 2\n", "line 2 column 1: the key 'a' twice");
	yaml_fails("? [x]\n: 1\n", "a key that is not a scalar");
	yaml_fails("a: 1\n---\nb: 2\n", "more than one YAML document");
	yaml_fails("", "is empty");
	yaml_fails("a: 123456789012345678901234\n", "too large");
	/* A billion laughs stops at the node cap. */
	yaml_fails("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
		   "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		   "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		   "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
		   "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
		   "more than 100000 values");
	/* Nesting beyond the cap. */
	char deep[400] = "";
	for (int i = 0; i < 70; i++)
		strcat(deep, "[");
	for (int i = 0; i < 70; i++)
		strcat(deep, "]");
	yaml_fails(deep, "nested deeper than 64");
}

static void check_fails(const char *text, const char *want)
{
	cJSON *o = yaml(text);
	cm_err err = {0};
	assert_int_equal(k8s_pod_template_check(o, "pod template t.yaml", &err), FL_EINVAL);
	assert_has(err.msg, "pod template t.yaml");
	assert_has(err.msg, want);
	cJSON_Delete(o);
}

static void test_a_template_that_is_no_pod_is_refused(void **state)
{
	(void)state;
	check_fails("apiVersion: apps/v1\nkind: Deployment\nspec: {}\n", "apiVersion is 'apps/v1'");
	check_fails("apiVersion: v1\nkind: ConfigMap\ndata: {}\n", "its kind is 'ConfigMap'");
	check_fails("data: {a: b}\n", "unknown field 'data'");
	check_fails("- a\n- b\n", "not a map of fields");
	check_fails("spec: {containers: {name: x}}\n", "spec.containers is not a list");
	check_fails("spec: {containers: [{image: x}]}\n",
		    "spec.containers[0] is not a map with a name");
	check_fails("spec:\n  volumes: [{name: flinc-config-volume, emptyDir: {}}]\n",
		    "flinc mounts itself");
	check_fails("metadata: {labels: {a: 1}}\n", "metadata.labels.a is not a string");
	check_fails("spec: {containers: [{name: flinc-main-container, env: {A: b}}]}\n",
		    "env is not a list");
	/* A Pod without apiVersion or kind is one. */
	cJSON *o = yaml("spec: {containers: [{name: side, image: busybox}]}\n");
	cm_err err = {0};
	assert_int_equal(k8s_pod_template_check(o, "t", &err), 0);
	cJSON_Delete(o);
}

static void test_load_names_the_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/podtplXXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[300];
	snprintf(path, sizeof(path), "%s/tm.yaml", dir);
	cJSON *o = NULL;
	cm_err err = {0};
	assert_int_equal(k8s_pod_template_load(path, &o, &err), FL_ENOENT);
	assert_has(err.msg, path);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	err = (cm_err){0};
	fputs("kind: Pod\nspec:\n  containers:\n  - name: x\n   image: y\n", f);
	fclose(f);
	assert_int_equal(k8s_pod_template_load(path, &o, &err), FL_EINVAL);
	assert_has(err.msg, "pod template");
	assert_has(err.msg, path);
	assert_has(err.msg, "is not valid YAML: line 5");
	err = (cm_err){0};
	f = fopen(path, "w");
	fputs("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: x\n    image: y\n", f);
	fclose(f);
	assert_int_equal(k8s_pod_template_load(path, &o, &err), 0);
	assert_str_at(o, "spec.containers.0.image", "y");
	cJSON_Delete(o);
	unlink(path);
	rmdir(dir);
}

static const char *const basic[] = {
    "kubernetes.cluster-id=wc-1",
    "kubernetes.container.image=flinc:0.1.0",
    "kubernetes.taskmanager.cpu=0.2",
    "taskmanager.memory.process.size=512m",
    "kubernetes.taskmanager.labels=team:data,tier:batch",
    "kubernetes.taskmanager.node-selector=disk:ssd",
    "kubernetes.taskmanager.annotations=note:'a:b,c'",
    "kubernetes.taskmanager.tolerations=key:k1,operator:Equal,value:v1,"
    "effect:NoSchedule;operator:Exists,tolerationSeconds:30",
    "kubernetes.jobmanager.labels=role:jm",
    NULL};

static const char *const tm_template =
    "apiVersion: v1\n"
    "kind: Pod\n"
    "metadata:\n"
    "  name: ignored\n"
    "  labels: {app: other, team: ops, extra: 'yes'}\n"
    "  annotations: {from-template: x}\n"
    "spec:\n"
    "  serviceAccount: other\n"
    "  restartPolicy: Always\n"
    "  priorityClassName: high\n"
    "  securityContext: {fsGroup: 2000}\n"
    "  nodeSelector: {disk: hdd, zone: a}\n"
    "  tolerations: [{key: t0, operator: Exists}]\n"
    "  initContainers:\n"
    "  - {name: init, image: busybox, command: [sh, -c, 'true']}\n"
    "  volumes:\n"
    "  - {name: data, hostPath: {path: /var/tmp/x, type: DirectoryOrCreate}}\n"
    "  containers:\n"
    "  - name: sidecar\n"
    "    image: busybox\n"
    "  - name: flinc-main-container\n"
    "    image: wrong:tag\n"
    "    command: [wrong]\n"
    "    args: [wrong]\n"
    "    env:\n"
    "    - {name: FLINC_CONF_DIR, value: /wrong}\n"
    "    - {name: MINE, value: '1'}\n"
    "    ports: [{name: metrics, containerPort: 9249}]\n"
    "    volumeMounts: [{name: data, mountPath: /data}]\n"
    "    resources:\n"
    "      requests: {cpu: '4', memory: 8Gi, ephemeral-storage: 1Gi}\n"
    "      limits: {ephemeral-storage: 2Gi}\n"
    "    workingDir: /data\n";

static void test_taskmanager_pod_merges_template_and_options(void **state)
{
	(void)state;
	k8s_cluster_spec s;
	cm_err err = {0};
	assert_int_equal(spec_rc(&s, basic, &err), 0);
	cJSON *tpl = yaml(tm_template);
	assert_int_equal(k8s_pod_template_check(tpl, "t", &err), 0);
	cJSON *p = NULL;
	assert_int_equal(k8s_cluster_taskmanager_pod(&s, "wc-1-taskmanager-1-1", "uid", &p, &err),
			 0);
	assert_int_equal(k8s_pod_finish(p, &s, false, tpl, &err), 0);
	/* metadata: flinc's name and labels win, the configuration's next. */
	assert_str_at(p, "metadata.name", "wc-1-taskmanager-1-1");
	assert_str_at(p, "metadata.labels.app", "wc-1");
	assert_str_at(p, "metadata.labels.component", "taskmanager");
	assert_str_at(p, "metadata.labels.team", "data");
	assert_str_at(p, "metadata.labels.tier", "batch");
	assert_str_at(p, "metadata.labels.extra", "yes");
	assert_null(at(p, "metadata.labels.role"));
	assert_str_at(p, "metadata.annotations.note", "a:b,c");
	assert_str_at(p, "metadata.annotations.from-template", "x");
	/* spec */
	assert_str_at(p, "spec.restartPolicy", "Never");
	assert_str_at(p, "spec.serviceAccountName", "default");
	assert_null(at(p, "spec.serviceAccount"));
	assert_str_at(p, "spec.priorityClassName", "high");
	assert_num_at(p, "spec.securityContext.fsGroup", 2000);
	assert_num_at(p, "spec.securityContext.runAsUser", 9999);
	assert_str_at(p, "spec.nodeSelector.disk", "ssd");
	assert_str_at(p, "spec.nodeSelector.zone", "a");
	assert_str_at(p, "spec.tolerations.0.key", "t0");
	assert_str_at(p, "spec.tolerations.1.key", "k1");
	assert_str_at(p, "spec.tolerations.1.effect", "NoSchedule");
	assert_str_at(p, "spec.tolerations.2.operator", "Exists");
	assert_num_at(p, "spec.tolerations.2.tolerationSeconds", 30);
	assert_str_at(p, "spec.initContainers.0.name", "init");
	assert_str_at(p, "spec.volumes.0.name", "data");
	assert_str_at(p, "spec.volumes.1.name", "flinc-config-volume");
	/* containers: the main one first, merged; the sidecar after it. */
	assert_int_equal(cJSON_GetArraySize(at(p, "spec.containers")), 2);
	const cJSON *c = at(p, "spec.containers.0");
	assert_str_at(c, "name", "flinc-main-container");
	assert_str_at(c, "image", "flinc:0.1.0");
	assert_str_at(c, "command.0", "flinc-taskmanager");
	assert_str_at(c, "args.3", "taskmanager.cpu.cores=0.2");
	assert_str_at(c, "env.0.name", "MINE");
	assert_str_at(c, "env.1.name", "FLINC_CONF_DIR");
	assert_str_at(c, "env.1.value", "/opt/flinc/conf");
	assert_int_equal(cJSON_GetArraySize(at(c, "env")), 3);
	assert_num_at(c, "ports.0.containerPort", 9249);
	assert_str_at(c, "volumeMounts.0.mountPath", "/data");
	assert_str_at(c, "volumeMounts.1.name", "flinc-config-volume");
	assert_str_at(c, "resources.requests.cpu", "200m");
	assert_str_at(c, "resources.requests.memory", "512Mi");
	assert_str_at(c, "resources.requests.ephemeral-storage", "1Gi");
	assert_str_at(c, "resources.limits.ephemeral-storage", "2Gi");
	assert_str_at(c, "resources.limits.cpu", "200m");
	assert_str_at(c, "workingDir", "/data");
	assert_str_at(p, "spec.containers.1.name", "sidecar");
	assert_str_at(p, "spec.containers.1.image", "busybox");
	cJSON_Delete(p);
	/* Without a template, the options alone. */
	assert_int_equal(k8s_cluster_taskmanager_pod(&s, "n", NULL, &p, &err), 0);
	assert_int_equal(k8s_pod_finish(p, &s, false, NULL, &err), 0);
	assert_str_at(p, "metadata.labels.team", "data");
	assert_str_at(p, "spec.tolerations.0.key", "k1");
	assert_int_equal(cJSON_GetArraySize(at(p, "spec.containers")), 1);
	cJSON_Delete(p);
	cJSON_Delete(tpl);
}

static void test_jobmanager_deployment_merges_its_template(void **state)
{
	(void)state;
	k8s_cluster_spec s;
	cm_err err = {0};
	assert_int_equal(spec_rc(&s, basic, &err), 0);
	cJSON *tpl = yaml(tm_template);
	cJSON *d = NULL;
	assert_int_equal(k8s_cluster_deployment(&s, NULL, NULL, 0, &d, &err), 0);
	assert_int_equal(k8s_pod_finish(d, &s, true, tpl, &err), 0);
	const cJSON *pt = at(d, "spec.template");
	assert_str_at(pt, "metadata.labels.component", "jobmanager");
	assert_str_at(pt, "metadata.labels.role", "jm");
	assert_null(at(pt, "metadata.labels.tier"));
	/* A Deployment's pods restart Always: the template's policy is dropped. */
	assert_null(at(pt, "spec.restartPolicy"));
	assert_str_at(pt, "spec.containers.0.command.0", "flinc-jobmanager");
	assert_str_at(pt, "spec.containers.0.volumeMounts.0.mountPath", "/data");
	assert_str_at(pt, "spec.containers.1.name", "sidecar");
	cJSON_Delete(d);
	/* A template port that flinc uses is refused. */
	cJSON *bad = yaml("spec: {containers: [{name: flinc-main-container, ports: [{name: rest, "
			  "containerPort: 8081}]}]}\n");
	assert_int_equal(k8s_cluster_deployment(&s, NULL, NULL, 0, &d, &err), 0);
	assert_int_equal(k8s_pod_finish(d, &s, true, bad, &err), FL_EINVAL);
	assert_has(err.msg, "port 'rest'");
	cJSON_Delete(d);
	cJSON_Delete(bad);
	cJSON_Delete(tpl);
}

static void option_fails(const char *kv, const char *want)
{
	const char *list[] = {"kubernetes.cluster-id=wc-1", "kubernetes.container.image=x", kv,
			      NULL};
	k8s_cluster_spec s;
	cm_err err = {0};
	assert_int_equal(spec_rc(&s, list, &err), FL_EINVAL);
	char key[128];
	snprintf(key, sizeof(key), "%.*s", (int)(strchr(kv, '=') - kv), kv);
	assert_has(err.msg, key);
	assert_has(err.msg, want);
}

static void test_malformed_options_name_the_key(void **state)
{
	(void)state;
	option_fails("kubernetes.taskmanager.labels=a", "entry 1 'a' is not key:value");
	option_fails("kubernetes.jobmanager.labels=a:b,c:d:e", "entry 2 'c:d:e' is not key:value");
	option_fails("kubernetes.jobmanager.labels=app:x", "the label 'app' is flinc's own");
	option_fails("kubernetes.taskmanager.labels=a:b c", "is not a Kubernetes label");
	option_fails("kubernetes.taskmanager.node-selector=:x", "is not key:value");
	option_fails("kubernetes.jobmanager.annotations=a:'b", "a quote is not closed");
	option_fails("kubernetes.taskmanager.tolerations=key:k,operator:Same",
		     "operator 'Same' is neither Equal nor Exists");
	option_fails("kubernetes.taskmanager.tolerations=key:k;effect:Never",
		     "toleration 2: effect 'Never'");
	option_fails("kubernetes.jobmanager.tolerations=colour:red", "unknown field 'colour'");
	option_fails("kubernetes.jobmanager.tolerations=key:k,tolerationSeconds:soon",
		     "tolerationSeconds 'soon' is not a whole number");
	option_fails("kubernetes.jobmanager.tolerations=operator:Exists,value:v",
		     "operator Exists takes no value");
	option_fails("kubernetes.jobmanager.tolerations=key", "is not field:value");
	/* Quoting: a value holding ',' and ':'; a doubled quote. */
	const char *ok[] = {"kubernetes.cluster-id=wc-1", "kubernetes.container.image=x",
			    "kubernetes.jobmanager.annotations='a/b':'x,y:z''s'", NULL};
	k8s_cluster_spec s;
	cm_err err = {0};
	assert_int_equal(spec_rc(&s, ok, &err), 0);
	cJSON *d = NULL;
	assert_int_equal(k8s_cluster_deployment(&s, NULL, NULL, 0, &d, &err), 0);
	assert_int_equal(k8s_pod_options_apply(d, &s, true, &err), 0);
	assert_str_at(d, "spec.template.metadata.annotations.a/b", "x,y:z's");
	cJSON_Delete(d);
}

static void test_templates_go_to_the_configmap(void **state)
{
	(void)state;
	const char *kv[] = {"kubernetes.cluster-id=wc-1", "kubernetes.container.image=x",
			    "kubernetes.pod-template-file.default=/home/me/pod.yaml",
			    "kubernetes.pod-template-file.jobmanager=/home/me/jm.yaml", NULL};
	k8s_cluster_spec s;
	cm_err err = {0};
	assert_int_equal(spec_rc(&s, kv, &err), 0);
	assert_string_equal(s.pod_template[K8S_JM], "/home/me/jm.yaml");
	assert_string_equal(s.pod_template[K8S_TM], "/home/me/pod.yaml");
	cfg *c = conf_of(kv);
	char *y = NULL;
	assert_int_equal(k8s_cluster_flinc_yaml(&s, c, &y, &err), 0);
	/* The client's paths stay out; the JobManager reads the TaskManagers'
	 * template from its ConfigMap. */
	assert_null(strstr(y, "/home/me"));
	assert_has(y, "\"kubernetes.pod-template-file.taskmanager\": "
		      "\"/opt/flinc/conf/taskmanager-pod-template.yaml\"");
	cfg *back = NULL;
	assert_int_equal(cfg_new(&back), 0);
	assert_int_equal(cfg_load_string(back, y, strlen(y), "flinc.yaml", &err), 0);
	k8s_cluster_spec js;
	assert_int_equal(k8s_cluster_spec_from_config(&js, back, true, &err), 0);
	assert_string_equal(js.pod_template[K8S_TM],
			    "/opt/flinc/conf/taskmanager-pod-template.yaml");
	assert_string_equal(js.pod_template[K8S_JM], "");
	/* Flink's older key for the default template is read, and left out too. */
	const char *old_kv[] = {"kubernetes.cluster-id=wc-1", "kubernetes.container.image=x",
				"kubernetes.pod-template-file=/home/me/old.yaml", NULL};
	k8s_cluster_spec os;
	assert_int_equal(spec_rc(&os, old_kv, &err), 0);
	assert_string_equal(os.pod_template[K8S_JM], "/home/me/old.yaml");
	assert_string_equal(os.pod_template[K8S_TM], "/home/me/old.yaml");
	cfg *oc = conf_of(old_kv);
	char *oy = NULL;
	assert_int_equal(k8s_cluster_flinc_yaml(&os, oc, &oy, &err), 0);
	assert_null(strstr(oy, "/home/me"));
	assert_non_null(strstr(oy, "/opt/flinc/conf/taskmanager-pod-template.yaml"));
	free(oy);
	cfg_free(oc);
	cJSON *cm = NULL, *tpl = yaml(tm_template);
	assert_int_equal(k8s_cluster_configmap(&s, y, &cm, &err), 0);
	assert_int_equal(k8s_configmap_add_template(cm, tpl, &err), 0);
	/* What the ConfigMap holds reads back as the same template. */
	const cJSON *text =
	    cJSON_GetObjectItemCaseSensitive(at(cm, "data"), "taskmanager-pod-template.yaml");
	assert_true(cJSON_IsString(text));
	cJSON *again = yaml(text->valuestring);
	assert_true(cJSON_Compare(again, tpl, true));
	cJSON_Delete(again);
	cJSON_Delete(cm);
	cJSON_Delete(tpl);
	free(y);
	cfg_free(back);
	cfg_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_yaml_scalars_take_kubernetes_types),
	    cmocka_unit_test(test_yaml_refusals_say_where),
	    cmocka_unit_test(test_a_template_that_is_no_pod_is_refused),
	    cmocka_unit_test(test_load_names_the_file),
	    cmocka_unit_test(test_taskmanager_pod_merges_template_and_options),
	    cmocka_unit_test(test_jobmanager_deployment_merges_its_template),
	    cmocka_unit_test(test_malformed_options_name_the_key),
	    cmocka_unit_test(test_templates_go_to_the_configmap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
