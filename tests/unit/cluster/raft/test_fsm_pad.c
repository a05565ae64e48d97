/*
 * test_fsm_pad.c - raft_uv needs entries that are multiples of 8 bytes
 * long (a closed segment with odd lengths is declared corrupt at the next
 * start): dir_fsm_pad makes them so with a protobuf field that unpacking
 * skips, for every remainder, and the padded bytes unpack to the same
 * command.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cluster/raft/fsm.h"

static void
test_pad_every_remainder(void **state)
{
	for (size_t n = 1; n <= 24; n++) {
		Mailnode__DirectoryCommand cmd = MAILNODE__DIRECTORY_COMMAND__INIT, *back;
		Mailnode__DomainAdd m = MAILNODE__DOMAIN_ADD__INIT;
		char name[64];
		uint8_t a[128], b[128];
		size_t len, pad, len2;

		memset(name, 'a', n);
		name[n] = '\0';
		m.name = name;
		cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_ADD;
		cmd.domain_add = &m;
		len = mailnode__directory_command__pack(&cmd, a);
		pad = dir_fsm_pad(a + len, len);
		assert_true(pad <= 10);
		assert_int_equal((len + pad) % 8, 0);
		if (len % 8 == 0)
			assert_int_equal(pad, 0);
		back = mailnode__directory_command__unpack(NULL, len + pad, a);
		assert_non_null(back);
		assert_int_equal(back->cmd_case, MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_ADD);
		assert_string_equal(back->domain_add->name, name);
		/* the padding is kept as one unknown field and packs back as is */
		assert_int_equal(back->base.n_unknown_fields, pad ? 1 : 0);
		len2 = mailnode__directory_command__pack(back, b);
		assert_int_equal(len2, len + pad);
		assert_memory_equal(a, b, len + pad);
		mailnode__directory_command__free_unpacked(back, NULL);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pad_every_remainder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
