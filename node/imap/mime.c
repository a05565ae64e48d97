/*
 * mime.c - see mime.h. Header fields come from storage/message/header.h
 * (unfolding, RFC 2047, address lists); this file only finds part
 * boundaries (RFC 2046 §5.1.1), reads Content-* fields (RFC 2045) and
 * renders the IMAP forms (RFC 3501 §7.4.2 body, envelope).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "lib/xalloc.h"
#include "node/imap/mime.h"
#include "node/imap/session.h"
#include "storage/message/header.h"

/* first field `name` of hdr, unfolded, as a new string; NULL if absent */
static char *
hdr_get(struct slice hdr, const char *name)
{
	struct header_parser p;
	struct header_field f;
	size_t off = 0, used;
	char *val = NULL;
	int r;

	header_parser_init(&p, NULL);
	for (;;) {
		r = header_parser_feed(&p, hdr.ptr + off, hdr.len - off, &used, &f);
		off += used;
		if (r == HEADER_MORE && off >= hdr.len)
			r = header_parser_finish(&p, &f);
		if (r != HEADER_FIELD)
			break;
		if (!f.invalid && slice_eq_nocase(f.name, name)) {
			struct buf b;

			buf_init(&b, HEADER_FIELD_MAX);
			header_unfold(f.value, &b);
			val = xstrndup((char *)b.data, b.len);
			buf_fini(&b);
			break;
		}
	}
	header_parser_fini(&p);
	return val;
}

static void
lower(char *s)
{
	for (; s && *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s += 32;
}

static const char *
skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* token up to a delimiter */
static char *
take_token(const char **pp, const char *stops)
{
	const char *p = skip_ws(*pp), *st = p;
	char *t;

	while (*p && !strchr(stops, *p) && *p != ' ' && *p != '\t')
		p++;
	t = xstrndup(st, (size_t)(p - st));
	*pp = skip_ws(p);
	return t;
}

/* parameters after the value: "; a=b; c="d"" -> IMAP list text; the
 * boundary (if wanted) is returned in *boundary_out */
static char *
parse_params(const char *p, char **boundary_out)
{
	struct buf out;
	bool any = false;

	buf_init(&out, 0);
	buf_append_str(&out, "(");
	while (*p) {
		char *name, *val;

		p = skip_ws(p);
		if (*p != ';')
			break;
		p = skip_ws(p + 1);
		name = take_token(&p, "=;");
		if (*p != '=' || *name == '\0') {
			free(name);
			continue;
		}
		p = skip_ws(p + 1);
		if (*p == '"') {
			struct buf v;

			buf_init(&v, 0);
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				buf_append(&v, p, 1);
			}
			if (*p == '"')
				p++;
			val = xstrndup((char *)v.data, v.len);
			buf_fini(&v);
		} else {
			val = take_token(&p, ";");
		}
		lower(name);
		if (boundary_out && strcmp(name, "boundary") == 0 && *boundary_out == NULL)
			*boundary_out = xstrdup(val);
		if (any)
			buf_append_str(&out, " ");
		imap_out_string(&out, name, strlen(name));
		buf_append_str(&out, " ");
		imap_out_string(&out, val, strlen(val));
		any = true;
		free(name);
		free(val);
	}
	buf_append_str(&out, ")");
	if (!any) {
		buf_fini(&out);
		return NULL;
	}
	return (char *)buf_steal(&out, NULL);
}

static _Thread_local size_t nparts_total;

static struct imap_mime *parse_entity(const char *data, size_t len, int depth, bool digest);

static void
split_multipart(struct imap_mime *m, const char *boundary, int depth)
{
	size_t blen = strlen(boundary);
	const char *b = m->body.ptr, *end = b + m->body.len, *p = b;
	const char *part_start = NULL;
	bool digest = strcmp(m->subtype, "digest") == 0;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *next = eol ? eol + 1 : end;

		if ((size_t)(end - p) >= blen + 2 && p[0] == '-' && p[1] == '-' &&
		    memcmp(p + 2, boundary, blen) == 0) {
			bool closing = (size_t)(end - p) >= blen + 4 && p[blen + 2] == '-' &&
			               p[blen + 3] == '-';

			if (part_start != NULL && nparts_total < IMAP_MIME_MAX_PARTS) {
				/* the line end before the delimiter belongs to it */
				const char *pe = p;

				if (pe > part_start && pe[-1] == '\n')
					pe--;
				if (pe > part_start && pe[-1] == '\r')
					pe--;
				m->children = xrealloc(
				    m->children, (m->nchildren + 1) * sizeof(*m->children));
				m->children[m->nchildren++] = parse_entity(
				    part_start, (size_t)(pe - part_start), depth + 1, digest);
			}
			if (closing)
				return;
			part_start = next;
		}
		p = next;
	}
}

