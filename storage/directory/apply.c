/*
 * apply.c - directory_apply(): the Raft state machine of the directory.
 *
 * Each DirectoryCommand is validated and written in one IMMEDIATE
 * transaction, committed only when every check passed, so a refused
 * command changes nothing. Apply is deterministic: the only time it uses is
 * cmd->time, it never draws random numbers or hashes passwords (the
 * proposer sends the hash), and every statement it runs has one result for
 * a given database state. Replicas that apply the same log therefore dump
 * byte-identical (dump.c).
 *
 * Rules an administrator meets (reasons in err->msg):
 *  - an address is one of user, alias or group, never two (MN_EEXIST);
 *    "everyone@DOMAIN" is the built-in group of each domain, reserved;
 *  - users, aliases and groups live in a primary domain, which must exist
 *    (MN_ENOENT); a domain in use (users, aliases, groups, domain aliases,
 *    domain admins) cannot be deleted (MN_ECONFLICT);
 *  - group members are users, aliases, groups (local ones must exist) or
 *    external addresses; a member that would make a cycle is refused
 *    (MN_ECONFLICT), and so is an alias whose targets lead back to it;
 *  - deleting a user, alias or group removes it from every group; alias
 *    targets are free-form forwarding addresses and are left alone;
 *  - a user's home node must be a known node; a node that is still home of
 *    users cannot be deleted; the last system administrator cannot be
 *    deleted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "storage/directory/dir_internal.h"
#include "storage/directory/directory.h"
#include "storage/directory/password.h"

#define DIR_MAX_NAME 256 /* real names, group names (bytes) */
#define DIR_MAX_NODE_NAME 63
#define DIR_MAX_ADMIN_NAME DIR_MAX_ADDRESS
#define DIR_MAX_SETTING_KEY 64
#define DIR_MAX_SETTING_VALUE 4096
#define DIR_MAX_VISIT 100000 /* addresses a cycle check may look at */

#define ALL_USER_FLAGS                                                                             \
	(DIR_USER_DISABLED | DIR_USER_READONLY | DIR_USER_NO_EXTERNAL_SEND |                       \
	    DIR_USER_NO_EXTERNAL_RECEIVE)

/* Input echoed into reasons is escaped and cut short; four rotating
 * buffers so one message can show two inputs. */
static __thread char show_buf[4][112];
static __thread unsigned show_i;

static const char *
show(const char *s)
{
	char *b = show_buf[show_i++ % 4];

	return log_escape(b, sizeof(show_buf[0]), s, strlen(s));
}
#define SHOW(s) show(s)

/* --- checks ------------------------------------------------------------- */

bool
dir_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned c = *p, n;
		uint32_t cp;

		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		for (unsigned i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}

int
dir_check_text(const char *s, size_t max, const char *what, struct mn_err *err)
{
	if (strlen(s) > max)
		return mn_err_set(err, MN_EINVAL, "%s is longer than %zu bytes", what, max);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return mn_err_set(err, MN_EINVAL, "%s contains control characters", what);
	if (!dir_utf8_valid(s))
		return mn_err_set(err, MN_EINVAL, "%s is not valid UTF-8", what);
	return 0;
}

/* check_token - node names, admin names, setting keys: [a-z0-9] first, then
 * [a-z0-9._@-]; extra lists further allowed characters. */
static bool
check_token(const char *s, size_t max, const char *extra)
{
	size_t len = strlen(s);

	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		if (i > 0 && strchr(extra, c) != NULL)
			continue;
		return false;
	}
	return true;
}

/* arg_address - lower-cased copy of a required address argument. */
static int
arg_address(const char *in, const char *what, char **out, struct mn_err *err)
{
	*out = NULL;
	if (in == NULL || *in == '\0')
		return mn_err_set(err, MN_EINVAL, "%s is missing", what);
	if (directory_check_address(in) != 0)
		return mn_err_set(err, MN_EINVAL, "%s %s is not a valid address", what, SHOW(in));
	*out = dir_lower_dup(in);
	return 0;
}

static int
arg_domain(const char *in, const char *what, char **out, struct mn_err *err)
{
	*out = NULL;
	if (in == NULL || *in == '\0')
		return mn_err_set(err, MN_EINVAL, "%s is missing", what);
	if (directory_check_domain(in) != 0)
		return mn_err_set(
		    err, MN_EINVAL, "%s %s is not a valid domain name", what, SHOW(in));
	*out = dir_lower_dup(in);
	return 0;
}

static int
check_hash(const char *hash, struct mn_err *err)
{
	if (hash == NULL || *hash == '\0')
		return mn_err_set(err, MN_EINVAL, "password hash is missing");
	if (!password_hash_valid(hash))
		return mn_err_set(err, MN_EINVAL,
		    "password hash is not a crypt(3) "
		    "string this system can verify (yescrypt, bcrypt, SHA-crypt ...)");
	return 0;
}

static int
check_u64(uint64_t v, const char *what, struct mn_err *err)
{
	if (v > (uint64_t)INT64_MAX)
		return mn_err_set(
		    err, MN_EINVAL, "%s %llu is too large", what, (unsigned long long)v);
	return 0;
}

static bool
row_exists(struct directory *d, const char *sql, const char *arg)
{
	int64_t one;

	return dir_int(d, &one, sql, "t", arg) == 0;
}

static int64_t
count_rows(struct directory *d, const char *sql, const char *arg)
{
	int64_t n = 0;

	(void)dir_int(d, &n, sql, "t", arg);
	return n;
}

#define DOMAIN_EXISTS(d, n) row_exists(d, "SELECT 1 FROM domains WHERE name = ?", n)
#define USER_EXISTS(d, a) row_exists(d, "SELECT 1 FROM users WHERE address = ?", a)
#define ALIAS_EXISTS(d, a) row_exists(d, "SELECT 1 FROM aliases WHERE address = ?", a)
#define GROUP_EXISTS(d, a) row_exists(d, "SELECT 1 FROM groups WHERE address = ?", a)
#define NODE_EXISTS(d, n) row_exists(d, "SELECT 1 FROM nodes WHERE name = ?", n)

/* alias_domain_of - the domain the domain alias name stands for (newly
 * allocated), NULL when name is no domain alias. */
static char *
alias_domain_of(struct directory *d, const char *name)
{
	return dir_text(d, "SELECT domain FROM domain_aliases WHERE alias = ?", "t", name);
}

