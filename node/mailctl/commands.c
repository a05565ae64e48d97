/*
 * commands.c - the mailctl command table (SPEC §6) and what each command
 * asks of the admin API (docs/api.md).
 *
 * Each command is one row: its words, how many arguments it takes, which
 * --options it allows, and a run function. A run function builds the
 * request, and on success prints either the API's JSON exactly (--json) or
 * a short human form; on failure it prints "mailctl: REASON" where REASON is
 * the API's {"error"} text. Writes are confirmed by the API only once they
 * are applied, so a printed confirmation means the change is visible.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/xalloc.h"
#include "node/mailctl/mailctl.h"

/* Page size for listings; a page shorter than this is the last one. The
 * user list asks for the mail store figures (usage=1), which the API
 * serves 200 users at a time (API_USAGE_MAX_PAGE). */
#define USER_PAGE 200
/* Upper bound on pages so a server that ignores offset cannot loop us. */
#define USER_MAX_PAGES 10000

int
mailctl_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("mailctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return MAILCTL_EXIT_FAIL;
}

int
mailctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mailctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n\n", stderr);
	mailctl_usage(stderr);
	return MAILCTL_EXIT_USAGE;
}

const char *
mailctl_opt_get(const struct mailctl_invocation *inv, const char *name)
{
	size_t i;

	for (i = 0; i < inv->nopts; i++)
		if (strcmp(inv->opts[i].name, name) == 0)
			return inv->opts[i].value;
	return NULL;
}

/* --- request helpers ---------------------------------------------------------- */

/* Build "/a/b%40c/..." from literal parts (odd positions are %-encoded
 * values): path("/users/", addr, "/move", NULL). Literals start with '/'. */
static char *
path_build(const char *first, ...)
{
	struct buf b;
	const char *part;
	bool literal = true;
	va_list ap;

	buf_init(&b, 0);
	va_start(ap, first);
	for (part = first; part != NULL; part = va_arg(ap, const char *)) {
		if (literal)
			(void)buf_append_str(&b, part);
		else
			mailctl_path_append(&b, part);
		literal = !literal;
	}
	va_end(ap);
	return buf_steal(&b, NULL);
}

/* Print the API's reason for a failed request. */
static int
fail_response(const struct mailctl_invocation *inv, const struct mailctl_response *resp)
{
	const char *reason = mailctl_json_str(resp->json, "error");

	if (reason == NULL)
		return mailctl_fail("server answered HTTP %ld", resp->status);
	if (resp->status == 401 && inv->client.password == NULL)
		return mailctl_fail(
		    "%s (no password given: use --password or MAILCTL_PASSWORD)", reason);
	return mailctl_fail("%s", reason);
}

/* Send a request; 0 with *resp filled when the API answered 2xx, else the
 * error is printed and the exit code returned (resp already released). */
static int
call(struct mailctl_invocation *inv, const char *method, char *path, json_t *body,
    struct mailctl_response *resp)
{
	struct mn_err err = {0};
	int rc;

	rc = mailctl_request(&inv->client, method, path, body, resp, &err);
	free(path);
	if (body != NULL)
		json_decref(body);
	if (rc != 0) {
		mailctl_response_fini(resp);
		return mailctl_fail("%s", err.msg);
	}
	if (resp->status < 200 || resp->status > 299) {
		rc = fail_response(inv, resp);
		mailctl_response_fini(resp);
		return rc;
	}
	return 0;
}

/* --json: the body exactly as the API sent it (nothing for 204). */
static void
print_raw(const struct mailctl_response *resp)
{
	if (resp->body.len == 0)
		return;
	fwrite(resp->body.data, 1, resp->body.len, stdout);
	if (resp->body.data[resp->body.len - 1] != '\n')
		fputc('\n', stdout);
}

