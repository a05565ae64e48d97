/*
 * session.h - what the IMAP session (session.c), the command table
 * (command_table.c) and the command files (cmd_*.c) share. Not a public
 * interface: the service is imap.h.
 *
 * Execution model. A session runs one command at a time. Commands that
 * need no mail store (CAPABILITY, NOOP before login, LOGOUT, ID, ENABLE,
 * NAMESPACE, STARTTLS) run on the loop thread. Every command that touches
 * the mail store runs whole on the libuv thread pool (uv_queue_work): the
 * store serializes its calls with one mutex and fsyncs its writes
 * (mailstore.h), so even its fast reads may wait behind another session's
 * APPEND; running them on the loop would stall every connection. While a
 * command runs the connection is paused (conn_pause), so the worker owns
 * the session's mailbox view and the parsed command (which stays valid
 * because the parser is not fed) and the loop touches neither; replies are
 * therefore in command order. The worker writes the whole response text
 * into job.out; the loop thread queues it. A big FETCH is cut into steps
 * of about IMAP_FETCH_STEP bytes: after each step the loop writes what was
 * made and queues the next step only once the output queue is below
 * IMAP_OUT_LOW (on_drain otherwise), so memory per session stays bounded.
 * LOGIN runs password_verify (slow on purpose) on the pool too.
 */
#ifndef MN_NODE_IMAP_SESSION_H
#define MN_NODE_IMAP_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "node/imap/imap.h"
#include "node/imap/parser.h"
#include "node/mailbox_events.h"
#include "storage/mailstore/mailstore.h"

#define IMAP_FETCH_STEP (256 * 1024)
#define IMAP_OUT_LOW (512 * 1024)
/* Protocol errors (BAD) in a row before "* BYE" (SPEC §10). */
#define IMAP_MAX_BAD 20
/* Login failures per connection before BYE. */
#define IMAP_MAX_AUTH_FAIL 3
/* Idle timeouts: RFC 3501 §5.4 says at least 30 minutes after login. */
#define IMAP_PREAUTH_TIMEOUT_MS (60 * 1000)
#define IMAP_AUTH_TIMEOUT_MS (30 * 60 * 1000)

#define IMAP_CAPS_COMMON                                                                           \
	"IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN "      \
	"SPECIAL-USE LIST-EXTENDED QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE CONDSTORE"

enum imap_state {
	IMAP_STATE_NOAUTH = 1u << 0,
	IMAP_STATE_AUTH = 1u << 1,
	IMAP_STATE_SELECTED = 1u << 2,
	IMAP_STATE_LOGOUT = 1u << 3,
};
#define IMAP_STATE_ANY (IMAP_STATE_NOAUTH | IMAP_STATE_AUTH | IMAP_STATE_SELECTED)
#define IMAP_STATE_LOGGED_IN (IMAP_STATE_AUTH | IMAP_STATE_SELECTED)

/* One message as this session sees it: sequence number = index + 1. */
struct imap_view_msg {
	uint32_t uid;
	bool recent; /* \Recent in this session (recent.h) */
	uint64_t modseq;
};

/* \Recent for imap_out_flags: session state, never a mailstore flag bit */
#define IMAP_FLAG_RECENT (1u << 31)

struct imap_session;
struct imap_job;

/* run_fn: on the pool for IMAP_CMD_POOL commands, else on the loop. Writes
 * the response (tagged line included) to job->out. */
typedef void (*imap_run_fn)(struct imap_session *s, struct imap_job *job);

enum imap_cmd_flags {
	IMAP_CMD_POOL = 1u << 0,       /* runs on the thread pool */
	IMAP_CMD_UID = 1u << 1,        /* allowed after "UID" */
	IMAP_CMD_WRITES = 1u << 2,     /* may change the store: reload quota and flags */
	IMAP_CMD_NO_EXPUNGE = 1u << 3, /* no EXPUNGE replies (RFC 3501 §7.4.1) */
};

struct imap_command {
	const char *name;
	unsigned states; /* enum imap_state bits */
	unsigned flags;
	imap_run_fn run;
};

const struct imap_command *imap_command_find(struct slice name);

struct imap_job {
	uv_work_t work;
	struct imap_session *s;
	const struct imap_command *cmd;
	struct imap_cmd pc;         /* the parsed command */
	const struct imap_arg *arg; /* first argument after the name (and UID) */
	bool uid;                   /* "UID xxx" */
	struct slice tag;
	struct buf out;
	bool sync;    /* report other sessions' changes before the tagged reply */
	bool more;    /* run again (FETCH in steps) */
	bool changed; /* the store changed: notify */
	/* FETCH steps: next index into the matched list */
	size_t step_pos;
	void *step_state;
	void (*step_free)(void *);
	/* LOGIN */
	char *login_user, *login_pass, *login_hash;
	char *own_tag;      /* tag kept by the job (AUTHENTICATE continuation) */
	bool login_blocked; /* node/limits said no: fail without a real check */
	bool login_ok;
};

