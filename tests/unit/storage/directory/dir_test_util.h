/*
 * dir_test_util.h - a one-line language for DirectoryCommands, so the
 * directory tests can be tables of "command -> expected result".
 *
 *   domain_add NAME            domain_del NAME
 *   dalias_add ALIAS DOMAIN    dalias_del ALIAS
 *   user_add ADDR [hash= name= node= qb= qm= max= flags= exp=]
 *   user_update ADDR [same keys]        user_del ADDR
 *   alias_add ADDR TARGET...   alias_del ADDR
 *   group_add ADDR [NAME]      group_del ADDR
 *   member_add GROUP MEMBER    member_del GROUP MEMBER
 *   admin_add NAME [domain=] [hash=]   admin_del NAME   admin_passwd NAME [hash=]
 *   node_add NAME ADDR [raft_port= rpc_port= id= state=]
 *   node_state NAME STATE      node_del NAME
 *   set KEY [VALUE]            (no VALUE: delete)
 *   pref SCOPE NAME KEY[=VALUE]...     (no =VALUE: delete that key; at most 8)
 *   contact_set OWNER EMAIL [NAME]     contact_del OWNER EMAIL
 *   noop                       (a command with no body)
 * A token "~" stands for an absent string. Every command is packed; tests
 * apply the bytes (directory_apply_packed), so packing is always covered.
 * Header-only: included by one test file each.
 */
#ifndef MN_TEST_DIR_TEST_UTIL_H
#define MN_TEST_DIR_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/proto/directory.pb-c.h"
#include "lib/xalloc.h"
#include "storage/directory/directory.h"

/* yescrypt hash of "secret" (made once with crypt_rn, libxcrypt 4.4) */
#define DT_HASH "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$GmcwIgvdUC9qLWcKCi6gklUa1dM3ziD43YxYNURLKy0"

#define DT_MAX_TOK 64

static inline char *
dt_tok(char *t)
{
	return strcmp(t, "~") == 0 ? NULL : t;
}

/* dt_kv - value of key=... among toks[from..n), or NULL */
static inline char *
dt_kv(char **toks, int n, int from, const char *key)
{
	size_t kl = strlen(key);

	for (int i = from; i < n; i++)
		if (strncmp(toks[i], key, kl) == 0 && toks[i][kl] == '=')
			return dt_tok(toks[i] + kl + 1);
	return NULL;
}

#define DT_U64(field, key)                                                                         \
	do {                                                                                       \
		char *v_ = dt_kv(toks, n, 2, key);                                                 \
		if (v_) {                                                                          \
			m.has_##field = 1;                                                         \
			m.field = strtoull(v_, NULL, 0);                                           \
		}                                                                                  \
	} while (0)

/* dt_pack - the packed command for line; time is the command's clock.
 * Aborts the test program on an unknown verb (a bug in the test). */
