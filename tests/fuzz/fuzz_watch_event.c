/*
 * fuzz_watch_event.c — libFuzzer target for the watch-event decoder
 * (runtime/k8s/watch.h): every line of a watch stream comes from the API
 * server, or whatever answers in its place.
 *
 * The input is a stream (after a first byte that sets the size of the chunks
 * it arrives in), split by k8s_lines_feed as a watch splits it; each line is
 * decoded. Properties: the splitter hands out exactly the lines memchr
 * finds (or refuses one above its cap); k8s_watch_decode never crashes or
 * leaks; a refusal is FL_EPROTO (or FL_ENOMEM) with a message and leaves the
 * event empty; an
 * accepted event has a known type and an object, and its resourceVersion,
 * when present, is the object's metadata.resourceVersion string.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "k8s/watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode(const char *p, size_t n)
{
	k8s_watch_event ev;
	cm_err err = {0};
	int rc = k8s_watch_decode(p, n, &ev, &err);
	if (rc) {
		if ((rc != FL_EPROTO && rc != FL_ENOMEM) || err.msg[0] == '\0' || ev.root ||
		    ev.object)
			__builtin_trap();
		return;
	}
	if (ev.type > K8S_WATCH_ERROR || !ev.object || !cJSON_IsObject(ev.object))
		__builtin_trap();
	if (k8s_str(ev.object, "metadata.resourceVersion") != ev.resource_version)
		__builtin_trap();
	k8s_watch_event_fini(&ev);
}

/* What the splitter hands out must be the lines memchr finds, in order. */
typedef struct cursor {
	const char *p;
	size_t left;
} cursor;

static int on_line(void *arg, const char *line, size_t len)
{
	cursor *c = arg;
	const char *nl = memchr(c->p, '\n', c->left);
	if (!nl || (size_t)(nl - c->p) != len || memcmp(c->p, line, len) != 0)
		__builtin_trap();
	c->left -= len + 1;
	c->p = nl + 1;
	decode(line, len);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	/* The first byte sets the chunk size the stream arrives in. */
	size_t chunk = (size_t)data[0] % 64 + 1;
	const char *p = (const char *)data + 1;
	size -= 1;
	k8s_lines l = {.max = 2048};
	cursor c = {p, size};
	int rc = 0;
	for (size_t off = 0; off < size && !rc; off += chunk)
		rc = k8s_lines_feed(&l, p + off, off + chunk > size ? size - off : chunk, on_line,
				    &c);
	if (rc && rc != FL_ERANGE)
		__builtin_trap();
	if (!rc && l.len != c.left) /* the unterminated tail waits */
		__builtin_trap();
	k8s_lines_fini(&l);
	return 0;
}
