/*
 * Checkpoint metadata and the checkpoint coordinator: the _metadata file
 * round trip and every way a damaged or foreign one is refused; triggering
 * into Flink's directory layout, completion after every task acknowledged,
 * retention, failures against the tolerable number, expiry, savepoints and
 * what the end of a job removes.
 */
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

#include "checkpoint/coordinator.h"
#include "checkpoint/metadata.h"
#include "api/env.h"
#include "checkpoint/restore.h"
#include "graph/jobgraph.h"
#include "common/crc32c.h"

#define JOB "0123456789abcdef0123456789abcdef"

static char g_dir[256];

static int make_dir(void **state)
{
	(void)state;
	snprintf(g_dir, sizeof(g_dir), "%s/flinc-ckp-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	(void)state;
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static bool exists(const char *fmt, ...)
{
	char p[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p, sizeof(p), fmt, ap);
	va_end(ap);
	struct stat st;
	return stat(p, &st) == 0;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char p[1200];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* This executable's rmdir (ld --wrap=rmdir, tests/CMakeLists.txt): when
 * armed with a directory, a task's late state file appears in it just
 * before it is removed, as when a task still writing its share creates its
 * file while the coordinator discards the checkpoint. */
int __real_rmdir(const char *path);
int __wrap_rmdir(const char *path);
static char g_late_dir[1100];
static int g_late_files;

int __wrap_rmdir(const char *path)
{
	if (g_late_files > 0 && strcmp(path, g_late_dir) == 0) {
		char name[32];
		snprintf(name, sizeof(name), "late-%d.state", g_late_files--);
		write_file(path, name, "state");
	}
	return __real_rmdir(path);
}

/* One operator subtask's state as a task would acknowledge it. */
static cp_op_state state(const char *uid, int subtask, int p, const char *file, const char *data)
{
	cp_op_state s = {.subtask = subtask,
			 .parallelism = p,
			 .max_parallelism = 128,
			 .kg_first = -1,
			 .kg_last = -1};
	s.uid = strdup(uid);
	assert_non_null(s.uid);
	if (file) {
		s.keyed_file = strdup(file);
		assert_non_null(s.keyed_file);
		s.kg_first = subtask * 128 / p;
		s.kg_last = (subtask + 1) * 128 / p - 1;
		s.keyed_bytes = 100;
	}
	if (data) {
		s.len = strlen(data);
		s.data = malloc(s.len);
		assert_non_null(s.data);
		memcpy(s.data, data, s.len);
	}
	return s;
}

static void test_crc32c_known_values(void **st)
{
	(void)st;
	assert_int_equal(cm_crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(cm_crc32c(0, "", 0), 0);
	/* Split anywhere, the same. */
	const char *s = "the quick brown fox jumps over the lazy dog, twice over";
	size_t n = strlen(s);
	for (size_t k = 0; k <= n; k++)
		assert_int_equal(cm_crc32c(cm_crc32c(0, s, k), s + k, n - k), cm_crc32c(0, s, n));
}

static void sample(cp_metadata *m)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->job_id, sizeof(m->job_id), "%s", JOB);
	m->id = 7;
	m->timestamp_ms = 1764400000000;
	m->kind = CP_SAVEPOINT;
	m->nstates = 3;
	m->states = calloc(3, sizeof(cp_op_state));
	assert_non_null(m->states);
	m->states[0] = state("source", 0, 2, NULL, "offset=10");
	m->states[1] = state("sum", 0, 2, "sum-0.state", NULL);
	m->states[2] = state("sum", 1, 2, "sum-1.state", "");
}

static void test_metadata_round_trip_through_a_file(void **st)
{
	(void)st;
	cp_metadata m, back;
	sample(&m);
	cm_err err = {0};
	assert_int_equal(cp_metadata_write(g_dir, &m, &err), 0);
	assert_true(exists("%s/_metadata", g_dir));
	assert_false(exists("%s/._metadata.inprogress", g_dir));
	assert_int_equal(cp_metadata_read(g_dir, &back, &err), 0);
	assert_string_equal(back.job_id, JOB);
	assert_int_equal(back.id, 7);
	assert_int_equal(back.timestamp_ms, 1764400000000);
	assert_int_equal(back.kind, CP_SAVEPOINT);
	assert_int_equal(back.nstates, 3);
	assert_string_equal(back.states[0].uid, "source");
	assert_null(back.states[0].keyed_file);
	assert_int_equal(back.states[0].kg_first, -1);
	assert_int_equal(back.states[0].len, 9);
	assert_memory_equal(back.states[0].data, "offset=10", 9);
	assert_string_equal(back.states[2].keyed_file, "sum-1.state");
	assert_int_equal(back.states[2].kg_first, 64);
	assert_int_equal(back.states[2].kg_last, 127);
	assert_int_equal(back.states[2].keyed_bytes, 100);
	assert_int_equal(back.states[2].len, 0);
	cp_metadata_fini(&back);
	cp_metadata_fini(&m);
}

static void expect_refused(const uint8_t *p, size_t len, const char *what)
{
	cp_metadata m;
	cm_err err = {0};
	assert_int_equal(cp_metadata_decode(p, len, "chk-7/_metadata", &m, &err), FL_EPROTO);
	assert_non_null(strstr(err.msg, "chk-7/_metadata"));
	if (!strstr(err.msg, what))
		fail_msg("'%s' does not say '%s'", err.msg, what);
	assert_null(m.states);
}

static void test_damaged_metadata_is_refused_naming_the_file(void **st)
{
	(void)st;
	cp_metadata m;
	sample(&m);
	uint8_t *b;
	size_t n;
	assert_int_equal(cp_metadata_encode(&m, &b, &n), 0);
	cp_metadata_fini(&m);
	/* Every truncation. */
	for (size_t k = 0; k < n; k++) {
		cp_metadata out;
		cm_err err = {0};
		assert_int_equal(cp_metadata_decode(b, k, "x", &out, &err), FL_EPROTO);
	}
	/* A flipped bit anywhere after the header: the checksum. */
	for (size_t i = 12; i < n; i++) {
		b[i] ^= 0x10;
		expect_refused(b, n, i < n - 4 ? "checksum" : "checksum");
		b[i] ^= 0x10;
	}
	/* Another format. */
	b[0] = 'X';
	expect_refused(b, n, "not a flinc checkpoint metadata file");
	b[0] = 'F';
	b[8] = CP_METADATA_VERSION + 1;
	expect_refused(b, n, "format version 4");
	free(b);
}

/* A metadata file whose content is consistent (checksum right) but whose
 * values are not: re-encoded with the state damaged first. */
static void expect_invalid(cp_op_state bad, const char *what)
{
	cp_metadata m = {.id = 1, .kind = CP_CHECKPOINT};
	snprintf(m.job_id, sizeof(m.job_id), "%s", JOB);
	m.states = &bad;
	m.nstates = 1;
	uint8_t *b;
	size_t n;
	assert_int_equal(cp_metadata_encode(&m, &b, &n), 0);
	expect_refused(b, n, what);
	free(b);
	cp_op_state_fini(&bad);
}

static void test_metadata_values_out_of_range_are_refused(void **st)
{
	(void)st;
	expect_invalid(state("sum", 0, 2, "../../etc/passwd", NULL), "not a relative path");
	expect_invalid(state("sum", 0, 2, "/abs", NULL), "not a relative path");
	expect_invalid(state("sum", 0, 2, "a/./b", NULL), "not a relative path");
	cp_op_state s = state("sum", 0, 2, "ok.state", NULL);
	s.kg_last = 500;
	expect_invalid(s, "key groups 0..500");
	s = state("sum", 3, 2, NULL, NULL);
	expect_invalid(s, "subtask 3 of parallelism 2");
	s = state("", 0, 1, NULL, NULL);
	expect_invalid(s, "no uid");
	/* An incremental chain names only files of sibling checkpoints. */
	static const char *const bad_bases[] = {"../../etc/passwd", "../chk-3/a/b", "../chk-/x",
						"../chk-3/..", "sub/x.state", "../chk-3x/y"};
	for (size_t i = 0; i < sizeof(bad_bases) / sizeof(bad_bases[0]); i++) {
		s = state("sum", 0, 2, "own.state", NULL);
		s.base_files = calloc(1, sizeof(char *));
		assert_non_null(s.base_files);
		s.base_files[0] = strdup(bad_bases[i]);
		s.nbase = 1;
		expect_invalid(s, "is not ../chk-<id>/<name>");
	}
	s = state("sum", 0, 2, NULL, "x");
	s.base_files = calloc(1, sizeof(char *));
	assert_non_null(s.base_files);
	s.base_files[0] = strdup("../chk-3/sum-0.state");
	s.nbase = 1;
	expect_invalid(s, "only beside a state file of its own");
}

/* A chain of earlier files survives the round trip, in order. */
static void test_metadata_chain_round_trip(void **st)
{
	(void)st;
	cp_op_state s = state("sum", 1, 2, "sum-1.state", NULL);
	s.base_files = calloc(2, sizeof(char *));
	assert_non_null(s.base_files);
	s.base_files[0] = strdup("../chk-3/sum-1.state");
	s.base_files[1] = strdup("../chk-12/sum-1.state");
	s.nbase = 2;
	cp_metadata m = {.id = 13, .kind = CP_CHECKPOINT, .states = &s, .nstates = 1};
	snprintf(m.job_id, sizeof(m.job_id), "%s", JOB);
	uint8_t *b;
	size_t n;
	assert_int_equal(cp_metadata_encode(&m, &b, &n), 0);
	cp_metadata back;
	cm_err err = {0};
	assert_int_equal(cp_metadata_decode(b, n, "x", &back, &err), 0);
	assert_int_equal(back.states[0].nbase, 2);
	assert_string_equal(back.states[0].base_files[0], "../chk-3/sum-1.state");
	assert_string_equal(back.states[0].base_files[1], "../chk-12/sum-1.state");
	cp_op_state copy;
	assert_int_equal(cp_op_state_copy(&copy, &back.states[0]), 0);
	assert_string_equal(copy.base_files[1], "../chk-12/sum-1.state");
	cp_op_state_fini(&copy);
	cp_metadata_fini(&back);
	cp_op_state_fini(&s);
	free(b);
}

static void test_reading_a_missing_checkpoint_says_so(void **st)
{
	(void)st;
	cp_metadata m;
	cm_err err = {0};
	char p[400];
	snprintf(p, sizeof(p), "%s/nothing-here", g_dir);
	assert_int_equal(cp_metadata_read(p, &m, &err), FL_ENOENT);
	assert_non_null(strstr(err.msg, "nothing-here"));
	assert_int_equal(mkdir(p, 0755), 0);
	cm_err_clear(&err);
	assert_int_equal(cp_metadata_read(p, &m, &err), FL_ENOENT);
	assert_non_null(strstr(err.msg, "not a completed checkpoint or savepoint"));
}

static cp_config config(int retained, int tolerable)
{
	cp_config c = {.interval_ms = 1000,
		       .timeout_ms = 5000,
		       .max_concurrent = 1,
		       .tolerable_failures = tolerable,
		       .num_retained = retained,
		       .exactly_once = true};
	snprintf(c.dir, sizeof(c.dir), "%s/ckps", g_dir);
	snprintf(c.savepoint_dir, sizeof(c.savepoint_dir), "%s/sps", g_dir);
	return c;
}

/* Triggers a checkpoint and has both tasks acknowledge it, each with a
 * state file of its own in the directory. */
static uint64_t complete_one(cp_coordinator *cp, int64_t now, enum cp_kind kind, char *dir)
{
	uint64_t id;
	cm_err err = {0};
	assert_int_equal(cp_trigger(cp, now, kind, NULL, &id, dir, 1100, &err), 0);
	bool fail;
	for (int t = 0; t < 2; t++) {
		char name[32];
		snprintf(name, sizeof(name), "sum-%d.state", t);
		write_file(dir, name, "state");
		cp_op_state s = state("sum", t, 2, name, "x");
		int rc = cp_ack(cp, id, (size_t)t, &s, 1, now + 10, &fail, &err);
		assert_int_equal(rc, t == 0 ? CP_ACK_PENDING : CP_ACK_COMPLETED);
		assert_false(fail);
	}
	return id;
}

/* Acknowledges checkpoint id for both tasks, each with its own file and,
 * when base is not NULL, the chain of earlier files it names. */
static int ack_chain(cp_coordinator *cp, uint64_t id, const char *dir, const char *base,
		     int64_t now, cm_err *err)
{
	bool fail;
	int rc = 0;
	for (int t = 0; t < 2; t++) {
		char name[32], b[64];
		snprintf(name, sizeof(name), "sum-%d.state", t);
		write_file(dir, name, "state");
		cp_op_state s = state("sum", t, 2, name, NULL);
		if (base) {
			snprintf(b, sizeof(b), "%s/sum-%d.state", base, t);
			s.base_files = calloc(1, sizeof(char *));
			assert_non_null(s.base_files);
			s.base_files[0] = strdup(b);
			s.nbase = 1;
		}
		rc = cp_ack(cp, id, (size_t)t, &s, 1, now, &fail, err);
	}
	return rc;
}

static bool file_exists(const char *dir, const char *name)
{
	char p[1400];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

/* Incremental checkpoints share files: a discarded checkpoint's files stay
 * while a retained one names them, its directory goes with the last of
 * them, and a chain naming a file nobody keeps is refused. */
static void test_incremental_files_are_shared_then_released(void **st)
{
	(void)st;
	cp_config c = config(1, 5);
	cp_coordinator *cp;
	assert_int_equal(cp_new(&c, JOB, 2, &cp), 0);
	char d1[1100], d2[1100], d3[1100], d4[1100];
	uint64_t id;
	cm_err err = {0};
	assert_int_equal(cp_trigger(cp, 1000, CP_CHECKPOINT, NULL, &id, d1, sizeof(d1), &err), 0);
	assert_int_equal(ack_chain(cp, id, d1, NULL, 1010, &err), CP_ACK_COMPLETED);
	/* chk-2 builds on chk-1's files: chk-1 goes, its files stay. */
	assert_int_equal(cp_trigger(cp, 2000, CP_CHECKPOINT, NULL, &id, d2, sizeof(d2), &err), 0);
	assert_int_equal(ack_chain(cp, id, d2, "../chk-1", 2010, &err), CP_ACK_COMPLETED);
	assert_false(file_exists(d1, "_metadata"));
	assert_true(file_exists(d1, "sum-0.state"));
	assert_true(file_exists(d1, "sum-1.state"));
	assert_true(file_exists(d2, "_metadata"));
	/* chk-3 is whole again: chk-2 and the shared chk-1 files go. */
	assert_int_equal(cp_trigger(cp, 3000, CP_CHECKPOINT, NULL, &id, d3, sizeof(d3), &err), 0);
	assert_int_equal(ack_chain(cp, id, d3, NULL, 3010, &err), CP_ACK_COMPLETED);
	struct stat sb;
	assert_int_equal(stat(d1, &sb), -1);
	assert_int_equal(stat(d2, &sb), -1);
	assert_true(file_exists(d3, "_metadata"));
	/* chk-4 names chk-1's file, gone: refused, and chk-3 stays. */
	assert_int_equal(cp_trigger(cp, 4000, CP_CHECKPOINT, NULL, &id, d4, sizeof(d4), &err), 0);
	cm_err_clear(&err);
	assert_true(ack_chain(cp, id, d4, "../chk-1", 4010, &err) < 0);
	assert_non_null(strstr(err.msg, "no retained checkpoint holds"));
	assert_non_null(strstr(err.msg, "chk-1/sum-0.state"));
	assert_true(file_exists(d3, "_metadata"));
	assert_int_equal(stat(d4, &sb), -1);
	/* The job's end removes everything. */
	cp_job_ended(cp, false, true);
	assert_int_equal(stat(d3, &sb), -1);
	cp_free(cp);
}

/* A checkpoint made due at once (the final one of FLIP-147, when every
 * source finished) is due at once even while the monotonic clock, the
 * time since boot, is younger than the interval: the interval back from
 * there is below zero, and was once taken for "never triggered", which
 * put it an hour off (integration.finished_tasks D on a machine up for
 * minutes). */
static void test_a_checkpoint_due_now_is_due_now_on_a_young_clock(void **st)
{
	(void)st;
	cp_config c = config(1, 0);
	c.interval_ms = 3600 * 1000;
	cp_coordinator *cp;
	assert_int_equal(cp_new(&c, JOB, 2, &cp), 0);
	assert_int_equal(cp_next_due(cp, 100), 100 + 3600 * 1000);
	cp_due_now(cp, 500);
	assert_int_equal(cp_next_due(cp, 500), 500);
	cp_skipped(cp, 600);
	assert_int_equal(cp_next_due(cp, 600), 600 + 3600 * 1000);
	cp_free(cp);
}

static void test_a_checkpoint_completes_when_every_task_acknowledged(void **st)
{
	(void)st;
	cp_config c = config(1, 0);
	cp_coordinator *cp;
	assert_int_equal(cp_new(&c, JOB, 2, &cp), 0);
	assert_int_equal(cp_next_due(cp, 100), 1100); /* an interval after the start */
	char dir[1100];
	uint64_t id = complete_one(cp, 1100, CP_CHECKPOINT, dir);
	assert_int_equal(id, 1);
	char want[1100];
	snprintf(want, sizeof(want), "%s/ckps/%s/chk-1", g_dir, JOB);
	assert_string_equal(dir, want);
	assert_true(exists("%s/_metadata", dir));
	cp_metadata m;
	cm_err err = {0};
	assert_int_equal(cp_metadata_read(dir, &m, &err), 0);
	assert_int_equal(m.nstates, 2);
	cp_metadata_fini(&m);
	assert_int_equal(cp_next_due(cp, 1200), 2100);
	/* An acknowledgement of an unknown or completed checkpoint is ignored. */
	bool fail;
	cp_op_state s = state("sum", 0, 2, NULL, NULL);
	assert_int_equal(cp_ack(cp, 1, 0, &s, 1, 1200, &fail, &err), CP_ACK_IGNORED);
	/* Retaining one: the second completed removes the first's files. */
	char dir2[1100];
	assert_int_equal(complete_one(cp, 2100, CP_CHECKPOINT, dir2), 2);
	assert_false(exists("%s", dir));
	assert_true(exists("%s/_metadata", dir2));
	cp_metadata latest;
	char ldir[1100];
	assert_int_equal(cp_latest(cp, &latest, ldir, sizeof(ldir)), 0);
	assert_int_equal(latest.id, 2);
	assert_string_equal(ldir, dir2);
	cp_metadata_fini(&latest);
	cp_stats stats;
	cp_get_stats(cp, &stats);
	assert_int_equal(stats.triggered, 2);
	assert_int_equal(stats.completed, 2);
	assert_int_equal(stats.in_progress, 0);
	assert_int_equal(stats.history[0].id, 2);
	assert_int_equal(stats.history[0].status, CP_COMPLETED);
	assert_int_equal(stats.latest_completed.acked, 2);
	/* The job finished: without externalized checkpoints nothing stays. */
	cp_job_ended(cp, false, true);
	assert_false(exists("%s", dir2));
	cp_free(cp);
}

static void test_one_checkpoint_at_a_time_and_min_pause(void **st)
{
	(void)st;
	cp_config c = config(1, 0);
	c.min_pause_ms = 3000;
	cp_coordinator *cp;
	assert_int_equal(cp_new(&c, JOB, 2, &cp), 0);
	char dir[1100];
	uint64_t id;
	cm_err err = {0};
	assert_int_equal(cp_trigger(cp, 0, CP_CHECKPOINT, NULL, &id, dir, sizeof(dir), &err), 0);
	assert_int_equal(cp_trigger(cp, 10, CP_CHECKPOINT, NULL, &id, dir, sizeof(dir), &err),
			 FL_ERANGE);
	assert_non_null(strstr(err.msg, "max-concurrent-checkpoints"));
	bool fail;
	assert_int_equal(cp_abort(cp, 0, "test", 100, true, &fail), 1);
	assert_true(fail); /* no failure tolerated */
	assert_int_equal(cp_next_due(cp, 200), 3100);
	/* A due checkpoint that could not start moves the next an interval on. */
	cp_skipped(cp, 5000);
	assert_int_equal(cp_next_due(cp, 5000), 6000);
	cm_err_clear(&err);
	assert_int_equal(cp_trigger(cp, 200, CP_CHECKPOINT, NULL, &id, dir, sizeof(dir), &err),
			 FL_ERANGE);
	assert_non_null(strstr(err.msg, "min-pause"));
	cp_free(cp);
}

static void test_failures_count_until_the_tolerable_number(void **st)
{
	(void)st;
	cp_config c = config(1, 2);
	cp_coordinator *cp;
	assert_int_equal(cp_new(&c, JOB, 2, &cp), 0);
	char dir[1100];
	uint64_t id;
	cm_err err = {0};
	bool fail;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(
		    cp_trigger(cp, i * 10000, CP_CHECKPOINT, NULL, &id, dir, sizeof(dir), &err), 0);
		write_file(dir, "partial.state", "x");
		cp_op_state s = state("sum", 0, 2, "partial.state", NULL);
		assert_int_equal(cp_ack(cp, id, 0, &s, 1, i * 10000 + 1, &fail, &err),
				 CP_ACK_PENDING);
		/* A file a task wrote without its acknowledgement counting. */
		write_file(dir, "late-1.state", "x");
		/* A task declines: the checkpoint and its files go. */
		assert_int_equal(cp_abort(cp, id, "a task declined", i * 10000 + 2, true, &fail), 1);
		assert_false(exists("%s", dir));
		assert_int_equal(fail, i == 2); /* the third in a row is one too many */
	}
	cp_stats stats;
	cp_get_stats(cp, &stats);
	assert_int_equal(stats.failed, 3);
	assert_string_equal(stats.latest_failed.failure, "a task declined");
	/* A completed checkpoint resets the count. */
	complete_one(cp, 40000, CP_CHECKPOINT, dir);
	assert_int_equal(cp_trigger(cp, 50000, CP_CHECKPOINT, NULL, &id, dir, sizeof(dir), &err),
			 0);
	assert_int_equal(cp_abort(cp, id, "declined", 50001, true, &fail), 1);
	assert_false(fail);
	cp_free(cp);
}

/* State files that tasks create while the coordinator discards an aborted
 * checkpoint go with it: no chk-N without _metadata stays (seen with a
 * full disk, where one subtask's decline aborted the checkpoint as the
 * other created its file). A file flinc did not write still keeps the
 * directory. */
static void test_late_state_files_do_not_keep_an_aborted_checkpoint(void **st)
{
	(void)st;
	cp_config c = config(1, 10);
	cp_coordinator *cp;
	assert_int_equal(cp_new(&c, JOB, 2, &cp), 0);
	char dir[1100];
	uint64_t id;
	cm_err err = {0};
	bool fail;
	assert_int_equal(cp_trigger(cp, 0, CP_CHECKPOINT, NULL, &id, dir, sizeof(dir), &err), 0);
	snprintf(g_late_dir, sizeof(g_late_dir), "%s", dir);
	g_late_files = 2; /* one before each of two removals */
	assert_int_equal(cp_abort(cp, id, "declined", 1, true, &fail), 1);
	assert_int_equal(g_late_files, 0);
	assert_false(exists("%s", dir));
	g_late_files = 0;
	assert_int_equal(cp_trigger(cp, 10000, CP_CHECKPOINT, NULL, &id, dir, sizeof(dir), &err),
			 0);
	write_file(dir, "notes.txt", "not flinc's");
	assert_int_equal(cp_abort(cp, id, "declined", 10001, true, &fail), 1);
	assert_true(exists("%s/notes.txt", dir));
	cp_free(cp);
}

/* Flink's CheckpointFailureManager clears its count when it fails the job:
 * the restarted attempt (same coordinator) fails again only after as many
 * failures in a row, not at its first. */
static void test_the_count_starts_over_once_it_failed_the_job(void **st)
{
	(void)st;
	cp_config c = config(1, 2);
	cp_coordinator *cp;
	assert_int_equal(cp_new(&c, JOB, 2, &cp), 0);
	char dir[1100];
	uint64_t id;
	cm_err err = {0};
	bool fail;
	for (int i = 0; i < 6; i++) {
		assert_int_equal(
		    cp_trigger(cp, i * 10000, CP_CHECKPOINT, NULL, &id, dir, sizeof(dir), &err), 0);
		assert_int_equal(cp_abort(cp, id, "declined", i * 10000 + 1, true, &fail), 1);
		assert_int_equal(fail, i == 2 || i == 5);
	}
	cp_free(cp);
}

static void test_a_checkpoint_expires_after_its_timeout(void **st)
{
	(void)st;
	cp_config c = config(1, 0);
	cp_coordinator *cp;
	assert_int_equal(cp_new(&c, JOB, 2, &cp), 0);
	char dir[1100];
	uint64_t id;
	cm_err err = {0};
	assert_int_equal(cp_next_expiry(cp), -1);
	assert_int_equal(cp_trigger(cp, 1000, CP_CHECKPOINT, NULL, &id, dir, sizeof(dir), &err), 0);
	assert_int_equal(cp_next_expiry(cp), 6000);
	bool fail;
	uint64_t gone = 0;
	assert_int_equal(cp_expire(cp, 5999, &gone, &fail), 0);
	assert_int_equal(cp_expire(cp, 6000, &gone, &fail), 1);
	assert_int_equal(gone, id);
	assert_true(fail);
	cp_stats stats;
	cp_get_stats(cp, &stats);
	assert_non_null(strstr(stats.latest_failed.failure, "expired"));
	assert_int_equal(cp_next_expiry(cp), -1);
	cp_free(cp);
}

static void test_savepoints_go_to_their_own_directory_and_stay(void **st)
{
	(void)st;
	cp_config c = config(1, 0);
	c.retention = CP_RETAIN_DELETE_ON_CANCEL;
	cp_coordinator *cp;
	assert_int_equal(cp_new(&c, JOB, 2, &cp), 0);
	char ck[1100], sp[1100];
	complete_one(cp, 0, CP_CHECKPOINT, ck);
	complete_one(cp, 5000, CP_SAVEPOINT, sp);
	char prefix[600];
	snprintf(prefix, sizeof(prefix), "%s/sps/savepoint-012345-", g_dir);
	assert_memory_equal(sp, prefix, strlen(prefix));
	assert_int_equal(strlen(sp), strlen(prefix) + 12);
	/* The latest completed is the savepoint: a restart restores it. */
	cp_metadata m;
	char dir[1100];
	assert_int_equal(cp_latest(cp, &m, dir, sizeof(dir)), 0);
	assert_int_equal(m.kind, CP_SAVEPOINT);
	assert_string_equal(dir, sp);
	cp_metadata_fini(&m);
	/* A savepoint does not subsume the retained checkpoint. */
	assert_true(exists("%s/_metadata", ck));
	/* Cancelled with DELETE_ON_CANCELLATION: checkpoints go, savepoints never. */
	cp_job_ended(cp, true, false);
	assert_false(exists("%s", ck));
	assert_true(exists("%s/_metadata", sp));
	cp_free(cp);
}

static void test_retained_checkpoints_survive_a_failed_job(void **st)
{
	(void)st;
	cp_config c = config(2, 0);
	c.retention = CP_RETAIN_DELETE_ON_CANCEL;
	cp_coordinator *cp;
	assert_int_equal(cp_new(&c, JOB, 2, &cp), 0);
	char a[1100], b[1100];
	complete_one(cp, 0, CP_CHECKPOINT, a);
	complete_one(cp, 5000, CP_CHECKPOINT, b);
	assert_true(exists("%s/_metadata", a)); /* two retained */
	cp_job_ended(cp, false, false);
	assert_true(exists("%s/_metadata", a));
	assert_true(exists("%s/_metadata", b));
	cp_free(cp);
	/* A finished job's checkpoints go whatever the policy (Flink's
	 * discardFinished): nothing is left to resume. */
	c.retention = CP_RETAIN_ON_CANCEL;
	assert_int_equal(cp_new(&c, JOB, 2, &cp), 0);
	complete_one(cp, 20000, CP_CHECKPOINT, a);
	cp_job_ended(cp, false, true);
	assert_false(exists("%s", a));
	cp_free(cp);
}

static void test_without_a_directory_nothing_is_triggered(void **st)
{
	(void)st;
	cp_config c = config(1, 0);
	c.dir[0] = '\0';
	c.savepoint_dir[0] = '\0';
	cp_coordinator *cp;
	assert_int_equal(cp_new(&c, JOB, 1, &cp), 0);
	char dir[1100];
	uint64_t id;
	cm_err err = {0};
	assert_int_equal(cp_trigger(cp, 0, CP_CHECKPOINT, NULL, &id, dir, sizeof(dir), &err),
			 FL_EINVAL);
	assert_non_null(strstr(err.msg, "execution.checkpointing.dir"));
	cm_err_clear(&err);
	assert_int_equal(cp_trigger(cp, 0, CP_SAVEPOINT, NULL, &id, dir, sizeof(dir), &err),
			 FL_EINVAL);
	assert_non_null(strstr(err.msg, "savepoint"));
	cp_free(cp);
}

/* A checkpoint whose directory cannot be created (here its path runs
 * through a regular file) is shown failed, naming the path, as Flink shows
 * a TRIGGER_CHECKPOINT_FAILURE; it does not count against the tolerable
 * failures, and once the path is usable checkpoints go on. */
static void test_a_directory_that_cannot_be_created_is_a_failed_checkpoint(void **st)
{
	(void)st;
	cp_config c = config(1, 1);
	write_file(g_dir, "blocked", "a file");
	snprintf(c.dir, sizeof(c.dir), "%s/blocked/ckps", g_dir);
	cp_coordinator *cp;
	assert_int_equal(cp_new(&c, JOB, 2, &cp), 0);
	char dir[1100], want[1200];
	uint64_t id = 0;
	cm_err err = {0};
	for (int i = 0; i < 2; i++) {
		cm_err_clear(&err);
		assert_int_equal(
		    cp_trigger(cp, i * 10000, CP_CHECKPOINT, NULL, &id, dir, sizeof(dir), &err),
		    FL_EIO);
		snprintf(want, sizeof(want),
			 "cannot create %s/blocked/ckps/%s/chk-%d: Not a directory", g_dir, JOB,
			 i + 1);
		assert_string_equal(err.msg, want);
	}
	cp_stats stats;
	cp_get_stats(cp, &stats);
	assert_int_equal(stats.failed, 2);
	assert_int_equal(stats.in_progress, 0);
	assert_int_equal(stats.history[0].id, 2);
	assert_int_equal(stats.history[0].status, CP_FAILED);
	assert_true(stats.have_failed);
	assert_string_equal(stats.latest_failed.failure, want);
	/* Usable again: the next one starts, and one declined failure is within
	 * the tolerable one (the two above did not count). */
	char p[600];
	snprintf(p, sizeof(p), "%s/blocked", g_dir);
	assert_int_equal(unlink(p), 0);
	cm_err_clear(&err);
	assert_int_equal(cp_trigger(cp, 20000, CP_CHECKPOINT, NULL, &id, dir, sizeof(dir), &err),
			 0);
	assert_int_equal(id, 3);
	bool fail;
	assert_int_equal(cp_abort(cp, id, "declined", 20001, true, &fail), 1);
	assert_false(fail);
	cp_free(cp);
}

static void test_config_reads_flink_keys_and_refuses_remote_schemes(void **st)
{
	(void)st;
	cfg *c;
	cm_err err = {0};
	assert_int_equal(cfg_new(&c), 0);
	assert_int_equal(cfg_set(c, "execution.checkpointing.interval", "5 s", &err), 0);
	assert_int_equal(cfg_set(c, "state.checkpoints.dir", "file:///old", &err), 0);
	assert_int_equal(cfg_set(c, "execution.checkpointing.dir", "file:///new", &err), 0);
	assert_int_equal(cfg_set(c, "state.checkpoints.num-retained", "3", &err), 0);
	assert_int_equal(cfg_set(c, "execution.checkpointing.mode", "AT_LEAST_ONCE", &err), 0);
	assert_int_equal(cfg_set(c, "execution.checkpointing.externalized-checkpoint-retention",
				 "RETAIN_ON_CANCELLATION", &err),
			 0);
	cp_config o;
	assert_int_equal(cp_config_read(c, &o, &err), 0);
	assert_int_equal(o.interval_ms, 5000);
	assert_int_equal(o.timeout_ms, 600000);
	assert_string_equal(o.dir, "/new");
	assert_int_equal(o.num_retained, 3);
	assert_false(o.exactly_once);
	assert_int_equal(o.retention, CP_RETAIN_ON_CANCEL);
	assert_int_equal(cfg_set(c, "execution.checkpointing.dir", "s3://bucket/x", &err), 0);
	cm_err_clear(&err);
	assert_int_equal(cp_config_read(c, &o, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "execution.checkpointing.dir"));
	assert_non_null(strstr(err.msg, "s3://bucket/x"));
	/* Periodic checkpoints with nowhere to go: refused, naming the keys. */
	cfg *nodir;
	assert_int_equal(cfg_new(&nodir), 0);
	assert_int_equal(cfg_set(nodir, "execution.checkpointing.interval", "1 s", &err), 0);
	cm_err_clear(&err);
	assert_int_equal(cp_config_read(nodir, &o, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "execution.checkpointing.dir"));
	cfg_free(nodir);
	cfg_free(c);
}

/* ------------------------------------------------------------- restore */

/* A list state of the given one-letter elements. */
static void list_of(cp_op_state *s, const char *elems)
{
	cm_wbuf w;
	cm_wbuf_init(&w, 1024);
	for (const char *e = elems; *e; e++)
		cm_wbuf_bytes(&w, e, 1);
	s->data = cm_wbuf_take(&w, &s->len);
	cm_wbuf_fini(&w);
}

/* The elements of a restored list, as a string. */
static void elements(const td_restore *rs, char *out)
{
	cm_rbuf r;
	cm_rbuf_init(&r, rs->list, rs->list_len);
	const uint8_t *e;
	size_t len;
	while (cp_list_next(&r, &e, &len) == 1) {
		assert_int_equal(len, 1);
		*out++ = (char)e[0];
	}
	assert_int_equal(cm_rbuf_error(&r), 0);
	*out = '\0';
}

/* A checkpoint of a job at parallelism 2: source "src" with splits A B on
 * subtask 0 and C on subtask 1, keyed "agg" with files for key groups
 * 0..63 and 64..127 (max parallelism 128). */
static void two_subtask_checkpoint(cp_metadata *m)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->job_id, sizeof(m->job_id), "%s", JOB);
	m->id = 9;
	m->nstates = 4;
	m->states = calloc(4, sizeof(cp_op_state));
	assert_non_null(m->states);
	const char *files[] = {"agg-0.state", "agg-1.state"};
	for (int i = 0; i < 2; i++) {
		cp_op_state *src = &m->states[i], *agg = &m->states[2 + i];
		/* Acknowledgements arrive in any order: subtask 1 first. */
		*src = (cp_op_state){.uid = strdup("src"), .subtask = 1 - i, .parallelism = 2,
				     .max_parallelism = 128, .kg_first = -1, .kg_last = -1};
		list_of(src, i == 0 ? "C" : "AB");
		*agg = (cp_op_state){.uid = strdup("agg"), .subtask = i, .parallelism = 2,
				     .max_parallelism = 128, .kg_first = 64 * i, .kg_last = 64 * i + 63,
				     .keyed_file = strdup(files[i]), .keyed_bytes = 10};
	}
}

