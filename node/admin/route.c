/*
 * route.c - path splitting, route patterns, Basic credentials and the error
 * status table of the admin API (see route.h).
 *
 * Paths are split on '/' before decoding (RFC 3986 §2.2: a "%2F" inside a
 * segment is data, not a separator), so "bob%40a.test" and "bob@a.test"
 * name the same user.
 */
#include "node/admin/route.h"

#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/codec.h"
#include "lib/err.h"
#include "lib/xalloc.h"

enum api_method
api_method_parse(const char *m, size_t len)
{
	static const struct {
		const char *name;
		enum api_method method;
	} methods[] = {
	    {"GET", API_GET},
	    {"POST", API_POST},
	    {"PATCH", API_PATCH},
	    {"DELETE", API_DELETE},
	    {"PUT", API_PUT},
	};

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strlen(methods[i].name) == len && memcmp(methods[i].name, m, len) == 0)
			return methods[i].method;
	return API_OTHER;
}

/* decode one segment; NULL on a bad escape or NUL ('+' stays '+': it is
 * form encoding, not path encoding) */
static int
decode_segment(const char *s, size_t len, char **out)
{
	char *d;
	size_t o = 0;

	if (len > 3 * API_MAX_SEGMENT)
		return MN_ETOOBIG;
	d = xmalloc(len + 1);
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				goto bad;
			hi = codec_hex_value(s[i + 1]);
			lo = codec_hex_value(s[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (c == '\0')
			goto bad;
		d[o++] = c;
	}
	if (o > API_MAX_SEGMENT) {
		free(d);
		return MN_ETOOBIG;
	}
	d[o] = '\0';
	*out = d;
	return 0;
bad:
	free(d);
	return MN_EINVAL;
}

void
api_segments_free(char **segs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(segs[i]);
		segs[i] = NULL;
	}
}

int
api_split_path(const char *path, size_t len, char **segs, size_t max, size_t *n_out)
{
	size_t plen = strlen(API_PREFIX), n = 0, i;
	int rc;

	*n_out = 0;
	if (len < plen || memcmp(path, API_PREFIX, plen) != 0)
		return MN_ENOENT;
	if (len > plen && path[plen] != '/')
		return MN_ENOENT; /* "/api/v10" is not ours */
	i = plen;
	if (i < len)
		i++; /* the '/' after the prefix */
	while (i < len) {
		size_t start = i;

		while (i < len && path[i] != '/')
			i++;
		if (i == start) {
			if (i == len)
				break; /* cannot happen; kept for clarity */
			api_segments_free(segs, n);
			return MN_ENOENT; /* "//" */
		}
		if (n == max) {
			api_segments_free(segs, n);
			return MN_ETOOBIG;
		}
		rc = decode_segment(path + start, i - start, &segs[n]);
		if (rc != 0) {
			api_segments_free(segs, n);
			return rc;
		}
		n++;
		if (i < len)
			i++; /* skip '/'; a trailing one ends the loop */
	}
	*n_out = n;
	return 0;
}

bool
api_pattern_match(const char *pattern, char *const *segs, size_t n)
{
	const char *p = pattern;
	size_t k = 0;

	while (*p != '\0') {
		const char *e = strchr(p, '/');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (k == n)
			return false;
		if (!(l == 1 && p[0] == '*') &&
		    (strlen(segs[k]) != l || memcmp(segs[k], p, l) != 0))
			return false;
		k++;
		p += l;
		if (*p == '/')
			p++;
	}
	return k == n;
}

int
api_status_for_code(int code)
{
	switch (code) {
	case 0:
		return 200;
	case MN_EINVAL:
	case MN_EPARSE:
		return 400;
	case MN_EAUTH:
		return 401;
	case MN_EPERM:
		return 403;
	case MN_ENOENT:
		return 404;
	case MN_EEXIST:
	case MN_ECONFLICT:
		return 409;
	case MN_ETOOBIG:
		return 413;
	case MN_ELIMIT:
		return 429;
	case MN_ENOLEADER:
	case MN_ECLOSED:
	case MN_ETEMP:
	case MN_EAGAIN:
	case MN_ETIMEDOUT:
		return 503;
	default:
		return 500;
	}
}

int
api_parse_basic(const char *value, size_t len, char **user_out, char **pass_out)
{
	unsigned char *dec;
	const char *b64;
	size_t b64len;
	int n;
	char *colon;

	*user_out = *pass_out = NULL;
	while (len > 0 && (*value == ' ' || *value == '\t'))
		value++, len--;
	while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	/* RFC 7617 §2: scheme is case-insensitive */
	if (len < 6 || strncasecmp(value, "Basic ", 6) != 0 || len > API_MAX_BASIC)
		return MN_EAUTH;
	b64 = value + 6;
	b64len = len - 6;
	while (b64len > 0 && *b64 == ' ')
		b64++, b64len--;
	if (b64len == 0 || b64len % 4 != 0)
		return MN_EAUTH;
	for (size_t i = 0; i < b64len; i++) {
		char c = b64[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		        c == '+' || c == '/' || c == '='))
			return MN_EAUTH;
		if (c == '=' && i < b64len - 2)
			return MN_EAUTH;
	}
	if (b64[b64len - 2] == '=' && b64[b64len - 1] != '=')
		return MN_EAUTH;
	dec = xmalloc(b64len / 4 * 3 + 1);
	n = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)b64len);
	if (n < 0) {
		free(dec);
		return MN_EAUTH;
	}
	/* EVP_DecodeBlock counts padding as zero bytes */
	if (b64[b64len - 1] == '=')
		n--;
	if (b64[b64len - 2] == '=')
		n--;
	if (memchr(dec, '\0', (size_t)n) != NULL || (colon = memchr(dec, ':', (size_t)n)) == NULL) {
		OPENSSL_cleanse(dec, (size_t)n);
		free(dec);
		return MN_EAUTH;
	}
	*user_out = xstrndup((char *)dec, (size_t)(colon - (char *)dec));
	*pass_out = xstrndup(colon + 1, (size_t)n - (size_t)(colon + 1 - (char *)dec));
	OPENSSL_cleanse(dec, (size_t)n);
	free(dec);
	return 0;
}
