/*
 * scan.h - content scanning through an external scanner that is already
 * running: SpamAssassin's spamd (the spamc protocol, "SYMBOLS SPAMC/1.5")
 * or rspamd (its HTTP protocol, POST /checkv2 with a JSON reply).
 *
 * One scan is one TCP connection on the libuv loop (lib/conn.h): the
 * request (headers and the whole message) is written, the reply is read
 * until it is complete or the scanner closes, with a hard limit on the
 * reply size (SCAN_REPLY_MAX) and one deadline for the whole exchange
 * (connect included). The caller gets exactly one callback, unless it
 * cancels first (then none). What a result means for the message (tag,
 * Junk, quarantine, reject) is decided by antispam.c from [antispam]
 * settings (docs/anti-spam.md).
 *
 * The reply parsers are pure functions over bytes (fuzzed by
 * tests/fuzz/fuzz_spamd_reply.c and fuzz_rspamd_reply.c).
 */
#ifndef MN_NODE_ANTISPAM_SCAN_H
#define MN_NODE_ANTISPAM_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lib/err.h"

/* A scanner's reply is a few hundred bytes (rspamd's JSON with symbol
 * descriptions a few KB); more is a wrong server or an attack. */
#define SCAN_REPLY_MAX (64 * 1024)
/* Rule names kept for X-Spam-Status (whole names only). */
#define SCAN_SYMBOLS_MAX 512
/* Scores are clamped to this magnitude. */
#define SCAN_SCORE_MAX 1000000.0

enum scan_kind { SCAN_NONE = 0, SCAN_SPAMD, SCAN_RSPAMD };

struct scan_result {
	int status;      /* 0, or MN_ETIMEDOUT, MN_EIO (connect, closed early),
	                  * MN_EPARSE (bad reply), MN_ETOOBIG (reply too big) */
	bool spam;       /* the scanner's verdict (spamd "Spam: True"; rspamd
	                  * action reject, add header or rewrite subject) */
	double score;    /* the message's score */
	double required; /* the scanner's threshold */
	char action[32]; /* rspamd's action ("no action", "add header" ...); spamd: "" */
	char symbols[SCAN_SYMBOLS_MAX]; /* rule names, comma separated, may be cut */
	char reason[200];               /* status != 0: what went wrong */
};

/* scan_spamd_parse / scan_rspamd_parse - parse a reply held in p[0..len).
 * eof: the scanner closed the connection after these bytes. Returns 1 when
 * the reply is complete (out filled, out->status 0), 0 when more bytes are
 * needed (only when !eof), MN_EPARSE with out->reason when it is not a
 * reply of that protocol, its status says failure, or it ends early. */
int scan_spamd_parse(const uint8_t *p, size_t len, bool eof, struct scan_result *out);
int scan_rspamd_parse(const uint8_t *p, size_t len, bool eof, struct scan_result *out);

/* Where a scanner listens: spamd "IP:PORT" ([IPV6]:PORT), rspamd
 * "http://IP:PORT[/PATH]" (path default /checkv2). Numeric addresses
 * only: the scanner runs on a host the admin controls. */
struct scan_target {
	enum scan_kind kind;
	char ip[64];
	uint16_t port;
	char path[128];
	uint32_t timeout_ms; /* whole exchange */
};

/* scan_target_parse - 0 or MN_EINVAL with err. */
int scan_target_parse(
    enum scan_kind kind, const char *spec, struct scan_target *out, struct mn_err *err);

struct scan_request {
	const char *ip;     /* client address */
	const char *helo;   /* may be NULL */
	const char *sender; /* MAIL FROM ("" for <>) */
	const char *const *rcpts;
	size_t nrcpts;
	const char *user;      /* spamd User: (per-user preferences); may be NULL */
	const char *auth_user; /* rspamd User: the authenticated sender, or NULL */
	const char *queue_id;  /* rspamd Queue-Id; may be NULL */
	const uint8_t *head;   /* prepended to the message (our Received:) */
	size_t head_len;
	const uint8_t *msg;
	size_t len;
};

/* scan_request_build - the bytes sent to the scanner (tests). Header
 * values are cut at CR/LF (a client-chosen HELO cannot add a header). */
char *scan_request_build(
    const struct scan_target *t, const struct scan_request *req, size_t *len_out);

struct scan_job;
typedef void scan_done_fn(void *arg, const struct scan_result *r);

/* scan_start - start scanning (the request is copied); cb runs once on
 * the loop, never from inside scan_start. */
struct scan_job *scan_start(uv_loop_t *loop, const struct scan_target *t,
    const struct scan_request *req, scan_done_fn *cb, void *arg);

/* scan_cancel - cb will not run; the job frees itself once its
 * connection and timer are closed. Only before cb ran. */
void scan_cancel(struct scan_job *j);

const char *scan_kind_name(enum scan_kind k);

#endif
