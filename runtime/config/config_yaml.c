/*
 * config_yaml.c — reads a YAML configuration with libyaml's event API.
 *
 * The event API rather than the document API: it holds no tree, and aliases
 * arrive as events that can be refused, so `*a` references cannot multiply
 * the work (a "billion laughs" file is an error, not a hang). Nested maps are
 * flattened by keeping the current key path; every scalar value is set with
 * cfg_set_at, which validates it and names file:line:column on error. Every
 * key is remembered with its position, so that one given twice is an error
 * naming both places rather than a silent last-wins.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "common/log.h"
#include "config/config_internal.h"

/* Nesting is bounded by the key length anyway (each level adds a byte or
 * more and a '.'); the explicit cap keeps the level stack on the stack, and
 * the first pass enforces it before libyaml's cost of deep flow nesting
 * (quadratic in the depth) can add up. */
#define MAX_DEPTH 64

/* A key of the file, kept to refuse one given twice. */
struct seen {
	char *path; /* NULL: a free slot */
	size_t line, col;
	size_t map;  /* serial number of the map that holds the key */
	bool is_map; /* its value is a map */
};

struct loader {
	cfg *c;
	const char *origin;
	const unsigned char *text;
	size_t len;
	cm_err *err;
	char path[CFG_KEY_MAX + 1];
	size_t path_len;
	size_t depth;
	size_t maps; /* maps opened so far */
	struct {
		size_t prefix_len; /* path length of the map's own key */
		bool want_key;
		size_t id;	      /* the map's serial number */
		yaml_mark_t key_mark; /* where its current key starts */
	} lv[MAX_DEPTH];
	struct seen *seen; /* open addressing, linear probing, half full at most */
	size_t nseen, seen_cap;
};

