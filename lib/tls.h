/*
 * tls.h - OpenSSL contexts and the self-signed certificate made on first start.
 *
 * The TLS record layer itself runs inside struct conn (conn.h) through memory
 * BIOs, so plain and TLS sessions share every line of protocol code.
 */
#ifndef MN_LIB_TLS_H
#define MN_LIB_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>

#include "lib/err.h"

struct tls_ctx;

/* tls_server_ctx_new - TLS >= 1.2 server context from PEM cert chain + key. */
int tls_server_ctx_new(
    const char *cert_file, const char *key_file, struct tls_ctx **out, struct mn_err *err);
/* tls_client_ctx_new - client context; verify=false accepts any certificate
 * (opportunistic STARTTLS to MX hosts); ca_file NULL: system store. */
int tls_client_ctx_new(const char *ca_file, bool verify, struct tls_ctx **out, struct mn_err *err);
void tls_ctx_free(struct tls_ctx **ctx);
/* tls_client_ctx_resume - keep the newest session ticket per peer (up to
 * 64 peers, the oldest replaced) and offer it on the next connection to that
 * peer (tls_client_session_use): a resumed TLS 1.3 handshake still does an
 * ECDHE exchange but no certificate. For channels whose trust does not rest
 * on the certificate (cluster/peer_auth proves a secret on every
 * connection). No-op on a server context. */
void tls_client_ctx_resume(struct tls_ctx *ctx);
/* tls_client_session_use - for a new client SSL of ctx about to connect to
 * peer_key ("ip:port"): offer the ticket kept for it, and remember the key
 * so that tickets this connection receives are kept for it. No-op unless
 * tls_client_ctx_resume was called on ctx. */
void tls_client_session_use(struct tls_ctx *ctx, SSL *ssl, const char *peer_key);
SSL_CTX *tls_ctx_ssl(struct tls_ctx *ctx);
bool tls_ctx_is_server(const struct tls_ctx *ctx);

/* tls_ensure_self_signed - when DIR/cert.pem and DIR/key.pem do not exist,
 * create DIR and write a self-signed certificate for hostname (EC P-256,
 * SAN DNS:hostname + IP:127.0.0.1, 10 years; key mode 0600). Returns the two
 * paths (caller frees). */
int tls_ensure_self_signed(
    const char *dir, const char *hostname, char **cert_out, char **key_out, struct mn_err *err);

#endif
