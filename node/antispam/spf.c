/*
 * spf.c - RFC 7208 check_host(): record parser (§4.5, §5, §6), macro
 * expansion (§7) and evaluation with the processing limits of §4.6.4, on a
 * DNS query callback (spf.h says why this is not libspf2).
 *
 * Result mapping follows RFC 7208: a DNS failure while fetching a record
 * or evaluating a, mx, exists or include is temperror (§2.6.6); a record
 * that does not parse, two records, too many lookups or a redirect to a
 * domain without a record is permerror (§2.6.7); no record is none. A PTR
 * lookup that fails simply does not match (§5.5).
 */
#include "node/antispam/spf.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "node/delivery/dns.h"

#define SPF_DEPTH_MAX 10 /* include/redirect nesting; the lookup limit stops loops anyway */

/* --- helpers ------------------------------------------------------------- */

const char *
spf_result_name(enum spf_result r)
{
	switch (r) {
	case SPF_NONE:
		return "none";
	case SPF_NEUTRAL:
		return "neutral";
	case SPF_PASS:
		return "pass";
	case SPF_FAIL:
		return "fail";
	case SPF_SOFTFAIL:
		return "softfail";
	case SPF_TEMPERROR:
		return "temperror";
	case SPF_PERMERROR:
		return "permerror";
	}
	return "none";
}

int
spf_result_parse(const char *name)
{
	for (int r = SPF_NONE; r <= SPF_PERMERROR; r++)
		if (strcasecmp(name, spf_result_name((enum spf_result)r)) == 0)
			return r;
	return -1;
}

void
spf_dns_answer_fini(struct spf_dns_answer *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->rr[i]);
	memset(a, 0, sizeof(*a));
}

void
spf_dns_answer_add(struct spf_dns_answer *a, const void *data, size_t len)
{
	if (a->n == SPF_RR_MAX)
		return;
	a->rr[a->n] = xmalloc(len + 1);
	memcpy(a->rr[a->n], data, len);
	a->rr[a->n][len] = '\0';
	a->rrlen[a->n] = len;
	a->n++;
}

bool
spf_is_record(const char *txt, size_t len)
{
	return len >= 6 && strncasecmp(txt, "v=spf1", 6) == 0 && (len == 6 || txt[6] == ' ');
}

/* --- parser -------------------------------------------------------------- */

static bool
slice_is(const char *p, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(p, word, n) == 0;
}

/* a decimal without sign, at most max; false when not */
static bool
parse_cidr(const char *p, size_t n, int max, int *out)
{
	int v = 0;

	if (n == 0 || n > 3)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return false;
		v = v * 10 + (p[i] - '0');
	}
	if (v > max || (n > 1 && p[0] == '0'))
		return false;
	*out = v;
	return true;
}

/* check the macro-string syntax of a domain-spec (§7.1): c r t are only
 * for exp=, so refused here */
static bool
macro_string_ok(const char *p, size_t n, bool exp)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch < 0x21 || ch > 0x7e)
			return false;
		if (ch != '%')
			continue;
		if (++i == n)
			return false;
		if (p[i] == '%' || p[i] == '_' || p[i] == '-')
			continue;
		if (p[i] != '{' || ++i == n)
			return false;
		if (strchr(exp ? "slodiphcrtvSLODIPHCRTV" : "slodiphvSLODIPHV", p[i]) == NULL)
			return false;
		i++;
		while (i < n && isdigit((unsigned char)p[i]))
			i++;
		if (i < n && (p[i] == 'r' || p[i] == 'R'))
			i++;
		while (i < n && strchr(".-+,/_=", p[i]) != NULL)
			i++;
		if (i == n || p[i] != '}')
			return false;
	}
	return true;
}

static int
fail(struct mn_err *err, const char *what, const char *p, size_t n)
{
	return mn_err_set(err, MN_EPARSE, "%s '%.*s'", what, (int)(n > 60 ? 60 : n), p);
}

