/*
 * outbound_stub.c - TEMPORARY stand-in for remote.c and dsn.c until branch
 * h/outbound lands on main; delete this file then. remote_deliver defers
 * every recipient; dsn_build makes a minimal RFC 3464 report.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/xalloc.h"
#include "node/delivery/dsn.h"
#include "node/delivery/remote.h"

struct remote_ctx {
	uv_loop_t *loop;
};

struct stub_req {
	uv_idle_t idle;
	struct remote_job *job;
	remote_done_cb cb;
	void *arg;
};

int
remote_ctx_new(uv_loop_t *loop, const struct mn_config *cfg, struct remote_ctx **out,
    struct mn_err *err)
{
	*out = xcalloc(1, sizeof(**out));
	(*out)->loop = loop;
	return 0;
}

void
remote_ctx_free(struct remote_ctx **ctx)
{
	free(*ctx);
	*ctx = NULL;
}

static void
stub_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
stub_idle(uv_idle_t *h)
{
	struct stub_req *r = h->data;

	uv_idle_stop(h);
	for (size_t i = 0; i < r->job->nrcpts; i++) {
		r->job->rcpts[i].outcome = REMOTE_TEMPFAIL;
		strcpy(r->job->rcpts[i].reply, "451 4.3.0 outbound delivery not available yet");
	}
	r->cb(r->job, r->arg);
	uv_close((uv_handle_t *)h, stub_closed);
}

int
remote_deliver(struct remote_ctx *ctx, struct remote_job *job, remote_done_cb cb, void *arg)
{
	struct stub_req *r = xcalloc(1, sizeof(*r));

	r->job = job;
	r->cb = cb;
	r->arg = arg;
	uv_idle_init(ctx->loop, &r->idle);
	r->idle.data = r;
	uv_idle_start(&r->idle, stub_idle);
	return 0;
}

int
dsn_build(struct buf *out, const struct dsn_info *info)
{
	char date[64];
	time_t now = (time_t)info->now;
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	buf_printf(out,
	    "From: Mail Delivery System <%s>\r\nTo: <%s>\r\nDate: %s\r\nMessage-ID: <%s>\r\n"
	    "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n"
	    "\r\n--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n",
	    info->postmaster, info->to, date, info->message_id);
	for (size_t i = 0; i < info->nrcpts; i++)
		buf_printf(out, "<%s>: %s\r\n", info->rcpts[i].address,
		    info->rcpts[i].diagnostic ? info->rcpts[i].diagnostic : "failed");
	buf_printf(out, "\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
	                "Reporting-MTA: dns; %s\r\n",
	    info->reporting_mta);
	for (size_t i = 0; i < info->nrcpts; i++)
		buf_printf(out, "\r\nFinal-Recipient: rfc822; %s\r\nAction: %s\r\nStatus: %s\r\n",
		    info->rcpts[i].address, info->rcpts[i].action == DSN_DELAYED ? "delayed" : "failed",
		    info->rcpts[i].status);
	buf_printf(out, "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n");
	buf_append(out, info->original, info->original_len < 2048 ? info->original_len : 2048);
	return buf_printf(out, "\r\n--B--\r\n");
}