/* YAML's null: an empty plain scalar, ~ or null. */
static bool is_null(const yaml_event_t *ev)
{
	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *v = (const char *)ev->data.scalar.value;
	return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	       strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static int at(struct loader *l, const yaml_mark_t *m, int code, const char *what)
{
	return cm_err_set(l->err, code, "%s:%zu:%zu: %s", l->origin, m->line + 1, m->column + 1,
			  what);
}

static int parser_error(struct loader *l, const yaml_parser_t *p)
{
	if (p->error == YAML_MEMORY_ERROR)
		return cm_err_set(l->err, FL_ENOMEM, "%s: out of memory parsing YAML", l->origin);
	const char *problem = p->problem ? p->problem : "malformed YAML";
	size_t line, col;
	if (p->error == YAML_READER_ERROR) {
		/* The reader reports a byte offset; turn it into line:column. */
		size_t off = p->problem_offset < l->len ? p->problem_offset : l->len;
		line = 1;
		col = 1;
		for (size_t i = 0; i < off; i++) {
			if (l->text[i] == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
	} else {
		line = p->problem_mark.line + 1;
		col = p->problem_mark.column + 1;
	}
	if (p->context)
		return cm_err_set(l->err, FL_EPROTO, "%s:%zu:%zu: %s (%s at %zu:%zu)", l->origin,
				  line, col, problem, p->context, p->context_mark.line + 1,
				  p->context_mark.column + 1);
	return cm_err_set(l->err, FL_EPROTO, "%s:%zu:%zu: %s", l->origin, line, col, problem);
}

/* The error for a map or sequence opened MAX_DEPTH levels deep. */
static int too_deep(struct loader *l, const yaml_event_t *ev)
{
	return cm_err_set(l->err, FL_EPROTO,
			  "%s:%zu:%zu: %s nested too deeply (more than %d levels)", l->origin,
			  ev->start_mark.line + 1, ev->start_mark.column + 1,
			  ev->type == YAML_SEQUENCE_START_EVENT ? "sequences" : "maps", MAX_DEPTH);
}

/* Appends a map key to the path at the current level. */
static int push_key(struct loader *l, const yaml_event_t *ev)
{
	const char *k = (const char *)ev->data.scalar.value;
	size_t klen = ev->data.scalar.length;
	size_t base = l->lv[l->depth - 1].prefix_len;
	if (klen == 0)
		return at(l, &ev->start_mark, FL_EPROTO, "empty key");
	if (memchr(k, '\0', klen))
		return at(l, &ev->start_mark, FL_EPROTO, "key contains a NUL character");
	size_t need = base + (base ? 1 : 0) + klen;
	if (need > CFG_KEY_MAX)
		return cm_err_set(
		    l->err, FL_ERANGE, "%s:%zu:%zu: configuration key is longer than %d bytes",
		    l->origin, ev->start_mark.line + 1, ev->start_mark.column + 1, CFG_KEY_MAX);
	l->lv[l->depth - 1].key_mark = ev->start_mark;
	size_t n = base;
	if (base)
		l->path[n++] = '.';
	memcpy(l->path + n, k, klen);
	l->path_len = n + klen;
	l->path[l->path_len] = '\0';
	return 0;
}

/* FNV-1a. */
static uint64_t hash_path(const char *s)
{
	uint64_t h = UINT64_C(14695981039346656037);
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
	return h;
}

/* Doubles the table of seen keys (or creates it). */
static int seen_grow(struct loader *l)
{
	size_t ncap = l->seen_cap ? l->seen_cap * 2 : 64;
	struct seen *nv = calloc(ncap, sizeof(*nv));
	if (!nv)
		return cm_err_set(l->err, FL_ENOMEM, "%s: out of memory parsing YAML", l->origin);
	for (size_t i = 0; i < l->seen_cap; i++) {
		if (!l->seen[i].path)
			continue;
		size_t j = hash_path(l->seen[i].path) & (ncap - 1);
		while (nv[j].path)
			j = (j + 1) & (ncap - 1);
		nv[j] = l->seen[i];
	}
	free(l->seen);
	l->seen = nv;
	l->seen_cap = ncap;
	return 0;
}

static void seen_free(struct loader *l)
{
	for (size_t i = 0; i < l->seen_cap; i++)
		free(l->seen[i].path);
	free(l->seen);
}

/*
 * Records the current key (l->path), whose value is a map or not, and
 * refuses it if the file gave it before, as Flink's YAML parser refuses a
 * duplicate key: a key with a scalar value given twice, flat or nested
 * (`a.b: 1` and `a: {b: 2}`), or any key twice in the same map. A map-valued
 * key may recur in other maps (`a.b: {c: 1}` beside `a: {b: {d: 2}}`): their
 * keys merge.
 */
static int note_key(struct loader *l, bool is_map)
{
	const yaml_mark_t *m = &l->lv[l->depth - 1].key_mark;
	size_t map = l->lv[l->depth - 1].id;
	if (l->nseen >= CFG_ENTRIES_MAX)
		return cm_err_set(l->err, FL_ERANGE, "%s:%zu:%zu: more than %d keys in one file",
				  l->origin, m->line + 1, m->column + 1, CFG_ENTRIES_MAX);
	if (2 * (l->nseen + 1) > l->seen_cap) {
		int rc = seen_grow(l);
		if (rc)
			return rc;
	}
	size_t mask = l->seen_cap - 1, i = hash_path(l->path) & mask;
	for (; l->seen[i].path; i = (i + 1) & mask) {
		const struct seen *s = &l->seen[i];
		if (strcmp(s->path, l->path) != 0 || ((s->is_map || is_map) && s->map != map))
			continue;
		return cm_err_set(
		    l->err, FL_EPROTO, "%s:%zu:%zu: duplicate key '%s' (first set at %s:%zu:%zu)",
		    l->origin, m->line + 1, m->column + 1, l->path, l->origin, s->line, s->col);
	}
	char *p = strdup(l->path);
	if (!p)
		return cm_err_set(l->err, FL_ENOMEM, "%s: out of memory parsing YAML", l->origin);
	l->seen[i] = (struct seen){p, m->line + 1, m->column + 1, map, is_map};
	l->nseen++;
	return 0;
}

static int scalar_value(struct loader *l, const yaml_event_t *ev)
{
	int rc = note_key(l, false);
	if (rc)
		return rc;
	if (is_null(ev)) {
		/* `key:` with nothing: back to the default, as if never set. No
		 * unknown-key warning: a map whose children are all commented
		 * out (`rpc:` above `# port: 6123`) is common and harmless. */
		cfg_unset(l->c, l->path);
		return 0;
	}
	if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length))
		return cm_err_set(
		    l->err, FL_EPROTO, "%s:%zu:%zu: value for key '%s' contains a NUL character",
		    l->origin, ev->start_mark.line + 1, ev->start_mark.column + 1, l->path);
	struct cfg_origin o = {l->origin, ev->start_mark.line + 1, ev->start_mark.column + 1};
	return cfg_set_at(l->c, l->path, (const char *)ev->data.scalar.value, &o, l->err);
}

/* Handles one event; *done is set at the end of the stream. */
static int on_event(struct loader *l, const yaml_event_t *ev, bool *done, bool *had_doc)
{
	char msg[CFG_KEY_MAX + 96];

	switch (ev->type) {
	case YAML_STREAM_START_EVENT:
	case YAML_NO_EVENT:
		return 0;
	case YAML_STREAM_END_EVENT:
		*done = true;
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if (*had_doc)
			return at(l, &ev->start_mark, FL_EPROTO,
				  "more than one YAML document; a configuration is one map");
		*had_doc = true;
		return 0;
	case YAML_DOCUMENT_END_EVENT:
		return 0;
	case YAML_ALIAS_EVENT:
		return at(l, &ev->start_mark, FL_EPROTO, "YAML aliases (*name) are not supported");
	default:
		break;
	}

	if (l->depth == 0) {
		/* The document's root node. */
		switch (ev->type) {
		case YAML_MAPPING_START_EVENT:
			l->lv[0].prefix_len = 0;
			l->lv[0].want_key = true;
			l->lv[0].id = ++l->maps;
			l->depth = 1;
			return 0;
		case YAML_SCALAR_EVENT:
			if (is_null(ev))
				return 0; /* an empty document sets nothing */
			return at(l, &ev->start_mark, FL_EPROTO,
				  "the document is a scalar, not a map of configuration keys");
		case YAML_SEQUENCE_START_EVENT:
			return at(l, &ev->start_mark, FL_EPROTO,
				  "the document is a sequence, not a map of configuration keys");
		default:
			return at(l, &ev->start_mark, FL_EPROTO, "unexpected YAML event");
		}
	}

	if (l->lv[l->depth - 1].want_key) {
		switch (ev->type) {
		case YAML_SCALAR_EVENT:
			l->lv[l->depth - 1].want_key = false;
			return push_key(l, ev);
		case YAML_MAPPING_END_EVENT:
			l->depth--;
			if (l->depth > 0)
				l->lv[l->depth - 1].want_key = true;
			return 0;
		default:
			return at(l, &ev->start_mark, FL_EPROTO,
				  "a map or sequence as a key is not supported");
		}
	}

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		l->lv[l->depth - 1].want_key = true;
		return scalar_value(l, ev);
	case YAML_MAPPING_START_EVENT: {
		if (l->depth == MAX_DEPTH) /* the first pass refused this already */
			return too_deep(l, ev);
		int rc = note_key(l, true);
		if (rc)
			return rc;
		l->lv[l->depth].prefix_len = l->path_len;
		l->lv[l->depth].want_key = true;
		l->lv[l->depth].id = ++l->maps;
		l->depth++;
		return 0;
	}
	case YAML_SEQUENCE_START_EVENT:
		snprintf(
		    msg, sizeof(msg),
		    "key '%s' has a sequence (list) value; only scalars and maps are supported",
		    l->path);
		return at(l, &ev->start_mark, FL_EPROTO, msg);
	default:
		return at(l, &ev->start_mark, FL_EPROTO, "unexpected YAML event");
	}
}

