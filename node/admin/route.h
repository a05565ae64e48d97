/*
 * route.h - the pure parts of the admin API router (node/admin/api.c): path
 * splitting and %-decoding, route patterns, the HTTP Basic credentials
 * parser and the MN_E code -> HTTP status table. No I/O, so unit tests and
 * the server share them.
 */
#ifndef MN_NODE_ADMIN_ROUTE_H
#define MN_NODE_ADMIN_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#define API_PREFIX "/api/v1"
#define API_MAX_SEGMENTS 8    /* deepest route has 4; more is never valid */
#define API_MAX_SEGMENT 1024  /* decoded bytes: an address is at most 254 */
#define API_MAX_BASIC 4096    /* Authorization header value */
#define API_MAX_PASSWORD 1024 /* bounds the slow hash work one request causes */

enum api_method {
	API_GET,
	API_POST,
	API_PATCH,
	API_DELETE,
	API_PUT,
	API_OTHER,
};

enum api_method api_method_parse(const char *m, size_t len);

/* api_split_path - raw request path (no query) under API_PREFIX into
 * %-decoded segments (caller frees each). A trailing '/' is ignored.
 * Returns 0; MN_ENOENT when the path is not under API_PREFIX or has an
 * empty segment ("//"); MN_EINVAL for a bad %-escape or an encoded NUL;
 * MN_ETOOBIG for too many or too long segments. */
int api_split_path(const char *path, size_t len, char **segs, size_t max, size_t *n_out);
void api_segments_free(char **segs, size_t n);

/* api_pattern_match - pattern "users/STAR/move" (segments separated by '/',
 * "*" matches any one segment) against the decoded segments. */
bool api_pattern_match(const char *pattern, char *const *segs, size_t n);

/* api_status_for_code - HTTP status for a negative MN_E code (0 -> 200). */
int api_status_for_code(int code);

/* api_parse_basic - "Basic base64(user:pass)" -> user and password (caller
 * frees; the password should be wiped). Returns 0 or MN_EAUTH. */
int api_parse_basic(const char *value, size_t len, char **user_out, char **pass_out);

#endif
