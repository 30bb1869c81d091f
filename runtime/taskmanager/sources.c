/*
 * sources.c — the source loops: a deterministic generator and a splittable
 * text file reader. Both run in the head of their task's chain and check
 * for cancellation and the flush timeout every few hundred records.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint/metadata.h"
#include "common/buf.h"
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

/* --------------------------------------------------------- generator */

/* Records read from one split before the next is served, when a subtask
 * holds several (after a restore at lower parallelism): unbounded splits
 * all progress. */
#define GEN_TURN 1024

/* Flink's NumberSequenceSource: the offsets 0..count-1 cut into one
 * contiguous range per subtask (an unbounded generator cuts 0..2^63-1). */
static int gen_open(tm_op *op, cm_err *err)
{
	const td_task *td = op->chain->td;
	if (td->restore_id && op->node->restore.restored)
		return 0; /* its splits come from the checkpoint */
	const int64_t count = op->node->gen_count < 0 ? INT64_MAX : op->node->gen_count;
	if (!(op->gen_splits = malloc(sizeof(*op->gen_splits))))
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	__int128 p = td->parallelism, i = td->subtask;
	op->gen_splits[0].next = (int64_t)(count * i / p);
	op->gen_splits[0].end = (int64_t)(count * (i + 1) / p);
	op->gen_nsplits = op->gen_splits[0].next < op->gen_splits[0].end;
	return 0;
}

/* Its share of the checkpoint's splits, each (next, end) as two
 * little-endian int64 checked against the generator's range. */
static int gen_restore(tm_op *op, const td_restore *rs, cm_err *err)
{
	const int64_t count = op->node->gen_count < 0 ? INT64_MAX : op->node->gen_count;
	cm_rbuf r;
	cm_rbuf_init(&r, rs->list, rs->list_len);
	const uint8_t *e;
	size_t len, n = 0;
	int more;
	while ((more = cp_list_next(&r, &e, &len)) == 1) {
		int64_t next, end;
		if (len != 16)
			return cm_err_set(err, FL_EPROTO,
					  "source '%s': a split of %zu bytes in its state (16 expected)",
					  op->node->name, len);
		memcpy(&next, e, 8);
		memcpy(&end, e + 8, 8);
		next = (int64_t)le64toh((uint64_t)next);
		end = (int64_t)le64toh((uint64_t)end);
		if (next < 0 || next > end || end > count)
			return cm_err_set(err, FL_EPROTO,
					  "source '%s': split %lld..%lld in its state is outside its "
					  "offsets 0..%lld",
					  op->node->name, (long long)next, (long long)end,
					  (long long)count);
		if (next == end)
			continue;
		tm_gen_split *ns = realloc(op->gen_splits, (n + 1) * sizeof(*ns));
		if (!ns)
			return cm_err_set(err, FL_ENOMEM, "out of memory");
		op->gen_splits = ns;
		op->gen_splits[n++] = (tm_gen_split){next, end};
		op->gen_nsplits = n;
	}
	if (more < 0)
		return cm_err_set(err, FL_EPROTO, "source '%s': malformed state: %s", op->node->name,
				  cm_rbuf_errmsg(&r));
	CM_INFO("task", "source '%s' resumes %zu split(s) from checkpoint %llu", op->node->name, n,
		(unsigned long long)op->chain->td->restore_id);
	return 0;
}

static int gen_snapshot(tm_op *op, tm_snapshot *s)
{
	for (size_t i = 0; i < op->gen_nsplits; i++) {
		uint64_t b[2] = {htole64((uint64_t)op->gen_splits[i].next),
				 htole64((uint64_t)op->gen_splits[i].end)};
		tm_snapshot_add(s, b, sizeof(b));
	}
	return 0;
}

static void gen_fini(tm_op *op)
{
	free(op->gen_splits);
	op->gen_splits = NULL;
	op->gen_nsplits = 0;
}

const tm_op_class tm_generator_class = {
    .process = tm_source_process,
    .open = gen_open,
    .restore = gen_restore,
    .snapshot = gen_snapshot,
    .fini = gen_fini,
};

