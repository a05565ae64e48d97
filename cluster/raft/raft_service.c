/*
 * raft_service.c - the node's Raft instance, joins, forwarded writes and
 * cluster status (see raft_service.h).
 *
 * A 10 ms tick watches for things raft 0.15 has no callback for: winning
 * an election (to append the barrier) and followers' applied index
 * reaching a forwarded write's index (read-your-writes; an apply also runs
 * the tick at once when a write waits, see fsm_applied). Cluster status
 * asks every member over RPC (raft_service_status).
 */
#include "cluster/raft/raft_service.h"

#include <errno.h>
#include <fcntl.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cluster/peer_auth.h"
#include "cluster/proto/rpc.pb-c.h"
#include "cluster/raft/fsm.h"
#include "cluster/raft/transport.h"
#include "cluster/rpc/rpc.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define TICK_MS 10
#define JOIN_RETRY_MS 1000
#define JOIN_TIMEOUT_MS 5000

enum rs_phase { RS_JOINING, RS_RUNNING, RS_CLOSING, RS_CLOSED };

struct rs_waiter; /* follower write waiting for its index to apply */

struct raft_service {
	uv_loop_t *loop;
	struct directory *dir;
	struct raft_service_config cfg;
	char *data_dir, *node_name, *address, *join, *secret;
	char raft_addr[64];
	enum rs_phase phase;
	bool fresh;
	bool raft_inited, io_inited, transport_inited;
	raft_id id;

	struct peer_auth_config auth;
	struct tls_ctx *client_tls;
	struct raft_uv_transport transport;
	struct raft_io io;
	struct dir_fsm fsm;
	struct raft raft;
	struct rpc_server *rpc;
	struct rpc_client *rpcc;

	uv_timer_t tick;
	bool tick_closed;
	int last_state;
	bool barrier_pending, barrier_done;
	uint64_t barrier_term;
	struct raft_barrier barrier;

	bool changing; /* a configuration change of ours is in flight */
	bool close_called;
	struct rs_waiter *waiters;
	struct rs_prop *props;

	/* commit nudge (leader): see nudge_followers */
	struct raft_barrier nudge;
	bool nudge_pending, nudge_wanted;

	/* last time (raft io clock) a leader was heard from, kept by the tick
	 * so that a candidate still knows it; 0: never since start */
	raft_time leader_contact;
};

/* a local proposal (leader) */
struct rs_prop {
	struct raft_apply req;
	struct raft_service *rs;
	raft_service_done_cb cb;
	void *arg;
	struct rpc_call *call; /* forwarded PROPOSE being answered, or NULL */
	struct rs_prop *prev, *next;
};

struct rs_waiter {
	struct raft_service *rs;
	raft_service_done_cb cb;
	void *arg;
	uint64_t index;
	uint64_t deadline;
	int rc;
	char msg[MN_ERR_MSG_MAX];
	uint64_t rpc_id;
	bool replied; /* index known */
	struct rs_waiter *next;
};

static void
done_msg(raft_service_done_cb cb, void *arg, int rc, const char *msg)
{
	struct mn_err e;

	mn_err_clear(&e);
	if (rc != 0)
		mn_err_set(&e, rc, "%s", msg && *msg ? msg : mn_strerror(rc));
	cb(rc, &e, arg);
}

static const char *
state_name(int state)
{
	switch (state) {
	case RAFT_LEADER:
		return "leader";
	case RAFT_FOLLOWER:
		return "follower";
	case RAFT_CANDIDATE:
		return "candidate";
	default:
		return "unavailable";
	}
}

/* --- files ---------------------------------------------------------------- */

static int
read_id(const char *path, raft_id *out)
{
	FILE *f = fopen(path, "r");
	unsigned long long v = 0;
	char line[32] = "", *end = line;

	if (f == NULL)
		return errno == ENOENT ? MN_ENOENT : MN_EIO;
	if (fgets(line, sizeof(line), f) != NULL) {
		errno = 0;
		v = strtoull(line, &end, 10);
		if (errno != 0 || end == line || (*end != '\n' && *end != '\0'))
			v = 0;
	}
	fclose(f);
	if (v == 0)
		return MN_EPARSE;
	*out = v;
	return 0;
}

static int
write_id(const char *dir, raft_id id, struct mn_err *err)
{
	char *tmp = xasprintf("%s/raft-id.tmp", dir), *path = xasprintf("%s/raft-id", dir);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), rc = 0;
	char line[32];
	int n = snprintf(line, sizeof(line), "%llu\n", (unsigned long long)id);

	if (fd < 0 || write(fd, line, (size_t)n) != n || fsync(fd) != 0 || close(fd) != 0 ||
	    rename(tmp, path) != 0)
		rc = mn_err_set(err, MN_EIO, "write %s: %s", path, strerror(errno));
	free(tmp);
	free(path);
	return rc;
}

/* --- directory lookups ---------------------------------------------------- */

/* the element of a node table array with this name (borrowed), or NULL */
static json_t *
node_find_name(json_t *nodes, const char *name)
{
	size_t i;
	json_t *n;

	json_array_foreach(nodes, i, n)
	{
		const char *v = json_string_value(json_object_get(n, "name"));

		if (v != NULL && strcmp(v, name) == 0)
			return n;
	}
	return NULL;
}

/* rpc address of the node with this raft id (from the node table) */
static int
node_rpc_addr(struct raft_service *rs, raft_id id, char *ip, size_t ipsz, uint16_t *port,
    char *name, size_t namesz)
{
	json_t *nodes = directory_nodes_json(rs->dir), *n;
	size_t i;
	int rc = MN_ENOENT;

	if (nodes == NULL)
		return MN_EDB;
	json_array_foreach(nodes, i, n)
	{
		if ((raft_id)json_integer_value(json_object_get(n, "raft_id")) != id)
			continue;
		snprintf(ip, ipsz, "%s", json_string_value(json_object_get(n, "address")) ?: "");
		*port = (uint16_t)json_integer_value(json_object_get(n, "rpc_port"));
		if (name)
			snprintf(name, namesz, "%s",
			    json_string_value(json_object_get(n, "name")) ?: "");
		rc = *port ? 0 : MN_ENOENT;
		break;
	}
	json_decref(nodes);
	return rc;
}

static int
leader_rpc_addr(struct raft_service *rs, char *ip, size_t ipsz, uint16_t *port)
{
	raft_id lid = 0;
	const char *laddr = NULL;

	if (rs->phase != RS_RUNNING)
		return MN_ENOLEADER;
	raft_leader(&rs->raft, &lid, &laddr);
	if (lid == 0 || lid == rs->id)
		return MN_ENOLEADER;
	if (node_rpc_addr(rs, lid, ip, ipsz, port, NULL, 0) == 0)
		return 0;
	/* not in the node table yet: same IP as its raft address, our rpc port */
	if (laddr == NULL || rpc_parse_hostport(laddr, ip, ipsz, port) != 0)
		return MN_ENOLEADER;
	*port = rs->cfg.rpc_port;
	return 0;
}

/* --- proposals (leader) --------------------------------------------------- */

static void
prop_unlink(struct rs_prop *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		p->rs->props = p->next;
	if (p->next)
		p->next->prev = p->prev;
}

static void
reply_propose(struct rpc_call *call, int rc, const char *msg, uint64_t index)
{
	Mailnode__ProposeReply rep = MAILNODE__PROPOSE_REPLY__INIT;
	uint8_t buf[MN_ERR_MSG_MAX + 64];
	size_t n;

	rep.rc = rc;
	rep.msg = (char *)(msg && *msg ? msg : NULL);
	rep.index = index;
	n = mailnode__propose_reply__pack(&rep, buf);
	rpc_reply(call, 0, NULL, buf, n);
}

