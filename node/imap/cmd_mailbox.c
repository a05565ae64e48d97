/*
 * cmd_mailbox.c - IMAP commands on mailboxes (RFC 3501 §6.3, §6.4.1-3):
 * SELECT/EXAMINE (with CONDSTORE, RFC 7162 §3.1.2), CREATE, DELETE, RENAME,
 * SUBSCRIBE/UNSUBSCRIBE, LIST/LSUB (SPECIAL-USE RFC 6154, CHILDREN RFC 3348,
 * LIST-EXTENDED RFC 5258 selection and return options), STATUS, APPEND
 * (APPENDUID, RFC 4315), CHECK, CLOSE, UNSELECT (RFC 3691), EXPUNGE and
 * UID EXPUNGE, NOOP, IDLE (RFC 2177) and GETQUOTA/GETQUOTAROOT (RFC 9208).
 * All run on the thread pool (session.h).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "node/imap/recent.h"
#include "node/imap/session.h"
#include "storage/directory/directory.h"

#define SYSTEM_FLAGS "\\Answered \\Flagged \\Deleted \\Seen \\Draft"

static void
store_error(struct imap_job *job, int rc, const char *what)
{
	switch (rc) {
	case MN_ENOENT:
		imap_reply(job, "NO", "[NONEXISTENT] Mailbox doesn't exist");
		break;
	case MN_EEXIST:
		imap_reply(job, "NO", "[ALREADYEXISTS] Mailbox already exists");
		break;
	case MN_ECONFLICT:
		imap_reply(job, "NO", "[INUSE] Mailbox has children, delete them first");
		break;
	case MN_EPERM:
		imap_reply(job, "NO", "[CANNOT] INBOX cannot be deleted");
		break;
	case MN_EINVAL:
		imap_reply(job, "NO", "[CANNOT] Invalid mailbox name or argument");
		break;
	case MN_ENOQUOTA:
		imap_reply(job, "NO", "[OVERQUOTA] Quota exceeded");
		break;
	case MN_ELIMIT:
		imap_reply(job, "NO", "[LIMIT] Too many mailboxes or keywords");
		break;
	default:
		imap_reply(job, "NO", "[SERVERBUG] %s failed, try again later", what);
		break;
	}
}

static void
deselect(struct imap_session *s)
{
	free(s->folder);
	s->folder = NULL;
	free(s->view);
	s->view = NULL;
	s->nview = s->capview = 0;
	s->highestmodseq = 0;
	s->readonly = false;
	s->gone = false;
	s->state = IMAP_STATE_AUTH;
}

void
imap_cmd_noop(struct imap_session *s, struct imap_job *job)
{
	(void)s;
	job->sync = true;
	imap_reply(job, "OK", "NOOP completed");
}

void
imap_cmd_check(struct imap_session *s, struct imap_job *job)
{
	(void)s;
	job->sync = true;
	imap_reply(job, "OK", "CHECK completed");
}

void
imap_cmd_idle(struct imap_session *s, struct imap_job *job)
{
	if (job->arg != NULL) {
		imap_reply(job, "BAD", "IDLE takes no arguments");
		return;
	}
	job->sync = true;
	s->idling = true;
	s->idle_tag = xstrndup(job->tag.ptr, job->tag.len);
	buf_append_str(&job->out, "+ idling\r\n");
}

void
imap_cmd_select(struct imap_session *s, struct imap_job *job)
{
	bool examine = job->cmd->name[0] == 'E';
	char *name = imap_arg_mailbox(job->arg);
	struct mailstore_folder_info fi;
	struct mailstore_msg *list = NULL;
	size_t n = 0;
	struct mn_err err;
	int rc;
	uint32_t first_unseen = 0, mark;
	size_t nrecent = 0;

	if (name == NULL) {
		imap_reply(job, "BAD", "Invalid mailbox name");
		return;
	}
	if (job->arg->next != NULL) {
		const struct imap_arg *p = job->arg->next;

		if (p->type != IMAP_ARG_LIST || p->next != NULL || p->n_children != 1 ||
		    p->child->type != IMAP_ARG_ATOM ||
		    !slice_eq_nocase(p->child->str, "CONDSTORE")) {
			free(name);
			imap_reply(job, "BAD", "Unknown SELECT parameter");
			return;
		}
		s->condstore = true;
	}
	if (s->state == IMAP_STATE_SELECTED)
		deselect(s);
	memset(&fi, 0, sizeof(fi));
	rc = mailstore_folder_status(imap_server_store(s->srv), s->user, name, &fi, &err);
	if (rc == 0)
		rc = mailstore_msg_list(
		    imap_server_store(s->srv), s->user, name, 0, &list, &n, &err);
	if (rc != 0) {
		mailstore_folder_info_fini(&fi);
		free(name);
		store_error(job, rc, "SELECT");
		return;
	}
	s->folder = name;
	s->readonly = examine;
	s->uidvalidity = fi.uidvalidity;
	s->highestmodseq = fi.highestmodseq;
	/* RFC 3501 §2.3.2: SELECT takes the messages no session took yet as
	 * \Recent; EXAMINE sees them but leaves them to a later SELECT */
	mark = imap_recent_take(s->user, name, fi.uidvalidity, list, n, !examine);
	s->view = xmalloc((n + 1) * sizeof(*s->view));
	s->capview = n + 1;
	s->nview = n;
	for (size_t i = 0; i < n; i++) {
		s->view[i].uid = list[i].uid;
		s->view[i].modseq = list[i].modseq;
		s->view[i].recent = list[i].uid > mark;
		nrecent += s->view[i].recent;
		if (first_unseen == 0 && !(list[i].flags & MAILSTORE_SEEN))
			first_unseen = (uint32_t)i + 1;
		if (list[i].modseq > s->highestmodseq)
			s->highestmodseq = list[i].modseq;
	}
	mailstore_msg_list_free(&list, n);
	s->state = IMAP_STATE_SELECTED;
	buf_append_str(&job->out, "* FLAGS (" SYSTEM_FLAGS ")\r\n");
	if (examine)
		buf_append_str(&job->out, "* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n");
	else
		buf_append_str(
		    &job->out, "* OK [PERMANENTFLAGS (" SYSTEM_FLAGS " \\*)] Flags permitted\r\n");
	buf_printf(&job->out, "* %zu EXISTS\r\n* %zu RECENT\r\n", n, nrecent);
	if (first_unseen)
		buf_printf(&job->out, "* OK [UNSEEN %u] First unseen\r\n", first_unseen);
	buf_printf(&job->out, "* OK [UIDVALIDITY %u] UIDs valid\r\n", fi.uidvalidity);
	buf_printf(&job->out, "* OK [UIDNEXT %u] Predicted next UID\r\n", fi.uidnext);
	buf_printf(&job->out, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
	    (unsigned long long)(s->highestmodseq ? s->highestmodseq : 1));
	mailstore_folder_info_fini(&fi);
	imap_reply(job, "OK", "[%s] %s completed", examine ? "READ-ONLY" : "READ-WRITE",
	    examine ? "EXAMINE" : "SELECT");
}

