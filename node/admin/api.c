/*
 * api.c - admin API front: authentication, routing, body parsing, replies
 * and the helpers the handler files share (see api.h).
 *
 * Order of checks for every request: credentials (401), path (404/400),
 * route and method (404/405), system-only routes (403), JSON body (400),
 * then the handler. 401 answers carry WWW-Authenticate (RFC 7617).
 */
#include "node/admin/api.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"

enum { ROUTE_SYSTEM = 1 }; /* system administrators only */

struct api_route {
	enum api_method method;
	const char *pattern;
	api_handler_fn fn;
	unsigned flags;
};

/* clang-format off */
static const struct api_route routes[] = {
	{ API_GET, "status", api_status, 0 },
	/* POST session (login) is answered before authentication */
	{ API_GET, "session", api_session_get, 0 },
	{ API_DELETE, "session", api_session_del, 0 },
	{ API_GET, "domains", api_domains_list, 0 },
	{ API_POST, "domains", api_domains_add, ROUTE_SYSTEM },
	{ API_GET, "domains/*", api_domains_get, 0 },
	{ API_DELETE, "domains/*", api_domains_del, ROUTE_SYSTEM },
	/* a domain alias routes mail of a whole domain: system only */
	{ API_POST, "domains/*/aliases", api_domains_alias_add, ROUTE_SYSTEM },
	{ API_DELETE, "domains/*/aliases/*", api_domains_alias_del, ROUTE_SYSTEM },
	/* DKIM signing key (RFC 6376): the public record for the domain's
	 * admins, making or removing a key for system admins */
	{ API_GET, "domains/*/dkim", api_domains_dkim_get, 0 },
	{ API_POST, "domains/*/dkim", api_domains_dkim_set, ROUTE_SYSTEM },
	{ API_DELETE, "domains/*/dkim", api_domains_dkim_del, ROUTE_SYSTEM },
	{ API_GET, "users", api_users_list, 0 },
	{ API_POST, "users", api_users_add, 0 },
	{ API_GET, "users/*", api_users_get, 0 },
	{ API_PATCH, "users/*", api_users_patch, 0 },
	{ API_DELETE, "users/*", api_users_del, 0 },
	{ API_POST, "users/*/move", api_users_move, ROUTE_SYSTEM },
	{ API_DELETE, "users/*/move", api_users_move_cancel, ROUTE_SYSTEM },
	{ API_GET, "aliases", api_aliases_list, 0 },
	{ API_POST, "aliases", api_aliases_add, 0 },
	{ API_GET, "aliases/*", api_aliases_get, 0 },
	{ API_DELETE, "aliases/*", api_aliases_del, 0 },
	{ API_GET, "groups", api_groups_list, 0 },
	{ API_POST, "groups", api_groups_add, 0 },
	{ API_GET, "groups/*", api_groups_get, 0 },
	{ API_DELETE, "groups/*", api_groups_del, 0 },
	{ API_POST, "groups/*/members", api_groups_member_add, 0 },
	{ API_DELETE, "groups/*/members/*", api_groups_member_del, 0 },
	{ API_GET, "admins", api_admins_list, ROUTE_SYSTEM },
	{ API_POST, "admins", api_admins_add, ROUTE_SYSTEM },
	{ API_PATCH, "admins/*", api_admins_patch, ROUTE_SYSTEM },
	{ API_DELETE, "admins/*", api_admins_del, ROUTE_SYSTEM },
	{ API_GET, "nodes", api_nodes_list, ROUTE_SYSTEM },
	{ API_POST, "nodes/*/drain", api_nodes_drain, ROUTE_SYSTEM },
	{ API_DELETE, "nodes/*", api_nodes_del, ROUTE_SYSTEM },
	{ API_GET, "cluster", api_cluster_status, 0 },
	{ API_GET, "queue", api_queue_list, ROUTE_SYSTEM },
	{ API_POST, "queue/*/retry", api_queue_retry, ROUTE_SYSTEM },
	{ API_DELETE, "queue/*", api_queue_del, ROUTE_SYSTEM },
	{ API_GET, "users/*/messages", api_messages_list, 0 },
	{ API_GET, "users/*/messages/*/raw", api_messages_raw, 0 },
	{ API_GET, "users/*/quarantine", api_quarantine_list, 0 },
	{ API_POST, "users/*/quarantine/*/release", api_quarantine_release, 0 },
	{ API_DELETE, "users/*/quarantine/*", api_quarantine_del, 0 },
	/* preferences (api_prefs.c): sender lists, send limits, webmail settings */
	{ API_GET, "users/*/prefs", api_user_prefs_get, 0 },
	{ API_PUT, "users/*/prefs", api_user_prefs_put, 0 },
	{ API_GET, "domains/*/prefs", api_domain_prefs_get, 0 },
	{ API_PUT, "domains/*/prefs", api_domain_prefs_put, 0 },
	{ API_GET, "security/blocked", api_security_blocked_list, ROUTE_SYSTEM },
	{ API_DELETE, "security/blocked/*", api_security_blocked_del, ROUTE_SYSTEM },
};
/* clang-format on */

