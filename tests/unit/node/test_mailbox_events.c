/*
 * test_mailbox_events.c - the change hub: who is called, origin skipped,
 * case-insensitive users, unwatch from inside a callback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "node/mailbox_events.h"

struct watcher {
	int calls;
	struct mailbox_watch *w;
	struct mailbox_watch **victim; /* unwatched by the callback */
};

static void
count_cb(void *arg)
{
	struct watcher *x = arg;

	x->calls++;
	if (x->victim != NULL)
		mailbox_events_unwatch(x->victim);
}

static void
test_notify_reaches_the_users_watchers_except_origin(void **state)
{
	struct watcher a = {0}, b = {0}, c = {0};

	(void)state;
	a.w = mailbox_events_watch("alice@a.test", count_cb, &a);
	b.w = mailbox_events_watch("alice@a.test", count_cb, &b);
	c.w = mailbox_events_watch("bob@a.test", count_cb, &c);
	mailbox_events_notify("alice@a.test", NULL);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_int_equal(c.calls, 0);
	mailbox_events_notify("ALICE@a.test", a.w);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 2);
	mailbox_events_notify("nobody@a.test", NULL);
	mailbox_events_unwatch(&b.w);
	assert_null(b.w);
	mailbox_events_notify("alice@a.test", NULL);
	assert_int_equal(a.calls, 2);
	assert_int_equal(b.calls, 2);
	mailbox_events_unwatch(&a.w);
	mailbox_events_unwatch(&c.w);
	mailbox_events_unwatch(&c.w); /* NULL is fine */
}

static void
test_unwatch_inside_a_callback(void **state)
{
	struct watcher a = {0}, b = {0};

	(void)state;
	a.w = mailbox_events_watch("u@a.test", count_cb, &a);
	b.w = mailbox_events_watch("u@a.test", count_cb, &b);
	/* whichever runs first removes b; b must then not be called */
	a.victim = &b.w;
	b.victim = &b.w;
	mailbox_events_notify("u@a.test", NULL);
	assert_null(b.w);
	assert_int_equal(a.calls + b.calls >= 1, 1);
	a.victim = NULL;
	mailbox_events_notify("u@a.test", NULL);
	assert_int_equal(b.calls <= 1, 1);
	mailbox_events_unwatch(&a.w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_notify_reaches_the_users_watchers_except_origin),
	    cmocka_unit_test(test_unwatch_inside_a_callback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
