/*
 * conn.c - TCP connections on the libuv loop: bounded input, write queue
 * with back-pressure, idle timer, graceful close, and TLS through two memory
 * BIOs so that plain and TLS sessions share all protocol code.
 *
 * Owns struct conn and every libuv/OpenSSL object inside it; they are freed
 * only in the close callbacks (never while libuv may still call us back).
 * Lifecycle: CONNECTING (outbound only) -> OPEN -> CLOSING (conn_close:
 * flushing) -> SHUTDOWN (FIN sent, draining the peer's last bytes so that
 * our reply is not destroyed by an RST) -> CLOSED (uv_close issued) -> the
 * last close callback calls handler->on_close exactly once and frees.
 *
 * TLS (RFC 8446/5246 via OpenSSL): ciphertext from the socket goes into the
 * read BIO, SSL_read() fills conn_input(); conn_write() goes through
 * SSL_write() and the write BIO is drained into the same uv_write queue as
 * plain bytes, so output order is preserved across a STARTTLS upgrade.
 * Plaintext written before the handshake is done waits in tls_plain.
 * STARTTLS (RFC 3207 §4.2, RFC 2595 §3.1, RFC 2449): unconsumed input is
 * discarded when the upgrade starts; everything read afterwards is TLS.
 *
 * Writes and reads cost syscalls, not copies: a write first tries the
 * socket directly (uv_try_write) and only what the kernel did not take is
 * copied into a uv_write request (a request that completes also makes
 * libuv re-arm the fd in epoll: one more syscall per write); reads land in
 * one per-thread buffer and only bytes the protocol leaves unconsumed are
 * copied to the heap. A proxied IMAP command crosses four sockets on the
 * relaying node (cluster/proxy), so this is most of its cost.
 *
 * Listeners (accept, global connection limit) live here too: they share the
 * connection list and counters.
 */
#include "lib/conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "lib/log.h"
#include "lib/xalloc.h"

/* One socket read; also the largest chunk handed to SSL at once. */
#define CONN_READ_CHUNK (64 * 1024)
/* conn_close() waits at most this long for the peer to take our output
 * when no idle timeout is set (a client that never reads). */
#define CONN_CLOSE_FLUSH_MS 30000
/* After our FIN, how long we read and discard the peer's last bytes. */
#define CONN_LINGER_MS 2000
#define LISTEN_BACKLOG 511

enum conn_state {
	CONN_CONNECTING,
	CONN_OPEN,
	CONN_CLOSING,
	CONN_SHUTDOWN,
	CONN_CLOSED,
};

struct conn_wreq {
	uv_write_t req;
	struct conn *c;
	size_t len;
	char data[];
};

struct conn {
	uv_tcp_t tcp;
	uv_timer_t timer; /* idle / connect / flush / linger timeout */
	uv_timer_t kick;  /* deferred re-delivery after conn_resume */
	uv_shutdown_t shut;
	uv_loop_t *loop;
	enum conn_state state;
	int reason;
	int open_handles;

	const struct conn_handler *h;
	void *arg;
	bool announced; /* given to the user: on_close is owed */
	bool inbound;   /* counted against the global limit */

	struct buf in;
	char *rdbuf; /* plain: socket bytes that did not fit into `in` yet
	              * (conn_rbuf during conn_read_cb, else the heap) */
	size_t rd_off, rd_len;
	bool reading, paused, bp, eof, delivering, redeliver;
	bool bp_enabled; /* stop reading above CONN_OUT_HIGH_WATER */

	size_t out_raw; /* bytes in uv_write requests not completed */
	unsigned nwreq;
	uint32_t idle_ms;
	uint64_t bytes_in, bytes_out;

	SSL *ssl;
	BIO *rbio, *wbio; /* owned by ssl */
	bool tls_done;
	bool tls_shutdown_sent;
	struct buf tls_plain; /* written before the handshake finished */
	char tls_info[96];

	/* conn_connect */
	conn_connect_cb connect_cb;
	void *connect_arg;
	uv_connect_t connect_req;
	bool connect_timed_out;

	struct sockaddr_storage peer;
	char peer_ip[INET6_ADDRSTRLEN];
	uint16_t peer_port, local_port;
	char id[12];
	char service[24];

	struct conn *prev, *next;
};

struct listener {
	uv_tcp_t tcp;
	uv_loop_t *loop;
	char service[24];
	char address[INET6_ADDRSTRLEN];
	uint16_t port;
	struct tls_ctx *tls;
	uint32_t idle_ms;
	listener_accept_cb cb;
	void *arg;
};

static const struct conn_handler null_handler;
/* Every socket read lands in conn_rbuf (libuv reads, we copy out at
 * once); conn_tls_flush stages ciphertext in conn_wbuf (apart: a relay
 * writes to a TLS conn while a plain conn's bytes are still in conn_rbuf).
 * Per thread, since each loop runs on one. */
static _Thread_local char conn_rbuf[CONN_READ_CHUNK];
static _Thread_local char conn_wbuf[CONN_READ_CHUNK];
static struct conn *conn_list;
static size_t n_inbound;
static uint32_t global_limit;
static uint32_t next_id;
static bool next_id_seeded;

