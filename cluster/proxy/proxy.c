/*
 * proxy.c - routing of IMAP/POP3 sessions to the user's home node, the
 * home side's check of a proxy stream, and the byte relay (see proxy.h).
 *
 * The relay reads whatever one connection delivers and queues it on the
 * other at once (conn_write copies it into that connection's output
 * queue): no message framing, no buffer of its own. When the other
 * queue grows above PROXY_RELAY_HIGH, reading this side stops
 * (conn_pause) until that queue has drained (its on_drain), so a client
 * that does not read a big FETCH holds at most about that much here and
 * the home's session stops at its own output bound.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/proto/rpc.pb-c.h"
#include "cluster/proxy/proxy.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "storage/directory/directory.h"

struct proxy_serve_entry {
	struct proxy *p;
	enum proxy_proto proto;
	proxy_adopt_fn adopt;
	void *arg;
};

struct proxy {
	uv_loop_t *loop;
	struct proxy_config cfg;
	struct proxy_serve_entry serve[2];
};

struct proxy_open {
	struct rpc_stream_open *op;
	proxy_open_cb cb;
	void *arg;
	enum proxy_proto proto;
	char *user, *home;
};

static const char *
proto_name(enum proxy_proto proto)
{
	return proto == PROXY_IMAP ? "imap" : "pop3";
}

static Mailnode__RpcMethod
proto_method(enum proxy_proto proto)
{
	return proto == PROXY_IMAP ? MAILNODE__RPC_METHOD__RPC_PROXY_IMAP
	                           : MAILNODE__RPC_METHOD__RPC_PROXY_POP3;
}

void
proxy_new(uv_loop_t *loop, const struct proxy_config *cfg, struct proxy **out)
{
	struct proxy *p = xcalloc(1, sizeof(*p));

	p->loop = loop;
	p->cfg = *cfg;
	if (p->cfg.open_timeout_ms == 0)
		p->cfg.open_timeout_ms = PROXY_OPEN_TIMEOUT_MS;
	*out = p;
}

void
proxy_free(struct proxy **pp)
{
	struct proxy *p = *pp;

	if (p == NULL)
		return;
	*pp = NULL;
	for (int i = 0; i < 2; i++)
		if (p->serve[i].adopt != NULL)
			rpc_server_handle_stream(
			    NULL, proto_method((enum proxy_proto)i), NULL, NULL);
	free(p);
}

bool
proxy_home_elsewhere(const struct proxy *p, const char *home_node)
{
	return p != NULL && home_node != NULL && *home_node != '\0' &&
	       strcmp(home_node, p->cfg.node_name) != 0;
}

/* --- opening (the reached node) ------------------------------------------- */

/* the rpc address of node `name` from the replicated node table (one row:
 * the node list with its per-node user counts would cost a scan of the
 * users for every session) */
static int
node_rpc_address(struct directory *dir, const char *name, char *ip, size_t ipsz, uint16_t *port)
{
	struct dir_node n;
	int rc;

	memset(&n, 0, sizeof(n));
	if ((rc = directory_node_get(dir, name, &n)) != 0)
		return rc == MN_ENOENT ? MN_ENOENT : MN_EDB;
	rc = MN_ENOENT;
	if (n.address != NULL && strlen(n.address) < ipsz && n.rpc_port > 0) {
		snprintf(ip, ipsz, "%s", n.address);
		*port = n.rpc_port;
		rc = 0;
	}
	dir_node_fini(&n);
	return rc;
}

static void
open_free(struct proxy_open *po)
{
	free(po->user);
	free(po->home);
	free(po);
}

static void
open_done(
    struct conn *c, int status, const char *error, const uint8_t *payload, size_t len, void *arg)
{
	struct proxy_open *po = arg;

	(void)payload;
	(void)len;
	if (status == 0)
		log_info("proxy", "event=open proto=%s user=%s home=%s", proto_name(po->proto),
		    po->user, po->home);
	else
		log_warn("proxy", "event=open proto=%s user=%s home=%s result=fail reason=\"%s\"",
		    proto_name(po->proto), po->user, po->home, error);
	po->cb(c, status, error, po->arg);
	open_free(po);
}