/*
 * A follower that forwarded a write answers its client only once it has
 * applied the entry itself (read-your-writes), and a follower learns that
 * an entry committed only from the leader's next AppendEntries. raft 0.15
 * sends that with the next new entry or the next heartbeat (30 ms timer,
 * checked on a 30 ms tick: up to ~60 ms), so a lone client writing through
 * a follower waited ~60 ms per write (tests/bench/raft). When a forwarded
 * entry commits, the leader appends a barrier instead: its AppendEntries
 * goes out at once and carries the new commit index. One barrier in flight
 * at a time; commits meanwhile ask for one more when it is done, so under
 * load the barriers are few and the entries of other writes carry the
 * commit index anyway.
 */
static void nudge_followers(struct raft_service *rs);

static void
nudge_cb(struct raft_barrier *req, int status)
{
	struct raft_service *rs = req->data;

	rs->nudge_pending = false;
	if (status == 0 && rs->nudge_wanted)
		nudge_followers(rs);
}

static void
nudge_followers(struct raft_service *rs)
{
	if (rs->phase != RS_RUNNING || raft_state(&rs->raft) != RAFT_LEADER)
		return;
	if (rs->nudge_pending) {
		rs->nudge_wanted = true;
		return;
	}
	rs->nudge_wanted = false;
	rs->nudge.data = rs;
	if (raft_barrier(&rs->raft, &rs->nudge, nudge_cb) == 0)
		rs->nudge_pending = true;
}

static void
prop_apply_cb(struct raft_apply *req, int status, void *result)
{
	struct rs_prop *p = req->data;
	struct mn_err e;
	int rc = dir_fsm_result_take(status, result, &e);

	prop_unlink(p);
	if (p->call != NULL) {
		if (status != 0) {
			rpc_reply(p->call, rc, e.msg, NULL, 0);
		} else {
			reply_propose(p->call, rc, e.msg, req->index);
			nudge_followers(p->rs);
		}
	} else {
		if (rc != 0 && e.msg[0] == '\0')
			mn_err_set(&e, rc, "%s", mn_strerror(rc));
		p->cb(rc, &e, p->arg);
	}
	free(p);
}

static int
propose_local(struct raft_service *rs, const uint8_t *packed, size_t len, raft_service_done_cb cb,
    void *arg, struct rpc_call *call, struct mn_err *err)
{
	Mailnode__DirectoryCommand *cmd = mailnode__directory_command__unpack(NULL, len, packed);
	struct rs_prop *p;
	int rc;

	if (cmd == NULL)
		return mn_err_set(err, MN_EPARSE, "not a directory command");
	p = xcalloc(1, sizeof(*p));
	p->rs = rs;
	p->cb = cb;
	p->arg = arg;
	p->call = call;
	p->req.data = p;
	rc = dir_fsm_propose(&rs->raft, &p->req, cmd, prop_apply_cb, err);
	mailnode__directory_command__free_unpacked(cmd, NULL);
	if (rc != 0) {
		free(p);
		return rc;
	}
	p->next = rs->props;
	if (rs->props)
		rs->props->prev = p;
	rs->props = p;
	return 0;
}

/* --- forwarded writes (follower) ------------------------------------------ */

