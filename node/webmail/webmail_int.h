/*
 * webmail_int.h - what the webmail's files share (not an interface for
 * other modules: that is webmail.h). One request is one struct wm_req,
 * owned by the code handling it until it is answered with exactly one
 * wm_reply_* call (which frees it); work on the mail store runs as one
 * job on the thread pool (wm_queue_job) and is answered from the loop.
 *
 *   webmail.c   routes, sessions and login, folders, lists, reading, flags,
 *               move, delete, the thread-pool jobs and their answers
 *   send.c      compose input, messages written (compose.h), sending through
 *               the SMTP submission path, drafts, attachment downloads
 *   account.c   address completion, settings, password change, contacts
 *               (directory writes through dirsvc)
 *   forward.c   calls of users homed on another node (RPC_WEBMAIL)
 */
#ifndef MN_NODE_WEBMAIL_INT_H
#define MN_NODE_WEBMAIL_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "node/admin/route.h"
#include "node/http/http.h"
#include "node/webmail/compose.h"
#include "node/webmail/webmail.h"
#include "storage/directory/directory.h"

struct mailstore_msg;
struct rpc_client;
struct smtp_server;

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

/* answers (each frees r) */
void wm_req_free(struct wm_req *r);
void wm_req_log(struct wm_req *r, int status);
void wm_reply_json(struct wm_req *r, int status, json_t *j);
void wm_reply_empty(struct wm_req *r, int status);
void wm_reply_error(struct wm_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* a mail store failure (r->rc): a fixed reason per status, detail logged */
void wm_reply_store_error(struct wm_req *r);
void wm_queue_job(struct wm_req *r, enum wm_op op);

/* a folder name from input, or NULL after answering 400 (r is gone) */
char *wm_folder_arg(struct wm_req *r, const char *s);
/* the folder with that special use (RFC 6154), or def (thread pool) */
char *wm_special_folder(struct wm_req *r, const char *use, const char *def);
/* r->uid's list entry in folder, or MN_ENOENT (thread pool) */
int wm_find_msg(struct wm_req *r, const char *folder, struct mailstore_msg *copy);
/* one request; trusted_user: carried from another node that checked the
 * session and CSRF token of that user (forward.c) */
void wm_handle(struct webmail *wm, struct http_exchange *x, const struct http_request *req,
    const char *trusted_user);

/* send.c */
int wm_compose_args(struct wm_req *r, bool send);
void wm_job_compose(struct wm_req *r);
void wm_job_sent(struct wm_req *r);
void wm_job_part(struct wm_req *r);
void wm_send_submit(struct wm_req *r);
void wm_reply_part(struct wm_req *r);

/* account.c */
void wm_do_addresses(struct wm_req *r);
json_t *wm_settings_json(struct wm_req *r);
void wm_do_settings_patch(struct wm_req *r);
void wm_do_password(struct wm_req *r);
void wm_password_done(struct wm_req *r);
void wm_do_contacts(struct wm_req *r, const char *pattern);

/* forward.c */
void wm_forward_call(struct wm_req *r, const char *home);

#endif
