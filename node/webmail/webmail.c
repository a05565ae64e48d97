/*
 * webmail.c - the webmail JSON API (see webmail.h, docs/api.md).
 *
 * Order of checks: route (404/405), then for everything but login the
 * session cookie (401), the CSRF header on POST/PATCH/DELETE (403), the
 * account (401 deleted, 403 disabled, 503 homed elsewhere), the input
 * (400 with a reason), then one job on the thread pool. Mail store error
 * details stay in the log (mailstore.h: never shown to clients); clients
 * get a fixed reason per status.
 */
#include "node/webmail/webmail.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/utf8.h"
#include "lib/xalloc.h"
#include "node/admin/route.h"
#include "cluster/dirsvc.h"
#include "cluster/proto/rpc.pb-c.h"
#include "cluster/rpc/frame.h"
#include "cluster/rpc/rpc.h"
#include "lib/codec.h"
#include "node/smtp/server.h"
#include "node/webmail/compose.h"
#include "node/webmail/render.h"
#include "node/webmail/session.h"
#include "storage/directory/password.h"
#include "storage/message/header.h"
#include "storage/message/mime.h"
#include "storage/mailstore/mailstore.h"

/* the policy of a mail's HTML: no script (CSP sandbox without
 * allow-scripts), nothing loaded from anywhere (remote images are web
 * bugs), inline styles allowed (HTML mail is styled inline), framed only
 * by our own pages */
#define WEBMAIL_HTML_CSP                                                                           \
	"default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "           \
	"base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox"
/* the same when the user asked to see the remote images of one message
 * (?remote_images=1): images load from anywhere, nothing else does */
#define WEBMAIL_HTML_CSP_IMAGES                                                                    \
	"default-src 'none'; style-src 'unsafe-inline'; img-src data: http: https:; "              \
	"font-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox"

/* Verified in place of an unknown user's hash: an unknown address costs
 * the same time as a wrong password (the value of node/admin/auth.c). */
static const char dummy_hash[] =
    "$y$j9T$abcdefghijklmnopqrstu.$I5IIvbcRljdPIO7nBX6Teny6So.b9Md5QubS3lkATR2";

struct webmail {
	uv_loop_t *loop;
	struct directory *dir;
	struct limits *limits;
	struct mailstore *ms;
	struct smtp_server *smtp;
	struct dirsvc *svc;
	struct rpc_client *rpc; /* to the home nodes of users homed elsewhere */
	struct webmail_sessions *sessions;
	char *node_name;
	char *hostname;
};

enum wm_op {
	OP_LOGIN,
	OP_FOLDERS,
	OP_LIST,
	OP_GET,
	OP_HTML,
	OP_FLAGS,
	OP_MOVE,
	OP_DELETE,
	OP_COMPOSE, /* build the message to send (then smtp_server_submit) */
	OP_SENT,    /* the copy in Sent, \Answered on the original, draft gone */
	OP_DRAFT,   /* build and store in Drafts (replacing the old one) */
	OP_PART,    /* one attachment, decoded */
	OP_FOLDER_CREATE,
	OP_FOLDER_RENAME,
	OP_FOLDER_DELETE,
	OP_EMPTY,
	OP_PASSWORD, /* verify the current password, hash the new one */
};

enum wm_sort { SORT_DATE, SORT_FROM, SORT_SUBJECT, SORT_SIZE };

struct wm_req {
	struct webmail *wm;
	struct http_exchange *x;
	const struct http_request *req;
	enum api_method method;
	char *seg[API_MAX_SEGMENTS];
	size_t nseg;
	json_t *body;
	char *user;
	bool tls;
	/* the job */
	uv_work_t w;
	enum wm_op op;
	char *folder, *to;
	uint32_t uid;
	char *password, *hash; /* login */
	bool login_ok;
	enum wm_sort sort;
	bool desc;
	uint64_t offset, limit;
	int set_seen, set_flagged; /* -1: unchanged, 0 clear, 1 set */
	/* list filters (NULL / -1: none) */
	char *f_any, *f_from, *f_to, *f_subject, *f_body;
	int f_unread, f_flagged;
	bool remote_images; /* OP_HTML: the user asked for them */
	/* compose */
	struct webmail_compose comp;
	char *ref_folder; /* replying to: that message (In-Reply-To) */
	uint32_t ref_uid;
	char *fwd_folder; /* forwarding: that message's attachments go along */
	uint32_t fwd_uid;
	uint32_t draft_uid; /* the draft replaced / sent (0: none) */
	struct buf msg;
	char *message_id, *queue_id;
	uint32_t stored_uid;
	char **rcpts;
	size_t nrcpts;
	/* download */
	char *part, *ctype, *fname;
	/* settings: directory writes done one after the other */
	char *set_name;
	char *pref_key[4], *pref_val[4];
	size_t npref, step;
	char *new_password, *new_hash;
	/* results */
	int rc;
	struct mn_err err;
	int status;
	json_t *out;
	struct buf html;
};

static const char *const method_names[] = {"GET", "POST", "PATCH", "DELETE", "PUT", "?"};

bool
webmail_home_elsewhere(const char *home_node, const char *node_name)
{
	return home_node != NULL && *home_node != '\0' && node_name != NULL &&
	       strcmp(home_node, node_name) != 0;
}

void
webmail_new(
    uv_loop_t *loop, struct directory *dir, const struct webmail_config *cfg, struct webmail **out)
{
	struct webmail *wm = xcalloc(1, sizeof(*wm));

	wm->loop = loop;
	wm->dir = dir;
	wm->limits = cfg->limits;
	wm->svc = cfg->svc;
	wm->node_name = xstrdup(cfg->node_name ? cfg->node_name : "");
	wm->hostname = xstrdup(cfg->hostname ? cfg->hostname : "localhost");
	webmail_sessions_new(&wm->sessions);
	*out = wm;
}

void
webmail_free(struct webmail **wmp)
{
	struct webmail *wm = *wmp;

	if (wm == NULL)
		return;
	webmail_sessions_free(&wm->sessions);
	free(wm->node_name);
	free(wm->hostname);
	free(wm);
	*wmp = NULL;
}

void
webmail_set_store(struct webmail *wm, struct mailstore *ms)
{
	wm->ms = ms;
}

void
webmail_set_smtp(struct webmail *wm, struct smtp_server *smtp)
{
	wm->smtp = smtp;
}

bool
webmail_owns_path(const char *path, size_t len)
{
	size_t plen = strlen(WEBMAIL_PREFIX);

	return len >= plen && memcmp(path, WEBMAIL_PREFIX, plen) == 0 &&
	       (len == plen || path[plen] == '/');
}

/* --- replies ---------------------------------------------------------- */

static void
req_free(struct wm_req *r)
{
	api_segments_free(r->seg, r->nseg);
	if (r->body != NULL)
		json_decref(r->body);
	if (r->out != NULL)
		json_decref(r->out);
	if (r->password != NULL) {
		OPENSSL_cleanse(r->password, strlen(r->password));
		free(r->password);
	}
	free(r->hash);
	free(r->user);
	free(r->folder);
	free(r->to);
	buf_fini(&r->html);
	free(r->f_any);
	free(r->f_from);
	free(r->f_to);
	free(r->f_subject);
	free(r->f_body);
	webmail_compose_fini(&r->comp);
	free(r->ref_folder);
	free(r->fwd_folder);
	buf_fini(&r->msg);
	free(r->message_id);
	free(r->queue_id);
	for (size_t i = 0; i < r->nrcpts; i++)
		free(r->rcpts[i]);
	free(r->rcpts);
	free(r->part);
	free(r->ctype);
	free(r->fname);
	free(r->set_name);
	for (size_t i = 0; i < r->npref; i++) {
		free(r->pref_key[i]);
		free(r->pref_val[i]);
	}
	if (r->new_password != NULL) {
		OPENSSL_cleanse(r->new_password, strlen(r->new_password));
		free(r->new_password);
	}
	free(r->new_hash);
	free(r);
}

static void
req_log(struct wm_req *r, int status)
{
	char path[128];

	log_msg(r->method == API_GET ? LOG_DEBUG : LOG_INFO, "webmail",
	    "event=request user=%s method=%s path=%s status=%d", r->user ? r->user : "-",
	    method_names[r->method],
	    log_escape(path, sizeof(path), r->req->path.ptr, r->req->path.len), status);
}

static void
reply_json(struct wm_req *r, int status, json_t *j)
{
	req_log(r, status);
	http_reply_json(r->x, status, j);
	req_free(r);
}

static void
reply_empty(struct wm_req *r, int status)
{
	req_log(r, status);
	http_reply(r->x, status, NULL, NULL, 0);
	req_free(r);
}

