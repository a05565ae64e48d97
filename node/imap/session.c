/*
 * session.c - the IMAP service (imap.h) and the per-connection state machine
 * of RFC 3501 §3: not authenticated -> authenticated -> selected -> logout.
 *
 * Owns: the listener, each connection's struct imap_session, its parser,
 * its mailbox-events watch and the job of the command in progress. Input
 * goes through imap_parser (parser.h) except for two raw-line states: the
 * "DONE" that ends IDLE (RFC 2177) and the client's line after
 * "AUTHENTICATE PLAIN" (RFC 4959/4616). See session.h for how commands run
 * (one at a time, mail store work on the thread pool, output bounded).
 *
 * Proxy (cluster/proxy/proxy.h): a login whose user is homed on another
 * node keeps the command's job while the stream to the home opens (the
 * conn stays paused), then either answers NO [UNAVAILABLE] and goes on
 * unauthenticated, or hands the conn to the relay and stays allocated,
 * inert, until the relay is done. imap_server_adopt is the other end: a
 * session made logged in on the stream from the reached node.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cluster/proxy/proxy.h"
#include "cluster/rpc/rpc.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "node/limits.h"
#include "node/imap/recent.h"
#include "node/imap/session.h"
#include "storage/directory/directory.h"
#include "storage/directory/password.h"

struct imap_server {
	struct imap_server_config cfg;
	struct listener *listener;
	char *dummy_hash; /* verified for unknown users: same cost as a real one */
	size_t nsessions; /* references: sessions not yet freed, +1 until stop */
};

static const struct conn_handler session_handler;
static void session_process(struct imap_session *s);
static void job_start_pool(struct imap_session *s, struct imap_job *job);
static void imap_session_events_cb(void *arg);
static void imap_session_kick_cb(void *arg);
static void server_unref(struct imap_server *srv);

struct mailstore *
imap_server_store(struct imap_server *srv)
{
	return srv->cfg.store;
}

struct directory *
imap_server_dir(struct imap_server *srv)
{
	return srv->cfg.dir;
}

bool
imap_server_has_starttls(struct imap_server *srv)
{
	return srv->cfg.starttls != NULL && srv->cfg.listen.tls == NULL;
}

struct tls_ctx *
imap_server_starttls_ctx(struct imap_server *srv)
{
	return srv->cfg.starttls;
}

/* --- output helpers ------------------------------------------------------- */

static void
write_caps(struct imap_session *s, struct buf *out)
{
	buf_append_str(out, IMAP_CAPS_COMMON);
	if (s->state == IMAP_STATE_NOAUTH) {
		if (!conn_is_tls(s->c) && imap_server_has_starttls(s->srv))
			buf_append_str(out, " STARTTLS");
		if (conn_is_tls(s->c) || conn_is_loopback(s->c))
			buf_append_str(out, " AUTH=PLAIN");
		else
			buf_append_str(out, " LOGINDISABLED");
	}
}

void
imap_reply(struct imap_job *job, const char *status, const char *fmt, ...)
{
	va_list ap;

	buf_append(&job->out, job->tag.ptr, job->tag.len);
	buf_printf(&job->out, " %s ", status);
	va_start(ap, fmt);
	buf_vprintf(&job->out, fmt, ap);
	va_end(ap);
	buf_append(&job->out, "\r\n", 2);
}

static void
session_write(struct imap_session *s, const void *data, size_t len)
{
	if (len > 0 && !conn_is_closing(s->c))
		conn_write(s->c, data, len);
}

static void
job_free(struct imap_job *job)
{
	if (job == NULL)
		return;
	if (job->step_free != NULL && job->step_state != NULL)
		job->step_free(job->step_state);
	buf_fini(&job->out);
	if (job->login_pass != NULL) {
		OPENSSL_cleanse(job->login_pass, strlen(job->login_pass));
		free(job->login_pass);
	}
	free(job->login_user);
	free(job->login_hash);
	free(job->own_tag);
	free(job);
}

static void
session_free(struct imap_session *s)
{
	server_unref(s->srv);
	mailbox_events_unwatch(&s->watch);
	imap_parser_free(&s->parser);
	free(s->user);
	free(s->folder);
	free(s->view);
	free(s->idle_tag);
	free(s->auth_tag);
	free(s->peer_ip);
	free(s->proxied_from);
	free(s->proxy_user);
	free(s->proxy_home);
	free(s);
}

/* --- jobs ----------------------------------------------------------------- */

