/*
 * test_k8s_watch.c — the watch-event decoder, and k8s_watch's retries with
 * back-off against a server that is not there (runtime/k8s/watch.h). The
 * rest of the watch runs against a real API server in k8s_client_e2e.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "k8s/watch.h"

static void test_decode_events(void **state)
{
	(void)state;
	k8s_watch_event ev;
	cm_err e = {0};
	const char *added = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\","
			    "\"resourceVersion\":\"42\"}}}";
	assert_int_equal(k8s_watch_decode(added, strlen(added), &ev, &e), 0);
	assert_int_equal(ev.type, K8S_WATCH_ADDED);
	assert_string_equal(ev.resource_version, "42");
	assert_string_equal(k8s_str(ev.object, "metadata.name"), "a");
	k8s_watch_event_fini(&ev);

	const char *gone = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
			   "\"reason\":\"Expired\"}}";
	assert_int_equal(k8s_watch_decode(gone, strlen(gone), &ev, &e), 0);
	assert_int_equal(ev.type, K8S_WATCH_ERROR);
	assert_int_equal(ev.error_code, 410);
	k8s_watch_event_fini(&ev);

	/* Only len bytes are read: a line cut out of a longer buffer. */
	const char *two = "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":"
			  "\"7\"}}}\n{garbage";
	size_t first = (size_t)(strchr(two, '\n') - two);
	assert_int_equal(k8s_watch_decode(two, first, &ev, &e), 0);
	assert_int_equal(ev.type, K8S_WATCH_BOOKMARK);
	assert_string_equal(ev.resource_version, "7");
	k8s_watch_event_fini(&ev);
}

static void test_decode_refusals(void **state)
{
	(void)state;
	const char *bad[] = {
	    "not json",
	    "{\"type\":\"ADDED\"}",
	    "{\"type\":\"ADDED\",\"object\":\"str\"}",
	    "{\"type\":\"RENAMED\",\"object\":{}}",
	    "{\"type\":7,\"object\":{}}",
	    "[]",
	    "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		k8s_watch_event ev;
		cm_err e = {0};
		assert_int_equal(k8s_watch_decode(bad[i], strlen(bad[i]), &ev, &e), FL_EPROTO);
		assert_null(ev.root);
		assert_true(strlen(e.msg) > 0);
	}
}

typedef struct lines_seen {
	char text[4096];
	size_t len;
	int n;
} lines_seen;

static int collect(void *arg, const char *line, size_t len)
{
	lines_seen *s = arg;
	assert_true(s->len + len + 1 < sizeof(s->text));
	memcpy(s->text + s->len, line, len);
	s->len += len;
	s->text[s->len++] = '|';
	s->text[s->len] = 0;
	s->n++;
	return 0;
}

static void test_lines_in_every_chunking(void **state)
{
	(void)state;
	const char *stream = "first\n\nsecond line\nthird, a longer line than the rest\ntail";
	size_t n = strlen(stream);
	/* Every split of the stream into chunks of k bytes gives the same lines;
	 * the unterminated tail stays in the buffer. */
	for (size_t k = 1; k <= n; k++) {
		k8s_lines l = {.max = 64};
		lines_seen s = {0};
		for (size_t off = 0; off < n; off += k)
			assert_int_equal(k8s_lines_feed(&l, stream + off, off + k > n ? n - off : k,
							collect, &s),
					 0);
		assert_string_equal(s.text,
				    "first||second line|third, a longer line than the rest|");
		assert_int_equal(l.len, 4);
		k8s_lines_fini(&l);
	}
}

static void test_lines_cap_whole_or_in_pieces(void **state)
{
	(void)state;
	char line[40];
	memset(line, 'x', 32);
	line[32] = '\n';
	line[33] = 0;
	/* 32 bytes fit a cap of 32, in one piece or three. */
	k8s_lines l = {.max = 32};
	lines_seen s = {0};
	assert_int_equal(k8s_lines_feed(&l, line, 33, collect, &s), 0);
	assert_int_equal(k8s_lines_feed(&l, line, 10, collect, &s), 0);
	assert_int_equal(k8s_lines_feed(&l, line + 10, 10, collect, &s), 0);
	assert_int_equal(k8s_lines_feed(&l, line + 20, 13, collect, &s), 0);
	assert_int_equal(s.n, 2);
	k8s_lines_fini(&l);
	/* 32 bytes do not fit 31: refused whole (no copy path) and in pieces. */
	k8s_lines t = {.max = 31};
	assert_int_equal(k8s_lines_feed(&t, line, 33, collect, &s), FL_ERANGE);
	k8s_lines_fini(&t);
	k8s_lines u = {.max = 31};
	assert_int_equal(k8s_lines_feed(&u, line, 20, collect, &s), 0);
	assert_int_equal(k8s_lines_feed(&u, line + 20, 13, collect, &s), FL_ERANGE);
	assert_true(u.cap <= 31);
	k8s_lines_fini(&u);
	assert_int_equal(s.n, 2);
}

static int never(void *arg, const k8s_watch_event *ev)
{
	(void)arg;
	(void)ev;
	fail_msg("no event expected");
	return 1;
}

