/*
 * dkim_key.h - DKIM signing keys (RFC 6376 §3.6.1, RFC 8463): making one
 * (RSA-2048 or Ed25519, OpenSSL 3) and the DNS TXT record to publish.
 *
 * Keys are PEM PKCS#8 text (stored in the replicated directory,
 * DomainDkimSet); the public part is the p= value: base64 of the DER
 * SubjectPublicKeyInfo for RSA, of the raw 32-byte key for Ed25519
 * (RFC 8463 §4.2).
 */
#ifndef MN_NODE_ANTISPAM_DKIM_KEY_H
#define MN_NODE_ANTISPAM_DKIM_KEY_H

#include "lib/err.h"

#define DKIM_ALG_RSA "rsa-sha256"
#define DKIM_ALG_ED25519 "ed25519-sha256"

/* dkim_key_generate - a new key for algorithm (DKIM_ALG_*). Blocking (an
 * RSA key takes tens of milliseconds): thread pool. *pem_out and
 * *pub_out are the caller's (free; the PEM should be wiped). */
int dkim_key_generate(const char *algorithm, char **pem_out, char **pub_out, struct mn_err *err);

/* dkim_dns_txt - "v=DKIM1; k=rsa; p=..." for the stored algorithm and p=
 * value; caller frees. */
char *dkim_dns_txt(const char *algorithm, const char *pub);

#endif
