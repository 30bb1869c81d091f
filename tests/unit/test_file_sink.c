/*
 * The text file sink's exactly-once protocol (Flink's FileSink), driven
 * through its operator hooks one call at a time as a task would call them:
 * the file being written becomes pending at a snapshot, pending files are
 * committed when their checkpoint (or a later one) completes, an aborted
 * checkpoint's files wait for the next, a cancelled subtask removes only
 * the file it was writing, the end of input links what is still pending
 * for the JobMaster's commit; a restore commits what its state names (also
 * a second time), removes what the old subtasks left and nothing else,
 * at the same or another parallelism; a state that cannot be the sink's is
 * refused naming the operator. Also the part files' names, parsed and
 * formatted, and the JobMaster's side (graph/outputs.h): what counts as
 * output in the way of a run, the FINISHED commit of a sink that rolled,
 * and its undo. Two attempts of one subtask (a zombie of the old one still
 * running beside the new) never touch each other's files, and a JobMaster
 * publishes and aborts only its own attempt's.
 */
#include <dirent.h>
#include <endian.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <flinc/flinc.h>

#include "api/env.h"
#include "common/buf.h"
#include "graph/jobgraph.h"
#include "graph/outputs.h"
#include "taskmanager/operator.h"

#define JOB1 "0123456789abcdef0123456789abcdef"
#define RUN1 "0123456789abcdef"
#define JOB2 "fedcba9876543210fedcba9876543210"
#define RUN2 "fedcba9876543210"
#define ATT1 0x1111111111111111ull
#define ATT2 0x2222222222222222ull

static char g_dir[256];

