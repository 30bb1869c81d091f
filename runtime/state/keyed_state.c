/*
 * keyed_state.c — the keyed state kinds on an st_backend (see
 * keyed_state.h for the layout and the rules), and flinc.h's state handle
 * functions.
 */
#include "state/keyed_state.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/varint.h"
#include "types/codec.h"
#include "types/keygroup.h"

#define ARENA_CHUNK (64u * 1024u)
#define MAX_ALIASES 4

/* Memory for what a record's state calls hand out (rows, iterators):
 * bump-allocated chunks, reset when the record ends. */
struct chunk {
	struct chunk *next;
	size_t cap, used;
	uint8_t *data;
};

typedef struct ks_state {
	ks_ctx *k;
	enum ks_kind kind;
	int id; /* in the backend */
	char *name;
	fl_state_desc desc; /* a copy, desc.name = name */
	/* Descriptors asked for with this state, for the lookup by pointer. */
	const fl_state_desc *alias[MAX_ALIASES];
	int nalias;
	uint8_t hdr; /* the header byte this state writes */
	int64_t ttl; /* 0: none */
} ks_state;

struct ks_ctx {
	st_backend *b;
	char *op_name;
	fl_ctx *uctx;
	ks_clock_fn clock;
	void *clock_arg;
	ks_state *states[ST_MAX_STATES];
	int nstates;
	ks_state *last; /* the last state asked for */
	/* The current key. */
	const void *key;
	size_t klen;
	uint32_t hash;
	int kg;
	int64_t now;
	bool now_valid;
	/* The position of the last st_find, usable by st_put_at while no other
	 * backend call happened since (gen unchanged): a read followed by a
	 * write of the same state costs one probe. */
	uint64_t gen, pos_gen;
	int pos_state;
	st_pos pos;
	/* Writes refused (a broadcast state on the keyed side): why, or
	 * NULL. */
	const char *read_only;
	uint8_t *buf; /* the value being built */
	size_t cap;
	struct chunk *arena; /* newest first; the oldest is kept at reset */
	cm_err err;
};

struct fl_state_iter {
	ks_state *s;
	const uint8_t *p, *end;
	bool map;
};

static const char *kind_name(unsigned kind)
{
	switch (kind) {
	case KS_VALUE:
		return "ValueState";
	case KS_LIST:
		return "ListState";
	case KS_MAP:
		return "MapState";
	case KS_REDUCING:
		return "ReducingState";
	case KS_AGGREGATING:
		return "AggregatingState";
	}
	return "state of an unknown kind";
}

/* ------------------------------------------------------------- errors */

/* Records the context's first failure, naming the state (s may be NULL)
 * and the operator; returns code. */
static int __attribute__((format(printf, 4, 5)))
fail(ks_ctx *k, const ks_state *s, int code, const char *fmt, ...)
{
	if (k->err.code)
		return code;
	char msg[CM_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s)
		cm_err_set(&k->err, code, "state '%.200s' of operator '%.100s': %s", s->name,
			   k->op_name, msg);
	else
		cm_err_set(&k->err, code, "operator '%.100s': %s", k->op_name, msg);
	return code;
}

static int corrupt(ks_state *s, const char *what)
{
	return fail(s->k, s, FL_EPROTO,
		    "a stored %s is malformed (damaged, or written by another program)", what);
}

/* -------------------------------------------------------------- arena */

static void *arena_alloc(ks_ctx *k, size_t n)
{
	n = (n + 7) & ~(size_t)7;
	struct chunk *c = k->arena;
	if (c && c->cap - c->used >= n) {
		void *p = c->data + c->used;
		c->used += n;
		return p;
	}
	size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
	c = malloc(sizeof(*c));
	uint8_t *d = c ? malloc(cap) : NULL;
	if (!d) {
		free(c);
		fail(k, NULL, FL_ENOMEM, "out of memory for %zu bytes of state", n);
		return NULL;
	}
	*c = (struct chunk){.next = k->arena, .cap = cap, .used = n, .data = d};
	k->arena = c;
	return d;
}

static void *arena_copy(ks_ctx *k, const void *p, size_t n)
{
	void *d = arena_alloc(k, n);
	if (d && n)
		memcpy(d, p, n);
	return d;
}

static void arena_reset(ks_ctx *k)
{
	struct chunk *c = k->arena;
	while (c && c->next) {
		struct chunk *n = c->next;
		free(c->data);
		free(c);
		c = n;
	}
	if (c)
		c->used = 0;
	k->arena = c;
}

/* ---------------------------------------------------------------- time */

static int64_t now_of(ks_ctx *k)
{
	return k->clock ? k->clock(k->clock_arg) : cm_wall_ms();
}

static int64_t ks_now(ks_ctx *k)
{
	if (!k->now_valid) {
		k->now = now_of(k);
		k->now_valid = true;
	}
	return k->now;
}

/* Flink's rule: expired once last access + ttl <= now. */
static inline bool expired(int64_t ts, int64_t ttl, int64_t now)
{
	return ts <= INT64_MAX - ttl && ts + ttl <= now;
}

static inline int64_t rd_i64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return (int64_t)v;
}

