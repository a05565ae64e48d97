/*
 * uv_wait.h - run a libuv loop in tests until a condition holds or a
 * deadline passes (no sleeps: the loop polls with a deadline, HELPERS.md).
 */
#ifndef MN_TESTS_SUPPORT_UV_WAIT_H
#define MN_TESTS_SUPPORT_UV_WAIT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* uv_wait_until - run `loop` until pred(arg) is true (checked after every
 * loop iteration) or timeout_ms passed; returns pred's final value. */
bool uv_wait_until(uv_loop_t *loop, bool (*pred)(void *arg), void *arg, uint64_t timeout_ms);

/* uv_wait_drain - run the loop until nothing is active (all handles closed)
 * or timeout_ms; returns uv_loop_close()'s result (0: loop clean). */
int uv_wait_drain(uv_loop_t *loop, uint64_t timeout_ms);

#endif
