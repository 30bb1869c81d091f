/*
 * podtemplate.c — pod templates and the pod options of the configuration:
 * see podtemplate.h.
 */
#include "k8s/podtemplate.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#define YAML_DEPTH_MAX 64
#define YAML_NODES_MAX 100000
/* Integers a double holds exactly. */
#define EXACT_MAX 9007199254740992.0

/* ---------------------------------------------------------- YAML to JSON */

struct conv {
	yaml_document_t *doc;
	const char *what;
	size_t nodes;
	cm_err *err;
};

static bool all_in(const char *s, const char *set)
{
	return *s && strspn(s, set) == strlen(s);
}

/* Kubernetes reads YAML as YAML 1.1 (go-yaml v2): a plain scalar may be
 * null, a boolean, an integer (decimal, 0x hex, 0-prefixed octal) or a
 * float. Returns NULL on allocation failure, *bad set for an integer that
 * a double cannot hold. */
static cJSON *plain_scalar(const char *s, bool *bad)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	static const char *const trues[] = {"true", "True", "TRUE", "yes", "Yes",
					    "YES",  "on",   "On",   "ON",  NULL};
	static const char *const falses[] = {"false", "False", "FALSE", "no",  "No",
					     "NO",    "off",   "Off",	"OFF", NULL};
	for (size_t i = 0; nulls[i]; i++)
		if (strcmp(s, nulls[i]) == 0)
			return cJSON_CreateNull();
	for (size_t i = 0; trues[i]; i++)
		if (strcmp(s, trues[i]) == 0)
			return cJSON_CreateTrue();
	for (size_t i = 0; falses[i]; i++)
		if (strcmp(s, falses[i]) == 0)
			return cJSON_CreateFalse();
	const char *d = s + (*s == '-' || *s == '+');
	int base = 0;
	if (d[0] == '0' && (d[1] == 'x' || d[1] == 'X') && all_in(d + 2, "0123456789abcdefABCDEF"))
		base = 16;
	else if (d[0] == '0' && d[1] && all_in(d + 1, "01234567"))
		base = 8;
	else if (all_in(d, "0123456789"))
		base = 10;
	if (base) {
		errno = 0;
		double v = (double)strtoull(base == 16 ? d + 2 : d, NULL, base);
		if (errno == ERANGE || v > EXACT_MAX) {
			*bad = true;
			return NULL;
		}
		return cJSON_CreateNumber(*s == '-' ? -v : v);
	}
	/* A float: digits with a point or an exponent, no inf or nan (JSON
	 * has none: such a scalar stays a string). */
	if (all_in(d, "0123456789.eE+-") && strpbrk(d, "0123456789")) {
		char *end = NULL;
		double v = strtod(s, &end);
		if (end && *end == '\0' && isfinite(v))
			return cJSON_CreateNumber(v);
	}
	return cJSON_CreateString(s);
}

static cJSON *convert(struct conv *cv, yaml_node_t *n, int depth)
{
	if (!n)
		return NULL;
	unsigned long line = (unsigned long)n->start_mark.line + 1;
	unsigned long col = (unsigned long)n->start_mark.column + 1;
	if (depth > YAML_DEPTH_MAX) {
		cm_err_set(cv->err, FL_EINVAL, "%s: line %lu column %lu: nested deeper than %d",
			   cv->what, line, col, YAML_DEPTH_MAX);
		return NULL;
	}
	if (++cv->nodes > YAML_NODES_MAX) {
		cm_err_set(cv->err, FL_EINVAL,
			   "%s: more than %d values (aliases expanding too far?) at line %lu",
			   cv->what, YAML_NODES_MAX, line);
		return NULL;
	}
	if (n->type == YAML_SCALAR_NODE) {
		const char *s = (const char *)n->data.scalar.value;
		if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
			cJSON *x = cJSON_CreateString(s);
			if (!x)
				cm_err_set(cv->err, FL_ENOMEM, "out of memory");
			return x;
		}
		bool bad = false;
		cJSON *x = plain_scalar(s, &bad);
		if (bad)
			cm_err_set(cv->err, FL_EINVAL,
				   "%s: line %lu column %lu: the integer %.40s is too large (above "
				   "2^53); quote it to make it a string",
				   cv->what, line, col, s);
		else if (!x)
			cm_err_set(cv->err, FL_ENOMEM, "out of memory");
		return x;
	}
	if (n->type == YAML_SEQUENCE_NODE) {
		cJSON *a = cJSON_CreateArray();
		if (!a) {
			cm_err_set(cv->err, FL_ENOMEM, "out of memory");
			return NULL;
		}
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++) {
			cJSON *x = convert(cv, yaml_document_get_node(cv->doc, *it), depth + 1);
			if (!x || !cJSON_AddItemToArray(a, x)) {
				if (x) {
					cJSON_Delete(x);
					cm_err_set(cv->err, FL_ENOMEM, "out of memory");
				}
				cJSON_Delete(a);
				return NULL;
			}
		}
		return a;
	}
	if (n->type != YAML_MAPPING_NODE) {
		cm_err_set(cv->err, FL_EINVAL, "%s: line %lu column %lu: an empty node", cv->what,
			   line, col);
		return NULL;
	}
	cJSON *o = cJSON_CreateObject();
	if (!o) {
		cm_err_set(cv->err, FL_ENOMEM, "out of memory");
		return NULL;
	}
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(cv->doc, p->key);
		if (!k || k->type != YAML_SCALAR_NODE) {
			cm_err_set(cv->err, FL_EINVAL,
				   "%s: line %lu column %lu: a key that is not a scalar", cv->what,
				   k ? (unsigned long)k->start_mark.line + 1 : line,
				   k ? (unsigned long)k->start_mark.column + 1 : col);
			cJSON_Delete(o);
			return NULL;
		}
		const char *key = (const char *)k->data.scalar.value;
		if (cJSON_GetObjectItemCaseSensitive(o, key)) {
			cm_err_set(cv->err, FL_EINVAL,
				   "%s: line %lu column %lu: the key '%.80s' twice", cv->what,
				   (unsigned long)k->start_mark.line + 1,
				   (unsigned long)k->start_mark.column + 1, key);
			cJSON_Delete(o);
			return NULL;
		}
		cJSON *x = convert(cv, yaml_document_get_node(cv->doc, p->value), depth + 1);
		if (!x || !cJSON_AddItemToObject(o, key, x)) {
			if (x) {
				cJSON_Delete(x);
				cm_err_set(cv->err, FL_ENOMEM, "out of memory");
			}
			cJSON_Delete(o);
			return NULL;
		}
	}
	return o;
}

