/*
 * fileio.h — whole reads and writes on a file descriptor: the loops over
 * read(2)/write(2) that short transfers and EINTR call for, once.
 *
 * Not for signal handlers (log.c and crash.c keep their own
 * async-signal-safe writers). Thread-safe on distinct descriptors.
 */
#ifndef FLINC_COMMON_FILEIO_H
#define FLINC_COMMON_FILEIO_H

#include <stddef.h>

/* Writes all len bytes of p to fd. Returns 0, or -1 with errno set (a
 * failed or zero-length write). */
int cm_write_all(int fd, const void *p, size_t len);

/* Reads up to len bytes into p until len or end of file; *got says how
 * many. Returns 0, or -1 with errno set. */
int cm_read_all(int fd, void *p, size_t len, size_t *got);

#endif
