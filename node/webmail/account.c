/*
 * account.c - the webmail's account calls: address completion (the
 * user's contacts, the users of the same domain), settings (display name
 * by UserUpdate; signature, language, time zone by PrefSet, scope user),
 * password change under webmail_password_policy (verified and hashed on
 * the thread pool, stored by UserUpdate), contacts (ContactSet and
 * ContactDel). Directory writes go through dirsvc (Raft), one command at
 * a time, answered when applied.
 */

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cluster/dirsvc.h"
#include "cluster/proto/rpc.pb-c.h"
#include "cluster/rpc/frame.h"
#include "cluster/rpc/rpc.h"
#include "lib/buf.h"
#include "lib/codec.h"
#include "lib/log.h"
#include "lib/utf8.h"
#include "lib/xalloc.h"
#include "node/smtp/server.h"
#include "node/webmail/compose.h"
#include "node/webmail/render.h"
#include "node/webmail/webmail_int.h"
#include "storage/directory/password.h"
#include "storage/mailstore/mailstore.h"
#include "storage/message/header.h"
#include "storage/message/mime.h"

/* address completion: users of the same domain, matching q (address or
 * name substring), at most 10 */
void
wm_do_addresses(struct wm_req *r)
{
	char *q = http_query_get(r->req, "q");
	const char *dom = strrchr(r->user, '@');
	json_t *users, *out, *e;
	size_t i;

	if (q == NULL || strlen(q) > 200 || !utf8_valid(q, strlen(q))) {
		free(q);
		wm_reply_error(r, 400, "query parameter \"q\" (1..200 bytes) is required");
		return;
	}
	out = json_array();
	/* the user's contacts first (a prefix of address or name), then the
	 * users of the same domain (a substring), each address once */
	users = directory_contacts_json(r->wm->dir, r->user, q, 10);
	json_array_foreach(users, i, e)
	{
		json_array_append_new(
		    out, json_pack("{s:O?, s:O?, s:s}", "address", json_object_get(e, "email"),
		             "name", json_object_get(e, "name"), "source", "contact"));
	}
	if (users != NULL)
		json_decref(users);
	users = directory_users_json(r->wm->dir, dom ? dom + 1 : "", q, 0, 10);
	json_array_foreach(users, i, e)
	{
		const char *a = json_string_value(json_object_get(e, "address"));
		bool dup = false;
		size_t k;
		json_t *o;

		json_array_foreach(out, k,
		    o) if (a && ascii_casecmp(json_string_value(json_object_get(o, "address")),
		                    a) == 0) dup = true;
		if (!dup && json_array_size(out) < 20)
			json_array_append_new(out,
			    json_pack("{s:O?, s:O?, s:s}", "address", json_object_get(e, "address"),
			        "name", json_object_get(e, "name"), "source", "directory"));
	}
	if (users != NULL)
		json_decref(users);
	free(q);
	wm_reply_json(r, 200, json_pack("{s:o}", "addresses", out));
}

/* --- settings and password ------------------------------------------------ */

bool
webmail_password_policy(const char *pw, const char *address, char *reason, size_t reasonsz)
{
	size_t n = strlen(pw);
	int lower = 0, upper = 0, digit = 0, other = 0;
	const char *at = strrchr(address, '@');
	size_t llen = at ? (size_t)(at - address) : strlen(address);

	if (n < 8 || n > API_MAX_PASSWORD) {
		snprintf(
		    reason, reasonsz, "the password must be 8 to %d bytes long", API_MAX_PASSWORD);
		return false;
	}
	if (!utf8_valid(pw, n)) {
		snprintf(reason, reasonsz, "the password must be UTF-8 text");
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)pw[i];

		if (c < 0x20 || c == 0x7f) {
			snprintf(
			    reason, reasonsz, "the password must not contain control characters");
			return false;
		}
		if (c >= 'a' && c <= 'z')
			lower = 1;
		else if (c >= 'A' && c <= 'Z')
			upper = 1;
		else if (c >= '0' && c <= '9')
			digit = 1;
		else
			other = 1;
	}
	if (lower + upper + digit + other < 2) {
		snprintf(reason, reasonsz,
		    "the password needs two kinds of characters (lower case, upper case, digits, "
		    "others)");
		return false;
	}
	if (llen >= 3) {
		for (size_t i = 0; i + llen <= n; i++)
			if (strncasecmp(pw + i, address, llen) == 0) {
				snprintf(
				    reason, reasonsz, "the password must not contain the address");
				return false;
			}
	}
	return true;
}

