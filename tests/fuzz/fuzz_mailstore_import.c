/*
 * fuzz_mailstore_import.c - the mail store's import stream ("MNMBX 1" and
 * "MNMBX 2", docs/mailstore.md) on arbitrary input. An accepted stream must
 * export, import again and export to the same bytes; a refused one must
 * leave nothing behind in ROOT/tmp. Input the full import refuses goes to
 * the sync import (migration catch-up) onto a fresh mailbox: an accepted
 * one must give a mailbox that a sync export copies to another user with
 * the same digest.
 */
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "storage/mailstore/mailstore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define USER "fuzz@example.test"
#define USER2 "fuzz2@example.test"
#define USER3 "fuzz3@example.test"

static struct mailstore *store;
static char top[] = "/tmp/mn-fuzz-mailstore-XXXXXX";

struct reader {
	const uint8_t *data;
	size_t len, pos;
};

static ssize_t
reader_cb(void *arg, void *out, size_t len)
{
	struct reader *r = arg;
	size_t k = r->len - r->pos < len ? r->len - r->pos : len;

	memcpy(out, r->data + r->pos, k);
	r->pos += k;
	return (ssize_t)k;
}

static int
write_cb(void *arg, const void *data, size_t len)
{
	return buf_append(arg, data, len);
}

static int
rm_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

static void
cleanup(void)
{
	mailstore_close(&store);
	nftw(top, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static int
import(const uint8_t *data, size_t size)
{
	struct reader r = {data, size, 0};
	struct mn_err err;

	return mailstore_import(store, USER, reader_cb, &r, &err);
}

static void export(struct buf *out)
{
	struct mn_err err;

	buf_init(out, 0);
	if (mailstore_export(store, USER, write_cb, out, &err) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mn_err err;
	struct buf a, b;

	if (store == NULL) {
		char *root;

		log_set_level(LOG_ERROR);
		if (mkdtemp(top) == NULL)
			abort();
		root = xasprintf("%s/store", top);
		if (mailstore_open(root, &store, &err) != 0)
			abort();
		free(root);
		atexit(cleanup);
	}
	if (import(data, size) != 0) {
		struct reader r = {data, size, 0};
		struct mailstore_sync_base next = {0};
		struct mailstore_sync_stats s2, s3;

		if (mailstore_import_sync(store, USER2, true, reader_cb, &r, &err) != 0) {
			if (mailstore_user_exists(store, USER2) &&
			    mailstore_user_delete(store, USER2, &err) != 0)
				abort();
			return 0;
		}
		buf_init(&a, 0);
		if (mailstore_export_sync(store, USER2, NULL, write_cb, &a, &next, &s2, &err) != 0)
			abort();
		r = (struct reader){a.data, a.len, 0};
		if (mailstore_import_sync(store, USER3, true, reader_cb, &r, &err) != 0 ||
		    mailstore_digest(store, USER3, &s3, &err) != 0 ||
		    strcmp(s2.digest, s3.digest) != 0)
			abort();
		mailstore_sync_base_fini(&next);
		if (mailstore_user_delete(store, USER2, &err) != 0 ||
		    mailstore_user_delete(store, USER3, &err) != 0)
			abort();
		buf_fini(&a);
		return 0;
	}
	export(&a);
	if (mailstore_user_delete(store, USER, &err) != 0 || import(a.data, a.len) != 0)
		abort();
	export(&b);
	if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
		abort();
	if (mailstore_user_delete(store, USER, &err) != 0)
		abort();
	buf_fini(&a);
	buf_fini(&b);
	return 0;
}