static void
waiter_done(struct raft_service *rs, struct rs_waiter *w, int rc, const char *msg)
{
	struct rs_waiter **pp;

	for (pp = &rs->waiters; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	done_msg(w->cb, w->arg, rc, msg);
	free(w);
}

static void
forward_cb(int status, const char *error, const uint8_t *payload, size_t len, void *arg)
{
	struct rs_waiter *w = arg;
	struct raft_service *rs = w->rs;
	Mailnode__ProposeReply *rep;

	if (status != 0) {
		/* the leader is gone or refused (not leader any more): the
		 * write's fate is unknown or it was not made */
		char msg[MN_ERR_MSG_MAX];

		snprintf(msg, sizeof(msg), "no leader reachable (%s)", error ? error : "");
		waiter_done(rs, w,
		    status == MN_ENOLEADER || status == MN_ETIMEDOUT || status == MN_ECLOSED
		        ? MN_ENOLEADER
		        : status,
		    msg);
		return;
	}
	rep = mailnode__propose_reply__unpack(NULL, len, payload);
	if (rep == NULL) {
		waiter_done(rs, w, MN_ETEMP, "bad reply from the leader");
		return;
	}
	w->rc = rep->rc;
	snprintf(w->msg, sizeof(w->msg), "%s", rep->msg ? rep->msg : "");
	w->index = rep->index;
	w->replied = true;
	w->deadline = uv_now(rs->loop) + RAFT_SERVICE_APPLY_WAIT_MS;
	mailnode__propose_reply__free_unpacked(rep, NULL);
	/* applied here already (the commit index can arrive before this
	 * reply), else the tick completes it once it is */
	if (rs->phase == RS_RUNNING && raft_last_applied(&rs->raft) >= w->index)
		waiter_done(rs, w, w->rc, w->msg);
}

static int
forward(
    struct raft_service *rs, const uint8_t *packed, size_t len, raft_service_done_cb cb, void *arg)
{
	Mailnode__ProposeRequest req = MAILNODE__PROPOSE_REQUEST__INIT;
	char ip[64];
	uint16_t port;
	uint8_t *buf;
	size_t n;
	struct rs_waiter *w;
	int rc;

	if (rs->rpcc == NULL || leader_rpc_addr(rs, ip, sizeof(ip), &port) != 0)
		return MN_ENOLEADER;
	req.command.data = (uint8_t *)packed;
	req.command.len = len;
	n = mailnode__propose_request__get_packed_size(&req);
	buf = xmalloc(n);
	mailnode__propose_request__pack(&req, buf);
	w = xcalloc(1, sizeof(*w));
	w->rs = rs;
	w->cb = cb;
	w->arg = arg;
	rc = rpc_client_call(rs->rpcc, ip, port, MAILNODE__RPC_METHOD__RPC_PROPOSE, buf, n,
	    RAFT_SERVICE_FORWARD_TIMEOUT_MS, forward_cb, w, &w->rpc_id);
	free(buf);
	if (rc != 0) {
		free(w);
		return rc == MN_ETOOBIG ? rc : MN_ENOLEADER;
	}
	w->next = rs->waiters;
	rs->waiters = w;
	return 0;
}

int
raft_service_submit(
    struct raft_service *rs, const uint8_t *packed, size_t len, raft_service_done_cb cb, void *arg)
{
	struct mn_err err;

	if (rs->phase == RS_CLOSING || rs->phase == RS_CLOSED)
		return MN_ECLOSED;
	if (len > DIR_MAX_COMMAND)
		return MN_ETOOBIG;
	if (rs->phase != RS_RUNNING)
		return MN_ENOLEADER;
	if (raft_state(&rs->raft) == RAFT_LEADER) {
		int rc = propose_local(rs, packed, len, cb, arg, NULL, &err);

		return rc == MN_EPARSE ? MN_EINVAL : rc;
	}
	return forward(rs, packed, len, cb, arg);
}

/* --- RPC handlers --------------------------------------------------------- */

static void
rpc_propose(struct rpc_call *call, const uint8_t *payload, size_t len, void *arg)
{
	struct raft_service *rs = arg;
	Mailnode__ProposeRequest *req = mailnode__propose_request__unpack(NULL, len, payload);
	struct mn_err err;
	int rc;

	if (req == NULL) {
		rpc_reply(call, MN_EPARSE, "bad propose request", NULL, 0);
		return;
	}
	if (rs->phase != RS_RUNNING || raft_state(&rs->raft) != RAFT_LEADER) {
		mailnode__propose_request__free_unpacked(req, NULL);
		rpc_reply(call, MN_ENOLEADER, "not the leader", NULL, 0);
		return;
	}
	rc = propose_local(rs, req->command.data, req->command.len, NULL, NULL, call, &err);
	mailnode__propose_request__free_unpacked(req, NULL);
	if (rc != 0)
		rpc_reply(call, rc, err.msg, NULL, 0);
}

/* join, leader side: add (spare) -> NodeAdd joining -> reply -> assign
 * voter -> NodeSetState active */
struct rs_join {
	struct raft_service *rs;
	struct rpc_call *call;
	struct raft_change change;
	raft_id id;
	char name[PEER_AUTH_NAME_MAX + 1];
	char address[64];
	uint32_t raft_port, rpc_port;
	uint64_t fwd_id;
};

static void
join_reply(struct rs_join *j, int status, const char *msg)
{
	if (j->call == NULL)
		return;
	if (status == 0) {
		Mailnode__JoinReply rep = MAILNODE__JOIN_REPLY__INIT;
		uint8_t buf[128];

		rep.raft_id = j->id;
		rep.leader = (char *)j->rs->node_name;
		rpc_reply(j->call, 0, NULL, buf, mailnode__join_reply__pack(&rep, buf));
	} else {
		rpc_reply(j->call, status, msg, NULL, 0);
	}
	j->call = NULL;
}

static void
join_state_done(int rc, const struct mn_err *err, void *arg)
{
	struct rs_join *j = arg;

	log_info("cluster", "event=join node=%s raft_id=%llu state=active result=%s", j->name,
	    (unsigned long long)j->id, rc ? err->msg : "ok");
	free(j);
}

static void
submit_cmd(
    struct raft_service *rs, Mailnode__DirectoryCommand *cmd, raft_service_done_cb cb, void *arg)
{
	size_t n;
	uint8_t *buf;
	int rc;

	cmd->has_time = 1;
	cmd->time = (int64_t)time(NULL);
	cmd->origin = rs->node_name;
	n = mailnode__directory_command__get_packed_size(cmd);
	buf = xmalloc(n ? n : 1);
	mailnode__directory_command__pack(cmd, buf);
	rc = raft_service_submit(rs, buf, n, cb, arg);
	free(buf);
	if (rc != 0)
		done_msg(cb, arg, rc, NULL);
}

static void
join_assign_cb(struct raft_change *req, int status)
{
	struct rs_join *j = req->data;
	struct raft_service *rs = j->rs;
	Mailnode__DirectoryCommand cmd = MAILNODE__DIRECTORY_COMMAND__INIT;
	Mailnode__NodeSetState m = MAILNODE__NODE_SET_STATE__INIT;

	rs->changing = false;
	if (status != 0) {
		log_warn("cluster", "event=join node=%s step=assign result=fail reason=\"%s\"",
		    j->name, raft_strerror(status));
		free(j);
		return;
	}
	m.name = j->name;
	m.state = "active";
	cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_NODE_SET_STATE;
	cmd.node_set_state = &m;
	submit_cmd(rs, &cmd, join_state_done, j);
}

static void
join_nodeadd_done(int rc, const struct mn_err *err, void *arg)
{
	struct rs_join *j = arg;
	struct raft_service *rs = j->rs;
	int rv;

	if (rc != 0 && rc != MN_EEXIST) {
		rs->changing = false;
		join_reply(j, rc, err->msg);
		free(j);
		return;
	}
	join_reply(j, 0, NULL);
	/* raft catches the new server up before it counts as a voter */
	j->change.data = j;
	rv = raft_assign(&rs->raft, &j->change, j->id, RAFT_VOTER, join_assign_cb);
	if (rv != 0) {
		rs->changing = false;
		log_warn("cluster", "event=join node=%s step=assign result=fail reason=\"%s\"",
		    j->name, raft_strerror(rv));
		free(j);
	}
}

static void
join_add_cb(struct raft_change *req, int status)
{
	struct rs_join *j = req->data;
	struct raft_service *rs = j->rs;
	Mailnode__DirectoryCommand cmd = MAILNODE__DIRECTORY_COMMAND__INIT;
	Mailnode__NodeAdd m = MAILNODE__NODE_ADD__INIT;

	if (status != 0) {
		rs->changing = false;
		join_reply(j, MN_ETEMP, raft_strerror(status));
		free(j);
		return;
	}
	m.name = j->name;
	m.address = j->address;
	m.has_raft_port = m.has_rpc_port = m.has_raft_id = 1;
	m.raft_port = j->raft_port;
	m.rpc_port = j->rpc_port;
	m.raft_id = j->id;
	m.state = "joining";
	cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_NODE_ADD;
	cmd.node_add = &m;
	submit_cmd(rs, &cmd, join_nodeadd_done, j);
}

static void
join_forward_cb(int status, const char *error, const uint8_t *payload, size_t len, void *arg)
{
	struct rpc_call *call = arg;

	rpc_reply(call, status, error, payload, len);
}

static void
rpc_join(struct rpc_call *call, const uint8_t *payload, size_t len, void *arg)
{
	struct raft_service *rs = arg;
	Mailnode__JoinRequest *req = mailnode__join_request__unpack(NULL, len, payload);
	const struct raft_configuration *conf = &rs->raft.configuration;
	struct rs_join *j;
	raft_id max = 0;
	char addr[96];
	int rv;

	if (req == NULL || strlen(req->name) > PEER_AUTH_NAME_MAX || strlen(req->address) > 45 ||
	    req->raft_port == 0 || req->raft_port > 65535 || req->rpc_port > 65535) {
		if (req)
			mailnode__join_request__free_unpacked(req, NULL);
		rpc_reply(call, MN_EINVAL, "bad join request", NULL, 0);
		return;
	}
	if (rs->phase != RS_RUNNING) {
		rpc_reply(call, MN_ENOLEADER, "not running", NULL, 0);
		goto out;
	}
	if (raft_state(&rs->raft) != RAFT_LEADER) {
		char ip[64];
		uint16_t port;

		if (leader_rpc_addr(rs, ip, sizeof(ip), &port) != 0 ||
		    rpc_client_call(rs->rpcc, ip, port, MAILNODE__RPC_METHOD__RPC_JOIN, payload,
		        len, JOIN_TIMEOUT_MS, join_forward_cb, call, NULL) != 0)
			rpc_reply(call, MN_ENOLEADER, "no leader", NULL, 0);
		goto out;
	}
	snprintf(addr, sizeof(addr), "%s:%u", req->address, req->raft_port);
	/* a retried join of a node already added: same id */
	for (unsigned i = 0; i < conf->n; i++) {
		if (conf->servers[i].id > max)
			max = conf->servers[i].id;
		if (strcmp(conf->servers[i].address, addr) == 0) {
			char ip[64], name[64];
			uint16_t port;

			if (node_rpc_addr(rs, conf->servers[i].id, ip, sizeof(ip), &port, name,
			        sizeof(name)) == 0 &&
			    strcmp(name, req->name) == 0) {
				Mailnode__JoinReply rep = MAILNODE__JOIN_REPLY__INIT;
				uint8_t buf[128];

				rep.raft_id = conf->servers[i].id;
				rpc_reply(
				    call, 0, NULL, buf, mailnode__join_reply__pack(&rep, buf));
			} else {
				rpc_reply(call, MN_EEXIST, "address already a member", NULL, 0);
			}
			goto out;
		}
	}
	if (rs->changing) {
		rpc_reply(call, MN_EAGAIN, "another membership change is in progress", NULL, 0);
		goto out;
	}
	{
		json_t *nodes = directory_nodes_json(rs->dir), *n;
		size_t i;

		json_array_foreach(nodes, i, n)
		{
			raft_id v = (raft_id)json_integer_value(json_object_get(n, "raft_id"));
			const char *nm = json_string_value(json_object_get(n, "name"));

			if (v > max)
				max = v;
			if (nm && strcmp(nm, req->name) == 0) {
				json_decref(nodes);
				rpc_reply(call, MN_EEXIST, "a node with this name exists", NULL, 0);
				goto out;
			}
		}
		if (nodes)
			json_decref(nodes);
	}
	j = xcalloc(1, sizeof(*j));
	j->rs = rs;
	j->call = call;
	j->id = max + 1;
	snprintf(j->name, sizeof(j->name), "%s", req->name);
	snprintf(j->address, sizeof(j->address), "%s", req->address);
	j->raft_port = req->raft_port;
	j->rpc_port = req->rpc_port;
	j->change.data = j;
	rv = raft_add(&rs->raft, &j->change, j->id, addr, join_add_cb);
	if (rv != 0) {
		free(j);
		rpc_reply(call, MN_EAGAIN, raft_strerror(rv), NULL, 0);
		goto out;
	}
	rs->changing = true;
	log_info("cluster", "event=join node=%s address=%s raft_id=%llu step=add", req->name, addr,
	    (unsigned long long)max + 1);
out:
	mailnode__join_request__free_unpacked(req, NULL);
}

static const char *
role_name(struct raft_service *rs, const struct raft_server *s, raft_id leader)
{
	if (s->id == leader)
		return "leader";
	if (s->id == rs->id && raft_state(&rs->raft) == RAFT_CANDIDATE)
		return "candidate";
	return s->role == RAFT_VOTER ? "follower" : "spare";
}

/* ms since this node last heard from a leader: 0 on the leader; from
 * raft's election timer on a follower that knows its leader (raft resets it
 * on every AppendEntries from the leader); else from the tick's record.
 * false: no leader heard from since start (or raft not running). */
static bool
last_contact_ms(struct raft_service *rs, uint64_t *ms)
{
	raft_time now, t;
	raft_id lid = 0;
	const char *laddr;

	if (rs->phase != RS_RUNNING)
		return false;
	now = rs->raft.io->time(rs->raft.io);
	if (raft_state(&rs->raft) == RAFT_LEADER) {
		*ms = 0;
		return true;
	}
	if (raft_state(&rs->raft) == RAFT_FOLLOWER)
		raft_leader(&rs->raft, &lid, &laddr);
	if (lid != 0)
		t = rs->raft.election_timer_start;
	else if (rs->leader_contact != 0)
		t = rs->leader_contact;
	else
		return false;
	*ms = now > t ? now - t : 0;
	return true;
}

/* free and total bytes of the data directory's file system */
static bool
disk_space(const struct raft_service *rs, uint64_t *free_out, uint64_t *total_out)
{
	struct statvfs st;

	if (statvfs(rs->data_dir, &st) != 0)
		return false;
	*free_out = (uint64_t)st.f_bavail * st.f_frsize;
	*total_out = (uint64_t)st.f_blocks * st.f_frsize;
	return true;
}

static void
disk_set(json_t *m, bool known, uint64_t free_b, uint64_t total_b)
{
	json_object_set_new(
	    m, "disk_free_bytes", known ? json_integer((json_int_t)free_b) : json_null());
	json_object_set_new(
	    m, "disk_total_bytes", known ? json_integer((json_int_t)total_b) : json_null());
}

static void
rpc_status(struct rpc_call *call, const uint8_t *payload, size_t len, void *arg)
{
	struct raft_service *rs = arg;
	Mailnode__StatusReply rep = MAILNODE__STATUS_REPLY__INIT;
	Mailnode__StatusMember *ms = NULL, **mp = NULL;
	raft_id lid = 0;
	const char *laddr;
	uint8_t *buf;
	size_t n;

	if (rs->phase != RS_RUNNING) {
		rpc_reply(call, MN_ETEMP, "not running", NULL, 0);
		return;
	}
	raft_leader(&rs->raft, &lid, &laddr);
	rep.state = (char *)state_name(raft_state(&rs->raft));
	rep.has_leader_id = 1;
	rep.leader_id = lid;
	rep.commit_index = rs->raft.commit_index;
	rep.applied_index = raft_last_applied(&rs->raft);
	rep.has_last_contact_ms = last_contact_ms(rs, &rep.last_contact_ms);
	rep.name = rs->node_name;
	rep.has_term = 1;
	rep.term = rs->raft.current_term;
	rep.has_last_index = 1;
	rep.last_index = raft_last_index(&rs->raft);
	rep.has_disk_free_bytes = rep.has_disk_total_bytes =
	    disk_space(rs, &rep.disk_free_bytes, &rep.disk_total_bytes);
	rep.n_members = rs->raft.configuration.n;
	if (rep.n_members) {
		ms = xcalloc(rep.n_members, sizeof(*ms));
		mp = xcalloc(rep.n_members, sizeof(Mailnode__StatusMember *));
	}
	for (size_t i = 0; i < rep.n_members; i++) {
		const struct raft_server *s = &rs->raft.configuration.servers[i];

		mailnode__status_member__init(&ms[i]);
		ms[i].id = s->id;
		ms[i].address = s->address;
		ms[i].role = (char *)role_name(rs, s, lid);
		mp[i] = &ms[i];
	}
	rep.members = mp;
	n = mailnode__status_reply__get_packed_size(&rep);
	buf = xmalloc(n ? n : 1);
	mailnode__status_reply__pack(&rep, buf);
	rpc_reply(call, 0, NULL, buf, n);
	free(buf);
	free(ms);
	free(mp);
}

/* --- status --------------------------------------------------------------- */

/* a member's own view, null when unknown */
static void
member_set(json_t *m, const char *raft_state, const uint64_t *commit, const uint64_t *applied,
    const uint64_t *term, const uint64_t *last_index, const uint64_t *contact)
{
#define U64_OR_NULL(v) ((v) ? json_integer((json_int_t) * (v)) : json_null())
	json_object_set_new(m, "raft_state", raft_state ? json_string(raft_state) : json_null());
	json_object_set_new(m, "commit_index", U64_OR_NULL(commit));
	json_object_set_new(m, "applied_index", U64_OR_NULL(applied));
	json_object_set_new(m, "term", U64_OR_NULL(term));
	json_object_set_new(m, "last_index", U64_OR_NULL(last_index));
	json_object_set_new(m, "last_contact_ms", U64_OR_NULL(contact));
#undef U64_OR_NULL
}

static void
member_set_unknown(json_t *m, const char *error)
{
	member_set(m, NULL, NULL, NULL, NULL, NULL, NULL);
	disk_set(m, false, 0, 0);
	if (error != NULL) {
		json_object_set_new(m, "reachable", json_false());
		json_object_set_new(m, "error", json_string(error));
	}
}

static void
member_set_local(struct raft_service *rs, json_t *m)
{
	uint64_t commit, applied, term, last, contact;
	bool has_contact;

	if (rs->phase != RS_RUNNING) {
		member_set_unknown(m, NULL);
		json_object_set_new(m, "reachable", json_true());
		return;
	}
	commit = rs->raft.commit_index;
	applied = raft_last_applied(&rs->raft);
	term = rs->raft.current_term;
	last = raft_last_index(&rs->raft);
	has_contact = last_contact_ms(rs, &contact);
	member_set(m, state_name(raft_state(&rs->raft)), &commit, &applied, &term, &last,
	    has_contact ? &contact : NULL);
	{
		uint64_t fb = 0, tb = 0;
		bool known = disk_space(rs, &fb, &tb);

		disk_set(m, known, fb, tb);
	}
	json_object_set_new(m, "reachable", json_true());
}

json_t *
raft_service_status_json(struct raft_service *rs)
{
	json_t *nodes = directory_nodes_json(rs->dir), *members = json_array(), *n;
	raft_id lid = 0;
	const char *laddr = NULL;
	const char *leader_name = NULL;
	bool running = rs->phase == RS_RUNNING;
	size_t i;

	if (running)
		raft_leader(&rs->raft, &lid, &laddr);
	if (nodes == NULL)
		nodes = json_array();
	json_array_foreach(nodes, i, n)
	{
		raft_id id = (raft_id)json_integer_value(json_object_get(n, "raft_id"));
		const struct raft_server *s = NULL;
		const char *nm = json_string_value(json_object_get(n, "name"));
		bool self =
		    (id != 0 && id == rs->id) || (nm != NULL && strcmp(nm, rs->node_name) == 0);
		json_t *m = json_object();

		if (running)
			for (unsigned k = 0; k < rs->raft.configuration.n; k++)
				if (id != 0 && rs->raft.configuration.servers[k].id == id)
					s = &rs->raft.configuration.servers[k];
		if (id != 0 && id == lid)
			leader_name = json_string_value(json_object_get(n, "name"));
		json_object_set(m, "name", json_object_get(n, "name"));
		json_object_set_new(m, "role", json_string(s ? role_name(rs, s, lid) : "spare"));
		json_object_set(m, "state", json_object_get(n, "state"));
		json_object_set(m, "address", json_object_get(n, "address"));
		json_object_set_new(m, "raft_id", json_integer((json_int_t)id));
		json_object_set_new(m, "voter", json_boolean(s && s->role == RAFT_VOTER));
		if (self)
			member_set_local(rs, m);
		else
			member_set_unknown(m, NULL);
		json_array_append_new(members, m);
	}
	json_decref(nodes);
	{
		json_t *conf = json_array();

		for (unsigned k = 0; running && k < rs->raft.configuration.n; k++) {
			const struct raft_server *s = &rs->raft.configuration.servers[k];

			json_array_append_new(
			    conf, json_pack("{s:I, s:s, s:i}", "id", (json_int_t)s->id, "address",
			              s->address, "role", s->role));
		}
		return json_pack("{s:o, s:I, s:I, s:s, s:s, s:o, s:I, s:I, s:o}", "leader",
		    leader_name ? json_string(leader_name) : json_null(), "commit_index",
		    (json_int_t)(running ? rs->raft.commit_index : 0), "applied_index",
		    (json_int_t)raft_service_applied_index(rs), "node", rs->node_name, "state",
		    running ? state_name(raft_state(&rs->raft)) : "joining", "members", members,
		    "raft_id", (json_int_t)rs->id, "leader_id", (json_int_t)lid, "configuration",
		    conf);
	}
}

/* cluster status with every member's own view: one STATUS call per member,
 * all at once; the reply comes when the last one answered or timed out */
struct rs_status {
	struct raft_service *rs;
	raft_service_status_cb cb;
	void *arg;
	json_t *st;
	size_t pending;
	bool asking; /* still in raft_service_status: do not finish yet */
};

struct rs_status_ask {
	struct rs_status *s;
	json_t *member; /* borrowed from s->st */
};

static void
status_maybe_finish(struct rs_status *s)
{
	if (s->pending > 0 || s->asking)
		return;
	s->cb(s->st, s->arg);
	free(s);
}

static void
status_ask_cb(int status, const char *error, const uint8_t *payload, size_t len, void *arg)
{
	struct rs_status_ask *a = arg;
	struct rs_status *s = a->s;
	Mailnode__StatusReply *rep = NULL;

	if (status == 0 && (rep = mailnode__status_reply__unpack(NULL, len, payload)) == NULL) {
		status = MN_EPARSE;
		error = "bad status reply";
	}
	if (status != 0) {
		char msg[MN_ERR_MSG_MAX];

		snprintf(msg, sizeof(msg), "%s",
		    status == MN_ETIMEDOUT ? "no answer within the status deadline"
		                           : (error && *error ? error : mn_strerror(status)));
		member_set_unknown(a->member, msg);
	} else {
		const char *want = json_string_value(json_object_get(a->member, "name"));

		member_set(a->member, rep->state, &rep->commit_index, &rep->applied_index,
		    rep->has_term ? &rep->term : NULL,
		    rep->has_last_index ? &rep->last_index : NULL,
		    rep->has_last_contact_ms ? &rep->last_contact_ms : NULL);
		disk_set(a->member, rep->has_disk_free_bytes && rep->has_disk_total_bytes,
		    rep->disk_free_bytes, rep->disk_total_bytes);
		json_object_set_new(a->member, "reachable", json_true());
		/* an address now answered by another node is not this member */
		if (rep->name != NULL && want != NULL && strcmp(rep->name, want) != 0)
			member_set_unknown(a->member, "another node answers at its address");
		mailnode__status_reply__free_unpacked(rep, NULL);
	}
	free(a);
	s->pending--;
	status_maybe_finish(s);
}

void
raft_service_status(struct raft_service *rs, raft_service_status_cb cb, void *arg)
{
	struct rs_status *s = xcalloc(1, sizeof(*s));
	json_t *nodes = directory_nodes_json(rs->dir), *members, *m;
	size_t i;

	s->rs = rs;
	s->cb = cb;
	s->arg = arg;
	s->st = raft_service_status_json(rs);
	s->asking = true;
	members = json_object_get(s->st, "members");
	json_array_foreach(members, i, m)
	{
		const char *name = json_string_value(json_object_get(m, "name"));
		const char *state = json_string_value(json_object_get(m, "state"));
		json_t *n = nodes && name ? node_find_name(nodes, name) : NULL;
		const char *ip = n ? json_string_value(json_object_get(n, "address")) : NULL;
		uint16_t port =
		    n ? (uint16_t)json_integer_value(json_object_get(n, "rpc_port")) : 0;
		struct rs_status_ask *a;

		if (json_is_true(json_object_get(m, "reachable")))
			continue; /* this node: filled in already */
		if (state != NULL && strcmp(state, "removed") == 0)
			continue; /* not a member any more: nothing to ask */
		if (rs->phase != RS_RUNNING) {
			member_set_unknown(m, "this node is not running Raft yet (joining)");
			continue;
		}
		if (rs->rpcc == NULL || ip == NULL || port == 0) {
			member_set_unknown(m, "no RPC address to ask");
			continue;
		}
		if (rpc_client_peer_backing_off(rs->rpcc, ip, port)) {
			member_set_unknown(m, "unreachable (RPC connection failing)");
			continue;
		}
		a = xcalloc(1, sizeof(*a));
		a->s = s;
		a->member = m;
		if (rpc_client_call(rs->rpcc, ip, port, MAILNODE__RPC_METHOD__RPC_STATUS, NULL, 0,
		        RAFT_SERVICE_STATUS_TIMEOUT_MS, status_ask_cb, a, NULL) != 0) {
			free(a);
			member_set_unknown(m, "cannot ask (RPC)");
			continue;
		}
		s->pending++;
	}
	if (nodes != NULL)
		json_decref(nodes);
	s->asking = false;
	status_maybe_finish(s);
}

/* --- remove --------------------------------------------------------------- */

struct rs_remove {
	struct raft_service *rs;
	raft_service_done_cb cb;
	void *arg;
	raft_id id;
	char name[PEER_AUTH_NAME_MAX + 1];
	struct raft_change change;
	struct raft_transfer transfer;
};

static void
remove_state_done(int rc, const struct mn_err *err, void *arg)
{
	struct rs_remove *x = arg;

	x->cb(rc, err, x->arg);
	free(x);
}

static void
remove_cb(struct raft_change *req, int status)
{
	struct rs_remove *x = req->data;
	Mailnode__DirectoryCommand cmd = MAILNODE__DIRECTORY_COMMAND__INIT;
	Mailnode__NodeSetState m = MAILNODE__NODE_SET_STATE__INIT;

	x->rs->changing = false;
	if (status != 0) {
		done_msg(x->cb, x->arg, MN_ETEMP, raft_strerror(status));
		free(x);
		return;
	}
	log_info(
	    "cluster", "event=remove node=%s raft_id=%llu", x->name, (unsigned long long)x->id);
	m.name = x->name;
	m.state = "removed";
	cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_NODE_SET_STATE;
	cmd.node_set_state = &m;
	submit_cmd(x->rs, &cmd, remove_state_done, x);
}

static void
transfer_cb(struct raft_transfer *req)
{
	struct rs_remove *x = req->data;

	x->rs->changing = false;
	/* leadership moved (or not): the caller retries on the new leader */
	done_msg(x->cb, x->arg, MN_ENOLEADER,
	    "leadership transferred away from the node being removed; retry");
	free(x);
}

struct rs_remove_fwd {
	struct raft_service *rs;
	raft_service_done_cb cb;
	void *arg;
};

static void
remove_forward_cb(int status, const char *error, const uint8_t *payload, size_t len, void *arg)
{
	struct rs_remove_fwd *f = arg;
	struct raft_service *rs = f->rs;
	Mailnode__RemoveReply *rep;
	uint64_t index = 0;

	if (status == MN_ETIMEDOUT || status == MN_ECLOSED)
		status = MN_ENOLEADER;
	if (status == 0 && len > 0 && (rep = mailnode__remove_reply__unpack(NULL, len, payload))) {
		index = rep->has_index ? rep->index : 0;
		mailnode__remove_reply__free_unpacked(rep, NULL);
	}
	if (status == 0 && index > 0 && rs->phase == RS_RUNNING &&
	    raft_last_applied(&rs->raft) < index) {
		/* read-your-writes: answer once the node table here says so
		 * (the tick completes it, as a forwarded write) */
		struct rs_waiter *w = xcalloc(1, sizeof(*w));

		w->rs = rs;
		w->cb = f->cb;
		w->arg = f->arg;
		w->index = index;
		w->replied = true;
		w->deadline = uv_now(rs->loop) + RAFT_SERVICE_APPLY_WAIT_MS;
		w->next = rs->waiters;
		rs->waiters = w;
		free(f);
		return;
	}
	done_msg(f->cb, f->arg, status, error);
	free(f);
}

/* a follower sends the remove to the leader (RPC REMOVE) */
static int
remove_forward(struct raft_service *rs, const char *name, raft_service_done_cb cb, void *arg)
{
	Mailnode__RemoveRequest req = MAILNODE__REMOVE_REQUEST__INIT;
	struct rs_remove_fwd *f;
	uint8_t buf[PEER_AUTH_NAME_MAX + 16];
	char ip[64];
	uint16_t port;
	size_t n;

	if (strlen(name) > PEER_AUTH_NAME_MAX)
		return MN_ENOENT;
	if (rs->rpcc == NULL || leader_rpc_addr(rs, ip, sizeof(ip), &port) != 0)
		return MN_ENOLEADER;
	req.name = (char *)name;
	n = mailnode__remove_request__pack(&req, buf);
	f = xcalloc(1, sizeof(*f));
	f->rs = rs;
	f->cb = cb;
	f->arg = arg;
	if (rpc_client_call(rs->rpcc, ip, port, MAILNODE__RPC_METHOD__RPC_REMOVE, buf, n,
	        RAFT_SERVICE_REMOVE_TIMEOUT_MS, remove_forward_cb, f, NULL) != 0) {
		free(f);
		return MN_ENOLEADER;
	}
	return 0;
}

struct rs_remove_call {
	struct raft_service *rs;
	struct rpc_call *call;
};

static void
rpc_remove_done(int rc, const struct mn_err *err, void *arg)
{
	struct rs_remove_call *rc_ = arg;
	Mailnode__RemoveReply rep = MAILNODE__REMOVE_REPLY__INIT;
	uint8_t buf[16];

	if (rc != 0) {
		rpc_reply(rc_->call, rc, err->msg, NULL, 0);
	} else {
		/* the node table entry is applied here: the commit index
		 * covers it */
		rep.has_index = 1;
		rep.index = rc_->rs->raft.commit_index;
		rpc_reply(rc_->call, 0, NULL, buf, mailnode__remove_reply__pack(&rep, buf));
	}
	free(rc_);
}

static void
rpc_remove(struct rpc_call *call, const uint8_t *payload, size_t len, void *arg)
{
	struct raft_service *rs = arg;
	Mailnode__RemoveRequest *req = mailnode__remove_request__unpack(NULL, len, payload);
	int rc;

	if (req == NULL) {
		rpc_reply(call, MN_EPARSE, "bad remove request", NULL, 0);
		return;
	}
	/* only the leader acts: no second hop */
	if (rs->phase != RS_RUNNING || raft_state(&rs->raft) != RAFT_LEADER) {
		rc = MN_ENOLEADER;
	} else {
		struct rs_remove_call *x = xcalloc(1, sizeof(*x));

		x->rs = rs;
		x->call = call;
		rc = raft_service_remove(rs, req->name, rpc_remove_done, x);
		if (rc != 0)
			free(x);
	}
	mailnode__remove_request__free_unpacked(req, NULL);
	if (rc != 0)
		rpc_reply(call, rc,
		    rc == MN_EAGAIN ? "another membership change is in progress" : mn_strerror(rc),
		    NULL, 0);
}

int
raft_service_remove(struct raft_service *rs, const char *name, raft_service_done_cb cb, void *arg)
{
	json_t *nodes, *n;
	struct rs_remove *x;
	raft_id id = 0;
	size_t i;
	int rv;

	if (rs->phase != RS_RUNNING)
		return MN_ENOLEADER;
	if (raft_state(&rs->raft) != RAFT_LEADER)
		return remove_forward(rs, name, cb, arg);
	if (rs->changing)
		return MN_EAGAIN;
	if ((nodes = directory_nodes_json(rs->dir)) == NULL)
		return MN_EDB;
	json_array_foreach(nodes, i, n)
	{
		const char *nm = json_string_value(json_object_get(n, "name"));

		if (nm && strcmp(nm, name) == 0)
			id = (raft_id)json_integer_value(json_object_get(n, "raft_id"));
	}
	json_decref(nodes);
	if (id == 0)
		return MN_ENOENT;
	x = xcalloc(1, sizeof(*x));
	x->rs = rs;
	x->cb = cb;
	x->arg = arg;
	x->id = id;
	snprintf(x->name, sizeof(x->name), "%s", name);
	x->change.data = x;
	x->transfer.data = x;
	{
		bool in_conf = false;

		for (unsigned k = 0; k < rs->raft.configuration.n; k++)
			in_conf = in_conf || rs->raft.configuration.servers[k].id == id;
		if (!in_conf) {
			/* out of Raft already (e.g. dropped by mailnode --recover):
			 * only the node table is left to update */
			Mailnode__DirectoryCommand cmd = MAILNODE__DIRECTORY_COMMAND__INIT;
			Mailnode__NodeSetState m = MAILNODE__NODE_SET_STATE__INIT;

			log_info("cluster", "event=remove node=%s raft_id=%llu step=table_only",
			    x->name, (unsigned long long)id);
			m.name = x->name;
			m.state = "removed";
			cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_NODE_SET_STATE;
			cmd.node_set_state = &m;
			submit_cmd(rs, &cmd, remove_state_done, x);
			return 0;
		}
	}
	if (id == rs->id)
		rv = raft_transfer(&rs->raft, &x->transfer, 0, transfer_cb);
	else
		rv = raft_remove(&rs->raft, &x->change, id, remove_cb);
	if (rv != 0) {
		free(x);
		return rv == RAFT_BADID || rv == RAFT_NOTFOUND ? MN_ENOENT : MN_ETEMP;
	}
	rs->changing = true;
	return 0;
}

/* --- tick ----------------------------------------------------------------- */

static void
barrier_cb(struct raft_barrier *req, int status)
{
	struct raft_service *rs = req->data;

	rs->barrier_pending = false;
	if (status == 0 && rs->barrier_term == rs->raft.current_term) {
		rs->barrier_done = true;
		log_info("raft", "event=leader_ready term=%llu applied=%llu",
		    (unsigned long long)rs->raft.current_term,
		    (unsigned long long)raft_last_applied(&rs->raft));
	}
}

static void
tick_cb(uv_timer_t *t)
{
	struct raft_service *rs = t->data;
	int state;
	uint64_t now = uv_now(rs->loop), applied;

	if (rs->phase != RS_RUNNING)
		return;
	state = raft_state(&rs->raft);
	if (state != rs->last_state) {
		log_info("raft", "event=state state=%s term=%llu", state_name(state),
		    (unsigned long long)rs->raft.current_term);
		rs->last_state = state;
		rs->barrier_done = false;
		if (state != RAFT_LEADER)
			rs->changing = false;
	}
	if (state == RAFT_LEADER && !rs->barrier_done && !rs->barrier_pending) {
		rs->barrier.data = rs;
		rs->barrier_term = rs->raft.current_term;
		if (raft_barrier(&rs->raft, &rs->barrier, barrier_cb) == 0)
			rs->barrier_pending = true;
	}
	{
		uint64_t ms;

		/* remember it while it is known, for when it is not any more */
		if (state == RAFT_LEADER || state == RAFT_FOLLOWER)
			if (last_contact_ms(rs, &ms))
				rs->leader_contact = rs->raft.io->time(rs->raft.io) - ms;
	}
	applied = raft_last_applied(&rs->raft);
	for (struct rs_waiter *w = rs->waiters, *next; w; w = next) {
		next = w->next;
		if (w->replied && applied >= w->index) {
			waiter_done(rs, w, w->rc, w->msg);
			next = rs->waiters;
		} else if (w->replied && now >= w->deadline) {
			waiter_done(
			    rs, w, MN_ETEMP, "the change committed but is not applied here yet");
			next = rs->waiters;
		}
	}
}

/* An entry was applied (called from inside raft's apply, see fsm.h): if a
 * forwarded write waits for its index, run the tick on the next loop
 * iteration instead of up to TICK_MS later. raft_last_applied() counts the
 * entry only once apply has returned, which it has by then. */
static void
fsm_applied(void *arg)
{
	struct raft_service *rs = arg;

	if (rs->waiters != NULL && rs->phase == RS_RUNNING)
		uv_timer_start(&rs->tick, tick_cb, 0, TICK_MS);
}

/* --- start ---------------------------------------------------------------- */

static int
raft_begin(struct raft_service *rs, bool bootstrap, struct mn_err *err)
{
	char *dir = xasprintf("%s/raft", rs->data_dir);
	struct transport_config tc = {
	    .bind_address = rs->address,
	    .port = rs->cfg.raft_port,
	    .no_listener = rs->cfg.raft_port == 0,
	    .server_tls = rs->cfg.server_tls,
	    .auth = &rs->auth,
	};
	int rv;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		mn_err_set(err, MN_EIO, "mkdir %s: %s", dir, strerror(errno));
		free(dir);
		return MN_EIO;
	}
	if ((rv = transport_init(&rs->transport, rs->loop, &tc)) != 0) {
		free(dir);
		return mn_err_set(err, rv, "raft listener %s:%u", rs->address, rs->cfg.raft_port);
	}
	rs->transport_inited = true;
	rv = raft_uv_init(&rs->io, rs->loop, dir, &rs->transport);
	free(dir);
	if (rv != 0)
		return mn_err_set(err, MN_EIO, "raft_uv_init: %s", rs->io.errmsg);
	rs->io_inited = true;
	raft_uv_set_connect_retry_delay(&rs->io, 200);
	dir_fsm_init(&rs->fsm, rs->dir);
	rs->fsm.on_applied = fsm_applied;
	rs->fsm.on_applied_arg = rs;
	rv = raft_init(&rs->raft, &rs->io, &rs->fsm.raft, rs->id, rs->raft_addr);
	if (rv != 0)
		return mn_err_set(err, MN_EIO, "raft_init: %s", raft_errmsg(&rs->raft));
	rs->raft_inited = true;
	raft_set_pre_vote(&rs->raft, true);
	/* followers learn the commit index from the next append or heartbeat:
	 * a forwarded write waits for it (read-your-writes), so beat often */
	raft_set_heartbeat_timeout(&rs->raft, RAFT_SERVICE_HEARTBEAT_MS);
	raft_set_election_timeout(&rs->raft, RAFT_SERVICE_ELECTION_MS);
	raft_set_snapshot_threshold(&rs->raft, rs->cfg.snapshot_threshold);
	raft_set_snapshot_trailing(&rs->raft, rs->cfg.snapshot_threshold);
	if (bootstrap) {
		struct raft_configuration conf;

		raft_configuration_init(&conf);
		raft_configuration_add(&conf, rs->id, rs->raft_addr, RAFT_VOTER);
		rv = raft_bootstrap(&rs->raft, &conf);
		raft_configuration_close(&conf);
		if (rv != 0 && rv != RAFT_CANTBOOTSTRAP)
			return mn_err_set(
			    err, MN_EIO, "raft_bootstrap: %s", raft_errmsg(&rs->raft));
	}
	if ((rv = raft_start(&rs->raft)) != 0)
		return mn_err_set(err, MN_EIO, "raft_start: %s", raft_errmsg(&rs->raft));
	rs->phase = RS_RUNNING;
	rs->last_state = -1;
	log_info("raft", "event=start id=%llu address=%s bootstrap=%s", (unsigned long long)rs->id,
	    rs->raft_addr, bootstrap ? "yes" : "no");
	return 0;
}

