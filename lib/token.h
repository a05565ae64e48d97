/*
 * token.h - random bearer secrets: 32 bytes from the OpenSSL CSPRNG spelt
 * as base64url without padding (RFC 4648 §5), 43 characters that fit a
 * cookie, a header or a URL unquoted, and their constant-time comparison.
 * Shared by the web admin's session tokens (node/admin/session.c, which
 * keeps only their SHA-256) and webmail's session ids and CSRF tokens
 * (node/webmail/session.c). No session knowledge: tables stay with them.
 */
#ifndef MN_LIB_TOKEN_H
#define MN_LIB_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define TOKEN_BYTES 32 /* 256 bits: beyond guessing */
#define TOKEN_LEN 43   /* base64url of TOKEN_BYTES, no padding */

/* token_encode - r as base64url without padding, NUL-terminated. */
void token_encode(const unsigned char r[TOKEN_BYTES], char out[TOKEN_LEN + 1]);

/* token_random - a fresh token; aborts if the CSPRNG fails (no safe token
 * can be made then). The random bytes are cleansed afterwards. */
void token_random(char out[TOKEN_LEN + 1]);

/* token_eq - b (blen bytes, not necessarily NUL-terminated) equals the
 * token a; a wrong length is unequal, the bytes are compared in constant
 * time so timing says nothing about how close a guess came. */
bool token_eq(const char *a, const char *b, size_t blen);

#endif
