/*
 * directory.h - the directory: domains (and domain aliases), users, aliases,
 * groups, admins, nodes and cluster settings, in one SQLite database.
 *
 * Writes happen only through directory_apply(), which applies one
 * DirectoryCommand (cluster/proto/directory.proto) in one transaction,
 * deterministically: the same command sequence gives byte-identical dumps
 * on every node. This is the Raft state machine. Reads are plain lookups on
 * the local database. All functions run on the caller's thread and must be
 * called from one thread at a time (the event-loop thread).
 *
 * Rules apply() enforces (reasons in err->msg, fit for an administrator):
 *  - addresses are stored lower-cased; an address is one of user, alias or
 *    group, never two (MN_EEXIST). ASCII only for now (address.c).
 *  - users, aliases and groups live in a primary domain that exists
 *    (MN_ENOENT; an address in a domain alias is MN_EINVAL "use a.test");
 *    a domain with users, aliases, groups, domain aliases or domain
 *    admins cannot be deleted (MN_ECONFLICT).
 *  - everyone@DOMAIN is a built-in, virtual group of every domain: not
 *    stored, resolved at lookup as all users of DOMAIN, listed by
 *    directory_groups_json with "builtin": true. Its address is reserved;
 *    it cannot be edited or deleted (MN_ECONFLICT), but can be a member.
 *  - group members: users, aliases, groups (local ones must exist) or
 *    external addresses, stored canonical (domain alias rewritten); a
 *    member that makes a cycle is MN_ECONFLICT, and so is an alias whose
 *    targets lead back to it. Alias targets are free-form (may name local
 *    addresses that do not exist yet; expansion skips them).
 *  - deleting a user, alias or group removes it from every group.
 *  - a user's home_node must be a node in the node list (or empty); a node
 *    that is home of users cannot be deleted; the last system admin cannot
 *    be deleted (MN_ECONFLICT).
 *  - password hashes must pass password_hash_valid() (MN_EINVAL).
 */
#ifndef MN_STORAGE_DIRECTORY_H
#define MN_STORAGE_DIRECTORY_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster/proto/directory.pb-c.h"
#include "lib/err.h"

/* Limits (RFC 5321 §4.5.3.1) */
#define DIR_MAX_LOCAL_PART 64
#define DIR_MAX_DOMAIN 255
#define DIR_MAX_ADDRESS 254
#define DIR_MAX_ALIAS_TARGETS 1000
#define DIR_MAX_COMMAND (1 << 20) /* packed DirectoryCommand, bytes */
#define DIR_MAX_GROUP_DEPTH 16    /* nesting depth followed by expansion */
#define DIR_EVERYONE "everyone"   /* local part of each domain's built-in group */

enum dir_user_flag {
	DIR_USER_DISABLED = 1u << 0,
	DIR_USER_READONLY = 1u << 1,
	DIR_USER_NO_EXTERNAL_SEND = 1u << 2,
	DIR_USER_NO_EXTERNAL_RECEIVE = 1u << 3,
};

struct directory;

struct dir_user {
	char *address;
	char *name;
	char *home_node;
	char *password_hash;
	uint64_t quota_bytes;
	uint64_t quota_messages;
	uint64_t max_message_size;
	uint32_t flags;
	int64_t expires_at;
	int64_t created_at;
	/* account migration (directory.proto UserMove): state "" (none),
	 * "copy", "hold", "cleanup" or "cancel"; to/from the target and source nodes;
	 * result the last move's outcome text ("" none). Never NULL after
	 * directory_user_get. */
	char *move_state;
	char *move_to;
	char *move_from;
	char *move_result;
};

struct dir_admin {
	char *name;
	char *password_hash;
	char *domain; /* NULL: system administrator */
};

/* directory_open - open or create the database at path, creating or
 * migrating the schema to the current version. ":memory:" works (tests). */
int directory_open(const char *path, struct directory **out, struct mn_err *err);
void directory_close(struct directory **d);
sqlite3 *directory_db(struct directory *d);

/* directory_apply - apply one command in one transaction. Returns 0, or
 *   MN_EINVAL   bad input (bad address, missing field)        -> HTTP 400
 *   MN_ENOENT   the object or what it refers to does not exist -> 404
 *   MN_EEXIST   it exists already (duplicate user ...)         -> 409
 *   MN_ECONFLICT refused by a rule (group cycle, domain in use)-> 409
 *   MN_EDB      database failure (the transaction is rolled back)
 * with err->msg a reason fit to show an administrator. A refused command
 * changes nothing. */
int directory_apply(struct directory *d, const Mailnode__DirectoryCommand *cmd, struct mn_err *err);
/* directory_apply_packed - unpack a serialized DirectoryCommand, then apply;
 * MN_EPARSE when it does not unpack, MN_ETOOBIG over DIR_MAX_COMMAND. */