static void join_send(struct raft_service *rs);

static void
join_retry_cb(uv_timer_t *t)
{
	struct raft_service *rs = t->data;

	uv_timer_start(&rs->tick, tick_cb, TICK_MS, TICK_MS);
	join_send(rs);
}

static void
join_reply_cb(int status, const char *error, const uint8_t *payload, size_t len, void *arg)
{
	struct raft_service *rs = arg;
	Mailnode__JoinReply *rep;
	struct mn_err err;

	if (rs->phase != RS_JOINING)
		return;
	rep = status == 0 ? mailnode__join_reply__unpack(NULL, len, payload) : NULL;
	if (rep == NULL || rep->raft_id == 0) {
		log_warn("cluster", "event=join via=%s result=retry reason=\"%s\"", rs->join,
		    status ? (error ? error : mn_strerror(status)) : "bad reply");
		if (rep)
			mailnode__join_reply__free_unpacked(rep, NULL);
		/* the tick timer doubles as the retry timer while joining */
		uv_timer_start(&rs->tick, join_retry_cb, JOIN_RETRY_MS, 0);
		return;
	}
	rs->id = rep->raft_id;
	mailnode__join_reply__free_unpacked(rep, NULL);
	mn_err_clear(&err);
	if (write_id(rs->data_dir, rs->id, &err) != 0 || raft_begin(rs, false, &err) != 0) {
		log_error("cluster", "event=join result=fail reason=\"%s\"", err.msg);
		rs->phase = RS_CLOSED;
		return;
	}
	log_info(
	    "cluster", "event=joined via=%s raft_id=%llu", rs->join, (unsigned long long)rs->id);
	uv_timer_start(&rs->tick, tick_cb, TICK_MS, TICK_MS);
}

