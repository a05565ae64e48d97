/*
 * cmd_message.c - IMAP commands on the messages of the selected mailbox
 * (RFC 3501 §6.4.4-8): SEARCH, FETCH, STORE, COPY and their UID forms,
 * MOVE (RFC 6851) with COPYUID (RFC 4315), and the CONDSTORE parts
 * (RFC 7162: FETCH MODSEQ and CHANGEDSINCE, STORE UNCHANGEDSINCE with
 * [MODIFIED], SEARCH MODSEQ). All run on the thread pool; FETCH in steps
 * of about IMAP_FETCH_STEP output bytes (session.h).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "node/imap/fetch_render.h"
#include "node/imap/search.h"
#include "node/imap/search_text.h"
#include "node/imap/session.h"
#include "storage/directory/directory.h"
#include "storage/message/header.h"

#define FETCH_MAX_ITEMS 64
#define FETCH_SEEN_BATCH 100

static const struct mailstore_msg *
msg_find(const struct mailstore_msg *list, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (list[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && list[lo].uid == uid ? &list[lo] : NULL;
}

/* the whole message (full) or its header into b; false on a store error */
static bool
load_msg(struct imap_session *s, const struct mailstore_msg *m, bool full, struct buf *b)
{
	struct mn_err err;
	int rc;

	buf_reset(b);
	if (full)
		rc = mailstore_body_read(imap_server_store(s->srv), s->user, s->folder, m->uid, 0,
		    (size_t)m->size, b, &err);
	else
		rc = mailstore_header_read(imap_server_store(s->srv), s->user, s->folder, m->uid,
		    HEADER_SIZE_MAX, b, &err);
	if (rc != 0)
		log_warn("imap", "sid=%s event=read uid=%u reason=\"%s\"", conn_id(s->c), m->uid,
		    err.msg);
	return rc == 0;
}

/* --- SEARCH ------------------------------------------------------------------ */

struct search_ctx {
	struct imap_session *s;
	const struct mailstore_msg *m;
	uint32_t seq, maxuid;
	struct buf hdr, full;
	struct buf text, htext; /* decoded body and header (search_text.h) */
	bool hdr_loaded, full_loaded, text_loaded, htext_loaded;
	bool recent; /* \Recent in this session */
};

/* ASCII-case-insensitive substring; UTF-8 bytes compare as they are */
static bool
contains_nocase(const char *h, size_t hl, struct slice needle)
{
	unsigned char first;

	if (needle.len == 0)
		return true;
	/* compare the first byte inline; the rest only where it matches */
	first = (unsigned char)needle.ptr[0];
	if (first >= 'A' && first <= 'Z')
		first += 'a' - 'A';
	for (size_t i = 0; i + needle.len <= hl; i++) {
		unsigned char b = (unsigned char)h[i];

		if (b >= 'A' && b <= 'Z')
			b += 'a' - 'A';
		if (b == first && ascii_ncasecmp(h + i + 1, needle.ptr + 1, needle.len - 1) == 0)
			return true;
	}
	return false;
}

static struct buf *
ctx_hdr(struct search_ctx *c)
{
	if (!c->hdr_loaded) {
		c->hdr_loaded = true;
		if (c->full_loaded) {
			/* a prefix of the whole message read already: the header
			 * section with its empty line (all of it if none) */
			size_t hl, n;

			(void)header_find_end((const char *)c->full.data, c->full.len, &hl, &n);

			buf_reset(&c->hdr);
			if (n <= HEADER_SIZE_MAX && buf_append(&c->hdr, c->full.data, n) == 0)
				return &c->hdr;
			buf_reset(&c->hdr);
		}
		load_msg(c->s, c->m, false, &c->hdr);
	}
	return &c->hdr;
}

static struct buf *
ctx_full(struct search_ctx *c)
{
	if (!c->full_loaded) {
		c->full_loaded = true;
		load_msg(c->s, c->m, true, &c->full);
	}
	return &c->full;
}

/* the body as a reader sees it: transfer encodings undone, charsets in
 * UTF-8 (search_text.h); bounded by 4x the message (charset conversion) */
static struct buf *
ctx_text(struct search_ctx *c)
{
	if (!c->text_loaded) {
		struct buf *f = ctx_full(c);

		c->text_loaded = true;
		buf_init(&c->text, 4 * f->len + 64);
		(void)imap_search_body_text((const char *)f->data, f->len, &c->text);
	}
	return &c->text;
}

/* the header with encoded-words decoded, one line per field */
static struct buf *
ctx_htext(struct search_ctx *c)
{
	if (!c->htext_loaded) {
		struct buf *h = ctx_hdr(c);

		c->htext_loaded = true;
		buf_init(&c->htext, 4 * h->len + 64);
		(void)imap_search_header_text((const char *)h->data, h->len, &c->htext);
	}
	return &c->htext;
}

