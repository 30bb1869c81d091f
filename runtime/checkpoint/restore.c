/*
 * restore.c — checking a checkpoint against a job and giving each new
 * subtask its share (restore.h).
 */
#include "checkpoint/restore.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "types/keygroup.h"

/* The job's node whose uid is uid, or NULL. */
static const sg_node *node_of_uid(const jg_graph *jg, const char *uid)
{
	for (size_t i = 0; i < jg->sg->nnodes; i++) {
		char buf[160];
		const sg_node *n = jg->sg->nodes[i];
		if (strcmp(sg_node_uid(n, buf, sizeof(buf)), uid) == 0)
			return n;
	}
	return NULL;
}

/* Whether v's max parallelism was derived from its parallelism (neither
 * the program nor pipeline.max-parallelism set one). */
static bool derived_max_parallelism(const jg_graph *jg, const jg_vertex *v)
{
	if (jg->sg->max_parallelism)
		return false;
	for (size_t i = 0; i < v->nops; i++)
		if (jg->sg->nodes[v->ops[i].node]->max_parallelism)
			return false;
	return true;
}

int cp_restore_check(const cp_metadata *m, const char *what, jg_graph *jg,
		     bool allow_non_restored, cm_err *err)
{
	for (size_t i = 0; i < m->nstates; i++) {
		const cp_op_state *s = &m->states[i];
		const sg_node *n = node_of_uid(jg, s->uid);
		if (!n) {
			if (allow_non_restored)
				continue;
			return cm_err_set(
			    err, FL_EINVAL,
			    "Failed to rollback to checkpoint/savepoint %.300s. Cannot map "
			    "checkpoint/savepoint state for operator %.100s to the new "
			    "program, because the operator is not available in the new "
			    "program. If you want to allow to skip this, you can set the "
			    "--allowNonRestoredState option on the CLI.",
			    what, s->uid);
		}
		jg_vertex *v = &jg->vertices[jg->node_vertex[n->id]];
		/* Flink: an operator whose max parallelism was not set takes its
		 * state's, so that restoring at another parallelism does not
		 * change the key groups. */
		if (s->keyed_file && s->max_parallelism != v->max_parallelism &&
		    derived_max_parallelism(jg, v) && v->parallelism <= s->max_parallelism) {
			CM_INFO("checkpoint",
				"operator '%s' (uid %s) takes its state's max parallelism %d (it "
				"would have derived %d from its parallelism %d)",
				n->name, s->uid, s->max_parallelism, v->max_parallelism,
				v->parallelism);
			v->max_parallelism = s->max_parallelism;
		}
		if (s->keyed_file && s->max_parallelism != v->max_parallelism)
			return cm_err_set(
			    err, FL_EINVAL,
			    "Failed to rollback to checkpoint/savepoint %.300s. The keyed "
			    "state of operator '%.100s' (uid %.100s) has max parallelism %d, "
			    "the operator in the new program %d: key groups cannot be "
			    "redistributed across max parallelisms; set the operator's max "
			    "parallelism to %d",
			    what, n->name, s->uid, s->max_parallelism, v->max_parallelism,
			    s->max_parallelism);
	}
	return 0;
}

int cp_restore_start(cp_coordinator *cp, const cfg *c, jg_graph *jg, cm_err *err)
{
	const char *path = "";
	cfg_get_string(c, CFG_SAVEPOINT_PATH, &path);
	if (!path || !*path)
		return 0;
	bool allow = false;
	cfg_get_bool(c, CFG_SAVEPOINT_IGNORE_UNCLAIMED, &allow);
	return cp_restore_path(cp, path, allow, jg, err);
}

int cp_restore_path(cp_coordinator *cp, const char *path, bool allow, jg_graph *jg, cm_err *err)
{
	if (!cp)
		return cm_err_set(err, FL_EINVAL,
				  "%s: a BATCH job cannot start from a checkpoint or savepoint",
				  CFG_SAVEPOINT_PATH);
	/* file:///x and file:/x (what a savepoint's status names) are /x. */
	if (strncmp(path, "file://", 7) == 0)
		path += 7;
	else if (strncmp(path, "file:", 5) == 0)
		path += 5;
	else if (strstr(path, "://"))
		return cm_err_set(err, FL_EINVAL,
				  "%s: '%.300s' is not a local path (file:// or none is supported)",
				  CFG_SAVEPOINT_PATH, path);
	/* The directory the metadata's relative paths start from. */
	char dir[PATH_MAX];
	if (!realpath(path, dir))
		return cm_err_set(
		    err, FL_EINVAL,
		    "Cannot restore the job from '%.300s' (%s): no such checkpoint or "
		    "savepoint",
		    path, CFG_SAVEPOINT_PATH);
	size_t dl = strlen(dir);
	if (dl >= 10 && strcmp(dir + dl - 10, "/_metadata") == 0)
		dir[dl - 10] = '\0';
	cp_metadata m;
	int rc = cp_metadata_read(dir, &m, err);
	if (rc == FL_ENOENT)
		rc = FL_EINVAL; /* a bad argument, not a missing jar */
	if (rc)
		return rc;
	rc = cp_restore_check(&m, dir, jg, allow, err);
	if (rc == 0)
		rc = cp_restored(cp, &m, dir, cm_now_ms());
	if (rc == FL_ENOMEM && !err->code)
		cm_err_set(err, rc, "out of memory");
	if (rc == 0)
		CM_INFO("checkpoint", "the job starts from %s %llu in %s (%zu operator states)",
			m.kind == CP_SAVEPOINT ? "savepoint" : "checkpoint",
			(unsigned long long)m.id, dir, m.nstates);
	cp_metadata_fini(&m);
	return rc;
}

