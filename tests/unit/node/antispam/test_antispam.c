/*
 * test_antispam.c - the sender list rules of node/antispam/antispam.c
 * (system and per-user lists): address entries before @domain entries,
 * block before allow at the same level, case, separators, the null
 * sender and NULL lists; and per recipient (antispam_rcpt_list) from the
 * directory: the user's preferences, then contacts, then the domain's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "lib/config.h"
#include "node/antispam/antispam.h"
#include "tests/unit/storage/directory/dir_test_util.h"

static void
test_list_rules(void **state)
{
	static const struct {
		const char *block, *allow, *sender;
		enum antispam_list want;
	} cases[] = {
	    {"spam@x.test", NULL, "spam@x.test", ANTISPAM_LIST_BLOCK},
	    {"spam@x.test", NULL, "SPAM@X.TEST", ANTISPAM_LIST_BLOCK},
	    {"spam@x.test", NULL, "ham@x.test", ANTISPAM_LIST_NONE},
	    {NULL, "@x.test", "ham@x.test", ANTISPAM_LIST_ALLOW},
	    /* @domain is that domain only */
	    {NULL, "@x.test", "ham@sub.x.test", ANTISPAM_LIST_NONE},
	    /* an address beats a domain, either way */
	    {"@x.test", "friend@x.test", "friend@x.test", ANTISPAM_LIST_ALLOW},
	    {"foe@x.test", "@x.test", "foe@x.test", ANTISPAM_LIST_BLOCK},
	    /* same level: block wins */
	    {"a@x.test", "a@x.test", "a@x.test", ANTISPAM_LIST_BLOCK},
	    {"@x.test", "@x.test", "a@x.test", ANTISPAM_LIST_BLOCK},
	    /* separators: commas, blanks, line ends (a text box) */
	    {"one@y.test,\r\n  two@y.test\n@z.test\tthree@y.test", NULL, "two@y.test",
	        ANTISPAM_LIST_BLOCK},
	    {"one@y.test,\r\n  two@y.test\n@z.test\tthree@y.test", NULL, "q@z.test",
	        ANTISPAM_LIST_BLOCK},
	    {"one@y.test,\r\n  two@y.test\n@z.test\tthree@y.test", NULL, "three@y.test",
	        ANTISPAM_LIST_BLOCK},
	    /* no partial matches */
	    {"two@y.test", NULL, "wo@y.test", ANTISPAM_LIST_NONE},
	    {"two@y.test", NULL, "two@y.tes", ANTISPAM_LIST_NONE},
	    /* the null sender and empty lists */
	    {"@x.test", "@x.test", "", ANTISPAM_LIST_NONE},
	    {"", "", "a@x.test", ANTISPAM_LIST_NONE},
	    {NULL, NULL, "a@x.test", ANTISPAM_LIST_NONE},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(
		    antispam_list_check(cases[i].block, cases[i].allow, cases[i].sender),
		    cases[i].want);
	assert_int_equal(antispam_sender_list(NULL, "a@x.test"), ANTISPAM_LIST_NONE);
}

static void
test_tag_subject(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"Subject: hello\r\n\r\nbody\r\n", "Subject: [SPAM] hello\r\n\r\nbody\r\n"},
	    {"From: a\r\nsubject:hello\r\n\r\nb", "From: a\r\nsubject: [SPAM] hello\r\n\r\nb"},
	    {"SUBJECT:\thi\r\n\r\n", "SUBJECT:\t[SPAM] hi\r\n\r\n"},
	    /* only the first, not a continuation nor the body */
	    {"X: a\r\n Subject: no\r\nSubject: one\r\nSubject: two\r\n\r\n",
	        "X: a\r\n Subject: no\r\nSubject: [SPAM] one\r\nSubject: two\r\n\r\n"},
	    {"From: a\r\n\r\nSubject: body\r\n",
	        "Subject: [SPAM]\r\nFrom: a\r\n\r\nSubject: body\r\n"},
	    {"", "Subject: [SPAM]\r\n"},
	    {"Subject: x", "Subject: [SPAM] x"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;

		buf_init(&b, 1000);
		buf_append_str(&b, cases[i].in);
		assert_int_equal(antispam_tag_subject(&b, "[SPAM]"), 0);
		assert_int_equal(b.len, strlen(cases[i].out));
		assert_memory_equal(b.data, cases[i].out, b.len);
		buf_fini(&b);
	}
	/* no room: unchanged */
	{
		struct buf b;

		buf_init(&b, 20);
		buf_append_str(&b, "Subject: 0123456789");
		assert_int_equal(antispam_tag_subject(&b, "[SPAM]"), MN_ETOOBIG);
		assert_int_equal(b.len, 19);
		assert_memory_equal(b.data, "Subject: 0123456789", 19);
		buf_fini(&b);
	}
}