/* A descriptor of subtask k of p with operators src, agg and new. */
static td_task *task_of(int k, int p)
{
	td_task *td = calloc(1, sizeof(*td));
	assert_non_null(td);
	td->subtask = k;
	td->parallelism = p;
	td->max_parallelism = 128;
	td->nops = 3;
	td->ops = calloc(3, sizeof(td_op));
	assert_non_null(td->ops);
	td->ops[0].uid = strdup("src");
	td->ops[1].uid = strdup("agg");
	td->ops[2].uid = strdup("new");
	return td;
}

static void test_restore_keeps_shares_at_the_same_parallelism(void **st)
{
	(void)st;
	cp_metadata m;
	two_subtask_checkpoint(&m);
	char got[16];
	for (int k = 0; k < 2; k++) {
		td_task *td = task_of(k, 2);
		assert_int_equal(cp_restore_fill(&m, "/ckp/chk-9", td), 0);
		assert_int_equal(td->restore_id, 9);
		assert_true(td->ops[0].restore.restored);
		elements(&td->ops[0].restore, got);
		assert_string_equal(got, k == 0 ? "AB" : "C");
		assert_int_equal(td->ops[1].restore.nfiles, 1);
		assert_string_equal(td->ops[1].restore.files[0].path,
				    k == 0 ? "/ckp/chk-9/agg-0.state" : "/ckp/chk-9/agg-1.state");
		assert_int_equal(td->ops[1].restore.files[0].kg_first, 64 * k);
		/* An operator the checkpoint does not know starts empty. */
		assert_false(td->ops[2].restore.restored);
		td_free(td);
	}
	cp_metadata_fini(&m);
}

