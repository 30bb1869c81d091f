/*
 * sinks.c — the sinks that end a chain: print (stdout, "N> " prefixes when
 * parallel), text files (a directory of part files, exactly once with
 * checkpoints) and discard. Lines are formatted into a per-operator buffer
 * and written when it fills, at the buffer timeout, at a checkpoint and at
 * the end.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint/metadata.h"
#include "common/buf.h"
#include "common/log.h"
#include "graph/outputs.h"
#include "taskmanager/operator.h"
#include "types/codec.h"
#include "types/intfmt.h"

#define PRINT_BUF (64u * 1024u)

static pthread_mutex_t stdout_mu = PTHREAD_MUTEX_INITIALIZER;

/* Writes everything, or returns the errno that stopped it; a write the
 * task's interrupt ended (EINTR) gives up once the task is cancelled, so a
 * pipe nobody reads cannot hold a cancelled job (ECANCELED). */
static int write_all(tm_chain *c, int fd, const char *p, size_t n)
{
	while (n > 0) {
		if (atomic_load_explicit(&c->cancelled, memory_order_relaxed))
			return ECANCELED;
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int print_flush(tm_op *op)
{
	if (op->out_len == 0)
		return 0;
	pthread_mutex_lock(&stdout_mu);
	int e = write_all(op->chain, STDOUT_FILENO, op->out_buf, op->out_len);
	pthread_mutex_unlock(&stdout_mu);
	op->out_len = 0;
	if (e == ECANCELED)
		return FL_ECANCELED;
	if (e == EBADF)
		return tm_chain_fail(op->chain, FL_ECLOSED,
				     "print sink: cannot write to stdout: stdout is closed");
	if (e)
		return tm_chain_fail(op->chain, cm_err_from_errno(e),
				     "print sink: cannot write to stdout: %s", strerror(e));
	return 0;
}

/* Formats one line (prefix + row + '\n') into the op's buffer. */
static int sink_line(tm_op *op, const fl_row *row, bool prefix)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		size_t room = op->out_cap - op->out_len;
		char *p = op->out_buf + op->out_len;
		size_t pre = 0;
		if (prefix) {
			/* "%d> " as snprintf would write it, room for its NUL kept */
			pre = fmt_int64(p, room, op->chain->td->subtask + 1);
			if (pre + 2 < room) {
				p[pre++] = '>';
				p[pre++] = ' ';
			} else {
				pre = room;
			}
		}
		size_t need = pre + fl_row_format(row, p + pre, room - pre) + 1;
		if (need <= room) {
			op->out_buf[op->out_len + need - 1] = '\n';
			op->out_len += need;
			return 0;
		}
		/* Does not fit: send what is pending, and grow for a huge line. */
		int rc = op->cls->flush(op);
		if (rc)
			return rc;
		if (need + 1 > op->out_cap) {
			if (need + 1 > ROW_MAX_ENCODED * 4u)
				return tm_chain_fail(op->chain, FL_ERANGE,
						     "sink '%s': a line over %u bytes",
						     op->node->name, ROW_MAX_ENCODED * 4u);
			char *nb = realloc(op->out_buf, need + 1);
			if (!nb)
				return tm_chain_fail(op->chain, FL_ENOMEM, "out of memory in '%s'",
						     op->node->name);
			op->out_buf = nb;
			op->out_cap = need + 1;
		}
	}
	return tm_chain_fail(op->chain, FL_ERANGE, "sink '%s': cannot format a line",
			     op->node->name);
}

static int line_buffer_open(tm_op *op, cm_err *err)
{
	if (!(op->out_buf = malloc(PRINT_BUF)))
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	op->out_cap = PRINT_BUF;
	return 0;
}

static void sink_fini(tm_op *op)
{
	free(op->out_buf);
	op->out_buf = NULL;
	if (op->file)
		fclose(op->file);
	op->file = NULL;
	free(op->file_tmp);
	op->file_tmp = NULL;
}

static int process_print(tm_op *op, const fl_row *row)
{
	return sink_line(op, row, op->chain->td->parallelism > 1);
}

const tm_op_class tm_print_class = {
    .process = process_print,
    .open = line_buffer_open,
    .flush = print_flush,
    .fini = sink_fini,
};

/* ----------------------------------------------------------- text files */