int k8s_yaml_to_json(const char *text, size_t len, const char *what, cJSON **out, cm_err *err)
{
	*out = NULL;
	if (len > K8S_TEMPLATE_MAX)
		return cm_err_set(err, FL_ERANGE, "%s is %zu bytes, above the %u a template may be",
				  what, len, K8S_TEMPLATE_MAX);
	yaml_parser_t p;
	if (!yaml_parser_initialize(&p))
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	yaml_document_t doc;
	if (!yaml_parser_load(&p, &doc)) {
		int rc = p.error == YAML_MEMORY_ERROR
			     ? cm_err_set(err, FL_ENOMEM, "out of memory")
			     : cm_err_set(err, FL_EINVAL,
					  "%s is not valid YAML: line %lu column %lu: %s", what,
					  (unsigned long)p.problem_mark.line + 1,
					  (unsigned long)p.problem_mark.column + 1,
					  p.problem ? p.problem : "parse error");
		yaml_parser_delete(&p);
		return rc;
	}
	int rc = 0;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root) {
		rc = cm_err_set(err, FL_EINVAL, "%s is empty", what);
	} else {
		yaml_document_t second;
		if (!yaml_parser_load(&p, &second)) {
			rc = cm_err_set(err, FL_EINVAL,
					"%s is not valid YAML: line %lu column %lu: %s", what,
					(unsigned long)p.problem_mark.line + 1,
					(unsigned long)p.problem_mark.column + 1,
					p.problem ? p.problem : "parse error");
		} else {
			if (yaml_document_get_root_node(&second))
				rc = cm_err_set(err, FL_EINVAL,
						"%s holds more than one YAML document", what);
			yaml_document_delete(&second);
		}
	}
	if (!rc) {
		struct conv cv = {.doc = &doc, .what = what, .err = err};
		cJSON *x = convert(&cv, root, 0);
		if (!x)
			rc = err && err->code ? err->code : FL_ENOMEM;
		*out = x;
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	return rc;
}

/* ------------------------------------------------------ is it a pod? */

static const char *const flinc_volumes[] = {"flinc-config-volume", "flinc-token-volume", NULL};

static int check_string_map(const cJSON *m, const char *what, const char *field, cm_err *err)
{
	if (!m)
		return 0;
	if (!cJSON_IsObject(m))
		return cm_err_set(err, FL_EINVAL, "%s: %s is not a map", what, field);
	const cJSON *e;
	cJSON_ArrayForEach(e, m)
	{
		if (!cJSON_IsString(e))
			return cm_err_set(err, FL_EINVAL,
					  "%s: %s.%.80s is not a string (quote it in YAML)", what,
					  field, e->string);
	}
	return 0;
}

/* A list of maps, each with a string name. */
static int check_named_list(const cJSON *l, const char *what, const char *field, cm_err *err)
{
	if (!l)
		return 0;
	if (!cJSON_IsArray(l))
		return cm_err_set(err, FL_EINVAL, "%s: spec.%s is not a list", what, field);
	int i = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, l)
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name");
		if (!cJSON_IsObject(e) || !cJSON_IsString(n) || !n->valuestring[0])
			return cm_err_set(err, FL_EINVAL,
					  "%s: spec.%s[%d] is not a map with a name", what, field,
					  i);
		i++;
	}
	return 0;
}

