/*
 * config_keys.c — the keys flinc knows: type, default, valid range and a one
 * line description each, with Flink's names and defaults unless noted.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "config/config_internal.h"

#define KIB INT64_C(1024)
#define MIB (KIB * 1024)

static const char *const runtime_modes[] = {"STREAMING", "BATCH", "AUTOMATIC", NULL};
static const char *const ha_types[] = {"NONE", "KUBERNETES", "ZOOKEEPER", NULL};
static const char *const log_levels[] = {"DEBUG", "INFO", "WARN", "ERROR", NULL};

#define INT(name, def, lo, hi, desc)                                                               \
	{                                                                                          \
		name, CFG_T_INT, def, lo, hi, false, NULL, desc                                    \
	}
#define DURATION(name, def, desc)                                                                  \
	{                                                                                          \
		name, CFG_T_DURATION, def, 0, INT64_MAX, false, NULL, desc                         \
	}
#define MEMORY(name, def, lo, hi, pow2, desc)                                                      \
	{                                                                                          \
		name, CFG_T_MEMORY, def, lo, hi, pow2, NULL, desc                                  \
	}
#define STRING(name, def, desc)                                                                    \
	{                                                                                          \
		name, CFG_T_STRING, def, 0, 0, false, NULL, desc                                   \
	}
#define ENUM(name, def, choices, desc)                                                             \
	{                                                                                          \
		name, CFG_T_ENUM, def, 0, 0, false, choices, desc                                  \
	}

static const struct cfg_key keys[] = {
    INT(CFG_TM_SLOTS, "1", 1, INT32_MAX, "Task slots per TaskManager (parallel subtasks it runs)."),
    INT(CFG_PARALLELISM, "1", 1, INT32_MAX,
	"Parallelism of operators and jobs that do not set their own."),
    INT(CFG_MAX_PARALLELISM, "128", 1, 32768,
	"Maximum parallelism: the number of key groups keyed state is split into."),
    /* Flink also accepts -1 ("flush only when a buffer is full"); flinc does not. */
    DURATION(CFG_BUFFER_TIMEOUT, "100 ms",
	     "Longest time a partly filled network buffer waits before it is flushed."),
    ENUM(CFG_RUNTIME_MODE, "STREAMING", runtime_modes,
	 "Runtime execution mode: STREAMING, BATCH or AUTOMATIC."),
    INT(CFG_LOCAL_TMS, "1", 1, INT32_MAX, "TaskManagers started by a local (mini) cluster."),
    MEMORY(CFG_SEGMENT_SIZE, "32 kb", 4 * KIB, 16 * MIB, true,
	   "Size of one network buffer (memory segment), a power of two."),
    INT(CFG_BUFFERS_PER_CHANNEL, "2", 1, INT32_MAX,
	"Exclusive network buffers per outgoing/incoming channel (credits)."),
    STRING(CFG_JM_RPC_ADDRESS, "localhost", "Address at which the JobManager is reached."),
    INT(CFG_JM_RPC_PORT, "6123", 0, 65535, "Port of the JobManager's RPC endpoint."),
    STRING(CFG_REST_ADDRESS, "", "Address of the REST endpoint (empty: all interfaces)."),
    INT(CFG_REST_PORT, "8081", 0, 65535, "Port of the REST endpoint and web UI."),
    STRING(CFG_TM_HOST, "", "Address a TaskManager advertises (empty: detected)."),
    INT(CFG_TM_DATA_PORT, "0", 0, 65535,
	"Port of a TaskManager's data (shuffle) endpoint (0: any free port)."),
    /* Flink has no default (unset = off); flinc spells "off" as 0. */
    DURATION(CFG_CKP_INTERVAL, "0", "Interval between checkpoints (0: checkpointing disabled)."),
    STRING(CFG_CKP_DIR, "", "Directory (URI) where checkpoints are written."),
    STRING(CFG_SP_DIR, "", "Default directory (URI) for savepoints."),
    MEMORY(CFG_MANAGED_SIZE, "128 mb", 0, INT64_MAX, false,
	   "Managed memory of a TaskManager (state backends, batch operators)."),
    ENUM(CFG_HA_TYPE, "NONE", ha_types, "High-availability mode: NONE, KUBERNETES or ZOOKEEPER."),
    ENUM(CFG_LOG_LEVEL, "INFO", log_levels,
	 "Lowest level logged: DEBUG, INFO, WARN or ERROR (flinc only)."),
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

size_t cfg_key_count(void)
{
	return NKEYS;
}

const struct cfg_key *cfg_key_at(size_t i)
{
	return i < NKEYS ? &keys[i] : NULL;
}

const struct cfg_key *cfg_key_find(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	}
	return NULL;
}

bool cfg_key_ignored(const char *name)
{
	return strncmp(name, "env.java", 8) == 0 || strncmp(name, "kubernetes.", 11) == 0;
}

