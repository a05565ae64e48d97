/*
 * main.c - the mailnode daemon: `mailnode --config FILE` (SPEC §4, §5).
 *
 * Loads the configuration (a bad file is refused with "FILE:LINE: reason",
 * exit 2), creates data_dir (0700), opens data_dir/directory.db and, on the
 * first start of an empty directory, bootstraps the one-member cluster:
 * this node in the nodes table and the system administrator `admin`, whose
 * password comes from [admin] initial_password or is generated into
 * data_dir/admin-password (0600). Then it starts the services (HTTP and
 * HTTPS with the admin API under /api/v1/; the mail store, the spool and
 * its delivery queue and the handoff of mail to and from other nodes, SMTP,
 * IMAP and POP3 with the proxy to users' home nodes) and runs the event
 * loop in
 * the foreground, logging to stderr. SIGTERM/SIGINT: stop accepting, close
 * connections after their queued output, let work in flight finish (queued
 * directory commands are applied), close every handle, close the
 * directory, exit 0.
 * `mailnode --config FILE --recover MEMBERS` instead rewrites the stopped
 * node's Raft configuration (cluster/raft/recover.h) and exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "cluster/dirsvc.h"
#include "cluster/handoff/handoff.h"
#include "cluster/migrate/migrate.h"
#include "cluster/peer_auth.h"
#include "cluster/proxy/proxy.h"
#include "cluster/raft/raft_service.h"
#include "cluster/raft/recover.h"
#include "cluster/usage/usage.h"
#include "lib/config.h"
#include "lib/conn.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/tls.h"
#include "lib/xalloc.h"
#include "node/antispam/antispam.h"
#include "node/antispam/quarsweep.h"
#include "node/antispam/sendlimit.h"
#include "node/admin/api.h"
#include "node/delivery/queue.h"
#include "node/delivery/remote.h"
#include "node/http/http.h"
#include "node/http/static.h"
#include "node/webmail/webmail.h"
#include "node/imap/imap.h"
#include "node/limits.h"
#include "node/mailbox_events.h"
#include "node/pop3/pop3.h"
#include "node/smtp/server.h"
#include "storage/directory/directory.h"
#include "storage/directory/password.h"
#include "storage/mailstore/mailstore.h"
#include "storage/spool/spool.h"

#define ADMIN_NAME "admin"
#define GENERATED_PASSWORD_BYTES 12 /* 16 base64url characters */

struct node {
	struct mn_config cfg;
	uv_loop_t loop;
	bool loop_ready;
	struct directory *dir;
	struct dirsvc *svc;
	struct raft_service *raft;
	int boot_pending; /* bootstrap commands not yet applied */
	struct admin_api *api;
	struct webmail *webmail;
	const char *web_root;  /* [http] web_root or MN_WEB_ROOT */
	struct limits *limits; /* per-IP caps, login blocking: every service */
	struct tls_ctx *tls;
	struct http_server *http, *https;
	struct mailstore *store;
	struct imap_server *imap, *imaps;
	struct pop3_server *pop3;
	/* IMAP/POP3 of users homed on other nodes (NULL: no cluster secret) */
	struct proxy *proxy;
	struct peer_auth_config proxy_auth;
	struct tls_ctx *proxy_tls;
	struct spool *spool;
	struct remote_ctx *remote;
	struct antispam *antispam; /* inbound checks: SPF, Authentication-Results */
	/* send limits of authenticated submission */
	struct sendlimit *sendlimit;
	/* quarantine retention */
	struct quarsweep *quarsweep;
	struct handoff *handoff; /* cluster: mail for users homed elsewhere, both ways */
	struct usage *usage;     /* store usage of users on any node (RCPT, user list) */
	struct migrate *migrate; /* cluster: account moves this node drives or receives */
	struct queue *queue;
	struct smtp_server *smtp;
	uv_signal_t sigterm, sigint;
	bool signals_ready;
	bool stopping;
	/* bootstrap results */
	int boot_failures;
	int lock_fd; /* data_dir/lock, held while running */
};

static void
usage(FILE *out)
{
	fprintf(out, "usage: mailnode --config FILE\n"
	             "       mailnode --config FILE --recover MEMBER[,MEMBER...]\n"
	             "       mailnode --version\n"
	             "       mailnode --help\n"
	             "Runs one mail server node in the foreground, logging to stderr.\n"
	             "SIGTERM or SIGINT shut it down gracefully.\n"
	             "--recover (node stopped, majority lost for good): rewrite this node's\n"
	             "Raft configuration to exactly MEMBERs (NAME from the node table, or\n"
	             "RAFT_ID=IP:RAFT_PORT), all voters, then exit. See docs/cluster.md.\n");
}

/* mkdir -p with mode for every directory it creates */
static int
mkdir_p(const char *path, mode_t mode, struct mn_err *err)
{
	char *p = xstrdup(path);
	size_t len = strlen(p);

	for (size_t i = 1; i <= len; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		char saved = p[i];

		p[i] = '\0';
		if (mkdir(p, mode) != 0 && errno != EEXIST) {
			mn_err_set(err, MN_EIO, "mkdir %s: %s", p, strerror(errno));
			free(p);
			return MN_EIO;
		}
		p[i] = saved;
	}
	free(p);
	return 0;
}

