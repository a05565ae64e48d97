/*
 * header.h - RFC 5322 header section: incremental field parser, unfolding,
 * end-of-header search, RFC 2047 encoded-word decoding, address lists
 * (RFC 5322 §3.4) and dates (RFC 5322 §3.3).
 *
 * Messages come from the outside world, so these parsers take what real
 * mail contains (LF-only line ends, obsolete syntax of RFC 5322 §4, raw
 * UTF-8 of RFC 6532, encoded-words that break RFC 2047's placement rules)
 * but never without a bound: every limit is in struct header_limits or a
 * named constant. No I/O, except that iconv(3) may load its conversion
 * modules. Allocation is stated per function.
 */
#ifndef MN_STORAGE_MESSAGE_HEADER_H
#define MN_STORAGE_MESSAGE_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* RFC 5322 §2.1.1: a line is at most 998 characters without its CRLF. A
 * folded field may have many lines; ours is the limit on a whole field. */
#define HEADER_LINE_MAX 998
#define HEADER_FIELD_MAX (64 * 1024)
/* Fields per header section (ours; real mail has well under 100). */
#define HEADER_FIELDS_MAX 1000
/* Whole header section (ours; Postfix's header_size_limit is 100 KiB). */
#define HEADER_SIZE_MAX (1024 * 1024)
/* RFC 2047 §2 allows 75 characters per encoded-word; real mail exceeds
 * that, so we take up to a line's worth (RFC 5322 §2.1.1). */
#define HEADER_2047_WORD_MAX 998
/* Addresses in one address-list (ours), and comment nesting depth. */
#define HEADER_ADDRESSES_MAX 10000
#define HEADER_COMMENT_DEPTH_MAX 32

struct header_limits {
	size_t max_field;  /* bytes of one field, folding included; 0: default */
	size_t max_fields; /* 0: HEADER_FIELDS_MAX */
	size_t max_size;   /* bytes of the header section; 0: HEADER_SIZE_MAX */
};

/* A field as it appeared. Slices point into the parser's buffer and are
 * valid until the next call on the parser. */
struct header_field {
	struct slice raw;   /* the whole field with its final line end */
	struct slice name;  /* before the colon, trailing WSP removed */
	struct slice value; /* after the colon up to the final line end;
	                     * folding (CRLF/LF + WSP) kept: see header_unfold */
	bool invalid;       /* no colon or a name outside ftext (RFC 5322
	                     * §3.6.8): then name is the text before the colon
	                     * (or the whole first line) and value what follows */
};

struct header_parser {
	struct header_limits lim;
	struct buf field; /* raw bytes of the current field; owned */
	size_t nfields;
	size_t total; /* header bytes consumed */
	int state;
	int error;    /* sticky error code, or 0 */
	bool pending; /* field holds complete lines, awaiting the next */
	bool handed;  /* field was returned; reset it on the next call */
	bool ended;
};

#define HEADER_MORE 0  /* all input consumed, no complete field yet */
#define HEADER_FIELD 1 /* *out holds a complete field */
#define HEADER_END 2   /* the empty line ending the section was consumed */

/* header_parser_init - lim may be NULL (defaults). The parser owns a
 * buffer of at most max_field bytes; release with header_parser_fini. */
void header_parser_init(struct header_parser *p, const struct header_limits *lim);
void header_parser_fini(struct header_parser *p);

/*
 * header_parser_feed - consume data until a field completes, the section
 * ends, or the input runs out. Returns HEADER_FIELD, HEADER_END or
 * HEADER_MORE with *consumed_out bytes used (call again with the rest), or
 * an error, which is sticky:
 *   MN_ETOOBIG  a field longer than max_field, or a section over max_size
 *   MN_ELIMIT   more than max_fields fields
 * A field is known complete only when the next line begins without WSP, so
 * the last field is returned just before HEADER_END. Line ends may be CRLF
 * or bare LF. After HEADER_END the rest of data is body: feed returns
 * HEADER_END again with *consumed_out 0.
 */
int header_parser_feed(struct header_parser *p, const char *data, size_t len, size_t *consumed_out,
    struct header_field *out);

/*
 * header_parser_finish - the input ended (a message with no empty line, or
 * no body): returns HEADER_FIELD for a last incomplete field, then
 * HEADER_END; or the sticky error.
 */
int header_parser_finish(struct header_parser *p, struct header_field *out);

/*
 * header_find_end - find the empty line that ends the header section of a
 * whole message. Returns 0 with *hdr_len_out (bytes of the fields, with the
 * last field's line end) and *body_off_out (offset of the body), or
 * MN_ENOENT when there is no empty line (then the whole input is header).
 * A message starting with an empty line has hdr_len 0.
 */