/* need_primary_domain - the domain of address exists and is not an alias. */
static int
need_primary_domain(struct directory *d, const char *address, struct mn_err *err)
{
	const char *dom = strrchr(address, '@') + 1;
	char *target;

	if (DOMAIN_EXISTS(d, dom))
		return 0;
	target = alias_domain_of(d, dom);
	if (target != NULL) {
		mn_err_set(
		    err, MN_EINVAL, "domain %s is an alias of %s: use %s", dom, target, target);
		free(target);
		return MN_EINVAL;
	}
	return mn_err_set(err, MN_ENOENT, "domain %s does not exist", dom);
}

static bool
is_everyone_local(const char *address)
{
	size_t n = strlen(DIR_EVERYONE);

	return strncmp(address, DIR_EVERYONE, n) == 0 && address[n] == '@';
}

/* need_free_address - address is not a user, alias, group or everyone@. */
static int
need_free_address(struct directory *d, const char *address, struct mn_err *err)
{
	if (is_everyone_local(address))
		return mn_err_set(err, MN_EEXIST,
		    "%s is the built-in group of all "
		    "users of %s",
		    address, strrchr(address, '@') + 1);
	if (USER_EXISTS(d, address))
		return mn_err_set(err, MN_EEXIST, "user %s already exists", address);
	if (ALIAS_EXISTS(d, address))
		return mn_err_set(err, MN_EEXIST, "%s already exists as an alias", address);
	if (GROUP_EXISTS(d, address))
		return mn_err_set(err, MN_EEXIST, "%s already exists as a group", address);
	return 0;
}

/* need_new_address - address may become a new user, alias or group: its
 * domain is a primary one and the address is not taken. */
static int
need_new_address(struct directory *d, const char *address, struct mn_err *err)
{
	int rc;

	if ((rc = need_primary_domain(d, address, err)) != 0)
		return rc;
	return need_free_address(d, address, err);
}

/* reaches - whether expanding `from` (alias targets, group members) leads
 * to `target`; both canonical. Bounded by DIR_MAX_VISIT addresses. */
static bool
reaches(struct directory *d, const char *from, const char *target)
{
	struct dir_strset seen = {0};
	char **todo = xmalloc(sizeof(char *));
	size_t ntodo = 1;
	bool found = false;

	todo[0] = xstrdup(from);
	while (ntodo > 0 && !found) {
		char *a = todo[--ntodo];
		sqlite3_stmt *st;

		if (seen.n >= DIR_MAX_VISIT || !dir_strset_add(&seen, a)) {
			free(a);
			continue;
		}
		if (strcmp(a, target) == 0) {
			found = true;
			free(a);
			break;
		}
		st = dir_stmt(d, NULL,
		    "SELECT target FROM alias_targets WHERE alias = ?1"
		    " UNION ALL SELECT member FROM group_members WHERE grp = ?1",
		    "t", a);
		free(a);
		while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
			char *c = dir_canonical_address(
			    d, (const char *)sqlite3_column_text(st, 0), NULL);

			if (c == NULL)
				continue;
			todo = xrealloc(todo, (ntodo + 1) * sizeof(char *));
			todo[ntodo++] = c;
		}
		sqlite3_finalize(st);
	}
	for (size_t i = 0; i < ntodo; i++)
		free(todo[i]);
	free(todo);
	dir_strset_fini(&seen);
	return found;
}

/* --- domains ------------------------------------------------------------ */

static int
domain_add(struct directory *d, const Mailnode__DomainAdd *m, int64_t now, struct mn_err *err)
{
	char *name, *target;
	int rc;

	if ((rc = arg_domain(m->name, "domain", &name, err)) != 0)
		return rc;
	if (DOMAIN_EXISTS(d, name)) {
		rc = mn_err_set(err, MN_EEXIST, "domain %s already exists", name);
	} else if ((target = alias_domain_of(d, name)) != NULL) {
		rc =
		    mn_err_set(err, MN_EEXIST, "%s already exists as an alias of %s", name, target);
		free(target);
	} else {
		rc = dir_exec(d, err,
		    "INSERT INTO domains (name, created_at)"
		    " VALUES (?, ?)",
		    "ti", name, now);
	}
	free(name);
	return rc;
}

static int
domain_del(struct directory *d, const Mailnode__DomainDel *m, struct mn_err *err)
{
	int64_t users, aliases, groups;
	char *name;
	int rc;

	if ((rc = arg_domain(m->name, "domain", &name, err)) != 0)
		return rc;
	users = count_rows(d, "SELECT count(*) FROM users WHERE domain = ?", name);
	aliases = count_rows(d, "SELECT count(*) FROM aliases WHERE domain = ?", name);
	groups = count_rows(d, "SELECT count(*) FROM groups WHERE domain = ?", name);
	if (!DOMAIN_EXISTS(d, name))
		rc = mn_err_set(err, MN_ENOENT, "domain %s does not exist", name);
	else if (users + aliases + groups > 0)
		rc = mn_err_set(err, MN_ECONFLICT,
		    "domain %s still has %lld users, "
		    "%lld aliases and %lld groups: delete them first",
		    name, (long long)users, (long long)aliases, (long long)groups);
	else if (row_exists(d, "SELECT 1 FROM domain_aliases WHERE domain = ?", name))
		rc = mn_err_set(err, MN_ECONFLICT,
		    "domain %s still has domain "
		    "aliases: delete them first",
		    name);
	else if (row_exists(d, "SELECT 1 FROM admins WHERE domain = ?", name))
		rc = mn_err_set(err, MN_ECONFLICT,
		    "domain %s still has domain "
		    "administrators: delete them first",
		    name);
	else if ((rc = dir_exec(d, err, "DELETE FROM domain_dkim WHERE domain = ?", "t", name)) ==
	             0 &&
	         (rc = dir_prefs_forget(d, "domain", name, err)) == 0)
		rc = dir_exec(d, err, "DELETE FROM domains WHERE name = ?", "t", name);
	free(name);
	return rc;
}

/* selector: 1-63 of [a-z0-9-] (one DNS label, RFC 6376 §3.1) */
static bool
dkim_selector_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > 63 || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

static int
domain_dkim_set(
    struct directory *d, const Mailnode__DomainDkimSet *m, int64_t now, struct mn_err *err)
{
	char *name;
	int rc;

