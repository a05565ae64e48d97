/*
 * dmarc.c - RFC 7489 policy discovery, alignment and disposition
 * (dmarc.h), and the public suffix list for organizational domains.
 */
#include "node/antispam/dmarc.h"

#include <arpa/nameser.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/xalloc.h"

#define PSL_RULES_MAX 50000 /* the list has about 10000 */
#define PSL_LINE_MAX 256

const char *
dmarc_result_name(enum dmarc_result r)
{
	switch (r) {
	case DMARC_RES_NONE:
		return "none";
	case DMARC_RES_PASS:
		return "pass";
	case DMARC_RES_FAIL:
		return "fail";
	case DMARC_RES_TEMPERROR:
		return "temperror";
	case DMARC_RES_PERMERROR:
		return "permerror";
	}
	return "none";
}

const char *
dmarc_policy_name(enum dmarc_policy_kind p)
{
	return p == DMARC_P_REJECT ? "reject" : p == DMARC_P_QUARANTINE ? "quarantine" : "none";
}

/* --- record -------------------------------------------------------------- */

static int
policy_of(const char *v, size_t n, enum dmarc_policy_kind *out)
{
	if (n == 4 && strncasecmp(v, "none", 4) == 0)
		*out = DMARC_P_NONE;
	else if (n == 10 && strncasecmp(v, "quarantine", 10) == 0)
		*out = DMARC_P_QUARANTINE;
	else if (n == 6 && strncasecmp(v, "reject", 6) == 0)
		*out = DMARC_P_REJECT;
	else
		return MN_EPARSE;
	return 0;
}

int
dmarc_record_parse(const char *txt, size_t len, struct dmarc_record *out)
{
	size_t i = 0;
	unsigned ntag = 0;
	bool have_p = false;

	memset(out, 0, sizeof(*out));
	out->pct = 100;
	if (len > DMARC_RECORD_MAX)
		return MN_EPARSE;
	while (i < len) {
		size_t end = i, ns, ne, vs, ve;

		while (end < len && txt[end] != ';')
			end++;
		/* tag-spec = WSP tag-name WSP "=" WSP tag-value WSP */
		ns = i;
		while (ns < end && (txt[ns] == ' ' || txt[ns] == '\t'))
			ns++;
		ne = ns;
		while (ne < end && (isalnum((unsigned char)txt[ne]) || txt[ne] == '_'))
			ne++;
		vs = ne;
		while (vs < end && (txt[vs] == ' ' || txt[vs] == '\t'))
			vs++;
		if (ns == end) { /* empty tag (a trailing ';') */
			i = end + 1;
			continue;
		}
		if (vs == end || txt[vs] != '=')
			return MN_EPARSE;
		vs++;
		while (vs < end && (txt[vs] == ' ' || txt[vs] == '\t'))
			vs++;
		ve = end;
		while (ve > vs && (txt[ve - 1] == ' ' || txt[ve - 1] == '\t'))
			ve--;
		{
			const char *name = txt + ns, *v = txt + vs;
			size_t nl = ne - ns, vl = ve - vs;

			if (ntag++ == 0) { /* §6.4: v=DMARC1 first */
				if (!(nl == 1 && name[0] == 'v' && vl == 6 &&
				        strncmp(v, "DMARC1", 6) == 0))
					return MN_EPARSE;
			} else if (nl == 1 && name[0] == 'p') {
				if (policy_of(v, vl, &out->p) < 0)
					return MN_EPARSE;
				have_p = true;
			} else if (nl == 2 && strncmp(name, "sp", 2) == 0) {
				if (policy_of(v, vl, &out->sp) == 0)
					out->has_sp = true;
			} else if (nl == 5 && strncmp(name, "adkim", 5) == 0) {
				out->adkim_strict = vl == 1 && (v[0] == 's' || v[0] == 'S');
			} else if (nl == 4 && strncmp(name, "aspf", 4) == 0) {
				out->aspf_strict = vl == 1 && (v[0] == 's' || v[0] == 'S');
			} else if (nl == 3 && strncmp(name, "pct", 3) == 0) {
				unsigned n = 0;
				size_t k;

				for (k = 0; k < vl && isdigit((unsigned char)v[k]) && n <= 100; k++)
					n = n * 10 + (unsigned)(v[k] - '0');
				if (k == vl && vl > 0 && n <= 100)
					out->pct = n;
			}
			/* rua, ruf, fo, rf, ri and unknown tags: not used (§6.3) */
		}
		i = end + 1;
	}
	return have_p ? 0 : MN_EPARSE;
}

