/*
 * lease.h — leader election on a coordination.k8s.io/v1 Lease (client-go's
 * leaderelection, which Flink's KubernetesLeaderElector wraps).
 *
 * A candidate tries every retry period to take or renew the Lease: it reads
 * it and, when nobody holds it (no holder, or a record nobody renewed for
 * lease-duration as this candidate observed it), or it holds it itself,
 * writes itself in with a PUT conditional on the resourceVersion it read. A
 * write that loses a race is refused by the API server (409 Conflict), so
 * two candidates never both believe they won the same record. A leader that
 * could not renew for renew-deadline (shorter than lease-duration) gives up
 * leadership before anyone else may take it.
 *
 * Expiry is judged on this process's monotonic clock from the moment the
 * candidate saw the record change (as client-go does), not from the
 * renewTime another node wrote: clocks need not agree.
 *
 * Threads: k8s_lease_start runs one thread that owns its own client; the
 * callbacks run on it. k8s_lease_is_leader may be called from any thread.
 */
#ifndef FLINC_K8S_LEASE_H
#define FLINC_K8S_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "k8s/config.h"

/* The longest holder identity kept (a pod name is at most 253). */
#define K8S_LEASE_ID_MAX 320

typedef struct k8s_lease_opts {
	const char *ns;		   /* namespace of the Lease */
	const char *name;	   /* the Lease's name */
	const char *identity;	   /* this candidate (k8s_lease_identity) */
	const char *labels_app;	   /* NULL, or the app=<value> label on a Lease it creates */
	const char *owner_uid;	   /* NULL, or a Deployment's uid that owns a Lease it creates */
	const char *owner_name;	   /* that Deployment's name */
	int64_t lease_duration_ms; /* Flink's default 15 s */
	int64_t renew_deadline_ms; /* 10 s; below lease_duration_ms */
	int64_t retry_period_ms;   /* 5 s; below renew_deadline_ms */
	/* Called on the lease thread when this candidate becomes leader, and
	 * when it stops being one (renew deadline passed, or stopped). */
	void (*on_grant)(void *arg);
	void (*on_revoke)(void *arg);
	void *arg;
} k8s_lease_opts;

typedef struct k8s_lease k8s_lease;

/*
 * k8s_lease_identity writes "<pod>-<16 random hex>" into buf: pod from
 * $POD_NAME, else the host name. Returns 0, or FL_ERANGE/FL_EIO.
 */
int k8s_lease_identity(char *buf, size_t cap);

/*
 * Checks o (durations ordered retry < renew deadline < lease duration, all
 * positive; names set and short enough). Returns 0 or FL_EINVAL naming
 * what is wrong (with Flink's key names).
 */
int k8s_lease_opts_check(const k8s_lease_opts *o, cm_err *err);

/*
 * Starts a candidate (its thread, its own client made from cfg, which may be
 * freed after). The strings of o are copied. Errors: FL_EINVAL (options),
 * FL_ENOMEM, FL_EIO (libcurl). On error *out is NULL.
 */
int k8s_lease_start(k8s_lease **out, const k8s_config *cfg, const k8s_lease_opts *o, cm_err *err);

/* Whether this candidate leads now: it won or renewed the Lease less than
 * renew-deadline ago. */
bool k8s_lease_is_leader(k8s_lease *l);

/* Blocks until this candidate leads (true) or for at most wait_ms
 * (false); wait_ms < 0 waits until stopped. */
bool k8s_lease_await(k8s_lease *l, int64_t wait_ms);

/* The identity this candidate writes into the Lease. */
const char *k8s_lease_id(const k8s_lease *l);

/*
 * Stops the candidate: when it leads and release is true, it first writes
 * the Lease free (no holder, conditional on its resourceVersion), so that
 * another candidate takes over at once instead of after lease-duration.
 * on_revoke runs if it led. Then frees (NULL: nothing).
 */
void k8s_lease_free(k8s_lease *l, bool release);

/* -------------------------------------------- the pure parts, for tests */

/* What a candidate does with the record it read. */
enum k8s_lease_step {
	K8S_LEASE_TAKE,	 /* free or expired: take it (a transition) */
	K8S_LEASE_RENEW, /* held by this candidate: renew */
	K8S_LEASE_WAIT,	 /* held by another, not expired */
};

/*
 * holder: the record's holderIdentity (NULL or "" when free); observed_ms:
 * when this candidate saw the record last change (monotonic); duration_ms:
 * the record's leaseDurationSeconds in ms (<= 0: use default_ms).
 */
enum k8s_lease_step k8s_lease_decide(const char *holder, const char *me, int64_t observed_ms,
				     int64_t duration_ms, int64_t default_ms, int64_t now_ms);

/* A MicroTime ("2026-11-30T10:20:04.123456Z") for wall clock ms into buf
 * (at least 32 bytes). */
void k8s_micro_time(int64_t wall_ms, char *buf, size_t cap);

#endif