int k8s_pod_template_check(const cJSON *tpl, const char *what, cm_err *err)
{
	if (!cJSON_IsObject(tpl))
		return cm_err_set(err, FL_EINVAL, "%s is not a Pod: not a map of fields", what);
	const cJSON *f;
	cJSON_ArrayForEach(f, tpl)
	{
		const char *k = f->string;
		if (strcmp(k, "apiVersion") == 0) {
			if (!cJSON_IsString(f) || strcmp(f->valuestring, "v1") != 0)
				return cm_err_set(err, FL_EINVAL,
						  "%s is not a Pod: apiVersion is '%.60s', not v1",
						  what, cJSON_IsString(f) ? f->valuestring : "?");
		} else if (strcmp(k, "kind") == 0) {
			if (!cJSON_IsString(f) || strcmp(f->valuestring, "Pod") != 0)
				return cm_err_set(err, FL_EINVAL,
						  "%s is not a Pod: its kind is '%.60s'", what,
						  cJSON_IsString(f) ? f->valuestring : "?");
		} else if (strcmp(k, "metadata") == 0 || strcmp(k, "spec") == 0) {
			if (!cJSON_IsObject(f))
				return cm_err_set(err, FL_EINVAL, "%s: %s is not a map", what, k);
		} else if (strcmp(k, "status") != 0) {
			return cm_err_set(err, FL_EINVAL,
					  "%s is not a Pod: unknown field '%.80s' (a Pod has "
					  "apiVersion, kind, metadata and spec)",
					  what, k);
		}
	}
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(tpl, "metadata");
	int rc;
	if ((rc = check_string_map(cJSON_GetObjectItemCaseSensitive(md, "labels"), what,
				   "metadata.labels", err)) != 0 ||
	    (rc = check_string_map(cJSON_GetObjectItemCaseSensitive(md, "annotations"), what,
				   "metadata.annotations", err)) != 0)
		return rc;
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(tpl, "spec");
	const cJSON *vols = cJSON_GetObjectItemCaseSensitive(spec, "volumes");
	if ((rc = check_string_map(cJSON_GetObjectItemCaseSensitive(spec, "nodeSelector"), what,
				   "spec.nodeSelector", err)) != 0 ||
	    (rc = check_named_list(cJSON_GetObjectItemCaseSensitive(spec, "containers"), what,
				   "containers", err)) != 0 ||
	    (rc = check_named_list(cJSON_GetObjectItemCaseSensitive(spec, "initContainers"), what,
				   "initContainers", err)) != 0 ||
	    (rc = check_named_list(vols, what, "volumes", err)) != 0)
		return rc;
	const char *lists[] = {"tolerations", "imagePullSecrets", NULL};
	for (size_t i = 0; lists[i]; i++) {
		const cJSON *l = cJSON_GetObjectItemCaseSensitive(spec, lists[i]);
		if (l && !cJSON_IsArray(l))
			return cm_err_set(err, FL_EINVAL, "%s: spec.%s is not a list", what,
					  lists[i]);
	}
	const cJSON *v;
	cJSON_ArrayForEach(v, vols)
	{
		const char *n = cJSON_GetObjectItemCaseSensitive(v, "name")->valuestring;
		for (size_t i = 0; flinc_volumes[i]; i++)
			if (strcmp(n, flinc_volumes[i]) == 0)
				return cm_err_set(err, FL_EINVAL,
						  "%s: spec.volumes has '%s', the name of a volume "
						  "flinc mounts itself: rename it",
						  what, n);
	}
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(spec, "containers"))
	{
		const char *n = cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring;
		if (strcmp(n, K8S_MAIN_CONTAINER) != 0)
			continue;
		const char *lists2[] = {"env", "ports", "volumeMounts", NULL};
		for (size_t i = 0; lists2[i]; i++) {
			const cJSON *l = cJSON_GetObjectItemCaseSensitive(c, lists2[i]);
			if (l && !cJSON_IsArray(l))
				return cm_err_set(err, FL_EINVAL, "%s: %s's %s is not a list", what,
						  K8S_MAIN_CONTAINER, lists2[i]);
		}
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(c, "resources");
		if (r && !cJSON_IsObject(r))
			return cm_err_set(err, FL_EINVAL, "%s: %s's resources is not a map", what,
					  K8S_MAIN_CONTAINER);
	}
	return 0;
}

