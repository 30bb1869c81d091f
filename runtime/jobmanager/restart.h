/*
 * restart.h — restart strategies (Flink's RestartBackoffTimeStrategy): after
 * a job fails, whether it restarts and after how long, from
 * restart-strategy.type and its keys.
 *
 *   none               never (the default without checkpoints, as in Flink)
 *   fixed-delay        up to .attempts restarts, .delay apart
 *   exponential-delay  .initial-backoff, times .backoff-multiplier after each
 *                      failure up to .max-backoff, varied by .jitter-factor;
 *                      a job that ran .reset-backoff-threshold without
 *                      failing starts again from the initial backoff; at most
 *                      .attempts-before-reset-backoff restarts between resets
 *   failure-rate       fails once more than .max-failures-per-interval
 *                      failures fall within .failure-rate-interval; .delay
 *                      between restarts
 *
 * Not thread-safe: one per job, used by the thread that runs the job.
 */
#ifndef FLINC_JOBMANAGER_RESTART_H
#define FLINC_JOBMANAGER_RESTART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

enum rs_type { RS_NONE, RS_FIXED, RS_EXPONENTIAL, RS_FAILURE_RATE };

typedef struct rs_policy {
	enum rs_type type;
	int64_t attempts, delay_ms;			    /* fixed-delay */
	int64_t initial_ms, max_ms, reset_ms, exp_attempts; /* exponential-delay */
	double multiplier, jitter;
	int64_t rate_max, rate_interval_ms, rate_delay_ms; /* failure-rate */
	/* State. */
	int64_t restarts; /* fixed: all; exponential: since the last reset */
	int64_t last_delay_ms;
	int64_t last_failure_ms;
	int64_t *failures; /* failure-rate: the last rate_max failure times, a ring */
	size_t nfailures, next;
} rs_policy;

/* Reads the strategy from c. Returns 0 or FL_ENOMEM. */
int rs_init(rs_policy *p, const cfg *c);
void rs_fini(rs_policy *p);

/*
 * A failure at now_ms: returns true with *delay_ms when the job restarts,
 * false when it fails for good, with why naming the strategy and its limit
 * (Flink's "Recovery is suppressed by ..."). random01 is a number in
 * [0, 1) for the jitter.
 */
bool rs_next(rs_policy *p, int64_t now_ms, double random01, int64_t *delay_ms, char *why,
	     size_t cap);

/* The strategy as Flink's /jobs/:id/config names it. */
void rs_describe(const rs_policy *p, char *buf, size_t cap);

#endif
