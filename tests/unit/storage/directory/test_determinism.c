/*
 * test_determinism.c - the directory as a Raft state machine: the same
 * sequence of packed commands applied to fresh directories (in memory and
 * in a file) gives the same result codes and identical dumps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dir_test_util.h"

#define NCMDS 240

/* xorshift64: fixed seed, so every run makes the same command list */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static unsigned
rnd(unsigned n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state % n);
}

static const char *const domains[] = {"a.test", "b.test", "c.test"};
static const char *const locals[] = {
    "bob", "carol", "dave", "info", "staff", "team", "everyone", "x"};
static const char *const nodes[] = {"n1", "n2", "n3"};

static void
make_cmd(char *out, size_t len)
{
	char a[64], b[64];

	snprintf(a, sizeof(a), "%s@%s", locals[rnd(8)], domains[rnd(3)]);
	snprintf(
	    b, sizeof(b), "%s@%s", locals[rnd(8)], rnd(4) == 0 ? "remote.test" : domains[rnd(3)]);
	switch (rnd(20)) {
	case 0:
	case 1:
		snprintf(out, len, "domain_add %s", domains[rnd(3)]);
		break;
	case 2:
		snprintf(out, len, "domain_del %s", domains[rnd(3)]);
		break;
	case 3:
		snprintf(out, len, "dalias_add alias%u.test %s", rnd(2), domains[rnd(3)]);
		break;
	case 4:
		snprintf(out, len, "dalias_del alias%u.test", rnd(2));
		break;
	case 5:
	case 6:
	case 7:
		snprintf(out, len, "user_add %s name=U%u node=%s qb=%u flags=%u", a, rnd(100),
		    rnd(3) ? nodes[rnd(3)] : "~", rnd(5000), rnd(16));
		break;
	case 8:
		snprintf(out, len, "user_del %s", a);
		break;
	case 9:
		snprintf(out, len, "user_update %s qm=%u node=%s", a, rnd(50), nodes[rnd(3)]);
		break;
	case 10:
		snprintf(out, len, "alias_add %s %s bob@%s", a, b, domains[rnd(3)]);
		break;
	case 11:
		snprintf(out, len, "alias_del %s", a);
		break;
	case 12:
		snprintf(out, len, "group_add %s G%u", a, rnd(9));
		break;
	case 13:
		snprintf(out, len, "group_del %s", a);
		break;
	case 14:
	case 15:
		snprintf(out, len, "member_%s %s %s", rnd(4) ? "add" : "del", a, b);
		break;
	case 16:
		snprintf(out, len, "admin_%s adm%u%s%s", rnd(3) ? "add" : "del", rnd(3),
		    rnd(2) ? " domain=" : "", rnd(2) ? domains[rnd(3)] : "");
		break;
	case 17:
		snprintf(
		    out, len, "node_add %s 127.0.0.%u id=%u", nodes[rnd(3)], 1 + rnd(3), rnd(5));
		break;
	case 18:
		snprintf(out, len, "node_%s %s%s", rnd(2) ? "state" : "del", nodes[rnd(3)],
		    rnd(2) ? " draining" : " active");
		break;
	default:
		snprintf(out, len, "set key%u %s", rnd(3), rnd(3) ? "v" : "");
		break;
	}
}

