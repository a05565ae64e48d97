/*
 * mime.c - MIME tree of an in-memory message (RFC 2045, 2046, 2183, 2231),
 * transfer decoders (RFC 2045 §6.7, §6.8). See mime.h for what is taken
 * from real mail and the limits.
 *
 * The tree is built in one pass per level: a part's header is located with
 * header_find_end(), its Content-* fields are read with a small lexer for
 * RFC 2045 structured values (tokens, quoted strings, comments), and a
 * multipart body is split at its delimiter lines. Children of a multipart
 * are confined to their parent's range, so an inner multipart that lacks
 * its close delimiter ends where the outer delimiter begins. Recursion depth
 * is bounded by MIME_DEPTH_MAX.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/codec.h"
#include "lib/err.h"
#include "lib/xalloc.h"
#include "storage/message/header.h"
#include "storage/message/mime.h"

/* ==== header fields in memory ============================================ */

static bool
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

bool
mime_header_next(const char *data, size_t len, size_t *pos, struct slice *name, struct slice *value,
    struct slice *raw)
{
	while (*pos < len) {
		size_t p = *pos, q = p, first_end, vend, colon;
		const char *nl;

		if (data[p] == '\n' || (data[p] == '\r' && p + 1 < len && data[p + 1] == '\n'))
			return false; /* the empty line ending the section */
		/* The field runs to the first line end not followed by WSP. */
		first_end = 0;
		for (;;) {
			nl = memchr(data + q, '\n', len - q);
			if (nl == NULL) {
				q = len;
				break;
			}
			q = (size_t)(nl - data) + 1;
			if (first_end == 0)
				first_end = q;
			if (q < len && is_wsp((unsigned char)data[q]))
				continue;
			break;
		}
		if (first_end == 0)
			first_end = q;
		*pos = q;
		nl = memchr(data + p, ':', first_end - p);
		if (nl == NULL)
			continue; /* not a field: skip, as readers do */
		colon = (size_t)(nl - data);
		name->ptr = data + p;
		name->len = colon - p;
		while (name->len > 0 && is_wsp((unsigned char)name->ptr[name->len - 1]))
			name->len--;
		if (name->len == 0 || is_wsp((unsigned char)data[p]))
			continue;
		vend = q;
		if (vend > colon + 1 && data[vend - 1] == '\n') {
			vend--;
			if (vend > colon + 1 && data[vend - 1] == '\r')
				vend--;
		}
		value->ptr = data + colon + 1;
		value->len = vend - (colon + 1);
		raw->ptr = data + p;
		raw->len = q - p;
		return true;
	}
	return false;
}

bool
mime_header_get(const char *data, size_t len, const char *name, struct slice *value)
{
	struct slice n, v, r;
	size_t pos = 0;

	while (mime_header_next(data, len, &pos, &n, &v, &r)) {
		if (slice_eq_nocase(n, name)) {
			*value = v;
			return true;
		}
	}
	return false;
}

/* ==== RFC 2045 structured values ========================================= */

struct lex {
	const char *p;
	const char *e;
};

static bool
is_tspecial(unsigned char c)
{
	return strchr("()<>@,;:\\\"/[]?=", c) != NULL && c != '\0';
}

/* Token characters (RFC 2045 §5.1), plus 8-bit bytes: raw UTF-8 appears in
 * unquoted parameter values of real mail. */
static bool
is_token(unsigned char c)
{
	return c > 0x20 && c != 0x7f && !is_tspecial(c);
}

/* skip_cfws - white space, line ends (values are not unfolded) and
 * comments, nested up to HEADER_COMMENT_DEPTH_MAX; an unterminated comment
 * runs to the end. */
static void
skip_cfws(struct lex *l)
{
	while (l->p < l->e) {
		unsigned char c = (unsigned char)*l->p;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			l->p++;
		} else if (c == '(') {
			int depth = 0;

			while (l->p < l->e) {
				c = (unsigned char)*l->p++;
				if (c == '\\' && l->p < l->e)
					l->p++;
				else if (c == '(' && ++depth > HEADER_COMMENT_DEPTH_MAX)
					depth = HEADER_COMMENT_DEPTH_MAX;
				else if (c == ')' && --depth == 0)
					break;
			}
		} else {
			break;
		}
	}
}