static int make_dir(void **state)
{
	(void)state;
	snprintf(g_dir, sizeof(g_dir), "%s/flinc-sink-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	(void)state;
	DIR *d = opendir(g_dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char p[600];
		snprintf(p, sizeof(p), "%s/%s", g_dir, e->d_name);
		if (e->d_name[0] != '.' || (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")))
			unlink(p);
	}
	if (d)
		closedir(d);
	return rmdir(g_dir);
}

/* One subtask of a text file sink, as a task holds it. */
typedef struct sink {
	td_task td;
	td_op node;
	tm_chain chain;
	tm_op op;
	bool opened;
} sink;

/* Opens subtask `subtask` of `p` of job `job`, attempt `att`; with list
 * (the restored share of list state), restores it from checkpoint
 * restore_id. Returns the open or restore hook's result. */
static int sink_start(sink *k, const char *job, uint64_t att, int subtask, int p,
		      const uint8_t *list, size_t list_len, uint64_t restore_id, cm_err *err)
{
	memset(k, 0, sizeof(*k));
	snprintf(k->td.job_id, sizeof(k->td.job_id), "%s", job);
	k->td.attempt = att;
	k->td.subtask = subtask;
	k->td.parallelism = p;
	k->td.max_parallelism = 128;
	k->td.restore_id = restore_id;
	k->node.name = "Sink: Text File";
	k->node.uid = "sink";
	k->node.kind = SG_SINK_TEXT_FILE;
	k->node.dir = g_dir;
	k->node.restore.restored = restore_id != 0;
	k->node.restore.list = (uint8_t *)list;
	k->node.restore.list_len = list_len;
	k->chain.td = &k->td;
	k->op.chain = &k->chain;
	k->op.node = &k->node;
	k->op.cls = &tm_file_sink_class;
	k->op.process = tm_file_sink_class.process;
	int rc = k->op.cls->open(&k->op, err);
	k->opened = true;
	if (rc == 0 && restore_id)
		rc = k->op.cls->restore(&k->op, &k->node.restore, err);
	return rc;
}

static void sink_open(sink *k, const char *job, uint64_t att, int subtask, int p)
{
	cm_err err = {0};
	if (sink_start(k, job, att, subtask, p, NULL, 0, 0, &err) != 0)
		fail_msg("open: %s", err.msg);
}

/* Writes the rows (v, subtask) for v in [from, to). */
static void sink_write(sink *k, int64_t from, int64_t to)
{
	for (int64_t v = from; v < to; v++) {
		fl_row r;
		fl_row_clear(&r);
		fl_row_add_int64(&r, v);
		fl_row_add_int64(&r, k->td.subtask);
		assert_int_equal(tm_op_process(&k->op, &r), 0);
	}
}

/* Snapshots checkpoint id; its list state (this subtask's share) is
 * appended to *list when given. Returns the hook's result. */
static int sink_snapshot(sink *k, uint64_t id, cm_wbuf *list)
{
	cm_wbuf w;
	cm_wbuf_init(&w, 1u << 20);
	tm_snapshot s = {.id = id, .dir = g_dir, .elems = &w, .kg_first = -1, .kg_last = -1};
	int rc = k->op.cls->snapshot(&k->op, &s);
	if (rc == 0) {
		assert_int_equal(s.nelems, 1);
		if (list)
			cm_wbuf_raw(list, cm_wbuf_data(&w), cm_wbuf_len(&w));
	}
	cm_wbuf_fini(&w);
	return rc;
}

static void sink_notify(sink *k, uint64_t id, bool completed)
{
	assert_int_equal(k->op.cls->notify(&k->op, id, completed), 0);
}

/* Closes (ok: the end of input, else a failure or a cancel) and frees. */
static int sink_close(sink *k, bool ok)
{
	int rc = 0;
	if (ok)
		rc = k->op.cls->flush(&k->op);
	int crc = k->op.cls->close(&k->op, ok && rc == 0);
	k->op.cls->fini(&k->op);
	k->opened = false;
	return rc ? rc : crc;
}

/* A subtask that dies: nothing of it runs again (kill -9). */
static void sink_kill(sink *k)
{
	if (k->op.file)
		fflush(k->op.file);
	k->op.cls->fini(&k->op);
	k->opened = false;
}

/* The directory's names, sorted, space-separated. */
static void names(char *buf, size_t cap)
{
	struct dirent **list;
	int n = scandir(g_dir, &list, NULL, alphasort);
	assert_true(n >= 0);
	buf[0] = '\0';
	size_t len = 0;
	for (int i = 0; i < n; i++) {
		if (strcmp(list[i]->d_name, ".") && strcmp(list[i]->d_name, ".."))
			len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? " " : "",
						list[i]->d_name);
		free(list[i]);
	}
	free(list);
	assert_true(len < cap);
}

static void expect_names(const char *want)
{
	char got[4096];
	names(got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("the directory holds\n  %s\nnot\n  %s", got, want);
}

/* The lines "v<TAB>s" of file name, joined as "v,v,..." (v only). */
static void contents(const char *name, char *buf, size_t cap)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);
	long long v, s;
	size_t len = 0;
	buf[0] = '\0';
	while (fscanf(f, "%lld\t%lld\n", &v, &s) == 2)
		len += (size_t)snprintf(buf + len, cap - len, "%s%lld", len ? "," : "", v);
	assert_true(feof(f));
	fclose(f);
}

static void expect_contents(const char *name, const char *want)
{
	char got[4096];
	contents(name, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("%s holds %s, not %s", name, got, want);
}

static void touch(const char *name)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("1\t1\n", f);
	fclose(f);
}

/* ------------------------------------------------------------- names */

static void test_part_file_names_round_trip_and_nothing_else_parses(void **state)
{
	(void)state;
	const outputs_name all[] = {
	    {.kind = OUTPUTS_WHOLE, .run = RUN1, .subtask = 3, .attempt = ATT1},
	    {.kind = OUTPUTS_PUBLISHED, .run = RUN1, .subtask = 0},
	    {.kind = OUTPUTS_ROLLING, .run = RUN1, .subtask = 12, .counter = 7, .attempt = ATT1},
	    {.kind = OUTPUTS_COMMITTED, .run = RUN1, .subtask = 1, .counter = 0},
	    {.kind = OUTPUTS_AT_END,
	     .run = RUN1,
	     .subtask = 2,
	     .counter = 18446744073709551615ull,
	     .attempt = ATT2},
	    {.kind = OUTPUTS_WHOLE, .run = RUN2, .subtask = 0, .attempt = 0xabull},
	    {.kind = OUTPUTS_AT_END,
	     .run = RUN2,
	     .subtask = 2147483647,
	     .counter = 0,
	     .attempt = 0xfedcba9876543210ull},
	};
	const char *want[] = {
	    "/d/.part-0123456789abcdef-3.inprogress.1111111111111111",
	    "/d/part-0123456789abcdef-0",
	    "/d/.part-0123456789abcdef-12-7.inprogress.1111111111111111",
	    "/d/part-0123456789abcdef-1-0",
	    "/d/.part-0123456789abcdef-2-18446744073709551615.inprogress.2222222222222222.end",
	    "/d/.part-fedcba9876543210-0.inprogress.00000000000000ab",
	    "/d/.part-fedcba9876543210-2147483647-0.inprogress.fedcba9876543210.end",
	};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		char buf[200];
		assert_int_equal(outputs_name_path(buf, sizeof(buf), "/d", &all[i]), 0);
		assert_string_equal(buf, want[i]);
		outputs_name back;
		assert_int_equal(outputs_name_parse(buf + 3, &back), all[i].kind);
		assert_string_equal(back.run, all[i].run);
		assert_int_equal(back.subtask, all[i].subtask);
		assert_true(back.counter == all[i].counter && back.attempt == all[i].attempt);
	}
	char small[20];
	assert_int_equal(outputs_name_path(small, sizeof(small), "/d", &all[2]), FL_ERANGE);
	const char *not_parts[] = {
	    "_SUCCESS",
	    "part-0123456789abcde-0",				    /* a short run */
	    "part-0123456789abcdeg-0",				    /* not hex */
	    "part-0123456789abcdef-01",				    /* a leading zero */
	    "part-0123456789abcdef--1",				    /* a sign */
	    "part-0123456789abcdef-0-",				    /* no counter */
	    "part-0123456789abcdef-0-1-2",			    /* too many */
	    "part-0123456789abcdef-99999999999",		    /* subtask past INT_MAX */
	    "part-0123456789abcdef-0-18446744073709551616",	    /* counter past 2^64 - 1 */
	    ".part-0123456789abcdef-0",				    /* hidden, not in progress */
	    ".part-0123456789abcdef-0.inprogress",   /* before the attempt was in names */
	    ".part-0123456789abcdef-0-1.inprogress", /* the same, a link at the end */
	    ".part-0123456789abcdef-0-1.inprogress.",
	    ".part-0123456789abcdef-0-1.inprogress.111", /* a short attempt */
	    ".part-0123456789abcdef-0-1.inprogress.111111111111111.end",
	    ".part-0123456789abcdef-0.inprogress.11111111111111111", /* a long one */
	    ".part-0123456789abcdef-0-1.inprogress.11111111111111111.end",
	    ".part-0123456789abcdef-0-1.inprogress.111111111111111A", /* upper case */
	    ".part-0123456789abcdef-0-1.inprogress.111111111111111g",
	    ".part-0123456789abcdef-0-1.inprogress.-111111111111111",
	    ".part-0123456789abcdef-0-1.inprogress.1111111111111111.x",
	    ".part-0123456789abcdef-0.inprogress.1111111111111111.end", /* no counter */
	    ".part-0123456789abcdef-0-1.inprogress.1111111111111111.en",
	    ".part-0123456789abcdef-0-1.inprogress.1111111111111111.end.",
	    ".part-0123456789abcdef-0-1.inprogress.1111111111111111.endx",
	    ".part-0123456789abcdef-0-1.inprogress.1111111111111111.END",
	    ".part-0123456789abcdef-0-1.inprogress.1111111111111111end",
	    ".part-0123456789abcdef-0-1.inprogress..end",
	    ".part-0123456789abcdef-0-1.inprogress.1111111111111111.1111111111111111",
	    ".part-0123456789abcdef-0-1.inprogres.1111111111111111",
	    "part-0123456789abcdef-0.inprogress",
	    "part-0123456789abcdef-0.inprogress.1111111111111111",
	    "part-0123456789abcdef-0-1.inprogress.1111111111111111.end",
	    "..part-0123456789abcdef-0.inprogress.1111111111111111",
	    "notes.txt",
	};
	for (size_t i = 0; i < sizeof(not_parts) / sizeof(not_parts[0]); i++) {
		outputs_name n;
		if (outputs_name_parse(not_parts[i], &n) != OUTPUTS_NONE)
			fail_msg("'%s' parsed as a part file", not_parts[i]);
	}
	assert_true(outputs_run_id_valid(RUN1));
	assert_false(outputs_run_id_valid("0123456789abcde"));
	assert_false(outputs_run_id_valid("0123456789abcdex"));
}

/* -------------------------------------------------------- the protocol */

/* Never checkpointed: one hidden file per subtask, as before two-phase
 * commit, for the JobMaster to publish when the job FINISHED. */
static void test_without_checkpoints_each_subtask_writes_one_hidden_file(void **state)
{
	(void)state;
	sink k;
	sink_open(&k, JOB1, ATT1, 0, 1);
	sink_write(&k, 0, 3);
	assert_int_equal(sink_close(&k, true), 0);
	expect_names(".part-" RUN1 "-0.inprogress.1111111111111111");
	expect_contents(".part-" RUN1 "-0.inprogress.1111111111111111", "0,1,2");
}

/* The file written before a checkpoint is pending for it, hidden; the
 * next record starts the next file; completion commits the pending file
 * under its final name, with exactly the records before the barrier. */
