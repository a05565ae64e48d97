/*
 * password.h - crypt(3) password hashes via libxcrypt.
 *
 * New hashes are yescrypt ("$y$"); any hash libxcrypt understands is
 * accepted for verification (SHA-512-crypt "$6$", bcrypt "$2b$", ...), so
 * accounts imported from other systems keep their passwords. Both calls are
 * slow on purpose: run them off the event loop (uv_queue_work).
 * Thread-safe (crypt_rn with a per-call buffer).
 */
#ifndef MN_STORAGE_PASSWORD_H
#define MN_STORAGE_PASSWORD_H

#include <stdbool.h>

/* password_hash - new yescrypt hash of password; NULL on failure. */
char *password_hash(const char *password);
/* password_verify - true when password matches hash (constant-time compare). */
bool password_verify(const char *hash, const char *password);
/* password_hash_valid - hash is a crypt string libxcrypt can verify. */
bool password_hash_valid(const char *hash);

#endif
