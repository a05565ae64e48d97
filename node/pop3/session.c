/*
 * session.c - POP3 sessions on struct conn (RFC 1939): AUTHORIZATION
 * (USER/PASS, AUTH PLAIN per RFC 5034, STLS per RFC 2595, CAPA per RFC
 * 2449), TRANSACTION (STAT LIST RETR DELE NOOP RSET TOP UIDL) and UPDATE
 * (QUIT expunges what DELE marked). Also the listeners and the per-node
 * maildrop locks. Owns each struct pop3_session: it lives until the conn
 * has closed AND its thread-pool work and delay timer are done (refs).
 *
 * Blocking work off the loop: password verification (crypt) and every mail
 * store call run in uv_queue_work; while one runs, input is paused, so
 * pipelined commands (RFC 2449 PIPELINING) wait in the conn's input buffer
 * and are answered in order. RETR/TOP stream the body from an fd in chunks,
 * stopping while the conn's output queue is above POP3_STREAM_HIGH and
 * continuing on drain: a client that does not read holds one chunk of
 * memory, not the message.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster/proxy/proxy.h"
#include "cluster/rpc/rpc.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "node/limits.h"
#include "node/mailbox_events.h"
#include "node/pop3/parser.h"
#include "node/pop3/pop3.h"
#include "storage/directory/directory.h"
#include "storage/directory/password.h"
#include "storage/mailstore/mailstore.h"

#define POP3_SVC "pop3"
#define POP3_INPUT_MAX 8192
#define POP3_STREAM_CHUNK (64 * 1024)
#define POP3_STREAM_HIGH (256 * 1024)
#define POP3_INBOX "INBOX"

struct pop3_lock {
	char *user;
	struct pop3_lock *next;
};

struct pop3_server {
	uv_loop_t *loop;
	struct directory *dir;
	struct mailstore *ms;
	struct pop3_server_config cfg;
	struct listener *plain, *tls;
	struct pop3_lock *locks;
	char *dummy_hash; /* verified for unknown users: same cost as a real one */
};

enum pop3_state {
	POP3_STATE_AUTHORIZATION,
	POP3_STATE_TRANSACTION,
	POP3_STATE_UPDATE,
};

struct pop3_msg {
	uint32_t uid;
	uint64_t size;
	bool deleted;
};

struct pop3_session {
	struct pop3_server *srv;
	struct conn *c;
	struct pop3_parser parser;
	enum pop3_state state;
	int refs;
	bool gone;      /* conn closed */
	bool busy;      /* work or a stream in progress; input paused */
	bool tls_port;  /* accepted on the implicit TLS port */
	bool sasl_wait; /* AUTH PLAIN sent "+ ", waiting for the response */
	bool counted;   /* admitted by limits_conn_open: release on close */
	unsigned errors;
	char *user;  /* from USER, until PASS */
	char *login; /* authenticated address (canonical) */
	bool locked, readonly;
	uint32_t uidvalidity;
	struct pop3_msg *msgs;
	size_t nmsgs;
	/* RETR/TOP stream */
	int fd;
	uint64_t offset;
	struct pop3_stuffer st;
	uint8_t *chunk, *chunk_out;
	/* failed-login delay */
	uv_timer_t delay;
	bool delay_init;
	/* proxy: home node of the user being logged in; the stream opening
	 * (holds a reference); the client IP kept for the relay's end */
	char *home;
	struct proxy_open *popen;
	char *peer_ip;
	/* kicked when the maildrop moves to another node (cluster/migrate) */
	struct mailbox_watch *watch;
};

enum pop3_job_kind {
	POP3_JOB_AUTH,
	POP3_JOB_LOAD,
	POP3_JOB_OPEN,
	POP3_JOB_EXPUNGE,
};

struct pop3_job {
	uv_work_t req;
	struct pop3_session *s;
	enum pop3_job_kind kind;
	int rc;
	struct mn_err err;
	/* AUTH */
	char *hash, *password;
	bool ok;
	/* LOAD */
	uint32_t uidvalidity;
	struct mailstore_msg *list;
	size_t n;
	/* OPEN */
	uint32_t uid;
	int fd;
	uint64_t size;
	bool top;
	uint64_t lines;
	/* EXPUNGE */
	uint32_t *uids;
	size_t nuids;
};

static void session_on_read(struct conn *c, void *arg);
static void session_process(struct pop3_session *s);

/* --- maildrop locks (RFC 1939 §4), loop thread only ---------------------- */

static bool
lock_take(struct pop3_server *srv, const char *user)
{
	for (struct pop3_lock *l = srv->locks; l != NULL; l = l->next)
		if (strcmp(l->user, user) == 0)
			return false;
	struct pop3_lock *l = xcalloc(1, sizeof(*l));

	l->user = xstrdup(user);
	l->next = srv->locks;
	srv->locks = l;
	return true;
}

static void
lock_release(struct pop3_server *srv, const char *user)
{
	for (struct pop3_lock **lp = &srv->locks; *lp != NULL; lp = &(*lp)->next) {
		if (strcmp((*lp)->user, user) == 0) {
			struct pop3_lock *l = *lp;

			*lp = l->next;
			free(l->user);
			free(l);
			return;
		}
	}
}

/* --- session lifetime ---------------------------------------------------- */

/* POP3 shows the maildrop as it was at login: changes are for the next
 * session */
static void
watch_cb(void *arg)
{
	(void)arg;
}

/* the maildrop is moving to another node (cluster/migrate): end the
 * session without the UPDATE state (nothing is deleted, RFC 1939 §6); the
 * client reconnects and reaches the new home */
