/*
 * session.h - bearer-token sessions of the web admin (docs/api.md
 * "Sessions").
 *
 * POST /api/v1/session trades an admin name and password (verified like
 * Basic credentials, with the same login-failure throttling) for a random
 * token; the page keeps it in memory only and sends it as
 * "Authorization: Bearer TOKEN". A browser never attaches that header by
 * itself, so a cross-site page cannot ride on the session (no CSRF token
 * is needed, unlike a cookie), and script on another origin cannot read
 * it. Only SHA-256(token) is kept here, so a memory dump does not yield
 * live tokens.
 *
 * A session remembers the admin's password hash at login: when the
 * password changes or the admin is deleted the session ends (the caller
 * compares with the directory on every request). Sessions end after
 * ADMIN_SESSION_IDLE_MS without use or ADMIN_SESSION_MAX_MS after login,
 * and live in the memory of the node that made them (a restart ends them).
 *
 * Ownership: the table owns its entries; strings returned are the
 * caller's. All calls on the loop thread.
 */
#ifndef MN_NODE_ADMIN_SESSION_H
#define MN_NODE_ADMIN_SESSION_H

#include <stddef.h>
#include <stdint.h>

#define ADMIN_SESSION_IDLE_MS (30u * 60 * 1000)
#define ADMIN_SESSION_MAX_MS (12u * 3600 * 1000)
#define ADMIN_SESSION_MAX 512      /* the oldest session is ended beyond this */
#define ADMIN_SESSION_TOKEN_LEN 43 /* base64url of 32 random bytes */

struct admin_sessions;

void admin_sessions_new(struct admin_sessions **out);
void admin_sessions_free(struct admin_sessions **s);

/* admin_session_create - a new session of admin `name`, whose stored hash
 * is `hash`, at time now (ms); returns the token (caller frees). */
char *admin_session_create(
    struct admin_sessions *s, const char *name, const char *hash, uint64_t now);

/* admin_session_lookup - 0 with the admin's name and the hash at login
 * (caller frees both), and the idle timer restarted; MN_EAUTH for an
 * unknown, malformed or expired token (an expired entry is removed). */
int admin_session_lookup(struct admin_sessions *s, const char *token, size_t len, uint64_t now,
    char **name_out, char **hash_out);

/* admin_session_end - end the session of token (no-op if unknown). */
void admin_session_end(struct admin_sessions *s, const char *token, size_t len);

/* admin_session_end_admin - end every session of admin `name`. */
void admin_session_end_admin(struct admin_sessions *s, const char *name);

#endif