	if ((rc = arg_domain(m->domain, "domain", &name, err)) != 0)
		return rc;
	if (!DOMAIN_EXISTS(d, name)) {
		rc = mn_err_set(err, MN_ENOENT, "domain %s does not exist", name);
	} else if (m->private_key == NULL) {
		if (!row_exists(d, "SELECT 1 FROM domain_dkim WHERE domain = ?", name))
			rc = mn_err_set(err, MN_ENOENT, "domain %s has no DKIM key", name);
		else
			rc =
			    dir_exec(d, err, "DELETE FROM domain_dkim WHERE domain = ?", "t", name);
	} else if (!dkim_selector_ok(m->selector)) {
		rc = mn_err_set(err, MN_EINVAL, "DKIM selector %s is not valid (a-z, 0-9, -)",
		    m->selector ? SHOW(m->selector) : "(missing)");
	} else if (m->algorithm == NULL || (strcmp(m->algorithm, "rsa-sha256") != 0 &&
	                                       strcmp(m->algorithm, "ed25519-sha256") != 0)) {
		rc = mn_err_set(err, MN_EINVAL,
		    "DKIM algorithm %s is not rsa-sha256 or ed25519-sha256",
		    m->algorithm ? SHOW(m->algorithm) : "(missing)");
	} else if (m->public_key == NULL || strlen(m->private_key) > 8192 ||
	           strlen(m->public_key) > 2048 ||
	           strncmp(m->private_key, "-----BEGIN PRIVATE KEY-----", 27) != 0) {
		rc = mn_err_set(err, MN_EINVAL,
		    "DKIM key of %s is not a PEM private key with its "
		    "public key",
		    name);
	} else {
		rc = dir_exec(d, err,
		    "INSERT INTO domain_dkim (domain, selector, algorithm, private_key, public_key,"
		    " created_at) VALUES (?, ?, ?, ?, ?, ?)"
		    " ON CONFLICT (domain) DO UPDATE SET selector = excluded.selector,"
		    " algorithm = excluded.algorithm, private_key = excluded.private_key,"
		    " public_key = excluded.public_key, created_at = excluded.created_at",
		    "ttttti", name, m->selector, m->algorithm, m->private_key, m->public_key, now);
	}
	free(name);
	return rc;
}

static int
domain_alias_add(
    struct directory *d, const Mailnode__DomainAliasAdd *m, int64_t now, struct mn_err *err)
{
	char *alias = NULL, *domain = NULL, *target;
	int rc;

	if ((rc = arg_domain(m->alias, "domain alias", &alias, err)) != 0 ||
	    (rc = arg_domain(m->domain, "domain", &domain, err)) != 0)
		goto out;
	if (DOMAIN_EXISTS(d, alias)) {
		rc = mn_err_set(err, MN_EEXIST, "%s already exists as a domain", alias);
	} else if ((target = alias_domain_of(d, alias)) != NULL) {
		rc = mn_err_set(err, MN_EEXIST,
		    "domain alias %s already exists "
		    "(for %s)",
		    alias, target);
		free(target);
	} else if (!DOMAIN_EXISTS(d, domain)) {
		rc = mn_err_set(err, MN_ENOENT, "domain %s does not exist", domain);
	} else {
		rc = dir_exec(d, err,
		    "INSERT INTO domain_aliases (alias, domain,"
		    " created_at) VALUES (?, ?, ?)",
		    "tti", alias, domain, now);
	}
out:
	free(alias);
	free(domain);
	return rc;
}

static int
domain_alias_del(struct directory *d, const Mailnode__DomainAliasDel *m, struct mn_err *err)
{
	char *alias;
	int rc;

	if ((rc = arg_domain(m->alias, "domain alias", &alias, err)) != 0)
		return rc;
	if (!row_exists(d, "SELECT 1 FROM domain_aliases WHERE alias = ?", alias))
		rc = mn_err_set(err, MN_ENOENT, "domain alias %s does not exist", alias);
	else
		rc = dir_exec(d, err, "DELETE FROM domain_aliases WHERE alias = ?", "t", alias);
	free(alias);
	return rc;
}

/* --- users -------------------------------------------------------------- */

static int
check_home_node(struct directory *d, const char *node, struct mn_err *err)
{
	if (node == NULL || *node == '\0')
		return 0;
	if (!NODE_EXISTS(d, node))
		return mn_err_set(err, MN_ENOENT, "node %s does not exist", SHOW(node));
	return 0;
}

/* check_user_limits - the optional name and limits of a user add or update
 * (pass USER_LIMITS(m)). */
static int
check_user_limits(const char *name, bool has_quota_bytes, uint64_t quota_bytes,
    bool has_quota_messages, uint64_t quota_messages, bool has_max_message_size,
    uint64_t max_message_size, struct mn_err *err)
{
	int rc = 0;

	if ((name && (rc = dir_check_text(name, DIR_MAX_NAME, "name", err)) != 0) ||
	    (has_quota_bytes && (rc = check_u64(quota_bytes, "quota_bytes", err)) != 0) ||
	    (has_quota_messages && (rc = check_u64(quota_messages, "quota_messages", err)) != 0) ||
	    (has_max_message_size &&
	        (rc = check_u64(max_message_size, "max_message_size", err)) != 0))
		return rc;
	return 0;
}
#define USER_LIMITS(m)                                                                             \
	(m)->name, (m)->has_quota_bytes, (m)->quota_bytes, (m)->has_quota_messages,                \
	    (m)->quota_messages, (m)->has_max_message_size, (m)->max_message_size

/* check_user_flags - the optional flags and expiry of a user add or update
 * (pass USER_FLAGS(m)). */
static int
check_user_flags(
    bool has_flags, uint32_t flags, bool has_expires_at, int64_t expires_at, struct mn_err *err)
{
	if (has_flags && (flags & ~(uint32_t)ALL_USER_FLAGS))
		return mn_err_set(
		    err, MN_EINVAL, "unknown user flags 0x%x", flags & ~(uint32_t)ALL_USER_FLAGS);
	if (has_expires_at && expires_at < 0)
		return mn_err_set(err, MN_EINVAL, "expires_at must not be negative");
	return 0;
}
#define USER_FLAGS(m) (m)->has_flags, (m)->flags, (m)->has_expires_at, (m)->expires_at

