#include "common/sync.h"

#include <time.h>

#include <flinc/flinc.h>

int cm_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t attr;
	if (pthread_condattr_init(&attr) != 0)
		return FL_ENOMEM;
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(cv, &attr);
	pthread_condattr_destroy(&attr);
	return rc == 0 ? 0 : FL_ENOMEM;
}