static void reply_error(struct wm_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
reply_error(struct wm_req *r, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	req_log(r, status);
	http_reply_error(r->x, status, "%s", msg);
	req_free(r);
}

/* a mail store failure: fixed reason per status, detail in the log */
static void
reply_store_error(struct wm_req *r)
{
	switch (r->rc) {
	case MN_ENOENT:
		reply_error(r, 404, "no such folder or message");
		return;
	case MN_EINVAL:
		reply_error(r, 400, "bad folder name");
		return;
	case MN_EEXIST:
		reply_error(r, 409, "already exists");
		return;
	case MN_ENOQUOTA:
		reply_error(r, 507, "mailbox over quota");
		return;
	case MN_ETOOBIG:
		reply_error(r, 413, "message too large to show");
		return;
	case MN_EPERM:
		reply_error(r, 400, "not allowed on this folder");
		return;
	case MN_ECONFLICT:
		reply_error(r, 409, "the folder has subfolders");
		return;
	default:
		log_error("webmail", "event=store_error user=%s code=%d reason=\"%s\"", r->user,
		    r->rc, r->err.msg[0] ? r->err.msg : mn_strerror(r->rc));
		reply_error(r, 500, "internal error");
	}
}

/* --- jobs (thread pool) ------------------------------------------------ */

static json_t *
flags_json(uint32_t f)
{
	return json_pack("{s:b, s:b, s:b, s:b}", "seen", (f & MAILSTORE_SEEN) != 0, "flagged",
	    (f & MAILSTORE_FLAGGED) != 0, "answered", (f & MAILSTORE_ANSWERED) != 0, "draft",
	    (f & MAILSTORE_DRAFT) != 0);
}

/* the message uid of folder, or MN_ENOENT; *copy gets its list entry.
 * XXX: lists the whole folder to find one message; the store has no
 * single-message lookup yet (one indexed query, cheap next to reading the
 * body, but linear in the folder size) */
static int
find_msg(struct wm_req *r, const char *folder, struct mailstore_msg *copy)
{
	struct mailstore_msg *list = NULL;
	size_t n = 0;
	int rc;

	rc = mailstore_msg_list(r->wm->ms, r->user, folder, 0, &list, &n, &r->err);
	if (rc != 0)
		return rc;
	rc = MN_ENOENT;
	for (size_t i = 0; i < n; i++)
		if (list[i].uid == r->uid) {
			*copy = list[i];
			copy->keywords = NULL;
			rc = 0;
			break;
		}
	mailstore_msg_list_free(&list, n);
	return rc;
}

static json_t *
summary_of(struct wm_req *r, const struct mailstore_msg *m)
{
	struct buf h;
	json_t *s;

	buf_init(&h, 256 * 1024);
	if (mailstore_header_read(r->wm->ms, r->user, r->folder, m->uid, 256 * 1024, &h, &r->err) !=
	    0)
		buf_reset(&h); /* over-long or gone: shown without headers */
	s = webmail_summary_json(h.len ? (const char *)h.data : "", h.len);
	buf_fini(&h);
	json_object_set_new(s, "uid", json_integer(m->uid));
	json_object_set_new(s, "size", json_integer((json_int_t)m->size));
	json_object_set_new(s, "internal_date", json_integer((json_int_t)m->internal_date));
	json_object_set_new(s, "flags", flags_json(m->flags));
	return s;
}

struct sort_item {
	const struct mailstore_msg *m;
	json_t *summary; /* from/subject sorts only */
	const char *key;
};

static int
cmp_item(const void *a, const void *b, void *arg)
{
	const struct sort_item *x = a, *y = b;
	const struct wm_req *r = arg;
	int c = 0;

	switch (r->sort) {
	case SORT_DATE:
		c = x->m->internal_date < y->m->internal_date   ? -1
		    : x->m->internal_date > y->m->internal_date ? 1
		                                                : 0;
		break;
	case SORT_SIZE:
		c = x->m->size < y->m->size ? -1 : x->m->size > y->m->size ? 1 : 0;
		break;
	case SORT_FROM:
	case SORT_SUBJECT:
		c = strcasecmp(x->key, y->key);
		break;
	}
	if (c == 0)
		c = x->m->uid < y->m->uid ? -1 : x->m->uid > y->m->uid ? 1 : 0;
	return r->desc ? -c : c;
}

static const char *
sort_key(json_t *s, enum wm_sort sort)
{
	const char *k;

	if (sort == SORT_SUBJECT) {
		k = json_string_value(json_object_get(s, "subject"));
	} else {
		json_t *from = json_object_get(s, "from");

		k = json_string_value(json_object_get(from, "name"));
		if (k == NULL || *k == '\0')
			k = json_string_value(json_object_get(from, "address"));
	}
	return k ? k : "";
}

/* case-insensitive (ASCII) substring; UTF-8 beyond ASCII matches exactly */
static bool
text_has(const char *hay, const char *needle)
{
	return needle == NULL || strcasestr(hay, needle) != NULL;
}

/* the message matches the text filters (header fields decoded, the body
 * through the MIME parser); a message that cannot be read does not */
static bool
msg_matches(struct wm_req *r, const struct mailstore_msg *m)
{
	struct buf h;
	bool ok = true;

	if (r->f_any == NULL && r->f_from == NULL && r->f_to == NULL && r->f_subject == NULL &&
	    r->f_body == NULL)
		return true;
	buf_init(&h, 256 * 1024);
	if (mailstore_header_read(r->wm->ms, r->user, r->folder, m->uid, 256 * 1024, &h, &r->err) !=
	    0) {
		buf_fini(&h);
		return false;
	}
	{
		const char *hd = h.len ? (const char *)h.data : "";
		char *from = webmail_header_field_text(hd, h.len, "From", true);
		char *subj = webmail_header_field_text(hd, h.len, "Subject", false);
		char *to = NULL;

		if (r->f_to != NULL || r->f_any != NULL) {
			char *t = webmail_header_field_text(hd, h.len, "To", true);
			char *c = webmail_header_field_text(hd, h.len, "Cc", true);

			to = xasprintf("%s %s", t, c);
			free(t);
			free(c);
		}
		ok = text_has(from, r->f_from) && text_has(subj, r->f_subject) &&
		     (r->f_to == NULL || text_has(to, r->f_to));
		if (ok && r->f_any != NULL)
			ok = text_has(from, r->f_any) || text_has(subj, r->f_any) ||
			     text_has(to, r->f_any);
		free(from);
		free(subj);
		free(to);
	}
	buf_fini(&h);
	if (ok && r->f_body != NULL) {
		struct buf raw, text;

		buf_init(&raw, WEBMAIL_MAX_MESSAGE);
		buf_init(&text, WEBMAIL_MAX_TEXT * 2);
		ok = mailstore_body_read(r->wm->ms, r->user, r->folder, m->uid, 0,
		         WEBMAIL_MAX_MESSAGE, &raw, &r->err) == 0;
		if (ok) {
			(void)webmail_message_body_text(
			    raw.len ? (const char *)raw.data : "", raw.len, &text);
			ok = text_has(buf_cstr(&text), r->f_body);
		}
		buf_fini(&raw);
		buf_fini(&text);
	}
	return ok;
}

static void
job_list(struct wm_req *r)
{
	struct mailstore_msg *list = NULL;
	struct sort_item *items;
	size_t n = 0, k = 0;
	json_t *page;

	r->rc = mailstore_msg_list(r->wm->ms, r->user, r->folder, 0, &list, &n, &r->err);
	if (r->rc != 0)
		return;
	items = xcalloc(n ? n : 1, sizeof(*items));
	for (size_t i = 0; i < n; i++) {
		/* flag filters first: they cost nothing */
		if (r->f_unread > 0 && (list[i].flags & MAILSTORE_SEEN))
			continue;
		if (r->f_flagged > 0 && !(list[i].flags & MAILSTORE_FLAGGED))
			continue;
		/* XXX: text filters read every header (and for body, every
		 * message) of the folder: no search index yet */
		if (!msg_matches(r, &list[i]))
			continue;
		items[k].m = &list[i];
		/* XXX: from/subject sorts read every header of the folder; a
		 * sort column in the index would make them as cheap as date */
		if (r->sort == SORT_FROM || r->sort == SORT_SUBJECT) {
			items[k].summary = summary_of(r, &list[i]);
			items[k].key = sort_key(items[k].summary, r->sort);
		}
		k++;
	}
	qsort_r(items, k, sizeof(*items), cmp_item, r);
	page = json_array();
	for (uint64_t i = r->offset; i < k && i < r->offset + r->limit; i++)
		json_array_append_new(page,
		    items[i].summary ? json_incref(items[i].summary) : summary_of(r, items[i].m));
	for (size_t i = 0; i < k; i++)
		if (items[i].summary != NULL)
			json_decref(items[i].summary);
	free(items);
	r->out = json_pack("{s:s, s:I, s:I, s:I, s:o}", "folder", r->folder, "total", (json_int_t)k,
	    "offset", (json_int_t)r->offset, "limit", (json_int_t)r->limit, "messages", page);
	mailstore_msg_list_free(&list, n);
}

static void
job_folders(struct wm_req *r)
{
	struct mailstore_folder_info *f = NULL;
	size_t n = 0;
	json_t *arr;

	r->rc = mailstore_folder_list(r->wm->ms, r->user, &f, &n, &r->err);
	if (r->rc != 0)
		return;
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
		    arr, json_pack("{s:s, s:s?, s:I, s:I, s:I}", "name", f[i].name, "special_use",
		             f[i].special_use, "messages", (json_int_t)f[i].messages, "unseen",
		             (json_int_t)f[i].unseen, "bytes", (json_int_t)f[i].bytes));
	mailstore_folder_list_free(&f, n);
	r->out = json_pack("{s:o}", "folders", arr);
}

static void
job_get(struct wm_req *r, bool html)
{
	struct mailstore_msg m;
	struct buf raw;

	if ((r->rc = find_msg(r, r->folder, &m)) != 0)
		return;
	buf_init(&raw, WEBMAIL_MAX_MESSAGE);
	r->rc = mailstore_body_read(
	    r->wm->ms, r->user, r->folder, r->uid, 0, WEBMAIL_MAX_MESSAGE, &raw, &r->err);
	if (r->rc == 0 && html) {
		buf_init(&r->html, WEBMAIL_MAX_TEXT);
		r->rc =
		    webmail_message_html(raw.len ? (const char *)raw.data : "", raw.len, &r->html);
		if (r->rc == MN_ENOENT)
			r->status = 404; /* the message is there, its HTML is not */
	} else if (r->rc == 0) {
		r->out = webmail_message_json(raw.len ? (const char *)raw.data : "", raw.len);
		if (r->out == NULL) {
			r->rc = MN_EINVAL;
		} else {
			json_object_set_new(r->out, "folder", json_string(r->folder));
			json_object_set_new(r->out, "uid", json_integer(m.uid));
			json_object_set_new(r->out, "size", json_integer((json_int_t)m.size));
			json_object_set_new(
			    r->out, "internal_date", json_integer((json_int_t)m.internal_date));
			json_object_set_new(r->out, "flags", flags_json(m.flags));
		}
	}
	buf_fini(&raw);
}

static void
job_flags(struct wm_req *r)
{
	struct mailstore_msg m;
	uint32_t add = 0, rem = 0;

	if ((r->rc = find_msg(r, r->folder, &m)) != 0)
		return;
	if (r->set_seen >= 0)
		*(r->set_seen ? &add : &rem) |= MAILSTORE_SEEN;
	if (r->set_flagged >= 0)
		*(r->set_flagged ? &add : &rem) |= MAILSTORE_FLAGGED;
	if (add != 0 && (r->rc = mailstore_flags_store(r->wm->ms, r->user, r->folder, &r->uid, 1,
	                     MAILSTORE_FLAGS_ADD, add, NULL, 0, 0, NULL, NULL, NULL, &r->err)) != 0)
		return;
	if (rem != 0 &&
	    (r->rc = mailstore_flags_store(r->wm->ms, r->user, r->folder, &r->uid, 1,
	         MAILSTORE_FLAGS_REMOVE, rem, NULL, 0, 0, NULL, NULL, NULL, &r->err)) != 0)
		return;
	if ((r->rc = find_msg(r, r->folder, &m)) != 0)
		return;
	r->out = json_pack("{s:I, s:o}", "uid", (json_int_t)r->uid, "flags", flags_json(m.flags));
}

/* name of the user's \Trash folder ("Trash" if none is marked) */
/* the folder with that special use (RFC 6154), or the default name */
static char *
special_folder(struct wm_req *r, const char *use, const char *def)
{
	struct mailstore_folder_info *f = NULL;
	size_t n = 0;
	char *name = NULL;

	if (mailstore_folder_list(r->wm->ms, r->user, &f, &n, &r->err) == 0) {
		for (size_t i = 0; i < n && name == NULL; i++)
			if (f[i].special_use != NULL && strcmp(f[i].special_use, use) == 0)
				name = xstrdup(f[i].name);
		mailstore_folder_list_free(&f, n);
	}
	return name ? name : xstrdup(def);
}

static char *
trash_name(struct wm_req *r)
{
	return special_folder(r, "\\Trash", "Trash");
}

static void
job_move(struct wm_req *r)
{
	struct mailstore_copyuid cu;
	struct mailstore_msg m;
	struct mailstore_folder_info info;

	memset(&cu, 0, sizeof(cu));
	if ((r->rc = find_msg(r, r->folder, &m)) != 0)
		return;
	if (r->op == OP_DELETE) {
		r->to = trash_name(r);
		if (strcmp(r->to, r->folder) == 0) {
			/* deleting in the Trash removes for good */
			r->rc = mailstore_expunge(
			    r->wm->ms, r->user, r->folder, &r->uid, 1, false, NULL, NULL, &r->err);
			r->status = 204;
			return;
		}
	}
	memset(&info, 0, sizeof(info));
	if (mailstore_folder_status(r->wm->ms, r->user, r->to, &info, &r->err) != 0) {
		r->status = 400; /* the target is input: a bad one is a bad request */
		r->rc = MN_ENOENT;
		return;
	}
	mailstore_folder_info_fini(&info);
	if (strcmp(r->to, r->folder) == 0) {
		r->out = json_pack("{s:s, s:I}", "folder", r->to, "uid", (json_int_t)r->uid);
		return;
	}
	r->rc = mailstore_move(r->wm->ms, r->user, r->folder, &r->uid, 1, r->to, &cu, &r->err);
	if (r->rc == 0)
		r->out = json_pack("{s:s, s:I}", "folder", r->to, "uid",
		    (json_int_t)(cu.n == 1 ? cu.dst_uids[0] : 0));
	mailstore_copyuid_fini(&cu);
}

/* --- compose, send, drafts ---------------------------------------------- */

static bool media_type_ok(const char *t);

/* the Message-ID of the message replied to, as In-Reply-To, and the
 * References (RFC 5322 §3.6.4): its References (or In-Reply-To) then its
 * Message-ID, the first and the last 10 ids kept, one per folded line */
