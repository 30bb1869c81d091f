/*
 * outputs.c — text sink directories: checks before a job, the commit after
 * it, the clean-up after a failure. See outputs.h.
 */
#include "graph/outputs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_CAP 4096
#define MARKER "_SUCCESS"

void outputs_run_id(const char *job_id, char run[OUTPUTS_RUN_ID_LEN + 1])
{
	snprintf(run, OUTPUTS_RUN_ID_LEN + 1, "%.16s", job_id);
}

bool outputs_run_id_valid(const char *run)
{
	size_t n = 0;
	for (; run[n]; n++)
		if (!isxdigit((unsigned char)run[n]))
			return false;
	return n == OUTPUTS_RUN_ID_LEN;
}

int outputs_name_path(char *buf, size_t cap, const char *dir, const outputs_name *nm)
{
	unsigned long long c = nm->counter, a = nm->attempt;
	int n;
	switch (nm->kind) {
	case OUTPUTS_WHOLE:
		n = snprintf(buf, cap, "%s/.part-%s-%d.inprogress.%016llx", dir, nm->run,
			     nm->subtask, a);
		break;
	case OUTPUTS_PUBLISHED:
		n = snprintf(buf, cap, "%s/part-%s-%d", dir, nm->run, nm->subtask);
		break;
	case OUTPUTS_ROLLING:
		n = snprintf(buf, cap, "%s/.part-%s-%d-%llu.inprogress.%016llx", dir, nm->run,
			     nm->subtask, c, a);
		break;
	case OUTPUTS_COMMITTED:
		n = snprintf(buf, cap, "%s/part-%s-%d-%llu", dir, nm->run, nm->subtask, c);
		break;
	case OUTPUTS_AT_END:
		n = snprintf(buf, cap, "%s/.part-%s-%d-%llu.inprogress.%016llx.end", dir, nm->run,
			     nm->subtask, c, a);
		break;
	default:
		return FL_EINVAL;
	}
	return n < 0 || (size_t)n >= cap ? FL_ERANGE : 0;
}

/* A decimal number at *p, in the form the formats above print (no sign,
 * no leading zero), at most max; advances *p past it. */
static bool parse_decimal(const char **p, uint64_t max, uint64_t *out)
{
	const char *s = *p;
	if (!isdigit((unsigned char)*s) || (s[0] == '0' && isdigit((unsigned char)s[1])))
		return false;
	uint64_t v = 0;
	for (; isdigit((unsigned char)*s); s++) {
		uint64_t d = (uint64_t)(*s - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*p = s;
	*out = v;
	return true;
}

static bool hex_digits(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)p[i]))
			return false;
	return true;
}

/* An attempt at *p as the formats above print it: 16 lower-case hex
 * digits (an upper-case one would parse to a number that formats to
 * another name). */
static bool parse_attempt(const char *p, uint64_t *out)
{
	for (size_t i = 0; i < 16; i++)
		if (!isdigit((unsigned char)p[i]) && (p[i] < 'a' || p[i] > 'f'))
			return false;
	*out = strtoull(p, NULL, 16);
	return true;
}

enum outputs_kind outputs_name_parse(const char *name, outputs_name *out)
{
	outputs_name n = {0};
	bool hidden = name[0] == '.';
	const char *p = name + hidden;
	if (strncmp(p, "part-", 5) != 0 || !hex_digits(p + 5, OUTPUTS_RUN_ID_LEN) ||
	    p[5 + OUTPUTS_RUN_ID_LEN] != '-')
		return OUTPUTS_NONE;
	memcpy(n.run, p + 5, OUTPUTS_RUN_ID_LEN);
	p += 5 + OUTPUTS_RUN_ID_LEN + 1;
	uint64_t v;
	if (!parse_decimal(&p, INT_MAX, &v))
		return OUTPUTS_NONE;
	n.subtask = (int)v;
	bool counted = *p == '-';
	if (counted) {
		p++;
		if (!parse_decimal(&p, UINT64_MAX, &n.counter))
			return OUTPUTS_NONE;
	}
	if (!hidden) {
		if (*p)
			return OUTPUTS_NONE;
		n.kind = counted ? OUTPUTS_COMMITTED : OUTPUTS_PUBLISHED;
	} else {
		/* .inprogress.<attempt>, then nothing or (counted) .end */
		if (strncmp(p, ".inprogress.", 12) != 0 || !parse_attempt(p + 12, &n.attempt))
			return OUTPUTS_NONE;
		p += 12 + 16;
		if (!*p)
			n.kind = counted ? OUTPUTS_ROLLING : OUTPUTS_WHOLE;
		else if (counted && strcmp(p, ".end") == 0)
			n.kind = OUTPUTS_AT_END;
		else
			return OUTPUTS_NONE;
	}
	*out = n;
	return n.kind;
}