static void
pool_work_cb(uv_work_t *w)
{
	struct imap_job *job = w->data;
	struct imap_session *s = job->s;
	size_t tagged_at;

	if (job->cmd == NULL) {
		/* IDLE wake-up: only the untagged updates */
		if (s->state == IMAP_STATE_SELECTED)
			imap_sync_view(s, &job->out, true);
		return;
	}
	tagged_at = job->out.len;
	job->cmd->run(s, job);
	/* Untagged updates of other sessions' (and our own) changes go
	 * before the tagged reply; the tagged line is the last line of out. */
	if (!job->more && s->state == IMAP_STATE_SELECTED && (job->sync || job->changed)) {
		struct buf tail;
		size_t cut = job->out.len;

		/* find the start of the tagged line: after the last "\r\n"
		 * before the end */
		if (cut >= 2) {
			size_t i = cut - 2;

			while (i > tagged_at && !(job->out.data[i - 1] == '\n'))
				i--;
			cut = i;
		}
		buf_init(&tail, 0);
		buf_append(&tail, job->out.data + cut, job->out.len - cut);
		job->out.len = cut;
		imap_sync_view(s, &job->out, !(job->cmd->flags & IMAP_CMD_NO_EXPUNGE) || job->uid);
		buf_append(&job->out, tail.data, tail.len);
		buf_fini(&tail);
	}
}

static void
job_finish(struct imap_session *s, struct imap_job *job)
{
	session_write(s, job->out.data, job->out.len);
	buf_reset(&job->out);
	if (job->changed && s->user != NULL)
		mailbox_events_notify(s->user, s->watch);
	job->changed = false;
	if (job->more && !conn_is_closing(s->c)) {
		if (conn_pending_output(s->c) > IMAP_OUT_LOW)
			s->waiting_drain = true;
		else
			job_start_pool(s, job);
		return;
	}
	s->job = NULL;
	s->busy = false;
	job_free(job);
	if (s->gone && s->state == IMAP_STATE_SELECTED) {
		/* RFC 3501 §7.1.5: the selected mailbox vanished under us */
		static const char bye[] = "* BYE Selected mailbox was deleted or renamed\r\n";

		session_write(s, bye, sizeof(bye) - 1);
		conn_close(s->c);
		return;
	}
	if (s->state == IMAP_STATE_LOGOUT) {
		conn_close(s->c);
		return;
	}
	if (s->starttls_pending) {
		s->starttls_pending = false;
		imap_parser_reset(s->parser);
		if (conn_starttls(s->c, imap_server_starttls_ctx(s->srv)) != 0)
			conn_abort(s->c);
		return;
	}
	if (s->idling && s->notified) {
		struct imap_job *w = xcalloc(1, sizeof(*w));

		s->notified = false;
		w->s = s;
		buf_init(&w->out, 0);
		s->job = w;
		s->busy = true;
		job_start_pool(s, w);
		return;
	}
	conn_resume(s->c);
}

static void
pool_after_cb(uv_work_t *w, int status)
{
	struct imap_job *job = w->data;
	struct imap_session *s = job->s;

	(void)status;
	if (s->closed) {
		s->job = NULL;
		job_free(job);
		session_free(s);
		return;
	}
	job_finish(s, job);
}

static void
job_start_pool(struct imap_session *s, struct imap_job *job)
{
	job->work.data = job;
	s->busy = true;
	s->job = job;
	conn_pause(s->c);
	uv_queue_work(conn_loop(s->c), &job->work, pool_work_cb, pool_after_cb);
}

/* --- login ---------------------------------------------------------------- */

/* Logged in as u: the account's limits, the idle timeout of RFC 3501
 * §5.4, mailbox events, and the tagged OK with this node's capabilities. */
static void
session_login(struct imap_session *s, const struct dir_user *u, struct buf *out, struct slice tag)
{
	struct imap_parser_limits lim;
	uint64_t maxmsg = u->max_message_size ? u->max_message_size : s->srv->cfg.max_message_size;

	s->user = xstrdup(u->address);
	s->user_flags = u->flags;
	s->quota.max_bytes = u->quota_bytes;
	s->quota.max_messages = u->quota_messages;
	s->state = IMAP_STATE_AUTH;
	imap_parser_limits_default(&lim);
	if (maxmsg > 0 && maxmsg < MAILSTORE_MAX_BODY) {
		lim.max_literal = (size_t)maxmsg;
		lim.max_command = (size_t)maxmsg + 65536;
	}
	imap_parser_set_limits(s->parser, &lim);
	conn_set_idle_timeout(s->c, IMAP_AUTH_TIMEOUT_MS);
	s->watch = mailbox_events_watch(s->user, imap_session_events_cb, s);
	mailbox_events_set_kick(s->watch, imap_session_kick_cb);
	buf_append(out, tag.ptr, tag.len);
	buf_append_str(out, " OK [CAPABILITY ");
	write_caps(s, out);
	buf_append_str(out, "] Logged in\r\n");
}