static int
user_add(struct directory *d, const Mailnode__UserAdd *m, int64_t now, struct mn_err *err)
{
	char *addr;
	int rc;

	if ((rc = arg_address(m->address, "user address", &addr, err)) != 0)
		return rc;
	if ((rc = check_hash(m->password_hash, err)) != 0 ||
	    (rc = check_user_limits(USER_LIMITS(m), err)) != 0 ||
	    (rc = check_user_flags(USER_FLAGS(m), err)) != 0 ||
	    (rc = need_new_address(d, addr, err)) != 0 ||
	    (rc = check_home_node(d, m->home_node, err)) != 0)
		goto out;
	rc = dir_exec(d, err,
	    "INSERT INTO users (address, domain, password_hash,"
	    " name, home_node, quota_bytes, quota_messages, max_message_size, flags,"
	    " expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	    "tttttiiiiii", addr, strrchr(addr, '@') + 1, m->password_hash, m->name ? m->name : "",
	    m->home_node ? m->home_node : "", (int64_t)(m->has_quota_bytes ? m->quota_bytes : 0),
	    (int64_t)(m->has_quota_messages ? m->quota_messages : 0),
	    (int64_t)(m->has_max_message_size ? m->max_message_size : 0),
	    (int64_t)(m->has_flags ? m->flags : 0),
	    (int64_t)(m->has_expires_at ? m->expires_at : 0), now);
out:
	free(addr);
	return rc;
}

/* address_del - delete the user, alias or group (kind, in table) at the
 * address in; it leaves every group it is a member of first. A domain's
 * everyone@ group is built in while the domain exists. */
static int
address_del(
    struct directory *d, const char *in, const char *kind, const char *table, struct mn_err *err)
{
	char what[32], sql[64], *addr;
	int rc;

	snprintf(what, sizeof(what), "%s address", kind);
	if ((rc = arg_address(in, what, &addr, err)) != 0)
		return rc;
	snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE address = ?", table);
	if (strcmp(kind, "group") == 0 && is_everyone_local(addr) &&
	    DOMAIN_EXISTS(d, strrchr(addr, '@') + 1))
		rc = mn_err_set(err, MN_ECONFLICT,
		    "%s is built in and cannot be "
		    "deleted",
		    addr);
	else if (!row_exists(d, sql, addr))
		rc = mn_err_set(err, MN_ENOENT, "%s %s does not exist", kind, addr);
	else if ((rc = dir_exec(d, err, "DELETE FROM group_members WHERE member = ?", "t", addr)) ==
	         0) {
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE address = ?", table);
		rc = dir_exec(d, err, sql, "t", addr);
		if (rc == 0 && strcmp(kind, "user") == 0)
			rc = dir_prefs_forget(d, "user", addr, err);
	}
	free(addr);
	return rc;
}

static int
user_del(struct directory *d, const Mailnode__UserDel *m, struct mn_err *err)
{
	return address_del(d, m->address, "user", "users", err);
}

static int
user_update(struct directory *d, const Mailnode__UserUpdate *m, struct mn_err *err)
{
	char *addr;
	int rc;

	if ((rc = arg_address(m->address, "user address", &addr, err)) != 0)
		return rc;
	if (!USER_EXISTS(d, addr)) {
		rc = mn_err_set(err, MN_ENOENT, "user %s does not exist", addr);
		goto out;
	}
	if ((m->password_hash && (rc = check_hash(m->password_hash, err)) != 0) ||
	    (rc = check_user_limits(USER_LIMITS(m), err)) != 0 ||
	    (rc = check_home_node(d, m->home_node, err)) != 0 ||
	    (rc = check_user_flags(USER_FLAGS(m), err)) != 0)
		goto out;
	/* A NULL parameter keeps the column as it is. */
	rc = dir_exec(d, err,
	    "UPDATE users SET"
	    " password_hash = coalesce(?2, password_hash),"
	    " name = coalesce(?3, name)"
	    " WHERE address = ?1",
	    "ttt", addr, m->password_hash, m->name);
	if (rc != 0)
		goto out;
#define UPD(has, col, v)                                                                           \
	if ((has) && (rc = dir_exec(d, err,                                                        \
	                  "UPDATE users SET " col " = ?"                                           \
	                  " WHERE address = ?",                                                    \
	                  "it", (int64_t)(v), addr)) != 0)                                         \
		goto out;
	UPD(m->has_quota_bytes, "quota_bytes", m->quota_bytes)
	UPD(m->has_quota_messages, "quota_messages", m->quota_messages)
	UPD(m->has_max_message_size, "max_message_size", m->max_message_size)
	UPD(m->has_flags, "flags", m->flags)
	UPD(m->has_expires_at, "expires_at", m->expires_at)
#undef UPD
	if (m->home_node &&
	    row_exists(d, "SELECT 1 FROM users WHERE address = ? AND move_state <> ''", addr))
		rc = mn_err_set(err, MN_ECONFLICT,
		    "user %s is being moved: its home changes when the move ends", addr);
	else if (m->home_node)
		rc = dir_exec(d, err, "UPDATE users SET home_node = ? WHERE address = ?", "tt",
		    m->home_node, addr);
out:
	free(addr);
	return rc;
}

/* --- account migration (cluster/migrate) -------------------------------- */

#define DIR_MAX_MOVE_RESULT 512

/* user_move - one step of a move (directory.proto UserMove). Each step
 * names the state it leaves, so a step proposed twice (a retry after a lost
 * reply, a source that restarted) is refused instead of applied again. */