static int
compose_refs(struct wm_req *r)
{
	struct buf h, u;
	struct slice v;
	const char *hd;
	char *ids[64];
	size_t nids = 0;
	int rc;

	if (r->ref_folder == NULL)
		return 0;
	buf_init(&h, 256 * 1024);
	rc = mailstore_header_read(
	    r->wm->ms, r->user, r->ref_folder, r->ref_uid, 256 * 1024, &h, &r->err);
	if (rc != 0) {
		buf_fini(&h);
		return rc == MN_ETOOBIG ? 0 : rc;
	}
	hd = h.len ? (const char *)h.data : "";
	buf_init(&u, 64 * 1024);
	if (mime_header_get(hd, h.len, "References", &v) ||
	    mime_header_get(hd, h.len, "In-Reply-To", &v)) {
		(void)header_unfold(v, &u);
		for (char *save = NULL, *t = strtok_r((char *)buf_cstr(&u), " \t", &save);
		     t != NULL && nids < 60; t = strtok_r(NULL, " \t", &save))
			if (t[0] == '<' && t[strlen(t) - 1] == '>' && strlen(t) < 250 &&
			    webmail_header_text_ok(t, 250))
				ids[nids++] = xstrdup(t);
	}
	buf_reset(&u);
	if (mime_header_get(hd, h.len, "Message-ID", &v)) {
		(void)header_unfold(v, &u);
		{
			struct slice t =
			    slice_trim((struct slice){.ptr = (const char *)u.data, .len = u.len});
			char *id = slice_dup(t);

			if (id[0] == '<' && id[strlen(id) - 1] == '>' && strlen(id) < 250 &&
			    strchr(id, ' ') == NULL && webmail_header_text_ok(id, 250)) {
				r->comp.in_reply_to = xstrdup(id);
				ids[nids++] = id;
			} else {
				free(id);
			}
		}
	}
	if (nids > 0) {
		struct buf refs;

		buf_init(&refs, 0);
		for (size_t i = 0; i < nids; i++) {
			if (i > 0 && i < nids - 10)
				continue; /* the first one, then the last 10 */
			if (refs.len > 0)
				buf_append_str(&refs, "\r\n ");
			buf_append_str(&refs, ids[i]);
		}
		r->comp.references = buf_steal(&refs, NULL);
	}
	for (size_t i = 0; i < nids; i++)
		free(ids[i]);
	buf_fini(&u);
	buf_fini(&h);
	return 0;
}

/* the attachments of the message forwarded, after the uploaded ones,
 * within the same total limit */
static int
forward_attachments(struct wm_req *r)
{
	struct buf raw;
	json_t *j, *atts, *a;
	size_t i, total = 0;
	int rc;

	if (r->fwd_folder == NULL)
		return 0;
	for (i = 0; i < r->comp.natt; i++)
		total += r->comp.att[i].len;
	buf_init(&raw, WEBMAIL_MAX_MESSAGE);
	rc = mailstore_body_read(
	    r->wm->ms, r->user, r->fwd_folder, r->fwd_uid, 0, WEBMAIL_MAX_MESSAGE, &raw, &r->err);
	if (rc != 0) {
		buf_fini(&raw);
		return rc;
	}
	j = webmail_message_json(raw.len ? (const char *)raw.data : "", raw.len);
	atts = json_object_get(j, "attachments");
	r->comp.att = xrealloc(
	    r->comp.att, (r->comp.natt + json_array_size(atts) + 1) * sizeof(*r->comp.att));
	json_array_foreach(atts, i, a)
	{
		struct webmail_attachment *w = &r->comp.att[r->comp.natt];
		struct buf data;
		char *type = NULL, *fname = NULL;

		if (r->comp.natt >= WEBMAIL_MAX_ATTACH_COUNT)
			break;
		buf_init(&data, WEBMAIL_MAX_ATTACH);
		if (webmail_message_part(raw.len ? (const char *)raw.data : "", raw.len,
		        json_string_value(json_object_get(a, "part")), &data, &type, &fname) == 0 &&
		    total + data.len <= WEBMAIL_MAX_ATTACH) {
			memset(w, 0, sizeof(*w));
			total += data.len;
			w->content_type = media_type_ok(type) ? xstrdup(type)
			                                      : xstrdup("application/octet-stream");
			w->filename = fname && webmail_header_text_ok(fname, WEBMAIL_MAX_FILENAME)
			                  ? xstrdup(fname)
			                  : xasprintf("part-%zu", i + 1);
			w->len = data.len;
			w->data = (uint8_t *)buf_steal(&data, NULL);
			r->comp.natt++;
		}
		buf_fini(&data);
		free(type);
		free(fname);
	}
	json_decref(j);
	buf_fini(&raw);
	return 0;
}

static void
job_compose(struct wm_req *r)
{
	uint32_t uid = 0;

	if ((r->rc = compose_refs(r)) != 0 || (r->rc = forward_attachments(r)) != 0)
		return;
	r->comp.date = (int64_t)time(NULL);
	r->comp.hostname = r->wm->hostname;
	buf_init(&r->msg, (size_t)WEBMAIL_MAX_REQUEST * 2);
	r->rc = webmail_compose_build(&r->comp, &r->msg, &r->message_id);
	if (r->rc != 0 || r->op != OP_DRAFT)
		return;
	r->folder = special_folder(r, "\\Drafts", "Drafts");
	r->rc = mailstore_append(r->wm->ms, r->user, r->folder, r->msg.data, r->msg.len,
	    MAILSTORE_SEEN | MAILSTORE_DRAFT, NULL, 0, r->comp.date, NULL, &uid, NULL, &r->err);
	if (r->rc != 0)
		return;
	if (r->draft_uid != 0 && r->draft_uid != uid)
		(void)mailstore_expunge(
		    r->wm->ms, r->user, r->folder, &r->draft_uid, 1, false, NULL, NULL, &r->err);
	r->out = json_pack("{s:s, s:I, s:s}", "folder", r->folder, "uid", (json_int_t)uid,
	    "message_id", r->message_id);
}

/* after the queue took it: the copy in Sent (Seen), the original marked
 * Answered, the draft it came from removed. The mail is on its way
 * whatever happens here, so failures are logged, not answered. */
static void
job_sent(struct wm_req *r)
{
	char *sent = special_folder(r, "\\Sent", "Sent");
	uint32_t uid = 0;
	int rc;

	rc = mailstore_append(r->wm->ms, r->user, sent, r->msg.data, r->msg.len, MAILSTORE_SEEN,
	    NULL, 0, r->comp.date, NULL, &uid, NULL, &r->err);
	if (rc != 0)
		log_warn("webmail", "event=sent_copy user=%s result=fail reason=\"%s\"", r->user,
		    r->err.msg);
	if (r->ref_folder != NULL)
		(void)mailstore_flags_store(r->wm->ms, r->user, r->ref_folder, &r->ref_uid, 1,
		    MAILSTORE_FLAGS_ADD, MAILSTORE_ANSWERED, NULL, 0, 0, NULL, NULL, NULL, &r->err);
	if (r->draft_uid != 0) {
		char *drafts = special_folder(r, "\\Drafts", "Drafts");

		(void)mailstore_expunge(
		    r->wm->ms, r->user, drafts, &r->draft_uid, 1, false, NULL, NULL, &r->err);
		free(drafts);
	}
	r->out = json_pack("{s:s, s:s, s:o}", "queue_id", r->queue_id, "message_id", r->message_id,
	    "sent",
	    rc == 0 ? json_pack("{s:s, s:I}", "folder", sent, "uid", (json_int_t)uid)
	            : json_null());
	free(sent);
	r->rc = 0;
}

/* --- attachments download ------------------------------------------------ */

static void
job_part(struct wm_req *r)
{
	struct mailstore_msg m;
	struct buf raw;

	if ((r->rc = find_msg(r, r->folder, &m)) != 0)
		return;
	buf_init(&raw, WEBMAIL_MAX_MESSAGE);
	r->rc = mailstore_body_read(
	    r->wm->ms, r->user, r->folder, r->uid, 0, WEBMAIL_MAX_MESSAGE, &raw, &r->err);
	if (r->rc == 0) {
		buf_init(&r->msg, WEBMAIL_MAX_MESSAGE);
		r->rc = webmail_message_part(raw.len ? (const char *)raw.data : "", raw.len,
		    r->part, &r->msg, &r->ctype, &r->fname);
		if (r->rc == MN_ENOENT)
			r->status = 404;
	}
	buf_fini(&raw);
}

/* --- folders --------------------------------------------------------------- */

static bool
is_special(struct wm_req *r, const char *folder)
{
	struct mailstore_folder_info info;
	bool special;

	if (strcasecmp(folder, "INBOX") == 0)
		return true;
	memset(&info, 0, sizeof(info));
	if (mailstore_folder_status(r->wm->ms, r->user, folder, &info, &r->err) != 0)
		return false;
	special = info.special_use != NULL;
	mailstore_folder_info_fini(&info);
	return special;
}

static void
job_folder(struct wm_req *r)
{
	struct mailstore_folder_info info;

	switch (r->op) {
	case OP_FOLDER_CREATE:
		r->rc = mailstore_folder_create(r->wm->ms, r->user, r->folder, NULL, &r->err);
		if (r->rc == 0) {
			/* IMAP clients list subscribed folders: show it there too */
			(void)mailstore_folder_subscribe(
			    r->wm->ms, r->user, r->folder, true, &r->err);
			r->out = json_pack("{s:s}", "name", r->folder);
			r->status = 201;
		}
		break;
	case OP_FOLDER_RENAME:
		if (is_special(r, r->folder)) {
			r->rc = MN_EPERM;
			break;
		}
		r->rc = mailstore_folder_rename(r->wm->ms, r->user, r->folder, r->to, &r->err);
		if (r->rc == 0) {
			(void)mailstore_folder_subscribe(r->wm->ms, r->user, r->to, true, &r->err);
			r->out = json_pack("{s:s}", "name", r->to);
		}
		break;
	case OP_FOLDER_DELETE:
		if (is_special(r, r->folder)) {
			r->rc = MN_EPERM;
			break;
		}
		r->rc = mailstore_folder_delete(r->wm->ms, r->user, r->folder, &r->err);
		r->status = 204;
		break;
	case OP_EMPTY:
		memset(&info, 0, sizeof(info));
		if ((r->rc = mailstore_folder_status(
		         r->wm->ms, r->user, r->folder, &info, &r->err)) != 0)
			break;
		if (info.special_use == NULL || (strcmp(info.special_use, "\\Trash") != 0 &&
		                                    strcmp(info.special_use, "\\Junk") != 0)) {
			r->rc = MN_EPERM;
		} else {
			size_t n = 0;

			r->rc = mailstore_expunge(
			    r->wm->ms, r->user, r->folder, NULL, 0, false, NULL, &n, &r->err);
			if (r->rc == 0)
				r->out = json_pack(
				    "{s:s, s:I}", "folder", r->folder, "removed", (json_int_t)n);
		}
		mailstore_folder_info_fini(&info);
		break;
	default:
		break;
	}
}

static void
job_work(uv_work_t *w)
{
	struct wm_req *r = w->data;

	switch (r->op) {
	case OP_LOGIN:
		r->login_ok = password_verify(r->hash, r->password);
		break;
	case OP_FOLDERS:
		job_folders(r);
		break;
	case OP_LIST:
		job_list(r);
		break;
	case OP_GET:
		job_get(r, false);
		break;
	case OP_HTML:
		job_get(r, true);
		break;
	case OP_FLAGS:
		job_flags(r);
		break;
	case OP_MOVE:
	case OP_DELETE:
		job_move(r);
		break;
	case OP_COMPOSE:
	case OP_DRAFT:
		job_compose(r);
		break;
	case OP_SENT:
		job_sent(r);
		break;
	case OP_PART:
		job_part(r);
		break;
	case OP_FOLDER_CREATE:
	case OP_FOLDER_RENAME:
	case OP_FOLDER_DELETE:
	case OP_EMPTY:
		job_folder(r);
		break;
	case OP_PASSWORD:
		r->login_ok = password_verify(r->hash, r->password);
		if (r->login_ok)
			r->new_hash = password_hash(r->new_password);
		break;
	}
}

