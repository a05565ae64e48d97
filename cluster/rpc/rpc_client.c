/*
 * rpc_client.c - pooled RPC connections to peers (see rpc.h).
 *
 * Each peer address has at most one connection; requests for it wait in
 * the client's pending list (sent or not) until their reply, deadline or
 * the connection's end. One sweep timer, running while anything is
 * pending, expires deadlines and retries connections whose backoff ran out.
 *
 * Streams (rpc_stream_open) use a connection of their own that never
 * joins the pool: one struct rpc_stream_open per opening, alive until its
 * deadline timer and its connection stage (connect, proof, reply) are both
 * over (refs); the connection leaves it at the reply.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/rpc/frame.h"
#include "cluster/rpc/rpc.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define RPC_SWEEP_MS 20
#define RPC_BACKOFF_MIN_MS 100
#define RPC_BACKOFF_MAX_MS 5000
#define RPC_CONNECT_TIMEOUT_MS 3000

enum peer_state { PEER_DOWN, PEER_CONNECTING, PEER_AUTH, PEER_UP };

struct rpc_peer {
	struct rpc_client *cl;
	char ip[INET6_ADDRSTRLEN];
	uint16_t port;
	enum peer_state state;
	struct conn *c;
	uint32_t backoff_ms;
	uint64_t next_try; /* uv_now */
	struct rpc_peer *next;
};

struct rpc_req {
	uint64_t id;
	struct rpc_peer *peer;
	struct buf frame; /* until sent */
	bool sent;
	uint64_t deadline; /* uv_now */
	rpc_done_cb cb;
	void *arg;
	struct rpc_req *next; /* singly linked: see req_take */
};

struct rpc_client {
	uv_loop_t *loop;
	const struct peer_auth_config *auth;
	uv_timer_t sweep;
	bool sweeping, closed;
	int handles; /* the timer + connections in flight */
	uint64_t next_id;
	struct rpc_peer *peers;
	struct rpc_req *reqs;
};

int
rpc_parse_hostport(const char *s, char *ip, size_t ipsz, uint16_t *port)
{
	const char *colon, *host = s;
	size_t hlen;
	char *end;
	unsigned long p;
	unsigned char tmp[16];

	if (s == NULL)
		return MN_EINVAL;
	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':')
			return MN_EINVAL;
		host = s + 1;
		hlen = (size_t)(rb - host);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return MN_EINVAL;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= ipsz)
		return MN_EINVAL;
	memcpy(ip, host, hlen);
	ip[hlen] = '\0';
	if (inet_pton(AF_INET, ip, tmp) != 1 && inet_pton(AF_INET6, ip, tmp) != 1)
		return MN_EINVAL;
	if (colon[1] < '0' || colon[1] > '9')
		return MN_EINVAL;
	p = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || p == 0 || p > 65535)
		return MN_EINVAL;
	*port = (uint16_t)p;
	return 0;
}

static void
client_maybe_free(struct rpc_client *cl)
{
	if (!cl->closed || cl->handles > 0)
		return;
	while (cl->peers) {
		struct rpc_peer *p = cl->peers;

		cl->peers = p->next;
		free(p);
	}
	free(cl);
}

/* Unlinks and returns the request *pp points at; pp is the link (cl->reqs or
 * a request's next) that the caller's walk from cl->reqs reached it by. Every
 * lookup already walks the list, so a singly linked list costs nothing, and
 * it keeps "no link points at a finished request" evident (also to the
 * static analyzer, which cannot know a prev/next invariant). */
static struct rpc_req *
req_take(struct rpc_req **pp)
{
	struct rpc_req *r = *pp;

	*pp = r->next;
	r->next = NULL;
	return r;
}

/* Frees r, already unlinked, and then calls its callback. The callback may
 * call, cancel or close the client (which finishes every other request), so
 * the caller must not hold a list position across this: it restarts its
 * walk from cl->reqs. error and payload never point into r. */