/* --- public suffix list -------------------------------------------------- */

struct psl {
	char **rules; /* sorted; "*.ck", "!www.ck", "com" */
	size_t n;
};

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct psl *
psl_load(const char *path)
{
	struct psl *p = xcalloc(1, sizeof(*p));
	FILE *f = path != NULL ? fopen(path, "r") : NULL;
	char line[PSL_LINE_MAX];
	size_t cap = 0;

	if (f == NULL)
		return p;
	while (fgets(line, sizeof(line), f) != NULL && p->n < PSL_RULES_MAX) {
		size_t n = strcspn(line, " \t\r\n");

		line[n] = '\0';
		if (n == 0 || (line[0] == '/' && line[1] == '/'))
			continue;
		for (size_t i = 0; i < n; i++)
			line[i] = (char)tolower((unsigned char)line[i]);
		if (p->n == cap) {
			cap = cap ? cap * 2 : 4096;
			p->rules = xrealloc(p->rules, cap * sizeof(*p->rules));
		}
		p->rules[p->n++] = xstrdup(line);
	}
	fclose(f);
	qsort(p->rules, p->n, sizeof(*p->rules), cmp_str);
	return p;
}

void
psl_free(struct psl **pp)
{
	struct psl *p = *pp;

	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->rules[i]);
	free(p->rules);
	free(p);
	*pp = NULL;
}

static bool
psl_has(const struct psl *p, const char *rule)
{
	return p->n > 0 && bsearch(&rule, p->rules, p->n, sizeof(*p->rules), cmp_str) != NULL;
}

