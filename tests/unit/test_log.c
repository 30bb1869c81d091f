/*
 * test_log.c — the log line format, levels, per-thread ids, truncation, and
 * that lines from concurrent threads never interleave; the log file and
 * the separate stderr level.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/log.h"

/* ------------------------------------------------------------ capture */

/*
 * Redirects stderr into a pipe drained by a reader thread, so that writers
 * never block on a full pipe and lines go through a pipe as under kubectl.
 */
struct capture {
	int saved_fd;
	int rfd;
	pthread_t reader;
	char *buf;
	size_t len, cap;
};

static void *capture_reader(void *arg)
{
	struct capture *c = arg;
	for (;;) {
		if (c->cap - c->len < 65536) {
			size_t ncap = c->cap ? c->cap * 2 : 1 << 20;
			char *nb = realloc(c->buf, ncap);
			if (!nb)
				abort();
			c->buf = nb;
			c->cap = ncap;
		}
		ssize_t n = read(c->rfd, c->buf + c->len, c->cap - c->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		c->len += (size_t)n;
	}
	return NULL;
}

static void capture_start(struct capture *c)
{
	int p[2];
	memset(c, 0, sizeof(*c));
	assert_int_equal(pipe(p), 0);
	c->saved_fd = dup(STDERR_FILENO);
	assert_true(c->saved_fd >= 0);
	assert_true(dup2(p[1], STDERR_FILENO) >= 0);
	close(p[1]);
	c->rfd = p[0];
	assert_int_equal(pthread_create(&c->reader, NULL, capture_reader, c), 0);
}

/* Restores stderr and returns what was written (NUL-terminated; free it). */
static char *capture_stop(struct capture *c)
{
	assert_true(dup2(c->saved_fd, STDERR_FILENO) >= 0); /* closes the last write end */
	close(c->saved_fd);
	pthread_join(c->reader, NULL);
	close(c->rfd);
	if (!c->buf) {
		c->buf = malloc(1);
		assert_non_null(c->buf);
	}
	c->buf[c->len] = '\0';
	return c->buf;
}

#define TS_RE "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"

static void assert_matches(const char *text, const char *pattern)
{
	regex_t re;
	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	int rc = regexec(&re, text, 0, NULL, 0);
	regfree(&re);
	if (rc != 0)
		fail_msg("'%s' does not match /%s/", text, pattern);
}

static int reset(void **state)
{
	(void)state;
	cm_log_set_file(NULL, NULL);
	cm_log_set_stderr_level(CM_LOG_DEBUG);
	cm_log_set_level(CM_LOG_INFO);
	cm_log_set_thread_job(NULL);
	cm_log_set_thread_task(NULL);
	return 0;
}

/* -------------------------------------------------------------- tests */

/* main() sets FLINC_LOG_LEVEL=error before any log call; this test runs first. */
static void test_env_level_applies_at_first_use_and_is_read_once(void **state)
{
	(void)state;
	assert_int_equal(cm_log_get_level(), CM_LOG_ERROR);
	setenv("FLINC_LOG_LEVEL", "debug", 1);
	assert_int_equal(cm_log_get_level(), CM_LOG_ERROR);
	unsetenv("FLINC_LOG_LEVEL");
}

static void test_line_format_is_timestamp_level_component_message(void **state)
{
	(void)state;
	struct capture c;
	capture_start(&c);
	CM_INFO("jobmaster", "Task is %s", "RUNNING");
	char *out = capture_stop(&c);
	assert_matches(out, "^" TS_RE " INFO  jobmaster Task is RUNNING\n$");
	free(out);
}

static void test_timestamp_is_current_utc_time(void **state)
{
	(void)state;
	struct capture c;
	/* Not time(): glibc reads it from the coarse clock, which can still
	 * show the previous second when the log's precise clock shows the
	 * next one. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	time_t before = ts.tv_sec;
	capture_start(&c);
	CM_INFO("clock", "tick");
	char *out = capture_stop(&c);
	clock_gettime(CLOCK_REALTIME, &ts);
	time_t after = ts.tv_sec;
	struct tm tm = {0};
	char *rest = strptime(out, "%Y-%m-%dT%H:%M:%S", &tm);
	assert_non_null(rest);
	time_t t = timegm(&tm);
	assert_true(t >= before && t <= after);
	free(out);
}

static void test_level_names_are_padded_to_five(void **state)
{
	(void)state;
	cm_log_set_level(CM_LOG_DEBUG);
	struct capture c;
	capture_start(&c);
	CM_DEBUG("c", "d");
	CM_INFO("c", "i");
	CM_WARN("c", "w");
	CM_ERROR("c", "e");
	char *out = capture_stop(&c);
	assert_matches(out, "^" TS_RE " DEBUG c d\n" TS_RE " INFO  c i\n" TS_RE " WARN  c w\n" TS_RE
			    " ERROR c e\n$");
	free(out);
}

static void test_level_filters_lower_levels(void **state)
{
	(void)state;
	cm_log_set_level(CM_LOG_WARN);
	assert_int_equal(cm_log_get_level(), CM_LOG_WARN);
	struct capture c;
	capture_start(&c);
	CM_DEBUG("c", "hidden-debug");
	CM_INFO("c", "hidden-info");
	CM_WARN("c", "shown-warn");
	CM_ERROR("c", "shown-error");
	char *out = capture_stop(&c);
	assert_null(strstr(out, "hidden"));
	assert_non_null(strstr(out, "shown-warn"));
	assert_non_null(strstr(out, "shown-error"));
	free(out);
}

static void test_parse_level_accepts_names_in_any_case(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		enum cm_log_level lv;
	} ok[] = {{"debug", CM_LOG_DEBUG}, {"DEBUG", CM_LOG_DEBUG}, {"Info", CM_LOG_INFO},
		  {"warn", CM_LOG_WARN},   {"WARN", CM_LOG_WARN},   {"eRRoR", CM_LOG_ERROR}};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		enum cm_log_level lv = CM_LOG_INFO;
		assert_int_equal(cm_log_parse_level(ok[i].s, &lv), 0);
		assert_int_equal(lv, ok[i].lv);
	}
	static const char *const bad[] = {"", "verbose", "info ", "inf", "3"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum cm_log_level lv = CM_LOG_WARN;
		assert_int_equal(cm_log_parse_level(bad[i], &lv), FL_EINVAL);
		assert_int_equal(lv, CM_LOG_WARN);
	}
	enum cm_log_level lv;
	assert_int_equal(cm_log_parse_level(NULL, &lv), FL_EINVAL);
}

static void test_job_and_task_ids_shown_only_when_set(void **state)
{
	(void)state;
	struct capture c;
	capture_start(&c);
	cm_log_set_thread_job("8f3a");
	cm_log_set_thread_task("Map(2/4)");
	CM_INFO("jobmaster", "both");
	cm_log_set_thread_task(NULL);
	CM_INFO("jobmaster", "job only");
	cm_log_set_thread_job(NULL);
	cm_log_set_thread_task("Sink(1/1)");
	CM_INFO("jobmaster", "task only");
	cm_log_set_thread_task(NULL);
	CM_INFO("jobmaster", "none");
	char *out = capture_stop(&c);
	assert_matches(out, "^" TS_RE " INFO  jobmaster job=8f3a task=Map\\(2/4\\) both\n" TS_RE
			    " INFO  jobmaster job=8f3a job only\n" TS_RE
			    " INFO  jobmaster task=Sink\\(1/1\\) task only\n" TS_RE
			    " INFO  jobmaster none\n$");
	free(out);
}

static void *log_from_other_thread(void *arg)
{
	(void)arg;
	CM_INFO("other", "from another thread");
	return NULL;
}

static void test_ids_belong_to_the_calling_thread(void **state)
{
	(void)state;
	struct capture c;
	capture_start(&c);
	cm_log_set_thread_job("job-main");
	cm_log_set_thread_task("task-main");
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, log_from_other_thread, NULL), 0);
	pthread_join(t, NULL);
	char *out = capture_stop(&c);
	assert_matches(out, "^" TS_RE " INFO  other from another thread\n$");
	free(out);
}

static void test_ids_are_copied_and_cut_at_64_bytes(void **state)
{
	(void)state;
	char id[100];
	memset(id, 'j', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	struct capture c;
	capture_start(&c);
	cm_log_set_thread_job(id);
	memset(id, 'x', 10); /* the copy must not see this */
	CM_INFO("c", "m");
	char *out = capture_stop(&c);
	char want[128];
	snprintf(want, sizeof(want), " job=%.64s m\n",
		 "jjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjj"
		 "jjjjjjjjjjjjjjjjjjjjjjjjj");
	assert_non_null(strstr(out, want));
	free(out);
}

static void test_newlines_in_message_become_spaces(void **state)
{
	(void)state;
	struct capture c;
	capture_start(&c);
	CM_ERROR("c", "first\nsecond\r\nthird\n");
	char *out = capture_stop(&c);
	assert_matches(out, "^" TS_RE " ERROR c first second  third \n$");
	free(out);
}

static void test_long_message_truncated_with_ellipsis_in_one_line(void **state)
{
	(void)state;
	size_t n = 10000;
	char *msg = malloc(n + 1);
	assert_non_null(msg);
	memset(msg, 'a', n);
	msg[n] = '\0';
	struct capture c;
	capture_start(&c);
	CM_INFO("c", "%s", msg);
	CM_INFO("c", "after");
	char *out = capture_stop(&c);
	char *nl = strchr(out, '\n');
	assert_non_null(nl);
	assert_int_equal((size_t)(nl - out) + 1, 4096);
	assert_memory_equal(nl - 3, "...", 3);
	assert_matches(nl + 1, "^" TS_RE " INFO  c after\n$");
	free(out);
	free(msg);
}

static void test_message_that_exactly_fits_is_not_truncated(void **state)
{
	(void)state;
	/* prefix "<24-char ts> INFO  c " is 24+1+5+1+1+1 = 33 bytes */
	size_t n = 4095 - 33;
	char *msg = malloc(n + 1);
	assert_non_null(msg);
	memset(msg, 'b', n);
	msg[n] = '\0';
	struct capture c;
	capture_start(&c);
	CM_INFO("c", "%s", msg);
	CM_INFO("c", "%sb", msg);
	char *out = capture_stop(&c);
	char *nl = strchr(out, '\n');
	assert_int_equal((size_t)(nl - out) + 1, 4096);
	assert_int_equal(nl[-1], 'b');
	char *nl2 = strchr(nl + 1, '\n');
	assert_int_equal((size_t)(nl2 - nl), 4096);
	assert_memory_equal(nl2 - 3, "...", 3);
	free(out);
	free(msg);
}

static void test_logging_preserves_errno(void **state)
{
	(void)state;
	struct capture c;
	capture_start(&c);
	errno = EAGAIN;
	CM_INFO("c", "m");
	assert_int_equal(errno, EAGAIN);
	errno = 0;
	char *out = capture_stop(&c);
	free(out);
}

static void test_null_or_empty_component_prints_dash(void **state)
{
	(void)state;
	struct capture c;
	capture_start(&c);
	cm_log(CM_LOG_INFO, NULL, "m1");
	cm_log(CM_LOG_INFO, "", "m2");
	char *out = capture_stop(&c);
	assert_matches(out, "^" TS_RE " INFO  - m1\n" TS_RE " INFO  - m2\n$");
	free(out);
}

#define NTHREADS 8
#define NLINES 2000

static void *spam(void *arg)
{
	int id = (int)(intptr_t)arg;
	char job[16], task[16];
	snprintf(job, sizeof(job), "job%d", id);
	snprintf(task, sizeof(task), "task%d", id);
	cm_log_set_thread_job(job);
	cm_log_set_thread_task(task);
	/* Payloads of varying length up to ~3 KiB, so that lines are far
	 * larger than stdio buffers and would tear if written piecewise. */
	char payload[3001];
	for (int i = 0; i < NLINES; i++) {
		size_t len = (size_t)((i * 37 + id * 101) % 3000) + 1;
		memset(payload, 'a' + id, len);
		payload[len] = '\0';
		CM_INFO("spam", "t=%d seq=%d len=%zu %s", id, i, len, payload);
	}
	return NULL;
}

static void test_concurrent_lines_never_interleave(void **state)
{
	(void)state;
	struct capture c;
	capture_start(&c);
	pthread_t t[NTHREADS];
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, spam, (void *)(intptr_t)i), 0);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	char *out = capture_stop(&c);

	regex_t re;
	assert_int_equal(regcomp(&re,
				 "^" TS_RE " INFO  spam job=job([0-9]) task=task([0-9]) t=([0-9]) "
				 "seq=([0-9]+) len=([0-9]+) ([a-z]+)$",
				 REG_EXTENDED),
			 0);
	int next_seq[NTHREADS] = {0};
	size_t lines = 0;
	for (char *line = out, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = '\0';
		regmatch_t m[7];
		if (regexec(&re, line, 7, m, 0) != 0)
			fail_msg("torn line %zu: '%.200s'", lines, line);
		int id = atoi(line + m[1].rm_so);
		assert_int_equal(atoi(line + m[2].rm_so), id);
		assert_int_equal(atoi(line + m[3].rm_so), id);
		assert_int_equal(atoi(line + m[4].rm_so), next_seq[id]);
		next_seq[id]++;
		size_t len = (size_t)atoi(line + m[5].rm_so);
		assert_int_equal((size_t)(m[6].rm_eo - m[6].rm_so), len);
		for (regoff_t k = m[6].rm_so; k < m[6].rm_eo; k++)
			assert_int_equal(line[k], 'a' + id);
		lines++;
	}
	regfree(&re);
	assert_int_equal(lines, NTHREADS * NLINES);
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(next_seq[i], NLINES);
	free(out);
}

