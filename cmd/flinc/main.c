/*
 * flinc — the command-line client (Flink's `bin/flink`). The client itself
 * is runtime/client/cli.c, inside libflinc.so, so that the job it loads and
 * the client share one runtime.
 */
#include <flinc/flinc.h>

int main(int argc, char **argv)
{
	return fl_program_main("flinc", argc, argv);
}
