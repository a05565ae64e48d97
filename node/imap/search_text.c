/*
 * search_text.c - the decoded text of search_text.h: a walk over the MIME
 * tree of the message (mime_parse, bounded by MIME_DEPTH_MAX and
 * MIME_PARTS_MAX), undoing transfer encodings with mime_decode_body and
 * converting charsets with header_charset_to_utf8.
 */
#include <string.h>

#include "lib/err.h"
#include "node/imap/search_text.h"
#include "storage/message/header.h"
#include "storage/message/mime.h"

static bool
is_type(const struct mime_part *p, const char *type)
{
	return ascii_casecmp(p->type, type) == 0;
}

static int
add_leaf(const struct mime_part *p, const char *msg, struct buf *out)
{
	const char *cs;
	struct buf dec;
	int rc;

	if (!is_type(p, "text")) {
		if (p->encoding != NULL && ascii_casecmp(p->encoding, "base64") == 0)
			return 0; /* binary: nothing a text search should see */
		return buf_append(out, msg + p->body_off, p->end - p->body_off);
	}
	/* decoding never makes a part longer (mime.h) */
	buf_init(&dec, p->end - p->body_off + 1);
	rc = mime_decode_body(p, msg, &dec);
	if (rc == 0) {
		cs = mime_param_get(&p->params, "charset");
		rc = cs == NULL
		         ? 1
		         : header_charset_to_utf8(slice_from_cstr(cs), dec.data, dec.len, out);
		if (rc == 1) /* absent or unknown charset: the bytes as they are */
			rc = buf_append(out, dec.data, dec.len);
	}
	buf_fini(&dec);
	return rc;
}

static int
add_part(const struct mime_part *p, const char *msg, struct buf *out)
{
	int rc = 0;

	if (p->is_multipart) {
		for (const struct mime_part *c = p->children; c != NULL && rc == 0; c = c->next)
			rc = add_part(c, msg, out);
		return rc;
	}
	if (p->is_message && p->children != NULL) {
		const struct mime_part *m = p->children;
		struct slice h = {msg + m->hdr_off, m->hdr_end - m->hdr_off};

		rc = buf_append(out, h.ptr, h.len);
		if (rc == 0)
			rc = buf_append(out, "\n", 1);
		if (rc == 0)
			rc = imap_search_header_text(h.ptr, h.len, out);
		return rc == 0 ? add_part(m, msg, out) : rc;
	}
	rc = add_leaf(p, msg, out);
	return rc == 0 ? buf_append(out, "\n", 1) : rc;
}

int
imap_search_body_text(const char *msg, size_t len, struct buf *out)
{
	struct mime_part *root = NULL;
	int rc;

	if (mime_parse(msg, len, &root) != 0 || root == NULL)
		return 0;
	rc = add_part(root, msg, out);
	mime_free(root);
	return rc;
}

int
imap_search_header_text(const char *msg, size_t len, struct buf *out)
{
	struct slice name, value, raw;
	struct buf u;
	size_t pos = 0;
	int rc = 0;

	/* field by field, so that text never runs from one field into the next */
	buf_init(&u, len + 1);
	while (rc == 0 && mime_header_next(msg, len, &pos, &name, &value, &raw)) {
		buf_reset(&u);
		rc = header_unfold(value, &u); /* never longer than the header */
		if (rc == 0)
			rc = buf_append(out, name.ptr, name.len);
		if (rc == 0)
			rc = buf_append(out, ": ", 2);
		if (rc == 0)
			rc = header_decode_2047((struct slice){(const char *)u.data, u.len}, out);
		if (rc == 0)
			rc = buf_append(out, "\n", 1);
	}
	buf_fini(&u);
	return rc;
}
