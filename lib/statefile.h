/*
 * statefile.h - small line-based state files a node keeps over a clean
 * restart (greylist triplets, login blocks): a magic first line naming the
 * format, then one record per line.
 *
 * Saving writes PATH.tmp, fsyncs it and renames it over PATH, so a crash
 * leaves the old file or the new one, never half of one. Loading skips
 * lines longer than the caller's limit (they cannot be records) and stops
 * at a file whose first line is not the magic.
 */
#ifndef MN_LIB_STATEFILE_H
#define MN_LIB_STATEFILE_H

#include <stddef.h>
#include <stdio.h>

#include "lib/err.h"

/* write the records to f (write errors are seen by statefile_save) */
typedef void (*statefile_write_fn)(FILE *f, void *arg);
/* one record (line end removed, NUL-terminated, writable) */
typedef void (*statefile_line_fn)(char *line, void *arg);

/* statefile_save - magic, then write(f, arg), durably at path. 0 or MN_EIO
 * (the temporary file removed). */
int statefile_save(
    const char *path, const char *magic, statefile_write_fn write, void *arg, struct mn_err *err);

/* statefile_load - each record line of path shorter than max_line bytes to
 * line(). 0 (also when path does not exist), MN_EPARSE when the first line
 * is not magic (nothing read), MN_EIO. */
int statefile_load(const char *path, const char *magic, size_t max_line, statefile_line_fn line,
    void *arg, struct mn_err *err);

#endif
