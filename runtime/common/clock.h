/* clock.h — monotonic and wall clocks in milliseconds / nanoseconds. */
#ifndef FLINC_COMMON_CLOCK_H
#define FLINC_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t cm_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t cm_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t cm_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Fills a CLOCK_MONOTONIC timespec for pthread_cond_timedwait on a condvar
 * initialised with pthread_condattr_setclock(CLOCK_MONOTONIC). */
static inline struct timespec cm_deadline_ts(int64_t deadline_ms)
{
	struct timespec ts;
	ts.tv_sec = deadline_ms / 1000;
	ts.tv_nsec = (deadline_ms % 1000) * 1000000;
	return ts;
}

#endif
