/*
 * err.h — error values that carry a message.
 *
 * Every internal function that can fail returns an int (0 or a negative FL_E*
 * code from flinc.h). Functions whose failures reach a user also take an
 * fl_err * and fill it with a message naming what was wrong and where (a key,
 * a field, a file and line). The fl_err may be NULL when the caller only
 * wants the code.
 */
#ifndef FL_COMMON_ERR_H
#define FL_COMMON_ERR_H

#include <stdarg.h>

#include <flinc/flinc.h>

#define FL_ERR_MSG_MAX 512

typedef struct fl_err {
	int code;
	char msg[FL_ERR_MSG_MAX];
} fl_err;

/* fl_err_clear resets e to "no error". e may be NULL. */
void fl_err_clear(fl_err *e);

/*
 * fl_err_set records code and a printf-formatted message in e (if e is not
 * NULL and holds no error yet: the first cause wins) and returns code, so
 * that `return fl_err_set(e, FL_EINVAL, "...")` reads naturally.
 */
int fl_err_set(fl_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* fl_err_vset is fl_err_set with a va_list. */
int fl_err_vset(fl_err *e, int code, const char *fmt, va_list ap);

/* fl_err_from_errno maps an errno value to an FL_E* code. */
int fl_err_from_errno(int errnum);

#endif
