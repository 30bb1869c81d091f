/*
 * sources.c — the source loops: a deterministic generator, a splittable
 * text file reader and a socket text reader. Both run in the head of their task's chain and check
 * for cancellation and the flush timeout every few hundred records.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint/metadata.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "taskmanager/operator.h"
#include "taskmanager/watermarks.h"

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
	op->gen_splits[0].max_ts = TM_TS_NONE;
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
		op->gen_splits[n++] = (tm_gen_split){next, end, TM_TS_NONE};
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

/* ------------------------------------------------------------ idleness */

/* withIdleness: a source that has produced nothing since `since` (ms) and
 * longer than its idle timeout says it is idle, once. */
static int source_maybe_idle(tm_chain *c, int64_t since, int64_t now)
{
	tm_op *head = &c->ops[0];
	int64_t t = head->node->wm_idle_ms;
	if (t <= 0 || head->src_idle || now - since < t)
		return 0;
	head->src_idle = true;
	CM_DEBUG("source", "source '%s' is idle (nothing for %lld ms)", head->node->name,
		 (long long)(now - since));
	return tm_chain_wm_status(c, true);
}

/* An idle source produces again: it says so before the record. */
static inline int source_active(tm_chain *c, tm_op *head)
{
	if (__builtin_expect(!head->src_idle, 1))
		return 0;
	head->src_idle = false;
	return tm_chain_wm_status(c, false);
}

/* Waits for the rate limit: until the slot of the produced-th record, but
 * waking for flushes and cancellation. */
