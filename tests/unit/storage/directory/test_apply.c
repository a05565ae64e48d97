/*
 * test_apply.c - directory_apply: every command type with its success and
 * error cases, in one scripted sequence; a refused command must leave the
 * directory dump unchanged. Also: protobuf round trip of every command
 * type, unparsable bytes, schema migration and reopening a file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dir_test_util.h"
#include "lib/err.h"

#define SHA512_SECRET                                                                              \
	"$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/"  \
	"O6IND4WQhG."
#define BCRYPT_UU "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"

static const struct step {
	const char *cmd;
	int rc;
	const char *msg; /* substring of err.msg, or NULL */
} script[] = {
    /* domains and domain aliases */
    {"domain_add a.test", 0, NULL},
    {"domain_add A.TEST", MN_EEXIST, "domain a.test already exists"},
    {"domain_add bad..test", MN_EINVAL, "not a valid domain"},
    {"domain_add -a.test", MN_EINVAL, NULL},
    {"domain_add ~", MN_EINVAL, "missing"},
    {"domain_add b.test", 0, NULL},
    {"dalias_add alias.test a.test", 0, NULL},
    {"dalias_add alias.test b.test", MN_EEXIST, "domain alias alias.test already exists"},
    {"dalias_add b.test a.test", MN_EEXIST, "b.test already exists as a domain"},
    {"dalias_add x.test nope.test", MN_ENOENT, "domain nope.test does not exist"},
    {"dalias_add y.test alias.test", MN_ENOENT, NULL},
    {"dalias_add y.test bad_domain", MN_EINVAL, NULL},
    {"domain_add alias.test", MN_EEXIST, "alias of a.test"},
    {"dalias_del nope.test", MN_ENOENT, "domain alias nope.test does not exist"},
    {"dalias_add gone.test b.test", 0, NULL},
    {"dalias_del gone.test", 0, NULL},
    /* nodes */
    {"node_add node1 127.0.0.1 raft_port=7100 rpc_port=7101 id=1", 0, NULL},
    {"node_add node1 127.0.0.2", MN_EEXIST, "node node1 already exists"},
    {"node_add node2 127.0.0.2 id=1", MN_EEXIST, "raft id 1 is already used by node node1"},
    {"node_add Bad!name 127.0.0.2", MN_EINVAL, "node name"},
    {"node_add node2 127.0.0.2 raft_port=70000", MN_EINVAL, "port"},
    {"node_add node2 127.0.0.2 state=sleeping", MN_EINVAL, "node state"},
    {"node_add node2 ~", MN_EINVAL, "node address is missing"},
    {"node_add node2 127.0.0.2 id=2 state=joining", 0, NULL},
    {"node_add node3 [::1]", 0, NULL},
    {"node_del node3", 0, NULL},
    {"node_add node3 bad/addr", MN_EINVAL, "node address"},
    {"node_state node2 active", 0, NULL},
    {"node_state node2 asleep", MN_EINVAL, NULL},
    {"node_state node9 active", MN_ENOENT, "node node9 does not exist"},
    /* users */
    {"user_add bob@a.test name=Bob node=node1 qb=1000 qm=10 max=500 flags=1 exp=2000", 0, NULL},
    {"user_add BOB@a.test", MN_EEXIST, "user bob@a.test already exists"},
    {"user_add bob@alias.test", MN_EINVAL, "domain alias.test is an alias of a.test"},
    {"user_add carol@nope.test", MN_ENOENT, "domain nope.test does not exist"},
    {"user_add carol@", MN_EINVAL, "not a valid address"},
    {"user_add carol", MN_EINVAL, NULL},
    {"user_add .carol@a.test", MN_EINVAL, NULL},
    {"user_add ca..rol@a.test", MN_EINVAL, NULL},
    {"user_add ca(rol@a.test", MN_EINVAL, NULL},
    {"user_add ~", MN_EINVAL, "user address is missing"},
    {"user_add carol@a.test hash=plaintext", MN_EINVAL, "password hash"},
    {"user_add carol@a.test hash=~", MN_EINVAL, "password hash is missing"},
    {"user_add carol@a.test hash=$6$abc", MN_EINVAL, "password hash"},
    {"user_add carol@a.test hash=$2b$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
        MN_EINVAL, NULL},
    {"user_add carol@a.test node=node9", MN_ENOENT, "node node9 does not exist"},
    {"user_add carol@a.test flags=16", MN_EINVAL, "unknown user flags"},
    {"user_add carol@a.test qb=18446744073709551615", MN_EINVAL, "too large"},
    {"user_add carol@a.test exp=-5", MN_EINVAL, "expires_at"},
    {"user_add everyone@a.test", MN_EEXIST, "built-in group"},
    {"user_add carol@a.test hash=" SHA512_SECRET, 0, NULL},
    {"user_add dave@a.test hash=" BCRYPT_UU " name=Dav\xc3\xa9", 0, NULL},
    {"user_add zed@a.test name=bad\xff", MN_EINVAL, "UTF-8"},
    {"user_add eve@b.test node=node2", 0, NULL},
    {"user_update bob@a.test name=Robert flags=0 qb=0", 0, NULL},
    {"user_update nobody@a.test name=X", MN_ENOENT, "user nobody@a.test does not exist"},
    {"user_update bob@a.test node=node9", MN_ENOENT, NULL},
    {"user_update bob@a.test flags=32", MN_EINVAL, NULL},
    {"user_update bob@a.test hash=nothash", MN_EINVAL, NULL},
    {"user_update bob@a.test node=node2 hash=" SHA512_SECRET, 0, NULL},
    /* aliases */
    {"alias_add info@a.test bob@a.test carol@a.test ext@remote.test bob@a.test", 0, NULL},
    {"alias_add info@a.test bob@a.test", MN_EEXIST, "info@a.test already exists as an alias"},
    {"alias_add bob@a.test carol@a.test", MN_EEXIST, "user bob@a.test already exists"},
    {"alias_add x@a.test", MN_EINVAL, "at least one target"},
    {"alias_add x@a.test not-an-address", MN_EINVAL, "alias target"},
    {"alias_add x@nope.test bob@a.test", MN_ENOENT, NULL},
    {"alias_add self@a.test self@a.test", MN_ECONFLICT, "loop"},
    {"alias_add loop1@a.test loop2@a.test", 0, NULL},
    {"alias_add loop2@a.test loop1@alias.test", MN_ECONFLICT,
        "alias loop2@a.test -> loop1@a.test would make a loop"},
    {"alias_del loop1@a.test", 0, NULL},
    {"alias_del loop1@a.test", MN_ENOENT, "alias loop1@a.test does not exist"},
    {"alias_del bad", MN_EINVAL, NULL},
    /* groups */
    {"group_add staff@a.test Staff", 0, NULL},
    {"group_add staff@a.test", MN_EEXIST, "staff@a.test already exists as a group"},
    {"group_add info@a.test", MN_EEXIST, "already exists as an alias"},
    {"group_add g@nope.test", MN_ENOENT, NULL},
    {"group_add everyone@b.test", MN_EEXIST, NULL},
    {"group_add team@a.test", 0, NULL},
    {"member_add staff@a.test bob@a.test", 0, NULL},
    {"member_add staff@a.test bob@a.test", MN_EEXIST,
        "bob@a.test is already a member of staff@a.test"},
    {"member_add staff@alias.test BOB@alias.test", MN_EEXIST, NULL},
    {"member_add staff@a.test team@a.test", 0, NULL},
    {"member_add team@a.test staff@a.test", MN_ECONFLICT,
        "adding group staff@a.test to team@a.test would make a cycle"},
    {"member_add staff@a.test staff@a.test", MN_ECONFLICT, "cycle"},
    {"member_add team@a.test ext@remote.test", 0, NULL},
    {"member_add team@a.test info@a.test", 0, NULL},
    {"member_add team@a.test nobody@a.test", MN_ENOENT, "nobody@a.test does not exist"},
    {"member_add nogroup@a.test bob@a.test", MN_ENOENT, "group nogroup@a.test does not exist"},
    {"member_add team@a.test everyone@b.test", 0, NULL},
    {"member_add everyone@a.test bob@a.test", MN_ECONFLICT, "cannot be edited"},
    {"member_add team@a.test bad@@x", MN_EINVAL, NULL},
    {"member_del team@a.test ext@remote.test", 0, NULL},
    {"member_del team@a.test ext@remote.test", MN_ENOENT, "is not a member"},
    {"member_del nogroup@a.test bob@a.test", MN_ENOENT, NULL},
    {"group_del everyone@a.test", MN_ECONFLICT, "built in"},
    {"group_del nogroup@a.test", MN_ENOENT, "group nogroup@a.test does not exist"},
    /* admins */
    {"admin_add admin", 0, NULL},
    {"admin_add ADMIN", MN_EEXIST, "administrator admin already exists"},
    {"admin_add boss@a.test domain=a.test", 0, NULL},
    {"admin_add x domain=nope.test", MN_ENOENT, "domain nope.test does not exist"},
    {"admin_add bad!name", MN_EINVAL, "administrator name"},
    {"admin_add y hash=nope", MN_EINVAL, "password hash"},
    {"admin_passwd admin hash=" SHA512_SECRET, 0, NULL},
    {"admin_passwd ghost", MN_ENOENT, "administrator ghost does not exist"},
    {"admin_passwd admin hash=bad", MN_EINVAL, NULL},
    {"admin_del admin", MN_ECONFLICT, "last system administrator"},
    {"admin_del ghost", MN_ENOENT, NULL},
    {"admin_add root", 0, NULL},
    {"admin_del admin", 0, NULL},
    /* settings */
    {"set cluster.name prod", 0, NULL},
    {"set cluster.name test", 0, NULL},
    {"set Bad!key x", MN_EINVAL, "setting key"},
    {"set cluster.name", 0, NULL},
    {"set cluster.name", MN_ENOENT, "setting cluster.name is not set"},
    /* in-use rules, then tear everything down */
    {"domain_del a.test", MN_ECONFLICT, "domain a.test still has 3 users, 1 aliases and 2 groups"},
    {"domain_del nope.test", MN_ENOENT, "domain nope.test does not exist"},
    {"node_del node2", MN_ECONFLICT, "node node2 is still the home of 2 users"},
    {"node_del node9", MN_ENOENT, NULL},
    {"noop", MN_EINVAL, "unknown directory command"},
    {"user_del bob@a.test", 0, NULL},
    {"user_del bob@a.test", MN_ENOENT, "user bob@a.test does not exist"},
    {"user_del bad", MN_EINVAL, NULL},
    {"user_del carol@a.test", 0, NULL},
    {"user_del dave@a.test", 0, NULL},
    {"alias_del info@a.test", 0, NULL},
    {"group_del team@a.test", 0, NULL},
    {"group_del staff@a.test", 0, NULL},
    {"domain_del a.test", MN_ECONFLICT, "domain aliases"},
    {"dalias_del alias.test", 0, NULL},
    {"domain_del a.test", MN_ECONFLICT, "domain administrators"},
    {"admin_del boss@a.test", 0, NULL},
    {"domain_del a.test", 0, NULL},
    {"user_del eve@b.test", 0, NULL},
    {"node_del node2", 0, NULL},
    {"domain_del b.test", 0, NULL},
};