/*
 * The text file sink: Flink's FileSink (row format) and its exactly-once
 * protocol; the names are in graph/outputs.h.
 *
 * Without checkpoints, each subtask writes one hidden file of its run and
 * job attempt, .part-<run>-<s>.inprogress.<attempt>, which the JobMaster of
 * that attempt publishes when the whole job FINISHED, so a reader never
 * sees part of a run, or a failed run, as output. Every hidden name holds
 * the attempt: a task of an attempt its JobMaster gave up (a zombie on a
 * TaskManager cut off from it) may still run beside the next attempt's,
 * and must never create, remove, rename over or link what that one writes
 * or publishes.
 *
 * Once a checkpoint reaches the sink it rolls, as Flink's
 * OnCheckpointRollingPolicy: at each snapshot the file being written is
 * flushed, synced and closed, and becomes pending for that checkpoint
 * under its rolling name (.part-<run>-<s>-<n>.inprogress.<attempt>); the
 * next record starts file n + 1. When checkpoint N completes (notify), the
 * pending files of N and of every checkpoint before it (an aborted one's
 * stay pending until then) are committed in order: renamed to
 * part-<run>-<s>-<n>, then the directory synced. At the end of input the
 * last file becomes .part-<run>-<s>.inprogress.<attempt> and the files
 * still pending are linked under .part-<run>-<s>-<n>.inprogress.<attempt>
 * .end: the attempt's JobMaster publishes both when the job FINISHED, and
 * removes the links if it does not (the pending files themselves stay for
 * a restore, see below).
 *
 * Its list state is one element per subtask: the run, subtask and attempt
 * that wrote it, the next file's number and the pending files (number and
 * checkpoint). A restore commits the pending files it names (they belong
 * to the checkpoint restored, which completed; one committed already, by
 * an earlier restore of the same checkpoint, is left as it is) and removes
 * what else that old subtask left: its in-progress files and the pending
 * files of later checkpoints, whose records the replay writes again. An
 * element goes to exactly one new subtask whatever the parallelism, so
 * every old subtask is cleaned up once. Each subtask also removes the
 * hidden files (in-progress, rolling, links) of its own run's other
 * attempts for the subtask indices i it owns (i % parallelism == its own)
 * that no restore commits. Nothing else is touched: this attempt's files,
 * other runs' files, other sinks' (another directory), committed files.
 */

#define FS_STATE_VERSION 1
/* version, run, subtask, attempt, next file, number of pending files */
#define FS_STATE_FIXED (1 + OUTPUTS_RUN_ID_LEN + 4 + 8 + 8 + 4)
#define FS_PENDING_BYTES 16
#define FS_PATH_CAP 4200

typedef struct fs_pending {
	uint64_t counter, checkpoint;
} fs_pending;

typedef struct tm_file_sink {
	outputs_name cur; /* the file op->file writes: WHOLE or ROLLING */
	uint64_t cur_bytes;
	uint64_t next;	     /* the number of the next rolling file */
	bool rolling;	     /* a checkpoint reached the sink */
	int broken;	     /* an I/O error at a snapshot: every later call returns it */
	fs_pending *pending; /* in checkpoint order */
	size_t npending, cap;
} tm_file_sink;

/* An old subtask's element, read at a restore. */
typedef struct fs_old {
	outputs_name who; /* run, subtask, attempt */
	uint64_t next;
	const uint8_t *pending; /* npending x (u64le counter, u64le checkpoint) */
	size_t npending;
} fs_old;

static outputs_name fs_name(const tm_op *op, enum outputs_kind kind, uint64_t counter)
{
	const td_task *td = op->chain->td;
	outputs_name n = {
	    .kind = kind, .subtask = td->subtask, .counter = counter, .attempt = td->attempt};
	outputs_run_id(td->job_id, n.run);
	return n;
}

static int fs_path(const tm_op *op, const outputs_name *n, char *buf, cm_err *err)
{
	if (outputs_name_path(buf, FS_PATH_CAP, op->node->dir, n) != 0)
		return cm_err_set(err, FL_ERANGE,
				  "text file sink: the path '%.200s...' is too long",
				  op->node->dir);
	return 0;
}

