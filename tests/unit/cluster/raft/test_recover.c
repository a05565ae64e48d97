/*
 * test_recover.c - `mailnode --recover` member lists (cluster/raft/recover.h):
 * ID=IP:PORT and node names looked up in data_dir/directory.db, every
 * refusal with its reason, and recover_run's refusals before it touches
 * the log (no raft-id, this node not among the members). The raft_recover
 * itself runs in tests/cluster/test_recover.py on a real cluster's log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cluster/proto/directory.pb-c.h"
#include "cluster/raft/recover.h"
#include "storage/directory/directory.h"
#include "tests/support/tls_env.h"

static char dir[64];

static void
add_node(struct directory *d, const char *name, const char *addr, uint32_t raft_port, uint64_t id,
    const char *state)
{
	Mailnode__DirectoryCommand cmd = MAILNODE__DIRECTORY_COMMAND__INIT;
	Mailnode__NodeAdd m = MAILNODE__NODE_ADD__INIT;
	struct mn_err err;

	m.name = (char *)name;
	m.address = (char *)addr;
	m.has_raft_port = m.has_rpc_port = 1;
	m.raft_port = raft_port;
	m.rpc_port = 7101;
	m.has_raft_id = id != 0;
	m.raft_id = id;
	m.state = (char *)state;
	cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_NODE_ADD;
	cmd.node_add = &m;
	cmd.has_time = 1;
	cmd.time = 1795830000;
	assert_int_equal(directory_apply(d, &cmd, &err), 0);
}

static int
setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/mn-recover-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int
teardown(void **state)
{
	tls_env_rm_rf(dir);
	return 0;
}

static void
make_table(void)
{
	char path[128];
	struct directory *d = NULL;
	struct mn_err err;

	snprintf(path, sizeof(path), "%s/directory.db", dir);
	assert_int_equal(directory_open(path, &d, &err), 0);
	add_node(d, "node1", "127.0.0.1", 7100, 1, "active");
	add_node(d, "node2", "127.0.0.2", 7200, 3, "active");
	add_node(d, "gone", "127.0.0.3", 7100, 2, "removed");
	add_node(d, "noid", "127.0.0.4", 7100, 0, "joining");
	add_node(d, "six", "::1", 7100, 6, "active");
	directory_close(&d);
}

static const struct {
	const char *spec;
	int rc;
	const char *want; /* "id=addr(name);..." or a fragment of the reason */
} CASES[] = {
    {"1=127.0.0.1:7100", 0, "1=127.0.0.1:7100();"},
    {"1=127.0.0.1:7100,5=[::1]:7100", 0, "1=127.0.0.1:7100();5=[::1]:7100();"},
    {"node1", 0, "1=127.0.0.1:7100(node1);"},
    {"node2,node1", 0, "3=127.0.0.2:7200(node2);1=127.0.0.1:7100(node1);"},
    {"node1,9=127.0.0.9:7100", 0, "1=127.0.0.1:7100(node1);9=127.0.0.9:7100();"},
    {"six", 0, "6=[::1]:7100(six);"},
    {"", MN_EINVAL, "no members given"},
    {",", MN_EINVAL, "no members given"},
    {"nosuch", MN_EINVAL, "no node nosuch in the node table"},
    {"gone", MN_EINVAL, "node gone was removed"},
    {"noid", MN_EINVAL, "node noid has no raft id"},
    {"node1,node1", MN_EINVAL, "given twice"},
    {"node1,1=127.0.0.7:7100", MN_EINVAL, "given twice"},
    {"node1,4=127.0.0.1:7100", MN_EINVAL, "given twice"},
    {"0=127.0.0.1:7100", MN_EINVAL, "raft id must be a number > 0"},
    {"x=127.0.0.1:7100", MN_EINVAL, "raft id must be a number > 0"},
    {"=127.0.0.1:7100", MN_EINVAL, "raft id must be a number > 0"},
    {"1=127.0.0.1", MN_EINVAL, "not ID=IP:PORT"},
    {"1=host.example:7100", MN_EINVAL, "not ID=IP:PORT"},
    {"1=127.0.0.1:0", MN_EINVAL, "not ID=IP:PORT"},
    {"1=127.0.0.1:70000", MN_EINVAL, "not ID=IP:PORT"},
};

static void
test_parse_table(void **state)
{
	make_table();
	for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
		struct recover_member m[4];
		struct mn_err err;
		size_t n = 99;
		char got[512] = "";
		int rc;

		mn_err_clear(&err);
		rc = recover_parse(dir, CASES[i].spec, m, 4, &n, &err);
		if (rc != CASES[i].rc)
			fail_msg(
			    "%s: rc %d (%s), want %d", CASES[i].spec, rc, err.msg, CASES[i].rc);
		if (rc != 0) {
			assert_int_equal(n, 0);
			if (strstr(err.msg, CASES[i].want) == NULL)
				fail_msg("%s: reason \"%s\" lacks \"%s\"", CASES[i].spec, err.msg,
				    CASES[i].want);
			continue;
		}
		for (size_t k = 0; k < n; k++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%llu=%s(%s);",
			    (unsigned long long)m[k].id, m[k].address, m[k].name);
		if (strcmp(got, CASES[i].want) != 0)
			fail_msg("%s: got %s, want %s", CASES[i].spec, got, CASES[i].want);
	}
}

static void
test_too_many_members(void **state)
{
	struct recover_member m[2];
	struct mn_err err;
	size_t n;

	assert_int_equal(
	    recover_parse(dir, "1=127.0.0.1:1,2=127.0.0.2:1,3=127.0.0.3:1", m, 2, &n, &err),
	    MN_EINVAL);
	assert_non_null(strstr(err.msg, "more than 2 members"));
}

static void
test_names_without_a_table(void **state)
{
	struct recover_member m[2];
	struct mn_err err;
	char path[128];
	struct stat st;
	size_t n;

	assert_int_equal(recover_parse(dir, "node1", m, 2, &n, &err), MN_EINVAL);
	assert_non_null(strstr(err.msg, "name the members as ID=IP:RAFT_PORT"));
	/* and it did not create an empty database in passing */
	snprintf(path, sizeof(path), "%s/directory.db", dir);
	assert_int_not_equal(stat(path, &st), 0);
	/* ids need no table */
	assert_int_equal(recover_parse(dir, "2=127.0.0.2:7100", m, 2, &n, &err), 0);
	assert_int_equal(n, 1);
}

static void
test_run_refusals(void **state)
{
	struct recover_member m = {.id = 2, .address = "127.0.0.2:7100"};
	struct mn_err err;
	char path[128];
	FILE *f;

	assert_int_equal(recover_run(dir, &m, 1, &err), MN_EINVAL);
	assert_non_null(strstr(err.msg, "no raft id"));
	snprintf(path, sizeof(path), "%s/raft-id", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("1\n", f);
	fclose(f);
	assert_int_equal(recover_run(dir, &m, 1, &err), MN_EINVAL);
	assert_non_null(strstr(err.msg, "no raft directory"));
	snprintf(path, sizeof(path), "%s/raft", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(recover_run(dir, &m, 1, &err), MN_EINVAL);
	assert_non_null(strstr(err.msg, "raft id 1) must be one of the members"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_parse_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_many_members, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_names_without_a_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_run_refusals, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
