/*
 * scan.c - spamd and rspamd clients (scan.h): request building, the two
 * reply parsers, and one libuv connection per scan with a deadline.
 *
 * spamd (SpamAssassin's spamd/PROTOCOL): we send
 *   SYMBOLS SPAMC/1.5 / Content-length: N / User: U / blank / message
 * and read "SPAMD/1.1 0 EX_OK", "Spam: True ; 15.2 / 5.0",
 * "Content-length: N", blank, and the rule names ("A,B,C").
 * rspamd (its protocol.md): POST /checkv2 with the envelope in headers
 * (IP, Helo, From, Rcpt per recipient, Queue-Id) and the message as body;
 * the reply is JSON: {"score":..,"required_score":..,"action":"..",
 * "symbols":{NAME:{..},..}}. rspamd's User header means "an authenticated
 * user sent this" (it turns off checks meant for inbound mail): only sent
 * for mail of authenticated users ([antispam] scan_outbound).
 */
#include "node/antispam/scan.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/xalloc.h"

const char *
scan_kind_name(enum scan_kind k)
{
	return k == SCAN_SPAMD ? "spamd" : k == SCAN_RSPAMD ? "rspamd" : "none";
}

/* --- small parsing helpers ------------------------------------------------ */

/* the end of the header block: offset of the first body byte, 0 if none yet */
static size_t
header_end(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (p[i] != '\n')
			continue;
		if (p[i + 1] == '\n')
			return i + 2;
		if (p[i + 1] == '\r' && i + 2 < len && p[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* one line of [*pos, end): sets *l and *ll (without CRLF), advances *pos */
static bool
next_line(const uint8_t *p, size_t end, size_t *pos, const char **l, size_t *ll)
{
	const uint8_t *lf;
	size_t n;

	if (*pos >= end)
		return false;
	lf = memchr(p + *pos, '\n', end - *pos);
	n = lf != NULL ? (size_t)(lf - (p + *pos)) : end - *pos;
	*l = (const char *)p + *pos;
	*ll = n;
	if (n > 0 && (*l)[n - 1] == '\r')
		(*ll)--;
	*pos += n + (lf != NULL ? 1 : 0);
	return true;
}

static void
skip_ws(const char *s, size_t n, size_t *i)
{
	while (*i < n && (s[*i] == ' ' || s[*i] == '\t'))
		(*i)++;
}

/* a decimal "-12.5" (no exponent: scanners never write one); clamped */
static bool
parse_decimal(const char *s, size_t n, size_t *i, double *out)
{
	double v = 0, scale = 1;
	bool neg = false, digits = false;

	if (*i < n && (s[*i] == '-' || s[*i] == '+'))
		neg = s[(*i)++] == '-';
	while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
		if (v < SCAN_SCORE_MAX)
			v = v * 10 + (s[*i] - '0');
		(*i)++;
		digits = true;
	}
	if (*i < n && s[*i] == '.') {
		(*i)++;
		while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
			if (scale > 1e-9) {
				scale /= 10;
				v += (s[*i] - '0') * scale;
			}
			(*i)++;
			digits = true;
		}
	}
	if (!digits)
		return false;
	if (v > SCAN_SCORE_MAX)
		v = SCAN_SCORE_MAX;
	*out = neg ? -v : v;
	return true;
}

/* header "Name: value" with this name (case-insensitive): the value */
static bool
header_is(const char *l, size_t ll, const char *name, const char **v, size_t *vl)
{
	size_t n = strlen(name), i;

	if (ll <= n || ascii_ncasecmp(l, name, n) != 0 || l[n] != ':')
		return false;
	i = n + 1;
	skip_ws(l, ll, &i);
	*v = l + i;
	*vl = ll - i;
	while (*vl > 0 && ((*v)[*vl - 1] == ' ' || (*v)[*vl - 1] == '\t'))
		(*vl)--;
	return true;
}

static bool
parse_length(const char *v, size_t vl, size_t *out)
{
	size_t n = 0;

	if (vl == 0 || vl > 9)
		return false;
	for (size_t i = 0; i < vl; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		n = n * 10 + (size_t)(v[i] - '0');
	}
	*out = n;
	return true;
}

/* append one rule name to out->symbols: only [A-Za-z0-9_.-] characters
 * (the names go into a header); a name that does not fit is dropped */
static void
add_symbol(struct scan_result *out, const char *name, size_t n)
{
	size_t have = strlen(out->symbols), k = 0;
	char clean[128];

	for (size_t i = 0; i < n && k < sizeof(clean) - 1; i++) {
		char c = name[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '.' || c == '-')
			clean[k++] = c;
	}
	if (k == 0 || have + k + 2 > sizeof(out->symbols))
		return;
	if (have > 0)
		out->symbols[have++] = ',';
	memcpy(out->symbols + have, clean, k);
	out->symbols[have + k] = '\0';
}

static int
fail(struct scan_result *out, const char *why)
{
	snprintf(out->reason, sizeof(out->reason), "%s", why);
	out->status = MN_EPARSE;
	return MN_EPARSE;
}

static void
result_init(struct scan_result *out)
{
	memset(out, 0, sizeof(*out));
}

/* --- spamd ------------------------------------------------------------------ */

/* "True ; 15.2 / 5.0" */
static bool
parse_spam_header(const char *v, size_t vl, struct scan_result *out)
{
	size_t i = 0, w;

	for (w = 0; w < vl && v[w] != ' ' && v[w] != ';'; w++)
		;
	if ((w == 4 && ascii_ncasecmp(v, "true", 4) == 0) ||
	    (w == 3 && ascii_ncasecmp(v, "yes", 3) == 0))
		out->spam = true;
	else if ((w == 5 && ascii_ncasecmp(v, "false", 5) == 0) ||
	         (w == 2 && ascii_ncasecmp(v, "no", 2) == 0))
		out->spam = false;
	else
		return false;
	i = w;
	skip_ws(v, vl, &i);
	if (i >= vl || v[i] != ';')
		return false;
	i++;
	skip_ws(v, vl, &i);
	if (!parse_decimal(v, vl, &i, &out->score))
		return false;
	skip_ws(v, vl, &i);
	if (i >= vl || v[i] != '/')
		return false;
	i++;
	skip_ws(v, vl, &i);
	if (!parse_decimal(v, vl, &i, &out->required))
		return false;
	skip_ws(v, vl, &i);
	return i == vl;
}

int
scan_spamd_parse(const uint8_t *p, size_t len, bool eof, struct scan_result *out)
{
	size_t hend, pos = 0, clen = 0, ll, vl, i;
	bool has_clen = false, has_spam = false, cut = false;
	const char *l, *v;
	long code = -1;

	result_init(out);
	if (len > SCAN_REPLY_MAX)
		return fail(out, "spamd reply too long");
	hend = header_end(p, len);
	if (hend == 0) {
		if (!eof)
			return 0;
		/* a status line alone: spamd's error replies */
		hend = len;
		cut = true;
	}
	if (!next_line(p, hend, &pos, &l, &ll) || ll < 8 || memcmp(l, "SPAMD/", 6) != 0)
		return fail(out, "not a spamd reply");
	for (i = 6; i < ll && l[i] != ' '; i++)
		if ((l[i] < '0' || l[i] > '9') && l[i] != '.')
			return fail(out, "not a spamd reply");
	skip_ws(l, ll, &i);
	if (i < ll && l[i] >= '0' && l[i] <= '9') {
		code = 0;
		while (i < ll && l[i] >= '0' && l[i] <= '9' && code < 1000)
			code = code * 10 + (l[i++] - '0');
	}
	if (code != 0) {
		char line[120];

		snprintf(line, sizeof(line), "spamd: %.*s", (int)(ll < 100 ? ll : 100), l);
		for (char *c = line; *c; c++)
			if ((unsigned char)*c < ' ' || *c == '"' || (unsigned char)*c >= 0x7f)
				*c = '?';
		return fail(out, line);
	}
	if (cut)
		return fail(out, "spamd reply ends early");
	while (next_line(p, hend, &pos, &l, &ll)) {
		if (ll == 0)
			break;
		if (header_is(l, ll, "Spam", &v, &vl)) {
			if (!parse_spam_header(v, vl, out))
				return fail(out, "bad Spam header in spamd reply");
			has_spam = true;
		} else if (header_is(l, ll, "Content-length", &v, &vl)) {
			if (!parse_length(v, vl, &clen) || clen > SCAN_REPLY_MAX)
				return fail(out, "bad Content-length in spamd reply");
			has_clen = true;
		}
	}
	if (!has_spam)
		return fail(out, "no Spam header in spamd reply");
	if (has_clen) {
		if (len - hend < clen)
			return eof ? fail(out, "spamd reply ends early") : 0;
	} else if (!eof) {
		return 0; /* the body (if any) runs to the close */
	} else {
		clen = len - hend;
	}
	/* SYMBOLS: "A,B,C" with maybe a line end */
	for (size_t s = hend, e; s < hend + clen; s = e + 1) {
		for (e = s; e < hend + clen && p[e] != ','; e++)
			;
		add_symbol(out, (const char *)p + s, e - s);
	}
	return 1;
}

/* --- rspamd ----------------------------------------------------------------- */

static int
rspamd_json(const uint8_t *body, size_t n, struct scan_result *out)
{
	json_error_t e;
	json_t *root = json_loadb((const char *)body, n, JSON_REJECT_DUPLICATES, &e), *v;
	const char *act;

	if (root == NULL || !json_is_object(root)) {
		json_decref(root);
		return fail(out, "rspamd reply is not a JSON object");
	}
	v = json_object_get(root, "score");
	if (!json_is_number(v)) {
		json_decref(root);
		return fail(out, "rspamd reply has no score");
	}
	out->score = json_number_value(v);
	v = json_object_get(root, "required_score");
	out->required = json_is_number(v) ? json_number_value(v) : 0;
	for (double *d = &out->score; d <= &out->required; d++) {
		if (!(*d > -SCAN_SCORE_MAX))
			*d = -SCAN_SCORE_MAX; /* also NaN */
		if (*d > SCAN_SCORE_MAX)
			*d = SCAN_SCORE_MAX;
	}
	act = json_string_value(json_object_get(root, "action"));
	if (act == NULL) {
		json_decref(root);
		return fail(out, "rspamd reply has no action");
	}
	for (size_t i = 0, k = 0; act[i] != '\0' && k < sizeof(out->action) - 1; i++)
		if ((act[i] >= 'a' && act[i] <= 'z') || act[i] == ' ' || act[i] == '_' ||
		    act[i] == '-')
			out->action[k++] = act[i];
	/* rspamd's actions (rspamd.com/doc/configuration/metrics): these three
	 * say the message is spam; "no action", "greylist" (we greylist
	 * ourselves) and "soft reject" (rate limits) do not */
	out->spam = strcmp(out->action, "reject") == 0 || strcmp(out->action, "add header") == 0 ||
	            strcmp(out->action, "rewrite subject") == 0;
	if (json_is_true(json_object_get(root, "is_skipped")))
		out->spam = false;
	v = json_object_get(root, "symbols");
	if (json_is_object(v)) {
		const char *name;
		json_t *sym;

		json_object_foreach(v, name, sym)
		{
			(void)sym;
			add_symbol(out, name, strlen(name));
		}
	}
	json_decref(root);
	return 1;
}

int
scan_rspamd_parse(const uint8_t *p, size_t len, bool eof, struct scan_result *out)
{
	size_t hend, pos = 0, clen = 0, ll, vl, i;
	bool has_clen = false;
	const char *l, *v;
	int code = 0;

	result_init(out);
	if (len > SCAN_REPLY_MAX)
		return fail(out, "rspamd reply too long");
	hend = header_end(p, len);
	if (hend == 0)
		return eof ? fail(out, "rspamd reply ends in its header") : 0;
	if (!next_line(p, hend, &pos, &l, &ll) || ll < 12 || memcmp(l, "HTTP/1.", 7) != 0 ||
	    l[8] != ' ')
		return fail(out, "not an HTTP reply");
	for (i = 9; i < 12; i++) {
		if (l[i] < '0' || l[i] > '9')
			return fail(out, "not an HTTP reply");
		code = code * 10 + (l[i] - '0');
	}
	if (code != 200) {
		char why[80];

		snprintf(why, sizeof(why), "rspamd answered HTTP %d", code);
		return fail(out, why);
	}
	while (next_line(p, hend, &pos, &l, &ll)) {
		if (ll == 0)
			break;
		if (header_is(l, ll, "Content-Length", &v, &vl)) {
			if (!parse_length(v, vl, &clen) || clen > SCAN_REPLY_MAX)
				return fail(out, "bad Content-Length in rspamd reply");
			has_clen = true;
		} else if (header_is(l, ll, "Transfer-Encoding", &v, &vl)) {
			/* we ask with Connection: close and HTTP/1.0 semantics */
			return fail(out, "rspamd reply uses a transfer coding");
		}
	}
	if (has_clen) {
		if (len - hend < clen)
			return eof ? fail(out, "rspamd reply ends early") : 0;
	} else if (!eof) {
		return 0;
	} else {
		clen = len - hend;
	}
	return rspamd_json(p + hend, clen, out);
}

/* --- targets and requests ----------------------------------------------- */

int
scan_target_parse(
    enum scan_kind kind, const char *spec, struct scan_target *out, struct mn_err *err)
{
	const char *hp = spec, *slash, *colon, *host;
	size_t hl;
	unsigned long port;
	char *end;

	memset(out, 0, sizeof(*out));
	out->kind = kind;
	snprintf(out->path, sizeof(out->path), "/checkv2");
	if (kind == SCAN_RSPAMD) {
		if (strncmp(spec, "http://", 7) != 0)
			return mn_err_set(
			    err, MN_EINVAL, "rspamd_url: '%.64s' is not http://IP:PORT", spec);
		hp = spec + 7;
	}
	slash = strchr(hp, '/');
	if (slash != NULL) {
		if (kind != SCAN_RSPAMD || strlen(slash) >= sizeof(out->path))
			return mn_err_set(
			    err, MN_EINVAL, "scanner address '%.64s' is not IP:PORT", spec);
		snprintf(out->path, sizeof(out->path), "%s", slash);
	}
	hl = slash != NULL ? (size_t)(slash - hp) : strlen(hp);
	host = hp;
	if (hl > 0 && hp[0] == '[') {
		const char *close = memchr(hp, ']', hl);

		if (close == NULL || close + 1 >= hp + hl || close[1] != ':')
			goto bad;
		colon = close + 1;
		host = hp + 1;
		hl = (size_t)(close - host);
	} else {
		colon = memchr(hp, ':', hl);
		if (colon == NULL)
			goto bad;
		hl = (size_t)(colon - hp);
	}
	if (hl == 0 || hl >= sizeof(out->ip))
		goto bad;
	memcpy(out->ip, host, hl);
	out->ip[hl] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (port == 0 || port > 65535 || (end != hp + strlen(hp) && end != slash))
		goto bad;
	out->port = (uint16_t)port;
	return 0;
bad:
	return mn_err_set(err, MN_EINVAL, "scanner address '%.64s' is not IP:PORT", spec);
}

/* a header value from the client: cut at the first control character */
static void
value(struct buf *b, const char *v)
{
	size_t n = 0;

	while (v != NULL && v[n] != '\0' && (unsigned char)v[n] >= ' ' && n < 512)
		n++;
	buf_append(b, v, n);
}

char *
scan_request_build(const struct scan_target *t, const struct scan_request *req, size_t *len_out)
{
	struct buf b;
	size_t body = req->head_len + req->len;

	buf_init(&b, 0);
	if (t->kind == SCAN_SPAMD) {
		buf_printf(&b, "SYMBOLS SPAMC/1.5\r\nContent-length: %zu\r\n", body);
		if (req->user != NULL && req->user[0] != '\0') {
			buf_append_str(&b, "User: ");
			value(&b, req->user);
			buf_append_str(&b, "\r\n");
		}
	} else {
		bool v6 = strchr(t->ip, ':') != NULL;

		buf_printf(&b,
		    "POST %s HTTP/1.1\r\nHost: %s%s%s:%u\r\nConnection: close\r\n"
		    "Content-Length: %zu\r\n",
		    t->path, v6 ? "[" : "", t->ip, v6 ? "]" : "", t->port, body);
		buf_append_str(&b, "IP: ");
		value(&b, req->ip);
		if (req->helo != NULL) {
			buf_append_str(&b, "\r\nHelo: ");
			value(&b, req->helo);
		}
		buf_append_str(&b, "\r\nFrom: <");
		value(&b, req->sender);
		buf_append_str(&b, ">\r\n");
		for (size_t i = 0; i < req->nrcpts; i++) {
			buf_append_str(&b, "Rcpt: <");
			value(&b, req->rcpts[i]);
			buf_append_str(&b, ">\r\n");
		}
		if (req->auth_user != NULL) {
			buf_append_str(&b, "User: ");
			value(&b, req->auth_user);
			buf_append_str(&b, "\r\n");
		}
		if (req->queue_id != NULL) {
			buf_append_str(&b, "Queue-Id: ");
			value(&b, req->queue_id);
			buf_append_str(&b, "\r\n");
		}
	}
	buf_append_str(&b, "\r\n");
	buf_append(&b, req->head, req->head_len);
	buf_append(&b, req->msg, req->len);
	return buf_steal(&b, len_out);
}

/* --- the connection ------------------------------------------------------ */

struct scan_job {
	uv_loop_t *loop;
	uv_timer_t timer;
	struct conn *c;
	bool connecting;
	bool finished; /* result delivered (or cancelled) */
	bool cancelled;
	bool timer_closed_cb;
	bool pending; /* result set before the loop ran (connect refused at once) */
	enum scan_kind kind;
	uint32_t timeout_ms;
	char *req;
	size_t req_len;
	scan_done_fn *cb;
	void *arg;
	struct scan_result res;
};

static void
job_maybe_free(struct scan_job *j)
{
	if (j->timer_closed_cb && j->c == NULL && !j->connecting) {
		free(j->req);
		free(j);
	}
}

static void
timer_closed_cb(uv_handle_t *h)
{
	struct scan_job *j = h->data;

	j->timer_closed_cb = true;
	job_maybe_free(j);
}

/* deliver j->res once; the connection (if any) is aborted */
static void
finish(struct scan_job *j)
{
	if (j->finished)
		return;
	j->finished = true;
	uv_timer_stop(&j->timer);
	uv_close((uv_handle_t *)&j->timer, timer_closed_cb);
	if (j->c != NULL && !conn_is_closing(j->c))
		conn_abort(j->c);
	if (!j->cancelled)
		j->cb(j->arg, &j->res);
}

static void
finish_err(struct scan_job *j, int code, const char *why)
{
	memset(&j->res, 0, sizeof(j->res));
	j->res.status = code;
	snprintf(j->res.reason, sizeof(j->res.reason), "%s", why);
	finish(j);
}

static int
parse(struct scan_job *j, const struct buf *in, bool eof)
{
	int rc = j->kind == SCAN_SPAMD ? scan_spamd_parse(in->data, in->len, eof, &j->res)
	                               : scan_rspamd_parse(in->data, in->len, eof, &j->res);

	return rc;
}

static void
on_read_cb(struct conn *c, void *arg)
{
	struct scan_job *j = arg;
	struct buf *in = conn_input(c);
	int rc;

	if (j->finished)
		return;
	if (in->len >= SCAN_REPLY_MAX) {
		finish_err(j, MN_ETOOBIG, "reply longer than 64 KiB");
		return;
	}
	/* complete (1) or refused (< 0, res holds MN_EPARSE and the reason) */
	rc = parse(j, in, false);
	if (rc != 0)
		finish(j);
}

static void
on_close_cb(struct conn *c, void *arg, int reason)
{
	struct scan_job *j = arg;

	(void)reason;
	if (!j->finished && conn_input(c)->len == 0) {
		j->c = NULL; /* closing: finish must not abort it */
		finish_err(j, MN_EIO, "connection closed without a reply");
	} else if (!j->finished) {
		int rc = parse(j, conn_input(c), true);

		j->c = NULL;
		if (rc == 1 || rc < 0)
			finish(j);
		else
			finish_err(j, MN_EIO, "connection closed before the reply");
	}
	j->c = NULL;
	job_maybe_free(j);
}

static const struct conn_handler scan_handler = {
    .on_read = on_read_cb,
    .on_close = on_close_cb,
};

static void
on_connect_cb(struct conn *c, int status, void *arg)
{
	struct scan_job *j = arg;

	j->connecting = false;
	if (c == NULL) {
		if (!j->finished)
			finish_err(j, status == MN_ETIMEDOUT ? MN_ETIMEDOUT : MN_EIO,
			    status == MN_ETIMEDOUT ? "connect timed out" : "connection refused");
		job_maybe_free(j);
		return;
	}
	j->c = c;
	conn_set_handler(c, &scan_handler, j);
	conn_set_log_service(c, "scan");
	if (j->finished) {
		conn_abort(c); /* timed out or cancelled meanwhile */
		return;
	}
	conn_set_input_max(c, SCAN_REPLY_MAX);
	conn_write(c, j->req, j->req_len);
	free(j->req);
	j->req = NULL;
}

static void
on_timer_cb(uv_timer_t *t)
{
	struct scan_job *j = t->data;
	char why[80];

	if (j->pending) {
		finish(j);
		return;
	}
	snprintf(why, sizeof(why), "no reply within %u ms", j->timeout_ms);
	finish_err(j, MN_ETIMEDOUT, why);
}

struct scan_job *
scan_start(uv_loop_t *loop, const struct scan_target *t, const struct scan_request *req,
    scan_done_fn *cb, void *arg)
{
	struct scan_job *j = xcalloc(1, sizeof(*j));

	j->loop = loop;
	j->kind = t->kind;
	j->cb = cb;
	j->arg = arg;
	j->timeout_ms = t->timeout_ms;
	j->req = scan_request_build(t, req, &j->req_len);
	uv_timer_init(loop, &j->timer);
	j->timer.data = j;
	j->connecting = true;
	if (conn_connect(loop, t->ip, t->port, t->timeout_ms, on_connect_cb, j) < 0) {
		j->connecting = false;
		j->pending = true;
		j->res.status = MN_EIO;
		snprintf(j->res.reason, sizeof(j->res.reason), "cannot connect to %s:%u", t->ip,
		    t->port);
		uv_timer_start(&j->timer, on_timer_cb, 0, 0);
		return j;
	}
	uv_timer_start(&j->timer, on_timer_cb, t->timeout_ms, 0);
	return j;
}

void
scan_cancel(struct scan_job *j)
{
	j->cancelled = true;
	finish(j);
}