static void
test_same_commands_same_dump(void **state)
{
	char tmpl[] = "/tmp/mn-dirdet-XXXXXX", path[128], line[256];
	struct directory *a = dt_open(), *b = dt_open(), *f = NULL;
	struct mn_err err = {0};
	int ok = 0;
	char *da, *db, *df;

	assert_non_null(mkdtemp(tmpl));
	snprintf(path, sizeof(path), "%s/dir.db", tmpl);
	assert_int_equal(directory_open(path, &f, &err), 0);
	for (int i = 0; i < NCMDS; i++) {
		struct mn_err ea = {0}, eb = {0}, ef = {0};
		size_t len;
		uint8_t *p;
		int ra, rb, rf;

		make_cmd(line, sizeof(line));
		/* commands carry their time; replicas apply the same bytes */
		p = dt_pack(line, 1700000000 + i, &len);
		ra = directory_apply_packed(a, p, len, &ea);
		rb = directory_apply_packed(b, p, len, &eb);
		rf = directory_apply_packed(f, p, len, &ef);
		free(p);
		if (ra != rb || ra != rf || strcmp(ea.msg, eb.msg) != 0)
			fail_msg("step %d \"%s\": %d/%d/%d", i, line, ra, rb, rf);
		ok += ra == 0;
	}
	da = directory_dump(a);
	db = directory_dump(b);
	df = directory_dump(f);
	assert_string_equal(da, db);
	assert_string_equal(da, df);
	/* the sequence did real work, not only errors */
	assert_true(ok > 60);
	assert_non_null(strstr(da, "users|"));
	assert_non_null(strstr(da, "group_members|"));
	assert_non_null(strstr(da, "alias_targets|"));
	free(da);
	free(db);
	free(df);
	directory_close(&a);
	directory_close(&b);
	directory_close(&f);
	snprintf(line, sizeof(line), "rm -rf '%s'", tmpl);
	assert_int_equal(system(line), 0);
}

/* A snapshot of one replica restored into another (file-backed, with
 * different content) gives an identical dump; commands applied after the
 * restore keep both identical; a bad snapshot changes nothing. */
static void
test_snapshot_restore(void **state)
{
	char tmpl[] = "/tmp/mn-dirsnap-XXXXXX", path[128], line[256];
	struct directory *a = dt_open(), *f = NULL;
	struct mn_err err = {0};
	uint8_t *snap;
	size_t len;
	char *da, *df;

	assert_non_null(mkdtemp(tmpl));
	snprintf(path, sizeof(path), "%s/dir.db", tmpl);
	assert_int_equal(directory_open(path, &f, &err), 0);
	assert_int_equal(dt_apply(f, "domain_add other.test", &err), 0);
	for (int i = 0; i < 120; i++) {
		make_cmd(line, sizeof(line));
		(void)dt_apply_at(a, line, 1700000000 + i, &err);
	}
	assert_int_equal(directory_snapshot(a, &snap, &len, &err), 0);
	assert_true(len > 0);
	assert_int_equal(directory_restore(f, snap, len, &err), 0);
	da = directory_dump(a);
	df = directory_dump(f);
	assert_string_equal(da, df);
	free(da);
	free(df);
	/* both go on identically */
	for (int i = 0; i < 60; i++) {
		struct mn_err ea = {0}, ef = {0};

		make_cmd(line, sizeof(line));
		assert_int_equal(dt_apply_at(a, line, 1800000000 + i, &ea),
		    dt_apply_at(f, line, 1800000000 + i, &ef));
	}
	da = directory_dump(a);
	df = directory_dump(f);
	assert_string_equal(da, df);
	free(da);
	/* damaged snapshots are refused and leave the directory alone */
	snap[len / 2] ^= 0xff;
	snap[100] ^= 0xff;
	assert_int_not_equal(directory_restore(f, snap, len, &err), 0);
	assert_int_equal(directory_restore(f, (const uint8_t *)"nonsense", 8, &err), MN_EPARSE);
	assert_int_equal(directory_restore(f, snap, 0, &err), MN_EPARSE);
	da = directory_dump(f);
	assert_string_equal(da, df);
	free(da);
	free(df);
	free(snap);
	/* the file still works after a reopen */
	directory_close(&f);
	assert_int_equal(directory_open(path, &f, &err), 0);
	assert_int_equal(dt_apply(f, "domain_add later.test", &err), 0);
	directory_close(&f);
	directory_close(&a);
	snprintf(line, sizeof(line), "rm -rf '%s'", tmpl);
	assert_int_equal(system(line), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_commands_same_dump),
	    cmocka_unit_test(test_snapshot_restore),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
