/*
 * spawn — a job whose main() starts a process before it builds its
 * dataflow, as a user's job may (a helper, a shell command):
 *
 *   spawn.so COMMAND
 *
 * runs COMMAND with /bin/sh (system()), then a generator of 10 rows into a
 * discard sink. It shows what a process started by a job inherits from
 * the client: signal dispositions, descriptors.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <flinc/flinc.h>

int spawn_gen(fl_ctx *ctx, int64_t offset, fl_row *out)
{
	return fl_row_add_int64(out, offset);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: spawn.so COMMAND\n");
		return 2;
	}
	if (system(argv[1]) != 0) {
		fprintf(stderr, "spawn: '%s' failed\n", argv[1]);
		return 1;
	}
	fl_env *env = fl_env_new(argc, argv);
	if (!env)
		return 1;
	fl_discard(fl_generator(env, 10, 0, spawn_gen));
	int rc = fl_execute(env, "Spawn");
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
