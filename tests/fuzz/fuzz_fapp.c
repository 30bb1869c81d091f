/*
 * fuzz_fapp.c — libFuzzer target for a FlinkApplication as the API server
 * sends it to flinc-operator (operator/spec.c: op_app_decode and what reads
 * the decoded object): outside input, whatever the CRD's schema says.
 *
 * Properties: no crash, leak or read outside the input; an object that
 * cannot be named is refused with FL_EPROTO, any other either valid or
 * refused naming a field; a valid one has a parallelism >= 1, builds its
 * cluster configuration, and its canonical spec, kept as the last
 * reconciled one, shows no change at all; op_decide, op_lifecycle and
 * op_conditions answer for every observed state.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "operator/decide.h"
#include "operator/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static void decide_all(const op_app *app, const op_diff *d)
{
	/* The savepoint history's cap over whatever status holds. */
	const cJSON *hist = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(app->obj, "status"), "jobStatus"),
		"savepointInfo"),
	    "history");
	bool drop[2 * OP_HISTORY_LIMIT], dispose[2 * OP_HISTORY_LIMIT];
	int left = op_history_trim(app, hist, 1800000000000LL, drop, dispose);
	int n = cJSON_IsArray(hist) ? cJSON_GetArraySize(hist) : 0;
	CHECK(left >= 0 && left <= n && (n == 0 || left < n));
	for (int i = 0; i < n && i < 2 * OP_HISTORY_LIMIT; i++)
		CHECK(drop[i] || !dispose[i]);
	for (int dep = OP_DEP_MISSING; dep <= OP_DEP_FOREIGN; dep++) {
		static const char *const states[] = {"", "RUNNING", "FINISHED", "FAILED",
						     "RESTARTING"};
		for (size_t s = 0; s < sizeof(states) / sizeof(*states); s++) {
			op_observed o = {.deployment = (op_deployment)dep,
					 .rest_ok = s > 0,
					 .now_ms = 1800000000000LL,
					 .leftovers = (int64_t)(s % 2),
					 .ha_configmaps = (int64_t)(s % 3)};
			strcpy(o.job_state, states[s]);
			op_step st;
			op_decide(app, d, &o, &st);
			CHECK(st.action <= OP_ACT_REMOVE_FINALIZER);
			CHECK(op_periodic_due_in(app, &o) >= -1);
			const char *lc = op_lifecycle(app, &o);
			op_condition c[3];
			op_conditions(app, &o, lc, "", c);
			CHECK(c[0].type && c[1].type && c[2].type);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *obj = cJSON_ParseWithLength((const char *)data, size);
	if (!obj)
		return 0;
	op_app app;
	cm_err err = {0};
	int rc = op_app_decode(&app, obj, &err);
	if (rc) {
		CHECK(rc == FL_EPROTO && err.msg[0]);
		op_app_fini(&app);
		return 0;
	}
	op_diff d = {0};
	if (!app.valid) {
		CHECK(app.invalid.code != 0 && app.invalid.msg[0]);
		decide_all(&app, &d);
		op_app_fini(&app);
		return 0;
	}
	CHECK(op_spec_parallelism(&app.spec) >= 1);
	CHECK(op_spec_taskmanagers(&app.spec) >= 1);
	cfg *c = NULL;
	k8s_cluster_spec ks;
	CHECK(op_spec_cluster(&app, "file:///sp", &c, &ks, &err) == 0);
	cfg_free(c);
	if (op_spec_diff(&app, &d, &err) == 0)
		decide_all(&app, &d);
	char *canon = NULL;
	if (op_spec_canonical(cJSON_GetObjectItemCaseSensitive(app.obj, "spec"), &canon, &err) ==
	    0) {
		snprintf(app.kept.last_spec, sizeof(app.kept.last_spec), "%s", canon);
		free(canon);
		app.kept.has_handled_nonce = app.spec.has_nonce;
		app.kept.handled_nonce = app.spec.savepoint_nonce;
		CHECK(op_spec_diff(&app, &d, &err) == 0);
		CHECK(!d.first && !d.upgrade && !d.rescale && !d.state && !d.nonce);
		decide_all(&app, &d);
	}
	op_app_fini(&app);
	return 0;
}
