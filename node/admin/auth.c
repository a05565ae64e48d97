/*
 * auth.c - admin API authentication with a short success cache, and
 * crypt(3) hashing in the thread pool (see auth.h).
 */
#include "node/admin/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "storage/directory/password.h"

struct auth_slot {
	char *name;               /* NULL: free */
	unsigned char digest[32]; /* SHA-256(password) */
	char *hash;               /* stored hash it was verified against */
	uint64_t expires;         /* uv_now() ms */
};

struct admin_auth {
	uv_loop_t *loop;
	struct directory *dir;
	struct auth_slot slots[ADMIN_AUTH_CACHE_SLOTS];
};

struct auth_work {
	uv_work_t req;
	struct admin_auth *auth;
	char *name;
	char *password;
	char *hash;
	char *domain;
	bool known; /* false: verifying dummy_hash, always refused */
	bool ok;
	admin_auth_cb cb;
	void *arg;
};

void
admin_identity_fini(struct admin_identity *id)
{
	free(id->name);
	free(id->domain);
	id->name = id->domain = NULL;
}

int
admin_auth_new(uv_loop_t *loop, struct directory *dir, struct admin_auth **out)
{
	struct admin_auth *a = xcalloc(1, sizeof(*a));

	a->loop = loop;
	a->dir = dir;
	*out = a;
	return 0;
}

static void
slot_clear(struct auth_slot *s)
{
	free(s->name);
	free(s->hash);
	OPENSSL_cleanse(s->digest, sizeof(s->digest));
	s->name = s->hash = NULL;
	s->expires = 0;
}

void
admin_auth_forget(struct admin_auth *a, const char *name)
{
	for (size_t i = 0; i < ADMIN_AUTH_CACHE_SLOTS; i++)
		if (a->slots[i].name != NULL &&
		    (name == NULL || strcmp(a->slots[i].name, name) == 0))
			slot_clear(&a->slots[i]);
}

void
admin_auth_free(struct admin_auth **ap)
{
	if (*ap == NULL)
		return;
	admin_auth_forget(*ap, NULL);
	free(*ap);
	*ap = NULL;
}

static void
sha256(const char *s, unsigned char out[32])
{
	unsigned int len = 32;

	EVP_Digest(s, strlen(s), out, &len, EVP_sha256(), NULL);
}

static void
cache_put(struct admin_auth *a, const char *name, const char *password, const char *hash)
{
	struct auth_slot *victim = NULL;
	uint64_t now = uv_now(a->loop);

	/* one slot per admin (the latest password), else a free or expired
	 * slot, else the one closest to expiry */
	for (size_t i = 0; i < ADMIN_AUTH_CACHE_SLOTS && victim == NULL; i++)
		if (a->slots[i].name != NULL && strcmp(a->slots[i].name, name) == 0)
			victim = &a->slots[i];
	for (size_t i = 0; i < ADMIN_AUTH_CACHE_SLOTS && victim == NULL; i++)
		if (a->slots[i].name == NULL || a->slots[i].expires <= now)
			victim = &a->slots[i];
	if (victim == NULL) {
		victim = &a->slots[0];
		for (size_t i = 1; i < ADMIN_AUTH_CACHE_SLOTS; i++)
			if (a->slots[i].expires < victim->expires)
				victim = &a->slots[i];
	}
	slot_clear(victim);
	victim->name = xstrdup(name);
	victim->hash = xstrdup(hash);
	sha256(password, victim->digest);
	victim->expires = now + ADMIN_AUTH_CACHE_MS;
}

static bool
cache_hit(struct admin_auth *a, const char *name, const char *password, const char *hash)
{
	unsigned char digest[32];
	uint64_t now = uv_now(a->loop);

	for (size_t i = 0; i < ADMIN_AUTH_CACHE_SLOTS; i++) {
		struct auth_slot *s = &a->slots[i];

		if (s->name == NULL || strcmp(s->name, name) != 0)
			continue;
		if (s->expires <= now || strcmp(s->hash, hash) != 0) {
			slot_clear(s); /* expired, or the password changed */
			return false;
		}
		sha256(password, digest);
		return CRYPTO_memcmp(digest, s->digest, sizeof(digest)) == 0;
	}
	return false;
}

