/*
 * antispam.c - settings and glue of the inbound mail checks (antispam.h):
 * maps results to actions and SMTP replies, formats the
 * Authentication-Results parts (RFC 8601 §2.7).
 */
#include "node/antispam/antispam.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "node/antispam/attach.h"
#include "node/antispam/dkim.h"
#include "node/antispam/dmarc.h"
#include "node/antispam/greylist.h"
#include "node/delivery/dns.h"
#include "storage/directory/directory.h"
#include "storage/message/header.h"

/* what spam gets ([antispam] scan_spam_action) */
enum antispam_scan_act {
	ANTISPAM_SCAN_TAG,
	ANTISPAM_SCAN_JUNK,
	ANTISPAM_SCAN_QUARANTINE,
	ANTISPAM_SCAN_REJECT,
};

struct antispam {
	struct dns_resolver *dns;
	struct directory *dir;
	struct dkim_ctx *dkim;
	struct psl *psl;
	bool spf, dkim_sign, dkim_verify, dmarc;
	char *dnsbl_zones; /* NULL: none */
	char *dbl_zones;   /* NULL: none */
	bool dnsbl_reject;
	uv_loop_t *loop;
	struct greylist *greylist; /* NULL: off */
	char *greylist_path;       /* DATA_DIR/greylist: kept over restarts, or NULL */
	enum antispam_action spf_act[SPF_PERMERROR + 1];
	/* action "quarantine": accepted at SMTP time, held at delivery */
	bool spf_quar[SPF_PERMERROR + 1];
	bool dnsbl_quar, dmarc_quar;
	char *sender_block, *sender_allow; /* config lists or NULL */
	enum antispam_host_action ptr_act, helo_act;
	struct attach_rules attach; /* strings owned here */
	bool attach_on, attach_quar;
	/* content scanning: scan.kind SCAN_NONE when off */
	struct scan_target scan;
	uint64_t scan_max;
	bool scan_defer;
	bool scan_has_spam_score, scan_has_reject_score;
	double scan_spam_score, scan_reject_score;
	char *scan_subject_tag; /* NULL: none */
	bool scan_outbound;
	enum antispam_scan_act scan_act;
};

/* greylist times: wall clock, so that they mean the same after a restart */
static uint64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* a score the config validator accepted ("-1", "7.5") */
static double
score_of(const char *v)
{
	double x = 0, scale = 1;
	bool neg = *v == '-';

	for (v += neg; *v >= '0' && *v <= '9'; v++)
		x = x * 10 + (*v - '0');
	if (*v == '.')
		for (v++; *v >= '0' && *v <= '9'; v++)
			x += (*v - '0') * (scale /= 10);
	return neg ? -x : x;
}

static int
scan_setup(struct antispam *a, const struct mn_config *cfg, struct mn_err *err)
{
	const char *sp = cfg->antispam_spamd_address, *rs = cfg->antispam_rspamd_url;
	const char *act = cfg->antispam_scan_spam_action;
	int rc;

	if (sp != NULL && rs != NULL)
		return mn_err_set(err, MN_EINVAL,
		    "[antispam] spamd_address and rspamd_url: set only one scanner");
	if (sp == NULL && rs == NULL)
		return 0;
	if ((rc = scan_target_parse(
	         sp != NULL ? SCAN_SPAMD : SCAN_RSPAMD, sp != NULL ? sp : rs, &a->scan, err)) < 0)
		return rc;
	a->scan.timeout_ms = cfg->antispam_scan_timeout_ms;
	a->scan_max = cfg->antispam_scan_max_size;
	a->scan_defer =
	    cfg->antispam_scan_failure != NULL && strcmp(cfg->antispam_scan_failure, "defer") == 0;
	if (cfg->antispam_scan_spam_score != NULL) {
		a->scan_has_spam_score = true;
		a->scan_spam_score = score_of(cfg->antispam_scan_spam_score);
	}
	a->scan_outbound = cfg->antispam_scan_outbound;
	if (cfg->antispam_scan_subject_tag != NULL)
		a->scan_subject_tag = xstrdup(cfg->antispam_scan_subject_tag);
	if (cfg->antispam_scan_reject_score != NULL) {
		a->scan_has_reject_score = true;
		a->scan_reject_score = score_of(cfg->antispam_scan_reject_score);
	}
	a->scan_act = act == NULL || strcmp(act, "junk") == 0 ? ANTISPAM_SCAN_JUNK
	              : strcmp(act, "tag") == 0               ? ANTISPAM_SCAN_TAG
	              : strcmp(act, "quarantine") == 0        ? ANTISPAM_SCAN_QUARANTINE
	                                                      : ANTISPAM_SCAN_REJECT;
	log_info("antispam", "event=scanner kind=%s address=%s:%u timeout_ms=%u",
	    scan_kind_name(a->scan.kind), a->scan.ip, a->scan.port, a->scan.timeout_ms);
	return 0;
}

static enum antispam_host_action
host_action_of(const char *v)
{
	if (v == NULL)
		return ANTISPAM_HOST_OFF;
	if (strcmp(v, "log") == 0)
		return ANTISPAM_HOST_LOG;
	if (strcmp(v, "tag") == 0)
		return ANTISPAM_HOST_TAG;
	if (strcmp(v, "reject") == 0)
		return ANTISPAM_HOST_REJECT;
	return ANTISPAM_HOST_OFF;
}

