/*
 * coordinator.c — pending and completed checkpoints of one job.
 */
#include "checkpoint/coordinator.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/clock.h"
#include "common/log.h"

/* Completed checkpoints kept at most, whatever num-retained says. */
#define MAX_RETAINED 100
/* cp_coordinator.last_trigger_ms before the first periodic trigger. */
#define NO_TRIGGER INT64_MIN

struct pending {
	struct pending *next;
	uint64_t id;
	enum cp_kind kind;
	int64_t trigger_ms, trigger_wall_ms, latest_ack_wall_ms;
	char dir[1100];
	bool *acked; /* per task */
	size_t nacked;
	cp_op_state *states;
	size_t nstates, cap;
	uint64_t bytes;
};

struct completed {
	cp_metadata m;
	char dir[1100];
};

struct cp_coordinator {
	pthread_mutex_t mu;
	cp_config c;
	char job_id[33];
	size_t ntasks;
	uint64_t next_id;
	struct pending *pending;
	size_t npending;
	int64_t last_end_ms;	 /* monotonic: when the last checkpoint ended (min-pause) */
	/* monotonic: the last periodic trigger (interval); NO_TRIGGER before
	 * the first. Not -1: cp_due_now sets it an interval back, which is
	 * below zero while the monotonic clock (time since boot) is younger
	 * than the interval. */
	int64_t last_trigger_ms;
	int consecutive_failures;
	/* Completed checkpoints, oldest first, and the latest savepoint apart
	 * (savepoints are never discarded by the coordinator). */
	struct completed *done[MAX_RETAINED];
	size_t ndone;
	struct completed *savepoint;
	bool latest_is_savepoint; /* the latest completed is the savepoint */
	cp_stats st;
	cp_publish_fn publish; /* the high-availability store, or NULL */
	void *publish_arg;
};

/* ------------------------------------------------------------ config */

static int local_dir(const cfg *c, const char *key, const char *fallback, char *out, size_t cap,
		     cm_err *err)
{
	const char *v = "";
	if (cfg_is_set(c, key) || !fallback)
		cfg_get_string(c, key, &v);
	else
		cfg_get_string(c, fallback, &v);
	if (!v)
		v = "";
	const char *used = cfg_is_set(c, key) || !fallback ? key : fallback;
	if (strncmp(v, "file://", 7) == 0)
		v += 7;
	else if (strstr(v, "://"))
		return cm_err_set(err, FL_EINVAL,
				  "%s: '%.200s' is not a local path or file:// URI (flinc writes "
				  "checkpoints to a file system, on Kubernetes a shared volume)",
				  used, v);
	if ((size_t)snprintf(out, cap, "%s", v) >= cap)
		return cm_err_set(err, FL_EINVAL, "%s: the path is too long", used);
	return 0;
}

int cp_config_read(const cfg *c, cp_config *o, cm_err *err)
{
	memset(o, 0, sizeof(*o));
	int64_t v = 0;
	cfg_get_duration_ms(c, CFG_CKP_INTERVAL, &o->interval_ms);
	o->timeout_ms = 600000;
	cfg_get_duration_ms(c, CFG_CKP_TIMEOUT, &o->timeout_ms);
	cfg_get_duration_ms(c, CFG_CKP_MIN_PAUSE, &o->min_pause_ms);
	v = 1;
	cfg_get_int(c, CFG_CKP_MAX_CONCURRENT, &v);
	o->max_concurrent = (int)v;
	v = 0;
	cfg_get_int(c, CFG_CKP_TOLERABLE, &v);
	o->tolerable_failures = (int)v;
	v = 1;
	cfg_get_int(c,
		    cfg_is_set(c, CFG_CKP_NUM_RETAINED) ? CFG_CKP_NUM_RETAINED
							: CFG_CKP_NUM_RETAINED_OLD,
		    &v);
	o->num_retained = (int)v;
	const char *s = "NO_EXTERNALIZED_CHECKPOINTS";
	cfg_get_string(c, CFG_CKP_RETENTION, &s);
	o->retention = strcasecmp(s, "RETAIN_ON_CANCELLATION") == 0   ? CP_RETAIN_ON_CANCEL
		       : strcasecmp(s, "DELETE_ON_CANCELLATION") == 0 ? CP_RETAIN_DELETE_ON_CANCEL
								      : CP_RETAIN_NONE;
	s = "EXACTLY_ONCE";
	cfg_get_string(c, CFG_CKP_MODE, &s);
	o->exactly_once = strcasecmp(s, "AT_LEAST_ONCE") != 0;
	o->after_finish = true;
	cfg_get_bool(c,
		     cfg_is_set(c, CFG_CKP_AFTER_FINISH) ? CFG_CKP_AFTER_FINISH
							 : CFG_CKP_AFTER_FINISH_OLD,
		     &o->after_finish);
	int rc = local_dir(c, CFG_CKP_DIR_NEW, CFG_CKP_DIR, o->dir, sizeof(o->dir), err);
	if (rc == 0)
		rc = local_dir(c, CFG_SP_DIR_NEW, CFG_SP_DIR, o->savepoint_dir,
			       sizeof(o->savepoint_dir), err);
	/* Flink would keep them in the JobManager's memory; flinc writes
	 * checkpoints to files only. */
	if (rc == 0 && o->interval_ms > 0 && !o->dir[0])
		rc = cm_err_set(err, FL_EINVAL,
				"%s is set but %s (or %s) is not: periodic checkpoints need a "
				"directory",
				CFG_CKP_INTERVAL, CFG_CKP_DIR_NEW, CFG_CKP_DIR);
	return rc;
}

