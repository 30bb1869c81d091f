/*
 * env.c — the execution environment and the DataStream builders: each call
 * records a node or a view in the stream graph; nothing runs until
 * fl_execute().
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/magic.h>
#include <sys/vfs.h>
#endif

#include "api/env.h"
#include "common/log.h"

/*
 * sg_node.sizes of a text source input that is read as one unsplittable
 * stream (a FIFO, a device, a regular file reporting 0 bytes); the text
 * source (taskmanager/sources.c) defines the same. It belongs beside
 * sg_node in graph/streamgraph.h, which wins when it defines it.
 */

/* Per thread: a JobManager runs several jobs' main() at once, each on its
 * own thread with its own launch. */
static _Thread_local env_launch *current_launch;

void env_launch_install(env_launch *l)
{
	current_launch = l;
}

env_launch *env_launch_current(void)
{
	return current_launch;
}

int env_record(fl_env *env, int code, const char *msg)
{
	if (env->err.code == 0) {
		snprintf(env->err.msg, sizeof(env->err.msg), "%s", msg);
		env->err.code = code;
	}
	return code;
}

int env_fail(fl_env *env, int code, const char *fmt, ...)
{
	if (env->err.code == 0) {
		va_list ap;
		va_start(ap, fmt);
		cm_err_vset(&env->err, code, fmt, ap);
		va_end(ap);
		CM_ERROR("env", "%s", env->err.msg);
	}
	return code;
}

/*
 * Loads $FLINC_CONF_DIR/flinc.yaml for a job run without a launcher
 * (cfg_default_file's rules).
 */
static int env_load_default_config(fl_env *env)
{
	char path[4096];
	bool found = false;
	cm_err de = {0};
	int drc = cfg_default_file(path, sizeof(path), &found, &de);
	if (drc)
		return env_fail(env, drc, "%s", de.msg);
	if (!found)
		return 0;
	cm_err e = {0};
	int rc = cfg_load_file(env->config, path, &e);
	if (rc == FL_ENOENT)
		return 0;
	if (rc != 0)
		return env_fail(env, rc, "%s", e.msg);
	return 0;
}

FL_API fl_env *fl_env_new(int argc, char **argv)
{
	fl_env *env = calloc(1, sizeof(*env));
	if (!env)
		return NULL;
	env_launch *l = env_launch_current();
	int rc = l && l->config ? cfg_clone(l->config, &env->config) : cfg_new(&env->config);
	if (rc != 0 || sg_graph_new(&env->graph) != 0) {
		cfg_free(env->config);
		free(env);
		return NULL;
	}
	env->argc = argc;
	env->argv = argv;
	if (!l || !l->config)
		env_load_default_config(env);
	return env;
}

FL_API void fl_env_free(fl_env *env)
{
	if (!env)
		return;
	for (size_t i = 0; i < env->nstreams; i++) {
		fl_stream *s = env->streams[i];
		for (size_t j = 0; j < s->nedges; j++)
			sg_key_fini(&s->edges[j].key);
		free(s->edges);
		free(s);
	}
	free(env->streams);
	sg_graph_free(env->graph);
	cfg_free(env->config);
	free(env);
}

FL_API const char *fl_env_error(const fl_env *env)
{
	return env ? env->err.msg : "no environment";
}

static int env_set_int_key(fl_env *env, const char *key, int64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	return fl_env_set_config(env, key, buf);
}

FL_API int fl_env_set_config(fl_env *env, const char *key, const char *value)
{
	if (!env || !key || !value)
		return FL_EINVAL;
	cm_err e = {0};
	int rc = cfg_set(env->config, key, value, &e);
	if (rc != 0)
		return env_fail(env, rc, "%s", e.msg);
	return 0;
}

FL_API int fl_env_set_parallelism(fl_env *env, int parallelism)
{
	if (!env)
		return FL_EINVAL;
	if (parallelism < 1)
		return env_fail(env, FL_EINVAL, "parallelism must be at least 1, not %d",
				parallelism);
	return env_set_int_key(env, CFG_PARALLELISM, parallelism);
}

FL_API int fl_env_set_max_parallelism(fl_env *env, int max_parallelism)
{
	if (!env)
		return FL_EINVAL;
	return env_set_int_key(env, CFG_MAX_PARALLELISM, max_parallelism);
}

FL_API int fl_env_set_runtime_mode(fl_env *env, enum fl_runtime_mode mode)
{
	if (!env)
		return FL_EINVAL;
	return fl_env_set_config(env, CFG_RUNTIME_MODE,
				 mode == FL_MODE_BATCH ? "BATCH" : "STREAMING");
}

FL_API int fl_env_set_buffer_timeout(fl_env *env, int64_t millis)
{
	if (!env)
		return FL_EINVAL;
	char buf[48];
	snprintf(buf, sizeof(buf), "%lld ms", (long long)millis);
	return fl_env_set_config(env, CFG_BUFFER_TIMEOUT, buf);
}

/* ------------------------------------------------------------- streams */

static fl_stream *stream_new(fl_env *env, int node, const sg_edge *edges, size_t nedges,
			     bool keyed)
{
	if (env->nstreams == env->cap_streams) {
		size_t ncap = env->cap_streams ? env->cap_streams * 2 : 16;
		fl_stream **ns = realloc(env->streams, ncap * sizeof(*ns));
		if (!ns)
			goto oom;
		env->streams = ns;
		env->cap_streams = ncap;
	}
	fl_stream *s = calloc(1, sizeof(*s));
	if (!s)
		goto oom;
	s->env = env;
	s->node = node;
	s->keyed = keyed;
	s->generation = env->generation;
	if (node >= 0) {
		if (!(s->edges = calloc(1, sizeof(*s->edges)))) {
			free(s);
			goto oom;
		}
		s->edges[0].src = node;
		s->edges[0].part = SG_PART_UNSET;
		s->nedges = 1;
	} else {
		if (!(s->edges = calloc(nedges ? nedges : 1, sizeof(*s->edges)))) {
			free(s);
			goto oom;
		}
		for (size_t i = 0; i < nedges; i++) {
			s->edges[i] = edges[i];
			s->edges[i].key.fn_symbol = NULL;
			if (sg_key_copy(&s->edges[i].key, &edges[i].key) != 0) {
				for (size_t j = 0; j < i; j++)
					sg_key_fini(&s->edges[j].key);
				free(s->edges);
				free(s);
				goto oom;
			}
		}
		s->nedges = nedges;
	}
	env->streams[env->nstreams++] = s;
	return s;
oom:
	env_fail(env, FL_ENOMEM, "out of memory while building the dataflow");
	return NULL;
}

/* Usable input: not NULL, its environment has no error yet, and it belongs
 * to the dataflow being built (not one already executed). */
static bool usable(const fl_stream *s)
{
	if (!s || !s->env || s->env->err.code != 0)
		return false;
	if (s->generation != s->env->generation) {
		env_fail(s->env, FL_EINVAL,
			 "a stream from before fl_execute() was used: each fl_execute() runs the "
			 "dataflow built since the previous one, so build the next job anew");
		return false;
	}
	return true;
}

