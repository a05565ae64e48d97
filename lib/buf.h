/*
 * buf.h - growable byte buffers with a hard maximum, and slices.
 *
 * A struct buf refuses to grow past `max` (MN_ETOOBIG): every buffer that
 * holds client input has a limit. A struct slice is a non-owning view
 * (pointer + length) into some buffer; parsers return slices, not copies.
 * Data is NUL-terminated only when buf_cstr() is asked for.
 */
#ifndef MN_LIB_BUF_H
#define MN_LIB_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max; /* 0: unlimited (only for trusted, internal data) */
};

struct slice {
	const char *ptr;
	size_t len;
};

#define SLICE_LIT(s) ((struct slice){(s), sizeof(s) - 1})

void buf_init(struct buf *b, size_t max);
void buf_fini(struct buf *b);
void buf_reset(struct buf *b);
/* buf_reserve - make room for n more bytes; MN_ETOOBIG past max. */
int buf_reserve(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *data, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* buf_consume - drop the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* buf_cstr - NUL-terminate (not counted in len) and return the data. */
const char *buf_cstr(struct buf *b);
/* buf_steal - hand the NUL-terminated data to the caller and reset. */
char *buf_steal(struct buf *b, size_t *len_out);

struct slice slice_from_cstr(const char *s);
bool slice_eq(struct slice a, struct slice b);
bool slice_eq_nocase(struct slice a, const char *s);
bool slice_starts_nocase(struct slice a, const char *prefix);
struct slice slice_trim(struct slice s);
/* slice_dup - newly allocated NUL-terminated copy. */
char *slice_dup(struct slice s);

/* Locate a CRLF-or-LF terminated line at the start of data; returns the
 * length of the line without terminator in *line_len and total bytes
 * including the terminator, or 0 when no full line is present. */
size_t find_line(const uint8_t *data, size_t len, size_t *line_len);

/* Case-insensitive ASCII helpers (locale independent). */
int ascii_casecmp(const char *a, const char *b);
int ascii_ncasecmp(const char *a, const char *b, size_t n);
void ascii_lower(char *s);

/* Parse a size with optional K/M/G suffix (powers of 1024). */
int parse_size(const char *s, uint64_t *out);
/* Parse a decimal unsigned integer with range check. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
