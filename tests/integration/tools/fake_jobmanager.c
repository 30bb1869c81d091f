/*
 * fake_jobmanager — tests/support/fakejm.h as a process, for the client's
 * integration tests:
 *
 *   fake_jobmanager --port-file FILE [--mode normal|silent|garbage|huge|refuse|down]
 *                   [--states S1,S2,...] [--exception TEXT]
 *
 * Serves on 127.0.0.1 at a free port, written to FILE once it listens;
 * on SIGTERM or SIGINT prints every request it saw ("METHOD TARGET" lines)
 * on stdout and exits 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakejm.h"

int main(int argc, char **argv)
{
	fakejm_options o = {0};
	const char *port_file = NULL;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port-file") == 0) {
			port_file = argv[i + 1];
		} else if (strcmp(argv[i], "--mode") == 0) {
			if (fakejm_mode_parse(argv[i + 1], &o.mode) != 0) {
				fprintf(stderr, "fake_jobmanager: unknown mode '%s'\n",
					argv[i + 1]);
				return 2;
			}
		} else if (strcmp(argv[i], "--states") == 0) {
			o.states = argv[i + 1];
		} else if (strcmp(argv[i], "--exception") == 0) {
			o.exception = argv[i + 1];
		} else {
			fprintf(stderr, "fake_jobmanager: unknown option '%s'\n", argv[i]);
			return 2;
		}
	}
	if (!port_file) {
		fprintf(stderr,
			"usage: fake_jobmanager --port-file FILE [--mode M] [--states S,...]\n");
		return 2;
	}
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	fakejm *f;
	if (fakejm_start(&o, &f) != 0) {
		perror("fake_jobmanager: cannot listen");
		return 1;
	}
	/* Written whole, then renamed: a reader never sees half a number. */
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
	FILE *pf = fopen(tmp, "w");
	if (!pf || fprintf(pf, "%d\n", fakejm_port(f)) < 0 || fclose(pf) != 0 ||
	    rename(tmp, port_file) != 0) {
		perror("fake_jobmanager: cannot write the port file");
		fakejm_stop(f);
		return 1;
	}
	int sig;
	sigwait(&sigs, &sig);
	char *reqs = fakejm_requests(f);
	fputs(reqs ? reqs : "", stdout);
	free(reqs);
	fakejm_stop(f);
	return 0;
}
