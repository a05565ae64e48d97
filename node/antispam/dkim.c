/*
 * dkim.c - DKIM on libopendkim (dkim.h): message feeding, the key lookup
 * callback on our DNS, the result mapping to RFC 8601 names.
 *
 * Result mapping (RFC 8601 §2.7.1): a signature that verifies with a
 * matching body hash is pass; a bad signature or body hash is fail; a key
 * that could not be fetched now is temperror; no key, a revoked or broken
 * key and a malformed signature are permerror; a signature refused by
 * policy (expired, from the future, key too small) is neutral.
 */
#include "node/antispam/dkim.h"

#include <arpa/nameser.h>
#include <resolv.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libopendkim's header uses u_char and __P */
#include <sys/types.h>
#include <opendkim/dkim.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "node/antispam/spf.h"
#include "node/delivery/dns.h"

#define DKIM_KEY_ANSWER 8192

struct dkim_ctx {
	DKIM_LIB *lib;
	struct dns_resolver *dns;
};

const char *
dkim_result_name(enum dkim_result r)
{
	switch (r) {
	case DKIM_RES_NONE:
		return "none";
	case DKIM_RES_PASS:
		return "pass";
	case DKIM_RES_FAIL:
		return "fail";
	case DKIM_RES_NEUTRAL:
		return "neutral";
	case DKIM_RES_TEMPERROR:
		return "temperror";
	case DKIM_RES_PERMERROR:
		return "permerror";
	}
	return "none";
}

/* the key record selector._domainkey.domain, through our resolver
 * (RFC 6376 §3.6.2.2: the TXT strings joined) */
static DKIM_CBSTAT
key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
	struct dkim_ctx *c = dkim_get_user_context(dkim);
	const char *sel = (const char *)dkim_sig_getselector(sig);
	const char *dom = (const char *)dkim_sig_getdomain(sig);
	struct spf_dns_answer a;
	char name[DNS_NAME_MAX];
	int n;

	if (c == NULL || c->dns == NULL || sel == NULL || dom == NULL)
		return DKIM_CBSTAT_ERROR;
	n = snprintf(name, sizeof(name), "%s._domainkey.%s", sel, dom);
	if (n < 0 || (size_t)n >= sizeof(name))
		return DKIM_CBSTAT_NOTFOUND;
	spf_dns_resolver_query(c->dns, name, ns_t_txt, &a);
	if (a.status == MN_ETEMP) {
		spf_dns_answer_fini(&a);
		return DKIM_CBSTAT_TRYAGAIN;
	}
	if (a.status != 0 || a.n == 0) {
		spf_dns_answer_fini(&a);
		return DKIM_CBSTAT_NOTFOUND;
	}
	/* more than one record: libopendkim sees the first (RFC 6376 §3.6.2.2
	 * leaves the choice to the verifier) */
	snprintf((char *)buf, buflen, "%s", a.rr[0]);
	spf_dns_answer_fini(&a);
	return DKIM_CBSTAT_CONTINUE;
}

int
dkim_ctx_new(struct dns_resolver *dns, struct dkim_ctx **out, struct mn_err *err)
{
	struct dkim_ctx *c = xcalloc(1, sizeof(*c));
	unsigned int flags = DKIM_LIBFLAGS_BADSIGHANDLES;

	c->dns = dns;
	c->lib = dkim_init(NULL, NULL);
	if (c->lib == NULL) {
		free(c);
		return mn_err_set(err, MN_EIO, "libopendkim: dkim_init failed");
	}
	dkim_options(c->lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags));
	dkim_set_key_lookup(c->lib, key_lookup);
	*out = c;
	return 0;
}

void
dkim_ctx_free(struct dkim_ctx **cp)
{
	struct dkim_ctx *c = *cp;

	if (c == NULL)
		return;
	dkim_close(c->lib);
	free(c);
	*cp = NULL;
}

