/*
 * err.h - error codes shared by every layer.
 *
 * Functions return 0 on success or a negative MN_E* code. The codes are
 * defined once, with their text, in the X-macro table below (as canonical/raft
 * does). Detail for humans travels in a caller-owned struct mn_err, to which
 * each layer may prepend context ("spool %s: fsync: ...").
 */
#ifndef MN_LIB_ERR_H
#define MN_LIB_ERR_H

#include <stddef.h>

#define MN_ERR_TABLE(X)                                                                            \
	X(MN_EINVAL, 1, "invalid argument")                                                        \
	X(MN_ENOENT, 2, "not found")                                                               \
	X(MN_EEXIST, 3, "already exists")                                                          \
	X(MN_ETOOBIG, 4, "too big")                                                                \
	X(MN_EIO, 5, "I/O error")                                                                  \
	X(MN_EPARSE, 6, "parse error")                                                             \
	X(MN_EPERM, 7, "permission denied")                                                        \
	X(MN_EAUTH, 8, "authentication failed")                                                    \
	X(MN_ELIMIT, 9, "limit reached")                                                           \
	X(MN_ECONFLICT, 10, "conflict")                                                            \
	X(MN_ENOLEADER, 11, "no leader")                                                           \
	X(MN_ETEMP, 12, "temporary failure")                                                       \
	X(MN_ECLOSED, 13, "connection closed")                                                     \
	X(MN_ETIMEDOUT, 14, "timed out")                                                           \
	X(MN_ETLS, 15, "TLS error")                                                                \
	X(MN_EDB, 16, "database error")                                                            \
	X(MN_ENOQUOTA, 17, "quota exceeded")                                                       \
	X(MN_EAGAIN, 18, "try again")

enum mn_errcode {
#define MN_ERR_ENUM(name, num, text) name = -(num),
	MN_ERR_TABLE(MN_ERR_ENUM)
#undef MN_ERR_ENUM
};

#define MN_ERR_MSG_MAX 256

/* A human-readable reason, filled by the callee. Never shown to a client
 * verbatim unless the API documents that it is (admin API reasons are). */
struct mn_err {
	int code;
	char msg[MN_ERR_MSG_MAX];
};

/* mn_strerror - text of a code (0 gives "ok"); never NULL. */
const char *mn_strerror(int code);

/* mn_err_set - record code and a formatted message; returns code so that
 * callers can write `return mn_err_set(err, MN_EINVAL, "bad %s", x);`.
 * err may be NULL. */
int mn_err_set(struct mn_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#ifdef __clang_analyzer__
/* The analyzer cannot see into err.c; tell it the result is `code`, or it
 * follows `return mn_err_set(...)` as if it could be 0 (false "garbage value"). */
#define mn_err_set(err, code, ...) (mn_err_set((err), (code), __VA_ARGS__), (code))
#endif

/* mn_err_wrap - prepend context to the existing message. */
int mn_err_wrap(struct mn_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void mn_err_clear(struct mn_err *err);

#endif
