/*
 * fetch_render.c - ENVELOPE, BODY/BODYSTRUCTURE, BODY[section]<partial> of
 * RFC 3501 (§6.4.5, §7.4.2, §9) from a message and its MIME tree (mime.h).
 * Output formats follow Dovecot where the RFC leaves a choice; see
 * fetch_render.h.
 */
#include <string.h>

#include "lib/err.h"
#include "lib/utf8.h"
#include "lib/xalloc.h"
#include "node/imap/fetch_render.h"
#include "storage/message/header.h"

#define TRY(x)                                                                                     \
	do {                                                                                       \
		int rc_ = (x);                                                                     \
		if (rc_ < 0)                                                                       \
			return rc_;                                                                \
	} while (0)

/* ==== strings ============================================================ */

int
imap_quote(struct buf *out, struct slice s)
{
	bool literal = false;

	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.ptr[i];

		/* RFC 3501 §9: quoted holds TEXT-CHAR (7-bit, no CR/LF/NUL). */
		if (c == 0 || c == '\r' || c == '\n' || c >= 0x80) {
			literal = true;
			break;
		}
	}
	if (literal) {
		size_t st;

		TRY(buf_printf(out, "{%zu}\r\n", s.len));
		st = out->len;
		TRY(buf_append(out, s.ptr, s.len));
		/* No IMAP literal may hold NUL (RFC 3501 CHAR8): 0x80 stands
		 * in, as Dovecot does. */
		for (size_t i = st; i < out->len; i++) {
			if (out->data[i] == 0)
				out->data[i] = 0x80;
		}
		return 0;
	}
	TRY(buf_reserve(out, s.len + 2));
	TRY(buf_append(out, "\"", 1));
	for (size_t i = 0; i < s.len; i++) {
		if (s.ptr[i] == '"' || s.ptr[i] == '\\')
			TRY(buf_append(out, "\\", 1));
		TRY(buf_append(out, s.ptr + i, 1));
	}
	return buf_append(out, "\"", 1);
}

int
imap_nstring(struct buf *out, const char *s)
{
	if (s == NULL)
		return buf_append(out, "NIL", 3);
	return imap_quote(out, slice_from_cstr(s));
}

/* quote_unfolded - a header value unfolded and trimmed; for_humans also
 * turns TABs into spaces (Dovecot's imap_append_string_for_humans, so a
 * badly folded Subject reads as one line). */
static int
quote_unfolded(struct buf *out, struct slice v, bool for_humans)
{
	struct buf t;
	int rc;

	buf_init(&t, 0);
	header_unfold(v, &t);
	if (for_humans) {
		for (size_t i = 0; i < t.len; i++) {
			if (t.data[i] == '\t')
				t.data[i] = ' ';
		}
	}
	rc = imap_quote(out, (struct slice){(const char *)t.data, t.len});
	buf_fini(&t);
	return rc;
}

/* ==== ENVELOPE ========================================================== */

enum env_field {
	ENV_DATE,
	ENV_SUBJECT,
	ENV_FROM,
	ENV_SENDER,
	ENV_REPLY_TO,
	ENV_TO,
	ENV_CC,
	ENV_BCC,
	ENV_IN_REPLY_TO,
	ENV_MESSAGE_ID,
	ENV_COUNT
};

static const char *const env_names[ENV_COUNT] = {"date", "subject", "from", "sender", "reply-to",
    "to", "cc", "bcc", "in-reply-to", "message-id"};

static bool
is_ascii(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80)
			return false;
	}
	return true;
}

/* write_2047 - UTF-8 text as RFC 2047 B encoded-words, each within the
 * 75 characters of §2, never splitting a character. */
static int
write_2047(struct buf *out, const char *s)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct buf w;
	size_t n = strlen(s), i = 0;
	int rc;

	buf_init(&w, 0);
	while (i < n) {
		size_t j = i;

		/* 45 bytes give 60 base64 characters + 12 of =?utf-8?b??= */
		while (j < n) {
			size_t l = utf8_seq_len((const uint8_t *)s + j, n - j);

			if (l == 0)
				l = 1;
			if (j + l - i > 45 && j > i)
				break;
			j += l;
		}
		if (i > 0)
			buf_append(&w, " ", 1);
		buf_append_str(&w, "=?utf-8?b?");
		for (size_t k = i; k < j; k += 3) {
			uint32_t v = (uint32_t)(unsigned char)s[k] << 16;
			size_t left = j - k;
			char q[4];

			if (left > 1)
				v |= (uint32_t)(unsigned char)s[k + 1] << 8;
			if (left > 2)
				v |= (uint32_t)(unsigned char)s[k + 2];
			q[0] = b64[(v >> 18) & 63];
			q[1] = b64[(v >> 12) & 63];
			q[2] = left > 1 ? b64[(v >> 6) & 63] : '=';
			q[3] = left > 2 ? b64[v & 63] : '=';
			buf_append(&w, q, 4);
		}
		buf_append_str(&w, "?=");
		i = j;
	}
	rc = imap_quote(out, (struct slice){(const char *)w.data, w.len});
	buf_fini(&w);
	return rc;
}

