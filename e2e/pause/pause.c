/*
 * The pod sandbox process of the e2e cluster: containerd runs it as PID 1 of
 * each pod's namespaces (containerd's sandbox_image). It holds the namespaces
 * open, reaps zombies that end up re-parented to it when the pod shares its
 * PID namespace, and exits cleanly on SIGTERM or SIGINT so a pod stops at once.
 * Built static, run FROM scratch: no libc beyond what is linked in.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig)
{
	/* Exit status 0: a stopped sandbox is not a failure. */
	(void) sig;
	_exit(0);
}

static void on_child(int sig)
{
	int saved = errno;

	(void) sig;
	/* Reap every finished child; more than one may be behind one signal. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = saved;
}

static int handle(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sa.sa_flags = SA_RESTART | (sig == SIGCHLD ? SA_NOCLDSTOP : 0);
	sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		puts("flinc-pause 1");
		return 0;
	}
	if (getpid() != 1)
		fputs("flinc-pause: warning: not running as PID 1\n", stderr);
	if (handle(SIGINT, on_stop) != 0 || handle(SIGTERM, on_stop) != 0 ||
	    handle(SIGCHLD, on_child) != 0) {
		perror("flinc-pause: sigaction");
		return 1;
	}
	for (;;)
		pause();
}