static void test_a_completed_checkpoint_commits_exactly_the_records_before_it(void **state)
{
	(void)state;
	sink k;
	sink_open(&k, JOB1, ATT1, 0, 1);
	sink_write(&k, 0, 3);
	assert_int_equal(sink_snapshot(&k, 1, NULL), 0);
	expect_names(".part-" RUN1 "-0-0.inprogress.1111111111111111");
	sink_write(&k, 3, 5);
	assert_int_equal(k.op.cls->flush(&k.op), 0);
	sink_notify(&k, 1, true);
	expect_names(".part-" RUN1 "-0-1.inprogress.1111111111111111 part-" RUN1 "-0-0");
	expect_contents("part-" RUN1 "-0-0", "0,1,2");
	/* Nothing written since: nothing new is pending. */
	assert_int_equal(sink_close(&k, false), 0);
	expect_names("part-" RUN1 "-0-0");
}

/* An aborted checkpoint's file stays pending; the next completed
 * checkpoint covers it, and both are committed, in order. */
static void test_an_aborted_checkpoints_files_are_committed_by_the_next(void **state)
{
	(void)state;
	sink k;
	sink_open(&k, JOB1, ATT1, 0, 1);
	sink_write(&k, 0, 2);
	assert_int_equal(sink_snapshot(&k, 1, NULL), 0);
	sink_notify(&k, 1, false);
	sink_write(&k, 2, 4);
	assert_int_equal(sink_snapshot(&k, 2, NULL), 0);
	/* A checkpoint with nothing new adds nothing pending. */
	assert_int_equal(sink_snapshot(&k, 3, NULL), 0);
	expect_names(".part-" RUN1 "-0-0.inprogress.1111111111111111 "
		     ".part-" RUN1 "-0-1.inprogress.1111111111111111");
	sink_notify(&k, 2, true);
	expect_names("part-" RUN1 "-0-0 part-" RUN1 "-0-1");
	expect_contents("part-" RUN1 "-0-0", "0,1");
	expect_contents("part-" RUN1 "-0-1", "2,3");
	/* A completion older than what was committed does nothing. */
	sink_notify(&k, 1, true);
	assert_int_equal(sink_close(&k, true), 0);
	expect_names(".part-" RUN1 "-0.inprogress.1111111111111111 part-" RUN1 "-0-0 part-" RUN1
		     "-0-1");
	expect_contents(".part-" RUN1 "-0.inprogress.1111111111111111", "");
}

/* A cancelled or failed subtask removes the file it was writing; pending
 * files stay (their checkpoint may have completed); committed ones too. */
static void test_a_cancel_removes_only_the_file_being_written(void **state)
{
	(void)state;
	sink k;
	sink_open(&k, JOB1, ATT1, 0, 1);
	sink_write(&k, 0, 2);
	assert_int_equal(sink_snapshot(&k, 1, NULL), 0);
	sink_notify(&k, 1, true);
	sink_write(&k, 2, 4);
	assert_int_equal(sink_snapshot(&k, 2, NULL), 0);
	sink_write(&k, 4, 6);
	assert_int_equal(k.op.cls->flush(&k.op), 0);
	expect_names(".part-" RUN1 "-0-1.inprogress.1111111111111111 "
		     ".part-" RUN1 "-0-2.inprogress.1111111111111111 part-" RUN1 "-0-0");
	assert_int_equal(sink_close(&k, false), 0);
	expect_names(".part-" RUN1 "-0-1.inprogress.1111111111111111 part-" RUN1 "-0-0");
}

/* A task of attempt 1 lives on after its JobMaster gave the attempt up (a
 * TaskManager cut off from it), while attempt 2 of the same subtask starts
 * and writes: attempt 2 creates its own file whatever attempt 1's is, and
 * attempt 1's cancel, when it comes, removes only its own; attempt 2 then
 * rolls, commits and ends as if attempt 1 had never been there. */
static void test_an_old_attempts_cancel_leaves_the_new_attempts_file(void **state)
{
	(void)state;
	sink old, cur;
	sink_open(&old, JOB1, ATT1, 0, 1);
	sink_write(&old, 0, 2);
	assert_int_equal(old.op.cls->flush(&old.op), 0);
	sink_open(&cur, JOB1, ATT2, 0, 1);
	sink_write(&cur, 10, 12);
	assert_int_equal(cur.op.cls->flush(&cur.op), 0);
	/* Attempt 1 writes on into its file (attempt 2's start removed its
	 * name), then hears it is cancelled. */
	sink_write(&old, 2, 4);
	assert_int_equal(sink_close(&old, false), 0);
	expect_names(".part-" RUN1 "-0.inprogress.2222222222222222");
	assert_int_equal(sink_snapshot(&cur, 5, NULL), 0);
	sink_notify(&cur, 5, true);
	sink_write(&cur, 12, 13);
	assert_int_equal(sink_close(&cur, true), 0);
	expect_names(".part-" RUN1 "-0.inprogress.2222222222222222 part-" RUN1 "-0-0");
	expect_contents("part-" RUN1 "-0-0", "10,11");
	expect_contents(".part-" RUN1 "-0.inprogress.2222222222222222", "12");
}

/* At the end of input: what came after the last checkpoint is the file
 * the JobMaster publishes, and each file still pending gets a link under
 * the name it publishes too; the pending file itself stays for a restore. */
static void test_the_end_of_input_links_what_is_still_pending(void **state)
{
	(void)state;
	sink k;
	sink_open(&k, JOB1, ATT1, 0, 1);
	sink_write(&k, 0, 2);
	assert_int_equal(sink_snapshot(&k, 1, NULL), 0);
	sink_write(&k, 2, 3);
	assert_int_equal(sink_close(&k, true), 0);
	expect_names(".part-" RUN1 "-0-0.inprogress.1111111111111111 "
		     ".part-" RUN1 "-0-0.inprogress.1111111111111111.end "
		     ".part-" RUN1 "-0.inprogress.1111111111111111");
	expect_contents(".part-" RUN1 "-0-0.inprogress.1111111111111111.end", "0,1");
	expect_contents(".part-" RUN1 "-0.inprogress.1111111111111111", "2");
	struct stat a, b;
	char p1[600], p2[600];
	snprintf(p1, sizeof(p1), "%s/.part-" RUN1 "-0-0.inprogress.1111111111111111.end", g_dir);
	snprintf(p2, sizeof(p2), "%s/.part-" RUN1 "-0-0.inprogress.1111111111111111", g_dir);
	assert_int_equal(stat(p1, &a), 0);
	assert_int_equal(stat(p2, &b), 0);
	assert_true(a.st_ino == b.st_ino);
}

/* A checkpoint before any record: nothing is pending, and the first file
 * goes on as the one published at the end. */
