/*
 * web.c — where the JobManager finds the web dashboard's files, and the
 * answer at / when it finds none.
 */
#include "jobmanager/web.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WEB_CACHE_SUBDIR "/web/flink-runtime-web-" JM_WEB_FLINK_VERSION

/* A directory counts when its index.html is a readable file. */
static bool has_index(const char *dir)
{
	char path[PATH_MAX + 16];
	if (snprintf(path, sizeof(path), "%s/index.html", dir) >= (int)sizeof(path))
		return false;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static bool try_dir(const char *dir, char *out, size_t cap)
{
	if (!has_index(dir))
		return false;
	/* Logged: bin/../share/flinc/web reads better resolved. */
	char real[PATH_MAX];
	const char *d = realpath(dir, real) ? real : dir;
	if (strlen(d) >= cap)
		return false;
	snprintf(out, cap, "%s", d);
	return true;
}

int jm_web_dir(const cfg *c, char *out, size_t cap, cm_err *err)
{
	out[0] = '\0';
	const char *set = "";
	cfg_get_string(c, CFG_WEB_STATIC_DIR, &set);
	if (*set) {
		if (try_dir(set, out, cap))
			return 0;
		return cm_err_set(err, FL_EINVAL,
				  "web.static-dir: %s holds no readable index.html (the "
				  "dashboard's files: scripts/fetch-web.sh prints where it put "
				  "them)",
				  set);
	}
	/* Installed: <prefix>/bin/flinc-jobmanager -> <prefix>/share/flinc/web. */
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			char dir[PATH_MAX + 32];
			snprintf(dir, sizeof(dir), "%s/../share/flinc/web", exe);
			if (try_dir(dir, out, cap))
				return 0;
		}
	}
	/* scripts/fetch-web.sh's cache, as e2e/cluster's: $FLINC_CACHE. */
	const char *cache = getenv("FLINC_CACHE");
	const char *home = getenv("HOME");
	char dir[PATH_MAX + 64];
	if (cache && *cache)
		snprintf(dir, sizeof(dir), "%s%s", cache, WEB_CACHE_SUBDIR);
	else if (home && *home)
		snprintf(dir, sizeof(dir), "%s/.cache/flinc%s", home, WEB_CACHE_SUBDIR);
	else
		return FL_ENOENT;
	return try_dir(dir, out, cap) ? 0 : FL_ENOENT;
}

static int h_no_web(void *arg, const rest_request *req, rest_response *resp)
{
	(void)arg;
	(void)req;
	return rest_error(resp, 404,
			  "The web dashboard is not installed on this JobManager: run "
			  "scripts/fetch-web.sh (Apache Flink " JM_WEB_FLINK_VERSION
			  "'s flink-runtime-web from Maven Central, into ~/.cache/flinc), or set "
			  "web.static-dir to a directory with the dashboard's index.html. The "
			  "REST API answers here all the same (/overview, /jobs, /taskmanagers).");
}

int jm_web_serve(rest_server *s, const cfg *c, char *dir, size_t cap, cm_err *err)
{
	int rc = jm_web_dir(c, dir, cap, err);
	if (rc == FL_ENOENT)
		return rest_route(s, "GET", "/", h_no_web, NULL);
	if (rc)
		return rc;
	rc = rest_static_dir(s, dir, err);
	if (rc)
		dir[0] = '\0';
	return rc;
}
