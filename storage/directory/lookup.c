/*
 * lookup.c - read side of the directory used by the services: what an
 * address is (user, alias, group, remote) after domain-alias rewriting,
 * its expansion into final mailboxes and external addresses, user and
 * admin records, password checks and settings.
 *
 * Expansion follows aliases and nested groups depth first, up to
 * DIR_MAX_GROUP_DEPTH levels. A visited set makes every mailbox and
 * external address appear once and stops any loop (apply.c refuses
 * cycles, but expansion does not rely on that). everyone@DOMAIN is
 * resolved here, virtually, as all users of DOMAIN.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "storage/directory/dir_internal.h"
#include "storage/directory/directory.h"
#include "storage/directory/password.h"

char *
dir_canonical_address(struct directory *d, const char *address, bool *local_out)
{
	char *a, *dom, *canon, *out;

	if (local_out)
		*local_out = false;
	if (directory_check_address(address) != 0)
		return NULL;
	a = dir_lower_dup(address);
	dom = strrchr(a, '@') + 1;
	canon = dir_canonical_domain_of(d, dom);
	if (canon == NULL)
		return a;
	if (local_out)
		*local_out = true;
	if (strcmp(canon, dom) == 0) {
		free(canon);
		return a;
	}
	out = xasprintf("%.*s@%s", (int)(dom - 1 - a), a, canon);
	free(canon);
	free(a);
	return out;
}

bool
dir_is_everyone(struct directory *d, const char *canonical)
{
	const char *at = strrchr(canonical, '@');

	return at != NULL && (size_t)(at - canonical) == strlen(DIR_EVERYONE) &&
	       memcmp(canonical, DIR_EVERYONE, strlen(DIR_EVERYONE)) == 0 &&
	       directory_domain_exists(d, at + 1);
}

enum dir_addr_kind
dir_kind(struct directory *d, const char *canonical)
{
	const char *at = strrchr(canonical, '@');
	int64_t one;

	if (at == NULL)
		return DIR_ADDR_NONE;
	if (!directory_domain_exists(d, at + 1))
		return DIR_ADDR_REMOTE;
	if (dir_int(d, &one, "SELECT 1 FROM users WHERE address = ?", "t", canonical) == 0)
		return DIR_ADDR_USER;
	if (dir_int(d, &one, "SELECT 1 FROM aliases WHERE address = ?", "t", canonical) == 0)
		return DIR_ADDR_ALIAS;
	if (dir_int(d, &one, "SELECT 1 FROM groups WHERE address = ?", "t", canonical) == 0 ||
	    dir_is_everyone(d, canonical))
		return DIR_ADDR_GROUP;
	return DIR_ADDR_NONE;
}

bool
directory_domain_exists(struct directory *d, const char *domain)
{
	int64_t one;

	return domain != NULL &&
	       dir_int(d, &one, "SELECT 1 FROM domains WHERE name = ?", "t", domain) == 0;
}

char *
directory_domain_canonical(struct directory *d, const char *domain)
{
	char *lower, *c;

	if (directory_check_domain(domain) != 0)
		return NULL;
	lower = dir_lower_dup(domain);
	c = dir_canonical_domain_of(d, lower);
	free(lower);
	return c;
}

enum dir_addr_kind
directory_classify(struct directory *d, const char *address, char **canonical_out)
{
	enum dir_addr_kind kind;
	char *c;

	if (canonical_out)
		*canonical_out = NULL;
	c = dir_canonical_address(d, address, NULL);
	if (c == NULL)
		return DIR_ADDR_NONE;
	kind = dir_kind(d, c);
	if (canonical_out)
		*canonical_out = c;
	else
		free(c);
	return kind;
}

static void
user_from_row(sqlite3_stmt *st, void *out)
{
	struct dir_user *u = out;

	u->address = dir_col_dup(st, 0);
	u->name = dir_col_dup(st, 1);
	u->home_node = dir_col_dup(st, 2);
	u->password_hash = dir_col_dup(st, 3);
	u->quota_bytes = (uint64_t)sqlite3_column_int64(st, 4);
	u->quota_messages = (uint64_t)sqlite3_column_int64(st, 5);
	u->max_message_size = (uint64_t)sqlite3_column_int64(st, 6);
	u->flags = (uint32_t)sqlite3_column_int64(st, 7);
	u->expires_at = sqlite3_column_int64(st, 8);
	u->created_at = sqlite3_column_int64(st, 9);
	u->move_state = dir_col_dup(st, 10);
	u->move_to = dir_col_dup(st, 11);
	u->move_from = dir_col_dup(st, 12);
	u->move_result = dir_col_dup(st, 13);
}

int
directory_user_get(struct directory *d, const char *address, struct dir_user *out)
{
	sqlite3_stmt *st;
	char *c;

	memset(out, 0, sizeof(*out));
	c = dir_canonical_address(d, address, NULL);
	if (c == NULL)
		return MN_EINVAL;
	st = dir_stmt(d, NULL,
	    "SELECT address, name, home_node, password_hash,"
	    " quota_bytes, quota_messages, max_message_size, flags, expires_at,"
	    " created_at, move_state, move_to, move_from, move_result"
	    " FROM users WHERE address = ?",
	    "t", c);
	free(c);
	return dir_one_row(st, user_from_row, out);
}

void
dir_user_fini(struct dir_user *u)
{
	if (u == NULL)
		return;
	free(u->address);
	free(u->name);
	free(u->home_node);
	free(u->move_state);
	free(u->move_to);
	free(u->move_from);
	free(u->move_result);
	if (u->password_hash) {
		memset(u->password_hash, 0, strlen(u->password_hash));
		free(u->password_hash);
	}
	memset(u, 0, sizeof(*u));
}

static void
node_from_row(sqlite3_stmt *st, void *out)
{
	struct dir_node *n = out;

	n->name = xstrdup((const char *)sqlite3_column_text(st, 0));
	n->address = xstrdup((const char *)sqlite3_column_text(st, 1));
	n->rpc_port = (uint16_t)sqlite3_column_int(st, 2);
	n->state = xstrdup((const char *)sqlite3_column_text(st, 3));
}

int
directory_node_get(struct directory *d, const char *name, struct dir_node *out)
{
	memset(out, 0, sizeof(*out));
	return dir_one_row(
	    dir_stmt(d, NULL, "SELECT name, address, rpc_port, state FROM nodes WHERE name = ?",
	        "t", name),
	    node_from_row, out);
}

void
dir_node_fini(struct dir_node *n)
{
	if (n == NULL)
		return;
	free(n->name);
	free(n->address);
	free(n->state);
	memset(n, 0, sizeof(*n));
}

static void
admin_from_row(sqlite3_stmt *st, void *out)
{
	struct dir_admin *a = out;

	a->name = dir_col_dup(st, 0);
	a->password_hash = dir_col_dup(st, 1);
	a->domain = sqlite3_column_type(st, 2) == SQLITE_NULL ? NULL : dir_col_dup(st, 2);
}

int
directory_admin_get(struct directory *d, const char *name, struct dir_admin *out)
{
	sqlite3_stmt *st;
	char *n;

	memset(out, 0, sizeof(*out));
	if (name == NULL)
		return MN_EINVAL;
	n = dir_lower_dup(name);
	st = dir_stmt(d, NULL,
	    "SELECT name, password_hash, domain FROM admins"
	    " WHERE name = ?",
	    "t", n);
	free(n);
	return dir_one_row(st, admin_from_row, out);
}

void
dir_admin_fini(struct dir_admin *a)
{
	if (a == NULL)
		return;
	free(a->name);
	free(a->password_hash);
	free(a->domain);
	memset(a, 0, sizeof(*a));
}

int
directory_user_authenticate(struct directory *d, const char *address, const char *password,
    int64_t now, struct dir_user *out)
{
	struct dir_user u;
	int rc;

	if (out)
		memset(out, 0, sizeof(*out));
	if ((rc = directory_user_get(d, address, &u)) != 0) {
		/* Same cost for unknown users, so timing does not tell
		 * which addresses exist. */
		(void)password_verify("$y$j9T$7VAxjG92b5ao6PYJggd73/$"
		                      "bfmGU6L0o9b1Y1Tg3Ww1fCMKgd/vZ82y4Rdm7Ob3e04",
		    password);
		return rc == MN_EDB ? rc : MN_EAUTH;
	}
	if (!password_verify(u.password_hash, password)) {
		dir_user_fini(&u);
		return MN_EAUTH;
	}
	if ((u.flags & DIR_USER_DISABLED) || (u.expires_at != 0 && now >= u.expires_at)) {
		dir_user_fini(&u);
		return MN_EPERM;
	}
	if (out)
		*out = u;
	else
		dir_user_fini(&u);
	return 0;
}