int
proxy_open(struct proxy *p, enum proxy_proto proto, const char *home_node, const char *user,
    const char *client_ip, const char *tag, proxy_open_cb cb, void *arg, struct proxy_open **out)
{
	Mailnode__ProxyOpen m = MAILNODE__PROXY_OPEN__INIT;
	char ip[INET6_ADDRSTRLEN];
	uint16_t port = 0;
	struct proxy_open *po;
	uint8_t *buf;
	size_t n;
	int rc;

	if (p == NULL || home_node == NULL || user == NULL || client_ip == NULL)
		return MN_EINVAL;
	if (tag != NULL && strlen(tag) > PROXY_TAG_MAX)
		return MN_EINVAL;
	if ((rc = node_rpc_address(p->cfg.dir, home_node, ip, sizeof(ip), &port)) != 0) {
		log_warn("proxy",
		    "event=open proto=%s user=%s home=%s result=fail "
		    "reason=\"home node not in the node table\"",
		    proto_name(proto), user, home_node);
		return rc;
	}
	m.user = (char *)user;
	m.client_ip = (char *)client_ip;
	m.tag = (char *)tag;
	n = mailnode__proxy_open__get_packed_size(&m);
	buf = xmalloc(n ? n : 1);
	mailnode__proxy_open__pack(&m, buf);
	po = xcalloc(1, sizeof(*po));
	po->cb = cb;
	po->arg = arg;
	po->proto = proto;
	po->user = xstrdup(user);
	po->home = xstrdup(home_node);
	rc = rpc_stream_open(p->loop, p->cfg.auth, ip, port, proto_method(proto), buf, n,
	    p->cfg.open_timeout_ms, open_done, po, &po->op);
	free(buf);
	if (rc != 0) {
		log_warn("proxy", "event=open proto=%s user=%s home=%s result=fail reason=\"%s\"",
		    proto_name(proto), user, home_node, mn_strerror(rc));
		open_free(po);
		return rc;
	}
	if (out != NULL)
		*out = po;
	return 0;
}

void
proxy_open_cancel(struct proxy_open *po)
{
	rpc_stream_cancel(po->op);
	open_free(po);
}

/* --- relay ---------------------------------------------------------------- */

struct relay;

struct relay_side {
	struct relay *r;
	struct conn *c; /* NULL once closed */
	bool paused;    /* we stopped reading it: the other queue is full */
	uint64_t bytes; /* read from this side */
};

struct relay {
	struct relay_side side[2]; /* 0 client, 1 home */
	enum proxy_proto proto;
	char *user, *home, *client_ip;
	uint64_t started;
	uv_loop_t *loop;
	proxy_relay_done_cb done;
	void *arg;
};

static struct relay_side *
other_side(struct relay_side *s)
{
	return s == &s->r->side[0] ? &s->r->side[1] : &s->r->side[0];
}

static void
relay_read(struct conn *c, void *arg)
{
	struct relay_side *s = arg;
	struct relay_side *o = other_side(s);
	struct buf *in = conn_input(c);

	if (in->len == 0)
		return;
	s->bytes += in->len;
	if (o->c != NULL && !conn_is_closing(o->c))
		conn_write(o->c, in->data, in->len);
	buf_consume(in, in->len);
	if (o->c != NULL && !conn_is_closing(o->c) &&
	    conn_pending_output(o->c) > PROXY_RELAY_HIGH && !s->paused) {
		s->paused = true;
		conn_pause(c);
	}
}

static void
relay_drain(struct conn *c, void *arg)
{
	struct relay_side *s = arg;
	struct relay_side *o = other_side(s);

	(void)c;
	/* our queue is empty: the side that fills it may go on */
	if (o->paused && o->c != NULL && !conn_is_closing(o->c)) {
		o->paused = false;
		conn_resume(o->c);
	}
}

static void
relay_close(struct conn *c, void *arg, int reason)
{
	struct relay_side *s = arg;
	struct relay_side *o = other_side(s);
	struct relay *r = s->r;

	(void)c;
	(void)reason;
	s->c = NULL;
	if (o->c != NULL) {
		/* what the other side still has queued goes out first */
		if (!conn_is_closing(o->c))
			conn_close(o->c);
		return;
	}
	log_info("proxy",
	    "event=close proto=%s user=%s home=%s client=%s bytes_in=%llu bytes_out=%llu "
	    "duration_ms=%llu",
	    proto_name(r->proto), r->user, r->home, r->client_ip,
	    (unsigned long long)r->side[0].bytes, (unsigned long long)r->side[1].bytes,
	    (unsigned long long)(uv_now(r->loop) - r->started));
	if (r->done != NULL)
		r->done(r->arg);
	free(r->user);
	free(r->home);
	free(r->client_ip);
	free(r);
}

static bool
relay_timeout(struct conn *c, void *arg)
{
	(void)c;
	(void)arg;
	return false; /* abort: relay_close closes the other side */
}

static const struct conn_handler relay_handler = {
    .on_read = relay_read,
    .on_close = relay_close,
    .on_drain = relay_drain,
    .on_timeout = relay_timeout,
};