static bool
lex_token(struct lex *l, struct slice *out)
{
	out->ptr = l->p;
	while (l->p < l->e && is_token((unsigned char)*l->p))
		l->p++;
	out->len = (size_t)(l->p - out->ptr);
	return out->len > 0;
}

/* lex_quoted - at '"': the unescaped content, folding line ends removed
 * (RFC 5322 §3.2.4); an unterminated string runs to the end. */
static char *
lex_quoted(struct lex *l)
{
	struct buf b;

	buf_init(&b, 0);
	l->p++;
	while (l->p < l->e && *l->p != '"') {
		char c = *l->p++;

		if (c == '\\' && l->p < l->e)
			c = *l->p++;
		else if (c == '\r' || c == '\n')
			continue;
		buf_append(&b, &c, 1);
	}
	if (l->p < l->e)
		l->p++;
	return buf_steal(&b, NULL);
}

static void
skip_to_semicolon(struct lex *l)
{
	while (l->p < l->e && *l->p != ';') {
		if (*l->p == '"')
			free(lex_quoted(l));
		else
			l->p++;
	}
}

/* dup_trim - copy a slice without surrounding WSP and line ends. */
static char *
dup_unfold(struct slice s)
{
	struct buf b;

	buf_init(&b, 0);
	header_unfold(s, &b);
	return buf_steal(&b, NULL);
}

struct rawparam {
	char *name;
	char *value;
};

/* parse_params_raw - "; name=value" pairs as written, at most
 * MIME_PARAMS_MAX; syntax errors skip to the next ';'. */
static size_t
parse_params_raw(struct lex *l, struct rawparam *out)
{
	size_t n = 0;

	while (l->p < l->e && n < MIME_PARAMS_MAX) {
		struct slice name, tok;
		const char *vstart;
		char *value;

		skip_cfws(l);
		if (l->p >= l->e)
			break;
		if (*l->p != ';') {
			skip_to_semicolon(l);
			continue;
		}
		l->p++;
		skip_cfws(l);
		if (!lex_token(l, &name)) {
			skip_to_semicolon(l);
			continue;
		}
		skip_cfws(l);
		if (l->p >= l->e || *l->p != '=') {
			skip_to_semicolon(l);
			continue;
		}
		l->p++;
		skip_cfws(l);
		vstart = l->p;
		if (l->p < l->e && *l->p == '"') {
			value = lex_quoted(l);
			skip_to_semicolon(l);
		} else {
			lex_token(l, &tok);
			skip_cfws(l);
			if (l->p < l->e && *l->p != ';') {
				/* "name=my file.pdf": take the text up to ';' */
				skip_to_semicolon(l);
				tok.ptr = vstart;
				tok.len = (size_t)(l->p - vstart);
				value = dup_unfold(tok);
			} else {
				value = xstrndup(tok.ptr, tok.len);
			}
		}
		out[n].name = xstrndup(name.ptr, name.len);
		out[n].value = value;
		n++;
	}
	return n;
}

/* RFC 2231 §3/§4 name forms: "base" (section -1, plain), "base*" (single
 * extended), "base*N", "base*N*". Returns false for a plain name. */
static bool
split_2231(const char *name, size_t *base_len, int *section, bool *extended)
{
	const char *star = strchr(name, '*');
	const char *p;
	int n = 0;

	if (star == NULL || star == name)
		return false;
	*base_len = (size_t)(star - name);
	p = star + 1;
	if (*p == '\0') {
		*section = -1;
		*extended = true;
		return true;
	}
	if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9'))
		return false;
	while (*p >= '0' && *p <= '9') {
		n = n * 10 + (*p - '0');
		if (n >= MIME_PARAM_SECTIONS_MAX)
			return false;
		p++;
	}
	*extended = false;
	if (*p == '*') {
		*extended = true;
		p++;
	}
	if (*p != '\0')
		return false;
	*section = n;
	return true;
}

static void
params_push(struct mime_params *ps, char *name, char *value)
{
	ps->v = xrealloc(ps->v, (ps->n + 1) * sizeof(*ps->v));
	ps->v[ps->n].name = name;
	ps->v[ps->n].value = value;
	ps->n++;
}

