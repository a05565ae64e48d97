/*
 * fuzz_pop3_parser.c - node/pop3/parser.c on arbitrary bytes, plus the
 * SASL PLAIN decoder and the RETR/TOP stuffer from node/pop3/util.c.
 *
 * The first byte picks raw mode (SASL continuation lines) and a chunk size;
 * the rest is fed once whole and once in chunks, and the transcripts must
 * be equal: the parser may not depend on how input is split. Checked too:
 * consumed never exceeds what was fed, MORE consumes everything, slices lie
 * inside the line buffer, args never exceed POP3_ARGS_MAX. Every complete
 * line goes through pop3_sasl_plain_decode, and the whole input through the
 * stuffer (output within 2x input + 5, never a bare "." line from the body).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "node/pop3/parser.h"
#include "node/pop3/pop3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_slice(const struct pop3_parser *p, struct slice s)
{
	if (s.len == 0)
		return;
	if (s.ptr < p->line || s.ptr + s.len > p->line + p->lim.max_auth_line)
		abort();
}

static void
run(const char *in, size_t len, size_t chunk, bool raw, struct buf *t)
{
	struct pop3_parser p;
	size_t off = 0;

	pop3_parser_init(&p, NULL);
	pop3_parser_set_raw(&p, raw);
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk, pos = 0;

		while (pos < n) {
			struct pop3_cmd cmd;
			const char *reason;
			size_t used = 0;
			enum pop3_parse_result r =
			    pop3_parser_feed(&p, in + off + pos, n - pos, &used, &cmd, &reason);

			if (used > n - pos || (r == POP3_PARSE_MORE && used != n - pos))
				abort();
			pos += used;
			if (r == POP3_PARSE_MORE)
				continue;
			buf_printf(t, "%d ", (int)r);
			if (r == POP3_PARSE_BAD) {
				if (reason == NULL)
					abort();
				buf_append_str(t, reason);
			} else if (raw) {
				char user[POP3_MAX_AUTHCID + 1], pw[POP3_MAX_PASSWORD + 1];

				check_slice(&p, cmd.line);
				buf_append(t, cmd.line.ptr, cmd.line.len);
				(void)pop3_sasl_plain_decode(cmd.line.ptr, cmd.line.len, user, pw);
			} else {
				if (cmd.nargs > POP3_ARGS_MAX || strlen(cmd.keyword) < 3)
					abort();
				buf_append_str(t, cmd.keyword);
				check_slice(&p, cmd.rest);
				for (size_t i = 0; i < cmd.nargs; i++) {
					check_slice(&p, cmd.args[i]);
					buf_append(t, "|", 1);
					buf_append(t, cmd.args[i].ptr, cmd.args[i].len);
				}
			}
			buf_append(t, "\n", 1);
		}
		off += n;
	}
	pop3_parser_fini(&p);
}

static void
stuff(const uint8_t *in, size_t len, bool top, uint64_t lines)
{
	struct pop3_stuffer st;
	uint8_t *out = malloc(2 * len + 8);
	size_t used, o = 0;

	pop3_stuffer_init(&st, top, lines);
	used = pop3_stuffer_feed(&st, in, len, out, &o);
	if (used > len || (used < len && !st.done) || o > 2 * len)
		abort();
	o += pop3_stuffer_finish(&st, out + o);
	/* the only "\r\n.\r\n" is the terminator at the end */
	for (size_t i = 0; i + 5 < o; i++)
		if (memcmp(out + i, "\r\n.\r\n", 5) == 0)
			abort();
	if (o < 3 || memcmp(out + o - 3, ".\r\n", 3) != 0)
		abort();
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf whole, chunked;
	size_t chunk;
	bool raw;

	if (size < 1)
		return 0;
	raw = data[0] & 1;
	chunk = (size_t)(data[0] >> 1) % 17 + 1;
	data++;
	size--;

	buf_init(&whole, 0);
	buf_init(&chunked, 0);
	run((const char *)data, size, size ? size : 1, raw, &whole);
	run((const char *)data, size, chunk, raw, &chunked);
	if (whole.len != chunked.len ||
	    (whole.len && memcmp(whole.data, chunked.data, whole.len) != 0))
		abort();
	buf_fini(&whole);
	buf_fini(&chunked);
	stuff(data, size, raw, chunk % 3);
	return 0;
}
