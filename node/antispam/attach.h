/*
 * attach.h - attachment filters for inbound mail (issue 8, FEATURES §11):
 * blocked file name extensions, blocked MIME types, a maximum count.
 *
 * An attachment is a leaf MIME part (storage/message/mime.h, RFC 2045/2183)
 * with a file name (Content-Disposition filename or Content-Type name,
 * RFC 2231/2047 decoded) or with disposition "attachment". Parts inside an
 * attached message/rfc822 count too (mime_parse walks into them, up to its
 * depth and part limits). Type matching looks at every leaf, named or not.
 * Pure code, no I/O.
 */
#ifndef MN_NODE_ANTISPAM_ATTACH_H
#define MN_NODE_ANTISPAM_ATTACH_H

#include <stddef.h>
#include <stdint.h>

struct attach_rules {
	const char *extensions; /* "exe, scr" (with or without the dot); NULL: none */
	const char
	    *types; /* "application/x-msdownload video/ANY" (ANY: the * wildcard); NULL: none */
	uint32_t max_count; /* 0: unlimited */
};

/* attach_check - 0: fine; 1: refused, with the reason (printable ASCII,
 * e.g. "attachment \"a.exe\" has a blocked extension (.exe)") in why. */
int attach_check(
    const struct attach_rules *r, const char *msg, size_t len, char *why, size_t whysz);

#endif