/* the user's mailbox is moving to another node (cluster/migrate): end the
 * session; the client reconnects and reaches the new home */
static void
imap_session_kick_cb(void *arg)
{
	static const char bye[] = "* BYE [UNAVAILABLE] mailbox is moving to another server, "
	                          "reconnect in a moment\r\n";
	struct imap_session *s = arg;

	if (s->c == NULL || conn_is_closing(s->c))
		return;
	log_info(
	    "imap", "sid=%s event=kick user=%s reason=\"mailbox moving\"", conn_id(s->c), s->user);
	conn_write(s->c, bye, sizeof(bye) - 1);
	conn_close(s->c);
}

/* --- proxy (the reached node) ---------------------------------------------- */

static void
proxy_relay_done(void *arg)
{
	struct imap_session *s = arg;

	if (s->counted) {
		s->counted = false;
		limits_conn_closed(s->srv->cfg.limits, LIMITS_IMAP, s->peer_ip);
	}
	session_free(s);
}

static void
proxy_opened(struct conn *home, int status, const char *error, void *arg)
{
	struct imap_session *s = arg;
	struct imap_job *job = s->job;

	(void)error;
	s->popen = NULL;
	if (status != 0) {
		/* the session goes on, not logged in: LOGOUT, another try */
		imap_reply(job, "NO",
		    "[UNAVAILABLE] The server holding this mailbox is unavailable, try again "
		    "later");
		job_finish(s, job);
		return;
	}
	/* the home node answers the login (its tagged OK is on the way) */
	s->job = NULL;
	s->busy = false;
	job_free(job);
	s->relaying = true;
	s->peer_ip = xstrdup(conn_peer_ip(s->c));
	mailbox_events_unwatch(&s->watch);
	proxy_relay_start(s->c, home, PROXY_IMAP, s->proxy_user, s->proxy_home,
	    IMAP_AUTH_TIMEOUT_MS + 60 * 1000, proxy_relay_done, s);
}

/* job is the LOGIN/AUTHENTICATE, its password checked; u is homed elsewhere */
static void
proxy_begin(struct imap_session *s, struct imap_job *job, const struct dir_user *u)
{
	char *tag = xstrndup(job->tag.ptr, job->tag.len);
	int rc;

	free(s->proxy_user);
	free(s->proxy_home);
	s->proxy_user = xstrdup(u->address);
	s->proxy_home = xstrdup(u->home_node);
	s->job = job;
	s->busy = true;
	rc = proxy_open(s->srv->cfg.proxy, PROXY_IMAP, u->home_node, u->address, conn_peer_ip(s->c),
	    tag, proxy_opened, s, &s->popen);
	free(tag);
	if (rc != 0)
		proxy_opened(NULL, rc, mn_strerror(rc), s);
}

static void
login_work_cb(uv_work_t *w)
{
	struct imap_job *job = w->data;

	job->login_ok = password_verify(job->login_hash, job->login_pass);
}