static inline void wr_i64(uint8_t *p, int64_t x)
{
	uint64_t v = (uint64_t)x;
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* ------------------------------------------------------------- backend */

static st_key key_of(const ks_state *s)
{
	const ks_ctx *k = s->k;
	return (st_key){
	    .state = s->id, .key_group = k->kg, .hash = k->hash, .key = k->key, .klen = k->klen};
}

static int be_fail(ks_state *s, int rc)
{
	/* The backend's message names the state when it is about the key. */
	const char *m = st_backend_error(s->k->b);
	char own[ST_NAME_MAX + 16];
	snprintf(own, sizeof(own), "state '%s'", s->name);
	if (strncmp(m, own, strlen(own)) == 0)
		return fail(s->k, NULL, rc, "%s", m);
	return fail(s->k, s, rc, "%s", m[0] ? m : fl_strerror(rc));
}

/* 1 with the stored value, 0 absent, or an error. */
static int be_find(ks_state *s, const uint8_t **val, size_t *vlen)
{
	ks_ctx *k = s->k;
	st_key key = key_of(s);
	const void *v = NULL;
	k->gen++;
	int rc = st_find(k->b, &key, &k->pos, &v, vlen);
	if (rc < 0)
		return be_fail(s, rc);
	k->pos_state = s->id;
	k->pos_gen = k->gen;
	*val = v;
	if (rc && *vlen == 0)
		return corrupt(s, "value");
	return rc;
}

static int be_put(ks_state *s, const uint8_t *v, size_t n)
{
	ks_ctx *k = s->k;
	if (n > ST_VALUE_MAX)
		return fail(k, s, FL_ERANGE,
			    "a value of %zu bytes is over the %u bytes a state entry holds", n,
			    ST_VALUE_MAX);
	st_key key = key_of(s);
	int rc = k->pos_state == s->id && k->pos_gen == k->gen
		     ? st_put_at(k->b, &key, &k->pos, v, n)
		     : st_put(k->b, &key, v, n);
	k->gen++;
	return rc ? be_fail(s, rc) : 0;
}

static int be_delete(ks_state *s)
{
	st_key key = key_of(s);
	s->k->gen++;
	int rc = st_delete(s->k->b, &key);
	return rc ? be_fail(s, rc) : 0;
}

/* --------------------------------------------------- building a value */

/* A value built in k->buf; the first failure sticks in rc. */
typedef struct vb {
	ks_state *s;
	size_t len;
	int rc;
	bool skip; /* nothing will be stored: build nothing */
} vb;

static uint8_t *vb_room(vb *b, size_t n)
{
	ks_ctx *k = b->s->k;
	if (b->rc)
		return NULL;
	if (n > ST_VALUE_MAX + 64u || b->len > ST_VALUE_MAX + 64u - n) {
		b->rc = fail(k, b->s, FL_ERANGE, "a value over the %u bytes a state entry holds",
			     ST_VALUE_MAX);
		return NULL;
	}
	if (b->len + n > k->cap) {
		size_t cap = k->cap ? k->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *nb = realloc(k->buf, cap);
		if (!nb) {
			b->rc = fail(k, b->s, FL_ENOMEM, "out of memory for a value of %zu bytes",
				     b->len + n);
			return NULL;
		}
		k->buf = nb;
		k->cap = cap;
	}
	return k->buf + b->len;
}

static void vb_bytes(vb *b, const void *p, size_t n)
{
	uint8_t *d = vb_room(b, n);
	if (d) {
		if (n)
			memcpy(d, p, n);
		b->len += n;
	}
}

static void vb_u8(vb *b, uint8_t x)
{
	vb_bytes(b, &x, 1);
}

static void vb_i64(vb *b, int64_t x)
{
	uint8_t t[8];
	wr_i64(t, x);
	vb_bytes(b, t, 8);
}

static void vb_varint(vb *b, uint64_t x)
{
	uint8_t t[CM_VARINT_MAX];
	vb_bytes(b, t, cm_varint_put(t, sizeof(t), x));
}

/* --------------------------------------------------------- row payloads */

static const char *type_name(unsigned t)
{
	static const char *const n[] = {"null",	 "int64", "double",   "string",
					"bytes", "bool",  "timestamp"};
	return t < sizeof(n) / sizeof(n[0]) ? n[t] : "unknown";
}

/* Whether r has t's shape; if not, why. */
static bool shape_ok(const fl_state_type *t, const fl_row *r, char *why, size_t cap)
{
	if (t->format == FL_STATE_BYTES) {
		if (r->nfields == 1 && r->types[0] == FL_BYTES)
			return true;
		snprintf(
		    why, cap,
		    "a row of %u fields where the state takes raw bytes (a row of one bytes field)",
		    r->nfields);
		return false;
	}
	if (t->nfields == 0)
		return true;
	if (r->nfields != t->nfields) {
		snprintf(why, cap, "a row of %u fields where the state declares %u", r->nfields,
			 t->nfields);
		return false;
	}
	for (uint32_t i = 0; i < r->nfields; i++) {
		if (r->types[i] != t->types[i] && r->types[i] != FL_NULL) {
			snprintf(why, cap, "field %u is %s where the state declares %s", i,
				 type_name(r->types[i]), type_name(t->types[i]));
			return false;
		}
	}
	return true;
}

static int check_row(ks_state *s, const fl_state_type *t, const fl_row *r, const char *what)
{
	char why[200];
	if (!r)
		return fail(s->k, s, FL_EINVAL, "a NULL %s", what);
	if (!shape_ok(t, r, why, sizeof(why)))
		return fail(s->k, s, FL_ETYPE, "the %s given is %s", what, why);
	return 0;
}

/* Appends r's payload (t's format) to b, without a length. */
static void vb_payload(vb *b, const fl_state_type *t, const fl_row *r)
{
	if (b->rc)
		return;
	if (t->format == FL_STATE_BYTES) {
		vb_bytes(b, r->values[0].u.s.ptr, r->values[0].u.s.len);
		return;
	}
	/* Usually the buffer has room: encode without computing the bound. */
	ks_ctx *k = b->s->k;
	size_t n = k->cap > b->len ? row_encode(r, k->buf + b->len, k->cap - b->len) : 0;
	if (n) {
		b->len += n;
		return;
	}
	size_t bound = row_encoded_bound(r);
	if (bound == 0 || bound > ROW_MAX_ENCODED) {
		char why[160] = "it cannot be encoded";
		row_check(r, why, sizeof(why));
		b->rc = fail(b->s->k, b->s, FL_ERANGE, "a row cannot be stored: %s", why);
		return;
	}
	uint8_t *d = vb_room(b, bound);
	if (d)
		b->len += row_encode(r, d, bound);
}

/* Encodes r's payload into the arena: *p, *n. */
static int enc_payload(ks_state *s, const fl_state_type *t, const fl_row *r, const uint8_t **p,
		       size_t *n, const char *what)
{
	int rc = check_row(s, t, r, what);
	if (rc)
		return rc;
	if (t->format == FL_STATE_BYTES) {
		*p = (const uint8_t *)r->values[0].u.s.ptr;
		*n = r->values[0].u.s.len;
		return 0;
	}
	size_t bound = row_encoded_bound(r);
	if (bound == 0 || bound > ROW_MAX_ENCODED) {
		char why[160] = "it cannot be encoded";
		row_check(r, why, sizeof(why));
		return fail(s->k, s, FL_ERANGE, "the %s cannot be stored: %s", what, why);
	}
	uint8_t *d = arena_alloc(s->k, bound);
	if (!d)
		return FL_ENOMEM;
	*p = d;
	*n = row_encode(r, d, bound);
	return 0;
}

/* Decodes a payload (in memory that lives until the record ends) as t. */
static int dec_payload(ks_state *s, const fl_state_type *t, const uint8_t *p, size_t n, fl_row *out,
		       const char *what)
{
	if (t->format == FL_STATE_BYTES) {
		out->nfields = 1;
		out->types[0] = FL_BYTES;
		out->values[0].u.s.ptr = (const char *)p;
		out->values[0].u.s.len = (uint32_t)n;
		return 0;
	}
	size_t used;
	if (row_decode(p, n, out, &used) != 0 || used != n)
		return fail(s->k, s, FL_EPROTO,
			    "a stored %s does not decode as a row (damaged, or written by another "
			    "program)",
			    what);
	char why[200];
	if (!shape_ok(t, out, why, sizeof(why)))
		return fail(s->k, s, FL_ETYPE,
			    "a stored %s does not decode as the declared type: %s", what, why);
	return 0;
}

/* Checks a stored header against the state; 0 or an error. */
static int hdr_check(ks_state *s, uint8_t h)
{
	if (h & KS_H_RESERVED)
		return fail(s->k, s, FL_EPROTO,
			    "a stored value has an unknown format (header %#x: written by a newer "
			    "flinc?)",
			    h);
	if ((h & KS_H_KIND) != s->kind)
		return fail(s->k, s, FL_ETYPE, "it holds a %s value, but is declared as a %s",
			    kind_name(h & KS_H_KIND), kind_name(s->kind));
	if ((h & KS_H_BYTES) != (s->hdr & KS_H_BYTES))
		return fail(s->k, s, FL_ETYPE, "it holds %s values, but is declared with %s",
			    h & KS_H_BYTES ? "raw-bytes" : "row",
			    h & KS_H_BYTES ? "rows" : "raw bytes");
	if (s->kind == KS_MAP && (h & KS_H_KEY_BYTES) != (s->hdr & KS_H_KEY_BYTES))
		return fail(s->k, s, FL_ETYPE, "it holds %s map keys, but is declared with %s",
			    h & KS_H_KEY_BYTES ? "raw-bytes" : "row",
			    h & KS_H_KEY_BYTES ? "rows" : "raw bytes");
	return 0;
}

/* ------------------------------------------------------ single values */

/*
 * Reads the value of a ValueState, ReducingState or AggregatingState for
 * the current key: 1 with its payload, 0 absent, or an error. The payload
 * is copied into the arena, except with borrow (and no TTL write to make)
 * where it may point into the backend, valid until the next backend call.
 * TTL: an expired value is deleted and reads as absent (or, when the state
 * returns expired values and !for_write, is returned this once);
 * OnReadAndWrite refreshes the timestamp.
 */
static int read_single(ks_state *s, bool for_write, bool borrow, const uint8_t **payload,
		       size_t *plen)
{
	ks_ctx *k = s->k;
	const uint8_t *v = NULL;
	size_t n = 0;
	int rc = be_find(s, &v, &n);
	if (rc <= 0)
		return rc;
	if ((rc = hdr_check(s, v[0])) != 0)
		return rc;
	bool has_ts = v[0] & KS_H_TTL;
	size_t off = has_ts ? 9 : 1;
	if (n < off)
		return corrupt(s, "value");
	int64_t ts = has_ts ? rd_i64(v + 1) : 0;
	*plen = n - off;
	if (borrow && !s->ttl) {
		*payload = v + off;
		return 1;
	}
	uint8_t *copy = arena_copy(k, v + off, n - off);
	if (!copy)
		return FL_ENOMEM;
	*payload = copy;
	if (!s->ttl)
		return 1;
	int64_t now = ks_now(k);
	if (has_ts && expired(ts, s->ttl, now)) {
		if ((rc = be_delete(s)) != 0)
			return rc;
		return !for_write &&
		       s->desc.ttl.visibility == FL_TTL_RETURN_EXPIRED_IF_NOT_CLEANED_UP;
	}
	/* A value stored without a timestamp (the state had no TTL when it
	 * was written) starts its time to live now. */
	if (!has_ts || (s->desc.ttl.update == FL_TTL_ON_READ_AND_WRITE && ts != now)) {
		vb b = {.s = s};
		vb_u8(&b, s->hdr);
		vb_i64(&b, now);
		vb_bytes(&b, copy, n - off);
		if (b.rc)
			return b.rc;
		if ((rc = be_put(s, k->buf, b.len)) != 0)
			return rc;
	}
	return 1;
}

/* Decodes a value read with borrow: a row whose strings would point into
 * the backend is decoded again from a copy in the arena. */
static int dec_single(ks_state *s, const uint8_t *p, size_t n, fl_row *out)
{
	if (s->desc.value.format == FL_STATE_ROW) {
		int rc = dec_payload(s, &s->desc.value, p, n, out, "value");
		if (rc)
			return rc;
		bool refs = false;
		for (uint32_t i = 0; i < out->nfields; i++)
			refs |= out->types[i] == FL_STRING || out->types[i] == FL_BYTES;
		if (!refs)
			return 0;
	}
	const uint8_t *copy = arena_copy(s->k, p, n);
	return copy ? dec_payload(s, &s->desc.value, copy, n, out, "value") : FL_ENOMEM;
}

static int write_single(ks_state *s, const fl_row *r)
{
	int rc = check_row(s, &s->desc.value, r, "value");
	if (rc)
		return rc;
	vb b = {.s = s};
	vb_u8(&b, s->hdr);
	if (s->ttl)
		vb_i64(&b, ks_now(s->k));
	vb_payload(&b, &s->desc.value, r);
	return b.rc ? b.rc : be_put(s, s->k->buf, b.len);
}

/* Every handle call starts here: the handle, its kind, no earlier error,
 * a current key. */
static int enter(void *h, enum ks_kind kind, ks_state **out)
{
	ks_state *s = h;
	if (!s)
		return FL_EINVAL;
	ks_ctx *k = s->k;
	if (k->err.code)
		return k->err.code;
	if (s->kind != kind)
		return fail(k, s, FL_EINVAL, "a %s handle used as a %s", kind_name(s->kind),
			    kind_name(kind));
	if (!k->key)
		return fail(k, s, FL_EINVAL,
			    "used without a current key (outside the process function?)");
	*out = s;
	return 0;
}

/* A write through s, unless its context is read-only now. */
static int writable(ks_state *s)
{
	if (!s->k->read_only)
		return 0;
	return fail(s->k, s, FL_EINVAL, "is read-only %s", s->k->read_only);
}

void ks_set_read_only(ks_ctx *k, const char *why)
{
	k->read_only = why;
}

/* ---------------------------------------------------------- the context */

int ks_new(const ks_config *cfg, ks_ctx **out, cm_err *err)
{
	ks_ctx *k = calloc(1, sizeof(*k));
	if (!k || !(k->op_name = strdup(cfg->op_name ? cfg->op_name : "?"))) {
		free(k);
		return cm_err_set(err, FL_ENOMEM, "out of memory for keyed state");
	}
	k->b = cfg->backend;
	k->uctx = cfg->uctx;
	k->clock = cfg->clock;
	k->clock_arg = cfg->clock_arg;
	k->pos_state = -1;
	*out = k;
	return 0;
}

void ks_free(ks_ctx *k)
{
	if (!k)
		return;
	for (int i = 0; i < k->nstates; i++) {
		free(k->states[i]->name);
		free(k->states[i]);
	}
	arena_reset(k);
	if (k->arena) {
		free(k->arena->data);
		free(k->arena);
	}
	free(k->buf);
	free(k->op_name);
	free(k);
}

void ks_set_key(ks_ctx *k, const void *key, size_t klen, uint32_t hash)
{
	k->key = key;
	k->klen = klen;
	k->hash = hash;
	k->kg = kg_of_hash(hash, k->b->max_parallelism);
}

void ks_end_record(ks_ctx *k)
{
	k->key = NULL;
	k->klen = 0;
	k->now_valid = false;
	k->pos_state = -1;
	if (k->arena && (k->arena->used || k->arena->next))
		arena_reset(k);
}

const void *ks_current_key(const ks_ctx *k, size_t *len)
{
	*len = k->key ? k->klen : 0;
	return k->key;
}

const cm_err *ks_error(const ks_ctx *k)
{
	return &k->err;
}

int ks_prefetch_state(const ks_ctx *k)
{
	return k->nstates ? k->states[0]->id : -1;
}

static bool type_valid(const fl_state_type *t)
{
	if (t->format == FL_STATE_BYTES)
		return t->nfields == 0;
	if (t->format != FL_STATE_ROW || t->nfields > FL_ROW_MAX_FIELDS)
		return false;
	for (uint32_t i = 0; i < t->nfields; i++)
		if (t->types[i] > FL_TIMESTAMP)
			return false;
	return true;
}

static bool type_eq(const fl_state_type *a, const fl_state_type *b)
{
	return a->format == b->format && a->nfields == b->nfields &&
	       (a->nfields == 0 || memcmp(a->types, b->types, a->nfields) == 0);
}

/* Why desc cannot be declared as kind, or NULL. */
static const char *desc_invalid(enum ks_kind kind, const fl_state_desc *d)
{
	if (!type_valid(&d->value))
		return "its value type is invalid (an unknown format or field type, more than 16 "
		       "fields, or fields given for raw bytes)";
	if (kind == KS_MAP && !type_valid(&d->key))
		return "its map key type is invalid (an unknown format or field type, more than 16 "
		       "fields, or fields given for raw bytes)";
	if (d->ttl.ttl_ms < 0)
		return "its time to live is negative";
	if (d->ttl.ttl_ms &&
	    ((unsigned)d->ttl.update > FL_TTL_ON_READ_AND_WRITE ||
	     (unsigned)d->ttl.visibility > FL_TTL_RETURN_EXPIRED_IF_NOT_CLEANED_UP))
		return "its TTL update type or visibility is unknown";
	if (kind == KS_REDUCING && !d->reduce)
		return "a ReducingState needs a reduce function";
	if (kind == KS_AGGREGATING && (!d->agg.create || !d->agg.add || !d->agg.result))
		return "an AggregatingState needs create, add and result functions";
	return NULL;
}

/* What differs between an earlier declaration and d, or NULL. */
static const char *desc_differs(const ks_state *s, enum ks_kind kind, const fl_state_desc *d)
{
	const fl_state_desc *o = &s->desc;
	if (!type_eq(&o->value, &d->value))
		return "another value type";
	if (kind == KS_MAP && !type_eq(&o->key, &d->key))
		return "another map key type";
	if (o->ttl.ttl_ms != d->ttl.ttl_ms ||
	    (d->ttl.ttl_ms &&
	     (o->ttl.update != d->ttl.update || o->ttl.visibility != d->ttl.visibility)))
		return "another TTL";
	if (kind == KS_REDUCING && o->reduce != d->reduce)
		return "another reduce function";
	if (kind == KS_AGGREGATING &&
	    (o->agg.create != d->agg.create || o->agg.add != d->agg.add ||
	     o->agg.merge != d->agg.merge || o->agg.result != d->agg.result))
		return "other aggregate functions";
	return NULL;
}

static ks_state *declare(ks_ctx *k, enum ks_kind kind, const fl_state_desc *d)
{
	size_t nl = d->name ? strlen(d->name) : 0;
	if (nl == 0 || nl > ST_NAME_MAX) {
		fail(k, NULL, FL_EINVAL, "a state descriptor's name is %s",
		     nl ? "over 255 bytes" : "empty");
		return NULL;
	}
	for (int i = 0; i < k->nstates; i++) {
		ks_state *s = k->states[i];
		if (strcmp(s->name, d->name) != 0)
			continue;
		const char *diff = s->kind != kind ? "" : desc_differs(s, kind, d);
		if (diff) {
			if (s->kind != kind)
				fail(k, s, FL_EINVAL, "declared as a %s, and again as a %s",
				     kind_name(s->kind), kind_name(kind));
			else
				fail(k, s, FL_EINVAL, "declared again with %s", diff);
			return NULL;
		}
		if (s->nalias < MAX_ALIASES)
			s->alias[s->nalias++] = d;
		return s;
	}
	ks_state tmp = {.name = (char *)d->name};
	const char *why = desc_invalid(kind, d);
	if (why) {
		fail(k, &tmp, FL_EINVAL, "%s", why);
		return NULL;
	}
	int id;
	int rc = st_declare(k->b, d->name, 0, &id);
	if (rc) {
		fail(k, &tmp, rc, "%s", st_backend_error(k->b));
		return NULL;
	}
	ks_state *s = calloc(1, sizeof(*s));
	char *name = strdup(d->name);
	if (!s || !name) {
		free(s);
		free(name);
		fail(k, &tmp, FL_ENOMEM, "out of memory declaring it");
		return NULL;
	}
	s->k = k;
	s->kind = kind;
	s->id = id;
	s->name = name;
	s->desc = *d;
	s->desc.name = name;
	if (kind != KS_MAP)
		memset(&s->desc.key, 0, sizeof(s->desc.key));
	s->alias[s->nalias++] = d;
	s->ttl = d->ttl.ttl_ms;
	s->hdr =
	    (uint8_t)(kind | (d->value.format == FL_STATE_BYTES ? KS_H_BYTES : 0) |
		      (kind == KS_MAP && d->key.format == FL_STATE_BYTES ? KS_H_KEY_BYTES : 0) |
		      (s->ttl ? KS_H_TTL : 0));
	k->states[k->nstates++] = s;
	return s;
}

void *ks_get(ks_ctx *k, enum ks_kind kind, const fl_state_desc *d)
{
	if (k->err.code)
		return NULL;
	if (!d) {
		fail(k, NULL, FL_EINVAL, "a state descriptor is NULL");
		return NULL;
	}
	ks_state *s = k->last;
	if (s && s->alias[0] == d && s->kind == kind)
		return s;
	for (int i = 0; i < k->nstates; i++) {
		s = k->states[i];
		for (int j = 0; j < s->nalias; j++) {
			if (s->alias[j] != d)
				continue;
			if (s->kind != kind) {
				fail(k, s, FL_EINVAL, "declared as a %s, and again as a %s",
				     kind_name(s->kind), kind_name(kind));
				return NULL;
			}
			k->last = s;
			return s;
		}
	}
	s = declare(k, kind, d);
	if (s)
		k->last = s;
	return s;
}

/* ---------------------------------------------------------- ValueState */

/* The one value of a Value or Reducing state: 1 with *out, 0 when absent
 * (or expired), or an error. */
static int get_single(void *h, enum ks_kind kind, fl_row *out)
{
	ks_state *s = NULL;
	int rc = enter(h, kind, &s);
	if (rc)
		return rc;
	if (!out)
		return fail(s->k, s, FL_EINVAL, "a NULL row to read into");
	const uint8_t *p = NULL;
	size_t n = 0;
	if ((rc = read_single(s, false, true, &p, &n)) <= 0)
		return rc;
	return (rc = dec_single(s, p, n, out)) ? rc : 1;
}

FL_API int fl_value_state_get(fl_value_state *h, fl_row *out)
{
	return get_single(h, KS_VALUE, out);
}

FL_API int fl_value_state_update(fl_value_state *h, const fl_row *value)
{
	ks_state *s = NULL;
	int rc = enter(h, KS_VALUE, &s);
	return rc ? rc : write_single(s, value);
}

static int clear_kind(void *h, enum ks_kind kind)
{
	ks_state *s = NULL;
	int rc = enter(h, kind, &s);
	if (rc == 0)
		rc = writable(s);
	return rc ? rc : be_delete(s);
}

FL_API int fl_value_state_clear(fl_value_state *h)
{
	return clear_kind(h, KS_VALUE);
}

/* ------------------------------------------------- Reducing, Aggregating */

/* Calls a user function of the state; a failure is the state's. */
static int user_call(ks_state *s, int rc, const char *fn)
{
	if (rc >= 0)
		return 0;
	return fail(s->k, s, FL_EUSER, "its %s function failed (returned %d, %s)", fn, rc,
		    fl_strerror(rc));
}

FL_API int fl_reducing_state_get(fl_reducing_state *h, fl_row *out)
{
	return get_single(h, KS_REDUCING, out);
}

FL_API int fl_reducing_state_add(fl_reducing_state *h, const fl_row *value)
{
	ks_state *s = NULL;
	int rc = enter(h, KS_REDUCING, &s);
	if (rc || (rc = check_row(s, &s->desc.value, value, "value")) != 0)
		return rc;
	const uint8_t *p = NULL;
	size_t n = 0;
	if ((rc = read_single(s, true, false, &p, &n)) < 0)
		return rc;
	if (rc == 0)
		return write_single(s, value);
	fl_row old, next;
	if ((rc = dec_payload(s, &s->desc.value, p, n, &old, "value")) != 0)
		return rc;
	next.nfields = 0;
	if ((rc = user_call(s, s->desc.reduce(s->k->uctx, &old, value, &next), "reduce")) != 0)
		return rc;
	return write_single(s, &next);
}

FL_API int fl_reducing_state_clear(fl_reducing_state *h)
{
	return clear_kind(h, KS_REDUCING);
}

FL_API int fl_aggregating_state_get(fl_aggregating_state *h, fl_row *out)
{
	ks_state *s = NULL;
	int rc = enter(h, KS_AGGREGATING, &s);
	if (rc)
		return rc;
	if (!out)
		return fail(s->k, s, FL_EINVAL, "a NULL row to read into");
	const uint8_t *p = NULL;
	size_t n = 0;
	if ((rc = read_single(s, false, false, &p, &n)) <= 0)
		return rc;
	fl_row acc;
	if ((rc = dec_payload(s, &s->desc.value, p, n, &acc, "accumulator")) != 0)
		return rc;
	out->nfields = 0;
	rc = user_call(s, s->desc.agg.result(s->k->uctx, &acc, out), "result");
	return rc ? rc : 1;
}

FL_API int fl_aggregating_state_add(fl_aggregating_state *h, const fl_row *value)
{
	ks_state *s = NULL;
	int rc = enter(h, KS_AGGREGATING, &s);
	if (rc)
		return rc;
	if (!value)
		return fail(s->k, s, FL_EINVAL, "a NULL value to add");
	const uint8_t *p = NULL;
	size_t n = 0;
	if ((rc = read_single(s, true, false, &p, &n)) < 0)
		return rc;
	fl_row acc, next;
	if (rc == 0) {
		acc.nfields = 0;
		if ((rc = user_call(s, s->desc.agg.create(s->k->uctx, &acc), "create")) != 0)
			return rc;
	} else if ((rc = dec_payload(s, &s->desc.value, p, n, &acc, "accumulator")) != 0) {
		return rc;
	}
	next.nfields = 0;
	if ((rc = user_call(s, s->desc.agg.add(s->k->uctx, &acc, value, &next), "add")) != 0)
		return rc;
	return write_single(s, &next);
}

FL_API int fl_aggregating_state_clear(fl_aggregating_state *h)
{
	return clear_kind(h, KS_AGGREGATING);
}

/* ----------------------------------------------------- lists and maps */

/* One element of a stored list or map body; 1, 0 at the end, or -1 when
 * malformed. */
typedef struct elem {
	const uint8_t *start; /* where the element begins (its timestamp) */
	int64_t ts;
	const uint8_t *k; /* map key */
	size_t kl;
	const uint8_t *v; /* list element or map value */
	size_t vl;
	const uint8_t *end; /* just past the element */
} elem;

static int next_lv(const uint8_t **pp, const uint8_t *end, const uint8_t **p, size_t *n)
{
	uint64_t l;
	size_t h = cm_varint_get(*pp, (size_t)(end - *pp), &l);
	if (h == 0 || l > (uint64_t)(end - *pp) - h)
		return -1;
	*p = *pp + h;
	*n = (size_t)l;
	*pp += h + (size_t)l;
	return 0;
}

static int next_elem(const uint8_t **pp, const uint8_t *end, bool has_ts, bool map, elem *e)
{
	const uint8_t *p = *pp;
	if (p == end)
		return 0;
	e->start = p;
	e->ts = 0;
	if (has_ts) {
		if (end - p < 8)
			return -1;
		e->ts = rd_i64(p);
		p += 8;
	}
	if (map && next_lv(&p, end, &e->k, &e->kl) != 0)
		return -1;
	if (next_lv(&p, end, &e->v, &e->vl) != 0)
		return -1;
	e->end = *pp = p;
	return 1;
}

/* Appends an element to b, with ts when the state has a TTL. */
static void vb_elem(vb *b, int64_t ts, const uint8_t *key, size_t kl, bool map, const uint8_t *v,
		    size_t vl)
{
	if (b->skip)
		return;
	if (b->s->ttl)
		vb_i64(b, ts);
	if (map) {
		vb_varint(b, kl);
		vb_bytes(b, key, kl);
	}
	vb_varint(b, vl);
	vb_bytes(b, v, vl);
}

static int keycmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

/* Stores what b built: deletes the entry when it holds nothing but the
 * header. */
static int store_body(ks_state *s, vb *b)
{
	if (b->rc)
		return b->rc;
	return b->len <= 1 ? be_delete(s) : be_put(s, s->k->buf, b->len);
}

/* The stored body of a list or map: 1 with its bytes (after the header),
 * 0 absent, or an error. */
static int read_body(ks_state *s, const uint8_t **p, const uint8_t **end, bool *has_ts)
{
	const uint8_t *v = NULL;
	size_t n = 0;
	int rc = be_find(s, &v, &n);
	if (rc <= 0)
		return rc;
	if ((rc = hdr_check(s, v[0])) != 0)
		return rc;
	*has_ts = v[0] & KS_H_TTL;
	*p = v + 1;
	*end = v + n;
	return 1;
}

/*
 * Reads a list or map whole, for get / entries: the elements the caller
 * sees are copied into the arena (without timestamps) as an iterator's
 * body; expired ones are left out (or, returning expired values, shown this
 * once) and the stored value rewritten without them, with OnReadAndWrite's
 * refreshed timestamps, or with timestamps where it had none. *count: the
 * elements shown.
 */
static int read_all(ks_state *s, bool map, fl_state_iter **itp, size_t *count)
{
	ks_ctx *k = s->k;
	fl_state_iter *it = arena_alloc(k, sizeof(*it));
	if (!it)
		return FL_ENOMEM;
	*it = (fl_state_iter){.s = s, .map = map};
	*itp = it;
	*count = 0;
	const uint8_t *p = NULL, *end = NULL;
	bool has_ts = false;
	int rc = read_body(s, &p, &end, &has_ts);
	if (rc <= 0)
		return rc;
	const char *what = map ? "map" : "list";
	bool ttl = s->ttl != 0;
	int64_t now = ttl ? ks_now(k) : 0;
	bool show_expired = s->desc.ttl.visibility == FL_TTL_RETURN_EXPIRED_IF_NOT_CLEANED_UP;
	bool refresh = ttl && s->desc.ttl.update == FL_TTL_ON_READ_AND_WRITE;
	/* The iterator's body is at most the stored body. */
	uint8_t *copy = arena_alloc(k, (size_t)(end - p));
	if (!copy)
		return FL_ENOMEM;
	size_t cl = 0, dropped = 0;
	vb b = {.s = s, .skip = !ttl};
	vb_u8(&b, s->hdr);
	elem e;
	const uint8_t *q = p;
	while ((rc = next_elem(&q, end, has_ts, map, &e)) > 0) {
		int64_t ts = has_ts ? e.ts : now;
		bool gone = ttl && has_ts && expired(ts, s->ttl, now);
		if (!gone || show_expired) {
			size_t from = (size_t)((has_ts ? e.start + 8 : e.start) - e.start);
			size_t len = (size_t)(e.end - e.start) - from;
			memcpy(copy + cl, e.start + from, len);
			cl += len;
			(*count)++;
		}
		if (gone)
			dropped++;
		else if (ttl)
			vb_elem(&b, refresh ? now : ts, e.k, e.kl, map, e.v, e.vl);
	}
	if (rc < 0)
		return corrupt(s, what);
	it->p = copy;
	it->end = copy + cl;
	if (ttl && (dropped || refresh || !has_ts))
		return (rc = store_body(s, &b)) ? rc : *count > 0;
	return *count > 0;
}

/* Collects the current key's list plus extra rows (replace: instead of
 * the stored ones) and stores it; expired elements are dropped. */
static int list_write(ks_state *s, const fl_row *rows, size_t n, bool replace)
{
	ks_ctx *k = s->k;
	if (!rows && n)
		return fail(k, s, FL_EINVAL, "NULL rows to add");
	if (n > ST_VALUE_MAX)
		return fail(k, s, FL_ERANGE, "%zu elements are more than a state entry holds", n);
	/* Encode the new elements first: the stored value is only valid until
	 * the next backend call, and the rows are checked before anything is
	 * written. */
	const uint8_t **ps = n ? arena_alloc(k, n * sizeof(*ps)) : NULL;
	size_t *ns = n ? arena_alloc(k, n * sizeof(*ns)) : NULL;
	if (n && (!ps || !ns))
		return FL_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int rc = enc_payload(s, &s->desc.value, &rows[i], &ps[i], &ns[i], "element");
		if (rc)
			return rc;
	}
	int64_t now = s->ttl ? ks_now(k) : 0;
	vb b = {.s = s};
	vb_u8(&b, s->hdr);
	if (!replace) {
		const uint8_t *p = NULL, *end = NULL;
		bool has_ts = false;
		int rc = read_body(s, &p, &end, &has_ts);
		if (rc < 0)
			return rc;
		elem e;
		/* No TTL, none stored: the old elements are what would be
		 * written again, byte for byte (reads still check them). */
		if (rc > 0 && !s->ttl && !has_ts) {
			vb_bytes(&b, p, (size_t)(end - p));
			rc = 0;
		}
		while (rc > 0 && (rc = next_elem(&p, end, has_ts, false, &e)) > 0) {
			int64_t ts = has_ts ? e.ts : now;
			if (!(s->ttl && expired(ts, s->ttl, now)))
				vb_elem(&b, ts, NULL, 0, false, e.v, e.vl);
		}
		if (rc < 0)
			return corrupt(s, "list");
	}
	for (size_t i = 0; i < n; i++)
		vb_elem(&b, now, NULL, 0, false, ps[i], ns[i]);
	return store_body(s, &b);
}