/* ------------------------------------------------------------ files */

/* Removes path/file when file is a safe relative name (metadata checked
 * that), ignoring a file already gone. */
static void remove_in(const char *dir, const char *file)
{
	char p[PATH_MAX];
	if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, file) < sizeof(p) && unlink(p) != 0 &&
	    errno != ENOENT)
		CM_WARN("checkpoint", "cannot remove %s: %s", p, strerror(errno));
}

/* Removes dir's *.state files, its _metadata and the temporary one, then
 * dir. Returns 0 or rmdir's errno. */
static int remove_files_and_dir(const char *dir)
{
	DIR *d = opendir(dir);
	for (struct dirent *e = d ? readdir(d) : NULL; e; e = readdir(d)) {
		size_t len = strlen(e->d_name);
		if (len > 6 && strcmp(e->d_name + len - 6, ".state") == 0)
			remove_in(dir, e->d_name);
	}
	if (d)
		closedir(d);
	remove_in(dir, "_metadata");
	remove_in(dir, "._metadata.inprogress");
	return rmdir(dir) == 0 ? 0 : errno;
}

/* How often discard_dir scans a directory found not empty again. */
#define DISCARD_PASSES 16

/*
 * The path of a state file named from checkpoint directory dir: its own
 * ("x.state", in dir) or an earlier checkpoint's ("../chk-N/x.state", in
 * dir's parent). 0, or -1 when it does not fit.
 */
static int file_path(const char *dir, const char *name, char *out, size_t cap)
{
	if (strncmp(name, "../", 3) == 0) {
		const char *slash = strrchr(dir, '/');
		int plen = slash ? (int)(slash - dir) : 0;
		return (size_t)snprintf(out, cap, "%.*s/%s", plen, dir, name + 3) < cap ? 0 : -1;
	}
	return (size_t)snprintf(out, cap, "%s/%s", dir, name) < cap ? 0 : -1;
}

/* Whether state s (of a checkpoint in dir) names the file at path. */
static bool names_file(const char *dir, const cp_op_state *s, const char *path)
{
	char p[PATH_MAX];
	if (s->keyed_file && file_path(dir, s->keyed_file, p, sizeof(p)) == 0 &&
	    strcmp(p, path) == 0)
		return true;
	for (size_t k = 0; k < s->nbase; k++)
		if (file_path(dir, s->base_files[k], p, sizeof(p)) == 0 && strcmp(p, path) == 0)
			return true;
	return false;
}

/* Whether a retained checkpoint names the state file at path (mu held);
 * file_in_use says more. */
static bool retained_names(cp_coordinator *cp, const char *uid, int subtask, const char *path)
{
	for (size_t i = 0; i < cp->ndone; i++)
		for (size_t j = 0; j < cp->done[i]->m.nstates; j++) {
			const cp_op_state *s = &cp->done[i]->m.states[j];
			if (s->subtask == subtask && strcmp(s->uid, uid) == 0 &&
			    names_file(cp->done[i]->dir, s, path))
				return true;
		}
	return false;
}

/*
 * Whether a checkpoint the coordinator keeps (retained or pending; mu
 * held) names the state file at path, written for operator uid's subtask:
 * incremental checkpoints share files (reference counting by looking, as
 * the retained checkpoints are few). Only the same operator subtask can
 * name it: a chain grows within one subtask.
 */
static bool file_in_use(cp_coordinator *cp, const char *uid, int subtask, const char *path)
{
	if (retained_names(cp, uid, subtask, path))
		return true;
	for (struct pending *p = cp->pending; p; p = p->next)
		for (size_t j = 0; j < p->nstates; j++) {
			const cp_op_state *s = &p->states[j];
			if (s->subtask == subtask && s->uid && strcmp(s->uid, uid) == 0 &&
			    names_file(p->dir, s, path))
				return true;
		}
	return false;
}

