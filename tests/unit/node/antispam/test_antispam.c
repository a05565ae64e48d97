/*
 * test_antispam.c - the sender list rules of node/antispam/antispam.c
 * (system and per-user lists): address entries before @domain entries,
 * block before allow at the same level, case, separators, the null
 * sender and NULL lists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "node/antispam/antispam.h"

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
		assert_int_equal(antispam_list_check(cases[i].block, cases[i].allow, cases[i].sender),
		    cases[i].want);
	assert_int_equal(antispam_sender_list(NULL, "a@x.test"), ANTISPAM_LIST_NONE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_list_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