void
imap_cmd_create(struct imap_session *s, struct imap_job *job)
{
	char *name = imap_arg_mailbox(job->arg);
	struct mn_err err;
	int rc;

	if (name == NULL) {
		imap_reply(job, "BAD", "Invalid mailbox name");
		return;
	}
	if (strcmp(name, "INBOX") == 0) {
		free(name);
		imap_reply(job, "NO", "[ALREADYEXISTS] INBOX always exists");
		return;
	}
	rc = mailstore_folder_create(imap_server_store(s->srv), s->user, name, NULL, &err);
	free(name);
	if (rc != 0) {
		store_error(job, rc, "CREATE");
		return;
	}
	job->changed = true;
	imap_reply(job, "OK", "CREATE completed");
}

void
imap_cmd_delete(struct imap_session *s, struct imap_job *job)
{
	char *name = imap_arg_mailbox(job->arg);
	struct mn_err err;
	int rc;

	if (name == NULL) {
		imap_reply(job, "BAD", "Invalid mailbox name");
		return;
	}
	if (s->user_flags & DIR_USER_READONLY) {
		free(name);
		imap_reply(job, "NO", "[NOPERM] Account is read-only");
		return;
	}
	rc = mailstore_folder_delete(imap_server_store(s->srv), s->user, name, &err);
	if (rc == 0 && s->folder != NULL && strcmp(s->folder, name) == 0)
		deselect(s);
	free(name);
	if (rc != 0) {
		store_error(job, rc, "DELETE");
		return;
	}
	job->changed = true;
	imap_reply(job, "OK", "DELETE completed");
}

