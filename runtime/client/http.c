/*
 * http.c — requests to a JobManager's REST API on libcurl (http.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "client/http.h"
#include "common/clock.h"

struct cl_http {
	CURL *curl;
	cl_address addr;
	int64_t timeout_ms;
	cm_cancel *cancel;
	bool verbose;
	char errbuf[CURL_ERROR_SIZE];
	/* The reply being read. */
	cl_reply *r;
	size_t r_cap;
	bool oversized;
	/* The file being uploaded. */
	int up_fd;
	uint64_t up_size, up_off;
	int up_errno;
};

/* curl_global_init is not thread-safe in older libcurl: once per process. */
static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int cl_http_new(cl_http **out, const cl_address *addr, int64_t timeout_ms, cm_cancel *cancel,
		bool verbose, cm_err *err)
{
	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return cm_err_set(err, FL_EIO, "libcurl cannot start: %s",
				  curl_easy_strerror(global_rc));
	cl_http *h = calloc(1, sizeof(*h));
	if (!h)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	h->curl = curl_easy_init();
	if (!h->curl) {
		free(h);
		return cm_err_set(err, FL_EIO, "libcurl cannot start (curl_easy_init failed)");
	}
	h->addr = *addr;
	h->timeout_ms = timeout_ms > 0 ? timeout_ms : 60000;
	h->cancel = cancel;
	h->verbose = verbose;
	h->up_fd = -1;
	*out = h;
	return 0;
}

void cl_http_free(cl_http *h)
{
	if (!h)
		return;
	curl_easy_cleanup(h->curl);
	free(h);
}

void cl_http_set_cancel(cl_http *h, cm_cancel *cancel)
{
	h->cancel = cancel;
}

const char *cl_http_shown(const cl_http *h)
{
	return h->addr.shown;
}

void cl_reply_fini(cl_reply *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

int cl_http_escape(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
			     *p == '~';
		if (n + (plain ? 1 : 3) >= cap)
			return FL_ERANGE;
		if (plain) {
			out[n++] = (char)*p;
		} else {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
	}
	if (n >= cap)
		return FL_ERANGE;
	out[n] = '\0';
	return 0;
}

/* ------------------------------------------------------------ callbacks */

/* Appends to the reply, refusing more than CL_MAX_REPLY bytes. */
static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	cl_http *h = arg;
	cl_reply *r = h->r;
	size_t n = size * nmemb;
	if (n > CL_MAX_REPLY - r->len) {
		h->oversized = true;
		return 0;
	}
	if (r->len + n + 1 > h->r_cap) {
		size_t cap = h->r_cap < 4096 ? 4096 : h->r_cap;
		while (cap < r->len + n + 1)
			cap *= 2;
		char *b = realloc(r->body, cap);
		if (!b)
			return 0; /* a write error; errno-less, reported as out of memory */
		r->body = b;
		h->r_cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

/* Aborts the transfer when the cancel token is requested. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	cl_http *h = arg;
	return h->cancel && cm_cancel_requested(h->cancel) ? 1 : 0;
}

static size_t on_upload_read(char *buf, size_t size, size_t nitems, void *arg)
{
	cl_http *h = arg;
	size_t want = size * nitems;
	if (h->up_off >= h->up_size)
		return 0;
	if (want > h->up_size - h->up_off)
		want = (size_t)(h->up_size - h->up_off);
	for (;;) {
		ssize_t n = pread(h->up_fd, buf, want, (off_t)h->up_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* The file shrank or cannot be read: the upload would be
			 * short, so it is abandoned. */
			h->up_errno = n < 0 ? errno : EIO;
			return CURL_READFUNC_ABORT;
		}
		h->up_off += (uint64_t)n;
		return (size_t)n;
	}
}

static int on_upload_seek(void *arg, curl_off_t offset, int origin)
{
	cl_http *h = arg;
	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > h->up_size)
		return CURL_SEEKFUNC_CANTSEEK;
	h->up_off = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

/* ------------------------------------------------------------ requests */

/* "60 s" or "1500 ms". */
static void fmt_ms(int64_t ms, char *buf, size_t cap)
{
	if (ms % 1000 == 0)
		snprintf(buf, cap, "%lld s", (long long)(ms / 1000));
	else
		snprintf(buf, cap, "%lld ms", (long long)ms);
}