static void
kick_cb(void *arg)
{
	struct pop3_session *s = arg;

	if (s->gone || s->c == NULL || conn_is_closing(s->c))
		return;
	log_info(POP3_SVC, "cid=%s event=kick user=%s reason=\"maildrop moving\"", conn_id(s->c),
	    s->login ? s->login : "-");
	conn_close(s->c);
}

static void
session_free_now(struct pop3_session *s)
{
	mailbox_events_unwatch(&s->watch);
	if (s->locked)
		lock_release(s->srv, s->login);
	if (s->fd >= 0)
		close(s->fd);
	pop3_parser_fini(&s->parser);
	free(s->user);
	free(s->login);
	free(s->home);
	free(s->peer_ip);
	free(s->msgs);
	free(s->chunk);
	free(s->chunk_out);
	free(s);
}

static void
delay_close_cb(uv_handle_t *h)
{
	session_free_now(h->data);
}

static void
session_unref(struct pop3_session *s)
{
	if (--s->refs > 0)
		return;
	if (s->delay_init)
		uv_close((uv_handle_t *)&s->delay, delay_close_cb);
	else
		session_free_now(s);
}

static void reply(struct pop3_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
reply(struct pop3_session *s, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	(void)conn_write(s->c, line, (size_t)n);
}

/* A client error: answer it, and close at the limit (SPEC §10). */
static void
client_error(struct pop3_session *s, const char *text)
{
	s->errors++;
	if (s->errors >= s->srv->cfg.max_errors) {
		reply(s, "-ERR %s", text);
		reply(s, "-ERR too many errors, closing connection");
		log_info(POP3_SVC, "cid=%s event=close reason=too_many_errors", conn_id(s->c));
		conn_close(s->c);
		return;
	}
	reply(s, "-ERR %s", text);
}

static void
begin_busy(struct pop3_session *s)
{
	s->busy = true;
	conn_pause(s->c);
}

static void
end_busy(struct pop3_session *s)
{
	s->busy = false;
	if (!s->gone && !conn_is_closing(s->c))
		conn_resume(s->c);
}

/* --- thread-pool jobs ---------------------------------------------------- */

static void
job_work_cb(uv_work_t *req)
{
	struct pop3_job *j = req->data;
	struct pop3_session *s = j->s;
	struct mailstore *ms = s->srv->ms;

	mn_err_clear(&j->err);
	switch (j->kind) {
	case POP3_JOB_AUTH:
		j->ok = password_verify(j->hash, j->password);
		break;
	case POP3_JOB_LOAD: {
		struct mailstore_folder_info fi;

		memset(&fi, 0, sizeof(fi));
		j->rc = mailstore_folder_status(ms, s->login, POP3_INBOX, &fi, &j->err);
		if (j->rc == 0) {
			j->uidvalidity = fi.uidvalidity;
			mailstore_folder_info_fini(&fi);
			j->rc = mailstore_msg_list(
			    ms, s->login, POP3_INBOX, 0, &j->list, &j->n, &j->err);
		}
		break;
	}
	case POP3_JOB_OPEN:
		j->rc = mailstore_body_open(
		    ms, s->login, POP3_INBOX, j->uid, &j->fd, &j->size, &j->err);
		break;
	case POP3_JOB_EXPUNGE:
		j->rc = mailstore_expunge(
		    ms, s->login, POP3_INBOX, j->uids, j->nuids, false, NULL, NULL, &j->err);
		break;
	}
}

static void job_done_auth(struct pop3_session *s, struct pop3_job *j);
static void job_done_load(struct pop3_session *s, struct pop3_job *j);
static void job_done_open(struct pop3_session *s, struct pop3_job *j);
static void job_done_expunge(struct pop3_session *s, struct pop3_job *j);

static void
job_free(struct pop3_job *j)
{
	if (j->password != NULL) {
		OPENSSL_cleanse(j->password, strlen(j->password));
		free(j->password);
	}
	free(j->hash);
	if (j->list != NULL)
		mailstore_msg_list_free(&j->list, j->n);
	if (j->fd >= 0)
		close(j->fd);
	free(j->uids);
	free(j);
}

static void
job_after_cb(uv_work_t *req, int status)
{
	struct pop3_job *j = req->data;
	struct pop3_session *s = j->s;

	(void)status;
	if (!s->gone) {
		switch (j->kind) {
		case POP3_JOB_AUTH:
			job_done_auth(s, j);
			break;
		case POP3_JOB_LOAD:
			job_done_load(s, j);
			break;
		case POP3_JOB_OPEN:
			job_done_open(s, j);
			break;
		case POP3_JOB_EXPUNGE:
			job_done_expunge(s, j);
			break;
		}
	}
	job_free(j);
	session_unref(s);
}

static struct pop3_job *
job_new(struct pop3_session *s, enum pop3_job_kind kind)
{
	struct pop3_job *j = xcalloc(1, sizeof(*j));

	j->s = s;
	j->kind = kind;
	j->fd = -1;
	j->req.data = j;
	return j;
}

static void
job_start(struct pop3_job *j)
{
	struct pop3_session *s = j->s;

	begin_busy(s);
	s->refs++;
	if (uv_queue_work(s->srv->loop, &j->req, job_work_cb, job_after_cb) != 0) {
		/* only fails on bad arguments: a bug */
		log_error(POP3_SVC, "cid=%s event=queue_work result=fail", conn_id(s->c));
		abort();
	}
}

/* --- AUTHORIZATION -------------------------------------------------------- */

static void
delay_cb(uv_timer_t *t)
{
	struct pop3_session *s = t->data;

	if (!s->gone) {
		reply(s, "-ERR [AUTH] invalid credentials");
		end_busy(s);
	}
	session_unref(s);
}

static void
login_failed(struct pop3_session *s, const char *user, const char *why)
{
	char esc[128];

	log_info(POP3_SVC, "cid=%s event=login user=\"%s\" result=fail reason=%s", conn_id(s->c),
	    log_escape(esc, sizeof(esc), user, strlen(user)), why);
	s->errors++;
	if (s->errors >= s->srv->cfg.max_errors) {
		reply(s, "-ERR [AUTH] invalid credentials");
		reply(s, "-ERR too many errors, closing connection");
		conn_close(s->c);
		end_busy(s);
		return;
	}
	/* stay busy (input paused) until the delay is over: slows guessing */
	if (!s->delay_init) {
		uv_timer_init(s->srv->loop, &s->delay);
		s->delay.data = s;
		s->delay_init = true;
	}
	s->refs++;
	uv_timer_start(&s->delay, delay_cb, s->srv->cfg.auth_fail_delay_ms, 0);
}

/* Look the user up (loop thread: the directory is single-threaded), then
 * verify the password in the pool. */
static void
auth_start(struct pop3_session *s, const char *user, const char *password)
{
	struct pop3_job *j;
	struct dir_user u;
	int64_t now = (int64_t)time(NULL);
	struct limits *lim = s->srv->cfg.limits;

	free(s->login);
	s->login = NULL;
	if (lim != NULL && !limits_auth_allowed(lim, conn_peer_ip(s->c), user)) {
		char esc[128];

		/* refused without verifying the password; the client sees
		 * exactly what a wrong password gets, after the same delay */
		log_warn(POP3_SVC, "cid=%s event=auth_blocked ip=%s user=\"%s\"", conn_id(s->c),
		    conn_peer_ip(s->c), log_escape(esc, sizeof(esc), user, strlen(user)));
		free(s->user);
		s->user = NULL;
		begin_busy(s);
		login_failed(s, user, "blocked");
		return;
	}
	j = job_new(s, POP3_JOB_AUTH);
	memset(&u, 0, sizeof(u));
	if (directory_user_get(s->srv->dir, user, &u) == 0) {
		j->hash = xstrdup(u.password_hash ? u.password_hash : "*");
		/* disabled or expired accounts fail like a wrong password */
		if ((u.flags & DIR_USER_DISABLED) == 0 && (u.expires_at == 0 || u.expires_at > now))
			s->login = xstrdup(u.address);
		s->readonly = (u.flags & DIR_USER_READONLY) != 0;
		free(s->home);
		s->home = u.home_node != NULL ? xstrdup(u.home_node) : NULL;
		dir_user_fini(&u);
	}
	if (j->hash == NULL)
		j->hash = xstrdup(s->srv->dummy_hash);
	free(s->user);
	s->user = xstrdup(user);
	j->password = xstrdup(password);
	job_start(j);
}

/* --- proxy (the reached node) ---------------------------------------------- */

static void
proxy_relay_done(void *arg)
{
	struct pop3_session *s = arg;

	s->gone = true;
	if (s->counted)
		limits_conn_closed(s->srv->cfg.limits, LIMITS_POP3, s->peer_ip);
	session_unref(s); /* the conn's */
}

static void
proxy_opened(struct conn *home, int status, const char *error, void *arg)
{
	struct pop3_session *s = arg;

	(void)error;
	s->popen = NULL;
	if (status != 0) {
		/* still in AUTHORIZATION: QUIT, or another try */
		if (status == PROXY_EBUSY)
			reply(s, "-ERR [IN-USE] maildrop already locked");
		else
			reply(s, "-ERR [SYS/TEMP] the server holding this maildrop is "
			         "unavailable, try again later");
		free(s->login);
		s->login = NULL;
		free(s->user);
		s->user = NULL;
		end_busy(s);
		session_unref(s); /* the opening's */
		return;
	}
	/* the home node answers the +OK; busy for good: the relay reads */
	s->peer_ip = xstrdup(conn_peer_ip(s->c));
	proxy_relay_start(s->c, home, PROXY_POP3, s->login, s->home,
	    s->srv->cfg.idle_timeout_ms + 60 * 1000, proxy_relay_done, s);
	session_unref(s); /* the opening's; the conn's stays with the relay */
}

/* the password was right and the user lives on s->home */
static void
proxy_begin(struct pop3_session *s)
{
	int rc;

	if (s->srv->cfg.limits != NULL)
		limits_auth_ok(s->srv->cfg.limits, conn_peer_ip(s->c), s->user);
	log_info(POP3_SVC, "cid=%s event=login user=%s result=ok home=%s tls=%s", conn_id(s->c),
	    s->login, s->home, conn_is_tls(s->c) ? "yes" : "no");
	s->refs++;
	rc = proxy_open(s->srv->cfg.proxy, PROXY_POP3, s->home, s->login, conn_peer_ip(s->c), NULL,
	    proxy_opened, s, &s->popen);
	if (rc != 0)
		proxy_opened(NULL, rc, mn_strerror(rc), s);
}

static void
job_done_auth(struct pop3_session *s, struct pop3_job *j)
{
	struct pop3_job *load;

	if (!j->ok || s->login == NULL) {
		if (s->srv->cfg.limits != NULL)
			limits_auth_failed(s->srv->cfg.limits, conn_peer_ip(s->c), s->user);
		login_failed(s, s->user, j->ok ? "disabled" : "credentials");
		free(s->login);
		s->login = NULL;
		free(s->user); /* RFC 1939 §7: a new USER starts the next try */
		s->user = NULL;
		return;
	}
	if (proxy_home_elsewhere(s->srv->cfg.proxy, s->home)) {
		proxy_begin(s);
		return;
	}
	{
		struct dir_user u;
		bool held = false;

		if (directory_user_get(s->srv->dir, s->login, &u) == 0) {
			held = directory_user_held(&u);
			dir_user_fini(&u);
		}
		if (held) {
			/* being copied to another node (cluster/migrate) */
			log_info(POP3_SVC, "cid=%s event=login user=%s result=held", conn_id(s->c),
			    s->login);
			reply(s, "-ERR [SYS/TEMP] maildrop is moving to another server, try again "
			         "in a moment");
			free(s->login);
			s->login = NULL;
			free(s->user);
			s->user = NULL;
			end_busy(s);
			return;
		}
	}
	if (!lock_take(s->srv, s->login)) {
		log_info(
		    POP3_SVC, "cid=%s event=login user=%s result=in_use", conn_id(s->c), s->login);
		reply(s, "-ERR [IN-USE] maildrop already locked");
		free(s->login);
		s->login = NULL;
		free(s->user);
		s->user = NULL;
		end_busy(s);
		return;
	}
	s->locked = true;
	if (s->srv->cfg.limits != NULL)
		limits_auth_ok(s->srv->cfg.limits, conn_peer_ip(s->c), s->user);
	/* still busy: the snapshot is taken before the next command runs */
	load = job_new(s, POP3_JOB_LOAD);
	job_start(load);
}

static void
job_done_load(struct pop3_session *s, struct pop3_job *j)
{
	uint64_t total = 0;

	if (j->rc != 0) {
		log_error(POP3_SVC, "cid=%s event=maildrop user=%s result=fail reason=\"%s\"",
		    conn_id(s->c), s->login, j->err.msg);
		reply(s, "-ERR [SYS/TEMP] cannot open the maildrop, try again later");
		lock_release(s->srv, s->login);
		s->locked = false;
		free(s->login);
		s->login = NULL;
		end_busy(s);
		return;
	}
	s->uidvalidity = j->uidvalidity;
	s->msgs = xcalloc(j->n ? j->n : 1, sizeof(*s->msgs));
	s->nmsgs = j->n;
	for (size_t i = 0; i < j->n; i++) {
		s->msgs[i].uid = j->list[i].uid;
		s->msgs[i].size = j->list[i].size;
		total += j->list[i].size;
	}
	s->state = POP3_STATE_TRANSACTION;
	free(s->user);
	s->user = NULL;
	s->watch = mailbox_events_watch(s->login, watch_cb, s);
	mailbox_events_set_kick(s->watch, kick_cb);
	log_info(POP3_SVC, "cid=%s event=login user=%s result=ok messages=%zu tls=%s",
	    conn_id(s->c), s->login, s->nmsgs, conn_is_tls(s->c) ? "yes" : "no");
	reply(
	    s, "+OK maildrop has %zu messages (%llu octets)", s->nmsgs, (unsigned long long)total);
	end_busy(s);
}

static bool
plaintext_ok(struct pop3_session *s)
{
	return pop3_plaintext_allowed(conn_is_tls(s->c), conn_is_loopback(s->c));
}

static bool
stls_ok(struct pop3_session *s)
{
	return s->srv->cfg.tls != NULL && !s->tls_port && !conn_is_tls(s->c) &&
	       s->state == POP3_STATE_AUTHORIZATION;
}

static void
cmd_capa(struct pop3_session *s)
{
	struct buf b;

	buf_init(&b, 1024);
	pop3_capa_render(&b, plaintext_ok(s) && s->state == POP3_STATE_AUTHORIZATION, stls_ok(s));
	(void)conn_write(s->c, b.data, b.len);
	buf_fini(&b);
}

static bool
refuse_plaintext(struct pop3_session *s)
{
	if (plaintext_ok(s))
		return false;
	client_error(s, "[SYS/PERM] plaintext authentication requires TLS, use STLS first");
	return true;
}

static void
cmd_user(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (refuse_plaintext(s))
		return;
	if (cmd->nargs != 1 || cmd->args[0].len > DIR_MAX_ADDRESS) {
		client_error(s, "usage: USER name");
		return;
	}
	free(s->user);
	s->user = slice_dup(cmd->args[0]);
	reply(s, "+OK send PASS");
}

static void
cmd_pass(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	char *pw;

	if (refuse_plaintext(s))
		return;
	if (s->user == NULL) {
		client_error(s, "send USER first");
		return;
	}
	if (cmd->nargs != 1 || cmd->args[0].len > POP3_MAX_PASSWORD) {
		client_error(s, "usage: PASS password");
		return;
	}
	pw = slice_dup(cmd->args[0]);
	pop3_parser_wipe(&s->parser);
	{
		char *user = s->user;

		s->user = NULL;
		auth_start(s, user, pw);
		free(user);
	}
	OPENSSL_cleanse(pw, strlen(pw));
	free(pw);
}

static void
sasl_plain(struct pop3_session *s, const char *b64, size_t len)
{
	char authcid[POP3_MAX_AUTHCID + 1], pw[POP3_MAX_PASSWORD + 1];
	int rc;

	if (len == 1 && b64[0] == '=') /* RFC 5034 §4: empty initial response */
		len = 0;
	rc = pop3_sasl_plain_decode(b64, len, authcid, pw);
	pop3_parser_wipe(&s->parser);
	if (rc == MN_EPERM) {
		client_error(s, "[AUTH] authorization identity not allowed");
	} else if (rc != 0) {
		client_error(s, "malformed SASL PLAIN response");
	} else {
		auth_start(s, authcid, pw);
	}
	OPENSSL_cleanse(pw, sizeof(pw));
}

static void
cmd_auth(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (cmd->nargs == 0) {
		/* the mechanism list some clients ask for (as Dovecot answers) */
		(void)conn_printf(s->c, "+OK\r\n%s.\r\n", plaintext_ok(s) ? "PLAIN\r\n" : "");
		return;
	}
	if (!slice_eq_nocase(cmd->args[0], "PLAIN")) {
		client_error(s, "unsupported authentication mechanism");
		return;
	}
	if (refuse_plaintext(s))
		return;
	if (cmd->nargs == 2) {
		sasl_plain(s, cmd->args[1].ptr, cmd->args[1].len);
		return;
	}
	s->sasl_wait = true;
	pop3_parser_set_raw(&s->parser, true);
	(void)conn_write(s->c, "+ \r\n", 4);
}

static void
sasl_continue(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	s->sasl_wait = false;
	pop3_parser_set_raw(&s->parser, false);
	if (cmd->line.len == 1 && cmd->line.ptr[0] == '*') {
		client_error(s, "authentication cancelled");
		return;
	}
	sasl_plain(s, cmd->line.ptr, cmd->line.len);
}

static void
cmd_stls(struct pop3_session *s)
{
	if (!stls_ok(s)) {
		client_error(s, conn_is_tls(s->c) ? "already using TLS" : "STLS not available");
		return;
	}
	reply(s, "+OK Begin TLS negotiation");
	/* RFC 2595 §4: forget anything from the plaintext phase */
	free(s->user);
	s->user = NULL;
	pop3_parser_reset(&s->parser);
	if (conn_starttls(s->c, s->srv->cfg.tls) != 0)
		conn_abort(s->c);
}

/* --- TRANSACTION ---------------------------------------------------------- */

static void
maildrop_totals(struct pop3_session *s, size_t *n_out, uint64_t *bytes_out)
{
	*n_out = 0;
	*bytes_out = 0;
	for (size_t i = 0; i < s->nmsgs; i++) {
		if (s->msgs[i].deleted)
			continue;
		(*n_out)++;
		*bytes_out += s->msgs[i].size;
	}
}

/* a message argument: number in range and not deleted; else answer */
static bool
msg_arg(struct pop3_session *s, struct slice arg, size_t *idx)
{
	if (pop3_msgnum(arg, s->nmsgs, idx) != 0) {
		client_error(s, "no such message");
		return false;
	}
	if (s->msgs[*idx].deleted) {
		client_error(s, "message already deleted");
		return false;
	}
	return true;
}

static void
cmd_stat(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	size_t n;
	uint64_t bytes;

	if (cmd->nargs != 0) {
		client_error(s, "usage: STAT");
		return;
	}
	maildrop_totals(s, &n, &bytes);
	reply(s, "+OK %zu %llu", n, (unsigned long long)bytes);
}

static void
cmd_list_or_uidl(struct pop3_session *s, const struct pop3_cmd *cmd, bool uidl)
{
	struct buf b;
	size_t idx, n;
	uint64_t bytes;

	if (cmd->nargs == 1) {
		if (!msg_arg(s, cmd->args[0], &idx))
			return;
		if (uidl)
			reply(s, "+OK %zu %u.%u", idx + 1, s->uidvalidity, s->msgs[idx].uid);
		else
			reply(s, "+OK %zu %llu", idx + 1, (unsigned long long)s->msgs[idx].size);
		return;
	}
	if (cmd->nargs > 1) {
		client_error(s, uidl ? "usage: UIDL [msg]" : "usage: LIST [msg]");
		return;
	}
	maildrop_totals(s, &n, &bytes);
	buf_init(&b, 0); /* unbounded: one short line per message of the snapshot */
	if (uidl)
		buf_printf(&b, "+OK unique-id listing follows\r\n");
	else
		buf_printf(&b, "+OK %zu messages (%llu octets)\r\n", n, (unsigned long long)bytes);
	for (size_t i = 0; i < s->nmsgs; i++) {
		if (s->msgs[i].deleted)
			continue;
		if (uidl)
			buf_printf(&b, "%zu %u.%u\r\n", i + 1, s->uidvalidity, s->msgs[i].uid);
		else
			buf_printf(&b, "%zu %llu\r\n", i + 1, (unsigned long long)s->msgs[i].size);
	}
	buf_append_str(&b, ".\r\n");
	(void)conn_write(s->c, b.data, b.len);
	buf_fini(&b);
}

static void
stream_pump(struct pop3_session *s)
{
	if (s->fd >= 0 && conn_is_closing(s->c)) {
		/* shutdown or abort: writes are refused now, stop reading */
		close(s->fd);
		s->fd = -1;
		return;
	}
	while (s->fd >= 0 && conn_pending_output(s->c) < POP3_STREAM_HIGH) {
		ssize_t got = pread(s->fd, s->chunk, POP3_STREAM_CHUNK, (off_t)s->offset);
		size_t outlen = 0, used;

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			/* the +OK is out: all we can do is drop the connection */
			log_error(POP3_SVC, "cid=%s event=retr user=%s result=fail reason=\"%s\"",
			    conn_id(s->c), s->login, strerror(errno));
			conn_abort(s->c);
			return;
		}
		if (got > 0) {
			used =
			    pop3_stuffer_feed(&s->st, s->chunk, (size_t)got, s->chunk_out, &outlen);
			s->offset += used;
			(void)conn_write(s->c, s->chunk_out, outlen);
		}
		if (got == 0 || s->st.done) {
			outlen = pop3_stuffer_finish(&s->st, s->chunk_out);
			(void)conn_write(s->c, s->chunk_out, outlen);
			close(s->fd);
			s->fd = -1;
			free(s->chunk);
			free(s->chunk_out);
			s->chunk = s->chunk_out = NULL;
			end_busy(s);
			return;
		}
	}
}

