/*
 * header.c - RFC 5322 header section parsing: the incremental field parser
 * (§2.2, §3.6.8, obsolete §4.5), unfolding (§2.2.3), RFC 2047 encoded-words
 * (with RFC 2231 §5 language tags), address lists (§3.4, obsolete §4.4) and
 * dates (§3.3, obsolete §4.3).
 *
 * Owns nothing global. The field parser keeps one bounded buffer; address
 * lists own their strings; the 2047 decoder uses temporary buffers bounded
 * by its input, and iconv(3) descriptors that it closes before returning.
 */
#include "storage/message/header.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

#include "lib/codec.h"
#include "lib/err.h"
#include "lib/utf8.h"
#include "lib/xalloc.h"

/* ==== Field parser ======================================================= */

enum {
	S_BOL = 0,  /* start of a line */
	S_LINE,     /* inside a line */
	S_BLANK_CR, /* CR at the start of a line, no field pending */
};

static size_t
dflt(size_t v, size_t d)
{
	return v == 0 ? d : v;
}

void
header_parser_init(struct header_parser *p, const struct header_limits *lim)
{
	memset(p, 0, sizeof(*p));
	if (lim != NULL)
		p->lim = *lim;
	p->lim.max_field = dflt(p->lim.max_field, HEADER_FIELD_MAX);
	p->lim.max_fields = dflt(p->lim.max_fields, HEADER_FIELDS_MAX);
	p->lim.max_size = dflt(p->lim.max_size, HEADER_SIZE_MAX);
	buf_init(&p->field, p->lim.max_field);
	p->state = S_BOL;
}

void
header_parser_fini(struct header_parser *p)
{
	buf_fini(&p->field);
}

static bool
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* hand - split the buffered field into *out and mark it returned. */
static void
hand(struct header_parser *p, struct header_field *out)
{
	const char *s = (const char *)p->field.data;
	size_t len = p->field.len, end = len, first_end, colon;
	const char *nl;

	if (end > 0 && s[end - 1] == '\n')
		end -= (end > 1 && s[end - 2] == '\r') ? 2 : 1;
	nl = len ? memchr(s, '\n', end) : NULL;
	first_end = nl ? (size_t)(nl - s) : end;
	memset(out, 0, sizeof(*out));
	out->raw = (struct slice){s, len};
	for (colon = 0; colon < first_end && s[colon] != ':'; colon++)
		;
	if (colon == first_end) {
		out->invalid = true;
		out->name = (struct slice){s, end};
		out->value = (struct slice){s + end, 0};
	} else {
		size_t nlen = colon;

		/* obs: WSP between name and colon (RFC 5322 §4.5) */
		while (nlen > 0 && is_wsp((unsigned char)s[nlen - 1]))
			nlen--;
		out->name = (struct slice){s, nlen};
		out->value = (struct slice){s + colon + 1, end - colon - 1};
		/* field-name = 1*ftext, ftext = %d33-57 / %d59-126 (§3.6.8) */
		out->invalid = nlen == 0;
		for (size_t i = 0; i < nlen; i++)
			if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126)
				out->invalid = true;
	}
	p->pending = false;
	p->handed = true;
}

static int
set_error(struct header_parser *p, int code)
{
	p->error = code;
	return code;
}

/* start_field - a new field begins: count it (max_fields). */
static int
start_field(struct header_parser *p)
{
	if (++p->nfields > p->lim.max_fields)
		return set_error(p, MN_ELIMIT);
	return 0;
}

/* account - the section size limit over everything consumed. */
static int
account(struct header_parser *p, size_t n)
{
	p->total += n;
	if (p->total > p->lim.max_size)
		return set_error(p, MN_ETOOBIG);
	return 0;
}

int
header_parser_feed(struct header_parser *p, const char *data, size_t len, size_t *consumed_out,
    struct header_field *out)
{
	size_t i = 0;
	int rc = HEADER_MORE;

