/*
 * compose.c - writes the webmail's outgoing messages and drafts (see
 * compose.h): RFC 5322 header fields, RFC 2047 encoded-words for UTF-8
 * text, RFC 2045 quoted-printable and base64, RFC 2046 multiparts, RFC
 * 2231 / RFC 8187 file names. Every line it writes is under 998 bytes
 * (encoded-words and folded address lists keep header lines short; text
 * bodies are quoted-printable with soft breaks at 76).
 */
#include "node/webmail/compose.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/err.h"
#include "lib/utf8.h"
#include "lib/xalloc.h"

void
webmail_compose_fini(struct webmail_compose *c)
{
	struct webmail_addr *lists[3] = {c->to, c->cc, c->bcc};
	size_t ns[3] = {c->nto, c->ncc, c->nbcc};

	for (int l = 0; l < 3; l++) {
		for (size_t i = 0; i < ns[l]; i++) {
			free(lists[l][i].name);
			free(lists[l][i].address);
		}
		free(lists[l]);
	}
	free(c->from.name);
	free(c->from.address);
	free(c->subject);
	free(c->text);
	free(c->html);
	free(c->in_reply_to);
	free(c->references);
	for (size_t i = 0; i < c->natt; i++) {
		free(c->att[i].filename);
		free(c->att[i].content_type);
		free(c->att[i].data);
	}
	free(c->att);
	memset(c, 0, sizeof(*c));
}

bool
webmail_header_text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max || !utf8_valid(s, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* an address we write into headers and the envelope: printable ASCII or
 * UTF-8 (SMTPUTF8), no spaces, quotes, brackets, commas or semicolons,
 * exactly one '@' with something on both sides */
static bool
addr_ok(const char *a)
{
	size_t n = strlen(a);
	const char *at = strchr(a, '@');

	if (n < 3 || n > 254 || at == NULL || at == a || at[1] == '\0' || strchr(at + 1, '@'))
		return false;
	if (!utf8_valid(a, n))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];

		if (c <= 0x20 || c == 0x7f || strchr("<>()[]\\,;:\"", c) != NULL)
			return false;
	}
	return true;
}

static char *
trim_dup(const char *s, size_t n)
{
	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return xstrndup(s, n);
}

int
webmail_parse_addr(const char *s, struct webmail_addr *a)
{
	const char *lt = strrchr(s, '<');
	char *addr, *name = NULL;

	memset(a, 0, sizeof(*a));
	if (!webmail_header_text_ok(s, 512))
		return MN_EINVAL;
	if (lt != NULL) {
		const char *gt = strchr(lt, '>');

		if (gt == NULL || gt[1] != '\0')
			return MN_EINVAL;
		addr = trim_dup(lt + 1, (size_t)(gt - lt - 1));
		name = trim_dup(s, (size_t)(lt - s));
		if (name[0] == '"' && strlen(name) >= 2 && name[strlen(name) - 1] == '"') {
			char *q = xstrndup(name + 1, strlen(name) - 2);

			free(name);
			name = q;
		}
		if (name[0] == '\0' || strchr(name, '"') != NULL || strchr(name, '\\') != NULL) {
			/* an empty name is none; quotes inside would need
			 * escaping we do not want to guess at */
			bool empty = name[0] == '\0';

			free(name);
			name = NULL;
			if (!empty) {
				free(addr);
				return MN_EINVAL;
			}
		}
	} else {
		addr = trim_dup(s, strlen(s));
	}
	if (!addr_ok(addr)) {
		free(addr);
		free(name);
		return MN_EINVAL;
	}
	{
		/* the domain is case-insensitive: lower-case it */
		char *at = strrchr(addr, '@');

		for (char *p = at; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	}
	a->address = addr;
	a->name = name;
	return 0;
}

static bool
plain_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static void
b64_append(struct buf *out, const uint8_t *p, size_t n)
{
	char tmp[4 * 48 / 3 + 4];

	while (n > 0) {
		size_t k = n < 48 ? n : 48;
		int m = EVP_EncodeBlock((unsigned char *)tmp, p, (int)k);

		buf_append(out, tmp, (size_t)m);
		p += k;
		n -= k;
	}
}

void
webmail_encode_word(const char *s, struct buf *out)
{
	size_t n = strlen(s), i = 0;
	bool first = true;
	/* long words that would need folding are encoded too: an
	 * encoded-word per 45 input bytes keeps every line short */
	bool ascii = plain_ascii(s) && n <= 60 && strstr(s, "=?") == NULL;

	if (ascii) {
		buf_append(out, s, n);
		return;
	}
	while (i < n) {
		size_t k = 0;

		/* at most 45 bytes per word, never splitting a character
		 * (RFC 2047 §5: each word decodes on its own) */
		while (i + k < n) {
			size_t l = utf8_seq_len((const uint8_t *)s + i + k, n - i - k);

			if (l == 0)
				l = 1;
			if (k + l > 45)
				break;
			k += l;
		}
		if (!first)
			buf_append_str(out, "\r\n ");
		buf_append_str(out, "=?UTF-8?B?");
		b64_append(out, (const uint8_t *)s + i, k);
		buf_append_str(out, "?=");
		first = false;
		i += k;
	}
}

/* a display name: as is when it is only atext and spaces, quoted when it
 * has specials, encoded when it has anything beyond ASCII */
static void
name_append(const char *name, struct buf *out)
{
	bool atoms = true;

	if (!plain_ascii(name) || strlen(name) > 60) {
		webmail_encode_word(name, out);
		return;
	}
	for (const char *p = name; *p; p++)
		if (strchr("()<>[]:;@\\,.\"", *p) != NULL)
			atoms = false;
	if (atoms)
		buf_append_str(out, name);
	else
		buf_printf(out, "\"%s\"", name); /* parse_addr refused '"' and '\' */
}

static void
addr_append(const struct webmail_addr *a, struct buf *out)
{
	if (a->name != NULL && *a->name != '\0') {
		name_append(a->name, out);
		buf_printf(out, " <%s>", a->address);
	} else {
		buf_append_str(out, a->address);
	}
}

static void
addr_field(const char *field, const struct webmail_addr *v, size_t n, struct buf *out)
{
	if (n == 0)
		return;
	buf_printf(out, "%s: ", field);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_append_str(out, ",\r\n\t");
		addr_append(&v[i], out);
	}
	buf_append_str(out, "\r\n");
}

