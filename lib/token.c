/*
 * token.c - random base64url tokens (see token.h).
 */
#include "lib/token.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdlib.h>

void
token_encode(const unsigned char r[TOKEN_BYTES], char out[TOKEN_LEN + 1])
{
	static const char b64url[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;

	/* 10 whole groups of 3 bytes give 40 characters; the last 2 bytes
	 * (16 bits, zero-filled to 18) give 3 more. */
	for (size_t i = 0; i < TOKEN_BYTES; i += 3) {
		uint32_t v = (uint32_t)r[i] << 16 |
		             (uint32_t)(i + 1 < TOKEN_BYTES ? r[i + 1] : 0) << 8 |
		             (uint32_t)(i + 2 < TOKEN_BYTES ? r[i + 2] : 0);

		for (int k = 3; k >= 0 && o < TOKEN_LEN; k--)
			out[o++] = b64url[(v >> (6 * k)) & 63];
	}
	out[TOKEN_LEN] = '\0';
}

void
token_random(char out[TOKEN_LEN + 1])
{
	unsigned char r[TOKEN_BYTES];

	if (RAND_bytes(r, sizeof(r)) != 1)
		abort(); /* no randomness: no safe tokens at all */
	token_encode(r, out);
	OPENSSL_cleanse(r, sizeof(r));
}

bool
token_eq(const char *a, const char *b, size_t blen)
{
	return blen == TOKEN_LEN && CRYPTO_memcmp(a, b, TOKEN_LEN) == 0;
}