static bool
is_quarantine(const char *v)
{
	return v != NULL && strcmp(v, "quarantine") == 0;
}

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
antispam_new(uv_loop_t *loop, const struct mn_config *cfg, struct directory *dir,
    struct antispam **out, struct mn_err *err)
{
	struct antispam *a = xcalloc(1, sizeof(*a));
	int rc;

	if ((rc = dns_resolver_new(loop, cfg->dns_resolvers, &a->dns, err)) < 0) {
		free(a);
		return mn_err_wrap(err, "[dns] resolvers");
	}
	if ((rc = dkim_ctx_new(a->dns, &a->dkim, err)) < 0) {
		dns_resolver_free(&a->dns);
		free(a);
		return rc;
	}
	a->dir = dir;
	a->loop = loop;
	if ((rc = scan_setup(a, cfg, err)) < 0) {
		dkim_ctx_free(&a->dkim);
		dns_resolver_free(&a->dns);
		free(a);
		return rc;
	}
	if (cfg->antispam_dnsbl_zones != NULL && cfg->antispam_dnsbl_zones[0] != '\0')
		a->dnsbl_zones = xstrdup(cfg->antispam_dnsbl_zones);
	if (cfg->antispam_dbl_zones != NULL && cfg->antispam_dbl_zones[0] != '\0')
		a->dbl_zones = xstrdup(cfg->antispam_dbl_zones);
	a->dnsbl_reject = action_of(cfg->antispam_dnsbl_action) == ANTISPAM_REJECT;
	if (cfg->antispam_greylist) {
		struct mn_err e;

		a->greylist = greylist_new(cfg->antispam_greylist_delay_ms,
		    cfg->antispam_greylist_window_ms, cfg->antispam_greylist_pass_ms, 1000000);
		/* a restart must not defer again every sender that already
		 * retried (they would wait another retry interval) */
		if (cfg->data_dir != NULL) {
			a->greylist_path = xasprintf("%s/greylist", cfg->data_dir);
			mn_err_clear(&e);
			if (greylist_load(a->greylist, a->greylist_path, wall_ms(), &e) != 0)
				log_warn("antispam", "event=greylist_load reason=\"%s\"", e.msg);
		}
	}
	if (cfg->antispam_sender_block != NULL && cfg->antispam_sender_block[0] != '\0')
		a->sender_block = xstrdup(cfg->antispam_sender_block);
	if (cfg->antispam_sender_allow != NULL && cfg->antispam_sender_allow[0] != '\0')
		a->sender_allow = xstrdup(cfg->antispam_sender_allow);
	a->ptr_act = host_action_of(cfg->antispam_ptr_check);
	if (cfg->antispam_attach_ext != NULL && cfg->antispam_attach_ext[0] != '\0')
		a->attach.extensions = xstrdup(cfg->antispam_attach_ext);
	if (cfg->antispam_attach_types != NULL && cfg->antispam_attach_types[0] != '\0')
		a->attach.types = xstrdup(cfg->antispam_attach_types);
	a->attach.max_count = cfg->antispam_attach_max;
	a->attach_on =
	    a->attach.extensions != NULL || a->attach.types != NULL || a->attach.max_count != 0;
	a->attach_quar = is_quarantine(cfg->antispam_attach_action);
	a->helo_act = host_action_of(cfg->antispam_helo_check);
	a->spf = cfg->antispam_spf;
	a->dkim_sign = cfg->antispam_dkim_sign;
	a->dkim_verify = cfg->antispam_dkim_verify;
	a->dmarc = cfg->antispam_dmarc;
	if (a->dmarc)
		a->psl = psl_load(DMARC_PSL_PATH);

	a->spf_act[SPF_FAIL] = action_of(cfg->antispam_spf_fail);
	a->spf_act[SPF_SOFTFAIL] = action_of(cfg->antispam_spf_softfail);
	a->spf_act[SPF_PERMERROR] = action_of(cfg->antispam_spf_permerror);
	a->spf_act[SPF_TEMPERROR] = action_of(cfg->antispam_spf_temperror);
	a->spf_quar[SPF_FAIL] = is_quarantine(cfg->antispam_spf_fail);
	a->spf_quar[SPF_SOFTFAIL] = is_quarantine(cfg->antispam_spf_softfail);
	a->spf_quar[SPF_PERMERROR] = is_quarantine(cfg->antispam_spf_permerror);
	a->dnsbl_quar = is_quarantine(cfg->antispam_dnsbl_action);
	a->dmarc_quar = is_quarantine(cfg->antispam_dmarc_quarantine);
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
	dkim_ctx_free(&a->dkim);
	psl_free(&a->psl);
	if (a->greylist != NULL && a->greylist_path != NULL) {
		struct mn_err e;

		mn_err_clear(&e);
		if (greylist_save(a->greylist, a->greylist_path, wall_ms(), &e) != 0)
			log_warn("antispam", "event=greylist_save reason=\"%s\"", e.msg);
	}
	free(a->greylist_path);
	greylist_free(&a->greylist);
	free(a->dnsbl_zones);
	free(a->dbl_zones);
	free(a->sender_block);
	free((char *)a->attach.extensions);
	free((char *)a->attach.types);
	free(a->sender_allow);
	free(a->scan_subject_tag);
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
	ar_value(b,
	    o->helo_identity ? "smtp.helo=" : "smtp.mailfrom=", o->helo_identity ? helo : sender);
}

