/*
 * log.h - one line per event on stderr: time, level, service, message.
 *
 *   2026-11-28T01:02:03.123Z info smtp sid=3f2a event=rcpt result=550
 *
 * Client-supplied text must go through log_escape() (printable, cut short).
 * AUTH data is never logged.
 */
#ifndef MN_LIB_LOG_H
#define MN_LIB_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* log_parse_level - "debug|info|warn|error" -> level; -1 if unknown. */
int log_parse_level(const char *s);

void log_msg(enum log_level level, const char *service, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(svc, ...) log_msg(LOG_DEBUG, svc, __VA_ARGS__)
#define log_info(svc, ...) log_msg(LOG_INFO, svc, __VA_ARGS__)
#define log_warn(svc, ...) log_msg(LOG_WARN, svc, __VA_ARGS__)
#define log_error(svc, ...) log_msg(LOG_ERROR, svc, __VA_ARGS__)

/* log_escape - copy at most `max` bytes of untrusted data into out (size
 * outlen) with non-printables as \xNN; returns out. */
char *log_escape(char *out, size_t outlen, const void *data, size_t len);

#endif
