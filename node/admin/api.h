/*
 * api.h - the admin JSON API under /api/v1 (contract: API_CONTRACT.md,
 * SPEC §6).
 *
 * admin_api_handle() is an http_handler_fn: it authenticates the request
 * (HTTP Basic against the admins table, node/admin/auth.h), routes it by
 * method and %-decoded path segments, parses the JSON body and runs one
 * handler (api_domains.c, api_users.c, ...). Reads are answered from the
 * local directory; writes go through the directory service (dirsvc) and
 * are answered once applied (read-your-writes). Domain administrators see
 * and change only their own domain; system-only endpoints answer 403.
 *
 * Ownership: struct admin_api borrows loop, directory and dirsvc. Requests
 * in flight (thread-pool work, queued commands) finish on their own even
 * after the HTTP servers stopped; free the api only after uv_run returned.
 */
#ifndef MN_NODE_ADMIN_API_H
#define MN_NODE_ADMIN_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cluster/dirsvc.h"
#include "lib/config.h"
#include "lib/xalloc.h"
#include "node/admin/auth.h"
#include "node/admin/route.h"
#include "node/admin/session.h"
#include "node/http/http.h"
#include "node/limits.h"

struct admin_api_config {
	const char *node_name;
	const char *hostname;
	size_t max_body; /* the HTTP server's body limit */
	/* login-failure blocking shared with the mail protocols (borrowed;
	 * NULL: the api makes its own with the defaults) */
	struct limits *limits;
};

struct admin_api;
struct usage;

int admin_api_new(uv_loop_t *loop, struct directory *dir, struct dirsvc *svc,
    const struct admin_api_config *cfg, struct admin_api **out);
void admin_api_free(struct admin_api **api);
/* admin_api_handle - http_handler_fn; arg is the struct admin_api. */
void admin_api_handle(struct http_exchange *x, const struct http_request *req, void *arg);
/* admin_api_owns_path - the raw path is /api/v1 or below it. */
bool admin_api_owns_path(const char *path, size_t len);

/* --- for the handler files (api_*.c) ---------------------------------- */

struct admin_api {
	uv_loop_t *loop;
	struct directory *dir;
	struct dirsvc *svc;
	struct admin_auth *auth;
	struct limits *limits;
	struct limits *own_limits; /* made when the config gave none */
	char *node_name;
	char *hostname;
	size_t max_body;
	uint64_t started_ms; /* uv_now at start */
	/* set by main once the mail services run (NULL before: 503) */
	struct queue *queue;
	struct mailstore *ms;
	/* store usage of users on any node (cluster/usage): the user list and
	 * users homed elsewhere; NULL: those show 0 */
	struct usage *usage;
	/* set by main: the node's configuration, for GET /status (services,
	 * disk); NULL in unit tests */
	const struct mn_config *cfg;
	struct admin_sessions *sessions; /* web admin bearer tokens */
	/* message totals of this node's mailboxes, per domain (api_status.c) */
	struct status_totals *totals;
};

struct api_req;
typedef void (*api_step_fn)(struct api_req *r);

/* One request in flight. Everything it allocates is tracked and freed when
 * the reply is sent (api_reply_*), which also ends the request. */
struct api_req {
	struct admin_api *api;
	struct http_exchange *x;
	const struct http_request *req; /* valid until the reply */
	enum api_method method;
	char *seg[API_MAX_SEGMENTS];
	size_t nseg;
	json_t *body; /* the JSON object sent, or NULL */
	struct admin_identity who;
	char *login; /* the name sent in Basic auth, for failure counting */
	char *token; /* the bearer token of a session request (api_session_del) */
	bool bearer; /* authenticated (or trying) by session token */
	/* handler state */
	Mailnode__DirectoryCommand cmd;
	api_step_fn next; /* after the command applied / the hash is ready */
	char *hash;       /* from api_hash_password */
	void **allocs;
	size_t nallocs, capallocs;
};

/* Route handler. Must end the request with exactly one api_reply_* now
 * or later. */
typedef void (*api_handler_fn)(struct api_req *r);

void api_status(struct api_req *r);
/* api_session_login - POST /api/v1/session, before any authentication:
 * answers itself. */
void api_session_login(struct api_req *r);
/* api_session_auth - "Bearer TOKEN": 0 with r->who filled, or a 401
 * already sent (-1). */
int api_session_auth(struct api_req *r, const char *token, size_t len);
void api_session_get(struct api_req *r);
void api_session_del(struct api_req *r);
/* api_status_fini - free what api_status.c keeps in the api. */
void api_status_fini(struct admin_api *api);
void api_domains_list(struct api_req *r);
void api_domains_add(struct api_req *r);
void api_domains_get(struct api_req *r);
void api_domains_del(struct api_req *r);
void api_domains_alias_add(struct api_req *r);
void api_domains_alias_del(struct api_req *r);
void api_domains_dkim_get(struct api_req *r);
void api_domains_dkim_set(struct api_req *r);
void api_domains_dkim_del(struct api_req *r);
void api_users_list(struct api_req *r);
void api_users_add(struct api_req *r);
/* api_users_list_usage - reply 200 with list (stolen) after filling the
 * usage of the users homed here (api_users_usage.c; GET /users?usage=1) */