/* Removes the file at path unless a kept checkpoint names it; then the
 * directory it was in, when that was an earlier checkpoint's that only
 * held shared files (rmdir leaves a directory that is not empty). */
static void release_file(cp_coordinator *cp, const char *own_dir, const cp_op_state *s,
			 const char *path)
{
	if (file_in_use(cp, s->uid, s->subtask, path))
		return;
	if (unlink(path) != 0 && errno != ENOENT)
		CM_WARN("checkpoint", "cannot remove %s: %s", path, strerror(errno));
	const char *slash = strrchr(path, '/');
	size_t dl = slash ? (size_t)(slash - path) : 0;
	if (dl && (strlen(own_dir) != dl || strncmp(own_dir, path, dl) != 0)) {
		char d[PATH_MAX];
		snprintf(d, sizeof(d), "%.*s", (int)dl, path);
		(void)rmdir(d);
	}
}

/*
 * Removes a checkpoint's files (mu held; the checkpoint is no longer among
 * the kept ones): those its states name that no kept checkpoint names, the
 * state files tasks wrote whose acknowledgement never counted (a
 * checkpoint aborted meanwhile), _metadata, then the directory, unless a
 * later incremental checkpoint still names a file in it (the directory then
 * goes with the last such file) or something unknown is in it. The
 * directory is one the coordinator made for this checkpoint.
 */
static void discard_dir(cp_coordinator *cp, const char *dir, const cp_op_state *s, size_t n)
{
	if (!dir[0])
		return;
	char p[PATH_MAX];
	bool shared = false;
	for (size_t i = 0; i < n; i++) {
		if (s[i].keyed_file && file_path(dir, s[i].keyed_file, p, sizeof(p)) == 0) {
			if (file_in_use(cp, s[i].uid, s[i].subtask, p))
				shared = true;
			else
				release_file(cp, dir, &s[i], p);
		}
		for (size_t k = 0; k < s[i].nbase; k++)
			if (file_path(dir, s[i].base_files[k], p, sizeof(p)) == 0)
				release_file(cp, dir, &s[i], p);
	}
	if (shared) {
		/* The directory stays for the files a later checkpoint names. */
		remove_in(dir, "_metadata");
		remove_in(dir, "._metadata.inprogress");
		return;
	}
	/* Files of acknowledgements that never counted. A task still writing
	 * its share of an aborted checkpoint can create its file between the
	 * scan and rmdir: scan again then (each task creates its file once,
	 * so a few passes do), or a failed chk-N without _metadata would
	 * stay. */
	int e = ENOTEMPTY;
	for (int pass = 0; pass < DISCARD_PASSES && (e == ENOTEMPTY || e == EEXIST); pass++)
		e = remove_files_and_dir(dir);
	if (e && e != ENOENT)
		CM_WARN("checkpoint", "cannot remove %s: %s", dir, strerror(e));
}

static int mkdirs(const char *path)
{
	char p[PATH_MAX];
	if ((size_t)snprintf(p, sizeof(p), "%s", path) >= sizeof(p))
		return ENAMETOOLONG;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			return errno;
		*s = '/';
	}
	if (mkdir(p, 0755) != 0 && errno != EEXIST)
		return errno;
	return 0;
}

/* ------------------------------------------------------------ lifecycle */

int cp_new(const cp_config *c, const char *job_id, size_t ntasks, cp_coordinator **out)
{
	*out = NULL;
	cp_coordinator *cp = calloc(1, sizeof(*cp));
	if (!cp)
		return FL_ENOMEM;
	pthread_mutex_init(&cp->mu, NULL);
	cp->c = *c;
	if (cp->c.max_concurrent < 1)
		cp->c.max_concurrent = 1;
	if (cp->c.num_retained < 1)
		cp->c.num_retained = 1;
	if (cp->c.num_retained > MAX_RETAINED)
		cp->c.num_retained = MAX_RETAINED;
	snprintf(cp->job_id, sizeof(cp->job_id), "%s", job_id);
	cp->ntasks = ntasks;
	cp->next_id = 1;
	cp->last_end_ms = -1;
	cp->last_trigger_ms = NO_TRIGGER;
	*out = cp;
	return 0;
}

static void pending_free(struct pending *p)
{
	for (size_t i = 0; i < p->nstates; i++)
		cp_op_state_fini(&p->states[i]);
	free(p->states);
	free(p->acked);
	free(p);
}

static void completed_free(struct completed *c)
{
	if (!c)
		return;
	cp_metadata_fini(&c->m);
	free(c);
}

