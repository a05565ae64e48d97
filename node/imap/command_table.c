/*
 * command_table.c - every IMAP command the session knows: name, the states
 * it is allowed in (RFC 3501 §6), and how it runs (loop or thread pool,
 * "UID" prefix, whether it changes the store). Commands sharing a run
 * function tell themselves apart by job->cmd->name.
 */
#include <stddef.h>

#include "lib/buf.h"
#include "node/imap/session.h"

#define ANY IMAP_STATE_ANY
#define NOAUTH IMAP_STATE_NOAUTH
#define LOGGED IMAP_STATE_LOGGED_IN
#define SEL IMAP_STATE_SELECTED
#define POOL IMAP_CMD_POOL
#define UID IMAP_CMD_UID
#define WR IMAP_CMD_WRITES
#define NOEXP IMAP_CMD_NO_EXPUNGE

static const struct imap_command commands[] = {
    {"CAPABILITY", ANY, 0, imap_cmd_capability},
    {"NOOP", ANY, POOL, imap_cmd_noop},
    {"LOGOUT", ANY, 0, imap_cmd_logout},
    {"ID", ANY, 0, imap_cmd_id},
    {"STARTTLS", NOAUTH, 0, imap_cmd_starttls},
    {"LOGIN", NOAUTH, 0, imap_cmd_login},
    {"AUTHENTICATE", NOAUTH, 0, imap_cmd_authenticate},
    {"ENABLE", LOGGED, 0, imap_cmd_enable},
    {"NAMESPACE", LOGGED, 0, imap_cmd_namespace},
    {"IDLE", LOGGED, POOL, imap_cmd_idle},
    {"SELECT", LOGGED, POOL, imap_cmd_select},
    {"EXAMINE", LOGGED, POOL, imap_cmd_select},
    {"CREATE", LOGGED, POOL | WR, imap_cmd_create},
    {"DELETE", LOGGED, POOL | WR, imap_cmd_delete},
    {"RENAME", LOGGED, POOL | WR, imap_cmd_rename},
    {"SUBSCRIBE", LOGGED, POOL, imap_cmd_subscribe},
    {"UNSUBSCRIBE", LOGGED, POOL, imap_cmd_subscribe},
    {"LIST", LOGGED, POOL, imap_cmd_list},
    {"LSUB", LOGGED, POOL, imap_cmd_list},
    {"STATUS", LOGGED, POOL, imap_cmd_status},
    {"APPEND", LOGGED, POOL | WR, imap_cmd_append},
    {"GETQUOTA", LOGGED, POOL, imap_cmd_getquota},
    {"GETQUOTAROOT", LOGGED, POOL, imap_cmd_getquota},
    {"CHECK", SEL, POOL, imap_cmd_check},
    {"CLOSE", SEL, POOL | WR, imap_cmd_close},
    {"UNSELECT", SEL, POOL, imap_cmd_close},
    {"EXPUNGE", SEL, POOL | WR | UID, imap_cmd_expunge},
    {"SEARCH", SEL, POOL | UID | NOEXP, imap_cmd_search},
    {"FETCH", SEL, POOL | UID | NOEXP | WR, imap_cmd_fetch},
    {"STORE", SEL, POOL | UID | NOEXP | WR, imap_cmd_store},
    {"COPY", SEL, POOL | UID | WR, imap_cmd_copy},
    {"MOVE", SEL, POOL | UID | WR, imap_cmd_copy},
};

const struct imap_command *
imap_command_find(struct slice name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (slice_eq_nocase(name, commands[i].name))
			return &commands[i];
	return NULL;
}
