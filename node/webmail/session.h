/*
 * session.h - webmail login sessions: an in-memory table from a random
 * session id (the HttpOnly cookie) to the user's address and a CSRF token
 * (returned at login, required in X-CSRF-Token on every state-changing
 * call). Both are 32 random bytes as base64url (43 characters).
 *
 * A session ends at logout, after WEBMAIL_SESSION_IDLE_MS without a call,
 * or WEBMAIL_SESSION_MAX_MS after login. The table holds at most
 * WEBMAIL_MAX_SESSIONS; a login beyond that evicts the session idle the
 * longest. Sessions are per node and lost at restart (users log in again).
 * Tokens are compared in constant time. Loop thread only.
 */
#ifndef MN_NODE_WEBMAIL_SESSION_H
#define MN_NODE_WEBMAIL_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEBMAIL_TOKEN_LEN 43 /* base64url of 32 bytes, no padding */
#define WEBMAIL_SESSION_IDLE_MS (30 * 60 * 1000ULL)
#define WEBMAIL_SESSION_MAX_MS (12 * 3600 * 1000ULL)
#define WEBMAIL_MAX_SESSIONS 10000

struct webmail_session {
	char id[WEBMAIL_TOKEN_LEN + 1];
	char csrf[WEBMAIL_TOKEN_LEN + 1];
	char *user; /* full address, lower-cased */
	uint64_t created_ms, used_ms;
};

struct webmail_sessions;

void webmail_sessions_new(struct webmail_sessions **out);
void webmail_sessions_free(struct webmail_sessions **s);

/* webmail_session_create - a new session for user at now_ms (borrowed
 * pointer, valid until the next create/end/lookup). */
const struct webmail_session *webmail_session_create(
    struct webmail_sessions *s, const char *user, uint64_t now_ms);
/* webmail_session_lookup - the live session with that id (expired ones
 * are removed), its used time refreshed; NULL if none. */
const struct webmail_session *webmail_session_lookup(
    struct webmail_sessions *s, const char *id, size_t len, uint64_t now_ms);
/* webmail_session_end - remove the session with that id (if any). */
void webmail_session_end(struct webmail_sessions *s, const char *id);
/* webmail_session_csrf_ok - token equals the session's CSRF token. */
bool webmail_session_csrf_ok(const struct webmail_session *ses, const char *token, size_t len);
size_t webmail_session_count(const struct webmail_sessions *s);

/* webmail_cookie_get - the value of cookie `name` in a Cookie header
 * (RFC 6265 §5.4 "a=b; c=d"); false if absent. */
bool webmail_cookie_get(
    const char *hdr, size_t len, const char *name, const char **val_out, size_t *vlen_out);

#endif