/* does a field `name` (decoded, RFC 2047) contain str? */
static bool
header_has(struct search_ctx *c, struct slice name, struct slice str)
{
	struct buf *h = ctx_hdr(c);
	struct header_parser p;
	struct header_field f;
	size_t off = 0, used;
	bool found = false;
	int r;

	header_parser_init(&p, NULL);
	while (!found) {
		r = header_parser_feed(&p, (char *)h->data + off, h->len - off, &used, &f);
		off += used;
		if (r == HEADER_MORE && off >= h->len)
			r = header_parser_finish(&p, &f);
		if (r != HEADER_FIELD)
			break;
		if (f.invalid || f.name.len != name.len ||
		    ascii_ncasecmp(f.name.ptr, name.ptr, name.len) != 0)
			continue;
		{
			struct buf u, d;

			buf_init(&u, HEADER_FIELD_MAX);
			buf_init(&d, 4 * HEADER_FIELD_MAX);
			header_unfold(f.value, &u);
			header_decode_2047((struct slice){(char *)u.data, u.len}, &d);
			found = contains_nocase((char *)d.data, d.len, str);
			buf_fini(&u);
			buf_fini(&d);
		}
	}
	header_parser_fini(&p);
	return found;
}

static int64_t
date_days(const struct imap_date *d)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = d->year - 1900;
	tm.tm_mon = d->month - 1;
	tm.tm_mday = d->day;
	return (int64_t)timegm(&tm) / 86400;
}

static int64_t
floor_days(int64_t t)
{
	return t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
}

static bool
sent_days(struct search_ctx *c, int64_t *days)
{
	struct buf *h = ctx_hdr(c);
	struct header_parser p;
	struct header_field f;
	size_t off = 0, used;
	bool ok = false;
	int r;

	header_parser_init(&p, NULL);
	for (;;) {
		r = header_parser_feed(&p, (char *)h->data + off, h->len - off, &used, &f);
		off += used;
		if (r == HEADER_MORE && off >= h->len)
			r = header_parser_finish(&p, &f);
		if (r != HEADER_FIELD)
			break;
		if (!f.invalid && slice_eq_nocase(f.name, "Date")) {
			int64_t t;
			int zone;

			if (header_parse_date(f.value, &t, &zone) == 0) {
				*days = floor_days(t + (int64_t)zone * 60);
				ok = true;
			}
			break;
		}
	}
	header_parser_fini(&p);
	return ok;
}

static bool
eval(const struct imap_search_key *k, struct search_ctx *c)
{
	const struct mailstore_msg *m = c->m;
	int64_t d;

	switch (k->type) {
	case IMAP_SEARCH_AND:
		for (const struct imap_search_key *x = k->child; x; x = x->next)
			if (!eval(x, c))
				return false;
		return true;
	case IMAP_SEARCH_OR:
		return eval(k->child, c) || eval(k->child->next, c);
	case IMAP_SEARCH_NOT:
		return !eval(k->child, c);
	case IMAP_SEARCH_ALL:
		return true;
	case IMAP_SEARCH_OLD:
		return !c->recent;
	case IMAP_SEARCH_NEW:
		return c->recent && !(m->flags & MAILSTORE_SEEN);
	case IMAP_SEARCH_RECENT:
		return c->recent;
	case IMAP_SEARCH_ANSWERED:
		return m->flags & MAILSTORE_ANSWERED;
	case IMAP_SEARCH_DELETED:
		return m->flags & MAILSTORE_DELETED;
	case IMAP_SEARCH_DRAFT:
		return m->flags & MAILSTORE_DRAFT;
	case IMAP_SEARCH_FLAGGED:
		return m->flags & MAILSTORE_FLAGGED;
	case IMAP_SEARCH_SEEN:
		return m->flags & MAILSTORE_SEEN;
	case IMAP_SEARCH_UNANSWERED:
		return !(m->flags & MAILSTORE_ANSWERED);
	case IMAP_SEARCH_UNDELETED:
		return !(m->flags & MAILSTORE_DELETED);
	case IMAP_SEARCH_UNDRAFT:
		return !(m->flags & MAILSTORE_DRAFT);
	case IMAP_SEARCH_UNFLAGGED:
		return !(m->flags & MAILSTORE_FLAGGED);
	case IMAP_SEARCH_UNSEEN:
		return !(m->flags & MAILSTORE_SEEN);
	case IMAP_SEARCH_KEYWORD:
	case IMAP_SEARCH_UNKEYWORD: {
		bool has = false;
		const char *p = m->keywords;

		while (p && *p && !has) {
			const char *e = strchr(p, ' ');
			size_t l = e ? (size_t)(e - p) : strlen(p);

			has = l == k->str.len && ascii_ncasecmp(p, k->str.ptr, l) == 0;
			p = e ? e + 1 : NULL;
		}
		return k->type == IMAP_SEARCH_KEYWORD ? has : !has;
	}
	case IMAP_SEARCH_BCC:
		return header_has(c, SLICE_LIT("Bcc"), k->str);
	case IMAP_SEARCH_CC:
		return header_has(c, SLICE_LIT("Cc"), k->str);
	case IMAP_SEARCH_FROM:
		return header_has(c, SLICE_LIT("From"), k->str);
	case IMAP_SEARCH_TO:
		return header_has(c, SLICE_LIT("To"), k->str);
	case IMAP_SEARCH_SUBJECT:
		return header_has(c, SLICE_LIT("Subject"), k->str);
	case IMAP_SEARCH_HEADER:
		return header_has(c, k->header, k->str);
	case IMAP_SEARCH_BODY: {
		struct buf *t = ctx_text(c);

		return contains_nocase((char *)t->data, t->len, k->str);
	}
	case IMAP_SEARCH_TEXT: {
		/* header as written and decoded, then the decoded body */
		struct buf *t = ctx_text(c), *h = ctx_hdr(c), *ht = ctx_htext(c);

		return contains_nocase((char *)h->data, h->len, k->str) ||
		       contains_nocase((char *)ht->data, ht->len, k->str) ||
		       contains_nocase((char *)t->data, t->len, k->str);
	}
	case IMAP_SEARCH_BEFORE:
		return floor_days(m->internal_date) < date_days(&k->date);
	case IMAP_SEARCH_ON:
		return floor_days(m->internal_date) == date_days(&k->date);
	case IMAP_SEARCH_SINCE:
		return floor_days(m->internal_date) >= date_days(&k->date);
	case IMAP_SEARCH_SENTBEFORE:
		return sent_days(c, &d) && d < date_days(&k->date);
	case IMAP_SEARCH_SENTON:
		return sent_days(c, &d) && d == date_days(&k->date);
	case IMAP_SEARCH_SENTSINCE:
		return sent_days(c, &d) && d >= date_days(&k->date);
	case IMAP_SEARCH_LARGER:
		return m->size > k->number;
	case IMAP_SEARCH_SMALLER:
		return m->size < k->number;
	case IMAP_SEARCH_SEQSET:
		return imap_seqset_contains(&k->seqset, c->seq, (uint32_t)c->s->nview);
	case IMAP_SEARCH_UID:
		return imap_seqset_contains(&k->seqset, m->uid, c->maxuid);
	case IMAP_SEARCH_MODSEQ:
		return m->modseq >= k->number;
	}
	return false;
}