/* Run a request whose human output is a fixed confirmation line. */
static int simple(struct mailctl_invocation *inv, const char *method, char *path, json_t *body,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
simple(struct mailctl_invocation *inv, const char *method, char *path, json_t *body,
    const char *fmt, ...)
{
	struct mailctl_response resp;
	va_list ap;
	int rc;

	rc = call(inv, method, path, body, &resp);
	if (rc != 0)
		return rc;
	if (inv->json) {
		print_raw(&resp);
	} else {
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		putchar('\n');
	}
	mailctl_response_fini(&resp);
	return 0;
}

/* The response must be a JSON value of the expected kind for human output. */
static int
need_json(const struct mailctl_response *resp, bool array)
{
	if (array ? !json_is_array(resp->json) : !json_is_object(resp->json))
		return mailctl_fail(
		    "unexpected answer from server (not a JSON %s)", array ? "array" : "object");
	return 0;
}

/* Run a request whose human output is rendered from its JSON answer (an
 * array or an object); --json prints the answer as it came. */
static int
show(struct mailctl_invocation *inv, const char *method, char *path, json_t *body, bool array,
    int (*render)(struct mailctl_invocation *inv, json_t *json))
{
	struct mailctl_response resp;
	int rc;

	rc = call(inv, method, path, body, &resp);
	if (rc != 0)
		return rc;
	if (inv->json)
		print_raw(&resp);
	else if ((rc = need_json(&resp, array)) == 0)
		rc = render(inv, resp.json);
	mailctl_response_fini(&resp);
	return rc;
}

static char *
size_text(const json_t *obj, const char *key, const char *zero)
{
	json_t *v = json_object_get(obj, key);
	char tmp[32];

	if (!json_is_integer(v))
		return mailctl_json_text(obj, key);
	if (json_integer_value(v) <= 0)
		return xstrdup(zero);
	mailctl_fmt_size((uint64_t)json_integer_value(v), tmp, sizeof(tmp));
	return xstrdup(tmp);
}

/* Parse --quota-like sizes here so a typo is a usage error, not a 400. */
static int
opt_size(const struct mailctl_invocation *inv, const char *name, json_t *obj, const char *key)
{
	const char *v = mailctl_opt_get(inv, name);
	uint64_t n;

	if (v == NULL)
		return 0;
	if (parse_size(v, &n) != 0 || n > INT64_MAX)
		return mailctl_usage_error("--%s: bad size '%s' (bytes, or with K/M/G)", name, v);
	json_object_set_new(obj, key, json_integer((json_int_t)n));
	return 0;
}

/* --- domain ------------------------------------------------------------------- */

static int
cmd_domain_add(struct mailctl_invocation *inv)
{
	json_t *body = json_pack("{s:s}", "name", inv->args[0]);

	return simple(inv, "POST", xstrdup("/domains"), body, "domain %s added", inv->args[0]);
}

static int
cmd_domain_del(struct mailctl_invocation *inv)
{
	return simple(inv, "DELETE", path_build("/domains/", inv->args[0], NULL), NULL,
	    "domain %s deleted", inv->args[0]);
}

static int
render_domain_dkim(struct mailctl_invocation *inv, json_t *json)
{
	const char *txt = mailctl_json_str(json, "dns_txt");
	const char *name = mailctl_json_str(json, "dns_name");

	printf("DKIM key of %s made (%s, selector %s). Publish this DNS record:\n", inv->args[0],
	    mailctl_json_str(json, "algorithm"), mailctl_json_str(json, "selector"));
	printf("%s. IN TXT (", name ? name : "?");
	for (size_t i = 0, n = txt ? strlen(txt) : 0; i < n; i += 255)
		printf(" \"%.*s\"", (int)(n - i > 255 ? 255 : n - i), txt + i);
	printf(" )\n");
	return 0;
}

/* Make (or replace) the domain's DKIM key and print the DNS record to
 * publish, split in strings of at most 255 bytes (RFC 1035 §3.3.14). */
static int
cmd_domain_dkim(struct mailctl_invocation *inv)
{
	const char *sel = mailctl_opt_get(inv, "selector");
	const char *alg = mailctl_opt_get(inv, "algorithm");
	json_t *body = json_object();

	if (sel != NULL)
		json_object_set_new(body, "selector", json_string(sel));
	if (alg != NULL)
		json_object_set_new(body, "algorithm", json_string(alg));
	return show(inv, "POST", path_build("/domains/", inv->args[0], "/dkim", NULL), body, false,
	    render_domain_dkim);
}

static void
print_domain_row(struct mailctl_table *t, const json_t *d)
{
	char *users = mailctl_json_text(d, "users");
	char *aliases = mailctl_json_join(json_object_get(d, "aliases"), ",");
	char *created = mailctl_json_time(d, "created_at", "-");
	const char *row[] = {mailctl_json_str(d, "name"), users, aliases, created};

	mailctl_table_add(t, row);
	free(users);
	free(aliases);
	free(created);
}

static const char *const domain_cols[] = {"DOMAIN", "USERS", "ALIASES", "CREATED"};

static int
render_domain_list(struct mailctl_invocation *inv, json_t *json)
{
	struct mailctl_table *t;
	size_t i;

	(void)inv;
	t = mailctl_table_new(4, domain_cols);
	for (i = 0; i < json_array_size(json); i++)
		print_domain_row(t, json_array_get(json, i));
	mailctl_table_print(&t, stdout);
	return 0;
}

static int
cmd_domain_list(struct mailctl_invocation *inv)
{
	return show(inv, "GET", xstrdup("/domains"), NULL, true, render_domain_list);
}

static int
render_domain_show(struct mailctl_invocation *inv, json_t *json)
{
	struct mailctl_table *t;

	(void)inv;
	t = mailctl_table_new(4, domain_cols);
	print_domain_row(t, json);
	mailctl_table_print(&t, stdout);
	return 0;
}

static int
cmd_domain_show(struct mailctl_invocation *inv)
{
	return show(inv, "GET", path_build("/domains/", inv->args[0], NULL), NULL, false,
	    render_domain_show);
}

static int
cmd_domain_alias_add(struct mailctl_invocation *inv)
{
	json_t *body = json_pack("{s:s}", "alias", inv->args[1]);

	return simple(inv, "POST", path_build("/domains/", inv->args[0], "/aliases", NULL), body,
	    "domain alias %s -> %s added", inv->args[1], inv->args[0]);
}

static int
cmd_domain_alias_del(struct mailctl_invocation *inv)
{
	return simple(inv, "DELETE",
	    path_build("/domains/", inv->args[0], "/aliases/", inv->args[1], NULL), NULL,
	    "domain alias %s deleted", inv->args[1]);
}

/* --- user --------------------------------------------------------------------- */

static int
cmd_user_add(struct mailctl_invocation *inv)
{
	const char *password = mailctl_opt_get(inv, "password");
	const char *v;
	json_t *body;
	int rc;

	if (password == NULL)
		return mailctl_usage_error("user add: --password is required");
	body = json_pack("{s:s, s:s}", "address", inv->args[0], "password", password);
	if ((v = mailctl_opt_get(inv, "name")) != NULL)
		json_object_set_new(body, "name", json_string(v));
	if ((v = mailctl_opt_get(inv, "node")) != NULL)
		json_object_set_new(body, "node", json_string(v));
	if ((rc = opt_size(inv, "quota", body, "quota")) != 0) {
		json_decref(body);
		return rc;
	}
	return simple(inv, "POST", xstrdup("/users"), body, "user %s added", inv->args[0]);
}

static int
cmd_user_del(struct mailctl_invocation *inv)
{
	return simple(inv, "DELETE", path_build("/users/", inv->args[0], NULL), NULL,
	    "user %s deleted", inv->args[0]);
}

static int
cmd_user_passwd(struct mailctl_invocation *inv)
{
	json_t *body = json_pack("{s:s}", "password", inv->args[1]);

	return simple(inv, "PATCH", path_build("/users/", inv->args[0], NULL), body,
	    "password of %s changed", inv->args[0]);
}

static void
print_user(const json_t *u)
{
	static const struct {
		const char *label, *key;
		int kind; /* 0 text, 1 quota size, 2 quota count, 3 used size, 4 time */
	} rows[] = {
	    {"address", "address", 0},
	    {"name", "name", 0},
	    {"home node", "home_node", 0},
	    {"quota", "quota_bytes", 1},
	    {"quota messages", "quota_messages", 2},
	    {"used", "used_bytes", 3},
	    {"used messages", "used_messages", 0},
	    {"flags", "flags", 0},
	    {"max message size", "max_message_size", 1},
	    {"expires", "expires_at", 4},
	    {"created", "created_at", 4},
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char label[32], *text;

		if (rows[i].kind == 4)
			text = mailctl_json_time(u, rows[i].key, "never");
		else if (rows[i].kind == 1)
			text = size_text(u, rows[i].key, "unlimited");
		else if (rows[i].kind == 3)
			text = size_text(u, rows[i].key, "0");
		else if (rows[i].kind == 2 && json_is_integer(json_object_get(u, rows[i].key)) &&
		         json_integer_value(json_object_get(u, rows[i].key)) <= 0)
			text = xstrdup("unlimited");
		else
			text = mailctl_json_text(u, rows[i].key);
		if (text[0] == '\0') {
			free(text);
			text = xstrdup("-");
		}
		snprintf(label, sizeof(label), "%s:", rows[i].label);
		printf("%-18s%s\n", label, text);
		free(text);
	}
}

static int
render_user_show(struct mailctl_invocation *inv, json_t *json)
{
	(void)inv;
	print_user(json);
	return 0;
}

static int
cmd_user_show(struct mailctl_invocation *inv)
{
	return show(
	    inv, "GET", path_build("/users/", inv->args[0], NULL), NULL, false, render_user_show);
}

/* Fetch every page of /users; *raw_out keeps the first page's response
 * when it was the only one, so --json can print the API's bytes exactly. */
static int
fetch_users(struct mailctl_invocation *inv, json_t **all_out, struct mailctl_response *raw_out,
    bool *single_out)
{
	const char *domain = inv->nargs > 0 ? inv->args[0] : NULL;
	const char *search = mailctl_opt_get(inv, "search");
	json_t *all = json_array();
	size_t offset = 0, page;
	int rc;

	*single_out = true;
	for (page = 0; page < USER_MAX_PAGES; page++) {
		struct mailctl_response resp;
		struct buf path;
		size_t n;

		buf_init(&path, 0);
		(void)buf_printf(&path, "/users?offset=%zu&limit=%d&usage=1", offset, USER_PAGE);
		if (domain != NULL) {
			(void)buf_append_str(&path, "&domain=");
			mailctl_path_append(&path, domain);
		}
		if (search != NULL) {
			(void)buf_append_str(&path, "&search=");
			mailctl_path_append(&path, search);
		}
		rc = call(inv, "GET", buf_steal(&path, NULL), NULL, &resp);
		if (rc != 0)
			goto fail;
		if ((rc = need_json(&resp, true)) != 0) {
			mailctl_response_fini(&resp);
			goto fail;
		}
		n = json_array_size(resp.json);
		json_array_extend(all, resp.json);
		if (page == 0) {
			*raw_out = resp;
		} else {
			*single_out = false;
			mailctl_response_fini(&resp);
		}
		/* A short page is the last; a long one means limit was ignored. */
		if (n != USER_PAGE)
			break;
		offset += n;
	}
	*all_out = all;
	return 0;
fail:
	if (page > 0)
		mailctl_response_fini(raw_out);
	json_decref(all);
	return rc;
}

static int
cmd_user_list(struct mailctl_invocation *inv)
{
	static const char *const cols[] = {"ADDRESS", "NAME", "NODE", "QUOTA", "USED"};
	struct mailctl_response first;
	struct mailctl_table *t;
	bool single;
	json_t *all, *u;
	size_t i;
	int rc;

	rc = fetch_users(inv, &all, &first, &single);
	if (rc != 0)
		return rc;
	if (inv->json && single) {
		print_raw(&first);
	} else if (inv->json) {
		json_dumpf(all, stdout, JSON_COMPACT);
		putchar('\n');
	} else {
		t = mailctl_table_new(5, cols);
		for (i = 0; i < json_array_size(all); i++) {
			u = json_array_get(all, i);
			char *quota = size_text(u, "quota_bytes", "unlimited");
			/* null: the home node did not answer (docs/api.md) */
			char *used = json_is_null(json_object_get(u, "used_bytes"))
			                 ? xstrdup("?")
			                 : size_text(u, "used_bytes", "0");
			const char *row[] = {mailctl_json_str(u, "address"),
			    mailctl_json_str(u, "name"), mailctl_json_str(u, "home_node"), quota,
			    used};

			if (row[1] != NULL && row[1][0] == '\0')
				row[1] = NULL;
			mailctl_table_add(t, row);
			free(quota);
			free(used);
		}
		mailctl_table_print(&t, stdout);
	}
	mailctl_response_fini(&first);
	json_decref(all);
	return 0;
}

/* The fields of a move's result ("folders=1 messages=2 ..."): value of
 * key into out, or "?" */
static void
result_field(const char *result, const char *key, char *out, size_t outsz)
{
	size_t kl = strlen(key);
	const char *p = result;

	snprintf(out, outsz, "?");
	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
			size_t n = strcspn(p + kl + 1, " ");

			snprintf(out, outsz, "%.*s", (int)n, p + kl + 1);
			return;
		}
		p = strchr(p, ' ');
		if (p != NULL)
			p++;
	}
}

