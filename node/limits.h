/*
 * limits.h - the node's abuse limits (SPEC §10, issue 8): one policy
 * object shared by every service (SMTP, IMAP, POP3, HTTP/admin API).
 *
 * (1) Connection admission per client IP: concurrent connections per IP
 *     per service class, and new connections per minute per IP (all
 *     classes together). Addresses in the exempt CIDR list skip both.
 * (2) Authentication failures per IP and per user name over a sliding
 *     window (defaults 55 per IP and 20 per user in 10 minutes); reaching
 *     the threshold blocks the IP or user for block_ms (default 2880
 *     minutes). While blocked, logins are refused WITHOUT checking the
 *     password, with the same reply as a wrong password (the service logs
 *     "event=auth_blocked"). A successful login resets the user's counter
 *     (not the IP's: one valid account must not launder a guessing IP).
 *     Exempt IPs are never blocked by IP; their failures still count for
 *     the user.
 *
 * Memory is bounded: at most max_tracked IPs and max_tracked users are
 * tracked (each table its own LRU, so a flood of distinct IPs cannot evict
 * a blocked user); counters are fixed arrays of time buckets. Eviction
 * prefers entries that hold no connection and no block.
 *
 * Time comes from cfg.now_ms (wall clock, ms since the epoch; NULL: the
 * real clock), so unit tests run without sleeping.
 *
 * Threads: loop thread only. Ownership: the creator (node/main.c) frees it
 * after every connection has closed (after the loop drained).
 *
 * What each service does (wired: SMTP in node/smtp/server.c, IMAP in
 * node/imap/session.c, POP3 in node/pop3/session.c, HTTP in
 * node/http/server.c, the admin API's Basic auth in node/admin/api.c; each
 * service's config struct takes a `struct limits *limits` from
 * node/main.c's n->limits; a new service makes the same two calls):
 *   1. accept callback: v = limits_conn_open(l, LIMITS_SMTP or LIMITS_IMAP,
 *      conn_peer_ip(c)); if v != LIMITS_OK: set a handler with an empty
 *      on_close, write "421 4.7.0 too many connections from your address"
 *      (SMTP) or "* BYE [UNAVAILABLE] too many connections from your
 *      address" (IMAP), log "event=refused", conn_close(c), no session.
 *      Otherwise remember it and call limits_conn_closed(l, cls,
 *      conn_peer_ip(c)) in the session's on_close.
 *   2. AUTH (SMTP AUTH PLAIN/LOGIN, IMAP LOGIN/AUTHENTICATE): before the
 *      password is verified, if !limits_auth_allowed(l, ip, user) log
 *      "event=auth_blocked" and answer exactly as a wrong password (535 /
 *      NO [AUTHENTICATIONFAILED]) after the usual delay, without verifying;
 *      after verifying, limits_auth_failed(l, ip, user) or
 *      limits_auth_ok(l, ip, user), user being the name the client sent.
 */
#ifndef MN_NODE_LIMITS_H
#define MN_NODE_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

enum limits_class {
	LIMITS_SMTP,
	LIMITS_IMAP,
	LIMITS_POP3,
	LIMITS_HTTP,
	LIMITS_NCLASS,
};

#define LIMITS_DEFAULT_MAX_CONN_PER_IP 50
#define LIMITS_DEFAULT_CONN_PER_MINUTE 120
#define LIMITS_DEFAULT_AUTH_FAIL_IP 55
#define LIMITS_DEFAULT_AUTH_FAIL_USER 20
#define LIMITS_DEFAULT_AUTH_WINDOW_MS (600 * 1000)
#define LIMITS_DEFAULT_BLOCK_MS (172800ULL * 1000)
#define LIMITS_DEFAULT_MAX_TRACKED 65536
#define LIMITS_MAX_EXEMPT 64
/* A user name longer than this is tracked by its first LIMITS_MAX_KEY
 * bytes (addresses are at most 254). */
#define LIMITS_MAX_KEY 255

typedef uint64_t (*limits_clock_fn)(void *arg);

