#include "graph/streamgraph.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sg_graph_new(sg_graph **out)
{
	sg_graph *g = calloc(1, sizeof(*g));
	if (!g)
		return FL_ENOMEM;
	g->parallelism = 1;
	g->max_parallelism = 128;
	g->mode = FL_MODE_STREAMING;
	g->buffer_timeout_ms = 100;
	*out = g;
	return 0;
}

void sg_key_fini(sg_key *k)
{
	free(k->fn_symbol);
	k->fn_symbol = NULL;
}

int sg_key_copy(sg_key *dst, const sg_key *src)
{
	*dst = *src;
	dst->fn_symbol = NULL;
	if (src->fn_symbol && !(dst->fn_symbol = strdup(src->fn_symbol)))
		return FL_ENOMEM;
	return 0;
}

static void node_free(sg_node *n)
{
	if (!n)
		return;
	free(n->name);
	free(n->uid);
	free(n->fn_symbol);
	free(n->ts_symbol);
	free(n->timer_symbol);
	free(n->fn2_symbol);
	free(n->bstate_name);
	for (int i = 0; i < SG_WIN_NFNS; i++)
		free(n->win.fns[i]);
	free(n->slot_group);
	free(n->coloc_group);
	for (size_t i = 0; i < n->npaths; i++)
		free(n->paths[i]);
	free(n->paths);
	free(n->sizes);
	free(n->dir);
	for (size_t i = 0; i < n->ninputs; i++)
		sg_key_fini(&n->inputs[i].key);
	free(n->inputs);
	free(n);
}

void sg_graph_free(sg_graph *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->nnodes; i++)
		node_free(g->nodes[i]);
	free(g->nodes);
	free(g->library);
	for (size_t i = 0; i < g->ngroup_res; i++)
		free(g->group_res[i].name);
	free(g->group_res);
	free(g);
}

int sg_set_group_resource(sg_graph *g, const char *name, const cm_resource *res)
{
	for (size_t i = 0; i < g->ngroup_res; i++) {
		if (strcmp(g->group_res[i].name, name) == 0) {
			g->group_res[i].res = *res;
			return 0;
		}
	}
	if (g->ngroup_res >= SG_MAX_GROUP_RESOURCES)
		return FL_ERANGE;
	sg_group_resource *a = realloc(g->group_res, (g->ngroup_res + 1) * sizeof(*a));
	if (!a)
		return FL_ENOMEM;
	g->group_res = a;
	char *c = strdup(name);
	if (!c)
		return FL_ENOMEM;
	a[g->ngroup_res++] = (sg_group_resource){.name = c, .res = *res};
	return 0;
}

const cm_resource *sg_group_resource_of(const sg_graph *g, const char *name)
{
	for (size_t i = 0; name && i < g->ngroup_res; i++)
		if (strcmp(g->group_res[i].name, name) == 0)
			return &g->group_res[i].res;
	return NULL;
}

int sg_copy_group_resources(sg_graph *dst, const sg_graph *src)
{
	for (size_t i = 0; i < src->ngroup_res; i++) {
		int rc = sg_set_group_resource(dst, src->group_res[i].name, &src->group_res[i].res);
		if (rc)
			return rc;
	}
	return 0;
}

int sg_add_node(sg_graph *g, enum sg_kind kind, const sg_edge *inputs, size_t ninputs,
		sg_node **out)
{
	if (g->nnodes == g->cap) {
		size_t ncap = g->cap ? g->cap * 2 : 16;
		sg_node **nn = realloc(g->nodes, ncap * sizeof(*nn));
		if (!nn)
			return FL_ENOMEM;
		g->nodes = nn;
		g->cap = ncap;
	}
	sg_node *n = calloc(1, sizeof(*n));
	if (!n)
		return FL_ENOMEM;
	n->kind = kind;
	n->id = (int)g->nnodes;
	if (!(n->name = strdup(sg_kind_default_name(kind))))
		goto oom;
	if (ninputs) {
		if (!(n->inputs = calloc(ninputs, sizeof(*n->inputs))))
			goto oom;
		for (size_t i = 0; i < ninputs; i++) {
			n->inputs[i] = inputs[i];
			n->inputs[i].key.fn_symbol = NULL;
			n->ninputs = i + 1;
			if (sg_key_copy(&n->inputs[i].key, &inputs[i].key) != 0)
				goto oom;
		}
	}
	g->nodes[g->nnodes++] = n;
	*out = n;
	return 0;
oom:
	node_free(n);
	return FL_ENOMEM;
}