static void conn_update_reading(struct conn *c);
static void conn_deliver(struct conn *c);
static void conn_close_handles(struct conn *c, int reason);
static void conn_tls_flush(struct conn *c);
static void conn_begin_closing(struct conn *c, int reason);

/* --- small helpers ------------------------------------------------------ */

static const char *
uv_errname(int e)
{
	return uv_err_name(e);
}

static void conn_timer_cb(uv_timer_t *t);

static void
conn_touch(struct conn *c)
{
	if (c->state == CONN_OPEN && c->idle_ms > 0)
		uv_timer_start(&c->timer, conn_timer_cb, c->idle_ms, 0);
}

/* conn_flush_timer - while closing, give up on a peer that takes none of
 * our output for the idle timeout (30 s when none is set). */
static void
conn_flush_timer(struct conn *c)
{
	uv_timer_start(&c->timer, conn_timer_cb, c->idle_ms ? c->idle_ms : CONN_CLOSE_FLUSH_MS, 0);
}

static size_t
conn_out_total(const struct conn *c)
{
	return c->out_raw + c->tls_plain.len;
}

/* conn_rdbuf_drop - forget the pending plain bytes (conn_rbuf is not ours
 * to free). */
static void
conn_rdbuf_drop(struct conn *c)
{
	if (c->rdbuf != conn_rbuf)
		free(c->rdbuf);
	c->rdbuf = NULL;
	c->rd_off = c->rd_len = 0;
}

static void
sockaddr_fill(struct conn *c)
{
	struct sockaddr_storage local;
	int len = sizeof(c->peer);

	memset(&c->peer, 0, sizeof(c->peer));
	c->peer_ip[0] = '\0';
	c->peer_port = c->local_port = 0;
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &len) == 0) {
		if (c->peer.ss_family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&c->peer;

			uv_ip4_name(s4, c->peer_ip, sizeof(c->peer_ip));
			c->peer_port = ntohs(s4->sin_port);
		} else if (c->peer.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&c->peer;

			/* Dual-stack listeners see v4 clients as ::ffff:a.b.c.d;
			 * logs and per-IP limits want the plain v4 form. */
			if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
				inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], c->peer_ip,
				    sizeof(c->peer_ip));
			else
				uv_ip6_name(s6, c->peer_ip, sizeof(c->peer_ip));
			c->peer_port = ntohs(s6->sin6_port);
		}
	}
	len = sizeof(local);
	if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&local, &len) == 0) {
		if (local.ss_family == AF_INET)
			c->local_port = ntohs(((struct sockaddr_in *)&local)->sin_port);
		else if (local.ss_family == AF_INET6)
			c->local_port = ntohs(((struct sockaddr_in6 *)&local)->sin6_port);
	}
}

static void
conn_assign_id(struct conn *c)
{
	/* A random start makes ids from different runs and nodes unlikely to
	 * collide in merged logs; the counter makes them unique per process. */
	if (!next_id_seeded) {
		if (getrandom(&next_id, sizeof(next_id), 0) != sizeof(next_id))
			next_id = (uint32_t)uv_hrtime();
		next_id_seeded = true;
	}
	snprintf(c->id, sizeof(c->id), "%08x", next_id++);
}

static struct conn *
conn_new(uv_loop_t *loop, const char *service)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->loop = loop;
	c->h = &null_handler;
	buf_init(&c->in, CONN_DEFAULT_INPUT_MAX);
	buf_init(&c->tls_plain, 0);
	snprintf(c->service, sizeof(c->service), "%s", service);
	uv_tcp_init(loop, &c->tcp);
	uv_timer_init(loop, &c->timer);
	uv_timer_init(loop, &c->kick);
	c->tcp.data = c->timer.data = c->kick.data = c;
	c->open_handles = 3;
	c->state = CONN_OPEN;
	c->next = conn_list;
	if (conn_list)
		conn_list->prev = c;
	conn_list = c;
	return c;
}

static void
conn_destroy(struct conn *c)
{
	/* Unlinked first: on_close sees conn_count() without this conn. */
	if (c->prev)
		c->prev->next = c->next;
	else
		conn_list = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->inbound)
		n_inbound--;
	if (c->announced) {
		log_debug(c->service,
		    "cid=%s event=close peer=%s:%u reason=\"%s\" in=%llu out=%llu", c->id,
		    c->peer_ip, c->peer_port, mn_strerror(c->reason),
		    (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out);
		if (c->h->on_close)
			c->h->on_close(c, c->arg, c->reason);
	}
	SSL_free(c->ssl); /* frees both BIOs */
	buf_fini(&c->in);
	buf_fini(&c->tls_plain);
	conn_rdbuf_drop(c);
	free(c);
}

static void
conn_handle_closed_cb(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (--c->open_handles == 0)
		conn_destroy(c);
}

/* conn_close_handles - the end: no more I/O; pending writes and the
 * shutdown request get UV_ECANCELED before the close callbacks run. */
static void
conn_close_handles(struct conn *c, int reason)
{
	if (c->state == CONN_CLOSED)
		return;
	if (c->reason == 0)
		c->reason = reason;
	c->state = CONN_CLOSED;
	c->reading = false;
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed_cb);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed_cb);
	uv_close((uv_handle_t *)&c->kick, conn_handle_closed_cb);
}

