/*
 * open.c — a JobMaster gateway from an address.
 */
#include <string.h>

#include <flinc/flinc.h>

#include "common/err.h"
#include "rpc/gateway.h"
#include "rpc/nng.h"

int rpc_jm_gateway_open(const char *address, const struct cm_secret *secret,
			const char *cluster_id, rpc_jm_gateway **out, cm_err *err)
{
	*out = NULL;
	if (!address)
		return cm_err_set(err, FL_EINVAL, "no JobMaster address");
	if (strncmp(address, "local:", 6) == 0) {
		int rc = rpc_local_open(address + 6, out);
		if (rc)
			cm_err_set(err, rc, "no JobMaster '%.200s' in this process%s", address,
				   rc == FL_ENOMEM ? " (out of memory)" : "");
		return rc;
	}
	if (strncmp(address, "tcp://", 6) == 0)
		return rpc_jm_gateway_nng(out, address, secret, cluster_id, 30000, err);
	return cm_err_set(err, FL_EINVAL,
			  "JobMaster address '%.200s' is neither local:NAME nor tcp://HOST:PORT",
			  address);
}
