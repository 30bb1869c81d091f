/*
 * restart.c — restart strategies: see restart.h.
 */
#include "jobmanager/restart.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rs_init(rs_policy *p, const cfg *c)
{
	memset(p, 0, sizeof(*p));
	/* Flink's default: none, unless the job checkpoints periodically;
	 * then exponential-delay (a job with state is expected to recover). */
	const char *type = "none";
	int64_t interval = 0;
	if (cfg_is_set(c, CFG_RESTART_TYPE))
		cfg_get_string(c, CFG_RESTART_TYPE, &type);
	else if (cfg_get_duration_ms(c, CFG_CKP_INTERVAL, &interval) == 0 && interval > 0)
		type = "exponential-delay";
	if (strcmp(type, "fixed-delay") == 0 || strcmp(type, "fixeddelay") == 0)
		p->type = RS_FIXED;
	else if (strcmp(type, "exponential-delay") == 0 || strcmp(type, "exponentialdelay") == 0)
		p->type = RS_EXPONENTIAL;
	else if (strcmp(type, "failure-rate") == 0 || strcmp(type, "failurerate") == 0)
		p->type = RS_FAILURE_RATE;
	else
		p->type = RS_NONE;
	p->attempts = 1;
	p->delay_ms = 1000;
	p->initial_ms = 1000;
	p->max_ms = 60000;
	p->reset_ms = 3600000;
	p->exp_attempts = INT32_MAX;
	p->multiplier = 1.5;
	p->jitter = 0.1;
	p->rate_max = 1;
	p->rate_interval_ms = 60000;
	p->rate_delay_ms = 1000;
	cfg_get_int(c, CFG_RESTART_FIXED_ATTEMPTS, &p->attempts);
	cfg_get_duration_ms(c, CFG_RESTART_FIXED_DELAY, &p->delay_ms);
	cfg_get_duration_ms(c, CFG_RESTART_EXP_INITIAL, &p->initial_ms);
	cfg_get_duration_ms(c, CFG_RESTART_EXP_MAX, &p->max_ms);
	cfg_get_duration_ms(c, CFG_RESTART_EXP_RESET, &p->reset_ms);
	cfg_get_int(c, CFG_RESTART_EXP_ATTEMPTS, &p->exp_attempts);
	cfg_get_double(c, CFG_RESTART_EXP_MULTIPLIER, &p->multiplier);
	cfg_get_double(c, CFG_RESTART_EXP_JITTER, &p->jitter);
	cfg_get_int(c, CFG_RESTART_RATE_MAX, &p->rate_max);
	cfg_get_duration_ms(c, CFG_RESTART_RATE_INTERVAL, &p->rate_interval_ms);
	cfg_get_duration_ms(c, CFG_RESTART_RATE_DELAY, &p->rate_delay_ms);
	if (p->max_ms < p->initial_ms)
		p->max_ms = p->initial_ms;
	if (p->type == RS_FAILURE_RATE) {
		/* The ring holds the last rate_max failures; a huge rate_max
		 * grows it as failures come, never up front. */
		p->failures = NULL;
	}
	return 0;
}

void rs_fini(rs_policy *p)
{
	free(p->failures);
	p->failures = NULL;
}

void rs_describe(const rs_policy *p, char *buf, size_t cap)
{
	switch (p->type) {
	case RS_FIXED:
		snprintf(buf, cap, "Restart with fixed delay (%lld ms). #%lld restart attempts.",
			 (long long)p->delay_ms, (long long)p->attempts);
		break;
	case RS_EXPONENTIAL:
		snprintf(buf, cap,
			 "Restart with exponential delay: initial %lld ms, max %lld ms, multiplier "
			 "%g, reset after %lld ms, jitter %g, %lld attempts before a reset.",
			 (long long)p->initial_ms, (long long)p->max_ms, p->multiplier,
			 (long long)p->reset_ms, p->jitter, (long long)p->exp_attempts);
		break;
	case RS_FAILURE_RATE:
		snprintf(
		    buf, cap,
		    "Failure rate restart with maximum of %lld failures within interval %lld ms "
		    "and fixed delay %lld ms.",
		    (long long)p->rate_max, (long long)p->rate_interval_ms,
		    (long long)p->rate_delay_ms);
		break;
	default:
		snprintf(buf, cap, "Restart deactivated.");
	}
}

/* failure-rate: true if a failure now keeps within the rate. */
static bool rate_allows(rs_policy *p, int64_t now)
{
	size_t cap = p->rate_max > 4096 ? 4096 : (size_t)p->rate_max;
	if (!p->failures) {
		p->failures = calloc(cap, sizeof(int64_t));
		if (!p->failures)
			return false;
	}
	bool ok = true;
	if (p->nfailures == cap) {
		/* The oldest of the last cap failures, where the next one goes. */
		int64_t earliest = p->failures[p->next];
		ok = now - earliest > p->rate_interval_ms;
	}
	p->failures[p->next] = now;
	p->next = (p->next + 1) % cap;
	if (p->nfailures < cap)
		p->nfailures++;
	return ok;
}

bool rs_next(rs_policy *p, int64_t now_ms, double random01, int64_t *delay_ms, char *why,
	     size_t cap)
{
	*delay_ms = 0;
	char desc[300];
	rs_describe(p, desc, sizeof(desc));
	bool ok = false;
	switch (p->type) {
	case RS_NONE:
		break;
	case RS_FIXED:
		ok = p->restarts < p->attempts;
		*delay_ms = p->delay_ms;
		break;
	case RS_EXPONENTIAL: {
		if (p->last_failure_ms && now_ms - p->last_failure_ms >= p->reset_ms) {
			p->restarts = 0;
			p->last_delay_ms = 0;
		}
		ok = p->restarts < p->exp_attempts;
		double d = p->last_delay_ms ? (double)p->last_delay_ms * p->multiplier
					    : (double)p->initial_ms;
		if (d > (double)p->max_ms)
			d = (double)p->max_ms;
		p->last_delay_ms = (int64_t)d;
		/* Jitter around the backoff, within [initial, max]. */
		double j = d * p->jitter * (2.0 * random01 - 1.0);
		double dj = d + j;
		if (dj < (double)p->initial_ms)
			dj = (double)p->initial_ms;
		if (dj > (double)p->max_ms)
			dj = (double)p->max_ms;
		*delay_ms = (int64_t)llround(dj);
		break;
	}
	case RS_FAILURE_RATE:
		ok = rate_allows(p, now_ms);
		*delay_ms = p->rate_delay_ms;
		break;
	}
	p->last_failure_ms = now_ms;
	if (ok)
		p->restarts++;
	else
		snprintf(why, cap, "Recovery is suppressed by %s", desc);
	return ok;
}
