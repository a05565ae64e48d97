/*
 * parser.h - SMTP command line parser (RFC 5321 §4.1, with the ESMTP
 * parameters of SIZE RFC 1870, 8BITMIME RFC 6152, SMTPUTF8 RFC 6531, DSN
 * RFC 3461 and AUTH RFC 4954).
 *
 * smtp_parse_command() takes ONE command line without its CRLF (framing is
 * the line reader's job) and fills a struct smtp_cmd whose slices point into
 * that line: the caller keeps the line alive while it uses the result. It is
 * a pure function: no I/O, no allocation, no state between calls. Anything
 * the session must know about the transaction (was SMTPUTF8 given on MAIL?)
 * comes in through struct smtp_parse_limits.
 *
 * The grammar is RFC 5321's, strictly, with exactly two tolerances that real
 * clients need: a space after "FROM:"/"TO:" ("MAIL FROM: <a@b>"), and
 * underscores in the HELO/EHLO name (Windows host names; Postfix accepts them
 * too). Source routes ("<@a,@b:user@d>") are accepted and ignored as RFC 5321
 * §4.1.2 and Appendix C require. BDAT is not recognised: CHUNKING is not
 * advertised.
 *
 * Every error comes with the reply to send (code, enhanced status code RFC
 * 3463, text); the strings are static.
 */
#ifndef MN_NODE_SMTP_PARSER_H
#define MN_NODE_SMTP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* RFC 5321 §4.5.3.1.4: a command line is at most 512 octets including CRLF. */
#define SMTP_LINE_MAX 512
/* Our ceiling for a configured command line limit: room for an AUTH initial
 * response (RFC 4954 §4 lets a server accept longer AUTH lines). */
#define SMTP_LINE_MAX_AUTH 4096
/* RFC 5321 §4.5.3.1.1: local part at most 64 octets. */
#define SMTP_LOCAL_MAX 64
/* RFC 5321 §4.5.3.1.2: domain at most 255 octets. */
#define SMTP_DOMAIN_MAX 255
/* RFC 5321 §4.5.3.1.3: path at most 256 octets including "<", ">" and the
 * source route. */
#define SMTP_PATH_MAX 256
/* RFC 1035 §2.3.4: a label is at most 63 octets (checked for LDH labels). */
#define SMTP_LABEL_MAX 63
/* Parameters per MAIL/RCPT: RFC 5321 sets no number; we know six MAIL and
 * two RCPT parameters and refuse duplicates, so 10 leaves room. */
#define SMTP_PARAMS_MAX 10
/* RFC 3461 §4.4: ENVID at most 100 characters (checked after xtext
 * decoding). */
#define SMTP_ENVID_MAX 100
/* RFC 4954 §4: a SASL mechanism name is 1..20 characters. */
#define SMTP_SASL_MECH_MAX 20

enum smtp_verb {
	SMTP_VERB_NONE = 0,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
};

/* A reply to send: code, enhanced status code (RFC 3463) and text. The
 * strings are static and never NULL when code != 0. */
struct smtp_status {
	int code;
	const char *enhanced;
	const char *text;
};

struct smtp_parse_limits {
	/* Longest command line in octets INCLUDING the CRLF the caller stripped
	 * (RFC 5321 §4.5.3.1.4). Clamped into [SMTP_LINE_MAX,
	 * SMTP_LINE_MAX_AUTH]; 0 means SMTP_LINE_MAX. */
	size_t max_line;
	/* Clamped to at most SMTP_LOCAL_MAX / SMTP_DOMAIN_MAX / SMTP_PATH_MAX /
	 * SMTP_PARAMS_MAX (the RFC values); 0 means the RFC value. */
	size_t max_local;
	size_t max_domain;
	size_t max_path;
	size_t max_params;
	/* Session context (not a size): the MAIL of the current transaction
	 * carried SMTPUTF8, so RCPT paths may be UTF-8 (RFC 6531 §3.4). For
	 * MAIL itself the parser looks at the command's own parameters. */
	bool txn_smtputf8;
};

/* A reverse-path or forward-path. All slices point into the line. */
struct smtp_path {
	struct slice raw;     /* from "<" to ">" inclusive */
	struct slice mailbox; /* "local@domain" with any source route removed;
	                       * empty for "<>"; "Postmaster" alone for the
	                       * special RCPT TO:<Postmaster> */
	struct slice local;   /* as written: a quoted local part keeps its
	                       * quotes and backslashes (see smtp_local_unquote) */
	struct slice domain;  /* "example.org" or "[1.2.3.4]" / "[IPv6:::1]";
	                       * empty for "<>" and bare Postmaster */
	bool null;            /* "<>" (MAIL only) */
	bool postmaster;      /* RCPT TO:<Postmaster>, RFC 5321 §4.1.1.3 */
	bool quoted;          /* local part is a quoted-string */
	bool addr_literal;    /* domain is an address literal */
	bool utf8;            /* non-ASCII in local part or domain */
	bool source_route;    /* a source route was present and stripped */
};