static void
join_send(struct raft_service *rs)
{
	Mailnode__JoinRequest req = MAILNODE__JOIN_REQUEST__INIT;
	char ip[64];
	uint16_t port;
	uint8_t buf[256];
	size_t n;

	if (rs->phase != RS_JOINING)
		return;
	uv_timer_stop(&rs->tick);
	if (rpc_parse_hostport(rs->join, ip, sizeof(ip), &port) != 0)
		return; /* checked at start */
	req.name = rs->node_name;
	req.address = rs->address;
	req.raft_port = rs->cfg.raft_port;
	req.rpc_port = rs->cfg.rpc_port;
	n = mailnode__join_request__pack(&req, buf);
	if (rpc_client_call(rs->rpcc, ip, port, MAILNODE__RPC_METHOD__RPC_JOIN, buf, n,
	        JOIN_TIMEOUT_MS, join_reply_cb, rs, NULL) != 0)
		uv_timer_start(&rs->tick, join_retry_cb, JOIN_RETRY_MS, 0);
}

int
raft_service_start(uv_loop_t *loop, struct directory *dir, const struct raft_service_config *cfg,
    struct raft_service **out, struct mn_err *err)
{
	struct raft_service *rs = xcalloc(1, sizeof(*rs));
	char *idpath;
	bool has_secret = cfg->secret && *cfg->secret;
	bool joining = cfg->join && *cfg->join;
	int rc;

