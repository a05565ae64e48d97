/*
 * dump.c - directory_dump(): a canonical text form of the whole directory,
 * used to prove that replicas which applied the same log are identical
 * (tests, and a checksum a node can compare with its peers).
 *
 * Every table, in name order, every row in primary-key order, one line per
 * row: "table|col=value|col=value\n". Text is quoted with \ escapes, NULL
 * is NULL, integers are decimal. The table list comes from sqlite_schema,
 * so a new table in a migration is dumped without touching this file.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "storage/directory/dir_internal.h"
#include "storage/directory/directory.h"

static void
dump_value(struct buf *b, sqlite3_stmt *st, int col)
{
	switch (sqlite3_column_type(st, col)) {
	case SQLITE_NULL:
		buf_append_str(b, "NULL");
		break;
	case SQLITE_INTEGER:
		buf_printf(b, "%lld", (long long)sqlite3_column_int64(st, col));
		break;
	case SQLITE_FLOAT:
		buf_printf(b, "%.17g", sqlite3_column_double(st, col));
		break;
	default: {
		const unsigned char *s = sqlite3_column_text(st, col);
		int n = sqlite3_column_bytes(st, col);

		buf_append_str(b, sqlite3_column_type(st, col) == SQLITE_BLOB ? "x\"" : "\"");
		for (int i = 0; i < n; i++) {
			if (s[i] == '"' || s[i] == '\\')
				buf_printf(b, "\\%c", s[i]);
			else if (s[i] < 0x20 || s[i] == 0x7f)
				buf_printf(b, "\\x%02x", s[i]);
			else
				buf_append(b, &s[i], 1);
		}
		buf_append_str(b, "\"");
	}
	}
}

/* order_by - the table's primary key columns in key order, else all. */
static char *
order_by(struct directory *d, const char *table)
{
	sqlite3_stmt *st = dir_stmt(d, NULL,
	    "SELECT name, pk FROM"
	    " pragma_table_info(?) ORDER BY pk = 0, pk, cid",
	    "t", table);
	struct buf b;
	bool any_pk = false;

	buf_init(&b, 0);
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		bool pk = sqlite3_column_int(st, 1) != 0;

		if (!pk && any_pk)
			break;
		any_pk |= pk;
		buf_printf(
		    &b, "%s\"%s\"", b.len ? ", " : "", (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	return buf_steal(&b, NULL);
}

char *
directory_dump(struct directory *d)
{
	sqlite3_stmt *tables, *st;
	struct buf b;

	buf_init(&b, 0);
	tables = dir_stmt(d, NULL,
	    "SELECT name FROM sqlite_schema WHERE"
	    " type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
	    "");
	while (tables && sqlite3_step(tables) == SQLITE_ROW) {
		char *table = xstrdup((const char *)sqlite3_column_text(tables, 0));
		char *order = order_by(d, table);
		/* Names come from our own schema, not from input; quoted anyway. */
		char *sql = xasprintf("SELECT * FROM \"%s\" ORDER BY %s", table, order);

		st = dir_stmt(d, NULL, sql, "");
		while (st && sqlite3_step(st) == SQLITE_ROW) {
			buf_append_str(&b, table);
			for (int c = 0; c < sqlite3_column_count(st); c++) {
				buf_printf(&b, "|%s=", sqlite3_column_name(st, c));
				dump_value(&b, st, c);
			}
			buf_append_str(&b, "\n");
		}
		if (st == NULL)
			buf_printf(&b, "%s|ERROR\n", table);
		sqlite3_finalize(st);
		free(sql);
		free(order);
		free(table);
	}
	sqlite3_finalize(tables);
	return buf_steal(&b, NULL);
}
