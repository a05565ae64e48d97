/*
 * usage.c - store usage of users on their home node: local reads in the
 * thread pool, RPC_USAGE to other homes, a short cache, and the handler
 * that answers RPC_USAGE (see usage.h).
 *
 * One struct usage_req per usage_get: its results array is filled by the
 * cache, then by one local job or by one RPC per batch of USAGE_BATCH_MAX
 * (`outstanding` counts them); the callback runs when the last is in. A
 * request that needs nothing more (all cached, home unknown, peer backing
 * off) is answered from a zero timer, so that the callback never runs
 * inside usage_get (node/smtp resumes its command loop from it).
 *
 * The cache is direct-mapped (USAGE_CACHE_SLOTS, a collision evicts): its
 * memory is bounded whatever the number of users, and a miss only costs a
 * question to the home.
 */
#include "cluster/usage/usage.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/peer_auth.h"
#include "cluster/proto/rpc.pb-c.h"
#include "cluster/rpc/rpc.h"
#include "lib/log.h"
#include "lib/tls.h"
#include "lib/xalloc.h"
#include "storage/directory/directory.h"
#include "storage/mailstore/mailstore.h"

#define USAGE_CACHE_SLOTS 4096

struct usage_slot {
	char *user; /* NULL: empty */
	uint64_t bytes, msgs;
	uint64_t at; /* uv_now when stored */
};

struct usage_req;

struct usage {
	uv_loop_t *loop;
	char *node_name;
	struct directory *dir;
	struct mailstore *ms;
	uint32_t cache_ms;
	struct tls_ctx *tls;
	struct peer_auth_config auth;
	char *secret;
	struct rpc_client *client; /* NULL without a secret, or once stopped */
	bool serving;
	struct usage_slot cache[USAGE_CACHE_SLOTS];
};

struct usage_req {
	struct usage *u;
	usage_cb cb;
	void *arg;
	size_t n;
	char **users;
	struct usage_result *res;
	bool *cached;     /* res[i] came from the cache (not stored again) */
	bool local;       /* this node's users: read fresh, never cached */
	int outstanding;  /* batches (RPC or local job) not answered yet */
	uv_timer_t timer; /* immediate answers */
	uv_work_t work;   /* the local job */
};

/* one RPC_USAGE call: the users at pos[0..n-1] of its request */
struct usage_batch {
	struct usage_req *r;
	size_t n;
	size_t pos[];
};

/* --- cache ---------------------------------------------------------------- */

static struct usage_slot *
slot_of(struct usage *u, const char *user)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)user; *p; p++)
		h = (h ^ *p) * 16777619u;
	return &u->cache[h % USAGE_CACHE_SLOTS];
}

static bool
cache_get(struct usage *u, const char *user, struct usage_result *out)
{
	struct usage_slot *s = slot_of(u, user);

	if (s->user == NULL || strcmp(s->user, user) != 0 || uv_now(u->loop) - s->at >= u->cache_ms)
		return false;
	out->status = 0;
	out->used_bytes = s->bytes;
	out->used_messages = s->msgs;
	return true;
}

static void
cache_put(struct usage *u, const struct usage_result *r)
{
	struct usage_slot *s = slot_of(u, r->user);

	if (r->status != 0)
		return;
	if (s->user == NULL || strcmp(s->user, r->user) != 0) {
		free(s->user);
		s->user = xstrdup(r->user);
	}
	s->bytes = r->used_bytes;
	s->msgs = r->used_messages;
	s->at = uv_now(u->loop);
}

/* --- requests ------------------------------------------------------------- */

static void
req_free(struct usage_req *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->users[i]);
	free(r->users);
	free(r->res);
	free(r->cached);
	free(r);
}

static void
req_timer_closed(uv_handle_t *h)
{
	req_free(h->data);
}

/* the last batch is in (or none was needed): cache, answer */
static void
req_answer(struct usage_req *r)
{
	for (size_t i = 0; i < r->n && !r->local; i++)
		if (!r->cached[i])
			cache_put(r->u, &r->res[i]);
	r->cb(r->res, r->n, r->arg);
}

static void
req_timer_cb(uv_timer_t *t)
{
	struct usage_req *r = t->data;

	req_answer(r);
	uv_close((uv_handle_t *)&r->timer, req_timer_closed);
}

static void
req_answer_later(struct usage_req *r)
{
	uv_timer_init(r->u->loop, &r->timer);
	r->timer.data = r;
	uv_timer_start(&r->timer, req_timer_cb, 0, 0);
}

