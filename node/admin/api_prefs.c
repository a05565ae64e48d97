/*
 * api_prefs.c - /api/v1/users/{address}/prefs and /api/v1/domains/{domain}/prefs:
 * the preferences kept in the directory (storage/directory/prefs.c: sender
 * allow/block lists, send-limit overrides, a user's webmail settings).
 *
 * GET answers {key: value} of what is set. PUT takes {key: string|null}
 * (null deletes the key) and applies every key in one PrefSet, so either
 * all of them change or none; the reply is the new object. Keys and value
 * syntax are checked by the directory; an unknown key is refused here
 * already so that the reason names it before anything is proposed.
 */
#include <string.h>

#include "lib/buf.h"
#include "node/admin/api.h"

static void
reply_prefs(struct api_req *r, int status, const char *scope, const char *name)
{
	api_reply_json(r, status, directory_prefs_json(r->api->dir, scope, name));
}

static void
prefs_set(struct api_req *r)
{
	reply_prefs(r, 200, r->cmd.pref_set->scope, r->cmd.pref_set->name);
}

/* PrefSet of scope/name from the request body; replies itself */
static void
prefs_put(struct api_req *r, const char *scope, char *name)
{
	Mailnode__PrefSet *m;
	const char *key;
	json_t *v;
	size_t n = 0;

	if (r->body == NULL || !json_is_object(r->body) || json_object_size(r->body) == 0 ||
	    json_object_size(r->body) > DIR_MAX_PREFS_PER_SET) {
		api_reply_error(
		    r, 400, "body must be an object of 1 to %d preferences", DIR_MAX_PREFS_PER_SET);
		return;
	}
	m = API_NEW(r, Mailnode__PrefSet, MAILNODE__PREF_SET__INIT);
	m->scope = (char *)scope;
	m->name = name;
	m->prefs = api_track(r, xcalloc(json_object_size(r->body), sizeof(Mailnode__PrefEntry *)));
	json_object_foreach(r->body, key, v)
	{
		Mailnode__PrefEntry *e;

		if (!directory_pref_key_valid(scope, key)) {
			api_reply_error(r, 400, "%s is not a %s preference", key, scope);
			return;
		}
		if (!json_is_string(v) && !json_is_null(v)) {
			api_reply_error(r, 400, "preference %s must be a string or null", key);
			return;
		}
		e = API_NEW(r, Mailnode__PrefEntry, MAILNODE__PREF_ENTRY__INIT);
		e->key = api_strdup(r, key);
		e->value = json_is_string(v) ? api_strdup(r, json_string_value(v)) : NULL;
		m->prefs[n++] = e;
	}
	m->n_prefs = n;
	r->cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_PREF_SET;
	r->cmd.pref_set = m;
	api_apply(r, prefs_set);
}

void
api_user_prefs_get(struct api_req *r)
{
	char *address = api_path_user(r);

	if (address != NULL)
		reply_prefs(r, 200, "user", address);
}

void
api_user_prefs_put(struct api_req *r)
{
	char *address = api_path_user(r);

	if (address != NULL)
		prefs_put(r, "user", address);
}

void
api_domain_prefs_get(struct api_req *r)
{
	char *d = api_path_domain(r);

	if (d != NULL)
		reply_prefs(r, 200, "domain", d);
}

void
api_domain_prefs_put(struct api_req *r)
{
	char *d = api_path_domain(r);

	if (d != NULL)
		prefs_put(r, "domain", d);
}
