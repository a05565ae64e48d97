/*
 * api_nodes.c - /api/v1/nodes and /api/v1/cluster. With Raft (the daemon)
 * the cluster status comes from the raft service (leader, members with
 * their roles from the Raft configuration, and each member's own raft state,
 * commit/applied index and last leader contact, asked over RPC) and node remove
 * is a Raft configuration change of a drained node, on the leader. Without
 * it (unit tests) this node is a one-member cluster. Drain answers 501
 * until account migration exists.
 */
#include <string.h>

#include "cluster/raft/raft_service.h"
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

void
api_nodes_drain(struct api_req *r)
{
	json_t *nodes;

	if (path_node(r, &nodes) == NULL)
		return;
	json_decref(nodes);
	/* XXX: draining migrates every user away: cluster issue */
	api_reply_error(r, 501, "node drain is not implemented yet");
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
