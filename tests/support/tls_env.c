/*
 * tls_env.c - self-signed TLS contexts in a temp dir for link tests.
 */
#include "tests/support/tls_env.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

void
tls_env_rm_rf(const char *path)
{
	nftw(path, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

int
tls_env_init(struct tls_env *e)
{
	struct mn_err err;
	char *cert = NULL, *key = NULL, sub[96];
	int rc;

	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/mn-tls-XXXXXX");
	if (mkdtemp(e->dir) == NULL)
		return MN_EIO;
	snprintf(sub, sizeof(sub), "%s/tls", e->dir);
	rc = tls_ensure_self_signed(sub, "localhost", &cert, &key, &err);
	if (rc == 0)
		rc = tls_server_ctx_new(cert, key, &e->srv, &err);
	if (rc == 0)
		rc = tls_client_ctx_new(NULL, false, &e->cli, &err);
	free(cert);
	free(key);
	return rc;
}

void
tls_env_fini(struct tls_env *e)
{
	if (e->srv)
		tls_ctx_free(&e->srv);
	if (e->cli)
		tls_ctx_free(&e->cli);
	if (e->dir[0])
		tls_env_rm_rf(e->dir);
	e->dir[0] = '\0';
}