static void
test_script(void **state)
{
	struct directory *d = dt_open();

	for (size_t i = 0; i < sizeof(script) / sizeof(script[0]); i++) {
		struct mn_err err = {0};
		char *before = directory_dump(d), *after;
		int rc = dt_apply(d, script[i].cmd, &err);

		if (rc != script[i].rc ||
		    (script[i].msg && strstr(err.msg, script[i].msg) == NULL)) {
			print_error("step %zu \"%s\": rc %d (%s) want %d \"%s\"\n", i,
			    script[i].cmd, rc, err.msg, script[i].rc,
			    script[i].msg ? script[i].msg : "");
			fail();
		}
		after = directory_dump(d);
		if (rc != 0)
			assert_string_equal(before, after);
		else if (strncmp(script[i].cmd, "user_update", 11) != 0 &&
		         strncmp(script[i].cmd, "set", 3) != 0 &&
		         strncmp(script[i].cmd, "node_state", 10) != 0 &&
		         strncmp(script[i].cmd, "admin_passwd", 12) != 0)
			assert_string_not_equal(before, after);
		free(before);
		free(after);
	}
	/* everything was deleted again but node1 and admin root */
	{
		char *dump = directory_dump(d);

		assert_string_equal(dump,
		    "admins|name=\"root\"|password_hash=\"" DT_HASH "\"|domain=NULL"
		    "|created_at=1000\n"
		    "nodes|name=\"node1\"|address=\"127.0.0.1\"|raft_port=7100"
		    "|rpc_port=7101|raft_id=1|state=\"active\"|created_at=1000\n"
		    "schema_version|version=4\n");
		free(dump);
	}
	directory_close(&d);
	assert_null(d);
}

