/*
 * server.c - SMTP sessions on struct conn (see server.h for the listeners).
 *
 * One session per connection, a state machine driven by process(): it takes
 * complete command lines (or DATA bytes) from the front of the input buffer
 * in order, so pipelined commands (RFC 2920) are handled one after another;
 * replies are collected in s->out and written in one go when the input is
 * used up or the session has to wait. A command that needs the thread pool
 * (AUTH password check, the RCPT quota check, the spool write after DATA)
 * sets s->busy; reading pauses and process() resumes from the completion.
 *
 * Errors counted against [smtp] max_errors: every 5xx reply except to RCPT
 * of a mailbox that does not exist or is refused (those are the sender's
 * business, not protocol abuse), and lines that are too long.
 *
 * A line longer than the input buffer is answered "500 5.5.2 line too long"
 * once and the rest of it is discarded up to its LF; the session goes on.
 */
#include "node/smtp/server.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "cluster/usage/usage.h"
#include "node/antispam/antispam.h"
#include "node/antispam/sendlimit.h"
#include "node/limits.h"
#include "node/smtp/data.h"
#include "node/smtp/parser.h"
#include "storage/directory/directory.h"
#include "storage/directory/password.h"
#include "storage/mailstore/mailstore.h"
#include "storage/spool/spool.h"

#define SMTP_INPUT_MAX (64 * 1024)
#define SMTP_AUTH_LINE_MAX 12288 /* base64 SASL response line */
#define SMTP_OUT_FLUSH (16 * 1024)
#define SMTP_AUTH_FAIL_DELAY_MS 1000

static const char RELAY_TEXT[] =
    "553 5.7.1 sorry, you don't authenticate or the domain isn't in my list of allowed "
    "rcpthosts(#5.7.1)";

struct smtp_server;

struct accept_arg {
	struct smtp_server *srv;
	enum smtp_listen_kind kind;
};

struct smtp_server {
	uv_loop_t *loop;
	struct accept_arg accept[3];
	struct smtp_server_config cfg;
	struct listener *l[3];
	size_t sessions;
	bool stopped;
};

enum auth_step { AUTH_NONE = 0, AUTH_PLAIN_WAIT, AUTH_LOGIN_USER, AUTH_LOGIN_PASS };

enum work_kind { WORK_AUTH, WORK_QUOTA, WORK_SPOOL, WORK_SPF };

struct session {
	struct smtp_server *srv;
	struct conn *c;
	enum smtp_listen_kind kind;
	char sid[32];
	char ip[64];
	struct buf out;
	char *helo;
	bool esmtp;
	char *auth_user;
	unsigned errors;
	unsigned commands_before_auth;
	bool discarding; /* rest of an overlong line */
	bool busy;
	bool closed; /* on_close ran: free when the work finishes */
	bool quit;

	/* AUTH dialogue */
	enum auth_step auth_step;
	char *auth_login_user;

	/* transaction */
	bool in_mail;
	bool spf_checked; /* spf holds this transaction's SPF result */
	/* [antispam] sender_allow: no checks for this transaction */
	bool sender_allowed;
	struct spf_outcome spf;
	bool dnsbl_done; /* dnsbl holds the client's DNSBL result (per session) */
	struct dnsbl_outcome dnsbl;
	bool dbl_done; /* dbl holds the sender domain's listing (per transaction) */
	struct dnsbl_outcome dbl;
	bool host_done; /* host holds the PTR/HELO results (per session) */
	struct antispam_host host;
	struct spool_env env;
	uint64_t declared_size;
	bool in_data;
	struct smtp_data_reader rd;
	struct buf msg;

	/* one piece of thread-pool work at a time */
	uv_work_t work;
	enum work_kind wkind;
	bool limited;     /* counted by limits_conn_open */
	char *w_login;    /* AUTH: the name the client sent (limits key) */
	char *w_user;     /* AUTH/QUOTA: user address */
	char *w_hash;     /* AUTH: password hash or NULL (unknown user) */
	char *w_password; /* AUTH */
	bool w_ok;
	uint64_t w_quota_bytes, w_quota_msgs, w_used_bytes, w_used_msgs;
	char *w_rcpt; /* QUOTA: rcpt to add when fine */
	char *w_orcpt;
	unsigned w_notify;
	char *w_received;          /* SPOOL: Received: header */
	struct antispam_msg *w_as; /* SPOOL: DKIM/DMARC work before the write, or NULL */
	struct scan_job *scan;     /* content scan in flight (busy), or NULL */
	struct scan_result scan_res;
	/* recipients whose own sender lists or contacts allow this sender */
	char **allowed;
	size_t nallowed;
	char w_id2[SPOOL_ID_LEN + 1]; /* SPOOL: second copy for them, or "" */
	int w_rc;
	struct mn_err w_err;
};

static void process(struct session *s);
static bool auth_done(struct session *s, bool blocked);

/* --- output -------------------------------------------------------------- */

static void
flush(struct session *s)
{
	if (s->out.len > 0 && !s->closed) {
		conn_write(s->c, s->out.data, s->out.len);
		buf_reset(&s->out);
	}
}

