#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"

/*
 * One line is at most CM_LOG_LINE_MAX bytes including the newline. 4096 is
 * PIPE_BUF on Linux, so a line written to a pipe (kubectl logs, a test
 * capture) is also atomic with respect to other processes' writes.
 */
#define CM_LOG_LINE_MAX 4096
#define CM_LOG_ID_MAX 64

/* Paths in messages are cut here, so the reason after them always fits. */
#define CM_LOG_PATH_SHOWN 200

static atomic_int log_level = CM_LOG_INFO;
static atomic_int stderr_level = CM_LOG_DEBUG;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

/* The log file: writers hold the read lock while they write to file_fd, so
 * that cm_log_set_file never closes a descriptor a line is being written
 * to (nor one that was reused meanwhile). file_fd_atomic mirrors it for the
 * crash handler, which cannot take locks. */
static pthread_rwlock_t file_lock = PTHREAD_RWLOCK_INITIALIZER;
static int file_fd = -1;
static atomic_int file_fd_atomic = -1;

static _Thread_local char tl_job[CM_LOG_ID_MAX + 1];
static _Thread_local char tl_task[CM_LOG_ID_MAX + 1];

static void log_init_from_env(void)
{
	enum cm_log_level lv;
	const char *s = getenv("FLINC_LOG_LEVEL");
	if (s && cm_log_parse_level(s, &lv) == 0)
		atomic_store_explicit(&log_level, (int)lv, memory_order_relaxed);
}

/* The environment is consulted once, at the first call of any cm_log*
 * function; an explicit cm_log_set_level afterwards wins. */
static void log_init(void)
{
	pthread_once(&log_once, log_init_from_env);
}

int cm_log_parse_level(const char *s, enum cm_log_level *out)
{
	static const struct {
		const char *name;
		enum cm_log_level level;
	} names[] = {
	    {"debug", CM_LOG_DEBUG},  {"info", CM_LOG_INFO},   {"warn", CM_LOG_WARN},
	    {"warning", CM_LOG_WARN}, {"error", CM_LOG_ERROR},
	};
	if (!s || !out)
		return FL_EINVAL;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*out = names[i].level;
			return 0;
		}
	}
	return FL_EINVAL;
}

/* level as a valid cm_log_level. */
static int clamp_level(enum cm_log_level level)
{
	if ((int)level < CM_LOG_DEBUG)
		return CM_LOG_DEBUG;
	if ((int)level > CM_LOG_ERROR)
		return CM_LOG_ERROR;
	return (int)level;
}

void cm_log_set_level(enum cm_log_level level)
{
	log_init();
	atomic_store_explicit(&log_level, clamp_level(level), memory_order_relaxed);
}

void cm_log_set_stderr_level(enum cm_log_level level)
{
	atomic_store_explicit(&stderr_level, clamp_level(level), memory_order_relaxed);
}

enum cm_log_level cm_log_get_stderr_level(void)
{
	return (enum cm_log_level)atomic_load_explicit(&stderr_level, memory_order_relaxed);
}

/* Makes fd (-1: none) the log file and closes the previous one, once no
 * line is being written to it. */
static void install_file_fd(int fd)
{
	pthread_rwlock_wrlock(&file_lock);
	int old = file_fd;
	file_fd = fd;
	atomic_store(&file_fd_atomic, fd);
	pthread_rwlock_unlock(&file_lock);
	if (old >= 0)
		close(old);
}

int cm_log_set_file(const char *path, cm_err *err)
{
	if (!path) {
		install_file_fd(-1);
		return 0;
	}
	int shown = CM_LOG_PATH_SHOWN;
	const char *more = strlen(path) > CM_LOG_PATH_SHOWN ? "..." : "";
	/* O_NONBLOCK: a FIFO without a reader fails at once (ENXIO) instead of
	 * blocking the client; it is refused below anyway. */
	int fd;
	do
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK,
			  0600);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		int e = errno;
		if (e == ELOOP)
			return cm_err_set(err, FL_EINVAL,
					  "log file '%.*s%s' is a symbolic link: refused, since a "
					  "link in a shared directory may point anywhere",
					  shown, path, more);
		return cm_err_set(err, cm_err_from_errno(e), "cannot open log file '%.*s%s': %s",
				  shown, path, more, strerror(e));
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return cm_err_set(err, cm_err_from_errno(e), "cannot examine log file '%.*s%s': %s",
				  shown, path, more, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return cm_err_set(err, FL_EINVAL, "log file '%.*s%s' is not a regular file", shown,
				  path, more);
	}
	if (st.st_nlink > 1) {
		close(fd);
		return cm_err_set(err, FL_EINVAL,
				  "log file '%.*s%s' has %lu hard links: refused, since its other "
				  "name may be a file that must not be appended to",
				  shown, path, more, (unsigned long)st.st_nlink);
	}
	if (st.st_uid != geteuid()) {
		close(fd);
		return cm_err_set(err, FL_EINVAL,
				  "log file '%.*s%s' belongs to uid %lu, not to uid %lu running "
				  "flinc: its owner could read or replace what is logged",
				  shown, path, more, (unsigned long)st.st_uid,
				  (unsigned long)geteuid());
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	install_file_fd(fd);
	return 0;
}

