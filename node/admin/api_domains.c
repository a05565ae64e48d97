/*
 * api_domains.c - /api/v1/domains: list, add, show, delete local domains
 * and their domain aliases. Adding and deleting domains and aliases is for
 * system administrators (the route table says so); a domain administrator
 * sees only its own domain.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "node/admin/api.h"

char *
api_domain_arg(struct api_req *r, const char *in)
{
	char *d;

	if (in == NULL || strlen(in) > DIR_MAX_DOMAIN) {
		api_reply_error(r, 400, "bad domain name");
		return NULL;
	}
	d = api_strdup(r, in);
	ascii_lower(d);
	if (directory_check_domain(d) != 0) {
		api_reply_error(r, 400, "bad domain name");
		return NULL;
	}
	return d;
}

char *
api_path_domain(struct api_req *r)
{
	char *d = api_domain_arg(r, r->seg[1]), *canon;

	if (d == NULL || !api_scope_domain(r, d))
		return NULL;
	if (!directory_domain_exists(r->api->dir, d)) {
		canon = directory_domain_canonical(r->api->dir, d);
		if (canon != NULL)
			api_reply_error(r, 404, "%s is an alias of %s: use %s", d, canon, canon);
		else
			api_reply_error(r, 404, "domain %s does not exist", d);
		free(canon);
		return NULL;
	}
	return d;
}

/* reply with the domain object of `name` (status), or 404 */
static void
reply_domain(struct api_req *r, int status, const char *name)
{
	json_t *d = directory_domain_json(r->api->dir, name);

	if (d == NULL) {
		api_reply_error(r, 404, "domain %s does not exist", name);
		return;
	}
	api_reply_json(r, status, d);
}

void
api_domains_list(struct api_req *r)
{
	json_t *all = directory_domains_json(r->api->dir), *out;
	size_t i;
	json_t *d;

	if (all == NULL) {
		api_reply_error(r, 500, "internal error");
		return;
	}
	if (api_is_system(r)) {
		api_reply_json(r, 200, all);
		return;
	}
	out = json_array();
	json_array_foreach(all, i, d)
	{
		const char *name = json_string_value(json_object_get(d, "name"));

		if (name != NULL && strcmp(name, r->who.domain) == 0)
			json_array_append(out, d);
	}
	json_decref(all);
	api_reply_json(r, 200, out);
}

void
api_domains_get(struct api_req *r)
{
	char *name = api_domain_arg(r, r->seg[1]);

	if (name == NULL || !api_scope_domain(r, name))
		return;
	reply_domain(r, 200, name);
}

static void
domain_added(struct api_req *r)
{
	reply_domain(r, 201, r->cmd.domain_add->name);
}

void
api_domains_add(struct api_req *r)
{
	Mailnode__DomainAdd *m;
	const char *in;
	char *name;

	if (api_body_string(r, "name", true, DIR_MAX_DOMAIN, &in) != 0)
		return;
	if ((name = api_domain_arg(r, in)) == NULL)
		return;
	m = API_NEW(r, Mailnode__DomainAdd, MAILNODE__DOMAIN_ADD__INIT);
	m->name = name;
	r->cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_ADD;
	r->cmd.domain_add = m;
	api_apply(r, domain_added);
}

void
api_domains_del(struct api_req *r)
{
	Mailnode__DomainDel *m;
	char *name = api_domain_arg(r, r->seg[1]);

	if (name == NULL)
		return;
	if (!directory_domain_exists(r->api->dir, name)) {
		api_reply_error(r, 404, "domain %s does not exist", name);
		return;
	}
	m = API_NEW(r, Mailnode__DomainDel, MAILNODE__DOMAIN_DEL__INIT);
	m->name = name;
	r->cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_DEL;
	r->cmd.domain_del = m;
	api_apply(r, api_step_no_content);
}

static void
alias_added(struct api_req *r)
{
	reply_domain(r, 201, r->cmd.domain_alias_add->domain);
}

void
api_domains_alias_add(struct api_req *r)
{
	Mailnode__DomainAliasAdd *m;
	char *name = api_domain_arg(r, r->seg[1]), *alias;
	const char *in;

	if (name == NULL)
		return;
	if (!directory_domain_exists(r->api->dir, name)) {
		api_reply_error(r, 404, "domain %s does not exist", name);
		return;
	}
	if (api_body_string(r, "alias", true, DIR_MAX_DOMAIN, &in) != 0)
		return;
	if ((alias = api_domain_arg(r, in)) == NULL)
		return;
	m = API_NEW(r, Mailnode__DomainAliasAdd, MAILNODE__DOMAIN_ALIAS_ADD__INIT);
	m->alias = alias;
	m->domain = name;
	r->cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_ALIAS_ADD;
	r->cmd.domain_alias_add = m;
	api_apply(r, alias_added);
}

void
api_domains_alias_del(struct api_req *r)
{
	Mailnode__DomainAliasDel *m;
	char *name = api_domain_arg(r, r->seg[1]), *alias, *canon;
	bool ok;

	if (name == NULL || (alias = api_domain_arg(r, r->seg[3])) == NULL)
		return;
	/* the alias must belong to this domain, not just exist */
	canon = directory_domain_canonical(r->api->dir, alias);
	ok = canon != NULL && strcmp(canon, name) == 0 && strcmp(alias, name) != 0;
	free(canon);
	if (!ok) {
		api_reply_error(r, 404, "%s is not an alias of %s", alias, name);
		return;
	}
	m = API_NEW(r, Mailnode__DomainAliasDel, MAILNODE__DOMAIN_ALIAS_DEL__INIT);
	m->alias = alias;
	r->cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_ALIAS_DEL;
	r->cmd.domain_alias_del = m;
	api_apply(r, api_step_no_content);
}