static int
user_move(struct directory *d, const Mailnode__UserMove *m, struct mn_err *err)
{
	char *addr, *home = NULL, *to = NULL, *state = NULL;
	int rc;

	if ((rc = arg_address(m->address, "user address", &addr, err)) != 0)
		return rc;
	if (m->result != NULL &&
	    (rc = dir_check_text(m->result, DIR_MAX_MOVE_RESULT, "move result", err)) != 0)
		goto out;
	if (!USER_EXISTS(d, addr)) {
		rc = mn_err_set(err, MN_ENOENT, "user %s does not exist", addr);
		goto out;
	}
	home = dir_text(d, "SELECT home_node FROM users WHERE address = ?", "t", addr);
	to = dir_text(d, "SELECT move_to FROM users WHERE address = ?", "t", addr);
	state = dir_text(d, "SELECT move_state FROM users WHERE address = ?", "t", addr);
	if (home == NULL || to == NULL || state == NULL) {
		rc = mn_err_set(err, MN_EDB, "user %s: cannot read its row", addr);
		goto out;
	}
	if (m->state == NULL) {
		rc = mn_err_set(err, MN_EINVAL, "move state missing");
		goto out;
	}
	if (strcmp(m->state, "copy") == 0) {
		if (m->target == NULL || *m->target == '\0') {
			rc = mn_err_set(err, MN_EINVAL, "move target missing");
		} else if (*state != '\0') {
			rc = mn_err_set(
			    err, MN_ECONFLICT, "user %s is already moving to %s", addr, SHOW(to));
		} else if (*home == '\0') {
			rc = mn_err_set(
			    err, MN_ECONFLICT, "user %s has no home node: give it one first", addr);
		} else if (strcmp(home, m->target) == 0) {
			rc = mn_err_set(
			    err, MN_ECONFLICT, "user %s is already on %s", addr, SHOW(m->target));
		} else if (!NODE_EXISTS(d, m->target)) {
			rc = mn_err_set(err, MN_ENOENT, "node %s does not exist", SHOW(m->target));
		} else if (!row_exists(d, "SELECT 1 FROM nodes WHERE name = ? AND state = 'active'",
		               m->target)) {
			rc =
			    mn_err_set(err, MN_ECONFLICT, "node %s is not active", SHOW(m->target));
		} else {
			rc = dir_exec(d, err,
			    "UPDATE users SET move_to = ?, move_from = home_node,"
			    " move_state = 'copy', move_result = '' WHERE address = ?",
			    "tt", m->target, addr);
		}
		goto out;
	}
	if (strcmp(m->state, "hold") != 0 && strcmp(m->state, "flip") != 0 &&
	    strcmp(m->state, "end") != 0 && strcmp(m->state, "cancel") != 0 &&
	    strcmp(m->state, "resume") != 0) {
		rc = mn_err_set(err, MN_EINVAL,
		    "move state %s is not one of copy, hold, flip, end, cancel, resume",
		    SHOW(m->state));
		goto out;
	}
	if (*state == '\0') {
		rc = mn_err_set(err, MN_ECONFLICT, "user %s is not moving", addr);
		goto out;
	}
	if (m->target != NULL && strcmp(m->target, to) != 0) {
		rc = mn_err_set(err, MN_ECONFLICT, "user %s is moving to %s, not %s", addr,
		    SHOW(to), SHOW(m->target));
		goto out;
	}
	if (strcmp(m->state, "cancel") == 0) {
		/* before the flip only: the source rolls back (cluster/migrate);
		 * a cancelled move can no longer hold or flip */
		if (strcmp(state, "cleanup") == 0)
			rc = mn_err_set(err, MN_ECONFLICT,
			    "the move of %s is past the flip (its home is %s now): move it back "
			    "instead",
			    addr, SHOW(home));
		else if (strcmp(state, "cancel") != 0)
			rc = dir_exec(d, err,
			    "UPDATE users SET move_state = 'cancel' WHERE address = ?", "t", addr);
	} else if (strcmp(m->state, "resume") == 0) {
		/* a source that restarted in the hold: mail flows again while
		 * it copies anew */
		if (strcmp(state, "hold") != 0)
			rc = mn_err_set(err, MN_ECONFLICT, "move of %s is in state %s, not hold",
			    addr, SHOW(state));
		else
			rc = dir_exec(d, err,
			    "UPDATE users SET move_state = 'copy' WHERE address = ?", "t", addr);
	} else if (strcmp(m->state, "hold") == 0) {
		if (strcmp(state, "copy") != 0)
			rc = mn_err_set(err, MN_ECONFLICT, "move of %s is in state %s, not copy",
			    addr, SHOW(state));
		else
			rc = dir_exec(d, err,
			    "UPDATE users SET move_state = 'hold' WHERE address = ?", "t", addr);
	} else if (strcmp(m->state, "flip") == 0) {
		if (strcmp(state, "hold") != 0)
			rc = mn_err_set(err, MN_ECONFLICT, "move of %s is in state %s, not hold",
			    addr, SHOW(state));
		else if (!NODE_EXISTS(d, to))
			rc = mn_err_set(err, MN_ENOENT, "node %s does not exist", SHOW(to));
		else
			rc = dir_exec(d, err,
			    "UPDATE users SET home_node = move_to, move_state = 'cleanup',"
			    " move_result = coalesce(?, move_result) WHERE address = ?",
			    "tt", m->result, addr);
	} else {
		rc = dir_exec(d, err,
		    "UPDATE users SET move_to = '', move_from = '', move_state = '',"
		    " move_result = coalesce(?, move_result) WHERE address = ?",
		    "tt", m->result, addr);
	}
out:
	free(home);
	free(to);
	free(state);
	free(addr);
	return rc;
}

/* --- aliases ------------------------------------------------------------ */

static int
alias_add(struct directory *d, const Mailnode__AliasAdd *m, int64_t now, struct mn_err *err)
{
	char *addr;
	int rc;

	if ((rc = arg_address(m->address, "alias address", &addr, err)) != 0)
		return rc;
	if (m->n_targets == 0) {
		rc = mn_err_set(err, MN_EINVAL, "alias %s needs at least one target", addr);
		goto out;
	}
	if (m->n_targets > DIR_MAX_ALIAS_TARGETS) {
		rc = mn_err_set(err, MN_EINVAL, "alias %s has more than %d targets", addr,
		    DIR_MAX_ALIAS_TARGETS);
		goto out;
	}
	for (size_t i = 0; i < m->n_targets; i++) {
		if (m->targets[i] == NULL || directory_check_address(m->targets[i]) != 0) {
			rc = mn_err_set(err, MN_EINVAL,
			    "alias target %s is not a "
			    "valid address",
			    m->targets[i] ? SHOW(m->targets[i]) : "(null)");
			goto out;
		}
	}
	if ((rc = need_new_address(d, addr, err)) != 0)
		goto out;
	for (size_t i = 0; i < m->n_targets; i++) {
		char *t = dir_canonical_address(d, m->targets[i], NULL);
		bool loop = strcmp(t, addr) == 0 || reaches(d, t, addr);

		if (loop)
			rc = mn_err_set(err, MN_ECONFLICT,
			    "alias %s -> %s would make "
			    "a loop",
			    addr, t);
		free(t);
		if (loop)
			goto out;
	}
	if ((rc = dir_exec(d, err,
	         "INSERT INTO aliases (address, domain, created_at)"
	         " VALUES (?, ?, ?)",
	         "tti", addr, strrchr(addr, '@') + 1, now)) != 0)
		goto out;
	for (size_t i = 0; i < m->n_targets && rc == 0; i++) {
		char *t = dir_lower_dup(m->targets[i]);

		/* duplicates collapse into one row */
		rc = dir_exec(d, err,
		    "INSERT OR IGNORE INTO alias_targets (alias,"
		    " target) VALUES (?, ?)",
		    "tt", addr, t);
		free(t);
	}
out:
	free(addr);
	return rc;
}