/* One process per data_dir: two would share the directory and, later, the
 * mail store and the Raft log. The lock goes away with the process. */
static int
lock_data_dir(struct node *n, struct mn_err *err)
{
	char *path = xasprintf("%s/lock", n->cfg.data_dir);
	int rc = 0;

	n->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (n->lock_fd < 0)
		rc = mn_err_set(err, MN_EIO, "open %s: %s", path, strerror(errno));
	else if (flock(n->lock_fd, LOCK_EX | LOCK_NB) != 0)
		rc = mn_err_set(err, MN_EIO, "%s is in use by another mailnode (%s)",
		    n->cfg.data_dir, strerror(errno));
	free(path);
	return rc;
}

static char *
generate_password(void)
{
	static const char b64url[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char raw[GENERATED_PASSWORD_BYTES];
	char *out = xmalloc(GENERATED_PASSWORD_BYTES / 3 * 4 + 1);
	size_t o = 0;

	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		free(out);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(raw); i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];

		out[o++] = b64url[(v >> 18) & 63];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
		out[o++] = b64url[v & 63];
	}
	out[o] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	return out;
}

static int
write_secret_file(const char *path, const char *secret, struct mn_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	size_t len = strlen(secret);
	bool ok;

	if (fd < 0)
		return mn_err_set(err, MN_EIO, "open %s: %s", path, strerror(errno));
	/* an existing file keeps its mode through O_TRUNC: force 0600 */
	ok = fchmod(fd, 0600) == 0 && write(fd, secret, len) == (ssize_t)len &&
	     write(fd, "\n", 1) == 1 && fsync(fd) == 0;
	if (!ok) {
		mn_err_set(err, MN_EIO, "write %s: %s", path, strerror(errno));
		close(fd);
		return MN_EIO;
	}
	if (close(fd) != 0)
		return mn_err_set(err, MN_EIO, "close %s: %s", path, strerror(errno));
	return 0;
}

static void
boot_done_cb(int rc, const struct mn_err *err, void *arg)
{
	struct node *n = arg;

	n->boot_pending--;
	if (rc != 0) {
		log_error("main", "event=bootstrap result=fail reason=\"%s\"", err->msg);
		n->boot_failures++;
	}
}

static void
boot_submit(struct node *n, Mailnode__DirectoryCommand *cmd)
{
	int rc = dirsvc_submit(n->svc, cmd, boot_done_cb, n);

	if (rc == 0) {
		n->boot_pending++;
	} else {
		log_error("main", "event=bootstrap result=fail reason=\"%s\"", mn_strerror(rc));
		n->boot_failures++;
	}
}

/* run the loop until pred(n) holds or timeout_ms passed */
static bool
run_until(struct node *n, bool (*pred)(struct node *), uint64_t timeout_ms)
{
	uint64_t deadline;

	uv_update_time(&n->loop);
	deadline = uv_now(&n->loop) + timeout_ms;
	while (!pred(n)) {
		uv_run(&n->loop, UV_RUN_ONCE);
		if (uv_now(&n->loop) >= deadline)
			return pred(n);
	}
	return true;
}

static bool
boot_applied(struct node *n)
{
	return n->boot_pending == 0;
}

static bool
raft_ready(struct node *n)
{
	return raft_service_ready(n->raft);
}

/* First start: this node, the admin, the dev domain. Commands go through
 * dirsvc like every other write; the loop runs until they are applied. */