static void *set_levels(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++) {
		cm_log_set_level((enum cm_log_level)(i % 4));
		(void)cm_log_get_level();
	}
	return NULL;
}

static void test_level_changes_are_thread_safe(void **state)
{
	(void)state;
	struct capture c;
	capture_start(&c);
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, set_levels, NULL), 0);
	for (int i = 0; i < 200; i++)
		CM_ERROR("c", "e%d", i);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	char *out = capture_stop(&c);
	size_t lines = 0;
	for (char *p = out; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(lines, 200); /* ERROR passes every level */
	free(out);
}

/* ----------------------------------------------------------- log file */

/* A fresh path in a fresh temporary directory (free both). */
static char *temp_path(const char *name, char **dir)
{
	char tmpl[] = "/tmp/flinc-test-log.XXXXXX";
	const char *base = getenv("TMPDIR");
	char *d;
	if (base && *base) {
		d = malloc(strlen(base) + 32);
		assert_non_null(d);
		sprintf(d, "%s/flinc-test-log.XXXXXX", base);
	} else {
		d = strdup(tmpl);
		assert_non_null(d);
	}
	assert_non_null(mkdtemp(d));
	char *p = malloc(strlen(d) + strlen(name) + 2);
	assert_non_null(p);
	sprintf(p, "%s/%s", d, name);
	*dir = d;
	return p;
}

