/*
 * nngerr.h — NNG's error codes mapped to flinc's FL_E* codes, in one place:
 * the data connections (network/conn.c) and the RPC transport (rpc/nng.c)
 * are the two boundaries where NNG's codes enter the runtime.
 */
#ifndef FLINC_NETWORK_NNGERR_H
#define FLINC_NETWORK_NNGERR_H

/* 0 for 0; FL_ECLOSED for a closed, shut, reset, aborted or refused
 * connection; FL_ETIMEDOUT, FL_ECANCELED, FL_ENOMEM, FL_EINVAL for their
 * NNG counterparts; FL_EIO otherwise. */
int net_err_from_nng(int rv);

#endif
