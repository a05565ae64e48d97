/*
 * tls.c - OpenSSL 3 contexts (server and client, TLS >= 1.2) and the
 * self-signed certificate a node makes for itself on first start.
 *
 * Owns struct tls_ctx (one SSL_CTX plus its role). The per-connection SSL
 * objects live in conn.c; SSL_new() takes its own reference on the SSL_CTX,
 * so freeing a tls_ctx while connections still use it is safe.
 * A client context may keep the last session ticket per peer address
 * (tls_client_ctx_resume) so that the next connection to that peer resumes
 * (RFC 8446 §2.2, PSK with (EC)DHE: still forward secret) and skips the
 * certificate, its signature and their checks: the node-to-node channel
 * opens one connection per proxied IMAP/POP3 session, and the full
 * handshake was most of what a session cost the two nodes.
 * The self-signed pair follows RFC 5280 (v3, SAN) so that ordinary clients
 * (openssl s_client, Python ssl with the cert as CA file) can verify it.
 */
#include "lib/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"

/* tls_client_ctx_resume's cache: a few peers, each its newest ticket */
#define TLS_RESUME_PEERS 64

struct tls_resume {
	char key[64]; /* "ip:port" */
	SSL_SESSION *sess;
	uint64_t used; /* for eviction: the least recently stored goes */
};

struct tls_ctx {
	SSL_CTX *ssl;
	bool server;
	struct tls_resume *resume; /* NULL: no resumption */
	uint64_t resume_clock;
};

/* SSL ex_data slot holding the peer key of a resuming client connection */
static int resume_key_idx = -1;

/* Ciphers for TLS 1.2 only (1.3 suites are all fine): forward secrecy and
 * AEAD first, nothing anonymous or export grade. */
#define TLS_CIPHERS_12                                                                             \
	"ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:ECDHE+AES:!aNULL:!eNULL:!MD5:!RC4:!3DES"

/* ssl_errstr - the most recent OpenSSL error queue entry as text (and clear
 * the queue, so that a later failure does not report this one). */
static const char *
ssl_errstr(char *out, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(out, len, "unknown error");
	else
		ERR_error_string_n(e, out, len);
	ERR_clear_error();
	return out;
}

static SSL_CTX *
ctx_common(const SSL_METHOD *method)
{
	SSL_CTX *ctx = SSL_CTX_new(method);

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Renegotiation would let SSL_write ask for a read; mail protocols
	 * never need it (RFC 7457 §2.2 triple handshake). */
	SSL_CTX_set_options(
	    ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Idle sessions should not hold 2x16K record buffers each. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12);
	return ctx;
}

int
tls_server_ctx_new(
    const char *cert_file, const char *key_file, struct tls_ctx **out, struct mn_err *err)
{
	static const unsigned char sid_ctx[] = "mailnode";
	char e[256];
	SSL_CTX *ctx;

	*out = NULL;
	if ((ctx = ctx_common(TLS_server_method())) == NULL)
		return mn_err_set(err, MN_ETLS, "SSL_CTX_new: %s", ssl_errstr(e, sizeof(e)));
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		mn_err_set(err, MN_ETLS, "certificate %s: %s", cert_file, ssl_errstr(e, sizeof(e)));
		SSL_CTX_free(ctx);
		return MN_ETLS;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		mn_err_set(err, MN_ETLS, "key %s: %s", key_file, ssl_errstr(e, sizeof(e)));
		SSL_CTX_free(ctx);
		return MN_ETLS;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		mn_err_set(err, MN_ETLS, "key %s does not match certificate %s: %s", key_file,
		    cert_file, ssl_errstr(e, sizeof(e)));
		SSL_CTX_free(ctx);
		return MN_ETLS;
	}
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	*out = xcalloc(1, sizeof(**out));
	(*out)->ssl = ctx;
	(*out)->server = true;
	return 0;
}

