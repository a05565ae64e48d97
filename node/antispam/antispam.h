/*
 * antispam.h - the mail authentication checks the SMTP server runs on
 * inbound mail (docs/anti-spam.md): DNSBL (dnsbl.h) and SPF (spf.h) at
 * MAIL FROM, greylisting (greylist.h) at RCPT, DKIM verification (dkim.h)
 * and DMARC (dmarc.h) after DATA, the one
 * Authentication-Results header (RFC 8601) that records the results; and
 * DKIM signing of mail that authenticated users send from a local domain.
 *
 * struct antispam holds the [antispam] settings and a DNS resolver on the
 * [dns] resolvers of its own (node/delivery/dns.h). Its check functions
 * block on DNS and run on the libuv thread pool; the object is read-only
 * after antispam_new, so jobs may share it. Owner: main.c; free it only
 * after the loop has drained (no job in flight).
 */
#ifndef MN_NODE_ANTISPAM_ANTISPAM_H
#define MN_NODE_ANTISPAM_ANTISPAM_H

#include <stdbool.h>
#include <uv.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/err.h"
#include "node/antispam/dnsbl.h"
#include "node/antispam/hostcheck.h"
#include "node/antispam/scan.h"
#include "node/antispam/sendlimit.h"
#include "node/antispam/spf.h"

struct antispam;

enum antispam_action {
	ANTISPAM_ACCEPT = 0, /* deliver (the result is recorded) */
	ANTISPAM_REJECT,     /* 5xx */
	ANTISPAM_DEFER,      /* 4xx */
};

struct directory;

/* The first header line of a message that DMARC quarantined: local
 * delivery (node/delivery/local.c) stores such a message in Junk. It is
 * only ever at the very top because our own headers are put above
 * everything the client sent. */
#define ANTISPAM_JUNK_HEADER "X-Mailnode-Folder: Junk\r\n"

/* The first header line of a message held in quarantine (an SPF, DNSBL or
 * DMARC action "quarantine"): local delivery stores it in the recipient's
 * ANTISPAM_QUARANTINE_FOLDER (created on first use, not subscribed), from
 * where `mailctl quarantine release` moves it to INBOX (node/admin/
 * api_quarantine.c). */
#define ANTISPAM_QUARANTINE_HEADER "X-Mailnode-Folder: Quarantine\r\n"
#define ANTISPAM_QUARANTINE_FOLDER "Quarantine"

/* antispam_new - dir: DKIM signing keys (read from the thread pool; the
 * directory's SQLite handle is serialised). */
int antispam_new(uv_loop_t *loop, const struct mn_config *cfg, struct directory *dir,
    struct antispam **out, struct mn_err *err);
void antispam_free(struct antispam **a);

/* antispam_spf_enabled - [antispam] spf = yes. */
bool antispam_spf_enabled(const struct antispam *a);

/* antispam_spf_check - blocking SPF check (thread pool). */
void antispam_spf_check(struct antispam *a, const char *ip, const char *helo, const char *sender,
    struct spf_outcome *out);

/* antispam_spf_action - what [antispam] spf_* says to do with res. */
enum antispam_action antispam_spf_action(const struct antispam *a, enum spf_result res);

/* antispam_spf_reply - the SMTP reply line (no CRLF) for a refused or
 * deferred sender, e.g. "550 5.7.23 <a@b.test>: Sender address rejected:
 * SPF fail: 192.0.2.1 is not allowed to send mail for b.test"
 * (RFC 7372 §3.2 codes). */
void antispam_spf_reply(const struct spf_outcome *o, const char *sender, enum antispam_action act,
    char *out, size_t outsz);

/* antispam_ar_spf - append the spf part of Authentication-Results,
 * "spf=RESULT (reason) smtp.mailfrom=SENDER" (or smtp.helo=HELO). */
void antispam_ar_spf(
    struct buf *b, const struct spf_outcome *o, const char *sender, const char *helo);

/* --- DNSBL (at MAIL FROM, once per session) and greylisting (at RCPT) ----- */

