/*
 * transport.c - raft's connections over TLS + peer_auth through a
 * socketpair relay (see transport.h).
 */
#include "cluster/raft/transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster/rpc/rpc.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define HDR_FIXED (4 + 1 + 8 + 2)
#define RELAY_READ_MAX (64 * 1024)

struct tp;

/* One authenticated conn relayed to/from raft's end of a socketpair. */
struct relay {
	struct conn *c;     /* NULL once closed */
	uv_pipe_t pipe;     /* our end */
	bool pipe_open;     /* not yet uv_close'd */
	bool pipe_done;     /* its close callback ran */
	bool pipe_reading;  /* uv_read_start in effect */
	size_t pipe_queued; /* bytes in uv_write requests to our end */
	bool conn_paused;
};

/* A conn on its way to becoming a relay (accepting: auth + header;
 * connecting: connect + auth). */
struct pending {
	struct tp *tp; /* NULL once the transport closed */
	struct conn *c;
	bool inbound;
	struct raft_uv_connect *req; /* outbound */
	raft_id id;
	char address[TRANSPORT_ADDRESS_MAX + 1];
	struct pending *prev, *next;
};

struct tp {
	struct raft_uv_transport *t;
	uv_loop_t *loop;
	struct transport_config cfg;
	struct listener *l;
	raft_uv_accept_cb accept_cb;
	raft_id id;
	char address[TRANSPORT_ADDRESS_MAX + 1];
	struct pending *pend;
	int connecting; /* outbound attempts whose cb is owed */
	bool closing;
	raft_uv_transport_close_cb close_cb;
	uv_timer_t done; /* closed to defer close_cb to the loop */
};

struct wreq {
	uv_write_t w;
	struct relay *r;
	size_t len;
	char data[];
};

static void
raft_handle_free(uv_handle_t *h)
{
	raft_free(h);
}

/* --- relay ---------------------------------------------------------------- */

static void
relay_maybe_free(struct relay *r)
{
	if (r->c == NULL && r->pipe_done)
		free(r);
}

static void
relay_pipe_closed(uv_handle_t *h)
{
	struct relay *r = h->data;

	r->pipe_done = true;
	relay_maybe_free(r);
}

static void
relay_close_pipe(struct relay *r)
{
	if (r->pipe_open) {
		r->pipe_open = false;
		uv_close((uv_handle_t *)&r->pipe, relay_pipe_closed);
	}
}

static void
relay_write_cb(uv_write_t *w, int status)
{
	struct wreq *wr = (struct wreq *)w;
	struct relay *r = wr->r;

	r->pipe_queued -= wr->len;
	free(wr);
	if (status != 0 && r->c != NULL) {
		conn_close(r->c);
		return;
	}
	if (r->conn_paused && r->pipe_queued < TRANSPORT_HIGH_WATER / 2 && r->c != NULL) {
		r->conn_paused = false;
		conn_resume(r->c);
	}
}

/* conn -> raft */
static void
relay_conn_read(struct conn *c, void *arg)
{
	struct relay *r = arg;
	struct buf *in = conn_input(c);
	struct wreq *wr;
	uv_buf_t b;

	if (in->len == 0 || !r->pipe_open)
		return;
	wr = xmalloc(sizeof(*wr) + in->len);
	wr->r = r;
	wr->len = in->len;
	memcpy(wr->data, in->data, in->len);
	b = uv_buf_init(wr->data, (unsigned)in->len);
	buf_consume(in, in->len);
	if (uv_write(&wr->w, (uv_stream_t *)&r->pipe, &b, 1, relay_write_cb) != 0) {
		free(wr);
		conn_close(c);
		return;
	}
	r->pipe_queued += wr->len;
	if (r->pipe_queued >= TRANSPORT_HIGH_WATER && !r->conn_paused) {
		r->conn_paused = true;
		conn_pause(c);
	}
}

static void
relay_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	b->base = xmalloc(RELAY_READ_MAX);
	b->len = RELAY_READ_MAX;
}

