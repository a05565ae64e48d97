/*
 * xalloc.h - allocation that succeeds or aborts.
 *
 * Out of memory is fatal (as in Postfix, OpenSMTPD, Dovecot): one error path
 * fewer everywhere. In return, every size that comes from input is checked
 * against its limit before it is allocated.
 */
#ifndef MN_LIB_XALLOC_H
#define MN_LIB_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
