/*
 * test_router.c - admin API router pieces: path splitting and %-decoding,
 * route patterns, Basic credentials, MN_E code -> HTTP status.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "node/admin/route.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void
test_split_path_table(void **state)
{
	static const struct {
		const char *path;
		int rc;
		size_t n;
		const char *segs[5];
	} cases[] = {
	    {"/api/v1", 0, 0, {NULL}},
	    {"/api/v1/", 0, 0, {NULL}},
	    {"/api/v1/users", 0, 1, {"users"}},
	    {"/api/v1/users/", 0, 1, {"users"}},
	    {"/api/v1/users/bob@a.test", 0, 2, {"users", "bob@a.test"}},
	    {"/api/v1/users/bob%40a.test/move", 0, 3, {"users", "bob@a.test", "move"}},
	    {"/api/v1/users/bob%40A.TEST", 0, 2, {"users", "bob@A.TEST"}},
	    {"/api/v1/a%2Fb", 0, 1, {"a/b"}},
	    {"/api/v1/a+b", 0, 1, {"a+b"}},
	    {"/api/v1/groups/g%40a.test/members/x%40b.test", 0, 4,
	        {"groups", "g@a.test", "members", "x@b.test"}},
	    {"/api/v1/%4", MN_EINVAL, 0, {NULL}},
	    {"/api/v1/%", MN_EINVAL, 0, {NULL}},
	    {"/api/v1/%zz", MN_EINVAL, 0, {NULL}},
	    {"/api/v1/a%00b", MN_EINVAL, 0, {NULL}},
	    {"/api/v1//users", MN_ENOENT, 0, {NULL}},
	    {"/api/v1/users//x", MN_ENOENT, 0, {NULL}},
	    {"/api/v10/users", MN_ENOENT, 0, {NULL}},
	    {"/api/v", MN_ENOENT, 0, {NULL}},
	    {"/", MN_ENOENT, 0, {NULL}},
	    {"/api/v1/a/b/c/d/e/f/g/h", 0, 8, {"a", "b", "c", "d", "e"}},
	    {"/api/v1/a/b/c/d/e/f/g/h/i", MN_ETOOBIG, 0, {NULL}},
	};

	for (size_t i = 0; i < N(cases); i++) {
		char *segs[API_MAX_SEGMENTS];
		size_t n = 99;
		int rc;

		rc = api_split_path(
		    cases[i].path, strlen(cases[i].path), segs, API_MAX_SEGMENTS, &n);
		if (rc != cases[i].rc)
			fail_msg("%s: rc %d, want %d", cases[i].path, rc, cases[i].rc);
		if (rc != 0) {
			assert_int_equal(n, 0);
			continue;
		}
		assert_int_equal(n, cases[i].n);
		for (size_t k = 0; k < n && k < 5 && cases[i].segs[k]; k++)
			assert_string_equal(segs[k], cases[i].segs[k]);
		api_segments_free(segs, n);
	}
}

static void
test_split_path_segment_limit(void **state)
{
	char path[4096], *segs[API_MAX_SEGMENTS];
	size_t n;

	/* exactly API_MAX_SEGMENT decoded bytes: accepted; one more: refused */
	strcpy(path, "/api/v1/");
	memset(path + 8, 'x', API_MAX_SEGMENT);
	path[8 + API_MAX_SEGMENT] = '\0';
	assert_int_equal(api_split_path(path, strlen(path), segs, API_MAX_SEGMENTS, &n), 0);
	assert_int_equal(strlen(segs[0]), API_MAX_SEGMENT);
	api_segments_free(segs, n);
	strcat(path, "x");
	assert_int_equal(
	    api_split_path(path, strlen(path), segs, API_MAX_SEGMENTS, &n), MN_ETOOBIG);
	/* the raw path is not NUL-terminated at len: only len bytes count */
	assert_int_equal(api_split_path("/api/v1/usersXYZ", 13, segs, API_MAX_SEGMENTS, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(segs[0], "users");
	api_segments_free(segs, n);
}

static void
test_pattern_match_table(void **state)
{
	static const struct {
		const char *pattern;
		const char *segs[4];
		size_t n;
		bool match;
	} cases[] = {
	    {"users", {"users"}, 1, true},
	    {"users", {"users", "x"}, 2, false},
	    {"users/*", {"users", "bob@a.test"}, 2, true},
	    {"users/*", {"users"}, 1, false},
	    {"users/*/move", {"users", "b", "move"}, 3, true},
	    {"users/*/move", {"users", "b", "mov"}, 3, false},
	    {"users/*/move", {"users", "b", "moves"}, 3, false},
	    {"domains/*/aliases/*", {"domains", "a", "aliases", "b"}, 4, true},
	    {"status", {"statu"}, 1, false},
	    {"status", {NULL}, 0, false},
	};

	for (size_t i = 0; i < N(cases); i++) {
		char *segs[4];

		for (size_t k = 0; k < 4; k++)
			segs[k] = (char *)cases[i].segs[k];
		if (api_pattern_match(cases[i].pattern, segs, cases[i].n) != cases[i].match)
			fail_msg("case %zu (%s) wrong", i, cases[i].pattern);
	}
}

static void
test_status_for_code_table(void **state)
{
	static const struct {
		int code, status;
	} cases[] = {
	    {0, 200},
	    {MN_EINVAL, 400},
	    {MN_EPARSE, 400},
	    {MN_ENOENT, 404},
	    {MN_EEXIST, 409},
	    {MN_ECONFLICT, 409},
	    {MN_EPERM, 403},
	    {MN_EAUTH, 401},
	    {MN_ENOLEADER, 503},
	    {MN_ECLOSED, 503},
	    {MN_ETOOBIG, 413},
	    {MN_EDB, 500},
	    {MN_EIO, 500},
	};

	for (size_t i = 0; i < N(cases); i++)
		assert_int_equal(api_status_for_code(cases[i].code), cases[i].status);
}

static void
test_method_parse(void **state)
{
	assert_int_equal(api_method_parse("GET", 3), API_GET);
	assert_int_equal(api_method_parse("POST", 4), API_POST);
	assert_int_equal(api_method_parse("PATCH", 5), API_PATCH);
	assert_int_equal(api_method_parse("DELETE", 6), API_DELETE);
	assert_int_equal(api_method_parse("get", 3), API_OTHER); /* RFC 9110 §9.1: case-sensitive */
	assert_int_equal(api_method_parse("GETX", 4), API_OTHER);
	assert_int_equal(api_method_parse("GE", 2), API_OTHER);
}

static void
test_parse_basic_table(void **state)
{
	static const struct {
		const char *header;
		int rc;
		const char *user, *pass;
	} cases[] = {
	    {"Basic YWRtaW46c2VjcmV0", 0, "admin", "secret"}, /* admin:secret */
	    {"basic YWRtaW46c2VjcmV0", 0, "admin", "secret"},
	    {"Basic   YWRtaW46c2VjcmV0  ", 0, "admin", "secret"},
	    {"Basic YTpiOmM=", 0, "a", "b:c"},                 /* a:b:c */
	    {"Basic YTo=", 0, "a", ""},                        /* a: */
	    {"Basic Og==", 0, "", ""},                         /* : */
	    {"Basic YWRtaW4=", MN_EAUTH, NULL, NULL},          /* no colon */
	    {"Basic YWRtaW46c2VjcmV0=", MN_EAUTH, NULL, NULL}, /* bad length */
	    {"Basic YW=taW46c2VjcmV0", MN_EAUTH, NULL, NULL},  /* = inside */
	    {"Basic YT0=YQ==", MN_EAUTH, NULL, NULL},
	    {"Basic YWJ=Yw==", MN_EAUTH, NULL, NULL},
	    {"Basic YQBiOmM=", MN_EAUTH, NULL, NULL}, /* NUL inside */
	    {"Basic ****", MN_EAUTH, NULL, NULL},
	    {"Bearer abc", MN_EAUTH, NULL, NULL},
	    {"Basic", MN_EAUTH, NULL, NULL},
	    {"Basic ", MN_EAUTH, NULL, NULL},
	    {"", MN_EAUTH, NULL, NULL},
	};

	for (size_t i = 0; i < N(cases); i++) {
		char *u = NULL, *p = NULL;
		int rc = api_parse_basic(cases[i].header, strlen(cases[i].header), &u, &p);

		if (rc != cases[i].rc)
			fail_msg("\"%s\": rc %d want %d", cases[i].header, rc, cases[i].rc);
		if (rc == 0) {
			assert_string_equal(u, cases[i].user);
			assert_string_equal(p, cases[i].pass);
		} else {
			assert_null(u);
			assert_null(p);
		}
		free(u);
		free(p);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split_path_table),
	    cmocka_unit_test(test_split_path_segment_limit),
	    cmocka_unit_test(test_pattern_match_table),
	    cmocka_unit_test(test_status_for_code_table),
	    cmocka_unit_test(test_method_parse),
	    cmocka_unit_test(test_parse_basic_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