static int fs_sync_dir(const tm_op *op, cm_err *err)
{
	int fd = open(op->node->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int e = fd < 0 || fsync(fd) != 0 ? errno : 0;
	if (fd >= 0)
		close(fd);
	if (e)
		return cm_err_set(err, cm_err_from_errno(e),
				  "text file sink: cannot sync the directory '%.300s': %s",
				  op->node->dir, strerror(e));
	return 0;
}

/* Creates file n (never over an existing one) as the file being written. */
static int fs_create(tm_op *op, const outputs_name *n, cm_err *err)
{
	char path[FS_PATH_CAP];
	int rc = fs_path(op, n, path, err);
	if (rc)
		return rc;
	char *dup = strdup(path);
	if (!dup)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		free(dup);
		return cm_err_set(err, cm_err_from_errno(e),
				  "text file sink: cannot create '%.300s': %s", path, strerror(e));
	}
	free(op->file_tmp);
	op->file_tmp = dup;
	op->file = f;
	op->fsink->cur = *n;
	op->fsink->cur_bytes = 0;
	return 0;
}

/* Flushes, syncs and closes the file being written (it stays where it
 * is, under fs->cur's name). */
static int fs_finish(tm_op *op, cm_err *err)
{
	int e = fflush(op->file) != 0 || fsync(fileno(op->file)) != 0 ? errno : 0;
	if (fclose(op->file) != 0 && !e)
		e = errno;
	op->file = NULL;
	int rc =
	    e ? cm_err_set(err, cm_err_from_errno(e), "text file sink: cannot write '%.300s': %s",
			   op->file_tmp, strerror(e))
	      : 0;
	free(op->file_tmp);
	op->file_tmp = NULL;
	return rc;
}

/* Writes the pending lines, starting the next rolling file if none is
 * open. */
static int fs_write(tm_op *op, cm_err *err)
{
	tm_file_sink *fs = op->fsink;
	if (!op->out_len)
		return 0;
	if (!op->file) {
		outputs_name n = fs_name(op, OUTPUTS_ROLLING, fs->next);
		int rc = fs_create(op, &n, err);
		if (rc)
			return rc;
		fs->next++;
	}
	size_t n = fwrite(op->out_buf, 1, op->out_len, op->file);
	size_t want = op->out_len;
	op->out_len = 0;
	if (n != want || ferror(op->file))
		return cm_err_set(err, FL_EIO, "text file sink: cannot write '%.300s': %s",
				  op->file_tmp, strerror(errno));
	fs->cur_bytes += n;
	return 0;
}

static int file_flush(tm_op *op)
{
	if (!op->fsink)
		return 0; /* its open failed */
	if (op->fsink->broken)
		return op->fsink->broken;
	cm_err err = {0};
	int rc = fs_write(op, &err);
	return rc ? tm_chain_fail(op->chain, rc, "%s", err.msg) : 0;
}

/* Renames pending file n (ROLLING) to its committed name. At a restore
 * (restoring), one that is committed already is left as it is: the same
 * checkpoint may be restored twice. */
static int fs_commit(tm_op *op, const outputs_name *n, uint64_t checkpoint, bool restoring,
		     cm_err *err)
{
	char from[FS_PATH_CAP], to[FS_PATH_CAP];
	outputs_name c = *n;
	c.kind = OUTPUTS_COMMITTED;
	int rc = fs_path(op, n, from, err);
	if (rc || (rc = fs_path(op, &c, to, err)) != 0)
		return rc;
	if (rename(from, to) == 0)
		return 0;
	int e = errno;
	struct stat st;
	if (e == ENOENT && restoring && lstat(to, &st) == 0)
		return 0;
	if (e == ENOENT)
		return cm_err_set(
		    err, FL_EIO,
		    "text file sink '%s': cannot commit '%.300s', pending for checkpoint "
		    "%llu: neither it nor '%.300s' exists",
		    op->node->name, from, (unsigned long long)checkpoint, to);
	return cm_err_set(err, cm_err_from_errno(e),
			  "text file sink '%s': cannot commit '%.300s' as '%.300s': %s",
			  op->node->name, from, to, strerror(e));
}

/* At a snapshot of checkpoint id: the lines so far go to the file, which,
 * if it holds anything, is closed and becomes pending for id. */
