/*
 * fuzz_yaml.c — libFuzzer target for the YAML configuration loader
 * (runtime/config/config.h), which reads files a user or a ConfigMap wrote.
 *
 * Properties, for any text up to the loader's 1 MiB cap:
 *   - cfg_load_string never crashes and never leaks (libFuzzer's leak check);
 *   - a refused text leaves the configuration exactly as it was (cfg_each
 *     before and after agree);
 *   - an accepted text leaves a configuration that cfg_each lists in
 *     strictly sorted key order, whose every value cfg_get_raw returns, and
 *     whose every known key reads back through its typed getter (values are
 *     validated when set, so reading one cannot fail).
 * The configuration starts with a few keys already set, as the CLI's
 * defaults and -D overrides would be.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

#include "common/log.h"
#include "config/config.h"
#include "config/config_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* cfg_each's output as one string: key '\0' value '\n' per entry. */
struct dump {
	char *buf;
	size_t len, cap;
	const char *prev_key;
	bool unsorted, oom;
	const cfg *c;
};

static void dump_add(struct dump *d, const char *p, size_t n)
{
	if (d->oom)
		return;
	if (d->len + n > d->cap) {
		size_t ncap = d->cap ? d->cap : 256;
		while (ncap < d->len + n)
			ncap *= 2;
		char *nb = realloc(d->buf, ncap);
		if (!nb) {
			d->oom = true;
			return;
		}
		d->buf = nb;
		d->cap = ncap;
	}
	memcpy(d->buf + d->len, p, n);
	d->len += n;
}

static void dump_entry(void *arg, const char *key, const char *value)
{
	struct dump *d = arg;
	if (d->prev_key && strcmp(d->prev_key, key) >= 0)
		d->unsorted = true;
	d->prev_key = key;
	/* The value itself, or CFG_HIDDEN for a secret (never printed). */
	if (cfg_is_sensitive(key) ? strcmp(value, CFG_HIDDEN) != 0 : cfg_get_raw(d->c, key) != value)
		__builtin_trap();
	dump_add(d, key, strlen(key) + 1);
	dump_add(d, value, strlen(value));
	dump_add(d, "\n", 1);
}

static void dump_cfg(const cfg *c, struct dump *d)
{
	memset(d, 0, sizeof(*d));
	d->c = c;
	cfg_each(c, dump_entry, d);
}

/* Every known key reads back through the getter of its type. */
static void check_typed_reads(const cfg *c)
{
	for (size_t i = 0; i < cfg_key_count(); i++) {
		const struct cfg_key *k = cfg_key_at(i);
		int64_t i64;
		bool b;
		const char *s;
		int rc;
		switch (k->type) {
		case CFG_T_INT:
			rc = cfg_get_int(c, k->name, &i64);
			if (rc == 0 && (i64 < k->min || i64 > k->max))
				__builtin_trap();
			break;
		case CFG_T_BOOL:
			rc = cfg_get_bool(c, k->name, &b);
			break;
		case CFG_T_DURATION:
			rc = cfg_get_duration_ms(c, k->name, &i64);
			break;
		case CFG_T_MEMORY:
			rc = cfg_get_memory_bytes(c, k->name, &i64);
			break;
		case CFG_T_FRACTION: {
			double d;
			rc = cfg_get_double(c, k->name, &d);
			if (rc == 0 && !(d >= 0.0 && d <= 1.0))
				__builtin_trap();
			break;
		}
		case CFG_T_DECIMAL: {
			double d;
			rc = cfg_get_double(c, k->name, &d);
			if (rc == 0 && !(d * 1000 >= (double)k->min && d * 1000 <= (double)k->max))
				__builtin_trap();
			break;
		}
		default:
			rc = cfg_get_string(c, k->name, &s);
			break;
		}
		if (rc != 0)
			__builtin_trap();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* Unknown keys are warnings on stderr: thousands of them per second
	 * would drown libFuzzer's own output. */
	cm_log_set_level(CM_LOG_ERROR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cfg *c;
	if (cfg_new(&c) != 0)
		return 0;
	if (cfg_set(c, CFG_PARALLELISM, "2", NULL) != 0 ||
	    cfg_set(c, CFG_TM_SLOTS, "4", NULL) != 0 ||
	    cfg_set_dynamic(c, "my.own.key=kept", NULL) != 0) {
		cfg_free(c);
		return 0;
	}
	struct dump before, after;
	dump_cfg(c, &before);

	cm_err err;
	cm_err_clear(&err);
	int rc = cfg_load_string(c, (const char *)data, size, "fuzz.yaml", &err);
	dump_cfg(c, &after);
	if (after.unsorted)
		__builtin_trap();
	if (rc != 0) {
		/* Refused: the code and message are set, the cfg is untouched. */
		if (rc != FL_EPROTO && rc != FL_EINVAL && rc != FL_ERANGE && rc != FL_ENOMEM)
			__builtin_trap();
		if (err.code != rc || err.msg[0] == '\0')
			__builtin_trap();
		if (!before.oom && !after.oom &&
		    (before.len != after.len || memcmp(before.buf, after.buf, before.len) != 0))
			__builtin_trap();
	} else {
		if (size > CFG_FILE_MAX)
			__builtin_trap();
		check_typed_reads(c);
	}
	free(before.buf);
	free(after.buf);
	cfg_free(c);
	return 0;
}