static void
login_after_cb(uv_work_t *w, int status)
{
	struct imap_job *job = w->data;
	struct imap_session *s = job->s;
	struct dir_user u;
	int rc;

	(void)status;
	if (s->closed) {
		job_free(job);
		session_free(s);
		return;
	}
	memset(&u, 0, sizeof(u));
	/* look again: the account may have changed while we hashed */
	rc = job->login_ok && !job->login_blocked
	         ? directory_user_get(imap_server_dir(s->srv), job->login_user, &u)
	         : MN_EAUTH;
	if (rc == 0 && ((u.flags & DIR_USER_DISABLED) ||
	                   (u.expires_at > 0 && u.expires_at <= (int64_t)time(NULL))))
		rc = MN_EPERM;
	if (rc == 0 && directory_user_held(&u) &&
	    !proxy_home_elsewhere(s->srv->cfg.proxy, u.home_node)) {
		/* its mailbox is being copied to another node (cluster/migrate):
		 * a session here could change it under the copy */
		log_info(
		    "imap", "sid=%s event=login user=%s result=held", conn_id(s->c), u.address);
		imap_reply(job, "NO",
		    "[UNAVAILABLE] Mailbox is moving to another server, try again in a moment");
		dir_user_fini(&u);
		job_finish(s, job);
		return;
	}
	if (rc == 0 && proxy_home_elsewhere(s->srv->cfg.proxy, u.home_node)) {
		log_info("imap", "sid=%s event=login user=%s result=ok home=%s tls=%d",
		    conn_id(s->c), u.address, u.home_node, conn_is_tls(s->c));
		if (s->srv->cfg.limits != NULL)
			limits_auth_ok(s->srv->cfg.limits, conn_peer_ip(s->c), job->login_user);
		proxy_begin(s, job, &u);
		dir_user_fini(&u);
		return;
	}
	if (rc == 0) {
		session_login(s, &u, &job->out, job->tag);
		log_info("imap", "sid=%s event=login user=%s result=ok tls=%d", conn_id(s->c),
		    s->user, conn_is_tls(s->c));
		if (s->srv->cfg.limits != NULL)
			limits_auth_ok(s->srv->cfg.limits, conn_peer_ip(s->c), job->login_user);
	} else {
		s->auth_fail++;
		if (s->srv->cfg.limits != NULL && !job->login_blocked && rc != MN_EPERM)
			limits_auth_failed(s->srv->cfg.limits, conn_peer_ip(s->c), job->login_user);
		log_info("imap", "sid=%s event=login result=fail ip=%s", conn_id(s->c),
		    conn_peer_ip(s->c));
		if (rc == MN_EPERM)
			imap_reply(job, "NO", "[AUTHORIZATIONFAILED] Account disabled");
		else
			imap_reply(job, "NO", "[AUTHENTICATIONFAILED] Authentication failed.");
		if (s->auth_fail >= IMAP_MAX_AUTH_FAIL) {
			buf_append_str(&job->out, "* BYE Too many authentication failures\r\n");
			s->state = IMAP_STATE_LOGOUT;
		}
	}
	dir_user_fini(&u);
	job_finish(s, job);
}

/* begin a password check for job->login_user / login_pass (loop thread) */
static void
login_start(struct imap_session *s, struct imap_job *job)
{
	struct dir_user u;

	memset(&u, 0, sizeof(u));
	if (s->srv->cfg.limits != NULL &&
	    !limits_auth_allowed(s->srv->cfg.limits, conn_peer_ip(s->c), job->login_user)) {
		/* answered like a wrong password, after the same hashing delay */
		log_warn(
		    "imap", "sid=%s event=auth_blocked ip=%s", conn_id(s->c), conn_peer_ip(s->c));
		job->login_blocked = true;
		job->login_hash = xstrdup(s->srv->dummy_hash);
	} else if (directory_user_get(imap_server_dir(s->srv), job->login_user, &u) == 0 &&
	           u.password_hash != NULL)
		job->login_hash = xstrdup(u.password_hash);
	else
		job->login_hash = xstrdup(s->srv->dummy_hash);
	dir_user_fini(&u);
	job->work.data = job;
	s->busy = true;
	s->job = job;
	conn_pause(s->c);
	uv_queue_work(conn_loop(s->c), &job->work, login_work_cb, login_after_cb);
}

static bool
plaintext_ok(struct imap_session *s)
{
	return conn_is_tls(s->c) || conn_is_loopback(s->c);
}

void
imap_cmd_login(struct imap_session *s, struct imap_job *job)
{
	struct slice user, pass;
	const struct imap_arg *a = job->arg;

	if (a == NULL || a->next == NULL || a->next->next != NULL || !imap_arg_string(a, &user) ||
	    !imap_arg_string(a->next, &pass)) {
		imap_reply(job, "BAD", "LOGIN needs a user name and a password");
		return;
	}
	if (!plaintext_ok(s)) {
		imap_reply(job, "NO", "[PRIVACYREQUIRED] Use STARTTLS first");
		return;
	}
	if (memchr(user.ptr, 0, user.len) || memchr(pass.ptr, 0, pass.len)) {
		imap_reply(job, "NO", "[AUTHENTICATIONFAILED] Authentication failed.");
		return;
	}
	job->login_user = slice_dup(user);
	job->login_pass = slice_dup(pass);
	job->more = true; /* finished by login_after_cb */
}

void
imap_cmd_authenticate(struct imap_session *s, struct imap_job *job)
{
	struct slice mech;
	const struct imap_arg *a = job->arg;

	if (a == NULL || !imap_arg_string(a, &mech) || (a->next && a->next->next)) {
		imap_reply(job, "BAD", "AUTHENTICATE needs a mechanism");
		return;
	}
	if (!slice_eq_nocase(mech, "PLAIN")) {
		imap_reply(job, "NO", "Unsupported authentication mechanism");
		return;
	}
	if (!plaintext_ok(s)) {
		imap_reply(job, "NO", "[PRIVACYREQUIRED] Use STARTTLS first");
		return;
	}
	if (a->next != NULL) {
		struct slice ir;

		if (!imap_arg_string(a->next, &ir)) {
			imap_reply(job, "BAD", "Bad initial response");
			return;
		}
		job->login_user = slice_dup(ir); /* decoded in auth_plain_line */
		job->more = true;
		return;
	}
	s->auth_tag = xstrndup(job->tag.ptr, job->tag.len);
	buf_append_str(&job->out, "+ \r\n");
}