void
imap_cmd_rename(struct imap_session *s, struct imap_job *job)
{
	char *from = imap_arg_mailbox(job->arg);
	char *to = job->arg ? imap_arg_mailbox(job->arg->next) : NULL;
	struct mn_err err;
	int rc = 0;

	if (from == NULL || to == NULL) {
		free(from);
		free(to);
		imap_reply(job, "BAD", "RENAME needs two mailbox names");
		return;
	}
	rc = mailstore_folder_rename(imap_server_store(s->srv), s->user, from, to, &err);
	if (rc == 0 && s->folder != NULL && strcmp(s->folder, from) == 0 &&
	    strcmp(from, "INBOX") != 0) {
		/* our selected mailbox keeps its UIDVALIDITY under the new name */
		free(s->folder);
		s->folder = xstrdup(to);
	}
	free(from);
	free(to);
	if (rc != 0) {
		store_error(job, rc, "RENAME");
		return;
	}
	job->changed = true;
	imap_reply(job, "OK", "RENAME completed");
}

void
imap_cmd_subscribe(struct imap_session *s, struct imap_job *job)
{
	bool sub = job->cmd->name[0] == 'S';
	char *name = imap_arg_mailbox(job->arg);
	struct mn_err err;
	int rc;

	if (name == NULL) {
		imap_reply(job, "BAD", "Invalid mailbox name");
		return;
	}
	rc = mailstore_folder_subscribe(imap_server_store(s->srv), s->user, name, sub, &err);
	free(name);
	if (rc != 0 && !(rc == MN_ENOENT && !sub)) {
		store_error(job, rc, sub ? "SUBSCRIBE" : "UNSUBSCRIBE");
		return;
	}
	imap_reply(job, "OK", "%s completed", sub ? "SUBSCRIBE" : "UNSUBSCRIBE");
}

/* LIST wildcard match (RFC 3501 §6.3.8): '*' matches anything, '%'
 * anything but the hierarchy separator. Backtracking is exponential in
 * the wildcards a client may send ("*a*a*a*...b"), so this walks the
 * pattern once, keeping the set of name positions reachable so far:
 * O(pattern x name) time. */
static bool
list_match(const char *p, const char *n)
{
	size_t nl = strlen(n);
	uint8_t *cur = xcalloc(nl + 1, 1), *nxt = xcalloc(nl + 1, 1), *t;
	bool any = true, match;

	cur[0] = 1;
	for (; *p && any; p++) {
		size_t first = nl + 1;

		any = false;
		memset(nxt, 0, nl + 1);
		for (size_t i = 0; i <= nl && first > nl; i++)
			if (cur[i])
				first = i;
		for (size_t i = 0; i <= nl; i++) {
			if (*p == '*')
				nxt[i] = i >= first;
			else if (*p == '%')
				nxt[i] = cur[i] || (i > 0 && nxt[i - 1] && n[i - 1] != '/');
			else
				nxt[i] = i > 0 && cur[i - 1] && n[i - 1] == *p;
			any |= nxt[i];
		}
		t = cur;
		cur = nxt;
		nxt = t;
	}
	match = any && cur[nl];
	free(cur);
	free(nxt);
	return match;
}

static char *
list_pattern(const struct imap_arg *ref, const struct imap_arg *pat)
{
	struct slice r, p;
	char *rs, *ps, *full;

	if (!imap_arg_string(ref, &r) || !imap_arg_string(pat, &p))
		return NULL;
	/* patterns hold '*' and '%', which mUTF-7 passes through */
	{
		struct imap_arg tmp = *pat;
		struct imap_arg tref = *ref;

		ps = p.len ? imap_arg_mailbox(&tmp) : xstrdup("");
		rs = r.len ? imap_arg_mailbox(&tref) : xstrdup("");
	}
	if (ps == NULL || rs == NULL) {
		free(ps);
		free(rs);
		return NULL;
	}
	full = xasprintf("%s%s", rs, ps);
	free(ps);
	free(rs);
	if (ascii_ncasecmp(full, "INBOX", 5) == 0 && (full[5] == '\0' || full[5] == '/'))
		memcpy(full, "INBOX", 5);
	return full;
}