static void remove_temp(char *path, char *dir)
{
	unlink(path);
	rmdir(dir);
	free(path);
	free(dir);
}

/* The whole file (NUL-terminated; free it). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	for (;;) {
		if (cap - len < 4096) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	buf[len] = '\0';
	return buf;
}

static void test_file_gets_every_line_and_stderr_only_its_level(void **state)
{
	(void)state;
	char *dir, *path = temp_path("client.log", &dir);
	cm_err err = {0};
	assert_int_equal(cm_log_set_file(path, &err), 0);
	cm_log_set_stderr_level(CM_LOG_WARN);
	assert_int_equal(cm_log_get_stderr_level(), CM_LOG_WARN);
	struct capture c;
	capture_start(&c);
	CM_DEBUG("c", "below-the-global-level");
	CM_INFO("c", "info-line");
	CM_WARN("c", "warn-line");
	CM_ERROR("c", "error-line");
	char *out = capture_stop(&c);
	cm_log_set_file(NULL, NULL);
	char *file = slurp(path);
	assert_matches(out, "^" TS_RE " WARN  c warn-line\n" TS_RE " ERROR c error-line\n$");
	assert_matches(file, "^" TS_RE " INFO  c info-line\n" TS_RE " WARN  c warn-line\n" TS_RE
			     " ERROR c error-line\n$");
	free(out);
	free(file);
	remove_temp(path, dir);
}

static void test_file_is_appended_and_created_private(void **state)
{
	(void)state;
	char *dir, *path = temp_path("client.log", &dir);
	cm_err err = {0};
	assert_int_equal(cm_log_set_file(path, &err), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	struct capture c;
	capture_start(&c);
	CM_INFO("c", "first run");
	/* A second run appends to what the first left. */
	assert_int_equal(cm_log_set_file(path, &err), 0);
	CM_INFO("c", "second run");
	cm_log_set_file(NULL, NULL);
	CM_INFO("c", "after the file was closed");
	free(capture_stop(&c));
	char *file = slurp(path);
	assert_matches(file, "^" TS_RE " INFO  c first run\n" TS_RE " INFO  c second run\n$");
	free(file);
	remove_temp(path, dir);
}

