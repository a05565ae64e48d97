/*
 * peer_auth.h - proof of the cluster secret on a node-to-node TLS
 * connection (SPEC §7, §10), used by the RPC port and the Raft transport.
 *
 * Node certificates are self-signed and not verified: the shared secret is
 * the trust. After the TLS handshake each side sends one frame
 *
 *   "MNPA" | version 1 | role ('C' connector, 'S' acceptor) |
 *   HMAC-SHA256(secret, "mailnode-peer-v1" || role ||
 *               TLS exporter(32 bytes, label "EXPORTER-mailnode-peer")) |
 *   name length (1..63) | node name
 *
 * and checks the other side's. The exporter binds the proof to this TLS
 * session, so a man in the middle that terminates TLS on both sides (and
 * relays the frames) produces two sessions with different exporters and
 * fails; the role byte stops a frame from being reflected back. An empty
 * or absent secret means single-node only: every peer is refused.
 *
 * On mismatch: log warn "peer refused: bad cluster secret from IP", close.
 *
 * Ownership: while authenticating peer_auth owns the conn's handler; cfg
 * is kept by pointer and must outlive the handshake. All on the loop thread.
 */
#ifndef MN_CLUSTER_PEER_AUTH_H
#define MN_CLUSTER_PEER_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/conn.h"
#include "lib/tls.h"

#define PEER_AUTH_EXPORTER_LABEL "EXPORTER-mailnode-peer"
#define PEER_AUTH_NAME_MAX 63
/* Whole handshake (TLS + frames) must be done within this. */
#define PEER_AUTH_TIMEOUT_MS 10000

struct peer_auth_config {
	const char *secret;         /* NULL or "": refuse every peer */
	const char *node_name;      /* ours, sent to the peer */
	struct tls_ctx *client_tls; /* client context (no verification) for connectors */
};

/* status 0: the peer proved the secret; peer_name is its node name (valid
 * during the call only). The conn is paused during the call: the callback
 * must set its own handler (conn_set_handler); peer_auth resumes reading
 * after it returns, and bytes that followed the frame are already in
 * conn_input() for the new handler. status < 0 (MN_EAUTH bad proof,
 * MN_ETLS, MN_ECLOSED, MN_ETIMEDOUT, MN_EPARSE): the conn is closing and
 * must not be touched after the callback returns. Called exactly once. */
typedef void (*peer_auth_cb)(struct conn *c, int status, const char *peer_name, void *arg);

/* peer_auth_accept - for a conn accepted on an implicit-TLS listener,
 * called from the accept callback (before the TLS handshake ended). */
void peer_auth_accept(
    struct conn *c, const struct peer_auth_config *cfg, peer_auth_cb cb, void *arg);
/* peer_auth_connect - for a conn from conn_connect: starts client TLS with
 * cfg->client_tls, then the exchange. */
void peer_auth_connect(
    struct conn *c, const struct peer_auth_config *cfg, peer_auth_cb cb, void *arg);

/* peer_auth_mac - the MAC above (exposed for tests): 0 or MN_EINVAL. */
int peer_auth_mac(
    const char *secret, char role, const unsigned char exporter[32], unsigned char out[32]);

/* peer_auth_client_ctx - a client TLS context that does not verify the
 * peer (the secret is the trust) and resumes TLS sessions per peer address
 * (tls_client_ctx_resume): the proof above runs on every connection all
 * the same. */
int peer_auth_client_ctx(struct tls_ctx **out, struct mn_err *err);

#endif