static void
print_move_result(const char *result)
{
	char f[32], m[32], b[32], sha[80], tf[32], tm[32], tsha[80];

	result_field(result, "folders", f, sizeof(f));
	result_field(result, "messages", m, sizeof(m));
	result_field(result, "bytes", b, sizeof(b));
	result_field(result, "sha256", sha, sizeof(sha));
	result_field(result, "target_folders", tf, sizeof(tf));
	result_field(result, "target_messages", tm, sizeof(tm));
	result_field(result, "target_sha256", tsha, sizeof(tsha));
	printf("source: %s messages in %s folders, %s bytes, sha256 %s\n", m, f, b, sha);
	printf("target: %s messages in %s folders, sha256 %s\n", tm, tf, tsha);
}

static const char *
move_state_text(const char *state)
{
	if (strcmp(state, "copy") == 0)
		return "copying the mailbox, then what changes meanwhile (the user stays online)";
	if (strcmp(state, "hold") == 0)
		return "deliveries held, sessions closed, copying the last changes";
	if (strcmp(state, "cancel") == 0)
		return "cancelled, rolling back";
	if (strcmp(state, "cleanup") == 0)
		return "home switched, held mail released, deleting the old copy";
	return state;
}

/* user move: with --json one blocking request (the API answers when the
 * move ended). Otherwise the move is started without waiting and the
 * user's move_state polled, printing each step, then the counts and
 * checksums both sides reported. */
