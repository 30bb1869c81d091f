/*
 * fuzz_row.c — libFuzzer target for the row codec's decoder
 * (runtime/types/codec.h), which reads records from peers and checkpoint
 * files.
 *
 * Properties, for every input:
 *   - row_decode never reads outside the input and never crashes;
 *   - a row it accepts re-encodes to exactly the bytes it consumed (the
 *     encoding is canonical), in a buffer of exactly that size, and
 *     row_encode refuses a buffer one byte short without writing past it;
 *   - row_copy of the row reproduces the same bytes;
 *   - fl_row_format of the row works into no buffer, a small one and a large
 *     one, always reports the same length and always terminates the text.
 * The input is decoded as a sequence of rows, as records follow one another
 * in a buffer, until one is refused.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

#include "types/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SMALL_FORMAT 8
#define LARGE_FORMAT 65536

static void check_format(const fl_row *r)
{
	static char large[LARGE_FORMAT];
	size_t need = fl_row_format(r, NULL, 0);

	char *small = malloc(SMALL_FORMAT); /* on the heap: ASan sees overflows */
	if (!small)
		return;
	size_t n = fl_row_format(r, small, SMALL_FORMAT);
	if (n != need || small[n < SMALL_FORMAT - 1 ? n : SMALL_FORMAT - 1] != '\0')
		__builtin_trap();
	free(small);

	n = fl_row_format(r, large, sizeof(large));
	if (n != need || large[n < sizeof(large) - 1 ? n : sizeof(large) - 1] != '\0')
		__builtin_trap();
}

static void check_row(const fl_row *r, const uint8_t *in, size_t used)
{
	if (used == 0 || row_encoded_bound(r) < used)
		__builtin_trap();

	/* Exactly sized, so that a write past `used` is a heap overflow. */
	uint8_t *out = malloc(used);
	if (!out)
		return;
	if (row_encode(r, out, used) != used || memcmp(out, in, used) != 0)
		__builtin_trap();
	if (row_encode(r, out, used - 1) != 0)
		__builtin_trap();
	free(out);

	uint8_t *cbuf = NULL;
	size_t ccap = 0;
	fl_row copy;
	int rc = row_copy(r, &cbuf, &ccap, &copy);
	if (rc == FL_ENOMEM) {
		free(cbuf);
		return;
	}
	if (rc != 0 || ccap < used || memcmp(cbuf, in, used) != 0 || copy.nfields != r->nfields)
		__builtin_trap();
	free(cbuf);

	check_format(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	while (off < size) {
		fl_row r;
		size_t used = 0;
		int rc = row_decode(data + off, size - off, &r, &used);
		if (rc != 0) {
			if (rc != FL_EPROTO)
				__builtin_trap();
			break;
		}
		if (used > size - off)
			__builtin_trap();
		check_row(&r, data + off, used);
		off += used;
	}
	return 0;
}