/* raft -> conn */
static void
relay_pipe_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct relay *r = s->data;

	if (n > 0 && r->c != NULL) {
		conn_write(r->c, b->base, (size_t)n);
		if (conn_pending_output(r->c) >= TRANSPORT_HIGH_WATER && r->pipe_reading) {
			uv_read_stop(s);
			r->pipe_reading = false;
		}
	} else if (n < 0) {
		/* raft closed its end (or error): finish what is queued, then close */
		if (r->c != NULL)
			conn_close(r->c);
		relay_close_pipe(r);
	}
	free(b->base);
}

static void
relay_conn_drain(struct conn *c, void *arg)
{
	struct relay *r = arg;

	if (!r->pipe_reading && r->pipe_open) {
		if (uv_read_start((uv_stream_t *)&r->pipe, relay_alloc, relay_pipe_read) == 0)
			r->pipe_reading = true;
	}
}

static void
relay_conn_close(struct conn *c, void *arg, int reason)
{
	struct relay *r = arg;

	r->c = NULL;
	relay_close_pipe(r);
	relay_maybe_free(r);
}

static const struct conn_handler relay_handler = {
    .on_read = relay_conn_read,
    .on_close = relay_conn_close,
    .on_drain = relay_conn_drain,
};

/* relay_start - socketpair; raft's end in a raft_malloc'd pipe (*stream),
 * ours relayed to c. 0 or MN_EIO (c is then left untouched). */
static int
relay_start(uv_loop_t *loop, struct conn *c, uv_stream_t **stream)
{
	int sv[2];
	uv_pipe_t *theirs;
	struct relay *r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		log_warn("raft-net", "event=socketpair reason=\"%s\"", strerror(errno));
		return MN_EIO;
	}
	theirs = raft_malloc(sizeof(*theirs));
	r = xcalloc(1, sizeof(*r));
	if (theirs == NULL || uv_pipe_init(loop, theirs, 0) != 0) {
		raft_free(theirs);
		free(r);
		close(sv[0]);
		close(sv[1]);
		return MN_EIO;
	}
	uv_pipe_init(loop, &r->pipe, 0);
	r->pipe.data = r;
	r->pipe_open = true;
	int oa = uv_pipe_open(theirs, sv[0]);
	int ob = oa == 0 ? uv_pipe_open(&r->pipe, sv[1]) : -1;

	if (oa != 0 || ob != 0) {
		/* an fd a pipe took is closed by uv_close */
		if (oa != 0)
			close(sv[0]);
		if (ob != 0)
			close(sv[1]);
		uv_close((uv_handle_t *)theirs, raft_handle_free);
		r->c = NULL;
		relay_close_pipe(r);
		return MN_EIO;
	}
	r->c = c;
	conn_set_handler(c, &relay_handler, r);
	conn_set_idle_timeout(c, 0);
	conn_set_input_max(c, 256 * 1024);
	if (uv_read_start((uv_stream_t *)&r->pipe, relay_alloc, relay_pipe_read) == 0)
		r->pipe_reading = true;
	*stream = (uv_stream_t *)theirs;
	/* bytes that came with the header */
	if (conn_input(c)->len > 0)
		relay_conn_read(c, r);
	return 0;
}

/* --- pending conns -------------------------------------------------------- */

static void
pend_link(struct tp *tp, struct pending *p)
{
	p->tp = tp;
	p->next = tp->pend;
	if (tp->pend)
		tp->pend->prev = p;
	tp->pend = p;
}

static void
pend_unlink(struct pending *p)
{
	if (p->tp == NULL)
		return;
	if (p->prev)
		p->prev->next = p->next;
	else
		p->tp->pend = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
}

static void
tp_done_closed(uv_handle_t *h)
{
	struct tp *tp = h->data;

	if (tp->close_cb)
		tp->close_cb(tp->t);
}

static void
tp_maybe_closed(struct tp *tp)
{
	if (tp->closing && tp->connecting == 0 && !uv_is_closing((uv_handle_t *)&tp->done))
		uv_close((uv_handle_t *)&tp->done, tp_done_closed);
}

/* outbound attempt over: tell raft exactly once */
static void
connect_finish(struct tp *tp, struct pending *p, uv_stream_t *stream, int status)
{
	struct raft_uv_connect *req = p->req;

	pend_unlink(p);
	free(p);
	tp->connecting--;
	if (tp->closing && stream != NULL) {
		uv_close((uv_handle_t *)stream, raft_handle_free);
		stream = NULL;
	}
	if (tp->closing)
		status = RAFT_CANCELED;
	req->cb(req, stream, status);
	tp_maybe_closed(tp);
}

