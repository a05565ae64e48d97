/*
 * remote.c - one delivery attempt of a queued message to the recipients of
 * one remote domain: where to connect ([delivery] mx_override, smarthost
 * relay_host, or the domain's MX hosts by preference with the domain itself
 * as implicit MX, RFC 5321 §5.1), the A/AAAA addresses of each host tried
 * in order until one gives an answer, opportunistic STARTTLS with one
 * plaintext retry of an address whose handshake failed, and the outcome
 * per recipient.
 *
 * Owns the DNS resolver and the client TLS context. Each attempt owns
 * itself until its callback has run (deferred through a zero timer, so
 * never from inside remote_deliver). The SMTP dialogue is smtp_client.c.
 *
 * Connection reuse: after a transaction that ended in order, the idle
 * session is parked per recipient domain for keep_ms (default 5 s, one per
 * domain, at most REMOTE_PARKED_MAX); the next job for that domain sends
 * RSET on it instead of connecting. A parked connection that fails is
 * dropped and the job takes the normal route.
 */
#include "node/delivery/remote.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/tls.h"
#include "lib/xalloc.h"
#include "node/delivery/dns.h"
#include "node/delivery/smtp_client.h"

#define REMOTE_SMTP_PORT 25
#define REMOTE_COMMAND_TIMEOUT_MS (5 * 60 * 1000) /* RFC 5321 §4.5.3.2 */
#define REMOTE_DATA_TIMEOUT_MS (10 * 60 * 1000)   /* §4.5.3.2.6 */
#define REMOTE_KEEP_MS 5000
#define REMOTE_PARKED_MAX 64

struct remote_parked {
	struct remote_parked *next;
	struct remote_ctx *ctx;
	struct smtp_client *s;
	char domain[DNS_NAME_MAX];
};

struct remote_attempt;

struct remote_ctx {
	uv_loop_t *loop;
	char *helo;
	char *fixed_host; /* mx_override or relay_host; NULL: MX lookup */
	uint16_t fixed_port;
	bool fixed_is_relay;
	char *relay_user, *relay_password;
	uint16_t mx_port;
	uint32_t connect_timeout_ms, command_timeout_ms, data_timeout_ms;
	struct dns_resolver *dns;
	struct tls_ctx *tls;
	struct remote_attempt *attempts; /* in flight */
	size_t nattempts;
	uint32_t keep_ms;
	struct remote_parked *parked; /* idle connections by domain */
	size_t nparked;
	bool freeing;
};

struct remote_attempt {
	struct remote_ctx *ctx;
	struct remote_attempt *prev, *next;
	struct remote_job *job;
	remote_done_cb cb;
	void *arg;
	struct dns_mx hosts[DNS_MAX_RECORDS];
	size_t nhosts, host_i;
	bool implicit_mx;
	uint16_t port;
	char addrs[DNS_MAX_RECORDS][DNS_IP_MAX];
	size_t naddrs, addr_i;
	bool no_tls; /* this address failed the TLS handshake once */
	bool connecting;
	struct smtp_client *session;
	struct smtp_client *idle; /* session done and alive: park or quit at the end */
	bool reused;              /* session came from the parked ones */
	char last_reason[512];
	bool last_permanent;
	bool finished;
	uv_timer_t defer;
};

static void attempt_next_host(struct remote_attempt *a);
static void attempt_next_addr(struct remote_attempt *a);
static void attempt_route(struct remote_attempt *a);
static void session_done_cb(struct smtp_client *s, enum smtp_client_result res, const char *reason,
    bool permanent, bool alive, void *arg);

static void
ctx_destroy(struct remote_ctx *ctx)
{
	dns_resolver_free(&ctx->dns);
	tls_ctx_free(&ctx->tls);
	free(ctx->helo);
	free(ctx->fixed_host);
	free(ctx->relay_user);
	free(ctx->relay_password);
	free(ctx);
}

/* split_hostport - "HOST:PORT" (config checked the form) */
static int
split_hostport(const char *s, char **host_out, uint16_t *port_out)
{
	const char *colon = strrchr(s, ':');
	uint64_t port;

	if (colon == NULL || colon == s || parse_u64(colon + 1, 1, 65535, &port) < 0)
		return MN_EINVAL;
	*host_out = xstrndup(s, (size_t)(colon - s));
	*port_out = (uint16_t)port;
	return 0;
}

