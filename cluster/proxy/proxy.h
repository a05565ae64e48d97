/*
 * proxy.h - IMAP and POP3 sessions of users homed on another node (SPEC
 * §7, issue 6; docs/cluster.md "Proxy").
 *
 * The node the client reached does TLS and authentication itself (its
 * directory is a replica). When the user's home_node names another node,
 * the protocol session calls proxy_open: an RPC stream (cluster/rpc,
 * RPC_PROXY_IMAP / RPC_PROXY_POP3) to the home node's rpc_port, which is
 * TLS with the cluster-secret proof, carrying a ProxyOpen (user, client
 * address, IMAP tag). The home node's stream handler (proxy_serve) checks
 * that the user exists and is homed there, and hands the stream to the
 * protocol's adopt function, which makes a session already logged in as
 * that user on the stream's connection and sends what completes the login
 * (IMAP: the tagged OK with the home's [CAPABILITY ...]; POP3: the +OK of
 * the maildrop). No password travels and none is checked again: the
 * identity is trusted only because the stream's peer proved the secret.
 * Then proxy_relay_start copies bytes both ways, with back-pressure and
 * no buffering beyond the connections' own queues, until either side
 * closes, which closes the other.
 *
 * Refusals a client sees a difference in: PROXY_EBUSY (POP3 maildrop
 * already locked on the home node). Everything else (home down, refused,
 * too slow: PROXY_OPEN_TIMEOUT_MS) is "home unavailable".
 *
 * Ownership: the proxy borrows the directory and the peer_auth config
 * (both must outlive it); proxy_free after the loop has drained. All on
 * the loop thread.
 */
#ifndef MN_CLUSTER_PROXY_PROXY_H
#define MN_CLUSTER_PROXY_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cluster/peer_auth.h"
#include "cluster/rpc/rpc.h"
#include "lib/conn.h"
#include "lib/err.h"

struct directory;

#define PROXY_OPEN_TIMEOUT_MS 5000
/* Reading one side stops while the other side's output queue is above
 * this; it resumes when that queue has drained. */
#define PROXY_RELAY_HIGH (256 * 1024)
/* The status a home node refuses a POP3 stream with when the maildrop is
 * locked by another session there. */
#define PROXY_EBUSY MN_EEXIST
/* Limits on ProxyOpen fields (the home checks them). */
#define PROXY_TAG_MAX 128

enum proxy_proto {
	PROXY_IMAP,
	PROXY_POP3,
};

struct proxy_config {
	const char *node_name;               /* this node's name */
	struct directory *dir;               /* users (home_node) and nodes (rpc address) */
	const struct peer_auth_config *auth; /* secret, our name, client TLS */
	uint32_t open_timeout_ms;            /* 0: PROXY_OPEN_TIMEOUT_MS */
};

struct proxy;

void proxy_new(uv_loop_t *loop, const struct proxy_config *cfg, struct proxy **out);
void proxy_free(struct proxy **p);

/* proxy_home_elsewhere - home_node names a node other than this one (NULL
 * or "": served here). p NULL (no cluster secret, single node): false. */
bool proxy_home_elsewhere(const struct proxy *p, const char *home_node);

/* --- the node the client reached ------------------------------------------ */

struct proxy_open;

/* status 0: home is the stream's conn (no handler set: pass it to
 * proxy_relay_start during the call; bytes the home already sent are in
 * its input). Else home is NULL, status PROXY_EBUSY or any other code
 * meaning "unavailable", error a text for the log. */
typedef void (*proxy_open_cb)(struct conn *home, int status, const char *error, void *arg);

/* proxy_open - open the session for user (canonical address) on node
 * home_node. tag: the IMAP tag of the login command (NULL for POP3). 0 and
 * *out (may be NULL; valid until the callback or proxy_open_cancel), or
 * MN_ENOENT (home_node is not in the node table or has no rpc port),
 * MN_EINVAL. The callback runs from the loop, exactly once unless
 * cancelled. */
int proxy_open(struct proxy *p, enum proxy_proto proto, const char *home_node, const char *user,
    const char *client_ip, const char *tag, proxy_open_cb cb, void *arg, struct proxy_open **out);
void proxy_open_cancel(struct proxy_open *po);

/* done: both connections have closed (called once, from the loop). */
typedef void (*proxy_relay_done_cb)(void *arg);

/* proxy_relay_start - relay between client (the accepted connection,
 * possibly paused) and home (from proxy_open) until one closes; takes both
 * handlers and resumes reading. client_idle_ms: the client connection's
 * idle timeout (0: none; the home's session has its own autologout).
 * proto/user/home_node are for the log lines (copied). */
void proxy_relay_start(struct conn *client, struct conn *home, enum proxy_proto proto,
    const char *user, const char *home_node, uint32_t client_idle_ms, proxy_relay_done_cb done,
    void *arg);

/* --- the home node -------------------------------------------------------- */

struct proxy_request {
	const char *user;      /* canonical address, homed here, exists */
	const char *client_ip; /* the client's address at the reached node */
	const char *tag;       /* IMAP: the login's tag; POP3: NULL */
	const char *peer;      /* the reached node's proven name */
};

/* Must answer the stream during the call: rpc_stream_accept (then serve
 * the session on that conn) or rpc_stream_refuse. */
typedef void (*proxy_adopt_fn)(struct rpc_stream *st, const struct proxy_request *req, void *arg);

/* proxy_serve - serve proto's streams on every rpc_server of the process
 * with adopt (NULL: stop serving). p is kept by pointer. */
void proxy_serve(struct proxy *p, enum proxy_proto proto, proxy_adopt_fn adopt, void *arg);

#endif