/* user move --cancel ADDRESS: cancel, then wait until the source rolled
 * the move back */
static int
cmd_user_move_cancel(struct mailctl_invocation *inv, const char *address)
{
	struct mailctl_response resp;
	const char *st, *home, *res;
	int rc;

	rc = call(inv, "DELETE", path_build("/users/", address, "/move", NULL), NULL, &resp);
	if (rc != 0)
		return rc;
	if (inv->json) {
		print_raw(&resp);
		mailctl_response_fini(&resp);
		return 0;
	}
	while ((st = mailctl_json_str(resp.json, "move_state")) != NULL && *st != '\0') {
		struct timespec ts = {0, 200 * 1000 * 1000};

		mailctl_response_fini(&resp);
		nanosleep(&ts, NULL);
		rc = call(inv, "GET", path_build("/users/", address, NULL), NULL, &resp);
		if (rc != 0)
			return rc;
	}
	home = mailctl_json_str(resp.json, "home_node");
	res = mailctl_json_str(resp.json, "move_result");
	printf("move of %s cancelled (%s); it stays on %s\n", address,
	    res != NULL && *res ? res : "rolled back", home != NULL ? home : "?");
	mailctl_response_fini(&resp);
	return 0;
}

static int
cmd_user_move(struct mailctl_invocation *inv)
{
	struct mailctl_response resp;
	json_t *body;
	char last[32] = "";
	const char *home, *cancel = mailctl_opt_get(inv, "cancel");
	int rc;

	if (cancel != NULL) {
		if (inv->nargs != 0)
			return mailctl_usage_error("user move --cancel takes only the address");
		return cmd_user_move_cancel(inv, cancel);
	}
	if (inv->nargs != 2)
		return mailctl_usage_error("user move needs ADDRESS NODE (or --cancel ADDRESS)");
	body = json_pack("{s:s, s:b}", "node", inv->args[1], "wait", inv->json);

	if (!inv->json) {
		printf("moving %s to %s ...\n", inv->args[0], inv->args[1]);
		fflush(stdout);
	}
	rc = call(inv, "POST", path_build("/users/", inv->args[0], "/move", NULL), body, &resp);
	if (rc != 0)
		return rc;
	if (inv->json) {
		print_raw(&resp);
		mailctl_response_fini(&resp);
		return 0;
	}
	while (resp.status == 202 || mailctl_json_str(resp.json, "move_state") != NULL) {
		const char *st = mailctl_json_str(resp.json, "move_state");
		struct timespec ts = {0, 200 * 1000 * 1000};

		if (st == NULL || *st == '\0')
			break;
		if (strcmp(st, last) != 0) {
			printf("  %s: %s\n", st, move_state_text(st));
			fflush(stdout);
			snprintf(last, sizeof(last), "%s", st);
		}
		mailctl_response_fini(&resp);
		nanosleep(&ts, NULL);
		rc = call(inv, "GET", path_build("/users/", inv->args[0], NULL), NULL, &resp);
		if (rc != 0)
			return rc;
	}
	home = mailctl_json_str(resp.json, "home_node");
	if (home == NULL || strcmp(home, inv->args[1]) != 0) {
		const char *res = mailctl_json_str(resp.json, "move_result");

		rc = mailctl_fail("move of %s to %s %s", inv->args[0], inv->args[1],
		    res != NULL && *res ? res : "failed");
		mailctl_response_fini(&resp);
		return rc;
	}
	if (mailctl_json_str(resp.json, "move_result") != NULL && last[0] != '\0')
		print_move_result(mailctl_json_str(resp.json, "move_result"));
	printf("%s is on %s\n", inv->args[0], home);
	mailctl_response_fini(&resp);
	return 0;
}

/* --- alias -------------------------------------------------------------------- */