static void
auth_work_cb(uv_work_t *req)
{
	struct auth_work *w = req->data;

	w->ok = password_verify(w->hash, w->password);
}

static void
auth_work_free(struct auth_work *w)
{
	OPENSSL_cleanse(w->password, strlen(w->password));
	free(w->password);
	free(w->name);
	free(w->hash);
	free(w->domain);
	free(w);
}

static void
auth_after_cb(uv_work_t *req, int status)
{
	struct auth_work *w = req->data;
	struct admin_identity who = {w->name, w->domain};
	char esc[128];

	if (status == 0 && w->ok && w->known) {
		cache_put(w->auth, w->name, w->password, w->hash);
		w->cb(0, &who, w->arg);
	} else {
		log_warn("admin", "event=auth result=fail name=%s%s",
		    log_escape(esc, sizeof(esc), w->name, strlen(w->name)),
		    w->known ? "" : " reason=unknown");
		w->cb(MN_EAUTH, NULL, w->arg);
	}
	auth_work_free(w);
}

/* Verified in place of a missing admin's hash, so that an unknown name
 * costs the same time as a wrong password and does not reveal which admin
 * names exist. Same yescrypt cost as password_hash() makes. */
static const char dummy_hash[] =
    "$y$j9T$abcdefghijklmnopqrstu.$I5IIvbcRljdPIO7nBX6Teny6So.b9Md5QubS3lkATR2";

int
admin_auth_check(struct admin_auth *a, const char *name, const char *password,
    struct admin_identity *who_out, admin_auth_cb cb, void *arg)
{
	struct dir_admin adm;
	struct auth_work *w;
	bool known;

	if (strlen(password) > ADMIN_AUTH_MAX_PASSWORD)
		return MN_EAUTH;
	memset(&adm, 0, sizeof(adm));
	known = directory_admin_get(a->dir, name, &adm) == 0;
	if (known && cache_hit(a, adm.name, password, adm.password_hash)) {
		who_out->name = xstrdup(adm.name);
		who_out->domain = adm.domain ? xstrdup(adm.domain) : NULL;
		dir_admin_fini(&adm);
		return 0;
	}
	w = xcalloc(1, sizeof(*w));
	w->req.data = w;
	w->auth = a;
	w->known = known;
	w->name = xstrdup(known ? adm.name : name);
	w->password = xstrdup(password);
	w->hash = xstrdup(known ? adm.password_hash : dummy_hash);
	w->domain = known && adm.domain ? xstrdup(adm.domain) : NULL;
	w->cb = cb;
	w->arg = arg;
	if (known)
		dir_admin_fini(&adm);
	if (uv_queue_work(a->loop, &w->req, auth_work_cb, auth_after_cb) != 0) {
		auth_work_free(w);
		return MN_EAUTH;
	}
	return MN_EAGAIN;
}

/* --- hashing ------------------------------------------------------------ */

struct hash_work {
	uv_work_t req;
	char *password;
	char *hash;
	password_hash_cb cb;
	void *arg;
};

static void
hash_work_cb(uv_work_t *req)
{
	struct hash_work *w = req->data;

	w->hash = password_hash(w->password);
}

static void
hash_after_cb(uv_work_t *req, int status)
{
	struct hash_work *w = req->data;

	OPENSSL_cleanse(w->password, strlen(w->password));
	free(w->password);
	if (status != 0) {
		free(w->hash);
		w->hash = NULL;
	}
	w->cb(w->hash, w->arg);
	free(w);
}

int
password_hash_async(uv_loop_t *loop, const char *password, password_hash_cb cb, void *arg)
{
	struct hash_work *w = xcalloc(1, sizeof(*w));

	w->req.data = w;
	w->password = xstrdup(password);
	w->cb = cb;
	w->arg = arg;
	if (uv_queue_work(loop, &w->req, hash_work_cb, hash_after_cb) != 0) {
		OPENSSL_cleanse(w->password, strlen(w->password));
		free(w->password);
		free(w);
		return MN_EINVAL;
	}
	return 0;
}