int
remote_ctx_new(
    uv_loop_t *loop, const struct mn_config *cfg, struct remote_ctx **out, struct mn_err *err)
{
	struct remote_ctx *ctx = xcalloc(1, sizeof(*ctx));
	int rc;

	ctx->loop = loop;
	ctx->helo = xstrdup(cfg->hostname ? cfg->hostname : "localhost");
	ctx->mx_port = REMOTE_SMTP_PORT;
	ctx->connect_timeout_ms = cfg->delivery_connect_timeout_ms;
	ctx->command_timeout_ms = REMOTE_COMMAND_TIMEOUT_MS;
	ctx->data_timeout_ms = REMOTE_DATA_TIMEOUT_MS;
	ctx->keep_ms = REMOTE_KEEP_MS;
	if (cfg->delivery_mx_override && cfg->delivery_mx_override[0]) {
		if (split_hostport(cfg->delivery_mx_override, &ctx->fixed_host, &ctx->fixed_port) <
		    0) {
			ctx_destroy(ctx);
			return mn_err_set(err, MN_EINVAL,
			    "[delivery] mx_override %s: not HOST:PORT", cfg->delivery_mx_override);
		}
	} else if (cfg->delivery_relay_host && cfg->delivery_relay_host[0]) {
		ctx->fixed_host = xstrdup(cfg->delivery_relay_host);
		ctx->fixed_port = (uint16_t)cfg->delivery_relay_port;
		ctx->fixed_is_relay = true;
	}
	/* Credentials are used only toward the smarthost, never an MX. */
	if (cfg->delivery_relay_user && cfg->delivery_relay_user[0]) {
		ctx->relay_user = xstrdup(cfg->delivery_relay_user);
		ctx->relay_password =
		    xstrdup(cfg->delivery_relay_password ? cfg->delivery_relay_password : "");
	}
	if ((rc = dns_resolver_new(loop, cfg->dns_resolvers, &ctx->dns, err)) < 0) {
		ctx_destroy(ctx);
		return mn_err_wrap(err, "[dns] resolvers");
	}
	/* Opportunistic STARTTLS: MX hosts rarely have certificates we could
	 * verify (RFC 7435), so any certificate is accepted. */
	if ((rc = tls_client_ctx_new(NULL, false, &ctx->tls, err)) < 0) {
		ctx_destroy(ctx);
		return mn_err_wrap(err, "outbound TLS");
	}
	*out = ctx;
	return 0;
}

void
remote_ctx_free(struct remote_ctx **ctxp)
{
	struct remote_ctx *ctx = *ctxp;

	if (ctx == NULL)
		return;
	*ctxp = NULL;
	if (ctx->nattempts == 0 && ctx->nparked == 0) {
		ctx_destroy(ctx);
		return;
	}
	/* Attempts still run: their callbacks are dropped, their sessions
	 * aborted; parked connections get QUIT. The last one to finish frees
	 * the context. */
	ctx->freeing = true;
	for (struct remote_attempt *a = ctx->attempts; a; a = a->next)
		if (a->session)
			smtp_client_abort(a->session);
	for (struct remote_parked *p = ctx->parked; p; p = p->next)
		smtp_client_quit(p->s);
}

void
remote_ctx_set_keep(struct remote_ctx *ctx, uint32_t keep_ms)
{
	ctx->keep_ms = keep_ms;
}

