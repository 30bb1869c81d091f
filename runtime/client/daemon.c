/*
 * daemon.c — command line, secret, advertised address and signals of the
 * JobManager and TaskManager processes: see daemon.h.
 */
#include "client/daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

void cl_daemon_args_fini(cl_daemon_args *a)
{
	cfg_free(a->config);
	memset(a, 0, sizeof(*a));
}

int cl_daemon_args_parse(cl_daemon_args *a, int argc, char **argv, bool allow_application,
			 cm_err *err)
{
	memset(a, 0, sizeof(*a));
	if (cfg_new(&a->config) != 0)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	const char *file = NULL;
	const char **dyn = calloc((size_t)argc + 1, sizeof(*dyn));
	size_t ndyn = 0;
	int rc = 0;
	if (!dyn) {
		rc = cm_err_set(err, FL_ENOMEM, "out of memory");
		goto fail;
	}
	/* An application's restore settings (Flink's standalone-job -s, -n,
	 * --restoreMode): the option that gave each, for messages. */
	const char *from = NULL, *mode = NULL, *from_opt = NULL, *mode_opt = NULL,
		   *anrs_opt = NULL;
	int i = 1;
	for (; i < argc; i++) {
		const char *s = argv[i];
		bool restore_opt = allow_application &&
				   (strcmp(s, "-s") == 0 || strcmp(s, "--fromSavepoint") == 0 ||
				    strcmp(s, "-rm") == 0 || strcmp(s, "--restoreMode") == 0 ||
				    strcmp(s, "-cm") == 0 || strcmp(s, "--claimMode") == 0);
		if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
			a->help = true;
		} else if (restore_opt) {
			if (++i == argc || !*argv[i]) {
				rc = cm_err_set(err, FL_EINVAL, "%s needs a value", s);
				goto fail;
			}
			bool is_from = strcmp(s, "-s") == 0 || strcmp(s, "--fromSavepoint") == 0;
			*(is_from ? &from : &mode) = argv[i];
			*(is_from ? &from_opt : &mode_opt) = s;
		} else if (allow_application && (strcmp(s, "-n") == 0 ||
						 strcmp(s, "--allowNonRestoredState") == 0)) {
			anrs_opt = s;
		} else if (strcmp(s, "-c") == 0 || strcmp(s, "--config") == 0) {
			if (++i == argc) {
				rc = cm_err_set(err, FL_EINVAL, "%s needs a file", s);
				goto fail;
			}
			file = argv[i];
		} else if (strncmp(s, "-D", 2) == 0) {
			const char *kv = s[2] ? s + 2 : (++i < argc ? argv[i] : NULL);
			if (!kv) {
				rc = cm_err_set(err, FL_EINVAL, "-D needs key=value");
				goto fail;
			}
			dyn[ndyn++] = kv;
		} else if (allow_application && strcmp(s, "--application") == 0) {
			if (++i == argc) {
				rc =
				    cm_err_set(err, FL_EINVAL, "--application needs a job library");
				goto fail;
			}
			a->application = argv[i];
			a->job_argv = argv + i;
			a->job_argc = 1;
			i++;
			if (i < argc && strcmp(argv[i], "--") == 0) {
				/* The job's own arguments follow, untouched. */
				argv[i] = argv[i - 1];
				a->job_argv = argv + i;
				a->job_argc = argc - i;
				i = argc;
				break;
			}
			i--;
		} else {
			rc =
			    cm_err_set(err, FL_EINVAL, "unknown argument '%.200s' (see --help)", s);
			goto fail;
		}
	}
	char path[4096];
	if (!file) {
		bool found = false;
		if ((rc = cfg_default_file(path, sizeof(path), &found, err)) != 0)
			goto fail;
		if (found)
			file = path;
	}
	if (file && (rc = cfg_load_file(a->config, file, err)) != 0)
		goto fail;
	for (size_t k = 0; k < ndyn; k++)
		if ((rc = cfg_set_dynamic(a->config, dyn[k], err)) != 0)
			goto fail;
	const char *restore_opt = from_opt ? from_opt : mode_opt ? mode_opt : anrs_opt;
	if (restore_opt && !a->application) {
		rc = cm_err_set(err, FL_EINVAL,
				"%s applies to an application cluster (--application JOB.so); the "
				"jobs of a session cluster take it from flinc run",
				restore_opt);
		goto fail;
	}
	/* Over -D, as in Flink. */
	if (from && (rc = cfg_set(a->config, CFG_SAVEPOINT_PATH, from, err)) != 0)
		goto fail;
	if (anrs_opt &&
	    (rc = cfg_set(a->config, CFG_SAVEPOINT_IGNORE_UNCLAIMED, "true", err)) != 0)
		goto fail;
	if (mode && (rc = cfg_set(a->config, CFG_SAVEPOINT_RESTORE_MODE, mode, err)) != 0)
		goto fail;
	const char *level = NULL;
	enum cm_log_level lv;
	if (cfg_is_set(a->config, CFG_LOG_LEVEL) &&
	    cfg_get_string(a->config, CFG_LOG_LEVEL, &level) == 0 &&
	    cm_log_parse_level(level, &lv) == 0)
		cm_log_set_level(lv);
	free(dyn);
	return 0;