static void
cmd_retr_or_top(struct pop3_session *s, const struct pop3_cmd *cmd, bool top)
{
	struct pop3_job *j;
	size_t idx;
	uint64_t lines = 0;

	if (cmd->nargs != (top ? 2u : 1u)) {
		client_error(s, top ? "usage: TOP msg lines" : "usage: RETR msg");
		return;
	}
	if (!msg_arg(s, cmd->args[0], &idx))
		return;
	if (top) {
		char num[24];

		if (cmd->args[1].len >= sizeof(num)) {
			client_error(s, "invalid number of lines");
			return;
		}
		memcpy(num, cmd->args[1].ptr, cmd->args[1].len);
		num[cmd->args[1].len] = '\0';
		if (num[0] < '0' || num[0] > '9' || parse_u64(num, 0, UINT64_MAX, &lines) != 0) {
			client_error(s, "invalid number of lines");
			return;
		}
	}
	j = job_new(s, POP3_JOB_OPEN);
	j->uid = s->msgs[idx].uid;
	j->top = top;
	j->lines = lines;
	j->size = s->msgs[idx].size;
	job_start(j);
}

static void
job_done_open(struct pop3_session *s, struct pop3_job *j)
{
	if (j->rc != 0) {
		/* e.g. expunged by IMAP meanwhile: the snapshot cannot serve it */
		log_warn(POP3_SVC, "cid=%s event=retr user=%s uid=%u result=fail reason=\"%s\"",
		    conn_id(s->c), s->login, j->uid, j->err.msg);
		reply(s, j->rc == MN_ENOENT ? "-ERR message no longer available"
		                            : "-ERR [SYS/TEMP] cannot read the message");
		end_busy(s);
		return;
	}
	if (j->top)
		reply(s, "+OK top of message follows");
	else
		reply(s, "+OK %llu octets", (unsigned long long)j->size);
	s->fd = j->fd;
	j->fd = -1;
	s->offset = 0;
	pop3_stuffer_init(&s->st, j->top, j->lines);
	s->chunk = xmalloc(POP3_STREAM_CHUNK);
	s->chunk_out = xmalloc(2 * POP3_STREAM_CHUNK + 8);
	stream_pump(s); /* stays busy until the terminator is queued */
}