/* Levenshtein distance, two rows; both strings are at most CFG_KEY_MAX. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strnlen(a, CFG_KEY_MAX), lb = strnlen(b, CFG_KEY_MAX);
	size_t row0[CFG_KEY_MAX + 1], row1[CFG_KEY_MAX + 1];
	size_t *prev = row0, *cur = row1;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			size_t m = sub < del ? sub : del;
			cur[j] = m < ins ? m : ins;
		}
		size_t *t = prev;
		prev = cur;
		cur = t;
	}
	return prev[lb];
}

const char *cfg_key_nearest(const char *name)
{
	size_t len = strnlen(name, CFG_KEY_MAX);
	size_t limit = len / 4 > 2 ? len / 4 : 2;
	const char *best = NULL;
	size_t best_d = SIZE_MAX;
	for (size_t i = 0; i < NKEYS; i++) {
		/* The length difference is a lower bound of the distance: a long
		 * key (up to CFG_KEY_MAX) is then never compared in full. */
		size_t klen = strlen(keys[i].name);
		if ((len > klen ? len - klen : klen - len) > limit)
			continue;
		size_t d = edit_distance(name, keys[i].name);
		if (d < best_d) {
			best_d = d;
			best = keys[i].name;
		}
	}
	return best_d <= limit ? best : NULL;
}

void cfg_key_warn_unknown(const char *name)
{
	/* The nearest-key search is the costly part: skip it when the
	 * warning would not be printed anyway. */
	if (cm_log_get_level() > CM_LOG_WARN || cfg_key_find(name) || cfg_key_ignored(name))
		return;
	const char *near = cfg_key_nearest(name);
	if (near)
		CM_WARN("config", "Unknown configuration key '%s' (did you mean '%s'?)", name,
			near);
	else
		CM_WARN("config", "Unknown configuration key '%s'", name);
}

const char *cfg_key_enum_canonical(const struct cfg_key *k, const char *value)
{
	if (k->type != CFG_T_ENUM)
		return NULL;
	for (const char *const *ch = k->choices; *ch; ch++) {
		if (strcasecmp(*ch, value) == 0)
			return *ch;
	}
	return NULL;
}

/* Writes a byte count in the largest unit that divides it ("16mb"). */
static void fmt_bytes(char *buf, size_t cap, int64_t v)
{
	static const char *const units[] = {"b", "kb", "mb", "gb", "tb"};
	size_t u = 0;
	while (u < 4 && v != 0 && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	snprintf(buf, cap, "%lld%s", (long long)v, units[u]);
}

/* "what between lo and hi", "what >= lo", or just "what" when unbounded. */
static void fmt_range(char *buf, size_t cap, const char *what, const char *lo, const char *hi,
		      bool has_lo, bool has_hi)
{
	if (has_hi)
		snprintf(buf, cap, "%s between %s and %s", what, lo, hi);
	else if (has_lo)
		snprintf(buf, cap, "%s >= %s", what, lo);
	else
		snprintf(buf, cap, "%s", what);
}

int cfg_key_validate(const struct cfg_key *k, const char *value, char *expect, size_t cap)
{
	int64_t v = 0;
	bool b;
	char lo[32], hi[32];
	int rc = 0;

	switch (k->type) {
	case CFG_T_STRING:
		return 0;
	case CFG_T_BOOL:
		if (cfg_parse_bool(value, &b) == 0)
			return 0;
		snprintf(expect, cap, "true or false");
		return FL_EINVAL;
	case CFG_T_ENUM:
		if (cfg_key_enum_canonical(k, value))
			return 0;
		size_t n = (size_t)snprintf(expect, cap, "one of");
		for (const char *const *ch = k->choices; *ch && n < cap; ch++)
			n += (size_t)snprintf(expect + n, cap - n, "%s %s",
					      ch == k->choices ? "" : ",", *ch);
		return FL_EINVAL;
	case CFG_T_INT:
		rc = cfg_parse_int(value, &v);
		snprintf(lo, sizeof(lo), "%lld", (long long)k->min);
		snprintf(hi, sizeof(hi), "%lld", (long long)k->max);
		fmt_range(expect, cap, "an integer", lo, hi, true, k->max < INT32_MAX);
		break;
	case CFG_T_DURATION:
		rc = cfg_parse_duration_ms(value, &v);
		snprintf(lo, sizeof(lo), "%lld ms", (long long)k->min);
		snprintf(hi, sizeof(hi), "%lld ms", (long long)k->max);
		fmt_range(expect, cap, "a duration (e.g. 100 ms, 10 s, 2 min)", lo, hi, k->min > 0,
			  k->max < INT64_MAX);
		break;
	case CFG_T_MEMORY:
		rc = cfg_parse_memory_bytes(value, &v);
		fmt_bytes(lo, sizeof(lo), k->min);
		fmt_bytes(hi, sizeof(hi), k->max);
		fmt_range(expect, cap,
			  k->pow2 ? "a power-of-two memory size"
				  : "a memory size (e.g. 64 mb, 1 gb)",
			  lo, hi, k->min > 0, k->max < INT64_MAX);
		if (rc == 0 && k->pow2 && (v & (v - 1)) != 0)
			rc = FL_EINVAL;
		break;
	}
	if (rc == 0 && (v < k->min || v > k->max))
		rc = FL_EINVAL;
	return rc;
}
