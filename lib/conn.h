/*
 * conn.h - a TCP connection on the libuv loop, with optional TLS, an input
 * buffer with a hard limit, an output queue, an idle timeout and a global
 * connection limit; and listeners that accept them.
 *
 * Reading model: bytes (decrypted when TLS is on) are appended to
 * conn_input(c) and handler->on_read is called; the protocol parses from
 * the front of that buffer and buf_consume()s what it used. on_read is
 * called again while bytes remain and the previous call consumed some. When the input
 * buffer is full (its max, set per protocol) on_read is still called: the
 * protocol must consume or reply "line too long" and close. Reading stops
 * while conn_pause() is in effect, and automatically while more than
 * CONN_OUT_HIGH_WATER bytes wait to be written (resumed on drain): that is
 * the back-pressure against clients that do not read their replies. That
 * automatic stop is on for accepted conns and off for conn_connect ones (a
 * client that uploads a lot while its server answers would otherwise
 * deadlock with a server doing the same); see conn_set_read_backpressure.
 *
 * Ownership: the listener (or conn_connect) owns the conn; it is freed after
 * handler->on_close returns. Nothing may touch it after on_close. All calls
 * happen on the loop thread.
 */
#ifndef MN_LIB_CONN_H
#define MN_LIB_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/tls.h"

#define CONN_OUT_HIGH_WATER (1024 * 1024)
#define CONN_DEFAULT_INPUT_MAX (64 * 1024)

struct conn;

struct conn_handler {
	/* New data in conn_input(c). */
	void (*on_read)(struct conn *c, void *arg);
	/* The connection is closing (peer EOF, error, timeout, conn_close done);
	 * reason is 0 or a negative MN_E code. Free session state here. */
	void (*on_close)(struct conn *c, void *arg, int reason);
	/* Optional: output that had to wait in the queue has all gone to
	 * the socket (the queue went empty). Not called for writes the
	 * socket took at once: conn_pending_output() stays 0 after those. */
	void (*on_drain)(struct conn *c, void *arg);
	/* Optional: TLS handshake finished (status 0) or failed (<0; the conn
	 * closes after this call). */
	void (*on_tls)(struct conn *c, void *arg, int status);
	/* Optional: idle timeout fired; return true to keep the connection
	 * (e.g. after writing a timeout reply and calling conn_close). When
	 * NULL or false the connection is aborted. */
	bool (*on_timeout)(struct conn *c, void *arg);
};

/* conn_set_handler - h is kept by pointer (normally a static const). */
void conn_set_handler(struct conn *c, const struct conn_handler *h, void *arg);
struct buf *conn_input(struct conn *c);
/* conn_set_input_max - input buffer limit (default CONN_DEFAULT_INPUT_MAX). */
void conn_set_input_max(struct conn *c, size_t max);

/* conn_write - queue bytes (encrypted if TLS is on); MN_ECLOSED once closing. */
int conn_write(struct conn *c, const void *data, size_t len);
int conn_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t conn_pending_output(const struct conn *c);

/* conn_close - stop reading, flush queued output, then close (TLS: with
 * close_notify). The flush waits at most the idle timeout (30 s when none
 * is set); after our FIN the peer's last bytes are read and dropped for up
 * to 2 s so that an RST does not destroy the reply. on_close follows. */
void conn_close(struct conn *c);
/* conn_abort - close now, dropping queued output. on_close still follows
 * from the loop (never from inside conn_abort). */
void conn_abort(struct conn *c);
bool conn_is_closing(const struct conn *c);

/* conn_pause / conn_resume - stop and restart reading and on_read calls.
 * After conn_resume on_read is called again from the loop (not from inside
 * conn_resume) if input holds unconsumed bytes; also call conn_resume after
 * consuming input outside on_read when on_read had left the buffer full,
 * since reading stops while a full buffer is not consumed. */
void conn_pause(struct conn *c);
void conn_resume(struct conn *c);

/* conn_set_idle_timeout - reset on every read and write; 0 disables. */
void conn_set_idle_timeout(struct conn *c, uint32_t ms);

/* conn_starttls - server side STARTTLS: after already queued output (the
 * "220 go ahead") is flushed, start a TLS handshake. Input received but not
 * yet consumed is discarded first (RFC 3207 §4.2 / RFC 2595 command
 * injection); every byte read afterwards is TLS. Output written after this
 * call is held until the handshake is done, then encrypted. on_tls reports
 * the result. MN_EINVAL when TLS is already on or ctx is a client one,
 * MN_ECLOSED when closing. Usually called from on_read: after it the input
 * buffer is empty, so the protocol's parse loop simply ends. */
