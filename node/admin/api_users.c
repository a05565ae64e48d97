/*
 * api_users.c - /api/v1/users: list, add, show, change, delete mailbox
 * users, and the move endpoint (POST .../move: proposes the start of an
 * account migration, cluster/migrate, and waits for its end).
 *
 * Everything an add or change needs is validated before the password is
 * hashed (yescrypt, in the thread pool), so bad requests cost nothing. The
 * home node of a new user is the one named, which must exist, else the
 * active node with the fewest users (ties: first by name), computed here
 * and carried in the command, as apply must be deterministic.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "cluster/usage/usage.h"
#include "node/admin/api.h"
#include "storage/directory/password.h"
#include "storage/mailstore/mailstore.h"

#define API_MAX_NAME 256

/*
 * used_bytes / used_messages come from the mail store of the user's home
 * node; the directory does not know them. When that node is this one, the
 * reply waits for mailstore_quota_usage on the thread pool (the store
 * serialises its calls and may wait behind an fsync: never on the loop). A
 * user without a mailbox yet (nothing delivered) holds 0; asking must not
 * create one, hence mailstore_user_exists first. XXX: a mailbox deleted
 * between the two calls comes back empty (mailstore_quota_usage opens the
 * index with create; storage/mailstore has no read-only variant yet).
 * A user homed on another node, and every user of the list (GET /users),
 * is filled by cluster/usage: one call per home node for the whole page
 * (this node's users from its store in the thread pool), answers cached a
 * few seconds, USAGE_LIST_TIMEOUT_MS at most. A home that does not answer
 * leaves its users' used_bytes / used_messages null with "usage":
 * "unavailable" (docs/api.md). XXX: a page of 1,000 users of one node
 * still costs that node 1,000 index opens when nothing is cached.
 */

/* One reply waiting for the homes of its users. */
struct usage_fill {
	struct api_req *r;
	int status;
	json_t *reply; /* the list, or the user object */
	int outstanding;
};

/* The users of one home node in the reply. */
struct usage_group {
	struct usage_fill *f;
	char *home;
	size_t n;
	json_t **objs;     /* borrowed from f->reply */
	const char **addr; /* their addresses (in objs) */
};

static void
usage_group_cb(const struct usage_result *res, size_t n, void *arg)
{
	struct usage_group *g = arg;
	struct usage_fill *f = g->f;

	for (size_t i = 0; i < n && i < g->n; i++) {
		json_t *o = g->objs[i];

		if (res[i].status == 0) {
			json_object_set_new(
			    o, "used_bytes", json_integer((json_int_t)res[i].used_bytes));
			json_object_set_new(
			    o, "used_messages", json_integer((json_int_t)res[i].used_messages));
		} else {
			json_object_set_new(o, "used_bytes", json_null());
			json_object_set_new(o, "used_messages", json_null());
			json_object_set_new(o, "usage", json_string("unavailable"));
		}
	}
	free(g->objs);
	free(g->addr);
	free(g->home);
	free(g);
	if (--f->outstanding == 0) {
		api_reply_json(f->r, f->status, f->reply);
		free(f);
	}
}

/* usage_fill_reply - fill used_* of the user objects users (the reply
 * itself, or an array in it) from their homes, then reply status with
 * reply (stolen). */
