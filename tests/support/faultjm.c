/*
 * faultjm.c — a fault-injecting HTTP server for the client's tests
 * (integration.remote_client): the replies a real flinc-jobmanager does not
 * give on demand. Everything else the client does is tested against a real
 * session cluster (tests/integration/cluster.sh); this is no JobManager and
 * knows no job.
 *
 *   faultjm --port-file FILE --fault html|huge|503|shape [--upstream PORT]
 *           [--match TEXT] [--off]
 *
 * Faults, and why a real JobManager cannot produce them when a test wants:
 *   html   200 with an HTML page: another web server on the JobManager's
 *          port. A JobManager answers JSON only.
 *   huge   200 with 17 MiB of JSON (blanks, chunked, no length): more than
 *          the client reads (CL_MAX_REPLY, 16 MiB). A JobManager's replies
 *          are small; making one that large would take ~100000 jobs.
 *   503    503 Service Unavailable with no body: a proxy in front of the
 *          JobManager, or a JobManager overloaded (it sends 503 only with
 *          REST_MAX_CALLS requests in flight, or while it stops).
 *   shape  200 with JSON of the wrong shape for the path (upload without
 *          "filename", a "jobid" that is no job id, "jobs" that is no
 *          array, a job whose "jid" is a number, exceptions without
 *          entries, and a JSON array for anything else): another
 *          server, or another version, speaking JSON. A JobManager
 *          answers with the shapes the client reads.
 *
 * Without --upstream every request gets the fault. With --upstream PORT it
 * is a reverse proxy to the JobManager at 127.0.0.1:PORT: requests are
 * forwarded (one per connection, "Connection: close" both ways) and the
 * fault is injected in their place while it is on. --match TEXT limits the
 * fault to requests whose target contains TEXT. The fault starts on,
 * unless --off; SIGUSR1 turns it on, SIGUSR2 off, so that a test injects
 * it at the moment it wants (after a job was submitted, say).
 *
 * Serves on 127.0.0.1 at a free port, written to FILE once it listens; on
 * SIGTERM or SIGINT prints every request it saw ("METHOD TARGET -> fault"
 * or "-> HTTP N" from upstream) on stdout and exits 0. One connection at a
 * time, on one thread. Test input only: requests are capped at 64 MiB and
 * a peer silent for 10 s is dropped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_REQUEST ((size_t)64 << 20)
#define MAX_REPLY ((size_t)64 << 20)
#define IO_TIMEOUT_MS 10000

enum fault { F_HTML, F_HUGE, F_503, F_SHAPE };

static struct {
	enum fault fault;
	int upstream; /* 0: none */
	const char *match;
	int listen_fd;
	pthread_mutex_t mu;
	bool on;   /* under mu */
	char *log; /* under mu */
	size_t log_len;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* ------------------------------------------------------------- writing */

static void send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

static void reply(int fd, int status, const char *type, const char *body)
{
	const char *reason = status == 200   ? "OK"
			     : status == 503 ? "Service Unavailable"
					     : "Bad Gateway";
	char head[256];
	size_t len = body ? strlen(body) : 0;
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 status, reason, type, len);
	send_all(fd, head, (size_t)n);
	if (len)
		send_all(fd, body, len);
}

static void reply_huge(int fd)
{
	const char *head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			   "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
	send_all(fd, head, strlen(head));
	static char chunk[65536 + 32];
	int n = snprintf(chunk, sizeof(chunk), "%x\r\n", 65536);
	memset(chunk + n, ' ', 65536);
	memcpy(chunk + n + 65536, "\r\n", 2);
	for (int i = 0; i < 17 * 16; i++)
		send_all(fd, chunk, (size_t)n + 65536 + 2);
	send_all(fd, "0\r\n\r\n", 5);
}

/* JSON of the wrong shape for the path of target. */
static const char *wrong_shape(const char *method, const char *target)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s", target);
	path[strcspn(path, "?")] = '\0';
	size_t n = strlen(path);
	bool post = strcmp(method, "POST") == 0;
	if (post && strcmp(path, "/jars/upload") == 0)
		return "{\"status\": \"success\"}";
	if (post && n > 4 && strcmp(path + n - 4, "/run") == 0)
		return "{\"jobid\": \"not-a-job-id\"}";
	if (strcmp(path, "/jobs/overview") == 0)
		return "{\"jobs\": {\"jid\": \"0123456789abcdef0123456789abcdef\"}}";
	if (n > 11 && strcmp(path + n - 11, "/exceptions") == 0)
		return "{\"exceptionHistory\": \"none\", \"root-exception\": 7}";
	if (strncmp(path, "/jobs/", 6) == 0)
		return "{\"jid\": 42, \"state\": \"RUNNING\"}";
	return "[\"not\", \"an\", \"object\"]";
}

