/*
 * outputs.c — text sink directories: checks before a job, the commit after
 * it, the clean-up after a failure. See outputs.h.
 */
#include "graph/outputs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_CAP 4096

void outputs_run_id(const char *job_id, char run[OUTPUTS_RUN_ID_LEN + 1])
{
	snprintf(run, OUTPUTS_RUN_ID_LEN + 1, "%.16s", job_id);
}

int outputs_part_path(char *buf, size_t cap, const char *dir, const char *run, int subtask,
		      bool inprogress)
{
	int n = inprogress ? snprintf(buf, cap, "%s/.part-%s-%d.inprogress", dir, run, subtask)
			   : snprintf(buf, cap, "%s/part-%s-%d", dir, run, subtask);
	return n < 0 || (size_t)n >= cap ? FL_ERANGE : 0;
}

/* Appends one component of n bytes to out, a path that is absolute. */
static int append(char *out, size_t cap, const char *name, size_t n)
{
	size_t len = strlen(out);
	if (len + 1 + n + 1 > cap)
		return FL_ERANGE;
	if (len > 1)
		out[len++] = '/';
	memcpy(out + len, name, n);
	out[len + n] = '\0';
	return 0;
}

/* Drops the last component of out, an absolute path. */
static void parent(char *out)
{
	char *slash = strrchr(out, '/');
	if (slash == out)
		out[1] = '\0';
	else if (slash)
		*slash = '\0';
}

int outputs_canonical(const char *path, char *out, size_t cap, cm_err *err)
{
	char cur[PATH_CAP];
	if (path[0] == '/') {
		snprintf(cur, sizeof(cur), "/");
	} else if (!getcwd(cur, sizeof(cur))) {
		return cm_err_set(err, cm_err_from_errno(errno),
				  "cannot resolve '%.200s': the working directory: %s", path,
				  strerror(errno));
	}
	/* One component at a time, as the kernel walks it: cur is always
	 * resolved as far as it exists (realpath), so `..` after a symbolic
	 * link leaves the link's target, not the link's directory. What does
	 * not exist yet holds no link: it is joined as written. */
	const char *rest = path;
	while (*rest) {
		while (*rest == '/')
			rest++;
		if (!*rest)
			break;
		const char *end = strchr(rest, '/');
		size_t n = end ? (size_t)(end - rest) : strlen(rest);
		const char *name = rest;
		rest += n;
		if (n == 1 && name[0] == '.')
			continue;
		if (n == 2 && name[0] == '.' && name[1] == '.') {
			parent(cur);
			continue;
		}
		if (append(cur, sizeof(cur), name, n) != 0)
			return cm_err_set(err, FL_ERANGE, "the path '%.200s...' is too long", path);
		char resolved[PATH_MAX];
		if (realpath(cur, resolved)) {
			if (strlen(resolved) + 1 > sizeof(cur))
				return cm_err_set(err, FL_ERANGE,
						  "the path '%.200s...' is too long", path);
			snprintf(cur, sizeof(cur), "%s", resolved);
		} else if (errno != ENOENT && errno != ENOTDIR) {
			return cm_err_set(err, cm_err_from_errno(errno),
					  "cannot resolve '%.200s': %s", cur, strerror(errno));
		}
	}
	if (strlen(cur) + 1 > cap)
		return cm_err_set(err, FL_ERANGE, "the path '%.200s...' is too long", path);
	snprintf(out, cap, "%s", cur);
	return 0;
}

int outputs_mkdirs(const char *dir, cm_err *err)
{
	char path[PATH_CAP];
	size_t n = strlen(dir);
	if (n >= sizeof(path))
		return cm_err_set(err, FL_ERANGE, "the output directory '%.200s...' is too long", dir);
	memcpy(path, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		char c = path[i];
		path[i] = '\0';
		if (mkdir(path, 0777) != 0 && errno != EEXIST) {
			int e = errno;
			return cm_err_set(err, cm_err_from_errno(e),
					  "cannot create the output directory '%.300s': %s", path,
					  strerror(e));
		}
		path[i] = c;
	}
	struct stat st;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return cm_err_set(err, FL_EIO, "the output path '%.300s' is not a directory", dir);
	return 0;
}

/* A leftover of a killed run: hidden, ours, in progress. */
static bool leftover(const char *name)
{
	size_t n = strlen(name);
	return strncmp(name, ".part-", 6) == 0 && n > 11 && strcmp(name + n - 11, ".inprogress") == 0;
}

/* 1 when dir holds anything but leftovers, 0 when it does not or does not
 * exist, or an error naming dir and why it cannot be read (a path through
 * a file, no permission): never "already exists" for those. */
static int holds_output(const char *dir, cm_err *err)
{
	DIR *d = opendir(dir);
	if (!d) {
		int e = errno;
		if (e == ENOENT)
			return 0;
		return cm_err_set(err, cm_err_from_errno(e),
				  "cannot read the output directory '%.300s': %s", dir,
				  strerror(e));
	}
	struct dirent *e;
	int any = 0;
	errno = 0;
	while (!any && (e = readdir(d)))
		any = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		      !leftover(e->d_name);
	int rc = any;
	if (!any && errno != 0)
		rc = cm_err_set(err, cm_err_from_errno(errno),
				"cannot read the output directory '%.300s': %s", dir,
				strerror(errno));
	closedir(d);
	return rc;
}

