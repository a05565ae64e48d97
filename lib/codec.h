/*
 * codec.h - digit values of the hex and base64 alphabets, shared by the
 * decoders that have their own framing rules: %XX (URLs, RFC 3986 §2.1),
 * Q and B encoded-words (RFC 2047 §4), Content-Transfer-Encoding base64
 * (RFC 2045 §6.8) and IMAP's modified UTF-7 (RFC 3501 §5.1.3), which
 * spells value 63 ',' instead of '/'. No mail knowledge: just the alphabets.
 */
#ifndef MN_LIB_CODEC_H
#define MN_LIB_CODEC_H

/* codec_hex_value - 0..15 for 0-9, a-f, A-F; -1 for anything else. */
int codec_hex_value(int c);

/* codec_b64_value - 0..63 for A-Z a-z 0-9 '+' and c63 (value 63: '/' in
 * RFC 4648 base64, ',' in modified UTF-7); -1 for anything else ('='
 * included: padding is the caller's business). */
int codec_b64_value(int c, int c63);

#endif