static int
alias_del(struct directory *d, const Mailnode__AliasDel *m, struct mn_err *err)
{
	return address_del(d, m->address, "alias", "aliases", err);
}

/* --- groups ------------------------------------------------------------- */

static int
group_add(struct directory *d, const Mailnode__GroupAdd *m, int64_t now, struct mn_err *err)
{
	char *addr;
	int rc;

	if ((rc = arg_address(m->address, "group address", &addr, err)) != 0)
		return rc;
	if ((m->name && (rc = dir_check_text(m->name, DIR_MAX_NAME, "group name", err)) != 0) ||
	    (rc = need_new_address(d, addr, err)) != 0)
		goto out;
	rc = dir_exec(d, err,
	    "INSERT INTO groups (address, domain, name, created_at)"
	    " VALUES (?, ?, ?, ?)",
	    "ttti", addr, strrchr(addr, '@') + 1, m->name ? m->name : "", now);
out:
	free(addr);
	return rc;
}

static int
group_del(struct directory *d, const Mailnode__GroupDel *m, struct mn_err *err)
{
	return address_del(d, m->address, "group", "groups", err);
}

/* group_args - canonical group (must be a stored group) and member
 * (canonical; local members must exist when must_exist). */
static int
group_args(struct directory *d, const char *group_in, const char *member_in, bool must_exist,
    char **group_out, char **member_out, struct mn_err *err)
{
	char *g = NULL, *m = NULL, *c;
	bool local;
	int rc;

	*group_out = *member_out = NULL;
	if ((rc = arg_address(group_in, "group", &g, err)) != 0 ||
	    (rc = arg_address(member_in, "member", &m, err)) != 0)
		goto fail;
	c = dir_canonical_address(d, g, NULL);
	free(g);
	g = c;
	if (dir_is_everyone(d, g)) {
		rc = mn_err_set(err, MN_ECONFLICT,
		    "the members of %s are all users "
		    "of %s; it cannot be edited",
		    g, strrchr(g, '@') + 1);
		goto fail;
	}
	if (!GROUP_EXISTS(d, g)) {
		rc = mn_err_set(err, MN_ENOENT, "group %s does not exist", g);
		goto fail;
	}
	c = dir_canonical_address(d, m, &local);
	free(m);
	m = c;
	if (must_exist && local && dir_kind(d, m) == DIR_ADDR_NONE) {
		rc = mn_err_set(err, MN_ENOENT, "%s does not exist", m);
		goto fail;
	}
	*group_out = g;
	*member_out = m;
	return 0;
fail:
	free(g);
	free(m);
	return rc;
}

static int
group_member_add(struct directory *d, const Mailnode__GroupMemberAdd *m, struct mn_err *err)
{
	char *g, *mem;
	int64_t one;
	int rc;

	if ((rc = group_args(d, m->group, m->member, true, &g, &mem, err)) != 0)
		return rc;
	if (dir_int(d, &one,
	        "SELECT 1 FROM group_members WHERE grp = ? AND"
	        " member = ?",
	        "tt", g, mem) == 0)
		rc = mn_err_set(err, MN_EEXIST, "%s is already a member of %s", mem, g);
	if (rc == 0 && (strcmp(g, mem) == 0 || reaches(d, mem, g)))
		rc = mn_err_set(err, MN_ECONFLICT,
		    "adding %s %s to %s would make "
		    "a cycle",
		    dir_kind(d, mem) == DIR_ADDR_ALIAS ? "alias" : "group", mem, g);
	if (rc == 0)
		rc = dir_exec(d, err,
		    "INSERT INTO group_members (grp, member)"
		    " VALUES (?, ?)",
		    "tt", g, mem);
	free(g);
	free(mem);
	return rc;
}

static int
group_member_del(struct directory *d, const Mailnode__GroupMemberDel *m, struct mn_err *err)
{
	char *g, *mem;
	int64_t one;
	int rc;

	if ((rc = group_args(d, m->group, m->member, false, &g, &mem, err)) != 0)
		return rc;
	if (dir_int(d, &one,
	        "SELECT 1 FROM group_members WHERE grp = ? AND"
	        " member = ?",
	        "tt", g, mem) != 0) {
		/* An external member whose domain has since become a domain
		 * alias is stored as it was written. */
		char *raw = dir_lower_dup(m->member);

		if (dir_int(d, &one,
		        "SELECT 1 FROM group_members WHERE grp = ?"
		        " AND member = ?",
		        "tt", g, raw) == 0) {
			free(mem);
			mem = raw;
		} else {
			free(raw);
		}
	}
	if (dir_int(d, &one,
	        "SELECT 1 FROM group_members WHERE grp = ? AND"
	        " member = ?",
	        "tt", g, mem) != 0)
		rc = mn_err_set(err, MN_ENOENT, "%s is not a member of %s", mem, g);
	else
		rc = dir_exec(d, err,
		    "DELETE FROM group_members WHERE grp = ? AND"
		    " member = ?",
		    "tt", g, mem);
	free(g);
	free(mem);
	return rc;
}

/* --- admins ------------------------------------------------------------- */

/* Admin names: a login name ("admin") or an address. */
static int
arg_admin(const char *in, char **out, struct mn_err *err)
{
	*out = NULL;
	if (in == NULL || *in == '\0')
		return mn_err_set(err, MN_EINVAL, "administrator name is missing");
	*out = dir_lower_dup(in);
	if (!check_token(*out, DIR_MAX_ADMIN_NAME, "._-+") && directory_check_address(*out) != 0) {
		free(*out);
		*out = NULL;
		return mn_err_set(err, MN_EINVAL,
		    "administrator name %s is not "
		    "valid (letters, digits, . _ - + or an address)",
		    SHOW(in));
	}
	return 0;
}

static bool
admin_exists(struct directory *d, const char *name)
{
	return row_exists(d, "SELECT 1 FROM admins WHERE name = ?", name);
}

