/*
 * The text file source's checkpointed position (taskmanager/sources.c):
 * a chain of the source and a map that collects the lines, run on this
 * thread with a snapshot after every line; restores from those snapshots,
 * at the same and at other parallelisms (through cp_restore_fill, as a
 * restored job's descriptors are filled), must read exactly the lines not
 * read before; malformed or mismatched state is refused naming the source
 * and what is wrong; a stream declines.
 */
#include <endian.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cmocka.h>

#include "checkpoint/metadata.h"
#include "checkpoint/restore.h"
#include "common/buf.h"
#include "taskmanager/operator.h"

#define UID "lines-uid"

/* ------------------------------------------------ the lines a job reads */

typedef struct lines {
	char **v;
	size_t n, cap;
} lines;

static lines taken; /* what tst_take saw, in order */

static void lines_add(lines *l, const char *s, size_t len)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		assert_non_null(l->v);
	}
	char *c = malloc(len + 1);
	assert_non_null(c);
	memcpy(c, s, len);
	c[len] = '\0';
	l->v[l->n++] = c;
}

static void lines_clear(lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int tst_take(fl_ctx *ctx, const fl_row *in, fl_row *out);

int tst_take(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	(void)ctx;
	size_t len;
	const char *s = fl_row_string(in, 0, &len);
	lines_add(&taken, s, len);
	*out = *in;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* --------------------------------------------------------------- input */

static char dir[256];
static char path_a[300], path_b[300];
static char *paths[2];
static int64_t sizes[2];
static lines all_a, all_b; /* each file's lines as the source emits them */

/* The lines of file content p[0..len) as the source emits them: split at
 * '\n', one '\r' before it dropped, a last line without '\n' kept. */
static void expected_lines(const char *p, size_t len, lines *out)
{
	size_t s = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && p[i] != '\n')
			continue;
		if (i == len && s == len)
			break;
		size_t e = i;
		if (e > s && p[e - 1] == '\r')
			e--;
		lines_add(out, p + s, e - s);
		s = i + 1;
	}
}

/* Writes a file of about kib KiB of distinct lines of varied lengths: a
 * line longer than the reader's 64 KiB buffer across each MiB boundary (a
 * split's end, as the inputs are cut into 1 MiB splits), CRLF lines, empty
 * lines, and no newline at the end. */
static int64_t write_input(const char *path, size_t kib, const char *tag, lines *all)
{
	size_t cap = kib * 1024 + 300000, len = 0;
	char *p = malloc(cap);
	assert_non_null(p);
	int i = 0;
	while (len < kib * 1024) {
		size_t near_mib = len % 1048576;
		if (near_mib > 1048576 - 2000 && i % 3 == 0) {
			len += (size_t)snprintf(p + len, cap - len, "%s long %d ", tag, i);
			memset(p + len, 'x', 150000);
			len += 150000;
			p[len++] = '\n';
		} else if (i % 101 == 0) {
			len += (size_t)snprintf(p + len, cap - len, "%s crlf %d\r\n", tag, i);
		} else if (i % 997 == 0) {
			p[len++] = '\n'; /* an empty line */
		} else {
			len += (size_t)snprintf(p + len, cap - len, "%s line %d %.*s\n", tag, i,
						(i * 7919) % 90,
						"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwx"
						"yzabcdefghijklmnopqrstuvwxyzabcdefghijklmnop");
		}
		i++;
	}
	len += (size_t)snprintf(p + len, cap - len, "%s last line %d", tag, i);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	expected_lines(p, len, all);
	free(p);
	return (int64_t)len;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s/flinc-textsrc-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(path_a, sizeof(path_a), "%s/a.txt", dir);
	snprintf(path_b, sizeof(path_b), "%s/b.txt", dir);
	paths[0] = path_a;
	paths[1] = path_b;
	/* 3.7 MiB: 1 MiB splits at parallelism 1 and 2 (3 of a, 2 of b). */
	sizes[0] = write_input(path_a, 2560, "a", &all_a);
	sizes[1] = write_input(path_b, 1200, "b", &all_b);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path_a);
	unlink(path_b);
	rmdir(dir);
	lines_clear(&all_a);
	lines_clear(&all_b);
	lines_clear(&taken);
	return 0;
}

/* ------------------------------------------------------------ the chain */

typedef struct job {
	td_task td;
	td_op ops[2];
	int chained[1];
	tm_chain c;
	size_t opened;
	/* snapshots[k]: the source's list state after its (k+1)-th line */
	cm_wbuf *snaps;
	size_t nsnaps, cap;
	int snap_rc; /* a declined snapshot's code, and why */
	char why[CM_ERR_MSG_MAX];
} job;