static bool
needs_qp(const char *s)
{
	size_t col = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\n') {
			col = 0;
			continue;
		}
		if (c >= 0x80 || (c < 0x20 && c != '\t' && c != '\r') || ++col > 76)
			return true;
	}
	return false;
}

/* text as CRLF lines (lone LF and CR become CRLF) */
static void
crlf_append(const char *s, struct buf *out)
{
	for (; *s; s++) {
		if (*s == '\r') {
			buf_append_str(out, "\r\n");
			if (s[1] == '\n')
				s++;
		} else if (*s == '\n') {
			buf_append_str(out, "\r\n");
		} else {
			buf_append(out, s, 1);
		}
	}
}

/* RFC 2045 §6.7 quoted-printable with CRLF line breaks kept as hard breaks */
static void
qp_append(const char *s, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char enc[3];
		size_t w;

		if (c == '\r' || c == '\n') {
			if (c == '\r' && s[1] == '\n')
				s++;
			buf_append_str(out, "\r\n");
			col = 0;
			continue;
		}
		/* trailing blanks before a line end are encoded (rule 3); '='
		 * and anything outside printable ASCII always */
		if (c == '=' || c > 0x7e || (c < 0x20 && c != '\t') ||
		    ((c == ' ' || c == '\t') && (s[1] == '\0' || s[1] == '\r' || s[1] == '\n')) ||
		    (c == '.' && col == 0)) {
			enc[0] = '=';
			enc[1] = hex[c >> 4];
			enc[2] = hex[c & 15];
			w = 3;
		} else {
			enc[0] = (char)c;
			w = 1;
		}
		if (col + w > 75) {
			buf_append_str(out, "=\r\n");
			col = 0;
		}
		buf_append(out, enc, w);
		col += w;
	}
	buf_append_str(out, "\r\n");
}

static void
text_part(const char *subtype, const char *s, struct buf *out)
{
	buf_printf(out, "Content-Type: text/%s; charset=utf-8\r\n", subtype);
	if (needs_qp(s)) {
		buf_append_str(out, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
		qp_append(s, out);
	} else {
		buf_append_str(out, "Content-Transfer-Encoding: 7bit\r\n\r\n");
		crlf_append(s, out);
		buf_append_str(out, "\r\n");
	}
}

static void
new_boundary(char out[40])
{
	uint8_t r[12];
	static const char hex[] = "0123456789abcdef";

	RAND_bytes(r, sizeof(r));
	memcpy(out, "=_mn_", 5);
	for (size_t i = 0; i < sizeof(r); i++) {
		out[5 + 2 * i] = hex[r[i] >> 4];
		out[6 + 2 * i] = hex[r[i] & 15];
	}
	out[5 + 2 * sizeof(r)] = '\0';
}

/* RFC 2231 §4: charset''%XX for everything outside attribute-char */
static void
pct_append(const char *s, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("!#$&+-.^_`|~", c) != NULL)
			buf_append(out, s, 1);
		else
			buf_printf(out, "%%%c%c", hex[c >> 4], hex[c & 15]);
	}
}

/* printable ASCII without quotes or backslashes for a quoted-string */
static char *
ascii_fallback(const char *s)
{
	size_t n = strlen(s);
	char *o = xmalloc(n + 1);
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x80) {
			/* one '_' per character, not per byte */
			size_t l = utf8_seq_len((const uint8_t *)s + i, n - i);

			o[k++] = '_';
			i += (l ? l : 1) - 1;
		} else if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			o[k++] = (char)c;
		} else {
			o[k++] = '_';
		}
	}
	o[k] = '\0';
	return o;
}