/* --- writing ------------------------------------------------------------ */

static void conn_shutdown_start(struct conn *c);

static void
conn_write_cb(uv_write_t *req, int status)
{
	struct conn_wreq *w = (struct conn_wreq *)req;
	struct conn *c = w->c;

	c->out_raw -= w->len;
	c->nwreq--;
	free(w);
	if (c->state == CONN_CLOSED)
		return;
	if (status < 0) {
		if (status != UV_EPIPE && status != UV_ECONNRESET)
			log_warn(c->service, "cid=%s event=write_error peer=%s error=%s", c->id,
			    c->peer_ip, uv_errname(status));
		conn_close_handles(c, MN_EIO);
		return;
	}
	conn_touch(c);
	if (c->state == CONN_CLOSING) /* the flush deadline counts from progress */
		conn_flush_timer(c);
	if (c->out_raw > 0)
		return;
	if (c->state == CONN_CLOSING) {
		conn_shutdown_start(c);
		return;
	}
	if (c->state != CONN_OPEN)
		return;
	if (c->bp && conn_out_total(c) == 0) {
		c->bp = false;
		conn_update_reading(c);
	}
	if (conn_out_total(c) == 0 && c->h->on_drain)
		c->h->on_drain(c, c->arg);
}

/* conn_queue - hand a filled request to libuv; its buffer stays alive
 * until conn_write_cb. */
static void
conn_queue(struct conn *c, struct conn_wreq *w)
{
	uv_buf_t b = uv_buf_init(w->data, (unsigned int)w->len);
	int rc;

	w->c = c;
	if ((rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, conn_write_cb)) < 0) {
		free(w);
		log_warn(c->service, "cid=%s event=write_error peer=%s error=%s", c->id, c->peer_ip,
		    uv_errname(rc));
		conn_close_handles(c, MN_EIO);
		return;
	}
	c->out_raw += w->len;
	c->nwreq++;
	c->bytes_out += w->len;
}

/* conn_raw_write - send bytes as they are (plain text, or ciphertext
 * already produced by SSL): straight to the socket when nothing is queued
 * before them, the rest (or all, behind earlier output) copied into
 * uv_write requests. A try that fails leaves the error to uv_write, which
 * reports it from the loop as before. uv_buf_t lengths are 32-bit. */
static void
conn_raw_write(struct conn *c, const void *data, size_t len)
{
	const char *p = data;

	if (c->nwreq == 0 && c->state != CONN_CLOSED && c->state != CONN_CONNECTING) {
		uv_buf_t b = uv_buf_init((char *)p, len > (1u << 30) ? (1u << 30) : (unsigned)len);
		int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);

		if (n > 0) {
			c->bytes_out += (size_t)n;
			p += n;
			len -= (size_t)n;
		}
	}

	while (len > 0 && c->state != CONN_CLOSED) {
		size_t n = len > (1u << 30) ? (1u << 30) : len;
		struct conn_wreq *w = xmalloc(sizeof(*w) + n);

		w->len = n;
		memcpy(w->data, p, n);
		conn_queue(c, w);
		p += n;
		len -= n;
	}
}

static void
conn_check_high_water(struct conn *c)
{
	if (c->bp_enabled && !c->bp && conn_out_total(c) > CONN_OUT_HIGH_WATER) {
		c->bp = true;
		conn_update_reading(c);
	}
}

/* conn_tls_flush - move ciphertext from the write BIO to the socket,
 * through conn_wbuf (conn_raw_write copies what the socket does not take
 * at once). */
static void
conn_tls_flush(struct conn *c)
{
	size_t pending;

	while (c->state != CONN_CLOSED && c->wbio && (pending = BIO_ctrl_pending(c->wbio)) > 0) {
		int got = BIO_read(c->wbio, conn_wbuf,
		    (int)(pending > sizeof(conn_wbuf) ? sizeof(conn_wbuf) : pending));

		if (got <= 0)
			break;
		conn_raw_write(c, conn_wbuf, (size_t)got);
	}
}

static void
conn_tls_error(struct conn *c, const char *what)
{
	char e[200];
	unsigned long code = ERR_peek_last_error();

	if (code)
		ERR_error_string_n(code, e, sizeof(e));
	else
		snprintf(e, sizeof(e), "protocol error");
	ERR_clear_error();
	if (c->ssl && SSL_get_verify_result(c->ssl) != X509_V_OK)
		log_warn(c->service,
		    "cid=%s event=tls_error peer=%s during=%s error=\"%s\" verify=\"%s\"", c->id,
		    c->peer_ip, what, e,
		    X509_verify_cert_error_string(SSL_get_verify_result(c->ssl)));
	else
		log_warn(c->service, "cid=%s event=tls_error peer=%s during=%s error=\"%s\"", c->id,
		    c->peer_ip, what, e);
}