static void
usage_fill_reply(struct api_req *r, int status, json_t *reply, json_t *users)
{
	struct usage_fill *f = xcalloc(1, sizeof(*f));
	struct usage_group **groups = NULL;
	size_t ngroups = 0, nusers = json_is_array(users) ? json_array_size(users) : 1;

	f->r = r;
	f->status = status;
	f->reply = reply;
	for (size_t i = 0; i < nusers; i++) {
		json_t *o = json_is_array(users) ? json_array_get(users, i) : users;
		const char *addr = json_string_value(json_object_get(o, "address"));
		const char *home = json_string_value(json_object_get(o, "home_node"));
		struct usage_group *g = NULL;

		if (addr == NULL)
			continue;
		if (home == NULL)
			home = "";
		for (size_t k = 0; k < ngroups && g == NULL; k++)
			if (strcmp(groups[k]->home, home) == 0)
				g = groups[k];
		if (g == NULL) {
			g = xcalloc(1, sizeof(*g));
			g->f = f;
			g->home = xstrdup(home);
			g->objs = xcalloc(nusers, sizeof(json_t *));
			g->addr = xcalloc(nusers, sizeof(*g->addr));
			groups = xrealloc(groups, (ngroups + 1) * sizeof(struct usage_group *));
			groups[ngroups++] = g;
		}
		g->objs[g->n] = o;
		g->addr[g->n++] = addr;
	}
	/* one for the loop below: no group answers before all are asked */
	f->outstanding = (int)ngroups + 1;
	for (size_t k = 0; k < ngroups; k++)
		if (usage_get(r->api->usage, groups[k]->home, groups[k]->addr, groups[k]->n,
		        USAGE_LIST_TIMEOUT_MS, usage_group_cb, groups[k]) != 0)
			f->outstanding--; /* n > 0: not reached */
	free(groups);
	if (--f->outstanding == 0) {
		api_reply_json(r, status, reply);
		free(f);
	}
}
struct usage_work {
	uv_work_t w;
	struct api_req *r;
	struct mailstore *ms;
	json_t *user; /* the reply, completed after the work */
	int status;
	char *address;
	uint64_t bytes, msgs;
	int rc;
	struct mn_err err;
};

static void
usage_work_cb(uv_work_t *w)
{
	struct usage_work *u = w->data;

	if (mailstore_user_exists(u->ms, u->address))
		u->rc = mailstore_quota_usage(u->ms, u->address, &u->bytes, &u->msgs, &u->err);
}

static void
usage_after_cb(uv_work_t *w, int status)
{
	struct usage_work *u = w->data;

	(void)status;
	if (u->rc != 0) {
		/* the user object is still worth having: 0 and a log line */
		log_warn(
		    "admin", "event=quota_usage user=%s reason=\"%s\"", u->address, u->err.msg);
		u->bytes = u->msgs = 0;
	}
	json_object_set_new(u->user, "used_bytes", json_integer((json_int_t)u->bytes));
	json_object_set_new(u->user, "used_messages", json_integer((json_int_t)u->msgs));
	api_reply_json(u->r, u->status, u->user);
	free(u->address);
	free(u);
}