static void test_restore_redistributes_at_another_parallelism(void **st)
{
	(void)st;
	cp_metadata m;
	two_subtask_checkpoint(&m);
	char got[16];
	/* p = 3: the three splits one each, in subtask order; key groups
	 * 0..42, 43..85 and 86..127 meet one, both and one old file. */
	const char *want[] = {"A", "B", "C"};
	size_t files[] = {1, 2, 1};
	for (int k = 0; k < 3; k++) {
		td_task *td = task_of(k, 3);
		assert_int_equal(cp_restore_fill(&m, "/ckp", td), 0);
		elements(&td->ops[0].restore, got);
		assert_string_equal(got, want[k]);
		assert_int_equal(td->ops[1].restore.nfiles, files[k]);
		td_free(td);
	}
	/* p = 4: a fourth subtask gets no split, as in Flink; p = 1: all. */
	td_task *td = task_of(3, 4);
	assert_int_equal(cp_restore_fill(&m, "/ckp", td), 0);
	assert_true(td->ops[0].restore.restored);
	assert_int_equal(td->ops[0].restore.list_len, 0);
	td_free(td);
	td = task_of(0, 1);
	assert_int_equal(cp_restore_fill(&m, "/ckp", td), 0);
	elements(&td->ops[0].restore, got);
	assert_string_equal(got, "ABC");
	assert_int_equal(td->ops[1].restore.nfiles, 2);
	td_free(td);
	cp_metadata_fini(&m);
}