/* pct_encode - a non-extended RFC 2231 section appended to an extended
 * value must be percent-encoded so the whole decodes as one. */
static void
pct_encode(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (is_token(c) && c < 0x80 && c != '%' && c != '*' && c != '\'')
			buf_append(b, s, 1);
		else
			buf_printf(b, "%%%02X", c);
	}
}

/* merge_params - turn raw parameters into what BODYSTRUCTURE shows:
 * continuations joined in section order (stopping at the first missing
 * number, RFC 2231 §3), in the order of each name's first appearance. */
static void
merge_params(struct rawparam *raw, size_t n, struct mime_params *out)
{
	bool used[MIME_PARAMS_MAX] = {false};

	for (size_t i = 0; i < n; i++) {
		size_t blen;
		int sec;
		bool ext, any_ext = false;
		struct buf b;

		if (used[i])
			continue;
		used[i] = true;
		if (!split_2231(raw[i].name, &blen, &sec, &ext) || sec < 0) {
			params_push(out, xstrdup(raw[i].name), xstrdup(raw[i].value));
			continue;
		}
		/* A continued parameter: gather sections 0, 1, ... of base. */
		const struct rawparam *secs[MIME_PARAM_SECTIONS_MAX] = {NULL};
		bool secext[MIME_PARAM_SECTIONS_MAX] = {false};

		for (size_t j = i; j < n; j++) {
			size_t bl;
			int s;
			bool e;

			if ((j != i && used[j]) || !split_2231(raw[j].name, &bl, &s, &e) || s < 0 ||
			    bl != blen || ascii_ncasecmp(raw[j].name, raw[i].name, blen) != 0)
				continue;
			used[j] = true;
			if (secs[s] == NULL) {
				secs[s] = &raw[j];
				secext[s] = e;
			}
		}
		for (int s = 0; s < MIME_PARAM_SECTIONS_MAX && secs[s] != NULL; s++)
			any_ext |= secext[s];
		buf_init(&b, 0);
		/* RFC 2231 §4.1: only section 0 may carry charset'lang'; when
		 * it is not encoded but later ones are, add the empty prefix. */
		if (any_ext && !secext[0] && secs[0] != NULL)
			buf_append_str(&b, "''");
		for (int s = 0; s < MIME_PARAM_SECTIONS_MAX && secs[s] != NULL; s++) {
			if (any_ext && !secext[s])
				pct_encode(&b, secs[s]->value);
			else
				buf_append_str(&b, secs[s]->value);
		}
		if (secs[0] == NULL) {
			/* name*1 without name*0: keep what was written */
			buf_fini(&b);
			params_push(out, xstrdup(raw[i].name), xstrdup(raw[i].value));
			continue;
		}
		params_push(out,
		    any_ext ? xasprintf("%.*s*", (int)blen, raw[i].name)
		            : xstrndup(raw[i].name, blen),
		    buf_steal(&b, NULL));
	}
}

static void
parse_params(struct lex *l, struct mime_params *out)
{
	struct rawparam raw[MIME_PARAMS_MAX];
	size_t n = parse_params_raw(l, raw);

	merge_params(raw, n, out);
	for (size_t i = 0; i < n; i++) {
		free(raw[i].name);
		free(raw[i].value);
	}
}

static void
params_free(struct mime_params *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		free(ps->v[i].name);
		free(ps->v[i].value);
	}
	free(ps->v);
	ps->v = NULL;
	ps->n = 0;
}

/* ==== one part's header ================================================== */

struct ctx {
	const char *msg;
	size_t len;
	size_t nparts;
};

static void
set_default_type(struct mime_part *p, bool digest)
{
	p->type = xstrdup(digest ? "message" : "text");
	p->subtype = xstrdup(digest ? "rfc822" : "plain");
	p->type_default = true;
}

static void
parse_content_type(struct mime_part *p, struct slice v)
{
	struct lex l = {v.ptr, v.ptr + v.len};
	struct slice t, s;

	skip_cfws(&l);
	if (!lex_token(&l, &t))
		return;
	skip_cfws(&l);
	if (l.p >= l.e || *l.p != '/')
		return;
	l.p++;
	skip_cfws(&l);
	if (!lex_token(&l, &s))
		return;
	p->type = xstrndup(t.ptr, t.len);
	p->subtype = xstrndup(s.ptr, s.len);
	p->type_default = false;
	parse_params(&l, &p->params);
}

