#include "jobmanager/minicluster.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint/coordinator.h"
#include "checkpoint/restore.h"
#include "common/auth.h"
#include "common/clock.h"
#include "common/log.h"
#include "jobmanager/restart.h"
#include "rpc/nng.h"
#include "taskmanager/taskmanager.h"

/* The secret from security.internal.token(-file), or a random one. */
static int mc_secret(const cfg *c, cm_secret *s, cm_err *err)
{
	const char *token = NULL, *file = NULL;
	cfg_get_string(c, CFG_TOKEN, &token);
	cfg_get_string(c, CFG_TOKEN_FILE, &file);
	if (token && *token)
		return cm_secret_from_string(s, token, err);
	if (file && *file)
		return cm_secret_from_file(s, file, err);
	unsigned char key[32];
	int rc = cm_random(key, sizeof(key));
	if (rc)
		return cm_err_set(err, rc, "cannot make the local cluster's secret: no randomness");
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	rc = cm_secret_from_string(s, hex, err);
	memset(hex, 0, sizeof(hex));
	memset(key, 0, sizeof(key));
	return rc;
}

/* In NNG mode the JobMaster's RPC server exists before the JobMaster (its
 * address goes into the JobMaster's parameters): it serves this router,
 * which forwards to the JobMaster of the attempt running, if any. A
 * forward holds the lock's read side (the JobMaster's calls only post to
 * its loop), so that an attempt's JobMaster is freed only once no server
 * thread can be calling it. */
struct router {
	rpc_jm_gateway base;
	pthread_rwlock_t lock;
	rpc_jm_gateway *target; /* lock */
};

static void router_set(struct router *r, rpc_jm_gateway *target)
{
	pthread_rwlock_wrlock(&r->lock);
	r->target = target;
	pthread_rwlock_unlock(&r->lock);
}

static void router_task_state(rpc_jm_gateway *g, const char *resource_id, const char *job_id,
			      uint64_t attempt, int vertex, int subtask, int state,
			      const char *error, rpc_done_fn done, void *arg)
{
	struct router *r = (struct router *)g;
	pthread_rwlock_rdlock(&r->lock);
	rpc_jm_gateway *t = r->target;
	if (t)
		t->ops->task_state(t, resource_id, job_id, attempt, vertex, subtask, state, error,
				   done, arg);
	pthread_rwlock_unlock(&r->lock);
	if (!t && done)
		done(arg, FL_ECLOSED, "no JobMaster now", NULL, 0);
}

static void router_ack_checkpoint(rpc_jm_gateway *g, const char *resource_id, const char *job_id,
				  uint64_t attempt, int vertex, int subtask, uint64_t id,
				  const uint8_t *states, size_t len, const char *decline,
				  rpc_done_fn done, void *arg)
{
	struct router *r = (struct router *)g;
	pthread_rwlock_rdlock(&r->lock);
	rpc_jm_gateway *t = r->target;
	if (t)
		t->ops->ack_checkpoint(t, resource_id, job_id, attempt, vertex, subtask, id, states,
				       len, decline, done, arg);
	pthread_rwlock_unlock(&r->lock);
	if (!t && done)
		done(arg, FL_ECLOSED, "no JobMaster now", NULL, 0);
}

static void router_free(rpc_jm_gateway *g)
{
	(void)g;
}

static const struct rpc_jm_gateway_ops router_ops = {
    .task_state = router_task_state, .ack_checkpoint = router_ack_checkpoint, .free = router_free};