	*consumed_out = 0;
	if (p->error)
		return p->error;
	if (p->ended)
		return HEADER_END;
	if (p->handed) {
		buf_reset(&p->field);
		p->handed = false;
	}
	while (i < len && rc == HEADER_MORE) {
		unsigned char c = (unsigned char)data[i];

		switch (p->state) {
		case S_BOL:
			if (p->pending) {
				if (is_wsp(c)) {
					p->state = S_LINE; /* a folded line */
					break;
				}
				hand(p, out);
				rc = HEADER_FIELD;
				break;
			}
			if (c == '\n') {
				i++;
				p->ended = true;
				rc = HEADER_END;
				break;
			}
			if (c == '\r') {
				i++;
				p->state = S_BLANK_CR;
				break;
			}
			if (start_field(p) < 0)
				return p->error;
			p->state = S_LINE;
			break;
		case S_BLANK_CR:
			if (c == '\n') {
				i++;
				p->ended = true;
				rc = HEADER_END;
				break;
			}
			/* a line that starts with a bare CR: junk, kept as an
			 * (invalid) field */
			if (start_field(p) < 0)
				return p->error;
			if (buf_append(&p->field, "\r", 1) < 0)
				return set_error(p, MN_ETOOBIG);
			p->state = S_LINE;
			break;
		case S_LINE: {
			const char *nl = memchr(data + i, '\n', len - i);
			size_t n = nl ? (size_t)(nl - (data + i)) + 1 : len - i;

			if (buf_append(&p->field, data + i, n) < 0)
				return set_error(p, MN_ETOOBIG);
			i += n;
			if (nl != NULL) {
				p->state = S_BOL;
				p->pending = true;
			}
			break;
		}
		}
	}
	*consumed_out = i;
	if (account(p, i) < 0)
		return p->error;
	return rc;
}

int
header_parser_finish(struct header_parser *p, struct header_field *out)
{
	if (p->error)
		return p->error;
	if (p->handed) {
		buf_reset(&p->field);
		p->handed = false;
	}
	if (!p->ended && p->field.len > 0) {
		hand(p, out);
		return HEADER_FIELD;
	}
	p->ended = true;
	return HEADER_END;
}

int
header_find_end(const char *data, size_t len, size_t *hdr_len_out, size_t *body_off_out)
{
	size_t pos = 0;

	while (pos < len) {
		const char *nl;

		if (data[pos] == '\n' ||
		    (data[pos] == '\r' && pos + 1 < len && data[pos + 1] == '\n')) {
			*hdr_len_out = pos;
			*body_off_out = pos + (data[pos] == '\n' ? 1 : 2);
			return 0;
		}
		nl = memchr(data + pos, '\n', len - pos);
		if (nl == NULL)
			break;
		pos = (size_t)(nl - data) + 1;
	}
	*hdr_len_out = len;
	*body_off_out = len;
	return MN_ENOENT;
}

int
header_unfold(struct slice v, struct buf *out)
{
	size_t i = 0, start = out->len;
	int rc;

	while (
	    i < v.len && (is_wsp((unsigned char)v.ptr[i]) || v.ptr[i] == '\r' || v.ptr[i] == '\n'))
		i++;
	while (i < v.len) {
		size_t j = i;

		while (j < v.len && v.ptr[j] != '\r' && v.ptr[j] != '\n')
			j++;
		if ((rc = buf_append(out, v.ptr + i, j - i)) < 0)
			return rc;
		if (j < v.len && v.ptr[j] == '\r' && !(j + 1 < v.len && v.ptr[j + 1] == '\n')) {
			/* a lone CR is text, not a line end */
			if ((rc = buf_append(out, "\r", 1)) < 0)
				return rc;
			j++;
		} else if (j < v.len) {
			j += v.ptr[j] == '\r' ? 2 : 1;
		}
		i = j;
	}
	while (out->len > start && is_wsp(out->data[out->len - 1]))
		out->len--;
	return 0;
}

/* ==== RFC 2047 encoded-words ============================================= */

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

static size_t
ascii_seq_len(const uint8_t *p, size_t n)
{
	(void)n;
	return p[0] < 0x80 ? 1 : 0;
}

/* append_valid - append p[0..n) in runs of sequences that seq_len accepts
 * (their length, 0 for a bad byte), each bad byte replaced by U+FFFD. */
static int
append_valid(
    struct buf *out, const uint8_t *p, size_t n, size_t (*seq_len)(const uint8_t *, size_t))
{
	size_t i = 0;
	int rc;

	while (i < n) {
		size_t j = i, l;

		while (j < n && (l = seq_len(p + j, n - j)) != 0)
			j += l;
		if ((rc = buf_append(out, p + i, j - i)) < 0)
			return rc;
		if (j < n) {
			if ((rc = buf_append(out, replacement, 3)) < 0)
				return rc;
			j++;
		}
		i = j;
	}
	return 0;
}

/* append_utf8 - p[0..n) with every byte that does not start a well-formed
 * sequence replaced by U+FFFD. */