static char *
parse_token_field(struct slice v)
{
	struct lex l = {v.ptr, v.ptr + v.len};
	struct slice t;

	skip_cfws(&l);
	if (!lex_token(&l, &t))
		return NULL;
	skip_cfws(&l);
	if (l.p < l.e && *l.p != ';')
		return NULL; /* "?invalid x": not a token (Dovecot: default) */
	return xstrndup(t.ptr, t.len);
}

static void
parse_disposition(struct mime_part *p, struct slice v)
{
	struct lex l = {v.ptr, v.ptr + v.len};
	struct slice t;

	skip_cfws(&l);
	if (!lex_token(&l, &t))
		return;
	p->disposition = xstrndup(t.ptr, t.len);
	parse_params(&l, &p->disp_params);
}

/* Content-Language (RFC 3282): comma-separated tags; CFWS between. */
static void
parse_language(struct mime_part *p, struct slice v)
{
	struct lex l = {v.ptr, v.ptr + v.len};
	size_t n = 0;

	for (;;) {
		struct slice t;

		skip_cfws(&l);
		if (!lex_token(&l, &t) || n >= MIME_PARAMS_MAX)
			break;
		p->language = xrealloc(p->language, (n + 2) * sizeof(char *));
		p->language[n++] = xstrndup(t.ptr, t.len);
		p->language[n] = NULL;
		skip_cfws(&l);
		if (l.p >= l.e || *l.p != ',')
			break;
		l.p++;
	}
}

/* Content-Location (RFC 2557 §4.4.1): folding and white space inside a
 * long URL are removed. */
static char *
parse_location(struct slice v)
{
	struct buf b;

	buf_init(&b, 0);
	for (size_t i = 0; i < v.len; i++) {
		if (!is_wsp((unsigned char)v.ptr[i]) && v.ptr[i] != '\r' && v.ptr[i] != '\n')
			buf_append(&b, v.ptr + i, 1);
	}
	return buf_steal(&b, NULL);
}

static void
read_part_header(struct mime_part *p, const char *msg, bool digest)
{
	const char *h = msg + p->hdr_off;
	size_t hlen = p->hdr_end - p->hdr_off, pos = 0;
	struct slice name, value, raw;
	bool seen_type = false;

	while (mime_header_next(h, hlen, &pos, &name, &value, &raw)) {
		if (!slice_starts_nocase(name, "content-") || value.len > MIME_FIELD_MAX)
			continue;
		/* The first occurrence of each field counts. */
		if (slice_eq_nocase(name, "content-type")) {
			if (!seen_type)
				parse_content_type(p, value);
			seen_type = true;
		} else if (slice_eq_nocase(name, "content-transfer-encoding")) {
			if (p->encoding == NULL)
				p->encoding = parse_token_field(value);
		} else if (slice_eq_nocase(name, "content-id")) {
			if (p->id == NULL)
				p->id = dup_unfold(value);
		} else if (slice_eq_nocase(name, "content-description")) {
			if (p->description == NULL)
				p->description = dup_unfold(value);
		} else if (slice_eq_nocase(name, "content-md5")) {
			if (p->md5 == NULL)
				p->md5 = dup_unfold(value);
		} else if (slice_eq_nocase(name, "content-location")) {
			if (p->location == NULL)
				p->location = parse_location(value);
		} else if (slice_eq_nocase(name, "content-language")) {
			if (p->language == NULL)
				parse_language(p, value);
		} else if (slice_eq_nocase(name, "content-disposition")) {
			if (p->disposition == NULL)
				parse_disposition(p, value);
		}
	}
	if (p->type == NULL)
		set_default_type(p, digest);
}

/* ==== tree ================================================================ */

static size_t
count_lf(const char *s, size_t n)
{
	size_t c = 0;
	const char *e = s + n;

	while (s < e && (s = memchr(s, '\n', (size_t)(e - s))) != NULL) {
		c++;
		s++;
	}
	return c;
}

static void parse_part(struct ctx *c, struct mime_part *p, bool digest);