/* split "spec/24//64" into spec and the dual cidr (§5.6) */
static int
split_cidr(struct spf_term *t, const char *arg, size_t n, struct mn_err *err)
{
	const char *s;

	t->cidr4 = 32;
	t->cidr6 = 128;
	/* "//N" at the end: IPv6 length */
	for (s = arg + n; s > arg && isdigit((unsigned char)s[-1]); s--)
		;
	if (s - arg >= 2 && s < arg + n && s[-1] == '/' && s[-2] == '/') {
		if (!parse_cidr(s, (size_t)(arg + n - s), 128, &t->cidr6))
			return fail(err, "bad ip6-cidr-length in", arg, n);
		n = (size_t)(s - 2 - arg);
		for (s = arg + n; s > arg && isdigit((unsigned char)s[-1]); s--)
			;
	}
	if (s - arg >= 1 && s < arg + n && s[-1] == '/') {
		if (!parse_cidr(s, (size_t)(arg + n - s), 32, &t->cidr4))
			return fail(err, "bad ip4-cidr-length in", arg, n);
		n = (size_t)(s - 1 - arg);
	}
	if (n > 0 && arg[0] == ':') {
		if (n == 1 || !macro_string_ok(arg + 1, n - 1, false))
			return fail(err, "bad domain-spec in", arg, n);
		t->spec = arg + 1;
		t->spec_len = n - 1;
	} else if (n > 0) {
		return fail(err, "unexpected text in", arg, n);
	}
	return 0;
}

static int
parse_ip(struct spf_term *t, const char *arg, size_t n, bool v6, struct mn_err *err)
{
	char tmp[64];
	const char *slash;
	size_t alen;

	if (n < 2 || arg[0] != ':')
		return fail(err, v6 ? "ip6 without address" : "ip4 without address", arg, n);
	arg++;
	n--;
	slash = memchr(arg, '/', n);
	alen = slash ? (size_t)(slash - arg) : n;
	if (alen == 0 || alen >= sizeof(tmp))
		return fail(err, "bad address", arg, n);
	memcpy(tmp, arg, alen);
	tmp[alen] = '\0';
	memset(t->addr, 0, sizeof(t->addr));
	if (inet_pton(v6 ? AF_INET6 : AF_INET, tmp, t->addr) != 1)
		return fail(err, "bad address", arg, n);
	t->cidr4 = 32;
	t->cidr6 = 128;
	if (slash != NULL &&
	    !parse_cidr(slash + 1, n - alen - 1, v6 ? 128 : 32, v6 ? &t->cidr6 : &t->cidr4))
		return fail(err, "bad prefix length in", arg, n);
	return 0;
}

