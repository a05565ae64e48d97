/*
 * test_prefs.c - preferences (PrefSet) and contacts (ContactSet/ContactDel):
 * every key's syntax and normalisation, scopes, a refused entry leaving the
 * whole command unapplied, deletion with the owner, the contact limit and
 * prefix search, and the sender-list matcher anti-spam relies on.
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
    "user_add bob@a.test",
    "user_add carol@a.test",
};

static int
setup(void **state)
{
	return dt_setup_script(state, setup_cmds, sizeof(setup_cmds) / sizeof(setup_cmds[0]), 1000);
}

static int
apply_cmd(struct directory *d, Mailnode__DirectoryCommand *c, struct mn_err *err)
{
	size_t n = mailnode__directory_command__get_packed_size(c);
	uint8_t *buf = malloc(n);
	int rc;

	mailnode__directory_command__pack(c, buf);
	rc = directory_apply_packed(d, buf, n, err);
	free(buf);
	return rc;
}

/* pref set: kv is "key=value" pairs; "key" alone deletes the key */
static int
prefs(struct directory *d, const char *scope, const char *name, const char *const *kv, size_t n,
    struct mn_err *err)
{
	Mailnode__DirectoryCommand c = MAILNODE__DIRECTORY_COMMAND__INIT;
	Mailnode__PrefSet m = MAILNODE__PREF_SET__INIT;
	Mailnode__PrefEntry e[8], *ep[8];
	char *keys[8];
	int rc;

	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(kv[i], '=');

		mailnode__pref_entry__init(&e[i]);
		keys[i] = eq ? xstrndup(kv[i], (size_t)(eq - kv[i])) : xstrdup(kv[i]);
		e[i].key = keys[i];
		e[i].value = eq ? (char *)eq + 1 : NULL;
		ep[i] = &e[i];
	}
	m.scope = (char *)scope;
	m.name = (char *)name;
	m.n_prefs = n;
	m.prefs = ep;
	c.time = 1000;
	c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_PREF_SET;
	c.pref_set = &m;
	rc = apply_cmd(d, &c, err);
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	return rc;
}

#define PREFS(d, scope, name, err, ...)                                                            \
	prefs(d, scope, name, (const char *const[]){__VA_ARGS__},                                  \
	    sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *), err)

static int
contact(struct directory *d, const char *owner, const char *email, const char *name, bool del,
    struct mn_err *err)
{
	Mailnode__DirectoryCommand c = MAILNODE__DIRECTORY_COMMAND__INIT;
	Mailnode__ContactSet s = MAILNODE__CONTACT_SET__INIT;
	Mailnode__ContactDel x = MAILNODE__CONTACT_DEL__INIT;

	c.time = 2000;
	if (del) {
		x.owner = (char *)owner;
		x.email = (char *)email;
		c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_CONTACT_DEL;
		c.contact_del = &x;
	} else {
		s.owner = (char *)owner;
		s.email = (char *)email;
		s.name = (char *)name;
		c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_CONTACT_SET;
		c.contact_set = &s;
	}
	return apply_cmd(d, &c, err);
}

static void
assert_pref(
    struct directory *d, const char *scope, const char *name, const char *key, const char *want)
{
	char *v = directory_pref_get(d, scope, name, key);

	if (want == NULL)
		assert_null(v);
	else {
		assert_non_null(v);
		assert_string_equal(v, want);
	}
	free(v);
}