/* new_part - a part over msg[start, end), or NULL past MIME_PARTS_MAX. */
static struct mime_part *
new_part(struct ctx *c, struct mime_part *parent, size_t start, size_t end)
{
	struct mime_part *p;
	size_t hl, bo;

	if (c->nparts >= MIME_PARTS_MAX)
		return NULL;
	c->nparts++;
	p = xcalloc(1, sizeof(*p));
	p->parent = parent;
	p->depth = parent != NULL ? parent->depth + 1 : 0;
	header_find_end(c->msg + start, end - start, &hl, &bo);
	p->hdr_off = start;
	p->hdr_end = start + hl;
	p->body_off = start + bo;
	p->end = end;
	p->lines = count_lf(c->msg + p->body_off, end - p->body_off);
	return p;
}

/* delimiter_line - does line [ls, le) (without its line end) read
 * "--boundary" or "--boundary--", then only transport padding (RFC 2046
 * §5.1.1)? *close tells which. */
static bool
delimiter_line(const char *msg, size_t ls, size_t le, const char *bnd, size_t blen, bool *close)
{
	size_t i;

	if (le - ls < 2 + blen || msg[ls] != '-' || msg[ls + 1] != '-' ||
	    memcmp(msg + ls + 2, bnd, blen) != 0)
		return false;
	i = ls + 2 + blen;
	*close = false;
	if (le - i >= 2 && msg[i] == '-' && msg[i + 1] == '-') {
		*close = true;
		i += 2;
	}
	while (i < le && is_wsp((unsigned char)msg[i]))
		i++;
	return i == le;
}

static void
add_child(struct ctx *c, struct mime_part *mp, struct mime_part ***tail, size_t s, size_t e,
    bool digest, bool *full)
{
	struct mime_part *ch = new_part(c, mp, s, e);

	if (ch == NULL) {
		*full = true;
		return;
	}
	**tail = ch;
	*tail = &ch->next;
	mp->nchildren++;
	parse_part(c, ch, digest);
}

static void
split_multipart(struct ctx *c, struct mime_part *mp)
{
	const char *bnd = mime_param_get(&mp->params, "boundary");
	bool digest = ascii_casecmp(mp->subtype, "digest") == 0;
	struct mime_part **tail = &mp->children;
	size_t blen, pos = mp->body_off, cur = 0;
	bool in_preamble = true, full = false;

	blen = bnd != NULL ? strlen(bnd) : 0;
	if (blen == 0 || blen > MIME_BOUNDARY_MAX) {
		/* No usable boundary: the part is a leaf (Dovecot does so). */
		mp->is_multipart = false;
		return;
	}
	while (pos < mp->end && !full) {
		const char *nl = memchr(c->msg + pos, '\n', mp->end - pos);
		size_t next = nl != NULL ? (size_t)(nl - c->msg) + 1 : mp->end;
		size_t le = nl != NULL ? next - 1 : mp->end;
		bool close;

		if (le > pos && c->msg[le - 1] == '\r')
			le--;
		if (c->msg[pos] == '-' && delimiter_line(c->msg, pos, le, bnd, blen, &close)) {
			/* The line end before the delimiter belongs to it. */
			size_t ds = pos;

			if (ds > mp->body_off && c->msg[ds - 1] == '\n') {
				ds--;
				if (ds > mp->body_off && c->msg[ds - 1] == '\r')
					ds--;
			}
			if (!in_preamble)
				add_child(c, mp, &tail, cur, ds > cur ? ds : cur, digest, &full);
			in_preamble = false;
			if (close)
				return; /* the epilogue is ignored */
			cur = next;
		}
		pos = next;
	}
	/* Missing close delimiter: the last part runs to the parent's end. */
	if (!in_preamble && !full)
		add_child(c, mp, &tail, cur, mp->end, digest, &full);
}

static void
parse_part(struct ctx *c, struct mime_part *p, bool digest)
{
	read_part_header(p, c->msg, digest);
	p->is_multipart = ascii_casecmp(p->type, "multipart") == 0;
	/* Only message/rfc822: RFC 3501 body-type-msg names no other. */
	p->is_message =
	    ascii_casecmp(p->type, "message") == 0 && ascii_casecmp(p->subtype, "rfc822") == 0;
	if (p->depth >= MIME_DEPTH_MAX) {
		/* Too deep: a leaf, shown by its declared type only. */
		p->is_multipart = false;
		p->is_message = false;
		return;
	}
	if (p->is_multipart) {
		split_multipart(c, p);
	} else if (p->is_message) {
		struct mime_part *m = new_part(c, p, p->body_off, p->end);

		if (m == NULL) {
			p->is_message = false;
			return;
		}
		p->children = m;
		p->nchildren = 1;
		parse_part(c, m, false);
	}
}

