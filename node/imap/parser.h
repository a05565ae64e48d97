/*
 * parser.h - incremental IMAP4rev1 command parser (RFC 3501 §9 grammar, LITERAL+
 * of RFC 7888).
 *
 * A pure state machine: no I/O, no knowledge of what a command means. Bytes
 * are fed as they arrive, in pieces of any size; the parser keeps its state
 * between calls (nginx sw_* style) and produces, per command line, the tag, the
 * command name and a generic argument tree: atoms, quoted strings, literals
 * ({N} and {N+}), NIL and parenthesized lists. Meaning (FETCH items, SEARCH
 * keys, sequence sets) is for the command code (search.h, seqset.h).
 *
 * Ownership: the parser owns the bytes of the current command (one bounded
 * buffer) and the argument array. A struct imap_cmd handed out with
 * IMAP_PARSE_DONE / _BAD / _FATAL points into them and stays valid until the
 * next imap_parser_feed(), imap_parser_reset() or imap_parser_free().
 *
 * Lexical choices (where RFC 3501 is strict and clients are not):
 *  - A line ends in CRLF; a bare LF is accepted too (Dovecot does), a CR not
 *    followed by LF is a syntax error.
 *  - Exactly one SP separates arguments; a double or trailing SP is BAD.
 *  - Atoms are RFC 3501 ATOM-CHAR plus what real arguments need: '\' (flags,
 *    "\Seen"), '%' and '*' (LIST patterns, sequence sets) and ']' (astring).
 *    Bytes >= 0x80 and CTLs are refused in atoms and tags.
 *  - An atom BODY[, BODY.PEEK[, BINARY[, BINARY.PEEK[ or BINARY.SIZE[ (any
 *    case) keeps its [section] as part of the atom, spaces, parentheses and
 *    quoted header names included, up to the matching ']' (RFC 3501 fetch-att,
 *    RFC 3516); a <partial> after it is ordinary atom text. A '[' after any
 *    other prefix is a plain atom character ("[Gmail]/Sent" is an atom).
 *  - Quoted strings allow only \" and \\ escapes (RFC 3501 quoted-specials);
 *    bytes >= 0x80 are accepted (clients send UTF-8 SEARCH strings quoted).
 *  - Literal data may not contain NUL (RFC 3501 CHAR8); literal8 (~{N}) is not
 *    supported (BAD).
 *
 * Oversized literals (RFC 3501 §7.5, RFC 7888): for a synchronizing {N} the
 * client waits for our "+", so the parser answers BAD at the end of that line
 * and nothing more arrives for that command. For a non-synchronizing {N+} the
 * client is already sending N octets; RFC 7888 leaves the server the choice to
 * read and discard them or to close. We close (IMAP_PARSE_FATAL with
 * IMAP_PERR_NONSYNC_LITERAL_TOO_BIG): discarding up to 4 GB the limit just said
 * we do not want is a free bandwidth amplifier. When a line is already BAD for
 * another reason, a following {N+} literal of at most max_literal octets IS
 * read and discarded (so its bytes are never taken as commands: no command
 * injection through literal data); a bigger one is FATAL for the same reason.
 */
#ifndef MN_NODE_IMAP_PARSER_H
#define MN_NODE_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* Limits, given at creation (Dovecot imap_parser_params, Redis pre-auth). */
struct imap_parser_limits {
	/* Non-literal bytes of one command, line terminators included, summed
	 * over the line pieces between literals. RFC 7162 §4 asks clients to
	 * keep command lines (quoted strings included, literals not) to about
	 * 8192 octets and servers to accept that much; RFC 2683 §3.2.1.5. */
	size_t max_line;
	/* Octets of one literal (RFC 3501 §4.3 allows 2^32-1; APPEND needs the
	 * message size limit, everything else far less). */
	size_t max_literal;
	/* All bytes of one command: line bytes plus literal octets. A literal
	 * header is refused when the bytes so far plus N exceed it; the line
	 * bytes still to come are checked as they arrive. */
	size_t max_command;
	/* Argument nodes of one command, list nodes included (Dovecot's
	 * list_count_limit: bounds memory before login). */
	uint32_t max_args;
	/* Nesting of parenthesized lists; RFC 3501 sets none. */
	uint32_t max_depth;
};

#define IMAP_PARSER_DEFAULT_MAX_LINE 8192
#define IMAP_PARSER_DEFAULT_MAX_LITERAL (50u * 1024 * 1024)
#define IMAP_PARSER_DEFAULT_MAX_COMMAND (IMAP_PARSER_DEFAULT_MAX_LITERAL + 65536)
#define IMAP_PARSER_DEFAULT_MAX_ARGS 1024
#define IMAP_PARSER_DEFAULT_MAX_DEPTH 16

/* imap_parser_limits_default - the values above (after login). */
void imap_parser_limits_default(struct imap_parser_limits *out);
/* imap_parser_limits_preauth - tighter values before login: 8192 line,
 * 4096 literal (a LOGIN password), 16384 command, 64 args (an RFC 2971 ID
 * list of 30 pairs), depth 1. */
