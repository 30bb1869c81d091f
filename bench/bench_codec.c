/*
 * bench_codec: encode/decode throughput of typical rows, the way a network
 * buffer is filled and drained (rows back to back in a 32 KiB buffer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "types/codec.h"

#define BUF_SIZE (32 * 1024)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *const words[] = {"the",  "quick", "brown", "fox",	   "jumps",
				    "over", "lazy",  "dog",   "streaming", "checkpoint"};

static void make_row(int kind, long i, fl_row *r)
{
	fl_row_clear(r);
	switch (kind) {
	case 0: /* (int64, int64): a keyed sum */
		fl_row_add_int64(r, i % 1000);
		fl_row_add_int64(r, i);
		break;
	case 1: { /* (string, int64): WordCount */
		const char *w = words[i % 10];
		fl_row_add_string(r, w, strlen(w));
		fl_row_add_int64(r, 1 + i % 50);
		break;
	}
	default: /* a wider event */
		fl_row_add_int64(r, i * 7919);
		fl_row_add_timestamp(r, 1700000000000 + i);
		fl_row_add_double(r, (double)i * 0.5);
		fl_row_add_string(r, words[i % 10], strlen(words[i % 10]));
		fl_row_add_bool(r, i & 1);
		break;
	}
}

static void bench(int kind, const char *name, long n)
{
	static uint8_t buf[BUF_SIZE];
	enum { NROWS = 1024 };
	fl_row rows[NROWS];
	for (int i = 0; i < NROWS; i++)
		make_row(kind, i, &rows[i]);

	/* encode: fill the buffer, start over when full */
	size_t pos = 0, sink = 0;
	double t0 = now();
	for (long i = 0; i < n; i++) {
		size_t w = row_encode(&rows[i & (NROWS - 1)], buf + pos, BUF_SIZE - pos);
		if (w == 0) {
			sink += pos;
			pos = 0;
			w = row_encode(&rows[i & (NROWS - 1)], buf, BUF_SIZE);
		}
		pos += w;
	}
	double te = now() - t0;

	/* decode: a full buffer of rows, drained again and again */
	size_t filled = 0;
	long per_buf = 0;
	for (long i = 0;; i++) {
		size_t w = row_encode(&rows[i & (NROWS - 1)], buf + filled, BUF_SIZE - filled);
		if (w == 0)
			break;
		filled += w;
		per_buf++;
	}
	long decoded = 0;
	int64_t acc = 0;
	t0 = now();
	while (decoded < n) {
		size_t off = 0;
		while (off < filled) {
			fl_row r;
			size_t used;
			if (row_decode(buf + off, filled - off, &r, &used) != 0) {
				fprintf(stderr, "decode failed\n");
				exit(1);
			}
			acc += r.values[1].u.i;
			off += used;
		}
		decoded += per_buf;
	}
	double td = now() - t0;
	printf("%-16s %5.1f B/row  encode %7.1f M rows/s %6.2f ns/row   decode %7.1f M rows/s "
	       "%6.2f ns/row   (%zu %lld)\n",
	       name, (double)filled / (double)per_buf, (double)n / te / 1e6, te * 1e9 / (double)n,
	       (double)decoded / td / 1e6, td * 1e9 / (double)decoded, sink & 1,
	       (long long)(acc & 1));
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 50000000;
	bench(0, "(int64,int64)", n);
	bench(1, "(string,int64)", n);
	bench(2, "5-field event", n / 2);
	return 0;
}