char *
directory_least_loaded_node(struct directory *d, const char *except)
{
	/* ties go to the first name, so every node picks the same one */
	return dir_text(d,
	    "SELECT name FROM nodes WHERE state = 'active' AND name <> ?"
	    " ORDER BY (SELECT count(*) FROM users u WHERE u.home_node = nodes.name), name"
	    " LIMIT 1",
	    "t", except ? except : "");
}

char *
directory_setting_get(struct directory *d, const char *key)
{
	return dir_text(d, "SELECT value FROM settings WHERE key = ?", "t", key);
}

static void
dkim_from_row(sqlite3_stmt *st, void *out)
{
	struct dir_dkim *k = out;

	if (k == NULL)
		return; /* the caller asks only whether there is a key */
	k->domain = dir_col_dup(st, 0);
	k->selector = dir_col_dup(st, 1);
	k->algorithm = dir_col_dup(st, 2);
	k->private_key = dir_col_dup(st, 3);
	k->public_key = dir_col_dup(st, 4);
	k->created_at = sqlite3_column_int64(st, 5);
}

int
directory_dkim_get(struct directory *d, const char *domain, struct dir_dkim *out)
{
	struct mn_err err;

	return dir_one_row(dir_stmt(d, &err,
	                       "SELECT domain, selector, algorithm, private_key, public_key,"
	                       " created_at FROM domain_dkim WHERE domain = ?",
	                       "t", domain),
	    dkim_from_row, out);
}

