/*
 * fakejm.c — a fake JobManager for the client's tests (fakejm.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakejm.h"

#define MAX_REQUEST ((size_t)64 << 20)
#define MAX_HELD 64

struct fakejm {
	fakejm_options o;
	char *states;
	int listen_fd;
	int port;
	pthread_t thread;
	pthread_mutex_t mu;
	bool stop;
	/* Under mu: */
	char *log;
	size_t log_len;
	struct last {
		char *method, *target, *body;
	} * reqs;
	size_t nreqs;
	/* The server thread's own: */
	int held[MAX_HELD];
	size_t nheld;
	int uploads;
	char jar[256];
	bool running, cancelled;
	int polls, cancel_polls;
};

int fakejm_mode_parse(const char *s, fakejm_mode *out)
{
	static const char *names[] = {"normal", "silent", "garbage", "huge", "refuse", "down"};
	for (int i = 0; i < 6; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (fakejm_mode)i;
			return 0;
		}
	}
	return -1;
}

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

static void reply(int fd, int status, const char *body)
{
	const char *reason = status == 200   ? "OK"
			     : status == 202 ? "Accepted"
			     : status == 400 ? "Bad Request"
			     : status == 404 ? "Not Found"
			     : status == 503 ? "Service Unavailable"
					     : "Status";
	char head[256];
	size_t len = body ? strlen(body) : 0;
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=UTF-8\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, reason, len);
	send_all(fd, head, (size_t)n);
	if (len)
		send_all(fd, body, len);
}