static int gen_pace(tm_chain *c, double rate, int64_t start, int64_t produced)
{
	int64_t due = start + (int64_t)((double)produced * 1000.0 / rate);
	int64_t now = cm_now_ms(), since = now;
	while (now < due) {
		int64_t wait = due - now;
		if (c->buffer_timeout_ms > 0 && c->next_flush_ms - now < wait)
			wait = c->next_flush_ms > now ? c->next_flush_ms - now : 1;
		int64_t idle = c->ops[0].node->wm_idle_ms;
		if (idle > 0 && !c->ops[0].src_idle && since + idle - now < wait)
			wait = since + idle > now ? since + idle - now : 1;
		sleep_ms(wait > 100 ? 100 : wait);
		if (atomic_load_explicit(&c->cancelled, memory_order_relaxed))
			return FL_ECANCELED;
		int rc = tm_chain_maybe_flush(c, false);
		now = cm_now_ms();
		if (rc == 0)
			rc = source_maybe_idle(c, since, now);
		if (rc)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------ event time */

/*
 * The timestamp of a record a source with a strategy produced, into
 * c->ts; a record's timestamp is TM_TS_NONE only when the assigner says
 * so (Flink's Long.MIN_VALUE: no timestamp). Returns 0 or the error
 * (recorded in the chain) naming the source.
 */
static int source_timestamp(tm_chain *c, tm_op *head, const fl_row *row)
{
	const td_op *n = head->node;
	if (head->ts_fn) {
		int64_t ts = TM_TS_NONE;
		int rc = head->ts_fn(&c->ctx, row, &ts);
		if (rc < 0) {
			if (c->ctx.user_failed)
				return tm_chain_fail(
				    c, FL_EUSER, "source '%s': timestamp assigner %s() failed: %s",
				    n->name, n->ts_symbol, c->ctx.user_msg);
			return tm_chain_fail(c, rc,
					     "source '%s': timestamp assigner %s() returned %d",
					     n->name, n->ts_symbol, rc);
		}
		c->ts = ts;
		return 0;
	}
	uint32_t f = n->ts_field;
	enum fl_type t = fl_row_type(row, f);
	if (f >= row->nfields || (t != FL_INT64 && t != FL_TIMESTAMP))
		return tm_chain_fail(
		    c, FL_ETYPE,
		    "source '%s': timestamp field %u of a record is %s, not an int64 "
		    "or a timestamp",
		    n->name, f, f >= row->nfields ? "missing" : "of another type");
	c->ts = row->values[f].u.i;
	return 0;
}

/* The watermark a split's largest timestamp allows (Flink's
 * BoundedOutOfOrdernessWatermarks: max - bound - 1; monotonous: bound 0). */
int64_t tm_split_watermark(const td_op *n, int64_t max_ts)
{
	if (max_ts == TM_TS_NONE || max_ts < INT64_MIN + n->wm_bound_ms + 1)
		return TM_TS_NONE;
	return max_ts - n->wm_bound_ms - 1;
}

/* Emits w when it is above the chain's last watermark. */
static int emit_watermark(tm_chain *c, int64_t w)
{
	return w > c->wm ? tm_chain_watermark(c, w) : 0;
}

/* Periodic watermarks: when the interval passed, w goes out. */
static int maybe_watermark(tm_chain *c, tm_op *head, int64_t w)
{
	int64_t iv = head->node->wm_interval_ms;
	if (iv <= 0)
		return 0;
	int64_t now = cm_now_ms();
	if (now < head->wm_next_ms)
		return 0;
	head->wm_next_ms = now + iv;
	return emit_watermark(c, w);
}

int64_t tm_gen_watermark(const tm_op *head)
{
	int64_t m = TM_WM_END;
	for (size_t i = 0; i < head->gen_nsplits; i++) {
		int64_t w = tm_split_watermark(head->node, head->gen_splits[i].max_ts);
		if (w < m)
			m = w;
	}
	return m;
}

/* A generator function that failed at offset off (rc < 0): the task fails,
 * naming the source, the function and the user's message when it gave one. */
static int gen_failed(tm_chain *c, const td_op *n, int rc, int64_t off)
{
	if (c->ctx.user_failed)
		return tm_chain_fail(c, FL_EUSER, "source '%s': %s() failed at offset %lld: %s",
				     n->name, n->fn_symbol, (long long)off, c->ctx.user_msg);
	return tm_chain_fail(c, rc, "source '%s': %s() returned %d at offset %lld", n->name,
			     n->fn_symbol, rc, (long long)off);
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
	const bool evt = n->event_time, wms = evt && n->wm_kind > FL_WATERMARK_NONE;
	head->wm_next_ms = start + n->wm_interval_ms;
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
			if (rc < 0)
				return gen_failed(c, n, rc, off);
			if (evt) {
				if ((rc = source_timestamp(c, head, &row)) != 0 ||
				    (rc = source_active(c, head)) != 0)
					return rc;
				if (c->ts > sp->max_ts)
					sp->max_ts = c->ts;
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
				if (wms &&
				    (rc = maybe_watermark(c, head, tm_gen_watermark(head))) != 0)
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
	/* End of input: the final watermark (Flink's MAX_WATERMARK). */
	c->ts = TM_TS_NONE;
	int rc = wms ? emit_watermark(c, TM_WM_END) : 0;
	/* An unbounded generator has no end: a subtask without splits (restored
	 * at a higher parallelism than its ranges were cut for, which do not
	 * cut further) waits for its cancellation, as Flink's source reader
	 * without splits does, and keeps taking part in checkpoints, which a
	 * finished task could not. It will emit nothing, so its watermark is
	 * the end of time already. */
	while (rc == 0 && n->gen_count < 0) {
		if ((rc = tm_chain_check(c)) == 0)
			sleep_ms(10);
	}
	return rc;
}

/* ------------------------------------------------------------ text files */

/*
 * sizes[i] of an input read as one unsplittable stream: a FIFO, a device,
 * a regular file that reports 0 bytes (/proc). The graph builder
 * (api/env.c) records SG_SIZE_STREAM; any size <= 0 is read as a stream.
 */

/* How long a stream read waits before looking at the cancel flag again. */
#define STREAM_POLL_MS 100
/* Paths in messages are cut here so that the cause after them always fits. */
#define PATH_SHOWN 240
#define SHOWN(p) PATH_SHOWN, (p), strlen(p) > PATH_SHOWN ? "..." : ""

/*
 * A split (Flink's FileSourceSplit with its checkpointed offset): the lines
 * of input `file` that start in [next, end), a line starting at 0 or just
 * after a newline; a line that starts before end is read whole, even past
 * end. next is start, or the position a restore resumes from; while the
 * split is read, the start of its next line as of the last time the
 * reader attended to its chain. A stream is one split: start 0, end -1.
 */
typedef struct split {
	size_t file;
	int64_t start, end;
	int64_t next;
} split;

/*
 * A split as an element of the source's list state: little-endian
 *   u32 file (index into the source's inputs), i64 size (the file's, when
 *   its splits were cut), i64 start, i64 end, i64 next, then the input's
 *   path (the rest of the element, without a NUL)
 * so that a restore can check the job reads the same files, and a
 * checkpoint names the files it holds positions of.
 */
#define ELEM_HEAD 36

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
 * A text file source's state (tm_op.text): the splits of this subtask
 * still to read, in order. The reader of splits[cur] (a local of the read
 * loop, so that its fields stay in registers across the per-line calls)
 * sets the split's next only when it attends to its chain, where a
 * snapshot is taken.
 */
struct tm_text_source {
	split *splits;
	size_t nsplits, cur; /* splits[cur] is being read; those before are done */
	bool restored;
	int64_t *base; /* per input: the size its reads are checked against */
};

/* Whether input i is read as one stream rather than cut into splits. */
static bool is_stream(const td_op *n, size_t i)
{
	return n->sizes[i] <= 0;
}

static int add_split(struct tm_text_source *ts, size_t *cap, split sp)
{
	if (ts->nsplits == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		split *ns = realloc(ts->splits, ncap * sizeof(*ns));
		if (!ns)
			return FL_ENOMEM;
		ts->splits = ns;
		*cap = ncap;
	}
	ts->splits[ts->nsplits++] = sp;
	return 0;
}

/* Every subtask computes the same split list and takes splits k with
 * k % parallelism == subtask. */
static int plan_splits(tm_op *op, struct tm_text_source *ts, cm_err *err)
{
	const td_op *n = op->node;
	const td_task *td = op->chain->td;
	int64_t p = td->parallelism;
	/* Sizes as of graph building: every subtask must cut the same splits. */
	const int64_t *sizes = n->sizes;
	int64_t total = 0;
	for (size_t i = 0; i < n->npaths; i++) {
		if (access(n->paths[i], R_OK) != 0) {
			int e = errno;
			return cm_err_set(err, cm_err_from_errno(e),
					  "source '%s': cannot read '%.*s%s': %s", n->name,
					  SHOWN(n->paths[i]), strerror(e));
		}
		if (!is_stream(n, i))
			total += sizes[i];
	}
	/* About four splits per subtask, none under 1 MiB, so work balances
	 * without tiny reads. */
	int64_t split_size = total / (p * 4) + 1;
	if (split_size < MIN_SPLIT)
		split_size = MIN_SPLIT;
	size_t cap = 0, k = 0;
	for (size_t i = 0; i < n->npaths; i++) {
		bool stream = is_stream(n, i);
		for (int64_t off = 0; stream ? off == 0 : off < sizes[i]; off += split_size, k++) {
			if (k % (size_t)p != (size_t)td->subtask)
				continue;
			int64_t end = off + split_size < sizes[i] ? off + split_size : sizes[i];
			split sp = {.file = i, .start = off, .end = stream ? -1 : end, .next = off};
			if (add_split(ts, &cap, sp))
				return cm_err_set(err, FL_ENOMEM, "out of memory");
			if (stream)
				break;
		}
	}
	return 0;
}

static void text_fini(tm_op *op)
{
	struct tm_text_source *ts = op->text;
	if (!ts)
		return;
	free(ts->base);
	free(ts->splits);
	free(ts);
	op->text = NULL;
}

/* At a fresh start the subtask takes its splits; restored, it gets them
 * from the checkpoint (text_restore). */
static int text_open(tm_op *op, cm_err *err)
{
	const td_op *n = op->node;
	struct tm_text_source *ts = calloc(1, sizeof(*ts));
	if (!ts)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	op->text = ts;
	if (!(ts->base = calloc(n->npaths ? n->npaths : 1, sizeof(*ts->base))))
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	if (op->chain->td->restore_id && n->restore.restored) {
		ts->restored = true;
		return 0;
	}
	return plan_splits(op, ts, err);
}

static int64_t get_i64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return (int64_t)le64toh(v);
}

/*
 * One split of the checkpoint, e[0..len): checked field by field against
 * the job's inputs (FL_EPROTO: malformed; FL_EINVAL: the job reads other
 * files than the checkpoint's) and its file against the disk (missing, or
 * another size than when its splits were cut: the file changed).
 */
static int restore_split(tm_op *op, const uint8_t *e, size_t len, split *out, cm_err *err)
{
	const td_op *n = op->node;
	unsigned long long ckp = (unsigned long long)op->chain->td->restore_id;
	if (len <= ELEM_HEAD)
		return cm_err_set(err, FL_EPROTO,
				  "source '%s': a split of %zu bytes in its state (over %d expected)",
				  n->name, len, ELEM_HEAD);
	uint32_t file;
	memcpy(&file, e, 4);
	file = le32toh(file);
	int64_t size = get_i64(e + 4), start = get_i64(e + 12), end = get_i64(e + 20),
		next = get_i64(e + 28);
	const char *path = (const char *)e + ELEM_HEAD;
	size_t plen = len - ELEM_HEAD;
	if (file >= n->npaths)
		return cm_err_set(err, FL_EPROTO,
				  "source '%s': a split of input #%u in its state, but the source "
				  "reads %zu input(s)",
				  n->name, file, n->npaths);
	const char *mine = n->paths[file];
	if (strlen(mine) != plen || memcmp(mine, path, plen) != 0)
		return cm_err_set(err, FL_EINVAL,
				  "source '%s': input #%u is '%.*s%s' in checkpoint %llu but "
				  "'%.*s%s' in this job: a restored source must read the same files",
				  n->name, file, (int)(plen > PATH_SHOWN ? PATH_SHOWN : plen), path,
				  plen > PATH_SHOWN ? "..." : "", ckp, SHOWN(mine));
	if (size <= 0)
		return cm_err_set(err, FL_EPROTO,
				  "source '%s': a split of '%.*s%s' in its state has size %lld: "
				  "streams are never recorded",
				  n->name, SHOWN(mine), (long long)size);
	if (start < 0 || start >= end || end > size)
		return cm_err_set(err, FL_EPROTO,
				  "source '%s': split %lld..%lld of '%.*s%s' in its state is not "
				  "within the file's %lld bytes",
				  n->name, (long long)start, (long long)end, SHOWN(mine),
				  (long long)size);
	if (next < start || next >= end)
		return cm_err_set(err, FL_EPROTO,
				  "source '%s': position %lld in split %lld..%lld of '%.*s%s' in its "
				  "state is outside the split",
				  n->name, (long long)next, (long long)start, (long long)end,
				  SHOWN(mine));
	/* As Flink's FileSource, the files are assumed immutable: positions
	 * in a file of another size point anywhere. */
	if (is_stream(n, file))
		return cm_err_set(err, FL_EIO,
				  "source '%s': file '%.*s%s' had %lld bytes at checkpoint %llu but is "
				  "read as a stream in this job: a file must not change while a job "
				  "reads it, across restores too",
				  n->name, SHOWN(mine), (long long)size, ckp);
	if (n->sizes[file] != size)
		return cm_err_set(err, FL_EIO,
				  "source '%s': file '%.*s%s' had %lld bytes at checkpoint %llu, %lld "
				  "when this job was built: a file must not change while a job reads "
				  "it, across restores too",
				  n->name, SHOWN(mine), (long long)size, ckp,
				  (long long)n->sizes[file]);
	struct stat st;
	if (stat(mine, &st) != 0) {
		int e2 = errno;
		return cm_err_set(err, cm_err_from_errno(e2),
				  "source '%s': cannot resume its split of '%.*s%s': %s", n->name,
				  SHOWN(mine), strerror(e2));
	}
	if (!S_ISREG(st.st_mode) || st.st_size != size)
		return cm_err_set(err, FL_EIO,
				  "source '%s': file '%.*s%s' had %lld bytes at checkpoint %llu, now "
				  "%lld%s: a file must not change while a job reads it, across "
				  "restores too",
				  n->name, SHOWN(mine), (long long)size, ckp, (long long)st.st_size,
				  S_ISREG(st.st_mode) ? "" : " and is no longer a regular file");
	*out = (split){.file = file, .start = start, .end = end, .next = next};
	return 0;
}

/* Its share of the checkpoint's splits, read in order from their
 * positions. */
static int text_restore(tm_op *op, const td_restore *rs, cm_err *err)
{
	struct tm_text_source *ts = op->text;
	cm_rbuf r;
	cm_rbuf_init(&r, rs->list, rs->list_len);
	const uint8_t *e;
	size_t len, cap = ts->nsplits;
	int more;
	while ((more = cp_list_next(&r, &e, &len)) == 1) {
		split sp = {0};
		int rc = restore_split(op, e, len, &sp, err);
		if (rc)
			return rc;
		if (add_split(ts, &cap, sp))
			return cm_err_set(err, FL_ENOMEM, "out of memory");
		ts->base[sp.file] = op->node->sizes[sp.file];
	}
	if (more < 0)
		return cm_err_set(err, FL_EPROTO, "source '%s': malformed state: %s", op->node->name,
				  cm_rbuf_errmsg(&r));
	CM_INFO("task", "source '%s' resumes %zu split(s) from checkpoint %llu", op->node->name,
		ts->nsplits, (unsigned long long)op->chain->td->restore_id);
	return 0;
}

/*
 * Records every split still to read, the one being read from the start of
 * its next line (the reader's buffer holds more, but the position is that
 * of the first line not yet processed). A stream among them declines: it
 * cannot be read again from a position, which Flink's FileSource does not
 * support either.
 */
static int text_snapshot(tm_op *op, tm_snapshot *s)
{
	const td_op *n = op->node;
	struct tm_text_source *ts = op->text;
	for (size_t k = ts->cur; k < ts->nsplits; k++)
		if (ts->splits[k].end < 0) {
			const char *p = n->paths[ts->splits[k].file];
			/* Short, the facts first: the JobMaster keeps 255 bytes of a
			 * failed checkpoint's cause, after the task's name. */
			snprintf(s->why, sizeof(s->why),
				 "source '%s': input '%.*s%s' is a stream (a FIFO, a device, a "
				 "/proc file): it cannot be read again from a position, so "
				 "checkpoints are declined until it is read",
				 n->name, SHOWN(p));
			return FL_EINVAL;
		}
	int rc = 0;
	for (size_t k = ts->cur; rc == 0 && k < ts->nsplits; k++) {
		const split *sp = &ts->splits[k];
		int64_t next = sp->next;
		if (next >= sp->end)
			continue; /* read to its end */
		const char *path = n->paths[sp->file];
		cm_wbuf w;
		cm_wbuf_init(&w, ELEM_HEAD + TD_MAX_STRING);
		cm_wbuf_u32le(&w, (uint32_t)sp->file);
		cm_wbuf_u64le(&w, (uint64_t)n->sizes[sp->file]);
		cm_wbuf_u64le(&w, (uint64_t)sp->start);
		cm_wbuf_u64le(&w, (uint64_t)sp->end);
		cm_wbuf_u64le(&w, (uint64_t)next);
		cm_wbuf_raw(&w, path, strlen(path));
		if ((rc = cm_wbuf_error(&w)) == 0)
			tm_snapshot_add(s, cm_wbuf_data(&w), cm_wbuf_len(&w));
		cm_wbuf_fini(&w);
	}
	if (rc)
		snprintf(s->why, sizeof(s->why), "source '%s': out of memory", n->name);
	return rc;
}

const tm_op_class tm_text_source_class = {
    .process = tm_source_process,
    .open = text_open,
    .restore = text_restore,
    .snapshot = text_snapshot,
    .fini = text_fini,
};

/*
 * Waits until fd is readable (data, or its writer gone), looking at the
 * cancel flag every STREAM_POLL_MS and flushing buffered output meanwhile,
 * so a FIFO whose writer never comes holds the task only until the job is
 * cancelled. A checkpoint triggered meanwhile is attended to (the reader is
 * between two lines), so an idle stream declines it at once rather than
 * letting it expire. Returns 0, FL_ECANCELED, or the error of a flush or a
 * checkpoint.
 */
static int wait_readable(reader *r)
{
	tm_chain *c = r->chain;
	int64_t since = cm_now_ms();
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
		int rc = tm_chain_check(c);
		if (rc == 0)
			rc = tm_chain_maybe_flush(c, false);
		if (rc == 0)
			rc = source_maybe_idle(c, since, cm_now_ms());
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
static int changed(tm_chain *c, const td_op *n, const char *path, int64_t planned, int64_t now)
{
	return tm_chain_fail(
	    c, FL_EIO,
	    "source '%s': file '%.*s%s' changed while being read: it had %lld bytes "
	    "when the job was built, now %lld",
	    n->name, PATH_SHOWN, path, strlen(path) > PATH_SHOWN ? "..." : "",
	    (long long)planned, (long long)now);
}

/* The failure of a regular file that ended before the size it still
 * reports (a file system whose sizes do not tell the content). */
static int ended_early(tm_chain *c, const td_op *n, const char *path, int64_t at, int64_t size)
{
	return tm_chain_fail(c, FL_EIO,
			     "source '%s': file '%.*s%s' ended at byte %lld although it reports "
			     "%lld bytes: its size does not tell its content",
			     n->name, PATH_SHOWN, path,
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
 * One line of a text or socket source (without its '\n'; a '\r' before it
 * is dropped) through the chain as a row of one string field, with its
 * timestamp when the source has a strategy (the largest so far in *max_ts).
 * Returns 0 or the error (recorded in the chain).
 */
static int emit_line(tm_chain *c, tm_op *head, char *line, size_t llen, int64_t *max_ts)
{
	if (llen > 0 && line[llen - 1] == '\r')
		llen--;
	fl_row row;
	row.nfields = 1;
	row.types[0] = FL_STRING;
	row.values[0].u.s.ptr = line;
	row.values[0].u.s.len = (uint32_t)llen;
	int rc;
	if (head->node->event_time) {
		if ((rc = source_timestamp(c, head, &row)) != 0 ||
		    (rc = source_active(c, head)) != 0)
			return rc;
		if (c->ts > *max_ts)
			*max_ts = c->ts;
	}
	rc = tm_op_process(head, &row);
	c->ctx.scratch_used = 0;
	return rc;
}

/*
 * Reads split sp from its position. A regular file must still have the size
 * this subtask saw when it started (base, at least the planned size) before
 * and after the split, and must not end before the planned size: a file
 * that shrinks or grows while it is read fails the job, as its result would
 * be partial.
 */
static int read_split(tm_chain *c, struct tm_text_source *ts, split *sp, reader *r)
{
	tm_op *head = &c->ops[0];
	const size_t file = sp->file;
	const int64_t base = ts->base[file];
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
	/* A split owns the lines that start inside it: unless it is read from
	 * the file's start, skip to just after the first newline at or after
	 * next-1 (at a position a checkpoint recorded, that newline is
	 * next-1 itself). */
	int64_t begin = sp->next > 0 ? sp->next - 1 : 0;
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
			rc = changed(c, head->node, path, planned, st.st_size);
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
	bool skipping = sp->next > 0;
	uint64_t lines = 0;
	/* Event time: splits are read in turn, so the ones after this one
	 * have produced nothing and hold the watermark back; those before
	 * are done and no longer do (the per-split minimum). */
	const td_op *n = head->node;
	const bool evt = n->event_time;
	const bool wms = evt && n->wm_kind > FL_WATERMARK_NONE && ts->cur + 1 == ts->nsplits;
	int64_t max_ts = TM_TS_NONE;
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
				rc = changed(c, head->node, path, planned, r->now_size);
				break;
			}
			if (r->short_file) {
				/* Ended before the size its splits were cut from:
				 * it shrank, or its size never told its content. */
				int64_t at = r->file_pos + (int64_t)r->len;
				int64_t now = fstat(r->fd, &st) == 0 ? st.st_size : at;
				rc = now >= planned ? ended_early(c, head->node, path, at, now)
						    : changed(c, head->node, path, planned, now);
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
		if ((rc = emit_line(c, head, line, llen, &max_ts)) != 0)
			break;
		/* tm_chain_check, with what a checkpoint taken there records:
		 * the start of the next line. */
		if (atomic_load_explicit(&c->attention, memory_order_relaxed)) {
			sp->next = r->file_pos + (int64_t)r->pos;
			if ((rc = tm_chain_attend(c)) != 0)
				break;
		}
		if (++lines % CHECK_EVERY == 0) {
			if (atomic_load_explicit(&c->cancelled, memory_order_relaxed)) {
				rc = FL_ECANCELED;
				break;
			}
			if ((rc = tm_chain_maybe_flush(c, false)) != 0)
				break;
			if (wms && (rc = maybe_watermark(c, head, tm_split_watermark(n, max_ts))) != 0)
				break;
		}
		if (!nl)
			break;
	}
	/* Also after the split: bytes appended or cut behind the part read
	 * change the file as much as those inside it. */
	if (rc == 0 && !stream && fstat(r->fd, &st) == 0 && st.st_size != base)
		rc = changed(c, head->node, path, planned, st.st_size);
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
static int start_sizes(tm_chain *c, const td_op *n, int64_t *base)
{
	for (size_t i = 0; i < n->npaths; i++) {
		base[i] = n->sizes[i];
		struct stat st;
		/* A file that cannot be examined now fails where it is opened. */
		if (is_stream(n, i) || stat(n->paths[i], &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (st.st_size < n->sizes[i])
			return changed(c, n, n->paths[i], n->sizes[i], st.st_size);
		base[i] = st.st_size;
	}
	return 0;
}

int tm_run_text_source(tm_chain *c)
{
	struct tm_text_source *ts = c->ops[0].text;
	/* A local reader: its fields stay in registers across the per-line
	 * calls into the chain. */
	reader r = {.chain = c, .fd = -1, .cap = READ_BUF};
	if (!(r.buf = malloc(r.cap)))
		return tm_chain_fail(c, FL_ENOMEM, "out of memory");
	/* Restored splits were checked against their recorded sizes. */
	int rc = ts->restored ? 0 : start_sizes(c, c->ops[0].node, ts->base);
	const td_op *n = c->ops[0].node;
	c->ops[0].wm_next_ms = cm_now_ms() + n->wm_interval_ms;
	while (rc == 0 && ts->cur < ts->nsplits)
		if ((rc = read_split(c, ts, &ts->splits[ts->cur], &r)) == 0)
			ts->cur++;
	free(r.buf);
	c->ts = TM_TS_NONE;
	/* End of input: the final watermark (Flink's MAX_WATERMARK). */
	if (rc == 0 && n->event_time && n->wm_kind > FL_WATERMARK_NONE)
		rc = emit_watermark(c, TM_WM_END);
	return rc;
}

/* ------------------------------------------- several sources, one thread */

/*
 * A task whose chain has several sources: generators and text file
 * sources of regular files joined by a two-input operator (jobgraph.h),
 * Flink's MultipleInputStreamTask with chained sources. One thread serves
 * them in turns of up to GEN_TURN records each (a paced generator only
 * while its next record is due; a text source's reader stays open between
 * its turns), so that a checkpoint or a stop taken between two records
 * (tm_chain_check) holds every source's position and every operator's
 * state at one point of the interleaved stream. The chain's watermark is
 * the minimum over its sources not idle (one without a strategy holds it
 * back, an ended one's is the end of time); the chain is idle when every
 * source still producing is. Its operators all see that watermark (a map
 * on one branch sees the minimum of both, never more than its own
 * input's).
 */

/* A text file source's reading between its turns. */
typedef struct text_turn {
	reader r;
	bool open;     /* r.fd is the split ts->cur's */
	bool skipping; /* the split's first line belongs to the one before */
	int64_t max_ts; /* the largest timestamp of the split being read */
} text_turn;

typedef struct gen_turn {
	tm_op *op;
	text_turn *text;  /* a text file source's, NULL for a generator */
	double rate;	  /* a generator's per subtask, 0: unpaced */
	int64_t produced; /* records since the loop started (the pace) */
	int64_t last;	  /* cm_now_ms when it last produced (idleness) */
	size_t cur;	  /* a generator's split whose turn it is */
	bool wms;	  /* it has a watermark strategy */
	bool ran;	  /* it produced in this round */
} gen_turn;

/* The sources of a chain served in turns (operator.h's tm_sources_*). */
struct tm_sources {
	tm_chain *c;
	gen_turn *s;
	size_t n;
	int64_t start;
	bool idle;	/* the hook was told every source is idle */
	int64_t wm_iv;	/* the shortest periodic watermark interval, 0: none */
	int64_t wm_next;
	bool wms;	/* a source has a watermark strategy */
	bool unbounded; /* an unbounded generator */
	tm_sources_wm_fn wm_fn;
	void *wm_arg;
};
/* Whether s has records left. */
static bool turn_live(const gen_turn *s)
{
	if (s->text)
		return s->op->text->cur < s->op->text->nsplits;
	return s->op->gen_nsplits > 0;
}

/* The chain's watermark now (TM_TS_NONE: none yet; TM_WM_IDLE: every
 * source is idle). A text source's splits are read in turn: its
 * watermark is its last split's (tm_run_text_source). */
static int64_t gen_set_watermark(const tm_sources *g)
{
	int64_t m = TM_WM_IDLE;
	for (size_t k = 0; k < g->n; k++) {
		const gen_turn *s = &g->s[k];
		const tm_op *op = s->op;
		int64_t w;
		if (!turn_live(s))
			w = TM_WM_END;
		else if (op->src_idle)
			continue;
		else if (!s->wms)
			w = TM_TS_NONE;
		else if (!s->text)
			w = tm_gen_watermark(op);
		else if (op->text->cur + 1 == op->text->nsplits)
			w = tm_split_watermark(op->node, s->text->max_ts);
		else
			w = TM_TS_NONE;
		if (m == TM_WM_IDLE || w < m)
			m = w;
	}
	return m;
}

/* A record of op is about to go out: if op was idle it is not, nor the
 * chain. */
static inline int turn_active(tm_sources *g, tm_op *op)
{
	if (__builtin_expect(!op->src_idle, 1))
		return 0;
	op->src_idle = false;
	if (!g->idle)
		return 0;
	g->idle = false;
	return g->wm_fn(g->wm_arg, TM_SRC_ACTIVE, 0);
}

/* Up to GEN_TURN records of one split of generator s, fewer when s is
 * paced and its next record is not due yet (then *due is lowered to when
 * it is). Returns 0, TM_STOPPED or the error (recorded in the chain). */
static int gen_step(tm_chain *c, tm_sources *g, gen_turn *s, int64_t *due)
{
	tm_op *op = s->op;
	const td_op *n = op->node;
	fl_generator_fn fn = (fl_generator_fn)op->fn;
	if (s->cur >= op->gen_nsplits)
		s->cur = 0;
	tm_gen_split *sp = &op->gen_splits[s->cur];
	int64_t off = sp->next, stop = sp->end - off > GEN_TURN ? off + GEN_TURN : sp->end;
	int64_t now = 0;
	for (; off < stop; off++) {
		if (s->rate > 0) {
			int64_t d = g->start + (int64_t)((double)s->produced * 1000.0 / s->rate);
			if (d > now && (now = cm_now_ms()) < d) {
				if (d < *due)
					*due = d;
				break;
			}
		}
		fl_row row;
		row.nfields = 0;
		int rc = fn(&c->ctx, off, &row);
		if (rc < 0)
			return gen_failed(c, n, rc, off);
		c->ts = TM_TS_NONE;
		if (n->event_time) {
			if ((rc = source_timestamp(c, op, &row)) != 0)
				return rc;
			if (c->ts > sp->max_ts)
				sp->max_ts = c->ts;
		}
		if ((rc = turn_active(g, op)) != 0)
			return rc;
		rc = tm_op_process(op, &row);
		c->ctx.scratch_used = 0;
		sp->next = off + 1; /* what a checkpoint taken at this check records */
		s->produced++;
		s->ran = true;
		if (rc || (rc = tm_chain_check(c)) != 0)
			return rc;
		if (__builtin_expect(c->src_hold, 0)) {
			off++; /* taken: its split goes on from the next */
			break;
		}
	}
	if (sp->next >= sp->end) {
		memmove(sp, sp + 1, (op->gen_nsplits - s->cur - 1) * sizeof(*sp));
		op->gen_nsplits--;
	} else if (off >= stop) {
		s->cur++; /* its other splits' turn */
	}
	return 0;
}

/* Opens the split ts->cur of text source op where it is to be read from
 * (read_split's start; a stream is refused: its reads would block the
 * other sources). */
static int text_open_split(tm_chain *c, tm_op *op, text_turn *tt)
{
	struct tm_text_source *ts = op->text;
	const split *sp = &ts->splits[ts->cur];
	const td_op *n = op->node;
	const char *path = n->paths[sp->file];
	reader *r = &tt->r;
	if (sp->end < 0)
		return tm_chain_fail(c, FL_EINVAL,
				     "source '%s': input '%.*s%s' is a stream (a FIFO, a device, a "
				     "/proc file): a text source sharing its task with another "
				     "source reads regular files only",
				     n->name, SHOWN(path));
	struct stat st;
	if ((r->fd = open_input(path, &st)) < 0) {
		int e = errno;
		return tm_chain_fail(c, cm_err_from_errno(e), "source '%s': cannot open '%.*s%s': %s",
				     n->name, SHOWN(path), strerror(e));
	}
	tt->open = true;
	r->len = r->pos = 0;
	r->eof = r->short_file = false;
	r->base = ts->base[sp->file];
	r->now_size = -1;
	r->sys_errno = 0;
	r->limit = n->sizes[sp->file];
	r->poll = false;
	/* As read_split: from just after the newline at next - 1. */
	int64_t begin = sp->next > 0 ? sp->next - 1 : 0;
	r->file_pos = begin;
	tt->skipping = sp->next > 0;
	tt->max_ts = TM_TS_NONE;
	if (!S_ISREG(st.st_mode))
		return tm_chain_fail(c, FL_EIO,
				     "source '%s': '%.*s%s' is no longer a regular file: it was "
				     "replaced while the job ran",
				     n->name, SHOWN(path));
	if (st.st_size != r->base)
		return changed(c, n, path, r->limit, st.st_size);
	if (lseek(r->fd, begin, SEEK_SET) < 0) {
		int e = errno;
		return tm_chain_fail(c, cm_err_from_errno(e),
				     "source '%s': cannot seek to byte %lld of '%.*s%s': %s",
				     n->name, (long long)begin, SHOWN(path), strerror(e));
	}
	return 0;
}

static void text_close_split(text_turn *tt)
{
	if (tt->open)
		close(tt->r.fd);
	tt->r.fd = -1;
	tt->open = false;
}

/* Up to GEN_TURN lines of text source s (read_split's loop, resumable:
 * the split's next is kept at the start of the next line, what a
 * checkpoint records). Returns 0, TM_STOPPED or the error. */
static int text_step(tm_chain *c, tm_sources *g, gen_turn *s)
{
	tm_op *op = s->op;
	struct tm_text_source *ts = op->text;
	text_turn *tt = s->text;
	reader *r = &tt->r;
	const td_op *n = op->node;
	int rc;
	if (!tt->open && (rc = text_open_split(c, op, tt)) != 0)
		return rc;
	split *sp = &ts->splits[ts->cur];
	const char *path = n->paths[sp->file];
	const int64_t planned = n->sizes[sp->file];
	for (int lines = 0;;) {
		char *nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
		if (!nl && !r->eof) {
			if ((rc = fill(r)) != 0) {
				if (rc == FL_ECANCELED)
					return rc;
				int64_t at = r->file_pos + (int64_t)r->pos;
				if (rc == FL_ERANGE)
					return tm_chain_fail(
					    c, rc, "source '%s': a line over 16 MiB at byte %lld of '%.*s%s'",
					    n->name, (long long)at, SHOWN(path));
				return tm_chain_fail(
				    c, rc, "source '%s': cannot read '%.*s%s' at byte %lld: %s", n->name,
				    SHOWN(path), (long long)at,
				    r->sys_errno ? strerror(r->sys_errno) : fl_strerror(rc));
			}
			if (r->now_size >= 0)
				return changed(c, n, path, planned, r->now_size);
			if (r->short_file) {
				struct stat st;
				int64_t at = r->file_pos + (int64_t)r->len;
				int64_t now = fstat(r->fd, &st) == 0 ? st.st_size : at;
				return now >= planned ? ended_early(c, n, path, at, now)
						      : changed(c, n, path, planned, now);
			}
			continue;
		}
		if (!nl && r->pos == r->len)
			break; /* end of input */
		int64_t line_start = r->file_pos + (int64_t)r->pos;
		size_t llen = nl ? (size_t)(nl - (r->buf + r->pos)) : r->len - r->pos;
		char *line = r->buf + r->pos;
		r->pos += llen + (nl ? 1 : 0);
		if (tt->skipping) {
			tt->skipping = false;
			continue;
		}
		if (line_start >= sp->end)
			break;
		c->ts = TM_TS_NONE;
		if ((rc = turn_active(g, op)) != 0 ||
		    (rc = emit_line(c, op, line, llen, &tt->max_ts)) != 0)
			return rc;
		sp->next = r->file_pos + (int64_t)r->pos;
		s->ran = true;
		lines++;
		if ((rc = tm_chain_check(c)) != 0)
			return rc;
		if (!nl)
			break;
		if (lines == GEN_TURN || __builtin_expect(c->src_hold, 0))
			return 0;
	}
	/* The split is read: as read_split, the file must not have changed
	 * behind the part read either. */
	struct stat st;
	rc = 0;
	if (fstat(r->fd, &st) == 0 && st.st_size != r->base)
		rc = changed(c, n, path, planned, st.st_size);
	text_close_split(tt);
	if (rc == 0)
		ts->cur++;
	return rc;
}

/* After a round at now: sources that produced nothing for their idle
 * timeout are idle; the chain is when all still producing are. */
static int gen_set_idleness(tm_sources *g, int64_t now)
{
	bool all = true;
	for (size_t k = 0; k < g->n; k++) {
		gen_turn *s = &g->s[k];
		int64_t t = s->op->node->wm_idle_ms;
		if (s->ran)
			s->last = now;
		s->ran = false;
		if (!turn_live(s))
			continue;
		if (t > 0 && !s->op->src_idle && now - s->last >= t) {
			s->op->src_idle = true;
			CM_DEBUG("source", "source '%s' is idle (nothing for %lld ms)",
				 s->op->node->name, (long long)(now - s->last));
		}
		all &= s->op->src_idle;
	}
	if (all && !g->idle) {
		g->idle = true;
		return g->wm_fn(g->wm_arg, TM_SRC_IDLE, 0);
	}
	return 0;
}

/* When the loop should next look, from now: the earliest of a paced
 * source's next record (due), the flush, an idle timeout, at most 100 ms
 * away and at least 1. */
int64_t tm_sources_wait_ms(const tm_sources *g, int64_t now, int64_t due)
{
	const tm_chain *c = g->c;
	int64_t at = due < now + 100 ? due : now + 100;
	if (c->buffer_timeout_ms > 0 && c->next_flush_ms < at)
		at = c->next_flush_ms;
	if (g->wms && g->wm_iv > 0 && g->wm_next < at)
		at = g->wm_next;
	for (size_t k = 0; k < g->n; k++) {
		int64_t t = g->s[k].op->node->wm_idle_ms;
		if (t > 0 && !g->s[k].op->src_idle && turn_live(&g->s[k]) && g->s[k].last + t < at)
			at = g->s[k].last + t;
	}
	return at > now ? at - now : 1;
}

void tm_sources_free(tm_sources *g)
{
	if (!g)
		return;
	for (size_t k = 0; k < g->n; k++)
		if (g->s[k].text) {
			text_close_split(g->s[k].text);
			free(g->s[k].text->r.buf);
			free(g->s[k].text);
		}
	free(g->s);
	free(g);
}

int tm_sources_new(tm_chain *c, tm_sources_wm_fn fn, void *arg, tm_sources **out)
{
	*out = NULL;
	tm_sources *g = calloc(1, sizeof(*g));
	if (!g || !(g->s = calloc(c->nops, sizeof(*g->s)))) {
		free(g);
		return tm_chain_fail(c, FL_ENOMEM, "%s: out of memory", c->name);
	}
	g->c = c;
	g->start = cm_now_ms();
	g->wm_fn = fn;
	g->wm_arg = arg;
	for (size_t i = 0; i < c->nops; i++) {
		tm_op *op = &c->ops[i];
		const td_op *n = op->node;
		if (!sg_kind_is_source(n->kind))
			continue;
		gen_turn *s = &g->s[g->n++];
		s->op = op;
		s->last = g->start;
		s->wms = n->event_time && n->wm_kind > FL_WATERMARK_NONE;
		if (s->wms && n->wm_interval_ms > 0 && (g->wm_iv == 0 || n->wm_interval_ms < g->wm_iv))
			g->wm_iv = n->wm_interval_ms;
		g->wms |= s->wms;
		int rc = 0;
		if (n->kind == SG_SOURCE_GENERATOR) {
			s->rate = n->gen_rate > 0 ? n->gen_rate / c->td->parallelism : 0;
			g->unbounded |= n->gen_count < 0;
		} else if (n->kind == SG_SOURCE_TEXT_FILE) {
			if (!(s->text = calloc(1, sizeof(*s->text))) ||
			    !(s->text->r.buf = malloc(READ_BUF)))
				rc = tm_chain_fail(c, FL_ENOMEM, "%s: out of memory", c->name);
			else
				s->text->r = (reader){
				    .chain = c, .fd = -1, .buf = s->text->r.buf, .cap = READ_BUF};
			if (rc == 0 && !op->text->restored)
				rc = start_sizes(c, n, op->text->base);
		} else {
			rc = tm_chain_fail(c, FL_EINVAL,
					   "source '%s': only generators and text file sources "
					   "share a task with another source or an input",
					   n->name);
		}
		if (rc) {
			tm_sources_free(g);
			return rc;
		}
	}
	g->wm_next = g->start + g->wm_iv;
	*out = g;
	return 0;
}

bool tm_sources_live(const tm_sources *g)
{
	for (size_t k = 0; k < g->n; k++)
		if (turn_live(&g->s[k]))
			return true;
	return false;
}

bool tm_sources_unbounded(const tm_sources *g)
{
	return g->unbounded;
}

int tm_sources_round(tm_sources *g, bool *ran, int64_t *due)
{
	tm_chain *c = g->c;
	int rc = 0;
	*ran = false;
	for (size_t k = 0; k < g->n && rc == 0 && !c->src_hold; k++) {
		if (!turn_live(&g->s[k]))
			continue;
		rc = g->s[k].text ? text_step(c, g, &g->s[k]) : gen_step(c, g, &g->s[k], due);
		*ran |= g->s[k].ran;
	}
	return rc;
}

int tm_sources_tick(tm_sources *g, int64_t now)
{
	int rc = gen_set_idleness(g, now);
	if (rc == 0 && g->wms && g->wm_iv > 0 && now >= g->wm_next) {
		g->wm_next = now + g->wm_iv;
		int64_t w = gen_set_watermark(g);
		if (w != TM_WM_IDLE && w != TM_TS_NONE)
			rc = g->wm_fn(g->wm_arg, TM_SRC_WATERMARK, w);
	}
	return rc;
}

/* The watermark hook of a task of sources only: their watermark is the
 * chain's. */
static int chain_wm(void *arg, enum tm_src_wm what, int64_t w)
{
	tm_chain *c = arg;
	if (what == TM_SRC_WATERMARK)
		return emit_watermark(c, w);
	return tm_chain_wm_status(c, what == TM_SRC_IDLE);
}

int tm_run_sources(tm_chain *c)
{
	tm_sources *g;
	int rc = tm_sources_new(c, chain_wm, c, &g);
	if (rc)
		return rc;
	while (rc == 0 && tm_sources_live(g)) {
		bool ran = false;
		int64_t due = INT64_MAX;
		if ((rc = tm_sources_round(g, &ran, &due)) != 0)
			break;
		int64_t now = cm_now_ms();
		if ((rc = tm_chain_maybe_flush(c, c->buffer_timeout_ms == 0)) != 0 ||
		    (rc = tm_sources_tick(g, now)) != 0)
			break;
		if (!ran) {
			/* Every source paced and not due, or idle: wait,
			 * taking checkpoints and seeing cancellation. */
			sleep_ms(tm_sources_wait_ms(g, now, due));
			if (atomic_load_explicit(&c->cancelled, memory_order_relaxed))
				rc = FL_ECANCELED;
			else
				rc = tm_chain_check(c);
		}
	}
	bool wms = g->wms, unbounded = g->unbounded;
	tm_sources_free(g);
	if (rc)
		return rc;
	/* Every source ended: the final watermark. */
	c->ts = TM_TS_NONE;
	rc = wms ? emit_watermark(c, TM_WM_END) : 0;
	/* An unbounded generator without splits waits for its cancellation
	 * (tm_run_generator). */
	while (rc == 0 && unbounded) {
		if ((rc = tm_chain_check(c)) == 0)
			sleep_ms(10);
	}
	return rc;
}

/* ------------------------------------------------------- socket source */

/* Flink's SocketTextStreamFunction: the pause before a reconnect. */
#define SOCKET_RETRY_DELAY_MS 500
/* How long one connect may take before it counts as a failed attempt. */
#define SOCKET_CONNECT_TIMEOUT_MS 10000
#define SOCKET_ADDR_MAX 300

/*
 * Splits "host:port" or "[v6 address]:port" into host and port. Returns 0
 * or FL_EINVAL (the address was checked when the job was built; a
 * descriptor from elsewhere may still be malformed).
 */
static int split_address(const char *addr, char *host, size_t cap, char *port, size_t pcap)
{
	const char *colon = strrchr(addr, ':');
	if (!colon || colon == addr || !colon[1] || strlen(colon + 1) >= pcap)
		return FL_EINVAL;
	const char *h = addr;
	size_t hlen = (size_t)(colon - addr);
	if (h[0] == '[') {
		if (hlen < 3 || h[hlen - 1] != ']')
			return FL_EINVAL;
		h++;
		hlen -= 2;
	}
	if (hlen >= cap)
		return FL_EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	snprintf(port, pcap, "%s", colon + 1);
	return 0;
}

/*
 * Waits for a non-blocking connect on fd to finish, looking at the cancel
 * flag and attending to the chain every STREAM_POLL_MS. Returns 0, the
 * connect's errno as a positive number, ETIMEDOUT, or a negative flinc
 * error (FL_ECANCELED, a flush's or a checkpoint's).
 */
static int wait_connected(tm_chain *c, int fd)
{
	int64_t until = cm_now_ms() + SOCKET_CONNECT_TIMEOUT_MS;
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		int n = poll(&pfd, 1, STREAM_POLL_MS);
		if (atomic_load_explicit(&c->cancelled, memory_order_relaxed))
			return FL_ECANCELED;
		if (n > 0) {
			int e = 0;
			socklen_t len = sizeof(e);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
				return errno;
			return e;
		}
		if (n < 0 && errno != EINTR)
			return errno;
		if (cm_now_ms() >= until)
			return ETIMEDOUT;
		int rc = tm_chain_check(c);
		if (rc == 0)
			rc = tm_chain_maybe_flush(c, false);
		if (rc)
			return rc;
	}
}

/* Connects to host:port, trying each address getaddrinfo gives. Returns
 * the fd (blocking reads), or -1 with why (for the log and the failure),
 * or -1 with *rc a flinc error (cancelled, a checkpoint's). */
static int socket_connect(tm_chain *c, const char *host, const char *port, char *why,
			  size_t cap, int *rc)
{
	*rc = 0;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	int g = getaddrinfo(host, port, &hints, &ai);
	if (g != 0) {
		snprintf(why, cap, "cannot resolve '%s': %s", host,
			 g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
		return -1;
	}
	int fd = -1, e = ECONNREFUSED;
	for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    a->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		e = connect(fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
		if (e == EINPROGRESS)
			e = wait_connected(c, fd);
		int fl = e == 0 ? fcntl(fd, F_GETFL) : -1;
		if (e == 0 && (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0))
			e = errno;
		if (e != 0) {
			close(fd);
			fd = -1;
			if (e < 0) { /* cancelled, or a checkpoint's error */
				*rc = e;
				break;
			}
		}
	}
	freeaddrinfo(ai);
	if (fd < 0 && *rc == 0)
		snprintf(why, cap, "cannot connect to %s:%s: %s", host, port, strerror(e));
	return fd;
}

/*
 * Reads lines from the connected socket r->fd until it closes. Each line
 * (without its '\n' and a '\r' before it) is a record of one string field;
 * a checkpoint is attended to between two lines and records nothing (what
 * was read is gone: at most once, as Flink's socket source). Returns 0 at
 * the end of the connection or an error recorded in the chain.
 */
static int read_socket(tm_chain *c, reader *r, const char *addr)
{
	tm_op *head = &c->ops[0];
	const td_op *n = head->node;
	const bool evt = n->event_time, wms = evt && n->wm_kind > FL_WATERMARK_NONE;
	int rc = 0;
	for (;;) {
		char *nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
		if (!nl && !r->eof) {
			if ((rc = fill(r)) != 0) {
				if (rc == FL_ECANCELED)
					return rc;
				if (rc == FL_ERANGE)
					return tm_chain_fail(c, rc,
							     "source '%s': a line over 16 MiB from %s",
							     n->name, addr);
				/* A reset connection ends it as EOF does. */
				if (r->sys_errno == ECONNRESET || r->sys_errno == EPIPE ||
				    r->sys_errno == ETIMEDOUT)
					return 0;
				return tm_chain_fail(c, rc, "source '%s': cannot read from %s: %s",
						     n->name, addr,
						     r->sys_errno ? strerror(r->sys_errno)
								  : fl_strerror(rc));
			}
			continue;
		}
		/* The end: a last line without '\n' is a line, as Flink's. */
		if (!nl && r->pos == r->len)
			return 0;
		size_t llen = nl ? (size_t)(nl - (r->buf + r->pos)) : r->len - r->pos;
		char *line = r->buf + r->pos;
		r->pos += llen + (nl ? 1 : 0);
		if ((rc = emit_line(c, head, line, llen, &head->sock_max_ts)) != 0)
			return rc;
		/* A socket is slow next to a file: every line looks at the
		 * chain's flags, the flush timeout and the watermark interval. */
		if ((rc = tm_chain_check(c)) != 0 || (rc = tm_chain_maybe_flush(c, false)) != 0)
			return rc;
		if (atomic_load_explicit(&c->cancelled, memory_order_relaxed))
			return FL_ECANCELED;
		if (wms &&
		    (rc = maybe_watermark(c, head, tm_split_watermark(n, head->sock_max_ts))) != 0)
			return rc;
		if (!nl)
			return 0;
	}
}

/* Sleeps ms, waking for cancellation and the chain's flags. */
static int pause_cancellable(tm_chain *c, int64_t ms)
{
	int64_t until = cm_now_ms() + ms;
	for (int64_t now = cm_now_ms(); now < until; now = cm_now_ms()) {
		if (atomic_load_explicit(&c->cancelled, memory_order_relaxed))
			return FL_ECANCELED;
		int rc = tm_chain_check(c);
		if (rc == 0)
			rc = tm_chain_maybe_flush(c, false);
		if (rc)
			return rc;
		sleep_ms(until - now < STREAM_POLL_MS ? until - now : STREAM_POLL_MS);
	}
	return 0;
}

/*
 * Flink's socketTextStream: connects to the address (paths[0], "host:port")
 * and reads lines until the connection ends; then, while attempts remain
 * (gen_count: the retries, -1 for ever), waits 500 ms and connects again.
 * A connect that fails counts as an attempt too; when the attempts run out
 * the source fails if the last one could not connect, else ends (its end
 * of input, as Flink's). Its parallelism is 1 (the job graph's check).
 */
int tm_run_socket_source(tm_chain *c)
{
	tm_op *head = &c->ops[0];
	const td_op *n = head->node;
	const char *addr = n->npaths ? n->paths[0] : "";
	char host[SOCKET_ADDR_MAX], port[16];
	if (split_address(addr, host, sizeof(host), port, sizeof(port)) != 0)
		return tm_chain_fail(c, FL_EINVAL,
				     "source '%s': '%.*s' is not an address of the form host:port",
				     n->name, (int)strnlen(addr, SOCKET_ADDR_MAX), addr);
	reader r = {.chain = c, .fd = -1, .cap = READ_BUF, .limit = -1, .poll = true};
	if (!(r.buf = malloc(r.cap)))
		return tm_chain_fail(c, FL_ENOMEM, "out of memory");
	head->sock_max_ts = TM_TS_NONE;
	head->wm_next_ms = cm_now_ms() + n->wm_interval_ms;
	int64_t retries = n->gen_count, attempt = 0;
	int rc = 0;
	char why[SOCKET_ADDR_MAX + 200] = "";
	for (;;) {
		CM_INFO("source", "source '%s': connecting to %s", n->name, addr);
		r.fd = socket_connect(c, host, port, why, sizeof(why), &rc);
		if (rc)
			break;
		if (r.fd >= 0) {
			why[0] = '\0';
			CM_INFO("source", "source '%s': connected to %s", n->name, addr);
			r.len = r.pos = 0;
			r.eof = false;
			r.sys_errno = 0;
			r.file_pos = 0;
			rc = read_socket(c, &r, addr);
			close(r.fd);
			r.fd = -1;
			if (rc)
				break;
		}
		attempt++;
		if (retries >= 0 && attempt > retries) {
			if (why[0])
				rc = tm_chain_fail(c, FL_EIO, "source '%s': %s", n->name, why);
			else
				CM_INFO("source", "source '%s': the connection to %s ended; no retries left",
					n->name, addr);
			break;
		}
		if (retries < 0)
			CM_WARN("source", "source '%s': %s; retry %lld in %d ms", n->name,
				why[0] ? why : "the connection ended", (long long)attempt,
				SOCKET_RETRY_DELAY_MS);
		else
			CM_WARN("source", "source '%s': %s; retry %lld of %lld in %d ms", n->name,
				why[0] ? why : "the connection ended", (long long)attempt,
				(long long)retries, SOCKET_RETRY_DELAY_MS);
		if ((rc = pause_cancellable(c, SOCKET_RETRY_DELAY_MS)) != 0)
			break;
	}
	free(r.buf);
	c->ts = TM_TS_NONE;
	if (rc == 0 && n->event_time && n->wm_kind > FL_WATERMARK_NONE)
		rc = emit_watermark(c, TM_WM_END);
	return rc;
}

const tm_op_class tm_socket_source_class = {
    .process = tm_source_process,
};