static void test_file_note_ignores_levels_and_stderr(void **state)
{
	(void)state;
	char *dir, *path = temp_path("client.log", &dir);
	cm_log_set_level(CM_LOG_ERROR);
	struct capture c;
	capture_start(&c);
	cm_log_file_note("client", "no file yet: dropped");
	assert_int_equal(cm_log_set_file(path, NULL), 0);
	cm_log_file_note("client", "==== header %d", 42);
	char *out = capture_stop(&c);
	cm_log_set_file(NULL, NULL);
	char *file = slurp(path);
	assert_string_equal(out, "");
	assert_matches(file, "^" TS_RE " INFO  client ==== header 42\n$");
	free(out);
	free(file);
	remove_temp(path, dir);
}

static void test_file_refuses_links_and_non_regular_files(void **state)
{
	(void)state;
	char *dir, *path = temp_path("client.log", &dir);
	char target[600], fifo[600];
	snprintf(target, sizeof(target), "%s/target", dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(symlink(target, path), 0);
	cm_err err = {0};
	assert_int_equal(cm_log_set_file(path, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "is a symbolic link"));
	assert_non_null(strstr(err.msg, path));
	assert_int_equal(access(target, F_OK), -1); /* nothing created through it */
	/* A FIFO without a reader: refused at once, never waited for. */
	assert_int_equal(mkfifo(fifo, 0600), 0);
	cm_err_clear(&err);
	assert_true(cm_log_set_file(fifo, &err) < 0);
	assert_non_null(strstr(err.msg, fifo));
	assert_non_null(strstr(err.msg, "No such device or address"));
	/* A directory. */
	cm_err_clear(&err);
	assert_true(cm_log_set_file(dir, &err) < 0);
	assert_non_null(strstr(err.msg, "Is a directory"));
	/* A refusal keeps logging where it was. */
	assert_int_equal(cm_log_file_fd(), -1);
	unlink(fifo);
	remove_temp(path, dir);
}

static void test_file_owned_by_another_user_is_refused(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip(); /* only root can give a file away */
	char *dir, *path = temp_path("client.log", &dir);
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(chown(path, 65534, 65534), 0);
	cm_err err = {0};
	assert_int_equal(cm_log_set_file(path, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "belongs to uid 65534, not to uid 0"));
	assert_int_equal(cm_log_file_fd(), -1);
	remove_temp(path, dir);
}

static void test_long_path_is_cut_but_the_reason_is_kept(void **state)
{
	(void)state;
	char path[1200];
	memset(path, 'd', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	cm_err err = {0};
	assert_true(cm_log_set_file(path, &err) < 0);
	assert_non_null(strstr(err.msg, "...': "));
	assert_non_null(strstr(err.msg, "File name too long"));
}

static void test_thread_ids_are_readable_for_the_crash_handler(void **state)
{
	(void)state;
	assert_string_equal(cm_log_thread_job(), "");
	assert_string_equal(cm_log_thread_task(), "");
	cm_log_set_thread_job("8f3a");
	cm_log_set_thread_task("Map (1/2)");
	assert_string_equal(cm_log_thread_job(), "8f3a");
	assert_string_equal(cm_log_thread_task(), "Map (1/2)");
}

static void *spam_both(void *arg)
{
	int id = (int)(intptr_t)arg;
	char payload[2001];
	for (int i = 0; i < 500; i++) {
		size_t len = (size_t)((i * 53 + id * 7) % 2000) + 1;
		memset(payload, 'a' + id, len);
		payload[len] = '\0';
		if (i % 2)
			CM_INFO("spam", "t=%d seq=%d %s", id, i, payload);
		else
			CM_WARN("spam", "t=%d seq=%d %s", id, i, payload);
	}
	return NULL;
}

static void test_file_lines_from_threads_never_interleave(void **state)
{
	(void)state;
	char *dir, *path = temp_path("client.log", &dir);
	assert_int_equal(cm_log_set_file(path, NULL), 0);
	cm_log_set_stderr_level(CM_LOG_WARN);
	struct capture c;
	capture_start(&c);
	pthread_t t[NTHREADS];
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, spam_both, (void *)(intptr_t)i), 0);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	char *out = capture_stop(&c);
	cm_log_set_file(NULL, NULL);
	char *file = slurp(path);
	regex_t re;
	assert_int_equal(regcomp(&re,
				 "^" TS_RE " (INFO |WARN ) spam t=([0-9]) seq=([0-9]+) ([a-z]+)$",
				 REG_EXTENDED),
			 0);
	const char *texts[2] = {file, out};
	size_t want[2] = {NTHREADS * 500, NTHREADS * 250};
	for (int k = 0; k < 2; k++) {
		char *copy = strdup(texts[k]);
		assert_non_null(copy);
		size_t lines = 0;
		for (char *line = copy, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
			*nl = '\0';
			regmatch_t m[5];
			if (regexec(&re, line, 5, m, 0) != 0)
				fail_msg("torn line %zu: '%.200s'", lines, line);
			int id = atoi(line + m[2].rm_so);
			for (regoff_t j = m[4].rm_so; j < m[4].rm_eo; j++)
				assert_int_equal(line[j], 'a' + id);
			if (k == 1)
				assert_memory_equal(line + m[1].rm_so, "WARN", 4);
			lines++;
		}
		assert_int_equal(lines, want[k]);
		free(copy);
	}
	regfree(&re);
	free(out);
	free(file);
	remove_temp(path, dir);
}