enum smtp_body {
	SMTP_BODY_NONE = 0, /* no BODY= parameter */
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
};

enum smtp_ret {
	SMTP_RET_NONE = 0,
	SMTP_RET_FULL,
	SMTP_RET_HDRS,
};

/* MAIL FROM parameters. xtext values are left encoded: decode with
 * smtp_xtext_decode(). */
struct smtp_mail_params {
	bool has_size;
	uint64_t size; /* RFC 1870 size-value; saturates at UINT64_MAX */
	enum smtp_body body;
	bool smtputf8;
	enum smtp_ret ret;
	bool has_envid;
	struct slice envid; /* xtext */
	bool has_auth;
	struct slice auth; /* xtext mailbox, or "<>" (RFC 4954 §5) */
};

/* RCPT TO parameters (RFC 3461 §4.1, §4.2). */
#define SMTP_NOTIFY_NEVER 0x1u
#define SMTP_NOTIFY_SUCCESS 0x2u
#define SMTP_NOTIFY_FAILURE 0x4u
#define SMTP_NOTIFY_DELAY 0x8u

struct smtp_rcpt_params {
	unsigned notify; /* 0: no NOTIFY=; else SMTP_NOTIFY_* bits */
	bool has_orcpt;
	struct slice orcpt_type; /* addr-type, e.g. "rfc822" */
	struct slice orcpt_addr; /* xtext */
};

struct smtp_cmd {
	enum smtp_verb verb;
	/* Everything after "VERB SP" (empty when there is no argument). For
	 * HELO/EHLO it is the validated domain or address literal; for VRFY,
	 * EXPN, HELP and NOOP the free-form string. */
	struct slice arg;
	struct smtp_path path;        /* MAIL, RCPT */
	struct smtp_mail_params mail; /* MAIL */
	struct smtp_rcpt_params rcpt; /* RCPT */
	struct slice auth_mech;       /* AUTH, as written (compare nocase) */
	bool has_auth_initial;
	struct slice auth_initial; /* base64 or "=" (RFC 4954 §4) */
	struct smtp_status error;  /* filled when the parse fails */
};

/* smtp_parse_limits_default - the RFC values, no SMTPUTF8 transaction. */
void smtp_parse_limits_default(struct smtp_parse_limits *lim);

/*
 * smtp_parse_command - parse one command line (without CRLF).
 *
 * Returns 0 and fills *out, or a negative code with out->error set to the
 * reply to send (out->verb is set whenever the verb was recognised):
 *   MN_ETOOBIG  500 5.5.2 line too long (the check comes first)
 *   MN_EPARSE   500 5.5.1 unrecognised command, 500 5.5.2 bad characters or
 *               bad UTF-8, 501 5.5.4 argument syntax, 501 5.1.7 bad sender
 *               address, 501 5.1.3 bad recipient address, 553 5.6.7
 *               non-ASCII address without SMTPUTF8, 555 5.5.4 unsupported
 *               parameter or BODY type (BINARYMIME needs CHUNKING)
 * lim may be NULL (defaults).
 */
int smtp_parse_command(
    const char *line, size_t len, const struct smtp_parse_limits *lim, struct smtp_cmd *out);

/* smtp_verb_name - "MAIL" etc.; "" for SMTP_VERB_NONE. */
const char *smtp_verb_name(enum smtp_verb verb);

/*
 * smtp_xtext_decode - decode RFC 3461 §4 xtext into out[0..outsz).
 * Strict: xchar is "!".."~" except "+" and "="; hexchar is "+" and two
 * UPPERCASE hex digits. Returns 0 with *len_out set, MN_EPARSE on bad
 * syntax, MN_ETOOBIG when out is too small. No NUL is written.
 */
int smtp_xtext_decode(struct slice in, char *out, size_t outsz, size_t *len_out);

/* smtp_xtext_valid - true when in is well-formed xtext. */
bool smtp_xtext_valid(struct slice in);

/* smtp_xtext_encode - append the xtext form of in (for DSN ENVID/ORCPT when
 * relaying); returns 0 or MN_ETOOBIG from the buffer. */
int smtp_xtext_encode(struct buf *out, struct slice in);

/*
 * smtp_local_unquote - the local part with quoting removed: a quoted-string
 * loses its DQUOTEs and quoted-pair backslashes; a dot-string is copied.
 * Writes at most outsz bytes; returns 0 with *len_out set or MN_ETOOBIG.
 * A buffer of SMTP_LOCAL_MAX bytes is always enough for a parsed path.
 */
int smtp_local_unquote(struct slice local, char *out, size_t outsz, size_t *len_out);

#endif
