/*
 * test_static.c - the static file part of node/http (static.c): path
 * resolution and traversal refusals (table driven), content types, ETag
 * matching for If-None-Match.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "node/http/static.h"

static void
test_resolve_table(void **state)
{
	static const struct {
		const char *path;
		int rc;
		const char *rel;
	} cases[] = {
	    {"/", 0, "index.html"},
	    {"/app.js", 0, "app.js"},
	    {"/admin/", 0, "admin/index.html"},
	    {"/admin", 0, "admin"},
	    {"/a%20b.css", 0, "a b.css"},
	    {"/%E4%BD%A0.html", 0, "\xe4\xbd\xa0.html"},
	    {"/a..b.js", 0, "a..b.js"},
	    {"/..", MN_EINVAL, NULL},
	    {"/../etc/passwd", MN_EINVAL, NULL},
	    {"/admin/../../etc/passwd", MN_EINVAL, NULL},
	    {"/%2e%2e/etc/passwd", MN_EINVAL, NULL},
	    {"/%2E%2E%2Fetc%2Fpasswd", MN_EINVAL, NULL},
	    {"/admin/..%2f..%2fx", MN_EINVAL, NULL},
	    {"/a\\..\\b", MN_EINVAL, NULL},
	    {"/a%5c..%5cb", MN_EINVAL, NULL},
	    {"/%00", MN_EINVAL, NULL},
	    {"/%zz", MN_EINVAL, NULL},
	    {"/%", MN_EINVAL, NULL},
	    {"", MN_EINVAL, NULL},
	    {"app.js", MN_EINVAL, NULL},
	    {"/.git/config", MN_ENOENT, NULL},
	    {"/.", MN_ENOENT, NULL},
	    {"/admin/.htpasswd", MN_ENOENT, NULL},
	    {"/%2e/x", MN_ENOENT, NULL},
	    {"//etc/passwd", MN_ENOENT, NULL},
	    {"/a//b", MN_ENOENT, NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *rel = (char *)1;
		int rc = http_static_resolve(cases[i].path, strlen(cases[i].path), &rel);

		if (rc != cases[i].rc)
			fail_msg("%s: rc %d, want %d", cases[i].path, rc, cases[i].rc);
		if (cases[i].rel == NULL) {
			assert_null(rel);
		} else {
			assert_string_equal(rel, cases[i].rel);
			free(rel);
		}
	}
}

static void
test_resolve_length_limit(void **state)
{
	char path[HTTP_STATIC_MAX_PATH + 3];
	char *rel;

	(void)state;
	path[0] = '/';
	memset(path + 1, 'a', HTTP_STATIC_MAX_PATH - 1);
	path[HTTP_STATIC_MAX_PATH] = '\0';
	assert_int_equal(http_static_resolve(path, strlen(path), &rel), 0);
	free(rel);
	path[HTTP_STATIC_MAX_PATH] = 'a';
	path[HTTP_STATIC_MAX_PATH + 1] = '\0';
	assert_int_equal(http_static_resolve(path, strlen(path), &rel), MN_ENOENT);
	assert_null(rel);
}

static void
test_content_types(void **state)
{
	(void)state;
	assert_string_equal(http_static_content_type("index.html"), "text/html; charset=utf-8");
	assert_string_equal(
	    http_static_content_type("a/b/app.JS"), "text/javascript; charset=utf-8");
	assert_string_equal(http_static_content_type("x.mjs"), "text/javascript; charset=utf-8");
	assert_string_equal(http_static_content_type("style.css"), "text/css; charset=utf-8");
	assert_string_equal(http_static_content_type("i.svg"), "image/svg+xml");
	assert_string_equal(http_static_content_type("README"), "application/octet-stream");
	assert_string_equal(http_static_content_type("a.d/README"), "application/octet-stream");
	assert_string_equal(http_static_content_type("x.exe"), "application/octet-stream");
}

static void
test_etag(void **state)
{
	struct stat st;
	char e1[64], e2[64];

	(void)state;
	memset(&st, 0, sizeof(st));
	st.st_ino = 0x1234;
	st.st_size = 10;
	st.st_mtim.tv_sec = 1;
	http_static_etag(&st, e1, sizeof(e1));
	assert_string_equal(e1, "\"1234-a-3b9aca00\"");
	st.st_mtim.tv_nsec = 1;
	http_static_etag(&st, e2, sizeof(e2));
	assert_string_not_equal(e1, e2);
}

static void
test_etag_match(void **state)
{
	static const struct {
		const char *inm;
		bool match;
	} cases[] = {
	    {"\"1-2-3\"", true},
	    {"W/\"1-2-3\"", true},
	    {"\"x\", \"1-2-3\"", true},
	    {"\"x\" ,W/\"1-2-3\" ", true},
	    {"*", true},
	    {"\"1-2-4\"", false},
	    {"1-2-3", false},
	    {"", false},
	    {"\"1-2-3", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (http_static_etag_match(cases[i].inm, strlen(cases[i].inm), "\"1-2-3\"") !=
		    cases[i].match)
			fail_msg("If-None-Match %s", cases[i].inm);
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_resolve_table),
	    cmocka_unit_test(test_resolve_length_limit),
	    cmocka_unit_test(test_content_types),
	    cmocka_unit_test(test_etag),
	    cmocka_unit_test(test_etag_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
