/*
 * compose.h - a message the webmail writes (send, draft) as RFC 5322 text
 * with MIME (RFC 2045, 2046): UTF-8 header text as RFC 2047 encoded-words
 * (subject, display names), text parts quoted-printable when not plain
 * 7-bit, attachments base64 with their file name both as an RFC 2231
 * filename* parameter and as an RFC 2047 name= for older readers; plain
 * text alone, or text + HTML as multipart/alternative, inside a
 * multipart/mixed when there are attachments. Lines end in CRLF.
 *
 * The inputs are checked by the caller (webmail_compose_check_* helpers
 * here): no CR/LF or other control characters in header text, addresses
 * of the form local@domain. Pure code: runs on the thread pool.
 */
#ifndef MN_NODE_WEBMAIL_COMPOSE_H
#define MN_NODE_WEBMAIL_COMPOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define WEBMAIL_MAX_RCPTS 100            /* to + cc + bcc of one message */
#define WEBMAIL_MAX_BODY_TEXT (2u << 20) /* text or HTML of a composed message */
#define WEBMAIL_MAX_ATTACH (10u << 20)   /* decoded bytes of all attachments */
#define WEBMAIL_MAX_ATTACH_COUNT 20
#define WEBMAIL_MAX_FILENAME 255 /* bytes of UTF-8 */
#define WEBMAIL_MAX_HEADER_TEXT 998
#define WEBMAIL_MAX_NAME 256 /* display name (the admin API's limit) */

struct webmail_addr {
	char *name; /* display name (UTF-8) or NULL */
	char *address;
};

struct webmail_attachment {
	char *filename;     /* UTF-8 */
	char *content_type; /* type/subtype */
	uint8_t *data;
	size_t len;
};

struct webmail_compose {
	struct webmail_addr from;
	struct webmail_addr *to, *cc, *bcc;
	size_t nto, ncc, nbcc;
	bool write_bcc; /* drafts keep Bcc; sent mail never shows it */
	char *subject;
	char *text;                     /* always present ("" allowed) */
	char *html;                     /* NULL: plain text only */
	char *in_reply_to, *references; /* message ids as written, or NULL */
	struct webmail_attachment *att;
	size_t natt;
	const char *hostname; /* right side of the Message-ID */
	int64_t date;         /* Unix seconds */
};

void webmail_compose_fini(struct webmail_compose *c);

/* webmail_parse_addr - "addr", "Name <addr>" or "\"Name\" <addr>" into a;
 * 0 or MN_EINVAL (no '@', bad characters, too long). */
int webmail_parse_addr(const char *s, struct webmail_addr *a);
/* webmail_header_text_ok - UTF-8 without control characters, at most max
 * bytes (subjects, names, file names). */
bool webmail_header_text_ok(const char *s, size_t max);

/* webmail_compose_build - the message appended to dst (CRLF);
 * message_id_out (may be NULL) gets "<...@hostname>" (caller frees). 0,
 * or MN_ETOOBIG when it does not fit dst's max (nothing appended). */
int webmail_compose_build(const struct webmail_compose *c, struct buf *dst, char **message_id_out);

/* webmail_encode_word - s as RFC 2047 B encoded-words (UTF-8) when it is
 * not plain printable ASCII, else as is; appended to out. */
void webmail_encode_word(const char *s, struct buf *out);

/* webmail_content_disposition - the value of a Content-Disposition
 * header for a download: attachment; filename="ASCII fallback";
 * filename*=UTF-8''percent-encoded (RFC 6266, RFC 8187). */
char *webmail_content_disposition(const char *filename);

#endif