static void
test_rows_are_stored_as_given(void **state)
{
	struct directory *d = dt_open();
	struct mn_err err = {0};
	struct dir_user u;
	struct dir_admin a;
	char *dump;

	assert_int_equal(dt_apply(d, "domain_add A.Test", &err), 0);
	assert_int_equal(dt_apply(d, "node_add n1 127.0.0.1", &err), 0);
	assert_int_equal(dt_apply_at(d,
	                     "user_add Bob@A.test name=Bob node=n1 "
	                     "qb=1000 qm=10 max=500 flags=5 exp=2000",
	                     77, &err),
	    0);
	assert_int_equal(directory_user_get(d, "BOB@a.TEST", &u), 0);
	assert_string_equal(u.address, "bob@a.test");
	assert_string_equal(u.name, "Bob");
	assert_string_equal(u.home_node, "n1");
	assert_string_equal(u.password_hash, DT_HASH);
	assert_int_equal(u.quota_bytes, 1000);
	assert_int_equal(u.quota_messages, 10);
	assert_int_equal(u.max_message_size, 500);
	assert_int_equal(u.flags, DIR_USER_DISABLED | DIR_USER_NO_EXTERNAL_SEND);
	assert_int_equal(u.expires_at, 2000);
	assert_int_equal(u.created_at, 77);
	dir_user_fini(&u);

	/* update changes only the fields present */
	assert_int_equal(dt_apply(d, "user_update bob@a.test qm=20 flags=0", &err), 0);
	assert_int_equal(directory_user_get(d, "bob@a.test", &u), 0);
	assert_string_equal(u.name, "Bob");
	assert_int_equal(u.quota_bytes, 1000);
	assert_int_equal(u.quota_messages, 20);
	assert_int_equal(u.flags, 0);
	assert_int_equal(u.created_at, 77);
	dir_user_fini(&u);
	assert_int_equal(directory_user_get(d, "nobody@a.test", &u), MN_ENOENT);
	assert_int_equal(directory_user_get(d, "nobody", &u), MN_EINVAL);

	assert_int_equal(dt_apply(d, "admin_add Boss@A.test domain=A.TEST", &err), 0);
	assert_int_equal(directory_admin_get(d, "boss@a.test", &a), 0);
	assert_string_equal(a.domain, "a.test");
	dir_admin_fini(&a);
	assert_int_equal(dt_apply(d, "admin_add admin", &err), 0);
	assert_int_equal(directory_admin_get(d, "admin", &a), 0);
	assert_null(a.domain);
	dir_admin_fini(&a);
	assert_int_equal(directory_admin_get(d, "ghost", &a), MN_ENOENT);

	assert_int_equal(dt_apply(d, "set motd hello", &err), 0);
	{
		char *v = directory_setting_get(d, "motd");

		assert_string_equal(v, "hello");
		free(v);
		assert_null(directory_setting_get(d, "nope"));
	}
	/* group membership goes with the user */
	assert_int_equal(dt_apply(d, "group_add g@a.test", &err), 0);
	assert_int_equal(dt_apply(d, "member_add g@a.test bob@a.test", &err), 0);
	assert_int_equal(dt_apply(d, "user_del bob@a.test", &err), 0);
	dump = directory_dump(d);
	assert_null(strstr(dump, "bob@a.test"));
	free(dump);
	directory_close(&d);
}