void
psl_org_domain(const struct psl *p, const char *domain, char *out, size_t outsz)
{
	char d[256], tmp[260];
	const char *labels[128];
	size_t nl = 0, suffix = 1; /* labels in the public suffix ("*" default rule) */

	snprintf(d, sizeof(d), "%s", domain);
	for (char *c = d; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if (d[0] != '\0' && d[strlen(d) - 1] == '.')
		d[strlen(d) - 1] = '\0';
	/* label start offsets, right to left */
	for (const char *c = d + strlen(d); c > d && nl < 128;) {
		const char *dot = c;

		while (dot > d && dot[-1] != '.')
			dot--;
		labels[nl++] = dot;
		c = dot > d ? dot - 1 : d;
	}
	if (p->n == 0) {
		suffix = 1;
	} else {
		/* longest matching rule; an exception rule wins (psl algorithm) */
		for (size_t k = 1; k <= nl; k++) {
			const char *s = labels[k - 1]; /* the last k labels */

			snprintf(tmp, sizeof(tmp), "!%s", s);
			if (psl_has(p, tmp)) {
				suffix = k - 1;
				break;
			}
			if (psl_has(p, s))
				suffix = k;
			if (k < nl) {
				/* "*.s" matches one more label */
				snprintf(tmp, sizeof(tmp), "*.%s", s);
				if (psl_has(p, tmp))
					suffix = k + 1;
			}
		}
	}
	if (suffix >= nl || nl == 0)
		snprintf(out, outsz, "%s", d);
	else
		snprintf(out, outsz, "%s", labels[suffix]);
}

/* --- evaluation ---------------------------------------------------------- */

static bool
aligned(const struct psl *psl, const char *a, const char *b, bool strict)
{
	char oa[256], ob[256];

	if (strcasecmp(a, b) == 0)
		return true;
	if (strict)
		return false;
	psl_org_domain(psl, a, oa, sizeof(oa));
	psl_org_domain(psl, b, ob, sizeof(ob));
	return strcmp(oa, ob) == 0;
}

/* one _dmarc lookup: 0 record found, 1 none, MN_ETEMP */
static int
fetch(spf_query_fn query, void *qarg, const char *domain, struct dmarc_record *rec)
{
	struct spf_dns_answer a;
	char name[300];
	int found = 0, rc = 1;

	snprintf(name, sizeof(name), "_dmarc.%s", domain);
	memset(&a, 0, sizeof(a));
	query(qarg, name, ns_t_txt, &a);
	if (a.status == MN_ETEMP) {
		spf_dns_answer_fini(&a);
		return MN_ETEMP;
	}
	/* §6.6.3: records not starting with v=DMARC1 are dropped; more than
	 * one left is the same as none */
	for (size_t i = 0; a.status == 0 && i < a.n; i++) {
		struct dmarc_record r;

		if (a.rrlen[i] < 8 || strncmp(a.rr[i], "v=DMARC1", 8) != 0)
			continue;
		if (dmarc_record_parse(a.rr[i], a.rrlen[i], &r) == 0) {
			*rec = r;
			found++;
		}
	}
	if (found == 1)
		rc = 0;
	spf_dns_answer_fini(&a);
	return rc;
}

void
dmarc_check(spf_query_fn query, void *qarg, const struct psl *psl, const char *from_domain,
    bool spf_checked, const struct spf_outcome *spf, const struct dkim_verify_result *dkim,
    unsigned dice, struct dmarc_outcome *out)
{
	struct dmarc_record rec;
	char org[256];
	bool use_sp = false, spf_ok = false, dkim_ok = false;
	int rc;

	memset(out, 0, sizeof(*out));
	if (from_domain == NULL || from_domain[0] == '\0') {
		out->result = DMARC_RES_PERMERROR;
		snprintf(out->reason, sizeof(out->reason), "no single From domain");
		return;
	}
	snprintf(out->from_domain, sizeof(out->from_domain), "%s", from_domain);
	rc = fetch(query, qarg, from_domain, &rec);
	if (rc == 1) {
		psl_org_domain(psl, from_domain, org, sizeof(org));
		if (strcasecmp(org, from_domain) != 0) {
			rc = fetch(query, qarg, org, &rec);
			use_sp = true;
		}
	}
	if (rc == MN_ETEMP) {
		out->result = DMARC_RES_TEMPERROR;
		snprintf(out->reason, sizeof(out->reason), "DNS failure looking up the policy");
		return;
	}
	if (rc != 0) {
		out->result = DMARC_RES_NONE;
		snprintf(
		    out->reason, sizeof(out->reason), "no DMARC policy for %.120s", from_domain);
		return;
	}
	out->policy = use_sp && rec.has_sp ? rec.sp : rec.p;
	/* §3.1.2: SPF's authenticated identifier (MAIL FROM, or HELO for the
	 * null sender) aligned with the From domain */
	if (spf_checked && spf->result == SPF_PASS)
		spf_ok = aligned(psl, spf->domain, from_domain, rec.aspf_strict);
	for (size_t i = 0; dkim != NULL && i < dkim->nsigs && !dkim_ok; i++)
		if (dkim->sigs[i].result == DKIM_RES_PASS)
			dkim_ok = aligned(psl, dkim->sigs[i].domain, from_domain, rec.adkim_strict);
	if (spf_ok || dkim_ok) {
		out->result = DMARC_RES_PASS;
		out->disposition = DMARC_P_NONE;
		snprintf(out->reason, sizeof(out->reason), "p=%s dis=none",
		    dmarc_policy_name(out->policy));
		return;
	}
	out->result = DMARC_RES_FAIL;
	/* §6.6.4: pct selects the share of failing mail the policy applies
	 * to; the rest gets the next weaker one */
	out->disposition = out->policy;
	if (dice >= rec.pct && out->policy != DMARC_P_NONE)
		out->disposition =
		    out->policy == DMARC_P_REJECT ? DMARC_P_QUARANTINE : DMARC_P_NONE;
	snprintf(out->reason, sizeof(out->reason), "p=%s dis=%s", dmarc_policy_name(out->policy),
	    dmarc_policy_name(out->disposition));
}
