/*
 * api_nodes.c - /api/v1/nodes and /api/v1/cluster. With Raft (the daemon)
 * the cluster status comes from the raft service (leader, members with
 * their roles from the Raft configuration, and each member's own raft state,
 * commit/applied index and last leader contact, asked over RPC) and node remove
 * is a Raft configuration change of a drained node, on the leader. Without
 * it (unit tests) this node is a one-member cluster. Drain moves
 * every user away (cluster/migrate) a few at a time.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster/raft/raft_service.h"
#include "lib/log.h"
#include "node/admin/api.h"

/* node of path segment 1 (borrowed from *nodes_out, which the caller
 * decrefs), or NULL after a 404 */
static json_t *
path_node(struct api_req *r, json_t **nodes_out)
{
	json_t *nodes = directory_nodes_json(r->api->dir);
	json_t *n = nodes ? api_json_find(nodes, "name", r->seg[1]) : NULL;

	if (n == NULL) {
		if (nodes)
			json_decref(nodes);
		api_reply_error(r, 404, "no such node");
		return NULL;
	}
	*nodes_out = nodes;
	return n;
}

void
api_nodes_list(struct api_req *r)
{
	json_t *nodes = directory_nodes_json(r->api->dir);

	if (nodes == NULL) {
		api_reply_error(r, 500, "internal error");
		return;
	}
	api_reply_json(r, 200, nodes);
}

/* --- drain ----------------------------------------------------------------- */

/* Drain: mark the node draining (new users go elsewhere), then move its
 * users away DRAIN_PARALLEL at a time, each to the active node with the
 * fewest users at that moment, by proposing UserMove "copy" (their home
 * nodes drive the moves, cluster/migrate). The request watches the local
 * replica and answers when nobody is homed there any more, or 409 at the
 * first move that ended without moving (moves already running go on). */
#define DRAIN_PARALLEL 3
#define DRAIN_POLL_MS 200

struct drain {
	uv_timer_t t;
	struct api_req *r;
	char *node;
	char **started; /* users this drain asked to move */
	size_t nstarted;
	unsigned submitting; /* proposals not answered yet */
	uint64_t moved;
	bool done;
};

static void
drain_closed(uv_handle_t *h)
{
	struct drain *d = h->data;

	directory_strv_free(d->started, d->nstarted);
	free(d->node);
	free(d);
}

static void
drain_end(struct drain *d)
{
	d->done = true;
	uv_timer_stop(&d->t);
	if (d->submitting == 0)
		uv_close((uv_handle_t *)&d->t, drain_closed);
}

static void
drain_submitted(int rc, const struct mn_err *err, void *arg)
{
	struct drain *d = arg;

	d->submitting--;
	if (d->done) {
		if (d->submitting == 0)
			uv_close((uv_handle_t *)&d->t, drain_closed);
		return;
	}
	if (rc != 0)
		log_warn("admin", "event=drain node=%s result=retry reason=\"%s\"", d->node,
		    err && err->msg[0] ? err->msg : mn_strerror(rc));
}

static bool
drain_was_started(struct drain *d, const char *user)
{
	for (size_t i = 0; i < d->nstarted; i++)
		if (strcmp(d->started[i], user) == 0)
			return true;
	return false;
}

static void
drain_tick(uv_timer_t *t)
{
	struct drain *d = t->data;
	struct directory *dir = d->r->api->dir;
	char **users = NULL, **moving = NULL;
	size_t nusers = 0, nmoving = 0, running;

	if (d->submitting > 0)
		return; /* let the last proposals land first */
	if (directory_users_on_node(dir, d->node, &users, &nusers) != 0 ||
	    directory_moves_from(dir, d->node, &moving, &nmoving) != 0) {
		api_reply_error(d->r, 500, "internal error");
		goto end;
	}
	if (nusers == 0 && nmoving == 0) {
		log_info("admin", "event=drain node=%s result=done moved=%llu", d->node,
		    (unsigned long long)d->moved);
		api_reply_json(d->r, 200,
		    json_pack("{s:s, s:s, s:I}", "node", d->node, "state", "draining", "moved",
		        (json_int_t)d->moved));
		goto end;
	}
	running = nmoving;
	for (size_t i = 0; i < nusers; i++) {
		Mailnode__DirectoryCommand c = MAILNODE__DIRECTORY_COMMAND__INIT;
		Mailnode__UserMove um = MAILNODE__USER_MOVE__INIT;
		struct dir_user u;
		char *target;
		bool busy;

		memset(&u, 0, sizeof(u));
		if (directory_user_get(dir, users[i], &u) != 0)
			continue;
		busy = u.move_state[0] != '\0';
		if (!busy && drain_was_started(d, users[i])) {
			/* asked to move, no longer moving, still here: failed */
			api_reply_error(d->r, 409, "drain of %s stopped: move of %s %s", d->node,
			    users[i], u.move_result[0] ? u.move_result : "failed");
			dir_user_fini(&u);
			goto end;
		}
		dir_user_fini(&u);
		if (busy || running >= DRAIN_PARALLEL)
			continue;
		if ((target = directory_least_loaded_node(d->r->api->dir, d->node)) == NULL) {
			api_reply_error(
			    d->r, 409, "no other active node to move the users of %s to", d->node);
			goto end;
		}
		um.address = users[i];
		um.state = "copy";
		um.target = target;
		c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_USER_MOVE;
		c.user_move = &um;
		if (dirsvc_submit(d->r->api->svc, &c, drain_submitted, d) == 0) {
			d->submitting++;
			running++;
			d->started = xrealloc(d->started, (d->nstarted + 1) * sizeof(*d->started));
			d->started[d->nstarted++] = xstrdup(users[i]);
			d->moved++;
			log_info("admin", "event=drain node=%s user=%s to=%s", d->node, users[i],
			    target);
		}
		free(target);
	}
	directory_strv_free(users, nusers);
	directory_strv_free(moving, nmoving);
	return;
end:
	directory_strv_free(users, nusers);
	directory_strv_free(moving, nmoving);
	drain_end(d);
}