void cp_free(cp_coordinator *cp)
{
	if (!cp)
		return;
	while (cp->pending) {
		struct pending *p = cp->pending;
		cp->pending = p->next;
		pending_free(p);
	}
	for (size_t i = 0; i < cp->ndone; i++)
		completed_free(cp->done[i]);
	completed_free(cp->savepoint);
	pthread_mutex_destroy(&cp->mu);
	free(cp);
}

void cp_set_tasks(cp_coordinator *cp, size_t ntasks)
{
	pthread_mutex_lock(&cp->mu);
	cp->ntasks = ntasks;
	pthread_mutex_unlock(&cp->mu);
}

/* ------------------------------------------------------------ statistics */

static void stat_of(const struct pending *p, enum cp_status status, size_t ntasks, int64_t now,
		    const char *failure, cp_stat *s)
{
	memset(s, 0, sizeof(*s));
	s->id = p->id;
	s->status = status;
	s->kind = p->kind;
	s->trigger_ms = p->trigger_wall_ms;
	s->latest_ack_ms = p->latest_ack_wall_ms;
	s->duration_ms = now - p->trigger_ms;
	s->state_bytes = p->bytes;
	s->acked = p->nacked;
	s->ntasks = ntasks;
	snprintf(s->path, sizeof(s->path), "%s", p->dir);
	snprintf(s->failure, sizeof(s->failure), "%s", failure ? failure : "");
}

/* Puts s at the head of the history, replacing the entry of the same id. */
static void history_put(cp_stats *st, const cp_stat *s)
{
	size_t i = 0;
	while (i < st->nhistory && st->history[i].id != s->id)
		i++;
	if (i == st->nhistory) {
		if (st->nhistory < CP_HISTORY)
			st->nhistory++;
		i = st->nhistory - 1;
	}
	memmove(&st->history[1], &st->history[0], i * sizeof(cp_stat));
	st->history[0] = *s;
}

void cp_get_stats(cp_coordinator *cp, cp_stats *out)
{
	pthread_mutex_lock(&cp->mu);
	*out = cp->st;
	/* In-progress entries show their progress now. */
	int64_t now = cm_now_ms();
	for (struct pending *p = cp->pending; p; p = p->next)
		for (size_t i = 0; i < out->nhistory; i++)
			if (out->history[i].id == p->id && out->history[i].status == CP_IN_PROGRESS)
				stat_of(p, CP_IN_PROGRESS, cp->ntasks, now, NULL, &out->history[i]);
	pthread_mutex_unlock(&cp->mu);
}

bool cp_acked(cp_coordinator *cp, uint64_t id, size_t task)
{
	bool acked = false;
	pthread_mutex_lock(&cp->mu);
	for (struct pending *p = cp->pending; p; p = p->next)
		if (p->id == id && task < cp->ntasks && p->acked)
			acked = p->acked[task];
	pthread_mutex_unlock(&cp->mu);
	return acked;
}

void cp_get_config(cp_coordinator *cp, cp_config *out)
{
	pthread_mutex_lock(&cp->mu);
	*out = cp->c;
	pthread_mutex_unlock(&cp->mu);
}

/* ------------------------------------------------------------ triggering */

int64_t cp_next_due(cp_coordinator *cp, int64_t now)
{
	pthread_mutex_lock(&cp->mu);
	int64_t due = -1;
	if (cp->c.interval_ms > 0) {
		/* An interval after the previous periodic trigger (the first one
		 * an interval after the start, as Flink's first is), and no
		 * sooner than min-pause after the last checkpoint ended. */
		if (cp->last_trigger_ms == NO_TRIGGER)
			cp->last_trigger_ms = now;
		due = cp->last_trigger_ms + cp->c.interval_ms;
		if (cp->last_end_ms >= 0 && cp->last_end_ms + cp->c.min_pause_ms > due)
			due = cp->last_end_ms + cp->c.min_pause_ms;
	}
	pthread_mutex_unlock(&cp->mu);
	return due;
}

void cp_due_now(cp_coordinator *cp, int64_t now)
{
	pthread_mutex_lock(&cp->mu);
	if (cp->c.interval_ms > 0)
		cp->last_trigger_ms = now - cp->c.interval_ms;
	pthread_mutex_unlock(&cp->mu);
}

void cp_skipped(cp_coordinator *cp, int64_t now)
{
	pthread_mutex_lock(&cp->mu);
	cp->last_trigger_ms = now;
	pthread_mutex_unlock(&cp->mu);
}

static bool failed_locked(cp_coordinator *cp, struct pending *p, const char *why, int64_t now,
			  bool counts);

