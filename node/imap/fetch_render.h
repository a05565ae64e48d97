/*
 * fetch_render.h - the message-derived FETCH items of IMAP4rev1 (RFC 3501
 * §6.4.5, §7.4.2): ENVELOPE, BODY, BODYSTRUCTURE, BODY[section]<partial>
 * (also RFC822, RFC822.HEADER, RFC822.TEXT, which are BODY[], BODY[HEADER],
 * BODY[TEXT]), and the IMAP string quoting they all need.
 *
 * Pure code over a message held in memory and its MIME tree (mime.h): no
 * I/O, nothing about sessions, flags or UIDs. RFC822.SIZE is the message
 * length in bytes (the store keeps messages with CRLF line ends as SMTP
 * and APPEND deliver them; sizes and extracted bytes are the stored bytes,
 * nothing is converted).
 *
 * Output formats follow Dovecot where RFC 3501 leaves a choice (lower-case
 * defaults "text" "plain" ("charset" "us-ascii") and "7bit", all four
 * extension fields written in BODYSTRUCTURE, Content-Language as a list,
 * an empty multipart written with one empty text/plain child).
 *
 * Every render function APPENDS to out and returns 0, or MN_ETOOBIG when
 * out reaches its max (out then holds a truncated item: drop it).
 */
#ifndef MN_NODE_IMAP_FETCH_RENDER_H
#define MN_NODE_IMAP_FETCH_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "storage/message/mime.h"

/*
 * imap_quote - append s as an IMAP string: a quoted string ("..." with \"
 * and \\ escaped) when every byte is 7-bit, not NUL, CR or LF; otherwise a
 * literal "{n}\r\n" followed by the n bytes, a NUL byte sent as 0x80
 * (CHAR8 excludes NUL; Dovecot does the same, also for BODY[] data, which
 * is the caller's to write).
 */
int imap_quote(struct buf *out, struct slice s);

/* imap_nstring - as imap_quote for a NUL-terminated s; NULL writes NIL. */
int imap_nstring(struct buf *out, const char *s);

/*
 * imap_render_envelope - append the ENVELOPE of the message whose root is
 * msg_root (the tree's root, or the encapsulated message under a
 * message/rfc822 part) in RFC 3501 §7.4.2 form:
 *   ("date" "subject" (from) (sender) (reply-to) (to) (cc) (bcc)
 *    "in-reply-to" "message-id")
 * Header values are written as they appear (unfolded, trimmed, not RFC
 * 2047 decoded), NIL when the field is absent; the first occurrence of a
 * field counts. Sender and Reply-To default to From when absent or empty.
 * Addresses are (name adl mailbox host) with adl always NIL; a display
 * name that is not plain ASCII is written as RFC 2047 "=?utf-8?b?...?="
 * words (header.h hands it decoded); groups are (NIL NIL "group" NIL) ...
 * (NIL NIL NIL NIL), an unclosed group is closed. Of an address list with
 * a syntax error the addresses before it are shown; a lone local part
 * ("From: MAILER-DAEMON") gets host "MISSING_DOMAIN" (as Dovecot), so it
 * is never mistaken for a group; a list with nothing usable is NIL.
 * msg is the whole message buffer that the tree's offsets refer to.
 */
int imap_render_envelope(const struct mime_part *msg_root, const char *msg, struct buf *out);

/*
 * imap_render_bodystructure - append BODY (extended false) or
 * BODYSTRUCTURE (extended true) of the part root (normally the tree's
 * root) per the RFC 3501 §9 "body" grammar: multiparts with their
 * subtype (and params, disposition, language, location when extended),
 * text parts with lines, message/rfc822 parts with the envelope, body and
 * lines of the encapsulated message, and for extended output md5,
 * disposition, language and location for every non-multipart part.
 * Parameters are written as parsed (mime.h: RFC 2231 continuations merged,
 * "name*" values left encoded for the client).
 */
int imap_render_bodystructure(
    const struct mime_part *root, const char *msg, bool extended, struct buf *out);

/* Limits of a section spec. */
#define IMAP_SECTION_PARTS_MAX 32   /* numbers in "1.2.3..." (MIME_DEPTH_MAX) */
#define IMAP_SECTION_FIELDS_MAX 128 /* names in HEADER.FIELDS (...) */
#define IMAP_SECTION_PART_NUM_MAX 1000000

enum imap_section_kind {
	IMAP_SECTION_ALL = 0,           /* "" (whole message) or "1.2" (part body) */
	IMAP_SECTION_HEADER,            /* [part.]HEADER */
	IMAP_SECTION_HEADER_FIELDS,     /* [part.]HEADER.FIELDS (names) */
	IMAP_SECTION_HEADER_FIELDS_NOT, /* [part.]HEADER.FIELDS.NOT (names) */
	IMAP_SECTION_TEXT,              /* [part.]TEXT */
	IMAP_SECTION_MIME,              /* part.MIME (a part number is required) */
};