static int
bootstrap(struct node *n, struct mn_err *err)
{
	json_t *nodes = directory_nodes_json(n->dir), *admins = directory_admins_json(n->dir);
	bool fresh_nodes = nodes == NULL || json_array_size(nodes) == 0;
	bool fresh_admins = admins == NULL || json_array_size(admins) == 0;
	bool known = nodes != NULL && api_json_find(nodes, "name", n->cfg.node_name) != NULL;
	char *password = NULL, *hash = NULL, *pwfile = NULL;
	Mailnode__DirectoryCommand cmd;
	int rc = 0;

	if (nodes)
		json_decref(nodes);
	if (admins)
		json_decref(admins);

	if (fresh_nodes) {
		Mailnode__NodeAdd m = MAILNODE__NODE_ADD__INIT;

		cmd = (Mailnode__DirectoryCommand)MAILNODE__DIRECTORY_COMMAND__INIT;
		m.name = n->cfg.node_name;
		m.address = n->cfg.listen_address;
		m.has_raft_port = m.has_rpc_port = 1;
		m.raft_port = n->cfg.raft_port;
		m.rpc_port = n->cfg.rpc_port;
		m.state = "active";
		m.has_raft_id = 1;
		m.raft_id = raft_service_id(n->raft);
		cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_NODE_ADD;
		cmd.node_add = &m;
		boot_submit(n, &cmd);
		log_info("main", "event=bootstrap node=%s address=%s", n->cfg.node_name,
		    n->cfg.listen_address);
	} else if (!known) {
		log_warn("main", "event=bootstrap node=%s reason=\"not in the nodes table\"",
		    n->cfg.node_name);
	}

	if (fresh_admins) {
		Mailnode__AdminAdd m = MAILNODE__ADMIN_ADD__INIT;

		if (n->cfg.admin_initial_password && *n->cfg.admin_initial_password) {
			password = xstrdup(n->cfg.admin_initial_password);
		} else {
			if ((password = generate_password()) == NULL) {
				rc = mn_err_set(
				    err, MN_EIO, "no random bytes for the admin password");
				goto out;
			}
			pwfile = xasprintf("%s/admin-password", n->cfg.data_dir);
			if ((rc = write_secret_file(pwfile, password, err)) != 0)
				goto out;
		}
		if ((hash = password_hash(password)) == NULL) {
			rc = mn_err_set(err, MN_EIO, "cannot hash the admin password");
			goto out;
		}
		cmd = (Mailnode__DirectoryCommand)MAILNODE__DIRECTORY_COMMAND__INIT;
		m.name = ADMIN_NAME;
		m.password_hash = hash;
		cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_ADMIN_ADD;
		cmd.admin_add = &m;
		boot_submit(n, &cmd);
		if (pwfile != NULL)
			log_info("main", "event=bootstrap admin=%s password_file=%s", ADMIN_NAME,
			    pwfile);
		else
			log_info(
			    "main", "event=bootstrap admin=%s password_source=config", ADMIN_NAME);
	}

	if (n->cfg.dev_create_domain && *n->cfg.dev_create_domain &&
	    !directory_domain_exists(n->dir, n->cfg.dev_create_domain)) {
		Mailnode__DomainAdd m = MAILNODE__DOMAIN_ADD__INIT;

		cmd = (Mailnode__DirectoryCommand)MAILNODE__DIRECTORY_COMMAND__INIT;
		m.name = n->cfg.dev_create_domain;
		cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_ADD;
		cmd.domain_add = &m;
		boot_submit(n, &cmd);
		log_info("main", "event=bootstrap domain=%s", n->cfg.dev_create_domain);
	}

	/* wait until what was proposed is applied */
	if (!run_until(n, boot_applied, 30000))
		n->boot_failures++;
	if (n->boot_failures > 0)
		rc = mn_err_set(err, MN_EDB, "bootstrap of the directory failed");
out:
	if (password != NULL) {
		OPENSSL_cleanse(password, strlen(password));
		free(password);
	}
	free(hash);
	free(pwfile);
	return rc;
}

static int
setup_tls(struct node *n, struct mn_err *err)
{
	char *cert = NULL, *key = NULL, *dir;
	int rc;

	if (n->cfg.tls_cert_file && *n->cfg.tls_cert_file) {
		const char *k = n->cfg.tls_key_file && *n->cfg.tls_key_file ? n->cfg.tls_key_file
		                                                            : n->cfg.tls_cert_file;

		return tls_server_ctx_new(n->cfg.tls_cert_file, k, &n->tls, err);
	}
	dir = xasprintf("%s/tls", n->cfg.data_dir);
	rc = tls_ensure_self_signed(
	    dir, n->cfg.hostname ? n->cfg.hostname : "localhost", &cert, &key, err);
	if (rc == 0)
		rc = tls_server_ctx_new(cert, key, &n->tls, err);
	free(dir);
	free(cert);
	free(key);
	return rc;
}

static void
http_handler(struct http_exchange *x, const struct http_request *req, void *arg)
{
	struct node *n = arg;

	if (webmail_owns_path(req->path.ptr, req->path.len)) {
		webmail_handle(x, req, n->webmail);
		return;
	}
	if (admin_api_owns_path(req->path.ptr, req->path.len)) {
		admin_api_handle(x, req, n->api);
		return;
	}
	/* everything else is the web UI: webmail at /, web admin at /admin/ */
	http_static_serve(&n->loop, n->web_root, x, req);
}

static int
start_http(struct node *n, const char *service, uint16_t port, struct tls_ctx *tls,
    struct http_server **out, struct mn_err *err)
{
	struct http_server_config hc;
	int rc;

	if (port == 0)
		return 0;
	memset(&hc, 0, sizeof(hc));
	hc.listen.service = service;
	hc.listen.address = n->cfg.listen_address;
	hc.listen.port = port;
	hc.listen.tls = tls;
	hc.listen.idle_timeout_ms = n->cfg.idle_timeout_ms;
	/* webmail compose carries its attachments (base64) in the body: only
	 * those paths may send that much, so that every other request (and
	 * every unauthenticated one elsewhere) pins at most 1 MiB */
	hc.max_body = HTTP_DEFAULT_MAX_BODY;
	hc.large_body_paths = webmail_large_body_paths;
	hc.max_large_body = WEBMAIL_MAX_REQUEST;
	hc.limits = n->limits;
	rc = http_server_start(&n->loop, &hc, http_handler, n, out, err);
	if (rc != 0)
		return mn_err_wrap(err, "%s %s:%u", service, n->cfg.listen_address, port);
	log_info(
	    "main", "event=listen service=%s address=%s:%u", service, n->cfg.listen_address, port);
	return 0;
}

