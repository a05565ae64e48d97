/*
 * dkim_key.c - DKIM key generation and the DNS record text (dkim_key.h),
 * on OpenSSL 3's EVP API.
 */
#include "node/antispam/dkim_key.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

static char *
b64(const unsigned char *in, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

int
dkim_key_generate(const char *algorithm, char **pem_out, char **pub_out, struct mn_err *err)
{
	bool ed = strcmp(algorithm, DKIM_ALG_ED25519) == 0;
	EVP_PKEY *pk;
	BIO *bio;
	BUF_MEM *mem;
	unsigned char *der = NULL, raw[32];
	size_t rawlen = sizeof(raw);
	int derlen;

	*pem_out = *pub_out = NULL;
	if (!ed && strcmp(algorithm, DKIM_ALG_RSA) != 0)
		return mn_err_set(err, MN_EINVAL, "unknown DKIM algorithm %s", algorithm);
	/* RFC 8301 §3.2: at least 1024 bits, 2048 recommended */
	pk = ed ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
	        : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (pk == NULL)
		return mn_err_set(err, MN_EIO, "DKIM key generation failed");
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL || PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) != 1) {
		BIO_free(bio);
		EVP_PKEY_free(pk);
		return mn_err_set(err, MN_EIO, "DKIM key: PEM encoding failed");
	}
	BIO_get_mem_ptr(bio, &mem);
	*pem_out = xstrndup(mem->data, mem->length);
	BIO_free(bio);
	if (ed) {
		if (EVP_PKEY_get_raw_public_key(pk, raw, &rawlen) != 1) {
			EVP_PKEY_free(pk);
			free(*pem_out);
			*pem_out = NULL;
			return mn_err_set(err, MN_EIO, "DKIM key: no raw public key");
		}
		*pub_out = b64(raw, rawlen);
	} else {
		derlen = i2d_PUBKEY(pk, &der);
		if (derlen <= 0) {
			EVP_PKEY_free(pk);
			free(*pem_out);
			*pem_out = NULL;
			return mn_err_set(err, MN_EIO, "DKIM key: DER encoding failed");
		}
		*pub_out = b64(der, (size_t)derlen);
		OPENSSL_free(der);
	}
	EVP_PKEY_free(pk);
	return 0;
}

char *
dkim_dns_txt(const char *algorithm, const char *pub)
{
	return xasprintf("v=DKIM1; k=%s; p=%s",
	    strcmp(algorithm, DKIM_ALG_ED25519) == 0 ? "ed25519" : "rsa", pub);
}