int
mime_parse(const char *msg, size_t len, struct mime_part **root_out)
{
	struct ctx c = {msg, len, 0};
	struct mime_part *root;

	*root_out = NULL;
	if (msg == NULL && len > 0)
		return MN_EINVAL;
	if (msg == NULL)
		c.msg = "";
	root = new_part(&c, NULL, 0, len);
	parse_part(&c, root, false);
	*root_out = root;
	return 0;
}

void
mime_free(struct mime_part *p)
{
	while (p != NULL) {
		struct mime_part *next = p->next;

		mime_free(p->children);
		free(p->type);
		free(p->subtype);
		params_free(&p->params);
		free(p->encoding);
		free(p->id);
		free(p->description);
		free(p->md5);
		free(p->location);
		if (p->language != NULL) {
			for (char **l = p->language; *l != NULL; l++)
				free(*l);
			free(p->language);
		}
		free(p->disposition);
		params_free(&p->disp_params);
		free(p);
		p = next;
	}
}

size_t
mime_count_parts(const struct mime_part *p)
{
	size_t n = 0;

	for (; p != NULL; p = p->next)
		n += 1 + mime_count_parts(p->children);
	return n;
}

const struct mime_part *
mime_part_find(const struct mime_part *root, const uint32_t *nums, size_t n)
{
	const struct mime_part *p = root;

	for (size_t i = 0; i < n && p != NULL; i++) {
		uint32_t num = nums[i];

		if (p->is_multipart) {
			p = p->children;
			while (p != NULL && num > 1) {
				p = p->next;
				num--;
			}
			if (num != 1)
				p = NULL;
		} else if (num != 1) {
			p = NULL;
		}
		/* Going on inside a message/rfc822 skips to its message. */
		if (p != NULL && p->is_message && i + 1 < n)
			p = p->children;
	}
	return p;
}

/* ==== parameters decoded ================================================== */

const char *
mime_param_get(const struct mime_params *ps, const char *name)
{
	for (size_t i = 0; i < ps->n; i++) {
		if (ascii_casecmp(ps->v[i].name, name) == 0)
			return ps->v[i].value;
	}
	return NULL;
}

/*
 * decode_2231 - charset'lang'%XX value to UTF-8. The charset conversion is
 * header_decode_2047's: the bytes are re-expressed as Q encoded-words in
 * the same charset (adjacent words of one charset are joined before
 * conversion there, so splitting into words cannot break a character).
 */
static int
decode_2231(const char *v, struct buf *out)
{
	const char *q1 = strchr(v, '\''), *q2;
	struct buf w;
	size_t wordlen = 0;
	int rc;

	if (q1 == NULL || (q2 = strchr(q1 + 1, '\'')) == NULL)
		return header_decode_2047(slice_from_cstr(v), out);
	if (q1 == v) {
		/* No charset: the bytes are taken as UTF-8 (invalid: U+FFFD). */
		struct buf raw;

		buf_init(&raw, 0);
		for (const char *p = q2 + 1; *p != '\0'; p++) {
			int h, l;

			if (*p == '%' && (h = codec_hex_value(p[1])) >= 0 &&
			    (l = codec_hex_value(p[2])) >= 0) {
				char ch = (char)(h * 16 + l);

				buf_append(&raw, &ch, 1);
				p += 2;
			} else {
				buf_append(&raw, p, 1);
			}
		}
		rc = header_decode_2047((struct slice){(char *)raw.data, raw.len}, out);
		buf_fini(&raw);
		return rc;
	}
	buf_init(&w, 0);
	for (const char *p = q2 + 1; *p != '\0'; p++) {
		int h, l;
		unsigned char ch;

		if (wordlen == 0)
			buf_printf(&w, "%s=?%.*s?Q?", w.len > 0 ? " " : "", (int)(q1 - v), v);
		if (*p == '%' && (h = codec_hex_value(p[1])) >= 0 &&
		    (l = codec_hex_value(p[2])) >= 0) {
			ch = (unsigned char)(h * 16 + l);
			p += 2;
		} else {
			ch = (unsigned char)*p;
		}
		buf_printf(&w, "=%02X", ch);
		if (++wordlen >= 60 || p[1] == '\0') {
			buf_append_str(&w, "?=");
			wordlen = 0;
		}
	}
	rc = header_decode_2047((struct slice){(char *)w.data, w.len}, out);
	buf_fini(&w);
	return rc;
}