static int
cmd_alias_add(struct mailctl_invocation *inv)
{
	json_t *targets = json_array();
	char *joined;
	size_t i;
	int rc;

	for (i = 1; i < inv->nargs; i++)
		json_array_append_new(targets, json_string(inv->args[i]));
	joined = mailctl_json_join(targets, ", ");
	rc = simple(inv, "POST", xstrdup("/aliases"),
	    json_pack("{s:s, s:o}", "address", inv->args[0], "targets", targets),
	    "alias %s -> %s added", inv->args[0], joined);
	free(joined);
	return rc;
}

static int
cmd_alias_del(struct mailctl_invocation *inv)
{
	return simple(inv, "DELETE", path_build("/aliases/", inv->args[0], NULL), NULL,
	    "alias %s deleted", inv->args[0]);
}

/* GET a collection (optionally ?domain=D) and print it as a table. */
static int
list_table(struct mailctl_invocation *inv, const char *collection, size_t ncols,
    const char *const *cols, const char *const *keys)
{
	struct mailctl_response resp;
	struct mailctl_table *t;
	struct buf path;
	size_t i, c;
	json_t *obj;
	int rc;

	buf_init(&path, 0);
	(void)buf_append_str(&path, collection);
	if (inv->nargs > 0) {
		(void)buf_append_str(&path, "?domain=");
		mailctl_path_append(&path, inv->args[0]);
	}
	rc = call(inv, "GET", buf_steal(&path, NULL), NULL, &resp);
	if (rc != 0)
		return rc;
	if (inv->json) {
		print_raw(&resp);
	} else if ((rc = need_json(&resp, true)) == 0) {
		t = mailctl_table_new(ncols, cols);
		for (i = 0; i < json_array_size(resp.json); i++) {
			obj = json_array_get(resp.json, i);
			char *cells[8];

			for (c = 0; c < ncols; c++) {
				json_t *v = json_object_get(obj, keys[c]);

				cells[c] = json_is_array(v) ? mailctl_json_join(v, ",")
				                            : mailctl_json_text(obj, keys[c]);
				if (cells[c][0] == '\0') {
					free(cells[c]);
					cells[c] = xstrdup("-");
				}
			}
			mailctl_table_add(t, (const char *const *)cells);
			for (c = 0; c < ncols; c++)
				free(cells[c]);
		}
		mailctl_table_print(&t, stdout);
	}
	mailctl_response_fini(&resp);
	return rc;
}

static int
cmd_alias_list(struct mailctl_invocation *inv)
{
	static const char *const cols[] = {"ALIAS", "TARGETS"};
	static const char *const keys[] = {"address", "targets"};

	return list_table(inv, "/aliases", 2, cols, keys);
}

/* --- group -------------------------------------------------------------------- */

static int
cmd_group_add(struct mailctl_invocation *inv)
{
	json_t *body = json_pack("{s:s}", "address", inv->args[0]);
	const char *name = mailctl_opt_get(inv, "name");

	if (name != NULL)
		json_object_set_new(body, "name", json_string(name));
	return simple(inv, "POST", xstrdup("/groups"), body, "group %s added", inv->args[0]);
}

static int
cmd_group_del(struct mailctl_invocation *inv)
{
	return simple(inv, "DELETE", path_build("/groups/", inv->args[0], NULL), NULL,
	    "group %s deleted", inv->args[0]);
}

static int
cmd_group_member_add(struct mailctl_invocation *inv)
{
	json_t *body = json_pack("{s:s}", "member", inv->args[1]);

	return simple(inv, "POST", path_build("/groups/", inv->args[0], "/members", NULL), body,
	    "%s added to group %s", inv->args[1], inv->args[0]);
}

static int
cmd_group_member_del(struct mailctl_invocation *inv)
{
	return simple(inv, "DELETE",
	    path_build("/groups/", inv->args[0], "/members/", inv->args[1], NULL), NULL,
	    "%s removed from group %s", inv->args[1], inv->args[0]);
}

static int
cmd_group_list(struct mailctl_invocation *inv)
{
	static const char *const cols[] = {"GROUP", "NAME", "MEMBERS"};
	static const char *const keys[] = {"address", "name", "members"};

	return list_table(inv, "/groups", 3, cols, keys);
}

static int
render_group_show(struct mailctl_invocation *inv, json_t *json)
{
	json_t *members, *m;
	const char *name;
	size_t i;

	name = mailctl_json_str(json, "name");
	printf("group:   %s\n", inv->args[0]);
	printf("name:    %s\n", name != NULL && name[0] != '\0' ? name : "-");
	members = json_object_get(json, "members");
	printf("members:%s\n", json_array_size(members) > 0 ? "" : " -");
	for (i = 0; i < json_array_size(members); i++) {
		m = json_array_get(members, i);
		if (json_is_string(m))
			printf("  %s\n", json_string_value(m));
	}
	return 0;
}

static int
cmd_group_show(struct mailctl_invocation *inv)
{
	return show(
	    inv, "GET", path_build("/groups/", inv->args[0], NULL), NULL, false, render_group_show);
}

/* --- admin -------------------------------------------------------------------- */

static int
cmd_admin_add(struct mailctl_invocation *inv)
{
	const char *password = mailctl_opt_get(inv, "password");
	const char *domain = mailctl_opt_get(inv, "domain");
	json_t *body;

	if (password == NULL)
		return mailctl_usage_error("admin add: --password is required");
	body = json_pack("{s:s, s:s}", "name", inv->args[0], "password", password);
	if (domain != NULL) {
		json_object_set_new(body, "domain", json_string(domain));
		return simple(inv, "POST", xstrdup("/admins"), body, "admin %s added for domain %s",
		    inv->args[0], domain);
	}
	return simple(inv, "POST", xstrdup("/admins"), body, "admin %s added", inv->args[0]);
}

