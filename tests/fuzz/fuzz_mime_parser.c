/*
 * fuzz_mime_parser.c - the MIME parser and the IMAP FETCH renderers on
 * arbitrary messages. The input is the message; its first line is also
 * tried as a BODY[section] spec. Checks: part offsets nest inside their
 * parent and the message, the part count stays within MIME_PARTS_MAX,
 * BODY/BODYSTRUCTURE/ENVELOPE are balanced IMAP (parentheses outside
 * strings and literals), every part's sections extract within bounds (the
 * fuzzer's buffer is exact-size, so ASan sees any over-read), decoded
 * filenames are valid UTF-8, and the SEARCH text (search_text.h) fits the
 * bound SEARCH gives it (4x the message).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/utf8.h"
#include "node/imap/fetch_render.h"
#include "node/imap/search_text.h"
#include "storage/message/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* balanced - parentheses balance outside quoted strings and literals, and
 * every literal's count is honoured. */
static bool
balanced(const struct buf *b)
{
	long depth = 0;
	size_t i = 0;

	while (i < b->len) {
		uint8_t c = b->data[i];

		if (c == '"') {
			for (i++; i < b->len && b->data[i] != '"'; i++) {
				if (b->data[i] == '\\')
					i++;
				else if (b->data[i] == '\r' || b->data[i] == '\n' ||
				         b->data[i] >= 0x80)
					return false;
			}
			if (i >= b->len)
				return false;
			i++;
		} else if (c == '{') {
			size_t n = 0;

			for (i++; i < b->len && b->data[i] >= '0' && b->data[i] <= '9'; i++)
				n = n * 10 + (size_t)(b->data[i] - '0');
			if (i + 3 > b->len || memcmp(b->data + i, "}\r\n", 3) != 0)
				return false;
			i += 3;
			if (n > b->len - i)
				return false;
			i += n;
		} else {
			if (c == '(')
				depth++;
			else if (c == ')' && --depth < 0)
				return false;
			i++;
		}
	}
	return depth == 0;
}

static void
check_part(const struct mime_part *p, const struct mime_part *parent, size_t len)
{
	if (!(p->hdr_off <= p->hdr_end && p->hdr_end <= p->body_off && p->body_off <= p->end &&
	        p->end <= len))
		abort();
	if (parent != NULL && (p->hdr_off < parent->body_off || p->end > parent->end))
		abort();
	if (p->depth > MIME_DEPTH_MAX || p->type == NULL || p->subtype == NULL)
		abort();
}

struct walk {
	const char *msg;
	size_t len;
	const struct mime_part *root;
	uint32_t path[IMAP_SECTION_PARTS_MAX];
	size_t npath;
	size_t visited;
};

static void
extract_all_kinds(struct walk *w)
{
	static const char *const specs[] = {"", "MIME", "HEADER", "TEXT",
	    "HEADER.FIELDS (From Subject Content-Type)", "HEADER.FIELDS.NOT (To)"};
	struct buf spec, out;
	struct imap_section sec;

	buf_init(&spec, 0);
	buf_init(&out, 0);
	for (size_t k = 0; k < sizeof(specs) / sizeof(specs[0]); k++) {
		buf_reset(&spec);
		for (size_t i = 0; i < w->npath; i++)
			buf_printf(&spec, "%s%u", i ? "." : "", w->path[i]);
		if (specs[k][0] != '\0')
			buf_printf(&spec, "%s%s", w->npath ? "." : "", specs[k]);
		if (imap_section_parse((struct slice){(char *)spec.data, spec.len}, &sec) != 0)
			continue; /* MIME without a number */
		buf_reset(&out);
		int rc = imap_section_extract(w->root, w->msg, w->len, &sec, &out);

		if (rc != 0 && rc != MN_ENOENT)
			abort();
		/* A section's bytes never exceed the message (HEADER.FIELDS
		 * may add line ends). */
		if (rc == 0 && sec.kind != IMAP_SECTION_HEADER_FIELDS &&
		    sec.kind != IMAP_SECTION_HEADER_FIELDS_NOT && out.len > w->len)
			abort();
		if (sec.kind == IMAP_SECTION_ALL) {
			buf_reset(&out);
			rc = imap_section_extract_binary(w->root, w->msg, w->len, &sec, &out);
			if (rc != 0 && rc != MN_ENOENT && rc != MN_EPARSE)
				abort();
			/* decoding never grows the data */
			if (rc == 0 && out.len > w->len)
				abort();
		}
	}
	buf_fini(&spec);
	buf_fini(&out);
}

static void
walk_parts(struct walk *w, const struct mime_part *container)
{
	uint32_t n = 0;

	/* Number the children as IMAP does; a non-multipart is "1". */
	if (container->is_multipart) {
		for (const struct mime_part *c = container->children; c != NULL; c = c->next) {
			if (w->npath >= IMAP_SECTION_PARTS_MAX || ++w->visited > 2000)
				return;
			w->path[w->npath++] = ++n;
			extract_all_kinds(w);
			if (c->is_multipart)
				walk_parts(w, c);
			else if (c->is_message && c->children != NULL)
				walk_parts(w, c->children);
			w->npath--;
		}
	} else if (w->npath < IMAP_SECTION_PARTS_MAX) {
		w->path[w->npath++] = 1;
		extract_all_kinds(w);
		w->npath--;
	}
}

static void
check_tree(const struct mime_part *p, const struct mime_part *parent, size_t len, const char *msg)
{
	for (; p != NULL; p = p->next) {
		struct buf fn;

		check_part(p, parent, len);
		buf_init(&fn, 0);
		if (mime_part_filename(p, &fn) == 0 && !utf8_valid(fn.data, fn.len))
			abort();
		buf_reset(&fn);
		if (mime_decode_body(p, msg, &fn) != 0)
			abort();
		buf_fini(&fn);
		check_tree(p->children, p, len, msg);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg = (const char *)data;
	struct mime_part *root;
	struct buf out;
	struct imap_section sec;
	const char *nl = memchr(msg, '\n', size);

	if (mime_parse(size ? msg : NULL, size, &root) != 0)
		abort();
	if (mime_count_parts(root) > MIME_PARTS_MAX)
		abort();
	check_tree(root, NULL, size, msg);

	buf_init(&out, 0);
	for (int ext = 0; ext < 2; ext++) {
		buf_reset(&out);
		if (imap_render_bodystructure(root, msg, ext, &out) != 0 || !balanced(&out))
			abort();
	}
	buf_reset(&out);
	if (imap_render_envelope(root, msg, &out) != 0 || !balanced(&out))
		abort();

	struct walk w = {msg, size, root, {0}, 0, 0};

	extract_all_kinds(&w);
	walk_parts(&w, root);

	/* The first line as a section spec (exercises imap_section_parse). */
	if (nl != NULL && (size_t)(nl - msg) <= 512) {
		struct slice spec = {msg, (size_t)(nl - msg)};

		if (imap_section_parse(spec, &sec) == 0) {
			buf_reset(&out);
			(void)imap_section_extract(root, msg, size, &sec, &out);
			buf_reset(&out);
			if (imap_section_write(&sec, &out) != 0)
				abort();
		}
	}
	buf_fini(&out);
	buf_init(&out, 4 * size + 64); /* the bound cmd_message.c gives it */
	if (imap_search_body_text(msg, size, &out) != 0)
		abort();
	buf_fini(&out);
	buf_init(&out, 4 * size + 64);
	if (imap_search_header_text(msg, size, &out) != 0)
		abort();
	buf_fini(&out);
	mime_free(root);
	return 0;
}