static int
write_name(struct buf *out, const char *name)
{
	struct buf t;
	int rc;

	if (name == NULL)
		return buf_append(out, "NIL", 3);
	if (!is_ascii(name))
		return write_2047(out, name);
	buf_init(&t, 0);
	buf_append_str(&t, name);
	for (size_t i = 0; i < t.len; i++) {
		if (t.data[i] == '\t' || t.data[i] == '\r' || t.data[i] == '\n')
			t.data[i] = ' ';
	}
	rc = imap_quote(out, (struct slice){(const char *)t.data, t.len});
	buf_fini(&t);
	return rc;
}

/* write_bare_local - "From: MAILER-DAEMON": a lone local part that the
 * address parser refuses becomes (NIL NIL "local" "MISSING_DOMAIN"), as
 * Dovecot shows it; anything else unparseable is left out. */
static int
write_bare_local(struct buf *out, struct slice value)
{
	struct buf t;
	int rc = 0;
	bool ok;

	buf_init(&t, 0);
	header_unfold(value, &t);
	ok = t.len > 0 && t.len <= 256;
	for (size_t i = 0; i < t.len && ok; i++) {
		unsigned char c = t.data[i];

		/* RFC 5322 atext and '.' */
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		     strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL;
	}
	if (ok) {
		rc = buf_append_str(out, "((NIL NIL ");
		if (rc >= 0)
			rc = imap_quote(out, (struct slice){(const char *)t.data, t.len});
		if (rc >= 0)
			rc = buf_append_str(out, " \"MISSING_DOMAIN\"))");
	}
	buf_fini(&t);
	return rc;
}

/* write_addresses - the address list of a field, or nothing (returns 0
 * with out unchanged) when the value holds no address. Entries parsed
 * before a syntax error are used; an unclosed group is closed. */
static int
write_addresses(struct buf *out, struct slice value)
{
	struct header_address_list l;
	bool in_group = false;
	int rc = 0;

	header_address_list_init(&l);
	(void)header_parse_addresses(value, &l);
	if (l.n == 0) {
		rc = write_bare_local(out, value);
		goto done;
	}
	if ((rc = buf_append(out, "(", 1)) < 0)
		goto done;
	for (size_t i = 0; i < l.n && rc >= 0; i++) {
		const struct header_address *a = &l.v[i];

		switch (a->kind) {
		case HEADER_ADDR_MAILBOX:
			rc = buf_append(out, "(", 1);
			if (rc >= 0)
				rc = write_name(out, a->name);
			if (rc >= 0)
				rc = buf_append_str(out, " NIL ");
			if (rc >= 0)
				rc = imap_nstring(
				    out, a->local != NULL ? a->local : "MISSING_MAILBOX");
			if (rc >= 0)
				rc = buf_append(out, " ", 1);
			if (rc >= 0)
				rc = imap_nstring(out, a->domain != NULL && a->domain[0] != '\0'
				                           ? a->domain
				                           : "MISSING_DOMAIN");
			if (rc >= 0)
				rc = buf_append(out, ")", 1);
			break;
		case HEADER_ADDR_GROUP_START:
			if (in_group)
				rc = buf_append_str(out, "(NIL NIL NIL NIL)");
			in_group = true;
			if (rc >= 0)
				rc = buf_append_str(out, "(NIL NIL ");
			if (rc >= 0)
				rc = write_name(out, a->name != NULL ? a->name : "");
			if (rc >= 0)
				rc = buf_append_str(out, " NIL)");
			break;
		case HEADER_ADDR_GROUP_END:
			if (in_group)
				rc = buf_append_str(out, "(NIL NIL NIL NIL)");
			in_group = false;
			break;
		}
	}
	if (rc >= 0 && in_group)
		rc = buf_append_str(out, "(NIL NIL NIL NIL)");
	if (rc >= 0)
		rc = buf_append(out, ")", 1);
done:
	header_address_list_fini(&l);
	return rc;
}

