/*
 * attach.c - attachment filters over the MIME tree (attach.h).
 */
#include "node/antispam/attach.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "storage/message/mime.h"

/* list (comma/space separated) holds e (len bytes), case-insensitively;
 * with wild, an entry "type/ *" (no space) matches every subtype */
static bool
list_has(const char *list, const char *e, size_t len, bool wild)
{
	const char *p = list;

	if (list == NULL)
		return false;
	while (*p != '\0') {
		size_t l;

		p += strspn(p, ", \t");
		l = strcspn(p, ", \t");
		if (l == 0)
			break;
		if (*p == '.' && !wild) {
			p++; /* ".exe" and "exe" alike */
			l--;
		}
		if (l == len && strncasecmp(p, e, len) == 0)
			return true;
		if (wild && l >= 2 && p[l - 2] == '/' && p[l - 1] == '*' && len > l - 1 &&
		    strncasecmp(p, e, l - 1) == 0)
			return true;
		p += l;
	}
	return false;
}

/* printable copy of a (UTF-8) file name for the reply */
static void
clean(char *out, size_t outsz, const char *in, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < outsz; i++) {
		unsigned char c = (unsigned char)in[i];

		out[o++] = (c >= ' ' && c < 127 && c != '"' && c != '\\') ? (char)c : '_';
	}
	out[o] = '\0';
}

struct walk {
	const struct attach_rules *r;
	uint32_t count;
	char *why;
	size_t whysz;
};

static int
walk(struct walk *w, const struct mime_part *p)
{
	char type[300], name[200];
	struct buf fn;
	bool named;
	int rc = 0;

	if (p->children != NULL) {
		for (const struct mime_part *c = p->children; c != NULL; c = c->next)
			if ((rc = walk(w, c)) != 0)
				return rc;
		return 0;
	}
	snprintf(type, sizeof(type), "%s/%s", p->type, p->subtype);
	for (char *t = type; *t != '\0'; t++)
		*t = (char)tolower((unsigned char)*t);
	buf_init(&fn, 1024);
	named = mime_part_filename(p, &fn) == 0 && fn.len > 0;
	clean(name, sizeof(name), named ? (const char *)fn.data : "", named ? fn.len : 0);
	if (list_has(w->r->types, type, strlen(type), true)) {
		snprintf(w->why, w->whysz, "%s%s%stype %s is blocked", named ? "attachment \"" : "",
		    name, named ? "\" of " : "", type);
		rc = 1;
	} else if (named ||
	           (p->disposition != NULL && strcasecmp(p->disposition, "attachment") == 0)) {
		const char *dot = named ? memrchr(fn.data, '.', fn.len) : NULL;

		w->count++;
		if (dot != NULL && list_has(w->r->extensions, dot + 1,
		                       fn.len - (size_t)(dot + 1 - (const char *)fn.data), false)) {
			snprintf(w->why, w->whysz, "attachment \"%s\" has a blocked extension (%s)",
			    name, strrchr(name, '.') ? strrchr(name, '.') : "");
			rc = 1;
		} else if (w->r->max_count != 0 && w->count > w->r->max_count) {
			snprintf(w->why, w->whysz, "more than %u attachments", w->r->max_count);
			rc = 1;
		}
	}
	buf_fini(&fn);
	return rc;
}

int
attach_check(const struct attach_rules *r, const char *msg, size_t len, char *why, size_t whysz)
{
	struct mime_part *root = NULL;
	struct walk w = {r, 0, why, whysz};
	int rc;

	why[0] = '\0';
	if (mime_parse(msg, len, &root) != 0)
		return 0;
	rc = walk(&w, root);
	mime_free(root);
	return rc;
}