static void
cmd_dele(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	size_t idx;

	if (cmd->nargs != 1) {
		client_error(s, "usage: DELE msg");
		return;
	}
	if (!msg_arg(s, cmd->args[0], &idx))
		return;
	if (s->readonly) {
		client_error(s, "[SYS/PERM] mailbox is read-only");
		return;
	}
	s->msgs[idx].deleted = true;
	reply(s, "+OK message %zu deleted", idx + 1);
}

static void
cmd_rset(struct pop3_session *s)
{
	size_t n;
	uint64_t bytes;

	for (size_t i = 0; i < s->nmsgs; i++)
		s->msgs[i].deleted = false;
	maildrop_totals(s, &n, &bytes);
	reply(s, "+OK maildrop has %zu messages (%llu octets)", n, (unsigned long long)bytes);
}

static void
quit_reply(struct pop3_session *s, bool ok)
{
	size_t n;
	uint64_t bytes;

	maildrop_totals(s, &n, &bytes);
	if (ok)
		reply(s, "+OK mailnode POP3 server signing off (%zu messages left)", n);
	else
		reply(s, "-ERR [SYS/TEMP] some deleted messages not removed");
	conn_close(s->c);
}

static void
cmd_quit(struct pop3_session *s)
{
	struct pop3_job *j;
	size_t nd = 0;

	if (s->state != POP3_STATE_TRANSACTION) {
		reply(s, "+OK mailnode POP3 server signing off");
		conn_close(s->c);
		return;
	}
	s->state = POP3_STATE_UPDATE;
	for (size_t i = 0; i < s->nmsgs; i++)
		nd += s->msgs[i].deleted;
	if (nd == 0) {
		quit_reply(s, true);
		return;
	}
	j = job_new(s, POP3_JOB_EXPUNGE);
	j->uids = xcalloc(nd, sizeof(*j->uids));
	for (size_t i = 0; i < s->nmsgs; i++)
		if (s->msgs[i].deleted)
			j->uids[j->nuids++] = s->msgs[i].uid;
	job_start(j);
}