static void
req_finish(struct rpc_req *r, int status, const char *error, const uint8_t *payload, size_t len)
{
	rpc_done_cb cb = r->cb;
	void *arg = r->arg;

	buf_fini(&r->frame);
	free(r);
	cb(status, error ? error : (status ? mn_strerror(status) : ""), payload, len, arg);
}

static void peer_connect(struct rpc_peer *p);

static void
peer_failed(struct rpc_peer *p)
{
	struct rpc_client *cl = p->cl;
	struct rpc_req **pp = &cl->reqs;

	p->state = PEER_DOWN;
	p->c = NULL;
	p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : RPC_BACKOFF_MIN_MS;
	if (p->backoff_ms > RPC_BACKOFF_MAX_MS)
		p->backoff_ms = RPC_BACKOFF_MAX_MS;
	p->next_try = uv_now(cl->loop) + p->backoff_ms;
	/* a sent request's effect is unknown now: tell its caller */
	while (*pp != NULL) {
		if ((*pp)->peer != p || !(*pp)->sent) {
			pp = &(*pp)->next;
			continue;
		}
		req_finish(req_take(pp), MN_ECLOSED, "connection to peer lost", NULL, 0);
		pp = &cl->reqs; /* the callback may have changed the list */
	}
}

static void
peer_flush(struct rpc_peer *p)
{
	for (struct rpc_req *r = p->cl->reqs; r; r = r->next) {
		if (r->peer != p || r->sent)
			continue;
		r->sent = true;
		conn_write(p->c, r->frame.data, r->frame.len);
		buf_fini(&r->frame);
	}
}

static void
pconn_read(struct conn *c, void *arg)
{
	struct rpc_peer *p = arg;
	struct rpc_client *cl = p->cl;
	struct buf *in = conn_input(c);

	while (!conn_is_closing(c)) {
		const uint8_t *body;
		size_t blen, used;
		Mailnode__RpcEnvelope *env;
		struct rpc_req **pp;
		int rc = rpc_frame_decode(in->data, in->len, &body, &blen, &used);

		if (rc == MN_EAGAIN)
			return;
		if (rc == 0)
			rc = rpc_envelope_unpack(body, blen, &env);
		if (rc != 0 || !env->reply) {
			if (rc == 0)
				mailnode__rpc_envelope__free_unpacked(env, NULL);
			log_warn(
			    "rpc", "event=reply peer=%s:%u reason=\"bad frame\"", p->ip, p->port);
			conn_abort(c);
			return;
		}
		for (pp = &cl->reqs; *pp != NULL; pp = &(*pp)->next)
			if ((*pp)->id == env->id && (*pp)->peer == p && (*pp)->sent)
				break;
		if (*pp != NULL) /* else: its caller is gone (timeout, cancel) */
			req_finish(req_take(pp), env->has_status ? env->status : 0, env->error,
			    env->has_payload ? env->payload.data : NULL,
			    env->has_payload ? env->payload.len : 0);
		mailnode__rpc_envelope__free_unpacked(env, NULL);
		buf_consume(in, used);
	}
}

static void
pconn_close(struct conn *c, void *arg, int reason)
{
	struct rpc_peer *p = arg;
	struct rpc_client *cl = p->cl;

	cl->handles--;
	if (p->c == c)
		peer_failed(p);
	client_maybe_free(cl);
}

static const struct conn_handler pconn_handler = {
    .on_read = pconn_read,
    .on_close = pconn_close,
};

static void
auth_done(struct conn *c, int status, const char *peer_name, void *arg)
{
	struct rpc_peer *p = arg;
	struct rpc_client *cl = p->cl;

	if (status != 0) {
		log_warn("rpc", "event=connect peer=%s:%u result=refused reason=\"%s\"", p->ip,
		    p->port, mn_strerror(status));
		cl->handles--;
		if (p->c == c)
			peer_failed(p);
		client_maybe_free(cl);
		return;
	}
	p->state = PEER_UP;
	p->backoff_ms = 0;
	conn_set_input_max(c, RPC_FRAME_MAX + RPC_FRAME_HEAD);
	conn_set_handler(c, &pconn_handler, p);
	if (cl->closed) {
		conn_close(c);
		return;
	}
	peer_flush(p);
}