static int
append_utf8(struct buf *out, const uint8_t *p, size_t n)
{
	return append_valid(out, p, n, utf8_seq_len);
}

/* append_ascii - p[0..n) with every byte >= 0x80 replaced by U+FFFD. */
static int
append_ascii(struct buf *out, const uint8_t *p, size_t n)
{
	return append_valid(out, p, n, ascii_seq_len);
}

static int
append_latin1(struct buf *out, const uint8_t *p, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		uint8_t u[4];

		rc = buf_append(out, u, utf8_encode(p[i], u));
	}
	return rc;
}

/* convert_iconv - charset -> UTF-8 through iconv(3). Returns 0, 1 when the
 * charset is unknown, or a buffer error. Unconvertible input becomes
 * U+FFFD. */
static int
convert_iconv(struct buf *out, const char *charset, const uint8_t *p, size_t n)
{
	iconv_t cd = iconv_open("UTF-8", charset);
	char *inp = (char *)p, obuf[1024];
	size_t inleft = n;
	struct buf tmp;
	int rc = 0;

	if (cd == (iconv_t)-1)
		return 1;
	/* UTF-8 output is at most 4 bytes per input byte, plus a flush */
	buf_init(&tmp, 4 * n + sizeof(obuf));
	for (;;) {
		char *op = obuf;
		size_t oleft = sizeof(obuf), r;

		r = iconv(cd, &inp, &inleft, &op, &oleft);
		if (buf_append(&tmp, obuf, (size_t)(op - obuf)) < 0)
			break;
		if (r == (size_t)-1) {
			if (errno == E2BIG)
				continue;
			if (errno != EILSEQ && errno != EINVAL)
				break;
			if (buf_append(&tmp, replacement, 3) < 0)
				break;
			if (errno == EINVAL)
				inleft = 0; /* incomplete sequence at the end */
			else if (inleft > 0) {
				inp++;
				inleft--;
			}
		}
		if (inleft == 0)
			break;
	}
	{
		char *op = obuf;
		size_t oleft = sizeof(obuf);

		/* end a stateful encoding (ISO-2022-JP) */
		iconv(cd, NULL, NULL, &op, &oleft);
		(void)buf_append(&tmp, obuf, (size_t)(op - obuf));
	}
	iconv_close(cd);
	rc = append_utf8(out, tmp.data, tmp.len);
	buf_fini(&tmp);
	return rc;
}

struct ew {
	struct slice charset; /* without an RFC 2231 "*lang" */
	char enc;             /* 'B' or 'Q' */
	struct slice text;
	size_t len; /* of the whole "=?...?=" */
};

/* RFC 2047 §2: charset and encoding are tokens, i.e. no SPACE, CTLs or
 * especials. */
static bool
is_token_char(unsigned char c)
{
	return c > 32 && c < 127 && strchr("()<>@,;:\"/[]?.=", c) == NULL;
}

#define CHARSET_MAX 64 /* ours: longest registered names are ~45 */

static bool
parse_ew(const char *s, size_t n, struct ew *w)
{
	size_t i = 2, cs, j;

	if (n > HEADER_2047_WORD_MAX)
		n = HEADER_2047_WORD_MAX;
	if (n < 8 || s[0] != '=' || s[1] != '?')
		return false;
	while (i < n && is_token_char((unsigned char)s[i]))
		i++;
	if (i == 2 || i - 2 > CHARSET_MAX || i + 2 >= n || s[i] != '?' || s[i + 2] != '?')
		return false;
	cs = i - 2;
	for (size_t k = 2; k < i; k++) {
		if (s[k] == '*') {
			cs = k - 2; /* RFC 2231 §5 language */
			break;
		}
	}
	if (cs == 0)
		return false;
	w->charset = (struct slice){s + 2, cs};
	w->enc = (char)(s[i + 1] & ~0x20);
	if (w->enc != 'B' && w->enc != 'Q')
		return false;
	j = i + 3;
	while (j < n && s[j] != '?' && (unsigned char)s[j] > 32 && (unsigned char)s[j] < 127)
		j++;
	if (j + 1 >= n || s[j] != '?' || s[j + 1] != '=')
		return false;
	w->text = (struct slice){s + i + 3, j - i - 3};
	w->len = j + 2;
	return true;
}

/* decode_ew - append the decoded bytes of w to dst; false when the
 * encoded-text is malformed. Missing base64 padding is tolerated. */