/* decode a SASL PLAIN response (RFC 4616) into job->login_user/pass;
 * false when malformed */
static bool
auth_plain_decode(struct imap_job *job, const char *b64, size_t len)
{
	unsigned char *raw;
	int n;
	size_t pad = 0;
	const char *authz, *authc, *pass, *end;

	if (len == 0 || len % 4 != 0 || len > 4096)
		return false;
	raw = xmalloc(len);
	n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
	if (n < 0) {
		free(raw);
		return false;
	}
	if (b64[len - 1] == '=')
		pad++;
	if (b64[len - 2] == '=')
		pad++;
	n -= (int)pad;
	end = (const char *)raw + n;
	authz = (const char *)raw;
	authc = memchr(authz, 0, (size_t)(end - authz));
	if (authc == NULL) {
		free(raw);
		return false;
	}
	authc++;
	pass = memchr(authc, 0, (size_t)(end - authc));
	if (pass == NULL || memchr(pass + 1, 0, (size_t)(end - pass - 1)) != NULL) {
		OPENSSL_cleanse(raw, len);
		free(raw);
		return false;
	}
	pass++;
	/* an authorization identity other than our own: no proxy logins */
	if (authc - 1 > authz && ((size_t)(authc - 1 - authz) != (size_t)(pass - 1 - authc) ||
	                             ascii_ncasecmp(authz, authc, (size_t)(pass - 1 - authc)))) {
		OPENSSL_cleanse(raw, len);
		free(raw);
		return false;
	}
	job->login_user = xstrndup(authc, (size_t)(pass - 1 - authc));
	job->login_pass = xstrndup(pass, (size_t)(end - pass));
	OPENSSL_cleanse(raw, len);
	free(raw);
	return true;
}

/* --- commands on the loop -------------------------------------------------- */

void
imap_cmd_capability(struct imap_session *s, struct imap_job *job)
{
	buf_append_str(&job->out, "* CAPABILITY ");
	write_caps(s, &job->out);
	buf_append_str(&job->out, "\r\n");
	imap_reply(job, "OK", "CAPABILITY completed");
}

void
imap_cmd_logout(struct imap_session *s, struct imap_job *job)
{
	buf_append_str(&job->out, "* BYE Logging out\r\n");
	imap_reply(job, "OK", "LOGOUT completed");
	s->state = IMAP_STATE_LOGOUT;
}

void
imap_cmd_id(struct imap_session *s, struct imap_job *job)
{
	(void)s;
	/* RFC 2971: the argument is NIL or a list; we log nothing of it */
	if (job->arg == NULL || job->arg->next != NULL ||
	    (job->arg->type != IMAP_ARG_NIL && job->arg->type != IMAP_ARG_LIST)) {
		imap_reply(job, "BAD", "ID needs NIL or a parameter list");
		return;
	}
	buf_append_str(
	    &job->out, "* ID (\"name\" \"mailnode\" \"version\" \"" MN_VERSION "\")\r\n");
	imap_reply(job, "OK", "ID completed");
}

void
imap_cmd_enable(struct imap_session *s, struct imap_job *job)
{
	struct buf en;

	if (job->arg == NULL) {
		imap_reply(job, "BAD", "ENABLE needs capability names");
		return;
	}
	buf_init(&en, 0);
	for (const struct imap_arg *a = job->arg; a; a = a->next) {
		if (a->type != IMAP_ARG_ATOM) {
			buf_fini(&en);
			imap_reply(job, "BAD", "ENABLE takes atoms");
			return;
		}
		if (slice_eq_nocase(a->str, "CONDSTORE") && !s->condstore) {
			s->condstore = true;
			buf_append_str(&en, " CONDSTORE");
		}
		/* XXX: UTF8=ACCEPT (RFC 6855) is not offered: names stay mUTF-7 */
	}
	buf_append_str(&job->out, "* ENABLED");
	buf_append(&job->out, en.data, en.len);
	buf_append_str(&job->out, "\r\n");
	buf_fini(&en);
	imap_reply(job, "OK", "ENABLE completed");
}