static void
req_fail_pending(struct usage_req *r, int status)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->res[i].status == MN_EAGAIN)
			r->res[i].status = status;
}

/* --- the store (this node's users, and RPC_USAGE served here) -------------- */

/* Thread pool: the store may wait behind an fsync. A user without a
 * mailbox holds nothing; asking must not create one. */
static void
read_store(struct mailstore *ms, const char *user, struct usage_result *out)
{
	struct mn_err err;

	mn_err_clear(&err);
	out->used_bytes = out->used_messages = 0;
	out->status = 0;
	if (ms == NULL || !mailstore_user_exists(ms, user))
		return;
	out->status = mailstore_quota_usage(ms, user, &out->used_bytes, &out->used_messages, &err);
	if (out->status != 0)
		log_warn("usage", "event=read user=%s reason=\"%s\"", user, err.msg);
}

static void
local_work(uv_work_t *w)
{
	struct usage_req *r = w->data;

	for (size_t i = 0; i < r->n; i++)
		if (r->res[i].status == MN_EAGAIN)
			read_store(r->u->ms, r->users[i], &r->res[i]);
}

static void
local_done(uv_work_t *w, int status)
{
	struct usage_req *r = w->data;

	req_fail_pending(r, status != 0 ? MN_ECLOSED : MN_EIO);
	req_answer(r);
	req_free(r);
}

/* --- another home ---------------------------------------------------------- */

static void
batch_done(int status, const char *error, const uint8_t *payload, size_t len, void *arg)
{
	struct usage_batch *b = arg;
	struct usage_req *r = b->r;
	Mailnode__UsageReply *m = NULL;

	if (status == 0 && (m = mailnode__usage_reply__unpack(NULL, len, payload)) == NULL)
		status = MN_EPARSE;
	if (status == 0 && m->n_entries != b->n)
		status = MN_EPARSE;
	for (size_t i = 0; i < b->n; i++) {
		struct usage_result *res = &r->res[b->pos[i]];
		const Mailnode__UsageEntry *e = status == 0 ? m->entries[i] : NULL;

		if (e == NULL || strcmp(e->user, res->user) != 0 || e->status > 0 ||
		    e->status == MN_EAGAIN) {
			res->status = status != 0 ? status : MN_EPARSE;
			continue;
		}
		res->status = e->status;
		res->used_bytes = e->has_used_bytes ? e->used_bytes : 0;
		res->used_messages = e->has_used_messages ? e->used_messages : 0;
	}
	if (status != 0)
		log_info("usage", "event=ask users=%zu result=fail reason=\"%s\"", b->n,
		    error != NULL ? error : mn_strerror(status));
	if (m != NULL)
		mailnode__usage_reply__free_unpacked(m, NULL);
	free(b);
	if (--r->outstanding == 0) {
		req_answer(r);
		req_free(r);
	}
}

/* send one batch of the users at pos[0..n-1]; false when it could not go */
static bool
send_batch(struct usage_req *r, const char *ip, uint16_t port, const size_t *pos, size_t n,
    uint32_t timeout_ms)
{
	Mailnode__UsageRequest m = MAILNODE__USAGE_REQUEST__INIT;
	struct usage_batch *b = xmalloc(sizeof(*b) + n * sizeof(b->pos[0]));
	char **names = xcalloc(n, sizeof(*names));
	size_t plen;
	uint8_t *buf;
	int rc;

	b->r = r;
	b->n = n;
	for (size_t i = 0; i < n; i++) {
		b->pos[i] = pos[i];
		names[i] = r->users[pos[i]];
	}
	m.n_users = n;
	m.users = names;
	plen = mailnode__usage_request__get_packed_size(&m);
	buf = xmalloc(plen ? plen : 1);
	mailnode__usage_request__pack(&m, buf);
	rc = rpc_client_call(r->u->client, ip, port, MAILNODE__RPC_METHOD__RPC_USAGE, buf, plen,
	    timeout_ms, batch_done, b, NULL);
	free(buf);
	free(names);
	if (rc != 0) {
		for (size_t i = 0; i < n; i++)
			r->res[pos[i]].status = rc;
		free(b);
		return false;
	}
	r->outstanding++;
	return true;
}

/* ask home for the users still MN_EAGAIN, in batches; false when no call
 * went out (their status says why) */