int cp_trigger(cp_coordinator *cp, int64_t now, enum cp_kind kind, const char *target, uint64_t *id,
	       char *dir, size_t dir_cap, cm_err *err)
{
	pthread_mutex_lock(&cp->mu);
	int rc = 0;
	struct pending *p = NULL;
	if (cp->npending >= (size_t)cp->c.max_concurrent) {
		rc = cm_err_set(err, kind == CP_SAVEPOINT ? FL_EINVAL : FL_ERANGE,
				"%zu checkpoint(s) in progress, at most %d at once "
				"(execution.checkpointing.max-concurrent-checkpoints)",
				cp->npending, cp->c.max_concurrent);
		goto out;
	}
	if (kind == CP_CHECKPOINT && cp->last_end_ms >= 0 &&
	    now < cp->last_end_ms + cp->c.min_pause_ms) {
		rc = cm_err_set(err, FL_ERANGE,
				"the last checkpoint ended less than "
				"execution.checkpointing.min-pause ago");
		goto out;
	}
	const char *base =
	    kind == CP_SAVEPOINT ? (target && *target ? target : cp->c.savepoint_dir) : cp->c.dir;
	if (strncmp(base, "file://", 7) == 0)
		base += 7;
	if (!base[0]) {
		rc = cm_err_set(err, FL_EINVAL,
				kind == CP_SAVEPOINT
				    ? "no savepoint directory: give a target directory or set "
				      "execution.checkpointing.savepoint-dir (state.savepoints.dir)"
				    : "no checkpoint directory: set execution.checkpointing.dir "
				      "(state.checkpoints.dir)");
		goto out;
	}
	p = calloc(1, sizeof(*p));
	if (!p || !(p->acked = calloc(cp->ntasks ? cp->ntasks : 1, sizeof(bool)))) {
		rc = cm_err_set(err, FL_ENOMEM, "out of memory");
		goto out;
	}
	p->id = cp->next_id;
	p->kind = kind;
	p->trigger_ms = now;
	p->trigger_wall_ms = cm_wall_ms();
	int n;
	if (kind == CP_SAVEPOINT) {
		uint8_t r[6];
		cm_random(r, sizeof(r));
		n = snprintf(p->dir, sizeof(p->dir), "%s/savepoint-%.6s-%02x%02x%02x%02x%02x%02x",
			     base, cp->job_id, r[0], r[1], r[2], r[3], r[4], r[5]);
	} else {
		n = snprintf(p->dir, sizeof(p->dir), "%s/%s/chk-%llu", base, cp->job_id,
			     (unsigned long long)p->id);
	}
	if (n < 0 || (size_t)n >= sizeof(p->dir) || (size_t)n >= dir_cap) {
		rc = cm_err_set(err, FL_EINVAL, "checkpoint directory path too long: %.200s", base);
		goto out;
	}
	int e = mkdirs(p->dir);
	if (e) {
		rc = cm_err_set(err, FL_EIO, "cannot create %s: %s", p->dir, strerror(e));
		/* Shown as a failed checkpoint and logged, or a job whose
		 * directory is unusable would skip every checkpoint silently;
		 * not counted against the tolerable failures (Flink's
		 * TRIGGER_CHECKPOINT_FAILURE). */
		cp->next_id++;
		cp->st.triggered++;
		failed_locked(cp, p, err->msg, now, false);
		goto out;
	}
	cp->next_id++;
	if (kind == CP_CHECKPOINT)
		cp->last_trigger_ms = now;
	p->next = cp->pending;
	cp->pending = p;
	cp->npending++;
	cp->st.triggered++;
	cp->st.in_progress++;
	cp_stat s;
	stat_of(p, CP_IN_PROGRESS, cp->ntasks, now, NULL, &s);
	history_put(&cp->st, &s);
	*id = p->id;
	snprintf(dir, dir_cap, "%s", p->dir);
	p = NULL;
out:
	if (p)
		pending_free(p);
	pthread_mutex_unlock(&cp->mu);
	return rc;
}

/* ------------------------------------------------------------ endings */

static void unlink_pending(cp_coordinator *cp, struct pending *p)
{
	for (struct pending **pp = &cp->pending; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			cp->npending--;
			cp->st.in_progress--;
			return;
		}
}

