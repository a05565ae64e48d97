/*
 * test_attach.c - attachment filter decisions on small MIME messages:
 * extensions (with and without the dot, case), types with wildcards, the
 * count, RFC 2231 file names, parts inside an attached message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "node/antispam/attach.h"

#define HDR "From: a@b.test\r\nMIME-Version: 1.0\r\n"
#define MP "Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
#define TEXT "--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
#define PART(ct, disp) "--XX\r\nContent-Type: " ct "\r\n" disp "\r\nAAAA\r\n"
#define END "--XX--\r\n"

static void
test_decisions(void **state)
{
	static const struct {
		const char *ext, *types;
		uint32_t max;
		const char *msg;
		int rc;
		const char *why;
	} cases[] = {
	    /* no attachments */
	    {"exe", "video/*", 1, HDR "Content-Type: text/plain\r\n\r\nhi\r\n", 0, ""},
	    {"exe", NULL, 0,
	        HDR MP TEXT PART("application/octet-stream",
	            "Content-Disposition: attachment; filename=\"Setup.EXE\"\r\n") END,
	        1, "attachment \"Setup.EXE\" has a blocked extension (.EXE)"},
	    {".exe, .scr", NULL, 0,
	        HDR MP TEXT PART("application/octet-stream; name=x.scr", "") END, 1,
	        "attachment \"x.scr\" has a blocked extension (.scr)"},
	    {"exe", NULL, 0,
	        HDR MP TEXT PART("application/pdf",
	            "Content-Disposition: attachment; filename=\"report.pdf\"\r\n") END,
	        0, ""},
	    /* "exe" does not match "notexe" */
	    {"exe", NULL, 0,
	        HDR MP TEXT PART("application/octet-stream",
	            "Content-Disposition: attachment; filename=\"a.notexe\"\r\n") END,
	        0, ""},
	    /* RFC 2231 encoded name */
	    {"js", NULL, 0,
	        HDR MP TEXT PART("application/octet-stream",
	            "Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.js\r\n")
	            END,
	        1, "attachment \"r__sum__.js\" has a blocked extension (.js)"},
	    {NULL, "video/*, application/x-msdownload", 0,
	        HDR MP TEXT PART("video/mp4", "Content-Disposition: attachment; filename=m.mp4\r\n")
	            END,
	        1, "attachment \"m.mp4\" of type video/mp4 is blocked"},
	    {NULL, "application/x-msdownload", 0,
	        HDR MP TEXT PART("Application/X-MSDownload", "") END, 1,
	        "type application/x-msdownload is blocked"},
	    {NULL, "video/*", 0, HDR MP TEXT PART("videos/x", "") END, 0, ""},
	    /* count: two attachments, max 1 */
	    {NULL, NULL, 1,
	        HDR MP TEXT PART("image/png", "Content-Disposition: attachment; filename=a.png\r\n")
	            PART("image/png", "Content-Disposition: attachment; filename=b.png\r\n") END,
	        1, "more than 1 attachments"},
	    {NULL, NULL, 2,
	        HDR MP TEXT PART("image/png", "Content-Disposition: attachment; filename=a.png\r\n")
	            PART("image/png", "Content-Disposition: attachment\r\n") END,
	        0, ""},
	    /* inside an attached message */
	    {"exe", NULL, 0,
	        HDR MP TEXT "--XX\r\nContent-Type: message/rfc822\r\n\r\n" HDR
	                    "Content-Type: multipart/mixed; boundary=YY\r\n\r\n--YY\r\n"
	                    "Content-Type: application/octet-stream; name=in.exe\r\n\r\nAA\r\n"
	                    "--YY--\r\n" END,
	        1, "attachment \"in.exe\" has a blocked extension (.exe)"},
	};
	char why[300];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct attach_rules r = {cases[i].ext, cases[i].types, cases[i].max};

		assert_int_equal(
		    attach_check(&r, cases[i].msg, strlen(cases[i].msg), why, sizeof(why)),
		    cases[i].rc);
		assert_string_equal(why, cases[i].why);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decisions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