static bool
decode_ew(const struct ew *w, struct buf *dst)
{
	const char *t = w->text.ptr;
	size_t n = w->text.len;

	if (w->enc == 'Q') {
		for (size_t i = 0; i < n; i++) {
			uint8_t c = (uint8_t)t[i];

			if (c == '_') {
				c = ' ';
			} else if (c == '=') {
				int hi, lo;

				if (i + 2 >= n)
					return false;
				hi = codec_hex_value((unsigned char)t[i + 1]);
				lo = codec_hex_value((unsigned char)t[i + 2]);
				if (hi < 0 || lo < 0)
					return false;
				c = (uint8_t)(hi << 4 | lo);
				i += 2;
			}
			if (buf_append(dst, &c, 1) < 0)
				return false;
		}
		return true;
	}
	{
		uint32_t acc = 0;
		unsigned bits = 0, nchars = 0;
		size_t i = 0;

		for (; i < n && t[i] != '='; i++) {
			int v = codec_b64_value((unsigned char)t[i], '/');

			if (v < 0)
				return false;
			acc = (acc << 6) | (uint32_t)v;
			bits += 6;
			nchars++;
			if (bits >= 8) {
				uint8_t c = (uint8_t)(acc >> (bits - 8));

				bits -= 8;
				if (buf_append(dst, &c, 1) < 0)
					return false;
			}
		}
		for (; i < n; i++)
			if (t[i] != '=')
				return false; /* data after padding */
		return nchars % 4 != 1;
	}
}

static bool
charset_is(struct slice cs, const char *name)
{
	return slice_eq_nocase(cs, name);
}

/* convert - decoded bytes in charset cs to UTF-8 in out; 1 when the charset
 * is unknown. */
static int
convert(struct buf *out, struct slice cs, const uint8_t *p, size_t n)
{
	char name[CHARSET_MAX + 1];

	if (charset_is(cs, "utf-8") || charset_is(cs, "utf8"))
		return append_utf8(out, p, n);
	if (charset_is(cs, "us-ascii") || charset_is(cs, "ascii"))
		return append_ascii(out, p, n);
	if (charset_is(cs, "iso-8859-1") || charset_is(cs, "latin1") || charset_is(cs, "iso8859-1"))
		return append_latin1(out, p, n);
	/* GB2312 and GBK labels routinely carry GB18030 text */
	if (charset_is(cs, "gb2312") || charset_is(cs, "gbk") || charset_is(cs, "x-gbk") ||
	    charset_is(cs, "cp936"))
		return convert_iconv(out, "GB18030", p, n);
	memcpy(name, cs.ptr, cs.len);
	name[cs.len] = '\0';
	return convert_iconv(out, name, p, n);
}

int
header_charset_to_utf8(struct slice charset, const void *p, size_t n, struct buf *out)
{
	if (charset.len == 0 || charset.len > CHARSET_MAX)
		return 1;
	return convert(out, charset, p, n);
}

/* append_text - plain text: line ends dropped (unfolding), the rest
 * UTF-8-sanitised. */
static int
append_text(struct buf *out, const char *p, size_t n)
{
	size_t i = 0;
	int rc;

	while (i < n) {
		size_t j = i;

		while (j < n && p[j] != '\r' && p[j] != '\n')
			j++;
		if ((rc = append_utf8(out, (const uint8_t *)p + i, j - i)) < 0)
			return rc;
		while (j < n && (p[j] == '\r' || p[j] == '\n'))
			j++;
		i = j;
	}
	return 0;
}

struct ew_group {
	bool active;
	struct slice charset;
	size_t start, end; /* input span, for keeping it as written */
	struct buf bytes;
};

static int
flush_group(struct ew_group *g, struct slice in, struct buf *out)
{
	int rc = 0;

	if (!g->active)
		return 0;
	rc = convert(out, g->charset, g->bytes.data, g->bytes.len);
	if (rc == 1) /* unknown charset: keep the words as written */
		rc = append_text(out, in.ptr + g->start, g->end - g->start);
	buf_reset(&g->bytes);
	g->active = false;
	return rc;
}