static void reply_fmt(int fd, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply_fmt(int fd, int status, const char *fmt, ...)
{
	char body[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	reply(fd, status, body);
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
	/* 17 MiB of blanks: more than the client reads. */
	for (int i = 0; i < 17 * 16; i++)
		send_all(fd, chunk, (size_t)n + 65536 + 2);
	send_all(fd, "0\r\n\r\n", 5);
}

/* ------------------------------------------------------------ the job */

/* The state of the next poll. */
static const char *next_state(fakejm *f, char *buf, size_t cap)
{
	if (f->cancelled)
		return f->cancel_polls++ == 0 ? "CANCELLING" : "CANCELED";
	const char *p = f->states;
	for (int i = 0; i < f->polls; i++) {
		const char *c = strchr(p, ',');
		if (!c)
			break;
		p = c + 1;
	}
	size_t n = strcspn(p, ",");
	snprintf(buf, cap, "%.*s", (int)n, p);
	f->polls++;
	return buf;
}

static void reply_job(fakejm *f, int fd)
{
	char sb[32];
	const char *state = next_state(f, sb, sizeof(sb));
	bool over = strcmp(state, "FINISHED") == 0 || strcmp(state, "FAILED") == 0 ||
		    strcmp(state, "CANCELED") == 0;
	long long n = 1000LL * f->polls;
	reply_fmt(fd, 200,
		  "{\"jid\": \"%s\", \"name\": \"Fake WordCount\", \"isStoppable\": false, "
		  "\"state\": \"%s\", \"start-time\": 1700000000000, \"end-time\": %s, "
		  "\"duration\": %d, \"now\": 1700000009000, \"vertices\": ["
		  "{\"id\": \"a1\", \"name\": \"Source: Words\", \"parallelism\": 1, "
		  "\"metrics\": {\"read-records\": 0, \"write-records\": %lld}},"
		  "{\"id\": \"b2\", \"name\": \"Count\", \"parallelism\": 2, "
		  "\"metrics\": {\"read-records\": %lld, \"write-records\": %lld}},"
		  "{\"id\": \"c3\", \"name\": \"Sink: Print\", \"parallelism\": 1, "
		  "\"metrics\": {\"read-records\": %lld, \"write-records\": 0}}],"
		  "\"plan\": {\"jid\": \"%s\", \"name\": \"Fake WordCount\", \"nodes\": ["
		  "{\"id\": \"a1\"}, {\"id\": \"b2\", \"inputs\": [{\"num\": 0, \"id\": \"a1\"}]},"
		  "{\"id\": \"c3\", \"inputs\": [{\"num\": 0, \"id\": \"b2\"}]}]}}",
		  FAKEJM_JOB_ID, state, over ? "1700000009000" : "-1", over ? 9000 : 100 * f->polls,
		  n, n, n, n, FAKEJM_JOB_ID);
}

static void reply_overview(fakejm *f, int fd)
{
	char run[512] = "";
	if (f->running)
		snprintf(run, sizeof(run),
			 "{\"jid\": \"%s\", \"name\": \"Fake WordCount\", \"state\": \"%s\", "
			 "\"start-time\": 1700000000000, \"end-time\": -1, \"duration\": 5000, "
			 "\"last-modification\": 1700000000000, \"tasks\": {\"total\": 3}},",
			 FAKEJM_JOB_ID, f->cancelled ? "CANCELED" : "RUNNING");
	reply_fmt(fd, 200,
		  "{\"jobs\": [%s{\"jid\": \"%s\", \"name\": \"Done Job\", \"state\": "
		  "\"FINISHED\", \"start-time\": 1600000000000, \"end-time\": 1600000001000, "
		  "\"duration\": 1000}]}",
		  run, FAKEJM_DONE_ID);
}

/* The filename of the multipart part named jarfile, into out. */
static bool upload_filename(const char *body, size_t len, char *out, size_t cap)
{
	const char *name = memmem(body, len, "name=\"jarfile\"", 14);
	if (!name)
		return false;
	const char *fn = memmem(name, len - (size_t)(name - body), "filename=\"", 10);
	if (!fn)
		return false;
	fn += 10;
	const char *end = memchr(fn, '"', len - (size_t)(fn - body));
	if (!end || (size_t)(end - fn) >= cap || end == fn)
		return false;
	memcpy(out, fn, (size_t)(end - fn));
	out[end - fn] = '\0';
	return true;
}

static void route(fakejm *f, int fd, const char *method, const char *target, const char *body,
		  size_t blen)
{
	pthread_mutex_lock(&f->mu);
	fakejm_mode mode = f->o.mode;
	pthread_mutex_unlock(&f->mu);
	switch (mode) {
	case FAKEJM_GARBAGE: {
		const char *page = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
				   "Content-Length: 33\r\nConnection: close\r\n\r\n"
				   "<html><body>Welcome</body></html>";
		send_all(fd, page, strlen(page));
		return;
	}
	case FAKEJM_HUGE:
		reply_huge(fd);
		return;
	case FAKEJM_REFUSE:
		reply(fd, 400, "{\"errors\": [\"refused by the fake\", \"second line\"]}");
		return;
	case FAKEJM_DOWN:
		reply(fd, 503, NULL);
		return;
	default:
		break;
	}
	char path[1024];
	snprintf(path, sizeof(path), "%s", target);
	char *q = strchr(path, '?');
	const char *query = "";
	if (q) {
		*q = '\0';
		query = q + 1;
	}
	char jar[200];
	if (strcmp(method, "POST") == 0 && strcmp(path, "/jars/upload") == 0) {
		if (!upload_filename(body, blen, jar, sizeof(jar))) {
			reply(fd, 400,
			      "{\"errors\": [\"Exactly 1 file must be sent, received 0.\"]}");
			return;
		}
		snprintf(f->jar, sizeof(f->jar), "%d_%s", ++f->uploads, jar);
		reply_fmt(fd, 200, "{\"filename\": \"/tmp/fakejm/%s\", \"status\": \"success\"}",
			  f->jar);
		return;
	}
	char want[300];
	snprintf(want, sizeof(want), "/jars/%s/run", f->jar);
	if (strcmp(method, "POST") == 0 && strncmp(path, "/jars/", 6) == 0) {
		if (!f->jar[0] || strcmp(path, want) != 0) {
			reply_fmt(fd, 404, "{\"errors\": [\"Jar file %s does not exist\"]}",
				  path + 6);
			return;
		}
		f->running = true;
		f->cancelled = false;
		f->polls = f->cancel_polls = 0;
		reply(fd, 200, "{\"jobid\": \"" FAKEJM_JOB_ID "\"}");
		return;
	}
	if (strcmp(method, "GET") == 0 && strcmp(path, "/jobs/overview") == 0) {
		reply_overview(f, fd);
		return;
	}
	if (f->running && strcmp(path, "/jobs/" FAKEJM_JOB_ID) == 0) {
		if (strcmp(method, "GET") == 0) {
			reply_job(f, fd);
			return;
		}
		if (strcmp(method, "PATCH") == 0 && strcmp(query, "mode=cancel") == 0) {
			f->cancelled = true;
			reply(fd, 202, "{}");
			return;
		}
	}
	if (f->running && strcmp(method, "GET") == 0 &&
	    strcmp(path, "/jobs/" FAKEJM_JOB_ID "/exceptions") == 0) {
		const char *e = f->o.exception
				    ? f->o.exception
				    : "org.flinc.UserError: map failed\n\tat map (job.c:12)";
		char esc[2048];
		size_t n = 0;
		for (const char *p = e; *p && n + 3 < sizeof(esc); p++) {
			if (*p == '\n' || *p == '\t' || *p == '"' || *p == '\\') {
				esc[n++] = '\\';
				esc[n++] = *p == '\n' ? 'n' : *p == '\t' ? 't' : *p;
			} else {
				esc[n++] = *p;
			}
		}
		esc[n] = '\0';
		reply_fmt(fd, 200,
			  "{\"exceptionHistory\": {\"entries\": [{\"exceptionName\": "
			  "\"org.flinc.UserError\", \"stacktrace\": \"%s\", \"timestamp\": 1}], "
			  "\"truncated\": false}}",
			  esc);
		return;
	}
	if (strcmp(method, "PATCH") == 0 && strncmp(path, "/jobs/", 6) == 0) {
		reply_fmt(fd, 404, "{\"errors\": [\"Job %.64s not found\"]}", path + 6);
		return;
	}
	reply_fmt(fd, 404, "{\"errors\": [\"Not found: %.200s\"]}", path);
}

/* ------------------------------------------------------------ serving */

static void record(fakejm *f, const char *method, const char *target, const char *body, size_t blen)
{
	pthread_mutex_lock(&f->mu);
	size_t add = strlen(method) + strlen(target) + 3;
	char *log = realloc(f->log, f->log_len + add);
	struct last *reqs = realloc(f->reqs, (f->nreqs + 1) * sizeof(*reqs));
	if (log) {
		f->log = log;
		f->log_len += (size_t)sprintf(f->log + f->log_len, "%s %s\n", method, target);
	}
	if (reqs) {
		f->reqs = reqs;
		struct last *r = &reqs[f->nreqs++];
		r->method = strdup(method);
		r->target = strdup(target);
		r->body = strndup(body, blen);
	}
	pthread_mutex_unlock(&f->mu);
}

/* Reads one request from fd; returns false when it is incomplete. */
static bool serve(fakejm *f, int fd)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap + 1);
	if (!buf)
		return false;
	size_t head = 0, need = 0; /* head: where the body starts, once known */
	for (;;) {
		if (len == cap) {
			if (cap >= MAX_REQUEST)
				break;
			char *b = realloc(buf, cap * 2 + 1);
			if (!b)
				break;
			buf = b;
			cap *= 2;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 10000) <= 0)
			break;
		ssize_t n = recv(fd, buf + len, cap - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		char *end;
		if (!head && (end = strstr(buf, "\r\n\r\n"))) {
			head = (size_t)(end - buf) + 4;
			*end = '\0'; /* the headers alone, for the search below */
			const char *cl = strcasestr(buf, "\r\nContent-Length:");
			need = head + (cl ? strtoul(cl + 17, NULL, 10) : 0);
			*end = '\r';
		}
		if (head && len >= need)
			break;
	}
	bool complete = head && len >= need;
	if (complete) {
		char method[16] = "", target[1024] = "";
		sscanf(buf, "%15s %1023s", method, target);
		const char *body = buf + head;
		size_t blen = need - head;
		record(f, method, target, body, blen);
		pthread_mutex_lock(&f->mu);
		fakejm_mode mode = f->o.mode;
		pthread_mutex_unlock(&f->mu);
		if (mode == FAKEJM_SILENT) {
			if (f->nheld < MAX_HELD) {
				f->held[f->nheld++] = fd;
				free(buf);
				return true;
			}
		} else {
			route(f, fd, method, target, body, blen);
		}
	}
	free(buf);
	close(fd);
	return complete;
}

