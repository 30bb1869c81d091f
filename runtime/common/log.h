/*
 * log.h — one line per event, as `kubectl logs` shows it:
 *
 *   2026-11-21T12:00:00.123Z INFO  jobmaster job=8f3a.. task=Map(2/4) Task is RUNNING
 *
 * time (UTC, ms), level, component, then the job and task ids of the calling
 * thread when set, then the message.
 *
 * Destinations: stderr, and optionally a file. By default (a job linked
 * into a program, the JobManager and TaskManager processes) every line goes
 * to stderr and there is no file, so `kubectl logs` shows everything. The
 * client (`flinc run`) keeps the INFO log in a file and shows only warnings
 * and errors on stderr, as Flink's client does: cm_log_set_file plus
 * cm_log_set_stderr_level(CM_LOG_WARN).
 *
 * A line reaches a destination when its level is at least the global level
 * (cm_log_set_level) and, for stderr, at least the stderr level. Each line
 * is written to each destination with one write(2), so lines from different
 * threads never interleave.
 *
 * Threads: every function is thread-safe.
 */
#ifndef FLINC_COMMON_LOG_H
#define FLINC_COMMON_LOG_H

#include <stdarg.h>

#include "common/err.h"

enum cm_log_level { CM_LOG_DEBUG = 0, CM_LOG_INFO = 1, CM_LOG_WARN = 2, CM_LOG_ERROR = 3 };

/* Sets the lowest level logged anywhere (default INFO; FLINC_LOG_LEVEL env
 * overrides at first use: debug, info, warn, error). */
void cm_log_set_level(enum cm_log_level level);
/* Parses "debug"/"info"/"warn"/"error" (any case); returns 0 or FL_EINVAL. */
int cm_log_parse_level(const char *s, enum cm_log_level *out);
enum cm_log_level cm_log_get_level(void);

/* Sets the lowest level shown on stderr (default DEBUG: no filter beyond
 * the global level). Lines below it still go to the log file, if any. */
void cm_log_set_stderr_level(enum cm_log_level level);
enum cm_log_level cm_log_get_stderr_level(void);

/*
 * Sends every line (at or above the global level) to the file at path as
 * well, appending. NULL stops writing to a file. The file is opened with
 * O_APPEND|O_CREAT|O_NOFOLLOW|O_CLOEXEC, mode 0600 when created, and
 * without blocking (a FIFO without reader is refused, not waited for).
 *
 * Errors (err names the path and the reason; the previous destination is
 * kept): FL_EINVAL when path is a symbolic link, not a regular file, a
 * file with more than one hard link (another name, perhaps planted in a
 * shared directory, for a file that must not be appended to), or a file
 * owned by another user (it could be read or replaced by them); the mapped
 * errno when it cannot be opened or examined.
 */
int cm_log_set_file(const char *path, cm_err *err);

/*
 * Writes one INFO line to the log file only, whatever the levels: a marker
 * such as the header of a client run. Does nothing without a file.
 */
void cm_log_file_note(const char *component, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The descriptor of the log file, or -1: for the crash handler, which may
 * only write(2). Async-signal-safe. */
int cm_log_file_fd(void);

/* Sets the job and task ids shown in this thread's lines (NULL clears).
 * The strings are copied (truncated to 64 bytes). */
void cm_log_set_thread_job(const char *job_id);
void cm_log_set_thread_task(const char *task_name);
/* This thread's ids ("" when unset); valid until the thread changes them.
 * Async-signal-safe (the crash handler names the crashed task). */
const char *cm_log_thread_job(void);
const char *cm_log_thread_task(void);

void cm_log(enum cm_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cm_vlog(enum cm_log_level level, const char *component, const char *fmt, va_list ap);

#define CM_DEBUG(comp, ...) cm_log(CM_LOG_DEBUG, comp, __VA_ARGS__)
#define CM_INFO(comp, ...) cm_log(CM_LOG_INFO, comp, __VA_ARGS__)
#define CM_WARN(comp, ...) cm_log(CM_LOG_WARN, comp, __VA_ARGS__)
#define CM_ERROR(comp, ...) cm_log(CM_LOG_ERROR, comp, __VA_ARGS__)

#endif