static inline uint8_t *
dt_pack(const char *line, int64_t time, size_t *len_out)
{
	Mailnode__DirectoryCommand c = MAILNODE__DIRECTORY_COMMAND__INIT;
	char *copy = xstrdup(line), *toks[DT_MAX_TOK], *save = NULL, *t;
	uint8_t *out;
	int n = 0;

	for (t = strtok_r(copy, " ", &save); t && n < DT_MAX_TOK; t = strtok_r(NULL, " ", &save))
		toks[n++] = t;
	for (int i = n; i < DT_MAX_TOK; i++)
		toks[i] = "~";
	c.has_time = 1;
	c.time = time;
	c.origin = "test";
#define ARG(i) dt_tok(toks[i])
	{
		Mailnode__DomainAdd da = MAILNODE__DOMAIN_ADD__INIT;
		Mailnode__DomainDel dd = MAILNODE__DOMAIN_DEL__INIT;
		Mailnode__DomainAliasAdd daa = MAILNODE__DOMAIN_ALIAS_ADD__INIT;
		Mailnode__DomainAliasDel dad = MAILNODE__DOMAIN_ALIAS_DEL__INIT;
		Mailnode__UserAdd ua = MAILNODE__USER_ADD__INIT;
		Mailnode__UserDel ud = MAILNODE__USER_DEL__INIT;
		Mailnode__UserUpdate uu = MAILNODE__USER_UPDATE__INIT;
		Mailnode__AliasAdd aa = MAILNODE__ALIAS_ADD__INIT;
		Mailnode__AliasDel ad = MAILNODE__ALIAS_DEL__INIT;
		Mailnode__GroupAdd ga = MAILNODE__GROUP_ADD__INIT;
		Mailnode__GroupDel gd = MAILNODE__GROUP_DEL__INIT;
		Mailnode__GroupMemberAdd gma = MAILNODE__GROUP_MEMBER_ADD__INIT;
		Mailnode__GroupMemberDel gmd = MAILNODE__GROUP_MEMBER_DEL__INIT;
		Mailnode__AdminAdd ma = MAILNODE__ADMIN_ADD__INIT;
		Mailnode__AdminDel md = MAILNODE__ADMIN_DEL__INIT;
		Mailnode__AdminPasswd mp = MAILNODE__ADMIN_PASSWD__INIT;
		Mailnode__NodeAdd na = MAILNODE__NODE_ADD__INIT;
		Mailnode__NodeSetState ns = MAILNODE__NODE_SET_STATE__INIT;
		Mailnode__NodeDel nd = MAILNODE__NODE_DEL__INIT;
		Mailnode__SettingSet ss = MAILNODE__SETTING_SET__INIT;
		Mailnode__DomainDkimSet dk = MAILNODE__DOMAIN_DKIM_SET__INIT;
		Mailnode__PrefSet ps = MAILNODE__PREF_SET__INIT;
		Mailnode__PrefEntry pe[8], *pep[8];
		Mailnode__ContactSet cs = MAILNODE__CONTACT_SET__INIT;
		Mailnode__ContactDel cd = MAILNODE__CONTACT_DEL__INIT;
		const char *v = toks[0];

		if (strcmp(v, "domain_add") == 0) {
			da.name = ARG(1);
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_ADD;
			c.domain_add = &da;
		} else if (strcmp(v, "domain_del") == 0) {
			dd.name = ARG(1);
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_DEL;
			c.domain_del = &dd;
		} else if (strcmp(v, "dalias_add") == 0) {
			daa.alias = ARG(1);
			daa.domain = ARG(2);
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_ALIAS_ADD;
			c.domain_alias_add = &daa;
		} else if (strcmp(v, "dalias_del") == 0) {
			dad.alias = ARG(1);
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_ALIAS_DEL;
			c.domain_alias_del = &dad;
		} else if (strcmp(v, "user_add") == 0) {
			Mailnode__UserAdd m = MAILNODE__USER_ADD__INIT;
			char *h = dt_kv(toks, n, 2, "hash");

			m.address = ARG(1);
			m.password_hash = h ? h : (char *)DT_HASH;
			if (strstr(line, " hash=~"))
				m.password_hash = NULL;
			m.name = dt_kv(toks, n, 2, "name");
			m.home_node = dt_kv(toks, n, 2, "node");
			DT_U64(quota_bytes, "qb");
			DT_U64(quota_messages, "qm");
			DT_U64(max_message_size, "max");
			DT_U64(flags, "flags");
			DT_U64(expires_at, "exp");
			ua = m;
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_USER_ADD;
			c.user_add = &ua;
		} else if (strcmp(v, "user_update") == 0) {
			Mailnode__UserUpdate m = MAILNODE__USER_UPDATE__INIT;

			m.address = ARG(1);
			m.password_hash = dt_kv(toks, n, 2, "hash");
			m.name = dt_kv(toks, n, 2, "name");
			m.home_node = dt_kv(toks, n, 2, "node");
			DT_U64(quota_bytes, "qb");
			DT_U64(quota_messages, "qm");
			DT_U64(max_message_size, "max");
			DT_U64(flags, "flags");
			DT_U64(expires_at, "exp");
			uu = m;
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_USER_UPDATE;
			c.user_update = &uu;
		} else if (strcmp(v, "user_move") == 0) {
			/* user_move ADDRESS STATE [target=NODE] [result=TEXT] */
			static Mailnode__UserMove um;

			mailnode__user_move__init(&um);
			um.address = ARG(1);
			um.state = ARG(2);
			um.target = dt_kv(toks, n, 3, "target");
			um.result = dt_kv(toks, n, 3, "result");
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_USER_MOVE;
			c.user_move = &um;
		} else if (strcmp(v, "user_del") == 0) {
			ud.address = ARG(1);
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_USER_DEL;
			c.user_del = &ud;
		} else if (strcmp(v, "alias_add") == 0) {
			aa.address = ARG(1);
			aa.n_targets = n > 2 ? (size_t)(n - 2) : 0;
			aa.targets = &toks[2];
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_ALIAS_ADD;
			c.alias_add = &aa;
		} else if (strcmp(v, "alias_del") == 0) {
			ad.address = ARG(1);
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_ALIAS_DEL;
			c.alias_del = &ad;
		} else if (strcmp(v, "group_add") == 0) {
			ga.address = ARG(1);
			ga.name = ARG(2);
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_GROUP_ADD;
			c.group_add = &ga;
		} else if (strcmp(v, "group_del") == 0) {
			gd.address = ARG(1);
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_GROUP_DEL;
			c.group_del = &gd;
		} else if (strcmp(v, "member_add") == 0) {
			gma.group = ARG(1);
			gma.member = ARG(2);
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_GROUP_MEMBER_ADD;
			c.group_member_add = &gma;
		} else if (strcmp(v, "member_del") == 0) {
			gmd.group = ARG(1);
			gmd.member = ARG(2);
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_GROUP_MEMBER_DEL;
			c.group_member_del = &gmd;
		} else if (strcmp(v, "admin_add") == 0) {
			char *h = dt_kv(toks, n, 2, "hash");

			ma.name = ARG(1);
			ma.password_hash = h ? h : (char *)DT_HASH;
			ma.domain = dt_kv(toks, n, 2, "domain");
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_ADMIN_ADD;
			c.admin_add = &ma;
		} else if (strcmp(v, "admin_del") == 0) {
			md.name = ARG(1);
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_ADMIN_DEL;
			c.admin_del = &md;
		} else if (strcmp(v, "admin_passwd") == 0) {
			char *h = dt_kv(toks, n, 2, "hash");

			mp.name = ARG(1);
			mp.password_hash = h ? h : (char *)DT_HASH;
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_ADMIN_PASSWD;
			c.admin_passwd = &mp;
		} else if (strcmp(v, "node_add") == 0) {
			Mailnode__NodeAdd m = MAILNODE__NODE_ADD__INIT;

			m.name = ARG(1);
			m.address = ARG(2);
			DT_U64(raft_port, "raft_port");
			DT_U64(rpc_port, "rpc_port");
			DT_U64(raft_id, "id");
			m.state = dt_kv(toks, n, 2, "state");
			na = m;
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_NODE_ADD;
			c.node_add = &na;
		} else if (strcmp(v, "node_state") == 0) {
			ns.name = ARG(1);
			ns.state = ARG(2);
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_NODE_SET_STATE;
			c.node_set_state = &ns;
		} else if (strcmp(v, "node_del") == 0) {
			nd.name = ARG(1);
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_NODE_DEL;
			c.node_del = &nd;
		} else if (strcmp(v, "dkim_set") == 0 || strcmp(v, "dkim_del") == 0) {
			/* dkim_set DOMAIN SELECTOR ALGORITHM: a stand-in key (apply
			 * checks the PEM frame only); dkim_del DOMAIN */
			dk.domain = ARG(1);
			if (strcmp(v, "dkim_set") == 0) {
				dk.selector = ARG(2);
				dk.algorithm = ARG(3);
				dk.private_key = "-----BEGIN PRIVATE KEY-----\nTUlJ\n"
				                 "-----END PRIVATE KEY-----\n";
				dk.public_key = "TUlJQklqQU5C";
			}
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_DKIM_SET;
			c.domain_dkim_set = &dk;
		} else if (strcmp(v, "set") == 0) {
			ss.key = ARG(1);
			ss.value = ARG(2);
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_SETTING_SET;
			c.setting_set = &ss;
		} else if (strcmp(v, "pref") == 0) {
			ps.scope = ARG(1);
			ps.name = ARG(2);
			for (int i = 3; i < n && ps.n_prefs < 8; i++) {
				char *eq = strchr(toks[i], '=');

				mailnode__pref_entry__init(&pe[ps.n_prefs]);
				pe[ps.n_prefs].key = toks[i];
				if (eq != NULL) {
					*eq = '\0';
					pe[ps.n_prefs].value = eq + 1;
				}
				pep[ps.n_prefs] = &pe[ps.n_prefs];
				ps.n_prefs++;
			}
			ps.prefs = pep;
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_PREF_SET;
			c.pref_set = &ps;
		} else if (strcmp(v, "contact_set") == 0) {
			cs.owner = ARG(1);
			cs.email = ARG(2);
			cs.name = ARG(3);
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_CONTACT_SET;
			c.contact_set = &cs;
		} else if (strcmp(v, "contact_del") == 0) {
			cd.owner = ARG(1);
			cd.email = ARG(2);
			c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_CONTACT_DEL;
			c.contact_del = &cd;
		} else if (strcmp(v, "noop") != 0) {
			fprintf(stderr, "dt_pack: unknown verb in \"%s\"\n", line);
			abort();
		}
		*len_out = mailnode__directory_command__get_packed_size(&c);
		out = xmalloc(*len_out ? *len_out : 1);
		mailnode__directory_command__pack(&c, out);
	}
#undef ARG
	free(copy);
	return out;
}
#undef DT_U64

