/*
 * search.c - SEARCH criteria (RFC 3501 §6.4.4 and §9 search-key; MODSEQ of
 * RFC 7162 §3.4) into a tree.
 *
 * Recursive descent over the argument tree of imap_parser: a parenthesised
 * group is an IMAP_ARG_LIST, so only NOT, OR and groups recurse, and each
 * level is counted against max_depth before the call. Nodes come from fixed
 * blocks so that pointers stay valid while the tree grows (no realloc).
 */
#include "node/imap/search.h"

#include <stdlib.h>
#include <string.h>

#include "lib/utf8.h"
#include "lib/xalloc.h"

#define BLOCK_NODES 64

enum argkind {
	ARG_NONE,
	ARG_STRING,
	ARG_HEADER,
	ARG_KEYWORD,
	ARG_DATE,
	ARG_NUMBER,
	ARG_UID,
	ARG_NOT,
	ARG_OR,
	ARG_MODSEQ,
};

/* clang-format off */
static const struct keydef {
	const char *name;
	enum imap_search_type type;
	enum argkind arg;
} keydefs[] = {
	{ "ALL", IMAP_SEARCH_ALL, ARG_NONE },
	{ "ANSWERED", IMAP_SEARCH_ANSWERED, ARG_NONE },
	{ "BCC", IMAP_SEARCH_BCC, ARG_STRING },
	{ "BEFORE", IMAP_SEARCH_BEFORE, ARG_DATE },
	{ "BODY", IMAP_SEARCH_BODY, ARG_STRING },
	{ "CC", IMAP_SEARCH_CC, ARG_STRING },
	{ "DELETED", IMAP_SEARCH_DELETED, ARG_NONE },
	{ "DRAFT", IMAP_SEARCH_DRAFT, ARG_NONE },
	{ "FLAGGED", IMAP_SEARCH_FLAGGED, ARG_NONE },
	{ "FROM", IMAP_SEARCH_FROM, ARG_STRING },
	{ "HEADER", IMAP_SEARCH_HEADER, ARG_HEADER },
	{ "KEYWORD", IMAP_SEARCH_KEYWORD, ARG_KEYWORD },
	{ "LARGER", IMAP_SEARCH_LARGER, ARG_NUMBER },
	{ "MODSEQ", IMAP_SEARCH_MODSEQ, ARG_MODSEQ },
	{ "NEW", IMAP_SEARCH_NEW, ARG_NONE },
	{ "NOT", IMAP_SEARCH_NOT, ARG_NOT },
	{ "OLD", IMAP_SEARCH_OLD, ARG_NONE },
	{ "ON", IMAP_SEARCH_ON, ARG_DATE },
	{ "OR", IMAP_SEARCH_OR, ARG_OR },
	{ "RECENT", IMAP_SEARCH_RECENT, ARG_NONE },
	{ "SEEN", IMAP_SEARCH_SEEN, ARG_NONE },
	{ "SENTBEFORE", IMAP_SEARCH_SENTBEFORE, ARG_DATE },
	{ "SENTON", IMAP_SEARCH_SENTON, ARG_DATE },
	{ "SENTSINCE", IMAP_SEARCH_SENTSINCE, ARG_DATE },
	{ "SINCE", IMAP_SEARCH_SINCE, ARG_DATE },
	{ "SMALLER", IMAP_SEARCH_SMALLER, ARG_NUMBER },
	{ "SUBJECT", IMAP_SEARCH_SUBJECT, ARG_STRING },
	{ "TEXT", IMAP_SEARCH_TEXT, ARG_STRING },
	{ "TO", IMAP_SEARCH_TO, ARG_STRING },
	{ "UID", IMAP_SEARCH_UID, ARG_UID },
	{ "UNANSWERED", IMAP_SEARCH_UNANSWERED, ARG_NONE },
	{ "UNDELETED", IMAP_SEARCH_UNDELETED, ARG_NONE },
	{ "UNDRAFT", IMAP_SEARCH_UNDRAFT, ARG_NONE },
	{ "UNFLAGGED", IMAP_SEARCH_UNFLAGGED, ARG_NONE },
	{ "UNKEYWORD", IMAP_SEARCH_UNKEYWORD, ARG_KEYWORD },
	{ "UNSEEN", IMAP_SEARCH_UNSEEN, ARG_NONE },
};
/* clang-format on */