static void test_a_checkpoint_before_any_record_leaves_the_first_file(void **state)
{
	(void)state;
	sink k;
	sink_open(&k, JOB1, ATT1, 0, 1);
	assert_int_equal(sink_snapshot(&k, 1, NULL), 0);
	sink_notify(&k, 1, true);
	expect_names(".part-" RUN1 "-0.inprogress.1111111111111111");
	sink_write(&k, 0, 2);
	assert_int_equal(sink_close(&k, true), 0);
	expect_names(".part-" RUN1 "-0.inprogress.1111111111111111");
	expect_contents(".part-" RUN1 "-0.inprogress.1111111111111111", "0,1");
}

/* A file that cannot roll (here: removed behind the sink's back) declines
 * the checkpoint naming the file, and fails the task: its next record
 * returns the error. */
static void test_a_file_that_cannot_roll_declines_and_fails_the_task(void **state)
{
	(void)state;
	sink k;
	sink_open(&k, JOB1, ATT1, 0, 1);
	sink_write(&k, 0, 2);
	char path[600];
	snprintf(path, sizeof(path), "%s/.part-" RUN1 "-0.inprogress.1111111111111111", g_dir);
	assert_int_equal(unlink(path), 0);
	cm_wbuf w;
	cm_wbuf_init(&w, 1u << 20);
	tm_snapshot s = {.id = 1, .dir = g_dir, .elems = &w};
	assert_int_not_equal(k.op.cls->snapshot(&k.op, &s), 0);
	cm_wbuf_fini(&w);
	assert_non_null(strstr(s.why, ".part-" RUN1 "-0.inprogress.1111111111111111"));
	assert_non_null(strstr(k.chain.err.msg, ".part-" RUN1 "-0.inprogress.1111111111111111"));
	fl_row r;
	fl_row_clear(&r);
	fl_row_add_int64(&r, 9);
	assert_int_not_equal(tm_op_process(&k.op, &r), 0);
	assert_int_not_equal(k.op.cls->notify(&k.op, 1, false), 0);
	assert_int_not_equal(sink_close(&k, true), 0);
}

/* ----------------------------------------------------------- restores */

/* A failover: attempt 1 took checkpoints 1 and 2 (2 completed, but the
 * notification never arrived) and 3 (never completed), then died while
 * writing. Attempt 2, restored from 2, commits 2's pending files (the one
 * 1 committed already stays as it is), removes 3's pending file and the
 * file being written, continues the numbering, and a second restore from
 * the same checkpoint changes nothing. */
static void test_a_failover_commits_the_restored_checkpoint_and_drops_the_rest(void **state)
{
	(void)state;
	sink k;
	cm_wbuf st2;
	cm_wbuf_init(&st2, 1u << 20);
	sink_open(&k, JOB1, ATT1, 0, 1);
	sink_write(&k, 0, 2);
	assert_int_equal(sink_snapshot(&k, 1, NULL), 0);
	sink_write(&k, 2, 4);
	assert_int_equal(sink_snapshot(&k, 2, &st2), 0);
	sink_notify(&k, 1, true);
	sink_write(&k, 4, 6);
	assert_int_equal(sink_snapshot(&k, 3, NULL), 0);
	sink_write(&k, 6, 8);
	assert_int_equal(k.op.cls->flush(&k.op), 0);
	sink_kill(&k);
	char path[600];
	/* The JobMaster's clean-up after the failed attempt. */
	snprintf(path, sizeof(path), "%s/.part-" RUN1 "-0.inprogress.1111111111111111", g_dir);
	unlink(path);
	expect_names(".part-" RUN1 "-0-1.inprogress.1111111111111111 "
		     ".part-" RUN1 "-0-2.inprogress.1111111111111111 "
		     ".part-" RUN1 "-0-3.inprogress.1111111111111111 part-" RUN1 "-0-0");

	/* The second round restores the same checkpoint again, in another
	 * attempt, over what the first left. */
	for (int round = 0; round < 2; round++) {
		uint64_t att = round ? 0x3333333333333333ull : ATT2;
		cm_err err = {0};
		if (sink_start(&k, JOB1, att, 0, 1, cm_wbuf_data(&st2), cm_wbuf_len(&st2), 2,
			       &err) != 0)
			fail_msg("restore: %s", err.msg);
		expect_names(round ? ".part-" RUN1 "-0.inprogress.3333333333333333 part-" RUN1
				     "-0-0 part-" RUN1 "-0-1"
				   : ".part-" RUN1 "-0.inprogress.2222222222222222 part-" RUN1
				     "-0-0 part-" RUN1 "-0-1");
		expect_contents("part-" RUN1 "-0-0", "0,1");
		expect_contents("part-" RUN1 "-0-1", "2,3");
		sink_write(&k, 4, 6);
		assert_int_equal(sink_snapshot(&k, 4, NULL), 0);
		expect_names(round ? ".part-" RUN1 "-0-2.inprogress.3333333333333333 part-" RUN1
				     "-0-0 part-" RUN1 "-0-1"
				   : ".part-" RUN1 "-0-2.inprogress.2222222222222222 part-" RUN1
				     "-0-0 part-" RUN1 "-0-1");
		assert_int_equal(sink_close(&k, false), 0);
	}
	cm_wbuf_fini(&st2);
}

/* Builds an element of the sink's state by hand: npending counted, the
 * first nwritten (counter, checkpoint) pairs of pending written. */
static void element_n(cm_wbuf *list, uint8_t version, const char *run, uint32_t subtask,
		      uint64_t next, uint32_t npending, const uint64_t *pending, uint32_t nwritten,
		      size_t extra)
{
	cm_wbuf e;
	cm_wbuf_init(&e, 1u << 20);
	cm_wbuf_u8(&e, version);
	cm_wbuf_raw(&e, run, 16);
	cm_wbuf_u32le(&e, subtask);
	cm_wbuf_u64le(&e, ATT1);
	cm_wbuf_u64le(&e, next);
	cm_wbuf_u32le(&e, npending);
	for (uint32_t i = 0; i < 2 * nwritten; i++)
		cm_wbuf_u64le(&e, pending[i]);
	for (size_t i = 0; i < extra; i++)
		cm_wbuf_u8(&e, 0);
	cm_wbuf_bytes(list, cm_wbuf_data(&e), cm_wbuf_len(&e));
	cm_wbuf_fini(&e);
}

static void element(cm_wbuf *list, uint8_t version, const char *run, uint32_t subtask,
		    uint64_t next, uint32_t npending, const uint64_t *pending, size_t extra)
{
	element_n(list, version, run, subtask, next, npending, pending, npending, extra);
}

/* Old run 1 at parallelism 2 left, for each subtask, a file pending for
 * checkpoint 5, one for checkpoint 6 (never completed), one being written
 * and its whole-run file; beside them another run's files, run 1's
 * subtask 7 (not in the state), a committed file and a file that is no
 * part file at all. Restored at parallelism 3 and then 1 (new runs, as a
 * savepoint restore is a new job), each old subtask is committed and
 * cleaned up by exactly the new subtask its element went to, and nothing
 * else is touched. */