int k8s_pod_template_load(const char *path, cJSON **out, cm_err *err)
{
	*out = NULL;
	char what[K8S_PATH_MAX + 32];
	snprintf(what, sizeof(what), "pod template %s", path);
	FILE *f = fopen(path, "rb");
	if (!f)
		return cm_err_set(err, errno == ENOENT ? FL_ENOENT : FL_EIO, "cannot read %s: %s",
				  what, strerror(errno));
	char *buf = malloc(K8S_TEMPLATE_MAX + 1);
	if (!buf) {
		fclose(f);
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	}
	size_t n = fread(buf, 1, K8S_TEMPLATE_MAX + 1, f);
	bool bad = ferror(f) != 0;
	fclose(f);
	int rc;
	if (bad)
		rc = cm_err_set(err, FL_EIO, "cannot read %s", what);
	else if (n > K8S_TEMPLATE_MAX)
		rc = cm_err_set(err, FL_ERANGE, "%s is above the %u bytes a template may be", what,
				K8S_TEMPLATE_MAX);
	else if ((rc = k8s_yaml_to_json(buf, n, what, out, err)) == 0 &&
		 (rc = k8s_pod_template_check(*out, what, err)) != 0) {
		cJSON_Delete(*out);
		*out = NULL;
	}
	free(buf);
	return rc;
}

/* -------------------------------------------------------------- merging */

/* The pod's metadata and spec: a Pod's own, a Deployment's spec.template's. */
static int pod_parts(cJSON *obj, cJSON **md, cJSON **spec, cm_err *err)
{
	cJSON *at = obj;
	cJSON *kind = cJSON_GetObjectItemCaseSensitive(obj, "kind");
	if (cJSON_IsString(kind) && strcmp(kind->valuestring, "Deployment") == 0)
		at = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "spec"),
						      "template");
	*md = cJSON_GetObjectItemCaseSensitive(at, "metadata");
	*spec = cJSON_GetObjectItemCaseSensitive(at, "spec");
	if (!cJSON_IsObject(*md) || !cJSON_IsObject(*spec))
		return cm_err_set(err, FL_EINVAL, "the object has no pod metadata and spec");
	return 0;
}

/* dst[key], made an empty object or array when missing; NULL when out of
 * memory or of another type. */
static cJSON *child(cJSON *dst, const char *key, bool array)
{
	cJSON *x = cJSON_GetObjectItemCaseSensitive(dst, key);
	if (x)
		return (array ? cJSON_IsArray(x) : cJSON_IsObject(x)) ? x : NULL;
	return array ? cJSON_AddArrayToObject(dst, key) : cJSON_AddObjectToObject(dst, key);
}

static bool add_copy(cJSON *obj, const char *key, const cJSON *v)
{
	cJSON *x = cJSON_Duplicate(v, true);
	if (x && cJSON_AddItemToObject(obj, key, x))
		return true;
	cJSON_Delete(x);
	return false;
}

static bool insert_copy(cJSON *arr, int at, const cJSON *v)
{
	cJSON *x = cJSON_Duplicate(v, true);
	if (x && cJSON_InsertItemInArray(arr, at, x))
		return true;
	if (x && cJSON_AddItemToArray(arr, x)) /* at == size */
		return true;
	cJSON_Delete(x);
	return false;
}

/* The entries of src dst lacks, copied: dst's win. */
static bool merge_missing(cJSON *dst, const cJSON *src)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, src)
	{
		if (!cJSON_GetObjectItemCaseSensitive(dst, e->string) &&
		    !add_copy(dst, e->string, e))
			return false;
	}
	return true;
}

/* src's items copied before dst's own. */
static bool prepend_all(cJSON *dst, const cJSON *src)
{
	int i = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, src)
	{
		if (!insert_copy(dst, i++, e))
			return false;
	}
	return true;
}

static const char *name_of(const cJSON *o)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "name");
	return cJSON_IsString(n) ? n->valuestring : NULL;
}

static bool has_named(const cJSON *arr, const char *name)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, arr)
	{
		const char *n = name_of(e);
		if (n && name && strcmp(n, name) == 0)
			return true;
	}
	return false;
}