	*out = rs;
	rs->loop = loop;
	rs->dir = dir;
	rs->cfg = *cfg;
	rs->data_dir = xstrdup(cfg->data_dir);
	rs->node_name = xstrdup(cfg->node_name);
	rs->address = xstrdup(cfg->address);
	rs->join = joining ? xstrdup(cfg->join) : NULL;
	rs->secret = has_secret ? xstrdup(cfg->secret) : NULL;
	if (rs->cfg.snapshot_threshold == 0)
		rs->cfg.snapshot_threshold = 1024;
	snprintf(rs->raft_addr, sizeof(rs->raft_addr),
	    strchr(cfg->address, ':') ? "[%s]:%u" : "%s:%u", cfg->address, cfg->raft_port);
	uv_timer_init(loop, &rs->tick);
	rs->tick.data = rs;

	if ((rc = peer_auth_client_ctx(&rs->client_tls, err)) != 0)
		return rc;
	rs->auth.secret = rs->secret;
	rs->auth.node_name = rs->node_name;
	rs->auth.client_tls = rs->client_tls;
	rpc_client_new(loop, &rs->auth, &rs->rpcc);
	if (cfg->rpc_port != 0) {
		struct rpc_server_config sc = {
		    .address = cfg->address,
		    .port = cfg->rpc_port,
		    .tls = cfg->server_tls,
		    .auth = &rs->auth,
		};

		if ((rc = rpc_server_start(loop, &sc, &rs->rpc, err)) != 0)
			return mn_err_wrap(err, "rpc %s:%u", cfg->address, cfg->rpc_port);
		rpc_server_handle(rs->rpc, MAILNODE__RPC_METHOD__RPC_JOIN, rpc_join, rs);
		rpc_server_handle(rs->rpc, MAILNODE__RPC_METHOD__RPC_PROPOSE, rpc_propose, rs);
		rpc_server_handle(rs->rpc, MAILNODE__RPC_METHOD__RPC_STATUS, rpc_status, rs);
		rpc_server_handle(rs->rpc, MAILNODE__RPC_METHOD__RPC_REMOVE, rpc_remove, rs);
	}

