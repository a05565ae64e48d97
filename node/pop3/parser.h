/*
 * parser.h - the POP3 command line parser (RFC 1939 §3, RFC 2449 §4): a
 * pure state machine, no I/O, shared by the session, the unit tests and the
 * fuzzer. It frames lines (CRLF, a bare LF is accepted too), splits the
 * keyword and its arguments and enforces the limits below. A bad line is
 * answered by the caller with "-ERR <reason>"; the parser has already skipped
 * to the end of it (up to the LF), so the next line parses normally.
 *
 * Ownership: the parser owns its line buffer (allocated at init, freed at
 * fini). Slices in struct pop3_cmd point into it and are valid until the
 * next pop3_parser_feed call.
 */
#ifndef MN_NODE_POP3_PARSER_H
#define MN_NODE_POP3_PARSER_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

/* RFC 2449 §4: a command line is at most 255 octets including CRLF. */
#define POP3_LINE_MAX 255
/* RFC 5034 §4 keeps AUTH under the 255-octet rule, but clients with long
 * names and passwords send more, and the SASL continuation lines have no
 * such limit; this is our ceiling for AUTH lines and continuations. */
#define POP3_AUTH_LINE_MAX 4096
/* RFC 1939 §3: keywords are three or four characters. */
#define POP3_KEYWORD_MAX 4
/* The commands take at most two arguments (TOP msg n, AUTH mech resp). */
#define POP3_ARGS_MAX 2

enum pop3_parse_result {
	POP3_PARSE_MORE, /* need more bytes; everything given was consumed */
	POP3_PARSE_DONE, /* *cmd_out is one command (or one raw line) */
	POP3_PARSE_BAD,  /* a bad line was consumed; *reason_out says why */
};

struct pop3_parse_limits {
	/* longest command line including CRLF: 0 or values below
	 * POP3_LINE_MAX mean POP3_LINE_MAX, at most POP3_AUTH_LINE_MAX */
	size_t max_line;
	/* longest AUTH command and raw (SASL continuation) line including
	 * CRLF: 0 means POP3_AUTH_LINE_MAX, clamped to it */
	size_t max_auth_line;
	/* arguments per command, 0 or above POP3_ARGS_MAX mean POP3_ARGS_MAX */
	size_t max_args;
};

struct pop3_cmd {
	char keyword[POP3_KEYWORD_MAX + 1]; /* upper-cased, NUL-terminated */
	struct slice args[POP3_ARGS_MAX];
	size_t nargs;
	/* everything after the keyword and its one space: PASS takes it whole
	 * (RFC 1939 §7: the password may contain spaces) */
	struct slice rest;
	/* raw mode: the whole line without CRLF (keyword is "") */
	struct slice line;
};

struct pop3_parser {
	struct pop3_parse_limits lim;
	char *line; /* lim.max_auth_line bytes */
	size_t len;
	bool skipping; /* a line over the limit: drop bytes up to LF */
	bool raw;
};

void pop3_parser_init(struct pop3_parser *p, const struct pop3_parse_limits *lim);
void pop3_parser_fini(struct pop3_parser *p);
/* pop3_parser_set_raw - the next lines are returned whole in cmd->line
 * (SASL continuation, RFC 5034 §4), with max_auth_line as the limit. */
void pop3_parser_set_raw(struct pop3_parser *p, bool raw);
/* pop3_parser_reset - drop a partial line (after STLS, RFC 2595 §4). */
void pop3_parser_reset(struct pop3_parser *p);

/* pop3_parser_feed - consume bytes from data up to and including the end
 * of at most one line. *consumed_out is always set (even for MORE and BAD);
 * on BAD *reason_out is static text for "-ERR <reason>" (lower case, no
 * internal detail). The caller wipes the line buffer after AUTH/PASS with
 * pop3_parser_wipe. */
enum pop3_parse_result pop3_parser_feed(struct pop3_parser *p, const void *data, size_t len,
    size_t *consumed_out, struct pop3_cmd *cmd_out, const char **reason_out);
/* pop3_parser_wipe - zero the line buffer (credentials). */
void pop3_parser_wipe(struct pop3_parser *p);

#endif