static int
admin_add(struct directory *d, const Mailnode__AdminAdd *m, int64_t now, struct mn_err *err)
{
	char *name, *dom = NULL;
	int rc;

	if ((rc = arg_admin(m->name, &name, err)) != 0)
		return rc;
	if ((rc = check_hash(m->password_hash, err)) != 0)
		goto out;
	if (m->domain && *m->domain) {
		if ((rc = arg_domain(m->domain, "domain", &dom, err)) != 0)
			goto out;
		if (!DOMAIN_EXISTS(d, dom)) {
			rc = mn_err_set(err, MN_ENOENT, "domain %s does not exist", dom);
			goto out;
		}
	}
	if (admin_exists(d, name))
		rc = mn_err_set(err, MN_EEXIST, "administrator %s already exists", name);
	else
		rc = dir_exec(d, err,
		    "INSERT INTO admins (name, password_hash, domain,"
		    " created_at) VALUES (?, ?, ?, ?)",
		    "ttti", name, m->password_hash, dom, now);
out:
	free(name);
	free(dom);
	return rc;
}

static int
admin_del(struct directory *d, const Mailnode__AdminDel *m, struct mn_err *err)
{
	int64_t system_admins = 0, is_system = 0;
	char *name;
	int rc;

	if ((rc = arg_admin(m->name, &name, err)) != 0)
		return rc;
	if (dir_int(d, &is_system, "SELECT domain IS NULL FROM admins WHERE name = ?", "t", name) !=
	    0) {
		rc = mn_err_set(err, MN_ENOENT, "administrator %s does not exist", name);
		goto out;
	}
	(void)dir_int(d, &system_admins,
	    "SELECT count(*) FROM admins WHERE"
	    " domain IS NULL",
	    "");
	if (is_system && system_admins == 1)
		rc = mn_err_set(err, MN_ECONFLICT,
		    "%s is the last system "
		    "administrator and cannot be deleted",
		    name);
	else
		rc = dir_exec(d, err, "DELETE FROM admins WHERE name = ?", "t", name);
out:
	free(name);
	return rc;
}

static int
admin_passwd(struct directory *d, const Mailnode__AdminPasswd *m, struct mn_err *err)
{
	char *name;
	int rc;

	if ((rc = arg_admin(m->name, &name, err)) != 0)
		return rc;
	if ((rc = check_hash(m->password_hash, err)) == 0) {
		if (!admin_exists(d, name))
			rc = mn_err_set(err, MN_ENOENT, "administrator %s does not exist", name);
		else
			rc = dir_exec(d, err,
			    "UPDATE admins SET password_hash = ?"
			    " WHERE name = ?",
			    "tt", m->password_hash, name);
	}
	free(name);
	return rc;
}

/* --- nodes -------------------------------------------------------------- */

static bool
node_state_valid(const char *s)
{
	return strcmp(s, "active") == 0 || strcmp(s, "joining") == 0 ||
	       strcmp(s, "draining") == 0 || strcmp(s, "removed") == 0;
}

static int
arg_node(const char *in, struct mn_err *err)
{
	if (in == NULL || *in == '\0')
		return mn_err_set(err, MN_EINVAL, "node name is missing");
	if (!check_token(in, DIR_MAX_NODE_NAME, "._-"))
		return mn_err_set(err, MN_EINVAL,
		    "node name %s is not valid "
		    "(a-z, 0-9, . _ -)",
		    SHOW(in));
	return 0;
}

static int
node_add(struct directory *d, const Mailnode__NodeAdd *m, int64_t now, struct mn_err *err)
{
	const char *state = m->state && *m->state ? m->state : "active";
	char *other;
	int rc;

	if ((rc = arg_node(m->name, err)) != 0)
		return rc;
	if (m->address == NULL || *m->address == '\0')
		return mn_err_set(err, MN_EINVAL, "node address is missing");
	if (strlen(m->address) > DIR_MAX_DOMAIN ||
	    strspn(m->address, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                       "0123456789.-:[]_") != strlen(m->address))
		return mn_err_set(err, MN_EINVAL,
		    "node address %s is not an IP "
		    "address or host name",
		    SHOW(m->address));
	if ((m->has_raft_port && m->raft_port > 65535) || (m->has_rpc_port && m->rpc_port > 65535))
		return mn_err_set(err, MN_EINVAL, "port out of range");
	if (m->has_raft_id && m->raft_id > (uint64_t)INT64_MAX)
		return mn_err_set(err, MN_EINVAL, "raft id out of range");
	if (!node_state_valid(state))
		return mn_err_set(err, MN_EINVAL,
		    "node state %s is not one of "
		    "active, joining, draining, removed",
		    SHOW(state));
	if (NODE_EXISTS(d, m->name))
		return mn_err_set(err, MN_EEXIST, "node %s already exists", m->name);
	if (m->has_raft_id && m->raft_id != 0 &&
	    (other = dir_text(d, "SELECT name FROM nodes WHERE raft_id = ?", "i",
	         (int64_t)m->raft_id)) != NULL) {
		rc = mn_err_set(err, MN_EEXIST,
		    "raft id %llu is already used by "
		    "node %s",
		    (unsigned long long)m->raft_id, other);
		free(other);
		return rc;
	}
	return dir_exec(d, err,
	    "INSERT INTO nodes (name, address, raft_port,"
	    " rpc_port, raft_id, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
	    "ttiiiti", m->name, m->address, (int64_t)(m->has_raft_port ? m->raft_port : 0),
	    (int64_t)(m->has_rpc_port ? m->rpc_port : 0),
	    (int64_t)(m->has_raft_id ? m->raft_id : 0), state, now);
}

static int
node_set_state(struct directory *d, const Mailnode__NodeSetState *m, struct mn_err *err)
{
	int rc;

	if ((rc = arg_node(m->name, err)) != 0)
		return rc;
	if (m->state == NULL || !node_state_valid(m->state))
		return mn_err_set(err, MN_EINVAL,
		    "node state %s is not one of "
		    "active, joining, draining, removed",
		    m->state ? SHOW(m->state) : "(missing)");
	if (!NODE_EXISTS(d, m->name))
		return mn_err_set(err, MN_ENOENT, "node %s does not exist", m->name);
	return dir_exec(
	    d, err, "UPDATE nodes SET state = ? WHERE name = ?", "tt", m->state, m->name);
}