	idpath = xasprintf("%s/raft-id", cfg->data_dir);
	rc = read_id(idpath, &rs->id);
	free(idpath);
	if (rc == 0)
		rc = raft_begin(rs, false, err);
	else if (rc != MN_ENOENT)
		rc = mn_err_set(err, rc, "%s/raft-id is unreadable", cfg->data_dir);
	else if (!joining) {
		rs->id = 1;
		rs->fresh = true;
		if ((rc = write_id(cfg->data_dir, rs->id, err)) == 0)
			rc = raft_begin(rs, true, err);
	} else {
		char ip[64];
		uint16_t port;

		if (!has_secret)
			return mn_err_set(err, MN_EINVAL, "[cluster] join needs [cluster] secret");
		if (rpc_parse_hostport(cfg->join, ip, sizeof(ip), &port) != 0)
			return mn_err_set(
			    err, MN_EINVAL, "[cluster] join: \"%s\" is not IP:PORT", cfg->join);
		if (cfg->rpc_port == 0)
			return mn_err_set(err, MN_EINVAL, "[cluster] join needs an rpc_port");
		rs->phase = RS_JOINING;
		log_info("cluster", "event=join via=%s node=%s", cfg->join, cfg->node_name);
		join_send(rs);
		return 0;
	}
	if (rc != 0)
		return rc;
	uv_timer_start(&rs->tick, tick_cb, TICK_MS, TICK_MS);
	return 0;
}