/* --- PTR and HELO checks ------------------------------------------------ */

bool
antispam_host_enabled(const struct antispam *a)
{
	return a != NULL && (a->ptr_act != ANTISPAM_HOST_OFF || a->helo_act != ANTISPAM_HOST_OFF);
}

void
antispam_host_check(struct antispam *a, const char *ip, const char *helo, struct antispam_host *out)
{
	memset(out, 0, sizeof(*out));
	if (a->ptr_act != ANTISPAM_HOST_OFF) {
		hostcheck_ptr(spf_dns_resolver_query, a->dns, ip, &out->ptr);
		out->ptr_checked = true;
		log_info("antispam", "event=ptr_check ip=%s result=%s reason=\"%s\"", ip,
		    hostcheck_result_name(out->ptr.result), out->ptr.reason);
	}
	if (a->helo_act != ANTISPAM_HOST_OFF && helo != NULL) {
		hostcheck_helo(spf_dns_resolver_query, a->dns, ip, helo, &out->helo);
		out->helo_checked = true;
		log_info("antispam", "event=helo_check ip=%s result=%s reason=\"%s\"", ip,
		    hostcheck_result_name(out->helo.result), out->helo.reason);
	}
}

bool
antispam_host_rejects(const struct antispam *a, const struct antispam_host *h, const char *ip,
    char *out, size_t outsz)
{
	/* RFC 7372 §3.3: X.7.25 reverse DNS validation failed */
	if (h->ptr_checked && h->ptr.result == HOSTCHECK_FAIL &&
	    a->ptr_act == ANTISPAM_HOST_REJECT) {
		snprintf(out, outsz, "550 5.7.25 Client host [%s] rejected: %s", ip, h->ptr.reason);
		return true;
	}
	if (h->helo_checked && h->helo.result == HOSTCHECK_FAIL &&
	    a->helo_act == ANTISPAM_HOST_REJECT) {
		snprintf(out, outsz, "550 5.7.1 Client host [%s] rejected: %s", ip, h->helo.reason);
		return true;
	}
	return false;
}

/* X-Mailnode-Host-Check: the failed checks whose action is tag */
static void
host_tag(const struct antispam *a, const struct antispam_host *h, struct buf *b)
{
	bool ptr =
	    h->ptr_checked && h->ptr.result == HOSTCHECK_FAIL && a->ptr_act == ANTISPAM_HOST_TAG;
	bool helo =
	    h->helo_checked && h->helo.result == HOSTCHECK_FAIL && a->helo_act == ANTISPAM_HOST_TAG;

	if (!ptr && !helo)
		return;
	buf_append_str(b, "X-Mailnode-Host-Check: ");
	if (ptr)
		buf_printf(b, "ptr=fail (%s)%s", h->ptr.reason, helo ? "; " : "");
	if (helo)
		buf_printf(b, "helo=fail (%s)", h->helo.reason);
	buf_append_str(b, "\r\n");
}

/* --- sender lists -------------------------------------------------------- */

/* entries of the config lists and of the users' lists (typed into a
 * text box: one per line or comma separated) */
#define LIST_SEP ", \t\r\n"

/* list holds the entry e (len bytes), compared case-insensitively */
static bool
list_has(const char *list, const char *e, size_t len)
{
	const char *p = list;

	if (list == NULL || len == 0)
		return false;
	while (*p != '\0') {
		size_t l;

		p += strspn(p, LIST_SEP);
		l = strcspn(p, LIST_SEP);
		if (l == len && strncasecmp(p, e, len) == 0)
			return true;
		p += l;
	}
	return false;
}

enum antispam_list
antispam_list_check(const char *block, const char *allow, const char *sender)
{
	const char *at;

	if (sender == NULL || (at = strrchr(sender, '@')) == NULL)
		return ANTISPAM_LIST_NONE;
	if (list_has(block, sender, strlen(sender)))
		return ANTISPAM_LIST_BLOCK;
	if (list_has(allow, sender, strlen(sender)))
		return ANTISPAM_LIST_ALLOW;
	if (list_has(block, at, strlen(at)))
		return ANTISPAM_LIST_BLOCK;
	if (list_has(allow, at, strlen(at)))
		return ANTISPAM_LIST_ALLOW;
	return ANTISPAM_LIST_NONE;
}

enum antispam_list
antispam_sender_list(const struct antispam *a, const char *sender)
{
	if (a == NULL)
		return ANTISPAM_LIST_NONE;
	return antispam_list_check(a->sender_block, a->sender_allow, sender);
}

/* the sender lists of one preference scope */
static enum antispam_list
pref_lists(struct directory *dir, const char *scope, const char *name, const char *sender)
{
	char *block = directory_pref_get(dir, scope, name, "sender_block");
	char *allow = directory_pref_get(dir, scope, name, "sender_allow");
	enum antispam_list l = antispam_list_check(block, allow, sender);

	free(block);
	free(allow);
	return l;
}

