/*
 * webmail.h - the webmail JSON API under /api/v1/mail (docs/api.md,
 * "Webmail"): login with the full address and password, a session cookie
 * (HttpOnly, SameSite=Strict, Secure on HTTPS) and a CSRF token required
 * in X-CSRF-Token on every state-changing call; folders, message lists,
 * one message (through the MIME parser, node/webmail/render.h), its HTML
 * part in a sandboxed frame, flags, move, delete to Trash.
 *
 * A session reaches only its own user's mailbox: no route names a user,
 * so anything not in that mailbox is 404. Login failures count in the
 * same node/limits.h throttling as IMAP and POP3. Mail store calls and
 * password checks run on the libuv thread pool, never on the loop. The
 * calls of a user homed on another cluster node are carried there over
 * the node-to-node RPC channel (webmail_set_cluster) and answered there.
 *
 * Ownership: borrows loop, directory, limits and (once set) the store.
 * Work in flight finishes on its own; free only after uv_run returned.
 */
#ifndef MN_NODE_WEBMAIL_H
#define MN_NODE_WEBMAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "node/http/http.h"
#include "node/limits.h"
#include "storage/directory/directory.h"

#define WEBMAIL_PREFIX "/api/v1/mail"
#define WEBMAIL_COOKIE "mn_session"
#define WEBMAIL_CSRF_HEADER "X-CSRF-Token"
#define WEBMAIL_MAX_MESSAGE (64u << 20) /* biggest message shown */
#define WEBMAIL_PAGE_MAX 200            /* messages per list page */
#define WEBMAIL_PAGE_DEFAULT 50
#define WEBMAIL_FORWARD_TIMEOUT_MS 120000 /* a call carried to the home node */

/* the largest request body: compose with its attachments in base64
 * (compose.h WEBMAIL_MAX_ATTACH, 4/3 of it, plus text and HTML) */
#define WEBMAIL_MAX_REQUEST (18u << 20)
/* the paths that may carry such a body (NULL-terminated, for the HTTP
 * server's limits); every other request keeps the 1 MiB default */
extern const char *const webmail_large_body_paths[];

struct dirsvc;
struct mailstore;
struct peer_auth_config;
struct smtp_server;

struct webmail_config {
	const char *node_name;
	const char *hostname;  /* Message-IDs of composed mail */
	struct limits *limits; /* borrowed; NULL: no throttling (unit tests) */
	struct dirsvc *svc;    /* directory writes (settings, password); NULL: 503 */
};

struct webmail;

void webmail_new(
    uv_loop_t *loop, struct directory *dir, const struct webmail_config *cfg, struct webmail **out);
void webmail_free(struct webmail **wm);
/* webmail_set_store - the mail store, once open (before: 503). */
void webmail_set_store(struct webmail *wm, struct mailstore *ms);
/* webmail_set_smtp - the SMTP server whose submission path sends the
 * composed mail (smtp_server_submit; before: send answers 503). */
void webmail_set_smtp(struct webmail *wm, struct smtp_server *smtp);
/* webmail_set_cluster - calls of users homed on other nodes are carried
 * there over the node-to-node RPC channel (RPC_WEBMAIL, auth borrowed and
 * kept by pointer), and this node answers such calls for its own users.
 * Without it those calls answer 503. */
void webmail_set_cluster(struct webmail *wm, const struct peer_auth_config *auth);
/* webmail_stop - before the SMTP server and the RPC service stop: no more
 * sending, no more carried calls (in flight: answered 503 / dropped). */
void webmail_stop(struct webmail *wm);
/* webmail_owns_path - the raw path is /api/v1/mail or below it. */
bool webmail_owns_path(const char *path, size_t len);
/* webmail_handle - http_handler_fn; arg is the struct webmail. */
void webmail_handle(struct http_exchange *x, const struct http_request *req, void *arg);

/* webmail_home_elsewhere - the user's home node is set and is not this
 * node (then the mailbox is not here). */
bool webmail_home_elsewhere(const char *home_node, const char *node_name);

/* webmail_password_policy - the policy for a password a user sets: 8..128
 * bytes of UTF-8 without control characters, at least two kinds of
 * characters among lower case, upper case, digits and others, and not
 * containing the local part of the address (3 or more characters, case
 * ignored). true if fine; else false with the reason in reason. */
bool webmail_password_policy(const char *pw, const char *address, char *reason, size_t reasonsz);

#endif