/*
 * A first pass that only parses: libyaml reports a syntax error when it
 * reaches it, and by then a value before it may already look invalid (a
 * plain scalar swallows the next, badly indented line). Checking the whole
 * text first makes a syntax error the error the user sees, and keeps
 * unknown-key warnings out of files that are refused anyway.
 *
 * It also counts nesting and stops at the first map or sequence deeper than
 * MAX_DEPTH: libyaml rescans every open flow level for each token, so text
 * such as "{{{{..." costs time quadratic in its depth (a 1 MiB file of '{'
 * ran for more than ten minutes) unless refused as soon as it is too deep.
 */
static int syntax_check(const char *text, size_t len, const char *origin, cm_err *err)
{
	yaml_parser_t p;
	if (!yaml_parser_initialize(&p))
		return cm_err_set(err, FL_ENOMEM, "%s: out of memory parsing YAML", origin);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	struct loader l = {
	    .origin = origin, .text = (const unsigned char *)text, .len = len, .err = err};
	int rc = 0;
	size_t depth = 0;
	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&p, &ev)) {
			rc = parser_error(&l, &p);
			break;
		}
		if (ev.type == YAML_MAPPING_START_EVENT || ev.type == YAML_SEQUENCE_START_EVENT) {
			if (depth == MAX_DEPTH)
				rc = too_deep(&l, &ev);
			depth++;
		} else if (ev.type == YAML_MAPPING_END_EVENT ||
			   ev.type == YAML_SEQUENCE_END_EVENT) {
			depth--;
		}
		bool end = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		if (end || rc != 0)
			break;
	}
	yaml_parser_delete(&p);
	return rc;
}