/* Counts a failed checkpoint (mu held); true when the job must fail. */
static bool failed_locked(cp_coordinator *cp, struct pending *p, const char *why, int64_t now,
			  bool counts)
{
	cp_stat s;
	stat_of(p, CP_FAILED, cp->ntasks, now, why, &s);
	history_put(&cp->st, &s);
	cp->st.failed++;
	cp->st.latest_failed = s;
	cp->st.have_failed = true;
	cp->last_end_ms = now;
	CM_WARN("checkpoint", "Checkpoint %llu of job %s failed: %s", (unsigned long long)p->id,
		cp->job_id, why);
	/* Savepoints do not count against the tolerable failures (Flink). */
	if (p->kind == CP_CHECKPOINT && counts)
		cp->consecutive_failures++;
	bool exceeded = p->kind == CP_CHECKPOINT && counts &&
			cp->consecutive_failures > cp->c.tolerable_failures;
	/* Flink's CheckpointFailureManager clears the count as it fails the
	 * job: a restarted attempt is given the tolerable number again, not
	 * failed by its first failed checkpoint. */
	if (exceeded)
		cp->consecutive_failures = 0;
	return exceeded;
}

int cp_abort(cp_coordinator *cp, uint64_t id, const char *reason, int64_t now, bool counts,
	     bool *fail_job)
{
	*fail_job = false;
	int n = 0;
	pthread_mutex_lock(&cp->mu);
	struct pending *p = cp->pending;
	while (p) {
		struct pending *next = p->next;
		if (id == 0 || p->id == id) {
			unlink_pending(cp, p);
			if (failed_locked(cp, p, reason, now, counts))
				*fail_job = true;
			discard_dir(cp, p->dir, p->states, p->nstates);
			pending_free(p);
			n++;
		}
		p = next;
	}
	pthread_mutex_unlock(&cp->mu);
	return n;
}

int cp_expire(cp_coordinator *cp, int64_t now, uint64_t *last, bool *fail_job)
{
	*fail_job = false;
	int n = 0;
	for (;;) {
		uint64_t id = 0;
		pthread_mutex_lock(&cp->mu);
		for (struct pending *p = cp->pending; p; p = p->next)
			if (now - p->trigger_ms >= cp->c.timeout_ms)
				id = p->id;
		pthread_mutex_unlock(&cp->mu);
		if (!id)
			return n;
		char why[160];
		snprintf(why, sizeof(why),
			 "Checkpoint expired before completing (execution.checkpointing.timeout "
			 "%lld ms)",
			 (long long)cp->c.timeout_ms);
		bool f = false;
		n += cp_abort(cp, id, why, now, true, &f);
		*fail_job = *fail_job || f;
		if (last)
			*last = id;
	}
}

int64_t cp_next_expiry(cp_coordinator *cp)
{
	pthread_mutex_lock(&cp->mu);
	int64_t t = -1;
	for (struct pending *p = cp->pending; p; p = p->next)
		if (t < 0 || p->trigger_ms + cp->c.timeout_ms < t)
			t = p->trigger_ms + cp->c.timeout_ms;
	pthread_mutex_unlock(&cp->mu);
	return t;
}

/* Discards the oldest retained checkpoint (mu held). */
static void drop_oldest(cp_coordinator *cp)
{
	struct completed *old = cp->done[0];
	memmove(&cp->done[0], &cp->done[1], (cp->ndone - 1) * sizeof(cp->done[0]));
	cp->ndone--;
	discard_dir(cp, old->dir, old->m.states, old->m.nstates);
	completed_free(old);
}

/*
 * An incremental checkpoint may only name earlier files that a retained
 * checkpoint names (mu held): a task that based its delta on a checkpoint
 * it had not yet heard was discarded would otherwise complete a checkpoint
 * that cannot be restored. 0, or FL_ENOENT with err naming the file.
 */
static int check_chains(cp_coordinator *cp, const struct pending *p, cm_err *err)
{
	char path[PATH_MAX];
	for (size_t i = 0; i < p->nstates; i++) {
		const cp_op_state *s = &p->states[i];
		for (size_t k = 0; k < s->nbase; k++) {
			if (file_path(p->dir, s->base_files[k], path, sizeof(path)) != 0)
				return cm_err_set(err, FL_ERANGE, "state file path too long");
			if (!retained_names(cp, s->uid, s->subtask, path))
				return cm_err_set(err, FL_ENOENT,
						  "operator '%.64s' subtask %d builds on %.300s, which "
						  "no retained checkpoint holds any more",
						  s->uid, s->subtask, path);
		}
	}
	return 0;
}

/* Completes p (mu held, p unlinked): writes its metadata, keeps it,
 * discards what falls out of the retained ones. Returns 0 or an error. */