static void login_done(struct wm_req *r);
static void password_done(struct wm_req *r);
static void send_submit(struct wm_req *r);
static void reply_part(struct wm_req *r);

static void
job_done(uv_work_t *w, int status)
{
	struct wm_req *r = w->data;

	(void)status;
	if (r->op == OP_LOGIN) {
		login_done(r);
		return;
	}
	if (r->op == OP_PASSWORD) {
		password_done(r);
		return;
	}
	if (r->rc != 0) {
		if (r->status == 400) {
			reply_error(r, 400, "no folder \"%s\"", r->to);
			return;
		}
		if (r->op == OP_HTML && r->status == 404) {
			reply_error(r, 404, "the message has no HTML part");
			return;
		}
		if (r->op == OP_PART && r->rc == MN_EINVAL) {
			reply_error(r, 400, "bad part number \"%.40s\"", r->part);
			return;
		}
		if (r->op == OP_PART && r->status == 404) {
			reply_error(r, 404, "no such part");
			return;
		}
		reply_store_error(r);
		return;
	}
	if (r->op == OP_HTML) {
		http_add_header(r->x, "Content-Security-Policy",
		    r->remote_images ? WEBMAIL_HTML_CSP_IMAGES : WEBMAIL_HTML_CSP);
		http_add_header(r->x, "Cache-Control", "no-store");
		http_add_header(r->x, "Referrer-Policy", "no-referrer");
		req_log(r, 200);
		http_reply(r->x, 200, "text/html; charset=utf-8", r->html.data, r->html.len);
		req_free(r);
		return;
	}
	if (r->op == OP_COMPOSE) {
		send_submit(r);
		return;
	}
	if (r->op == OP_PART) {
		reply_part(r);
		return;
	}
	if (r->status == 204) {
		reply_empty(r, 204);
		return;
	}
	{
		json_t *out = r->out;

		r->out = NULL;
		reply_json(r, r->status == 201 ? 201 : 200, out);
	}
}

static void
queue_job(struct wm_req *r, enum wm_op op)
{
	r->op = op;
	r->w.data = r;
	uv_queue_work(r->wm->loop, &r->w, job_work, job_done);
}

/* --- sending through the submission path ------------------------------ */

static void
reply_submit_error(struct wm_req *r, int code, const char *reason)
{
	if (code == 451 && strstr(reason, "limit") != NULL)
		reply_error(r, 429, "%s", reason);
	else if (code == 552)
		reply_error(r, 413, "%s", reason);
	else if (code >= 500 || code == 452)
		reply_error(r, 400, "%s", reason);
	else
		reply_error(r, 503, "%s", reason);
}

static void
submit_cb(void *arg, int code, const char *reason, const char *id)
{
	struct wm_req *r = arg;

	if (code != 250) {
		reply_submit_error(r, code, reason);
		return;
	}
	r->queue_id = xstrdup(id);
	log_info("webmail", "event=sent user=%s id=%s rcpts=%zu", r->user, id, r->nrcpts);
	queue_job(r, OP_SENT);
}

static void
send_submit(struct wm_req *r)
{
	struct smtp_submission sub;
	char reason[512];
	bool utf8 = false;
	int code;

	if (r->wm->smtp == NULL) {
		reply_error(r, 503, "sending is not available on this node");
		return;
	}
	for (size_t i = 0; i < r->nrcpts; i++)
		for (const char *p = r->rcpts[i]; *p; p++)
			if ((unsigned char)*p >= 0x80)
				utf8 = true;
	memset(&sub, 0, sizeof(sub));
	sub.auth_user = r->user;
	sub.sender = r->user;
	sub.rcpts = (const char *const *)r->rcpts;
	sub.nrcpts = r->nrcpts;
	sub.client_ip = http_exchange_peer_ip(r->x);
	sub.via = r->tls ? "HTTPS" : "HTTP";
	sub.msg = r->msg.data;
	sub.len = r->msg.len;
	sub.smtputf8 = utf8;
	code = smtp_server_submit(r->wm->smtp, &sub, submit_cb, r, reason, sizeof(reason));
	if (code != 0) {
		log_info(
		    "webmail", "event=send user=%s result=%d reason=\"%s\"", r->user, code, reason);
		reply_submit_error(r, code, reason);
	}
}

/* a token of a media type (RFC 2045 §5.1); anything else is served as
 * application/octet-stream */
static bool
media_type_ok(const char *t)
{
	size_t n = strlen(t), slash = 0;

	if (n == 0 || n > 127)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];

		if (c == '/')
			slash++;
		else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		             (c >= '0' && c <= '9') || strchr("!#$&^_.+-", c) != NULL))
			return false;
	}
	return slash == 1 && t[0] != '/' && t[n - 1] != '/';
}

static void
reply_part(struct wm_req *r)
{
	char *cd, *deflt;

	if (r->fname == NULL || *r->fname == '\0') {
		free(r->fname);
		r->fname = deflt = xasprintf("part-%s", r->part);
	}
	cd = webmail_content_disposition(r->fname);
	/* always a download, never rendered in our origin; what a browser
	 * might still sniff or render is sandboxed and loads nothing */
	http_add_header(r->x, "Content-Disposition", cd);
	http_add_header(r->x, "Content-Security-Policy", "default-src 'none'; sandbox");
	http_add_header(r->x, "Cache-Control", "no-store");
	free(cd);
	req_log(r, 200);
	http_reply(r->x, 200, media_type_ok(r->ctype) ? r->ctype : "application/octet-stream",
	    r->msg.data, r->msg.len);
	req_free(r);
}

/* --- login and session -------------------------------------------------- */

static void
set_cookie(struct wm_req *r, const char *value, bool clear)
{
	char *c = xasprintf("%s=%s; Path=%s; HttpOnly; SameSite=Strict%s%s", WEBMAIL_COOKIE, value,
	    WEBMAIL_PREFIX, r->tls ? "; Secure" : "", clear ? "; Max-Age=0" : "");

	http_add_header(r->x, "Set-Cookie", c);
	free(c);
}

static bool
account_usable(const struct dir_user *u)
{
	return !(u->flags & DIR_USER_DISABLED) &&
	       !(u->expires_at > 0 && u->expires_at <= (int64_t)time(NULL));
}

static void
login_done(struct wm_req *r)
{
	const char *ip = http_exchange_peer_ip(r->x);
	const struct webmail_session *ses;
	struct dir_user u;
	int rc;

	memset(&u, 0, sizeof(u));
	/* look again: the account may have changed while we hashed */
	rc = r->login_ok ? directory_user_get(r->wm->dir, r->user, &u) : MN_EAUTH;
	if (rc != 0) {
		if (r->wm->limits != NULL)
			limits_auth_failed(r->wm->limits, ip, r->user);
		log_info("webmail", "event=login result=fail ip=%s", ip);
		reply_error(r, 401, "bad address or password");
		return;
	}
	if (!account_usable(&u)) {
		dir_user_fini(&u);
		log_info("webmail", "event=login user=%s result=disabled ip=%s", r->user, ip);
		reply_error(r, 403, "account disabled");
		return;
	}
	if (r->wm->limits != NULL)
		limits_auth_ok(r->wm->limits, ip, r->user);
	ses = webmail_session_create(r->wm->sessions, u.address, uv_now(r->wm->loop));
	set_cookie(r, ses->id, false);
	log_info("webmail", "event=login user=%s result=ok ip=%s tls=%d", u.address, ip, r->tls);
	free(r->user);
	r->user = xstrdup(u.address);
	reply_json(r, 200,
	    json_pack("{s:s, s:s, s:s, s:s?}", "address", u.address, "name", u.name ? u.name : "",
	        "csrf_token", ses->csrf, "home_node", u.home_node));
	dir_user_fini(&u);
}

static bool
is_json(const struct http_request *req)
{
	struct slice ct = http_header_get(req, "Content-Type");

	return ct.ptr != NULL && slice_starts_nocase(ct, "application/json");
}

static void
do_login(struct wm_req *r)
{
	const char *ip = http_exchange_peer_ip(r->x);
	json_t *a, *p;
	struct dir_user u;
	char *addr;

	a = r->body ? json_object_get(r->body, "address") : NULL;
	p = r->body ? json_object_get(r->body, "password") : NULL;
	if (!json_is_string(a) || json_string_length(a) == 0) {
		reply_error(r, 400, "missing field \"address\"");
		return;
	}
	if (!json_is_string(p) || json_string_length(p) == 0) {
		reply_error(r, 400, "missing field \"password\"");
		return;
	}
	if (json_string_length(a) > DIR_MAX_ADDRESS || json_string_length(p) > API_MAX_PASSWORD) {
		reply_error(r, 400, "address or password too long");
		return;
	}
	addr = xstrdup(json_string_value(a));
	directory_normalize_address(addr);
	if (directory_check_address(addr) != 0) {
		free(addr);
		reply_error(r, 400, "the address must be a full address, local@domain");
		return;
	}
	r->user = addr;
	if (r->wm->limits != NULL && !limits_auth_allowed(r->wm->limits, ip, addr)) {
		/* refused unverified, answered like a wrong password */
		log_warn("webmail", "event=auth_blocked ip=%s user=%s", ip, addr);
		reply_error(r, 401, "bad address or password");
		return;
	}
	memset(&u, 0, sizeof(u));
	if (directory_user_get(r->wm->dir, addr, &u) == 0 && u.password_hash != NULL) {
		r->hash = xstrdup(u.password_hash);
	} else {
		/* login_done looks again and refuses: not in the directory */
		r->hash = xstrdup(dummy_hash);
	}
	dir_user_fini(&u);
	r->password = xstrdup(json_string_value(p));
	queue_job(r, OP_LOGIN);
}

static const struct webmail_session *
session_of(struct wm_req *r)
{
	struct slice h = http_header_get(r->req, "Cookie");
	const char *v;
	size_t vlen;

	if (h.ptr == NULL || !webmail_cookie_get(h.ptr, h.len, WEBMAIL_COOKIE, &v, &vlen))
		return NULL;
	return webmail_session_lookup(r->wm->sessions, v, vlen, uv_now(r->wm->loop));
}

/* --- input -------------------------------------------------------------- */

static char *
folder_arg(struct wm_req *r, const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > MAILSTORE_MAX_FOLDER_NAME || !utf8_valid(s, n)) {
		reply_error(r, 400, "bad folder name");
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			reply_error(r, 400, "bad folder name");
			return NULL;
		}
	return xstrdup(s);
}

static int
uid_arg(struct wm_req *r, const char *s)
{
	uint64_t v;

	if (parse_u64(s, 1, UINT32_MAX, &v) != 0) {
		reply_error(r, 400, "bad message uid \"%.20s\"", s);
		return -1;
	}
	r->uid = (uint32_t)v;
	return 0;
}

static int
query_u64(
    struct wm_req *r, const char *name, uint64_t def, uint64_t min, uint64_t max, uint64_t *out)
{
	char *v = http_query_get(r->req, name);
	int rc = 0;

	*out = def;
	if (v != NULL && *v != '\0' && parse_u64(v, min, max, out) != 0) {
		reply_error(r, 400, "query parameter \"%s\" must be an integer %llu..%llu", name,
		    (unsigned long long)min, (unsigned long long)max);
		rc = -1;
	}
	free(v);
	return rc;
}

