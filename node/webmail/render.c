/*
 * render.c - messages as JSON for the webmail (see render.h).
 */
#include "node/webmail/render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/err.h"
#include "lib/xalloc.h"
#include "storage/message/header.h"
#include "storage/message/mime.h"

/* decoded unstructured header value (RFC 2047) or NULL when absent */
static json_t *
header_text(const char *hdr, size_t len, const char *name)
{
	struct slice v;
	struct buf b;
	json_t *j;

	if (!mime_header_get(hdr, len, name, &v))
		return json_null();
	buf_init(&b, WEBMAIL_MAX_SUBJECT * 4);
	if (header_decode_2047(v, &b) != 0) {
		buf_fini(&b);
		return json_null();
	}
	{
		struct buf u;

		/* decode_2047 keeps folding; unfold the decoded text */
		buf_init(&u, WEBMAIL_MAX_SUBJECT * 4);
		(void)header_unfold((struct slice){.ptr = (const char *)b.data, .len = b.len}, &u);
		j = json_stringn(u.len ? (const char *)u.data : "", u.len);
		buf_fini(&u);
	}
	buf_fini(&b);
	return j ? j : json_null();
}

static json_t *
addresses(const char *hdr, size_t len, const char *name)
{
	struct header_address_list l;
	struct slice v;
	json_t *arr = json_array();

	if (!mime_header_get(hdr, len, name, &v))
		return arr;
	header_address_list_init(&l);
	(void)header_parse_addresses(v, &l); /* what parsed before an error is kept */
	for (size_t i = 0; i < l.n; i++) {
		const struct header_address *a = &l.v[i];
		char *addr;

		if (a->kind != HEADER_ADDR_MAILBOX || a->local == NULL)
			continue;
		addr = a->domain ? xasprintf("%s@%s", a->local, a->domain) : xstrdup(a->local);
		json_array_append_new(
		    arr, json_pack("{s:s?, s:s}", "name", a->name, "address", addr));
		free(addr);
	}
	header_address_list_fini(&l);
	return arr;
}

static json_t *
date_of(const char *hdr, size_t len)
{
	struct slice v;
	int64_t t;

	if (!mime_header_get(hdr, len, "Date", &v) || header_parse_date(v, &t, NULL) != 0)
		return json_null();
	return json_integer((json_int_t)t);
}

json_t *
webmail_summary_json(const char *hdr, size_t len)
{
	json_t *from = addresses(hdr, len, "From");
	json_t *first =
	    json_array_size(from) > 0 ? json_incref(json_array_get(from, 0)) : json_null();

	json_t *to = addresses(hdr, len, "To");
	json_t *first_to =
	    json_array_size(to) > 0 ? json_incref(json_array_get(to, 0)) : json_null();

	json_decref(from);
	json_decref(to);
	return json_pack("{s:o, s:o, s:o, s:o}", "from", first, "to", first_to, "subject",
	    header_text(hdr, len, "Subject"), "date", date_of(hdr, len));
}

static bool
is_type(const struct mime_part *p, const char *type, const char *subtype)
{
	return strcasecmp(p->type, type) == 0 && strcasecmp(p->subtype, subtype) == 0;
}

/* decoded body of a text part as UTF-8 */
static int
part_text(const struct mime_part *p, const char *msg, struct buf *out)
{
	const char *cs = mime_param_get(&p->params, "charset");
	struct buf raw;
	int rc;

	buf_init(&raw, WEBMAIL_MAX_TEXT);
	rc = mime_decode_body(p, msg, &raw);
	if (rc == 0) {
		struct slice charset = slice_from_cstr(cs && *cs ? cs : "us-ascii");

		rc = header_charset_to_utf8(charset, raw.data, raw.len, out);
		if (rc == 1) /* unknown charset: show it as UTF-8 (bad bytes become U+FFFD) */
			rc = header_charset_to_utf8(SLICE_LIT("utf-8"), raw.data, raw.len, out);
	}
	buf_fini(&raw);
	return rc;
}

struct walk {
	const char *msg;
	const struct mime_part *text, *html;
	json_t *attachments;
};

static void
walk(struct walk *w, const struct mime_part *p, const char *num)
{
	bool attachment = p->disposition != NULL && strcasecmp(p->disposition, "attachment") == 0;

	if (p->is_multipart) {
		unsigned i = 1;

		for (const struct mime_part *c = p->children; c != NULL; c = c->next, i++) {
			char *sub = num[0] ? xasprintf("%s.%u", num, i) : xasprintf("%u", i);

			walk(w, c, sub);
			free(sub);
		}
		return;
	}
	if (!attachment && w->text == NULL && is_type(p, "text", "plain")) {
		w->text = p;
		return;
	}
	if (!attachment && w->html == NULL && is_type(p, "text", "html")) {
		w->html = p;
		return;
	}
	{
		struct buf fn;
		char *type = xasprintf("%s/%s", p->type, p->subtype);
		json_t *name;

		buf_init(&fn, 1024);
		name = mime_part_filename(p, &fn) == 0 ? json_stringn(buf_cstr(&fn), fn.len)
		                                       : json_null();
		json_array_append_new(
		    w->attachments, json_pack("{s:s, s:o, s:s, s:I}", "part", num[0] ? num : "1",
		                        "filename", name ? name : json_null(), "content_type", type,
		                        "size", (json_int_t)(p->end - p->body_off)));
		free(type);
		buf_fini(&fn);
	}
}