/* One limits object for every service, from [limits] (node/limits.h). */
static int
make_limits(struct node *n, struct mn_err *err)
{
	struct limits_config lc;

	limits_config_defaults(&lc);
	lc.max_conn_per_ip = n->cfg.limits_max_conn_per_ip;
	lc.conn_per_minute = n->cfg.limits_conn_per_minute;
	lc.auth_fail_ip = n->cfg.limits_auth_fail_ip;
	lc.auth_fail_user = n->cfg.limits_auth_fail_user;
	lc.auth_window_ms = n->cfg.limits_auth_window_ms;
	lc.block_ms = n->cfg.limits_block_ms;
	lc.exempt = n->cfg.limits_exempt;
	if (limits_new(&lc, &n->limits, err) != 0)
		return mn_err_wrap(err, "[limits]");
	{
		/* login-failure blocks outlive a restart (limits_save at exit) */
		char *path = xasprintf("%s/blocks", n->cfg.data_dir);
		struct mn_err e = {0};

		if (limits_load(n->limits, path, &e) != 0)
			log_warn("main", "event=blocks_load reason=\"%s\"", e.msg);
		free(path);
	}
	return 0;
}

/* The mail store under data_dir/mail, recovered before anything serves
 * from it (mailstore.h). */
static int
open_store(struct node *n, struct mn_err *err)
{
	struct mailstore_recover_stats st; /* logged by the store */
	char *root = xasprintf("%s/mail", n->cfg.data_dir);
	int rc;

	rc = mailstore_open(root, &n->store, err);
	free(root);
	if (rc == 0)
		rc = mailstore_recover(n->store, &st, err);
	if (rc != 0)
		return mn_err_wrap(err, "mail store");
	return 0;
}

/* IMAP on port (STARTTLS offered) or, with tls, implicit TLS (imaps) */
static int
start_imap(struct node *n, const char *service, uint16_t port, struct tls_ctx *tls,
    struct imap_server **out, struct mn_err *err)
{
	struct imap_server_config ic;

	if (port == 0)
		return 0;
	memset(&ic, 0, sizeof(ic));
	ic.listen.service = service;
	ic.listen.address = n->cfg.listen_address;
	ic.listen.port = port;
	ic.listen.tls = tls;
	ic.listen.idle_timeout_ms = n->cfg.idle_timeout_ms;
	ic.starttls = tls == NULL ? n->tls : NULL;
	ic.dir = n->dir;
	ic.store = n->store;
	ic.max_message_size = n->cfg.smtp_max_message_size;
	ic.limits = n->limits;
	ic.proxy = n->proxy;
	if (imap_server_start(&n->loop, &ic, out, err) != 0)
		return mn_err_wrap(err, "%s %s:%u", service, n->cfg.listen_address, port);
	log_info(
	    "main", "event=listen service=%s address=%s:%u", service, n->cfg.listen_address, port);
	return 0;
}

/* POP3 with STLS on pop3_port, implicit TLS on pop3s_port (0: off). */
static int
start_pop3(struct node *n, struct mn_err *err)
{
	struct pop3_server_config pc;
	int rc;

	if (n->cfg.pop3_port == 0 && n->cfg.pop3s_port == 0)
		return 0;
	memset(&pc, 0, sizeof(pc));
	pc.address = n->cfg.listen_address;
	pc.plain_on = n->cfg.pop3_port != 0;
	pc.port = n->cfg.pop3_port;
	pc.tls_on = n->cfg.pop3s_port != 0;
	pc.tls_port = n->cfg.pop3s_port;
	pc.tls = n->tls;
	pc.idle_timeout_ms = n->cfg.idle_timeout_ms;
	pc.limits = n->limits;
	pc.proxy = n->proxy;
	rc = pop3_server_start(&n->loop, n->dir, n->store, &pc, &n->pop3, err);
	if (rc != 0)
		return mn_err_wrap(err, "pop3 %s", n->cfg.listen_address);
	log_info("main", "event=listen service=pop3 address=%s:%u pop3s=%u", n->cfg.listen_address,
	    n->cfg.pop3_port, n->cfg.pop3s_port);
	return 0;
}

/* The home side of proxied sessions: the plain IMAP server (or the imaps
 * one when only that runs; after login both answer the same). */
static void
adopt_imap(struct rpc_stream *st, const struct proxy_request *req, void *arg)
{
	struct node *n = arg;
	struct imap_server *srv = n->imap != NULL ? n->imap : n->imaps;

	if (srv == NULL) {
		rpc_stream_refuse(st, MN_ETEMP, "IMAP not running");
		return;
	}
	imap_server_adopt(srv, st, req);
}

