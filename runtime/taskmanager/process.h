/*
 * process.h — the flinc-taskmanager process (see process.c).
 */
#ifndef FLINC_TASKMANAGER_PROCESS_H
#define FLINC_TASKMANAGER_PROCESS_H

/* Runs the process; returns its exit status. */
int tm_process_main(int argc, char **argv);

#endif