static int
list_args(struct wm_req *r)
{
	static const char *const sorts[] = {"date", "from", "subject", "size"};
	char *sort, *order;
	int rc = 0;

	if (query_u64(r, "offset", 0, 0, 100000000, &r->offset) != 0 ||
	    query_u64(r, "limit", WEBMAIL_PAGE_DEFAULT, 1, WEBMAIL_PAGE_MAX, &r->limit) != 0)
		return -1;
	sort = http_query_get(r->req, "sort");
	order = http_query_get(r->req, "order");
	r->sort = SORT_DATE;
	r->desc = true;
	if (sort != NULL && *sort != '\0') {
		size_t i;

		for (i = 0; i < 4 && strcmp(sort, sorts[i]) != 0; i++)
			;
		if (i == 4)
			rc = -1;
		else
			r->sort = (enum wm_sort)i;
	}
	if (rc != 0) {
		reply_error(r, 400, "sort must be date, from, subject or size");
	} else if (order != NULL && *order != '\0') {
		if (strcmp(order, "asc") == 0)
			r->desc = false;
		else if (strcmp(order, "desc") != 0) {
			reply_error(r, 400, "order must be asc or desc");
			rc = -1;
		}
	}
	free(sort);
	free(order);
	return rc;
}

static int
bool_field(struct wm_req *r, const char *key, int *out)
{
	json_t *v = r->body ? json_object_get(r->body, key) : NULL;

	*out = -1;
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v)) {
		reply_error(r, 400, "field \"%s\" must be true or false", key);
		return -1;
	}
	*out = json_is_true(v) ? 1 : 0;
	return 0;
}

/* an array of addresses ("a@b" or "Name <a@b>") under key, into *out */
static int
addr_list_arg(struct wm_req *r, const char *key, struct webmail_addr **out, size_t *nout)
{
	json_t *v = json_object_get(r->body, key), *e;
	size_t i;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v)) {
		reply_error(r, 400, "field \"%s\" must be an array of addresses", key);
		return -1;
	}
	if (json_array_size(v) > WEBMAIL_MAX_RCPTS) {
		reply_error(r, 400, "at most %u recipients", WEBMAIL_MAX_RCPTS);
		return -1;
	}
	*out = xcalloc(json_array_size(v) + 1, sizeof(**out));
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e) ||
		    webmail_parse_addr(json_string_value(e), &(*out)[*nout]) != 0) {
			reply_error(r, 400, "bad address in \"%s\": \"%.100s\"", key,
			    json_is_string(e) ? json_string_value(e) : "(not a string)");
			return -1;
		}
		(*nout)++;
	}
	return 0;
}

/* strict RFC 4648 base64 (padding required, no line breaks) */
static int
b64_strict(const char *s, size_t n, uint8_t **out, size_t *len)
{
	uint8_t *o;
	size_t k = 0;

	if (n % 4 != 0)
		return -1;
	o = xmalloc(n / 4 * 3 + 1);
	for (size_t i = 0; i < n; i += 4) {
		int v[4];

		for (int j = 0; j < 4; j++) {
			v[j] = codec_b64_value((unsigned char)s[i + j], '/');
			if (v[j] < 0 && !(s[i + j] == '=' && i + 4 == n && j >= 2)) {
				free(o);
				return -1;
			}
		}
		if (v[2] < 0 && v[3] >= 0) {
			free(o);
			return -1;
		}
		o[k++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (v[2] >= 0)
			o[k++] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
		if (v[3] >= 0)
			o[k++] = (uint8_t)((v[2] & 3) << 6 | v[3]);
	}
	*out = o;
	*len = k;
	return 0;
}

static int
attachments_arg(struct wm_req *r)
{
	json_t *v = json_object_get(r->body, "attachments"), *e;
	size_t i, total = 0;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v)) {
		reply_error(r, 400, "field \"attachments\" must be an array");
		return -1;
	}
	if (json_array_size(v) > WEBMAIL_MAX_ATTACH_COUNT) {
		reply_error(r, 400, "at most %u attachments", WEBMAIL_MAX_ATTACH_COUNT);
		return -1;
	}
	r->comp.att = xcalloc(json_array_size(v) + 1, sizeof(*r->comp.att));
	json_array_foreach(v, i, e)
	{
		struct webmail_attachment *a = &r->comp.att[r->comp.natt];
		json_t *fn = json_object_get(e, "filename"),
		       *ct = json_object_get(e, "content_type");
		json_t *data = json_object_get(e, "data");

		if (!json_is_string(fn) || json_string_length(fn) == 0 ||
		    !webmail_header_text_ok(json_string_value(fn), WEBMAIL_MAX_FILENAME)) {
			reply_error(r, 400,
			    "attachment %zu: \"filename\" must be 1..%u bytes of UTF-8 text", i,
			    WEBMAIL_MAX_FILENAME);
			return -1;
		}
		if (ct != NULL && !json_is_null(ct) &&
		    (!json_is_string(ct) || !media_type_ok(json_string_value(ct)))) {
			reply_error(r, 400, "attachment %zu: bad \"content_type\"", i);
			return -1;
		}
		if (!json_is_string(data) ||
		    b64_strict(json_string_value(data), json_string_length(data), &a->data,
		        &a->len) != 0) {
			reply_error(r, 400, "attachment %zu: \"data\" must be base64", i);
			return -1;
		}
		a->filename = xstrdup(json_string_value(fn));
		a->content_type = xstrdup(
		    json_is_string(ct) ? json_string_value(ct) : "application/octet-stream");
		r->comp.natt++;
		total += a->len;
		if (total > WEBMAIL_MAX_ATTACH) {
			reply_error(r, 413, "attachments over %u bytes in all", WEBMAIL_MAX_ATTACH);
			return -1;
		}
	}
	return 0;
}

static int
text_field(struct wm_req *r, const char *key, size_t max, bool header, char **out)
{
	json_t *v = json_object_get(r->body, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) > max ||
	    (header && !webmail_header_text_ok(json_string_value(v), max)) ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		reply_error(r, 400, "field \"%s\" must be text of at most %zu bytes%s", key, max,
		    header ? " on one line" : "");
		return -1;
	}
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int
ref_arg(struct wm_req *r, const char *key, char **folder, uint32_t *uid)
{
	json_t *v = json_object_get(r->body, key);
	json_t *f = json_object_get(v, "folder"), *u = json_object_get(v, "uid");

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(f) || !json_is_integer(u) || json_integer_value(u) < 1 ||
	    json_integer_value(u) > UINT32_MAX) {
		reply_error(r, 400, "field \"%s\" must be {\"folder\": name, \"uid\": n}", key);
		return -1;
	}
	{
		char *name = folder_arg(r, json_string_value(f));

		if (name == NULL)
			return -1; /* r is gone: no write through folder */
		*folder = name;
	}
	*uid = (uint32_t)json_integer_value(u);
	return 0;
}

/* the compose body of send and drafts (docs/api.md) into r->comp */
static int
compose_args(struct wm_req *r, bool send)
{
	struct webmail_compose *c = &r->comp;
	struct dir_user u;
	json_t *d;

	if (r->body == NULL) {
		reply_error(r, 400, "missing JSON body");
		return -1;
	}
	if (addr_list_arg(r, "to", &c->to, &c->nto) != 0 ||
	    addr_list_arg(r, "cc", &c->cc, &c->ncc) != 0 ||
	    addr_list_arg(r, "bcc", &c->bcc, &c->nbcc) != 0 ||
	    text_field(r, "subject", WEBMAIL_MAX_HEADER_TEXT, true, &c->subject) != 0 ||
	    text_field(r, "text", WEBMAIL_MAX_BODY_TEXT, false, &c->text) != 0 ||
	    text_field(r, "html", WEBMAIL_MAX_BODY_TEXT, false, &c->html) != 0 ||
	    attachments_arg(r) != 0 ||
	    ref_arg(r, "in_reply_to", &r->ref_folder, &r->ref_uid) != 0 ||
	    ref_arg(r, "forward_of", &r->fwd_folder, &r->fwd_uid) != 0)
		return -1;
	d = json_object_get(r->body, "draft_uid");
	if (d != NULL && !json_is_null(d)) {
		if (!json_is_integer(d) || json_integer_value(d) < 1 ||
		    json_integer_value(d) > UINT32_MAX) {
			reply_error(r, 400, "field \"draft_uid\" must be a message uid");
			return -1;
		}
		r->draft_uid = (uint32_t)json_integer_value(d);
	}
	if (c->nto + c->ncc + c->nbcc > WEBMAIL_MAX_RCPTS) {
		reply_error(r, 400, "at most %u recipients", WEBMAIL_MAX_RCPTS);
		return -1;
	}
	if (send && c->nto + c->ncc + c->nbcc == 0) {
		reply_error(r, 400, "no recipients (fields: to, cc, bcc)");
		return -1;
	}
	if (c->text == NULL)
		c->text = xstrdup("");
	memset(&u, 0, sizeof(u));
	if (directory_user_get(r->wm->dir, r->user, &u) == 0 && u.name != NULL && *u.name &&
	    webmail_header_text_ok(u.name, 200))
		c->from.name = xstrdup(u.name);
	dir_user_fini(&u);
	c->from.address = xstrdup(r->user);
	c->write_bcc = !send;
	if (send) {
		struct webmail_addr *lists[3] = {c->to, c->cc, c->bcc};
		size_t ns[3] = {c->nto, c->ncc, c->nbcc};

		r->rcpts = xcalloc(c->nto + c->ncc + c->nbcc + 1, sizeof(*r->rcpts));
		for (int l = 0; l < 3; l++)
			for (size_t i = 0; i < ns[l]; i++)
				r->rcpts[r->nrcpts++] = xstrdup(lists[l][i].address);
	}
	return 0;
}

/* a folder name to create or rename to: no IMAP wildcards, no empty
 * hierarchy levels ('/' is the separator) */
static char *
new_folder_arg(struct wm_req *r, json_t *v)
{
	const char *s;
	size_t n;

	if (!json_is_string(v)) {
		reply_error(r, 400, "missing field \"name\"");
		return NULL;
	}
	s = json_string_value(v);
	n = strlen(s);
	if (n == 0 || s[0] == '/' || s[n - 1] == '/' || strstr(s, "//") != NULL ||
	    strpbrk(s, "*%") != NULL || strcasecmp(s, "INBOX") == 0) {
		reply_error(r, 400, "bad folder name (no '*', '%%', empty levels or INBOX)");
		return NULL;
	}
	return folder_arg(r, s);
}

static int
filter_args(struct wm_req *r)
{
	static const char *const names[] = {"q", "from", "to", "subject", "body"};
	char **outs[] = {&r->f_any, &r->f_from, &r->f_to, &r->f_subject, &r->f_body};
	static const char *const flags[] = {"unread", "flagged"};
	int *fouts[] = {&r->f_unread, &r->f_flagged};

	for (size_t i = 0; i < 5; i++) {
		char *v = http_query_get(r->req, names[i]);

		if (v != NULL && (strlen(v) > 200 || !utf8_valid(v, strlen(v)))) {
			free(v);
			reply_error(
			    r, 400, "query parameter \"%s\": at most 200 bytes of UTF-8", names[i]);
			return -1;
		}
		if (v != NULL && *v == '\0') {
			free(v);
			v = NULL;
		}
		*outs[i] = v;
	}
	for (size_t i = 0; i < 2; i++) {
		char *v = http_query_get(r->req, flags[i]);

		*fouts[i] = -1;
		if (v != NULL && strcmp(v, "1") != 0 && strcmp(v, "true") != 0 &&
		    strcmp(v, "0") != 0 && strcmp(v, "false") != 0 && *v != '\0') {
			free(v);
			reply_error(
			    r, 400, "query parameter \"%s\" must be true or false", flags[i]);
			return -1;
		}
		if (v != NULL)
			*fouts[i] = (strcmp(v, "1") == 0 || strcmp(v, "true") == 0) ? 1 : 0;
		free(v);
	}
	return 0;
}

/* address completion: users of the same domain, matching q (address or
 * name substring), at most 10 */
