/*
 * rpc_server.c - the rpc_port listener: TLS, proof of the cluster secret,
 * then request frames dispatched to per-method handlers (see rpc.h).
 *
 * A struct rpc_sconn lives as long as its connection or any call made on
 * it, whichever is longer (reference count), so a handler answering after
 * the peer went away only finds sc->c == NULL and drops the reply.
 *
 * Streams: a stream method in the first frame of a connection goes to its
 * stream handler, which accepts (the conn leaves the server: unlinked,
 * handler cleared) or refuses (error reply, close) before returning.
 * Stream handlers registered with a NULL server live in a process-wide
 * table consulted when a server has none of its own.
 */
#include <arpa/inet.h>
#include <string.h>

#include "cluster/rpc/frame.h"
#include "cluster/rpc/rpc.h"
#include "lib/log.h"
#include "lib/xalloc.h"

struct rpc_sconn {
	struct rpc_server *s; /* NULL once the server stopped */
	struct conn *c;       /* NULL once closed */
	int refs;
	uint64_t frames; /* request frames seen */
	char name[PEER_AUTH_NAME_MAX + 1];
	char ip[INET6_ADDRSTRLEN];
	struct rpc_sconn *prev, *next;
};

struct rpc_call {
	struct rpc_sconn *sc;
	uint64_t id;
	uint32_t deadline_ms;
};

struct rpc_stream {
	struct rpc_sconn *sc;
	struct conn *c;
	uint64_t id;
	bool answered;
};

struct stream_handler {
	rpc_stream_fn fn;
	void *arg;
};

struct rpc_server {
	uv_loop_t *loop;
	struct listener *l;
	const struct peer_auth_config *auth;
	struct {
		rpc_handler_fn fn;
		void *arg;
	} h[RPC_METHOD_LIMIT];
	struct stream_handler sh[RPC_METHOD_LIMIT];
	struct rpc_sconn *conns;
};

/* stream handlers for every server (rpc_server_handle_stream(NULL, ...)) */
static struct stream_handler default_streams[RPC_METHOD_LIMIT];
/* the same for plain methods (rpc_server_handle(NULL, ...)) */
static struct {
	rpc_handler_fn fn;
	void *arg;
} default_h[RPC_METHOD_LIMIT];

static const struct stream_handler *
stream_handler(const struct rpc_server *s, unsigned m)
{
	if (m >= RPC_METHOD_LIMIT)
		return NULL;
	if (s != NULL && s->sh[m].fn != NULL)
		return &s->sh[m];
	return default_streams[m].fn != NULL ? &default_streams[m] : NULL;
}

static void
sconn_unref(struct rpc_sconn *sc)
{
	if (--sc->refs == 0)
		free(sc);
}

static void
sconn_unlink(struct rpc_sconn *sc)
{
	if (sc->s == NULL)
		return;
	if (sc->prev)
		sc->prev->next = sc->next;
	else
		sc->s->conns = sc->next;
	if (sc->next)
		sc->next->prev = sc->prev;
	sc->prev = sc->next = NULL;
	sc->s = NULL;
}

static void
send_reply(struct rpc_sconn *sc, uint64_t id, int status, const char *error, const void *payload,
    size_t len)
{
	Mailnode__RpcEnvelope env = MAILNODE__RPC_ENVELOPE__INIT;
	struct buf out;

	if (sc->c == NULL || conn_is_closing(sc->c))
		return;
	env.id = id;
	env.has_reply = env.reply = 1;
	env.has_status = 1;
	env.status = status;
	env.error = (char *)(error && *error ? error : NULL);
	if (payload != NULL && len > 0) {
		env.has_payload = 1;
		env.payload.data = (uint8_t *)payload;
		env.payload.len = len;
	}
	buf_init(&out, RPC_FRAME_MAX + RPC_FRAME_HEAD);
	if (rpc_frame_append(&out, &env) == 0)
		conn_write(sc->c, out.data, out.len);
	else
		log_warn("rpc", "event=reply peer=%s id=%llu reason=\"reply too big\"", sc->name,
		    (unsigned long long)id);
	buf_fini(&out);
}

void
rpc_reply(struct rpc_call *call, int status, const char *error, const void *payload, size_t len)
{
	send_reply(call->sc, call->id, status, error, payload, len);
	sconn_unref(call->sc);
	free(call);
}