static void prepare_old_run(void)
{
	const char *mk[] = {
	    ".part-" RUN1 "-0-4.inprogress.1111111111111111",
	    ".part-" RUN1 "-0-5.inprogress.1111111111111111",
	    ".part-" RUN1 "-0-6.inprogress.1111111111111111",
	    ".part-" RUN1 "-0.inprogress.1111111111111111",
	    ".part-" RUN1 "-1-2.inprogress.1111111111111111",
	    ".part-" RUN1 "-1-3.inprogress.1111111111111111",
	    ".part-" RUN1 "-1-4.inprogress.1111111111111111",
	    ".part-" RUN1 "-1-3.inprogress.1111111111111111.end",
	    ".part-" RUN1 "-7-0.inprogress.1111111111111111",
	    ".part-aaaaaaaaaaaaaaaa-0-0.inprogress.1111111111111111",
	    ".part-aaaaaaaaaaaaaaaa-1.inprogress.1111111111111111",
	    "part-" RUN1 "-0-3",
	    "notes.txt",
	};
	for (size_t i = 0; i < sizeof(mk) / sizeof(mk[0]); i++)
		touch(mk[i]);
}

#define UNTOUCHED                                                                                  \
	".part-" RUN1 "-7-0.inprogress.1111111111111111 "                                          \
	".part-aaaaaaaaaaaaaaaa-0-0.inprogress.1111111111111111 "                                  \
	".part-aaaaaaaaaaaaaaaa-1.inprogress.1111111111111111"

static void old_state(cm_wbuf *list)
{
	const uint64_t p0[] = {4, 5}, p1[] = {2, 5};
	element(list, 1, RUN1, 0, 7, 1, p0, 0);
	element(list, 1, RUN1, 1, 5, 1, p1, 0);
}

static void test_a_restore_at_another_parallelism_cleans_each_old_subtask_once(void **state)
{
	(void)state;
	prepare_old_run();
	cm_wbuf list;
	cm_wbuf_init(&list, 1u << 20);
	old_state(&list);
	/* Parallelism 3: elements split in order, one each to subtasks 0 and 1,
	 * none to 2 (restore.c). Subtask 0 takes old subtask 0's. */
	size_t len0 = 0;
	{
		cm_rbuf r;
		cm_rbuf_init(&r, cm_wbuf_data(&list), cm_wbuf_len(&list));
		len0 = cm_rbuf_uvarint(&r);
		len0 += cm_rbuf_offset(&r);
	}
	sink a, b, c;
	cm_err err = {0};
	if (sink_start(&a, JOB2, ATT2, 0, 3, cm_wbuf_data(&list), len0, 5, &err) != 0)
		fail_msg("restore 0: %s", err.msg);
	expect_names(".part-" RUN1 "-1-2.inprogress.1111111111111111 "
		     ".part-" RUN1 "-1-3.inprogress.1111111111111111 "
		     ".part-" RUN1 "-1-3.inprogress.1111111111111111.end "
		     ".part-" RUN1 "-1-4.inprogress.1111111111111111 " UNTOUCHED " .part-" RUN2
		     "-0.inprogress.2222222222222222 notes.txt part-" RUN1 "-0-3 part-" RUN1 "-0-4");
	if (sink_start(&b, JOB2, ATT2, 1, 3, cm_wbuf_data(&list) + len0, cm_wbuf_len(&list) - len0,
		       5, &err) != 0)
		fail_msg("restore 1: %s", err.msg);
	if (sink_start(&c, JOB2, ATT2, 2, 3, NULL, 0, 5, &err) != 0)
		fail_msg("restore 2: %s", err.msg);
	expect_names(UNTOUCHED " .part-" RUN2 "-0.inprogress.2222222222222222 .part-" RUN2
			       "-1.inprogress.2222222222222222 .part-" RUN2
			       "-2.inprogress.2222222222222222 notes.txt part-" RUN1
			       "-0-3 part-" RUN1 "-0-4 part-" RUN1 "-1-2");
	assert_int_equal(sink_close(&a, false), 0);
	assert_int_equal(sink_close(&b, false), 0);
	assert_int_equal(sink_close(&c, false), 0);
	expect_names(UNTOUCHED " notes.txt part-" RUN1 "-0-3 part-" RUN1 "-0-4 part-" RUN1 "-1-2");

	/* The same state restored at parallelism 1 (both elements to one
	 * subtask): already committed, nothing left to remove. */
	if (sink_start(&a, JOB2, ATT1, 0, 1, cm_wbuf_data(&list), cm_wbuf_len(&list), 5, &err) != 0)
		fail_msg("restore at 1: %s", err.msg);
	expect_names(UNTOUCHED " .part-" RUN2 "-0.inprogress.1111111111111111 notes.txt part-" RUN1
			       "-0-3 part-" RUN1 "-0-4 part-" RUN1 "-1-2");
	assert_int_equal(sink_close(&a, false), 0);
	cm_wbuf_fini(&list);
}

/* A start without a restore (an attempt before any checkpoint completed)
 * removes its own run's hidden files of other attempts (rolling and
 * in-progress files, links made at the end of input) for the subtask
 * indices it owns (i % parallelism), and none of this attempt's. */
static void test_a_fresh_attempt_removes_its_runs_other_attempts_hidden_files(void **state)
{
	(void)state;
	touch(".part-" RUN1 "-0-0.inprogress.1111111111111111");
	touch(".part-" RUN1 "-1-0.inprogress.1111111111111111");
	touch(".part-" RUN1 "-2-0.inprogress.1111111111111111");
	touch(".part-" RUN1 "-2-1.inprogress.2222222222222222");
	touch(".part-" RUN1 "-0.inprogress.1111111111111111");
	touch(".part-" RUN1 "-1.inprogress.1111111111111111");
	touch(".part-" RUN1 "-1.inprogress.2222222222222222");
	touch(".part-" RUN1 "-2-3.inprogress.1111111111111111.end");
	touch(".part-" RUN1 "-3-3.inprogress.1111111111111111.end");
	sink k;
	sink_open(&k, JOB1, ATT2, 0, 2);
	expect_names(".part-" RUN1 "-0.inprogress.2222222222222222 "
		     ".part-" RUN1 "-1-0.inprogress.1111111111111111 "
		     ".part-" RUN1 "-1.inprogress.1111111111111111 "
		     ".part-" RUN1 "-1.inprogress.2222222222222222 "
		     ".part-" RUN1 "-2-1.inprogress.2222222222222222 "
		     ".part-" RUN1 "-3-3.inprogress.1111111111111111.end");
	assert_int_equal(sink_close(&k, false), 0);
}