static void
adopt_pop3(struct rpc_stream *st, const struct proxy_request *req, void *arg)
{
	struct node *n = arg;

	if (n->pop3 == NULL) {
		rpc_stream_refuse(st, MN_ETEMP, "POP3 not running");
		return;
	}
	pop3_server_adopt(n->pop3, st, req);
}

/* The proxy needs the cluster secret: a single node has no peers. Made
 * before IMAP/POP3 start (they keep it), served once they run. */
static int
make_proxy(struct node *n, struct mn_err *err)
{
	struct proxy_config pc;
	int rc;

	if (n->cfg.cluster_secret == NULL || *n->cfg.cluster_secret == '\0' || n->cfg.rpc_port == 0)
		return 0;
	if ((rc = peer_auth_client_ctx(&n->proxy_tls, err)) != 0)
		return mn_err_wrap(err, "proxy");
	n->proxy_auth.secret = n->cfg.cluster_secret;
	n->proxy_auth.node_name = n->cfg.node_name;
	n->proxy_auth.client_tls = n->proxy_tls;
	memset(&pc, 0, sizeof(pc));
	pc.node_name = n->cfg.node_name;
	pc.dir = n->dir;
	pc.auth = &n->proxy_auth;
	proxy_new(&n->loop, &pc, &n->proxy);
	return 0;
}

/* a mailbox about to be copied to another node: its sessions here end */
static void
kick_sessions(const char *user, void *arg)
{
	(void)arg;
	mailbox_events_kick(user);
}

/* Account migration (cluster/migrate) needs the node-to-node channel the
 * proxy set up: without a cluster secret there is no other node. */
static int
start_migrate(struct node *n, struct mn_err *err)
{
	struct migrate_config mc;

	if (n->proxy == NULL)
		return 0;
	memset(&mc, 0, sizeof(mc));
	mc.data_dir = n->cfg.data_dir;
	mc.node_name = n->cfg.node_name;
	mc.auth = &n->proxy_auth;
	mc.dir = n->dir;
	mc.svc = n->svc;
	mc.ms = n->store;
	mc.close_sessions = kick_sessions;
	mc.arg = n;
	if (migrate_new(&n->loop, &mc, &n->migrate, err) != 0)
		return mn_err_wrap(err, "migrate");
	return 0;
}

static void
on_queued(void *arg, const char *id)
{
	struct node *n = arg;

	queue_submit(n->queue, id);
}

/* a message handed to us by another node is in a user's INBOX: wake the
 * user's IMAP sessions (IDLE), as local delivery does */
static void
on_handoff_delivered(const char *user, void *arg)
{
	mailbox_events_notify(user, NULL);
}

/* The handoff (cluster/handoff): sends mail for users homed on other nodes
 * and serves RPC_HANDOFF_CHUNK on the RPC server for mail homed here. */
static int
start_handoff(struct node *n, struct mn_err *err)
{
	struct handoff_config hc;

	memset(&hc, 0, sizeof(hc));
	hc.data_dir = n->cfg.data_dir;
	hc.node_name = n->cfg.node_name;
	hc.secret = n->cfg.cluster_secret;
	hc.dir = n->dir;
	hc.ms = n->store;
	/* a message accepted anywhere must fit: the SMTP limit plus our
	 * Received: field, with room to spare */
	hc.max_message_size = n->cfg.smtp_max_message_size + (1u << 20);
	hc.serve = true;
	hc.on_delivered = on_handoff_delivered;
	hc.arg = n;
	if (handoff_new(&n->loop, &hc, &n->handoff, err) != 0)
		return mn_err_wrap(err, "handoff");
	return 0;
}

/* Send limits from [limits] send_* (node/antispam/sendlimit.h), replaced
 * per user and domain by their directory preferences. */
static struct sendlimit *
make_sendlimit(const struct mn_config *cfg, struct directory *dir)
{
	struct sendlimit_config c;

	memset(&c, 0, sizeof(c));
	for (int w = 0; w < SENDLIMIT_NWINDOW; w++) {
		c.caps[SENDLIMIT_USER].msgs[w] = cfg->send_user_msgs[w];
		c.caps[SENDLIMIT_USER].rcpts[w] = cfg->send_user_rcpts[w];
		c.caps[SENDLIMIT_DOMAIN].msgs[w] = cfg->send_domain_msgs[w];
		c.caps[SENDLIMIT_DOMAIN].rcpts[w] = cfg->send_domain_rcpts[w];
		c.caps[SENDLIMIT_SYSTEM].msgs[w] = cfg->send_system_msgs[w];
		c.caps[SENDLIMIT_SYSTEM].rcpts[w] = cfg->send_system_rcpts[w];
	}
	c.override = antispam_sendlimit_override;
	c.override_arg = dir;
	return sendlimit_new(&c);
}

