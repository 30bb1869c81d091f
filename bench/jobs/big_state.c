/*
 * big_state.c — keyed state of a given size for bench/checkpoint_dip.sh: a
 * generator of (offset % KEYS, a 100-byte payload) rows, key_by field 0,
 * reduce keeping the latest row (about 120 bytes of state per key), discard.
 * KEYS is 1 M, 4 M or 8 M (about 0.15, 0.6 or 1.2 GB of state): functions run
 * in TaskManagers, where main() never ran, so each size is its own
 * generator.
 *
 *   flinc run -m HOST:PORT big_state.so [1m|4m|8m] [RECORDS [RATE]]
 *   (default 4m, no end, flat out; RATE: records/s, the generator's pacing)
 */
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

static const char payload[101] = "0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRST"
				 "UVWXYZ0123456789abcdefghijklmnopq";

static int gen(fl_row *out, int64_t off, int64_t keys)
{
	out->nfields = 2;
	out->types[0] = FL_INT64;
	out->values[0].u.i = off % keys;
	out->types[1] = FL_STRING;
	out->values[1].u.s.ptr = payload;
	out->values[1].u.s.len = 100;
	return 0;
}

int big_state_1m(fl_ctx *ctx, int64_t off, fl_row *out)
{
	return gen(out, off, 1 << 20);
}

int big_state_4m(fl_ctx *ctx, int64_t off, fl_row *out)
{
	return gen(out, off, 4 << 20);
}

int big_state_8m(fl_ctx *ctx, int64_t off, fl_row *out)
{
	return gen(out, off, 8 << 20);
}

/* Keeps the newest row: the state is the last payload per key. */
int big_state_latest(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out)
{
	*out = *in;
	return 0;
}

int main(int argc, char **argv)
{
	fl_env *env = fl_env_new(argc, argv);
	const char *size = argc > 1 ? argv[1] : "4m";
	int64_t n = argc > 2 ? atoll(argv[2]) : -1;
	double rate = argc > 3 ? atof(argv[3]) : 0;
	fl_generator_fn fn = strcmp(size, "1m") == 0   ? big_state_1m
			     : strcmp(size, "8m") == 0 ? big_state_8m
						       : big_state_4m;
	fl_stream *s = fl_uid(fl_generator(env, n > 0 ? n : -1, rate > 0 ? rate : 0, fn), "gen");
	fl_discard(fl_uid(fl_reduce(fl_key_by(s, 0), big_state_latest), "latest"));
	int rc = fl_execute(env, "BigState");
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