/* ------------------------------------------- restore: the program's side */

int ck_gen(fl_ctx *ctx, int64_t off, fl_row *out);

int ck_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	(void)ctx;
	int rc = fl_row_add_int64(out, off % 10);
	return rc ? rc : fl_row_add_int64(out, 1);
}

/* generator "src" -> key_by -> sum "agg" -> discard at parallelism p; maxp
 * 0: max parallelism derived, else pipeline.max-parallelism. */
static jg_graph *keyed_program(fl_env **env, int p, int maxp)
{
	*env = fl_env_new(0, NULL);
	assert_non_null(*env);
	fl_stream *s = fl_uid(fl_generator(*env, 10, 0, ck_gen), "src");
	fl_discard(fl_uid(fl_sum(fl_key_by(s, 0), 1), "agg"));
	(*env)->graph->parallelism = p;
	(*env)->graph->max_parallelism = maxp;
	jg_graph *jg = NULL;
	cm_err err = {0};
	if (jg_build((*env)->graph, "program", &jg, &err) != 0)
		fail_msg("%s", err.msg);
	return jg;
}

static const jg_vertex *vertex_of(const jg_graph *jg, const char *name_part)
{
	for (size_t v = 0; v < jg->nvertices; v++)
		if (strstr(jg->vertices[v].name, name_part))
			return &jg->vertices[v];
	fail_msg("no vertex '%s'", name_part);
	return NULL;
}

