/*
 * err.c - error code texts and the struct mn_err helpers.
 */
#include "lib/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#undef mn_err_set /* the analyzer-only macro in err.h; this is the definition */

const char *
mn_strerror(int code)
{
	switch (code) {
	case 0:
		return "ok";
#define MN_ERR_CASE(name, num, text)                                                               \
	case name:                                                                                 \
		return text;
		MN_ERR_TABLE(MN_ERR_CASE)
#undef MN_ERR_CASE
	}
	return "unknown error";
}

int
mn_err_set(struct mn_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int
mn_err_wrap(struct mn_err *err, const char *fmt, ...)
{
	char old[MN_ERR_MSG_MAX];
	va_list ap;
	int n;

	if (err == NULL)
		return 0;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %.*s",
		    (int)(sizeof(err->msg) - (size_t)n), old);
	return err->code;
}

void
mn_err_clear(struct mn_err *err)
{
	if (err == NULL)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}
