/*
 * fuzz_imap_sequence_set.c - node/imap/seqset.c on arbitrary bytes.
 *
 * The first two bytes give a mailbox maximum (0..65535), the rest is the set.
 * When it parses: the normalised form must parse to itself, the ranges must be
 * sorted, disjoint and not adjacent, and iteration (ascending, each number
 * once, within 1..max) must agree with the membership test.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "node/imap/seqset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_seqset set, again;
	struct imap_seqset_iter it;
	struct mn_err err;
	struct buf f1, f2;
	uint32_t max, n, prev = 0, count = 0;

	if (size < 2)
		return 0;
	max = (uint32_t)data[0] << 8 | data[1];
	data += 2;
	size -= 2;
	if (imap_seqset_parse((struct slice){(const char *)data, size}, 64, &set, &err) != 0) {
		if (set.ranges != NULL || set.n != 0)
			abort();
		return 0;
	}
	for (size_t i = 0; i < set.n; i++) {
		if (set.ranges[i].lo > set.ranges[i].hi || set.ranges[i].lo == 0 ||
		    set.ranges[i].hi > IMAP_SEQ_STAR)
			abort();
		if (i > 0 && set.ranges[i].lo <= set.ranges[i - 1].hi + 1)
			abort();
	}
	buf_init(&f1, 0);
	buf_init(&f2, 0);
	if (imap_seqset_format(&set, &f1) != 0)
		abort();
	if (imap_seqset_parse((struct slice){(const char *)f1.data, f1.len}, 64, &again, &err) != 0)
		abort();
	if (imap_seqset_format(&again, &f2) != 0 || f1.len != f2.len ||
	    memcmp(f1.data, f2.data, f1.len) != 0)
		abort();
	imap_seqset_fini(&again);

	imap_seqset_iter_init(&it, &set, max);
	while (imap_seqset_iter_next(&it, &n)) {
		if (n <= prev || n > max || !imap_seqset_contains(&set, n, max))
			abort();
		/* every number skipped since prev is not a member */
		for (uint32_t k = prev + 1; k < n; k++)
			if (imap_seqset_contains(&set, k, max))
				abort();
		prev = n;
		count++;
	}
	for (uint32_t k = prev + 1; k <= max; k++)
		if (imap_seqset_contains(&set, k, max))
			abort();
	if (imap_seqset_contains(&set, 0, max) || imap_seqset_contains(&set, max + 1, max))
		abort();
	(void)count;
	buf_fini(&f1);
	buf_fini(&f2);
	imap_seqset_fini(&set);
	return 0;
}