static int merge_main(cJSON *c, const cJSON *t, cm_err *err)
{
	const cJSON *f;
	cJSON_ArrayForEach(f, t)
	{
		const char *k = f->string;
		bool ok = true;
		if (strcmp(k, "name") == 0 || strcmp(k, "image") == 0 ||
		    strcmp(k, "imagePullPolicy") == 0 || strcmp(k, "command") == 0 ||
		    strcmp(k, "args") == 0)
			continue; /* flinc's */
		if (strcmp(k, "env") == 0) {
			cJSON *env = child(c, "env", true);
			int i = 0;
			const cJSON *e;
			cJSON_ArrayForEach(e, f)
			{
				if (!has_named(env, name_of(e)))
					ok = ok && env && insert_copy(env, i++, e);
			}
		} else if (strcmp(k, "ports") == 0) {
			cJSON *ports = child(c, "ports", true);
			int i = 0;
			const cJSON *p;
			cJSON_ArrayForEach(p, f)
			{
				const cJSON *cp =
				    cJSON_GetObjectItemCaseSensitive(p, "containerPort");
				const cJSON *q;
				bool clash = false;
				cJSON_ArrayForEach(q, ports)
				{
					const cJSON *qp =
					    cJSON_GetObjectItemCaseSensitive(q, "containerPort");
					const char *pn = name_of(p), *qn = name_of(q);
					if ((pn && qn && strcmp(pn, qn) == 0) ||
					    (cJSON_IsNumber(cp) && cJSON_IsNumber(qp) &&
					     cp->valuedouble == qp->valuedouble))
						clash = true;
				}
				if (clash)
					return cm_err_set(
					    err, FL_EINVAL,
					    "the pod template's %s has port '%s' (%d), "
					    "which flinc uses itself",
					    K8S_MAIN_CONTAINER, name_of(p) ? name_of(p) : "",
					    cJSON_IsNumber(cp) ? cp->valueint : 0);
				ok = ok && ports && insert_copy(ports, i++, p);
			}
		} else if (strcmp(k, "volumeMounts") == 0) {
			cJSON *m = child(c, "volumeMounts", true);
			ok = m && prepend_all(m, f);
		} else if (strcmp(k, "resources") == 0) {
			cJSON *r = child(c, "resources", false);
			const cJSON *part;
			cJSON_ArrayForEach(part, f)
			{
				cJSON *mine = cJSON_GetObjectItemCaseSensitive(r, part->string);
				if (!mine)
					ok = ok && r && add_copy(r, part->string, part);
				else if (cJSON_IsObject(mine) && cJSON_IsObject(part))
					ok = ok && merge_missing(mine, part);
			}
		} else if (!cJSON_GetObjectItemCaseSensitive(c, k)) {
			ok = add_copy(c, k, f);
		}
		if (!ok)
			return cm_err_set(err, FL_ENOMEM, "out of memory");
	}
	return 0;
}

int k8s_pod_template_apply(cJSON *obj, const cJSON *tpl, bool jobmanager, cm_err *err)
{
	if (!tpl)
		return 0;
	cJSON *md, *spec;
	int rc = pod_parts(obj, &md, &spec, err);
	if (rc)
		return rc;
	cJSON *containers = cJSON_GetObjectItemCaseSensitive(spec, "containers");
	cJSON *main_c = cJSON_GetArrayItem(containers, 0);
	if (!main_c || !name_of(main_c) || strcmp(name_of(main_c), K8S_MAIN_CONTAINER) != 0)
		return cm_err_set(err, FL_EINVAL, "the pod has no %s first", K8S_MAIN_CONTAINER);
	const cJSON *tmd = cJSON_GetObjectItemCaseSensitive(tpl, "metadata");
	const char *maps[] = {"labels", "annotations", NULL};
	for (size_t i = 0; maps[i]; i++) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(tmd, maps[i]);
		if (!m)
			continue;
		cJSON *mine = child(md, maps[i], false);
		if (!mine || !merge_missing(mine, m))
			return cm_err_set(err, FL_ENOMEM, "out of memory");
	}
	const cJSON *f;
	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(tpl, "spec"))
	{
		const char *k = f->string;
		bool ok = true;
		if (strcmp(k, "containers") == 0) {
			const cJSON *c;
			cJSON_ArrayForEach(c, f)
			{
				const char *cn = name_of(c);
				if (cn && strcmp(cn, K8S_MAIN_CONTAINER) == 0) {
					if ((rc = merge_main(main_c, c, err)) != 0)
						return rc;
				} else {
					ok = ok && insert_copy(containers,
							       cJSON_GetArraySize(containers), c);
				}
			}
		} else if (strcmp(k, "volumes") == 0 || strcmp(k, "tolerations") == 0 ||
			   strcmp(k, "imagePullSecrets") == 0) {
			cJSON *l = child(spec, k, true);
			ok = l && prepend_all(l, f);
		} else if (strcmp(k, "nodeSelector") == 0) {
			cJSON *m = child(spec, k, false);
			ok = m && merge_missing(m, f);
		} else if (strcmp(k, "securityContext") == 0 && cJSON_IsObject(f)) {
			/* The template's fields win over flinc's defaults. */
			cJSON *sc = child(spec, k, false);
			const cJSON *e;
			cJSON_ArrayForEach(e, f)
			{
				cJSON_DeleteItemFromObjectCaseSensitive(sc, e->string);
				ok = ok && sc && add_copy(sc, e->string, e);
			}
		} else if (strcmp(k, "serviceAccount") == 0 ||
			   (jobmanager && strcmp(k, "restartPolicy") == 0)) {
			continue; /* serviceAccountName is flinc's; a Deployment's pods restart */
		} else if (!cJSON_GetObjectItemCaseSensitive(spec, k)) {
			ok = add_copy(spec, k, f);
		}
		if (!ok)
			return cm_err_set(err, FL_ENOMEM, "out of memory");
	}
	return 0;
}