static void job_init(job *j, char **p, int64_t *sz, size_t npaths, int subtask, int par)
{
	memset(j, 0, sizeof(*j));
	j->chained[0] = 1;
	j->ops[0] = (td_op){.node = 0,
			    .kind = SG_SOURCE_TEXT_FILE,
			    .name = (char *)"lines",
			    .uid = (char *)UID,
			    .paths = p,
			    .sizes = sz,
			    .npaths = npaths,
			    .chained = j->chained,
			    .nchained = 1};
	j->ops[1] = (td_op){.node = 1,
			    .kind = SG_MAP,
			    .name = (char *)"take",
			    .uid = (char *)"take-uid",
			    .fn_symbol = (char *)"tst_take"};
	j->td = (td_task){.job_name = (char *)"text source test",
			  .library = (char *)"",
			  .buffer_timeout_ms = 100,
			  .nnodes = 2,
			  .vertex_name = (char *)"Source",
			  .subtask = subtask,
			  .parallelism = par,
			  .max_parallelism = 128,
			  .ops = j->ops,
			  .nops = 2};
}

/* Takes the source's snapshot into s (initialised here); returns its code. */
static int snapshot(job *j, cm_wbuf *w, char *why, size_t cap)
{
	cm_wbuf_init(w, CP_OP_STATE_MAX);
	tm_snapshot s = {.id = 1, .elems = w, .kg_first = -1, .kg_last = -1};
	tm_op *src = &j->c.ops[0];
	int rc = src->cls->snapshot(src, &s);
	if (why)
		snprintf(why, cap, "%s", s.why);
	return rc;
}

/* After every line: a snapshot, kept, and the flag raised again. */
static int snapshot_each_line(void *arg)
{
	job *j = arg;
	if (j->nsnaps == j->cap) {
		j->cap = j->cap ? j->cap * 2 : 1024;
		j->snaps = realloc(j->snaps, j->cap * sizeof(*j->snaps));
		assert_non_null(j->snaps);
	}
	int rc = snapshot(j, &j->snaps[j->nsnaps], j->why, sizeof(j->why));
	if (rc) {
		cm_wbuf_fini(&j->snaps[j->nsnaps]);
		j->snap_rc = rc;
	} else {
		j->nsnaps++;
	}
	atomic_fetch_or(&j->c.attention, TM_ATTN_CHECKPOINT);
	return 0;
}

/* Builds, opens and restores the chain; 0 or the chain's error. */
static int job_open(job *j, bool every_line)
{
	cm_err err = {0};
	int rc = tm_chain_init(&j->c, &j->td, "Source (test)", &err);
	if (rc)
		fail_msg("tm_chain_init: %s", err.msg);
	if (every_line) {
		j->c.on_checkpoint = snapshot_each_line;
		j->c.on_checkpoint_arg = j;
		atomic_fetch_or(&j->c.attention, TM_ATTN_CHECKPOINT);
	}
	rc = tm_chain_open(&j->c, &j->opened);
	if (rc == 0)
		rc = tm_chain_restore(&j->c);
	return rc;
}

static void job_fini(job *j)
{
	tm_chain_close(&j->c, j->opened, true);
	tm_chain_fini(&j->c);
	for (size_t i = 0; i < j->nsnaps; i++)
		cm_wbuf_fini(&j->snaps[i]);
	free(j->snaps);
	td_restore_fini(&j->ops[0].restore);
	td_restore_fini(&j->ops[1].restore);
}

/* Runs subtask/par over both inputs to the end: its lines in taken. */
static void run_fresh(job *j, int subtask, int par, bool every_line)
{
	lines_clear(&taken);
	job_init(j, paths, sizes, 2, subtask, par);
	assert_int_equal(job_open(j, every_line), 0);
	int rc = tm_run_text_source(&j->c);
	if (rc)
		fail_msg("run: %s", j->c.err.msg);
}

/* A checkpoint with one state per list, lists[i] of old subtask i of par. */
static void metadata_of(cp_metadata *m, cp_op_state *st, const cm_wbuf *const *lists, int par)
{
	memset(m, 0, sizeof(*m));
	m->id = 7;
	for (int i = 0; i < par; i++)
		st[i] = (cp_op_state){.uid = (char *)UID,
				      .subtask = i,
				      .parallelism = par,
				      .max_parallelism = 128,
				      .kg_first = -1,
				      .kg_last = -1,
				      .data = (uint8_t *)cm_wbuf_data(lists[i]),
				      .len = cm_wbuf_len(lists[i])};
	m->states = st;
	m->nstates = (size_t)par;
}