static void
job_done_expunge(struct pop3_session *s, struct pop3_job *j)
{
	if (j->rc != 0)
		log_error(POP3_SVC, "cid=%s event=expunge user=%s result=fail reason=\"%s\"",
		    conn_id(s->c), s->login, j->err.msg);
	else
		log_info(POP3_SVC, "cid=%s event=expunge user=%s messages=%zu", conn_id(s->c),
		    s->login, j->nuids);
	quit_reply(s, j->rc == 0);
	s->busy = false; /* closing: nothing more to read */
}

/* --- dispatch ------------------------------------------------------------- */

static void
dispatch(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	const char *k = cmd->keyword;
	bool auth = s->state == POP3_STATE_AUTHORIZATION;

	if (strcmp(k, "QUIT") == 0)
		cmd_quit(s);
	else if (strcmp(k, "CAPA") == 0)
		cmd_capa(s);
	else if (strcmp(k, "NOOP") == 0)
		reply(s, "+OK");
	else if (auth && strcmp(k, "USER") == 0)
		cmd_user(s, cmd);
	else if (auth && strcmp(k, "PASS") == 0)
		cmd_pass(s, cmd);
	else if (auth && strcmp(k, "AUTH") == 0)
		cmd_auth(s, cmd);
	else if (auth && strcmp(k, "STLS") == 0)
		cmd_stls(s);
	else if (!auth && strcmp(k, "STAT") == 0)
		cmd_stat(s, cmd);
	else if (!auth && strcmp(k, "LIST") == 0)
		cmd_list_or_uidl(s, cmd, false);
	else if (!auth && strcmp(k, "UIDL") == 0)
		cmd_list_or_uidl(s, cmd, true);
	else if (!auth && strcmp(k, "RETR") == 0)
		cmd_retr_or_top(s, cmd, false);
	else if (!auth && strcmp(k, "TOP") == 0)
		cmd_retr_or_top(s, cmd, true);
	else if (!auth && strcmp(k, "DELE") == 0)
		cmd_dele(s, cmd);
	else if (!auth && strcmp(k, "RSET") == 0)
		cmd_rset(s);
	else if (strcmp(k, "USER") == 0 || strcmp(k, "PASS") == 0 || strcmp(k, "AUTH") == 0 ||
	         strcmp(k, "STLS") == 0 || strcmp(k, "APOP") == 0 || strcmp(k, "STAT") == 0 ||
	         strcmp(k, "LIST") == 0 || strcmp(k, "UIDL") == 0 || strcmp(k, "RETR") == 0 ||
	         strcmp(k, "TOP") == 0 || strcmp(k, "DELE") == 0 || strcmp(k, "RSET") == 0)
		client_error(s, strcmp(k, "APOP") == 0 ? "APOP not supported"
		                                       : "command not valid in this state");
	else
		client_error(s, "unknown command");
}

