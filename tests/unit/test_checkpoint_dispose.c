/*
 * Savepoint disposal (cp_dispose): a savepoint the coordinator completed is
 * removed with its directory; files flinc did not write stay, and so does
 * the directory holding them; a damaged or foreign _metadata, one naming a
 * state file outside its directory, a directory without _metadata, a path
 * that does not exist and a non-local URI are refused, naming the path,
 * with nothing deleted; no symbolic link is followed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <flinc/flinc.h>

#include "checkpoint/coordinator.h"
#include "checkpoint/dispose.h"
#include "checkpoint/metadata.h"

#define JOB "0123456789abcdef0123456789abcdef"

static char g_dir[256];

static int make_dir(void **state)
{
	(void)state;
	snprintf(g_dir, sizeof(g_dir), "%s/flinc-dispose-XXXXXX",
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

static bool exists(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool exists(const char *fmt, ...)
{
	char p[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p, sizeof(p), fmt, ap);
	va_end(ap);
	struct stat st;
	return lstat(p, &st) == 0;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char p[1200];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void make_subdir(const char *dir, const char *name)
{
	char p[1200];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(mkdir(p, 0755), 0);
}

/* The error names what (a path) and says why. */
static void says(const cm_err *err, const char *what, const char *why)
{
	if (!strstr(err->msg, what) || !strstr(err->msg, why))
		fail_msg("'%s' does not name '%s' and say '%s'", err->msg, what, why);
}

/* A keyed subtask state naming file. */
static cp_op_state keyed(const char *uid, int subtask, const char *file)
{
	cp_op_state s = {.subtask = subtask,
			 .parallelism = 2,
			 .max_parallelism = 128,
			 .kg_first = subtask * 64,
			 .kg_last = subtask * 64 + 63,
			 .keyed_bytes = 5};
	s.uid = strdup(uid);
	s.keyed_file = file ? strdup(file) : NULL;
	assert_non_null(s.uid);
	assert_true(!file || s.keyed_file);
	return s;
}

/* A savepoint as a job takes one: the coordinator triggers it into
 * <g_dir>/sps, both tasks write their state file and acknowledge. Its
 * directory in dir. */
static void take_savepoint(char dir[1100])
{
	cp_config c = {.timeout_ms = 60000, .max_concurrent = 1, .num_retained = 1};
	snprintf(c.savepoint_dir, sizeof(c.savepoint_dir), "%s/sps", g_dir);
	cp_coordinator *cp;
	assert_int_equal(cp_new(&c, JOB, 2, &cp), 0);
	uint64_t id;
	cm_err err = {0};
	assert_int_equal(cp_trigger(cp, 0, CP_SAVEPOINT, NULL, &id, dir, 1100, &err), 0);
	for (int t = 0; t < 2; t++) {
		char name[32];
		snprintf(name, sizeof(name), "sums-%d.state", t);
		write_file(dir, name, "FLSTATE...");
		cp_op_state s = keyed("sums", t, name);
		bool fail;
		assert_int_equal(cp_ack(cp, id, (size_t)t, &s, 1, 10, &fail, &err),
				 t ? CP_ACK_COMPLETED : CP_ACK_PENDING);
	}
	assert_true(exists("%s/_metadata", dir));
	/* Savepoints outlive their job's coordinator. */
	cp_free(cp);
}

/* Writes dir/_metadata naming the given state files (NULL-terminated). */
static void write_metadata(const char *dir, const char *const *files)
{
	cp_metadata m = {.id = 3, .timestamp_ms = 1764400000000, .kind = CP_SAVEPOINT};
	snprintf(m.job_id, sizeof(m.job_id), "%s", JOB);
	size_t n = 0;
	while (files[n])
		n++;
	m.states = calloc(n, sizeof(cp_op_state));
	assert_non_null(m.states);
	for (size_t i = 0; i < n; i++)
		m.states[i] = keyed("sums", (int)i % 2, files[i]);
	m.nstates = n;
	cm_err err = {0};
	assert_int_equal(cp_metadata_write(dir, &m, &err), 0);
	cp_metadata_fini(&m);
}