static int fs_roll(tm_op *op, uint64_t id, cm_err *err)
{
	tm_file_sink *fs = op->fsink;
	int rc = fs_write(op, err);
	if (rc || !op->file || fs->cur_bytes == 0)
		return rc;
	if (fs->npending == fs->cap) {
		size_t cap = fs->cap ? 2 * fs->cap : 4;
		fs_pending *p = realloc(fs->pending, cap * sizeof(*p));
		if (!p)
			return cm_err_set(err, FL_ENOMEM, "out of memory");
		fs->pending = p;
		fs->cap = cap;
	}
	outputs_name n = fs->cur;
	if ((rc = fs_finish(op, err)) != 0)
		return rc;
	if (n.kind == OUTPUTS_WHOLE) {
		/* The file written before the first checkpoint: it rolls too. */
		char from[FS_PATH_CAP], to[FS_PATH_CAP];
		outputs_name r = fs_name(op, OUTPUTS_ROLLING, fs->next);
		if ((rc = fs_path(op, &n, from, err)) != 0 || (rc = fs_path(op, &r, to, err)) != 0)
			return rc;
		if (rename(from, to) != 0)
			return cm_err_set(err, cm_err_from_errno(errno),
					  "text file sink: cannot rename '%.300s' to '%.300s': %s",
					  from, to, strerror(errno));
		fs->next++;
		n = r;
	}
	fs->pending[fs->npending++] = (fs_pending){n.counter, id};
	/* Durable before the checkpoint is acknowledged: a restore from it
	 * must find the file. */
	return fs_sync_dir(op, err);
}

static int file_sink_snapshot(tm_op *op, tm_snapshot *s)
{
	tm_file_sink *fs = op->fsink;
	cm_err err = {0};
	int rc = fs->broken;
	if (rc) {
		snprintf(s->why, sizeof(s->why), "operator '%.100s' failed earlier: %.300s",
			 op->node->name, op->chain->err.msg);
		return rc;
	}
	if ((rc = fs_roll(op, s->id, &err)) != 0) {
		/* Its output is in doubt: the task fails (the next call returns
		 * it), and this checkpoint is declined. */
		fs->broken = rc;
		tm_chain_fail(op->chain, rc, "%s", err.msg);
		snprintf(s->why, sizeof(s->why), "%s", err.msg);
		return rc;
	}
	fs->rolling = true;
	const td_task *td = op->chain->td;
	outputs_name me = fs_name(op, OUTPUTS_ROLLING, 0);
	cm_wbuf w;
	cm_wbuf_init(&w, CP_OP_STATE_MAX);
	cm_wbuf_u8(&w, FS_STATE_VERSION);
	cm_wbuf_raw(&w, me.run, OUTPUTS_RUN_ID_LEN);
	cm_wbuf_u32le(&w, (uint32_t)td->subtask);
	cm_wbuf_u64le(&w, td->attempt);
	cm_wbuf_u64le(&w, fs->next);
	cm_wbuf_u32le(&w, (uint32_t)fs->npending);
	for (size_t i = 0; i < fs->npending; i++) {
		cm_wbuf_u64le(&w, fs->pending[i].counter);
		cm_wbuf_u64le(&w, fs->pending[i].checkpoint);
	}
	if ((rc = cm_wbuf_error(&w)) != 0)
		snprintf(s->why, sizeof(s->why), "operator '%s': its state: %s", op->node->name,
			 fl_strerror(rc));
	else
		tm_snapshot_add(s, cm_wbuf_data(&w), cm_wbuf_len(&w));
	cm_wbuf_fini(&w);
	return rc;
}

static int file_sink_notify(tm_op *op, uint64_t id, bool completed)
{
	tm_file_sink *fs = op->fsink;
	if (fs->broken)
		return fs->broken;
	if (!completed)
		return 0; /* its files stay pending: the next completed one covers them */
	cm_err err = {0};
	int rc = 0;
	size_t k = 0;
	for (; rc == 0 && k < fs->npending && fs->pending[k].checkpoint <= id; k++) {
		outputs_name n = fs_name(op, OUTPUTS_ROLLING, fs->pending[k].counter);
		rc = fs_commit(op, &n, fs->pending[k].checkpoint, false, &err);
	}
	if (rc == 0 && k > 0)
		rc = fs_sync_dir(op, &err);
	if (rc)
		return tm_chain_fail(op->chain, rc, "%s", err.msg);
	if (k == 0)
		return 0;
	memmove(fs->pending, fs->pending + k, (fs->npending - k) * sizeof(*fs->pending));
	fs->npending -= k;
	CM_DEBUG("task", "text file sink '%s' committed %zu file(s) at checkpoint %llu",
		 op->node->name, k, (unsigned long long)id);
	return 0;
}