static void
do_addresses(struct wm_req *r)
{
	char *q = http_query_get(r->req, "q");
	const char *dom = strrchr(r->user, '@');
	json_t *users, *out, *e;
	size_t i;

	if (q == NULL || strlen(q) > 200 || !utf8_valid(q, strlen(q))) {
		free(q);
		reply_error(r, 400, "query parameter \"q\" (1..200 bytes) is required");
		return;
	}
	out = json_array();
	/* the user's contacts first (a prefix of address or name), then the
	 * users of the same domain (a substring), each address once */
	users = directory_contacts_json(r->wm->dir, r->user, q, 10);
	json_array_foreach(users, i, e)
	{
		json_array_append_new(
		    out, json_pack("{s:O?, s:O?, s:s}", "address", json_object_get(e, "email"),
		             "name", json_object_get(e, "name"), "source", "contact"));
	}
	if (users != NULL)
		json_decref(users);
	users = directory_users_json(r->wm->dir, dom ? dom + 1 : "", q, 0, 10);
	json_array_foreach(users, i, e)
	{
		const char *a = json_string_value(json_object_get(e, "address"));
		bool dup = false;
		size_t k;
		json_t *o;

		json_array_foreach(out, k,
		    o) if (a && ascii_casecmp(json_string_value(json_object_get(o, "address")),
		                    a) == 0) dup = true;
		if (!dup && json_array_size(out) < 20)
			json_array_append_new(out,
			    json_pack("{s:O?, s:O?, s:s}", "address", json_object_get(e, "address"),
			        "name", json_object_get(e, "name"), "source", "directory"));
	}
	if (users != NULL)
		json_decref(users);
	free(q);
	reply_json(r, 200, json_pack("{s:o}", "addresses", out));
}

/* --- settings and password ------------------------------------------------ */

bool
webmail_password_policy(const char *pw, const char *address, char *reason, size_t reasonsz)
{
	size_t n = strlen(pw);
	int lower = 0, upper = 0, digit = 0, other = 0;
	const char *at = strrchr(address, '@');
	size_t llen = at ? (size_t)(at - address) : strlen(address);

	if (n < 8 || n > API_MAX_PASSWORD) {
		snprintf(
		    reason, reasonsz, "the password must be 8 to %d bytes long", API_MAX_PASSWORD);
		return false;
	}
	if (!utf8_valid(pw, n)) {
		snprintf(reason, reasonsz, "the password must be UTF-8 text");
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)pw[i];

		if (c < 0x20 || c == 0x7f) {
			snprintf(
			    reason, reasonsz, "the password must not contain control characters");
			return false;
		}
		if (c >= 'a' && c <= 'z')
			lower = 1;
		else if (c >= 'A' && c <= 'Z')
			upper = 1;
		else if (c >= '0' && c <= '9')
			digit = 1;
		else
			other = 1;
	}
	if (lower + upper + digit + other < 2) {
		snprintf(reason, reasonsz,
		    "the password needs two kinds of characters (lower case, upper case, digits, "
		    "others)");
		return false;
	}
	if (llen >= 3) {
		for (size_t i = 0; i + llen <= n; i++)
			if (strncasecmp(pw + i, address, llen) == 0) {
				snprintf(
				    reason, reasonsz, "the password must not contain the address");
				return false;
			}
	}
	return true;
}

static json_t *
settings_json(struct wm_req *r)
{
	struct dir_user u;
	json_t *j;

	memset(&u, 0, sizeof(u));
	(void)directory_user_get(r->wm->dir, r->user, &u);
	j = json_pack("{s:s, s:s}", "address", r->user, "name", u.name ? u.name : "");
	dir_user_fini(&u);
	{
		static const char *const keys[] = {"signature", "language", "timezone"};
		static const char *const defs[] = {"", "en", ""};

		for (size_t i = 0; i < 3; i++) {
			char *v = directory_pref_get(r->wm->dir, "user", r->user, keys[i]);

			json_object_set_new(j, keys[i], json_string(v ? v : defs[i]));
			free(v);
		}
	}
	return j;
}

static void settings_next(struct wm_req *r);

static void
settings_cb(int rc, const struct mn_err *err, void *arg)
{
	struct wm_req *r = arg;

	if (rc == MN_EINVAL) {
		/* the directory's own check of a value (prefs.c) */
		reply_error(r, 400, "%s", err && err->msg[0] ? err->msg : "bad value");
		return;
	}
	if (rc != 0) {
		log_warn("webmail", "event=settings user=%s rc=%d reason=\"%s\"", r->user, rc,
		    err && err->msg[0] ? err->msg : mn_strerror(rc));
		reply_error(r, rc == MN_ENOLEADER ? 503 : 500,
		    rc == MN_ENOLEADER ? "the cluster has no leader right now; retry"
		                       : "could not save the settings");
		return;
	}
	r->step++; /* the name was step 0, the preferences step 1 */
	settings_next(r);
}

/* one directory command per call, in order: the name (UserUpdate), then
 * the preferences (one PrefSet: all of them or none); "" deletes a
 * preference */
static void
settings_next(struct wm_req *r)
{
	Mailnode__DirectoryCommand cmd = MAILNODE__DIRECTORY_COMMAND__INIT;
	Mailnode__UserUpdate uu = MAILNODE__USER_UPDATE__INIT;
	Mailnode__PrefSet ps = MAILNODE__PREF_SET__INIT;
	Mailnode__PrefEntry ents[4], *entp[4];
	int rc;

	if (r->step == 0 && r->set_name != NULL) {
		uu.address = r->user;
		uu.name = r->set_name;
		cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_USER_UPDATE;
		cmd.user_update = &uu;
	} else if (r->step <= 1 && r->npref > 0) {
		r->step = 1;
		for (size_t i = 0; i < r->npref; i++) {
			mailnode__pref_entry__init(&ents[i]);
			ents[i].key = r->pref_key[i];
			ents[i].value = r->pref_val[i][0] ? r->pref_val[i] : NULL;
			entp[i] = &ents[i];
		}
		ps.scope = (char *)"user";
		ps.name = r->user;
		ps.n_prefs = r->npref;
		ps.prefs = entp;
		cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_PREF_SET;
		cmd.pref_set = &ps;
	} else {
		reply_json(r, 200, settings_json(r));
		return;
	}
	rc = dirsvc_submit(r->wm->svc, &cmd, settings_cb, r);
	if (rc != 0)
		reply_error(r, rc == MN_ENOLEADER ? 503 : 500,
		    rc == MN_ENOLEADER ? "the cluster has no leader right now; retry"
		                       : "could not save the settings");
}

static bool
timezone_ok(const char *tz)
{
	size_t n = strlen(tz);

	/* an IANA name: Area/Location[/More], letters, digits, '_', '-', '+' */
	if (n == 0)
		return true; /* the browser's own */
	if (n > DIR_MAX_TIMEZONE ||
	    !((tz[0] >= 'a' && tz[0] <= 'z') || (tz[0] >= 'A' && tz[0] <= 'Z')) ||
	    tz[n - 1] == '/' || strstr(tz, "..") != NULL || strstr(tz, "//") != NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)tz[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		        c == '/' || c == '_' || c == '-' || c == '+'))
			return false;
	}
	return true;
}

static void
do_settings_patch(struct wm_req *r)
{
	static const char *const keys[] = {"signature", "language", "timezone"};
	json_t *v;

	if (r->body == NULL) {
		reply_error(r, 400, "missing JSON body");
		return;
	}
	v = json_object_get(r->body, "name");
	if (v != NULL) {
		if (!json_is_string(v) ||
		    !webmail_header_text_ok(json_string_value(v), WEBMAIL_MAX_NAME)) {
			reply_error(r, 400, "field \"name\" must be one line of at most %d bytes",
			    WEBMAIL_MAX_NAME);
			return;
		}
		r->set_name = xstrdup(json_string_value(v));
	}
	for (size_t i = 0; i < 3; i++) {
		const char *s;

		v = json_object_get(r->body, keys[i]);
		if (v == NULL)
			continue;
		if (!json_is_string(v)) {
			reply_error(r, 400, "field \"%s\" must be a string", keys[i]);
			return;
		}
		s = json_string_value(v);
		if (i == 0 &&
		    (strlen(s) > DIR_MAX_PREF_VALUE || strlen(s) != json_string_length(v) ||
		        !utf8_valid(s, strlen(s)))) {
			reply_error(r, 400, "field \"signature\": at most %d bytes of text",
			    DIR_MAX_PREF_VALUE);
			return;
		}
		if (i == 1 && strcmp(s, "en") != 0 && strcmp(s, "zh-CN") != 0) {
			reply_error(r, 400, "field \"language\" must be \"en\" or \"zh-CN\"");
			return;
		}
		if (i == 2 && !timezone_ok(s)) {
			reply_error(r, 400, "field \"timezone\" must be an IANA time zone name");
			return;
		}
		r->pref_key[r->npref] = xstrdup(keys[i]);
		r->pref_val[r->npref] = xstrdup(s);
		if (i == 0) {
			/* signatures are stored with LF line ends */
			char *o = r->pref_val[r->npref];

			for (const char *q = o; *q; q++)
				if (*q != '\r')
					*o++ = *q;
			*o = '\0';
		}
		r->npref++;
	}
	if (r->set_name == NULL && r->npref == 0) {
		reply_error(
		    r, 400, "nothing to change (fields: name, signature, language, timezone)");
		return;
	}
	if (r->wm->svc == NULL) {
		reply_error(r, 503, "settings cannot be saved on this node");
		return;
	}
	settings_next(r);
}

static void
password_cb(int rc, const struct mn_err *err, void *arg)
{
	struct wm_req *r = arg;

	if (rc != 0) {
		log_warn("webmail", "event=password user=%s rc=%d reason=\"%s\"", r->user, rc,
		    err && err->msg[0] ? err->msg : mn_strerror(rc));
		reply_error(r, rc == MN_ENOLEADER ? 503 : 500, "could not change the password");
		return;
	}
	log_info("webmail", "event=password_changed user=%s", r->user);
	reply_empty(r, 204);
}

static void
password_done(struct wm_req *r)
{
	const char *ip = http_exchange_peer_ip(r->x);
	Mailnode__DirectoryCommand cmd = MAILNODE__DIRECTORY_COMMAND__INIT;
	Mailnode__UserUpdate uu = MAILNODE__USER_UPDATE__INIT;
	int rc;

	if (!r->login_ok) {
		/* a wrong current password counts like a failed login */
		if (r->wm->limits != NULL)
			limits_auth_failed(r->wm->limits, ip, r->user);
		reply_error(r, 403, "the current password is wrong");
		return;
	}
	if (r->new_hash == NULL) {
		reply_error(r, 500, "internal error");
		return;
	}
	uu.address = r->user;
	uu.password_hash = r->new_hash;
	cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_USER_UPDATE;
	cmd.user_update = &uu;
	rc = dirsvc_submit(r->wm->svc, &cmd, password_cb, r);
	if (rc != 0)
		reply_error(r, rc == MN_ENOLEADER ? 503 : 500, "could not change the password");
}

static void
do_password(struct wm_req *r)
{
	json_t *cur = json_object_get(r->body, "current"),
	       *pw = json_object_get(r->body, "password");
	const char *ip = http_exchange_peer_ip(r->x);
	char reason[200];
	struct dir_user u;

	if (!json_is_string(cur) || json_string_length(cur) == 0 ||
	    json_string_length(cur) > API_MAX_PASSWORD) {
		reply_error(r, 400, "missing field \"current\" (the current password)");
		return;
	}
	if (!json_is_string(pw)) {
		reply_error(r, 400, "missing field \"password\" (the new password)");
		return;
	}
	if (strlen(json_string_value(pw)) != json_string_length(pw) ||
	    !webmail_password_policy(json_string_value(pw), r->user, reason, sizeof(reason))) {
		reply_error(r, 400, "%s",
		    strlen(json_string_value(pw)) != json_string_length(pw)
		        ? "the password must not contain NUL"
		        : reason);
		return;
	}
	if (r->wm->svc == NULL) {
		reply_error(r, 503, "passwords cannot be changed on this node");
		return;
	}
	if (r->wm->limits != NULL && !limits_auth_allowed(r->wm->limits, ip, r->user)) {
		reply_error(r, 403, "the current password is wrong");
		return;
	}
	memset(&u, 0, sizeof(u));
	if (directory_user_get(r->wm->dir, r->user, &u) != 0 || u.password_hash == NULL) {
		dir_user_fini(&u);
		reply_error(r, 401, "not logged in");
		return;
	}
	r->hash = xstrdup(u.password_hash);
	dir_user_fini(&u);
	r->password = xstrdup(json_string_value(cur));
	r->new_password = xstrdup(json_string_value(pw));
	queue_job(r, OP_PASSWORD);
}