/* Parse and run commands from the input until it is empty, a command went
 * asynchronous, or the connection is closing. */
static void
session_process(struct pop3_session *s)
{
	struct buf *in = conn_input(s->c);

	while (in->len > 0 && !s->busy && !conn_is_closing(s->c)) {
		struct pop3_cmd cmd;
		const char *reason;
		size_t used;
		enum pop3_parse_result r;

		r = pop3_parser_feed(&s->parser, in->data, in->len, &used, &cmd, &reason);
		buf_consume(in, used);
		if (r == POP3_PARSE_MORE)
			break;
		if (r == POP3_PARSE_BAD) {
			if (s->sasl_wait) {
				s->sasl_wait = false;
				pop3_parser_set_raw(&s->parser, false);
			}
			client_error(s, reason);
			continue;
		}
		if (s->sasl_wait)
			sasl_continue(s, &cmd);
		else
			dispatch(s, &cmd);
	}
}

static void
session_on_read(struct conn *c, void *arg)
{
	struct pop3_session *s = arg;

	(void)c;
	if (!s->busy)
		session_process(s);
}

static void
session_on_drain(struct conn *c, void *arg)
{
	struct pop3_session *s = arg;

	(void)c;
	if (s->fd >= 0)
		stream_pump(s);
}

static void
session_on_tls(struct conn *c, void *arg, int status)
{
	struct pop3_session *s = arg;

	(void)s;
	if (status != 0)
		log_info(POP3_SVC, "cid=%s event=tls result=fail", conn_id(c));
}