/* dir/_SUCCESS, or with run the hidden name an earlier run's marker is
 * set aside under while this run publishes (outputs.h). */
static int marker_path(char *buf, size_t cap, const char *dir, const char *run)
{
	int n = run ? snprintf(buf, cap, "%s/." MARKER "-%s.replaced", dir, run)
		    : snprintf(buf, cap, "%s/" MARKER, dir);
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

/* ------------------------------------------------------------ locks */

/*
 * A directory a job writes to, locked from outputs_prepare until
 * outputs_commit succeeds or outputs_abort runs, so that a second run,
 * from this or another process, is refused instead of mixing its files in.
 * flock on the directory's own descriptor: nothing is left in the
 * directory, and the kernel drops the lock when the process dies, so a
 * killed run never blocks the next one. Kept per job graph, since
 * outputs.h's calls name the job by it.
 */
typedef struct held_lock {
	const jg_graph *jg;
	size_t node; /* the sink that locked it */
	int fd;
	dev_t dev;
	ino_t ino;
	struct held_lock *next;
} held_lock;

static pthread_mutex_t held_mu = PTHREAD_MUTEX_INITIALIZER;
static held_lock *held;

static void release_locks(const jg_graph *jg)
{
	pthread_mutex_lock(&held_mu);
	for (held_lock **p = &held; *p;) {
		held_lock *h = *p;
		if (h->jg != jg) {
			p = &h->next;
			continue;
		}
		*p = h->next;
		close(h->fd); /* drops the flock */
		free(h);
	}
	pthread_mutex_unlock(&held_mu);
}

/* Locks the directory of sink node i for jg; refuses one another run
 * holds, and one another sink of jg already locked (a spelling that
 * canonical paths did not catch, a bind mount). */
static int lock_dir(const jg_graph *jg, size_t i, cm_err *err)
{
	const sg_node *n = jg->sg->nodes[i];
	held_lock *h = calloc(1, sizeof(*h));
	if (!h)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	int fd;
	do
		fd = open(n->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		free(h);
		return cm_err_set(err, cm_err_from_errno(e),
				  "cannot open the output directory '%.300s': %s", n->dir,
				  strerror(e));
	}
	pthread_mutex_lock(&held_mu);
	for (held_lock *o = held; o; o = o->next) {
		if (o->jg != jg || o->dev != st.st_dev || o->ino != st.st_ino)
			continue;
		const sg_node *m = jg->sg->nodes[o->node];
		pthread_mutex_unlock(&held_mu);
		close(fd);
		free(h);
		return cm_err_set(err, FL_EINVAL,
				  "sinks '%s' and '%s' both write to directory '%.300s' "
				  "('%.200s' and '%.200s'): give each text file sink its own "
				  "directory",
				  m->name, n->name, n->dir, m->dir, n->dir);
	}
	pthread_mutex_unlock(&held_mu);
	int rc;
	while ((rc = flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR)
		;
	if (rc != 0) {
		int e = errno;
		close(fd);
		free(h);
		if (e == EWOULDBLOCK)
			return cm_err_set(
			    err, FL_EINVAL,
			    "another run is writing to the output directory '%.300s' "
			    "(it holds the directory's lock until it ends): wait for it "
			    "to end or choose another directory",
			    n->dir);
		return cm_err_set(err, cm_err_from_errno(e),
				  "cannot lock the output directory '%.300s': %s", n->dir,
				  strerror(e));
	}
	*h = (held_lock){.jg = jg, .node = i, .fd = fd, .dev = st.st_dev, .ino = st.st_ino};
	pthread_mutex_lock(&held_mu);
	h->next = held;
	held = h;
	pthread_mutex_unlock(&held_mu);
	return 0;
}

/* ---------------------------------------------------------- prepare */

/* A leftover of a killed run or attempt: hidden, ours, in progress (or
 * pending, or a link to a pending file) or set aside; also the in-progress
 * names of flinc versions before the attempt was in them. */
static bool leftover(const char *name)
{
	size_t n = strlen(name);
	outputs_name pn;
	if (strncmp(name, ".part-", 6) == 0) {
		enum outputs_kind k = outputs_name_parse(name, &pn);
		return k == OUTPUTS_WHOLE || k == OUTPUTS_ROLLING || k == OUTPUTS_AT_END ||
		       (n > 11 && strcmp(name + n - 11, ".inprogress") == 0);
	}
	if (strncmp(name, "." MARKER "-", sizeof(MARKER) + 1) == 0)
		return n > 9 && strcmp(name + n - 9, ".replaced") == 0;
	return false;
}

/* A part file that does not count as output in the way of run: one the
 * run itself committed (an earlier attempt, at a checkpoint), or, for a
 * restored job, any run's (the output it continues), and the _SUCCESS of
 * the run it continues (a job stopped with a savepoint FINISHED and wrote
 * one: its output is complete no more once a restored job goes on). */
static bool continued(const char *name, const char *run, bool restored)
{
	if (restored && strcmp(name, MARKER) == 0)
		return true;
	outputs_name pn;
	enum outputs_kind k = outputs_name_parse(name, &pn);
	if (k != OUTPUTS_PUBLISHED && k != OUTPUTS_COMMITTED)
		return false;
	return restored || strcmp(pn.run, run) == 0;
}

/* 1 when dir holds anything but leftovers (and what run continues), 0
 * when it does not or does not exist, or an error naming dir and why it
 * cannot be read (a path through a file, no permission): never "already
 * exists" for those. */
static int holds_output(const char *dir, const char *run, bool restored, cm_err *err)
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
		      !leftover(e->d_name) && !continued(e->d_name, run, restored);
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

/* One sink's checks and lock; the caller releases jg's locks on error. */
static int prepare_sink(const jg_graph *jg, size_t i, const char *run, bool overwrite, cm_err *err)
{
	const sg_graph *sg = jg->sg;
	const sg_node *n = sg->nodes[i];
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
	/* Checked before anything is created, and again under the lock: a
	 * run that held it may have published meanwhile. */
	bool restored = sg->restored;
	if (!overwrite && (rc = holds_output(n->dir, run, restored, err)) != 0)
		return rc < 0 ? rc : no_overwrite(n->dir, err);
	if ((rc = outputs_mkdirs(n->dir, err)) != 0 || (rc = lock_dir(jg, i, err)) != 0)
		return rc;
	if (!overwrite && (rc = holds_output(n->dir, run, restored, err)) != 0)
		return rc < 0 ? rc : no_overwrite(n->dir, err);
	return 0;
}

int outputs_prepare(const jg_graph *jg, const char *run, bool overwrite, cm_err *err)
{
	const sg_graph *sg = jg->sg;
	for (size_t i = 0; i < sg->nnodes; i++) {
		if (sg->nodes[i]->kind != SG_SINK_TEXT_FILE)
			continue;
		int rc = prepare_sink(jg, i, run, overwrite, err);
		if (rc) {
			release_locks(jg);
			return rc;
		}
	}
	return 0;
}

/* ----------------------------------------------------------- commit */

/* The next text sink's node id after node i (-1: the first), or -1. */
static int next_sink(const jg_graph *jg, int i)
{
	for (i++; (size_t)i < jg->sg->nnodes; i++)
		if (jg->sg->nodes[i]->kind == SG_SINK_TEXT_FILE)
			return i;
	return -1;
}

#define FOR_SINKS(jg, i) for (int i = next_sink(jg, -1); i >= 0; i = next_sink(jg, i))

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

static int too_long(const char *dir, cm_err *err)
{
	return cm_err_set(err, FL_ERANGE, "the output path '%.200s...' is too long", dir);
}

/* dir/<subtask s's in-progress file of the run's attempt> into buf. */
static int whole_path(char *buf, size_t cap, const char *dir, const char *run, int s,
		      uint64_t attempt)
{
	outputs_name n = {.kind = OUTPUTS_WHOLE, .subtask = s, .attempt = attempt};
	memcpy(n.run, run, OUTPUTS_RUN_ID_LEN);
	return outputs_name_path(buf, cap, dir, &n);
}

/* Before anything changes: every part file of the attempt is there, and,
 * without overwrite, no other writer's output appeared beside it (flinc
 * runs wait for the lock; a writer that takes none does not). */
static int check_sink(const jg_graph *jg, int i, const char *run, uint64_t attempt,
		      bool overwrite, cm_err *err)
{
	const char *dir = jg->sg->nodes[i]->dir;
	char path[PATH_CAP];
	for (int s = 0; s < jg->node_parallelism[i]; s++) {
		if (whole_path(path, sizeof(path), dir, run, s, attempt) != 0)
			return too_long(dir, err);
		struct stat st;
		if (lstat(path, &st) != 0) {
			int e = errno;
			return cm_err_set(err, cm_err_from_errno(e),
					  "cannot publish '%.300s': it is missing: %s", path,
					  strerror(e));
		}
		if (!S_ISREG(st.st_mode))
			return cm_err_set(err, FL_EIO,
					  "cannot publish '%.300s': it is no longer a regular file",
					  path);
	}
	if (marker_path(path, sizeof(path), dir, run) != 0)
		return too_long(dir, err);
	if (overwrite)
		return 0;
	DIR *d = opendir(dir);
	if (!d)
		return cm_err_set(err, cm_err_from_errno(errno),
				  "cannot read the output directory '%.300s': %s", dir,
				  strerror(errno));
	char mine[64];
	snprintf(mine, sizeof(mine), "part-%s-", run);
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d))) {
		bool foreign = (strcmp(e->d_name, MARKER) == 0 &&
				!continued(e->d_name, run, jg->sg->restored)) ||
			       (strncmp(e->d_name, "part-", 5) == 0 &&
				strncmp(e->d_name, mine, strlen(mine)) != 0 &&
				!continued(e->d_name, run, jg->sg->restored));
		if (foreign)
			rc = cm_err_set(err, FL_EIO,
					"'%.300s' meanwhile holds '%.100s' of another run: not "
					"published beside it (NO_OVERWRITE)",
					dir, e->d_name);
	}
	closedir(d);
	return rc;
}

