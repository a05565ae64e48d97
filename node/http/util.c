/*
 * util.c - helpers over a parsed request: header lookup, query parameters,
 * %-decoding (RFC 3986 §2.1, with the form rule '+' = space of
 * application/x-www-form-urlencoded) and reason phrases (RFC 9110 §15).
 *
 * Decoding refuses malformed escapes and NUL (raw or %00): the results go
 * into C strings and SQL binds, where a NUL would silently cut the value.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "node/http/http.h"

struct slice
http_header_get(const struct http_request *req, const char *name)
{
	for (size_t k = 0; k < req->nheaders; k++) {
		if (slice_eq_nocase(req->headers[k].name, name))
			return req->headers[k].value;
	}
	return (struct slice){ NULL, 0 };
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *
http_url_decode(struct slice s, bool plus_is_space)
{
	char *out = xmalloc(s.len + 1);
	size_t o = 0;

	for (size_t i = 0; i < s.len; i++) {
		char c = s.ptr[i];

		if (c == '%') {
			int hi, lo;

			if (s.len - i < 3)
				goto bad;
			hi = hexval(s.ptr[i + 1]);
			lo = hexval(s.ptr[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad;
			c = (char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		}
		if (c == '\0')
			goto bad;
		out[o++] = c;
	}
	out[o] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

char *
http_query_get(const struct http_request *req, const char *name)
{
	struct slice q = req->query;
	size_t start = 0;

	if (q.ptr == NULL)
		return NULL;
	for (size_t k = 0; k <= q.len; k++) {
		struct slice pair, key, val;
		const char *eq;
		char *dkey;
		bool match;

		if (k < q.len && q.ptr[k] != '&')
			continue;
		pair = (struct slice){ q.ptr + start, k - start };
		start = k + 1;
		if (pair.len == 0)
			continue;
		eq = memchr(pair.ptr, '=', pair.len);
		key = (struct slice){ pair.ptr, eq ? (size_t)(eq - pair.ptr) : pair.len };
		val = eq ? (struct slice){ eq + 1, pair.len - key.len - 1 }
			 : (struct slice){ pair.ptr + pair.len, 0 };
		dkey = http_url_decode(key, true);
		match = dkey != NULL && strcmp(dkey, name) == 0;
		free(dkey);
		if (match) {
			/* A malformed value reads as absent, not as a truncated string. */
			return http_url_decode(val, true);
		}
	}
	return NULL;
}

const char *
http_status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}