static bool
session_on_timeout(struct conn *c, void *arg)
{
	(void)arg;
	/* RFC 1939 §3: autologout, no UPDATE state */
	(void)conn_write(c, "-ERR autologout timer expired\r\n", 31);
	conn_close(c);
	return true;
}

static void
session_on_close(struct conn *c, void *arg, int reason)
{
	struct pop3_session *s = arg;

	(void)c;
	log_debug(
	    POP3_SVC, "cid=%s event=close reason=%d state=%d", conn_id(c), reason, (int)s->state);
	s->gone = true;
	mailbox_events_unwatch(&s->watch);
	if (s->popen != NULL) {
		/* gone while its home session was opening: drop the opening's
		 * reference (never the last: the conn's is still held) */
		proxy_open_cancel(s->popen);
		s->popen = NULL;
		s->refs--;
	}
	if (s->counted)
		limits_conn_closed(s->srv->cfg.limits, LIMITS_POP3, conn_peer_ip(c));
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	if (s->delay_init && uv_is_active((uv_handle_t *)&s->delay)) {
		uv_timer_stop(&s->delay);
		/* the stopped timer's reference: never the last one, the conn's
		 * is still held here, so drop it without the free path */
		s->refs--;
	}
	session_unref(s); /* the conn's */
}

static const struct conn_handler pop3_handler = {
    .on_read = session_on_read,
    .on_close = session_on_close,
    .on_drain = session_on_drain,
    .on_tls = session_on_tls,
    .on_timeout = session_on_timeout,
};

/* A connection refused by the per-IP limits: no session, just the line. */
static void
refused_on_close(struct conn *c, void *arg, int reason)
{
	(void)c;
	(void)arg;
	(void)reason;
}

static const struct conn_handler pop3_refused_handler = {
    .on_close = refused_on_close,
};

/* a session in AUTHORIZATION on c, no greeting yet */
static struct pop3_session *
session_new(struct pop3_server *srv, struct conn *c, bool tls_port)
{
	struct pop3_session *s = xcalloc(1, sizeof(*s));

	s->srv = srv;
	s->c = c;
	s->refs = 1;
	s->fd = -1;
	s->tls_port = tls_port;
	pop3_parser_init(&s->parser, NULL);
	conn_set_input_max(c, POP3_INPUT_MAX);
	conn_set_handler(c, &pop3_handler, s);
	return s;
}

