/*
 * line_server — a TCP server on 127.0.0.1 for the socket source's tests.
 *
 *   line_server PORT_FILE HOLD_MS [FILE...]
 *
 * Listens on an ephemeral port of 127.0.0.1 and writes the port number to
 * PORT_FILE (whole, by a rename). For each FILE in turn: accepts one
 * connection, writes the file to it, keeps it open HOLD_MS ms (-1: until
 * the peer closes it) and closes it. The listening socket stays open
 * throughout, so a client that reconnects always finds it; it exits after
 * the last file, or at once without any (the port then refuses
 * connections). Each accept waits at most 120 s. Exit status 0, or 1 with a
 * message on stderr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int die(const char *what)
{
	fprintf(stderr, "line_server: %s: %s\n", what, strerror(errno));
	return 1;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int serve(int cfd, const char *path, long hold_ms)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return die(path);
	char buf[65536];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return die(path);
		}
		if (n == 0)
			break;
		if (write_all(cfd, buf, (size_t)n) != 0) {
			close(fd);
			return die("write");
		}
	}
	close(fd);
	if (hold_ms > 0) {
		struct timespec ts = {.tv_sec = hold_ms / 1000, .tv_nsec = hold_ms % 1000 * 1000000L};
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	} else if (hold_ms < 0) {
		while (read(cfd, buf, sizeof(buf)) > 0)
			;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: line_server PORT_FILE HOLD_MS [FILE...]\n");
		return 2;
	}
	long hold_ms = strtol(argv[2], NULL, 10);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return die("socket");
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 8) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &len) != 0)
		return die("bind");
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%u\n", (unsigned)ntohs(a.sin_port)) < 0 || fclose(f) != 0 ||
	    rename(tmp, argv[1]) != 0)
		return die(argv[1]);
	for (int i = 3; i < argc; i++) {
		struct pollfd p = {.fd = lfd, .events = POLLIN};
		int n = poll(&p, 1, 120000);
		if (n <= 0) {
			fprintf(stderr, "line_server: no connection for %s within 120 s\n", argv[i]);
			return 1;
		}
		int cfd = accept(lfd, NULL, NULL);
		if (cfd < 0)
			return die("accept");
		int rc = serve(cfd, argv[i], hold_ms);
		close(cfd);
		if (rc)
			return rc;
	}
	close(lfd);
	return 0;
}
