/*
 * imap.h - the IMAP service: listeners on imap_port (STARTTLS) and
 * imaps_port (implicit TLS) serving IMAP4rev1 (RFC 3501) sessions from the
 * local mail store, authenticated against the local directory. Users
 * homed on another node are relayed there after login (cluster/proxy).
 *
 * Ownership: the server keeps the directory, mail store and TLS contexts
 * by pointer; they must outlive it. All calls on the loop thread.
 * imap_server_stop stops accepting; open sessions end with the
 * connections (conn_close_all at shutdown), and a command running on the
 * thread pool finishes first (the session is freed after it).
 */
#ifndef MN_NODE_IMAP_IMAP_H
#define MN_NODE_IMAP_IMAP_H

#include <stdint.h>
#include <uv.h>

#include "lib/conn.h"
#include "lib/err.h"
#include "lib/tls.h"

struct directory;
struct limits;
struct mailstore;
struct proxy;
struct proxy_request;
struct rpc_stream;

struct imap_server_config {
	/* listen.tls non-NULL: implicit TLS (imaps); else plain with STARTTLS
	 * offered when starttls is non-NULL. */
	struct listener_config listen;
	struct tls_ctx *starttls;
	struct directory *dir;
	struct mailstore *store;
	/* Literal limit for APPEND when the user has no max_message_size of
	 * their own (SPEC §5 [smtp] max_message_size); 0: parser default. */
	uint64_t max_message_size;
	/* Per-IP connection caps and login-failure blocking (node/limits.h);
	 * NULL: none. Kept by pointer. */
	struct limits *limits;
	/* Users homed on another node are proxied there after login
	 * (cluster/proxy/proxy.h); NULL: every user is served here. */
	struct proxy *proxy;
};

struct imap_server;

int imap_server_start(uv_loop_t *loop, const struct imap_server_config *cfg,
    struct imap_server **out, struct mn_err *err);
uint16_t imap_server_port(const struct imap_server *srv);
void imap_server_stop(struct imap_server **sp);

/* imap_server_adopt - the home side of a proxied session (a
 * proxy_adopt_fn): accept the stream and serve it as req->user, logged in
 * without a password, answering the tagged OK [CAPABILITY ...] of the
 * login the reached node checked; refuse it when the account is disabled
 * or expired. The session is not counted against per-IP limits (the
 * reached node did that for the client). */
void imap_server_adopt(
    struct imap_server *srv, struct rpc_stream *st, const struct proxy_request *req);

#endif
