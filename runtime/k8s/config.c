/*
 * config.c — kubeconfig (libyaml document API) and in-cluster configuration.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mbedtls/base64.h>
#include <yaml.h>

#include "k8s/config.h"

/* Reads all of path, refusing more than max bytes; the buffer gets a NUL
 * after the data (not counted in *len). */
static int read_capped(const char *path, size_t max, uint8_t **out, size_t *len, cm_err *err)
{
	*out = NULL;
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return cm_err_set(err, errno == ENOENT ? FL_ENOENT : FL_EIO, "%s: %s", path,
				  strerror(errno));
	size_t cap = 4096, n = 0;
	uint8_t *b = malloc(cap);
	if (!b) {
		fclose(f);
		return cm_err_set(err, FL_ENOMEM, "%s: out of memory", path);
	}
	for (;;) {
		if (n + 1 >= cap) {
			if (cap > max + 1) {
				free(b);
				fclose(f);
				return cm_err_set(err, FL_ERANGE, "%s: larger than %zu bytes", path,
						  max);
			}
			uint8_t *nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				fclose(f);
				return cm_err_set(err, FL_ENOMEM, "%s: out of memory", path);
			}
			b = nb;
			cap *= 2;
		}
		size_t got = fread(b + n, 1, cap - 1 - n, f);
		n += got;
		if (n > max) {
			free(b);
			fclose(f);
			return cm_err_set(err, FL_ERANGE, "%s: larger than %zu bytes", path, max);
		}
		if (got == 0) {
			if (ferror(f)) {
				free(b);
				fclose(f);
				return cm_err_set(err, FL_EIO, "%s: read error", path);
			}
			break;
		}
	}
	fclose(f);
	b[n] = 0;
	*out = b;
	*len = n;
	return 0;
}

/* ------------------------------------------------------------- kubeconfig */

typedef struct kc_file {
	char *path;
	char *dir; /* for relative paths: the file's directory */
	yaml_document_t doc;
	bool has_doc;
} kc_file;

