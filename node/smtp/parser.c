/*
 * parser.c - SMTP command line parser: RFC 5321 §4.1 command syntax and
 * §4.1.2 paths, ESMTP parameters of RFC 1870 (SIZE), RFC 6152 (BODY), RFC
 * 6531 (SMTPUTF8), RFC 3461 (RET, ENVID, NOTIFY, ORCPT), RFC 4954 (AUTH
 * command and AUTH= parameter), and RFC 3461 §4 xtext.
 *
 * A pure function over one line: slices into the caller's line, no
 * allocation, no state. The order of checks is: line length, characters
 * (controls, UTF-8), verb, then the verb's own grammar; within MAIL/RCPT the
 * path syntax, the parameters, then the path limits and the SMTPUTF8 rule,
 * so that a client gets the most specific reply.
 */
#include "node/smtp/parser.h"

#include <arpa/inet.h>
#include <string.h>

#include "lib/err.h"
#include "lib/utf8.h"

/* ---- replies ------------------------------------------------------------ */

static const struct smtp_status ST_TOO_LONG = {500, "5.5.2", "Line too long"};
static const struct smtp_status ST_UNRECOGNIZED = {500, "5.5.1", "Unrecognized command"};
static const struct smtp_status ST_BAD_CHAR = {500, "5.5.2", "Invalid character in command"};
static const struct smtp_status ST_BAD_UTF8 = {500, "5.5.2", "Invalid UTF-8 in command"};
static const struct smtp_status ST_NO_ARGS = {501, "5.5.4", "Syntax error (no parameters allowed)"};
static const struct smtp_status ST_EMPTY_ARG = {501, "5.5.4", "Syntax error in arguments"};
static const struct smtp_status ST_HELO = {501, "5.5.4", "Syntax: HELO/EHLO domain"};
static const struct smtp_status ST_MAIL = {501, "5.5.4", "Syntax: MAIL FROM:<address>"};
static const struct smtp_status ST_RCPT = {501, "5.5.4", "Syntax: RCPT TO:<address>"};
static const struct smtp_status ST_VRFY = {501, "5.5.4", "Syntax: VRFY string"};
static const struct smtp_status ST_EXPN = {501, "5.5.4", "Syntax: EXPN string"};
static const struct smtp_status ST_AUTH = {
    501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"};
static const struct smtp_status ST_BAD_SENDER = {501, "5.1.7", "Bad sender address syntax"};
static const struct smtp_status ST_BAD_RCPT = {501, "5.1.3", "Bad recipient address syntax"};
/* RFC 5321 §4.5.3.1.10 names "501 Path too long". */
static const struct smtp_status ST_LONG_SENDER = {501, "5.1.7", "Path too long"};
static const struct smtp_status ST_LONG_RCPT = {501, "5.1.3", "Path too long"};
/* RFC 6531 §3.7.4.1 (5.6.7 registered by RFC 6531 §4.3). */
static const struct smtp_status ST_UTF8_ADDR = {
    553, "5.6.7", "Non-ASCII address requires SMTPUTF8"};
/* RFC 5321 §4.1.1.11: 555 for parameters not recognised or implemented. */
static const struct smtp_status ST_PARAM_UNSUPPORTED = {555, "5.5.4", "Unsupported parameter"};
static const struct smtp_status ST_BODY_UNSUPPORTED = {555, "5.5.4", "Unsupported BODY type"};
static const struct smtp_status ST_PARAM_SYNTAX = {501, "5.5.4", "Invalid parameter syntax"};
static const struct smtp_status ST_PARAM_DUP = {501, "5.5.4", "Duplicate parameter"};
static const struct smtp_status ST_PARAM_MANY = {501, "5.5.4", "Too many parameters"};

/* ---- verbs ---------------------------------------------------------------- */

static const struct {
	const char *name;
	enum smtp_verb verb;
} verbs[] = {
    {"HELO", SMTP_VERB_HELO},
    {"EHLO", SMTP_VERB_EHLO},
    {"MAIL", SMTP_VERB_MAIL},
    {"RCPT", SMTP_VERB_RCPT},
    {"DATA", SMTP_VERB_DATA},
    {"RSET", SMTP_VERB_RSET},
    {"NOOP", SMTP_VERB_NOOP},
    {"QUIT", SMTP_VERB_QUIT},
    {"VRFY", SMTP_VERB_VRFY},
    {"EXPN", SMTP_VERB_EXPN},
    {"HELP", SMTP_VERB_HELP},
    {"STARTTLS", SMTP_VERB_STARTTLS},
    {"AUTH", SMTP_VERB_AUTH},
};

const char *
smtp_verb_name(enum smtp_verb verb)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].verb == verb)
			return verbs[i].name;
	return "";
}