static int
parse_term(const char *p, size_t n, struct spf_record *rec, struct mn_err *err)
{
	struct spf_term *t;
	size_t nl = 0;
	const char *name;
	char q = '+';
	bool qual = false;

	if (rec->nterms == SPF_TERMS_MAX)
		return mn_err_set(err, MN_EPARSE, "more than %d terms", SPF_TERMS_MAX);
	t = &rec->terms[rec->nterms];
	memset(t, 0, sizeof(*t));
	if (strchr("+-~?", p[0]) != NULL) {
		q = p[0];
		qual = true;
		p++;
		n--;
	}
	name = p;
	while (nl < n && (isalnum((unsigned char)p[nl]) || (nl > 0 && strchr("-_.", p[nl]))))
		nl++;
	if (nl == 0 || !isalpha((unsigned char)name[0]))
		return fail(err, "bad term", p, n);
	t->qualifier = q;
	if (nl < n && p[nl] == '=') { /* modifier, §6 */
		const char *v = p + nl + 1;
		size_t vl = n - nl - 1;

		if (qual)
			return fail(err, "qualifier on a modifier", p, n);
		if (slice_is(name, nl, "redirect") || slice_is(name, nl, "exp")) {
			bool redirect = slice_is(name, nl, "redirect");

			for (size_t i = 0; i < rec->nterms; i++)
				if (rec->terms[i].kind ==
				    (redirect ? SPF_MOD_REDIRECT : SPF_MOD_EXP))
					return fail(err, "modifier given twice:", p, n);
			if (vl == 0 || !macro_string_ok(v, vl, false))
				return fail(err, "bad domain-spec in", p, n);
			t->kind = redirect ? SPF_MOD_REDIRECT : SPF_MOD_EXP;
			t->spec = v;
			t->spec_len = vl;
			rec->nterms++;
			return 0;
		}
		/* unknown modifiers are ignored (§6), their value still has to
		 * be a macro-string */
		if (!macro_string_ok(v, vl, true))
			return fail(err, "bad modifier value in", p, n);
		return 0;
	}
	if (slice_is(name, nl, "all")) {
		if (nl != n)
			return fail(err, "unexpected text after", p, n);
		t->kind = SPF_MECH_ALL;
	} else if (slice_is(name, nl, "include") || slice_is(name, nl, "exists")) {
		t->kind = slice_is(name, nl, "include") ? SPF_MECH_INCLUDE : SPF_MECH_EXISTS;
		if (n - nl < 2 || p[nl] != ':' || !macro_string_ok(p + nl + 1, n - nl - 1, false))
			return fail(err, "bad domain-spec in", p, n);
		t->spec = p + nl + 1;
		t->spec_len = n - nl - 1;
	} else if (slice_is(name, nl, "a") || slice_is(name, nl, "mx")) {
		int rc;

		t->kind = slice_is(name, nl, "a") ? SPF_MECH_A : SPF_MECH_MX;
		if ((rc = split_cidr(t, p + nl, n - nl, err)) < 0)
			return rc;
	} else if (slice_is(name, nl, "ptr")) {
		t->kind = SPF_MECH_PTR;
		if (nl < n) {
			if (p[nl] != ':' || n - nl < 2 ||
			    !macro_string_ok(p + nl + 1, n - nl - 1, false))
				return fail(err, "bad domain-spec in", p, n);
			t->spec = p + nl + 1;
			t->spec_len = n - nl - 1;
		}
	} else if (slice_is(name, nl, "ip4") || slice_is(name, nl, "ip6")) {
		int rc;
		bool v6 = slice_is(name, nl, "ip6");

		t->kind = v6 ? SPF_MECH_IP6 : SPF_MECH_IP4;
		if ((rc = parse_ip(t, p + nl, n - nl, v6, err)) < 0)
			return rc;
	} else {
		return fail(err, "unknown mechanism", p, n);
	}
	rec->nterms++;
	return 0;
}

int
spf_record_parse(const char *txt, size_t len, struct spf_record *out, struct mn_err *err)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	if (len > SPF_RECORD_MAX)
		return mn_err_set(err, MN_EPARSE, "record longer than %d bytes", SPF_RECORD_MAX);
	if (!spf_is_record(txt, len))
		return mn_err_set(err, MN_EPARSE, "not a v=spf1 record");
	i = 6;
	while (i < len) {
		size_t start;
		int rc;

		if (txt[i] == ' ') {
			i++;
			continue;
		}
		start = i;
		while (i < len && txt[i] != ' ')
			i++;
		if ((rc = parse_term(txt + start, i - start, out, err)) < 0)
			return rc;
	}
	for (i = 0; i < out->nterms; i++)
		if (out->terms[i].kind == SPF_MOD_REDIRECT)
			out->redirect = &out->terms[i];
	return 0;
}

/* --- macros (§7) --------------------------------------------------------- */