/* Restores subtask/par from m and runs it: its lines appended to out. */
static int run_restored(const cp_metadata *m, int subtask, int par, lines *out, char *msg,
			size_t cap)
{
	job j;
	lines_clear(&taken);
	job_init(&j, paths, sizes, 2, subtask, par);
	assert_int_equal(cp_restore_fill(m, dir, &j.td), 0);
	int rc = job_open(&j, false);
	if (rc == 0)
		rc = tm_run_text_source(&j.c);
	if (msg)
		snprintf(msg, cap, "%s", j.c.err.msg);
	for (size_t i = 0; rc == 0 && i < taken.n; i++)
		lines_add(out, taken.v[i], strlen(taken.v[i]));
	job_fini(&j);
	return rc;
}

/* ------------------------------------------------- the element encoding */

typedef struct elem {
	uint32_t file;
	int64_t size, start, end, next;
	char path[400];
} elem;

static int64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return (int64_t)le64toh(v);
}

/* The splits of a list state, decoded as sources.c documents them. */
static size_t decode(const cm_wbuf *w, elem *out, size_t cap)
{
	cm_rbuf r;
	cm_rbuf_init(&r, cm_wbuf_data(w), cm_wbuf_len(w));
	const uint8_t *e;
	size_t len, n = 0;
	while (cp_list_next(&r, &e, &len) == 1) {
		assert_true(n < cap);
		assert_true(len > 36 && len - 36 < sizeof(out[n].path));
		uint32_t f;
		memcpy(&f, e, 4);
		out[n] = (elem){.file = le32toh(f),
				.size = rd64(e + 4),
				.start = rd64(e + 12),
				.end = rd64(e + 20),
				.next = rd64(e + 28)};
		memcpy(out[n].path, e + 36, len - 36);
		out[n].path[len - 36] = '\0';
		n++;
	}
	assert_int_equal(cm_rbuf_error(&r), 0);
	return n;
}

static void encode(cm_wbuf *w, const elem *e)
{
	cm_wbuf b;
	cm_wbuf_init(&b, 4096);
	cm_wbuf_u32le(&b, e->file);
	cm_wbuf_u64le(&b, (uint64_t)e->size);
	cm_wbuf_u64le(&b, (uint64_t)e->start);
	cm_wbuf_u64le(&b, (uint64_t)e->end);
	cm_wbuf_u64le(&b, (uint64_t)e->next);
	cm_wbuf_raw(&b, e->path, strlen(e->path));
	cm_wbuf_bytes(w, cm_wbuf_data(&b), cm_wbuf_len(&b));
	cm_wbuf_fini(&b);
}

/* The byte at offset off of path. */
static int byte_at(const char *path, int64_t off)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fseek(f, (long)off, SEEK_SET), 0);
	int c = fgetc(f);
	fclose(f);
	return c;
}

/* ---------------------------------------------------------------- tests */

static void test_a_fresh_subtask_reads_every_line_of_its_splits_in_order(void **state)
{
	(void)state;
	job j;
	run_fresh(&j, 0, 1, false);
	assert_int_equal(taken.n, all_a.n + all_b.n);
	for (size_t i = 0; i < all_a.n; i++)
		assert_string_equal(taken.v[i], all_a.v[i]);
	for (size_t i = 0; i < all_b.n; i++)
		assert_string_equal(taken.v[all_a.n + i], all_b.v[i]);
	job_fini(&j);
}

/*
 * After every line, the snapshot holds the splits still to read: the one
 * being read at the start of the next line (never inside one, whatever
 * the reader buffered), the others untouched; a split read to its end is
 * gone. Restoring any of them reads exactly the lines after it.
 */