/* A pending file that is neither there nor committed fails the restore
 * naming it: its records would be lost. */
static void test_a_restore_missing_a_pending_file_fails_naming_it(void **state)
{
	(void)state;
	cm_wbuf list;
	cm_wbuf_init(&list, 1u << 20);
	const uint64_t p[] = {0, 1};
	element(&list, 1, RUN1, 0, 1, 1, p, 0);
	sink k;
	cm_err err = {0};
	assert_int_not_equal(
	    sink_start(&k, JOB2, ATT2, 0, 1, cm_wbuf_data(&list), cm_wbuf_len(&list), 1, &err), 0);
	sink_close(&k, false);
	assert_non_null(strstr(err.msg, ".part-" RUN1 "-0-0.inprogress.1111111111111111"));
	assert_non_null(strstr(err.msg, "pending for checkpoint 1"));
	cm_wbuf_fini(&list);
}

/* A state that cannot be the sink's is refused before anything is
 * renamed or removed, naming the operator. */
static void test_a_state_that_is_not_the_sinks_is_refused(void **state)
{
	(void)state;
	touch(".part-" RUN1 "-0-0.inprogress.1111111111111111");
	const uint64_t ok[] = {0, 3}, late[] = {0, 4}, beyond[] = {1, 3};
	struct {
		const char *what;
		uint8_t version;
		const char *run;
		uint32_t subtask;
		uint64_t next;
		uint32_t npending;
		const uint64_t *pending;
		uint32_t nwritten;
		size_t extra;
	} bad[] = {
	    {"another version", 2, RUN1, 0, 1, 1, ok, 1, 0},
	    {"a run that is not hex", 1, "0123456789abcdeX", 0, 1, 1, ok, 1, 0},
	    {"a subtask past the cap", 1, RUN1, 40000, 1, 1, ok, 1, 0},
	    {"bytes past the pending files", 1, RUN1, 0, 1, 1, ok, 1, 3},
	    {"fewer pending files than counted", 1, RUN1, 0, 1, 2, ok, 1, 0},
	    {"a checkpoint after the restored one", 1, RUN1, 0, 1, 1, late, 1, 0},
	    {"a file numbered past the next", 1, RUN1, 0, 1, 1, beyond, 1, 0},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cm_wbuf list;
		cm_wbuf_init(&list, 1u << 20);
		element_n(&list, bad[i].version, bad[i].run, bad[i].subtask, bad[i].next,
			  bad[i].npending, bad[i].pending, bad[i].nwritten, bad[i].extra);
		sink k;
		cm_err err = {0};
		int rc = sink_start(&k, JOB2, ATT2, 0, 1, cm_wbuf_data(&list), cm_wbuf_len(&list),
				    3, &err);
		sink_close(&k, false);
		cm_wbuf_fini(&list);
		if (rc != FL_EPROTO || !strstr(err.msg, "text file sink 'Sink: Text File'"))
			fail_msg("%s: %d '%s'", bad[i].what, rc, err.msg);
	}
	uint8_t garbage[] = {0x05, 1, 2};
	sink k;
	cm_err err = {0};
	assert_int_equal(sink_start(&k, JOB2, ATT2, 0, 1, garbage, sizeof(garbage), 3, &err),
			 FL_EPROTO);
	sink_close(&k, false);
	expect_names(".part-" RUN1 "-0-0.inprogress.1111111111111111");
}

/* ------------------------------------------------ the JobMaster's side */

int fs_gen(fl_ctx *ctx, int64_t off, fl_row *out);

int fs_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	(void)ctx;
	return fl_row_add_int64(out, off);
}

/* A generator into a text sink on g_dir at parallelism p, as fl_execute
 * would plan it (restored: started from a savepoint). */
static jg_graph *subtasks(fl_env **env, int p, bool restored)
{
	*env = fl_env_new(0, NULL);
	assert_non_null(*env);
	fl_write_text(fl_generator(*env, 10, 0, fs_gen), g_dir);
	(*env)->graph->parallelism = p;
	(*env)->graph->restored = restored;
	jg_graph *jg = NULL;
	cm_err err = {0};
	if (jg_build((*env)->graph, "test", &jg, &err) != 0)
		fail_msg("%s", err.msg);
	return jg;
}

static void link_as(const char *from, const char *to)
{
	char a[600], b[600];
	snprintf(a, sizeof(a), "%s/%s", g_dir, from);
	snprintf(b, sizeof(b), "%s/%s", g_dir, to);
	assert_int_equal(link(a, b), 0);
}

/* Writes the lines "v<TAB>0" for each v of the comma-separated values. */
static void put(const char *name, const char *values)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (const char *v = values; *v;) {
		size_t n = strcspn(v, ",");
		fprintf(f, "%.*s\t0\n", (int)n, v);
		v += n + (v[n] == ',');
	}
	assert_int_equal(fclose(f), 0);
}

/* Part files this run committed at checkpoints (an earlier attempt) are
 * not in its way; another run's are (NO_OVERWRITE), unless the job is
 * restored from a savepoint, which continues them, their _SUCCESS too (a
 * job stopped with a savepoint FINISHED and wrote one; the job restored
 * from that savepoint goes on with its output). */
static void test_what_counts_as_output_in_the_way_of_a_run(void **state)
{
	(void)state;
	fl_env *env;
	jg_graph *jg = subtasks(&env, 2, false);
	cm_err err = {0};
	touch("part-" RUN1 "-0-0");
	touch(".part-" RUN1 "-1-0.inprogress.1111111111111111");
	touch(".part-" RUN2 "-1.inprogress.2222222222222222");
	/* Hidden files of another attempt of the run, and names of flinc
	 * before the attempt was in them: leftovers, not output. */
	touch(".part-" RUN1 "-0.inprogress.2222222222222222");
	touch(".part-" RUN1 "-0-4.inprogress.2222222222222222.end");
	touch(".part-" RUN2 "-0.inprogress");
	touch(".part-" RUN2 "-0-1.inprogress");
	if (outputs_prepare(jg, RUN1, false, &err) != 0)
		fail_msg("its own committed files and hidden leftovers: %s", err.msg);
	outputs_abort(jg, RUN1, ATT1);
	assert_int_equal(outputs_prepare(jg, RUN2, false, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "NO_OVERWRITE"));
	jg_free(jg);
	fl_env_free(env);

	jg = subtasks(&env, 2, true);
	if (outputs_prepare(jg, RUN2, false, &err) != 0)
		fail_msg("restored: %s", err.msg);
	outputs_abort(jg, RUN2, ATT2);
	touch("_SUCCESS");
	if (outputs_prepare(jg, RUN2, false, &err) != 0)
		fail_msg("restored, beside a _SUCCESS: %s", err.msg);
	outputs_abort(jg, RUN2, ATT2);
	jg_free(jg);
	fl_env_free(env);
	/* Not restored: that output is complete, and in the way. */
	jg = subtasks(&env, 2, false);
	cm_err_clear(&err);
	assert_int_equal(outputs_prepare(jg, RUN2, false, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "NO_OVERWRITE"));
	jg_free(jg);
	fl_env_free(env);
}

