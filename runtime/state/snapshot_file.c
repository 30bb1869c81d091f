/*
 * snapshot_file.c — writer and reader of keyed-state snapshot files (format
 * in snapshot_file.h).
 */
#include "state/snapshot_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "common/crc32c.h"
#include "common/varint.h"
#include "types/keygroup.h"

#define HDR_BYTES 40
#define TRAILER_BYTES 24
#define IDX_ENTRY 24
#define BLK_HDR 12
#define BLOCK_TARGET (64u * 1024u)
static const char MAGIC[8] = {'F', 'L', 'S', 'T', 'A', 'T', 'E', 0};
static const char END_MAGIC[4] = {'F', 'L', 'S', 'E'};

/* Integers are little endian, as in the checkpoint's _metadata file. */
static void le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void le64(uint8_t *p, uint64_t v)
{
	le32(p, (uint32_t)v);
	le32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* ---------------------------------------------------------------- writer */

struct kg_idx {
	uint64_t off, bytes, entries;
};

struct writer {
	FILE *f;
	const char *fname;
	cm_err *err;
	uint64_t pos;
	int kg_first, kg_last;
	struct kg_idx *idx;
	uint8_t *blk;
	size_t blen, bcap;
	uint32_t bcount;
	int bkg; /* key group of the open block, -1: none */
	uint64_t total;
	st_snap_filter_fn filter;
	void *filter_arg;
	bool delta; /* entries of vlen 0 are deletions */
};

static int wr_bytes(struct writer *w, const void *p, size_t n)
{
	if (n && fwrite(p, 1, n, w->f) != n) {
		int e = errno;
		return cm_err_set(w->err, FL_EIO, "%s: writing %zu bytes at offset %llu: %s",
				  w->fname, n, (unsigned long long)w->pos,
				  e ? strerror(e) : "short write");
	}
	w->pos += n;
	return 0;
}

static int wr_block(struct writer *w)
{
	if (w->bkg < 0 || w->bcount == 0)
		return 0;
	uint8_t h[BLK_HDR];
	le32(h, (uint32_t)w->blen);
	le32(h + 4, w->bcount);
	le32(h + 8, cm_crc32c(cm_crc32c(0, h, 8), w->blk, w->blen));
	int rc = wr_bytes(w, h, sizeof(h));
	if (rc == 0)
		rc = wr_bytes(w, w->blk, w->blen);
	if (rc)
		return rc;
	w->idx[w->bkg - w->kg_first].bytes += BLK_HDR + w->blen;
	w->blen = 0;
	w->bcount = 0;
	return 0;
}

static int wr_entry(void *arg, const st_entry *e)
{
	struct writer *w = arg;
	st_entry fe;
	if (w->filter) {
		fe = *e;
		int keep = w->filter(w->filter_arg, &fe);
		if (keep < 0)
			return cm_err_set(w->err, keep, "%s: filtering an entry of state %d: %s",
					  w->fname, e->state, fl_strerror(keep));
		if (keep == 0 && !w->delta)
			return 0;
		if (keep == 0) { /* in a delta, what the filter drops is deleted */
			fe.val = NULL;
			fe.vlen = 0;
		}
		e = &fe;
	}
	if (e->key_group < w->kg_first || e->key_group > w->kg_last || e->key_group < w->bkg)
		return cm_err_set(w->err, FL_EINVAL,
				  "%s: entry of key group %d out of order or outside %d..%d",
				  w->fname, e->key_group, w->kg_first, w->kg_last);
	int rc;
	if (e->key_group != w->bkg) {
		if ((rc = wr_block(w)) != 0)
			return rc;
		w->bkg = e->key_group;
	}
	size_t esz = 2 + cm_varint_len(e->klen) + cm_varint_len(e->nslen) + cm_varint_len(e->vlen) +
		     e->klen + e->nslen + e->vlen;
	if (w->blen && w->blen + esz > BLOCK_TARGET && (rc = wr_block(w)) != 0)
		return rc;
	if (w->blen + esz > w->bcap) {
		size_t cap = w->blen + esz > BLOCK_TARGET ? w->blen + esz : BLOCK_TARGET;
		uint8_t *nb = realloc(w->blk, cap);
		if (!nb)
			return cm_err_set(w->err, FL_ENOMEM,
					  "%s: out of memory for a block of %zu bytes", w->fname,
					  cap);
		w->blk = nb;
		w->bcap = cap;
	}
	uint8_t *p = w->blk + w->blen;
	p[0] = (uint8_t)e->state;
	p[1] = (uint8_t)(e->state >> 8);
	size_t n = 2;
	n += cm_varint_put(p + n, CM_VARINT_MAX, e->klen);
	n += cm_varint_put(p + n, CM_VARINT_MAX, e->nslen);
	n += cm_varint_put(p + n, CM_VARINT_MAX, e->vlen);
	memcpy(p + n, e->key, e->klen);
	n += e->klen;
	if (e->nslen)
		memcpy(p + n, e->ns, e->nslen);
	n += e->nslen;
	if (e->vlen)
		memcpy(p + n, e->val, e->vlen);
	w->blen += n + e->vlen;
	w->bcount++;
	w->idx[e->key_group - w->kg_first].entries++;
	w->total++;
	return 0;
}

int st_snapfile_write(FILE *f, const char *fname, st_cut *c, int kg_first, int kg_last,
		      uint64_t *entries, cm_err *err)
{
	return st_snapfile_write_filtered(f, fname, c, kg_first, kg_last, NULL, NULL, entries, err);
}

static int write_file(FILE *f, const char *fname, st_cut *c, bool delta, uint64_t since,
		      int kg_first, int kg_last, st_snap_filter_fn filter, void *filter_arg,
		      uint64_t *entries, cm_err *err);

int st_snapfile_write_filtered(FILE *f, const char *fname, st_cut *c, int kg_first, int kg_last,
			       st_snap_filter_fn filter, void *filter_arg, uint64_t *entries,
			       cm_err *err)
{
	return write_file(f, fname, c, false, 0, kg_first, kg_last, filter, filter_arg, entries,
			  err);
}

int st_snapfile_write_changes(FILE *f, const char *fname, st_cut *c, uint64_t since, int kg_first,
			      int kg_last, st_snap_filter_fn filter, void *filter_arg,
			      uint64_t *entries, cm_err *err)
{
	if (!st_cut_changes_known(c, since))
		return cm_err_set(err, FL_EINVAL,
				  "%s: the changes since epoch %llu are not known at epoch %llu",
				  fname, (unsigned long long)since,
				  (unsigned long long)st_cut_epoch(c));
	return write_file(f, fname, c, true, since, kg_first, kg_last, filter, filter_arg, entries,
			  err);
}

static int write_file(FILE *f, const char *fname, st_cut *c, bool delta, uint64_t since,
		      int kg_first, int kg_last, st_snap_filter_fn filter, void *filter_arg,
		      uint64_t *entries, cm_err *err)
{
	if (kg_first < 0 || kg_last >= c->max_parallelism || kg_first > kg_last)
		return cm_err_set(err, FL_EINVAL, "%s: key-group range %d..%d outside 0..%d", fname,
				  kg_first, kg_last, c->max_parallelism - 1);
	size_t nkg = (size_t)(kg_last - kg_first + 1);
	struct writer w = {.f = f,
			   .fname = fname,
			   .err = err,
			   .kg_first = kg_first,
			   .kg_last = kg_last,
			   .bkg = -1,
			   .filter = filter,
			   .filter_arg = filter_arg,
			   .delta = delta};
	w.idx = calloc(nkg, sizeof(*w.idx));
	/* The state table: at most 256 * 257 bytes. */
	uint8_t *tab = malloc((size_t)c->nstates * (2 + ST_NAME_MAX) + 4);
	int rc = 0;
	if (!w.idx || !tab) {
		rc = cm_err_set(err, FL_ENOMEM, "%s: out of memory", fname);
		goto out;
	}
	size_t tlen = 0;
	for (int i = 0; i < c->nstates; i++) {
		size_t nl = strlen(c->states[i].name);
		tab[tlen++] = (uint8_t)c->states[i].flags;
		tab[tlen++] = (uint8_t)nl;
		memcpy(tab + tlen, c->states[i].name, nl);
		tlen += nl;
	}
	le32(tab + tlen, cm_crc32c(0, tab, tlen));
	uint8_t h[HDR_BYTES] = {0};
	memcpy(h, MAGIC, 8);
	le32(h + 8, ST_SNAP_VERSION);
	le32(h + 12, (uint32_t)c->max_parallelism);
	le32(h + 16, (uint32_t)kg_first);
	le32(h + 20, (uint32_t)kg_last);
	le32(h + 24, (uint32_t)c->nstates);
	le32(h + 28, (uint32_t)tlen);
	le32(h + 32, delta ? ST_SNAP_FLAG_DELTA : 0);
	le32(h + 36, cm_crc32c(0, h, 36));
	if ((rc = wr_bytes(&w, h, sizeof(h))) || (rc = wr_bytes(&w, tab, tlen + 4)))
		goto out;
	uint64_t data_start = w.pos;
	rc = delta ? st_cut_scan_changes(c, since, kg_first, kg_last, wr_entry, &w)
		   : st_cut_scan(c, kg_first, kg_last, wr_entry, &w);
	if (rc) {
		if (c->err.code)
			cm_err_set(err, rc, "%s: %s", fname, c->err.msg);
		else
			cm_err_set(err, rc, "%s: reading the snapshot cut failed: %s", fname,
				   fl_strerror(rc));
		goto out;
	}
	if ((rc = wr_block(&w)) != 0)
		goto out;
	uint64_t index_off = w.pos, off = data_start;
	uint8_t ie[IDX_ENTRY];
	uint32_t icrc = 0;
	for (size_t g = 0; g < nkg; g++) {
		le64(ie, off);
		le64(ie + 8, w.idx[g].bytes);
		le64(ie + 16, w.idx[g].entries);
		off += w.idx[g].bytes;
		icrc = cm_crc32c(icrc, ie, sizeof(ie));
		if ((rc = wr_bytes(&w, ie, sizeof(ie))) != 0)
			goto out;
	}
	uint8_t t[TRAILER_BYTES + 4];
	le32(t, icrc);
	le64(t + 4, index_off);
	le64(t + 12, w.total);
	le32(t + 20, cm_crc32c(0, t + 4, 16));
	memcpy(t + 24, END_MAGIC, 4);
	if ((rc = wr_bytes(&w, t, sizeof(t))) != 0)
		goto out;
	if (fflush(f) != 0) {
		int e = errno;
		rc = cm_err_set(err, FL_EIO, "%s: flushing: %s", fname, strerror(e));
		goto out;
	}
	if (entries)
		*entries = w.total;
out:
	free(w.idx);
	free(w.blk);
	free(tab);
	return rc;
}

/* ---------------------------------------------------------------- reader */

/* The fuzzer's build (tests/fuzz) ignores checksums, so that mutated inputs
 * reach the parsing behind them; the unit tests check that every corrupt
 * byte is caught. */
static inline int crc_ok(uint32_t stored, uint32_t computed)
{
#ifdef FLINC_FUZZ_IGNORE_CRC
	(void)stored;
	(void)computed;
	return 1;
#else
	return stored == computed;
#endif
}

struct st_snapfile {
	FILE *f;
	char *fname;
	uint64_t size;
	int maxp, kg_first, kg_last, nstates;
	bool delta;
	struct {
		char name[ST_NAME_MAX + 1];
		unsigned flags;
	} states[ST_MAX_STATES];
	struct kg_idx *idx;
	uint64_t entries;
	uint8_t *buf;
	size_t cap;
};

static int bad(const st_snapfile *r, cm_err *err, uint64_t off, const char *what)
{
	return cm_err_set(err, FL_EPROTO, "%s: not a valid keyed-state snapshot: %s (offset %llu)",
			  r->fname, what, (unsigned long long)off);
}

/* Reads n bytes at off, which the caller checked lie inside the file. */
static int read_at(st_snapfile *r, uint64_t off, void *p, size_t n, cm_err *err)
{
	if (fseeko(r->f, (off_t)off, SEEK_SET) != 0 || fread(p, 1, n, r->f) != n) {
		int e = errno;
		if (feof(r->f))
			return bad(r, err, off, "truncated (the file shrank while read)");
		return cm_err_set(err, FL_EIO, "%s: reading %zu bytes at offset %llu: %s", r->fname,
				  n, (unsigned long long)off, e ? strerror(e) : "read error");
	}
	return 0;
}

static int ensure_buf(st_snapfile *r, size_t n, cm_err *err)
{
	if (n <= r->cap)
		return 0;
	uint8_t *nb = realloc(r->buf, n);
	if (!nb)
		return cm_err_set(err, FL_ENOMEM, "%s: out of memory for %zu bytes", r->fname, n);
	r->buf = nb;
	r->cap = n;
	return 0;
}

void st_snapfile_close(st_snapfile *r)
{
	if (!r)
		return;
	free(r->fname);
	free(r->idx);
	free(r->buf);
	free(r);
}

static int open_checked(st_snapfile *r, cm_err *err)
{
	if (fseeko(r->f, 0, SEEK_END) != 0) {
		int e = errno;
		return cm_err_set(err, FL_EIO, "%s: cannot seek: %s", r->fname, strerror(e));
	}
	off_t end = ftello(r->f);
	if (end < 0) {
		int e = errno;
		return cm_err_set(err, FL_EIO, "%s: cannot tell its size: %s", r->fname,
				  strerror(e));
	}
	r->size = (uint64_t)end;
	uint8_t h[HDR_BYTES];
	if (r->size < HDR_BYTES)
		return bad(r, err, r->size, r->size ? "truncated header" : "empty file");
	int rc = read_at(r, 0, h, sizeof(h), err);
	if (rc)
		return rc;
	if (memcmp(h, MAGIC, 8) != 0)
		return bad(r, err, 0, "wrong magic (not a flinc state file)");
	if (!crc_ok(rd32(h + 36), cm_crc32c(0, h, 36)))
		return bad(r, err, 36, "header checksum mismatch");
	uint32_t ver = rd32(h + 8), maxp = rd32(h + 12), first = rd32(h + 16), last = rd32(h + 20);
	uint32_t nst = rd32(h + 24), tlen = rd32(h + 28);
	if (ver < 1 || ver > ST_SNAP_VERSION)
		return cm_err_set(err, FL_EPROTO,
				  "%s: snapshot format version %u, this flinc reads versions 1 to %d",
				  r->fname, ver, ST_SNAP_VERSION);
	if (maxp < 1 || maxp > 32768 || first > last || last >= maxp)
		return bad(r, err, 12, "max parallelism or key-group range out of bounds");
	if (nst > ST_MAX_STATES || tlen > nst * (2u + ST_NAME_MAX))
		return bad(r, err, 24, "state table size out of bounds");
	uint32_t fflags = rd32(h + 32);
	if (fflags & ~(ver >= 2 ? ST_SNAP_FLAG_DELTA : 0u))
		return bad(r, err, 32, "unknown file flags");
	r->delta = (fflags & ST_SNAP_FLAG_DELTA) != 0;
	r->maxp = (int)maxp;
	r->kg_first = (int)first;
	r->kg_last = (int)last;
	r->nstates = (int)nst;
	uint64_t nkg = last - first + 1;
	uint64_t tab_end = HDR_BYTES + (uint64_t)tlen + 4;
	uint64_t fixed = tab_end + nkg * IDX_ENTRY + 4 + TRAILER_BYTES;
	if (r->size < fixed)
		return bad(r, err, r->size,
			   "truncated (shorter than its header, index and trailer)");

	/* State table. */
	if ((rc = ensure_buf(r, tlen + 4, err)) ||
	    (rc = read_at(r, HDR_BYTES, r->buf, tlen + 4, err)))
		return rc;
	if (!crc_ok(rd32(r->buf + tlen), cm_crc32c(0, r->buf, tlen)))
		return bad(r, err, HDR_BYTES + tlen, "state table checksum mismatch");
	size_t p = 0;
	for (uint32_t i = 0; i < nst; i++) {
		if (tlen - p < 2 || r->buf[p + 1] == 0 || r->buf[p + 1] > tlen - p - 2)
			return bad(r, err, HDR_BYTES + p, "state table entry truncated");
		unsigned flags = r->buf[p], nl = r->buf[p + 1];
		if (flags & ~ST_STATE_NAMESPACED)
			return bad(r, err, HDR_BYTES + p, "unknown state flags");
		memcpy(r->states[i].name, r->buf + p + 2, nl);
		r->states[i].name[nl] = 0;
		if (strlen(r->states[i].name) != nl)
			return bad(r, err, HDR_BYTES + p, "state name holds a NUL byte");
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(r->states[j].name, r->states[i].name) == 0)
				return bad(r, err, HDR_BYTES + p, "state name appears twice");
		r->states[i].flags = flags;
		p += 2 + nl;
	}
	if (p != tlen)
		return bad(r, err, HDR_BYTES + p, "state table longer than its states");

	/* Trailer, then the index it points at. */
	uint8_t t[TRAILER_BYTES];
	uint64_t toff = r->size - TRAILER_BYTES;
	if ((rc = read_at(r, toff, t, sizeof(t), err)) != 0)
		return rc;
	if (memcmp(t + 20, END_MAGIC, 4) != 0)
		return bad(r, err, toff + 20, "trailer magic missing (truncated or not closed)");
	if (!crc_ok(rd32(t + 16), cm_crc32c(0, t, 16)))
		return bad(r, err, toff + 16, "trailer checksum mismatch");
	uint64_t index_off = rd64(t);
	r->entries = rd64(t + 8);
	if (index_off < tab_end || index_off != r->size - TRAILER_BYTES - 4 - nkg * IDX_ENTRY)
		return bad(r, err, toff, "index offset does not match the file's size");
	size_t ilen = (size_t)nkg * IDX_ENTRY;
	if ((rc = ensure_buf(r, ilen + 4, err)) ||
	    (rc = read_at(r, index_off, r->buf, ilen + 4, err)))
		return rc;
	if (!crc_ok(rd32(r->buf + ilen), cm_crc32c(0, r->buf, ilen)))
		return bad(r, err, index_off + ilen, "index checksum mismatch");
	if (!(r->idx = calloc((size_t)nkg, sizeof(*r->idx))))
		return cm_err_set(err, FL_ENOMEM, "%s: out of memory for the index", r->fname);
	uint64_t off = tab_end, total = 0;
	for (uint64_t g = 0; g < nkg; g++) {
		const uint8_t *q = r->buf + g * IDX_ENTRY;
		struct kg_idx *x = &r->idx[g];
		x->off = rd64(q);
		x->bytes = rd64(q + 8);
		x->entries = rd64(q + 16);
		/* The key groups tile the data region, in order. */
		if (x->off != off || x->bytes > index_off - off ||
		    (x->entries != 0) != (x->bytes != 0) || x->entries > x->bytes)
			return bad(r, err, index_off + g * IDX_ENTRY,
				   "index entry does not tile the data region");
		off += x->bytes;
		total += x->entries;
	}
	if (off != index_off || total != r->entries)
		return bad(r, err, index_off, "index does not add up to the data region or count");
	return 0;
}

