/*
 * api_aliases.c - /api/v1/aliases: address aliases (one local address
 * forwarding to a list of targets, local or external).
 */
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "node/admin/api.h"

/* the alias object of address, a new reference, or NULL */
static json_t *
alias_json(struct api_req *r, const char *address)
{
	json_t *all = directory_aliases_json(r->api->dir, api_domain_of(address));
	json_t *a = all ? api_json_find(all, "address", address) : NULL;

	if (a != NULL)
		json_incref(a);
	if (all != NULL)
		json_decref(all);
	return a;
}

void
api_aliases_list(struct api_req *r)
{
	bool stop;
	const char *domain = api_list_domain(r, &stop);
	json_t *list;

	if (stop)
		return;
	if ((list = directory_aliases_json(r->api->dir, domain)) == NULL) {
		api_reply_error(r, 500, "internal error");
		return;
	}
	api_reply_json(r, 200, list);
}

void
api_aliases_get(struct api_req *r)
{
	char *address = api_address_arg(r, r->seg[1]);
	json_t *a;

	if (address == NULL || !api_scope_address(r, address))
		return;
	if ((a = alias_json(r, address)) == NULL) {
		api_reply_error(r, 404, "alias %s does not exist", address);
		return;
	}
	api_reply_json(r, 200, a);
}

static void
alias_added(struct api_req *r)
{
	json_t *a = alias_json(r, r->cmd.alias_add->address);

	if (a == NULL) {
		api_reply_error(r, 500, "internal error");
		return;
	}
	api_reply_json(r, 201, a);
}

void
api_aliases_add(struct api_req *r)
{
	const char *in;
	char *address;
	json_t *targets, *t;
	Mailnode__AliasAdd *m;
	size_t i, n;

	if (api_body_string(r, "address", true, DIR_MAX_ADDRESS, &in) != 0)
		return;
	targets = r->body ? json_object_get(r->body, "targets") : NULL;
	if (targets == NULL || !json_is_array(targets) || json_array_size(targets) == 0) {
		api_reply_error(r, 400, "field \"targets\" must be a non-empty array of addresses");
		return;
	}
	if ((n = json_array_size(targets)) > DIR_MAX_ALIAS_TARGETS) {
		api_reply_error(r, 400, "at most %d targets", DIR_MAX_ALIAS_TARGETS);
		return;
	}
	if ((address = api_new_address(r, in, "alias")) == NULL)
		return;
	m = API_NEW(r, Mailnode__AliasAdd, MAILNODE__ALIAS_ADD__INIT);
	m->address = address;
	m->targets = api_track(r, xcalloc(n, sizeof(char *)));
	json_array_foreach(targets, i, t)
	{
		char *target;

		if (!json_is_string(t)) {
			api_reply_error(r, 400, "field \"targets\" must be an array of addresses");
			return;
		}
		/* on NULL r (and m) are gone: assign only after the check */
		if ((target = api_address_arg(r, json_string_value(t))) == NULL)
			return;
		m->targets[i] = target;
	}
	m->n_targets = n;
	r->cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_ALIAS_ADD;
	r->cmd.alias_add = m;
	api_apply(r, alias_added);
}

void
api_aliases_del(struct api_req *r)
{
	char *address = api_address_arg(r, r->seg[1]);
	Mailnode__AliasDel *m;
	json_t *a;

	if (address == NULL || !api_scope_address(r, address))
		return;
	if ((a = alias_json(r, address)) == NULL) {
		api_reply_error(r, 404, "alias %s does not exist", address);
		return;
	}
	json_decref(a);
	m = API_NEW(r, Mailnode__AliasDel, MAILNODE__ALIAS_DEL__INIT);
	m->address = address;
	r->cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_ALIAS_DEL;
	r->cmd.alias_del = m;
	api_apply(r, api_step_no_content);
}
