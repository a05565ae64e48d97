/*
 * util.c - pieces every IMAP command uses: argument strings and mailbox
 * names (modified UTF-7, RFC 3501 §5.1.3), quoted/literal output (§4.3,
 * §9 string), flag lists (§2.3.2), date-time (§9 date-time), sequence sets
 * over the session's view, and the report of changes made by other
 * sessions (§7.3.1 EXISTS, §7.4.1 EXPUNGE, §7.4.2 FETCH) that keeps the
 * view (sequence number -> UID, MODSEQ) in step with the store.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "node/imap/recent.h"
#include "node/imap/seqset.h"
#include "node/imap/session.h"
#include "node/imap/utf7.h"

bool
imap_arg_string(const struct imap_arg *a, struct slice *out)
{
	if (a == NULL || a->type == IMAP_ARG_LIST)
		return false;
	*out = a->str;
	return true;
}

char *
imap_arg_mailbox(const struct imap_arg *a)
{
	struct slice s;
	struct buf b;
	struct mn_err err;
	char *name;

	if (!imap_arg_string(a, &s) || s.len == 0 || s.len > MAILSTORE_MAX_FOLDER_NAME)
		return NULL;
	buf_init(&b, MAILSTORE_MAX_FOLDER_NAME * 4);
	if (imap_utf7_decode(s, &b, &err) != 0) {
		buf_fini(&b);
		return NULL;
	}
	name = xstrndup((char *)b.data, b.len);
	buf_fini(&b);
	/* "inbox", "Inbox/x": INBOX is case-insensitive (RFC 3501 §5.1) */
	if (ascii_ncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/'))
		memcpy(name, "INBOX", 5);
	/* "a/b/" means a/b (the hierarchy hint of CREATE) */
	{
		size_t n = strlen(name);

		if (n > 1 && name[n - 1] == '/')
			name[n - 1] = '\0';
	}
	if (name[0] == '\0' || name[0] == '/' || strstr(name, "//") != NULL) {
		free(name);
		return NULL;
	}
	return name;
}

void
imap_out_string(struct buf *out, const char *s, size_t len)
{
	bool quotable = len < 1024;

	for (size_t i = 0; quotable && i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch >= 0x7f)
			quotable = false;
	}
	if (!quotable) {
		buf_printf(out, "{%zu}\r\n", len);
		buf_append(out, s, len);
		return;
	}
	buf_append(out, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_append(out, "\\", 1);
		buf_append(out, &s[i], 1);
	}
	buf_append(out, "\"", 1);
}

void
imap_out_nstring(struct buf *out, const char *s)
{
	if (s == NULL)
		buf_append_str(out, "NIL");
	else
		imap_out_string(out, s, strlen(s));
}

void
imap_out_mailbox(struct buf *out, const char *utf8)
{
	struct buf b;
	struct mn_err err;

	buf_init(&b, 0);
	if (imap_utf7_encode(slice_from_cstr(utf8), &b, &err) != 0) {
		buf_reset(&b);
		buf_append_str(&b, utf8); /* cannot happen for stored names */
	}
	imap_out_string(out, (char *)b.data, b.len);
	buf_fini(&b);
}

static const struct {
	uint32_t bit;
	const char *name;
} sysflags[] = {
    {MAILSTORE_SEEN, "\\Seen"},
    {MAILSTORE_ANSWERED, "\\Answered"},
    {MAILSTORE_FLAGGED, "\\Flagged"},
    {MAILSTORE_DELETED, "\\Deleted"},
    {MAILSTORE_DRAFT, "\\Draft"},
};

void
imap_out_flags(struct buf *out, uint32_t flags, const char *keywords)
{
	bool first = true;

	buf_append(out, "(", 1);
	if (flags & IMAP_FLAG_RECENT) {
		buf_append_str(out, "\\Recent");
		first = false;
	}
	for (size_t i = 0; i < sizeof(sysflags) / sizeof(sysflags[0]); i++) {
		if (flags & sysflags[i].bit) {
			if (!first)
				buf_append(out, " ", 1);
			buf_append_str(out, sysflags[i].name);
			first = false;
		}
	}
	if (keywords != NULL && *keywords) {
		if (!first)
			buf_append(out, " ", 1);
		buf_append_str(out, keywords);
	}
	buf_append(out, ")", 1);
}