int
imap_render_envelope(const struct mime_part *m, const char *msg, struct buf *out)
{
	struct slice v[ENV_COUNT], name, value, raw;
	bool have[ENV_COUNT] = {false};
	const char *h = msg + m->hdr_off;
	size_t hlen = m->hdr_end - m->hdr_off, pos = 0, from_start = 0, from_len = 0;

	while (mime_header_next(h, hlen, &pos, &name, &value, &raw)) {
		for (int i = 0; i < ENV_COUNT; i++) {
			if (!have[i] && slice_eq_nocase(name, env_names[i])) {
				have[i] = true;
				v[i] = value;
			}
		}
	}
	TRY(buf_append(out, "(", 1));
	for (int i = 0; i < ENV_COUNT; i++) {
		if (i > 0)
			TRY(buf_append(out, " ", 1));
		if (i >= ENV_FROM && i <= ENV_BCC) {
			size_t before = out->len;

			if (have[i])
				TRY(write_addresses(out, v[i]));
			if (i == ENV_FROM) {
				from_start = before;
				from_len = out->len - before;
			}
			if (out->len == before) {
				/* RFC 3501 §7.4.2: absent or empty Sender and
				 * Reply-To are set to From. */
				if ((i == ENV_SENDER || i == ENV_REPLY_TO) && from_len > 0) {
					TRY(buf_reserve(out, from_len));
					TRY(buf_append(out, out->data + from_start, from_len));
				} else {
					TRY(buf_append(out, "NIL", 3));
				}
			}
		} else if (!have[i]) {
			TRY(buf_append(out, "NIL", 3));
		} else {
			TRY(quote_unfolded(out, v[i], i == ENV_SUBJECT));
		}
	}
	return buf_append(out, ")", 1);
}

/* ==== BODY / BODYSTRUCTURE =============================================== */

#define EMPTY_BODY "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0"

static int
write_params(struct buf *out, const struct mime_params *ps, bool default_charset)
{
	bool seen_charset = false;

	if (ps->n == 0 && !default_charset)
		return buf_append(out, "NIL", 3);
	TRY(buf_append(out, "(", 1));
	for (size_t i = 0; i < ps->n; i++) {
		if (i > 0)
			TRY(buf_append(out, " ", 1));
		if (ascii_casecmp(ps->v[i].name, "charset") == 0)
			seen_charset = true;
		TRY(imap_nstring(out, ps->v[i].name));
		TRY(buf_append(out, " ", 1));
		TRY(imap_nstring(out, ps->v[i].value));
	}
	/* A text part without charset is us-ascii (RFC 2045 §5.2); Dovecot
	 * says so explicitly. */
	if (default_charset && !seen_charset) {
		if (ps->n > 0)
			TRY(buf_append(out, " ", 1));
		TRY(buf_append_str(out, "\"charset\" \"us-ascii\""));
	}
	return buf_append(out, ")", 1);
}

/* write_common_ext - body-fld-dsp SP body-fld-lang SP body-fld-loc. */
static int
write_common_ext(struct buf *out, const struct mime_part *p)
{
	TRY(buf_append(out, " ", 1));
	if (p->disposition == NULL) {
		TRY(buf_append(out, "NIL", 3));
	} else {
		TRY(buf_append(out, "(", 1));
		TRY(imap_nstring(out, p->disposition));
		TRY(buf_append(out, " ", 1));
		TRY(write_params(out, &p->disp_params, false));
		TRY(buf_append(out, ")", 1));
	}
	TRY(buf_append(out, " ", 1));
	if (p->language == NULL) {
		TRY(buf_append(out, "NIL", 3));
	} else {
		TRY(buf_append(out, "(", 1));
		for (char **l = p->language; *l != NULL; l++) {
			if (l != p->language)
				TRY(buf_append(out, " ", 1));
			TRY(imap_nstring(out, *l));
		}
		TRY(buf_append(out, ")", 1));
	}
	TRY(buf_append(out, " ", 1));
	return imap_nstring(out, p->location);
}

/* write_body - one "body" element, parentheses included. Recursion is
 * bounded by the tree's depth (MIME_DEPTH_MAX). */