bool
raft_service_fresh(const struct raft_service *rs)
{
	return rs->fresh;
}

bool
raft_service_is_leader(const struct raft_service *rs)
{
	return rs->phase == RS_RUNNING && raft_state((struct raft *)&rs->raft) == RAFT_LEADER;
}

bool
raft_service_ready(const struct raft_service *rs)
{
	struct raft *r = (struct raft *)&rs->raft;
	raft_id lid = 0;
	const char *laddr;

	if (rs->phase != RS_RUNNING)
		return false;
	if (raft_state(r) == RAFT_LEADER)
		return rs->barrier_done;
	raft_leader(r, &lid, &laddr);
	return lid != 0 && r->commit_index > 0 && raft_last_applied(r) >= r->commit_index;
}

uint64_t
raft_service_id(const struct raft_service *rs)
{
	return rs->id;
}

uint64_t
raft_service_applied_index(const struct raft_service *rs)
{
	if (!rs->raft_inited)
		return 0;
	return raft_last_applied((struct raft *)&rs->raft);
}

/* --- close ---------------------------------------------------------------- */

static void
tick_closed(uv_handle_t *h)
{
	struct raft_service *rs = h->data;

	rs->tick_closed = true;
}

static void
raft_closed_cb(struct raft *r)
{
	struct raft_service *rs = r->data;

	rs->phase = RS_CLOSED;
}

void
raft_service_close(struct raft_service *rs)
{
	bool raft_running = rs->phase == RS_RUNNING;

	if (rs->close_called)
		return;
	rs->close_called = true;
	rs->phase = RS_CLOSING;
	uv_timer_stop(&rs->tick);
	uv_close((uv_handle_t *)&rs->tick, tick_closed);
	rpc_server_stop(&rs->rpc);
	while (rs->waiters) {
		rpc_client_cancel(rs->rpcc, rs->waiters->rpc_id);
		waiter_done(rs, rs->waiters, MN_ECLOSED, "node is shutting down");
	}
	rpc_client_close(&rs->rpcc);
	if (rs->raft_inited) {
		(void)raft_running;
		rs->raft.data = rs;
		raft_close(&rs->raft, raft_closed_cb);
	} else {
		rs->phase = RS_CLOSED;
	}
}

bool
raft_service_closed(const struct raft_service *rs)
{
	return rs->phase == RS_CLOSED && rs->tick_closed;
}

void
raft_service_free(struct raft_service **rsp)
{
	struct raft_service *rs = *rsp;

	if (rs == NULL)
		return;
	*rsp = NULL;
	if (rs->raft_inited)
		dir_fsm_fini(&rs->fsm);
	if (rs->io_inited)
		raft_uv_close(&rs->io);
	if (rs->transport_inited)
		transport_fini(&rs->transport);
	if (rs->client_tls)
		tls_ctx_free(&rs->client_tls);
	free(rs->data_dir);
	free(rs->node_name);
	free(rs->address);
	free(rs->join);
	free(rs->secret);
	free(rs);
}
