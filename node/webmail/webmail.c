/*
 * webmail.c - the webmail JSON API (see webmail.h, docs/api.md): routes,
 * sessions and login, folders, lists, reading, flags, move and delete;
 * the other files are named in webmail_int.h.
 *
 * Order of checks: route (404/405), then for everything but login the
 * session cookie (401), the CSRF header on POST/PATCH/DELETE (403), the
 * account (401 deleted, 403 disabled, 503 homed elsewhere), the input
 * (400 with a reason), then one job on the thread pool. Mail store error
 * details stay in the log (mailstore.h: never shown to clients); clients
 * get a fixed reason per status.
 */
#include "node/webmail/webmail.h"
#include "node/webmail/webmail_int.h"

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

const char *const webmail_large_body_paths[] = {
    WEBMAIL_PREFIX "/send",
    WEBMAIL_PREFIX "/drafts",
    NULL,
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

void
wm_req_free(struct wm_req *r)
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

void
wm_req_log(struct wm_req *r, int status)
{
	char path[128];

	log_msg(r->method == API_GET ? LOG_DEBUG : LOG_INFO, "webmail",
	    "event=request user=%s method=%s path=%s status=%d", r->user ? r->user : "-",
	    method_names[r->method],
	    log_escape(path, sizeof(path), r->req->path.ptr, r->req->path.len), status);
}

void
wm_reply_json(struct wm_req *r, int status, json_t *j)
{
	wm_req_log(r, status);
	http_reply_json(r->x, status, j);
	wm_req_free(r);
}

void
wm_reply_empty(struct wm_req *r, int status)
{
	wm_req_log(r, status);
	http_reply(r->x, status, NULL, NULL, 0);
	wm_req_free(r);
}

void
wm_reply_error(struct wm_req *r, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	wm_req_log(r, status);
	http_reply_error(r->x, status, "%s", msg);
	wm_req_free(r);
}

/* a mail store failure: fixed reason per status, detail in the log */
void
wm_reply_store_error(struct wm_req *r)
{
	switch (r->rc) {
	case MN_ENOENT:
		wm_reply_error(r, 404, "no such folder or message");
		return;
	case MN_EINVAL:
		wm_reply_error(r, 400, "bad folder name");
		return;
	case MN_EEXIST:
		wm_reply_error(r, 409, "already exists");
		return;
	case MN_ENOQUOTA:
		wm_reply_error(r, 507, "mailbox over quota");
		return;
	case MN_ETOOBIG:
		wm_reply_error(r, 413, "message too large to show");
		return;
	case MN_EPERM:
		wm_reply_error(r, 400, "not allowed on this folder");
		return;
	case MN_ECONFLICT:
		wm_reply_error(r, 409, "the folder has subfolders");
		return;
	default:
		log_error("webmail", "event=store_error user=%s code=%d reason=\"%s\"", r->user,
		    r->rc, r->err.msg[0] ? r->err.msg : mn_strerror(r->rc));
		wm_reply_error(r, 500, "internal error");
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
int
wm_find_msg(struct wm_req *r, const char *folder, struct mailstore_msg *copy)
{
	int rc = mailstore_msg_get(r->wm->ms, r->user, folder, r->uid, copy, &r->err);

	if (rc == 0) {
		free(copy->keywords);
		copy->keywords = NULL;
	}
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

	if ((r->rc = wm_find_msg(r, r->folder, &m)) != 0)
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

	if ((r->rc = wm_find_msg(r, r->folder, &m)) != 0)
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
	if ((r->rc = wm_find_msg(r, r->folder, &m)) != 0)
		return;
	r->out = json_pack("{s:I, s:o}", "uid", (json_int_t)r->uid, "flags", flags_json(m.flags));
}

/* name of the user's \Trash folder ("Trash" if none is marked) */
/* the folder with that special use (RFC 6154), or the default name */
char *
wm_special_folder(struct wm_req *r, const char *use, const char *def)
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
	return wm_special_folder(r, "\\Trash", "Trash");
}

static void
job_move(struct wm_req *r)
{
	struct mailstore_copyuid cu;
	struct mailstore_msg m;
	struct mailstore_folder_info info;

	memset(&cu, 0, sizeof(cu));
	if ((r->rc = wm_find_msg(r, r->folder, &m)) != 0)
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
		wm_job_compose(r);
		break;
	case OP_SENT:
		wm_job_sent(r);
		break;
	case OP_PART:
		wm_job_part(r);
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
		wm_password_done(r);
		return;
	}
	if (r->rc != 0) {
		if (r->status == 400) {
			wm_reply_error(r, 400, "no folder \"%s\"", r->to);
			return;
		}
		if (r->op == OP_HTML && r->status == 404) {
			wm_reply_error(r, 404, "the message has no HTML part");
			return;
		}
		if (r->op == OP_PART && r->rc == MN_EINVAL) {
			wm_reply_error(r, 400, "bad part number \"%.40s\"", r->part);
			return;
		}
		if (r->op == OP_PART && r->status == 404) {
			wm_reply_error(r, 404, "no such part");
			return;
		}
		wm_reply_store_error(r);
		return;
	}
	if (r->op == OP_HTML) {
		http_add_header(r->x, "Content-Security-Policy",
		    r->remote_images ? WEBMAIL_HTML_CSP_IMAGES : WEBMAIL_HTML_CSP);
		http_add_header(r->x, "Cache-Control", "no-store");
		http_add_header(r->x, "Referrer-Policy", "no-referrer");
		wm_req_log(r, 200);
		http_reply(r->x, 200, "text/html; charset=utf-8", r->html.data, r->html.len);
		wm_req_free(r);
		return;
	}
	if (r->op == OP_COMPOSE) {
		wm_send_submit(r);
		return;
	}
	if (r->op == OP_PART) {
		wm_reply_part(r);
		return;
	}
	if (r->status == 204) {
		wm_reply_empty(r, 204);
		return;
	}
	{
		json_t *out = r->out;

		r->out = NULL;
		wm_reply_json(r, r->status == 201 ? 201 : 200, out);
	}
}

void
wm_queue_job(struct wm_req *r, enum wm_op op)
{
	r->op = op;
	r->w.data = r;
	uv_queue_work(r->wm->loop, &r->w, job_work, job_done);
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
		wm_reply_error(r, 401, "bad address or password");
		return;
	}
	if (!account_usable(&u)) {
		dir_user_fini(&u);
		log_info("webmail", "event=login user=%s result=disabled ip=%s", r->user, ip);
		wm_reply_error(r, 403, "account disabled");
		return;
	}
	if (r->wm->limits != NULL)
		limits_auth_ok(r->wm->limits, ip, r->user);
	ses = webmail_session_create(r->wm->sessions, u.address, uv_now(r->wm->loop));
	set_cookie(r, ses->id, false);
	log_info("webmail", "event=login user=%s result=ok ip=%s tls=%d", u.address, ip, r->tls);
	free(r->user);
	r->user = xstrdup(u.address);
	wm_reply_json(r, 200,
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
		wm_reply_error(r, 400, "missing field \"address\"");
		return;
	}
	if (!json_is_string(p) || json_string_length(p) == 0) {
		wm_reply_error(r, 400, "missing field \"password\"");
		return;
	}
	if (json_string_length(a) > DIR_MAX_ADDRESS || json_string_length(p) > API_MAX_PASSWORD) {
		wm_reply_error(r, 400, "address or password too long");
		return;
	}
	addr = xstrdup(json_string_value(a));
	directory_normalize_address(addr);
	if (directory_check_address(addr) != 0) {
		free(addr);
		wm_reply_error(r, 400, "the address must be a full address, local@domain");
		return;
	}
	r->user = addr;
	if (r->wm->limits != NULL && !limits_auth_allowed(r->wm->limits, ip, addr)) {
		/* refused unverified, answered like a wrong password */
		log_warn("webmail", "event=auth_blocked ip=%s user=%s", ip, addr);
		wm_reply_error(r, 401, "bad address or password");
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
	wm_queue_job(r, OP_LOGIN);
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

char *
wm_folder_arg(struct wm_req *r, const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > MAILSTORE_MAX_FOLDER_NAME || !utf8_valid(s, n)) {
		wm_reply_error(r, 400, "bad folder name");
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			wm_reply_error(r, 400, "bad folder name");
			return NULL;
		}
	return xstrdup(s);
}

static int
uid_arg(struct wm_req *r, const char *s)
{
	uint64_t v;

	if (parse_u64(s, 1, UINT32_MAX, &v) != 0) {
		wm_reply_error(r, 400, "bad message uid \"%.20s\"", s);
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
		wm_reply_error(r, 400, "query parameter \"%s\" must be an integer %llu..%llu", name,
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
		wm_reply_error(r, 400, "sort must be date, from, subject or size");
	} else if (order != NULL && *order != '\0') {
		if (strcmp(order, "asc") == 0)
			r->desc = false;
		else if (strcmp(order, "desc") != 0) {
			wm_reply_error(r, 400, "order must be asc or desc");
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
		wm_reply_error(r, 400, "field \"%s\" must be true or false", key);
		return -1;
	}
	*out = json_is_true(v) ? 1 : 0;
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
		wm_reply_error(r, 400, "missing field \"name\"");
		return NULL;
	}
	s = json_string_value(v);
	n = strlen(s);
	if (n == 0 || s[0] == '/' || s[n - 1] == '/' || strstr(s, "//") != NULL ||
	    strpbrk(s, "*%") != NULL || strcasecmp(s, "INBOX") == 0) {
		wm_reply_error(r, 400, "bad folder name (no '*', '%%', empty levels or INBOX)");
		return NULL;
	}
	return wm_folder_arg(r, s);
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
			wm_reply_error(
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
			wm_reply_error(
			    r, 400, "query parameter \"%s\" must be true or false", flags[i]);
			return -1;
		}
		if (v != NULL)
			*fouts[i] = (strcmp(v, "1") == 0 || strcmp(v, "true") == 0) ? 1 : 0;
		free(v);
	}
	return 0;
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
		wm_reply_empty(r, 204);
		return;
	}
	if (strcmp(pattern, "mail/folders") == 0 && r->method == API_GET) {
		wm_queue_job(r, OP_FOLDERS);
		return;
	}
	if (strcmp(pattern, "mail/folders") == 0) {
		char *name = new_folder_arg(r, json_object_get(r->body, "name"));

		if (name == NULL)
			return; /* r is gone */
		r->folder = name;
		wm_queue_job(r, OP_FOLDER_CREATE);
		return;
	}
	if (strcmp(pattern, "mail/send") == 0 || strcmp(pattern, "mail/drafts") == 0) {
		bool send = strcmp(pattern, "mail/send") == 0;

		if (wm_compose_args(r, send) == 0)
			wm_queue_job(r, send ? OP_COMPOSE : OP_DRAFT);
		return;
	}
	if (strcmp(pattern, "mail/addresses") == 0) {
		wm_do_addresses(r);
		return;
	}
	if (strcmp(pattern, "mail/settings") == 0) {
		if (r->method == API_GET)
			wm_reply_json(r, 200, wm_settings_json(r));
		else
			wm_do_settings_patch(r);
		return;
	}
	if (strcmp(pattern, "mail/password") == 0) {
		wm_do_password(r);
		return;
	}
	if (strncmp(pattern, "mail/contacts", 13) == 0) {
		wm_do_contacts(r, pattern);
		return;
	}
	char *folder = wm_folder_arg(r, r->seg[2]);

	if (folder == NULL)
		return; /* r is gone: folder_arg replied */
	r->folder = folder;
	if (strcmp(pattern, "mail/folders/*") == 0) {
		if (r->method == API_DELETE) {
			wm_queue_job(r, OP_FOLDER_DELETE);
		} else {
			char *name = new_folder_arg(r, json_object_get(r->body, "name"));

			if (name == NULL)
				return; /* r is gone */
			r->to = name;
			wm_queue_job(r, OP_FOLDER_RENAME);
		}
		return;
	}
	if (strcmp(pattern, "mail/folders/*/empty") == 0) {
		wm_queue_job(r, OP_EMPTY);
		return;
	}
	if (strcmp(pattern, "mail/folders/*/messages") == 0) {
		if (list_args(r) == 0 && filter_args(r) == 0)
			wm_queue_job(r, OP_LIST);
		return;
	}
	if (uid_arg(r, r->seg[4]) != 0)
		return;
	if (strcmp(pattern, "mail/folders/*/messages/*/parts/*") == 0) {
		r->part = xstrdup(r->seg[6]);
		wm_queue_job(r, OP_PART);
		return;
	}
	if (strcmp(pattern, "mail/folders/*/messages/*/html") == 0) {
		char *v = http_query_get(r->req, "remote_images");

		if (v != NULL && strcmp(v, "1") != 0 && strcmp(v, "0") != 0 &&
		    strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
			free(v);
			wm_reply_error(
			    r, 400, "query parameter \"remote_images\" must be true or false");
			return;
		}
		r->remote_images = v != NULL && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
		free(v);
		wm_queue_job(r, OP_HTML);
	} else if (r->method == API_GET) {
		wm_queue_job(r, OP_GET);
	} else if (r->method == API_PATCH) {
		if (bool_field(r, "seen", &r->set_seen) != 0 ||
		    bool_field(r, "flagged", &r->set_flagged) != 0)
			return;
		if (r->set_seen < 0 && r->set_flagged < 0) {
			wm_reply_error(r, 400, "nothing to change (fields: seen, flagged)");
			return;
		}
		wm_queue_job(r, OP_FLAGS);
	} else if (r->method == API_DELETE) {
		wm_queue_job(r, OP_DELETE);
	} else {
		json_t *to = r->body ? json_object_get(r->body, "to") : NULL;

		if (!json_is_string(to)) {
			wm_reply_error(r, 400, "missing field \"to\" (the target folder)");
			return;
		}
		char *target = wm_folder_arg(r, json_string_value(to));

		if (target == NULL)
			return;
		r->to = target;
		wm_queue_job(r, OP_MOVE);
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

void
webmail_handle(struct http_exchange *x, const struct http_request *req, void *arg)
{
	wm_handle(arg, x, req, NULL);
}

/* trusted_user: a call carried from another node, which checked the
 * session and the CSRF token of that user */
void
wm_handle(struct webmail *wm, struct http_exchange *x, const struct http_request *req,
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
		wm_reply_error(r, 400, "bad %%-encoding in path");
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
			wm_reply_error(r, 405, "method not allowed");
		} else {
			wm_reply_error(r, 404, "no such endpoint");
		}
		return;
	}
	/* a cross-site form cannot send application/json without a CORS
	 * preflight, which we never grant: no login CSRF */
	if (ri == 0 && !is_json(req)) {
		wm_reply_error(r, 415, "login takes a JSON body (Content-Type: application/json)");
		return;
	}
	if (req->body_len > 0 && r->method != API_GET && r->method != API_DELETE) {
		json_error_t jerr;

		r->body = json_loadb(
		    (const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
		if (r->body == NULL) {
			wm_reply_error(r, 400, "bad JSON: %s (line %d column %d)", jerr.text,
			    jerr.line, jerr.column);
			return;
		}
		if (!json_is_object(r->body)) {
			wm_reply_error(r, 400, "body must be a JSON object");
			return;
		}
	}
	if (trusted_user != NULL) {
		if (ri == 0 || strcmp(routes[ri].pattern, "mail/logout") == 0 ||
		    strcmp(routes[ri].pattern, "mail/session") == 0) {
			wm_reply_error(r, 400, "not carried between nodes");
			return;
		}
		r->user = xstrdup(trusted_user);
	} else if (ri == 0) {
		do_login(r);
		return;
	} else if ((ses = session_of(r)) == NULL) {
		wm_reply_error(r, 401, "not logged in");
		return;
	} else {
		r->user = xstrdup(ses->user);
	}
	if (ses != NULL && (routes[ri].flags & NEEDS_CSRF)) {
		struct slice t = http_header_get(req, WEBMAIL_CSRF_HEADER);

		if (!webmail_session_csrf_ok(ses, t.ptr, t.ptr ? t.len : 0)) {
			wm_reply_error(r, 403, "missing or wrong " WEBMAIL_CSRF_HEADER " header");
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
		wm_reply_error(r, 401, "not logged in");
		return;
	}
	if (!account_usable(&u)) {
		dir_user_fini(&u);
		wm_reply_error(r, 403, "account disabled");
		return;
	}
	if (strcmp(routes[ri].pattern, "mail/session") == 0) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:s?}", "address", u.address, "name",
		    u.name ? u.name : "", "csrf_token", ses->csrf, "home_node", u.home_node);

		dir_user_fini(&u);
		wm_reply_json(r, 200, j);
		return;
	}
	if (webmail_home_elsewhere(u.home_node, r->wm->node_name)) {
		if (trusted_user != NULL) {
			/* moved meanwhile: never carried twice */
			wm_reply_error(r, 503, "the mailbox of %s is on node %s now; retry",
			    u.address, u.home_node);
		} else {
			wm_forward_call(r, u.home_node);
		}
		dir_user_fini(&u);
		return;
	}
	dir_user_fini(&u);
	if (r->wm->ms == NULL) {
		wm_reply_error(r, 503, "the mail store is not open");
		return;
	}
	run_route(r, routes[ri].pattern);
}