char *
webmail_content_disposition(const char *filename)
{
	struct buf b;
	char *fb = ascii_fallback(filename);

	buf_init(&b, 0);
	buf_printf(&b, "attachment; filename=\"%s\"", fb);
	if (!plain_ascii(filename) || strcmp(fb, filename) != 0) {
		buf_append_str(&b, "; filename*=UTF-8''");
		pct_append(filename, &b);
	}
	free(fb);
	return buf_steal(&b, NULL);
}

static void
attachment_part(const struct webmail_attachment *a, struct buf *out)
{
	const char *ct =
	    a->content_type && *a->content_type ? a->content_type : "application/octet-stream";

	buf_printf(out, "Content-Type: %s", ct);
	if (plain_ascii(a->filename) && strchr(a->filename, '"') == NULL &&
	    strchr(a->filename, '\\') == NULL && strlen(a->filename) < 70) {
		buf_printf(out,
		    "; name=\"%s\"\r\nContent-Disposition: attachment;\r\n"
		    " filename=\"%s\"\r\n",
		    a->filename, a->filename);
	} else {
		/* RFC 2047 name= for readers that know nothing else, RFC
		 * 2231 filename* (continued in sections under 78 columns) */
		size_t col = 0, sec = 0;
		struct buf pct;

		buf_append_str(out, ";\r\n name=\"");
		webmail_encode_word(a->filename, out);
		buf_append_str(out, "\"\r\nContent-Disposition: attachment");
		buf_init(&pct, 0);
		buf_append_str(&pct, "UTF-8''");
		pct_append(a->filename, &pct);
		for (size_t i = 0; i < pct.len; i += col) {
			col = pct.len - i < 60 ? pct.len - i : 60;
			/* never cut a %XX escape */
			while (col < pct.len - i && col > 2 &&
			       (pct.data[i + col - 1] == '%' || pct.data[i + col - 2] == '%'))
				col--;
			buf_printf(out, ";\r\n filename*%zu*=", sec++);
			buf_append(out, pct.data + i, col);
		}
		buf_fini(&pct);
		buf_append_str(out, "\r\n");
	}
	buf_append_str(out, "Content-Transfer-Encoding: base64\r\n\r\n");
	for (size_t i = 0; i < a->len; i += 57) {
		size_t k = a->len - i < 57 ? a->len - i : 57;

		b64_append(out, a->data + i, k);
		buf_append_str(out, "\r\n");
	}
}

static void
body_append(const struct webmail_compose *c, struct buf *out)
{
	char bnd[40];

	if (c->html == NULL) {
		text_part("plain", c->text ? c->text : "", out);
		return;
	}
	new_boundary(bnd);
	buf_printf(out, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", bnd);
	buf_printf(out, "--%s\r\n", bnd);
	text_part("plain", c->text ? c->text : "", out);
	buf_printf(out, "--%s\r\n", bnd);
	text_part("html", c->html, out);
	buf_printf(out, "--%s--\r\n", bnd);
}

int
webmail_compose_build(const struct webmail_compose *c, struct buf *dst, char **message_id_out)
{
	char date[64], rnd[40];
	struct tm tm;
	time_t t = (time_t)c->date;
	char *mid;
	struct buf tmp, *out = &tmp;
	int rc;

	/* written unbounded (the inputs are bounded by the caller's checks),
	 * then appended whole: never a silently cut message */
	buf_init(&tmp, 0);

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	new_boundary(rnd);
	mid = xasprintf("<%s@%s>", rnd + 5, c->hostname ? c->hostname : "localhost");
	buf_printf(out, "Date: %s\r\n", date);
	buf_append_str(out, "From: ");
	addr_append(&c->from, out);
	buf_append_str(out, "\r\n");
	addr_field("To", c->to, c->nto, out);
	addr_field("Cc", c->cc, c->ncc, out);
	if (c->write_bcc)
		addr_field("Bcc", c->bcc, c->nbcc, out);
	buf_append_str(out, "Subject: ");
	webmail_encode_word(c->subject ? c->subject : "", out);
	buf_printf(out, "\r\nMessage-ID: %s\r\n", mid);
	if (c->in_reply_to != NULL)
		buf_printf(out, "In-Reply-To: %s\r\n", c->in_reply_to);
	if (c->references != NULL)
		buf_printf(out, "References: %s\r\n", c->references);
	buf_append_str(out, "MIME-Version: 1.0\r\n");
	if (c->natt == 0) {
		body_append(c, out);
	} else {
		char bnd[40];

		new_boundary(bnd);
		buf_printf(out, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", bnd);
		buf_append_str(out, "This is a multi-part message in MIME format.\r\n");
		buf_printf(out, "--%s\r\n", bnd);
		body_append(c, out);
		for (size_t i = 0; i < c->natt; i++) {
			buf_printf(out, "--%s\r\n", bnd);
			attachment_part(&c->att[i], out);
		}
		buf_printf(out, "--%s--\r\n", bnd);
	}
	rc = buf_append(dst, tmp.data, tmp.len);
	buf_fini(&tmp);
	if (rc != 0) {
		free(mid);
		return MN_ETOOBIG;
	}
	if (message_id_out != NULL)
		*message_id_out = mid;
	else
		free(mid);
	return 0;
}
