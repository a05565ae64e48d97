/*
 * test_lookup.c - classify and expand: aliases, nested groups (each final
 * mailbox once), domain aliases, the everyone@ group, depth limit, and
 * cycles refused when a member is added.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "dir_test_util.h"
#include "lib/buf.h"

static const char *const setup_cmds[] = {
    "domain_add a.test",
    "domain_add b.test",
    "dalias_add alias.test a.test",
    "user_add bob@a.test",
    "user_add carol@a.test",
    "user_add dave@a.test",
    "user_add erin@b.test",
    "user_add frank@b.test",
    "alias_add info@a.test bob@a.test carol@alias.test ext@remote.test BOB@a.test",
    "alias_add fwd@a.test ghost@a.test dave@a.test",
    "alias_add out@a.test x@remote.test",
    "group_add staff@a.test Staff",
    "group_add team@a.test Team",
    "member_add staff@a.test bob@a.test",
    "member_add staff@a.test team@a.test",
    "member_add staff@a.test info@a.test",
    "member_add team@a.test carol@a.test",
    "member_add team@a.test dave@alias.test",
    "member_add team@a.test everyone@b.test",
    "member_add team@a.test ext@remote.test",
    "member_add team@a.test bob@a.test",
};

static int
setup(void **state)
{
	return dt_setup_script(state, setup_cmds, sizeof(setup_cmds) / sizeof(setup_cmds[0]), 1000);
}

/* joined - "a,b,c" of a list, for compact assertions. */
static char *
joined(char **v, size_t n)
{
	struct buf b;

	buf_init(&b, 0);
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s%s", i ? "," : "", v[i]);
	return buf_steal(&b, NULL);
}

static void
test_expand_table(void **state)
{
	static const struct {
		const char *addr;
		int rc;
		const char *local, *external;
	} cases[] = {
	    {"bob@a.test", 0, "bob@a.test", ""},
	    {"Bob@Alias.Test", 0, "bob@a.test", ""},
	    {"info@a.test", 0, "bob@a.test,carol@a.test", "ext@remote.test"},
	    {"info@alias.test", 0, "bob@a.test,carol@a.test", "ext@remote.test"},
	    {"fwd@a.test", 0, "dave@a.test", ""}, /* ghost@ does not exist */
	    {"out@a.test", 0, "", "x@remote.test"},
	    /* staff: bob, info (bob carol ext), team (bob carol dave
	     * everyone@b.test ext): every mailbox once, depth first in
	     * member order */
	    {"staff@a.test", 0, "bob@a.test,carol@a.test,dave@a.test,erin@b.test,frank@b.test",
	        "ext@remote.test"},
	    {"team@alias.test", 0, "bob@a.test,carol@a.test,dave@a.test,erin@b.test,frank@b.test",
	        "ext@remote.test"},
	    {"everyone@a.test", 0, "bob@a.test,carol@a.test,dave@a.test", ""},
	    {"everyone@alias.test", 0, "bob@a.test,carol@a.test,dave@a.test", ""},
	    {"someone@remote.test", 0, "", "someone@remote.test"},
	    {"nobody@a.test", MN_ENOENT, "", ""},
	    {"nobody@alias.test", MN_ENOENT, "", ""},
	    {"not an address", MN_EINVAL, "", ""},
	    {"", MN_EINVAL, "", ""},
	};
	struct directory *d = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dir_expansion e;
		int rc = directory_expand(d, cases[i].addr, &e);
		char *l = joined(e.local, e.nlocal), *x = joined(e.external, e.nexternal);

		if (rc != cases[i].rc || strcmp(l, cases[i].local) != 0 ||
		    strcmp(x, cases[i].external) != 0)
			fail_msg("%s: rc %d local [%s] external [%s]", cases[i].addr, rc, l, x);
		free(l);
		free(x);
		dir_expansion_fini(&e);
	}
}

static void
test_classify(void **state)
{
	static const struct {
		const char *addr;
		enum dir_addr_kind kind;
		const char *canonical; /* NULL: none returned */
	} cases[] = {
	    {"bob@a.test", DIR_ADDR_USER, "bob@a.test"},
	    {"BOB@ALIAS.TEST", DIR_ADDR_USER, "bob@a.test"},
	    {"info@alias.test", DIR_ADDR_ALIAS, "info@a.test"},
	    {"staff@a.test", DIR_ADDR_GROUP, "staff@a.test"},
	    {"everyone@b.test", DIR_ADDR_GROUP, "everyone@b.test"},
	    {"everyone@alias.test", DIR_ADDR_GROUP, "everyone@a.test"},
	    {"everyone@remote.test", DIR_ADDR_REMOTE, "everyone@remote.test"},
	    {"x@Remote.test", DIR_ADDR_REMOTE, "x@remote.test"},
	    {"nobody@a.test", DIR_ADDR_NONE, "nobody@a.test"},
	    {"bad", DIR_ADDR_NONE, NULL},
	};
	struct directory *d = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *c = (char *)"unset";
		enum dir_addr_kind k = directory_classify(d, cases[i].addr, &c);

		if (k != cases[i].kind)
			fail_msg("%s: kind %d", cases[i].addr, k);
		if (cases[i].canonical)
			assert_string_equal(c, cases[i].canonical);
		else
			assert_null(c);
		free(c);
	}
	assert_int_equal(directory_classify(d, "bob@a.test", NULL), DIR_ADDR_USER);
}

