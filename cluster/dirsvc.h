/*
 * dirsvc.h - the directory write service: the one way a node changes the
 * replicated directory.
 *
 * A caller builds a DirectoryCommand and submits it; the service stamps
 * time and origin when absent, packs it (the bytes Raft will carry) and,
 * on the one-member cluster of today, applies the packed bytes to the local
 * directory in submission order. The completion callback always runs later
 * from the event loop, never inside dirsvc_submit, so callers never see
 * re-entrancy. The cluster issue replaces the inside with raft_apply(); the
 * interface stays.
 *
 * Ownership: the caller keeps the command (it is packed during submit and
 * not referenced afterwards). The service borrows the loop and the
 * directory; both must outlive it. All calls on the loop thread.
 */
#ifndef MN_CLUSTER_DIRSVC_H
#define MN_CLUSTER_DIRSVC_H

#include <stdint.h>
#include <uv.h>

#include "cluster/proto/directory.pb-c.h"
#include "lib/err.h"
#include "storage/directory/directory.h"

/* Largest packed command accepted: bounds what one log entry may carry. */
#define DIRSVC_MAX_COMMAND (1024 * 1024)

struct dirsvc;

/* rc 0: applied; else a negative MN_E code from directory_apply (MN_EINVAL,
 * MN_ENOENT, MN_EEXIST, MN_ECONFLICT, MN_EDB), MN_ECLOSED when the service
 * shut down first, MN_ENOLEADER (cluster, later). err->msg is a reason fit
 * for an administrator. err is valid only during the call. */
typedef void (*dirsvc_done_cb)(int rc, const struct mn_err *err, void *arg);

int dirsvc_new(uv_loop_t *loop, struct directory *dir, const char *node_name, struct dirsvc **out);

/* dirsvc_submit - queue cmd; returns 0 and calls cb exactly once later, or
 * returns a negative code (MN_ECLOSED after shutdown, MN_ETOOBIG, with
 * Raft MN_ENOLEADER) and never calls cb. */
int dirsvc_submit(struct dirsvc *s, Mailnode__DirectoryCommand *cmd, dirsvc_done_cb cb, void *arg);

/* dirsvc_applied_index - commands applied since start (every command that
 * went through apply, refused ones included: each would be a log entry). */
uint64_t dirsvc_applied_index(const struct dirsvc *s);
struct directory *dirsvc_directory(struct dirsvc *s);
const char *dirsvc_node_name(const struct dirsvc *s);

struct raft_service;
/* dirsvc_set_raft - from now on submissions go through Raft (cluster/raft/
 * raft_service.h): the leader proposes, a follower forwards to the leader
 * and answers once the entry is applied locally; no leader: dirsvc_submit
 * returns MN_ENOLEADER. The applied index is then raft's last applied log
 * index. Without it (unit tests) commands are applied locally in order. */
void dirsvc_set_raft(struct dirsvc *s, struct raft_service *rs);
struct raft_service *dirsvc_raft(struct dirsvc *s);

/* dirsvc_shutdown - fail queued commands with MN_ECLOSED (their callbacks
 * run now), refuse new ones, close the loop handle. */
void dirsvc_shutdown(struct dirsvc *s);
/* dirsvc_free - after dirsvc_shutdown and after the loop has run the
 * handle's close (i.e. once uv_run returned). */
void dirsvc_free(struct dirsvc **s);

#endif
