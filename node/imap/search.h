/*
 * search.h - IMAP SEARCH criteria (RFC 3501 §6.4.4, §9 search-key) parsed
 * into a tree, plus MODSEQ (RFC 7162 §3.4).
 *
 * Input is the argument list that imap_parser produced for the command, from
 * the first argument after "SEARCH" (for "UID SEARCH" too). An optional
 * "CHARSET x" comes first (only UTF-8 and US-ASCII); the keys that follow are
 * ANDed. The tree says what was asked, nothing is evaluated here.
 *
 * Limits: max_depth bounds the nesting of NOT, OR and parenthesised groups
 * (the parser recurses once per level); max_keys bounds the nodes; every
 * sequence set gets max_ranges (seqset.h).
 *
 * Strings (astring: atom, quoted, literal, NIL read as the text "NIL") must be
 * valid UTF-8, and 7-bit when the client said CHARSET US-ASCII. Without
 * CHARSET RFC 3501 means US-ASCII, but clients send UTF-8 without it and the
 * bytes are not ambiguous, so 8-bit UTF-8 is accepted then.
 *
 * Ownership: struct imap_search owns its nodes and sequence sets
 * (imap_search_fini); its string slices point into the imap_cmd, so the
 * command must outlive the search tree.
 */
#ifndef MN_NODE_IMAP_SEARCH_H
#define MN_NODE_IMAP_SEARCH_H

#include <stdint.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "node/imap/parser.h"
#include "node/imap/seqset.h"

enum imap_search_type {
	/* Structure */
	IMAP_SEARCH_AND, /* the top level and "( ... )"; children */
	IMAP_SEARCH_OR,  /* two children */
	IMAP_SEARCH_NOT, /* one child */
	/* Flags and states, no argument */
	IMAP_SEARCH_ALL,
	IMAP_SEARCH_ANSWERED,
	IMAP_SEARCH_DELETED,
	IMAP_SEARCH_DRAFT,
	IMAP_SEARCH_FLAGGED,
	IMAP_SEARCH_NEW,
	IMAP_SEARCH_OLD,
	IMAP_SEARCH_RECENT,
	IMAP_SEARCH_SEEN,
	IMAP_SEARCH_UNANSWERED,
	IMAP_SEARCH_UNDELETED,
	IMAP_SEARCH_UNDRAFT,
	IMAP_SEARCH_UNFLAGGED,
	IMAP_SEARCH_UNSEEN,
	/* String: str */
	IMAP_SEARCH_BCC,
	IMAP_SEARCH_BODY,
	IMAP_SEARCH_CC,
	IMAP_SEARCH_FROM,
	IMAP_SEARCH_SUBJECT,
	IMAP_SEARCH_TEXT,
	IMAP_SEARCH_TO,
	/* HEADER field-name string: header, str */
	IMAP_SEARCH_HEADER,
	/* flag-keyword atom: str */
	IMAP_SEARCH_KEYWORD,
	IMAP_SEARCH_UNKEYWORD,
	/* Internal date (BEFORE ON SINCE) or Date: header (SENT*): date */
	IMAP_SEARCH_BEFORE,
	IMAP_SEARCH_ON,
	IMAP_SEARCH_SINCE,
	IMAP_SEARCH_SENTBEFORE,
	IMAP_SEARCH_SENTON,
	IMAP_SEARCH_SENTSINCE,
	/* RFC822.SIZE: number */
	IMAP_SEARCH_LARGER,
	IMAP_SEARCH_SMALLER,
	/* seqset: message sequence numbers (bare set) or UIDs */
	IMAP_SEARCH_SEQSET,
	IMAP_SEARCH_UID,
	/* RFC 7162: number = mod-sequence-valzer; optional entry (str = flag
	 * name after "/flags/", modseq_entry type) */
	IMAP_SEARCH_MODSEQ,
};

enum imap_search_charset {
	IMAP_SEARCH_CHARSET_NONE, /* not given */
	IMAP_SEARCH_CHARSET_US_ASCII,
	IMAP_SEARCH_CHARSET_UTF8,
};

enum imap_search_modseq_entry {
	IMAP_SEARCH_MODSEQ_ENTRY_NONE, /* MODSEQ n */
	IMAP_SEARCH_MODSEQ_ENTRY_PRIV,
	IMAP_SEARCH_MODSEQ_ENTRY_SHARED,
	IMAP_SEARCH_MODSEQ_ENTRY_ALL,
};

struct imap_date {
	uint16_t year; /* 4 digits */
	uint8_t month; /* 1..12 */
	uint8_t day;   /* 1..31, valid for the month */
};

struct imap_search_key {
	enum imap_search_type type;
	struct slice str;    /* strings, KEYWORD flag, MODSEQ entry flag name */
	struct slice header; /* HEADER field name */
	struct imap_date date;
	uint64_t number; /* LARGER/SMALLER (32-bit), MODSEQ (< 2^63) */
	enum imap_search_modseq_entry modseq_entry;
	struct imap_seqset seqset;     /* SEQSET, UID */
	struct imap_search_key *child; /* AND/OR/NOT: first child */
	struct imap_search_key *next;  /* next sibling */
	uint32_t n_children;
};

struct imap_search_limits {
	uint32_t max_depth; /* NOT/OR/group nesting */
	uint32_t max_keys;  /* nodes in the tree, root included */
	size_t max_ranges;  /* per sequence set */
};

#define IMAP_SEARCH_DEFAULT_MAX_DEPTH 32
#define IMAP_SEARCH_DEFAULT_MAX_KEYS 1024

void imap_search_limits_default(struct imap_search_limits *out);

struct imap_search {
	enum imap_search_charset charset;
	struct imap_search_key *root; /* IMAP_SEARCH_AND of the top-level keys */
	/* private: nodes live in fixed blocks of 64 so that pointers stay put */
	struct imap_search_key **blocks;
	uint32_t n_blocks;
	uint32_t n_nodes;
};

/*
 * imap_search_parse - parse the keys starting at args (NULL: none). Returns 0
 * and fills *out (release with imap_search_fini), or:
 *   MN_EINVAL  unsupported CHARSET: reply
 *              "NO [BADCHARSET (US-ASCII UTF-8)] ..." (RFC 3501 §6.4.4);
 *   MN_EPARSE  syntax (unknown key, missing or bad argument, bad date,
 *              bad string): reply BAD;
 *   MN_ELIMIT  max_depth, max_keys or max_ranges: reply BAD;
 * with the reason in err (no client bytes in it); *out is then empty.
 */
int imap_search_parse(const struct imap_arg *args, const struct imap_search_limits *limits,
    struct imap_search *out, struct mn_err *err);

void imap_search_fini(struct imap_search *s);

/* imap_date_parse - RFC 3501 date-text "1-Feb-1994" / "01-Feb-1994" (month
 * any case), checked against the calendar. 0 or MN_EPARSE. */
int imap_date_parse(struct slice s, struct imap_date *out);

/* imap_search_format - append a canonical text form of the tree to b (for
 * tests and debug logs): AND(...) OR(a b) NOT(a) FROM "x" SINCE 1994-02-01
 * UID 1:4,7 MODSEQ "/flags/\Seen" all 5 ... Returns 0 or MN_ETOOBIG. */
int imap_search_format(const struct imap_search *s, struct buf *b);

#endif
