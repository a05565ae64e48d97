/*
 * fuzz_imap_utf7.c - node/imap/utf7.c both ways on arbitrary bytes.
 *
 * Strictness means one spelling per name: whenever decode accepts the input,
 * encoding the result must give the input back byte for byte; whenever
 * encode accepts the input (as UTF-8), decoding must give it back.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/utf8.h"
#include "node/imap/utf7.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slice in = {(const char *)data, size};
	struct buf a, b;
	struct mn_err err;

	buf_init(&a, 0);
	buf_init(&b, 0);
	if (imap_utf7_decode(in, &a, &err) == 0) {
		if (!utf8_valid(a.data, a.len))
			abort();
		if (imap_utf7_encode((struct slice){(const char *)a.data, a.len}, &b, &err) != 0)
			abort();
		if (b.len != size || (size && memcmp(b.data, data, size) != 0))
			abort();
	} else if (a.len != 0) {
		abort(); /* nothing partial on error */
	}
	buf_reset(&a);
	buf_reset(&b);
	if (imap_utf7_encode(in, &a, &err) == 0) {
		if (!utf8_valid(data, size) || memchr(data, '\0', size) != NULL)
			abort();
		if (imap_utf7_decode((struct slice){(const char *)a.data, a.len}, &b, &err) != 0)
			abort();
		if (b.len != size || (size && memcmp(b.data, data, size) != 0))
			abort();
	} else if (a.len != 0) {
		abort();
	}
	buf_fini(&a);
	buf_fini(&b);
	return 0;
}