json_t *
wm_settings_json(struct wm_req *r)
{
	struct dir_user u;
	json_t *j;

	memset(&u, 0, sizeof(u));
	(void)directory_user_get(r->wm->dir, r->user, &u);
	j = json_pack("{s:s, s:s}", "address", r->user, "name", u.name ? u.name : "");
	dir_user_fini(&u);
	{
		static const char *const keys[] = {"signature", "language", "timezone"};
		static const char *const defs[] = {"", "en", ""};

		for (size_t i = 0; i < 3; i++) {
			char *v = directory_pref_get(r->wm->dir, "user", r->user, keys[i]);

			json_object_set_new(j, keys[i], json_string(v ? v : defs[i]));
			free(v);
		}
	}
	return j;
}

static void settings_next(struct wm_req *r);

static void
settings_cb(int rc, const struct mn_err *err, void *arg)
{
	struct wm_req *r = arg;

	if (rc == MN_EINVAL) {
		/* the directory's own check of a value (prefs.c) */
		wm_reply_error(r, 400, "%s", err && err->msg[0] ? err->msg : "bad value");
		return;
	}
	if (rc != 0) {
		log_warn("webmail", "event=settings user=%s rc=%d reason=\"%s\"", r->user, rc,
		    err && err->msg[0] ? err->msg : mn_strerror(rc));
		wm_reply_error(r, rc == MN_ENOLEADER ? 503 : 500,
		    rc == MN_ENOLEADER ? "the cluster has no leader right now; retry"
		                       : "could not save the settings");
		return;
	}
	r->step++; /* the name was step 0, the preferences step 1 */
	settings_next(r);
}

/* one directory command per call, in order: the name (UserUpdate), then
 * the preferences (one PrefSet: all of them or none); "" deletes a
 * preference */
static void
settings_next(struct wm_req *r)
{
	Mailnode__DirectoryCommand cmd = MAILNODE__DIRECTORY_COMMAND__INIT;
	Mailnode__UserUpdate uu = MAILNODE__USER_UPDATE__INIT;
	Mailnode__PrefSet ps = MAILNODE__PREF_SET__INIT;
	Mailnode__PrefEntry ents[4], *entp[4];
	int rc;

	if (r->step == 0 && r->set_name != NULL) {
		uu.address = r->user;
		uu.name = r->set_name;
		cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_USER_UPDATE;
		cmd.user_update = &uu;
	} else if (r->step <= 1 && r->npref > 0) {
		r->step = 1;
		for (size_t i = 0; i < r->npref; i++) {
			mailnode__pref_entry__init(&ents[i]);
			ents[i].key = r->pref_key[i];
			ents[i].value = r->pref_val[i][0] ? r->pref_val[i] : NULL;
			entp[i] = &ents[i];
		}
		ps.scope = (char *)"user";
		ps.name = r->user;
		ps.n_prefs = r->npref;
		ps.prefs = entp;
		cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_PREF_SET;
		cmd.pref_set = &ps;
	} else {
		wm_reply_json(r, 200, wm_settings_json(r));
		return;
	}
	rc = dirsvc_submit(r->wm->svc, &cmd, settings_cb, r);
	if (rc != 0)
		wm_reply_error(r, rc == MN_ENOLEADER ? 503 : 500,
		    rc == MN_ENOLEADER ? "the cluster has no leader right now; retry"
		                       : "could not save the settings");
}

static bool
timezone_ok(const char *tz)
{
	size_t n = strlen(tz);

	/* an IANA name: Area/Location[/More], letters, digits, '_', '-', '+' */
	if (n == 0)
		return true; /* the browser's own */
	if (n > DIR_MAX_TIMEZONE ||
	    !((tz[0] >= 'a' && tz[0] <= 'z') || (tz[0] >= 'A' && tz[0] <= 'Z')) ||
	    tz[n - 1] == '/' || strstr(tz, "..") != NULL || strstr(tz, "//") != NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)tz[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		        c == '/' || c == '_' || c == '-' || c == '+'))
			return false;
	}
	return true;
}

