/* sync.h — pthread helpers used by every threaded module. */
#ifndef FL_COMMON_SYNC_H
#define FL_COMMON_SYNC_H

#include <pthread.h>

/* Initialises cv to use CLOCK_MONOTONIC (deadlines from fl_now_ms()).
 * Returns 0 or FL_ENOMEM. */
int fl_cond_init(pthread_cond_t *cv);

#endif