/* Whether file n is to go when this subtask starts (see the top). */
static bool fs_is_leftover(const tm_op *op, const outputs_name *n, const fs_old *olds, size_t nolds)
{
	const td_task *td = op->chain->td;
	if (n->kind != OUTPUTS_WHOLE && n->kind != OUTPUTS_ROLLING && n->kind != OUTPUTS_AT_END)
		return false; /* committed or published: never touched */
	char mine[OUTPUTS_RUN_ID_LEN + 1];
	outputs_run_id(td->job_id, mine);
	bool own = strcmp(n->run, mine) == 0;
	if (own && n->attempt == td->attempt)
		return false; /* this attempt's, this JobMaster's to publish */
	/* Another attempt's: never published now, as the JobMaster publishes
	 * only its own attempt's. */
	if (own && n->subtask % td->parallelism == td->subtask)
		return true;
	for (size_t i = 0; i < nolds; i++)
		if (strcmp(olds[i].who.run, n->run) == 0 && olds[i].who.subtask == n->subtask)
			return true;
	return false;
}

/* Removes the leftovers of earlier attempts and of the old subtasks olds
 * (their pending files are committed by now). */
static int fs_cleanup(tm_op *op, const fs_old *olds, size_t nolds, size_t *removed, cm_err *err)
{
	const char *dir = op->node->dir;
	*removed = 0;
	DIR *d = opendir(dir);
	if (!d)
		return cm_err_set(err, cm_err_from_errno(errno),
				  "text file sink: cannot read the output directory '%.300s': %s",
				  dir, strerror(errno));
	struct dirent *e;
	while ((e = readdir(d))) {
		outputs_name n;
		char path[FS_PATH_CAP];
		if (outputs_name_parse(e->d_name, &n) == OUTPUTS_NONE ||
		    !fs_is_leftover(op, &n, olds, nolds) ||
		    outputs_name_path(path, sizeof(path), dir, &n) != 0)
			continue;
		if (unlink(path) == 0)
			(*removed)++;
		else if (errno != ENOENT)
			/* Hidden, and never published by anyone: it only takes
			 * room. */
			CM_WARN("task",
				"text file sink '%s': cannot remove the leftover '%.300s': %s",
				op->node->name, path, strerror(errno));
	}
	closedir(d);
	return *removed ? fs_sync_dir(op, err) : 0;
}

/* Reads element e (len bytes) of the restored state into *o, checked:
 * what it names becomes file names. */
static int fs_old_read(const tm_op *op, const uint8_t *e, size_t len, fs_old *o, cm_err *err)
{
	const td_task *td = op->chain->td;
	const char *what = op->node->name;
	unsigned long long ckp = (unsigned long long)td->restore_id;
	cm_rbuf r;
	cm_rbuf_init(&r, e, len);
	uint8_t version = cm_rbuf_u8(&r);
	const uint8_t *run = NULL;
	cm_rbuf_raw(&r, OUTPUTS_RUN_ID_LEN, &run);
	uint32_t subtask = cm_rbuf_u32le(&r);
	uint64_t attempt = cm_rbuf_u64le(&r);
	uint64_t next = cm_rbuf_u64le(&r);
	uint32_t npending = cm_rbuf_u32le(&r);
	if (cm_rbuf_error(&r) || version != FS_STATE_VERSION)
		return cm_err_set(
		    err, FL_EPROTO,
		    "text file sink '%s': its state in checkpoint %llu is not version "
		    "%d state of a text file sink (%zu bytes)",
		    what, ckp, FS_STATE_VERSION, len);
	*o = (fs_old){.who = {.kind = OUTPUTS_ROLLING, .subtask = (int)subtask, .attempt = attempt},
		      .next = next,
		      .npending = npending,
		      .pending = e + FS_STATE_FIXED};
	memcpy(o->who.run, run, OUTPUTS_RUN_ID_LEN);
	if (!outputs_run_id_valid(o->who.run) || subtask >= TD_MAX_PARALLELISM)
		return cm_err_set(
		    err, FL_EPROTO,
		    "text file sink '%s': its state in checkpoint %llu names a run or "
		    "subtask that cannot be one",
		    what, ckp);
	if ((len - FS_STATE_FIXED) / FS_PENDING_BYTES != npending ||
	    (len - FS_STATE_FIXED) % FS_PENDING_BYTES != 0)
		return cm_err_set(
		    err, FL_EPROTO,
		    "text file sink '%s': its state in checkpoint %llu holds %zu bytes "
		    "for %u pending file(s)",
		    what, ckp, len - FS_STATE_FIXED, npending);
	for (uint32_t i = 0; i < npending; i++) {
		uint64_t c = cm_rbuf_u64le(&r), id = cm_rbuf_u64le(&r);
		if (c >= next || id > td->restore_id)
			return cm_err_set(
			    err, FL_EPROTO,
			    "text file sink '%s': its state in checkpoint %llu has file "
			    "%llu pending for checkpoint %llu (the next file is %llu)",
			    what, ckp, (unsigned long long)c, (unsigned long long)id,
			    (unsigned long long)next);
	}
	return 0;
}

