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
 * Streams (methods 10..19 of rpc.proto): rpc_stream_open makes a dedicated
 * connection (never the pooled one: its bytes stop being frames), TLS and
 * the secret proof as above, sends one request envelope and waits for one
 * reply envelope; status 0 hands the raw struct conn to the caller, which
 * relays bytes over it from then on. On the server a method registered with
 * rpc_server_handle_stream gets its request on a connection that the
 * handler then owns: it answers with rpc_stream_accept (reply status 0, the
 * conn is the handler's) or rpc_stream_refuse (reply with an error; the
 * connection is closed after it), during the handler call. Bytes that
 * followed the opening frame (or the reply frame, on the client) stay in
 * conn_input() for the new owner.
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
/* rpc_server_handle - serve method m with fn. s NULL registers it for
 * every rpc_server of the process (started before or after) that has no
 * handler of its own for m, as rpc_server_handle_stream does for streams:
 * the daemon's server lives inside cluster/raft's service, out of reach of
 * cluster/handoff. fn NULL unregisters; do that before arg is freed. */
void rpc_server_handle(struct rpc_server *s, Mailnode__RpcMethod m, rpc_handler_fn fn, void *arg);
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

/* --- streams: server side --------------------------------------------- */

struct rpc_stream;

/* The handler must call rpc_stream_accept or rpc_stream_refuse before it
 * returns (a handler that does neither refuses with MN_EINVAL). payload is
 * valid during the call only. */
typedef void (*rpc_stream_fn)(struct rpc_stream *st, const uint8_t *payload, size_t len, void *arg);

/* rpc_server_handle_stream - serve stream method m (10..19) with fn. s NULL
 * registers it for every rpc_server of the process that has no handler of
 * its own for m (the daemon's server lives inside cluster/raft's service,
 * out of reach of the modules that serve streams). A stream method sent
 * on a pooled connection, or after another frame, is answered MN_EINVAL. */
void rpc_server_handle_stream(
    struct rpc_server *s, Mailnode__RpcMethod m, rpc_stream_fn fn, void *arg);
/* rpc_stream_accept - send the reply (status 0, payload may be NULL) and
 * hand over the conn: it is the caller's from now on, with no handler set
 * (set one before returning from the stream handler; conn_input may hold
 * bytes that followed the frame, delivered to it after the handler
 * returns). Its input limit is back to CONN_DEFAULT_INPUT_MAX and it has
 * no idle timeout. */
struct conn *rpc_stream_accept(struct rpc_stream *st, const void *payload, size_t len);
/* rpc_stream_refuse - reply status (< 0) and error text, then close. */
void rpc_stream_refuse(struct rpc_stream *st, int status, const char *error);
const char *rpc_stream_peer_name(const struct rpc_stream *st);
const char *rpc_stream_peer_ip(const struct rpc_stream *st);

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
/* rpc_client_peer_backing_off - the last attempt to reach ip:port failed
 * and the client waits out its backoff before it tries again: a request now
 * would only wait for its deadline. False for an unknown peer. */
bool rpc_client_peer_backing_off(const struct rpc_client *cl, const char *ip, uint16_t port);
/* rpc_client_cancel - forget a pending request; its callback is not called. */
void rpc_client_cancel(struct rpc_client *cl, uint64_t id);
/* rpc_client_close - fail pending requests with MN_ECLOSED (callbacks run
 * now), close connections; freed once they are closed. */
void rpc_client_close(struct rpc_client **cl);

/* --- streams: client side --------------------------------------------- */

struct rpc_stream_open;

/* Stream methods are numbered 10..19 in rpc.proto. */
#define RPC_STREAM_FIRST 10
#define RPC_STREAM_LAST 19

/* status 0: c is the caller's (no handler set: set one during the call;
 * bytes after the reply frame are in conn_input and are delivered after the
 * call returns), payload the reply's (valid during the call). Otherwise c
 * is NULL and status is the peer's refusal (error its text) or a local
 * MN_ETIMEDOUT (deadline), MN_ECLOSED, MN_EAUTH (secret refused), MN_ETLS,
 * a connect error. Called exactly once from the loop, unless cancelled. */
typedef void (*rpc_stream_open_cb)(
    struct conn *c, int status, const char *error, const uint8_t *payload, size_t len, void *arg);

/* rpc_stream_open - open a stream for method m to ip:port within
 * timeout_ms (connect, TLS, proof and reply together). 0 and *out (may be
 * NULL; valid until the callback or rpc_stream_cancel), or MN_EINVAL (bad
 * ip, port, zero timeout, m not a stream method RPC_STREAM_FIRST ..
 * RPC_STREAM_LAST), MN_ETOOBIG, or a conn_connect error. */
int rpc_stream_open(uv_loop_t *loop, const struct peer_auth_config *auth, const char *ip,
    uint16_t port, Mailnode__RpcMethod m, const void *payload, size_t len, uint32_t timeout_ms,
    rpc_stream_open_cb cb, void *arg, struct rpc_stream_open **out);
/* rpc_stream_cancel - the callback will not run; a connection in progress
 * is closed. */
void rpc_stream_cancel(struct rpc_stream_open *op);

/* rpc_parse_hostport - "IP:PORT" or "[IPv6]:PORT" into ip (>= 46 bytes)
 * and port (1..65535): 0 or MN_EINVAL. */
int rpc_parse_hostport(const char *s, char *ip, size_t ipsz, uint16_t *port);

#endif