static void
test_domains(void **state)
{
	struct directory *d = *state;
	char *c;

	assert_true(directory_domain_exists(d, "a.test"));
	assert_false(directory_domain_exists(d, "alias.test"));
	assert_false(directory_domain_exists(d, NULL));
	c = directory_domain_canonical(d, "ALIAS.test");
	assert_string_equal(c, "a.test");
	free(c);
	c = directory_domain_canonical(d, "b.test");
	assert_string_equal(c, "b.test");
	free(c);
	assert_null(directory_domain_canonical(d, "remote.test"));
	assert_null(directory_domain_canonical(d, "bad..name"));
}

static void
test_cycles_refused_at_member_add(void **state)
{
	struct directory *d = *state;
	struct mn_err err = {0};
	char *before = directory_dump(d), *after;

	/* direct, indirect through a group, through an alias, through a
	 * domain alias spelling */
	assert_int_equal(dt_apply(d, "member_add team@a.test staff@a.test", &err), MN_ECONFLICT);
	assert_string_equal(err.msg, "adding group staff@a.test to team@a.test would make a cycle");
	assert_int_equal(
	    dt_apply(d, "member_add team@a.test staff@alias.test", &err), MN_ECONFLICT);
	assert_int_equal(dt_apply(d, "alias_add loop@a.test staff@a.test", &err), 0);
	assert_int_equal(dt_apply(d, "member_add team@a.test loop@a.test", &err), MN_ECONFLICT);
	assert_string_equal(err.msg, "adding alias loop@a.test to team@a.test would make a cycle");
	assert_int_equal(dt_apply(d, "alias_del loop@a.test", &err), 0);
	after = directory_dump(d);
	assert_string_equal(before, after);
	free(before);
	free(after);
	/* an external member whose domain later turns local by a domain
	 * alias can still be removed as written */
	assert_int_equal(dt_apply(d, "member_add team@a.test y@later.test", &err), 0);
	assert_int_equal(dt_apply(d, "dalias_add later.test a.test", &err), 0);
	assert_int_equal(dt_apply(d, "member_del team@a.test y@later.test", &err), 0);
	assert_int_equal(dt_apply(d, "dalias_del later.test", &err), 0);
	/* a diamond is fine: both paths lead to carol once */
	assert_int_equal(dt_apply(d, "group_add x@a.test", &err), 0);
	assert_int_equal(dt_apply(d, "member_add x@a.test carol@a.test", &err), 0);
	assert_int_equal(dt_apply(d, "member_add team@a.test x@a.test", &err), 0);
	assert_int_equal(dt_apply(d, "member_add staff@a.test x@a.test", &err), 0);
}

static void
test_depth_limit(void **state)
{
	struct directory *d = *state;
	struct mn_err err = {0};
	struct dir_expansion e;
	char line[128];

	/* chain c0 > c1 > ... > c16, with bob in c16: bob sits 17 levels
	 * below c0, one more than DIR_MAX_GROUP_DEPTH */
	for (int i = 0; i <= DIR_MAX_GROUP_DEPTH; i++) {
		snprintf(line, sizeof(line), "group_add c%d@a.test", i);
		assert_int_equal(dt_apply(d, line, &err), 0);
	}
	for (int i = 0; i < DIR_MAX_GROUP_DEPTH; i++) {
		snprintf(line, sizeof(line), "member_add c%d@a.test c%d@a.test", i, i + 1);
		assert_int_equal(dt_apply(d, line, &err), 0);
	}
	snprintf(line, sizeof(line), "member_add c%d@a.test bob@a.test", DIR_MAX_GROUP_DEPTH);
	assert_int_equal(dt_apply(d, line, &err), 0);
	assert_int_equal(directory_expand(d, "c1@a.test", &e), 0);
	assert_int_equal(e.nlocal, 1);
	assert_string_equal(e.local[0], "bob@a.test");
	dir_expansion_fini(&e);
	assert_int_equal(directory_expand(d, "c0@a.test", &e), MN_ELIMIT);
	assert_int_equal(e.nlocal, 0);
	assert_null(e.local);
}