/* Sets the options every request shares. Returns the first failure. */
static CURLcode common_options(cl_http *h, const char *url, struct curl_slist *headers, bool upload)
{
	CURL *c = h->curl;
	long connect_ms =
	    h->timeout_ms < CL_CONNECT_TIMEOUT_MS ? (long)h->timeout_ms : CL_CONNECT_TIMEOUT_MS;
	CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(c, opt, val);                                        \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_ERRORBUFFER, h->errbuf);
	SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	if (upload) {
		long secs = (long)((h->timeout_ms + 999) / 1000);
		SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
		SET(CURLOPT_LOW_SPEED_TIME, secs > 0 ? secs : 1L);
	} else {
		SET(CURLOPT_TIMEOUT_MS, (long)h->timeout_ms);
	}
	SET(CURLOPT_WRITEFUNCTION, on_data);
	SET(CURLOPT_WRITEDATA, h);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, h);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CL_MAX_REPLY);
	SET(CURLOPT_USERAGENT, "flinc/" FLINC_VERSION_STRING);
	SET(CURLOPT_HTTPHEADER, headers);
#undef SET
	return rc;
}

#define UNREACHABLE                                                                                \
	"cannot reach the JobManager at %s (is one running there? -m HOST:PORT names "             \
	"another): %s"

/* Runs the prepared transfer and turns its outcome into 0 or an FL_E*
 * code with a message naming the JobManager and the request. */
static int perform(cl_http *h, const char *method, const char *path, cl_reply *r, cm_err *err)
{
	memset(r, 0, sizeof(*r));
	r->body = malloc(1);
	if (!r->body)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	r->body[0] = '\0';
	h->r = r;
	h->r_cap = 1;
	h->oversized = false;
	h->errbuf[0] = '\0';
	int64_t t0 = cm_now_ms();
	CURLcode cc = curl_easy_perform(h->curl);
	h->r = NULL;
	const char *why = h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc);
	const char *at = h->addr.shown;
	char tmo[32];
	fmt_ms(h->timeout_ms, tmo, sizeof(tmo));
	int rc = 0;
	if (cc == CURLE_OK) {
		long status = 0;
		char *ct = NULL;
		CURLcode ic = curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
		if (ic == CURLE_OK)
			ic = curl_easy_getinfo(h->curl, CURLINFO_CONTENT_TYPE, &ct);
		if (ic != CURLE_OK) {
			rc = cm_err_set(err, FL_EIO, "%s %s at the JobManager at %s: %s", method,
					path, at, curl_easy_strerror(ic));
		} else {
			r->status = status;
			if (ct)
				snprintf(r->content_type, sizeof(r->content_type), "%s", ct);
		}
	} else if (h->up_errno || cc == CURLE_READ_ERROR) {
		rc = cm_err_set(err, FL_EIO, "cannot read the job file for %s %s: %s", method, path,
				strerror(h->up_errno ? h->up_errno : EIO));
	} else if (cc == CURLE_ABORTED_BY_CALLBACK) {
		rc = cm_err_set(err, FL_ECANCELED, "%s %s at the JobManager at %s: interrupted",
				method, path, at);
	} else if (h->oversized || cc == CURLE_FILESIZE_EXCEEDED) {
		rc = cm_err_set(
		    err, FL_ERANGE,
		    "the JobManager at %s answered %s %s with more than %zu MiB: refused", at,
		    method, path, CL_MAX_REPLY >> 20);
	} else if (cc == CURLE_WRITE_ERROR) {
		rc = cm_err_set(err, FL_ENOMEM, "out of memory reading the reply to %s %s", method,
				path);
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		/* Connected when the request went out: on a reused connection
		 * (keep-alive, as a real JobManager allows) the connect time
		 * is 0, so it alone would call a silent JobManager unreachable. */
		curl_off_t connect_us = 0;
		long sent = 0;
		bool connected =
		    (curl_easy_getinfo(h->curl, CURLINFO_REQUEST_SIZE, &sent) == CURLE_OK &&
		     sent > 0) ||
		    (curl_easy_getinfo(h->curl, CURLINFO_CONNECT_TIME_T, &connect_us) == CURLE_OK &&
		     connect_us > 0);
		if (connected)
			rc = cm_err_set(err, FL_ETIMEDOUT,
					"the JobManager at %s did not answer %s %s within %s "
					"(client.timeout)",
					at, method, path, tmo);
		else
			rc = cm_err_set(err, FL_EIO, UNREACHABLE, at, why);
	} else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST) {
		rc = cm_err_set(err, FL_EIO, UNREACHABLE, at, why);
	} else {
		rc = cm_err_set(err, FL_EIO, "%s %s at the JobManager at %s failed: %s", method,
				path, at, why);
	}
	if (h->verbose) {
		if (rc == 0)
			fprintf(stderr, "flinc: %s %s%s: HTTP %ld, %zu bytes in %lld ms\n", method,
				h->addr.url, path, r->status, r->len,
				(long long)(cm_now_ms() - t0));
		else
			fprintf(stderr, "flinc: %s %s%s: %s\n", method, h->addr.url, path, why);
	}
	if (rc != 0)
		cl_reply_fini(r);
	return rc;
}