static int complete_locked(cp_coordinator *cp, struct pending *p, int64_t now, cm_err *err)
{
	int crc = check_chains(cp, p, err);
	if (crc)
		return crc;
	struct completed *c = calloc(1, sizeof(*c));
	if (!c)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	snprintf(c->dir, sizeof(c->dir), "%s", p->dir);
	snprintf(c->m.job_id, sizeof(c->m.job_id), "%s", cp->job_id);
	c->m.id = p->id;
	c->m.timestamp_ms = p->trigger_wall_ms;
	c->m.kind = p->kind;
	c->m.states = p->states;
	c->m.nstates = p->nstates;
	int rc = cp_metadata_write(c->dir, &c->m, err);
	/* Recorded where a JobManager that takes over finds it before anything
	 * older goes (Flink's CompletedCheckpointStore): one that cannot be
	 * recorded is no completed checkpoint. */
	if (rc == 0 && cp->publish)
		rc = cp->publish(cp->publish_arg, c->m.id, c->m.kind, c->dir, err);
	if (rc) {
		c->m.states = NULL; /* still p's */
		c->m.nstates = 0;
		free(c);
		return rc;
	}
	p->states = NULL;
	p->nstates = 0;
	cp_stat s;
	stat_of(p, CP_COMPLETED, cp->ntasks, now, NULL, &s);
	history_put(&cp->st, &s);
	cp->st.completed++;
	cp->st.latest_completed = s;
	cp->st.have_completed = true;
	uint64_t d = (uint64_t)(s.duration_ms > 0 ? s.duration_ms : 0);
	if (cp->st.completed == 1 || d < cp->st.min_duration)
		cp->st.min_duration = d;
	if (d > cp->st.max_duration)
		cp->st.max_duration = d;
	cp->st.sum_duration += d;
	if (cp->st.completed == 1 || s.state_bytes < cp->st.min_size)
		cp->st.min_size = s.state_bytes;
	if (s.state_bytes > cp->st.max_size)
		cp->st.max_size = s.state_bytes;
	cp->st.sum_size += s.state_bytes;
	cp->last_end_ms = now;
	if (p->kind == CP_SAVEPOINT) {
		cp->st.latest_savepoint = s;
		cp->st.have_savepoint = true;
		completed_free(cp->savepoint);
		cp->savepoint = c;
		cp->latest_is_savepoint = true;
	} else {
		cp->consecutive_failures = 0;
		/* The new one first: it may name files of the one that goes. */
		cp->done[cp->ndone++] = c;
		cp->latest_is_savepoint = false;
		if (cp->ndone > (size_t)cp->c.num_retained)
			drop_oldest(cp);
	}
	CM_INFO("checkpoint", "Completed %s %llu of job %s (%llu bytes) in %lld ms: %s",
		p->kind == CP_SAVEPOINT ? "savepoint" : "checkpoint", (unsigned long long)p->id,
		cp->job_id, (unsigned long long)s.state_bytes, (long long)s.duration_ms, c->dir);
	return 0;
}

int cp_ack(cp_coordinator *cp, uint64_t id, size_t task, cp_op_state *states, size_t n, int64_t now,
	   bool *fail_job, cm_err *err)
{
	*fail_job = false;
	pthread_mutex_lock(&cp->mu);
	struct pending *p = cp->pending;
	while (p && p->id != id)
		p = p->next;
	int rc = CP_ACK_IGNORED;
	if (!p || task >= cp->ntasks || p->acked[task])
		goto out;
	if (p->nstates + n > p->cap) {
		size_t cap = p->cap ? p->cap : 16;
		while (cap < p->nstates + n)
			cap *= 2;
		cp_op_state *grown = realloc(p->states, cap * sizeof(*grown));
		if (!grown) {
			rc = cm_err_set(err, FL_ENOMEM, "out of memory");
			goto fail;
		}
		p->states = grown;
		p->cap = cap;
	}
	for (size_t i = 0; i < n; i++) {
		p->bytes += states[i].keyed_bytes + states[i].len;
		p->states[p->nstates++] = states[i];
		memset(&states[i], 0, sizeof(states[i])); /* taken */
	}
	p->acked[task] = true;
	p->nacked++;
	p->latest_ack_wall_ms = cm_wall_ms();
	rc = CP_ACK_PENDING;
	if (p->nacked == cp->ntasks) {
		unlink_pending(cp, p);
		int crc = complete_locked(cp, p, now, err);
		if (crc) {
			rc = crc;
			*fail_job = failed_locked(cp, p, err->msg, now, true);
			discard_dir(cp, p->dir, p->states, p->nstates);
		} else {
			rc = CP_ACK_COMPLETED;
		}
		pending_free(p);
	}
	goto out;
fail:
	unlink_pending(cp, p);
	*fail_job = failed_locked(cp, p, err->msg, now, true);
	discard_dir(cp, p->dir, p->states, p->nstates);
	pending_free(p);
out:
	for (size_t i = 0; i < n; i++)
		cp_op_state_fini(&states[i]);
	pthread_mutex_unlock(&cp->mu);
	return rc;
}

