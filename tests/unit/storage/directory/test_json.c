/*
 * test_json.c - the directory's JSON listings: exact shapes (SPEC §6 user
 * show), flags names, filters, search, paging, the built-in everyone group,
 * and that no password hash ever appears.
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
    "domain_add a.test",
    "domain_add b.test",
    "dalias_add alias.test a.test",
    "node_add n1 127.0.0.1 raft_port=7100 rpc_port=7101 id=1",
    "node_add n2 127.0.0.2 id=2 state=joining",
    "user_add bob@a.test name=Bob_Smith node=n1 qb=1048576 qm=100 max=5000 flags=9 exp=99",
    "user_add carol@a.test name=Carol node=n1",
    "user_add erin@b.test name=100%_Erin",
    "alias_add info@a.test carol@a.test bob@a.test",
    "group_add staff@a.test Staff",
    "member_add staff@a.test bob@a.test",
    "admin_add admin",
    "admin_add boss@a.test domain=a.test",
};

static int
setup(void **state)
{
	return dt_setup_script(state, setup_cmds, sizeof(setup_cmds) / sizeof(setup_cmds[0]), 50);
}

/* check - compact JSON of v (sorted keys) equals want; consumes v. */
static void
check(json_t *v, const char *want)
{
	char *s;

	assert_non_null(v);
	s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(v);
	if (strcmp(s, want) != 0)
		fail_msg("got  %s\nwant %s", s, want);
	assert_null(strstr(s, "$y$"));
	free(s);
}

static void
test_user_json(void **state)
{
	struct directory *d = *state;
	struct dir_user u;

	assert_int_equal(directory_user_get(d, "bob@a.test", &u), 0);
	check(directory_user_json(&u),
	    "{\"address\":\"bob@a.test\",\"created_at\":50,\"expires_at\":99,"
	    "\"flags\":[\"disabled\",\"no_external_receive\"],\"home_node\":\"n1\","
	    "\"max_message_size\":5000,\"name\":\"Bob_Smith\",\"quota_bytes\":1048576,"
	    "\"quota_messages\":100,\"used_bytes\":0,\"used_messages\":0}");
	dir_user_fini(&u);
}

static void
test_users_json(void **state)
{
	struct directory *d = *state;

	check(directory_users_json(d, "b.test", NULL, 0, 0),
	    "[{\"address\":\"erin@b.test\",\"created_at\":50,\"expires_at\":0,"
	    "\"flags\":[],\"home_node\":\"\",\"max_message_size\":0,"
	    "\"name\":\"100%_Erin\",\"quota_bytes\":0,\"quota_messages\":0,"
	    "\"used_bytes\":0,\"used_messages\":0}]");
	/* address list only, via a helper: domain filter, alias, search, paging */
	{
		static const struct {
			const char *domain, *search;
			size_t offset, limit;
			const char *want;
		} cases[] = {
		    {NULL, NULL, 0, 0, "bob@a.test carol@a.test erin@b.test"},
		    {"a.test", NULL, 0, 0, "bob@a.test carol@a.test"},
		    {"ALIAS.test", NULL, 0, 0, "bob@a.test carol@a.test"},
		    {"remote.test", NULL, 0, 0, ""},
		    {NULL, "car", 0, 0, "carol@a.test"},
		    {NULL, "SMITH", 0, 0, "bob@a.test"}, /* name, any case */
		    {NULL, "%", 0, 0, "erin@b.test"},    /* literal % */
		    {NULL, "_", 0, 0, "bob@a.test erin@b.test"},
		    {NULL, NULL, 1, 1, "carol@a.test"},
		    {NULL, NULL, 2, 0, "erin@b.test"},
		    {NULL, NULL, 5, 0, ""},
		};

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			json_t *a = directory_users_json(
			    d, cases[i].domain, cases[i].search, cases[i].offset, cases[i].limit);
			char got[256] = "";
			size_t k;
			json_t *v;

			assert_non_null(a);
			json_array_foreach(a, k, v)
			{
				if (k)
					strcat(got, " ");
				strcat(got, json_string_value(json_object_get(v, "address")));
			}
			json_decref(a);
			if (strcmp(got, cases[i].want) != 0)
				fail_msg("case %zu: got \"%s\" want \"%s\"", i, got, cases[i].want);
		}
	}
}

static void
test_other_listings(void **state)
{
	struct directory *d = *state;

	check(directory_domains_json(d),
	    "[{\"aliases\":[\"alias.test\"],\"created_at\":50,\"name\":\"a.test\",\"users\":2},"
	    "{\"aliases\":[],\"created_at\":50,\"name\":\"b.test\",\"users\":1}]");
	check(directory_domain_json(d, "a.test"),
	    "{\"aliases\":[\"alias.test\"],\"created_at\":50,\"name\":\"a.test\",\"users\":2}");
	assert_null(directory_domain_json(d, "alias.test")); /* an alias is no domain */
	assert_null(directory_domain_json(d, "nowhere.test"));
	check(directory_aliases_json(d, NULL),
	    "[{\"address\":\"info@a.test\",\"targets\":[\"bob@a.test\",\"carol@a.test\"]}]");
	check(directory_aliases_json(d, "b.test"), "[]");
	check(directory_aliases_json(d, "nowhere.test"), "[]");
	check(directory_groups_json(d, "a.test"),
	    "[{\"address\":\"everyone@a.test\",\"builtin\":true,"
	    "\"members\":[\"bob@a.test\",\"carol@a.test\"],\"name\":\"Everyone\"},"
	    "{\"address\":\"staff@a.test\",\"builtin\":false,"
	    "\"members\":[\"bob@a.test\"],\"name\":\"Staff\"}]");
	check(directory_groups_json(d, "b.test"),
	    "[{\"address\":\"everyone@b.test\",\"builtin\":true,"
	    "\"members\":[\"erin@b.test\"],\"name\":\"Everyone\"}]");
	check(directory_admins_json(d), "[{\"domain\":null,\"name\":\"admin\"},{\"domain\":\"a."
	                                "test\",\"name\":\"boss@a.test\"}]");
	check(directory_nodes_json(d),
	    "[{\"address\":\"127.0.0.1\",\"created_at\":50,\"name\":\"n1\",\"raft_id\":1,"
	    "\"raft_port\":7100,\"rpc_port\":7101,\"state\":\"active\",\"users\":2},"
	    "{\"address\":\"127.0.0.2\",\"created_at\":50,\"name\":\"n2\",\"raft_id\":2,"
	    "\"raft_port\":0,\"rpc_port\":0,\"state\":\"joining\",\"users\":0}]");
	check(directory_user_counts_json(d), "{\"n1\":2,\"n2\":0}");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_user_json, setup, dt_teardown),
	    cmocka_unit_test_setup_teardown(test_users_json, setup, dt_teardown),
	    cmocka_unit_test_setup_teardown(test_other_listings, setup, dt_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
