/*
 * process.h — the flinc-jobmanager process (see process.c).
 */
#ifndef FLINC_JOBMANAGER_PROCESS_H
#define FLINC_JOBMANAGER_PROCESS_H

/* Runs the process; returns its exit status. */
int jm_process_main(int argc, char **argv);

#endif
