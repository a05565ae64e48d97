/*
 * session.c - the web admin's bearer-token table (see session.h).
 *
 * A plain array searched linearly: ADMIN_SESSION_MAX entries of a few
 * dozen bytes, compared with CRYPTO_memcmp on the token's digest so the
 * time taken says nothing about how close a guess came.
 */
#include "node/admin/session.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/token.h"
#include "lib/xalloc.h"

_Static_assert(ADMIN_SESSION_TOKEN_LEN == TOKEN_LEN, "admin tokens are lib/token tokens");

struct admin_session {
	unsigned char digest[32]; /* SHA-256 of the token */
	char *name;
	char *hash; /* the admin's password hash at login */
	uint64_t created, used;
};

struct admin_sessions {
	struct admin_session *v;
	size_t n;
};

void
admin_sessions_new(struct admin_sessions **out)
{
	*out = xcalloc(1, sizeof(**out));
	(*out)->v = xcalloc(ADMIN_SESSION_MAX, sizeof(struct admin_session));
}

static void
session_remove(struct admin_sessions *s, size_t i)
{
	free(s->v[i].name);
	free(s->v[i].hash);
	s->v[i] = s->v[s->n - 1];
	memset(&s->v[s->n - 1], 0, sizeof(s->v[0]));
	s->n--;
}

void
admin_sessions_free(struct admin_sessions **sp)
{
	struct admin_sessions *s = *sp;

	if (s == NULL)
		return;
	while (s->n > 0)
		session_remove(s, s->n - 1);
	free(s->v);
	free(s);
	*sp = NULL;
}

static void
digest(const char *token, size_t len, unsigned char out[32])
{
	unsigned int n = 32;

	EVP_Digest(token, len, out, &n, EVP_sha256(), NULL);
}

static bool
expired(const struct admin_session *e, uint64_t now)
{
	return now >= e->used + ADMIN_SESSION_IDLE_MS || now >= e->created + ADMIN_SESSION_MAX_MS;
}

char *
admin_session_create(struct admin_sessions *s, const char *name, const char *hash, uint64_t now)
{
	char *token = xmalloc(ADMIN_SESSION_TOKEN_LEN + 1);
	struct admin_session *e;

	token_random(token);
	for (size_t i = 0; i < s->n;)
		if (expired(&s->v[i], now))
			session_remove(s, i);
		else
			i++;
	if (s->n == ADMIN_SESSION_MAX) {
		size_t oldest = 0;

		for (size_t i = 1; i < s->n; i++)
			if (s->v[i].used < s->v[oldest].used)
				oldest = i;
		session_remove(s, oldest);
	}
	e = &s->v[s->n++];
	digest(token, ADMIN_SESSION_TOKEN_LEN, e->digest);
	e->name = xstrdup(name);
	e->hash = xstrdup(hash);
	e->created = e->used = now;
	return token;
}

static struct admin_session *
find(struct admin_sessions *s, const char *token, size_t len, size_t *idx)
{
	unsigned char d[32];

	if (len != ADMIN_SESSION_TOKEN_LEN)
		return NULL;
	digest(token, len, d);
	for (size_t i = 0; i < s->n; i++)
		if (CRYPTO_memcmp(d, s->v[i].digest, sizeof(d)) == 0) {
			*idx = i;
			return &s->v[i];
		}
	return NULL;
}

int
admin_session_lookup(struct admin_sessions *s, const char *token, size_t len, uint64_t now,
    char **name_out, char **hash_out)
{
	size_t i;
	struct admin_session *e = find(s, token, len, &i);

	*name_out = *hash_out = NULL;
	if (e == NULL)
		return MN_EAUTH;
	if (expired(e, now)) {
		session_remove(s, i);
		return MN_EAUTH;
	}
	e->used = now;
	*name_out = xstrdup(e->name);
	*hash_out = xstrdup(e->hash);
	return 0;
}

void
admin_session_end(struct admin_sessions *s, const char *token, size_t len)
{
	size_t i;

	if (find(s, token, len, &i) != NULL)
		session_remove(s, i);
}

void
admin_session_end_admin(struct admin_sessions *s, const char *name)
{
	for (size_t i = 0; i < s->n;)
		if (strcmp(s->v[i].name, name) == 0)
			session_remove(s, i);
		else
			i++;
}