int conn_starttls(struct conn *c, struct tls_ctx *ctx);
/* conn_client_starttls - client side, sends ClientHello now; servername for
 * SNI/verification may be NULL (an IP literal is verified against the
 * certificate's IP SAN and not sent as SNI). Unconsumed input is discarded
 * as on the server side. With a verifying ctx a bad certificate fails the
 * handshake: on_tls(<0), then the conn closes with MN_ETLS. */
int conn_client_starttls(struct conn *c, struct tls_ctx *ctx, const char *servername);
bool conn_is_tls(const struct conn *c);
/* conn_tls_resumed - the handshake resumed an earlier session (a ticket
 * offered through tls_client_ctx_resume, or accepted from such a client). */
bool conn_tls_resumed(const struct conn *c);
/* conn_tls_info - e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384"; "" when plain. */
const char *conn_tls_info(const struct conn *c);
/* conn_tls_export - RFC 5705 / RFC 8446 §7.5 exporter: len bytes of keying
 * material bound to this TLS session under label (no context). Both ends
 * derive the same bytes, which is how cluster/peer_auth binds its proof of
 * the shared secret to this one connection. MN_ETLS before the handshake
 * finished or on a plain conn. */
int conn_tls_export(struct conn *c, const char *label, unsigned char *out, size_t len);

const char *conn_peer_ip(const struct conn *c);
uint16_t conn_peer_port(const struct conn *c);
uint16_t conn_local_port(const struct conn *c);
bool conn_is_loopback(const struct conn *c);
/* Unique id for logs, e.g. "3f2a9c01". */
const char *conn_id(const struct conn *c);
uv_loop_t *conn_loop(const struct conn *c);
/* conn_set_read_backpressure - turn the automatic stop of reading above
 * CONN_OUT_HIGH_WATER on or off (default: on when accepted, off when made
 * by conn_connect). */
void conn_set_read_backpressure(struct conn *c, bool on);
/* conn_set_sockbuf - SO_SNDBUF / SO_RCVBUF (0 leaves one as is); tests use
 * small kernel buffers to make back-pressure happen deterministically. */
int conn_set_sockbuf(struct conn *c, int sndbuf, int rcvbuf);
/* conn_set_log_service - service name in this conn's log lines (accepted
 * conns get the listener's, outbound ones "conn"), e.g. "smtp-out". */
void conn_set_log_service(struct conn *c, const char *service);

/* --- outbound ----------------------------------------------------------- */

typedef void (*conn_connect_cb)(struct conn *c, int status, void *arg);
/* conn_connect - connect to ip:port (numeric IPv4/IPv6) with a timeout; cb
 * gets the conn (status 0) or NULL and a negative MN_E code. The caller then
 * sets a handler. */
int conn_connect(uv_loop_t *loop, const char *ip, uint16_t port, uint32_t timeout_ms,
    conn_connect_cb cb, void *arg);

/* --- listeners ---------------------------------------------------------- */

struct listener;

struct listener_config {
	const char *service; /* for logs: "smtp", "imaps", "http" ... */
	const char *address; /* numeric IP to bind */
	uint16_t port;
	struct tls_ctx *tls; /* non-NULL: implicit TLS (handshake first) */
	uint32_t idle_timeout_ms;
};

/* Called for each accepted connection (already counted against the global
 * limit). The callback must set a handler; it may write a greeting at once
 * (with implicit TLS it is sent after the handshake). */
typedef void (*listener_accept_cb)(struct conn *c, void *arg);

/* listener_start - bind and listen (SO_REUSEADDR); port 0 picks a free
 * port (see listener_port). cfg->tls must outlive the listener's conns. */
int listener_start(uv_loop_t *loop, const struct listener_config *cfg, listener_accept_cb cb,
    void *arg, struct listener **out, struct mn_err *err);
/* listener_port - the port actually bound (useful with cfg->port 0). */
uint16_t listener_port(const struct listener *l);
/* listener_stop - stop accepting; existing connections continue. */
void listener_stop(struct listener **l);

/* Global limit over all listeners: beyond it new connections are closed at
 * once (logged). 0: unlimited. */
void conn_set_global_limit(uint32_t max);
/* conn_count - accepted connections not yet closed (outbound conns from
 * conn_connect are not counted, nor limited). */
size_t conn_count(void);
/* conn_count_ip - accepted connections from this peer IP (conn_peer_ip
 * form) whose on_close has not run yet, the new one included when called from the
 * accept callback: the building block of per-IP caps (SPEC §10), e.g. reply
 * "421 too many connections" and conn_close when above the cap. O(n). */
size_t conn_count_ip(const char *ip);
/* conn_close_all - conn_close() every open connection (shutdown). */
void conn_close_all(void);

#endif
