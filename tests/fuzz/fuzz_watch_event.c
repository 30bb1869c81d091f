/*
 * fuzz_watch_event.c — libFuzzer target for the watch-event decoder
 * (runtime/k8s/watch.h): every line of a watch stream comes from the API
 * server, or whatever answers in its place.
 *
 * The input is a stream: each '\n'-separated line is decoded as k8s_watch
 * splits it. Properties: k8s_watch_decode never crashes or leaks; a refusal
 * is FL_EPROTO (or FL_ENOMEM) with a message and leaves the event empty; an
 * accepted event has a known type and an object, and its resourceVersion,
 * when present, is the object's metadata.resourceVersion string.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "k8s/watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	while (size) {
		const char *nl = memchr(p, '\n', size);
		size_t n = nl ? (size_t)(nl - p) : size;
		k8s_watch_event ev;
		cm_err err = {0};
		int rc = k8s_watch_decode(p, n, &ev, &err);
		if (rc) {
			if ((rc != FL_EPROTO && rc != FL_ENOMEM) || err.msg[0] == '\0' || ev.root ||
			    ev.object)
				__builtin_trap();
		} else {
			if (ev.type > K8S_WATCH_ERROR || !ev.object || !cJSON_IsObject(ev.object))
				__builtin_trap();
			const char *rv = k8s_str(ev.object, "metadata.resourceVersion");
			if (rv != ev.resource_version)
				__builtin_trap();
			if (ev.type == K8S_WATCH_ERROR && ev.error_code == 410 &&
			    strcmp(k8s_watch_type_name(ev.type), "ERROR") != 0)
				__builtin_trap();
			k8s_watch_event_fini(&ev);
		}
		if (!nl)
			break;
		p = nl + 1;
		size -= n + 1;
	}
	return 0;
}
