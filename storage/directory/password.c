/*
 * password.c - crypt(3) password hashes through libxcrypt.
 *
 * New hashes are yescrypt with libxcrypt's default cost; verification
 * accepts every method libxcrypt still supports, so hashes imported from
 * other systems (SHA-512-crypt "$6$", bcrypt "$2b$", ...) keep working.
 * Each call uses its own struct crypt_data (thread-safe, runs in worker
 * threads) and wipes it afterwards, since it held the password.
 */
#include <crypt.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "storage/directory/password.h"

/* Methods we accept from an import, with the length of the encoded hash
 * after the last '$' (0: any non-empty). DES and its variants (no "$"
 * prefix) are refused: 8-character passwords and 12-bit salts. A bare
 * setting ("$6$salt") passes crypt_checksalt but could never verify, so the
 * hash part is required. */
static const struct {
	const char *prefix;
	size_t hash_len;
} methods[] = {
    {"$y$", 43},
    {"$gy$", 43},
    {"$7$", 43},
    {"$6$", 86},
    {"$5$", 43},
    {"$1$", 22},
    {"$sha1$", 28},
    {"$md5", 22},
    {"$2b$", 0},
    {"$2y$", 0},
    {"$2a$", 0},
};

/* bcrypt cost is 2^N rounds; a crafted "$2b$31$" hash would take days to
 * verify and lock up a worker. Real systems use 10..14. Likewise for the
 * SHA-crypt "rounds=" parameter (default 5000). */
#define BCRYPT_MAX_COST 16
#define SHACRYPT_MAX_ROUNDS 10000000L

/* At most this many hashes are computed at once. yescrypt takes ~16 MiB
 * and tens of ms of CPU each; with a 16-thread pool a burst of logins
 * would otherwise hold 256 MiB and crowd out the mail store's jobs (Dovecot
 * runs its auth workers in a bounded pool for the same reason). */
#define PASSWORD_MAX_PARALLEL 4

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slots_free = PTHREAD_COND_INITIALIZER;
static int slots_used;

static char *
crypt_bounded(const char *phrase, const char *setting, struct crypt_data *cd)
{
	char *h;

	pthread_mutex_lock(&slots_lock);
	while (slots_used >= PASSWORD_MAX_PARALLEL)
		pthread_cond_wait(&slots_free, &slots_lock);
	slots_used++;
	pthread_mutex_unlock(&slots_lock);
	h = crypt_rn(phrase, setting, cd, sizeof(*cd));
	pthread_mutex_lock(&slots_lock);
	slots_used--;
	pthread_cond_signal(&slots_free);
	pthread_mutex_unlock(&slots_lock);
	return h;
}

char *
password_hash(const char *password)
{
	struct crypt_data *cd;
	char *setting, *h, *out = NULL;

	if (password == NULL)
		return NULL;
	setting = crypt_gensalt_ra("$y$", 0, NULL, 0);
	if (setting == NULL)
		return NULL;
	cd = xcalloc(1, sizeof(*cd));
	h = crypt_bounded(password, setting, cd);
	if (h != NULL && h[0] != '*')
		out = xstrdup(h);
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	free(setting);
	return out;
}

bool
password_verify(const char *hash, const char *password)
{
	struct crypt_data *cd;
	const char *h;
	size_t hl;
	bool ok = false;

	if (hash == NULL || password == NULL || !password_hash_valid(hash))
		return false;
	cd = xcalloc(1, sizeof(*cd));
	h = crypt_bounded(password, hash, cd);
	hl = strlen(hash);
	/* Constant time over the hash length; the length itself is public. */
	if (h != NULL && h[0] != '*' && strlen(h) == hl)
		ok = CRYPTO_memcmp(h, hash, hl) == 0;
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return ok;
}

bool
password_hash_valid(const char *hash)
{
	const char *last, *r;
	bool known = false;
	size_t len, want = 0;
	int rc;

	if (hash == NULL)
		return false;
	len = strlen(hash);
	if (len == 0 || len >= CRYPT_OUTPUT_SIZE)
		return false;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (strncmp(hash, methods[i].prefix, strlen(methods[i].prefix)) == 0) {
			known = true;
			want = methods[i].hash_len;
			break;
		}
	}
	if (!known)
		return false;
	/* crypt(3) strings use ./0-9A-Za-z plus '$' separators and the ','
	 * and '=' of parameter lists; anything else (spaces, ':', newlines)
	 * would break passwd-style exports and is never produced. */
	for (size_t i = 0; i < len; i++) {
		char c = hash[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		        c == '.' || c == '/' || c == '$' || c == ',' || c == '='))
			return false;
	}
	if (hash[1] == '2' && hash[3] == '$') {
		/* "$2b$NN$" + 22 salt + 31 hash characters */
		if (len != 60 || hash[4] < '0' || hash[4] > '9' || hash[5] < '0' || hash[5] > '9' ||
		    hash[6] != '$' || (hash[4] - '0') * 10 + (hash[5] - '0') > BCRYPT_MAX_COST)
			return false;
	} else {
		last = strrchr(hash, '$');
		if (last[1] == '\0' || (want != 0 && strlen(last + 1) != want))
			return false;
	}
	if ((r = strstr(hash, "$rounds=")) != NULL && strtol(r + 8, NULL, 10) > SHACRYPT_MAX_ROUNDS)
		return false;
	rc = crypt_checksalt(hash);
	return rc == CRYPT_SALT_OK || rc == CRYPT_SALT_METHOD_LEGACY;
}