int
header_decode_2047(struct slice in, struct buf *out)
{
	struct ew_group g = {0};
	struct buf tmp;
	size_t i = 0, ws = 0, nws = 0; /* pending whitespace after a group */
	int rc = 0;

	buf_init(&g.bytes, in.len);
	buf_init(&tmp, in.len);
	while (i < in.len && rc == 0) {
		struct ew w;
		unsigned char c = (unsigned char)in.ptr[i];

		if (c == '=' && parse_ew(in.ptr + i, in.len - i, &w)) {
			buf_reset(&tmp);
			if (decode_ew(&w, &tmp)) {
				/* §6.2: whitespace between two words is dropped */
				nws = 0;
				if (g.active && !(g.charset.len == w.charset.len &&
				                    ascii_ncasecmp(g.charset.ptr, w.charset.ptr,
				                        w.charset.len) == 0))
					rc = flush_group(&g, in, out);
				if (!g.active) {
					g.active = true;
					g.charset = w.charset;
					g.start = i;
				}
				if (rc == 0)
					rc = buf_append(&g.bytes, tmp.data, tmp.len);
				g.end = i + w.len;
				i += w.len;
				continue;
			}
		}
		if (g.active && (c == ' ' || c == '\t' || c == '\r' || c == '\n')) {
			if (nws == 0)
				ws = i;
			nws = i + 1 - ws;
			i++;
			continue;
		}
		if ((rc = flush_group(&g, in, out)) < 0)
			break;
		if (nws > 0) {
			rc = append_text(out, in.ptr + ws, nws);
			nws = 0;
			if (rc < 0)
				break;
		}
		{
			/* plain text up to the next '=' (never inside a UTF-8
			 * sequence, '=' being ASCII) */
			size_t j = i + 1;

			while (j < in.len && in.ptr[j] != '=')
				j++;
			rc = append_text(out, in.ptr + i, j - i);
			i = j;
		}
	}
	if (rc == 0)
		rc = flush_group(&g, in, out);
	if (rc == 0 && nws > 0)
		rc = append_text(out, in.ptr + ws, nws);
	buf_fini(&g.bytes);
	buf_fini(&tmp);
	return rc < 0 ? rc : 0;
}

/* ==== Address lists ======================================================== */

void
header_address_list_init(struct header_address_list *l)
{
	memset(l, 0, sizeof(*l));
}

void
header_address_list_fini(struct header_address_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].local);
		free(l->v[i].domain);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

struct ap {
	const char *s;
	size_t n, i;
};

static bool
at_end(const struct ap *a)
{
	return a->i >= a->n;
}

static unsigned char
cur(const struct ap *a)
{
	return (unsigned char)a->s[a->i];
}

/* atext (RFC 5322 §3.2.3), with UTF-8 (RFC 6532 §3.2) */
static bool
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80)
		return true;
	return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* skip_cfws - CFWS (§3.2.2): WSP, line ends, nested comments with
 * quoted-pairs. MN_EPARSE for an open or too deeply nested comment. */
static int
skip_cfws(struct ap *a)
{
	while (!at_end(a)) {
		unsigned char c = cur(a);

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			a->i++;
		} else if (c == '(') {
			unsigned depth = 0;

			do {
				c = cur(a);
				if (c == '\\') {
					a->i++;
				} else if (c == '(') {
					if (++depth > HEADER_COMMENT_DEPTH_MAX)
						return MN_EPARSE;
				} else if (c == ')') {
					depth--;
				}
				a->i++;
			} while (depth > 0 && !at_end(a));
			if (depth > 0)
				return MN_EPARSE;
		} else {
			break;
		}
	}
	return 0;
}

/* quoted_string - at '"': append the content without quotes, backslashes
 * and line ends. */
static int
quoted_string(struct ap *a, struct buf *dst)
{
	a->i++;
	while (!at_end(a)) {
		unsigned char c = cur(a);

		if (c == '"') {
			a->i++;
			return 0;
		}
		if (c == '\\') {
			if (++a->i >= a->n)
				break;
			c = cur(a);
		} else if (c == '\r' || c == '\n') {
			a->i++;
			continue;
		}
		buf_append(dst, &c, 1);
		a->i++;
	}
	return MN_EPARSE;
}

static void
atom(struct ap *a, struct buf *dst)
{
	size_t st = a->i;

	while (!at_end(a) && is_atext(cur(a)))
		a->i++;
	buf_append(dst, a->s + st, a->i - st);
}