static void test_a_snapshot_after_any_line_resumes_at_the_next_line(void **state)
{
	(void)state;
	job j;
	run_fresh(&j, 0, 1, true);
	size_t total = taken.n;
	assert_int_equal(total, all_a.n + all_b.n);
	assert_int_equal(j.nsnaps, total);
	assert_int_equal(j.snap_rc, 0);
	lines seen = {0};
	for (size_t i = 0; i < total; i++)
		lines_add(&seen, taken.v[i], strlen(taken.v[i]));
	elem e[8];
	assert_int_equal(decode(&j.snaps[0], e, 8), 5);
	assert_string_equal(e[0].path, path_a);
	assert_int_equal(e[0].size, sizes[0]);
	assert_int_equal(e[0].start, 0);
	assert_int_equal(e[0].next, (int64_t)strlen("a crlf 0\r\n"));
	assert_int_equal(e[1].start, 1048576);
	assert_int_equal(e[2].end, sizes[0]);
	assert_int_equal(e[3].file, 1);
	assert_string_equal(e[3].path, path_b);
	assert_int_equal(e[3].start, 0);
	assert_int_equal(e[3].next, 0);
	assert_int_equal(e[4].end, sizes[1]);
	for (size_t k = 0; k < j.nsnaps; k++) {
		size_t n = decode(&j.snaps[k], e, 8);
		for (size_t i = 0; i < n; i++) {
			assert_true(e[i].start <= e[i].next && e[i].next < e[i].end);
			assert_true(e[i].end <= e[i].size);
			if (i > 0)
				assert_int_equal(e[i].next, e[i].start);
		}
		/* The split being read: at a line's start. */
		if (n > 0 && e[0].next > e[0].start)
			assert_int_equal(byte_at(e[0].path, e[0].next - 1), '\n');
	}
	assert_int_equal(decode(&j.snaps[j.nsnaps - 1], e, 8), 0);
	/* Restores from a spread of them, and from the last lines before each
	 * split's end (where a long line crosses it). */
	for (size_t k = 0; k < j.nsnaps; k++) {
		size_t n = decode(&j.snaps[k], e, 8);
		bool near_end = n > 1 && e[0].file == e[1].file && e[1].start - e[0].next < 2000;
		if (k % 1500 != 0 && k != j.nsnaps - 2 && !(near_end && k % 3 == 0))
			continue;
		cp_metadata m;
		cp_op_state st[1];
		const cm_wbuf *l[1] = {&j.snaps[k]};
		metadata_of(&m, st, l, 1);
		lines rest = {0};
		char msg[CM_ERR_MSG_MAX];
		assert_int_equal(run_restored(&m, 0, 1, &rest, msg, sizeof(msg)), 0);
		if (rest.n != total - (k + 1))
			fail_msg("restored after line %zu: %zu lines, %zu expected", k + 1, rest.n,
				 total - (k + 1));
		for (size_t i = 0; i < rest.n; i++)
			assert_string_equal(rest.v[i], seen.v[k + 1 + i]);
		lines_clear(&rest);
	}
	lines_clear(&seen);
	job_fini(&j);
}

/* Every line of both inputs, sorted. */
static void all_sorted(lines *out)
{
	for (size_t i = 0; i < all_a.n; i++)
		lines_add(out, all_a.v[i], strlen(all_a.v[i]));
	for (size_t i = 0; i < all_b.n; i++)
		lines_add(out, all_b.v[i], strlen(all_b.v[i]));
	qsort(out->v, out->n, sizeof(*out->v), cmp_str);
}

static void assert_same_lines(lines *got, lines *want)
{
	qsort(got->v, got->n, sizeof(*got->v), cmp_str);
	assert_int_equal(got->n, want->n);
	for (size_t i = 0; i < want->n; i++)
		assert_string_equal(got->v[i], want->v[i]);
}

/*
 * A checkpoint of 2 subtasks, each somewhere in its splits, restored at 1,
 * 2 and 3: the lines read before plus those read after are every line
 * once (the splits left are redistributed as list state).
 */
static void test_restored_at_other_parallelisms_every_line_is_read_once(void **state)
{
	(void)state;
	lines want = {0};
	all_sorted(&want);
	job j0, j1;
	run_fresh(&j0, 0, 2, true);
	lines before0 = taken;
	memset(&taken, 0, sizeof(taken));
	run_fresh(&j1, 1, 2, true);
	lines before1 = taken;
	memset(&taken, 0, sizeof(taken));
	assert_int_equal(before0.n + before1.n, want.n);
	/* Points in each subtask's reading: the first line, the middle, the
	 * line before its last. */
	size_t at0[] = {0, j0.nsnaps / 3, j0.nsnaps / 2, j0.nsnaps - 2};
	size_t at1[] = {j1.nsnaps / 2, 0, j1.nsnaps - 2, j1.nsnaps / 4};
	for (size_t t = 0; t < sizeof(at0) / sizeof(at0[0]); t++) {
		cp_metadata m;
		cp_op_state st[2];
		const cm_wbuf *l[2] = {&j0.snaps[at0[t]], &j1.snaps[at1[t]]};
		metadata_of(&m, st, l, 2);
		for (int par = 1; par <= 3; par++) {
			lines got = {0};
			for (size_t i = 0; i <= at0[t]; i++)
				lines_add(&got, before0.v[i], strlen(before0.v[i]));
			for (size_t i = 0; i <= at1[t]; i++)
				lines_add(&got, before1.v[i], strlen(before1.v[i]));
			for (int s = 0; s < par; s++) {
				char msg[CM_ERR_MSG_MAX];
				int rc = run_restored(&m, s, par, &got, msg, sizeof(msg));
				if (rc)
					fail_msg("restore %d/%d: %s", s, par, msg);
			}
			assert_same_lines(&got, &want);
			lines_clear(&got);
		}
	}
	lines_clear(&before0);
	lines_clear(&before1);
	lines_clear(&want);
	job_fini(&j0);
	job_fini(&j1);
}