enum antispam_list
antispam_rcpt_list(struct antispam *a, const char *rcpt, const char *sender)
{
	const char *at = strrchr(rcpt, '@');
	enum antispam_list l;
	const char *why = "user";

	if (a == NULL || a->dir == NULL || sender == NULL || sender[0] == '\0' || at == NULL)
		return ANTISPAM_LIST_NONE; /* the null sender is never listed */
	/* the user's own word first, then the address book, then the
	 * domain's admin: a user may allow what the domain blocks */
	l = pref_lists(a->dir, "user", rcpt, sender);
	if (l == ANTISPAM_LIST_NONE && directory_contact_exists(a->dir, rcpt, sender)) {
		l = ANTISPAM_LIST_ALLOW;
		why = "contact";
	}
	if (l == ANTISPAM_LIST_NONE) {
		l = pref_lists(a->dir, "domain", at + 1, sender);
		why = "domain";
	}
	if (l != ANTISPAM_LIST_NONE)
		log_info("antispam", "event=rcpt_list rcpt=%s result=%s by=%s", rcpt,
		    l == ANTISPAM_LIST_BLOCK ? "block" : "allow", why);
	return l;
}

void
antispam_sendlimit_override(
    void *dir, enum sendlimit_scope scope, const char *key, struct sendlimit_caps *caps)
{
	static const char *const names[2][SENDLIMIT_NWINDOW] = {
	    {"send_messages_per_hour", "send_messages_per_day"},
	    {"send_recipients_per_hour", "send_recipients_per_day"},
	};
	const char *sc = scope == SENDLIMIT_USER ? "user" : "domain";

	for (int r = 0; r < 2; r++)
		for (int w = 0; w < SENDLIMIT_NWINDOW; w++) {
			char *v = directory_pref_get(dir, sc, key, names[r][w]);
			uint64_t n;

			/* the directory stores them normalised (decimal, at
			 * most DIR_MAX_PREF_COUNT) */
			if (v != NULL && parse_u64(v, 0, UINT32_MAX, &n) == 0) {
				if (r == 0)
					caps->msgs[w] = (uint32_t)n;
				else
					caps->rcpts[w] = (uint32_t)n;
			}
			free(v);
		}
}

/* --- DNSBL and greylisting ---------------------------------------------- */

bool
antispam_dnsbl_enabled(const struct antispam *a)
{
	return a != NULL && a->dnsbl_zones != NULL;
}

void
antispam_dnsbl_check(struct antispam *a, const char *ip, struct dnsbl_outcome *out)
{
	dnsbl_check(spf_dns_resolver_query, a->dns, ip, a->dnsbl_zones, out);
	if (out->listed)
		log_info(
		    "antispam", "event=dnsbl ip=%s zone=%s text=\"%s\"", ip, out->zone, out->text);
}

bool
antispam_dbl_enabled(const struct antispam *a)
{
	return a != NULL && a->dbl_zones != NULL;
}

void
antispam_dbl_check(struct antispam *a, const char *sender, struct dnsbl_outcome *out)
{
	const char *at = sender != NULL ? strrchr(sender, '@') : NULL;

	memset(out, 0, sizeof(*out));
	if (at == NULL || at[1] == '\0')
		return;
	dnsbl_check_domain(spf_dns_resolver_query, a->dns, at + 1, a->dbl_zones, out);
	if (out->listed)
		log_info("antispam", "event=dbl domain=%s zone=%s text=\"%s\"", at + 1, out->zone,
		    out->text);
}

void
antispam_dbl_reply(const struct dnsbl_outcome *o, const char *sender, char *out, size_t outsz)
{
	const char *at = strrchr(sender, '@');

	snprintf(out, outsz,
	    "554 5.7.1 <%.300s>: Sender address rejected: domain %.255s is listed in %s%s%s",
	    sender, at != NULL ? at + 1 : "", o->zone, o->text[0] != '\0' ? "; " : "", o->text);
}

bool
antispam_dnsbl_rejects(const struct antispam *a, const struct dnsbl_outcome *o)
{
	return o->listed && a->dnsbl_reject;
}

void
antispam_dnsbl_reply(const struct dnsbl_outcome *o, const char *ip, char *out, size_t outsz)
{
	/* the wording Postfix uses, so admins of listed hosts recognise it */
	snprintf(out, outsz,
	    "554 5.7.1 Service unavailable; Client host [%.60s] blocked using %s%s%s", ip, o->zone,
	    o->text[0] != '\0' ? "; " : "", o->text);
}

bool
antispam_greylist_enabled(const struct antispam *a)
{
	return a != NULL && a->greylist != NULL;
}

int
antispam_greylist(
    struct antispam *a, const char *ip, const char *sender, const char *rcpt, uint64_t *wait_ms_out)
{
	int rc = greylist_check(a->greylist, ip, sender, rcpt, wall_ms(), wait_ms_out);

	log_info("antispam", "event=greylist ip=%s result=%s", ip, rc ? "defer" : "pass");
	return rc;
}

/* --- after DATA ---------------------------------------------------------- */

