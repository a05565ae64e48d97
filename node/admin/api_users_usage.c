/*
 * api_users_usage.c - GET /api/v1/users?usage=1: the list with the mail
 * store's figures (used_bytes, used_messages) of every listed user homed
 * on the node answering, for the web admin's "quota with usage" column.
 *
 * Without usage=1 the list never touches the mail store (one index open per
 * user would make a big page slow); with it, the page is limited to
 * API_USAGE_MAX_PAGE users and the lookups run on the thread pool, one
 * after the other (the store serialises per user anyway). A user homed on
 * another node, or whose figures cannot be read, gets null (unknown), not
 * 0: the page shows "-" rather than an empty mailbox. A user without a
 * mailbox yet (nothing delivered) has 0.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "node/admin/api.h"
#include "storage/mailstore/mailstore.h"

struct list_usage {
	uv_work_t w;
	struct api_req *r;
	struct mailstore *ms;
	json_t *list;     /* the reply; entries completed after the work */
	char **addresses; /* NULL: not homed here */
	uint64_t *bytes, *msgs;
	bool *known;
	size_t n;
};

static void
list_usage_work_cb(uv_work_t *w)
{
	struct list_usage *u = w->data;

	for (size_t i = 0; i < u->n; i++) {
		struct mn_err err;

		if (u->addresses[i] == NULL)
			continue;
		if (!mailstore_user_exists(u->ms, u->addresses[i])) {
			u->known[i] = true; /* nothing delivered yet */
			continue;
		}
		u->known[i] = mailstore_quota_usage(
		                  u->ms, u->addresses[i], &u->bytes[i], &u->msgs[i], &err) == 0;
	}
}

static void
list_usage_free(struct list_usage *u)
{
	for (size_t i = 0; i < u->n; i++)
		free(u->addresses[i]);
	free(u->addresses);
	free(u->bytes);
	free(u->msgs);
	free(u->known);
	free(u);
}

static void
list_usage_after_cb(uv_work_t *w, int status)
{
	struct list_usage *u = w->data;
	json_t *e;
	size_t i;

	(void)status;
	json_array_foreach(u->list, i, e)
	{
		bool known = i < u->n && u->known[i];

		json_object_set_new(
		    e, "used_bytes", known ? json_integer((json_int_t)u->bytes[i]) : json_null());
		json_object_set_new(
		    e, "used_messages", known ? json_integer((json_int_t)u->msgs[i]) : json_null());
	}
	api_reply_json(u->r, 200, u->list);
	list_usage_free(u);
}

void
api_users_list_usage(struct api_req *r, json_t *list)
{
	struct list_usage *u;
	json_t *e;
	size_t i;

	if (r->api->ms == NULL) {
		/* no store on this node: nothing is known */
		json_array_foreach(list, i, e)
		{
			json_object_set_new(e, "used_bytes", json_null());
			json_object_set_new(e, "used_messages", json_null());
		}
		api_reply_json(r, 200, list);
		return;
	}
	u = xcalloc(1, sizeof(*u));
	u->w.data = u;
	u->r = r;
	u->ms = r->api->ms;
	u->list = list;
	u->n = json_array_size(list);
	u->addresses = xcalloc(u->n + 1, sizeof(char *));
	u->bytes = xcalloc(u->n + 1, sizeof(uint64_t));
	u->msgs = xcalloc(u->n + 1, sizeof(uint64_t));
	u->known = xcalloc(u->n + 1, sizeof(bool));
	json_array_foreach(list, i, e)
	{
		const char *addr = json_string_value(json_object_get(e, "address"));
		const char *home = json_string_value(json_object_get(e, "home_node"));

		/* no home node recorded: a single node's own user */
		if (addr != NULL &&
		    (home == NULL || *home == '\0' || strcmp(home, r->api->node_name) == 0))
			u->addresses[i] = xstrdup(addr);
	}
	if (uv_queue_work(r->api->loop, &u->w, list_usage_work_cb, list_usage_after_cb) != 0) {
		json_decref(u->list);
		list_usage_free(u);
		api_reply_error(r, 503, "cannot read the mail store now");
	}
}