static void
ip_macro(const char *ip, char *out, size_t outsz, bool *v6)
{
	uint8_t a[16];

	*v6 = false;
	if (inet_pton(AF_INET, ip, a) == 1) {
		snprintf(out, outsz, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
		return;
	}
	if (inet_pton(AF_INET6, ip, a) == 1) {
		size_t o = 0;

		*v6 = true;
		for (int i = 0; i < 16 && o + 4 < outsz; i++) {
			o += (size_t)snprintf(out + o, outsz - o, "%x.%x%s", a[i] >> 4, a[i] & 15,
			    i == 15 ? "" : ".");
		}
		return;
	}
	snprintf(out, outsz, "%s", ip);
}

/* transform value per §7.3: split on delims, maybe reverse, keep the
 * rightmost `keep` parts (0: all), join with '.' */
static int
transform(struct buf *b, const char *val, const char *delims, bool rev, unsigned keep, bool esc)
{
	const char *parts[128];
	size_t plen[128], np = 0, first;
	const char *p = val;

	for (;;) {
		size_t n = strcspn(p, delims);

		if (np == 128)
			return MN_EPARSE;
		parts[np] = p;
		plen[np++] = n;
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	if (rev)
		for (size_t i = 0; i < np / 2; i++) {
			const char *tp = parts[i];
			size_t tl = plen[i];

			parts[i] = parts[np - 1 - i];
			plen[i] = plen[np - 1 - i];
			parts[np - 1 - i] = tp;
			plen[np - 1 - i] = tl;
		}
	first = keep > 0 && keep < np ? np - keep : 0;
	for (size_t i = first; i < np; i++) {
		if (i > first)
			buf_append(b, ".", 1);
		for (size_t j = 0; j < plen[i]; j++) {
			unsigned char ch = (unsigned char)parts[i][j];

			/* uppercase macro letter: URL-escape (§7.3) */
			if (esc && !isalnum(ch) && strchr("-._~", ch) == NULL)
				buf_printf(b, "%%%02X", ch);
			else
				buf_append(b, &parts[i][j], 1);
		}
	}
	return 0;
}

int
spf_macro_expand(const char *spec, size_t len, const char *sender, const char *domain,
    const char *ip, const char *helo, char *out, size_t outsz)
{
	struct buf b;
	const char *at = strrchr(sender, '@');
	char local[256], odom[256], ipbuf[80];
	bool v6;
	int rc = 0;

	snprintf(local, sizeof(local), "%.*s", at ? (int)(at - sender) : 0, sender);
	if (local[0] == '\0')
		snprintf(local, sizeof(local), "postmaster");
	snprintf(odom, sizeof(odom), "%s", at ? at + 1 : sender);
	ip_macro(ip, ipbuf, sizeof(ipbuf), &v6);
	buf_init(&b, 4096);
	for (size_t i = 0; i < len && rc == 0; i++) {
		char letter, delims[8];
		unsigned keep = 0;
		bool rev = false;
		size_t nd = 0;
		const char *val;
		char sbuf[600];

		if (spec[i] != '%') {
			buf_append(&b, &spec[i], 1);
			continue;
		}
		if (++i == len) {
			rc = MN_EPARSE;
			break;
		}
		if (spec[i] == '%' || spec[i] == '_' || spec[i] == '-') {
			buf_append(&b,
			    spec[i] == '%'   ? "%"
			    : spec[i] == '_' ? " "
			                     : "%20",
			    spec[i] == '-' ? 3 : 1);
			continue;
		}
		if (spec[i] != '{' || ++i == len) {
			rc = MN_EPARSE;
			break;
		}
		letter = spec[i++];
		while (i < len && isdigit((unsigned char)spec[i]) && keep < 1000)
			keep = keep * 10 + (unsigned)(spec[i++] - '0');
		if (i > 0 && isdigit((unsigned char)spec[i - 1]) && keep == 0) {
			rc = MN_EPARSE; /* "%{d0}" is invalid (§7.1) */
			break;
		}
		if (i < len && (spec[i] == 'r' || spec[i] == 'R')) {
			rev = true;
			i++;
		}
		while (i < len && strchr(".-+,/_=", spec[i]) != NULL && nd < sizeof(delims) - 1)
			delims[nd++] = spec[i++];
		if (nd == 0)
			delims[nd++] = '.';
		delims[nd] = '\0';
		if (i == len || spec[i] != '}') {
			rc = MN_EPARSE;
			break;
		}
		switch (tolower((unsigned char)letter)) {
		case 's':
			snprintf(sbuf, sizeof(sbuf), "%s@%s", local, odom);
			val = sbuf;
			break;
		case 'l':
			val = local;
			break;
		case 'o':
			val = odom;
			break;
		case 'd':
			val = domain;
			break;
		case 'i':
			val = ipbuf;
			break;
		case 'p':
			val = "unknown"; /* §7.3: no validated name is looked up */
			break;
		case 'v':
			val = v6 ? "ip6" : "in-addr";
			break;
		case 'h':
			val = helo;
			break;
		default:
			rc = MN_EPARSE;
			continue;
		}
		rc = transform(&b, val, delims, rev, keep, isupper((unsigned char)letter));
	}
	if (rc == 0 && buf_append(&b, "", 1) < 0)
		rc = MN_EPARSE;
	if (rc == 0) {
		const char *s = (const char *)b.data;

		/* §7.3: longer than 253: drop labels from the left */
		while (strlen(s) > SPF_DOMAIN_MAX && strchr(s, '.') != NULL)
			s = strchr(s, '.') + 1;
		if (strlen(s) >= outsz || strlen(s) > SPF_DOMAIN_MAX)
			rc = MN_EPARSE;
		else
			memcpy(out, s, strlen(s) + 1);
	}
	buf_fini(&b);
	return rc;
}

/* --- evaluation ---------------------------------------------------------- */

struct spf_eval {
	spf_query_fn query;
	void *qarg;
	const char *ip, *helo, *sender;
	int family; /* 4 or 6 */
	uint8_t addr[16];
	unsigned lookups, voids, depth;
	char reason[400];
};

/* match outcomes of one term */
enum { M_NO = 0, M_YES = 1, M_TEMP = -1, M_PERM = -2 };

static bool
domain_ok(const char *d)
{
	size_t n = strlen(d), label = 0;

	/* §4.3: a domain that is not a multi-label FQDN is "none" */
	if (n == 0 || n > SPF_DOMAIN_MAX || strchr(d, '.') == NULL || d[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.') {
			if (label == 0 && i + 1 < n)
				return false;
			label = 0;
			continue;
		}
		if (c <= ' ' || c >= 0x7f || ++label > 63)
			return false;
	}
	return true;
}

static bool
prefix_match(const uint8_t *a, const uint8_t *b, int bits)
{
	int full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ b[full]) & (0xff << (8 - rest))) == 0;
}