const char *sg_node_uid(const sg_node *n, char *buf, size_t cap)
{
	if (n->uid)
		return n->uid;
	snprintf(buf, cap, "%s-%d", sg_kind_type(n->kind), n->id);
	return buf;
}

const char *sg_kind_default_name(enum sg_kind kind)
{
	switch (kind) {
	case SG_SOURCE_GENERATOR:
		return "Source: Generator";
	case SG_SOURCE_TEXT_FILE:
		return "Source: Text File";
	case SG_MAP:
		return "Map";
	case SG_FLAT_MAP:
		return "Flat Map";
	case SG_FILTER:
		return "Filter";
	case SG_REDUCE:
		return "Keyed Reduce";
	case SG_SUM:
	case SG_MIN:
	case SG_MAX:
		return "Keyed Aggregation";
	case SG_SINK_PRINT:
		return "Sink: Print to Std. Out";
	case SG_SINK_TEXT_FILE:
		return "Sink: Text File";
	case SG_SINK_DISCARD:
		return "Sink: Discard";
	case SG_PROCESS:
		return "KeyedProcess";
	case SG_WINDOW:
		return "Window";
	case SG_CO_MAP:
		return "Co-Map";
	case SG_CO_FLAT_MAP:
		return "Co-Flat Map";
	case SG_CO_PROCESS:
		return "KeyedCoProcess";
	case SG_CO_BROADCAST:
		return "KeyedBroadcastProcess";
	case SG_WINDOW_JOIN:
		return "Window Join";
	case SG_INTERVAL_JOIN:
		return "Interval Join";
	case SG_BROADCAST_PROCESS:
		return "BroadcastProcess";
	case SG_SOURCE_SOCKET:
		return "Source: Socket Stream";
	case SG_WINDOW_COGROUP:
		return "Window CoGroup";
	}
	return "?";
}

