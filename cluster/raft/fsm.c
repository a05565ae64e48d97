/*
 * fsm.c - the directory as canonical/raft's state machine: apply a packed
 * DirectoryCommand per log entry, snapshot and restore the SQLite image.
 * Owns nothing but its counters and the last result; the contract
 * (especially who frees what, as libraft 0.15 does it) is in fsm.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/raft/fsm.h"
#include "lib/log.h"

/* refusal - a result every node reaches the same way from the same
 * directory state and command, so the entry counts as applied. */
static bool
refusal(int rc)
{
	switch (rc) {
	case MN_EINVAL:
	case MN_ENOENT:
	case MN_EEXIST:
	case MN_ECONFLICT:
	case MN_EPARSE:
	case MN_ETOOBIG:
	case MN_ELIMIT:
		return true;
	default:
		return false;
	}
}

static int
fsm_apply(struct raft_fsm *raft_fsm, const struct raft_buffer *buf, void **result)
{
	struct dir_fsm *fsm = raft_fsm->data;
	struct mn_err err = {0};
	int rc;

	*result = NULL;
	rc = directory_apply_packed(fsm->dir, buf->base, buf->len, &err);
	if (rc != 0 && !refusal(rc)) {
		/* the transaction was rolled back: the entry is not applied
		 * here and must not count as applied (see fsm.h) */
		fsm->fatal = rc;
		log_error(
		    "raft", "event=fsm_apply_failed rc=%s reason=\"%s\"", mn_strerror(rc), err.msg);
		return RAFT_IOERR;
	}
	fsm->applied++;
	fsm->last.rc = rc;
	if (rc != 0) {
		fsm->refused++;
		snprintf(fsm->last.msg, sizeof(fsm->last.msg), "%s", err.msg);
	} else {
		fsm->last.msg[0] = '\0';
	}
	*result = &fsm->last;
	if (fsm->on_applied != NULL)
		fsm->on_applied(fsm->on_applied_arg);
	return 0;
}

static int
fsm_snapshot(struct raft_fsm *raft_fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct dir_fsm *fsm = raft_fsm->data;
	struct mn_err err = {0};
	struct raft_buffer *b;
	uint8_t *img;
	size_t len;
	int rc;

	*bufs = NULL;
	*n_bufs = 0;
	if ((rc = directory_snapshot(fsm->dir, &img, &len, &err)) != 0) {
		/* RAFT_BUSY: raft skips this snapshot and tries again after the
		 * next apply, instead of failing the server */
		log_warn("raft", "event=fsm_snapshot_failed reason=\"%s\"", err.msg);
		return RAFT_BUSY;
	}
	/* raft releases both with raft_free, which need not be free() */
	b = raft_malloc(sizeof(*b));
	if (b == NULL)
		abort();
	b->base = raft_malloc(len);
	if (b->base == NULL)
		abort();
	memcpy(b->base, img, len);
	b->len = len;
	free(img);
	*bufs = b;
	*n_bufs = 1;
	fsm->snapshots++;
	log_debug("raft", "event=fsm_snapshot bytes=%zu", len);
	return 0;
}

static int
fsm_restore(struct raft_fsm *raft_fsm, struct raft_buffer *buf)
{
	struct dir_fsm *fsm = raft_fsm->data;
	struct mn_err err = {0};
	int rc;

	rc = directory_restore(fsm->dir, buf->base, buf->len, &err);
	if (rc != 0) {
		/* raft still owns buf on failure and frees it itself */
		log_error(
		    "raft", "event=fsm_restore_failed bytes=%zu reason=\"%s\"", buf->len, err.msg);
		return rc == MN_EPARSE ? RAFT_CORRUPT : RAFT_IOERR;
	}
	raft_free(buf->base);
	buf->base = NULL;
	fsm->restores++;
	log_info("raft", "event=fsm_restore bytes=%zu", buf->len);
	return 0;
}

void
dir_fsm_init(struct dir_fsm *fsm, struct directory *dir)
{
	memset(fsm, 0, sizeof(*fsm));
	fsm->dir = dir;
	fsm->raft.version = 1;
	fsm->raft.data = fsm;
	fsm->raft.apply = fsm_apply;
	fsm->raft.snapshot = fsm_snapshot;
	fsm->raft.restore = fsm_restore;
}

void
dir_fsm_fini(struct dir_fsm *fsm)
{
	fsm->dir = NULL;
	fsm->raft.data = NULL;
}

size_t
dir_fsm_pad(uint8_t *at, size_t len)
{
	/* tag of field 2047, wire type 2: varint 16378 = 0xfa 0x7f; then a
	 * one-byte length L and L zero bytes: 3 + L bytes */
	static const uint8_t lens[8] = {0, 6, 7, 0, 1, 2, 3, 4};
	size_t need = (8 - len % 8) % 8, l;

	if (need == 0)
		return 0;
	l = lens[need];
	at[0] = 0xfa;
	at[1] = 0x7f;
	at[2] = (uint8_t)l;
	memset(at + 3, 0, l);
	return 3 + l;
}

int
dir_fsm_propose(struct raft *r, struct raft_apply *req, const Mailnode__DirectoryCommand *cmd,
    raft_apply_cb cb, struct mn_err *err)
{
	struct raft_buffer buf;
	size_t len;
	int rv;

	mn_err_clear(err);
	len = mailnode__directory_command__get_packed_size(cmd);
	if (len > DIR_MAX_COMMAND)
		return mn_err_set(err, MN_ETOOBIG,
		    "directory command of %zu bytes is over the limit of %d", len, DIR_MAX_COMMAND);
	/* raft_uv stores entry lengths as given but writes and reads the data
	 * of a batch as if every entry were a multiple of 8 bytes long
	 * (uvSegmentBufferAppend asserts it; dqlite pads too): an odd length
	 * makes the closed segment unreadable at the next start ("data
	 * checksum mismatch", renamed corrupt-*). So pad with an unknown
	 * length-delimited field (number DIR_FSM_PAD_FIELD, zeros) that
	 * protobuf-c skips: the entry stays a plain packed DirectoryCommand. */
	buf.base = raft_malloc(len + 16);
	if (buf.base == NULL)
		abort();
	buf.len = mailnode__directory_command__pack(cmd, buf.base);
	buf.len += dir_fsm_pad((uint8_t *)buf.base + buf.len, buf.len);
	rv = raft_apply(r, req, &buf, 1, cb);
	if (rv != 0) {
		/* not taken: the buffer is still ours */
		raft_free(buf.base);
		if (rv == RAFT_NOTLEADER || rv == RAFT_LEADERSHIPLOST)
			return mn_err_set(
			    err, MN_ENOLEADER, "not the leader: %s", raft_strerror(rv));
		return mn_err_set(err, MN_ETEMP, "raft apply: %s", raft_strerror(rv));
	}
	return 0;
}

int
dir_fsm_result_take(int status, const void *result, struct mn_err *err)
{
	const struct dir_fsm_result *res = result;

	mn_err_clear(err);
	switch (status) {
	case 0:
		if (res == NULL)
			return mn_err_set(err, MN_ETEMP, "raft applied the entry without a result");
		if (res->rc == 0)
			return 0;
		return mn_err_set(err, res->rc, "%s", res->msg);
	case RAFT_NOTLEADER:
	case RAFT_LEADERSHIPLOST:
		return mn_err_set(err, MN_ENOLEADER, "leadership lost before the change committed");
	case RAFT_SHUTDOWN:
		return mn_err_set(err, MN_ECLOSED, "raft is shutting down");
	default:
		return mn_err_set(err, MN_ETEMP, "raft: %s", raft_strerror(status));
	}
}