void
proxy_relay_start(struct conn *client, struct conn *home, enum proxy_proto proto, const char *user,
    const char *home_node, uint32_t client_idle_ms, proxy_relay_done_cb done, void *arg)
{
	struct relay *r = xcalloc(1, sizeof(*r));

	r->proto = proto;
	r->user = xstrdup(user);
	r->home = xstrdup(home_node);
	r->client_ip = xstrdup(conn_peer_ip(client));
	r->loop = conn_loop(client);
	r->started = uv_now(r->loop);
	r->done = done;
	r->arg = arg;
	r->side[0] = (struct relay_side){.r = r, .c = client};
	r->side[1] = (struct relay_side){.r = r, .c = home};
	log_info("proxy", "event=relay proto=%s user=%s home=%s client=%s", proto_name(proto), user,
	    home_node, r->client_ip);
	conn_set_handler(client, &relay_handler, &r->side[0]);
	conn_set_handler(home, &relay_handler, &r->side[1]);
	conn_set_idle_timeout(client, client_idle_ms);
	conn_set_idle_timeout(home, 0);
	/* the automatic stop at the conn's own high water stays: ours is
	 * lower, and both only pause reading */
	conn_resume(client);
	conn_resume(home);
}

/* --- the home node -------------------------------------------------------- */

static bool
tag_ok(const char *tag)
{
	size_t n = strlen(tag);

	if (n == 0 || n > PROXY_TAG_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)tag[i];

		/* RFC 3501 tag: ASTRING-CHAR except "+", no CTL, SP, "{" */
		if (ch <= 0x20 || ch >= 0x7f || ch == '+' || ch == '(' || ch == ')' || ch == '{' ||
		    ch == '%' || ch == '*' || ch == '"' || ch == '\\')
			return false;
	}
	return true;
}

static void
serve_stream(struct rpc_stream *st, const uint8_t *payload, size_t len, void *arg)
{
	struct proxy_serve_entry *e = arg;
	struct proxy *p = e->p;
	Mailnode__ProxyOpen *m = mailnode__proxy_open__unpack(NULL, len, payload);
	struct proxy_request req;
	struct dir_user u;
	unsigned char tmp[16];
	int rc;

	memset(&u, 0, sizeof(u));
	if (m == NULL || strlen(m->user) > DIR_MAX_ADDRESS ||
	    (inet_pton(AF_INET, m->client_ip, tmp) != 1 &&
	        inet_pton(AF_INET6, m->client_ip, tmp) != 1) ||
	    (e->proto == PROXY_IMAP && (m->tag == NULL || !tag_ok(m->tag)))) {
		log_warn("proxy", "event=serve peer=%s result=refused reason=\"bad ProxyOpen\"",
		    rpc_stream_peer_name(st));
		rpc_stream_refuse(st, MN_EPARSE, "bad ProxyOpen");
		goto out;
	}
	rc = directory_user_get(p->cfg.dir, m->user, &u);
	if (rc == 0 && !proxy_home_elsewhere(p, u.home_node) && directory_user_held(&u)) {
		/* being moved (cluster/migrate): the client sees "unavailable"
		 * for the short hold and then reaches the new home */
		log_info("proxy",
		    "event=serve proto=%s user=%s peer=%s result=refused "
		    "reason=\"mailbox being moved\"",
		    proto_name(e->proto), m->user, rpc_stream_peer_name(st));
		rpc_stream_refuse(st, MN_ETEMP, "mailbox being moved");
		goto out;
	}
	if (rc != 0 || proxy_home_elsewhere(p, u.home_node)) {
		log_warn("proxy",
		    "event=serve proto=%s user=%s peer=%s result=refused reason=\"%s\"",
		    proto_name(e->proto), m->user, rpc_stream_peer_name(st),
		    rc != 0 ? "no such user" : "user not homed here");
		rpc_stream_refuse(st, rc != 0 ? MN_ENOENT : MN_ECONFLICT,
		    rc != 0 ? "no such user" : "user not homed here");
		goto out;
	}
	req.user = u.address;
	req.client_ip = m->client_ip;
	req.tag = e->proto == PROXY_IMAP ? m->tag : NULL;
	req.peer = rpc_stream_peer_name(st);
	log_info("proxy", "event=serve proto=%s user=%s peer=%s client=%s", proto_name(e->proto),
	    req.user, req.peer, req.client_ip);
	e->adopt(st, &req, e->arg);
out:
	dir_user_fini(&u);
	if (m != NULL)
		mailnode__proxy_open__free_unpacked(m, NULL);
}

void
proxy_serve(struct proxy *p, enum proxy_proto proto, proxy_adopt_fn adopt, void *arg)
{
	struct proxy_serve_entry *e = &p->serve[proto == PROXY_IMAP ? 0 : 1];

	e->p = p;
	e->proto = proto;
	e->adopt = adopt;
	e->arg = arg;
	rpc_server_handle_stream(
	    NULL, proto_method(proto), adopt != NULL ? serve_stream : NULL, adopt ? e : NULL);
}