FL_API int fl_list_state_get(fl_list_state *h, fl_state_iter **it)
{
	ks_state *s = NULL;
	int rc = enter(h, KS_LIST, &s);
	if (rc)
		return rc;
	if (!it)
		return fail(s->k, s, FL_EINVAL, "a NULL iterator pointer");
	size_t count;
	return read_all(s, false, it, &count);
}

FL_API int fl_list_state_add(fl_list_state *h, const fl_row *value)
{
	ks_state *s = NULL;
	int rc = enter(h, KS_LIST, &s);
	if (rc)
		return rc;
	if (!value)
		return fail(s->k, s, FL_EINVAL, "a NULL element to add");
	return list_write(s, value, 1, false);
}

FL_API int fl_list_state_add_all(fl_list_state *h, const fl_row *values, size_t n)
{
	ks_state *s = NULL;
	int rc = enter(h, KS_LIST, &s);
	return rc ? rc : n ? list_write(s, values, n, false) : 0;
}

FL_API int fl_list_state_update(fl_list_state *h, const fl_row *values, size_t n)
{
	ks_state *s = NULL;
	int rc = enter(h, KS_LIST, &s);
	return rc ? rc : list_write(s, values, n, true);
}

FL_API int fl_list_state_clear(fl_list_state *h)
{
	return clear_kind(h, KS_LIST);
}