/* Restores a list of one element e; the chain's error message in msg. */
static int restore_one(const elem *e, char *msg, size_t cap)
{
	cm_wbuf w;
	cm_wbuf_init(&w, 1 << 20);
	encode(&w, e);
	cp_metadata m;
	cp_op_state st[1];
	const cm_wbuf *l[1] = {&w};
	metadata_of(&m, st, l, 1);
	lines got = {0};
	int rc = run_restored(&m, 0, 1, &got, msg, cap);
	lines_clear(&got);
	cm_wbuf_fini(&w);
	return rc;
}

static void expect_refused(const elem *e, int code, const char *what)
{
	char msg[CM_ERR_MSG_MAX];
	int rc = restore_one(e, msg, sizeof(msg));
	if (rc != code || !strstr(msg, "source 'lines'") || !strstr(msg, what))
		fail_msg("expected %d naming '%s', got %d: %s", code, what, rc, msg);
}

static void test_restore_refuses_malformed_or_foreign_splits_naming_what_is_wrong(void **state)
{
	(void)state;
	elem good = {
	    .file = 0, .size = sizes[0], .start = 1048576, .end = 2097152, .next = 1048576};
	snprintf(good.path, sizeof(good.path), "%s", path_a);
	char msg[CM_ERR_MSG_MAX];
	assert_int_equal(restore_one(&good, msg, sizeof(msg)), 0);

	elem e = good;
	e.file = 2;
	expect_refused(&e, FL_EPROTO, "input #2 in its state, but the source reads 2 input(s)");
	e = good;
	e.file = 1;
	expect_refused(&e, FL_EINVAL, "a restored source must read the same files");
	e = good;
	snprintf(e.path, sizeof(e.path), "%s/other.txt", dir);
	expect_refused(&e, FL_EINVAL, "other.txt' in checkpoint 7 but");
	e = good;
	e.size = -1;
	expect_refused(&e, FL_EPROTO, "has size -1: streams are never recorded");
	e = good;
	e.start = 2097152;
	expect_refused(&e, FL_EPROTO, "split 2097152..2097152");
	e = good;
	e.end = sizes[0] + 1;
	expect_refused(&e, FL_EPROTO, "is not within the file's");
	e = good;
	e.start = -5;
	expect_refused(&e, FL_EPROTO, "split -5..2097152");
	e = good;
	e.next = 2097152;
	expect_refused(&e, FL_EPROTO, "position 2097152 in split 1048576..2097152");
	e = good;
	e.next = 7;
	expect_refused(&e, FL_EPROTO, "position 7 in split");
	e = good;
	e.size = sizes[0] - 1;
	e.end = 2097152;
	expect_refused(&e, FL_EIO, "when this job was built: a file must not change");

	/* Too short for a split. */
	cm_wbuf w;
	cm_wbuf_init(&w, 1024);
	cm_wbuf_bytes(&w, "\1\2\3", 3);
	cp_metadata m;
	cp_op_state st[1];
	const cm_wbuf *l[1] = {&w};
	metadata_of(&m, st, l, 1);
	lines got = {0};
	assert_int_equal(run_restored(&m, 0, 1, &got, msg, sizeof(msg)), FL_EPROTO);
	assert_non_null(strstr(msg, "source 'lines': a split of 3 bytes in its state"));
	cm_wbuf_fini(&w);
	assert_int_equal(got.n, 0);
	/* Not a list at all (an element's length past the end): the share a
	 * descriptor carries is not trusted either. */
	job j;
	job_init(&j, paths, sizes, 2, 0, 1);
	j.td.restore_id = 7;
	j.ops[0].restore.restored = true;
	j.ops[0].restore.list = malloc(1);
	assert_non_null(j.ops[0].restore.list);
	j.ops[0].restore.list[0] = 0x7f;
	j.ops[0].restore.list_len = 1;
	assert_int_equal(job_open(&j, false), FL_EPROTO);
	assert_non_null(strstr(j.c.err.msg, "source 'lines': malformed state"));
	job_fini(&j);
}

