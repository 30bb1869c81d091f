/*
 * socket_lines — the lines of a socket, as they came.
 *
 *   socket_lines.so HOST PORT MAX_RETRY [--parallelism N] [--output DIR]
 *
 * fl_socket_text(HOST, PORT, MAX_RETRY) → the text sink (DIR) or print, both
 * at parallelism 1 so the lines keep their order. --parallelism N sets the
 * socket source's parallelism (anything but 1 is refused when the graph is
 * built).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: socket_lines.so HOST PORT MAX_RETRY [--parallelism N] "
				"[--output DIR]\n");
		return 2;
	}
	const char *output = NULL;
	int par = 0;
	for (int i = 4; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--parallelism") == 0)
			par = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--output") == 0)
			output = argv[i + 1];
	}
	fl_env *env = fl_env_new(argc, argv);
	if (!env)
		return 1;
	fl_stream *s = fl_socket_text(env, argv[1], atoi(argv[2]), atoll(argv[3]));
	if (par)
		s = fl_set_parallelism(s, par);
	if (output)
		fl_set_parallelism(fl_write_text(s, output), 1);
	else
		fl_set_parallelism(fl_print(s), 1);
	int rc = fl_execute(env, "SocketLines");
	if (rc)
		fprintf(stderr, "socket_lines: %s\n", fl_env_error(env));
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