static struct imap_mime *
parse_entity(const char *data, size_t len, int depth, bool digest)
{
	struct imap_mime *m = xcalloc(1, sizeof(*m));
	size_t hdr_len, body_off;
	char *ct, *boundary = NULL;

	nparts_total++;
	if (header_find_end(data, len, &hdr_len, &body_off) != 0) {
		hdr_len = len;
		body_off = len;
	}
	m->header = (struct slice){data, hdr_len};
	m->body = (struct slice){data + body_off, len - body_off};
	ct = hdr_get(m->header, "Content-Type");
	if (ct != NULL && strchr(ct, '/') != NULL) {
		const char *p = ct;

		m->type = take_token(&p, "/;");
		if (*p == '/')
			p++;
		m->subtype = take_token(&p, ";");
		lower(m->type);
		lower(m->subtype);
		m->params = parse_params(p, &boundary);
	}
	if (m->type == NULL || *m->type == '\0' || m->subtype == NULL || *m->subtype == '\0') {
		free(m->type);
		free(m->subtype);
		free(m->params);
		m->type = xstrdup(digest ? "message" : "text");
		m->subtype = xstrdup(digest ? "rfc822" : "plain");
		m->params = digest ? NULL : xstrdup("(\"charset\" \"us-ascii\")");
	}
	free(ct);
	m->id = hdr_get(m->header, "Content-ID");
	m->desc = hdr_get(m->header, "Content-Description");
	m->enc = hdr_get(m->header, "Content-Transfer-Encoding");
	m->md5 = hdr_get(m->header, "Content-MD5");
	m->lang = hdr_get(m->header, "Content-Language");
	{
		char *d = hdr_get(m->header, "Content-Disposition");

		if (d != NULL) {
			const char *p = d;

			m->disp = take_token(&p, ";");
			m->disp_params = parse_params(p, NULL);
			free(d);
		}
	}
	for (const char *p = m->body.ptr; p < m->body.ptr + m->body.len; p++)
		if (*p == '\n')
			m->lines++;
	if (m->body.len > 0 && m->body.ptr[m->body.len - 1] != '\n')
		m->lines++;
	if (depth < IMAP_MIME_MAX_DEPTH) {
		if (strcmp(m->type, "multipart") == 0 && boundary != NULL && *boundary)
			split_multipart(m, boundary, depth);
		else if (strcmp(m->type, "message") == 0 && strcmp(m->subtype, "rfc822") == 0)
			m->message = parse_entity(m->body.ptr, m->body.len, depth + 1, false);
	}
	free(boundary);
	return m;
}

struct imap_mime *
imap_mime_parse(const char *data, size_t len)
{
	nparts_total = 0;
	return parse_entity(data, len, 0, false);
}

void
imap_mime_free(struct imap_mime **mp)
{
	struct imap_mime *m = *mp;

	if (m == NULL)
		return;
	*mp = NULL;
	for (size_t i = 0; i < m->nchildren; i++)
		imap_mime_free(&m->children[i]);
	free(m->children);
	imap_mime_free(&m->message);
	free(m->type);
	free(m->subtype);
	free(m->params);
	free(m->id);
	free(m->desc);
	free(m->enc);
	free(m->disp);
	free(m->disp_params);
	free(m->lang);
	free(m->md5);
	free(m);
}