void
imap_cmd_namespace(struct imap_session *s, struct imap_job *job)
{
	(void)s;
	buf_append_str(&job->out, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
	imap_reply(job, "OK", "NAMESPACE completed");
}

void
imap_cmd_starttls(struct imap_session *s, struct imap_job *job)
{
	if (conn_is_tls(s->c) || !imap_server_has_starttls(s->srv)) {
		imap_reply(job, "BAD", "STARTTLS not available");
		return;
	}
	if (job->arg != NULL) {
		imap_reply(job, "BAD", "STARTTLS takes no arguments");
		return;
	}
	imap_reply(job, "OK", "Begin TLS negotiation now");
	s->starttls_pending = true;
}

/* --- events --------------------------------------------------------------- */

static void
imap_session_events_cb(void *arg)
{
	struct imap_session *s = arg;

	s->notified = true;
	if (s->idling && !s->busy && !s->closed) {
		struct imap_job *w = xcalloc(1, sizeof(*w));

		s->notified = false;
		w->s = s;
		buf_init(&w->out, 0);
		job_start_pool(s, w);
	}
}

/* --- dispatch ------------------------------------------------------------- */

static void
session_bad(struct imap_session *s, struct slice tag, const char *msg)
{
	struct buf b;

	buf_init(&b, 0);
	if (tag.len > 0)
		buf_append(&b, tag.ptr, tag.len);
	else
		buf_append_str(&b, "*");
	buf_printf(&b, " BAD %s\r\n", msg);
	session_write(s, b.data, b.len);
	buf_fini(&b);
	if (++s->bad_count >= IMAP_MAX_BAD) {
		session_write(s, "* BYE Too many errors\r\n", 23);
		conn_close(s->c);
	}
}

/* quota and flags may change while a session is open (admin API) */
static void
refresh_account(struct imap_session *s)
{
	struct dir_user u;

	memset(&u, 0, sizeof(u));
	if (directory_user_get(imap_server_dir(s->srv), s->user, &u) == 0) {
		s->user_flags = u.flags;
		s->quota.max_bytes = u.quota_bytes;
		s->quota.max_messages = u.quota_messages;
	}
	dir_user_fini(&u);
}

static void
dispatch(struct imap_session *s, const struct imap_cmd *pc)
{
	const struct imap_command *cmd;
	const struct imap_arg *arg = pc->args;
	struct slice name = pc->name;
	bool uid = false;
	struct imap_job *job;

	if (slice_eq_nocase(name, "UID")) {
		if (arg == NULL || arg->type != IMAP_ARG_ATOM) {
			session_bad(s, pc->tag, "UID needs a command");
			return;
		}
		name = arg->str;
		arg = arg->next;
		uid = true;
	}
	cmd = imap_command_find(name);
	if (cmd == NULL || (uid && !(cmd->flags & IMAP_CMD_UID))) {
		session_bad(s, pc->tag, "Unknown command");
		return;
	}
	if (!(cmd->states & s->state)) {
		session_bad(s, pc->tag,
		    s->state == IMAP_STATE_NOAUTH      ? "Log in first"
		    : cmd->states == IMAP_STATE_NOAUTH ? "Already logged in"
		                                       : "Select a mailbox first");
		return;
	}
	s->bad_count = 0;
	if (s->user != NULL && ((cmd->flags & IMAP_CMD_WRITES) || cmd->run == imap_cmd_getquota))
		refresh_account(s);
	job = xcalloc(1, sizeof(*job));
	job->s = s;
	job->cmd = cmd;
	job->pc = *pc;
	job->arg = arg;
	job->uid = uid;
	job->tag = pc->tag;
	job->sync = s->notified;
	s->notified = false;
	buf_init(&job->out, 0);
	if (cmd->flags & IMAP_CMD_POOL) {
		job_start_pool(s, job);
		return;
	}
	s->busy = true;
	s->job = job;
	cmd->run(s, job);
	if (job->login_user != NULL && job->more) {
		/* LOGIN / AUTHENTICATE with an initial response */
		job->more = false;
		if (job->login_pass == NULL) {
			char *ir = job->login_user;

			job->login_user = NULL;
			if (!auth_plain_decode(job, ir, strlen(ir))) {
				imap_reply(job, "BAD", "Malformed SASL PLAIN response");
				free(ir);
				job_finish(s, job);
				return;
			}
			free(ir);
		}
		login_start(s, job);
		return;
	}
	job_finish(s, job);
}

/* the line after "+ " of AUTHENTICATE PLAIN */
static void
auth_line(struct imap_session *s, const char *line, size_t len)
{
	struct imap_job *job = xcalloc(1, sizeof(*job));

	job->s = s;
	buf_init(&job->out, 0);
	job->own_tag = s->auth_tag;
	s->auth_tag = NULL;
	job->tag = (struct slice){job->own_tag, strlen(job->own_tag)};
	s->busy = true;
	s->job = job;
	if (len == 1 && line[0] == '*') {
		imap_reply(job, "BAD", "Authentication cancelled");
	} else if (!auth_plain_decode(job, line, len)) {
		imap_reply(job, "BAD", "Malformed SASL PLAIN response");
	} else {
		login_start(s, job);
		return;
	}
	job_finish(s, job);
}

static void
session_process(struct imap_session *s)
{
	struct buf *in = conn_input(s->c);

	while (!s->busy && !s->closed && !conn_is_closing(s->c) && in->len > 0) {
		struct imap_cmd pc;
		size_t consumed = 0, ll;
		enum imap_parse_result r;

		if (s->idling || s->auth_tag != NULL) {
			size_t n = find_line(in->data, in->len, &ll);

			if (n == 0) {
				if (in->len >= in->max && in->max > 0) {
					session_write(s, "* BYE Line too long\r\n", 21);
					conn_close(s->c);
				}
				return;
			}
			if (s->idling) {
				bool done =
				    ll == 4 && ascii_ncasecmp((char *)in->data, "DONE", 4) == 0;
				struct buf b;

				buf_init(&b, 0);
				buf_append_str(&b, s->idle_tag);
				buf_append_str(&b,
				    done ? " OK IDLE terminated\r\n" : " BAD Expected DONE\r\n");
				session_write(s, b.data, b.len);
				buf_fini(&b);
				s->idling = false;
				free(s->idle_tag);
				s->idle_tag = NULL;
				buf_consume(in, n);
			} else {
				char *line = xstrndup((char *)in->data, ll);

				buf_consume(in, n);
				auth_line(s, line, ll);
				OPENSSL_cleanse(line, ll);
				free(line);
			}
			continue;
		}
		r = imap_parser_feed(s->parser, (const char *)in->data, in->len, &consumed, &pc);
		buf_consume(in, consumed);
		switch (r) {
		case IMAP_PARSE_MORE:
			return;
		case IMAP_PARSE_CONTINUE:
			session_write(s, "+ OK\r\n", 6);
			break;
		case IMAP_PARSE_BAD:
			session_bad(s, pc.tag, pc.error_msg);
			break;
		case IMAP_PARSE_FATAL: {
			struct buf b;

			buf_init(&b, 0);
			buf_printf(&b, "* BYE %s\r\n", pc.error_msg);
			session_write(s, b.data, b.len);
			buf_fini(&b);
			conn_close(s->c);
			return;
		}
		case IMAP_PARSE_DONE:
			dispatch(s, &pc);
			break;
		}
	}
}

/* --- connection callbacks ---------------------------------------------------- */

static void
on_read(struct conn *c, void *arg)
{
	(void)c;
	session_process(arg);
}

static void
on_drain(struct conn *c, void *arg)
{
	struct imap_session *s = arg;

	(void)c;
	if (s->waiting_drain && s->job != NULL) {
		s->waiting_drain = false;
		job_start_pool(s, s->job);
	}
}

static void
on_close(struct conn *c, void *arg, int reason)
{
	struct imap_session *s = arg;

	(void)reason;
	mailbox_events_unwatch(&s->watch);
	if (s->popen != NULL) {
		/* gone while its home session was opening */
		proxy_open_cancel(s->popen);
		s->popen = NULL;
		s->busy = false;
	}
	if (s->counted) {
		s->counted = false;
		limits_conn_closed(s->srv->cfg.limits, LIMITS_IMAP, conn_peer_ip(c));
	}
	if (s->busy && !s->waiting_drain) {
		s->closed = true; /* freed when the job comes back */
		return;
	}
	if (s->job != NULL)
		job_free(s->job);
	session_free(s);
}

static void
on_tls(struct conn *c, void *arg, int status)
{
	(void)c;
	(void)arg;
	(void)status;
}

static bool
on_timeout(struct conn *c, void *arg)
{
	(void)arg;
	conn_write(c, "* BYE Autologout; idle for too long\r\n", 37);
	conn_close(c);
	return true;
}

static const struct conn_handler session_handler = {
    .on_read = on_read,
    .on_close = on_close,
    .on_drain = on_drain,
    .on_tls = on_tls,
    .on_timeout = on_timeout,
};

static void
refused_on_close(struct conn *c, void *arg, int reason)
{
	(void)c;
	(void)arg;
	(void)reason;
}

static const struct conn_handler refused_handler = {
    .on_close = refused_on_close,
};

/* a session on c, not authenticated, no greeting yet */
static struct imap_session *
session_new(struct imap_server *srv, struct conn *c)
{
	struct imap_session *s = xcalloc(1, sizeof(*s));
	struct imap_parser_limits lim;

	s->srv = srv;
	srv->nsessions++;
	s->c = c;
	s->state = IMAP_STATE_NOAUTH;
	imap_parser_limits_preauth(&lim);
	s->parser = imap_parser_new(&lim);
	conn_set_handler(c, &session_handler, s);
	conn_set_idle_timeout(c, IMAP_PREAUTH_TIMEOUT_MS);
	return s;
}

void
imap_server_adopt(struct imap_server *srv, struct rpc_stream *st, const struct proxy_request *req)
{
	struct imap_session *s;
	struct dir_user u;
	struct buf out;
	struct conn *c;

	memset(&u, 0, sizeof(u));
	if (directory_user_get(srv->cfg.dir, req->user, &u) != 0) {
		rpc_stream_refuse(st, MN_ENOENT, "no such user");
		return;
	}
	if ((u.flags & DIR_USER_DISABLED) ||
	    (u.expires_at > 0 && u.expires_at <= (int64_t)time(NULL))) {
		rpc_stream_refuse(st, MN_EPERM, "account disabled");
		dir_user_fini(&u);
		return;
	}
	c = rpc_stream_accept(st, NULL, 0);
	s = session_new(srv, c);
	s->proxied_from = xstrdup(req->peer);
	buf_init(&out, 0);
	session_login(s, &u, &out, (struct slice){req->tag, strlen(req->tag)});
	conn_write(c, out.data, out.len);
	buf_fini(&out);
	log_info("imap", "sid=%s event=login user=%s result=ok proxied_from=%s client=%s",
	    conn_id(c), s->user, s->proxied_from, req->client_ip);
	dir_user_fini(&u);
}

static void
accept_cb(struct conn *c, void *arg)
{
	static const char busy[] = "* BYE [UNAVAILABLE] too many connections from your address\r\n";
	struct imap_server *srv = arg;
	struct imap_session *s;
	enum limits_verdict v = LIMITS_OK;
	struct buf g;

	if (srv->cfg.limits != NULL)
		v = limits_conn_open(srv->cfg.limits, LIMITS_IMAP, conn_peer_ip(c));
	if (v != LIMITS_OK) {
		log_info("imap", "sid=%s event=refused ip=%s reason=%s", conn_id(c),
		    conn_peer_ip(c), v == LIMITS_TOO_MANY ? "too_many_connections" : "rate");
		conn_set_handler(c, &refused_handler, NULL);
		(void)conn_write(c, busy, sizeof(busy) - 1);
		conn_close(c);
		return;
	}
	s = session_new(srv, c);
	s->counted = srv->cfg.limits != NULL;
	buf_init(&g, 0);
	buf_append_str(&g, "* OK [CAPABILITY ");
	write_caps(s, &g);
	buf_append_str(&g, "] mailnode ready\r\n");
	conn_write(c, g.data, g.len);
	buf_fini(&g);
}

int
imap_server_start(uv_loop_t *loop, const struct imap_server_config *cfg, struct imap_server **out,
    struct mn_err *err)
{
	struct imap_server *srv = xcalloc(1, sizeof(*srv));
	int rc;

	srv->cfg = *cfg;
	srv->nsessions = 1;                         /* the running server's own reference */
	imap_recent_set_epoch((int64_t)time(NULL)); /* the first listener's start */
	srv->dummy_hash = password_hash("mailnode-dummy-password");
	if (srv->dummy_hash == NULL) {
		free(srv);
		return mn_err_set(err, MN_EIO, "cannot make a password hash");
	}
	rc = listener_start(loop, &srv->cfg.listen, accept_cb, srv, &srv->listener, err);
	if (rc != 0) {
		free(srv->dummy_hash);
		free(srv);
		return rc;
	}
	*out = srv;
	return 0;
}

uint16_t
imap_server_port(const struct imap_server *srv)
{
	return listener_port(srv->listener);
}

void
imap_server_stop(struct imap_server **sp)
{
	struct imap_server *srv = *sp;

	if (srv == NULL)
		return;
	*sp = NULL;
	listener_stop(&srv->listener);
	server_unref(srv);
}

/* sessions hold the server: it is freed after stop and the last session */
static void
server_unref(struct imap_server *srv)
{
	if (--srv->nsessions == 0) {
		free(srv->dummy_hash);
		free(srv);
	}
}