/* ------------------------------------------------------ configured options */

/*
 * The next part of *p up to a delim outside quotes (or the end) into out,
 * as Flink's splitter reads "k1:v1,'k:2':v2": ' or " quote anywhere, a
 * doubled quote inside standing for one; keep: the quotes stay in out (an
 * outer split, whose parts are split again). Blanks around a part go.
 * Returns 1 with a part, 0 at the end, FL_EINVAL (*why says why) on an
 * unclosed quote or a part too long.
 */
static int next_part(const char **p, char delim, bool keep, char *out, size_t cap, const char **why)
{
	const char *s = *p;
	if (!s)
		return 0;
	while (*s == ' ')
		s++;
	if (!*s) /* nothing left, or a trailing delimiter */
		return 0;
	size_t n = 0;
	char q = 0;
	for (; *s && (q || *s != delim); s++) {
		char c = *s;
		bool emit = true;
		if (q && c == q && s[1] == q) {
			if (keep && n + 1 < cap)
				out[n++] = c;
			s++;
		} else if (q && c == q) {
			q = 0;
			emit = keep;
		} else if (!q && (c == '\'' || c == '"')) {
			q = c;
			emit = keep;
		}
		if (!emit)
			continue;
		if (n + 1 >= cap) {
			*why = "a part is too long";
			return FL_EINVAL;
		}
		out[n++] = c;
	}
	if (q) {
		*why = "a quote is not closed";
		return FL_EINVAL;
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	*p = *s ? s + 1 : NULL;
	return 1;
}

/* A label value (empty, or at most 63 of [A-Za-z0-9-_.] with alphanumeric
 * ends); with prefix_ok, a key: an optional DNS subdomain prefix and '/',
 * then a non-empty name of the same kind. */
static bool label_ok(const char *s, bool key)
{
	const char *name = s;
	if (key) {
		const char *slash = strchr(s, '/');
		if (slash) {
			size_t pl = (size_t)(slash - s);
			if (pl == 0 || pl > 253)
				return false;
			for (const char *c = s; c < slash; c++)
				if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
				      *c == '-' || *c == '.'))
					return false;
			name = slash + 1;
		}
		if (!*name)
			return false;
	}
	size_t n = strlen(name);
	if (n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && ((c != '-' && c != '_' && c != '.') || i == 0 || i == n - 1))
			return false;
	}
	return true;
}

enum map_kind { MAP_LABELS, MAP_ANNOTATIONS, MAP_SELECTOR };

/* Parses a "k1:v1,k2:v2" value of key into out (NULL: only checks). */
static int parse_map(const char *key, const char *v, enum map_kind kind, cJSON *out, cm_err *err)
{
	char part[K8S_POD_OPTION_MAX], k[K8S_POD_OPTION_MAX], val[K8S_POD_OPTION_MAX];
	const char *p = v, *why = NULL;
	int rc;
	int i = 0;
	while ((rc = next_part(&p, ',', true, part, sizeof(part), &why)) == 1) {
		i++;
		const char *q = part;
		int a = next_part(&q, ':', false, k, sizeof(k), &why);
		/* "k:" is k with an empty value; "k" has none. */
		bool colon = a == 1 && q;
		int b = colon ? next_part(&q, ':', false, val, sizeof(val), &why) : a;
		if (b == 0 && colon) {
			val[0] = '\0';
			b = 1;
		}
		if (a < 0 || b < 0)
			return cm_err_set(err, FL_EINVAL, "%s: entry %d '%.80s': %s", key, i, part,
					  why);
		if (a != 1 || b != 1 || !colon || q || !k[0])
			return cm_err_set(err, FL_EINVAL,
					  "%s: entry %d '%.80s' is not key:value (Flink's format: "
					  "k1:v1,k2:v2; quote a part holding ':' or ',')",
					  key, i, part);
		if (kind != MAP_ANNOTATIONS && (!label_ok(k, true) || !label_ok(val, false)))
			return cm_err_set(
			    err, FL_EINVAL,
			    "%s: '%.80s:%.80s' is not a Kubernetes label (a key of "
			    "[prefix/]name and a value of at most 63 letters, digits, "
			    "'-', '_' or '.', starting and ending alphanumeric)",
			    key, k, val);
		if (kind == MAP_ANNOTATIONS && !label_ok(k, true))
			return cm_err_set(err, FL_EINVAL,
					  "%s: '%.80s' is not a Kubernetes annotation key", key, k);
		if (kind == MAP_LABELS && (strcmp(k, "app") == 0 || strcmp(k, "component") == 0 ||
					   strcmp(k, "type") == 0))
			return cm_err_set(err, FL_EINVAL,
					  "%s: the label '%s' is flinc's own (app, component and "
					  "type name the cluster's objects)",
					  key, k);
		if (out) {
			cJSON_DeleteItemFromObjectCaseSensitive(out, k);
			if (!cJSON_AddStringToObject(out, k, val))
				return cm_err_set(err, FL_ENOMEM, "out of memory");
		}
	}
	if (rc < 0)
		return cm_err_set(err, FL_EINVAL, "%s: %s in '%.80s'", key, why, v);
	return 0;
}

