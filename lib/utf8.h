/*
 * utf8.h - strict UTF-8 validation (RFC 3629 §4).
 *
 * Protocol parsers accept UTF-8 only where an extension allows it (SMTPUTF8,
 * RFC 6531; RFC 6532 headers) and then only well-formed UTF-8: no overlong
 * forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF. Knows
 * nothing about mail; pure functions, no allocation.
 */
#ifndef MN_LIB_UTF8_H
#define MN_LIB_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* utf8_seq_len - length (1..4) of the well-formed sequence at the start of
 * p[0..n), or 0 when it is malformed or truncated (n == 0 gives 0). */
size_t utf8_seq_len(const uint8_t *p, size_t n);

/* utf8_valid - true when all of p[0..n) is well-formed UTF-8. */
bool utf8_valid(const void *p, size_t n);

/* utf8_encode - write code point cp (must be <= 0x10FFFF and not a
 * surrogate) into out[4]; returns bytes written, 0 for an invalid cp. */
size_t utf8_encode(uint32_t cp, uint8_t out[4]);

#endif