/* ---------------------------------------------------------- MapState */

enum map_op { MAP_READ, MAP_PUT, MAP_REMOVE };

/*
 * map_walk's put and remove without TTL (none configured, none stored):
 * the entries before the key's place and after it are what would be
 * written again, byte for byte, so they are copied as two blocks around
 * the new entry, or around the removed one's gap. [p, end) is the stored
 * body (p NULL: no map yet). Returns 1 when a remove removed, else 0, or
 * an error.
 */
static int map_splice(ks_state *s, enum map_op op, const uint8_t *p, const uint8_t *end,
		      const uint8_t *kb, size_t kl, const uint8_t *nv, size_t nvl)
{
	const uint8_t *body = p, *at = end, *after = end;
	bool found = false;
	elem e;
	int rc = 0;
	while (p && (rc = next_elem(&p, end, false, true, &e)) > 0) {
		int c = keycmp(e.k, e.kl, kb, kl);
		if (c >= 0) {
			at = e.start;
			found = c == 0;
			after = found ? e.end : e.start;
			break;
		}
	}
	if (rc < 0)
		return corrupt(s, "map");
	if (op == MAP_REMOVE && !found)
		return 0;
	vb b = {.s = s};
	vb_u8(&b, s->hdr);
	if (body)
		vb_bytes(&b, body, (size_t)(at - body));
	if (op == MAP_PUT)
		vb_elem(&b, 0, kb, kl, true, nv, nvl);
	if (body)
		vb_bytes(&b, after, (size_t)(end - after));
	rc = store_body(s, &b);
	return rc ? rc : op == MAP_REMOVE;
}

