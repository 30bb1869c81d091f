/*
 * err.h — error values that carry a message.
 *
 * Every internal function that can fail returns an int (0 or a negative FL_E*
 * code from flinc.h). Functions whose failures reach a user also take an
 * cm_err * and fill it with a message naming what was wrong and where (a key,
 * a field, a file and line). The cm_err may be NULL when the caller only
 * wants the code.
 */
#ifndef FLINC_COMMON_ERR_H
#define FLINC_COMMON_ERR_H

#include <stdarg.h>

#include <flinc/flinc.h>

#define CM_ERR_MSG_MAX 512

typedef struct cm_err {
	int code;
	char msg[CM_ERR_MSG_MAX];
} cm_err;

/* cm_err_clear resets e to "no error". e may be NULL. */
void cm_err_clear(cm_err *e);

/*
 * cm_err_set records code and a printf-formatted message in e (if e is not
 * NULL and holds no error yet: the first cause wins) and returns code, so
 * that `return cm_err_set(e, FL_EINVAL, "...")` reads naturally.
 */
int cm_err_set(cm_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* cm_err_vset is cm_err_set with a va_list. */
int cm_err_vset(cm_err *e, int code, const char *fmt, va_list ap);

/* cm_err_from_errno maps an errno value to an FL_E* code. */
int cm_err_from_errno(int errnum);

#endif
