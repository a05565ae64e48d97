/*
 * fuzz_imap_parser.c - node/imap/parser.c on arbitrary bytes.
 *
 * The first byte picks the limits (default or tiny, so that every limit is
 * reached) and a chunk size; the rest is fed once whole and once in chunks.
 * Both transcripts of results other than MORE (with the full argument
 * trees) must be equal:
 * the parser may not depend on how input is split. Also checked: consumed
 * never exceeds what was fed, MORE consumes everything, tree counts agree.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "node/imap/parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t
dump_arg(struct buf *b, const struct imap_arg *a)
{
	uint32_t nodes = 1;

	buf_printf(b, "%d:%zu:%d:", (int)a->type, a->str.len, a->literal_plus);
	buf_append(b, a->str.ptr, a->str.len);
	if (a->type == IMAP_ARG_LIST) {
		uint32_t n = 0;

		buf_append(b, "(", 1);
		for (const struct imap_arg *c = a->child; c != NULL; c = c->next, n++)
			nodes += dump_arg(b, c);
		if (n != a->n_children)
			abort();
		buf_append(b, ")", 1);
	} else if (a->child != NULL || a->n_children != 0) {
		abort();
	}
	return nodes;
}

static void
run(const struct imap_parser_limits *lim, const char *in, size_t len, size_t chunk, struct buf *t)
{
	struct imap_parser *p = imap_parser_new(lim);
	size_t off = 0;

	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk, pos = 0;

		while (pos < n) {
			struct imap_cmd cmd;
			size_t used = 0;
			enum imap_parse_result r =
			    imap_parser_feed(p, in + off + pos, n - pos, &used, &cmd);

			if (used > n - pos || (r == IMAP_PARSE_MORE && used != n - pos))
				abort();
			pos += used;
			/* A MORE ends every fed piece: not part of the transcript. */
			if (r == IMAP_PARSE_MORE)
				continue;
			buf_printf(t, "%d ", (int)r);
			if (r == IMAP_PARSE_DONE) {
				uint32_t top = 0, nodes = 0;

				buf_append(t, cmd.tag.ptr, cmd.tag.len);
				buf_append(t, " ", 1);
				buf_append(t, cmd.name.ptr, cmd.name.len);
				for (const struct imap_arg *a = cmd.args; a != NULL;
				     a = a->next, top++)
					nodes += dump_arg(t, a);
				if (top != cmd.n_args || nodes != cmd.n_nodes || cmd.tag.len == 0 ||
				    cmd.name.len == 0)
					abort();
			} else if (r == IMAP_PARSE_BAD || r == IMAP_PARSE_FATAL) {
				if (cmd.error == IMAP_PERR_NONE || cmd.error_msg == NULL)
					abort();
				buf_printf(t, "%d ", (int)cmd.error);
				buf_append(t, cmd.tag.ptr, cmd.tag.len);
			}
			buf_append(t, "\n", 1);
			if (r == IMAP_PARSE_FATAL) {
				imap_parser_free(&p);
				return;
			}
		}
		off += n;
	}
	imap_parser_free(&p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser_limits lim;
	struct buf whole, chunked;
	size_t chunk;

	if (size < 1)
		return 0;
	imap_parser_limits_default(&lim);
	if (data[0] & 1) {
		lim.max_line = 64;
		lim.max_literal = 32;
		lim.max_command = 128;
		lim.max_args = 12;
		lim.max_depth = 3;
	}
	chunk = (size_t)(data[0] >> 1) % 17 + 1;
	data++;
	size--;

	buf_init(&whole, 0);
	buf_init(&chunked, 0);
	run(&lim, (const char *)data, size, size ? size : 1, &whole);
	run(&lim, (const char *)data, size, chunk, &chunked);
	/* Results happen at the same bytes whatever the split. */
	if (whole.len != chunked.len ||
	    (whole.len && memcmp(whole.data, chunked.data, whole.len) != 0))
		abort();
	buf_fini(&whole);
	buf_fini(&chunked);
	return 0;
}
