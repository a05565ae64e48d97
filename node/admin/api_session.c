/*
 * api_session.c - web admin sessions (node/admin/session.h, docs/api.md
 * "Sessions"):
 *   POST   /api/v1/session {"name", "password"}  -> 201 {"token", "name",
 *                                                  "domain", ...}
 *   GET    /api/v1/session                       -> 200 who the token is
 *   DELETE /api/v1/session                       -> 204, the token ends
 * Every other endpoint accepts "Authorization: Bearer TOKEN" in place of
 * Basic credentials. Logins count in the same failure throttling as Basic
 * auth and the mail protocols (node/limits.h): a blocked IP or name gets
 * the 401 of a wrong password, unverified.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "node/admin/api.h"

static json_t *
session_json(struct api_req *r, const char *token)
{
	json_t *j = json_pack("{s:s, s:o, s:I, s:I}", "name", r->who.name, "domain",
	    r->who.domain ? json_string(r->who.domain) : json_null(), "idle_timeout_s",
	    (json_int_t)(ADMIN_SESSION_IDLE_MS / 1000), "max_age_s",
	    (json_int_t)(ADMIN_SESSION_MAX_MS / 1000));

	if (token != NULL)
		json_object_set_new(j, "token", json_string(token));
	return j;
}

static void
session_created(struct api_req *r)
{
	struct dir_admin adm;
	char *token;
	json_t *j;

	memset(&adm, 0, sizeof(adm));
	limits_auth_ok(r->api->limits, http_exchange_peer_ip(r->x), r->login);
	if (directory_admin_get(r->api->dir, r->who.name, &adm) != 0) {
		api_reply_error(r, 401, "bad credentials"); /* deleted meanwhile */
		return;
	}
	token = admin_session_create(
	    r->api->sessions, adm.name, adm.password_hash, uv_now(r->api->loop));
	dir_admin_fini(&adm);
	log_info("admin", "event=session_start admin=%s", r->who.name);
	j = session_json(r, token);
	OPENSSL_cleanse(token, strlen(token));
	free(token);
	api_reply_json(r, 201, j);
}

static void
login_auth_cb(int rc, const struct admin_identity *who, void *arg)
{
	struct api_req *r = arg;

	if (rc != 0) {
		limits_auth_failed(r->api->limits, http_exchange_peer_ip(r->x), r->login);
		api_reply_error(r, 401, "bad credentials");
		return;
	}
	r->who.name = xstrdup(who->name);
	r->who.domain = who->domain ? xstrdup(who->domain) : NULL;
	session_created(r);
}

void
api_session_login(struct api_req *r)
{
	json_error_t jerr;
	const char *name, *password;
	int rc;

	if (r->req->body_len > r->api->max_body) {
		api_reply_error(r, 413, "body too large");
		return;
	}
	r->body =
	    json_loadb((const char *)r->req->body, r->req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (r->body == NULL || !json_is_object(r->body)) {
		api_reply_error(r, 400, "body must be a JSON object {\"name\", \"password\"}");
		return;
	}
	if (api_body_string(r, "name", true, 64, &name) != 0 ||
	    api_body_string(r, "password", true, API_MAX_PASSWORD, &password) != 0)
		return;
	r->login = xstrdup(name);
	if (!limits_auth_allowed(r->api->limits, http_exchange_peer_ip(r->x), name)) {
		char esc[128];

		log_warn("admin", "event=auth_blocked ip=%s name=\"%s\"",
		    http_exchange_peer_ip(r->x), log_escape(esc, sizeof(esc), name, strlen(name)));
		OPENSSL_cleanse((char *)password, strlen(password));
		api_reply_error(r, 401, "bad credentials");
		return;
	}
	rc = admin_auth_check(r->api->auth, name, password, &r->who, login_auth_cb, r);
	/* the check keeps its own copy: wipe the one in the parsed body */
	OPENSSL_cleanse((char *)password, strlen(password));
	if (rc == 0) {
		session_created(r);
	} else if (rc != MN_EAGAIN) {
		limits_auth_failed(r->api->limits, http_exchange_peer_ip(r->x), r->login);
		api_reply_error(r, 401, "bad credentials");
	}
}

int
api_session_auth(struct api_req *r, const char *token, size_t len)
{
	struct dir_admin adm;
	char *name, *hash;
	bool ok;

	while (len > 0 && (*token == ' ' || *token == '\t'))
		token++, len--;
	while (len > 0 && (token[len - 1] == ' ' || token[len - 1] == '\t'))
		len--;
	if (admin_session_lookup(
	        r->api->sessions, token, len, uv_now(r->api->loop), &name, &hash) != 0) {
		api_reply_error(r, 401, "no such session (expired or logged out): log in again");
		return -1;
	}
	/* the admin still exists with the password it logged in with */
	memset(&adm, 0, sizeof(adm));
	ok = directory_admin_get(r->api->dir, name, &adm) == 0 &&
	     strcmp(adm.password_hash, hash) == 0;
	free(hash);
	if (!ok) {
		if (adm.name != NULL)
			dir_admin_fini(&adm);
		admin_session_end(r->api->sessions, token, len);
		free(name);
		api_reply_error(r, 401, "the session ended: the admin was changed or deleted");
		return -1;
	}
	r->who.name = name;
	r->who.domain = adm.domain ? xstrdup(adm.domain) : NULL;
	dir_admin_fini(&adm);
	r->token = xstrndup(token, len);
	return 0;
}

void
api_session_get(struct api_req *r)
{
	api_reply_json(r, 200, session_json(r, NULL));
}

void
api_session_del(struct api_req *r)
{
	if (r->token == NULL) {
		api_reply_error(r, 400, "no session: this request used Basic credentials");
		return;
	}
	admin_session_end(r->api->sessions, r->token, strlen(r->token));
	log_info("admin", "event=session_end admin=%s", r->who.name);
	api_reply_empty(r, 204);
}