static void
test_garbage_and_missing_bodies(void **state)
{
	static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
	Mailnode__DirectoryCommand c = MAILNODE__DIRECTORY_COMMAND__INIT;
	struct directory *d = dt_open();
	struct mn_err err = {0};
	char *before = directory_dump(d), *after;

	assert_int_equal(directory_apply_packed(d, garbage, sizeof(garbage), &err), MN_EPARSE);
	{
		uint8_t *big = xcalloc(1, DIR_MAX_COMMAND + 1);

		assert_int_equal(
		    directory_apply_packed(d, big, DIR_MAX_COMMAND + 1, &err), MN_ETOOBIG);
		free(big);
	}
	/* a oneof case with no body (only possible in memory) */
	c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_USER_ADD;
	assert_int_equal(directory_apply(d, &c, &err), MN_EINVAL);
	assert_int_equal(directory_apply(d, NULL, &err), MN_EINVAL);
	/* required strings absent in memory are refused, not crashed on */
	{
		Mailnode__UserAdd ua = MAILNODE__USER_ADD__INIT;

		c.user_add = &ua;
		assert_int_equal(directory_apply(d, &c, &err), MN_EINVAL);
	}
	after = directory_dump(d);
	assert_string_equal(before, after);
	free(before);
	free(after);
	directory_close(&d);
}