static void
connect_cb(struct conn *c, int status, void *arg)
{
	struct rpc_peer *p = arg;
	struct rpc_client *cl = p->cl;

	if (status != 0) {
		cl->handles--;
		log_debug("rpc", "event=connect peer=%s:%u result=fail reason=\"%s\"", p->ip,
		    p->port, mn_strerror(status));
		peer_failed(p);
		client_maybe_free(cl);
		return;
	}
	conn_set_log_service(c, "rpc-out");
	p->c = c;
	if (cl->closed) {
		p->state = PEER_UP;
		conn_set_handler(c, &pconn_handler, p);
		conn_close(c);
		return;
	}
	p->state = PEER_AUTH;
	peer_auth_connect(c, cl->auth, auth_done, p);
}

static void
peer_connect(struct rpc_peer *p)
{
	struct rpc_client *cl = p->cl;

	p->state = PEER_CONNECTING;
	cl->handles++;
	if (conn_connect(cl->loop, p->ip, p->port, RPC_CONNECT_TIMEOUT_MS, connect_cb, p) != 0) {
		cl->handles--;
		peer_failed(p);
	}
}

static void
sweep_cb(uv_timer_t *t)
{
	struct rpc_client *cl = t->data;
	uint64_t now = uv_now(cl->loop);
	struct rpc_req **pp = &cl->reqs, *r;

	while (*pp != NULL) {
		if (now < (*pp)->deadline) {
			pp = &(*pp)->next;
			continue;
		}
		req_finish(req_take(pp), MN_ETIMEDOUT, "peer did not answer in time", NULL, 0);
		pp = &cl->reqs; /* the callback may have changed the list */
	}
	for (r = cl->reqs; r; r = r->next)
		if (r->peer->state == PEER_DOWN && now >= r->peer->next_try)
			peer_connect(r->peer);
	if (cl->reqs == NULL && cl->sweeping) {
		uv_timer_stop(&cl->sweep);
		cl->sweeping = false;
	}
}

int
rpc_client_new(uv_loop_t *loop, const struct peer_auth_config *auth, struct rpc_client **out)
{
	struct rpc_client *cl = xcalloc(1, sizeof(*cl));

	cl->loop = loop;
	cl->auth = auth;
	cl->next_id = 1;
	uv_timer_init(loop, &cl->sweep);
	cl->sweep.data = cl;
	cl->handles = 1;
	*out = cl;
	return 0;
}

/* call_args_valid - what a call and a stream open both need: a deadline, a
 * port and a numeric IPv4 or IPv6 address. */
static bool
call_args_valid(const char *ip, uint16_t port, uint32_t timeout_ms)
{
	unsigned char tmp[16];

	return timeout_ms != 0 && port != 0 && strlen(ip) < INET6_ADDRSTRLEN &&
	       (inet_pton(AF_INET, ip, tmp) == 1 || inet_pton(AF_INET6, ip, tmp) == 1);
}

/* request_frame - frame (initialised here) holding the request envelope:
 * id, method, deadline and payload. 0, or MN_ETOOBIG with frame released. */
static int
request_frame(struct buf *frame, uint64_t id, Mailnode__RpcMethod m, const void *payload,
    size_t len, uint32_t timeout_ms)
{
	Mailnode__RpcEnvelope env = MAILNODE__RPC_ENVELOPE__INIT;

	env.id = id;
	env.has_method = 1;
	env.method = m;
	env.has_deadline_ms = 1;
	env.deadline_ms = timeout_ms;
	if (payload != NULL && len > 0) {
		env.has_payload = 1;
		env.payload.data = (uint8_t *)payload;
		env.payload.len = len;
	}
	buf_init(frame, RPC_FRAME_MAX + RPC_FRAME_HEAD);
	if (rpc_frame_append(frame, &env) != 0) {
		buf_fini(frame);
		return MN_ETOOBIG;
	}
	return 0;
}