void
smtp_parse_limits_default(struct smtp_parse_limits *lim)
{
	memset(lim, 0, sizeof(*lim));
	lim->max_line = SMTP_LINE_MAX;
	lim->max_local = SMTP_LOCAL_MAX;
	lim->max_domain = SMTP_DOMAIN_MAX;
	lim->max_path = SMTP_PATH_MAX;
	lim->max_params = SMTP_PARAMS_MAX;
}

/* Effective limits: 0 means the RFC value; nothing may exceed it (the line
 * limit may be raised up to SMTP_LINE_MAX_AUTH but not lowered below 512,
 * which every server MUST accept). */
static size_t
clamp(size_t v, size_t dflt, size_t max)
{
	if (v == 0)
		return dflt;
	return v > max ? max : v;
}

static void
effective_limits(const struct smtp_parse_limits *in, struct smtp_parse_limits *out)
{
	struct smtp_parse_limits d;

	if (in == NULL) {
		smtp_parse_limits_default(&d);
		in = &d;
	}
	// cppcheck-suppress uninitvar ; smtp_parse_limits_default set every field of d
	*out = *in;
	out->max_line = clamp(in->max_line, SMTP_LINE_MAX, SMTP_LINE_MAX_AUTH);
	if (out->max_line < SMTP_LINE_MAX)
		out->max_line = SMTP_LINE_MAX;
	out->max_local = clamp(in->max_local, SMTP_LOCAL_MAX, SMTP_LOCAL_MAX);
	out->max_domain = clamp(in->max_domain, SMTP_DOMAIN_MAX, SMTP_DOMAIN_MAX);
	out->max_path = clamp(in->max_path, SMTP_PATH_MAX, SMTP_PATH_MAX);
	out->max_params = clamp(in->max_params, SMTP_PARAMS_MAX, SMTP_PARAMS_MAX);
}

/* ---- character classes (RFC 5321 §4.1.2, RFC 5234 core) ------------------ */

static bool
is_alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_letdig(unsigned char c)
{
	return is_alpha(c) || is_digit(c);
}

/* atext (RFC 5322 §3.2.3 as used by RFC 5321), plus UTF8-non-ascii (RFC
 * 6531 §3.3); the line was UTF-8 validated before, so any byte >= 0x80 here
 * belongs to a well-formed sequence. */