/* Parses "key:k,operator:Equal,value:v,effect:NoSchedule;..." into out
 * (an array; NULL: only checks). */
static int parse_tolerations(const char *key, const char *v, cJSON *out, cm_err *err)
{
	char tol[K8S_POD_OPTION_MAX], part[K8S_POD_OPTION_MAX], k[K8S_POD_OPTION_MAX],
	    val[K8S_POD_OPTION_MAX];
	const char *p = v, *why = NULL;
	int rc, n = 0;
	while ((rc = next_part(&p, ';', true, tol, sizeof(tol), &why)) == 1) {
		n++;
		if (!tol[0])
			continue;
		cJSON *t = out ? cJSON_CreateObject() : NULL;
		if (out && (!t || !cJSON_AddItemToArray(out, t))) {
			cJSON_Delete(t);
			return cm_err_set(err, FL_ENOMEM, "out of memory");
		}
		const char *q = tol;
		int r2;
		bool has_op = false, has_value = false, exists = false;
		while ((r2 = next_part(&q, ',', true, part, sizeof(part), &why)) == 1) {
			const char *s = part;
			int a = next_part(&s, ':', false, k, sizeof(k), &why);
			bool colon = a == 1 && s;
			int b = colon ? next_part(&s, ':', false, val, sizeof(val), &why) : a;
			if (b == 0 && colon) {
				val[0] = '\0';
				b = 1;
			}
			if (a < 0 || b < 0)
				return cm_err_set(err, FL_EINVAL, "%s: toleration %d: %s", key, n,
						  why);
			if (a != 1 || b != 1 || !colon || s)
				return cm_err_set(
				    err, FL_EINVAL,
				    "%s: toleration %d: '%.80s' is not field:value "
				    "(key:k,operator:Equal,value:v,effect:NoSchedule;...)",
				    key, n, part);
			if (strcmp(k, "operator") == 0) {
				if (strcmp(val, "Equal") != 0 && strcmp(val, "Exists") != 0)
					return cm_err_set(err, FL_EINVAL,
							  "%s: toleration %d: operator '%.40s' is "
							  "neither Equal nor Exists",
							  key, n, val);
				has_op = true;
				exists = strcmp(val, "Exists") == 0;
			} else if (strcmp(k, "effect") == 0) {
				if (val[0] && strcmp(val, "NoSchedule") != 0 &&
				    strcmp(val, "PreferNoSchedule") != 0 &&
				    strcmp(val, "NoExecute") != 0)
					return cm_err_set(
					    err, FL_EINVAL,
					    "%s: toleration %d: effect '%.40s' is not "
					    "NoSchedule, PreferNoSchedule or NoExecute",
					    key, n, val);
			} else if (strcmp(k, "value") == 0) {
				has_value = val[0] != '\0';
			} else if (strcmp(k, "tolerationSeconds") == 0) {
				char *end = NULL;
				errno = 0;
				long long secs = strtoll(val, &end, 10);
				if (!val[0] || !end || *end || errno)
					return cm_err_set(err, FL_EINVAL,
							  "%s: toleration %d: tolerationSeconds "
							  "'%.40s' is not a whole number",
							  key, n, val);
				if (t && !cJSON_AddNumberToObject(t, k, (double)secs))
					return cm_err_set(err, FL_ENOMEM, "out of memory");
				continue;
			} else if (strcmp(k, "key") != 0) {
				return cm_err_set(err, FL_EINVAL,
						  "%s: toleration %d: unknown field '%.40s' (key, "
						  "operator, value, effect, tolerationSeconds)",
						  key, n, k);
			}
			if (t && cJSON_GetObjectItemCaseSensitive(t, k))
				return cm_err_set(err, FL_EINVAL, "%s: toleration %d: %s twice",
						  key, n, k);
			if (t && !cJSON_AddStringToObject(t, k, val))
				return cm_err_set(err, FL_ENOMEM, "out of memory");
		}
		if (r2 < 0)
			return cm_err_set(err, FL_EINVAL, "%s: toleration %d: %s", key, n, why);
		if (exists && has_value)
			return cm_err_set(err, FL_EINVAL,
					  "%s: toleration %d: operator Exists takes no value", key,
					  n);
		(void)has_op;
	}
	if (rc < 0)
		return cm_err_set(err, FL_EINVAL, "%s: %s in '%.80s'", key, why, v);
	return 0;
}