void
imap_cmd_list(struct imap_session *s, struct imap_job *job)
{
	bool lsub = job->cmd->name[0] == 'L' && job->cmd->name[1] == 'S';
	const struct imap_arg *a = job->arg, *ref, *pats;
	bool sel_subscribed = false, sel_special = false;
	bool ret_subscribed = false, ret_children = true, ret_special = true;
	struct mailstore_folder_info *fl = NULL;
	size_t nf = 0;
	struct mn_err err;
	char **patterns = NULL;
	size_t np = 0;
	int rc;

	if (!lsub && a != NULL && a->type == IMAP_ARG_LIST) {
		for (const struct imap_arg *o = a->child; o; o = o->next) {
			if (o->type != IMAP_ARG_ATOM) {
				imap_reply(job, "BAD", "Bad selection option");
				return;
			}
			if (slice_eq_nocase(o->str, "SUBSCRIBED"))
				sel_subscribed = ret_subscribed = true;
			else if (slice_eq_nocase(o->str, "SPECIAL-USE"))
				sel_special = true;
			else if (!slice_eq_nocase(o->str, "RECURSIVEMATCH") &&
			         !slice_eq_nocase(o->str, "REMOTE")) {
				imap_reply(job, "BAD", "Unknown selection option");
				return;
			}
		}
		a = a->next;
	}
	ref = a;
	pats = a ? a->next : NULL;
	if (ref == NULL || pats == NULL) {
		imap_reply(
		    job, "BAD", "%s needs a reference and a pattern", lsub ? "LSUB" : "LIST");
		return;
	}
	if (pats->next != NULL) {
		const struct imap_arg *r = pats->next;

		if (lsub || r->type != IMAP_ARG_ATOM || !slice_eq_nocase(r->str, "RETURN") ||
		    r->next == NULL || r->next->type != IMAP_ARG_LIST || r->next->next != NULL) {
			imap_reply(job, "BAD", "Bad LIST arguments");
			return;
		}
		for (const struct imap_arg *o = r->next->child; o; o = o->next) {
			if (o->type != IMAP_ARG_ATOM)
				continue;
			if (slice_eq_nocase(o->str, "SUBSCRIBED"))
				ret_subscribed = true;
			else if (slice_eq_nocase(o->str, "CHILDREN"))
				ret_children = true;
			else if (slice_eq_nocase(o->str, "SPECIAL-USE"))
				ret_special = true;
		}
	}
	if (pats->type == IMAP_ARG_LIST && !lsub) {
		patterns = xcalloc(pats->n_children + 1, sizeof(*patterns));
		for (const struct imap_arg *p = pats->child; p; p = p->next)
			if ((patterns[np] = list_pattern(ref, p)) != NULL)
				np++;
	} else {
		patterns = xcalloc(1, sizeof(*patterns));
		if ((patterns[0] = list_pattern(ref, pats)) != NULL)
			np = 1;
	}
	if (np == 0) {
		free(patterns);
		imap_reply(job, "BAD", "Invalid mailbox pattern");
		return;
	}
	if (np == 1 && patterns[0][0] == '\0') {
		/* LIST "" "": the hierarchy delimiter (RFC 3501 §6.3.8) */
		buf_printf(&job->out, "* %s (\\Noselect) \"/\" \"\"\r\n", lsub ? "LSUB" : "LIST");
		free(patterns[0]);
		free(patterns);
		imap_reply(job, "OK", "%s completed", lsub ? "LSUB" : "LIST");
		return;
	}
	rc = mailstore_folder_list(imap_server_store(s->srv), s->user, &fl, &nf, &err);
	if (rc != 0) {
		for (size_t i = 0; i < np; i++)
			free(patterns[i]);
		free(patterns);
		store_error(job, rc, "LIST");
		return;
	}
	for (size_t i = 0; i < nf; i++) {
		bool match = false, children = false;
		size_t len = strlen(fl[i].name);

		for (size_t k = 0; k < np && !match; k++)
			match = list_match(patterns[k], fl[i].name);
		if (!match)
			continue;
		if ((lsub || sel_subscribed) && !fl[i].subscribed)
			continue;
		if (sel_special && fl[i].special_use == NULL)
			continue;
		for (size_t k = 0; k < nf && !children; k++)
			children =
			    strncmp(fl[k].name, fl[i].name, len) == 0 && fl[k].name[len] == '/';
		buf_printf(&job->out, "* %s (", lsub ? "LSUB" : "LIST");
		if (!lsub) {
			bool sp = false;

			if (ret_children) {
				buf_append_str(
				    &job->out, children ? "\\HasChildren" : "\\HasNoChildren");
				sp = true;
			}
			if (ret_subscribed && fl[i].subscribed) {
				buf_append_str(&job->out, sp ? " \\Subscribed" : "\\Subscribed");
				sp = true;
			}
			if (ret_special && fl[i].special_use != NULL) {
				if (sp)
					buf_append_str(&job->out, " ");
				buf_append_str(&job->out, fl[i].special_use);
			}
		}
		buf_append_str(&job->out, ") \"/\" ");
		imap_out_mailbox(&job->out, fl[i].name);
		buf_append_str(&job->out, "\r\n");
	}
	mailstore_folder_list_free(&fl, nf);
	for (size_t i = 0; i < np; i++)
		free(patterns[i]);
	free(patterns);
	imap_reply(job, "OK", "%s completed", lsub ? "LSUB" : "LIST");
}