#define N_KEYDEFS (sizeof(keydefs) / sizeof(keydefs[0]))

struct sctx {
	const struct imap_search_limits *lim;
	struct imap_search *s;
	struct mn_err *err;
};

void
imap_search_limits_default(struct imap_search_limits *out)
{
	out->max_depth = IMAP_SEARCH_DEFAULT_MAX_DEPTH;
	out->max_keys = IMAP_SEARCH_DEFAULT_MAX_KEYS;
	out->max_ranges = IMAP_SEQSET_DEFAULT_MAX_RANGES;
}

static struct imap_search_key *
new_key(struct sctx *c, enum imap_search_type type)
{
	struct imap_search_key *k;
	uint32_t idx = c->s->n_nodes;

	if (idx >= c->lim->max_keys) {
		mn_err_set(c->err, MN_ELIMIT, "Too many search keys (max %u)", c->lim->max_keys);
		return NULL;
	}
	if (idx % BLOCK_NODES == 0) {
		struct imap_search *s = c->s;

		/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of block pointers */
		s->blocks = xrealloc(s->blocks, (size_t)(s->n_blocks + 1) * sizeof(*s->blocks));
		s->blocks[s->n_blocks++] = xcalloc(BLOCK_NODES, sizeof(struct imap_search_key));
	}
	k = &c->s->blocks[idx / BLOCK_NODES][idx % BLOCK_NODES];
	memset(k, 0, sizeof(*k));
	k->type = type;
	c->s->n_nodes++;
	return k;
}

void
imap_search_fini(struct imap_search *s)
{
	for (uint32_t i = 0; i < s->n_nodes; i++)
		imap_seqset_fini(&s->blocks[i / BLOCK_NODES][i % BLOCK_NODES].seqset);
	for (uint32_t i = 0; i < s->n_blocks; i++)
		free(s->blocks[i]);
	free(s->blocks);
	memset(s, 0, sizeof(*s));
}

/* ---- argument checks ----------------------------------------------------- */

static int
get_string(struct sctx *c, const struct imap_arg *a, const char *key, struct slice *out)
{
	if (a == NULL)
		return mn_err_set(c->err, MN_EPARSE, "Missing argument for %s", key);
	if (a->type == IMAP_ARG_LIST)
		return mn_err_set(c->err, MN_EPARSE, "%s needs a string, not a list", key);
	if (c->s->charset == IMAP_SEARCH_CHARSET_US_ASCII) {
		for (size_t i = 0; i < a->str.len; i++)
			if ((unsigned char)a->str.ptr[i] >= 0x80)
				return mn_err_set(c->err, MN_EPARSE,
				    "8-bit string for %s with CHARSET US-ASCII", key);
	}
	if (!utf8_valid(a->str.ptr, a->str.len))
		return mn_err_set(c->err, MN_EPARSE, "Invalid UTF-8 in %s string", key);
	*out = a->str;
	return 0;
}

static bool
is_digits(struct slice s)
{
	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (s.ptr[i] < '0' || s.ptr[i] > '9')
			return false;
	return true;
}

/* digits_value - 1*DIGIT up to max; false if not digits or too big. */
static bool
digits_value(struct slice s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!is_digits(s))
		return false;
	for (size_t i = 0; i < s.len; i++) {
		uint64_t d = (uint64_t)(s.ptr[i] - '0');

		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* flag-keyword = atom (RFC 3501): strict ATOM-CHARs. */
static bool
is_keyword(struct slice s)
{
	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char ch = (unsigned char)s.ptr[i];

		if (ch <= 0x20 || ch >= 0x7f || strchr("(){%*\"\\]", ch) != NULL)
			return false;
	}
	return true;
}

