/*
 * prefs.c - per-user and per-domain preferences and users' contacts.
 *
 * Preferences are a fixed set of keys (pref_keys below) so that every
 * value a node reads was checked once, at apply, by the same rules on every
 * replica: webmail settings (signature, language, time zone), sender
 * allow/block lists and send-limit overrides (node/antispam). Values are
 * stored normalised (lists lower-cased one entry per line, counts in plain
 * decimal) so readers need no second parser. A PrefSet is applied whole or
 * not at all (apply.c runs it in one transaction).
 *
 * Contacts are a user's address book: webmail completes addresses from
 * them and anti-spam treats a contact as an allowed sender for its owner.
 * Both are deleted with their user (or domain).
 */
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "storage/directory/dir_internal.h"
#include "storage/directory/directory.h"

enum pref_scope { SCOPE_USER = 1, SCOPE_DOMAIN = 2 };

enum pref_kind {
	PREF_TEXT,     /* multi-line UTF-8 text (signature) */
	PREF_LANGUAGE, /* an interface language */
	PREF_TIMEZONE, /* an IANA zone name */
	PREF_SENDERS,  /* addresses and @domains */
	PREF_COUNT,    /* 0 .. DIR_MAX_PREF_COUNT, 0: unlimited */
};

static const struct pref_key {
	const char *key;
	unsigned scopes;
	enum pref_kind kind;
} pref_keys[] = {
    {"signature", SCOPE_USER, PREF_TEXT},
    {"language", SCOPE_USER, PREF_LANGUAGE},
    {"timezone", SCOPE_USER, PREF_TIMEZONE},
    {"sender_allow", SCOPE_USER | SCOPE_DOMAIN, PREF_SENDERS},
    {"sender_block", SCOPE_USER | SCOPE_DOMAIN, PREF_SENDERS},
    {"send_messages_per_hour", SCOPE_USER | SCOPE_DOMAIN, PREF_COUNT},
    {"send_recipients_per_hour", SCOPE_USER | SCOPE_DOMAIN, PREF_COUNT},
    {"send_messages_per_day", SCOPE_USER | SCOPE_DOMAIN, PREF_COUNT},
    {"send_recipients_per_day", SCOPE_USER | SCOPE_DOMAIN, PREF_COUNT},
};

static const char *const languages[] = {"en", "zh-CN"};

static unsigned
scope_of(const char *scope)
{
	if (scope == NULL)
		return 0;
	if (strcmp(scope, "user") == 0)
		return SCOPE_USER;
	if (strcmp(scope, "domain") == 0)
		return SCOPE_DOMAIN;
	return 0;
}

static const struct pref_key *
pref_key_find(unsigned scope, const char *key)
{
	for (size_t i = 0; i < sizeof(pref_keys) / sizeof(pref_keys[0]); i++)
		if (strcmp(pref_keys[i].key, key) == 0 && (pref_keys[i].scopes & scope))
			return &pref_keys[i];
	return NULL;
}

bool
directory_pref_key_valid(const char *scope, const char *key)
{
	return key != NULL && pref_key_find(scope_of(scope), key) != NULL;
}

/* --- value checks, each giving the normalised value ---------------------- */

static int
text_value(const char *v, char **out, struct mn_err *err)
{
	size_t len = strlen(v);

	if (len > DIR_MAX_PREF_VALUE)
		return mn_err_set(
		    err, MN_EINVAL, "signature is longer than %d bytes", DIR_MAX_PREF_VALUE);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
			return mn_err_set(err, MN_EINVAL,
			    "signature contains control characters (lines end with \\n)");
	if (!dir_utf8_valid(v))
		return mn_err_set(err, MN_EINVAL, "signature is not valid UTF-8");
	*out = xstrdup(v);
	return 0;
}

static int
language_value(const char *v, char **out, struct mn_err *err)
{
	for (size_t i = 0; i < sizeof(languages) / sizeof(languages[0]); i++)
		if (strcmp(v, languages[i]) == 0) {
			*out = xstrdup(v);
			return 0;
		}
	return mn_err_set(err, MN_EINVAL, "language must be en or zh-CN");
}

/* An IANA zone name ("Asia/Shanghai", "UTC", "Etc/GMT+8"): checked for
 * shape only, since replicas must agree whatever tzdata they have. */