/* The files one commit renamed, so that a failure can rename them back:
 * links of files pending at the end of input are published under names a
 * checkpoint's commit also uses (part-<run>-<s>-<n>), so a failure cannot
 * tell them apart from those by name. */
struct move {
	char *from, *to;
};

typedef struct moves {
	struct move *v;
	size_t n, cap;
} moves;

static int moves_add(moves *m, const char *from, const char *to)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 16;
		struct move *v = realloc(m->v, cap * sizeof(*v));
		if (!v)
			return FL_ENOMEM;
		m->v = v;
		m->cap = cap;
	}
	char *f = strdup(from), *t = strdup(to);
	if (!f || !t) {
		free(f);
		free(t);
		return FL_ENOMEM;
	}
	m->v[m->n++] = (struct move){f, t};
	return 0;
}

static void moves_fini(moves *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].from);
		free(m->v[i].to);
	}
	free(m->v);
	*m = (moves){0};
}

/* Publishes the links sink i's subtasks of attempt `attempt` made, at the
 * end of their input, to the files still pending then
 * (.part-<run>-<s>-<n>.inprogress.<attempt>.end). Another attempt's are
 * never published: a task of it that lived on after its JobMaster gave it
 * up (a zombie) may have made them from records this attempt wrote too. */
static int publish_at_end(const char *dir, const char *run, uint64_t attempt, moves *m,
			  cm_err *err)
{
	DIR *d = opendir(dir);
	if (!d)
		return cm_err_set(err, cm_err_from_errno(errno),
				  "cannot read the output directory '%.300s': %s", dir,
				  strerror(errno));
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d))) {
		outputs_name n;
		if (outputs_name_parse(e->d_name, &n) != OUTPUTS_AT_END || strcmp(n.run, run) != 0 ||
		    n.attempt != attempt)
			continue;
		char from[PATH_CAP], to[PATH_CAP];
		if (outputs_name_path(from, sizeof(from), dir, &n) != 0)
			rc = too_long(dir, err);
		n.kind = OUTPUTS_COMMITTED;
		if (rc == 0 && outputs_name_path(to, sizeof(to), dir, &n) != 0)
			rc = too_long(dir, err);
		if (rc == 0 && moves_add(m, from, to) != 0)
			rc = cm_err_set(err, FL_ENOMEM, "out of memory");
		if (rc == 0 && rename(from, to) != 0) {
			int en = errno;
			m->n--; /* not moved */
			free(m->v[m->n].from);
			free(m->v[m->n].to);
			rc = cm_err_set(err, cm_err_from_errno(en),
					"cannot publish '%.300s' as '%.300s': %s", from, to,
					strerror(en));
		}
	}
	closedir(d);
	return rc;
}

