/*
 * mailctl.c - `mailctl`, the administration client of a mailnode cluster
 * (SPEC §6): command-line parsing and the entry point.
 *
 * Global options may stand anywhere on the line (before, between or after
 * the command words), with the one ambiguity resolved by position: for
 * commands that take their own --password (user add, admin add), a
 * --password after the command words is the new account's, and the admin
 * password comes from a --password before the command words or from
 * MAILCTL_PASSWORD. Exit status: 0 success, 1 failure, 2 usage.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "node/mailctl/mailctl.h"

/* Default request timeout; blocking commands (user move, node drain) have
 * none because they answer only when the work is done. */
#define MAILCTL_TIMEOUT_S 120

void
mailctl_usage(FILE *out)
{
	const struct mailctl_command *c;

	fputs("usage: mailctl [OPTIONS] COMMAND [ARGS]\n"
	      "\n"
	      "Manage a mailnode cluster through the JSON API of any of its nodes.\n"
	      "\n"
	      "Options (anywhere on the line):\n"
	      "  --server URL      node to talk to (env MAILCTL_SERVER, default\n"
	      "                    http://127.0.0.1:6080)\n"
	      "  --user NAME       admin account (env MAILCTL_USER, default admin)\n"
	      "  --password P      admin password (env MAILCTL_PASSWORD); for user add and\n"
	      "                    admin add put it before the command words\n"
	      "  --json            print the API's JSON instead of tables\n"
	      "  --insecure        do not verify the server's TLS certificate\n"
	      "                    (env MAILCTL_INSECURE=1)\n"
	      "  --cacert FILE     verify the server's certificate against FILE\n"
	      "                    (env MAILCTL_CACERT)\n"
	      "  --help            this text;  --version  the version\n"
	      "\n"
	      "Commands:\n",
	    out);
	for (c = mailctl_commands; c->words != NULL; c++)
		fprintf(out, "  %s%s%s\n", c->words, c->usage[0] != '\0' ? " " : "", c->usage);
	fputs("\nSizes take K/M/G suffixes (powers of 1024). Exit status: 0 success,\n"
	      "1 the request failed (reason on stderr), 2 usage error.\n",
	    out);
}

static bool
env_true(const char *name)
{
	const char *v = getenv(name);

	return v != NULL &&
	       (strcmp(v, "1") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "true") == 0);
}

static const char *
env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : dflt;
}

/* Global options with a value. */
static bool
is_global_valued(const char *name)
{
	return strcmp(name, "server") == 0 || strcmp(name, "user") == 0 ||
	       strcmp(name, "cacert") == 0 || strcmp(name, "password") == 0;
}

struct parsed {
	const char *server, *user, *password, *cacert;
	bool json, insecure, help, version;
	char **words;
	size_t nwords;
	struct mailctl_opt opts[MAILCTL_MAX_OPTS];
	size_t nopts;
};

/* Does the command named by the words so far take its own --password? */
static bool
command_owns_password(const struct parsed *p)
{
	const struct mailctl_command *cmd;
	size_t used;

	cmd = mailctl_command_find(p->words, p->nwords, &used);
	return cmd != NULL && mailctl_command_has_opt(cmd, "password");
}