const char *sg_kind_type(enum sg_kind kind)
{
	static const char *const names[] = {
	    [SG_SOURCE_GENERATOR] = "generator",
	    [SG_SOURCE_TEXT_FILE] = "text-file",
	    [SG_MAP] = "map",
	    [SG_FLAT_MAP] = "flat-map",
	    [SG_FILTER] = "filter",
	    [SG_REDUCE] = "reduce",
	    [SG_SUM] = "sum",
	    [SG_MIN] = "min",
	    [SG_MAX] = "max",
	    [SG_SINK_PRINT] = "print",
	    [SG_SINK_TEXT_FILE] = "text-file-sink",
	    [SG_SINK_DISCARD] = "discard",
	    [SG_PROCESS] = "process",
	    [SG_WINDOW] = "window",
	    [SG_CO_MAP] = "co-map",
	    [SG_CO_FLAT_MAP] = "co-flat-map",
	    [SG_CO_PROCESS] = "co-process",
	    [SG_CO_BROADCAST] = "broadcast-process",
	    [SG_WINDOW_JOIN] = "window-join",
	    [SG_INTERVAL_JOIN] = "interval-join",
	    [SG_BROADCAST_PROCESS] = "broadcast-process-unkeyed",
	    [SG_SOURCE_SOCKET] = "socket",
	    [SG_WINDOW_COGROUP] = "window-cogroup",
	};
	return (unsigned)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

const char *sg_partitioner_name(enum sg_partitioner p)
{
	switch (p) {
	case SG_PART_UNSET:
		return "UNSET";
	case SG_PART_FORWARD:
		return "FORWARD";
	case SG_PART_REBALANCE:
		return "REBALANCE";
	case SG_PART_HASH:
		return "HASH";
	case SG_PART_BROADCAST:
		return "BROADCAST";
	}
	return "?";
}

bool sg_kind_is_source(enum sg_kind k)
{
	return k == SG_SOURCE_GENERATOR || k == SG_SOURCE_TEXT_FILE || k == SG_SOURCE_SOCKET;
}

bool sg_kind_is_sink(enum sg_kind k)
{
	return k == SG_SINK_PRINT || k == SG_SINK_TEXT_FILE || k == SG_SINK_DISCARD;
}

bool sg_kind_is_keyed(enum sg_kind k)
{
	return k == SG_REDUCE || k == SG_SUM || k == SG_MIN || k == SG_MAX || k == SG_PROCESS ||
	       k == SG_WINDOW || k == SG_CO_PROCESS || k == SG_CO_BROADCAST ||
	       k == SG_WINDOW_JOIN || k == SG_INTERVAL_JOIN || k == SG_WINDOW_COGROUP;
}

bool sg_kind_is_two_input(enum sg_kind k)
{
	return (k >= SG_CO_MAP && k <= SG_BROADCAST_PROCESS) || k == SG_WINDOW_COGROUP;
}

/* What is wrong with w's trigger or evictor (v the value named), or NULL. */
static const char *trigger_evictor_bad(const sg_window *w, long long *v)
{
	bool event = w->time == FL_EVENT_TIME;
	int64_t tn = w->trigger_n, en = w->evictor_n;
	if (w->trigger < FL_TRIGGER_DEFAULT || w->trigger > FL_TRIGGER_CONTINUOUS_PROCESSING_TIME)
		return *v = w->trigger, "trigger.kind is not an fl_trigger_kind";
	if (w->trigger == FL_TRIGGER_DEFAULT && tn != 0)
		return *v = tn, "the default trigger takes no count or interval";
	if (w->trigger == FL_TRIGGER_COUNT && (tn <= 0 || tn > INT64_MAX / 4))
		return *v = tn, "trigger.count of a count trigger must be > 0";
	if (w->trigger >= FL_TRIGGER_CONTINUOUS_EVENT_TIME && (tn <= 0 || tn > INT64_MAX / 4))
		return *v = tn, "trigger.interval_ms of a continuous trigger must be > 0";
	if (w->trigger == FL_TRIGGER_CONTINUOUS_EVENT_TIME && !event)
		return *v = w->trigger,
		       "a continuous event-time trigger needs an event-time window "
		       "(FL_TRIGGER_CONTINUOUS_PROCESSING_TIME for this one)";
	if (w->trigger == FL_TRIGGER_CONTINUOUS_PROCESSING_TIME && event)
		return *v = w->trigger, "a continuous processing-time trigger needs a "
					"processing-time window (FL_TRIGGER_CONTINUOUS_EVENT_TIME "
					"for this one)";
	if (w->evictor < FL_EVICTOR_NONE || w->evictor > FL_EVICTOR_TIME)
		return *v = w->evictor, "evictor.kind is not an fl_evictor_kind";
	if (w->evictor == FL_EVICTOR_NONE && (en != 0 || w->evict_after))
		return *v = en, "no evictor: its count, keep_ms and after must be 0";
	if (w->evictor == FL_EVICTOR_COUNT && (en <= 0 || en > INT64_MAX / 4))
		return *v = en, "evictor.count of a count evictor must be > 0";
	if (w->evictor == FL_EVICTOR_TIME && (en <= 0 || en > INT64_MAX / 4))
		return *v = en, "evictor.keep_ms of a time evictor must be > 0";
	if (w->kind == FL_WINDOW_COUNT &&
	    (w->trigger != FL_TRIGGER_DEFAULT || w->purging || w->evictor != FL_EVICTOR_NONE))
		return *v = w->trigger ? w->trigger : w->evictor,
		       "count windows have their own trigger and evictor (count, count_slide): "
		       "trigger and evictor must be zero";
	return NULL;
}

int sg_window_check(const sg_window *w, unsigned fns, char *why, size_t cap)
{
	const char *bad = NULL;
	long long v = 0;
	bool session = w->kind == FL_WINDOW_SESSION, count = w->kind == FL_WINDOW_COUNT;
	if (w->kind != FL_WINDOW_TUMBLING && w->kind != FL_WINDOW_SLIDING && !session && !count)
		bad = "kind is not FL_WINDOW_TUMBLING, FL_WINDOW_SLIDING, FL_WINDOW_SESSION or "
		      "FL_WINDOW_COUNT",
		v = w->kind;
	else if (count && (w->size_ms <= 0 || w->size_ms > SG_MAX_COUNT_WINDOW))
		bad = "count of a count window must be in 1..2^30", v = w->size_ms;
	else if (count && (w->slide_ms < 0 || w->slide_ms > w->size_ms))
		bad = "count_slide of a count window must be 0 (tumbling) or 1..count", v = w->slide_ms;
	else if (count && w->lateness_ms != 0)
		bad = "count windows have no allowed lateness: allowed_lateness_ms must be 0",
		v = w->lateness_ms;
	else if (w->time != FL_EVENT_TIME && w->time != FL_PROCESSING_TIME)
		bad = "time is not FL_EVENT_TIME or FL_PROCESSING_TIME", v = w->time;
	else if (w->size_ms <= 0)
		bad = session ? "gap_ms of a session window must be > 0" : "size_ms must be > 0",
		v = w->size_ms;
	else if (w->size_ms > INT64_MAX / 4)
		bad = session ? "gap_ms is out of range" : "size_ms is out of range", v = w->size_ms;
	else if (w->kind == FL_WINDOW_SLIDING && (w->slide_ms <= 0 || w->slide_ms > w->size_ms))
		bad = "slide_ms of a sliding window must be > 0 and <= size_ms", v = w->slide_ms;
	else if (w->lateness_ms < 0 || w->lateness_ms > INT64_MAX / 4)
		bad = "allowed_lateness_ms must be >= 0", v = w->lateness_ms;
	else
		bad = trigger_evictor_bad(w, &v);
	if (bad) {
		snprintf(why, cap, "%s, not %lld", bad, v);
		return FL_EINVAL;
	}
	unsigned agg = fns & (1u << SG_WIN_CREATE | 1u << SG_WIN_ADD | 1u << SG_WIN_RESULT);
	bool reduce = fns & 1u << SG_WIN_REDUCE;
	if (fns & 1u << SG_WIN_PROCESS) {
		if (reduce || agg || (fns & (1u << SG_WIN_FN | 1u << SG_WIN_MERGE))) {
			snprintf(why, cap, "process takes all of a window's records: give it without "
					   "reduce, agg or window_fn");
			return FL_EINVAL;
		}
		return 0;
	}
	if (reduce == (agg != 0)) {
		snprintf(why, cap, "%s", reduce ? "both reduce and agg are set: give one"
						 : "neither reduce, agg nor process is set: give one");
		return FL_EINVAL;
	}
	if (agg && agg != (1u << SG_WIN_CREATE | 1u << SG_WIN_ADD | 1u << SG_WIN_RESULT)) {
		snprintf(why, cap, "agg needs create, add and result");
		return FL_EINVAL;
	}
	if (agg && session && !(fns & 1u << SG_WIN_MERGE)) {
		snprintf(why, cap, "session windows with agg need agg.merge (their windows merge)");
		return FL_EINVAL;
	}
	return 0;
}

int sg_name_function(const void *fn, const char *what, char **symbol, char **library, cm_err *err)
{
	Dl_info info;
	/* dladdr reports the nearest preceding exported symbol, so a static
	 * function resolves to some other name: only an exact address match
	 * names fn itself. */
	if (!fn)
		return cm_err_set(err, FL_EINVAL, "%s: the function is NULL", what);
	if (dladdr(fn, &info) == 0 || !info.dli_sname || info.dli_saddr != fn)
		return cm_err_set(err, FL_EINVAL,
				  "%s: the function at %p has no exported symbol name, so it cannot "
				  "be shipped to TaskManagers (is it static or hidden? user functions "
				  "must be exported)",
				  what, fn);
	/* A symbol visible in the global scope at the same address is in the main
	 * program (or a library linked to it); otherwise it lives in the job's
	 * shared object, which TaskManagers dlopen by path. */
	void *self = dlopen(NULL, RTLD_NOW);
	void *global = self ? dlsym(self, info.dli_sname) : NULL;
	if (self)
		dlclose(self);
	const char *lib = (global == fn || !info.dli_fname) ? "" : info.dli_fname;
	if (!(*symbol = strdup(info.dli_sname)))
		return FL_ENOMEM;
	if (!(*library = strdup(lib))) {
		free(*symbol);
		*symbol = NULL;
		return FL_ENOMEM;
	}
	return 0;
}

bool sg_key_is_global(const sg_key *k)
{
	return k && k->by_fn && k->fn_symbol && strcmp(k->fn_symbol, SG_GLOBAL_KEY_SYMBOL) == 0;
}

const char *sg_ship_strategy(enum sg_partitioner p, const sg_key *k)
{
	return p == SG_PART_HASH && sg_key_is_global(k) ? "GLOBAL" : sg_partitioner_name(p);
}

/* SG_GLOBAL_KEY_SYMBOL: the empty key. */
static int global_key(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	(void)ctx;
	(void)in;
	out->nfields = 0;
	return 0;
}

int sg_resolve_function(const char *library, const char *symbol, void **fn, cm_err *err)
{
	if (strcmp(symbol, SG_GLOBAL_KEY_SYMBOL) == 0) {
		*fn = (void *)global_key;
		return 0;
	}
	bool main_program = !library || !*library;
	void *h = dlopen(main_program ? NULL : library, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return cm_err_set(err, FL_ENOENT, "cannot load job library '%s': %s",
				  main_program ? "(main program)" : library, dlerror());
	dlerror();
	void *p = dlsym(h, symbol);
	/* The handle stays open: the library must stay loaded while tasks run,
	 * and dlopen of an already loaded object only bumps a count. */
	if (!p)
		return cm_err_set(err, FL_ENOENT, "function '%s' not found in '%s'", symbol,
				  main_program ? "(main program)" : library);
	*fn = p;
	return 0;
}