void
dir_dkim_fini(struct dir_dkim *k)
{
	if (k == NULL)
		return;
	free(k->domain);
	free(k->selector);
	free(k->algorithm);
	if (k->private_key != NULL)
		explicit_bzero(k->private_key, strlen(k->private_key));
	free(k->private_key);
	free(k->public_key);
	memset(k, 0, sizeof(*k));
}

/* --- expansion ---------------------------------------------------------- */

struct expander {
	struct directory *d;
	struct dir_expansion *out;
	struct dir_strset seen;
	size_t cap_local, cap_external;
	int rc;
};

static void
push(char ***v, size_t *n, size_t *cap, const char *s)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		*v = xrealloc(*v, *cap * sizeof(char *));
	}
	(*v)[(*n)++] = xstrdup(s);
}

static void expand_one(struct expander *x, const char *address, int depth);

/* expand_list - expand every row of a one-column query. The rows are read
 * first: recursion must not run while this statement is open. */
static void
expand_rows(struct expander *x, int depth, const char *sql, const char *arg)
{
	sqlite3_stmt *st = dir_stmt(x->d, NULL, sql, "t", arg);
	char **rows = NULL;
	size_t n = 0, cap = 0;
	int rc;

	if (st == NULL) {
		x->rc = MN_EDB;
		return;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		push(&rows, &n, &cap, (const char *)sqlite3_column_text(st, 0));
	if (rc != SQLITE_DONE)
		x->rc = MN_EDB;
	sqlite3_finalize(st);
	for (size_t i = 0; i < n; i++) {
		if (x->rc == 0)
			expand_one(x, rows[i], depth);
		free(rows[i]);
	}
	free(rows);
}

static void
expand_one(struct expander *x, const char *address, int depth)
{
	bool local;
	char *c;

	if (x->rc != 0)
		return;
	if (depth > DIR_MAX_GROUP_DEPTH) {
		x->rc = MN_ELIMIT;
		return;
	}
	c = dir_canonical_address(x->d, address, &local);
	if (c == NULL) /* stored targets are checked; keep going if not */
		return;
	if (!dir_strset_add(&x->seen, c)) {
		free(c);
		return;
	}
	switch (dir_kind(x->d, c)) {
	case DIR_ADDR_USER:
		push(&x->out->local, &x->out->nlocal, &x->cap_local, c);
		break;
	case DIR_ADDR_REMOTE:
		push(&x->out->external, &x->out->nexternal, &x->cap_external, c);
		break;
	case DIR_ADDR_ALIAS:
		expand_rows(x, depth + 1,
		    "SELECT target FROM alias_targets"
		    " WHERE alias = ? ORDER BY target",
		    c);
		break;
	case DIR_ADDR_GROUP:
		if (dir_is_everyone(x->d, c))
			expand_rows(x, depth + 1,
			    "SELECT address FROM users"
			    " WHERE domain = ? ORDER BY address",
			    strrchr(c, '@') + 1);
		else
			expand_rows(x, depth + 1,
			    "SELECT member FROM group_members"
			    " WHERE grp = ? ORDER BY member",
			    c);
		break;
	case DIR_ADDR_NONE:
		/* an alias target in a local domain that does not exist
		 * (aliases may point anywhere): nothing to deliver to */
		break;
	}
	free(c);
}

int
directory_expand(struct directory *d, const char *address, struct dir_expansion *out)
{
	struct expander x = {.d = d, .out = out};
	enum dir_addr_kind kind;

	memset(out, 0, sizeof(*out));
	if (directory_check_address(address) != 0)
		return MN_EINVAL;
	kind = directory_classify(d, address, NULL);
	if (kind == DIR_ADDR_NONE)
		return MN_ENOENT;
	expand_one(&x, address, 0);
	dir_strset_fini(&x.seen);
	if (x.rc != 0)
		dir_expansion_fini(out);
	return x.rc;
}

void
dir_expansion_fini(struct dir_expansion *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->nlocal; i++)
		free(e->local[i]);
	for (size_t i = 0; i < e->nexternal; i++)
		free(e->external[i]);
	free(e->local);
	free(e->external);
	memset(e, 0, sizeof(*e));
}