void cp_set_publish(cp_coordinator *cp, cp_publish_fn fn, void *arg)
{
	pthread_mutex_lock(&cp->mu);
	cp->publish = fn;
	cp->publish_arg = arg;
	pthread_mutex_unlock(&cp->mu);
}

void cp_job_ended(cp_coordinator *cp, bool cancelled, bool finished)
{
	bool ignored;
	cp_abort(cp, 0, "the job ended", cm_now_ms(), false, &ignored);
	pthread_mutex_lock(&cp->mu);
	/* Flink's CheckpointProperties: every policy discards a FINISHED job's
	 * checkpoints (nothing is left to resume); retention is about
	 * cancelled and failed jobs. */
	bool discard = finished || cp->c.retention == CP_RETAIN_NONE ||
		       (cp->c.retention == CP_RETAIN_DELETE_ON_CANCEL && cancelled);
	if (discard) {
		/* Oldest first: each goes with the files no later one names. */
		while (cp->ndone > 0)
			drop_oldest(cp);
		if (cp->c.dir[0]) {
			/* <dir>/<job id>, when nothing else is left in it. */
			char p[PATH_MAX];
			if ((size_t)snprintf(p, sizeof(p), "%s/%s", cp->c.dir, cp->job_id) <
			    sizeof(p))
				rmdir(p);
		}
	}
	pthread_mutex_unlock(&cp->mu);
}

int cp_path_of(cp_coordinator *cp, uint64_t id, char *dir, size_t dir_cap)
{
	pthread_mutex_lock(&cp->mu);
	const struct completed *c =
	    cp->savepoint && cp->savepoint->m.id == id ? cp->savepoint : NULL;
	for (size_t i = 0; !c && i < cp->ndone; i++)
		if (cp->done[i]->m.id == id)
			c = cp->done[i];
	if (c)
		snprintf(dir, dir_cap, "%s", c->dir);
	pthread_mutex_unlock(&cp->mu);
	return c ? 0 : FL_ENOENT;
}

int cp_latest(cp_coordinator *cp, cp_metadata *out, char *dir, size_t dir_cap)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&cp->mu);
	const struct completed *c = cp->latest_is_savepoint ? cp->savepoint
				    : cp->ndone		    ? cp->done[cp->ndone - 1]
							    : NULL;
	int rc = c ? 0 : FL_ENOENT;
	if (c) {
		*out = c->m;
		out->states = c->m.nstates ? calloc(c->m.nstates, sizeof(cp_op_state)) : NULL;
		out->nstates = 0;
		if (c->m.nstates && !out->states)
			rc = FL_ENOMEM;
		for (size_t i = 0; rc == 0 && i < c->m.nstates; i++) {
			rc = cp_op_state_copy(&out->states[i], &c->m.states[i]);
			if (rc == 0)
				out->nstates++;
		}
		if (rc)
			cp_metadata_fini(out);
		else
			snprintf(dir, dir_cap, "%s", c->dir);
	}
	pthread_mutex_unlock(&cp->mu);
	return rc;
}

int cp_restored(cp_coordinator *cp, const cp_metadata *m, const char *dir, int64_t now)
{
	(void)now;
	struct completed *c = calloc(1, sizeof(*c));
	if (!c)
		return FL_ENOMEM;
	c->m = *m;
	c->m.states = m->nstates ? calloc(m->nstates, sizeof(cp_op_state)) : NULL;
	c->m.nstates = 0;
	int rc = m->nstates && !c->m.states ? FL_ENOMEM : 0;
	for (size_t i = 0; rc == 0 && i < m->nstates; i++)
		if ((rc = cp_op_state_copy(&c->m.states[i], &m->states[i])) == 0)
			c->m.nstates++;
	if (rc) {
		completed_free(c);
		return rc;
	}
	snprintf(c->dir, sizeof(c->dir), "%s", dir);
	pthread_mutex_lock(&cp->mu);
	if (m->id >= cp->next_id)
		cp->next_id = m->id + 1;
	/* Kept where savepoints are: never discarded by the coordinator. */
	completed_free(cp->savepoint);
	cp->savepoint = c;
	cp->latest_is_savepoint = true;
	pthread_mutex_unlock(&cp->mu);
	return 0;
}

void cp_count_restore(cp_coordinator *cp, uint64_t id, const char *dir)
{
	pthread_mutex_lock(&cp->mu);
	cp->st.restored++;
	cp->st.have_restored = true;
	cp->st.restored_id = id;
	cp->st.restored_ms = cm_wall_ms();
	snprintf(cp->st.restored_path, sizeof(cp->st.restored_path), "%s", dir);
	pthread_mutex_unlock(&cp->mu);
}