static void
parked_closed_cb(void *arg)
{
	struct remote_parked *p = arg, **pp;
	struct remote_ctx *ctx = p->ctx;

	for (pp = &ctx->parked; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	ctx->nparked--;
	free(p);
	if (ctx->freeing && ctx->nattempts == 0 && ctx->nparked == 0)
		ctx_destroy(ctx);
}

/* park - keep an idle session for the next job to this domain */
static void
park(struct remote_ctx *ctx, const char *domain, struct smtp_client *s)
{
	struct remote_parked *p;

	if (ctx->freeing || ctx->keep_ms == 0 || ctx->nparked >= REMOTE_PARKED_MAX ||
	    strlen(domain) >= DNS_NAME_MAX) {
		smtp_client_quit(s);
		return;
	}
	for (p = ctx->parked; p; p = p->next) {
		if (ascii_casecmp(p->domain, domain) == 0) {
			smtp_client_quit(s); /* one per domain is enough */
			return;
		}
	}
	p = xcalloc(1, sizeof(*p));
	p->ctx = ctx;
	p->s = s;
	snprintf(p->domain, sizeof(p->domain), "%s", domain);
	p->next = ctx->parked;
	ctx->parked = p;
	ctx->nparked++;
	smtp_client_park(s, ctx->keep_ms, parked_closed_cb, p);
}

/* unpark - take the parked session for domain and start job on it; false
 * when there is none (or it is going away). */
static bool
unpark(struct remote_attempt *a)
{
	struct remote_ctx *ctx = a->ctx;
	struct remote_parked *p, **pp;

	for (pp = &ctx->parked; (p = *pp) != NULL; pp = &p->next) {
		if (ascii_casecmp(p->domain, a->job->domain) != 0)
			continue;
		if (smtp_client_reuse(p->s, a->job, session_done_cb, a) < 0)
			return false; /* closing: its closed_cb removes it */
		*pp = p->next;
		ctx->nparked--;
		a->session = p->s;
		a->reused = true;
		free(p);
		log_debug("smtp-out", "event=reuse domain=%s", a->job->domain);
		return true;
	}
	return false;
}

void
remote_ctx_set_timeouts(
    struct remote_ctx *ctx, uint32_t connect_ms, uint32_t command_ms, uint32_t data_ms)
{
	ctx->connect_timeout_ms = connect_ms;
	ctx->command_timeout_ms = command_ms;
	ctx->data_timeout_ms = data_ms;
}

void
remote_ctx_set_mx_port(struct remote_ctx *ctx, uint16_t port)
{
	ctx->mx_port = port;
}

size_t
remote_ctx_pending(const struct remote_ctx *ctx)
{
	return ctx->nattempts;
}

const char *
remote_outcome_name(enum remote_outcome o)
{
	switch (o) {
	case REMOTE_PENDING:
		return "pending";
	case REMOTE_DELIVERED:
		return "delivered";
	case REMOTE_TEMPFAIL:
		return "deferred";
	case REMOTE_PERMFAIL:
		return "bounced";
	}
	return "?";
}

/* --- completion --------------------------------------------------------- */

static void
defer_close_cb(uv_handle_t *h)
{
	struct remote_attempt *a = h->data;
	struct remote_ctx *ctx = a->ctx;

	free(a);
	if (ctx->freeing && ctx->nattempts == 0 && ctx->nparked == 0)
		ctx_destroy(ctx);
}

static void
defer_cb(uv_timer_t *t)
{
	struct remote_attempt *a = t->data;
	struct remote_ctx *ctx = a->ctx;

	if (a->prev)
		a->prev->next = a->next;
	else
		ctx->attempts = a->next;
	if (a->next)
		a->next->prev = a->prev;
	ctx->nattempts--;
	if (!ctx->freeing)
		a->cb(a->job, a->arg);
	uv_close((uv_handle_t *)&a->defer, defer_close_cb);
}

/* attempt_finish - every recipient still PENDING gets the last reason;
 * the callback runs from the loop. */
static void
attempt_finish(struct remote_attempt *a)
{
	struct remote_job *j = a->job;

	a->finished = true;
	if (a->idle) {
		park(a->ctx, j->domain, a->idle);
		a->idle = NULL;
	}
	for (size_t i = 0; i < j->nrcpts; i++) {
		struct remote_rcpt *r = &j->rcpts[i];
		char esc[200];

		if (r->outcome == REMOTE_PENDING) {
			r->outcome = a->last_permanent ? REMOTE_PERMFAIL : REMOTE_TEMPFAIL;
			snprintf(r->reply, sizeof(r->reply), "%s",
			    a->last_reason[0] ? a->last_reason : "delivery failed");
		}
		log_escape(
		    esc, sizeof(esc), r->reply, strlen(r->reply) < 150 ? strlen(r->reply) : 150);
		log_info("smtp-out",
		    "event=delivery domain=%s rcpt=%s result=%s relay=%s reply=\"%s\"", j->domain,
		    r->address, remote_outcome_name(r->outcome),
		    r->remote_mta[0] ? r->remote_mta : "none", esc);
	}
	uv_timer_start(&a->defer, defer_cb, 0, 0);
}

static void set_reason(struct remote_attempt *a, bool permanent, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_reason(struct remote_attempt *a, bool permanent, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->last_reason, sizeof(a->last_reason), fmt, ap);
	va_end(ap);
	a->last_permanent = permanent;
}

/* --- the attempt -------------------------------------------------------- */

static void
session_done_cb(struct smtp_client *s, enum smtp_client_result res, const char *reason,
    bool permanent, bool alive, void *arg)
{
	struct remote_attempt *a = arg;

	a->session = NULL;
	if (alive)
		a->idle = s;
	if (a->reused && !alive && res != SMTP_CLIENT_DONE && !a->ctx->freeing) {
		/* the kept connection failed us: take the normal route */
		log_debug("smtp-out", "event=reuse_failed domain=%s reason=\"%s\"", a->job->domain,
		    reason);
		a->reused = false;
		attempt_route(a);
		return;
	}
	a->reused = false;
	if (a->ctx->freeing) {
		set_reason(a, false, "delivery stopped (shutdown)");
		attempt_finish(a);
		return;
	}
	switch (res) {
	case SMTP_CLIENT_DONE:
		/* rcpts the session left PENDING (none normally) get its reason */
		set_reason(a, permanent, "%s", reason);
		attempt_finish(a);
		return;
	case SMTP_CLIENT_TLS_FAILED:
		set_reason(a, false, "%s", reason);
		if (!a->no_tls) {
			a->no_tls = true; /* same address once more, without STARTTLS */
			attempt_next_addr(a);
			return;
		}
		break;
	case SMTP_CLIENT_NEXT:
		set_reason(a, permanent, "%s", reason);
		break;
	}
	a->no_tls = false;
	a->addr_i++;
	attempt_next_addr(a);
}

static void
connect_cb(struct conn *c, int status, void *arg)
{
	struct remote_attempt *a = arg;
	struct remote_ctx *ctx = a->ctx;
	const char *ip = a->addrs[a->addr_i];
	struct smtp_client_opts opts = {
	    .helo = ctx->helo,
	    .remote_name = a->hosts[a->host_i].host,
	    .tls = a->no_tls ? NULL : ctx->tls,
	    .auth_user = ctx->fixed_is_relay ? ctx->relay_user : NULL,
	    .auth_pass = ctx->fixed_is_relay ? ctx->relay_password : NULL,
	    .timeout_ms = ctx->command_timeout_ms,
	    .data_timeout_ms = ctx->data_timeout_ms,
	    .keep_alive = ctx->keep_ms > 0,
	};

	a->connecting = false;
	if (status < 0) {
		set_reason(a, false, "connect to %s[%s]:%u: %s", a->hosts[a->host_i].host, ip,
		    a->port,
		    status == MN_ETIMEDOUT ? "timed out" : "failed (refused or unreachable)");
		log_info("smtp-out", "event=connect_failed host=%s ip=%s port=%u error=%s",
		    a->hosts[a->host_i].host, ip, a->port, mn_strerror(status));
		a->addr_i++;
		if (ctx->freeing) {
			attempt_finish(a);
			return;
		}
		attempt_next_addr(a);
		return;
	}
	a->session = smtp_client_start(c, a->job, &opts, session_done_cb, a);
	if (ctx->freeing)
		smtp_client_abort(a->session);
}

static void
attempt_next_addr(struct remote_attempt *a)
{
	struct remote_ctx *ctx = a->ctx;
	int rc;

	while (a->addr_i < a->naddrs) {
		const char *ip = a->addrs[a->addr_i];

		rc = conn_connect(ctx->loop, ip, a->port, ctx->connect_timeout_ms, connect_cb, a);
		if (rc == 0) {
			a->connecting = true;
			return;
		}
		set_reason(a, false, "connect to %s[%s]:%u: %s", a->hosts[a->host_i].host, ip,
		    a->port, mn_strerror(rc));
		a->addr_i++;
	}
	a->host_i++;
	attempt_next_host(a);
}

static void
addr_cb(const struct dns_result *res, void *arg)
{
	struct remote_attempt *a = arg;

	if (a->ctx->freeing) {
		set_reason(a, false, "delivery stopped (shutdown)");
		attempt_finish(a);
		return;
	}
	if (res->status < 0) {
		/* A domain without MX whose own name has no address does not
		 * exist as a mail domain; an MX host without address may be a
		 * passing fault of that host. */
		set_reason(a, res->status == MN_ENOENT && a->implicit_mx, "%s", res->reason);
		a->host_i++;
		attempt_next_host(a);
		return;
	}
	memcpy(a->addrs, res->addr, sizeof(a->addrs));
	a->naddrs = res->naddr;
	a->addr_i = 0;
	a->no_tls = false;
	attempt_next_addr(a);
}

static void
attempt_next_host(struct remote_attempt *a)
{
	const char *host;
	int rc;

	if (a->host_i >= a->nhosts) {
		attempt_finish(a);
		return;
	}
	host = a->hosts[a->host_i].host;
	if ((rc = dns_lookup_addr(a->ctx->dns, host, addr_cb, a)) < 0) {
		set_reason(a, false, "%s: bad host name", host);
		a->host_i++;
		attempt_next_host(a);
	}
}

static void
mx_cb(const struct dns_result *res, void *arg)
{
	struct remote_attempt *a = arg;
	struct remote_ctx *ctx = a->ctx;

	if (ctx->freeing) {
		set_reason(a, false, "delivery stopped (shutdown)");
		attempt_finish(a);
		return;
	}
	if (res->status < 0) {
		set_reason(a, res->status == MN_ENOENT, "%s", res->reason);
		attempt_finish(a);
		return;
	}
	a->nhosts = 0;
	a->implicit_mx = res->implicit_mx;
	for (size_t i = 0; i < res->nmx; i++) {
		/* An MX that is ourselves would loop the message back here. */
		if (ascii_casecmp(res->mx[i].host, ctx->helo) == 0)
			continue;
		a->hosts[a->nhosts++] = res->mx[i];
	}
	if (a->nhosts == 0) {
		set_reason(
		    a, true, "mail for %s loops back to myself (%s)", a->job->domain, ctx->helo);
		attempt_finish(a);
		return;
	}
	a->host_i = 0;
	attempt_next_host(a);
}

int
remote_deliver(struct remote_ctx *ctx, struct remote_job *job, remote_done_cb cb, void *arg)
{
	struct remote_attempt *a;

	if (ctx->freeing || job->nrcpts == 0 || job->domain == NULL || job->sender == NULL)
		return MN_EINVAL;
	a = xcalloc(1, sizeof(*a));
	a->ctx = ctx;
	a->job = job;
	a->cb = cb;
	a->arg = arg;
	uv_timer_init(ctx->loop, &a->defer);
	a->defer.data = a;
	a->next = ctx->attempts;
	if (ctx->attempts)
		ctx->attempts->prev = a;
	ctx->attempts = a;
	ctx->nattempts++;
	for (size_t i = 0; i < job->nrcpts; i++) {
		job->rcpts[i].outcome = REMOTE_PENDING;
		job->rcpts[i].reply[0] = '\0';
		job->rcpts[i].remote_mta[0] = '\0';
	}
	if (!unpark(a))
		attempt_route(a);
	return 0;
}

/* attempt_route - where to connect: fixed host, address literal or MX */
static void
attempt_route(struct remote_attempt *a)
{
	struct remote_ctx *ctx = a->ctx;
	struct remote_job *job = a->job;
	size_t dl = strlen(job->domain);
	int rc;

	a->host_i = a->nhosts = 0;
	if (ctx->fixed_host) {
		a->nhosts = 1;
		snprintf(a->hosts[0].host, DNS_NAME_MAX, "%s", ctx->fixed_host);
		a->port = ctx->fixed_port;
		attempt_next_host(a);
	} else if (dl > 2 && dl < DNS_NAME_MAX && job->domain[0] == '[' &&
	           job->domain[dl - 1] == ']') {
		/* address literal (RFC 5321 §4.1.3): no MX lookup */
		const char *lit = job->domain + 1;
		size_t n = dl - 2;

		if (n > 5 && ascii_ncasecmp(lit, "IPv6:", 5) == 0) {
			lit += 5;
			n -= 5;
		}
		a->nhosts = 1;
		snprintf(a->hosts[0].host, DNS_NAME_MAX, "%.*s", (int)n, lit);
		a->port = ctx->mx_port;
		attempt_next_host(a);
	} else {
		a->port = ctx->mx_port;
		if ((rc = dns_lookup_mx(ctx->dns, job->domain, mx_cb, a)) < 0) {
			set_reason(a, true, "%s: not a valid domain name", job->domain);
			attempt_finish(a);
		}
	}
}