/* domain - dot-atom (with CFWS around dots, §4.4) or domain-literal. */
static int
domain(struct ap *a, struct buf *dst)
{
	int rc;

	if ((rc = skip_cfws(a)) < 0)
		return rc;
	if (at_end(a))
		return MN_EPARSE;
	if (cur(a) == '[') {
		buf_append(dst, "[", 1);
		a->i++;
		while (!at_end(a) && cur(a) != ']') {
			unsigned char c = cur(a);

			if (c == '\\' && a->i + 1 < a->n)
				c = (unsigned char)a->s[++a->i];
			else if (c == '[')
				return MN_EPARSE;
			if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
				buf_append(dst, &c, 1);
			a->i++;
		}
		if (at_end(a))
			return MN_EPARSE;
		a->i++;
		buf_append(dst, "]", 1);
		return 0;
	}
	for (;;) {
		size_t before = dst->len, save;

		atom(a, dst);
		if (dst->len == before)
			return MN_EPARSE;
		save = a->i;
		/* a bad comment after a complete domain is the caller's
		 * error, not the domain's */
		if (skip_cfws(a) < 0 || at_end(a) || cur(a) != '.') {
			a->i = save;
			return 0;
		}
		a->i++;
		buf_append(dst, ".", 1);
		if ((rc = skip_cfws(a)) < 0)
			return rc;
	}
}

/* words - a run of words and dots: builds the display form (words joined
 * by one space where CFWS separated them) and the local-part form (joined
 * as is), and says whether it is a valid local-part (word *("." word)). */
struct words {
	struct buf disp, local;
	bool any, local_ok;
};

static int
words(struct ap *a, struct words *w)
{
	enum { NONE, WORD, DOT } last = NONE;
	int rc;

	w->any = false;
	w->local_ok = true;
	for (;;) {
		size_t before = a->i;
		bool sep;
		unsigned char c;

		if ((rc = skip_cfws(a)) < 0)
			return rc;
		sep = a->i != before;
		if (at_end(a))
			break;
		c = cur(a);
		if (c != '"' && c != '.' && !is_atext(c))
			break;
		if (w->any && sep)
			buf_append(&w->disp, " ", 1);
		if (c == '.') {
			a->i++;
			buf_append(&w->disp, ".", 1);
			buf_append(&w->local, ".", 1);
			if (last != WORD)
				w->local_ok = false;
			last = DOT;
		} else {
			size_t d0 = w->disp.len;

			if (c == '"') {
				if ((rc = quoted_string(a, &w->disp)) < 0)
					return rc;
			} else {
				atom(a, &w->disp);
			}
			buf_append(&w->local, w->disp.data + d0, w->disp.len - d0);
			if (last == WORD)
				w->local_ok = false;
			last = WORD;
		}
		w->any = true;
	}
	if (last != WORD)
		w->local_ok = false;
	return 0;
}

static char *
steal_or_null(struct buf *b)
{
	if (b->len == 0)
		return NULL;
	return buf_steal(b, NULL);
}

static int
push(struct header_address_list *l, enum header_addr_kind kind, struct buf *name, struct buf *local,
    struct buf *dom)
{
	struct header_address *e;

	if (l->n >= HEADER_ADDRESSES_MAX)
		return MN_ELIMIT;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4;
		l->v = xrealloc(l->v, l->cap * sizeof(l->v[0]));
	}
	e = &l->v[l->n++];
	e->kind = kind;
	e->name = NULL;
	if (name != NULL && name->len > 0) {
		struct buf dec;

		buf_init(&dec, 0);
		header_decode_2047((struct slice){(const char *)name->data, name->len}, &dec);
		e->name = steal_or_null(&dec);
		buf_fini(&dec);
	}
	e->local = local ? buf_steal(local, NULL) : NULL;
	e->domain = dom ? buf_steal(dom, NULL) : NULL;
	return 0;
}

/* angle_addr - at '<': [obs-route] addr-spec '>' */
static int
angle_addr(struct ap *a, struct buf *local, struct buf *dom)
{
	struct words w;
	int rc;

	a->i++;
	if ((rc = skip_cfws(a)) < 0)
		return rc;
	if (!at_end(a) && cur(a) == '@') {
		/* obs-route = obs-domain-list ":" (§4.4): ignored */
		struct buf junk;

		buf_init(&junk, 0);
		while (!at_end(a) && (cur(a) == '@' || cur(a) == ',')) {
			if (cur(a) == '@') {
				a->i++;
				buf_reset(&junk);
				if ((rc = domain(a, &junk)) < 0)
					break;
			} else {
				a->i++;
			}
			if ((rc = skip_cfws(a)) < 0)
				break;
		}
		buf_fini(&junk);
		if (rc < 0)
			return rc;
		if (at_end(a) || cur(a) != ':')
			return MN_EPARSE;
		a->i++;
	}
	buf_init(&w.disp, 0);
	buf_init(&w.local, 0);
	rc = words(a, &w);
	if (rc == 0 && (!w.local_ok || at_end(a) || cur(a) != '@'))
		rc = MN_EPARSE;
	if (rc == 0) {
		buf_append(local, w.local.data, w.local.len);
		a->i++;
		rc = domain(a, dom);
	}
	buf_fini(&w.disp);
	buf_fini(&w.local);
	if (rc == 0 && (rc = skip_cfws(a)) == 0 && (at_end(a) || cur(a) != '>'))
		rc = MN_EPARSE;
	if (rc == 0)
		a->i++;
	return rc;
}