static int
write_body(struct buf *out, const struct mime_part *p, const char *msg, bool ext)
{
	TRY(buf_append(out, "(", 1));
	if (p->is_multipart) {
		if (p->children == NULL) {
			/* RFC 3501 needs at least one body: Dovecot writes an
			 * empty text/plain part. */
			TRY(buf_append_str(out, EMPTY_BODY));
			TRY(buf_append_str(out, ext ? " NIL NIL NIL NIL)" : ")"));
		}
		for (const struct mime_part *c = p->children; c != NULL; c = c->next)
			TRY(write_body(out, c, msg, ext));
		TRY(buf_append(out, " ", 1));
		TRY(imap_nstring(out, p->subtype));
		if (ext) {
			TRY(buf_append(out, " ", 1));
			TRY(write_params(out, &p->params, false));
			TRY(write_common_ext(out, p));
		}
		return buf_append(out, ")", 1);
	}

	bool text = !p->is_message && ascii_casecmp(p->type, "text") == 0;

	if (p->is_message) {
		TRY(buf_append_str(out, "\"message\" \"rfc822\""));
	} else {
		TRY(imap_nstring(out, p->type));
		TRY(buf_append(out, " ", 1));
		TRY(imap_nstring(out, p->subtype));
	}
	TRY(buf_append(out, " ", 1));
	TRY(write_params(out, &p->params, text));
	TRY(buf_append(out, " ", 1));
	TRY(imap_nstring(out, p->id));
	TRY(buf_append(out, " ", 1));
	TRY(imap_nstring(out, p->description));
	TRY(buf_append(out, " ", 1));
	TRY(imap_nstring(out, p->encoding != NULL ? p->encoding : "7bit"));
	TRY(buf_printf(out, " %zu", p->end - p->body_off));
	if (text) {
		TRY(buf_printf(out, " %zu", p->lines));
	} else if (p->is_message && p->children != NULL) {
		TRY(buf_append(out, " ", 1));
		TRY(imap_render_envelope(p->children, msg, out));
		TRY(buf_append(out, " ", 1));
		TRY(write_body(out, p->children, msg, ext));
		TRY(buf_printf(out, " %zu", p->lines));
	}
	if (ext) {
		TRY(buf_append(out, " ", 1));
		TRY(imap_nstring(out, p->md5));
		TRY(write_common_ext(out, p));
	}
	return buf_append(out, ")", 1);
}

int
imap_render_bodystructure(
    const struct mime_part *root, const char *msg, bool extended, struct buf *out)
{
	return write_body(out, root, msg, extended);
}

/* ==== sections ============================================================ */

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 3501 §9 ATOM-CHAR: not atom-specials; ']' (resp-specials) cannot
 * occur since the section ended there. */
static bool
is_atom_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("(){%*\"\\]", c) == NULL;
}

static bool
kw(struct slice s, size_t *pos, const char *word)
{
	size_t n = strlen(word);

	if (s.len - *pos < n || ascii_ncasecmp(s.ptr + *pos, word, n) != 0)
		return false;
	*pos += n;
	return true;
}

static int
parse_header_list(struct slice s, size_t pos, struct imap_section *out)
{
	if (pos >= s.len || s.ptr[pos] != ' ')
		return MN_EPARSE;
	pos++;
	if (pos >= s.len || s.ptr[pos] != '(')
		return MN_EPARSE;
	pos++;
	for (;;) {
		struct slice name;

		if (pos >= s.len)
			return MN_EPARSE;
		if (s.ptr[pos] == '"') {
			size_t st = ++pos;

			while (pos < s.len && s.ptr[pos] != '"') {
				unsigned char c = (unsigned char)s.ptr[pos];

				/* No escapes: a field name has no reason for
				 * them; no CR/LF/8-bit (TEXT-CHAR, ftext). */
				if (c == '\\' || c == '\r' || c == '\n' || c == 0 || c >= 0x80)
					return MN_EPARSE;
				pos++;
			}
			if (pos >= s.len)
				return MN_EPARSE;
			name = (struct slice){s.ptr + st, pos - st};
			pos++;
		} else {
			size_t st = pos;

			while (pos < s.len && is_atom_char((unsigned char)s.ptr[pos]))
				pos++;
			name = (struct slice){s.ptr + st, pos - st};
			if (name.len == 0)
				return MN_EPARSE;
		}
		if (out->nfields >= IMAP_SECTION_FIELDS_MAX)
			return MN_ELIMIT;
		out->fields[out->nfields++] = name;
		if (pos < s.len && s.ptr[pos] == ')') {
			pos++;
			break;
		}
		if (pos >= s.len || s.ptr[pos] != ' ')
			return MN_EPARSE;
		pos++;
	}
	return pos == s.len ? 0 : MN_EPARSE;
}

