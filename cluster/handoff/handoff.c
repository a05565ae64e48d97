/*
 * handoff.c - the handoff object (see handoff.h): its temp directory,
 * RPC client, handler registration, idle sweep and life cycle; the
 * handoff id. The sender is handoff_client.c, the home side
 * handoff_server.c.
 */
#include "cluster/handoff/handoff.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/handoff/handoff_internal.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "storage/mailstore/mailstore.h"

_Static_assert(HANDOFF_ID_MAX <= MAILSTORE_MAX_DELIVERY_ID, "handoff id must fit the store");

#define HANDOFF_SWEEP_MS 30000

bool
handoff_name_ok(const char *s)
{
	size_t n = 0;

	if (s == NULL || s[0] == '.' || s[0] == '\0')
		return false;
	for (; s[n] != '\0'; n++) {
		char c = s[n];

		if (n >= 63 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		                   (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

uint64_t
handoff_now_ms(struct handoff *h)
{
	return uv_now(h->loop);
}

void
handoff_id(const char *origin, const char *spool_id, const char *home, char *out)
{
	int n = snprintf(out, HANDOFF_ID_MAX + 1, "h1/%s/%s", origin, spool_id);

	(void)home; /* see handoff.h: the key must survive a move */
	if (n < 0 || n > HANDOFF_ID_MAX) {
		/* long names: a digest keeps the key unique and within the store's limit */
		unsigned char md[SHA256_DIGEST_LENGTH];
		char *full = xasprintf("h1/%s/%s", origin, spool_id);

		SHA256((const unsigned char *)full, strlen(full), md);
		free(full);
		memcpy(out, "h1s/", 4);
		for (size_t i = 0; i < sizeof(md); i++)
			snprintf(out + 4 + 2 * i, 3, "%02x", md[i]);
	}
}

/* Partial messages of an earlier run are useless: their senders start
 * again from offset 0 (the home answers have = 0 for unknown transfers). */
static int
clean_tmp_dir(const char *path, struct mn_err *err)
{
	DIR *d;
	struct dirent *de;
	size_t removed = 0;

	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return mn_err_set(err, MN_EIO, "mkdir %s: %s", path, strerror(errno));
	if ((d = opendir(path)) == NULL)
		return mn_err_set(err, MN_EIO, "opendir %s: %s", path, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		char *p;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		p = xasprintf("%s/%s", path, de->d_name);
		if (unlink(p) == 0)
			removed++;
		else
			log_warn(
			    "handoff", "event=clean path=%s reason=\"%s\"", p, strerror(errno));
		free(p);
	}
	closedir(d);
	if (removed > 0)
		log_info("handoff", "event=clean removed=%zu", removed);
	return 0;
}

static void
sweep_cb(uv_timer_t *t)
{
	handoff_server_sweep(t->data, false);
}

int
handoff_new(
    uv_loop_t *loop, const struct handoff_config *cfg, struct handoff **out, struct mn_err *err)
{
	struct handoff *h = xcalloc(1, sizeof(*h));
	int rc;

	*out = NULL;
	h->loop = loop;
	h->cfg = *cfg;
	if (h->cfg.max_message_size == 0 || h->cfg.max_message_size > MAILSTORE_MAX_BODY)
		h->cfg.max_message_size = MAILSTORE_MAX_BODY;
	h->tmp_dir = xasprintf("%s/handoff", cfg->data_dir);
	if ((rc = clean_tmp_dir(h->tmp_dir, err)) != 0 ||
	    (rc = peer_auth_client_ctx(&h->client_tls, err)) != 0) {
		free(h->tmp_dir);
		free(h);
		return rc;
	}
	h->auth.secret = cfg->secret;
	h->auth.node_name = cfg->node_name;
	h->auth.client_tls = h->client_tls;
	rpc_client_new(loop, &h->auth, &h->rpc);
	uv_timer_init(loop, &h->sweep);
	h->sweep.data = h;
	if (h->cfg.idle_timeout_ms == 0)
		h->cfg.idle_timeout_ms = HANDOFF_IDLE_TIMEOUT_MS;
	/* swept a few times per timeout: a partial file lives at most 1.5x it */
	uint64_t every = h->cfg.idle_timeout_ms / 2 < HANDOFF_SWEEP_MS ? h->cfg.idle_timeout_ms / 2
	                                                               : HANDOFF_SWEEP_MS;

	uv_timer_start(&h->sweep, sweep_cb, every ? every : 1, every ? every : 1);
	uv_unref((uv_handle_t *)&h->sweep); /* never the only reason to run */
	if (cfg->serve)
		rpc_server_handle(
		    NULL, MAILNODE__RPC_METHOD__RPC_HANDOFF_CHUNK, handoff_server_handle, h);
	*out = h;
	return 0;
}

void
handoff_stop(struct handoff *h)
{
	if (h == NULL || h->stopped)
		return;
	h->stopped = true;
	if (h->cfg.serve)
		rpc_server_handle(NULL, MAILNODE__RPC_METHOD__RPC_HANDOFF_CHUNK, NULL, NULL);
	handoff_client_stop(h);
	handoff_server_sweep(h, true);
	uv_timer_stop(&h->sweep);
	uv_close((uv_handle_t *)&h->sweep, NULL);
}

void
handoff_free(struct handoff **hp)
{
	struct handoff *h = *hp;

	if (h == NULL)
		return;
	*hp = NULL;
	handoff_stop(h);
	if (h->pending > 0) /* a bug in the caller: the loop did not drain */
		log_error("handoff", "event=free pending=%d", h->pending);
	if (h->client_tls != NULL)
		tls_ctx_free(&h->client_tls);
	free(h->tmp_dir);
	free(h);
}