static const char *const method_names[] = {"GET", "POST", "PATCH", "DELETE", "PUT", "?"};

int
admin_api_new(uv_loop_t *loop, struct directory *dir, struct dirsvc *svc,
    const struct admin_api_config *cfg, struct admin_api **out)
{
	struct admin_api *a = xcalloc(1, sizeof(*a));

	a->loop = loop;
	a->dir = dir;
	a->svc = svc;
	admin_auth_new(loop, dir, &a->auth);
	admin_sessions_new(&a->sessions);
	a->limits = cfg->limits;
	if (a->limits == NULL) {
		struct limits_config lc;
		struct mn_err err;

		limits_config_defaults(&lc);
		(void)limits_new(&lc, &a->own_limits, &err); /* no exempt list: cannot fail */
		a->limits = a->own_limits;
	}
	a->node_name = xstrdup(cfg->node_name);
	a->hostname = xstrdup(cfg->hostname ? cfg->hostname : "localhost");
	a->max_body = cfg->max_body ? cfg->max_body : HTTP_DEFAULT_MAX_BODY;
	a->started_ms = uv_now(loop);
	*out = a;
	return 0;
}

void
admin_api_free(struct admin_api **ap)
{
	struct admin_api *a = *ap;

	if (a == NULL)
		return;
	admin_auth_free(&a->auth);
	admin_sessions_free(&a->sessions);
	api_status_fini(a);
	limits_free(&a->own_limits);
	free(a->node_name);
	free(a->hostname);
	free(a);
	*ap = NULL;
}

bool
admin_api_owns_path(const char *path, size_t len)
{
	size_t plen = strlen(API_PREFIX);

	return len >= plen && memcmp(path, API_PREFIX, plen) == 0 &&
	       (len == plen || path[plen] == '/');
}

/* --- request lifetime and replies -------------------------------------- */

static void
api_req_free(struct api_req *r)
{
	api_segments_free(r->seg, r->nseg);
	if (r->body != NULL)
		json_decref(r->body);
	admin_identity_fini(&r->who);
	free(r->login);
	if (r->token != NULL) {
		OPENSSL_cleanse(r->token, strlen(r->token));
		free(r->token);
	}
	if (r->hash != NULL) {
		free(r->hash);
	}
	for (size_t i = 0; i < r->nallocs; i++)
		free(r->allocs[i]);
	free(r->allocs);
	free(r);
}

static void
api_log(struct api_req *r, int status)
{
	char path[128];

	/* the HTTP server logs every request; this adds who did it, at info
	 * for changes (an audit trail of administration), debug for reads */
	log_msg(r->method == API_GET ? LOG_DEBUG : LOG_INFO, "admin",
	    "event=request admin=%s method=%s path=%s status=%d", r->who.name ? r->who.name : "-",
	    method_names[r->method],
	    log_escape(path, sizeof(path), r->req->path.ptr, r->req->path.len), status);
}