/* accepting: read the connector's header */
static void
hdr_read(struct conn *c, void *arg)
{
	struct pending *p = arg;
	struct tp *tp = p->tp;
	struct buf *in = conn_input(c);
	size_t alen;
	uv_stream_t *stream;

	if (tp == NULL || tp->closing || tp->accept_cb == NULL) {
		conn_abort(c);
		return;
	}
	if (in->len < HDR_FIXED)
		return;
	alen = (size_t)in->data[13] << 8 | in->data[14];
	if (memcmp(in->data, TRANSPORT_MAGIC, 4) != 0 || in->data[4] != 1 || alen == 0 ||
	    alen > TRANSPORT_ADDRESS_MAX) {
		log_warn(
		    "raft-net", "event=accept peer=%s reason=\"bad raft header\"", conn_peer_ip(c));
		conn_abort(c);
		return;
	}
	if (in->len < HDR_FIXED + alen)
		return;
	p->id = 0;
	for (int i = 0; i < 8; i++)
		p->id = p->id << 8 | in->data[5 + i];
	memcpy(p->address, in->data + HDR_FIXED, alen);
	p->address[alen] = '\0';
	if (p->id == 0 || memchr(p->address, '\0', alen) != NULL) {
		conn_abort(c);
		return;
	}
	buf_consume(in, HDR_FIXED + alen);
	if (relay_start(tp->loop, c, &stream) != 0) {
		conn_abort(c);
		return;
	}
	pend_unlink(p);
	log_debug("raft-net", "event=accept peer=%s id=%llu address=%s", conn_peer_ip(c),
	    (unsigned long long)p->id, p->address);
	tp->accept_cb(tp->t, p->id, p->address, stream);
	free(p);
}

static void
hdr_close(struct conn *c, void *arg, int reason)
{
	struct pending *p = arg;

	pend_unlink(p);
	free(p);
}

static const struct conn_handler hdr_handler = {
    .on_read = hdr_read,
    .on_close = hdr_close,
};

static void
accept_auth_done(struct conn *c, int status, const char *peer_name, void *arg)
{
	struct pending *p = arg;

	if (status != 0) {
		pend_unlink(p);
		free(p);
		return;
	}
	conn_set_handler(c, &hdr_handler, p); /* hdr_close frees p from now on */
	if (p->tp == NULL) {
		conn_abort(c);
		return;
	}
	conn_set_idle_timeout(c, PEER_AUTH_TIMEOUT_MS);
}

static void
accept_cb(struct conn *c, void *arg)
{
	struct tp *tp = arg;
	struct pending *p;

	if (tp->closing || tp->accept_cb == NULL) {
		conn_abort(c);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->inbound = true;
	p->c = c;
	pend_link(tp, p);
	peer_auth_accept(c, tp->cfg.auth, accept_auth_done, p);
}

/* connecting: after auth send the header, then relay */
static void
connect_auth_done(struct conn *c, int status, const char *peer_name, void *arg)
{
	struct pending *p = arg;
	struct tp *tp = p->tp;
	uint8_t hdr[HDR_FIXED + TRANSPORT_ADDRESS_MAX];
	size_t alen;
	uv_stream_t *stream = NULL;

	if (status != 0) {
		connect_finish(tp, p, NULL, RAFT_NOCONNECTION);
		return;
	}
	if (tp->closing) {
		conn_abort(c);
		connect_finish(tp, p, NULL, RAFT_CANCELED);
		return;
	}
	alen = strlen(tp->address);
	memcpy(hdr, TRANSPORT_MAGIC, 4);
	hdr[4] = 1;
	for (int i = 0; i < 8; i++)
		hdr[5 + i] = (uint8_t)(tp->id >> (56 - 8 * i));
	hdr[13] = (uint8_t)(alen >> 8);
	hdr[14] = (uint8_t)alen;
	memcpy(hdr + HDR_FIXED, tp->address, alen);
	conn_write(c, hdr, HDR_FIXED + alen);
	if (relay_start(tp->loop, c, &stream) != 0) {
		conn_abort(c);
		connect_finish(tp, p, NULL, RAFT_NOCONNECTION);
		return;
	}
	connect_finish(tp, p, stream, 0);
}

static void
connect_cb(struct conn *c, int status, void *arg)
{
	struct pending *p = arg;
	struct tp *tp = p->tp;

	if (status != 0) {
		connect_finish(tp, p, NULL, RAFT_NOCONNECTION);
		return;
	}
	conn_set_log_service(c, "raft-out");
	if (tp->closing) {
		conn_abort(c);
		connect_finish(tp, p, NULL, RAFT_CANCELED);
		return;
	}
	p->c = c;
	peer_auth_connect(c, tp->cfg.auth, connect_auth_done, p);
}

/* --- raft_uv_transport methods -------------------------------------------- */

static int
tp_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
	struct tp *tp = t->impl;

	if (strlen(address) > TRANSPORT_ADDRESS_MAX)
		return RAFT_INVALID;
	tp->id = id;
	snprintf(tp->address, sizeof(tp->address), "%s", address);
	return 0;
}

