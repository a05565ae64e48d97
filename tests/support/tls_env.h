/*
 * tls_env.h - a temp dir with a self-signed certificate and the server and
 * (non-verifying) client TLS contexts made from it, for tests of
 * node-to-node links. Everything is removed by tls_env_fini.
 */
#ifndef MN_TESTS_SUPPORT_TLS_ENV_H
#define MN_TESTS_SUPPORT_TLS_ENV_H

#include "lib/tls.h"

struct tls_env {
	char dir[64];
	struct tls_ctx *srv, *cli;
};

/* tls_env_init - 0 or a negative MN_E code. */
int tls_env_init(struct tls_env *e);
void tls_env_fini(struct tls_env *e);
/* tls_env_rm_rf - remove a tree (test temp dirs). */
void tls_env_rm_rf(const char *path);

#endif