static bool
uses_modseq(const struct imap_search_key *k)
{
	if (k->type == IMAP_SEARCH_MODSEQ)
		return true;
	for (const struct imap_search_key *x = k->child; x; x = x->next)
		if (uses_modseq(x))
			return true;
	return false;
}

void
imap_cmd_search(struct imap_session *s, struct imap_job *job)
{
	struct imap_search q;
	struct imap_search_limits lim;
	struct mn_err err;
	struct mailstore_msg *list = NULL;
	size_t n = 0;
	uint64_t maxmod = 0;
	int rc;

	imap_search_limits_default(&lim);
	rc = imap_search_parse(job->arg, &lim, &q, &err);
	if (rc == MN_EINVAL) {
		imap_reply(job, "NO", "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
		return;
	}
	if (rc != 0) {
		imap_reply(job, "BAD", "Invalid search: %s", err.msg);
		return;
	}
	if (mailstore_msg_list(imap_server_store(s->srv), s->user, s->folder, 0, &list, &n, &err) !=
	    0) {
		imap_search_fini(&q);
		imap_reply(job, "NO", "[SERVERBUG] SEARCH failed");
		return;
	}
	if (uses_modseq(q.root))
		s->condstore = true;
	buf_append_str(&job->out, "* SEARCH");
	for (size_t i = 0; i < s->nview; i++) {
		struct search_ctx c;
		const struct mailstore_msg *m = msg_find(list, n, s->view[i].uid);

		if (m == NULL)
			continue; /* expunged meanwhile, not yet reported */
		memset(&c, 0, sizeof(c));
		c.s = s;
		c.m = m;
		c.seq = (uint32_t)i + 1;
		c.recent = s->view[i].recent;
		c.maxuid = s->view[s->nview - 1].uid;
		buf_init(&c.hdr, HEADER_SIZE_MAX + 1);
		buf_init(&c.full, 0);
		buf_init(&c.text, 0);
		buf_init(&c.htext, 0);
		if (eval(q.root, &c)) {
			buf_printf(&job->out, " %u", job->uid ? m->uid : c.seq);
			if (m->modseq > maxmod)
				maxmod = m->modseq;
		}
		buf_fini(&c.hdr);
		buf_fini(&c.full);
		buf_fini(&c.text);
		buf_fini(&c.htext);
	}
	if (uses_modseq(q.root) && maxmod > 0)
		buf_printf(&job->out, " (MODSEQ %llu)", (unsigned long long)maxmod);
	buf_append_str(&job->out, "\r\n");
	mailstore_msg_list_free(&list, n);
	imap_search_fini(&q);
	imap_reply(job, "OK", "SEARCH completed");
}

/* --- FETCH -------------------------------------------------------------------- */

enum fetch_kind {
	F_FLAGS,
	F_UID,
	F_INTERNALDATE,
	F_SIZE,
	F_RFC822,
	F_RFC822_HEADER,
	F_RFC822_TEXT,
	F_ENVELOPE,
	F_BODY,
	F_BODYSTRUCTURE,
	F_SECTION,
	F_MODSEQ,
};

struct fetch_item {
	enum fetch_kind kind;
	bool peek;
	struct imap_section sec; /* F_SECTION; names point into the command */
	bool partial;
	struct imap_partial part;
};

struct fetch_state {
	struct fetch_item items[FETCH_MAX_ITEMS];
	size_t nitems;
	uint32_t *uids;
	size_t n;
	struct mailstore_msg *list;
	size_t nlist;
	bool need_hdr, need_full, set_seen;
	bool flags_implicit; /* FLAGS only because \Seen may change */
	size_t seen_done;    /* uids[0..seen_done) had \Seen set */
	uint32_t *seen_now;  /* uids that got \Seen from this FETCH (ascending) */
	size_t nseen_now;
};

static void
fetch_state_free(void *p)
{
	struct fetch_state *st = p;

	free(st->uids);
	free(st->seen_now);
	mailstore_msg_list_free(&st->list, st->nlist);
	free(st);
}

static bool
add_item(struct fetch_state *st, enum fetch_kind k)
{
	for (size_t i = 0; i < st->nitems; i++)
		if (st->items[i].kind == k && k != F_SECTION)
			return true;
	if (st->nitems >= FETCH_MAX_ITEMS)
		return false;
	memset(&st->items[st->nitems], 0, sizeof(st->items[0]));
	st->items[st->nitems++].kind = k;
	return true;
}

static bool
parse_item(struct fetch_state *st, struct slice a)
{
	static const struct {
		const char *name;
		enum fetch_kind k;
	} simple[] = {
	    {"FLAGS", F_FLAGS},
	    {"UID", F_UID},
	    {"INTERNALDATE", F_INTERNALDATE},
	    {"RFC822.SIZE", F_SIZE},
	    {"RFC822", F_RFC822},
	    {"RFC822.HEADER", F_RFC822_HEADER},
	    {"RFC822.TEXT", F_RFC822_TEXT},
	    {"ENVELOPE", F_ENVELOPE},
	    {"BODY", F_BODY},
	    {"BODYSTRUCTURE", F_BODYSTRUCTURE},
	    {"MODSEQ", F_MODSEQ},
	};
	struct fetch_item *it;
	const char *lb, *rb, *end = a.ptr + a.len;
	bool peek;

	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
		if (slice_eq_nocase(a, simple[i].name))
			return add_item(st, simple[i].k);
	if (slice_eq_nocase(a, "ALL") || slice_eq_nocase(a, "FAST") || slice_eq_nocase(a, "FULL")) {
		add_item(st, F_FLAGS);
		add_item(st, F_INTERNALDATE);
		add_item(st, F_SIZE);
		if (!slice_eq_nocase(a, "FAST"))
			add_item(st, F_ENVELOPE);
		if (slice_eq_nocase(a, "FULL"))
			add_item(st, F_BODY);
		return true;
	}
	if (slice_starts_nocase(a, "BODY.PEEK["))
		peek = true;
	else if (slice_starts_nocase(a, "BODY["))
		peek = false;
	else
		return false;
	lb = memchr(a.ptr, '[', a.len);
	rb = NULL;
	for (const char *p = end; p > lb; p--)
		if (p[-1] == ']') {
			rb = p - 1;
			break;
		}
	if (rb == NULL || st->nitems >= FETCH_MAX_ITEMS)
		return false;
	it = &st->items[st->nitems];
	memset(it, 0, sizeof(*it));
	it->kind = F_SECTION;
	it->peek = peek;
	if (imap_section_parse((struct slice){lb + 1, (size_t)(rb - lb - 1)}, &it->sec) != 0)
		return false;
	if (rb + 1 < end) {
		/* <origin.count>, applied by render_one (fetch_render.h) */
		if (imap_partial_parse((struct slice){rb + 1, (size_t)(end - rb - 1)}, &it->part) !=
		    0)
			return false;
		it->partial = true;
	}
	st->nitems++;
	return true;
}

/*
 * A message's bytes as a literal. A NUL byte is sent as 0x80: CHAR8
 * excludes NUL (RFC 3501 §9) and Dovecot does the same (fetch_render.h
 * imap_quote); the length does not change, so RFC822.SIZE still holds.
 */
static void
out_literal(struct buf *out, const void *data, size_t len)
{
	size_t at;

	buf_printf(out, "{%zu}\r\n", len);
	at = out->len;
	if (buf_append(out, data, len) != 0)
		return;
	for (size_t i = at; i < out->len; i++)
		if (out->data[i] == 0)
			out->data[i] = 0x80;
}

/* the message's MIME tree, parsed on first use (mime_parse never fails on
 * content; NULL only for a NULL buffer, which data never is) */
static const struct mime_part *
tree_of(struct mime_part **tree, const struct buf *data)
{
	if (*tree == NULL && mime_parse((const char *)data->data, data->len, tree) != 0)
		*tree = NULL;
	return *tree;
}

static void
render_one(struct imap_session *s, struct imap_job *job, struct fetch_state *st,
    const struct mailstore_msg *m, uint32_t seq, struct buf *data)
{
	struct buf *out = &job->out;
	struct mime_part *mime = NULL;
	const struct mime_part *root;
	const char *msg = (const char *)data->data;
	bool have = false, first = true;
	size_t hl = 0, bo = 0;

	if (st->need_full || st->need_hdr) {
		have = load_msg(s, m, st->need_full, data);
		if (!have)
			return;
		msg = (const char *)data->data;
		if (header_find_end(msg, data->len, &hl, &bo) != 0)
			hl = bo = data->len;
		if (!st->need_full)
			bo = data->len;
	}
	buf_printf(out, "* %u FETCH (", seq);
	for (size_t i = 0; i < st->nitems; i++) {
		const struct fetch_item *it = &st->items[i];

		if (!first)
			buf_append_str(out, " ");
		first = false;
		switch (it->kind) {
		case F_FLAGS:
			if (st->flags_implicit) {
				size_t lo = 0, hi = st->nseen_now;

				/* seen_now is ascending: uids[] is */
				while (lo < hi) {
					size_t mid = (lo + hi) / 2;

					if (st->seen_now[mid] < m->uid)
						lo = mid + 1;
					else
						hi = mid;
				}
				if (lo == st->nseen_now || st->seen_now[lo] != m->uid) {
					out->len -= 1; /* the separator; FLAGS is never first */
					break;
				}
			}
			buf_append_str(out, "FLAGS ");
			imap_out_flags(out, m->flags | imap_view_recent(s, seq - 1), m->keywords);
			break;
		case F_UID:
			buf_printf(out, "UID %u", m->uid);
			break;
		case F_MODSEQ:
			buf_printf(out, "MODSEQ (%llu)", (unsigned long long)m->modseq);
			break;
		case F_INTERNALDATE:
			buf_append_str(out, "INTERNALDATE ");
			imap_out_datetime(out, m->internal_date);
			break;
		case F_SIZE:
			buf_printf(out, "RFC822.SIZE %llu", (unsigned long long)m->size);
			break;
		case F_RFC822:
			buf_append_str(out, "RFC822 ");
			out_literal(out, data->data, data->len);
			break;
		case F_RFC822_HEADER:
			buf_append_str(out, "RFC822.HEADER ");
			out_literal(out, data->data, bo <= data->len ? bo : data->len);
			break;
		case F_RFC822_TEXT:
			buf_append_str(out, "RFC822.TEXT ");
			out_literal(out, data->data + bo, data->len - bo);
			break;
		case F_ENVELOPE:
			/* data is the header alone unless a body item is asked
			 * for too: the envelope needs only the root's header */
			buf_append_str(out, "ENVELOPE ");
			root = tree_of(&mime, data);
			if (root == NULL || imap_render_envelope(root, msg, out) != 0)
				buf_append_str(out, "NIL");
			break;
		case F_BODY:
		case F_BODYSTRUCTURE:
			buf_append_str(out, it->kind == F_BODY ? "BODY " : "BODYSTRUCTURE ");
			root = tree_of(&mime, data);
			if (root == NULL || imap_render_bodystructure(
			                        root, msg, it->kind == F_BODYSTRUCTURE, out) != 0)
				buf_append_str(out, "NIL");
			break;
		case F_SECTION: {
			struct buf sec;
			struct slice bytes;
			int rc = MN_ENOENT;

			root = tree_of(&mime, data);
			buf_init(&sec, 0);
			if (root != NULL)
				rc = imap_section_extract(root, msg, data->len, &it->sec, &sec);
			buf_append_str(out, "BODY[");
			imap_section_write(&it->sec, out);
			buf_append_str(out, "]");
			bytes = (struct slice){(char *)sec.data, sec.len};
			if (it->partial) {
				bytes = imap_partial_apply(bytes, &it->part);
				buf_printf(out, "<%u>", it->part.origin);
			}
			buf_append_str(out, " ");
			/* a part that does not exist is "" as Dovecot answers
			 * (fetch_render.h imap_section_extract) */
			if (rc != 0)
				buf_append_str(out, "\"\"");
			else
				out_literal(out, bytes.ptr, bytes.len);
			buf_fini(&sec);
			break;
		}
		}
	}
	buf_append_str(out, ")\r\n");
	mime_free(mime);
}

/* set \Seen on the next batch of uids (one store call, one fsync) */
static void
fetch_set_seen(struct imap_session *s, struct imap_job *job, struct fetch_state *st, size_t from)
{
	uint32_t batch[FETCH_SEEN_BATCH];
	size_t nb = 0, upto = from;
	uint64_t modseq = 0;
	struct mn_err err;

	while (upto < st->n && nb < FETCH_SEEN_BATCH) {
		const struct mailstore_msg *m = msg_find(st->list, st->nlist, st->uids[upto]);

		if (m != NULL && !(m->flags & MAILSTORE_SEEN))
			batch[nb++] = m->uid;
		upto++;
	}
	st->seen_done = upto;
	if (nb == 0)
		return;
	if (mailstore_flags_store(imap_server_store(s->srv), s->user, s->folder, batch, nb,
	        MAILSTORE_FLAGS_ADD, MAILSTORE_SEEN, NULL, 0, 0, NULL, NULL, &modseq, &err) != 0)
		return;
	job->changed = true;
	st->seen_now = xrealloc(st->seen_now, (st->nseen_now + nb) * sizeof(uint32_t));
	memcpy(st->seen_now + st->nseen_now, batch, nb * sizeof(uint32_t));
	st->nseen_now += nb;
	for (size_t i = 0; i < nb; i++) {
		struct mailstore_msg *m =
		    (struct mailstore_msg *)msg_find(st->list, st->nlist, batch[i]);
		size_t v = imap_view_find(s, batch[i]);

		m->flags |= MAILSTORE_SEEN;
		if (modseq)
			m->modseq = modseq;
		if (v != SIZE_MAX && modseq)
			s->view[v].modseq = modseq;
	}
}

void
imap_cmd_fetch(struct imap_session *s, struct imap_job *job)
{
	struct fetch_state *st = job->step_state;
	struct buf data;
	const char *why = "Invalid FETCH";

	if (st == NULL) {
		const struct imap_arg *set = job->arg, *items = set ? set->next : NULL;
		uint64_t changedsince = 0;
		struct mn_err err;

		st = xcalloc(1, sizeof(*st));
		job->step_state = st;
		job->step_free = fetch_state_free;
		if (items == NULL) {
			imap_reply(job, "BAD", "FETCH needs a set and items");
			return;
		}
		if (items->next != NULL) {
			const struct imap_arg *mod = items->next;

			/* (CHANGEDSINCE n) RFC 7162 §3.1.4 */
			if (mod->type != IMAP_ARG_LIST || mod->next != NULL ||
			    mod->n_children != 2 || mod->child->type != IMAP_ARG_ATOM ||
			    !slice_eq_nocase(mod->child->str, "CHANGEDSINCE") ||
			    mod->child->next->type != IMAP_ARG_ATOM) {
				imap_reply(job, "BAD", "Unknown FETCH modifier");
				return;
			}
			{
				char *num = slice_dup(mod->child->next->str);
				int rc = parse_u64(num, 1, INT64_MAX, &changedsince);

				free(num);
				if (rc != 0) {
					imap_reply(job, "BAD", "Invalid CHANGEDSINCE");
					return;
				}
			}
			s->condstore = true;
		}
		if (items->type == IMAP_ARG_LIST) {
			for (const struct imap_arg *i = items->child; i; i = i->next)
				if (i->type != IMAP_ARG_ATOM || !parse_item(st, i->str)) {
					imap_reply(job, "BAD", "Invalid FETCH item");
					return;
				}
			if (items->n_children == 0) {
				imap_reply(job, "BAD", "Empty FETCH item list");
				return;
			}
		} else if (items->type != IMAP_ARG_ATOM || !parse_item(st, items->str)) {
			imap_reply(job, "BAD", "Invalid FETCH item");
			return;
		}
		if (job->uid)
			add_item(st, F_UID);
		if (changedsince || s->condstore) {
			bool want = changedsince != 0;

			for (size_t i = 0; i < st->nitems; i++)
				want |= st->items[i].kind == F_MODSEQ;
			if (want)
				add_item(st, F_MODSEQ);
		}
		for (size_t i = 0; i < st->nitems; i++) {
			switch (st->items[i].kind) {
			case F_ENVELOPE:
			case F_RFC822_HEADER:
				st->need_hdr = true;
				break;
			case F_RFC822:
			case F_RFC822_TEXT:
			case F_SECTION:
				st->need_full = true;
				if (!st->items[i].peek && st->items[i].kind != F_RFC822_HEADER)
					st->set_seen = true;
				break;
			case F_BODY:
			case F_BODYSTRUCTURE:
				st->need_full = true;
				break;
			default:
				break;
			}
		}
		if (s->readonly)
			st->set_seen = false;
		if (st->set_seen) {
			bool asked = false;

			for (size_t i = 0; i < st->nitems; i++)
				asked |= st->items[i].kind == F_FLAGS;
			if (!asked) {
				add_item(st, F_FLAGS);
				st->flags_implicit = true;
			}
		}
		if (!imap_set_to_uids(s, set, job->uid, &st->uids, &st->n, &why)) {
			imap_reply(job, "BAD", "%s", why);
			return;
		}
		if (mailstore_msg_list(imap_server_store(s->srv), s->user, s->folder, changedsince,
		        &st->list, &st->nlist, &err) != 0) {
			imap_reply(job, "NO", "[SERVERBUG] FETCH failed");
			return;
		}
	}
	buf_init(&data, 0);
	while (job->step_pos < st->n) {
		uint32_t uid = st->uids[job->step_pos];
		const struct mailstore_msg *m;
		size_t v;

		if (st->set_seen && job->step_pos >= st->seen_done)
			fetch_set_seen(s, job, st, job->step_pos);
		m = msg_find(st->list, st->nlist, uid);
		v = imap_view_find(s, uid);
		job->step_pos++;
		if (m != NULL && v != SIZE_MAX)
			render_one(s, job, st, m, (uint32_t)v + 1, &data);
		if (job->out.len >= IMAP_FETCH_STEP && job->step_pos < st->n) {
			buf_fini(&data);
			job->more = true;
			return;
		}
	}
	buf_fini(&data);
	job->more = false;
	imap_reply(job, "OK", "FETCH completed");
}

/* --- STORE -------------------------------------------------------------------- */

void
imap_cmd_store(struct imap_session *s, struct imap_job *job)
{
	const struct imap_arg *set = job->arg, *a = set ? set->next : NULL;
	uint64_t unchangedsince = 0;
	bool has_unchanged = false, silent;
	enum mailstore_flag_op op;
	struct slice item;
	uint32_t flags = 0, *uids = NULL, *failed = NULL;
	size_t n = 0, nfailed = 0, nkw = 0;
	const char *kw[MAILSTORE_MAX_KEYWORDS];
	char kwbuf[MAILSTORE_MAX_KEYWORDS * (MAILSTORE_MAX_KEYWORD + 1)];
	uint64_t modseq = 0;
	struct mailstore_msg *list = NULL;
	size_t nlist = 0;
	struct mn_err err;
	const char *why = "Invalid sequence set";
	int rc;

	if (a != NULL && a->type == IMAP_ARG_LIST) {
		char *num;

		if (a->n_children != 2 || a->child->type != IMAP_ARG_ATOM ||
		    !slice_eq_nocase(a->child->str, "UNCHANGEDSINCE") ||
		    a->child->next->type != IMAP_ARG_ATOM) {
			imap_reply(job, "BAD", "Unknown STORE modifier");
			return;
		}
		num = slice_dup(a->child->next->str);
		rc = parse_u64(num, 0, INT64_MAX, &unchangedsince);
		free(num);
		if (rc != 0) {
			imap_reply(job, "BAD", "Invalid UNCHANGEDSINCE");
			return;
		}
		has_unchanged = true;
		s->condstore = true;
		a = a->next;
	}
	if (a == NULL || a->type != IMAP_ARG_ATOM || a->next == NULL) {
		imap_reply(job, "BAD", "STORE needs a set, an item and flags");
		return;
	}
	item = a->str;
	silent =
	    item.len > 7 && slice_eq_nocase((struct slice){item.ptr + item.len - 7, 7}, ".SILENT");
	if (silent)
		item.len -= 7;
	if (slice_eq_nocase(item, "FLAGS"))
		op = MAILSTORE_FLAGS_SET;
	else if (slice_eq_nocase(item, "+FLAGS"))
		op = MAILSTORE_FLAGS_ADD;
	else if (slice_eq_nocase(item, "-FLAGS"))
		op = MAILSTORE_FLAGS_REMOVE;
	else {
		imap_reply(job, "BAD", "Unknown STORE item");
		return;
	}
	/* flags: one list, or atoms separated by spaces */
	{
		size_t kwused = 0;

		if (a->next->type == IMAP_ARG_LIST) {
			if (a->next->next != NULL ||
			    !imap_parse_flags(a->next, &flags, kw, &nkw, MAILSTORE_MAX_KEYWORDS,
			        kwbuf, sizeof(kwbuf))) {
				imap_reply(job, "BAD", "Invalid flags");
				return;
			}
		} else {
			for (const struct imap_arg *f = a->next; f; f = f->next) {
				uint32_t fl = 0;
				size_t k1 = 0;

				if (f->type != IMAP_ARG_ATOM || nkw >= MAILSTORE_MAX_KEYWORDS ||
				    !imap_parse_flags(f, &fl, kw + nkw, &k1, 1, kwbuf + kwused,
				        sizeof(kwbuf) - kwused)) {
					imap_reply(job, "BAD", "Invalid flags");
					return;
				}
				flags |= fl;
				if (k1) {
					kwused += strlen(kw[nkw]) + 1;
					nkw++;
				}
			}
		}
	}
	if (s->readonly) {
		imap_reply(job, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if ((s->user_flags & DIR_USER_READONLY) && (flags & MAILSTORE_DELETED) &&
	    op != MAILSTORE_FLAGS_REMOVE) {
		imap_reply(job, "NO", "[NOPERM] Account is read-only: cannot delete");
		return;
	}
	if (!imap_set_to_uids(s, set, job->uid, &uids, &n, &why)) {
		imap_reply(job, "BAD", "%s", why);
		return;
	}
	if (has_unchanged && unchangedsince == 0) {
		/* RFC 7162 §3.1.3: every message fails */
		failed = uids;
		nfailed = n;
		uids = NULL;
		n = 0;
	} else if (n > 0) {
		rc = mailstore_flags_store(imap_server_store(s->srv), s->user, s->folder, uids, n,
		    op, flags, kw, nkw, has_unchanged ? unchangedsince : 0, &failed, &nfailed,
		    &modseq, &err);
		if (rc != 0) {
			free(uids);
			if (rc ==
			    MN_ELIMIT) /* RFC 5530 §3 LIMIT: a store limit, not a server bug */
				imap_reply(job, "NO", "[LIMIT] Too many keywords");
			else
				imap_reply(job, "NO", "[SERVERBUG] STORE failed");
			return;
		}
	}
	if (modseq)
		job->changed = true;
	if (mailstore_msg_list(
	        imap_server_store(s->srv), s->user, s->folder, 0, &list, &nlist, &err) == 0) {
		for (size_t i = 0; i < n; i++) {
			const struct mailstore_msg *m = msg_find(list, nlist, uids[i]);
			size_t v = imap_view_find(s, uids[i]);
			bool was_failed = false;

			for (size_t k = 0; k < nfailed && !was_failed; k++)
				was_failed = failed[k] == uids[i];
			if (m == NULL || v == SIZE_MAX || was_failed)
				continue;
			if (!silent || (s->condstore && m->modseq == modseq)) {
				buf_printf(&job->out, "* %zu FETCH (", v + 1);
				if (!silent) {
					buf_append_str(&job->out, "FLAGS ");
					imap_out_flags(&job->out, m->flags | imap_view_recent(s, v),
					    m->keywords);
				}
				if (s->condstore)
					buf_printf(&job->out, "%sMODSEQ (%llu)", silent ? "" : " ",
					    (unsigned long long)m->modseq);
				if (job->uid)
					buf_printf(&job->out, " UID %u", m->uid);
				buf_append_str(&job->out, ")\r\n");
			}
			s->view[v].modseq = m->modseq;
		}
		mailstore_msg_list_free(&list, nlist);
	}
	free(uids);
	if (nfailed > 0) {
		struct buf fs;
		uint32_t *nums = xmalloc(nfailed * sizeof(*nums));
		size_t k = 0;

		for (size_t i = 0; i < nfailed; i++) {
			size_t v = imap_view_find(s, failed[i]);

			if (v != SIZE_MAX)
				nums[k++] = job->uid ? failed[i] : (uint32_t)v + 1;
		}
		buf_init(&fs, 0);
		imap_out_uidset(&fs, nums, k);
		imap_reply(job, "OK", "[MODIFIED %.*s] Conditional STORE failed", (int)fs.len,
		    (char *)fs.data);
		buf_fini(&fs);
		free(nums);
		free(failed);
		return;
	}
	free(failed);
	imap_reply(job, "OK", "STORE completed");
}

/* --- COPY / MOVE --------------------------------------------------------------- */

void
imap_cmd_copy(struct imap_session *s, struct imap_job *job)
{
	bool move = job->cmd->name[0] == 'M';
	const struct imap_arg *set = job->arg;
	char *to = set ? imap_arg_mailbox(set->next) : NULL;
	struct mailstore_copyuid cu;
	uint32_t *uids = NULL;
	size_t n = 0;
	const char *why = "Invalid sequence set";
	struct mn_err err;
	int rc;

	if (to == NULL || set->next->next != NULL) {
		free(to);
		imap_reply(job, "BAD", "%s needs a set and a mailbox", move ? "MOVE" : "COPY");
		return;
	}
	if (move && (s->user_flags & DIR_USER_READONLY)) {
		free(to);
		imap_reply(job, "NO", "[NOPERM] Account is read-only");
		return;
	}
	if (move && s->readonly) {
		free(to);
		imap_reply(job, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if (!imap_set_to_uids(s, set, job->uid, &uids, &n, &why)) {
		free(to);
		imap_reply(job, "BAD", "%s", why);
		return;
	}
	if (n == 0) {
		free(to);
		free(uids);
		imap_reply(job, "OK", "No messages");
		return;
	}
	memset(&cu, 0, sizeof(cu));
	if (move)
		rc = mailstore_move(
		    imap_server_store(s->srv), s->user, s->folder, uids, n, to, &cu, &err);
	else
		rc = mailstore_copy(imap_server_store(s->srv), s->user, s->folder, uids, n, to,
		    &s->quota, &cu, &err);
	free(to);
	free(uids);
	if (rc != 0) {
		if (rc == MN_ENOENT)
			imap_reply(job, "NO", "[TRYCREATE] Mailbox doesn't exist");
		else if (rc == MN_ENOQUOTA)
			imap_reply(job, "NO", "[OVERQUOTA] Quota exceeded");
		else
			imap_reply(job, "NO", "[SERVERBUG] %s failed", move ? "MOVE" : "COPY");
		return;
	}
	job->changed = true;
	if (cu.n == 0) {
		mailstore_copyuid_fini(&cu);
		imap_reply(job, "OK", "No messages");
		return;
	}
	{
		struct buf src, dst;
		uint32_t *sorted = xmemdup(cu.src_uids, cu.n * sizeof(uint32_t));

		buf_init(&src, 0);
		buf_init(&dst, 0);
		imap_out_uidset(&src, cu.src_uids, cu.n);
		imap_out_uidset(&dst, cu.dst_uids, cu.n);
		if (move) {
			size_t w = 0, g = 0;

			buf_printf(&job->out, "* OK [COPYUID %u %.*s %.*s] Moved\r\n",
			    cu.uidvalidity, (int)src.len, (char *)src.data, (int)dst.len,
			    (char *)dst.data);
			/* src uids are ascending (mailstore.h) */
			for (size_t i = 0; i < s->nview; i++) {
				if (g < cu.n && s->view[i].uid == sorted[g]) {
					buf_printf(&job->out, "* %zu EXPUNGE\r\n", w + 1);
					g++;
					continue;
				}
				s->view[w++] = s->view[i];
			}
			s->nview = w;
			imap_reply(job, "OK", "MOVE completed");
		} else {
			imap_reply(job, "OK", "[COPYUID %u %.*s %.*s] COPY completed",
			    cu.uidvalidity, (int)src.len, (char *)src.data, (int)dst.len,
			    (char *)dst.data);
		}
		free(sorted);
		buf_fini(&src);
		buf_fini(&dst);
	}
	mailstore_copyuid_fini(&cu);
}
