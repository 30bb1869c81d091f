/* static_fn — uses a `static` map function, which the runtime cannot name
 * for shipping to TaskManagers: an error when the graph is built. */
#include <flinc/flinc.h>

int static_fn_gen(fl_ctx *ctx, int64_t offset, fl_row *out)
{
	return fl_row_add_int64(out, offset);
}

static int hidden_map(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	*out = *in;
	return 0;
}

int main(int argc, char **argv)
{
	fl_env *env = fl_env_new(argc, argv);
	if (!env)
		return 1;
	fl_print(fl_map(fl_generator(env, 10, 0, static_fn_gen), hidden_map));
	int rc = fl_execute(env, "StaticFn");
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
