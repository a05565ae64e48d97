/*
 * json.c - the directory's listings for the admin API and mailctl, as
 * jansson values (SPEC §6 shapes; extra fields are allowed there).
 *
 * Every function returns a new reference (caller decrefs), or NULL on a
 * database error. Password hashes never appear. Strings stored by apply.c
 * are valid UTF-8 (checked there), so jansson accepts them; a value that
 * still fails (a database edited by hand) becomes "".
 */
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "storage/directory/dir_internal.h"
#include "storage/directory/directory.h"

static json_t *
jstr(const char *s)
{
	json_t *j = json_string(s ? s : "");

	return j ? j : json_string("");
}

static json_t *
jcol(sqlite3_stmt *st, int col)
{
	return jstr((const char *)sqlite3_column_text(st, col));
}

/* column_list - JSON array of the first column of a query with one text
 * parameter. */
static json_t *
column_list(struct directory *d, const char *sql, const char *arg)
{
	sqlite3_stmt *st = dir_stmt(d, NULL, sql, "t", arg);
	json_t *a = json_array();

	while (st && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(a, jcol(st, 0));
	sqlite3_finalize(st);
	return a;
}

json_t *
directory_user_json(const struct dir_user *u)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} flag_names[] = {
	    {DIR_USER_DISABLED, "disabled"},
	    {DIR_USER_READONLY, "readonly"},
	    {DIR_USER_NO_EXTERNAL_SEND, "no_external_send"},
	    {DIR_USER_NO_EXTERNAL_RECEIVE, "no_external_receive"},
	};
	json_t *flags = json_array();

	for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++)
		if (u->flags & flag_names[i].bit)
			json_array_append_new(flags, json_string(flag_names[i].name));
	/* used_* are filled in by the caller from the home node's mail
	 * store; the directory does not know them. */
	json_t *o = json_pack("{s:o, s:o, s:o, s:I, s:I, s:i, s:i, s:o, s:I, s:I, s:I}", "address",
	    jstr(u->address), "name", jstr(u->name), "home_node", jstr(u->home_node), "quota_bytes",
	    (json_int_t)u->quota_bytes, "quota_messages", (json_int_t)u->quota_messages,
	    "used_bytes", 0, "used_messages", 0, "flags", flags, "max_message_size",
	    (json_int_t)u->max_message_size, "expires_at", (json_int_t)u->expires_at, "created_at",
	    (json_int_t)u->created_at);

	/* a running or finished account migration (only when there is one,
	 * and the row was read with its move columns: directory_user_get) */
	if (o != NULL && u->move_state != NULL && u->move_result != NULL &&
	    (*u->move_state != '\0' || *u->move_result != '\0')) {
		json_object_set_new(o, "move_state", jstr(u->move_state));
		json_object_set_new(o, "move_to", jstr(u->move_to));
		json_object_set_new(o, "move_from", jstr(u->move_from));
		json_object_set_new(o, "move_result", jstr(u->move_result));
	}
	return o;
}

/* like_pattern - "%s%" for LIKE with ESCAPE '\'. */
static char *
like_pattern(const char *s)
{
	char *p = xmalloc(strlen(s) * 2 + 3), *o = p;

	*o++ = '%';
	for (; *s; s++) {
		if (*s == '%' || *s == '_' || *s == '\\')
			*o++ = '\\';
		*o++ = *s;
	}
	*o++ = '%';
	*o = '\0';
	return p;
}

json_t *
directory_users_json(
    struct directory *d, const char *domain, const char *search, size_t offset, size_t limit)
{
	char *pat = search && *search ? like_pattern(search) : NULL;
	char *dom = domain && *domain ? directory_domain_canonical(d, domain) : NULL;
	sqlite3_stmt *st;
	json_t *a;
	int rc;