/*
 * The one walk behind every map call: finds key (kb, kl) in the current
 * key's map, and rewrites the map when something changes (a put, a
 * removal, expired entries dropped, OnReadAndWrite's refreshed timestamp).
 * MAP_READ: 1 with the value copied into the arena (*v, *vl) when present
 * (an expired one only when the state returns expired values), else 0.
 */
static int map_walk(ks_state *s, enum map_op op, const uint8_t *kb, size_t kl, const uint8_t *nv,
		    size_t nvl, const uint8_t **v, size_t *vl)
{
	ks_ctx *k = s->k;
	const uint8_t *p = NULL, *end = NULL;
	bool has_ts = false;
	int rc = read_body(s, &p, &end, &has_ts);
	if (rc < 0)
		return rc;
	if (rc == 0 && op != MAP_PUT)
		return 0;
	bool ttl = s->ttl != 0;
	if (!ttl && !has_ts && op != MAP_READ)
		return map_splice(s, op, p, end, kb, kl, nv, nvl);
	int64_t now = ttl ? ks_now(k) : 0;
	bool refresh = ttl && s->desc.ttl.update == FL_TTL_ON_READ_AND_WRITE;
	/* A plain read of a map without TTL stores nothing: it builds nothing
	 * and stops at the key's place. */
	vb b = {.s = s, .skip = op == MAP_READ && !ttl};
	vb_u8(&b, s->hdr);
	bool changed = op == MAP_PUT || (ttl && !has_ts && p != end), placed = false;
	int found = 0;
	elem e;
	while (p && (rc = next_elem(&p, end, has_ts, true, &e)) > 0) {
		int c = keycmp(e.k, e.kl, kb, kl);
		if (c > 0 && b.skip)
			break;
		if (c > 0 && op == MAP_PUT && !placed) {
			vb_elem(&b, now, kb, kl, true, nv, nvl);
			placed = true;
		}
		int64_t ts = has_ts ? e.ts : now;
		bool gone = ttl && has_ts && expired(ts, s->ttl, now);
		if (c == 0) {
			if (op == MAP_READ &&
			    (!gone ||
			     s->desc.ttl.visibility == FL_TTL_RETURN_EXPIRED_IF_NOT_CLEANED_UP)) {
				found = 1;
				if (v && !(*v = arena_copy(k, e.v, e.vl)))
					return FL_ENOMEM;
				if (vl)
					*vl = e.vl;
			} else if (op == MAP_REMOVE && !gone) {
				found = 1;
			}
			if (op == MAP_PUT) {
				vb_elem(&b, now, kb, kl, true, nv, nvl);
				placed = true;
				continue;
			}
			if (op == MAP_REMOVE || gone) {
				changed = true;
				continue;
			}
			if (refresh && ts != now) {
				changed = true;
				ts = now;
			}
		} else if (gone) {
			changed = true;
			continue;
		}
		vb_elem(&b, ts, e.k, e.kl, true, e.v, e.vl);
	}
	if (rc < 0)
		return corrupt(s, "map");
	if (op == MAP_PUT && !placed)
		vb_elem(&b, now, kb, kl, true, nv, nvl);
	if (changed && (rc = store_body(s, &b)) != 0)
		return rc;
	return found;
}

