/*
 * mailctl.h - internal interfaces of the `mailctl` administration client
 * (SPEC §6, API contract in API_CONTRACT.md / docs/api.md).
 *
 * mailctl.c parses the command line (global options anywhere) and finds the
 * command; commands.c holds the command table and turns each command into
 * one or more API requests; http_client.c speaks HTTP(S) through libcurl;
 * output.c prints tables and values for humans. Nothing here is shared with
 * the daemon: mailctl only knows the JSON API.
 */
#ifndef MN_MAILCTL_H
#define MN_MAILCTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/buf.h"
#include "lib/err.h"

/* Exit codes (SPEC §6): 0 success, 1 the request failed, 2 usage. */
enum mailctl_exit {
	MAILCTL_EXIT_OK = 0,
	MAILCTL_EXIT_FAIL = 1,
	MAILCTL_EXIT_USAGE = 2,
};

/* Largest response body accepted; a directory listing of a big site fits. */
#define MAILCTL_MAX_RESPONSE (64 * 1024 * 1024)
#define MAILCTL_MAX_OPTS 8

/* --- http_client.c ---------------------------------------------------------- */

struct mailctl_client {
	const char *server; /* base URL without trailing '/' */
	const char *user;
	const char *password; /* NULL: no credentials are sent */
	const char *cacert;   /* NULL: system CAs */
	bool insecure;        /* skip TLS peer and host verification */
	long timeout_s;       /* 0: none (blocking commands) */
};

struct mailctl_response {
	long status;     /* HTTP status */
	struct buf body; /* raw body as received */
	json_t *json;    /* parsed body, NULL if empty or not JSON */
};

/* mailctl_request - send METHOD base/api/v1PATH with an optional JSON body
 * (not stolen). Returns 0 when an HTTP response arrived (whatever its
 * status), MN_EIO with err->msg describing the transport failure otherwise.
 * The caller frees resp with mailctl_response_fini. */
int mailctl_request(const struct mailctl_client *c, const char *method, const char *path,
    json_t *body, struct mailctl_response *resp, struct mn_err *err);
void mailctl_response_fini(struct mailctl_response *resp);

/* mailctl_path_append - append `seg` %-encoded (RFC 3986 unreserved kept)
 * to b; used for path segments and query values. */
void mailctl_path_append(struct buf *b, const char *seg);

/* --- output.c --------------------------------------------------------------- */

struct mailctl_table;

struct mailctl_table *mailctl_table_new(size_t ncols, const char *const *headers);
/* mailctl_table_add - one row of ncols strings (copied; NULL prints "-"). */
void mailctl_table_add(struct mailctl_table *t, const char *const *cells);
/* mailctl_table_print - columns padded to their widest cell, two spaces
 * apart, no trailing blanks; then frees the table. */
void mailctl_table_print(struct mailctl_table **t, FILE *out);

/* mailctl_fmt_size - bytes as "100M"/"1536K"/"1234" (exact K/M/G only). */
void mailctl_fmt_size(uint64_t bytes, char *out, size_t outlen);
/* mailctl_json_str - string member or NULL when absent/not a string. */
const char *mailctl_json_str(const json_t *obj, const char *key);
/* mailctl_json_text - any scalar member as text ("-" when absent/null);
 * returns a newly allocated string. */
char *mailctl_json_text(const json_t *obj, const char *key);
/* mailctl_json_time - a timestamp member (integer Unix seconds, or a string
 * passed through) as "2026-11-28T02:09:08Z"; `none` when absent, null or 0.
 * Newly allocated. */
char *mailctl_json_time(const json_t *obj, const char *key, const char *none);
/* mailctl_json_join - array of strings joined with sep, newly allocated. */
char *mailctl_json_join(const json_t *arr, const char *sep);

/* --- commands.c ------------------------------------------------------------- */

struct mailctl_opt {
	const char *name; /* without the leading "--" */
	const char *value;
};

struct mailctl_invocation {
	struct mailctl_client client;
	bool json;   /* --json: print the API's JSON exactly */
	char **args; /* positional arguments after the command words */
	size_t nargs;
	struct mailctl_opt opts[MAILCTL_MAX_OPTS]; /* command options */
	size_t nopts;
};

struct mailctl_command {
	const char *words;         /* "domain alias add" */
	size_t min_args, max_args; /* SIZE_MAX: unbounded */
	const char *opts;          /* allowed command options, space separated */
	const char *usage;         /* argument synopsis */
	bool blocking;             /* no request timeout (user move, node drain) */
	int (*run)(struct mailctl_invocation *inv);
};

extern const struct mailctl_command mailctl_commands[];

/* mailctl_command_find - the command whose words start words[0..nwords),
 * longest match; *used_out is the number of words it takes. */
const struct mailctl_command *mailctl_command_find(
    char *const *words, size_t nwords, size_t *used_out);
/* mailctl_command_has_opt - whether the command accepts --name. */
bool mailctl_command_has_opt(const struct mailctl_command *cmd, const char *name);
const char *mailctl_opt_get(const struct mailctl_invocation *inv, const char *name);

void mailctl_usage(FILE *out);
/* mailctl_fail - "mailctl: REASON" on stderr; returns MAILCTL_EXIT_FAIL. */
int mailctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* mailctl_usage_error - message, usage text, returns MAILCTL_EXIT_USAGE. */
int mailctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
