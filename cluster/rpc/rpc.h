/*
 * rpc.h - node-to-node RPC on rpc_port (SPEC §7): framed protobuf-c
 * envelopes (frame.h) over TLS, every connection proving the cluster secret
 * (cluster/peer_auth.h) before any frame is read.
 *
 * Server: a listener; each request frame is dispatched to the handler
 * registered for its method with a struct rpc_call, which the handler
 * answers exactly once with rpc_reply (at once or later: calls are
 * independent, replies may go out in any order). When the connection died
 * meanwhile the reply is dropped. Unregistered methods get MN_EINVAL.
 *
 * Client: one pooled connection per peer address, made on demand and
 * re-made with exponential backoff (100 ms .. 5 s) after a failure.
 * Requests wait for the connection until their deadline; each gets its
 * callback exactly once: the reply, MN_ETIMEDOUT at the deadline, MN_ECLOSED
 * when the connection broke after the request was sent (its effect on the
 * peer is then unknown) or the client closed. Replies for requests no
 * longer pending (timed out, cancelled) are dropped.
 *
 * Ownership: rpc_server_stop / rpc_client_close free the object once its
 * handles have closed (the loop must run); the pointer is dead after the
 * call. Callbacks run from the loop, never inside rpc_client_call. All on
 * the loop thread.
 */
#ifndef MN_CLUSTER_RPC_RPC_H
#define MN_CLUSTER_RPC_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cluster/peer_auth.h"
#include "cluster/proto/rpc.pb-c.h"
#include "lib/err.h"
#include "lib/tls.h"

/* --- server ------------------------------------------------------------- */

struct rpc_server;
struct rpc_call;

typedef void (*rpc_handler_fn)(
    struct rpc_call *call, const uint8_t *payload, size_t len, void *arg);

struct rpc_server_config {
	const char *address;
	uint16_t port;                       /* 0: any free port (tests) */
	struct tls_ctx *tls;                 /* server context; must outlive the server */
	const struct peer_auth_config *auth; /* kept by pointer */
};

int rpc_server_start(uv_loop_t *loop, const struct rpc_server_config *cfg, struct rpc_server **out,
    struct mn_err *err);
void rpc_server_handle(struct rpc_server *s, Mailnode__RpcMethod m, rpc_handler_fn fn, void *arg);
/* rpc_handlers_register - serve method m on every rpc_server of this
 * process (started before or after) that has no handler of its own for it:
 * for services that do not own the server (cluster/handoff registers its
 * methods while the raft service owns the server on rpc_port). fn NULL
 * unregisters; do that before arg is freed. */
void rpc_handlers_register(Mailnode__RpcMethod m, rpc_handler_fn fn, void *arg);
uint16_t rpc_server_port(const struct rpc_server *s);
/* rpc_server_stop - stop listening, close connections; calls still in a
 * handler's hands may be answered (the replies are dropped). */
void rpc_server_stop(struct rpc_server **s);

/* rpc_reply - answer and release the call. status 0 or a negative MN_E
 * code with error text (may be NULL). */
void rpc_reply(
    struct rpc_call *call, int status, const char *error, const void *payload, size_t len);
/* The proven node name of the caller and its IP. */
const char *rpc_call_peer_name(const struct rpc_call *call);
const char *rpc_call_peer_ip(const struct rpc_call *call);
/* What the caller said it still waits, in ms (0: not given). */
uint32_t rpc_call_deadline_ms(const struct rpc_call *call);

/* --- client ------------------------------------------------------------- */

struct rpc_client;

/* status 0: the peer's reply payload (valid during the call only);
 * otherwise the peer's status and error text, or a local MN_ETIMEDOUT /
 * MN_ECLOSED. */
typedef void (*rpc_done_cb)(
    int status, const char *error, const uint8_t *payload, size_t len, void *arg);

int rpc_client_new(uv_loop_t *loop, const struct peer_auth_config *auth, struct rpc_client **out);
/* rpc_client_call - send a request to ip:port; 0 and *id_out (may be NULL),
 * or MN_EINVAL (bad ip, zero timeout), MN_ETOOBIG, MN_ECLOSED. */
int rpc_client_call(struct rpc_client *cl, const char *ip, uint16_t port, Mailnode__RpcMethod m,
    const void *payload, size_t len, uint32_t timeout_ms, rpc_done_cb cb, void *arg,
    uint64_t *id_out);
/* rpc_client_connected - true when the pooled connection to ip:port is
 * up and authenticated now (a request is then sent at once; otherwise it
 * waits for a connection until its deadline). */
bool rpc_client_connected(struct rpc_client *cl, const char *ip, uint16_t port);
/* rpc_client_cancel - forget a pending request; its callback is not called. */
void rpc_client_cancel(struct rpc_client *cl, uint64_t id);
/* rpc_client_close - fail pending requests with MN_ECLOSED (callbacks run
 * now), close connections; freed once they are closed. */
void rpc_client_close(struct rpc_client **cl);

/* rpc_parse_hostport - "IP:PORT" or "[IPv6]:PORT" into ip (>= 46 bytes)
 * and port (1..65535): 0 or MN_EINVAL. */
int rpc_parse_hostport(const char *s, char *ip, size_t ipsz, uint16_t *port);

#endif