static void
out_upper_string(struct buf *out, const char *s)
{
	char *u = xstrdup(s);

	for (char *p = u; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p -= 32;
	imap_out_string(out, u, strlen(u));
	free(u);
}

void
imap_mime_bodystructure(const struct imap_mime *m, bool ext, struct buf *out)
{
	buf_append_str(out, "(");
	if (strcmp(m->type, "multipart") == 0 && m->nchildren > 0) {
		for (size_t i = 0; i < m->nchildren; i++)
			imap_mime_bodystructure(m->children[i], ext, out);
		buf_append_str(out, " ");
		out_upper_string(out, m->subtype);
		if (ext) {
			buf_append_str(out, " ");
			buf_append_str(out, m->params ? m->params : "NIL");
			goto disp;
		}
		buf_append_str(out, ")");
		return;
	}
	out_upper_string(out, m->type);
	buf_append_str(out, " ");
	out_upper_string(out, m->subtype);
	buf_append_str(out, " ");
	buf_append_str(out, m->params ? m->params : "NIL");
	buf_append_str(out, " ");
	imap_out_nstring(out, m->id);
	buf_append_str(out, " ");
	imap_out_nstring(out, m->desc);
	buf_append_str(out, " ");
	if (m->enc)
		out_upper_string(out, m->enc);
	else
		buf_append_str(out, "\"7BIT\"");
	buf_printf(out, " %zu", m->body.len);
	if (m->message != NULL) {
		buf_append_str(out, " ");
		imap_mime_envelope(m->message->header, out);
		buf_append_str(out, " ");
		imap_mime_bodystructure(m->message, ext, out);
		buf_printf(out, " %zu", m->lines);
	} else if (strcmp(m->type, "text") == 0) {
		buf_printf(out, " %zu", m->lines);
	}
	if (!ext) {
		buf_append_str(out, ")");
		return;
	}
	buf_append_str(out, " ");
	imap_out_nstring(out, m->md5);
disp:
	buf_append_str(out, " ");
	if (m->disp) {
		buf_append_str(out, "(");
		out_upper_string(out, m->disp);
		buf_append_str(out, " ");
		buf_append_str(out, m->disp_params ? m->disp_params : "NIL");
		buf_append_str(out, ")");
	} else {
		buf_append_str(out, "NIL");
	}
	buf_append_str(out, " ");
	imap_out_nstring(out, m->lang);
	buf_append_str(out, " NIL)");
}

/* a display name with 8-bit text goes back into an RFC 2047 word, since
 * IMAP4rev1 strings in an ENVELOPE are 7-bit without UTF8=ACCEPT */
static void
out_name(struct buf *out, const char *name)
{
	bool ascii = true;

	if (name == NULL) {
		buf_append_str(out, "NIL");
		return;
	}
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p >= 0x80)
			ascii = false;
	if (ascii) {
		imap_out_string(out, name, strlen(name));
	} else {
		size_t n = strlen(name);
		char *enc = xmalloc(4 * ((n + 2) / 3) + 1);
		char *w;

		EVP_EncodeBlock((unsigned char *)enc, (const unsigned char *)name, (int)n);
		w = xasprintf("=?utf-8?b?%s?=", enc);
		imap_out_string(out, w, strlen(w));
		free(w);
		free(enc);
	}
}

static void
out_addresses(struct buf *out, struct slice hdr, const char *name, const char *fallback)
{
	char *v = hdr_get(hdr, name);
	struct header_address_list l;

	if (v == NULL && fallback != NULL)
		v = hdr_get(hdr, fallback);
	if (v == NULL) {
		buf_append_str(out, "NIL");
		return;
	}
	header_address_list_init(&l);
	(void)header_parse_addresses(slice_from_cstr(v), &l);
	if (l.n == 0) {
		buf_append_str(out, "NIL");
	} else {
		buf_append_str(out, "(");
		for (size_t i = 0; i < l.n; i++) {
			struct header_address *a = &l.v[i];

			buf_append_str(out, "(");
			if (a->kind == HEADER_ADDR_MAILBOX) {
				out_name(out, a->name);
				buf_append_str(out, " NIL ");
				imap_out_nstring(out, a->local);
				buf_append_str(out, " ");
				imap_out_nstring(out, a->domain);
			} else if (a->kind == HEADER_ADDR_GROUP_START) {
				buf_append_str(out, "NIL NIL ");
				imap_out_nstring(out, a->name ? a->name : "");
				buf_append_str(out, " NIL");
			} else {
				buf_append_str(out, "NIL NIL NIL NIL");
			}
			buf_append_str(out, ")");
		}
		buf_append_str(out, ")");
	}
	header_address_list_fini(&l);
	free(v);
}

void
imap_mime_envelope(struct slice hdr, struct buf *out)
{
	static const char *const plain1[] = {"Date", "Subject"};
	static const char *const plain2[] = {"In-Reply-To", "Message-ID"};

	buf_append_str(out, "(");
	for (size_t i = 0; i < 2; i++) {
		char *v = hdr_get(hdr, plain1[i]);

		imap_out_nstring(out, v);
		buf_append_str(out, " ");
		free(v);
	}
	out_addresses(out, hdr, "From", NULL);
	buf_append_str(out, " ");
	out_addresses(out, hdr, "Sender", "From");
	buf_append_str(out, " ");
	out_addresses(out, hdr, "Reply-To", "From");
	buf_append_str(out, " ");
	out_addresses(out, hdr, "To", NULL);
	buf_append_str(out, " ");
	out_addresses(out, hdr, "Cc", NULL);
	buf_append_str(out, " ");
	out_addresses(out, hdr, "Bcc", NULL);
	for (size_t i = 0; i < 2; i++) {
		char *v = hdr_get(hdr, plain2[i]);

		buf_append_str(out, " ");
		imap_out_nstring(out, v);
		free(v);
	}
	buf_append_str(out, ")");
}