int
rpc_client_call(struct rpc_client *cl, const char *ip, uint16_t port, Mailnode__RpcMethod m,
    const void *payload, size_t len, uint32_t timeout_ms, rpc_done_cb cb, void *arg,
    uint64_t *id_out)
{
	struct rpc_peer *p;
	struct rpc_req *r, **pp;

	if (cl->closed)
		return MN_ECLOSED;
	if (!call_args_valid(ip, port, timeout_ms))
		return MN_EINVAL;
	if (len > RPC_FRAME_MAX - 64)
		return MN_ETOOBIG;
	for (p = cl->peers; p; p = p->next)
		if (p->port == port && strcmp(p->ip, ip) == 0)
			break;
	if (p == NULL) {
		p = xcalloc(1, sizeof(*p));
		p->cl = cl;
		snprintf(p->ip, sizeof(p->ip), "%s", ip);
		p->port = port;
		p->next = cl->peers;
		cl->peers = p;
	}
	r = xcalloc(1, sizeof(*r));
	r->id = cl->next_id++;
	r->peer = p;
	r->cb = cb;
	r->arg = arg;
	r->deadline = uv_now(cl->loop) + timeout_ms;
	if (request_frame(&r->frame, r->id, m, payload, len, timeout_ms) != 0) {
		free(r);
		return MN_ETOOBIG;
	}
	/* at the tail: requests go out in call order */
	for (pp = &cl->reqs; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = r;
	if (id_out)
		*id_out = r->id;
	if (!cl->sweeping) {
		uv_timer_start(&cl->sweep, sweep_cb, RPC_SWEEP_MS, RPC_SWEEP_MS);
		cl->sweeping = true;
	}
	if (p->state == PEER_UP)
		peer_flush(p);
	else if (p->state == PEER_DOWN && uv_now(cl->loop) >= p->next_try)
		peer_connect(p);
	return 0;
}

bool
rpc_client_connected(struct rpc_client *cl, const char *ip, uint16_t port)
{
	for (struct rpc_peer *p = cl->peers; p; p = p->next)
		if (p->port == port && strcmp(p->ip, ip) == 0)
			return p->state == PEER_UP;
	return false;
}

bool
rpc_client_peer_backing_off(const struct rpc_client *cl, const char *ip, uint16_t port)
{
	for (const struct rpc_peer *p = cl->peers; p; p = p->next)
		if (p->port == port && strcmp(p->ip, ip) == 0)
			return p->state == PEER_DOWN && p->backoff_ms > 0 &&
			       uv_now(cl->loop) < p->next_try;
	return false;
}

void
rpc_client_cancel(struct rpc_client *cl, uint64_t id)
{
	for (struct rpc_req **pp = &cl->reqs; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct rpc_req *r = req_take(pp);

			buf_fini(&r->frame);
			free(r);
			return;
		}
	}
}

static void
sweep_closed(uv_handle_t *h)
{
	struct rpc_client *cl = h->data;

	cl->handles--;
	client_maybe_free(cl);
}

void
rpc_client_close(struct rpc_client **clp)
{
	struct rpc_client *cl = *clp;

	if (cl == NULL)
		return;
	*clp = NULL;
	cl->closed = true;
	while (cl->reqs)
		req_finish(req_take(&cl->reqs), MN_ECLOSED, "shutting down", NULL, 0);
	for (struct rpc_peer *p = cl->peers; p; p = p->next)
		if (p->c != NULL && (p->state == PEER_UP || p->state == PEER_AUTH))
			conn_close(p->c);
	/* connecting conns are closed when their connect finishes */
	uv_close((uv_handle_t *)&cl->sweep, sweep_closed);
}

