/*
 * fuzz_podtemplate.c — libFuzzer target for pod templates
 * (runtime/k8s/podtemplate.h): YAML a user wrote, or a FlinkApplication's
 * spec.podTemplate the operator passes on.
 *
 * Properties, for any text up to K8S_TEMPLATE_MAX:
 *   - k8s_yaml_to_json never crashes or leaks, and either returns a tree
 *     with no error or no tree with an error message;
 *   - a tree it returns prints as JSON that reads back (cJSON_Parse) equal
 *     to it, and that JSON, being YAML, converts back to an equal tree (the
 *     way the TaskManager template travels through the ConfigMap);
 *   - a tree k8s_pod_template_check accepts merges into a TaskManager pod
 *     and a JobManager Deployment without crashing, and the merged pod
 *     keeps flinc-main-container first with flinc's image and command.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "k8s/cluster.h"
#include "k8s/podtemplate.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static k8s_cluster_spec spec;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	cm_log_set_level(CM_LOG_ERROR);
	cfg *c = NULL;
	cm_err err = {0};
	if (cfg_new(&c) != 0 || cfg_set_dynamic(c, "kubernetes.cluster-id=fz", &err) != 0 ||
	    cfg_set_dynamic(c, "kubernetes.container.image=flinc:fz", &err) != 0 ||
	    cfg_set_dynamic(c, "kubernetes.taskmanager.labels=a:b", &err) != 0 ||
	    k8s_cluster_spec_from_config(&spec, c, true, &err) != 0)
		abort();
	cfg_free(c);
	return 0;
}

static void check_merged(cJSON *obj, const cJSON *tpl, bool jm)
{
	cm_err err = {0};
	if (k8s_pod_finish(obj, &spec, jm, tpl, &err) == 0) {
		cJSON *ps = jm ? cJSON_GetObjectItemCaseSensitive(
				     cJSON_GetObjectItemCaseSensitive(obj, "spec"), "template")
			       : obj;
		cJSON *c = cJSON_GetArrayItem(
		    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ps, "spec"),
						     "containers"),
		    0);
		cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
		cJSON *image = cJSON_GetObjectItemCaseSensitive(c, "image");
		if (!cJSON_IsString(name) || strcmp(name->valuestring, K8S_MAIN_CONTAINER) != 0 ||
		    !cJSON_IsString(image) || strcmp(image->valuestring, "flinc:fz") != 0)
			__builtin_trap();
	} else if (!err.msg[0]) {
		__builtin_trap();
	}
	cJSON_Delete(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > K8S_TEMPLATE_MAX)
		return 0;
	cJSON *t = NULL;
	cm_err err = {0};
	int rc = k8s_yaml_to_json((const char *)data, size, "fuzz", &t, &err);
	if (rc != 0) {
		if (t || !err.msg[0])
			__builtin_trap();
		return 0;
	}
	if (!t)
		__builtin_trap();
	char *json = cJSON_PrintUnformatted(t);
	if (json) {
		cJSON *back = cJSON_Parse(json);
		cJSON *again = NULL;
		cm_err e2 = {0};
		if (!back || !cJSON_Compare(back, t, true))
			__builtin_trap();
		if (k8s_yaml_to_json(json, strlen(json), "json", &again, &e2) == 0 &&
		    !cJSON_Compare(again, t, true))
			__builtin_trap();
		cJSON_Delete(again);
		cJSON_Delete(back);
		free(json);
	}
	cm_err e3 = {0};
	if (k8s_pod_template_check(t, "fuzz", &e3) == 0) {
		cJSON *pod = NULL, *dep = NULL;
		if (k8s_cluster_taskmanager_pod(&spec, "fz-taskmanager-1-1", NULL, &pod, &e3) == 0)
			check_merged(pod, t, false);
		if (k8s_cluster_deployment(&spec, NULL, NULL, 0, &dep, &e3) == 0)
			check_merged(dep, t, true);
	}
	cJSON_Delete(t);
	return 0;
}