static bool
ask_home(struct usage_req *r, const char *home, uint32_t timeout_ms)
{
	struct usage *u = r->u;
	struct dir_node node;
	char ip[INET6_ADDRSTRLEN];
	size_t *pos, k = 0;
	bool sent = false;

	memset(&node, 0, sizeof(node));
	if (u->client == NULL) {
		req_fail_pending(r, MN_ECLOSED);
		return false;
	}
	if (directory_node_get(u->dir, home, &node) != 0 || node.address == NULL ||
	    node.rpc_port == 0 || strlen(node.address) >= sizeof(ip)) {
		dir_node_fini(&node);
		req_fail_pending(r, MN_ENOENT);
		return false;
	}
	snprintf(ip, sizeof(ip), "%s", node.address);
	if (rpc_client_peer_backing_off(u->client, ip, node.rpc_port)) {
		/* it just failed: waiting out the deadline would tell nothing */
		dir_node_fini(&node);
		req_fail_pending(r, MN_ECLOSED);
		return false;
	}
	pos = xcalloc(r->n, sizeof(*pos));
	for (size_t i = 0; i < r->n; i++) {
		if (r->res[i].status != MN_EAGAIN)
			continue;
		pos[k++] = i;
		if (k == USAGE_BATCH_MAX) {
			sent |= send_batch(r, ip, node.rpc_port, pos, k, timeout_ms);
			k = 0;
		}
	}
	if (k > 0)
		sent |= send_batch(r, ip, node.rpc_port, pos, k, timeout_ms);
	free(pos);
	dir_node_fini(&node);
	return sent;
}

/* --- API ------------------------------------------------------------------- */

int
usage_get(struct usage *u, const char *home_node, const char *const *users, size_t n,
    uint32_t timeout_ms, usage_cb cb, void *arg)
{
	struct usage_req *r;
	bool missing = false;

	if (n == 0 || timeout_ms == 0)
		return MN_EINVAL;
	r = xcalloc(1, sizeof(*r));
	r->u = u;
	r->cb = cb;
	r->arg = arg;
	r->n = n;
	r->users = xcalloc(n, sizeof(*r->users));
	r->res = xcalloc(n, sizeof(*r->res));
	r->cached = xcalloc(n, sizeof(*r->cached));
	/* this node's own store is the truth: the cache only saves questions
	 * to other nodes (and would show a user moved here its old figures) */
	r->local = !usage_home_elsewhere(u, home_node);
	for (size_t i = 0; i < n; i++) {
		r->users[i] = xstrdup(users[i]);
		r->res[i].user = r->users[i];
		r->cached[i] = !r->local && cache_get(u, users[i], &r->res[i]);
		if (!r->cached[i]) {
			r->res[i].status = MN_EAGAIN; /* to find out */
			missing = true;
		}
	}
	if (!missing) {
		req_answer_later(r);
		return 0;
	}
	if (r->local) {
		r->work.data = r;
		if (uv_queue_work(u->loop, &r->work, local_work, local_done) == 0)
			return 0;
		req_fail_pending(r, MN_EIO);
		req_answer_later(r);
		return 0;
	}
	if (!ask_home(r, home_node, timeout_ms))
		req_answer_later(r);
	return 0;
}

bool
usage_home_elsewhere(const struct usage *u, const char *home_node)
{
	return home_node != NULL && *home_node != '\0' && strcmp(home_node, u->node_name) != 0;
}

/* --- serving RPC_USAGE ----------------------------------------------------- */

struct serve_job {
	uv_work_t work;
	struct usage *u;
	struct rpc_call *call;
	size_t n;
	char **users;
	struct usage_result *res; /* status MN_ENOENT: not homed here */
};

static void
serve_work(uv_work_t *w)
{
	struct serve_job *j = w->data;

	for (size_t i = 0; i < j->n; i++)
		if (j->res[i].status == 0)
			read_store(j->u->ms, j->users[i], &j->res[i]);
}

static void
serve_done(uv_work_t *w, int status)
{
	struct serve_job *j = w->data;
	Mailnode__UsageReply m = MAILNODE__USAGE_REPLY__INIT;
	Mailnode__UsageEntry *e = xcalloc(j->n, sizeof(*e));
	Mailnode__UsageEntry **ep = xcalloc(j->n, sizeof(Mailnode__UsageEntry *));
	uint8_t *buf;
	size_t len;

	for (size_t i = 0; i < j->n; i++) {
		mailnode__usage_entry__init(&e[i]);
		e[i].user = j->users[i];
		e[i].status = status != 0 ? MN_ETEMP : j->res[i].status;
		if (e[i].status == 0) {
			e[i].has_used_bytes = e[i].has_used_messages = 1;
			e[i].used_bytes = j->res[i].used_bytes;
			e[i].used_messages = j->res[i].used_messages;
		}
		ep[i] = &e[i];
	}
	m.n_entries = j->n;
	m.entries = ep;
	len = mailnode__usage_reply__get_packed_size(&m);
	buf = xmalloc(len ? len : 1);
	mailnode__usage_reply__pack(&m, buf);
	rpc_reply(j->call, 0, NULL, buf, len);
	free(buf);
	free(ep);
	free(e);
	for (size_t i = 0; i < j->n; i++)
		free(j->users[i]);
	free(j->users);
	free(j->res);
	free(j);
}

