/*
 * session.c - webmail session table (see session.h).
 *
 * A flat array with linear search: WEBMAIL_MAX_SESSIONS entries of a
 * constant-time compare are a few microseconds, and a flat table keeps
 * eviction and expiry obvious. XXX: a hash table once nodes serve
 * tens of thousands of browser users each.
 */
#include "node/webmail/session.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "lib/token.h"
#include "lib/xalloc.h"

_Static_assert(WEBMAIL_TOKEN_LEN == TOKEN_LEN, "webmail ids are lib/token tokens");

struct webmail_sessions {
	struct webmail_session *v;
	size_t n, cap;
};

void
webmail_sessions_new(struct webmail_sessions **out)
{
	*out = xcalloc(1, sizeof(**out));
}

static void
session_remove(struct webmail_sessions *s, size_t i)
{
	free(s->v[i].user);
	OPENSSL_cleanse(&s->v[i], sizeof(s->v[i]));
	s->v[i] = s->v[--s->n];
}

void
webmail_sessions_free(struct webmail_sessions **sp)
{
	struct webmail_sessions *s = *sp;

	if (s == NULL)
		return;
	while (s->n > 0)
		session_remove(s, s->n - 1);
	free(s->v);
	free(s);
	*sp = NULL;
}

static bool
expired(const struct webmail_session *ses, uint64_t now)
{
	return now - ses->used_ms >= WEBMAIL_SESSION_IDLE_MS ||
	       now - ses->created_ms >= WEBMAIL_SESSION_MAX_MS;
}

const struct webmail_session *
webmail_session_create(struct webmail_sessions *s, const char *user, uint64_t now_ms)
{
	struct webmail_session *ses;

	for (size_t i = 0; i < s->n;) {
		if (expired(&s->v[i], now_ms))
			session_remove(s, i);
		else
			i++;
	}
	if (s->n == WEBMAIL_MAX_SESSIONS) {
		size_t oldest = 0;

		for (size_t i = 1; i < s->n; i++)
			if (s->v[i].used_ms < s->v[oldest].used_ms)
				oldest = i;
		session_remove(s, oldest);
	}
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	ses = &s->v[s->n++];
	memset(ses, 0, sizeof(*ses));
	token_random(ses->id);
	token_random(ses->csrf);
	ses->user = xstrdup(user);
	ses->created_ms = ses->used_ms = now_ms;
	return ses;
}

const struct webmail_session *
webmail_session_lookup(struct webmail_sessions *s, const char *id, size_t len, uint64_t now_ms)
{
	for (size_t i = 0; i < s->n; i++) {
		if (!token_eq(s->v[i].id, id, len))
			continue;
		if (expired(&s->v[i], now_ms)) {
			session_remove(s, i);
			return NULL;
		}
		s->v[i].used_ms = now_ms;
		return &s->v[i];
	}
	return NULL;
}

void
webmail_session_end(struct webmail_sessions *s, const char *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (token_eq(s->v[i].id, id, strlen(id))) {
			session_remove(s, i);
			return;
		}
}

bool
webmail_session_csrf_ok(const struct webmail_session *ses, const char *token, size_t len)
{
	return token != NULL && token_eq(ses->csrf, token, len);
}

size_t
webmail_session_count(const struct webmail_sessions *s)
{
	return s->n;
}

bool
webmail_cookie_get(
    const char *h, size_t len, const char *name, const char **val_out, size_t *vlen_out)
{
	size_t nlen = strlen(name), i = 0;

	while (i < len) {
		size_t start, eq, end;

		while (i < len && (h[i] == ' ' || h[i] == '\t' || h[i] == ';'))
			i++;
		start = i;
		while (i < len && h[i] != ';')
			i++;
		end = i;
		while (end > start && (h[end - 1] == ' ' || h[end - 1] == '\t'))
			end--;
		for (eq = start; eq < end && h[eq] != '='; eq++)
			;
		if (eq < end && eq - start == nlen && memcmp(h + start, name, nlen) == 0) {
			*val_out = h + eq + 1;
			*vlen_out = end - eq - 1;
			return true;
		}
	}
	return false;
}