int
conn_write(struct conn *c, const void *data, size_t len)
{
	if (c->state != CONN_OPEN)
		return MN_ECLOSED;
	if (len == 0)
		return 0;
	if (c->ssl && !c->tls_done) {
		buf_append(&c->tls_plain, data, len); /* unlimited: our own output */
	} else if (c->ssl) {
		size_t written;

		if (SSL_write_ex(c->ssl, data, len, &written) != 1) {
			conn_tls_error(c, "write");
			conn_close_handles(c, MN_ETLS);
			return MN_ETLS;
		}
		conn_tls_flush(c);
	} else {
		conn_raw_write(c, data, len);
	}
	if (c->state == CONN_CLOSED)
		return MN_ECLOSED;
	conn_touch(c);
	conn_check_high_water(c);
	return 0;
}

int
conn_printf(struct conn *c, const char *fmt, ...)
{
	char small[512], *p = small;
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return MN_EINVAL;
	if ((size_t)n >= sizeof(small)) {
		p = xmalloc((size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(p, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	rc = conn_write(c, p, (size_t)n);
	if (p != small)
		free(p); // cppcheck-suppress autovarInvalidDeallocation ; p is heap here
	return rc;
}

size_t
conn_pending_output(const struct conn *c)
{
	return conn_out_total(c);
}

/* --- closing ------------------------------------------------------------ */

static void
conn_linger_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct conn *c = s->data;

	free(b->base);
	if (nread < 0 && c->state == CONN_SHUTDOWN)
		conn_close_handles(c, 0);
}

static void
conn_linger_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	b->base = xmalloc(4096);
	b->len = 4096;
}

static void
conn_shutdown_cb(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;

	if (c->state != CONN_SHUTDOWN)
		return;
	if (status < 0) {
		conn_close_handles(c, 0);
		return;
	}
	/* Read and drop until the peer's EOF: closing with unread bytes in
	 * the receive queue sends an RST, which can destroy our last reply
	 * in the peer's buffer (a pipelined "QUIT" + more). */
	uv_read_stop((uv_stream_t *)&c->tcp);
	if (uv_read_start((uv_stream_t *)&c->tcp, conn_linger_alloc_cb, conn_linger_read_cb) < 0)
		conn_close_handles(c, 0);
}

static void
conn_shutdown_start(struct conn *c)
{
	c->state = CONN_SHUTDOWN;
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->reading = false;
	uv_timer_start(&c->timer, conn_timer_cb, CONN_LINGER_MS, 0);
	c->shut.data = c;
	if (c->eof || uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, conn_shutdown_cb) < 0)
		conn_close_handles(c, 0);
}

/* conn_begin_closing - stop reading, flush, then shut down. */
static void
conn_begin_closing(struct conn *c, int reason)
{
	if (c->state != CONN_OPEN)
		return;
	if (c->reason == 0)
		c->reason = reason;
	if (c->ssl && c->tls_done && !c->tls_shutdown_sent) {
		/* close_notify (RFC 8446 §6.1) so the peer knows nothing was cut. */
		c->tls_shutdown_sent = true;
		SSL_shutdown(c->ssl);
		ERR_clear_error();
		conn_tls_flush(c);
		if (c->state == CONN_CLOSED)
			return;
	}
	/* Plaintext that never got its handshake cannot be sent. */
	buf_reset(&c->tls_plain);
	c->state = CONN_CLOSING;
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->reading = false;
	uv_timer_stop(&c->kick);
	conn_flush_timer(c);
	if (c->out_raw == 0)
		conn_shutdown_start(c);
}

void
conn_close(struct conn *c)
{
	conn_begin_closing(c, 0);
}

void
conn_abort(struct conn *c)
{
	if (c->state == CONN_CONNECTING)
		return;
	conn_close_handles(c, 0);
}

bool
conn_is_closing(const struct conn *c)
{
	return c->state != CONN_OPEN;
}

/* --- timers ------------------------------------------------------------- */

static void
conn_timer_cb(uv_timer_t *t)
{
	struct conn *c = t->data;

	switch (c->state) {
	case CONN_CONNECTING:
		c->connect_timed_out = true;
		conn_close_handles(c, MN_ETIMEDOUT); /* connect_cb gets ECANCELED */
		break;
	case CONN_OPEN:
		log_debug(c->service, "cid=%s event=idle_timeout peer=%s", c->id, c->peer_ip);
		if (c->h->on_timeout && c->h->on_timeout(c, c->arg)) {
			if (c->state == CONN_OPEN)
				conn_touch(c);
			return;
		}
		conn_close_handles(c, MN_ETIMEDOUT);
		break;
	case CONN_CLOSING:
		log_debug(c->service, "cid=%s event=flush_timeout peer=%s pending=%zu", c->id,
		    c->peer_ip, c->out_raw);
		conn_close_handles(c, MN_ETIMEDOUT);
		break;
	case CONN_SHUTDOWN:
		conn_close_handles(c, 0);
		break;
	case CONN_CLOSED:
		break;
	}
}

void
conn_set_idle_timeout(struct conn *c, uint32_t ms)
{
	c->idle_ms = ms;
	if (c->state != CONN_OPEN)
		return;
	if (ms == 0)
		uv_timer_stop(&c->timer);
	else
		conn_touch(c);
}

/* --- reading ------------------------------------------------------------ */

static bool
conn_want_read(const struct conn *c)
{
	if (c->state != CONN_OPEN || c->eof || c->paused)
		return false;
	/* During the handshake the high-water mark is ignored: plaintext
	 * queued before it can only drain once the handshake reads on. */
	if (c->ssl && !c->tls_done)
		return true;
	if (c->bp)
		return false;
	if (c->ssl) /* stop while the protocol has not made room */
		return c->in.max == 0 || c->in.len < c->in.max;
	return c->rd_off == c->rd_len;
}

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);

