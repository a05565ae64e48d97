/*
 * mime.h - the MIME structure of a message held in memory, enough for IMAP
 * FETCH (RFC 3501 §6.4.5, §7.4.2): BODY/BODYSTRUCTURE, ENVELOPE and
 * BODY[section] (part numbers, HEADER, HEADER.FIELDS[.NOT], TEXT, MIME).
 * RFC 2045/2046 multipart splitting by boundary lines and message/rfc822
 * nesting, bounded by IMAP_MIME_MAX_DEPTH and IMAP_MIME_MAX_PARTS.
 *
 * XXX: a stop-gap local to node/imap until node/imap/fetch_render.h (branch
 * h/mime) lands; then FETCH should render through it and this file goes.
 *
 * Ownership: a tree points into the message bytes it was parsed from,
 * which must outlive it; imap_mime_free releases the nodes.
 */
#ifndef MN_NODE_IMAP_MIME_H
#define MN_NODE_IMAP_MIME_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

#define IMAP_MIME_MAX_DEPTH 16
#define IMAP_MIME_MAX_PARTS 1000

struct imap_mime {
	struct slice header; /* fields with the line end of the last one */
	struct slice body;
	char *type, *subtype;  /* lower-case; default text/plain */
	char *params;          /* rendered IMAP list ("charset" "utf-8") or NULL */
	char *id, *desc, *enc; /* raw values or NULL (enc default 7bit) */
	char *disp, *disp_params, *lang, *md5;
	size_t lines;                /* body lines */
	struct imap_mime **children; /* multipart */
	size_t nchildren;
	struct imap_mime *message; /* message/rfc822: the enclosed message */
};

/* imap_mime_parse - parse data as a message (never fails: broken MIME
 * degrades to a single text part). */
struct imap_mime *imap_mime_parse(const char *data, size_t len);
void imap_mime_free(struct imap_mime **m);

/* append BODYSTRUCTURE (extended true) or BODY (false) of m to out */
void imap_mime_bodystructure(const struct imap_mime *m, bool extended, struct buf *out);
/* append ENVELOPE of the message whose header is hdr */
void imap_mime_envelope(struct slice hdr, struct buf *out);

/* imap_mime_section - the bytes of BODY[section] (section as written
 * between the brackets, e.g. "1.2.HEADER.FIELDS (FROM TO)") into out.
 * false: syntax error (BAD); a part that does not exist gives an empty
 * string (as Dovecot). */
bool imap_mime_section(const struct imap_mime *root, struct slice section, struct buf *out);

#endif
