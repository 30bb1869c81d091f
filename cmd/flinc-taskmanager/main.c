/*
 * flinc-taskmanager — the Taskmanager process. Its code is in libflinc.so
 * (runtime/taskmanager/process.c, reached through fl_program_main), so that a job
 * library it loads shares one runtime with it.
 */
#include <flinc/flinc.h>

int main(int argc, char **argv)
{
	return fl_program_main("flinc-taskmanager", argc, argv);
}
