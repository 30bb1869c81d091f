/*
 * fuzz_state_file.c — libFuzzer target for the keyed-state snapshot file
 * reader (runtime/state/snapshot_file.h), which reads checkpoint and
 * savepoint files that may be corrupt, truncated or foreign.
 *
 * Properties, for every input:
 * Built with checksums ignored (FLINC_FUZZ_IGNORE_CRC, tests/fuzz/CMakeLists.txt),
 * so mutations reach the parser.
 *
 *   - st_snapfile_open and st_snapfile_read never read outside what they
 *     allocated and never crash; a refusal is FL_EPROTO (or FL_ENOMEM) with a
 *     message naming the file;
 *   - every entry passed on is sound: a declared state, a namespace only on
 *     a namespaced state, lengths in bounds, the key hashing to the key group
 *     it came in, key groups in order inside the file's range;
 *   - a file read whole passes on exactly the number of entries its trailer
 *     claims;
 *   - restored into a heap backend and written again, it reads back whole
 *     with the same entries (duplicates collapsed).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

#include "state/backend.h"
#include "state/snapshot_file.h"
#include "types/keygroup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "fuzz/chk-1/op-0"

static volatile uint8_t sink;

struct check {
	const st_snapfile *r;
	int first, last, prev;
	uint64_t n;
};

static int check_entry(void *arg, const st_entry *e)
{
	struct check *c = arg;
	unsigned flags = 0;
	if (!st_snapfile_state_name(c->r, e->state, &flags))
		__builtin_trap();
	if (e->nslen && !(flags & ST_STATE_NAMESPACED))
		__builtin_trap();
	if (e->klen + e->nslen > ST_KEY_MAX || e->vlen == 0 || e->vlen > ST_VALUE_MAX)
		__builtin_trap();
	if (e->key_group < c->first || e->key_group > c->last || e->key_group < c->prev)
		__builtin_trap();
	int maxp = st_snapfile_max_parallelism(c->r);
	if ((int)(kg_murmur3_32(e->key, e->klen, 0) % (uint32_t)maxp) != e->key_group)
		__builtin_trap();
	/* Touch every byte, so ASan sees a read out of bounds. */
	uint8_t x = 0;
	for (size_t i = 0; i < e->klen; i++)
		x ^= ((const uint8_t *)e->key)[i];
	for (size_t i = 0; i < e->nslen; i++)
		x ^= ((const uint8_t *)e->ns)[i];
	x ^= ((const uint8_t *)e->val)[0] ^ ((const uint8_t *)e->val)[e->vlen - 1];
	sink ^= x;
	c->prev = e->key_group;
	c->n++;
	return 0;
}

static void check_refusal(int rc, const cm_err *err)
{
	if (rc != FL_EPROTO && rc != FL_ENOMEM && rc != FL_EIO)
		__builtin_trap();
	if (rc == FL_EPROTO && !strstr(err->msg, NAME))
		__builtin_trap();
}

/* Restores the whole file into a heap backend, writes it again and reads
 * that back: the writer's output must always be accepted. */
static void round_trip(FILE *f, int maxp, int first, int last)
{
	st_backend_config cfg = {.max_parallelism = maxp};
	st_backend *b;
	cm_err err = {0};
	if (st_heap_backend_new(&cfg, &b, &err))
		return;
	if (st_snapfile_restore(b, f, NAME, first, last, &err) != 0) {
		st_backend_free(b); /* e.g. the same state name twice: refused */
		return;
	}
	st_stats st;
	st_stats_get(b, &st);
	st_cut *c;
	char *buf = NULL;
	size_t blen = 0;
	FILE *out = open_memstream(&buf, &blen);
	if (!out || st_cut_new(b, &c) != 0) {
		if (out)
			fclose(out);
		free(buf);
		st_backend_free(b);
		return;
	}
	uint64_t written = 0;
	int rc = st_snapfile_write(out, NAME, c, first, last, &written, &err);
	st_cut_free(c);
	fclose(out);
	if (rc == 0) {
		if (written != st.entries)
			__builtin_trap();
		FILE *in = fmemopen(buf, blen, "rb");
		st_snapfile *r;
		if (in && st_snapfile_open(in, NAME, &r, &err) == 0) {
			struct check chk = {.r = r, .first = first, .last = last, .prev = first};
			if (st_snapfile_read(r, 0, maxp - 1, check_entry, &chk, &err) != 0 ||
			    chk.n != written)
				__builtin_trap();
			st_snapfile_close(r);
		} else if (in) {
			__builtin_trap(); /* our own output refused */
		}
		if (in)
			fclose(in);
	}
	free(buf);
	st_backend_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	FILE *f = fmemopen((void *)data, size, "rb");
	if (!f)
		return 0;
	st_snapfile *r;
	cm_err err = {0};
	int rc = st_snapfile_open(f, NAME, &r, &err);
	if (rc) {
		check_refusal(rc, &err);
		fclose(f);
		return 0;
	}
	int first, last;
	st_snapfile_range(r, &first, &last);
	int maxp = st_snapfile_max_parallelism(r);
	struct check c = {.r = r, .first = first, .last = last, .prev = first};
	rc = st_snapfile_read(r, 0, maxp - 1, check_entry, &c, &err);
	if (rc)
		check_refusal(rc, &err);
	else if (c.n != st_snapfile_entries(r))
		__builtin_trap();
	st_snapfile_close(r);
	if (rc == 0)
		round_trip(f, maxp, first, last);
	fclose(f);
	return 0;
}
