/*
 * antispam.c - settings and glue of the inbound mail checks (antispam.h):
 * maps results to actions and SMTP replies, formats the
 * Authentication-Results parts (RFC 8601 §2.7).
 */
#include "node/antispam/antispam.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "node/delivery/dns.h"

struct antispam {
	struct dns_resolver *dns;
	bool spf;
	enum antispam_action spf_act[SPF_PERMERROR + 1];
};

static enum antispam_action
action_of(const char *v)
{
	if (v != NULL && strcmp(v, "reject") == 0)
		return ANTISPAM_REJECT;
	if (v != NULL && strcmp(v, "defer") == 0)
		return ANTISPAM_DEFER;
	return ANTISPAM_ACCEPT;
}

int
antispam_new(uv_loop_t *loop, const struct mn_config *cfg, struct antispam **out,
    struct mn_err *err)
{
	struct antispam *a = xcalloc(1, sizeof(*a));
	int rc;

	if ((rc = dns_resolver_new(loop, cfg->dns_resolvers, &a->dns, err)) < 0) {
		free(a);
		return mn_err_wrap(err, "[dns] resolvers");
	}
	a->spf = cfg->antispam_spf;
	a->spf_act[SPF_FAIL] = action_of(cfg->antispam_spf_fail);
	a->spf_act[SPF_SOFTFAIL] = action_of(cfg->antispam_spf_softfail);
	a->spf_act[SPF_PERMERROR] = action_of(cfg->antispam_spf_permerror);
	a->spf_act[SPF_TEMPERROR] = action_of(cfg->antispam_spf_temperror);
	if (a->spf && !dns_has_servers(a->dns))
		log_info("antispam", "event=dns resolvers=system reason=\"[dns] resolvers unset: "
		                     "checks use /etc/resolv.conf\"");
	*out = a;
	return 0;
}

void
antispam_free(struct antispam **ap)
{
	struct antispam *a = *ap;

	if (a == NULL)
		return;
	dns_resolver_free(&a->dns);
	free(a);
	*ap = NULL;
}

bool
antispam_spf_enabled(const struct antispam *a)
{
	return a != NULL && a->spf;
}

void
antispam_spf_check(struct antispam *a, const char *ip, const char *helo, const char *sender,
    struct spf_outcome *out)
{
	spf_check(spf_dns_resolver_query, a->dns, ip, helo, sender, out);
	log_info("antispam", "event=spf result=%s domain=%s identity=%s lookups=%u reason=\"%s\"",
	    spf_result_name(out->result), out->domain, out->helo_identity ? "helo" : "mailfrom",
	    out->lookups, out->reason);
}

enum antispam_action
antispam_spf_action(const struct antispam *a, enum spf_result res)
{
	return a->spf_act[res];
}

void
antispam_spf_reply(const struct spf_outcome *o, const char *sender, enum antispam_action act,
    char *out, size_t outsz)
{
	/* RFC 7372 §3.2: X.7.23 SPF validation failed, X.7.24 SPF error */
	bool err = o->result == SPF_TEMPERROR || o->result == SPF_PERMERROR;

	if (act == ANTISPAM_DEFER)
		snprintf(out, outsz, "451 4.7.24 <%.300s>: Sender address deferred: SPF %s: %.200s",
		    sender, spf_result_name(o->result), o->reason);
	else
		snprintf(out, outsz, "550 5.7.%d <%.300s>: Sender address rejected: SPF %s: %.200s",
		    err ? 24 : 23, sender, spf_result_name(o->result), o->reason);
}

/* "ptype.property=value" with a value the client chose: only characters
 * that need no quoting in a header value (RFC 8601 §2.2 pvalue) pass */
static void
ar_value(struct buf *b, const char *prop, const char *v)
{
	buf_append_str(b, prop);
	for (size_t i = 0; v[i] != '\0' && i < 300; i++) {
		unsigned char c = (unsigned char)v[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("@.-_+=[]:", c) != NULL)
			buf_append(b, &v[i], 1);
		else
			buf_append(b, "_", 1);
	}
}

void
antispam_ar_spf(struct buf *b, const struct spf_outcome *o, const char *sender, const char *helo)
{
	char reason[200];
	size_t j = 0;

	/* a comment may not hold unbalanced parentheses or CR/LF (RFC 5322 §3.2.2) */
	for (size_t i = 0; o->reason[i] != '\0' && j < sizeof(reason) - 1; i++)
		if (o->reason[i] != '(' && o->reason[i] != ')' && o->reason[i] != '\\' &&
		    (unsigned char)o->reason[i] >= ' ')
			reason[j++] = o->reason[i];
	reason[j] = '\0';
	buf_printf(b, "spf=%s (%s) ", spf_result_name(o->result), reason);
	ar_value(b, o->helo_identity ? "smtp.helo=" : "smtp.mailfrom=",
	    o->helo_identity ? helo : sender);
}