/* Publishes sink i's part files; with overwrite, an earlier run's
 * _SUCCESS is set aside first, so no marker ever stands beside a mix of
 * runs (without, there is none, and one that appears makes the marker's
 * O_EXCL fail). What it renamed goes into m. */
static int publish_sink(const jg_graph *jg, int i, const char *run, uint64_t attempt,
			bool overwrite, moves *m, cm_err *err)
{
	const char *dir = jg->sg->nodes[i]->dir;
	char from[PATH_CAP], to[PATH_CAP];
	if (marker_path(from, sizeof(from), dir, NULL) != 0 ||
	    marker_path(to, sizeof(to), dir, run) != 0)
		return too_long(dir, err);
	if ((overwrite || jg->sg->restored) && rename(from, to) != 0 && errno != ENOENT) {
		int e = errno;
		return cm_err_set(err, cm_err_from_errno(e), "cannot set aside '%.300s': %s", from,
				  strerror(e));
	}
	for (int s = 0; s < jg->node_parallelism[i]; s++) {
		outputs_name pub = {.kind = OUTPUTS_PUBLISHED, .subtask = s};
		memcpy(pub.run, run, OUTPUTS_RUN_ID_LEN);
		if (whole_path(from, sizeof(from), dir, run, s, attempt) != 0 ||
		    outputs_name_path(to, sizeof(to), dir, &pub) != 0)
			return too_long(dir, err);
		if (moves_add(m, from, to) != 0)
			return cm_err_set(err, FL_ENOMEM, "out of memory");
		if (rename(from, to) != 0) {
			int e = errno;
			m->n--;
			free(m->v[m->n].from);
			free(m->v[m->n].to);
			return cm_err_set(err, cm_err_from_errno(e),
					  "cannot publish '%.300s' as '%.300s': %s", from, to,
					  strerror(e));
		}
	}
	return publish_at_end(dir, run, attempt, m, err);
}