/* A job of two sink subtasks prepared for RUN1, and what attempt 1's
 * sinks left at their end: both in-progress files, and file 0-1 pending
 * with its link. */
static jg_graph *at_end_of_attempt_1(fl_env **env)
{
	jg_graph *jg = subtasks(env, 2, false);
	cm_err err = {0};
	assert_int_equal(outputs_prepare(jg, RUN1, false, &err), 0);
	touch(".part-" RUN1 "-0.inprogress.1111111111111111");
	touch(".part-" RUN1 "-1.inprogress.1111111111111111");
	touch(".part-" RUN1 "-0-1.inprogress.1111111111111111");
	link_as(".part-" RUN1 "-0-1.inprogress.1111111111111111",
		".part-" RUN1 "-0-1.inprogress.1111111111111111.end");
	return jg;
}

/* When the job FINISHED: each subtask's last file and the links of files
 * still pending at its end are published, the files committed at
 * checkpoints stay as they are, and the run's two-phase files left (the
 * pending files behind the links, a failed attempt's leftover) go;
 * another run's hidden files are not touched. */
static void test_the_finished_commit_publishes_what_the_sinks_left_at_their_end(void **state)
{
	(void)state;
	fl_env *env;
	jg_graph *jg = at_end_of_attempt_1(&env);
	cm_err err = {0};
	touch("part-" RUN1 "-0-0");
	touch(".part-" RUN1 "-1-5.inprogress.2222222222222222");
	touch(".part-aaaaaaaaaaaaaaaa-0-0.inprogress.1111111111111111");
	if (outputs_commit(jg, RUN1, ATT1, false, &err) != 0)
		fail_msg("commit: %s", err.msg);
	expect_names(".part-aaaaaaaaaaaaaaaa-0-0.inprogress.1111111111111111 _SUCCESS part-" RUN1
		     "-0 part-" RUN1 "-0-0 part-" RUN1 "-0-1 part-" RUN1 "-1");
	jg_free(jg);
	fl_env_free(env);
}

/* A commit that fails part-way (a link's final name is taken by a
 * directory) renames back what it renamed, and nothing else: the files
 * committed at checkpoints stay; outputs_abort then removes the run's
 * in-progress files and links, and leaves its pending files for a
 * restore. */
static void test_a_failed_commit_undoes_only_its_own_renames(void **state)
{
	(void)state;
	fl_env *env;
	jg_graph *jg = at_end_of_attempt_1(&env);
	cm_err err = {0};
	touch("part-" RUN1 "-0-0");
	char taken[600];
	snprintf(taken, sizeof(taken), "%s/part-" RUN1 "-0-1", g_dir);
	assert_int_equal(mkdir(taken, 0777), 0);
	assert_int_not_equal(outputs_commit(jg, RUN1, ATT1, false, &err), 0);
	assert_non_null(strstr(err.msg, ".part-" RUN1 "-0-1.inprogress.1111111111111111.end"));
	expect_names(".part-" RUN1 "-0-1.inprogress.1111111111111111 "
		     ".part-" RUN1 "-0-1.inprogress.1111111111111111.end "
		     ".part-" RUN1 "-0.inprogress.1111111111111111 "
		     ".part-" RUN1 "-1.inprogress.1111111111111111 part-" RUN1 "-0-0 part-" RUN1
		     "-0-1");
	outputs_abort(jg, RUN1, ATT1);
	expect_names(".part-" RUN1 "-0-1.inprogress.1111111111111111 part-" RUN1 "-0-0 part-" RUN1
		     "-0-1");
	assert_int_equal(rmdir(taken), 0);
	jg_free(jg);
	fl_env_free(env);
}

/* The JobMaster of attempt 1 publishes attempt 1's in-progress files and
 * links, never attempt 2's (a zombie's, here with a link numbered as one of
 * attempt 1's and one attempt 1 does not have), and once it published,
 * removes what attempt 2 left hidden: nothing publishes it now. */
static void test_the_finished_commit_publishes_only_its_own_attempts_files(void **state)
{
	(void)state;
	fl_env *env;
	jg_graph *jg = subtasks(&env, 2, false);
	cm_err err = {0};
	assert_int_equal(outputs_prepare(jg, RUN1, false, &err), 0);
	put(".part-" RUN1 "-0.inprogress.1111111111111111", "10");
	put(".part-" RUN1 "-1.inprogress.1111111111111111", "11");
	put(".part-" RUN1 "-0-2.inprogress.1111111111111111", "2");
	link_as(".part-" RUN1 "-0-2.inprogress.1111111111111111",
		".part-" RUN1 "-0-2.inprogress.1111111111111111.end");
	put(".part-" RUN1 "-0.inprogress.2222222222222222", "20");
	put(".part-" RUN1 "-1.inprogress.2222222222222222", "21");
	put(".part-" RUN1 "-0-2.inprogress.2222222222222222", "22");
	link_as(".part-" RUN1 "-0-2.inprogress.2222222222222222",
		".part-" RUN1 "-0-2.inprogress.2222222222222222.end");
	put(".part-" RUN1 "-1-3.inprogress.2222222222222222", "23");
	link_as(".part-" RUN1 "-1-3.inprogress.2222222222222222",
		".part-" RUN1 "-1-3.inprogress.2222222222222222.end");
	if (outputs_commit(jg, RUN1, ATT1, false, &err) != 0)
		fail_msg("commit: %s", err.msg);
	expect_names("_SUCCESS part-" RUN1 "-0 part-" RUN1 "-0-2 part-" RUN1 "-1");
	expect_contents("part-" RUN1 "-0", "10");
	expect_contents("part-" RUN1 "-1", "11");
	expect_contents("part-" RUN1 "-0-2", "2");
	jg_free(jg);
	fl_env_free(env);
}

/* Without attempt 1's own in-progress file, another attempt's under the
 * same subtask does not stand in for it: the commit fails naming attempt
 * 1's, and publishes nothing. */
static void test_another_attempts_file_does_not_stand_in_for_a_missing_one(void **state)
{
	(void)state;
	fl_env *env;
	jg_graph *jg = subtasks(&env, 2, false);
	cm_err err = {0};
	assert_int_equal(outputs_prepare(jg, RUN1, false, &err), 0);
	touch(".part-" RUN1 "-0.inprogress.1111111111111111");
	touch(".part-" RUN1 "-1.inprogress.2222222222222222");
	assert_int_not_equal(outputs_commit(jg, RUN1, ATT1, false, &err), 0);
	if (!strstr(err.msg, ".part-" RUN1 "-1.inprogress.1111111111111111': it is missing"))
		fail_msg("'%s' does not name attempt 1's file of subtask 1", err.msg);
	expect_names(".part-" RUN1 "-0.inprogress.1111111111111111 "
		     ".part-" RUN1 "-1.inprogress.2222222222222222");
	outputs_abort(jg, RUN1, ATT1);
	expect_names(".part-" RUN1 "-1.inprogress.2222222222222222");
	jg_free(jg);
	fl_env_free(env);
}

