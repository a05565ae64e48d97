/*
 * test_move.c - the account migration commands (UserMove: copy, hold, flip,
 * end) and their reads: each step only from the state it leaves, the flip
 * changes the home, a rollback leaves it, a node that is the target of a
 * running move cannot be deleted, home changes refused while moving, and
 * every replica that applies the same commands dumps the same bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "dir_test_util.h"

static const char *const setup_cmds[] = {
    "node_add n1 127.0.0.1 state=active",
    "node_add n2 127.0.0.2 state=active",
    "node_add n3 127.0.0.3 state=joining",
    "domain_add a.test",
    "user_add bob@a.test node=n1",
    "user_add carol@a.test node=n1",
    "user_add dave@a.test",
};

static int
setup(void **state)
{
	return dt_setup_script(state, setup_cmds, sizeof(setup_cmds) / sizeof(setup_cmds[0]), 1000);
}

static int
move(struct directory *d, const char *addr, const char *st, const char *target, const char *result)
{
	Mailnode__DirectoryCommand c = MAILNODE__DIRECTORY_COMMAND__INIT;
	Mailnode__UserMove m = MAILNODE__USER_MOVE__INIT;
	struct mn_err err = {0};
	uint8_t *buf;
	size_t n;
	int rc;

	m.address = (char *)addr;
	m.state = (char *)st;
	m.target = (char *)target;
	m.result = (char *)result;
	c.time = 1000;
	c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_USER_MOVE;
	c.user_move = &m;
	n = mailnode__directory_command__get_packed_size(&c);
	buf = malloc(n);
	mailnode__directory_command__pack(&c, buf);
	rc = directory_apply_packed(d, buf, n, &err);
	free(buf);
	return rc;
}

/* "home state to from result" of a user */
static char *
user_line(struct directory *d, const char *addr)
{
	struct dir_user u;
	char *s;

	assert_int_equal(directory_user_get(d, addr, &u), 0);
	s = malloc(512);
	snprintf(s, 512, "%s|%s|%s|%s|%s", u.home_node, u.move_state, u.move_to, u.move_from,
	    u.move_result);
	dir_user_fini(&u);
	return s;
}

#define ASSERT_USER(d, addr, want)                                                                 \
	do {                                                                                       \
		char *l_ = user_line(d, addr);                                                     \
		assert_string_equal(l_, want);                                                     \
		free(l_);                                                                          \
	} while (0)