/*
 * STATUS RECENT: the messages no read-write session took yet, plus, for
 * our own selected mailbox (RFC 3501 §6.3.10 discourages STATUS on it, but
 * allows it), those that are \Recent in this session.
 */
static int
status_recent(struct imap_session *s, const char *name, const struct mailstore_folder_info *fi,
    uint32_t *out, struct mn_err *err)
{
	struct mailstore_msg *list = NULL;
	uint32_t uidvalidity = fi->uidvalidity, mark;
	size_t n = 0;
	int rc;

	if (imap_recent_known(s->user, name, uidvalidity, &mark) && mark + 1 >= fi->uidnext) {
		/* nothing can be above the mark: no need to list the folder
		 * (clients ask STATUS ... RECENT of every folder, often) */
		*out = 0;
	} else {
		rc =
		    mailstore_msg_list(imap_server_store(s->srv), s->user, name, 0, &list, &n, err);
		if (rc != 0)
			return rc;
		*out = imap_recent_count(s->user, name, uidvalidity, list, n);
		mailstore_msg_list_free(&list, n);
	}
	if (s->folder != NULL && !s->readonly && strcmp(s->folder, name) == 0 &&
	    s->uidvalidity == uidvalidity)
		*out += (uint32_t)imap_view_nrecent(s); /* ours are below the mark */
	return 0;
}

void
imap_cmd_status(struct imap_session *s, struct imap_job *job)
{
	char *name = imap_arg_mailbox(job->arg);
	const struct imap_arg *items = job->arg ? job->arg->next : NULL;
	struct mailstore_folder_info fi;
	struct mn_err err;
	bool first = true, want_recent = false;
	uint32_t nrecent = 0;
	int rc;

	if (name == NULL || items == NULL || items->type != IMAP_ARG_LIST || items->next != NULL ||
	    items->n_children == 0) {
		free(name);
		imap_reply(job, "BAD", "STATUS needs a mailbox and a list of items");
		return;
	}
	for (const struct imap_arg *i = items->child; i; i = i->next) {
		if (i->type != IMAP_ARG_ATOM ||
		    !(slice_eq_nocase(i->str, "MESSAGES") || slice_eq_nocase(i->str, "RECENT") ||
		        slice_eq_nocase(i->str, "UIDNEXT") ||
		        slice_eq_nocase(i->str, "UIDVALIDITY") ||
		        slice_eq_nocase(i->str, "UNSEEN") ||
		        slice_eq_nocase(i->str, "HIGHESTMODSEQ") ||
		        slice_eq_nocase(i->str, "SIZE"))) {
			free(name);
			imap_reply(job, "BAD", "Unknown STATUS item");
			return;
		}
		want_recent |= slice_eq_nocase(i->str, "RECENT");
	}
	memset(&fi, 0, sizeof(fi));
	rc = mailstore_folder_status(imap_server_store(s->srv), s->user, name, &fi, &err);
	if (rc == 0 && want_recent)
		rc = status_recent(s, name, &fi, &nrecent, &err);
	if (rc != 0) {
		mailstore_folder_info_fini(&fi);
		free(name);
		store_error(job, rc, "STATUS");
		return;
	}
	buf_append_str(&job->out, "* STATUS ");
	imap_out_mailbox(&job->out, name);
	buf_append_str(&job->out, " (");
	for (const struct imap_arg *i = items->child; i; i = i->next) {
		if (!first)
			buf_append_str(&job->out, " ");
		first = false;
		if (slice_eq_nocase(i->str, "MESSAGES"))
			buf_printf(&job->out, "MESSAGES %u", fi.messages);
		else if (slice_eq_nocase(i->str, "RECENT"))
			buf_printf(&job->out, "RECENT %u", nrecent);
		else if (slice_eq_nocase(i->str, "UIDNEXT"))
			buf_printf(&job->out, "UIDNEXT %u", fi.uidnext);
		else if (slice_eq_nocase(i->str, "UIDVALIDITY"))
			buf_printf(&job->out, "UIDVALIDITY %u", fi.uidvalidity);
		else if (slice_eq_nocase(i->str, "UNSEEN"))
			buf_printf(&job->out, "UNSEEN %u", fi.unseen);
		else if (slice_eq_nocase(i->str, "SIZE"))
			buf_printf(&job->out, "SIZE %llu", (unsigned long long)fi.bytes);
		else
			buf_printf(&job->out, "HIGHESTMODSEQ %llu",
			    (unsigned long long)(fi.highestmodseq ? fi.highestmodseq : 1));
	}
	buf_append_str(&job->out, ")\r\n");
	mailstore_folder_info_fini(&fi);
	free(name);
	imap_reply(job, "OK", "STATUS completed");
}

