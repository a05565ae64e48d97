/*
 * fuzz_directory_command.c - directory_apply_packed() on arbitrary bytes.
 *
 * One in-memory directory, opened once and kept across inputs, so that
 * sequences of commands build up state (users in groups, aliases ...)
 * the way a Raft log does. Every input must leave the database consistent:
 * after each apply the foreign keys still hold and expansion of a few
 * addresses terminates.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "lib/err.h"
#include "lib/log.h"
#include "storage/directory/directory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct directory *dir;

static void
close_dir(void)
{
	directory_close(&dir);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const probes[] = {
	    "bob@a.test",
	    "everyone@a.test",
	    "staff@a.test",
	    "info@a.test",
	};
	struct mn_err err = {0};
	struct dir_expansion e;

	if (dir == NULL) {
		log_set_level(LOG_ERROR);
		if (directory_open(":memory:", &dir, &err) != 0)
			abort();
		atexit(close_dir);
	}
	(void)directory_apply_packed(dir, data, size, &err);
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		if (directory_expand(dir, probes[i], &e) == 0)
			dir_expansion_fini(&e);
	}
	/* foreign keys must still hold after any sequence */
	{
		sqlite3_stmt *st;

		if (sqlite3_prepare_v2(
		        directory_db(dir), "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK)
			abort();
		if (sqlite3_step(st) == SQLITE_ROW)
			abort();
		sqlite3_finalize(st);
	}
	return 0;
}
