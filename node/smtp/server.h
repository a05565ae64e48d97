/*
 * server.h - the SMTP server (RFC 5321 with ESMTP: PIPELINING RFC 2920,
 * SIZE RFC 1870, 8BITMIME RFC 6152, STARTTLS RFC 3207, AUTH RFC 4954 with
 * PLAIN RFC 4616 and LOGIN, ENHANCEDSTATUSCODES RFC 2034, SMTPUTF8 RFC 6531,
 * DSN RFC 3461): one engine behind three listeners (SPEC §4, §8).
 *
 *   SMTP_LISTEN_MX          smtp_port: mail from the world; AUTH offered only
 *                           after STARTTLS or on loopback
 *   SMTP_LISTEN_SUBMISSION  submission_port: AUTH required before MAIL
 *   SMTP_LISTEN_SMTPS       smtps_port: implicit TLS, otherwise as submission
 *
 * An accepted message is written to the spool (storage/spool) and fsync'd
 * before "250 2.0.0 Ok: queued as ID"; then on_queued tells the delivery
 * queue. Recipients are checked against the directory on the loop; password
 * checks, quota usage and spool writes run on the libuv thread pool.
 */
#ifndef MN_NODE_SMTP_SERVER_H
#define MN_NODE_SMTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lib/config.h"
#include "lib/err.h"
#include "lib/tls.h"

struct antispam;
struct directory;
struct limits;
struct mailstore;
struct sendlimit;
struct spool;

enum smtp_listen_kind { SMTP_LISTEN_MX, SMTP_LISTEN_SUBMISSION, SMTP_LISTEN_SMTPS };

/* Commands a submission client may send before AUTH succeeds. */
#define SMTP_MAX_COMMANDS_BEFORE_AUTH 20

struct usage;

struct smtp_server_config {
	const struct mn_config *cfg; /* hostname, listen address, ports, [smtp] */
	struct directory *dir;
	struct mailstore *ms; /* quota usage at RCPT; may be NULL (no check) */
	/* quota usage at RCPT of users homed on another node, asked of that
	 * node (cluster/usage); NULL: those are accepted unchecked */
	struct usage *usage;
	struct spool *spool;
	struct tls_ctx *tls; /* NULL: no STARTTLS, no SMTPS */
	/* per-IP connection caps and login-failure blocking (node/limits.h);
	 * NULL: none */
	struct limits *limits;
	/* inbound mail checks (SPF at MAIL FROM, Authentication-Results);
	 * NULL: none (node/antispam/antispam.h) */
	struct antispam *antispam;
	/* send limits of authenticated senders (node/antispam/sendlimit.h):
	 * checked at MAIL and RCPT, counted when queued; reaching one alerts
	 * postmaster@ the sender's domain (a message through the queue);
	 * NULL: none */
	struct sendlimit *sendlimit;
	/* a message was queued (called on the loop after the spool fsync) */
	void (*on_queued)(void *arg, const char *id);
	void *arg;
};

struct smtp_server;

/* smtp_server_start - start the listeners whose port is non-zero. */
int smtp_server_start(uv_loop_t *loop, const struct smtp_server_config *cfg,
    struct smtp_server **out, struct mn_err *err);
/* smtp_server_port - bound port of a listener (0 when not started). */
uint16_t smtp_server_port(const struct smtp_server *s, enum smtp_listen_kind kind);
/*
 * Submission from a user authenticated elsewhere (the webmail, node/webmail):
 * the same rules as a message after AUTH on the submission port. The
 * envelope sender must be the user or an alias leading to it; recipients
 * are classified like RCPT TO (unknown local address or disabled mailbox:
 * refused; remote: relayed); at most smtp_max_recipients and
 * smtp_max_message_size; the send limits are checked and, once queued,
 * counted (reaching one alerts postmaster as on SMTP). On the thread pool
 * the message gets its Received: field and DKIM signature (antispam) and
 * is written to the spool; on_queued hands it to the delivery queue.
 */
struct smtp_submission {
	const char *auth_user; /* the account, lower-case */
	const char *sender;    /* envelope sender */
	const char *const *rcpts;
	size_t nrcpts;
	const char *client_ip; /* for Received: and logs */
	const char *via;       /* Received: "with" protocol, e.g. "HTTP" */
	const void *msg;       /* CRLF lines; borrowed until done is called */
	size_t len;
	bool eightbit, smtputf8;
};

/* queued: id is the queue id; otherwise code is an SMTP reply code (4xx
 * temporary, 5xx permanent) and reason says why. */
typedef void (*smtp_submit_done_fn)(void *arg, int code, const char *reason, const char *id);

/* smtp_server_submit - check now and, when the checks pass, write the
 * message on the thread pool and call done later on the loop (0 back). A
 * refusal found now is returned as its SMTP code with the reason in
 * reason[0..reasonsz), and done is not called. */
int smtp_server_submit(struct smtp_server *srv, const struct smtp_submission *sub,
    smtp_submit_done_fn done, void *arg, char *reason, size_t reasonsz);

/* smtp_server_stop - stop accepting (sessions finish on their own or by
 * conn_close_all); frees the server once no session refers to it. */
void smtp_server_stop(struct smtp_server **s);

#endif
