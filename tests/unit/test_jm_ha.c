/*
 * test_jm_ha.c — the pure parts of JobManager high availability
 * (runtime/jobmanager/ha.h): the application's fixed job id (Flink's, from
 * the cluster id), the checkpoint entries of a job's ConfigMap and which is
 * the latest, and the configuration refused before anything is sent. The
 * store itself runs against the real API server in e2e/run-tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jobmanager/ha.h"

static void test_application_job_id_is_flinks(void **s)
{
	(void)s;
	char id[33];
	/* new JobID("hello".hashCode(), 0): 99162322, positive. */
	jm_ha_application_job_id("hello", id);
	assert_string_equal(id, "0000000005e918d20000000000000000");
	/* "Hello World".hashCode() is -862545276: widened with its sign. */
	jm_ha_application_job_id("Hello World", id);
	assert_string_equal(id, "ffffffffcc969a840000000000000000");
	char again[33];
	jm_ha_application_job_id("Hello World", again);
	assert_string_equal(id, again);
	jm_ha_application_job_id("", id);
	assert_string_equal(id, "00000000000000000000000000000000");
}

static void test_checkpoint_keys_sort_and_the_latest_wins(void **s)
{
	(void)s;
	char k[40];
	jm_ha_checkpoint_key(7, k, sizeof(k));
	assert_string_equal(k, "checkpointID-0000000000000000007");
	jm_ha_checkpoint_key(UINT64_MAX, k, sizeof(k));
	assert_string_equal(k, "checkpointID-18446744073709551615");

	cJSON *data = cJSON_Parse("{\"counter\":\"13\","
				  "\"checkpointID-0000000000000000009\":\"/v/chk-9\","
				  "\"checkpointID-0000000000000000012\":\"/v/chk-12\","
				  "\"checkpointID-0000000000000000010\":\"/v/chk-10\","
				  "\"jobGraph-x\":\"/v/job\"}");
	assert_non_null(data);
	uint64_t id = 0;
	const char *dir = NULL;
	assert_int_equal(jm_ha_latest_in(data, &id, &dir), 0);
	assert_int_equal(id, 12);
	assert_string_equal(dir, "/v/chk-12");
	cJSON_Delete(data);
}

static void test_malformed_checkpoint_entries_are_skipped(void **s)
{
	(void)s;
	cJSON *data = cJSON_Parse("{\"checkpointID-99\":\"/short\","
				  "\"checkpointID-00000000000000000x9\":\"/x\","
				  "\"checkpointID-0000000000000000099\":\"\","
				  "\"checkpointID-0000000000000000098\":7,"
				  "\"checkpointID-0000000000000000003\":\"/v/chk-3\"}");
	assert_non_null(data);
	uint64_t id = 0;
	const char *dir = NULL;
	assert_int_equal(jm_ha_latest_in(data, &id, &dir), 0);
	assert_int_equal(id, 3);
	assert_string_equal(dir, "/v/chk-3");
	cJSON_Delete(data);
	data = cJSON_Parse("{\"counter\":\"1\"}");
	assert_int_equal(jm_ha_latest_in(data, &id, &dir), FL_ENOENT);
	cJSON_Delete(data);
	assert_int_equal(jm_ha_latest_in(NULL, &id, &dir), FL_ENOENT);
}

/* The HA ConfigMaps take the owners of the cluster's Deployment (a
 * FlinkApplication's), so that they outlive the Deployment (a last-state
 * upgrade deletes it) and go with the application. */
