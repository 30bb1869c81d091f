/*
 * dispose.c — removing a savepoint a user names (dispose.h).
 *
 * Everything below the directory goes through one descriptor of it (openat,
 * unlinkat), so that the directory checked is the directory emptied even if
 * its path is replaced meanwhile, and only plain names are removed in it:
 * nothing resolves through a symbolic link below it.
 */
#include "checkpoint/dispose.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint/metadata.h"
#include "common/fileio.h"
#include "common/log.h"

/* What a disposal removed and left, for its log line and its error. */
struct tally {
	size_t removed;	 /* files removed */
	size_t failures; /* files that could not be removed */
	char failed[256];
	int failed_errno;
	size_t left; /* other entries left in the directory */
	char left_name[256];
};

void cp_path_shown(const char *path, char *out, size_t cap)
{
	if (cap == 0)
		return;
	size_t n = 0;
	for (const char *p = path ? path : ""; *p && n + 1 < cap; p++)
		out[n++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
	out[n] = '\0';
}

/* True when s starts with a URI scheme ("s3://", "hdfs://"). */
static bool has_scheme(const char *s)
{
	const char *p = s;
	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
		return false;
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
	       *p == '+' || *p == '-' || *p == '.')
		p++;
	return strncmp(p, "://", 3) == 0;
}

/* The local path of path (a path, or file:///dir, file:/dir) into out. */
static int local_path(const char *path, const char *shown, char *out, size_t cap, cm_err *err)
{
	if (!path || !*path)
		return cm_err_set(err, FL_EINVAL, "Cannot dispose a savepoint: no path given");
	const char *p = path;
	if (strncmp(p, "file://", 7) == 0)
		p += 7;
	else if (strncmp(p, "file:", 5) == 0)
		p += 5;
	else if (has_scheme(p))
		return cm_err_set(
		    err, FL_EINVAL,
		    "Cannot dispose savepoint '%.300s': not a local path or file: URI "
		    "(flinc writes savepoints to a file system)",
		    path);
	if (p != path && *p != '/')
		return cm_err_set(
		    err, FL_EINVAL,
		    "Cannot dispose savepoint '%.300s': a file: URI needs an absolute "
		    "path (file:///dir)",
		    path);
	if (!*p || strlen(p) >= cap)
		return cm_err_set(err, FL_EINVAL, "Cannot dispose savepoint '%.300s': %s", shown,
				  *p ? "the path is too long" : "no path given");
	memcpy(out, p, strlen(p) + 1);
	return 0;
}

/* Reads and checks dfd's _metadata (named `what` in errors) as
 * cp_metadata_read does, without following a symbolic link or blocking on
 * a FIFO. */
static int read_metadata(int dfd, const char *what, cp_metadata *m, cm_err *err)
{
	memset(m, 0, sizeof(*m));
	int fd = openat(dfd, "_metadata", O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			return cm_err_set(
			    err, FL_ENOENT,
			    "Cannot dispose savepoint '%.300s': it has no _metadata "
			    "file (not a completed savepoint or checkpoint); nothing was "
			    "deleted",
			    what);
		return cm_err_set(err, e == ELOOP ? FL_EPROTO : FL_EIO,
				  "Cannot dispose savepoint '%.300s': cannot read its _metadata: "
				  "%s; nothing was deleted",
				  what, e == ELOOP ? "it is a symbolic link" : strerror(e));
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CP_METADATA_MAX) {
		bool big = S_ISREG(st.st_mode) && st.st_size > CP_METADATA_MAX;
		close(fd);
		return cm_err_set(err, FL_EPROTO,
				  "Cannot dispose savepoint '%.300s': its _metadata is %s; nothing "
				  "was deleted",
				  what,
				  big ? "larger than any flinc writes" : "not a regular file");
	}
	size_t len = (size_t)st.st_size;
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf) {
		close(fd);
		return cm_err_set(err, FL_ENOMEM, "out of memory reading %.300s/_metadata", what);
	}
	size_t got = 0;
	int rrc = cm_read_all(fd, buf, len, &got);
	int saved = errno;
	close(fd);
	if (rrc != 0 || got != len) {
		free(buf);
		return cm_err_set(err, FL_EIO,
				  "Cannot dispose savepoint '%.300s': cannot read its "
				  "_metadata: %s",
				  what, rrc ? strerror(saved) : "short read");
	}
	char file[PATH_MAX + 16];
	snprintf(file, sizeof(file), "%s/_metadata", what);
	cm_err e = {0};
	int rc = cp_metadata_decode(buf, len, file, m, &e);
	free(buf);
	if (rc == FL_ENOMEM)
		return cm_err_set(err, rc, "%s", e.msg);
	if (rc)
		return cm_err_set(err, FL_EPROTO,
				  "Cannot dispose savepoint '%.200s': %s; nothing was deleted",
				  what, e.msg);
	return 0;
}

