/*
 * fuzz_imap_search.c - node/imap/search.c behind the real parser.
 *
 * The input is wrapped as "a SEARCH <input>\r\n" (literals are continued as a
 * session would) and every command the parser completes goes to
 * imap_search_parse with small limits; accepted trees are formatted and
 * freed. Any crash, leak or sanitizer report is a bug.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "node/imap/parser.h"
#include "node/imap/search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser_limits pl;
	struct imap_search_limits sl = {.max_depth = 8, .max_keys = 200, .max_ranges = 16};
	struct imap_parser *p;
	struct buf in, out;
	size_t off = 0;

	imap_parser_limits_default(&pl);
	pl.max_literal = 1024;
	pl.max_command = 16384;
	p = imap_parser_new(&pl);
	buf_init(&in, 0);
	buf_init(&out, 0);
	buf_append_str(&in, "a SEARCH ");
	buf_append(&in, data, size);
	buf_append_str(&in, "\r\n");
	while (off < in.len) {
		struct imap_cmd cmd;
		size_t used;
		enum imap_parse_result r =
		    imap_parser_feed(p, (const char *)in.data + off, in.len - off, &used, &cmd);

		off += used;
		if (r == IMAP_PARSE_FATAL || r == IMAP_PARSE_MORE)
			break;
		if (r == IMAP_PARSE_DONE) {
			struct imap_search s;
			struct mn_err err;
			int rc = imap_search_parse(cmd.args, &sl, &s, &err);

			if (rc == 0) {
				if (s.root == NULL || imap_search_format(&s, &out) != 0)
					abort();
				buf_reset(&out);
			} else if (s.root != NULL ||
			           (rc != MN_EPARSE && rc != MN_ELIMIT && rc != MN_EINVAL)) {
				abort();
			}
			imap_search_fini(&s);
		}
	}
	imap_parser_free(&p);
	buf_fini(&in);
	buf_fini(&out);
	return 0;
}