int header_find_end(const char *data, size_t len, size_t *hdr_len_out, size_t *body_off_out);

/*
 * header_unfold - append value to out with every CRLF or LF removed (RFC
 * 5322 §2.2.3: unfolding removes a CRLF followed by WSP; a line end without
 * WSP cannot occur inside a parsed field) and leading and trailing WSP
 * trimmed. Returns 0 or MN_ETOOBIG from the buffer.
 */
int header_unfold(struct slice value, struct buf *out);

/*
 * header_decode_2047 - append the text of an unstructured value (unfolded
 * or not) to out as UTF-8, decoding RFC 2047 encoded-words (B and Q;
 * charsets utf-8, us-ascii and iso-8859-1 natively, others through
 * iconv(3), with gb2312 and gbk read as their superset GB18030).
 *   - whitespace between adjacent encoded-words is dropped (§6.2), and the
 *     bytes of adjacent words in one charset are joined before conversion,
 *     so a character split across two words survives;
 *   - encoded-words are also recognised next to other text and inside
 *     quoted strings (a common violation of §5 that mail readers accept);
 *   - an RFC 2231 §5 language suffix ("utf-8*en") is ignored;
 *   - a word that does not decode, or names a charset iconv does not know,
 *     is kept as written;
 *   - bytes that are not valid UTF-8 (raw 8-bit text, bad conversions)
 *     become U+FFFD, so out always receives valid UTF-8.
 * Allocates temporary buffers bounded by the input length. Returns 0 or
 * MN_ETOOBIG from out.
 */
int header_decode_2047(struct slice in, struct buf *out);

/*
 * header_charset_to_utf8 - append p[0..n), text in the MIME charset named
 * charset, to out as UTF-8, converting as header_decode_2047 does (utf-8,
 * us-ascii and iso-8859-1 natively, others through iconv(3), gb2312/gbk
 * as GB18030; bytes that do not convert become U+FFFD). For body parts
 * (SEARCH BODY/TEXT on decoded text). Returns 0; 1 when the charset is
 * unknown or its name longer than 64 bytes (nothing appended); or
 * MN_ETOOBIG from out.
 */
int header_charset_to_utf8(struct slice charset, const void *p, size_t n, struct buf *out);

enum header_addr_kind {
	HEADER_ADDR_MAILBOX = 0,
	HEADER_ADDR_GROUP_START, /* name is the group's display name */
	HEADER_ADDR_GROUP_END,
};

/* One entry of an address list, in order; a group appears as GROUP_START,
 * its mailboxes, GROUP_END (the shape IMAP ENVELOPE needs). Strings are
 * NUL-terminated, owned by the list. */
struct header_address {
	enum header_addr_kind kind;
	char *name;   /* display name, UTF-8, RFC 2047 decoded, quotes and
	               * comments removed; NULL when absent */
	char *local;  /* local part without quoting; NULL for group markers */
	char *domain; /* domain or "[literal]"; NULL for group markers */
};

struct header_address_list {
	struct header_address *v;
	size_t n;
	size_t cap;
};

/* header_address_list_init / _fini - an empty list; fini frees all. */
void header_address_list_init(struct header_address_list *l);
void header_address_list_fini(struct header_address_list *l);

/*
 * header_parse_addresses - parse an address-list (RFC 5322 §3.4 with the
 * obsolete forms of §4.4: empty list elements, "." in display names, CFWS
 * around dots, routes in angle addresses) from a raw or unfolded value,
 * APPENDING entries to out. Returns 0, MN_EPARSE at the first syntax error
 * (entries parsed before it stay in out, so a caller can use what there
 * is), or MN_ELIMIT past HEADER_ADDRESSES_MAX entries.
 */
int header_parse_addresses(struct slice value, struct header_address_list *out);

/*
 * header_parse_date - RFC 5322 §3.3 date-time, with the obsolete forms of
 * §4.3 (2- and 3-digit years, zone names UT/GMT/EST.../military letters,
 * CFWS between tokens) and a missing zone read as +0000. The day of the
 * week, when present, must be a valid name but is not checked against the
 * date. Seconds of 60 (leap second) are accepted and count as the next
 * minute. Returns 0 with the Unix time in *time_out and the zone offset in
 * minutes east of UTC in *zone_min_out (may be NULL), or MN_EPARSE.
 */
int header_parse_date(struct slice value, int64_t *time_out, int *zone_min_out);

#endif
