/*
 * backend.c — the part of the keyed-state backend shared by both
 * implementations: type selection, the state table, update, restore and the
 * cut wrapper.
 */
#include "state/backend.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "types/keygroup.h"

int st_backend_new(const char *type, const st_backend_config *cfg, st_backend **out, cm_err *err)
{
	if (!type || !*type || strcasecmp(type, "hashmap") == 0)
		return st_heap_backend_new(cfg, out, err);
	if (strcasecmp(type, "lmdb") == 0)
		return st_lmdb_backend_new(cfg, out, err);
	return cm_err_set(err, FL_EINVAL,
			  "state.backend.type: unknown state backend '%s' (hashmap or lmdb)", type);
}

/* The entries of a taskmanager.state.local.root-dirs list (blanks trimmed,
 * empty ones skipped, at most 64): their starts and lengths; returns how
 * many. */
static size_t local_dirs(const char *root_dirs, const char *starts[64], size_t lens[64])
{
	size_t n = 0;
	for (const char *p = root_dirs ? root_dirs : ""; *p && n < 64;) {
		while (*p == ' ' || *p == '\t')
			p++;
		const char *e = p;
		while (*e && *e != ',')
			e++;
		const char *t = e;
		while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if (t > p) {
			starts[n] = p;
			lens[n++] = (size_t)(t - p);
		}
		p = *e ? e + 1 : e;
	}
	return n;
}

size_t st_local_dir_count(const char *root_dirs)
{
	const char *starts[64];
	size_t lens[64];
	return local_dirs(root_dirs, starts, lens);
}

int st_pick_local_dir(const char *root_dirs, unsigned index, char *out, size_t cap)
{
	if (cap)
		out[0] = 0;
	const char *starts[64];
	size_t lens[64];
	size_t n = local_dirs(root_dirs, starts, lens);
	if (n == 0)
		return 0;
	size_t i = index % n;
	if (lens[i] >= cap)
		return FL_ERANGE;
	memcpy(out, starts[i], lens[i]);
	out[lens[i]] = 0;
	return 0;
}

void st_backend_free(st_backend *b)
{
	if (!b)
		return;
	for (int i = 0; i < b->nstates; i++)
		free(b->states[i].name);
	b->ops->free(b);
}

const char *st_backend_error(const st_backend *b)
{
	return b->err.msg;
}

int st_declare(st_backend *b, const char *name, unsigned flags, int *id)
{
	cm_err_clear(&b->err);
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > ST_NAME_MAX)
		return st_fail(b, FL_EINVAL, "state name empty or over %d bytes", ST_NAME_MAX);
	if (flags & ~ST_STATE_NAMESPACED)
		return st_fail(b, FL_EINVAL, "state '%s': unknown flags %#x", name, flags);
	for (int i = 0; i < b->nstates; i++) {
		if (strcmp(b->states[i].name, name) != 0)
			continue;
		if (b->states[i].flags != flags)
			return st_fail(b, FL_EINVAL,
				       "state '%s' declared again with other flags (%#x, was %#x)",
				       name, flags, b->states[i].flags);
		*id = i;
		return 0;
	}
	if (b->nstates >= ST_MAX_STATES)
		return st_fail(b, FL_ERANGE, "state '%s': more than %d states", name,
			       ST_MAX_STATES);
	char *copy = strdup(name);
	if (!copy)
		return st_fail(b, FL_ENOMEM, "out of memory declaring state '%s'", name);
	int nid = b->nstates;
	b->states[nid].name = copy;
	b->states[nid].flags = flags;
	int rc = b->ops->add_state(b, nid);
	if (rc) {
		free(copy);
		b->states[nid].name = NULL;
		return rc;
	}
	b->nstates = nid + 1;
	*id = nid;
	return 0;
}

int st_fail(st_backend *b, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cm_err_clear(&b->err);
	cm_err_vset(&b->err, code, fmt, ap);
	va_end(ap);
	return code;
}

int st_key_error(st_backend *b, const st_key *k)
{
	if ((unsigned)k->state >= (unsigned)b->nstates)
		return st_fail(b, FL_EINVAL, "state id %d not declared", k->state);
	const char *name = b->states[k->state].name;
	if ((unsigned)k->key_group >= (unsigned)b->max_parallelism)
		return st_fail(b, FL_EINVAL, "state '%s': key group %d outside 0..%d", name,
			       k->key_group, b->max_parallelism - 1);
	if (k->nslen && !(b->states[k->state].flags & ST_STATE_NAMESPACED))
		return st_fail(b, FL_EINVAL, "state '%s': namespace given but the state has none",
			       name);
	size_t max = b->states[k->state].flags & ST_STATE_NAMESPACED ? ST_KEY_MAX : b->key_max;
	return st_fail(b, FL_ERANGE,
		       "state '%s': key of %zu bytes plus namespace of %zu over the %zu bytes the %s "
		       "state backend takes",
		       name, k->klen, k->nslen, max, b->ops->type);
}

