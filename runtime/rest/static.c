/*
 * static.c — the web UI's files: request paths to file names, content
 * types, and reading a file that must lie beneath the static root.
 *
 * Containment is the kernel's job where it can do it: openat2 with
 * RESOLVE_BENEATH refuses any resolution that leaves the root ("..", an
 * absolute symbolic link, a relative one that climbs out), so symbolic
 * links inside the tree keep working. Where openat2 is missing (kernels
 * before 5.6, seccomp profiles that refuse it) the name is walked one
 * component at a time with O_NOFOLLOW, which refuses every symbolic link.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rest/rest_internal.h"

int rest_static_name(const char *decoded_path, char *out, size_t cap, char *why, size_t why_cap)
{
	const char *p = decoded_path;
	if (p[0] != '/') {
		snprintf(why, why_cap, "the path does not begin with '/'");
		return FL_EPROTO;
	}
	while (*p == '/')
		p++;
	/* Every segment is checked, empty ones included ("a//b" is "a/b" to
	 * the kernel, harmless). */
	for (const char *s = p;;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) {
			snprintf(why, why_cap, "the path has a '.' or '..' segment");
			return FL_EPROTO;
		}
		if (memchr(s, '\\', n)) {
			snprintf(why, why_cap, "the path has a backslash");
			return FL_EPROTO;
		}
		if (!e)
			break;
		s = e + 1;
	}
	size_t len = strlen(p);
	bool dir = len == 0 || p[len - 1] == '/';
	int n = snprintf(out, cap, "%s%s", p, dir ? "index.html" : "");
	if (n < 0 || (size_t)n >= cap) {
		if (cap > 0)
			out[0] = '\0';
		snprintf(why, why_cap, "the path is too long");
		return FL_ERANGE;
	}
	return 0;
}

const char *rest_content_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html; charset=UTF-8"},
	    {".htm", "text/html; charset=UTF-8"},
	    {".js", "text/javascript; charset=UTF-8"},
	    {".mjs", "text/javascript; charset=UTF-8"},
	    {".css", "text/css; charset=UTF-8"},
	    {".json", "application/json; charset=UTF-8"},
	    {".map", "application/json; charset=UTF-8"},
	    {".txt", "text/plain; charset=UTF-8"},
	    {".png", "image/png"},
	    {".jpg", "image/jpeg"},
	    {".jpeg", "image/jpeg"},
	    {".gif", "image/gif"},
	    {".svg", "image/svg+xml"},
	    {".ico", "image/x-icon"},
	    {".woff2", "font/woff2"},
	    {".woff", "font/woff"},
	    {".ttf", "font/ttf"},
	};
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t e = strlen(types[i].ext);
		if (n > e && name[n - e - 1] != '/' && strcasecmp(name + n - e, types[i].ext) == 0)
			return types[i].type;
	}
	return "application/octet-stream";
}

/* openat2(2): glibc 2.36 has no wrapper. */
static int open_beneath(int root, const char *name)
{
	struct open_how how = {
	    .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	return (int)syscall(SYS_openat2, root, name, &how, sizeof(how));
}

/* The fallback: each component opened with O_NOFOLLOW under the last. */
static int open_walk(int root, const char *name)
{
	char comp[256];
	int dir = root;
	const char *s = name;
	for (;;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n >= sizeof(comp)) {
			if (dir != root)
				close(dir);
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(comp, s, n);
		comp[n] = '\0';
		int flags = O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
			    (e ? O_PATH | O_DIRECTORY : O_RDONLY | O_NONBLOCK);
		int fd = n == 0 ? dup(dir) : openat(dir, comp, flags);
		int saved = errno;
		if (dir != root)
			close(dir);
		if (fd < 0) {
			errno = saved == ELOOP ? ENOENT : saved;
			return -1;
		}
		if (!e)
			return fd;
		dir = fd;
		s = e + 1;
	}
}

int rest_static_read(int root, const char *name, bool use_openat2, uint8_t **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	int fd = -1;
	if (use_openat2) {
		fd = open_beneath(root, name);
		/* ENOSYS: an old kernel; EPERM: a seccomp filter that refuses the
		 * call (an openat2 refusal itself is EXDEV or ELOOP). */
		if (fd < 0 && (errno == ENOSYS || errno == EPERM))
			use_openat2 = false;
		else if (fd < 0 && (errno == EXDEV || errno == ELOOP))
			return FL_ENOENT;
	}
	if (!use_openat2)
		fd = open_walk(root, name);
	if (fd < 0)
		return errno == ENOMEM ? FL_ENOMEM
		       : errno == EACCES || errno == ENOENT || errno == ENOTDIR ||
			       errno == EISDIR || errno == ENAMETOOLONG
			   ? FL_ENOENT
			   : FL_EIO;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return FL_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return FL_ENOENT;
	}
	if (st.st_size > REST_STATIC_MAX_FILE) {
		close(fd);
		return FL_ERANGE;
	}
	size_t size = (size_t)st.st_size;
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf) {
		close(fd);
		return FL_ENOMEM;
	}
	/* A file that shrinks while read is served as far as it went; one that
	 * grows, up to the size it had. */
	size_t got = 0;
	while (got < size) {
		ssize_t r = read(fd, buf + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			close(fd);
			return FL_EIO;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	*data = buf;
	*len = got;
	return 0;
}