int mc_execute(const sg_graph *sg, const char *job_name, const cfg *c,
	       const jm_listener *listener, jm_result *res)
{
	memset(res, 0, sizeof(*res));
	cm_err err = {0};
	jg_graph *jg = NULL;
	int rc = jg_build(sg, job_name, &jg, &err);
	if (rc) {
		snprintf(res->error, sizeof(res->error), "%s", err.msg);
		res->status = rc;
		return rc;
	}
	int64_t ntm = 1, slots = 1;
	cfg_get_int(c, CFG_LOCAL_TMS, &ntm);
	cfg_get_int(c, CFG_TM_SLOTS, &slots);
	/* As Flink's local environment: enough slots for the job. */
	int64_t fit = (jg->slots_needed + ntm - 1) / ntm;
	if (slots < fit)
		slots = fit;
	const char *host = NULL;
	if (cfg_get_string(c, CFG_TM_HOST, &host) != 0 || !host || !*host)
		host = "127.0.0.1";
	const char *bind = NULL;
	if (cfg_get_string(c, CFG_TM_BIND_HOST, &bind) != 0 || !bind || !*bind)
		bind = host;
	/* The cluster's shared secret: configured, or one made for this local
	 * cluster, so that even on loopback only its own TaskManagers can open
	 * each other's channels. */
	cm_secret secret = {0};
	if ((rc = mc_secret(c, &secret, &err)) != 0) {
		snprintf(res->error, sizeof(res->error), "%s", err.msg);
		res->status = rc;
		jg_free(jg);
		return rc;
	}
	char cluster_id[40];
	unsigned char r[8] = {0};
	cm_random(r, sizeof(r));
	snprintf(cluster_id, sizeof(cluster_id), "local-%02x%02x%02x%02x%02x%02x%02x%02x", r[0],
		 r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
	CM_INFO("minicluster", "Starting local cluster: %lld TaskManager(s) with %lld slot(s) each",
		(long long)ntm, (long long)slots);
	/* Flink's local execution leaves CPU and memory unbounded; so does
	 * this one: profiles are placed as slots like any other. */
	for (size_t g = 0; g < jg->ngroups; g++)
		if (!cm_resource_is_unknown(&jg->groups[g].res))
			CM_INFO("minicluster",
				"Slot sharing group '%s' declares resources; the local cluster "
				"does not enforce resource profiles",
				jg->groups[g].name);
	/* NNG: the JobMaster reaches the TaskManagers, and they it, over
	 * authenticated request/reply sockets on loopback, exactly as separate
	 * processes do; DIRECT: through their in-process gateways. */
	const char *transport = "DIRECT";
	cfg_get_string(c, CFG_LOCAL_RPC, &transport);
	bool nng = strcmp(transport, "NNG") == 0;
	char url[300];
	snprintf(url, sizeof(url), "tcp://%s:0", bind);
	struct router router = {.base.ops = &router_ops};
	if (pthread_rwlock_init(&router.lock, NULL) != 0) {
		jg_free(jg);
		cm_secret_clear(&secret);
		snprintf(res->error, sizeof(res->error), "out of memory");
		res->status = FL_ENOMEM;
		return FL_ENOMEM;
	}
	tm_taskmanager **tms = calloc((size_t)ntm, sizeof(*tms));
	rpc_tm_gateway **gws = calloc((size_t)ntm, sizeof(*gws));
	rpc_server **servers = calloc((size_t)ntm, sizeof(*servers));
	rpc_server *jm_server = NULL;
	jm_jobmaster *jm = NULL;
	cp_coordinator *cp = NULL;
	if (!tms || !gws || !servers) {
		rc = FL_ENOMEM;
		snprintf(res->error, sizeof(res->error), "out of memory");
		goto out;
	}
	for (int64_t i = 0; i < ntm; i++) {
		tm_options o = {.index = (int)i,
				.slots = (int)slots,
				.bind_host = bind,
				.host = host,
				.port = 0,
				.cluster_id = cluster_id,
				.secret = &secret,
				.config = c};
		if ((rc = tm_new(&tms[i], &o, &err)) != 0) {
			snprintf(res->error, sizeof(res->error), "cannot start TaskManager %lld: %.440s",
				 (long long)i, err.msg);
			goto out;
		}
		gws[i] = tm_gateway(tms[i]);
		if (!nng)
			continue;
		if ((rc = rpc_server_new(&servers[i], url, tm_gateway(tms[i]), NULL, NULL,
					  tm_resource_id(tms[i]), &secret, cluster_id,
					 &err)) != 0 ||
		    (rc = rpc_tm_gateway_nng(&gws[i], rpc_server_address(servers[i]), &secret,
					     cluster_id, 60000, &err)) != 0) {
			gws[i] = NULL;
			snprintf(res->error, sizeof(res->error), "%s", err.msg);
			goto out;
		}
	}
	if (nng && (rc = rpc_server_new(&jm_server, url, NULL, &router.base, NULL, NULL, &secret, cluster_id,
					&err)) != 0) {
		snprintf(res->error, sizeof(res->error), "%s", err.msg);
		goto out;
	}
	/* Streaming jobs checkpoint here as on a cluster (batch jobs never). */
	char job_id[33];
	jm_new_job_id(job_id);
	cp_config cc;
	if ((rc = cp_config_read(c, &cc, &err)) != 0 ||
	    (sg->mode != FL_MODE_BATCH && (rc = cp_new(&cc, job_id, 0, &cp)) != 0) ||
	    (rc = cp_restore_start(cp, c, jg, &err)) != 0) {
		snprintf(res->error, sizeof(res->error), "%s",
			 rc == FL_ENOMEM ? "out of memory" : err.msg);
		goto out;
	}
	jm_params jp = {.jg = jg,
			.tms = gws,
			.ntms = (size_t)ntm,
			.config = c,
			.listener = listener,
			.address = jm_server ? rpc_server_address(jm_server) : NULL,
			.job_id = job_id,
			.cp = cp};
	/* Attempts as a cluster's dispatcher runs them (Flink's MiniCluster
	 * restarts a job too): a failed one restarts after the restart
	 * strategy's delay from the latest completed checkpoint, on the same
	 * TaskManagers, until the strategy gives up. */
	rs_policy pol;
	rs_init(&pol, c);
	cm_cancel *cancel = listener ? listener->cancel : NULL;
	int64_t t0 = cm_now_ms(), restarts = 0;
	for (;;) {
		if ((rc = jm_new(&jm, &jp, &err)) != 0) {
			snprintf(res->job_id, sizeof(res->job_id), "%s", job_id);
			snprintf(res->error, sizeof(res->error), "%s", err.msg);
			break;
		}
		router_set(&router, jm_gateway(jm));
		jm_wait(jm, res);
		bool cancelled = res->status == FL_ECANCELED || (cancel && cm_cancel_requested(cancel));
		int64_t delay = 0;
		char why[400] = "";
		unsigned char rb = 0;
		cm_random(&rb, 1);
		if (res->status == 0 || cancelled ||
		    !rs_next(&pol, cm_now_ms(), rb / 256.0, &delay, why, sizeof(why))) {
			if (res->status && !cancelled && pol.type != RS_NONE)
				CM_ERROR("minicluster", "Job '%s' (%s) is not restarted: %s", job_name,
					 job_id, why);
			break;
		}
		CM_WARN("minicluster",
			"Job '%s' (%s) switched from state FAILING to RESTARTING: restart %lld in "
			"%lld ms after: %s",
			job_name, job_id, (long long)++restarts, (long long)delay, res->error);
		router_set(&router, NULL);
		jm_free(jm);
		jm = NULL;
		/* The delay, cut short by a cancellation. */
		int64_t until = cm_now_ms() + delay;
		while (cm_now_ms() < until && !(cancel && cm_cancel_requested(cancel))) {
			struct timespec ts = {0, 10 * 1000000L};
			nanosleep(&ts, NULL);
		}
		if (cancel && cm_cancel_requested(cancel)) {
			memset(res, 0, sizeof(*res));
			snprintf(res->job_id, sizeof(res->job_id), "%s", job_id);
			res->status = FL_ECANCELED;
			snprintf(res->error, sizeof(res->error), "the job was cancelled while restarting");
			break;
		}
		memset(res, 0, sizeof(*res));
	}
	if (res->status == 0 && restarts > 0)
		res->runtime_ms = cm_now_ms() - t0; /* every attempt's, as Flink's */
	rs_fini(&pol);
out:
	/* Clients first (no call of the JobMaster's is in flight after
	 * jm_wait), then the servers, then what they served. */
	for (int64_t i = 0; nng && gws && i < ntm; i++)
		if (gws[i])
			gws[i]->ops->free(gws[i]);
	router_set(&router, NULL);
	rpc_server_free(jm_server);
	jm_free(jm);
	for (int64_t i = 0; servers && i < ntm; i++)
		rpc_server_free(servers[i]);
	if (tms)
		for (int64_t i = 0; i < ntm; i++)
			tm_free(tms[i]);
	free(tms);
	free(gws);
	free(servers);
	jg_free(jg);
	if (cp)
		cp_job_ended(cp, res->status == FL_ECANCELED, res->status == 0);
	cp_free(cp);
	cm_secret_clear(&secret);
	pthread_rwlock_destroy(&router.lock);
	if (rc && !res->status)
		res->status = rc;
	return rc;
}