void api_users_list_usage(struct api_req *r, json_t *list);
#define API_USAGE_MAX_PAGE 200 /* users per page when usage is asked */
void api_users_get(struct api_req *r);
void api_users_patch(struct api_req *r);
void api_users_del(struct api_req *r);
void api_users_move(struct api_req *r);
void api_users_move_cancel(struct api_req *r);
void api_aliases_list(struct api_req *r);
void api_aliases_add(struct api_req *r);
void api_aliases_get(struct api_req *r);
void api_aliases_del(struct api_req *r);
void api_groups_list(struct api_req *r);
void api_groups_add(struct api_req *r);
void api_groups_get(struct api_req *r);
void api_groups_del(struct api_req *r);
void api_groups_member_add(struct api_req *r);
void api_groups_member_del(struct api_req *r);
void api_admins_list(struct api_req *r);
void api_admins_add(struct api_req *r);
void api_admins_patch(struct api_req *r);
void api_admins_del(struct api_req *r);
void api_nodes_list(struct api_req *r);
void api_nodes_drain(struct api_req *r);
void api_nodes_del(struct api_req *r);
void api_cluster_status(struct api_req *r);
void api_queue_list(struct api_req *r);
void api_queue_retry(struct api_req *r);
void api_queue_del(struct api_req *r);
void api_messages_list(struct api_req *r);
void api_messages_raw(struct api_req *r);
void api_quarantine_list(struct api_req *r);
void api_quarantine_release(struct api_req *r);
void api_quarantine_del(struct api_req *r);
void api_security_blocked_list(struct api_req *r);
void api_security_blocked_del(struct api_req *r);
void api_user_prefs_get(struct api_req *r);
void api_user_prefs_put(struct api_req *r);
void api_domain_prefs_get(struct api_req *r);
void api_domain_prefs_put(struct api_req *r);

/* replies (each ends the request; r is freed) */
void api_reply_json(struct api_req *r, int status, json_t *j); /* steals j */
void api_reply_empty(struct api_req *r, int status);
void api_reply_bytes(
    struct api_req *r, int status, const char *content_type, const void *data, size_t len);
void api_reply_error(struct api_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* api_reply_code - status from api_status_for_code(rc), text err->msg. */
void api_reply_code(struct api_req *r, int rc, const struct mn_err *err);

/* api_step_no_content - api_step_fn that answers 204. */
void api_step_no_content(struct api_req *r);

/* tracked allocations, freed with the request; API_NEW gives a tracked,
 * initialised protobuf-c message */
#define API_NEW(r, type, init) ((type *)api_track((r), xmemdup(&(type)init, sizeof(type))))
void *api_track(struct api_req *r, void *p);
char *api_strdup(struct api_req *r, const char *s);

/* Body fields. Each returns 0, or replies 400 itself and returns -1 (the
 * handler then just returns). *present_out says whether the key was sent. */
int api_body_string(
    struct api_req *r, const char *key, bool required, size_t max, const char **out);
int api_body_size(struct api_req *r, const char *key, bool *present_out, uint64_t *out);
int api_body_u64(struct api_req *r, const char *key, bool *present_out, uint64_t *out);
int api_body_flags(struct api_req *r, const char *key, bool *present_out, uint32_t *out);
/* api_query - decoded query parameter (tracked) or NULL. */
const char *api_query(struct api_req *r, const char *name);
/* api_query_u64 - 0 or replies 400 and returns -1. */
int api_query_u64(struct api_req *r, const char *name, uint64_t def, uint64_t max, uint64_t *out);

/* Scope: system admins may do anything. A domain admin may act on its own
 * domain (or an alias of it); otherwise these reply 403 and return false. */
bool api_is_system(const struct api_req *r);
bool api_scope_domain(struct api_req *r, const char *domain);
bool api_scope_address(struct api_req *r, const char *address);

/* api_address_arg - lower-cased, syntax-checked copy of an address (path
 * segment or body field); replies 400 and returns NULL on bad syntax. */
char *api_address_arg(struct api_req *r, const char *in);
/* api_domain_arg - lower-cased, checked domain name (tracked); replies 400
 * and returns NULL on bad syntax. */
char *api_domain_arg(struct api_req *r, const char *in);
/* api_path_domain - the primary domain named by path segment 1: checked,
 * in scope and existing; NULL after a reply (400, 403 or 404). */
char *api_path_domain(struct api_req *r);
/* api_path_user - the user named by path segment 1: checked, in scope and
 * existing; NULL after a reply (400, 403 or 404). */
char *api_path_user(struct api_req *r);
/* api_domain_of - the domain part of a checked address. */
const char *api_domain_of(const char *address);
/* api_new_address - the address (body field `in`) of a user, alias or group
 * to add: checked, in scope, in an existing domain that is not a domain
 * alias (`what` names the object in that 400). NULL after a reply. */
char *api_new_address(struct api_req *r, const char *in, const char *what);
/* api_list_domain - the `domain` query parameter of a list: lower-cased,
 * in scope and canonical (tracked). NULL with *stop false means every
 * domain (a domain admin always gets its own); *stop true after a reply. */
const char *api_list_domain(struct api_req *r, bool *stop);

/* api_apply - submit r->cmd (caller filled the oneof) through dirsvc; on
 * success runs next(r), on failure replies with the mapped status. */
void api_apply(struct api_req *r, api_step_fn next);
/* api_hash_password - hash off the loop into r->hash, then next(r); replies
 * 500 itself when hashing fails. */
void api_hash_password(struct api_req *r, const char *password, api_step_fn next);

/* api_json_find - element of array whose member `key` equals value (borrowed). */
json_t *api_json_find(json_t *array, const char *key, const char *value);

#endif
