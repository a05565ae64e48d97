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
#include "lib/codec.h"
#include "lib/xalloc.h"
#include "node/http/http.h"

struct slice
http_header_get(const struct http_request *req, const char *name)
{
	for (size_t k = 0; k < req->nheaders; k++) {
		if (slice_eq_nocase(req->headers[k].name, name))
			return req->headers[k].value;
	}
	return (struct slice){NULL, 0};
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
			hi = codec_hex_value(s.ptr[i + 1]);
			lo = codec_hex_value(s.ptr[i + 2]);
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
		pair = (struct slice){q.ptr + start, k - start};
		start = k + 1;
		if (pair.len == 0)
			continue;
		eq = memchr(pair.ptr, '=', pair.len);
		key = (struct slice){pair.ptr, eq ? (size_t)(eq - pair.ptr) : pair.len};
		val = eq ? (struct slice){eq + 1, pair.len - key.len - 1}
		         : (struct slice){pair.ptr + pair.len, 0};
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

static const struct {
	int status;
	const char *text;
} status_texts[] = {
    {100, "Continue"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {422, "Unprocessable Content"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

const char *
http_status_text(int status)
{
	for (size_t i = 0; i < sizeof(status_texts) / sizeof(status_texts[0]); i++) {
		if (status_texts[i].status == status)
			return status_texts[i].text;
	}
	return "Unknown";
}
