/*
 * static.c - static files of the web UI (see static.h).
 *
 * Why the checks are on the decoded path: "%2e%2e/" is ".." once decoded,
 * and a file system only ever sees decoded names. Refusing every ".."
 * segment (rather than normalising it away) keeps the rule simple to
 * audit: no request path can name anything outside the root except
 * through a symbolic link inside it, and the last component is opened
 * with O_NOFOLLOW (links in the shipped web/ tree are not used).
 * Files are read on the thread pool: a slow disk must not stall the loop
 * that also serves IMAP and SMTP.
 */
#include "node/http/static.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"

int
http_static_resolve(const char *path, size_t len, char **rel_out)
{
	char *dec, *out;
	size_t n, i;

	*rel_out = NULL;
	if (len == 0 || path[0] != '/')
		return MN_EINVAL;
	if (len > 3 * HTTP_STATIC_MAX_PATH)
		return MN_ENOENT;
	dec = http_url_decode((struct slice){.ptr = path, .len = len}, false);
	if (dec == NULL)
		return MN_EINVAL; /* bad escape or an encoded NUL */
	n = strlen(dec);
	if (n > HTTP_STATIC_MAX_PATH) {
		free(dec);
		return MN_ENOENT;
	}
	if (memchr(dec, '\\', n) != NULL) {
		free(dec);
		return MN_EINVAL;
	}
	/* every segment between '/'s: not empty (except the last), not ".",
	 * not "..", not hidden */
	for (i = 1; i < n;) {
		size_t start = i;

		while (i < n && dec[i] != '/')
			i++;
		if (i == start) {
			free(dec);
			return MN_ENOENT; /* "//" */
		}
		if ((i - start == 2 && dec[start] == '.' && dec[start + 1] == '.')) {
			free(dec);
			return MN_EINVAL;
		}
		if (dec[start] == '.') {
			free(dec);
			return MN_ENOENT;
		}
		if (i < n)
			i++;
	}
	if (dec[n - 1] == '/')
		out = xasprintf("%sindex.html", dec + 1);
	else
		out = xstrdup(dec + 1);
	free(dec);
	*rel_out = out;
	return 0;
}

