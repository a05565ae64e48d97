/*
 * dirsvc.c - directory write service (see dirsvc.h), one-member cluster.
 *
 * Commands wait in a FIFO; a zero-delay timer drains it on the next loop
 * iteration, applying each packed command with directory_apply_packed() and
 * then calling its callback. Packing even though nothing leaves the node
 * proves every command survives serialization as Raft will need.
 */
#include "cluster/dirsvc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/raft/raft_service.h"
#include "lib/log.h"
#include "lib/xalloc.h"

struct dirsvc_entry {
	struct dirsvc_entry *next;
	uint8_t *data;
	size_t len;
	dirsvc_done_cb cb;
	void *arg;
};

struct dirsvc {
	uv_loop_t *loop;
	struct directory *dir;
	char *node_name;
	uv_timer_t timer;
	struct dirsvc_entry *head, *tail;
	uint64_t applied;
	bool closed;
	struct raft_service *raft; /* NULL: local apply */
};

void
dirsvc_set_raft(struct dirsvc *s, struct raft_service *rs)
{
	s->raft = rs;
}

struct raft_service *
dirsvc_raft(struct dirsvc *s)
{
	return s->raft;
}

int
dirsvc_new(uv_loop_t *loop, struct directory *dir, const char *node_name, struct dirsvc **out)
{
	struct dirsvc *s = xcalloc(1, sizeof(*s));

	s->loop = loop;
	s->dir = dir;
	s->node_name = xstrdup(node_name);
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	*out = s;
	return 0;
}

static struct dirsvc_entry *
dirsvc_pop(struct dirsvc *s)
{
	struct dirsvc_entry *e = s->head;

	if (e != NULL) {
		s->head = e->next;
		if (s->head == NULL)
			s->tail = NULL;
	}
	return e;
}

static void
dirsvc_timer_cb(uv_timer_t *t)
{
	struct dirsvc *s = t->data;
	struct dirsvc_entry *e;
	/* Only what is queued now: commands submitted from a callback wait for
	 * the next iteration, like a new Raft entry would. */
	struct dirsvc_entry *last = s->tail;

	while (!s->closed && (e = dirsvc_pop(s)) != NULL) {
		struct mn_err err;
		bool was_last = e == last;
		int rc;

		mn_err_clear(&err);
		rc = directory_apply_packed(s->dir, e->data, e->len, &err);
		s->applied++;
		if (rc != 0 && err.msg[0] == '\0')
			mn_err_set(&err, rc, "%s", mn_strerror(rc));
		if (rc != 0)
			log_info("dirsvc", "event=apply index=%llu result=refused reason=\"%s\"",
			    (unsigned long long)s->applied, err.msg);
		else
			log_debug("dirsvc", "event=apply index=%llu result=ok",
			    (unsigned long long)s->applied);
		e->cb(rc, &err, e->arg);
		free(e->data);
		free(e);
		if (was_last)
			break;
	}
	if (!s->closed && s->head != NULL)
		uv_timer_start(&s->timer, dirsvc_timer_cb, 0, 0);
}

int
dirsvc_submit(struct dirsvc *s, Mailnode__DirectoryCommand *cmd, dirsvc_done_cb cb, void *arg)
{
	struct dirsvc_entry *e;
	char *saved_origin = cmd->origin;
	size_t len;

	if (s->closed)
		return MN_ECLOSED;
	/* Everything apply needs must be in the command (determinism). */
	if (!cmd->has_time) {
		cmd->has_time = 1;
		cmd->time = (int64_t)time(NULL);
	}
	if (cmd->origin == NULL)
		cmd->origin = s->node_name;
	len = mailnode__directory_command__get_packed_size(cmd);
	if (len > DIRSVC_MAX_COMMAND) {
		cmd->origin = saved_origin;
		return MN_ETOOBIG;
	}
	e = xcalloc(1, sizeof(*e));
	e->data = xmalloc(len ? len : 1);
	e->len = mailnode__directory_command__pack(cmd, e->data);
	cmd->origin = saved_origin;
	if (s->raft != NULL) {
		/* raft calls back from the loop (apply, RPC reply), never from here */
		int rc = raft_service_submit(s->raft, e->data, e->len, cb, arg);

		free(e->data);
		free(e);
		return rc;
	}
	e->cb = cb;
	e->arg = arg;
	if (s->tail != NULL)
		s->tail->next = e;
	else
		s->head = e;
	s->tail = e;
	if (!uv_is_active((uv_handle_t *)&s->timer))
		uv_timer_start(&s->timer, dirsvc_timer_cb, 0, 0);
	return 0;
}

uint64_t
dirsvc_applied_index(const struct dirsvc *s)
{
	if (s->raft != NULL)
		return raft_service_applied_index(s->raft);
	return s->applied;
}

struct directory *
dirsvc_directory(struct dirsvc *s)
{
	return s->dir;
}

const char *
dirsvc_node_name(const struct dirsvc *s)
{
	return s->node_name;
}

void
dirsvc_shutdown(struct dirsvc *s)
{
	struct dirsvc_entry *e;

	if (s == NULL || s->closed)
		return;
	s->closed = true;
	while ((e = dirsvc_pop(s)) != NULL) {
		struct mn_err err;

		mn_err_set(&err, MN_ECLOSED, "node is shutting down");
		e->cb(MN_ECLOSED, &err, e->arg);
		free(e->data);
		free(e);
	}
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *)&s->timer, NULL);
}

void
dirsvc_free(struct dirsvc **sp)
{
	struct dirsvc *s = *sp;

	if (s == NULL)
		return;
	if (!s->closed)
		dirsvc_shutdown(s);
	free(s->node_name);
	free(s);
	*sp = NULL;
}
