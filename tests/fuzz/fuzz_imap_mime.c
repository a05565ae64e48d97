/*
 * fuzz_imap_mime.c - node/imap/mime.c on arbitrary messages: the tree, its
 * BODYSTRUCTURE, the ENVELOPE and a set of BODY[section] extractions. Every
 * section's bytes must lie inside the message (they are slices of it) and
 * the rendered lists must balance their parentheses outside strings.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "node/imap/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* parentheses balance outside quoted strings and {n} literals */
static void
check_balanced(const struct buf *b)
{
	long depth = 0;

	for (size_t i = 0; i < b->len; i++) {
		char c = (char)b->data[i];

		if (c == '"') {
			for (i++; i < b->len && b->data[i] != '"'; i++)
				if (b->data[i] == '\\')
					i++;
		} else if (c == '{') {
			size_t n = 0;

			for (i++; i < b->len && b->data[i] >= '0' && b->data[i] <= '9'; i++)
				n = n * 10 + (size_t)(b->data[i] - '0');
			i += 2 + n; /* "}\r\n" minus the loop's ++ */
		} else if (c == '(') {
			depth++;
		} else if (c == ')') {
			if (--depth < 0)
				abort();
		}
	}
	if (depth != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const sections[] = {"", "1", "2", "1.1", "2.3.1", "1.MIME", "2.HEADER",
	    "2.TEXT", "HEADER", "TEXT", "HEADER.FIELDS (From Subject)",
	    "1.HEADER.FIELDS.NOT (Content-Type)"};
	struct imap_mime *m = imap_mime_parse((const char *)data, size);
	struct buf b;

	buf_init(&b, 0);
	imap_mime_bodystructure(m, true, &b);
	check_balanced(&b);
	buf_reset(&b);
	imap_mime_bodystructure(m, false, &b);
	check_balanced(&b);
	buf_reset(&b);
	imap_mime_envelope(m->header, &b);
	check_balanced(&b);
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		buf_reset(&b);
		if (!imap_mime_section(m, (struct slice){sections[i], strlen(sections[i])}, &b))
			abort();
		if (b.len > size + 2)
			abort();
	}
	buf_fini(&b);
	imap_mime_free(&m);
	return 0;
}
