/*
 * sources.c — the source loops: a deterministic generator and a splittable
 * text file reader. Both run in the head of their task's chain and check
 * for cancellation and the flush timeout every few hundred records.
 */
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "taskmanager/operator.h"

#define CHECK_EVERY 256
#define READ_BUF (64u * 1024u)
#define MAX_LINE (16u * 1024u * 1024u)
#define MIN_SPLIT (1u << 20)

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

int tm_run_generator(tm_chain *c)
{
	tm_op *head = &c->ops[0];
	const td_op *n = head->node;
	fl_generator_fn fn = (fl_generator_fn)head->fn;
	int p = c->td->parallelism;
	double rate = n->gen_rate > 0 ? n->gen_rate / p : 0; /* per subtask */
	int64_t start = cm_now_ms(), produced = 0;
	/* Bounds in locals: the user call would force reloads through n. */
	const int64_t count = n->gen_count < 0 ? INT64_MAX : n->gen_count;
	for (int64_t off = c->td->subtask; off < count; off += p) {
		fl_row row;
		row.nfields = 0;
		int rc = fn(&c->ctx, off, &row);
		if (rc < 0) {
			if (c->ctx.user_failed)
				return tm_chain_fail(c, FL_EUSER, "source '%s': %s() failed at offset %lld: %s",
						    n->name, n->fn_symbol, (long long)off, c->ctx.user_msg);
			return tm_chain_fail(c, rc, "source '%s': %s() returned %d at offset %lld", n->name,
					    n->fn_symbol, rc, (long long)off);
		}
		rc = tm_op_process(head, &row);
		c->ctx.scratch_used = 0;
		if (rc || (rc = tm_chain_check(c)) != 0)
			return rc;
		produced++;
		/* Cancellation is seen per record (tm_task_check); this is
		 * for the metrics publish and the rate limit. */
		if (produced % CHECK_EVERY == 0 || rate > 0) {
			if ((rc = tm_chain_maybe_flush(c, c->buffer_timeout_ms == 0)) != 0)
				return rc;
			if (rate > 0) {
				/* Sleep until this record's slot, but wake for flushes. */
				int64_t due = start + (int64_t)((double)produced * 1000.0 / rate);
				int64_t now = cm_now_ms();
				while (now < due) {
					int64_t wait = due - now;
					if (c->buffer_timeout_ms > 0 && c->next_flush_ms - now < wait)
						wait = c->next_flush_ms > now ? c->next_flush_ms - now : 1;
					sleep_ms(wait > 100 ? 100 : wait);
					if (atomic_load_explicit(&c->cancelled, memory_order_relaxed))
						return FL_ECANCELED;
					if ((rc = tm_chain_maybe_flush(c, false)) != 0)
						return rc;
					now = cm_now_ms();
				}
			}
		}
	}
	return 0;
}

/* ------------------------------------------------------------ text files */

typedef struct split {
	size_t file;
	int64_t start, end;
} split;

/* Every subtask computes the same split list and reads splits k with
 * k % parallelism == subtask. */
static int plan_splits(tm_chain *c, split **out, size_t *nout)
{
	const td_op *n = c->ops[0].node;
	int p = c->td->parallelism;
	/* Sizes as of graph building: every subtask must cut the same splits
	 * even if a file grows meanwhile (a log still being written). */
	const int64_t *sizes = n->sizes;
	int64_t total = 0;
	for (size_t i = 0; i < n->npaths; i++) {
		if (access(n->paths[i], R_OK) != 0) {
			int e = errno;
			return tm_chain_fail(c, cm_err_from_errno(e), "source '%s': cannot read '%s': %s",
					    n->name, n->paths[i], strerror(e));
		}
		total += sizes[i];
	}
	/* About four splits per subtask, none under 1 MiB, so work balances
	 * without tiny reads. */
	int64_t split_size = total / ((int64_t)p * 4) + 1;
	if (split_size < MIN_SPLIT)
		split_size = MIN_SPLIT;
	size_t cap = 0, cnt = 0;
	split *s = NULL;
	for (size_t i = 0; i < n->npaths; i++) {
		for (int64_t off = 0; off < sizes[i] || (off == 0 && sizes[i] == 0); off += split_size) {
			if (cnt == cap) {
				cap = cap ? cap * 2 : 16;
				split *ns = realloc(s, cap * sizeof(*s));
				if (!ns) {
					free(s);
					return tm_chain_fail(c, FL_ENOMEM, "out of memory");
				}
				s = ns;
			}
			s[cnt].file = i;
			s[cnt].start = off;
			s[cnt].end = off + split_size < sizes[i] ? off + split_size : sizes[i];
			cnt++;
			if (sizes[i] == 0)
				break;
		}
	}
	*out = s;
	*nout = cnt;
	return 0;
}

