/*
 * seqset.h - IMAP sequence sets (RFC 3501 §9 sequence-set, §6.4.8).
 *
 * "1:4,7,*:10" is parsed once into sorted, merged ranges; '*' ("the largest
 * number in use") stays symbolic because it depends on the mailbox at the
 * moment of use, and is resolved by the membership test and the iterator,
 * which take the current maximum. "$" (SEARCHRES, RFC 5182) is not
 * supported and refused with its own message.
 *
 * Semantics: the set selects numbers n with 1 <= n <= max (messages that
 * exist); '*' stands for max, a range a:b is the same as b:a (RFC 3501), so
 * with max = 3, "5:*" selects 3. Merging ranges at parse time (treating '*' as
 * larger than any number) never changes which existing numbers are selected,
 * which is the only thing the set is asked about.
 *
 * Ownership: struct imap_seqset owns its range array; imap_seqset_fini frees it.
 */
#ifndef MN_NODE_IMAP_SEQSET_H
#define MN_NODE_IMAP_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/err.h"

/* '*' inside a range: above every nz-number (which are < 2^32). */
#define IMAP_SEQ_STAR (UINT64_C(1) << 32)

/* Default limit on the ranges written in one set (before merging). An 8 KB
 * command line (RFC 7162 §4) holds at most ~4096 of them ("1,3,5,..."). */
#define IMAP_SEQSET_DEFAULT_MAX_RANGES 4096

struct imap_seq_range {
	uint64_t lo; /* 1..2^32-1 or IMAP_SEQ_STAR; lo <= hi */
	uint64_t hi;
};

struct imap_seqset {
	struct imap_seq_range *ranges; /* sorted by lo, disjoint, not adjacent */
	size_t n;
};

/*
 * imap_seqset_parse - parse s (the whole argument, e.g. an atom's text).
 * max_ranges bounds the comma-separated elements as written. Returns 0 and
 * fills *out (to be released with imap_seqset_fini), or MN_EPARSE (syntax,
 * "0", leading zero, number >= 2^32, "$") or MN_ELIMIT (too many ranges),
 * with the reason in err; *out is then empty.
 */
int imap_seqset_parse(
    struct slice s, size_t max_ranges, struct imap_seqset *out, struct mn_err *err);

void imap_seqset_fini(struct imap_seqset *set);

/* imap_seqset_contains - is n selected when '*' is max (1 <= n <= max)? */
bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n, uint32_t max);

/* imap_seqset_has_star - does the set use '*'? */
bool imap_seqset_has_star(const struct imap_seqset *set);

/* imap_seqset_max_number - largest number written (not '*'); 0 if none. For
 * message sequence numbers a number above the mailbox size is an error
 * (RFC 3501 §9 seq-number), which the caller checks with this. */
uint32_t imap_seqset_max_number(const struct imap_seqset *set);

/* Ascending iteration over the selected numbers, each once, given max. */
struct imap_seqset_iter {
	const struct imap_seqset *set;
	uint32_t max;
	size_t i;      /* current range */
	uint64_t next; /* next candidate in range i */
	uint32_t last; /* last number returned (0: none yet) */
};

void imap_seqset_iter_init(
    struct imap_seqset_iter *it, const struct imap_seqset *set, uint32_t max);
/* imap_seqset_iter_next - next number into *n_out; false at the end. */
bool imap_seqset_iter_next(struct imap_seqset_iter *it, uint32_t *n_out);

/* imap_seqset_format - append the normalised set ("1:4,7,10:*") to b, for
 * tests and responses (COPYUID). Returns 0 or MN_ETOOBIG. */
int imap_seqset_format(const struct imap_seqset *set, struct buf *b);

#endif