/* header fields of hdr whose names are (not) in the list text "(A B)" */
static bool
header_fields(struct slice hdr, const char *list, size_t listlen, bool not, struct buf *out)
{
	char *names[256];
	size_t nn = 0;
	const char *p = list, *end = list + listlen;
	struct header_parser hp;
	struct header_field f;
	size_t off = 0, used;
	int r;

	while (p < end && *p == ' ')
		p++;
	if (p >= end || *p != '(')
		return false;
	p++;
	while (p < end && *p != ')') {
		const char *st;

		while (p < end && *p == ' ')
			p++;
		st = p;
		if (p < end && *p == '"') {
			st = ++p;
			while (p < end && *p != '"')
				p++;
			if (nn < 256)
				names[nn++] = xstrndup(st, (size_t)(p - st));
			if (p < end)
				p++;
			continue;
		}
		while (p < end && *p != ' ' && *p != ')')
			p++;
		if (p > st && nn < 256)
			names[nn++] = xstrndup(st, (size_t)(p - st));
	}
	if (p >= end || nn == 0) {
		for (size_t i = 0; i < nn; i++)
			free(names[i]);
		return false;
	}
	header_parser_init(&hp, NULL);
	for (;;) {
		bool in = false;

		r = header_parser_feed(&hp, hdr.ptr + off, hdr.len - off, &used, &f);
		off += used;
		if (r == HEADER_MORE && off >= hdr.len)
			r = header_parser_finish(&hp, &f);
		if (r != HEADER_FIELD)
			break;
		for (size_t i = 0; i < nn && !in; i++)
			in = slice_eq_nocase(f.name, names[i]);
		if (in != not )
			buf_append(out, f.raw.ptr, f.raw.len);
	}
	header_parser_fini(&hp);
	buf_append_str(out, "\r\n");
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	return true;
}

/* step into part k (1-based) of m, RFC 3501 §6.4.5 part numbering */
static const struct imap_mime *
part_step(const struct imap_mime *m, unsigned long k)
{
	if (m->message != NULL)
		m = m->message;
	if (strcmp(m->type, "multipart") == 0 && m->nchildren > 0)
		return k >= 1 && k <= m->nchildren ? m->children[k - 1] : NULL;
	return k == 1 ? m : NULL;
}

bool
imap_mime_section(const struct imap_mime *root, struct slice sec, struct buf *out)
{
	const struct imap_mime *m = root;
	const char *p = sec.ptr, *end = sec.ptr + sec.len;
	bool path = false;
	struct slice text;

	while (p < end && *p >= '0' && *p <= '9') {
		unsigned long k = 0;

		while (p < end && *p >= '0' && *p <= '9') {
			k = k * 10 + (unsigned long)(*p - '0');
			if (k > 100000)
				return false;
			p++;
		}
		if (k == 0)
			return false;
		if (m != NULL)
			m = part_step(m, k);
		path = true;
		if (p < end && *p == '.')
			p++;
		else
			break;
	}
	text = (struct slice){p, (size_t)(end - p)};
	if (m == NULL)
		return text.len == 0 || slice_starts_nocase(text, "HEADER") ||
		       slice_eq_nocase(text, "TEXT") || slice_eq_nocase(text, "MIME");
	if (text.len == 0) {
		if (!path)
			buf_append(out, root->header.ptr,
			    (size_t)(root->body.ptr + root->body.len - root->header.ptr));
		else
			buf_append(out, m->body.ptr, m->body.len);
		return true;
	}
	if (slice_eq_nocase(text, "MIME")) {
		if (!path)
			return false;
		buf_append(out, m->header.ptr, m->header.len);
		buf_append_str(out, "\r\n");
		return true;
	}
	/* HEADER and TEXT of a part path address the enclosed message */
	if (path) {
		if (m->message == NULL)
			return slice_starts_nocase(text, "HEADER") || slice_eq_nocase(text, "TEXT");
		m = m->message;
	}
	if (slice_eq_nocase(text, "HEADER")) {
		buf_append(out, m->header.ptr, m->header.len);
		if (m->body.ptr > m->header.ptr + m->header.len)
			buf_append(out, m->header.ptr + m->header.len,
			    (size_t)(m->body.ptr - (m->header.ptr + m->header.len)));
		return true;
	}
	if (slice_eq_nocase(text, "TEXT")) {
		buf_append(out, m->body.ptr, m->body.len);
		return true;
	}
	if (slice_starts_nocase(text, "HEADER.FIELDS.NOT "))
		return header_fields(m->header, text.ptr + 18, text.len - 18, true, out);
	if (slice_starts_nocase(text, "HEADER.FIELDS "))
		return header_fields(m->header, text.ptr + 14, text.len - 14, false, out);
	return false;
}
