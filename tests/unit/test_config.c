/*
 * test_config.c — configuration: defaults, validation and its messages, the
 * duration and memory syntaxes, -D assignments, YAML files (flat and nested
 * keys, malformed input, caps) and the unknown-key warning.
 */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/log.h"
#include "config/config.h"

/* ------------------------------------------------------------ helpers */

/* Writes text to a fresh temporary file; returns its malloc'd path. */
static char *temp_yaml(const char *text)
{
	char *path = strdup("/tmp/flinc-test-config-XXXXXX");
	assert_non_null(path);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t len = strlen(text);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

static void drop_file(char *path)
{
	unlink(path);
	free(path);
}

/* stderr captured into a temporary file (single-threaded tests only). */
struct capture {
	int saved_fd;
	int fd;
};

static void capture_start(struct capture *c)
{
	char path[] = "/tmp/flinc-test-stderr-XXXXXX";
	c->fd = mkstemp(path);
	assert_true(c->fd >= 0);
	unlink(path);
	c->saved_fd = dup(STDERR_FILENO);
	assert_true(c->saved_fd >= 0);
	assert_true(dup2(c->fd, STDERR_FILENO) >= 0);
}

/* Restores stderr; returns what was written (free it). */
static char *capture_stop(struct capture *c)
{
	assert_true(dup2(c->saved_fd, STDERR_FILENO) >= 0);
	close(c->saved_fd);
	off_t len = lseek(c->fd, 0, SEEK_END);
	assert_true(len >= 0);
	char *buf = malloc((size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(pread(c->fd, buf, (size_t)len, 0), len);
	buf[len] = '\0';
	close(c->fd);
	return buf;
}

static void assert_matches(const char *text, const char *pattern)
{
	regex_t re;
	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	int rc = regexec(&re, text, 0, NULL, 0);
	regfree(&re);
	if (rc != 0)
		fail_msg("'%s' does not match /%s/", text, pattern);
}

static cfg *new_cfg(void)
{
	cfg *c = NULL;
	assert_int_equal(cfg_new(&c), 0);
	assert_non_null(c);
	return c;
}

static int64_t get_int(const cfg *c, const char *key)
{
	int64_t v = -12345;
	assert_int_equal(cfg_get_int(c, key, &v), 0);
	return v;
}

static const char *get_str(const cfg *c, const char *key)
{
	const char *v = NULL;
	assert_int_equal(cfg_get_string(c, key, &v), 0);
	assert_non_null(v);
	return v;
}

/* Loads YAML text from a real file; returns the code, err filled. */
static int load_text(cfg *c, const char *text, cm_err *err, char **path_out)
{
	char *path = temp_yaml(text);
	cm_err_clear(err);
	int rc = cfg_load_file(c, path, err);
	if (path_out)
		*path_out = path;
	else
		drop_file(path);
	return rc;
}

/* cfg_each into "key=value;" text. */
struct collected {
	char text[1024];
	size_t n;
};

static void collect(void *arg, const char *key, const char *value)
{
	struct collected *col = arg;
	col->n++;
	size_t len = strlen(col->text);
	snprintf(col->text + len, sizeof(col->text) - len, "%s=%s;", key, value);
}

/* -------------------------------------------------------- defaults */

static void test_new_config_reads_flink_defaults(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	int64_t v;
	assert_int_equal(get_int(c, CFG_TM_SLOTS), 1);
	assert_int_equal(get_int(c, CFG_PARALLELISM), 1);
	assert_int_equal(get_int(c, CFG_MAX_PARALLELISM), 128);
	assert_int_equal(cfg_get_duration_ms(c, CFG_BUFFER_TIMEOUT, &v), 0);
	assert_int_equal(v, 100);
	assert_string_equal(get_str(c, CFG_RUNTIME_MODE), "STREAMING");
	assert_int_equal(get_int(c, CFG_LOCAL_TMS), 1);
	assert_int_equal(cfg_get_memory_bytes(c, CFG_SEGMENT_SIZE, &v), 0);
	assert_int_equal(v, 32 * 1024);
	assert_int_equal(get_int(c, CFG_BUFFERS_PER_CHANNEL), 2);
	assert_string_equal(get_str(c, CFG_JM_RPC_ADDRESS), "localhost");
	assert_int_equal(get_int(c, CFG_JM_RPC_PORT), 6123);
	assert_string_equal(get_str(c, CFG_REST_ADDRESS), "");
	assert_int_equal(get_int(c, CFG_REST_PORT), 8081);
	assert_string_equal(get_str(c, CFG_TM_HOST), "");
	assert_int_equal(get_int(c, CFG_TM_DATA_PORT), 0);
	assert_int_equal(cfg_get_duration_ms(c, CFG_CKP_INTERVAL, &v), 0);
	assert_int_equal(v, 0); /* 0 = checkpointing disabled */
	assert_string_equal(get_str(c, CFG_CKP_DIR), "");
	assert_string_equal(get_str(c, CFG_SP_DIR), "");
	assert_int_equal(cfg_get_memory_bytes(c, CFG_MANAGED_SIZE, &v), 0);
	assert_int_equal(v, 128 * 1024 * 1024);
	assert_string_equal(get_str(c, CFG_HA_TYPE), "NONE");
	assert_string_equal(get_str(c, CFG_LOG_LEVEL), "INFO");
	/* Defaults are not "set". */
	assert_false(cfg_is_set(c, CFG_TM_SLOTS));
	assert_null(cfg_get_raw(c, CFG_TM_SLOTS));
	cfg_free(c);
}

static void test_new_keys_read_flink_defaults(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	int64_t v;
	double d;
	bool b = true;
	assert_int_equal(cfg_get_double(c, CFG_NET_FRACTION, &d), 0);
	assert_true(d == 0.1);
	assert_int_equal(cfg_get_memory_bytes(c, CFG_NET_MIN, &v), 0);
	assert_int_equal(v, 64 * 1024 * 1024);
	assert_int_equal(cfg_get_memory_bytes(c, CFG_NET_MAX, &v), 0);
	assert_int_equal(v, INT64_MAX); /* "infinite", as since Flink 1.17 */
	assert_int_equal(get_int(c, CFG_FLOATING_BUFFERS), 8);
	assert_int_equal(cfg_get_duration_ms(c, CFG_CANCEL_INTERVAL, &v), 0);
	assert_int_equal(v, 30000);
	assert_int_equal(cfg_get_duration_ms(c, CFG_CANCEL_TIMEOUT, &v), 0);
	assert_int_equal(v, 180000);
	assert_int_equal(cfg_get_duration_ms(c, CFG_HEARTBEAT_INTERVAL, &v), 0);
	assert_int_equal(v, 10000);
	assert_int_equal(cfg_get_duration_ms(c, CFG_HEARTBEAT_TIMEOUT, &v), 0);
	assert_int_equal(v, 50000);
	assert_int_equal(get_int(c, CFG_HEARTBEAT_FAILURES), 2);
	assert_string_equal(get_str(c, CFG_TM_BIND_HOST), "");
	assert_string_equal(get_str(c, CFG_JM_BIND_HOST), "");
	assert_string_equal(get_str(c, CFG_TM_RESOURCE_ID), "");
	assert_int_equal(get_int(c, CFG_TM_RPC_PORT), 0);
	assert_string_equal(get_str(c, CFG_TOKEN), "");
	assert_string_equal(get_str(c, CFG_TOKEN_FILE), "");
	assert_string_equal(get_str(c, CFG_LOG_FILE), "");
	assert_int_equal(cfg_get_bool(c, CFG_OVERWRITE_FILES, &b), 0);
	assert_false(b);
	assert_int_equal(get_int(c, CFG_MAX_CONNECTIONS), 1024);
	assert_int_equal(cfg_get_duration_ms(c, CFG_HANDSHAKE_TIMEOUT, &v), 0);
	assert_int_equal(v, 10000);
	assert_int_equal(cfg_get_duration_ms(c, CFG_IDLE_TIMEOUT, &v), 0);
	assert_int_equal(v, 60000);
	assert_string_equal(get_str(c, CFG_LOCAL_RPC), "DIRECT");
	assert_int_equal(cfg_set(c, CFG_LOCAL_RPC, "nng", NULL), 0);
	assert_string_equal(get_str(c, CFG_LOCAL_RPC), "NNG");
	assert_int_equal(cfg_set(c, CFG_OVERWRITE_FILES, "TRUE", NULL), 0);
	assert_int_equal(cfg_get_bool(c, CFG_OVERWRITE_FILES, &b), 0);
	assert_true(b);
	assert_int_equal(cfg_set(c, CFG_NET_MAX, "1 gb", NULL), 0);
	assert_int_equal(cfg_get_memory_bytes(c, CFG_NET_MAX, &v), 0);
	assert_int_equal(v, INT64_C(1) << 30);
	assert_int_equal(cfg_set(c, CFG_NET_MAX, "Infinite", NULL), 0);
	assert_int_equal(cfg_get_memory_bytes(c, CFG_NET_MAX, &v), 0);
	assert_int_equal(v, INT64_MAX);
	cfg_free(c);
}

static void test_getter_of_other_type_is_etype(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	int64_t v;
	bool b;
	const char *s;
	assert_int_equal(cfg_get_duration_ms(c, CFG_PARALLELISM, &v), FL_ETYPE);
	assert_int_equal(cfg_get_memory_bytes(c, CFG_BUFFER_TIMEOUT, &v), FL_ETYPE);
	assert_int_equal(cfg_get_int(c, CFG_REST_ADDRESS, &v), FL_ETYPE);
	assert_int_equal(cfg_get_bool(c, CFG_TM_SLOTS, &b), FL_ETYPE);
	assert_int_equal(cfg_get_string(c, CFG_REST_PORT, &s), FL_ETYPE);
	assert_int_equal(cfg_get_int(c, CFG_RUNTIME_MODE, &v), FL_ETYPE);
	cfg_free(c);
}

static void test_unknown_key_never_set_is_enoent(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	int64_t v;
	bool b;
	const char *s;
	assert_int_equal(cfg_get_int(c, "no.such.key", &v), FL_ENOENT);
	assert_int_equal(cfg_get_bool(c, "no.such.key", &b), FL_ENOENT);
	assert_int_equal(cfg_get_duration_ms(c, "no.such.key", &v), FL_ENOENT);
	assert_int_equal(cfg_get_memory_bytes(c, "no.such.key", &v), FL_ENOENT);
	assert_int_equal(cfg_get_string(c, "no.such.key", &s), FL_ENOENT);
	assert_null(cfg_get_raw(c, "no.such.key"));
	assert_false(cfg_is_set(c, "no.such.key"));
	cfg_free(c);
}

static void test_unknown_key_set_is_read_with_any_getter(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	struct capture cap;
	capture_start(&cap);
	assert_int_equal(cfg_set(c, "my.flag", "TRUE", NULL), 0);
	assert_int_equal(cfg_set(c, "my.count", "42", NULL), 0);
	assert_int_equal(cfg_set(c, "my.word", "maybe", NULL), 0);
	free(capture_stop(&cap));
	bool b = false;
	int64_t v;
	assert_int_equal(cfg_get_bool(c, "my.flag", &b), 0);
	assert_true(b);
	assert_int_equal(get_int(c, "my.count"), 42);
	assert_int_equal(cfg_get_duration_ms(c, "my.count", &v), 0);
	assert_int_equal(v, 42);
	assert_string_equal(get_str(c, "my.word"), "maybe");
	/* Unknown keys are not validated when set, so reading can fail. */
	assert_int_equal(cfg_get_bool(c, "my.word", &b), FL_EINVAL);
	assert_int_equal(cfg_get_int(c, "my.word", &v), FL_EINVAL);
	cfg_free(c);
}

static void test_free_null_is_a_no_op(void **state)
{
	(void)state;
	cfg_free(NULL);
}

/* ------------------------------------------------------- set and get */

static void test_set_then_get_each_type(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	int64_t v;
	assert_int_equal(cfg_set(c, CFG_PARALLELISM, "8", NULL), 0);
	assert_int_equal(get_int(c, CFG_PARALLELISM), 8);
	assert_string_equal(cfg_get_raw(c, CFG_PARALLELISM), "8");
	assert_true(cfg_is_set(c, CFG_PARALLELISM));
	assert_int_equal(cfg_set(c, CFG_BUFFER_TIMEOUT, "2 s", NULL), 0);
	assert_int_equal(cfg_get_duration_ms(c, CFG_BUFFER_TIMEOUT, &v), 0);
	assert_int_equal(v, 2000);
	assert_int_equal(cfg_set(c, CFG_MANAGED_SIZE, "1 gb", NULL), 0);
	assert_int_equal(cfg_get_memory_bytes(c, CFG_MANAGED_SIZE, &v), 0);
	assert_int_equal(v, INT64_C(1) << 30);
	assert_int_equal(cfg_set(c, CFG_CKP_DIR, "file:///tmp/ckp", NULL), 0);
	assert_string_equal(get_str(c, CFG_CKP_DIR), "file:///tmp/ckp");
	assert_int_equal(cfg_set(c, CFG_PARALLELISM, "3", NULL), 0); /* replaces */
	assert_int_equal(get_int(c, CFG_PARALLELISM), 3);
	cfg_free(c);
}

static void test_enum_is_case_insensitive_and_read_canonical(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	assert_int_equal(cfg_set(c, CFG_RUNTIME_MODE, "batch", NULL), 0);
	assert_string_equal(get_str(c, CFG_RUNTIME_MODE), "BATCH");
	assert_string_equal(cfg_get_raw(c, CFG_RUNTIME_MODE), "batch");
	assert_int_equal(cfg_set(c, CFG_HA_TYPE, "Kubernetes", NULL), 0);
	assert_string_equal(get_str(c, CFG_HA_TYPE), "KUBERNETES");
	assert_int_equal(cfg_set(c, CFG_LOG_LEVEL, "debug", NULL), 0);
	assert_string_equal(get_str(c, CFG_LOG_LEVEL), "DEBUG");
	cm_err err = {0};
	assert_int_equal(cfg_set(c, CFG_RUNTIME_MODE, "streamin", &err), FL_EINVAL);
	assert_string_equal(err.msg, "invalid value 'streamin' for key 'execution.runtime-mode': "
				     "expected one of STREAMING, BATCH, AUTOMATIC");
	cfg_free(c);
}

static void test_restore_keys_take_flink_names_defaults_and_modes(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	bool b = true;
	assert_string_equal(get_str(c, CFG_SAVEPOINT_PATH), "");
	assert_int_equal(cfg_get_bool(c, CFG_SAVEPOINT_IGNORE_UNCLAIMED, &b), 0);
	assert_false(b);
	assert_string_equal(get_str(c, CFG_SAVEPOINT_RESTORE_MODE), "NO_CLAIM");
	assert_int_equal(cfg_set(c, CFG_SAVEPOINT_RESTORE_MODE, "claim", NULL), 0);
	assert_string_equal(get_str(c, CFG_SAVEPOINT_RESTORE_MODE), "CLAIM");
	/* Flink's deprecated LEGACY is not one flinc has. */
	cm_err err = {0};
	assert_int_equal(cfg_set(c, CFG_SAVEPOINT_RESTORE_MODE, "LEGACY", &err), FL_EINVAL);
	assert_string_equal(err.msg,
			    "invalid value 'LEGACY' for key 'execution.savepoint-restore-mode': "
			    "expected one of NO_CLAIM, CLAIM");
	assert_string_equal(get_str(c, CFG_SAVEPOINT_RESTORE_MODE), "CLAIM");
	cfg_free(c);
}

static void test_bad_value_names_key_value_and_expectation(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	cm_err err = {0};
	assert_int_equal(cfg_set(c, CFG_PARALLELISM, "abc", &err), FL_EINVAL);
	assert_int_equal(err.code, FL_EINVAL);
	assert_string_equal(err.msg, "invalid value 'abc' for key 'parallelism.default': "
				     "expected an integer between 1 and 32768");
	cm_err_clear(&err);
	assert_int_equal(cfg_set(c, CFG_MAX_PARALLELISM, "40000", &err), FL_EINVAL);
	assert_string_equal(err.msg, "invalid value '40000' for key 'pipeline.max-parallelism': "
				     "expected an integer between 1 and 32768");
	cm_err_clear(&err);
	assert_int_equal(cfg_set(c, CFG_SEGMENT_SIZE, "1mbb", &err), FL_EINVAL);
	assert_string_equal(err.msg,
			    "invalid value '1mbb' for key 'taskmanager.memory.segment-size': "
			    "expected a power-of-two memory size between 4kb and 16mb");
	cm_err_clear(&err);
	assert_int_equal(cfg_set(c, CFG_BUFFER_TIMEOUT, "-1", &err), FL_EINVAL);
	assert_string_equal(err.msg,
			    "invalid value '-1' for key 'execution.buffer-timeout': "
			    "expected a duration between 0 ms and 365 d (e.g. 100 ms, 10 s, "
			    "2 min)");
	cm_err_clear(&err);
	assert_int_equal(cfg_set(c, CFG_MANAGED_SIZE, "lots", &err), FL_EINVAL);
	assert_string_equal(err.msg,
			    "invalid value 'lots' for key 'taskmanager.memory.managed.size'"
			    ": expected a memory size between 0b and 16tb (e.g. 64 mb, 1 gb)");
	cfg_free(c);
}

static void test_bad_value_keeps_previous_value(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	assert_int_equal(cfg_set(c, CFG_TM_SLOTS, "4", NULL), 0);
	assert_int_equal(cfg_set(c, CFG_TM_SLOTS, "0", NULL), FL_EINVAL);
	assert_int_equal(get_int(c, CFG_TM_SLOTS), 4);
	assert_int_equal(cfg_set(c, CFG_REST_PORT, "http", NULL), FL_EINVAL);
	assert_false(cfg_is_set(c, CFG_REST_PORT));
	cfg_free(c);
}

static void test_long_bad_value_is_shortened_in_message(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	char big[1000];
	memset(big, '9', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cm_err err = {0};
	assert_int_equal(cfg_set(c, CFG_REST_PORT, big, &err), FL_EINVAL);
	assert_matches(err.msg, "^invalid value '9{80}\\.\\.\\.' for key 'rest.port': expected an "
				"integer between 0 and 65535$");
	cfg_free(c);
}

static void test_int_ranges_per_key(void **state)
{
	(void)state;
	static const struct {
		const char *key;
		const char *value;
		int rc;
	} cases[] = {
	    {CFG_TM_SLOTS, "0", FL_EINVAL},
	    {CFG_TM_SLOTS, "1", 0},
	    {CFG_TM_SLOTS, "32768", 0},
	    {CFG_TM_SLOTS, "32769", FL_EINVAL},
	    {CFG_TM_SLOTS, "2147483647", FL_EINVAL},
	    {CFG_TM_SLOTS, "2147483648", FL_EINVAL},
	    {CFG_PARALLELISM, "-1", FL_EINVAL},
	    {CFG_PARALLELISM, "32768", 0},
	    {CFG_PARALLELISM, "32769", FL_EINVAL},
	    {CFG_MAX_PARALLELISM, "0", FL_EINVAL},
	    {CFG_MAX_PARALLELISM, "1", 0},
	    {CFG_MAX_PARALLELISM, "32768", 0},
	    {CFG_MAX_PARALLELISM, "32769", FL_EINVAL},
	    {CFG_LOCAL_TMS, "0", FL_EINVAL},
	    {CFG_LOCAL_TMS, "256", 0},
	    {CFG_LOCAL_TMS, "257", FL_EINVAL},
	    {CFG_LOCAL_TMS, "100000", FL_EINVAL},
	    {CFG_BUFFERS_PER_CHANNEL, "0", FL_EINVAL},
	    {CFG_BUFFERS_PER_CHANNEL, "65536", 0},
	    {CFG_BUFFERS_PER_CHANNEL, "65537", FL_EINVAL},
	    {CFG_BUFFERS_PER_CHANNEL, "16777216", FL_EINVAL}, /* NET_MAX_CREDIT */
	    {CFG_BUFFERS_PER_CHANNEL, "2147483647", FL_EINVAL},
	    {CFG_JM_RPC_PORT, "-1", FL_EINVAL},
	    {CFG_JM_RPC_PORT, "0", 0},
	    {CFG_JM_RPC_PORT, "65535", 0},
	    {CFG_JM_RPC_PORT, "65536", FL_EINVAL},
	    {CFG_REST_PORT, "65536", FL_EINVAL},
	    {CFG_TM_DATA_PORT, "65535", 0},
	    {CFG_TM_DATA_PORT, "70000", FL_EINVAL},
	    {CFG_PARALLELISM, " 4 ", 0},
	    {CFG_PARALLELISM, "+4", 0},
	    {CFG_PARALLELISM, "", FL_EINVAL},
	    {CFG_PARALLELISM, " ", FL_EINVAL},
	    {CFG_PARALLELISM, "1.0", FL_EINVAL},
	    {CFG_PARALLELISM, "0x10", FL_EINVAL},
	    {CFG_PARALLELISM, "1e3", FL_EINVAL},
	    {CFG_PARALLELISM, "4 slots", FL_EINVAL},
	    {CFG_PARALLELISM, "99999999999999999999", FL_EINVAL},
	    {CFG_PARALLELISM, "true", FL_EINVAL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg *c = new_cfg();
		int rc = cfg_set(c, cases[i].key, cases[i].value, NULL);
		if (rc != cases[i].rc)
			fail_msg("%s='%s': got %d, want %d", cases[i].key, cases[i].value, rc,
				 cases[i].rc);
		cfg_free(c);
	}
}

static void test_segment_size_range_and_power_of_two(void **state)
{
	(void)state;
	static const struct {
		const char *value;
		int rc;
	} cases[] = {
	    {"2kb", FL_EINVAL}, {"4kb", 0},	     {"4096", 0},	  {"32 KB", 0},
	    {"16mb", 0},	{"32mb", FL_EINVAL}, {"48kb", FL_EINVAL}, {"0", FL_EINVAL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg *c = new_cfg();
		int rc = cfg_set(c, CFG_SEGMENT_SIZE, cases[i].value, NULL);
		if (rc != cases[i].rc)
			fail_msg("'%s': got %d, want %d", cases[i].value, rc, cases[i].rc);
		cfg_free(c);
	}
}

/* Values that overflowed arithmetic or wire limits are refused, and every
 * message names both bounds, durations and sizes in their largest exact unit. */
static void test_out_of_range_values_name_both_bounds(void **state)
{
	(void)state;
	static const struct {
		const char *key, *value, *expect;
	} cases[] = {
	    /* overflowed `now + timeout` */
	    {CFG_BUFFER_TIMEOUT, "9223372036854775807ms", "a duration between 0 ms and 365 d"},
	    {CFG_BUFFER_TIMEOUT, "366 d", "a duration between 0 ms and 365 d"},
	    {CFG_CKP_INTERVAL, "8761 h", "a duration between 0 ms and 365 d"},
	    /* allocated 16 GB of slots */
	    {CFG_TM_SLOTS, "2147483647", "an integer between 1 and 32768"},
	    {CFG_TM_SLOTS, "0", "an integer between 1 and 32768"},
	    {CFG_PARALLELISM, "32769", "an integer between 1 and 32768"},
	    /* a CREDIT frame carries at most 2^24 */
	    {CFG_BUFFERS_PER_CHANNEL, "16777216", "an integer between 1 and 65536"},
	    {CFG_LOCAL_TMS, "100000", "an integer between 1 and 256"},
	    {CFG_REST_PORT, "-1", "an integer between 0 and 65535"},
	    {CFG_HEARTBEAT_INTERVAL, "0", "a duration between 1 ms and 1 d"},
	    {CFG_HEARTBEAT_TIMEOUT, "25 h", "a duration between 1 ms and 1 d"},
	    {CFG_CANCEL_INTERVAL, "0 s", "a duration between 1 ms and 1 d"},
	    {CFG_CANCEL_TIMEOUT, "86400001", "a duration between 0 ms and 1 d"},
	    {CFG_HANDSHAKE_TIMEOUT, "61 min", "a duration between 1 ms and 1 h"},
	    {CFG_IDLE_TIMEOUT, "2 d", "a duration between 1 ms and 1 d"},
	    {CFG_HEARTBEAT_FAILURES, "0", "an integer between 1 and 1000, or -1 to turn it off"},
	    {CFG_HEARTBEAT_FAILURES, "-2", "an integer between 1 and 1000, or -1 to turn it off"},
	    {CFG_HEARTBEAT_FAILURES, "1001", "an integer between 1 and 1000, or -1 to turn it off"},
	    {CFG_FLOATING_BUFFERS, "65537", "an integer between 0 and 65536"},
	    {CFG_MAX_CONNECTIONS, "0", "an integer between 1 and 65536"},
	    {CFG_TM_RPC_PORT, "65536", "an integer between 0 and 65535"},
	    {CFG_MANAGED_SIZE, "17 tb", "a memory size between 0b and 16tb"},
	    {CFG_MANAGED_SIZE, "infinite", "a memory size between 0b and 16tb"},
	    {CFG_NET_MIN, "infinite", "a memory size between 0b and 16tb"},
	    {CFG_SEGMENT_SIZE, "infinite", "a power-of-two memory size between 4kb and 16mb"},
	    /* examples of the syntax when the value does not parse */
	    {CFG_NET_MAX, "-1", "a memory size between 0b and infinite (e.g. 64 mb, 1 gb)"},
	    {CFG_HANDSHAKE_TIMEOUT, "soon",
	     "a duration between 1 ms and 1 h (e.g. 100 ms, 10 s, 2 min)"},
	    {CFG_OVERWRITE_FILES, "yes", "true or false"},
	    {CFG_LOCAL_RPC, "tcp", "one of DIRECT, NNG"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg *c = new_cfg();
		cm_err err = {0};
		char want[512];
		snprintf(want, sizeof(want), "invalid value '%s' for key '%s': expected %s",
			 cases[i].value, cases[i].key, cases[i].expect);
		int rc = cfg_set(c, cases[i].key, cases[i].value, &err);
		if (rc != FL_EINVAL || strcmp(err.msg, want) != 0)
			fail_msg("%s='%s': rc %d, '%s', want '%s'", cases[i].key, cases[i].value,
				 rc, err.msg, want);
		cfg_free(c);
	}
}

static void test_largest_values_in_range_are_accepted(void **state)
{
	(void)state;
	static const struct {
		const char *key, *value;
		int64_t want;
	} cases[] = {
	    {CFG_BUFFER_TIMEOUT, "365 d", INT64_C(31536000000)},
	    {CFG_BUFFER_TIMEOUT, "31536000000", INT64_C(31536000000)},
	    {CFG_CKP_INTERVAL, "8760 h", INT64_C(31536000000)},
	    {CFG_HEARTBEAT_INTERVAL, "1", 1},
	    {CFG_HEARTBEAT_TIMEOUT, "1 d", 86400000},
	    {CFG_CANCEL_TIMEOUT, "0", 0},
	    {CFG_HANDSHAKE_TIMEOUT, "60 min", 3600000},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg *c = new_cfg();
		int64_t v = -1;
		assert_int_equal(cfg_set(c, cases[i].key, cases[i].value, NULL), 0);
		assert_int_equal(cfg_get_duration_ms(c, cases[i].key, &v), 0);
		assert_int_equal(v, cases[i].want);
		cfg_free(c);
	}
	cfg *c = new_cfg();
	assert_int_equal(cfg_set(c, CFG_HEARTBEAT_FAILURES, "-1", NULL), 0);
	assert_int_equal(get_int(c, CFG_HEARTBEAT_FAILURES), -1);
	assert_int_equal(cfg_set(c, CFG_HEARTBEAT_FAILURES, "1000", NULL), 0);
	assert_int_equal(cfg_set(c, CFG_FLOATING_BUFFERS, "0", NULL), 0);
	assert_int_equal(cfg_set(c, CFG_MAX_CONNECTIONS, "65536", NULL), 0);
	assert_int_equal(cfg_set(c, CFG_MANAGED_SIZE, "16 tb", NULL), 0);
	cfg_free(c);
}

/* ---------------------------------------------------- fraction type */

static void test_fraction_parsing_and_range(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		double want; /* < 0: refused */
	} cases[] = {
	    {"0.1", 0.1},
	    {".1", 0.1},
	    {"1", 1.0},
	    {"0", 0.0},
	    {"1.0", 1.0},
	    {"1.", 1.0},
	    {"0.25", 0.25},
	    {" 0.5 ", 0.5},
	    {"+0.5", 0.5},
	    {"00.10", 0.1},
	    {"0.000", 0.0},
	    {".0", 0.0},
	    /* correctly rounded up to 15 significant digits and 22 decimals */
	    {"0.333333333333333", 0.333333333333333},
	    {"0.000000000000000000123456789012345", 0.000000000000000000123456789012345},
	    {"1.00000000000000000001", 1.0},
	    {"NaN", -1},
	    {"nan", -1},
	    {"inf", -1},
	    {"Infinity", -1},
	    {"-0.1", -1},
	    {"-0", -1},
	    {"1.01", -1},
	    {"2", -1},
	    {"1e-1", -1},
	    {"", -1},
	    {".", -1},
	    {"0.1.2", -1},
	    {"0,1", -1},
	    {"0x1", -1},
	    {"10%", -1},
	    {"+", -1},
	    {"100000000000000000000000000000", -1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg *c = new_cfg();
		cm_err err = {0};
		int rc = cfg_set(c, CFG_NET_FRACTION, cases[i].text, &err);
		double d = -42;
		if (cases[i].want >= 0) {
			if (rc != 0)
				fail_msg("'%s': %s", cases[i].text, err.msg);
			assert_int_equal(cfg_get_double(c, CFG_NET_FRACTION, &d), 0);
			if (d != cases[i].want)
				fail_msg("'%s': got %.17g, want %.17g", cases[i].text, d,
					 cases[i].want);
		} else {
			if (rc != FL_EINVAL)
				fail_msg("'%s': accepted", cases[i].text);
			assert_non_null(strstr(err.msg, "expected a fraction between 0 and 1"));
			assert_false(cfg_is_set(c, CFG_NET_FRACTION));
		}
		cfg_free(c);
	}
	/* Beyond that, within an ulp or so. */
	cfg *c = new_cfg();
	double d;
	assert_int_equal(cfg_set(c, CFG_NET_FRACTION, "0.3333333333333333333333333", NULL), 0);
	assert_int_equal(cfg_get_double(c, CFG_NET_FRACTION, &d), 0);
	assert_true(d - 1.0 / 3 < 1e-16 && d - 1.0 / 3 > -1e-16);
	cm_err err = {0};
	assert_int_equal(cfg_set(c, CFG_NET_FRACTION, "1.5", &err), FL_EINVAL);
	assert_string_equal(err.msg, "invalid value '1.5' for key "
				     "'taskmanager.memory.network.fraction': expected a fraction "
				     "between 0 and 1");
	cm_err_clear(&err);
	assert_int_equal(cfg_set(c, CFG_NET_FRACTION, "nan", &err), FL_EINVAL);
	assert_string_equal(err.msg, "invalid value 'nan' for key "
				     "'taskmanager.memory.network.fraction': expected a fraction "
				     "between 0 and 1 (e.g. 0.1)");
	/* Other getters refuse the type; the fraction getter refuses others. */
	int64_t v;
	assert_int_equal(cfg_get_int(c, CFG_NET_FRACTION, &v), FL_ETYPE);
	assert_int_equal(cfg_get_double(c, CFG_PARALLELISM, &d), FL_ETYPE);
	assert_int_equal(cfg_get_double(c, "no.such.key", &d), FL_ENOENT);
	cfg_free(c);
}

/* ------------------------------------------------------ sensitive values */

static void test_sensitive_keys_as_flink_names_them(void **state)
{
	(void)state;
	assert_true(cfg_is_sensitive(CFG_TOKEN));
	assert_true(cfg_is_sensitive(CFG_TOKEN_FILE));
	assert_true(cfg_is_sensitive("security.ssl.internal.keystore-password"));
	assert_true(cfg_is_sensitive("my.Client.SECRET"));
	assert_true(cfg_is_sensitive("metrics.reporter.x.apiKey"));
	assert_true(cfg_is_sensitive("fs.azure.account.key.acct.blob.core.windows.net"));
	assert_false(cfg_is_sensitive(CFG_PARALLELISM));
	assert_false(cfg_is_sensitive(CFG_TM_HOST));
	assert_false(cfg_is_sensitive("s3.access-key"));
	assert_false(cfg_is_sensitive(NULL));
}

static void test_sensitive_values_are_never_printed(void **state)
{
	(void)state;
	const char *secret = "s3cr3t-Value";
	cfg *c = new_cfg();
	cm_err err = {0};
	struct capture cap;
	capture_start(&cap);

	/* cfg_each, for logging the effective configuration */
	assert_int_equal(cfg_set(c, CFG_TOKEN, secret, NULL), 0);
	assert_int_equal(cfg_set(c, "my.db.password", secret, NULL), 0);
	assert_int_equal(cfg_set(c, CFG_PARALLELISM, "2", NULL), 0);
	struct collected col = {{0}, 0};
	cfg_each(c, collect, &col);
	assert_string_equal(col.text, "my.db.password=******;parallelism.default=2;"
				      "security.internal.token=******;");
	/* the value itself is intact */
	assert_string_equal(cfg_get_raw(c, CFG_TOKEN), secret);
	assert_string_equal(get_str(c, CFG_TOKEN), secret);

	/* -D without '=': key and secret may have run together */
	assert_int_equal(cfg_set_dynamic(c, "security.internal.token:s3cr3t-Value", &err),
			 FL_EINVAL);
	assert_string_equal(err.msg, "invalid -D argument '******': expected key=value");

	/* errors of a file that holds the secret */
	static const char *const files[] = {
	    "security.internal.token: s3cr3t-Value\nsecurity.internal.token: s3cr3t-Value\n",
	    "security:\n  internal:\n    token: [s3cr3t-Value]\n",
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		cm_err_clear(&err);
		assert_true(cfg_load_string(c, files[i], strlen(files[i]), "f", &err) < 0);
		if (strstr(err.msg, secret))
			fail_msg("'%s' shows the secret", err.msg);
	}
	char *out = capture_stop(&cap);
	assert_null(strstr(out, secret)); /* nor in warnings */
	free(out);
	cfg_free(c);
}

/* ------------------------------------------------- duration and memory */

struct parse_case {
	const char *text;
	int rc;
	int64_t want;
};

static void test_duration_parsing_table(void **state)
{
	(void)state;
	static const struct parse_case cases[] = {
	    {"100 ms", 0, 100},
	    {"100ms", 0, 100},
	    {"500", 0, 500},
	    {"0", 0, 0},
	    {"1 s", 0, 1000},
	    {"1s", 0, 1000},
	    {"2 min", 0, 120000},
	    {"2min", 0, 120000},
	    {"2 m", 0, 120000},
	    {"1 h", 0, 3600000},
	    {"1 d", 0, 86400000},
	    {"1 MS", 0, 1},
	    {"5 Seconds", 0, 5000},
	    {"3 milli", 0, 3},
	    {"3 millis", 0, 3},
	    {"1 millisecond", 0, 1},
	    {"2 milliseconds", 0, 2},
	    {"1 sec", 0, 1000},
	    {"2 secs", 0, 2000},
	    {"1 second", 0, 1000},
	    {"1 minute", 0, 60000},
	    {"3 minutes", 0, 180000},
	    {"1 hour", 0, 3600000},
	    {"2 hours", 0, 7200000},
	    {"1 day", 0, 86400000},
	    {"7 days", 0, 604800000},
	    {"  10   s  ", 0, 10000},
	    {"007s", 0, 7000},
	    {"9223372036854775807", 0, INT64_MAX},
	    {"9223372036854775807 ms", 0, INT64_MAX},
	    {"106751991167 d", 0, INT64_C(106751991167) * 86400000},
	    {"", FL_EINVAL, 0},
	    {"   ", FL_EINVAL, 0},
	    {"ms", FL_EINVAL, 0},
	    {"-1", FL_EINVAL, 0},
	    {"-1 s", FL_EINVAL, 0},
	    {"+1 s", FL_EINVAL, 0},
	    {"1.5 s", FL_EINVAL, 0},
	    {"1 week", FL_EINVAL, 0},
	    {"1 ns", FL_EINVAL, 0},
	    {"abc", FL_EINVAL, 0},
	    {"1 s x", FL_EINVAL, 0},
	    {"1 s 2 ms", FL_EINVAL, 0},
	    {"0x10", FL_EINVAL, 0},
	    {"9223372036854775808", FL_EINVAL, 0},
	    {"99999999999999999999 ms", FL_EINVAL, 0},
	    {"9223372036854775807 s", FL_EINVAL, 0},
	    {"106751991168 d", FL_EINVAL, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = -42;
		int rc = cfg_parse_duration_ms(cases[i].text, &v);
		if (rc != cases[i].rc)
			fail_msg("'%s': got rc %d, want %d", cases[i].text, rc, cases[i].rc);
		if (rc == 0 && v != cases[i].want)
			fail_msg("'%s': got %lld, want %lld", cases[i].text, (long long)v,
				 (long long)cases[i].want);
		if (rc != 0 && v != -42)
			fail_msg("'%s': output written on error", cases[i].text);
	}
	int64_t v;
	assert_int_equal(cfg_parse_duration_ms(NULL, &v), FL_EINVAL);
}

#define KIB INT64_C(1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define TIB (GIB * 1024)

static void test_memory_parsing_table(void **state)
{
	(void)state;
	static const struct parse_case cases[] = {
	    {"0", 0, 0},
	    {"100", 0, 100},
	    {"100 b", 0, 100},
	    {"100b", 0, 100},
	    {"100 bytes", 0, 100},
	    {"32kb", 0, 32 * KIB},
	    {"32 kb", 0, 32 * KIB},
	    {"32k", 0, 32 * KIB},
	    {"32 KB", 0, 32 * KIB},
	    {"32 KiB", 0, 32 * KIB},
	    {"1 kibibytes", 0, KIB},
	    {"64m", 0, 64 * MIB},
	    {"64 mb", 0, 64 * MIB},
	    {"64 MiB", 0, 64 * MIB},
	    {"2 mebibytes", 0, 2 * MIB},
	    {"1 gb", 0, GIB},
	    {"1G", 0, GIB},
	    {"1 gibibytes", 0, GIB},
	    {"1 GiB", 0, GIB},
	    {"1t", 0, TIB},
	    {"2 TB", 0, 2 * TIB},
	    {"1 tebibytes", 0, TIB},
	    {"1 tib", 0, TIB},
	    {"  16  mb ", 0, 16 * MIB},
	    {"9223372036854775807", 0, INT64_MAX},
	    {"9223372036854775807 b", 0, INT64_MAX},
	    {"8388607 tb", 0, INT64_C(8388607) * TIB},
	    {"infinite", 0, INT64_MAX}, /* Flink's spelling of MemorySize.MAX_VALUE */
	    {"INFINITE", 0, INT64_MAX},
	    {" Infinite ", 0, INT64_MAX},
	    {"infinity", FL_EINVAL, 0},
	    {"inf", FL_EINVAL, 0},
	    {"infinite b", FL_EINVAL, 0},
	    {"", FL_EINVAL, 0},
	    {"kb", FL_EINVAL, 0},
	    {"-1", FL_EINVAL, 0},
	    {"-1 kb", FL_EINVAL, 0},
	    {"1.5mb", FL_EINVAL, 0},
	    {"1 pb", FL_EINVAL, 0},
	    {"1 kbb", FL_EINVAL, 0},
	    {"1 mb 2", FL_EINVAL, 0},
	    {"lots", FL_EINVAL, 0},
	    {"8388608 tb", FL_EINVAL, 0},
	    {"9223372036854775808", FL_EINVAL, 0},
	    {"9223372036854775807 k", FL_EINVAL, 0},
	    {"18446744073709551616 b", FL_EINVAL, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = -42;
		int rc = cfg_parse_memory_bytes(cases[i].text, &v);
		if (rc != cases[i].rc)
			fail_msg("'%s': got rc %d, want %d", cases[i].text, rc, cases[i].rc);
		if (rc == 0 && v != cases[i].want)
			fail_msg("'%s': got %lld, want %lld", cases[i].text, (long long)v,
				 (long long)cases[i].want);
		if (rc != 0 && v != -42)
			fail_msg("'%s': output written on error", cases[i].text);
	}
	int64_t v;
	assert_int_equal(cfg_parse_memory_bytes(NULL, &v), FL_EINVAL);
}

/* ---------------------------------------------------------------- -D */

static void test_dynamic_splits_at_first_equals(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	struct capture cap;
	capture_start(&cap);
	assert_int_equal(cfg_set_dynamic(c, "a=b=c", NULL), 0);
	free(capture_stop(&cap));
	assert_string_equal(cfg_get_raw(c, "a"), "b=c");
	assert_int_equal(cfg_set_dynamic(c, "parallelism.default=6", NULL), 0);
	assert_int_equal(get_int(c, CFG_PARALLELISM), 6);
	assert_int_equal(cfg_set_dynamic(c, "rest.address=", NULL), 0);
	assert_true(cfg_is_set(c, CFG_REST_ADDRESS));
	assert_string_equal(get_str(c, CFG_REST_ADDRESS), "");
	cfg_free(c);
}

static void test_dynamic_without_equals_is_einval(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	cm_err err = {0};
	assert_int_equal(cfg_set_dynamic(c, "parallelism.default", &err), FL_EINVAL);
	assert_string_equal(err.msg,
			    "invalid -D argument 'parallelism.default': expected key=value");
	cm_err_clear(&err);
	assert_int_equal(cfg_set_dynamic(c, "=4", &err), FL_EINVAL);
	assert_string_equal(err.msg, "invalid -D argument '=4': the key before '=' is empty");
	assert_int_equal(cfg_set_dynamic(c, "", NULL), FL_EINVAL);
	cfg_free(c);
}

static void test_dynamic_bad_value_names_key_and_origin(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	cm_err err = {0};
	assert_int_equal(cfg_set_dynamic(c, "parallelism.default=abc", &err), FL_EINVAL);
	assert_string_equal(err.msg, "invalid value 'abc' for key 'parallelism.default' (-D): "
				     "expected an integer between 1 and 32768");
	cm_err_clear(&err);
	assert_int_equal(cfg_set_dynamic(c, "parallelism.default=", &err), FL_EINVAL);
	cfg_free(c);
}

/* ------------------------------------------------------ unknown keys */

static void test_unknown_key_warns_with_nearest(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	struct capture cap;
	capture_start(&cap);
	assert_int_equal(cfg_set(c, "taskmanager.numberOfTaskSlot", "2", NULL), 0);
	char *out = capture_stop(&cap);
	assert_matches(out, "^[0-9T:.Z-]+ WARN  config Unknown configuration key "
			    "'taskmanager\\.numberOfTaskSlot' \\(did you mean "
			    "'taskmanager\\.numberOfTaskSlots'\\?\\)\n$");
	free(out);
	/* Stored as given, and the known key is untouched. */
	assert_string_equal(cfg_get_raw(c, "taskmanager.numberOfTaskSlot"), "2");
	assert_false(cfg_is_set(c, CFG_TM_SLOTS));
	cfg_free(c);
}

static void test_nearest_key_suggested_within_quarter_of_length(void **state)
{
	(void)state;
	static const struct {
		const char *key;
		const char *hint; /* NULL: no hint */
	} cases[] = {
	    {"parallelism.defualt", "parallelism.default"}, /* distance 2 */
	    {"rest.prt", "rest.port"},			    /* short key, distance 1 */
	    {"rest.pt", "rest.port"},			    /* distance 2 = minimum limit */
	    {"rest.p", NULL},				    /* distance 3 > 2 */
	    {"taskmanager.numberoftaskslots", "taskmanager.numberOfTaskSlots"},
	    {"state.checkpoint.dir", "state.checkpoints.dir"},
	    {"execution.runtime.mode", "execution.runtime-mode"},
	    {"my.custom.thing", NULL},
	    {"x", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg *c = new_cfg();
		struct capture cap;
		capture_start(&cap);
		assert_int_equal(cfg_set(c, cases[i].key, "1", NULL), 0);
		char *out = capture_stop(&cap);
		char want[512];
		if (cases[i].hint)
			snprintf(want, sizeof(want),
				 "Unknown configuration key '%s' (did you mean '%s'?)\n",
				 cases[i].key, cases[i].hint);
		else
			snprintf(want, sizeof(want), "Unknown configuration key '%s'\n",
				 cases[i].key);
		if (!strstr(out, want))
			fail_msg("key '%s': got '%s', want '%s'", cases[i].key, out, want);
		free(out);
		cfg_free(c);
	}
}

static void test_flink_only_keys_accepted_silently(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	struct capture cap;
	capture_start(&cap);
	assert_int_equal(cfg_set(c, "env.java.opts.all", "-Xmx1g", NULL), 0);
	assert_int_equal(cfg_set(c, "env.java.home", "/usr/lib/jvm", NULL), 0);
	assert_int_equal(cfg_set(c, "kubernetes.namespace", "flink", NULL), 0);
	assert_int_equal(cfg_set(c, CFG_PARALLELISM, "2", NULL), 0);
	char *out = capture_stop(&cap);
	assert_string_equal(out, "");
	free(out);
	assert_string_equal(cfg_get_raw(c, "kubernetes.namespace"), "flink");
	cfg_free(c);
}

/* ------------------------------------------------------------ storage */

static void test_each_iterates_set_keys_in_sorted_order(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	assert_int_equal(cfg_set(c, CFG_REST_PORT, "9000", NULL), 0);
	assert_int_equal(cfg_set(c, CFG_PARALLELISM, "2", NULL), 0);
	assert_int_equal(cfg_set(c, CFG_TM_SLOTS, "3", NULL), 0);
	assert_int_equal(cfg_set(c, CFG_CKP_INTERVAL, "10 s", NULL), 0);
	assert_int_equal(cfg_set(c, CFG_PARALLELISM, "5", NULL), 0);
	struct collected col = {{0}, 0};
	cfg_each(c, collect, &col);
	assert_int_equal(col.n, 4);
	assert_string_equal(col.text, "execution.checkpointing.interval=10 s;parallelism.default=5;"
				      "rest.port=9000;taskmanager.numberOfTaskSlots=3;");
	cfg_free(c);
}

static void test_clone_is_deep(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	assert_int_equal(cfg_set(c, CFG_PARALLELISM, "2", NULL), 0);
	cfg *d = NULL;
	assert_int_equal(cfg_clone(c, &d), 0);
	assert_int_equal(cfg_set(c, CFG_PARALLELISM, "3", NULL), 0);
	assert_int_equal(cfg_set(d, CFG_TM_SLOTS, "4", NULL), 0);
	assert_int_equal(get_int(d, CFG_PARALLELISM), 2);
	assert_false(cfg_is_set(c, CFG_TM_SLOTS));
	cfg_free(c);
	assert_int_equal(get_int(d, CFG_TM_SLOTS), 4);
	cfg_free(d);
	cfg *e = new_cfg(), *f = NULL;
	assert_int_equal(cfg_clone(e, &f), 0); /* an empty one too */
	cfg_free(e);
	cfg_free(f);
}

static void test_key_and_value_length_caps(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	char key[300];
	memset(key, 'k', sizeof(key));
	key[256] = '\0';
	struct capture cap;
	capture_start(&cap);
	assert_int_equal(cfg_set(c, key, "v", NULL), 0);
	key[256] = 'k';
	key[257] = '\0';
	cm_err err = {0};
	assert_int_equal(cfg_set(c, key, "v", &err), FL_ERANGE);
	assert_non_null(strstr(err.msg, "longer than 256 bytes"));
	assert_int_equal(cfg_set(c, "", "v", NULL), FL_EINVAL);

	size_t vmax = 64 * 1024;
	char *val = malloc(vmax + 2);
	assert_non_null(val);
	memset(val, 'v', vmax + 1);
	val[vmax] = '\0';
	assert_int_equal(cfg_set(c, CFG_CKP_DIR, val, NULL), 0);
	val[vmax] = 'v';
	val[vmax + 1] = '\0';
	cm_err_clear(&err);
	assert_int_equal(cfg_set(c, CFG_SP_DIR, val, &err), FL_ERANGE);
	assert_string_equal(err.msg, "value for key 'state.savepoints.dir' is longer than 65536 "
				     "bytes");
	free(val);
	free(capture_stop(&cap));
	cfg_free(c);
}

static void test_number_of_keys_is_capped(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	cm_log_set_level(CM_LOG_ERROR); /* 10000 unknown-key warnings */
	char key[32];
	int rc = 0, i;
	for (i = 0; i < 20000 && rc == 0; i++) {
		snprintf(key, sizeof(key), "k%05d", i);
		rc = cfg_set(c, key, "v", NULL);
	}
	cm_log_set_level(CM_LOG_INFO);
	assert_int_equal(rc, FL_ERANGE);
	assert_int_equal(i, 10001);
	/* Replacing an existing key is still fine at the cap. */
	assert_int_equal(cfg_set(c, "k00000", "w", NULL), 0);
	cfg_free(c);
}

/* --------------------------------------------------------------- YAML */

static void test_nested_and_flat_keys_merge(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	cm_err err = {0};
	int rc = load_text(c,
			   "# flinc configuration\n"
			   "taskmanager.numberOfTaskSlots: 4\n"
			   "taskmanager:\n"
			   "  memory:\n"
			   "    segment-size: 64kb\n"
			   "    managed.size: 1 gb\n"
			   "  data.port: 7000\n"
			   "parallelism: {default: 3}\n"
			   "execution:\n"
			   "  runtime-mode: batch\n"
			   "  checkpointing:\n"
			   "    interval: 10 s\n"
			   "rest.port: 9091\n",
			   &err, NULL);
	assert_int_equal(rc, 0);
	assert_int_equal(err.code, 0);
	int64_t v;
	assert_int_equal(get_int(c, CFG_TM_SLOTS), 4);
	assert_int_equal(cfg_get_memory_bytes(c, CFG_SEGMENT_SIZE, &v), 0);
	assert_int_equal(v, 64 * 1024);
	assert_int_equal(cfg_get_memory_bytes(c, CFG_MANAGED_SIZE, &v), 0);
	assert_int_equal(v, INT64_C(1) << 30);
	assert_int_equal(get_int(c, CFG_TM_DATA_PORT), 7000);
	assert_int_equal(get_int(c, CFG_PARALLELISM), 3);
	assert_string_equal(get_str(c, CFG_RUNTIME_MODE), "BATCH");
	assert_int_equal(cfg_get_duration_ms(c, CFG_CKP_INTERVAL, &v), 0);
	assert_int_equal(v, 10000);
	assert_int_equal(get_int(c, CFG_REST_PORT), 9091);
	struct collected col = {{0}, 0};
	cfg_each(c, collect, &col);
	assert_int_equal(col.n, 8);
	cfg_free(c);
}

/* A file overrides what was set before it, and -D overrides the file. */
static void test_file_overrides_earlier_values_and_dynamic_overrides_file(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	assert_int_equal(cfg_set(c, CFG_PARALLELISM, "9", NULL), 0);
	cm_err err = {0};
	assert_int_equal(load_text(c, "parallelism:\n  default: 5\n", &err, NULL), 0);
	assert_int_equal(get_int(c, CFG_PARALLELISM), 5);
	/* Another file is no duplicate of the first. */
	assert_int_equal(load_text(c, "parallelism.default: 6\n", &err, NULL), 0);
	assert_int_equal(get_int(c, CFG_PARALLELISM), 6);
	assert_int_equal(cfg_set_dynamic(c, "parallelism.default=7", &err), 0);
	assert_int_equal(get_int(c, CFG_PARALLELISM), 7);
	/* The same -D key twice: the last wins, as in Flink's CLI. */
	assert_int_equal(cfg_set_dynamic(c, "parallelism.default=8", &err), 0);
	assert_int_equal(get_int(c, CFG_PARALLELISM), 8);
	cfg_free(c);
}

static void test_duplicate_key_in_file_names_both_positions(void **state)
{
	(void)state;
	static const struct {
		const char *yaml;
		const char *want;
	} cases[] = {
	    {"a.b: 1\nx: 2\na.b: 3\n", "f:3:1: duplicate key 'a.b' (first set at f:1:1)"},
	    {"a.b: 1\na: {b: 2}\n", "f:2:5: duplicate key 'a.b' (first set at f:1:1)"},
	    {"a:\n  b: 1\na.b: 2\n", "f:3:1: duplicate key 'a.b' (first set at f:2:3)"},
	    {"x:\n  y:\n    z: 1\nx.y:\n  z: 2\n",
	     "f:5:3: duplicate key 'x.y.z' (first set at f:3:5)"},
	    {"a: {b: 1, b: 2}\n", "f:1:11: duplicate key 'a.b' (first set at f:1:5)"},
	    /* a null value counts: the key was given */
	    {"parallelism.default:\nparallelism.default: 2\n",
	     "f:2:1: duplicate key 'parallelism.default' (first set at f:1:1)"},
	    {"parallelism.default: 2\nparallelism.default: ~\n",
	     "f:2:1: duplicate key 'parallelism.default' (first set at f:1:1)"},
	    /* a map-valued key twice in one map, as Flink's YAML parser refuses */
	    {"taskmanager:\n  numberOfTaskSlots: 2\ntaskmanager:\n  host: h\n",
	     "f:3:1: duplicate key 'taskmanager' (first set at f:1:1)"},
	    {"a: 1\na: {b: 1}\n", "f:2:1: duplicate key 'a' (first set at f:1:1)"},
	    {"a: {b: 1}\na: 2\n", "f:2:1: duplicate key 'a' (first set at f:1:1)"},
	    {"a.b: {c: 1}\na: {b: {d: 1}, b: {e: 1}}\n",
	     "f:2:16: duplicate key 'a.b' (first set at f:2:5)"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg *c = new_cfg();
		cm_err err = {0};
		struct capture cap;
		capture_start(&cap); /* unknown-key warnings */
		int rc = cfg_load_string(c, cases[i].yaml, strlen(cases[i].yaml), "f", &err);
		free(capture_stop(&cap));
		if (rc != FL_EPROTO || strcmp(err.msg, cases[i].want) != 0)
			fail_msg("'%s': rc %d, '%s', want '%s'", cases[i].yaml, rc, err.msg,
				 cases[i].want);
		/* Nothing of a refused file is kept. */
		struct collected col = {{0}, 0};
		cfg_each(c, collect, &col);
		assert_int_equal(col.n, 0);
		cfg_free(c);
	}
}

/* Maps under the same key in different maps merge; keys differ. */
static void test_same_map_key_in_different_maps_merges(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	cm_err err = {0};
	struct capture cap;
	capture_start(&cap);
	const char *y = "taskmanager.memory:\n  segment-size: 64kb\n"
			"taskmanager:\n  memory:\n    managed.size: 1gb\n  numberOfTaskSlots: 2\n"
			"a.b: 1\na: {b: {c: 2}}\n";
	int rc = cfg_load_string(c, y, strlen(y), "f", &err);
	free(capture_stop(&cap));
	assert_int_equal(rc, 0);
	int64_t v;
	assert_int_equal(cfg_get_memory_bytes(c, CFG_SEGMENT_SIZE, &v), 0);
	assert_int_equal(v, 64 * 1024);
	assert_int_equal(cfg_get_memory_bytes(c, CFG_MANAGED_SIZE, &v), 0);
	assert_int_equal(v, INT64_C(1) << 30);
	assert_int_equal(get_int(c, CFG_TM_SLOTS), 2);
	assert_string_equal(cfg_get_raw(c, "a.b"), "1");
	assert_string_equal(cfg_get_raw(c, "a.b.c"), "2");
	cfg_free(c);
}

static void test_keys_in_one_file_are_capped(void **state)
{
	(void)state;
	/* 10001 keys with null values: nothing is stored, yet each is kept to
	 * find duplicates, so the count is capped. */
	size_t n = 10001;
	char *text = malloc(n * 10 + 1);
	assert_non_null(text);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += (size_t)sprintf(text + k, "k%06zu:\n", i);
	cfg *c = new_cfg();
	cm_err err = {0};
	assert_int_equal(cfg_load_string(c, text, k, "f", &err), FL_ERANGE);
	assert_string_equal(err.msg, "f:10001:1: more than 10000 keys in one file");
	assert_int_equal(cfg_load_string(c, text, k - 9, "f", &err), 0); /* one line less */
	free(text);
	cfg_free(c);
}

static void test_yaml_scalars_are_strings_validated_per_key(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	cm_err err = {0};
	assert_int_equal(load_text(c,
				   "parallelism.default: \"4\"\n"
				   "rest.address: '0.0.0.0'\n"
				   "jobmanager.rpc.address: 12345\n"
				   "state.checkpoints.dir: true\n"
				   "taskmanager.host: !!str host-1\n"
				   "execution.buffer-timeout: 0\n",
				   &err, NULL),
			 0);
	assert_int_equal(get_int(c, CFG_PARALLELISM), 4);
	assert_string_equal(get_str(c, CFG_REST_ADDRESS), "0.0.0.0");
	assert_string_equal(get_str(c, CFG_JM_RPC_ADDRESS), "12345");
	assert_string_equal(get_str(c, CFG_CKP_DIR), "true");
	assert_string_equal(get_str(c, CFG_TM_HOST), "host-1");
	cfg_free(c);
}

static void test_null_value_resets_key_to_default(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	assert_int_equal(cfg_set(c, CFG_PARALLELISM, "9", NULL), 0);
	assert_int_equal(cfg_set(c, CFG_TM_SLOTS, "9", NULL), 0);
	cm_err err = {0};
	assert_int_equal(
	    load_text(c, "parallelism.default:\ntaskmanager.numberOfTaskSlots: ~\n", &err, NULL),
	    0);
	assert_false(cfg_is_set(c, CFG_PARALLELISM));
	assert_false(cfg_is_set(c, CFG_TM_SLOTS));
	assert_int_equal(get_int(c, CFG_PARALLELISM), 1);
	cfg_free(c);
}

static void test_unknown_key_in_file_warns_with_nearest(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	cm_err err = {0};
	struct capture cap;
	capture_start(&cap);
	int rc = load_text(c, "taskmanager:\n  numberOfTaskSlot: 2\nmy.own.key: x\n", &err, NULL);
	char *out = capture_stop(&cap);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "WARN  config Unknown configuration key "
				    "'taskmanager.numberOfTaskSlot' (did you mean "
				    "'taskmanager.numberOfTaskSlots'?)\n"));
	assert_non_null(strstr(out, "Unknown configuration key 'my.own.key'\n"));
	free(out);
	assert_string_equal(cfg_get_raw(c, "my.own.key"), "x");
	cfg_free(c);
}

static void test_bad_value_in_file_names_file_line_column(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	cm_err err = {0};
	char *path;
	int rc =
	    load_text(c, "# comment\nrest.port: 8081\nparallelism.default: abc\n", &err, &path);
	assert_int_equal(rc, FL_EINVAL);
	assert_int_equal(err.code, FL_EINVAL);
	char want[512];
	snprintf(want, sizeof(want),
		 "invalid value 'abc' for key 'parallelism.default' (%s:3:22): expected an "
		 "integer between 1 and 32768",
		 path);
	assert_string_equal(err.msg, want);
	cm_err_clear(&err);
	rc = load_text(c, "execution:\n  runtime-mode:   fast\n", &err, NULL);
	assert_int_equal(rc, FL_EINVAL);
	assert_non_null(strstr(err.msg, "for key 'execution.runtime-mode' ("));
	assert_non_null(strstr(err.msg, ":2:19): expected one of STREAMING, BATCH, AUTOMATIC"));
	drop_file(path);
	cfg_free(c);
}

/* libyaml finds the syntax error only after the value before it was read
 * (the badly indented line is swallowed into that plain scalar): the
 * syntax error must still be the error reported. */
static void test_syntax_error_wins_over_the_value_before_it(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	cm_err err = {0};
	char *path;
	int rc = load_text(c, "parallelism.default: 2\n  taskmanager: 1\n", &err, &path);
	assert_int_equal(rc, FL_EPROTO);
	char want[512];
	snprintf(want, sizeof(want), "%s:2:14: mapping values are not allowed in this context",
		 path);
	assert_string_equal(err.msg, want);
	drop_file(path);
	cfg_free(c);
}

static void test_malformed_yaml_names_line_and_column(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	cm_err err = {0};
	char *path;
	int rc = load_text(c, "rest.port: 8081\njobmanager.rpc.address: x\n  bad: indent\n", &err,
			   &path);
	assert_int_equal(rc, FL_EPROTO);
	char want[512];
	snprintf(want, sizeof(want), "%s:3:6: mapping values are not allowed in this context",
		 path);
	assert_string_equal(err.msg, want);
	drop_file(path);

	cm_err_clear(&err);
	rc = load_text(c, "a: {b: 1\nc: 2\n", &err, &path);
	assert_int_equal(rc, FL_EPROTO);
	snprintf(want, sizeof(want),
		 "^%s:[0-9]+:[0-9]+: .+ \\(while parsing a flow mapping at 1:4\\)$", path);
	assert_matches(err.msg, want);
	drop_file(path);

	cm_err_clear(&err);
	rc = load_text(c, "a: \"unterminated\n", &err, &path);
	assert_int_equal(rc, FL_EPROTO);
	snprintf(want, sizeof(want), "^%s:[0-9]+:[0-9]+: found unexpected end of stream", path);
	assert_matches(err.msg, want);
	drop_file(path);
	cfg_free(c);
}

static void test_invalid_utf8_names_line_and_column(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	cm_err err = {0};
	char *path;
	int rc = load_text(c, "a: 1\nb: x\xff\n", &err, &path);
	assert_int_equal(rc, FL_EPROTO);
	char want[512];
	snprintf(want, sizeof(want), "^%s:2:5: invalid", path);
	assert_matches(err.msg, want);
	drop_file(path);
	cfg_free(c);
}

static void test_sequence_value_is_eproto_naming_position(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	cm_err err = {0};
	char *path;
	int rc = load_text(c, "rest.port: 1\npipeline:\n  jars:\n    - a.jar\n    - b.jar\n", &err,
			   &path);
	assert_int_equal(rc, FL_EPROTO);
	char want[512];
	snprintf(want, sizeof(want),
		 "%s:4:5: key 'pipeline.jars' has a sequence (list) value; only scalars and maps "
		 "are supported",
		 path);
	assert_string_equal(err.msg, want);
	drop_file(path);
	cm_err_clear(&err);
	assert_int_equal(load_text(c, "a: [1, 2]\n", &err, NULL), FL_EPROTO);
	cfg_free(c);
}

static void test_document_that_is_not_a_map_is_eproto(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	cm_err err = {0};
	char *path;
	assert_int_equal(load_text(c, "# top\n- a\n- b\n", &err, &path), FL_EPROTO);
	char want[512];
	snprintf(want, sizeof(want),
		 "%s:2:1: the document is a sequence, not a map of "
		 "configuration keys",
		 path);
	assert_string_equal(err.msg, want);
	drop_file(path);
	cm_err_clear(&err);
	assert_int_equal(load_text(c, "just a string\n", &err, &path), FL_EPROTO);
	snprintf(want, sizeof(want),
		 "%s:1:1: the document is a scalar, not a map of "
		 "configuration keys",
		 path);
	assert_string_equal(err.msg, want);
	drop_file(path);
	cfg_free(c);
}

static void test_multiple_documents_refused(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	cm_err err = {0};
	assert_int_equal(load_text(c, "a: 1\n---\nb: 2\n", &err, NULL), FL_EPROTO);
	assert_non_null(strstr(err.msg, ":2:1: more than one YAML document"));
	assert_null(cfg_get_raw(c, "a"));
	cfg_free(c);
}

static void test_aliases_refused(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	cm_err err = {0};
	assert_int_equal(load_text(c, "a: &x 1\nb: *x\n", &err, NULL), FL_EPROTO);
	assert_non_null(strstr(err.msg, ":2:4: YAML aliases (*name) are not supported"));
	cfg_free(c);
}

static void test_complex_key_refused(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	cm_err err = {0};
	assert_int_equal(load_text(c, "? [a, b]\n: 1\n", &err, NULL), FL_EPROTO);
	assert_non_null(strstr(err.msg, "a map or sequence as a key is not supported"));
	cm_err_clear(&err);
	assert_int_equal(load_text(c, "\"\": 1\n", &err, NULL), FL_EPROTO);
	assert_non_null(strstr(err.msg, ":1:1: empty key"));
	cfg_free(c);
}

static void test_empty_and_comment_only_files_set_nothing(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	cm_err err = {0};
	assert_int_equal(load_text(c, "", &err, NULL), 0);
	assert_int_equal(load_text(c, "# nothing here\n\n# at all\n", &err, NULL), 0);
	assert_int_equal(load_text(c, "---\n", &err, NULL), 0);
	assert_int_equal(load_text(c, "{}\n", &err, NULL), 0);
	struct collected col = {{0}, 0};
	cfg_each(c, collect, &col);
	assert_int_equal(col.n, 0);
	cfg_free(c);
}

static void test_nested_key_longer_than_cap_is_erange(void **state)
{
	(void)state;
	/* 30 levels of 9 characters + '.' make a 299-byte key. */
	char text[4096] = "";
	size_t n = 0;
	for (int i = 0; i < 30; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%*sabcdefghi:\n", i * 2, "");
	snprintf(text + n, sizeof(text) - n, "%*sz: 1\n", 60, "");
	cfg *c = new_cfg();
	cm_err err = {0};
	assert_int_equal(load_text(c, text, &err, NULL), FL_ERANGE);
	assert_non_null(strstr(err.msg, "configuration key is longer than 256 bytes"));
	cfg_free(c);
}

/* Text of n copies of unit, then tail, then a newline (malloc'd). */
static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
	size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
	char *s = malloc(hl + ul * n + tl + 2);
	assert_non_null(s);
	memcpy(s, head, hl);
	for (size_t i = 0; i < n; i++)
		memcpy(s + hl + i * ul, unit, ul);
	memcpy(s + hl + ul * n, tail, tl);
	strcpy(s + hl + ul * n + tl, "\n");
	return s;
}

static int load_str(cfg *c, const char *text, cm_err *err)
{
	cm_err_clear(err);
	return cfg_load_string(c, text, strlen(text), "deep", err);
}

/* "a: {" n times, "z: 1", n closing braces and a newline (malloc'd). */
static char *nested_flow(size_t n)
{
	char *s = malloc(4 * n + 4 + n + 2);
	assert_non_null(s);
	size_t k = 0;
	for (size_t i = 0; i < n; i++, k += 4)
		memcpy(s + k, "a: {", 4);
	memcpy(s + k, "z: 1", 4);
	k += 4;
	memset(s + k, '}', n);
	strcpy(s + k + n, "\n");
	return s;
}

/* 64 levels of maps load (the root counts as one); the 65th is refused. */
static void test_nesting_up_to_64_levels_is_accepted(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	cm_err err = {0};
	char *text = nested_flow(63);
	assert_int_equal(load_str(c, text, &err), 0);
	free(text);
	char key[256] = "";
	for (int i = 0; i < 63; i++)
		strcat(key, "a.");
	strcat(key, "z");
	assert_string_equal(cfg_get_raw(c, key), "1");

	text = nested_flow(64);
	assert_int_equal(load_str(c, text, &err), FL_EPROTO);
	assert_string_equal(err.msg, "deep:1:256: maps nested too deeply (more than 64 levels)");
	free(text);

	/* Block style: one map per line, each indented one more. */
	char block[8192] = "";
	size_t n = 0;
	for (int i = 0; i < 64; i++)
		n += (size_t)snprintf(block + n, sizeof(block) - n, "%*sb:\n", i, "");
	snprintf(block + n, sizeof(block) - n, "%*sz: 1\n", 64, "");
	assert_int_equal(load_str(c, block, &err), FL_EPROTO);
	assert_string_equal(err.msg, "deep:65:65: maps nested too deeply (more than 64 levels)");
	/* One level less is fine. */
	n = 0;
	for (int i = 0; i < 63; i++)
		n += (size_t)snprintf(block + n, sizeof(block) - n, "%*sb:\n", i, "");
	snprintf(block + n, sizeof(block) - n, "%*sz: 1\n", 63, "");
	assert_int_equal(load_str(c, block, &err), 0);
	cfg_free(c);
}

/* libyaml's time grows with the square of flow nesting: these took minutes
 * before the first pass counted levels. ctest's timeout catches a hang. */
static void test_deep_flow_nesting_is_refused_at_once(void **state)
{
	(void)state;
	static const struct {
		const char *head, *unit;
		size_t n;
		const char *want;
	} cases[] = {
	    /* one brace short of the 1 MiB cap, with the newline */
	    {"", "{", 1048000, "deep:1:65: maps nested too deeply (more than 64 levels)"},
	    {"", "{", 40000, "deep:1:65: maps nested too deeply (more than 64 levels)"},
	    {"a: ", "{b: ", 50000, "deep:1:256: maps nested too deeply (more than 64 levels)"},
	    {"", "[", 50000, "deep:1:65: sequences nested too deeply (more than 64 levels)"},
	    {"a: ", "[", 50000, "deep:1:67: sequences nested too deeply (more than 64 levels)"},
	    {"a: ", "[{b: ", 50000, "deep:1:160: maps nested too deeply (more than 64 levels)"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg *c = new_cfg();
		cm_err err = {0};
		char *text = repeat(cases[i].head, cases[i].unit, cases[i].n, "");
		int rc = load_str(c, text, &err);
		if (rc != FL_EPROTO || strcmp(err.msg, cases[i].want) != 0)
			fail_msg("%s%s x %zu: rc %d, '%s'", cases[i].head, cases[i].unit,
				 cases[i].n, rc, err.msg);
		free(text);
		cfg_free(c);
	}
}

/* The same through a file, as the CLI reads it. */
static void test_deep_nesting_in_a_file_names_its_position(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	cm_err err = {0};
	char *text = repeat("", "{", 1048000, "");
	char *path;
	assert_int_equal(load_text(c, text, &err, &path), FL_EPROTO);
	char want[512];
	snprintf(want, sizeof(want), "%s:1:65: maps nested too deeply (more than 64 levels)", path);
	assert_string_equal(err.msg, want);
	drop_file(path);
	free(text);
	cfg_free(c);
}

static void test_load_error_leaves_config_unchanged(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	assert_int_equal(cfg_set(c, CFG_PARALLELISM, "7", NULL), 0);
	assert_int_equal(cfg_set(c, CFG_REST_PORT, "9000", NULL), 0);
	static const char *const bad[] = {
	    /* good keys first, then a bad value */
	    "parallelism.default: 2\nrest.port:\ntaskmanager.numberOfTaskSlots: 3\n"
	    "pipeline.max-parallelism: 0\n",
	    /* good keys, then malformed YAML */
	    "parallelism.default: 2\ntaskmanager.numberOfTaskSlots: 3\n  x: : y\n",
	    /* good keys, then a sequence */
	    "parallelism.default: 2\ntaskmanager.numberOfTaskSlots: 3\nx: [1]\n",
	    /* good keys, then one of them again */
	    "parallelism.default: 2\ntaskmanager.numberOfTaskSlots: 3\nparallelism:\n  default: "
	    "2\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cm_err err = {0};
		assert_true(load_text(c, bad[i], &err, NULL) < 0);
		assert_int_equal(get_int(c, CFG_PARALLELISM), 7);
		assert_int_equal(get_int(c, CFG_REST_PORT), 9000);
		assert_false(cfg_is_set(c, CFG_TM_SLOTS));
		struct collected col = {{0}, 0};
		cfg_each(c, collect, &col);
		assert_int_equal(col.n, 2);
	}
	cfg_free(c);
}

static void test_load_string_names_origin(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	cm_err err = {0};
	const char *y = "rest:\n  port: 99999\n";
	assert_int_equal(cfg_load_string(c, y, strlen(y), "inline", &err), FL_EINVAL);
	assert_string_equal(err.msg, "invalid value '99999' for key 'rest.port' (inline:2:9): "
				     "expected an integer between 0 and 65535");
	y = "rest.port: 9999\nignored-after-len: 1\n";
	assert_int_equal(cfg_load_string(c, y, 16, "inline", NULL), 0);
	assert_int_equal(get_int(c, CFG_REST_PORT), 9999);
	assert_null(cfg_get_raw(c, "ignored-after-len"));
	assert_int_equal(cfg_load_string(c, NULL, 0, NULL, NULL), 0);
	cfg_free(c);
}

static void test_missing_file_is_enoent(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	cm_err err = {0};
	assert_int_equal(cfg_load_file(c, "/nonexistent/flinc.yaml", &err), FL_ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/flinc.yaml: cannot open"));
	cm_err_clear(&err);
	assert_int_equal(cfg_load_file(c, "/tmp", &err), FL_EIO);
	assert_string_equal(err.msg, "/tmp: is a directory");
	cfg_free(c);
}

static void test_file_over_cap_refused(void **state)
{
	(void)state;
	cfg *c = new_cfg();
	/* A sparse file of 1 MiB + 1: refused from its size, never read. */
	char path[] = "/tmp/flinc-test-big-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1024 * 1024 + 1), 0);
	close(fd);
	cm_err err = {0};
	assert_int_equal(cfg_load_file(c, path, &err), FL_ERANGE);
	char want[512];
	snprintf(want, sizeof(want), "%s: 1048577 bytes, larger than the 1048576 allowed", path);
	assert_string_equal(err.msg, want);

	/* Exactly 1 MiB of valid YAML is fine. */
	size_t n = 1024 * 1024;
	char *text = malloc(n + 1);
	assert_non_null(text);
	memset(text, '#', n);
	const char *line = "\nparallelism.default: 2\n";
	memcpy(text + n - strlen(line), line, strlen(line));
	text[n] = '\0';
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
	cm_err_clear(&err);
	assert_int_equal(cfg_load_file(c, path, &err), 0);
	assert_int_equal(get_int(c, CFG_PARALLELISM), 2);
	unlink(path);

	/* Strings too. */
	cm_err_clear(&err);
	assert_int_equal(cfg_load_string(c, text, n + 1, "big", &err), FL_ERANGE);
	free(text);
	cfg_free(c);
}

static void test_file_from_pipe_is_capped_while_reading(void **state)
{
	(void)state;
	/* A FIFO has no size to check up front: the cap applies while reading. */
	char dir[] = "/tmp/flinc-test-fifo-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[64];
	snprintf(path, sizeof(path), "%s/conf", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(path, O_WRONLY);
		char block[65536];
		memset(block, '#', sizeof(block));
		for (int i = 0; i < 17; i++) /* 1 MiB + 64 KiB */
			if (write(fd, block, sizeof(block)) < 0)
				break;
		_exit(0);
	}
	cfg *c = new_cfg();
	cm_err err = {0};
	assert_int_equal(cfg_load_file(c, path, &err), FL_ERANGE);
	assert_non_null(strstr(err.msg, "larger than the 1048576 bytes allowed"));
	int status;
	waitpid(pid, &status, 0);
	unlink(path);
	rmdir(dir);
	cfg_free(c);
}

static void test_shipped_conf_file_loads_without_warnings(void **state)
{
	(void)state;
	/* conf/flinc.yaml, found from this file's path (absolute under CMake,
	 * relative to the repository root when built by hand). */
	char path[4096];
	const char *self = __FILE__;
	const char *cut = strstr(self, "tests/unit/");
	assert_non_null(cut);
	snprintf(path, sizeof(path), "%.*sconf/flinc.yaml", (int)(cut - self), self);
	cfg *c = new_cfg();
	cm_err err = {0};
	struct capture cap;
	capture_start(&cap);
	int rc = cfg_load_file(c, path, &err);
	char *out = capture_stop(&cap);
	if (rc != 0)
		fail_msg("%s: %s", path, err.msg);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(get_int(c, CFG_TM_SLOTS), 1);
	assert_int_equal(get_int(c, CFG_PARALLELISM), 1);
	cfg_free(c);
}

int main(void)
{
	cm_log_set_level(CM_LOG_INFO);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_config_reads_flink_defaults),
	    cmocka_unit_test(test_new_keys_read_flink_defaults),
	    cmocka_unit_test(test_getter_of_other_type_is_etype),
	    cmocka_unit_test(test_unknown_key_never_set_is_enoent),
	    cmocka_unit_test(test_unknown_key_set_is_read_with_any_getter),
	    cmocka_unit_test(test_free_null_is_a_no_op),
	    cmocka_unit_test(test_set_then_get_each_type),
	    cmocka_unit_test(test_enum_is_case_insensitive_and_read_canonical),
	    cmocka_unit_test(test_restore_keys_take_flink_names_defaults_and_modes),
	    cmocka_unit_test(test_bad_value_names_key_value_and_expectation),
	    cmocka_unit_test(test_bad_value_keeps_previous_value),
	    cmocka_unit_test(test_long_bad_value_is_shortened_in_message),
	    cmocka_unit_test(test_int_ranges_per_key),
	    cmocka_unit_test(test_segment_size_range_and_power_of_two),
	    cmocka_unit_test(test_out_of_range_values_name_both_bounds),
	    cmocka_unit_test(test_largest_values_in_range_are_accepted),
	    cmocka_unit_test(test_fraction_parsing_and_range),
	    cmocka_unit_test(test_sensitive_keys_as_flink_names_them),
	    cmocka_unit_test(test_sensitive_values_are_never_printed),
	    cmocka_unit_test(test_duration_parsing_table),
	    cmocka_unit_test(test_memory_parsing_table),
	    cmocka_unit_test(test_dynamic_splits_at_first_equals),
	    cmocka_unit_test(test_dynamic_without_equals_is_einval),
	    cmocka_unit_test(test_dynamic_bad_value_names_key_and_origin),
	    cmocka_unit_test(test_unknown_key_warns_with_nearest),
	    cmocka_unit_test(test_nearest_key_suggested_within_quarter_of_length),
	    cmocka_unit_test(test_flink_only_keys_accepted_silently),
	    cmocka_unit_test(test_each_iterates_set_keys_in_sorted_order),
	    cmocka_unit_test(test_clone_is_deep),
	    cmocka_unit_test(test_key_and_value_length_caps),
	    cmocka_unit_test(test_number_of_keys_is_capped),
	    cmocka_unit_test(test_nested_and_flat_keys_merge),
	    cmocka_unit_test(test_file_overrides_earlier_values_and_dynamic_overrides_file),
	    cmocka_unit_test(test_duplicate_key_in_file_names_both_positions),
	    cmocka_unit_test(test_same_map_key_in_different_maps_merges),
	    cmocka_unit_test(test_keys_in_one_file_are_capped),
	    cmocka_unit_test(test_yaml_scalars_are_strings_validated_per_key),
	    cmocka_unit_test(test_null_value_resets_key_to_default),
	    cmocka_unit_test(test_unknown_key_in_file_warns_with_nearest),
	    cmocka_unit_test(test_bad_value_in_file_names_file_line_column),
	    cmocka_unit_test(test_syntax_error_wins_over_the_value_before_it),
	    cmocka_unit_test(test_malformed_yaml_names_line_and_column),
	    cmocka_unit_test(test_invalid_utf8_names_line_and_column),
	    cmocka_unit_test(test_sequence_value_is_eproto_naming_position),
	    cmocka_unit_test(test_document_that_is_not_a_map_is_eproto),
	    cmocka_unit_test(test_multiple_documents_refused),
	    cmocka_unit_test(test_aliases_refused),
	    cmocka_unit_test(test_complex_key_refused),
	    cmocka_unit_test(test_empty_and_comment_only_files_set_nothing),
	    cmocka_unit_test(test_nested_key_longer_than_cap_is_erange),
	    cmocka_unit_test(test_nesting_up_to_64_levels_is_accepted),
	    cmocka_unit_test(test_deep_flow_nesting_is_refused_at_once),
	    cmocka_unit_test(test_deep_nesting_in_a_file_names_its_position),
	    cmocka_unit_test(test_load_error_leaves_config_unchanged),
	    cmocka_unit_test(test_load_string_names_origin),
	    cmocka_unit_test(test_missing_file_is_enoent),
	    cmocka_unit_test(test_file_over_cap_refused),
	    cmocka_unit_test(test_file_from_pipe_is_capped_while_reading),
	    cmocka_unit_test(test_shipped_conf_file_loads_without_warnings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