const char *
rpc_call_peer_name(const struct rpc_call *call)
{
	return call->sc->name;
}

const char *
rpc_call_peer_ip(const struct rpc_call *call)
{
	return call->sc->ip;
}

uint32_t
rpc_call_deadline_ms(const struct rpc_call *call)
{
	return call->deadline_ms;
}

/* A stream's opening frame: consumed before the handler runs, so that
 * conn_input holds exactly the bytes that followed it. */
static void
stream_dispatch(struct rpc_sconn *sc, struct conn *c, Mailnode__RpcEnvelope *env, size_t used)
{
	const struct stream_handler *h = stream_handler(sc->s, env->method);
	struct rpc_stream st = {.sc = sc, .c = c, .id = env->id};

	buf_consume(conn_input(c), used);
	sc->refs++; /* accept drops the conn's reference */
	h->fn(&st, env->has_payload ? env->payload.data : NULL,
	    env->has_payload ? env->payload.len : 0, h->arg);
	if (!st.answered)
		rpc_stream_refuse(&st, MN_EINVAL, "stream not taken");
	sconn_unref(sc);
	mailnode__rpc_envelope__free_unpacked(env, NULL);
}

struct conn *
rpc_stream_accept(struct rpc_stream *st, const void *payload, size_t len)
{
	struct rpc_sconn *sc = st->sc;
	struct conn *c = st->c;

	if (st->answered)
		return NULL;
	st->answered = true;
	send_reply(sc, st->id, 0, NULL, payload, len);
	log_debug("rpc", "event=stream peer=%s ip=%s result=accepted", sc->name, sc->ip);
	/* the conn leaves the server: its on_close is the new owner's */
	sc->c = NULL;
	sconn_unlink(sc);
	sconn_unref(sc);
	conn_set_handler(c, NULL, NULL);
	conn_set_input_max(c, CONN_DEFAULT_INPUT_MAX);
	conn_set_idle_timeout(c, 0);
	return c;
}

void
rpc_stream_refuse(struct rpc_stream *st, int status, const char *error)
{
	if (st->answered)
		return;
	st->answered = true;
	send_reply(st->sc, st->id, status < 0 ? status : MN_EINVAL, error, NULL, 0);
	log_info("rpc", "event=stream peer=%s ip=%s result=refused reason=\"%s\"", st->sc->name,
	    st->sc->ip, error ? error : mn_strerror(status));
	conn_close(st->c);
}

const char *
rpc_stream_peer_name(const struct rpc_stream *st)
{
	return st->sc->name;
}

const char *
rpc_stream_peer_ip(const struct rpc_stream *st)
{
	return st->sc->ip;
}

static void
sconn_read(struct conn *c, void *arg)
{
	struct rpc_sconn *sc = arg;
	struct buf *in = conn_input(c);

	while (!conn_is_closing(c)) {
		const uint8_t *body;
		size_t blen, used;
		Mailnode__RpcEnvelope *env;
		int rc = rpc_frame_decode(in->data, in->len, &body, &blen, &used);

		if (rc == MN_EAGAIN)
			return;
		if (rc != 0) {
			log_warn("rpc", "event=frame peer=%s reason=\"frame too big\"", sc->name);
			conn_abort(c);
			return;
		}
		rc = rpc_envelope_unpack(body, blen, &env);
		if (rc == MN_EPARSE || (rc == 0 && env->reply)) {
			log_warn("rpc", "event=frame peer=%s reason=\"not a request\"", sc->name);
			if (env)
				mailnode__rpc_envelope__free_unpacked(env, NULL);
			conn_abort(c);
			return;
		}
		if (rc != 0) {
			/* unknown method: answer, keep the connection */
			Mailnode__RpcEnvelope *e2 =
			    mailnode__rpc_envelope__unpack(NULL, blen, body);

			send_reply(sc, e2 ? e2->id : 0, MN_EINVAL, "unknown method", NULL, 0);
			if (e2)
				mailnode__rpc_envelope__free_unpacked(e2, NULL);
			buf_consume(in, used);
			continue;
		}
		sc->frames++;
		if (sc->s != NULL && stream_handler(sc->s, env->method) != NULL) {
			if (sc->frames == 1) {
				stream_dispatch(sc, c, env, used);
				return; /* the conn is no longer ours */
			}
			send_reply(
			    sc, env->id, MN_EINVAL, "stream on a shared connection", NULL, 0);
		} else if (sc->s == NULL || (sc->s->h[env->method].fn == NULL &&
		                                default_h[env->method].fn == NULL)) {
			send_reply(sc, env->id, MN_EINVAL, "method not served here", NULL, 0);
		} else {
			struct rpc_call *call = xcalloc(1, sizeof(*call));
			bool own = sc->s->h[env->method].fn != NULL;
			rpc_handler_fn fn =
			    own ? sc->s->h[env->method].fn : default_h[env->method].fn;
			void *harg = own ? sc->s->h[env->method].arg : default_h[env->method].arg;

			call->sc = sc;
			sc->refs++;
			call->id = env->id;
			call->deadline_ms = env->has_deadline_ms ? env->deadline_ms : 0;
			fn(call, env->has_payload ? env->payload.data : NULL,
			    env->has_payload ? env->payload.len : 0, harg);
		}
		mailnode__rpc_envelope__free_unpacked(env, NULL);
		buf_consume(in, used);
	}
}