static void
test_values_are_checked_and_normalised(void **state)
{
	struct directory *d = *state;
	struct mn_err err = {0};
	static const struct {
		const char *kv;
		int rc;
		const char *stored; /* NULL: unchanged (refused) */
	} cases[] = {
	    {"signature=Bob\n-- \nA.Test\t", 0, "Bob\n-- \nA.Test\t"},
	    {"signature=\x01", MN_EINVAL, NULL},
	    {"signature=\xff", MN_EINVAL, NULL},
	    {"language=zh-CN", 0, "zh-CN"},
	    {"language=fr", MN_EINVAL, NULL},
	    {"timezone=Asia/Shanghai", 0, "Asia/Shanghai"},
	    {"timezone=Etc/GMT+8", 0, "Etc/GMT+8"},
	    {"timezone=../etc/passwd", MN_EINVAL, NULL},
	    {"timezone=Asia//X", MN_EINVAL, NULL},
	    {"timezone=", MN_EINVAL, NULL},
	    {"sender_allow=Alice@X.Test, @Friends.Test;\n bob@y.test", 0,
	        "alice@x.test\n@friends.test\nbob@y.test"},
	    {"sender_allow=", 0, ""},
	    {"sender_block=not an address", MN_EINVAL, NULL},
	    {"sender_block=@", MN_EINVAL, NULL},
	    {"send_messages_per_hour=0050", 0, "50"},
	    {"send_messages_per_hour=0", 0, "0"},
	    {"send_recipients_per_day=-1", MN_EINVAL, NULL},
	    {"send_recipients_per_day=100000001", MN_EINVAL, NULL},
	    {"send_recipients_per_day=1e3", MN_EINVAL, NULL},
	    {"nosuchkey=1", MN_EINVAL, NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *eq = strchr(cases[i].kv, '=');
		char *key = xstrndup(cases[i].kv, (size_t)(eq - cases[i].kv));
		char *before = directory_pref_get(d, "user", "bob@a.test", key);
		int rc = PREFS(d, "user", "Bob@A.test", &err, cases[i].kv);

		if (rc != cases[i].rc)
			fail_msg("%s: rc %d, want %d (%s)", cases[i].kv, rc, cases[i].rc, err.msg);
		assert_pref(
		    d, "user", "bob@a.test", key, cases[i].stored ? cases[i].stored : before);
		free(before);
		free(key);
	}
}

static void
test_scopes_owners_and_atomicity(void **state)
{
	struct directory *d = *state;
	struct mn_err err = {0};
	json_t *j;

	/* user-only keys are refused for a domain; unknown owners are 404 */
	assert_int_equal(PREFS(d, "domain", "a.test", &err, "signature=x"), MN_EINVAL);
	assert_int_equal(PREFS(d, "domain", "c.test", &err, "sender_block=@x.test"), MN_ENOENT);
	assert_int_equal(PREFS(d, "user", "nobody@a.test", &err, "language=en"), MN_ENOENT);
	assert_int_equal(PREFS(d, "group", "a.test", &err, "language=en"), MN_EINVAL);
	assert_int_equal(PREFS(d, "domain", "A.Test", &err, "send_messages_per_day=10"), 0);
	assert_pref(d, "domain", "a.test", "send_messages_per_day", "10");

	/* one bad entry: nothing of the command is applied */
	assert_int_equal(
	    PREFS(d, "user", "carol@a.test", &err, "language=en", "timezone=UTC", "language=xx"),
	    MN_EINVAL);
	assert_pref(d, "user", "carol@a.test", "language", NULL);
	assert_pref(d, "user", "carol@a.test", "timezone", NULL);

	assert_int_equal(PREFS(d, "user", "carol@a.test", &err, "language=en", "timezone=UTC"), 0);
	j = directory_prefs_json(d, "user", "carol@a.test");
	assert_int_equal(json_object_size(j), 2);
	assert_string_equal(json_string_value(json_object_get(j, "timezone")), "UTC");
	json_decref(j);

	/* an absent value deletes; deleting an unset key is fine */
	assert_int_equal(PREFS(d, "user", "carol@a.test", &err, "timezone", "signature"), 0);
	assert_pref(d, "user", "carol@a.test", "timezone", NULL);
	assert_pref(d, "user", "carol@a.test", "language", "en");

	assert_true(directory_pref_key_valid("domain", "sender_allow"));
	assert_false(directory_pref_key_valid("domain", "language"));
	assert_false(directory_pref_key_valid(NULL, "language"));
}

static void
test_contacts(void **state)
{
	struct directory *d = *state;
	struct mn_err err = {0};
	json_t *j;

	assert_int_equal(contact(d, "bob@a.test", "Alice@X.test", "Alice Smith", false, &err), 0);
	assert_int_equal(contact(d, "bob@a.test", "zed@y.test", "张三", false, &err), 0);
	assert_int_equal(contact(d, "bob@a.test", "alice@x.test", "Alice S.", false, &err), 0);
	assert_int_equal(contact(d, "bob@a.test", "not-an-address", NULL, false, &err), MN_EINVAL);
	assert_int_equal(contact(d, "nobody@a.test", "a@x.test", NULL, false, &err), MN_ENOENT);
	assert_int_equal(contact(d, "bob@a.test", "a@x.test", "bad\x01", false, &err), MN_EINVAL);
	assert_true(directory_contact_exists(d, "BOB@a.test", "alice@X.TEST"));
	assert_false(directory_contact_exists(d, "carol@a.test", "alice@x.test"));

	j = directory_contacts_json(d, "bob@a.test", "", 10);
	assert_int_equal(json_array_size(j), 2);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(j, 0), "name")), "Alice S.");
	json_decref(j);
	j = directory_contacts_json(d, "bob@a.test", "张", 10); /* by name */
	assert_int_equal(json_array_size(j), 1);
	json_decref(j);
	j = directory_contacts_json(d, "bob@a.test", "%", 10); /* not a pattern */
	assert_int_equal(json_array_size(j), 0);
	json_decref(j);

	assert_int_equal(contact(d, "bob@a.test", "zed@y.test", NULL, true, &err), 0);
	assert_int_equal(contact(d, "bob@a.test", "zed@y.test", NULL, true, &err), MN_ENOENT);

	/* deleting the user drops its contacts and preferences */
	assert_int_equal(PREFS(d, "user", "bob@a.test", &err, "language=en"), 0);
	assert_int_equal(dt_apply(d, "user_del bob@a.test", &err), 0);
	assert_int_equal(dt_apply(d, "user_add bob@a.test", &err), 0);
	assert_false(directory_contact_exists(d, "bob@a.test", "alice@x.test"));
	assert_pref(d, "user", "bob@a.test", "language", NULL);
}