static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *m, const char *key)
{
	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);
		if (k && k->type == YAML_SCALAR_NODE &&
		    strcmp((char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

/* A scalar's text, or NULL (absent, not a scalar, or empty). */
static const char *map_str(yaml_document_t *d, yaml_node_t *m, const char *key)
{
	yaml_node_t *v = map_get(d, m, key);
	if (!v || v->type != YAML_SCALAR_NODE || v->data.scalar.length == 0)
		return NULL;
	return (const char *)v->data.scalar.value;
}

/* In the sequence root[list], the entry whose name is name: its inner map
 * (root[list][i][inner]). */
static yaml_node_t *find_named(kc_file *f, const char *list, const char *inner, const char *name)
{
	if (!f->has_doc)
		return NULL;
	yaml_node_t *root = yaml_document_get_root_node(&f->doc);
	yaml_node_t *seq = map_get(&f->doc, root, list);
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return NULL;
	for (yaml_node_item_t *it = seq->data.sequence.items.start;
	     it < seq->data.sequence.items.top; it++) {
		yaml_node_t *e = yaml_document_get_node(&f->doc, *it);
		const char *n = map_str(&f->doc, e, "name");
		if (n && strcmp(n, name) == 0) {
			yaml_node_t *in = map_get(&f->doc, e, inner);
			/* "user: {}" or a bare name with no body is an empty entry. */
			return in ? in : e;
		}
	}
	return NULL;
}

static int load_file(kc_file *f, const char *path, cm_err *err)
{
	memset(f, 0, sizeof(*f));
	uint8_t *text;
	size_t len;
	int rc = read_capped(path, K8S_CONFIG_FILE_MAX, &text, &len, err);
	if (rc)
		return rc;
	f->path = strdup(path);
	const char *slash = strrchr(path, '/');
	f->dir = slash ? strndup(path, (size_t)(slash - path) + 1) : strdup("");
	if (!f->path || !f->dir) {
		free(text);
		return cm_err_set(err, FL_ENOMEM, "%s: out of memory", path);
	}
	yaml_parser_t p;
	if (!yaml_parser_initialize(&p)) {
		free(text);
		return cm_err_set(err, FL_ENOMEM, "%s: out of memory", path);
	}
	yaml_parser_set_input_string(&p, text, len);
	if (!yaml_parser_load(&p, &f->doc)) {
		rc = cm_err_set(err, p.error == YAML_MEMORY_ERROR ? FL_ENOMEM : FL_EPROTO,
				"%s:%zu:%zu: malformed kubeconfig: %s%s%s", path,
				p.problem_mark.line + 1, p.problem_mark.column + 1,
				p.problem ? p.problem : "YAML error", p.context ? " " : "",
				p.context ? p.context : "");
		yaml_parser_delete(&p);
		free(text);
		return rc;
	}
	yaml_parser_delete(&p);
	free(text);
	f->has_doc = true;
	yaml_node_t *root = yaml_document_get_root_node(&f->doc);
	if (root && root->type != YAML_MAPPING_NODE)
		return cm_err_set(err, FL_EPROTO, "%s:%zu:%zu: malformed kubeconfig: not a mapping",
				  path, root->start_mark.line + 1, root->start_mark.column + 1);
	return 0;
}

static void free_file(kc_file *f)
{
	if (f->has_doc)
		yaml_document_delete(&f->doc);
	free(f->path);
	free(f->dir);
	memset(f, 0, sizeof(*f));
}

static int b64_decode(const char *in, uint8_t **out, size_t *out_len, const char *what,
		      const char *file, cm_err *err)
{
	size_t n = strlen(in), need = 0;
	*out = NULL;
	*out_len = 0;
	int r = mbedtls_base64_decode(NULL, 0, &need, (const unsigned char *)in, n);
	if (r == MBEDTLS_ERR_BASE64_INVALID_CHARACTER)
		return cm_err_set(err, FL_EPROTO, "%s: %s is not valid base64", file, what);
	uint8_t *b = malloc(need + 1);
	if (!b)
		return cm_err_set(err, FL_ENOMEM, "%s: out of memory", file);
	if (mbedtls_base64_decode(b, need + 1, out_len, (const unsigned char *)in, n) != 0) {
		free(b);
		return cm_err_set(err, FL_EPROTO, "%s: %s is not valid base64", file, what);
	}
	b[*out_len] = 0;
	*out = b;
	return 0;
}

/* A PEM blob from KEY-data (base64) or KEY (a path, relative to the file). */
static int blob(kc_file *f, yaml_node_t *m, const char *key, uint8_t **out, size_t *len,
		cm_err *err)
{
	char dkey[64];
	snprintf(dkey, sizeof(dkey), "%s-data", key);
	const char *data = map_str(&f->doc, m, dkey);
	if (data)
		return b64_decode(data, out, len, dkey, f->path, err);
	const char *path = map_str(&f->doc, m, key);
	if (!path)
		return 0;
	char full[4096];
	if (snprintf(full, sizeof(full), "%s%s", path[0] == '/' ? "" : f->dir, path) >=
	    (int)sizeof(full))
		return cm_err_set(err, FL_ERANGE, "%s: %s path too long", f->path, key);
	cm_err sub = {0};
	int rc = read_capped(full, K8S_CONFIG_FILE_MAX, out, len, &sub);
	if (rc)
		return cm_err_set(err, rc, "%s: %s: %s", f->path, key, sub.msg);
	return 0;
}

static int dup_str(char **dst, const char *s, cm_err *err)
{
	if (!s)
		return 0;
	*dst = strdup(s);
	return *dst ? 0 : cm_err_set(err, FL_ENOMEM, "out of memory");
}

/* Trailing whitespace off a token read from a file. */
static void rstrip(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = 0;
}

static int resolve(k8s_config *out, kc_file *files, int nfiles, const char *context, cm_err *err)
{
	const char *ctx_name = context;
	if (!ctx_name) {
		for (int i = 0; i < nfiles && !ctx_name; i++)
			if (files[i].has_doc)
				ctx_name = map_str(&files[i].doc,
						   yaml_document_get_root_node(&files[i].doc),
						   "current-context");
		if (!ctx_name)
			return cm_err_set(err, FL_ENOENT,
					  "%s: no current-context set and no context given",
					  files[0].path);
	}
	kc_file *cf = NULL;
	yaml_node_t *ctx = NULL;
	for (int i = 0; i < nfiles && !ctx; i++)
		if ((ctx = find_named(&files[i], "contexts", "context", ctx_name)))
			cf = &files[i];
	if (!ctx)
		return cm_err_set(err, FL_ENOENT, "kubeconfig %s%s: context \"%s\" is not defined",
				  files[0].path,
				  nfiles > 1 ? " (and the other KUBECONFIG files)" : "", ctx_name);
	int rc = dup_str(&out->context, ctx_name, err);
	if (!rc)
		rc = dup_str(&out->namespace, map_str(&cf->doc, ctx, "namespace"), err);
	if (rc)
		return rc;
	const char *cluster_name = map_str(&cf->doc, ctx, "cluster");
	const char *user_name = map_str(&cf->doc, ctx, "user");
	if (!cluster_name)
		return cm_err_set(err, FL_EPROTO, "%s: context \"%s\" names no cluster", cf->path,
				  ctx_name);
	kc_file *kf = NULL;
	yaml_node_t *cl = NULL;
	for (int i = 0; i < nfiles && !cl; i++)
		if ((cl = find_named(&files[i], "clusters", "cluster", cluster_name)))
			kf = &files[i];
	if (!cl)
		return cm_err_set(err, FL_ENOENT,
				  "%s: cluster \"%s\" of context \"%s\" is not defined", cf->path,
				  cluster_name, ctx_name);
	const char *server = map_str(&kf->doc, cl, "server");
	if (!server)
		return cm_err_set(err, FL_EPROTO, "%s: cluster \"%s\" has no server", kf->path,
				  cluster_name);
	if ((rc = dup_str(&out->server, server, err)))
		return rc;
	size_t sl = strlen(out->server);
	while (sl > 0 && out->server[sl - 1] == '/')
		out->server[--sl] = 0;
	const char *insecure = map_str(&kf->doc, cl, "insecure-skip-tls-verify");
	out->insecure = insecure && strcmp(insecure, "true") == 0;
	if ((rc = blob(kf, cl, "certificate-authority", &out->ca, &out->ca_len, err)))
		return rc;
	if (!user_name)
		return 0;
	kc_file *uf = NULL;
	yaml_node_t *us = NULL;
	for (int i = 0; i < nfiles && !us; i++)
		if ((us = find_named(&files[i], "users", "user", user_name)))
			uf = &files[i];
	if (!us)
		return cm_err_set(err, FL_ENOENT,
				  "%s: user \"%s\" of context \"%s\" is not defined", cf->path,
				  user_name, ctx_name);
	if ((rc = blob(uf, us, "client-certificate", &out->cert, &out->cert_len, err)) ||
	    (rc = blob(uf, us, "client-key", &out->key, &out->key_len, err)))
		return rc;
	if ((rc = dup_str(&out->token, map_str(&uf->doc, us, "token"), err)))
		return rc;
	if (!out->token && map_str(&uf->doc, us, "tokenFile")) {
		uint8_t *t;
		size_t tl;
		if ((rc = blob(uf, us, "tokenFile", &t, &tl, err)))
			return rc;
		out->token = (char *)t;
		rstrip(out->token);
	}
	if (!out->token && !out->cert &&
	    (map_get(&uf->doc, us, "exec") || map_get(&uf->doc, us, "auth-provider")))
		return cm_err_set(err, FL_EINVAL,
				  "%s: user \"%s\" gets its credentials from an %s plugin, which "
				  "flinc does not run: give it a token or a client certificate",
				  uf->path, user_name,
				  map_get(&uf->doc, us, "exec") ? "exec" : "auth-provider");
	if (!!out->cert != !!out->key)
		return cm_err_set(err, FL_EPROTO,
				  "%s: user \"%s\" has a client %s but no client %s", uf->path,
				  user_name, out->cert ? "certificate" : "key",
				  out->cert ? "key" : "certificate");
	return 0;
}

int k8s_config_from_kubeconfig(k8s_config *out, const char *paths, const char *context, cm_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!paths || !*paths)
		return cm_err_set(err, FL_EINVAL, "no kubeconfig path given");
	kc_file files[K8S_CONFIG_FILES_MAX];
	int n = 0, rc = 0;
	char *list = strdup(paths), *save = NULL;
	if (!list)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	for (char *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
		if (n == K8S_CONFIG_FILES_MAX) {
			rc = cm_err_set(err, FL_ERANGE, "KUBECONFIG lists more than %d files",
					K8S_CONFIG_FILES_MAX);
			break;
		}
		struct stat st;
		if (stat(p, &st) != 0 && errno == ENOENT)
			continue; /* kubectl skips files that do not exist */
		rc = load_file(&files[n], p, err);
		n++;
		if (rc)
			break;
	}
	if (!rc && n == 0)
		rc = cm_err_set(err, FL_ENOENT, "no kubeconfig file exists among \"%s\"", paths);
	if (!rc)
		rc = resolve(out, files, n, context, err);
	if (!rc && !out->namespace)
		rc = dup_str(&out->namespace, "default", err);
	for (int i = 0; i < n; i++)
		free_file(&files[i]);
	free(list);
	if (rc)
		k8s_config_fini(out);
	return rc;
}

int k8s_config_in_cluster(k8s_config *out, const char *sa_dir, cm_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!sa_dir)
		sa_dir = K8S_SA_DIR;
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	if (!host || !*host)
		return cm_err_set(err, FL_ENOENT,
				  "not in a Kubernetes pod: KUBERNETES_SERVICE_HOST is not set");
	char path[4096], server[512];
	bool v6 = strchr(host, ':') != NULL;
	if (snprintf(server, sizeof(server), "https://%s%s%s:%s", v6 ? "[" : "", host,
		     v6 ? "]" : "", port && *port ? port : "443") >= (int)sizeof(server))
		return cm_err_set(err, FL_ERANGE, "KUBERNETES_SERVICE_HOST too long");
	int rc = dup_str(&out->server, server, err);
	uint8_t *b;
	size_t len;
	snprintf(path, sizeof(path), "%s/token", sa_dir);
	if (!rc && !(rc = read_capped(path, K8S_CONFIG_FILE_MAX, &b, &len, err))) {
		out->token = (char *)b;
		rstrip(out->token);
	}
	snprintf(path, sizeof(path), "%s/ca.crt", sa_dir);
	if (!rc)
		rc = read_capped(path, K8S_CONFIG_FILE_MAX, &out->ca, &out->ca_len, err);
	snprintf(path, sizeof(path), "%s/namespace", sa_dir);
	if (!rc) {
		cm_err sub = {0};
		if (read_capped(path, 4096, &b, &len, &sub) == 0) {
			out->namespace = (char *)b;
			rstrip(out->namespace);
		} else {
			rc = dup_str(&out->namespace, "default", err);
		}
	}
	if (rc)
		k8s_config_fini(out);
	return rc;
}

int k8s_config_load(k8s_config *out, const char *context, cm_err *err)
{
	const char *kc = getenv("KUBECONFIG");
	if (kc && *kc)
		return k8s_config_from_kubeconfig(out, kc, context, err);
	const char *home = getenv("HOME");
	char path[4096];
	struct stat st;
	if (home && snprintf(path, sizeof(path), "%s/.kube/config", home) < (int)sizeof(path) &&
	    stat(path, &st) == 0)
		return k8s_config_from_kubeconfig(out, path, context, err);
	return k8s_config_in_cluster(out, NULL, err);
}

void k8s_config_fini(k8s_config *c)
{
	free(c->server);
	free(c->namespace);
	free(c->context);
	free(c->token);
	free(c->ca);
	free(c->cert);
	free(c->key);
	memset(c, 0, sizeof(*c));
}