/* --- contacts (the address book of completion) ---------------------------- */

static void
contact_cb(int rc, const struct mn_err *err, void *arg)
{
	struct wm_req *r = arg;

	if (rc == 0) {
		if (r->method == API_DELETE)
			reply_empty(r, 204);
		else
			reply_json(r, 201,
			    json_pack("{s:s, s:s}", "email", r->to, "name",
			        r->set_name ? r->set_name : ""));
		return;
	}
	if (rc == MN_ENOENT) {
		reply_error(r, 404, "no such contact");
		return;
	}
	if (rc == MN_EINVAL) {
		reply_error(r, 400, "%s", err && err->msg[0] ? err->msg : "bad contact");
		return;
	}
	if (rc == MN_ECONFLICT) {
		reply_error(r, 409, "%s", err && err->msg[0] ? err->msg : "too many contacts");
		return;
	}
	reply_error(r, rc == MN_ENOLEADER ? 503 : 500, "could not save the contact");
}

static void
do_contacts(struct wm_req *r, const char *pattern)
{
	Mailnode__DirectoryCommand cmd = MAILNODE__DIRECTORY_COMMAND__INIT;
	Mailnode__ContactSet cs = MAILNODE__CONTACT_SET__INIT;
	Mailnode__ContactDel cd = MAILNODE__CONTACT_DEL__INIT;
	struct webmail_addr a;
	int rc;

	if (r->method == API_GET) {
		char *q = http_query_get(r->req, "q");
		json_t *c =
		    directory_contacts_json(r->wm->dir, r->user, q ? q : "", DIR_MAX_CONTACTS);

		free(q);
		reply_json(r, 200, json_pack("{s:o}", "contacts", c ? c : json_array()));
		return;
	}
	if (r->wm->svc == NULL) {
		reply_error(r, 503, "contacts cannot be saved on this node");
		return;
	}
	if (strcmp(pattern, "mail/contacts/*") == 0) {
		if (webmail_parse_addr(r->seg[2], &a) != 0 || a.name != NULL) {
			free(a.address);
			free(a.name);
			reply_error(r, 400, "bad address \"%.100s\"", r->seg[2]);
			return;
		}
		r->to = a.address;
		cd.owner = r->user;
		cd.email = r->to;
		cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_CONTACT_DEL;
		cmd.contact_del = &cd;
	} else {
		json_t *e = json_object_get(r->body, "email"),
		       *n = json_object_get(r->body, "name");

		if (!json_is_string(e) || webmail_parse_addr(json_string_value(e), &a) != 0 ||
		    a.name != NULL) {
			if (json_is_string(e)) {
				free(a.address);
				free(a.name);
			}
			reply_error(r, 400, "field \"email\" must be an address");
			return;
		}
		r->to = a.address;
		if (n != NULL && !json_is_null(n)) {
			if (!json_is_string(n) ||
			    !webmail_header_text_ok(json_string_value(n), DIR_MAX_CONTACT_NAME)) {
				reply_error(r, 400,
				    "field \"name\" must be one line of at most %d bytes",
				    DIR_MAX_CONTACT_NAME);
				return;
			}
			r->set_name = xstrdup(json_string_value(n));
		}
		cs.owner = r->user;
		cs.email = r->to;
		cs.name = r->set_name;
		cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_CONTACT_SET;
		cmd.contact_set = &cs;
	}
	rc = dirsvc_submit(r->wm->svc, &cmd, contact_cb, r);
	if (rc != 0)
		reply_error(r, rc == MN_ENOLEADER ? 503 : 500, "could not save the contact");
}

/* --- dispatch ------------------------------------------------------------ */

enum { NEEDS_CSRF = 1 };

static void
run_route(struct wm_req *r, const char *pattern)
{
	if (strcmp(pattern, "mail/logout") == 0) {
		struct slice h = http_header_get(r->req, "Cookie");
		const char *v;
		size_t vlen;

		if (h.ptr != NULL && webmail_cookie_get(h.ptr, h.len, WEBMAIL_COOKIE, &v, &vlen)) {
			char *id = xstrndup(v, vlen);

			webmail_session_end(r->wm->sessions, id);
			free(id);
		}
		set_cookie(r, "", true);
		reply_empty(r, 204);
		return;
	}
	if (strcmp(pattern, "mail/folders") == 0 && r->method == API_GET) {
		queue_job(r, OP_FOLDERS);
		return;
	}
	if (strcmp(pattern, "mail/folders") == 0) {
		char *name = new_folder_arg(r, json_object_get(r->body, "name"));

		if (name == NULL)
			return; /* r is gone */
		r->folder = name;
		queue_job(r, OP_FOLDER_CREATE);
		return;
	}
	if (strcmp(pattern, "mail/send") == 0 || strcmp(pattern, "mail/drafts") == 0) {
		bool send = strcmp(pattern, "mail/send") == 0;

		if (compose_args(r, send) == 0)
			queue_job(r, send ? OP_COMPOSE : OP_DRAFT);
		return;
	}
	if (strcmp(pattern, "mail/addresses") == 0) {
		do_addresses(r);
		return;
	}
	if (strcmp(pattern, "mail/settings") == 0) {
		if (r->method == API_GET)
			reply_json(r, 200, settings_json(r));
		else
			do_settings_patch(r);
		return;
	}
	if (strcmp(pattern, "mail/password") == 0) {
		do_password(r);
		return;
	}
	if (strncmp(pattern, "mail/contacts", 13) == 0) {
		do_contacts(r, pattern);
		return;
	}
	char *folder = folder_arg(r, r->seg[2]);

	if (folder == NULL)
		return; /* r is gone: folder_arg replied */
	r->folder = folder;
	if (strcmp(pattern, "mail/folders/*") == 0) {
		if (r->method == API_DELETE) {
			queue_job(r, OP_FOLDER_DELETE);
		} else {
			char *name = new_folder_arg(r, json_object_get(r->body, "name"));

			if (name == NULL)
				return; /* r is gone */
			r->to = name;
			queue_job(r, OP_FOLDER_RENAME);
		}
		return;
	}
	if (strcmp(pattern, "mail/folders/*/empty") == 0) {
		queue_job(r, OP_EMPTY);
		return;
	}
	if (strcmp(pattern, "mail/folders/*/messages") == 0) {
		if (list_args(r) == 0 && filter_args(r) == 0)
			queue_job(r, OP_LIST);
		return;
	}
	if (uid_arg(r, r->seg[4]) != 0)
		return;
	if (strcmp(pattern, "mail/folders/*/messages/*/parts/*") == 0) {
		r->part = xstrdup(r->seg[6]);
		queue_job(r, OP_PART);
		return;
	}
	if (strcmp(pattern, "mail/folders/*/messages/*/html") == 0) {
		char *v = http_query_get(r->req, "remote_images");

		if (v != NULL && strcmp(v, "1") != 0 && strcmp(v, "0") != 0 &&
		    strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
			free(v);
			reply_error(
			    r, 400, "query parameter \"remote_images\" must be true or false");
			return;
		}
		r->remote_images = v != NULL && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
		free(v);
		queue_job(r, OP_HTML);
	} else if (r->method == API_GET) {
		queue_job(r, OP_GET);
	} else if (r->method == API_PATCH) {
		if (bool_field(r, "seen", &r->set_seen) != 0 ||
		    bool_field(r, "flagged", &r->set_flagged) != 0)
			return;
		if (r->set_seen < 0 && r->set_flagged < 0) {
			reply_error(r, 400, "nothing to change (fields: seen, flagged)");
			return;
		}
		queue_job(r, OP_FLAGS);
	} else if (r->method == API_DELETE) {
		queue_job(r, OP_DELETE);
	} else {
		json_t *to = r->body ? json_object_get(r->body, "to") : NULL;

		if (!json_is_string(to)) {
			reply_error(r, 400, "missing field \"to\" (the target folder)");
			return;
		}
		char *target = folder_arg(r, json_string_value(to));

		if (target == NULL)
			return;
		r->to = target;
		queue_job(r, OP_MOVE);
	}
}

/* clang-format off */
static const struct {
	enum api_method method;
	const char *pattern;
	unsigned flags;
} routes[] = {
	{ API_POST, "mail/login", 0 },
	{ API_POST, "mail/logout", NEEDS_CSRF },
	{ API_GET, "mail/session", 0 },
	{ API_GET, "mail/folders", 0 },
	{ API_POST, "mail/folders", NEEDS_CSRF },
	{ API_PATCH, "mail/folders/*", NEEDS_CSRF },
	{ API_DELETE, "mail/folders/*", NEEDS_CSRF },
	{ API_POST, "mail/folders/*/empty", NEEDS_CSRF },
	{ API_POST, "mail/send", NEEDS_CSRF },
	{ API_POST, "mail/drafts", NEEDS_CSRF },
	{ API_GET, "mail/addresses", 0 },
	{ API_GET, "mail/settings", 0 },
	{ API_PATCH, "mail/settings", NEEDS_CSRF },
	{ API_POST, "mail/password", NEEDS_CSRF },
	{ API_GET, "mail/contacts", 0 },
	{ API_POST, "mail/contacts", NEEDS_CSRF },
	{ API_DELETE, "mail/contacts/*", NEEDS_CSRF },
	{ API_GET, "mail/folders/*/messages/*/parts/*", 0 },
	{ API_GET, "mail/folders/*/messages", 0 },
	{ API_GET, "mail/folders/*/messages/*", 0 },
	{ API_GET, "mail/folders/*/messages/*/html", 0 },
	{ API_PATCH, "mail/folders/*/messages/*", NEEDS_CSRF },
	{ API_DELETE, "mail/folders/*/messages/*", NEEDS_CSRF },
	{ API_POST, "mail/folders/*/messages/*/move", NEEDS_CSRF },
};
/* clang-format on */

/* --- users homed on another node: the call goes there (RPC_WEBMAIL) ------ */

static void
forward_cb(int status, const char *error, const uint8_t *payload, size_t len, void *arg)
{
	struct wm_req *r = arg;
	Mailnode__WebmailReply *rep;

	if (status != 0) {
		log_warn("webmail", "event=forward user=%s result=fail rc=%d reason=\"%s\"",
		    r->user, status, error ? error : mn_strerror(status));
		reply_error(r, 503, "the node that holds this mailbox did not answer (%s); retry",
		    error && *error ? error : mn_strerror(status));
		return;
	}
	rep = mailnode__webmail_reply__unpack(NULL, len, payload);
	if (rep == NULL || rep->status < 100 || rep->status > 599) {
		if (rep != NULL)
			mailnode__webmail_reply__free_unpacked(rep, NULL);
		reply_error(r, 502, "bad answer from the node that holds this mailbox");
		return;
	}
	for (size_t i = 0; i < rep->n_headers; i++)
		http_add_header(r->x, rep->headers[i]->name, rep->headers[i]->value);
	req_log(r, (int)rep->status);
	http_reply(r->x, (int)rep->status, rep->content_type, rep->has_body ? rep->body.data : NULL,
	    rep->has_body ? rep->body.len : 0);
	mailnode__webmail_reply__free_unpacked(rep, NULL);
	req_free(r);
}

/* the session and the CSRF token were checked here; the home node does
 * the rest (input checks included) and its answer is relayed as is */
