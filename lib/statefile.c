/*
 * statefile.c - write-fsync-rename saving and line-wise loading of the
 * state files described in statefile.h.
 */
#include "lib/statefile.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/xalloc.h"

int
statefile_save(
    const char *path, const char *magic, statefile_write_fn write, void *arg, struct mn_err *err)
{
	char *tmp = xasprintf("%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	int rc = 0;

	if (f == NULL) {
		rc = mn_err_set(err, MN_EIO, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return rc;
	}
	fprintf(f, "%s\n", magic);
	write(f, arg);
	if (ferror(f) || fflush(f) != 0 || fsync(fileno(f)) != 0)
		rc = mn_err_set(err, MN_EIO, "%s: %s", tmp, strerror(errno));
	if (fclose(f) != 0 && rc == 0)
		rc = mn_err_set(err, MN_EIO, "%s: %s", tmp, strerror(errno));
	if (rc == 0 && rename(tmp, path) != 0)
		rc = mn_err_set(err, MN_EIO, "%s: %s", path, strerror(errno));
	if (rc != 0)
		(void)unlink(tmp);
	free(tmp);
	return rc;
}

int
statefile_load(const char *path, const char *magic, size_t max_line, statefile_line_fn line,
    void *arg, struct mn_err *err)
{
	FILE *f = fopen(path, "r");
	char *buf;
	bool first = true, skipping = false;
	int rc = 0;

	if (f == NULL)
		return errno == ENOENT ? 0
		                       : mn_err_set(err, MN_EIO, "%s: %s", path, strerror(errno));
	buf = xmalloc(max_line + 1);
	while (fgets(buf, (int)max_line + 1, f) != NULL) {
		size_t len = strlen(buf);
		bool whole = len > 0 && buf[len - 1] == '\n';

		if (skipping || !whole) { /* an over-long line, skipped to its end */
			skipping = !whole;
			continue;
		}
		buf[len - 1] = '\0';
		if (first) {
			first = false;
			if (strcmp(buf, magic) != 0) {
				rc = mn_err_set(err, MN_EPARSE, "%s: not a %s file", path, magic);
				break;
			}
			continue;
		}
		line(buf, arg);
	}
	fclose(f);
	free(buf);
	return rc;
}