/* Waits for the rate limit: until the slot of the produced-th record, but
 * waking for flushes and cancellation. */
static int gen_pace(tm_chain *c, double rate, int64_t start, int64_t produced)
{
	int64_t due = start + (int64_t)((double)produced * 1000.0 / rate);
	int64_t now = cm_now_ms();
	while (now < due) {
		int64_t wait = due - now;
		if (c->buffer_timeout_ms > 0 && c->next_flush_ms - now < wait)
			wait = c->next_flush_ms > now ? c->next_flush_ms - now : 1;
		sleep_ms(wait > 100 ? 100 : wait);
		if (atomic_load_explicit(&c->cancelled, memory_order_relaxed))
			return FL_ECANCELED;
		int rc = tm_chain_maybe_flush(c, false);
		if (rc)
			return rc;
		now = cm_now_ms();
	}
	return 0;
}

int tm_run_generator(tm_chain *c)
{
	tm_op *head = &c->ops[0];
	const td_op *n = head->node;
	fl_generator_fn fn = (fl_generator_fn)head->fn;
	int p = c->td->parallelism;
	double rate = n->gen_rate > 0 ? n->gen_rate / p : 0; /* per subtask */
	int64_t start = cm_now_ms(), produced = 0;
	size_t cur = 0;
	while (head->gen_nsplits > 0) {
		if (cur >= head->gen_nsplits)
			cur = 0;
		tm_gen_split *sp = &head->gen_splits[cur];
		/* Bounds in locals: the user call would force reloads. */
		int64_t off = sp->next, end = sp->end;
		int64_t stop = head->gen_nsplits > 1 && end - off > GEN_TURN ? off + GEN_TURN : end;
		for (; off < stop; off++) {
			fl_row row;
			row.nfields = 0;
			int rc = fn(&c->ctx, off, &row);
			if (rc < 0) {
				if (c->ctx.user_failed)
					return tm_chain_fail(c, FL_EUSER,
							     "source '%s': %s() failed at offset %lld: %s",
							     n->name, n->fn_symbol, (long long)off,
							     c->ctx.user_msg);
				return tm_chain_fail(c, rc, "source '%s': %s() returned %d at offset %lld",
						     n->name, n->fn_symbol, rc, (long long)off);
			}
			rc = tm_op_process(head, &row);
			c->ctx.scratch_used = 0;
			/* What a checkpoint taken at this check records. */
			sp->next = off + 1;
			if (rc || (rc = tm_chain_check(c)) != 0)
				return rc;
			produced++;
			/* Cancellation is seen per record (tm_chain_check);
			 * this is for the metrics publish and the rate limit. */
			if (produced % CHECK_EVERY == 0 || rate > 0) {
				if ((rc = tm_chain_maybe_flush(c, c->buffer_timeout_ms == 0)) != 0)
					return rc;
				if (rate > 0 && (rc = gen_pace(c, rate, start, produced)) != 0)
					return rc;
			}
		}
		if (sp->next >= sp->end) {
			/* Exhausted: the splits keep their order. */
			memmove(sp, sp + 1, (head->gen_nsplits - cur - 1) * sizeof(*sp));
			head->gen_nsplits--;
		} else {
			cur++;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ text files */

static int text_snapshot(tm_op *op, tm_snapshot *s)
{
	snprintf(s->why, sizeof(s->why),
		 "operator '%s': the text file source does not record its position yet",
		 op->node->name);
	return FL_EINVAL;
}

const tm_op_class tm_text_source_class = {
    .process = tm_source_process,
    .snapshot = text_snapshot,
};

/*
 * sizes[i] of an input read as one unsplittable stream: a FIFO, a device,
 * a regular file that reports 0 bytes (/proc). The graph builder
 * (api/env.c) records it; it belongs in graph/streamgraph.h, which wins
 * when it defines it. Any size <= 0 is read as a stream.
 */

/* How long a stream read waits before looking at the cancel flag again. */
#define STREAM_POLL_MS 100
/* Paths in messages are cut here so that the cause after them always fits. */
#define PATH_SHOWN 240

typedef struct split {
	size_t file;
	int64_t start, end; /* a stream: 0 and -1 (to its end) */
} split;

/* Whether input i is read as one stream rather than cut into splits. */
static bool is_stream(const td_op *n, size_t i)
{
	return n->sizes[i] <= 0;
}

/* Every subtask computes the same split list and reads splits k with
 * k % parallelism == subtask. */
static int plan_splits(tm_chain *c, split **out, size_t *nout)
{
	const td_op *n = c->ops[0].node;
	int p = c->td->parallelism;
	/* Sizes as of graph building: every subtask must cut the same splits. */
	const int64_t *sizes = n->sizes;
	int64_t total = 0;
	for (size_t i = 0; i < n->npaths; i++) {
		if (access(n->paths[i], R_OK) != 0) {
			int e = errno;
			return tm_chain_fail(
			    c, cm_err_from_errno(e), "source '%s': cannot read '%.*s%s': %s",
			    n->name, PATH_SHOWN, n->paths[i],
			    strlen(n->paths[i]) > PATH_SHOWN ? "..." : "", strerror(e));
		}
		if (!is_stream(n, i))
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
		bool stream = is_stream(n, i);
		for (int64_t off = 0; stream ? off == 0 : off < sizes[i]; off += split_size) {
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
			int64_t end = off + split_size < sizes[i] ? off + split_size : sizes[i];
			s[cnt].end = stream ? -1 : end;
			cnt++;
			if (stream)
				break;
		}
	}
	*out = s;
	*nout = cnt;
	return 0;
}

typedef struct reader {
	tm_chain *chain; /* its cancel flag ends blocking reads */
	int fd;
	char *buf;
	size_t cap, len, pos;
	int64_t file_pos; /* file offset of buf[0] */
	/* A regular file: read up to limit, its size when the job was built;
	 * base is its size when this subtask started (limit or more). A
	 * stream: limit -1. */
	int64_t limit, base;
	int64_t now_size; /* the size a regular file changed to, else -1 */
	bool poll;	  /* wait in poll() (cancellable) before each read */
	bool eof;
	bool short_file; /* EOF came before limit: the file shrank */
	int sys_errno;	 /* the errno of a failed read */
} reader;

/*
 * Waits until fd is readable (data, or its writer gone), looking at the
 * cancel flag every STREAM_POLL_MS and flushing buffered output meanwhile,
 * so a FIFO whose writer never comes holds the task only until the job is
 * cancelled. Returns 0, FL_ECANCELED, or a flush error.
 */
static int wait_readable(reader *r)
{
	tm_chain *c = r->chain;
	for (;;) {
		struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
		int n = poll(&pfd, 1, STREAM_POLL_MS);
		if (atomic_load_explicit(&c->cancelled, memory_order_relaxed))
			return FL_ECANCELED;
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR) {
			r->sys_errno = errno;
			return cm_err_from_errno(errno);
		}
		int rc = tm_chain_maybe_flush(c, false);
		if (rc)
			return rc;
	}
}

/* Ensures buf[pos..] holds a full line or the rest of the input. */
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
	size_t want = r->cap - r->len;
	if (r->limit >= 0) {
		/* A regular file is read up to its size when the job was built:
		 * what every subtask planned from. */
		int64_t left = r->limit - (r->file_pos + (int64_t)r->len);
		if (left <= 0) {
			r->eof = true;
			return 0;
		}
		if ((uint64_t)left < want)
			want = (size_t)left;
	}
	for (;;) {
		if (r->poll) {
			int rc = wait_readable(r);
			if (rc)
				return rc;
		}
		ssize_t n = read(r->fd, r->buf + r->len, want);
		if (n < 0 && errno == EINTR) {
			/* A signal interrupts a blocked read when the task is
			 * cancelled; any other signal is resumed. */
			if (atomic_load_explicit(&r->chain->cancelled, memory_order_relaxed))
				return FL_ECANCELED;
			continue;
		}
		if (n < 0 && errno == EAGAIN && r->poll)
			continue;
		if (n < 0) {
			r->sys_errno = errno;
			return cm_err_from_errno(errno);
		}
		if (n == 0) {
			r->eof = true;
			r->short_file = r->limit >= 0;
		}
		r->len += (size_t)n;
		/* One fstat per buffer (64 KiB and more) notices a file that
		 * changes while it is read long before the split ends. */
		struct stat st;
		if (r->limit >= 0 && fstat(r->fd, &st) == 0 && st.st_size != r->base)
			r->now_size = st.st_size;
		return 0;
	}
}

/* The failure of a regular file whose size is no longer the one its
 * splits were cut from. */
static int changed(tm_chain *c, const char *path, int64_t planned, int64_t now)
{
	return tm_chain_fail(
	    c, FL_EIO,
	    "source '%s': file '%.*s%s' changed while being read: it had %lld bytes "
	    "when the job was built, now %lld",
	    c->ops[0].node->name, PATH_SHOWN, path, strlen(path) > PATH_SHOWN ? "..." : "",
	    (long long)planned, (long long)now);
}

/* The failure of a regular file that ended before the size it still
 * reports (a file system whose sizes do not tell the content). */
static int ended_early(tm_chain *c, const char *path, int64_t at, int64_t size)
{
	return tm_chain_fail(c, FL_EIO,
			     "source '%s': file '%.*s%s' ended at byte %lld although it reports "
			     "%lld bytes: its size does not tell its content",
			     c->ops[0].node->name, PATH_SHOWN, path,
			     strlen(path) > PATH_SHOWN ? "..." : "", (long long)at, (long long)size);
}

/* Opens path for a split without ever blocking in open() (a FIFO without a
 * writer), then makes reads blocking again. Returns the fd or -1 (errno). */
static int open_input(const char *path, struct stat *st)
{
	int fd;
	do
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -1;
	int fl = fcntl(fd, F_GETFL);
	if (fstat(fd, st) != 0 || fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/*
 * Reads one split. A regular file must still have the size this subtask
 * saw when it started (base, at least the planned size) before and after
 * the split, and must not end before the planned size: a file that shrinks
 * or grows while it is read fails the job, as its result would be partial.
 */
static int read_split(tm_chain *c, size_t file, const split *sp, int64_t base, reader *r)
{
	tm_op *head = &c->ops[0];
	const char *path = head->node->paths[file];
	const char *more = strlen(path) > PATH_SHOWN ? "..." : "";
	int64_t planned = head->node->sizes[file];
	bool stream = sp->end < 0;
	struct stat st;
	r->fd = open_input(path, &st);
	if (r->fd < 0) {
		int e = errno;
		return tm_chain_fail(c, cm_err_from_errno(e),
				     "source '%s': cannot open '%.*s%s': %s", head->node->name,
				     PATH_SHOWN, path, more, strerror(e));
	}
	int rc = 0;
	r->len = r->pos = 0;
	r->eof = r->short_file = false;
	r->base = base;
	r->now_size = -1;
	r->sys_errno = 0;
	r->limit = stream ? -1 : planned;
	r->poll = stream && !S_ISREG(st.st_mode);
	/* A split owns the lines that start inside it: unless it starts the
	 * file, skip to just after the first newline at or after start-1. */
	int64_t begin = sp->start > 0 ? sp->start - 1 : 0;
	r->file_pos = begin;
	if (!stream) {
		if (!S_ISREG(st.st_mode)) {
			rc = tm_chain_fail(
			    c, FL_EIO,
			    "source '%s': '%.*s%s' is no longer a regular file: it was "
			    "replaced while the job ran",
			    head->node->name, PATH_SHOWN, path, more);
			goto out;
		}
		if (st.st_size != base) {
			rc = changed(c, path, planned, st.st_size);
			goto out;
		}
		if (lseek(r->fd, begin, SEEK_SET) < 0) {
			int e = errno;
			rc = tm_chain_fail(c, cm_err_from_errno(e),
					   "source '%s': cannot seek to byte %lld of '%.*s%s': %s",
					   head->node->name, (long long)begin, PATH_SHOWN, path,
					   more, strerror(e));
			goto out;
		}
	}
	bool skipping = sp->start > 0;
	uint64_t lines = 0;
	for (;;) {
		char *nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
		if (!nl && !r->eof) {
			if ((rc = fill(r)) != 0) {
				if (rc == FL_ECANCELED)
					break;
				int64_t at = r->file_pos + (int64_t)r->pos;
				if (rc == FL_ERANGE)
					rc = tm_chain_fail(
					    c, rc,
					    "source '%s': a line over 16 MiB at byte %lld "
					    "of '%.*s%s'",
					    head->node->name, (long long)at, PATH_SHOWN, path,
					    more);
				else
					rc = tm_chain_fail(
					    c, rc,
					    "source '%s': cannot read '%.*s%s' at byte "
					    "%lld: %s",
					    head->node->name, PATH_SHOWN, path, more, (long long)at,
					    r->sys_errno ? strerror(r->sys_errno)
							 : fl_strerror(rc));
				break;
			}
			if (r->now_size >= 0) {
				rc = changed(c, path, planned, r->now_size);
				break;
			}
			if (r->short_file) {
				/* Ended before the size its splits were cut from:
				 * it shrank, or its size never told its content. */
				int64_t at = r->file_pos + (int64_t)r->len;
				int64_t now = fstat(r->fd, &st) == 0 ? st.st_size : at;
				rc = now >= planned ? ended_early(c, path, at, now)
						    : changed(c, path, planned, now);
				break;
			}
			continue;
		}
		if (!nl && r->pos == r->len)
			break; /* end of input */
		int64_t line_start = r->file_pos + (int64_t)r->pos;
		size_t llen = nl ? (size_t)(nl - (r->buf + r->pos)) : r->len - r->pos;
		char *line = r->buf + r->pos;
		r->pos += llen + (nl ? 1 : 0);
		if (skipping) {
			skipping = false;
			continue;
		}
		if (!stream && line_start >= sp->end)
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
	/* Also after the split: bytes appended or cut behind the part read
	 * change the file as much as those inside it. */
	if (rc == 0 && !stream && fstat(r->fd, &st) == 0 && st.st_size != base)
		rc = changed(c, path, planned, st.st_size);
out:
	close(r->fd);
	r->fd = -1;
	return rc;
}

/*
 * The sizes this subtask compares its regular files with: the size when the
 * job was built, or larger if the file grew before the job started reading
 * it (read as of graph building, as a log still being written). A file
 * already smaller than planned fails at once.
 */
static int start_sizes(tm_chain *c, int64_t *base)
{
	const td_op *n = c->ops[0].node;
	for (size_t i = 0; i < n->npaths; i++) {
		base[i] = n->sizes[i];
		struct stat st;
		/* A file that cannot be examined now fails where it is opened. */
		if (is_stream(n, i) || stat(n->paths[i], &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (st.st_size < n->sizes[i])
			return changed(c, n->paths[i], n->sizes[i], st.st_size);
		base[i] = st.st_size;
	}
	return 0;
}

int tm_run_text_source(tm_chain *c)
{
	split *splits = NULL;
	size_t n = 0;
	int rc = plan_splits(c, &splits, &n);
	if (rc)
		return rc;
	const td_op *node = c->ops[0].node;
	reader r = {.chain = c, .fd = -1, .cap = READ_BUF};
	int64_t *base = calloc(node->npaths ? node->npaths : 1, sizeof(*base));
	if (!base || !(r.buf = malloc(r.cap))) {
		free(base);
		free(splits);
		return tm_chain_fail(c, FL_ENOMEM, "out of memory");
	}
	rc = start_sizes(c, base);
	int p = c->td->parallelism;
	for (size_t k = (size_t)c->td->subtask; k < n && rc == 0; k += (size_t)p)
		rc = read_split(c, splits[k].file, &splits[k], base[splits[k].file], &r);
	free(r.buf);
	free(base);
	free(splits);
	return rc;
}