static void
drain_marked(struct api_req *r)
{
	struct drain *d = xcalloc(1, sizeof(*d));

	d->r = r;
	d->node = xstrdup(r->cmd.node_set_state->name);
	uv_timer_init(r->api->loop, &d->t);
	d->t.data = d;
	uv_timer_start(&d->t, drain_tick, 0, DRAIN_POLL_MS);
}

void
api_nodes_drain(struct api_req *r)
{
	Mailnode__NodeSetState *m;
	json_t *nodes, *n;
	const char *state;

	if ((n = path_node(r, &nodes)) == NULL)
		return;
	state = json_string_value(json_object_get(n, "state"));
	if (state == NULL || strcmp(state, "removed") == 0 || strcmp(state, "joining") == 0) {
		api_reply_error(r, 409, "node %s is %s", r->seg[1], state ? state : "unknown");
		json_decref(nodes);
		return;
	}
	if (api_track(r, directory_least_loaded_node(r->api->dir, r->seg[1])) == NULL) {
		api_reply_error(
		    r, 409, "no other active node to move the users of %s to", r->seg[1]);
		json_decref(nodes);
		return;
	}
	m = API_NEW(r, Mailnode__NodeSetState, MAILNODE__NODE_SET_STATE__INIT);
	m->name = api_strdup(r, r->seg[1]);
	m->state = api_strdup(r, "draining");
	json_decref(nodes);
	r->cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_NODE_SET_STATE;
	r->cmd.node_set_state = m;
	api_apply(r, drain_marked);
}

static void
remove_done(int rc, const struct mn_err *err, void *arg)
{
	struct api_req *r = arg;

	if (rc == MN_EAGAIN) {
		api_reply_error(r, 409, "another membership change is in progress");
		return;
	}
	if (rc != 0) {
		api_reply_code(r, rc, err);
		return;
	}
	api_reply_empty(r, 204);
}

void
api_nodes_del(struct api_req *r)
{
	json_t *nodes;
	size_t count;

	if (path_node(r, &nodes) == NULL)
		return;
	count = json_array_size(nodes);
	{
		json_t *n = api_json_find(nodes, "name", r->seg[1]);
		json_int_t users = json_integer_value(json_object_get(n, "users"));

		if (users > 0) {
			json_decref(nodes);
			api_reply_error(r, 409, "node %s still homes %lld users: drain it first",
			    r->seg[1], (long long)users);
			return;
		}
	}
	json_decref(nodes);
	if (count <= 1) {
		api_reply_error(r, 409, "cannot remove the only node");
		return;
	}
	if (dirsvc_raft(r->api->svc) != NULL) {
		int rc = raft_service_remove(dirsvc_raft(r->api->svc), r->seg[1], remove_done, r);

		if (rc == MN_ENOLEADER)
			api_reply_error(r, 503,
			    "this node is not the leader: ask the leader (see "
			    "cluster status)");
		else if (rc == MN_EAGAIN)
			api_reply_error(r, 409, "another membership change is in progress");
		else if (rc != 0)
			api_reply_code(r, rc, NULL);
		return;
	}
	api_reply_error(r, 501, "node remove needs the cluster service");
}

static void
cluster_status_done(json_t *status, void *arg)
{
	api_reply_json(arg, 200, status);
}

void
api_cluster_status(struct api_req *r)
{
	json_t *nodes, *members, *n;
	uint64_t applied = dirsvc_applied_index(r->api->svc);
	size_t i;

	if (dirsvc_raft(r->api->svc) != NULL) {
		/* every member is asked for its own view (short deadline) */
		raft_service_status(dirsvc_raft(r->api->svc), cluster_status_done, r);
		return;
	}
	nodes = directory_nodes_json(r->api->dir);
	if (nodes == NULL) {
		api_reply_error(r, 500, "internal error");
		return;
	}
	members = json_array();
	json_array_foreach(nodes, i, n)
	{
		const char *name = json_string_value(json_object_get(n, "name"));
		bool self = name != NULL && strcmp(name, r->api->node_name) == 0;
		json_t *m = json_object();

		json_object_set(m, "name", json_object_get(n, "name"));
		json_object_set_new(m, "role", json_string(self ? "leader" : "spare"));
		json_object_set(m, "state", json_object_get(n, "state"));
		json_object_set(m, "address", json_object_get(n, "address"));
		json_object_set_new(
		    m, "commit_index", self ? json_integer((json_int_t)applied) : json_null());
		json_object_set_new(
		    m, "applied_index", self ? json_integer((json_int_t)applied) : json_null());
		json_object_set_new(m, "last_contact_ms", self ? json_integer(0) : json_null());
		json_array_append_new(members, m);
	}
	json_decref(nodes);
	api_reply_json(r, 200,
	    json_pack("{s:s, s:I, s:o}", "leader", r->api->node_name, "commit_index",
	        (json_int_t)applied, "members", members));
}