/* Removes dfd's entry name when it is a file or a symbolic link (the link,
 * never its target); another kind is left and counted. */
static void remove_entry(int dfd, const char *name, struct tally *t)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			return; /* removed already: by a disposal before, or named twice */
	} else if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
		return; /* left; the scan of what is left counts it */
	} else if (unlinkat(dfd, name, 0) == 0) {
		t->removed++;
		return;
	} else if (errno == ENOENT) {
		return;
	}
	if (t->failures++ == 0) {
		t->failed_errno = errno;
		cp_path_shown(name, t->failed, sizeof(t->failed));
	}
}

static bool ends_with_state(const char *name)
{
	size_t n = strlen(name);
	return n > 6 && strcmp(name + n - 6, ".state") == 0;
}

/* Walks dfd's entries: removes *.state files (remove), or counts what is
 * there (!remove). Returns 0, or an errno value when it cannot be read. */
static int walk(int dfd, bool remove, struct tally *t)
{
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return e;
	}
	rewinddir(d);
	errno = 0;
	for (struct dirent *e = readdir(d); e; e = readdir(d)) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (remove) {
			if (ends_with_state(e->d_name))
				remove_entry(dfd, e->d_name, t);
		} else if (t->left++ == 0) {
			cp_path_shown(e->d_name, t->left_name, sizeof(t->left_name));
		}
	}
	closedir(d);
	return 0;
}

/* The directory path names (the directory, or the one of its _metadata). */
static int directory_of(const char *given, const char *shown, char *dir, size_t cap, cm_err *err)
{
	struct stat st;
	if (stat(given, &st) != 0) {
		int e = errno;
		return cm_err_set(err, e == ENOENT || e == ENOTDIR ? FL_ENOENT : FL_EIO,
				  "Cannot dispose savepoint '%.300s': %s", shown, strerror(e));
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(dir, cap, "%s", given);
		return 0;
	}
	const char *slash = strrchr(given, '/');
	const char *name = slash ? slash + 1 : given;
	if (!S_ISREG(st.st_mode) || strcmp(name, "_metadata") != 0)
		return cm_err_set(err, FL_EINVAL,
				  "Cannot dispose savepoint '%.300s': it is neither a savepoint "
				  "directory nor its _metadata file",
				  shown);
	if (!slash)
		snprintf(dir, cap, ".");
	else if (slash == given)
		snprintf(dir, cap, "/");
	else
		snprintf(dir, cap, "%.*s", (int)(slash - given), given);
	return 0;
}