size_t
dkim_split_header(const uint8_t *msg, size_t len,
    void (*fn)(void *arg, const uint8_t *field, size_t n), void *arg)
{
	size_t i = 0, start = 0;
	bool in_field = false;

	while (i < len) {
		const uint8_t *lf = memchr(msg + i, '\n', len - i);
		size_t line_end = lf ? (size_t)(lf - msg) : len; /* at LF */
		size_t next = lf ? line_end + 1 : len;           /* after LF */
		size_t content =
		    line_end > i && msg[line_end - 1] == '\r' ? line_end - 1 : line_end;

		if (content == i) { /* the empty line: end of the header section */
			if (in_field)
				fn(arg, msg + start,
				    i - start - (i - start >= 2 && msg[i - 2] == '\r' ? 2 : 1));
			return next;
		}
		if (msg[i] != ' ' && msg[i] != '\t') {
			if (in_field)
				fn(arg, msg + start, i - start - (msg[i - 2] == '\r' ? 2 : 1));
			start = i;
			in_field = true;
		}
		i = next;
	}
	if (in_field) {
		size_t n = len - start;

		while (n > 0 && (msg[start + n - 1] == '\n' || msg[start + n - 1] == '\r'))
			n--;
		fn(arg, msg + start, n);
	}
	return len;
}

struct feed {
	DKIM *dkim;
	DKIM_STAT st;
};

static void
feed_field(void *arg, const uint8_t *field, size_t n)
{
	struct feed *f = arg;

	if (f->st == DKIM_STAT_OK)
		f->st = dkim_header(f->dkim, (u_char *)field, n);
}

/* header, end of header, body; DKIM_STAT of the first failing step */
static DKIM_STAT
feed_message(DKIM *dkim, const uint8_t *msg, size_t len)
{
	struct feed f = {dkim, DKIM_STAT_OK};
	size_t body = dkim_split_header(msg, len, feed_field, &f);

	if (f.st != DKIM_STAT_OK)
		return f.st;
	if ((f.st = dkim_eoh(dkim)) != DKIM_STAT_OK)
		return f.st;
	if (body < len)
		f.st = dkim_body(dkim, (u_char *)msg + body, len - body);
	return f.st;
}

int
dkim_sign_message(struct dkim_ctx *c, const char *domain, const char *selector,
    const char *algorithm, const char *pem, const uint8_t *msg, size_t len, char **hdr_out,
    struct mn_err *err)
{
	DKIM_STAT st;
	DKIM *dkim;
	u_char *sig = NULL;
	size_t siglen = 0;
	struct buf b;
	bool ed = strcmp(algorithm, "ed25519-sha256") == 0;

	*hdr_out = NULL;
	dkim = dkim_sign(c->lib, (const u_char *)"sign", NULL, (dkim_sigkey_t)pem,
	    (const u_char *)selector, (const u_char *)domain, DKIM_CANON_RELAXED,
	    DKIM_CANON_RELAXED, ed ? DKIM_SIGN_ED25519SHA256 : DKIM_SIGN_RSASHA256, -1, &st);
	if (dkim == NULL)
		return mn_err_set(err, MN_EIO, "dkim_sign: %s", dkim_getresultstr(st));
	st = feed_message(dkim, msg, len);
	if (st == DKIM_STAT_OK)
		st = dkim_eom(dkim, NULL);
	if (st == DKIM_STAT_OK)
		st = dkim_getsighdr_d(dkim, strlen("DKIM-Signature: "), &sig, &siglen);
	if (st != DKIM_STAT_OK) {
		dkim_free(dkim);
		return mn_err_set(
		    err, MN_EIO, "DKIM signing for %s: %s", domain, dkim_getresultstr(st));
	}
	/* the library folds with bare LF: a header line ends in CRLF */
	buf_init(&b, 0);
	buf_append_str(&b, "DKIM-Signature: ");
	for (size_t i = 0; i < siglen; i++) {
		if (sig[i] == '\n' && (i == 0 || sig[i - 1] != '\r'))
			buf_append(&b, "\r", 1);
		buf_append(&b, &sig[i], 1);
	}
	buf_append(&b, "\r\n", 3); /* with the NUL */
	dkim_free(dkim);
	*hdr_out = buf_steal(&b, NULL);
	return 0;
}