bool
antispam_wants_message(const struct antispam *a, bool inbound, bool authenticated)
{
	if (a == NULL)
		return false;
	if (authenticated)
		return a->dkim_sign || (a->scan_outbound && a->scan.kind != SCAN_NONE);
	return inbound &&
	       (a->spf || a->dkim_verify || a->dmarc || a->dnsbl_zones != NULL ||
	           a->dbl_zones != NULL || a->ptr_act == ANTISPAM_HOST_TAG ||
	           a->helo_act == ANTISPAM_HOST_TAG || a->attach_on || a->scan.kind != SCAN_NONE);
}

/* --- content scanning ------------------------------------------------------ */

bool
antispam_scan_enabled(const struct antispam *a)
{
	return a != NULL && a->scan.kind != SCAN_NONE;
}

const struct scan_target *
antispam_scan_target(const struct antispam *a)
{
	return &a->scan;
}

bool
antispam_scan_outbound(const struct antispam *a)
{
	return a != NULL && a->scan.kind != SCAN_NONE && a->scan_outbound;
}

uint64_t
antispam_scan_max_size(const struct antispam *a)
{
	return a->scan_max;
}

int
antispam_tag_subject(struct buf *msg, const char *tag)
{
	size_t pos = 0, tl = strlen(tag), at = SIZE_MAX, ins, lead;
	int rc;

	/* the header section: lines up to the first empty one */
	while (pos < msg->len) {
		const uint8_t *lf = memchr(msg->data + pos, '\n', msg->len - pos);
		size_t end = lf != NULL ? (size_t)(lf - msg->data) : msg->len;
		size_t ll = end - pos;

		if (ll == 0 || (ll == 1 && msg->data[pos] == '\r'))
			break;
		if (ll >= 8 && ascii_ncasecmp((const char *)msg->data + pos, "subject:", 8) == 0) {
			at = pos + 8;
			break;
		}
		pos = end + 1;
	}
	if (at == SIZE_MAX) {
		char line[64];
		int n = snprintf(line, sizeof(line), "Subject: %s\r\n", tag);

		if ((rc = buf_reserve(msg, (size_t)n)) < 0)
			return rc;
		memmove(msg->data + n, msg->data, msg->len);
		memcpy(msg->data, line, (size_t)n);
		msg->len += (size_t)n;
		return 0;
	}
	/* "Subject: x" -> "Subject: TAG x"; "Subject:x" -> "Subject: TAG x" */
	lead = at < msg->len && (msg->data[at] == ' ' || msg->data[at] == '\t') ? 0 : 1;
	at += 1 - lead;
	ins = lead + tl + 1;
	if ((rc = buf_reserve(msg, ins)) < 0)
		return rc;
	memmove(msg->data + at + ins, msg->data + at, msg->len - at);
	if (lead)
		msg->data[at] = ' ';
	memcpy(msg->data + at + lead, tag, tl);
	msg->data[at + ins - 1] = ' ';
	msg->len += ins;
	return 0;
}

/* the scan's verdict: X-Spam-* headers into hdrs, junk / quarantine /
 * reject into m; a failed scan is logged and delivered (or deferred) */
static void
scan_apply(struct antispam *a, struct antispam_msg *m, struct buf *hdrs)
{
	const struct scan_result *r = m->scan;
	const char *name = scan_kind_name(a->scan.kind);
	bool spam, reject;

	if (r == NULL)
		return;
	if (r->status != 0) {
		log_warn("antispam",
		    "event=scan result=unavailable scanner=%s action=%s "
		    "reason=\"%s\"",
		    name, a->scan_defer ? "defer" : "deliver_unscanned", r->reason);
		if (a->scan_defer && m->action == ANTISPAM_ACCEPT) {
			m->action = ANTISPAM_DEFER;
			snprintf(m->reply, sizeof(m->reply),
			    "451 4.7.1 Message deferred: content scanner unavailable; try again "
			    "later");
		}
		return;
	}
	spam = a->scan_has_spam_score ? r->score >= a->scan_spam_score : r->spam;
	reject = (a->scan_has_reject_score && r->score >= a->scan_reject_score) ||
	         (spam && a->scan_act == ANTISPAM_SCAN_REJECT);
	if (spam)
		buf_append_str(hdrs, "X-Spam-Flag: YES\r\n");
	buf_printf(hdrs, "X-Spam-Score: %.1f\r\n", r->score);
	buf_printf(hdrs, "X-Spam-Status: %s, score=%.1f required=%.1f scanner=%s",
	    spam ? "Yes" : "No", r->score, r->required, name);
	if (r->action[0] != '\0')
		buf_printf(hdrs, " action=\"%s\"", r->action);
	if (r->symbols[0] != '\0')
		buf_printf(hdrs, "\r\n\ttests=%s", r->symbols);
	buf_append_str(hdrs, "\r\n");
	log_info("antispam", "event=scan scanner=%s score=%.1f required=%.1f spam=%s action=%s",
	    name, r->score, r->required, spam ? "yes" : "no",
	    reject                              ? "reject"
	    : !spam                             ? "none"
	    : a->scan_act == ANTISPAM_SCAN_TAG  ? "tag"
	    : a->scan_act == ANTISPAM_SCAN_JUNK ? "junk"
	                                        : "quarantine");
	if (reject && m->some_allowed) {
		/* one reply for all recipients: the ones that allow the sender
		 * get it, so the others' copy is held instead of refused */
		m->quarantine = true;
		log_info("antispam", "event=scan action=quarantine reason=\"a recipient allows the "
		                     "sender\"");
	} else if (reject) {
		if (m->action == ANTISPAM_ACCEPT) {
			m->action = ANTISPAM_REJECT;
			snprintf(m->reply, sizeof(m->reply),
			    "550 5.7.1 Message rejected as spam (content scan score %.1f)",
			    r->score);
		}
	} else if (spam && a->scan_act == ANTISPAM_SCAN_JUNK) {
		m->junk = true;
	} else if (spam && a->scan_act == ANTISPAM_SCAN_QUARANTINE) {
		m->quarantine = true;
	}
	/* one message body for all recipients: not when some of them allow
	 * the sender (their copy must stay as sent) */
	if (spam && !reject && !m->some_allowed)
		m->subject_tag = a->scan_subject_tag;
}

