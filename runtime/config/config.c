/*
 * config.c — the configuration store: key/value strings in an array sorted by
 * key (a few dozen keys; binary search to read, memmove to insert), values
 * validated against the known-key table when set, typed reads with defaults.
 */
#include "config/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config_internal.h"

struct cfg_entry {
	char *key;
	char *value;
};

struct cfg {
	struct cfg_entry *v; /* sorted by strcmp on key */
	size_t n, cap;
};

int cfg_new(cfg **out)
{
	cfg *c = calloc(1, sizeof(*c));
	if (!c)
		return FL_ENOMEM;
	*out = c;
	return 0;
}

void cfg_free(cfg *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].key);
		free(c->v[i].value);
	}
	free(c->v);
	free(c);
}

int cfg_clone(const cfg *c, cfg **out)
{
	cfg *d = calloc(1, sizeof(*d));
	if (!d)
		return FL_ENOMEM;
	if (c->n > 0) {
		d->v = calloc(c->n, sizeof(*d->v));
		if (!d->v)
			goto nomem;
		d->cap = c->n;
		for (; d->n < c->n; d->n++) {
			struct cfg_entry *e = &d->v[d->n];
			e->key = strdup(c->v[d->n].key);
			e->value = strdup(c->v[d->n].value);
			if (!e->key || !e->value) {
				d->n++; /* so cfg_free releases the half-built entry */
				goto nomem;
			}
		}
	}
	*out = d;
	return 0;
nomem:
	cfg_free(d);
	return FL_ENOMEM;
}

void cfg_swap(cfg *a, cfg *b)
{
	cfg t = *a;
	*a = *b;
	*b = t;
}