static int
parse_args(int argc, char **argv, struct parsed *p)
{
	bool only_words = false;
	int i;

	for (i = 1; i < argc; i++) {
		char *a = argv[i], *name, *value = NULL, *eq;

		if (only_words || a[0] != '-' || a[1] == '\0') {
			p->words[p->nwords++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_words = true;
			continue;
		}
		if (strcmp(a, "-h") == 0) {
			p->help = true;
			continue;
		}
		if (a[1] != '-')
			return mailctl_usage_error("unknown option '%s'", a);
		name = a + 2;
		eq = strchr(name, '=');
		if (eq != NULL) {
			*eq = '\0';
			value = eq + 1;
		}
		if (strcmp(name, "json") == 0 || strcmp(name, "insecure") == 0 ||
		    strcmp(name, "help") == 0 || strcmp(name, "version") == 0) {
			if (value != NULL)
				return mailctl_usage_error("--%s takes no value", name);
			if (name[0] == 'j')
				p->json = true;
			else if (name[0] == 'i')
				p->insecure = true;
			else if (name[0] == 'h')
				p->help = true;
			else
				p->version = true;
			continue;
		}
		if (value == NULL) {
			if (i + 1 >= argc)
				return mailctl_usage_error("--%s needs a value", name);
			value = argv[++i];
		}
		if (is_global_valued(name) &&
		    !(strcmp(name, "password") == 0 && command_owns_password(p))) {
			if (name[0] == 's')
				p->server = value;
			else if (name[0] == 'u')
				p->user = value;
			else if (name[0] == 'c')
				p->cacert = value;
			else
				p->password = value;
			continue;
		}
		if (p->nopts == MAILCTL_MAX_OPTS)
			return mailctl_usage_error("too many options");
		p->opts[p->nopts].name = name;
		p->opts[p->nopts].value = value;
		p->nopts++;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct mailctl_invocation inv;
	const struct mailctl_command *cmd;
	struct parsed p;
	char *server;
	size_t used, i, j, len;
	int rc;

	memset(&p, 0, sizeof(p));
	p.words = xcalloc((size_t)argc + 1, sizeof(char *));
	rc = parse_args(argc, argv, &p);
	if (rc != 0)
		goto out;
	if (p.help || (p.nwords == 1 && strcmp(p.words[0], "help") == 0)) {
		mailctl_usage(stdout);
		goto out;
	}
	if (p.version) {
		printf("mailctl %s\n", MN_VERSION);
		goto out;
	}
	if (p.nwords == 0) {
		rc = mailctl_usage_error("no command given");
		goto out;
	}
	cmd = mailctl_command_find(p.words, p.nwords, &used);
	if (cmd == NULL) {
		rc = mailctl_usage_error("unknown command '%s%s%s'", p.words[0],
		    p.nwords > 1 ? " " : "", p.nwords > 1 ? p.words[1] : "");
		goto out;
	}
	for (i = 0; i < p.nopts; i++) {
		if (!mailctl_command_has_opt(cmd, p.opts[i].name)) {
			rc = mailctl_usage_error(
			    "%s: unknown option --%s", cmd->words, p.opts[i].name);
			goto out;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(p.opts[i].name, p.opts[j].name) == 0) {
				rc = mailctl_usage_error(
				    "%s: --%s given twice", cmd->words, p.opts[i].name);
				goto out;
			}
		}
	}
	if (p.nwords - used < cmd->min_args || p.nwords - used > cmd->max_args) {
		rc = mailctl_usage_error("usage: mailctl %s %s", cmd->words, cmd->usage);
		goto out;
	}
	for (i = used; i < p.nwords; i++) {
		if (p.words[i][0] == '\0') {
			rc = mailctl_usage_error("%s: empty argument", cmd->words);
			goto out;
		}
	}

	memset(&inv, 0, sizeof(inv));
	server = xstrdup(
	    p.server != NULL ? p.server : env_or("MAILCTL_SERVER", "http://127.0.0.1:6080"));
	len = strlen(server);
	while (len > 0 && server[len - 1] == '/')
		server[--len] = '\0';
	inv.client.server = server;
	inv.client.user = p.user != NULL ? p.user : env_or("MAILCTL_USER", "admin");
	inv.client.password = p.password != NULL ? p.password : getenv("MAILCTL_PASSWORD");
	inv.client.cacert = p.cacert != NULL ? p.cacert : env_or("MAILCTL_CACERT", NULL);
	inv.client.insecure = p.insecure || env_true("MAILCTL_INSECURE");
	inv.client.timeout_s = cmd->blocking ? 0 : MAILCTL_TIMEOUT_S;
	inv.json = p.json;
	inv.args = p.words + used;
	inv.nargs = p.nwords - used;
	memcpy(inv.opts, p.opts, sizeof(p.opts));
	inv.nopts = p.nopts;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		rc = mailctl_fail("cannot initialise libcurl");
	} else {
		rc = cmd->run(&inv);
		curl_global_cleanup();
	}
	free(server);
out:
	free(p.words);
	if (fflush(stdout) != 0 && rc == 0)
		rc = mailctl_fail("cannot write output");
	return rc;
}