void
imap_cmd_append(struct imap_session *s, struct imap_job *job)
{
	const struct imap_arg *a = job->arg;
	char *name = imap_arg_mailbox(a);
	uint32_t flags = 0, uid = 0, uidvalidity = 0;
	const char *kw[MAILSTORE_MAX_KEYWORDS];
	char kwbuf[MAILSTORE_MAX_KEYWORDS * (MAILSTORE_MAX_KEYWORD + 1)];
	size_t nkw = 0;
	int64_t date = (int64_t)time(NULL);
	struct mn_err err;
	int rc;

	if (name == NULL) {
		imap_reply(job, "BAD", "Invalid mailbox name");
		return;
	}
	a = a->next;
	if (a != NULL && a->type == IMAP_ARG_LIST) {
		if (!imap_parse_flags(
		        a, &flags, kw, &nkw, MAILSTORE_MAX_KEYWORDS, kwbuf, sizeof(kwbuf))) {
			free(name);
			imap_reply(job, "BAD", "Invalid flags");
			return;
		}
		a = a->next;
	}
	if (a != NULL && a->type == IMAP_ARG_QUOTED && a->next != NULL) {
		if (imap_parse_datetime(a->str, &date) != 0) {
			free(name);
			imap_reply(job, "BAD", "Invalid date-time");
			return;
		}
		a = a->next;
	}
	if (a == NULL || a->type != IMAP_ARG_LITERAL || a->next != NULL) {
		free(name);
		imap_reply(job, "BAD", "APPEND needs a message literal");
		return;
	}
	rc = mailstore_append(imap_server_store(s->srv), s->user, name, a->str.ptr, a->str.len,
	    flags, kw, nkw, date, &s->quota, &uid, &uidvalidity, &err);
	free(name);
	if (rc == MN_ENOENT) {
		imap_reply(job, "NO", "[TRYCREATE] Mailbox doesn't exist");
		return;
	}
	if (rc != 0) {
		store_error(job, rc, "APPEND");
		return;
	}
	job->changed = true;
	imap_reply(job, "OK", "[APPENDUID %u %u] APPEND completed", uidvalidity, uid);
}

/* expunge uids (NULL: all \Deleted) and report them */
static int
do_expunge(
    struct imap_session *s, struct imap_job *job, const uint32_t *uids, size_t n, bool report)
{
	uint32_t *gone = NULL;
	size_t ngone = 0, w = 0, g = 0;
	struct mn_err err;
	int rc;

	rc = mailstore_expunge(
	    imap_server_store(s->srv), s->user, s->folder, uids, n, true, &gone, &ngone, &err);
	if (rc != 0)
		return rc;
	/* drop from the view in one pass, reporting with shifting numbers */
	for (size_t i = 0; i < s->nview; i++) {
		if (g < ngone && s->view[i].uid == gone[g]) {
			if (report)
				buf_printf(&job->out, "* %zu EXPUNGE\r\n", w + 1);
			g++;
			continue;
		}
		s->view[w++] = s->view[i];
	}
	s->nview = w;
	if (ngone > 0)
		job->changed = true;
	free(gone);
	return 0;
}