static void
conn_update_reading(struct conn *c)
{
	bool want = conn_want_read(c);

	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb) == 0)
			c->reading = true;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
}

static size_t
conn_input_space(const struct conn *c)
{
	if (c->in.max == 0)
		return CONN_READ_CHUNK;
	return c->in.len < c->in.max ? c->in.max - c->in.len : 0;
}

/* conn_fill - move available bytes into the input buffer as far as it has
 * room; returns how many. May close the conn on a TLS error. */
static size_t
conn_fill(struct conn *c)
{
	size_t space = conn_input_space(c), added = 0;

	if (!c->ssl) {
		size_t n = c->rd_len - c->rd_off;

		if (n > space)
			n = space;
		if (n == 0)
			return 0;
		buf_append(&c->in, c->rdbuf + c->rd_off, n);
		c->rd_off += n;
		if (c->rd_off == c->rd_len)
			conn_rdbuf_drop(c);
		return n;
	}
	if (!c->tls_done)
		return 0;
	while (space > 0) {
		size_t n = 0;
		int rc, e;

		if (buf_reserve(&c->in, space) < 0)
			break;
		rc = SSL_read_ex(c->ssl, c->in.data + c->in.len, space, &n);
		if (rc == 1) {
			c->in.len += n;
			added += n;
			space -= n;
			continue;
		}
		e = SSL_get_error(c->ssl, rc);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			break;
		if (e == SSL_ERROR_ZERO_RETURN) {
			/* close_notify: like EOF, after delivering what we have. */
			c->eof = true;
			break;
		}
		conn_tls_error(c, "read");
		conn_tls_flush(c);
		conn_close_handles(c, MN_ETLS);
		return added;
	}
	conn_tls_flush(c); /* SSL_read may answer a KeyUpdate */
	return added;
}

/* conn_deliver - fill the input and call on_read while there is news:
 * new bytes, or unconsumed bytes after a call that consumed something (so
 * a protocol that handles one command per call still sees the rest). A
 * full input buffer that on_read leaves untouched stops the loop (and
 * reading) until conn_resume(). */
static void
conn_deliver(struct conn *c)
{
	bool progress = false;

	if (c->delivering)
		return;
	c->delivering = true;
	for (;;) {
		size_t added, before;

		if (c->state != CONN_OPEN || c->paused)
			break;
		added = conn_fill(c);
		if (c->state != CONN_OPEN)
			break;
		if (added == 0 && !c->redeliver && !progress)
			break;
		c->redeliver = false;
		if (c->in.len == 0 || c->h->on_read == NULL)
			break;
		before = c->in.len;
		c->h->on_read(c, c->arg);
		progress = c->in.len < before;
		if (!progress && conn_input_space(c) == 0)
			break; /* full and nothing consumed: wait for conn_resume */
	}
	c->delivering = false;
	if (c->state == CONN_OPEN && c->eof)
		conn_begin_closing(c, 0);
	else
		conn_update_reading(c);
}

static void
conn_tls_handshake(struct conn *c)
{
	int rc, e;

	if (c->tls_done || c->state != CONN_OPEN)
		return;
	rc = SSL_do_handshake(c->ssl);
	conn_tls_flush(c);
	if (c->state != CONN_OPEN)
		return;
	if (rc == 1) {
		c->tls_done = true;
		snprintf(c->tls_info, sizeof(c->tls_info), "%s %s", SSL_get_version(c->ssl),
		    SSL_get_cipher_name(c->ssl));
		log_debug(c->service, "cid=%s event=tls peer=%s tls=\"%s\"", c->id, c->peer_ip,
		    c->tls_info);
		/* Queued plaintext goes first so that on_tls writes follow it. */
		if (c->tls_plain.len > 0) {
			size_t written;

			if (SSL_write_ex(c->ssl, c->tls_plain.data, c->tls_plain.len, &written) !=
			    1) {
				conn_tls_error(c, "write");
				conn_close_handles(c, MN_ETLS);
				return;
			}
			buf_reset(&c->tls_plain);
			conn_tls_flush(c);
			if (c->state != CONN_OPEN)
				return;
		}
		if (c->h->on_tls)
			c->h->on_tls(c, c->arg, 0);
		return;
	}
	e = SSL_get_error(c->ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return;
	conn_tls_error(c, "handshake");
	if (c->h->on_tls)
		c->h->on_tls(c, c->arg, MN_ETLS);
	/* Send our alert, then close. */
	if (c->state == CONN_OPEN) {
		buf_reset(&c->tls_plain);
		conn_begin_closing(c, MN_ETLS);
	}
}

static void
conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	(void)h;
	(void)suggested;
	b->base = conn_rbuf;
	b->len = CONN_READ_CHUNK;
}

