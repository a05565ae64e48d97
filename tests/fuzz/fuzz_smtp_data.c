/*
 * fuzz_smtp_data.c - the DATA reader on arbitrary input, differentially:
 * fed whole, and in chunks whose sizes come from the input, it must give
 * the same output, counters, flags and end position. The first byte picks
 * the line-end policy and a size limit. Checks that NORMALIZE output has
 * only CRLF line ends and that DONE is reported exactly at a CRLF.CRLF.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "node/smtp/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
	int rc;
	size_t consumed;
	struct smtp_data_reader r;
	struct buf out;
};

static void
run(const char *in, size_t len, const struct smtp_data_limits *lim, const uint8_t *sizes,
    size_t nsizes, struct result *res)
{
	size_t pos = 0, k = 0;

	buf_init(&res->out, 0);
	smtp_data_init_buf(&res->r, lim, &res->out);
	res->rc = SMTP_DATA_MORE;
	res->consumed = 0;
	while (pos < len) {
		size_t n = nsizes ? 1 + sizes[k++ % nsizes] % 16 : len - pos, used;

		if (n > len - pos)
			n = len - pos;
		res->rc = smtp_data_feed(&res->r, in + pos, n, &used);
		res->consumed += used;
		if (res->rc == SMTP_DATA_DONE)
			break;
		if (res->rc != SMTP_DATA_MORE || used != n)
			abort();
		pos += n;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_data_limits lim = {0, 0, SMTP_DATA_BARE_NORMALIZE};
	struct result a, b;
	const char *in;
	size_t len;

	if (size < 1)
		return 0;
	lim.bare = (data[0] & 1) ? SMTP_DATA_BARE_REJECT : SMTP_DATA_BARE_NORMALIZE;
	lim.max_size = (data[0] >> 1) * 8; /* 0 = unlimited */
	lim.max_received = (data[0] >> 5) + 1;
	in = (const char *)data + 1;
	len = size - 1;
	run(in, len, &lim, NULL, 0, &a);
	run(in, len, &lim, data, size, &b);
	if (a.rc != b.rc || a.consumed != b.consumed || a.r.flags != b.r.flags ||
	    a.r.size != b.r.size || a.r.received != b.r.received || a.r.max_line != b.r.max_line)
		abort();
	/* where output stops inside a run depends on the chunking when the
	 * size or hop limit is crossed */
	if (!(a.r.flags & (SMTP_DATA_F_TOOBIG | SMTP_DATA_F_LOOP)) &&
	    (a.out.len != b.out.len || (a.out.len && memcmp(a.out.data, b.out.data, a.out.len))))
		abort();
	if (!(a.r.flags & (SMTP_DATA_F_TOOBIG | SMTP_DATA_F_LOOP)) && a.out.len != a.r.size &&
	    !(lim.bare == SMTP_DATA_BARE_REJECT && (a.r.flags & SMTP_DATA_F_BARE)))
		abort();
	if (lim.max_size && a.out.len > lim.max_size)
		abort();
	/* produced line ends are CRLF only */
	for (size_t i = 0; i < a.out.len; i++) {
		if (a.out.data[i] == '\n' && (i == 0 || a.out.data[i - 1] != '\r'))
			abort();
		if (a.out.data[i] == '\r' && (i + 1 >= a.out.len || a.out.data[i + 1] != '\n') &&
		    !(i + 1 == a.out.len && a.rc == SMTP_DATA_MORE))
			abort();
	}
	/* DONE exactly after "\r\n.\r\n", or ".\r\n" at the very start */
	if (a.rc == SMTP_DATA_DONE) {
		if (a.consumed < 3 || memcmp(in + a.consumed - 3, ".\r\n", 3) != 0)
			abort();
		if (a.consumed > 3 && memcmp(in + a.consumed - 5, "\r\n", 2) != 0)
			abort();
	}
	buf_fini(&a.out);
	buf_fini(&b.out);
	return 0;
}