/* antispam_dnsbl_enabled - [antispam] dnsbl_zones is set. */
bool antispam_dnsbl_enabled(const struct antispam *a);
/* antispam_dnsbl_check - blocking (thread pool). */
void antispam_dnsbl_check(struct antispam *a, const char *ip, struct dnsbl_outcome *out);
/* antispam_dnsbl_rejects - a listed client is refused (dnsbl_action). */
bool antispam_dnsbl_rejects(const struct antispam *a, const struct dnsbl_outcome *o);
/* antispam_dbl_enabled - [antispam] dbl_zones is set. */
bool antispam_dbl_enabled(const struct antispam *a);
/* antispam_dbl_check - the domain of sender (MAIL FROM; the null sender is
 * never listed) in the domain lists; blocking (thread pool). */
void antispam_dbl_check(struct antispam *a, const char *sender, struct dnsbl_outcome *out);
/* antispam_dbl_reply - "554 5.7.1 <SENDER>: Sender address rejected:
 * domain D is listed in ZONE[; TEXT]". Refused when
 * antispam_dnsbl_rejects(a, o) (dnsbl_action applies to both). */
void antispam_dbl_reply(const struct dnsbl_outcome *o, const char *sender, char *out, size_t outsz);
/* antispam_dnsbl_reply - "554 5.7.1 Service unavailable; Client host [IP]
 * blocked using ZONE[; TEXT]" (no CRLF). */
void antispam_dnsbl_reply(const struct dnsbl_outcome *o, const char *ip, char *out, size_t outsz);

/* --- PTR and HELO checks ([antispam] ptr_check, helo_check) ---------------- */

enum antispam_host_action {
	ANTISPAM_HOST_OFF = 0,
	ANTISPAM_HOST_LOG,
	ANTISPAM_HOST_TAG,    /* X-Mailnode-Host-Check: header */
	ANTISPAM_HOST_REJECT, /* 550 at MAIL FROM */
};

struct antispam_host {
	bool ptr_checked, helo_checked;
	struct hostcheck_outcome ptr, helo;
};

/* antispam_host_enabled - ptr_check or helo_check is not off. */
bool antispam_host_enabled(const struct antispam *a);
/* antispam_host_check - blocking (thread pool); logs the results. */
void antispam_host_check(
    struct antispam *a, const char *ip, const char *helo, struct antispam_host *out);
/* antispam_host_rejects - a failed check whose action is reject: true and
 * the reply line (no CRLF) in out. */
bool antispam_host_rejects(const struct antispam *a, const struct antispam_host *h, const char *ip,
    char *out, size_t outsz);

/* --- sender lists ([antispam] sender_block, sender_allow) ----------------- */

enum antispam_list {
	ANTISPAM_LIST_NONE = 0,
	ANTISPAM_LIST_ALLOW, /* skip the checks */
	ANTISPAM_LIST_BLOCK, /* refuse at MAIL FROM */
};

/* antispam_sender_list - where sender (MAIL FROM, lower case; "" for the
 * null sender, never listed) stands: an exact address entry decides before
 * an @domain entry; at the same level block wins. a may be NULL. */
enum antispam_list antispam_sender_list(const struct antispam *a, const char *sender);

/* antispam_rcpt_list - where sender stands for one local recipient (a
 * user's address): the user's own sender_block / sender_allow
 * preferences, then the user's contacts (allowed), then the recipient
 * domain's preferences. On the loop (directory reads). */
enum antispam_list antispam_rcpt_list(struct antispam *a, const char *rcpt, const char *sender);

/* antispam_sendlimit_override - a sendlimit_override_fn (sendlimit.h) on
 * the directory (arg): the user's or domain's preferences
 * send_messages_per_hour, send_recipients_per_hour, send_messages_per_day,
 * send_recipients_per_day replace the node's caps ("0": unlimited;
 * absent: the node's). */
void antispam_sendlimit_override(
    void *dir, enum sendlimit_scope scope, const char *key, struct sendlimit_caps *caps);

/* antispam_list_check - the same rules on given lists (addresses and
 * @domains separated by commas, blanks or line ends; NULL: empty). */