static void test_maps_are_owned_by_the_deployments_owners(void **s)
{
	(void)s;
	cJSON *dep = cJSON_Parse(
	    "{\"metadata\":{\"name\":\"fd\",\"ownerReferences\":["
	    "{\"apiVersion\":\"flinc.dev/v1alpha1\",\"kind\":\"FlinkApplication\",\"name\":"
	    "\"fd\",\"uid\":\"u-1\",\"controller\":true,\"blockOwnerDeletion\":true},"
	    "{\"kind\":\"NoUid\",\"apiVersion\":\"v1\",\"name\":\"x\"},"
	    "{\"apiVersion\":\"v1\",\"kind\":\"Other\",\"name\":\"o\",\"uid\":7}]}}");
	assert_non_null(dep);
	cJSON *owners = jm_ha_map_owners(dep);
	cJSON_Delete(dep);
	assert_int_equal(cJSON_GetArraySize(owners), 1);
	char *text = cJSON_PrintUnformatted(owners);
	/* Cut to the four fields: blockOwnerDeletion needs a right the
	 * JobManager has not, controller is the Deployment's. */
	assert_string_equal(text, "[{\"apiVersion\":\"flinc.dev/v1alpha1\",\"kind\":"
				  "\"FlinkApplication\",\"name\":\"fd\",\"uid\":\"u-1\"}]");
	free(text);
	/* Added once to a map without them, kept beside others. */
	cJSON *md = cJSON_Parse("{\"name\":\"fd-cluster-config-map\"}");
	assert_true(jm_ha_add_owners(md, owners));
	assert_true(jm_ha_add_owners(md, owners));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(md, "ownerReferences")), 1);
	cJSON_Delete(md);
	md = cJSON_Parse("{\"ownerReferences\":[{\"uid\":\"u-0\"}]}");
	assert_true(jm_ha_add_owners(md, owners));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(md, "ownerReferences")), 2);
	cJSON_Delete(md);
	/* A Deployment owned by nothing (flinc run-application): maps neither. */
	dep = cJSON_Parse("{\"metadata\":{\"name\":\"fd\"}}");
	assert_null(jm_ha_map_owners(dep));
	cJSON_Delete(dep);
	assert_null(jm_ha_map_owners(NULL));
	md = cJSON_Parse("{\"name\":\"m\"}");
	assert_true(jm_ha_add_owners(md, NULL));
	assert_null(cJSON_GetObjectItem(md, "ownerReferences"));
	cJSON_Delete(md);
	cJSON_Delete(owners);
}

static cfg *conf_of(const char *const *kv)
{
	cfg *c = NULL;
	assert_int_equal(cfg_new(&c), 0);
	cm_err err = {0};
	for (; *kv; kv++)
		if (cfg_set_dynamic(c, *kv, &err) != 0)
			fail_msg("%s: %s", *kv, err.msg);
	return c;
}

static void test_configuration_refused_by_name(void **s)
{
	(void)s;
	cfg *c = conf_of((const char *const[]){"high-availability.type=kubernetes",
					       "kubernetes.cluster-id=ha-test", NULL});
	assert_true(jm_ha_wanted(c));
	jm_ha *ha = NULL;
	cm_err err = {0};
	assert_int_equal(jm_ha_start(&ha, c, NULL, NULL, &err), FL_EINVAL);
	assert_null(ha);
	assert_non_null(strstr(err.msg, "high-availability.storageDir"));
	cfg_free(c);

	c = conf_of((const char *const[]){"high-availability.type=KUBERNETES",
					  "kubernetes.cluster-id=ha-test",
					  "high-availability.storageDir=relative/dir", NULL});
	err = (cm_err){0};
	assert_int_equal(jm_ha_start(&ha, c, NULL, NULL, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "not a local absolute path"));
	cfg_free(c);

	c = conf_of((const char *const[]){"high-availability.type=kubernetes",
					  "kubernetes.cluster-id=Not_A_Label",
					  "high-availability.storageDir=/tmp/x", NULL});
	err = (cm_err){0};
	assert_int_equal(jm_ha_start(&ha, c, NULL, NULL, &err), FL_EINVAL);
	cfg_free(c);

	c = conf_of((const char *const[]){"kubernetes.cluster-id=ha-test", NULL});
	assert_false(jm_ha_wanted(c));
	cfg_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_application_job_id_is_flinks),
	    cmocka_unit_test(test_checkpoint_keys_sort_and_the_latest_wins),
	    cmocka_unit_test(test_malformed_checkpoint_entries_are_skipped),
	    cmocka_unit_test(test_configuration_refused_by_name),
	    cmocka_unit_test(test_maps_are_owned_by_the_deployments_owners),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
