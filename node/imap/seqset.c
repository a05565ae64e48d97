/*
 * seqset.c - IMAP sequence sets (RFC 3501 §9): parse, normalise, query.
 *
 * Grammar (RFC 3501 §9):
 *   sequence-set = (seq-number / seq-range) *("," sequence-set)
 *   seq-range    = seq-number ":" seq-number
 *   seq-number   = nz-number / "*"
 *   nz-number    = digit-nz *DIGIT   ; 0 < n < 4,294,967,296
 * Strict: no spaces, no empty elements, no leading zeros, no 0. The elements
 * as written are bounded by the caller's max_ranges before anything is
 * sorted, so the work per set is bounded too.
 */
#include "node/imap/seqset.h"

#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

static int
parse_number(const char *s, size_t len, size_t *pos, uint64_t *out, struct mn_err *err)
{
	size_t i = *pos;
	uint64_t v = 0;

	if (i < len && s[i] == '*') {
		*out = IMAP_SEQ_STAR;
		*pos = i + 1;
		return 0;
	}
	if (i < len && s[i] == '$')
		return mn_err_set(err, MN_EPARSE, "SEARCHRES ($) is not supported");
	if (i >= len || s[i] < '1' || s[i] > '9')
		return mn_err_set(
		    err, MN_EPARSE, "Invalid sequence set: number expected at %zu", i);
	while (i < len && s[i] >= '0' && s[i] <= '9') {
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX)
			return mn_err_set(err, MN_EPARSE, "Invalid sequence set: number too big");
		i++;
	}
	*out = v;
	*pos = i;
	return 0;
}

static int
range_cmp(const void *a, const void *b)
{
	const struct imap_seq_range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return 0;
}

int
imap_seqset_parse(struct slice s, size_t max_ranges, struct imap_seqset *out, struct mn_err *err)
{
	struct imap_seq_range *r = NULL;
	size_t n = 0, cap = 0, pos = 0, m;
	int rc;

	out->ranges = NULL;
	out->n = 0;
	if (s.len == 0)
		return mn_err_set(err, MN_EPARSE, "Empty sequence set");
	for (;;) {
		uint64_t a, b;

		if ((rc = parse_number(s.ptr, s.len, &pos, &a, err)) != 0)
			goto fail;
		b = a;
		if (pos < s.len && s.ptr[pos] == ':') {
			pos++;
			if ((rc = parse_number(s.ptr, s.len, &pos, &b, err)) != 0)
				goto fail;
		}
		if (n >= max_ranges) {
			rc = mn_err_set(err, MN_ELIMIT, "Too many ranges in sequence set (max %zu)",
			    max_ranges);
			goto fail;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			if (cap > max_ranges)
				cap = max_ranges;
			r = xrealloc(r, cap * sizeof(*r));
		}
		/* a:b is b:a (RFC 3501 seq-range). */
		r[n].lo = a < b ? a : b;
		r[n].hi = a < b ? b : a;
		n++;
		if (pos == s.len)
			break;
		if (s.ptr[pos] != ',') {
			rc = mn_err_set(err, MN_EPARSE,
			    "Invalid sequence set: unexpected '%c' at %zu",
			    s.ptr[pos] >= 0x20 && s.ptr[pos] < 0x7f ? s.ptr[pos] : '?', pos);
			goto fail;
		}
		pos++;
	}

	qsort(r, n, sizeof(*r), range_cmp);
	m = 0;
	for (size_t i = 1; i < n; i++) {
		/* Overlapping or adjacent: one range (hi + 1 cannot wrap: hi <= 2^32). */
		if (r[i].lo <= r[m].hi + 1) {
			if (r[i].hi > r[m].hi)
				r[m].hi = r[i].hi;
		} else {
			r[++m] = r[i];
		}
	}
	out->ranges = r;
	out->n = m + 1;
	return 0;
fail:
	free(r);
	return rc;
}

void
imap_seqset_fini(struct imap_seqset *set)
{
	free(set->ranges);
	set->ranges = NULL;
	set->n = 0;
}

/* resolve - range i with '*' = max, ordered, as existing numbers [a, b]. */
static void
resolve(const struct imap_seq_range *r, uint32_t max, uint64_t *a, uint64_t *b)
{
	uint64_t lo = r->lo == IMAP_SEQ_STAR ? max : r->lo;
	uint64_t hi = r->hi == IMAP_SEQ_STAR ? max : r->hi;

	*a = lo < hi ? lo : hi;
	*b = lo < hi ? hi : lo;
	if (*b > max)
		*b = max;
	if (*a < 1)
		*a = 1;
}

bool
imap_seqset_contains(const struct imap_seqset *set, uint32_t n, uint32_t max)
{
	size_t lo = 0, hi = set->n;
	uint64_t a, b;

	if (n == 0 || n > max || set->n == 0)
		return false;
	/* Only the last range can hold '*' (all '*' ranges overlap); the
	 * others are finite and sorted: binary search. */
	if (set->ranges[set->n - 1].hi == IMAP_SEQ_STAR) {
		resolve(&set->ranges[set->n - 1], max, &a, &b);
		if (n >= a && n <= b)
			return true;
		hi--;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct imap_seq_range *r = &set->ranges[mid];

		if (n < r->lo)
			hi = mid;
		else if (n > r->hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

bool
imap_seqset_has_star(const struct imap_seqset *set)
{
	return set->n > 0 && set->ranges[set->n - 1].hi == IMAP_SEQ_STAR;
}

uint32_t
imap_seqset_max_number(const struct imap_seqset *set)
{
	for (size_t i = set->n; i-- > 0;) {
		if (set->ranges[i].hi != IMAP_SEQ_STAR)
			return (uint32_t)set->ranges[i].hi;
		if (set->ranges[i].lo != IMAP_SEQ_STAR)
			return (uint32_t)set->ranges[i].lo;
	}
	return 0;
}

void
imap_seqset_iter_init(struct imap_seqset_iter *it, const struct imap_seqset *set, uint32_t max)
{
	it->set = set;
	it->max = max;
	it->i = 0;
	it->next = 0;
	it->last = 0;
}

bool
imap_seqset_iter_next(struct imap_seqset_iter *it, uint32_t *n_out)
{
	while (it->i < it->set->n) {
		uint64_t a, b;

		resolve(&it->set->ranges[it->i], it->max, &a, &b);
		/* The '*' range may resolve below earlier ranges' ends. */
		if (a <= it->last)
			a = (uint64_t)it->last + 1;
		if (it->next < a)
			it->next = a;
		if (it->next <= b) {
			*n_out = (uint32_t)it->next;
			it->last = (uint32_t)it->next;
			it->next++;
			return true;
		}
		it->i++;
		it->next = 0;
	}
	return false;
}

static int
format_number(struct buf *b, uint64_t v)
{
	if (v == IMAP_SEQ_STAR)
		return buf_append(b, "*", 1);
	return buf_printf(b, "%llu", (unsigned long long)v);
}

int
imap_seqset_format(const struct imap_seqset *set, struct buf *b)
{
	int rc;

	for (size_t i = 0; i < set->n; i++) {
		if (i > 0 && (rc = buf_append(b, ",", 1)) != 0)
			return rc;
		if ((rc = format_number(b, set->ranges[i].lo)) != 0)
			return rc;
		if (set->ranges[i].hi != set->ranges[i].lo &&
		    ((rc = buf_append(b, ":", 1)) != 0 ||
		        (rc = format_number(b, set->ranges[i].hi)) != 0))
			return rc;
	}
	return 0;
}