static void
sig_result(DKIM *dkim, DKIM_SIGINFO *sig, struct dkim_sig_result *r)
{
	unsigned int flags = dkim_sig_getflags(sig);
	int e = dkim_sig_geterror(sig);
	dkim_alg_t alg;
	u_char b64[64];
	size_t blen = sizeof(b64);
	const char *s;

	memset(r, 0, sizeof(*r));
	if ((s = (const char *)dkim_sig_getdomain(sig)) != NULL)
		snprintf(r->domain, sizeof(r->domain), "%s", s);
	if ((s = (const char *)dkim_sig_getselector(sig)) != NULL)
		snprintf(r->selector, sizeof(r->selector), "%s", s);
	if (dkim_sig_getsignalg(sig, &alg) == DKIM_STAT_OK)
		snprintf(r->algorithm, sizeof(r->algorithm), "%s",
		    alg == DKIM_SIGN_ED25519SHA256 ? "ed25519-sha256"
		    : alg == DKIM_SIGN_RSASHA1     ? "rsa-sha1"
		                                   : "rsa-sha256");
	if (dkim_get_sigsubstring(dkim, sig, (char *)b64, &blen) == DKIM_STAT_OK)
		snprintf(r->b, sizeof(r->b), "%.8s", (const char *)b64);
	if ((flags & DKIM_SIGFLAG_PASSED) != 0 && dkim_sig_getbh(sig) == DKIM_SIGBH_MATCH) {
		r->result = DKIM_RES_PASS;
		return;
	}
	snprintf(r->reason, sizeof(r->reason), "%s",
	    e == DKIM_SIGERROR_OK ? "body hash mismatch" : dkim_sig_geterrorstr(e));
	switch (e) {
	case DKIM_SIGERROR_OK: /* processed, signature fine, body changed */
	case DKIM_SIGERROR_BADSIG:
		r->result = DKIM_RES_FAIL;
		break;
	case DKIM_SIGERROR_KEYFAIL:
		r->result = DKIM_RES_TEMPERROR;
		break;
	case DKIM_SIGERROR_EXPIRED:
	case DKIM_SIGERROR_FUTURE:
	case DKIM_SIGERROR_KEYTOOSMALL:
		r->result = DKIM_RES_NEUTRAL;
		break;
	default:
		r->result = DKIM_RES_PERMERROR;
		break;
	}
}

void
dkim_verify_message(
    struct dkim_ctx *c, const uint8_t *msg, size_t len, struct dkim_verify_result *out)
{
	DKIM_STAT st;
	DKIM *dkim;
	DKIM_SIGINFO **sigs = NULL;
	int nsigs = 0;

	memset(out, 0, sizeof(*out));
	dkim = dkim_verify(c->lib, (const u_char *)"verify", NULL, &st);
	if (dkim == NULL) {
		log_warn("antispam", "event=dkim_verify reason=\"%s\"", dkim_getresultstr(st));
		return;
	}
	dkim_set_user_context(dkim, c);
	st = feed_message(dkim, msg, len);
	if (st == DKIM_STAT_OK || st == DKIM_STAT_NOSIG)
		st = dkim_eom(dkim, NULL);
	if (dkim_getsiglist(dkim, &sigs, &nsigs) == DKIM_STAT_OK) {
		for (int i = 0; i < nsigs && out->nsigs < DKIM_MAX_SIGS; i++)
			sig_result(dkim, sigs[i], &out->sigs[out->nsigs++]);
	}
	log_debug("antispam", "event=dkim_verify status=%s sigs=%d", dkim_getresultstr(st), nsigs);
	dkim_free(dkim);
}