static int
parse_walk(const char *msg, size_t len, struct mime_part **root, struct walk *w)
{
	memset(w, 0, sizeof(*w));
	w->msg = msg;
	if (mime_parse(msg, len, root) != 0)
		return MN_EINVAL;
	w->attachments = json_array();
	walk(w, *root, "");
	return 0;
}

json_t *
webmail_message_json(const char *msg, size_t len)
{
	struct mime_part *root = NULL;
	struct walk w;
	json_t *headers, *text = json_null();
	const char *hdr;
	size_t hlen;
	bool truncated = false;

	if (parse_walk(msg, len, &root, &w) != 0)
		return NULL;
	hdr = msg + root->hdr_off;
	hlen = root->hdr_end - root->hdr_off;
	headers = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "from",
	    addresses(hdr, hlen, "From"), "to", addresses(hdr, hlen, "To"), "cc",
	    addresses(hdr, hlen, "Cc"), "bcc", addresses(hdr, hlen, "Bcc"), "reply_to",
	    addresses(hdr, hlen, "Reply-To"), "subject", header_text(hdr, hlen, "Subject"), "date",
	    date_of(hdr, hlen), "message_id", header_text(hdr, hlen, "Message-ID"));
	if (w.text != NULL) {
		struct buf b;

		buf_init(&b, WEBMAIL_MAX_TEXT);
		if (part_text(w.text, msg, &b) != 0)
			truncated = true;
		text = json_stringn(b.len ? (const char *)b.data : "", b.len);
		buf_fini(&b);
	}
	mime_free(root);
	return json_pack("{s:o, s:o, s:b, s:b, s:o}", "headers", headers, "text",
	    text ? text : json_null(), "has_html", w.html != NULL, "truncated", truncated,
	    "attachments", w.attachments);
}

int
webmail_message_html(const char *msg, size_t len, struct buf *out)
{
	struct mime_part *root = NULL;
	struct walk w;
	int rc;

	if (parse_walk(msg, len, &root, &w) != 0)
		return MN_EINVAL;
	json_decref(w.attachments);
	rc = w.html != NULL ? part_text(w.html, msg, out) : MN_ENOENT;
	mime_free(root);
	return rc;
}

char *
webmail_header_field_text(const char *hdr, size_t len, const char *name, bool with_addresses)
{
	json_t *j = header_text(hdr, len, name);
	struct buf b;

	buf_init(&b, 0);
	if (json_is_string(j))
		buf_append_str(&b, json_string_value(j));
	json_decref(j);
	if (with_addresses) {
		json_t *a = addresses(hdr, len, name);
		size_t i;
		json_t *v;

		json_array_foreach(a, i, v)
		{
			const char *nm = json_string_value(json_object_get(v, "name"));

			buf_printf(&b, " %s %s", nm ? nm : "",
			    json_string_value(json_object_get(v, "address")));
		}
		json_decref(a);
	}
	return buf_steal(&b, NULL);
}

int
webmail_message_body_text(const char *msg, size_t len, struct buf *out)
{
	struct mime_part *root = NULL;
	struct walk w;
	int rc = 0;

	if (parse_walk(msg, len, &root, &w) != 0)
		return MN_EINVAL;
	json_decref(w.attachments);
	if (w.text != NULL)
		rc = part_text(w.text, msg, out);
	if (rc == 0 && w.html != NULL) {
		buf_append_str(out, "\n");
		rc = part_text(w.html, msg, out);
	}
	mime_free(root);
	return rc;
}

int
webmail_message_part(const char *msg, size_t len, const char *num, struct buf *out, char **type_out,
    char **filename_out)
{
	uint32_t nums[MIME_DEPTH_MAX];
	size_t n = 0;
	struct mime_part *root = NULL;
	const struct mime_part *p;
	const char *s = num;
	int rc;

	*type_out = *filename_out = NULL;
	while (*s != '\0') {
		char *end;
		unsigned long v;

		if (*s < '1' || *s > '9' || n == MIME_DEPTH_MAX)
			return MN_EINVAL;
		v = strtoul(s, &end, 10);
		if (v > MIME_PARTS_MAX || (*end != '\0' && *end != '.') ||
		    (*end == '.' && end[1] == '\0'))
			return MN_EINVAL;
		nums[n++] = (uint32_t)v;
		s = *end == '.' ? end + 1 : end;
	}
	if (n == 0)
		return MN_EINVAL;
	if (mime_parse(msg, len, &root) != 0)
		return MN_EINVAL;
	p = mime_part_find(root, nums, n);
	if (p == NULL || p->is_multipart) {
		mime_free(root);
		return MN_ENOENT;
	}
	rc = mime_decode_body(p, msg, out);
	if (rc == 0) {
		struct buf fn;

		buf_init(&fn, 1024);
		*type_out = xasprintf("%s/%s", p->type, p->subtype);
		if (mime_part_filename(p, &fn) == 0)
			*filename_out = xstrndup(buf_cstr(&fn), fn.len);
		buf_fini(&fn);
	}
	mime_free(root);
	return rc;
}