static bool
is_atext(unsigned char c)
{
	if (is_letdig(c) || c >= 0x80)
		return true;
	return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static struct slice
mkslice(const char *p, size_t n)
{
	return (struct slice){p, n};
}

/* ---- domains and address literals ------------------------------------------- */

#define DOM_UNDERSCORE 0x1 /* HELO/EHLO only: see parser.h */
#define DOM_UTF8 0x2       /* U-labels (RFC 6531 §3.3) */

/* valid_domain - RFC 5321 Domain: sub-domain *("." sub-domain), sub-domain =
 * Let-dig [Ldh-str]. With DOM_UTF8 a label may contain UTF-8 (a U-label;
 * its IDNA validity is not checked here). *utf8 is set when non-ASCII seen. */
static bool
valid_domain(const char *s, size_t len, unsigned flags, bool *utf8)
{
	size_t i = 0;

	if (len == 0)
		return false;
	while (i < len) {
		size_t start = i, llen;
		bool label_utf8 = false;

		while (i < len && s[i] != '.') {
			unsigned char c = (unsigned char)s[i];

			if (c >= 0x80) {
				if (!(flags & DOM_UTF8))
					return false;
				label_utf8 = true;
			} else if (!is_letdig(c) && c != '-' &&
			           !(c == '_' && (flags & DOM_UNDERSCORE))) {
				return false;
			}
			i++;
		}
		llen = i - start;
		if (llen == 0)
			return false;
		if (s[start] == '-' || s[i - 1] == '-')
			return false;
		/* RFC 1035 §2.3.4; a U-label's limit applies to its A-label,
		 * which we do not compute. */
		if (!label_utf8 && llen > SMTP_LABEL_MAX)
			return false;
		if (label_utf8)
			*utf8 = true;
		if (i < len) {
			i++; /* '.' */
			if (i == len)
				return false; /* trailing dot */
		}
	}
	return true;
}

/* Snum = 1*3DIGIT, value 0..255 (RFC 5321 §4.1.3). */
static bool
valid_ipv4(const char *s, size_t len)
{
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		unsigned v = 0, nd = 0;

		if (part > 0) {
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
		while (i < len && is_digit((unsigned char)s[i]) && nd < 3) {
			v = v * 10 + (unsigned)(s[i] - '0');
			nd++;
			i++;
		}
		if (nd == 0 || v > 255)
			return false;
	}
	return i == len;
}

/* valid_addr_literal - s includes the brackets. IPv4 and IPv6 literals
 * only: General-address-literal needs a Standardized-tag registered with
 * IANA and IPv6 is the only one (RFC 5321 §4.1.3). The IPv6 text is checked
 * with inet_pton(3), which is slightly more permissive than RFC 5321's
 * grammar about "::" standing for a single group. */
static bool
valid_addr_literal(const char *s, size_t len)
{
	char tmp[64];
	struct in6_addr a6;

	if (len < 3 || s[0] != '[' || s[len - 1] != ']')
		return false;
	s++;
	len -= 2;
	if (len > 5 && strncasecmp(s, "IPv6:", 5) == 0) {
		s += 5;
		len -= 5;
		if (len >= sizeof(tmp))
			return false;
		for (size_t i = 0; i < len; i++)
			if (!is_digit((unsigned char)s[i]) && !strchr("abcdefABCDEF:.", s[i]))
				return false;
		memcpy(tmp, s, len);
		tmp[len] = '\0';
		return inet_pton(AF_INET6, tmp, &a6) == 1;
	}
	return valid_ipv4(s, len);
}

/* ---- paths ---------------------------------------------------------------- */

struct path_ctx {
	const struct smtp_parse_limits *lim;
	bool rcpt;
	const struct smtp_status *bad;
	const struct smtp_status *toolong;
};

/* scan_domain - length of the run of domain characters at s (LDH, ".",
 * UTF-8), to be validated by valid_domain(). */
static size_t
scan_domain(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];

		if (!is_letdig(c) && c != '-' && c != '.' && c < 0x80)
			break;
		i++;
	}
	return i;
}

/* scan_local - parse Local-part (Dot-string / Quoted-string) at s; returns
 * its length or 0 on a syntax error. */
static size_t
scan_local(const char *s, size_t len, bool *quoted, bool *utf8)
{
	size_t i = 0;

	if (len == 0)
		return 0;
	if (s[0] == '"') {
		/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE; qtextSMTP is
		 * %d32-33 / %d35-91 / %d93-126 (+ UTF-8, RFC 6531);
		 * quoted-pairSMTP is "\" %d32-126. */
		*quoted = true;
		i = 1;
		for (;;) {
			unsigned char c;

			if (i >= len)
				return 0;
			c = (unsigned char)s[i];
			if (c == '"')
				return i + 1;
			if (c == '\\') {
				if (i + 1 >= len)
					return 0;
				c = (unsigned char)s[i + 1];
				if (c < 32 || c > 126)
					return 0;
				i += 2;
				continue;
			}
			if (c >= 0x80)
				*utf8 = true;
			else if (c < 32 || c > 126)
				return 0;
			i++;
		}
	}
	/* Dot-string = Atom *("." Atom) */
	for (;;) {
		size_t start = i;

		while (i < len && is_atext((unsigned char)s[i])) {
			if ((unsigned char)s[i] >= 0x80)
				*utf8 = true;
			i++;
		}
		if (i == start)
			return 0;
		if (i < len && s[i] == '.') {
			i++;
			continue;
		}
		return i;
	}
}

/*
 * parse_path - parse a Path (or "<>") at s[0] == '<'. On success returns 0
 * and sets *used to the path length. On failure returns MN_EPARSE with *st.
 */