void imap_parser_limits_preauth(struct imap_parser_limits *out);

enum imap_parse_result {
	IMAP_PARSE_MORE = 0, /* all input consumed, command not complete */
	IMAP_PARSE_CONTINUE, /* synchronizing literal accepted: send "+ ..." */
	IMAP_PARSE_DONE,     /* *cmd_out is a complete command */
	IMAP_PARSE_BAD,      /* recoverable: reply "TAG BAD msg" ("* BAD" when no tag);
	                      * the whole bad command has been consumed */
	IMAP_PARSE_FATAL,    /* reply "* BYE msg" and close; further feeds return FATAL */
};

enum imap_parse_error {
	IMAP_PERR_NONE = 0,
	IMAP_PERR_EMPTY_LINE,              /* BAD: "\r\n" alone (no tag) */
	IMAP_PERR_BAD_TAG,                 /* BAD: no valid tag (no tag) */
	IMAP_PERR_NO_COMMAND,              /* BAD: tag without command name */
	IMAP_PERR_BAD_COMMAND,             /* BAD: invalid character in command name */
	IMAP_PERR_SYNTAX,                  /* BAD: any other grammar violation */
	IMAP_PERR_LINE_TOO_LONG,           /* BAD: max_line */
	IMAP_PERR_TOO_MANY_ARGS,           /* BAD: max_args */
	IMAP_PERR_TOO_DEEP,                /* BAD: max_depth */
	IMAP_PERR_LITERAL_TOO_BIG,         /* BAD: {N} over max_literal; nothing sent */
	IMAP_PERR_COMMAND_TOO_BIG,         /* BAD: {N} or line bytes over max_command */
	IMAP_PERR_NONSYNC_LITERAL_TOO_BIG, /* FATAL: {N+} over a limit, client sending */
};

enum imap_arg_type {
	IMAP_ARG_ATOM,
	IMAP_ARG_QUOTED,
	IMAP_ARG_LITERAL,
	IMAP_ARG_NIL,
	IMAP_ARG_LIST,
};

struct imap_arg {
	enum imap_arg_type type;
	/* ATOM: the text; QUOTED: the value, escapes removed; LITERAL: the
	 * octets; NIL: "NIL" as sent; LIST: empty. Not NUL-terminated. */
	struct slice str;
	bool literal_plus;            /* LITERAL sent as {N+} */
	uint32_t n_children;          /* LIST: direct children */
	const struct imap_arg *child; /* LIST: first child, NULL when empty */
	const struct imap_arg *next;  /* next sibling in the same list, or NULL */
};

struct imap_cmd {
	/* Tag as sent; empty when the line had no valid tag ("* BAD"). */
	struct slice tag;
	/* Command name as sent (compare case-insensitively); empty on errors
	 * before it. "UID FETCH" is name "UID" with "FETCH" the first arg. */
	struct slice name;
	const struct imap_arg *args; /* first top-level argument or NULL */
	uint32_t n_args;             /* top-level arguments */
	uint32_t n_nodes;            /* all argument nodes */
	/* BAD / FATAL: why, and the reply text (static, no client bytes). */
	enum imap_parse_error error;
	const char *error_msg;
};

struct imap_parser;

/* imap_parser_new - a parser with these limits (copied). Never NULL. */
struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits);
/* imap_parser_free - free and set *pp to NULL; NULL is fine. */
void imap_parser_free(struct imap_parser **pp);
/* imap_parser_reset - drop any partial command (after STARTTLS). */
void imap_parser_reset(struct imap_parser *p);
/* imap_parser_set_limits - new limits (after login); only between commands,
 * i.e. after DONE/BAD or reset; returns MN_EINVAL otherwise. */
int imap_parser_set_limits(struct imap_parser *p, const struct imap_parser_limits *limits);

/*
 * imap_parser_feed - consume bytes from data[0..len). Stops at the first
 * result other than MORE and sets *consumed_out to the bytes used; the caller
 * feeds the rest (which may already hold the next command) in the next call.
 *  MORE      all len bytes consumed, need more input.
 *  CONTINUE  a {N} literal header was accepted: write "+ go ahead" and feed
 *            the literal octets (also for {0}).
 *  DONE      *cmd_out holds the command; the bytes after its line ending are
 *            not consumed.
 *  BAD       *cmd_out holds tag (maybe empty), error and error_msg; the bad
 *            command has been consumed through its end (see file comment for
 *            literals in a bad line).
 *  FATAL     *cmd_out holds error and error_msg; the connection must close.
 * cmd_out is only written for DONE, BAD and FATAL.
 */
enum imap_parse_result imap_parser_feed(struct imap_parser *p, const char *data, size_t len,
    size_t *consumed_out, struct imap_cmd *cmd_out);

/* imap_parse_error_str - short name of an error code, for logs and tests. */
const char *imap_parse_error_str(enum imap_parse_error e);

#endif
