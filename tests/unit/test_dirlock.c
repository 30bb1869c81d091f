/* test_dirlock.c — claimed working directories (runtime/common/dirlock.h):
 * a directory whose claiming process died is reaped, a live claim (even
 * this process's own) and everything unclaimed or unnamed are left, links
 * are never followed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <flinc/flinc.h>

#include "common/dirlock.h"

static char g_root[4096];

static int setup(void **state)
{
	(void)state;
	const char *t = getenv("TMPDIR");
	snprintf(g_root, sizeof(g_root), "%s/test_dirlock-XXXXXX", t && *t ? t : "/tmp");
	return mkdtemp(g_root) ? 0 : -1;
}

/* dir/name into p (size n); a path that does not fit fails the test. */
static void join(char *p, size_t n, const char *dir, const char *name)
{
	int len = snprintf(p, n, "%s/%s", dir, name);
	assert_true(len >= 0 && (size_t)len < n);
}

static void touch(const char *dir, const char *name)
{
	char p[4200];
	join(p, sizeof(p), dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs("x", f);
	fclose(f);
}

static bool exists(const char *dir, const char *name)
{
	char p[4200];
	struct stat st;
	join(p, sizeof(p), dir, name);
	return lstat(p, &st) == 0;
}

static void make(const char *name, char *out)
{
	join(out, 4200, g_root, name);
	assert_int_equal(mkdir(out, 0700), 0);
}

/* A child claims dir and is killed with SIGKILL. */
static void claim_in_child_and_kill(const char *dir)
{
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		cm_err err = {0};
		int fd;
		char ok = cm_dir_claim(dir, &fd, &err) == 0 ? 'y' : 'n';
		(void)!write(pipefd[1], &ok, 1);
		for (;;)
			pause(); /* until killed, whatever signal handlers return */
	}
	char ok = 0;
	assert_int_equal(read(pipefd[0], &ok, 1), 1);
	assert_int_equal(ok, 'y');
	/* While it lives, its directory stays. */
	const char *base = strrchr(dir, '/') + 1;
	assert_int_equal(cm_dir_reap(g_root, base), 0);
	assert_true(exists(dir, ".lock"));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(pipefd[0]);
	close(pipefd[1]);
}

static void test_a_dead_claimants_directory_is_reaped(void **state)
{
	(void)state;
	char dead[4200], live[4200], unclaimed[4200], other[4200];
	make("flinc-x-dead", dead);
	touch(dead, "data.mdb");
	claim_in_child_and_kill(dead);
	make("flinc-x-live", live);
	int fd;
	cm_err err = {0};
	assert_int_equal(cm_dir_claim(live, &fd, &err), 0);
	make("flinc-x-unclaimed", unclaimed);
	make("other-dead", other);
	claim_in_child_and_kill(other); /* not the prefix asked for */
	assert_int_equal(cm_dir_reap(g_root, "flinc-x-"), 1);
	assert_false(exists(g_root, "flinc-x-dead"));
	assert_true(exists(live, ".lock"));
	assert_true(exists(g_root, "flinc-x-unclaimed"));
	assert_true(exists(other, ".lock"));
	/* Released: the next reap takes it. */
	close(fd);
	assert_int_equal(cm_dir_reap(g_root, "flinc-x-"), 1);
	assert_false(exists(g_root, "flinc-x-live"));
	rmdir(unclaimed);
	char p[8500];
	join(p, sizeof(p), other, ".lock");
	unlink(p);
	rmdir(other);
}

/* A link named like a directory to reap is not followed; a reaped
 * directory's links are removed, not their targets. */
static void test_links_are_never_followed(void **state)
{
	(void)state;
	char target[4200], dead[4200], p[8500];
	make("target", target);
	touch(target, "keep");
	join(p, sizeof(p), g_root, "flinc-x-link");
	assert_int_equal(symlink(target, p), 0);
	make("flinc-x-dead2", dead);
	join(p, sizeof(p), dead, "link-to-target");
	assert_int_equal(symlink(target, p), 0);
	claim_in_child_and_kill(dead);
	assert_int_equal(cm_dir_reap(g_root, "flinc-x-"), 1);
	assert_false(exists(g_root, "flinc-x-dead2"));
	assert_true(exists(target, "keep"));
	assert_true(exists(g_root, "flinc-x-link"));
	join(p, sizeof(p), g_root, "flinc-x-link");
	unlink(p);
	join(p, sizeof(p), target, "keep");
	unlink(p);
	rmdir(target);
}

static void test_claim_errors_name_the_path(void **state)
{
	(void)state;
	cm_err err = {0};
	int fd;
	assert_true(cm_dir_claim("/nonexistent/flinc-x", &fd, &err) < 0);
	assert_non_null(strstr(err.msg, "/nonexistent/flinc-x"));
	assert_int_equal(cm_dir_reap("/nonexistent", "flinc-x-"), 0);
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(g_root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_dead_claimants_directory_is_reaped),
	    cmocka_unit_test(test_links_are_never_followed),
	    cmocka_unit_test(test_claim_errors_name_the_path),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