void
api_reply_json(struct api_req *r, int status, json_t *j)
{
	api_log(r, status);
	http_reply_json(r->x, status, j);
	api_req_free(r);
}

void
api_reply_bytes(
    struct api_req *r, int status, const char *content_type, const void *data, size_t len)
{
	api_log(r, status);
	http_reply(r->x, status, content_type, data, len);
	api_req_free(r);
}

void
api_reply_empty(struct api_req *r, int status)
{
	api_log(r, status);
	http_reply(r->x, status, NULL, NULL, 0);
	api_req_free(r);
}

void
api_reply_error(struct api_req *r, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* a page using a session must not get Basic: the browser would
	 * show its own password dialog */
	if (status == 401)
		http_add_header(r->x, "WWW-Authenticate",
		    r->bearer ? "Bearer realm=\"mailnode\"" : "Basic realm=\"mailnode\"");
	api_log(r, status);
	http_reply_error(r->x, status, "%s", msg);
	api_req_free(r);
}

void
api_reply_code(struct api_req *r, int rc, const struct mn_err *err)
{
	int status = api_status_for_code(rc);

	if (status == 500) {
		/* internal detail stays in the log */
		log_error("admin", "event=internal_error code=%d reason=\"%s\"", rc,
		    err && err->msg[0] ? err->msg : mn_strerror(rc));
		api_reply_error(r, 500, "internal error");
		return;
	}
	if (rc == MN_ECLOSED) {
		api_reply_error(r, 503, "node is shutting down");
		return;
	}
	api_reply_error(r, status, "%s", err && err->msg[0] ? err->msg : mn_strerror(rc));
}

void
api_step_no_content(struct api_req *r)
{
	api_reply_empty(r, 204);
}

void *
api_track(struct api_req *r, void *p)
{
	if (r->nallocs == r->capallocs) {
		r->capallocs = r->capallocs ? 2 * r->capallocs : 8;
		r->allocs = xrealloc(r->allocs, r->capallocs * sizeof(*r->allocs));
	}
	r->allocs[r->nallocs++] = p;
	return p;
}

char *
api_strdup(struct api_req *r, const char *s)
{
	return s ? api_track(r, xstrdup(s)) : NULL;
}

/* --- body and query ---------------------------------------------------- */

static json_t *
body_get(struct api_req *r, const char *key)
{
	json_t *v = r->body ? json_object_get(r->body, key) : NULL;

	return v == NULL || json_is_null(v) ? NULL : v;
}