static int
timezone_value(const char *v, char **out, struct mn_err *err)
{
	size_t len = strlen(v);

	if (len == 0 || len > DIR_MAX_TIMEZONE ||
	    !((v[0] >= 'A' && v[0] <= 'Z') || (v[0] >= 'a' && v[0] <= 'z')) ||
	    strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-/") !=
	        len ||
	    strstr(v, "..") != NULL || strstr(v, "//") != NULL)
		return mn_err_set(err, MN_EINVAL,
		    "timezone must be an IANA zone name like Asia/Shanghai (at most %d bytes)",
		    DIR_MAX_TIMEZONE);
	*out = xstrdup(v);
	return 0;
}

#define SENDER_SEPARATORS " ,;\t\r\n"

static int
senders_value(const char *key, const char *v, char **out, struct mn_err *err)
{
	struct buf b;
	size_t n = 0;
	int rc = 0;

	if (strlen(v) > DIR_MAX_PREF_VALUE)
		return mn_err_set(
		    err, MN_EINVAL, "%s is longer than %d bytes", key, DIR_MAX_PREF_VALUE);
	buf_init(&b, DIR_MAX_PREF_VALUE + 1);
	for (const char *p = v; *p;) {
		size_t len;
		char entry[DIR_MAX_ADDRESS + 2];

		p += strspn(p, SENDER_SEPARATORS);
		len = strcspn(p, SENDER_SEPARATORS);
		if (len == 0)
			break;
		if (len >= sizeof(entry) || ++n > DIR_MAX_SENDERS) {
			rc = len >= sizeof(entry)
			         ? mn_err_set(err, MN_EINVAL, "%s: an entry is too long", key)
			         : mn_err_set(err, MN_EINVAL, "%s: more than %d entries", key,
			               DIR_MAX_SENDERS);
			break;
		}
		memcpy(entry, p, len);
		entry[len] = '\0';
		p += len;
		if (entry[0] == '@' ? directory_check_domain(entry + 1) != 0
		                    : directory_check_address(entry) != 0) {
			rc = mn_err_set(err, MN_EINVAL,
			    "%s: \"%.*s\" is neither an address nor @domain", key, 64, entry);
			break;
		}
		directory_normalize_address(entry);
		if (b.len > 0)
			buf_append_str(&b, "\n");
		buf_append_str(&b, entry);
	}
	if (rc == 0)
		*out = b.len ? buf_steal(&b, NULL) : xstrdup("");
	buf_fini(&b);
	return rc;
}

static int
count_value(const char *key, const char *v, char **out, struct mn_err *err)
{
	size_t len = strlen(v);
	unsigned long long n;

	if (len == 0 || len > 9 || strspn(v, "0123456789") != len ||
	    (n = strtoull(v, NULL, 10)) > DIR_MAX_PREF_COUNT)
		return mn_err_set(err, MN_EINVAL, "%s must be a number from 0 (unlimited) to %d",
		    key, DIR_MAX_PREF_COUNT);
	*out = xasprintf("%llu", n);
	return 0;
}

static int
pref_value(const struct pref_key *k, const char *v, char **out, struct mn_err *err)
{
	switch (k->kind) {
	case PREF_TEXT:
		return text_value(v, out, err);
	case PREF_LANGUAGE:
		return language_value(v, out, err);
	case PREF_TIMEZONE:
		return timezone_value(v, out, err);
	case PREF_SENDERS:
		return senders_value(k->key, v, out, err);
	case PREF_COUNT:
		return count_value(k->key, v, out, err);
	}
	return mn_err_set(err, MN_EINVAL, "unknown preference kind");
}

/* --- apply ---------------------------------------------------------------- */