static bool
flag_one(struct slice f, uint32_t *flags, const char **kw, size_t *nkw, size_t kw_max, char *kwbuf,
    size_t kwbuf_len, size_t *kwused)
{
	if (f.len > 0 && f.ptr[0] == '\\') {
		for (size_t i = 0; i < sizeof(sysflags) / sizeof(sysflags[0]); i++) {
			if (slice_eq_nocase(f, sysflags[i].name)) {
				*flags |= sysflags[i].bit;
				return true;
			}
		}
		return false; /* \Recent cannot be stored; others unknown */
	}
	if (f.len == 0 || f.len > MAILSTORE_MAX_KEYWORD || *nkw >= kw_max ||
	    *kwused + f.len + 1 > kwbuf_len)
		return false;
	for (size_t i = 0; i < f.len; i++) {
		char c = f.ptr[i];

		/* atom-char minus resp-specials, list and quoted specials */
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	memcpy(kwbuf + *kwused, f.ptr, f.len);
	kwbuf[*kwused + f.len] = '\0';
	kw[(*nkw)++] = kwbuf + *kwused;
	*kwused += f.len + 1;
	return true;
}

bool
imap_parse_flags(const struct imap_arg *a, uint32_t *flags_out, const char **kw_out,
    size_t *nkw_out, size_t kw_max, char *kwbuf, size_t kwbuf_len)
{
	size_t kwused = 0;

	*flags_out = 0;
	*nkw_out = 0;
	if (a == NULL)
		return false;
	if (a->type == IMAP_ARG_ATOM)
		return flag_one(
		    a->str, flags_out, kw_out, nkw_out, kw_max, kwbuf, kwbuf_len, &kwused);
	if (a->type != IMAP_ARG_LIST)
		return false;
	for (const struct imap_arg *c = a->child; c; c = c->next) {
		if (c->type != IMAP_ARG_ATOM || !flag_one(c->str, flags_out, kw_out, nkw_out,
		                                    kw_max, kwbuf, kwbuf_len, &kwused))
			return false;
	}
	return true;
}

static const char *const months[] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void
imap_out_datetime(struct buf *out, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	buf_printf(out, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static bool
digits(const char *p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		*v = *v * 10 + (p[i] - '0');
	}
	return true;
}

int
imap_parse_datetime(struct slice s, int64_t *out)
{
	/* "dd-Mon-yyyy hh:mm:ss +zzzz", day may be " d" (date-day-fixed) */
	char b[27];
	struct tm tm;
	int day, year, hh, mm, ss, zh, zm, mon = -1;

	if (s.len != 26)
		return MN_EPARSE;
	memcpy(b, s.ptr, 26);
	b[26] = '\0';
	if (b[0] == ' ')
		b[0] = '0';
	if (!digits(b, 2, &day) || b[2] != '-' || b[6] != '-' || !digits(b + 7, 4, &year) ||
	    b[11] != ' ' || !digits(b + 12, 2, &hh) || b[14] != ':' || !digits(b + 15, 2, &mm) ||
	    b[17] != ':' || !digits(b + 18, 2, &ss) || b[20] != ' ' ||
	    (b[21] != '+' && b[21] != '-') || !digits(b + 22, 2, &zh) || !digits(b + 24, 2, &zm))
		return MN_EPARSE;
	for (int i = 0; i < 12; i++)
		if (ascii_ncasecmp(b + 3, months[i], 3) == 0)
			mon = i;
	if (mon < 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || zm > 59)
		return MN_EPARSE;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	*out = (int64_t)timegm(&tm) - (b[21] == '+' ? 1 : -1) * (int64_t)(zh * 3600 + zm * 60);
	return 0;
}

/* --- view ------------------------------------------------------------------ */

size_t
imap_view_find(const struct imap_session *s, uint32_t uid)
{
	size_t lo = 0, hi = s->nview;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->view[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->nview && s->view[lo].uid == uid ? lo : SIZE_MAX;
}

uint32_t
imap_view_recent(const struct imap_session *s, size_t v)
{
	return v < s->nview && s->view[v].recent ? IMAP_FLAG_RECENT : 0;
}

size_t
imap_view_nrecent(const struct imap_session *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nview; i++)
		n += s->view[i].recent;
	return n;
}

void
imap_sync_view(struct imap_session *s, struct buf *out, bool allow_expunge)
{
	struct mailstore_msg *list = NULL;
	size_t n = 0, i = 0, j = 0, nv = 0;
	struct imap_view_msg *nview;
	struct mn_err err;
	bool added = false;
	uint32_t mark = UINT32_MAX; /* no new message: none \Recent */
	int rc;

	if (s->folder == NULL)
		return;
	rc = mailstore_msg_list(imap_server_store(s->srv), s->user, s->folder, 0, &list, &n, &err);

	if (rc == MN_ENOENT) {
		s->gone = true; /* the session ends with BYE (session.c) */
		return;
	}
	if (rc != 0) {
		log_warn("imap", "sid=%s event=sync reason=\"%s\"", conn_id(s->c), err.msg);
		return;
	}
	if (n > 0 && (s->nview == 0 || list[n - 1].uid > s->view[s->nview - 1].uid))
		mark = imap_recent_take(s->user, s->folder, s->uidvalidity, list, n, !s->readonly);
	nview = xmalloc((s->nview + n + 1) * sizeof(*nview));
	while (i < s->nview) {
		while (j < n && list[j].uid < s->view[i].uid)
			j++; /* a uid below our highest we never saw: cannot happen */
		if (j < n && list[j].uid == s->view[i].uid) {
			nview[nv] = s->view[i];
			if (list[j].modseq > s->view[i].modseq) {
				buf_printf(out, "* %zu FETCH (FLAGS ", nv + 1);
				imap_out_flags(
				    out, list[j].flags | imap_view_recent(s, i), list[j].keywords);
				if (s->condstore)
					buf_printf(out, " MODSEQ (%llu)",
					    (unsigned long long)list[j].modseq);
				buf_printf(out, " UID %u)\r\n", list[j].uid);
				nview[nv].modseq = list[j].modseq;
			}
			nv++;
			j++;
		} else if (allow_expunge) {
			buf_printf(out, "* %zu EXPUNGE\r\n", nv + 1);
		} else {
			nview[nv++] = s->view[i]; /* stays until EXPUNGE may be sent */
		}
		i++;
	}
	for (; j < n; j++) {
		if (nv > 0 && list[j].uid <= nview[nv - 1].uid)
			continue;
		nview[nv].uid = list[j].uid;
		nview[nv].modseq = list[j].modseq;
		nview[nv].recent = list[j].uid > mark;
		nv++;
		added = true;
	}
	for (size_t k = 0; k < n; k++)
		if (list[k].modseq > s->highestmodseq)
			s->highestmodseq = list[k].modseq;
	free(s->view);
	s->view = nview;
	s->capview = s->nview + n + 1;
	s->nview = nv;
	if (added) /* RFC 3501 §7.3.2: RECENT comes with a size change */
		buf_printf(out, "* %zu EXISTS\r\n* %zu RECENT\r\n", nv, imap_view_nrecent(s));
	mailstore_msg_list_free(&list, n);
}

bool
imap_set_to_uids(struct imap_session *s, const struct imap_arg *a, bool uid, uint32_t **uids_out,
    size_t *n_out, const char **why)
{
	struct imap_seqset set;
	struct mn_err err;
	uint32_t *uids;
	size_t n = 0;

	*uids_out = NULL;
	*n_out = 0;
	if (a == NULL || a->type != IMAP_ARG_ATOM ||
	    imap_seqset_parse(a->str, IMAP_SEQSET_DEFAULT_MAX_RANGES, &set, &err) != 0) {
		*why = "Invalid sequence set";
		return false;
	}
	if (!uid && imap_seqset_max_number(&set) > s->nview) {
		imap_seqset_fini(&set);
		*why = "Invalid sequence number";
		return false;
	}
	uids = xmalloc((s->nview + 1) * sizeof(*uids));
	for (size_t i = 0; i < s->nview; i++) {
		bool in =
		    uid ? imap_seqset_contains(&set, s->view[i].uid, s->view[s->nview - 1].uid)
		        : imap_seqset_contains(&set, (uint32_t)(i + 1), (uint32_t)s->nview);
		if (in)
			uids[n++] = s->view[i].uid;
	}
	imap_seqset_fini(&set);
	*uids_out = uids;
	*n_out = n;
	return true;
}

void
imap_out_uidset(struct buf *out, const uint32_t *uids, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = i;

		while (k + 1 < n && uids[k + 1] == uids[k] + 1)
			k++;
		if (i > 0)
			buf_append(out, ",", 1);
		if (k == i)
			buf_printf(out, "%u", uids[i]);
		else
			buf_printf(out, "%u:%u", uids[i], uids[k]);
		i = k + 1;
	}
}
