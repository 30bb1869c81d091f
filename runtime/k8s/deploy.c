/*
 * deploy.c — creating a flinc cluster on Kubernetes: see deploy.h.
 */
#include "k8s/deploy.h"

#include <stdio.h>
#include <string.h>

#include "common/auth.h"
#include "k8s/podtemplate.h"

/* Creates obj, owned by the Deployment with uid when uid is not NULL. */
static int create(k8s_client *kc, const k8s_resource *r, const k8s_cluster_spec *s, cJSON *obj,
		  const char *uid, cJSON **out, k8s_err *err)
{
	if (uid) {
		cm_err e = {0};
		int rc = k8s_cluster_set_owner(obj, s, uid, &e);
		if (rc) {
			err->e = e;
			return rc;
		}
	}
	return k8s_create(kc, r, s->ns, obj, out, err);
}

static int add_owner(cJSON *dep, const cJSON *owner)
{
	cJSON *md = cJSON_GetObjectItemCaseSensitive(dep, "metadata");
	cJSON *refs = cJSON_GetObjectItemCaseSensitive(md, "ownerReferences");
	if (!refs && !(refs = cJSON_AddArrayToObject(md, "ownerReferences")))
		return FL_ENOMEM;
	cJSON *copy = cJSON_Duplicate(owner, true);
	if (!copy || !cJSON_AddItemToArray(refs, copy)) {
		cJSON_Delete(copy);
		return FL_ENOMEM;
	}
	return 0;
}

int k8s_cluster_create(k8s_client *kc, const k8s_cluster_spec *s, const k8s_cluster_create_opts *o,
		       cJSON **deployment, cJSON **rest_service, k8s_err *err)
{
	cm_err ce = {0};
	cJSON *obj = NULL, *dep = NULL, *rest = NULL;
	int rc = k8s_cluster_deployment(s, o->application, o->args, o->nargs, &obj, &ce);
	if (!rc)
		rc = k8s_pod_finish(obj, s, true, o->templates[K8S_JM], &ce);
	if (!rc && o->owner && add_owner(obj, o->owner) != 0)
		rc = cm_err_set(&ce, FL_ENOMEM, "out of memory");
	if (rc) {
		cJSON_Delete(obj);
		err->e = ce;
		return rc;
	}
	if (o->dry_run) {
		rc = k8s_create_dry_run(kc, &K8S_DEPLOYMENTS, s->ns, obj, NULL, err);
		cJSON_Delete(obj);
		return rc;
	}
	rc = k8s_create(kc, &K8S_DEPLOYMENTS, s->ns, obj, &dep, err);
	cJSON_Delete(obj);
	if (rc)
		return rc;
	const char *uid = k8s_str(dep, "metadata.uid");
	if (!uid) {
		rc = cm_err_set(&err->e, FL_EPROTO,
				"the API server's Deployment %s has no metadata.uid", s->id);
		goto undo;
	}
	for (int step = 0; step < 4; step++) {
		obj = NULL;
		const k8s_resource *r = step == 0   ? &K8S_CONFIGMAPS
					: step == 1 ? &K8S_SECRETS
						    : &K8S_SERVICES;
		rc = step == 0	 ? k8s_cluster_configmap(s, o->yaml, &obj, &ce)
		     : step == 1 ? k8s_cluster_secret(s, o->token, &obj, &ce)
				 : k8s_cluster_service(s, step == 3, &obj, &ce);
		if (!rc && step == 0 && o->templates[K8S_TM])
			rc = k8s_configmap_add_template(obj, o->templates[K8S_TM], &ce);
		if (rc)
			err->e = ce;
		else
			rc = create(kc, r, s, obj, uid, step == 3 ? &rest : NULL, err);
		cJSON_Delete(obj);
		if (rc)
			goto undo;
	}
	if (deployment)
		*deployment = dep;
	else
		cJSON_Delete(dep);
	if (rest_service)
		*rest_service = rest;
	else
		cJSON_Delete(rest);
	return 0;
undo:;
	k8s_err de;
	k8s_err_clear(&de);
	k8s_delete_opts d = {.propagation = "Background", .uid = k8s_str(dep, "metadata.uid")};
	char why[sizeof(err->e.msg)];
	snprintf(why, sizeof(why), "%s", err->e.msg);
	if (k8s_delete(kc, &K8S_DEPLOYMENTS, s->ns, s->id, &d, NULL, &de) == 0)
		snprintf(err->e.msg, sizeof(err->e.msg),
			 "%.380s; deleted deployment/%s and what it owns again", why, s->id);
	else
		snprintf(err->e.msg, sizeof(err->e.msg),
			 "%.250s; could not delete deployment/%s again: %.150s", why, s->id,
			 de.e.msg);
	err->e.code = rc;
	cJSON_Delete(dep);
	cJSON_Delete(rest);
	return rc;
}

int k8s_cluster_token(const cfg *c, char *buf, size_t cap)
{
	const char *t = cfg_get_raw(c, CFG_TOKEN);
	if (t && *t) {
		if (strlen(t) >= cap)
			return FL_EINVAL;
		memcpy(buf, t, strlen(t) + 1);
		return 0;
	}
	unsigned char key[32];
	if (cap < 65 || cm_random(key, sizeof(key)) != 0)
		return FL_EIO;
	for (int i = 0; i < 32; i++)
		snprintf(buf + 2 * i, 3, "%02x", key[i]);
	memset(key, 0, sizeof(key));
	return 0;
}