/* The spool and its delivery queue, the SMTP listeners (after open_store). */
static int
start_mail(struct node *n, struct mn_err *err)
{
	struct queue_config qc;
	struct smtp_server_config sc;
	int rc;

	struct usage_config uc = {
	    .node_name = n->cfg.node_name,
	    .dir = n->dir,
	    .ms = n->store,
	    .secret = n->cfg.rpc_port != 0 ? n->cfg.cluster_secret : NULL,
	};

	if ((rc = usage_new(&n->loop, &uc, &n->usage, err)) != 0)
		return rc;
	usage_serve(n->usage);
	if ((rc = spool_open(n->cfg.data_dir, &n->spool, err)) != 0 ||
	    (rc = remote_ctx_new(&n->loop, &n->cfg, &n->remote, err)) != 0 ||
	    (rc = antispam_new(&n->loop, &n->cfg, n->dir, &n->antispam, err)) != 0 ||
	    (rc = start_handoff(n, err)) != 0)
		return rc;
	memset(&qc, 0, sizeof(qc));
	qc.cfg = &n->cfg;
	qc.dir = n->dir;
	qc.ms = n->store;
	qc.spool = n->spool;
	qc.remote = n->remote;
	qc.handoff = n->handoff;
	if ((rc = queue_start(&n->loop, &qc, &n->queue, err)) != 0)
		return rc;
	n->sendlimit = make_sendlimit(&n->cfg, n->dir);
	{
		struct quarsweep_config qs = {
		    .dir = n->dir,
		    .ms = n->store,
		    .spool = n->spool,
		    .hostname = n->cfg.hostname,
		    .interval_ms = n->cfg.antispam_quar_sweep_ms,
		    .retention_s = n->cfg.antispam_quar_retention_ms / 1000,
		    .digest_interval_ms = n->cfg.antispam_quar_digest_ms,
		    .submit = on_queued,
		    .arg = n,
		};

		n->quarsweep = quarsweep_start(&n->loop, &qs);
	}
	memset(&sc, 0, sizeof(sc));
	sc.cfg = &n->cfg;
	sc.dir = n->dir;
	sc.ms = n->store;
	sc.usage = n->usage;
	sc.spool = n->spool;
	sc.tls = n->tls;
	sc.limits = n->limits;
	sc.antispam = n->antispam;
	sc.sendlimit = n->sendlimit;
	sc.on_queued = on_queued;
	sc.arg = n;
	return smtp_server_start(&n->loop, &sc, &n->smtp, err);
}

/* Stop accepting and close connections (after their queued output).
 * Requests already in flight (a password hash in the thread pool, a queued
 * directory command) still finish: an accepted change is applied even if
 * its client is gone. */
static void
stop_services(struct node *n)
{
	if (n->proxy != NULL) {
		/* no new proxied sessions: the servers they need are going */
		proxy_serve(n->proxy, PROXY_IMAP, NULL, NULL);
		proxy_serve(n->proxy, PROXY_POP3, NULL, NULL);
	}
	if (n->http != NULL)
		http_server_stop(&n->http);
	if (n->https != NULL)
		http_server_stop(&n->https);
	imap_server_stop(&n->imap);
	imap_server_stop(&n->imaps);
	webmail_stop(n->webmail); /* before the SMTP server it sends through */
	if (n->pop3 != NULL)
		pop3_server_stop(n->pop3);
	smtp_server_stop(&n->smtp);
	quarsweep_stop(n->quarsweep);
	if (n->api != NULL)
		n->api->queue = NULL; /* the API answers 503 from now on */
	queue_stop(&n->queue);
	/* after the queue: its attempts in flight get TEMPFAIL and stay spooled */
	handoff_stop(n->handoff);
	/* moves resume from the directory's state at the next start */
	migrate_stop(n->migrate);
	usage_stop(n->usage);
	conn_close_all();
}

static void
signal_cb(uv_signal_t *h, int signum)
{
	struct node *n = h->data;

	if (n->stopping)
		return;
	n->stopping = true;
	log_info("main", "event=shutdown signal=%s", signum == SIGTERM ? "TERM" : "INT");
	uv_signal_stop(&n->sigterm);
	uv_signal_stop(&n->sigint);
	uv_close((uv_handle_t *)&n->sigterm, NULL);
	uv_close((uv_handle_t *)&n->sigint, NULL);
	stop_services(n);
	if (n->raft != NULL)
		raft_service_close(n->raft);
}

static bool
raft_closed(struct node *n)
{
	return raft_service_closed(n->raft);
}

