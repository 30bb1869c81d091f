/*
 * events.c — events.k8s.io/v1 Events (events.h).
 */
#include "k8s/events.h"

#include <stdio.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <flinc/flinc.h>

#include "common/auth.h"
#include "common/err.h"

/* o[key] = {apiVersion, kind, name, namespace[, uid]}; false when out of
 * memory. */
static bool add_ref(cJSON *o, const char *key, const k8s_object_ref *r)
{
	cJSON *x = cJSON_AddObjectToObject(o, key);
	return x && cJSON_AddStringToObject(x, "apiVersion", r->api_version) &&
	       cJSON_AddStringToObject(x, "kind", r->kind) &&
	       cJSON_AddStringToObject(x, "name", r->name) &&
	       cJSON_AddStringToObject(x, "namespace", r->ns) &&
	       (!r->uid || cJSON_AddStringToObject(x, "uid", r->uid));
}

int k8s_event_create(k8s_client *kc, const char *ns, const k8s_event *ev, k8s_err *e)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[64], name[320];
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
	unsigned char rnd[4] = {0};
	(void)cm_random(rnd, sizeof(rnd)); /* the time alone is nearly unique */
	snprintf(name, sizeof(name), "%.253s.%llx%02x%02x%02x%02x", ev->regarding.name,
		 (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000,
		 rnd[0], rnd[1], rnd[2], rnd[3]);
	cJSON *o = cJSON_CreateObject(), *md;
	bool ok = o && cJSON_AddStringToObject(o, "apiVersion", "events.k8s.io/v1") &&
		  cJSON_AddStringToObject(o, "kind", "Event") &&
		  (md = cJSON_AddObjectToObject(o, "metadata")) &&
		  cJSON_AddStringToObject(md, "name", name) &&
		  cJSON_AddStringToObject(md, "namespace", ns) &&
		  cJSON_AddStringToObject(o, "eventTime", when) &&
		  cJSON_AddStringToObject(o, "type", ev->warning ? "Warning" : "Normal") &&
		  cJSON_AddStringToObject(o, "reason", ev->reason) &&
		  cJSON_AddStringToObject(o, "action", ev->action ? ev->action : ev->reason) &&
		  cJSON_AddStringToObject(o, "note", ev->note) &&
		  cJSON_AddStringToObject(o, "reportingController", ev->controller) &&
		  cJSON_AddStringToObject(o, "reportingInstance", ev->instance) &&
		  add_ref(o, "regarding", &ev->regarding) &&
		  (!ev->related || add_ref(o, "related", ev->related));
	int rc = ok ? k8s_create(kc, &K8S_EVENTS, ns, o, NULL, e)
		    : cm_err_set(&e->e, FL_ENOMEM, "out of memory for an event");
	cJSON_Delete(o);
	return rc;
}