static void
conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct conn *c = s->data;

	(void)b; /* conn_rbuf */
	if (nread <= 0 || c->state != CONN_OPEN) {
		if (nread == 0 || c->state != CONN_OPEN)
			return;
		if (nread == UV_EOF) {
			c->eof = true;
			conn_update_reading(c);
			conn_begin_closing(c, 0);
			return;
		}
		if (nread != UV_ECONNRESET)
			log_warn(c->service, "cid=%s event=read_error peer=%s error=%s", c->id,
			    c->peer_ip, uv_errname((int)nread));
		conn_close_handles(c, MN_EIO);
		return;
	}
	c->bytes_in += (size_t)nread;
	conn_touch(c);
	if (c->ssl) {
		BIO_write(c->rbio, conn_rbuf, (int)nread);
		if (!c->tls_done) {
			conn_tls_handshake(c);
			if (c->state != CONN_OPEN)
				return;
		}
	} else {
		/* Not reading while rdbuf holds bytes (conn_want_read). */
		conn_rdbuf_drop(c);
		c->rdbuf = conn_rbuf;
		c->rd_off = 0;
		c->rd_len = (size_t)nread;
	}
	conn_deliver(c);
	if (c->rdbuf == conn_rbuf) {
		/* the protocol left some (paused, input full): keep them, the
		 * next read reuses conn_rbuf */
		size_t left = c->rd_len - c->rd_off;
		char *keep = left > 0 && c->state != CONN_CLOSED ? xmalloc(left) : NULL;

		if (keep != NULL)
			memcpy(keep, conn_rbuf + c->rd_off, left);
		c->rdbuf = keep;
		c->rd_off = 0;
		c->rd_len = keep != NULL ? left : 0;
	}
}

static void
conn_kick_cb(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (c->state != CONN_OPEN)
		return;
	c->redeliver = c->in.len > 0;
	conn_deliver(c);
}

void
conn_pause(struct conn *c)
{
	c->paused = true;
	conn_update_reading(c);
}

void
conn_resume(struct conn *c)
{
	c->paused = false;
	if (c->state != CONN_OPEN)
		return;
	/* Not from inside the caller's stack: on_read is not reentrant. */
	uv_timer_start(&c->kick, conn_kick_cb, 0, 0);
	conn_update_reading(c);
}

/* --- accessors ---------------------------------------------------------- */

void
conn_set_handler(struct conn *c, const struct conn_handler *h, void *arg)
{
	c->h = h ? h : &null_handler;
	c->arg = arg;
}

struct buf *
conn_input(struct conn *c)
{
	return &c->in;
}

void
conn_set_input_max(struct conn *c, size_t max)
{
	c->in.max = max;
}

void
conn_set_read_backpressure(struct conn *c, bool on)
{
	c->bp_enabled = on;
	if (!on && c->bp) {
		c->bp = false;
		conn_update_reading(c);
	}
}

int
conn_set_sockbuf(struct conn *c, int sndbuf, int rcvbuf)
{
	if (c->state != CONN_OPEN)
		return MN_ECLOSED;
	if (sndbuf > 0 && uv_send_buffer_size((uv_handle_t *)&c->tcp, &sndbuf) < 0)
		return MN_EIO;
	if (rcvbuf > 0 && uv_recv_buffer_size((uv_handle_t *)&c->tcp, &rcvbuf) < 0)
		return MN_EIO;
	return 0;
}

void
conn_set_log_service(struct conn *c, const char *service)
{
	snprintf(c->service, sizeof(c->service), "%s", service);
}

bool
conn_is_tls(const struct conn *c)
{
	return c->ssl != NULL && c->tls_done;
}

bool
conn_tls_resumed(const struct conn *c)
{
	return conn_is_tls(c) && SSL_session_reused(c->ssl) == 1;
}

const char *
conn_tls_info(const struct conn *c)
{
	return conn_is_tls(c) ? c->tls_info : "";
}

int
conn_tls_export(struct conn *c, const char *label, unsigned char *out, size_t len)
{
	if (c->ssl == NULL || !c->tls_done)
		return MN_ETLS;
	if (SSL_export_keying_material(c->ssl, out, len, label, strlen(label), NULL, 0, 0) != 1)
		return MN_ETLS;
	return 0;
}

const char *
conn_peer_ip(const struct conn *c)
{
	return c->peer_ip;
}

uint16_t
conn_peer_port(const struct conn *c)
{
	return c->peer_port;
}

uint16_t
conn_local_port(const struct conn *c)
{
	return c->local_port;
}

