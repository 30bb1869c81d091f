/*
 * config_internal.h — what the files of the config module share: the
 * known-key table (config_keys.c), the value parsers (config_values.c), and
 * the store's entry points that carry a value's origin (config.c) for the
 * YAML loader (config_yaml.c). Not for use outside runtime/config/.
 */
#ifndef FLINC_CONFIG_CONFIG_INTERNAL_H
#define FLINC_CONFIG_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

/* Caps on what a configuration may hold; exceeding one is FL_ERANGE. */
#define CFG_KEY_MAX 256		   /* bytes in a key */
#define CFG_VALUE_MAX (64 * 1024)  /* bytes in a value */
#define CFG_ENTRIES_MAX 10000	   /* keys set in one cfg */
#define CFG_FILE_MAX (1024 * 1024) /* bytes of YAML */

enum cfg_type {
	CFG_T_STRING,
	CFG_T_INT,
	CFG_T_BOOL,
	CFG_T_DURATION,
	CFG_T_MEMORY,
	CFG_T_ENUM,
	CFG_T_FRACTION, /* a decimal number in [0, 1] */
	CFG_T_DECIMAL   /* a decimal number in [min, max] thousandths */
};

struct cfg_key {
	const char *name;
	enum cfg_type type;
	const char *def;	    /* default, in the key's own value syntax */
	int64_t min, max;	    /* int; duration in ms; memory in bytes */
	bool has_off;		    /* int: `off` is valid too, outside min..max */
	int64_t off;		    /* the value that turns the feature off (-1) */
	bool pow2;		    /* memory: must be a power of two */
	const char *const *choices; /* enum: canonical spellings, NULL-ended */
	const char *desc;	    /* one line, for --help and conf/flinc.yaml */
};

/* The known key named `name`, or NULL. */
const struct cfg_key *cfg_key_find(const char *name);
/* Number of known keys and the i-th (in table order). */
size_t cfg_key_count(void);
const struct cfg_key *cfg_key_at(size_t i);
/* True for Flink keys flinc accepts silently without using them
 * (env.java*, kubernetes.*). */
bool cfg_key_ignored(const char *name);
/* The known key nearest to `name` by edit distance when it is within
 * max(2, strlen(name)/4), or NULL. */
const char *cfg_key_nearest(const char *name);
/* Logs the unknown-key warning (with the nearest known key if any) unless
 * `name` is known or ignored. */
void cfg_key_warn_unknown(const char *name);
/* 0 if value is valid for k; otherwise FL_EINVAL and `expect` receives what
 * was expected, with both bounds of a range ("an integer between 1 and
 * 32768", "a duration between 0 ms and 365 d"). */
int cfg_key_validate(const struct cfg_key *k, const char *value, char *expect, size_t cap);
/* Canonical spelling of an enum value of k, or NULL if it is none of them. */
const char *cfg_key_enum_canonical(const struct cfg_key *k, const char *value);

/* Value parsers (surrounding blanks allowed); 0 or FL_EINVAL. */
int cfg_parse_int(const char *s, int64_t *out);
int cfg_parse_bool(const char *s, bool *out);
/* A non-negative decimal number: digits with at most one '.', at least one
 * digit ("0.1", ".1", "1", "1."); no sign but '+', no exponent, no NaN or
 * infinity. Independent of the C locale. Correctly rounded up to 15
 * significant digits and 22 decimals; within about an ulp beyond. */
int cfg_parse_decimal(const char *s, double *out);

/* Where a value came from, for messages: "name:line:col", or just "name" when
 * line is 0; a NULL origin names nothing. */
struct cfg_origin {
	const char *name;
	size_t line, col; /* 1-based */
};

/* cfg_set with an origin for messages. */
int cfg_set_at(cfg *c, const char *key, const char *value, const struct cfg_origin *o, cm_err *err);
/* Removes key (back to its default). No error if it was not set. */
void cfg_unset(cfg *c, const char *key);
/* Exchanges the contents of a and b. */
void cfg_swap(cfg *a, cfg *b);

#endif
