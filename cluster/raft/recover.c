/*
 * recover.c - `mailnode --recover` (see recover.h): member list parsing
 * and raft_recover on the node's raft_uv directory.
 *
 * raft_recover needs an initialised struct raft over the node's raft_uv
 * I/O; nothing is started, so the stock TCP transport (which would only
 * listen at raft_start) and an FSM that is never called do.
 */
#include "cluster/raft/recover.h"

#include <errno.h>
#include <jansson.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "cluster/rpc/rpc.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "storage/directory/directory.h"

#define RECOVER_SPEC_MAX 8192

/* the node table of data_dir/directory.db, or NULL (reason in err) */
static json_t *
load_nodes(const char *data_dir, struct mn_err *err)
{
	char *path = xasprintf("%s/directory.db", data_dir);
	struct directory *d = NULL;
	json_t *nodes = NULL;
	struct stat st;

	/* directory_open would create an empty one: the table is gone */
	if (stat(path, &st) != 0)
		mn_err_set(err, MN_EINVAL, "%s: %s; name the members as ID=IP:RAFT_PORT instead",
		    path, strerror(errno));
	else if (directory_open(path, &d, err) == 0 && (nodes = directory_nodes_json(d)) == NULL)
		mn_err_set(err, MN_EDB, "cannot read the node table of %s", path);
	directory_close(&d);
	free(path);
	return nodes;
}

static int
parse_explicit(const char *item, struct recover_member *m, struct mn_err *err)
{
	const char *eq = strchr(item, '=');
	char *end, ip[64];
	unsigned long long id;
	uint16_t port;

	errno = 0;
	id = strtoull(item, &end, 10);
	if (end != eq || end == item || errno != 0 || id == 0)
		return mn_err_set(
		    err, MN_EINVAL, "member \"%s\": the raft id must be a number > 0", item);
	if (strlen(eq + 1) >= sizeof(m->address) ||
	    rpc_parse_hostport(eq + 1, ip, sizeof(ip), &port) != 0)
		return mn_err_set(err, MN_EINVAL, "member \"%s\": not ID=IP:PORT", item);
	m->id = id;
	snprintf(m->address, sizeof(m->address), "%s", eq + 1);
	m->name[0] = '\0';
	return 0;
}

static int
resolve_name(json_t *nodes, const char *name, struct recover_member *m, struct mn_err *err)
{
	size_t i;
	json_t *n;

	json_array_foreach(nodes, i, n)
	{
		const char *nm = json_string_value(json_object_get(n, "name"));
		const char *addr = json_string_value(json_object_get(n, "address"));
		const char *state = json_string_value(json_object_get(n, "state"));
		json_int_t id = json_integer_value(json_object_get(n, "raft_id"));
		json_int_t port = json_integer_value(json_object_get(n, "raft_port"));

		if (nm == NULL || strcmp(nm, name) != 0)
			continue;
		if (state != NULL && strcmp(state, "removed") == 0)
			return mn_err_set(
			    err, MN_EINVAL, "node %s was removed from the cluster", name);
		if (id <= 0 || addr == NULL || port <= 0 || port > 65535)
			return mn_err_set(err, MN_EINVAL,
			    "node %s has no raft id or address in the node table; name it as "
			    "ID=IP:RAFT_PORT",
			    name);
		m->id = (uint64_t)id;
		snprintf(m->address, sizeof(m->address),
		    strchr(addr, ':') ? "[%s]:%lld" : "%s:%lld", addr, (long long)port);
		snprintf(m->name, sizeof(m->name), "%s", name);
		return 0;
	}
	return mn_err_set(err, MN_EINVAL, "no node %s in the node table", name);
}