struct from_scan {
	unsigned nfrom;
	char domain[256];
};

static void
from_field(void *arg, const uint8_t *field, size_t n)
{
	struct from_scan *f = arg;
	const uint8_t *colon = memchr(field, ':', n);
	struct header_address_list l;
	size_t name_len, mailboxes = 0;
	const char *dom = NULL;

	if (colon == NULL)
		return;
	name_len = (size_t)(colon - field);
	while (name_len > 0 && (field[name_len - 1] == ' ' || field[name_len - 1] == '\t'))
		name_len--;
	if (name_len != 4 || ascii_ncasecmp((const char *)field, "from", 4) != 0)
		return;
	f->nfrom++;
	header_address_list_init(&l);
	(void)header_parse_addresses(
	    (struct slice){(const char *)colon + 1, n - (size_t)(colon + 1 - field)}, &l);
	for (size_t i = 0; i < l.n; i++)
		if (l.v[i].kind == HEADER_ADDR_MAILBOX) {
			mailboxes++;
			dom = l.v[i].domain;
		}
	if (mailboxes == 1 && dom != NULL)
		snprintf(f->domain, sizeof(f->domain), "%s", dom);
	else
		f->domain[0] = '\0';
	header_address_list_fini(&l);
}

void
antispam_from_domain(const uint8_t *msg, size_t len, char *out, size_t outsz)
{
	struct from_scan f;

	memset(&f, 0, sizeof(f));
	dkim_split_header(msg, len, from_field, &f);
	/* RFC 7489 §6.6.1: exactly one From with one mailbox */
	if (f.nfrom != 1 || f.domain[0] == '\0' || f.domain[0] == '[') {
		out[0] = '\0';
		return;
	}
	snprintf(out, outsz, "%s", f.domain);
	ascii_lower(out);
}

static void
comment(struct buf *b, const char *text)
{
	buf_append_str(b, "(");
	for (size_t i = 0; text[i] != '\0' && i < 200; i++)
		if (text[i] != '(' && text[i] != ')' && text[i] != '\\' &&
		    (unsigned char)text[i] >= ' ' && (unsigned char)text[i] < 0x7f)
			buf_append(b, &text[i], 1);
	buf_append_str(b, ")");
}

static void
sign(struct antispam *a, struct antispam_msg *m)
{
	char from[256], *hdr = NULL, *canon;
	struct dir_dkim k;
	struct mn_err err;
	const char *at;

	antispam_from_domain(m->msg, m->len, from, sizeof(from));
	if (from[0] == '\0' && (at = strrchr(m->sender, '@')) != NULL)
		snprintf(from, sizeof(from), "%s", at + 1);
	if (from[0] == '\0')
		return;
	/* d= must be the domain whose DNS holds the key: mail From a
	 * domain alias goes unsigned (XXX: keys per domain alias) */
	canon = directory_domain_canonical(a->dir, from);
	if (canon == NULL || strcmp(canon, from) != 0) {
		free(canon);
		return;
	}
	free(canon);
	memset(&k, 0, sizeof(k));
	if (directory_dkim_get(a->dir, from, &k) != 0)
		return;
	mn_err_clear(&err);
	if (dkim_sign_message(a->dkim, k.domain, k.selector, k.algorithm, k.private_key, m->msg,
	        m->len, &hdr, &err) == 0) {
		buf_append_str(&m->prefix, hdr);
		log_info("antispam", "event=dkim_sign domain=%s selector=%s algorithm=%s", k.domain,
		    k.selector, k.algorithm);
		free(hdr);
	} else {
		/* unsigned mail still goes: a receiver may only score it */
		log_warn("antispam", "event=dkim_sign domain=%s reason=\"%s\"", from, err.msg);
	}
	dir_dkim_fini(&k);
}