/* dt_apply - pack line (time 1000) and apply the bytes. */
static inline int
dt_apply_at(struct directory *d, const char *line, int64_t time, struct mn_err *err)
{
	size_t len;
	uint8_t *p = dt_pack(line, time, &len);
	int rc = directory_apply_packed(d, p, len, err);

	free(p);
	return rc;
}

static inline int
dt_apply(struct directory *d, const char *line, struct mn_err *err)
{
	return dt_apply_at(d, line, 1000, err);
}

static inline struct directory *
dt_open(void)
{
	struct directory *d = NULL;
	struct mn_err err = {0};

	if (directory_open(":memory:", &d, &err) != 0) {
		fprintf(stderr, "directory_open: %s\n", err.msg);
		abort();
	}
	return d;
}

/* dt_applyf - dt_apply of a formatted line; the test fails on a refusal. */
#define DT_APPLYF(d, ...)                                                                          \
	do {                                                                                       \
		char line_[256];                                                                   \
		struct mn_err err_ = {0};                                                          \
		snprintf(line_, sizeof(line_), __VA_ARGS__);                                       \
		if (dt_apply((d), line_, &err_) != 0)                                              \
			fail_msg("%s: %s", line_, err_.msg);                                       \
	} while (0)

/* dt_setup_script - cmocka setup: a fresh directory with cmds applied (at
 * time t) in *state; -1 (the test fails) when one is refused. */
static inline int
dt_setup_script(void **state, const char *const *cmds, size_t n, int64_t t)
{
	struct directory *d = dt_open();
	struct mn_err err = {0};

	for (size_t i = 0; i < n; i++)
		if (dt_apply_at(d, cmds[i], t, &err) != 0) {
			fprintf(stderr, "%s: %s\n", cmds[i], err.msg);
			directory_close(&d);
			return -1;
		}
	*state = d;
	return 0;
}

static inline int
dt_teardown(void **state)
{
	struct directory *d = *state;

	directory_close(&d);
	return 0;
}

#endif