static int
cmd_admin_del(struct mailctl_invocation *inv)
{
	return simple(inv, "DELETE", path_build("/admins/", inv->args[0], NULL), NULL,
	    "admin %s deleted", inv->args[0]);
}

static int
render_admin_list(struct mailctl_invocation *inv, json_t *json)
{
	static const char *const cols[] = {"ADMIN", "DOMAIN"};
	struct mailctl_table *t;
	size_t i;
	json_t *a;

	(void)inv;
	t = mailctl_table_new(2, cols);
	for (i = 0; i < json_array_size(json); i++) {
		a = json_array_get(json, i);
		const char *domain = mailctl_json_str(a, "domain");
		const char *row[] = {
		    mailctl_json_str(a, "name"), domain != NULL ? domain : "(all domains)"};

		mailctl_table_add(t, row);
	}
	mailctl_table_print(&t, stdout);
	return 0;
}

static int
cmd_admin_list(struct mailctl_invocation *inv)
{
	return show(inv, "GET", xstrdup("/admins"), NULL, true, render_admin_list);
}

/* --- node, cluster, status ------------------------------------------------------ */

static int
cmd_node_list(struct mailctl_invocation *inv)
{
	static const char *const cols[] = {"NODE", "STATE", "ADDRESS", "USERS"};
	static const char *const keys[] = {"name", "state", "address", "users"};

	inv->nargs = 0; /* no ?domain= */
	return list_table(inv, "/nodes", 4, cols, keys);
}

static int
cmd_node_drain(struct mailctl_invocation *inv)
{
	struct mailctl_response resp;
	int rc;

	if (!inv->json) {
		printf("draining %s ...\n", inv->args[0]);
		fflush(stdout);
	}
	rc = call(inv, "POST", path_build("/nodes/", inv->args[0], "/drain", NULL), NULL, &resp);
	if (rc != 0)
		return rc;
	if (inv->json) {
		print_raw(&resp);
	} else {
		printf("node %s drained\n", inv->args[0]);
	}
	mailctl_response_fini(&resp);
	return 0;
}

static int
cmd_node_remove(struct mailctl_invocation *inv)
{
	return simple(inv, "DELETE", path_build("/nodes/", inv->args[0], NULL), NULL,
	    "node %s removed", inv->args[0]);
}

static int
render_cluster_status(struct mailctl_invocation *inv, json_t *json)
{
	/* each member's own view (GET /cluster asks every member); a member
	 * that did not answer shows "unreachable" as its last contact */
	static const char *const cols[] = {
	    "NODE", "ROLE", "STATE", "ADDRESS", "COMMIT", "APPLIED", "LAST CONTACT"};
	static const char *const keys[] = {
	    "name", "role", "state", "address", "commit_index", "applied_index", "last_contact_ms"};
	enum { NCOLS = 7, CONTACT = 6 };
	struct mailctl_table *t;
	json_t *members, *m;
	const char *leader;
	char *commit;
	size_t i, c;

	(void)inv;
	leader = mailctl_json_str(json, "leader");
	commit = mailctl_json_text(json, "commit_index");
	printf("leader: %s\n", leader != NULL ? leader : "(none)");
	printf("commit index: %s\n", commit);
	free(commit);
	t = mailctl_table_new(NCOLS, cols);
	members = json_object_get(json, "members");
	for (i = 0; i < json_array_size(members); i++) {
		m = json_array_get(members, i);
		char *cells[NCOLS];

		for (c = 0; c < NCOLS; c++)
			cells[c] = mailctl_json_text(m, keys[c]);
		if (json_is_false(json_object_get(m, "reachable"))) {
			free(cells[CONTACT]);
			cells[CONTACT] = xstrdup("unreachable");
		} else if (json_is_integer(json_object_get(m, "last_contact_ms"))) {
			char *ms = xasprintf("%sms", cells[CONTACT]);

			free(cells[CONTACT]);
			cells[CONTACT] = ms;
		}
		mailctl_table_add(t, (const char *const *)cells);
		for (c = 0; c < NCOLS; c++)
			free(cells[c]);
	}
	mailctl_table_print(&t, stdout);
	return 0;
}

static int
cmd_cluster_status(struct mailctl_invocation *inv)
{
	return show(inv, "GET", xstrdup("/cluster"), NULL, false, render_cluster_status);
}

static int
render_status(struct mailctl_invocation *inv, json_t *json)
{
	char *node, *version, *uptime, *host;

	(void)inv;
	node = mailctl_json_text(json, "node");
	version = mailctl_json_text(json, "version");
	uptime = mailctl_json_text(json, "uptime_s");
	host = mailctl_json_text(json, "hostname");
	printf("node %s (mailnode %s) hostname %s, up %ss\n", node, version, host, uptime);
	free(node);
	free(version);
	free(uptime);
	free(host);
	return 0;
}

static int
cmd_status(struct mailctl_invocation *inv)
{
	return show(inv, "GET", xstrdup("/status"), NULL, false, render_status);
}

/* --- queue (node/admin/api_queue.c) -------------------------------------------- */