static void *switch_files(void *arg)
{
	const char *const *paths = arg;
	for (int i = 0; i < 200; i++)
		cm_log_set_file(paths[i % 2], NULL);
	return NULL;
}

static void test_switching_files_while_threads_log_loses_no_line(void **state)
{
	(void)state;
	char *dir1, *p1 = temp_path("a.log", &dir1);
	char *dir2, *p2 = temp_path("b.log", &dir2);
	const char *paths[2] = {p1, p2};
	assert_int_equal(cm_log_set_file(p1, NULL), 0);
	cm_log_set_stderr_level(CM_LOG_ERROR);
	pthread_t sw, t[4];
	assert_int_equal(pthread_create(&sw, NULL, switch_files, (void *)paths), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, spam_both, (void *)(intptr_t)i), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	pthread_join(sw, NULL);
	cm_log_set_file(NULL, NULL);
	char *a = slurp(p1), *b = slurp(p2);
	size_t lines = 0;
	for (const char *s2 = a; (s2 = strchr(s2, '\n')); s2++)
		lines++;
	for (const char *s2 = b; (s2 = strchr(s2, '\n')); s2++)
		lines++;
	assert_int_equal(lines, 4 * 500);
	free(a);
	free(b);
	remove_temp(p1, dir1);
	remove_temp(p2, dir2);
}

