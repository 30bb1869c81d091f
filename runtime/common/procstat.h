/*
 * procstat.h — this process's own figures for /metrics: resident memory,
 * CPU seconds and threads, from /proc/self.
 */
#ifndef FLINC_COMMON_PROCSTAT_H
#define FLINC_COMMON_PROCSTAT_H

#include <stdint.h>

#include "common/buf.h"

typedef struct cm_procstat {
	int64_t rss_bytes;
	double cpu_seconds; /* user + system */
	int64_t threads;
	int64_t open_fds;
} cm_procstat;

/* Returns 0, or FL_EIO when /proc cannot be read (figures then 0). */
int cm_procstat_read(cm_procstat *out);

/* Appends the figures in Prometheus text format (flinc_process_*), each
 * with the label set labels ("name=\"value\"", trusted, no braces). */
struct cm_wbuf;
void cm_procstat_prometheus(struct cm_wbuf *w, const char *labels);

#endif
