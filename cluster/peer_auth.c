/*
 * peer_auth.c - the cluster-secret proof exchanged right after the TLS
 * handshake on node-to-node connections (see peer_auth.h for the frame).
 * HMAC-SHA256 from OpenSSL, compared in constant time.
 */
#include "cluster/peer_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "lib/log.h"
#include "lib/xalloc.h"

#define PA_MAGIC "MNPA"
#define PA_VERSION 1
#define PA_HEAD (4 + 1 + 1 + 32 + 1)
#define PA_DOMAIN "mailnode-peer-v1"

struct peer_auth {
	const struct peer_auth_config *cfg;
	peer_auth_cb cb;
	void *arg;
	char role, peer_role;
	bool sent;
	int fail; /* status reported from on_close */
};

int
peer_auth_mac(
    const char *secret, char role, const unsigned char exporter[32], unsigned char out[32])
{
	unsigned char msg[sizeof(PA_DOMAIN) - 1 + 1 + 32];
	unsigned int len = 32;

	if (secret == NULL || *secret == '\0')
		return MN_EINVAL;
	memcpy(msg, PA_DOMAIN, sizeof(PA_DOMAIN) - 1);
	msg[sizeof(PA_DOMAIN) - 1] = (unsigned char)role;
	memcpy(msg + sizeof(PA_DOMAIN), exporter, 32);
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, sizeof(msg), out, &len) == NULL ||
	    len != 32)
		return MN_EINVAL;
	return 0;
}

int
peer_auth_client_ctx(struct tls_ctx **out, struct mn_err *err)
{
	int rc = tls_client_ctx_new(NULL, false, out, err);

	/* the certificate is not what we trust (the secret's proof on every
	 * connection is), so resuming costs no assurance and saves most of
	 * the handshake of each proxied session */
	if (rc == 0)
		tls_client_ctx_resume(*out);
	return rc;
}

static void
pa_fail(struct conn *c, struct peer_auth *pa, int status)
{
	if (pa->fail == 0)
		pa->fail = status;
	conn_abort(c);
}

static void
pa_send(struct conn *c, struct peer_auth *pa)
{
	unsigned char exp[32], frame[PA_HEAD + PEER_AUTH_NAME_MAX];
	size_t nlen = strlen(pa->cfg->node_name);

	if (nlen == 0 || nlen > PEER_AUTH_NAME_MAX ||
	    conn_tls_export(c, PEER_AUTH_EXPORTER_LABEL, exp, sizeof(exp)) != 0) {
		pa_fail(c, pa, MN_ETLS);
		return;
	}
	memcpy(frame, PA_MAGIC, 4);
	frame[4] = PA_VERSION;
	frame[5] = (unsigned char)pa->role;
	if (peer_auth_mac(pa->cfg->secret, pa->role, exp, frame + 6) != 0) {
		pa_fail(c, pa, MN_EAUTH);
		return;
	}
	frame[38] = (unsigned char)nlen;
	memcpy(frame + PA_HEAD, pa->cfg->node_name, nlen);
	OPENSSL_cleanse(exp, sizeof(exp));
	pa->sent = true;
	conn_write(c, frame, PA_HEAD + nlen);
}

static void
pa_on_tls(struct conn *c, void *arg, int status)
{
	struct peer_auth *pa = arg;

	if (status != 0) {
		pa->fail = MN_ETLS;
		return; /* the conn closes by itself */
	}
	pa_send(c, pa);
}

