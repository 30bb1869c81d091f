/*
 * fileio.c — whole reads and writes on a file descriptor.
 */
#include "common/fileio.h"

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

int cm_write_all(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;
	while (len > 0) {
		ssize_t k = write(fd, b, len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = EIO;
			return -1;
		}
		b += k;
		len -= (size_t)k;
	}
	return 0;
}

int cm_read_all(int fd, void *p, size_t len, size_t *got)
{
	uint8_t *b = p;
	*got = 0;
	while (*got < len) {
		ssize_t k = read(fd, b + *got, len - *got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			break;
		*got += (size_t)k;
	}
	return 0;
}