int env_reset_graph(fl_env *env)
{
	sg_graph *g;
	if (sg_graph_new(&g) != 0)
		return FL_ENOMEM;
	/* Registered slot sharing groups belong to the environment, as in
	 * Flink: the next dataflow keeps them. */
	if (sg_copy_group_resources(g, env->graph) != 0) {
		sg_graph_free(g);
		return FL_ENOMEM;
	}
	sg_graph_free(env->graph);
	env->graph = g;
	env->generation++;
	return 0;
}

/* Records which library holds the user functions; all must share one. */
static int env_adopt_library(fl_env *env, const char *library, const char *symbol)
{
	sg_graph *g = env->graph;
	if (!g->library) {
		if (!(g->library = strdup(library)))
			return env_fail(env, FL_ENOMEM, "out of memory");
		return 0;
	}
	if (strcmp(g->library, library) != 0)
		return env_fail(env, FL_EINVAL,
				"function '%s' lives in '%s' but the job's other functions are in "
				"'%s': all user functions of a job must be in one shared object",
				symbol, *library ? library : "(main program)",
				*g->library ? g->library : "(main program)");
	return 0;
}

static int env_name_fn(fl_env *env, const void *fn, const char *what, char **symbol)
{
	cm_err e = {0};
	char *lib = NULL;
	int rc = sg_name_function(fn, what, symbol, &lib, &e);
	if (rc != 0)
		return env_fail(env, rc, "%s", e.msg[0] ? e.msg : "out of memory");
	rc = env_adopt_library(env, lib, *symbol);
	free(lib);
	if (rc != 0) {
		free(*symbol);
		*symbol = NULL;
	}
	return rc;
}

/* Adds a node fed by s (NULL for sources) and returns its stream. */
static fl_stream *add_node(fl_env *env, const fl_stream *in, enum sg_kind kind, sg_node **nodep)
{
	sg_node *n;
	if (in && in->connected != sg_kind_is_two_input(kind)) {
		env_fail(env, FL_EINVAL,
			 in->connected
			     ? "%s: the input is two connected streams (fl_connect): they "
			       "take fl_co_map, fl_co_flat_map, fl_co_process or "
			       "fl_broadcast_process"
			     : "%s: needs two connected streams (fl_connect)",
			 sg_kind_type(kind));
		return NULL;
	}
	if (in && in->bdesc && !in->connected) {
		env_fail(env, FL_EINVAL,
			 "%s: a broadcast state stream (fl_broadcast_state) can only be connected "
			 "to another stream with fl_connect",
			 sg_kind_type(kind));
		return NULL;
	}
	if (sg_add_node(env->graph, kind, in ? in->edges : NULL, in ? in->nedges : 0, &n) != 0) {
		env_fail(env, FL_ENOMEM, "out of memory while building the dataflow");
		return NULL;
	}
	/* As in Flink, an operator takes the environment's parallelism when it
	 * is created: a later fl_env_set_parallelism affects later operators. */
	int64_t p = 0;
	if (cfg_is_set(env->config, CFG_PARALLELISM) &&
	    cfg_get_int(env->config, CFG_PARALLELISM, &p) == 0)
		n->parallelism = (int)p;
	*nodep = n;
	return stream_new(env, n->id, NULL, 0, false);
}

static fl_stream *add_fn_node(fl_stream *in, enum sg_kind kind, const void *fn, const char *what)
{
	if (!usable(in))
		return NULL;
	fl_env *env = in->env;
	char *sym = NULL;
	if (env_name_fn(env, fn, what, &sym) != 0)
		return NULL;
	sg_node *n;
	fl_stream *out = add_node(env, in, kind, &n);
	if (!out) {
		free(sym);
		return NULL;
	}
	n->fn_symbol = sym;
	return out;
}

FL_API fl_stream *fl_generator(fl_env *env, int64_t count, double rate, fl_generator_fn fn)
{
	if (!env || env->err.code)
		return NULL;
	if (!(rate >= 0)) {
		env_fail(env, FL_EINVAL, "generator: rate must be >= 0 records/s, not %g", rate);
		return NULL;
	}
	char *sym = NULL;
	if (env_name_fn(env, (const void *)fn, "generator", &sym) != 0)
		return NULL;
	sg_node *n;
	fl_stream *out = add_node(env, NULL, SG_SOURCE_GENERATOR, &n);
	if (!out) {
		free(sym);
		return NULL;
	}
	n->fn_symbol = sym;
	n->gen_count = count;
	n->gen_rate = rate;
	return out;
}

/* The longest "host:port" a socket source takes (a DNS name is at most 253
 * bytes). */
#define SOCKET_ADDRESS_MAX 280

FL_API fl_stream *fl_socket_text(fl_env *env, const char *host, int port, int64_t max_retry)
{
	if (!env || env->err.code)
		return NULL;
	if (!host || !*host || strlen(host) > 253 || strpbrk(host, " \t\n[]/")) {
		env_fail(env, FL_EINVAL,
			 "socket_text: the host '%.64s' is not a host name or an IP address",
			 host ? host : "(null)");
		return NULL;
	}
	if (port < 1 || port > 65535) {
		env_fail(env, FL_EINVAL, "socket_text: port %d is outside 1..65535", port);
		return NULL;
	}
	if (max_retry < -1) {
		env_fail(env, FL_EINVAL,
			 "socket_text: max_retry %lld is below -1 (-1: retry for ever, 0: never)",
			 (long long)max_retry);
		return NULL;
	}
	char addr[SOCKET_ADDRESS_MAX];
	/* An IPv6 address in brackets, so that its port stays apart. */
	snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	sg_node *n;
	fl_stream *out = add_node(env, NULL, SG_SOURCE_SOCKET, &n);
	if (!out)
		return NULL;
	if (!(n->paths = calloc(1, sizeof(*n->paths))) ||
	    !(n->sizes = calloc(1, sizeof(*n->sizes))) || !(n->paths[0] = strdup(addr))) {
		env_fail(env, FL_ENOMEM, "out of memory");
		return NULL;
	}
	n->npaths = 1;
	n->gen_count = max_retry;
	/* Not a parallel source (Flink's SocketTextStreamFunction): one
	 * subtask, and no rescale can make more. */
	n->parallelism = 1;
	n->max_parallelism = 1;
	n->non_parallel = true;
	return out;
}

/* A file whose size tells nothing of its content: sysfs reports 4096
 * bytes for every attribute, procfs mostly 0 but some files more. */
static bool size_says_nothing(const char *path)
{
#ifdef __linux__
	struct statfs fs;
	return statfs(path, &fs) == 0 &&
	       (fs.f_type == SYSFS_MAGIC || fs.f_type == PROC_SUPER_MAGIC);
#else
	(void)path;
	return false;
#endif
}

