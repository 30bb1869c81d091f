/*
 * resource.h — a resource profile (Flink's ResourceProfile, without
 * extended resources): what a slot sharing group declares it needs
 * (fl_register_slot_sharing_group) and what a slot of a TaskManager holds.
 *
 * The all-zero profile is UNKNOWN (Flink's ResourceProfile.UNKNOWN): a
 * request that declared nothing, which gets a TaskManager's default slot.
 * flinc has no JVM, so task heap and task off-heap memory are drawn from
 * one pool of a TaskManager (its task memory); they stay apart in a
 * profile only to be shown as they were declared.
 *
 * Threads: plain values; every function is pure and thread-safe.
 */
#ifndef FLINC_COMMON_RESOURCE_H
#define FLINC_COMMON_RESOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cm_resource {
	int64_t cpu_milli;     /* CPU cores x 1000 */
	int64_t heap_bytes;    /* task heap memory */
	int64_t offheap_bytes; /* task off-heap memory */
	int64_t managed_bytes; /* managed memory */
} cm_resource;

/* True for the all-zero profile (nothing declared). */
bool cm_resource_is_unknown(const cm_resource *r);

/* The task memory a profile takes from a TaskManager's pool: heap plus
 * off-heap. */
int64_t cm_resource_task_bytes(const cm_resource *r);

/*
 * Writes r as Flink prints a ResourceProfile ("{cpuCores=1.5,
 * taskHeapMemory=256 MB, taskOffHeapMemory=0 bytes, managedMemory=64 MB}"),
 * or "UNKNOWN"; truncated to cap bytes (always terminated when cap > 0).
 * Returns buf.
 */
const char *cm_resource_format(const cm_resource *r, char *buf, size_t cap);

/* Writes CPU cores x 1000 as Flink prints the cores ("1.5", "2.0");
 * returns buf. */
const char *cm_cpu_format(int64_t cpu_milli, char *buf, size_t cap);

/* Writes a byte count as Flink prints a MemorySize ("64 mb" style with
 * Flink's units: bytes, kb, mb, gb); returns buf. */
const char *cm_memory_format(int64_t bytes, char *buf, size_t cap);

#endif