void
wm_do_settings_patch(struct wm_req *r)
{
	static const char *const keys[] = {"signature", "language", "timezone"};
	json_t *v;

	if (r->body == NULL) {
		wm_reply_error(r, 400, "missing JSON body");
		return;
	}
	v = json_object_get(r->body, "name");
	if (v != NULL) {
		if (!json_is_string(v) ||
		    !webmail_header_text_ok(json_string_value(v), WEBMAIL_MAX_NAME)) {
			wm_reply_error(r, 400,
			    "field \"name\" must be one line of at most %d bytes",
			    WEBMAIL_MAX_NAME);
			return;
		}
		r->set_name = xstrdup(json_string_value(v));
	}
	for (size_t i = 0; i < 3; i++) {
		const char *s;

		v = json_object_get(r->body, keys[i]);
		if (v == NULL)
			continue;
		if (!json_is_string(v)) {
			wm_reply_error(r, 400, "field \"%s\" must be a string", keys[i]);
			return;
		}
		s = json_string_value(v);
		if (i == 0 &&
		    (strlen(s) > DIR_MAX_PREF_VALUE || strlen(s) != json_string_length(v) ||
		        !utf8_valid(s, strlen(s)))) {
			wm_reply_error(r, 400, "field \"signature\": at most %d bytes of text",
			    DIR_MAX_PREF_VALUE);
			return;
		}
		if (i == 1 && strcmp(s, "en") != 0 && strcmp(s, "zh-CN") != 0) {
			wm_reply_error(r, 400, "field \"language\" must be \"en\" or \"zh-CN\"");
			return;
		}
		if (i == 2 && !timezone_ok(s)) {
			wm_reply_error(r, 400, "field \"timezone\" must be an IANA time zone name");
			return;
		}
		r->pref_key[r->npref] = xstrdup(keys[i]);
		r->pref_val[r->npref] = xstrdup(s);
		if (i == 0) {
			/* signatures are stored with LF line ends */
			char *o = r->pref_val[r->npref];

			for (const char *q = o; *q; q++)
				if (*q != '\r')
					*o++ = *q;
			*o = '\0';
		}
		r->npref++;
	}
	if (r->set_name == NULL && r->npref == 0) {
		wm_reply_error(
		    r, 400, "nothing to change (fields: name, signature, language, timezone)");
		return;
	}
	if (r->wm->svc == NULL) {
		wm_reply_error(r, 503, "settings cannot be saved on this node");
		return;
	}
	settings_next(r);
}

static void
password_cb(int rc, const struct mn_err *err, void *arg)
{
	struct wm_req *r = arg;

	if (rc != 0) {
		log_warn("webmail", "event=password user=%s rc=%d reason=\"%s\"", r->user, rc,
		    err && err->msg[0] ? err->msg : mn_strerror(rc));
		wm_reply_error(r, rc == MN_ENOLEADER ? 503 : 500, "could not change the password");
		return;
	}
	log_info("webmail", "event=password_changed user=%s", r->user);
	wm_reply_empty(r, 204);
}

void
wm_password_done(struct wm_req *r)
{
	const char *ip = http_exchange_peer_ip(r->x);
	Mailnode__DirectoryCommand cmd = MAILNODE__DIRECTORY_COMMAND__INIT;
	Mailnode__UserUpdate uu = MAILNODE__USER_UPDATE__INIT;
	int rc;

	if (!r->login_ok) {
		/* a wrong current password counts like a failed login */
		if (r->wm->limits != NULL)
			limits_auth_failed(r->wm->limits, ip, r->user);
		wm_reply_error(r, 403, "the current password is wrong");
		return;
	}
	if (r->new_hash == NULL) {
		wm_reply_error(r, 500, "internal error");
		return;
	}
	uu.address = r->user;
	uu.password_hash = r->new_hash;
	cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_USER_UPDATE;
	cmd.user_update = &uu;
	rc = dirsvc_submit(r->wm->svc, &cmd, password_cb, r);
	if (rc != 0)
		wm_reply_error(r, rc == MN_ENOLEADER ? 503 : 500, "could not change the password");
}

void
wm_do_password(struct wm_req *r)
{
	json_t *cur = json_object_get(r->body, "current"),
	       *pw = json_object_get(r->body, "password");
	const char *ip = http_exchange_peer_ip(r->x);
	char reason[200];
	struct dir_user u;

	if (!json_is_string(cur) || json_string_length(cur) == 0 ||
	    json_string_length(cur) > API_MAX_PASSWORD) {
		wm_reply_error(r, 400, "missing field \"current\" (the current password)");
		return;
	}
	if (!json_is_string(pw)) {
		wm_reply_error(r, 400, "missing field \"password\" (the new password)");
		return;
	}
	if (strlen(json_string_value(pw)) != json_string_length(pw) ||
	    !webmail_password_policy(json_string_value(pw), r->user, reason, sizeof(reason))) {
		wm_reply_error(r, 400, "%s",
		    strlen(json_string_value(pw)) != json_string_length(pw)
		        ? "the password must not contain NUL"
		        : reason);
		return;
	}
	if (r->wm->svc == NULL) {
		wm_reply_error(r, 503, "passwords cannot be changed on this node");
		return;
	}
	if (r->wm->limits != NULL && !limits_auth_allowed(r->wm->limits, ip, r->user)) {
		wm_reply_error(r, 403, "the current password is wrong");
		return;
	}
	memset(&u, 0, sizeof(u));
	if (directory_user_get(r->wm->dir, r->user, &u) != 0 || u.password_hash == NULL) {
		dir_user_fini(&u);
		wm_reply_error(r, 401, "not logged in");
		return;
	}
	r->hash = xstrdup(u.password_hash);
	dir_user_fini(&u);
	r->password = xstrdup(json_string_value(cur));
	r->new_password = xstrdup(json_string_value(pw));
	wm_queue_job(r, OP_PASSWORD);
}