int
mime_param_decode(const struct mime_params *ps, const char *name, struct buf *out)
{
	char ext[128];
	const char *v;

	if (strlen(name) + 2 <= sizeof(ext)) {
		snprintf(ext, sizeof(ext), "%s*", name);
		if ((v = mime_param_get(ps, ext)) != NULL)
			return decode_2231(v, out);
	}
	if ((v = mime_param_get(ps, name)) == NULL)
		return MN_ENOENT;
	return header_decode_2047(slice_from_cstr(v), out);
}

int
mime_part_filename(const struct mime_part *part, struct buf *out)
{
	int rc = mime_param_decode(&part->disp_params, "filename", out);

	if (rc == MN_ENOENT)
		rc = mime_param_decode(&part->params, "name", out);
	return rc;
}

/* ==== transfer decoding =================================================== */

int
mime_decode_base64(struct slice in, struct buf *out)
{
	uint32_t acc = 0;
	int bits = 0, rc;

	for (size_t i = 0; i < in.len; i++) {
		unsigned char c = (unsigned char)in.ptr[i];
		int v;

		if (c == '=')
			break;
		if ((v = codec_b64_value(c, '/')) < 0)
			continue; /* RFC 2045 §6.8: other characters are ignored */
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			unsigned char o;

			bits -= 8;
			o = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
			if ((rc = buf_append(out, &o, 1)) < 0)
				return rc;
		}
	}
	return 0;
}

int
mime_decode_qp(struct slice in, struct buf *out)
{
	size_t i = 0;
	int rc;

	while (i < in.len) {
		/* One line at a time: trailing white space is transport
		 * padding (RFC 2045 §6.7 rule 3). */
		const char *nl = memchr(in.ptr + i, '\n', in.len - i);
		size_t le = nl != NULL ? (size_t)(nl - in.ptr) : in.len, te = le;
		bool soft = false;

		if (nl != NULL && te > i && in.ptr[te - 1] == '\r')
			te--;
		while (te > i && is_wsp((unsigned char)in.ptr[te - 1]))
			te--;
		if (te > i && in.ptr[te - 1] == '=') {
			soft = true;
			te--;
		}
		for (size_t j = i; j < te; j++) {
			int h, l;

			if (in.ptr[j] == '=' && j + 2 < te &&
			    (h = codec_hex_value(in.ptr[j + 1])) >= 0 &&
			    (l = codec_hex_value(in.ptr[j + 2])) >= 0) {
				unsigned char o = (unsigned char)(h * 16 + l);

				if ((rc = buf_append(out, &o, 1)) < 0)
					return rc;
				j += 2;
			} else if ((rc = buf_append(out, in.ptr + j, 1)) < 0) {
				return rc;
			}
		}
		/* A hard line break is kept as written (CRLF or LF), so the
		 * output is never longer than the input. */
		if (nl != NULL && !soft) {
			bool cr = le > i && in.ptr[le - 1] == '\r';

			if ((rc = buf_append(out, cr ? "\r\n" : "\n", cr ? 2 : 1)) < 0)
				return rc;
		}
		i = le + (nl != NULL ? 1 : 0);
	}
	return 0;
}

int
mime_decode_body(const struct mime_part *part, const char *msg, struct buf *out)
{
	struct slice body = {msg + part->body_off, part->end - part->body_off};

	if (part->encoding != NULL && ascii_casecmp(part->encoding, "base64") == 0)
		return mime_decode_base64(body, out);
	if (part->encoding != NULL && ascii_casecmp(part->encoding, "quoted-printable") == 0)
		return mime_decode_qp(body, out);
	return buf_append(out, body.ptr, body.len);
}
