/*
 * send.c - the webmail's outgoing mail (docs/webmail.md "Compose and
 * send"): the compose body checked (addresses, text, attachments in
 * base64 with their limits, reply and forward references), the message
 * written by compose.h with In-Reply-To/References and forwarded
 * attachments, handed to the SMTP submission path (smtp_server_submit:
 * sender, recipients, send limits, DKIM, queue), then the copy in Sent;
 * drafts stored in Drafts; one attachment of a stored message decoded
 * for download (Content-Disposition with RFC 8187 filename*).
 */

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cluster/dirsvc.h"
#include "cluster/proto/rpc.pb-c.h"
#include "cluster/rpc/frame.h"
#include "cluster/rpc/rpc.h"
#include "lib/buf.h"
#include "lib/codec.h"
#include "lib/log.h"
#include "lib/utf8.h"
#include "lib/xalloc.h"
#include "node/smtp/server.h"
#include "node/webmail/compose.h"
#include "node/webmail/render.h"
#include "node/webmail/webmail_int.h"
#include "storage/directory/password.h"
#include "storage/mailstore/mailstore.h"
#include "storage/message/header.h"
#include "storage/message/mime.h"

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

void
wm_job_compose(struct wm_req *r)
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
	r->folder = wm_special_folder(r, "\\Drafts", "Drafts");
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
void
wm_job_sent(struct wm_req *r)
{
	char *sent = wm_special_folder(r, "\\Sent", "Sent");
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
		char *drafts = wm_special_folder(r, "\\Drafts", "Drafts");

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

void
wm_job_part(struct wm_req *r)
{
	struct mailstore_msg m;
	struct buf raw;

	if ((r->rc = wm_find_msg(r, r->folder, &m)) != 0)
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

/* --- sending through the submission path ------------------------------ */

static void
reply_submit_error(struct wm_req *r, int code, const char *reason)
{
	if (code == 451 && strstr(reason, "limit") != NULL)
		wm_reply_error(r, 429, "%s", reason);
	else if (code == 552)
		wm_reply_error(r, 413, "%s", reason);
	else if (code >= 500 || code == 452)
		wm_reply_error(r, 400, "%s", reason);
	else
		wm_reply_error(r, 503, "%s", reason);
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
	wm_queue_job(r, OP_SENT);
}

void
wm_send_submit(struct wm_req *r)
{
	struct smtp_submission sub;
	char reason[512];
	bool utf8 = false;
	int code;

	if (r->wm->smtp == NULL) {
		wm_reply_error(r, 503, "sending is not available on this node");
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

void
wm_reply_part(struct wm_req *r)
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
	wm_req_log(r, 200);
	http_reply(r->x, 200, media_type_ok(r->ctype) ? r->ctype : "application/octet-stream",
	    r->msg.data, r->msg.len);
	wm_req_free(r);
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
		wm_reply_error(r, 400, "field \"%s\" must be an array of addresses", key);
		return -1;
	}
	if (json_array_size(v) > WEBMAIL_MAX_RCPTS) {
		wm_reply_error(r, 400, "at most %u recipients", WEBMAIL_MAX_RCPTS);
		return -1;
	}
	*out = xcalloc(json_array_size(v) + 1, sizeof(**out));
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e) ||
		    webmail_parse_addr(json_string_value(e), &(*out)[*nout]) != 0) {
			wm_reply_error(r, 400, "bad address in \"%s\": \"%.100s\"", key,
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
		wm_reply_error(r, 400, "field \"attachments\" must be an array");
		return -1;
	}
	if (json_array_size(v) > WEBMAIL_MAX_ATTACH_COUNT) {
		wm_reply_error(r, 400, "at most %u attachments", WEBMAIL_MAX_ATTACH_COUNT);
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
			wm_reply_error(r, 400,
			    "attachment %zu: \"filename\" must be 1..%u bytes of UTF-8 text", i,
			    WEBMAIL_MAX_FILENAME);
			return -1;
		}
		if (ct != NULL && !json_is_null(ct) &&
		    (!json_is_string(ct) || !media_type_ok(json_string_value(ct)))) {
			wm_reply_error(r, 400, "attachment %zu: bad \"content_type\"", i);
			return -1;
		}
		if (!json_is_string(data) ||
		    b64_strict(json_string_value(data), json_string_length(data), &a->data,
		        &a->len) != 0) {
			wm_reply_error(r, 400, "attachment %zu: \"data\" must be base64", i);
			return -1;
		}
		a->filename = xstrdup(json_string_value(fn));
		a->content_type = xstrdup(
		    json_is_string(ct) ? json_string_value(ct) : "application/octet-stream");
		r->comp.natt++;
		total += a->len;
		if (total > WEBMAIL_MAX_ATTACH) {
			wm_reply_error(
			    r, 413, "attachments over %u bytes in all", WEBMAIL_MAX_ATTACH);
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
		wm_reply_error(r, 400, "field \"%s\" must be text of at most %zu bytes%s", key, max,
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
		wm_reply_error(r, 400, "field \"%s\" must be {\"folder\": name, \"uid\": n}", key);
		return -1;
	}
	{
		char *name = wm_folder_arg(r, json_string_value(f));

		if (name == NULL)
			return -1; /* r is gone: no write through folder */
		*folder = name;
	}
	*uid = (uint32_t)json_integer_value(u);
	return 0;
}

/* the compose body of send and drafts (docs/api.md) into r->comp */
int
wm_compose_args(struct wm_req *r, bool send)
{
	struct webmail_compose *c = &r->comp;
	struct dir_user u;
	json_t *d;

	if (r->body == NULL) {
		wm_reply_error(r, 400, "missing JSON body");
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
			wm_reply_error(r, 400, "field \"draft_uid\" must be a message uid");
			return -1;
		}
		r->draft_uid = (uint32_t)json_integer_value(d);
	}
	if (c->nto + c->ncc + c->nbcc > WEBMAIL_MAX_RCPTS) {
		wm_reply_error(r, 400, "at most %u recipients", WEBMAIL_MAX_RCPTS);
		return -1;
	}
	if (send && c->nto + c->ncc + c->nbcc == 0) {
		wm_reply_error(r, 400, "no recipients (fields: to, cc, bcc)");
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