	if (domain && *domain && dom == NULL) { /* not a local domain */
		free(pat);
		return json_array();
	}
	/* LIKE is ASCII case-insensitive; addresses are stored lower-cased */
	st = dir_stmt(d, NULL,
	    "SELECT address, name, home_node, '',"
	    " quota_bytes, quota_messages, max_message_size, flags, expires_at,"
	    " created_at FROM users"
	    " WHERE (?1 IS NULL OR domain = ?1)"
	    " AND (?2 IS NULL OR address LIKE ?2 ESCAPE '\\' OR name LIKE ?2 ESCAPE '\\')"
	    " ORDER BY address LIMIT ?3 OFFSET ?4",
	    "ttii", dom, pat, (int64_t)(limit == 0 || limit > INT64_MAX ? -1 : (int64_t)limit),
	    (int64_t)(offset > INT64_MAX ? INT64_MAX : offset));
	free(pat);
	free(dom);
	if (st == NULL)
		return NULL;
	a = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct dir_user u = {
		    .address = (char *)sqlite3_column_text(st, 0),
		    .name = (char *)sqlite3_column_text(st, 1),
		    .home_node = (char *)sqlite3_column_text(st, 2),
		    .quota_bytes = (uint64_t)sqlite3_column_int64(st, 4),
		    .quota_messages = (uint64_t)sqlite3_column_int64(st, 5),
		    .max_message_size = (uint64_t)sqlite3_column_int64(st, 6),
		    .flags = (uint32_t)sqlite3_column_int64(st, 7),
		    .expires_at = sqlite3_column_int64(st, 8),
		    .created_at = sqlite3_column_int64(st, 9),
		};

		json_array_append_new(a, directory_user_json(&u));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(a);
		return NULL;
	}
	return a;
}

/* domains_query - the domain objects of sql's rows (name, created_at,
 * user count), in row order; NULL on a database error. */
static json_t *
domains_query(struct directory *d, const char *sql, const char *name)
{
	sqlite3_stmt *st = name ? dir_stmt(d, NULL, sql, "t", name) : dir_stmt(d, NULL, sql, "");
	json_t *a;

	if (st == NULL)
		return NULL;
	a = json_array();
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(st, 0);

		json_array_append_new(
		    a, json_pack("{s:o, s:o, s:I, s:I}", "name", jstr(n), "aliases",
		           column_list(d,
		               "SELECT alias FROM domain_aliases"
		               " WHERE domain = ? ORDER BY alias",
		               n),
		           "users", (json_int_t)sqlite3_column_int64(st, 2), "created_at",
		           (json_int_t)sqlite3_column_int64(st, 1)));
	}
	sqlite3_finalize(st);
	return a;
}

#define DOMAIN_COLUMNS                                                                             \
	"SELECT name, created_at,"                                                                 \
	" (SELECT count(*) FROM users u WHERE u.domain = domains.name) FROM domains"

json_t *
directory_domains_json(struct directory *d)
{
	return domains_query(d, DOMAIN_COLUMNS " ORDER BY name", NULL);
}

json_t *
directory_domain_json(struct directory *d, const char *name)
{
	json_t *a = domains_query(d, DOMAIN_COLUMNS " WHERE name = ?", name);
	json_t *one = a && json_array_size(a) == 1 ? json_incref(json_array_get(a, 0)) : NULL;

	if (a)
		json_decref(a);
	return one;
}

/* domain_stmt - sql (its ?1: the canonical domain, NULL for all) prepared;
 * NULL with *none set when a domain was asked for that is not local. */
static sqlite3_stmt *
domain_stmt(struct directory *d, const char *domain, const char *sql, bool *none)
{
	char *dom = NULL;
	sqlite3_stmt *st;

	*none = false;
	if (domain != NULL && *domain != '\0') {
		dom = directory_domain_canonical(d, domain);
		if ((*none = dom == NULL))
			return NULL;
	}
	st = dir_stmt(d, NULL, sql, "t", dom);
	free(dom);
	return st;
}

json_t *
directory_aliases_json(struct directory *d, const char *domain)
{
	bool none;
	sqlite3_stmt *st = domain_stmt(d, domain,
	    "SELECT address FROM aliases WHERE ?1 IS NULL OR"
	    " domain = ?1 ORDER BY address",
	    &none);
	json_t *a;

	if (none)
		return json_array();
	if (st == NULL)
		return NULL;
	a = json_array();
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *addr = (const char *)sqlite3_column_text(st, 0);

		json_array_append_new(a, json_pack("{s:o, s:o}", "address", jstr(addr), "targets",
		                             column_list(d,
		                                 "SELECT target FROM"
		                                 " alias_targets WHERE alias = ? ORDER BY target",
		                                 addr)));
	}
	sqlite3_finalize(st);
	return a;
}