/* --- streams ------------------------------------------------------------- */

struct rpc_stream_open {
	uv_loop_t *loop;
	const struct peer_auth_config *auth;
	char ip[INET6_ADDRSTRLEN];
	uint16_t port;
	uint64_t id;
	struct buf frame;
	rpc_stream_open_cb cb;
	void *arg;
	uv_timer_t timer;
	struct conn *c; /* connected, until closed or handed over */
	bool done;      /* answered (or cancelled): no more callback */
	int refs;       /* the timer handle + the connection stage */
};

static uint64_t stream_next_id = 1;

static void
so_unref(struct rpc_stream_open *op)
{
	if (--op->refs > 0)
		return;
	buf_fini(&op->frame);
	free(op);
}

static void
so_timer_closed(uv_handle_t *h)
{
	so_unref(h->data);
}

/* the one answer: stop the deadline, call back unless cancelled */
static void
so_finish(struct rpc_stream_open *op, struct conn *c, int status, const char *error,
    const uint8_t *payload, size_t len, bool call)
{
	if (op->done)
		return;
	op->done = true;
	uv_timer_stop(&op->timer);
	uv_close((uv_handle_t *)&op->timer, so_timer_closed);
	if (status != 0 && call)
		log_info("rpc", "event=stream_open peer=%s:%u result=fail reason=\"%s\"", op->ip,
		    op->port, error ? error : mn_strerror(status));
	if (call)
		op->cb(c, status, error ? error : (status ? mn_strerror(status) : ""), payload, len,
		    op->arg);
}

static void
so_drop_close(struct conn *c, void *arg, int reason)
{
	struct rpc_stream_open *op = arg;

	(void)c;
	(void)reason;
	op->c = NULL;
	so_unref(op);
}

/* a connection nobody waits for any more */
static const struct conn_handler so_drop_handler = {
    .on_close = so_drop_close,
};

static void
so_read(struct conn *c, void *arg)
{
	struct rpc_stream_open *op = arg;
	struct buf *in = conn_input(c);
	Mailnode__RpcEnvelope *env = NULL;
	const uint8_t *body;
	size_t blen, used;
	int rc, status;

	if (conn_is_closing(c))
		return;
	rc = rpc_frame_decode(in->data, in->len, &body, &blen, &used);
	if (rc == MN_EAGAIN)
		return;
	if (rc == 0)
		rc = rpc_envelope_unpack(body, blen, &env);
	if (rc != 0 || !env->reply || env->id != op->id) {
		if (env != NULL)
			mailnode__rpc_envelope__free_unpacked(env, NULL);
		log_warn("rpc", "event=stream_open peer=%s:%u reason=\"bad reply frame\"", op->ip,
		    op->port);
		conn_abort(c); /* so_close answers */
		return;
	}
	buf_consume(in, used);
	status = env->has_status ? env->status : 0;
	if (status != 0) {
		so_finish(op, NULL, status, env->error, NULL, 0, true);
		conn_set_handler(c, &so_drop_handler, op);
		conn_close(c);
	} else {
		/* hand over: the callback sets its own handler; what followed
		 * the reply stays in conn_input and is delivered to it */
		op->c = NULL;
		conn_set_handler(c, NULL, NULL);
		conn_set_input_max(c, CONN_DEFAULT_INPUT_MAX);
		conn_set_idle_timeout(c, 0);
		op->refs++; /* so_finish's callback must not free op under us */
		so_finish(op, c, 0, NULL, env->has_payload ? env->payload.data : NULL,
		    env->has_payload ? env->payload.len : 0, true);
		op->refs--;
		so_unref(op); /* the connection stage is over */
	}
	mailnode__rpc_envelope__free_unpacked(env, NULL);
}