static bool
addr_match(struct spf_eval *e, const char *rr, size_t len, int cidr4, int cidr6)
{
	if (e->family == 4 && len == 4)
		return prefix_match(e->addr, (const uint8_t *)rr, cidr4);
	if (e->family == 6 && len == 16)
		return prefix_match(e->addr, (const uint8_t *)rr, cidr6);
	return false;
}

static int
count_lookup(struct spf_eval *e)
{
	if (++e->lookups > SPF_LOOKUP_LIMIT) {
		snprintf(
		    e->reason, sizeof(e->reason), "more than %d DNS lookups", SPF_LOOKUP_LIMIT);
		return M_PERM;
	}
	return M_NO;
}

static int
void_lookup(struct spf_eval *e)
{
	if (++e->voids > SPF_VOID_LIMIT) {
		snprintf(
		    e->reason, sizeof(e->reason), "more than %d void DNS lookups", SPF_VOID_LIMIT);
		return M_PERM;
	}
	return M_NO;
}

static int
expand_target(struct spf_eval *e, const struct spf_term *t, const char *domain, char *out)
{
	if (t->spec == NULL) {
		snprintf(out, SPF_DOMAIN_MAX + 1, "%s", domain);
		return 0;
	}
	if (spf_macro_expand(t->spec, t->spec_len, e->sender, domain, e->ip, e->helo, out,
	        SPF_DOMAIN_MAX + 1) < 0) {
		snprintf(e->reason, sizeof(e->reason), "bad macro in '%.*s'",
		    (int)(t->spec_len > 60 ? 60 : t->spec_len), t->spec);
		return M_PERM;
	}
	return 0;
}

/* addresses of host matched against the client; void lookups counted */
static int
match_host_addrs(struct spf_eval *e, const char *host, int cidr4, int cidr6, bool count_void)
{
	struct spf_dns_answer a;
	int m = M_NO;

	memset(&a, 0, sizeof(a));
	e->query(e->qarg, host, e->family == 4 ? ns_t_a : ns_t_aaaa, &a);
	if (a.status == MN_ETEMP) {
		snprintf(e->reason, sizeof(e->reason), "DNS failure looking up %.120s", host);
		m = M_TEMP;
	} else if (a.status != 0 || a.n == 0) {
		if (count_void)
			m = void_lookup(e);
	} else {
		for (size_t i = 0; i < a.n && m == M_NO; i++)
			if (addr_match(e, a.rr[i], a.rrlen[i], cidr4, cidr6))
				m = M_YES;
	}
	spf_dns_answer_fini(&a);
	return m;
}

static enum spf_result check_host(struct spf_eval *e, const char *domain);