static void
test_contact_limit(void **state)
{
	struct directory *d = *state;
	struct mn_err err = {0};
	char email[64];

	for (int i = 0; i < DIR_MAX_CONTACTS; i++) {
		snprintf(email, sizeof(email), "c%d@x.test", i);
		assert_int_equal(contact(d, "carol@a.test", email, NULL, false, &err), 0);
	}
	assert_int_equal(
	    contact(d, "carol@a.test", "one-more@x.test", NULL, false, &err), MN_ECONFLICT);
	/* renaming an existing contact is still allowed at the limit */
	assert_int_equal(contact(d, "carol@a.test", "c7@x.test", "Seven", false, &err), 0);
}

static void
test_domain_delete_drops_its_prefs(void **state)
{
	struct directory *d = *state;
	struct mn_err err = {0};

	assert_int_equal(PREFS(d, "domain", "b.test", &err, "sender_block=@spam.test"), 0);
	assert_int_equal(dt_apply(d, "domain_del b.test", &err), 0);
	assert_int_equal(dt_apply(d, "domain_add b.test", &err), 0);
	assert_pref(d, "domain", "b.test", "sender_block", NULL);
}

static void
test_senders_match(void **state)
{
	const char *list = "alice@x.test\n@friends.test\nbob@y.test";

	(void)state;
	assert_true(directory_senders_match(list, "Alice@X.Test"));
	assert_true(directory_senders_match(list, "anyone@FRIENDS.test"));
	assert_true(directory_senders_match(list, "bob@y.test"));
	assert_false(directory_senders_match(list, "bob@y.tes"));
	assert_false(directory_senders_match(list, "alice@x.test.evil"));
	assert_false(directory_senders_match(list, "x@sub.friends.test"));
	assert_false(directory_senders_match(list, "friends.test"));
	assert_false(directory_senders_match(list, ""));
	assert_false(directory_senders_match(NULL, "alice@x.test"));
	assert_false(directory_senders_match("", "alice@x.test"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_values_are_checked_and_normalised, setup, dt_teardown),
	    cmocka_unit_test_setup_teardown(test_scopes_owners_and_atomicity, setup, dt_teardown),
	    cmocka_unit_test_setup_teardown(test_contacts, setup, dt_teardown),
	    cmocka_unit_test_setup_teardown(test_contact_limit, setup, dt_teardown),
	    cmocka_unit_test_setup_teardown(test_domain_delete_drops_its_prefs, setup, dt_teardown),
	    cmocka_unit_test(test_senders_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