static int map_key(ks_state *s, const fl_row *key, const uint8_t **kb, size_t *kl)
{
	return enc_payload(s, &s->desc.key, key, kb, kl, "map key");
}

FL_API int fl_map_state_get(fl_map_state *h, const fl_row *key, fl_row *value)
{
	ks_state *s = NULL;
	int rc = enter(h, KS_MAP, &s);
	const uint8_t *kb = NULL, *v = NULL;
	size_t kl = 0, vl = 0;
	if (rc || (rc = map_key(s, key, &kb, &kl)) != 0)
		return rc;
	if (!value)
		return fail(s->k, s, FL_EINVAL, "a NULL row to read into");
	if ((rc = map_walk(s, MAP_READ, kb, kl, NULL, 0, &v, &vl)) <= 0)
		return rc;
	return (rc = dec_payload(s, &s->desc.value, v, vl, value, "map value")) ? rc : 1;
}

FL_API int fl_map_state_contains(fl_map_state *h, const fl_row *key)
{
	ks_state *s = NULL;
	int rc = enter(h, KS_MAP, &s);
	const uint8_t *kb = NULL;
	size_t kl = 0;
	if (rc || (rc = map_key(s, key, &kb, &kl)) != 0)
		return rc;
	return map_walk(s, MAP_READ, kb, kl, NULL, 0, NULL, NULL);
}