int
api_body_string(struct api_req *r, const char *key, bool required, size_t max, const char **out)
{
	json_t *v = body_get(r, key);

	*out = NULL;
	if (v == NULL) {
		if (!required)
			return 0;
		api_reply_error(r, 400, "missing field \"%s\"", key);
		return -1;
	}
	if (!json_is_string(v)) {
		api_reply_error(r, 400, "field \"%s\" must be a string", key);
		return -1;
	}
	if (json_string_length(v) > max) {
		api_reply_error(r, 400, "field \"%s\" is longer than %zu bytes", key, max);
		return -1;
	}
	if (required && json_string_length(v) == 0) {
		api_reply_error(r, 400, "field \"%s\" must not be empty", key);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

static int
body_number(struct api_req *r, const char *key, bool size, bool *present_out, uint64_t *out)
{
	json_t *v = body_get(r, key);

	*present_out = false;
	if (v == NULL)
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (uint64_t)json_integer_value(v);
	} else if (json_is_string(v) &&
	           (size ? parse_size(json_string_value(v), out)
	                 : parse_u64(json_string_value(v), 0, UINT64_MAX, out)) == 0) {
		;
	} else {
		api_reply_error(r, 400,
		    size ? "field \"%s\" must be a size (bytes, or a number with K, M or G)"
		         : "field \"%s\" must be a non-negative integer",
		    key);
		return -1;
	}
	*present_out = true;
	return 0;
}

int
api_body_size(struct api_req *r, const char *key, bool *present_out, uint64_t *out)
{
	return body_number(r, key, true, present_out, out);
}

int
api_body_u64(struct api_req *r, const char *key, bool *present_out, uint64_t *out)
{
	return body_number(r, key, false, present_out, out);
}

static const struct {
	const char *name;
	uint32_t bit;
} user_flags[] = {
    {"disabled", DIR_USER_DISABLED},
    {"readonly", DIR_USER_READONLY},
    {"no_external_send", DIR_USER_NO_EXTERNAL_SEND},
    {"no_external_receive", DIR_USER_NO_EXTERNAL_RECEIVE},
};

int
api_body_flags(struct api_req *r, const char *key, bool *present_out, uint32_t *out)
{
	json_t *v = body_get(r, key), *e;
	size_t i;

	*present_out = false;
	*out = 0;
	if (v == NULL)
		return 0;
	if (!json_is_array(v)) {
		api_reply_error(r, 400, "field \"%s\" must be an array of flag names", key);
		return -1;
	}
	json_array_foreach(v, i, e)
	{
		size_t k;

		for (k = 0; k < sizeof(user_flags) / sizeof(user_flags[0]); k++)
			if (json_is_string(e) &&
			    strcmp(json_string_value(e), user_flags[k].name) == 0)
				break;
		if (k == sizeof(user_flags) / sizeof(user_flags[0])) {
			api_reply_error(r, 400,
			    "unknown flag in \"%s\" (known: disabled, "
			    "readonly, no_external_send, no_external_receive)",
			    key);
			return -1;
		}
		*out |= user_flags[k].bit;
	}
	*present_out = true;
	return 0;
}

const char *
api_query(struct api_req *r, const char *name)
{
	char *v = http_query_get(r->req, name);

	return v ? api_track(r, v) : NULL;
}

int
api_query_u64(struct api_req *r, const char *name, uint64_t def, uint64_t max, uint64_t *out)
{
	const char *v = api_query(r, name);

	*out = def;
	if (v == NULL || *v == '\0')
		return 0;
	if (parse_u64(v, 0, max, out) != 0) {
		api_reply_error(r, 400, "query parameter \"%s\" must be an integer 0..%llu", name,
		    (unsigned long long)max);
		return -1;
	}
	return 0;
}

/* --- scope -------------------------------------------------------------- */

bool
api_is_system(const struct api_req *r)
{
	return r->who.domain == NULL;
}

bool
api_scope_domain(struct api_req *r, const char *domain)
{
	char *canon;
	bool ok;

	if (api_is_system(r))
		return true;
	canon = directory_domain_canonical(r->api->dir, domain);
	ok = strcmp(domain, r->who.domain) == 0 ||
	     (canon != NULL && strcmp(canon, r->who.domain) == 0);
	free(canon);
	if (!ok)
		api_reply_error(
		    r, 403, "administrator of %s may not manage %s", r->who.domain, domain);
	return ok;
}

const char *
api_domain_of(const char *address)
{
	const char *at = strrchr(address, '@');

	return at ? at + 1 : address;
}

bool
api_scope_address(struct api_req *r, const char *address)
{
	return api_scope_domain(r, api_domain_of(address));
}

char *
api_address_arg(struct api_req *r, const char *in)
{
	char *a;

	if (in == NULL || strlen(in) > DIR_MAX_ADDRESS) {
		api_reply_error(r, 400, "bad address");
		return NULL;
	}
	a = api_strdup(r, in);
	directory_normalize_address(a);
	if (directory_check_address(a) != 0) {
		char esc[128];

		api_reply_error(
		    r, 400, "bad address \"%s\"", log_escape(esc, sizeof(esc), in, strlen(in)));
		return NULL;
	}
	return a;
}

char *
api_new_address(struct api_req *r, const char *in, const char *what)
{
	char *address, *canon;

	if ((address = api_address_arg(r, in)) == NULL || !api_scope_address(r, address))
		return NULL;
	canon = directory_domain_canonical(r->api->dir, api_domain_of(address));
	if (canon == NULL) {
		api_reply_error(r, 404, "domain %s does not exist", api_domain_of(address));
		return NULL;
	}
	api_track(r, canon);
	if (strcmp(canon, api_domain_of(address)) != 0) {
		api_reply_error(r, 400, "%s is an alias of %s: add the %s there",
		    api_domain_of(address), canon, what);
		return NULL;
	}
	return address;
}

const char *
api_list_domain(struct api_req *r, bool *stop)
{
	const char *domain = api_query(r, "domain");
	char *d, *canon;

	*stop = false;
	if (domain == NULL || *domain == '\0')
		domain = api_is_system(r) ? NULL : r->who.domain;
	if (domain == NULL)
		return NULL;
	d = api_strdup(r, domain);
	ascii_lower(d);
	if (!api_scope_domain(r, d)) {
		*stop = true;
		return NULL;
	}
	if ((canon = directory_domain_canonical(r->api->dir, d)) == NULL) {
		api_reply_error(r, 404, "domain %s does not exist", d);
		*stop = true;
		return NULL;
	}
	return api_track(r, canon);
}

json_t *
api_json_find(json_t *array, const char *key, const char *value)
{
	size_t i;
	json_t *e;

	json_array_foreach(array, i, e)
	{
		const char *v = json_string_value(json_object_get(e, key));

		if (v != NULL && strcmp(v, value) == 0)
			return e;
	}
	return NULL;
}

/* --- writes --------------------------------------------------------------- */

static void
apply_done_cb(int rc, const struct mn_err *err, void *arg)
{
	struct api_req *r = arg;

	if (rc != 0) {
		api_reply_code(r, rc, err);
		return;
	}
	r->next(r);
}

void
api_apply(struct api_req *r, api_step_fn next)
{
	int rc;

	r->next = next;
	rc = dirsvc_submit(r->api->svc, &r->cmd, apply_done_cb, r);
	if (rc != 0)
		api_reply_code(r, rc, NULL);
}

static void
hash_done_cb(char *hash, void *arg)
{
	struct api_req *r = arg;

	if (hash == NULL) {
		log_error("admin", "event=password_hash result=fail");
		api_reply_error(r, 500, "internal error");
		return;
	}
	r->hash = hash;
	r->next(r);
}

void
api_hash_password(struct api_req *r, const char *password, api_step_fn next)
{
	r->next = next;
	if (password_hash_async(r->api->loop, password, hash_done_cb, r) != 0)
		api_reply_error(r, 500, "internal error");
}

/* --- dispatch ------------------------------------------------------------ */

static void
api_dispatch(struct api_req *r)
{
	const struct api_route *route = NULL;
	char allow[64] = "";
	int rc;

	rc = api_split_path(r->req->path.ptr, r->req->path.len, r->seg, API_MAX_SEGMENTS, &r->nseg);
	if (rc == MN_EINVAL) {
		api_reply_error(r, 400, "bad %%-encoding in path");
		return;
	}
	if (rc != 0) {
		api_reply_error(r, 404, "no such endpoint");
		return;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!api_pattern_match(routes[i].pattern, r->seg, r->nseg))
			continue;
		if (routes[i].method == r->method) {
			route = &routes[i];
			break;
		}
		if (strlen(allow) + 10 < sizeof(allow)) {
			if (allow[0] != '\0')
				strcat(allow, ", ");
			strcat(allow, method_names[routes[i].method]);
		}
	}
	if (route == NULL) {
		if (allow[0] != '\0') {
			http_add_header(r->x, "Allow", allow);
			api_reply_error(r, 405, "method not allowed");
		} else {
			api_reply_error(r, 404, "no such endpoint");
		}
		return;
	}
	if ((route->flags & ROUTE_SYSTEM) && !api_is_system(r)) {
		api_reply_error(r, 403, "only system administrators may do this");
		return;
	}
	if ((r->method == API_POST || r->method == API_PATCH || r->method == API_PUT) &&
	    r->req->body_len > 0) {
		json_error_t jerr;

		if (r->req->body_len > r->api->max_body) {
			api_reply_error(r, 413, "body too large");
			return;
		}
		r->body = json_loadb(
		    (const char *)r->req->body, r->req->body_len, JSON_REJECT_DUPLICATES, &jerr);
		if (r->body == NULL) {
			api_reply_error(r, 400, "bad JSON: %s (line %d column %d)", jerr.text,
			    jerr.line, jerr.column);
			return;
		}
		if (!json_is_object(r->body)) {
			api_reply_error(r, 400, "body must be a JSON object");
			return;
		}
	}
	route->fn(r);
}