static int
parse_path(const char *s, size_t len, const struct path_ctx *ctx, struct smtp_path *p, size_t *used,
    const struct smtp_status **st)
{
	size_t i = 1, llen, dlen, mb;
	bool utf8 = false;

	*st = ctx->bad;
	if (len == 0 || s[0] != '<')
		return MN_EPARSE;
	if (len >= 2 && s[1] == '>') {
		if (ctx->rcpt)
			return MN_EPARSE; /* Forward-path has no null form */
		p->null = true;
		p->raw = mkslice(s, 2);
		p->mailbox = p->local = p->domain = mkslice(s + 1, 0);
		*used = 2;
		return 0;
	}
	/* A-d-l = At-domain *( "," At-domain ) ":"  (RFC 5321 §4.1.2): accepted
	 * and ignored, as §4.1.2 and Appendix C require of servers. */
	if (i < len && s[i] == '@') {
		for (;;) {
			bool u = false;

			if (i >= len || s[i] != '@')
				return MN_EPARSE;
			i++;
			dlen = scan_domain(s + i, len - i);
			if (!valid_domain(s + i, dlen, DOM_UTF8, &u))
				return MN_EPARSE;
			if (dlen > ctx->lim->max_domain) {
				*st = ctx->toolong;
				return MN_EPARSE;
			}
			utf8 |= u;
			i += dlen;
			if (i < len && s[i] == ',') {
				i++;
				continue;
			}
			if (i < len && s[i] == ':') {
				i++;
				break;
			}
			return MN_EPARSE;
		}
		p->source_route = true;
	}
	mb = i;
	llen = scan_local(s + i, len - i, &p->quoted, &utf8);
	if (llen == 0)
		return MN_EPARSE;
	p->local = mkslice(s + i, llen);
	i += llen;
	if (i < len && s[i] == '>' && ctx->rcpt && !p->source_route && !p->quoted && llen == 10 &&
	    strncasecmp(p->local.ptr, "Postmaster", 10) == 0) {
		/* RFC 5321 §4.1.1.3: "<Postmaster>" without a domain */
		p->postmaster = true;
		p->domain = mkslice(s + i, 0);
	} else {
		if (i >= len || s[i] != '@')
			return MN_EPARSE;
		i++;
		if (i < len && s[i] == '[') {
			const char *e = memchr(s + i, ']', len - i);

			if (e == NULL)
				return MN_EPARSE;
			dlen = (size_t)(e - (s + i)) + 1;
			if (!valid_addr_literal(s + i, dlen))
				return MN_EPARSE;
			p->addr_literal = true;
		} else {
			dlen = scan_domain(s + i, len - i);
			if (!valid_domain(s + i, dlen, DOM_UTF8, &utf8))
				return MN_EPARSE;
		}
		p->domain = mkslice(s + i, dlen);
		i += dlen;
	}
	if (i >= len || s[i] != '>')
		return MN_EPARSE;
	p->mailbox = mkslice(s + mb, i - mb);
	i++;
	p->raw = mkslice(s, i);
	p->utf8 = utf8;
	if (p->local.len > ctx->lim->max_local || p->domain.len > ctx->lim->max_domain ||
	    p->raw.len > ctx->lim->max_path) {
		*st = ctx->toolong;
		return MN_EPARSE;
	}
	*used = i;
	return 0;
}

/* ---- xtext (RFC 3461 §4) ---------------------------------------------------- */