static void
close_walk_cb(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void
node_fini(struct node *n)
{
	if (n->loop_ready) {
		stop_services(n);
		if (n->raft != NULL) {
			raft_service_close(n->raft);
			if (!run_until(n, raft_closed, 15000))
				log_warn(
				    "main", "event=shutdown reason=\"raft did not close in time\"");
		}
		if (n->signals_ready && !n->stopping) {
			uv_close((uv_handle_t *)&n->sigterm, NULL);
			uv_close((uv_handle_t *)&n->sigint, NULL);
		}
		/* finish queued work and closes; then close what is left */
		uv_run(&n->loop, UV_RUN_DEFAULT);
		if (n->svc != NULL)
			dirsvc_shutdown(n->svc);
		uv_walk(&n->loop, close_walk_cb, NULL);
		uv_run(&n->loop, UV_RUN_DEFAULT);
		if (uv_loop_close(&n->loop) != 0)
			log_warn("main", "event=shutdown reason=\"loop busy at close\"");
	}
	/* sessions and their pool work are done: the loop has drained */
	pop3_server_free(&n->pop3);
	proxy_free(&n->proxy);
	if (n->proxy_tls != NULL)
		tls_ctx_free(&n->proxy_tls);
	if (n->store != NULL)
		mailstore_close(&n->store);
	admin_api_free(&n->api);
	webmail_free(&n->webmail);
	remote_ctx_free(&n->remote);
	antispam_free(&n->antispam);
	sendlimit_free(&n->sendlimit);
	quarsweep_free(&n->quarsweep);
	handoff_free(&n->handoff);
	usage_free(&n->usage);
	migrate_free(&n->migrate);
	spool_close(&n->spool);
	if (n->limits != NULL) {
		char *path = xasprintf("%s/blocks", n->cfg.data_dir);
		struct mn_err e = {0};

		if (limits_save(n->limits, path, &e) != 0)
			log_warn("main", "event=blocks_save reason=\"%s\"", e.msg);
		free(path);
	}
	limits_free(&n->limits); /* after every conn closed: they release into it */
	dirsvc_free(&n->svc);
	raft_service_free(&n->raft);
	if (n->tls != NULL)
		tls_ctx_free(&n->tls);
	if (n->dir != NULL)
		directory_close(&n->dir);
	config_free(&n->cfg);
	if (n->lock_fd >= 0)
		close(n->lock_fd);
	n->lock_fd = -1;
}

/* mailnode --recover: raft_recover on the stopped node's log (the data_dir
 * lock proves it is stopped), then exit. */
static int
run_recover(struct node *n, const char *spec)
{
	struct recover_member m[RECOVER_MAX_MEMBERS];
	struct mn_err err;
	size_t count = 0;
	int rc;

	mn_err_clear(&err);
	log_set_level((enum log_level)n->cfg.log_level);
	rc = lock_data_dir(n, &err);
	if (rc == 0)
		rc = recover_parse(n->cfg.data_dir, spec, m, RECOVER_MAX_MEMBERS, &count, &err);
	if (rc == 0)
		rc = recover_run(n->cfg.data_dir, m, count, &err);
	if (rc != 0) {
		fprintf(stderr, "mailnode: recover: %s\n", err.msg);
		node_fini(n);
		return 1;
	}
	printf("recovered %s: its Raft configuration is now %zu voter%s:", n->cfg.data_dir, count,
	    count == 1 ? "" : "s");
	for (size_t i = 0; i < count; i++)
		printf("%s %llu=%s%s%s%s", i ? "," : "", (unsigned long long)m[i].id, m[i].address,
		    m[i].name[0] ? " (" : "", m[i].name, m[i].name[0] ? ")" : "");
	printf("\nstart this node now; the others need a copy of its data_dir or a fresh join\n");
	node_fini(n);
	return 0;
}

static int
run(struct node *n)
{
	struct mn_err err;
	struct admin_api_config ac;
	char *dbpath;
	int rc;

	mn_err_clear(&err);
	log_set_level((enum log_level)n->cfg.log_level);
	if ((rc = mkdir_p(n->cfg.data_dir, 0700, &err)) != 0 || (rc = lock_data_dir(n, &err)) != 0)
		goto fail;
	/* The directory is a cache of the Raft log (cluster/raft/fsm.h): raft
	 * rebuilds it at every start from its snapshot and log. */
	dbpath = xasprintf("%s/directory.db", n->cfg.data_dir);
	for (int i = 0; i < 4; i++) {
		static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
		char *p = xasprintf("%s%s", dbpath, sfx[i]);

		if (unlink(p) != 0 && errno != ENOENT)
			log_warn("main", "event=unlink path=%s reason=\"%s\"", p, strerror(errno));
		free(p);
	}
	rc = directory_open(dbpath, &n->dir, &err);
	free(dbpath);
	if (rc != 0)
		goto fail;
	if (uv_loop_init(&n->loop) != 0) {
		(void)mn_err_set(&err, MN_EIO, "uv_loop_init failed"); /* fail: reports err.msg */
		goto fail;
	}
	n->loop_ready = true;
	if ((rc = setup_tls(n, &err)) != 0 || (rc = open_store(n, &err)) != 0)
		goto fail;
	dirsvc_new(&n->loop, n->dir, n->cfg.node_name, &n->svc);
	{
		struct raft_service_config rc_cfg = {
		    .data_dir = n->cfg.data_dir,
		    .node_name = n->cfg.node_name,
		    .address = n->cfg.listen_address,
		    .raft_port = n->cfg.raft_port,
		    .rpc_port = n->cfg.rpc_port,
		    .join = n->cfg.cluster_join,
		    .secret = n->cfg.cluster_secret,
		    .server_tls = n->tls,
		    .snapshot_threshold = n->cfg.cluster_snapshot_threshold,
		};

		if ((rc = raft_service_start(&n->loop, n->dir, &rc_cfg, &n->raft, &err)) != 0)
			goto fail;
	}
	dirsvc_set_raft(n->svc, n->raft);
	if (raft_service_fresh(n->raft)) {
		if (!run_until(n, raft_ready, 15000)) {
			rc = mn_err_set(&err, MN_ENOLEADER, "the new cluster elected no leader");
			goto fail;
		}
		if ((rc = bootstrap(n, &err)) != 0)
			goto fail;
	} else if (!run_until(n, raft_ready, 15000)) {
		log_warn("main", "event=start reason=\"directory not caught up with the cluster "
		                 "yet; serving what is applied\"");
	}

	if ((rc = make_limits(n, &err)) != 0)
		goto fail;
	memset(&ac, 0, sizeof(ac));
	ac.limits = n->limits;
	ac.node_name = n->cfg.node_name;
	ac.hostname = n->cfg.hostname;
	ac.max_body = HTTP_DEFAULT_MAX_BODY;
	admin_api_new(&n->loop, n->dir, n->svc, &ac, &n->api);
	{
		struct webmail_config wc = {.node_name = n->cfg.node_name,
		    .hostname = n->cfg.hostname,
		    .limits = n->limits,
		    .svc = n->svc};

		webmail_new(&n->loop, n->dir, &wc, &n->webmail);
		n->web_root = n->cfg.http_web_root && *n->cfg.http_web_root ? n->cfg.http_web_root
		                                                            : MN_WEB_ROOT;
	}
	conn_set_global_limit(n->cfg.max_connections);
	if ((rc = start_mail(n, &err)) != 0 || (rc = make_proxy(n, &err)) != 0 ||
	    (rc = start_migrate(n, &err)) != 0)
		goto fail;
	n->api->queue = n->queue;
	n->api->ms = n->store;
	n->api->usage = n->usage;
	n->api->cfg = &n->cfg; /* GET /status: services and disk */
	webmail_set_store(n->webmail, n->store);
	webmail_set_smtp(n->webmail, n->smtp);
	if (n->proxy != NULL)
		webmail_set_cluster(n->webmail, &n->proxy_auth);
	if ((rc = start_http(n, "http", n->cfg.http_port, NULL, &n->http, &err)) != 0 ||
	    (rc = start_http(n, "https", n->cfg.https_port, n->tls, &n->https, &err)) != 0 ||
	    (rc = start_pop3(n, &err)) != 0)
		goto fail;
	if ((rc = start_imap(n, "imap", n->cfg.imap_port, NULL, &n->imap, &err)) != 0 ||
	    (rc = start_imap(n, "imaps", n->cfg.imaps_port, n->tls, &n->imaps, &err)) != 0)
		goto fail;
	if (n->proxy != NULL) {
		if (n->imap != NULL || n->imaps != NULL)
			proxy_serve(n->proxy, PROXY_IMAP, adopt_imap, n);
		if (n->pop3 != NULL)
			proxy_serve(n->proxy, PROXY_POP3, adopt_pop3, n);
	}

	uv_signal_init(&n->loop, &n->sigterm);
	uv_signal_init(&n->loop, &n->sigint);
	n->sigterm.data = n->sigint.data = n;
	n->signals_ready = true;
	uv_signal_start(&n->sigterm, signal_cb, SIGTERM);
	uv_signal_start(&n->sigint, signal_cb, SIGINT);
	log_info("main", "event=ready node=%s version=%s", n->cfg.node_name, MN_VERSION);

	uv_run(&n->loop, UV_RUN_DEFAULT);
	node_fini(n);
	log_info("main", "event=exit status=0");
	return 0;
fail:
	log_error("main", "event=start result=fail reason=\"%s\"", err.msg);
	fprintf(stderr, "mailnode: %s\n", err.msg);
	node_fini(n);
	return 1;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {"recover", required_argument, NULL, 'R'},
	    {NULL, 0, NULL, 0},
	};
	static struct node n;
	const char *config = NULL, *recover = NULL;
	struct mn_err err;
	int c;

	/* The libuv pool runs every blocking step: spool and store fsyncs,
	 * SQLite, crypt, DNS. Its default of 4 threads lets four fsyncs stall
	 * everything else; the store and spool lock per user and per file, so
	 * more threads overlap their waits (read once, at the pool's first
	 * use). An operator's own setting wins. */
	setenv("UV_THREADPOOL_SIZE", "16", 0);
	while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'V':
			printf("mailnode %s\n", MN_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case 'R':
			recover = optarg;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (config == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	n.lock_fd = -1;
	mn_err_clear(&err);
	if (config_load(config, &n.cfg, &err) != 0) {
		fprintf(stderr, "mailnode: %s\n", err.msg);
		config_free(&n.cfg);
		return 2;
	}
	if (recover != NULL)
		return run_recover(&n, recover);
	return run(&n);
}
