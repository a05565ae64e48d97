/*
 * forward.c - calls of users homed on another cluster node (docs/
 * webmail.md "Cluster"): the front node checked the session and the CSRF
 * token and sends the raw request (method, path, query, body, content
 * type, user, client IP) as RPC_WEBMAIL over the authenticated RPC
 * channel (cluster/rpc); the home node answers it through a captured HTTP
 * exchange (node/http) exactly as if it had been asked, and its status,
 * headers and body are relayed. At most RPC_FRAME_MAX each way.
 */

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cluster/dirsvc.h"
#include "cluster/proto/rpc.pb-c.h"
#include "cluster/rpc/frame.h"
#include "cluster/rpc/rpc.h"
#include "lib/buf.h"
#include "lib/codec.h"
#include "lib/log.h"
#include "lib/utf8.h"
#include "lib/xalloc.h"
#include "node/smtp/server.h"
#include "node/webmail/compose.h"
#include "node/webmail/render.h"
#include "node/webmail/webmail_int.h"
#include "storage/directory/password.h"
#include "storage/mailstore/mailstore.h"
#include "storage/message/header.h"
#include "storage/message/mime.h"

/* --- users homed on another node: the call goes there (RPC_WEBMAIL) ------ */

static void
forward_cb(int status, const char *error, const uint8_t *payload, size_t len, void *arg)
{
	struct wm_req *r = arg;
	Mailnode__WebmailReply *rep;

	if (status != 0) {
		log_warn("webmail", "event=forward user=%s result=fail rc=%d reason=\"%s\"",
		    r->user, status, error ? error : mn_strerror(status));
		wm_reply_error(r, 503,
		    "the node that holds this mailbox did not answer (%s); retry",
		    error && *error ? error : mn_strerror(status));
		return;
	}
	rep = mailnode__webmail_reply__unpack(NULL, len, payload);
	if (rep == NULL || rep->status < 100 || rep->status > 599) {
		if (rep != NULL)
			mailnode__webmail_reply__free_unpacked(rep, NULL);
		wm_reply_error(r, 502, "bad answer from the node that holds this mailbox");
		return;
	}
	for (size_t i = 0; i < rep->n_headers; i++)
		http_add_header(r->x, rep->headers[i]->name, rep->headers[i]->value);
	wm_req_log(r, (int)rep->status);
	http_reply(r->x, (int)rep->status, rep->content_type, rep->has_body ? rep->body.data : NULL,
	    rep->has_body ? rep->body.len : 0);
	mailnode__webmail_reply__free_unpacked(rep, NULL);
	wm_req_free(r);
}

/* the session and the CSRF token were checked here; the home node does
 * the rest (input checks included) and its answer is relayed as is */
void
wm_forward_call(struct wm_req *r, const char *home)
{
	Mailnode__WebmailCall c = MAILNODE__WEBMAIL_CALL__INIT;
	struct slice ct = http_header_get(r->req, "Content-Type");
	struct dir_node node;
	char *method, *path, *query = NULL, *ctype = NULL;
	uint8_t *buf;
	size_t len;
	int rc;

	memset(&node, 0, sizeof(node));
	if (r->wm->rpc == NULL || directory_node_get(r->wm->dir, home, &node) != 0 ||
	    node.address == NULL || node.rpc_port == 0) {
		dir_node_fini(&node);
		wm_reply_error(r, 503,
		    "the mailbox of %s is on node %s, which this node cannot reach", r->user, home);
		return;
	}
	method = xstrndup(r->req->method.ptr, r->req->method.len);
	path = xstrndup(r->req->path.ptr, r->req->path.len);
	c.user = r->user;
	c.method = method;
	c.path = path;
	if (r->req->query.ptr != NULL)
		c.query = query = xstrndup(r->req->query.ptr, r->req->query.len);
	if (r->req->body_len > 0) {
		c.has_body = true;
		c.body.data = (uint8_t *)r->req->body;
		c.body.len = r->req->body_len;
	}
	if (ct.ptr != NULL)
		c.content_type = ctype = xstrndup(ct.ptr, ct.len);
	c.client_ip = (char *)http_exchange_peer_ip(r->x);
	c.has_tls = true;
	c.tls = r->tls;
	len = mailnode__webmail_call__get_packed_size(&c);
	if (len > RPC_FRAME_MAX - 4096) {
		rc = MN_ETOOBIG;
	} else {
		buf = xmalloc(len ? len : 1);
		mailnode__webmail_call__pack(&c, buf);
		rc = rpc_client_call(r->wm->rpc, node.address, node.rpc_port,
		    MAILNODE__RPC_METHOD__RPC_WEBMAIL, buf, len, WEBMAIL_FORWARD_TIMEOUT_MS,
		    forward_cb, r, NULL);
		free(buf);
	}
	free(method);
	free(path);
	free(query);
	free(ctype);
	dir_node_fini(&node);
	if (rc == MN_ETOOBIG)
		wm_reply_error(r, 413,
		    "request too large to carry to the node of this mailbox (%u bytes)",
		    RPC_FRAME_MAX - 4096);
	else if (rc != 0)
		wm_reply_error(r, 503, "the node that holds this mailbox cannot be reached; retry");
}