static void
sconn_close(struct conn *c, void *arg, int reason)
{
	struct rpc_sconn *sc = arg;

	sc->c = NULL;
	sconn_unlink(sc);
	sconn_unref(sc);
}

static const struct conn_handler sconn_handler = {
    .on_read = sconn_read,
    .on_close = sconn_close,
};

static void
auth_done(struct conn *c, int status, const char *peer_name, void *arg)
{
	struct rpc_sconn *sc = arg;

	if (status != 0) {
		sconn_unlink(sc);
		sconn_unref(sc);
		return;
	}
	snprintf(sc->name, sizeof(sc->name), "%s", peer_name);
	sc->c = c;
	conn_set_input_max(c, RPC_FRAME_MAX + RPC_FRAME_HEAD);
	conn_set_handler(c, &sconn_handler, sc);
	log_debug("rpc", "event=accept peer=%s ip=%s", sc->name, sc->ip);
}

static void
accept_cb(struct conn *c, void *arg)
{
	struct rpc_server *s = arg;
	struct rpc_sconn *sc = xcalloc(1, sizeof(*sc));

	sc->s = s;
	sc->refs = 1;
	snprintf(sc->ip, sizeof(sc->ip), "%s", conn_peer_ip(c));
	sc->next = s->conns;
	if (s->conns)
		s->conns->prev = sc;
	s->conns = sc;
	sc->c = c; /* so that stop can close it during the handshake */
	peer_auth_accept(c, s->auth, auth_done, sc);
}

int
rpc_server_start(uv_loop_t *loop, const struct rpc_server_config *cfg, struct rpc_server **out,
    struct mn_err *err)
{
	struct rpc_server *s = xcalloc(1, sizeof(*s));
	struct listener_config lc = {
	    .service = "rpc", .address = cfg->address, .port = cfg->port, .tls = cfg->tls};
	int rc;

	s->loop = loop;
	s->auth = cfg->auth;
	if ((rc = listener_start(loop, &lc, accept_cb, s, &s->l, err)) != 0) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void
rpc_server_handle(struct rpc_server *s, Mailnode__RpcMethod m, rpc_handler_fn fn, void *arg)
{
	if ((unsigned)m >= RPC_METHOD_LIMIT || m == MAILNODE__RPC_METHOD__RPC_NONE)
		return;
	if (s != NULL) {
		s->h[m].fn = fn;
		s->h[m].arg = arg;
	} else {
		default_h[m].fn = fn;
		default_h[m].arg = fn != NULL ? arg : NULL;
	}
}

void
rpc_server_handle_stream(struct rpc_server *s, Mailnode__RpcMethod m, rpc_stream_fn fn, void *arg)
{
	struct stream_handler *t = s != NULL ? s->sh : default_streams;

	if ((unsigned)m < RPC_METHOD_LIMIT && m != MAILNODE__RPC_METHOD__RPC_NONE) {
		t[m].fn = fn;
		t[m].arg = arg;
	}
}

uint16_t
rpc_server_port(const struct rpc_server *s)
{
	return listener_port(s->l);
}

void
rpc_server_stop(struct rpc_server **sp)
{
	struct rpc_server *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	listener_stop(&s->l);
	while (s->conns) {
		struct rpc_sconn *sc = s->conns;
		struct conn *c = sc->c;

		sconn_unlink(sc);
		if (c)
			conn_close(c);
	}
	free(s);
}
