/*
 * watch.h — list + watch with resume, as client-go's reflector does it.
 *
 * k8s_watch lists (paginated) when it has no resourceVersion, then watches
 * from the last one it saw; every event moves that resourceVersion on
 * (bookmarks too, with allowWatchBookmarks). A watch that ends (server
 * timeout, connection lost) is reopened from there, after a jittered
 * exponential back-off when it failed; a 410 Gone (HTTP, or an ERROR event
 * with code 410: the version was compacted away) starts a new list.
 *
 * The stream is split into lines in a buffer capped at max_event bytes; a
 * longer event is an error (FL_ERANGE), never an unbounded allocation. Each
 * line is parsed once (k8s_watch_decode) and handed to the callback.
 */
#ifndef FLINC_K8S_WATCH_H
#define FLINC_K8S_WATCH_H

#include <stdatomic.h>

#include "k8s/client.h"

typedef enum k8s_watch_type {
	K8S_WATCH_ADDED,
	K8S_WATCH_MODIFIED,
	K8S_WATCH_DELETED,
	K8S_WATCH_BOOKMARK,
	K8S_WATCH_ERROR,
	/* Synthetic, from a (re)list: LIST_BEGIN, one LISTED per object, then
	 * LIST_END (resource_version: the list's). A cache replaces its content
	 * with the LISTED objects. A list that fails after its first page is
	 * followed by a new LIST_BEGIN, with no LIST_END between. */
	K8S_WATCH_LIST_BEGIN,
	K8S_WATCH_LISTED,
	K8S_WATCH_LIST_END,
} k8s_watch_type;

const char *k8s_watch_type_name(k8s_watch_type t);

typedef struct k8s_watch_event {
	k8s_watch_type type;
	cJSON *root;		      /* owned: the parsed line (NULL for synthetic) */
	const cJSON *object;	      /* the object (or ERROR's Status); NULL for BEGIN/END */
	const char *resource_version; /* object's metadata.resourceVersion or NULL */
	long error_code;	      /* ERROR: the Status code (410: Gone) */
} k8s_watch_event;

/*
 * k8s_watch_decode parses one watch line (JSON, no newline needed) into ev.
 * Errors: FL_EPROTO (not JSON, no known type, no object), FL_ENOMEM; then ev
 * holds nothing. On success free with k8s_watch_event_fini.
 */
int k8s_watch_decode(const char *line, size_t len, k8s_watch_event *ev, cm_err *err);
void k8s_watch_event_fini(k8s_watch_event *ev);

/*
 * A splitter of a byte stream into '\n'-terminated lines, holding at most
 * max bytes of a partial line (zero-initialise, set max). k8s_lines_feed
 * calls on_line(arg, line, len) for each whole line (without its '\n';
 * lines that arrive whole are not copied), and stops at the first non-zero
 * return, which it returns. A line longer than max, however it arrives, is
 * FL_ERANGE; FL_ENOMEM when the partial line cannot grow. k8s_lines_fini
 * frees the buffer.
 */
typedef struct k8s_lines {
	char *buf;
	size_t len, cap, max;
} k8s_lines;
typedef int (*k8s_line_fn)(void *arg, const char *line, size_t len);
int k8s_lines_feed(k8s_lines *l, const char *p, size_t n, k8s_line_fn on_line, void *arg);
void k8s_lines_fini(k8s_lines *l);

/* The callback: 0 to go on, 1 to stop (k8s_watch returns 0), a negative
 * FL_E* code to stop with that error. ev and what it points to are valid
 * during the call only. */
typedef int (*k8s_watch_fn)(void *arg, const k8s_watch_event *ev);

typedef struct k8s_watch_opts {
	const char *label_selector;
	const char *field_selector;
	const char *resource_version; /* start here; NULL or "": list first */
	bool bookmarks;		      /* allowWatchBookmarks */
	long timeout_seconds;	      /* of one watch request (default 300) */
	size_t max_event;	      /* bytes of one event (default 4 MiB) */
	long list_limit;	      /* page size of a list (default 500) */
	long backoff_initial_ms;      /* default 200 */
	long backoff_max_ms;	      /* default 30000 */
	int max_failures;	      /* consecutive failures before giving up; 0: never */
	atomic_int *stop;	      /* set non-zero to stop (checked per event and
				       * between requests; k8s_client_set_abort with
				       * the same flag ends a request in flight);
				       * may be NULL */
} k8s_watch_opts;

/* What a watch did, for callers and tests. */
typedef struct k8s_watch_stats {
	char resource_version[64]; /* the last one seen */
	int lists;		   /* lists done (the first included) */
	int gone;		   /* 410s seen */
	int reconnects;		   /* watch requests after the first */
	int failures;		   /* failed requests */
} k8s_watch_stats;

/*
 * k8s_watch runs until the callback stops it (0), *stop is set (0), or an
 * error that retrying cannot cure: 401/403/404 answers, a malformed or
 * oversized event, the callback's error, max_failures reached (the last
 * failure's error). stats may be NULL.
 */
int k8s_watch(k8s_client *c, const k8s_resource *r, const char *ns, const k8s_watch_opts *o,
	      k8s_watch_fn fn, void *arg, k8s_watch_stats *stats, k8s_err *err);

#endif
