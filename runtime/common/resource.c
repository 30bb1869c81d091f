/*
 * resource.c — resource profiles: see resource.h.
 */
#include "common/resource.h"

#include <stdio.h>
#include <string.h>

bool cm_resource_is_unknown(const cm_resource *r)
{
	return r->cpu_milli == 0 && r->heap_bytes == 0 && r->offheap_bytes == 0 &&
	       r->managed_bytes == 0;
}

int64_t cm_resource_task_bytes(const cm_resource *r)
{
	return r->heap_bytes + r->offheap_bytes;
}

const char *cm_memory_format(int64_t bytes, char *buf, size_t cap)
{
	static const char *const unit[] = {"bytes", "kb", "mb", "gb", "tb"};
	int u = 0;
	int64_t v = bytes;
	/* The largest unit that shows the value exactly, as Flink does. */
	while (u < 4 && v != 0 && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	snprintf(buf, cap, "%lld %s", (long long)v, unit[u]);
	return buf;
}

const char *cm_cpu_format(int64_t cpu_milli, char *buf, size_t cap)
{
	snprintf(buf, cap, "%lld.%03lld", (long long)(cpu_milli / 1000),
		 (long long)(cpu_milli % 1000));
	/* 1.500 -> 1.5, 2.000 -> 2.0: as Flink prints a double. */
	for (size_t n = strlen(buf); n > 2 && buf[n - 1] == '0' && buf[n - 2] != '.'; n--)
		buf[n - 1] = '\0';
	return buf;
}

const char *cm_resource_format(const cm_resource *r, char *buf, size_t cap)
{
	if (cm_resource_is_unknown(r)) {
		snprintf(buf, cap, "UNKNOWN");
		return buf;
	}
	char cpu[32], h[32], o[32], m[32];
	snprintf(buf, cap,
		 "{cpuCores=%s, taskHeapMemory=%s, taskOffHeapMemory=%s, managedMemory=%s}",
		 cm_cpu_format(r->cpu_milli, cpu, sizeof(cpu)),
		 cm_memory_format(r->heap_bytes, h, sizeof(h)),
		 cm_memory_format(r->offheap_bytes, o, sizeof(o)),
		 cm_memory_format(r->managed_bytes, m, sizeof(m)));
	return buf;
}