int st_update(st_backend *b, const st_key *k, st_update_fn fn, void *arg)
{
	st_pos pos;
	const void *old = NULL;
	size_t oldlen = 0;
	int rc = st_find(b, k, &pos, &old, &oldlen);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		old = NULL;
		oldlen = 0;
	}
	const void *nv = NULL;
	size_t nvlen = 0;
	rc = fn(arg, old, oldlen, &nv, &nvlen);
	if (rc < 0)
		return rc;
	if (nvlen == 0)
		return old ? st_delete(b, k) : 0;
	return st_put_at(b, k, &pos, nv, nvlen);
}

/* The st_key of a restored entry, key group and hash recomputed. */
static int restored_key(st_backend *b, const st_entry *e, st_key *k)
{
	uint32_t h = kg_murmur3_32(e->key, e->klen, 0);
	*k = (st_key){.state = e->state,
		      .key_group = (int)(h % (uint32_t)b->max_parallelism),
		      .hash = h,
		      .key = e->key,
		      .klen = e->klen,
		      .ns = e->ns,
		      .nslen = e->nslen};
	if (k->key_group != e->key_group)
		return st_fail(b, FL_EPROTO,
			       "restored entry of state %d in key group %d hashes to key group "
			       "%d (another max parallelism or hash?)",
			       e->state, e->key_group, k->key_group);
	return 0;
}

int st_restore_delete(st_backend *b, const st_entry *e)
{
	st_key k;
	int rc = restored_key(b, e, &k);
	return rc ? rc : st_delete(b, &k);
}

int st_restore_entry(st_backend *b, const st_entry *e)
{
	st_key k;
	int rc = restored_key(b, e, &k);
	return rc ? rc : st_put(b, &k, e->val, e->vlen);
}

int st_cut_new(st_backend *b, st_cut **out)
{
	cm_err_clear(&b->err);
	st_cut *c = calloc(1, sizeof(*c));
	if (!c)
		return st_fail(b, FL_ENOMEM, "out of memory cutting a snapshot");
	c->b = b;
	c->max_parallelism = b->max_parallelism;
	for (int i = 0; i < b->nstates; i++) {
		c->states[i].flags = b->states[i].flags;
		if (!(c->states[i].name = strdup(b->states[i].name))) {
			for (int j = 0; j < i; j++)
				free(c->states[j].name);
			free(c);
			return st_fail(b, FL_ENOMEM, "out of memory cutting a snapshot");
		}
	}
	c->nstates = b->nstates;
	c->epoch = b->epoch;
	c->changes_floor = b->changes_floor;
	c->epoch_window = b->epoch_window;
	int rc = b->ops->cut(b, c);
	if (rc) {
		for (int i = 0; i < c->nstates; i++)
			free(c->states[i].name);
		free(c);
		return rc;
	}
	atomic_fetch_add_explicit(&b->live_cuts, 1, memory_order_relaxed);
	/* The implementation stamped the writes after its cut with the next
	 * epoch (it moved b->epoch on). */
	*out = c;
	return 0;
}

uint64_t st_cut_epoch(const st_cut *c)
{
	return c->epoch;
}

bool st_cut_changes_known(const st_cut *c, uint64_t since)
{
	return !c->changes_unknown && since < c->epoch && since >= c->changes_floor &&
	       c->epoch - since <= c->epoch_window;
}

int st_cut_scan_changes(st_cut *c, uint64_t since, int kg_first, int kg_last, st_entry_fn fn,
			void *arg)
{
	cm_err_clear(&c->err);
	if (kg_first < 0 || kg_last >= c->max_parallelism || kg_first > kg_last)
		return cm_err_set(&c->err, FL_EINVAL, "key-group range %d..%d outside 0..%d",
				  kg_first, kg_last, c->max_parallelism - 1);
	if (!st_cut_changes_known(c, since))
		return cm_err_set(&c->err, FL_EINVAL,
				  "the changes since epoch %llu are not known at epoch %llu",
				  (unsigned long long)since, (unsigned long long)c->epoch);
	return c->b->ops->cut_scan_changes(c, since, kg_first, kg_last, fn, arg);
}

int st_cut_scan(st_cut *c, int kg_first, int kg_last, st_entry_fn fn, void *arg)
{
	cm_err_clear(&c->err);
	if (kg_first < 0 || kg_last >= c->max_parallelism || kg_first > kg_last)
		return cm_err_set(&c->err, FL_EINVAL, "key-group range %d..%d outside 0..%d",
				  kg_first, kg_last, c->max_parallelism - 1);
	return c->b->ops->cut_scan(c, kg_first, kg_last, fn, arg);
}

void st_cut_free(st_cut *c)
{
	if (!c)
		return;
	st_backend *b = c->b;
	b->ops->cut_free(c);
	for (int i = 0; i < c->nstates; i++)
		free(c->states[i].name);
	free(c);
	/* Release: the task thread's acquire load of live_cuts == 0 must see
	 * the cut's resources (an LMDB read transaction) already gone. */
	atomic_fetch_sub_explicit(&b->live_cuts, 1, memory_order_release);
}