static const char *const option_keys[2][K8S_NOPTS] = {
    {CFG_K8S_JM_LABELS, CFG_K8S_JM_ANNOTATIONS, CFG_K8S_JM_NODE_SELECTOR, CFG_K8S_JM_TOLERATIONS},
    {CFG_K8S_TM_LABELS, CFG_K8S_TM_ANNOTATIONS, CFG_K8S_TM_NODE_SELECTOR, CFG_K8S_TM_TOLERATIONS},
};

static int parse_option(int opt, const char *key, const char *v, cJSON *out, cm_err *err)
{
	if (opt == K8S_OPT_TOLERATIONS)
		return parse_tolerations(key, v, out, err);
	return parse_map(key, v,
			 opt == K8S_OPT_LABELS	      ? MAP_LABELS
			 : opt == K8S_OPT_ANNOTATIONS ? MAP_ANNOTATIONS
						      : MAP_SELECTOR,
			 out, err);
}

int k8s_pod_options_from_config(k8s_cluster_spec *s, const cfg *c, cm_err *err)
{
	for (int who = 0; who < 2; who++) {
		for (int o = 0; o < K8S_NOPTS; o++) {
			const char *key = option_keys[who][o], *v = NULL;
			cfg_get_string(c, key, &v);
			v = v ? v : "";
			if (strlen(v) >= K8S_POD_OPTION_MAX)
				return cm_err_set(err, FL_EINVAL, "%s is longer than %d characters",
						  key, K8S_POD_OPTION_MAX - 1);
			int rc = parse_option(o, key, v, NULL, err);
			if (rc)
				return rc;
			memcpy(s->pod_options[who][o], v, strlen(v) + 1);
		}
	}
	const char *def = NULL, *own[2] = {NULL, NULL};
	const char *def_key = CFG_K8S_POD_TEMPLATE;
	cfg_get_string(c, CFG_K8S_POD_TEMPLATE, &def);
	if (!def || !*def) {
		def_key = CFG_K8S_POD_TEMPLATE_OLD;
		cfg_get_string(c, CFG_K8S_POD_TEMPLATE_OLD, &def);
	}
	cfg_get_string(c, CFG_K8S_JM_POD_TEMPLATE, &own[K8S_JM]);
	cfg_get_string(c, CFG_K8S_TM_POD_TEMPLATE, &own[K8S_TM]);
	for (int who = 0; who < 2; who++) {
		const char *path = own[who] && *own[who] ? own[who] : def ? def : "";
		const char *key = own[who] && *own[who] ? (who == K8S_JM ? CFG_K8S_JM_POD_TEMPLATE
									 : CFG_K8S_TM_POD_TEMPLATE)
							: def_key;
		if (strlen(path) >= K8S_PATH_MAX)
			return cm_err_set(err, FL_EINVAL, "%s is longer than %d characters", key,
					  K8S_PATH_MAX - 1);
		memcpy(s->pod_template[who], path, strlen(path) + 1);
	}
	return 0;
}

int k8s_pod_options_apply(cJSON *obj, const k8s_cluster_spec *s, bool jobmanager, cm_err *err)
{
	cJSON *md, *spec;
	int rc = pod_parts(obj, &md, &spec, err);
	if (rc)
		return rc;
	int who = jobmanager ? K8S_JM : K8S_TM;
	static const char *const where[K8S_NOPTS] = {"labels", "annotations", "nodeSelector",
						     "tolerations"};
	for (int o = 0; o < K8S_NOPTS; o++) {
		const char *v = s->pod_options[who][o];
		if (!v[0])
			continue;
		cJSON *into = child(o == K8S_OPT_LABELS || o == K8S_OPT_ANNOTATIONS ? md : spec,
				    where[o], o == K8S_OPT_TOLERATIONS);
		if (!into)
			return cm_err_set(err, FL_ENOMEM, "out of memory");
		/* flinc's own labels stay: a configured label never names them
		 * (k8s_pod_options_from_config refuses app, component, type). */
		if ((rc = parse_option(o, option_keys[who][o], v, into, err)) != 0)
			return rc;
	}
	return 0;
}

int k8s_pod_finish(cJSON *obj, const k8s_cluster_spec *s, bool jobmanager, const cJSON *tpl,
		   cm_err *err)
{
	int rc = k8s_pod_options_apply(obj, s, jobmanager, err);
	return rc ? rc : k8s_pod_template_apply(obj, tpl, jobmanager, err);
}

int k8s_configmap_add_template(cJSON *cm, const cJSON *tpl, cm_err *err)
{
	cJSON *data = cJSON_GetObjectItemCaseSensitive(cm, "data");
	if (!cJSON_IsObject(data))
		return cm_err_set(err, FL_EINVAL, "the ConfigMap has no data");
	char *text = cJSON_Print(tpl);
	if (!text || !cJSON_AddStringToObject(data, K8S_TM_TEMPLATE_FILE, text)) {
		free(text);
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	}
	free(text);
	return 0;
}