/* Applies the YAML text to c (which the caller throws away on error). */
static int load_into(cfg *c, const char *text, size_t len, const char *origin, cm_err *err)
{
	int src = syntax_check(text, len, origin, err);
	if (src != 0)
		return src;

	yaml_parser_t p;
	if (!yaml_parser_initialize(&p))
		return cm_err_set(err, FL_ENOMEM, "%s: out of memory parsing YAML", origin);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);

	struct loader *l = calloc(1, sizeof(*l));
	if (!l) {
		yaml_parser_delete(&p);
		return cm_err_set(err, FL_ENOMEM, "%s: out of memory parsing YAML", origin);
	}
	l->c = c;
	l->origin = origin;
	l->text = (const unsigned char *)text;
	l->len = len;
	l->err = err;

	int rc = 0;
	bool done = false, had_doc = false;
	while (!done && rc == 0) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&p, &ev)) {
			rc = parser_error(l, &p);
			break;
		}
		rc = on_event(l, &ev, &done, &had_doc);
		yaml_event_delete(&ev);
	}
	seen_free(l);
	free(l);
	yaml_parser_delete(&p);
	return rc;
}

int cfg_load_string(cfg *c, const char *yaml, size_t len, const char *origin, cm_err *err)
{
	if (!origin)
		origin = "<string>";
	if (!c || (!yaml && len > 0))
		return cm_err_set(err, FL_EINVAL, "%s: NULL argument", origin);
	if (len > CFG_FILE_MAX)
		return cm_err_set(err, FL_ERANGE, "%s: %zu bytes of YAML, more than the %d allowed",
				  origin, len, CFG_FILE_MAX);
	/* Parse into a copy so that c is untouched by a file that fails half-way. */
	cfg *tmp;
	if (cfg_clone(c, &tmp) != 0)
		return cm_err_set(err, FL_ENOMEM, "%s: out of memory", origin);
	int rc = load_into(tmp, yaml ? yaml : "", len, origin, err);
	if (rc == 0)
		cfg_swap(c, tmp);
	cfg_free(tmp);
	return rc;
}