static int no_overwrite(const char *dir, cm_err *err)
{
	return cm_err_set(err, FL_EINVAL,
			  "File or directory %.300s already exists. Existing files and "
			  "directories are not overwritten in NO_OVERWRITE mode. Use "
			  "OVERWRITE mode to overwrite existing files and directories "
			  "(fs.overwrite-files: true).",
			  dir);
}

int outputs_prepare(const jg_graph *jg, bool overwrite, cm_err *err)
{
	const sg_graph *sg = jg->sg;
	for (size_t i = 0; i < sg->nnodes; i++) {
		const sg_node *n = sg->nodes[i];
		if (n->kind != SG_SINK_TEXT_FILE)
			continue;
		char canon[PATH_CAP];
		int rc = outputs_canonical(n->dir, canon, sizeof(canon), err);
		if (rc)
			return rc;
		for (size_t j = 0; j < i; j++) {
			const sg_node *m = sg->nodes[j];
			char other[PATH_CAP];
			if (m->kind != SG_SINK_TEXT_FILE ||
			    outputs_canonical(m->dir, other, sizeof(other), NULL) != 0)
				continue;
			if (strcmp(canon, other) == 0)
				return cm_err_set(err, FL_EINVAL,
						  "sinks '%s' and '%s' both write to directory '%.300s' "
						  "('%.200s' and '%.200s'): give each text file sink its own "
						  "directory",
						  m->name, n->name, canon, m->dir, n->dir);
		}
		if (!overwrite && (rc = holds_output(n->dir, err)) != 0)
			return rc < 0 ? rc : no_overwrite(n->dir, err);
		if ((rc = outputs_mkdirs(n->dir, err)) != 0)
			return rc;
	}
	return 0;
}

/* The earlier runs' published files: part-* and _SUCCESS. */
static int remove_published(const char *dir, const char *run, cm_err *err)
{
	DIR *d = opendir(dir);
	if (!d)
		return cm_err_set(err, cm_err_from_errno(errno), "cannot read '%.300s': %s", dir,
				  strerror(errno));
	char mine[64];
	snprintf(mine, sizeof(mine), "part-%s-", run);
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d))) {
		bool old_part = strncmp(e->d_name, "part-", 5) == 0 &&
				strncmp(e->d_name, mine, strlen(mine)) != 0;
		if (!old_part && strcmp(e->d_name, "_SUCCESS") != 0)
			continue;
		char path[PATH_CAP];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (unlink(path) != 0 && errno != ENOENT)
			rc = cm_err_set(err, cm_err_from_errno(errno), "cannot remove '%.300s': %s", path,
					strerror(errno));
	}
	closedir(d);
	return rc;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

int outputs_commit(const jg_graph *jg, const char *run, bool overwrite, cm_err *err)
{
	const sg_graph *sg = jg->sg;
	for (size_t i = 0; i < sg->nnodes; i++) {
		const sg_node *n = sg->nodes[i];
		if (n->kind != SG_SINK_TEXT_FILE)
			continue;
		int p = jg->node_parallelism[i];
		/* _SUCCESS goes first, so a crash in between never leaves the
		 * marker beside a mix of runs; with overwrite the earlier runs'
		 * part files go too (without, prepare found none). */
		char marker[PATH_CAP];
		snprintf(marker, sizeof(marker), "%s/_SUCCESS", n->dir);
		if (unlink(marker) != 0 && errno != ENOENT)
			return cm_err_set(err, cm_err_from_errno(errno), "cannot remove '%.300s': %s",
					  marker, strerror(errno));
		int rc = overwrite ? remove_published(n->dir, run, err) : 0;
		if (rc)
			return rc;
		for (int s = 0; s < p; s++) {
			char from[PATH_CAP], to[PATH_CAP];
			if (outputs_part_path(from, sizeof(from), n->dir, run, s, true) != 0 ||
			    outputs_part_path(to, sizeof(to), n->dir, run, s, false) != 0)
				return cm_err_set(err, FL_ERANGE, "the output path '%.200s...' is too long",
						  n->dir);
			if (rename(from, to) != 0) {
				int e = errno;
				return cm_err_set(err, cm_err_from_errno(e),
						  "cannot publish '%.300s' as '%.300s': %s", from, to,
						  strerror(e));
			}
		}
		int fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
		int e = fd < 0 ? errno : 0;
		if (fd >= 0) {
			if (fsync(fd) != 0)
				e = errno;
			if (close(fd) != 0 && !e)
				e = errno;
		}
		if (!e && sync_dir(n->dir) != 0)
			e = errno;
		if (e)
			return cm_err_set(err, cm_err_from_errno(e), "cannot write '%.300s': %s", marker,
					  strerror(e));
	}
	return 0;
}

void outputs_abort(const jg_graph *jg, const char *run)
{
	const sg_graph *sg = jg->sg;
	for (size_t i = 0; i < sg->nnodes; i++) {
		const sg_node *n = sg->nodes[i];
		if (n->kind != SG_SINK_TEXT_FILE)
			continue;
		for (int s = 0; s < jg->node_parallelism[i]; s++) {
			char path[PATH_CAP];
			if (outputs_part_path(path, sizeof(path), n->dir, run, s, true) == 0)
				unlink(path);
		}
	}
}