const char *
http_static_content_type(const char *name)
{
	static const struct {
		const char *ext;
		const char *type;
	} types[] = {
	    {"html", "text/html; charset=utf-8"},
	    {"js", "text/javascript; charset=utf-8"},
	    {"mjs", "text/javascript; charset=utf-8"},
	    {"css", "text/css; charset=utf-8"},
	    {"json", "application/json"},
	    {"svg", "image/svg+xml"},
	    {"png", "image/png"},
	    {"ico", "image/x-icon"},
	    {"txt", "text/plain; charset=utf-8"},
	    {"woff2", "font/woff2"},
	};
	const char *dot = strrchr(name, '.'), *slash = strrchr(name, '/');

	if (dot != NULL && (slash == NULL || dot > slash))
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcasecmp(dot + 1, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

void
http_static_etag(const struct stat *st, char *out, size_t outlen)
{
	snprintf(out, outlen, "\"%llx-%llx-%llx\"", (unsigned long long)st->st_ino,
	    (unsigned long long)st->st_size,
	    (unsigned long long)st->st_mtim.tv_sec * 1000000000ULL +
	        (unsigned long long)st->st_mtim.tv_nsec);
}

bool
http_static_etag_match(const char *v, size_t len, const char *etag)
{
	size_t elen = strlen(etag), i = 0;

	while (i < len) {
		size_t start, end;

		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		start = i;
		while (i < len && v[i] != ',')
			i++;
		end = i;
		while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
		if (end - start == 1 && v[start] == '*')
			return true;
		if (end - start >= 2 && v[start] == 'W' && v[start + 1] == '/')
			start += 2; /* weak comparison: the W/ prefix does not count */
		if (end - start == elen && memcmp(v + start, etag, elen) == 0)
			return true;
	}
	return false;
}

void
http_ui_headers(struct http_exchange *x)
{
	http_add_header(x, "Content-Security-Policy", HTTP_UI_CSP);
	http_add_header(x, "X-Frame-Options", "DENY");
	http_add_header(x, "Referrer-Policy", "no-referrer");
	http_add_header(x, "Cross-Origin-Opener-Policy", "same-origin");
}

struct static_work {
	uv_work_t w;
	struct http_exchange *x;
	char *file;    /* root + rel */
	char *inm;     /* If-None-Match, or NULL */
	bool redirect; /* a directory: add '/' */
	int status;    /* 200, 304, 404, 403, 500 */
	char etag[64];
	const char *type;
	char *data;
	size_t len;
	char *location;
};

static void
static_work(uv_work_t *w)
{
	struct static_work *s = w->data;
	struct stat st;
	int fd;

	fd = open(s->file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		s->status = errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? 404 : 403;
		return;
	}
	if (fstat(fd, &st) != 0) {
		s->status = 500;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		s->redirect = true;
		s->status = 301;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > HTTP_STATIC_MAX_FILE) {
		s->status = 404;
		goto out;
	}
	http_static_etag(&st, s->etag, sizeof(s->etag));
	if (s->inm != NULL && http_static_etag_match(s->inm, strlen(s->inm), s->etag)) {
		s->status = 304;
		goto out;
	}
	s->data = xmalloc((size_t)st.st_size + 1);
	while (s->len < (size_t)st.st_size) {
		ssize_t r = pread(fd, s->data + s->len, (size_t)st.st_size - s->len, (off_t)s->len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* shrank meanwhile: serve what is there */
		s->len += (size_t)r;
	}
	s->status = 200;
out:
	close(fd);
}

static void
static_done(uv_work_t *w, int status)
{
	struct static_work *s = w->data;

	(void)status;
	http_ui_headers(s->x);
	switch (s->status) {
	case 200:
		http_add_header(s->x, "ETag", s->etag);
		/* revalidate every time: the files change with the node's
		 * version and there is no build step to rename them */
		http_add_header(s->x, "Cache-Control", "no-cache");
		http_reply(s->x, 200, s->type, s->data, s->len);
		break;
	case 304:
		http_add_header(s->x, "ETag", s->etag);
		http_add_header(s->x, "Cache-Control", "no-cache");
		http_reply(s->x, 304, NULL, NULL, 0);
		break;
	case 301:
		http_add_header(s->x, "Location", s->location);
		http_reply_error(s->x, 301, "moved to %s", s->location);
		break;
	case 403:
	case 404:
		http_reply_error(s->x, 404, "not found");
		break;
	default:
		http_reply_error(s->x, 500, "internal error");
		break;
	}
	free(s->file);
	free(s->inm);
	free(s->data);
	free(s->location);
	free(s);
}

void
http_static_serve(
    uv_loop_t *loop, const char *root, struct http_exchange *x, const struct http_request *req)
{
	struct static_work *s;
	struct slice inm;
	char *rel;
	int rc;

	if (!slice_eq(req->method, SLICE_LIT("GET")) && !slice_eq(req->method, SLICE_LIT("HEAD"))) {
		http_ui_headers(x);
		http_add_header(x, "Allow", "GET, HEAD");
		http_reply_error(x, 405, "method not allowed");
		return;
	}
	rc = http_static_resolve(req->path.ptr, req->path.len, &rel);
	if (rc != 0) {
		http_ui_headers(x);
		if (rc == MN_EINVAL)
			http_reply_error(x, 400, "bad path");
		else
			http_reply_error(x, 404, "not found");
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->x = x;
	s->file = xasprintf("%s/%s", root, rel);
	s->type = http_static_content_type(rel);
	/* the raw path is safe to echo back: it resolved without '..' */
	s->location = xasprintf("%.*s/", (int)req->path.len, req->path.ptr);
	inm = http_header_get(req, "If-None-Match");
	if (inm.ptr != NULL)
		s->inm = xstrndup(inm.ptr, inm.len);
	free(rel);
	s->w.data = s;
	uv_queue_work(loop, &s->w, static_work, static_done);
}
