/*
 * static.h - the web UI as static files (HTML, CSS, ES modules) from one
 * web root directory: / is the webmail (ROOT/index.html), /admin/ the web
 * admin (ROOT/admin/index.html).
 *
 * The path resolver is pure (unit tested): it %-decodes the request path
 * and refuses anything that could leave the root ("..", encoded or not,
 * backslashes, NUL) or reach hidden files (a segment starting with '.').
 * Files are opened with O_NOFOLLOW and must be regular files, read on the
 * libuv thread pool, answered with a Content-Type from the extension, a
 * strong ETag (inode, size, mtime) honoured by If-None-Match (304), and
 * the strict Content-Security-Policy of every UI page (HTTP_UI_CSP).
 */
#ifndef MN_NODE_HTTP_STATIC_H
#define MN_NODE_HTTP_STATIC_H

#include <stddef.h>
#include <sys/stat.h>
#include <uv.h>

#include "node/http/http.h"

#define HTTP_STATIC_MAX_PATH 1024       /* decoded request path bytes */
#define HTTP_STATIC_MAX_FILE (8u << 20) /* biggest file served */

/* The policy of every UI page: scripts, styles, images and fetches from
 * this origin only, no plugins, no inline script or style, no framing by
 * others. Mail HTML is shown from its own endpoint with its own, stricter
 * policy (node/webmail). */
#define HTTP_UI_CSP                                                                                \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "          \
	"connect-src 'self'; frame-src 'self'; font-src 'self'; base-uri 'none'; "                 \
	"form-action 'self'; frame-ancestors 'none'"

/* http_static_resolve - the raw (%-encoded) request path to a path
 * relative to the web root in *rel_out (caller frees): "/" and any path
 * ending in '/' get "index.html". 0; MN_EINVAL (answer 400) for bad
 * escapes, NUL, backslash or a ".." segment; MN_ENOENT (404) for hidden
 * segments, empty segments ("//"), or a path too long. */
int http_static_resolve(const char *path, size_t len, char **rel_out);

/* http_static_content_type - by extension (case-insensitive); unknown:
 * application/octet-stream. */
const char *http_static_content_type(const char *name);

/* http_static_etag - strong validator of a file: "ino-size-mtime" in hex,
 * quoted. out needs 64 bytes. */
void http_static_etag(const struct stat *st, char *out, size_t outlen);

/* http_static_etag_match - If-None-Match value (a list, or "*") matches
 * etag (weak comparison, RFC 9110 §13.1.2). */
bool http_static_etag_match(const char *if_none_match, size_t len, const char *etag);

/* http_static_serve - answer req (GET or HEAD; others 405) from root. */
void http_static_serve(
    uv_loop_t *loop, const char *root, struct http_exchange *x, const struct http_request *req);

/* http_ui_headers - the security headers of every UI answer (CSP,
 * framing, referrer); call before http_reply. */
void http_ui_headers(struct http_exchange *x);

#endif