enum antispam_list antispam_list_check(const char *block, const char *allow, const char *sender);

/* antispam_greylist_enabled - [antispam] greylist = yes. */
bool antispam_greylist_enabled(const struct antispam *a);
/* antispam_greylist - on the loop: 0 pass, 1 defer with *wait_ms_out. */
int antispam_greylist(struct antispam *a, const char *ip, const char *sender, const char *rcpt,
    uint64_t *wait_ms_out);

/* --- content scanning ([antispam] spamd_address / rspamd_url) ------------ */

/* antispam_scan_enabled - a scanner is configured. */
bool antispam_scan_enabled(const struct antispam *a);
/* antispam_scan_target - where it listens (kind SCAN_NONE when off). */
const struct scan_target *antispam_scan_target(const struct antispam *a);
/* antispam_scan_outbound - mail of authenticated users is scanned too. */
bool antispam_scan_outbound(const struct antispam *a);
/* antispam_scan_max_size - larger messages are not scanned. */
uint64_t antispam_scan_max_size(const struct antispam *a);

/* antispam_tag_subject - put tag and a space in front of the value of
 * msg's first Subject field (a header line, not a continuation), or add
 * "Subject: TAG" on top when there is none; in place. 0, or MN_ETOOBIG
 * when msg cannot grow (left unchanged). */
int antispam_tag_subject(struct buf *msg, const char *tag);

/* --- after DATA ---------------------------------------------------------- */

struct antispam_msg {
	/* in */
	bool inbound;         /* MX listener, not authenticated: verify, DMARC */
	bool authenticated;   /* an authenticated user sends: DKIM-sign */
	const char *hostname; /* authserv-id of Authentication-Results */
	const char *sender, *helo;
	bool spf_checked;
	const struct spf_outcome *spf;
	const struct dnsbl_outcome *dnsbl; /* a listed client to tag, or NULL */
	const struct dnsbl_outcome *dbl;   /* a listed sender domain, or NULL */
	const struct antispam_host *host;  /* PTR/HELO results to tag, or NULL */
	const struct scan_result *scan;    /* the content scan, or NULL: not scanned */
	/* some recipients' own lists (or contacts) allow the sender: build
	 * allowed_prefix too; a content-scan refusal becomes a quarantine */
	bool some_allowed;
	const uint8_t *msg;
	size_t len;
	/* out */
	struct buf prefix;         /* header fields to put above the message; the
	                            * caller initialises and finishes it */
	struct buf allowed_prefix; /* some_allowed: the same for the recipients
	                            * that allow the sender (no DNSBL, DBL or
	                            * X-Spam tags, only the SPF/DMARC/attachment
	                            * folder); caller-owned like prefix */
	enum antispam_action action;
	char reply[400];         /* the SMTP reply when action is not ACCEPT */
	bool junk;               /* DMARC quarantine: prefix starts with ANTISPAM_JUNK_HEADER */
	bool quarantine;         /* held: prefix starts with ANTISPAM_QUARANTINE_HEADER */
	const char *subject_tag; /* spam delivered: put this in front of its
	                          * Subject (antispam_tag_subject), or NULL */
};

/* antispam_wants_message - whether antispam_message has work for a
 * message of this session. */
bool antispam_wants_message(const struct antispam *a, bool inbound, bool authenticated);

/* antispam_message - sign or check one message (blocking: thread pool). */
void antispam_message(struct antispam *a, struct antispam_msg *m);

/* antispam_strip_forged_ar - remove from msg's header section every
 * Authentication-Results field whose authserv-id is hostname (RFC 8601
 * §5: results claiming to be ours that we did not add); the message is
 * compacted in place and *len updated. Returns the number removed. */
size_t antispam_strip_forged_ar(uint8_t *msg, size_t *len, const char *hostname);

/* antispam_from_domain - the domain of the single From mailbox of msg
 * (lower case) into out; "" when there is not exactly one. */
void antispam_from_domain(const uint8_t *msg, size_t len, char *out, size_t outsz);

#endif