/* The earlier runs' published files: part-* and _SUCCESS. Their set-aside
 * marker goes first: from here on their output is no longer whole. A
 * restored job keeps the part files: it continues that output. */
static int remove_published(const char *dir, const char *run, bool restored, cm_err *err)
{
	char path[PATH_CAP];
	if (marker_path(path, sizeof(path), dir, run) != 0)
		return too_long(dir, err);
	if (unlink(path) != 0 && errno != ENOENT)
		return cm_err_set(err, cm_err_from_errno(errno), "cannot remove '%.300s': %s", path,
				  strerror(errno));
	DIR *d = opendir(dir);
	if (!d)
		return cm_err_set(err, cm_err_from_errno(errno), "cannot read '%.300s': %s", dir,
				  strerror(errno));
	char mine[64];
	snprintf(mine, sizeof(mine), "part-%s-", run);
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d))) {
		bool old_part = !restored && strncmp(e->d_name, "part-", 5) == 0 &&
				strncmp(e->d_name, mine, strlen(mine)) != 0;
		if (!old_part && strcmp(e->d_name, MARKER) != 0)
			continue;
		int n = snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (n < 0 || (size_t)n >= sizeof(path))
			rc = too_long(dir, err);
		else if (unlink(path) != 0 && errno != ENOENT)
			rc = cm_err_set(err, cm_err_from_errno(errno), "cannot remove '%.300s': %s",
					path, strerror(errno));
	}
	closedir(d);
	return rc;
}

/* Writes and syncs sink i's _SUCCESS; never through a link, never over a
 * file that is there; removed again if it cannot be made durable. */
static int write_marker(const jg_graph *jg, int i, cm_err *err)
{
	const char *dir = jg->sg->nodes[i]->dir;
	char marker[PATH_CAP];
	if (marker_path(marker, sizeof(marker), dir, NULL) != 0)
		return too_long(dir, err);
	int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (fd < 0) {
		int e = errno;
		return cm_err_set(err, cm_err_from_errno(e), "cannot write '%.300s': %s", marker,
				  strerror(e));
	}
	int e = fsync(fd) != 0 ? errno : 0;
	if (close(fd) != 0 && !e)
		e = errno;
	if (!e && sync_dir(dir) != 0)
		e = errno;
	if (e) {
		unlink(marker);
		return cm_err_set(err, cm_err_from_errno(e), "cannot write '%.300s': %s", marker,
				  strerror(e));
	}
	return 0;
}

/*
 * Undoes a commit that failed part-way, so that nothing it published looks
 * committed: the _SUCCESS markers it wrote (sinks before node marked_below)
 * go, the files it renamed (m) return to their hidden names (and are
 * removed when that fails; outputs_abort removes them either way), and an
 * earlier run's marker that is still set aside returns: its output was
 * left whole.
 */
