/*
 * buf.c - growable bounded buffers, slices and small string helpers.
 */
#include "lib/buf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/xalloc.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void
buf_fini(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
}

int
buf_reserve(struct buf *b, size_t n)
{
	size_t need, cap;

	if (n > SIZE_MAX - b->len - 1)
		return MN_ETOOBIG;
	need = b->len + n;
	if (b->max && need > b->max)
		return MN_ETOOBIG;
	if (need + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need + 1)
		cap = cap > SIZE_MAX / 2 ? need + 1 : cap * 2;
	if (b->max && cap > b->max + 1)
		cap = b->max + 1;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
	return 0;
}

int
buf_append(struct buf *b, const void *data, size_t n)
{
	int rc;

	if (n == 0)
		return 0;
	if ((rc = buf_reserve(b, n)) < 0)
		return rc;
	memcpy(b->data + b->len, data, n);
	b->len += n;
	return 0;
}

int
buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n, rc;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return MN_EINVAL;
	if ((rc = buf_reserve(b, (size_t)n)) < 0)
		return rc;
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

const char *
buf_cstr(struct buf *b)
{
	if (b->cap < b->len + 1) {
		b->data = xrealloc(b->data, b->len + 1);
		b->cap = b->len + 1;
	}
	b->data[b->len] = '\0';
	return (const char *)b->data;
}

char *
buf_steal(struct buf *b, size_t *len_out)
{
	char *p;

	buf_cstr(b);
	p = (char *)b->data;
	if (len_out)
		*len_out = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

struct slice
slice_from_cstr(const char *s)
{
	return (struct slice){s, s ? strlen(s) : 0};
}

bool
slice_eq(struct slice a, struct slice b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool
slice_eq_nocase(struct slice a, const char *s)
{
	size_t n = strlen(s);

	return a.len == n && ascii_ncasecmp(a.ptr, s, n) == 0;
}

bool
slice_starts_nocase(struct slice a, const char *prefix)
{
	size_t n = strlen(prefix);

	return a.len >= n && ascii_ncasecmp(a.ptr, prefix, n) == 0;
}

struct slice
slice_trim(struct slice s)
{
	while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
		s.ptr++;
		s.len--;
	}
	while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
		s.len--;
	return s;
}

char *
slice_dup(struct slice s)
{
	return xstrndup(s.ptr ? s.ptr : "", s.len);
}

size_t
find_line(const uint8_t *data, size_t len, size_t *line_len)
{
	const uint8_t *lf = memchr(data, '\n', len);
	size_t n;

	if (lf == NULL)
		return 0;
	n = (size_t)(lf - data);
	*line_len = (n > 0 && data[n - 1] == '\r') ? n - 1 : n;
	return n + 1;
}

static int
lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

int
ascii_casecmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		int d = lower((unsigned char)*a) - lower((unsigned char)*b);

		if (d != 0 || *a == '\0')
			return d;
	}
}

int
ascii_ncasecmp(const char *a, const char *b, size_t n)
{
	for (; n > 0; a++, b++, n--) {
		int d = lower((unsigned char)*a) - lower((unsigned char)*b);

		if (d != 0 || *a == '\0')
			return d;
	}
	return 0;
}

void
ascii_lower(char *s)
{
	for (; *s; s++)
		*s = (char)lower((unsigned char)*s);
}

int
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (s == NULL || !isdigit((unsigned char)s[0]))
		return MN_EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return MN_EINVAL;
	*out = v;
	return 0;
}

int
parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	uint64_t mult = 1;
	char *end;

	if (s == NULL || !isdigit((unsigned char)s[0]))
		return MN_EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return MN_EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mult = 1024ULL;
		end++;
		break;
	case 'm':
	case 'M':
		mult = 1024ULL * 1024;
		end++;
		break;
	case 'g':
	case 'G':
		mult = 1024ULL * 1024 * 1024;
		end++;
		break;
	default:
		return MN_EINVAL;
	}
	if (*end != '\0' || v > UINT64_MAX / mult)
		return MN_EINVAL;
	*out = v * mult;
	return 0;
}