/* The full URL of path, or FL_ERANGE. */
static int full_url(const cl_http *h, const char *path, char *url, size_t cap, cm_err *err)
{
	int n = snprintf(url, cap, "%s%s", h->addr.url, path);
	if (n < 0 || (size_t)n >= cap)
		return cm_err_set(err, FL_ERANGE, "the request path '%.80s...' is too long", path);
	return 0;
}

int cl_http_call(cl_http *h, const char *method, const char *path, const char *json, cl_reply *r,
		 cm_err *err)
{
	memset(r, 0, sizeof(*r));
	char url[2048];
	int rc = full_url(h, path, url, sizeof(url), err);
	if (rc != 0)
		return rc;
	curl_easy_reset(h->curl);
	struct curl_slist *headers = NULL, *t;
	/* Each append is checked: a failed one returns NULL and keeps the list. */
	const char *hs[] = {"Accept: application/json",
			    "Expect:", json ? "Content-Type: application/json" : NULL};
	for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
		if (!hs[i])
			continue;
		if (!(t = curl_slist_append(headers, hs[i]))) {
			curl_slist_free_all(headers);
			return cm_err_set(err, FL_ENOMEM, "out of memory");
		}
		headers = t;
	}
	CURLcode cc = common_options(h, url, headers, false);
	bool get = strcmp(method, "GET") == 0;
	/* A body always goes with a method other than GET: an empty one is
	 * sent with "Content-Length: 0", which every server understands. */
	const char *body = json ? json : "";
	if (cc == CURLE_OK && !get)
		cc = curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	if (cc == CURLE_OK && !get)
		cc = curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
	if (cc == CURLE_OK && !get && strcmp(method, "POST") != 0)
		cc = curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, method);
	if (cc != CURLE_OK)
		rc = cm_err_set(err, FL_EIO, "libcurl refused an option for %s %s: %s", method,
				path, curl_easy_strerror(cc));
	else
		rc = perform(h, method, path, r, err);
	/* The handle keeps pointers to the list until the next reset. */
	curl_easy_reset(h->curl);
	curl_slist_free_all(headers);
	return rc;
}

int cl_http_upload(cl_http *h, const char *path, const char *field, int fd, uint64_t size,
		   const char *filename, cl_reply *r, cm_err *err)
{
	memset(r, 0, sizeof(*r));
	char url[2048];
	int rc = full_url(h, path, url, sizeof(url), err);
	if (rc != 0)
		return rc;
	curl_easy_reset(h->curl);
	struct curl_slist *headers = NULL, *t;
	const char *hs[] = {"Accept: application/json", "Expect:"};
	for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
		if (!(t = curl_slist_append(headers, hs[i]))) {
			curl_slist_free_all(headers);
			return cm_err_set(err, FL_ENOMEM, "out of memory");
		}
		headers = t;
	}
	curl_mime *mime = curl_mime_init(h->curl);
	curl_mimepart *part = mime ? curl_mime_addpart(mime) : NULL;
	CURLcode cc = part ? CURLE_OK : CURLE_OUT_OF_MEMORY;
	if (cc == CURLE_OK)
		cc = curl_mime_name(part, field);
	if (cc == CURLE_OK)
		cc = curl_mime_filename(part, filename);
	if (cc == CURLE_OK)
		cc = curl_mime_type(part, "application/octet-stream");
	h->up_fd = fd;
	h->up_size = size;
	h->up_off = 0;
	h->up_errno = 0;
	if (cc == CURLE_OK)
		cc = curl_mime_data_cb(part, (curl_off_t)size, on_upload_read, on_upload_seek, NULL,
				       h);
	if (cc == CURLE_OK)
		cc = common_options(h, url, headers, true);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h->curl, CURLOPT_MIMEPOST, mime);
	if (cc != CURLE_OK)
		rc = cm_err_set(err, cc == CURLE_OUT_OF_MEMORY ? FL_ENOMEM : FL_EIO,
				"libcurl cannot prepare the upload to %s: %s", path,
				curl_easy_strerror(cc));
	else
		rc = perform(h, "POST", path, r, err);
	curl_easy_reset(h->curl);
	curl_mime_free(mime);
	curl_slist_free_all(headers);
	h->up_fd = -1;
	return rc;
}