struct imap_session {
	struct imap_server *srv;
	struct conn *c;
	struct imap_parser *parser;
	unsigned state;
	bool busy;   /* a job is on the pool */
	bool closed; /* on_close came while busy: free when the job ends */
	bool waiting_drain;
	bool idling;
	bool notified; /* another session changed this user's mailbox */
	bool starttls_pending;
	uint32_t bad_count, auth_fail;
	char *idle_tag;
	struct imap_job *job;
	/* logged in */
	char *user;
	uint32_t user_flags;
	struct mailstore_quota quota;
	struct mailbox_watch *watch;
	bool condstore; /* ENABLE CONDSTORE or a CONDSTORE-using command */
	/* selected */
	char *folder;  /* UTF-8 */
	bool readonly; /* EXAMINE */
	bool gone;     /* deleted or renamed away by another session */
	bool counted;  /* admitted by limits_conn_open: release on close */
	uint32_t uidvalidity;
	uint64_t highestmodseq;
	struct imap_view_msg *view;
	size_t nview, capview;
	/* AUTHENTICATE PLAIN waiting for the client's base64 line */
	char *auth_tag;
	/* proxy: opening the home node's session (job held, conn paused),
	 * then relaying (the relay owns the conn; freed when it is done) */
	struct proxy_open *popen;
	bool relaying;
	char *peer_ip;      /* for limits_conn_closed after the conn is gone */
	char *proxied_from; /* home side: the reached node's name */
	char *proxy_user, *proxy_home;
};

/* server internals used by commands */
struct mailstore *imap_server_store(struct imap_server *srv);
struct directory *imap_server_dir(struct imap_server *srv);
bool imap_server_has_starttls(struct imap_server *srv);
struct tls_ctx *imap_server_starttls_ctx(struct imap_server *srv);

/* --- helpers (session.c / util.c) ---------------------------------------- */

/* tagged reply "TAG OK|NO|BAD text\r\n" */
void imap_reply(struct imap_job *job, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* argument as a string (atom, quoted, literal; NIL as "NIL"); false if a list */
bool imap_arg_string(const struct imap_arg *a, struct slice *out);
/* mailbox name argument: mUTF-7 decoded to UTF-8 (NUL-terminated,
 * caller frees), "INBOX" in any case to "INBOX". NULL if not a valid name. */
char *imap_arg_mailbox(const struct imap_arg *a);
/* append a string as quoted or literal, and a mailbox name in mUTF-7 */
void imap_out_string(struct buf *out, const char *s, size_t len);
void imap_out_nstring(struct buf *out, const char *s); /* NULL -> NIL */
void imap_out_mailbox(struct buf *out, const char *utf8);
/* flags: enum mailstore_flag bits, and IMAP_FLAG_RECENT */
void imap_out_flags(struct buf *out, uint32_t flags, const char *keywords);
/* IMAP_FLAG_RECENT if the message at view index v is \Recent here, else 0 */
uint32_t imap_view_recent(const struct imap_session *s, size_t v);
/* messages of the view that are \Recent in this session */
size_t imap_view_nrecent(const struct imap_session *s);
/* flag list argument -> system flag bits + keywords (pointers into args);
 * returns false on a bad flag (\Recent or unknown \X) */
bool imap_parse_flags(const struct imap_arg *list_or_atom, uint32_t *flags_out, const char **kw_out,
    size_t *nkw_out, size_t kw_max, char *kwbuf, size_t kwbuf_len);
/* IMAP date-time "dd-Mon-yyyy hh:mm:ss +zzzz" */
void imap_out_datetime(struct buf *out, int64_t t);
int imap_parse_datetime(struct slice s, int64_t *out);

/* report EXISTS / EXPUNGE / FETCH FLAGS for changes not yet seen, refresh
 * the view (worker thread) */
void imap_sync_view(struct imap_session *s, struct buf *out, bool allow_expunge);
/* view lookups */
size_t imap_view_find(const struct imap_session *s, uint32_t uid); /* index or SIZE_MAX */
/* map a sequence-set argument to uids (ascending); *uids_out freed by caller;
 * false + BAD text in *why on error */
bool imap_set_to_uids(struct imap_session *s, const struct imap_arg *a, bool uid,
    uint32_t **uids_out, size_t *n_out, const char **why);
void imap_out_uidset(struct buf *out, const uint32_t *uids, size_t n);

/* commands */
void imap_cmd_capability(struct imap_session *s, struct imap_job *job);
void imap_cmd_noop(struct imap_session *s, struct imap_job *job);
void imap_cmd_logout(struct imap_session *s, struct imap_job *job);
void imap_cmd_id(struct imap_session *s, struct imap_job *job);
void imap_cmd_enable(struct imap_session *s, struct imap_job *job);
void imap_cmd_namespace(struct imap_session *s, struct imap_job *job);
void imap_cmd_starttls(struct imap_session *s, struct imap_job *job);
void imap_cmd_login(struct imap_session *s, struct imap_job *job);
void imap_cmd_authenticate(struct imap_session *s, struct imap_job *job);
void imap_cmd_idle(struct imap_session *s, struct imap_job *job);
void imap_cmd_select(struct imap_session *s, struct imap_job *job);
void imap_cmd_create(struct imap_session *s, struct imap_job *job);
void imap_cmd_delete(struct imap_session *s, struct imap_job *job);
void imap_cmd_rename(struct imap_session *s, struct imap_job *job);
void imap_cmd_subscribe(struct imap_session *s, struct imap_job *job);
void imap_cmd_list(struct imap_session *s, struct imap_job *job);
void imap_cmd_status(struct imap_session *s, struct imap_job *job);
void imap_cmd_append(struct imap_session *s, struct imap_job *job);
void imap_cmd_check(struct imap_session *s, struct imap_job *job);
void imap_cmd_close(struct imap_session *s, struct imap_job *job);
void imap_cmd_expunge(struct imap_session *s, struct imap_job *job);
void imap_cmd_search(struct imap_session *s, struct imap_job *job);
void imap_cmd_fetch(struct imap_session *s, struct imap_job *job);
void imap_cmd_store(struct imap_session *s, struct imap_job *job);
void imap_cmd_copy(struct imap_session *s, struct imap_job *job);
void imap_cmd_getquota(struct imap_session *s, struct imap_job *job);

#endif