static void
serve_call(struct rpc_call *call, const uint8_t *payload, size_t len, void *arg)
{
	struct usage *u = arg;
	Mailnode__UsageRequest *m = mailnode__usage_request__unpack(NULL, len, payload);
	struct serve_job *j;

	if (m == NULL || m->n_users == 0 || m->n_users > USAGE_BATCH_MAX) {
		log_warn("usage", "event=serve peer=%s result=refused reason=\"bad UsageRequest\"",
		    rpc_call_peer_name(call));
		rpc_reply(call, MN_EINVAL, "bad UsageRequest", NULL, 0);
		if (m != NULL)
			mailnode__usage_request__free_unpacked(m, NULL);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->u = u;
	j->call = call;
	j->n = m->n_users;
	j->users = xcalloc(j->n, sizeof(*j->users));
	j->res = xcalloc(j->n, sizeof(*j->res));
	for (size_t i = 0; i < j->n; i++) {
		struct dir_user du;

		memset(&du, 0, sizeof(du));
		j->users[i] = xstrndup(m->users[i], DIR_MAX_ADDRESS);
		j->res[i].user = j->users[i];
		/* only the home's store knows: anything else is "not here" */
		if (strlen(m->users[i]) > DIR_MAX_ADDRESS ||
		    directory_user_get(u->dir, m->users[i], &du) != 0 ||
		    usage_home_elsewhere(u, du.home_node) || strcmp(du.address, m->users[i]) != 0)
			j->res[i].status = MN_ENOENT;
		dir_user_fini(&du);
	}
	mailnode__usage_request__free_unpacked(m, NULL);
	j->work.data = j;
	if (uv_queue_work(u->loop, &j->work, serve_work, serve_done) != 0)
		serve_done(&j->work, UV_ECANCELED);
}

void
usage_serve(struct usage *u)
{
	u->serving = true;
	rpc_server_handle(NULL, MAILNODE__RPC_METHOD__RPC_USAGE, serve_call, u);
}

/* --- lifecycle ------------------------------------------------------------- */

int
usage_new(uv_loop_t *loop, const struct usage_config *cfg, struct usage **out, struct mn_err *err)
{
	struct usage *u = xcalloc(1, sizeof(*u));
	int rc;

	*out = NULL;
	u->loop = loop;
	u->node_name = xstrdup(cfg->node_name);
	u->dir = cfg->dir;
	u->ms = cfg->ms;
	u->cache_ms = cfg->cache_ms ? cfg->cache_ms : USAGE_CACHE_MS;
	if (cfg->secret != NULL && *cfg->secret != '\0') {
		if ((rc = peer_auth_client_ctx(&u->tls, err)) != 0) {
			free(u->node_name);
			free(u);
			return mn_err_wrap(err, "usage");
		}
		u->secret = xstrdup(cfg->secret);
		u->auth.secret = u->secret;
		u->auth.node_name = u->node_name;
		u->auth.client_tls = u->tls;
		rpc_client_new(loop, &u->auth, &u->client);
	}
	*out = u;
	return 0;
}

void
usage_stop(struct usage *u)
{
	if (u == NULL)
		return;
	if (u->serving)
		rpc_server_handle(NULL, MAILNODE__RPC_METHOD__RPC_USAGE, NULL, NULL);
	u->serving = false;
	/* pending calls end now (MN_ECLOSED): their callbacks run */
	rpc_client_close(&u->client);
}

void
usage_free(struct usage **up)
{
	struct usage *u = *up;

	if (u == NULL)
		return;
	*up = NULL;
	usage_stop(u);
	for (size_t i = 0; i < USAGE_CACHE_SLOTS; i++)
		free(u->cache[i].user);
	if (u->tls != NULL)
		tls_ctx_free(&u->tls);
	free(u->secret);
	free(u->node_name);
	free(u);
}