static void
check(struct antispam *a, struct antispam_msg *m)
{
	struct dkim_verify_result dk;
	struct dmarc_outcome dm;
	struct buf ar, scanhdr;
	bool hard_q = false, hard_j = false; /* also for allowed senders */
	char from[256];
	unsigned seed = (unsigned)uv_hrtime() ^ (unsigned)(uintptr_t)m; /* DMARC pct dice */

	memset(&dk, 0, sizeof(dk));
	if (a->dkim_verify || a->dmarc)
		dkim_verify_message(a->dkim, m->msg, m->len, &dk);
	buf_init(&ar, 0);
	buf_init(&scanhdr, 0);
	buf_printf(&ar, "Authentication-Results: %s", m->hostname);
	if (m->spf_checked) {
		buf_append_str(&ar, ";\r\n\t");
		antispam_ar_spf(&ar, m->spf, m->sender, m->helo);
	}
	if (a->dkim_verify || a->dmarc) {
		if (dk.nsigs == 0)
			buf_append_str(&ar, ";\r\n\tdkim=none");
		for (size_t i = 0; i < dk.nsigs; i++) {
			const struct dkim_sig_result *r = &dk.sigs[i];

			buf_printf(&ar, ";\r\n\tdkim=%s ", dkim_result_name(r->result));
			if (r->reason[0] != '\0') {
				comment(&ar, r->reason);
				buf_append_str(&ar, " ");
			}
			ar_value(&ar, "header.d=", r->domain);
			ar_value(&ar, " header.s=", r->selector);
			ar_value(&ar, " header.a=", r->algorithm);
			if (r->b[0] != '\0') {
				/* quoted: base64's '/' may stay (RFC 8601 §2.2
				 * pvalue as quoted-string, RFC 6008 header.b) */
				buf_append_str(&ar, " header.b=\"");
				for (size_t k = 0; r->b[k] != '\0' && k < 300; k++) {
					char c = r->b[k];
					bool keep =
					    c == '/' || c == '+' || isalnum((unsigned char)c);

					buf_append(&ar, keep ? &r->b[k] : "_", 1);
				}
				buf_append_str(&ar, "\"");
			}
			log_info("antispam",
			    "event=dkim_verify result=%s domain=%s selector=%s "
			    "reason=\"%s\"",
			    dkim_result_name(r->result), r->domain, r->selector, r->reason);
		}
	}
	if (a->dmarc) {
		antispam_from_domain(m->msg, m->len, from, sizeof(from));
		dmarc_check(spf_dns_resolver_query, a->dns, a->psl, from, m->spf_checked, m->spf,
		    &dk, (unsigned)rand_r(&seed) % 100, &dm);
		buf_printf(&ar, ";\r\n\tdmarc=%s ", dmarc_result_name(dm.result));
		comment(&ar, dm.reason);
		if (dm.from_domain[0] != '\0')
			ar_value(&ar, " header.from=", dm.from_domain);
		log_info("antispam", "event=dmarc result=%s from=%s reason=\"%s\"",
		    dmarc_result_name(dm.result), dm.from_domain, dm.reason);
		if (dm.result == DMARC_RES_FAIL && dm.disposition == DMARC_P_REJECT) {
			m->action = ANTISPAM_REJECT;
			snprintf(m->reply, sizeof(m->reply),
			    "550 5.7.1 Message rejected: DMARC policy of %.200s says reject "
			    "(no aligned SPF or DKIM pass)",
			    dm.from_domain);
		} else if (dm.result == DMARC_RES_FAIL && dm.disposition == DMARC_P_QUARANTINE) {
			if (a->dmarc_quar)
				m->quarantine = hard_q = true;
			else
				m->junk = hard_j = true;
		}
	}
	if (!m->spf_checked && !a->dkim_verify && !a->dmarc)
		buf_append_str(&ar, "; none");
	buf_append_str(&ar, "\r\n");
	if (a->attach_on) {
		char why[300];

		if (attach_check(&a->attach, (const char *)m->msg, m->len, why, sizeof(why)) != 0) {
			log_info("antispam", "event=attachment action=%s reason=\"%s\"",
			    a->attach_quar ? "quarantine" : "reject", why);
			if (a->attach_quar) {
				m->quarantine = hard_q = true;
			} else if (m->action == ANTISPAM_ACCEPT) {
				m->action = ANTISPAM_REJECT;
				snprintf(m->reply, sizeof(m->reply),
				    "554 5.7.1 Message rejected: %s", why);
			}
		}
	}
	scan_apply(a, m, &scanhdr);
	if (m->spf_checked && m->spf->result <= SPF_PERMERROR && a->spf_quar[m->spf->result])
		m->quarantine = hard_q = true;
	if (m->dnsbl != NULL && m->dnsbl->listed && a->dnsbl_quar)
		m->quarantine = true;
	if (m->dbl != NULL && m->dbl->listed && a->dnsbl_quar)
		m->quarantine = true;
	if (m->quarantine) {
		buf_append_str(&m->prefix, ANTISPAM_QUARANTINE_HEADER);
		log_info("antispam", "event=quarantine");
	} else if (m->junk) {
		buf_append_str(&m->prefix, ANTISPAM_JUNK_HEADER);
	}
	buf_append(&m->prefix, ar.data, ar.len);
	if (m->dnsbl != NULL && m->dnsbl->listed)
		buf_printf(&m->prefix, "X-Mailnode-DNSBL: listed in %s\r\n", m->dnsbl->zone);
	if (m->dbl != NULL && m->dbl->listed)
		buf_printf(
		    &m->prefix, "X-Mailnode-DBL: sender domain listed in %s\r\n", m->dbl->zone);
	if (m->host != NULL)
		host_tag(a, m->host, &m->prefix);
	buf_append(&m->prefix, scanhdr.data, scanhdr.len);
	if (m->some_allowed) {
		/* recipients whose lists allow the sender: what forged (SPF,
		 * DMARC) or dangerous (attachments) mail gets, not the
		 * reputation and content verdicts nor their tags */
		if (hard_q)
			buf_append_str(&m->allowed_prefix, ANTISPAM_QUARANTINE_HEADER);
		else if (hard_j)
			buf_append_str(&m->allowed_prefix, ANTISPAM_JUNK_HEADER);
		buf_append(&m->allowed_prefix, ar.data, ar.len);
		if (m->host != NULL)
			host_tag(a, m->host, &m->allowed_prefix);
	}
	buf_fini(&scanhdr);
	buf_fini(&ar);
}

