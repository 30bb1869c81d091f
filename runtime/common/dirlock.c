/*
 * dirlock.c — claimed working directories and their reaping (dirlock.h).
 */
#include "common/dirlock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

int cm_dir_claim(const char *dir, int *fd, cm_err *err)
{
	char tmp[4096], lock[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.lock.new", dir) >= sizeof(tmp) ||
	    (size_t)snprintf(lock, sizeof(lock), "%s/.lock", dir) >= sizeof(lock))
		return cm_err_set(err, FL_ERANGE, "the directory path %.300s is too long", dir);
	int f = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (f < 0)
		return cm_err_set(err, cm_err_from_errno(errno), "cannot create %.400s: %s", tmp,
				  strerror(errno));
	if (flock(f, LOCK_EX | LOCK_NB) != 0 || rename(tmp, lock) != 0) {
		int e = errno;
		close(f);
		unlink(tmp);
		return cm_err_set(err, cm_err_from_errno(e), "cannot lock %.400s: %s", lock,
				  strerror(e));
	}
	*fd = f;
	return 0;
}

/* Removes dir's plain files and links (unlinkat never follows), then dir. */
static void remove_dir(int root, const char *name)
{
	int d = openat(root, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *dp = d >= 0 ? fdopendir(d) : NULL;
	if (!dp) {
		if (d >= 0)
			close(d);
		return;
	}
	struct dirent *e;
	while ((e = readdir(dp)) != NULL) {
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    fstatat(dirfd(dp), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    S_ISDIR(st.st_mode))
			continue;
		(void)unlinkat(dirfd(dp), e->d_name, 0);
	}
	closedir(dp);
	(void)unlinkat(root, name, AT_REMOVEDIR);
}

void cm_dir_remove(const char *dir)
{
	remove_dir(AT_FDCWD, dir);
}

int cm_dir_reap(const char *root, const char *prefix)
{
	int r = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dp = r >= 0 ? fdopendir(r) : NULL;
	if (!dp) {
		if (r >= 0)
			close(r);
		return 0;
	}
	size_t plen = strlen(prefix);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(dp)) != NULL) {
		struct stat st;
		char lock[4096];
		if (strncmp(e->d_name, prefix, plen) != 0 ||
		    fstatat(dirfd(dp), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISDIR(st.st_mode) ||
		    (size_t)snprintf(lock, sizeof(lock), "%s/.lock", e->d_name) >= sizeof(lock))
			continue;
		int f = openat(dirfd(dp), lock, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (f < 0)
			continue; /* no lock: being made, or not ours to judge */
		if (flock(f, LOCK_EX | LOCK_NB) == 0) {
			remove_dir(dirfd(dp), e->d_name);
			n++;
			CM_INFO("dirlock", "removed %s/%s, left by a process that is gone", root,
				e->d_name);
		}
		close(f);
	}
	closedir(dp);
	return n;
}