int directory_apply_packed(
    struct directory *d, const uint8_t *data, size_t len, struct mn_err *err);

/* Address syntax: "local@domain", lower-cased, limits above; returns 0 or
 * MN_EINVAL. directory_normalize_address lower-cases in place. */
int directory_check_address(const char *address);
int directory_check_domain(const char *domain);
void directory_normalize_address(char *address);

/* --- lookups ------------------------------------------------------------ */

bool directory_domain_exists(struct directory *d, const char *domain);
/* directory_domain_canonical - domain or the domain an alias points at;
 * NULL when neither is local. Caller frees. */
char *directory_domain_canonical(struct directory *d, const char *domain);

/* directory_user_get - the user (domain aliases apply, any case): 0 and *out
 * filled (dir_user_fini it), MN_ENOENT, MN_EINVAL (bad address), MN_EDB. */
int directory_user_get(struct directory *d, const char *address, struct dir_user *out);
void dir_user_fini(struct dir_user *u);

/* directory_user_authenticate - look the user up (domain aliases apply) and
 * check the password: 0 (*out filled when out != NULL, caller finis),
 * MN_EAUTH (unknown user or wrong password; an unknown user costs one hash
 * too), MN_EPERM (right password, but disabled or expired at `now`),
 * MN_EDB. Runs crypt(3), slow on purpose: on the event loop prefer
 * directory_user_get() there and password_verify() in a worker. (The
 * connection is opened serialized, so a worker call is memory-safe, but it
 * may see an apply's transaction in progress.) */
int directory_user_authenticate(struct directory *d, const char *address, const char *password,
    int64_t now, struct dir_user *out);

/* directory_node_get - one node of the node list (cluster routing): 0 and
 * *out filled (dir_node_fini it), MN_ENOENT, MN_EDB. */
struct dir_node {
	char *name;
	char *address; /* numeric IP */
	uint16_t rpc_port;
	char *state; /* "active", "joining", "removed" ... */
};
int directory_node_get(struct directory *d, const char *name, struct dir_node *out);
void dir_node_fini(struct dir_node *n);

/* directory_user_held - the user's mail must not be stored by anyone now
 * (a move in state "hold"): deliveries wait in the spools. */
bool directory_user_held(const struct dir_user *u);

/* directory_moves_from - addresses of the users whose running move has
 * node as its source (move_from), in address order; *out (caller frees
 * with directory_strv_free) and *n. 0 or MN_EDB. */
int directory_moves_from(struct directory *d, const char *node, char ***out, size_t *n);
/* directory_least_loaded_node - the active node other than except (NULL:
 * none excluded) homing the fewest users, the first name on a tie; newly
 * allocated, NULL when there is none. */
char *directory_least_loaded_node(struct directory *d, const char *except);
/* directory_users_on_node - addresses of the users homed on node (address
 * order). 0 or MN_EDB. */
int directory_users_on_node(struct directory *d, const char *node, char ***out, size_t *n);
void directory_strv_free(char **v, size_t n);

/* directory_admin_get - 0, MN_ENOENT or MN_EDB; names are case-insensitive. */
int directory_admin_get(struct directory *d, const char *name, struct dir_admin *out);
void dir_admin_fini(struct dir_admin *a);

enum dir_addr_kind {
	DIR_ADDR_NONE, /* local domain but no such address */
	DIR_ADDR_USER,
	DIR_ADDR_ALIAS,
	DIR_ADDR_GROUP,
	DIR_ADDR_REMOTE, /* domain is not local */
};

/* directory_classify - what an address is, after domain-alias rewriting;
 * *canonical_out (may be NULL) receives the rewritten, lower-cased address
 * (caller frees). A syntactically bad address gives DIR_ADDR_NONE and
 * *canonical_out NULL. everyone@<local domain> is DIR_ADDR_GROUP. */
enum dir_addr_kind directory_classify(
    struct directory *d, const char *address, char **canonical_out);

/* Expansion of an address into final destinations: each local mailbox and
 * each external address at most once, following aliases and nested groups
 * up to DIR_MAX_GROUP_DEPTH, never looping. Order: depth first, members
 * and targets in address order. Returns 0 (a remote address expands to
 * itself in external), MN_EINVAL (bad syntax), MN_ENOENT (local domain,
 * no such address), MN_ELIMIT (nested deeper than DIR_MAX_GROUP_DEPTH:
 * nothing returned, rather than a partial list), MN_EDB. Local addresses
 * that do not exist (stale alias targets) are skipped. *out is always safe
 * to dir_expansion_fini. */