/* One row per recipient: a message with three recipients is three rows. */
static int
render_queue_list(struct mailctl_invocation *inv, json_t *json)
{
	static const char *const cols[] = {
	    "ID", "SENDER", "RECIPIENT", "STATE", "ATTEMPTS", "REPLY"};
	static const char *const rkeys[] = {"address", "state", "attempts", "reply"};
	struct mailctl_table *t;
	size_t i, j, c;

	(void)inv;
	t = mailctl_table_new(6, cols);
	for (i = 0; i < json_array_size(json); i++) {
		json_t *e = json_array_get(json, i), *rcpts = json_object_get(e, "rcpts");
		const char *sender = mailctl_json_str(e, "sender");
		char *cells[6];

		cells[0] = mailctl_json_text(e, "id");
		cells[1] = xstrdup(sender == NULL ? "-" : *sender ? sender : "<>");
		if (json_array_size(rcpts) == 0) {
			for (c = 2; c < 6; c++)
				cells[c] = xstrdup("-");
			mailctl_table_add(t, (const char *const *)cells);
			for (c = 2; c < 6; c++)
				free(cells[c]);
		}
		for (j = 0; j < json_array_size(rcpts); j++) {
			for (c = 2; c < 6; c++)
				cells[c] =
				    mailctl_json_text(json_array_get(rcpts, j), rkeys[c - 2]);
			mailctl_table_add(t, (const char *const *)cells);
			for (c = 2; c < 6; c++)
				free(cells[c]);
		}
		free(cells[0]);
		free(cells[1]);
	}
	mailctl_table_print(&t, stdout);
	return 0;
}

static int
cmd_queue_list(struct mailctl_invocation *inv)
{
	return show(inv, "GET", xstrdup("/queue"), NULL, true, render_queue_list);
}

static int
cmd_queue_retry(struct mailctl_invocation *inv)
{
	return simple(inv, "POST", path_build("/queue/", inv->args[0], "/retry", NULL), NULL,
	    "queue entry %s scheduled now", inv->args[0]);
}

static int
cmd_queue_delete(struct mailctl_invocation *inv)
{
	return simple(inv, "DELETE", path_build("/queue/", inv->args[0], NULL), NULL,
	    "queue entry %s deleted", inv->args[0]);
}

/* --- security ------------------------------------------------------------------ */

static int
cmd_security_blocked_list(struct mailctl_invocation *inv)
{
	static const char *const cols[] = {"KIND", "KEY", "UNTIL", "FAILURES"};
	static const char *const keys[] = {"kind", "key", "until", "failures"};

	inv->nargs = 0; /* no ?domain= */
	return list_table(inv, "/security/blocked", 4, cols, keys);
}

static int
cmd_security_blocked_release(struct mailctl_invocation *inv)
{
	return simple(inv, "DELETE", path_build("/security/blocked/", inv->args[0], NULL), NULL,
	    "%s released", inv->args[0]);
}

/* --- quarantine ---------------------------------------------------------------- */

static int
cmd_quarantine_list(struct mailctl_invocation *inv)
{
	static const char *const cols[] = {"UID", "SIZE", "FROM", "SUBJECT"};
	static const char *const keys[] = {"uid", "size", "from", "subject"};
	char *path = path_build("/users/", inv->args[0], "/quarantine", NULL);
	int rc;

	inv->nargs = 0; /* no ?domain= */
	rc = list_table(inv, path, 4, cols, keys);
	free(path);
	return rc;
}

static int
cmd_quarantine_release(struct mailctl_invocation *inv)
{
	return simple(inv, "POST",
	    path_build("/users/", inv->args[0], "/quarantine/", inv->args[1], "/release", NULL),
	    NULL, "%s: message %s released to INBOX", inv->args[0], inv->args[1]);
}

static int
cmd_quarantine_delete(struct mailctl_invocation *inv)
{
	return simple(inv, "DELETE",
	    path_build("/users/", inv->args[0], "/quarantine/", inv->args[1], NULL), NULL,
	    "%s: message %s deleted", inv->args[0], inv->args[1]);
}

/* --- preferences (sender lists, send limits; docs/anti-spam.md) --------------- */

/* one value as KEY: VALUE, a multi-line value (a sender list, a signature)
 * continued on indented lines */
static void
print_pref(const char *key, const char *v)
{
	printf("%s:", key);
	while (v != NULL) {
		const char *nl = strchr(v, '\n');
		int n = nl != NULL ? (int)(nl - v) : (int)strlen(v);

		printf(" %.*s\n", n, v);
		v = nl != NULL ? nl + 1 : NULL;
		if (v != NULL)
			printf("%*s", (int)strlen(key) + 1, "");
	}
}

/* PREFIX NAME [KEY [VALUE]]: show all, show one, or set one; del: unset
 * KEY (JSON null) */
static int
cmd_pref(struct mailctl_invocation *inv, const char *prefix, bool del)
{
	struct mailctl_response resp;
	char *path = path_build(prefix, inv->args[0], "/prefs", NULL);
	const char *key = inv->nargs > 1 ? inv->args[1] : NULL;
	json_t *body = NULL;
	int rc;

	if (inv->nargs > 2 || del) {
		body = json_object();
		json_object_set_new(body, key, del ? json_null() : json_string(inv->args[2]));
	}
	rc = call(inv, body != NULL ? "PUT" : "GET", path, body, &resp);
	if (rc != 0)
		return rc;
	if (inv->json) {
		print_raw(&resp);
	} else if ((rc = need_json(&resp, false)) == 0) {
		const char *k;
		json_t *v;

		if (key != NULL) {
			const char *val = mailctl_json_str(resp.json, key);

			if (val != NULL)
				print_pref(key, val);
			else if (del)
				printf("%s: unset\n", key);
			else
				rc = mailctl_fail("%s: %s is not set", inv->args[0], key);
		} else {
			json_object_foreach(resp.json, k, v)
			{
				print_pref(k, json_string_value(v));
			}
		}
	}
	mailctl_response_fini(&resp);
	return rc;
}

static int
cmd_user_pref(struct mailctl_invocation *inv)
{
	return cmd_pref(inv, "/users/", false);
}

static int
cmd_user_pref_del(struct mailctl_invocation *inv)
{
	return cmd_pref(inv, "/users/", true);
}

static int
cmd_domain_pref(struct mailctl_invocation *inv)
{
	return cmd_pref(inv, "/domains/", false);
}