static int
match_mx(struct spf_eval *e, const char *target, int cidr4, int cidr6)
{
	struct spf_dns_answer a;
	int m = M_NO;

	memset(&a, 0, sizeof(a));
	e->query(e->qarg, target, ns_t_mx, &a);
	if (a.status == MN_ETEMP) {
		snprintf(
		    e->reason, sizeof(e->reason), "DNS failure looking up MX of %.120s", target);
		m = M_TEMP;
	} else if (a.status != 0 || a.n == 0) {
		m = void_lookup(e);
	} else if (a.n > SPF_NAMES_LIMIT) {
		snprintf(e->reason, sizeof(e->reason), "more than %d MX names for %.120s",
		    SPF_NAMES_LIMIT, target);
		m = M_PERM;
	} else {
		for (size_t i = 0; i < a.n && m == M_NO; i++)
			m = match_host_addrs(e, a.rr[i], cidr4, cidr6, false);
	}
	spf_dns_answer_fini(&a);
	return m;
}

static bool
is_subdomain(const char *name, const char *target)
{
	size_t n = strlen(name), t = strlen(target);

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == t && strncasecmp(name, target, t) == 0)
		return true;
	return n > t && name[n - t - 1] == '.' && strncasecmp(name + n - t, target, t) == 0;
}

static int
match_ptr(struct spf_eval *e, const char *target)
{
	struct spf_dns_answer a;
	char rev[100];
	bool v6;
	int m = M_NO;

	ip_macro(e->ip, rev, sizeof(rev), &v6);
	{
		/* reverse the label order: "1.2.3.4" -> "4.3.2.1.in-addr.arpa" */
		struct buf b;
		char tmp[100];
		size_t n;

		buf_init(&b, 256);
		transform(&b, rev, ".", true, 0, false);
		buf_printf(&b, v6 ? ".ip6.arpa" : ".in-addr.arpa");
		n = b.len < sizeof(tmp) - 1 ? b.len : sizeof(tmp) - 1;
		memcpy(tmp, b.data, n);
		tmp[n] = '\0';
		buf_fini(&b);
		memcpy(rev, tmp, n + 1);
	}
	memset(&a, 0, sizeof(a));
	e->query(e->qarg, rev, ns_t_ptr, &a);
	/* §5.5: a failed PTR lookup is no match, not an error */
	for (size_t i = 0; a.status == 0 && i < a.n && i < SPF_NAMES_LIMIT && m == M_NO; i++) {
		if (!is_subdomain(a.rr[i], target))
			continue;
		if (match_host_addrs(e, a.rr[i], e->family == 4 ? 32 : 128, 128, false) == M_YES)
			m = M_YES;
	}
	spf_dns_answer_fini(&a);
	return m;
}

static int
match_term(struct spf_eval *e, const struct spf_term *t, const char *domain)
{
	char target[SPF_DOMAIN_MAX + 1];
	enum spf_result r;
	int m;

	switch (t->kind) {
	case SPF_MECH_ALL:
		return M_YES;
	case SPF_MECH_IP4:
		return e->family == 4 && prefix_match(e->addr, t->addr, t->cidr4) ? M_YES : M_NO;
	case SPF_MECH_IP6:
		return e->family == 6 && prefix_match(e->addr, t->addr, t->cidr6) ? M_YES : M_NO;
	case SPF_MOD_REDIRECT:
	case SPF_MOD_EXP:
		return M_NO;
	default:
		break;
	}
	if ((m = count_lookup(e)) < 0 || (m = expand_target(e, t, domain, target)) < 0)
		return m;
	switch (t->kind) {
	case SPF_MECH_INCLUDE:
		r = check_host(e, target);
		switch (r) {
		case SPF_PASS:
			return M_YES;
		case SPF_FAIL:
		case SPF_SOFTFAIL:
		case SPF_NEUTRAL:
			return M_NO;
		case SPF_TEMPERROR:
			return M_TEMP;
		case SPF_NONE:
			snprintf(e->reason, sizeof(e->reason), "include:%.120s has no SPF record",
			    target);
			return M_PERM;
		case SPF_PERMERROR:
			return M_PERM;
		}
		return M_PERM;
	case SPF_MECH_A:
		return match_host_addrs(e, target, t->cidr4, t->cidr6, true);
	case SPF_MECH_MX:
		return match_mx(e, target, t->cidr4, t->cidr6);
	case SPF_MECH_PTR:
		return match_ptr(e, target);
	case SPF_MECH_EXISTS: {
		struct spf_dns_answer a;

		memset(&a, 0, sizeof(a));
		e->query(e->qarg, target, ns_t_a, &a); /* always A (§5.7) */
		if (a.status == MN_ETEMP) {
			snprintf(
			    e->reason, sizeof(e->reason), "DNS failure looking up %.120s", target);
			m = M_TEMP;
		} else if (a.status != 0 || a.n == 0) {
			m = void_lookup(e);
		} else {
			m = M_YES;
		}
		spf_dns_answer_fini(&a);
		return m;
	}
	default:
		return M_NO;
	}
}