int
imap_section_parse(struct slice s, struct imap_section *out)
{
	size_t pos = 0;

	memset(out, 0, sizeof(*out));
	while (pos < s.len && is_digit(s.ptr[pos])) {
		uint64_t v = 0;

		if (s.ptr[pos] == '0')
			return MN_EPARSE; /* nz-number */
		while (pos < s.len && is_digit(s.ptr[pos])) {
			v = v * 10 + (uint64_t)(s.ptr[pos] - '0');
			if (v > IMAP_SECTION_PART_NUM_MAX)
				return MN_EPARSE;
			pos++;
		}
		if (out->nparts >= IMAP_SECTION_PARTS_MAX)
			return MN_ELIMIT;
		out->part[out->nparts++] = (uint32_t)v;
		if (pos == s.len) {
			out->kind = IMAP_SECTION_ALL;
			return 0;
		}
		if (s.ptr[pos] != '.')
			return MN_EPARSE;
		pos++;
		if (pos == s.len)
			return MN_EPARSE; /* "1." */
	}
	if (pos == s.len) {
		out->kind = IMAP_SECTION_ALL; /* "" */
		return 0;
	}
	if (kw(s, &pos, "HEADER.FIELDS")) {
		out->kind = IMAP_SECTION_HEADER_FIELDS;
		if (kw(s, &pos, ".NOT"))
			out->kind = IMAP_SECTION_HEADER_FIELDS_NOT;
		return parse_header_list(s, pos, out);
	}
	if (kw(s, &pos, "HEADER"))
		out->kind = IMAP_SECTION_HEADER;
	else if (kw(s, &pos, "TEXT"))
		out->kind = IMAP_SECTION_TEXT;
	else if (out->nparts > 0 && kw(s, &pos, "MIME"))
		out->kind = IMAP_SECTION_MIME;
	else
		return MN_EPARSE;
	return pos == s.len ? 0 : MN_EPARSE;
}