/*
 * A parsed section spec. fields point into the spec given to
 * imap_section_parse (the command's bytes), which must outlive it.
 */
struct imap_section {
	enum imap_section_kind kind;
	uint32_t part[IMAP_SECTION_PARTS_MAX];
	size_t nparts; /* 0: the message itself */
	struct slice fields[IMAP_SECTION_FIELDS_MAX];
	size_t nfields;
};

/*
 * imap_section_parse - parse the text between '[' and ']' of BODY[...],
 * BODY.PEEK[...] or BINARY[...] (RFC 3501 §9 section-spec; keywords in
 * any case; header names as atoms or quoted strings without escapes,
 * separated by single spaces; part numbers nonzero without leading zero).
 * The <origin.count> after ']' is not part of spec: see imap_partial_parse.
 * For BINARY (RFC 3516 section-binary) the caller also requires kind ALL.
 * Returns 0, MN_EPARSE (the client gets BAD) or MN_ELIMIT (too many
 * numbers or names: BAD too).
 */
int imap_section_parse(struct slice spec, struct imap_section *out);

/*
 * imap_section_write - append the canonical spec for the FETCH response
 * item name: "1.2.HEADER.FIELDS (FROM TO)" (keywords and header names in
 * upper case, as Dovecot answers), "" for the whole message.
 */
int imap_section_write(const struct imap_section *sec, struct buf *out);

/*
 * imap_section_extract - append the bytes of sec per RFC 3501 §6.4.5:
 *   ""            the whole message (msg[0..msg_len))
 *   HEADER        the header section with its terminating empty line
 *   HEADER.FIELDS[.NOT]  the matching (not matching) fields, names
 *                 compared case-insensitively, as they appear (folding
 *                 kept), in message order, then the empty line "\r\n"
 *                 (written even when no field matches, but not when the
 *                 header has no empty line: "no body and no blank line")
 *   TEXT          the body after the header
 *   N[.N...]      the body of that part (part 1 of a non-multipart message
 *                 is its body; a message/rfc822 part's body is the whole
 *                 encapsulated message)
 *   N.MIME        the part's MIME header with its empty line
 *   N.HEADER/.TEXT/.HEADER.FIELDS  of the message encapsulated in part N,
 *                 which must be message/rfc822
 * Part numbers are resolved as Dovecot does (mime.h mime_part_find).
 * N.MIME of a message/rfc822 part is that part's own MIME header.
 * Returns 0, or MN_ENOENT when the part does not exist or N.HEADER/.TEXT
 * names a part that is not message/rfc822 (the caller then answers with
 * an empty string "", as Dovecot does; RFC 3501 does not say), or
 * MN_ETOOBIG from out.
 */
int imap_section_extract(const struct mime_part *root, const char *msg, size_t msg_len,
    const struct imap_section *sec, struct buf *out);

/*
 * imap_section_extract_binary - BINARY[section] of RFC 3516 §4.2: sec must
 * be kind IMAP_SECTION_ALL (section-binary has part numbers only, else
 * MN_EINVAL: BAD). The whole message (no numbers) is returned as stored;
 * a part's body is decoded from its Content-Transfer-Encoding (base64,
 * quoted-printable; 7bit, 8bit, binary and absent are copied). Returns 0,
 * MN_ENOENT (no such part), MN_EPARSE for an encoding we do not know (the
 * caller answers NO [UNKNOWN-CTE]), or MN_ETOOBIG from out. BINARY.SIZE is
 * the length of what this appends.
 */
int imap_section_extract_binary(const struct mime_part *root, const char *msg, size_t msg_len,
    const struct imap_section *sec, struct buf *out);

/* A <origin.count> partial of RFC 3501 §6.4.5. */
struct imap_partial {
	uint32_t origin;
	uint32_t count; /* nonzero */
};

/*
 * imap_partial_parse - parse "<origin.count>" including the angle
 * brackets (RFC 3501 §9: number "." nz-number, each at most 2^32-1).
 * Returns 0 or MN_EPARSE.
 */
int imap_partial_parse(struct slice s, struct imap_partial *out);

/*
 * imap_partial_apply - the slice of data a partial selects: from origin
 * for at most count bytes; empty when origin is at or past the end. The
 * response item is then BODY[section]<origin> (RFC 3501 §7.4.2).
 */
struct slice imap_partial_apply(struct slice data, const struct imap_partial *p);

#endif