/* RFC 5322 field-name = 1*ftext, ftext = %d33-57 / %d59-126. */
static bool
is_field_name(struct slice s)
{
	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char ch = (unsigned char)s.ptr[i];

		if (ch < 33 || ch > 126 || ch == ':')
			return false;
	}
	return true;
}

int
imap_date_parse(struct slice s, struct imap_date *out)
{
	static const char months[12][4] = {
	    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	static const uint8_t mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	size_t i = 0, dd;
	unsigned day = 0, year = 0, month = 0;

	/* date-day = 1*2DIGIT */
	while (i < s.len && i < 2 && s.ptr[i] >= '0' && s.ptr[i] <= '9')
		day = day * 10 + (unsigned)(s.ptr[i++] - '0');
	dd = i;
	if (dd == 0 || s.len != dd + 1 + 3 + 1 + 4 || s.ptr[dd] != '-' || s.ptr[dd + 4] != '-')
		return MN_EPARSE;
	for (unsigned m = 0; m < 12; m++) {
		if (ascii_ncasecmp(s.ptr + dd + 1, months[m], 3) == 0) {
			month = m + 1;
			break;
		}
	}
	if (month == 0)
		return MN_EPARSE;
	for (size_t k = dd + 5; k < s.len; k++) {
		if (s.ptr[k] < '0' || s.ptr[k] > '9')
			return MN_EPARSE;
		year = year * 10 + (unsigned)(s.ptr[k] - '0');
	}
	if (year == 0 || day == 0 || day > mdays[month - 1])
		return MN_EPARSE;
	if (month == 2 && day == 29 && !((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
		return MN_EPARSE;
	out->year = (uint16_t)year;
	out->month = (uint8_t)month;
	out->day = (uint8_t)day;
	return 0;
}

/* MODSEQ [entry-name entry-type-req] mod-sequence-valzer (RFC 7162 §3.4):
 *   entry-name = DQUOTE "/flags/" attr-flag DQUOTE
 *   entry-type-req = "priv" / "shared" / "all"
 *   mod-sequence-valzer = "0" / 1*DIGIT (< 2^63) */
static int
parse_modseq(struct sctx *c, const struct imap_arg **ap, struct imap_search_key *k)
{
	const struct imap_arg *a = *ap;

	if (a != NULL && a->type == IMAP_ARG_QUOTED) {
		struct slice f = a->str;
		const struct imap_arg *t = a->next;

		if (f.len <= 7 || ascii_ncasecmp(f.ptr, "/flags/", 7) != 0)
			return mn_err_set(c->err, MN_EPARSE, "MODSEQ entry must be /flags/<flag>");
		f.ptr += 7;
		f.len -= 7;
		/* attr-flag: "\" atom (system or extension flag) or flag-keyword */
		if (!(f.ptr[0] == '\\' ? is_keyword((struct slice){f.ptr + 1, f.len - 1})
		                       : is_keyword(f)))
			return mn_err_set(c->err, MN_EPARSE, "Invalid flag in MODSEQ entry");
		k->str = f;
		if (t == NULL || t->type != IMAP_ARG_ATOM)
			return mn_err_set(
			    c->err, MN_EPARSE, "MODSEQ entry needs priv, shared or all");
		if (slice_eq_nocase(t->str, "priv"))
			k->modseq_entry = IMAP_SEARCH_MODSEQ_ENTRY_PRIV;
		else if (slice_eq_nocase(t->str, "shared"))
			k->modseq_entry = IMAP_SEARCH_MODSEQ_ENTRY_SHARED;
		else if (slice_eq_nocase(t->str, "all"))
			k->modseq_entry = IMAP_SEARCH_MODSEQ_ENTRY_ALL;
		else
			return mn_err_set(
			    c->err, MN_EPARSE, "MODSEQ entry needs priv, shared or all");
		a = t->next;
	}
	if (a == NULL)
		return mn_err_set(c->err, MN_EPARSE, "Missing argument for MODSEQ");
	if (a->type != IMAP_ARG_ATOM || !digits_value(a->str, INT64_MAX, &k->number))
		return mn_err_set(c->err, MN_EPARSE, "Invalid MODSEQ value");
	*ap = a->next;
	return 0;
}

static int parse_key(
    struct sctx *c, const struct imap_arg **ap, uint32_t depth, struct imap_search_key **out);

/* parse_list - keys from a until NULL as children of parent (an AND). */
static int
parse_list(struct sctx *c, const struct imap_arg *a, uint32_t depth, struct imap_search_key *parent)
{
	struct imap_search_key **tail = &parent->child;
	int rc;

	while (a != NULL) {
		struct imap_search_key *k;

		if ((rc = parse_key(c, &a, depth, &k)) != 0)
			return rc;
		*tail = k;
		tail = &k->next;
		parent->n_children++;
	}
	return 0;
}

static int
enter(struct sctx *c, uint32_t depth)
{
	if (depth + 1 > c->lim->max_depth)
		return mn_err_set(c->err, MN_ELIMIT, "Search criteria nested too deeply (max %u)",
		    c->lim->max_depth);
	return 0;
}

static int
parse_key(struct sctx *c, const struct imap_arg **ap, uint32_t depth, struct imap_search_key **out)
{
	const struct imap_arg *a = *ap;
	const struct keydef *def = NULL;
	struct imap_search_key *k;
	uint64_t v;
	int rc;

	if (a == NULL)
		return mn_err_set(c->err, MN_EPARSE, "Missing search key");
	if (a->type == IMAP_ARG_LIST) {
		if ((rc = enter(c, depth)) != 0)
			return rc;
		if (a->child == NULL)
			return mn_err_set(c->err, MN_EPARSE, "Empty search group ()");
		if ((k = new_key(c, IMAP_SEARCH_AND)) == NULL)
			return MN_ELIMIT;
		if ((rc = parse_list(c, a->child, depth + 1, k)) != 0)
			return rc;
		*out = k;
		*ap = a->next;
		return 0;
	}
	if (a->type != IMAP_ARG_ATOM)
		return mn_err_set(c->err, MN_EPARSE, "Search key expected, got a string");

	if (a->str.len > 0 && ((a->str.ptr[0] >= '0' && a->str.ptr[0] <= '9') ||
	                          a->str.ptr[0] == '*' || a->str.ptr[0] == '$')) {
		if ((k = new_key(c, IMAP_SEARCH_SEQSET)) == NULL)
			return MN_ELIMIT;
		if ((rc = imap_seqset_parse(a->str, c->lim->max_ranges, &k->seqset, c->err)) != 0)
			return rc;
		*out = k;
		*ap = a->next;
		return 0;
	}
	for (size_t i = 0; i < N_KEYDEFS; i++) {
		if (slice_eq_nocase(a->str, keydefs[i].name)) {
			def = &keydefs[i];
			break;
		}
	}
	if (def == NULL)
		return mn_err_set(c->err, MN_EPARSE, "Unknown search key");
	if ((k = new_key(c, def->type)) == NULL)
		return MN_ELIMIT;
	a = a->next;
	switch (def->arg) {
	case ARG_NONE:
		break;
	case ARG_STRING:
		if ((rc = get_string(c, a, def->name, &k->str)) != 0)
			return rc;
		a = a->next;
		break;
	case ARG_HEADER:
		if ((rc = get_string(c, a, def->name, &k->header)) != 0)
			return rc;
		if (!is_field_name(k->header))
			return mn_err_set(c->err, MN_EPARSE, "Invalid header field name");
		a = a->next;
		if ((rc = get_string(c, a, def->name, &k->str)) != 0)
			return rc;
		a = a->next;
		break;
	case ARG_KEYWORD:
		if (a == NULL)
			return mn_err_set(c->err, MN_EPARSE, "Missing argument for %s", def->name);
		/* flag-keyword = atom; "NIL" is an atom too (parsed as NIL). */
		if ((a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NIL) || !is_keyword(a->str))
			return mn_err_set(c->err, MN_EPARSE, "Invalid keyword for %s", def->name);
		k->str = a->str;
		a = a->next;
		break;
	case ARG_DATE:
		if (a == NULL)
			return mn_err_set(c->err, MN_EPARSE, "Missing argument for %s", def->name);
		if ((a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_QUOTED) ||
		    imap_date_parse(a->str, &k->date) != 0)
			return mn_err_set(c->err, MN_EPARSE, "Invalid date for %s", def->name);
		a = a->next;
		break;
	case ARG_NUMBER:
		if (a == NULL)
			return mn_err_set(c->err, MN_EPARSE, "Missing argument for %s", def->name);
		if (a->type != IMAP_ARG_ATOM || !digits_value(a->str, UINT32_MAX, &v))
			return mn_err_set(c->err, MN_EPARSE, "Invalid number for %s", def->name);
		k->number = v;
		a = a->next;
		break;
	case ARG_UID:
		if (a == NULL)
			return mn_err_set(c->err, MN_EPARSE, "Missing argument for %s", def->name);
		if (a->type != IMAP_ARG_ATOM)
			return mn_err_set(c->err, MN_EPARSE, "Invalid sequence set for UID");
		if ((rc = imap_seqset_parse(a->str, c->lim->max_ranges, &k->seqset, c->err)) != 0)
			return rc;
		a = a->next;
		break;
	case ARG_NOT:
		if ((rc = enter(c, depth)) != 0)
			return rc;
		if ((rc = parse_key(c, &a, depth + 1, &k->child)) != 0)
			return rc;
		k->n_children = 1;
		break;
	case ARG_OR:
		if ((rc = enter(c, depth)) != 0)
			return rc;
		if ((rc = parse_key(c, &a, depth + 1, &k->child)) != 0 ||
		    (rc = parse_key(c, &a, depth + 1, &k->child->next)) != 0)
			return rc;
		k->n_children = 2;
		break;
	case ARG_MODSEQ:
		if ((rc = parse_modseq(c, &a, k)) != 0)
			return rc;
		break;
	}
	*out = k;
	*ap = a;
	return 0;
}

int
imap_search_parse(const struct imap_arg *args, const struct imap_search_limits *limits,
    struct imap_search *out, struct mn_err *err)
{
	struct sctx c = {.lim = limits, .s = out, .err = err};
	const struct imap_arg *a = args;
	int rc;

	memset(out, 0, sizeof(*out));
	if (a != NULL && a->type == IMAP_ARG_ATOM && slice_eq_nocase(a->str, "CHARSET")) {
		a = a->next;
		if (a == NULL || a->type == IMAP_ARG_LIST) {
			rc = mn_err_set(err, MN_EPARSE, "Missing charset name");
			goto fail;
		}
		if (slice_eq_nocase(a->str, "UTF-8")) {
			out->charset = IMAP_SEARCH_CHARSET_UTF8;
		} else if (slice_eq_nocase(a->str, "US-ASCII")) {
			out->charset = IMAP_SEARCH_CHARSET_US_ASCII;
		} else {
			rc = mn_err_set(err, MN_EINVAL, "Unsupported charset");
			goto fail;
		}
		a = a->next;
	}
	if (a == NULL) {
		rc = mn_err_set(err, MN_EPARSE, "Missing search key");
		goto fail;
	}
	if ((out->root = new_key(&c, IMAP_SEARCH_AND)) == NULL) {
		rc = MN_ELIMIT;
		goto fail;
	}
	if ((rc = parse_list(&c, a, 0, out->root)) != 0)
		goto fail;
	return 0;
fail:
	imap_search_fini(out);
	return rc;
}

/* ---- text form -------------------------------------------------------------- */

static const char *
type_name(enum imap_search_type t)
{
	if (t == IMAP_SEARCH_SEQSET)
		return "SEQSET";
	if (t == IMAP_SEARCH_AND)
		return "AND";
	for (size_t i = 0; i < N_KEYDEFS; i++)
		if (keydefs[i].type == t)
			return keydefs[i].name;
	return "?";
}

static int
format_quoted(struct buf *b, struct slice s)
{
	int rc = buf_append(b, "\"", 1);

	for (size_t i = 0; rc == 0 && i < s.len; i++) {
		if (s.ptr[i] == '"' || s.ptr[i] == '\\')
			rc = buf_append(b, "\\", 1);
		if (rc == 0)
			rc = buf_append(b, &s.ptr[i], 1);
	}
	return rc != 0 ? rc : buf_append(b, "\"", 1);
}

static int
format_key(const struct imap_search_key *k, struct buf *b)
{
	static const char *const entries[] = {"", "priv", "shared", "all"};
	int rc = buf_append_str(b, type_name(k->type));

	if (rc != 0)
		return rc;
	switch (k->type) {
	case IMAP_SEARCH_AND:
	case IMAP_SEARCH_OR:
	case IMAP_SEARCH_NOT:
		if ((rc = buf_append(b, "(", 1)) != 0)
			return rc;
		for (const struct imap_search_key *ch = k->child; ch != NULL; ch = ch->next) {
			if (ch != k->child && (rc = buf_append(b, " ", 1)) != 0)
				return rc;
			if ((rc = format_key(ch, b)) != 0)
				return rc;
		}
		return buf_append(b, ")", 1);
	case IMAP_SEARCH_BCC:
	case IMAP_SEARCH_BODY:
	case IMAP_SEARCH_CC:
	case IMAP_SEARCH_FROM:
	case IMAP_SEARCH_SUBJECT:
	case IMAP_SEARCH_TEXT:
	case IMAP_SEARCH_TO:
		if ((rc = buf_append(b, " ", 1)) != 0)
			return rc;
		return format_quoted(b, k->str);
	case IMAP_SEARCH_HEADER:
		if ((rc = buf_append(b, " ", 1)) != 0 || (rc = format_quoted(b, k->header)) != 0 ||
		    (rc = buf_append(b, " ", 1)) != 0)
			return rc;
		return format_quoted(b, k->str);
	case IMAP_SEARCH_KEYWORD:
	case IMAP_SEARCH_UNKEYWORD:
		return buf_printf(b, " %.*s", (int)k->str.len, k->str.ptr);
	case IMAP_SEARCH_BEFORE:
	case IMAP_SEARCH_ON:
	case IMAP_SEARCH_SINCE:
	case IMAP_SEARCH_SENTBEFORE:
	case IMAP_SEARCH_SENTON:
	case IMAP_SEARCH_SENTSINCE:
		return buf_printf(b, " %04u-%02u-%02u", k->date.year, k->date.month, k->date.day);
	case IMAP_SEARCH_LARGER:
	case IMAP_SEARCH_SMALLER:
		return buf_printf(b, " %llu", (unsigned long long)k->number);
	case IMAP_SEARCH_SEQSET:
	case IMAP_SEARCH_UID:
		if ((rc = buf_append(b, " ", 1)) != 0)
			return rc;
		return imap_seqset_format(&k->seqset, b);
	case IMAP_SEARCH_MODSEQ:
		if (k->modseq_entry != IMAP_SEARCH_MODSEQ_ENTRY_NONE &&
		    (rc = buf_printf(b, " \"/flags/%.*s\" %s", (int)k->str.len, k->str.ptr,
		         entries[k->modseq_entry])) != 0)
			return rc;
		return buf_printf(b, " %llu", (unsigned long long)k->number);
	default:
		return 0;
	}
}

int
imap_search_format(const struct imap_search *s, struct buf *b)
{
	int rc;

	if (s->charset != IMAP_SEARCH_CHARSET_NONE &&
	    (rc = buf_append_str(b, s->charset == IMAP_SEARCH_CHARSET_UTF8
	                                ? "CHARSET UTF-8 "
	                                : "CHARSET US-ASCII ")) != 0)
		return rc;
	if (s->root == NULL)
		return 0;
	return format_key(s->root, b);
}