/* Reads at most CFG_FILE_MAX bytes of path into a malloc'd buffer. */
static int read_capped(const char *path, char **out, size_t *out_len, cm_err *err)
{
	/* How long a FIFO may take to deliver the whole configuration. */
	const int fifo_wait_ms = 10000;
	/* Paths in messages are cut there: the cause after them must fit. */
	const int shown = 300;
	const char *more = strlen(path) > (size_t)shown ? "..." : "";
	/* O_NONBLOCK: open() on a FIFO without a writer would block for ever. */
	int fd;
	do
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		int e = errno;
		return cm_err_set(err, cm_err_from_errno(e) == FL_ENOENT ? FL_ENOENT : FL_EIO,
				  "%.*s%s: cannot open: %s", shown, path, more, strerror(e));
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return cm_err_set(err, FL_EIO, "%.*s%s: cannot stat: %s", shown, path, more,
				  strerror(e));
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		return cm_err_set(err, FL_EIO, "%.*s%s: is a directory", shown, path, more);
	}
	if (S_ISREG(st.st_mode) && st.st_size > CFG_FILE_MAX) {
		close(fd);
		return cm_err_set(err, FL_ERANGE, "%.*s%s: %lld bytes, larger than the %d allowed",
				  shown, path, more, (long long)st.st_size, CFG_FILE_MAX);
	}
	/* A FIFO is read without blocking, each read after poll() within one
	 * deadline; anything else (a terminal, /dev/stdin) blocks as usual. */
	bool fifo = S_ISFIFO(st.st_mode);
	int fl = fcntl(fd, F_GETFL);
	if (!fifo && fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t deadline = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 + fifo_wait_ms;
	bool told = false;
	/* Size from fstat is only a hint (pipes say 0, files grow): read up to
	 * one byte past the cap to notice a file that is too large. */
	size_t cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
	char *buf = malloc(cap);
	if (!buf) {
		close(fd);
		return cm_err_set(err, FL_ENOMEM, "%.*s%s: out of memory", shown, path, more);
	}
	size_t len = 0;
	for (;;) {
		if (len == cap) {
			if (cap > CFG_FILE_MAX) {
				free(buf);
				close(fd);
				return cm_err_set(err, FL_ERANGE,
						  "%.*s%s: larger than the %d bytes allowed", shown,
						  path, more, CFG_FILE_MAX);
			}
			size_t ncap = cap * 2 > CFG_FILE_MAX + 1 ? CFG_FILE_MAX + 1 : cap * 2;
			char *nb = realloc(buf, ncap);
			if (!nb) {
				free(buf);
				close(fd);
				return cm_err_set(err, FL_ENOMEM, "%.*s%s: out of memory", shown,
						  path, more);
			}
			buf = nb;
			cap = ncap;
		}
		if (fifo) {
			/* poll() sees no end of input on a FIFO that never had a
			 * writer (a read would: 0 bytes), so it waits for one. */
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			int ready = poll(&pfd, 1, 0);
			if (ready == 0 && !told) {
				CM_WARN(
				    "config",
				    "%.*s%s is a FIFO: waiting up to %d s for a writer to send the "
				    "configuration",
				    shown, path, more, fifo_wait_ms / 1000);
				told = true;
			}
			if (ready == 0) {
				clock_gettime(CLOCK_MONOTONIC, &now);
				int64_t left =
				    deadline - ((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
				ready = left > 0 ? poll(&pfd, 1, (int)left) : 0;
			}
			if (ready < 0 && errno == EINTR)
				continue;
			if (ready == 0) {
				free(buf);
				close(fd);
				if (len == 0)
					return cm_err_set(
					    err, FL_ETIMEDOUT,
					    "%.*s%s: a FIFO, and no configuration arrived "
					    "within %d s: refused (write to it, or use a "
					    "regular file)",
					    shown, path, more, fifo_wait_ms / 1000);
				return cm_err_set(
				    err, FL_ETIMEDOUT,
				    "%.*s%s: a FIFO whose writer did not finish within %d s "
				    "(%zu bytes read): refused",
				    shown, path, more, fifo_wait_ms / 1000, len);
			}
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR || (fifo && errno == EAGAIN))
				continue;
			int e = errno;
			free(buf);
			close(fd);
			return cm_err_set(err, FL_EIO, "%.*s%s: read failed: %s", shown, path, more,
					  strerror(e));
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len > CFG_FILE_MAX) {
		free(buf);
		return cm_err_set(err, FL_ERANGE, "%.*s%s: larger than the %d bytes allowed", shown,
				  path, more, CFG_FILE_MAX);
	}
	*out = buf;
	*out_len = len;
	return 0;
}

int cfg_load_file(cfg *c, const char *path, cm_err *err)
{
	if (!c || !path)
		return cm_err_set(err, FL_EINVAL, "cfg_load_file: NULL argument");
	char *text = NULL;
	size_t len = 0;
	int rc = read_capped(path, &text, &len, err);
	if (rc)
		return rc;
	rc = cfg_load_string(c, text, len, path, err);
	free(text);
	return rc;
}