/* Appends the list elements [from, to) of the list p[0..len) to w (their
 * encoding as is); *seen counts every element passed. */
static void copy_elements(cm_wbuf *w, const uint8_t *p, size_t len, size_t from, size_t to,
			  size_t *seen)
{
	cm_rbuf r;
	cm_rbuf_init(&r, p, len);
	const uint8_t *e;
	size_t el;
	while (cp_list_next(&r, &e, &el) == 1) {
		if (w && *seen >= from && *seen < to)
			cm_wbuf_bytes(w, e, el);
		(*seen)++;
	}
}

static size_t count_elements(const uint8_t *p, size_t len)
{
	size_t n = 0;
	copy_elements(NULL, p, len, 0, 0, &n);
	return n;
}

static int by_subtask(const void *a, const void *b)
{
	const cp_op_state *x = *(const cp_op_state *const *)a, *y = *(const cp_op_state *const *)b;
	return (x->subtask > y->subtask) - (x->subtask < y->subtask);
}

/* Fills one operator's share from its old subtasks' states olds[0..n),
 * sorted by subtask. */
static int fill_op(const cp_op_state **olds, size_t n, const char *dir, const td_task *td,
		   td_restore *rs, bool broadcast)
{
	rs->restored = true;
	cm_wbuf w;
	cm_wbuf_init(&w, TD_MAX_ENCODED);
	if (broadcast) {
		/* Broadcast state (Flink's BROADCAST mode): every old subtask
		 * wrote the same copy; each new one takes one, old subtask
		 * (its index modulo the old parallelism)'s. */
		size_t seen = 0;
		int from = td->subtask % olds[0]->parallelism;
		for (size_t i = 0; i < n; i++)
			if (olds[i]->subtask == from)
				copy_elements(&w, olds[i]->data, olds[i]->len, 0, SIZE_MAX, &seen);
	} else if (olds[0]->parallelism == td->parallelism) {
		size_t seen = 0;
		for (size_t i = 0; i < n; i++)
			if (olds[i]->subtask == td->subtask)
				copy_elements(&w, olds[i]->data, olds[i]->len, 0, SIZE_MAX, &seen);
	} else {
		size_t total = 0, seen = 0;
		for (size_t i = 0; i < n; i++)
			total += count_elements(olds[i]->data, olds[i]->len);
		size_t p = (size_t)td->parallelism, k = (size_t)td->subtask;
		size_t from = k * (total / p) + (k < total % p ? k : total % p);
		size_t to = from + total / p + (k < total % p ? 1 : 0);
		for (size_t i = 0; i < n; i++)
			copy_elements(&w, olds[i]->data, olds[i]->len, from, to, &seen);
	}
	int rc = cm_wbuf_error(&w);
	if (rc == 0 && cm_wbuf_len(&w) && !(rs->list = cm_wbuf_take(&w, &rs->list_len)))
		rc = FL_ENOMEM;
	cm_wbuf_fini(&w);
	if (rc)
		return rc;
	int first, last;
	kg_range_for_operator(td->max_parallelism, td->parallelism, td->subtask, &first, &last);
	for (size_t i = 0; i < n; i++) {
		const cp_op_state *s = olds[i];
		if (!s->keyed_file || s->kg_last < first || s->kg_first > last)
			continue;
		/* An incremental chain in order: the whole file, the deltas,
		 * its own ("../chk-N/x" resolves beside dir). */
		td_restore_file *nf =
		    realloc(rs->files, (rs->nfiles + s->nbase + 1) * sizeof(*nf));
		if (!nf)
			return FL_ENOMEM;
		rs->files = nf;
		for (size_t k = 0; k <= s->nbase; k++) {
			const char *name = k < s->nbase ? s->base_files[k] : s->keyed_file;
			td_restore_file *f = &rs->files[rs->nfiles];
			size_t need = strlen(dir) + strlen(name) + 2;
			if (!(f->path = malloc(need)))
				return FL_ENOMEM;
			snprintf(f->path, need, "%s/%s", dir, name);
			f->kg_first = s->kg_first;
			f->kg_last = s->kg_last;
			rs->nfiles++;
		}
	}
	return 0;
}

int cp_restore_fill(const cp_metadata *m, const char *dir, td_task *td)
{
	td->restore_id = m->id;
	const cp_op_state **olds = m->nstates ? calloc(m->nstates, sizeof(*olds)) : NULL;
	if (m->nstates && !olds)
		return FL_ENOMEM;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < td->nops; i++) {
		td_op *op = &td->ops[i];
		size_t n = 0;
		for (size_t k = 0; k < m->nstates; k++)
			if (strcmp(m->states[k].uid, op->uid) == 0)
				olds[n++] = &m->states[k];
		if (n == 0)
			continue; /* a new operator: starts empty */
		qsort(olds, n, sizeof(*olds), by_subtask);
		td_restore_fini(&op->restore);
		rc = fill_op(olds, n, dir, td, &op->restore,
			     op->kind == SG_CO_BROADCAST || op->kind == SG_BROADCAST_PROCESS);
	}
	free(olds);
	return rc;
}
