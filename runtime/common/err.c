#include "common/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

void cm_err_clear(cm_err *e)
{
	if (e) {
		e->code = 0;
		e->msg[0] = '\0';
	}
}

int cm_err_vset(cm_err *e, int code, const char *fmt, va_list ap)
{
	if (e && e->code == 0) {
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		e->code = code;
	}
	return code;
}

int cm_err_set(cm_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cm_err_vset(e, code, fmt, ap);
	va_end(ap);
	return code;
}

int cm_err_from_errno(int errnum)
{
	switch (errnum) {
	case 0:
		return 0;
	case ENOMEM:
		return FL_ENOMEM;
	case ENOENT:
	case ENOTDIR:
		return FL_ENOENT;
	case EINVAL:
		return FL_EINVAL;
	case ERANGE:
	case E2BIG:
	case EFBIG:
	case ENAMETOOLONG:
		return FL_ERANGE;
	case ETIMEDOUT:
		return FL_ETIMEDOUT;
	case ECANCELED:
		return FL_ECANCELED;
	case EPIPE:
	case ECONNRESET:
		return FL_ECLOSED;
	default:
		return FL_EIO;
	}
}

FL_API const char *fl_strerror(int err)
{
	switch (err) {
	case FL_OK:
		return "ok";
	case FL_ENOMEM:
		return "out of memory";
	case FL_EINVAL:
		return "invalid argument";
	case FL_ENOENT:
		return "not found";
	case FL_EIO:
		return "I/O error";
	case FL_ERANGE:
		return "out of range";
	case FL_ETYPE:
		return "wrong type";
	case FL_EUSER:
		return "user function failed";
	case FL_ECANCELED:
		return "cancelled";
	case FL_EPROTO:
		return "malformed data";
	case FL_ECLOSED:
		return "closed";
	case FL_ETIMEDOUT:
		return "timed out";
	case FL_EJOBFAILED:
		return "job failed";
	default:
		return "unknown error";
	}
}