static void inject(int fd, const char *method, const char *target)
{
	switch (g.fault) {
	case F_HTML:
		reply(fd, 200, "text/html", "<html><body>Welcome</body></html>");
		break;
	case F_HUGE:
		reply_huge(fd);
		break;
	case F_503:
		reply(fd, 503, "application/json", NULL);
		break;
	case F_SHAPE:
		reply(fd, 200, "application/json", wrong_shape(method, target));
		break;
	}
}

/* ------------------------------------------------------------ reading */

/* Reads from fd into *buf until a complete HTTP message (headers and
 * Content-Length bytes of body; until EOF when eof_ends and no length) or
 * cap bytes. Returns its length, 0 on failure. */
static size_t read_message(int fd, char **buf, size_t cap, bool eof_ends, size_t *head_out)
{
	size_t have = 65536, len = 0, head = 0, need = 0;
	bool has_len = false;
	char *b = malloc(have + 1);
	if (!b)
		return 0;
	for (;;) {
		if (head && has_len && len >= need)
			break;
		if (len == have) {
			if (have >= cap)
				goto fail;
			char *nb = realloc(b, have * 2 + 1);
			if (!nb)
				goto fail;
			b = nb;
			have *= 2;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, IO_TIMEOUT_MS) <= 0)
			goto fail;
		ssize_t n = recv(fd, b + len, have - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 && head && eof_ends)
			break;
		if (n <= 0)
			goto fail;
		len += (size_t)n;
		b[len] = '\0';
		char *end;
		if (!head && (end = strstr(b, "\r\n\r\n"))) {
			head = (size_t)(end - b) + 4;
			*end = '\0'; /* the headers alone, for the search below */
			const char *cl = strcasestr(b, "\r\nContent-Length:");
			has_len = cl != NULL || !eof_ends;
			need = head + (cl ? strtoul(cl + 17, NULL, 10) : 0);
			*end = '\r';
		}
	}
	*buf = b;
	*head_out = head;
	return len;
fail:
	free(b);
	return 0;
}

/* --------------------------------------------------------- forwarding */

/* Inserts "Connection: close\r\n" after the first line of msg. */
static char *with_close(const char *msg, size_t len, size_t *out_len)
{
	static const char hdr[] = "Connection: close\r\n";
	const char *eol = memchr(msg, '\n', len);
	if (!eol)
		return NULL;
	size_t first = (size_t)(eol - msg) + 1;
	char *o = malloc(len + sizeof(hdr));
	if (!o)
		return NULL;
	memcpy(o, msg, first);
	memcpy(o + first, hdr, sizeof(hdr) - 1);
	memcpy(o + first + sizeof(hdr) - 1, msg + first, len - first);
	*out_len = len + sizeof(hdr) - 1;
	return o;
}

/* Forwards the request to the upstream JobManager and its reply back.
 * Returns the upstream's status, or 502 after answering that itself. */
static int forward(int fd, const char *req, size_t len)
{
	int up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g.upstream)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	size_t mlen = 0;
	char *m = with_close(req, len, &mlen);
	char *rep = NULL;
	size_t head = 0, rlen = 0;
	if (up >= 0 && m && connect(up, (struct sockaddr *)&a, sizeof(a)) == 0) {
		send_all(up, m, mlen);
		rlen = read_message(up, &rep, MAX_REPLY, true, &head);
	}
	free(m);
	if (up >= 0)
		close(up);
	if (rlen == 0) {
		reply(fd, 502, "application/json",
		      "{\"errors\": [\"faultjm: the upstream JobManager did not answer\"]}");
		return 502;
	}
	int status = 0;
	sscanf(rep, "HTTP/%*s %d", &status);
	size_t olen = 0;
	char *o = with_close(rep, rlen, &olen);
	if (o)
		send_all(fd, o, olen);
	free(o);
	free(rep);
	return status;
}

/* ------------------------------------------------------------ serving */