static void reply(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
reply(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	buf_append(&s->out, "\r\n", 2);
	if (s->out.len >= SMTP_OUT_FLUSH)
		flush(s);
}

static void
reply_status(struct session *s, const struct smtp_status *st)
{
	reply(s, "%d %s %s", st->code, st->enhanced, st->text);
}

/* a protocol error: counts against max_errors; true when the session ends */
static bool
count_error(struct session *s)
{
	uint32_t max = s->srv->cfg.cfg->smtp_max_errors;

	if (max > 0 && ++s->errors >= max) {
		reply(s, "421 4.7.0 %s Error: too many errors", s->srv->cfg.cfg->hostname);
		log_info("smtp", "sid=%s event=disconnect reason=too_many_errors", s->sid);
		s->quit = true;
		return true;
	}
	return false;
}

/* --- transaction --------------------------------------------------------- */

static void
txn_reset(struct session *s)
{
	spool_env_fini(&s->env);
	s->in_mail = false;
	s->spf_checked = false;
	s->sender_allowed = false;
	s->dbl_done = false;
	for (size_t i = 0; i < s->nallowed; i++)
		free(s->allowed[i]);
	free(s->allowed);
	s->allowed = NULL;
	s->nallowed = 0;
	s->in_data = false;
	s->declared_size = 0;
	buf_fini(&s->msg);
}

static bool
auth_allowed(struct session *s)
{
	return conn_is_tls(s->c) || conn_is_loopback(s->c);
}

static const char *
hostname(struct session *s)
{
	return s->srv->cfg.cfg->hostname;
}

static void
do_ehlo(struct session *s, const struct smtp_cmd *cmd, bool ehlo)
{
	free(s->helo);
	s->helo = slice_dup(cmd->arg);
	s->host_done = false; /* a new name: checked again */
	s->esmtp = ehlo;
	txn_reset(s);
	if (!ehlo) {
		reply(s, "250 %s", hostname(s));
		return;
	}
	reply(s, "250-%s", hostname(s));
	reply(s, "250-PIPELINING");
	reply(s, "250-SIZE %llu", (unsigned long long)s->srv->cfg.cfg->smtp_max_message_size);
	reply(s, "250-8BITMIME");
	if (s->srv->cfg.tls != NULL && !conn_is_tls(s->c))
		reply(s, "250-STARTTLS");
	if (auth_allowed(s) && s->auth_user == NULL)
		reply(s, "250-AUTH PLAIN LOGIN");
	reply(s, "250-ENHANCEDSTATUSCODES");
	reply(s, "250-SMTPUTF8");
	reply(s, "250 DSN");
}

static char *
lower_dup(struct slice sl)
{
	char *p = slice_dup(sl);
	char *at = strrchr(p, '@');

	/* the domain is case-insensitive; the local part is the directory's
	 * business (it lower-cases too) */
	ascii_lower(at != NULL ? at : p);
	return p;
}

/* The authenticated user may send as itself or as an alias that leads to it. */
static bool
user_owns_sender(struct directory *dir, const char *user, const char *sender)
{
	char *canon = NULL;
	enum dir_addr_kind k = directory_classify(dir, sender, &canon);
	bool ok = false;

	if (canon != NULL && ascii_casecmp(canon, user) == 0)
		ok = true;
	else if (k == DIR_ADDR_ALIAS && canon != NULL) {
		struct dir_expansion e;

		if (directory_expand(dir, canon, &e) == 0)
			for (size_t i = 0; i < e.nlocal; i++)
				if (ascii_casecmp(e.local[i], user) == 0)
					ok = true;
		dir_expansion_fini(&e);
	}
	free(canon);
	return ok;
}

static bool
sender_allowed(struct session *s, const char *sender)
{
	return user_owns_sender(s->srv->cfg.dir, s->auth_user, sender);
}

static bool
need_auth(struct session *s)
{
	return s->kind != SMTP_LISTEN_MX && s->auth_user == NULL;
}

/* --- send limits (node/antispam/sendlimit.h) ------------------------------ */

/* The postmaster alert is written to the spool on the thread pool like a
 * message, then handed to the queue; the server stays allocated until it
 * is done (counted as a session). */
struct sl_alert {
	uv_work_t work;
	struct smtp_server *srv;
	struct spool_env env;
	char *text;
	int rc;
	struct mn_err err;
};

static void
sl_alert_work(uv_work_t *w)
{
	struct sl_alert *a = w->data;

	a->rc = spool_write(a->srv->cfg.spool, &a->env, NULL, 0, a->text, strlen(a->text), &a->err);
}

static void
sl_alert_done(uv_work_t *w, int status)
{
	struct sl_alert *a = w->data;
	struct smtp_server *srv = a->srv;

	(void)status;
	if (a->rc == 0) {
		log_info("smtp", "event=send_limit_alert id=%s to=<%s>", a->env.id,
		    a->env.rcpts[0].address);
		if (!srv->stopped && srv->cfg.on_queued != NULL)
			srv->cfg.on_queued(srv->cfg.arg, a->env.id);
	} else {
		log_error("smtp", "event=send_limit_alert result=fail reason=\"%s\"", a->err.msg);
	}
	spool_env_fini(&a->env);
	free(a->text);
	free(a);
	srv->sessions--;
	if (srv->stopped && srv->sessions == 0)
		free(srv);
}

static void
sl_alert_start(
    struct smtp_server *srv, const struct sendlimit_hit *h, const char *user, const char *ip)
{
	struct sl_alert *a = xcalloc(1, sizeof(*a));
	const char *host = srv->cfg.cfg->hostname;
	char *rcpt, *msgid;

	spool_new_id(srv->cfg.spool, a->env.id);
	msgid = xasprintf("%s.limit@%s", a->env.id, host);
	a->srv = srv;
	a->text = sendlimit_alert_build(h, host, user, ip, msgid, (int64_t)time(NULL), &rcpt);
	a->env.sender = xstrdup("");
	a->env.arrival = (int64_t)time(NULL);
	spool_env_add_rcpt(&a->env, rcpt, NULL, SMTP_NOTIFY_NEVER);
	free(rcpt);
	free(msgid);
	a->work.data = a;
	srv->sessions++;
	uv_queue_work(srv->loop, &a->work, sl_alert_work, sl_alert_done);
}

/* one more message (msgs 1) or rcpts more recipients from the session's
 * user: true when they fit; else the 4xx reply is sent (the windows pass,
 * so the refusal is temporary) and, once per account and window, the
 * postmaster of the user's domain gets an alert */
static bool
send_limit_ok(struct session *s, uint32_t msgs, uint32_t rcpts, const char *code)
{
	struct sendlimit_hit h;
	char what[SENDLIMIT_MAX_KEY + 96];

	if (s->auth_user == NULL || s->srv->cfg.sendlimit == NULL ||
	    sendlimit_check(s->srv->cfg.sendlimit, s->auth_user, msgs, rcpts, &h))
		return true;
	sendlimit_describe(&h, what, sizeof(what));
	reply(s, "%s Sending limit reached: %s; try again later", code, what);
	log_warn("smtp", "sid=%s event=send_limit user=%s limit=\"%s\" alert=%s", s->sid,
	    s->auth_user, what, h.alert ? "yes" : "no");
	if (h.alert)
		sl_alert_start(s->srv, &h, s->auth_user, s->ip);
	return false;
}

static void spf_work(uv_work_t *w);
static void start_work(struct session *s, enum work_kind kind, void (*fn)(uv_work_t *));

static void
do_mail(struct session *s, const struct smtp_cmd *cmd)
{
	const struct smtp_mail_params *p = &cmd->mail;
	char *sender;
	bool allowed = false;

	if (s->helo == NULL) {
		reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		count_error(s);
		return;
	}
	if (need_auth(s)) {
		reply(s, "530 5.7.0 Authentication required");
		count_error(s);
		return;
	}
	if (s->in_mail) {
		reply(s, "503 5.5.1 Error: nested MAIL command");
		count_error(s);
		return;
	}
	if (p->has_size && p->size > s->srv->cfg.cfg->smtp_max_message_size) {
		reply(s, "552 5.3.4 Message size exceeds fixed limit");
		return;
	}
	sender = cmd->path.null ? xstrdup("") : lower_dup(cmd->path.mailbox);
	if (s->auth_user != NULL && (*sender == '\0' || !sender_allowed(s, sender))) {
		reply(s, "553 5.7.1 <%s>: Sender address rejected: not owned by user %s", sender,
		    s->auth_user);
		log_info("smtp", "sid=%s event=mail result=553 user=%s", s->sid, s->auth_user);
		free(sender);
		return;
	}
	if (!send_limit_ok(s, 1, 0, "451 4.7.1")) {
		free(sender);
		return;
	}
	if (s->kind == SMTP_LISTEN_MX && s->auth_user == NULL) {
		enum antispam_list l = antispam_sender_list(s->srv->cfg.antispam, sender);

		if (l == ANTISPAM_LIST_BLOCK) {
			reply(s,
			    "554 5.7.1 <%s>: Sender address rejected: on this server's block list",
			    sender);
			log_info(
			    "smtp", "sid=%s event=mail result=554 reason=sender_block", s->sid);
			free(sender);
			return;
		}
		allowed = l == ANTISPAM_LIST_ALLOW;
	}
	memset(&s->env, 0, sizeof(s->env));
	s->env.sender = sender;
	s->env.smtputf8 = p->smtputf8;
	s->env.eightbit = p->body == SMTP_BODY_8BITMIME;
	s->env.ret = p->ret == SMTP_RET_FULL   ? SPOOL_RET_FULL
	             : p->ret == SMTP_RET_HDRS ? SPOOL_RET_HDRS
	                                       : SPOOL_RET_NONE;
	if (p->has_envid) {
		char tmp[SMTP_ENVID_MAX + 1];
		size_t n;

		if (smtp_xtext_decode(p->envid, tmp, SMTP_ENVID_MAX, &n) == 0) {
			tmp[n] = '\0';
			s->env.envid = xstrdup(tmp);
		}
	}
	s->env.auth_user = s->auth_user ? xstrdup(s->auth_user) : NULL;
	s->env.client_ip = xstrdup(s->ip);
	s->declared_size = p->has_size ? p->size : 0;
	s->sender_allowed = allowed;
	if (allowed)
		log_info("smtp", "sid=%s event=mail reason=sender_allow", s->sid);
	if (s->kind == SMTP_LISTEN_MX && s->auth_user == NULL && !allowed &&
	    (antispam_spf_enabled(s->srv->cfg.antispam) ||
	        antispam_dnsbl_enabled(s->srv->cfg.antispam) ||
	        antispam_host_enabled(s->srv->cfg.antispam) ||
	        antispam_dbl_enabled(s->srv->cfg.antispam))) {
		/* DNSBL (once per session) and SPF (RFC 7208 §2.4) at MAIL
		 * FROM; 250 or the refusal comes from spf_done */
		start_work(s, WORK_SPF, spf_work);
		return;
	}
	s->in_mail = true;
	reply(s, "250 2.1.0 Ok");
}

static void
spf_work(uv_work_t *w)
{
	struct session *s = w->data;
	struct antispam *as = s->srv->cfg.antispam;

	if (antispam_dnsbl_enabled(as) && !s->dnsbl_done) {
		antispam_dnsbl_check(as, s->ip, &s->dnsbl);
		s->dnsbl_done = true;
	}
	if (s->dnsbl_done && antispam_dnsbl_rejects(as, &s->dnsbl))
		return; /* refused anyway: no SPF queries */
	if (antispam_dbl_enabled(as)) {
		antispam_dbl_check(as, s->env.sender, &s->dbl);
		s->dbl_done = true;
		if (antispam_dnsbl_rejects(as, &s->dbl))
			return; /* refused: no more queries */
	}
	if (antispam_host_enabled(as) && !s->host_done) {
		antispam_host_check(as, s->ip, s->helo, &s->host);
		s->host_done = true;
	}
	if (antispam_spf_enabled(as))
		antispam_spf_check(as, s->ip, s->helo, s->env.sender, &s->spf);
}

static void
spf_done(struct session *s)
{
	struct antispam *as = s->srv->cfg.antispam;
	enum antispam_action act = ANTISPAM_ACCEPT;
	char line[700];

	if (s->dnsbl_done && antispam_dnsbl_rejects(as, &s->dnsbl)) {
		antispam_dnsbl_reply(&s->dnsbl, s->ip, line, sizeof(line));
		reply(s, "%s", line);
		log_info("smtp", "sid=%s event=mail result=554 reason=dnsbl zone=%s", s->sid,
		    s->dnsbl.zone);
		txn_reset(s);
		return;
	}
	if (s->dbl_done && antispam_dnsbl_rejects(as, &s->dbl)) {
		antispam_dbl_reply(&s->dbl, s->env.sender, line, sizeof(line));
		reply(s, "%s", line);
		log_info(
		    "smtp", "sid=%s event=mail result=554 reason=dbl zone=%s", s->sid, s->dbl.zone);
		txn_reset(s);
		return;
	}
	if (s->host_done && antispam_host_rejects(as, &s->host, s->ip, line, sizeof(line))) {
		reply(s, "%s", line);
		log_info("smtp", "sid=%s event=mail result=550 reason=host_check", s->sid);
		txn_reset(s);
		return;
	}
	if (!antispam_spf_enabled(as)) {
		s->in_mail = true;
		reply(s, "250 2.1.0 Ok");
		return;
	}
	act = antispam_spf_action(as, s->spf.result);
	if (act != ANTISPAM_ACCEPT) {
		antispam_spf_reply(&s->spf, s->env.sender, act, line, sizeof(line));
		reply(s, "%s", line);
		log_info("smtp", "sid=%s event=mail result=%.3s reason=spf_%s", s->sid, line,
		    spf_result_name(s->spf.result));
		txn_reset(s);
		return;
	}
	s->spf_checked = true;
	s->in_mail = true;
	reply(s, "250 2.1.0 Ok");
}

static bool
rcpt_known(struct session *s, const char *addr)
{
	for (size_t i = 0; i < s->env.nrcpts; i++)
		if (strcmp(s->env.rcpts[i].address, addr) == 0)
			return true;
	return false;
}

static void
add_rcpt(struct session *s, const char *addr, const char *orcpt, unsigned notify)
{
	if (!rcpt_known(s, addr))
		spool_env_add_rcpt(&s->env, addr, orcpt, notify);
	reply(s, "250 2.1.5 Ok");
}

static void
quota_work(uv_work_t *w)
{
	struct session *s = w->data;

	s->w_rc = mailstore_quota_usage(
	    s->srv->cfg.ms, s->w_user, &s->w_used_bytes, &s->w_used_msgs, &s->w_err);
}

static void work_done(uv_work_t *w, int status);

/* the session waits for one piece of work: replies so far go out, input
 * stops until the work's answer */
static void
begin_work(struct session *s, enum work_kind kind)
{
	s->busy = true;
	s->wkind = kind;
	s->work.data = s;
	mn_err_clear(&s->w_err);
	flush(s);
	conn_pause(s->c);
}

static void
start_work(struct session *s, enum work_kind kind, void (*fn)(uv_work_t *))
{
	begin_work(s, kind);
	uv_queue_work(s->srv->loop, &s->work, fn, work_done);
}

static void
quota_done(struct session *s)
{
	bool full = false;

	if (s->w_rc == MN_ENOENT || s->w_rc == 0) {
		/* no mailbox yet: nothing used */
		if (s->w_rc != 0)
			s->w_used_bytes = s->w_used_msgs = 0;
		if (s->w_quota_bytes > 0 && s->w_used_bytes + s->declared_size >= s->w_quota_bytes)
			full = true;
		if (s->w_quota_msgs > 0 && s->w_used_msgs >= s->w_quota_msgs)
			full = true;
	} else {
		log_warn("smtp", "sid=%s event=quota_check user=%s reason=\"%s\"", s->sid,
		    s->w_user, s->w_err.msg);
	}
	if (full) {
		reply(s, "552 5.2.2 <%s>: Recipient address rejected: mailbox full", s->w_rcpt);
		log_info("smtp", "sid=%s event=rcpt to=%s result=552", s->sid, s->w_user);
	} else if (!s->in_mail) {
		reply(s, "503 5.5.1 Error: need MAIL command");
	} else {
		add_rcpt(s, s->w_user, s->w_orcpt, s->w_notify);
	}
	free(s->w_user);
	free(s->w_rcpt);
	free(s->w_orcpt);
	s->w_user = s->w_rcpt = s->w_orcpt = NULL;
}

/* where the sender stands with recipient canon (a user, or an alias that
 * leads to exactly one user and nowhere else; other aliases and groups
 * have no lists of their own) */
static enum antispam_list
rcpt_list(struct session *s, enum dir_addr_kind k, const char *canon)
{
	struct dir_expansion e;
	enum antispam_list l = ANTISPAM_LIST_NONE;

	if (k == DIR_ADDR_USER)
		return antispam_rcpt_list(s->srv->cfg.antispam, canon, s->env.sender);
	memset(&e, 0, sizeof(e));
	if (directory_expand(s->srv->cfg.dir, canon, &e) == 0 && e.nlocal == 1 && e.nexternal == 0)
		l = antispam_rcpt_list(s->srv->cfg.antispam, e.local[0], s->env.sender);
	dir_expansion_fini(&e);
	return l;
}

/* the usage of a user homed on another node, from that node: the same
 * verdict as quota_done's; a home that does not answer in time leaves the
 * message accepted (the home checks again when it is handed over) */
static void
remote_quota_cb(const struct usage_result *res, size_t n, void *arg)
{
	struct session *s = arg;

	(void)n;
	s->w_rc = res[0].status;
	s->w_used_bytes = res[0].used_bytes;
	s->w_used_msgs = res[0].used_messages;
	if (s->w_rc != 0) {
		/* not "no mailbox": quota_done logs it and accepts unchecked */
		snprintf(s->w_err.msg, sizeof(s->w_err.msg), "home node: %s", mn_strerror(s->w_rc));
		s->w_rc = MN_ETEMP;
	}
	work_done(&s->work, 0);
}

static void
remote_quota_start(struct session *s, const char *home)
{
	const char *user = s->w_user;

	begin_work(s, WORK_QUOTA);
	/* 0 unless n == 0: the callback always comes, from the loop */
	(void)usage_get(
	    s->srv->cfg.usage, home, &user, 1, USAGE_RCPT_TIMEOUT_MS, remote_quota_cb, s);
}

static void
do_rcpt(struct session *s, const struct smtp_cmd *cmd)
{
	const struct mn_config *cfg = s->srv->cfg.cfg;
	char *addr, *canon = NULL, *orcpt = NULL;
	enum dir_addr_kind k;
	struct dir_user u;
	bool rcpt_allowed = false;

	if (!s->in_mail) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		count_error(s);
		return;
	}
	if (cfg->smtp_max_recipients > 0 && s->env.nrcpts >= cfg->smtp_max_recipients) {
		reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	if (!send_limit_ok(s, 0, (uint32_t)s->env.nrcpts + 1, "452 4.7.1"))
		return;
	if (cmd->path.postmaster) {
		/* RFC 5321 §4.1.1.3: bare Postmaster is ours. XXX: it is mapped
		 * to postmaster@HOSTNAME, which is refused unless the hostname
		 * is a local domain with that address; RFC 5321 §4.5.1 wants
		 * it always accepted (needs a configured postmaster) */
		addr = xasprintf("postmaster@%s", hostname(s));
	} else {
		addr = lower_dup(cmd->path.mailbox);
	}
	if (cmd->rcpt.has_orcpt) {
		/* kept as received, "addr-type;xtext" (RFC 3461 §4.2): relayed as
		 * is, decoded only for the report */
		char *type = slice_dup(cmd->rcpt.orcpt_type), *xt = slice_dup(cmd->rcpt.orcpt_addr);

		orcpt = xasprintf("%s;%s", type, xt);
		free(type);
		free(xt);
	}
	k = directory_classify(s->srv->cfg.dir, addr, &canon);
	if ((k == DIR_ADDR_USER || k == DIR_ADDR_ALIAS) && s->kind == SMTP_LISTEN_MX &&
	    s->auth_user == NULL && s->srv->cfg.antispam != NULL) {
		/* the recipient's own lists (node/antispam: per-user and
		 * per-domain preferences, contacts); an alias of one user
		 * has that user's */
		switch (rcpt_list(s, k, canon)) {
		case ANTISPAM_LIST_BLOCK:
			reply(s,
			    "550 5.7.1 <%s>: Recipient address rejected: the recipient does not "
			    "accept mail from <%s>",
			    addr, s->env.sender);
			log_info("smtp", "sid=%s event=rcpt result=550 reason=rcpt_sender_block",
			    s->sid);
			free(orcpt);
			free(canon);
			free(addr);
			return;
		case ANTISPAM_LIST_ALLOW:
			rcpt_allowed = true;
			s->allowed = xrealloc(s->allowed, (s->nallowed + 1) * sizeof(*s->allowed));
			s->allowed[s->nallowed++] = xstrdup(canon);
			log_info("smtp", "sid=%s event=rcpt reason=rcpt_sender_allow", s->sid);
			break;
		default:
			break;
		}
	}
	if ((k == DIR_ADDR_USER || k == DIR_ADDR_ALIAS || k == DIR_ADDR_GROUP) &&
	    s->kind == SMTP_LISTEN_MX && s->auth_user == NULL && !s->sender_allowed &&
	    !rcpt_allowed && antispam_greylist_enabled(s->srv->cfg.antispam)) {
		uint64_t wait_ms;

		/* RFC 6647: a temporary failure a real MTA retries */
		if (antispam_greylist(s->srv->cfg.antispam, s->ip, s->env.sender, addr, &wait_ms)) {
			reply(s,
			    "451 4.7.1 <%s>: Recipient address rejected: greylisted, try again in "
			    "%llu s",
			    addr, (unsigned long long)((wait_ms + 999) / 1000));
			log_info("smtp", "sid=%s event=rcpt result=451 reason=greylist", s->sid);
			free(orcpt);
			free(canon);
			free(addr);
			return;
		}
	}
	switch (k) {
	case DIR_ADDR_REMOTE:
		if (s->auth_user == NULL) {
			reply(s, "%s", RELAY_TEXT);
			log_info("smtp", "sid=%s event=rcpt result=553 reason=relay", s->sid);
			break;
		}
		add_rcpt(s, canon ? canon : addr, orcpt, cmd->rcpt.notify);
		break;
	case DIR_ADDR_NONE:
		reply(s, "550 5.1.1 <%s>: Recipient address rejected: User unknown", addr);
		log_info("smtp", "sid=%s event=rcpt result=550 reason=unknown", s->sid);
		break;
	case DIR_ADDR_ALIAS:
	case DIR_ADDR_GROUP:
		add_rcpt(s, canon, orcpt, cmd->rcpt.notify);
		break;
	case DIR_ADDR_USER:
		if (directory_user_get(s->srv->cfg.dir, canon, &u) != 0) {
			reply(s, "451 4.3.0 <%s>: temporary directory failure", addr);
			break;
		}
		if (u.flags & DIR_USER_DISABLED) {
			reply(s, "550 5.2.1 <%s>: Recipient address rejected: mailbox disabled",
			    addr);
		} else if ((u.flags & DIR_USER_NO_EXTERNAL_RECEIVE) && s->auth_user == NULL) {
			reply(s,
			    "550 5.7.1 <%s>: Recipient address rejected: this mailbox does not "
			    "receive mail from outside",
			    addr);
		} else if (u.max_message_size > 0 && s->declared_size > u.max_message_size) {
			reply(s, "552 5.3.4 <%s>: message size exceeds this mailbox's limit", addr);
		} else if (s->srv->cfg.usage != NULL &&
		           (u.quota_bytes > 0 || u.quota_messages > 0) &&
		           usage_home_elsewhere(s->srv->cfg.usage, u.home_node)) {
			s->w_user = xstrdup(u.address);
			s->w_rcpt = xstrdup(addr);
			s->w_orcpt = orcpt;
			orcpt = NULL;
			s->w_notify = cmd->rcpt.notify;
			s->w_quota_bytes = u.quota_bytes;
			s->w_quota_msgs = u.quota_messages;
			remote_quota_start(s, u.home_node);
		} else if (s->srv->cfg.ms != NULL && (u.quota_bytes > 0 || u.quota_messages > 0)) {
			s->w_user = xstrdup(canon);
			s->w_rcpt = xstrdup(addr);
			s->w_orcpt = orcpt;
			orcpt = NULL;
			s->w_notify = cmd->rcpt.notify;
			s->w_quota_bytes = u.quota_bytes;
			s->w_quota_msgs = u.quota_messages;
			start_work(s, WORK_QUOTA, quota_work);
		} else {
			add_rcpt(s, canon, orcpt, cmd->rcpt.notify);
		}
		dir_user_fini(&u);
		break;
	}
	free(orcpt);
	free(canon);
	free(addr);
}

/* --- AUTH ---------------------------------------------------------------- */

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* strict base64 (RFC 4648 §4, padding required); out gets a NUL after */
static int
b64_decode(struct slice in, char *out, size_t outsz, size_t *len_out)
{
	size_t o = 0;

	if (in.len % 4 != 0)
		return MN_EPARSE;
	for (size_t i = 0; i < in.len; i += 4) {
		int v[4], pad = 0;

		for (int j = 0; j < 4; j++) {
			unsigned char c = (unsigned char)in.ptr[i + j];

			if (c == '=' && i + 4 == in.len && j >= 2) {
				v[j] = 0;
				pad++;
			} else if (pad > 0 || (v[j] = b64val(c)) < 0) {
				return MN_EPARSE;
			}
		}
		if (o + 3 >= outsz)
			return MN_ETOOBIG;
		out[o++] = (char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (char)((v[1] & 15) << 4 | v[2] >> 2);
		if (pad < 1)
			out[o++] = (char)((v[2] & 3) << 6 | v[3]);
	}
	out[o] = '\0';
	*len_out = o;
	return 0;
}

static void
auth_work(uv_work_t *w)
{
	struct session *s = w->data;
	/* an unknown user costs one hash too (no user-existence oracle) */
	static const char dummy[] =
	    "$y$j9T$F5Jx5fExrKuJdZC6Oq0Vh0$9bWdCyTvvD0ZuLg6V45rSH4Y.YT5dP0V7zuVkqy2fK.";

	s->w_ok = password_verify(s->w_hash ? s->w_hash : dummy, s->w_password) && s->w_hash;
}

static void
auth_start(struct session *s, const char *user, const char *password)
{
	struct dir_user u;
	char *canon = NULL;

	s->auth_step = AUTH_NONE;
	free(s->w_user);
	s->w_user = NULL;
	s->w_hash = NULL;
	if (directory_classify(s->srv->cfg.dir, user, &canon) == DIR_ADDR_USER &&
	    directory_user_get(s->srv->cfg.dir, canon, &u) == 0) {
		if (!(u.flags & DIR_USER_DISABLED) &&
		    (u.expires_at == 0 || u.expires_at > (int64_t)time(NULL)) &&
		    u.password_hash != NULL)
			s->w_hash = xstrdup(u.password_hash);
		s->w_user = xstrdup(u.address);
		dir_user_fini(&u);
	} else {
		char tmp[128];

		s->w_user = xstrdup(log_escape(tmp, sizeof(tmp), user, strlen(user)));
	}
	free(canon);
	s->w_password = xstrdup(password);
	free(s->w_login);
	s->w_login = xstrdup(user);
	if (s->srv->cfg.limits != NULL &&
	    !limits_auth_allowed(s->srv->cfg.limits, s->ip, s->w_login)) {
		/* blocked: the same answer as a wrong password, unverified */
		log_info("smtp", "sid=%s event=auth_blocked user=%s", s->sid, s->w_user);
		s->w_ok = false;
		s->busy = true;
		conn_pause(s->c);
		auth_done(s, true);
		return;
	}
	start_work(s, WORK_AUTH, auth_work);
}

struct auth_delay {
	uv_timer_t timer;
	struct session *s;
};

static void session_free(struct session *s);

static void
auth_delay_closed(uv_handle_t *h)
{
	free(h->data);
}

/* A failed AUTH is answered after SMTP_AUTH_FAIL_DELAY_MS (SPEC §10 login
 * failure throttling: a password guesser gets one try per second per
 * connection, and max_errors ends the connection). */
static void
auth_delay_cb(uv_timer_t *t)
{
	struct auth_delay *d = t->data;
	struct session *s = d->s;

	uv_close((uv_handle_t *)t, auth_delay_closed);
	s->busy = false;
	if (s->closed) {
		session_free(s);
		return;
	}
	reply(s, "535 5.7.8 Error: authentication failed");
	count_error(s);
	conn_resume(s->c);
	process(s);
}

/* returns true when the reply is delayed (the session stays busy);
 * blocked: limits refused the login before any verification */
static bool
auth_done(struct session *s, bool blocked)
{
	bool delayed = false;

	if (s->srv->cfg.limits != NULL && !blocked) {
		if (s->w_ok)
			limits_auth_ok(s->srv->cfg.limits, s->ip, s->w_login);
		else
			limits_auth_failed(s->srv->cfg.limits, s->ip, s->w_login);
	}
	free(s->w_login);
	s->w_login = NULL;
	if (s->w_ok) {
		s->auth_user = s->w_user;
		s->w_user = NULL;
		reply(s, "235 2.7.0 Authentication successful");
		log_info("smtp", "sid=%s event=auth result=ok user=%s", s->sid, s->auth_user);
	} else {
		struct auth_delay *d = xcalloc(1, sizeof(*d));

		log_info("smtp", "sid=%s event=auth result=fail user=%s", s->sid, s->w_user);
		d->s = s;
		uv_timer_init(s->srv->loop, &d->timer);
		d->timer.data = d;
		s->busy = true;
		uv_timer_start(&d->timer, auth_delay_cb, SMTP_AUTH_FAIL_DELAY_MS, 0);
		delayed = true;
	}
	explicit_bzero(s->w_password, strlen(s->w_password));
	free(s->w_password);
	free(s->w_hash);
	free(s->w_user);
	s->w_password = s->w_hash = s->w_user = NULL;
	return delayed;
}

/* PLAIN: [authzid] NUL authcid NUL passwd (RFC 4616 §2) */
static void
auth_plain(struct session *s, struct slice b64)
{
	char buf[2048];
	size_t n;
	const char *authz, *user, *pass;

	if (b64_decode(b64, buf, sizeof(buf), &n) != 0) {
		reply(s, "501 5.5.2 Error: invalid base64 data");
		count_error(s);
		s->auth_step = AUTH_NONE;
		return;
	}
	authz = buf;
	user = memchr(buf, '\0', n);
	pass = user ? memchr(user + 1, '\0', n - (size_t)(user + 1 - buf)) : NULL;
	if (user == NULL || pass == NULL || memchr(pass + 1, '\0', n - (size_t)(pass + 1 - buf))) {
		reply(s, "501 5.5.2 Error: malformed PLAIN response");
		count_error(s);
		s->auth_step = AUTH_NONE;
		return;
	}
	user++;
	pass++;
	if (*authz != '\0' && ascii_casecmp(authz, user) != 0) {
		reply(s, "535 5.7.8 Error: authorization identity refused");
		count_error(s);
		s->auth_step = AUTH_NONE;
		return;
	}
	auth_start(s, user, pass);
	explicit_bzero(buf, sizeof(buf));
}

static void
auth_line(struct session *s, const char *line, size_t len)
{
	struct slice sl = {line, len};
	char buf[1024];
	size_t n;

	if (len == 1 && line[0] == '*') {
		s->auth_step = AUTH_NONE;
		free(s->auth_login_user);
		s->auth_login_user = NULL;
		reply(s, "501 5.0.0 Error: authentication cancelled");
		return;
	}
	switch (s->auth_step) {
	case AUTH_PLAIN_WAIT:
		auth_plain(s, sl);
		break;
	case AUTH_LOGIN_USER:
		if (b64_decode(sl, buf, sizeof(buf), &n) != 0 || memchr(buf, '\0', n)) {
			reply(s, "501 5.5.2 Error: invalid base64 data");
			count_error(s);
			s->auth_step = AUTH_NONE;
			break;
		}
		s->auth_login_user = xstrdup(buf);
		s->auth_step = AUTH_LOGIN_PASS;
		reply(s, "334 UGFzc3dvcmQ6");
		break;
	case AUTH_LOGIN_PASS:
		if (b64_decode(sl, buf, sizeof(buf), &n) != 0 || memchr(buf, '\0', n)) {
			reply(s, "501 5.5.2 Error: invalid base64 data");
			count_error(s);
			s->auth_step = AUTH_NONE;
		} else {
			auth_start(s, s->auth_login_user, buf);
		}
		explicit_bzero(buf, sizeof(buf));
		free(s->auth_login_user);
		s->auth_login_user = NULL;
		break;
	case AUTH_NONE:
		break;
	}
}

static void
do_auth(struct session *s, const struct smtp_cmd *cmd)
{
	char buf[1024];
	size_t n;

	if (s->helo == NULL || !s->esmtp) {
		reply(s, "503 5.5.1 Error: send EHLO first");
		count_error(s);
		return;
	}
	if (s->auth_user != NULL) {
		reply(s, "503 5.5.1 Error: already authenticated");
		count_error(s);
		return;
	}
	if (s->in_mail) {
		reply(s, "503 5.5.1 Error: MAIL transaction in progress");
		count_error(s);
		return;
	}
	if (!auth_allowed(s)) {
		reply(s, "538 5.7.11 Encryption required for requested authentication mechanism");
		count_error(s);
		return;
	}
	if (slice_eq_nocase(cmd->auth_mech, "PLAIN")) {
		if (cmd->has_auth_initial) {
			if (cmd->auth_initial.len == 1 && cmd->auth_initial.ptr[0] == '=')
				auth_plain(s, (struct slice){"", 0});
			else
				auth_plain(s, cmd->auth_initial);
		} else {
			s->auth_step = AUTH_PLAIN_WAIT;
			reply(s, "334 ");
		}
	} else if (slice_eq_nocase(cmd->auth_mech, "LOGIN")) {
		if (cmd->has_auth_initial) {
			if (b64_decode(cmd->auth_initial, buf, sizeof(buf), &n) != 0 ||
			    memchr(buf, '\0', n)) {
				reply(s, "501 5.5.2 Error: invalid base64 data");
				count_error(s);
				return;
			}
			s->auth_login_user = xstrdup(buf);
			s->auth_step = AUTH_LOGIN_PASS;
			reply(s, "334 UGFzc3dvcmQ6");
		} else {
			s->auth_step = AUTH_LOGIN_USER;
			reply(s, "334 VXNlcm5hbWU6");
		}
	} else {
		reply(s, "504 5.5.4 Error: unsupported authentication mechanism");
		count_error(s);
	}
}

/* --- DATA ---------------------------------------------------------------- */

static void
do_data(struct session *s)
{
	struct smtp_data_limits lim;

	if (!s->in_mail) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		count_error(s);
		return;
	}
	if (s->env.nrcpts == 0) {
		reply(s, "554 5.5.1 Error: no valid recipients");
		count_error(s);
		return;
	}
	memset(&lim, 0, sizeof(lim));
	lim.max_size = s->srv->cfg.cfg->smtp_max_message_size;
	lim.max_received = s->srv->cfg.cfg->smtp_max_received;
	lim.bare = SMTP_DATA_BARE_NORMALIZE;
	/* a little above max_size: the reader's own size check answers first.
	 * XXX: the message is held in memory until the spool write (up to
	 * max_message_size per session); streaming it to spool/tmp would
	 * bound memory by connections, not by message size */
	buf_init(&s->msg, (size_t)lim.max_size + 4096);
	smtp_data_init_buf(&s->rd, &lim, &s->msg);
	s->in_data = true;
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static char *
make_received(struct session *s)
{
	struct buf b;
	char date[64], helo[300], tlsinfo[160];
	time_t now = time(NULL);
	struct tm tm;
	const char *proto;
	bool tls = conn_is_tls(s->c), auth = s->auth_user != NULL;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	buf_init(&b, 0);
	/* RFC 3848 / RFC 6531 §4.3 protocol types */
	if (s->env.smtputf8)
		proto =
		    tls ? (auth ? "UTF8SMTPSA" : "UTF8SMTPS") : (auth ? "UTF8SMTPA" : "UTF8SMTP");
	else if (!s->esmtp)
		proto = "SMTP";
	else
		proto = tls ? (auth ? "ESMTPSA" : "ESMTPS") : (auth ? "ESMTPA" : "ESMTP");
	log_escape(helo, sizeof(helo), s->helo, strlen(s->helo));
	buf_printf(&b, "Received: from %s ([%s])\r\n\tby %s (mailnode) with %s id %s", helo, s->ip,
	    hostname(s), proto, s->env.id);
	if (tls) {
		log_escape(
		    tlsinfo, sizeof(tlsinfo), conn_tls_info(s->c), strlen(conn_tls_info(s->c)));
		buf_printf(&b, "\r\n\t(%s)", tlsinfo);
	}
	if (auth)
		buf_printf(&b, "\r\n\t(authenticated as %s)", s->auth_user);
	if (s->env.nrcpts == 1)
		buf_printf(&b, "\r\n\tfor <%s>", s->env.rcpts[0].address);
	buf_printf(&b, ";\r\n\t%s\r\n", date);
	return buf_steal(&b, NULL);
}

/* whether addr (an envelope recipient) allows the sender by its own lists */
static bool
rcpt_is_allowed(const struct session *s, const char *addr)
{
	for (size_t i = 0; i < s->nallowed; i++)
		if (strcmp(s->allowed[i], addr) == 0)
			return true;
	return false;
}

static size_t
allowed_in_env(const struct session *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->env.nrcpts; i++)
		n += rcpt_is_allowed(s, s->env.rcpts[i].address);
	return n;
}

/* a copy of the envelope with the recipients that do (allowed) or do not
 * allow the sender */
static void
env_part(const struct session *s, bool allowed, struct spool_env *out)
{
	const struct spool_env *e = &s->env;

	memset(out, 0, sizeof(*out));
	memcpy(out->id, e->id, sizeof(out->id));
	out->sender = xstrdup(e->sender);
	out->envid = e->envid != NULL ? xstrdup(e->envid) : NULL;
	out->ret = e->ret;
	out->arrival = e->arrival;
	out->smtputf8 = e->smtputf8;
	out->eightbit = e->eightbit;
	out->auth_user = e->auth_user != NULL ? xstrdup(e->auth_user) : NULL;
	out->client_ip = e->client_ip != NULL ? xstrdup(e->client_ip) : NULL;
	for (size_t i = 0; i < e->nrcpts; i++)
		if (rcpt_is_allowed(s, e->rcpts[i].address) == allowed)
			spool_env_add_rcpt(
			    out, e->rcpts[i].address, e->rcpts[i].orcpt, e->rcpts[i].notify);
}

/* two copies: the recipients that allow the sender get theirs without the
 * reputation and content verdicts (a second spool entry, s->w_id2) */
static int
spool_split(struct session *s, struct antispam_msg *m)
{
	struct spool_env others, allowed;
	int rc;

	env_part(s, false, &others);
	env_part(s, true, &allowed);
	spool_new_id(s->srv->cfg.spool, allowed.id);
	buf_append_str(&m->allowed_prefix, s->w_received);
	rc = spool_write(s->srv->cfg.spool, &allowed, m->allowed_prefix.data, m->allowed_prefix.len,
	    s->msg.data, s->msg.len, &s->w_err);
	if (rc == 0) {
		memcpy(s->w_id2, allowed.id, sizeof(s->w_id2));
		rc = spool_write(s->srv->cfg.spool, &others, m->prefix.data, m->prefix.len,
		    s->msg.data, s->msg.len, &s->w_err);
		if (rc != 0) {
			/* the client retries the whole message: drop the first copy */
			(void)spool_remove(s->srv->cfg.spool, allowed.id, NULL);
			s->w_id2[0] = '\0';
		}
	}
	spool_env_fini(&others);
	spool_env_fini(&allowed);
	return rc;
}

static void
spool_work(uv_work_t *w)
{
	struct session *s = w->data;
	struct antispam_msg *m = s->w_as;

	if (m != NULL) {
		/* signing or the checks after DATA; their headers go above
		 * our Received (RFC 8601 §5: on top, like trace fields) */
		m->msg = s->msg.data;
		m->len = s->msg.len;
		antispam_message(s->srv->cfg.antispam, m);
		if (m->inbound) {
			/* after DKIM saw the message as sent: results that claim
			 * to be ours but came with it go (RFC 8601 §5) */
			size_t n = antispam_strip_forged_ar(s->msg.data, &s->msg.len, m->hostname);

			if (n > 0)
				log_info("smtp", "sid=%s event=forged_auth_results removed=%zu",
				    s->sid, n);
		}
		if (m->action != ANTISPAM_ACCEPT)
			return; /* refused: nothing spooled, spool_done replies */
		if (m->subject_tag != NULL && antispam_tag_subject(&s->msg, m->subject_tag) != 0)
			log_warn(
			    "smtp", "sid=%s event=subject_tag result=fail reason=too_big", s->sid);
		if (m->some_allowed) {
			size_t na = allowed_in_env(s);

			if (na == s->env.nrcpts) {
				buf_append_str(&m->allowed_prefix, s->w_received);
				s->w_rc =
				    spool_write(s->srv->cfg.spool, &s->env, m->allowed_prefix.data,
				        m->allowed_prefix.len, s->msg.data, s->msg.len, &s->w_err);
				return;
			}
			if (na > 0 && (m->prefix.len != m->allowed_prefix.len ||
			                  memcmp(m->prefix.data, m->allowed_prefix.data,
			                      m->prefix.len) != 0)) {
				buf_append_str(&m->prefix, s->w_received);
				s->w_rc = spool_split(s, m);
				return;
			}
		}
		buf_append_str(&m->prefix, s->w_received);
		s->w_rc = spool_write(s->srv->cfg.spool, &s->env, m->prefix.data, m->prefix.len,
		    s->msg.data, s->msg.len, &s->w_err);
		return;
	}
	s->w_rc = spool_write(s->srv->cfg.spool, &s->env, s->w_received, strlen(s->w_received),
	    s->msg.data, s->msg.len, &s->w_err);
}

static void
as_free(struct session *s)
{
	if (s->w_as != NULL) {
		buf_fini(&s->w_as->prefix);
		buf_fini(&s->w_as->allowed_prefix);
		free(s->w_as);
		s->w_as = NULL;
	}
}

static void
spool_done(struct session *s)
{
	if (s->w_as != NULL && s->w_as->action != ANTISPAM_ACCEPT) {
		reply(s, "%s", s->w_as->reply);
		log_info("smtp", "sid=%s event=data result=%.3s reason=antispam", s->sid,
		    s->w_as->reply);
	} else if (s->w_rc == 0) {
		reply(s, "250 2.0.0 Ok: queued as %s", s->env.id);
		char from[128];

		log_escape(from, sizeof(from), s->env.sender, strlen(s->env.sender));
		log_info("smtp", "sid=%s event=queued id=%s from=<%s> rcpts=%zu size=%zu", s->sid,
		    s->env.id, from, s->env.nrcpts, s->msg.len);
		if (s->auth_user != NULL && s->srv->cfg.sendlimit != NULL)
			sendlimit_count(
			    s->srv->cfg.sendlimit, s->auth_user, (uint32_t)s->env.nrcpts);
		if (s->srv->cfg.on_queued != NULL)
			s->srv->cfg.on_queued(s->srv->cfg.arg, s->env.id);
		if (s->w_id2[0] != '\0') {
			/* the copy for the recipients that allow the sender */
			log_info("smtp",
			    "sid=%s event=queued id=%s part_of=%s reason=rcpt_sender_allow", s->sid,
			    s->w_id2, s->env.id);
			if (s->srv->cfg.on_queued != NULL)
				s->srv->cfg.on_queued(s->srv->cfg.arg, s->w_id2);
		}
	} else {
		reply(s, "451 4.3.0 Error: queue file write error");
		log_error(
		    "smtp", "sid=%s event=queue result=fail reason=\"%s\"", s->sid, s->w_err.msg);
	}
	free(s->w_received);
	s->w_received = NULL;
	s->w_id2[0] = '\0';
	as_free(s);
	txn_reset(s);
}

/* the content scan (node/antispam/scan.h) ran: its result goes into the
 * checks after DATA, which decide (spool_work) */
static void
scan_done_cb(void *arg, const struct scan_result *r)
{
	struct session *s = arg;

	s->scan = NULL;
	if (s->srv->stopped) {
		/* shutting down (the scan's connection was closed with all the
		 * others): not accepted unscanned; the client retries */
		s->busy = false;
		reply(s, "421 4.3.2 %s Service shutting down", hostname(s));
		log_info("smtp", "sid=%s event=data result=421 reason=shutdown", s->sid);
		free(s->w_received);
		s->w_received = NULL;
		as_free(s);
		txn_reset(s);
		s->quit = true;
		flush(s);
		if (!conn_is_closing(s->c))
			conn_close(s->c);
		return;
	}
	s->scan_res = *r;
	s->w_as->scan = &s->scan_res;
	start_work(s, WORK_SPOOL, spool_work);
}

/* scan inbound mail on the loop before the spool write; too large: not
 * scanned (the scanners' own limits are similar: spamc skips > 500 KB) */
static void
scan_begin(struct session *s)
{
	struct antispam *as = s->srv->cfg.antispam;
	size_t rl = strlen(s->w_received);
	const char **rcpts;
	struct scan_request req;

	if (s->msg.len + rl > antispam_scan_max_size(as)) {
		log_info("smtp", "sid=%s event=scan result=skipped reason=too_big size=%zu", s->sid,
		    s->msg.len);
		start_work(s, WORK_SPOOL, spool_work);
		return;
	}
	rcpts = xcalloc(s->env.nrcpts, sizeof(*rcpts));
	for (size_t i = 0; i < s->env.nrcpts; i++)
		rcpts[i] = s->env.rcpts[i].address;
	memset(&req, 0, sizeof(req));
	req.ip = s->ip;
	req.helo = s->helo;
	req.sender = s->env.sender;
	req.rcpts = rcpts;
	req.nrcpts = s->env.nrcpts;
	/* spamd's per-user preferences: the sender's for outgoing mail */
	req.user = s->auth_user != NULL ? s->auth_user : s->env.nrcpts == 1 ? rcpts[0] : NULL;
	req.auth_user = s->auth_user;
	req.queue_id = s->env.id;
	req.head = (const uint8_t *)s->w_received;
	req.head_len = rl;
	req.msg = s->msg.data;
	req.len = s->msg.len;
	s->busy = true;
	flush(s);
	conn_pause(s->c);
	s->scan = scan_start(s->srv->loop, antispam_scan_target(as), &req, scan_done_cb, s);
	free(rcpts);
}

static void
data_finished(struct session *s)
{
	struct smtp_status st;

	s->in_data = false;
	if (smtp_data_status(&s->rd, &st)) {
		reply_status(s, &st);
		log_info("smtp", "sid=%s event=data result=%d size=%llu", s->sid, st.code,
		    (unsigned long long)s->rd.size);
		txn_reset(s);
		return;
	}
	if (s->rd.flags & SMTP_DATA_F_8BIT)
		s->env.eightbit = true;
	spool_new_id(s->srv->cfg.spool, s->env.id);
	s->env.arrival = (int64_t)time(NULL);
	s->w_received = make_received(s);
	if (antispam_wants_message(s->srv->cfg.antispam,
	        s->kind == SMTP_LISTEN_MX && !s->sender_allowed, s->auth_user != NULL)) {
		struct antispam_msg *m = xcalloc(1, sizeof(*m));

		/* an allowed sender's mail is not checked (XXX: nor are
		 * Authentication-Results claiming our name removed from it) */
		m->inbound =
		    s->kind == SMTP_LISTEN_MX && s->auth_user == NULL && !s->sender_allowed;
		m->authenticated = s->auth_user != NULL;
		m->hostname = hostname(s);
		m->sender = s->env.sender;
		m->helo = s->helo;
		m->spf_checked = s->spf_checked;
		m->spf = &s->spf;
		m->dnsbl = s->dnsbl_done ? &s->dnsbl : NULL;
		m->host = s->host_done ? &s->host : NULL;
		m->dbl = s->dbl_done ? &s->dbl : NULL;
		m->some_allowed = m->inbound && allowed_in_env(s) > 0;
		buf_init(&m->prefix, 0);
		buf_init(&m->allowed_prefix, 0);
		s->w_as = m;
	}
	/* no scan when every recipient allows the sender (it could only tag) */
	if (s->w_as != NULL && allowed_in_env(s) < s->env.nrcpts &&
	    ((s->w_as->inbound && antispam_scan_enabled(s->srv->cfg.antispam)) ||
	        (s->w_as->authenticated && antispam_scan_outbound(s->srv->cfg.antispam)))) {
		scan_begin(s);
		return;
	}
	start_work(s, WORK_SPOOL, spool_work);
}

/* --- commands ------------------------------------------------------------ */

static void
do_starttls(struct session *s)
{
	if (s->srv->cfg.tls == NULL) {
		reply(s, "502 5.5.1 Error: command not implemented");
		count_error(s);
		return;
	}
	if (conn_is_tls(s->c)) {
		reply(s, "503 5.5.1 Error: TLS already active");
		count_error(s);
		return;
	}
	reply(s, "220 2.0.0 Ready to start TLS");
	flush(s);
	/* RFC 3207 §4.2: forget everything learned before TLS */
	txn_reset(s);
	free(s->helo);
	s->helo = NULL;
	s->esmtp = false;
	conn_starttls(s->c, s->srv->cfg.tls);
}

static void
command(struct session *s, const char *line, size_t len)
{
	struct smtp_parse_limits lim;
	struct smtp_cmd cmd;
	int rc;

	if (s->auth_step != AUTH_NONE) {
		auth_line(s, line, len);
		return;
	}
	smtp_parse_limits_default(&lim);
	lim.max_line = SMTP_LINE_MAX_AUTH;
	lim.txn_smtputf8 = s->in_mail && s->env.smtputf8;
	rc = smtp_parse_command(line, len, &lim, &cmd);
	if (need_auth(s) && cmd.verb != SMTP_VERB_AUTH && cmd.verb != SMTP_VERB_QUIT &&
	    ++s->commands_before_auth > SMTP_MAX_COMMANDS_BEFORE_AUTH) {
		reply(
		    s, "421 4.7.0 %s Error: too many commands before authentication", hostname(s));
		s->quit = true;
		return;
	}
	if (rc != 0) {
		reply_status(s, &cmd.error);
		count_error(s);
		return;
	}
	switch (cmd.verb) {
	case SMTP_VERB_HELO:
		do_ehlo(s, &cmd, false);
		break;
	case SMTP_VERB_EHLO:
		do_ehlo(s, &cmd, true);
		break;
	case SMTP_VERB_MAIL:
		do_mail(s, &cmd);
		break;
	case SMTP_VERB_RCPT:
		do_rcpt(s, &cmd);
		break;
	case SMTP_VERB_DATA:
		do_data(s);
		break;
	case SMTP_VERB_RSET:
		txn_reset(s);
		reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_VERB_NOOP:
		reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_VERB_QUIT:
		reply(s, "221 2.0.0 Bye");
		s->quit = true;
		break;
	case SMTP_VERB_VRFY:
		reply(s, "252 2.5.2 Cannot VRFY user, but will accept message and attempt "
		         "delivery");
		break;
	case SMTP_VERB_EXPN:
		reply(s, "502 5.5.1 Error: EXPN not available");
		break;
	case SMTP_VERB_HELP:
		reply(s, "214 2.0.0 See RFC 5321 (mailnode)");
		break;
	case SMTP_VERB_STARTTLS:
		do_starttls(s);
		break;
	case SMTP_VERB_AUTH:
		do_auth(s, &cmd);
		break;
	case SMTP_VERB_NONE:
		reply(s, "500 5.5.1 Error: command not recognized");
		count_error(s);
		break;
	}
}

static void
process(struct session *s)
{
	struct buf *in;

	if (s->closed)
		return;
	in = conn_input(s->c);
	while (!s->busy && !s->quit && !conn_is_closing(s->c) && in->len > 0) {
		if (s->in_data) {
			size_t used = 0;
			int rc = smtp_data_feed(&s->rd, (const char *)in->data, in->len, &used);

			buf_consume(in, used);
			if (rc == SMTP_DATA_DONE)
				data_finished(s);
			continue;
		}
		if (s->discarding) {
			uint8_t *lf = memchr(in->data, '\n', in->len);

			if (lf == NULL) {
				buf_consume(in, in->len);
				break;
			}
			buf_consume(in, (size_t)(lf - in->data) + 1);
			s->discarding = false;
			continue;
		}
		size_t line_len, total = find_line(in->data, in->len, &line_len);

		if (total == 0) {
			if (in->len >= SMTP_INPUT_MAX) {
				reply(s, "500 5.5.2 Error: line too long");
				log_info("smtp", "sid=%s event=line_too_long", s->sid);
				buf_consume(in, in->len);
				s->discarding = true;
				count_error(s);
			}
			break;
		}
		/* find_line also takes a bare LF; the parser refuses stray CRs */
		if (line_len > 0 && in->data[line_len - 1] == '\r')
			line_len--;
		if (line_len > SMTP_AUTH_LINE_MAX) {
			reply(s, "500 5.5.2 Error: line too long");
			count_error(s);
		} else {
			char *line = xstrndup((const char *)in->data, line_len);

			buf_consume(in, total);
			command(s, line, line_len);
			free(line);
			continue;
		}
		buf_consume(in, total);
	}
	flush(s);
	if (s->quit && !conn_is_closing(s->c))
		conn_close(s->c);
}

/* --- conn callbacks ------------------------------------------------------ */

static void
session_free(struct session *s)
{
	txn_reset(s);
	buf_fini(&s->out);
	free(s->helo);
	free(s->auth_user);
	free(s->auth_login_user);
	s->srv->sessions--;
	if (s->srv->stopped && s->srv->sessions == 0)
		free(s->srv);
	free(s);
}

static void
work_done(uv_work_t *w, int status)
{
	struct session *s = w->data;

	s->busy = false;
	switch (s->wkind) {
	case WORK_AUTH:
		if (s->closed)
			break;
		if (auth_done(s, false)) {
			flush(s);
			return; /* still paused: the delay timer resumes */
		}
		break;
	case WORK_QUOTA:
		quota_done(s);
		break;
	case WORK_SPF:
		if (!s->closed)
			spf_done(s);
		break;
	case WORK_SPOOL:
		if (s->closed && s->w_rc == 0 && s->srv->cfg.on_queued != NULL &&
		    (s->w_as == NULL || s->w_as->action == ANTISPAM_ACCEPT)) {
			/* queued even though the client is gone: it may never
			 * see the 250, but the message is ours now */
			s->srv->cfg.on_queued(s->srv->cfg.arg, s->env.id);
			if (s->w_id2[0] != '\0')
				s->srv->cfg.on_queued(s->srv->cfg.arg, s->w_id2);
			if (s->auth_user != NULL && s->srv->cfg.sendlimit != NULL)
				sendlimit_count(
				    s->srv->cfg.sendlimit, s->auth_user, (uint32_t)s->env.nrcpts);
			free(s->w_received);
			s->w_received = NULL;
			as_free(s);
		} else if (!s->closed) {
			spool_done(s);
		}
		break;
	}
	if (s->closed) {
		free(s->w_password);
		free(s->w_hash);
		free(s->w_user);
		free(s->w_login);
		free(s->w_rcpt);
		free(s->w_orcpt);
		free(s->w_received);
		as_free(s);
		session_free(s);
		return;
	}
	conn_resume(s->c);
	process(s);
}

static void
on_read(struct conn *c, void *arg)
{
	process(arg);
}

static void
on_close(struct conn *c, void *arg, int reason)
{
	struct session *s = arg;

	log_info("smtp", "sid=%s event=disconnect", s->sid);
	if (s->limited)
		limits_conn_closed(s->srv->cfg.limits, LIMITS_SMTP, s->ip);
	s->closed = true;
	if (s->scan != NULL) {
		/* gone while its message was being scanned: nothing queued */
		scan_cancel(s->scan);
		s->scan = NULL;
		s->busy = false;
		free(s->w_received);
		s->w_received = NULL;
		as_free(s);
	}
	if (!s->busy)
		session_free(s);
}

static void
greet(struct session *s)
{
	reply(s, "220 %s ESMTP mailnode", hostname(s));
	flush(s);
}

static void
on_tls(struct conn *c, void *arg, int status)
{
	struct session *s = arg;

	if (status != 0) {
		log_info("smtp", "sid=%s event=tls result=fail", s->sid);
		return;
	}
	/* (implicit TLS: the greeting queued at accept goes out now) */
	log_info("smtp", "sid=%s event=tls info=\"%s\"", s->sid, conn_tls_info(c));
}

static bool
on_timeout(struct conn *c, void *arg)
{
	struct session *s = arg;

	if (s->busy)
		return true;
	reply(s, "421 4.4.2 %s Error: timeout exceeded", hostname(s));
	flush(s);
	conn_close(c);
	return true;
}

static const struct conn_handler session_handler = {
    .on_read = on_read,
    .on_close = on_close,
    .on_tls = on_tls,
    .on_timeout = on_timeout,
};

static void
refused_close(struct conn *c, void *arg, int reason)
{
}

static const struct conn_handler refused_handler = {
    .on_close = refused_close,
};

static void
on_accept(struct conn *c, void *arg)
{
	struct accept_arg *aa = arg;
	struct limits *l = aa->srv->cfg.limits;
	struct session *s;

	if (l != NULL && limits_conn_open(l, LIMITS_SMTP, conn_peer_ip(c)) != LIMITS_OK) {
		/* SPEC §10 per-IP caps: no session at all */
		conn_set_handler(c, &refused_handler, NULL);
		conn_printf(c, "421 4.7.0 %s Error: too many connections from your address\r\n",
		    aa->srv->cfg.cfg->hostname);
		log_info("smtp", "conn=%s event=refused ip=%s reason=limits", conn_id(c),
		    conn_peer_ip(c));
		conn_close(c);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->limited = l != NULL;

	s->srv = aa->srv;
	s->kind = aa->kind;
	s->c = c;
	s->srv->sessions++;
	snprintf(s->sid, sizeof(s->sid), "%s", conn_id(c));
	snprintf(s->ip, sizeof(s->ip), "%s", conn_peer_ip(c));
	buf_init(&s->out, 0);
	conn_set_handler(c, &session_handler, s);
	conn_set_input_max(c, SMTP_INPUT_MAX);
	log_info("smtp", "sid=%s event=connect ip=%s port=%u listener=%s", s->sid, s->ip,
	    conn_local_port(c),
	    s->kind == SMTP_LISTEN_MX           ? "mx"
	    : s->kind == SMTP_LISTEN_SUBMISSION ? "submission"
	                                        : "smtps");
	greet(s);
}

int
smtp_server_start(uv_loop_t *loop, const struct smtp_server_config *cfg, struct smtp_server **out,
    struct mn_err *err)
{
	struct smtp_server *srv = xcalloc(1, sizeof(*srv));
	static const char *names[3] = {"smtp", "submission", "smtps"};
	uint16_t ports[3] = {cfg->cfg->smtp_port, cfg->cfg->submission_port, cfg->cfg->smtps_port};

	srv->loop = loop;
	srv->cfg = *cfg;
	for (int i = 0; i < 3; i++) {
		struct listener_config lc;
		int rc;

		if (ports[i] == 0 || (i == SMTP_LISTEN_SMTPS && cfg->tls == NULL))
			continue;
		memset(&lc, 0, sizeof(lc));
		lc.service = names[i];
		lc.address = cfg->cfg->listen_address;
		lc.port = ports[i];
		lc.tls = i == SMTP_LISTEN_SMTPS ? cfg->tls : NULL;
		lc.idle_timeout_ms = cfg->cfg->idle_timeout_ms;
		srv->accept[i].srv = srv;
		srv->accept[i].kind = (enum smtp_listen_kind)i;
		rc = listener_start(loop, &lc, on_accept, &srv->accept[i], &srv->l[i], err);
		if (rc != 0) {
			mn_err_wrap(err, "%s %s:%u", names[i], lc.address, lc.port);
			for (int j = 0; j < i; j++)
				if (srv->l[j] != NULL)
					listener_stop(&srv->l[j]);
			free(srv);
			return rc;
		}
		log_info("smtp", "event=listen service=%s address=%s:%u", names[i], lc.address,
		    listener_port(srv->l[i]));
	}
	*out = srv;
	return 0;
}

uint16_t
smtp_server_port(const struct smtp_server *s, enum smtp_listen_kind kind)
{
	return s->l[kind] != NULL ? listener_port(s->l[kind]) : 0;
}

void
smtp_server_stop(struct smtp_server **sp)
{
	struct smtp_server *s = *sp;

	if (s == NULL)
		return;
	for (int i = 0; i < 3; i++)
		if (s->l[i] != NULL)
			listener_stop(&s->l[i]);
	s->stopped = true;
	if (s->sessions == 0)
		free(s);
	*sp = NULL;
}

/* --- submission from the webmail (smtp_server_submit) --------------------- */

struct submit_job {
	uv_work_t work;
	struct smtp_server *srv;
	struct spool_env env;
	const void *msg;
	size_t len;
	char *received;
	struct antispam_msg *as;
	smtp_submit_done_fn done;
	void *arg;
	int rc;
	struct mn_err err;
};

static void
submit_work(uv_work_t *w)
{
	struct submit_job *j = w->data;

	if (j->as != NULL) {
		/* DKIM signing of an authenticated sender's message; its
		 * header goes above our Received: as in spool_work */
		j->as->msg = j->msg;
		j->as->len = j->len;
		antispam_message(j->srv->cfg.antispam, j->as);
		if (j->as->action != ANTISPAM_ACCEPT)
			return;
		buf_append_str(&j->as->prefix, j->received);
		j->rc = spool_write(j->srv->cfg.spool, &j->env, j->as->prefix.data,
		    j->as->prefix.len, j->msg, j->len, &j->err);
		return;
	}
	j->rc = spool_write(
	    j->srv->cfg.spool, &j->env, j->received, strlen(j->received), j->msg, j->len, &j->err);
}

static void
submit_done(uv_work_t *w, int status)
{
	struct submit_job *j = w->data;
	struct smtp_server *srv = j->srv;

	(void)status;
	if (j->as != NULL && j->as->action != ANTISPAM_ACCEPT) {
		log_info("smtp", "event=submit user=%s result=refused reason=antispam",
		    j->env.auth_user);
		j->done(j->arg, (int)strtol(j->as->reply, NULL, 10), j->as->reply, NULL);
	} else if (j->rc == 0) {
		log_info("smtp", "event=queued id=%s via=%s user=%s rcpts=%zu size=%zu", j->env.id,
		    "submit", j->env.auth_user, j->env.nrcpts, j->len);
		if (srv->cfg.sendlimit != NULL)
			sendlimit_count(
			    srv->cfg.sendlimit, j->env.auth_user, (uint32_t)j->env.nrcpts);
		if (!srv->stopped && srv->cfg.on_queued != NULL)
			srv->cfg.on_queued(srv->cfg.arg, j->env.id);
		j->done(j->arg, 250, "queued", j->env.id);
	} else {
		log_error("smtp", "event=submit result=fail reason=\"%s\"", j->err.msg);
		j->done(j->arg, 451, "queue file write error", NULL);
	}
	if (j->as != NULL) {
		buf_fini(&j->as->prefix);
		free(j->as);
	}
	free(j->received);
	spool_env_fini(&j->env);
	free(j);
	srv->sessions--;
	if (srv->stopped && srv->sessions == 0)
		free(srv);
}

/* one recipient as RCPT TO would take it (no quota check: delivery
 * refuses a full mailbox with a bounce); 0 or an SMTP code */
static int
submit_rcpt(
    struct smtp_server *srv, struct spool_env *env, const char *rcpt, char *reason, size_t reasonsz)
{
	char *addr = xstrdup(rcpt), *canon = NULL, *at = strrchr(addr, '@');
	enum dir_addr_kind k;
	struct dir_user u;
	int code = 0;

	if (at != NULL)
		ascii_lower(at);
	k = directory_classify(srv->cfg.dir, addr, &canon);
	switch (k) {
	case DIR_ADDR_NONE:
		snprintf(reason, reasonsz, "<%s>: recipient address rejected: user unknown", addr);
		code = 550;
		break;
	case DIR_ADDR_USER:
		if (directory_user_get(srv->cfg.dir, canon, &u) != 0) {
			snprintf(reason, reasonsz, "<%s>: temporary directory failure", addr);
			code = 451;
			break;
		}
		if (u.flags & DIR_USER_DISABLED) {
			snprintf(reason, reasonsz, "<%s>: recipient mailbox disabled", addr);
			code = 550;
		}
		dir_user_fini(&u);
		break;
	default:
		break;
	}
	if (code == 0) {
		const char *a = canon ? canon : addr;
		bool known = false;

		for (size_t i = 0; i < env->nrcpts; i++)
			if (strcmp(env->rcpts[i].address, a) == 0)
				known = true;
		if (!known)
			spool_env_add_rcpt(env, a, NULL, 0);
	}
	free(canon);
	free(addr);
	return code;
}

int
smtp_server_submit(struct smtp_server *srv, const struct smtp_submission *sub,
    smtp_submit_done_fn done, void *arg, char *reason, size_t reasonsz)
{
	const struct mn_config *cfg = srv->cfg.cfg;
	struct sendlimit_hit h;
	struct submit_job *j;
	struct buf b;
	char date[64];
	time_t now = time(NULL);
	struct tm tm;

	if (srv->stopped) {
		snprintf(reason, reasonsz, "the server is shutting down");
		return 421;
	}
	if (sub->nrcpts == 0) {
		snprintf(reason, reasonsz, "no recipients");
		return 554;
	}
	if (cfg->smtp_max_recipients > 0 && sub->nrcpts > cfg->smtp_max_recipients) {
		snprintf(
		    reason, reasonsz, "too many recipients (at most %u)", cfg->smtp_max_recipients);
		return 452;
	}
	if (sub->len > cfg->smtp_max_message_size) {
		snprintf(reason, reasonsz, "message size exceeds fixed limit of %llu bytes",
		    (unsigned long long)cfg->smtp_max_message_size);
		return 552;
	}
	if (!user_owns_sender(srv->cfg.dir, sub->auth_user, sub->sender)) {
		snprintf(reason, reasonsz, "<%s>: sender address not owned by user %s", sub->sender,
		    sub->auth_user);
		return 553;
	}
	if (srv->cfg.sendlimit != NULL &&
	    !sendlimit_check(srv->cfg.sendlimit, sub->auth_user, 1, (uint32_t)sub->nrcpts, &h)) {
		char what[SENDLIMIT_MAX_KEY + 96];

		sendlimit_describe(&h, what, sizeof(what));
		snprintf(reason, reasonsz, "sending limit reached: %s; try again later", what);
		log_warn("smtp", "event=send_limit via=submit user=%s limit=\"%s\" alert=%s",
		    sub->auth_user, what, h.alert ? "yes" : "no");
		if (h.alert)
			sl_alert_start(srv, &h, sub->auth_user, sub->client_ip);
		return 451;
	}
	j = xcalloc(1, sizeof(*j));
	for (size_t i = 0; i < sub->nrcpts; i++) {
		int code = submit_rcpt(srv, &j->env, sub->rcpts[i], reason, reasonsz);

		if (code != 0) {
			spool_env_fini(&j->env);
			free(j);
			return code;
		}
	}
	j->srv = srv;
	j->msg = sub->msg;
	j->len = sub->len;
	j->done = done;
	j->arg = arg;
	j->env.sender = xstrdup(sub->sender);
	j->env.auth_user = xstrdup(sub->auth_user);
	j->env.client_ip = xstrdup(sub->client_ip ? sub->client_ip : "127.0.0.1");
	j->env.eightbit = sub->eightbit;
	j->env.smtputf8 = sub->smtputf8;
	j->env.arrival = (int64_t)now;
	spool_new_id(srv->cfg.spool, j->env.id);
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	buf_init(&b, 0);
	buf_printf(&b,
	    "Received: from [%s]\r\n\tby %s (mailnode) with %s id %s\r\n"
	    "\t(authenticated as %s);\r\n\t%s\r\n",
	    j->env.client_ip, cfg->hostname, sub->via ? sub->via : "HTTP", j->env.id,
	    sub->auth_user, date);
	j->received = buf_steal(&b, NULL);
	if (antispam_wants_message(srv->cfg.antispam, false, true)) {
		j->as = xcalloc(1, sizeof(*j->as));
		j->as->authenticated = true;
		j->as->hostname = cfg->hostname;
		j->as->sender = j->env.sender;
		j->as->helo = cfg->hostname;
		buf_init(&j->as->prefix, 0);
	}
	j->work.data = j;
	srv->sessions++;
	uv_queue_work(srv->loop, &j->work, submit_work, submit_done);
	return 0;
}