static void
reply_user(struct api_req *r, int status, const char *address)
{
	struct dir_user u;
	struct usage_work *w;
	json_t *j;

	memset(&u, 0, sizeof(u));
	if (directory_user_get(r->api->dir, address, &u) != 0) {
		api_reply_error(r, 404, "user %s does not exist", address);
		return;
	}
	j = directory_user_json(&u);
	if (r->api->usage != NULL && usage_home_elsewhere(r->api->usage, u.home_node)) {
		dir_user_fini(&u);
		usage_fill_reply(r, status, j, j);
		return;
	}
	/* no home node recorded: a single node's own user */
	if (r->api->ms == NULL || (u.home_node != NULL && u.home_node[0] != '\0' &&
	                              strcmp(u.home_node, r->api->node_name) != 0)) {
		dir_user_fini(&u);
		api_reply_json(r, status, j);
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->r = r;
	w->ms = r->api->ms;
	w->user = j;
	w->status = status;
	w->address = xstrdup(u.address);
	w->w.data = w;
	dir_user_fini(&u);
	if (uv_queue_work(r->api->loop, &w->w, usage_work_cb, usage_after_cb) != 0) {
		free(w->address);
		free(w);
		api_reply_json(r, status, j);
	}
}

static bool
user_exists(struct api_req *r, const char *address)
{
	struct dir_user u;
	bool found;

	memset(&u, 0, sizeof(u));
	found = directory_user_get(r->api->dir, address, &u) == 0;
	if (found)
		dir_user_fini(&u);
	return found;
}

char *
api_path_user(struct api_req *r)
{
	char *address = api_address_arg(r, r->seg[1]);

	if (address == NULL || !api_scope_address(r, address))
		return NULL;
	if (!user_exists(r, address)) {
		api_reply_error(r, 404, "user %s does not exist", address);
		return NULL;
	}
	return address;
}

/* node `name` in the nodes table? */
static bool
node_exists(struct api_req *r, const char *name)
{
	json_t *nodes = directory_nodes_json(r->api->dir);
	bool found = nodes != NULL && api_json_find(nodes, "name", name) != NULL;

	if (nodes)
		json_decref(nodes);
	return found;
}

void
api_users_list(struct api_req *r)
{
	const char *search = api_query(r, "search"), *canon;
	uint64_t offset, limit, usage;
	json_t *list;
	bool stop;

	if (api_query_u64(r, "offset", 0, UINT32_MAX, &offset) != 0 ||
	    api_query_u64(r, "limit", 0, 1000000, &limit) != 0 ||
	    api_query_u64(r, "usage", 0, 1, &usage) != 0)
		return;
	if (usage && (limit == 0 || limit > API_USAGE_MAX_PAGE)) {
		api_reply_error(r, 400, "with usage=1, limit must be 1..%d", API_USAGE_MAX_PAGE);
		return;
	}
	if ((canon = api_list_domain(r, &stop)) == NULL && stop)
		return;
	if (search != NULL && *search == '\0')
		search = NULL;
	list = directory_users_json(r->api->dir, canon, search, (size_t)offset, (size_t)limit);
	if (list == NULL) {
		api_reply_error(r, 500, "internal error");
		return;
	}
	if (usage) {
		/* every home's figures (cluster/usage), else this node's only */
		if (r->api->usage != NULL)
			usage_fill_reply(r, 200, list, list);
		else
			api_users_list_usage(r, list);
		return;
	}
	api_reply_json(r, 200, list);
}

void
api_users_get(struct api_req *r)
{
	char *address = api_address_arg(r, r->seg[1]);

	if (address == NULL || !api_scope_address(r, address))
		return;
	reply_user(r, 200, address);
}

static void
user_added(struct api_req *r)
{
	reply_user(r, 201, r->cmd.user_add->address);
}

static void
user_add_hashed(struct api_req *r)
{
	r->cmd.user_add->password_hash = r->hash;
	api_apply(r, user_added);
}

/* quota, quota_messages, max_message_size, flags: shared by add and patch */
struct user_limits {
	bool has_quota, has_qmsg, has_maxsize, has_flags, has_expires;
	uint64_t quota, qmsg, maxsize, expires;
	uint32_t flags;
};

/* LIMITS_TO_CMD - copy l into a UserAdd or UserUpdate message m: the two
 * protobuf types spell these fields alike. */
#define LIMITS_TO_CMD(m, l)                                                                        \
	do {                                                                                       \
		(m)->has_quota_bytes = (l).has_quota;                                              \
		(m)->quota_bytes = (l).quota;                                                      \
		(m)->has_quota_messages = (l).has_qmsg;                                            \
		(m)->quota_messages = (l).qmsg;                                                    \
		(m)->has_max_message_size = (l).has_maxsize;                                       \
		(m)->max_message_size = (l).maxsize;                                               \
		(m)->has_flags = (l).has_flags;                                                    \
		(m)->flags = (l).flags;                                                            \
		(m)->has_expires_at = (l).has_expires;                                             \
		(m)->expires_at = (int64_t)(l).expires;                                            \
	} while (0)

static int
parse_limits(struct api_req *r, struct user_limits *l)
{
	memset(l, 0, sizeof(*l));
	if (api_body_size(r, "quota", &l->has_quota, &l->quota) != 0)
		return -1;
	/* the user object calls it quota_bytes: accept that spelling too */
	if (!l->has_quota && api_body_size(r, "quota_bytes", &l->has_quota, &l->quota) != 0)
		return -1;
	if (api_body_u64(r, "quota_messages", &l->has_qmsg, &l->qmsg) != 0 ||
	    api_body_size(r, "max_message_size", &l->has_maxsize, &l->maxsize) != 0 ||
	    api_body_flags(r, "flags", &l->has_flags, &l->flags) != 0 ||
	    api_body_u64(r, "expires_at", &l->has_expires, &l->expires) != 0)
		return -1;
	if (l->expires > INT64_MAX) {
		api_reply_error(r, 400, "field \"expires_at\" is out of range");
		return -1;
	}
	return 0;
}

/* password or password_hash (import of an existing crypt string) */
static int
parse_password(struct api_req *r, bool required, const char **pw_out, const char **hash_out)
{
	if (api_body_string(r, "password_hash", false, 512, hash_out) != 0)
		return -1;
	if (*hash_out != NULL && !password_hash_valid(*hash_out)) {
		api_reply_error(r, 400, "field \"password_hash\" is not a crypt(3) hash");
		return -1;
	}
	if (api_body_string(
	        r, "password", required && *hash_out == NULL, API_MAX_PASSWORD, pw_out) != 0)
		return -1;
	if (*pw_out != NULL && **pw_out == '\0') {
		api_reply_error(r, 400, "field \"password\" must not be empty");
		return -1;
	}
	return 0;
}

void
api_users_add(struct api_req *r)
{
	const char *in, *password, *hash, *name, *node;
	struct user_limits l;
	Mailnode__UserAdd *m;
	char *address, *home;
	enum dir_addr_kind kind;

	if (api_body_string(r, "address", true, DIR_MAX_ADDRESS, &in) != 0 ||
	    parse_password(r, true, &password, &hash) != 0 ||
	    api_body_string(r, "name", false, API_MAX_NAME, &name) != 0 ||
	    api_body_string(r, "node", false, 64, &node) != 0 || parse_limits(r, &l) != 0)
		return;
	if ((address = api_new_address(r, in, "user")) == NULL)
		return;
	kind = directory_classify(r->api->dir, address, NULL);
	if (kind != DIR_ADDR_NONE) {
		api_reply_error(r, 409, "%s already exists", address);
		return;
	}
	if (node != NULL && *node != '\0') {
		if (!node_exists(r, node)) {
			api_reply_error(r, 404, "node %s does not exist", node);
			return;
		}
		home = api_strdup(r, node);
	} else if ((home = api_track(r, directory_least_loaded_node(r->api->dir, NULL))) == NULL) {
		api_reply_error(r, 503, "no active node to home the user");
		return;
	}

	m = API_NEW(r, Mailnode__UserAdd, MAILNODE__USER_ADD__INIT);
	m->address = address;
	m->name = api_strdup(r, name);
	m->home_node = home;
	LIMITS_TO_CMD(m, l);
	r->cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_USER_ADD;
	r->cmd.user_add = m;
	if (hash != NULL) {
		m->password_hash = api_strdup(r, hash);
		api_apply(r, user_added);
		return;
	}
	api_hash_password(r, password, user_add_hashed);
}

static void
user_updated(struct api_req *r)
{
	reply_user(r, 200, r->cmd.user_update->address);
}

static void
user_update_hashed(struct api_req *r)
{
	r->cmd.user_update->password_hash = r->hash;
	api_apply(r, user_updated);
}

void
api_users_patch(struct api_req *r)
{
	const char *password, *hash, *name;
	struct user_limits l;
	Mailnode__UserUpdate *m;
	char *address;

	if ((address = api_path_user(r)) == NULL)
		return;
	if (parse_password(r, false, &password, &hash) != 0 ||
	    api_body_string(r, "name", false, API_MAX_NAME, &name) != 0 || parse_limits(r, &l) != 0)
		return;
	if (password == NULL && hash == NULL && name == NULL && !l.has_quota && !l.has_qmsg &&
	    !l.has_maxsize && !l.has_flags && !l.has_expires) {
		api_reply_error(r, 400,
		    "nothing to change (fields: password, name, quota, "
		    "quota_messages, max_message_size, flags, expires_at)");
		return;
	}
	m = API_NEW(r, Mailnode__UserUpdate, MAILNODE__USER_UPDATE__INIT);
	m->address = address;
	m->name = api_strdup(r, name);
	LIMITS_TO_CMD(m, l);
	r->cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_USER_UPDATE;
	r->cmd.user_update = m;
	if (password != NULL) {
		api_hash_password(r, password, user_update_hashed);
		return;
	}
	m->password_hash = api_strdup(r, hash);
	api_apply(r, user_updated);
}

void
api_users_del(struct api_req *r)
{
	Mailnode__UserDel *m;
	char *address;

	if ((address = api_path_user(r)) == NULL)
		return;
	m = API_NEW(r, Mailnode__UserDel, MAILNODE__USER_DEL__INIT);
	m->address = address;
	r->cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_USER_DEL;
	r->cmd.user_del = m;
	api_apply(r, api_step_no_content);
}

/* --- move (cluster/migrate) ----------------------------------------------- */

/* A move runs on the user's home node, driven by the directory's state
 * (cluster/migrate/migrate.h); this request only proposes its start and,
 * unless "wait": false, watches the local replica until the move ended. */
struct move_wait {
	uv_timer_t t;
	struct api_req *r;
	char *address, *node;
};

static void
move_wait_closed(uv_handle_t *h)
{
	struct move_wait *w = h->data;

	free(w->address);
	free(w->node);
	free(w);
}

static void
move_wait_cb(uv_timer_t *t)
{
	struct move_wait *w = t->data;
	struct api_req *r = w->r;
	struct dir_user u;
	int rc;

	memset(&u, 0, sizeof(u));
	rc = directory_user_get(r->api->dir, w->address, &u);
	if (rc == 0 && u.move_state[0] != '\0') {
		dir_user_fini(&u);
		return; /* still moving */
	}
	uv_timer_stop(t);
	if (rc != 0)
		api_reply_error(r, 404, "user %s was deleted during the move", w->address);
	else if (strcmp(u.home_node, w->node) == 0)
		reply_user(r, 200, w->address);
	else
		api_reply_error(r, 409, "move of %s to %s %s", w->address, w->node,
		    u.move_result[0] ? u.move_result : "failed");
	dir_user_fini(&u);
	uv_close((uv_handle_t *)t, move_wait_closed);
}

static void
move_started(struct api_req *r)
{
	const Mailnode__UserMove *m = r->cmd.user_move;
	json_t *wait = r->body ? json_object_get(r->body, "wait") : NULL;
	struct move_wait *w;

	log_info("admin", "event=move user=%s to=%s result=started", m->address, m->target);
	if (json_is_false(wait)) {
		reply_user(r, 202, m->address);
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->r = r;
	w->address = xstrdup(m->address);
	w->node = xstrdup(m->target);
	uv_timer_init(r->api->loop, &w->t);
	w->t.data = w;
	uv_timer_start(&w->t, move_wait_cb, 100, 100);
}

void
api_users_move(struct api_req *r)
{
	Mailnode__UserMove *m;
	json_t *wait;
	struct dir_user u;
	const char *node;
	char *address;
	bool same;

	if ((address = api_path_user(r)) == NULL)
		return;
	if (api_body_string(r, "node", true, 64, &node) != 0)
		return;
	wait = r->body ? json_object_get(r->body, "wait") : NULL;
	if (wait != NULL && !json_is_boolean(wait)) {
		api_reply_error(r, 400, "wait must be true or false");
		return;
	}
	if (!node_exists(r, node)) {
		api_reply_error(r, 404, "node %s does not exist", node);
		return;
	}
	memset(&u, 0, sizeof(u));
	if (directory_user_get(r->api->dir, address, &u) != 0) {
		api_reply_error(r, 404, "user %s does not exist", address);
		return;
	}
	same = u.home_node != NULL && strcmp(u.home_node, node) == 0 && u.move_state[0] == '\0';
	dir_user_fini(&u);
	if (same) {
		reply_user(r, 200, address);
		return;
	}
	m = API_NEW(r, Mailnode__UserMove, MAILNODE__USER_MOVE__INIT);
	m->address = address;
	m->state = api_strdup(r, "copy");
	m->target = api_strdup(r, node);
	r->cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_USER_MOVE;
	r->cmd.user_move = m;
	api_apply(r, move_started);
}

static void
move_cancelled(struct api_req *r)
{
	log_info("admin", "event=move_cancel user=%s result=ok", r->cmd.user_move->address);
	reply_user(r, 202, r->cmd.user_move->address);
}

/* DELETE .../move: cancel a move before its flip; the source rolls it back
 * (the user stays where it was). 409 after the flip or without a move. */
void
api_users_move_cancel(struct api_req *r)
{
	Mailnode__UserMove *m;
	char *address;

	if ((address = api_path_user(r)) == NULL)
		return;
	m = API_NEW(r, Mailnode__UserMove, MAILNODE__USER_MOVE__INIT);
	m->address = address;
	m->state = api_strdup(r, "cancel");
	r->cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_USER_MOVE;
	r->cmd.user_move = m;
	api_apply(r, move_cancelled);
}