static void *server_main(void *arg)
{
	fakejm *f = arg;
	for (;;) {
		int fd = accept(f->listen_fd, NULL, NULL);
		pthread_mutex_lock(&f->mu);
		bool stop = f->stop;
		pthread_mutex_unlock(&f->mu);
		if (stop) {
			if (fd >= 0)
				close(fd);
			return NULL;
		}
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;
		}
		serve(f, fd);
	}
}

int fakejm_start(const fakejm_options *o, fakejm **out)
{
	fakejm *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->o = *o;
	f->states = strdup(o->states ? o->states : "RUNNING,FINISHED");
	pthread_mutex_init(&f->mu, NULL);
	f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof(a);
	if (!f->states || f->listen_fd < 0 ||
	    setsockopt(f->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(f->listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(f->listen_fd, 16) != 0 ||
	    getsockname(f->listen_fd, (struct sockaddr *)&a, &alen) != 0) {
		int e = errno;
		if (f->listen_fd >= 0)
			close(f->listen_fd);
		free(f->states);
		free(f);
		errno = e;
		return -1;
	}
	f->port = ntohs(a.sin_port);
	if (pthread_create(&f->thread, NULL, server_main, f) != 0) {
		close(f->listen_fd);
		free(f->states);
		free(f);
		return -1;
	}
	*out = f;
	return 0;
}

void fakejm_set_mode(fakejm *f, fakejm_mode mode)
{
	pthread_mutex_lock(&f->mu);
	f->o.mode = mode;
	pthread_mutex_unlock(&f->mu);
}

int fakejm_port(const fakejm *f)
{
	return f->port;
}

char *fakejm_requests(fakejm *f)
{
	pthread_mutex_lock(&f->mu);
	char *s = f->log ? strndup(f->log, f->log_len) : strdup("");
	pthread_mutex_unlock(&f->mu);
	return s;
}

char *fakejm_body(fakejm *f, const char *method, const char *prefix)
{
	char *s = NULL;
	pthread_mutex_lock(&f->mu);
	for (size_t i = f->nreqs; i-- > 0;) {
		struct last *r = &f->reqs[i];
		if (r->method && r->target && r->body && strcmp(r->method, method) == 0 &&
		    strncmp(r->target, prefix, strlen(prefix)) == 0) {
			s = strdup(r->body);
			break;
		}
	}
	pthread_mutex_unlock(&f->mu);
	return s;
}

void fakejm_stop(fakejm *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	f->stop = true;
	pthread_mutex_unlock(&f->mu);
	/* Wakes accept() with an error. */
	shutdown(f->listen_fd, SHUT_RDWR);
	pthread_join(f->thread, NULL);
	close(f->listen_fd);
	for (size_t i = 0; i < f->nheld; i++)
		close(f->held[i]);
	for (size_t i = 0; i < f->nreqs; i++) {
		free(f->reqs[i].method);
		free(f->reqs[i].target);
		free(f->reqs[i].body);
	}
	free(f->reqs);
	free(f->log);
	free(f->states);
	pthread_mutex_destroy(&f->mu);
	free(f);
}