int st_snapfile_open(FILE *f, const char *fname, st_snapfile **out, cm_err *err)
{
	st_snapfile *r = calloc(1, sizeof(*r));
	if (!r || !(r->fname = strdup(fname ? fname : "(snapshot)"))) {
		free(r);
		return cm_err_set(err, FL_ENOMEM, "out of memory opening a snapshot file");
	}
	r->f = f;
	int rc = open_checked(r, err);
	if (rc) {
		st_snapfile_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

int st_snapfile_max_parallelism(const st_snapfile *r)
{
	return r->maxp;
}

void st_snapfile_range(const st_snapfile *r, int *kg_first, int *kg_last)
{
	*kg_first = r->kg_first;
	*kg_last = r->kg_last;
}

uint64_t st_snapfile_entries(const st_snapfile *r)
{
	return r->entries;
}

bool st_snapfile_is_delta(const st_snapfile *r)
{
	return r->delta;
}

int st_snapfile_nstates(const st_snapfile *r)
{
	return r->nstates;
}

const char *st_snapfile_state_name(const st_snapfile *r, int id, unsigned *flags)
{
	if (id < 0 || id >= r->nstates)
		return NULL;
	if (flags)
		*flags = r->states[id].flags;
	return r->states[id].name;
}

/* Parses the entry at p[0..n); returns its size, or 0 if malformed (what
 * set). */
static size_t parse_entry(const st_snapfile *r, int kg, const uint8_t *p, size_t n, st_entry *e,
			  const char **what)
{
	uint64_t kl, nl, vl;
	size_t a, b, c;
	if (n < 2) {
		*what = "entry truncated";
		return 0;
	}
	e->state = p[0] | p[1] << 8;
	e->key_group = kg;
	if (!(a = cm_varint_get(p + 2, n - 2, &kl)) ||
	    !(b = cm_varint_get(p + 2 + a, n - 2 - a, &nl)) ||
	    !(c = cm_varint_get(p + 2 + a + b, n - 2 - a - b, &vl))) {
		*what = "entry lengths malformed";
		return 0;
	}
	size_t h = 2 + a + b + c;
	if (e->state >= r->nstates) {
		*what = "entry of an undeclared state";
		return 0;
	}
	if (kl > ST_HEAP_KEY_MAX || nl > ST_KEY_MAX || (nl && kl > ST_KEY_MAX - nl) ||
	    (vl == 0 && !r->delta) || vl > ST_VALUE_MAX) {
		*what = "entry key, namespace or value length out of bounds";
		return 0;
	}
	if (nl && !(r->states[e->state].flags & ST_STATE_NAMESPACED)) {
		*what = "namespace on a state without one";
		return 0;
	}
	if (kl + nl + vl > n - h) {
		*what = "entry runs past its block";
		return 0;
	}
	e->key = p + h;
	e->klen = (size_t)kl;
	e->ns = p + h + kl;
	e->nslen = (size_t)nl;
	e->val = vl ? p + h + kl + nl : NULL; /* a delta's deletion */
	e->vlen = (size_t)vl;
	if ((int)(kg_murmur3_32(e->key, e->klen, 0) % (uint32_t)r->maxp) != kg) {
		*what = "entry's key does not hash to its key group";
		return 0;
	}
	return h + (size_t)(kl + nl + vl);
}

static int read_group(st_snapfile *r, int kg, st_entry_fn fn, void *arg, cm_err *err)
{
	const struct kg_idx *x = &r->idx[kg - r->kg_first];
	uint64_t off = x->off, end = x->off + x->bytes, seen = 0;
	while (off < end) {
		uint8_t h[BLK_HDR];
		if (end - off < BLK_HDR)
			return bad(r, err, off, "block header runs past its key group");
		int rc = read_at(r, off, h, sizeof(h), err);
		if (rc)
			return rc;
		uint32_t plen = rd32(h), count = rd32(h + 4);
		if (plen > ST_SNAP_BLOCK_MAX || plen > end - off - BLK_HDR || count == 0 ||
		    count > plen)
			return bad(r, err, off, "block length or entry count out of bounds");
		if ((rc = ensure_buf(r, plen ? plen : 1, err)) ||
		    (rc = read_at(r, off + BLK_HDR, r->buf, plen, err)))
			return rc;
		if (!crc_ok(rd32(h + 8), cm_crc32c(cm_crc32c(0, h, 8), r->buf, plen)))
			return bad(r, err, off, "block checksum mismatch");
		/* Check every entry before passing any on. */
		const char *what = NULL;
		size_t p = 0;
		st_entry e;
		for (uint32_t i = 0; i < count; i++) {
			size_t n = parse_entry(r, kg, r->buf + p, plen - p, &e, &what);
			if (n == 0)
				return bad(r, err, off + BLK_HDR + p, what);
			p += n;
		}
		if (p != plen)
			return bad(r, err, off + BLK_HDR + p, "block longer than its entries");
		p = 0;
		for (uint32_t i = 0; i < count; i++) {
			p += parse_entry(r, kg, r->buf + p, plen - p, &e, &what);
			if ((rc = fn(arg, &e)) != 0)
				return rc;
		}
		seen += count;
		off += BLK_HDR + plen;
	}
	if (seen != x->entries)
		return bad(r, err, x->off,
			   "key group holds another number of entries than indexed");
	return 0;
}

int st_snapfile_read(st_snapfile *r, int kg_first, int kg_last, st_entry_fn fn, void *arg,
		     cm_err *err)
{
	int first = kg_first > r->kg_first ? kg_first : r->kg_first;
	int last = kg_last < r->kg_last ? kg_last : r->kg_last;
	for (int g = first; g <= last; g++) {
		int rc = read_group(r, g, fn, arg, err);
		if (rc)
			return rc;
	}
	return 0;
}

struct restore_ctx {
	st_backend *b;
	int map[ST_MAX_STATES];
	const char *fname;
	cm_err *err;
};

static int restore_one(void *arg, const st_entry *e)
{
	struct restore_ctx *x = arg;
	st_entry m = *e;
	m.state = x->map[e->state];
	int rc = m.vlen ? st_restore_entry(x->b, &m) : st_restore_delete(x->b, &m);
	if (rc)
		return cm_err_set(x->err, rc, "%s: restoring key group %d: %s", x->fname,
				  e->key_group, st_backend_error(x->b));
	return 0;
}

int st_snapfile_restore(st_backend *b, FILE *f, const char *fname, int kg_first, int kg_last,
			cm_err *err)
{
	st_snapfile *r;
	int rc = st_snapfile_open(f, fname, &r, err);
	if (rc)
		return rc;
	struct restore_ctx x = {.b = b, .fname = r->fname, .err = err};
	if (r->maxp != b->max_parallelism) {
		rc = cm_err_set(err, FL_EINVAL,
				"%s: written with max parallelism %d, the job has %d (key groups "
				"cannot be remapped)",
				r->fname, r->maxp, b->max_parallelism);
		goto out;
	}
	for (int i = 0; i < r->nstates; i++) {
		if ((rc = st_declare(b, r->states[i].name, r->states[i].flags, &x.map[i])) != 0) {
			cm_err_set(err, rc, "%s: state '%s': %s", r->fname, r->states[i].name,
				   st_backend_error(b));
			goto out;
		}
	}
	rc = st_snapfile_read(r, kg_first, kg_last, restore_one, &x, err);
out:
	st_snapfile_close(r);
	return rc;
}