static void test_a_savepoint_is_removed_with_its_directory(void **st)
{
	(void)st;
	char sp[1100];
	take_savepoint(sp);
	/* A task's file whose acknowledgement never counted goes too. */
	write_file(sp, "sums-7.state", "late");
	cm_err err = {0};
	assert_int_equal(cp_dispose(sp, &err), 0);
	assert_false(exists("%s", sp));
	/* Its parent is not the savepoint's. */
	assert_true(exists("%s/sps", g_dir));
}

static void test_the_metadata_file_and_file_uris_name_the_savepoint(void **st)
{
	(void)st;
	char sp[1100], p[1200];
	take_savepoint(sp);
	snprintf(p, sizeof(p), "%s/_metadata", sp);
	cm_err err = {0};
	assert_int_equal(cp_dispose(p, &err), 0);
	assert_false(exists("%s", sp));

	take_savepoint(sp);
	snprintf(p, sizeof(p), "file://%s", sp);
	assert_int_equal(cp_dispose(p, &err), 0);
	assert_false(exists("%s", sp));

	/* As Flink prints a savepoint's location. */
	take_savepoint(sp);
	snprintf(p, sizeof(p), "file:%s/", sp);
	assert_int_equal(cp_dispose(p, &err), 0);
	assert_false(exists("%s", sp));
}

static void test_files_flinc_did_not_write_stay_with_the_directory(void **st)
{
	(void)st;
	char sp[1100];
	take_savepoint(sp);
	write_file(sp, "notes.txt", "mine");
	make_subdir(sp, "keep.state"); /* a directory, whatever its name */
	write_file(sp, "keep.state/inside.state", "mine too");
	cm_err err = {0};
	assert_int_equal(cp_dispose(sp, &err), 0);
	assert_false(exists("%s/_metadata", sp));
	assert_false(exists("%s/sums-0.state", sp));
	assert_false(exists("%s/sums-1.state", sp));
	assert_true(exists("%s/notes.txt", sp));
	assert_true(exists("%s/keep.state/inside.state", sp));
}

static void test_corrupt_metadata_is_refused_and_nothing_deleted(void **st)
{
	(void)st;
	char sp[1100], p[1200];
	take_savepoint(sp);
	/* One byte of its content changed: the checksum no longer matches. */
	snprintf(p, sizeof(p), "%s/_metadata", sp);
	FILE *f = fopen(p, "r+");
	assert_non_null(f);
	assert_int_equal(fseek(f, 20, SEEK_SET), 0);
	int c = fgetc(f);
	assert_int_equal(fseek(f, 20, SEEK_SET), 0);
	fputc(c ^ 0x5a, f);
	assert_int_equal(fclose(f), 0);
	cm_err err = {0};
	assert_int_equal(cp_dispose(sp, &err), FL_EPROTO);
	says(&err, sp, "corrupt");
	says(&err, sp, "nothing was deleted");
	assert_true(exists("%s/_metadata", sp));
	assert_true(exists("%s/sums-0.state", sp));
	assert_true(exists("%s/sums-1.state", sp));

	/* Another program's file of that name. */
	write_file(sp, "_metadata", "{\"checkpointId\": 3}\n");
	cm_err err2 = {0};
	assert_int_equal(cp_dispose(sp, &err2), FL_EPROTO);
	says(&err2, sp, "not a flinc checkpoint metadata file");
	assert_true(exists("%s/sums-0.state", sp));
}

static void test_a_directory_without_metadata_is_refused(void **st)
{
	(void)st;
	char d[1100];
	snprintf(d, sizeof(d), "%s/home", g_dir);
	make_subdir(g_dir, "home");
	write_file(d, "precious.state", "not a savepoint's");
	cm_err err = {0};
	assert_int_equal(cp_dispose(d, &err), FL_ENOENT);
	says(&err, d, "no _metadata");
	assert_true(exists("%s/precious.state", d));
	/* A file that is not a _metadata file. */
	char p[1200];
	snprintf(p, sizeof(p), "%s/precious.state", d);
	cm_err err2 = {0};
	assert_int_equal(cp_dispose(p, &err2), FL_EINVAL);
	says(&err2, p, "neither a savepoint directory nor its _metadata");
	assert_true(exists("%s", p));
}