static int file_sink_restore(tm_op *op, const td_restore *rs, cm_err *err)
{
	tm_file_sink *fs = op->fsink;
	const td_task *td = op->chain->td;
	char mine[OUTPUTS_RUN_ID_LEN + 1];
	outputs_run_id(td->job_id, mine);
	fs_old *olds = NULL;
	size_t nolds = 0, committed = 0, removed = 0;
	cm_rbuf r;
	cm_rbuf_init(&r, rs->list, rs->list_len);
	const uint8_t *e;
	size_t len;
	int more, rc = 0;
	while (rc == 0 && (more = cp_list_next(&r, &e, &len)) == 1) {
		fs_old *no = realloc(olds, (nolds + 1) * sizeof(*no));
		if (!no) {
			rc = cm_err_set(err, FL_ENOMEM, "out of memory");
			break;
		}
		olds = no;
		rc = fs_old_read(op, e, len, &olds[nolds], err);
		nolds += rc == 0;
	}
	if (rc == 0 && more < 0)
		rc = cm_err_set(err, FL_EPROTO, "text file sink '%s': malformed state: %s",
				op->node->name, cm_rbuf_errmsg(&r));
	/* Commit first: the clean-up removes what is still pending. */
	for (size_t i = 0; rc == 0 && i < nolds; i++) {
		const fs_old *o = &olds[i];
		for (size_t k = 0; rc == 0 && k < o->npending; k++) {
			const uint8_t *p = o->pending + k * FS_PENDING_BYTES;
			uint64_t c, id;
			memcpy(&c, p, 8);
			memcpy(&id, p + 8, 8);
			outputs_name n = o->who;
			n.counter = le64toh(c);
			rc = fs_commit(op, &n, le64toh(id), true, err);
			committed += rc == 0;
		}
		if (strcmp(o->who.run, mine) == 0 && o->who.subtask == td->subtask &&
		    o->next > fs->next)
			fs->next = o->next;
	}
	if (rc == 0 && committed)
		rc = fs_sync_dir(op, err);
	if (rc == 0)
		rc = fs_cleanup(op, olds, nolds, &removed, err);
	if (rc == 0)
		CM_INFO("task",
			"text file sink '%s' (%d/%d) restored from checkpoint %llu: %zu pending "
			"file(s) of %zu earlier subtask(s) committed (or found committed), %zu "
			"leftover(s) removed",
			op->node->name, td->subtask + 1, td->parallelism,
			(unsigned long long)td->restore_id, committed, nolds, removed);
	free(olds);
	return rc;
}

static int file_sink_open(tm_op *op, cm_err *err)
{
	int rc = line_buffer_open(op, err);
	if (rc)
		return rc;
	if ((rc = outputs_mkdirs(op->node->dir, err)) != 0)
		return rc;
	if (!(op->fsink = calloc(1, sizeof(*op->fsink))))
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	outputs_name whole = fs_name(op, OUTPUTS_WHOLE, 0);
	if ((rc = fs_create(op, &whole, err)) != 0)
		return rc;
	/* A restore cleans up after it has committed what it restores. */
	const td_task *td = op->chain->td;
	size_t removed = 0;
	if (!(td->restore_id && op->node->restore.restored) &&
	    (rc = fs_cleanup(op, NULL, 0, &removed, err)) == 0 && removed)
		CM_INFO("task",
			"text file sink '%s' (%d/%d) removed %zu leftover(s) of earlier "
			"attempts",
			op->node->name, td->subtask + 1, td->parallelism, removed);
	return rc;
}

