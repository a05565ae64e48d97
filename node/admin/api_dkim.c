/*
 * api_dkim.c - /api/v1/domains/{domain}/dkim: the domain's DKIM signing
 * key (RFC 6376). POST makes a new RSA-2048 key off the loop (Ed25519 keys
 * are refused for now, see api_domains_dkim_set) and replicates it with DomainDkimSet (the private
 * key travels in the command so every node signs with the same key);
 * GET shows the DNS record to publish (never the private key); DELETE
 * removes the key (mail from the domain is then sent unsigned).
 *
 * {"domain", "selector", "algorithm", "dns_name", "dns_txt", "created_at"}
 */
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "node/admin/api.h"
#include "node/antispam/dkim_key.h"

#define DKIM_DEFAULT_SELECTOR "mail"

static void
reply_key(struct api_req *r, int status, const char *domain)
{
	struct dir_dkim k;
	char *txt, *name;
	json_t *j;

	memset(&k, 0, sizeof(k));
	if (directory_dkim_get(r->api->dir, domain, &k) != 0) {
		api_reply_error(r, 404, "domain %s has no DKIM key", domain);
		return;
	}
	txt = dkim_dns_txt(k.algorithm, k.public_key);
	name = xasprintf("%s._domainkey.%s", k.selector, k.domain);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "domain", k.domain, "selector", k.selector,
	    "algorithm", k.algorithm, "dns_name", name, "dns_txt", txt, "created_at",
	    (json_int_t)k.created_at);
	free(txt);
	free(name);
	dir_dkim_fini(&k);
	api_reply_json(r, status, j);
}

void
api_domains_dkim_get(struct api_req *r)
{
	char *d = api_path_domain(r);

	if (d != NULL)
		reply_key(r, 200, d);
}

struct keygen {
	uv_work_t w;
	struct api_req *r;
	char algorithm[32];
	char *pem, *pub;
	int rc;
	struct mn_err err;
};

static void
key_set(struct api_req *r)
{
	reply_key(r, 201, r->cmd.domain_dkim_set->domain);
}

static void
keygen_work_cb(uv_work_t *w)
{
	struct keygen *g = w->data;

	g->rc = dkim_key_generate(g->algorithm, &g->pem, &g->pub, &g->err);
}

static void
keygen_after_cb(uv_work_t *w, int status)
{
	struct keygen *g = w->data;
	struct api_req *r = g->r;
	Mailnode__DomainDkimSet *m = r->cmd.domain_dkim_set;

	if (status != 0 || g->rc != 0) {
		log_error("admin", "event=dkim_keygen reason=\"%s\"", g->err.msg);
		api_reply_error(r, 500, "DKIM key generation failed");
		free(g->pem);
		free(g->pub);
		free(g);
		return;
	}
	m->private_key = api_track(r, g->pem);
	m->public_key = api_track(r, g->pub);
	free(g);
	api_apply(r, key_set);
}

void
api_domains_dkim_set(struct api_req *r)
{
	Mailnode__DomainDkimSet *m;
	const char *sel = NULL, *alg = NULL;
	char *d = api_path_domain(r);
	struct keygen *g;

	if (d == NULL)
		return;
	if (api_body_string(r, "selector", false, 63, &sel) != 0 ||
	    api_body_string(r, "algorithm", false, 31, &alg) != 0)
		return;
	if (alg == NULL || strcmp(alg, "rsa") == 0)
		alg = DKIM_ALG_RSA;
	else if (strcmp(alg, "ed25519") == 0)
		alg = DKIM_ALG_ED25519;
	if (strcmp(alg, DKIM_ALG_ED25519) == 0) {
		/* XXX: libopendkim 2.11 (Debian 12) leaks its key structure on
		 * every Ed25519 signature (dkim_privkey_load, about 760 bytes
		 * per message): not offered until that is fixed; Ed25519
		 * signatures of others are verified */
		api_reply_error(r, 400,
		    "ed25519 signing keys are not offered (libopendkim 2.11 leaks memory per "
		    "Ed25519 signature); use rsa");
		return;
	}
	if (strcmp(alg, DKIM_ALG_RSA) != 0) {
		api_reply_error(r, 400, "algorithm must be rsa-sha256");
		return;
	}
	m = API_NEW(r, Mailnode__DomainDkimSet, MAILNODE__DOMAIN_DKIM_SET__INIT);
	m->domain = d;
	m->selector = api_strdup(r, sel != NULL ? sel : DKIM_DEFAULT_SELECTOR);
	m->algorithm = api_strdup(r, alg);
	r->cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_DKIM_SET;
	r->cmd.domain_dkim_set = m;
	/* an RSA key takes tens of milliseconds: never on the loop */
	g = xcalloc(1, sizeof(*g));
	g->r = r;
	snprintf(g->algorithm, sizeof(g->algorithm), "%s", alg);
	g->w.data = g;
	if (uv_queue_work(r->api->loop, &g->w, keygen_work_cb, keygen_after_cb) != 0) {
		free(g);
		api_reply_error(r, 500, "internal error");
	}
}

void
api_domains_dkim_del(struct api_req *r)
{
	Mailnode__DomainDkimSet *m;
	char *d = api_path_domain(r);

	if (d == NULL)
		return;
	if (directory_dkim_get(r->api->dir, d, NULL) != 0) {
		api_reply_error(r, 404, "domain %s has no DKIM key", d);
		return;
	}
	m = API_NEW(r, Mailnode__DomainDkimSet, MAILNODE__DOMAIN_DKIM_SET__INIT);
	m->domain = d;
	r->cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_DKIM_SET;
	r->cmd.domain_dkim_set = m;
	api_apply(r, api_step_no_content);
}