/* the owner (user address or primary domain), lower-cased and existing */
static int
pref_owner(struct directory *d, unsigned scope, const char *in, char **out, struct mn_err *err)
{
	int64_t one;
	char *name;

	*out = NULL;
	if (in == NULL || *in == '\0')
		return mn_err_set(err, MN_EINVAL, "preference owner is missing");
	if (scope == SCOPE_USER ? directory_check_address(in) != 0
	                        : directory_check_domain(in) != 0)
		return mn_err_set(err, MN_EINVAL, "%s is not a valid %s", "owner",
		    scope == SCOPE_USER ? "address" : "domain name");
	name = dir_lower_dup(in);
	if (dir_int(d, &one,
	        scope == SCOPE_USER ? "SELECT 1 FROM users WHERE address = ?"
	                            : "SELECT 1 FROM domains WHERE name = ?",
	        "t", name) != 0) {
		int rc = mn_err_set(err, MN_ENOENT, "%s %s does not exist",
		    scope == SCOPE_USER ? "user" : "domain", name);

		free(name);
		return rc;
	}
	*out = name;
	return 0;
}

int
dir_pref_set(struct directory *d, const Mailnode__PrefSet *m, struct mn_err *err)
{
	unsigned scope = scope_of(m->scope);
	char *name;
	int rc;

	if (scope == 0)
		return mn_err_set(err, MN_EINVAL, "preference scope must be user or domain");
	if (m->n_prefs == 0 || m->n_prefs > DIR_MAX_PREFS_PER_SET)
		return mn_err_set(err, MN_EINVAL, "a preference change needs 1 to %d keys",
		    DIR_MAX_PREFS_PER_SET);
	if ((rc = pref_owner(d, scope, m->name, &name, err)) != 0)
		return rc;
	for (size_t i = 0; i < m->n_prefs && rc == 0; i++) {
		const Mailnode__PrefEntry *e = m->prefs[i];
		const struct pref_key *k = e->key ? pref_key_find(scope, e->key) : NULL;
		char *value = NULL;

		if (k == NULL) {
			rc = mn_err_set(err, MN_EINVAL, "%s is not a %s preference",
			    e->key ? e->key : "(missing key)", m->scope);
			break;
		}
		if (e->value == NULL) {
			rc = dir_exec(d, err,
			    "DELETE FROM prefs WHERE scope = ? AND name = ? AND key = ?", "ttt",
			    m->scope, name, k->key);
			continue;
		}
		if ((rc = pref_value(k, e->value, &value, err)) == 0)
			rc = dir_exec(d, err,
			    "INSERT INTO prefs (scope, name, key, value) VALUES (?, ?, ?, ?)"
			    " ON CONFLICT (scope, name, key) DO UPDATE SET value = excluded.value",
			    "tttt", m->scope, name, k->key, value);
		free(value);
	}
	free(name);
	return rc;
}

int
dir_prefs_forget(struct directory *d, const char *scope, const char *name, struct mn_err *err)
{
	int rc =
	    dir_exec(d, err, "DELETE FROM prefs WHERE scope = ? AND name = ?", "tt", scope, name);

	if (rc == 0 && strcmp(scope, "user") == 0)
		rc = dir_exec(d, err, "DELETE FROM contacts WHERE owner = ?", "t", name);
	return rc;
}

/* owner (an existing user) and email (any valid address), lower-cased */
static int
contact_args(struct directory *d, const char *owner_in, const char *email_in, char **owner,
    char **email, struct mn_err *err)
{
	int rc;

	*email = NULL;
	if ((rc = pref_owner(d, SCOPE_USER, owner_in, owner, err)) != 0)
		return rc;
	if (email_in == NULL || directory_check_address(email_in) != 0) {
		free(*owner);
		*owner = NULL;
		return mn_err_set(err, MN_EINVAL, "contact email is not a valid address");
	}
	*email = dir_lower_dup(email_in);
	return 0;
}

int
dir_contact_set(struct directory *d, const Mailnode__ContactSet *m, int64_t now, struct mn_err *err)
{
	char *owner, *email;
	int64_t n = 0, one;
	int rc;

	if ((rc = contact_args(d, m->owner, m->email, &owner, &email, err)) != 0)
		return rc;
	if (m->name != NULL &&
	    (rc = dir_check_text(m->name, DIR_MAX_CONTACT_NAME, "contact name", err)) != 0)
		goto out;
	(void)dir_int(d, &n, "SELECT count(*) FROM contacts WHERE owner = ?", "t", owner);
	if (n >= DIR_MAX_CONTACTS &&
	    dir_int(d, &one, "SELECT 1 FROM contacts WHERE owner = ? AND email = ?", "tt", owner,
	        email) != 0) {
		rc = mn_err_set(
		    err, MN_ECONFLICT, "%s already has %d contacts", owner, DIR_MAX_CONTACTS);
		goto out;
	}
	rc = dir_exec(d, err,
	    "INSERT INTO contacts (owner, email, name, created_at) VALUES (?, ?, ?, ?)"
	    " ON CONFLICT (owner, email) DO UPDATE SET name = excluded.name",
	    "ttti", owner, email, m->name ? m->name : "", now);
out:
	free(owner);
	free(email);
	return rc;
}