/* address - mailbox or (unless in_group) group. */
static int
address(struct ap *a, struct header_address_list *l, bool in_group)
{
	struct words w;
	struct buf local, dom;
	int rc;

	buf_init(&w.disp, 0);
	buf_init(&w.local, 0);
	buf_init(&local, 0);
	buf_init(&dom, 0);
	if ((rc = words(a, &w)) < 0)
		goto out;
	if (!at_end(a) && cur(a) == '<') {
		if ((rc = angle_addr(a, &local, &dom)) == 0)
			rc = push(l, HEADER_ADDR_MAILBOX, &w.disp, &local, &dom);
	} else if (!at_end(a) && cur(a) == '@' && w.any && w.local_ok) {
		a->i++;
		if ((rc = domain(a, &dom)) == 0)
			rc = push(l, HEADER_ADDR_MAILBOX, NULL, &w.local, &dom);
	} else if (!at_end(a) && cur(a) == ':' && w.any && !in_group) {
		/* group = display-name ":" [group-list] ";" (§3.4) */
		a->i++;
		if ((rc = push(l, HEADER_ADDR_GROUP_START, &w.disp, NULL, NULL)) < 0)
			goto out;
		for (;;) {
			if ((rc = skip_cfws(a)) < 0)
				goto out;
			if (at_end(a)) {
				rc = MN_EPARSE;
				goto out;
			}
			if (cur(a) == ';') {
				a->i++;
				break;
			}
			if (cur(a) == ',') {
				a->i++;
				continue;
			}
			if ((rc = address(a, l, true)) < 0)
				goto out;
			if ((rc = skip_cfws(a)) < 0)
				goto out;
			if (at_end(a) || (cur(a) != ',' && cur(a) != ';')) {
				rc = MN_EPARSE;
				goto out;
			}
		}
		rc = push(l, HEADER_ADDR_GROUP_END, NULL, NULL, NULL);
	} else {
		rc = MN_EPARSE;
	}
out:
	buf_fini(&w.disp);
	buf_fini(&w.local);
	buf_fini(&local);
	buf_fini(&dom);
	return rc;
}

int
header_parse_addresses(struct slice value, struct header_address_list *out)
{
	struct ap a = {value.ptr, value.len, 0};
	int rc;

	for (;;) {
		if ((rc = skip_cfws(&a)) < 0)
			return rc;
		if (at_end(&a))
			return 0;
		if (cur(&a) == ',') { /* obs-addr-list: empty elements */
			a.i++;
			continue;
		}
		if ((rc = address(&a, out, false)) < 0)
			return rc;
		if ((rc = skip_cfws(&a)) < 0)
			return rc;
		if (at_end(&a))
			return 0;
		if (cur(&a) != ',')
			return MN_EPARSE;
		a.i++;
	}
}

/* ==== Dates ================================================================== */

