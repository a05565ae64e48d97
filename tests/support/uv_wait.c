/*
 * uv_wait.c - deadline-bounded loop running for tests.
 *
 * A repeating 10 ms timer makes UV_RUN_ONCE return even when nothing else
 * happens, so the predicate and the deadline are checked regularly.
 */
#include "tests/support/uv_wait.h"

static void
tick_cb(uv_timer_t *t)
{
	(void)t;
}

static void
tick_close_cb(uv_handle_t *h)
{
	(void)h;
}

bool
uv_wait_until(uv_loop_t *loop, bool (*pred)(void *arg), void *arg, uint64_t timeout_ms)
{
	uv_timer_t tick;
	uint64_t deadline;
	bool ok;

	uv_update_time(loop);
	deadline = uv_now(loop) + timeout_ms;
	uv_timer_init(loop, &tick);
	uv_timer_start(&tick, tick_cb, 10, 10);
	while (!(ok = pred(arg)) && uv_now(loop) < deadline)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, tick_close_cb);
	uv_run(loop, UV_RUN_NOWAIT);
	return ok;
}

int
uv_wait_drain(uv_loop_t *loop, uint64_t timeout_ms)
{
	uv_timer_t tick;
	uint64_t deadline;

	uv_update_time(loop);
	deadline = uv_now(loop) + timeout_ms;
	/* Unreferenced: wakes UV_RUN_ONCE up but does not keep the loop alive. */
	uv_timer_init(loop, &tick);
	uv_timer_start(&tick, tick_cb, 10, 10);
	uv_unref((uv_handle_t *)&tick);
	while (uv_loop_alive(loop) && uv_now(loop) < deadline)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, tick_close_cb);
	uv_run(loop, UV_RUN_NOWAIT);
	return uv_loop_close(loop);
}