static int
hexval_upper(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
smtp_xtext_decode(struct slice in, char *out, size_t outsz, size_t *len_out)
{
	size_t o = 0;

	for (size_t i = 0; i < in.len; i++) {
		unsigned char c = (unsigned char)in.ptr[i];

		if (c == '+') {
			int hi, lo;

			if (i + 2 >= in.len)
				return MN_EPARSE;
			hi = hexval_upper((unsigned char)in.ptr[i + 1]);
			lo = hexval_upper((unsigned char)in.ptr[i + 2]);
			if (hi < 0 || lo < 0)
				return MN_EPARSE;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		} else if (c < 33 || c > 126 || c == '=') {
			return MN_EPARSE;
		}
		if (o >= outsz)
			return MN_ETOOBIG;
		if (out != NULL)
			out[o] = (char)c;
		o++;
	}
	*len_out = o;
	return 0;
}

bool
smtp_xtext_valid(struct slice in)
{
	size_t n;

	return smtp_xtext_decode(in, NULL, SIZE_MAX, &n) == 0;
}

int
smtp_xtext_encode(struct buf *out, struct slice in)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc;

	for (size_t i = 0; i < in.len; i++) {
		unsigned char c = (unsigned char)in.ptr[i];

		if (c >= 33 && c <= 126 && c != '+' && c != '=') {
			rc = buf_append(out, &in.ptr[i], 1);
		} else {
			char e[3] = {'+', hex[c >> 4], hex[c & 15]};

			rc = buf_append(out, e, 3);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

int
smtp_local_unquote(struct slice local, char *out, size_t outsz, size_t *len_out)
{
	size_t o = 0, i = 0, end = local.len;

	if (local.len >= 2 && local.ptr[0] == '"' && local.ptr[local.len - 1] == '"') {
		i = 1;
		end = local.len - 1;
	}
	for (; i < end; i++) {
		char c = local.ptr[i];

		if (c == '\\' && i + 1 < end && local.ptr[0] == '"')
			c = local.ptr[++i];
		if (o >= outsz)
			return MN_ETOOBIG;
		out[o++] = c;
	}
	*len_out = o;
	return 0;
}

/* ---- ESMTP parameters --------------------------------------------------------- */

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"), esmtp-value =
 * 1*(%d33-60 / %d62-126) (RFC 5321 §4.1.2), UTF-8 allowed in the value by
 * RFC 6531 §3.3. */
static bool
valid_keyword(struct slice k)
{
	if (k.len == 0 || !is_letdig((unsigned char)k.ptr[0]))
		return false;
	for (size_t i = 1; i < k.len; i++)
		if (!is_letdig((unsigned char)k.ptr[i]) && k.ptr[i] != '-')
			return false;
	return true;
}

static bool
valid_value(struct slice v)
{
	if (v.len == 0)
		return false;
	for (size_t i = 0; i < v.len; i++) {
		unsigned char c = (unsigned char)v.ptr[i];

		if (c >= 0x80)
			continue;
		if (c < 33 || c > 126 || c == '=')
			return false;
	}
	return true;
}

static bool
is_ascii(struct slice v)
{
	for (size_t i = 0; i < v.len; i++)
		if ((unsigned char)v.ptr[i] >= 0x80)
			return false;
	return true;
}

/* size-value = 1*20DIGIT (RFC 1870 §3); a value above UINT64_MAX saturates:
 * it is too big for any configured limit and gets the SIZE reply (552). */
static bool
parse_size_value(struct slice v, uint64_t *out)
{
	uint64_t n = 0;

	if (v.len == 0 || v.len > 20)
		return false;
	for (size_t i = 0; i < v.len; i++) {
		unsigned d;

		if (!is_digit((unsigned char)v.ptr[i]))
			return false;
		d = (unsigned)(v.ptr[i] - '0');
		if (n > (UINT64_MAX - d) / 10)
			n = UINT64_MAX;
		else
			n = n * 10 + d;
	}
	*out = n;
	return true;
}

/* NOTIFY = "NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ) (RFC 3461 §4.1);
 * a repeated keyword is an error. */
static bool
parse_notify(struct slice v, unsigned *out)
{
	unsigned bits = 0;
	size_t i = 0;

	if (slice_eq_nocase(v, "NEVER")) {
		*out = SMTP_NOTIFY_NEVER;
		return true;
	}
	while (i <= v.len) {
		const char *e = memchr(v.ptr + i, ',', v.len - i);
		size_t n = e ? (size_t)(e - (v.ptr + i)) : v.len - i;
		struct slice w = mkslice(v.ptr + i, n);
		unsigned b;

		if (slice_eq_nocase(w, "SUCCESS"))
			b = SMTP_NOTIFY_SUCCESS;
		else if (slice_eq_nocase(w, "FAILURE"))
			b = SMTP_NOTIFY_FAILURE;
		else if (slice_eq_nocase(w, "DELAY"))
			b = SMTP_NOTIFY_DELAY;
		else
			return false;
		if (bits & b)
			return false;
		bits |= b;
		i += n + 1;
		if (e == NULL)
			break;
	}
	*out = bits;
	return true;
}

/* ORCPT = addr-type ";" xtext, addr-type = atom (RFC 3461 §4.2). */
static bool
parse_orcpt(struct slice v, struct smtp_rcpt_params *rp)
{
	const char *semi = memchr(v.ptr, ';', v.len);
	struct slice t, a;

	if (semi == NULL)
		return false;
	t = mkslice(v.ptr, (size_t)(semi - v.ptr));
	a = mkslice(semi + 1, v.len - t.len - 1);
	if (t.len == 0 || a.len == 0)
		return false;
	for (size_t i = 0; i < t.len; i++)
		if ((unsigned char)t.ptr[i] >= 0x80 || !is_atext((unsigned char)t.ptr[i]))
			return false;
	if (!smtp_xtext_valid(a))
		return false;
	rp->has_orcpt = true;
	rp->orcpt_type = t;
	rp->orcpt_addr = a;
	return true;
}

enum {
	P_SIZE = 1 << 0,
	P_BODY = 1 << 1,
	P_SMTPUTF8 = 1 << 2,
	P_RET = 1 << 3,
	P_ENVID = 1 << 4,
	P_AUTH = 1 << 5,
	P_NOTIFY = 1 << 6,
	P_ORCPT = 1 << 7,
};

/* parse_one_param - returns NULL on success or the reply for the error. */
static const struct smtp_status *
parse_one_param(struct smtp_cmd *out, bool rcpt, struct slice kw, bool has_val, struct slice val,
    unsigned *seen)
{
	unsigned bit;

	if (!valid_keyword(kw) || (has_val && !valid_value(val)))
		return &ST_PARAM_SYNTAX;
	if (!rcpt && slice_eq_nocase(kw, "SIZE"))
		bit = P_SIZE;
	else if (!rcpt && slice_eq_nocase(kw, "BODY"))
		bit = P_BODY;
	else if (!rcpt && slice_eq_nocase(kw, "SMTPUTF8"))
		bit = P_SMTPUTF8;
	else if (!rcpt && slice_eq_nocase(kw, "RET"))
		bit = P_RET;
	else if (!rcpt && slice_eq_nocase(kw, "ENVID"))
		bit = P_ENVID;
	else if (!rcpt && slice_eq_nocase(kw, "AUTH"))
		bit = P_AUTH;
	else if (rcpt && slice_eq_nocase(kw, "NOTIFY"))
		bit = P_NOTIFY;
	else if (rcpt && slice_eq_nocase(kw, "ORCPT"))
		bit = P_ORCPT;
	else
		return &ST_PARAM_UNSUPPORTED;
	if (*seen & bit)
		return &ST_PARAM_DUP;
	*seen |= bit;
	/* SMTPUTF8 takes no value (RFC 6531 §3.4); all others need one. */
	if ((bit == P_SMTPUTF8) == has_val)
		return &ST_PARAM_SYNTAX;
	if (bit != P_SMTPUTF8 && !is_ascii(val))
		return &ST_PARAM_SYNTAX;
	switch (bit) {
	case P_SIZE:
		out->mail.has_size = true;
		return parse_size_value(val, &out->mail.size) ? NULL : &ST_PARAM_SYNTAX;
	case P_BODY:
		/* RFC 6152 §2; BINARYMIME (RFC 3030) needs CHUNKING, which we
		 * do not offer. */
		if (slice_eq_nocase(val, "7BIT"))
			out->mail.body = SMTP_BODY_7BIT;
		else if (slice_eq_nocase(val, "8BITMIME"))
			out->mail.body = SMTP_BODY_8BITMIME;
		else if (slice_eq_nocase(val, "BINARYMIME"))
			return &ST_BODY_UNSUPPORTED;
		else
			return &ST_PARAM_SYNTAX;
		return NULL;
	case P_SMTPUTF8:
		out->mail.smtputf8 = true;
		return NULL;
	case P_RET:
		/* RFC 3461 §4.3 */
		if (slice_eq_nocase(val, "FULL"))
			out->mail.ret = SMTP_RET_FULL;
		else if (slice_eq_nocase(val, "HDRS"))
			out->mail.ret = SMTP_RET_HDRS;
		else
			return &ST_PARAM_SYNTAX;
		return NULL;
	case P_ENVID: {
		size_t n;

		/* RFC 3461 §4.4 */
		if (smtp_xtext_decode(val, NULL, SMTP_ENVID_MAX, &n) < 0)
			return &ST_PARAM_SYNTAX;
		out->mail.has_envid = true;
		out->mail.envid = val;
		return NULL;
	}
	case P_AUTH:
		/* RFC 4954 §5: AUTH=<> or AUTH=xtext(mailbox) */
		if (!(val.len == 2 && val.ptr[0] == '<' && val.ptr[1] == '>') &&
		    !smtp_xtext_valid(val))
			return &ST_PARAM_SYNTAX;
		out->mail.has_auth = true;
		out->mail.auth = val;
		return NULL;
	case P_NOTIFY:
		return parse_notify(val, &out->rcpt.notify) ? NULL : &ST_PARAM_SYNTAX;
	default: /* P_ORCPT */
		return parse_orcpt(val, &out->rcpt) ? NULL : &ST_PARAM_SYNTAX;
	}
}

/* parse_params - Mail-parameters / Rcpt-parameters = esmtp-param *(SP
 * esmtp-param): single spaces, nothing empty. */
static const struct smtp_status *
parse_params(struct smtp_cmd *out, bool rcpt, const char *s, size_t len, size_t max_params)
{
	unsigned seen = 0;
	size_t i = 0, count = 0;

	while (i < len) {
		const char *sp = memchr(s + i, ' ', len - i);
		size_t n = sp ? (size_t)(sp - (s + i)) : len - i;
		struct slice p = mkslice(s + i, n), kw, val = {NULL, 0};
		const char *eq = memchr(p.ptr, '=', p.len);
		const struct smtp_status *st;

		if (n == 0 || (sp != NULL && (size_t)(sp - s) + 1 == len))
			return &ST_PARAM_SYNTAX; /* double or trailing space */
		if (++count > max_params)
			return &ST_PARAM_MANY;
		if (eq != NULL) {
			kw = mkslice(p.ptr, (size_t)(eq - p.ptr));
			val = mkslice(eq + 1, p.len - kw.len - 1);
		} else {
			kw = p;
		}
		if ((st = parse_one_param(out, rcpt, kw, eq != NULL, val, &seen)) != NULL)
			return st;
		i += n + 1;
	}
	return NULL;
}

/* ---- commands ------------------------------------------------------------------ */

static int
fail(struct smtp_cmd *out, const struct smtp_status *st, int rc)
{
	out->error = *st;
	return rc;
}

static int
parse_mail_rcpt(struct smtp_cmd *out, const struct smtp_parse_limits *lim, bool has_arg)
{
	bool rcpt = out->verb == SMTP_VERB_RCPT;
	const char *prefix = rcpt ? "TO:" : "FROM:";
	size_t plen = strlen(prefix), i, used = 0;
	const char *s = out->arg.ptr;
	size_t len = out->arg.len;
	const struct smtp_status *st, *syntax = rcpt ? &ST_RCPT : &ST_MAIL;
	struct path_ctx ctx = {lim, rcpt, rcpt ? &ST_BAD_RCPT : &ST_BAD_SENDER,
	    rcpt ? &ST_LONG_RCPT : &ST_LONG_SENDER};
	bool smtputf8;

	if (!has_arg || len < plen || strncasecmp(s, prefix, plen) != 0)
		return fail(out, syntax, MN_EPARSE);
	i = plen;
	/* The one tolerance: spaces between the colon and the path. */
	while (i < len && s[i] == ' ')
		i++;
	if (i >= len || s[i] != '<')
		return fail(out, syntax, MN_EPARSE);
	if (parse_path(s + i, len - i, &ctx, &out->path, &used, &st) < 0)
		return fail(out, st, MN_EPARSE);
	i += used;
	if (i < len) {
		if (s[i] != ' ' || i + 1 >= len)
			return fail(out, ctx.bad, MN_EPARSE);
		if ((st = parse_params(out, rcpt, s + i + 1, len - i - 1, lim->max_params)) != NULL)
			return fail(out, st, MN_EPARSE);
	}
	/* RFC 6531 §3.4: non-ASCII addresses only in a SMTPUTF8 transaction */
	smtputf8 = rcpt ? lim->txn_smtputf8 : out->mail.smtputf8;
	if (out->path.utf8 && !smtputf8)
		return fail(out, &ST_UTF8_ADDR, MN_EPARSE);
	return 0;
}

static int
parse_helo(struct smtp_cmd *out, bool has_arg)
{
	struct slice a = out->arg;
	bool utf8 = false;

	if (!has_arg || a.len == 0 || a.len > SMTP_DOMAIN_MAX)
		return fail(out, &ST_HELO, MN_EPARSE);
	if (a.ptr[0] == '[') {
		if (!valid_addr_literal(a.ptr, a.len))
			return fail(out, &ST_HELO, MN_EPARSE);
		return 0;
	}
	/* RFC 6531 §3.7.1 lets an SMTPUTF8 client send a U-label here. */
	if (!valid_domain(a.ptr, a.len, DOM_UNDERSCORE | DOM_UTF8, &utf8))
		return fail(out, &ST_HELO, MN_EPARSE);
	return 0;
}

static bool
is_b64(unsigned char c)
{
	return is_letdig(c) || c == '+' || c == '/';
}

/* "AUTH" SP sasl-mech [SP initial-response] (RFC 4954 §4). Mechanism names
 * are matched case-insensitively by the session, so lower case is taken
 * here too (as Postfix does). initial-response is base64 (RFC 4648 §4, with
 * padding) or "=" for an empty response. */
static int
parse_auth(struct smtp_cmd *out, bool has_arg)
{
	const char *s = out->arg.ptr;
	size_t len = out->arg.len, i = 0, n, pad = 0;

	if (!has_arg)
		return fail(out, &ST_AUTH, MN_EPARSE);
	while (i < len && (is_letdig((unsigned char)s[i]) || s[i] == '-' || s[i] == '_'))
		i++;
	if (i == 0 || i > SMTP_SASL_MECH_MAX || (i < len && s[i] != ' '))
		return fail(out, &ST_AUTH, MN_EPARSE);
	out->auth_mech = mkslice(s, i);
	if (i == len)
		return 0;
	s += i + 1;
	n = len - i - 1;
	if (n == 0)
		return fail(out, &ST_AUTH, MN_EPARSE);
	out->has_auth_initial = true;
	out->auth_initial = mkslice(s, n);
	if (n == 1 && s[0] == '=')
		return 0;
	if (n % 4 != 0)
		return fail(out, &ST_AUTH, MN_EPARSE);
	for (size_t k = 0; k < n; k++) {
		unsigned char c = (unsigned char)s[k];

		if (c == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || !is_b64(c))
			return fail(out, &ST_AUTH, MN_EPARSE);
	}
	if (pad > 2)
		return fail(out, &ST_AUTH, MN_EPARSE);
	return 0;
}

int
smtp_parse_command(
    const char *line, size_t len, const struct smtp_parse_limits *lim_in, struct smtp_cmd *out)
{
	struct smtp_parse_limits lim;
	size_t vlen = 0;
	bool has_arg;

	memset(out, 0, sizeof(*out));
	effective_limits(lim_in, &lim);
	/* RFC 5321 §4.5.3.1.4; the stripped CRLF counts. */
	if (len > lim.max_line - 2)
		return fail(out, &ST_TOO_LONG, MN_ETOOBIG);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c < 0x20 || c == 0x7f)
			return fail(out, &ST_BAD_CHAR, MN_EPARSE);
	}
	if (!utf8_valid(line, len))
		return fail(out, &ST_BAD_UTF8, MN_EPARSE);

	while (vlen < len && line[vlen] != ' ')
		vlen++;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strlen(verbs[i].name) == vlen && strncasecmp(line, verbs[i].name, vlen) == 0) {
			out->verb = verbs[i].verb;
			break;
		}
	}
	if (out->verb == SMTP_VERB_NONE)
		return fail(out, &ST_UNRECOGNIZED, MN_EPARSE);
	has_arg = vlen < len;
	out->arg = has_arg ? mkslice(line + vlen + 1, len - vlen - 1) : mkslice(line + len, 0);

	switch (out->verb) {
	case SMTP_VERB_HELO:
	case SMTP_VERB_EHLO:
		return parse_helo(out, has_arg);
	case SMTP_VERB_MAIL:
	case SMTP_VERB_RCPT:
		return parse_mail_rcpt(out, &lim, has_arg);
	case SMTP_VERB_DATA:
	case SMTP_VERB_RSET:
	case SMTP_VERB_QUIT:
	case SMTP_VERB_STARTTLS:
		/* RFC 5321 §4.1.1.4, §4.1.1.5, §4.1.1.10; RFC 3207 §4 */
		return has_arg ? fail(out, &ST_NO_ARGS, MN_EPARSE) : 0;
	case SMTP_VERB_NOOP:
	case SMTP_VERB_HELP:
		/* [SP String]: free-form, ignored by the server */
		return has_arg && out->arg.len == 0 ? fail(out, &ST_EMPTY_ARG, MN_EPARSE) : 0;
	case SMTP_VERB_VRFY:
		return !has_arg || out->arg.len == 0 ? fail(out, &ST_VRFY, MN_EPARSE) : 0;
	case SMTP_VERB_EXPN:
		return !has_arg || out->arg.len == 0 ? fail(out, &ST_EXPN, MN_EPARSE) : 0;
	case SMTP_VERB_AUTH:
		return parse_auth(out, has_arg);
	case SMTP_VERB_NONE:
		break;
	}
	return fail(out, &ST_UNRECOGNIZED, MN_EPARSE);
}
