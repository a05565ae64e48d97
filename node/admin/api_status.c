/*
 * api_status.c - GET /api/v1/status: which node answers, its version,
 * uptime and hostname, and for the web admin's dashboard: the free space of
 * its data directory, its services with their ports, and the counts of
 * domains, users, aliases, groups and stored messages. Any administrator
 * may ask; a domain administrator's counts are those of its own domain.
 *
 * Message totals come from the mail store of this node (every mailbox
 * homed here), one quota lookup per mailbox on the thread pool: at 10,000
 * users that takes seconds, so the totals are kept for STATUS_TOTALS_MS
 * and refreshed in the background; only the first request waits for them.
 * XXX: mailboxes homed on other nodes are counted by those nodes (ask each
 * node's /status); the cluster-wide sum needs a node-to-node call.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "node/admin/api.h"
#include "storage/mailstore/mailstore.h"

#define STATUS_TOTALS_MS 60000
#define STATUS_MAX_WAITING 32 /* more first requests are answered without totals */

struct status_totals {
	json_t *by_domain; /* {domain: {"messages": N, "bytes": N}}, NULL before the first */
	uint64_t at_ms;
	bool busy;
	struct api_req *waiting[STATUS_MAX_WAITING];
	size_t nwaiting;
};

struct totals_work {
	uv_work_t w;
	struct admin_api *api;
	struct mailstore *ms;
	char **users;
	char **domains; /* parallel to users (borrowed from users' strings) */
	size_t n;
	json_t *out;
};

void
api_status_fini(struct admin_api *api)
{
	if (api->totals == NULL)
		return;
	if (api->totals->by_domain != NULL)
		json_decref(api->totals->by_domain);
	free(api->totals);
	api->totals = NULL;
}

static json_t *
services_json(struct admin_api *api)
{
	const struct mn_config *c = api->cfg;
	static const struct {
		const char *name;
		size_t off;
	} svc[] = {
	    {"smtp", offsetof(struct mn_config, smtp_port)},
	    {"submission", offsetof(struct mn_config, submission_port)},
	    {"smtps", offsetof(struct mn_config, smtps_port)},
	    {"imap", offsetof(struct mn_config, imap_port)},
	    {"imaps", offsetof(struct mn_config, imaps_port)},
	    {"pop3", offsetof(struct mn_config, pop3_port)},
	    {"pop3s", offsetof(struct mn_config, pop3s_port)},
	    {"http", offsetof(struct mn_config, http_port)},
	    {"https", offsetof(struct mn_config, https_port)},
	    {"raft", offsetof(struct mn_config, raft_port)},
	    {"rpc", offsetof(struct mn_config, rpc_port)},
	};
	json_t *a = json_array();

	for (size_t i = 0; i < sizeof(svc) / sizeof(svc[0]); i++) {
		uint16_t port = *(const uint16_t *)((const char *)c + svc[i].off);

		/* the node refuses to start when a configured listener cannot
		 * bind, so a configured port is a listening one; 0 is off */
		json_array_append_new(a, json_pack("{s:s, s:i, s:s}", "name", svc[i].name, "port",
		                             (int)port, "state", port ? "listening" : "off"));
	}
	json_array_append_new(a, json_pack("{s:s, s:n, s:s}", "name", "delivery", "port", "state",
	                             api->queue ? "running" : "stopped"));
	return a;
}

static json_t *
disk_json(const char *dir)
{
	struct statvfs st;
	uint64_t free_bytes, total_bytes;

	if (statvfs(dir, &st) != 0)
		return json_null();
	/* in 64 bits, then into jansson's signed integer */
	free_bytes = (uint64_t)st.f_bavail * st.f_frsize;
	total_bytes = (uint64_t)st.f_blocks * st.f_frsize;
	return json_pack("{s:s, s:I, s:I}", "path", dir, "free_bytes", (json_int_t)free_bytes,
	    "total_bytes", (json_int_t)total_bytes);
}

/* domains, users, aliases, groups of `only` (NULL: all) */
static json_t *
counts_json(struct admin_api *api, const char *only)
{
	json_t *doms = directory_domains_json(api->dir), *d;
	json_t *aliases = directory_aliases_json(api->dir, only);
	json_t *groups = directory_groups_json(api->dir, only);
	json_int_t ndom = 0, nusers = 0;
	size_t i;

	json_array_foreach(doms, i, d)
	{
		const char *name = json_string_value(json_object_get(d, "name"));

		if (only != NULL && (name == NULL || strcmp(name, only) != 0))
			continue;
		ndom++;
		nusers += json_integer_value(json_object_get(d, "users"));
	}
	d = json_pack("{s:I, s:I, s:I, s:I}", "domains", ndom, "users", nusers, "aliases",
	    (json_int_t)json_array_size(aliases), "groups", (json_int_t)json_array_size(groups));
	if (doms)
		json_decref(doms);
	if (aliases)
		json_decref(aliases);
	if (groups)
		json_decref(groups);
	return d;
}