static void
test_full_move(void **state)
{
	struct directory *d = *state;
	struct dir_user u;
	char **v;
	size_t n;

	ASSERT_USER(d, "bob@a.test", "n1||||");
	assert_int_equal(move(d, "bob@a.test", "copy", "n2", NULL), 0);
	ASSERT_USER(d, "bob@a.test", "n1|copy|n2|n1|");
	assert_int_equal(directory_user_get(d, "bob@a.test", &u), 0);
	assert_false(directory_user_held(&u));
	dir_user_fini(&u);
	assert_int_equal(directory_moves_from(d, "n1", &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "bob@a.test");
	directory_strv_free(v, n);
	assert_int_equal(directory_moves_from(d, "n2", &v, &n), 0);
	assert_int_equal(n, 0);
	directory_strv_free(v, n);

	assert_int_equal(move(d, "bob@a.test", "hold", "n2", NULL), 0);
	ASSERT_USER(d, "bob@a.test", "n1|hold|n2|n1|");
	assert_int_equal(directory_user_get(d, "bob@a.test", &u), 0);
	assert_true(directory_user_held(&u));
	dir_user_fini(&u);

	/* a second hold, a flip to another node: refused, nothing changed */
	assert_int_equal(move(d, "bob@a.test", "hold", NULL, NULL), MN_ECONFLICT);
	assert_int_equal(move(d, "bob@a.test", "flip", "n1", NULL), MN_ECONFLICT);
	ASSERT_USER(d, "bob@a.test", "n1|hold|n2|n1|");

	assert_int_equal(move(d, "bob@a.test", "flip", "n2", "messages=3"), 0);
	ASSERT_USER(d, "bob@a.test", "n2|cleanup|n2|n1|messages=3");
	/* the source still drives the cleanup */
	assert_int_equal(directory_moves_from(d, "n1", &v, &n), 0);
	assert_int_equal(n, 1);
	directory_strv_free(v, n);
	assert_int_equal(directory_users_on_node(d, "n2", &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "bob@a.test");
	directory_strv_free(v, n);

	assert_int_equal(move(d, "bob@a.test", "end", NULL, NULL), 0);
	ASSERT_USER(d, "bob@a.test", "n2||||messages=3");
	assert_int_equal(move(d, "bob@a.test", "end", NULL, NULL), MN_ECONFLICT);
	assert_int_equal(directory_moves_from(d, "n1", &v, &n), 0);
	assert_int_equal(n, 0);
	directory_strv_free(v, n);
}

static void
test_rollback(void **state)
{
	struct directory *d = *state;

	assert_int_equal(move(d, "carol@a.test", "copy", "n2", NULL), 0);
	assert_int_equal(move(d, "carol@a.test", "hold", NULL, NULL), 0);
	assert_int_equal(move(d, "carol@a.test", "end", "n2", "failed: target down"), 0);
	ASSERT_USER(d, "carol@a.test", "n1||||failed: target down");
	/* a new move clears the old result */
	assert_int_equal(move(d, "carol@a.test", "copy", "n2", NULL), 0);
	ASSERT_USER(d, "carol@a.test", "n1|copy|n2|n1|");
	/* end straight from copy */
	assert_int_equal(move(d, "carol@a.test", "end", NULL, NULL), 0);
	ASSERT_USER(d, "carol@a.test", "n1||||");
}

/* cancel: before the flip it stops holding and flipping, the source ends it;
 * after the flip it is refused */
static void
test_cancel(void **state)
{
	struct directory *d = *state;
	struct dir_user u;

	assert_int_equal(move(d, "carol@a.test", "cancel", NULL, NULL), MN_ECONFLICT);
	assert_int_equal(move(d, "carol@a.test", "copy", "n2", NULL), 0);
	assert_int_equal(move(d, "carol@a.test", "hold", NULL, NULL), 0);
	assert_int_equal(move(d, "carol@a.test", "cancel", NULL, NULL), 0);
	ASSERT_USER(d, "carol@a.test", "n1|cancel|n2|n1|");
	assert_int_equal(directory_user_get(d, "carol@a.test", &u), 0);
	assert_false(directory_user_held(&u)); /* mail flows again */
	dir_user_fini(&u);
	assert_int_equal(move(d, "carol@a.test", "cancel", NULL, NULL), 0); /* again: no-op */
	assert_int_equal(move(d, "carol@a.test", "hold", NULL, NULL), MN_ECONFLICT);
	assert_int_equal(move(d, "carol@a.test", "flip", NULL, NULL), MN_ECONFLICT);
	ASSERT_USER(d, "carol@a.test", "n1|cancel|n2|n1|");
	assert_int_equal(move(d, "carol@a.test", "end", NULL, "failed: cancelled"), 0);
	ASSERT_USER(d, "carol@a.test", "n1||||failed: cancelled");
	/* a source restarted in the hold copies again with mail flowing */
	assert_int_equal(move(d, "carol@a.test", "resume", NULL, NULL), MN_ECONFLICT);
	assert_int_equal(move(d, "carol@a.test", "copy", "n2", NULL), 0);
	assert_int_equal(move(d, "carol@a.test", "resume", NULL, NULL), MN_ECONFLICT);
	assert_int_equal(move(d, "carol@a.test", "hold", NULL, NULL), 0);
	assert_int_equal(move(d, "carol@a.test", "resume", "n2", NULL), 0);
	ASSERT_USER(d, "carol@a.test", "n1|copy|n2|n1|");
	assert_int_equal(move(d, "carol@a.test", "end", NULL, NULL), 0);
	/* past the flip */
	assert_int_equal(move(d, "carol@a.test", "copy", "n2", NULL), 0);
	assert_int_equal(move(d, "carol@a.test", "cancel", NULL, NULL), 0);
	assert_int_equal(move(d, "carol@a.test", "end", NULL, NULL), 0);
	assert_int_equal(move(d, "carol@a.test", "copy", "n2", NULL), 0);
	assert_int_equal(move(d, "carol@a.test", "hold", NULL, NULL), 0);
	assert_int_equal(move(d, "carol@a.test", "flip", NULL, "messages=1"), 0);
	assert_int_equal(move(d, "carol@a.test", "cancel", NULL, NULL), MN_ECONFLICT);
	ASSERT_USER(d, "carol@a.test", "n2|cleanup|n2|n1|messages=1");
}

static void
test_refusals(void **state)
{
	struct directory *d = *state;
	struct mn_err err = {0};
	char *before = directory_dump(d), *after;

	assert_int_equal(move(d, "ghost@a.test", "copy", "n2", NULL), MN_ENOENT);
	assert_int_equal(move(d, "bob@a.test", "copy", NULL, NULL), MN_EINVAL);
	assert_int_equal(move(d, "bob@a.test", "copy", "n1", NULL), MN_ECONFLICT); /* its home */
	assert_int_equal(move(d, "bob@a.test", "copy", "n9", NULL), MN_ENOENT);
	assert_int_equal(move(d, "bob@a.test", "copy", "n3", NULL), MN_ECONFLICT);  /* joining */
	assert_int_equal(move(d, "dave@a.test", "copy", "n2", NULL), MN_ECONFLICT); /* no home */
	assert_int_equal(move(d, "bob@a.test", "hold", NULL, NULL), MN_ECONFLICT);  /* not moving */
	assert_int_equal(move(d, "bob@a.test", "flip", NULL, NULL), MN_ECONFLICT);
	assert_int_equal(move(d, "bob@a.test", "jump", NULL, NULL), MN_EINVAL);
	assert_int_not_equal(move(d, "bob@a.test", NULL, NULL, NULL), 0); /* required */
	after = directory_dump(d);
	assert_string_equal(before, after);
	free(after);

	assert_int_equal(move(d, "bob@a.test", "copy", "n2", NULL), 0);
	assert_int_equal(move(d, "bob@a.test", "copy", "n2", NULL), MN_ECONFLICT);
	assert_int_equal(move(d, "bob@a.test", "hold", "n1", NULL), MN_ECONFLICT);
	/* no home change behind the move's back, and its target stays */
	assert_int_equal(dt_apply(d, "user_update bob@a.test node=n2", &err), MN_ECONFLICT);
	assert_int_equal(dt_apply(d, "node_del n2", &err), MN_ECONFLICT);
	free(before);
}

/* two replicas applying the same steps dump the same bytes */
static void
test_deterministic(void **state)
{
	struct directory *d = *state, *e = NULL;
	char *a, *b;

	assert_int_equal(setup((void **)&e), 0);
	for (int r = 0; r < 2; r++) {
		struct directory *x = r == 0 ? d : e;

		assert_int_equal(move(x, "bob@a.test", "copy", "n2", NULL), 0);
		assert_int_equal(move(x, "bob@a.test", "hold", NULL, NULL), 0);
		assert_int_equal(move(x, "bob@a.test", "flip", NULL, "ok"), 0);
	}
	a = directory_dump(d);
	b = directory_dump(e);
	assert_string_equal(a, b);
	assert_non_null(strstr(a, "move_state=\"cleanup\""));
	free(a);
	free(b);
	dt_teardown((void **)&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_full_move, setup, dt_teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, dt_teardown),
	    cmocka_unit_test_setup_teardown(test_rollback, setup, dt_teardown),
	    cmocka_unit_test_setup_teardown(test_refusals, setup, dt_teardown),
	    cmocka_unit_test_setup_teardown(test_deterministic, setup, dt_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