static void
so_close(struct conn *c, void *arg, int reason)
{
	struct rpc_stream_open *op = arg;

	(void)c;
	op->c = NULL;
	so_finish(op, NULL, reason ? reason : MN_ECLOSED, "connection closed before the reply",
	    NULL, 0, true);
	so_unref(op);
}

static const struct conn_handler so_handler = {
    .on_read = so_read,
    .on_close = so_close,
};

static void
so_auth_done(struct conn *c, int status, const char *peer_name, void *arg)
{
	struct rpc_stream_open *op = arg;

	(void)peer_name;
	if (status != 0) {
		/* the conn is closing on its own */
		op->c = NULL;
		so_finish(op, NULL, status,
		    status == MN_EAUTH ? "peer refused the cluster secret" : NULL, NULL, 0, true);
		so_unref(op);
		return;
	}
	if (op->done) {
		conn_set_handler(c, &so_drop_handler, op);
		conn_abort(c);
		return;
	}
	conn_set_input_max(c, RPC_FRAME_MAX + RPC_FRAME_HEAD);
	conn_set_handler(c, &so_handler, op);
	conn_write(c, op->frame.data, op->frame.len);
	buf_fini(&op->frame);
}

static void
so_connect_cb(struct conn *c, int status, void *arg)
{
	struct rpc_stream_open *op = arg;

	if (status != 0) {
		so_finish(op, NULL, status, NULL, NULL, 0, true);
		so_unref(op);
		return;
	}
	conn_set_log_service(c, "rpc-out");
	op->c = c;
	if (op->done) {
		conn_set_handler(c, &so_drop_handler, op);
		conn_abort(c);
		return;
	}
	peer_auth_connect(c, op->auth, so_auth_done, op);
}

static void
so_timer_cb(uv_timer_t *t)
{
	struct rpc_stream_open *op = t->data;
	struct conn *c = op->c;

	so_finish(op, NULL, MN_ETIMEDOUT, "peer did not answer in time", NULL, 0, true);
	if (c != NULL && !conn_is_closing(c))
		conn_abort(c); /* its close handler drops the connection stage */
}

int
rpc_stream_open(uv_loop_t *loop, const struct peer_auth_config *auth, const char *ip, uint16_t port,
    Mailnode__RpcMethod m, const void *payload, size_t len, uint32_t timeout_ms,
    rpc_stream_open_cb cb, void *arg, struct rpc_stream_open **out)
{
	struct rpc_stream_open *op;
	int rc;

	/* a plain method's reply would look like an accepted stream */
	if (!call_args_valid(ip, port, timeout_ms) || (unsigned)m < RPC_STREAM_FIRST ||
	    (unsigned)m > RPC_STREAM_LAST)
		return MN_EINVAL;
	if (len > RPC_FRAME_MAX - 64)
		return MN_ETOOBIG;
	op = xcalloc(1, sizeof(*op));
	op->loop = loop;
	op->auth = auth;
	snprintf(op->ip, sizeof(op->ip), "%s", ip);
	op->port = port;
	op->cb = cb;
	op->arg = arg;
	op->id = stream_next_id++;
	if (request_frame(&op->frame, op->id, m, payload, len, timeout_ms) != 0) {
		free(op);
		return MN_ETOOBIG;
	}
	if ((rc = conn_connect(loop, ip, port, timeout_ms, so_connect_cb, op)) != 0) {
		buf_fini(&op->frame);
		free(op);
		return rc;
	}
	op->refs = 2; /* timer + connection stage */
	uv_timer_init(loop, &op->timer);
	op->timer.data = op;
	uv_timer_start(&op->timer, so_timer_cb, timeout_ms, 0);
	if (out != NULL)
		*out = op;
	return 0;
}

void
rpc_stream_cancel(struct rpc_stream_open *op)
{
	struct conn *c = op->c;

	if (op->done)
		return;
	so_finish(op, NULL, MN_ECLOSED, NULL, NULL, 0, false);
	if (c != NULL && !conn_is_closing(c))
		conn_abort(c);
}