void
pop3_server_adopt(struct pop3_server *srv, struct rpc_stream *st, const struct proxy_request *req)
{
	struct pop3_session *s;
	struct dir_user u;
	struct conn *c;
	int64_t now = (int64_t)time(NULL);

	memset(&u, 0, sizeof(u));
	if (directory_user_get(srv->dir, req->user, &u) != 0) {
		rpc_stream_refuse(st, MN_ENOENT, "no such user");
		return;
	}
	if ((u.flags & DIR_USER_DISABLED) != 0 || (u.expires_at != 0 && u.expires_at <= now)) {
		rpc_stream_refuse(st, MN_EPERM, "account disabled");
		dir_user_fini(&u);
		return;
	}
	if (!lock_take(srv, u.address)) {
		log_info(POP3_SVC, "event=login user=%s result=in_use proxied_from=%s", u.address,
		    req->peer);
		rpc_stream_refuse(st, PROXY_EBUSY, "maildrop already locked");
		dir_user_fini(&u);
		return;
	}
	c = rpc_stream_accept(st, NULL, 0);
	s = session_new(srv, c, false);
	conn_set_idle_timeout(c, srv->cfg.idle_timeout_ms);
	s->login = xstrdup(u.address);
	s->locked = true;
	s->readonly = (u.flags & DIR_USER_READONLY) != 0;
	log_info(POP3_SVC, "cid=%s event=proxied user=%s proxied_from=%s client=%s", conn_id(c),
	    s->login, req->peer, req->client_ip);
	dir_user_fini(&u);
	/* job_done_load answers +OK (or -ERR [SYS/TEMP]) like a direct login */
	job_start(job_new(s, POP3_JOB_LOAD));
}

static void
accept_common(struct conn *c, struct pop3_server *srv, bool tls_port)
{
	struct pop3_session *s;
	enum limits_verdict v = LIMITS_OK;

	if (srv->cfg.limits != NULL)
		v = limits_conn_open(srv->cfg.limits, LIMITS_POP3, conn_peer_ip(c));
	if (v != LIMITS_OK) {
		log_info(POP3_SVC, "cid=%s event=refused ip=%s reason=%s", conn_id(c),
		    conn_peer_ip(c), v == LIMITS_TOO_MANY ? "too_many_connections" : "rate");
		conn_set_handler(c, &pop3_refused_handler, NULL);
		(void)conn_write(c, "-ERR [SYS/TEMP] too many connections from your address\r\n",
		    sizeof("-ERR [SYS/TEMP] too many connections from your address\r\n") - 1);
		conn_close(c);
		return;
	}
	s = session_new(srv, c, tls_port);
	s->counted = srv->cfg.limits != NULL;
	/* RFC 1939 §4: greeting; no APOP timestamp, APOP is not offered */
	reply(s, "+OK mailnode POP3 ready");
}

static void
accept_plain_cb(struct conn *c, void *arg)
{
	accept_common(c, arg, false);
}

static void
accept_tls_cb(struct conn *c, void *arg)
{
	accept_common(c, arg, true);
}

/* --- server ---------------------------------------------------------------- */

int
pop3_server_start(uv_loop_t *loop, struct directory *dir, struct mailstore *ms,
    const struct pop3_server_config *cfg, struct pop3_server **out, struct mn_err *err)
{
	struct pop3_server *srv = xcalloc(1, sizeof(*srv));
	struct listener_config lc;
	int rc;

	*out = NULL;
	srv->loop = loop;
	srv->dir = dir;
	srv->ms = ms;
	srv->cfg = *cfg;
	if (srv->cfg.idle_timeout_ms < POP3_MIN_IDLE_TIMEOUT_MS)
		srv->cfg.idle_timeout_ms = POP3_MIN_IDLE_TIMEOUT_MS;
	if (srv->cfg.auth_fail_delay_ms == 0)
		srv->cfg.auth_fail_delay_ms = POP3_DEFAULT_AUTH_FAIL_DELAY_MS;
	if (srv->cfg.max_errors == 0)
		srv->cfg.max_errors = POP3_DEFAULT_MAX_ERRORS;
	srv->dummy_hash = password_hash("mailnode-pop3-no-such-user");
	if (srv->dummy_hash == NULL) {
		free(srv);
		return mn_err_set(err, MN_EIO, "pop3: cannot make the dummy password hash");
	}
	memset(&lc, 0, sizeof(lc));
	lc.address = cfg->address;
	lc.idle_timeout_ms = srv->cfg.idle_timeout_ms;
	if (cfg->plain_on) {
		lc.service = "pop3";
		lc.port = cfg->port;
		if ((rc = listener_start(loop, &lc, accept_plain_cb, srv, &srv->plain, err)) != 0)
			goto fail;
	}
	if (cfg->tls_on && cfg->tls != NULL) {
		lc.service = "pop3s";
		lc.port = cfg->tls_port;
		lc.tls = cfg->tls;
		if ((rc = listener_start(loop, &lc, accept_tls_cb, srv, &srv->tls, err)) != 0)
			goto fail;
	}
	*out = srv;
	return 0;
fail:
	pop3_server_stop(srv);
	pop3_server_free(&srv);
	return rc;
}

uint16_t
pop3_server_port(const struct pop3_server *s, bool tls)
{
	const struct listener *l = tls ? s->tls : s->plain;

	return l != NULL ? listener_port(l) : 0;
}

void
pop3_server_stop(struct pop3_server *s)
{
	if (s->plain != NULL)
		listener_stop(&s->plain);
	if (s->tls != NULL)
		listener_stop(&s->tls);
}

void
pop3_server_free(struct pop3_server **sp)
{
	struct pop3_server *s = *sp;

	if (s == NULL)
		return;
	while (s->locks != NULL) {
		struct pop3_lock *l = s->locks;

		s->locks = l->next;
		free(l->user);
		free(l);
	}
	free(s->dummy_hash);
	free(s);
	*sp = NULL;
}