int
tls_client_ctx_new(const char *ca_file, bool verify, struct tls_ctx **out, struct mn_err *err)
{
	char e[256];
	SSL_CTX *ctx;

	*out = NULL;
	if ((ctx = ctx_common(TLS_client_method())) == NULL)
		return mn_err_set(err, MN_ETLS, "SSL_CTX_new: %s", ssl_errstr(e, sizeof(e)));
	if (verify) {
		int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
		                 : SSL_CTX_set_default_verify_paths(ctx);

		if (ok != 1) {
			mn_err_set(err, MN_ETLS, "CA %s: %s", ca_file ? ca_file : "(system)",
			    ssl_errstr(e, sizeof(e)));
			SSL_CTX_free(ctx);
			return MN_ETLS;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		/* Opportunistic TLS (RFC 7435): encryption without authentication
		 * is still better than plain text. */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	*out = xcalloc(1, sizeof(**out));
	(*out)->ssl = ctx;
	(*out)->server = false;
	return 0;
}

static void
resume_key_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

/* OpenSSL hands us each new session (TLS 1.3: each NewSessionTicket, after
 * the handshake); 1 = we keep the reference. */
static int
resume_new_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_ctx *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	const char *key = resume_key_idx >= 0 ? SSL_get_ex_data(ssl, resume_key_idx) : NULL;
	struct tls_resume *slot = NULL;

	if (t == NULL || t->resume == NULL || key == NULL || !SSL_SESSION_is_resumable(sess))
		return 0;
	for (int i = 0; i < TLS_RESUME_PEERS; i++) {
		struct tls_resume *r = &t->resume[i];

		if (r->sess != NULL && strcmp(r->key, key) == 0) {
			slot = r;
			break;
		}
		if (slot == NULL ||
		    (slot->sess != NULL && (r->sess == NULL || r->used < slot->used)))
			slot = r;
	}
	SSL_SESSION_free(slot->sess);
	snprintf(slot->key, sizeof(slot->key), "%s", key);
	slot->sess = sess;
	slot->used = ++t->resume_clock;
	return 1;
}

void
tls_client_ctx_resume(struct tls_ctx *ctx)
{
	if (ctx->server || ctx->resume != NULL)
		return;
	if (resume_key_idx < 0)
		resume_key_idx =
		    SSL_get_ex_new_index(0, "mailnode resume key", NULL, NULL, resume_key_free);
	ctx->resume = xcalloc(TLS_RESUME_PEERS, sizeof(*ctx->resume));
	SSL_CTX_set_app_data(ctx->ssl, ctx);
	/* no internal store: tickets are looked up by peer address, here */
	SSL_CTX_set_session_cache_mode(
	    ctx->ssl, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx->ssl, resume_new_cb);
}

void
tls_client_session_use(struct tls_ctx *ctx, SSL *ssl, const char *peer_key)
{
	if (ctx->resume == NULL || resume_key_idx < 0 ||
	    strlen(peer_key) >= sizeof(ctx->resume->key))
		return;
	if (SSL_set_ex_data(ssl, resume_key_idx, xstrdup(peer_key)) != 1)
		return;
	for (int i = 0; i < TLS_RESUME_PEERS; i++) {
		struct tls_resume *r = &ctx->resume[i];

		if (r->sess != NULL && strcmp(r->key, peer_key) == 0) {
			/* an expired ticket is simply not offered by OpenSSL */
			SSL_set_session(ssl, r->sess);
			return;
		}
	}
}

void
tls_ctx_free(struct tls_ctx **ctx)
{
	if (ctx == NULL || *ctx == NULL)
		return;
	/* connections still using the SSL_CTX must not find us in the callback */
	SSL_CTX_set_app_data((*ctx)->ssl, NULL);
	if ((*ctx)->resume != NULL) {
		for (int i = 0; i < TLS_RESUME_PEERS; i++)
			SSL_SESSION_free((*ctx)->resume[i].sess);
		free((*ctx)->resume);
	}
	SSL_CTX_free((*ctx)->ssl);
	free(*ctx);
	*ctx = NULL;
}

SSL_CTX *
tls_ctx_ssl(struct tls_ctx *ctx)
{
	return ctx->ssl;
}

bool
tls_ctx_is_server(const struct tls_ctx *ctx)
{
	return ctx->server;
}

/* --- self-signed certificate ------------------------------------------- */

/* mkdir_p - create dir and its parents (mode 0700 for the new ones: the
 * key lives there). */
static int
mkdir_p(const char *dir, struct mn_err *err)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(path))
		return mn_err_set(err, MN_EINVAL, "bad directory name");
	memcpy(path, dir, len + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return mn_err_set(err, MN_EIO, "mkdir %s: %s", path, strerror(errno));
		*p = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return mn_err_set(err, MN_EIO, "mkdir %s: %s", path, strerror(errno));
	return 0;
}

static bool
hostname_ok(const char *h)
{
	size_t n = strlen(h);

	/* RFC 1035 §2.3.1 letters, digits, hyphen, dots; 253 bytes max. The
	 * name goes into an X509V3 config string, where ',' would start a new
	 * SAN entry, so nothing else is allowed. */
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		        c == '-' || c == '.'))
			return false;
	}
	return true;
}

static bool
is_ip_literal(const char *s)
{
	unsigned char tmp[16];

	return inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1;
}

static int
add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value)) == NULL)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