static const char *const month_names[] = {
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const day_names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

/* days_from_civil - days since 1970-01-01 of a proleptic Gregorian date
 * (H. Hinnant's algorithm). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static unsigned
days_in_month(int64_t y, unsigned m)
{
	static const unsigned dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

/* digits - up to max decimal digits; returns how many were read. */
static unsigned
digits(struct ap *a, unsigned max, int64_t *v)
{
	unsigned n = 0;

	*v = 0;
	while (!at_end(a) && n < max && cur(a) >= '0' && cur(a) <= '9') {
		*v = *v * 10 + (cur(a) - '0');
		a->i++;
		n++;
	}
	return n;
}

/* alpha_word - the letters at the cursor, lower-cased into w[0..cap). */
static size_t
alpha_word(struct ap *a, char *w, size_t cap)
{
	size_t n = 0;

	while (!at_end(a) && ((cur(a) | 0x20) >= 'a' && (cur(a) | 0x20) <= 'z')) {
		if (n < cap)
			w[n] = (char)(cur(a) | 0x20);
		n++;
		a->i++;
	}
	return n;
}

/* obs-zone (§4.3): UT/GMT, US zones, military letters (read as +0000 as
 * §4.3 says: their signs were defined backwards). */
static bool
named_zone(const char *w, size_t n, int *min)
{
	static const struct {
		const char *name;
		int hours;
	} z[] = {{"ut", 0}, {"gmt", 0}, {"utc", 0}, {"est", -5}, {"edt", -4}, {"cst", -6},
	    {"cdt", -5}, {"mst", -7}, {"mdt", -6}, {"pst", -8}, {"pdt", -7}};

	if (n == 1 && w[0] != 'j') {
		*min = 0;
		return true;
	}
	for (size_t i = 0; i < sizeof(z) / sizeof(z[0]); i++) {
		if (strlen(z[i].name) == n && memcmp(z[i].name, w, n) == 0) {
			*min = z[i].hours * 60;
			return true;
		}
	}
	return false;
}

int
header_parse_date(struct slice value, int64_t *time_out, int *zone_min_out)
{
	struct ap a = {value.ptr, value.len, 0};
	int64_t day, year, hour, minute, second = 0, zv;
	unsigned month = 0, nd;
	int zone = 0;
	char w[8];
	size_t n;

	if (skip_cfws(&a) < 0)
		return MN_EPARSE;
	/* [ day-of-week "," ] */
	if (!at_end(&a) && (cur(&a) | 0x20) >= 'a' && (cur(&a) | 0x20) <= 'z') {
		bool ok = false;

		n = alpha_word(&a, w, sizeof(w));
		for (size_t i = 0; i < 7; i++)
			if (n == 3 && memcmp(w, day_names[i], 3) == 0)
				ok = true;
		if (!ok || skip_cfws(&a) < 0 || at_end(&a) || cur(&a) != ',')
			return MN_EPARSE;
		a.i++;
		if (skip_cfws(&a) < 0)
			return MN_EPARSE;
	}
	/* day month year */
	if (digits(&a, 2, &day) == 0 || skip_cfws(&a) < 0)
		return MN_EPARSE;
	n = alpha_word(&a, w, sizeof(w));
	for (unsigned i = 0; i < 12; i++)
		if (n == 3 && memcmp(w, month_names[i], 3) == 0)
			month = i + 1;
	if (month == 0 || skip_cfws(&a) < 0)
		return MN_EPARSE;
	nd = digits(&a, 4, &year);
	if (nd < 2)
		return MN_EPARSE;
	if (nd == 2)
		year += year < 50 ? 2000 : 1900; /* §4.3 */
	else if (nd == 3)
		year += 1900;
	if (year < 1900 || day < 1 || day > days_in_month(year, month))
		return MN_EPARSE;
	/* time-of-day = hour ":" minute [ ":" second ] */
	if (skip_cfws(&a) < 0 || digits(&a, 2, &hour) == 0 || skip_cfws(&a) < 0 || at_end(&a) ||
	    cur(&a) != ':')
		return MN_EPARSE;
	a.i++;
	if (skip_cfws(&a) < 0 || digits(&a, 2, &minute) != 2 || skip_cfws(&a) < 0)
		return MN_EPARSE;
	if (!at_end(&a) && cur(&a) == ':') {
		a.i++;
		if (skip_cfws(&a) < 0 || digits(&a, 2, &second) != 2 || skip_cfws(&a) < 0)
			return MN_EPARSE;
	}
	if (hour > 23 || minute > 59 || second > 60)
		return MN_EPARSE;
	/* zone */
	if (!at_end(&a) && (cur(&a) == '+' || cur(&a) == '-')) {
		int sign = cur(&a) == '-' ? -1 : 1;

		a.i++;
		if (digits(&a, 4, &zv) != 4 || zv % 100 > 59)
			return MN_EPARSE;
		zone = sign * (int)((zv / 100) * 60 + zv % 100);
	} else if (!at_end(&a) && (cur(&a) | 0x20) >= 'a' && (cur(&a) | 0x20) <= 'z') {
		n = alpha_word(&a, w, sizeof(w));
		if (n > 3 || !named_zone(w, n, &zone))
			return MN_EPARSE;
	}
	if (skip_cfws(&a) < 0 || !at_end(&a))
		return MN_EPARSE;
	*time_out = days_from_civil(year, month, (unsigned)day) * 86400 + hour * 3600 +
	            minute * 60 + second - (int64_t)zone * 60;
	if (zone_min_out != NULL)
		*zone_min_out = zone;
	return 0;
}
