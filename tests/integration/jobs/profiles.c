/*
 * profiles — a job whose slot sharing groups declare resources.
 *
 *   profiles.so [--count N] [--cpu CORES] [--heap MB] [--managed MB]
 *
 * A generator in slot sharing group "source" (no profile: default slots),
 * then a map (not chained) and a discard sink in group "heavy", which
 * declares CPU cores, task heap and managed memory (defaults 2.0, 512, 256
 * MiB); both at the job's parallelism. Without --count it runs until
 * cancelled (1000 records/s).
 */
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

int profiles_gen(fl_ctx *ctx, int64_t off, fl_row *out)
{
	return fl_row_add_int64(out, off);
}

int profiles_map(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	*out = *in;
	return 0;
}

int main(int argc, char **argv)
{
	long long n = -1;
	fl_resource_spec spec = {.cpu_cores = 2.0, .task_heap_mb = 512, .managed_mb = 256};
	for (int i = 1; i + 1 < argc; i++) {
		if (strcmp(argv[i], "--count") == 0)
			n = atoll(argv[i + 1]);
		else if (strcmp(argv[i], "--cpu") == 0)
			spec.cpu_cores = atof(argv[i + 1]);
		else if (strcmp(argv[i], "--heap") == 0)
			spec.task_heap_mb = atoll(argv[i + 1]);
		else if (strcmp(argv[i], "--managed") == 0)
			spec.managed_mb = atoll(argv[i + 1]);
	}
	fl_env *env = fl_env_new(argc, argv);
	fl_register_slot_sharing_group(env, "heavy", &spec);
	fl_stream *src = fl_slot_sharing_group(fl_generator(env, n, 1000, profiles_gen), "source");
	fl_stream *m = fl_slot_sharing_group(
	    fl_name(fl_map(fl_rebalance(src), profiles_map), "Heavy Map"), "heavy");
	fl_discard(m);
	int rc = fl_execute(env, "Profiles");
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