bool
conn_is_loopback(const struct conn *c)
{
	if (c->peer.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&c->peer;

		return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	}
	if (c->peer.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&c->peer;

		if (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && s6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

const char *
conn_id(const struct conn *c)
{
	return c->id;
}

uv_loop_t *
conn_loop(const struct conn *c)
{
	return c->loop;
}

/* --- TLS start ---------------------------------------------------------- */

static int
conn_tls_setup(struct conn *c, struct tls_ctx *ctx)
{
	if ((c->ssl = SSL_new(tls_ctx_ssl(ctx))) == NULL) {
		conn_tls_error(c, "setup");
		return MN_ETLS;
	}
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (c->rbio == NULL || c->wbio == NULL) {
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		SSL_free(c->ssl);
		c->ssl = NULL;
		c->rbio = c->wbio = NULL;
		return MN_ETLS;
	}
	/* Empty read BIO = "try again", not EOF. */
	BIO_set_mem_eof_return(c->rbio, -1);
	BIO_set_mem_eof_return(c->wbio, -1);
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	c->tls_done = false;
	return 0;
}

/* Input the peer sent before the upgrade is plain text that must not be
 * taken as TLS or as commands after it (RFC 3207 §4.2). */
static void
conn_discard_input(struct conn *c)
{
	buf_reset(&c->in);
	conn_rdbuf_drop(c);
}

int
conn_starttls(struct conn *c, struct tls_ctx *ctx)
{
	int rc;

	if (c->state != CONN_OPEN)
		return MN_ECLOSED;
	if (c->ssl || !tls_ctx_is_server(ctx))
		return MN_EINVAL;
	conn_discard_input(c);
	/* Already queued plain output (the "220 Ready to start TLS") stays
	 * ahead of any ciphertext in the same uv_write queue; a server says
	 * nothing until the ClientHello arrives, so the handshake starts
	 * after that reply in any case. */
	if ((rc = conn_tls_setup(c, ctx)) < 0)
		return rc;
	SSL_set_accept_state(c->ssl);
	conn_update_reading(c);
	return 0;
}

int
conn_client_starttls(struct conn *c, struct tls_ctx *ctx, const char *servername)
{
	unsigned char tmp[16];
	bool is_ip = false;
	int rc;

	if (c->state != CONN_OPEN)
		return MN_ECLOSED;
	if (c->ssl || tls_ctx_is_server(ctx))
		return MN_EINVAL;
	conn_discard_input(c);
	if ((rc = conn_tls_setup(c, ctx)) < 0)
		return rc;
	SSL_set_connect_state(c->ssl);
	{
		char key[INET6_ADDRSTRLEN + 8];

		snprintf(key, sizeof(key), "%s:%u", c->peer_ip, c->peer_port);
		tls_client_session_use(ctx, c->ssl, key);
	}
	if (servername && *servername) {
		is_ip = inet_pton(AF_INET, servername, tmp) == 1 ||
		        inet_pton(AF_INET6, servername, tmp) == 1;
		/* RFC 6066 §3: SNI carries host names only, never literals. */
		if (!is_ip)
			SSL_set_tlsext_host_name(c->ssl, servername);
		if (SSL_CTX_get_verify_mode(tls_ctx_ssl(ctx)) & SSL_VERIFY_PEER) {
			if (is_ip)
				X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), servername);
			else
				SSL_set1_host(c->ssl, servername);
		}
	}
	conn_tls_handshake(c); /* sends the ClientHello */
	if (c->state == CONN_OPEN)
		conn_update_reading(c);
	return 0;
}

/* --- global list -------------------------------------------------------- */

void
conn_set_global_limit(uint32_t max)
{
	global_limit = max;
}

size_t
conn_count(void)
{
	return n_inbound;
}

size_t
conn_count_ip(const char *ip)
{
	size_t n = 0;

	for (struct conn *c = conn_list; c; c = c->next)
		if (c->inbound && strcmp(c->peer_ip, ip) == 0)
			n++;
	return n;
}

void
conn_close_all(void)
{
	struct conn *c, *next;

	for (c = conn_list; c; c = next) {
		next = c->next;
		if (c->state == CONN_OPEN)
			conn_close(c);
	}
}

/* --- outbound ----------------------------------------------------------- */

static void
conn_connect_done_cb(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	conn_connect_cb cb = c->connect_cb;
	void *arg = c->connect_arg;

	if (status < 0 || c->state != CONN_CONNECTING) {
		int code = c->connect_timed_out ? MN_ETIMEDOUT : MN_EIO;

		log_debug(c->service, "event=connect_failed error=%s",
		    c->connect_timed_out ? "timeout" : uv_errname(status));
		conn_close_handles(c, code); /* no-op when already closing */
		cb(NULL, code, arg);
		return;
	}
	c->state = CONN_OPEN;
	uv_timer_stop(&c->timer);
	sockaddr_fill(c);
	conn_assign_id(c);
	c->announced = true;
	log_debug(c->service, "cid=%s event=connect peer=%s:%u", c->id, c->peer_ip, c->peer_port);
	cb(c, 0, arg);
	if (c->state == CONN_OPEN) {
		conn_touch(c);
		conn_update_reading(c);
	}
}

static int
parse_addr(const char *ip, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':'))
		return uv_ip6_addr(ip, port, (struct sockaddr_in6 *)ss) == 0 ? 0 : MN_EINVAL;
	if (uv_inet_pton(AF_INET, ip, &((struct sockaddr_in *)ss)->sin_addr) != 0)
		return MN_EINVAL;
	return uv_ip4_addr(ip, port, (struct sockaddr_in *)ss) == 0 ? 0 : MN_EINVAL;
}