static int
node_del(struct directory *d, const Mailnode__NodeDel *m, struct mn_err *err)
{
	int64_t users;
	int rc;

	if ((rc = arg_node(m->name, err)) != 0)
		return rc;
	if (!NODE_EXISTS(d, m->name))
		return mn_err_set(err, MN_ENOENT, "node %s does not exist", m->name);
	users = count_rows(d,
	    "SELECT count(*) FROM users WHERE home_node = ?1"
	    " OR (move_state <> '' AND move_to = ?1)",
	    m->name);
	if (users > 0)
		return mn_err_set(err, MN_ECONFLICT,
		    "node %s is still the home of "
		    "%lld users: drain it first",
		    m->name, (long long)users);
	return dir_exec(d, err, "DELETE FROM nodes WHERE name = ?", "t", m->name);
}

/* --- settings ----------------------------------------------------------- */

static int
setting_set(struct directory *d, const Mailnode__SettingSet *m, struct mn_err *err)
{
	int rc;

	if (m->key == NULL || !check_token(m->key, DIR_MAX_SETTING_KEY, "._-"))
		return mn_err_set(err, MN_EINVAL,
		    "setting key %s is not valid "
		    "(a-z, 0-9, . _ -, at most %d)",
		    m->key ? SHOW(m->key) : "(missing)", DIR_MAX_SETTING_KEY);
	if (m->value == NULL) {
		if (!row_exists(d, "SELECT 1 FROM settings WHERE key = ?", m->key))
			return mn_err_set(err, MN_ENOENT, "setting %s is not set", m->key);
		return dir_exec(d, err, "DELETE FROM settings WHERE key = ?", "t", m->key);
	}
	if ((rc = dir_check_text(m->value, DIR_MAX_SETTING_VALUE, "setting value", err)) != 0)
		return rc;
	return dir_exec(d, err,
	    "INSERT INTO settings (key, value) VALUES (?, ?)"
	    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	    "tt", m->key, m->value);
}

/* --- preferences and contacts (prefs.c) ---------------------------------- */

static int
pref_set(struct directory *d, const Mailnode__PrefSet *m, struct mn_err *err)
{
	return dir_pref_set(d, m, err);
}

static int
contact_set(struct directory *d, const Mailnode__ContactSet *m, int64_t now, struct mn_err *err)
{
	return dir_contact_set(d, m, now, err);
}

static int
contact_del(struct directory *d, const Mailnode__ContactDel *m, struct mn_err *err)
{
	return dir_contact_del(d, m, err);
}

/* --- dispatch ----------------------------------------------------------- */

static int
apply_one(struct directory *d, const Mailnode__DirectoryCommand *c, int64_t now, struct mn_err *err)
{
	/* A body is always present after unpack; only a command built in
	 * memory can lack one. */
#define BODY(field, ...)                                                                           \
	(c->field == NULL ? mn_err_set(err, MN_EINVAL, "command body is missing")                  \
	                  : field(d, c->field, __VA_ARGS__))
	switch (c->cmd_case) {
	case MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_ADD:
		return BODY(domain_add, now, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_DEL:
		return BODY(domain_del, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_ALIAS_ADD:
		return BODY(domain_alias_add, now, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_ALIAS_DEL:
		return BODY(domain_alias_del, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_DKIM_SET:
		return BODY(domain_dkim_set, now, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_USER_ADD:
		return BODY(user_add, now, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_USER_DEL:
		return BODY(user_del, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_USER_UPDATE:
		return BODY(user_update, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_USER_MOVE:
		return BODY(user_move, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_ALIAS_ADD:
		return BODY(alias_add, now, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_ALIAS_DEL:
		return BODY(alias_del, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_GROUP_ADD:
		return BODY(group_add, now, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_GROUP_DEL:
		return BODY(group_del, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_GROUP_MEMBER_ADD:
		return BODY(group_member_add, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_GROUP_MEMBER_DEL:
		return BODY(group_member_del, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_ADMIN_ADD:
		return BODY(admin_add, now, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_ADMIN_DEL:
		return BODY(admin_del, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_ADMIN_PASSWD:
		return BODY(admin_passwd, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_NODE_ADD:
		return BODY(node_add, now, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_NODE_SET_STATE:
		return BODY(node_set_state, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_NODE_DEL:
		return BODY(node_del, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_SETTING_SET:
		return BODY(setting_set, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_PREF_SET:
		return BODY(pref_set, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_CONTACT_SET:
		return BODY(contact_set, now, err);
	case MAILNODE__DIRECTORY_COMMAND__CMD_CONTACT_DEL:
		return BODY(contact_del, err);
	default:
		return mn_err_set(err, MN_EINVAL, "unknown directory command %d", (int)c->cmd_case);
	}
#undef BODY
}

int
directory_apply(struct directory *d, const Mailnode__DirectoryCommand *cmd, struct mn_err *err)
{
	char *msg = NULL;
	int rc;

	mn_err_clear(err);
	if (cmd == NULL)
		return mn_err_set(err, MN_EINVAL, "no command");
	if (sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) {
		rc = mn_err_set(err, MN_EDB, "directory: begin: %s", msg);
		sqlite3_free(msg);
		return rc;
	}
	rc = apply_one(d, cmd, cmd->has_time ? cmd->time : 0, err);
	if (rc == 0 && sqlite3_exec(d->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
		rc = mn_err_set(err, MN_EDB, "directory: commit: %s", msg);
		sqlite3_free(msg);
	}
	if (rc != 0)
		sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
	log_debug("directory", "event=apply cmd=%d result=%d", (int)cmd->cmd_case, rc);
	return rc;
}

int
directory_apply_packed(struct directory *d, const uint8_t *data, size_t len, struct mn_err *err)
{
	Mailnode__DirectoryCommand *cmd;
	int rc;

	mn_err_clear(err);
	if (len > DIR_MAX_COMMAND)
		return mn_err_set(err, MN_ETOOBIG,
		    "directory command of %zu bytes "
		    "is over the limit of %d",
		    len, DIR_MAX_COMMAND);
	cmd = mailnode__directory_command__unpack(NULL, len, data);
	if (cmd == NULL)
		return mn_err_set(err, MN_EPARSE, "directory command does not unpack");
	rc = directory_apply(d, cmd, err);
	mailnode__directory_command__free_unpacked(cmd, NULL);
	return rc;
}