static int process_file(tm_op *op, const fl_row *row)
{
	if (op->fsink->broken)
		return op->fsink->broken;
	return sink_line(op, row, false);
}

/* The end of input of a sink that rolls: its last file under the name the
 * JobMaster publishes (an empty one if it wrote nothing since the last
 * checkpoint), and the files still pending linked under theirs. */
static int fs_end(tm_op *op, cm_err *err)
{
	tm_file_sink *fs = op->fsink;
	char whole[FS_PATH_CAP], from[FS_PATH_CAP], to[FS_PATH_CAP];
	outputs_name w = fs_name(op, OUTPUTS_WHOLE, 0);
	int rc = fs_path(op, &w, whole, err);
	if (rc)
		return rc;
	if (op->file) {
		outputs_name cur = fs->cur;
		if ((rc = fs_finish(op, err)) != 0)
			return rc;
		/* (The first file, when nothing reached it before a checkpoint,
		 * has the name already.) */
		if (cur.kind != OUTPUTS_WHOLE) {
			if ((rc = fs_path(op, &cur, from, err)) != 0)
				return rc;
			if (rename(from, whole) != 0)
				return cm_err_set(
				    err, cm_err_from_errno(errno),
				    "text file sink: cannot rename '%.300s' to '%.300s': %s", from,
				    whole, strerror(errno));
		}
	} else {
		if ((rc = fs_create(op, &w, err)) != 0 || (rc = fs_finish(op, err)) != 0)
			return rc;
	}
	for (size_t i = 0; i < fs->npending; i++) {
		outputs_name p = fs_name(op, OUTPUTS_ROLLING, fs->pending[i].counter);
		outputs_name l = fs_name(op, OUTPUTS_AT_END, fs->pending[i].counter);
		if ((rc = fs_path(op, &p, from, err)) != 0 || (rc = fs_path(op, &l, to, err)) != 0)
			return rc;
		/* A link, not a rename: if the job does not finish, the
		 * pending file is still there for a restore to commit. */
		if (link(from, to) != 0)
			return cm_err_set(err, cm_err_from_errno(errno),
					  "text file sink: cannot link '%.300s' as '%.300s': %s",
					  from, to, strerror(errno));
	}
	return fs_sync_dir(op, err);
}

static int file_sink_close(tm_op *op, bool ok)
{
	tm_file_sink *fs = op->fsink;
	if (!fs)
		return 0;
	if (fs->broken)
		ok = false;
	cm_err err = {0};
	int rc = 0;
	if (!ok) {
		/* Only the file being written goes: pending files may belong
		 * to a completed checkpoint the next attempt restores. Its name
		 * holds this attempt, so a task that outlived its attempt
		 * never removes the next attempt's file. */
		if (op->file) {
			fclose(op->file);
			op->file = NULL;
			unlink(op->file_tmp);
		}
		return fs->broken;
	}
	if (fs->rolling) {
		rc = fs_end(op, &err);
	} else if (op->file) {
		/* A finished file is made durable before the task reports
		 * FINISHED (the JobMaster then publishes it). */
		char path[FS_PATH_CAP];
		snprintf(path, sizeof(path), "%s", op->file_tmp);
		if ((rc = fs_finish(op, &err)) != 0)
			unlink(path);
	}
	return rc ? tm_chain_fail(op->chain, rc, "%s", err.msg) : 0;
}

static void file_sink_fini(tm_op *op)
{
	if (op->fsink)
		free(op->fsink->pending);
	free(op->fsink);
	op->fsink = NULL;
	sink_fini(op);
}

const tm_op_class tm_file_sink_class = {
    .process = process_file,
    .open = file_sink_open,
    .restore = file_sink_restore,
    .flush = file_flush,
    .snapshot = file_sink_snapshot,
    .notify = file_sink_notify,
    .close = file_sink_close,
    .fini = file_sink_fini,
};

static int process_discard(tm_op *op, const fl_row *row)
{
	(void)op;
	(void)row;
	return 0;
}

const tm_op_class tm_discard_class = {.process = process_discard};