fail:
	free(dyn);
	cfg_free(a->config);
	a->config = NULL;
	return rc;
}

/* $TMPDIR/flinc-<user>-<cluster id>.token */
static int default_token_path(const cfg *c, char *path, size_t cap, cm_err *err)
{
	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	const char *id = "default";
	cfg_get_string(c, CFG_CLUSTER_ID, &id);
	char safe[64];
	size_t n = 0;
	for (const char *p = id; *p && n + 1 < sizeof(safe); p++)
		safe[n++] = (char)((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
					   (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'
				       ? *p
				       : '_');
	safe[n] = '\0';
	struct passwd pw, *res = NULL;
	char pbuf[1024];
	const char *user = getpwuid_r(getuid(), &pw, pbuf, sizeof(pbuf), &res) == 0 && res
			       ? res->pw_name
			       : "unknown";
	if ((size_t)snprintf(path, cap, "%s/flinc-%s-%s.token", tmp, user, safe) >= cap)
		return cm_err_set(err, FL_EINVAL, "TMPDIR is too long");
	return 0;
}

int cl_cluster_secret(const cfg *c, bool create, cm_secret *s, char *where, size_t cap, cm_err *err)
{
	const char *token = NULL, *file = NULL;
	cfg_get_string(c, CFG_TOKEN, &token);
	cfg_get_string(c, CFG_TOKEN_FILE, &file);
	if (token && *token) {
		snprintf(where, cap, "security.internal.token");
		return cm_secret_from_string(s, token, err);
	}
	if (file && *file) {
		snprintf(where, cap, "%s (security.internal.token-file)", file);
		return cm_secret_from_file(s, file, err);
	}
	char path[4200];
	int rc = default_token_path(c, path, sizeof(path), err);
	if (rc)
		return rc;
	snprintf(where, cap, "%s (made for this user and cluster id)", path);
	if (create) {
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			unsigned char key[32];
			char hex[65];
			rc = cm_random(key, sizeof(key));
			for (int i = 0; rc == 0 && i < 32; i++)
				snprintf(hex + 2 * i, 3, "%02x", key[i]);
			ssize_t w = rc == 0 ? write(fd, hex, 64) : -1;
			int e = errno;
			close(fd);
			memset(key, 0, sizeof(key));
			memset(hex, 0, sizeof(hex));
			if (w != 64) {
				unlink(path);
				return cm_err_set(err, FL_EIO,
						  "cannot write the cluster token %s: %s", path,
						  strerror(e));
			}
		} else if (errno != EEXIST) {
			return cm_err_set(err, cm_err_from_errno(errno),
					  "cannot create the cluster token %s: %s", path,
					  strerror(errno));
		}
	} else if (access(path, F_OK) != 0) {
		return cm_err_set(err, FL_ENOENT,
				  "no secret for internal connections: set security.internal.token "
				  "(or security.internal.token-file) to the JobManager's; on one "
				  "machine a JobManager started by this user writes one to %s",
				  path);
	}
	/* The file is ours alone: refuse one others can read or replace. */
	struct stat st;
	if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != getuid() ||
	    (st.st_mode & 077))
		return cm_err_set(err, FL_EINVAL,
				  "the cluster token %s must be a regular file of this user with "
				  "mode 0600",
				  path);
	return cm_secret_from_file(s, path, err);
}

int cl_local_address_towards(const char *host, int port, char *out, size_t cap, cm_err *err)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
	struct addrinfo *ai = NULL;
	char ports[16];
	snprintf(ports, sizeof(ports), "%d", port);
	int g = getaddrinfo(host, ports, &hints, &ai);
	if (g != 0)
		return cm_err_set(err, FL_ENOENT, "cannot resolve '%.200s': %s", host,
				  gai_strerror(g));
	int rc = FL_EIO;
	for (struct addrinfo *p = ai; p && rc; p = p->ai_next) {
		int fd = socket(p->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (connect(fd, p->ai_addr, p->ai_addrlen) == 0 &&
		    getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
			const void *a =
			    ss.ss_family == AF_INET
				? (const void *)&((struct sockaddr_in *)&ss)->sin_addr
				: (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
			if (inet_ntop(ss.ss_family, a, out, (socklen_t)cap))
				rc = 0;
		}
		close(fd);
	}
	freeaddrinfo(ai);
	if (rc)
		return cm_err_set(err, rc, "no local address reaches %.200s:%d", host, port);
	return 0;
}

static void on_sigpipe(int sig)
{
	(void)sig; /* a write to a closed pipe fails with EPIPE instead */
}

void cl_daemon_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	/* A handler, not SIG_IGN: a program a job starts gets SIGPIPE's default
	 * back at exec. */
	struct sigaction sa = {.sa_handler = on_sigpipe};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
}