/* Every command type survives pack -> unpack -> pack unchanged. */
static void
test_protobuf_round_trip(void **state)
{
	static const struct {
		const char *cmd;
		int cmd_case;
	} cases[] = {
	    {"domain_add a.test", MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_ADD},
	    {"domain_del a.test", MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_DEL},
	    {"dalias_add x.test a.test", MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_ALIAS_ADD},
	    {"dalias_del x.test", MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_ALIAS_DEL},
	    {"user_add b@a.test name=B node=n1 qb=1 qm=2 max=3 flags=4 exp=5",
	        MAILNODE__DIRECTORY_COMMAND__CMD_USER_ADD},
	    {"user_del b@a.test", MAILNODE__DIRECTORY_COMMAND__CMD_USER_DEL},
	    {"user_update b@a.test hash=" DT_HASH " name=C qb=9 exp=0 node=n2",
	        MAILNODE__DIRECTORY_COMMAND__CMD_USER_UPDATE},
	    {"alias_add i@a.test b@a.test c@x.test", MAILNODE__DIRECTORY_COMMAND__CMD_ALIAS_ADD},
	    {"alias_del i@a.test", MAILNODE__DIRECTORY_COMMAND__CMD_ALIAS_DEL},
	    {"group_add g@a.test G", MAILNODE__DIRECTORY_COMMAND__CMD_GROUP_ADD},
	    {"group_del g@a.test", MAILNODE__DIRECTORY_COMMAND__CMD_GROUP_DEL},
	    {"member_add g@a.test b@a.test", MAILNODE__DIRECTORY_COMMAND__CMD_GROUP_MEMBER_ADD},
	    {"member_del g@a.test b@a.test", MAILNODE__DIRECTORY_COMMAND__CMD_GROUP_MEMBER_DEL},
	    {"admin_add root domain=a.test", MAILNODE__DIRECTORY_COMMAND__CMD_ADMIN_ADD},
	    {"admin_del root", MAILNODE__DIRECTORY_COMMAND__CMD_ADMIN_DEL},
	    {"admin_passwd root", MAILNODE__DIRECTORY_COMMAND__CMD_ADMIN_PASSWD},
	    {"node_add n1 127.0.0.1 raft_port=1 rpc_port=2 id=3 state=joining",
	        MAILNODE__DIRECTORY_COMMAND__CMD_NODE_ADD},
	    {"node_state n1 draining", MAILNODE__DIRECTORY_COMMAND__CMD_NODE_SET_STATE},
	    {"node_del n1", MAILNODE__DIRECTORY_COMMAND__CMD_NODE_DEL},
	    {"set k v", MAILNODE__DIRECTORY_COMMAND__CMD_SETTING_SET},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len, len2;
		uint8_t *p = dt_pack(cases[i].cmd, 1234567890123LL, &len), *p2;
		Mailnode__DirectoryCommand *c = mailnode__directory_command__unpack(NULL, len, p);

		assert_non_null(c);
		assert_int_equal(c->cmd_case, cases[i].cmd_case);
		assert_true(c->has_time);
		assert_int_equal(c->time, 1234567890123LL);
		assert_string_equal(c->origin, "test");
		len2 = mailnode__directory_command__get_packed_size(c);
		assert_int_equal(len2, len);
		p2 = xmalloc(len2);
		mailnode__directory_command__pack(c, p2);
		assert_memory_equal(p, p2, len);
		free(p2);
		/* a few fields by name */
		switch (c->cmd_case) {
		case MAILNODE__DIRECTORY_COMMAND__CMD_USER_ADD:
			assert_string_equal(c->user_add->address, "b@a.test");
			assert_string_equal(c->user_add->home_node, "n1");
			assert_true(c->user_add->has_expires_at);
			assert_int_equal(c->user_add->expires_at, 5);
			assert_int_equal(c->user_add->flags, 4);
			break;
		case MAILNODE__DIRECTORY_COMMAND__CMD_USER_UPDATE:
			assert_true(c->user_update->has_expires_at);
			assert_false(c->user_update->has_flags);
			assert_string_equal(c->user_update->home_node, "n2");
			break;
		case MAILNODE__DIRECTORY_COMMAND__CMD_ALIAS_ADD:
			assert_int_equal(c->alias_add->n_targets, 2);
			assert_string_equal(c->alias_add->targets[1], "c@x.test");
			break;
		case MAILNODE__DIRECTORY_COMMAND__CMD_NODE_ADD:
			assert_int_equal(c->node_add->raft_id, 3);
			assert_string_equal(c->node_add->state, "joining");
			break;
		default:
			break;
		}
		mailnode__directory_command__free_unpacked(c, NULL);
		free(p);
	}
}