int main(void)
{
	setenv("FLINC_LOG_LEVEL", "error", 1);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_env_level_applies_at_first_use_and_is_read_once),
	    cmocka_unit_test_setup(test_line_format_is_timestamp_level_component_message, reset),
	    cmocka_unit_test_setup(test_timestamp_is_current_utc_time, reset),
	    cmocka_unit_test_setup(test_level_names_are_padded_to_five, reset),
	    cmocka_unit_test_setup(test_level_filters_lower_levels, reset),
	    cmocka_unit_test_setup(test_parse_level_accepts_names_in_any_case, reset),
	    cmocka_unit_test_setup(test_job_and_task_ids_shown_only_when_set, reset),
	    cmocka_unit_test_setup(test_ids_belong_to_the_calling_thread, reset),
	    cmocka_unit_test_setup(test_ids_are_copied_and_cut_at_64_bytes, reset),
	    cmocka_unit_test_setup(test_newlines_in_message_become_spaces, reset),
	    cmocka_unit_test_setup(test_long_message_truncated_with_ellipsis_in_one_line, reset),
	    cmocka_unit_test_setup(test_message_that_exactly_fits_is_not_truncated, reset),
	    cmocka_unit_test_setup(test_logging_preserves_errno, reset),
	    cmocka_unit_test_setup(test_null_or_empty_component_prints_dash, reset),
	    cmocka_unit_test_setup(test_concurrent_lines_never_interleave, reset),
	    cmocka_unit_test_setup(test_level_changes_are_thread_safe, reset),
	    cmocka_unit_test_setup(test_file_gets_every_line_and_stderr_only_its_level, reset),
	    cmocka_unit_test_setup(test_file_is_appended_and_created_private, reset),
	    cmocka_unit_test_setup(test_file_note_ignores_levels_and_stderr, reset),
	    cmocka_unit_test_setup(test_file_refuses_links_and_non_regular_files, reset),
	    cmocka_unit_test_setup(test_file_owned_by_another_user_is_refused, reset),
	    cmocka_unit_test_setup(test_long_path_is_cut_but_the_reason_is_kept, reset),
	    cmocka_unit_test_setup(test_thread_ids_are_readable_for_the_crash_handler, reset),
	    cmocka_unit_test_setup(test_file_lines_from_threads_never_interleave, reset),
	    cmocka_unit_test_setup(test_switching_files_while_threads_log_loses_no_line, reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