static void record(const char *method, const char *target, const char *what)
{
	pthread_mutex_lock(&g.mu);
	size_t add = strlen(method) + strlen(target) + strlen(what) + 8;
	char *log = realloc(g.log, g.log_len + add);
	if (log) {
		g.log = log;
		g.log_len +=
		    (size_t)sprintf(g.log + g.log_len, "%s %s -> %s\n", method, target, what);
	}
	pthread_mutex_unlock(&g.mu);
}

static void serve(int fd)
{
	char *buf = NULL;
	size_t head = 0;
	size_t len = read_message(fd, &buf, MAX_REQUEST, false, &head);
	if (len == 0) {
		close(fd);
		return;
	}
	char method[16] = "", target[1024] = "";
	sscanf(buf, "%15s %1023s", method, target);
	pthread_mutex_lock(&g.mu);
	bool on = g.on;
	pthread_mutex_unlock(&g.mu);
	bool hit = on && (!g.match || strstr(target, g.match));
	if (hit || !g.upstream) {
		if (hit)
			inject(fd, method, target);
		else
			reply(
			    fd, 502, "application/json",
			    "{\"errors\": [\"faultjm: no fault for this request, no upstream\"]}");
		record(method, target, hit ? "fault" : "HTTP 502");
	} else {
		char what[32];
		snprintf(what, sizeof(what), "HTTP %d", forward(fd, buf, len));
		record(method, target, what);
	}
	free(buf);
	close(fd);
}

static void *server_main(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(g.listen_fd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;
		}
		serve(fd);
	}
}

/* --------------------------------------------------------------- main */

static int usage(void)
{
	fprintf(stderr, "usage: faultjm --port-file FILE --fault html|huge|503|shape "
			"[--upstream PORT] [--match TEXT] [--off]\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *port_file = NULL, *fault = NULL;
	g.on = true;
	for (int i = 1; i < argc; i++) {
		bool has = i + 1 < argc;
		if (strcmp(argv[i], "--off") == 0)
			g.on = false;
		else if (has && strcmp(argv[i], "--port-file") == 0)
			port_file = argv[++i];
		else if (has && strcmp(argv[i], "--fault") == 0)
			fault = argv[++i];
		else if (has && strcmp(argv[i], "--upstream") == 0)
			g.upstream = atoi(argv[++i]);
		else if (has && strcmp(argv[i], "--match") == 0)
			g.match = argv[++i];
		else
			return usage();
	}
	static const char *names[] = {"html", "huge", "503", "shape"};
	int f = -1;
	for (int i = 0; fault && i < 4; i++)
		if (strcmp(fault, names[i]) == 0)
			f = i;
	if (!port_file || f < 0 || g.upstream < 0 || g.upstream > 65535)
		return usage();
	g.fault = (enum fault)f;

	/* Every thread blocks the signals; main takes them with sigwait. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	g.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof(a);
	if (g.listen_fd < 0 ||
	    setsockopt(g.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(g.listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(g.listen_fd, 16) != 0 ||
	    getsockname(g.listen_fd, (struct sockaddr *)&a, &alen) != 0) {
		perror("faultjm: cannot listen");
		return 1;
	}
	pthread_t t;
	if (pthread_create(&t, NULL, server_main, NULL) != 0) {
		fprintf(stderr, "faultjm: cannot start its thread\n");
		return 1;
	}
	/* Written whole, then renamed: a reader never sees half a number. */
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
	FILE *pf = fopen(tmp, "w");
	if (!pf || fprintf(pf, "%d\n", ntohs(a.sin_port)) < 0 || fclose(pf) != 0 ||
	    rename(tmp, port_file) != 0) {
		perror("faultjm: cannot write the port file");
		return 1;
	}
	for (;;) {
		int sig;
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGUSR1 || sig == SIGUSR2) {
			pthread_mutex_lock(&g.mu);
			g.on = sig == SIGUSR1;
			pthread_mutex_unlock(&g.mu);
			continue;
		}
		break;
	}
	/* Wakes accept() with an error; a request being served ends first. */
	shutdown(g.listen_fd, SHUT_RDWR);
	pthread_join(t, NULL);
	close(g.listen_fd);
	pthread_mutex_lock(&g.mu);
	fwrite(g.log ? g.log : "", 1, g.log_len, stdout);
	free(g.log);
	pthread_mutex_unlock(&g.mu);
	return 0;
}