static void
test_everyone_follows_users(void **state)
{
	struct directory *d = *state;
	struct mn_err err = {0};
	struct dir_expansion e;

	assert_int_equal(dt_apply(d, "domain_add c.test", &err), 0);
	assert_int_equal(directory_classify(d, "everyone@c.test", NULL), DIR_ADDR_GROUP);
	assert_int_equal(directory_expand(d, "everyone@c.test", &e), 0);
	assert_int_equal(e.nlocal, 0);
	dir_expansion_fini(&e);
	assert_int_equal(dt_apply(d, "user_add zoe@c.test", &err), 0);
	assert_int_equal(directory_expand(d, "everyone@c.test", &e), 0);
	assert_int_equal(e.nlocal, 1);
	assert_string_equal(e.local[0], "zoe@c.test");
	dir_expansion_fini(&e);
	assert_int_equal(dt_apply(d, "user_del zoe@c.test", &err), 0);
	assert_int_equal(dt_apply(d, "domain_del c.test", &err), 0);
	assert_int_equal(directory_classify(d, "everyone@c.test", NULL), DIR_ADDR_REMOTE);
}

static void
test_deleting_member_updates_expansion(void **state)
{
	struct directory *d = *state;
	struct mn_err err = {0};
	struct dir_expansion e;
	char *l;

	assert_int_equal(dt_apply(d, "alias_del info@a.test", &err), 0);
	assert_int_equal(dt_apply(d, "group_del team@a.test", &err), 0);
	assert_int_equal(directory_expand(d, "staff@a.test", &e), 0);
	l = joined(e.local, e.nlocal);
	assert_string_equal(l, "bob@a.test");
	assert_int_equal(e.nexternal, 0);
	free(l);
	dir_expansion_fini(&e);
}

/* directory_node_get: the routing lookup of cluster handoff */
static void
test_node_get(void **state)
{
	struct directory *d = *state;
	struct mn_err err = {0};
	struct dir_node n;

	assert_int_equal(
	    dt_apply(d, "node_add node2 127.0.0.22 rpc_port=7101 state=active", &err), 0);
	assert_int_equal(directory_node_get(d, "node2", &n), 0);
	assert_string_equal(n.name, "node2");
	assert_string_equal(n.address, "127.0.0.22");
	assert_int_equal(n.rpc_port, 7101);
	assert_string_equal(n.state, "active");
	dir_node_fini(&n);
	assert_null(n.address);
	assert_int_equal(directory_node_get(d, "node9", &n), MN_ENOENT);
	dir_node_fini(&n);
}

static void
test_least_loaded_node(void **state)
{
	static const char *const cmds[] = {
	    "node_add n1 127.0.0.1 state=active",
	    "node_add n2 127.0.0.2 state=active",
	    "node_add n3 127.0.0.3 state=draining",
	    "node_add n0 127.0.0.4 state=joining",
	    "user_add u1@b.test node=n1",
	    "user_add u3@b.test node=n3",
	};
	struct directory *d = *state;
	struct mn_err err = {0};
	char *v;

	assert_null(directory_least_loaded_node(d, NULL)); /* no node yet */
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		assert_int_equal(dt_apply(d, cmds[i], &err), 0);
	/* n2 has none; n3 (draining) and n0 (joining) are not active */
	assert_string_equal(v = directory_least_loaded_node(d, NULL), "n2");
	free(v);
	assert_string_equal(v = directory_least_loaded_node(d, "n2"), "n1");
	free(v);
	/* a tie goes to the first name */
	assert_int_equal(dt_apply(d, "user_add u2@b.test node=n2", &err), 0);
	assert_string_equal(v = directory_least_loaded_node(d, NULL), "n1");
	free(v);
	assert_int_equal(dt_apply(d, "user_del u1@b.test", &err), 0);
	assert_int_equal(dt_apply(d, "user_del u2@b.test", &err), 0);
	assert_int_equal(dt_apply(d, "node_state n1 removed", &err), 0);
	assert_null(directory_least_loaded_node(d, "n2"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_expand_table, setup, dt_teardown),
	    cmocka_unit_test_setup_teardown(test_classify, setup, dt_teardown),
	    cmocka_unit_test_setup_teardown(test_node_get, setup, dt_teardown),
	    cmocka_unit_test_setup_teardown(test_least_loaded_node, setup, dt_teardown),
	    cmocka_unit_test_setup_teardown(test_domains, setup, dt_teardown),
	    cmocka_unit_test_setup_teardown(test_cycles_refused_at_member_add, setup, dt_teardown),
	    cmocka_unit_test_setup_teardown(test_depth_limit, setup, dt_teardown),
	    cmocka_unit_test_setup_teardown(test_everyone_follows_users, setup, dt_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_deleting_member_updates_expansion, setup, dt_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
