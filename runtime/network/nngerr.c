#include "network/nngerr.h"

#include <nng/nng.h>

#include <flinc/flinc.h>

int net_err_from_nng(int rv)
{
	switch (rv) {
	case 0:
		return 0;
	case NNG_ENOMEM:
		return FL_ENOMEM;
	case NNG_ETIMEDOUT:
		return FL_ETIMEDOUT;
	case NNG_ECANCELED:
		return FL_ECANCELED;
	case NNG_ECLOSED:
	case NNG_ECONNSHUT:
	case NNG_ECONNRESET:
	case NNG_ECONNABORTED:
	case NNG_ECONNREFUSED:
		return FL_ECLOSED;
	case NNG_EINVAL:
	case NNG_EADDRINVAL:
		return FL_EINVAL;
	default:
		return FL_EIO;
	}
}