static void test_watch_gives_up_after_max_failures_with_backoff(void **state)
{
	(void)state;
	/* Port 1 on loopback: connection refused at once. */
	k8s_config cfg = {.server = "https://127.0.0.1:1", .namespace = "default"};
	k8s_client *c = NULL;
	cm_err ce = {0};
	assert_int_equal(k8s_client_new(&c, &cfg, &ce), 0);
	k8s_watch_opts o = {.max_failures = 3, .backoff_initial_ms = 100, .backoff_max_ms = 100};
	k8s_watch_stats st;
	k8s_err e;
	k8s_err_clear(&e);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = k8s_watch(c, &K8S_CONFIGMAPS, NULL, &o, never, NULL, &st, &e);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_int_equal(rc, FL_EIO);
	assert_int_equal(st.failures, 3);
	assert_int_equal(st.lists, 3);
	assert_non_null(strstr(e.e.msg, "list configmaps in namespace default"));
	assert_non_null(strstr(e.e.msg, "127.0.0.1"));
	/* Two back-offs of 50-100 ms (jittered) between three attempts. */
	assert_true(ms >= 100);

	/* From a resourceVersion: the watch requests fail the same way. */
	o.resource_version = "100";
	k8s_err_clear(&e);
	rc = k8s_watch(c, &K8S_CONFIGMAPS, "ns1", &o, never, NULL, &st, &e);
	assert_int_equal(rc, FL_EIO);
	assert_int_equal(st.lists, 0);
	assert_int_equal(st.failures, 3);
	assert_int_equal(st.reconnects, 2);
	assert_non_null(
	    strstr(e.e.msg, "watch configmaps in namespace ns1 from resourceVersion 100"));
	k8s_client_free(c);
}

static void test_watch_stops_when_asked(void **state)
{
	(void)state;
	k8s_config cfg = {.server = "https://127.0.0.1:1"};
	k8s_client *c = NULL;
	cm_err ce = {0};
	assert_int_equal(k8s_client_new(&c, &cfg, &ce), 0);
	atomic_int stop = 1;
	k8s_watch_opts o = {.stop = &stop};
	k8s_err e;
	k8s_err_clear(&e);
	assert_int_equal(k8s_watch(c, &K8S_PODS, NULL, &o, never, NULL, NULL, &e), 0);
	k8s_client_free(c);
}

static void test_paths(void **state)
{
	(void)state;
	char p[256];
	assert_int_equal(k8s_path(p, sizeof(p), &K8S_CONFIGMAPS, "ns", "a", NULL), 0);
	assert_string_equal(p, "/api/v1/namespaces/ns/configmaps/a");
	assert_int_equal(k8s_path(p, sizeof(p), &K8S_DEPLOYMENTS, "ns", "d", "status"), 0);
	assert_string_equal(p, "/apis/apps/v1/namespaces/ns/deployments/d/status");
	assert_int_equal(k8s_path(p, sizeof(p), &K8S_NAMESPACES, NULL, NULL, NULL), 0);
	assert_string_equal(p, "/api/v1/namespaces");
	assert_int_equal(k8s_path(p, sizeof(p), &K8S_LEASES, "ns", NULL, NULL), 0);
	assert_string_equal(p, "/apis/coordination.k8s.io/v1/namespaces/ns/leases");
	/* Names that would change the path or the query are refused. */
	const char *bad[] = {"a/b", "a?watch=1", "..", ".", "", "a b", "a%2f", "x#y"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(k8s_path(p, sizeof(p), &K8S_PODS, "ns", bad[i], NULL), FL_EINVAL);
		assert_int_equal(k8s_path(p, sizeof(p), &K8S_PODS, bad[i], "n", NULL), FL_EINVAL);
	}
	assert_int_equal(k8s_path(p, sizeof(p), &K8S_PODS, NULL, "n", NULL), FL_EINVAL);
	assert_int_equal(k8s_path(p, 10, &K8S_PODS, "ns", "n", NULL), FL_ERANGE);

	/* A verb with a bad name fails before any request, naming it. */
	k8s_config cfg = {.server = "https://127.0.0.1:1", .namespace = "default"};
	k8s_client *c = NULL;
	cm_err ce = {0};
	assert_int_equal(k8s_client_new(&c, &cfg, &ce), 0);
	k8s_err e;
	k8s_err_clear(&e);
	cJSON *out = NULL;
	assert_int_equal(k8s_get(c, &K8S_PODS, NULL, "../secrets/x", &out, &e), FL_EINVAL);
	assert_null(out);
	assert_non_null(
	    strstr(e.e.msg, "get pods/../secrets/x in namespace default: not a valid name"));
	assert_int_equal(k8s_client_connects(c), 0);
	k8s_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode_events),
	    cmocka_unit_test(test_decode_refusals),
	    cmocka_unit_test(test_paths),
	    cmocka_unit_test(test_lines_in_every_chunking),
	    cmocka_unit_test(test_lines_cap_whole_or_in_pieces),
	    cmocka_unit_test(test_watch_gives_up_after_max_failures_with_backoff),
	    cmocka_unit_test(test_watch_stops_when_asked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