static void
totals_work_cb(uv_work_t *w)
{
	struct totals_work *t = w->data;

	t->out = json_object();
	for (size_t i = 0; i < t->n; i++) {
		uint64_t bytes = 0, msgs = 0;
		struct mn_err err;
		json_t *d;

		if (!mailstore_user_exists(t->ms, t->users[i]) ||
		    mailstore_quota_usage(t->ms, t->users[i], &bytes, &msgs, &err) != 0)
			continue;
		if ((d = json_object_get(t->out, t->domains[i])) == NULL) {
			d = json_pack(
			    "{s:I, s:I}", "messages", (json_int_t)0, "bytes", (json_int_t)0);
			json_object_set_new(t->out, t->domains[i], d);
		}
		json_object_set_new(d, "messages",
		    json_integer(
		        json_integer_value(json_object_get(d, "messages")) + (json_int_t)msgs));
		json_object_set_new(d, "bytes",
		    json_integer(
		        json_integer_value(json_object_get(d, "bytes")) + (json_int_t)bytes));
	}
}

static void reply_status(struct api_req *r);

static void
totals_after_cb(uv_work_t *w, int status)
{
	struct totals_work *t = w->data;
	struct status_totals *st = t->api->totals;
	struct api_req *waiting[STATUS_MAX_WAITING];
	size_t nwaiting = st->nwaiting;

	(void)status;
	if (st->by_domain != NULL)
		json_decref(st->by_domain);
	st->by_domain = t->out;
	st->at_ms = uv_now(t->api->loop);
	st->busy = false;
	memcpy(waiting, st->waiting, nwaiting * sizeof(struct api_req *));
	st->nwaiting = 0;
	for (size_t i = 0; i < t->n; i++)
		free(t->users[i]);
	free(t->users);
	free(t->domains);
	free(t);
	for (size_t i = 0; i < nwaiting; i++)
		reply_status(waiting[i]);
}

/* start a recount of this node's mailboxes; false when it cannot start */
static bool
totals_start(struct admin_api *api)
{
	json_t *users = directory_users_json(api->dir, NULL, NULL, 0, 0), *u;
	struct totals_work *t;
	size_t i;

	if (users == NULL)
		return false;
	t = xcalloc(1, sizeof(*t));
	t->w.data = t;
	t->api = api;
	t->ms = api->ms;
	t->users = xcalloc(json_array_size(users) + 1, sizeof(char *));
	t->domains = xcalloc(json_array_size(users) + 1, sizeof(char *));
	json_array_foreach(users, i, u)
	{
		const char *addr = json_string_value(json_object_get(u, "address"));
		const char *home = json_string_value(json_object_get(u, "home_node"));

		if (addr == NULL ||
		    (home != NULL && *home != '\0' && strcmp(home, api->node_name) != 0))
			continue;
		t->users[t->n] = xstrdup(addr);
		t->domains[t->n] = strrchr(t->users[t->n], '@') + 1;
		t->n++;
	}
	json_decref(users);
	if (uv_queue_work(api->loop, &t->w, totals_work_cb, totals_after_cb) != 0) {
		for (i = 0; i < t->n; i++)
			free(t->users[i]);
		free(t->users);
		free(t->domains);
		free(t);
		return false;
	}
	api->totals->busy = true;
	return true;
}

static void
reply_status(struct api_req *r)
{
	struct admin_api *api = r->api;
	uint64_t up = (uv_now(api->loop) - api->started_ms) / 1000;
	const char *only = api_is_system(r) ? NULL : r->who.domain;
	json_t *j = json_pack("{s:s, s:s, s:I, s:s}", "node", api->node_name, "version", MN_VERSION,
	    "uptime_s", (json_int_t)up, "hostname", api->hostname);
	json_t *counts = counts_json(api, only);
	json_t *by = api->totals ? api->totals->by_domain : NULL;

	if (by != NULL) {
		json_int_t msgs = 0, bytes = 0;
		const char *dom;
		json_t *v;

		json_object_foreach(by, dom, v)
		{
			if (only != NULL && strcmp(dom, only) != 0)
				continue;
			msgs += json_integer_value(json_object_get(v, "messages"));
			bytes += json_integer_value(json_object_get(v, "bytes"));
		}
		json_object_set_new(counts, "messages", json_integer(msgs));
		json_object_set_new(counts, "message_bytes", json_integer(bytes));
		json_object_set_new(counts, "messages_age_s",
		    json_integer((json_int_t)((uv_now(api->loop) - api->totals->at_ms) / 1000)));
	} else {
		json_object_set_new(counts, "messages", json_null());
		json_object_set_new(counts, "message_bytes", json_null());
	}
	json_object_set_new(j, "counts", counts);
	if (api->cfg != NULL) {
		json_object_set_new(j, "address", json_string(api->cfg->listen_address));
		json_object_set_new(j, "services", services_json(api));
		json_object_set_new(j, "disk", disk_json(api->cfg->data_dir));
	}
	api_reply_json(r, 200, j);
}

void
api_status(struct api_req *r)
{
	struct admin_api *api = r->api;
	struct status_totals *st;

	if (api->ms == NULL) {
		reply_status(r);
		return;
	}
	if (api->totals == NULL)
		api->totals = xcalloc(1, sizeof(*api->totals));
	st = api->totals;
	if (!st->busy &&
	    (st->by_domain == NULL || uv_now(api->loop) >= st->at_ms + STATUS_TOTALS_MS))
		(void)totals_start(api);
	if (st->busy && st->by_domain == NULL && st->nwaiting < STATUS_MAX_WAITING) {
		st->waiting[st->nwaiting++] = r; /* the first count: wait for it */
		return;
	}
	reply_status(r);
}