/* Index of key, or of where it would be inserted; *found says which. */
static size_t find(const cfg *c, const char *key, bool *found)
{
	size_t lo = 0, hi = c->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(c->v[mid].key, key);
		if (r == 0) {
			*found = true;
			return mid;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

/* Appends " (origin)" / " (origin:line:col)" to a message, or nothing. */
static void fmt_origin(char *buf, size_t cap, const struct cfg_origin *o)
{
	if (!o || !o->name)
		buf[0] = '\0';
	else if (o->line == 0)
		snprintf(buf, cap, " (%s)", o->name);
	else
		snprintf(buf, cap, " (%s:%zu:%zu)", o->name, o->line, o->col);
}

/* At most 80 bytes of a value, for messages; values may be 64 KiB. */
#define VALUE_SHOWN 80

int cfg_set_at(cfg *c, const char *key, const char *value, const struct cfg_origin *o, cm_err *err)
{
	char where[CFG_KEY_MAX + 64];
	fmt_origin(where, sizeof(where), o);

	if (!c || !key || !value)
		return cm_err_set(err, FL_EINVAL, "cfg_set: NULL argument");
	size_t klen = strnlen(key, CFG_KEY_MAX + 1);
	if (klen == 0)
		return cm_err_set(err, FL_EINVAL, "empty configuration key%s", where);
	if (klen > CFG_KEY_MAX)
		return cm_err_set(err, FL_ERANGE,
				  "configuration key '%.64s...'%s is longer than %d bytes", key,
				  where, CFG_KEY_MAX);
	size_t vlen = strnlen(value, CFG_VALUE_MAX + 1);
	if (vlen > CFG_VALUE_MAX)
		return cm_err_set(err, FL_ERANGE, "value for key '%s'%s is longer than %d bytes",
				  key, where, CFG_VALUE_MAX);

	const struct cfg_key *k = cfg_key_find(key);
	if (k) {
		char expect[160];
		if (cfg_key_validate(k, value, expect, sizeof(expect)) != 0) {
			if (cfg_is_sensitive(key)) {
				value = CFG_HIDDEN;
				vlen = 0;
			}
			return cm_err_set(err, FL_EINVAL,
					  "invalid value '%.*s%s' for key '%s'%s: expected %s",
					  VALUE_SHOWN, value, vlen > VALUE_SHOWN ? "..." : "", key,
					  where, expect);
		}
	}

	bool found;
	size_t i = find(c, key, &found);
	char *v = strdup(value);
	if (!v)
		return cm_err_set(err, FL_ENOMEM, "out of memory setting key '%s'", key);
	if (found) {
		free(c->v[i].value);
		c->v[i].value = v;
	} else {
		if (c->n >= CFG_ENTRIES_MAX) {
			free(v);
			return cm_err_set(
			    err, FL_ERANGE,
			    "too many configuration keys (more than %d) at key '%s'%s",
			    CFG_ENTRIES_MAX, key, where);
		}
		char *kd = strdup(key);
		if (!kd) {
			free(v);
			return cm_err_set(err, FL_ENOMEM, "out of memory setting key '%s'", key);
		}
		if (c->n == c->cap) {
			size_t ncap = c->cap ? c->cap * 2 : 16;
			struct cfg_entry *nv = realloc(c->v, ncap * sizeof(*nv));
			if (!nv) {
				free(v);
				free(kd);
				return cm_err_set(err, FL_ENOMEM, "out of memory setting key '%s'",
						  key);
			}
			c->v = nv;
			c->cap = ncap;
		}
		memmove(&c->v[i + 1], &c->v[i], (c->n - i) * sizeof(c->v[0]));
		c->v[i].key = kd;
		c->v[i].value = v;
		c->n++;
	}
	if (!k)
		cfg_key_warn_unknown(key);
	return 0;
}

int cfg_set(cfg *c, const char *key, const char *value, cm_err *err)
{
	return cfg_set_at(c, key, value, NULL, err);
}

int cfg_set_dynamic(cfg *c, const char *assignment, cm_err *err)
{
	if (!assignment)
		return cm_err_set(err, FL_EINVAL, "-D: NULL argument");
	const char *eq = strchr(assignment, '=');
	/* Without '=' the key and a secret may run together ("token:abc"). */
	if (!eq)
		return cm_err_set(err, FL_EINVAL, "invalid -D argument '%.*s': expected key=value",
				  VALUE_SHOWN,
				  cfg_is_sensitive(assignment) ? CFG_HIDDEN : assignment);
	size_t klen = (size_t)(eq - assignment);
	if (klen == 0)
		return cm_err_set(err, FL_EINVAL,
				  "invalid -D argument '%.*s': the key before '=' is empty",
				  VALUE_SHOWN, assignment);
	if (klen > CFG_KEY_MAX)
		return cm_err_set(err, FL_ERANGE,
				  "invalid -D argument '%.64s...': key longer than %d bytes",
				  assignment, CFG_KEY_MAX);
	char key[CFG_KEY_MAX + 1];
	memcpy(key, assignment, klen);
	key[klen] = '\0';
	struct cfg_origin o = {"-D", 0, 0};
	return cfg_set_at(c, key, eq + 1, &o, err);
}

void cfg_unset(cfg *c, const char *key)
{
	bool found;
	size_t i = find(c, key, &found);
	if (!found)
		return;
	free(c->v[i].key);
	free(c->v[i].value);
	memmove(&c->v[i], &c->v[i + 1], (c->n - i - 1) * sizeof(c->v[0]));
	c->n--;
}

const char *cfg_get_raw(const cfg *c, const char *key)
{
	if (!c || !key)
		return NULL;
	bool found;
	size_t i = find(c, key, &found);
	return found ? c->v[i].value : NULL;
}

bool cfg_is_set(const cfg *c, const char *key)
{
	return cfg_get_raw(c, key) != NULL;
}

/* The value to read for key as type t: the set value, else the default. */
static int lookup(const cfg *c, const char *key, enum cfg_type t, const struct cfg_key **kout,
		  const char **out)
{
	if (!c || !key)
		return FL_EINVAL;
	const struct cfg_key *k = cfg_key_find(key);
	if (k && k->type != t && !(t == CFG_T_STRING && k->type == CFG_T_ENUM) &&
	    !(t == CFG_T_FRACTION && k->type == CFG_T_DECIMAL))
		return FL_ETYPE;
	const char *v = cfg_get_raw(c, key);
	if (!v) {
		if (!k)
			return FL_ENOENT;
		v = k->def;
	}
	*kout = k;
	*out = v;
	return 0;
}

int cfg_get_int(const cfg *c, const char *key, int64_t *out)
{
	const struct cfg_key *k;
	const char *v;
	int rc = lookup(c, key, CFG_T_INT, &k, &v);
	return rc ? rc : cfg_parse_int(v, out);
}

int cfg_get_bool(const cfg *c, const char *key, bool *out)
{
	const struct cfg_key *k;
	const char *v;
	int rc = lookup(c, key, CFG_T_BOOL, &k, &v);
	return rc ? rc : cfg_parse_bool(v, out);
}

int cfg_get_duration_ms(const cfg *c, const char *key, int64_t *out)
{
	const struct cfg_key *k;
	const char *v;
	int rc = lookup(c, key, CFG_T_DURATION, &k, &v);
	return rc ? rc : cfg_parse_duration_ms(v, out);
}

int cfg_get_memory_bytes(const cfg *c, const char *key, int64_t *out)
{
	const struct cfg_key *k;
	const char *v;
	int rc = lookup(c, key, CFG_T_MEMORY, &k, &v);
	return rc ? rc : cfg_parse_memory_bytes(v, out);
}

int cfg_get_double(const cfg *c, const char *key, double *out)
{
	const struct cfg_key *k;
	const char *v;
	/* Fractions and decimals alike. */
	int rc = lookup(c, key, CFG_T_FRACTION, &k, &v);
	return rc ? rc : cfg_parse_decimal(v, out);
}

int cfg_get_string(const cfg *c, const char *key, const char **out)
{
	const struct cfg_key *k;
	const char *v;
	int rc = lookup(c, key, CFG_T_STRING, &k, &v);
	if (rc)
		return rc;
	if (k && k->type == CFG_T_ENUM) {
		v = cfg_key_enum_canonical(k, v);
		if (!v)
			return FL_EINVAL; /* cannot happen: validated when set */
	}
	*out = v;
	return 0;
}

void cfg_each(const cfg *c, void (*fn)(void *arg, const char *key, const char *value), void *arg)
{
	if (!c || !fn)
		return;
	for (size_t i = 0; i < c->n; i++)
		fn(arg, c->v[i].key, cfg_is_sensitive(c->v[i].key) ? CFG_HIDDEN : c->v[i].value);
}

int cfg_default_file(char *path, size_t cap, bool *found, cm_err *err)
{
	*found = false;
	const char *dir = getenv("FLINC_CONF_DIR");
	if (!dir || !*dir)
		return 0;
	const char *more = strlen(dir) > 200 ? "..." : "";
	struct stat st;
	if (stat(dir, &st) != 0) {
		int e = errno;
		return cm_err_set(err, cm_err_from_errno(e),
				  "the configuration directory '%.200s%s' (FLINC_CONF_DIR) cannot be "
				  "used: %s",
				  dir, more, strerror(e));
	}
	if (!S_ISDIR(st.st_mode))
		return cm_err_set(err, FL_EINVAL,
				  "the configuration directory '%.200s%s' (FLINC_CONF_DIR) is not a "
				  "directory",
				  dir, more);
	if ((size_t)snprintf(path, cap, "%s/flinc.yaml", dir) >= cap)
		return cm_err_set(err, FL_ERANGE,
				  "the configuration directory '%.200s...' (FLINC_CONF_DIR) is longer "
				  "than %zu bytes",
				  dir, cap - sizeof("/flinc.yaml"));
	*found = access(path, F_OK) == 0;
	return 0;
}