int cm_log_file_fd(void)
{
	return atomic_load(&file_fd_atomic);
}

enum cm_log_level cm_log_get_level(void)
{
	log_init();
	return (enum cm_log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

/* Copies s (or clears when NULL), cut at CM_LOG_ID_MAX bytes. */
static void set_id(char *dst, const char *s)
{
	if (!s) {
		dst[0] = '\0';
		return;
	}
	size_t n = strnlen(s, CM_LOG_ID_MAX);
	memcpy(dst, s, n);
	dst[n] = '\0';
}

void cm_log_set_thread_job(const char *job_id)
{
	set_id(tl_job, job_id);
}

void cm_log_set_thread_task(const char *task_name)
{
	set_id(tl_task, task_name);
}

const char *cm_log_thread_job(void)
{
	return tl_job;
}

const char *cm_log_thread_task(void)
{
	return tl_task;
}

static const char *level_name(enum cm_log_level level)
{
	switch (level) {
	case CM_LOG_DEBUG:
		return "DEBUG";
	case CM_LOG_INFO:
		return "INFO ";
	case CM_LOG_WARN:
		return "WARN ";
	default:
		return "ERROR";
	}
}

/* A small append-only view of the line buffer; appends that do not fit are
 * cut and remembered, so the caller can mark the line as truncated. */
struct line {
	char *buf;
	size_t len;
	size_t cap; /* bytes usable for text (the newline is reserved apart) */
	int truncated;
};

static void line_puts(struct line *l, const char *s)
{
	size_t n = strlen(s);
	size_t room = l->cap - l->len;
	if (n > room) {
		n = room;
		l->truncated = 1;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void write_all(int fd, const char *buf, size_t len)
{
	/* One write(2) in the normal case; the loop only resumes after a
	 * signal or a short write to a full non-pipe descriptor. */
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

/* Formats one line into buf (CM_LOG_LINE_MAX bytes) and returns its length,
 * newline included. */
static size_t format_line(char *buf, const char *level_text, const char *component, const char *fmt,
			  va_list ap)
{
	struct line l = {buf, 0, CM_LOG_LINE_MAX - 1, 0};

	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char stamp[48];
	snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(ts.tv_nsec / 1000000));
	line_puts(&l, stamp);
	line_puts(&l, level_text);
	line_puts(&l, " ");
	line_puts(&l, component && component[0] ? component : "-");
	line_puts(&l, " ");
	if (tl_job[0]) {
		line_puts(&l, "job=");
		line_puts(&l, tl_job);
		line_puts(&l, " ");
	}
	if (tl_task[0]) {
		line_puts(&l, "task=");
		line_puts(&l, tl_task);
		line_puts(&l, " ");
	}

	size_t room = l.cap - l.len;
	if (fmt && room > 0) {
		/* vsnprintf writes at most room-1 characters plus a NUL, which
		 * lands on the byte reserved for the newline. */
		int n = vsnprintf(l.buf + l.len, room + 1, fmt, ap);
		if (n > 0) {
			if ((size_t)n > room) {
				n = (int)room;
				l.truncated = 1;
			}
			l.len += (size_t)n;
		}
	} else if (fmt && fmt[0]) {
		l.truncated = 1;
	}

	/* One event is one line, whatever the message or the ids contained. */
	for (size_t i = 0; i < l.len; i++) {
		if (buf[i] == '\n' || buf[i] == '\r')
			buf[i] = ' ';
	}
	if (l.truncated) {
		size_t keep = l.len < 3 ? 0 : l.len - 3;
		memcpy(buf + keep, "...", 3);
		l.len = keep + 3;
	}
	buf[l.len++] = '\n';
	return l.len;
}

void cm_vlog(enum cm_log_level level, const char *component, const char *fmt, va_list ap)
{
	log_init();
	if ((int)level < atomic_load_explicit(&log_level, memory_order_relaxed))
		return;
	bool to_stderr = (int)level >= atomic_load_explicit(&stderr_level, memory_order_relaxed);
	int saved_errno = errno;
	pthread_rwlock_rdlock(&file_lock);
	if (to_stderr || file_fd >= 0) {
		char buf[CM_LOG_LINE_MAX];
		size_t len = format_line(buf, level_name(level), component, fmt, ap);
		if (to_stderr)
			write_all(STDERR_FILENO, buf, len);
		if (file_fd >= 0)
			write_all(file_fd, buf, len);
	}
	pthread_rwlock_unlock(&file_lock);
	errno = saved_errno;
}

void cm_log_file_note(const char *component, const char *fmt, ...)
{
	int saved_errno = errno;
	pthread_rwlock_rdlock(&file_lock);
	if (file_fd >= 0) {
		char buf[CM_LOG_LINE_MAX];
		va_list ap;
		va_start(ap, fmt);
		size_t len = format_line(buf, level_name(CM_LOG_INFO), component, fmt, ap);
		va_end(ap);
		write_all(file_fd, buf, len);
	}
	pthread_rwlock_unlock(&file_lock);
	errno = saved_errno;
}

void cm_log(enum cm_log_level level, const char *component, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cm_vlog(level, component, fmt, ap);
	va_end(ap);
}