int
recover_parse(const char *data_dir, const char *spec, struct recover_member *out, size_t max,
    size_t *n_out, struct mn_err *err)
{
	char *copy, *save = NULL, *item;
	json_t *nodes = NULL;
	size_t n = 0;
	int rc = 0;

	*n_out = 0;
	if (spec == NULL || *spec == '\0' || strlen(spec) > RECOVER_SPEC_MAX)
		return mn_err_set(err, MN_EINVAL, "no members given");
	copy = xstrdup(spec);
	for (item = strtok_r(copy, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
		if (n == max) {
			rc = mn_err_set(err, MN_EINVAL, "more than %zu members", max);
			break;
		}
		if (strchr(item, '=') != NULL) {
			rc = parse_explicit(item, &out[n], err);
		} else {
			if (nodes == NULL && (nodes = load_nodes(data_dir, err)) == NULL) {
				rc = err->code ? err->code : MN_EINVAL;
				break;
			}
			rc = resolve_name(nodes, item, &out[n], err);
		}
		if (rc != 0)
			break;
		for (size_t k = 0; k < n; k++)
			if (out[k].id == out[n].id || strcmp(out[k].address, out[n].address) == 0) {
				rc = mn_err_set(err, MN_EINVAL,
				    "member \"%s\" given twice (raft id %llu or address %s)", item,
				    (unsigned long long)out[n].id, out[n].address);
				break;
			}
		if (rc != 0)
			break;
		n++;
	}
	if (rc == 0 && n == 0)
		rc = mn_err_set(err, MN_EINVAL, "no members given");
	if (nodes != NULL)
		json_decref(nodes);
	free(copy);
	*n_out = rc == 0 ? n : 0;
	return rc;
}

/* --- raft_recover --------------------------------------------------------- */

static int
fsm_apply_never(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
	(void)fsm;
	(void)buf;
	(void)result;
	return RAFT_INVALID; /* nothing is applied while recovering */
}

static void
raft_closed(struct raft *r)
{
	*(bool *)r->data = true;
}

int
recover_run(const char *data_dir, const struct recover_member *m, size_t n, struct mn_err *err)
{
	char *idpath = xasprintf("%s/raft-id", data_dir), *dir = xasprintf("%s/raft", data_dir);
	struct raft_fsm fsm = {.version = 1, .apply = fsm_apply_never};
	struct raft_uv_transport transport = {0};
	struct raft_configuration conf;
	struct raft_io io = {0};
	struct raft r;
	uv_loop_t loop;
	unsigned long long self = 0;
	const char *self_addr = NULL;
	bool closed = false, loop_ok = false, tr_ok = false, io_ok = false;
	FILE *f;
	int rv, rc = 0;
	struct stat st;

	if ((f = fopen(idpath, "r")) != NULL) {
		char line[32] = "", *end;

		if (fgets(line, sizeof(line), f) != NULL) {
			errno = 0;
			self = strtoull(line, &end, 10);
			if (errno != 0 || end == line || (*end != '\n' && *end != '\0'))
				self = 0;
		}
		fclose(f);
	}
	if (self == 0) {
		rc = mn_err_set(err, MN_EINVAL,
		    "%s: no raft id (this data_dir never joined a cluster)", idpath);
		goto out;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		rc = mn_err_set(err, MN_EINVAL, "%s: no raft directory", dir);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (m[i].id == self)
			self_addr = m[i].address;
	if (self_addr == NULL) {
		rc = mn_err_set(err, MN_EINVAL,
		    "this node (raft id %llu) must be one of the members it is recovered with",
		    self);
		goto out;
	}
	if (uv_loop_init(&loop) != 0) {
		rc = mn_err_set(err, MN_EIO, "uv_loop_init failed");
		goto out;
	}
	loop_ok = true;
	if ((rv = raft_uv_tcp_init(&transport, &loop)) != 0) {
		rc = mn_err_set(err, MN_EIO, "raft transport: %s", raft_strerror(rv));
		goto out;
	}
	tr_ok = true;
	if ((rv = raft_uv_init(&io, &loop, dir, &transport)) != 0) {
		rc = mn_err_set(err, MN_EIO, "raft io on %s: %s", dir, raft_strerror(rv));
		goto out;
	}
	io_ok = true;
	if ((rv = raft_init(&r, &io, &fsm, self, self_addr)) != 0) {
		rc = mn_err_set(err, MN_EIO, "raft_init: %s", raft_errmsg(&r));
		goto out;
	}
	raft_configuration_init(&conf);
	for (size_t i = 0; i < n && rv == 0; i++)
		rv = raft_configuration_add(&conf, m[i].id, m[i].address, RAFT_VOTER);
	if (rv == 0)
		rv = raft_recover(&r, &conf);
	raft_configuration_close(&conf);
	if (rv != 0)
		rc = mn_err_set(err, MN_EIO, "raft_recover on %s: %s", dir,
		    raft_errmsg(&r)[0] ? raft_errmsg(&r) : raft_strerror(rv));
	else
		log_info("raft", "event=recover id=%llu members=%zu dir=%s", self, n, dir);
	r.data = &closed;
	raft_close(&r, raft_closed);
	while (!closed && uv_run(&loop, UV_RUN_ONCE) != 0)
		;
out:
	if (io_ok)
		raft_uv_close(&io);
	if (tr_ok)
		raft_uv_tcp_close(&transport);
	if (loop_ok) {
		uv_run(&loop, UV_RUN_DEFAULT);
		if (uv_loop_close(&loop) != 0)
			log_warn("raft", "event=recover reason=\"loop handles left open\"");
	}
	free(idpath);
	free(dir);
	return rc;
}