static void
auth_done_cb(int rc, const struct admin_identity *who, void *arg)
{
	struct api_req *r = arg;

	if (rc != 0) {
		limits_auth_failed(r->api->limits, http_exchange_peer_ip(r->x), r->login);
		api_reply_error(r, 401, "bad credentials");
		return;
	}
	limits_auth_ok(r->api->limits, http_exchange_peer_ip(r->x), r->login);
	r->who.name = xstrdup(who->name);
	r->who.domain = who->domain ? xstrdup(who->domain) : NULL;
	api_dispatch(r);
}

static bool
is_session_path(const char *p, size_t len)
{
	static const char sp[] = API_PREFIX "/session";

	if (len > 0 && p[len - 1] == '/')
		len--;
	return len == sizeof(sp) - 1 && memcmp(p, sp, len) == 0;
}

void
admin_api_handle(struct http_exchange *x, const struct http_request *req, void *arg)
{
	struct api_req *r = xcalloc(1, sizeof(*r));
	struct slice h;
	char *user = NULL, *pass = NULL;
	int rc;

	r->api = arg;
	r->x = x;
	r->req = req;
	r->method = api_method_parse(req->method.ptr, req->method.len);
	r->cmd = (Mailnode__DirectoryCommand)MAILNODE__DIRECTORY_COMMAND__INIT;
	if (r->method == API_POST && is_session_path(req->path.ptr, req->path.len)) {
		r->bearer = true;
		api_session_login(r);
		return;
	}
	h = http_header_get(req, "Authorization");
	if (h.ptr != NULL && h.len > 7 && strncasecmp(h.ptr, "Bearer ", 7) == 0) {
		r->bearer = true;
		if (api_session_auth(r, h.ptr + 7, h.len - 7) == 0)
			api_dispatch(r);
		return;
	}
	if (h.ptr == NULL) {
		api_reply_error(r, 401, "authentication required");
		return;
	}
	if (api_parse_basic(h.ptr, h.len, &user, &pass) != 0) {
		api_reply_error(r, 401, "bad credentials");
		return;
	}
	r->login = user;
	if (!limits_auth_allowed(r->api->limits, http_exchange_peer_ip(x), user)) {
		char esc[128];

		/* refused unverified, answered like a wrong password */
		log_warn("admin", "event=auth_blocked ip=%s name=\"%s\"", http_exchange_peer_ip(x),
		    log_escape(esc, sizeof(esc), user, strlen(user)));
		OPENSSL_cleanse(pass, strlen(pass));
		free(pass);
		api_reply_error(r, 401, "bad credentials");
		return;
	}
	rc = admin_auth_check(r->api->auth, user, pass, &r->who, auth_done_cb, r);
	OPENSSL_cleanse(pass, strlen(pass));
	free(pass);
	if (rc == 0) {
		limits_auth_ok(r->api->limits, http_exchange_peer_ip(x), user);
		api_dispatch(r);
	} else if (rc != MN_EAGAIN) {
		limits_auth_failed(r->api->limits, http_exchange_peer_ip(x), user);
		api_reply_error(r, 401, "bad credentials");
	}
}
