/*
 * fuzz_header_parser.c - the RFC 5322 header parser on arbitrary input:
 * fed whole and one byte at a time it must return the same fields and end
 * at header_find_end()'s offset; every field value then goes through
 * unfolding, RFC 2047 decoding (output must be valid UTF-8), address-list
 * and date parsing.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/utf8.h"
#include "storage/message/header.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SMALL_LIMITS                                                                               \
	{                                                                                          \
		256, 16, 2048                                                                      \
	}

static int
collect(const char *in, size_t len, size_t chunk, struct buf *desc, size_t *consumed, bool deep)
{
	struct header_limits lim = SMALL_LIMITS;
	struct header_parser p;
	struct header_field f;
	size_t pos = 0;
	int rc = HEADER_MORE;

	header_parser_init(&p, &lim);
	for (;;) {
		size_t n = chunk ? chunk : len - pos, used = 0;

		if (n > len - pos)
			n = len - pos;
		if (pos < len)
			rc = header_parser_feed(&p, in + pos, n, &used, &f);
		else
			rc = header_parser_finish(&p, &f);
		pos += used;
		if (rc < 0 || rc == HEADER_END)
			break;
		if (rc == HEADER_FIELD) {
			buf_printf(
			    desc, "%zu:%zu:%zu:%d;", f.raw.len, f.name.len, f.value.len, f.invalid);
			if (deep) {
				struct buf u, d;
				struct header_address_list l;
				int64_t t;

				buf_init(&u, 0);
				buf_init(&d, 0);
				if (header_unfold(f.value, &u) != 0)
					abort();
				if (header_decode_2047(f.value, &d) != 0 ||
				    !utf8_valid(d.data, d.len))
					abort();
				header_address_list_init(&l);
				(void)header_parse_addresses(f.value, &l);
				for (size_t i = 0; i < l.n; i++)
					if (l.v[i].name &&
					    !utf8_valid(l.v[i].name, strlen(l.v[i].name)))
						abort();
				header_address_list_fini(&l);
				(void)header_parse_date(f.value, &t, NULL);
				buf_fini(&u);
				buf_fini(&d);
			}
		}
	}
	header_parser_fini(&p);
	*consumed = pos;
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct buf d1, d2;
	size_t c1, c2, hl, bo;
	int r1, r2;

	buf_init(&d1, 0);
	buf_init(&d2, 0);
	r1 = collect(in, size, 0, &d1, &c1, true);
	r2 = collect(in, size, 1, &d2, &c2, false);
	if (r1 != r2 || d1.len != d2.len || (d1.len && memcmp(d1.data, d2.data, d1.len) != 0))
		abort();
	if (r1 == HEADER_END && c1 != c2)
		abort();
	if (r1 == HEADER_END && header_find_end(in, size, &hl, &bo) == 0 && bo != c1)
		abort();
	if (r1 != HEADER_END && r1 != MN_ETOOBIG && r1 != MN_ELIMIT)
		abort();
	buf_fini(&d1);
	buf_fini(&d2);
	return 0;
}