static void test_restore_checks_the_program(void **st)
{
	(void)st;
	cp_metadata m;
	two_subtask_checkpoint(&m); /* "src" and "agg", max parallelism 128 */
	cm_err err = {0};
	fl_env *env;
	/* At p=100 the aggregation would derive max parallelism 256: as in
	 * Flink it takes its state's 128 instead, and the program runs. */
	jg_graph *jg = keyed_program(&env, 100, 0);
	assert_int_equal(vertex_of(jg, "Keyed")->max_parallelism, 256);
	if (cp_restore_check(&m, "sp", jg, false, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(vertex_of(jg, "Keyed")->max_parallelism, 128);
	jg_free(jg);
	fl_env_free(env);
	/* Set by the program: refused, naming both and the way out. */
	jg = keyed_program(&env, 2, 256);
	cm_err_clear(&err);
	assert_int_equal(cp_restore_check(&m, "sp", jg, false, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "max parallelism 128, the operator in the new program 256"));
	jg_free(jg);
	fl_env_free(env);
	/* A parallelism above the state's max parallelism cannot take it. */
	jg = keyed_program(&env, 200, 0);
	cm_err_clear(&err);
	assert_int_equal(cp_restore_check(&m, "sp", jg, false, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "max parallelism 128"));
	jg_free(jg);
	fl_env_free(env);
	/* State of an operator the program does not have: refused, or
	 * skipped with allowNonRestoredState. */
	free(m.states[0].uid);
	m.states[0].uid = strdup("gone");
	jg = keyed_program(&env, 2, 0);
	cm_err_clear(&err);
	assert_int_equal(cp_restore_check(&m, "sp", jg, false, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "Cannot map checkpoint/savepoint state for operator gone"));
	cm_err_clear(&err);
	assert_int_equal(cp_restore_check(&m, "sp", jg, true, &err), 0);
	jg_free(jg);
	fl_env_free(env);
	cp_metadata_fini(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc32c_known_values),
	    cmocka_unit_test(test_restore_keeps_shares_at_the_same_parallelism),
	    cmocka_unit_test(test_restore_redistributes_at_another_parallelism),
	    cmocka_unit_test(test_restore_checks_the_program),
	    cmocka_unit_test_setup_teardown(test_metadata_round_trip_through_a_file, make_dir,
					    remove_dir),
	    cmocka_unit_test(test_damaged_metadata_is_refused_naming_the_file),
	    cmocka_unit_test(test_metadata_chain_round_trip),
	    cmocka_unit_test(test_incremental_files_are_shared_then_released),
	    cmocka_unit_test(test_metadata_values_out_of_range_are_refused),
	    cmocka_unit_test_setup_teardown(test_reading_a_missing_checkpoint_says_so, make_dir,
					    remove_dir),
	    cmocka_unit_test_setup_teardown(
		test_a_checkpoint_completes_when_every_task_acknowledged, make_dir, remove_dir),
	    cmocka_unit_test_setup_teardown(
		test_a_checkpoint_due_now_is_due_now_on_a_young_clock, make_dir, remove_dir),
	    cmocka_unit_test_setup_teardown(test_one_checkpoint_at_a_time_and_min_pause, make_dir,
					    remove_dir),
	    cmocka_unit_test_setup_teardown(test_failures_count_until_the_tolerable_number,
					    make_dir, remove_dir),
	    cmocka_unit_test_setup_teardown(test_late_state_files_do_not_keep_an_aborted_checkpoint,
					    make_dir, remove_dir),
	    cmocka_unit_test_setup_teardown(test_the_count_starts_over_once_it_failed_the_job,
					    make_dir, remove_dir),
	    cmocka_unit_test_setup_teardown(test_a_checkpoint_expires_after_its_timeout, make_dir,
					    remove_dir),
	    cmocka_unit_test_setup_teardown(test_savepoints_go_to_their_own_directory_and_stay,
					    make_dir, remove_dir),
	    cmocka_unit_test_setup_teardown(test_retained_checkpoints_survive_a_failed_job,
					    make_dir, remove_dir),
	    cmocka_unit_test_setup_teardown(test_without_a_directory_nothing_is_triggered, make_dir,
					    remove_dir),
	    cmocka_unit_test_setup_teardown(
		test_a_directory_that_cannot_be_created_is_a_failed_checkpoint, make_dir,
		remove_dir),
	    cmocka_unit_test(test_config_reads_flink_keys_and_refuses_remote_schemes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