static void test_missing_paths_and_other_schemes_are_refused(void **st)
{
	(void)st;
	char p[1200];
	snprintf(p, sizeof(p), "%s/savepoint-gone", g_dir);
	cm_err err = {0};
	assert_int_equal(cp_dispose(p, &err), FL_ENOENT);
	says(&err, p, "No such file or directory");
	cm_err e2 = {0}, e3 = {0}, e4 = {0}, e5 = {0};
	assert_int_equal(cp_dispose("s3://bucket/savepoint-1", &e2), FL_EINVAL);
	says(&e2, "s3://bucket/savepoint-1", "not a local path");
	assert_int_equal(cp_dispose("", &e3), FL_EINVAL);
	says(&e3, "dispose", "no path given");
	assert_int_equal(cp_dispose(NULL, &e4), FL_EINVAL);
	assert_int_equal(cp_dispose("file://host/savepoint-1", &e5), FL_EINVAL);
	says(&e5, "file://host/savepoint-1", "absolute path");
	/* A path from a REST client cannot forge a log line. */
	char forged[1300];
	snprintf(forged, sizeof(forged), "%s/x\n2026-11-30 ERROR fake\x1b[2J", g_dir);
	cm_err e6 = {0};
	assert_int_equal(cp_dispose(forged, &e6), FL_ENOENT);
	says(&e6, "/x?2026-11-30 ERROR fake?[2J'", "No such file");
	assert_null(strchr(e6.msg, '\n'));
	assert_null(strchr(e6.msg, '\x1b'));
}

static void test_state_files_outside_the_directory_are_refused(void **st)
{
	(void)st;
	char d[1100];
	snprintf(d, sizeof(d), "%s/sp", g_dir);
	make_subdir(g_dir, "sp");
	make_subdir(d, "sub");
	write_file(d, "sub/x.state", "x");
	write_file(g_dir, "victim.state", "outside");
	/* The reader takes "sub/x.state" (relative, no ".."); flinc never
	 * writes it, and it could cross a symbolic link: refused. */
	write_metadata(d, (const char *const[]){"a.state", "sub/x.state", NULL});
	write_file(d, "a.state", "a");
	cm_err err = {0};
	assert_int_equal(cp_dispose(d, &err), FL_EPROTO);
	says(&err, d, "sub/x.state");
	assert_true(exists("%s/a.state", d));
	assert_true(exists("%s/sub/x.state", d));
	assert_true(exists("%s/_metadata", d));
	/* "..": the reader refuses it. */
	write_metadata(d, (const char *const[]){"../victim.state", NULL});
	cm_err err2 = {0};
	assert_int_equal(cp_dispose(d, &err2), FL_EPROTO);
	says(&err2, d, "not a relative path inside the checkpoint");
	assert_true(exists("%s/victim.state", g_dir));
	assert_true(exists("%s/a.state", d));
}

static void test_symbolic_links_are_removed_never_followed(void **st)
{
	(void)st;
	char d[1100], target[1200], link[1200];
	snprintf(d, sizeof(d), "%s/sp", g_dir);
	make_subdir(g_dir, "sp");
	write_file(g_dir, "victim.state", "outside");
	snprintf(target, sizeof(target), "%s/victim.state", g_dir);
	snprintf(link, sizeof(link), "%s/a.state", d);
	assert_int_equal(symlink(target, link), 0);
	write_metadata(d, (const char *const[]){"a.state", NULL});
	cm_err err = {0};
	assert_int_equal(cp_dispose(d, &err), 0);
	assert_false(exists("%s", d));
	assert_true(exists("%s", target));

	/* A _metadata that is a link to a real one elsewhere: refused. */
	char real[1100], meta[1200];
	take_savepoint(real);
	make_subdir(g_dir, "sp2");
	snprintf(d, sizeof(d), "%s/sp2", g_dir);
	snprintf(meta, sizeof(meta), "%s/_metadata", real);
	snprintf(link, sizeof(link), "%s/_metadata", d);
	assert_int_equal(symlink(meta, link), 0);
	cm_err err2 = {0};
	assert_int_equal(cp_dispose(d, &err2), FL_EPROTO);
	says(&err2, d, "symbolic link");
	assert_true(exists("%s/sums-0.state", real));
	assert_true(exists("%s/_metadata", real));

	/* The savepoint's own path may be a link: its target is disposed. */
	snprintf(link, sizeof(link), "%s/latest", g_dir);
	assert_int_equal(symlink(real, link), 0);
	cm_err err3 = {0};
	assert_int_equal(cp_dispose(link, &err3), 0);
	assert_false(exists("%s", real));
}

