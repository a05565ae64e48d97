/*
 * move.c - directory reads for account migration (cluster/migrate): which
 * moves a node drives, which users a node homes (node drain), and whether
 * a user's mail is held. The state itself is written only by directory_apply
 * (UserMove in apply.c).
 */
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "storage/directory/dir_internal.h"
#include "storage/directory/directory.h"

bool
directory_user_held(const struct dir_user *u)
{
	return u != NULL && u->move_state != NULL && strcmp(u->move_state, "hold") == 0;
}

static int
strv_query(struct directory *d, const char *sql, const char *node, char ***out, size_t *n)
{
	sqlite3_stmt *st = dir_stmt(d, NULL, sql, "t", node);
	char **v = NULL;
	size_t cnt = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return MN_EDB;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v = xrealloc(v, (cnt + 1) * sizeof(*v));
		v[cnt++] = dir_col_dup(st, 0);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		directory_strv_free(v, cnt);
		return MN_EDB;
	}
	*out = v;
	*n = cnt;
	return 0;
}

int
directory_moves_from(struct directory *d, const char *node, char ***out, size_t *n)
{
	return strv_query(d,
	    "SELECT address FROM users WHERE move_from = ? AND move_state <> ''"
	    " ORDER BY address",
	    node, out, n);
}

int
directory_users_on_node(struct directory *d, const char *node, char ***out, size_t *n)
{
	return strv_query(
	    d, "SELECT address FROM users WHERE home_node = ? ORDER BY address", node, out, n);
}

void
directory_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}