/* Groups: the stored ones, then each domain's built-in everyone@ group
 * (members: the domain's users), marked "builtin": true. */
json_t *
directory_groups_json(struct directory *d, const char *domain)
{
	bool none;
	sqlite3_stmt *st = domain_stmt(d, domain,
	    "SELECT address, name, 0, '' FROM groups"
	    " WHERE ?1 IS NULL OR domain = ?1"
	    " UNION ALL SELECT 'everyone@' || name, 'Everyone', 1, name FROM domains"
	    " WHERE ?1 IS NULL OR name = ?1 ORDER BY 1",
	    &none);
	json_t *a;

	if (none)
		return json_array();
	if (st == NULL)
		return NULL;
	a = json_array();
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *addr = (const char *)sqlite3_column_text(st, 0);
		bool builtin = sqlite3_column_int(st, 2) != 0;
		json_t *members = builtin ? column_list(d,
		                                "SELECT address FROM users WHERE domain = ?"
		                                " ORDER BY address",
		                                (const char *)sqlite3_column_text(st, 3))
		                          : column_list(d,
		                                "SELECT member FROM group_members WHERE grp = ?"
		                                " ORDER BY member",
		                                addr);

		json_array_append_new(
		    a, json_pack("{s:o, s:o, s:o, s:b}", "address", jstr(addr), "name", jcol(st, 1),
		           "members", members, "builtin", builtin));
	}
	sqlite3_finalize(st);
	return a;
}

json_t *
directory_admins_json(struct directory *d)
{
	sqlite3_stmt *st = dir_stmt(d, NULL,
	    "SELECT name, domain FROM admins"
	    " ORDER BY name",
	    "");
	json_t *a;

	if (st == NULL)
		return NULL;
	a = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(
		    a, json_pack("{s:o, s:o}", "name", jcol(st, 0), "domain",
		           sqlite3_column_type(st, 1) == SQLITE_NULL ? json_null() : jcol(st, 1)));
	sqlite3_finalize(st);
	return a;
}

json_t *
directory_nodes_json(struct directory *d)
{
	sqlite3_stmt *st = dir_stmt(d, NULL,
	    "SELECT name, address, raft_port,"
	    " rpc_port, raft_id, state, created_at,"
	    " (SELECT count(*) FROM users u WHERE u.home_node = nodes.name)"
	    " FROM nodes ORDER BY name",
	    "");
	json_t *a;

	if (st == NULL)
		return NULL;
	a = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(
		    a, json_pack("{s:o, s:o, s:I, s:I, s:I, s:o,"
		                 " s:I, s:I}",
		           "name", jcol(st, 0), "address", jcol(st, 1), "raft_port",
		           (json_int_t)sqlite3_column_int64(st, 2), "rpc_port",
		           (json_int_t)sqlite3_column_int64(st, 3), "raft_id",
		           (json_int_t)sqlite3_column_int64(st, 4), "state", jcol(st, 5),
		           "created_at", (json_int_t)sqlite3_column_int64(st, 6), "users",
		           (json_int_t)sqlite3_column_int64(st, 7)));
	sqlite3_finalize(st);
	return a;
}

/* Every known node (0 when it homes nobody), plus any home_node value that
 * is not a node row (not possible through apply.c, kept for safety). */
json_t *
directory_user_counts_json(struct directory *d)
{
	sqlite3_stmt *st = dir_stmt(d, NULL,
	    "SELECT name, (SELECT count(*) FROM"
	    " users u WHERE u.home_node = nodes.name) FROM nodes"
	    " UNION SELECT home_node, count(*) FROM users WHERE home_node <> ''"
	    " AND home_node NOT IN (SELECT name FROM nodes) GROUP BY home_node"
	    " ORDER BY 1",
	    "");
	json_t *o;

	if (st == NULL)
		return NULL;
	o = json_object();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(o, (const char *)sqlite3_column_text(st, 0),
		    json_integer(sqlite3_column_int64(st, 1)));
	sqlite3_finalize(st);
	return o;
}