/* A failed attempt's abort removes its own in-progress files and links and
 * nothing of another attempt (a zombie's, or one already running again);
 * the next attempt's sinks remove what other attempts left for the
 * subtasks they own. */
static void test_an_abort_removes_only_its_own_attempts_files(void **state)
{
	(void)state;
	fl_env *env;
	jg_graph *jg = at_end_of_attempt_1(&env);
	touch(".part-" RUN1 "-0.inprogress.2222222222222222");
	touch(".part-" RUN1 "-1-0.inprogress.2222222222222222");
	link_as(".part-" RUN1 "-1-0.inprogress.2222222222222222",
		".part-" RUN1 "-1-0.inprogress.2222222222222222.end");
	outputs_abort(jg, RUN1, ATT1);
	expect_names(".part-" RUN1 "-0-1.inprogress.1111111111111111 "
		     ".part-" RUN1 "-0.inprogress.2222222222222222 "
		     ".part-" RUN1 "-1-0.inprogress.2222222222222222 "
		     ".part-" RUN1 "-1-0.inprogress.2222222222222222.end");
	jg_free(jg);
	fl_env_free(env);
	/* Attempt 3, never checkpointed, at parallelism 2. */
	sink a, b;
	sink_open(&a, JOB1, 0x3333333333333333ull, 0, 2);
	sink_open(&b, JOB1, 0x3333333333333333ull, 1, 2);
	expect_names(".part-" RUN1 "-0.inprogress.3333333333333333 "
		     ".part-" RUN1 "-1.inprogress.3333333333333333");
	assert_int_equal(sink_close(&a, false), 0);
	assert_int_equal(sink_close(&b, false), 0);
}

/* End to end, one subtask: attempt 1 completes checkpoint 1 and goes on
 * as a zombie beside attempt 2, restored from checkpoint 1; both write,
 * checkpoint and reach their end of input, attempt 1 last, with a file
 * pending under the same number as one of attempt 2's. Attempt 2's
 * JobMaster publishes exactly attempt 2's records, and what attempt 1 made
 * is gone. */
static void test_a_zombies_end_of_input_changes_nothing_the_next_attempt_publishes(void **state)
{
	(void)state;
	fl_env *env;
	jg_graph *jg = subtasks(&env, 1, false);
	cm_err err = {0};
	cm_wbuf st1;
	cm_wbuf_init(&st1, 1u << 20);
	sink old, cur;
	sink_open(&old, JOB1, ATT1, 0, 1);
	sink_write(&old, 0, 2);
	assert_int_equal(sink_snapshot(&old, 1, &st1), 0);
	sink_notify(&old, 1, true);
	/* Attempt 1's JobMaster gave up; attempt 2's prepares and restores. */
	if (outputs_prepare(jg, RUN1, false, &err) != 0)
		fail_msg("prepare: %s", err.msg);
	if (sink_start(&cur, JOB1, ATT2, 0, 1, cm_wbuf_data(&st1), cm_wbuf_len(&st1), 1, &err) !=
	    0)
		fail_msg("restore: %s", err.msg);
	sink_write(&cur, 10, 12);
	assert_int_equal(sink_snapshot(&cur, 2, NULL), 0);
	sink_write(&cur, 12, 13);
	assert_int_equal(sink_close(&cur, true), 0);
	/* The zombie: checkpoint 2 of its own never completes. */
	sink_write(&old, 2, 4);
	assert_int_equal(sink_snapshot(&old, 2, NULL), 0);
	sink_write(&old, 4, 5);
	assert_int_equal(sink_close(&old, true), 0);
	expect_names(".part-" RUN1 "-0-1.inprogress.1111111111111111 "
		     ".part-" RUN1 "-0-1.inprogress.1111111111111111.end "
		     ".part-" RUN1 "-0-1.inprogress.2222222222222222 "
		     ".part-" RUN1 "-0-1.inprogress.2222222222222222.end "
		     ".part-" RUN1 "-0.inprogress.1111111111111111 "
		     ".part-" RUN1 "-0.inprogress.2222222222222222 part-" RUN1 "-0-0");
	if (outputs_commit(jg, RUN1, ATT2, false, &err) != 0)
		fail_msg("commit: %s", err.msg);
	expect_names("_SUCCESS part-" RUN1 "-0 part-" RUN1 "-0-0 part-" RUN1 "-0-1");
	expect_contents("part-" RUN1 "-0-0", "0,1");
	expect_contents("part-" RUN1 "-0-1", "10,11");
	expect_contents("part-" RUN1 "-0", "12");
	cm_wbuf_fini(&st1);
	jg_free(jg);
	fl_env_free(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_part_file_names_round_trip_and_nothing_else_parses),
#define T(f) cmocka_unit_test_setup_teardown(f, make_dir, remove_dir)
	    T(test_without_checkpoints_each_subtask_writes_one_hidden_file),
	    T(test_a_completed_checkpoint_commits_exactly_the_records_before_it),
	    T(test_an_aborted_checkpoints_files_are_committed_by_the_next),
	    T(test_a_cancel_removes_only_the_file_being_written),
	    T(test_an_old_attempts_cancel_leaves_the_new_attempts_file),
	    T(test_the_end_of_input_links_what_is_still_pending),
	    T(test_a_checkpoint_before_any_record_leaves_the_first_file),
	    T(test_a_file_that_cannot_roll_declines_and_fails_the_task),
	    T(test_a_failover_commits_the_restored_checkpoint_and_drops_the_rest),
	    T(test_a_restore_at_another_parallelism_cleans_each_old_subtask_once),
	    T(test_a_fresh_attempt_removes_its_runs_other_attempts_hidden_files),
	    T(test_a_restore_missing_a_pending_file_fails_naming_it),
	    T(test_a_state_that_is_not_the_sinks_is_refused),
	    T(test_what_counts_as_output_in_the_way_of_a_run),
	    T(test_the_finished_commit_publishes_what_the_sinks_left_at_their_end),
	    T(test_a_failed_commit_undoes_only_its_own_renames),
	    T(test_the_finished_commit_publishes_only_its_own_attempts_files),
	    T(test_another_attempts_file_does_not_stand_in_for_a_missing_one),
	    T(test_an_abort_removes_only_its_own_attempts_files),
	    T(test_a_zombies_end_of_input_changes_nothing_the_next_attempt_publishes),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
