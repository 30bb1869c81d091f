/*
 * failalloc.c — the wrappers behind failalloc.h. With ld --wrap=malloc, a
 * reference to malloc resolves to __wrap_malloc and __real_malloc to the
 * real one (glibc's, or the sanitizer's interceptor), so the real functions
 * are always called as __real_*: a plain malloc here would recurse.
 */
#include "failalloc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t nmemb, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
char *__real_realpath(const char *path, char *resolved);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t nmemb, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
int __wrap_asprintf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *__wrap_realpath(const char *path, char *resolved);

static atomic_bool armed;
static atomic_bool persistent_next;
static atomic_bool persistent;
static atomic_bool hit;
static atomic_long countdown; /* allocations left before the failing one */
static atomic_long count;

void failalloc_arm(long n)
{
	failalloc_disarm();
	atomic_store(&count, 0);
	atomic_store(&hit, false);
	atomic_store(&persistent, atomic_load(&persistent_next));
	atomic_store(&countdown, n < 1 ? 1 : n);
	atomic_store(&armed, true);
}

void failalloc_set_persistent(bool on)
{
	atomic_store(&persistent_next, on);
}

void failalloc_disarm(void)
{
	atomic_store(&armed, false);
}

bool failalloc_hit(void)
{
	return atomic_load(&hit);
}

long failalloc_count(void)
{
	return atomic_load(&count);
}

/* Counts one allocation and says whether it is to fail (errno set then). */
static bool fail_now(void)
{
	atomic_fetch_add(&count, 1);
	if (!atomic_load(&armed))
		return false;
	long left = atomic_fetch_sub(&countdown, 1) - 1;
	if (left == 0 || (left < 0 && atomic_load(&persistent))) {
		atomic_store(&hit, true);
		errno = ENOMEM;
		return true;
	}
	return false;
}

void *__wrap_malloc(size_t n)
{
	return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t nmemb, size_t size)
{
	return fail_now() ? NULL : __real_calloc(nmemb, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return fail_now() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	return fail_now() ? NULL : __real_strndup(s, n);
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
	return fail_now() ? NULL : __real_aligned_alloc(align, n);
}

/* vasprintf is not wrapped, so this calls glibc's. */
int __wrap_asprintf(char **out, const char *fmt, ...)
{
	if (fail_now())
		return -1;
	va_list ap;
	va_start(ap, fmt);
	int rc = vasprintf(out, fmt, ap);
	va_end(ap);
	return rc;
}

/* Only realpath(path, NULL) allocates; with a caller's buffer it is passed
 * through uncounted. */
char *__wrap_realpath(const char *path, char *resolved)
{
	if (!resolved && fail_now())
		return NULL;
	return __real_realpath(path, resolved);
}
