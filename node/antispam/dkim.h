/*
 * dkim.h - DKIM signing and verification (RFC 6376; RSA-SHA256 and
 * Ed25519-SHA256, RFC 8463) with Debian's libopendkim.
 *
 * libopendkim does the canonicalisation (relaxed/relaxed for what we
 * sign), hashing, the DKIM-Signature syntax and the key record; its DNS is
 * replaced by a key lookup callback on our resolver (dns_query_sync on
 * [dns] resolvers), so it never reads /etc/resolv.conf.
 *
 * Threading: the functions block (DNS, RSA) and run on the libuv thread
 * pool; one struct dkim_ctx serves concurrent jobs (libopendkim keeps all
 * per-message state in its DKIM handle).
 */
#ifndef MN_NODE_ANTISPAM_DKIM_H
#define MN_NODE_ANTISPAM_DKIM_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

struct dkim_ctx;
struct dns_resolver;

#define DKIM_MAX_SIGS 8 /* signatures reported per message (more are ignored) */

enum dkim_result {
	DKIM_RES_NONE = 0, /* no signature */
	DKIM_RES_PASS,
	DKIM_RES_FAIL,      /* signature or body hash does not verify */
	DKIM_RES_NEUTRAL,   /* unsupported or policy (e.g. expired, key too small) */
	DKIM_RES_TEMPERROR, /* the key could not be fetched now */
	DKIM_RES_PERMERROR, /* no key, broken key or signature */
};

struct dkim_sig_result {
	enum dkim_result result;
	char domain[256];   /* d= */
	char selector[64];  /* s= */
	char algorithm[32]; /* "rsa-sha256", "ed25519-sha256" */
	char b[16];         /* first bytes of b= (RFC 6008 header.b) */
	char reason[100];
};

struct dkim_verify_result {
	struct dkim_sig_result sigs[DKIM_MAX_SIGS];
	size_t nsigs;
};

/* dkim_ctx_new - dns: the resolver for key lookups (may be NULL when only
 * signing); must outlive the context. */
int dkim_ctx_new(struct dns_resolver *dns, struct dkim_ctx **out, struct mn_err *err);
void dkim_ctx_free(struct dkim_ctx **c);

/* dkim_sign_message - the "DKIM-Signature: ...\r\n" header (folded, CRLF)
 * for msg (header section + body, CRLF lines) signed by domain/selector
 * with the PEM private key; relaxed/relaxed, the library's default header
 * list (From, Subject, Date, To, Cc, Message-ID, MIME headers ...).
 * *hdr_out is the caller's. */
int dkim_sign_message(struct dkim_ctx *c, const char *domain, const char *selector,
    const char *algorithm, const char *pem, const uint8_t *msg, size_t len, char **hdr_out,
    struct mn_err *err);

/* dkim_verify_message - verify every DKIM-Signature of msg (up to
 * DKIM_MAX_SIGS). Never fails: problems are results. */
void dkim_verify_message(
    struct dkim_ctx *c, const uint8_t *msg, size_t len, struct dkim_verify_result *out);

/* dkim_result_name - "pass", "fail", ... (RFC 8601 §2.7.1). */
const char *dkim_result_name(enum dkim_result r);

/* dkim_split_header - call fn for each header field of msg (its bytes
 * without the final line end, folding kept) and return the offset of the
 * body (after the empty line; len when there is none). For libopendkim's
 * feed and for tests. */
size_t dkim_split_header(const uint8_t *msg, size_t len,
    void (*fn)(void *arg, const uint8_t *field, size_t n), void *arg);

#endif
