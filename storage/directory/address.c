/*
 * address.c - syntax of the addresses and domain names the directory
 * stores (RFC 5321 §4.1.2 dot-string local parts, RFC 1035 LDH labels,
 * limits of RFC 5321 §4.5.3.1).
 *
 * XXX: ASCII only for now. SMTPUTF8 (RFC 6531) local parts and IDNA
 * domains are refused until the directory has a normalisation rule for
 * them; quoted local parts and address literals are refused as well.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "storage/directory/directory.h"

/* RFC 5322 §3.2.3 atext */
static bool
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool
is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

static int
check_domain_n(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > DIR_MAX_DOMAIN - 2) /* 253: no trailing dot */
		return MN_EINVAL;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			/* RFC 1035 §2.3.1: 1..63, no hyphen at either end */
			if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
				return MN_EINVAL;
			label = 0;
			continue;
		}
		if (!is_ldh((unsigned char)s[i]))
			return MN_EINVAL;
		label++;
	}
	return 0;
}

int
directory_check_domain(const char *domain)
{
	if (domain == NULL)
		return MN_EINVAL;
	return check_domain_n(domain, strlen(domain));
}

int
directory_check_address(const char *address)
{
	const char *at;
	size_t len, llen;

	if (address == NULL)
		return MN_EINVAL;
	len = strlen(address);
	if (len > DIR_MAX_ADDRESS)
		return MN_EINVAL;
	at = strrchr(address, '@');
	if (at == NULL)
		return MN_EINVAL;
	llen = (size_t)(at - address);
	if (llen == 0 || llen > DIR_MAX_LOCAL_PART)
		return MN_EINVAL;
	if (address[0] == '.' || address[llen - 1] == '.')
		return MN_EINVAL;
	for (size_t i = 0; i < llen; i++) {
		unsigned char c = (unsigned char)address[i];

		if (c == '.') {
			if (address[i + 1] == '.')
				return MN_EINVAL;
		} else if (!is_atext(c)) {
			return MN_EINVAL; /* includes a second '@' */
		}
	}
	return check_domain_n(at + 1, len - llen - 1);
}

void
directory_normalize_address(char *address)
{
	if (address != NULL)
		ascii_lower(address);
}