void
imap_cmd_close(struct imap_session *s, struct imap_job *job)
{
	bool close = job->cmd->name[0] == 'C';

	if (job->arg != NULL) {
		imap_reply(job, "BAD", "No arguments expected");
		return;
	}
	if (close && !s->readonly && !(s->user_flags & DIR_USER_READONLY))
		(void)do_expunge(s, job, NULL, 0, false);
	deselect(s);
	imap_reply(job, "OK", "%s completed", close ? "CLOSE" : "UNSELECT");
}

void
imap_cmd_expunge(struct imap_session *s, struct imap_job *job)
{
	uint32_t *uids = NULL;
	size_t n = 0;
	const char *why;
	int rc;

	if (job->uid) {
		if (job->arg == NULL || job->arg->next != NULL ||
		    !imap_set_to_uids(s, job->arg, true, &uids, &n, &why)) {
			imap_reply(job, "BAD", "UID EXPUNGE needs a UID set");
			return;
		}
	} else if (job->arg != NULL) {
		imap_reply(job, "BAD", "EXPUNGE takes no arguments");
		return;
	}
	if (s->user_flags & DIR_USER_READONLY) {
		free(uids);
		imap_reply(job, "NO", "[NOPERM] Account is read-only");
		return;
	}
	if (s->readonly) {
		free(uids);
		imap_reply(job, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if (job->uid && n == 0) {
		free(uids);
		imap_reply(job, "OK", "EXPUNGE completed");
		return;
	}
	rc = do_expunge(s, job, uids, job->uid ? n : 0, true);
	free(uids);
	if (rc != 0) {
		store_error(job, rc, "EXPUNGE");
		return;
	}
	imap_reply(job, "OK", "EXPUNGE completed");
}

void
imap_cmd_getquota(struct imap_session *s, struct imap_job *job)
{
	bool root = strlen(job->cmd->name) > strlen("GETQUOTA");
	uint64_t bytes = 0, msgs = 0;
	struct mn_err err;
	struct slice r;
	char *name = NULL;
	bool sp = false;

	if (job->arg == NULL || job->arg->next != NULL || !imap_arg_string(job->arg, &r)) {
		imap_reply(job, "BAD", "%s needs one argument", job->cmd->name);
		return;
	}
	if (root) {
		struct mailstore_folder_info fi;

		name = imap_arg_mailbox(job->arg);
		memset(&fi, 0, sizeof(fi));
		if (name == NULL || mailstore_folder_status(
		                        imap_server_store(s->srv), s->user, name, &fi, &err) != 0) {
			free(name);
			mailstore_folder_info_fini(&fi);
			imap_reply(job, "NO", "[NONEXISTENT] Mailbox doesn't exist");
			return;
		}
		mailstore_folder_info_fini(&fi);
	} else if (r.len != 0) {
		imap_reply(job, "NO", "[NONEXISTENT] No such quota root");
		return;
	}
	if (mailstore_quota_usage(imap_server_store(s->srv), s->user, &bytes, &msgs, &err) != 0) {
		free(name);
		imap_reply(job, "NO", "[SERVERBUG] Quota lookup failed");
		return;
	}
	if (root) {
		buf_append_str(&job->out, "* QUOTAROOT ");
		imap_out_mailbox(&job->out, name);
		buf_append_str(&job->out, " \"\"\r\n");
	}
	buf_append_str(&job->out, "* QUOTA \"\" (");
	if (s->quota.max_bytes) {
		buf_printf(&job->out, "STORAGE %llu %llu",
		    (unsigned long long)((bytes + 1023) / 1024),
		    (unsigned long long)(s->quota.max_bytes / 1024));
		sp = true;
	}
	if (s->quota.max_messages)
		buf_printf(&job->out, "%sMESSAGE %llu %llu", sp ? " " : "",
		    (unsigned long long)msgs, (unsigned long long)s->quota.max_messages);
	buf_append_str(&job->out, ")\r\n");
	free(name);
	imap_reply(job, "OK", "%s completed", job->cmd->name);
}