static void
forward_call(struct wm_req *r, const char *home)
{
	Mailnode__WebmailCall c = MAILNODE__WEBMAIL_CALL__INIT;
	struct slice ct = http_header_get(r->req, "Content-Type");
	struct dir_node node;
	char *method, *path, *query = NULL, *ctype = NULL;
	uint8_t *buf;
	size_t len;
	int rc;

	memset(&node, 0, sizeof(node));
	if (r->wm->rpc == NULL || directory_node_get(r->wm->dir, home, &node) != 0 ||
	    node.address == NULL || node.rpc_port == 0) {
		dir_node_fini(&node);
		reply_error(r, 503, "the mailbox of %s is on node %s, which this node cannot reach",
		    r->user, home);
		return;
	}
	method = xstrndup(r->req->method.ptr, r->req->method.len);
	path = xstrndup(r->req->path.ptr, r->req->path.len);
	c.user = r->user;
	c.method = method;
	c.path = path;
	if (r->req->query.ptr != NULL)
		c.query = query = xstrndup(r->req->query.ptr, r->req->query.len);
	if (r->req->body_len > 0) {
		c.has_body = true;
		c.body.data = (uint8_t *)r->req->body;
		c.body.len = r->req->body_len;
	}
	if (ct.ptr != NULL)
		c.content_type = ctype = xstrndup(ct.ptr, ct.len);
	c.client_ip = (char *)http_exchange_peer_ip(r->x);
	c.has_tls = true;
	c.tls = r->tls;
	len = mailnode__webmail_call__get_packed_size(&c);
	if (len > RPC_FRAME_MAX - 4096) {
		rc = MN_ETOOBIG;
	} else {
		buf = xmalloc(len ? len : 1);
		mailnode__webmail_call__pack(&c, buf);
		rc = rpc_client_call(r->wm->rpc, node.address, node.rpc_port,
		    MAILNODE__RPC_METHOD__RPC_WEBMAIL, buf, len, WEBMAIL_FORWARD_TIMEOUT_MS,
		    forward_cb, r, NULL);
		free(buf);
	}
	free(method);
	free(path);
	free(query);
	free(ctype);
	dir_node_fini(&node);
	if (rc == MN_ETOOBIG)
		reply_error(r, 413,
		    "request too large to carry to the node of this mailbox (%u bytes)",
		    RPC_FRAME_MAX - 4096);
	else if (rc != 0)
		reply_error(r, 503, "the node that holds this mailbox cannot be reached; retry");
}

struct rpc_wm {
	struct rpc_call *call;
	Mailnode__WebmailCall *msg;
	struct http_request req;
};

static void
rpc_capture_cb(void *arg, int status, const char *content_type, const void *body, size_t len,
    const char *headers, size_t hlen)
{
	struct rpc_wm *h = arg;
	Mailnode__WebmailReply rep = MAILNODE__WEBMAIL_REPLY__INIT;
	Mailnode__WebmailHeader hv[16], *hp[16];
	char *hcopy = xstrndup(headers, hlen), *save = NULL;
	uint8_t *buf;
	size_t n;

	rep.status = (uint32_t)status;
	rep.content_type = (char *)content_type;
	if (len > 0) {
		rep.has_body = true;
		rep.body.data = (uint8_t *)body;
		rep.body.len = len;
	}
	for (char *line = strtok_r(hcopy, "\r\n", &save); line != NULL && rep.n_headers < 16;
	     line = strtok_r(NULL, "\r\n", &save)) {
		char *colon = strchr(line, ':');

		if (colon == NULL)
			continue;
		*colon = '\0';
		mailnode__webmail_header__init(&hv[rep.n_headers]);
		hv[rep.n_headers].name = line;
		hv[rep.n_headers].value = colon + (colon[1] == ' ' ? 2 : 1);
		hp[rep.n_headers] = &hv[rep.n_headers];
		rep.n_headers++;
	}
	rep.headers = hp;
	n = mailnode__webmail_reply__get_packed_size(&rep);
	if (n > RPC_FRAME_MAX - 4096) {
		static const char too[] =
		    "{\"error\": \"answer too large to carry from the node of this mailbox\"}";

		memset(&rep, 0, sizeof(rep));
		mailnode__webmail_reply__init(&rep);
		rep.status = 502;
		rep.content_type = (char *)"application/json";
		rep.has_body = true;
		rep.body.data = (uint8_t *)too;
		rep.body.len = sizeof(too) - 1;
		n = mailnode__webmail_reply__get_packed_size(&rep);
	}
	buf = xmalloc(n ? n : 1);
	mailnode__webmail_reply__pack(&rep, buf);
	rpc_reply(h->call, 0, NULL, buf, n);
	free(buf);
	free(hcopy);
	mailnode__webmail_call__free_unpacked(h->msg, NULL);
	free(h);
}

static void handle(struct webmail *wm, struct http_exchange *x, const struct http_request *req,
    const char *trusted_user);

static void
rpc_handler(struct rpc_call *call, const uint8_t *payload, size_t len, void *arg)
{
	struct webmail *wm = arg;
	struct rpc_wm *h;
	Mailnode__WebmailCall *m = mailnode__webmail_call__unpack(NULL, len, payload);
	struct http_exchange *x;
	const char *q;

	if (m == NULL || strncmp(m->path, WEBMAIL_PREFIX, strlen(WEBMAIL_PREFIX)) != 0) {
		if (m != NULL)
			mailnode__webmail_call__free_unpacked(m, NULL);
		rpc_reply(call, MN_EINVAL, "bad webmail call", NULL, 0);
		return;
	}
	log_info("webmail", "event=forwarded user=%s from=%s", m->user, rpc_call_peer_name(call));
	h = xcalloc(1, sizeof(*h));
	h->call = call;
	h->msg = m;
	h->req.method = slice_from_cstr(m->method);
	h->req.path = slice_from_cstr(m->path);
	q = m->query ? m->query : "";
	h->req.query = (struct slice){.ptr = m->query ? q : NULL, .len = strlen(q)};
	h->req.target = h->req.path;
	h->req.version_minor = 1;
	if (m->has_body) {
		h->req.body = m->body.data;
		h->req.body_len = m->body.len;
	}
	if (m->content_type != NULL) {
		h->req.headers[0].name = SLICE_LIT("Content-Type");
		h->req.headers[0].value = slice_from_cstr(m->content_type);
		h->req.nheaders = 1;
	}
	x = http_exchange_capture(&h->req, m->client_ip, m->has_tls && m->tls, rpc_capture_cb, h);
	handle(wm, x, &h->req, m->user);
}

void
webmail_set_cluster(struct webmail *wm, const struct peer_auth_config *auth)
{
	if (auth == NULL || wm->rpc != NULL)
		return;
	rpc_client_new(wm->loop, auth, &wm->rpc);
	rpc_server_handle(NULL, MAILNODE__RPC_METHOD__RPC_WEBMAIL, rpc_handler, wm);
}

void
webmail_stop(struct webmail *wm)
{
	if (wm == NULL)
		return;
	wm->smtp = NULL; /* stopped next: sending answers 503 from now on */
	if (wm->rpc != NULL) {
		rpc_server_handle(NULL, MAILNODE__RPC_METHOD__RPC_WEBMAIL, NULL, NULL);
		rpc_client_close(&wm->rpc);
	}
}

void
webmail_handle(struct http_exchange *x, const struct http_request *req, void *arg)
{
	handle(arg, x, req, NULL);
}

/* trusted_user: a call carried from another node, which checked the
 * session and the CSRF token of that user */
static void
handle(struct webmail *wm, struct http_exchange *x, const struct http_request *req,
    const char *trusted_user)
{
	struct wm_req *r = xcalloc(1, sizeof(*r));
	const struct webmail_session *ses = NULL;
	char allow[64] = "";
	size_t ri = SIZE_MAX;
	struct dir_user u;
	int rc;

	r->wm = wm;
	r->x = x;
	r->req = req;
	r->tls = http_exchange_is_tls(x);
	r->method = api_method_parse(req->method.ptr, req->method.len);
	rc = api_split_path(req->path.ptr, req->path.len, r->seg, API_MAX_SEGMENTS, &r->nseg);
	if (rc == MN_EINVAL) {
		reply_error(r, 400, "bad %%-encoding in path");
		return;
	}
	for (size_t i = 0; rc == 0 && i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!api_pattern_match(routes[i].pattern, r->seg, r->nseg))
			continue;
		if (routes[i].method == r->method) {
			ri = i;
			break;
		}
		if (strlen(allow) + 10 < sizeof(allow)) {
			if (allow[0] != '\0')
				strcat(allow, ", ");
			strcat(allow, method_names[routes[i].method]);
		}
	}
	if (ri == SIZE_MAX) {
		if (allow[0] != '\0') {
			http_add_header(x, "Allow", allow);
			reply_error(r, 405, "method not allowed");
		} else {
			reply_error(r, 404, "no such endpoint");
		}
		return;
	}
	/* a cross-site form cannot send application/json without a CORS
	 * preflight, which we never grant: no login CSRF */
	if (ri == 0 && !is_json(req)) {
		reply_error(r, 415, "login takes a JSON body (Content-Type: application/json)");
		return;
	}
	if (req->body_len > 0 && r->method != API_GET && r->method != API_DELETE) {
		json_error_t jerr;

		r->body = json_loadb(
		    (const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
		if (r->body == NULL) {
			reply_error(r, 400, "bad JSON: %s (line %d column %d)", jerr.text,
			    jerr.line, jerr.column);
			return;
		}
		if (!json_is_object(r->body)) {
			reply_error(r, 400, "body must be a JSON object");
			return;
		}
	}
	if (trusted_user != NULL) {
		if (ri == 0 || strcmp(routes[ri].pattern, "mail/logout") == 0 ||
		    strcmp(routes[ri].pattern, "mail/session") == 0) {
			reply_error(r, 400, "not carried between nodes");
			return;
		}
		r->user = xstrdup(trusted_user);
	} else if (ri == 0) {
		do_login(r);
		return;
	} else if ((ses = session_of(r)) == NULL) {
		reply_error(r, 401, "not logged in");
		return;
	} else {
		r->user = xstrdup(ses->user);
	}
	if (ses != NULL && (routes[ri].flags & NEEDS_CSRF)) {
		struct slice t = http_header_get(req, WEBMAIL_CSRF_HEADER);

		if (!webmail_session_csrf_ok(ses, t.ptr, t.ptr ? t.len : 0)) {
			reply_error(r, 403, "missing or wrong " WEBMAIL_CSRF_HEADER " header");
			return;
		}
	}
	if (strcmp(routes[ri].pattern, "mail/logout") == 0) {
		run_route(r, routes[ri].pattern);
		return;
	}
	memset(&u, 0, sizeof(u));
	if (directory_user_get(r->wm->dir, r->user, &u) != 0) {
		if (ses != NULL)
			webmail_session_end(r->wm->sessions, ses->id);
		reply_error(r, 401, "not logged in");
		return;
	}
	if (!account_usable(&u)) {
		dir_user_fini(&u);
		reply_error(r, 403, "account disabled");
		return;
	}
	if (strcmp(routes[ri].pattern, "mail/session") == 0) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:s?}", "address", u.address, "name",
		    u.name ? u.name : "", "csrf_token", ses->csrf, "home_node", u.home_node);

		dir_user_fini(&u);
		reply_json(r, 200, j);
		return;
	}
	if (webmail_home_elsewhere(u.home_node, r->wm->node_name)) {
		if (trusted_user != NULL) {
			/* moved meanwhile: never carried twice */
			reply_error(r, 503, "the mailbox of %s is on node %s now; retry", u.address,
			    u.home_node);
		} else {
			forward_call(r, u.home_node);
		}
		dir_user_fini(&u);
		return;
	}
	dir_user_fini(&u);
	if (r->wm->ms == NULL) {
		reply_error(r, 503, "the mail store is not open");
		return;
	}
	run_route(r, routes[ri].pattern);
}