FL_API int fl_map_state_put(fl_map_state *h, const fl_row *key, const fl_row *value)
{
	ks_state *s = NULL;
	int rc = enter(h, KS_MAP, &s);
	const uint8_t *kb = NULL, *vb_ = NULL;
	size_t kl = 0, vl = 0;
	if (rc || (rc = writable(s)) != 0 || (rc = map_key(s, key, &kb, &kl)) != 0 ||
	    (rc = enc_payload(s, &s->desc.value, value, &vb_, &vl, "map value")) != 0)
		return rc;
	rc = map_walk(s, MAP_PUT, kb, kl, vb_, vl, NULL, NULL);
	return rc < 0 ? rc : 0;
}

FL_API int fl_map_state_remove(fl_map_state *h, const fl_row *key)
{
	ks_state *s = NULL;
	int rc = enter(h, KS_MAP, &s);
	const uint8_t *kb = NULL;
	size_t kl = 0;
	if (rc || (rc = writable(s)) != 0 || (rc = map_key(s, key, &kb, &kl)) != 0)
		return rc;
	rc = map_walk(s, MAP_REMOVE, kb, kl, NULL, 0, NULL, NULL);
	return rc < 0 ? rc : 0;
}

FL_API int fl_map_state_entries(fl_map_state *h, fl_state_iter **it)
{
	ks_state *s = NULL;
	int rc = enter(h, KS_MAP, &s);
	if (rc)
		return rc;
	if (!it)
		return fail(s->k, s, FL_EINVAL, "a NULL iterator pointer");
	size_t count;
	return read_all(s, true, it, &count);
}