static void test_a_disposal_interrupted_before_finishes_when_repeated(void **st)
{
	(void)st;
	char sp[1100];
	take_savepoint(sp);
	/* One state file already gone (a disposal stopped half-way). */
	char p[1200];
	snprintf(p, sizeof(p), "%s/sums-0.state", sp);
	assert_int_equal(unlink(p), 0);
	cm_err err = {0};
	assert_int_equal(cp_dispose(sp, &err), 0);
	assert_false(exists("%s", sp));
}

/* cp_dispose(path) as a user who may not write into the savepoint's
 * directory: this process when it is not root (the directory made
 * read-only), else a child turned into nobody. */
static int dispose_without_write_access(const char *path, cm_err *err)
{
	if (geteuid() != 0) {
		assert_int_equal(chmod(path, 0555), 0);
		int rc = cp_dispose(path, err);
		assert_int_equal(chmod(path, 0755), 0);
		return rc;
	}
	/* nobody must reach the directory, not write into it. */
	assert_int_equal(chmod(g_dir, 0755), 0);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		cm_err e = {0};
		int rc = setgid(65534) == 0 && setuid(65534) == 0 ? cp_dispose(path, &e) : 1;
		ssize_t w = write(fds[1], &rc, sizeof(rc)) + write(fds[1], e.msg, sizeof(e.msg));
		_exit(w == (ssize_t)(sizeof(rc) + sizeof(e.msg)) ? 0 : 2);
	}
	close(fds[1]);
	int rc = 1, status = 0;
	assert_int_equal(read(fds[0], &rc, sizeof(rc)), sizeof(rc));
	assert_int_equal(read(fds[0], err->msg, sizeof(err->msg)), sizeof(err->msg));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return rc;
}

static void test_a_file_that_cannot_be_removed_keeps_the_metadata(void **st)
{
	(void)st;
	char sp[1100];
	take_savepoint(sp);
	cm_err err = {0};
	assert_int_equal(dispose_without_write_access(sp, &err), FL_EIO);
	says(&err, sp, "_metadata kept");
	says(&err, sp, "Permission denied");
	assert_true(exists("%s/_metadata", sp));
	assert_true(exists("%s/sums-0.state", sp));
	/* Once it may: disposing again finishes it. */
	cm_err err2 = {0};
	assert_int_equal(cp_dispose(sp, &err2), 0);
	assert_false(exists("%s", sp));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, make_dir, remove_dir)
	const struct CMUnitTest tests[] = {
	    T(test_a_savepoint_is_removed_with_its_directory),
	    T(test_the_metadata_file_and_file_uris_name_the_savepoint),
	    T(test_files_flinc_did_not_write_stay_with_the_directory),
	    T(test_corrupt_metadata_is_refused_and_nothing_deleted),
	    T(test_a_directory_without_metadata_is_refused),
	    T(test_missing_paths_and_other_schemes_are_refused),
	    T(test_state_files_outside_the_directory_are_refused),
	    T(test_symbolic_links_are_removed_never_followed),
	    T(test_a_disposal_interrupted_before_finishes_when_repeated),
	    T(test_a_file_that_cannot_be_removed_keeps_the_metadata),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