struct rpc_wm {
	struct rpc_call *call;
	Mailnode__WebmailCall *msg;
	struct http_request req;
};

static void
rpc_capture_cb(void *arg, int status, const char *content_type, const void *body, size_t len,
    const char *headers, size_t hlen)
{
	struct rpc_wm *h = arg;
	Mailnode__WebmailReply rep = MAILNODE__WEBMAIL_REPLY__INIT;
	Mailnode__WebmailHeader hv[16], *hp[16];
	char *hcopy = xstrndup(headers, hlen), *save = NULL;
	uint8_t *buf;
	size_t n;

	rep.status = (uint32_t)status;
	rep.content_type = (char *)content_type;
	if (len > 0) {
		rep.has_body = true;
		rep.body.data = (uint8_t *)body;
		rep.body.len = len;
	}
	for (char *line = strtok_r(hcopy, "\r\n", &save); line != NULL && rep.n_headers < 16;
	     line = strtok_r(NULL, "\r\n", &save)) {
		char *colon = strchr(line, ':');

		if (colon == NULL)
			continue;
		*colon = '\0';
		mailnode__webmail_header__init(&hv[rep.n_headers]);
		hv[rep.n_headers].name = line;
		hv[rep.n_headers].value = colon + (colon[1] == ' ' ? 2 : 1);
		hp[rep.n_headers] = &hv[rep.n_headers];
		rep.n_headers++;
	}
	rep.headers = hp;
	n = mailnode__webmail_reply__get_packed_size(&rep);
	if (n > RPC_FRAME_MAX - 4096) {
		static const char too[] =
		    "{\"error\": \"answer too large to carry from the node of this mailbox\"}";

		memset(&rep, 0, sizeof(rep));
		mailnode__webmail_reply__init(&rep);
		rep.status = 502;
		rep.content_type = (char *)"application/json";
		rep.has_body = true;
		rep.body.data = (uint8_t *)too;
		rep.body.len = sizeof(too) - 1;
		n = mailnode__webmail_reply__get_packed_size(&rep);
	}
	buf = xmalloc(n ? n : 1);
	mailnode__webmail_reply__pack(&rep, buf);
	rpc_reply(h->call, 0, NULL, buf, n);
	free(buf);
	free(hcopy);
	mailnode__webmail_call__free_unpacked(h->msg, NULL);
	free(h);
}

static void
rpc_handler(struct rpc_call *call, const uint8_t *payload, size_t len, void *arg)
{
	struct webmail *wm = arg;
	struct rpc_wm *h;
	Mailnode__WebmailCall *m = mailnode__webmail_call__unpack(NULL, len, payload);
	struct http_exchange *x;
	const char *q;

	if (m == NULL || strncmp(m->path, WEBMAIL_PREFIX, strlen(WEBMAIL_PREFIX)) != 0) {
		if (m != NULL)
			mailnode__webmail_call__free_unpacked(m, NULL);
		rpc_reply(call, MN_EINVAL, "bad webmail call", NULL, 0);
		return;
	}
	log_info("webmail", "event=forwarded user=%s from=%s", m->user, rpc_call_peer_name(call));
	h = xcalloc(1, sizeof(*h));
	h->call = call;
	h->msg = m;
	h->req.method = slice_from_cstr(m->method);
	h->req.path = slice_from_cstr(m->path);
	q = m->query ? m->query : "";
	h->req.query = (struct slice){.ptr = m->query ? q : NULL, .len = strlen(q)};
	h->req.target = h->req.path;
	h->req.version_minor = 1;
	if (m->has_body) {
		h->req.body = m->body.data;
		h->req.body_len = m->body.len;
	}
	if (m->content_type != NULL) {
		h->req.headers[0].name = SLICE_LIT("Content-Type");
		h->req.headers[0].value = slice_from_cstr(m->content_type);
		h->req.nheaders = 1;
	}
	x = http_exchange_capture(&h->req, m->client_ip, m->has_tls && m->tls, rpc_capture_cb, h);
	wm_handle(wm, x, &h->req, m->user);
}

void
webmail_set_cluster(struct webmail *wm, const struct peer_auth_config *auth)
{
	if (auth == NULL || wm->rpc != NULL)
		return;
	rpc_client_new(wm->loop, auth, &wm->rpc);
	rpc_server_handle(NULL, MAILNODE__RPC_METHOD__RPC_WEBMAIL, rpc_handler, wm);
}

void
webmail_stop(struct webmail *wm)
{
	if (wm == NULL)
		return;
	wm->smtp = NULL; /* stopped next: sending answers 503 from now on */
	if (wm->rpc != NULL) {
		rpc_server_handle(NULL, MAILNODE__RPC_METHOD__RPC_WEBMAIL, NULL, NULL);
		rpc_client_close(&wm->rpc);
	}
}