int
dir_contact_del(struct directory *d, const Mailnode__ContactDel *m, struct mn_err *err)
{
	char *owner, *email;
	int64_t one;
	int rc;

	if ((rc = contact_args(d, m->owner, m->email, &owner, &email, err)) != 0)
		return rc;
	if (dir_int(d, &one, "SELECT 1 FROM contacts WHERE owner = ? AND email = ?", "tt", owner,
	        email) != 0)
		rc = mn_err_set(err, MN_ENOENT, "%s is not a contact of %s", email, owner);
	else
		rc = dir_exec(d, err, "DELETE FROM contacts WHERE owner = ? AND email = ?", "tt",
		    owner, email);
	free(owner);
	free(email);
	return rc;
}

/* --- lookups -------------------------------------------------------------- */

char *
directory_pref_get(struct directory *d, const char *scope, const char *name, const char *key)
{
	char *lower = dir_lower_dup(name);
	char *v = dir_text(d, "SELECT value FROM prefs WHERE scope = ? AND name = ? AND key = ?",
	    "ttt", scope, lower, key);

	free(lower);
	return v;
}

json_t *
directory_prefs_json(struct directory *d, const char *scope, const char *name)
{
	char *lower = dir_lower_dup(name);
	sqlite3_stmt *st = dir_stmt(d, NULL,
	    "SELECT key, value FROM prefs WHERE scope = ? AND name = ? ORDER BY key", "tt", scope,
	    lower);
	json_t *o = json_object();

	while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(o, (const char *)sqlite3_column_text(st, 0),
		    json_string((const char *)sqlite3_column_text(st, 1)));
	sqlite3_finalize(st);
	free(lower);
	return o;
}

bool
directory_contact_exists(struct directory *d, const char *owner, const char *email)
{
	char *o = dir_lower_dup(owner), *e = dir_lower_dup(email);
	int64_t one;
	bool found = dir_int(d, &one, "SELECT 1 FROM contacts WHERE owner = ? AND email = ?", "tt",
	                 o, e) == 0;

	free(o);
	free(e);
	return found;
}

json_t *
directory_contacts_json(struct directory *d, const char *owner, const char *prefix, size_t limit)
{
	char *o = dir_lower_dup(owner), *p = dir_lower_dup(prefix ? prefix : "");
	/* prefix of the address or of the name, compared without LIKE so that
	 * '%' and '_' in the input mean themselves */
	sqlite3_stmt *st = dir_stmt(d, NULL,
	    "SELECT email, name FROM contacts WHERE owner = ?1 AND"
	    " (substr(email, 1, length(?2)) = ?2 OR substr(lower(name), 1, length(?2)) = ?2)"
	    " ORDER BY email LIMIT ?3",
	    "tti", o, p, (int64_t)limit);
	json_t *a = json_array();

	while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(
		    a, json_pack("{s:s, s:s}", "email", (const char *)sqlite3_column_text(st, 0),
		           "name", (const char *)sqlite3_column_text(st, 1)));
	sqlite3_finalize(st);
	free(o);
	free(p);
	return a;
}

bool
directory_senders_match(const char *list, const char *sender)
{
	const char *at = sender ? strrchr(sender, '@') : NULL;
	size_t slen, dlen;

	if (list == NULL || at == NULL)
		return false;
	slen = strlen(sender);
	dlen = strlen(at);
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, "\n");

		/* entries are stored lower-cased; the sender may not be */
		if ((len == slen && ascii_ncasecmp(p, sender, len) == 0) ||
		    (p[0] == '@' && len == dlen && ascii_ncasecmp(p, at, len) == 0))
			return true;
		p += len;
		if (*p == '\n')
			p++;
	}
	return false;
}