static int
tp_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
	struct tp *tp = t->impl;

	tp->accept_cb = cb;
	return 0;
}

static int
tp_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
    const char *address, raft_uv_connect_cb cb)
{
	struct tp *tp = t->impl;
	char ip[INET6_ADDRSTRLEN];
	uint16_t port;
	struct pending *p;

	if (tp->closing)
		return RAFT_CANCELED;
	if (rpc_parse_hostport(address, ip, sizeof(ip), &port) != 0) {
		snprintf(t->errmsg, sizeof(t->errmsg), "bad raft address %s", address);
		return RAFT_NOCONNECTION;
	}
	req->cb = cb;
	p = xcalloc(1, sizeof(*p));
	p->req = req;
	p->id = id;
	pend_link(tp, p);
	tp->connecting++;
	if (conn_connect(tp->loop, ip, port, 3000, connect_cb, p) != 0) {
		pend_unlink(p);
		free(p);
		tp->connecting--;
		return RAFT_NOCONNECTION;
	}
	return 0;
}

static void
tp_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
	struct tp *tp = t->impl;

	tp->closing = true;
	tp->close_cb = cb;
	listener_stop(&tp->l);
	/* inbound conns still authenticating or reading the header: drop;
	 * outbound ones in auth: abort (their cb follows with CANCELED) */
	for (struct pending *p = tp->pend; p; p = p->next)
		if (p->c != NULL)
			conn_abort(p->c);
	/* detach inbound ones: they no longer reach the transport */
	for (struct pending *p = tp->pend, *next; p; p = next) {
		next = p->next;
		if (p->inbound) {
			pend_unlink(p);
			p->tp = NULL;
		}
	}
	tp_maybe_closed(tp);
}

int
transport_init(struct raft_uv_transport *t, uv_loop_t *loop, const struct transport_config *cfg)
{
	struct tp *tp = xcalloc(1, sizeof(*tp));
	struct listener_config lc = {
	    .service = "raft",
	    .address = cfg->bind_address,
	    .port = cfg->port,
	    .tls = cfg->server_tls,
	};
	struct mn_err err;
	int rc;

	memset(t, 0, sizeof(*t));
	tp->t = t;
	tp->loop = loop;
	tp->cfg = *cfg;
	if (!cfg->no_listener &&
	    (rc = listener_start(loop, &lc, accept_cb, tp, &tp->l, &err)) != 0) {
		log_error("raft-net", "event=listen result=fail reason=\"%s\"", err.msg);
		free(tp);
		return rc;
	}
	uv_timer_init(loop, &tp->done);
	tp->done.data = tp;
	t->impl = tp;
	t->init = tp_init;
	t->listen = tp_listen;
	t->connect = tp_connect;
	t->close = tp_close;
	return 0;
}

uint16_t
transport_port(const struct raft_uv_transport *t)
{
	const struct tp *tp = t->impl;

	return tp && tp->l ? listener_port(tp->l) : 0;
}

void
transport_fini(struct raft_uv_transport *t)
{
	struct tp *tp = t->impl;

	if (tp == NULL)
		return;
	if (tp->l)
		listener_stop(&tp->l);
	free(tp);
	t->impl = NULL;
}