static const char *const dir_cmds[] = {
    "domain_add a.test",
    "user_add bob@a.test",
    "user_add carol@a.test",
    "user_add dan@a.test",
    "pref user bob@a.test sender_block=foe@x.test,@spam.test sender_allow=@x.test",
    "pref user carol@a.test sender_allow=friend@spam.test",
    "pref domain a.test sender_block=@spam.test,bad@x.test",
    "contact_set bob@a.test pal@spam.test Pal",
    "contact_set dan@a.test bad@x.test Bad",
};

static void
test_rcpt_lists(void **state)
{
	static const struct {
		const char *rcpt, *sender;
		enum antispam_list want;
	} cases[] = {
	    {"bob@a.test", "foe@x.test", ANTISPAM_LIST_BLOCK},  /* user: address */
	    {"bob@a.test", "ann@x.test", ANTISPAM_LIST_ALLOW},  /* user: @domain */
	    {"bob@a.test", "bad@x.test", ANTISPAM_LIST_ALLOW},  /* the user beats the domain */
	    {"bob@a.test", "x@spam.test", ANTISPAM_LIST_BLOCK}, /* user: @domain block */
	    /* a contact does not beat the user's own block of its domain */
	    {"bob@a.test", "pal@spam.test", ANTISPAM_LIST_BLOCK},
	    {"carol@a.test", "friend@spam.test", ANTISPAM_LIST_ALLOW},
	    {"carol@a.test", "other@spam.test", ANTISPAM_LIST_BLOCK}, /* the domain's list */
	    {"carol@a.test", "bad@x.test", ANTISPAM_LIST_BLOCK},
	    {"carol@a.test", "ok@y.test", ANTISPAM_LIST_NONE},
	    {"dan@a.test", "bad@x.test", ANTISPAM_LIST_ALLOW}, /* a contact beats the domain */
	    {"dan@a.test", "BAD@x.test", ANTISPAM_LIST_ALLOW},
	    {"dan@a.test", "", ANTISPAM_LIST_NONE}, /* the null sender */
	};
	struct directory *d = *state;
	struct mn_config cfg;
	struct antispam *a = NULL;
	struct mn_err err = {0};
	uv_loop_t loop;

	uv_loop_init(&loop);
	config_defaults(&cfg);
	assert_int_equal(antispam_new(&loop, &cfg, d, &a, &err), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum antispam_list got = antispam_rcpt_list(a, cases[i].rcpt, cases[i].sender);

		if (got != cases[i].want)
			fail_msg("%s from %s: %d, want %d", cases[i].rcpt, cases[i].sender, got,
			    cases[i].want);
	}
	assert_int_equal(antispam_rcpt_list(NULL, "bob@a.test", "foe@x.test"), ANTISPAM_LIST_NONE);
	antispam_free(&a);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static int
setup(void **state)
{
	return dt_setup_script(state, dir_cmds, sizeof(dir_cmds) / sizeof(dir_cmds[0]), 1000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_list_rules),
	    cmocka_unit_test(test_tag_subject),
	    cmocka_unit_test_setup_teardown(test_rcpt_lists, setup, dt_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
