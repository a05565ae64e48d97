/*
 * api_groups.c - /api/v1/groups: distribution groups and their members
 * (users, other groups - nesting, cycles refused by the directory - or
 * external addresses).
 */
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "node/admin/api.h"

#define API_MAX_GROUP_NAME 256

static json_t *
group_json(struct api_req *r, const char *address)
{
	json_t *all = directory_groups_json(r->api->dir, api_domain_of(address));
	json_t *g = all ? api_json_find(all, "address", address) : NULL;

	if (g != NULL)
		json_incref(g);
	if (all != NULL)
		json_decref(all);
	return g;
}

/* the group in path segment 1: checked, in scope, existing */
static char *
path_group(struct api_req *r)
{
	char *address = api_address_arg(r, r->seg[1]);
	json_t *g;

	if (address == NULL || !api_scope_address(r, address))
		return NULL;
	if ((g = group_json(r, address)) == NULL) {
		api_reply_error(r, 404, "group %s does not exist", address);
		return NULL;
	}
	json_decref(g);
	return address;
}

void
api_groups_list(struct api_req *r)
{
	bool stop;
	const char *canon = api_list_domain(r, &stop);
	json_t *list;

	if (stop)
		return;
	if ((list = directory_groups_json(r->api->dir, canon)) == NULL) {
		api_reply_error(r, 500, "internal error");
		return;
	}
	api_reply_json(r, 200, list);
}

void
api_groups_get(struct api_req *r)
{
	char *address = api_address_arg(r, r->seg[1]);
	json_t *g;

	if (address == NULL || !api_scope_address(r, address))
		return;
	if ((g = group_json(r, address)) == NULL) {
		api_reply_error(r, 404, "group %s does not exist", address);
		return;
	}
	api_reply_json(r, 200, g);
}

static void
reply_group(struct api_req *r, int status, const char *address)
{
	json_t *g = group_json(r, address);

	if (g == NULL) {
		api_reply_error(r, 500, "internal error");
		return;
	}
	api_reply_json(r, status, g);
}

static void
group_added(struct api_req *r)
{
	reply_group(r, 201, r->cmd.group_add->address);
}

void
api_groups_add(struct api_req *r)
{
	const char *in, *name;
	char *address;
	Mailnode__GroupAdd *m;

	if (api_body_string(r, "address", true, DIR_MAX_ADDRESS, &in) != 0 ||
	    api_body_string(r, "name", false, API_MAX_GROUP_NAME, &name) != 0)
		return;
	if ((address = api_new_address(r, in, "group")) == NULL)
		return;
	m = API_NEW(r, Mailnode__GroupAdd, MAILNODE__GROUP_ADD__INIT);
	m->address = address;
	m->name = api_strdup(r, name);
	r->cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_GROUP_ADD;
	r->cmd.group_add = m;
	api_apply(r, group_added);
}

void
api_groups_del(struct api_req *r)
{
	Mailnode__GroupDel *m;
	char *address;

	if ((address = path_group(r)) == NULL)
		return;
	m = API_NEW(r, Mailnode__GroupDel, MAILNODE__GROUP_DEL__INIT);
	m->address = address;
	r->cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_GROUP_DEL;
	r->cmd.group_del = m;
	api_apply(r, api_step_no_content);
}

static void
member_added(struct api_req *r)
{
	reply_group(r, 201, r->cmd.group_member_add->group);
}

void
api_groups_member_add(struct api_req *r)
{
	Mailnode__GroupMemberAdd *m;
	char *address, *member;
	const char *in;

	if ((address = path_group(r)) == NULL)
		return;
	if (api_body_string(r, "member", true, DIR_MAX_ADDRESS, &in) != 0 ||
	    (member = api_address_arg(r, in)) == NULL)
		return;
	m = API_NEW(r, Mailnode__GroupMemberAdd, MAILNODE__GROUP_MEMBER_ADD__INIT);
	m->group = address;
	m->member = member;
	r->cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_GROUP_MEMBER_ADD;
	r->cmd.group_member_add = m;
	api_apply(r, member_added);
}

void
api_groups_member_del(struct api_req *r)
{
	Mailnode__GroupMemberDel *m;
	char *address, *member;

	if ((address = path_group(r)) == NULL || (member = api_address_arg(r, r->seg[3])) == NULL)
		return;
	m = API_NEW(r, Mailnode__GroupMemberDel, MAILNODE__GROUP_MEMBER_DEL__INIT);
	m->group = address;
	m->member = member;
	r->cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_GROUP_MEMBER_DEL;
	r->cmd.group_member_del = m;
	api_apply(r, api_step_no_content);
}
