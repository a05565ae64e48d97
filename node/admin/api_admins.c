/*
 * api_admins.c - /api/v1/admins: administrator accounts (system ones, and
 * domain administrators scoped to one domain). System administrators only
 * (route table). The last system administrator cannot be deleted: nobody
 * could manage the cluster afterwards.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "node/admin/api.h"

#define API_MAX_ADMIN_NAME 64

/* names appear in Basic credentials (no ':') and in logs */
static bool
admin_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > API_MAX_ADMIN_NAME)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		        (*s >= '0' && *s <= '9') || strchr("._@+-", *s) != NULL))
			return false;
	return true;
}

static json_t *
admin_json(const char *name, const char *domain)
{
	return json_pack(
	    "{s:s, s:o}", "name", name, "domain", domain ? json_string(domain) : json_null());
}

void
api_admins_list(struct api_req *r)
{
	json_t *list = directory_admins_json(r->api->dir);

	if (list == NULL) {
		api_reply_error(r, 500, "internal error");
		return;
	}
	api_reply_json(r, 200, list);
}

static void
admin_added(struct api_req *r)
{
	Mailnode__AdminAdd *m = r->cmd.admin_add;

	api_reply_json(r, 201, admin_json(m->name, m->domain));
}

static void
admin_add_hashed(struct api_req *r)
{
	r->cmd.admin_add->password_hash = r->hash;
	api_apply(r, admin_added);
}

void
api_admins_add(struct api_req *r)
{
	const char *name, *password, *domain;
	Mailnode__AdminAdd *m;
	char *d = NULL;

	if (api_body_string(r, "name", true, API_MAX_ADMIN_NAME, &name) != 0 ||
	    api_body_string(r, "password", true, API_MAX_PASSWORD, &password) != 0 ||
	    api_body_string(r, "domain", false, DIR_MAX_DOMAIN, &domain) != 0)
		return;
	if (!admin_name_ok(name)) {
		api_reply_error(r, 400, "bad admin name (letters, digits and ._@+- only)");
		return;
	}
	if (domain != NULL && *domain != '\0') {
		d = api_strdup(r, domain);
		ascii_lower(d);
		if (!directory_domain_exists(r->api->dir, d)) {
			api_reply_error(r, 404, "domain %s does not exist", d);
			return;
		}
	}
	{
		struct dir_admin a;

		memset(&a, 0, sizeof(a));
		if (directory_admin_get(r->api->dir, name, &a) == 0) {
			dir_admin_fini(&a);
			api_reply_error(r, 409, "admin %s already exists", name);
			return;
		}
	}
	m = API_NEW(r, Mailnode__AdminAdd, MAILNODE__ADMIN_ADD__INIT);
	m->name = api_strdup(r, name);
	m->domain = d;
	r->cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_ADMIN_ADD;
	r->cmd.admin_add = m;
	api_hash_password(r, password, admin_add_hashed);
}

/* existing admin of path segment 1, into *a (caller finis); false after a
 * reply */
static bool
path_admin(struct api_req *r, struct dir_admin *a)
{
	memset(a, 0, sizeof(*a));
	if (!admin_name_ok(r->seg[1]) || directory_admin_get(r->api->dir, r->seg[1], a) != 0) {
		api_reply_error(r, 404, "no such admin");
		return false;
	}
	return true;
}

static void
admin_changed(struct api_req *r)
{
	struct dir_admin a;

	admin_auth_forget(r->api->auth, r->cmd.admin_passwd->name);
	memset(&a, 0, sizeof(a));
	if (directory_admin_get(r->api->dir, r->cmd.admin_passwd->name, &a) != 0) {
		api_reply_error(r, 404, "admin %s does not exist", r->cmd.admin_passwd->name);
		return;
	}
	api_reply_json(r, 200, admin_json(a.name, a.domain));
	dir_admin_fini(&a);
}

static void
admin_passwd_hashed(struct api_req *r)
{
	r->cmd.admin_passwd->password_hash = r->hash;
	api_apply(r, admin_changed);
}

void
api_admins_patch(struct api_req *r)
{
	Mailnode__AdminPasswd *m;
	struct dir_admin a;
	const char *password;

	if (!path_admin(r, &a))
		return;
	dir_admin_fini(&a);
	if (api_body_string(r, "password", true, API_MAX_PASSWORD, &password) != 0)
		return;
	m = API_NEW(r, Mailnode__AdminPasswd, MAILNODE__ADMIN_PASSWD__INIT);
	m->name = api_strdup(r, r->seg[1]);
	r->cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_ADMIN_PASSWD;
	r->cmd.admin_passwd = m;
	api_hash_password(r, password, admin_passwd_hashed);
}

static void
admin_deleted(struct api_req *r)
{
	admin_auth_forget(r->api->auth, r->cmd.admin_del->name);
	api_reply_empty(r, 204);
}

void
api_admins_del(struct api_req *r)
{
	Mailnode__AdminDel *m;
	struct dir_admin a;
	bool system;

	if (!path_admin(r, &a))
		return;
	system = a.domain == NULL;
	dir_admin_fini(&a);
	if (system) {
		json_t *all = directory_admins_json(r->api->dir), *e;
		size_t i, nsystem = 0;

		json_array_foreach(all, i, e) if (json_is_null(json_object_get(e, "domain")) ||
		                                  json_object_get(e, "domain") == NULL) nsystem++;
		json_decref(all);
		if (nsystem <= 1) {
			api_reply_error(r, 409, "cannot delete the last system administrator");
			return;
		}
	}
	m = API_NEW(r, Mailnode__AdminDel, MAILNODE__ADMIN_DEL__INIT);
	m->name = api_strdup(r, r->seg[1]);
	r->cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_ADMIN_DEL;
	r->cmd.admin_del = m;
	api_apply(r, admin_deleted);
}