struct dir_expansion {
	char **local; /* user addresses */
	size_t nlocal;
	char **external; /* addresses in non-local domains */
	size_t nexternal;
};
int directory_expand(struct directory *d, const char *address, struct dir_expansion *out);
void dir_expansion_fini(struct dir_expansion *e);

/* directory_user_count_by_node - number of users homed on each node, for
 * placement; returns a JSON object {node: count}. */
json_t *directory_user_counts_json(struct directory *d);

/* --- listings for the admin API (new references, caller decrefs) -------- */
/* directory_domain_json - the one domain object of name (lower-cased,
 * primary) as in directory_domains_json; NULL when there is none. */
json_t *directory_domain_json(struct directory *d, const char *name);
json_t *directory_domains_json(
    struct directory *d); /* [{name, aliases:[...], users, created_at}] */
json_t *directory_user_json(const struct dir_user *u); /* SPEC §6 user show shape, no hash */
json_t *directory_users_json(struct directory *d, const char *domain, const char *search,
    size_t offset, size_t limit); /* [user...] */
/* users_json: domain NULL/"" all (a domain alias works), search NULL/"" none
 * else a substring of address or name (ASCII case-insensitive), limit 0
 * unlimited; address order. aliases/groups_json: domain NULL for all.
 * domains_json, admins_json (domain null for system admins), nodes_json
 * (also raft_id, created_at). NULL only on a database error. */
json_t *directory_aliases_json(struct directory *d, const char *domain); /* [{address, targets}] */
json_t *directory_groups_json(
    struct directory *d, const char *domain);       /* [{address, name, members}] */
json_t *directory_admins_json(struct directory *d); /* [{name, domain}] */
json_t *directory_nodes_json(
    struct directory *d); /* [{name, address, raft_port, rpc_port, state, users}] */
char *directory_setting_get(struct directory *d, const char *key); /* NULL if unset */

/* Preferences (prefs.c; PrefSet): scope "user" (name: address) or "domain"
 * (name: domain). Keys: signature, language (en|zh-CN), timezone (user);
 * sender_allow, sender_block (addresses and @domains, stored lower-cased
 * one per line), send_{messages,recipients}_per_{hour,day} (decimal, "0"
 * unlimited; absent: the node's [antispam] default) for both scopes. */
#define DIR_MAX_PREF_VALUE 4096
#define DIR_MAX_PREF_COUNT 100000000
#define DIR_MAX_PREFS_PER_SET 32
#define DIR_MAX_SENDERS 500 /* entries in one sender list */
#define DIR_MAX_TIMEZONE 64
bool directory_pref_key_valid(const char *scope, const char *key);
char *directory_pref_get(
    struct directory *d, const char *scope, const char *name, const char *key); /* NULL if unset */
json_t *directory_prefs_json(struct directory *d, const char *scope, const char *name);
/* directory_senders_match - whether sender equals an entry of a stored
 * sender list, or its domain equals an "@domain" entry (ASCII case
 * folded). NULL list: false. */
bool directory_senders_match(const char *list, const char *sender);

/* Contacts (ContactSet/ContactDel): a user's address book. */
#define DIR_MAX_CONTACTS 2000 /* per user */
#define DIR_MAX_CONTACT_NAME 256
bool directory_contact_exists(struct directory *d, const char *owner, const char *email);
/* [{email, name}] in email order whose email or lower-cased name starts
 * with prefix ("" or NULL: all), at most limit. */
json_t *directory_contacts_json(
    struct directory *d, const char *owner, const char *prefix, size_t limit);

/* A domain's DKIM signing key (DomainDkimSet). Strings owned by the struct. */
struct dir_dkim {
	char *domain, *selector, *algorithm, *private_key, *public_key;
	int64_t created_at;
};
/* directory_dkim_get - the key of domain (a primary domain, lower-case);
 * 0, MN_ENOENT (none) or MN_EDB. out may be NULL (existence check). */
int directory_dkim_get(struct directory *d, const char *domain, struct dir_dkim *out);
void dir_dkim_fini(struct dir_dkim *k);

/* directory_snapshot - the whole directory as bytes (an SQLite image), for
 * Raft snapshots; *data_out is the caller's to free. 0 or MN_EDB. */
int directory_snapshot(
    struct directory *d, uint8_t **data_out, size_t *len_out, struct mn_err *err);
/* directory_restore - replace the whole directory with a snapshot (then
 * migrate it if older). MN_EPARSE when the bytes are not a sound directory
 * image (nothing changed), MN_EDB on a database failure. */
int directory_restore(struct directory *d, const uint8_t *data, size_t len, struct mn_err *err);

/* directory_dump - canonical text dump of every table in key order (used
 * to compare replicas); caller frees. */
char *directory_dump(struct directory *d);

#endif