static void unpublish(const jg_graph *jg, const char *run, int marked_below, const moves *m)
{
	for (size_t k = m->n; k-- > 0;)
		if (rename(m->v[k].to, m->v[k].from) != 0)
			unlink(m->v[k].to);
	FOR_SINKS(jg, i)
	{
		const char *dir = jg->sg->nodes[i]->dir;
		char from[PATH_CAP], to[PATH_CAP];
		if (i < marked_below && marker_path(to, sizeof(to), dir, NULL) == 0)
			unlink(to);
		struct stat st;
		if (marker_path(from, sizeof(from), dir, run) == 0 &&
		    marker_path(to, sizeof(to), dir, NULL) == 0 && lstat(from, &st) == 0 &&
		    lstat(to, &st) != 0 && errno == ENOENT)
			rename(from, to);
		sync_dir(dir);
	}
}

/* Removes every file of run in dir whose kind is `kind`, of attempt
 * *attempt, or of any attempt when attempt is NULL (best effort). */
static void remove_kind(const char *dir, const char *run, enum outputs_kind kind,
			const uint64_t *attempt)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		outputs_name n;
		char path[PATH_CAP];
		if (outputs_name_parse(e->d_name, &n) == kind && strcmp(n.run, run) == 0 &&
		    (!attempt || n.attempt == *attempt) &&
		    outputs_name_path(path, sizeof(path), dir, &n) == 0)
			unlink(path);
	}
	closedir(d);
}

static int commit_all(const jg_graph *jg, const char *run, uint64_t attempt, bool overwrite,
		      moves *m, cm_err *err)
{
	int rc = 0;
	FOR_SINKS(jg, i)
	{
		if ((rc = check_sink(jg, i, run, attempt, overwrite, err)) != 0)
			return rc;
	}
	FOR_SINKS(jg, i)
	{
		if ((rc = publish_sink(jg, i, run, attempt, overwrite, m, err)) != 0)
			goto undo;
	}
	/* Only now, with every part file of this run published, does the
	 * earlier output go (overwrite; without, there is none), or, for a
	 * restored job, the marker it set aside (it keeps the part files). */
	if (overwrite || jg->sg->restored) {
		FOR_SINKS(jg, i)
		{
			if ((rc = remove_published(jg->sg->nodes[i]->dir, run, jg->sg->restored,
						   err)) != 0)
				goto undo;
		}
	}
	/* The renames are durable before any marker is. */
	FOR_SINKS(jg, i)
	{
		if (sync_dir(jg->sg->nodes[i]->dir) != 0) {
			rc = cm_err_set(err, cm_err_from_errno(errno), "cannot sync '%.300s': %s",
					jg->sg->nodes[i]->dir, strerror(errno));
			goto undo;
		}
	}
	FOR_SINKS(jg, i)
	{
		if ((rc = write_marker(jg, i, err)) != 0) {
			unpublish(jg, run, i, m);
			return rc;
		}
	}
	/* Published: the hidden files of the run left are pending files
	 * whose links were published, or leftovers of other attempts (their
	 * in-progress files and links too: the run is complete without them,
	 * and nothing publishes them now). */
	FOR_SINKS(jg, i)
	{
		const char *dir = jg->sg->nodes[i]->dir;
		remove_kind(dir, run, OUTPUTS_ROLLING, NULL);
		remove_kind(dir, run, OUTPUTS_WHOLE, NULL);
		remove_kind(dir, run, OUTPUTS_AT_END, NULL);
	}
	return 0;
undo:
	unpublish(jg, run, -1, m);
	return rc;
}

int outputs_commit(const jg_graph *jg, const char *run, uint64_t attempt, bool overwrite,
		   cm_err *err)
{
	moves m = {0};
	int rc = commit_all(jg, run, attempt, overwrite, &m, err);
	moves_fini(&m);
	/* On failure the locks stay until outputs_abort has removed the
	 * run's files. */
	if (rc == 0)
		release_locks(jg);
	return rc;
}

void outputs_abort(const jg_graph *jg, const char *run, uint64_t attempt)
{
	FOR_SINKS(jg, i)
	{
		const sg_node *n = jg->sg->nodes[i];
		for (int s = 0; s < jg->node_parallelism[i]; s++) {
			char path[PATH_CAP];
			if (whole_path(path, sizeof(path), n->dir, run, s, attempt) == 0)
				unlink(path);
		}
		/* Only the links: the files they point to may be pending for a
		 * checkpoint that completed, which the next attempt commits. */
		remove_kind(n->dir, run, OUTPUTS_AT_END, &attempt);
	}
	release_locks(jg);
}