FL_API int fl_map_state_is_empty(fl_map_state *h)
{
	fl_state_iter *it;
	int rc = fl_map_state_entries(h, &it);
	return rc < 0 ? rc : rc == 0;
}

FL_API int fl_map_state_clear(fl_map_state *h)
{
	return clear_kind(h, KS_MAP);
}

/* ----------------------------------------------------------- iterators */

static int iter_enter(fl_state_iter *it, bool map)
{
	if (!it)
		return FL_EINVAL;
	ks_state *s = it->s;
	if (s->k->err.code)
		return s->k->err.code;
	if (it->map != map)
		return fail(s->k, s, FL_EINVAL, "a %s iterator read as a %s's",
			    map ? "list" : "map", map ? "map" : "list");
	return 0;
}

FL_API int fl_state_iter_next(fl_state_iter *it, fl_row *elem_out)
{
	int rc = iter_enter(it, false);
	if (rc)
		return rc;
	ks_state *s = it->s;
	if (it->p == it->end)
		return 0;
	if (!elem_out)
		return fail(s->k, s, FL_EINVAL, "a NULL row to read into");
	const uint8_t *p = NULL;
	size_t n = 0;
	if (next_lv(&it->p, it->end, &p, &n) != 0)
		return corrupt(s, "list");
	return (rc = dec_payload(s, &s->desc.value, p, n, elem_out, "list element")) ? rc : 1;
}

FL_API int fl_state_iter_next_entry(fl_state_iter *it, fl_row *key, fl_row *value)
{
	int rc = iter_enter(it, true);
	if (rc)
		return rc;
	ks_state *s = it->s;
	if (it->p == it->end)
		return 0;
	if (!key)
		return fail(s->k, s, FL_EINVAL, "a NULL row to read a map key into");
	const uint8_t *kp, *vp;
	size_t kn, vn;
	if (next_lv(&it->p, it->end, &kp, &kn) != 0 || next_lv(&it->p, it->end, &vp, &vn) != 0)
		return corrupt(s, "map");
	if ((rc = dec_payload(s, &s->desc.key, kp, kn, key, "map key")) != 0)
		return rc;
	if (value && (rc = dec_payload(s, &s->desc.value, vp, vn, value, "map value")) != 0)
		return rc;
	return 1;
}

/* ------------------------------------------------------ snapshot filter */

struct ks_snap_filter {
	int64_t now;
	int n;
	struct {
		int64_t ttl;
		uint8_t kind;
	} st[ST_MAX_STATES];
	uint8_t *buf;
	size_t cap;
};

int ks_snap_filter_new(ks_ctx *k, ks_snap_filter **out)
{
	*out = NULL;
	bool any = false;
	for (int i = 0; i < k->nstates; i++)
		any |= k->states[i]->ttl != 0;
	if (!any)
		return 0;
	ks_snap_filter *f = calloc(1, sizeof(*f));
	if (!f)
		return FL_ENOMEM;
	f->now = now_of(k);
	for (int i = 0; i < k->nstates; i++) {
		const ks_state *s = k->states[i];
		if (!s->ttl)
			continue;
		f->st[s->id].ttl = s->ttl;
		f->st[s->id].kind = (uint8_t)s->kind;
		if (s->id >= f->n)
			f->n = s->id + 1;
	}
	*out = f;
	return 0;
}

void ks_snap_filter_free(ks_snap_filter *f)
{
	if (!f)
		return;
	free(f->buf);
	free(f);
}

int ks_snap_filter_entry(void *arg, st_entry *e)
{
	ks_snap_filter *f = arg;
	if (e->state >= f->n || !f->st[e->state].ttl)
		return 1;
	int64_t ttl = f->st[e->state].ttl;
	const uint8_t *v = e->val;
	uint8_t h = v[0];
	/* What the state would refuse or cannot date is kept as it is: the
	 * read path reports it. */
	if ((h & KS_H_RESERVED) || (h & KS_H_KIND) != f->st[e->state].kind || !(h & KS_H_TTL))
		return 1;
	unsigned kind = h & KS_H_KIND;
	if (kind != KS_LIST && kind != KS_MAP)
		return e->vlen >= 9 && expired(rd_i64(v + 1), ttl, f->now) ? 0 : 1;
	bool map = kind == KS_MAP;
	const uint8_t *p = v + 1, *end = v + e->vlen;
	elem el;
	int rc;
	size_t live = 0, gone = 0;
	while ((rc = next_elem(&p, end, true, map, &el)) > 0) {
		if (expired(el.ts, ttl, f->now))
			gone++;
		else
			live++;
	}
	if (rc < 0 || gone == 0)
		return 1;
	if (live == 0)
		return 0;
	if (e->vlen > f->cap) {
		uint8_t *nb = realloc(f->buf, e->vlen);
		if (!nb)
			return FL_ENOMEM;
		f->buf = nb;
		f->cap = e->vlen;
	}
	size_t n = 0;
	f->buf[n++] = h;
	p = v + 1;
	while (next_elem(&p, end, true, map, &el) > 0) {
		if (expired(el.ts, ttl, f->now))
			continue;
		memcpy(f->buf + n, el.start, (size_t)(el.end - el.start));
		n += (size_t)(el.end - el.start);
	}
	e->val = f->buf;
	e->vlen = n;
	return 1;
}
