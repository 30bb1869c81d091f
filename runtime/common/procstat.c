/*
 * procstat.c — see procstat.h.
 */
#include "common/procstat.h"

#include "common/buf.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <flinc/flinc.h>

int cm_procstat_read(cm_procstat *out)
{
	memset(out, 0, sizeof(*out));
	int rc = 0;
	FILE *f = fopen("/proc/self/stat", "re");
	if (f) {
		char buf[1024];
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
		/* The command name may hold spaces and parentheses: fields
		 * start after the last ')'. */
		const char *p = strrchr(buf, ')');
		unsigned long utime = 0, stime = 0;
		long threads = 0;
		if (!p ||
		    sscanf(
			p + 2,
			"%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %ld",
			&utime, &stime, &threads) != 3)
			rc = FL_EIO;
		long hz = sysconf(_SC_CLK_TCK);
		out->cpu_seconds = hz > 0 ? (double)(utime + stime) / (double)hz : 0;
		out->threads = threads;
	} else {
		rc = FL_EIO;
	}
	f = fopen("/proc/self/status", "re");
	if (f) {
		char line[256];
		while (fgets(line, sizeof(line), f)) {
			long long kb;
			if (sscanf(line, "VmRSS: %lld kB", &kb) == 1)
				out->rss_bytes = kb * 1024;
		}
		fclose(f);
	} else {
		rc = FL_EIO;
	}
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] != '.')
				out->open_fds++;
		closedir(d);
		out->open_fds--; /* the directory's own descriptor */
	}
	return rc;
}

void cm_procstat_prometheus(cm_wbuf *w, const char *labels)
{
	cm_procstat s;
	cm_procstat_read(&s);
	char buf[1536];
	int n =
	    snprintf(buf, sizeof(buf),
		     "# HELP flinc_process_resident_memory_bytes Resident memory of the process.\n"
		     "# TYPE flinc_process_resident_memory_bytes gauge\n"
		     "flinc_process_resident_memory_bytes{%s} %lld\n"
		     "# HELP flinc_process_cpu_seconds_total User and system CPU time.\n"
		     "# TYPE flinc_process_cpu_seconds_total counter\n"
		     "flinc_process_cpu_seconds_total{%s} %.2f\n"
		     "# HELP flinc_process_threads Threads of the process.\n"
		     "# TYPE flinc_process_threads gauge\n"
		     "flinc_process_threads{%s} %lld\n"
		     "# HELP flinc_process_open_fds Open file descriptors.\n"
		     "# TYPE flinc_process_open_fds gauge\n"
		     "flinc_process_open_fds{%s} %lld\n",
		     labels, (long long)s.rss_bytes, labels, s.cpu_seconds, labels,
		     (long long)s.threads, labels, (long long)s.open_fds);
	if (n > 0 && (size_t)n < sizeof(buf))
		cm_wbuf_raw(w, buf, (size_t)n);
}