static void
pa_on_read(struct conn *c, void *arg)
{
	struct peer_auth *pa = arg;
	struct buf *in = conn_input(c);
	unsigned char exp[32], want[32];
	char name[PEER_AUTH_NAME_MAX + 1];
	size_t nlen;

	if (!pa->sent || conn_is_closing(c))
		return;
	if (in->len < PA_HEAD) {
		if (in->len > 0 && memcmp(in->data, PA_MAGIC, in->len < 4 ? in->len : 4) != 0)
			goto bad_frame;
		return;
	}
	if (memcmp(in->data, PA_MAGIC, 4) != 0 || in->data[4] != PA_VERSION ||
	    in->data[5] != (uint8_t)pa->peer_role)
		goto bad_frame;
	nlen = in->data[38];
	if (nlen == 0 || nlen > PEER_AUTH_NAME_MAX)
		goto bad_frame;
	if (in->len < PA_HEAD + nlen)
		return;
	memcpy(name, in->data + PA_HEAD, nlen);
	name[nlen] = '\0';
	for (size_t i = 0; i < nlen; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (ch <= 0x20 || ch >= 0x7f)
			goto bad_frame;
	}
	if (conn_tls_export(c, PEER_AUTH_EXPORTER_LABEL, exp, sizeof(exp)) != 0 ||
	    peer_auth_mac(pa->cfg->secret, pa->peer_role, exp, want) != 0 ||
	    CRYPTO_memcmp(want, in->data + 6, 32) != 0) {
		log_warn("peer", "peer refused: bad cluster secret from %s (name=%s)",
		    conn_peer_ip(c), name);
		pa_fail(c, pa, MN_EAUTH);
		return;
	}
	buf_consume(in, PA_HEAD + nlen);
	log_debug("peer", "event=peer_auth peer=%s name=%s", conn_peer_ip(c), name);
	conn_set_idle_timeout(c, 0);
	conn_pause(c);
	conn_set_handler(c, NULL, NULL);
	pa->cb(c, 0, name, pa->arg);
	free(pa);
	if (!conn_is_closing(c))
		conn_resume(c);
	return;
bad_frame:
	log_warn(
	    "peer", "peer refused: bad cluster secret from %s (not a peer frame)", conn_peer_ip(c));
	pa_fail(c, pa, MN_EPARSE);
}

static void
pa_on_close(struct conn *c, void *arg, int reason)
{
	struct peer_auth *pa = arg;
	int status = pa->fail ? pa->fail : reason ? reason : MN_ECLOSED;

	pa->cb(c, status, NULL, pa->arg);
	free(pa);
}

static bool
pa_on_timeout(struct conn *c, void *arg)
{
	struct peer_auth *pa = arg;

	log_warn("peer", "event=peer_auth peer=%s result=timeout", conn_peer_ip(c));
	pa->fail = MN_ETIMEDOUT;
	return false;
}

static const struct conn_handler pa_handler = {
    .on_read = pa_on_read,
    .on_close = pa_on_close,
    .on_tls = pa_on_tls,
    .on_timeout = pa_on_timeout,
};

static struct peer_auth *
pa_new(struct conn *c, const struct peer_auth_config *cfg, peer_auth_cb cb, void *arg, char role)
{
	struct peer_auth *pa = xcalloc(1, sizeof(*pa));

	pa->cfg = cfg;
	pa->cb = cb;
	pa->arg = arg;
	pa->role = role;
	pa->peer_role = role == 'C' ? 'S' : 'C';
	conn_set_handler(c, &pa_handler, pa);
	conn_set_input_max(c, PA_HEAD + PEER_AUTH_NAME_MAX + 64 * 1024);
	conn_set_idle_timeout(c, PEER_AUTH_TIMEOUT_MS);
	return pa;
}

void
peer_auth_accept(struct conn *c, const struct peer_auth_config *cfg, peer_auth_cb cb, void *arg)
{
	struct peer_auth *pa = pa_new(c, cfg, cb, arg, 'S');

	if (cfg->secret == NULL || *cfg->secret == '\0') {
		log_warn("peer",
		    "peer refused: no cluster secret configured (single node), from %s",
		    conn_peer_ip(c));
		pa_fail(c, pa, MN_EAUTH);
	}
}

void
peer_auth_connect(struct conn *c, const struct peer_auth_config *cfg, peer_auth_cb cb, void *arg)
{
	struct peer_auth *pa = pa_new(c, cfg, cb, arg, 'C');

	if (cfg->secret == NULL || *cfg->secret == '\0') {
		log_warn("peer",
		    "event=peer_auth result=refused reason=\"no cluster secret configured\"");
		pa_fail(c, pa, MN_EAUTH);
		return;
	}
	if (conn_client_starttls(c, cfg->client_tls, NULL) != 0)
		pa_fail(c, pa, MN_ETLS);
}