static X509 *
make_cert(EVP_PKEY *key, const char *hostname)
{
	X509 *x = X509_new();
	X509_NAME *name;
	BIGNUM *bn = BN_new();
	ASN1_INTEGER *serial = NULL;
	char san[300];
	bool ok = false;

	if (x == NULL || bn == NULL)
		goto out;
	if (X509_set_version(x, X509_VERSION_3) != 1)
		goto out;
	/* RFC 5280 §4.1.2.2: positive, unique, at most 20 octets. */
	if (BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
	    (serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    X509_set_serialNumber(x, serial) != 1)
		goto out;
	/* Backdate an hour against clock skew between cluster nodes. */
	if (X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), 3650, 0, NULL) == NULL)
		goto out;
	name = X509_get_subject_name(x);
	if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	        (const unsigned char *)"mailnode self-signed", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(
	        name, "CN", MBSTRING_ASC, (const unsigned char *)hostname, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, key) != 1)
		goto out;
	if (is_ip_literal(hostname))
		snprintf(san, sizeof(san), "IP:%s%s", hostname,
		    strcmp(hostname, "127.0.0.1") == 0 ? "" : ",IP:127.0.0.1");
	else
		snprintf(san, sizeof(san), "DNS:%s,IP:127.0.0.1", hostname);
	if (add_ext(x, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(x, NID_key_usage, "critical,digitalSignature") < 0 ||
	    add_ext(x, NID_ext_key_usage, "serverAuth") < 0 ||
	    add_ext(x, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(x, NID_subject_alt_name, san) < 0)
		goto out;
	if (X509_sign(x, key, EVP_sha256()) == 0)
		goto out;
	ok = true;
out:
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* write_pem - write to path.tmp with the given mode, fsync, rename: a crash
 * never leaves a half-written key behind that would be reused. */
static int
write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert, struct mn_err *err)
{
	char *tmp = xasprintf("%s.tmp", path);
	char e[256];
	FILE *f;
	int fd, ok, rc = 0;

	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) < 0) {
		rc = mn_err_set(err, MN_EIO, "open %s: %s", tmp, strerror(errno));
		goto out;
	}
	/* Exact mode whatever the umask: the key must never be group readable
	 * and the cert must be readable by the operator's tools. */
	if (fchmod(fd, mode) < 0) {
		rc = mn_err_set(err, MN_EIO, "chmod %s: %s", tmp, strerror(errno));
		close(fd);
		goto out_unlink;
	}
	if ((f = fdopen(fd, "w")) == NULL) {
		rc = mn_err_set(err, MN_EIO, "fdopen %s: %s", tmp, strerror(errno));
		close(fd);
		goto out_unlink;
	}
	ok =
	    key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, cert);
	if (!ok) {
		rc = mn_err_set(err, MN_ETLS, "write %s: %s", tmp, ssl_errstr(e, sizeof(e)));
		fclose(f);
		goto out_unlink;
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		rc = mn_err_set(err, MN_EIO, "write %s: %s", tmp, strerror(errno));
		fclose(f);
		goto out_unlink;
	}
	if (fclose(f) != 0) {
		rc = mn_err_set(err, MN_EIO, "close %s: %s", tmp, strerror(errno));
		goto out_unlink;
	}
	if (rename(tmp, path) < 0) {
		rc = mn_err_set(err, MN_EIO, "rename %s: %s", path, strerror(errno));
		goto out_unlink;
	}
	goto out;
out_unlink:
	unlink(tmp);
out:
	free(tmp);
	return rc;
}

int
tls_ensure_self_signed(
    const char *dir, const char *hostname, char **cert_out, char **key_out, struct mn_err *err)
{
	char *cert_path = NULL, *key_path = NULL;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	struct stat st;
	bool have_cert, have_key;
	char e[256];
	int rc;

	*cert_out = *key_out = NULL;
	if (!hostname_ok(hostname))
		return mn_err_set(err, MN_EINVAL, "self-signed certificate: bad hostname");
	cert_path = xasprintf("%s/cert.pem", dir);
	key_path = xasprintf("%s/key.pem", dir);
	have_cert = stat(cert_path, &st) == 0;
	have_key = stat(key_path, &st) == 0;
	if (have_cert && have_key)
		goto done;
	if (have_cert != have_key)
		log_warn("tls", "event=self_signed_regenerate dir=%s reason=%s_missing", dir,
		    have_cert ? "key" : "cert");
	if ((rc = mkdir_p(dir, err)) < 0)
		goto fail;
	if ((key = EVP_EC_gen("P-256")) == NULL) {
		rc = mn_err_set(err, MN_ETLS, "EC key: %s", ssl_errstr(e, sizeof(e)));
		goto fail;
	}
	if ((x = make_cert(key, hostname)) == NULL) {
		rc = mn_err_set(err, MN_ETLS, "certificate: %s", ssl_errstr(e, sizeof(e)));
		goto fail;
	}
	/* Key first: the pair counts as present only once the cert exists. */
	if ((rc = write_pem(key_path, 0600, key, NULL, err)) < 0 ||
	    (rc = write_pem(cert_path, 0644, NULL, x, err)) < 0)
		goto fail;
	log_info("tls", "event=self_signed_created cert=%s hostname=%s", cert_path, hostname);
	X509_free(x);
	EVP_PKEY_free(key);
done:
	*cert_out = cert_path;
	*key_out = key_path;
	return 0;
fail:
	X509_free(x);
	EVP_PKEY_free(key);
	free(cert_path);
	free(key_path);
	return rc;
}
