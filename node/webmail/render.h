/*
 * render.h - a stored message as the webmail shows it (JSON), through the
 * real MIME parser (storage/message/mime.h) and header decoding
 * (storage/message/header.h): RFC 2047 words, RFC 2231 file names,
 * transfer encodings and charsets all end up as UTF-8.
 *
 * Which parts are the text: the first text/plain and the first text/html
 * leaf that is not Content-Disposition: attachment. Every other leaf
 * (images, files, attached messages) is listed as an attachment with its
 * IMAP part number (RFC 3501 §6.4.5), so a later download endpoint can
 * fetch exactly that part. Pure code, no I/O: runs in the thread pool.
 */
#ifndef MN_NODE_WEBMAIL_RENDER_H
#define MN_NODE_WEBMAIL_RENDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

#define WEBMAIL_MAX_TEXT (4u << 20) /* decoded bytes of the text or HTML part shown */
#define WEBMAIL_MAX_SUBJECT 998     /* decoded bytes of a summary field (RFC 5322 line) */

/* webmail_summary_json - {"from", "to" (the first of each: {"name",
 * "address"} or null), "subject",
 * "date" (Date: as Unix time, or null)} from a header section. */
json_t *webmail_summary_json(const char *hdr, size_t len);

/* webmail_message_json - {"headers": {from, to, cc, reply_to (arrays of
 * {name, address}), subject, date, message_id}, "text": string or null,
 * "has_html": bool, "truncated": bool, "attachments": [{part, filename,
 * content_type, size}]}. */
json_t *webmail_message_json(const char *msg, size_t len);

/* webmail_message_html - the HTML part as UTF-8, appended to out: 0,
 * MN_ENOENT (no HTML part) or MN_ETOOBIG. */
int webmail_message_html(const char *msg, size_t len, struct buf *out);

/* webmail_header_field_text - the field's decoded text (RFC 2047,
 * unfolded), with_addresses: followed by each parsed name and address;
 * "" when absent. For searches. Caller frees. */
char *webmail_header_field_text(const char *hdr, size_t len, const char *name, bool with_addresses);

/* webmail_message_body_text - the text part, then the HTML part, as
 * UTF-8 appended to out (for body search). 0, MN_EINVAL or MN_ETOOBIG. */
int webmail_message_body_text(const char *msg, size_t len, struct buf *out);

/* webmail_message_part - the decoded content of the leaf part numbered
 * num ("2", "1.3": IMAP part numbers) into out, its type/subtype and file
 * name (or NULL) in *type_out / *filename_out (caller frees). 0,
 * MN_EINVAL (bad number), MN_ENOENT (no such leaf) or MN_ETOOBIG. */
int webmail_message_part(const char *msg, size_t len, const char *num, struct buf *out,
    char **type_out, char **filename_out);

#endif