static enum spf_result
qualifier_result(char q)
{
	switch (q) {
	case '-':
		return SPF_FAIL;
	case '~':
		return SPF_SOFTFAIL;
	case '?':
		return SPF_NEUTRAL;
	default:
		return SPF_PASS;
	}
}

static enum spf_result
check_host(struct spf_eval *e, const char *domain)
{
	struct spf_dns_answer a;
	struct spf_record *rec;
	struct mn_err err;
	enum spf_result r = SPF_NEUTRAL;
	const char *txt = NULL;
	size_t txtlen = 0, nrec = 0;

	if (!domain_ok(domain)) {
		snprintf(e->reason, sizeof(e->reason), "'%.100s' is not a domain name", domain);
		return SPF_NONE;
	}
	if (e->depth >= SPF_DEPTH_MAX) {
		snprintf(e->reason, sizeof(e->reason), "include/redirect nested too deep");
		return SPF_PERMERROR;
	}
	memset(&a, 0, sizeof(a));
	e->query(e->qarg, domain, ns_t_txt, &a);
	if (a.status == MN_ETEMP) {
		snprintf(e->reason, sizeof(e->reason), "DNS failure looking up %.120s", domain);
		spf_dns_answer_fini(&a);
		return SPF_TEMPERROR;
	}
	for (size_t i = 0; a.status == 0 && i < a.n; i++)
		if (spf_is_record(a.rr[i], a.rrlen[i])) {
			nrec++;
			txt = a.rr[i];
			txtlen = a.rrlen[i];
		}
	if (nrec == 0) {
		snprintf(e->reason, sizeof(e->reason), "no SPF record for %.120s", domain);
		spf_dns_answer_fini(&a);
		return SPF_NONE;
	}
	if (nrec > 1) {
		snprintf(
		    e->reason, sizeof(e->reason), "more than one SPF record for %.120s", domain);
		spf_dns_answer_fini(&a);
		return SPF_PERMERROR;
	}
	rec = xmalloc(sizeof(*rec));
	mn_err_clear(&err);
	if (spf_record_parse(txt, txtlen, rec, &err) < 0) {
		snprintf(e->reason, sizeof(e->reason), "bad SPF record for %.80s: %.100s", domain,
		    err.msg);
		free(rec);
		spf_dns_answer_fini(&a);
		return SPF_PERMERROR;
	}
	e->depth++;
	for (size_t i = 0; i < rec->nterms; i++) {
		const struct spf_term *t = &rec->terms[i];
		int m = match_term(e, t, domain);

		if (m == M_TEMP) {
			r = SPF_TEMPERROR;
			goto out;
		}
		if (m == M_PERM) {
			r = SPF_PERMERROR;
			goto out;
		}
		if (m == M_YES) {
			r = qualifier_result(t->qualifier);
			if (r == SPF_PASS)
				snprintf(e->reason, sizeof(e->reason), "%.60s is allowed by %.120s",
				    e->ip, domain);
			else
				snprintf(e->reason, sizeof(e->reason),
				    "%.60s is not allowed to send mail for %.120s", e->ip, domain);
			goto out;
		}
	}
	if (rec->redirect != NULL) {
		char target[SPF_DOMAIN_MAX + 1];
		int m;

		if ((m = count_lookup(e)) < 0 ||
		    (m = expand_target(e, rec->redirect, domain, target)) < 0) {
			r = SPF_PERMERROR;
			goto out;
		}
		r = check_host(e, target);
		if (r == SPF_NONE) {
			snprintf(e->reason, sizeof(e->reason), "redirect=%.120s has no SPF record",
			    target);
			r = SPF_PERMERROR;
		}
		goto out;
	}
	snprintf(
	    e->reason, sizeof(e->reason), "%.120s neither permits nor denies %.60s", domain, e->ip);
	r = SPF_NEUTRAL; /* §4.7: ran off the end */
out:
	e->depth--;
	free(rec);
	spf_dns_answer_fini(&a);
	return r;
}

