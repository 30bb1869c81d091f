/*
 * sinks.c — the sinks that end a chain: print (stdout, "N> " prefixes when
 * parallel), text files (a directory of part files) and discard. Lines are
 * formatted into a per-operator buffer and written when it fills, at the
 * buffer timeout and at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graph/outputs.h"
#include "taskmanager/operator.h"
#include "types/codec.h"

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

static int file_flush(tm_op *op)
{
	if (!op->out_len)
		return 0;
	size_t n = fwrite(op->out_buf, 1, op->out_len, op->file);
	op->out_len = 0;
	if (n == 0 || ferror(op->file))
		return tm_chain_fail(op->chain, FL_EIO, "text file sink: cannot write '%s': %s",
				     op->file_tmp, strerror(errno));
	return 0;
}

/* Formats one line (prefix + row + '\n') into the op's buffer. */
static int sink_line(tm_op *op, const fl_row *row, bool prefix)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		size_t room = op->out_cap - op->out_len;
		char *p = op->out_buf + op->out_len;
		int pre = 0;
		if (prefix) {
			pre = snprintf(p, room, "%d> ", op->chain->td->subtask + 1);
			if (pre < 0 || (size_t)pre >= room)
				pre = (int)room;
		}
		size_t need = (size_t)pre +
			      fl_row_format(row, p + pre, room > (size_t)pre ? room - pre : 0) + 1;
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

/* Writes under a hidden in-progress name of this run; the JobMaster
 * publishes the files when the whole job FINISHED (graph/outputs.h), so a
 * reader never sees part of a run, or a failed run, as output. */
static int file_sink_open(tm_op *op, cm_err *err)
{
	int rc = line_buffer_open(op, err);
	if (rc)
		return rc;
	const char *dir = op->node->dir;
	if ((rc = outputs_mkdirs(dir, err)) != 0)
		return rc;
	char run[OUTPUTS_RUN_ID_LEN + 1], path[4096];
	outputs_run_id(op->chain->td->job_id, run);
	if (outputs_part_path(path, sizeof(path), dir, run, op->chain->td->subtask, true) != 0)
		return cm_err_set(err, FL_ERANGE,
				  "text file sink: the path '%.200s...' is too long", dir);
	if (!(op->file_tmp = strdup(path)))
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0 || !(op->file = fdopen(fd, "w"))) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return cm_err_set(err, cm_err_from_errno(e),
				  "text file sink: cannot create '%.300s': %s", path, strerror(e));
	}
	return 0;
}

static int process_file(tm_op *op, const fl_row *row)
{
	return sink_line(op, row, false);
}

static int file_sink_snapshot(tm_op *op, tm_snapshot *s)
{
	snprintf(s->why, sizeof(s->why),
		 "operator '%s': the text file sink has no two-phase "
		 "commit yet",
		 op->node->name);
	return FL_EINVAL;
}

static int file_sink_close(tm_op *op, bool ok)
{
	int rc = 0;
	if (!op->file)
		return 0;
	/* A finished file is made durable before the task reports FINISHED
	 * (the JobMaster then publishes it); an unfinished one goes. */
	if (ok && (fflush(op->file) != 0 || fsync(fileno(op->file)) != 0))
		rc = tm_chain_fail(op->chain, FL_EIO, "text file sink: cannot write '%s': %s",
				   op->file_tmp, strerror(errno));
	if (fclose(op->file) != 0 && ok && rc == 0)
		rc = tm_chain_fail(op->chain, FL_EIO, "text file sink: cannot write '%s': %s",
				   op->file_tmp, strerror(errno));
	op->file = NULL;
	if (!ok || rc != 0)
		unlink(op->file_tmp);
	return rc;
}

const tm_op_class tm_file_sink_class = {
    .process = process_file,
    .open = file_sink_open,
    .flush = file_flush,
    .snapshot = file_sink_snapshot,
    .close = file_sink_close,
    .fini = sink_fini,
};

static int process_discard(tm_op *op, const fl_row *row)
{
	(void)op;
	(void)row;
	return 0;
}

const tm_op_class tm_discard_class = {.process = process_discard};