int
imap_section_write(const struct imap_section *sec, struct buf *out)
{
	static const char *const kws[] = {
	    "", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"};

	for (size_t i = 0; i < sec->nparts; i++)
		TRY(buf_printf(out, "%s%u", i > 0 ? "." : "", sec->part[i]));
	if (sec->kind == IMAP_SECTION_ALL)
		return 0;
	TRY(buf_printf(out, "%s%s", sec->nparts > 0 ? "." : "", kws[sec->kind]));
	if (sec->kind != IMAP_SECTION_HEADER_FIELDS && sec->kind != IMAP_SECTION_HEADER_FIELDS_NOT)
		return 0;
	TRY(buf_append(out, " (", 2));
	for (size_t i = 0; i < sec->nfields; i++) {
		struct slice f = sec->fields[i];
		bool atom = f.len > 0;
		size_t st;

		if (i > 0)
			TRY(buf_append(out, " ", 1));
		for (size_t j = 0; j < f.len; j++)
			atom = atom && is_atom_char((unsigned char)f.ptr[j]);
		st = out->len;
		TRY(atom ? buf_append(out, f.ptr, f.len) : imap_quote(out, f));
		for (size_t j = st; j < out->len; j++) {
			if (out->data[j] >= 'a' && out->data[j] <= 'z')
				out->data[j] = (uint8_t)(out->data[j] - 'a' + 'A');
		}
	}
	return buf_append(out, ")", 1);
}

static bool
field_listed(const struct imap_section *sec, struct slice name)
{
	for (size_t i = 0; i < sec->nfields; i++) {
		if (sec->fields[i].len == name.len &&
		    ascii_ncasecmp(sec->fields[i].ptr, name.ptr, name.len) == 0)
			return true;
	}
	return false;
}

static int
extract_fields(
    const struct mime_part *m, const char *msg, const struct imap_section *sec, struct buf *out)
{
	const char *h = msg + m->hdr_off;
	size_t hlen = m->hdr_end - m->hdr_off, pos = 0;
	struct slice name, value, raw;
	bool want = sec->kind == IMAP_SECTION_HEADER_FIELDS;

	while (mime_header_next(h, hlen, &pos, &name, &value, &raw)) {
		if (field_listed(sec, name) != want)
			continue;
		TRY(buf_append(out, raw.ptr, raw.len));
		if (raw.len == 0 || raw.ptr[raw.len - 1] != '\n')
			TRY(buf_append(out, "\r\n", 2));
	}
	/* RFC 3501 §6.4.5: the blank line is always included in header
	 * fetches, except for a message with no body and no blank line. */
	if (m->body_off == m->hdr_end)
		return 0;
	return buf_append(out, "\r\n", 2);
}

int
imap_section_extract(const struct mime_part *root, const char *msg, size_t msg_len,
    const struct imap_section *sec, struct buf *out)
{
	const struct mime_part *p = root, *m;

	if (sec->nparts == 0) {
		if (sec->kind == IMAP_SECTION_ALL)
			return buf_append(out, msg, msg_len);
		if (sec->kind == IMAP_SECTION_MIME)
			return MN_EINVAL;
		m = root;
	} else {
		p = mime_part_find(root, sec->part, sec->nparts);
		if (p == NULL)
			return MN_ENOENT;
		if (sec->kind == IMAP_SECTION_ALL)
			return buf_append(out, msg + p->body_off, p->end - p->body_off);
		if (sec->kind == IMAP_SECTION_MIME)
			return buf_append(out, msg + p->hdr_off, p->body_off - p->hdr_off);
		/* HEADER/TEXT after a number: of the encapsulated message. */
		if (!p->is_message || p->children == NULL)
			return MN_ENOENT;
		m = p->children;
	}
	switch (sec->kind) {
	case IMAP_SECTION_HEADER:
		return buf_append(out, msg + m->hdr_off, m->body_off - m->hdr_off);
	case IMAP_SECTION_TEXT:
		return buf_append(out, msg + m->body_off, m->end - m->body_off);
	case IMAP_SECTION_HEADER_FIELDS:
	case IMAP_SECTION_HEADER_FIELDS_NOT:
		return extract_fields(m, msg, sec, out);
	default:
		return MN_EINVAL;
	}
}

int
imap_section_extract_binary(const struct mime_part *root, const char *msg, size_t msg_len,
    const struct imap_section *sec, struct buf *out)
{
	const struct mime_part *p;
	const char *enc;

	if (sec->kind != IMAP_SECTION_ALL)
		return MN_EINVAL;
	if (sec->nparts == 0)
		return buf_append(out, msg, msg_len);
	if ((p = mime_part_find(root, sec->part, sec->nparts)) == NULL)
		return MN_ENOENT;
	enc = p->encoding;
	if (enc != NULL && ascii_casecmp(enc, "base64") != 0 &&
	    ascii_casecmp(enc, "quoted-printable") != 0 && ascii_casecmp(enc, "7bit") != 0 &&
	    ascii_casecmp(enc, "8bit") != 0 && ascii_casecmp(enc, "binary") != 0)
		return MN_EPARSE;
	return mime_decode_body(p, msg, out);
}

/* ==== partial ============================================================= */

static bool
parse_u32(struct slice s, size_t *pos, uint32_t *out)
{
	uint64_t v = 0;
	size_t st = *pos;

	while (*pos < s.len && is_digit(s.ptr[*pos])) {
		v = v * 10 + (uint64_t)(s.ptr[*pos] - '0');
		if (v > UINT32_MAX)
			return false;
		(*pos)++;
	}
	*out = (uint32_t)v;
	return *pos > st;
}

int
imap_partial_parse(struct slice s, struct imap_partial *out)
{
	size_t pos = 0;

	if (s.len < 5 || s.ptr[0] != '<' || s.ptr[s.len - 1] != '>')
		return MN_EPARSE;
	pos = 1;
	if (!parse_u32(s, &pos, &out->origin) || pos >= s.len || s.ptr[pos] != '.')
		return MN_EPARSE;
	pos++;
	if (pos >= s.len || s.ptr[pos] == '0' || !parse_u32(s, &pos, &out->count))
		return MN_EPARSE;
	return pos == s.len - 1 ? 0 : MN_EPARSE;
}

struct slice
imap_partial_apply(struct slice data, const struct imap_partial *p)
{
	size_t n;

	if (p->origin >= data.len)
		return (struct slice){data.ptr + data.len, 0};
	n = data.len - p->origin;
	if (n > p->count)
		n = p->count;
	return (struct slice){data.ptr + p->origin, n};
}
