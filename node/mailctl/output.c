/*
 * output.c - human-readable output of mailctl: aligned tables, sizes, and
 * reading scalar members out of the API's JSON.
 *
 * --json output does not come through here: it is the API's body, byte for
 * byte. Tables own copies of their cells and are freed when printed.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/xalloc.h"
#include "node/mailctl/mailctl.h"

struct mailctl_table {
	size_t ncols;
	size_t nrows; /* including the header row */
	size_t cap;
	char **cells; /* nrows * ncols */
};

struct mailctl_table *
mailctl_table_new(size_t ncols, const char *const *headers)
{
	struct mailctl_table *t = xcalloc(1, sizeof(*t));

	t->ncols = ncols;
	mailctl_table_add(t, headers);
	return t;
}

void
mailctl_table_add(struct mailctl_table *t, const char *const *cells)
{
	size_t i;

	if (t->nrows == t->cap) {
		t->cap = t->cap == 0 ? 8 : t->cap * 2;
		t->cells = xrealloc(t->cells, t->cap * t->ncols * sizeof(char *));
	}
	for (i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = xstrdup(cells[i] != NULL ? cells[i] : "-");
	t->nrows++;
}

void
mailctl_table_print(struct mailctl_table **tp, FILE *out)
{
	struct mailctl_table *t = *tp;
	size_t *width, r, i;

	width = xcalloc(t->ncols, sizeof(*width));
	for (r = 0; r < t->nrows; r++) {
		for (i = 0; i < t->ncols; i++) {
			size_t n = strlen(t->cells[r * t->ncols + i]);

			if (n > width[i])
				width[i] = n;
		}
	}
	for (r = 0; r < t->nrows; r++) {
		for (i = 0; i < t->ncols; i++) {
			const char *cell = t->cells[r * t->ncols + i];

			if (i + 1 == t->ncols)
				fprintf(out, "%s\n", cell);
			else
				fprintf(out, "%-*s  ", (int)width[i], cell);
		}
	}
	for (r = 0; r < t->nrows * t->ncols; r++)
		free(t->cells[r]);
	free(t->cells);
	free(width);
	free(t);
	*tp = NULL;
}

void
mailctl_fmt_size(uint64_t bytes, char *out, size_t outlen)
{
	static const char suffix[] = "GMK";
	static const uint64_t unit[] = {1024ULL * 1024 * 1024, 1024ULL * 1024, 1024ULL};
	size_t i;

	for (i = 0; i < 3; i++) {
		if (bytes != 0 && bytes % unit[i] == 0) {
			snprintf(out, outlen, "%" PRIu64 "%c", bytes / unit[i], suffix[i]);
			return;
		}
	}
	snprintf(out, outlen, "%" PRIu64, bytes);
}

const char *
mailctl_json_str(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

char *
mailctl_json_text(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	if (json_is_integer(v))
		return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	if (json_is_real(v))
		return xasprintf("%g", json_real_value(v));
	if (json_is_true(v))
		return xstrdup("yes");
	if (json_is_false(v))
		return xstrdup("no");
	if (json_is_array(v))
		return mailctl_json_join(v, ",");
	return xstrdup("-");
}

char *
mailctl_json_time(const json_t *obj, const char *key, const char *none)
{
	json_t *v = json_object_get(obj, key);
	char out[32];
	struct tm tm;
	time_t t;

	if (json_is_string(v) && json_string_length(v) > 0)
		return xstrdup(json_string_value(v));
	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return xstrdup(none);
	t = (time_t)json_integer_value(v);
	if (gmtime_r(&t, &tm) == NULL || strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return mailctl_json_text(obj, key);
	return xstrdup(out);
}

char *
mailctl_json_join(const json_t *arr, const char *sep)
{
	struct buf b;
	size_t i;
	json_t *v;

	buf_init(&b, 0);
	for (i = 0; i < json_array_size(arr); i++) {
		v = json_array_get(arr, i);
		if (!json_is_string(v))
			continue;
		if (b.len > 0)
			(void)buf_append_str(&b, sep);
		(void)buf_append_str(&b, json_string_value(v));
	}
	if (b.len == 0)
		(void)buf_append_str(&b, "-");
	return buf_steal(&b, NULL);
}