static int
cmd_domain_pref_del(struct mailctl_invocation *inv)
{
	return cmd_pref(inv, "/domains/", true);
}

/* --- the table ------------------------------------------------------------------ */

const struct mailctl_command mailctl_commands[] = {
    {"domain add", 1, 1, "", "NAME", false, cmd_domain_add},
    {"domain del", 1, 1, "", "NAME", false, cmd_domain_del},
    {"domain list", 0, 0, "", "", false, cmd_domain_list},
    {"domain show", 1, 1, "", "NAME", false, cmd_domain_show},
    {"domain alias add", 2, 2, "", "DOMAIN ALIAS", false, cmd_domain_alias_add},
    {"domain alias del", 2, 2, "", "DOMAIN ALIAS", false, cmd_domain_alias_del},
    {"domain dkim", 1, 1, "selector algorithm", "DOMAIN [--selector NAME] [--algorithm rsa]", false,
        cmd_domain_dkim},
    {"domain pref", 1, 3, "", "DOMAIN [KEY [VALUE]]", false, cmd_domain_pref},
    {"domain pref del", 2, 2, "", "DOMAIN KEY", false, cmd_domain_pref_del},
    {"user add", 1, 1, "password node quota name",
        "ADDRESS --password P [--node NODE] [--quota SIZE] [--name \"Real Name\"]", false,
        cmd_user_add},
    {"user del", 1, 1, "", "ADDRESS", false, cmd_user_del},
    {"user show", 1, 1, "", "ADDRESS", false, cmd_user_show},
    {"user list", 0, 1, "search", "[DOMAIN] [--search TEXT]", false, cmd_user_list},
    {"user passwd", 2, 2, "", "ADDRESS PASSWORD", false, cmd_user_passwd},
    {"user move", 0, 2, "cancel", "ADDRESS NODE | --cancel ADDRESS", true, cmd_user_move},
    {"user pref", 1, 3, "", "ADDRESS [KEY [VALUE]]", false, cmd_user_pref},
    {"user pref del", 2, 2, "", "ADDRESS KEY", false, cmd_user_pref_del},
    {"alias add", 2, SIZE_MAX, "", "ADDRESS TARGET...", false, cmd_alias_add},
    {"alias del", 1, 1, "", "ADDRESS", false, cmd_alias_del},
    {"alias list", 0, 1, "", "[DOMAIN]", false, cmd_alias_list},
    {"group add", 1, 1, "name", "GROUP [--name NAME]", false, cmd_group_add},
    {"group del", 1, 1, "", "GROUP", false, cmd_group_del},
    {"group show", 1, 1, "", "GROUP", false, cmd_group_show},
    {"group member add", 2, 2, "", "GROUP MEMBER", false, cmd_group_member_add},
    {"group member del", 2, 2, "", "GROUP MEMBER", false, cmd_group_member_del},
    {"group list", 0, 1, "", "[DOMAIN]", false, cmd_group_list},
    {"admin add", 1, 1, "password domain", "NAME --password P [--domain DOMAIN]", false,
        cmd_admin_add},
    {"admin del", 1, 1, "", "NAME", false, cmd_admin_del},
    {"admin list", 0, 0, "", "", false, cmd_admin_list},
    {"node list", 0, 0, "", "", false, cmd_node_list},
    {"node drain", 1, 1, "", "NODE", true, cmd_node_drain},
    {"node remove", 1, 1, "", "NODE", false, cmd_node_remove},
    {"cluster status", 0, 0, "", "", false, cmd_cluster_status},
    {"security blocked list", 0, 0, "", "", false, cmd_security_blocked_list},
    {"security blocked release", 1, 1, "", "IP|USER", false, cmd_security_blocked_release},
    {"quarantine list", 1, 1, "", "ADDRESS", false, cmd_quarantine_list},
    {"quarantine release", 2, 2, "", "ADDRESS UID", false, cmd_quarantine_release},
    {"quarantine delete", 2, 2, "", "ADDRESS UID", false, cmd_quarantine_delete},
    {"status", 0, 0, "", "", false, cmd_status},
    {"queue list", 0, 0, "", "", false, cmd_queue_list},
    {"queue retry", 1, 1, "", "ID", false, cmd_queue_retry},
    {"queue delete", 1, 1, "", "ID", false, cmd_queue_delete},
    {NULL, 0, 0, NULL, NULL, false, NULL},
};

/* Number of words of `words` matching the command's words, or 0. */
static size_t
words_match(const char *cmd_words, char *const *words, size_t nwords)
{
	const char *p = cmd_words;
	size_t i;

	for (i = 0; i < nwords; i++) {
		size_t n = strcspn(p, " ");

		if (strlen(words[i]) != n || strncmp(words[i], p, n) != 0)
			return 0;
		p += n;
		if (*p == '\0')
			return i + 1;
		p++;
	}
	return 0;
}

const struct mailctl_command *
mailctl_command_find(char *const *words, size_t nwords, size_t *used_out)
{
	const struct mailctl_command *c, *best = NULL;
	size_t best_n = 0;

	for (c = mailctl_commands; c->words != NULL; c++) {
		size_t n = words_match(c->words, words, nwords);

		if (n > best_n) {
			best = c;
			best_n = n;
		}
	}
	*used_out = best_n;
	return best;
}

bool
mailctl_command_has_opt(const struct mailctl_command *cmd, const char *name)
{
	const char *p = cmd->opts;
	size_t n = strlen(name);

	while (*p != '\0') {
		size_t len = strcspn(p, " ");

		if (len == n && strncmp(p, name, n) == 0)
			return true;
		p += len;
		if (*p == ' ')
			p++;
	}
	return false;
}