struct limits_config {
	uint32_t max_conn_per_ip; /* per class; 0: unlimited */
	uint32_t conn_per_minute; /* per IP, all classes; 0: unlimited */
	uint32_t auth_fail_ip;    /* failures in the window that block; 0: off */
	uint32_t auth_fail_user;  /* 0: off */
	uint64_t auth_window_ms;  /* 0: LIMITS_DEFAULT_AUTH_WINDOW_MS */
	uint64_t block_ms;        /* 0: LIMITS_DEFAULT_BLOCK_MS */
	const char *exempt;       /* CIDR list, comma or space separated; NULL: none */
	size_t max_tracked;       /* per table; 0: LIMITS_DEFAULT_MAX_TRACKED */
	limits_clock_fn now_ms;   /* NULL: CLOCK_REALTIME */
	void *clock_arg;
};

struct limits;

/* limits_config_defaults - the defaults above, no exempt list. */
void limits_config_defaults(struct limits_config *cfg);
/* limits_new - MN_EINVAL for a bad exempt list (err says which entry). */
int limits_new(const struct limits_config *cfg, struct limits **out, struct mn_err *err);
void limits_free(struct limits **l);

/* limits_ip_exempt - ip (numeric) is inside an exempt CIDR. */
bool limits_ip_exempt(const struct limits *l, const char *ip);

/* --- connections ---------------------------------------------------------- */

enum limits_verdict {
	LIMITS_OK = 0,
	LIMITS_TOO_MANY, /* concurrent connections of this class */
	LIMITS_TOO_FAST, /* connections per minute */
};

/* limits_conn_open - admit a new connection from ip for class: counts it
 * (both the rate and, when admitted, the concurrent count) and returns
 * LIMITS_OK, or a refusal (nothing to undo). Every attempt counts toward
 * the rate, so a client hammering a refused limit stays refused. */
enum limits_verdict limits_conn_open(struct limits *l, enum limits_class cls, const char *ip);
/* limits_conn_closed - a connection admitted by limits_conn_open ended. */
void limits_conn_closed(struct limits *l, enum limits_class cls, const char *ip);
/* limits_conn_count - concurrent connections of class from ip (tests). */
uint32_t limits_conn_count(struct limits *l, enum limits_class cls, const char *ip);

/* --- authentication --------------------------------------------------------- */

/* limits_auth_allowed - false while ip or user (NULL: ignored) is blocked. */
bool limits_auth_allowed(struct limits *l, const char *ip, const char *user);
/* limits_auth_failed - count a failed login; may start a block (logged
 * "event=blocked"). user may be NULL. */
void limits_auth_failed(struct limits *l, const char *ip, const char *user);
/* limits_auth_ok - a successful login: resets the user's failure count. */
void limits_auth_ok(struct limits *l, const char *ip, const char *user);

enum limits_kind {
	LIMITS_KIND_IP,
	LIMITS_KIND_USER,
};

struct limits_blocked {
	enum limits_kind kind;
	char key[LIMITS_MAX_KEY + 1];
	uint64_t until_ms; /* epoch ms, by the limits clock */
	uint32_t failures; /* failures counted in the window that blocked it */
};

/* limits_blocked_list - current blocks (expired ones are dropped), IPs
 * first; *out is xmalloc'd (caller frees), *n its length. */
void limits_blocked_list(struct limits *l, struct limits_blocked **out, size_t *n);
/* limits_release - lift the block of key (an IP or a user name, both if
 * both are blocked) and clear its failure count; 0 or MN_ENOENT. */
int limits_release(struct limits *l, const char *key);

/* limits_save - write the current blocks (not the counters) to path: a
 * temporary file, fsync, rename. 0 or MN_EIO. A restart then keeps an
 * attacker's 2,880-minute block (node/main.c saves at shutdown). */
int limits_save(struct limits *l, const char *path, struct mn_err *err);
/* limits_load - restore the blocks of a file limits_save wrote, except
 * expired ones and malformed lines. A missing file: 0; else 0 or MN_EIO. */
int limits_load(struct limits *l, const char *path, struct mn_err *err);

/* limits_tracked - entries held now (IPs + users), for the memory bound. */
size_t limits_tracked(const struct limits *l);

#endif
