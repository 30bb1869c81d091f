/*
 * open.c — a JobMaster gateway from an address.
 */
#include <string.h>

#include <flinc/flinc.h>

#include "rpc/gateway.h"
#include "rpc/nng.h"

int rpc_jm_gateway_open(const char *address, const struct cm_secret *secret,
			const char *cluster_id, rpc_jm_gateway **out)
{
	*out = NULL;
	if (!address)
		return FL_EINVAL;
	if (strncmp(address, "local:", 6) == 0)
		return rpc_local_open(address + 6, out);
	if (strncmp(address, "tcp://", 6) == 0) {
		cm_err err = {0};
		return rpc_jm_gateway_nng(out, address, secret, cluster_id, 30000, &err);
	}
	return FL_EINVAL;
}