static void
test_address_syntax(void **state)
{
	static const struct {
		const char *addr;
		int rc;
	} cases[] = {
	    {"bob@a.test", 0},
	    {"Bob.Smith+tag@Mail.A-B.test", 0},
	    {"a@b", 0},
	    {"!#$%&'*+-/=?^_`{|}~@a.test", 0},
	    {"", MN_EINVAL},
	    {"bob", MN_EINVAL},
	    {"@a.test", MN_EINVAL},
	    {"bob@", MN_EINVAL},
	    {".bob@a.test", MN_EINVAL},
	    {"bob.@a.test", MN_EINVAL},
	    {"b..ob@a.test", MN_EINVAL},
	    {"b@b@a.test", MN_EINVAL},
	    {"b ob@a.test", MN_EINVAL},
	    {"\"bob\"@a.test", MN_EINVAL},
	    {"bob@a..test", MN_EINVAL},
	    {"bob@-a.test", MN_EINVAL},
	    {"bob@a-.test", MN_EINVAL},
	    {"bob@a.test.", MN_EINVAL},
	    {"bob@[127.0.0.1]", MN_EINVAL},
	    {"b\xc3\xb6"
	     "b@a.test",
	        MN_EINVAL},
	    {"bob@a_b.test", MN_EINVAL},
	};
	char local[80], label[80], addr[400];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (directory_check_address(cases[i].addr) != cases[i].rc)
			fail_msg("%s", cases[i].addr);
	memset(local, 'x', 64);
	local[64] = '\0';
	snprintf(addr, sizeof(addr), "%s@a.test", local);
	assert_int_equal(directory_check_address(addr), 0);
	snprintf(addr, sizeof(addr), "%sx@a.test", local);
	assert_int_equal(directory_check_address(addr), MN_EINVAL);
	memset(label, 'y', 63);
	label[63] = '\0';
	snprintf(addr, sizeof(addr), "b@%s.test", label);
	assert_int_equal(directory_check_address(addr), 0);
	snprintf(addr, sizeof(addr), "b@%sy.test", label);
	assert_int_equal(directory_check_address(addr), MN_EINVAL);
	/* 64 + 1 + 63*3 + 2 = 256 > 254 */
	snprintf(addr, sizeof(addr), "%s@%s.%s.%s.t", local, label, label, label);
	assert_int_equal(directory_check_address(addr), MN_EINVAL);
	assert_int_equal(directory_check_domain("a.test"), 0);
	assert_int_equal(directory_check_domain(NULL), MN_EINVAL);
	{
		char s[] = "BoB@A.Test";

		directory_normalize_address(s);
		assert_string_equal(s, "bob@a.test");
	}
}

static void
test_schema_migrates_and_reopens(void **state)
{
	char tmpl[] = "/tmp/mn-dir-XXXXXX", path[128], cmd[160];
	struct directory *d = NULL;
	struct mn_err err = {0};
	sqlite3 *db;
	int64_t v = -1;
	sqlite3_stmt *st;

	assert_non_null(mkdtemp(tmpl));
	snprintf(path, sizeof(path), "%s/directory.db", tmpl);
	assert_int_equal(directory_open(path, &d, &err), 0);
	assert_int_equal(dt_apply(d, "domain_add a.test", &err), 0);
	directory_close(&d);
	/* reopening keeps data and does not migrate twice */
	assert_int_equal(directory_open(path, &d, &err), 0);
	assert_true(directory_domain_exists(d, "a.test"));
	db = directory_db(d);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	assert_int_equal(v, 4);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA foreign_keys", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1);
	sqlite3_finalize(st);
	/* a database from a newer program is refused */
	assert_int_equal(
	    sqlite3_exec(db, "UPDATE schema_version SET version = 99", NULL, NULL, NULL),
	    SQLITE_OK);
	directory_close(&d);
	assert_int_equal(directory_open(path, &d, &err), MN_EDB);
	assert_non_null(strstr(err.msg, "newer"));
	assert_null(d);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_script),
	    cmocka_unit_test(test_rows_are_stored_as_given),
	    cmocka_unit_test(test_garbage_and_missing_bodies),
	    cmocka_unit_test(test_protobuf_round_trip),
	    cmocka_unit_test(test_address_syntax),
	    cmocka_unit_test(test_schema_migrates_and_reopens),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
