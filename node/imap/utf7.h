/*
 * utf7.h - modified UTF-7 mailbox names (RFC 3501 §5.1.3).
 *
 * Mailbox names travel as modified UTF-7: printable US-ASCII except "&"
 * stands for itself, "&" is "&-", and anything else is UTF-16BE in modified
 * BASE64 ("," for "/", no padding) between "&" and "-". Internally names are
 * UTF-8. Both directions are strict, so that every accepted name has exactly
 * one spelling (decode then encode gives the input back): the decoder refuses
 * bytes outside 0x20-0x7e, a missing "-", a bad or unused base64 character,
 * non-zero padding bits, printable ASCII encoded in base64, two base64 runs
 * in a row, unpaired surrogates and U+0000; the encoder refuses invalid UTF-8
 * (overlong forms, surrogates, > U+10FFFF) and U+0000.
 *
 * Example: "已发送" <-> "&XfJT0ZAB-", "Entw&rfe" <-> "Entw&-rfe".
 */
#ifndef MN_NODE_IMAP_UTF7_H
#define MN_NODE_IMAP_UTF7_H

#include "lib/buf.h"
#include "lib/err.h"

/* imap_utf7_encode - append the mUTF-7 form of UTF-8 `in` to out. Returns 0,
 * MN_EINVAL (bad UTF-8 or U+0000, reason in err) or MN_ETOOBIG (out's max);
 * on error out is left as it was. */
int imap_utf7_encode(struct slice in, struct buf *out, struct mn_err *err);

/* imap_utf7_decode - append the UTF-8 form of mUTF-7 `in` to out. Returns 0,
 * MN_EINVAL (not canonical modified UTF-7, reason in err) or MN_ETOOBIG; on
 * error out is left as it was. */
int imap_utf7_decode(struct slice in, struct buf *out, struct mn_err *err);

#endif
