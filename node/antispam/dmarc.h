/*
 * dmarc.h - DMARC (RFC 7489): the policy record (§6.3), its discovery at
 * the From domain or its organizational domain (§6.6.3), identifier
 * alignment of SPF and DKIM (§3.1, relaxed or strict), and the policy to
 * apply (p=, sp=, pct=).
 *
 * Written here on our DNS rather than on libopendmarc: libopendmarc
 * queries DNS itself through res_query on /etc/resolv.conf (not [dns]
 * resolvers), and what it adds beyond that is the public suffix lookup,
 * which we do from Debian's publicsuffix list (psl_* below).
 *
 * Organizational domain (§3.2): the public suffix rules (exact, "*."
 * wildcard, "!" exception) of /usr/share/publicsuffix/public_suffix_list.dat
 * loaded once; without the file, the last two labels (a documented
 * approximation).
 */
#ifndef MN_NODE_ANTISPAM_DMARC_H
#define MN_NODE_ANTISPAM_DMARC_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"
#include "node/antispam/dkim.h"
#include "node/antispam/spf.h"

#define DMARC_PSL_PATH "/usr/share/publicsuffix/public_suffix_list.dat"
#define DMARC_RECORD_MAX 2048

enum dmarc_policy_kind { DMARC_P_NONE = 0, DMARC_P_QUARANTINE, DMARC_P_REJECT };

struct dmarc_record {
	enum dmarc_policy_kind p, sp;
	bool has_sp;
	bool adkim_strict, aspf_strict;
	unsigned pct; /* 0..100, default 100 */
};

/* dmarc_record_parse - "v=DMARC1; p=reject; ..." (§6.3, §6.4: tags
 * separated by ';', v first, p required; unknown tags ignored). 0 or
 * MN_EPARSE. */
int dmarc_record_parse(const char *txt, size_t len, struct dmarc_record *out);

struct psl;
/* psl_load - the rules of a public suffix list file; NULL path or an
 * unreadable file gives an empty list (the two-label fallback). */
struct psl *psl_load(const char *path);
void psl_free(struct psl **p);
/* psl_org_domain - the organizational domain of domain into out (lower
 * case); domain itself when it is a public suffix. */
void psl_org_domain(const struct psl *p, const char *domain, char *out, size_t outsz);

enum dmarc_result {
	DMARC_RES_NONE = 0, /* no policy published */
	DMARC_RES_PASS,
	DMARC_RES_FAIL,
	DMARC_RES_TEMPERROR,
	DMARC_RES_PERMERROR, /* e.g. no single From domain */
};

struct dmarc_outcome {
	enum dmarc_result result;
	enum dmarc_policy_kind policy;      /* published p= (or sp=) */
	enum dmarc_policy_kind disposition; /* what to do: pct applied; NONE on pass */
	char from_domain[256];
	char reason[160];
};

/* dmarc_check - evaluate for the From domain (from_domain NULL or "":
 * permerror), the SPF outcome (spf_checked false: no SPF result) and the
 * DKIM results. dice: a number 0..99 compared with pct (tests pass 0).
 * Blocking (query). */
void dmarc_check(spf_query_fn query, void *qarg, const struct psl *psl, const char *from_domain,
    bool spf_checked, const struct spf_outcome *spf, const struct dkim_verify_result *dkim,
    unsigned dice, struct dmarc_outcome *out);

const char *dmarc_result_name(enum dmarc_result r);
const char *dmarc_policy_name(enum dmarc_policy_kind p);

#endif