int cp_dispose(const char *path, cm_err *err)
{
	/* Messages and the log name paths with control characters replaced:
	 * a path from a REST client must not forge log lines. */
	char given[PATH_MAX], dir[PATH_MAX], real[PATH_MAX], shown[PATH_MAX];
	cp_path_shown(path, shown, sizeof(shown));
	int rc = local_path(path, shown, given, sizeof(given), err);
	if (rc == 0)
		rc = directory_of(given, shown, dir, sizeof(dir), err);
	if (rc)
		return rc;
	cp_path_shown(dir, shown, sizeof(shown));
	if (!realpath(dir, real)) {
		int e = errno;
		return cm_err_set(err, e == ENOENT ? FL_ENOENT : FL_EIO,
				  "Cannot dispose savepoint '%.300s': %s", shown, strerror(e));
	}
	int dfd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		int e = errno;
		return cm_err_set(err, FL_EIO, "Cannot dispose savepoint '%.300s': %s", shown,
				  strerror(e));
	}
	cp_metadata m;
	if ((rc = read_metadata(dfd, shown, &m, err)) != 0) {
		close(dfd);
		return rc;
	}
	/* The reader refused "..", absolute paths and control characters; flinc
	 * writes state files beside _metadata, so a name with a directory in it
	 * (which could cross a symbolic link) or _metadata itself is refused
	 * before anything is deleted. */
	for (size_t i = 0; i < m.nstates; i++) {
		const char *f = m.states[i].keyed_file;
		if (f && (strchr(f, '/') || strcmp(f, "_metadata") == 0 || strcmp(f, ".") == 0 ||
			  strcmp(f, "..") == 0)) {
			rc = cm_err_set(
			    err, FL_EPROTO,
			    "Cannot dispose savepoint '%.300s': its _metadata names the "
			    "state file '%.100s', which is not a file beside it; nothing "
			    "was deleted",
			    shown, f);
			cp_metadata_fini(&m);
			close(dfd);
			return rc;
		}
	}
	struct tally t = {0};
	for (size_t i = 0; i < m.nstates; i++)
		if (m.states[i].keyed_file)
			remove_entry(dfd, m.states[i].keyed_file, &t);
	int werr = walk(dfd, true, &t);
	const char *kind = m.kind == CP_SAVEPOINT ? "savepoint" : "checkpoint";
	unsigned long long id = (unsigned long long)m.id;
	char job[33]; /* 32 characters the reader checked the length of only */
	cp_path_shown(m.job_id, job, sizeof(job));
	cp_metadata_fini(&m);
	if (werr || t.failures) {
		/* _metadata stays: disposing again finishes the job. */
		close(dfd);
		if (werr)
			return cm_err_set(err, FL_EIO,
					  "Cannot dispose savepoint '%.300s': cannot list it: %s; "
					  "_metadata kept",
					  shown, strerror(werr));
		return cm_err_set(
		    err, FL_EIO,
		    "Cannot dispose savepoint '%.300s': cannot remove %.100s: %s (%zu "
		    "file(s) not removed); _metadata kept so that disposing again "
		    "finishes it",
		    shown, t.failed, strerror(t.failed_errno), t.failures);
	}
	if (unlinkat(dfd, "_metadata", 0) == 0) {
		t.removed++;
	} else if (errno != ENOENT) {
		int e = errno;
		close(dfd);
		return cm_err_set(err, FL_EIO,
				  "Cannot dispose savepoint '%.300s': its state files were removed "
				  "but not its _metadata: %s",
				  shown, strerror(e));
	}
	werr = walk(dfd, false, &t);
	close(dfd);
	if (werr == 0 && t.left == 0) {
		if (rmdir(real) != 0 && errno != ENOENT) {
			int e = errno;
			return cm_err_set(
			    err, FL_EIO,
			    "Cannot dispose savepoint '%.300s': its files were removed "
			    "but not the directory: %s",
			    shown, strerror(e));
		}
		CM_INFO("checkpoint",
			"Disposed %s %s (%s %llu of job %s): removed %zu files and the directory",
			kind, shown, kind, id, job, t.removed);
		return 0;
	}
	if (werr)
		CM_WARN(
		    "checkpoint",
		    "Disposed %s %s (%s %llu of job %s): removed %zu files; kept the directory, "
		    "which cannot be listed: %s",
		    kind, shown, kind, id, job, t.removed, strerror(werr));
	else
		CM_INFO(
		    "checkpoint",
		    "Disposed %s %s (%s %llu of job %s): removed %zu files; kept the directory: "
		    "it holds %zu other entr%s flinc did not write (e.g. '%s')",
		    kind, shown, kind, id, job, t.removed, t.left, t.left == 1 ? "y" : "ies",
		    t.left_name);
	return 0;
}