/* mail an authenticated user sends: spam is refused (it would leave with
 * our name on it), nothing is tagged (the headers would go out too) */
static void
scan_outbound(struct antispam *a, struct antispam_msg *m)
{
	const struct scan_result *r = m->scan;
	const char *name = scan_kind_name(a->scan.kind);
	bool spam;

	if (r->status != 0) {
		log_warn("antispam",
		    "event=scan direction=outbound result=unavailable scanner=%s action=%s "
		    "reason=\"%s\"",
		    name, a->scan_defer ? "defer" : "send_unscanned", r->reason);
		if (a->scan_defer) {
			m->action = ANTISPAM_DEFER;
			snprintf(m->reply, sizeof(m->reply),
			    "451 4.7.1 Message deferred: content scanner unavailable; try again "
			    "later");
		}
		return;
	}
	spam = (a->scan_has_spam_score ? r->score >= a->scan_spam_score : r->spam) ||
	       (a->scan_has_reject_score && r->score >= a->scan_reject_score);
	log_info("antispam",
	    "event=scan direction=outbound scanner=%s sender=%s score=%.1f required=%.1f "
	    "spam=%s action=%s",
	    name, m->sender, r->score, r->required, spam ? "yes" : "no", spam ? "reject" : "none");
	if (spam) {
		m->action = ANTISPAM_REJECT;
		snprintf(m->reply, sizeof(m->reply),
		    "550 5.7.1 Message rejected as spam (content scan score %.1f)", r->score);
	}
}

void
antispam_message(struct antispam *a, struct antispam_msg *m)
{
	m->action = ANTISPAM_ACCEPT;
	m->junk = false;
	m->quarantine = false;
	m->subject_tag = NULL;
	m->reply[0] = '\0';
	if (m->authenticated) {
		if (m->scan != NULL)
			scan_outbound(a, m);
		if (a->dkim_sign && m->action == ANTISPAM_ACCEPT)
			sign(a, m);
		return;
	}
	if (m->inbound)
		check(a, m);
}

struct ar_scan {
	const uint8_t *base;
	size_t total;
	const char *host;
	size_t starts[64], ends[64]; /* byte ranges of the fields to drop */
	size_t n;
};

static void
ar_field(void *arg, const uint8_t *field, size_t n)
{
	struct ar_scan *sc = arg;
	static const char name[] = "authentication-results";
	size_t nl = sizeof(name) - 1, i, hl = strlen(sc->host);

	if (n <= nl || ascii_ncasecmp((const char *)field, name, nl) != 0)
		return;
	for (i = nl; i < n && (field[i] == ' ' || field[i] == '\t'); i++)
		;
	if (i == n || field[i] != ':')
		return;
	/* the authserv-id: first token of the value, CFWS skipped */
	for (i++;
	     i < n && (field[i] == ' ' || field[i] == '\t' || field[i] == '\r' || field[i] == '\n');
	     i++)
		;
	if (n - i < hl || ascii_ncasecmp((const char *)field + i, sc->host, hl) != 0)
		return;
	if (i + hl < n && field[i + hl] != ';' && field[i + hl] != ' ' && field[i + hl] != '\t' &&
	    field[i + hl] != '\r' && field[i + hl] != '\n' && field[i + hl] != '(')
		return;
	if (sc->n < 64) {
		size_t start = (size_t)(field - sc->base), end = start + n;

		/* and its line end */
		if (end < sc->total && sc->base[end] == '\r')
			end++;
		if (end < sc->total && sc->base[end] == '\n')
			end++;
		sc->starts[sc->n] = start;
		sc->ends[sc->n++] = end;
	}
}

size_t
antispam_strip_forged_ar(uint8_t *msg, size_t *len, const char *hostname)
{
	struct ar_scan sc;
	size_t out = 0, in = 0;

	memset(&sc, 0, sizeof(sc));
	sc.base = msg;
	sc.total = *len;
	sc.host = hostname;
	dkim_split_header(msg, *len, ar_field, &sc);
	if (sc.n == 0)
		return 0;
	for (size_t k = 0; k < sc.n; k++) {
		memmove(msg + out, msg + in, sc.starts[k] - in);
		out += sc.starts[k] - in;
		in = sc.ends[k];
	}
	memmove(msg + out, msg + in, *len - in);
	out += *len - in;
	*len = out;
	return sc.n;
}