typedef struct reader {
	int fd;
	char *buf;
	size_t cap, len, pos;
	int64_t file_pos; /* file offset of buf[0] */
	bool eof;
} reader;

/* Ensures buf[pos..] holds a full line or the rest of the file. */
static int fill(reader *r)
{
	if (r->pos > 0) {
		memmove(r->buf, r->buf + r->pos, r->len - r->pos);
		r->file_pos += (int64_t)r->pos;
		r->len -= r->pos;
		r->pos = 0;
	}
	if (r->len == r->cap) {
		if (r->cap >= MAX_LINE)
			return FL_ERANGE;
		size_t ncap = r->cap * 2;
		char *nb = realloc(r->buf, ncap);
		if (!nb)
			return FL_ENOMEM;
		r->buf = nb;
		r->cap = ncap;
	}
	for (;;) {
		ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cm_err_from_errno(errno);
		if (n == 0)
			r->eof = true;
		r->len += (size_t)n;
		return 0;
	}
}

static int read_split(tm_chain *c, const char *path, const split *sp, reader *r)
{
	tm_op *head = &c->ops[0];
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0)
		return tm_chain_fail(c, cm_err_from_errno(errno), "source '%s': cannot open '%s': %s",
				    head->node->name, path, strerror(errno));
	/* A split owns the lines that start inside it: unless it starts the
	 * file, skip to just after the first newline at or after start-1. */
	int64_t begin = sp->start > 0 ? sp->start - 1 : 0;
	if (lseek(r->fd, begin, SEEK_SET) < 0) {
		close(r->fd);
		return tm_chain_fail(c, FL_EIO, "source: cannot seek in '%s'", path);
	}
	r->len = r->pos = 0;
	r->file_pos = begin;
	r->eof = false;
	bool skipping = sp->start > 0;
	int rc = 0;
	uint64_t lines = 0;
	for (;;) {
		char *nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
		if (!nl && !r->eof) {
			if ((rc = fill(r)) != 0) {
				rc = tm_chain_fail(c, rc, "source '%s': %s at byte %lld of '%s'", head->node->name,
						  rc == FL_ERANGE ? "a line over 16 MiB" : "read error",
						  (long long)(r->file_pos + (int64_t)r->pos), path);
				break;
			}
			continue;
		}
		if (!nl && r->pos == r->len)
			break; /* end of file */
		int64_t line_start = r->file_pos + (int64_t)r->pos;
		size_t llen = nl ? (size_t)(nl - (r->buf + r->pos)) : r->len - r->pos;
		char *line = r->buf + r->pos;
		r->pos += llen + (nl ? 1 : 0);
		if (skipping) {
			skipping = false;
			continue;
		}
		if (line_start >= sp->end)
			break;
		if (llen > 0 && line[llen - 1] == '\r')
			llen--;
		fl_row row;
		row.nfields = 1;
		row.types[0] = FL_STRING;
		row.values[0].u.s.ptr = line;
		row.values[0].u.s.len = (uint32_t)llen;
		rc = tm_op_process(head, &row);
		c->ctx.scratch_used = 0;
		if (rc || (rc = tm_chain_check(c)) != 0)
			break;
		if (++lines % CHECK_EVERY == 0) {
			if (atomic_load_explicit(&c->cancelled, memory_order_relaxed)) {
				rc = FL_ECANCELED;
				break;
			}
			if ((rc = tm_chain_maybe_flush(c, false)) != 0)
				break;
		}
		if (!nl)
			break;
	}
	close(r->fd);
	return rc;
}

int tm_run_text_source(tm_chain *c)
{
	split *splits = NULL;
	size_t n = 0;
	int rc = plan_splits(c, &splits, &n);
	if (rc)
		return rc;
	reader r = {.fd = -1, .cap = READ_BUF};
	if (!(r.buf = malloc(r.cap))) {
		free(splits);
		return tm_chain_fail(c, FL_ENOMEM, "out of memory");
	}
	int p = c->td->parallelism;
	for (size_t k = (size_t)c->td->subtask; k < n && rc == 0; k += (size_t)p) {
		rc = read_split(c, c->ops[0].node->paths[splits[k].file], &splits[k], &r);
	}
	free(r.buf);
	free(splits);
	return rc;
}
