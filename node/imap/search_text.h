/*
 * search_text.h - the text SEARCH BODY and TEXT look in (RFC 3501 §6.4.4:
 * "contain the specified string in the body of the message"), as a reader
 * would see it rather than as it travels: each part's Content-Transfer-
 * Encoding undone (base64, quoted-printable, RFC 2045 §6.7-8) and "text"
 * parts converted from their charset to UTF-8, so that a search for
 * "Grüße" finds it in a base64 ISO-8859-1 part.
 *
 * Which parts: every leaf of the MIME tree (storage/message/mime.h), in
 * order, separated by a line end. "text" parts (and parts without a usable
 * Content-Type, which are text/plain) are decoded and converted (an unknown
 * or absent charset leaves the decoded bytes as they are). Other leaves are
 * searched as written unless they are base64, which holds binary data
 * (images, archives) that no text search should match. An encapsulated
 * message (message/rfc822) adds its header (raw, then RFC 2047 decoded:
 * it is body text of the outer message) before its own parts. The outer
 * message's header is not body (TEXT adds it, see imap_search_header_text).
 *
 * Pure code (iconv(3) may load conversion modules), no I/O. Output is
 * bounded by out's max: decoding never grows a part, charset conversion at
 * most fourfold.
 */
#ifndef MN_NODE_IMAP_SEARCH_TEXT_H
#define MN_NODE_IMAP_SEARCH_TEXT_H

#include <stddef.h>

#include "lib/buf.h"

/* imap_search_body_text - append the searchable body text of msg[0..len)
 * (a whole message) to out. Returns 0 or MN_ETOOBIG (out holds what fit). */
int imap_search_body_text(const char *msg, size_t len, struct buf *out);

/* imap_search_header_text - append msg's header (up to the empty line),
 * one "Name: value" line per field with the value unfolded and its RFC 2047
 * encoded-words decoded. 0 or MN_ETOOBIG. */
int imap_search_header_text(const char *msg, size_t len, struct buf *out);

#endif
