/*
 * mime.h - MIME structure of a message held in memory (RFC 2045, RFC 2046,
 * RFC 2183 Content-Disposition, RFC 2231 parameter continuations and
 * charsets, RFC 3282 Content-Language, RFC 2557 Content-Location), shaped
 * for what IMAP BODYSTRUCTURE and BODY[section] need (RFC 3501).
 *
 * mime_parse builds a tree of parts over the caller's buffer: every part
 * records offsets (header, body, end) into it, never copies of content.
 * Header values that need unquoting (type, parameters, disposition) are
 * copied into the tree. The tree owns those strings and its nodes; the
 * message buffer must outlive any use of offsets.
 *
 * What real mail does and we take: LF-only line ends; missing final
 * boundary (the last part ends where its parent ends); preamble and
 * epilogue text (ignored); a multipart without a usable boundary (it gets
 * no children); unparseable Content-Type (RFC 2045 §5.2: text/plain;
 * charset=us-ascii); unquoted parameter values with spaces; comments in
 * structured fields. Limits: MIME_DEPTH_MAX nesting (deeper multipart and
 * message/rfc822 parts are leaves), MIME_PARTS_MAX parts (later parts of a
 * multipart are dropped like epilogue), MIME_BOUNDARY_MAX boundary length
 * (RFC 2046 §5.1.1; longer: unusable), MIME_PARAMS_MAX parameters per
 * field (more are ignored). Pure code, no I/O (RFC 2047/2231 charset
 * conversion may load iconv modules through header.h).
 */
#ifndef MN_STORAGE_MESSAGE_MIME_H
#define MN_STORAGE_MESSAGE_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define MIME_DEPTH_MAX 32
#define MIME_PARTS_MAX 1000
#define MIME_BOUNDARY_MAX 70
#define MIME_PARAMS_MAX 64
/* RFC 2231 §3 section numbers accepted (name*0 .. name*99). */
#define MIME_PARAM_SECTIONS_MAX 100
/* A structured MIME field longer than this is ignored (as if absent). */
#define MIME_FIELD_MAX (64 * 1024)

/*
 * A parameter as BODYSTRUCTURE shows it: name as written (case kept);
 * value unquoted. RFC 2231 continuations (name*0, name*1*, ...) are
 * merged into one parameter, named "name" when no section was encoded,
 * else "name*" with the value still in charset'lang'%XX form (as Dovecot
 * does; mime_param_decode gives UTF-8).
 */
struct mime_param {
	char *name;
	char *value;
};

struct mime_params {
	struct mime_param *v;
	size_t n;
};

struct mime_part {
	struct mime_part *parent;
	struct mime_part *next;     /* next sibling in a multipart */
	struct mime_part *children; /* multipart: its parts; message/rfc822:
	                             * the one encapsulated message */
	size_t nchildren;
	unsigned int depth; /* root 0 */

	/* Offsets into the message buffer. The header is
	 * [hdr_off, hdr_end) without the empty line, [hdr_off, body_off)
	 * with it; the body is [body_off, end). With no empty line the whole
	 * part is header and body_off == end. */
	size_t hdr_off;
	size_t hdr_end;
	size_t body_off;
	size_t end;
	size_t lines; /* LF bytes in the body (Dovecot's count) */

	/* Content-Type: never NULL; "text"/"plain" (lower case) when absent
	 * or invalid, "message"/"rfc822" in a multipart/digest. */
	char *type;
	char *subtype;
	struct mime_params params;
	bool type_default; /* no usable Content-Type field */

	char *encoding;    /* Content-Transfer-Encoding token; NULL: absent */
	char *id;          /* Content-ID, unfolded and trimmed; NULL: absent */
	char *description; /* Content-Description, likewise (not decoded) */
	char *md5;         /* Content-MD5 */
	char *location;    /* Content-Location, unfolded, WSP removed */
	char **language;   /* Content-Language tags; NULL-terminated or NULL */
	char *disposition; /* Content-Disposition type; NULL: absent */
	struct mime_params disp_params;

	/* How the part was parsed: a multipart split at its boundary, or a
	 * message/rfc822 with its encapsulated message as only child. False
	 * for a multipart without a usable boundary and for parts past
	 * MIME_DEPTH_MAX / MIME_PARTS_MAX: those are leaves, shown by their
	 * declared type only (as Dovecot does). */
	bool is_multipart;
	bool is_message;
};

/*
 * mime_parse - parse msg[0..len) (CRLF or LF) into a tree; *root_out is
 * the message itself (its header is the message header). Never fails on
 * malformed MIME; returns 0, or MN_EINVAL for a NULL msg with len > 0.
 * Free with mime_free.
 */
int mime_parse(const char *msg, size_t len, struct mime_part **root_out);
void mime_free(struct mime_part *p);

/* Parts in the tree (the root included). */
size_t mime_count_parts(const struct mime_part *p);

/*
 * mime_part_find - resolve IMAP part numbers (RFC 3501 §6.4.5) from root
 * as Dovecot does: a number selects the nth child of a multipart, or
 * must be 1 for anything else (which selects that part itself); after a
 * message/rfc822 part, a following number goes into the encapsulated
 * message. NULL when no such part. n == 0 gives root.
 */
const struct mime_part *mime_part_find(
    const struct mime_part *root, const uint32_t *nums, size_t n);

/* mime_param_get - the raw value of a parameter, name compared without
 * case ("filename" does not find "filename*"); NULL when absent. */
const char *mime_param_get(const struct mime_params *p, const char *name);

/*
 * mime_param_decode - append to out the UTF-8 value of parameter name:
 * "name*" (RFC 2231: percent-decoded and converted from its charset) is
 * preferred, else "name" with RFC 2047 encoded-words decoded (a common
 * violation for filenames). Returns 0, MN_ENOENT, or MN_ETOOBIG.
 */
int mime_param_decode(const struct mime_params *p, const char *name, struct buf *out);

/* mime_part_filename - the part's filename: disposition "filename", else
 * type "name", decoded as mime_param_decode. 0, MN_ENOENT or MN_ETOOBIG. */
int mime_part_filename(const struct mime_part *part, struct buf *out);

/*
 * Header fields of a section held in memory, in order: *pos starts at the
 * section's first byte; returns true with the field's name (trailing WSP
 * removed), its value (after the colon, folding kept) and raw (the whole
 * field with its final line end), or false at end of data or at the empty
 * line. Lines without a colon are skipped.
 */
bool mime_header_next(const char *data, size_t len, size_t *pos, struct slice *name,
    struct slice *value, struct slice *raw);

/* mime_header_get - the first field called name in data[0..len); its
 * value in *value (folding kept). false when absent. */
bool mime_header_get(const char *data, size_t len, const char *name, struct slice *value);

/*
 * Transfer decoding (RFC 2045 §6.7, §6.8) for search, BINARY and webmail.
 * Both are lenient as readers must be: base64 skips characters outside its
 * alphabet and stops at '='; quoted-printable keeps a malformed "=XY" as
 * written and drops trailing whitespace before a line end (§6.7 rule 3),
 * handles soft line breaks with CRLF or LF and keeps hard ones as written
 * (so output is never longer than input). Append to out; 0 or MN_ETOOBIG.
 */
int mime_decode_base64(struct slice in, struct buf *out);
int mime_decode_qp(struct slice in, struct buf *out);

/* mime_decode_body - decode the part's body by its Content-Transfer-Encoding
 * (base64, quoted-printable; anything else copied). */
int mime_decode_body(const struct mime_part *part, const char *msg, struct buf *out);

#endif
