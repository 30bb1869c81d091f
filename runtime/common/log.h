/*
 * log.h — one line per event on stderr, as `kubectl logs` shows it:
 *
 *   2026-11-21T12:00:00.123Z INFO  jobmaster job=8f3a.. task=Map(2/4) Task is RUNNING
 *
 * time (UTC, ms), level, component, then the job and task ids of the calling
 * thread when set, then the message. Each line is written with one write(2),
 * so lines from different threads never interleave.
 */
#ifndef FLINC_COMMON_LOG_H
#define FLINC_COMMON_LOG_H

#include <stdarg.h>

enum cm_log_level { CM_LOG_DEBUG = 0, CM_LOG_INFO = 1, CM_LOG_WARN = 2, CM_LOG_ERROR = 3 };

/* Sets the lowest level printed (default INFO; FLINC_LOG_LEVEL env overrides
 * at first use: debug, info, warn, error). Thread-safe. */
void cm_log_set_level(enum cm_log_level level);
/* Parses "debug"/"info"/"warn"/"error" (any case); returns 0 or FL_EINVAL. */
int cm_log_parse_level(const char *s, enum cm_log_level *out);
enum cm_log_level cm_log_get_level(void);

/* Sets the job and task ids shown in this thread's lines (NULL clears).
 * The strings are copied (truncated to 64 bytes). */
void cm_log_set_thread_job(const char *job_id);
void cm_log_set_thread_task(const char *task_name);

void cm_log(enum cm_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cm_vlog(enum cm_log_level level, const char *component, const char *fmt, va_list ap);

#define CM_DEBUG(comp, ...) cm_log(CM_LOG_DEBUG, comp, __VA_ARGS__)
#define CM_INFO(comp, ...) cm_log(CM_LOG_INFO, comp, __VA_ARGS__)
#define CM_WARN(comp, ...) cm_log(CM_LOG_WARN, comp, __VA_ARGS__)
#define CM_ERROR(comp, ...) cm_log(CM_LOG_ERROR, comp, __VA_ARGS__)

#endif
