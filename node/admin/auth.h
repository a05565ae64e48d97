/*
 * auth.h - administrator authentication for the admin API, and crypt(3)
 * work moved off the event loop.
 *
 * password_verify/password_hash (yescrypt) are slow on purpose, so they run
 * in the libuv thread pool (uv_queue_work). Successful checks are cached as
 * (name, SHA-256(password), stored hash) for ADMIN_AUTH_CACHE_MS: an API
 * client sends Basic credentials with every request and must not pay a
 * yescrypt each time. A cached entry counts only while the admin's stored
 * hash is still the one it was verified against, so a password change or a
 * deleted admin takes effect at once. Plain passwords are never kept.
 *
 * Ownership: struct admin_auth borrows the loop and the directory. Queued
 * work keeps running until done; free the struct only after uv_run has
 * returned (no work pending). All calls on the loop thread.
 */
#ifndef MN_NODE_ADMIN_AUTH_H
#define MN_NODE_ADMIN_AUTH_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "storage/directory/directory.h"

#define ADMIN_AUTH_CACHE_MS 60000
#define ADMIN_AUTH_CACHE_SLOTS 64
#define ADMIN_AUTH_MAX_PASSWORD 1024 /* longer: refused without hashing */
/* Login-failure throttling (SPEC §10) is node/limits.h, shared with the
 * mail protocols; node/admin/api.c consults it around admin_auth_check. */

struct admin_auth;

/* The authenticated administrator; domain NULL for a system admin. */
struct admin_identity {
	char *name;
	char *domain;
};
void admin_identity_fini(struct admin_identity *id);

int admin_auth_new(uv_loop_t *loop, struct directory *dir, struct admin_auth **out);
void admin_auth_free(struct admin_auth **a);

/* rc 0: who is filled (the callee's; copy what you keep); MN_EAUTH: bad
 * name or password. */
typedef void (*admin_auth_cb)(int rc, const struct admin_identity *who, void *arg);

/* admin_auth_check - returns 0 (accepted now from the cache, *who_out
 * filled, caller finis it), MN_EAUTH (refused now: absurd password length)
 * or MN_EAGAIN: the verdict comes later through cb. An unknown name is
 * verified against a dummy hash, so it takes as long as a wrong password. */
int admin_auth_check(struct admin_auth *a, const char *name, const char *password,
    struct admin_identity *who_out, admin_auth_cb cb, void *arg);

/* admin_auth_forget - drop cache entries of `name` (NULL: all). */
void admin_auth_forget(struct admin_auth *a, const char *name);

/* password_hash_async - password_hash() in the thread pool; cb gets the new
 * crypt string (cb owns it) or NULL on failure. Returns 0 or MN_EINVAL. */
typedef void (*password_hash_cb)(char *hash, void *arg);
int password_hash_async(uv_loop_t *loop, const char *password, password_hash_cb cb, void *arg);

#endif