int
conn_connect(uv_loop_t *loop, const char *ip, uint16_t port, uint32_t timeout_ms,
    conn_connect_cb cb, void *arg)
{
	struct sockaddr_storage ss;
	struct conn *c;
	int rc;

	if (parse_addr(ip, port, &ss) < 0 || port == 0)
		return MN_EINVAL;
	c = conn_new(loop, "conn");
	c->state = CONN_CONNECTING;
	c->connect_cb = cb;
	c->connect_arg = arg;
	c->connect_req.data = c;
	if ((rc = uv_tcp_connect(
	         &c->connect_req, &c->tcp, (struct sockaddr *)&ss, conn_connect_done_cb)) < 0) {
		log_debug(
		    "conn", "event=connect_failed peer=%s:%u error=%s", ip, port, uv_errname(rc));
		conn_close_handles(c, MN_EIO);
		return MN_EIO;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	if (timeout_ms > 0)
		uv_timer_start(&c->timer, conn_timer_cb, timeout_ms, 0);
	return 0;
}

/* --- listeners ---------------------------------------------------------- */

static void
reject_closed_cb(uv_handle_t *h)
{
	free(h);
}

static void
listener_connection_cb(uv_stream_t *server, int status)
{
	struct listener *l = server->data;
	struct conn *c;

	if (status < 0) {
		log_warn(l->service, "event=accept_error error=%s", uv_errname(status));
		return;
	}
	if (global_limit > 0 && n_inbound >= global_limit) {
		/* Closed at once: an over-limit client gets a reset/EOF instead
		 * of a session we cannot serve. */
		uv_tcp_t *t = xmalloc(sizeof(*t));
		struct sockaddr_storage ss;
		char ip[INET6_ADDRSTRLEN] = "?";
		int len = sizeof(ss);

		uv_tcp_init(l->loop, t);
		if (uv_accept(server, (uv_stream_t *)t) == 0 &&
		    uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len) == 0) {
			if (ss.ss_family == AF_INET)
				uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
			else
				uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
		}
		log_warn(l->service, "event=conn_limit peer=%s limit=%u", ip, global_limit);
		uv_close((uv_handle_t *)t, reject_closed_cb);
		return;
	}
	c = conn_new(l->loop, l->service);
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		conn_close_handles(c, MN_EIO);
		return;
	}
	c->inbound = true;
	c->bp_enabled = true;
	n_inbound++;
	uv_tcp_nodelay(&c->tcp, 1);
	sockaddr_fill(c);
	conn_assign_id(c);
	c->announced = true;
	c->idle_ms = l->idle_ms;
	log_debug(c->service, "cid=%s event=accept peer=%s:%u port=%u tls=%s", c->id, c->peer_ip,
	    c->peer_port, c->local_port, l->tls ? "implicit" : "no");
	if (l->tls) {
		if (conn_tls_setup(c, l->tls) < 0) {
			conn_close_handles(c, MN_ETLS);
			return;
		}
		SSL_set_accept_state(c->ssl);
	}
	conn_touch(c);
	l->cb(c, l->arg);
	if (c->state == CONN_OPEN)
		conn_update_reading(c);
}

int
listener_start(uv_loop_t *loop, const struct listener_config *cfg, listener_accept_cb cb, void *arg,
    struct listener **out, struct mn_err *err)
{
	struct sockaddr_storage ss, bound;
	struct listener *l;
	int rc, len;

	*out = NULL;
	if (parse_addr(cfg->address, cfg->port, &ss) < 0)
		return mn_err_set(
		    err, MN_EINVAL, "%s: bad listen address %s", cfg->service, cfg->address);
	if (cfg->tls && !tls_ctx_is_server(cfg->tls))
		return mn_err_set(
		    err, MN_EINVAL, "%s: TLS context is not a server one", cfg->service);
	l = xcalloc(1, sizeof(*l));
	l->loop = loop;
	snprintf(l->service, sizeof(l->service), "%s", cfg->service ? cfg->service : "listen");
	snprintf(l->address, sizeof(l->address), "%s", cfg->address);
	l->tls = cfg->tls;
	l->idle_ms = cfg->idle_timeout_ms;
	l->cb = cb;
	l->arg = arg;
	uv_tcp_init(loop, &l->tcp);
	l->tcp.data = l;
	/* libuv sets SO_REUSEADDR on bind, so a restart does not wait for
	 * TIME_WAIT sockets of the previous run. */
	if ((rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0)) < 0 ||
	    (rc = uv_listen((uv_stream_t *)&l->tcp, LISTEN_BACKLOG, listener_connection_cb)) < 0) {
		mn_err_set(err, MN_EIO, "%s: listen on %s port %u: %s", l->service, cfg->address,
		    cfg->port, uv_strerror(rc));
		uv_close((uv_handle_t *)&l->tcp, reject_closed_cb);
		return MN_EIO;
	}
	len = sizeof(bound);
	if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &len) == 0)
		l->port =
		    ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
		                                      : ((struct sockaddr_in *)&bound)->sin_port);
	log_info(l->service, "event=listen address=%s port=%u tls=%s", l->address, l->port,
	    l->tls ? "implicit" : "no");
	*out = l;
	return 0;
}

uint16_t
listener_port(const struct listener *l)
{
	return l->port;
}

void
listener_stop(struct listener **lp)
{
	struct listener *l;

	if (lp == NULL || (l = *lp) == NULL)
		return;
	log_debug(l->service, "event=listen_stop address=%s port=%u", l->address, l->port);
	/* The tcp handle is the first member: freeing the handle frees l. */
	uv_close((uv_handle_t *)&l->tcp, reject_closed_cb);
	*lp = NULL;
}
