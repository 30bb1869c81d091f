/* sync.h — pthread helpers used by every threaded module. */
#ifndef FLINC_COMMON_SYNC_H
#define FLINC_COMMON_SYNC_H

#include <pthread.h>

/* Initialises cv to use CLOCK_MONOTONIC (deadlines from cm_now_ms()).
 * Returns 0 or FL_ENOMEM. */
int cm_cond_init(pthread_cond_t *cv);

#endif