/* The files must be the checkpoint's: one that changed size, or is gone,
 * fails the restore naming it. */
static void test_restore_fails_naming_a_file_that_changed_or_is_gone(void **state)
{
	(void)state;
	char copy[320];
	snprintf(copy, sizeof(copy), "%s/copy.txt", dir);
	char cmd[800];
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", path_b, copy);
	assert_int_equal(system(cmd), 0);
	char *p[1] = {copy};
	int64_t sz[1] = {sizes[1]};
	elem e = {.file = 0, .size = sizes[1], .start = 0, .end = sizes[1], .next = 0};
	snprintf(e.path, sizeof(e.path), "%s", copy);
	cm_wbuf w;
	cm_wbuf_init(&w, 1 << 20);
	encode(&w, &e);
	cp_metadata m;
	cp_op_state st[1];
	const cm_wbuf *l[1] = {&w};
	metadata_of(&m, st, l, 1);

	FILE *f = fopen(copy, "a");
	assert_non_null(f);
	fputs("appended\n", f);
	fclose(f);
	job j;
	job_init(&j, p, sz, 1, 0, 1);
	assert_int_equal(cp_restore_fill(&m, dir, &j.td), 0);
	assert_int_equal(job_open(&j, false), FL_EIO);
	char want[600];
	snprintf(want, sizeof(want), "file '%s' had %lld bytes at checkpoint 7, now %lld", copy,
		 (long long)sizes[1], (long long)sizes[1] + 9);
	if (!strstr(j.c.err.msg, want))
		fail_msg("%s", j.c.err.msg);
	job_fini(&j);

	unlink(copy);
	job_init(&j, p, sz, 1, 0, 1);
	assert_int_equal(cp_restore_fill(&m, dir, &j.td), 0);
	assert_int_equal(job_open(&j, false), FL_ENOENT);
	snprintf(want, sizeof(want), "source 'lines': cannot resume its split of '%s'", copy);
	if (!strstr(j.c.err.msg, want))
		fail_msg("%s", j.c.err.msg);
	job_fini(&j);
	cm_wbuf_fini(&w);
}

/* An input read as a stream cannot be read again from a position: a
 * snapshot declines naming it, while it is still to be read. */
static void test_a_stream_still_to_read_declines_naming_it(void **state)
{
	(void)state;
	int64_t sz[2] = {sizes[0], -1};
	job j;
	lines_clear(&taken);
	job_init(&j, paths, sz, 2, 0, 1);
	assert_int_equal(job_open(&j, true), 0);
	cm_wbuf w;
	char why[CM_ERR_MSG_MAX];
	assert_int_equal(snapshot(&j, &w, why, sizeof(why)), FL_EINVAL);
	cm_wbuf_fini(&w);
	char want[600];
	snprintf(
	    want, sizeof(want),
	    "source 'lines': input '%s' is a stream (a FIFO, a device, a /proc file): it "
	    "cannot be read again from a position, so checkpoints are declined until it is read",
	    path_b);
	if (!strstr(why, want))
		fail_msg("%s", why);
	/* Read to the end (a as splits, b as one stream): every snapshot
	 * declined, every line read. */
	assert_int_equal(tm_run_text_source(&j.c), 0);
	assert_int_equal(j.nsnaps, 0);
	assert_int_equal(j.snap_rc, FL_EINVAL);
	assert_int_equal(taken.n, all_a.n + all_b.n);
	job_fini(&j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_fresh_subtask_reads_every_line_of_its_splits_in_order),
	    cmocka_unit_test(test_a_snapshot_after_any_line_resumes_at_the_next_line),
	    cmocka_unit_test(test_restored_at_other_parallelisms_every_line_is_read_once),
	    cmocka_unit_test(test_restore_refuses_malformed_or_foreign_splits_naming_what_is_wrong),
	    cmocka_unit_test(test_restore_fails_naming_a_file_that_changed_or_is_gone),
	    cmocka_unit_test(test_a_stream_still_to_read_declines_naming_it),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