void
spf_check(spf_query_fn query, void *qarg, const char *ip, const char *helo, const char *sender,
    struct spf_outcome *out)
{
	struct spf_eval e;
	char mailfrom[600];
	const char *at, *domain;

	memset(out, 0, sizeof(*out));
	memset(&e, 0, sizeof(e));
	e.query = query;
	e.qarg = qarg;
	e.ip = ip;
	e.helo = helo != NULL ? helo : "";
	if (sender == NULL || sender[0] == '\0') {
		/* §2.4: the null reverse-path is checked as postmaster@HELO */
		out->helo_identity = true;
		snprintf(mailfrom, sizeof(mailfrom), "postmaster@%.500s", e.helo);
	} else {
		snprintf(mailfrom, sizeof(mailfrom), "%.590s", sender);
	}
	e.sender = mailfrom;
	at = strrchr(mailfrom, '@');
	domain = at != NULL ? at + 1 : mailfrom;
	snprintf(out->domain, sizeof(out->domain), "%.253s", domain);
	if (inet_pton(AF_INET, ip, e.addr) == 1) {
		e.family = 4;
	} else if (inet_pton(AF_INET6, ip, e.addr) == 1) {
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

		e.family = 6;
		if (memcmp(e.addr, mapped, 12) == 0) { /* ::ffff:a.b.c.d is IPv4 */
			memmove(e.addr, e.addr + 12, 4);
			e.family = 4;
		}
	} else {
		out->result = SPF_NONE;
		snprintf(out->reason, sizeof(out->reason), "client address is not an IP");
		return;
	}
	out->result = check_host(&e, out->domain);
	out->lookups = e.lookups;
	snprintf(out->reason, sizeof(out->reason), "%s", e.reason);
}

/* --- the real DNS -------------------------------------------------------- */

#define SPF_ANSWER_BYTES 16384

void
spf_dns_resolver_query(void *qarg, const char *name, int type, struct spf_dns_answer *ans)
{
	const struct dns_resolver *r = qarg;
	unsigned char *buf = xmalloc(SPF_ANSWER_BYTES);
	char reason[320];
	ns_msg msg;
	ns_rr rr;
	int len = 0, rc;

	memset(ans, 0, sizeof(*ans));
	rc = dns_query_sync(r, name, type, buf, SPF_ANSWER_BYTES, &len, reason, sizeof(reason));
	ans->status = rc;
	if (rc != 0)
		goto done;
	if (ns_initparse(buf, len, &msg) < 0) {
		ans->status = MN_ETEMP;
		goto done;
	}
	for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
		const unsigned char *d;
		size_t dl;
		char host[NS_MAXDNAME];

		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			break;
		if ((int)ns_rr_type(rr) != type)
			continue;
		d = ns_rr_rdata(rr);
		dl = ns_rr_rdlen(rr);
		switch (type) {
		case ns_t_a:
		case ns_t_aaaa:
			if (dl == (type == ns_t_a ? 4u : 16u))
				spf_dns_answer_add(ans, d, dl);
			break;
		case ns_t_mx:
		case ns_t_ptr:
			if (type == ns_t_mx && dl < 3)
				break;
			if (dn_expand(ns_msg_base(msg), ns_msg_end(msg),
			        type == ns_t_mx ? d + 2 : d, host, sizeof(host)) >= 0)
				spf_dns_answer_add(ans, host, strlen(host));
			break;
		case ns_t_txt: {
			/* RFC 7208 §3.3: the strings of one record are joined */
			struct buf b;

			buf_init(&b, 65536);
			for (size_t o = 0; o < dl;) {
				size_t sl = d[o];

				if (o + 1 + sl > dl)
					break;
				buf_append(&b, d + o + 1, sl);
				o += 1 + sl;
			}
			spf_dns_answer_add(ans, b.data != NULL ? (const char *)b.data : "", b.len);
			buf_fini(&b);
			break;
		}
		default:
			break;
		}
	}
done:
	free(buf);
}
