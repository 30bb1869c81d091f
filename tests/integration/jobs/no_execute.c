/* no_execute — main() builds a dataflow but never calls fl_execute(). */
#include <flinc/flinc.h>

int no_execute_gen(fl_ctx *ctx, int64_t offset, fl_row *out)
{
	return fl_row_add_int64(out, offset);
}

int main(int argc, char **argv)
{
	fl_env *env = fl_env_new(argc, argv);
	if (!env)
		return 1;
	fl_print(fl_generator(env, 10, 0, no_execute_gen));
	fl_env_free(env);
	return 0;
}