/* --- contacts (the address book of completion) ---------------------------- */

static void
contact_cb(int rc, const struct mn_err *err, void *arg)
{
	struct wm_req *r = arg;

	if (rc == 0) {
		if (r->method == API_DELETE)
			wm_reply_empty(r, 204);
		else
			wm_reply_json(r, 201,
			    json_pack("{s:s, s:s}", "email", r->to, "name",
			        r->set_name ? r->set_name : ""));
		return;
	}
	if (rc == MN_ENOENT) {
		wm_reply_error(r, 404, "no such contact");
		return;
	}
	if (rc == MN_EINVAL) {
		wm_reply_error(r, 400, "%s", err && err->msg[0] ? err->msg : "bad contact");
		return;
	}
	if (rc == MN_ECONFLICT) {
		wm_reply_error(r, 409, "%s", err && err->msg[0] ? err->msg : "too many contacts");
		return;
	}
	wm_reply_error(r, rc == MN_ENOLEADER ? 503 : 500, "could not save the contact");
}

void
wm_do_contacts(struct wm_req *r, const char *pattern)
{
	Mailnode__DirectoryCommand cmd = MAILNODE__DIRECTORY_COMMAND__INIT;
	Mailnode__ContactSet cs = MAILNODE__CONTACT_SET__INIT;
	Mailnode__ContactDel cd = MAILNODE__CONTACT_DEL__INIT;
	struct webmail_addr a;
	int rc;

	if (r->method == API_GET) {
		char *q = http_query_get(r->req, "q");
		json_t *c =
		    directory_contacts_json(r->wm->dir, r->user, q ? q : "", DIR_MAX_CONTACTS);

		free(q);
		wm_reply_json(r, 200, json_pack("{s:o}", "contacts", c ? c : json_array()));
		return;
	}
	if (r->wm->svc == NULL) {
		wm_reply_error(r, 503, "contacts cannot be saved on this node");
		return;
	}
	if (strcmp(pattern, "mail/contacts/*") == 0) {
		if (webmail_parse_addr(r->seg[2], &a) != 0 || a.name != NULL) {
			free(a.address);
			free(a.name);
			wm_reply_error(r, 400, "bad address \"%.100s\"", r->seg[2]);
			return;
		}
		r->to = a.address;
		cd.owner = r->user;
		cd.email = r->to;
		cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_CONTACT_DEL;
		cmd.contact_del = &cd;
	} else {
		json_t *e = json_object_get(r->body, "email"),
		       *n = json_object_get(r->body, "name");

		if (!json_is_string(e) || webmail_parse_addr(json_string_value(e), &a) != 0 ||
		    a.name != NULL) {
			if (json_is_string(e)) {
				free(a.address);
				free(a.name);
			}
			wm_reply_error(r, 400, "field \"email\" must be an address");
			return;
		}
		r->to = a.address;
		if (n != NULL && !json_is_null(n)) {
			if (!json_is_string(n) ||
			    !webmail_header_text_ok(json_string_value(n), DIR_MAX_CONTACT_NAME)) {
				wm_reply_error(r, 400,
				    "field \"name\" must be one line of at most %d bytes",
				    DIR_MAX_CONTACT_NAME);
				return;
			}
			r->set_name = xstrdup(json_string_value(n));
		}
		cs.owner = r->user;
		cs.email = r->to;
		cs.name = r->set_name;
		cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_CONTACT_SET;
		cmd.contact_set = &cs;
	}
	rc = dirsvc_submit(r->wm->svc, &cmd, contact_cb, r);
	if (rc != 0)
		wm_reply_error(r, rc == MN_ENOLEADER ? 503 : 500, "could not save the contact");
}
