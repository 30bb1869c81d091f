/* no_main — a job .so without main(): the CLI must say so. */
#include <flinc/flinc.h>

int no_main_gen(fl_ctx *ctx, int64_t offset, fl_row *out)
{
	return fl_row_add_int64(out, offset);
}