FL_API fl_stream *fl_read_text_files(fl_env *env, const char *const *paths, size_t npaths)
{
	if (!env || env->err.code)
		return NULL;
	if (npaths == 0 || !paths) {
		env_fail(env, FL_EINVAL, "read_text_files: no input files given");
		return NULL;
	}
	sg_node *n;
	fl_stream *out = add_node(env, NULL, SG_SOURCE_TEXT_FILE, &n);
	if (!out)
		return NULL;
	if (!(n->paths = calloc(npaths, sizeof(*n->paths))) ||
	    !(n->sizes = calloc(npaths, sizeof(*n->sizes)))) {
		env_fail(env, FL_ENOMEM, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < npaths; i++) {
		if (!paths[i] || !*paths[i]) {
			env_fail(env, FL_EINVAL, "read_text_files: input path %zu is empty", i);
			return NULL;
		}
		/* Checked now, as Flink checks input paths at submission, so a typo
		 * is reported before a job starts. stat() and access() never block,
		 * not even on a FIFO without a writer. */
		const char *p = paths[i], *more = strlen(p) > 300 ? "..." : "";
		struct stat st;
		if (stat(p, &st) != 0 || access(p, R_OK) != 0) {
			int e = errno;
			env_fail(env, cm_err_from_errno(e), "read_text_files: cannot read '%.300s%s': %s",
				 p, more, strerror(e));
			return NULL;
		}
		if (S_ISDIR(st.st_mode)) {
			env_fail(env, FL_EINVAL, "read_text_files: '%.300s%s' is a directory, not a file",
				 p, more);
			return NULL;
		}
		if (S_ISSOCK(st.st_mode)) {
			env_fail(env, FL_EINVAL,
				 "read_text_files: '%.300s%s' is a socket, which cannot be opened as a "
				 "file",
				 p, more);
			return NULL;
		}
		/* The file's kind decides how every subtask plans its splits:
		 * a regular file with a size is cut into ranges; one that says 0
		 * bytes (/proc files have content nonetheless), one on sysfs or
		 * procfs whatever it says (sysfs says 4096 for "0-3\n"), and
		 * anything else readable (a FIFO, /dev/zero) is one unsplittable
		 * stream read to its end by one subtask. */
		n->sizes[i] = S_ISREG(st.st_mode) && st.st_size > 0 && !size_says_nothing(p)
				  ? st.st_size
				  : SG_SIZE_STREAM;
		if (!(n->paths[i] = strdup(paths[i]))) {
			env_fail(env, FL_ENOMEM, "out of memory");
			return NULL;
		}
		n->npaths = i + 1;
	}
	return out;
}

FL_API fl_stream *fl_read_text_file(fl_env *env, const char *path)
{
	return fl_read_text_files(env, &path, 1);
}

FL_API fl_stream *fl_map(fl_stream *in, fl_map_fn fn)
{
	return add_fn_node(in, SG_MAP, (const void *)fn, "map");
}

FL_API fl_stream *fl_flat_map(fl_stream *in, fl_flat_map_fn fn)
{
	return add_fn_node(in, SG_FLAT_MAP, (const void *)fn, "flat_map");
}

FL_API fl_stream *fl_filter(fl_stream *in, fl_filter_fn fn)
{
	return add_fn_node(in, SG_FILTER, (const void *)fn, "filter");
}

/* A view of in whose edges all get partitioner part (and key). */
static fl_stream *repartition(fl_stream *in, enum sg_partitioner part, const sg_key *key,
			      bool keyed)
{
	if (!usable(in))
		return NULL;
	if (in->connected || in->bdesc) {
		env_fail(in->env, FL_EINVAL,
			 "%s: cannot repartition %s; partition each stream before connecting them",
			 part == SG_PART_HASH ? "key_by" : sg_partitioner_name(part),
			 in->connected ? "two connected streams (fl_connect)"
				       : "a broadcast state stream (fl_broadcast_state)");
		return NULL;
	}
	fl_stream *v = stream_new(in->env, -1, in->edges, in->nedges, keyed);
	if (!v)
		return NULL;
	for (size_t i = 0; i < v->nedges; i++) {
		v->edges[i].part = part;
		sg_key_fini(&v->edges[i].key);
		memset(&v->edges[i].key, 0, sizeof(v->edges[i].key));
		if (key && sg_key_copy(&v->edges[i].key, key) != 0) {
			env_fail(in->env, FL_ENOMEM, "out of memory");
			return NULL;
		}
	}
	return v;
}

FL_API fl_stream *fl_key_by(fl_stream *in, uint32_t field)
{
	if (!usable(in))
		return NULL;
	if (field >= FL_ROW_MAX_FIELDS) {
		env_fail(in->env, FL_EINVAL, "key_by: field %u is out of range (rows have at most %d fields)",
			 field, FL_ROW_MAX_FIELDS);
		return NULL;
	}
	sg_key k = {.by_fn = false, .field = field};
	return repartition(in, SG_PART_HASH, &k, true);
}

FL_API fl_stream *fl_key_by_fn(fl_stream *in, fl_key_fn fn)
{
	if (!usable(in))
		return NULL;
	sg_key k = {.by_fn = true};
	if (env_name_fn(in->env, (const void *)fn, "key_by", &k.fn_symbol) != 0)
		return NULL;
	fl_stream *v = repartition(in, SG_PART_HASH, &k, true);
	sg_key_fini(&k);
	return v;
}

FL_API fl_stream *fl_rebalance(fl_stream *in)
{
	return repartition(in, SG_PART_REBALANCE, NULL, false);
}

FL_API fl_stream *fl_broadcast(fl_stream *in)
{
	return repartition(in, SG_PART_BROADCAST, NULL, false);
}

FL_API fl_stream *fl_forward(fl_stream *in)
{
	return repartition(in, SG_PART_FORWARD, NULL, false);
}

FL_API fl_stream *fl_union(fl_stream *a, fl_stream *b)
{
	if (!usable(a) || !usable(b))
		return NULL;
	if (a->env != b->env) {
		env_fail(a->env, FL_EINVAL, "union: the two streams belong to different environments");
		return NULL;
	}
	if (a->connected || b->connected || a->bdesc || b->bdesc) {
		env_fail(a->env, FL_EINVAL,
			 "union: connected streams (fl_connect) and broadcast state streams cannot "
			 "be united");
		return NULL;
	}
	size_t n = a->nedges + b->nedges;
	sg_edge *edges = calloc(n, sizeof(*edges));
	if (!edges) {
		env_fail(a->env, FL_ENOMEM, "out of memory");
		return NULL;
	}
	memcpy(edges, a->edges, a->nedges * sizeof(*edges));
	memcpy(edges + a->nedges, b->edges, b->nedges * sizeof(*edges));
	/* stream_new deep-copies the keys. */
	fl_stream *v = stream_new(a->env, -1, edges, n, false);
	free(edges);
	return v;
}

static fl_stream *keyed_agg(fl_stream *in, enum sg_kind kind, uint32_t field, const void *fn)
{
	if (!usable(in))
		return NULL;
	const char *what = kind == SG_REDUCE ? "reduce" : kind == SG_SUM ? "sum" : kind == SG_MIN ? "min" : "max";
	if (!in->keyed) {
		env_fail(in->env, FL_EINVAL,
			 "%s: needs a keyed stream; call fl_key_by() or fl_key_by_fn() first", what);
		return NULL;
	}
	if (kind != SG_REDUCE && field >= FL_ROW_MAX_FIELDS) {
		env_fail(in->env, FL_EINVAL, "%s: field %u is out of range (rows have at most %d fields)",
			 what, field, FL_ROW_MAX_FIELDS);
		return NULL;
	}
	fl_stream *out = kind == SG_REDUCE ? add_fn_node(in, kind, fn, what) : NULL;
	if (kind != SG_REDUCE) {
		sg_node *n;
		out = add_node(in->env, in, kind, &n);
		if (out)
			n->field = field;
	}
	return out;
}

FL_API fl_stream *fl_reduce(fl_stream *keyed, fl_reduce_fn fn)
{
	return keyed_agg(keyed, SG_REDUCE, 0, (const void *)fn);
}

FL_API fl_stream *fl_sum(fl_stream *keyed, uint32_t field)
{
	return keyed_agg(keyed, SG_SUM, field, NULL);
}

FL_API fl_stream *fl_min(fl_stream *keyed, uint32_t field)
{
	return keyed_agg(keyed, SG_MIN, field, NULL);
}

FL_API fl_stream *fl_max(fl_stream *keyed, uint32_t field)
{
	return keyed_agg(keyed, SG_MAX, field, NULL);
}

FL_API fl_stream *fl_process(fl_stream *keyed, fl_process_fn fn)
{
	if (!usable(keyed))
		return NULL;
	if (!keyed->keyed) {
		env_fail(keyed->env, FL_EINVAL,
			 "process: needs a keyed stream; call fl_key_by() or fl_key_by_fn() first");
		return NULL;
	}
	return add_fn_node(keyed, SG_PROCESS, (const void *)fn, "process");
}

FL_API fl_stream *fl_window(fl_stream *keyed, const fl_window_spec *spec)
{
	if (!usable(keyed))
		return NULL;
	if (!keyed->keyed) {
		env_fail(keyed->env, FL_EINVAL,
			 "window: needs a keyed stream; call fl_key_by() or fl_key_by_fn() first");
		return NULL;
	}
	if (!spec) {
		env_fail(keyed->env, FL_EINVAL, "window: the spec is NULL");
		return NULL;
	}
	const void *fns[SG_WIN_NFNS] = {
	    [SG_WIN_REDUCE] = (const void *)spec->reduce,
	    [SG_WIN_CREATE] = (const void *)spec->agg.create,
	    [SG_WIN_ADD] = (const void *)spec->agg.add,
	    [SG_WIN_RESULT] = (const void *)spec->agg.result,
	    [SG_WIN_MERGE] = (const void *)spec->agg.merge,
	    [SG_WIN_FN] = (const void *)spec->window_fn,
	    [SG_WIN_PROCESS] = (const void *)spec->process,
	};
	static const char *const what[SG_WIN_NFNS] = {
	    "window reduce",	 "window agg.create", "window agg.add",
	    "window agg.result", "window agg.merge",  "window function", "window process"};
	bool count = spec->kind == FL_WINDOW_COUNT;
	sg_window win = {
	    .kind = spec->kind,
	    .time = spec->time,
	    .size_ms = count				 ? spec->count
		       : spec->kind == FL_WINDOW_SESSION ? spec->gap_ms
							 : spec->size_ms,
	    .slide_ms = count				  ? spec->count_slide
			: spec->kind == FL_WINDOW_SLIDING ? spec->slide_ms
							  : 0,
	    .lateness_ms = spec->allowed_lateness_ms,
	    .trigger = spec->trigger.kind,
	    .trigger_n = spec->trigger.kind == FL_TRIGGER_COUNT	    ? spec->trigger.count
			 : spec->trigger.kind == FL_TRIGGER_DEFAULT ? 0
								    : spec->trigger.interval_ms,
	    .purging = spec->trigger.purging,
	    .evictor = spec->evictor.kind,
	    .evictor_n = spec->evictor.kind == FL_EVICTOR_COUNT	 ? spec->evictor.count
			 : spec->evictor.kind == FL_EVICTOR_TIME ? spec->evictor.keep_ms
								 : 0,
	    .evict_after = spec->evictor.kind != FL_EVICTOR_NONE && spec->evictor.after};
	unsigned present = 0;
	for (int f = 0; f < SG_WIN_NFNS; f++)
		present |= fns[f] ? 1u << f : 0;
	char why[256];
	if (sg_window_check(&win, present, why, sizeof(why)) != 0) {
		env_fail(keyed->env, FL_EINVAL, "window: %s", why);
		return NULL;
	}
	for (int f = 0; f < SG_WIN_NFNS; f++)
		if (fns[f] && env_name_fn(keyed->env, fns[f], what[f], &win.fns[f]) != 0) {
			for (int g = 0; g < f; g++)
				free(win.fns[g]);
			return NULL;
		}
	sg_node *n;
	fl_stream *out = add_node(keyed->env, keyed, SG_WINDOW, &n);
	if (!out) {
		for (int f = 0; f < SG_WIN_NFNS; f++)
			free(win.fns[f]);
		return NULL;
	}
	n->win = win;
	return out;
}

FL_API fl_stream *fl_window_all(fl_stream *in, const fl_window_spec *spec)
{
	if (!usable(in))
		return NULL;
	if (in->keyed) {
		env_fail(in->env, FL_EINVAL,
			 "window_all: takes a stream that is not keyed; use fl_window on a keyed one");
		return NULL;
	}
	sg_key k = {.by_fn = true, .fn_symbol = (char *)SG_GLOBAL_KEY_SYMBOL};
	fl_stream *v = repartition(in, SG_PART_HASH, &k, true);
	fl_stream *out = v ? fl_window(v, spec) : NULL;
	if (!out)
		return NULL;
	sg_node *n = in->env->graph->nodes[out->node];
	n->parallelism = 1;
	n->max_parallelism = 1;
	n->non_parallel = true;
	return out;
}

FL_API fl_stream *fl_window_late_records(fl_stream *windowed)
{
	if (!usable(windowed))
		return NULL;
	fl_env *env = windowed->env;
	const sg_node *n = windowed->node >= 0 ? env->graph->nodes[windowed->node] : NULL;
	if (!n || n->kind != SG_WINDOW) {
		env_fail(env, FL_EINVAL,
			 "window_late_records: needs the stream fl_window() returned");
		return NULL;
	}
	if (n->win.time != FL_EVENT_TIME || n->win.kind == FL_WINDOW_COUNT) {
		env_fail(env, FL_EINVAL, "window_late_records: %s windows have no late records",
			 n->win.kind == FL_WINDOW_COUNT ? "count" : "processing-time");
		return NULL;
	}
	return fl_side_output(windowed, FL_LATE_RECORDS_TAG);
}

FL_API fl_stream *fl_join_late_records(fl_stream *joined, int input)
{
	if (!usable(joined))
		return NULL;
	fl_env *env = joined->env;
	const sg_node *n = joined->node >= 0 ? env->graph->nodes[joined->node] : NULL;
	if (!n || (n->kind != SG_WINDOW_JOIN && n->kind != SG_INTERVAL_JOIN &&
		   n->kind != SG_WINDOW_COGROUP)) {
		env_fail(env, FL_EINVAL,
			 "join_late_records: needs the stream fl_window_join(), "
			 "fl_interval_join() or fl_window_cogroup() returned");
		return NULL;
	}
	if (input != 0 && input != 1) {
		env_fail(env, FL_EINVAL, "join_late_records: input %d: 0 (left) or 1 (right)",
			 input);
		return NULL;
	}
	return fl_side_output(joined, input ? FL_LATE_RIGHT_TAG : FL_LATE_LEFT_TAG);
}

FL_API fl_stream *fl_side_output(fl_stream *s, const char *tag)
{
	if (!usable(s))
		return NULL;
	fl_env *env = s->env;
	const sg_node *n = s->node >= 0 ? env->graph->nodes[s->node] : NULL;
	size_t len = tag ? strnlen(tag, FL_TAG_MAX + 1) : 0;
	if (len == 0 || len > FL_TAG_MAX) {
		env_fail(env, FL_EINVAL, "side_output: a tag of 1 to %d bytes, not %s", FL_TAG_MAX,
			 len ? "a longer one" : "none");
		return NULL;
	}
	bool collects = n && (n->kind == SG_FLAT_MAP || n->kind == SG_PROCESS ||
			      n->kind == SG_WINDOW || n->kind == SG_CO_FLAT_MAP ||
			      n->kind == SG_CO_PROCESS || n->kind == SG_CO_BROADCAST ||
			      n->kind == SG_WINDOW_JOIN || n->kind == SG_INTERVAL_JOIN ||
			      n->kind == SG_BROADCAST_PROCESS || n->kind == SG_WINDOW_COGROUP);
	if (!collects) {
		env_fail(env, FL_EINVAL,
			 "side_output '%s': %s has no function that emits through a collector "
			 "(flat_map, process functions, windows, joins do)",
			 tag, n ? n->name : "a union or partitioning of streams");
		return NULL;
	}
	sg_edge e = {.src = n->id, .part = SG_PART_UNSET};
	memcpy(e.tag, tag, len + 1);
	return stream_new(env, -1, &e, 1, false);
}

FL_API fl_stream *fl_keyed_process(fl_stream *keyed, const fl_process_spec *spec)
{
	if (!usable(keyed))
		return NULL;
	if (!spec || !spec->process) {
		env_fail(keyed->env, FL_EINVAL, "keyed_process: the spec has no process function");
		return NULL;
	}
	char *tsym = NULL;
	if (spec->on_timer &&
	    env_name_fn(keyed->env, (const void *)spec->on_timer, "keyed_process on_timer", &tsym) != 0)
		return NULL;
	fl_stream *out = fl_process(keyed, spec->process);
	if (!out) {
		free(tsym);
		return NULL;
	}
	keyed->env->graph->nodes[out->node]->timer_symbol = tsym;
	return out;
}

/* ------------------------------------------------------------ two inputs */

FL_API fl_stream *fl_connect(fl_stream *a, fl_stream *b)
{
	if (!usable(a) || !usable(b))
		return NULL;
	fl_env *env = a->env;
	if (a->env != b->env) {
		env_fail(env, FL_EINVAL,
			 "connect: the two streams belong to different environments");
		return NULL;
	}
	if (a->connected || b->connected) {
		env_fail(env, FL_EINVAL, "connect: a stream is already two connected streams");
		return NULL;
	}
	if (a->bdesc) {
		env_fail(
		    env, FL_EINVAL,
		    "connect: a broadcast state stream (fl_broadcast_state) must be the second "
		    "stream: fl_connect(keyed, broadcast)");
		return NULL;
	}
	size_t n = a->nedges + b->nedges;
	sg_edge *edges = calloc(n, sizeof(*edges));
	if (!edges) {
		env_fail(env, FL_ENOMEM, "out of memory");
		return NULL;
	}
	memcpy(edges, a->edges, a->nedges * sizeof(*edges));
	memcpy(edges + a->nedges, b->edges, b->nedges * sizeof(*edges));
	for (size_t i = 0; i < n; i++)
		edges[i].side = i < a->nedges ? 0 : 1;
	fl_stream *v = stream_new(env, -1, edges, n, a->keyed);
	free(edges);
	if (v) {
		v->connected = true;
		v->keyed2 = b->keyed;
		v->bdesc = b->bdesc;
	}
	return v;
}

/* A two-input node of kind on connected with its two functions (fn2
 * may be NULL for the joins); what names the call in errors. */
static fl_stream *add_two_input(fl_stream *connected, enum sg_kind kind, const void *fn,
				const void *fn2, const char *what, sg_node **np)
{
	if (!usable(connected))
		return NULL;
	fl_env *env = connected->env;
	if (!connected->connected) {
		env_fail(env, FL_EINVAL, "%s: needs two connected streams (fl_connect)", what);
		return NULL;
	}
	char fw[96];
	char *sym = NULL, *sym2 = NULL;
	snprintf(fw, sizeof(fw), "%s, first input", what);
	if (env_name_fn(env, fn, fw, &sym) != 0)
		return NULL;
	snprintf(fw, sizeof(fw), "%s, second input", what);
	if (fn2 && env_name_fn(env, fn2, fw, &sym2) != 0) {
		free(sym);
		return NULL;
	}
	fl_stream *out = add_node(env, connected, kind, np);
	if (!out) {
		free(sym);
		free(sym2);
		return NULL;
	}
	(*np)->fn_symbol = sym;
	(*np)->fn2_symbol = sym2;
	return out;
}

/* Refuses a broadcast state stream where none belongs. */
static bool no_bstate(fl_stream *connected, const char *what)
{
	if (connected && connected->bdesc && connected->env && !connected->env->err.code) {
		env_fail(connected->env, FL_EINVAL,
			 "%s: the second stream is a broadcast state stream: use "
			 "fl_broadcast_process",
			 what);
		return false;
	}
	return true;
}

FL_API fl_stream *fl_co_map(fl_stream *connected, fl_map_fn map1, fl_map_fn map2)
{
	sg_node *n;
	if (!no_bstate(connected, "co_map"))
		return NULL;
	return add_two_input(connected, SG_CO_MAP, (const void *)map1, (const void *)map2, "co_map",
			     &n);
}

FL_API fl_stream *fl_co_flat_map(fl_stream *connected, fl_flat_map_fn flat_map1,
				 fl_flat_map_fn flat_map2)
{
	sg_node *n;
	if (!no_bstate(connected, "co_flat_map"))
		return NULL;
	return add_two_input(connected, SG_CO_FLAT_MAP, (const void *)flat_map1,
			     (const void *)flat_map2, "co_flat_map", &n);
}

/* The on_timer of a two-input function: named, and only on two keyed
 * inputs (first_keyed: the keyed one). */
static int name_on_timer(fl_stream *connected, fl_on_timer_fn on_timer, bool keyed,
			 const char *what, char **tsym)
{
	*tsym = NULL;
	if (!on_timer)
		return 0;
	if (!keyed)
		return env_fail(connected->env, FL_EINVAL,
				"%s: an on_timer function needs keyed inputs: timers are per key, "
				"so connect keyed streams (fl_key_by on each)",
				what);
	char fw[96];
	snprintf(fw, sizeof(fw), "%s on_timer", what);
	return env_name_fn(connected->env, (const void *)on_timer, fw, tsym);
}

FL_API fl_stream *fl_co_process(fl_stream *connected, const fl_co_process_spec *spec)
{
	if (!usable(connected) || !no_bstate(connected, "co_process"))
		return NULL;
	fl_env *env = connected->env;
	if (!spec || !spec->process1 || !spec->process2) {
		env_fail(env, FL_EINVAL, "co_process: the spec needs process1 and process2");
		return NULL;
	}
	if (!connected->connected) {
		env_fail(env, FL_EINVAL, "co_process: needs two connected streams (fl_connect)");
		return NULL;
	}
	bool keyed = connected->keyed && connected->keyed2;
	if (connected->keyed != connected->keyed2) {
		env_fail(env, FL_EINVAL,
			 "co_process: the %s stream is keyed and the %s is not: a keyed co-process "
			 "function needs both keyed (fl_key_by on each, keys of the same type), "
			 "a co-process function without keyed state neither",
			 connected->keyed ? "first" : "second",
			 connected->keyed ? "second" : "first");
		return NULL;
	}
	char *tsym = NULL;
	if (name_on_timer(connected, spec->on_timer, keyed, "co_process", &tsym) != 0)
		return NULL;
	sg_node *n;
	/* Without keys it is a co-flat-map: the same calls, no state. */
	fl_stream *out = add_two_input(connected, keyed ? SG_CO_PROCESS : SG_CO_FLAT_MAP,
				       (const void *)spec->process1, (const void *)spec->process2,
				       "co_process", &n);
	if (!out) {
		free(tsym);
		return NULL;
	}
	n->timer_symbol = tsym;
	return out;
}

FL_API fl_stream *fl_broadcast_state(fl_stream *in, const fl_state_desc *desc)
{
	if (!usable(in))
		return NULL;
	fl_env *env = in->env;
	const char *bad = NULL;
	if (!desc)
		bad = "the descriptor is NULL";
	else if (!desc->name || !*desc->name || strlen(desc->name) > 255)
		bad = "the descriptor needs a name of 1..255 bytes";
	else if (desc->ttl.ttl_ms)
		bad = "a broadcast state has no TTL (as in Flink)";
	else if (desc->reduce || desc->agg.create || desc->agg.add || desc->agg.result)
		bad = "a broadcast state is a map state: no reduce or aggregate functions";
	if (bad) {
		env_fail(env, FL_EINVAL, "broadcast_state: %s", bad);
		return NULL;
	}
	fl_stream *v = repartition(in, SG_PART_BROADCAST, NULL, false);
	if (v)
		v->bdesc = desc;
	return v;
}

FL_API fl_stream *fl_broadcast_process(fl_stream *connected, const fl_broadcast_process_spec *spec)
{
	if (!usable(connected))
		return NULL;
	fl_env *env = connected->env;
	if (!spec || !spec->process || !spec->process_broadcast) {
		env_fail(env, FL_EINVAL,
			 "broadcast_process: the spec needs process and process_broadcast");
		return NULL;
	}
	if (!connected->connected || !connected->bdesc) {
		env_fail(env, FL_EINVAL,
			 "broadcast_process: needs a stream connected to a broadcast state "
			 "stream: fl_connect(stream, fl_broadcast_state(..., &desc))");
		return NULL;
	}
	char *tsym = NULL, *bname = strdup(connected->bdesc->name);
	if (!bname) {
		env_fail(env, FL_ENOMEM, "out of memory");
		return NULL;
	}
	if (name_on_timer(connected, spec->on_timer, connected->keyed, "broadcast_process",
			  &tsym) != 0) {
		free(bname);
		return NULL;
	}
	sg_node *n;
	/* Keyed first input: Flink's KeyedBroadcastProcessFunction, else its
	 * BroadcastProcessFunction (no keyed state, no timers). */
	fl_stream *out =
	    add_two_input(connected, connected->keyed ? SG_CO_BROADCAST : SG_BROADCAST_PROCESS,
			  (const void *)spec->process, (const void *)spec->process_broadcast,
			  "broadcast_process", &n);
	if (!out) {
		free(tsym);
		free(bname);
		return NULL;
	}
	n->timer_symbol = tsym;
	n->bstate_name = bname;
	return out;
}

/* The two keyed inputs of a join, connected; what names the call. */
static fl_stream *join_inputs(fl_stream *left, fl_stream *right, const void *spec, const char *what)
{
	if (!usable(left) || !usable(right))
		return NULL;
	fl_env *env = left->env;
	if (!spec) {
		env_fail(env, FL_EINVAL, "%s: the spec is NULL", what);
		return NULL;
	}
	if (!left->keyed || !right->keyed || left->connected || right->connected) {
		env_fail(env, FL_EINVAL,
			 "%s: the %s stream is not keyed: key both with fl_key_by or fl_key_by_fn "
			 "(Flink's where and equalTo), keys of the same type",
			 what, !left->keyed || left->connected ? "left" : "right");
		return NULL;
	}
	return fl_connect(left, right);
}

/* The windows of a window join or coGroup (kind: SG_WINDOW_JOIN or
 * SG_WINDOW_COGROUP, what names the call), checked, and its node. */
static fl_stream *window_two(fl_stream *left, fl_stream *right, const void *spec,
			     enum fl_window_kind wk, int64_t size, int64_t slide, int64_t gap,
			     const void *fn, enum sg_kind kind, const char *what)
{
	fl_stream *c = join_inputs(left, right, spec, what);
	if (!c)
		return NULL;
	fl_env *env = c->env;
	const char *bad = NULL;
	long long v = 0;
	bool session = wk == FL_WINDOW_SESSION;
	if (wk != FL_WINDOW_TUMBLING && wk != FL_WINDOW_SLIDING && !session)
		bad = "kind is not FL_WINDOW_TUMBLING, FL_WINDOW_SLIDING or FL_WINDOW_SESSION",
		v = wk;
	else if (session && (gap <= 0 || gap > INT64_MAX / 4))
		bad = "gap_ms of a session window must be > 0", v = gap;
	else if (!session && (size <= 0 || size > INT64_MAX / 4))
		bad = "size_ms must be > 0", v = size;
	else if (wk == FL_WINDOW_SLIDING && (slide <= 0 || slide > size))
		bad = "slide_ms of a sliding window must be > 0 and <= size_ms", v = slide;
	if (bad) {
		env_fail(env, FL_EINVAL, "%s: %s, not %lld", what, bad, v);
		return NULL;
	}
	sg_node *n;
	fl_stream *out = add_two_input(c, kind, fn, NULL, what, &n);
	if (!out)
		return NULL;
	/* A session's gap travels as its size, as fl_window's does. */
	n->win = (sg_window){.kind = wk,
			     .time = FL_EVENT_TIME,
			     .size_ms = session ? gap : size,
			     .slide_ms = wk == FL_WINDOW_SLIDING ? slide : 0};
	return out;
}

FL_API fl_stream *fl_window_join(fl_stream *left, fl_stream *right, const fl_window_join_spec *spec)
{
	return window_two(left, right, spec, spec ? spec->kind : 0, spec ? spec->size_ms : 0,
			  spec ? spec->slide_ms : 0, spec ? spec->gap_ms : 0,
			  spec ? (const void *)spec->join : NULL, SG_WINDOW_JOIN, "window_join");
}

FL_API fl_stream *fl_window_cogroup(fl_stream *left, fl_stream *right,
				    const fl_window_cogroup_spec *spec)
{
	return window_two(left, right, spec, spec ? spec->kind : 0, spec ? spec->size_ms : 0,
			  spec ? spec->slide_ms : 0, spec ? spec->gap_ms : 0,
			  spec ? (const void *)spec->cogroup : NULL, SG_WINDOW_COGROUP,
			  "window_cogroup");
}

FL_API fl_stream *fl_interval_join(fl_stream *left, fl_stream *right,
				   const fl_interval_join_spec *spec)
{
	fl_stream *c = join_inputs(left, right, spec, "interval_join");
	if (!c)
		return NULL;
	fl_env *env = c->env;
	/* Timestamps are whole ms: an exclusive bound is the next inclusive one. */
	int64_t lo = spec->lower_ms, up = spec->upper_ms;
	if (lo < -(INT64_MAX / 4) || lo > INT64_MAX / 4 || up < -(INT64_MAX / 4) ||
	    up > INT64_MAX / 4) {
		env_fail(env, FL_EINVAL, "interval_join: a bound is out of range (%lld, %lld)",
			 (long long)lo, (long long)up);
		return NULL;
	}
	lo += spec->lower_exclusive ? 1 : 0;
	up -= spec->upper_exclusive ? 1 : 0;
	if (lo > up) {
		env_fail(env, FL_EINVAL,
			 "interval_join: the lower bound %lld%s is above the upper bound %lld%s",
			 (long long)spec->lower_ms, spec->lower_exclusive ? " (exclusive)" : "",
			 (long long)spec->upper_ms, spec->upper_exclusive ? " (exclusive)" : "");
		return NULL;
	}
	sg_node *n;
	fl_stream *out =
	    add_two_input(c, SG_INTERVAL_JOIN, (const void *)spec->join, NULL, "interval_join", &n);
	if (!out)
		return NULL;
	n->lower_ms = lo;
	n->upper_ms = up;
	return out;
}

static fl_stream *sink(fl_stream *in, enum sg_kind kind, sg_node **np)
{
	if (!usable(in))
		return NULL;
	return add_node(in->env, in, kind, np);
}

FL_API fl_stream *fl_print(fl_stream *in)
{
	sg_node *n;
	return sink(in, SG_SINK_PRINT, &n);
}

FL_API fl_stream *fl_discard(fl_stream *in)
{
	sg_node *n;
	return sink(in, SG_SINK_DISCARD, &n);
}

FL_API fl_stream *fl_write_text(fl_stream *in, const char *dir)
{
	if (!usable(in))
		return NULL;
	if (!dir || !*dir) {
		env_fail(in->env, FL_EINVAL, "write_text: the output directory is empty");
		return NULL;
	}
	sg_node *n;
	fl_stream *out = sink(in, SG_SINK_TEXT_FILE, &n);
	if (out && !(n->dir = strdup(dir))) {
		env_fail(in->env, FL_ENOMEM, "out of memory");
		return NULL;
	}
	return out;
}

/* ----------------------------------------------------------- event time */

FL_API fl_stream *fl_assign_timestamps_and_watermarks(fl_stream *source,
						      const fl_watermark_strategy *ws)
{
	if (!usable(source))
		return NULL;
	fl_env *env = source->env;
	const char *what = "assign_timestamps_and_watermarks";
	sg_node *n = source->node >= 0 ? env->graph->nodes[source->node] : NULL;
	if (!n || !sg_kind_is_source(n->kind)) {
		env_fail(env, FL_EINVAL,
			 "%s: applies to a source stream (fl_generator, fl_read_text_file[s], "
			 "fl_socket_text), not to '%s'",
			 what, n ? n->name : "a keyed, partitioned or union view");
		return NULL;
	}
	if (!ws) {
		env_fail(env, FL_EINVAL, "%s: no watermark strategy given for '%s'", what, n->name);
		return NULL;
	}
	if (n->event_time) {
		env_fail(env, FL_EINVAL, "%s: source '%s' already has a watermark strategy", what,
			 n->name);
		return NULL;
	}
	if (ws->kind != FL_WATERMARK_NONE && ws->kind != FL_WATERMARK_MONOTONOUS &&
	    ws->kind != FL_WATERMARK_BOUNDED) {
		env_fail(env, FL_EINVAL, "%s: unknown watermark kind %d for '%s'", what,
			 (int)ws->kind, n->name);
		return NULL;
	}
	if (ws->kind == FL_WATERMARK_BOUNDED && ws->out_of_orderness_ms < 0) {
		env_fail(env, FL_EINVAL,
			 "%s: out_of_orderness_ms of '%s' must be >= 0 ms, not %lld", what, n->name,
			 (long long)ws->out_of_orderness_ms);
		return NULL;
	}
	if (ws->idle_timeout_ms < 0 || ws->idle_timeout_ms > INT64_MAX / 4) {
		env_fail(env, FL_EINVAL,
			 "%s: idle_timeout_ms of '%s' must be >= 0 ms (0: never idle), not %lld", what,
			 n->name, (long long)ws->idle_timeout_ms);
		return NULL;
	}
	if (ws->timestamp_fn) {
		char *sym = NULL;
		if (env_name_fn(env, (const void *)ws->timestamp_fn, "timestamp assigner", &sym) !=
		    0)
			return NULL;
		n->ts_symbol = sym;
	} else if (ws->timestamp_field >= FL_ROW_MAX_FIELDS) {
		env_fail(env, FL_EINVAL,
			 "%s: timestamp field %u of '%s' is past the %d fields of a row", what,
			 ws->timestamp_field, n->name, FL_ROW_MAX_FIELDS);
		return NULL;
	}
	n->event_time = true;
	n->wm_kind = (int)ws->kind;
	n->wm_bound_ms = ws->kind == FL_WATERMARK_BOUNDED ? ws->out_of_orderness_ms : 0;
	n->ts_field = ws->timestamp_field;
	n->wm_idle_ms = ws->idle_timeout_ms;
	return source;
}

/* ----------------------------------------------------------- properties */

static sg_node *settable(fl_stream *s, const char *what)
{
	if (!usable(s))
		return NULL;
	if (s->node < 0) {
		env_fail(s->env, FL_EINVAL,
			 "%s: applies to an operator, source or sink, not to a keyed, partitioned "
			 "or union view",
			 what);
		return NULL;
	}
	return s->env->graph->nodes[s->node];
}

FL_API fl_stream *fl_set_parallelism(fl_stream *s, int parallelism)
{
	sg_node *n = settable(s, "set_parallelism");
	if (!n)
		return NULL;
	if (parallelism < 1) {
		env_fail(s->env, FL_EINVAL, "set_parallelism: parallelism of '%s' must be at least 1, not %d",
			 n->name, parallelism);
		return NULL;
	}
	if (n->non_parallel && parallelism != 1) {
		env_fail(s->env, FL_EINVAL,
			 "set_parallelism: '%s' is not a parallel operator: its parallelism must be 1, "
			 "not %d",
			 n->name, parallelism);
		return NULL;
	}
	n->parallelism = parallelism;
	n->parallelism_fixed = true;
	return s;
}

FL_API fl_stream *fl_set_max_parallelism(fl_stream *s, int max_parallelism)
{
	sg_node *n = settable(s, "set_max_parallelism");
	if (!n)
		return NULL;
	if (max_parallelism < 1 || max_parallelism > 32768) {
		env_fail(s->env, FL_EINVAL,
			 "set_max_parallelism: max parallelism of '%s' must be in 1..32768, not %d",
			 n->name, max_parallelism);
		return NULL;
	}
	n->max_parallelism = max_parallelism;
	return s;
}

FL_API fl_stream *fl_name(fl_stream *s, const char *name)
{
	sg_node *n = settable(s, "name");
	if (!n)
		return NULL;
	if (!name || !*name) {
		env_fail(s->env, FL_EINVAL, "name: the name of '%s' is empty", n->name);
		return NULL;
	}
	char *c = strndup(name, 200);
	if (!c) {
		env_fail(s->env, FL_ENOMEM, "out of memory");
		return NULL;
	}
	free(n->name);
	n->name = c;
	return s;
}

FL_API fl_stream *fl_uid(fl_stream *s, const char *uid)
{
	sg_node *n = settable(s, "uid");
	if (!n)
		return NULL;
	size_t len = uid ? strlen(uid) : 0;
	bool ok = len > 0 && len <= 128;
	for (size_t i = 0; ok && i < len; i++)
		ok = (unsigned char)uid[i] >= 0x20 && uid[i] != 0x7f && uid[i] != '/';
	if (!ok) {
		env_fail(s->env, FL_EINVAL,
			 "uid: the uid of '%s' must be 1 to 128 printable characters without '/'",
			 n->name);
		return NULL;
	}
	char *c = strdup(uid);
	if (!c) {
		env_fail(s->env, FL_ENOMEM, "out of memory");
		return NULL;
	}
	free(n->uid);
	n->uid = c;
	return s;
}

FL_API fl_stream *fl_disable_chaining(fl_stream *s)
{
	sg_node *n = settable(s, "disable_chaining");
	if (n)
		n->chaining_disabled = true;
	return n ? s : NULL;
}

FL_API fl_stream *fl_start_new_chain(fl_stream *s)
{
	sg_node *n = settable(s, "start_new_chain");
	if (n)
		n->start_new_chain = true;
	return n ? s : NULL;
}

FL_API fl_stream *fl_colocate(fl_stream *s, const char *group)
{
	sg_node *n = settable(s, "colocate");
	if (!n)
		return NULL;
	if (!group || !*group) {
		env_fail(s->env, FL_EINVAL, "colocate: the group name of '%s' is empty", n->name);
		return NULL;
	}
	char *c = strndup(group, 200);
	if (!c) {
		env_fail(s->env, FL_ENOMEM, "out of memory");
		return NULL;
	}
	free(n->coloc_group);
	n->coloc_group = c;
	return s;
}

FL_API int fl_register_slot_sharing_group(fl_env *env, const char *group,
					  const fl_resource_spec *spec)
{
	if (!env)
		return FL_EINVAL;
	if (env->err.code)
		return env->err.code;
	if (!group || !*group || strlen(group) > 200)
		return env_fail(env, FL_EINVAL,
				"register_slot_sharing_group: the group name is empty or longer "
				"than 200 bytes");
	if (strcmp(group, "default") == 0)
		return env_fail(env, FL_EINVAL,
				"register_slot_sharing_group: the resources of the 'default' slot "
				"sharing group cannot be declared; its slots are the "
				"TaskManagers' default slots");
	if (!spec)
		return env_fail(env, FL_EINVAL,
				"register_slot_sharing_group: no resource spec for group '%s'",
				group);
	/* Flink's SlotSharingGroup.Builder: CPU cores and task heap memory are
	 * required once any resource is given; the rest defaults to zero. */
	const int64_t mb_max = 16ll << 20; /* 16 TiB in MiB */
	if (!(spec->cpu_cores > 0 && spec->cpu_cores <= 4096) || spec->task_heap_mb <= 0 ||
	    spec->task_heap_mb > mb_max || spec->task_off_heap_mb < 0 ||
	    spec->task_off_heap_mb > mb_max || spec->managed_mb < 0 || spec->managed_mb > mb_max)
		return env_fail(
		    env, FL_EINVAL,
		    "register_slot_sharing_group: group '%s' declares cpu_cores %g, "
		    "task_heap_mb %lld, task_off_heap_mb %lld, managed_mb %lld: CPU cores "
		    "must be in (0, 4096] and task heap memory above 0 (both are "
		    "required), every memory in [0, 16 TiB]",
		    group, spec->cpu_cores, (long long)spec->task_heap_mb,
		    (long long)spec->task_off_heap_mb, (long long)spec->managed_mb);
	cm_resource r = {.cpu_milli = (int64_t)(spec->cpu_cores * 1000.0 + 0.5),
			 .heap_bytes = spec->task_heap_mb << 20,
			 .offheap_bytes = spec->task_off_heap_mb << 20,
			 .managed_bytes = spec->managed_mb << 20};
	if (r.cpu_milli < 1)
		r.cpu_milli = 1; /* a declared share is never nothing */
	int rc = sg_set_group_resource(env->graph, group, &r);
	if (rc == FL_ERANGE)
		return env_fail(env, rc,
				"register_slot_sharing_group: more than %d slot sharing groups "
				"declare resources",
				SG_MAX_GROUP_RESOURCES);
	if (rc)
		return env_fail(env, rc, "out of memory");
	return 0;
}

FL_API fl_stream *fl_slot_sharing_group(fl_stream *s, const char *group)
{
	sg_node *n = settable(s, "slot_sharing_group");
	if (!n)
		return NULL;
	if (!group || !*group) {
		env_fail(s->env, FL_EINVAL, "slot_sharing_group: the group name of '%s' is empty",
			 n->name);
		return NULL;
	}
	char *c = strndup(group, 200);
	if (!c) {
		env_fail(s->env, FL_ENOMEM, "out of memory");
		return NULL;
	}
	free(n->slot_group);
	n->slot_group = c;
	return s;
}
