/*
 * paced_sum — a job slow enough to be interrupted, with an exact result.
 *
 *   paced_sum.so --count N --rate R --output DIR
 *
 * A generator of N offsets at R records per second in total, as rows
 * (offset % 10, offset), key_by field 0, sum field 1, written as text to
 * DIR in BATCH mode: ten lines "k<TAB>sum of the offsets congruent to k".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

int paced_sum_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	fl_row_add_int64(out, off % 10);
	return fl_row_add_int64(out, off);
}

int main(int argc, char **argv)
{
	long long n = 1000;
	double rate = 100;
	const char *output = NULL;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--count") == 0)
			n = atoll(argv[i + 1]);
		else if (strcmp(argv[i], "--rate") == 0)
			rate = atof(argv[i + 1]);
		else if (strcmp(argv[i], "--output") == 0)
			output = argv[i + 1];
	}
	if (!output) {
		fprintf(stderr, "usage: paced_sum.so --count N --rate R --output DIR\n");
		return 2;
	}
	fl_env *env = fl_env_new(argc, argv);
	fl_env_set_config(env, "execution.runtime-mode", "BATCH");
	fl_write_text(fl_sum(fl_key_by(fl_generator(env, n, rate, paced_sum_gen), 0), 1), output);
	int rc = fl_execute(env, "PacedSum");
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
