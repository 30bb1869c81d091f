/*
 * failalloc.h — allocation-failure injection for tests, after SQLite's OOM
 * tests and curl's torture tests: makes the n-th allocation from now fail.
 *
 * It works by link-time wrapping (ld --wrap): a test executable linked with
 * FAILALLOC_LINK_FLAGS (tests/CMakeLists.txt) sends every call that its own
 * objects and the static runtime archive make to the functions below through
 * failalloc, which counts them and fails the chosen one. Calls made inside
 * shared libraries (libyaml, NNG, libc itself) are not wrapped and never
 * fail: the injection targets flinc's own handling of a NULL result.
 *
 * Wrapped: malloc, calloc, realloc, strdup, strndup, aligned_alloc,
 * asprintf and realpath(path, NULL) — every allocating libc call in
 * runtime/. A failing call returns NULL (asprintf -1) with errno ENOMEM and
 * allocates nothing; a failing realloc leaves its block as it was.
 *
 * Disarmed (the initial state), every call goes straight to libc. The
 * counters are atomic, so threads may allocate meanwhile, but which thread's
 * allocation is "the n-th" is then up to the scheduler: arm around
 * single-threaded operations.
 */
#ifndef FLINC_TESTS_FAILALLOC_H
#define FLINC_TESTS_FAILALLOC_H

#include <stdbool.h>

/*
 * Arms the injector: the n-th allocation from now (n >= 1) fails, and, in
 * persistent mode, so does every allocation after it until failalloc_disarm.
 * Resets failalloc_hit and failalloc_count.
 */
void failalloc_arm(long n);

/* Chooses persistent mode (every allocation after the first failure fails
 * too) or one-shot mode (the default: only the n-th fails) for the next
 * failalloc_arm. */
void failalloc_set_persistent(bool on);

/* Stops injecting; later allocations succeed. The counters stay readable. */
void failalloc_disarm(void);

/* True if a failure was injected since the last failalloc_arm. */
bool failalloc_hit(void);

/* Allocations seen since the last failalloc_arm (or since start), the
 * failed ones included. */
long failalloc_count(void);

#endif
